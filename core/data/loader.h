/* A threaded loader: worker threads decode and transform items ahead of the
 * consumer into a ring of batch buffers (pinned host memory when CUDA is
 * present). Each item draws its augmentation from its own random stream
 * (seed, epoch, index), so results are the same at any thread count. Items
 * that fail to decode are skipped, counted, and remembered by name. */
#ifndef UNIC_LOADER_H
#define UNIC_LOADER_H

#include <stdint.h>

#include "data/image.h"
#include "data/imagesets.h"

typedef struct unic_loader unic_loader;

typedef struct unic_batch {
    int n;               /* items in this batch (skipped ones are left out) */
    const int64_t *idx;  /* dataset indices of the items */
    const float *x;      /* n x C x H x W */
} unic_batch;

/* Loads items order[0..count) in batches of batch_size with `threads`
 * workers (0 = all cores). The pipeline must give a fixed output shape. */
unic_loader *unic_loader_new(const unic_imageset *set, const unic_pipeline *p,
                             const int64_t *order, int64_t count, int batch_size, int threads,
                             uint64_t seed, uint64_t epoch, char *err, size_t errlen);
/* The next batch in order, or 0 at the end; the batch stays valid until the
 * next call. */
int unic_loader_next(unic_loader *l, unic_batch *b);
void unic_loader_shape(const unic_loader *l, int *c, int *h, int *w);
int64_t unic_loader_skipped(const unic_loader *l);
/* Name and reason of skipped item k (k < skipped). */
const char *unic_loader_skipped_item(const unic_loader *l, int64_t k);
void unic_loader_free(unic_loader *l);

#endif
