/* A grid's page: the ablation table (as `unic table` computes it, from the
 * grid's [table] section), every curve with one line per setting (the mean
 * over its seeds and a min-max band, as `unic plot` draws them), and each
 * point with its state, scores and a link to its own page. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"
#include "experiment/config.h"
#include "grid/folder.h"
#include "grid/plot.h"
#include "grid/summary.h"
#include "grid/table.h"
#include "grid/view.h"
#include "report/html.h"
#include "report/report.h"

static void note(unic_html *h, const char *text)
{
    unic_html_raw(h, "<p class=\"note\">");
    unic_html_text(h, text);
    unic_html_raw(h, "</p>\n");
}

/* The [table] section the grid folder keeps (experiment.ini), checked
 * against the grid's axes, as `unic table` reads it. */
static int read_layout(const unic_grid_view *v, unic_table_layout *t, char *err, size_t errlen)
{
    char path[2300], source[2400];
    snprintf(path, sizeof path, "%s/experiment.ini", v->dir);
    unic_config *cfg;
    if (unic_config_load(path, &cfg, err, errlen) != 0) return -1;
    int rc = unic_table_layout_read(cfg, t, err, errlen);
    if (rc == 0 && unic_config_has_section(cfg, "table")) {
        snprintf(source, sizeof source, "%s: [table]", path);
        rc = unic_table_layout_check(t, v->axes, v->naxes, source, err, errlen);
    }
    unic_config_free(cfg);
    return rc;
}

/* The table printed in `format` into memory (malloc'ed), or NULL with err. */
static char *table_text(const unic_grid_view *v, unic_table_layout *t, unic_table_format format,
                        char *err, size_t errlen)
{
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    if (!mem) unic_die("out of memory printing a table");
    t->format = format;
    int rc = unic_table_print(v, t, mem, err, errlen);
    fclose(mem);
    if (rc == 0) return text;
    free(text);
    return NULL;
}

static void cell_html(unic_html *h, const cJSON *cell, const unic_table_layout *t)
{
    const cJSON *status = cJSON_GetObjectItem(cell, "status"), *mean = cJSON_GetObjectItem(cell, "mean");
    const cJSON *std = cJSON_GetObjectItem(cell, "std"), *n = cJSON_GetObjectItem(cell, "n");
    const cJSON *points = cJSON_GetObjectItem(cell, "points");
    int count = cJSON_IsNumber(n) ? n->valueint : 0, total = cJSON_IsNumber(points) ? points->valueint : 0;
    if (!cJSON_IsNumber(mean)) {
        unic_html_printf(h, "<td class=\"num\"><i>%s</i> (%d/%d)</td>",
                         cJSON_IsString(status) && strcmp(status->valuestring, "failed") == 0
                             ? "failed" : "missing", count, total);
        return;
    }
    int best = cJSON_IsTrue(cJSON_GetObjectItem(cell, "best"));
    unic_html_printf(h, "<td class=\"num%s\" data-value=\"%.17g\">%.*f", best ? " best" : "",
                     mean->valuedouble, t->digits, mean->valuedouble * t->scale);
    if (count > 1 && cJSON_IsNumber(std))
        unic_html_printf(h, " ± %.*f", t->digits, std->valuedouble * t->scale);
    unic_html_printf(h, " <span class=\"note\">(%d)</span></td>", count);
}

