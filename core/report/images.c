#include "report/images.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/textfile.h"
#include "base/util.h"
#include "data/dataset.h"
#include "data/imagesets.h"
#include "experiment/experiment.h"

struct unic_report_items {
    unic_imageset *set; /* an image dataset */
    unic_dataset arrays; /* or arrays in memory (arrays.x NULL when not loaded) */
    int pixels;          /* arrays: items are images */
    int ih, iw, ic;      /* arrays: the image shape */
    char describe[2600];
};

static const char *get(const unic_config *cfg, const char *section, const char *key)
{
    const char *v = unic_config_get(cfg, section, key);
    return v ? v : "";
}

static int open_imageset(unic_report_items *s, const unic_config *cfg, char *err, size_t errlen)
{
    const char *format = get(cfg, "data", "format"), *eval = get(cfg, "data", "eval_split");
    const char *kind = strcmp(format, "idx_images") == 0 ? "idx" : format;
    const char *split = *eval ? eval : get(cfg, "data", "split");
    if (unic_imageset_open(kind, get(cfg, "data", "path"), split, get(cfg, "data", "class_list"),
                           get(cfg, "data", "labels"), &s->set, err, errlen) != 0)
        return -1;
    const char *mp = get(cfg, "data", "max_pixels");
    if (*mp) unic_imageset_set_max_pixels(s->set, strtoll(mp, NULL, 10));
    snprintf(s->describe, sizeof s->describe, "%s images from %s%s%s (%lld items)", format,
             get(cfg, "data", "path"), *split && strcmp(kind, "idx") ? ", split " : "",
             strcmp(kind, "idx") ? split : "", (long long)unic_imageset_size(s->set));
    return 0;
}

static int open_arrays(unic_report_items *s, const unic_config *cfg, char *err, size_t errlen)
{
    const char *eval = get(cfg, "data", "eval_path");
    const char *path = *eval ? eval : get(cfg, "data", "path");
    const char *limit = get(cfg, "data", "limit");
    if (unic_dataset_load(path, get(cfg, "data", "tensor"), "", *eval ? 0 : strtoll(limit, NULL, 10),
                          &s->arrays, err, errlen) != 0)
        return -1;
    const unic_input_info *in = &s->arrays.info;
    if (in->ndim == 2) {
        s->ih = (int)in->shape[0], s->iw = (int)in->shape[1], s->ic = 1;
    } else if (in->ndim == 3 && (in->shape[0] == 1 || in->shape[0] == 3)) {
        s->ic = (int)in->shape[0], s->ih = (int)in->shape[1], s->iw = (int)in->shape[2];
    }
    s->pixels = s->ic > 0 && s->ih >= 4 && s->iw >= 4;
    snprintf(s->describe, sizeof s->describe, "%lld %s from %s", (long long)s->arrays.n,
             s->pixels ? "images (arrays)" : "feature vectors", path);
    return 0;
}

unic_report_items *unic_report_items_open(const unic_config *cfg, char *err, size_t errlen)
{
    unic_report_items *s = unic_xcalloc(1, sizeof *s);
    const char *format = get(cfg, "data", "format");
    int rc;
    if (!*get(cfg, "data", "path")) {
        rc = unic_errf(err, errlen, "[data] path is not set");
    } else if (*format && unic_format_is_images(format)) {
        rc = open_imageset(s, cfg, err, errlen);
    } else if (strcmp(get(cfg, "backbone", "plugin"), "features") == 0) {
        /* embeddings brought by the user: nothing to show but indices */
        snprintf(s->describe, sizeof s->describe, "feature vectors from %s",
                 *get(cfg, "data", "eval_path") ? get(cfg, "data", "eval_path")
                                                : get(cfg, "data", "path"));
        rc = 0;
    } else {
        rc = open_arrays(s, cfg, err, errlen);
    }
    if (rc != 0) {
        unic_report_items_free(s);
        return NULL;
    }
    return s;
}

void unic_report_items_free(unic_report_items *s)
{
    if (!s) return;
    unic_imageset_free(s->set);
    if (s->arrays.x) unic_dataset_free(&s->arrays);
    unic_xfree(s);
}

int unic_report_items_has_pixels(const unic_report_items *s)
{
    return s && (s->set || s->pixels);
}

