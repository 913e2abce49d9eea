/* A run's page: the frame, the summary (scores next to the baseline, the
 * data set, timings), the training curves, the confusion matrix after
 * matching, Figure 12 (clusters.c), the neighbour analyses and the
 * configuration. Every piece reads only the run folder (and the data set
 * for thumbnails), so a page can be made on another machine or long after. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/limits.h"
#include "base/textfile.h"
#include "base/util.h"
#include "experiment/experiment.h"
#include "report/bars.h"
#include "report/heatmap.h"
#include "report/numcsv.h"
#include "report/run_page.h"
#include "report/svgplot.h"

#define MAX_FIGURE_BYTES (4 << 20) /* a neighbour figure larger than this is linked, not inlined */
#define HISTOGRAM_BINS 40
#define TOP_CONFUSIONS 10

void run_page_sampling(run_page *p, const char *fmt, ...)
{
    if (p->nsampling >= RUN_PAGE_MAX_SAMPLING) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    p->sampling[p->nsampling++] = unic_xstrdup(buf);
}

void run_page_class_tag(run_page *p, int cls)
{
    if (!p->f->gcd || cls < 0 || cls >= UNIC_MAX_CLASSES) return;
    unic_html_printf(p->h, "<span class=\"tag %s\">%s</span>", p->f->is_old[cls] ? "old" : "new",
                     p->f->is_old[cls] ? "old" : "new");
}

static const char *metric_title(const char *m)
{
    return strcmp(m, "acc") == 0   ? "ACC"
           : strcmp(m, "nmi") == 0 ? "NMI"
           : strcmp(m, "ari") == 0 ? "ARI"
           : strcmp(m, "all") == 0 ? "All"
           : strcmp(m, "old") == 0 ? "Old"
                                   : "New";
}

/* ---- summary --------------------------------------------------------------- */

static void score_row(run_page *p, const char *method, const char *label, const double s[3],
                      int unic)
{
    unic_html *h = p->h;
    unic_html_printf(h, "<tr data-method=\"%s\"%s><td>", method, unic ? " class=\"unic\"" : "");
    unic_html_text(h, label);
    unic_html_raw(h, "</td>");
    for (int i = 0; i < 3; i++)
        unic_html_printf(h, "<td class=\"num\" data-metric=\"%s\" data-value=\"%.17g\">%.4f</td>",
                         unic_run_folder_metric(p->f, i), s[i], s[i]);
    unic_html_raw(h, "</tr>\n");
}

static void scores_table(run_page *p)
{
    unic_html *h = p->h;
    unic_run_folder *f = p->f;
    unic_html_raw(h, "<div><h3>Final scores</h3>\n");
    if (!f->has_scores) {
        unic_html_raw(h, "<p class=\"note\">No final scores (see the notes above).</p></div>\n");
        return;
    }
    unic_html_raw(h, "<table id=\"scores\"><tr><th>method</th>");
    for (int i = 0; i < 3; i++)
        unic_html_printf(h, "<th class=\"num\">%s</th>", metric_title(unic_run_folder_metric(f, i)));
    unic_html_raw(h, "</tr>\n");
    if (f->has_baseline) {
        int ss = strcmp(f->baseline_method, "ss-kmeans") == 0;
        score_row(p, f->baseline_method, ss ? "SS-k-means (baseline)" : "k-means (baseline)",
                  f->baseline, 0);
    }
    score_row(p, "unic", "UNIC", f->final, 1);
    unic_html_raw(h, "</table>\n");
    if (f->gcd)
        unic_html_raw(h, "<p class=\"note\">GCD: scored on the unlabeled training items, one "
                         "Hungarian matching over all classes, then split by true class.</p>\n");
    else
        unic_html_raw(h, "<p class=\"note\">ACC after the Hungarian matching; NMI (arithmetic); "
                         "ARI.</p>\n");
    if (f->has_baseline)
        unic_html_printf(h, "<p class=\"note\">The baseline runs on the same %s as UNIC.</p>\n",
                         "embeddings");
    unic_html_raw(h, "</div>\n");
}

static void kv(unic_html *h, const char *key, const char *value)
{
    unic_html_raw(h, "<tr><td>");
    unic_html_text(h, key);
    unic_html_raw(h, "</td><td>");
    unic_html_text(h, value);
    unic_html_raw(h, "</td></tr>\n");
}

