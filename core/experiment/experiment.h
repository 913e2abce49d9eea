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
    unic_slot backbone, head;
    unic_slot miners[UNIC_MAX_SLOTS];
    int nminers;
    unic_slot losses[UNIC_MAX_SLOTS];
    int nlosses;
} unic_experiment;

/* Takes ownership of cfg on success. */
int unic_experiment_prepare(unic_config *cfg, const unic_registry *reg, unic_experiment *x,
                            char *err, size_t errlen);
/* The same for `unic extract`: only [data] and [backbone] are required. */
int unic_experiment_prepare_extract(unic_config *cfg, const unic_registry *reg,
                                    unic_experiment *x, char *err, size_t errlen);
void unic_experiment_free(unic_experiment *x);

unic_scope unic_slot_scope(const unic_slot *s);
float unic_slot_weight(const unic_slot *s);

/* The fully resolved experiment (every key, defaults included) as INI text. */
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
