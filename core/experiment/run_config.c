#include "experiment/run_config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/util.h"
#include "eval/estimate_k.h"
#include "ops/ops.h"

/* "exp.ini:12: [train] beta1 must be in [0, 1), got 1" */
static int refuse(const unic_experiment *x, const char *section, const char *key,
                  const char *bound, const char *value, char *err, size_t errlen)
{
    char where[1200] = "";
    if (x->cfg) unic_config_where(x->cfg, section, key, where, sizeof where);
    return unic_errf(err, errlen, "%s%s[%s] %s must be %s, got %s", where, *where ? ": " : "",
                     section, key, bound, value);
}

static int check_int(const unic_experiment *x, const char *section, const char *key, long value,
                     long lo, long hi, char *err, size_t errlen)
{
    if (value >= lo && value <= hi) return 0;
    char bound[96], got[32];
    if (value < lo && hi >= INT_MAX) /* "between 0 and 2147483647" says nothing more */
        snprintf(bound, sizeof bound, "at least %ld", lo);
    else
        snprintf(bound, sizeof bound, "between %ld and %ld", lo, hi);
    snprintf(got, sizeof got, "%ld", value);
    return refuse(x, section, key, bound, got, err, errlen);
}

/* Numbers are finite already (the parameter tables refuse nan and inf). */
static int check_nonnegative(const unic_experiment *x, const char *section, const char *key,
                             double value, char *err, size_t errlen)
{
    if (value >= 0) return 0;
    char got[32];
    snprintf(got, sizeof got, "%g", value);
    return refuse(x, section, key, "at least 0", got, err, errlen);
}

/* Checked as the float Adam uses: 0.99999999 rounds to 1 there, and a
 * decay of 1 divides by zero in the bias correction. */
static int check_decay(const unic_experiment *x, const char *key, double value, char *err,
                       size_t errlen)
{
    float f = (float)value;
    if (f >= 0.0f && f < 1.0f) return 0;
    char got[32];
    snprintf(got, sizeof got, "%.9g", value);
    return refuse(x, "train", key, "in [0, 1) (as a float)", got, err, errlen);
}

static int parse_data(const unic_experiment *x, unic_data_config *d, char *err, size_t errlen)
{
    const unic_params *p = x->data;
    d->path = unic_param_str(p, "path");
    d->format = unic_param_str(p, "format");
    d->tensor = unic_param_str(p, "tensor");
    d->labels = unic_param_str(p, "labels");
    d->split = unic_param_str(p, "split");
    d->eval_split = unic_param_str(p, "eval_split");
    d->class_list = unic_param_str(p, "class_list");
    d->transform = unic_param_str(p, "transform");
    d->train_transform = unic_param_str(p, "train_transform");
    d->positive_transform = unic_param_str(p, "positive_transform");
    d->eval_path = unic_param_str(p, "eval_path");
    d->eval_labels = unic_param_str(p, "eval_labels");
    d->old_classes = unic_param_str(p, "old_classes");
    d->images = unic_format_is_images(d->format);
    long limit = unic_param_int(p, "limit"), classes = unic_param_int(p, "classes");
    d->labeled_fraction = unic_param_float(p, "labeled_fraction");
    d->split_seed = (uint64_t)unic_param_int(p, "split_seed");
    long max_pixels = unic_param_int(p, "max_pixels");
    if (check_int(x, "data", "limit", limit, 0, LONG_MAX, err, errlen) != 0 ||
        check_int(x, "data", "max_pixels", max_pixels, 0, LONG_MAX, err, errlen) != 0)
        return -1;
    d->max_pixels = max_pixels;
    if (classes != 0 && (classes < 2 || classes > UNIC_MAX_CLASSES)) {
        char bound[96], got[32];
        snprintf(bound, sizeof bound, "0 (the number of label values) or between 2 and %d "
                 "(UNIC_MAX_CLASSES)", UNIC_MAX_CLASSES);
        snprintf(got, sizeof got, "%ld", classes);
        return refuse(x, "data", "classes", bound, got, err, errlen);
    }
    if (!(d->labeled_fraction >= 0 && d->labeled_fraction <= 1)) {
        char got[32];
        snprintf(got, sizeof got, "%g", d->labeled_fraction);
        return refuse(x, "data", "labeled_fraction", "within [0, 1]", got, err, errlen);
    }
    d->limit = limit;
    d->classes = (int)classes;
    return 0;
}