static void data_table(run_page *p)
{
    unic_html *h = p->h;
    unic_run_folder *f = p->f;
    char buf[4096];
    unic_html_raw(h, "<div><h3>Data set</h3>\n<table class=\"kv\" id=\"dataset\">\n");
    kv(h, "task", f->gcd ? "generalized category discovery (GCD)" : "clustering");
    if (f->cfg) {
        kv(h, "data", unic_run_folder_data(f, "path"));
        const char *fmt = unic_run_folder_data(f, "format");
        kv(h, "format", fmt);
        const char *keys[] = {"split", "eval_split", "eval_path", "class_list", "labels", "limit"};
        for (int i = 0; i < 6; i++) {
            const char *v = unic_run_folder_data(f, keys[i]);
            if (*v && !(strcmp(keys[i], "limit") == 0 && strcmp(v, "0") == 0) &&
                !(strcmp(keys[i], "split") == 0 && !unic_format_is_images(fmt)))
                kv(h, keys[i], v);
        }
    }
    if (f->samples >= 0) {
        snprintf(buf, sizeof buf, "%lld", (long long)f->samples);
        kv(h, "training items", buf);
    }
    if (f->pred.n) {
        snprintf(buf, sizeof buf, "%lld", (long long)f->pred.n);
        kv(h, "evaluated items (predictions.csv)", buf);
    }
    if (f->clusters) {
        snprintf(buf, sizeof buf, "%d", f->clusters);
        kv(h, "clusters K", buf);
    }
    if (p->nclasses) {
        snprintf(buf, sizeof buf, "%d (names from %s)", p->nclasses, p->names.source);
        kv(h, "classes", buf);
    }
    if (f->gcd) {
        int n_old = 0;
        for (int c = 0; c < UNIC_MAX_CLASSES; c++) n_old += f->is_old[c];
        snprintf(buf, sizeof buf, "%s (%d old classes; the rest are new)",
                 unic_run_folder_data(f, "old_classes"), n_old);
        kv(h, "old classes", buf);
        int64_t labeled = 0;
        for (int64_t i = 0; i < f->pred.n; i++) labeled += f->pred.labeled[i];
        if (f->pred.n) {
            snprintf(buf, sizeof buf, "%lld labeled (fraction %s of the old classes), %lld "
                     "unlabeled and scored", (long long)labeled,
                     unic_run_folder_data(f, "labeled_fraction"), (long long)(f->pred.n - labeled));
            kv(h, "split", buf);
        }
    }
    if (f->skipped) {
        snprintf(buf, sizeof buf, "%lld undecodable images skipped (skipped.txt)",
                 (long long)f->skipped);
        kv(h, "skipped", buf);
    }
    if (p->items) kv(h, "items", unic_report_items_describe(p->items));
    unic_html_raw(h, "</table></div>\n");
}

static void seconds_cell(unic_html *h, const char *key, double s)
{
    char buf[64];
    if (!isfinite(s)) return;
    if (s >= 120)
        snprintf(buf, sizeof buf, "%.1f s (%dm%02ds)", s, (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, sizeof buf, "%.2f s", s);
    kv(h, key, buf);
}

static void timing_table(run_page *p)
{
    unic_html *h = p->h;
    unic_run_folder *f = p->f;
    unic_html_raw(h, "<div><h3>Timings</h3>\n<table class=\"kv\" id=\"timings\">\n");
    seconds_cell(h, "data and embedding", f->seconds[0]);
    seconds_cell(h, "mining", f->seconds[1]);
    seconds_cell(h, "training (with evaluations)", f->seconds[2]);
    int sec = unic_history_column(&f->history, "seconds");
    if (sec >= 0 && f->history.rows) {
        double sum = 0;
        for (int r = 0; r < f->history.rows; r++) {
            double v = f->history.values[(size_t)r * (size_t)f->history.ncols + (size_t)sec];
            if (isfinite(v)) sum += v;
        }
        char buf[128];
        snprintf(buf, sizeof buf, "%d (%.2f s each on average)", f->history.rows,
                 sum / f->history.rows);
        kv(h, "epochs done", buf);
    }
    unic_html_raw(h, "</table></div>\n");
}

static void summary(run_page *p)
{
    unic_html_raw(p->h, "<section class=\"card\" id=\"summary\">\n<h2>Summary</h2>\n"
                        "<div class=\"grid2\">\n");
    unic_html_raw(p->h, "<div style=\"max-width:470px\">\n");
    scores_table(p);
    timing_table(p);
    unic_html_raw(p->h, "</div>\n");
    data_table(p);
    unic_html_raw(p->h, "</div>\n</section>\n");
}

/* ---- curves ---------------------------------------------------------------- */

static int is_fixed_column(const run_page *p, const char *name)
{
    static const char *fixed[] = {"epoch", "lr", "objective", "seconds"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, fixed[i]) == 0) return 1;
    for (int i = 0; i < 3; i++)
        if (strcmp(name, unic_run_folder_metric(p->f, i)) == 0) return 1;
    return 0;
}