int unic_report_items_get(const unic_report_items *s, int64_t index, int min_side,
                          unic_image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (s->set) return unic_imageset_get(s->set, index, min_side, out, err, errlen);
    if (!s->pixels) return unic_errf(err, errlen, "the items are not images");
    if (index < 0 || index >= s->arrays.n)
        return unic_errf(err, errlen, "item %lld is outside the %lld items of %s",
                         (long long)index, (long long)s->arrays.n, s->arrays.path);
    if (unic_image_alloc(out, s->iw, s->ih, s->ic) != 0)
        return unic_errf(err, errlen, "out of memory for a %dx%d image", s->iw, s->ih);
    const float *x = s->arrays.x + (size_t)index * (size_t)s->arrays.item_size;
    size_t plane = (size_t)s->iw * (size_t)s->ih;
    for (int c = 0; c < s->ic; c++) /* C x H x W floats to interleaved bytes */
        for (size_t p = 0; p < plane; p++) {
            float v = x[(size_t)c * plane + p];
            out->px[p * (size_t)s->ic + (size_t)c] =
                (uint8_t)(isfinite(v) ? (v < 0 ? 0 : v > 255 ? 255 : lrintf(v)) : 0);
        }
    return 0;
}

const char *unic_report_items_name(const unic_report_items *s, int64_t index, char *buf,
                                   size_t len)
{
    if (s && s->set && index >= 0 && index < unic_imageset_size(s->set))
        return unic_imageset_item_name(s->set, index, buf, len);
    snprintf(buf, len, "#%lld", (long long)index);
    return buf;
}

const char *unic_report_items_describe(const unic_report_items *s)
{
    return s ? s->describe : "";
}

/* ---- class names ------------------------------------------------------- */

static int read_names_file(unic_class_names *c, const char *path, char *err, size_t errlen)
{
    char *text;
    if (unic_read_text_file(path, "class names", UNIC_MAX_TEXT_FILE_BYTES, &text, err, errlen) != 0)
        return -1;
    int cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t') line++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
        line[n] = '\0';
        if (!n || *line == '#') continue;
        if (c->n == UNIC_MAX_CLASSES) {
            free(text);
            return unic_errf(err, errlen, "%s: more than %d class names", path, UNIC_MAX_CLASSES);
        }
        if (c->n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(c->name, sizeof(char *) * (size_t)cap);
            if (!grown) unic_die("out of memory reading %s", path);
            c->name = grown;
        }
        c->name[c->n++] = unic_xstrdup(line);
    }
    free(text);
    return 0;
}

int unic_class_names_load(unic_class_names *c, int nclasses, const char *names_file,
                          const unic_report_items *s, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (nclasses < 0) nclasses = 0;
    if (nclasses > UNIC_MAX_CLASSES) nclasses = UNIC_MAX_CLASSES;
    if (names_file && *names_file) {
        if (read_names_file(c, names_file, err, errlen) != 0) {
            unic_class_names_free(c);
            return -1;
        }
        if (c->n < nclasses) {
            int had = c->n;
            unic_class_names_free(c);
            return unic_errf(err, errlen, "%s names %d classes, but the run has %d", names_file,
                             had, nclasses);
        }
        c->source = "the class names file";
        return 0;
    }
    c->name = calloc((size_t)(nclasses ? nclasses : 1), sizeof(char *));
    if (!c->name) unic_die("out of memory");
    c->n = nclasses;
    int named = 0;
    for (int k = 0; k < nclasses; k++) {
        const char *from_set = s && s->set ? unic_imageset_class_name(s->set, k) : NULL;
        char buf[32];
        snprintf(buf, sizeof buf, "class %d", k);
        c->name[k] = unic_xstrdup(from_set ? from_set : buf);
        named += from_set != NULL;
    }
    c->source = named ? "the data set" : "class numbers (the data set names none; give "
                                         "--class-names FILE)";
    return 0;
}

void unic_class_names_free(unic_class_names *c)
{
    for (int k = 0; k < c->n; k++) free(c->name[k]);
    free(c->name);
    memset(c, 0, sizeof *c);
}

const char *unic_class_name(const unic_class_names *c, int k)
{
    static __thread char buf[32];
    if (k >= 0 && k < c->n && c->name[k]) return c->name[k];
    snprintf(buf, sizeof buf, "class %d", k);
    return buf;
}
