/* The threaded loader. Workers claim items one at a time (so a few large
 * batches still spread over every thread) from a window of `nslots` batches
 * ahead of the consumer; each item is written at its own place in its
 * batch's slot, and the consumer, once a batch is complete, packs out the
 * items that failed. Work order never touches the values: an item's result
 * depends only on (seed, epoch, dataset index). */
#define _GNU_SOURCE
#include "data/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/ops.h"
#include "base/util.h"

typedef struct slot {
    int64_t batch;  /* the batch this slot holds now */
    int expected;   /* items in that batch */
    int done;       /* items finished (decoded or failed) */
    float *x;       /* batch_size x C x H x W, item j at j */
    int64_t *idx;   /* dataset indices, packed by the consumer */
    char **fail;    /* per position: "name: reason" when the item failed */
} slot;

struct unic_loader {
    const unic_imageset *set;
    const unic_pipeline *p;
    int64_t *order;
    int64_t count, nbatches;
    int bs, c, h, w, min_side;
    size_t item_floats;
    uint64_t seed, epoch;
    int pinned;

    int nslots;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers: an item became claimable, or stop */
    pthread_cond_t done_cv; /* consumer: an item finished */
    int64_t next_item;      /* the next position in order to claim */
    int64_t consumed;       /* batches handed out and released */
    int holding;            /* the consumer holds batch `consumed` */
    int stop;

    int nthreads;
    pthread_t *threads;

    char **skipped;
    int64_t nskipped;
    size_t skipped_cap;
};

static float *alloc_floats(size_t n, int pinned)
{
#ifdef UNIC_WITH_CUDA
    if (pinned) return unic_cuda_host_alloc(n * sizeof(float));
#endif
    (void)pinned;
    return unic_xmalloc(n * sizeof(float));
}

static void free_floats(float *p, int pinned)
{
#ifdef UNIC_WITH_CUDA
    if (pinned) {
        unic_cuda_host_free(p);
        return;
    }
#endif
    (void)pinned;
    unic_xfree(p);
}

static char *dup_printf(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + strlen(fmt) + 1;
    char *s = unic_xmalloc(n);
    snprintf(s, n, fmt, a, b);
    return s;
}

static int64_t batch_items(const unic_loader *l, int64_t b)
{
    int64_t left = l->count - b * l->bs;
    return left < l->bs ? left : l->bs;
}

/* Decodes and transforms order[pos] into dst; on failure returns the
 * "name: reason" line (malloc'ed). */
static char *load_item(const unic_loader *l, int64_t pos, float *dst)
{
    char err[1024], name[512];
    int64_t i = l->order[pos];
    unic_image im = {0};
    if (unic_imageset_get(l->set, i, l->min_side, &im, err, sizeof err) != 0) {
        unic_image_free(&im);
        /* Errors for files usually start with the path already. */
        const char *nm = unic_imageset_item_name(l->set, i, name, sizeof name);
        size_t n = strlen(nm);
        if (strncmp(err, nm, n) == 0 && err[n] == ':') return unic_xstrdup(err);
        return dup_printf("%s: %s", nm, err);
    }
    char *fail = NULL;
    if (unic_pipeline_check_size(l->p, im.w, im.h, unic_imageset_max_pixels(l->set), err,
                                 sizeof err) != 0) {
        fail = dup_printf("%s: %s", unic_imageset_item_name(l->set, i, name, sizeof name), err);
        unic_image_free(&im);
        return fail;
    }
    int c, h, w;
    unic_pipeline_out_shape(l->p, im.w, im.h, im.c, &c, &h, &w);
    if (c != l->c || h != l->h || w != l->w) {
        char why[160];
        snprintf(why, sizeof why,
                 "the pipeline gives %dx%dx%d for this %dx%dx%d image, the batch is %dx%dx%d", c,
                 h, w, im.c, im.h, im.w, l->c, l->h, l->w);
        fail = dup_printf("%s: %s", unic_imageset_item_name(l->set, i, name, sizeof name), why);
    } else {
        unic_rng rng = unic_rng_stream(l->seed, l->epoch, (uint64_t)i);
        if (unic_pipeline_apply(l->p, &im, &rng, dst, err, sizeof err) != 0)
            fail = dup_printf("%s: %s", unic_imageset_item_name(l->set, i, name, sizeof name), err);
    }
    unic_image_free(&im);
    return fail;
}

