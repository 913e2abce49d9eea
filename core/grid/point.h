/* One grid point, run in this process: what `unic run EXP.ini --grid-point
 * ID` does, on this machine for `--jobs` or in a Slurm array task. */
#ifndef UNIC_GRID_POINT_H
#define UNIC_GRID_POINT_H

#include <stddef.h>

#include "experiment/grid.h"

/* Exit statuses of a point's process, which the grid runner reads. */
enum {
    UNIC_POINT_EXIT_DONE = 0,
    UNIC_POINT_EXIT_FAILED = 1,
    UNIC_POINT_EXIT_BUSY = 75, /* another process holds the point (EX_TEMPFAIL) */
};

/* Runs point p into grid_dir/points/ID under the point's lock:
 * skipped when done, refused when it failed before (unless retry_failed),
 * resumed from its checkpoint when one is there; its state records the
 * outcome. Returns one of the exit statuses above; err says why when not
 * done. */
int unic_grid_run_point(const unic_grid_point *p, const char *grid_dir, int retry_failed,
                        char *err, size_t errlen);

#endif
