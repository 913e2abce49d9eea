/* `unic report DIR`: one self-contained HTML page (no network, no scripts,
 * fonts or images fetched; images inlined as data: URIs, figures as inline
 * SVG) for a run folder or a grid folder.
 *   run:  configuration, data set, timings, final scores next to the
 *         k-means / SS-k-means baseline; per-epoch curves; the confusion
 *         matrix after Hungarian matching; Figure 12 (each cluster's most
 *         confident images and most confident mistakes); the neighbour
 *         analyses of `unic neighbors` when computed; GCD's old and new
 *         classes marked throughout.
 *   grid: the ablation table as `unic table` prints it, every curve with
 *         the mean over seeds and a min-max band, a link to each point's
 *         own page (written too).
 * Large runs stay small: mosaics are sampled to a thumbnail budget, curves
 * thinned, a large confusion matrix drawn as one PNG; the page says so. */
#ifndef UNIC_REPORT_H
#define UNIC_REPORT_H

#include <stddef.h>

#define UNIC_REPORT_THUMBS 2400     /* thumbnails per page, all clusters together */
#define UNIC_REPORT_CURVE_POINTS 400 /* points per curve */

typedef struct unic_report_options {
    const char *out;         /* the page's path; NULL: DIR/report.html */
    const char *class_names; /* a file of class names (one a line), or NULL */
    int max_thumbs;          /* 0: UNIC_REPORT_THUMBS */
    int no_points;           /* grid: link the points' pages without writing them */
} unic_report_options;

/* A grid folder (grid.json) or a run folder; writes the page and its path
 * into path. A run that lacks files still gets a page of what it has; -1
 * only when nothing can be shown, with a message naming the folder. */
int unic_report_write(const char *dir, const unic_report_options *o, char *path, size_t pathlen,
                      char *err, size_t errlen);
int unic_report_run(const char *dir, const unic_report_options *o, char *path, size_t pathlen,
                    char *err, size_t errlen);
int unic_report_grid(const char *dir, const unic_report_options *o, char *path, size_t pathlen,
                     char *err, size_t errlen);

#endif