/* Rows with a finite value in column col, thinned to at most
 * UNIC_REPORT_CURVE_POINTS evenly spread ones (the first and last kept). */
static int curve_points(const unic_history *hs, int col, double *x, double *y, int *thinned)
{
    int n = 0;
    int *rows = unic_xmalloc(sizeof(int) * (size_t)(hs->rows ? hs->rows : 1));
    for (int r = 0; r < hs->rows; r++)
        if (isfinite(hs->values[(size_t)r * (size_t)hs->ncols + (size_t)col])) rows[n++] = r;
    int keep = n > UNIC_REPORT_CURVE_POINTS ? UNIC_REPORT_CURVE_POINTS : n;
    if (keep < n) *thinned = 1;
    for (int i = 0; i < keep; i++) {
        int r = keep == n ? rows[i] : rows[(int)((int64_t)i * (n - 1) / (keep - 1))];
        x[i] = hs->values[(size_t)r * (size_t)hs->ncols];
        y[i] = hs->values[(size_t)r * (size_t)hs->ncols + (size_t)col];
    }
    unic_xfree(rows);
    return keep;
}

static void curve_panel(run_page *p, const char *id, const char *title, const char *ylabel,
                        const char *const *cols, const char *const *names, int ncols,
                        int hline, double hline_y, const char *hline_name, int *thinned)
{
    const unic_history *hs = &p->f->history;
    unic_svg_series series[8];
    double *buf = unic_xmalloc(sizeof(double) * 2 * (size_t)(hs->rows + 1) * (size_t)ncols);
    int ns = 0;
    for (int i = 0; i < ncols && ns < 8; i++) {
        int col = unic_history_column(hs, cols[i]);
        if (col < 0) continue;
        double *x = buf + 2 * (size_t)(hs->rows + 1) * (size_t)ns, *y = x + hs->rows + 1;
        int n = curve_points(hs, col, x, y, thinned);
        if (n == 0) continue;
        series[ns++] = (unic_svg_series){names[i], x, y, n, NULL, NULL};
    }
    if (ns) {
        unic_svg_plot plot = {title, "epoch", ylabel, series, ns, 0, 0, 0, 0, hline, hline_y,
                              hline_name};
        size_t len;
        char prefix[80];
        snprintf(prefix, sizeof prefix, "%s-", id);
        char *svg = unic_svg_render(&plot, 1, prefix, &len);
        unic_html_printf(p->h, "<div class=\"curve\" id=\"%s\">", id);
        unic_html_rawn(p->h, svg, len);
        unic_html_raw(p->h, "</div>\n");
        unic_xfree(svg);
    }
    unic_xfree(buf);
}

