/* Every limit the project enforces on sizes and counts that come from files
 * or settings, in one place. A limit is checked once, where the value enters
 * (a file reader, the experiment's validation), with a message that names
 * the source and the bound; code past that point may rely on it. */
#ifndef UNIC_LIMITS_H
#define UNIC_LIMITS_H

#include <stddef.h>
#include <stdint.h>

/* Classes (labels, clusters, a head's outputs): labels are integers in
 * [0, UNIC_MAX_CLASSES). Fixed-size class masks (GCD's old classes) and the
 * Hungarian matching's cost tables are sized by it. */
#define UNIC_MAX_CLASSES 4096

/* Training settings (the step buffers hold three rows per anchor in an
 * int, and a thread count sizes OpenMP's pool). */
#define UNIC_MAX_EPOCHS 1000000
#define UNIC_MAX_BATCH (1 << 20)
#define UNIC_MAX_THREADS 4096

/* Copies of the clustering head trained side by side ([head] count, SCAN's
 * heads): each has its own step buffers and history columns (a grid's
 * history.csv reader takes 64 columns). */
#define UNIC_MAX_HEAD_COPIES 16

/* k-means ([eval] kmeans_restarts, kmeans_max_iter): each restart runs up
 * to max_iter passes over N x D; two billion restarts never end. */
#define UNIC_MAX_KMEANS_RESTARTS 10000
#define UNIC_MAX_KMEANS_ITER 1000000

/* A plain-number limit as a string, for a parameter table's "min..max". */
#define UNIC_STR_(x) #x
#define UNIC_STR(x) UNIC_STR_(x)

/* A plugin's own size and count settings ([head] hidden, [miner.knn] tau1,
 * vit's dim...) carry their bounds in the plugin's parameter table
 * (unic_param_spec, "min..max"); the core checks them while reading the INI. */

/* Pixels of one image, checked from its header before anything is
 * allocated (PIL's DecompressionBombError threshold): a 2 MB progressive
 * JPEG of 65000 x 65000 would otherwise need gigabytes per loader thread.
 * The loader holds every image a transform step makes to it too
 * (unic_pipeline_check_size). [data] max_pixels changes it. */
#define UNIC_DEFAULT_MAX_PIXELS 178956970LL

/* libjpeg's memory limit for one decompressor (its max_memory_to_use),
 * through libjpeg's own JPEGMEM variable: TurboJPEG 2.x has no call for it,
 * and libjpeg reads JPEGMEM when a decompressor is created. `unic` sets it
 * at the start of main(), before any thread, unless the user has set it
 * (unic_jpeg_memory_limit_init). A progressive or multi-scan file keeps
 * every DCT coefficient of the image (2 bytes per sample of each component)
 * until its last scan; over the limit, libjpeg stops with "Backing store not
 * supported" before allocating them, and the loader skips and lists the
 * file. The default never refuses what max_pixels lets through: the most a
 * decodable header can ask for is 4 full-resolution components (CMYK or
 * YCCK, 4:4:4), 8 bytes per pixel, and the worst case measured (libjpeg-turbo
 * 2.1.5, a 65500 x 2732 progressive YCCK header, 178,946,000 pixels, the
 * widest within the default max_pixels) needed 1,435,868,000 bytes: the
 * coefficients plus 2.1 MB of row buffers and tables. 1500M leaves 64 MB
 * above that. With max_pixels raised or 0 it is what still bounds a
 * progressive bomb. JPEGMEM counts thousands of bytes, or millions with M. */
#define UNIC_DEFAULT_JPEGMEM "1500M"
#define UNIC_DEFAULT_JPEG_MAX_MEMORY 1500000000LL

/* Settings and lists a person writes (experiment INIs, class lists, split
 * files, predictions to score): larger files are refused, not read. */
#define UNIC_MAX_TEXT_FILE_BYTES ((uint64_t)256 << 20)

/* 0 when value is a valid class label; otherwise a message naming `source`
 * and item `index` and the allowed range. */
int unic_check_label(int64_t value, const char *source, int64_t index, char *err, size_t errlen);
/* 0 when 1 <= count <= UNIC_MAX_CLASSES; `what` names the setting or file. */
int unic_check_class_count(int64_t count, const char *what, char *err, size_t errlen);

/* 0 when path is a regular file of at most max_bytes (0: any size).
 * Special files (a FIFO, /dev/zero, a folder) would make a reader hang or
 * read forever; they are refused with a message naming path and `what`. */
int unic_check_input_file(const char *path, const char *what, uint64_t max_bytes, char *err,
                          size_t errlen);

/* Host bytes a plan may use: UNIC_MEMORY_LIMIT (e.g. 8G, 512M, 1048576)
 * when set, else /proc/meminfo's MemAvailable (8 GiB when unreadable);
 * *source names which. Mining's and training's memory plans both check it. */
size_t unic_memory_limit(const char **source);

#endif
