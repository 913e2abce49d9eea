/* The threaded loader on a small JPEG folder written here (a flat colour per
 * class plus a pattern, so random crops differ): batches in order with the
 * right contents, corrupt and truncated files skipped and named, results
 * bit-identical at 1, 2 and 4 threads, pipelines without a fixed output
 * refused; and Fashion-MNIST's gray images when the machine has them. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "helpers.h"
#include "data/imagesets.h"
#include "data/loader.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

static char err[2048];

static const uint8_t COLOURS[3][3] = {{220, 40, 40}, {40, 220, 40}, {40, 40, 220}};
static const char *CLASSES[3] = {"c0", "c1", "c2"};

/* The class colour with a +-12 pattern that makes every crop different. */
static void write_jpeg(const char *path, int w, int h, int cls)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                px[(y * w + x) * 3 + c] =
                    (uint8_t)(COLOURS[cls][c] + ((x * 7 + y * 3 + c * 5) % 25) - 12);
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long size = 0;
    cr_assert_eq(tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpg, &size, TJSAMP_444, 95, 0), 0);
    test_write_file(path, jpg, size);
    tjFree(jpg);
    tjDestroy(tj);
    free(px);
}

/* 3 classes x 5 images of assorted sizes: 15 items, labels i / 5. */
static char *make_folder(void)
{
    char *root = test_tmpdir("loader");
    for (int k = 0; k < 3; k++) {
        char *d = test_path(root, CLASSES[k]);
        cr_assert_eq(mkdir(d, 0755), 0);
        for (int j = 0; j < 5; j++) {
            char name[32];
            snprintf(name, sizeof name, "img%d.jpg", j);
            char *p = test_path(d, name);
            write_jpeg(p, 24 + 7 * j, 40 - 3 * j + k, k);
            free(p);
        }
        free(d);
    }
    return root;
}

static unic_imageset *open_folder(const char *root)
{
    unic_imageset *s;
    cr_assert_eq(unic_imageset_open("imagefolder", root, "", "", "", &s, err, sizeof err), 0,
                 "%s", err);
    return s;
}

static unic_pipeline *pipeline(const char *spec)
{
    unic_pipeline *p = unic_pipeline_parse(spec, err, sizeof err);
    cr_assert_not_null(p, "%s: %s", spec, err);
    return p;
}

/* All batches of one pass, concatenated. */
typedef struct pass {
    int64_t n, nbatches;
    int64_t idx[64];
    int batch_n[64];
    float *x;
} pass;

static pass run_pass(const unic_imageset *s, const unic_pipeline *p, const int64_t *order,
                     int64_t count, int bs, int threads, uint64_t epoch, int64_t *skipped)
{
    unic_loader *l = unic_loader_new(s, p, order, count, bs, threads, 42, epoch, err, sizeof err);
    cr_assert_not_null(l, "%s", err);
    int c, h, w;
    unic_loader_shape(l, &c, &h, &w);
    size_t item = (size_t)c * h * w;
    pass r = {0};
    r.x = malloc(item * (size_t)count * sizeof(float) + 1);
    unic_batch b;
    while (unic_loader_next(l, &b)) {
        cr_assert(b.n <= bs);
        memcpy(r.idx + r.n, b.idx, sizeof(int64_t) * (size_t)b.n);
        memcpy(r.x + (size_t)r.n * item, b.x, sizeof(float) * item * (size_t)b.n);
        r.batch_n[r.nbatches++] = b.n;
        r.n += b.n;
    }
    cr_assert_eq(unic_loader_next(l, &b), 0, "the end stays the end");
    if (skipped) *skipped = unic_loader_skipped(l);
    unic_loader_free(l);
    return r;
}

Test(loader, batches_in_order_with_contents)
{
    char *root = make_folder();
    unic_imageset *s = open_folder(root);
    unic_pipeline *p = pipeline("resize(16) center_crop(16)");
    int64_t order[15];
    for (int i = 0; i < 15; i++) order[i] = (i * 7) % 15; /* a permutation */
    unic_loader *l = unic_loader_new(s, p, order, 15, 4, 3, 1, 0, err, sizeof err);
    cr_assert_not_null(l, "%s", err);
    int c, h, w;
    unic_loader_shape(l, &c, &h, &w);
    cr_assert(c == 3 && h == 16 && w == 16, "%dx%dx%d", c, h, w);
    unic_batch b;
    int pos = 0, nb = 0;
    while (unic_loader_next(l, &b)) {
        cr_assert_eq(b.n, nb < 3 ? 4 : 3);
        for (int j = 0; j < b.n; j++, pos++) {
            cr_assert_eq(b.idx[j], order[pos], "batch %d item %d", nb, j);
            int cls = unic_imageset_label(s, b.idx[j]);
            for (int ch = 0; ch < 3; ch++) {
                const float *plane = b.x + ((size_t)j * 3 + ch) * 256;
                double sum = 0;
                for (int k = 0; k < 256; k++) sum += plane[k];
                double mean = sum / 256;
                cr_assert(mean > COLOURS[cls][ch] - 8 && mean < COLOURS[cls][ch] + 8,
                          "item %lld channel %d mean %.1f, class colour %d", (long long)b.idx[j],
                          ch, mean, COLOURS[cls][ch]);
            }
        }
        nb++;
    }
    cr_assert_eq(pos, 15);
    cr_assert_eq(nb, 4);
    cr_assert_eq(unic_loader_skipped(l), 0);
    unic_loader_free(l);

    /* an empty order gives no batches */
    l = unic_loader_new(s, p, order, 0, 4, 2, 1, 0, err, sizeof err);
    cr_assert_not_null(l, "%s", err);
    cr_assert_eq(unic_loader_next(l, &b), 0);
    unic_loader_free(l);
    unic_pipeline_free(p);
    unic_imageset_free(s);
    free(root);
}

