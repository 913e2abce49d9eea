/* `unic report`'s C side: HTML escaping and base64, the confusion matrix
 * after matching against scikit-learn and SciPy (tests/fixtures/
 * make_confusion_fixtures.py), PNG and mosaic encoding decoded back, a
 * partial run's page naming what is missing, and a synthetic 200-class,
 * 100,000-item run whose page stays under 10 MB by sampling (and says so).
 * The pages in a real browser: tests/browser/run.sh. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "eval/metrics.h"
#include "eval/predictions.h"
#include "helpers.h"
#include "report/html.h"
#include "report/mosaic.h"
#include "report/png.h"
#include "report/report.h"

Test(report, escaping_keeps_outside_text_out_of_the_markup)
{
    char *e = unic_html_escape("<script>alert('x')</script> & \"q\"");
    cr_expect_str_eq(e, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
    free(e);
    e = unic_html_escape("a\x01" "b\tc\nd\x7f" "e");
    cr_expect_str_eq(e, "a\xef\xbf\xbd" "b\tc\nd\xef\xbf\xbd" "e", "control characters: %s", e);
    free(e);
    e = unic_html_escape("T-shirt/top · Ankle boot — 靴");
    cr_expect_str_eq(e, "T-shirt/top · Ankle boot — 靴", "UTF-8 passes: %s", e);
    free(e);
    e = unic_html_escape("");
    cr_expect_str_eq(e, "");
    free(e);
    unic_html h;
    unic_html_init(&h);
    unic_html_textf(&h, "%s=%d", "<k>", 3);
    unic_html_printf(&h, "<b>%s</b>", "raw");
    cr_expect_str_eq(h.data, "&lt;k&gt;=3<b>raw</b>");
    for (int i = 0; i < 20000; i++) unic_html_raw(&h, "0123456789"); /* growth */
    cr_expect_eq(h.len, strlen(h.data));
    cr_expect_eq(h.len, 21 + 200000);
    unic_html_free(&h);
}

Test(report, base64_matches_rfc_4648)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        size_t len;
        char *b = unic_base64(in[i], strlen(in[i]), &len);
        cr_expect_str_eq(b, out[i]);
        cr_expect_eq(len, strlen(out[i]));
        free(b);
    }
    unic_html h;
    unic_html_init(&h);
    unic_html_data_uri(&h, "image/png", "\xff\x00\x10", 3);
    cr_expect_str_eq(h.data, "data:image/png;base64,/wAQ");
    unic_html_free(&h);
}

/* ---- confusion matrix after matching vs scikit-learn ------------------- */

static long next_long(char **s)
{
    char *end;
    long v = strtol(*s, &end, 10);
    cr_assert(end != *s, "fixture: expected an integer near '%.20s'", *s);
    *s = end;
    return v;
}

static void next_word(char **s, char *out, size_t cap)
{
    while (**s == ' ' || **s == '\n') (*s)++;
    size_t len = strcspn(*s, " \n");
    cr_assert(len > 0 && len < cap);
    memcpy(out, *s, len);
    out[len] = '\0';
    *s += len;
}

Test(report, confusion_matrix_after_matching_equals_sklearn)
{
    char *path = test_fixture("confusion_cases.txt");
    char *text = test_read_file(path, NULL), *s = text, word[64], name[64];
    cr_assert_not_null(text, "missing %s", path);
    next_word(&s, word, sizeof word);
    cr_assert_str_eq(word, "cases");
    int cases = (int)next_long(&s);
    cr_assert_gt(cases, 0);
    for (int k = 0; k < cases; k++) {
        next_word(&s, word, sizeof word);
        cr_assert_str_eq(word, "case");
        next_word(&s, name, sizeof name);
        int64_t n = next_long(&s);
        int32_t *yt = malloc(sizeof(int32_t) * (size_t)n), *yp = malloc(sizeof(int32_t) * (size_t)n);
        for (int64_t i = 0; i < n; i++) yt[i] = (int32_t)next_long(&s);
        for (int64_t i = 0; i < n; i++) yp[i] = (int32_t)next_long(&s);
        int rows = (int)next_long(&s), cols = (int)next_long(&s);
        int64_t matched = next_long(&s);
        unic_confusion c;
        char err[256];
        cr_assert_eq(unic_confusion_matched(yt, yp, n, &c, err, sizeof err), 0, "%s: %s", name, err);
        cr_expect_eq(c.nrows, rows, "%s: rows", name);
        cr_expect_eq(c.ncols, cols, "%s: columns", name);
        cr_expect_eq(c.matched, matched, "%s: matched %lld, sklearn %lld", name,
                     (long long)c.matched, (long long)matched);
        cr_expect_eq(c.n, n);
        for (int r = 0; r < rows; r++)
            cr_expect_eq(c.class_value[r], next_long(&s), "%s: class of row %d", name, r);
        for (int j = 0; j < cols; j++)
            cr_expect_eq(c.cluster_value[j], next_long(&s), "%s: cluster of column %d", name, j);
        for (int j = 0; j < cols; j++)
            cr_expect_eq(c.matched_row[j], next_long(&s), "%s: matched row of column %d", name, j);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                cr_expect_eq(c.counts[(size_t)r * (size_t)cols + (size_t)j], next_long(&s),
                             "%s: cell %d,%d", name, r, j);
        /* the matched count is ACC's numerator */
        unic_cluster_scores sc;
        cr_assert_eq(unic_cluster_scores_compute(yt, yp, n, &sc, err, sizeof err), 0);
        cr_expect_float_eq(sc.acc, (double)c.matched / (double)n, 1e-15, "%s", name);
        unic_confusion_free(&c);
        free(yt);
        free(yp);
    }
    free(text);
    free(path);
}

