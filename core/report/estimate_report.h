/* The number-of-classes estimate as files: the criterion against K as CSV
 * and as an SVG plot with the estimate (and, when labels tell it, the
 * number of label values) marked. */
#ifndef UNIC_ESTIMATE_REPORT_H
#define UNIC_ESTIMATE_REPORT_H

#include <stddef.h>

#include "eval/estimate_k.h"

/* Writes dir/estimate_k.csv (k, score[, eigenvalue], evaluated) and
 * dir/estimate_k.svg; label_k > 0 marks the labels' number of values. */
int unic_kest_write(const unic_kest_result *r, int k_min, int label_k, const char *dir,
                    char *err, size_t errlen);

#endif
