/* The table in Markdown, CSV, LaTeX (booktabs) and JSON. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grid/table_internal.h"

static int is_checkmark(const table *tb, int a)
{
    for (int i = 0; i < tb->t->nchecks; i++)
        if (strcmp(tb->t->checkmarks[i], tb->v->axes[a].key) == 0) return 1;
    return 0;
}

static const char *row_header(const table *tb, int i)
{
    return i < tb->t->nnames ? tb->t->names[i] : tb->v->axes[tb->row_axis[i]].key;
}

/* An axis value as a row shows it: on/off axes as a check mark (any
 * non-zero number is on). */
static const char *row_value(const table *tb, int r, int i, const char *on)
{
    int a = tb->row_axis[i];
    const char *v = tb->v->axes[a].values[tb->row_keys[r][i]];
    if (!is_checkmark(tb, a)) return v;
    return strtod(v, NULL) != 0 ? on : "";
}

static void column_label(const table *tb, int c, int m, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < tb->ncol_axes && used < len; i++) {
        int a = tb->col_axis[i];
        used += (size_t)snprintf(buf + used, len - used, "%s%s=%s", i ? "," : "",
                                 tb->v->axes[a].key, tb->v->axes[a].values[tb->col_keys[c][i]]);
    }
    if (used < len)
        snprintf(buf + used, len - used, "%s%s", used ? " " : "", tb->metrics[m].header);
}

static void number_text(const table *tb, const cell *x, const char *pm, char *buf, size_t len)
{
    int d = tb->t->digits;
    double s = tb->t->scale;
    if (x->n > 1)
        snprintf(buf, len, "%.*f%s%.*f", d, x->mean * s, pm, d, x->std * s);
    else
        snprintf(buf, len, "%.*f", d, x->mean * s);
}

static const char *status_text(const cell *x)
{
    return x->status == CELL_FAILED ? "failed" : "missing";
}

/* ---- Markdown ----------------------------------------------------------- */

static void render_md(const table *tb, FILE *out)
{
    if (tb->t->title) fprintf(out, "**%s**\n\n", tb->t->title);
    fprintf(out, "|");
    for (int i = 0; i < tb->nrow_axes; i++) fprintf(out, " %s |", row_header(tb, i));
    char label[512], num[128];
    for (int c = 0; c < tb->ncol_keys; c++)
        for (int m = 0; m < tb->nmetrics; m++) {
            column_label(tb, c, m, label, sizeof label);
            fprintf(out, " %s |", label);
        }
    fprintf(out, "\n|");
    for (int i = 0; i < tb->nrow_axes; i++) fprintf(out, " --- |");
    for (int c = 0; c < tb->ncol_keys * tb->nmetrics; c++) fprintf(out, " ---: |");
    fprintf(out, "\n");
    for (int r = 0; r < tb->nrow_keys; r++) {
        fprintf(out, "|");
        for (int i = 0; i < tb->nrow_axes; i++) fprintf(out, " %s |", row_value(tb, r, i, "✓"));
        for (int c = 0; c < tb->ncol_keys; c++)
            for (int m = 0; m < tb->nmetrics; m++) {
                const cell *x = unic_table_cell(tb, r, c, m);
                if (x->status != CELL_OK) {
                    fprintf(out, " *%s* (%d/%d) |", status_text(x), x->n, x->total);
                    continue;
                }
                number_text(tb, x, " ± ", num, sizeof num);
                fprintf(out, x->best ? " **%s** (%d) |" : " %s (%d) |", num, x->n);
            }
        fprintf(out, "\n");
    }
    fprintf(out, "\nmean ± std over seeds (count in brackets), x%g; best per column in bold\n",
            tb->t->scale);
}

/* ---- CSV ---------------------------------------------------------------- */

static void csv_text(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s == '\n' ? ' ' : *s, out);
    }
    fputc('"', out);
}

static void render_csv(const table *tb, FILE *out)
{
    char label[512];
    for (int i = 0; i < tb->nrow_axes; i++) {
        if (i) fputc(',', out);
        csv_text(out, tb->v->axes[tb->row_axis[i]].key);
    }
    for (int c = 0; c < tb->ncol_keys; c++)
        for (int m = 0; m < tb->nmetrics; m++) {
            column_label(tb, c, m, label, sizeof label);
            const char *parts[] = {"mean", "std", "n", "best"};
            for (int k = 0; k < 4; k++) {
                char name[600];
                snprintf(name, sizeof name, "%s %s", label, parts[k]);
                if (tb->nrow_axes || c || m || k) fputc(',', out);
                csv_text(out, name);
            }
        }
    fputc('\n', out);
    for (int r = 0; r < tb->nrow_keys; r++) {
        for (int i = 0; i < tb->nrow_axes; i++) {
            if (i) fputc(',', out);
            csv_text(out, tb->v->axes[tb->row_axis[i]].values[tb->row_keys[r][i]]);
        }
        for (int c = 0; c < tb->ncol_keys; c++)
            for (int m = 0; m < tb->nmetrics; m++) {
                const cell *x = unic_table_cell(tb, r, c, m);
                const char *sep = tb->nrow_axes || c || m ? "," : "";
                if (x->status == CELL_OK)
                    fprintf(out, "%s%.6f,%.6f,%d,%d", sep, x->mean, x->std, x->n, x->best);
                else
                    fprintf(out, "%s%s,,%d,0", sep, status_text(x), x->n);
            }
        fputc('\n', out);
    }
}

/* ---- LaTeX (booktabs) --------------------------------------------------- */