/* ---- encoders, decoded back -------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

Test(report, png_decodes_back_to_its_pixels)
{
    int w = 37, h = 11;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)(i * 31 + i / 7);
    size_t n;
    unsigned char *png = unic_png_encode_rgb(rgb, w, h, &n);
    cr_assert_not_null(png);
    cr_expect_eq(memcmp(png, "\x89PNG\r\n\x1a\n", 8), 0);
    /* walk the chunks, check every CRC, inflate IDAT */
    size_t at = 8;
    unsigned char *raw = malloc((size_t)(w * 3 + 1) * h);
    uLongf raw_n = (uLongf)(w * 3 + 1) * h;
    int saw_end = 0;
    while (at + 12 <= n) {
        uint32_t len = be32(png + at);
        uLong crc = crc32(0L, png + at + 4, len + 4);
        cr_expect_eq(be32(png + at + 8 + len), (uint32_t)crc, "chunk %.4s CRC", png + at + 4);
        if (memcmp(png + at + 4, "IHDR", 4) == 0) {
            cr_expect_eq(be32(png + at + 8), (uint32_t)w);
            cr_expect_eq(be32(png + at + 12), (uint32_t)h);
        } else if (memcmp(png + at + 4, "IDAT", 4) == 0) {
            cr_assert_eq(uncompress(raw, &raw_n, png + at + 8, len), Z_OK);
        } else if (memcmp(png + at + 4, "IEND", 4) == 0) {
            saw_end = 1;
        }
        at += 12 + len;
    }
    cr_expect(saw_end && at == n);
    for (int y = 0; y < h; y++) {
        cr_expect_eq(raw[(size_t)y * (w * 3 + 1)], 0, "filter type of row %d", y);
        cr_expect_eq(memcmp(raw + (size_t)y * (w * 3 + 1) + 1, rgb + (size_t)y * w * 3, (size_t)w * 3), 0,
                     "row %d", y);
    }
    cr_expect_null(unic_png_encode_rgb(rgb, 0, 3, &n));
    free(raw);
    free(png);
    free(rgb);
}

Test(report, mosaic_tiles_decode_back)
{
    unic_mosaic m;
    unic_mosaic_init(&m, 10, 4, 32, 3);
    cr_expect_eq(m.cols, 4);
    cr_expect_eq(m.rows, 3);
    cr_expect_eq(m.w, 4 * 32 + 3 * UNIC_MOSAIC_GAP);
    cr_expect_eq(m.h, 3 * 32 + 2 * UNIC_MOSAIC_GAP);
    unic_image gray, rgb;
    unic_image_alloc(&gray, 28, 28, 1); /* smaller than the tile: enlarged */
    memset(gray.px, 40, 28 * 28);
    unic_image_alloc(&rgb, 90, 60, 3); /* larger, not square: resized and cropped */
    for (int i = 0; i < 90 * 60; i++) rgb.px[i * 3] = 250, rgb.px[i * 3 + 1] = 10, rgb.px[i * 3 + 2] = 10;
    cr_expect_eq(unic_mosaic_put(&m, 0, &gray), 0);
    cr_expect_eq(unic_mosaic_put(&m, 5, &rgb), 0);
    cr_expect_neq(unic_mosaic_put(&m, 12, &rgb), 0, "tile 12 of 12 is outside");
    char err[256];
    size_t n;
    unsigned char *jpeg = unic_mosaic_jpeg(&m, 90, &n, err, sizeof err);
    cr_assert_not_null(jpeg, "%s", err);
    unic_image back;
    cr_assert_eq(unic_jpeg_decode(jpeg, n, 0, 0, &back, err, sizeof err), 0, "%s", err);
    cr_expect_eq(back.w, m.w);
    cr_expect_eq(back.h, m.h);
    const uint8_t *t0 = back.px + ((size_t)16 * back.w + 16) * 3; /* middle of tile 0: gray 40 */
    cr_expect(abs(t0[0] - 40) < 8 && abs(t0[1] - 40) < 8 && abs(t0[2] - 40) < 8);
    int x5 = 1 * (32 + UNIC_MOSAIC_GAP) + 16, y5 = 1 * (32 + UNIC_MOSAIC_GAP) + 16;
    const uint8_t *t5 = back.px + ((size_t)y5 * back.w + x5) * 3; /* tile 5: red */
    cr_expect(t5[0] > 200 && t5[1] < 60 && t5[2] < 60, "tile 5 is %d,%d,%d", t5[0], t5[1], t5[2]);
    const uint8_t *empty = back.px + ((size_t)(2 * (32 + UNIC_MOSAIC_GAP) + 16) * back.w + 3 * (32 + UNIC_MOSAIC_GAP) + 16) * 3;
    cr_expect(empty[0] > 240, "tiles without an image stay white");
    unic_image_free(&back);
    free(jpeg);
    unic_image_free(&gray);
    unic_image_free(&rgb);
    unic_mosaic_free(&m);
}

