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

/* One head the step runs: a copy of the clustering head (SCAN's heads,
 * [head] count) or a named head ([head.NAME]), with its step buffers of
 * rows x width, allocated once. */
typedef struct head_run {
    instance in;
    int section;       /* 0 the clustering head, 1 + i x->aux_heads[i] */
    int copy;          /* which copy of the clustering head; 0 for a named head */
    int width;         /* output width: K for the clustering head */
    int needs_probs;   /* the softmax is read (clustering head, or a loss on probabilities) */
    int needs_outputs; /* a loss reads the raw outputs (takes_outputs) */
    char prefix[80];   /* checkpoint names: head, head.3 (copies), head_projection */
    unic_tensor *logits, *dlogits;           /* on the train device */
    unic_tensor *probs, *probs_host;         /* softmax, and its host copy (or itself) */
    unic_tensor *dprobs_host, *dprobs;       /* dL/dprobs, host and device (or itself) */
    unic_tensor *out_host, *dout_host, *dout; /* raw outputs, host, and dL/doutputs */
} head_run;

#define MAX_HEAD_RUNS (UNIC_MAX_HEAD_COPIES + UNIC_MAX_AUX_HEADS)

/* A step's unweighted loss values, per loss and per copy of the clustering
 * head (a loss on a named head uses column 0). */
typedef double loss_table[UNIC_MAX_SLOTS][UNIC_MAX_HEAD_COPIES];

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
    unic_pipeline *positive_pipeline; /* the positives' ([data] positive_transform), or NULL */
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
    /* components: the clustering head's copies are heads[0..ncopies), the
     * named heads follow; `selected` is the copy reported (SCAN's rule:
     * the lowest total training loss over the last epoch) */
    instance backbone;
    head_run heads[MAX_HEAD_RUNS];
    int nheads, ncopies, selected;
    double copy_objective[UNIC_MAX_HEAD_COPIES]; /* each copy's weighted losses, last epoch */
    double copy_scores[UNIC_MAX_HEAD_COPIES][UNIC_RUN_METRICS]; /* each copy's scores, last evaluation */
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
    unic_tensor *x_host, *x_dev;
    int64_t *batch_idx;
    int32_t *batch_labels;  /* [batch] the anchors' visible labels */
    int32_t *row_labels;    /* [rows] every row's visible label */
    float *images;          /* a step's images, for a backbone that runs every step */
    unic_tensor *dx, *dx_dev; /* d(head input), for a trainable backbone */
    unic_tensor *dx_part;   /* one head's d(input) when several heads add theirs, or NULL */
    /* k-means on the current embeddings at each evaluation (Figure 7) */
    double kmeans_now[UNIC_RUN_METRICS];
    /* a chain's later stage: the previous stage's checkpoint, and which of
     * its clustering copies each of ours starts from */
    const char *init_from;
    int init_copy_from;     /* -1: copy c from copy c; else every copy from this one */
    int init_prev_copies;   /* copies the previous stage trained */
    /* progress and results */
    cJSON *history;
    cJSON *stages;          /* a chain's earlier stages, for metrics.json (not owned), or NULL */
    const char *stage_name; /* in a chain, this stage's name */
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
/* Head h on the first count rows of x_host: its softmax, on the host. */
unic_tensor head_probs(run *r, int h, int64_t count);
void gather_rows(run *r, const float *emb, const int64_t *idx, int64_t count);
double train_step(run *r, const int64_t *anchors, int b, int64_t step_no, double lr,
                  loss_table sums);

/* train_loop.c */
int run_train(run *r, char *err, size_t errlen);

/* run_eval.c */
/* The selected copy's clusters for the evaluation set. */
int run_predict(run *r, int32_t *pred, float *conf, char *err, size_t errlen);
/* Every copy c with pred[c] != NULL, in one pass over the evaluation set. */
int run_predict_copies(run *r, int32_t **pred, float **conf, char *err, size_t errlen);
/* k-means (GCD: SS-k-means) on the current embeddings into out; logs with `what`. */
int run_kmeans_scores(run *r, double out[UNIC_RUN_METRICS], const char *what, char *err, size_t errlen);
int run_score(run *r, const int32_t *pred, double out[UNIC_RUN_METRICS], char *err, size_t errlen);
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
/* A chain's later stage: the trained tensors of the previous stage's
 * checkpoint (r->init_from), heads and backbone, not Adam's moments. */
int run_init_from_stage(run *r, char *err, size_t errlen);
/* The history.csv columns beyond epoch, lr and objective, the losses and
 * the scores: the copies' (when count > 1) and k-means' (track_kmeans). */
void run_extra_columns(const run *r, char names[][32], int *n);
void run_print_summary(const run *r);

#endif
