/* A small self-contained SVG line-plot writer for the analysis reports:
 * one or more panels side by side, each with axes, ticks, labels, a legend,
 * several series and an optional dashed horizontal reference line. The
 * output is plain SVG 1.1 text that any browser or rsvg-convert renders. */
#ifndef UNIC_SVGPLOT_H
#define UNIC_SVGPLOT_H

#include <stddef.h>

typedef struct unic_svg_series {
    const char *name;     /* legend text */
    const double *x, *y;  /* n points; a non-finite y breaks the line */
    int n;
    const double *lo, *hi; /* optional: a shaded band (e.g. the spread over seeds) */
} unic_svg_series;

typedef struct unic_svg_plot {
    const char *title, *xlabel, *ylabel;
    const unic_svg_series *series;
    int nseries;
    /* Axis ranges; an axis whose min >= max is fitted to the data. */
    double xmin, xmax, ymin, ymax;
    int hline;              /* draw a dashed horizontal line at hline_y */
    double hline_y;
    const char *hline_name; /* its legend text, or NULL */
} unic_svg_plot;

/* Renders the panels left to right into path (written atomically). */
int unic_svg_write(const char *path, const unic_svg_plot *plots, int nplots, char *err,
                   size_t errlen);

/* The same figure as SVG text to inline in a page (free with unic_xfree);
 * id_prefix keeps its element ids apart from other figures' on the page. */
char *unic_svg_render(const unic_svg_plot *plots, int nplots, const char *id_prefix, size_t *len);

#endif
