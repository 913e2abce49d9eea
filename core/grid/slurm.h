/* `unic grid submit EXP.ini --slurm`: the grid's points that are not done
 * as one Slurm job array (one task per point, each `unic run EXP.ini
 * --grid-point ID`), submitted with sbatch. The scheduler is Slurm's; unic
 * only writes the script and reads the shared run folder afterwards, as
 * `unic grid status` and `unic table` do for a local grid. */
#ifndef UNIC_GRID_SLURM_H
#define UNIC_GRID_SLURM_H

#include <stddef.h>

#include "experiment/grid.h"
#include "grid/runner.h"

#define UNIC_SLURM_MAX_LINES 32

typedef struct unic_slurm_options {
    const char *partition, *time, *account;
    int cpus_per_task, gpus_per_task; /* 0: not asked */
    const char *lines[UNIC_SLURM_MAX_LINES]; /* extra #SBATCH lines, e.g. "--mem=8G" */
    int nlines;
    int dry_run; /* write the script, do not submit */
} unic_slurm_options;

/* 0 with the script written (and submitted unless dry_run); 0 too when no
 * point is left to submit (said on stdout); -1 with a message. */
int unic_grid_submit(const unic_grid *g, const unic_grid_options *o, const unic_slurm_options *s,
                     char *err, size_t errlen);

#endif
