/* A run: load the data, embed it, score the k-means baseline, mine
 * neighbours, train the head on anchor / positive / negative triplets
 * (eq. 7 and 9) with Adam under a cosine schedule, evaluate each epoch,
 * checkpoint, and write the run folder. */
#include "train/run.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/checkpoint.h"
#include "data/dataset.h"
#include "data/imagesets.h"
#include "data/io.h"
#include "eval/kmeans.h"
#include "mining/knn.h"
#include "data/loader.h"
#include "base/log.h"
#include "eval/metrics.h"
#include "ops/ops.h"
#include "base/util.h"

#define MAX_PARAMS 512 /* vit finetune = full: 4 + 14 depth + 2, plus the head */

typedef struct instance {
    const unic_slot *slot;
    void *state;
} instance;

typedef struct run {
    const unic_experiment *x;
    char out[2048], cache[2300];
    unic_device dev;
    uint64_t seed;
    /* data */
    unic_dataset train, eval;
    int has_eval_set;
    /* image datasets: decoded and transformed by the loader while embedding */
    unic_imageset *train_set, *eval_set;
    unic_pipeline *pipeline, *train_pipeline;
    int64_t *train_index, *eval_index; /* dataset index of each kept item */
    float *emb, *eval_emb; /* [n, dim] embeddings, host */
    int64_t n, eval_n;
    int dim, k;
    /* GCD */
    int gcd;
    unsigned char is_old[4096];
    int32_t *visible; /* label of labeled samples, -1 elsewhere */
    int64_t *labeled_idx, *unlabeled_idx;
    int64_t n_labeled, n_unlabeled;
    /* components */
    instance backbone, head;
    instance miners[UNIC_MAX_SLOTS], losses[UNIC_MAX_SLOTS];
    int group_pos[2], group_neg[2]; /* miner serving [unlabeled, labeled] anchors, -1 none */
    int8_t *pos_miner, *neg_miner;  /* per anchor: which miner serves it, -1 none */
    int use_negatives;
    /* optimiser */
    unic_param_tensor params[MAX_PARAMS];
    unic_ckpt_tensor ckpt[MAX_PARAMS];
    int nparams;
    /* step buffers, allocated once for the largest batch */
    int batch, rows;
    unic_tensor *x_host, *x_dev, *logits, *probs, *probs_host, *dprobs_host, *dprobs, *dlogits;
    int64_t *batch_idx;
    int32_t *batch_labels;
    /* a trainable backbone: images of a step in one buffer, d(embeddings) */
    int train_backbone;
    /* a head that takes the backbone's tokens (x_host is [rows, tokens, dim]) */
    int tokens_head, tokens;
    float *images;
    unic_tensor *dx, *dx_dev;
    cJSON *history;
} run;

static void destroy_instance(instance *in)
{
    if (in->state) in->slot->component->destroy(in->state);
    in->state = NULL;
}

static int create_instance(instance *in, const unic_slot *slot, char *err, size_t errlen)
{
    char msg[1024] = "";
    in->slot = slot;
    in->state = slot->component->create(slot->params, msg, sizeof msg);
    if (!in->state)
        return unic_errf(err, errlen, "[%s] %s: %s", slot->section, slot->component->name,
                         *msg ? msg : "could not be created");
    return 0;
}

/* ---- data and embeddings ------------------------------------------------ */

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

/* Streams an image dataset through the loader and the backbone. Items that
 * fail to decode are dropped (labels compacted, kept indices recorded) and
 * listed in the run folder's skipped.txt. */
static int embed_images(run *r, unic_imageset *set, unic_dataset *d, float **out, int64_t **index,
                        char *err, size_t errlen)
{
    int64_t n = d->n;
    int64_t *order = unic_xmalloc((size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) order[i] = i;
    unic_loader *l = unic_loader_new(set, r->pipeline, order, n, 256, omp_get_max_threads(),
                                     r->seed, 0, err, errlen);
    unic_xfree(order);
    if (!l) return -1;
    int c, h, w;
    unic_loader_shape(l, &c, &h, &w);
    d->info.ndim = 3;
    d->info.shape[0] = c;
    d->info.shape[1] = h;
    d->info.shape[2] = w;
    d->item_size = (int64_t)c * h * w;
    if (open_backbone(r, &d->info, d->path, err, errlen) != 0) {
        unic_loader_free(l);
        return -1;
    }
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    *out = unic_xmalloc((size_t)n * (size_t)r->dim * sizeof(float));
    *index = unic_xmalloc((size_t)n * sizeof(int64_t));
    int64_t kept = 0, seen = 0;
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
        seen = kept + unic_loader_skipped(l);
        unic_progress_update(&p, seen);
    }
    unic_progress_end(&p);
    int64_t skipped = unic_loader_skipped(l);
    if (skipped > 0) {
        char path[2300];
        snprintf(path, sizeof path, "%s/skipped.txt", r->out);
        FILE *f = fopen(path, "a");
        for (int64_t k = 0; f && k < skipped; k++)
            fprintf(f, "%s\n", unic_loader_skipped_item(l, k));
        if (f) fclose(f);
        unic_log(UNIC_LOG_WARN, "%s: %lld of %lld images could not be decoded and were skipped "
                 "(listed in %s)", d->path, (long long)skipped, (long long)n, path);
    }
    unic_loader_free(l);
    d->n = kept;
    if (kept == 0)
        return unic_errf(err, errlen, "%s: no image could be decoded (see %s/skipped.txt)", d->path,
                         r->out);
    return 0;
}

