/* Images: JPEG decoding (vs PIL's decode of PIL-written files, DCT scaling,
 * CMYK and gray files, corrupt data), the transforms against PIL and
 * torchvision's formulas (tests/fixtures/make_transform_fixtures.py), and
 * the pipeline language, and SCAN's strong augmentation against Pillow
 * (tests/fixtures/make_strong_aug_fixtures.py). Measured: every transform and decode matches the
 * fixtures exactly; the asserted bounds are the brief's (resize and colour
 * within 1 of 255, JPEG mean < 1 and max <= 8 in case of another IDCT). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "data/image.h"
#include "base/util.h"

static char err[1024];

/* ---- fixtures --------------------------------------------------------------- */
#define MAX_CASES 128

typedef struct {
    char op[32], in[32], file[96], interp[16];
    int v[6];
    double f;
} tcase;

static tcase cases[MAX_CASES];
static int ncases;

static void load_cases(void)
{
    if (ncases) return;
    char *path = test_fixture("transforms_cases.txt");
    char *text = test_read_file(path, NULL);
    cr_assert(text, "missing %s: run tests/fixtures/make_transform_fixtures.py", path);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        cr_assert(ncases < MAX_CASES);
        tcase *t = &cases[ncases];
        memset(t, 0, sizeof *t);
        int got = 0;
        if (sscanf(line, "%31s", t->op) != 1) continue;
        const char *rest = line + strlen(t->op);
        if (!strcmp(t->op, "input"))
            got = sscanf(rest, "%31s %d %d %d %95s", t->in, &t->v[0], &t->v[1], &t->v[2],
                         t->file) == 5;
        else if (!strcmp(t->op, "resize"))
            got = sscanf(rest, "%31s %d %d %15s %95s", t->in, &t->v[0], &t->v[1], t->interp,
                         t->file) == 5;
        else if (!strcmp(t->op, "resize_short"))
            got = sscanf(rest, "%31s %d %15s %d %d %95s", t->in, &t->v[2], t->interp, &t->v[0],
                         &t->v[1], t->file) == 6;
        else if (!strcmp(t->op, "center_crop"))
            got = sscanf(rest, "%31s %d %d %95s", t->in, &t->v[0], &t->v[1], t->file) == 4;
        else if (!strcmp(t->op, "crop"))
            got = sscanf(rest, "%31s %d %d %d %d %95s", t->in, &t->v[2], &t->v[3], &t->v[0],
                         &t->v[1], t->file) == 6;
        else if (!strcmp(t->op, "hflip") || !strcmp(t->op, "grayscale"))
            got = sscanf(rest, "%31s %95s", t->in, t->file) == 2;
        else if (!strcmp(t->op, "jpeg"))
            got = sscanf(rest, "%31s %d %d %95s", t->in, &t->v[0], &t->v[1], t->file) == 4;
        else if (!strcmp(t->op, "jpeg_draft"))
            got = sscanf(rest, "%31s %d %d %d %d %95s", t->in, &t->v[2], &t->v[3], &t->v[0],
                         &t->v[1], t->file) == 6;
        else if (!strcmp(t->op, "file"))
            got = sscanf(rest, "%31s %d %d", t->in, &t->v[0], &t->v[1]) == 3;
        else
            got = sscanf(rest, "%31s %lf %95s", t->in, &t->f, t->file) == 3;
        cr_assert(got, "bad fixture line: %s", line);
        ncases++;
    }
    free(text);
    free(path);
}

static uint8_t *read_fixture(const char *name, size_t want)
{
    char *path = test_fixture(name);
    size_t n = 0;
    uint8_t *data = (uint8_t *)test_read_file(path, &n);
    cr_assert(data, "missing fixture %s", path);
    if (want) cr_assert_eq(n, want, "%s: %zu bytes, expected %zu", path, n, want);
    free(path);
    return data;
}

/* The input image called name, as a fresh unic_image. */
static unic_image input(const char *name)
{
    load_cases();
    for (int i = 0; i < ncases; i++) {
        tcase *t = &cases[i];
        if (strcmp(t->op, "input") || strcmp(t->in, name)) continue;
        unic_image im;
        unic_image_alloc(&im, t->v[0], t->v[1], t->v[2]);
        uint8_t *px = read_fixture(t->file, (size_t)t->v[0] * t->v[1] * t->v[2]);
        memcpy(im.px, px, (size_t)t->v[0] * t->v[1] * t->v[2]);
        free(px);
        return im;
    }
    cr_assert_fail("no input %s in the fixtures", name);
    return (unic_image){0};
}

typedef struct {
    int max;
    double mean;
} diff;

/* Compares im with the w x h x 3 bytes of fixture file; returns the worst
 * and mean absolute differences. */
