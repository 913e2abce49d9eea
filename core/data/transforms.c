/* The image transforms of torchvision's PIL path, reproduced to the pixel:
 * Pillow's separable resampling (libImaging/Resample.c) with its fixed-point
 * 8-bit passes, torchvision's crop geometry (Python rounding included), and
 * PIL's ImageEnhance blends and HSV conversions. */
#include <math.h>
#include <string.h>

/* Pillow is built for baseline x86-64, so its float expressions round after
 * every operation; with -march=x86-64-v3 and GNU C, GCC would fuse a*b+c into
 * FMAs and move results by one unit here and there. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "data/image.h"
#include "base/util.h"

/* ---- resampling ------------------------------------------------------------
 * Pillow computes, per output position, the filter taps in double, normalises
 * them to sum 1 and rounds them to fixed point with PRECISION_BITS fractional
 * bits; each pass then sums 8-bit pixels times taps in int32 from a rounding
 * bias of one half, shifts and clips back to 8 bits. Doing the same integer
 * arithmetic in the same order of passes gives Pillow's pixels exactly. */
#define PRECISION_BITS (32 - 8 - 2)

typedef struct {
    int ksize;      /* taps per output position (stride of k) */
    int *first;     /* first input index per output position */
    int *count;     /* taps used per output position */
    int32_t *k;     /* out_size x ksize fixed-point taps */
} resample_coeffs;

