#include "grid/table.h"
#include "grid/table_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* ---- the layout --------------------------------------------------------- */

void unic_table_layout_init(unic_table_layout *t)
{
    memset(t, 0, sizeof *t);
    t->scale = 100;
    t->digits = 1;
}

static void free_list(char **items, int *n)
{
    for (int i = 0; i < *n; i++) free(items[i]);
    *n = 0;
}

void unic_table_layout_free(unic_table_layout *t)
{
    free_list(t->rows, &t->nrows);
    free_list(t->cols, &t->ncols);
    free_list(t->metrics, &t->nmetrics);
    free_list(t->checkmarks, &t->nchecks);
    free_list(t->names, &t->nnames);
    free_list(t->where, &t->nwhere);
    free(t->title);
    t->title = NULL;
}

static int parse_list(const char *text, char **items, int *n, const char *key, const char *source,
                      char *err, size_t errlen)
{
    free_list(items, n);
    char *copy = unic_xstrdup(text), *save = NULL;
    int rc = 0;
    for (char *s = strtok_r(copy, ",", &save); s && rc == 0; s = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*s)) s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
        if (!*s) continue;
        if (*n == UNIC_TABLE_MAX)
            rc = unic_errf(err, errlen, "%s: %s lists more than %d items", source, key,
                           UNIC_TABLE_MAX);
        else
            items[(*n)++] = unic_xstrdup(s);
    }
    free(copy);
    return rc;
}

int unic_table_layout_set(unic_table_layout *t, const char *key, const char *value,
                          const char *source, char *err, size_t errlen)
{
    char *end;
    if (strcmp(key, "rows") == 0) {
        t->rows_set = 1;
        return parse_list(value, t->rows, &t->nrows, key, source, err, errlen);
    }
    if (strcmp(key, "cols") == 0) {
        t->cols_set = 1;
        return parse_list(value, t->cols, &t->ncols, key, source, err, errlen);
    }
    if (strcmp(key, "metrics") == 0) {
        t->metrics_set = 1;
        return parse_list(value, t->metrics, &t->nmetrics, key, source, err, errlen);
    }
    if (strcmp(key, "checkmarks") == 0)
        return parse_list(value, t->checkmarks, &t->nchecks, key, source, err, errlen);
    if (strcmp(key, "names") == 0)
        return parse_list(value, t->names, &t->nnames, key, source, err, errlen);
    if (strcmp(key, "where") == 0) {
        int rc = parse_list(value, t->where, &t->nwhere, key, source, err, errlen);
        for (int i = 0; rc == 0 && i < t->nwhere; i++)
            if (!strchr(t->where[i], '='))
                rc = unic_errf(err, errlen, "%s: where expects axis=value, got '%s'", source,
                               t->where[i]);
        return rc;
    }
    if (strcmp(key, "scale") == 0) {
        t->scale = strtod(value, &end);
        if (*end || !(t->scale > 0) || !isfinite(t->scale))
            return unic_errf(err, errlen, "%s: scale expects a positive number (100 prints "
                             "percentages), got '%s'", source, value);
        return 0;
    }
    if (strcmp(key, "digits") == 0) {
        long d = strtol(value, &end, 10);
        if (*end || !*value || d < 0 || d > 6)
            return unic_errf(err, errlen, "%s: digits expects 0 to 6, got '%s'", source, value);
        t->digits = (int)d;
        return 0;
    }
    if (strcmp(key, "title") == 0) {
        free(t->title);
        t->title = unic_xstrdup(value);
        return 0;
    }
    if (strcmp(key, "format") == 0) {
        const char *names[] = {"md", "csv", "latex", "json"};
        for (int i = 0; i < 4; i++)
            if (strcmp(value, names[i]) == 0) {
                t->format = (unic_table_format)i;
                return 0;
            }
        return unic_errf(err, errlen, "%s: format expects md, csv, latex or json, got '%s'",
                         source, value);
    }
    return unic_errf(err, errlen, "%s: unknown key '%s'; [table] takes rows, cols, metrics, "
                     "checkmarks, names, where, scale, digits, title, format", source, key);
}

