/* The backbone over a data set: embeddings [n, dim] on the host, computed
 * once (arrays a chunk at a time, images through the threaded loader), and
 * computed again when a trainable backbone has moved them. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "train/run_internal.h"

static int open_backbone(run *r, const unic_input_info *info, const char *path, char *err,
                         size_t errlen)
{
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    int dim = 0;
    char msg[1024] = "";
    if (ops->open(r->backbone.state, info, &dim, msg, sizeof msg) != 0)
        return unic_errf(err, errlen, "[backbone] %s: %s", r->backbone.slot->component->name, msg);
    if (r->dim && dim != r->dim)
        return unic_errf(err, errlen, "%s: embeddings of size %d, the training set's are %d", path,
                         dim, r->dim);
    r->dim = dim;
    return 0;
}

/* Lists the images the loader could not decode in the run folder's
 * skipped.txt. */
static void report_skipped(const run *r, const unic_loader *l, const unic_dataset *d, int64_t n)
{
    int64_t skipped = unic_loader_skipped(l);
    if (skipped <= 0) return;
    char path[2300];
    snprintf(path, sizeof path, "%s/skipped.txt", r->out);
    FILE *f = fopen(path, "a");
    for (int64_t k = 0; f && k < skipped; k++) fprintf(f, "%s\n", unic_loader_skipped_item(l, k));
    if (f) fclose(f);
    unic_log(UNIC_LOG_WARN, "%s: %lld of %lld images could not be decoded and were skipped "
             "(listed in %s)", d->path, (long long)skipped, (long long)n, path);
}

/* Gives d the shape of the loader's images and opens the backbone on it. */
static int open_on_images(run *r, const unic_loader *l, unic_dataset *d, char *err, size_t errlen)
{
    int c, h, w;
    unic_loader_shape(l, &c, &h, &w);
    d->info.ndim = 3;
    d->info.shape[0] = c;
    d->info.shape[1] = h;
    d->info.shape[2] = w;
    d->item_size = (int64_t)c * h * w;
    return open_backbone(r, &d->info, d->path, err, errlen);
}

/* Streams an image dataset through the loader and the backbone. Items that
 * fail to decode are dropped (labels compacted, kept indices recorded) and
 * listed in skipped.txt. */
