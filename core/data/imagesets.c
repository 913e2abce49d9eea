/* Image datasets in the layouts the literature distributes them in. Opening
 * a set checks everything that can be checked without decoding (folders,
 * class lists, binary sizes, label ranges, CUB's three index files), so a
 * misconfigured run stops before any work. Items are decoded on demand;
 * binary formats are mmap'ed, so unic_imageset_get shares no mutable state
 * between threads. */
#define _GNU_SOURCE
#include "data/imagesets.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/io.h"
#include "base/limits.h"
#include "base/util.h"

enum { K_FOLDER, K_STL10, K_CIFAR10, K_CUB200, K_IDX };

#define STL_SIDE 96
#define STL_BYTES (STL_SIDE * STL_SIDE * 3) /* 27648 */
#define CIFAR_SIDE 32
#define CIFAR_RECORD (1 + CIFAR_SIDE * CIFAR_SIDE * 3) /* 3073 */
#define MAX_BINFILES 5

typedef struct binfile {
    char *path;
    const uint8_t *map;
    size_t size;
    int64_t first, count; /* the items this file holds */
} binfile;

struct unic_imageset {
    int kind;
    int64_t n;
    int64_t max_pixels; /* per decoded file; UNIC_DEFAULT_MAX_PIXELS unless set */
    int nclasses;
    int32_t *labels; /* n entries; -1 where a split has none (STL-10 unlabeled) */
    /* file-backed items (imagefolder, cub200): item i's path is pool + off[i] */
    char *pool;
    size_t *off;
    /* binary formats */
    int nfiles;
    binfile files[MAX_BINFILES];
    /* idx */
    unic_array idx;
    int idx_w, idx_h;
    /* a name per class where the format has them (nclasses entries), or NULL */
    char **class_names;
};

/* ---- small growable buffers -------------------------------------------- */

/* unic_xmalloc has no realloc; doubling keeps appends amortised O(1). */
static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = unic_xmalloc(nc * elem);
    if (p) memcpy(q, p, *cap * elem);
    unic_xfree(p);
    *cap = nc;
    return q;
}

typedef struct items {
    char *pool;
    size_t pool_len, pool_cap;
    size_t *off;
    int32_t *labels;
    int64_t n;
    size_t cap;
} items;

static void items_add(items *it, const char *a, const char *b, const char *c, int32_t label)
{
    size_t need = strlen(a) + strlen(b) + strlen(c) + 3;
    it->pool = grow(it->pool, &it->pool_cap, it->pool_len + need, 1);
    size_t start = it->pool_len;
    it->pool_len += (size_t)sprintf(it->pool + start, "%s/%s%s%s", a, b, *c ? "/" : "", c) + 1;
    size_t cap = it->cap;
    it->off = grow(it->off, &cap, (size_t)it->n + 1, sizeof(size_t));
    cap = it->cap;
    it->labels = grow(it->labels, &cap, (size_t)it->n + 1, sizeof(int32_t));
    it->cap = cap;
    it->off[it->n] = start;
    it->labels[it->n++] = label;
}

static void items_free(items *it)
{
    unic_xfree(it->pool);
    unic_xfree(it->off);
    unic_xfree(it->labels);
    memset(it, 0, sizeof *it);
}

/* Hands the items to the set (it is left empty for items_free). */
static void items_give(items *it, unic_imageset *s, int nclasses)
{
    s->n = it->n;
    s->nclasses = nclasses;
    s->pool = it->pool;
    s->off = it->off;
    s->labels = it->labels;
    memset(it, 0, sizeof *it);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = unic_xmalloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_jpeg_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

/* Sorted names in dir of the wanted kind (want_dirs: subfolders, else JPEG
 * files); dot entries are skipped. Symlinks count as what they point to. */
static int list_dir(const char *dir, int want_dirs, char ***names, size_t *count, char *err,
                    size_t errlen)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return unic_errf(err, errlen, "%s: cannot open folder: %s", dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (!want_dirs && !is_jpeg_name(e->d_name)) continue;
        char *full = join(dir, e->d_name);
        int ok = want_dirs ? is_dir(full) : is_file(full);
        unic_xfree(full);
        if (!ok) continue;
        *names = grow(*names, &cap, *count + 1, sizeof(char *));
        (*names)[(*count)++] = unic_xstrdup(e->d_name);
    }
    closedir(d);
    if (*count) qsort(*names, *count, sizeof(char *), cmp_str);
    return 0;
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++) unic_xfree(names[i]);
    unic_xfree(names);
}

