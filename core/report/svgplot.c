#include "report/svgplot.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

/* Panel geometry in SVG user units (pixels at 100% zoom). */
#define PANEL_W 520.0
#define PLOT_H 290.0
#define MARGIN_L 74.0
#define MARGIN_R 18.0
#define MARGIN_T 38.0
#define AXIS_H 52.0   /* tick labels and the x label under the plot area */
#define LEGEND_ROW 20.0
#define LEGEND_MAX 64 /* entries drawn per panel */

static const char *const palette[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

typedef struct sbuf {
    char *data;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (m < 0) return;
        if ((size_t)m < b->cap - b->len) {
            b->len += (size_t)m;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)m + 1;
        char *grown = unic_xmalloc(cap);
        memcpy(grown, b->data, b->len);
        unic_xfree(b->data);
        b->data = grown;
        b->cap = cap;
    }
}

/* Legend and label text comes from users (file names, series names). */
static void sb_text(sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': sb_printf(b, "&amp;"); break;
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        default: sb_printf(b, "%c", *s);
        }
    }
}

/* A 1-2-5 step giving about `want` intervals over the range. */
static double nice_step(double range, int want)
{
    double raw = range / want, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static void fit_axis(const unic_svg_plot *p, int axis_y, double *lo, double *hi)
{
    *lo = axis_y ? p->ymin : p->xmin;
    *hi = axis_y ? p->ymax : p->xmax;
    if (*lo < *hi) return;
    double a = INFINITY, b = -INFINITY;
    for (int s = 0; s < p->nseries; s++) {
        const unic_svg_series *se = &p->series[s];
        for (int i = 0; i < se->n; i++) {
            double v = axis_y ? se->y[i] : se->x[i];
            if (!isfinite(se->y[i]) || !isfinite(v)) continue;
            a = v < a ? v : a;
            b = v > b ? v : b;
            if (axis_y && se->lo && se->hi && isfinite(se->lo[i]) && isfinite(se->hi[i])) {
                a = se->lo[i] < a ? se->lo[i] : a;
                b = se->hi[i] > b ? se->hi[i] : b;
            }
        }
    }
    if (axis_y && p->hline && isfinite(p->hline_y)) {
        a = p->hline_y < a ? p->hline_y : a;
        b = p->hline_y > b ? p->hline_y : b;
    }
    if (!(a <= b)) a = 0, b = 1; /* no data at all */
    if (a == b) { /* a flat line still needs a visible range */
        double pad = a != 0 ? fabs(a) * 0.1 : 0.5;
        a -= pad;
        b += pad;
    } else if (axis_y) { /* keep lines off the frame */
        double pad = (b - a) * 0.04;
        a -= pad;
        b += pad;
    }
    *lo = a;
    *hi = b;
}

static void tick_label(char *buf, size_t len, double v, double step)
{
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-9) v = 0; /* no "-0" from accumulated rounding */
    if (fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-4))
        snprintf(buf, len, "%g", v);
    else
        snprintf(buf, len, "%.*f", decimals, v);
}

/* Legend entries wrap into rows under the x label; returns the row count. */
static int legend_rows(const unic_svg_plot *p, double width, double *xs, int *rows_of)
{
    int entries = p->nseries + (p->hline && p->hline_name ? 1 : 0);
    double x = 0;
    int row = 0;
    for (int e = 0; e < entries; e++) {
        const char *name = e < p->nseries ? p->series[e].name : p->hline_name;
        double w = 34 + 6.6 * (double)strlen(name ? name : "") + 14;
        if (x > 0 && x + w > width) {
            row++;
            x = 0;
        }
        if (xs && e < LEGEND_MAX) xs[e] = x, rows_of[e] = row;
        x += w;
    }
    return entries ? row + 1 : 0;
}