static int embed(run *r, unic_imageset *set, unic_dataset *d, float **out, int64_t **index,
                 char *err, size_t errlen)
{
    if (set) return embed_images(r, set, d, out, index, err, errlen);
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

/* Opens an image dataset split; d gets its size (limit applied), labels
 * and path, and the items stay on disk until the loader decodes them. */
static int open_images(run *r, const char *split, int64_t limit, unic_imageset **set,
                       unic_dataset *d, char *err, size_t errlen)
{
    const unic_params *p = r->x->data;
    const char *format = unic_param_str(p, "format");
    const char *kind = strcmp(format, "idx_images") == 0 ? "idx" : format;
    const char *path = unic_param_str(p, "path");
    if (unic_imageset_open(kind, path, split, unic_param_str(p, "class_list"),
                           unic_param_str(p, "labels"), set, err, errlen) != 0)
        return -1;
    memset(d, 0, sizeof *d);
    char name[2300];
    snprintf(name, sizeof name, "%s%s%s", path, *split && strcmp(kind, "idx") ? ":" : "",
             strcmp(kind, "idx") ? split : "");
    d->path = unic_xstrdup(name);
    d->info.source = d->path;
    d->n = unic_imageset_size(*set);
    if (limit > 0 && limit < d->n) d->n = limit;
    d->num_classes = unic_imageset_num_classes(*set);
    if (d->num_classes == 0) return 0; /* unlabeled (IDX without labels, STL-10 unlabeled) */
    d->labels = unic_xmalloc((size_t)d->n * sizeof(int32_t));
    for (int64_t i = 0; i < d->n; i++) d->labels[i] = unic_imageset_label(*set, i);
    return 0;
}

static int load_data(run *r, char *err, size_t errlen)
{
    const unic_params *d = r->x->data;
    if (unic_format_is_images(unic_param_str(d, "format"))) {
        if (open_images(r, unic_param_str(d, "split"), unic_param_int(d, "limit"), &r->train_set,
                        &r->train, err, errlen) != 0)
            return -1;
        char spec[64];
        const char *transform = unic_param_str(d, "transform");
        if (!*transform) {
            /* IDX images all share one size: keep them as they are */
            unic_image im = {0};
            if (unic_imageset_get(r->train_set, 0, 0, &im, err, errlen) != 0) return -1;
            snprintf(spec, sizeof spec, "center_crop(%d)", im.w);
            int square = im.w == im.h;
            unic_image_free(&im);
            if (!square)
                return unic_errf(err, errlen, "%s: images are not square; set [data] transform",
                                 r->train.path);
            transform = spec;
        }
        r->pipeline = unic_pipeline_parse(transform, err, errlen);
        if (!r->pipeline) return -1;
        const char *eval_split = unic_param_str(d, "eval_split");
        if (*eval_split) {
            if (r->gcd)
                return unic_errf(err, errlen, "[data] eval_split: GCD is scored on the unlabeled "
                                 "part of the training set; leave eval_split empty");
            if (open_images(r, eval_split, 0, &r->eval_set, &r->eval, err, errlen) != 0) return -1;
            r->has_eval_set = 1;
        }
        if (*unic_param_str(d, "train_transform")) {
            r->train_pipeline = unic_pipeline_parse(unic_param_str(d, "train_transform"), err, errlen);
            if (!r->train_pipeline) return -1;
        }
    } else if (unic_dataset_load(unic_param_str(d, "path"), unic_param_str(d, "tensor"),
                                 unic_param_str(d, "labels"), unic_param_int(d, "limit"),
                                 &r->train, err, errlen) != 0)
        return -1;
    r->n = r->train.n;
    const char *eval_path = unic_param_str(d, "eval_path");
    if (*eval_path && r->train_set)
        return unic_errf(err, errlen, "[data] eval_path: for image datasets use eval_split");
    if (*eval_path) {
        if (r->gcd)
            return unic_errf(err, errlen, "[data] eval_path: GCD is scored on the unlabeled part "
                             "of the training set; leave eval_path empty");
        if (unic_dataset_load(eval_path, unic_param_str(d, "tensor"),
                              unic_param_str(d, "eval_labels"), 0, &r->eval, err, errlen) != 0)
            return -1;
        r->has_eval_set = 1;
        if (r->eval.item_size != r->train.item_size)
            return unic_errf(err, errlen, "%s: items of %lld values, but %s has %lld", eval_path,
                             (long long)r->eval.item_size, r->train.path,
                             (long long)r->train.item_size);
    }
    long classes = unic_param_int(d, "classes");
    int label_classes = r->train.num_classes > r->eval.num_classes ? r->train.num_classes
                                                                    : r->eval.num_classes;
    r->k = classes > 0 ? (int)classes : label_classes;
    if (r->k < 2)
        return unic_errf(err, errlen, "[data] classes: cannot tell the number of clusters (no "
                         "labels in %s); set classes = K", r->train.path);
    if (r->gcd && !r->train.labels)
        return unic_errf(err, errlen, "[data] old_classes is set (GCD) but %s has no labels; set "
                         "[data] labels", r->train.path);
    unic_log(UNIC_LOG_INFO, "data: %lld training items from %s%s%s, %d clusters", (long long)r->n,
             r->train.path, r->has_eval_set ? ", evaluation on " : "",
             r->has_eval_set ? r->eval.path : "", r->k);
    return 0;
}

/* The labeled subset of GCD: a seeded random labeled_fraction of the
 * old-class samples, as GCD's subsample_instances draws it. */
static int make_split(run *r, char *err, size_t errlen)
{
    r->visible = unic_xmalloc((size_t)r->n * sizeof(int32_t));
    r->labeled_idx = unic_xmalloc((size_t)r->n * sizeof(int64_t));
    r->unlabeled_idx = unic_xmalloc((size_t)r->n * sizeof(int64_t));
    for (int64_t i = 0; i < r->n; i++) r->visible[i] = -1;
    if (r->gcd) {
        int count;
        if (unic_parse_class_list(unic_param_str(r->x->data, "old_classes"), r->is_old, 4096,
                                  &count, err, errlen) != 0)
            return -1;
        int64_t *old = unic_xmalloc((size_t)r->n * sizeof(int64_t)), n_old = 0;
        for (int64_t i = 0; i < r->n; i++)
            if (r->train.labels[i] < 4096 && r->is_old[r->train.labels[i]]) old[n_old++] = i;
        unic_rng g = unic_rng_stream((uint64_t)unic_param_int(r->x->data, "split_seed"), 7, 0);
        for (int64_t i = n_old - 1; i > 0; i--) { /* Fisher-Yates */
            int64_t j = (int64_t)unic_rng_below(&g, (uint64_t)(i + 1)), t = old[i];
            old[i] = old[j];
            old[j] = t;
        }
        int64_t take = (int64_t)llround(unic_param_float(r->x->data, "labeled_fraction") * (double)n_old);
        for (int64_t i = 0; i < take; i++) r->visible[old[i]] = r->train.labels[old[i]];
        unic_xfree(old);
        if (take == 0)
            return unic_errf(err, errlen, "[data] old_classes %s: no training sample is labeled",
                             unic_param_str(r->x->data, "old_classes"));
    }
    for (int64_t i = 0; i < r->n; i++) {
        if (r->visible[i] >= 0)
            r->labeled_idx[r->n_labeled++] = i;
        else
            r->unlabeled_idx[r->n_unlabeled++] = i;
    }
    if (!r->gcd) return 0;
    char path[2300];
    snprintf(path, sizeof path, "%s/split.csv", r->out);
    FILE *f = fopen(path, "w");
    if (!f) return unic_errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "index,label,old_class,labeled\n");
    for (int64_t i = 0; i < r->n; i++)
        fprintf(f, "%lld,%d,%d,%d\n", (long long)(r->train_index ? r->train_index[i] : i),
                r->train.labels[i],
                r->train.labels[i] < 4096 && r->is_old[r->train.labels[i]], r->visible[i] >= 0);
    fclose(f);
    unic_log(UNIC_LOG_INFO, "GCD split: %lld labeled, %lld unlabeled (written to %s)",
             (long long)r->n_labeled, (long long)r->n_unlabeled, path);
    return 0;
}

/* ---- miners ------------------------------------------------------------- */

static int covers(unic_scope scope, int labeled)
{
    return scope == UNIC_SCOPE_ALL || (scope == UNIC_SCOPE_LABELED) == labeled;
}

/* Every anchor gets exactly one positive miner, and one negative miner when
 * a loss uses negatives; checked per group (labeled / unlabeled) before any
 * data is embedded. Labeled anchors exist only in GCD. */
static int assign_miners(run *r, char *err, size_t errlen)
{
    const unic_experiment *x = r->x;
    for (int i = 0; i < x->nlosses; i++)
        r->use_negatives |= x->losses[i].component->loss->uses_negatives;
    int has_labeled = r->gcd && unic_param_float(x->data, "labeled_fraction") > 0;
    for (int labeled = 0; labeled < 2; labeled++) {
        r->group_pos[labeled] = r->group_neg[labeled] = -1;
        if (labeled && !has_labeled) continue;
        for (int m = 0; m < x->nminers; m++) {
            const unic_slot *s = &x->miners[m];
            if (!covers(unic_slot_scope(s), labeled)) continue;
            int *slot = s->component->miner->role == UNIC_ROLE_POSITIVE ? &r->group_pos[labeled]
                                                                        : &r->group_neg[labeled];
            if (*slot >= 0)
                return unic_errf(err, errlen, "[%s] and [%s] both give %s to %s anchors; set "
                                 "scope = labeled / unlabeled to split them",
                                 x->miners[*slot].section, s->section,
                                 s->component->miner->role == UNIC_ROLE_POSITIVE ? "positives"
                                                                                  : "negatives",
                                 labeled ? "labeled" : "unlabeled");
            *slot = m;
        }
        if (r->group_pos[labeled] < 0)
            return unic_errf(err, errlen, "no positive miner serves the %s anchors: add a "
                             "[miner.*] section with plugin = knn%s",
                             labeled ? "labeled" : "unlabeled",
                             labeled ? " or labeled_pos (scope = labeled)" : "");
        if (r->use_negatives && r->group_neg[labeled] < 0)
            return unic_errf(err, errlen, "a loss uses negatives but no negative miner serves "
                             "the %s anchors: add a [miner.*] section with plugin = far",
                             labeled ? "labeled" : "unlabeled");
    }
    return 0;
}

