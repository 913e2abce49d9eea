/* Augmentation pipelines: the step language of image.h parsed into a list of
 * steps, applied as torchvision's transforms would be on a PIL image, then
 * turned into a float C x H x W tensor (ToTensor + Normalize when asked). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"
#include "base/util.h"

typedef enum {
    STEP_RESIZE,
    STEP_CENTER_CROP,
    STEP_RANDOM_CROP,
    STEP_RANDOM_RESIZED_CROP,
    STEP_HFLIP,
    STEP_COLOR_JITTER,
    STEP_GRAYSCALE,
    STEP_NORMALIZE,
    STEP_RANDAUGMENT,
    STEP_CUTOUT,
} step_kind;

static const char *const step_names[] = {
    "resize", "center_crop", "random_crop", "random_resized_crop",
    "hflip",  "color_jitter", "grayscale",  "normalize",
    "randaugment", "cutout",
};
#define NSTEP_KINDS ((int)(sizeof step_names / sizeof step_names[0]))

typedef struct {
    step_kind kind;
    int size;          /* resize, crops */
    unic_interp interp; /* resize */
    float v[4];        /* rrc: scale lo, hi; hflip/grayscale: p; jitter: b, c, s, h */
} step;

struct unic_pipeline {
    int n;
    step *steps;
    int normalize;
    int cutout;        /* SCAN's Cutout on the output: the largest side, 0 = none */
    float lut[3][256]; /* (v / 255 - mean) / std per channel, or v */
};

#define MAX_ARGS 8

typedef struct {
    const char *text; /* the step as written, for messages */
    int text_len;
    int nargs;
    char args[MAX_ARGS][64];
} parsed_step;

/* Splits "a, b c" into arguments: commas separate, and so does whitespace, so
 * normalize(m0 m1 m2 s0 s1 s2) reads as well as with commas. */
static int split_args(const char *s, int len, parsed_step *ps, char *err, size_t errlen)
{
    ps->nargs = 0;
    int i = 0, expect_arg = 0;
    while (i < len) {
        while (i < len && isspace((unsigned char)s[i])) i++;
        if (i >= len) break;
        if (s[i] == ',') {
            if (ps->nargs == 0 || expect_arg)
                return unic_errf(err, errlen, "%.*s: empty argument", ps->text_len, ps->text);
            expect_arg = 1;
            i++;
            continue;
        }
        int j = i;
        while (j < len && s[j] != ',' && !isspace((unsigned char)s[j])) j++;
        if (ps->nargs == MAX_ARGS || j - i >= (int)sizeof ps->args[0])
            return unic_errf(err, errlen, "%.*s: too many or too long arguments", ps->text_len,
                             ps->text);
        memcpy(ps->args[ps->nargs], s + i, (size_t)(j - i));
        ps->args[ps->nargs][j - i] = 0;
        ps->nargs++;
        expect_arg = 0;
        i = j;
    }
    if (expect_arg)
        return unic_errf(err, errlen, "%.*s: empty argument", ps->text_len, ps->text);
    return 0;
}

static int parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_size(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v <= 0 || v > 65535) return -1;
    *out = (int)v;
    return 0;
}

/* Parses args[from..nargs) as numbers into v, each within [lo, hi]. */
static int parse_nums(const parsed_step *ps, int from, double lo, double hi, float *v)
{
    for (int i = from; i < ps->nargs; i++) {
        double d;
        if (parse_num(ps->args[i], &d) != 0 || d < lo || d > hi) return -1;
        v[i - from] = (float)d;
    }
    return 0;
}