/* ---- pages ---------------------------------------------------------------- */

static char *page_of(const char *dir, const unic_report_options *o)
{
    char path[4096], err[4096];
    cr_assert_eq(unic_report_run(dir, o, path, sizeof path, err, sizeof err), 0, "%s", err);
    char *page = test_read_file(path, NULL);
    cr_assert_not_null(page);
    return page;
}

Test(report, a_partial_run_shows_what_it_has_and_names_what_is_missing)
{
    char *dir = test_tmpdir("report-partial"), *p;
    test_write_text(p = test_path(dir, "config.resolved.ini"),
                    "; resolved\n[data]\npath = /nonexistent/features.npy\nformat = auto\n"
                    "[backbone]\nplugin = features\n[train]\nepochs = 3\n");
    free(p);
    test_write_text(p = test_path(dir, "history.csv"),
                    "epoch,lr,objective,pos,neg,entropy,acc,nmi,ari,seconds\n"
                    "1,0.001,-1.5,0.4,0.2,2.1,,,,1.2\n2,0.0005,-1.8,0.3,0.2,2.2,0.5,0.4,0.3,1.1\n");
    free(p);
    char *page = page_of(dir, NULL);
    cr_expect(strstr(page, "id=\"missing\""), "the page lists what is missing");
    cr_expect(strstr(page, "metrics.json: missing"), "names metrics.json");
    cr_expect(strstr(page, "predictions.csv: missing"), "names predictions.csv");
    cr_expect(strstr(page, "id=\"curve-objective\""), "the curves of what exists");
    cr_expect(strstr(page, "id=\"curve-loss-entropy\""));
    cr_expect(strstr(page, "/nonexistent/features.npy"), "the data set summary");
    cr_expect(!strstr(page, "<script"), "no scripts");
    free(page);
    /* an empty folder, and a file, are refused by name */
    char err[4096], path[4096], *empty = test_tmpdir("report-empty");
    cr_expect_neq(unic_report_run(empty, NULL, path, sizeof path, err, sizeof err), 0);
    cr_expect(strstr(err, empty) && strstr(err, "none of a run's files"), "%s", err);
    p = test_path(dir, "history.csv");
    cr_expect_neq(unic_report_run(p, NULL, path, sizeof path, err, sizeof err), 0);
    cr_expect(strstr(err, "not a folder"), "%s", err);
    free(p);
    /* a damaged predictions file is a note naming file and line, not a failure */
    test_write_text(p = test_path(dir, "predictions.csv"), "index,prediction,confidence,label\n0,1,0.5,2\n1,x,0.5,1\n");
    free(p);
    page = page_of(dir, NULL);
    cr_expect(strstr(page, "predictions.csv:3: column &#39;prediction&#39;"), "the bad line is named");
    free(page);
    test_remove_tree(dir);
    test_remove_tree(empty);
    free(dir);
    free(empty);
}

