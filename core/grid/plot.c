#include "grid/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "report/svgplot.h"

typedef struct curves {
    const unic_grid_view *v;
    unic_history *h;       /* per point */
    int *group;            /* per point: index of its setting */
    int ngroups;
    const char **group_label;
} curves;

/* Points with the same label (every axis but the seed) share a setting. */
static void group_points(curves *c)
{
    const unic_grid_view *v = c->v;
    c->group = unic_xcalloc((size_t)v->count, sizeof(int));
    c->group_label = unic_xcalloc((size_t)v->count, sizeof(char *));
    for (int i = 0; i < v->count; i++) {
        int g = 0;
        while (g < c->ngroups && strcmp(c->group_label[g], v->points[i].label) != 0) g++;
        if (g == c->ngroups) c->group_label[c->ngroups++] = v->points[i].label;
        c->group[i] = g;
    }
}

/* One setting's curve: per epoch the mean over its seeds, and the band
 * from their lowest to their highest value. */
static int setting_curve(const curves *c, int g, const char *column, double *x, double *mean,
                         double *lo, double *hi, int max_rows, int *seeds)
{
    int rows = 0, *col = unic_xcalloc((size_t)c->v->count, sizeof(int));
    for (int i = 0; i < c->v->count; i++) col[i] = unic_history_column(&c->h[i], column);
    *seeds = 0;
    for (int e = 0; e < max_rows; e++) {
        double sum = 0, a = INFINITY, b = -INFINITY;
        int n = 0;
        for (int i = 0; i < c->v->count; i++) {
            const unic_history *h = &c->h[i];
            if (c->group[i] != g || col[i] < 0 || e >= h->rows) continue;
            double y = h->values[(size_t)e * (size_t)h->ncols + (size_t)col[i]];
            if (isnan(y)) continue;
            sum += y;
            a = fmin(a, y);
            b = fmax(b, y);
            n++;
            x[e] = h->values[(size_t)e * (size_t)h->ncols]; /* the epoch column */
        }
        if (n > *seeds) *seeds = n;
        mean[e] = n ? sum / n : NAN;
        lo[e] = n ? a : NAN;
        hi[e] = n ? b : NAN;
        if (!n) x[e] = e + 1;
        rows = e + 1;
    }
    free(col);
    return rows;
}

/* The column's figure: one mean line (and min-max band) per setting. */
static char *column_svg(const curves *c, const char *column, const char *id_prefix, size_t *len)
{
    int max_rows = 0;
    for (int i = 0; i < c->v->count; i++)
        if (unic_history_column(&c->h[i], column) >= 0 && c->h[i].rows > max_rows)
            max_rows = c->h[i].rows;
    size_t n = (size_t)c->ngroups * (size_t)(max_rows + 1);
    double *buf = unic_xcalloc(4 * n + 1, sizeof(double));
    unic_svg_series *series = unic_xcalloc((size_t)c->ngroups, sizeof *series);
    char (*names)[512] = unic_xcalloc((size_t)c->ngroups, sizeof *names);
    for (int g = 0; g < c->ngroups; g++) {
        double *x = buf + 4 * (size_t)g * (size_t)(max_rows + 1), *m = x + max_rows + 1;
        double *lo = m + max_rows + 1, *hi = lo + max_rows + 1;
        int seeds, rows = setting_curve(c, g, column, x, m, lo, hi, max_rows, &seeds);
        snprintf(names[g], sizeof names[g], "%s%s", *c->group_label[g] ? c->group_label[g] : "the run",
                 seeds > 1 ? " (mean, band: min-max over seeds)" : "");
        series[g] = (unic_svg_series){names[g], x, m, rows, seeds > 1 ? lo : NULL, seeds > 1 ? hi : NULL};
    }
    char title[600];
    snprintf(title, sizeof title, "%s per epoch: %s", column, c->v->name);
    unic_svg_plot plot = {title, "epoch", column, series, c->ngroups, 0, 0, 0, 0, 0, 0, NULL};
    char *svg = unic_svg_render(&plot, 1, id_prefix, len);
    free(buf);
    free(series);
    free(names);
    return svg;
}