static int build_step(const char *name, const parsed_step *ps, step *st, unic_pipeline *p,
                      char *err, size_t errlen)
{
    int tl = ps->text_len;
    const char *tx = ps->text;
    int na = ps->nargs;
    memset(st, 0, sizeof *st);
    int kind = -1;
    for (int i = 0; i < NSTEP_KINDS; i++)
        if (strcmp(name, step_names[i]) == 0) kind = i;
    if (kind < 0) {
        char known[256] = "";
        const char *best = NULL;
        int best_d = 4;
        for (int i = 0; i < NSTEP_KINDS; i++) {
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     step_names[i]);
            int d = unic_edit_distance(name, step_names[i]);
            if (d < best_d) {
                best_d = d;
                best = step_names[i];
            }
        }
        if (best)
            return unic_errf(err, errlen, "%.*s: unknown step '%s' (did you mean '%s'?); known "
                             "steps: %s", tl, tx, name, best, known);
        return unic_errf(err, errlen, "%.*s: unknown step '%s'; known steps: %s", tl, tx, name,
                         known);
    }
    st->kind = (step_kind)kind;
    switch (st->kind) {
    case STEP_RESIZE:
        if (na < 1 || na > 2 || parse_size(ps->args[0], &st->size) != 0)
            return unic_errf(err, errlen, "%.*s: expected resize(size[, bilinear|bicubic]) with "
                             "a positive integer size", tl, tx);
        st->interp = UNIC_BILINEAR; /* torchvision's default */
        if (na == 2) {
            if (strcmp(ps->args[1], "bicubic") == 0)
                st->interp = UNIC_BICUBIC;
            else if (strcmp(ps->args[1], "bilinear") != 0)
                return unic_errf(err, errlen, "%.*s: interpolation must be bilinear or bicubic, "
                                 "not '%s'", tl, tx, ps->args[1]);
        }
        break;
    case STEP_CENTER_CROP:
    case STEP_RANDOM_CROP:
        if (na != 1 || parse_size(ps->args[0], &st->size) != 0)
            return unic_errf(err, errlen, "%.*s: expected one positive integer size", tl, tx);
        break;
    case STEP_RANDOM_RESIZED_CROP:
        st->v[0] = 0.08f;
        st->v[1] = 1.0f;
        if ((na != 1 && na != 3) || parse_size(ps->args[0], &st->size) != 0 ||
            (na == 3 && parse_nums(ps, 1, 1e-6, 1.0, st->v) != 0) || st->v[0] > st->v[1])
            return unic_errf(err, errlen, "%.*s: expected random_resized_crop(size[, scale_lo, "
                             "scale_hi]) with 0 < scale_lo <= scale_hi <= 1", tl, tx);
        break;
    case STEP_HFLIP:
    case STEP_GRAYSCALE:
        if (na != 1 || parse_nums(ps, 0, 0.0, 1.0, st->v) != 0)
            return unic_errf(err, errlen, "%.*s: expected one probability in [0, 1]", tl, tx);
        break;
    case STEP_COLOR_JITTER:
        if (na != 4 || parse_nums(ps, 0, 0.0, 1e6, st->v) != 0)
            return unic_errf(err, errlen, "%.*s: expected 4 numbers (brightness, contrast, "
                             "saturation, hue), each >= 0", tl, tx);
        if (st->v[3] > 0.5f)
            return unic_errf(err, errlen, "%.*s: hue must be in [0, 0.5]", tl, tx);
        break;
    case STEP_RANDAUGMENT:
        if (na != 1 || parse_size(ps->args[0], &st->size) != 0 || st->size > 16)
            return unic_errf(err, errlen, "%.*s: expected randaugment(n), n operations in 1..16 "
                             "(SCAN: 4)", tl, tx);
        break;
    case STEP_CUTOUT:
        if (na != 1 || parse_size(ps->args[0], &st->size) != 0)
            return unic_errf(err, errlen, "%.*s: expected cutout(length), a positive integer "
                             "(SCAN: 16 for 32 px, 32 for 96 px)", tl, tx);
        p->cutout = st->size;
        break;
    case STEP_NORMALIZE: {
        float mean[3], sd[3];
        if (na == 1 && strcmp(ps->args[0], "imagenet") == 0) {
            const float m[3] = {0.485f, 0.456f, 0.406f}, s[3] = {0.229f, 0.224f, 0.225f};
            memcpy(mean, m, sizeof m);
            memcpy(sd, s, sizeof s);
        } else {
            float v[6];
            if (na != 6 || parse_nums(ps, 0, -1e6, 1e6, v) != 0 || v[3] <= 0 || v[4] <= 0 ||
                v[5] <= 0)
                return unic_errf(err, errlen, "%.*s: expected normalize(imagenet) or 6 numbers "
                                 "(3 means, 3 positive stds)", tl, tx);
            memcpy(mean, v, sizeof mean);
            memcpy(sd, v + 3, sizeof sd);
        }
        /* ToTensor's float32 v / 255, then Normalize's float32 (x - m) / s,
         * tabulated: 256 inputs per channel. */
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++) p->lut[c][v] = ((float)v / 255.0f - mean[c]) / sd[c];
        p->normalize = 1;
        break;
    }
    }
    return 0;
}

