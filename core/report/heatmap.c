#include "report/heatmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "report/png.h"

#define LABEL_CHARS 28 /* row names longer than this are cut (the tooltip has them whole) */

/* Matplotlib's "Blues", five stops, by a cell's share of its row. */
static void shade(double v, uint8_t rgb[3])
{
    static const uint8_t stops[5][3] = {
        {247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}};
    if (!(v > 0)) {
        rgb[0] = rgb[1] = rgb[2] = 255;
        return;
    }
    if (v > 1) v = 1;
    double x = v * 4;
    int i = x >= 4 ? 3 : (int)x;
    double t = x - i;
    for (int k = 0; k < 3; k++)
        rgb[k] = (uint8_t)lrint(stops[i][k] + t * (stops[i + 1][k] - stops[i][k]));
}

static double cell_share(const unic_confusion *c, const int64_t *row_sum, int r, int j)
{
    return row_sum[r] ? (double)c->counts[(size_t)r * (size_t)c->ncols + (size_t)j] /
                            (double)row_sum[r]
                      : 0.0;
}

/* A row name cut to LABEL_CHARS bytes on a UTF-8 boundary, with an ellipsis. */
static void short_name(const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    if (n <= LABEL_CHARS) {
        snprintf(out, len, "%s", name);
        return;
    }
    size_t cut = LABEL_CHARS - 1;
    while (cut > 0 && ((unsigned char)name[cut] & 0xC0) == 0x80) cut--;
    snprintf(out, len, "%.*s\xe2\x80\xa6", (int)cut, name);
}

static void cells_png(unic_html *h, const unic_confusion *c, const int64_t *row_sum, double x0,
                      double y0, double cs)
{
    uint8_t *rgb = unic_xmalloc((size_t)c->nrows * (size_t)c->ncols * 3);
    for (int r = 0; r < c->nrows; r++)
        for (int j = 0; j < c->ncols; j++)
            shade(cell_share(c, row_sum, r, j), rgb + ((size_t)r * (size_t)c->ncols + (size_t)j) * 3);
    size_t n;
    unsigned char *png = unic_png_encode_rgb(rgb, c->ncols, c->nrows, &n);
    unic_xfree(rgb);
    if (!png) return;
    unic_html_printf(h, "<image class=\"cells\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                     "height=\"%.1f\" preserveAspectRatio=\"none\" "
                     "style=\"image-rendering:pixelated\" href=\"", x0, y0, cs * c->ncols,
                     cs * c->nrows);
    unic_html_data_uri(h, "image/png", png, n);
    unic_html_raw(h, "\"/>\n");
    free(png);
}

static void cells_rects(unic_html *h, const unic_heatmap *m, const int64_t *row_sum, double x0,
                        double y0, double cs)
{
    const unic_confusion *c = m->c;
    double font = cs * 0.36 < 11 ? cs * 0.36 : 11;
    for (int r = 0; r < c->nrows; r++)
        for (int j = 0; j < c->ncols; j++) {
            int64_t v = c->counts[(size_t)r * (size_t)c->ncols + (size_t)j];
            double share = cell_share(c, row_sum, r, j);
            uint8_t rgb[3];
            shade(share, rgb);
            double x = x0 + j * cs, y = y0 + r * cs;
            unic_html_printf(h, "<rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                             "height=\"%.1f\" fill=\"#%02x%02x%02x\"><title>", x, y, cs, cs,
                             rgb[0], rgb[1], rgb[2]);
            unic_html_text(h, m->row_name[r]);
            unic_html_printf(h, " in cluster %d: %lld (%.1f%% of the class)</title></rect>\n",
                             c->cluster_value[j], (long long)v, 100 * share);
            if (cs >= 24 && v > 0)
                unic_html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" "
                                 "text-anchor=\"middle\" fill=\"%s\">%lld</text>\n", x + cs / 2,
                                 y + cs / 2 + font * 0.36, font, share > 0.55 ? "#fff" : "#1d2330",
                                 (long long)v);
        }
    /* the matched cells: the diagonal of the matching */
    for (int j = 0; j < c->ncols; j++)
        if (c->matched_row[j] >= 0)
            unic_html_printf(h, "<rect class=\"matched\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                             "height=\"%.1f\" fill=\"none\" stroke=\"#e8590c\" "
                             "stroke-width=\"%.1f\"/>\n", x0 + j * cs + 0.5,
                             y0 + c->matched_row[j] * cs + 0.5, cs - 1, cs - 1, cs >= 12 ? 1.5 : 1);
}

