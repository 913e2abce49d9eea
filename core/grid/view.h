/* A grid folder read back (grid.json, each point's state, metrics and
 * history), for everything that reports on a grid: grid.csv, `unic grid
 * status`, `unic table`, `unic plot`. It reads only the folder, so it works
 * while the grid runs, on another machine, or after a Slurm array. */
#ifndef UNIC_GRID_VIEW_H
#define UNIC_GRID_VIEW_H

#include <stddef.h>

#include "experiment/grid.h"
#include "grid/folder.h"

typedef struct unic_grid_view_point {
    char id[17];
    char *label;
    char *seed;                    /* NULL without a seed axis */
    int value[UNIC_GRID_MAX_AXES]; /* index into each axis's values */
    int epochs;                    /* the run's epochs; 0 for an invalid point */
    unic_point_status status;
    int busy;          /* a live process holds it */
    int has_scores;    /* metrics.json of a done point */
    double baseline[3], final[3];
    int epoch_reached; /* rows of history.csv */
    double latest[3];  /* the last evaluated epoch's scores, NaN if none */
} unic_grid_view_point;

typedef struct unic_grid_view {
    char *dir, *name, *experiment;
    int gcd;
    const char *metric[3]; /* acc nmi ari, or all old new */
    unic_grid_axis axes[UNIC_GRID_MAX_AXES];
    int naxes, seed_axis;
    unic_grid_view_point *points;
    int count;
} unic_grid_view;

/* Every bad or missing piece is an error naming the file and the key. */
int unic_grid_view_load(const char *dir, unic_grid_view *v, char *err, size_t errlen);
void unic_grid_view_free(unic_grid_view *v);
/* A point's history.csv as columns: names[ncols] and rows x ncols values
 * (NaN where empty); 0 with rows = 0 when it has none yet. */
typedef struct unic_history {
    char **names;
    int ncols, rows;
    double *values;
} unic_history;
int unic_history_load(const char *point_dir, unic_history *h, char *err, size_t errlen);
void unic_history_free(unic_history *h);
int unic_history_column(const unic_history *h, const char *name);

#endif
