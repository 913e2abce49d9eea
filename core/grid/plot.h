/* `unic plot DIR`: a grid's per-epoch curves (each loss term, the
 * objective, each score) as SVG, one line per setting: the mean over its
 * seeds, with a band from the lowest to the highest seed (the paper's
 * Figures 5 and 6 are such plots). */
#ifndef UNIC_GRID_PLOT_H
#define UNIC_GRID_PLOT_H

#include <stddef.h>

#include "grid/view.h"

/* Writes out_dir/<column>.svg for each named column (every curve of the
 * histories when ncolumns is 0); prints each file it writes. */
int unic_grid_plot(const unic_grid_view *v, const char *const *columns, int ncolumns,
                   const char *out_dir, char *err, size_t errlen);

#endif