unic_pipeline *unic_pipeline_parse(const char *spec, char *err, size_t errlen)
{
    unic_pipeline *p = unic_xcalloc(1, sizeof *p);
    int cap = 8;
    p->steps = unic_xmalloc(sizeof(step) * cap);
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) p->lut[c][v] = (float)v;
    const char *s = spec ? spec : "";
    while (*s) {
        while (isspace((unsigned char)*s)) s++;
        if (!*s) break;
        const char *start = s;
        while (isalnum((unsigned char)*s) || *s == '_') s++;
        char name[32];
        int nlen = (int)(s - start);
        if (nlen == 0) {
            unic_errf(err, errlen, "pipeline '%s': unexpected '%c' where a step name should be",
                      spec, *s);
            goto fail;
        }
        if (nlen >= (int)sizeof name) nlen = sizeof name - 1;
        memcpy(name, start, (size_t)nlen);
        name[nlen] = 0;
        while (*s == ' ' || *s == '\t') s++;
        parsed_step ps = {.text = start};
        if (*s == '(') {
            const char *close = strchr(s, ')');
            if (!close) {
                unic_errf(err, errlen, "%s: missing ')'", start);
                goto fail;
            }
            ps.text_len = (int)(close + 1 - start);
            if (split_args(s + 1, (int)(close - s - 1), &ps, err, errlen) != 0) goto fail;
            s = close + 1;
        } else {
            ps.text_len = (int)(s - start);
        }
        if (p->cutout) {
            unic_errf(err, errlen, "%.*s: cutout(...) must be the last step (it cuts the "
                      "output tensor, as SCAN's Cutout does)", ps.text_len, ps.text);
            goto fail;
        }
        if (p->normalize && strcmp(name, "cutout") != 0) {
            unic_errf(err, errlen, "%.*s: normalize(...) must be the last step (only cutout may "
                      "follow it)", ps.text_len, ps.text);
            goto fail;
        }
        if (p->n == cap) {
            step *grown = unic_xmalloc(sizeof(step) * cap * 2);
            memcpy(grown, p->steps, sizeof(step) * cap);
            unic_xfree(p->steps);
            p->steps = grown;
            cap *= 2;
        }
        if (build_step(name, &ps, &p->steps[p->n], p, err, errlen) != 0) goto fail;
        p->n++;
    }
    return p;
fail:
    unic_pipeline_free(p);
    return NULL;
}

void unic_pipeline_free(unic_pipeline *p)
{
    if (!p) return;
    unic_xfree(p->steps);
    unic_xfree(p);
}

static void short_side_dims(int w, int h, int size, int *ow, int *oh)
{
    int shorter = w <= h ? w : h, longer = w <= h ? h : w;
    int nl = (int)((double)((long long)size * longer) / shorter);
    *ow = w <= h ? size : nl;
    *oh = w <= h ? nl : size;
}

void unic_pipeline_out_shape(const unic_pipeline *p, int in_w, int in_h, int in_c, int *c, int *h,
                             int *w)
{
    int cw = in_w, ch = in_h;
    for (int i = 0; i < p->n; i++) {
        const step *st = &p->steps[i];
        switch (st->kind) {
        case STEP_RESIZE: short_side_dims(cw, ch, st->size, &cw, &ch); break;
        case STEP_CENTER_CROP:
        case STEP_RANDOM_CROP:
        case STEP_RANDOM_RESIZED_CROP: cw = ch = st->size; break;
        default: break;
        }
    }
    *c = in_c;
    *h = ch;
    *w = cw;
}