Test(loader, same_batches_at_any_thread_count)
{
    char *root = make_folder();
    unic_imageset *s = open_folder(root);
    unic_pipeline *p = pipeline("random_resized_crop(16) hflip(0.5)");
    int64_t order[15];
    for (int i = 0; i < 15; i++) order[i] = 14 - i;
    pass ref = run_pass(s, p, order, 15, 4, 1, 0, NULL);
    cr_assert_eq(ref.n, 15);
    size_t bytes = (size_t)15 * 3 * 16 * 16 * sizeof(float);
    for (int t = 2; t <= 4; t += 2) {
        for (int rep = 0; rep < 3; rep++) {
            pass r = run_pass(s, p, order, 15, 4, t, 0, NULL);
            cr_assert_eq(r.n, 15);
            cr_assert_eq(memcmp(r.idx, ref.idx, sizeof(int64_t) * 15), 0);
            cr_assert_eq(memcmp(r.x, ref.x, bytes), 0, "%d threads differ from 1", t);
            free(r.x);
        }
    }
    /* batch size does not change an item's result either */
    pass r = run_pass(s, p, order, 15, 7, 2, 0, NULL);
    cr_assert_eq(memcmp(r.x, ref.x, bytes), 0, "batch size 7 differs from 4");
    free(r.x);
    /* ... but the epoch does: the augmentation is really drawn */
    r = run_pass(s, p, order, 15, 4, 2, 1, NULL);
    cr_assert_neq(memcmp(r.x, ref.x, bytes), 0, "epoch 1 repeats epoch 0");
    free(r.x);
    free(ref.x);
    unic_pipeline_free(p);
    unic_imageset_free(s);
    free(root);
}

Test(loader, corrupt_and_truncated_files_are_skipped)
{
    char *root = make_folder();
    /* c0/img0.jpg becomes random bytes; c1/img2.jpg loses its second half */
    char *bad = test_path(root, "c0/img0.jpg");
    uint8_t noise[777];
    uint64_t z = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        z = z * 6364136223846793005ULL + 1442695040888963407ULL;
        noise[i] = (uint8_t)(z >> 56);
    }
    test_write_file(bad, noise, sizeof noise);
    char *half = test_path(root, "c1/img2.jpg");
    size_t size;
    char *data = test_read_file(half, &size);
    test_write_file(half, data, size / 2);
    free(data);

    unic_imageset *s = open_folder(root); /* opening does not decode */
    cr_assert_eq(unic_imageset_size(s), 15);
    unic_pipeline *p = pipeline("resize(16) center_crop(16)");
    int64_t order[15];
    for (int i = 0; i < 15; i++) order[i] = i;
    int64_t skipped;
    pass r = run_pass(s, p, order, 15, 4, 2, 0, &skipped);
    cr_assert_eq(skipped, 2);
    cr_assert_eq(r.n, 13);
    cr_assert_eq(r.batch_n[0], 3); /* item 0 left out of the first batch */
    cr_assert_eq(r.batch_n[1], 3); /* item 7 (c1/img2) left out of the second */
    cr_assert_eq(r.batch_n[2], 4);
    for (int64_t k = 0; k < r.n; k++) cr_assert(r.idx[k] != 0 && r.idx[k] != 7);
    free(r.x);

    unic_loader *l = unic_loader_new(s, p, order, 15, 4, 2, 0, 0, err, sizeof err);
    cr_assert_not_null(l, "%s", err);
    unic_batch b;
    while (unic_loader_next(l, &b)) {}
    cr_assert_eq(unic_loader_skipped(l), 2);
    const char *first = unic_loader_skipped_item(l, 0), *second = unic_loader_skipped_item(l, 1);
    cr_assert(strstr(first, bad) && strstr(first, ": "), "%s", first);
    cr_assert(strstr(second, half) && strstr(second, ": "), "%s", second);
    cr_assert(strlen(strstr(first, ": ")) > 3, "no reason in '%s'", first);
    cr_assert_null(unic_loader_skipped_item(l, 2));
    unic_loader_free(l);

    unic_pipeline_free(p);
    unic_imageset_free(s);
    free(bad);
    free(half);
    free(root);
}

