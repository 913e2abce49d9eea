/* A predictions file as `unic eval` scores it: CSV with a header line, a
 * `prediction` column, and optional `label`, `labeled` (1 for GCD's
 * labeled rows), `index` (the item's index in its data set) and
 * `confidence` (the head's probability of the predicted cluster, in [0, 1])
 * columns, one row per item; blank lines are skipped. */
#ifndef UNIC_PREDICTIONS_H
#define UNIC_PREDICTIONS_H

#include <stddef.h>
#include <stdint.h>

typedef struct unic_predictions {
    int64_t n;
    int32_t *prediction;    /* [n] cluster of each item, in [0, UNIC_MAX_CLASSES) */
    int32_t *label;         /* [n] class, or NULL without a `label` column */
    unsigned char *labeled; /* [n] 1 where `labeled` is non-zero (0 without the column) */
    int64_t *index;         /* [n] or NULL without an `index` column */
    float *confidence;      /* [n] or NULL without a `confidence` column */
} unic_predictions;

/* -1 with a message naming the file, the line and the column. */
int unic_predictions_read(const char *path, unic_predictions *out, char *err, size_t errlen);
void unic_predictions_free(unic_predictions *p);

#endif
