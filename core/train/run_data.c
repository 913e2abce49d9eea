/* The run's data: the training set (arrays in memory, or an image dataset
 * the loader reads), an optional evaluation set, the number of clusters,
 * and for GCD the labeled subset (written to split.csv). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "train/run_internal.h"

/* Opens an image dataset split; d gets its size (limit applied), labels
 * and path, and the items stay on disk until the loader decodes them. */
static int open_images(run *r, const char *split, int64_t limit, unic_imageset **set,
                       unic_dataset *d, char *err, size_t errlen)
{
    const unic_data_config *c = &r->cfg.data;
    const char *kind = strcmp(c->format, "idx_images") == 0 ? "idx" : c->format;
    if (unic_imageset_open(kind, c->path, split, c->class_list, c->labels, set, err, errlen) != 0)
        return -1;
    unic_imageset_set_max_pixels(*set, c->max_pixels);
    memset(d, 0, sizeof *d);
    char name[2300];
    snprintf(name, sizeof name, "%s%s%s", c->path, *split && strcmp(kind, "idx") ? ":" : "",
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

/* The test pipeline: [data] transform, or for IDX images (which all share
 * one size) a center crop that keeps them as they are. */
static int test_pipeline(run *r, char *err, size_t errlen)
{
    char spec[64];
    const char *transform = r->cfg.data.transform;
    if (!*transform) {
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
    return r->pipeline ? 0 : -1;
}

static int load_images(run *r, char *err, size_t errlen)
{
    const unic_data_config *c = &r->cfg.data;
    if (open_images(r, c->split, c->limit, &r->train_set, &r->train, err, errlen) != 0 ||
        test_pipeline(r, err, errlen) != 0)
        return -1;
    if (*c->eval_split) {
        if (r->gcd)
            return unic_errf(err, errlen, "[data] eval_split: GCD is scored on the unlabeled "
                             "part of the training set; leave eval_split empty");
        if (open_images(r, c->eval_split, 0, &r->eval_set, &r->eval, err, errlen) != 0) return -1;
        r->has_eval_set = 1;
    }
    if (*c->train_transform) {
        r->train_pipeline = unic_pipeline_parse(c->train_transform, err, errlen);
        if (!r->train_pipeline) return -1;
    }
    /* The decoder's limit comes from the environment, not the experiment:
     * the log keeps it with the run, since it decides what is skipped. */
    const char *text;
    int is_default;
    int64_t jmem = unic_jpeg_memory_limit(&text, &is_default);
    char pixels[64], memory[64];
    snprintf(pixels, sizeof pixels, c->max_pixels > 0 ? "at most %lld pixels each" : "no bound "
             "on their pixels", (long long)c->max_pixels);
    snprintf(memory, sizeof memory, jmem > 0 ? "%lld bytes" : "none", (long long)jmem);
    unic_log(UNIC_LOG_INFO, "images: %s ([data] max_pixels); libjpeg's memory limit "
             "per decode: %s (JPEGMEM=%s%s)", pixels, memory, text ? text : "unset",
             is_default ? ", unic's default" : "");
    if (*c->positive_transform) {
        r->positive_pipeline = unic_pipeline_parse(c->positive_transform, err, errlen);
        if (!r->positive_pipeline) return -1;
    }
    return 0;
}

/* A held-out evaluation set of arrays ([data] eval_path). */
static int load_eval_arrays(run *r, char *err, size_t errlen)
{
    const unic_data_config *c = &r->cfg.data;
    if (r->train_set)
        return unic_errf(err, errlen, "[data] eval_path: for image datasets use eval_split");
    if (r->gcd)
        return unic_errf(err, errlen, "[data] eval_path: GCD is scored on the unlabeled part "
                         "of the training set; leave eval_path empty");
    if (unic_dataset_load(c->eval_path, c->tensor, c->eval_labels, 0, &r->eval, err, errlen) != 0)
        return -1;
    r->has_eval_set = 1;
    if (r->eval.item_size != r->train.item_size)
        return unic_errf(err, errlen, "%s: items of %lld values, but %s has %lld", c->eval_path,
                         (long long)r->eval.item_size, r->train.path,
                         (long long)r->train.item_size);
    return 0;
}

/* K: [head] classes, [data] classes, else the number of label values of
 * either set; classes = auto leaves it to the estimate, whose range is
 * checked against the items here, before anything is embedded. */
static int count_clusters(run *r, char *err, size_t errlen)
{
    int label_classes = r->train.num_classes > r->eval.num_classes ? r->train.num_classes
                                                                    : r->eval.num_classes;
    r->k = r->cfg.head.classes   ? r->cfg.head.classes
           : r->cfg.data.classes ? r->cfg.data.classes
                                 : label_classes;
    if (r->cfg.head.auto_classes) {
        r->k = 0;
        if (r->gcd && !r->train.labels)
            return unic_errf(err, errlen, "[data] old_classes is set (GCD) but %s has no labels; "
                             "set [data] labels", r->train.path);
        return run_estimate_range(r, err, errlen);
    }
    if (r->k > r->n)
        return unic_errf(err, errlen, "%s = %d clusters, but %s has only %lld items",
                         r->cfg.head.classes ? "[head] classes" : "[data] classes", r->k,
                         r->train.path, (long long)r->n);
    if (r->k < 2)
        return unic_errf(err, errlen, "[data] classes: cannot tell the number of clusters (no "
                         "labels in %s); set classes = K", r->train.path);
    if (r->gcd && !r->train.labels)
        return unic_errf(err, errlen, "[data] old_classes is set (GCD) but %s has no labels; set "
                         "[data] labels", r->train.path);
    return 0;
}

int run_load_data(run *r, char *err, size_t errlen)
{
    const unic_data_config *c = &r->cfg.data;
    if (c->images) {
        if (load_images(r, err, errlen) != 0) return -1;
    } else if (unic_dataset_load(c->path, c->tensor, c->labels, c->limit, &r->train, err,
                                 errlen) != 0) {
        return -1;
    }
    r->n = r->train.n;
    if ((r->train_backbone || r->tokens_head) && !c->images)
        return unic_errf(err, errlen, "[backbone] %s %s, which reads the items every step through "
                         "the image loader: give [data] an image format (format = idx_images "
                         "reads IDX files as images)", r->backbone.slot->component->name,
                         r->train_backbone ? "trains (finetune)" : "feeds a head its tokens");
    if (*c->eval_path && load_eval_arrays(r, err, errlen) != 0) return -1;
    if (count_clusters(r, err, errlen) != 0) return -1;
    char clusters[64];
    if (r->k)
        snprintf(clusters, sizeof clusters, "%d clusters", r->k);
    else
        snprintf(clusters, sizeof clusters, "clusters to estimate in %d..%d", r->est.k_min,
                 r->est.k_max);
    unic_log(UNIC_LOG_INFO, "data: %lld training items from %s%s%s, %s", (long long)r->n,
             r->train.path, r->has_eval_set ? ", evaluation on " : "",
             r->has_eval_set ? r->eval.path : "", clusters);
    return 0;
}

/* The labeled subset of GCD: a seeded random labeled_fraction of the
 * old-class samples, as GCD's subsample_instances draws it. */
static int draw_labeled(run *r, char *err, size_t errlen)
{
    const unic_data_config *c = &r->cfg.data;
    int count;
    if (unic_parse_class_list(c->old_classes, r->is_old, UNIC_MAX_CLASSES, &count, err,
                              errlen) != 0)
        return -1;
    int64_t *old = unic_xmalloc((size_t)r->n * sizeof(int64_t)), n_old = 0;
    for (int64_t i = 0; i < r->n; i++) {
        int32_t label = r->train.labels[i];
        if (label < UNIC_MAX_CLASSES && r->is_old[label]) old[n_old++] = i;
    }
    unic_rng g = unic_rng_stream(c->split_seed, 7, 0);
    for (int64_t i = n_old - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)unic_rng_below(&g, (uint64_t)(i + 1)), t = old[i];
        old[i] = old[j];
        old[j] = t;
    }
    int64_t take = (int64_t)llround(c->labeled_fraction * (double)n_old);
    for (int64_t i = 0; i < take; i++) r->visible[old[i]] = r->train.labels[old[i]];
    unic_xfree(old);
    if (take == 0)
        return unic_errf(err, errlen, "[data] old_classes %s: no training sample is labeled",
                         c->old_classes);
    return 0;
}

static int write_split(run *r, char *err, size_t errlen)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/split.csv", r->out);
    FILE *f = fopen(path, "w");
    if (!f) return unic_errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "index,label,old_class,labeled\n");
    for (int64_t i = 0; i < r->n; i++)
        fprintf(f, "%lld,%d,%d,%d\n", (long long)(r->train_index ? r->train_index[i] : i),
                r->train.labels[i],
                r->train.labels[i] < UNIC_MAX_CLASSES && r->is_old[r->train.labels[i]],
                r->visible[i] >= 0);
    fclose(f);
    unic_log(UNIC_LOG_INFO, "GCD split: %lld labeled, %lld unlabeled (written to %s)",
             (long long)r->n_labeled, (long long)r->n_unlabeled, path);
    return 0;
}