/* A whole text file, NUL-terminated. */
static char *read_text(const char *path, char *err, size_t errlen)
{
    if (unic_check_input_file(path, "list", UNIC_MAX_TEXT_FILE_BYTES, err, errlen) != 0)
        return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        unic_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 0, len = 0;
    char *buf = NULL;
    for (;;) {
        buf = grow(buf, &cap, len + 65536 + 1, 1);
        size_t got = fread(buf + len, 1, 65536, f);
        len += got;
        if (got < 65536) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        unic_xfree(buf);
        unic_errf(err, errlen, "%s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

/* Cuts the next line off *cursor (in place), trimmed of surrounding blanks. */
static char *next_line(char **cursor)
{
    char *s = *cursor;
    if (!*s) return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = 0;
        *cursor = nl + 1;
    } else {
        *cursor = s + strlen(s);
    }
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    return s;
}

/* ---- imagefolder -------------------------------------------------------- */

typedef struct class_entry {
    char *name;
    char *display; /* the rest of the class list's line ("n01601694 Dipper"), or NULL */
    int line;      /* in the class list, 0 without one */
} class_entry;

static int read_class_list(const char *path, class_entry **out, size_t *count, char *err,
                           size_t errlen)
{
    *out = NULL;
    *count = 0;
    char *text = read_text(path, err, errlen);
    if (!text) return -1;
    size_t cap = 0;
    char *cur = text, *s;
    int line = 0;
    while ((s = next_line(&cur))) {
        line++;
        if (!*s || *s == '#') continue;
        size_t len = strcspn(s, " \t");
        char *rest = s + len;
        while (*rest == ' ' || *rest == '\t') rest++;
        s[len] = 0;
        for (size_t k = 0; k < *count; k++) {
            if (strcmp((*out)[k].name, s) == 0) {
                unic_errf(err, errlen, "%s:%d: class '%s' is listed twice (first on line %d)",
                          path, line, s, (*out)[k].line);
                goto fail;
            }
        }
        *out = grow(*out, &cap, *count + 1, sizeof(class_entry));
        (*out)[*count].name = unic_xstrdup(s);
        (*out)[*count].display = *rest ? unic_xstrdup(rest) : NULL;
        (*out)[(*count)++].line = line;
    }
    unic_xfree(text);
    if (*count == 0) {
        unic_errf(err, errlen, "%s: the class list names no classes", path);
        unic_xfree(*out);
        *out = NULL;
        return -1;
    }
    return 0;
fail:
    unic_xfree(text);
    for (size_t k = 0; k < *count; k++) {
        unic_xfree((*out)[k].name);
        unic_xfree((*out)[k].display);
    }
    unic_xfree(*out);
    *out = NULL;
    *count = 0;
    return -1;
}

static int open_folder(unic_imageset *s, const char *root, const char *split,
                       const char *class_list, char *err, size_t errlen)
{
    if (!is_dir(root)) return unic_errf(err, errlen, "imagefolder: root %s is not a folder", root);
    char *dir = NULL;
    if (split && *split) {
        char *sub = join(root, split);
        if (is_dir(sub)) dir = sub;
        else unic_xfree(sub);
    }
    if (!dir) dir = unic_xstrdup(root);

    class_entry *classes = NULL;
    size_t ncls = 0;
    int rc = -1;
    items it = {0};
    if (class_list && *class_list) {
        if (read_class_list(class_list, &classes, &ncls, err, errlen) != 0) goto done;
        /* Every listed class is checked before any file is listed, so a typo
         * in the list costs nothing. */
        for (size_t k = 0; k < ncls; k++) {
            char *sub = join(dir, classes[k].name);
            int ok = is_dir(sub);
            unic_xfree(sub);
            if (!ok) {
                unic_errf(err, errlen, "%s:%d: class '%s' has no folder in %s", class_list,
                          classes[k].line, classes[k].name, dir);
                goto done;
            }
        }
    } else {
        char **names;
        if (list_dir(dir, 1, &names, &ncls, err, errlen) != 0) goto done;
        if (ncls == 0) {
            unic_errf(err, errlen, "imagefolder: %s has no class folders", dir);
            goto done;
        }
        classes = unic_xmalloc(ncls * sizeof(class_entry));
        for (size_t k = 0; k < ncls; k++) classes[k] = (class_entry){names[k], NULL, 0};
        unic_xfree(names); /* the strings now belong to classes */
    }

    for (size_t k = 0; k < ncls; k++) {
        char *sub = join(dir, classes[k].name);
        char **files;
        size_t nf;
        int lrc = list_dir(sub, 0, &files, &nf, err, errlen);
        if (lrc == 0 && nf == 0)
            lrc = unic_errf(err, errlen, "imagefolder: class folder %s holds no .jpg/.jpeg files",
                            sub);
        if (lrc == 0)
            for (size_t f = 0; f < nf; f++) items_add(&it, dir, classes[k].name, files[f], (int)k);
        free_names(files, nf);
        unic_xfree(sub);
        if (lrc != 0) goto done;
    }
    items_give(&it, s, (int)ncls);
    s->class_names = unic_xcalloc(ncls, sizeof(char *));
    for (size_t k = 0; k < ncls; k++)
        s->class_names[k] = unic_xstrdup(classes[k].display ? classes[k].display : classes[k].name);
    rc = 0;
done:
    items_free(&it);
    for (size_t k = 0; k < ncls; k++) {
        unic_xfree(classes[k].name);
        unic_xfree(classes[k].display);
    }
    unic_xfree(classes);
    unic_xfree(dir);
    return rc;
}

/* ---- binary formats --------------------------------------------------- */

static int map_file(binfile *b, const char *path, char *err, size_t errlen)
{
    b->path = unic_xstrdup(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return unic_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return unic_errf(err, errlen, "%s: not a regular file", path);
    }
    b->size = (size_t)st.st_size;
    if (b->size == 0) {
        close(fd);
        return unic_errf(err, errlen, "%s: the file is empty", path);
    }
    void *m = mmap(NULL, b->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file */
    if (m == MAP_FAILED)
        return unic_errf(err, errlen, "%s: mmap failed: %s", path, strerror(errno));
    b->map = m;
    return 0;
}

static int open_stl10(unic_imageset *s, const char *root, const char *split, char *err,
                      size_t errlen)
{
    const char *names[][2] = {
        {"train", "train_X.bin"}, {"test", "test_X.bin"}, {"unlabeled", "unlabeled_X.bin"}};
    int which = -1;
    for (int k = 0; k < 3; k++)
        if (split && strcmp(split, names[k][0]) == 0) which = k;
    if (which < 0)
        return unic_errf(err, errlen, "stl10: split '%s' is not train, test or unlabeled",
                         split ? split : "");
    if (!is_dir(root)) return unic_errf(err, errlen, "stl10: root %s is not a folder", root);
    char *xpath = join(root, names[which][1]);
    int rc = map_file(&s->files[0], xpath, err, errlen);
    unic_xfree(xpath);
    s->nfiles = 1;
    if (rc != 0) return -1;
    binfile *b = &s->files[0];
    if (b->size % STL_BYTES != 0)
        return unic_errf(err, errlen, "%s: %zu bytes is not a multiple of %d (one 96x96x3 image)",
                         b->path, b->size, STL_BYTES);
    int64_t n = (int64_t)(b->size / STL_BYTES);
    s->labels = unic_xmalloc(sizeof(int32_t) * (size_t)n);
    s->nclasses = 10;
    if (which == 2) {
        for (int64_t i = 0; i < n; i++) s->labels[i] = -1;
    } else {
        char *ypath = join(root, which == 0 ? "train_y.bin" : "test_y.bin");
        FILE *f = fopen(ypath, "rb");
        if (!f) {
            unic_errf(err, errlen, "%s: cannot open: %s", ypath, strerror(errno));
            unic_xfree(ypath);
            return -1;
        }
        uint8_t *y = unic_xmalloc((size_t)n + 1);
        size_t got = fread(y, 1, (size_t)n + 1, f);
        fseek(f, 0, SEEK_END);
        long ysize = ftell(f);
        fclose(f);
        rc = 0;
        if (ysize != (long)n || got != (size_t)n) {
            rc = unic_errf(err, errlen,
                           "%s: %zu bytes = %lld images, but %s holds %ld labels "
                           "(expected %d * %ld = %lld bytes)",
                           b->path, b->size, (long long)n, ypath, ysize, STL_BYTES, ysize,
                           (long long)STL_BYTES * ysize);
        }
        for (int64_t i = 0; rc == 0 && i < n; i++) {
            if (y[i] < 1 || y[i] > 10)
                rc = unic_errf(err, errlen, "%s: label %d of image %lld is outside 1..10", ypath,
                               y[i], (long long)i);
            else s->labels[i] = y[i] - 1;
        }
        unic_xfree(y);
        unic_xfree(ypath);
        if (rc != 0) return -1;
    }
    b->first = 0;
    b->count = n;
    s->n = n;
    return 0;
}

static int open_cifar10(unic_imageset *s, const char *root, const char *split, char *err,
                        size_t errlen)
{
    int train;
    if (split && strcmp(split, "train") == 0) train = 1;
    else if (split && strcmp(split, "test") == 0) train = 0;
    else
        return unic_errf(err, errlen, "cifar10: split '%s' is not train or test",
                         split ? split : "");
    if (!is_dir(root)) return unic_errf(err, errlen, "cifar10: root %s is not a folder", root);
    /* The archive unpacks to cifar-10-batches-bin; accept either folder. */
    char *dir = unic_xstrdup(root);
    char *probe = join(root, train ? "data_batch_1.bin" : "test_batch.bin");
    if (!is_file(probe)) {
        char *sub = join(root, "cifar-10-batches-bin");
        if (is_dir(sub)) {
            unic_xfree(dir);
            dir = sub;
        } else {
            unic_xfree(sub);
        }
    }
    unic_xfree(probe);
    int nf = train ? 5 : 1, rc = 0;
    int64_t total = 0;
    for (int k = 0; k < nf && rc == 0; k++) {
        char name[32];
        if (train) snprintf(name, sizeof name, "data_batch_%d.bin", k + 1);
        else snprintf(name, sizeof name, "test_batch.bin");
        char *path = join(dir, name);
        s->nfiles = k + 1;
        rc = map_file(&s->files[k], path, err, errlen);
        unic_xfree(path);
        if (rc != 0) break;
        binfile *b = &s->files[k];
        if (b->size % CIFAR_RECORD != 0)
            rc = unic_errf(err, errlen,
                           "%s: %zu bytes is not a multiple of %d (1 label byte + 32x32x3 pixels)",
                           b->path, b->size, CIFAR_RECORD);
        b->first = total;
        b->count = (int64_t)(b->size / CIFAR_RECORD);
        total += b->count;
    }
    unic_xfree(dir);
    if (rc != 0) return -1;
    s->n = total;
    s->nclasses = 10;
    s->labels = unic_xmalloc(sizeof(int32_t) * (size_t)total);
    for (int k = 0; k < nf; k++) {
        const binfile *b = &s->files[k];
        for (int64_t r = 0; r < b->count; r++) {
            uint8_t y = b->map[(size_t)r * CIFAR_RECORD];
            if (y > 9)
                return unic_errf(err, errlen, "%s: record %lld has label %d, outside 0..9",
                                 b->path, (long long)r, y);
            s->labels[b->first + r] = y;
        }
    }
    return 0;
}

/* ---- CUB-200-2011 ------------------------------------------------------- */

typedef struct cub_image {
    int id, line;
    char *rel;
    int label, is_train; /* -1 until seen */
} cub_image;

/* Parses "id value" lines of path; calls back with the id's entry. */
static int cub_read_pairs(const char *path, cub_image *imgs, const int *slot, int max_id,
                          int field, char *err, size_t errlen)
{
    char *text = read_text(path, err, errlen);
    if (!text) return -1;
    char *cur = text, *s;
    int line = 0, rc = 0;
    while (rc == 0 && (s = next_line(&cur))) {
        line++;
        if (!*s) continue;
        int id, v;
        char extra;
        if (sscanf(s, "%d %d %c", &id, &v, &extra) != 2) {
            rc = unic_errf(err, errlen, "%s:%d: expected 'image_id value', got '%s'", path, line,
                           s);
            break;
        }
        if (id < 1 || id > max_id || slot[id] < 0) {
            rc = unic_errf(err, errlen, "%s:%d: image id %d is not in images.txt", path, line, id);
            break;
        }
        cub_image *im = &imgs[slot[id]];
        int *dst = field == 0 ? &im->label : &im->is_train;
        if (*dst != -1) {
            rc = unic_errf(err, errlen, "%s:%d: image id %d appears twice", path, line, id);
            break;
        }
        if (field == 0 && v < 1)
            rc = unic_errf(err, errlen, "%s:%d: class %d is not 1-based", path, line, v);
        if (field == 1 && v != 0 && v != 1)
            rc = unic_errf(err, errlen, "%s:%d: is_training_image %d is not 0 or 1", path, line,
                           v);
        *dst = v;
    }
    unic_xfree(text);
    return rc;
}

static int open_cub200(unic_imageset *s, const char *root, const char *split, char *err,
                       size_t errlen)
{
    int want; /* 1 train, 0 test, -1 all */
    if (!split || !*split) want = -1;
    else if (strcmp(split, "train") == 0) want = 1;
    else if (strcmp(split, "test") == 0) want = 0;
    else return unic_errf(err, errlen, "cub200: split '%s' is not train or test", split);
    if (!is_dir(root)) return unic_errf(err, errlen, "cub200: root %s is not a folder", root);
    char *images_txt = join(root, "images.txt");
    char *labels_txt = join(root, "image_class_labels.txt");
    char *split_txt = join(root, "train_test_split.txt");
    char *img_dir = join(root, "images");
    cub_image *imgs = NULL;
    size_t nimg = 0, cap = 0;
    int *slot = NULL, max_id = 0, rc = -1;
    items it = {0};
    char *text = read_text(images_txt, err, errlen);
    if (!text) goto done;
    char *cur = text, *line_s;
    int line = 0;
    while ((line_s = next_line(&cur))) {
        line++;
        if (!*line_s) continue;
        char *end;
        long id = strtol(line_s, &end, 10);
        while (*end == ' ' || *end == '\t') end++;
        if (end == line_s || id < 1 || id > 100000000 || !*end) {
            unic_errf(err, errlen, "%s:%d: expected 'image_id relative/path.jpg', got '%s'",
                      images_txt, line, line_s);
            unic_xfree(text);
            goto done;
        }
        imgs = grow(imgs, &cap, nimg + 1, sizeof(cub_image));
        imgs[nimg++] = (cub_image){(int)id, line, unic_xstrdup(end), -1, -1};
        if (id > max_id) max_id = (int)id;
    }
    unic_xfree(text);
    if (nimg == 0) {
        unic_errf(err, errlen, "%s: lists no images", images_txt);
        goto done;
    }
    slot = unic_xmalloc(sizeof(int) * ((size_t)max_id + 1));
    for (int k = 0; k <= max_id; k++) slot[k] = -1;
    for (size_t k = 0; k < nimg; k++) {
        if (slot[imgs[k].id] >= 0) {
            unic_errf(err, errlen, "%s:%d: image id %d appears twice (first on line %d)",
                      images_txt, imgs[k].line, imgs[k].id, imgs[slot[imgs[k].id]].line);
            goto done;
        }
        slot[imgs[k].id] = (int)k;
    }
    if (cub_read_pairs(labels_txt, imgs, slot, max_id, 0, err, errlen) != 0) goto done;
    if (cub_read_pairs(split_txt, imgs, slot, max_id, 1, err, errlen) != 0) goto done;
    int nclasses = 0;
    for (size_t k = 0; k < nimg; k++) {
        const char *missing = imgs[k].label < 0 ? labels_txt : imgs[k].is_train < 0 ? split_txt : 0;
        if (missing) {
            unic_errf(err, errlen, "%s: no line for image id %d (%s:%d)", missing, imgs[k].id,
                      images_txt, imgs[k].line);
            goto done;
        }
        if (imgs[k].label > nclasses) nclasses = imgs[k].label;
    }
    for (size_t k = 0; k < nimg; k++) {
        if (want >= 0 && imgs[k].is_train != want) continue;
        items_add(&it, img_dir, imgs[k].rel, "", imgs[k].label - 1);
        const char *p = it.pool + it.off[it.n - 1];
        if (!is_file(p)) {
            unic_errf(err, errlen, "%s: missing (listed at %s:%d)", p, images_txt, imgs[k].line);
            goto done;
        }
    }
    if (it.n == 0) {
        unic_errf(err, errlen, "cub200: %s marks no image as %s", split_txt, split);
        goto done;
    }
    items_give(&it, s, nclasses);
    rc = 0;
done:
    items_free(&it);
    for (size_t k = 0; k < nimg; k++) unic_xfree(imgs[k].rel);
    unic_xfree(imgs);
    unic_xfree(slot);
    unic_xfree(images_txt);
    unic_xfree(labels_txt);
    unic_xfree(split_txt);
    unic_xfree(img_dir);
    return rc;
}

/* ---- IDX ---------------------------------------------------------------- */

static int open_idx(unic_imageset *s, const char *root, const char *labels_path, char *err,
                    size_t errlen)
{
    if (unic_idx_load(root, &s->idx, err, errlen) != 0) return -1;
    const unic_array *a = &s->idx;
    if (a->dtype != UNIC_DT_U8 || a->ndim != 3)
        return unic_errf(err, errlen, "%s: expected unsigned bytes of shape N x H x W, got %s "
                                      "with %d dimensions", root, unic_dtype_name(a->dtype),
                         a->ndim);
    s->n = a->shape[0];
    s->idx_h = (int)a->shape[1];
    s->idx_w = (int)a->shape[2];
    s->labels = unic_xmalloc(sizeof(int32_t) * (size_t)(s->n ? s->n : 1));
    if (!labels_path || !*labels_path) {
        for (int64_t i = 0; i < s->n; i++) s->labels[i] = -1;
        return 0;
    }
    int32_t *lab;
    int64_t nl;
    if (unic_load_labels(labels_path, NULL, &lab, &nl, err, errlen) != 0) return -1;
    int rc = 0;
    if (nl != s->n)
        rc = unic_errf(err, errlen, "%s: %lld labels, but %s holds %lld images", labels_path,
                       (long long)nl, root, (long long)s->n);
    for (int64_t i = 0; rc == 0 && i < nl; i++) {
        if (lab[i] < 0)
            rc = unic_errf(err, errlen, "%s: label %d of item %lld is negative", labels_path,
                           lab[i], (long long)i);
        else if (lab[i] + 1 > s->nclasses) s->nclasses = lab[i] + 1;
        s->labels[i] = lab[i];
    }
    free(lab);
    return rc;
}

/* ---- public ------------------------------------------------------------- */

int unic_imageset_open(const char *kind, const char *root, const char *split,
                       const char *class_list, const char *labels_path, unic_imageset **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    static const char *kinds[] = {"imagefolder", "stl10", "cifar10", "cub200", "idx"};
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (kind && strcmp(kind, kinds[i]) == 0) k = i;
    if (k < 0)
        return unic_errf(err, errlen,
                         "unknown image set kind '%s' (imagefolder, stl10, cifar10, cub200, idx)",
                         kind ? kind : "");
    if (!root || !*root) return unic_errf(err, errlen, "%s: no root given", kind);
    if (class_list && *class_list && k != K_FOLDER)
        return unic_errf(err, errlen, "%s: a class list applies to imagefolder only (got %s)",
                         kind, class_list);
    unic_imageset *s = unic_xcalloc(1, sizeof *s);
    s->max_pixels = UNIC_DEFAULT_MAX_PIXELS;
    s->kind = k;
    int rc;
    switch (k) {
    case K_FOLDER: rc = open_folder(s, root, split, class_list, err, errlen); break;
    case K_STL10: rc = open_stl10(s, root, split, err, errlen); break;
    case K_CIFAR10: rc = open_cifar10(s, root, split, err, errlen); break;
    case K_CUB200: rc = open_cub200(s, root, split, err, errlen); break;
    default: rc = open_idx(s, root, labels_path, err, errlen); break;
    }
    if (rc != 0) {
        unic_imageset_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void unic_imageset_free(unic_imageset *s)
{
    if (!s) return;
    unic_xfree(s->labels);
    unic_xfree(s->pool);
    unic_xfree(s->off);
    for (int k = 0; k < s->nfiles; k++) {
        if (s->files[k].map) munmap((void *)s->files[k].map, s->files[k].size);
        unic_xfree(s->files[k].path);
    }
    if (s->kind == K_IDX) unic_array_free(&s->idx);
    if (s->class_names && s->kind == K_FOLDER)
        for (int k = 0; k < s->nclasses; k++) unic_xfree(s->class_names[k]);
    if (s->kind == K_FOLDER) unic_xfree(s->class_names);
    unic_xfree(s);
}

/* The classes of the fixed binary formats, as their distributions name them
 * (CIFAR-10's batches.meta.txt, STL-10's class_names.txt). */
static const char *const cifar10_names[] = {"airplane", "automobile", "bird", "cat", "deer",
                                            "dog", "frog", "horse", "ship", "truck"};
static const char *const stl10_names[] = {"airplane", "bird", "car", "cat", "deer",
                                          "dog", "horse", "monkey", "ship", "truck"};

const char *unic_imageset_class_name(const unic_imageset *s, int k)
{
    if (k < 0 || k >= s->nclasses) return NULL;
    if (s->class_names) return s->class_names[k];
    if (s->kind == K_CIFAR10 && k < 10) return cifar10_names[k];
    if (s->kind == K_STL10 && k < 10) return stl10_names[k];
    return NULL;
}

int64_t unic_imageset_size(const unic_imageset *s) { return s->n; }
int unic_imageset_num_classes(const unic_imageset *s) { return s->nclasses; }
void unic_imageset_set_max_pixels(unic_imageset *s, int64_t max_pixels)
{
    s->max_pixels = max_pixels;
}

int64_t unic_imageset_max_pixels(const unic_imageset *s) { return s->max_pixels; }

int32_t unic_imageset_label(const unic_imageset *s, int64_t i)
{
    return i >= 0 && i < s->n ? s->labels[i] : -1;
}

static const binfile *find_file(const unic_imageset *s, int64_t i, int64_t *rec)
{
    for (int k = 0; k < s->nfiles; k++) {
        if (i < s->files[k].first + s->files[k].count) {
            *rec = i - s->files[k].first;
            return &s->files[k];
        }
    }
    return NULL;
}

const char *unic_imageset_item_name(const unic_imageset *s, int64_t i, char *buf, size_t buflen)
{
    if (i < 0 || i >= s->n) {
        snprintf(buf, buflen, "item %lld (out of range)", (long long)i);
        return buf;
    }
    if (s->pool) return s->pool + s->off[i];
    if (s->kind == K_IDX) {
        snprintf(buf, buflen, "%s#%lld", s->idx.name, (long long)i);
        return buf;
    }
    int64_t rec = 0;
    const binfile *b = find_file(s, i, &rec);
    snprintf(buf, buflen, "%s#%lld", b->path, (long long)rec);
    return buf;
}

int unic_imageset_get(const unic_imageset *s, int64_t i, int min_side, unic_image *out, char *err,
                      size_t errlen)
{
    if (i < 0 || i >= s->n)
        return unic_errf(err, errlen, "item %lld is outside the set's %lld items", (long long)i,
                         (long long)s->n);
    if (s->pool)
        return unic_jpeg_load_bounded(s->pool + s->off[i], min_side, min_side, s->max_pixels, out,
                                      err, errlen);
    if (s->kind == K_IDX) {
        size_t plane = (size_t)s->idx_w * (size_t)s->idx_h;
        if (unic_image_alloc(out, s->idx_w, s->idx_h, 1) != 0)
            return unic_errf(err, errlen, "%s#%lld: out of memory", s->idx.name, (long long)i);
        memcpy(out->px, (const uint8_t *)s->idx.data + plane * (size_t)i, plane);
        return 0;
    }
    int64_t rec = 0;
    const binfile *b = find_file(s, i, &rec);
    int side = s->kind == K_STL10 ? STL_SIDE : CIFAR_SIDE;
    if (unic_image_alloc(out, side, side, 3) != 0)
        return unic_errf(err, errlen, "%s#%lld: out of memory", b->path, (long long)rec);
    uint8_t *px = out->px;
    if (s->kind == K_STL10) {
        /* Channel planes stored column by column: the STL-10 reader's
         * reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1). */
        const uint8_t *src = b->map + (size_t)rec * STL_BYTES;
        for (int c = 0; c < 3; c++)
            for (int x = 0; x < side; x++)
                for (int y = 0; y < side; y++)
                    px[((size_t)y * side + x) * 3 + c] =
                        src[(size_t)c * side * side + x * side + y];
    } else {
        /* A label byte, then R, G and B planes, each row-major. */
        const uint8_t *src = b->map + (size_t)rec * CIFAR_RECORD + 1;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < side * side; p++) px[(size_t)p * 3 + c] = src[c * side * side + p];
    }
    return 0;
}