int unic_table_layout_read(const unic_config *cfg, unic_table_layout *t, char *err, size_t errlen)
{
    const char *keys[32];
    int n = unic_config_keys(cfg, "table", keys, 32);
    for (int i = 0; i < n && i < 32; i++) {
        char where[1200];
        unic_config_where(cfg, "table", keys[i], where, sizeof where);
        char source[1300];
        snprintf(source, sizeof source, "%s: [table]", where);
        if (unic_table_layout_set(t, keys[i], unic_config_get(cfg, "table", keys[i]), source, err,
                                  errlen) != 0)
            return -1;
    }
    return 0;
}

static int axis_index(const unic_grid_axis *axes, int naxes, const char *key)
{
    for (int a = 0; a < naxes; a++)
        if (strcmp(axes[a].key, key) == 0) return a;
    return -1;
}

static int check_axes(char *const *keys, int n, const char *what, const unic_grid_axis *axes,
                      int naxes, const char *source, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        char key[512];
        snprintf(key, sizeof key, "%s", keys[i]);
        if (strchr(key, '=')) *strchr(key, '=') = '\0';
        if (axis_index(axes, naxes, key) >= 0) continue;
        char known[2048] = "";
        size_t used = 0;
        for (int a = 0; a < naxes && used < sizeof known; a++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", a ? ", " : "",
                                     axes[a].key);
        return unic_errf(err, errlen, "%s: %s names '%s', which is not an axis of the grid "
                         "(its axes: %s)", source, what, key, naxes ? known : "none");
    }
    return 0;
}

int unic_table_layout_check(const unic_table_layout *t, const unic_grid_axis *axes, int naxes,
                            const char *source, char *err, size_t errlen)
{
    if (check_axes(t->rows, t->nrows, "rows", axes, naxes, source, err, errlen) != 0 ||
        check_axes(t->cols, t->ncols, "cols", axes, naxes, source, err, errlen) != 0 ||
        check_axes(t->checkmarks, t->nchecks, "checkmarks", axes, naxes, source, err, errlen) ||
        check_axes(t->where, t->nwhere, "where", axes, naxes, source, err, errlen) != 0)
        return -1;
    if (t->nnames > t->nrows && t->rows_set)
        return unic_errf(err, errlen, "%s: names gives %d names for %d rows axes", source,
                         t->nnames, t->nrows);
    return 0;
}

/* ---- the cells ---------------------------------------------------------- */

static int find_metric(const unic_grid_view *v, const char *name, metric_ref *m)
{
    const char *prefixes[] = {"", "unic_", "baseline_", v->gcd ? "sskmeans_" : "kmeans_"};
    for (int p = 0; p < 4; p++) {
        size_t n = strlen(prefixes[p]);
        if (strncmp(name, prefixes[p], n) != 0) continue;
        for (int i = 0; i < 3; i++)
            if (strcmp(name + n, v->metric[i]) == 0) {
                m->baseline = p >= 2;
                m->index = i;
                char up[16];
                snprintf(up, sizeof up, "%s", v->metric[i]);
                for (char *c = up; *c; c++) *c = (char)toupper((unsigned char)*c);
                snprintf(m->header, sizeof m->header, "%s%s",
                         m->baseline ? (v->gcd ? "SS-k-means " : "k-means ") : "", up);
                return 0;
            }
    }
    return -1;
}

static int pick_metrics(table *tb, char *err, size_t errlen)
{
    const unic_grid_view *v = tb->v;
    if (!tb->t->nmetrics) {
        for (int i = 0; i < 3; i++) find_metric(v, v->metric[i], &tb->metrics[tb->nmetrics++]);
        return 0;
    }
    for (int i = 0; i < tb->t->nmetrics; i++)
        if (find_metric(v, tb->t->metrics[i], &tb->metrics[tb->nmetrics++]) != 0)
            return unic_errf(err, errlen, "metrics: unknown metric '%s'; this %s grid has %s, %s, "
                             "%s (UNIC) and %s_%s, ... (the baseline)", tb->t->metrics[i],
                             v->gcd ? "GCD" : "clustering", v->metric[0], v->metric[1],
                             v->metric[2], v->gcd ? "sskmeans" : "kmeans", v->metric[0]);
    return 0;
}

