/* Image sets on small datasets written here: JPEG folders with one flat
 * colour per class (so a decoded mean colour names the class), STL-10 and
 * CIFAR-10 binaries with a known pixel (which catches swapped axes and
 * channel orders), CUB-200 index files, and every open-time error; plus
 * Fashion-MNIST's real IDX files when the machine has them. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "base/util.h"
#include "helpers.h"
#include "data/imagesets.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

static char err[2048];

static const uint8_t COLOURS[3][3] = {{220, 40, 40}, {40, 220, 40}, {40, 40, 220}};

#define expect_err_has(word)                                                                       \
    cr_assert(strstr(err, (word)), "message lacks '%s': %s", (word), err)

static void write_jpeg(const char *path, int w, int h, const uint8_t rgb[3])
{
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) memcpy(px + 3 * i, rgb, 3);
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long size = 0;
    cr_assert_eq(tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpg, &size, TJSAMP_444, 95, 0), 0);
    test_write_file(path, jpg, size);
    tjFree(jpg);
    tjDestroy(tj);
    free(px);
}

static void mkdir_in(const char *dir, const char *name)
{
    char *p = test_path(dir, name);
    cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s", p);
    free(p);
}

static void jpeg_in(const char *dir, const char *rel, int w, int h, int cls)
{
    char *p = test_path(dir, rel);
    write_jpeg(p, w, h, COLOURS[cls]);
    free(p);
}

/* root/{alpha,mid,zeta}: red, green and blue; stray files to ignore. */
static char *make_folder(const char *parent_or_null)
{
    char *root = parent_or_null ? strdup(parent_or_null) : test_tmpdir("imgfolder");
    mkdir_in(root, "zeta");
    mkdir_in(root, "alpha");
    mkdir_in(root, "mid");
    jpeg_in(root, "alpha/b.JPEG", 40, 30, 0);
    jpeg_in(root, "alpha/a.jpg", 24, 36, 0);
    jpeg_in(root, "alpha/c.jpeg", 33, 33, 0);
    jpeg_in(root, "mid/m2.jpg", 20, 20, 1);
    jpeg_in(root, "mid/m1.jpg", 50, 20, 1);
    jpeg_in(root, "zeta/x.jpg", 30, 40, 2);
    char *p = test_path(root, "alpha/notes.txt");
    test_write_text(p, "not an image\n");
    free(p);
    p = test_path(root, "README");
    test_write_text(p, "stray file at the root\n");
    free(p);
    return root;
}

/* The decoded image's mean colour is within a few levels of COLOURS[cls]. */
static void expect_colour(const unic_image *im, int cls)
{
    cr_assert_eq(im->c, 3);
    for (int c = 0; c < 3; c++) {
        double sum = 0;
        for (int i = 0; i < im->w * im->h; i++) sum += im->px[3 * i + c];
        double mean = sum / (im->w * im->h);
        cr_assert(mean > COLOURS[cls][c] - 6 && mean < COLOURS[cls][c] + 6,
                  "channel %d mean %.1f, class %d colour %d", c, mean, cls, COLOURS[cls][c]);
    }
}