static diff compare(const unic_image *im, int w, int h, const char *file)
{
    cr_assert_eq(im->w, w, "%s: width %d, expected %d", file, im->w, w);
    cr_assert_eq(im->h, h, "%s: height %d, expected %d", file, im->h, h);
    cr_assert_eq(im->c, 3, "%s: %d channels", file, im->c);
    size_t n = (size_t)w * h * 3;
    uint8_t *want = read_fixture(file, n);
    diff d = {0, 0};
    for (size_t i = 0; i < n; i++) {
        int e = abs((int)im->px[i] - (int)want[i]);
        if (e > d.max) d.max = e;
        d.mean += e;
    }
    d.mean /= (double)n;
    free(want);
    return d;
}

/* Runs every fixture case of operation op through fn, asserting max <= tol. */
static int run_cases(const char *op, int tol, void (*fn)(const tcase *, const unic_image *,
                                                         unic_image *))
{
    load_cases();
    int seen = 0;
    for (int i = 0; i < ncases; i++) {
        const tcase *t = &cases[i];
        if (strcmp(t->op, op)) continue;
        unic_image in = input(t->in), out = {0};
        fn(t, &in, &out);
        /* colour cases keep the input's size and list none */
        int w = t->v[0] ? t->v[0] : in.w, h = t->v[1] ? t->v[1] : in.h;
        diff d = compare(&out, w, h, t->file);
        cr_log_info("%s %s: max %d, mean %.4f", op, t->file, d.max, d.mean);
        cr_expect_leq(d.max, tol, "%s: max abs diff %d > %d (mean %.3f)", t->file, d.max, tol,
                      d.mean);
        unic_image_free(&in);
        unic_image_free(&out);
        seen++;
    }
    cr_assert_gt(seen, 0, "no %s cases in the fixtures", op);
    return seen;
}

static unic_interp interp_of(const char *s)
{
    return strcmp(s, "bicubic") == 0 ? UNIC_BICUBIC : UNIC_BILINEAR;
}

static void do_resize(const tcase *t, const unic_image *in, unic_image *out)
{
    cr_assert_eq(unic_resize(in, t->v[0], t->v[1], interp_of(t->interp), out), 0);
}

static void do_resize_short(const tcase *t, const unic_image *in, unic_image *out)
{
    cr_assert_eq(unic_resize_short(in, t->v[2], interp_of(t->interp), out), 0);
}

static void do_center_crop(const tcase *t, const unic_image *in, unic_image *out)
{
    cr_assert_eq(unic_center_crop(in, t->v[0], t->v[1], out), 0);
}

static void do_crop(const tcase *t, const unic_image *in, unic_image *out)
{
    cr_assert_eq(unic_crop(in, t->v[2], t->v[3], t->v[0], t->v[1], out), 0);
}

static void do_hflip(const tcase *t, const unic_image *in, unic_image *out)
{
    cr_assert_eq(unic_hflip(in, out), 0);
}

static void do_grayscale(const tcase *t, const unic_image *in, unic_image *out)
{
    cr_assert_eq(unic_grayscale(in, 1, out), 0);
}

static void do_color(const tcase *t, const unic_image *in, unic_image *out)
{
    unic_image_alloc(out, in->w, in->h, in->c);
    memcpy(out->px, in->px, (size_t)in->w * in->h * in->c);
    float f = (float)t->f;
    if (!strcmp(t->op, "brightness")) unic_adjust_brightness(out, f);
    else if (!strcmp(t->op, "contrast")) unic_adjust_contrast(out, f);
    else if (!strcmp(t->op, "saturation")) unic_adjust_saturation(out, f);
    else unic_adjust_hue(out, f);
}

/* ---- resampling and geometry ------------------------------------------------ */
/* Measured exact; the brief asks for 1 of 255, kept exact so that a faster
 * pass with other rounding shows up here. */
Test(transforms, resize_matches_pil) { run_cases("resize", 0, do_resize); }

Test(transforms, resize_short_matches_torchvision)
{
    run_cases("resize_short", 0, do_resize_short);
}

Test(transforms, center_crop_exact) { run_cases("center_crop", 0, do_center_crop); }

Test(transforms, crop_pads_with_zeros) { run_cases("crop", 0, do_crop); }

Test(transforms, hflip_exact) { run_cases("hflip", 0, do_hflip); }

Test(transforms, grayscale_exact) { run_cases("grayscale", 0, do_grayscale); }

Test(transforms, color_adjustments_match_pil)
{
    run_cases("brightness", 0, do_color);
    run_cases("contrast", 0, do_color);
    run_cases("saturation", 0, do_color);
    run_cases("hue", 0, do_color);
}

