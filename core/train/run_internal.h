/* The state of one run, shared by the files of core/train and private to
 * them. Each stage of a run lives in its own file:
 *   run.c            the stages in order (unic_run)
 *   train_config.c   the settings, typed and checked once
 *   run_data.c       the data sets and the GCD split
 *   embed.c          the backbone over the data (embeddings)
 *   run_mining.c     miners: which serves each anchor, mining, partner draws
 *   run_model.c      components, the trainable tensors, the step buffers
 *   batch_source.c   a step's head input, whatever its origin
 *   train_step.c     one optimiser step: forward, losses, backward, Adam
 *   train_loop.c     the epochs: order, schedule, evaluation, checkpoints
 *   run_eval.c       predictions, scores and the k-means baseline
 *   run_estimate.c   classes = auto: the number of clusters estimated
 *   run_output.c     the run folder's files, checkpoint and resume
 *   extract.c        unic_extract: the backbone alone over the data */
#ifndef UNIC_RUN_INTERNAL_H
#define UNIC_RUN_INTERNAL_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/limits.h"
#include "data/dataset.h"
#include "data/imagesets.h"
#include "data/loader.h"
#include "experiment/experiment.h"
#include "train/checkpoint.h"
#include "experiment/run_config.h"

/* Clustering: ACC, NMI, ARI, many-to-one ACC; GCD: All, Old, New. */
#define UNIC_RUN_METRICS 4

#define MAX_PARAMS 512 /* vit finetune = full: 4 + 14 depth + 2, plus the head */

typedef struct instance {
    const unic_slot *slot;
    void *state;
} instance;

typedef struct run {
    const unic_experiment *x;
    unic_run_config cfg; /* every setting, typed and checked before any work */
    char *config;        /* the resolved experiment: config.resolved.ini, checkpoints */
    char out[2048], cache[2300];
    int folder_lock;        /* held on out/.lock for the whole run, or -1 */
    int gcd;             /* scored as GCD (unic_extract leaves it 0) */
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
    /* classes = auto: the range, then the estimate */
    struct {
        int k_min, k_max, done, k, runner_up, criterion, evaluations;
        double seconds;
    } est;
    /* GCD */
    unsigned char is_old[UNIC_MAX_CLASSES];
    int32_t *visible; /* label of labeled samples, -1 elsewhere */
    int64_t *labeled_idx, *unlabeled_idx;
    int64_t n_labeled, n_unlabeled;
    /* components */
    instance backbone, head;
    instance miners[UNIC_MAX_SLOTS], losses[UNIC_MAX_SLOTS];
    int group_pos[2], group_neg[2]; /* miner serving [unlabeled, labeled] anchors, -1 none */
    int8_t *pos_miner, *neg_miner;  /* per anchor: which miner serves it, -1 none */
    int use_negatives;
    /* a backbone with trainable parameters (vit finetune = last_block, full)
     * runs per step on the images, its backward after the head's */
    int train_backbone;
    /* a head that takes the backbone's tokens (x_host is [rows, tokens, dim]) */
    int tokens_head, tokens;
    /* optimiser */
    unic_param_tensor params[MAX_PARAMS];
    unic_ckpt_tensor ckpt[MAX_PARAMS];
    int nparams;
    /* step buffers, allocated once for the largest step: rows = batch_size
     * anchors, as many positives and (with negatives) negatives */
    int rows;
    unic_tensor *x_host, *x_dev, *logits, *probs, *probs_host, *dprobs_host, *dprobs, *dlogits;
    int64_t *batch_idx;
    int32_t *batch_labels;
    float *images;          /* a step's images, for a backbone that runs every step */
    unic_tensor *dx, *dx_dev; /* d(head input), for a trainable backbone */
    /* progress and results */
    cJSON *history;
    int start_epoch;
    int64_t steps;
    int scored;             /* labels exist to score against */
    double baseline[UNIC_RUN_METRICS], final[UNIC_RUN_METRICS]; /* metric_count(r) used */
    double seconds[3];      /* embedding, mining, training */
} run;

/* run_model.c */
int instance_create(instance *in, const unic_slot *slot, char *err, size_t errlen);
void instance_destroy(instance *in);
int run_create_components(run *r, char *err, size_t errlen);
int run_build_model(run *r, char *err, size_t errlen);
void run_model_free(run *r);
/* Training mode for a trainable backbone (see set_training in plugin.h). */
void backbone_training(run *r, int on);

/* run_data.c */
int run_load_data(run *r, char *err, size_t errlen);
int run_make_split(run *r, char *err, size_t errlen);
void run_data_free(run *r);

/* embed.c */
int run_embed(run *r, unic_imageset *set, unic_dataset *d, float **out, int64_t **index,
              char *err, size_t errlen);
int run_refresh_embeddings(run *r, unic_imageset *set, const int64_t *index, int64_t n,
                           float *emb, char *err, size_t errlen);

/* run_mining.c */
int run_assign_miners(run *r, char *err, size_t errlen);
void run_route_anchors(run *r);
int run_mine(run *r, char *err, size_t errlen);
void run_sample_partners(run *r, const int64_t *anchors, int b, int epoch, int64_t step_no);

/* train_step.c */
unic_tensor head_probs(run *r, int64_t count);
void gather_rows(run *r, const float *emb, const int64_t *idx, int64_t count);
double train_step(run *r, const int64_t *anchors, int b, int64_t step_no, double lr,
                  double *loss_sums);

/* train_loop.c */
int run_train(run *r, char *err, size_t errlen);

/* run_eval.c */
int run_predict(run *r, int32_t *pred, float *conf, char *err, size_t errlen);
int run_score(run *r, const int32_t *pred, double out[UNIC_RUN_METRICS], char *err,
              size_t errlen);
int run_can_score(const run *r);
int metric_count(const run *r);
const char *metric_name(const run *r, int i);
int run_baseline(run *r, double out[UNIC_RUN_METRICS], char *err, size_t errlen);

/* run_estimate.c */
int run_estimate_range(run *r, char *err, size_t errlen);
int run_plan_estimate(run *r, char *err, size_t errlen);
int run_estimate_classes(run *r, char *err, size_t errlen);

/* run_output.c */
int write_text(const char *dir, const char *name, const char *text, char *err, size_t errlen);
int write_embeddings(run *r, const char *path, char *err, size_t errlen);
int run_save_embeddings(run *r, char *err, size_t errlen);
int run_write_predictions(run *r, char *err, size_t errlen);
int run_write_metrics(run *r, char *err, size_t errlen);
int run_write_history(const run *r, char *err, size_t errlen);
int run_save_checkpoint(run *r, int epoch, char *err, size_t errlen);
int run_resume(run *r, char *err, size_t errlen);
void run_print_summary(const run *r);

#endif