/* Each step's output size as unic_pipeline_apply will make it, in 64 bits
 * (a resize of a 1 x 65500 image to a short side of 65535 has a long side
 * of 4.3e9), against the bound. A random crop's box lies inside its input,
 * so only fixed sizes matter. A resize's intermediate (the horizontal pass)
 * is never larger than the larger of its input and 4/3 of its output (a
 * random_resized_crop box has an aspect ratio within [3/4, 4/3]), so the
 * outputs bound it too. */
int unic_pipeline_check_size(const unic_pipeline *p, int in_w, int in_h, int64_t max_pixels,
                             char *err, size_t errlen)
{
    int64_t cw = in_w, ch = in_h;
    for (int i = 0; i < p->n; i++) {
        const step *st = &p->steps[i];
        const step *made_by = st;
        int64_t ow = cw, oh = ch;
        switch (st->kind) {
        case STEP_RESIZE: {
            int64_t shorter = cw <= ch ? cw : ch, longer = cw <= ch ? ch : cw;
            int64_t nl = (int64_t)((double)(st->size * longer) / (double)shorter);
            ow = cw <= ch ? st->size : nl;
            oh = cw <= ch ? nl : st->size;
            const step *nx = i + 1 < p->n ? &p->steps[i + 1] : NULL;
            if (nx && nx->kind == STEP_CENTER_CROP && nx->size <= ow && nx->size <= oh) {
                ow = oh = nx->size; /* only the window is made */
                i++;
            }
            break;
        }
        case STEP_CENTER_CROP:
        case STEP_RANDOM_CROP:
        case STEP_RANDOM_RESIZED_CROP: ow = oh = st->size; break;
        default: break;
        }
        if (ow > INT_MAX || oh > INT_MAX)
            return unic_errf(err, errlen, "%s(%d) would make a %lld x %lld image of this %lld x "
                             "%lld one: a side above %d pixels", step_names[made_by->kind],
                             made_by->size, (long long)ow, (long long)oh, (long long)cw,
                             (long long)ch, INT_MAX);
        if (max_pixels > 0 && ow * oh > max_pixels)
            return unic_errf(err, errlen, "%s(%d) would make a %lld x %lld image (%lld pixels) "
                             "of this %lld x %lld one, above the limit of %lld ([data] "
                             "max_pixels): refused before allocating it",
                             step_names[made_by->kind], made_by->size, (long long)ow,
                             (long long)oh, (long long)(ow * oh), (long long)cw, (long long)ch,
                             (long long)max_pixels);
        cw = ow;
        ch = oh;
    }
    return 0;
}

int unic_pipeline_min_side(const unic_pipeline *p)
{
    for (int i = 0; i < p->n; i++) {
        switch (p->steps[i].kind) {
        case STEP_RESIZE: return p->steps[i].size;
        case STEP_CENTER_CROP:
        case STEP_RANDOM_CROP:
        case STEP_RANDOM_RESIZED_CROP: return 0; /* crops need the full resolution */
        default: break;
        }
    }
    return 0;
}

static float uniform_in(unic_rng *rng, float lo, float hi)
{
    return lo + (hi - lo) * unic_rng_uniform(rng);
}

/* torchvision ColorJitter: a random order of the four adjustments, then one
 * factor per enabled adjustment, drawn in the fixed order b, c, s, h. */