static int parse_train(const unic_experiment *x, unic_train_config *t, char *err, size_t errlen)
{
    const unic_params *p = x->train;
    long epochs = unic_param_int(p, "epochs"), batch = unic_param_int(p, "batch_size");
    long threads = unic_param_int(p, "threads"), every = unic_param_int(p, "checkpoint_every");
    double beta1 = unic_param_float(p, "beta1"), beta2 = unic_param_float(p, "beta2");
    double eps = unic_param_float(p, "adam_eps"), decay = unic_param_float(p, "weight_decay");
    t->lr = unic_param_float(p, "lr");
    t->lr_min = unic_param_float(p, "lr_min");
    if (check_int(x, "train", "epochs", epochs, 1, UNIC_MAX_EPOCHS, err, errlen) != 0 ||
        check_int(x, "train", "batch_size", batch, 1, UNIC_MAX_BATCH, err, errlen) != 0 ||
        check_int(x, "train", "threads", threads, 0, UNIC_MAX_THREADS, err, errlen) != 0 ||
        check_int(x, "train", "checkpoint_every", every, 0, INT_MAX, err, errlen) != 0 ||
        check_nonnegative(x, "train", "lr", t->lr, err, errlen) != 0 ||
        check_nonnegative(x, "train", "lr_min", t->lr_min, err, errlen) != 0 ||
        check_decay(x, "beta1", beta1, err, errlen) != 0 ||
        check_decay(x, "beta2", beta2, err, errlen) != 0 ||
        check_nonnegative(x, "train", "adam_eps", eps, err, errlen) != 0 ||
        check_nonnegative(x, "train", "weight_decay", decay, err, errlen) != 0)
        return -1;
    t->epochs = (int)epochs;
    t->batch_size = (int)batch;
    t->beta1 = (float)beta1;
    t->beta2 = (float)beta2;
    t->adam_eps = (float)eps;
    t->weight_decay = (float)decay;
    t->seed = (uint64_t)unic_param_int(p, "seed");
    t->threads = (int)threads;
    t->device = strcmp(unic_param_str(p, "device"), "cuda") == 0 ? UNIC_CUDA : UNIC_CPU;
    t->balance_labeled = unic_param_bool(p, "balance_labeled");
    t->checkpoint_every = (int)every;
    t->out = unic_param_str(p, "out");
    return 0;
}

static int parse_eval(const unic_experiment *x, unic_eval_config *e, char *err, size_t errlen)
{
    const unic_params *p = x->eval;
    long every = unic_param_int(p, "every");
    e->kmeans = unic_param_bool(p, "kmeans");
    if (check_int(x, "eval", "every", every, 0, INT_MAX, err, errlen) != 0) return -1;
    e->every = (int)every;
    /* bounded by unic_eval_spec (1..UNIC_MAX_KMEANS_*), checked with the experiment */
    e->kmeans_restarts = (int)unic_param_int(p, "kmeans_restarts");
    e->kmeans_max_iter = (int)unic_param_int(p, "kmeans_max_iter");
    e->kmeans_seed = (uint64_t)unic_param_int(p, "kmeans_seed");
    e->save_embeddings = unic_param_bool(p, "save_embeddings");
    e->track_kmeans = unic_param_bool(p, "track_kmeans");
    return 0;
}

