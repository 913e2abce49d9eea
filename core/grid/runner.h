/* Runs a grid's points on this machine: each point in its own process
 * (`unic run EXP.ini --grid-point ID`), up to `jobs` at once, the machine's
 * threads split between them. A point that fails or crashes is recorded
 * and the others go on; finished points are skipped, interrupted ones
 * resume from their checkpoint, failed ones rerun only when asked. */
#ifndef UNIC_GRID_RUNNER_H
#define UNIC_GRID_RUNNER_H

#include <stddef.h>

#include "experiment/grid.h"

typedef struct unic_grid_options {
    const char *ini;
    const char *const *sets;
    int nsets;
    const char *out;   /* the grid folder, or NULL for the default */
    int jobs;          /* points at once */
    int threads;       /* threads in all (0: the machine's) */
    int retry_failed;
    int allow_changed; /* keep points made with other settings beside the new ones */
} unic_grid_options;

/* 0 when every point is done; 1 when some failed or did not run (the
 * count line says which); -1 with a message when the grid could not start. */
int unic_grid_run_all(const unic_grid *g, const unic_grid_options *o, char *err, size_t errlen);

#endif