Test(transforms, resize_identity_and_gray)
{
    unic_image a = input("a"), same, g, g2;
    cr_assert_eq(unic_resize(&a, a.w, a.h, UNIC_BICUBIC, &same), 0);
    cr_assert_eq(memcmp(same.px, a.px, (size_t)a.w * a.h * 3), 0);
    /* one channel resamples like each channel of RGB */
    cr_assert_eq(unic_grayscale(&a, 0, &g), 0);
    cr_assert_eq(g.c, 1);
    unic_image g3, r3;
    cr_assert_eq(unic_grayscale(&a, 1, &g3), 0);
    cr_assert_eq(unic_resize(&g, 31, 50, UNIC_BICUBIC, &g2), 0);
    cr_assert_eq(unic_resize(&g3, 31, 50, UNIC_BICUBIC, &r3), 0);
    for (int i = 0; i < 31 * 50; i++) cr_assert_eq(g2.px[i], r3.px[3 * i + 1]);
    unic_image_free(&a);
    unic_image_free(&same);
    unic_image_free(&g);
    unic_image_free(&g2);
    unic_image_free(&g3);
    unic_image_free(&r3);
}

/* The window of a resize is the crop of the full resize, whichever passes run. */
Test(transforms, resize_window_equals_resize_then_crop)
{
    unic_image b = input("b");
    const int cases_[][7] = {
        {60, 40, 10, 5, 30, 20, UNIC_BICUBIC},   {60, 40, 0, 0, 60, 40, UNIC_BILINEAR},
        {120, 30, 7, 3, 100, 20, UNIC_BICUBIC},  /* vertical pass only */
        {50, 80, 20, 11, 25, 60, UNIC_BILINEAR}, /* horizontal pass only */
        {120, 80, 3, 4, 5, 6, UNIC_BICUBIC},     /* no pass: a crop */
        {300, 200, 150, 100, 150, 100, UNIC_BICUBIC},
    };
    for (size_t i = 0; i < sizeof cases_ / sizeof cases_[0]; i++) {
        const int *c = cases_[i];
        unic_image full, want, got;
        cr_assert_eq(unic_resize(&b, c[0], c[1], (unic_interp)c[6], &full), 0);
        cr_assert_eq(unic_crop(&full, c[2], c[3], c[4], c[5], &want), 0);
        cr_assert_eq(unic_resize_window(&b, c[0], c[1], (unic_interp)c[6], c[2], c[3], c[4], c[5],
                                        &got), 0);
        cr_assert(got.w == c[4] && got.h == c[5]);
        cr_assert_eq(memcmp(got.px, want.px, (size_t)c[4] * c[5] * 3), 0, "case %zu", i);
        unic_image_free(&full);
        unic_image_free(&want);
        unic_image_free(&got);
    }
    unic_image bad;
    cr_assert_eq(unic_resize_window(&b, 60, 40, UNIC_BILINEAR, 50, 0, 20, 10, &bad), -1);
    unic_image_free(&b);
}

Test(transforms, random_resized_crop_box_inside_and_deterministic)
{
    const int sizes[][2] = {{500, 375}, {67, 45}, {45, 67}, {1000, 10}, {10, 1000}, {1, 1}, {3, 2}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        int fallbacks = 0;
        for (uint64_t k = 0; k < 2000; k++) {
            unic_rng r1 = unic_rng_stream(7, s, k), r2 = unic_rng_stream(7, s, k);
            int x, y, cw, ch, x2, y2, cw2, ch2;
            unic_random_resized_crop_box(w, h, 0.08f, 1.0f, 0.75f, 4.0f / 3.0f, &r1, &x, &y, &cw,
                                         &ch);
            unic_random_resized_crop_box(w, h, 0.08f, 1.0f, 0.75f, 4.0f / 3.0f, &r2, &x2, &y2,
                                         &cw2, &ch2);
            cr_assert(x == x2 && y == y2 && cw == cw2 && ch == ch2, "not deterministic");
            cr_assert(cw > 0 && ch > 0 && x >= 0 && y >= 0 && x + cw <= w && y + ch <= h,
                      "%dx%d: box %d,%d %dx%d outside", w, h, x, y, cw, ch);
            /* the fallback is the path that drew exactly 10 x 2 numbers */
            if (r1.state == unic_rng_stream(7, s, k).state + 20 * 0x9e3779b97f4a7c15ULL)
                fallbacks++;
        }
        /* a 1000 x 10 strip never fits a 3/4..4/3 box: always the central
         * fallback, clamped to ratio 4/3 -> 13 x 10 */
        if (w == 1000) {
            unic_rng r = unic_rng_stream(1, 2, 3);
            int x, y, cw, ch;
            unic_random_resized_crop_box(w, h, 0.08f, 1.0f, 0.75f, 4.0f / 3.0f, &r, &x, &y, &cw,
                                         &ch);
            cr_assert(cw == 13 && ch == 10 && x == (1000 - 13) / 2 && y == 0, "%d %d %d %d", x,
                      y, cw, ch);
            cr_assert_eq(fallbacks, 2000);
        }
    }
    /* Full scale, ratio 1 on a square: the whole image. */
    unic_rng r = unic_rng_stream(3, 0, 0);
    int x, y, cw, ch;
    unic_random_resized_crop_box(64, 64, 1.0f, 1.0f, 1.0f, 1.0f, &r, &x, &y, &cw, &ch);
    cr_assert(x == 0 && y == 0 && cw == 64 && ch == 64);
}