static void filter_points(table *tb)
{
    const unic_grid_view *v = tb->v;
    tb->keep = unic_xcalloc((size_t)v->count, sizeof(int));
    for (int i = 0; i < v->count; i++) {
        tb->keep[i] = 1;
        for (int w = 0; w < tb->t->nwhere; w++) {
            char key[512];
            snprintf(key, sizeof key, "%s", tb->t->where[w]);
            char *value = strchr(key, '=');
            *value++ = '\0';
            int a = axis_index(v->axes, v->naxes, key);
            if (strcmp(v->axes[a].values[v->points[i].value[a]], value) != 0) tb->keep[i] = 0;
        }
    }
}

static int named(char *const *list, int n, const char *key)
{
    for (int i = 0; i < n; i++) {
        size_t len = strcspn(list[i], "=");
        if (strlen(key) == len && strncmp(list[i], key, len) == 0) return 1;
    }
    return 0;
}

/* How many values axis a takes among the kept points. */
static int distinct_values(const table *tb, int a)
{
    int seen[UNIC_GRID_MAX_VALUES] = {0}, n = 0;
    for (int i = 0; i < tb->v->count; i++)
        if (tb->keep[i] && !seen[tb->v->points[i].value[a]]++) n++;
    return n;
}

/* Rows: the named axes, or every axis that varies; an axis that varies
 * and is neither a row, a column, a filter nor the seeds is an error. */
static int pick_axes(table *tb, char *err, size_t errlen)
{
    const unic_grid_view *v = tb->v;
    const unic_table_layout *t = tb->t;
    for (int i = 0; i < t->ncols; i++) tb->col_axis[tb->ncol_axes++] = axis_index(v->axes, v->naxes, t->cols[i]);
    for (int i = 0; i < t->nrows; i++) tb->row_axis[tb->nrow_axes++] = axis_index(v->axes, v->naxes, t->rows[i]);
    for (int a = 0; a < v->naxes; a++) {
        if (a == v->seed_axis || named(t->rows, t->nrows, v->axes[a].key) ||
            named(t->cols, t->ncols, v->axes[a].key) || named(t->where, t->nwhere, v->axes[a].key))
            continue;
        int n = distinct_values(tb, a);
        if (n > 1 && !t->rows_set && tb->nrow_axes < UNIC_TABLE_MAX)
            tb->row_axis[tb->nrow_axes++] = a;
        else if (n > 1)
            return unic_errf(err, errlen, "axis '%s' takes %d values but is neither in rows nor "
                             "in cols: add it to one (--rows, --cols or [table]) or pick one value "
                             "with --where %s=VALUE", v->axes[a].key, n, v->axes[a].key);
    }
    return 0;
}