static int plot_column(const curves *c, const char *column, const char *out_dir, char *err,
                       size_t errlen)
{
    char path[2400], file[256];
    snprintf(file, sizeof file, "%s", column);
    for (char *f = file; *f; f++)
        if (*f == '/' || *f == '\\') *f = '_';
    snprintf(path, sizeof path, "%s/%s.svg", out_dir, file);
    size_t len;
    char *svg = column_svg(c, column, "", &len);
    int rc = unic_write_file_atomic(path, svg, len, err, errlen);
    if (rc == 0) printf("%s\n", path);
    unic_xfree(svg);
    return rc;
}

static int is_curve(const char *name)
{
    return strcmp(name, "epoch") != 0 && strcmp(name, "lr") != 0 && strcmp(name, "seconds") != 0;
}

struct unic_grid_curves {
    curves c;
    int first; /* a point with at least one epoch */
};

unic_grid_curves *unic_grid_curves_load(const unic_grid_view *v, char *err, size_t errlen)
{
    unic_grid_curves *g = unic_xcalloc(1, sizeof *g);
    g->c.v = v;
    g->c.h = unic_xcalloc((size_t)v->count, sizeof *g->c.h);
    g->first = -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < v->count; i++) {
        char pd[2300];
        unic_point_dir(v->dir, v->points[i].id, pd, sizeof pd);
        rc = unic_history_load(pd, &g->c.h[i], err, errlen);
        if (g->first < 0 && g->c.h[i].rows > 0) g->first = i;
    }
    if (rc == 0 && g->first < 0)
        rc = unic_errf(err, errlen, "%s: no point has finished an epoch yet", v->dir);
    if (rc != 0) {
        unic_grid_curves_free(g);
        return NULL;
    }
    group_points(&g->c);
    return g;
}

void unic_grid_curves_free(unic_grid_curves *g)
{
    if (!g) return;
    for (int i = 0; i < g->c.v->count; i++) unic_history_free(&g->c.h[i]);
    free(g->c.h);
    free(g->c.group);
    free(g->c.group_label);
    free(g);
}

int unic_grid_curves_count(const unic_grid_curves *g)
{
    const unic_history *h = &g->c.h[g->first];
    int n = 0;
    for (int k = 0; k < h->ncols; k++) n += is_curve(h->names[k]);
    return n;
}

const char *unic_grid_curves_name(const unic_grid_curves *g, int i)
{
    const unic_history *h = &g->c.h[g->first];
    for (int k = 0; k < h->ncols; k++)
        if (is_curve(h->names[k]) && i-- == 0) return h->names[k];
    return NULL;
}

int unic_grid_curves_has(const unic_grid_curves *g, const char *column)
{
    return unic_history_column(&g->c.h[g->first], column) >= 0;
}

char *unic_grid_curves_svg(const unic_grid_curves *g, const char *column, const char *id_prefix,
                           size_t *len)
{
    return column_svg(&g->c, column, id_prefix, len);
}

int unic_grid_plot(const unic_grid_view *v, const char *const *columns, int ncolumns,
                   const char *out_dir, char *err, size_t errlen)
{
    unic_grid_curves *g = unic_grid_curves_load(v, err, errlen);
    if (!g) return -1;
    int rc = unic_mkdirs(out_dir, err, errlen);
    for (int k = 0; rc == 0 && k < ncolumns; k++)
        if (!unic_grid_curves_has(g, columns[k]))
            rc = unic_errf(err, errlen, "%s has no curve '%s'; see the header of any point's "
                           "history.csv (e.g. objective, acc)", v->dir, columns[k]);
    int n = ncolumns ? ncolumns : unic_grid_curves_count(g);
    for (int k = 0; rc == 0 && k < n; k++)
        rc = plot_column(&g->c, ncolumns ? columns[k] : unic_grid_curves_name(g, k), out_dir, err,
                         errlen);
    unic_grid_curves_free(g);
    return rc;
}