/* After the split: which miner serves each anchor. */
static void route_anchors(run *r)
{
    r->pos_miner = unic_xmalloc((size_t)r->n);
    r->neg_miner = unic_xmalloc((size_t)r->n);
    for (int64_t i = 0; i < r->n; i++) {
        int labeled = r->visible[i] >= 0;
        r->pos_miner[i] = (int8_t)r->group_pos[labeled];
        r->neg_miner[i] = (int8_t)(r->use_negatives ? r->group_neg[labeled] : -1);
    }
}

static int mine(run *r, char *err, size_t errlen)
{
    unic_mine_input in = {r->n, r->dim, r->emb, r->visible, r->cache};
    char msg[1024];
    for (int m = 0; m < r->x->nminers; m++) {
        instance *mi = &r->miners[m];
        const unic_miner_ops *ops = mi->slot->component->miner;
        msg[0] = '\0';
        if (ops->mine(mi->state, &in, msg, sizeof msg) != 0)
            return unic_errf(err, errlen, "[%s] %s: %s", mi->slot->section,
                             mi->slot->component->name, msg);
        for (int64_t i = 0; i < r->n; i++) {
            int8_t served = ops->role == UNIC_ROLE_POSITIVE ? r->pos_miner[i] : r->neg_miner[i];
            if (served == m && ops->count(mi->state, i) <= 0)
                return unic_errf(err, errlen, "[%s] %s has no candidates for anchor %lld (%s); "
                                 "check its scope", mi->slot->section, mi->slot->component->name,
                                 (long long)i, r->visible[i] >= 0 ? "labeled" : "unlabeled");
        }
    }
    return 0;
}

/* ---- model and optimiser ------------------------------------------------ */

static unic_tensor *like(const unic_tensor *t)
{
    return unic_tensor_new(t->device, t->ndim, t->shape);
}

static int build_model(run *r, char *err, size_t errlen)
{
    const unic_head_ops *h = r->head.slot->component->head;
    char msg[1024] = "";
    r->batch = (int)unic_param_int(r->x->train, "batch_size");
    r->rows = r->batch * (r->use_negatives ? 3 : 2);
    if (h->setup(r->head.state, r->dim, r->k, r->rows, r->dev, r->seed, msg, sizeof msg) != 0)
        return unic_errf(err, errlen, "[head] %s: %s", r->head.slot->component->name, msg);
    unic_param_tensor list[MAX_PARAMS];
    int n = h->parameters(r->head.state, list, MAX_PARAMS);
    if (n > MAX_PARAMS) return unic_errf(err, errlen, "[head] has more than %d tensors", MAX_PARAMS);
    for (int i = 0; i < n; i++) {
        r->params[i] = list[i];
        unic_ckpt_tensor *c = &r->ckpt[i];
        snprintf(c->name, sizeof c->name, "head.%s", list[i].name);
        c->value = list[i].value;
        c->m = like(list[i].value);
        c->v = like(list[i].value);
    }
    r->nparams = n;
    if (r->train_backbone) {
        const unic_backbone_ops *b = r->backbone.slot->component->backbone;
        int m = b->parameters(r->backbone.state, list, MAX_PARAMS);
        if (n + m > MAX_PARAMS)
            return unic_errf(err, errlen, "more than %d trainable tensors", MAX_PARAMS);
        for (int i = 0; i < m; i++) {
            r->params[n + i] = list[i];
            unic_ckpt_tensor *c = &r->ckpt[n + i];
            snprintf(c->name, sizeof c->name, "backbone.%s", list[i].name);
            c->value = list[i].value;
            c->m = like(list[i].value);
            c->v = like(list[i].value);
        }
        r->nparams = n + m;
    }
    /* the head's input: embeddings [rows, dim] or tokens [rows, T, dim] */
    const unic_backbone_ops *bb = r->backbone.slot->component->backbone;
    r->tokens = r->tokens_head ? bb->token_count(r->backbone.state) : 0;
    int64_t shape[3] = {r->rows, r->tokens_head ? r->tokens : r->dim, r->dim};
    int nd = r->tokens_head ? 3 : 2;
    if (r->train_backbone) { /* the head's d(input) where it runs; the backbone reads the host's */
        r->dx = unic_tensor_new(UNIC_CPU, nd, shape);
        r->dx_dev = r->dev == UNIC_CPU ? r->dx : unic_tensor_new(r->dev, nd, shape);
    }
    if (r->train_backbone || r->tokens_head)
        r->images = unic_xmalloc((size_t)r->rows * (size_t)r->train.item_size * sizeof(float));
    r->x_host = unic_tensor_new(UNIC_CPU, nd, shape);
    r->x_dev = r->dev == UNIC_CPU ? r->x_host : unic_tensor_new(r->dev, nd, shape);
    r->logits = unic_tensor_2d(r->dev, r->rows, r->k);
    r->probs = unic_tensor_2d(r->dev, r->rows, r->k);
    r->dlogits = unic_tensor_2d(r->dev, r->rows, r->k);
    r->probs_host = r->dev == UNIC_CPU ? r->probs : unic_tensor_2d(UNIC_CPU, r->rows, r->k);
    r->dprobs_host = unic_tensor_2d(UNIC_CPU, r->rows, r->k);
    r->dprobs = r->dev == UNIC_CPU ? r->dprobs_host : unic_tensor_2d(r->dev, r->rows, r->k);
    r->batch_idx = unic_xmalloc((size_t)r->rows * sizeof(int64_t));
    r->batch_labels = unic_xmalloc((size_t)r->batch * sizeof(int32_t));
    for (int l = 0; l < r->x->nlosses; l++)
        if (create_instance(&r->losses[l], &r->x->losses[l], err, errlen) != 0) return -1;
    return 0;
}

/* Runs the head on rows of emb and returns the probabilities on the host. */
static void gather_rows(run *r, const float *emb, const int64_t *idx, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        memcpy(r->x_host->data + i * r->dim, emb + idx[i] * r->dim, (size_t)r->dim * sizeof(float));
}

/* Runs the head on the first rows of x_host; the probabilities on the host. */
static unic_tensor forward_x(run *r, int64_t count)
{
    unic_tensor xh = unic_rows(r->x_host, 0, count), xd = unic_rows(r->x_dev, 0, count);
    if (r->x_dev != r->x_host) unic_tensor_copy(&xd, &xh);
    unic_tensor logits = unic_rows(r->logits, 0, count), probs = unic_rows(r->probs, 0, count);
    r->head.slot->component->head->forward(r->head.state, &xd, &logits);
    unic_softmax_forward(&probs, &logits);
    unic_tensor ph = unic_rows(r->probs_host, 0, count);
    if (r->probs_host != r->probs) unic_tensor_copy(&ph, &probs);
    return ph;
}