static void curves(run_page *p)
{
    unic_html *h = p->h;
    const unic_history *hs = &p->f->history;
    unic_html_raw(h, "<section class=\"card\" id=\"curves\">\n<h2>Training curves</h2>\n");
    if (!hs->rows) {
        unic_html_raw(h, "<p class=\"note\">No history.csv yet: no epoch has finished.</p>\n"
                         "</section>\n");
        return;
    }
    int thinned = 0;
    unic_html_raw(h, "<p class=\"note\">Per epoch: the objective (the weighted sum the optimiser "
                     "minimises) and each loss term's unweighted mean over the epoch's steps; "
                     "the scores where an epoch was evaluated ([eval] every), with the "
                     "baseline's first score dashed. k-means on the current features is not "
                     "logged per epoch, so it is not drawn.</p>\n<div class=\"figs\">\n");
    const char *obj[] = {"objective"};
    curve_panel(p, "curve-objective", "objective per epoch", "objective", obj, obj, 1, 0, 0, NULL,
                &thinned);
    for (int c = 0; c < hs->ncols; c++) {
        const char *name = hs->names[c];
        if (is_fixed_column(p, name)) continue;
        char id[160], title[200];
        snprintf(id, sizeof id, "curve-loss-%.60s", name);
        for (char *s = id; *s; s++)
            if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-')) *s = '_';
        snprintf(title, sizeof title, "loss term %.120s per epoch", name);
        const char *cols[] = {name};
        curve_panel(p, id, title, "mean value per step", cols, cols, 1, 0, 0, NULL, &thinned);
    }
    const char *m[3], *mn[3];
    char names[3][32];
    for (int i = 0; i < 3; i++) {
        m[i] = unic_run_folder_metric(p->f, i);
        snprintf(names[i], sizeof names[i], "%s", metric_title(m[i]));
        mn[i] = names[i];
    }
    char base[64];
    snprintf(base, sizeof base, "%s %s (baseline)",
             p->f->baseline_method && strcmp(p->f->baseline_method, "ss-kmeans") == 0
                 ? "SS-k-means" : "k-means", metric_title(m[0]));
    curve_panel(p, "curve-scores", "scores per evaluated epoch", "score", m, mn, 3,
                p->f->has_baseline, p->f->baseline[0], base, &thinned);
    const char *sec[] = {"seconds"};
    curve_panel(p, "curve-seconds", "seconds per epoch", "seconds", sec, sec, 1, 0, 0, NULL,
                &thinned);
    unic_html_raw(h, "</div>\n</section>\n");
    if (thinned)
        run_page_sampling(p, "curves are thinned to %d evenly spread points each (of %d epochs)",
                          UNIC_REPORT_CURVE_POINTS, hs->rows);
}

/* ---- confusion matrix --------------------------------------------------------- */

static void top_confusions(run_page *p)
{
    const unic_confusion *c = &p->conf;
    unic_html *h = p->h;
    typedef struct { int64_t v; int r, j; } cell;
    cell top[TOP_CONFUSIONS];
    int n = 0;
    for (int r = 0; r < c->nrows; r++)
        for (int j = 0; j < c->ncols; j++) {
            int64_t v = c->counts[(size_t)r * (size_t)c->ncols + (size_t)j];
            if (v == 0 || c->matched_row[j] == r) continue;
            int at = n < TOP_CONFUSIONS ? n++ : TOP_CONFUSIONS;
            if (at == TOP_CONFUSIONS) {
                if (v <= top[TOP_CONFUSIONS - 1].v) continue;
                at = TOP_CONFUSIONS - 1;
            }
            while (at > 0 && top[at - 1].v < v) { /* keeps the first of equal counts first */
                top[at] = top[at - 1];
                at--;
            }
            top[at] = (cell){v, r, j};
        }
    if (!n) return;
    unic_html_raw(h, "<h3 style=\"margin-top:0\">Most confused</h3>\n<table id=\"confusions\"><tr><th>true class</th>"
                     "<th>cluster</th><th>matched to</th><th class=\"num\">items</th>"
                     "<th class=\"num\">share</th></tr>\n");
    for (int i = 0; i < n; i++) {
        int cls = c->class_value[top[i].r], j = top[i].j;
        int64_t row = 0;
        for (int k = 0; k < c->ncols; k++) row += c->counts[(size_t)top[i].r * (size_t)c->ncols + (size_t)k];
        unic_html_raw(h, "<tr><td>");
        unic_html_text(h, unic_class_name(&p->names, cls));
        run_page_class_tag(p, cls);
        unic_html_printf(h, "</td><td><a href=\"#cluster-%d\">%d</a></td><td>", c->cluster_value[j],
                         c->cluster_value[j]);
        if (c->matched_row[j] >= 0) {
            int m = c->class_value[c->matched_row[j]];
            unic_html_text(h, unic_class_name(&p->names, m));
            run_page_class_tag(p, m);
        } else {
            unic_html_raw(h, "(no class)");
        }
        unic_html_printf(h, "</td><td class=\"num\">%lld</td><td class=\"num\">%.1f%%</td></tr>\n",
                         (long long)top[i].v, row ? 100.0 * (double)top[i].v / (double)row : 0);
    }
    unic_html_raw(h, "</table>\n");
}