static int embed_images(run *r, unic_imageset *set, unic_dataset *d, float **out, int64_t **index,
                        char *err, size_t errlen)
{
    int64_t n = d->n;
    int64_t *order = unic_xmalloc((size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) order[i] = i;
    unic_loader *l = unic_loader_new(set, r->pipeline, order, n, 256, omp_get_max_threads(),
                                     r->cfg.train.seed, 0, err, errlen);
    unic_xfree(order);
    if (!l) return -1;
    if (open_on_images(r, l, d, err, errlen) != 0) {
        unic_loader_free(l);
        return -1;
    }
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    int c, h, w;
    unic_loader_shape(l, &c, &h, &w);
    *out = unic_xmalloc((size_t)n * (size_t)r->dim * sizeof(float));
    *index = unic_xmalloc((size_t)n * sizeof(int64_t));
    int64_t kept = 0;
    unic_batch b;
    unic_progress p;
    unic_progress_start(&p, "loading and embedding", n);
    while (unic_loader_next(l, &b)) {
        unic_tensor in = {(float *)b.x, {b.n, c, h, w}, 4, UNIC_CPU};
        unic_tensor o = {*out + kept * r->dim, {b.n, r->dim}, 2, UNIC_CPU};
        if (b.n > 0) ops->forward(r->backbone.state, &in, &o);
        for (int i = 0; i < b.n; i++) {
            (*index)[kept + i] = b.idx[i];
            if (d->labels) d->labels[kept + i] = unic_imageset_label(set, b.idx[i]);
        }
        kept += b.n;
        unic_progress_update(&p, kept + unic_loader_skipped(l));
    }
    unic_progress_end(&p);
    report_skipped(r, l, d, n);
    unic_loader_free(l);
    d->n = kept;
    if (kept == 0)
        return unic_errf(err, errlen, "%s: no image could be decoded (see %s/skipped.txt)", d->path,
                         r->out);
    return 0;
}

/* One NaN or Inf in the embeddings trains for the whole run and then fails
 * in k-means with a message naming neither, so they are counted once here
 * (in parallel: N x D can be large) and the first one named. */
static int check_finite(const float *emb, int64_t n, int dim, const char *path,
                        const int64_t *index, char *err, size_t errlen)
{
    int64_t total = n * dim, bad = 0, first = total;
#pragma omp parallel for reduction(+ : bad) reduction(min : first)
    for (int64_t i = 0; i < total; i++) {
        if (isfinite(emb[i])) continue;
        bad++;
        if (i < first) first = i;
    }
    if (bad == 0) return 0;
    int64_t row = first / dim, item = index ? index[row] : row;
    float v = emb[first];
    return unic_errf(err, errlen, "%s: %lld non-finite value%s (%s at item %lld, column %lld); "
                     "unic needs finite features", path, (long long)bad, bad == 1 ? "" : "s",
                     isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf", (long long)item,
                     (long long)(first % dim));
}

static int embed_arrays(run *r, unic_dataset *d, float **out, char *err, size_t errlen)
{
    if (open_backbone(r, &d->info, d->path, err, errlen) != 0) return -1;
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    int dim = r->dim;
    *out = unic_xmalloc((size_t)d->n * (size_t)dim * sizeof(float));
    const int64_t chunk = 1024;
    unic_progress p;
    unic_progress_start(&p, "embedding", d->n);
    for (int64_t i = 0; i < d->n; i += chunk) {
        int64_t m = i + chunk <= d->n ? chunk : d->n - i;
        unic_tensor in = {d->x + i * d->item_size, {m, d->item_size}, 2, UNIC_CPU};
        unic_tensor o = {*out + i * dim, {m, dim}, 2, UNIC_CPU};
        ops->forward(r->backbone.state, &in, &o);
        unic_progress_update(&p, i + m);
    }
    unic_progress_end(&p);
    return 0;
}

int run_embed(run *r, unic_imageset *set, unic_dataset *d, float **out, int64_t **index,
              char *err, size_t errlen)
{
    int rc = set ? embed_images(r, set, d, out, index, err, errlen)
                 : embed_arrays(r, d, out, err, errlen);
    if (rc != 0) return rc;
    return check_finite(*out, d->n, r->dim, d->path, set ? *index : NULL, err, errlen);
}

/* With a trainable backbone the embeddings move: re-embed the kept images
 * with the test pipeline before evaluating, a loader batch per forward. */
int run_refresh_embeddings(run *r, unic_imageset *set, const int64_t *index, int64_t n,
                           float *emb, char *err, size_t errlen)
{
    const int per = 256;
    unic_loader *l = unic_loader_new(set, r->pipeline, index, n, per, omp_get_max_threads(),
                                     r->cfg.train.seed, 0, err, errlen);
    if (!l) return -1;
    backbone_training(r, 0);
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    int c, h, w;
    unic_loader_shape(l, &c, &h, &w);
    float *out = unic_xmalloc((size_t)per * (size_t)r->dim * sizeof(float));
    unic_batch b;
    int64_t done = 0;
    while (unic_loader_next(l, &b)) {
        if (b.n == 0) continue;
        unic_tensor in = {(float *)b.x, {b.n, c, h, w}, 4, UNIC_CPU};
        unic_tensor o = {out, {b.n, r->dim}, 2, UNIC_CPU};
        ops->forward(r->backbone.state, &in, &o);
        for (int i = 0; i < b.n; i++) { /* positions by index: a rare skip keeps the old row */
            while (done < n && index[done] != b.idx[i]) done++;
            memcpy(emb + done * r->dim, out + (size_t)i * r->dim, (size_t)r->dim * sizeof(float));
        }
    }
    unic_xfree(out);
    unic_loader_free(l);
    return 0;
}