static unic_tensor forward_rows(run *r, const float *emb, const int64_t *idx, int64_t count)
{
    gather_rows(r, emb, idx, count);
    return forward_x(r, count);
}

/* Training mode for a trainable backbone (see set_training in plugin.h). */
static void backbone_training(run *r, int on)
{
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    if (ops->set_training) ops->set_training(r->backbone.state, on);
}

static void take_argmax(const run *r, const float *probs, int64_t m, int32_t *pred, float *conf)
{
    for (int64_t i = 0; i < m; i++) {
        const float *row = probs + i * r->k;
        int best = 0;
        for (int c = 1; c < r->k; c++)
            if (row[c] > row[best]) best = c;
        pred[i] = best;
        if (conf) conf[i] = row[best];
    }
}

/* A head on tokens: the evaluation images through the backbone (test
 * pipeline) and the head, a step's rows at a time. An image that fails to
 * decode now keeps prediction 0 with confidence 0. */
static int predict_tokens(run *r, int32_t *pred, float *conf, char *err, size_t errlen)
{
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    const int64_t *index = r->has_eval_set ? r->eval_index : r->train_index;
    unic_loader *l = unic_loader_new(r->has_eval_set ? r->eval_set : r->train_set, r->pipeline,
                                     index, n, r->rows, omp_get_max_threads(), r->seed, 0, err,
                                     errlen);
    if (!l) return -1;
    backbone_training(r, 0);
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    int c, h, w;
    unic_loader_shape(l, &c, &h, &w);
    memset(pred, 0, (size_t)n * sizeof(int32_t));
    if (conf) memset(conf, 0, (size_t)n * sizeof(float));
    int32_t *bp = unic_xmalloc((size_t)r->rows * sizeof(int32_t));
    float *bc = unic_xmalloc((size_t)r->rows * sizeof(float));
    unic_batch b;
    int64_t done = 0;
    while (unic_loader_next(l, &b)) {
        if (b.n == 0) continue;
        unic_tensor in = {(float *)b.x, {b.n, c, h, w}, 4, UNIC_CPU};
        unic_tensor o = unic_rows(r->x_host, 0, b.n);
        ops->forward_tokens(r->backbone.state, &in, &o);
        unic_tensor p = forward_x(r, b.n);
        take_argmax(r, p.data, b.n, bp, bc);
        for (int i = 0; i < b.n; i++) {
            while (done < n && index[done] != b.idx[i]) done++;
            pred[done] = bp[i];
            if (conf) conf[done] = bc[i];
        }
    }
    unic_xfree(bp);
    unic_xfree(bc);
    unic_loader_free(l);
    return 0;
}

/* The head's clusters for the evaluation set (the training set without one). */
static int predict(run *r, int32_t *pred, float *conf, char *err, size_t errlen)
{
    if (r->tokens_head) return predict_tokens(r, pred, conf, err, errlen);
    const float *emb = r->has_eval_set ? r->eval_emb : r->emb;
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    for (int64_t s = 0; s < n; s += r->rows) {
        int64_t m = s + r->rows <= n ? r->rows : n - s;
        for (int64_t i = 0; i < m; i++) r->batch_idx[i] = s + i;
        unic_tensor p = forward_rows(r, emb, r->batch_idx, m);
        take_argmax(r, p.data, m, pred + s, conf ? conf + s : NULL);
    }
    return 0;
}

/* ---- evaluation ---------------------------------------------------------- */

/* Scores predictions: clustering ACC/NMI/ARI on the evaluation set, or GCD
 * All/Old/New on the unlabeled training samples. */
static int score(run *r, const int32_t *pred, double out[3], char *err, size_t errlen)
{
    if (r->gcd) {
        int32_t *yt = unic_xmalloc((size_t)r->n_unlabeled * sizeof(int32_t));
        int32_t *yp = unic_xmalloc((size_t)r->n_unlabeled * sizeof(int32_t));
        for (int64_t i = 0; i < r->n_unlabeled; i++) {
            yt[i] = r->train.labels[r->unlabeled_idx[i]];
            yp[i] = pred[r->unlabeled_idx[i]];
        }
        unic_gcd_scores g;
        int rc = unic_gcd_scores_compute(yt, yp, r->n_unlabeled, r->is_old, 4096, &g, err, errlen);
        unic_xfree(yt);
        unic_xfree(yp);
        out[0] = g.all;
        out[1] = g.old;
        out[2] = g.new_;
        return rc;
    }
    const int32_t *labels = r->has_eval_set ? r->eval.labels : r->train.labels;
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    unic_cluster_scores s;
    if (unic_cluster_scores_compute(labels, pred, n, &s, err, errlen) != 0) return -1;
    out[0] = s.acc;
    out[1] = s.nmi;
    out[2] = s.ari;
    return 0;
}

static int can_score(const run *r)
{
    return r->has_eval_set ? r->eval.labels != NULL : r->train.labels != NULL;
}

static const char *metric_names(const run *r, int i)
{
    static const char *clu[] = {"acc", "nmi", "ari"}, *gcd[] = {"all", "old", "new"};
    return r->gcd ? gcd[i] : clu[i];
}

static int baseline(run *r, double out[3], char *err, size_t errlen)
{
    const unic_params *e = r->x->eval;
    unic_kmeans_opts o = {r->k, (int)unic_param_int(e, "kmeans_restarts"),
                          (int)unic_param_int(e, "kmeans_max_iter"), 1e-4,
                          (uint64_t)unic_param_int(e, "kmeans_seed")};
    double t0 = unic_now();
    int32_t *assign;
    if (r->gcd) {
        /* SS-k-means wants the labeled classes numbered 0..n_old-1 */
        int dense[4096], n_old = 0;
        for (int c = 0; c < 4096; c++) dense[c] = r->is_old[c] ? n_old++ : -1;
        int32_t *lab = unic_xmalloc((size_t)r->n * sizeof(int32_t));
        for (int64_t i = 0; i < r->n; i++) lab[i] = r->visible[i] >= 0 ? dense[r->visible[i]] : -1;
        assign = unic_xmalloc((size_t)r->n * sizeof(int32_t));
        double inertia = unic_ss_kmeans(r->emb, r->n, r->dim, lab, n_old, &o, assign);
        unic_xfree(lab);
        if (inertia < 0) {
            unic_xfree(assign);
            return unic_errf(err, errlen, "semi-supervised k-means failed (fewer points than clusters?)");
        }
    } else {
        const float *emb = r->has_eval_set ? r->eval_emb : r->emb;
        int64_t n = r->has_eval_set ? r->eval_n : r->n;
        assign = unic_xmalloc((size_t)n * sizeof(int32_t));
        if (unic_kmeans(emb, n, r->dim, &o, assign, NULL) < 0) {
            unic_xfree(assign);
            return unic_errf(err, errlen, "k-means needs at least %d points", r->k);
        }
    }
    int rc = score(r, assign, out, err, errlen);
    unic_xfree(assign);
    if (rc == 0)
        unic_log(UNIC_LOG_INFO, "%s baseline: %s %.4f  %s %.4f  %s %.4f  (%.1f s)",
                 r->gcd ? "SS-k-means" : "k-means", metric_names(r, 0), out[0], metric_names(r, 1),
                 out[1], metric_names(r, 2), out[2], unic_now() - t0);
    return rc;
}

/* ---- training ----------------------------------------------------------- */

/* Anchor order of an epoch: a seeded permutation, or for GCD draws that are
 * half labeled and half unlabeled (GCD's weighted sampler). */
