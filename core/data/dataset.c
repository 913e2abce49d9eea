#include "data/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/util.h"
#include "data/io.h"

static int is_idx(const char *path)
{
    return strstr(path, "-ubyte") || strstr(path, ".idx");
}

/* Takes the array's values as float32 items: the first axis is the sample. */
static int take_items(const char *path, const unic_array *a, unic_dataset *d, char *err,
                      size_t errlen)
{
    if (a->ndim < 2 || a->ndim > 4)
        return unic_errf(err, errlen, "%s: expected an N x D matrix or N images (2 to 4 "
                         "dimensions), got %d dimension(s)", path, a->ndim);
    d->n = a->shape[0];
    d->info.ndim = a->ndim - 1;
    d->item_size = 1;
    for (int i = 1; i < a->ndim; i++) {
        d->info.shape[i - 1] = a->shape[i];
        d->item_size *= a->shape[i];
    }
    if (d->n < 1 || d->item_size < 1)
        return unic_errf(err, errlen, "%s: the array is empty", path);
    d->x = unic_xmalloc((size_t)(d->n * d->item_size) * sizeof(float));
    return unic_array_to_f32(a, d->x, err, errlen);
}

int unic_dataset_load(const char *path, const char *tensor, const char *labels_path, int64_t limit,
                      unic_dataset *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->path = unic_xstrdup(path);
    out->info.source = out->path;
    int rc = 0;
    int64_t nlabels = 0;
    if (unic_ends_with(path, ".safetensors")) {
        unic_safetensors *st;
        if (unic_safetensors_open(path, &st, err, errlen) != 0) goto fail;
        const char *name = tensor && *tensor ? tensor : "embeddings";
        const unic_array *a = unic_safetensors_find(st, name);
        if (!a) {
            unic_errf(err, errlen, "%s: no tensor named '%s' (set [data] tensor = NAME)", path,
                      name);
            unic_safetensors_close(st);
            goto fail;
        }
        rc = take_items(path, a, out, err, errlen);
        const unic_array *l = unic_safetensors_find(st, "labels");
        if (rc == 0 && l && (!labels_path || !*labels_path)) {
            if (l->ndim != 1)
                rc = unic_errf(err, errlen, "%s: tensor 'labels' must be 1-D, has %d dimensions",
                               path, l->ndim);
            else {
                nlabels = l->shape[0];
                out->labels = unic_xmalloc((size_t)nlabels * sizeof(int32_t));
                rc = unic_array_to_i32(l, out->labels, err, errlen);
            }
        }
        unic_safetensors_close(st);
    } else {
        unic_array a;
        if (unic_ends_with(path, ".npy"))
            rc = unic_npy_load(path, &a, err, errlen);
        else if (is_idx(path))
            rc = unic_idx_load(path, &a, err, errlen);
        else
            rc = unic_errf(err, errlen, "%s: unknown data format; expected .npy, .safetensors or "
                           "an IDX file (*-ubyte, *.idx, optionally .gz)", path);
        if (rc != 0) goto fail;
        rc = take_items(path, &a, out, err, errlen);
        unic_array_free(&a);
    }
    if (rc != 0) goto fail;
    if (labels_path && *labels_path) {
        if (unic_load_labels(labels_path, "labels", &out->labels, &nlabels, err, errlen) != 0)
            goto fail;
    }
    if (out->labels && nlabels != out->n) {
        unic_errf(err, errlen, "%s has %lld labels but %s has %lld items",
                  labels_path && *labels_path ? labels_path : path, (long long)nlabels, path,
                  (long long)out->n);
        goto fail;
    }
    if (limit > 0 && limit < out->n) out->n = limit;
    if (out->labels) {
        for (int64_t i = 0; i < out->n; i++) {
            if (unic_check_label(out->labels[i], labels_path && *labels_path ? labels_path : path,
                                 i, err, errlen) != 0)
                goto fail;
            if (out->labels[i] + 1 > out->num_classes) out->num_classes = out->labels[i] + 1;
        }
    }
    return 0;
fail:
    unic_dataset_free(out);
    return -1;
}

void unic_dataset_free(unic_dataset *d)
{
    free(d->path);
    unic_xfree(d->x);
    unic_xfree(d->labels);
    memset(d, 0, sizeof *d);
}