/* ---- JPEG ------------------------------------------------------------------ */
static diff decode_vs_pil(const tcase *t)
{
    char *path = test_fixture(t->in);
    unic_image im;
    cr_assert_eq(unic_jpeg_load(path, 0, 0, &im, err, sizeof err), 0, "%s", err);
    diff d = compare(&im, t->v[0], t->v[1], t->file);
    unic_image_free(&im);
    free(path);
    return d;
}

Test(jpeg, decode_matches_pil)
{
    load_cases();
    int seen = 0;
    for (int i = 0; i < ncases; i++) {
        if (strcmp(cases[i].op, "jpeg")) continue;
        diff d = decode_vs_pil(&cases[i]);
        cr_log_info("jpeg %s: max %d, mean %.4f", cases[i].in, d.max, d.mean);
        /* Both sides are libjpeg-turbo with the default islow IDCT and fancy
         * upsampling: identical here; the bound leaves room for another
         * IDCT build. */
        cr_expect(d.mean < 1.0 && d.max <= 8, "%s: max %d mean %.3f", cases[i].in, d.max, d.mean);
        seen++;
    }
    cr_assert_eq(seen, 4); /* RGB 4:2:0, gray, CMYK, progressive 4:4:4 */
}

Test(jpeg, gray_file_becomes_equal_channels)
{
    char *path = test_fixture("tf_gray.jpg");
    unic_image im;
    cr_assert_eq(unic_jpeg_load(path, 0, 0, &im, err, sizeof err), 0, "%s", err);
    cr_assert_eq(im.c, 3);
    for (int i = 0; i < im.w * im.h; i++)
        cr_assert(im.px[3 * i] == im.px[3 * i + 1] && im.px[3 * i] == im.px[3 * i + 2]);
    unic_image_free(&im);
    free(path);
}

Test(jpeg, dct_scaling)
{
    size_t n;
    char *path = test_fixture("tf_big.jpg");
    uint8_t *data = (uint8_t *)test_read_file(path, &n);
    cr_assert(data);
    unic_image im;
    cr_assert_eq(unic_jpeg_decode(data, n, 0, 0, &im, err, sizeof err), 0, "%s", err);
    cr_assert(im.w == 512 && im.h == 384);
    unic_image_free(&im);
    /* 512 x 384 with at least 100 x 100: 1/4 gives 128 x 96 (too short),
     * 3/8 gives 192 x 144. */
    cr_assert_eq(unic_jpeg_decode(data, n, 100, 100, &im, err, sizeof err), 0, "%s", err);
    cr_assert(im.w == 192 && im.h == 144, "%d x %d", im.w, im.h);
    unic_image_free(&im);
    /* exactly reachable: 1/4 */
    cr_assert_eq(unic_jpeg_decode(data, n, 128, 96, &im, err, sizeof err), 0, "%s", err);
    cr_assert(im.w == 128 && im.h == 96, "%d x %d", im.w, im.h);
    unic_image_free(&im);
    /* a bound on one side only */
    cr_assert_eq(unic_jpeg_decode(data, n, 0, 40, &im, err, sizeof err), 0, "%s", err);
    cr_assert(im.w == 64 && im.h == 48, "%d x %d", im.w, im.h);
    unic_image_free(&im);
    /* larger than the image: full size, never upscaled */
    cr_assert_eq(unic_jpeg_decode(data, n, 600, 600, &im, err, sizeof err), 0, "%s", err);
    cr_assert(im.w == 512 && im.h == 384, "%d x %d", im.w, im.h);
    unic_image_free(&im);
    free(data);
    free(path);

    /* The scaled decode is libjpeg's, as PIL's draft() gets it. */
    load_cases();
    for (int i = 0; i < ncases; i++) {
        const tcase *t = &cases[i];
        if (strcmp(t->op, "jpeg_draft")) continue;
        char *p = test_fixture(t->in);
        cr_assert_eq(unic_jpeg_load(p, t->v[2], t->v[3], &im, err, sizeof err), 0, "%s", err);
        diff d = compare(&im, t->v[0], t->v[1], t->file);
        cr_log_info("jpeg draft %s: max %d, mean %.4f", t->file, d.max, d.mean);
        cr_expect(d.mean < 1.0 && d.max <= 8, "draft: max %d mean %.3f", d.max, d.mean);
        unic_image_free(&im);
        free(p);
    }
}