static void epoch_order(run *r, int epoch, int64_t *order)
{
    unic_rng g = unic_rng_stream(r->seed, 0x0e0c0000u + (uint64_t)epoch, 0);
    if (r->gcd && r->n_labeled > 0 && r->n_unlabeled > 0 &&
        unic_param_bool(r->x->train, "balance_labeled")) {
        for (int64_t i = 0; i < r->n; i++) {
            int labeled = unic_rng_u64(&g) >> 63;
            order[i] = labeled ? r->labeled_idx[unic_rng_below(&g, (uint64_t)r->n_labeled)]
                               : r->unlabeled_idx[unic_rng_below(&g, (uint64_t)r->n_unlabeled)];
        }
        return;
    }
    for (int64_t i = 0; i < r->n; i++) order[i] = i;
    for (int64_t i = r->n - 1; i > 0; i--) {
        int64_t j = (int64_t)unic_rng_below(&g, (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static double lr_at(const run *r, int epoch)
{
    double lr = unic_param_float(r->x->train, "lr"), lo = unic_param_float(r->x->train, "lr_min");
    int epochs = (int)unic_param_int(r->x->train, "epochs");
    return lo + 0.5 * (lr - lo) * (1.0 + cos(M_PI * epoch / epochs));
}

/* Draws a positive and a negative for anchors[0..b) into batch_idx, laid
 * out as [anchors | positives | negatives]. */
static void sample_partners(run *r, const int64_t *anchors, int b, int epoch, int64_t step_no)
{
    for (int i = 0; i < b; i++) {
        int64_t a = anchors[i];
        unic_rng g = unic_rng_stream(r->seed, ((uint64_t)epoch << 40) ^ (uint64_t)step_no, (uint64_t)i);
        instance *pm = &r->miners[r->pos_miner[a]];
        int64_t p = pm->slot->component->miner->sample(pm->state, a, &g);
        r->batch_idx[i] = a;
        r->batch_idx[b + i] = p >= 0 ? p : a;
        if (r->use_negatives) {
            instance *nm = &r->miners[r->neg_miner[a]];
            int64_t q = nm->slot->component->miner->sample(nm->state, a, &g);
            r->batch_idx[2 * b + i] = q >= 0 ? q : a;
        }
    }
}

/* One optimiser step on the b triplets whose embeddings fill x_host;
 * returns the objective and adds each loss's unweighted value into
 * loss_sums. */
static double step(run *r, const int64_t *anchors, int b, int64_t step_no, double lr,
                   double *loss_sums)
{
    int64_t rows = (int64_t)(r->use_negatives ? 3 : 2) * b;
    unic_tensor probs = forward_x(r, rows);
    unic_tensor dph = unic_rows(r->dprobs_host, 0, rows);
    unic_tensor_zero(&dph);
    for (int i = 0; i < b; i++) r->batch_labels[i] = r->visible[anchors[i]];
    unic_loss_batch lb = {b, r->k, probs.data, probs.data + (size_t)b * r->k,
                          r->use_negatives ? probs.data + (size_t)2 * b * r->k : NULL,
                          r->batch_labels};
    unic_loss_grad lg = {dph.data, dph.data + (size_t)b * r->k,
                         r->use_negatives ? dph.data + (size_t)2 * b * r->k : NULL};
    double objective = 0;
    for (int l = 0; l < r->x->nlosses; l++) {
        float w = unic_slot_weight(r->losses[l].slot);
        double v = r->losses[l].slot->component->loss->forward(r->losses[l].state, &lb, w, &lg);
        loss_sums[l] += v;
        objective += w * v;
    }
    unic_tensor dp = unic_rows(r->dprobs, 0, rows), dl = unic_rows(r->dlogits, 0, rows);
    unic_tensor pd = unic_rows(r->probs, 0, rows);
    if (r->dprobs != r->dprobs_host) unic_tensor_copy(&dp, &dph);
    unic_tensor_zero(&dl);
    unic_softmax_backward(&dl, &pd, &dp);
    for (int i = 0; i < r->nparams; i++) unic_tensor_zero(r->params[i].grad);
    if (r->train_backbone) {
        const unic_backbone_ops *bb = r->backbone.slot->component->backbone;
        unic_tensor dx = unic_rows(r->dx, 0, rows), dxd = unic_rows(r->dx_dev, 0, rows);
        unic_tensor_zero(&dxd);
        r->head.slot->component->head->backward(r->head.state, &dl, &dxd);
        if (r->dx_dev != r->dx) unic_tensor_copy(&dx, &dxd);
        if (r->tokens_head)
            bb->backward_tokens(r->backbone.state, &dx);
        else
            bb->backward(r->backbone.state, &dx);
    } else {
        r->head.slot->component->head->backward(r->head.state, &dl, NULL);
    }
    const unic_params *t = r->x->train;
    for (int i = 0; i < r->nparams; i++)
        unic_adam_step(r->params[i].value, r->params[i].grad, r->ckpt[i].m, r->ckpt[i].v,
                       (float)lr, (float)unic_param_float(t, "beta1"),
                       (float)unic_param_float(t, "beta2"), (float)unic_param_float(t, "adam_eps"),
                       (float)unic_param_float(t, "weight_decay"), step_no + 1);
    return objective;
}

/* With [data] train_transform, each epoch reads the images again with their
 * training augmentation and embeds them (the backbone is frozen, so no
 * gradients flow into it). Anchors, positives and negatives each get a
 * loader with their own random streams, so an image paired with itself is
 * still seen under two augmentations, as in SCAN. */
typedef struct augmented {
    int roles;
    unic_loader *loader[3];
    int64_t *order[3];
} augmented;

static void augmented_end(augmented *a)
{
    for (int k = 0; k < a->roles; k++) {
        if (a->loader[k]) unic_loader_free(a->loader[k]);
        unic_xfree(a->order[k]);
    }
    memset(a, 0, sizeof *a);
}

static int augmented_begin(run *r, int epoch, const int64_t *anchors, int64_t first_step,
                           augmented *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->roles = r->use_negatives ? 3 : 2;
    for (int k = 0; k < a->roles; k++) a->order[k] = unic_xmalloc((size_t)r->n * sizeof(int64_t));
    for (int64_t s = 0, first = 0; first < r->n; s++, first += r->batch) {
        int b = (int)(first + r->batch <= r->n ? r->batch : r->n - first);
        sample_partners(r, anchors + first, b, epoch, first_step + s);
        for (int k = 0; k < a->roles; k++)
            for (int i = 0; i < b; i++) a->order[k][first + i] = r->train_index[r->batch_idx[k * b + i]];
    }
    int threads = omp_get_max_threads() / a->roles;
    const unic_pipeline *p = r->train_pipeline ? r->train_pipeline : r->pipeline;
    for (int k = 0; k < a->roles; k++) {
        a->loader[k] = unic_loader_new(r->train_set, p, a->order[k], r->n, r->batch,
                                       threads > 0 ? threads : 1, r->seed,
                                       (uint64_t)epoch * 3 + (uint64_t)k, err, errlen);
        if (!a->loader[k]) {
            augmented_end(a);
            return -1;
        }
    }
    return 0;
}

/* Fills x_host with the augmented embeddings of the next step's b triplets;
 * 0 when an image failed to decode this time (the caller then falls back to
 * the test-transform embeddings for that step). */
static int augmented_rows(run *r, augmented *a, int b)
{
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    int ok = 1, c, h, w;
    unic_loader_shape(a->loader[0], &c, &h, &w);
    size_t item = (size_t)c * h * w;
    for (int k = 0; k < a->roles; k++) {
        unic_batch batch;
        if (!unic_loader_next(a->loader[k], &batch) || batch.n != b) {
            ok = 0;
            continue;
        }
        /* one forward over all roles: backward needs them together */
        if (r->train_backbone || r->tokens_head) {
            memcpy(r->images + (size_t)k * b * item, batch.x, (size_t)b * item * sizeof(float));
            continue;
        }
        unic_tensor in = {(float *)batch.x, {b, c, h, w}, 4, UNIC_CPU};
        unic_tensor o = {r->x_host->data + (size_t)k * b * r->dim, {b, r->dim}, 2, UNIC_CPU};
        ops->forward(r->backbone.state, &in, &o);
    }
    if (ok && r->tokens_head) {
        unic_tensor in = {r->images, {(int64_t)a->roles * b, c, h, w}, 4, UNIC_CPU};
        unic_tensor o = unic_rows(r->x_host, 0, (int64_t)a->roles * b);
        ops->forward_tokens(r->backbone.state, &in, &o);
    } else if (ok && r->train_backbone) {
        unic_tensor in = {r->images, {(int64_t)a->roles * b, c, h, w}, 4, UNIC_CPU};
        unic_tensor o = {r->x_host->data, {(int64_t)a->roles * b, r->dim}, 2, UNIC_CPU};
        ops->forward(r->backbone.state, &in, &o);
    }
    return ok;
}

/* With a trainable backbone the embeddings move: re-embed the kept images
 * with the test pipeline before evaluating, a loader batch per forward. */
static int refresh_embeddings(run *r, unic_imageset *set, const int64_t *index, int64_t n,
                              float *emb, char *err, size_t errlen)
{
    const int per = 256;
    unic_loader *l = unic_loader_new(set, r->pipeline, index, n, per, omp_get_max_threads(),
                                     r->seed, 0, err, errlen);
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

/* ---- outputs ------------------------------------------------------------- */

/* The training embeddings as the features backbone and `unic neighbors`
 * read them back: tensors embeddings [N, D], labels [N], index [N]. */
static int write_embeddings(run *r, const char *path, char *err, size_t errlen)
{
    int64_t *index = unic_xmalloc((size_t)r->n * sizeof(int64_t));
    for (int64_t i = 0; i < r->n; i++) index[i] = r->train_index ? r->train_index[i] : i;
    unic_array t[3] = {{"embeddings", UNIC_DT_F32, 2, {r->n, r->dim}, r->emb,
                        (size_t)r->n * (size_t)r->dim * sizeof(float)},
                       {"index", UNIC_DT_I64, 1, {r->n}, index, (size_t)r->n * sizeof(int64_t)},
                       {"labels", UNIC_DT_I32, 1, {r->n}, r->train.labels,
                        (size_t)r->n * sizeof(int32_t)}};
    const char *meta[] = {"source", r->train.path, NULL};
    int rc = unic_safetensors_write(path, t, r->train.labels ? 3 : 2, meta, err, errlen);
    unic_xfree(index);
    return rc;
}

static int save_embeddings(run *r, char *err, size_t errlen)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/embeddings.safetensors", r->out);
    return write_embeddings(r, path, err, errlen);
}

static int write_text(const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return unic_write_file_atomic(path, text, strlen(text), err, errlen);
}

static int write_predictions(run *r, char *err, size_t errlen)
{
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    const int32_t *labels = r->has_eval_set ? r->eval.labels : r->train.labels;
    const int64_t *index = r->has_eval_set ? r->eval_index : r->train_index;
    int32_t *pred = unic_xmalloc((size_t)n * sizeof(int32_t));
    float *conf = unic_xmalloc((size_t)n * sizeof(float));
    if (predict(r, pred, conf, err, errlen) != 0) {
        unic_xfree(pred);
        unic_xfree(conf);
        return -1;
    }
    size_t cap = (size_t)n * 48 + 64, len = 0;
    char *buf = unic_xmalloc(cap);
    len += (size_t)snprintf(buf, cap, "index,prediction,confidence,label%s\n", r->gcd ? ",labeled" : "");
    for (int64_t i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%lld,%d,%.6f,",
                                (long long)(index ? index[i] : i), pred[i], conf[i]);
        if (labels) len += (size_t)snprintf(buf + len, cap - len, "%d", labels[i]);
        if (r->gcd) len += (size_t)snprintf(buf + len, cap - len, ",%d", r->visible[i] >= 0);
        buf[len++] = '\n';
    }
    buf[len] = '\0';
    int rc = write_text(r->out, "predictions.csv", buf, err, errlen);
    unic_xfree(buf);
    unic_xfree(pred);
    unic_xfree(conf);
    return rc;
}

static cJSON *scores_json(const run *r, const double s[3])
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < 3; i++) cJSON_AddNumberToObject(o, metric_names(r, i), s[i]);
    return o;
}

static int write_metrics(run *r, const double base[3], const double fin[3], int scored,
                         double times[3], char *err, size_t errlen)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "experiment", r->x->name);
    cJSON_AddStringToObject(root, "task", r->gcd ? "gcd" : "clustering");
    cJSON_AddNumberToObject(root, "samples", (double)r->n);
    cJSON_AddNumberToObject(root, "clusters", r->k);
    if (scored) {
        cJSON *b = scores_json(r, base);
        cJSON_AddStringToObject(b, "method", r->gcd ? "ss-kmeans" : "kmeans");
        cJSON_AddItemToObject(root, "baseline", b);
        cJSON_AddItemToObject(root, "unic", scores_json(r, fin));
    }
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "embed_s", times[0]);
    cJSON_AddNumberToObject(t, "mining_s", times[1]);
    cJSON_AddNumberToObject(t, "training_s", times[2]);
    cJSON_AddItemToObject(root, "seconds", t);
    cJSON_AddItemToObject(root, "history", cJSON_Duplicate(r->history, 1));
    char *text = cJSON_Print(root);
    int rc = write_text(r->out, "metrics.json", text, err, errlen);
    free(text);
    cJSON_Delete(root);
    return rc;
}