static void confusion(run_page *p)
{
    unic_html *h = p->h;
    unic_html_raw(h, "<section class=\"card\" id=\"confusion\">\n<h2>Confusion matrix after "
                     "Hungarian matching</h2>\n");
    if (!p->has_conf) {
        unic_html_raw(h, "<p class=\"note\">Needs predictions.csv with a label column (see the "
                         "notes above).</p>\n</section>\n");
        return;
    }
    const unic_confusion *c = &p->conf;
    char **names = unic_xmalloc(sizeof(char *) * (size_t)c->nrows);
    signed char *old = p->f->gcd ? unic_xmalloc((size_t)c->nrows) : NULL;
    for (int r = 0; r < c->nrows; r++) {
        names[r] = (char *)unic_class_name(&p->names, c->class_value[r]);
        names[r] = unic_xstrdup(names[r]);
        if (old) old[r] = (signed char)(c->class_value[r] < UNIC_MAX_CLASSES &&
                                        p->f->is_old[c->class_value[r]]);
    }
    unic_html_printf(h, "<p class=\"note\">%lld %s items: a row per true class, a column per "
                     "cluster; each cell is shaded by its share of the class's items, and the "
                     "outlined cells are the one-to-one matching of clusters to classes that "
                     "ACC uses. Matched: %lld of %lld = <span id=\"matched-acc\" "
                     "data-value=\"%.17g\">%.4f</span>%s.</p>\n", (long long)c->n,
                     p->f->gcd ? "unlabeled (scored)" : "evaluated", (long long)c->matched,
                     (long long)c->n, (double)c->matched / (double)c->n,
                     (double)c->matched / (double)c->n, p->f->gcd ? " (All)" : " (ACC)");
    if ((int64_t)c->nrows * c->ncols > UNIC_HEATMAP_MAX_RECTS)
        unic_html_printf(h, "<p class=\"note\">%d x %d cells are drawn one pixel each in a "
                         "lossless PNG (hover tooltips and counts only for matrices up to %d "
                         "cells).</p>\n", c->nrows, c->ncols, UNIC_HEATMAP_MAX_RECTS);
    unic_heatmap m = {c, (const char *const *)names, old, "heatmap"};
    unic_html_raw(h, "<div class=\"grid2\"><div class=\"scroll\">\n");
    unic_heatmap_svg(h, &m);
    unic_html_raw(h, "</div>\n<div>");
    top_confusions(p);
    unic_html_raw(h, "</div></div>\n");
    unic_html_raw(h, "</section>\n");
    for (int r = 0; r < c->nrows; r++) unic_xfree(names[r]);
    unic_xfree(names);
    unic_xfree(old);
}

/* ---- neighbour analyses ---------------------------------------------------- */

/* Names with their numbers compared as numbers: fig4 before fig10. */
static int cmp_names(const void *pa, const void *pb)
{
    const char *a = *(char *const *)pa, *b = *(char *const *)pb;
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            char *ea, *eb;
            unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
            if (x != y) return x < y ? -1 : 1;
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

/* The figures of `unic neighbors` inlined as images (each SVG keeps its own
 * ids), in name order. */
static int neighbor_figures(run_page *p, const char *dir, char ***csvs, int *ncsv)
{
    DIR *d = opendir(dir);
    *csvs = NULL;
    *ncsv = 0;
    if (!d) return 0;
    char **svgs = NULL;
    int nsvg = 0, cap = 0, ccap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        int svg = unic_ends_with(e->d_name, ".svg");
        int fig4 = strncmp(e->d_name, "fig4_union_threshold_tau1-", 26) == 0 &&
                   unic_ends_with(e->d_name, ".csv");
        if (svg) {
            if (nsvg == cap) svgs = realloc(svgs, sizeof(char *) * (size_t)(cap = cap ? 2 * cap : 16));
            svgs[nsvg++] = unic_xstrdup(e->d_name);
        } else if (fig4) {
            if (*ncsv == ccap)
                *csvs = realloc(*csvs, sizeof(char *) * (size_t)(ccap = ccap ? 2 * ccap : 8));
            (*csvs)[(*ncsv)++] = unic_xstrdup(e->d_name);
        }
    }
    closedir(d);
    if (nsvg) qsort(svgs, (size_t)nsvg, sizeof(char *), cmp_names);
    if (*ncsv) qsort(*csvs, (size_t)*ncsv, sizeof(char *), cmp_names);
    if (nsvg) unic_html_raw(p->h, "<div class=\"figs\">\n");
    for (int i = 0; i < nsvg; i++) {
        char path[4400], err[2048], *text = NULL;
        snprintf(path, sizeof path, "%s/%s", dir, svgs[i]);
        if (unic_read_text_file(path, "figure", MAX_FIGURE_BYTES, &text, err, sizeof err) != 0) {
            unic_html_raw(p->h, "<p class=\"note\">");
            unic_html_text(p->h, err);
            unic_html_raw(p->h, "</p>\n");
        } else {
            unic_html_raw(p->h, "<img class=\"fig neighbors\" alt=\"");
            unic_html_text(p->h, svgs[i]);
            unic_html_raw(p->h, "\" title=\"");
            unic_html_text(p->h, svgs[i]);
            unic_html_raw(p->h, "\" src=\"");
            unic_html_data_uri(p->h, "image/svg+xml", text, strlen(text));
            unic_html_raw(p->h, "\">\n");
        }
        free(text);
        unic_xfree(svgs[i]);
    }
    if (nsvg) unic_html_raw(p->h, "</div>\n");
    free(svgs);
    return nsvg;
}