Test(imagesets, imagefolder_sorted_like_torchvision)
{
    char *root = make_folder(NULL);
    unic_imageset *s;
    cr_assert_eq(unic_imageset_open("imagefolder", root, "", "", "", &s, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(unic_imageset_size(s), 6);
    cr_assert_eq(unic_imageset_num_classes(s), 3);
    const char *want[] = {"alpha/a.jpg", "alpha/b.JPEG", "alpha/c.jpeg",
                          "mid/m1.jpg",  "mid/m2.jpg",   "zeta/x.jpg"};
    const int label[] = {0, 0, 0, 1, 1, 2};
    char buf[512];
    for (int i = 0; i < 6; i++) {
        const char *name = unic_imageset_item_name(s, i, buf, sizeof buf);
        cr_assert(unic_ends_with(name, want[i]), "item %d is %s, expected %s", i, name, want[i]);
        cr_assert_eq(unic_imageset_label(s, i), label[i]);
        unic_image im = {0};
        cr_assert_eq(unic_imageset_get(s, i, 0, &im, err, sizeof err), 0, "%s", err);
        expect_colour(&im, label[i]);
        unic_image_free(&im);
    }
    /* 40x30 with min_side 16 may be decoded at a DCT scale, never below 16. */
    unic_image im = {0};
    cr_assert_eq(unic_imageset_get(s, 1, 16, &im, err, sizeof err), 0, "%s", err);
    cr_assert(im.w >= 16 && im.h >= 16 && im.w <= 40, "%dx%d", im.w, im.h);
    unic_image_free(&im);
    unic_imageset_free(s);
    free(root);
}

Test(imagesets, imagefolder_split_subfolder)
{
    char *root = test_tmpdir("imgsplit");
    mkdir_in(root, "train");
    char *train = test_path(root, "train");
    free(make_folder(train));
    unic_imageset *s;
    cr_assert_eq(unic_imageset_open("imagefolder", root, "train", NULL, NULL, &s, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(unic_imageset_size(s), 6);
    char buf[512];
    cr_assert(strstr(unic_imageset_item_name(s, 0, buf, sizeof buf), "/train/alpha/a.jpg"));
    unic_imageset_free(s);
    free(train);
    free(root);
}

Test(imagesets, imagefolder_class_list_order)
{
    char *root = make_folder(NULL);
    char *dir = test_tmpdir("imglist");
    char *list = test_path(dir, "classes.txt");
    test_write_text(list, "# two of the three classes\n\nzeta Zeta the bird\n  alpha\tAlpha\n");
    unic_imageset *s;
    cr_assert_eq(unic_imageset_open("imagefolder", root, "", list, "", &s, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(unic_imageset_num_classes(s), 2);
    cr_assert_eq(unic_imageset_size(s), 4);
    char buf[512];
    cr_assert(unic_ends_with(unic_imageset_item_name(s, 0, buf, sizeof buf), "zeta/x.jpg"));
    cr_assert_eq(unic_imageset_label(s, 0), 0);
    for (int i = 1; i < 4; i++) cr_assert_eq(unic_imageset_label(s, i), 1);
    unic_image im = {0};
    cr_assert_eq(unic_imageset_get(s, 0, 0, &im, err, sizeof err), 0, "%s", err);
    expect_colour(&im, 2);
    unic_image_free(&im);
    unic_imageset_free(s);
    free(list);
    free(dir);
    free(root);
}

Test(imagesets, imagefolder_class_list_missing_class)
{
    char *root = make_folder(NULL);
    char *dir = test_tmpdir("imglist");
    char *list = test_path(dir, "classes.txt");
    test_write_text(list, "alpha Alpha\n# comment\nn09999999 Nowhere\n");
    unic_imageset *s = (void *)1;
    cr_assert_eq(unic_imageset_open("imagefolder", root, "", list, "", &s, err, sizeof err), -1);
    cr_assert_null(s);
    expect_err_has("n09999999");
    expect_err_has(list);
    expect_err_has(":3");
    expect_err_has(root);
    free(list);
    free(dir);
    free(root);
}

Test(imagesets, imagefolder_missing_root_and_empty_class)
{
    unic_imageset *s;
    const char *nowhere = "/nonexistent/unic/imagenet";
    cr_assert_eq(unic_imageset_open("imagefolder", nowhere, "", "", "", &s, err, sizeof err), -1);
    expect_err_has(nowhere);

    char *root = make_folder(NULL);
    mkdir_in(root, "empty_cls");
    char *p = test_path(root, "empty_cls/readme.txt");
    test_write_text(p, "no images here\n");
    free(p);
    cr_assert_eq(unic_imageset_open("imagefolder", root, "", "", "", &s, err, sizeof err), -1);
    expect_err_has("empty_cls");
    free(root);

    cr_assert_eq(unic_imageset_open("tiff", "/tmp", "", "", "", &s, err, sizeof err), -1);
    expect_err_has("tiff");
}

/* ---- STL-10 --------------------------------------------------------------- */

/* Image k: pixel (x=5, y=2) is (11+k, 22+k, 33+k), everything else 0; stored
 * as the STL-10 files do (channel planes, column-major). */
static uint8_t *stl_images(int n)
{
    uint8_t *x = calloc((size_t)n, 27648);
    for (int k = 0; k < n; k++)
        for (int c = 0; c < 3; c++) x[(size_t)k * 27648 + c * 9216 + 5 * 96 + 2] = 11 * (c + 1) + k;
    return x;
}

Test(imagesets, stl10_pixels_and_labels)
{
    char *root = test_tmpdir("stl10");
    uint8_t *x = stl_images(2);
    uint8_t y[2] = {3, 10};
    char *px = test_path(root, "train_X.bin"), *py = test_path(root, "train_y.bin");
    test_write_file(px, x, 2 * 27648);
    test_write_file(py, y, 2);
    unic_imageset *s;
    cr_assert_eq(unic_imageset_open("stl10", root, "train", "", "", &s, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(unic_imageset_size(s), 2);
    cr_assert_eq(unic_imageset_num_classes(s), 10);
    cr_assert_eq(unic_imageset_label(s, 0), 2);
    cr_assert_eq(unic_imageset_label(s, 1), 9);
    char buf[512];
    cr_assert(unic_ends_with(unic_imageset_item_name(s, 1, buf, sizeof buf), "train_X.bin#1"), "%s",
              buf);
    unic_image im = {0};
    cr_assert_eq(unic_imageset_get(s, 1, 0, &im, err, sizeof err), 0, "%s", err);
    cr_assert_eq(im.w, 96);
    cr_assert_eq(im.h, 96);
    cr_assert_eq(im.c, 3);
    const uint8_t *p = im.px + (2 * 96 + 5) * 3; /* row y=2, column x=5 */
    cr_assert(p[0] == 12 && p[1] == 23 && p[2] == 34, "pixel (5,2) = %d %d %d", p[0], p[1], p[2]);
    const uint8_t *q = im.px + (5 * 96 + 2) * 3; /* the transposed place stays black */
    cr_assert(q[0] == 0 && q[1] == 0 && q[2] == 0);
    unic_image_free(&im);
    unic_imageset_free(s);

    /* unlabeled: no labels file needed */
    char *pu = test_path(root, "unlabeled_X.bin");
    test_write_file(pu, x, 27648);
    cr_assert_eq(unic_imageset_open("stl10", root, "unlabeled", "", "", &s, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(unic_imageset_size(s), 1);
    cr_assert_eq(unic_imageset_label(s, 0), -1);
    unic_imageset_free(s);
    free(x);
    free(px);
    free(py);
    free(pu);
    free(root);
}

Test(imagesets, stl10_wrong_sizes)
{
    char *root = test_tmpdir("stl10bad");
    uint8_t *x = stl_images(3);
    uint8_t y[3] = {1, 2, 3};
    char *px = test_path(root, "test_X.bin"), *py = test_path(root, "test_y.bin");
    test_write_file(px, x, 2 * 27648 + 5);
    test_write_file(py, y, 2);
    unic_imageset *s;
    cr_assert_eq(unic_imageset_open("stl10", root, "test", "", "", &s, err, sizeof err), -1);
    expect_err_has(px);
    expect_err_has("55301");
    expect_err_has("27648");

    test_write_file(px, x, 3 * 27648); /* 3 images, 2 labels */
    cr_assert_eq(unic_imageset_open("stl10", root, "test", "", "", &s, err, sizeof err), -1);
    expect_err_has(px);
    expect_err_has(py);

    test_write_file(py, y, 3);
    y[1] = 11;
    test_write_file(py, y, 3);
    cr_assert_eq(unic_imageset_open("stl10", root, "test", "", "", &s, err, sizeof err), -1);
    expect_err_has(py);
    expect_err_has("11");

    unlink(py);
    cr_assert_eq(unic_imageset_open("stl10", root, "test", "", "", &s, err, sizeof err), -1);
    expect_err_has(py);
    free(x);
    free(px);
    free(py);
    free(root);
}

/* ---- CIFAR-10 ------------------------------------------------------------- */

/* Record with label y; pixel (x=5, y=2) is (11+k, 22+k, 33+k). */
static void cifar_record(uint8_t *rec, int y, int k)
{
    memset(rec, 0, 3073);
    rec[0] = (uint8_t)y;
    for (int c = 0; c < 3; c++) rec[1 + c * 1024 + 2 * 32 + 5] = (uint8_t)(11 * (c + 1) + k);
}

Test(imagesets, cifar10_batches_folder)
{
    char *root = test_tmpdir("cifar");
    mkdir_in(root, "cifar-10-batches-bin");
    char *dir = test_path(root, "cifar-10-batches-bin");
    uint8_t rec[5 * 3073];
    int k = 0;
    for (int b = 1; b <= 5; b++) { /* batch b holds b records, labels k % 10 */
        for (int r = 0; r < b; r++, k++) cifar_record(rec + r * 3073, k % 10, k);
        char name[64];
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        char *p = test_path(dir, name);
        test_write_file(p, rec, (size_t)b * 3073);
        free(p);
    }
    cifar_record(rec, 7, 100);
    char *pt = test_path(dir, "test_batch.bin");
    test_write_file(pt, rec, 3073);

    unic_imageset *s;
    cr_assert_eq(unic_imageset_open("cifar10", root, "train", "", "", &s, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(unic_imageset_size(s), 15);
    for (int i = 0; i < 15; i++) cr_assert_eq(unic_imageset_label(s, i), i % 10);
    char buf[512];
    /* item 4 is record 1 of data_batch_3 (batches hold 1, 2, 3, ... records) */
    cr_assert(unic_ends_with(unic_imageset_item_name(s, 4, buf, sizeof buf), "data_batch_3.bin#1"),
              "%s", buf);
    unic_image im = {0};
    cr_assert_eq(unic_imageset_get(s, 4, 0, &im, err, sizeof err), 0, "%s", err);
    cr_assert(im.w == 32 && im.h == 32 && im.c == 3);
    const uint8_t *p = im.px + (2 * 32 + 5) * 3;
    cr_assert(p[0] == 15 && p[1] == 26 && p[2] == 37, "pixel (5,2) = %d %d %d", p[0], p[1], p[2]);
    const uint8_t *q = im.px + (5 * 32 + 2) * 3;
    cr_assert(q[0] == 0 && q[1] == 0 && q[2] == 0);
    unic_image_free(&im);
    unic_imageset_free(s);

    cr_assert_eq(unic_imageset_open("cifar10", root, "test", "", "", &s, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(unic_imageset_size(s), 1);
    cr_assert_eq(unic_imageset_label(s, 0), 7);
    unic_imageset_free(s);

    /* a wrong size, then a missing batch */
    test_write_file(pt, rec, 3000);
    cr_assert_eq(unic_imageset_open("cifar10", root, "test", "", "", &s, err, sizeof err), -1);
    expect_err_has(pt);
    expect_err_has("3000");
    expect_err_has("3073");
    char *p3 = test_path(dir, "data_batch_3.bin");
    unlink(p3);
    cr_assert_eq(unic_imageset_open("cifar10", root, "train", "", "", &s, err, sizeof err), -1);
    expect_err_has("data_batch_3.bin");
    free(p3);
    free(pt);
    free(dir);
    free(root);
}

/* ---- CUB-200-2011 ---------------------------------------------------------- */

static char *make_cub(void)
{
    char *root = test_tmpdir("cub");
    mkdir_in(root, "images");
    mkdir_in(root, "images/001.Albatross");
    mkdir_in(root, "images/002.Auklet");
    jpeg_in(root, "images/001.Albatross/a1.jpg", 20, 16, 0);
    jpeg_in(root, "images/001.Albatross/a2.jpg", 20, 16, 0);
    jpeg_in(root, "images/002.Auklet/b1.jpg", 16, 20, 1);
    jpeg_in(root, "images/002.Auklet/b2.jpg", 16, 20, 1);
    char *p = test_path(root, "images.txt");
    test_write_text(p, "1 001.Albatross/a1.jpg\n2 001.Albatross/a2.jpg\n3 002.Auklet/b1.jpg\n"
                       "4 002.Auklet/b2.jpg\n");
    free(p);
    p = test_path(root, "image_class_labels.txt");
    test_write_text(p, "1 1\n2 1\n3 2\n4 2\n");
    free(p);
    p = test_path(root, "train_test_split.txt");
    test_write_text(p, "1 1\n2 0\n3 0\n4 1\n");
    free(p);
    return root;
}

Test(imagesets, cub200_splits)
{
    char *root = make_cub();
    unic_imageset *s;
    cr_assert_eq(unic_imageset_open("cub200", root, "train", "", "", &s, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(unic_imageset_size(s), 2);
    cr_assert_eq(unic_imageset_num_classes(s), 2);
    char buf[512];
    cr_assert(unic_ends_with(unic_imageset_item_name(s, 0, buf, sizeof buf), "001.Albatross/a1.jpg"));
    cr_assert(unic_ends_with(unic_imageset_item_name(s, 1, buf, sizeof buf), "002.Auklet/b2.jpg"));
    cr_assert_eq(unic_imageset_label(s, 0), 0);
    cr_assert_eq(unic_imageset_label(s, 1), 1);
    unic_image im = {0};
    cr_assert_eq(unic_imageset_get(s, 1, 0, &im, err, sizeof err), 0, "%s", err);
    expect_colour(&im, 1);
    unic_image_free(&im);
    unic_imageset_free(s);
    cr_assert_eq(unic_imageset_open("cub200", root, "test", "", "", &s, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(unic_imageset_size(s), 2);
    cr_assert(unic_ends_with(unic_imageset_item_name(s, 0, buf, sizeof buf), "a2.jpg"));
    unic_imageset_free(s);
    free(root);
}

Test(imagesets, cub200_files_disagree)
{
    char *root = make_cub();
    unic_imageset *s;
    char *labels = test_path(root, "image_class_labels.txt");
    test_write_text(labels, "1 1\n2 1\n4 2\n");
    cr_assert_eq(unic_imageset_open("cub200", root, "train", "", "", &s, err, sizeof err), -1);
    expect_err_has(labels);
    expect_err_has("id 3");

    test_write_text(labels, "1 1\n2 1\n3 2\n4 2\n");
    char *split = test_path(root, "train_test_split.txt");
    test_write_text(split, "1 1\n2 0\n3 0\n4 1\n9 1\n");
    cr_assert_eq(unic_imageset_open("cub200", root, "train", "", "", &s, err, sizeof err), -1);
    expect_err_has(split);
    expect_err_has(":5");

    test_write_text(split, "1 1\n2 0\n3 0\n4 1\n");
    char *img = test_path(root, "images/002.Auklet/b2.jpg");
    unlink(img);
    cr_assert_eq(unic_imageset_open("cub200", root, "train", "", "", &s, err, sizeof err), -1);
    expect_err_has("b2.jpg");
    expect_err_has("images.txt:4");
    free(img);
    free(split);
    free(labels);
    free(root);
}

/* ---- IDX (real Fashion-MNIST) ---------------------------------------------- */

Test(imagesets, idx_fashion_mnist)
{
    const char *images = FMNIST "/t10k-images-idx3-ubyte.gz";
    const char *labels = FMNIST "/t10k-labels-idx1-ubyte.gz";
    if (access(images, R_OK) != 0 || access(labels, R_OK) != 0)
        cr_skip_test("Fashion-MNIST is not at " FMNIST " on this machine");
    unic_imageset *s;
    cr_assert_eq(unic_imageset_open("idx", images, "", "", labels, &s, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(unic_imageset_size(s), 10000);
    cr_assert_eq(unic_imageset_num_classes(s), 10);
    cr_assert_eq(unic_imageset_label(s, 0), 9); /* an ankle boot */
    unic_image im = {0};
    cr_assert_eq(unic_imageset_get(s, 0, 0, &im, err, sizeof err), 0, "%s", err);
    cr_assert(im.w == 28 && im.h == 28 && im.c == 1);
    int nonzero = 0;
    for (int i = 0; i < 28 * 28; i++) nonzero += im.px[i] != 0;
    cr_assert(nonzero > 100, "item 0 has only %d lit pixels", nonzero);
    unic_image_free(&im);
    char buf[512];
    cr_assert(unic_ends_with(unic_imageset_item_name(s, 7, buf, sizeof buf), "#7"), "%s", buf);
    unic_imageset_free(s);

    /* labels of another length */
    const char *train_labels = FMNIST "/train-labels-idx1-ubyte.gz";
    if (access(train_labels, R_OK) == 0) {
        cr_assert_eq(unic_imageset_open("idx", images, "", "", train_labels, &s, err, sizeof err),
                     -1);
        expect_err_has(train_labels);
        expect_err_has("10000");
    }
}