/* IDX images: n images of side x side, each a pattern of its own. */
static void write_idx_images(const char *path, int n, int side)
{
    size_t bytes = 16 + (size_t)n * side * side;
    unsigned char *b = malloc(bytes);
    memcpy(b, "\0\0\x08\x03", 4);
    int dims[3] = {n, side, side};
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 4; k++) b[4 + d * 4 + k] = (unsigned char)(dims[d] >> (24 - 8 * k));
    for (int i = 0; i < n; i++)
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) {
                double v = 128 + 60 * sin(x * (0.1 + 0.01 * (i % 13)) + i) * cos(y * (0.07 + 0.01 * (i % 7)))
                           + 40 * sin((x + y) * 0.3 + i * 0.1) + (double)((x * 7919 + y * 104729 + i * 31) % 23);
                b[16 + ((size_t)i * side + y) * side + x] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    test_write_file(path, b, bytes);
    free(b);
}

Test(report, a_200_class_100000_item_run_stays_under_10_mb, .timeout = 300)
{
    const int k = 200, n = 100000, images = 2000, epochs = 1000;
    char *dir = test_tmpdir("report-large"), *p, line[256];
    char *idx = test_path(dir, "images-idx3-ubyte");
    write_idx_images(idx, images, 64);
    char cfg[8192];
    snprintf(cfg, sizeof cfg, "; resolved\n[data]\npath = %s\nformat = idx_images\nsplit = train\n"
             "[backbone]\nplugin = pixels\n", idx);
    test_write_text(p = test_path(dir, "config.resolved.ini"), cfg);
    free(p);
    /* predictions: class i % k, mostly its own cluster, confidences spread */
    size_t cap = (size_t)n * 48 + 64, len = 0;
    char *csv = malloc(cap);
    len += (size_t)snprintf(csv, cap, "index,prediction,confidence,label\n");
    uint64_t state = 12345;
    for (int i = 0; i < n; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int label = i % k, pred = (state >> 33) % 10 < 7 ? (label * 7 + 3) % k : (int)((state >> 40) % k);
        len += (size_t)snprintf(csv + len, cap - len, "%d,%d,%.6f,%d\n", i % images, pred,
                                0.2 + 0.8 * (double)((state >> 20) % 1000) / 1000.0, label);
    }
    test_write_file(p = test_path(dir, "predictions.csv"), csv, len);
    free(p);
    free(csv);
    /* 1,000 epochs of history, scored every epoch: thinned to 400 points */
    cap = (size_t)epochs * 160 + 128;
    csv = malloc(cap);
    len = (size_t)snprintf(csv, cap, "epoch,lr,objective,pos,neg,entropy,acc,nmi,ari,seconds\n");
    for (int e = 1; e <= epochs; e++)
        len += (size_t)snprintf(csv + len, cap - len, "%d,0.001,%.4f,%.4f,0.1,5.2,%.4f,%.4f,%.4f,3.5\n",
                                e, -2.0 - e * 0.001, 1.0 / e, 0.5 + e * 0.0005, 0.6, 0.4);
    test_write_file(p = test_path(dir, "history.csv"), csv, len);
    free(p);
    free(csv);
    snprintf(line, sizeof line, "{\"experiment\": \"large\", \"task\": \"clustering\", \"samples\": %d, "
             "\"clusters\": %d, \"unic\": {\"acc\": 0.7, \"nmi\": 0.6, \"ari\": 0.4}}", n, k);
    test_write_text(p = test_path(dir, "metrics.json"), line);
    free(p);
    char *page = page_of(dir, NULL);
    size_t size = strlen(page);
    cr_expect_lt(size, (size_t)10 << 20, "the page is %zu bytes", size);
    int mosaics = 0, cards = 0;
    for (const char *s = page; (s = strstr(s, "data-kind=\"confident\"")); s++) mosaics++;
    for (const char *s = page; (s = strstr(s, "<div class=\"cluster\"")); s++) cards++;
    cr_expect_eq(cards, k);
    cr_expect_eq(mosaics, k, "one mosaic per cluster");
    cr_expect(strstr(page, "Sampling on this page: ") && strstr(page, "Figure 12 shows at most 8 items "
              "and 4 mistakes per cluster"), "the sampling is stated");
    cr_expect(strstr(page, "curves are thinned to 400"), "thinned curves are stated");
    cr_expect(strstr(page, "<image class=\"cells\""), "a 200 x 200 matrix is one PNG");
    cr_expect(!strstr(page, "class=\"cell\""));
    fprintf(stderr, "report: a 200-class, 100,000-item page is %.2f MB\n", (double)size / 1048576.0);
    free(page);
    /* the budget is a flag: fewer thumbnails, a smaller page */
    unic_report_options o = {.max_thumbs = 800};
    page = page_of(dir, &o);
    cr_expect_lt(strlen(page), size * 3 / 4, "800 thumbnails: %zu bytes", strlen(page));
    free(page);
    free(idx);
    test_remove_tree(dir);
    free(dir);
}
