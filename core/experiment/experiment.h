/* An experiment: the INI's sections resolved into components and validated
 * parameters. Everything that can be checked is checked here, before any
 * data is read. */
#ifndef UNIC_EXPERIMENT_H
#define UNIC_EXPERIMENT_H

#include <stddef.h>

#include "experiment/config.h"
#include "plugin/params.h"
#include "plugin/registry.h"

#define UNIC_MAX_SLOTS 16
/* [head.NAME] sections besides the clustering head */
#define UNIC_MAX_AUX_HEADS 8
/* [stage.NAME] sections of a chain */
#define UNIC_MAX_STAGES 8

typedef enum { UNIC_SCOPE_ALL, UNIC_SCOPE_LABELED, UNIC_SCOPE_UNLABELED } unic_scope;

typedef struct unic_slot {
    char *section;
    const unic_component *component;
    unic_params *params;
    unic_param_spec *owned_spec; /* per-slot core keys: a loss's weight has its own default */
    char weight_default[32];
} unic_slot;

typedef struct unic_experiment {
    unic_config *cfg;
    char *name; /* the INI's base name, for the default output folder */
    unic_params *data, *train, *eval;
    /* head: the clustering head, [head] or [head.cluster] (named "cluster"),
     * which evaluation reads and `count` copies; aux_heads: the other
     * [head.NAME] sections (a projection head...), each named NAME */
    unic_slot backbone, head;
    unic_slot aux_heads[UNIC_MAX_AUX_HEADS];
    int naux;
    unic_slot miners[UNIC_MAX_SLOTS];
    int nminers;
    unic_slot losses[UNIC_MAX_SLOTS];
    int nlosses;
    /* A chain ([stage.NAME] sections): each stage a whole experiment, the
     * base file with the stage's overrides, its own losses and miners; run
     * in file order, each from the previous one's checkpoint. None: 0. */
    struct unic_experiment *stages;
    char *stage_names[UNIC_MAX_STAGES];
    int nstages;
} unic_experiment;

/* The name a head slot goes by: "cluster" for the clustering head, NAME
 * for [head.NAME]. */
const char *unic_head_slot_name(const unic_slot *s);
/* The head a loss reads: 0 the clustering head, 1 + i aux_heads[i]. */
int unic_loss_head(const unic_experiment *x, const unic_slot *loss);

/* Takes ownership of cfg on success. */
int unic_experiment_prepare(unic_config *cfg, const unic_registry *reg, unic_experiment *x,
                            char *err, size_t errlen);
/* The same for `unic extract`: only [data] and [backbone] are required. */
int unic_experiment_prepare_extract(unic_config *cfg, const unic_registry *reg,
                                    unic_experiment *x, char *err, size_t errlen);
void unic_experiment_free(unic_experiment *x);

unic_scope unic_slot_scope(const unic_slot *s);
float unic_slot_weight(const unic_slot *s);

/* The fully resolved experiment (every key, defaults included) as INI text;
 * for a chain, every stage's, each after a [stage.NAME] line. */
char *unic_experiment_resolved_ini(const unic_experiment *x);

/* The core's own sections, for `unic plugins` and the docs. */
extern const unic_param_spec unic_data_spec[], unic_train_spec[], unic_eval_spec[];
/* The [head] section's core keys (classes, its estimate), beside the plugin's own. */
extern const unic_param_spec unic_head_spec[];

/* Whether a [data] format is read through the image loader (not arrays). */
int unic_format_is_images(const char *format);

/* Parses "0,1,2" or "0-4" or a mix into a class mask; -1 with a message on bad text. */
int unic_parse_class_list(const char *text, unsigned char *mask, int max_classes, int *count,
                          char *err, size_t errlen);

#endif