static void ablation_table(unic_html *h, const unic_grid_view *v)
{
    unic_html_raw(h, "<section class=\"card\" id=\"table\">\n<h2>Ablation table</h2>\n");
    char err[4096];
    unic_table_layout t;
    unic_table_layout_init(&t);
    char *md = NULL, *json = NULL;
    if (read_layout(v, &t, err, sizeof err) == 0 &&
        (md = table_text(v, &t, UNIC_TABLE_MD, err, sizeof err)) &&
        (json = table_text(v, &t, UNIC_TABLE_JSON, err, sizeof err))) {
        cJSON *root = cJSON_Parse(json), *row;
        const cJSON *cols = cJSON_GetObjectItem(root, "columns"), *c;
        const cJSON *title = cJSON_GetObjectItem(root, "title");
        if (cJSON_IsString(title)) {
            unic_html_raw(h, "<h3>");
            unic_html_text(h, title->valuestring);
            unic_html_raw(h, "</h3>\n");
        }
        unic_html_raw(h, "<div class=\"scroll\"><table id=\"ablation\"><tr>");
        const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "rows"), 0);
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(first, "axes"))
        {
            unic_html_raw(h, "<th>");
            unic_html_text(h, c->string);
            unic_html_raw(h, "</th>");
        }
        cJSON_ArrayForEach(c, cols)
        {
            unic_html_raw(h, "<th class=\"num\">");
            unic_html_text(h, cJSON_IsString(c) ? c->valuestring : "");
            unic_html_raw(h, "</th>");
        }
        unic_html_raw(h, "</tr>\n");
        cJSON_ArrayForEach(row, cJSON_GetObjectItem(root, "rows"))
        {
            unic_html_raw(h, "<tr>");
            cJSON_ArrayForEach(c, cJSON_GetObjectItem(row, "axes"))
            {
                unic_html_raw(h, "<td>");
                unic_html_text(h, cJSON_IsString(c) ? c->valuestring : "");
                unic_html_raw(h, "</td>");
            }
            cJSON_ArrayForEach(c, cJSON_GetObjectItem(row, "cells")) cell_html(h, c, &t);
            unic_html_raw(h, "</tr>\n");
        }
        unic_html_raw(h, "</table></div>\n");
        unic_html_printf(h, "<p class=\"note\">Mean ± sample standard deviation over seeds (their "
                         "count in brackets), x%g; the best of each column in bold. The grid's "
                         "[table] section sets the layout.</p>\n", t.scale);
        unic_html_raw(h, "<details><summary>as <code>unic table</code> prints it</summary>"
                         "<pre id=\"table-md\">");
        unic_html_text(h, md);
        unic_html_raw(h, "</pre></details>\n");
        cJSON_Delete(root);
    } else {
        note(h, err);
    }
    free(md);
    free(json);
    unic_table_layout_free(&t);
    unic_html_raw(h, "</section>\n");
}

static void grid_curves(unic_html *h, const unic_grid_view *v)
{
    unic_html_raw(h, "<section class=\"card\" id=\"curves\">\n<h2>Curves of all points</h2>\n");
    char err[4096];
    unic_grid_curves *g = unic_grid_curves_load(v, err, sizeof err);
    if (!g) {
        note(h, err);
        unic_html_raw(h, "</section>\n");
        return;
    }
    unic_html_raw(h, "<p class=\"note\">One line per setting (every axis but the seed): the mean "
                     "over its seeds, with a band from the lowest to the highest seed where "
                     "there are several.</p>\n<div class=\"figs\">\n");
    int n = unic_grid_curves_count(g);
    for (int i = 0; i < n; i++) {
        const char *name = unic_grid_curves_name(g, i);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "grid-curve-%d-", i);
        size_t len;
        char *svg = unic_grid_curves_svg(g, name, prefix, &len);
        unic_html_raw(h, "<div class=\"curve\" data-column=\"");
        unic_html_text(h, name);
        unic_html_raw(h, "\">");
        unic_html_rawn(h, svg, len);
        unic_html_raw(h, "</div>\n");
        unic_xfree(svg);
    }
    unic_html_raw(h, "</div>\n</section>\n");
    unic_grid_curves_free(g);
}

static void scores_cells(unic_html *h, const double s[3], int has)
{
    for (int i = 0; i < 3; i++)
        if (has && isfinite(s[i]))
            unic_html_printf(h, "<td class=\"num\">%.4f</td>", s[i]);
        else
            unic_html_raw(h, "<td class=\"num\"></td>");
}

static void point_table(unic_html *h, const unic_grid_view *v, const int *has_page,
                        const char *const *errors)
{
    unic_html_raw(h, "<section class=\"card\" id=\"points\">\n<h2>Points</h2>\n<div "
                     "class=\"scroll\"><table id=\"point-list\"><tr><th>point</th><th>setting"
                     "</th><th>seed</th><th>state</th><th class=\"num\">epochs</th>");
    for (int i = 0; i < 3; i++) unic_html_printf(h, "<th class=\"num\">%s</th>", v->metric[i]);
    unic_html_raw(h, "<th>page</th></tr>\n");
    for (int i = 0; i < v->count; i++) {
        const unic_grid_view_point *p = &v->points[i];
        unic_html_printf(h, "<tr data-point=\"%s\"><td><code>%s</code></td><td>", p->id, p->id);
        unic_html_text(h, *p->label ? p->label : "(the run)");
        unic_html_raw(h, "</td><td>");
        unic_html_text(h, p->seed ? p->seed : "");
        unic_html_printf(h, "</td><td>%s%s</td><td class=\"num\">%d/%d</td>",
                         unic_point_state_name(p->status.state), p->busy ? " (running)" : "",
                         p->epoch_reached, p->epochs);
        int done = p->has_scores;
        scores_cells(h, done ? p->final : p->latest, done || p->epoch_reached > 0);
        if (has_page[i])
            unic_html_printf(h, "<td><a class=\"point-report\" href=\"points/%s/report.html\">"
                             "report</a></td></tr>\n", p->id);
        else {
            unic_html_raw(h, "<td class=\"note\">");
            unic_html_text(h, errors[i] ? errors[i] : "no run files yet");
            unic_html_raw(h, "</td></tr>\n");
        }
    }
    unic_html_raw(h, "</table></div>\n<p class=\"note\">Scores: the final ones for done points, "
                     "the last evaluated epoch's otherwise.</p>\n</section>\n");
}

