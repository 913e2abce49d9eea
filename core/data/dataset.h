/* A dataset in memory: N items (feature vectors or images) as float32 in
 * the values the file holds (pixels stay 0..255), and labels if known. */
#ifndef UNIC_DATASET_H
#define UNIC_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "unic/plugin.h"

typedef struct unic_dataset {
    char *path;
    int64_t n;
    unic_input_info info; /* item shape; info.source = path */
    int64_t item_size;    /* floats per item */
    float *x;             /* [n, item_size] */
    int32_t *labels;      /* [n] or NULL */
    int num_classes;      /* 1 + the largest label, 0 without labels */
} unic_dataset;

/* path: .npy, .safetensors (tensor `tensor`, labels from the same file's
 * "labels" tensor when labels_path is empty) or IDX images (gzipped or not).
 * limit > 0 keeps the first `limit` items. Every mismatch (label count,
 * shape, dtype) is an error naming the files. */
int unic_dataset_load(const char *path, const char *tensor, const char *labels_path, int64_t limit,
                      unic_dataset *out, char *err, size_t errlen);
void unic_dataset_free(unic_dataset *d);

#endif
