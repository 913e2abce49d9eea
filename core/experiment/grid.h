/* An experiment file with a [grid] section is many runs: each key
 * `section.key = v1, v2, ...` multiplies them. All of them are validated
 * before the first one starts. */
#ifndef UNIC_GRID_H
#define UNIC_GRID_H

#include <stddef.h>

#include "experiment/experiment.h"
#include "plugin/registry.h"

typedef struct unic_grid {
    int count;
    int is_grid;
    char **names;              /* "loss.entropy.weight=3,train.lr=0.001", or "" */
    unic_experiment *runs;
} unic_grid;

int unic_grid_prepare(const char *ini, const char *const *sets, int nsets,
                      const unic_registry *reg, unic_grid *g, char *err, size_t errlen);
/* Runs them in order; a grid writes each run to OUT/<name> and a summary to
 * OUT/grid.csv. */
int unic_grid_run(unic_grid *g, const char *out, int resume, char *err, size_t errlen);
void unic_grid_free(unic_grid *g);

#endif