/* Each point's own page, written unless the options say not to; has_page
 * says which exist afterwards. */
static void point_pages(const unic_grid_view *v, const unic_report_options *o, int *has_page,
                        char **errors)
{
    for (int i = 0; i < v->count; i++) {
        char pd[2300], page[2400], err[4096];
        unic_point_dir(v->dir, v->points[i].id, pd, sizeof pd);
        snprintf(page, sizeof page, "%s/report.html", pd);
        struct stat st;
        if (o && o->no_points) {
            has_page[i] = stat(page, &st) == 0;
            continue;
        }
        unic_report_options po = {NULL, o ? o->class_names : NULL, o ? o->max_thumbs : 0, 1};
        if (unic_report_run(pd, &po, page, sizeof page, err, sizeof err) == 0)
            has_page[i] = 1;
        else
            errors[i] = unic_xstrdup(err);
    }
}

int unic_report_grid(const char *dir, const unic_report_options *o, char *path, size_t pathlen,
                     char *err, size_t errlen)
{
    unic_grid_view v;
    if (unic_grid_view_load(dir, &v, err, errlen) != 0) return -1;
    int *has_page = unic_xcalloc((size_t)v.count, sizeof(int));
    char **errors = unic_xcalloc((size_t)v.count, sizeof(char *));
    point_pages(&v, o, has_page, errors);
    unic_html h;
    unic_html_init(&h);
    char title[600], counts[512];
    snprintf(title, sizeof title, "UNIC grid: %s", v.name);
    unic_html_page_start(&h, title);
    unic_grid_counts_line(&v, counts, sizeof counts);
    unic_html_raw(&h, "<header class=\"top\"><h1>");
    unic_html_text(&h, title);
    unic_html_raw(&h, "</h1><div class=\"sub\">");
    unic_html_text(&h, v.dir);
    unic_html_printf(&h, " · %s · %d point%s · ", v.gcd ? "GCD" : "clustering", v.count,
                     v.count == 1 ? "" : "s");
    unic_html_text(&h, counts);
    unic_html_raw(&h, "</div></header>\n<nav><a href=\"#table\">table</a><a href=\"#curves\">"
                      "curves</a><a href=\"#points\">points</a></nav>\n<main>\n");
    unic_html_raw(&h, "<section class=\"card\" id=\"axes\">\n<h2>Axes</h2>\n<table class=\"kv\">");
    for (int a = 0; a < v.naxes; a++) {
        unic_html_raw(&h, "<tr><td>");
        unic_html_text(&h, v.axes[a].key);
        unic_html_raw(&h, "</td><td>");
        for (int k = 0; k < v.axes[a].count; k++) {
            if (k) unic_html_raw(&h, ", ");
            unic_html_text(&h, v.axes[a].values[k]);
        }
        unic_html_raw(&h, "</td></tr>\n");
    }
    unic_html_raw(&h, "</table>\n</section>\n");
    ablation_table(&h, &v);
    grid_curves(&h, &v);
    point_table(&h, &v, has_page, (const char *const *)errors);
    unic_html_printf(&h, "</main>\n<footer>Written by <code>unic report</code> (unic %s) from the "
                     "grid folder; the page fetches nothing.</footer>\n", UNIC_VERSION);
    unic_html_page_end(&h);
    if (o && o->out && *o->out)
        snprintf(path, pathlen, "%s", o->out);
    else
        snprintf(path, pathlen, "%s/report.html", dir);
    int rc = unic_html_write(&h, path, err, errlen);
    unic_html_free(&h);
    for (int i = 0; i < v.count; i++) unic_xfree(errors[i]);
    unic_xfree(errors);
    unic_xfree(has_page);
    unic_grid_view_free(&v);
    return rc;
}