static void *worker(void *arg)
{
    unic_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->next_item < l->count &&
               l->next_item / l->bs >= l->consumed + l->nslots)
            pthread_cond_wait(&l->work_cv, &l->mu);
        if (l->stop || l->next_item >= l->count) break;
        int64_t pos = l->next_item++;
        int64_t b = pos / l->bs;
        slot *s = &l->slots[b % l->nslots];
        int j = (int)(pos - b * l->bs);
        pthread_mutex_unlock(&l->mu);

        /* The slot is ours to write at j: the consumer recycles it only
         * after every item of its batch is done. */
        char *fail = load_item(l, pos, s->x + (size_t)j * l->item_floats);

        pthread_mutex_lock(&l->mu);
        s->fail[j] = fail;
        if (++s->done == s->expected) pthread_cond_broadcast(&l->done_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void slot_reset(unic_loader *l, slot *s, int64_t batch)
{
    for (int j = 0; j < l->bs; j++) {
        unic_xfree(s->fail[j]);
        s->fail[j] = NULL;
    }
    s->batch = batch;
    s->expected = batch < l->nbatches ? (int)batch_items(l, batch) : 0;
    s->done = 0;
}

/* Decodes items until one works and takes the pipeline's output shape for
 * it; then checks the shape does not follow the input size. */
static int find_shape(unic_loader *l, char *err, size_t errlen)
{
    char e[1024], name[512];
    for (int64_t pos = 0; pos < l->count; pos++) {
        unic_image im = {0};
        if (unic_imageset_get(l->set, l->order[pos], l->min_side, &im, e, sizeof e) != 0 ||
            unic_pipeline_check_size(l->p, im.w, im.h, unic_imageset_max_pixels(l->set), e,
                                     sizeof e) != 0) {
            unic_image_free(&im);
            continue;
        }
        unic_pipeline_out_shape(l->p, im.w, im.h, im.c, &l->c, &l->h, &l->w);
        /* Two unrelated input sizes: a pipeline without a final crop (or a
         * two-sided resize) gives a different shape for at least one. */
        int probes[2][2] = {{im.w * 2 + 37, im.h + 91}, {im.w + 53, im.h * 3 + 11}};
        for (int k = 0; k < 2; k++) {
            int c, h, w;
            unic_pipeline_out_shape(l->p, probes[k][0], probes[k][1], im.c, &c, &h, &w);
            if (c != l->c || h != l->h || w != l->w) {
                unic_image_free(&im);
                return unic_errf(err, errlen,
                                 "loader: the pipeline's output size follows its input (%dx%d "
                                 "for a %dx%d image, %dx%d for %dx%d); batches need a fixed "
                                 "size: end it with center_crop, random_crop or "
                                 "random_resized_crop",
                                 l->w, l->h, im.w, im.h, w, h, probes[k][0], probes[k][1]);
            }
        }
        unic_image_free(&im);
        if (l->c <= 0 || l->h <= 0 || l->w <= 0)
            return unic_errf(err, errlen, "loader: the pipeline gives an empty %dx%dx%d output",
                             l->c, l->h, l->w);
        return 0;
    }
    int64_t i0 = l->order[0];
    unic_image im = {0};
    if (unic_imageset_get(l->set, i0, l->min_side, &im, e, sizeof e) == 0)
        unic_pipeline_check_size(l->p, im.w, im.h, unic_imageset_max_pixels(l->set), e, sizeof e);
    unic_image_free(&im);
    return unic_errf(err, errlen, "loader: none of the %lld items decodes (the first, %s: %s)",
                     (long long)l->count, unic_imageset_item_name(l->set, i0, name, sizeof name),
                     e);
}

unic_loader *unic_loader_new(const unic_imageset *set, const unic_pipeline *p,
                             const int64_t *order, int64_t count, int batch_size, int threads,
                             uint64_t seed, uint64_t epoch, char *err, size_t errlen)
{
    if (batch_size < 1) {
        unic_errf(err, errlen, "loader: batch size %d is not positive", batch_size);
        return NULL;
    }
    if (count < 0) count = 0;
    int64_t n = unic_imageset_size(set);
    for (int64_t k = 0; k < count; k++) {
        if (order[k] < 0 || order[k] >= n) {
            unic_errf(err, errlen, "loader: order[%lld] = %lld is outside the set's %lld items",
                      (long long)k, (long long)order[k], (long long)n);
            return NULL;
        }
    }
    unic_loader *l = unic_xcalloc(1, sizeof *l);
    l->set = set;
    l->p = p;
    l->count = count;
    l->bs = batch_size;
    l->nbatches = (count + batch_size - 1) / batch_size;
    l->seed = seed;
    l->epoch = epoch;
    l->min_side = unic_pipeline_min_side(p);
    l->order = unic_xmalloc(sizeof(int64_t) * (size_t)(count ? count : 1));
    if (count) memcpy(l->order, order, sizeof(int64_t) * (size_t)count);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->done_cv, NULL);
    if (count == 0) return l; /* no batches; no threads needed */
    if (find_shape(l, err, errlen) != 0) {
        unic_loader_free(l);
        return NULL;
    }
    l->item_floats = (size_t)l->c * l->h * l->w;

    if (threads <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        threads = online > 0 ? (int)online : 1;
    }
    if (threads > count) threads = (int)count;
#ifdef UNIC_WITH_CUDA
    l->pinned = unic_cuda_available();
#endif
    /* At least three batches in flight, and room for two items per thread
     * so small batches do not starve the pool. */
    int64_t want = 1 + (2 * (int64_t)threads + batch_size - 1) / batch_size;
    if (want < 3) want = 3;
    if (want > l->nbatches) want = l->nbatches;
    l->nslots = (int)want;
    l->slots = unic_xcalloc((size_t)l->nslots, sizeof(slot));
    for (int k = 0; k < l->nslots; k++) {
        slot *s = &l->slots[k];
        s->x = alloc_floats((size_t)batch_size * l->item_floats, l->pinned);
        s->idx = unic_xmalloc(sizeof(int64_t) * (size_t)batch_size);
        s->fail = unic_xcalloc((size_t)batch_size, sizeof(char *));
        slot_reset(l, s, k);
    }
    l->threads = unic_xmalloc(sizeof(pthread_t) * (size_t)threads);
    for (int t = 0; t < threads; t++) {
        if (pthread_create(&l->threads[t], NULL, worker, l) != 0) {
            unic_errf(err, errlen, "loader: cannot start worker thread %d of %d", t + 1, threads);
            unic_loader_free(l);
            return NULL;
        }
        l->nthreads = t + 1;
    }
    return l;
}