Test(jpeg, corrupt_files_are_errors_naming_the_file)
{
    char *dir = test_tmpdir("jpeg");
    size_t n;
    char *src = test_fixture("tf_big.jpg");
    char *data = test_read_file(src, &n);
    unic_image im = {0};

    char *cut = test_path(dir, "truncated.jpg");
    test_write_file(cut, data, n / 2);
    cr_assert_eq(unic_jpeg_load(cut, 0, 0, &im, err, sizeof err), -1);
    cr_assert(strstr(err, cut), "%s", err);
    cr_assert_null(im.px);
    cr_log_info("truncated: %s", err);
    /* scaled decodes stop on the warning too */
    cr_assert_eq(unic_jpeg_load(cut, 100, 100, &im, err, sizeof err), -1);

    char *junk = test_path(dir, "notes.jpg");
    test_write_text(junk, "these are not the bytes you are looking for\n");
    cr_assert_eq(unic_jpeg_load(junk, 0, 0, &im, err, sizeof err), -1);
    cr_assert(strstr(err, junk) && strstr(err, "not a JPEG"), "%s", err);

    /* A JPEG start followed by garbage: the header parser's message. */
    char *bad = test_path(dir, "header.jpg");
    char hdr[64];
    memset(hdr, 0x5a, sizeof hdr);
    hdr[0] = (char)0xFF;
    hdr[1] = (char)0xD8;
    test_write_file(bad, hdr, sizeof hdr);
    cr_assert_eq(unic_jpeg_load(bad, 0, 0, &im, err, sizeof err), -1);
    cr_assert(strstr(err, bad), "%s", err);
    cr_log_info("bad header: %s", err);

    char *missing = test_path(dir, "missing.jpg");
    cr_assert_eq(unic_jpeg_load(missing, 0, 0, &im, err, sizeof err), -1);
    cr_assert(strstr(err, missing), "%s", err);

    /* Memory decode: the same error without a path. */
    cr_assert_eq(unic_jpeg_decode((const uint8_t *)data, n / 3, 0, 0, &im, err, sizeof err), -1);
    free(cut);
    free(junk);
    free(bad);
    free(missing);
    free(data);
    free(src);
    free(dir);
}

static uint8_t *thread_data;
static size_t thread_n;

static void *decode_many(void *arg)
{
    unic_image ref = *(unic_image *)arg;
    char e[256];
    for (int i = 0; i < 20; i++) {
        unic_image im;
        if (unic_jpeg_decode(thread_data, thread_n, 0, 0, &im, e, sizeof e) != 0)
            return "decode failed";
        int same = im.w == ref.w && im.h == ref.h &&
                   !memcmp(im.px, ref.px, (size_t)im.w * im.h * 3);
        unic_image_free(&im);
        if (!same) return "different pixels";
    }
    return NULL;
}

Test(jpeg, decodes_from_several_threads)
{
    char *path = test_fixture("tf_prog.jpg");
    thread_data = (uint8_t *)test_read_file(path, &thread_n);
    unic_image ref;
    cr_assert_eq(unic_jpeg_decode(thread_data, thread_n, 0, 0, &ref, err, sizeof err), 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, decode_many, &ref);
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(th[i], &res);
        cr_assert_null(res, "thread %d: %s", i, (char *)res);
    }
    unic_image_free(&ref);
    free(thread_data);
    free(path);
}

/* ---- pipelines -------------------------------------------------------------- */
static void expect_parse_error(const char *spec, const char *want)
{
    err[0] = 0;
    unic_pipeline *p = unic_pipeline_parse(spec, err, sizeof err);
    cr_assert_null(p, "'%s' parsed", spec);
    cr_assert(strstr(err, want), "'%s': message '%s' lacks '%s'", spec, err, want);
}