/* A batch larger than the training set holds every item once, as a batch
 * of N does, but its step buffers are sized by batch_size: 100,000 on 1,797
 * items took 9.7 GiB. It becomes N here, where N is final (after undecodable
 * images are dropped), before the model sizes anything; steps, partner draws
 * and numbers are those of batch_size = N. */
static void fit_batch(run *r)
{
    int *batch = &r->cfg.train.batch_size;
    if (*batch <= r->n) return;
    char where[1200] = "";
    if (r->x && r->x->cfg) unic_config_where(r->x->cfg, "train", "batch_size", where, sizeof where);
    unic_log(UNIC_LOG_WARN, "%s%s[train] batch_size = %d is larger than the %lld training items; "
             "using %lld (one step per epoch)", where, *where ? ": " : "", *batch,
             (long long)r->n, (long long)r->n);
    *batch = (int)r->n;
}

int run_make_split(run *r, char *err, size_t errlen)
{
    fit_batch(r);
    r->visible = unic_xmalloc((size_t)r->n * sizeof(int32_t));
    r->labeled_idx = unic_xmalloc((size_t)r->n * sizeof(int64_t));
    r->unlabeled_idx = unic_xmalloc((size_t)r->n * sizeof(int64_t));
    for (int64_t i = 0; i < r->n; i++) r->visible[i] = -1;
    if (r->gcd && draw_labeled(r, err, errlen) != 0) return -1;
    for (int64_t i = 0; i < r->n; i++) {
        if (r->visible[i] >= 0)
            r->labeled_idx[r->n_labeled++] = i;
        else
            r->unlabeled_idx[r->n_unlabeled++] = i;
    }
    return r->gcd ? write_split(r, err, errlen) : 0;
}

void run_data_free(run *r)
{
    unic_dataset_free(&r->train);
    unic_dataset_free(&r->eval);
    if (r->train_set) unic_imageset_free(r->train_set);
    if (r->eval_set) unic_imageset_free(r->eval_set);
    if (r->pipeline) unic_pipeline_free(r->pipeline);
    if (r->train_pipeline) unic_pipeline_free(r->train_pipeline);
    if (r->positive_pipeline) unic_pipeline_free(r->positive_pipeline);
    unic_xfree(r->train_index);
    unic_xfree(r->eval_index);
    unic_xfree(r->emb);
    unic_xfree(r->eval_emb);
    unic_xfree(r->visible);
    unic_xfree(r->labeled_idx);
    unic_xfree(r->unlabeled_idx);
}
