/* An experiment file with a [grid] section is many runs: each key
 * `section.key = v1, v2, ...` multiplies them. Every point is resolved and
 * validated before any runs; a point whose values are invalid is kept with
 * its error (it is recorded as failed and the others run), while an error
 * that is not a point's own (a malformed file, an unknown key) stops here.
 *
 * A point's id is a hash of its resolved settings, not of its position:
 * adding a value to an axis keeps every old point's id, and a point whose
 * settings changed gets a new one. `train.seed` as an axis is the grid's
 * repetitions: tables and plots aggregate over it. */
#ifndef UNIC_GRID_H
#define UNIC_GRID_H

#include <stddef.h>

#include "experiment/experiment.h"
#include "plugin/registry.h"

#define UNIC_GRID_MAX_AXES 16
#define UNIC_GRID_MAX_VALUES 64
#define UNIC_GRID_MAX_POINTS 10000
#define UNIC_GRID_SEED_KEY "train.seed"

typedef struct unic_grid_axis {
    char *key; /* section.key */
    char *values[UNIC_GRID_MAX_VALUES];
    int count;
} unic_grid_axis;

typedef struct unic_grid_point {
    char id[17];      /* 16 hex digits */
    char *label;      /* "loss.neg.weight=1,loss.entropy.weight=3"; seed axis left out */
    const char *seed; /* its value on the seed axis, or NULL */
    int value[UNIC_GRID_MAX_AXES]; /* index into each axis's values */
    unic_experiment run;           /* prepared when error is NULL */
    char *error;                   /* why this point cannot run, or NULL */
} unic_grid_point;

typedef struct unic_grid {
    int is_grid;
    int count;
    unic_grid_point *points;
    unic_grid_axis axes[UNIC_GRID_MAX_AXES];
    int naxes;
    int seed_axis; /* index of the train.seed axis, or -1 */
    int invalid;   /* points with an error */
    char *name;    /* the experiment's name (the INI's base name) */
} unic_grid;

int unic_grid_prepare(const char *ini, const char *const *sets, int nsets,
                      const unic_registry *reg, unic_grid *g, char *err, size_t errlen);
void unic_grid_free(unic_grid *g);
/* The point with this id (or a unique prefix of at least 6 digits), or NULL. */
unic_grid_point *unic_grid_find(unic_grid *g, const char *id);
/* The settings a point's id hashes: its resolved INI without comments and
 * without the keys that do not change a result (out, threads). */
void unic_grid_settings_id(const char *resolved_ini, char id[17]);

#endif