static void color_jitter(unic_image *im, const float *v, unic_rng *rng)
{
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
        int j = (int)unic_rng_below(rng, (uint64_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    float f[4] = {0};
    for (int k = 0; k < 3; k++)
        if (v[k] > 0) f[k] = uniform_in(rng, v[k] < 1 ? 1 - v[k] : 0, 1 + v[k]);
    if (v[3] > 0) f[3] = uniform_in(rng, -v[3], v[3]);
    for (int i = 0; i < 4; i++) {
        int k = order[i];
        if (v[k] <= 0) continue;
        switch (k) {
        case 0: unic_adjust_brightness(im, f[0]); break;
        case 1: unic_adjust_contrast(im, f[1]); break;
        case 2: unic_adjust_saturation(im, f[2]); break;
        default: unic_adjust_hue(im, f[3]); break;
        }
    }
}

/* SCAN's Augment(n) (data/augment.py): n operations drawn with replacement
 * from its list, then each one's magnitude, uniform in the op's range; the
 * image changes in place (every op keeps its size). */
static void randaugment(unic_image *cur, int n, unic_rng *rng)
{
    static const float lo[14] = {0, 0, 0, 0.05f, 0.05f, 0.05f, 0.05f, 4, -30, 0, -0.3f, -0.3f,
                                 -0.3f, -0.3f};
    static const float hi[14] = {1, 1, 1, 0.95f, 0.95f, 0.95f, 0.95f, 8, 30, 256, 0.3f, 0.3f,
                                 0.3f, 0.3f};
    int ops[16];
    for (int i = 0; i < n; i++) ops[i] = (int)unic_rng_below(rng, 14);
    for (int i = 0; i < n; i++) {
        int op = ops[i];
        double v = lo[op] + (double)unic_rng_uniform(rng) * (hi[op] - lo[op]);
        double a[6] = {1, 0, 0, 0, 1, 0};
        switch (op) {
        case 0: unic_autocontrast(cur); continue;
        case 1: unic_equalize(cur); continue;
        case 2: continue; /* Identity */
        case 3: unic_adjust_brightness(cur, (float)v); continue;
        case 4: unic_adjust_saturation(cur, (float)v); continue;
        case 5: unic_adjust_contrast(cur, (float)v); continue;
        case 6: unic_adjust_sharpness(cur, (float)v); continue;
        case 7: unic_posterize(cur, (int)v > 1 ? (int)v : 1); continue;
        case 9: unic_solarize(cur, v); continue;
        case 10: a[1] = v; break;                 /* ShearX */
        case 11: a[3] = v; break;                 /* ShearY */
        case 12: a[2] = v * cur->w; break;        /* TranslateX, a fraction of the width */
        case 13: a[5] = v * cur->h; break;        /* TranslateY */
        default: break;                           /* 8: Rotate */
        }
        unic_image t;
        if (op == 8)
            unic_rotate_nearest(cur, v, &t);
        else
            unic_affine_nearest(cur, a, &t);
        memcpy(cur->px, t.px, (size_t)cur->w * cur->h * cur->c); /* same size */
        unic_image_free(&t);
    }
}

/* SCAN's Cutout(n_holes = 1, length, random = True) on the C x H x W
 * output: a side drawn in [1, length], a centre anywhere, the square
 * clipped to the image and zeroed (half-sides of length // 2). */
static void cutout(float *out, int c, int h, int w, int length, unic_rng *rng)
{
    int len = 1 + (int)unic_rng_below(rng, (uint64_t)length);
    int y = (int)unic_rng_below(rng, (uint64_t)h), x = (int)unic_rng_below(rng, (uint64_t)w);
    int y1 = y - len / 2 < 0 ? 0 : y - len / 2, y2 = y + len / 2 > h ? h : y + len / 2;
    int x1 = x - len / 2 < 0 ? 0 : x - len / 2, x2 = x + len / 2 > w ? w : x + len / 2;
    for (int ch = 0; ch < c; ch++)
        for (int r = y1; r < y2; r++)
            for (int q = x1; q < x2; q++) out[((size_t)ch * h + r) * w + q] = 0.0f;
}

int unic_pipeline_apply(const unic_pipeline *p, const unic_image *in, unic_rng *rng, float *out,
                        char *err, size_t errlen)
{
    unic_image cur = *in;
    int owned = 0;
    int rc = 0;
    for (int i = 0; i < p->n && rc == 0; i++) {
        const step *st = &p->steps[i];
        unic_image next = {0};
        int made = 1;
        switch (st->kind) {
        case STEP_RESIZE: {
            int nw, nh;
            short_side_dims(cur.w, cur.h, st->size, &nw, &nh);
            const step *nx = i + 1 < p->n ? &p->steps[i + 1] : NULL;
            if (nx && nx->kind == STEP_CENTER_CROP && nx->size <= nw && nx->size <= nh) {
                /* resize + center crop: only the kept window is resampled
                 * (torchvision's offsets, Python rounding) */
                int x = (int)rint((nw - nx->size) / 2.0), y = (int)rint((nh - nx->size) / 2.0);
                rc = unic_resize_window(&cur, nw, nh, st->interp, x, y, nx->size, nx->size, &next);
                i++;
            } else {
                rc = unic_resize(&cur, nw, nh, st->interp, &next);
            }
            break;
        }
        case STEP_CENTER_CROP:
            rc = unic_center_crop(&cur, st->size, st->size, &next);
            break;
        case STEP_RANDOM_CROP: {
            if (cur.w < st->size || cur.h < st->size) {
                rc = unic_errf(err, errlen, "random_crop(%d): the image is only %d x %d",
                               st->size, cur.w, cur.h);
                made = 0;
                break;
            }
            int x = 0, y = 0;
            if (cur.w != st->size || cur.h != st->size) { /* torchvision draws nothing then */
                y = (int)unic_rng_below(rng, (uint64_t)(cur.h - st->size + 1));
                x = (int)unic_rng_below(rng, (uint64_t)(cur.w - st->size + 1));
            }
            rc = unic_crop(&cur, x, y, st->size, st->size, &next);
            break;
        }
        case STEP_RANDOM_RESIZED_CROP: {
            int x, y, cw, ch;
            unic_random_resized_crop_box(cur.w, cur.h, st->v[0], st->v[1], 3.0f / 4.0f,
                                         4.0f / 3.0f, rng, &x, &y, &cw, &ch);
            unic_image box;
            rc = unic_crop(&cur, x, y, cw, ch, &box);
            if (rc == 0) {
                rc = unic_resize(&box, st->size, st->size, UNIC_BILINEAR, &next);
                unic_image_free(&box);
            }
            break;
        }
        case STEP_HFLIP:
            if (unic_rng_uniform(rng) < st->v[0])
                rc = unic_hflip(&cur, &next);
            else
                made = 0;
            break;
        case STEP_GRAYSCALE:
            if (unic_rng_uniform(rng) < st->v[0])
                rc = unic_grayscale(&cur, cur.c == 3, &next);
            else
                made = 0;
            break;
        case STEP_COLOR_JITTER:
            if (!owned) { /* adjusts in place: never the caller's pixels */
                unic_image_alloc(&next, cur.w, cur.h, cur.c);
                memcpy(next.px, cur.px, (size_t)cur.w * cur.h * cur.c);
            } else {
                next = cur;
                made = 0;
            }
            color_jitter(made ? &next : &cur, st->v, rng);
            break;
        case STEP_RANDAUGMENT:
            if (!owned) { /* changes in place: never the caller's pixels */
                unic_image_alloc(&next, cur.w, cur.h, cur.c);
                memcpy(next.px, cur.px, (size_t)cur.w * cur.h * cur.c);
            } else {
                next = cur;
                made = 0;
            }
            randaugment(made ? &next : &cur, st->size, rng);
            break;
        case STEP_NORMALIZE:
        case STEP_CUTOUT:
            made = 0;
            break;
        }
        if (rc != 0) {
            if (st->kind != STEP_RANDOM_CROP)
                unic_errf(err, errlen, "%s: failed on a %d x %d image", step_names[st->kind], cur.w,
                          cur.h);
            if (made) unic_image_free(&next);
            break;
        }
        if (made) {
            if (owned) unic_image_free(&cur);
            cur = next;
            owned = 1;
        }
    }
    if (rc == 0 && p->normalize && cur.c != 3) {
        rc = unic_errf(err, errlen, "normalize: per-channel statistics for 3 channels, but the "
                       "image has %d", cur.c);
    }
    if (rc == 0) {
        /* HWC bytes -> CHW floats through the per-channel table. */
        size_t npix = (size_t)cur.w * cur.h;
        for (int c = 0; c < cur.c; c++) {
            const float *lut = p->lut[c < 3 ? c : 2];
            float *o = out + (size_t)c * npix;
            const uint8_t *s = cur.px + c;
            for (size_t i = 0; i < npix; i++) o[i] = lut[s[i * cur.c]];
        }
        if (p->cutout) cutout(out, cur.c, cur.h, cur.w, p->cutout, rng);
    }
    if (owned) unic_image_free(&cur);
    return rc;
}