static int save_checkpoint(run *r, int epoch, int64_t steps, const char *config, char *err,
                           size_t errlen)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", r->out);
    char *hist = cJSON_PrintUnformatted(r->history);
    unic_ckpt_meta meta = {epoch, steps, config, hist};
    int rc = unic_checkpoint_save(path, r->ckpt, r->nparams, &meta, err, errlen);
    free(hist);
    return rc;
}

/* ---- the run -------------------------------------------------------------- */

static void free_run(run *r)
{
    destroy_instance(&r->backbone);
    destroy_instance(&r->head);
    for (int i = 0; i < r->x->nminers; i++) destroy_instance(&r->miners[i]);
    for (int i = 0; i < r->x->nlosses; i++) destroy_instance(&r->losses[i]);
    for (int i = 0; i < r->nparams; i++) {
        unic_tensor_free(r->ckpt[i].m);
        unic_tensor_free(r->ckpt[i].v);
    }
    if (r->x_dev != r->x_host) unic_tensor_free(r->x_dev);
    if (r->probs_host != r->probs) unic_tensor_free(r->probs_host);
    if (r->dprobs != r->dprobs_host) unic_tensor_free(r->dprobs);
    unic_tensor *own[] = {r->x_host, r->logits, r->probs, r->dprobs_host, r->dlogits};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) unic_tensor_free(own[i]);
    unic_dataset_free(&r->train);
    unic_dataset_free(&r->eval);
    if (r->train_set) unic_imageset_free(r->train_set);
    if (r->eval_set) unic_imageset_free(r->eval_set);
    if (r->pipeline) unic_pipeline_free(r->pipeline);
    if (r->train_pipeline) unic_pipeline_free(r->train_pipeline);
    unic_xfree(r->train_index);
    unic_xfree(r->eval_index);
    unic_xfree(r->emb);
    unic_xfree(r->eval_emb);
    unic_xfree(r->visible);
    unic_xfree(r->labeled_idx);
    unic_xfree(r->unlabeled_idx);
    unic_xfree(r->pos_miner);
    unic_xfree(r->neg_miner);
    unic_xfree(r->batch_idx);
    unic_xfree(r->batch_labels);
    unic_xfree(r->images);
    if (r->dx_dev != r->dx) unic_tensor_free(r->dx_dev);
    unic_tensor_free(r->dx);
    cJSON_Delete(r->history);
}

