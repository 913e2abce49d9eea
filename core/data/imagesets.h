/* Image datasets as the literature stores them: ImageFolder (restricted to
 * a class list), STL-10 and CIFAR-10 binaries, CUB-200-2011's folder layout,
 * and IDX images (Fashion-MNIST). Items are decoded on demand. */
#ifndef UNIC_IMAGESETS_H
#define UNIC_IMAGESETS_H

#include <stddef.h>
#include <stdint.h>

#include "data/image.h"

typedef struct unic_imageset unic_imageset;

/* kind: "imagefolder" | "stl10" | "cifar10" | "cub200" | "idx".
 * root: the dataset folder (idx: the images file, labels from labels_path).
 * split: "train" | "test" (imagefolder: a subfolder name if it exists, e.g.
 *   root/train; empty = root itself; stl10 also "unlabeled"; cub200 uses
 *   train_test_split.txt).
 * class_list: imagefolder only, optional: a file with one class folder name
 *   (WordNet id) first on each line; classes are numbered in file order.
 * Errors before any decoding: missing files or folders, a class in the list
 * the root lacks, wrong binary sizes; each names the path. */
int unic_imageset_open(const char *kind, const char *root, const char *split,
                       const char *class_list, const char *labels_path, unic_imageset **out,
                       char *err, size_t errlen);
void unic_imageset_free(unic_imageset *s);
/* The largest image (width x height) a file may hold; larger ones fail to
 * decode like corrupt files (skipped and listed). Default
 * UNIC_DEFAULT_MAX_PIXELS; <= 0: no bound. */
void unic_imageset_set_max_pixels(unic_imageset *s, int64_t max_pixels);
/* The bound above; the loader holds what the transforms make to it too. */
int64_t unic_imageset_max_pixels(const unic_imageset *s);

int64_t unic_imageset_size(const unic_imageset *s);
int unic_imageset_num_classes(const unic_imageset *s);
int32_t unic_imageset_label(const unic_imageset *s, int64_t i);
/* Class k's name where the set has one (imagefolder: the class list's name
 * after the folder's, else the folder; CIFAR-10 and STL-10: their
 * distributions' names), else NULL. */
const char *unic_imageset_class_name(const unic_imageset *s, int k);
/* A name for item i for messages and skip lists (the file path, or
 * "file.bin#123" for binary formats). */
const char *unic_imageset_item_name(const unic_imageset *s, int64_t i, char *buf, size_t buflen);
/* Decodes item i (RGB, or gray for IDX); min_side as for unic_jpeg_decode.
 * Thread-safe. A corrupt item returns -1 with a message. */
int unic_imageset_get(const unic_imageset *s, int64_t i, int min_side, unic_image *out, char *err,
                      size_t errlen);

#endif
