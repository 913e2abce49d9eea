/* One run of an experiment, from data to metrics.json. */
#ifndef UNIC_RUN_H
#define UNIC_RUN_H

#include <stddef.h>

#include "experiment/experiment.h"

typedef struct unic_run_summary {
    int gcd;
    double baseline[3]; /* k-means ACC/NMI/ARI, or SS-k-means All/Old/New */
    double final[3];    /* UNIC, same metrics */
    int has_scores;
} unic_run_summary;

/* out_dir NULL: [train] out or runs/<experiment name>. resume: continue from
 * out_dir/checkpoint.safetensors. cache_dir NULL: out_dir/cache; a grid
 * passes one folder for all its runs, so they mine once. */
int unic_run(const unic_experiment *x, const char *out_dir, const char *cache_dir, int resume,
             unic_run_summary *summary, char *err, size_t errlen);

/* `unic estimate-k`: loads and embeds the data as a run does, estimates
 * the number of classes over [head] classes_min..classes_max (whatever
 * [head] classes says), writes estimate_k.csv / .svg and log.txt into the
 * run folder (out_dir or the run's default) and sets *k. Trains nothing. */
int unic_estimate_classes(const unic_experiment *x, const char *out_dir, int *k, char *err,
                          size_t errlen);

/* Runs the experiment's backbone over its [data] (test transform) and writes
 * embeddings [N, D], labels [N] and dataset indices [N] to out_path as
 * safetensors, for the features backbone and `unic neighbors`. */
int unic_extract(const unic_experiment *x, const char *out_path, char *err, size_t errlen);

#endif