static int setup(run *r, const char *out_dir, char *err, size_t errlen)
{
    const unic_experiment *x = r->x;
    const char *out = out_dir ? out_dir : unic_param_str(x->train, "out");
    if (*out)
        snprintf(r->out, sizeof r->out, "%s", out);
    else
        snprintf(r->out, sizeof r->out, "runs/%s", x->name);
    if (unic_mkdirs(r->out, err, errlen) != 0) return -1;
    r->seed = (uint64_t)unic_param_int(x->train, "seed");
    r->gcd = *unic_param_str(x->data, "old_classes") != '\0';
    r->dev = strcmp(unic_param_str(x->train, "device"), "cuda") == 0 ? UNIC_CUDA : UNIC_CPU;
    if (r->dev == UNIC_CUDA && !unic_cuda_available())
        return unic_errf(err, errlen, "[train] device = cuda, but %s",
#ifdef UNIC_WITH_CUDA
                         "no CUDA GPU is visible"
#else
                         "unic was built without CUDA (nvcc not found)"
#endif
        );
    /* the miners reach the engine through the api table, which has no
     * device argument: a run on the GPU mines there too */
    unic_knn_set_device(r->dev);
    long threads = unic_param_int(x->train, "threads");
    if (threads > 0) omp_set_num_threads((int)threads);
    r->history = cJSON_CreateArray();
    if (create_instance(&r->backbone, &x->backbone, err, errlen) != 0 ||
        create_instance(&r->head, &x->head, err, errlen) != 0)
        return -1;
    /* A backbone with trainable parameters (vit finetune = last_block, full) runs
     * per batch on the images, with its backward after the head's. */
    r->train_backbone = x->backbone.component->backbone->parameters(r->backbone.state, NULL, 0) > 0;
    r->tokens_head = x->head.component->head->takes_tokens;
    if (r->tokens_head && !x->backbone.component->backbone->forward_tokens)
        return unic_errf(err, errlen, "[head] %s takes the backbone's tokens, which [backbone] %s "
                         "does not give (vit does)", x->head.component->name,
                         x->backbone.component->name);
    for (int m = 0; m < x->nminers; m++)
        if (create_instance(&r->miners[m], &x->miners[m], err, errlen) != 0) return -1;
    return 0;
}