Test(pipeline, parse_errors)
{
    expect_parse_error("resize(256) color_jitter(0.4)",
                       "color_jitter(0.4): expected 4 numbers (brightness, contrast, saturation, "
                       "hue)");
    expect_parse_error("resize(256) blur(3)", "unknown step 'blur'");
    expect_parse_error("resize(256) blur(3)", "known steps: resize, center_crop, random_crop");
    expect_parse_error("center_crop(224) hflp(0.5)", "did you mean 'hflip'");
    expect_parse_error("resize(abc)", "resize(abc): expected resize(size");
    expect_parse_error("resize(256, lanczos)", "bilinear or bicubic");
    expect_parse_error("center_crop(0)", "center_crop(0): expected one positive integer size");
    expect_parse_error("hflip(1.5)", "hflip(1.5): expected one probability in [0, 1]");
    expect_parse_error("grayscale()", "grayscale(): expected one probability");
    expect_parse_error("random_resized_crop(224, 0.5)", "scale_lo, scale_hi");
    expect_parse_error("random_resized_crop(224, 0.9, 0.5)", "scale_lo <= scale_hi");
    expect_parse_error("color_jitter(0.4, 0.4, 0.4, 0.7)", "hue must be in [0, 0.5]");
    expect_parse_error("normalize(cifar)", "normalize(cifar): expected normalize(imagenet)");
    expect_parse_error("normalize(imagenet) hflip(0.5)", "must be the last step");
    expect_parse_error("resize(256", "missing ')'");
    expect_parse_error("resize(256,,bicubic)", "empty argument");
    expect_parse_error("resize(256) ,", "unexpected ','");
}

Test(pipeline, parse_forms_and_shapes)
{
    unic_pipeline *p = unic_pipeline_parse(
        "resize(256, bicubic)\tcenter_crop(224)  normalize(imagenet)", err, sizeof err);
    cr_assert(p, "%s", err);
    int c, h, w;
    unic_pipeline_out_shape(p, 500, 375, 3, &c, &h, &w);
    cr_assert(c == 3 && h == 224 && w == 224);
    cr_assert_eq(unic_pipeline_min_side(p), 256);
    unic_pipeline_free(p);

    p = unic_pipeline_parse("hflip(0.5) resize(32)", err, sizeof err);
    cr_assert(p, "%s", err);
    unic_pipeline_out_shape(p, 67, 45, 3, &c, &h, &w);
    cr_assert(c == 3 && h == 32 && w == 47, "%d %d %d", c, h, w); /* int(32 * 67 / 45) */
    cr_assert_eq(unic_pipeline_min_side(p), 32);
    unic_pipeline_free(p);

    p = unic_pipeline_parse("random_resized_crop(224) hflip(0.5) color_jitter(0.4, 0.4, 0.4, 0.1) "
                            "grayscale(0.2) normalize(0.5 0.5 0.5 0.25 0.25 0.25)",
                            err, sizeof err);
    cr_assert(p, "%s", err);
    unic_pipeline_out_shape(p, 500, 375, 3, &c, &h, &w);
    cr_assert(c == 3 && h == 224 && w == 224);
    cr_assert_eq(unic_pipeline_min_side(p), 0); /* a crop first: full resolution */
    unic_pipeline_free(p);

    p = unic_pipeline_parse("", err, sizeof err); /* the identity */
    cr_assert(p, "%s", err);
    unic_pipeline_out_shape(p, 28, 28, 1, &c, &h, &w);
    cr_assert(c == 1 && h == 28 && w == 28);
    cr_assert_eq(unic_pipeline_min_side(p), 0);
    unic_pipeline_free(p);
}

Test(pipeline, test_pipeline_equals_manual_composition)
{
    unic_image a = input("a");
    unic_pipeline *p = unic_pipeline_parse(
        "resize(32, bicubic) center_crop(24) normalize(imagenet)", err, sizeof err);
    cr_assert(p, "%s", err);
    float *out = malloc(sizeof(float) * 3 * 24 * 24);
    unic_rng rng = unic_rng_stream(1, 2, 3);
    cr_assert_eq(unic_pipeline_apply(p, &a, &rng, out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rng.state, unic_rng_stream(1, 2, 3).state, "a fixed pipeline drew numbers");

    unic_image r, cc;
    cr_assert_eq(unic_resize_short(&a, 32, UNIC_BICUBIC, &r), 0);
    cr_assert(r.w == 47 && r.h == 32);
    cr_assert_eq(unic_center_crop(&r, 24, 24, &cc), 0);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 24 * 24; i++) {
            float want = ((float)cc.px[3 * i + ch] / 255.0f - mean[ch]) / sd[ch];
            cr_assert_float_eq(out[ch * 576 + i], want, 1e-6f, "c%d px%d", ch, i);
        }
    unic_pipeline_free(p);

    /* Without normalize: the stored 0..255 values, C x H x W. */
    p = unic_pipeline_parse("resize(32, bicubic) center_crop(24)", err, sizeof err);
    cr_assert_eq(unic_pipeline_apply(p, &a, &rng, out, err, sizeof err), 0, "%s", err);
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 24 * 24; i++)
            cr_assert_eq(out[ch * 576 + i], (float)cc.px[3 * i + ch]);
    unic_pipeline_free(p);

    /* hflip(1) always flips, grayscale(1) always grays. */
    p = unic_pipeline_parse("hflip(1) grayscale(1)", err, sizeof err);
    float *full = malloc(sizeof(float) * 3 * a.w * a.h);
    cr_assert_eq(unic_pipeline_apply(p, &a, &rng, full, err, sizeof err), 0, "%s", err);
    unic_image f, g;
    unic_hflip(&a, &f);
    unic_grayscale(&f, 1, &g);
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < a.w * a.h; i++)
            cr_assert_eq(full[ch * a.w * a.h + i], (float)g.px[3 * i + ch]);
    unic_pipeline_free(p);
    free(full);
    free(out);
    unic_image_free(&f);
    unic_image_free(&g);
    unic_image_free(&r);
    unic_image_free(&cc);
    unic_image_free(&a);
}