static void add_skipped(unic_loader *l, char *line)
{
    if ((size_t)l->nskipped == l->skipped_cap) {
        size_t cap = l->skipped_cap ? 2 * l->skipped_cap : 16;
        char **q = unic_xmalloc(cap * sizeof(char *));
        if (l->nskipped) memcpy(q, l->skipped, (size_t)l->nskipped * sizeof(char *));
        unic_xfree(l->skipped);
        l->skipped = q;
        l->skipped_cap = cap;
    }
    l->skipped[l->nskipped++] = line;
}

int unic_loader_next(unic_loader *l, unic_batch *b)
{
    memset(b, 0, sizeof *b);
    if (l->count == 0) return 0;
    pthread_mutex_lock(&l->mu);
    if (l->holding) {
        slot *s = &l->slots[l->consumed % l->nslots];
        slot_reset(l, s, l->consumed + l->nslots);
        l->consumed++;
        l->holding = 0;
        pthread_cond_broadcast(&l->work_cv);
    }
    if (l->consumed >= l->nbatches) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    slot *s = &l->slots[l->consumed % l->nslots];
    while (s->done < s->expected) pthread_cond_wait(&l->done_cv, &l->mu);
    l->holding = 1;
    pthread_mutex_unlock(&l->mu);

    /* Every item of this batch is finished and no worker touches the slot
     * until we release it, so packing needs no lock. Failures are recorded
     * in batch order, so the skip list does not depend on timing. */
    int k = 0;
    int64_t base = l->consumed * l->bs;
    for (int j = 0; j < s->expected; j++) {
        if (s->fail[j]) {
            add_skipped(l, s->fail[j]);
            s->fail[j] = NULL;
            continue;
        }
        if (k != j)
            memmove(s->x + (size_t)k * l->item_floats, s->x + (size_t)j * l->item_floats,
                    l->item_floats * sizeof(float));
        s->idx[k++] = l->order[base + j];
    }
    b->n = k;
    b->idx = s->idx;
    b->x = s->x;
    return 1;
}

void unic_loader_shape(const unic_loader *l, int *c, int *h, int *w)
{
    *c = l->c;
    *h = l->h;
    *w = l->w;
}

int64_t unic_loader_skipped(const unic_loader *l) { return l->nskipped; }

const char *unic_loader_skipped_item(const unic_loader *l, int64_t k)
{
    return k >= 0 && k < l->nskipped ? l->skipped[k] : NULL;
}

void unic_loader_free(unic_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    for (int t = 0; t < l->nthreads; t++) pthread_join(l->threads[t], NULL);
    unic_xfree(l->threads);
    for (int k = 0; k < l->nslots; k++) {
        slot *s = &l->slots[k];
        for (int j = 0; j < l->bs; j++) unic_xfree(s->fail[j]);
        free_floats(s->x, l->pinned);
        unic_xfree(s->idx);
        unic_xfree(s->fail);
    }
    unic_xfree(l->slots);
    for (int64_t k = 0; k < l->nskipped; k++) unic_xfree(l->skipped[k]);
    unic_xfree(l->skipped);
    unic_xfree(l->order);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->done_cv);
    pthread_mutex_destroy(&l->mu);
    unic_xfree(l);
}
