/* An image folder from real data for the browser test's image-folder run:
 * the first N Fashion-MNIST images, each class tinted its own colours and
 * enlarged to 64 x 64, as RGB JPEGs (libjpeg-turbo) in ROOT/train/<class>/,
 * and ROOT/classes.txt naming each class folder with its readable name.
 *   make_image_folder IMAGES LABELS ROOT N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "data/image.h"
#include "data/io.h"

static const char *folders[10] = {"tshirt", "trouser", "pullover", "dress", "coat",
                                  "sandal", "shirt", "sneaker", "bag", "ankle_boot"};
static const char *names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
/* background, then ink, per class */
static const unsigned char colours[10][6] = {
    {250, 240, 225, 150, 40, 30},  {230, 240, 250, 20, 60, 140},  {240, 250, 230, 30, 110, 40},
    {250, 230, 245, 140, 20, 110}, {245, 245, 220, 110, 80, 10},  {225, 245, 245, 10, 110, 120},
    {240, 235, 250, 80, 40, 150},  {250, 235, 230, 170, 70, 20},  {235, 235, 235, 40, 40, 40},
    {230, 250, 240, 20, 120, 90}};

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: make_image_folder IMAGES LABELS ROOT N\n");
        return 2;
    }
    char err[2048], path[4096];
    unic_array im;
    int32_t *labels;
    int64_t nl;
    if (unic_idx_load(argv[1], &im, err, sizeof err) != 0 ||
        unic_load_labels(argv[2], "labels", &labels, &nl, err, sizeof err) != 0) {
        fprintf(stderr, "make_image_folder: %s\n", err);
        return 1;
    }
    int n = atoi(argv[4]);
    if (n < 1 || n > nl || im.ndim != 3) {
        fprintf(stderr, "make_image_folder: N must be in [1, %lld]\n", (long long)nl);
        return 2;
    }
    int h = (int)im.shape[1], w = (int)im.shape[2];
    snprintf(path, sizeof path, "%s/classes.txt", argv[3]);
    mkdir(argv[3], 0777);
    snprintf(path, sizeof path, "%s/train", argv[3]);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/classes.txt", argv[3]);
    FILE *list = fopen(path, "w");
    for (int c = 0; c < 10 && list; c++) {
        fprintf(list, "%s %s\n", folders[c], names[c]);
        snprintf(path, sizeof path, "%s/train/%s", argv[3], folders[c]);
        mkdir(path, 0777);
    }
    if (!list || fclose(list) != 0) {
        fprintf(stderr, "make_image_folder: cannot write %s\n", path);
        return 1;
    }
    tjhandle tj = tjInitCompress();
    unic_image rgb, big;
    unic_image_alloc(&rgb, w, h, 3);
    for (int i = 0; i < n; i++) {
        const unsigned char *g = (const unsigned char *)im.data + (size_t)i * (size_t)(w * h);
        const unsigned char *col = colours[labels[i] % 10];
        for (int p = 0; p < w * h; p++)
            for (int k = 0; k < 3; k++)
                rgb.px[p * 3 + k] = (unsigned char)((col[k] * (255 - g[p]) + col[3 + k] * g[p]) / 255);
        if (unic_resize(&rgb, 64, 64, UNIC_BICUBIC, &big) != 0) return 1;
        unsigned char *jpeg = NULL;
        unsigned long size = 0;
        if (tjCompress2(tj, big.px, 64, 0, 64, TJPF_RGB, &jpeg, &size, TJSAMP_444, 92, 0) != 0) {
            fprintf(stderr, "make_image_folder: %s\n", tjGetErrorStr2(tj));
            return 1;
        }
        snprintf(path, sizeof path, "%s/train/%s/img_%05d.jpg", argv[3], folders[labels[i] % 10], i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(jpeg, 1, size, f) != size || fclose(f) != 0) {
            fprintf(stderr, "make_image_folder: cannot write %s\n", path);
            return 1;
        }
        tjFree(jpeg);
        unic_image_free(&big);
    }
    unic_image_free(&rgb);
    tjDestroy(tj);
    unic_array_free(&im);
    free(labels);
    return 0;
}