/* Figure 4's CSV counts, per threshold eta, the anchors whose union is at
 * most eta: its differences are the histogram of union sizes. */
static void union_histogram(run_page *p, const char *dir, const char *file, int index)
{
    char path[4400], err[2048];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    unic_numcsv t;
    if (unic_numcsv_read(path, &t, err, sizeof err) != 0) {
        unic_html_raw(p->h, "<p class=\"note\">");
        unic_html_text(p->h, err);
        unic_html_raw(p->h, "</p>\n");
        return;
    }
    int ce = unic_numcsv_column(&t, "eta"), ck = unic_numcsv_column(&t, "kept_anchors");
    if (ce < 0 || ck < 0 || t.rows < 1) {
        unic_html_raw(p->h, "<p class=\"note\">");
        unic_html_textf(p->h, "%s: expected the columns eta and kept_anchors", path);
        unic_html_raw(p->h, "</p>\n");
        unic_numcsv_free(&t);
        return;
    }
    int bins = t.rows < HISTOGRAM_BINS ? t.rows : HISTOGRAM_BINS;
    double *lo = unic_xmalloc(sizeof(double) * 3 * (size_t)bins), *hi = lo + bins, *cnt = hi + bins;
    double prev_eta = t.values[ce] - 1, prev_kept = 0, total = 0;
    for (int b = 0; b < bins; b++) {
        int last = (int)((int64_t)(b + 1) * t.rows / bins) - 1;
        double eta = t.values[(size_t)last * (size_t)t.ncols + (size_t)ce];
        double kept = t.values[(size_t)last * (size_t)t.ncols + (size_t)ck];
        lo[b] = prev_eta;
        hi[b] = eta;
        cnt[b] = isfinite(kept) && isfinite(prev_kept) ? kept - prev_kept : 0;
        if (isfinite(cnt[b]) && cnt[b] > 0) total += cnt[b];
        prev_eta = eta;
        prev_kept = kept;
    }
    const char *tau = file + 26;
    char title[128], id[64];
    snprintf(title, sizeof title, "Second-order union sizes (tau1 = %.*s)",
             (int)strcspn(tau, "."), tau);
    snprintf(id, sizeof id, "union-hist-%d", index);
    unic_bars b = {title, "union size of the anchor's neighbour lists (eq. 4)", "anchors", id,
                   lo, hi, cnt, bins};
    unic_html_raw(p->h, "<div class=\"figs\">\n");
    unic_bars_svg(p->h, &b);
    unic_html_raw(p->h, "</div>\n");
    unic_html_printf(p->h, "<p class=\"note\">%.0f anchors; bars group the thresholds of %s "
                     "(the anchors whose union lies in each range).</p>\n", total, file);
    unic_xfree(lo);
    unic_numcsv_free(&t);
}

