/* A run's settings, typed: [data], [train], [eval] and the slots' core keys
 * (a loss's weight, a miner's scope) read from the
 * experiment's parameters once, checked against their bounds, and from then
 * on only read as fields. Nothing past unic_run_config_parse looks a setting
 * up by name. */
#ifndef UNIC_RUN_CONFIG_H
#define UNIC_RUN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "experiment/experiment.h"

/* The strings point into the experiment's parameters, which outlive a run. */
typedef struct unic_data_config {
    const char *path, *format, *tensor, *labels;
    const char *split, *eval_split, *class_list;  /* image datasets */
    const char *transform, *train_transform;      /* image pipelines; "" = none */
    const char *positive_transform;               /* the positives' pipeline; "" = train_transform */
    const char *eval_path, *eval_labels;          /* a held-out array set */
    const char *old_classes;                      /* GCD when not "" */
    int images;                /* the format is read through the image loader */
    int64_t limit;             /* the first N items; 0 = all */
    int64_t max_pixels;        /* image formats: per image, from its header; 0 = no bound */
    int classes;               /* clusters K; 0 = the number of label values */
    double labeled_fraction;   /* GCD: of the old-class items, in [0, 1] */
    uint64_t split_seed;       /* GCD: the labeled subset's draw */
} unic_data_config;

typedef struct unic_train_config {
    int epochs;                /* 1..UNIC_MAX_EPOCHS */
    int batch_size;            /* anchors per step, 1..UNIC_MAX_BATCH */
    double lr, lr_min;         /* cosine-annealed from lr to lr_min; both >= 0 */
    float beta1, beta2;        /* Adam's moment decays, in [0, 1) */
    float adam_eps;            /* >= 0 */
    float weight_decay;        /* >= 0 */
    uint64_t seed;             /* initialisation, shuffling, partner draws */
    int threads;               /* 0 = all cores */
    unic_device device;        /* where the head trains and neighbours are mined */
    int balance_labeled;       /* GCD: anchors half labeled, half unlabeled */
    int checkpoint_every;      /* epochs; 0 = only after the last */
    const char *out;           /* the run folder; "" = runs/<experiment name> */
} unic_train_config;

typedef struct unic_eval_config {
    int every;                 /* epochs; 0 = only after the last */
    int kmeans;                /* score the k-means (GCD: SS-k-means) baseline */
    int kmeans_restarts;       /* 1..UNIC_MAX_KMEANS_RESTARTS */
    int kmeans_max_iter;       /* 1..UNIC_MAX_KMEANS_ITER */
    uint64_t kmeans_seed;
    int save_embeddings;       /* embeddings.safetensors in the run folder */
    int track_kmeans;          /* k-means (GCD: SS-k-means) on the current embeddings at every
                                  evaluation (Figure 7) */
} unic_eval_config;

/* [head] classes and its estimate. The range's defaults (0) are resolved
 * once the data is known: 2 (GCD: the number of old classes) and 50 (at
 * most the number of items). */
typedef struct unic_head_config {
    int classes;               /* the head's outputs; 0 = [data] classes (or the label values) */
    int auto_classes;          /* classes = auto: estimated before training */
    int classes_min, classes_max; /* explicit range, 0 = default */
    int criterion;             /* unic_kest_criterion; auto resolved (gcd with old_classes) */
    double holdout;            /* gcd: in (0, 1) */
    int restarts;              /* k-means runs per K */
    int knn;                   /* eigengap neighbours; 0 = the knn miner's tau1, else 10 */
    int n_old;                 /* GCD: old classes named by [data] old_classes (0 otherwise) */
} unic_head_config;

typedef struct unic_run_config {
    unic_data_config data;
    unic_head_config head;
    unic_train_config train;
    unic_eval_config eval;
    float loss_weight[UNIC_MAX_SLOTS];       /* [loss.*] weight, in x->losses order */
    int loss_head[UNIC_MAX_SLOTS];           /* [loss.*] head: 0 clustering, 1 + i x->aux_heads[i] */
    int head_count;                          /* copies of the clustering head, 1..UNIC_MAX_HEAD_COPIES */
    unic_scope miner_scope[UNIC_MAX_SLOTS];  /* [miner.*] scope, in x->miners order */
} unic_run_config;

/* Fills c from x and checks every bound; -1 with a message naming the file
 * and line, the section and key, the bound and the value. */
int unic_run_config_parse(const unic_experiment *x, unic_run_config *c, char *err, size_t errlen);

/* 0 when the configured device can be used on this machine (cuda needs a
 * CUDA build and a visible GPU); otherwise -1 naming [train] device. */
/* The range of K for an estimate over n items: the explicit bounds or the
 * defaults; -1 naming [head] classes_min / classes_max when the range is
 * empty or classes_max exceeds the n items. */
int unic_head_config_range(const unic_experiment *x, const unic_head_config *h, int64_t n,
                           int *k_min, int *k_max, char *err, size_t errlen);

int unic_train_config_check_device(const unic_train_config *t, char *err, size_t errlen);

#endif
