/* Labels from any of the formats users bring, or a text file. */
#include "data/formats/labels.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/limits.h"
#include "base/util.h"
#include "data/formats/idx.h"
#include "data/formats/npy.h"
#include "data/formats/safetensors.h"

/* "-ubyte" or ".idx..." in the file name, with or without a trailing ".gz". */
static int is_idx_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (unic_ends_with(base, ".gz")) n -= 3;
    char *name = unic_xmalloc(n + 1);
    memcpy(name, base, n);
    name[n] = '\0';
    int yes = unic_ends_with(name, "-ubyte") || strstr(name, ".idx") != NULL;
    unic_xfree(name);
    return yes;
}

static int labels_from_array(const char *path, const unic_array *a, int32_t **labels, int64_t *n,
                             char *err, size_t errlen)
{
    char sbuf[160];
    if (!(a->ndim == 1 || (a->ndim == 2 && a->shape[1] == 1)))
        return unic_errf(err, errlen, "%s: labels must be 1-D (or N x 1), got shape %s", path,
                         unic_shape_str(a->shape, a->ndim, sbuf, sizeof sbuf));
    if (a->shape[0] == 0) return unic_errf(err, errlen, "%s: contains no labels", path);
    int32_t *l = unic_xmalloc((size_t)a->shape[0] * sizeof(int32_t));
    char sub[512];
    if (unic_array_to_i32(a, l, sub, sizeof sub) != 0) {
        unic_xfree(l);
        /* npy/IDX arrays are named after their file already. */
        if (a->name && strcmp(a->name, path) == 0) return unic_errf(err, errlen, "%s", sub);
        return unic_errf(err, errlen, "%s: labels: %s", path, sub);
    }
    *labels = l;
    *n = a->shape[0];
    return 0;
}

static int labels_from_text(const char *path, int32_t **labels, int64_t *n, char *err,
                            size_t errlen)
{
    if (unic_check_input_file(path, "label file", 0, err, errlen) != 0) return -1;
    errno = 0;
    gzFile g = gzopen(path, "rb"); /* plain text too; a .gz list comes free */
    if (!g)
        return unic_errf(err, errlen, "%s: cannot open: %s", path,
                         errno ? strerror(errno) : "out of memory");
    size_t cap = 1024, count = 0;
    int32_t *l = unic_xmalloc(cap * sizeof *l);
    char line[4096];
    int rc = 0;
    for (long lineno = 1; gzgets(g, line, sizeof line); lineno++) {
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !gzeof(g)) {
            rc = unic_errf(err, errlen, "%s: line %ld is too long for a label", path, lineno);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *s = line, *e = line + strlen(line);
        while (*s == ' ' || *s == '\t') s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) e--;
        *e = '\0';
        if (!*s) continue;
        char *endp;
        errno = 0;
        long long v = strtoll(s, &endp, 10);
        if (endp == s || *endp) {
            rc = unic_errf(err, errlen, "%s: line %ld: '%.64s' is not an integer", path, lineno, s);
            break;
        }
        if (errno == ERANGE || v < INT32_MIN || v > INT32_MAX) {
            rc = unic_errf(err, errlen, "%s: line %ld: %.64s is outside the int32 range", path,
                           lineno, s);
            break;
        }
        if (count == cap) {
            int32_t *bigger = unic_xmalloc(2 * cap * sizeof *l);
            memcpy(bigger, l, cap * sizeof *l);
            unic_xfree(l);
            l = bigger;
            cap *= 2;
        }
        l[count++] = (int32_t)v;
    }
    int zerr;
    const char *why = gzerror(g, &zerr);
    if (rc == 0 && zerr != Z_OK && zerr != Z_STREAM_END)
        rc = unic_errf(err, errlen, "%s: cannot read: %s", path, why);
    if (rc == 0 && count == 0) rc = unic_errf(err, errlen, "%s: contains no labels", path);
    gzclose(g);
    if (rc) {
        unic_xfree(l);
        return -1;
    }
    *labels = l;
    *n = (int64_t)count;
    return 0;
}

int unic_load_labels(const char *path, const char *name, int32_t **labels, int64_t *n, char *err,
                     size_t errlen)
{
    *labels = NULL;
    *n = 0;
    if (unic_ends_with(path, ".safetensors")) {
        unic_safetensors *st;
        if (unic_safetensors_open(path, &st, err, errlen) != 0) return -1;
        const char *want = name && *name ? name : "labels";
        const unic_array *a = unic_safetensors_find(st, want);
        int rc;
        if (!a) {
            char names[256] = "";
            size_t len = 0;
            for (int i = 0; i < st->count && len < sizeof names - 1; i++)
                len += (size_t)snprintf(names + len, sizeof names - len, "%s'%s'", i ? ", " : "",
                                        st->tensors[i].name);
            rc = unic_errf(err, errlen, "%s: no tensor named '%s' (the file has %s)", path, want,
                           st->count ? names : "no tensors");
        } else {
            rc = labels_from_array(path, a, labels, n, err, errlen);
        }
        unic_safetensors_close(st);
        return rc;
    }
    if (unic_ends_with(path, ".npy") || is_idx_name(path)) {
        unic_array a;
        int rc = unic_ends_with(path, ".npy") ? unic_npy_load(path, &a, err, errlen)
                                         : unic_idx_load(path, &a, err, errlen);
        if (rc != 0) return -1;
        rc = labels_from_array(path, &a, labels, n, err, errlen);
        unic_array_free(&a);
        return rc;
    }
    return labels_from_text(path, labels, n, err, errlen);
}