int unic_run(const unic_experiment *x, const char *out_dir, const char *cache_dir, int resume,
             unic_run_summary *summary, char *err, size_t errlen)
{
    /* on the heap: its checkpoint table alone is ~150 KB */
    run *r = unic_xcalloc(1, sizeof *r);
    r->x = x;
    int rc = -1;
    FILE *log = NULL;
    char *config = unic_experiment_resolved_ini(x);
    double times[3] = {0, 0, 0}, base[3] = {0, 0, 0}, fin[3] = {0, 0, 0};
    int start_epoch = 0;
    int64_t steps = 0;
    if (setup(r, out_dir, err, errlen) != 0) goto done;
    snprintf(r->cache, sizeof r->cache, "%s", cache_dir ? cache_dir : "");
    if (!cache_dir) snprintf(r->cache, sizeof r->cache, "%s/cache", r->out);

    char path[2300];
    snprintf(path, sizeof path, "%s/log.txt", r->out);
    log = fopen(path, resume ? "a" : "w");
    if (!log) {
        unic_errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        goto done;
    }
    unic_log_set_file(log);
    unic_log(UNIC_LOG_INFO, "unic %s: %s %s into %s (%d threads, %s)", UNIC_VERSION,
             resume ? "resuming" : "running", unic_config_path(x->cfg), r->out,
             omp_get_max_threads(), r->dev == UNIC_CUDA ? "cuda" : "cpu");
    if (write_text(r->out, "config.resolved.ini", config, err, errlen) != 0) goto done;

    double t0 = unic_now();
    if (load_data(r, err, errlen) != 0 || assign_miners(r, err, errlen) != 0) goto done;
    if (embed(r, r->train_set, &r->train, &r->emb, &r->train_index, err, errlen) != 0) goto done;
    r->n = r->train.n; /* undecodable images are gone */
    if (r->has_eval_set) {
        if (embed(r, r->eval_set, &r->eval, &r->eval_emb, &r->eval_index, err, errlen) != 0) goto done;
        r->eval_n = r->eval.n;
    }
    if (make_split(r, err, errlen) != 0) goto done;
    route_anchors(r);
    if (unic_param_bool(x->eval, "save_embeddings") && save_embeddings(r, err, errlen) != 0)
        goto done;
    times[0] = unic_now() - t0;
    t0 = unic_now();
    if (mine(r, err, errlen) != 0) goto done;
    times[1] = unic_now() - t0;
    unic_log(UNIC_LOG_INFO, "mining took %.2f s", times[1]);
    int scored = can_score(r);
    if (scored && unic_param_bool(x->eval, "kmeans") && baseline(r, base, err, errlen) != 0)
        goto done;
    if (build_model(r, err, errlen) != 0) goto done;

    if (resume) {
        char *saved_config = NULL, *hist = NULL;
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", r->out);
        if (unic_checkpoint_load(path, r->ckpt, r->nparams, &start_epoch, &steps, &saved_config,
                                 &hist, err, errlen) != 0)
            goto done;
        int same = strcmp(saved_config, config) == 0;
        free(saved_config);
        if (!same) {
            free(hist);
            unic_errf(err, errlen, "%s: the checkpoint was written with different settings than "
                      "%s now resolves to (see %s/config.resolved.ini); resume with the same "
                      "experiment and overrides", path, unic_config_path(x->cfg), r->out);
            goto done;
        }
        cJSON_Delete(r->history);
        r->history = cJSON_Parse(hist);
        free(hist);
        if (!r->history) r->history = cJSON_CreateArray();
        unic_log(UNIC_LOG_INFO, "resumed after epoch %d (step %lld)", start_epoch, (long long)steps);
    }

    int epochs = (int)unic_param_int(x->train, "epochs");
    long every = unic_param_int(x->eval, "every"), ckpt_every = unic_param_int(x->train, "checkpoint_every");
    int64_t *order = unic_xmalloc((size_t)r->n * sizeof(int64_t));
    int64_t eval_n = r->has_eval_set ? r->eval_n : r->n;
    int32_t *pred = unic_xmalloc((size_t)eval_n * sizeof(int32_t));
    t0 = unic_now();
    for (int e = start_epoch; e < epochs; e++) {
        double te = unic_now(), lr = lr_at(r, e), total = 0, sums[UNIC_MAX_SLOTS] = {0};
        epoch_order(r, e, order);
        int64_t nsteps = (r->n + r->batch - 1) / r->batch;
        char label[64];
        snprintf(label, sizeof label, "epoch %d/%d", e + 1, epochs);
        unic_progress p;
        unic_progress_start(&p, label, r->n);
        augmented aug = {0};
        /* images read every step */
        int per_step = r->train_pipeline || r->train_backbone || r->tokens_head;
        backbone_training(r, 1); /* evaluation between epochs turns it off */
        if (per_step && augmented_begin(r, e, order, steps, &aug, err, errlen) != 0)
            goto done_loop;
        for (int64_t s = 0; s < nsteps; s++) {
            int64_t first = s * r->batch;
            int b = (int)(first + r->batch <= r->n ? r->batch : r->n - first);
            int rows = b * (r->use_negatives ? 3 : 2);
            if (!per_step || !augmented_rows(r, &aug, b)) {
                if (r->train_backbone || r->tokens_head) { /* an image failed to decode this time */
                    unic_log(UNIC_LOG_WARN, "step %lld: an image failed to load; step skipped",
                             (long long)steps);
                    steps++;
                    continue;
                }
                sample_partners(r, order + first, b, e, steps);
                gather_rows(r, r->emb, r->batch_idx, rows);
            }
            total += step(r, order + first, b, steps, lr, sums);
            steps++;
            unic_progress_update(&p, first + b);
        }
        if (per_step) augmented_end(&aug);
        if (p.tty) unic_progress_end(&p);
        cJSON *h = cJSON_CreateObject();
        cJSON_AddNumberToObject(h, "epoch", e + 1);
        cJSON_AddNumberToObject(h, "lr", lr);
        cJSON_AddNumberToObject(h, "objective", total / (double)nsteps);
        char losses[512] = "";
        size_t used = 0;
        for (int l = 0; l < x->nlosses; l++) {
            const char *name = strchr(x->losses[l].section, '.') + 1;
            cJSON_AddNumberToObject(h, name, sums[l] / (double)nsteps);
            used += (size_t)snprintf(losses + used, sizeof losses - used, "%s%s %.4f",
                                     l ? ", " : "", name, sums[l] / (double)nsteps);
        }
        char scores[160] = "";
        int last = e + 1 == epochs;
        if (scored && (last || (every > 0 && (e + 1) % every == 0))) {
            double s[3];
            if (r->train_backbone &&
                (refresh_embeddings(r, r->train_set, r->train_index, r->n, r->emb, err, errlen) != 0 ||
                 (r->has_eval_set && refresh_embeddings(r, r->eval_set, r->eval_index, r->eval_n,
                                                       r->eval_emb, err, errlen) != 0)))
                goto done_loop;
            if (predict(r, pred, NULL, err, errlen) != 0 || score(r, pred, s, err, errlen) != 0)
                goto done_loop;
            for (int i = 0; i < 3; i++) cJSON_AddNumberToObject(h, metric_names(r, i), s[i]);
            snprintf(scores, sizeof scores, " | %s %.4f %s %.4f %s %.4f", metric_names(r, 0), s[0],
                     metric_names(r, 1), s[1], metric_names(r, 2), s[2]);
            if (last) memcpy(fin, s, sizeof s);
        }
        cJSON_AddNumberToObject(h, "seconds", unic_now() - te);
        cJSON_AddItemToArray(r->history, h);
        unic_log(UNIC_LOG_INFO, "epoch %d/%d: objective %.4f (%s) lr %.3g%s | %.1f s", e + 1,
                 epochs, total / (double)nsteps, losses, lr, scores, unic_now() - te);
        if (last || (ckpt_every > 0 && (e + 1) % ckpt_every == 0))
            if (save_checkpoint(r, e + 1, steps, config, err, errlen) != 0) goto done_loop;
        /* fault injection for the resume tests: die as a killed run would */
        const char *die = getenv("UNIC_TEST_DIE_AFTER_EPOCH");
        if (die && atoi(die) == e + 1) {
            unic_log(UNIC_LOG_ERROR, "UNIC_TEST_DIE_AFTER_EPOCH=%s: stopping abruptly", die);
            _exit(3);
        }
    }
    times[2] = unic_now() - t0;
    if (r->train_backbone && !scored &&
        refresh_embeddings(r, r->train_set, r->train_index, r->n, r->emb, err, errlen) != 0)
        goto done_loop;
    if (start_epoch >= epochs && scored) { /* resumed a finished run: score what it holds */
        if (predict(r, pred, NULL, err, errlen) != 0 || score(r, pred, fin, err, errlen) != 0)
            goto done_loop;
    }
    if (write_predictions(r, err, errlen) != 0 ||
        write_metrics(r, base, fin, scored, times, err, errlen) != 0)
        goto done_loop;
    if (scored) {
        const char *b = r->gcd ? "SS-k-means" : "k-means";
        unic_log(UNIC_LOG_INFO, "\n%-12s %8s %8s %8s", "", r->gcd ? "All" : "ACC",
                 r->gcd ? "Old" : "NMI", r->gcd ? "New" : "ARI");
        if (unic_param_bool(x->eval, "kmeans"))
            unic_log(UNIC_LOG_INFO, "%-12s %8.4f %8.4f %8.4f", b, base[0], base[1], base[2]);
        unic_log(UNIC_LOG_INFO, "%-12s %8.4f %8.4f %8.4f", "UNIC", fin[0], fin[1], fin[2]);
    }
    unic_log(UNIC_LOG_INFO, "run folder: %s (config.resolved.ini, log.txt, metrics.json, "
             "predictions.csv, checkpoint.safetensors, embeddings.safetensors, cache/)", r->out);
    if (summary) {
        summary->gcd = r->gcd;
        summary->has_scores = scored;
        memcpy(summary->baseline, base, sizeof base);
        memcpy(summary->final, fin, sizeof fin);
    }
    rc = 0;
done_loop:
    unic_xfree(order);
    unic_xfree(pred);
done:
    free(config);
    free_run(r);
    unic_xfree(r);
    unic_log_set_file(NULL);
    if (log) {
        if (rc != 0) fprintf(log, "[error] %s\n", err);
        fclose(log);
    }
    return rc;
}

int unic_extract(const unic_experiment *x, const char *out_path, char *err, size_t errlen)
{
    run *r = unic_xcalloc(1, sizeof *r);
    r->x = x;
    int rc = -1;
    char *dir = unic_xstrdup(out_path), *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    snprintf(r->out, sizeof r->out, "%s", slash ? dir : ".");
    free(dir);
    if (unic_mkdirs(r->out, err, errlen) != 0) goto done;
    r->seed = (uint64_t)unic_param_int(x->train, "seed");
    long threads = unic_param_int(x->train, "threads");
    if (threads > 0) omp_set_num_threads((int)threads);
    if (create_instance(&r->backbone, &x->backbone, err, errlen) != 0) goto done;
    double t0 = unic_now();
    if (load_data(r, err, errlen) != 0 ||
        embed(r, r->train_set, &r->train, &r->emb, &r->train_index, err, errlen) != 0)
        goto done;
    r->n = r->train.n;
    if (write_embeddings(r, out_path, err, errlen) != 0) goto done;
    unic_log(UNIC_LOG_INFO, "extract: %lld embeddings of size %d in %.1f s -> %s", (long long)r->n,
             r->dim, unic_now() - t0, out_path);
    rc = 0;
done:
    destroy_instance(&r->backbone);
    unic_dataset_free(&r->train);
    if (r->train_set) unic_imageset_free(r->train_set);
    if (r->pipeline) unic_pipeline_free(r->pipeline);
    if (r->train_pipeline) unic_pipeline_free(r->train_pipeline);
    unic_xfree(r->train_index);
    unic_xfree(r->emb);
    unic_xfree(r);
    return rc;
}