static void neighbors(run_page *p)
{
    unic_html *h = p->h;
    char dir[2400];
    snprintf(dir, sizeof dir, "%s/neighbors", p->f->dir);
    unic_html_raw(h, "<section class=\"card\" id=\"neighbors\">\n<h2>Neighbour analyses "
                     "(Figures 4, 8, 9, 10)</h2>\n");
    char **csvs;
    int ncsv, nfig = neighbor_figures(p, dir, &csvs, &ncsv);
    for (int i = 0; i < ncsv; i++) {
        union_histogram(p, dir, csvs[i], i);
        unic_xfree(csvs[i]);
    }
    free(csvs);
    if (!nfig && !ncsv) {
        unic_html_raw(h, "<p class=\"note\">Not computed for this run. <code>unic neighbors ");
        unic_html_text(h, p->f->dir);
        unic_html_raw(h, "</code> writes them into its neighbors/ folder (true positives by "
                         "union size, same-class rate by rank, removal and purity by union "
                         "size), and the next report shows them here.</p>\n");
    }
    unic_html_raw(h, "</section>\n");
}

/* ---- configuration ---------------------------------------------------------- */

static void configuration(run_page *p)
{
    unic_html *h = p->h;
    unic_run_folder *f = p->f;
    unic_html_raw(h, "<section class=\"card\" id=\"config\">\n<h2>Configuration and log</h2>\n");
    if (f->config_text) {
        unic_html_raw(h, "<h3>config.resolved.ini</h3>\n<pre id=\"config-text\">");
        unic_html_text(h, f->config_text);
        unic_html_raw(h, "</pre>\n");
    }
    if (f->log_tail) {
        unic_html_raw(h, "<details><summary>the end of log.txt</summary><pre>");
        unic_html_text(h, f->log_tail);
        unic_html_raw(h, "</pre></details>\n");
    }
    if (f->skipped_head) {
        unic_html_printf(h, "<details><summary>skipped.txt (%lld images)</summary><pre>",
                         (long long)f->skipped);
        unic_html_text(h, f->skipped_head);
        unic_html_raw(h, "</pre></details>\n");
    }
    unic_html_raw(h, "</section>\n");
}

/* ---- the page -------------------------------------------------------------- */

static void prepare(run_page *p)
{
    unic_run_folder *f = p->f;
    if (f->cfg) {
        p->items = unic_report_items_open(f->cfg, p->items_err, sizeof p->items_err);
        if (!p->items)
            unic_run_folder_note(f, "the data set of config.resolved.ini could not be re-opened "
                                 "(%s); clusters list item indices instead of images",
                                 p->items_err);
    }
    const unic_predictions *pr = &f->pred;
    for (int64_t i = 0; pr->label && i < pr->n; i++)
        if (pr->label[i] + 1 > p->nclasses) p->nclasses = pr->label[i] + 1;
    char err[2048];
    if (unic_class_names_load(&p->names, p->nclasses, p->o ? p->o->class_names : NULL, p->items,
                              err, sizeof err) != 0) {
        unic_run_folder_note(f, "%s; classes are numbered instead", err);
        unic_class_names_load(&p->names, p->nclasses, NULL, p->items, err, sizeof err);
    }
    p->scored = unic_xmalloc(sizeof(int64_t) * (size_t)(pr->n ? pr->n : 1));
    for (int64_t i = 0; i < pr->n; i++)
        if (!(f->gcd && pr->labeled[i])) p->scored[p->nscored++] = i;
    p->cluster_class = unic_xmalloc(sizeof(int) * (size_t)(f->clusters ? f->clusters : 1));
    for (int c = 0; c < f->clusters; c++) p->cluster_class[c] = -1;
    if (pr->label && p->nscored) {
        int32_t *yt = unic_xmalloc(sizeof(int32_t) * (size_t)p->nscored);
        int32_t *yp = unic_xmalloc(sizeof(int32_t) * (size_t)p->nscored);
        for (int64_t s = 0; s < p->nscored; s++) {
            yt[s] = pr->label[p->scored[s]];
            yp[s] = pr->prediction[p->scored[s]];
        }
        if (unic_confusion_matched(yt, yp, p->nscored, &p->conf, err, sizeof err) == 0) {
            p->has_conf = 1;
            for (int j = 0; j < p->conf.ncols; j++)
                if (p->conf.matched_row[j] >= 0)
                    p->cluster_class[p->conf.cluster_value[j]] =
                        p->conf.class_value[p->conf.matched_row[j]];
        } else {
            unic_run_folder_note(f, "%s/predictions.csv: %s", f->dir, err);
        }
        unic_xfree(yt);
        unic_xfree(yp);
    }
}