/* [head] classes: empty, auto, or a count of outputs in 2..UNIC_MAX_CLASSES. */
static int parse_classes(const unic_experiment *x, const char *v, unic_head_config *h,
                         char *err, size_t errlen)
{
    if (!*v) return 0;
    if (strcmp(v, "auto") == 0) {
        h->auto_classes = 1;
        return 0;
    }
    char *end;
    long k = strtol(v, &end, 10);
    if (end != v && *end == '\0' && k >= 2 && k <= UNIC_MAX_CLASSES) {
        h->classes = (int)k;
        return 0;
    }
    char bound[128], got[80];
    snprintf(bound, sizeof bound, "auto or a number of clusters between 2 and %d "
             "(UNIC_MAX_CLASSES)", UNIC_MAX_CLASSES);
    snprintf(got, sizeof got, "'%.60s'", v);
    return refuse(x, "head", "classes", bound, got, err, errlen);
}

static int parse_criterion(const unic_experiment *x, const char *v, unic_head_config *h,
                           int gcd, char *err, size_t errlen)
{
    h->criterion = UNIC_KEST_LABEL_FREE_DEFAULT;
    if (strcmp(v, "auto") == 0) {
        if (gcd) h->criterion = UNIC_KEST_GCD;
        return 0;
    }
    for (int c = 0; c < UNIC_KEST_COUNT; c++)
        if (strcmp(v, unic_kest_name((unic_kest_criterion)c)) == 0) h->criterion = c;
    if (h->criterion == UNIC_KEST_GCD && !gcd)
        return refuse(x, "head", "estimate", "a label-free criterion (gcd needs [data] "
                      "old_classes)", "gcd", err, errlen);
    return 0;
}

/* Explicit bounds are checked here, before any data is read; the
 * defaults and the number of items are checked by unic_head_config_range. */
static int parse_head(const unic_experiment *x, const unic_data_config *d, unic_head_config *h,
                      char *err, size_t errlen)
{
    const unic_params *p = x->head.params;
    if (!p) return 0; /* unic extract: no head */
    int gcd = *d->old_classes != '\0';
    if (parse_classes(x, unic_param_str(p, "classes"), h, err, errlen) != 0 ||
        parse_criterion(x, unic_param_str(p, "estimate"), h, gcd, err, errlen) != 0)
        return -1;
    long lo = unic_param_int(p, "classes_min"), hi = unic_param_int(p, "classes_max");
    char got[64];
    if (lo == 1) return refuse(x, "head", "classes_min", "0 (automatic) or at least 2", "1", err, errlen);
    if (hi == 1) return refuse(x, "head", "classes_max", "0 (automatic) or at least 2", "1", err, errlen);
    if (lo && hi && lo > hi) {
        snprintf(got, sizeof got, "%ld (classes_min = %ld)", hi, lo);
        return refuse(x, "head", "classes_max", "at least classes_min", got, err, errlen);
    }
    if (gcd) {
        unsigned char mask[UNIC_MAX_CLASSES];
        char msg[256];
        if (unic_parse_class_list(d->old_classes, mask, UNIC_MAX_CLASSES, &h->n_old, msg,
                                  sizeof msg) != 0)
            h->n_old = 0; /* the experiment's own check reports it */
        if (lo && lo < h->n_old) {
            char bound[96];
            snprintf(bound, sizeof bound, "at least the %d old classes of [data] old_classes",
                     h->n_old);
            snprintf(got, sizeof got, "%ld", lo);
            return refuse(x, "head", "classes_min", bound, got, err, errlen);
        }
    }
    if (h->classes && d->classes && h->classes != d->classes) {
        snprintf(got, sizeof got, "%d ([data] classes = %d)", h->classes, d->classes);
        return refuse(x, "head", "classes", "the same as [data] classes when both are set", got,
                      err, errlen);
    }
    if (h->auto_classes && d->classes) {
        snprintf(got, sizeof got, "auto ([data] classes = %d)", d->classes);
        return refuse(x, "head", "classes", "left empty, or [data] classes removed", got, err,
                      errlen);
    }
    h->classes_min = (int)lo;
    h->classes_max = (int)hi;
    h->holdout = unic_param_float(p, "estimate_holdout");
    if (h->criterion == UNIC_KEST_GCD && !(h->holdout > 0 && h->holdout < 1)) {
        snprintf(got, sizeof got, "%g", h->holdout);
        return refuse(x, "head", "estimate_holdout", "strictly between 0 and 1", got, err, errlen);
    }
    h->restarts = (int)unic_param_int(p, "estimate_restarts");
    h->knn = (int)unic_param_int(p, "estimate_knn");
    if (h->knn == 1) return refuse(x, "head", "estimate_knn", "0 (automatic) or at least 2", "1", err, errlen);
    return 0;
}

