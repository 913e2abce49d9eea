#include "report/bars.h"

#include <math.h>
#include <stdio.h>

#define W 520.0
#define H 330.0
#define L 74.0
#define R 18.0
#define T 38.0
#define B 52.0

static double nice_step(double range, int want)
{
    double raw = range / want, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static double value(const unic_bars *b, int i)
{
    double v = b->count[i];
    return isfinite(v) && v > 0 ? v : 0;
}

void unic_bars_svg(unic_html *h, const unic_bars *b)
{
    double ymax = 0, x0 = INFINITY, x1 = -INFINITY;
    for (int i = 0; i < b->n; i++) {
        ymax = fmax(ymax, value(b, i));
        if (isfinite(b->lo[i])) x0 = fmin(x0, b->lo[i]);
        if (isfinite(b->hi[i])) x1 = fmax(x1, b->hi[i]);
    }
    if (!(ymax > 0)) ymax = 1;
    if (!(x0 < x1)) x0 = 0, x1 = 1;
    double pw = W - L - R, ph = H - T - B;
    unic_html_printf(h, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"bars\" id=\"%s\" "
                     "data-bins=\"%d\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                     "font-family=\"system-ui, DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n"
                     "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n", b->id, b->n, W, H,
                     W, H, W, H);
    double ystep = nice_step(ymax * 1.05, 5), ytop = ceil(ymax * 1.05 / ystep) * ystep;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + ph - (v) / ytop * ph)
    for (double v = 0; v <= ytop + ystep * 1e-9; v += ystep)
        unic_html_printf(h, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
                         "stroke=\"#e5e5e5\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g"
                         "</text>\n", L, L + pw, PY(v), PY(v), L - 8, PY(v) + 4, v);
    double xstep = nice_step(x1 - x0, 6);
    for (double k = ceil(x0 / xstep - 1e-9); k * xstep <= x1 + xstep * 1e-9; k++)
        unic_html_printf(h, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
                         "stroke=\"#333\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g"
                         "</text>\n", PX(k * xstep), PX(k * xstep), T + ph, T + ph + 5,
                         PX(k * xstep), T + ph + 19, k * xstep);
    for (int i = 0; i < b->n; i++) {
        if (!isfinite(b->lo[i]) || !isfinite(b->hi[i])) continue;
        double xa = PX(b->lo[i]), xb = PX(b->hi[i]), v = value(b, i);
        unic_html_printf(h, "<rect class=\"bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                         "height=\"%.2f\" fill=\"#4a7cc9\"><title>%g to %g: %g</title></rect>\n",
                         xa + 0.5, PY(v), fmax(xb - xa - 1, 0.8), T + ph - PY(v), b->lo[i],
                         b->hi[i], v);
    }
    unic_html_printf(h, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                     "fill=\"none\" stroke=\"#333\"/>\n", L, T, pw, ph);
    unic_html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" "
                     "font-weight=\"bold\">", L + pw / 2, T - 14);
    unic_html_text(h, b->title);
    unic_html_printf(h, "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                     L + pw / 2, T + ph + 40);
    unic_html_text(h, b->xlabel);
    unic_html_printf(h, "</text>\n<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" "
                     "transform=\"rotate(-90 18 %.1f)\">", T + ph / 2, T + ph / 2);
    unic_html_text(h, b->ylabel);
    unic_html_raw(h, "</text>\n</svg>\n");
#undef PX
#undef PY
}