Test(pipeline, random_steps_deterministic_per_stream)
{
    unic_image b = input("b");
    uint8_t before[120 * 80 * 3];
    memcpy(before, b.px, sizeof before);
    unic_pipeline *p = unic_pipeline_parse(
        "random_resized_crop(32, 0.2, 1.0) hflip(0.5) color_jitter(0.4, 0.4, 0.4, 0.1) "
        "grayscale(0.2) normalize(imagenet)", err, sizeof err);
    cr_assert(p, "%s", err);
    const size_t n = 3 * 32 * 32;
    float *o1 = malloc(sizeof(float) * n), *o2 = malloc(sizeof(float) * n);
    int differ = 0;
    for (uint64_t k = 0; k < 20; k++) {
        unic_rng r1 = unic_rng_stream(5, 0, k), r2 = unic_rng_stream(5, 0, k);
        cr_assert_eq(unic_pipeline_apply(p, &b, &r1, o1, err, sizeof err), 0, "%s", err);
        cr_assert_eq(unic_pipeline_apply(p, &b, &r2, o2, err, sizeof err), 0, "%s", err);
        cr_assert_eq(memcmp(o1, o2, sizeof(float) * n), 0, "stream %d not deterministic", (int)k);
        unic_rng r3 = unic_rng_stream(5, 0, k + 100);
        cr_assert_eq(unic_pipeline_apply(p, &b, &r3, o2, err, sizeof err), 0, "%s", err);
        differ += memcmp(o1, o2, sizeof(float) * n) != 0;
        for (size_t i = 0; i < n; i++) cr_assert(isfinite(o1[i]) && fabsf(o1[i]) < 3.0f);
    }
    cr_assert_geq(differ, 18, "different streams gave the same output %d times", 20 - differ);
    cr_assert_eq(memcmp(before, b.px, sizeof before), 0, "the input was modified");
    free(o1);
    free(o2);
    unic_pipeline_free(p);

    /* random_crop: every position inside, the crop equals unic_crop's */
    p = unic_pipeline_parse("random_crop(30)", err, sizeof err);
    cr_assert(p, "%s", err);
    float *o = malloc(sizeof(float) * 3 * 30 * 30);
    unic_rng r = unic_rng_stream(9, 9, 9);
    cr_assert_eq(unic_pipeline_apply(p, &b, &r, o, err, sizeof err), 0, "%s", err);
    unic_rng again = unic_rng_stream(9, 9, 9);
    int y = (int)unic_rng_below(&again, 80 - 30 + 1), x = (int)unic_rng_below(&again, 120 - 30 + 1);
    unic_image cr;
    unic_crop(&b, x, y, 30, 30, &cr);
    for (int i = 0; i < 900; i++) cr_assert_eq(o[i], (float)cr.px[3 * i]);
    unic_image_free(&cr);
    unic_image small = input("d"); /* 40 x 30 */
    unic_pipeline_free(p);
    p = unic_pipeline_parse("random_crop(32)", err, sizeof err);
    cr_assert_eq(unic_pipeline_apply(p, &small, &r, o, err, sizeof err), -1);
    cr_assert(strstr(err, "random_crop(32)"), "%s", err);
    unic_pipeline_free(p);
    free(o);
    unic_image_free(&small);
    unic_image_free(&b);
}

/* ---- SCAN's strong augmentation against Pillow ---------------------------------
 * tests/fixtures/make_strong_aug_fixtures.py: each operation of SCAN's
 * RandAugment list on two RGB images and a gray one; every pixel must match. */
static unic_image raw_image(const char *file, int w, int h, int c)
{
    unic_image im;
    unic_image_alloc(&im, w, h, c);
    uint8_t *px = read_fixture(file, (size_t)w * h * c);
    memcpy(im.px, px, (size_t)w * h * c);
    free(px);
    return im;
}