static double filter_bilinear(double x)
{
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

/* Keys' cubic with a = -0.5, PIL's choice (not the -0.75 of OpenCV/torch). */
static double filter_bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static void coeffs_free(resample_coeffs *c)
{
    unic_xfree(c->first);
    unic_xfree(c->count);
    unic_xfree(c->k);
}

/* The taps mapping in_size samples onto out_size, as Pillow's
 * precompute_coeffs + normalize_coeffs_8bpc (box = the whole input). The
 * expressions keep Pillow's order of double operations so that the rounded
 * integer taps are the same. */
static void coeffs_make(int in_size, int out_size, unic_interp interp, resample_coeffs *c)
{
    double (*filter)(double) = interp == UNIC_BICUBIC ? filter_bicubic : filter_bilinear;
    double fsupport = interp == UNIC_BICUBIC ? 2.0 : 1.0;
    double scale = (double)((float)in_size - 0.0f) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = fsupport * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->first = unic_xmalloc(sizeof(int) * out_size);
    c->count = unic_xmalloc(sizeof(int) * out_size);
    c->k = unic_xmalloc(sizeof(int32_t) * (size_t)out_size * ksize);
    double *w = unic_xmalloc(sizeof(double) * ksize);
    double ss = 1.0 / filterscale;
    for (int xx = 0; xx < out_size; xx++) {
        double center = 0.0 + (xx + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = filter((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + (size_t)xx * ksize;
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? w[x] / ww : w[x]) : 0.0;
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        c->first[xx] = xmin;
        c->count[xx] = xmax;
    }
    unic_xfree(w);
}

static inline uint8_t clip8(int32_t v)
{
    if (v >= (int32_t)(256u << PRECISION_BITS)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* Rows [y0, y0 + rows) of in, resampled along x into out (rows x out_w x c),
 * for output columns [x0, x0 + out_w) of the coefficients. */
static void resample_h(const uint8_t *in, int in_w, int c, int y0, int rows, int x0, int out_w,
                       const resample_coeffs *cf, uint8_t *out)
{
    const int32_t half = 1 << (PRECISION_BITS - 1);
    for (int y = 0; y < rows; y++) {
        const uint8_t *src = in + (size_t)(y0 + y) * in_w * c;
        uint8_t *dst = out + (size_t)y * out_w * c;
        if (c == 3) {
            for (int xx = 0; xx < out_w; xx++) {
                const int32_t *k = cf->k + (size_t)(x0 + xx) * cf->ksize;
                const uint8_t *s = src + (size_t)cf->first[x0 + xx] * 3;
                int n = cf->count[x0 + xx];
                int32_t s0 = half, s1 = half, s2 = half;
                for (int t = 0; t < n; t++) {
                    s0 += s[3 * t + 0] * k[t];
                    s1 += s[3 * t + 1] * k[t];
                    s2 += s[3 * t + 2] * k[t];
                }
                dst[3 * xx + 0] = clip8(s0);
                dst[3 * xx + 1] = clip8(s1);
                dst[3 * xx + 2] = clip8(s2);
            }
        } else {
            for (int xx = 0; xx < out_w; xx++) {
                const int32_t *k = cf->k + (size_t)(x0 + xx) * cf->ksize;
                const uint8_t *s = src + (size_t)cf->first[x0 + xx] * c;
                int n = cf->count[x0 + xx];
                for (int ch = 0; ch < c; ch++) {
                    int32_t acc = half;
                    for (int t = 0; t < n; t++) acc += s[c * t + ch] * k[t];
                    dst[c * xx + ch] = clip8(acc);
                }
            }
        }
    }
}

/* Resamples along y: output row yy (of the coefficients' rows y0 ...) sums
 * input rows first[y0 + yy] - y_off ..., row_len bytes each, stride apart.
 * A whole row accumulates at once, so the inner loop runs over contiguous
 * bytes and vectorises; integer sums make the order immaterial. */
static void resample_v(const uint8_t *in, size_t stride, int row_len, int y_off, int y0,
                       int out_h, const resample_coeffs *cf, uint8_t *out)
{
    const int32_t half = 1 << (PRECISION_BITS - 1);
    int32_t *acc = unic_xmalloc(sizeof(int32_t) * (size_t)row_len);
    for (int yy = 0; yy < out_h; yy++) {
        const int32_t *k = cf->k + (size_t)(y0 + yy) * cf->ksize;
        const uint8_t *src = in + (size_t)(cf->first[y0 + yy] - y_off) * stride;
        int n = cf->count[y0 + yy];
        for (int i = 0; i < row_len; i++) acc[i] = half;
        for (int t = 0; t < n; t++) {
            const uint8_t *r = src + (size_t)t * stride;
            int32_t kt = k[t];
            for (int i = 0; i < row_len; i++) acc[i] += r[i] * kt;
        }
        uint8_t *dst = out + (size_t)yy * row_len;
        for (int i = 0; i < row_len; i++) dst[i] = clip8(acc[i]);
    }
    unic_xfree(acc);
}

int unic_resize_window(const unic_image *in, int out_w, int out_h, unic_interp interp, int x,
                       int y, int w, int h, unic_image *out)
{
    if (out_w <= 0 || out_h <= 0 || in->w <= 0 || in->h <= 0 || w <= 0 || h <= 0 || x < 0 ||
        y < 0 || x + w > out_w || y + h > out_h)
        return -1;
    int c = in->c;
    int need_h = out_w != in->w, need_v = out_h != in->h;
    if (!need_h && !need_v) return unic_crop(in, x, y, w, h, out);
    unic_image_alloc(out, w, h, c);
    resample_coeffs ch = {0}, cv = {0};
    if (!need_v) {
        coeffs_make(in->w, out_w, interp, &ch);
        resample_h(in->px, in->w, c, y, h, x, w, &ch, out->px);
        coeffs_free(&ch);
        return 0;
    }
    coeffs_make(in->h, out_h, interp, &cv);
    if (!need_h) {
        resample_v(in->px + (size_t)x * c, (size_t)in->w * c, w * c, 0, y, h, &cv, out->px);
        coeffs_free(&cv);
        return 0;
    }
    /* Only the input rows the vertical taps touch go through the horizontal
     * pass (Pillow does the same for its box; it also skips work outside a
     * crop window here). */
    int y_first = cv.first[y];
    int y_last = cv.first[y + h - 1] + cv.count[y + h - 1];
    coeffs_make(in->w, out_w, interp, &ch);
    uint8_t *tmp = unic_xmalloc((size_t)(y_last - y_first) * w * c);
    resample_h(in->px, in->w, c, y_first, y_last - y_first, x, w, &ch, tmp);
    resample_v(tmp, (size_t)w * c, w * c, y_first, y, h, &cv, out->px);
    unic_xfree(tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    return 0;
}

int unic_resize(const unic_image *in, int out_w, int out_h, unic_interp interp, unic_image *out)
{
    return unic_resize_window(in, out_w, out_h, interp, 0, 0, out_w, out_h, out);
}

int unic_resize_short(const unic_image *in, int size, unic_interp interp, unic_image *out)
{
    int w = in->w, h = in->h;
    int shorter = w <= h ? w : h, longer = w <= h ? h : w;
    /* Python's int(size * long / short): a correctly rounded true division
     * (as the double one here), truncated. */
    int new_long = (int)((double)((long long)size * longer) / shorter);
    return w <= h ? unic_resize(in, size, new_long, interp, out)
                  : unic_resize(in, new_long, size, interp, out);
}

/* ---- geometry ------------------------------------------------------------- */
int unic_crop(const unic_image *in, int x, int y, int w, int h, unic_image *out)
{
    if (w <= 0 || h <= 0) return -1;
    int c = in->c;
    unic_image_alloc(out, w, h, c);
    int x0 = x < 0 ? 0 : x, x1 = x + w < in->w ? x + w : in->w;
    int y0 = y < 0 ? 0 : y, y1 = y + h < in->h ? y + h : in->h;
    if (x0 >= x1 || y0 >= y1) {
        memset(out->px, 0, (size_t)w * h * c);
        return 0;
    }
    int inside = x0 == x && x1 == x + w && y0 == y && y1 == y + h;
    if (!inside) memset(out->px, 0, (size_t)w * h * c);
    size_t span = (size_t)(x1 - x0) * c;
    for (int yy = y0; yy < y1; yy++)
        memcpy(out->px + ((size_t)(yy - y) * w + (x0 - x)) * c,
               in->px + ((size_t)yy * in->w + x0) * c, span);
    return 0;
}

/* torchvision's offset for one dimension: zero padding split as
 * (crop - size) // 2 before when the crop is larger, else
 * int(round((size - crop) / 2.0)) with round half to even (rint). */
static int center_offset(int size, int crop)
{
    if (crop > size) return -((crop - size) / 2);
    return (int)rint((size - crop) / 2.0);
}

int unic_center_crop(const unic_image *in, int w, int h, unic_image *out)
{
    return unic_crop(in, center_offset(in->w, w), center_offset(in->h, h), w, h, out);
}

int unic_hflip(const unic_image *in, unic_image *out)
{
    int w = in->w, c = in->c;
    unic_image_alloc(out, w, in->h, c);
    for (int y = 0; y < in->h; y++) {
        const uint8_t *s = in->px + (size_t)y * w * c;
        uint8_t *d = out->px + (size_t)y * w * c;
        if (c == 3) {
            for (int x = 0; x < w; x++) {
                d[3 * x + 0] = s[3 * (w - 1 - x) + 0];
                d[3 * x + 1] = s[3 * (w - 1 - x) + 1];
                d[3 * x + 2] = s[3 * (w - 1 - x) + 2];
            }
        } else {
            for (int x = 0; x < w; x++) memcpy(d + x * c, s + (size_t)(w - 1 - x) * c, c);
        }
    }
    return 0;
}

void unic_random_resized_crop_box(int w, int h, float scale_lo, float scale_hi, float ratio_lo,
                                  float ratio_hi, unic_rng *rng, int *x, int *y, int *cw, int *ch)
{
    double area = (double)w * h;
    double log_lo = log(ratio_lo), log_hi = log(ratio_hi);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (scale_lo + (scale_hi - scale_lo) * (double)unic_rng_uniform(rng));
        double aspect = exp(log_lo + (log_hi - log_lo) * (double)unic_rng_uniform(rng));
        int tw = (int)rint(sqrt(target * aspect));
        int th = (int)rint(sqrt(target / aspect));
        if (tw > 0 && tw <= w && th > 0 && th <= h) {
            /* torchvision draws the row first, then the column */
            *y = (int)unic_rng_below(rng, (uint64_t)(h - th + 1));
            *x = (int)unic_rng_below(rng, (uint64_t)(w - tw + 1));
            *cw = tw;
            *ch = th;
            return;
        }
    }
    double in_ratio = (double)w / h;
    double rmin = ratio_lo < ratio_hi ? ratio_lo : ratio_hi;
    double rmax = ratio_lo < ratio_hi ? ratio_hi : ratio_lo;
    int tw = w, th = h;
    if (in_ratio < rmin) {
        th = (int)rint(w / rmin);
    } else if (in_ratio > rmax) {
        tw = (int)rint(h * rmax);
    }
    *cw = tw;
    *ch = th;
    *x = (w - tw) / 2;
    *y = (h - th) / 2;
}

/* ---- colour ----------------------------------------------------------------
 * ImageEnhance blends the image with a "degenerate" one through
 * Image.blend, which computes in single precision
 *   out = clip(trunc(deg + alpha * (img - deg)))
 * (the alpha argument is narrowed to a C float). */
static inline uint8_t blend8(float deg, float alpha, int img)
{
    float t = deg + alpha * ((float)img - deg);
    if (t <= 0.0f) return 0;
    if (t >= 255.0f) return 255;
    return (uint8_t)t;
}

/* PIL's L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16: 299/587/114 in
 * 16-bit fixed point. */
static inline uint8_t luma(const uint8_t *p)
{
    return (uint8_t)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
}

void unic_adjust_brightness(unic_image *im, float factor)
{
    size_t n = (size_t)im->w * im->h * im->c;
    for (size_t i = 0; i < n; i++) im->px[i] = blend8(0.0f, factor, im->px[i]);
}

void unic_adjust_contrast(unic_image *im, float factor)
{
    size_t npix = (size_t)im->w * im->h, n = npix * im->c;
    if (npix == 0) return;
    /* The degenerate image is gray at int(mean(L) + 0.5), L's mean taken
     * over the whole histogram as ImageStat does. */
    uint64_t sum = 0;
    if (im->c == 3)
        for (size_t i = 0; i < npix; i++) sum += luma(im->px + 3 * i);
    else
        for (size_t i = 0; i < npix; i++) sum += im->px[i * im->c];
    int mean = (int)((double)sum / (double)npix + 0.5);
    for (size_t i = 0; i < n; i++) im->px[i] = blend8((float)mean, factor, im->px[i]);
}

void unic_adjust_saturation(unic_image *im, float factor)
{
    if (im->c != 3) return; /* the gray of a gray image is itself */
    size_t npix = (size_t)im->w * im->h;
    for (size_t i = 0; i < npix; i++) {
        uint8_t *p = im->px + 3 * i;
        float g = (float)luma(p);
        p[0] = blend8(g, factor, p[0]);
        p[1] = blend8(g, factor, p[1]);
        p[2] = blend8(g, factor, p[2]);
    }
}

static inline int clip255(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* PIL's rgb2hsv (Convert.c, after colorsys), float and double steps as
 * there. */
static inline void rgb_to_hsv(const uint8_t *p, uint8_t *h8, uint8_t *s8, uint8_t *v8)
{
    int r = p[0], g = p[1], b = p[2];
    int maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
    int minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
    *v8 = (uint8_t)maxc;
    if (minc == maxc) {
        *h8 = 0;
        *s8 = 0;
        return;
    }
    float cr = (float)(maxc - minc);
    float s = cr / (float)maxc;
    float rc = (float)(maxc - r) / cr;
    float gc = (float)(maxc - g) / cr;
    float bc = (float)(maxc - b) / cr;
    /* float variables, double literals: the sums run in double and narrow
     * to float on assignment, as in Pillow */
    float h;
    if (r == maxc)
        h = bc - gc;
    else if (g == maxc)
        h = (float)(2.0 + rc - bc);
    else
        h = (float)(4.0 + gc - rc);
    h = (float)fmod(h / 6.0 + 1.0, 1.0);
    *h8 = (uint8_t)clip255((int)(h * 255.0));
    *s8 = (uint8_t)clip255((int)(s * 255.0));
}

/* PIL's hsv2rgb. */
static inline void hsv_to_rgb(int h, int s, int v, uint8_t *p)
{
    if (s == 0) {
        p[0] = p[1] = p[2] = (uint8_t)v;
        return;
    }
    int i = (int)floor((float)h * 6.0 / 255.0);
    float f = (float)((float)h * 6.0 / 255.0 - (float)i);
    float fs = (float)((float)s / 255.0);
    uint8_t up = (uint8_t)clip255((int)round((float)v * (1.0 - fs)));
    uint8_t uq = (uint8_t)clip255((int)round((float)v * (1.0 - fs * f)));
    uint8_t ut = (uint8_t)clip255((int)round((float)v * (1.0 - fs * (1.0 - f))));
    uint8_t uv = (uint8_t)v;
    switch (i % 6) {
    case 0: p[0] = uv, p[1] = ut, p[2] = up; break;
    case 1: p[0] = uq, p[1] = uv, p[2] = up; break;
    case 2: p[0] = up, p[1] = uv, p[2] = ut; break;
    case 3: p[0] = up, p[1] = uq, p[2] = uv; break;
    case 4: p[0] = ut, p[1] = up, p[2] = uv; break;
    default: p[0] = uv, p[1] = up, p[2] = uq; break;
    }
}

void unic_adjust_hue(unic_image *im, float shift)
{
    if (im->c != 3) return; /* torchvision leaves gray images alone */
    /* torchvision adds np.uint8(shift * 255) to the uint8 H channel, wrapping;
     * the float -> uint8 cast truncates toward zero, then wraps mod 256. */
    int dh = ((int)((double)shift * 255.0) % 256 + 256) % 256;
    size_t npix = (size_t)im->w * im->h;
    for (size_t i = 0; i < npix; i++) {
        uint8_t *p = im->px + 3 * i;
        uint8_t h, s, v;
        rgb_to_hsv(p, &h, &s, &v);
        hsv_to_rgb((h + dh) & 255, s, v, p);
    }
}

int unic_grayscale(const unic_image *in, int keep_rgb, unic_image *out)
{
    size_t npix = (size_t)in->w * in->h;
    int oc = keep_rgb ? 3 : 1;
    unic_image_alloc(out, in->w, in->h, oc);
    for (size_t i = 0; i < npix; i++) {
        uint8_t l = in->c == 3 ? luma(in->px + 3 * i) : in->px[i * in->c];
        for (int ch = 0; ch < oc; ch++) out->px[i * oc + ch] = l;
    }
    return 0;
}

/* ---- SCAN's strong augmentation --------------------------------------------
 * The operations of SCAN's RandAugment list (data/augment.py), as Pillow 9
 * computes them: ImageOps' lookup tables (autocontrast, equalize, posterize,
 * solarize), ImageEnhance.Sharpness (a blend with ImageFilter.SMOOTH), and
 * Image.transform(AFFINE, NEAREST) for rotate, shear and translate. */

/* Every channel through its own 256-entry table. */
static void apply_luts(unic_image *im, const uint8_t lut[][256])
{
    size_t npix = (size_t)im->w * im->h;
    for (size_t i = 0; i < npix; i++)
        for (int c = 0; c < im->c; c++) im->px[i * im->c + c] = lut[c][im->px[i * im->c + c]];
}

static void histograms(const unic_image *im, uint32_t h[][256])
{
    memset(h, 0, sizeof(uint32_t) * 256 * (size_t)im->c);
    size_t npix = (size_t)im->w * im->h;
    for (size_t i = 0; i < npix; i++)
        for (int c = 0; c < im->c; c++) h[c][im->px[i * im->c + c]]++;
}

void unic_autocontrast(unic_image *im)
{
    uint32_t h[3][256];
    uint8_t lut[3][256];
    histograms(im, h);
    for (int c = 0; c < im->c; c++) {
        int lo = 0, hi = 255;
        while (lo < 256 && !h[c][lo]) lo++;
        while (hi >= 0 && !h[c][hi]) hi--;
        if (hi <= lo) { /* ImageOps: "don't bother" */
            for (int i = 0; i < 256; i++) lut[c][i] = (uint8_t)i;
            continue;
        }
        double scale = 255.0 / (hi - lo), offset = -lo * scale;
        for (int i = 0; i < 256; i++) {
            int v = (int)(i * scale + offset); /* Python's int(): toward zero */
            lut[c][i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    apply_luts(im, lut);
}

void unic_equalize(unic_image *im)
{
    uint32_t h[3][256];
    uint8_t lut[3][256];
    histograms(im, h);
    for (int c = 0; c < im->c; c++) {
        uint64_t total = 0, last = 0;
        int used = 0;
        for (int i = 0; i < 256; i++)
            if (h[c][i]) {
                total += h[c][i];
                last = h[c][i];
                used++;
            }
        uint64_t step = used > 1 ? (total - last) / 256 : 0;
        if (!step) {
            for (int i = 0; i < 256; i++) lut[c][i] = (uint8_t)i;
            continue;
        }
        uint64_t n = step / 2;
        for (int i = 0; i < 256; i++) {
            uint64_t v = n / step;
            lut[c][i] = (uint8_t)(v > 255 ? 255 : v);
            n += h[c][i];
        }
    }
    apply_luts(im, lut);
}

void unic_posterize(unic_image *im, int bits)
{
    uint8_t lut[3][256];
    uint8_t mask = (uint8_t)~((1 << (8 - bits)) - 1);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 256; i++) lut[c][i] = (uint8_t)(i & mask);
    apply_luts(im, lut);
}

void unic_solarize(unic_image *im, double threshold)
{
    uint8_t lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 256; i++) lut[c][i] = (uint8_t)(i < threshold ? i : 255 - i);
    apply_luts(im, lut);
}

/* ImageEnhance.Sharpness: the image blended with ImageFilter.SMOOTH of it
 * (3 x 3 kernel 1 1 1 / 1 5 1 / 1 1 1 over 13, the kernel in float32, each
 * sum from 0.5 in float32 and truncated; the border kept), by factor. */
void unic_adjust_sharpness(unic_image *im, float factor)
{
    int w = im->w, h = im->h, c = im->c;
    if (w < 3 || h < 3) return; /* ImagingFilter copies images smaller than the kernel */
    unic_image deg;
    unic_image_alloc(&deg, w, h, c);
    memcpy(deg.px, im->px, (size_t)w * h * c);
    const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++)
            for (int ch = 0; ch < c; ch++) {
                const uint8_t *up = im->px + ((size_t)(y + 1) * w) * c + ch;
                const uint8_t *mid = im->px + ((size_t)y * w) * c + ch;
                const uint8_t *dn = im->px + ((size_t)(y - 1) * w) * c + ch;
                float ss = 0.5f;
                ss += (float)up[(x - 1) * c] * k1 + (float)up[x * c] * k1 + (float)up[(x + 1) * c] * k1;
                ss += (float)mid[(x - 1) * c] * k1 + (float)mid[x * c] * k5 + (float)mid[(x + 1) * c] * k1;
                ss += (float)dn[(x - 1) * c] * k1 + (float)dn[x * c] * k1 + (float)dn[(x + 1) * c] * k1;
                deg.px[((size_t)y * w + x) * c + ch] = ss <= 0.0f ? 0 : ss >= 255.0f ? 255 : (uint8_t)ss;
            }
    size_t n = (size_t)w * h * c;
    for (size_t i = 0; i < n; i++) im->px[i] = blend8((float)deg.px[i], factor, im->px[i]);
    unic_image_free(&deg);
}

/* Pillow's FLOOR and 16.16 fixed point (affine_fixed). */
static inline int fix16(double v) { return (int)floor(v * 65536.0 + 0.5); }

int unic_affine_nearest(const unic_image *in, const double a[6], unic_image *out)
{
    int w = in->w, h = in->h, c = in->c;
    unic_image_alloc(out, w, h, c);
    memset(out->px, 0, (size_t)w * h * c);
    if (a[1] == 0 && a[3] == 0) { /* ImagingScaleAffine: floating point, its own offsets */
        double yo = a[5] + a[4] * 0.5;
        for (int y = 0; y < h; y++, yo += a[4]) {
            int yi = yo < 0.0 ? -1 : (int)yo;
            double xo = a[2] + a[0] * 0.5;
            for (int x = 0; x < w; x++, xo += a[0]) {
                int xi = xo < 0.0 ? -1 : (int)xo;
                if (xi < 0 || xi >= w || yi < 0 || yi >= h) continue;
                memcpy(out->px + ((size_t)y * w + x) * c, in->px + ((size_t)yi * w + xi) * c,
                       (size_t)c);
            }
        }
        return 0;
    }
    /* affine_fixed (the images here are far inside its 32768 range) */
    int a0 = fix16(a[0]), a1 = fix16(a[1]), a3 = fix16(a[3]), a4 = fix16(a[4]);
    int a2 = fix16(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = fix16(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (int y = 0; y < h; y++, a2 += a1, a5 += a4) {
        int xx = a2, yy = a5;
        for (int x = 0; x < w; x++, xx += a0, yy += a3) {
            int xi = xx >> 16, yi = yy >> 16;
            if (xi < 0 || xi >= w || yi < 0 || yi >= h) continue;
            memcpy(out->px + ((size_t)y * w + x) * c, in->px + ((size_t)yi * w + xi) * c,
                   (size_t)c);
        }
    }
    return 0;
}

/* Python's round(v, 15) for the rotation matrix (Image.rotate). */
static double round15(double v) { return rint(v * 1e15) / 1e15; }

int unic_rotate_nearest(const unic_image *in, double degrees, unic_image *out)
{
    /* angle % 360.0 as Python takes it, then -math.radians(angle) */
    double angle = fmod(degrees, 360.0);
    if (angle < 0) angle += 360.0;
    if (angle == 0) {
        unic_image_alloc(out, in->w, in->h, in->c);
        memcpy(out->px, in->px, (size_t)in->w * in->h * in->c);
        return 0;
    }
    double t = -(angle * (M_PI / 180.0)), cx = in->w / 2.0, cy = in->h / 2.0;
    double m[6] = {round15(cos(t)), round15(sin(t)), 0.0, round15(-sin(t)), round15(cos(t)), 0.0};
    m[2] = m[0] * -cx + m[1] * -cy + m[2] + cx;
    m[5] = m[3] * -cx + m[4] * -cy + m[5] + cy;
    return unic_affine_nearest(in, m, out);
}