static void header(run_page *p)
{
    unic_html *h = p->h;
    unic_run_folder *f = p->f;
    unic_html_raw(h, "<header class=\"top\"><h1>UNIC run: ");
    unic_html_text(h, f->name);
    unic_html_raw(h, "</h1><div class=\"sub\">");
    unic_html_text(h, f->dir);
    unic_html_printf(h, " · %s", f->gcd ? "GCD" : "clustering");
    if (f->has_scores)
        unic_html_printf(h, " · %s %.4f", metric_title(unic_run_folder_metric(f, 0)), f->final[0]);
    unic_html_raw(h, "</div></header>\n<nav><a href=\"#summary\">summary</a><a href=\"#curves\">"
                     "curves</a><a href=\"#confusion\">confusion matrix</a><a href=\"#clusters\">"
                     "clusters</a><a href=\"#neighbors\">neighbours</a><a href=\"#config\">"
                     "configuration</a></nav>\n<main>\n");
}

static void notices(run_page *p)
{
    unic_run_folder *f = p->f;
    if (!f->nnotes) return;
    unic_html_raw(p->h, "<div class=\"notice\" id=\"missing\"><b>Not everything could be shown"
                        "</b><ul>\n");
    for (int i = 0; i < f->nnotes; i++) {
        unic_html_raw(p->h, "<li>");
        unic_html_text(p->h, f->notes[i]);
        unic_html_raw(p->h, "</li>\n");
    }
    unic_html_raw(p->h, "</ul></div>\n");
}

static void footer(run_page *p)
{
    unic_html *h = p->h;
    unic_html_raw(h, "</main>\n<footer id=\"sampling\">");
    if (p->nsampling) {
        unic_html_raw(h, "Sampling on this page: ");
        for (int i = 0; i < p->nsampling; i++) {
            unic_html_text(h, p->sampling[i]);
            unic_html_raw(h, i + 1 < p->nsampling ? "; " : ". ");
        }
    } else {
        unic_html_raw(h, "Nothing on this page is sampled: every curve point is drawn. ");
    }
    unic_html_printf(h, "Written by <code>unic report</code> (unic %s) from the files of the run "
                     "folder; the page fetches nothing.</footer>\n", UNIC_VERSION);
}

static void default_path(const char *dir, const unic_report_options *o, char *path, size_t len)
{
    if (o && o->out && *o->out)
        snprintf(path, len, "%s", o->out);
    else
        snprintf(path, len, "%s/report.html", dir);
}

int unic_report_run(const char *dir, const unic_report_options *o, char *path, size_t pathlen,
                    char *err, size_t errlen)
{
    unic_run_folder f;
    if (unic_run_folder_load(dir, &f, err, errlen) != 0) return -1;
    unic_html h;
    unic_html_init(&h);
    run_page p = {.f = &f, .h = &h, .o = o};
    prepare(&p);
    char title[600];
    snprintf(title, sizeof title, "UNIC run: %s", f.name);
    unic_html_page_start(&h, title);
    /* the sections first (they add notes), then the frame around them */
    unic_html body;
    unic_html_init(&body);
    p.h = &body;
    summary(&p);
    curves(&p);
    confusion(&p);
    run_page_clusters(&p);
    neighbors(&p);
    configuration(&p);
    p.h = &h;
    header(&p);
    notices(&p);
    unic_html_rawn(&h, body.data, body.len);
    footer(&p);
    unic_html_page_end(&h);
    default_path(dir, o, path, pathlen);
    int rc = unic_html_write(&h, path, err, errlen);
    unic_html_free(&body);
    unic_html_free(&h);
    for (int i = 0; i < p.nsampling; i++) unic_xfree(p.sampling[i]);
    if (p.has_conf) unic_confusion_free(&p.conf);
    unic_xfree(p.scored);
    unic_xfree(p.cluster_class);
    unic_class_names_free(&p.names);
    unic_report_items_free(p.items);
    unic_run_folder_free(&f);
    return rc;
}

int unic_report_write(const char *dir, const unic_report_options *o, char *path, size_t pathlen,
                      char *err, size_t errlen)
{
    char manifest[2400];
    struct stat st;
    snprintf(manifest, sizeof manifest, "%s/grid.json", dir);
    if (stat(manifest, &st) == 0) return unic_report_grid(dir, o, path, pathlen, err, errlen);
    return unic_report_run(dir, o, path, pathlen, err, errlen);
}
