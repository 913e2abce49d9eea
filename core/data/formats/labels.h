/* Class labels from .npy, IDX, safetensors or text. */
#ifndef UNIC_FORMATS_LABELS_H
#define UNIC_FORMATS_LABELS_H

#include <stddef.h>
#include <stdint.h>

/* Loads labels from .npy, IDX, safetensors (tensor `name`, default "labels")
 * or a text file with one integer per line (blank lines and # comments
 * skipped); labels are 1-D or N x 1; *labels is malloc'ed. */
int unic_load_labels(const char *path, const char *name, int32_t **labels, int64_t *n, char *err,
                     size_t errlen);

#endif
