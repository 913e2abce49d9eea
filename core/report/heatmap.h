/* The confusion matrix after Hungarian matching as an inline SVG heatmap:
 * a row per true class (named, GCD's old and new marked), a column per
 * cluster in matched order (so matched cells form the diagonal, outlined),
 * each cell shaded by its share of the row. Up to UNIC_HEATMAP_MAX_RECTS
 * rows x columns it draws one rect per cell, with a tooltip and the count
 * where it fits; larger matrices are drawn one pixel per cell into a
 * lossless PNG inside the same SVG, so a 200-class page stays small. */
#ifndef UNIC_REPORT_HEATMAP_H
#define UNIC_REPORT_HEATMAP_H

#include "eval/metrics.h"
#include "report/html.h"

#define UNIC_HEATMAP_MAX_RECTS 3600

typedef struct unic_heatmap {
    const unic_confusion *c;
    const char *const *row_name; /* nrows display names */
    const signed char *row_old;  /* per row: 1 old, 0 new; NULL outside GCD */
    const char *id;              /* the svg's id */
} unic_heatmap;

void unic_heatmap_svg(unic_html *h, const unic_heatmap *m);

#endif