Test(loader, refuses_pipelines_without_fixed_shape)
{
    char *root = make_folder();
    unic_imageset *s = open_folder(root);
    unic_pipeline *p = pipeline("resize(16)");
    int64_t order[3] = {0, 1, 2};
    unic_loader *l = unic_loader_new(s, p, order, 3, 2, 1, 0, 0, err, sizeof err);
    cr_assert_null(l);
    cr_assert(strstr(err, "fixed"), "%s", err);
    unic_pipeline_free(p);

    p = pipeline("center_crop(16)");
    int64_t bad_order[2] = {0, 99};
    l = unic_loader_new(s, p, bad_order, 2, 2, 1, 0, 0, err, sizeof err);
    cr_assert_null(l);
    cr_assert(strstr(err, "99"), "%s", err);
    unic_pipeline_free(p);
    unic_imageset_free(s);
    free(root);
}

Test(loader, fashion_mnist_gray)
{
    const char *images = FMNIST "/t10k-images-idx3-ubyte.gz";
    const char *labels = FMNIST "/t10k-labels-idx1-ubyte.gz";
    if (access(images, R_OK) != 0 || access(labels, R_OK) != 0)
        cr_skip_test("Fashion-MNIST is not at " FMNIST " on this machine");
    unic_imageset *s;
    cr_assert_eq(unic_imageset_open("idx", images, "", "", labels, &s, err, sizeof err), 0, "%s",
                 err);
    unic_pipeline *p = pipeline("center_crop(28)");
    int64_t order[50];
    for (int i = 0; i < 50; i++) order[i] = 49 - i;
    unic_loader *l = unic_loader_new(s, p, order, 50, 16, 2, 0, 0, err, sizeof err);
    cr_assert_not_null(l, "%s", err);
    int c, h, w;
    unic_loader_shape(l, &c, &h, &w);
    cr_assert(c == 1 && h == 28 && w == 28, "%dx%dx%d", c, h, w);
    unic_batch b;
    int64_t got = 0;
    while (unic_loader_next(l, &b)) {
        for (int j = 0; j < b.n; j++) {
            unic_image im = {0};
            cr_assert_eq(unic_imageset_get(s, b.idx[j], 0, &im, err, sizeof err), 0);
            for (int k = 0; k < 28 * 28; k++)
                cr_assert_eq(b.x[(size_t)j * 784 + k], (float)im.px[k], "item %lld pixel %d",
                             (long long)b.idx[j], k);
            unic_image_free(&im);
        }
        got += b.n;
    }
    cr_assert_eq(got, 50);
    unic_loader_free(l);
    unic_pipeline_free(p);
    unic_imageset_free(s);
}

/* [data] max_pixels holds for what the transforms make, not only for what
 * the decoder makes: resize(28) makes a 28 x 7000 image of a 2 x 500 one,
 * and a 1 x 65500 file (a few hundred bytes) through resize(256) would ask
 * for 256 x 16,768,000 pixels, 12.9 GB. Such an item is skipped and listed
 * with the step, the sizes and the bound, before anything is allocated. */
Test(loader, transform_output_above_max_pixels_is_skipped_and_listed)
{
    char *root = test_tmpdir("loaderpx");
    char *d = test_path(root, "c0");
    cr_assert_eq(mkdir(d, 0755), 0);
    for (int j = 0; j < 4; j++) {
        char name[32];
        snprintf(name, sizeof name, "img%d.jpg", j);
        char *p = test_path(d, name);
        write_jpeg(p, 40, 40, 0);
        free(p);
    }
    char *thin = test_path(d, "thin.jpg");
    write_jpeg(thin, 2, 500, 0); /* 1000 pixels: within the bound as decoded */
    unic_imageset *s = open_folder(root);
    unic_imageset_set_max_pixels(s, 2000);
    unic_pipeline *p = pipeline("resize(28) random_crop(28)");
    int64_t order[5] = {0, 1, 2, 3, 4};
    unic_loader *l = unic_loader_new(s, p, order, 5, 2, 2, 0, 0, err, sizeof err);
    cr_assert_not_null(l, "%s", err);
    unic_batch b;
    int64_t kept = 0;
    while (unic_loader_next(l, &b)) kept += b.n;
    cr_expect_eq(kept, 4);
    cr_assert_eq(unic_loader_skipped(l), 1);
    const char *line = unic_loader_skipped_item(l, 0);
    cr_expect(strstr(line, thin) && strstr(line, "resize(28)") && strstr(line, "28 x 7000") &&
                  strstr(line, "2 x 500") && strstr(line, "limit of 2000") &&
                  strstr(line, "max_pixels"),
              "%s", line);
    unic_loader_free(l);
    unic_pipeline_free(p);
    unic_imageset_free(s);
    free(thin);
    free(d);
    test_remove_tree(root);
    free(root);
}