static void latex_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (strchr("&%$#_{}", *s))
            fprintf(out, "\\%c", *s);
        else if (*s == '~' || *s == '^' || *s == '\\')
            fprintf(out, "\\text%s{}", *s == '~' ? "asciitilde" : *s == '^' ? "asciicircum" : "backslash");
        else
            fputc(*s, out);
    }
}

static void render_latex(const table *tb, FILE *out)
{
    char label[512], num[128];
    fprintf(out, "%% %s: mean $\\pm$ std over seeds (count), x%g; best per column in bold\n",
            tb->t->title ? tb->t->title : tb->v->name, tb->t->scale);
    fprintf(out, "%% needs \\usepackage{booktabs} and \\usepackage{amssymb}\n\\begin{tabular}{");
    for (int i = 0; i < tb->nrow_axes; i++) fputc(is_checkmark(tb, tb->row_axis[i]) ? 'c' : 'l', out);
    for (int c = 0; c < tb->ncol_keys * tb->nmetrics; c++) fputc('r', out);
    fprintf(out, "}\n\\toprule\n");
    for (int i = 0; i < tb->nrow_axes; i++) {
        if (i) fprintf(out, " & ");
        latex_text(out, row_header(tb, i));
    }
    for (int c = 0; c < tb->ncol_keys; c++)
        for (int m = 0; m < tb->nmetrics; m++) {
            column_label(tb, c, m, label, sizeof label);
            fprintf(out, tb->nrow_axes || c || m ? " & " : "");
            latex_text(out, label);
        }
    fprintf(out, " \\\\\n\\midrule\n");
    for (int r = 0; r < tb->nrow_keys; r++) {
        for (int i = 0; i < tb->nrow_axes; i++) {
            if (i) fprintf(out, " & ");
            const char *v = row_value(tb, r, i, "\x01");
            if (strcmp(v, "\x01") == 0)
                fprintf(out, "\\checkmark");
            else
                latex_text(out, v);
        }
        for (int c = 0; c < tb->ncol_keys; c++)
            for (int m = 0; m < tb->nmetrics; m++) {
                const cell *x = unic_table_cell(tb, r, c, m);
                fprintf(out, tb->nrow_axes || c || m ? " & " : "");
                if (x->status != CELL_OK) {
                    fprintf(out, "\\textit{%s}", status_text(x));
                    continue;
                }
                number_text(tb, x, " $\\pm$ ", num, sizeof num);
                fprintf(out, x->best ? "\\textbf{%s} (%d)" : "%s (%d)", num, x->n);
            }
        fprintf(out, " \\\\\n");
    }
    fprintf(out, "\\bottomrule\n\\end{tabular}\n");
}

/* ---- JSON --------------------------------------------------------------- */

static cJSON *cell_json(const cell *x)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", x->status == CELL_OK ? "done" : status_text(x));
    if (x->status == CELL_OK) {
        cJSON_AddNumberToObject(o, "mean", x->mean);
        cJSON_AddNumberToObject(o, "std", x->std);
    } else {
        cJSON_AddNullToObject(o, "mean");
        cJSON_AddNullToObject(o, "std");
    }
    cJSON_AddNumberToObject(o, "n", x->n);
    cJSON_AddNumberToObject(o, "points", x->total);
    cJSON_AddBoolToObject(o, "best", x->best);
    return o;
}

static void render_json(const table *tb, FILE *out)
{
    cJSON *root = cJSON_CreateObject(), *cols = cJSON_CreateArray(), *rows = cJSON_CreateArray();
    char label[512];
    cJSON_AddStringToObject(root, "grid", tb->v->dir);
    if (tb->t->title) cJSON_AddStringToObject(root, "title", tb->t->title);
    cJSON_AddStringToObject(root, "std", "sample (ddof = 1) over seeds");
    for (int c = 0; c < tb->ncol_keys; c++)
        for (int m = 0; m < tb->nmetrics; m++) {
            column_label(tb, c, m, label, sizeof label);
            cJSON_AddItemToArray(cols, cJSON_CreateString(label));
        }
    cJSON_AddItemToObject(root, "columns", cols);
    for (int r = 0; r < tb->nrow_keys; r++) {
        cJSON *row = cJSON_CreateObject(), *axes = cJSON_CreateObject(), *cells = cJSON_CreateArray();
        for (int i = 0; i < tb->nrow_axes; i++) {
            int a = tb->row_axis[i];
            cJSON_AddStringToObject(axes, tb->v->axes[a].key, tb->v->axes[a].values[tb->row_keys[r][i]]);
        }
        for (int c = 0; c < tb->ncol_keys; c++)
            for (int m = 0; m < tb->nmetrics; m++)
                cJSON_AddItemToArray(cells, cell_json(unic_table_cell(tb, r, c, m)));
        cJSON_AddItemToObject(row, "axes", axes);
        cJSON_AddItemToObject(row, "cells", cells);
        cJSON_AddItemToArray(rows, row);
    }
    cJSON_AddItemToObject(root, "rows", rows);
    char *text = cJSON_Print(root);
    fprintf(out, "%s\n", text);
    free(text);
    cJSON_Delete(root);
}

void unic_table_render(const table *tb, FILE *out)
{
    switch (tb->t->format) {
    case UNIC_TABLE_MD: render_md(tb, out); break;
    case UNIC_TABLE_CSV: render_csv(tb, out); break;
    case UNIC_TABLE_LATEX: render_latex(tb, out); break;
    case UNIC_TABLE_JSON: render_json(tb, out); break;
    }
}