Test(transforms, strong_augmentation_matches_pil)
{
    char *path = test_fixture("strong_aug_cases.txt");
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[512], names[4][32], files[4][96];
    int dims[4][3], ninputs = 0, checked = 0;
    while (fgets(line, sizeof line, f)) {
        char op[32], a[32], b[96], cfile[96];
        int w, h, c;
        if (line[0] == '#') continue;
        if (sscanf(line, "input %15s %d %d %d %95s", a, &w, &h, &c, b) == 5) {
            cr_assert_lt(ninputs, 4);
            snprintf(names[ninputs], sizeof names[0], "%s", a);
            snprintf(files[ninputs], sizeof files[0], "%s", b);
            dims[ninputs][0] = w, dims[ninputs][1] = h, dims[ninputs][2] = c;
            ninputs++;
            continue;
        }
        double v;
        cr_assert_eq(sscanf(line, "%31s %31s %lf %95s", op, a, &v, cfile), 4, "%s", line);
        int k = -1;
        for (int i = 0; i < ninputs; i++)
            if (strcmp(names[i], a) == 0) k = i;
        cr_assert_geq(k, 0, "%s", line);
        unic_image im = raw_image(files[k], dims[k][0], dims[k][1], dims[k][2]), out = {0};
        double m[6] = {1, 0, 0, 0, 1, 0};
        int moved = 1;
        if (strcmp(op, "autocontrast") == 0) unic_autocontrast(&im), moved = 0;
        else if (strcmp(op, "equalize") == 0) unic_equalize(&im), moved = 0;
        else if (strcmp(op, "posterize") == 0) unic_posterize(&im, (int)v), moved = 0;
        else if (strcmp(op, "solarize") == 0) unic_solarize(&im, v), moved = 0;
        else if (strcmp(op, "sharpness") == 0) unic_adjust_sharpness(&im, (float)v), moved = 0;
        else if (strcmp(op, "rotate") == 0) unic_rotate_nearest(&im, v, &out);
        else {
            if (strcmp(op, "shear_x") == 0) m[1] = v;
            else if (strcmp(op, "shear_y") == 0) m[3] = v;
            else if (strcmp(op, "translate_x") == 0) m[2] = v * im.w;
            else if (strcmp(op, "translate_y") == 0) m[5] = v * im.h;
            else cr_assert_fail("unknown operation in %s", line);
            unic_affine_nearest(&im, m, &out);
        }
        const unic_image *got = moved ? &out : &im;
        size_t n = (size_t)im.w * im.h * im.c;
        uint8_t *want = read_fixture(cfile, n);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += got->px[i] != want[i];
        cr_expect_eq(bad, 0, "%s %s %g: %zu of %zu values differ from Pillow's", op, a, v, bad, n);
        free(want);
        unic_image_free(&im);
        if (moved) unic_image_free(&out);
        checked++;
    }
    fclose(f);
    free(path);
    cr_expect_geq(checked, 27, "%d cases", checked);
}

/* randaugment and cutout in a pipeline: shapes kept, reproducible per
 * stream, different across streams, and the cut square is zero. */
Test(transforms, randaugment_and_cutout_pipeline)
{
    unic_pipeline *p = unic_pipeline_parse("randaugment(4) normalize(imagenet) cutout(16)", err,
                                           sizeof err);
    cr_assert_not_null(p, "%s", err);
    unic_image im = input("a");
    float *o1 = malloc(sizeof(float) * 3 * 67 * 45), *o2 = malloc(sizeof(float) * 3 * 67 * 45);
    int differ = 0, zeros = 0;
    for (uint64_t s = 0; s < 8; s++) {
        unic_rng r1 = unic_rng_stream(5, s, 0), r2 = unic_rng_stream(5, s, 0);
        cr_assert_eq(unic_pipeline_apply(p, &im, &r1, o1, err, sizeof err), 0, "%s", err);
        cr_assert_eq(unic_pipeline_apply(p, &im, &r2, o2, err, sizeof err), 0, "%s", err);
        cr_expect_eq(memcmp(o1, o2, sizeof(float) * 3 * 67 * 45), 0, "one stream, one image");
        unic_rng r3 = unic_rng_stream(5, s + 100, 0);
        unic_pipeline_apply(p, &im, &r3, o2, err, sizeof err);
        differ += memcmp(o1, o2, sizeof(float) * 3 * 67 * 45) != 0;
        for (int i = 0; i < 3 * 67 * 45; i++) zeros += o1[i] == 0.0f;
    }
    cr_expect_geq(differ, 7, "other streams, other augmentations");
    cr_expect_gt(zeros, 0, "cutout zeroes a square of the normalised tensor");
    unic_pipeline_free(p);
    const char *bad[] = {"cutout(8) hflip(0.5)", "normalize(imagenet) randaugment(2)",
                         "randaugment(0)", "randaugment(17)", "cutout(0)"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_null(unic_pipeline_parse(bad[i], err, sizeof err), "%s", bad[i]);
    free(o1);
    free(o2);
    unic_image_free(&im);
}
