/* The items a run's predictions.csv indexes, re-opened from the [data] of
 * its config.resolved.ini through the same data code the run used: image
 * datasets through their readers (decoded on demand), arrays of images
 * (IDX, .npy of H x W or C x H x W) from memory, and anything else (a
 * features matrix) by index alone. Also the classes' names: a names file
 * given to the report, else the data set's own (class lists, folders,
 * CIFAR-10's and STL-10's), else "class K". */
#ifndef UNIC_REPORT_IMAGES_H
#define UNIC_REPORT_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "data/image.h"
#include "experiment/config.h"

typedef struct unic_report_items unic_report_items;

/* cfg: the resolved configuration. NULL with the reason in err when the
 * data cannot be opened (moved, another machine); the report then lists
 * item indices. */
unic_report_items *unic_report_items_open(const unic_config *cfg, char *err, size_t errlen);
void unic_report_items_free(unic_report_items *s);
/* 1 when items are images (unic_report_items_get works). */
int unic_report_items_has_pixels(const unic_report_items *s);
/* Item index (predictions.csv's `index`) decoded, its short side at least
 * min_side where the decoder can scale (JPEG). */
int unic_report_items_get(const unic_report_items *s, int64_t index, int min_side,
                          unic_image *out, char *err, size_t errlen);
/* A name for the item (its file, or "file#123"), or "#123" when the
 * data set has none. */
const char *unic_report_items_name(const unic_report_items *s, int64_t index, char *buf,
                                   size_t len);
/* What the items are, for the page ("image folder: 1,300 JPEG files"...). */
const char *unic_report_items_describe(const unic_report_items *s);

/* Class names, nclasses of them. */
typedef struct unic_class_names {
    char **name;
    int n;
    const char *source; /* where they came from, for the page */
} unic_class_names;

/* From names_file when given (one name a line, class 0 first; blank lines
 * and lines starting with # are skipped), else from the items (s may be
 * NULL), else "class K". -1 with a message naming the file when
 * names_file cannot be read or names fewer classes than nclasses needs. */
int unic_class_names_load(unic_class_names *c, int nclasses, const char *names_file,
                          const unic_report_items *s, char *err, size_t errlen);
void unic_class_names_free(unic_class_names *c);
const char *unic_class_name(const unic_class_names *c, int k); /* "class K" past the list */

#endif