static int key_compare(const int *a, const int *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* The distinct combinations of the given axes' values among the kept
 * points, sorted (the first axis varies slowest, as in a paper's table). */
static int collect_keys(const table *tb, const int *axes, int naxes, int (**out)[UNIC_TABLE_MAX])
{
    int (*keys)[UNIC_TABLE_MAX] = unic_xcalloc((size_t)tb->v->count + 1, sizeof *keys);
    int n = 0;
    for (int i = 0; i < tb->v->count; i++) {
        if (!tb->keep[i]) continue;
        int k[UNIC_TABLE_MAX] = {0};
        for (int a = 0; a < naxes; a++) k[a] = tb->v->points[i].value[axes[a]];
        int pos = 0, dup = 0;
        while (pos < n && !(dup = key_compare(keys[pos], k, naxes) == 0) &&
               key_compare(keys[pos], k, naxes) < 0)
            pos++;
        if (dup) continue;
        memmove(keys[pos + 1], keys[pos], sizeof *keys * (size_t)(n - pos));
        memcpy(keys[pos], k, sizeof *keys);
        n++;
    }
    if (n == 0) n = 1; /* no axis: one row or column */
    *out = keys;
    return n;
}

static int matches(const table *tb, int i, const int *row, const int *col)
{
    if (!tb->keep[i]) return 0;
    for (int a = 0; a < tb->nrow_axes; a++)
        if (tb->v->points[i].value[tb->row_axis[a]] != row[a]) return 0;
    for (int a = 0; a < tb->ncol_axes; a++)
        if (tb->v->points[i].value[tb->col_axis[a]] != col[a]) return 0;
    return 1;
}

static cell make_cell(const table *tb, const int *row, const int *col, const metric_ref *m)
{
    cell c = {CELL_MISSING, NAN, NAN, 0, 0, 0};
    double sum = 0, sq = 0;
    int failed = 0, unfinished = 0;
    for (int i = 0; i < tb->v->count; i++) {
        if (!matches(tb, i, row, col)) continue;
        const unic_grid_view_point *p = &tb->v->points[i];
        c.total++;
        failed += p->status.state == UNIC_POINT_FAILED;
        double x = m->baseline ? p->baseline[m->index] : p->final[m->index];
        if (p->status.state != UNIC_POINT_DONE || !p->has_scores || isnan(x)) {
            unfinished += p->status.state != UNIC_POINT_FAILED;
            continue;
        }
        c.n++;
        sum += x;
        sq += x * x;
    }
    if (failed) c.status = CELL_FAILED;
    else if (unfinished || c.n == 0) c.status = CELL_MISSING;
    else {
        c.status = CELL_OK;
        c.mean = sum / c.n;
        /* the sample standard deviation (ddof = 1), as papers report over seeds */
        c.std = c.n > 1 ? sqrt(fmax(0.0, (sq - sum * sum / c.n) / (c.n - 1))) : 0;
    }
    return c;
}

static void fill_cells(table *tb)
{
    int nm = tb->nmetrics;
    tb->cells = unic_xcalloc((size_t)tb->nrow_keys * (size_t)tb->ncol_keys * (size_t)nm, sizeof(cell));
    for (int r = 0; r < tb->nrow_keys; r++)
        for (int c = 0; c < tb->ncol_keys; c++)
            for (int m = 0; m < nm; m++)
                tb->cells[((size_t)r * (size_t)tb->ncol_keys + (size_t)c) * (size_t)nm + (size_t)m] =
                    make_cell(tb, tb->row_keys[r], tb->col_keys[c], &tb->metrics[m]);
    for (int c = 0; c < tb->ncol_keys; c++) /* the best of each column: every score is "higher is better" */
        for (int m = 0; m < nm; m++) {
            double best = -INFINITY;
            for (int r = 0; r < tb->nrow_keys; r++) {
                cell *x = &tb->cells[((size_t)r * (size_t)tb->ncol_keys + (size_t)c) * (size_t)nm + (size_t)m];
                if (x->status == CELL_OK && x->mean > best) best = x->mean;
            }
            for (int r = 0; r < tb->nrow_keys && tb->nrow_keys > 1; r++) {
                cell *x = &tb->cells[((size_t)r * (size_t)tb->ncol_keys + (size_t)c) * (size_t)nm + (size_t)m];
                x->best = x->status == CELL_OK && x->mean == best;
            }
        }
}

const cell *unic_table_cell(const table *tb, int r, int c, int m)
{
    return &tb->cells[((size_t)r * (size_t)tb->ncol_keys + (size_t)c) * (size_t)tb->nmetrics + (size_t)m];
}

static void table_free(table *tb)
{
    free(tb->keep);
    free(tb->row_keys);
    free(tb->col_keys);
    free(tb->cells);
}

int unic_table_print(const unic_grid_view *v, const unic_table_layout *t, FILE *out, char *err,
                     size_t errlen)
{
    if (unic_table_layout_check(t, v->axes, v->naxes, "the table's layout", err, errlen) != 0)
        return -1;
    table tb = {.v = v, .t = t};
    filter_points(&tb);
    int rc = pick_metrics(&tb, err, errlen) == 0 && pick_axes(&tb, err, errlen) == 0 ? 0 : -1;
    if (rc == 0) {
        tb.nrow_keys = collect_keys(&tb, tb.row_axis, tb.nrow_axes, &tb.row_keys);
        tb.ncol_keys = collect_keys(&tb, tb.col_axis, tb.ncol_axes, &tb.col_keys);
        fill_cells(&tb);
        unic_table_render(&tb, out);
    }
    table_free(&tb);
    return rc;
}