static void render_panel(sbuf *b, const unic_svg_plot *p, const char *id, int index, double ox)
{
    double x0, x1, y0, y1;
    fit_axis(p, 0, &x0, &x1);
    fit_axis(p, 1, &y0, &y1);
    double left = ox + MARGIN_L, top = MARGIN_T;
    double w = PANEL_W - MARGIN_L - MARGIN_R, h = PLOT_H;
#define PX(v) (left + ((v) - x0) / (x1 - x0) * w)
#define PY(v) (top + h - ((v) - y0) / (y1 - y0) * h)
    sb_printf(b, "<g>\n<clipPath id=\"%sclip%d\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
              "height=\"%.2f\"/></clipPath>\n", id, index, left, top, w, h);
    sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#ffffff\" "
              "stroke=\"#333333\" stroke-width=\"1\"/>\n", left, top, w, h);
    /* ticks and grid */
    char label[64];
    double step = nice_step(x1 - x0, 6);
    for (double k = ceil(x0 / step - 1e-9); k * step <= x1 + step * 1e-9; k++) {
        double v = k * step, px = PX(v);
        tick_label(label, sizeof label, v, step);
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e5e5e5\"/>\n",
                  px, top, px, top + h);
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333333\"/>\n",
                  px, top + h, px, top + h + 5);
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n", px,
                  top + h + 19, label);
    }
    step = nice_step(y1 - y0, 5);
    for (double k = ceil(y0 / step - 1e-9); k * step <= y1 + step * 1e-9; k++) {
        double v = k * step, py = PY(v);
        tick_label(label, sizeof label, v, step);
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e5e5e5\"/>\n",
                  left, py, left + w, py);
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333333\"/>\n",
                  left - 5, py, left, py);
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n", left - 8,
                  py + 4, label);
    }
    /* titles */
    sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"14\" "
              "font-weight=\"bold\">", left + w / 2, top - 14);
    sb_text(b, p->title);
    sb_printf(b, "</text>\n<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", left + w / 2,
              top + h + 40);
    sb_text(b, p->xlabel);
    sb_printf(b, "</text>\n<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
              "transform=\"rotate(-90 %.2f %.2f)\">", ox + 18, top + h / 2, ox + 18, top + h / 2);
    sb_text(b, p->ylabel);
    sb_printf(b, "</text>\n");
    /* data, clipped to the plot area so zoomed panels stay inside it */
    sb_printf(b, "<g clip-path=\"url(#%sclip%d)\" fill=\"none\" stroke-width=\"1.8\" "
              "stroke-linejoin=\"round\">\n", id, index);
    if (p->hline && isfinite(p->hline_y))
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444444\" "
                  "stroke-dasharray=\"6,4\"/>\n", left, PY(p->hline_y), left + w, PY(p->hline_y));
    for (int s = 0; s < p->nseries; s++) { /* bands first, under every line */
        const unic_svg_series *se = &p->series[s];
        if (!se->lo || !se->hi) continue;
        const char *colour = palette[s % (int)(sizeof palette / sizeof *palette)];
        sb_printf(b, "<polygon stroke=\"none\" fill=\"%s\" fill-opacity=\"0.18\" points=\"", colour);
        for (int j = 0; j < se->n; j++)
            if (isfinite(se->x[j]) && isfinite(se->hi[j]))
                sb_printf(b, "%.2f,%.2f ", PX(se->x[j]), PY(se->hi[j]));
        for (int j = se->n - 1; j >= 0; j--)
            if (isfinite(se->x[j]) && isfinite(se->lo[j]))
                sb_printf(b, "%.2f,%.2f ", PX(se->x[j]), PY(se->lo[j]));
        sb_printf(b, "\"/>\n");
    }
    for (int s = 0; s < p->nseries; s++) {
        const unic_svg_series *se = &p->series[s];
        const char *colour = palette[s % (int)(sizeof palette / sizeof *palette)];
        int i = 0;
        while (i < se->n) { /* one polyline per run of finite points */
            while (i < se->n && !(isfinite(se->x[i]) && isfinite(se->y[i]))) i++;
            int start = i;
            while (i < se->n && isfinite(se->x[i]) && isfinite(se->y[i])) i++;
            if (i - start == 1)
                sb_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" fill=\"%s\"/>\n",
                          PX(se->x[start]), PY(se->y[start]), colour);
            else if (i > start) {
                sb_printf(b, "<polyline stroke=\"%s\" points=\"", colour);
                for (int j = start; j < i; j++)
                    sb_printf(b, "%.2f,%.2f ", PX(se->x[j]), PY(se->y[j]));
                sb_printf(b, "\"/>\n");
            }
        }
    }
    sb_printf(b, "</g>\n");
    /* legend */
    int entries = p->nseries + (p->hline && p->hline_name ? 1 : 0);
    double xs[LEGEND_MAX];
    int rows[LEGEND_MAX];
    if (entries > LEGEND_MAX) entries = LEGEND_MAX;
    legend_rows(p, w, xs, rows);
    for (int e = 0; e < entries; e++) {
        double lx = left + xs[e], ly = top + h + AXIS_H + 8 + rows[e] * LEGEND_ROW;
        if (e < p->nseries)
            sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                      "stroke-width=\"2.5\"/>\n", lx, ly, lx + 26, ly,
                      palette[e % (int)(sizeof palette / sizeof *palette)]);
        else
            sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444444\" "
                      "stroke-width=\"1.8\" stroke-dasharray=\"6,4\"/>\n", lx, ly, lx + 26, ly);
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\">", lx + 32, ly + 4);
        sb_text(b, e < p->nseries ? p->series[e].name : p->hline_name);
        sb_printf(b, "</text>\n");
    }
    sb_printf(b, "</g>\n");
#undef PX
#undef PY
}

/* The figure as SVG text (malloc'ed, *len bytes without the NUL). */
static char *render(const unic_svg_plot *plots, int nplots, const char *id, size_t *len)
{
    int rows = 0;
    for (int i = 0; i < nplots; i++) {
        int r = legend_rows(&plots[i], PANEL_W - MARGIN_L - MARGIN_R, NULL, NULL);
        rows = r > rows ? r : rows;
    }
    double width = PANEL_W * nplots, height = MARGIN_T + PLOT_H + AXIS_H + rows * LEGEND_ROW + 14;
    sbuf b = {unic_xmalloc(1 << 16), 0, 1 << 16};
    sb_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
              "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, "
              "sans-serif\" font-size=\"12\">\n", width, height, width, height);
    sb_printf(&b, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
              width, height);
    for (int i = 0; i < nplots; i++) render_panel(&b, &plots[i], id, i, PANEL_W * i);
    sb_printf(&b, "</svg>\n");
    *len = b.len;
    return b.data;
}

int unic_svg_write(const char *path, const unic_svg_plot *plots, int nplots, char *err,
                   size_t errlen)
{
    if (nplots < 1) return unic_errf(err, errlen, "%s: a figure needs at least one plot", path);
    size_t len;
    char *text = render(plots, nplots, "", &len);
    int rc = unic_write_file_atomic(path, text, len, err, errlen);
    unic_xfree(text);
    return rc;
}

char *unic_svg_render(const unic_svg_plot *plots, int nplots, const char *id_prefix, size_t *len)
{
    size_t n;
    char *text = render(plots, nplots > 0 ? nplots : 0, id_prefix ? id_prefix : "", &n);
    if (len) *len = n;
    return text;
}
