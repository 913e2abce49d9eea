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

/* The same curves for a page: loaded once, each column rendered as SVG
 * text (unic_xfree it) whose ids start with id_prefix. */
typedef struct unic_grid_curves unic_grid_curves;
unic_grid_curves *unic_grid_curves_load(const unic_grid_view *v, char *err, size_t errlen);
void unic_grid_curves_free(unic_grid_curves *g);
int unic_grid_curves_count(const unic_grid_curves *g); /* curves: all but epoch, lr, seconds */
const char *unic_grid_curves_name(const unic_grid_curves *g, int i);
int unic_grid_curves_has(const unic_grid_curves *g, const char *column);
char *unic_grid_curves_svg(const unic_grid_curves *g, const char *column, const char *id_prefix,
                           size_t *len);

#endif
