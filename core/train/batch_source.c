#include "train/batch_source.h"

#include <omp.h>
#include <string.h>

#include "base/util.h"

batch_mode batch_source_mode(const run *r)
{
    if (r->tokens_head) return BATCH_TOKENS;
    if (r->train_backbone) return BATCH_TRAINABLE;
    return r->train_pipeline || r->positive_pipeline ? BATCH_AUGMENTED : BATCH_EMBEDDINGS;
}

void batch_source_close(batch_source *s)
{
    for (int k = 0; k < s->roles; k++) {
        if (s->loader[k]) unic_loader_free(s->loader[k]);
        unic_xfree(s->order[k]);
    }
    s->roles = 0;
}

/* Every step's partners, drawn as the steps would draw them, become the
 * loaders' reading orders. */
static void epoch_partners(batch_source *s, const int64_t *anchors, int64_t first_step)
{
    run *r = s->r;
    int batch = r->cfg.train.batch_size;
    for (int k = 0; k < s->roles; k++) s->order[k] = unic_xmalloc((size_t)r->n * sizeof(int64_t));
    for (int64_t step = 0, first = 0; first < r->n; step++, first += batch) {
        int b = (int)(first + batch <= r->n ? batch : r->n - first);
        run_sample_partners(r, anchors + first, b, s->epoch, first_step + step);
        for (int k = 0; k < s->roles; k++)
            for (int i = 0; i < b; i++)
                s->order[k][first + i] = r->train_index[r->batch_idx[k * b + i]];
    }
}

int batch_source_open(batch_source *s, run *r, int epoch, const int64_t *anchors,
                      int64_t first_step, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->r = r;
    s->mode = batch_source_mode(r);
    s->epoch = epoch;
    if (s->mode == BATCH_EMBEDDINGS) return 0;
    s->roles = r->use_negatives ? 3 : 2;
    epoch_partners(s, anchors, first_step);
    int threads = omp_get_max_threads() / s->roles;
    const unic_pipeline *p = r->train_pipeline ? r->train_pipeline : r->pipeline;
    for (int k = 0; k < s->roles; k++) {
        /* positives may have their own augmentation (SCAN's strong view) */
        const unic_pipeline *pk = k == 1 && r->positive_pipeline ? r->positive_pipeline : p;
        s->loader[k] = unic_loader_new(r->train_set, pk, s->order[k], r->n, r->cfg.train.batch_size,
                                       threads > 0 ? threads : 1, r->cfg.train.seed,
                                       (uint64_t)epoch * 3 + (uint64_t)k, err, errlen);
        if (!s->loader[k]) {
            batch_source_close(s);
            return -1;
        }
    }
    int c0, h0, w0, c1, h1, w1;
    unic_loader_shape(s->loader[0], &c0, &h0, &w0);
    unic_loader_shape(s->loader[1], &c1, &h1, &w1);
    if (c0 != c1 || h0 != h1 || w0 != w1) {
        batch_source_close(s);
        return unic_errf(err, errlen, "[data] positive_transform gives %d x %d x %d images but "
                         "the anchors' pipeline %d x %d x %d: every view goes through the same "
                         "backbone and head, so end both in the same crop", c1, h1, w1, c0, h0,
                         w0);
    }
    return 0;
}

/* The next images of every role: through the frozen backbone role by role
 * (augmented), or gathered for one forward over all roles. 0 when a loader
 * came back short (an image failed to decode). */
static int read_images(batch_source *s, int b)
{
    run *r = s->r;
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    int ok = 1, c, h, w;
    unic_loader_shape(s->loader[0], &c, &h, &w);
    size_t item = (size_t)c * h * w;
    for (int k = 0; k < s->roles; k++) {
        unic_batch batch;
        if (!unic_loader_next(s->loader[k], &batch) || batch.n != b) {
            ok = 0;
            continue;
        }
        if (s->mode != BATCH_AUGMENTED) {
            memcpy(r->images + (size_t)k * b * item, batch.x, (size_t)b * item * sizeof(float));
            continue;
        }
        unic_tensor in = {(float *)batch.x, {b, c, h, w}, 4, UNIC_CPU};
        unic_tensor o = {r->x_host->data + (size_t)k * b * r->dim, {b, r->dim}, 2, UNIC_CPU};
        ops->forward(r->backbone.state, &in, &o);
    }
    if (!ok || s->mode == BATCH_AUGMENTED) return ok;
    unic_tensor in = {r->images, {(int64_t)s->roles * b, c, h, w}, 4, UNIC_CPU};
    if (s->mode == BATCH_TOKENS) {
        unic_tensor o = unic_rows(r->x_host, 0, (int64_t)s->roles * b);
        ops->forward_tokens(r->backbone.state, &in, &o);
    } else {
        unic_tensor o = {r->x_host->data, {(int64_t)s->roles * b, r->dim}, 2, UNIC_CPU};
        ops->forward(r->backbone.state, &in, &o);
    }
    return 1;
}

int batch_source_rows(batch_source *s, const int64_t *anchors, int b, int64_t step_no)
{
    run *r = s->r;
    /* the step's rows by item, as the losses see them (the loaders read
     * the same draws, made up front) */
    run_sample_partners(r, anchors, b, s->epoch, step_no);
    if (s->mode != BATCH_EMBEDDINGS && read_images(s, b)) return 1;
    if (s->mode == BATCH_TRAINABLE || s->mode == BATCH_TOKENS) return 0;
    gather_rows(r, r->emb, r->batch_idx, (int64_t)b * (r->use_negatives ? 3 : 2));
    return 1;
}