int unic_head_config_range(const unic_experiment *x, const unic_head_config *h, int64_t n,
                           int *k_min, int *k_max, char *err, size_t errlen)
{
    int lo = h->classes_min ? h->classes_min : (h->n_old > 2 ? h->n_old : 2);
    int hi = h->classes_max;
    char got[96];
    if (!hi) hi = lo > 50 ? lo : 50;
    if (!h->classes_max && hi > n) hi = (int)n; /* the default follows small data sets */
    if (hi > n) {
        snprintf(got, sizeof got, "%d, above the %lld items", hi, (long long)n);
        return refuse(x, "head", "classes_max", "at most the number of items", got, err, errlen);
    }
    if (lo > hi) {
        snprintf(got, sizeof got, "%d, above the largest K %d (%s)", lo, hi,
                 h->classes_max ? "classes_max" : "the number of items");
        return refuse(x, "head", "classes_min", "at most the largest K", got, err, errlen);
    }
    *k_min = lo;
    *k_max = hi;
    return 0;
}

static int parse_slots(const unic_experiment *x, unic_run_config *c, char *err, size_t errlen)
{
    for (int l = 0; l < x->nlosses; l++) {
        c->loss_weight[l] = unic_slot_weight(&x->losses[l]);
        c->loss_head[l] = unic_loss_head(x, &x->losses[l]);
    }
    for (int m = 0; m < x->nminers; m++) c->miner_scope[m] = unic_slot_scope(&x->miners[m]);
    long count = x->head.params ? unic_param_int(x->head.params, "count") : 1;
    if (check_int(x, x->head.section ? x->head.section : "head", "count", count, 1,
                  UNIC_MAX_HEAD_COPIES, err, errlen) != 0)
        return -1;
    c->head_count = (int)count;
    for (int i = 0; i < x->naux; i++)
        if (unic_param_int(x->aux_heads[i].params, "count") != 1)
            return refuse(x, x->aux_heads[i].section, "count", "1 (only the clustering head "
                          "trains copies, SCAN's heads; its losses decide which is reported)",
                          unic_params_get(x->aux_heads[i].params, "count"), err, errlen);
    return 0;
}

int unic_run_config_parse(const unic_experiment *x, unic_run_config *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (parse_data(x, &c->data, err, errlen) != 0 ||
        parse_head(x, &c->data, &c->head, err, errlen) != 0 ||
        parse_train(x, &c->train, err, errlen) != 0 || parse_eval(x, &c->eval, err, errlen) != 0 ||
        parse_slots(x, c, err, errlen) != 0)
        return -1;
    return 0;
}

int unic_train_config_check_device(const unic_train_config *t, char *err, size_t errlen)
{
    if (t->device != UNIC_CUDA || unic_cuda_available()) return 0;
    return unic_errf(err, errlen, "[train] device = cuda, but %s",
#ifdef UNIC_WITH_CUDA
                     "no CUDA GPU is visible"
#else
                     "unic was built without CUDA (nvcc not found)"
#endif
    );
}
