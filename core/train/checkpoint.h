/* Run checkpoints: trainable tensors, Adam moments and the run's progress in
 * one safetensors file, written to a temporary name and renamed, so a crash
 * never leaves a half-written checkpoint; each tensor's checksum is in the
 * metadata ("checksum.NAME"), so a damaged one is never trusted. */
#ifndef UNIC_CHECKPOINT_H
#define UNIC_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "unic/plugin.h"

typedef struct unic_ckpt_tensor {
    char name[256];    /* e.g. head.fc1.weight */
    unic_tensor *value, *m, *v;
} unic_ckpt_tensor;

typedef struct unic_ckpt_meta {
    int epoch;          /* epochs completed */
    int64_t step;       /* optimiser steps taken */
    const char *config; /* the resolved experiment; a resume must match it */
    const char *history;/* per-epoch metrics so far, JSON */
} unic_ckpt_meta;

int unic_checkpoint_save(const char *path, const unic_ckpt_tensor *t, int count,
                         const unic_ckpt_meta *meta, char *err, size_t errlen);
/* Fills the tensors (shapes must match) and meta; *history_out and
 * *config_out are malloc'ed copies. Refuses, naming the file and tensor or
 * key, a tensor whose data fails its checksum or holds NaN/Inf, and an
 * epoch or step that is not an integer >= 0. */
int unic_checkpoint_load(const char *path, unic_ckpt_tensor *t, int count, int *epoch,
                         int64_t *step, char **config_out, char **history_out, char *err,
                         size_t errlen);

/* A chain's next stage: copies tensor names[i] of a run checkpoint into
 * dst[i] (values only, each checked against its checksum and shape, which
 * the message names with the file). A name the file lacks is an error when
 * required[i], else skipped with loaded[i] = 0. */
int unic_checkpoint_load_values(const char *path, const char *const *names, unic_tensor *const *dst,
                                const int *required, int count, int *loaded, char *err,
                                size_t errlen);

#endif