void unic_heatmap_svg(unic_html *h, const unic_heatmap *m)
{
    const unic_confusion *c = m->c;
    int k = c->nrows > c->ncols ? c->nrows : c->ncols;
    int rects = (int64_t)c->nrows * c->ncols <= UNIC_HEATMAP_MAX_RECTS;
    double cs = k <= 10 ? 44 : k <= 16 ? 34 : k <= 24 ? 26 : k <= 40 ? 18 : k <= 60 ? 12
                                                           : fmax(3.0, 760.0 / k);
    int64_t *row_sum = unic_xcalloc((size_t)c->nrows, sizeof(int64_t));
    for (int r = 0; r < c->nrows; r++)
        for (int j = 0; j < c->ncols; j++) row_sum[r] += c->counts[(size_t)r * (size_t)c->ncols + (size_t)j];
    /* a label every `every` rows and columns, so labels never overlap */
    int every = cs >= 13 ? 1 : (int)ceil(13.0 / cs);
    size_t longest = 0;
    for (int r = 0; r < c->nrows; r++) {
        size_t n = strlen(m->row_name[r]);
        longest = n > longest ? n : longest;
    }
    if (longest > LABEL_CHARS) longest = LABEL_CHARS;
    double tag = m->row_old ? 40 : 0;
    double left = 30 + 7.0 * (double)longest + tag, top = 58;
    double width = left + cs * c->ncols + 110, height = top + cs * c->nrows + 30;
    unic_html_printf(h, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\" id=\"%s\" "
                     "data-rows=\"%d\" data-cols=\"%d\" width=\"%.0f\" height=\"%.0f\" "
                     "viewBox=\"0 0 %.0f %.0f\" font-family=\"system-ui, DejaVu Sans, Arial, "
                     "sans-serif\" font-size=\"12\">\n", m->id, c->nrows, c->ncols, width, height,
                     width, height);
    unic_html_printf(h, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n", width, height);
    unic_html_printf(h, "<text x=\"%.1f\" y=\"16\" text-anchor=\"middle\" fill=\"#5b6475\">"
                     "cluster (ordered by its matched class; outlined: the matching)</text>\n",
                     left + cs * c->ncols / 2);
    unic_html_printf(h, "<text x=\"12\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#5b6475\" "
                     "transform=\"rotate(-90 12 %.1f)\">true class</text>\n",
                     top + cs * c->nrows / 2, top + cs * c->nrows / 2);
    /* column labels: cluster ids */
    for (int j = 0; j < c->ncols; j += every) {
        double x = left + (j + 0.5) * cs;
        if (cs >= 24)
            unic_html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n",
                             x, top - 8, c->cluster_value[j]);
        else
            unic_html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" "
                             "transform=\"rotate(-90 %.1f %.1f)\">%d</text>\n", x + 3.5,
                             top - 4, x + 3.5, top - 4, c->cluster_value[j]);
    }
    /* row labels: class names, GCD's old/new */
    for (int r = 0; r < c->nrows; r += every) {
        char name[LABEL_CHARS * 4 + 8];
        short_name(m->row_name[r], name, sizeof name);
        double y = top + (r + 0.5) * cs + 4;
        unic_html_printf(h, "<text class=\"row\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
                         "font-size=\"%d\"><title>", left - 6 - tag, y, cs >= 12 ? 12 : 10);
        unic_html_text(h, m->row_name[r]);
        unic_html_raw(h, "</title>");
        unic_html_text(h, name);
        unic_html_raw(h, "</text>\n");
        if (m->row_old)
            unic_html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%s\">%s"
                             "</text>\n", left - tag, y, m->row_old[r] ? "#1f6f3f" : "#a4471b",
                             m->row_old[r] ? "old" : "new");
    }
    if (rects)
        cells_rects(h, m, row_sum, left, top, cs);
    else
        cells_png(h, c, row_sum, left, top, cs);
    unic_html_printf(h, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                     "stroke=\"#333\"/>\n", left, top, cs * c->ncols, cs * c->nrows);
    /* legend: share of the class */
    double lx = left + cs * c->ncols + 30, ly = top, lh = fmin(200.0, cs * c->nrows);
    for (int s = 0; s < 20; s++) {
        uint8_t rgb[3];
        shade(1.0 - (s + 0.5) / 20.0, rgb);
        unic_html_printf(h, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.2f\" "
                         "fill=\"#%02x%02x%02x\"/>\n", lx, ly + s * lh / 20, lh / 20 + 0.3,
                         rgb[0], rgb[1], rgb[2]);
    }
    unic_html_printf(h, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.1f\" fill=\"none\" "
                     "stroke=\"#999\"/>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">100%%</text>\n"
                     "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">0%%</text>\n<text x=\"%.1f\" "
                     "y=\"%.1f\" font-size=\"11\" fill=\"#5b6475\">of the</text>\n<text x=\"%.1f\" "
                     "y=\"%.1f\" font-size=\"11\" fill=\"#5b6475\">class</text>\n", lx, ly, lh,
                     lx + 18, ly + 9, lx + 18, ly + lh, lx, ly + lh + 16, lx, ly + lh + 29);
    unic_html_raw(h, "</svg>\n");
    unic_xfree(row_sum);
}
