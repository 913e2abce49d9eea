/* A histogram as inline SVG: one bar per bin, counts on a linear axis. */
#ifndef UNIC_REPORT_BARS_H
#define UNIC_REPORT_BARS_H

#include "report/html.h"

typedef struct unic_bars {
    const char *title, *xlabel, *ylabel, *id;
    const double *lo, *hi; /* bin edges, n of each, increasing */
    const double *count;   /* n bar heights (non-finite or negative: 0) */
    int n;
} unic_bars;

void unic_bars_svg(unic_html *h, const unic_bars *b);

#endif
