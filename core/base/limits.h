/* Every limit the project enforces on sizes and counts that come from files
 * or settings, in one place. A limit is checked once, where the value enters
 * (a file reader, the experiment's validation), with a message that names
 * the source and the bound; code past that point may rely on it. */
#ifndef UNIC_LIMITS_H
#define UNIC_LIMITS_H

#include <stddef.h>
#include <stdint.h>

/* Classes (labels, clusters, a head's outputs): labels are integers in
 * [0, UNIC_MAX_CLASSES). Fixed-size class masks (GCD's old classes) and the
 * Hungarian matching's cost tables are sized by it. */
#define UNIC_MAX_CLASSES 4096

/* 0 when value is a valid class label; otherwise a message naming `source`
 * and item `index` and the allowed range. */
int unic_check_label(int64_t value, const char *source, int64_t index, char *err, size_t errlen);
/* 0 when 1 <= count <= UNIC_MAX_CLASSES; `what` names the setting or file. */
int unic_check_class_count(int64_t count, const char *what, char *err, size_t errlen);

#endif
