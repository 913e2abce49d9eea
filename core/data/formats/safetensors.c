/* safetensors: the format of model hubs and of unic's own checkpoints,
 * embeddings and caches. */
#include "data/formats/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "data/formats/bytes.h"


/* ---- safetensors ---------------------------------------------------------- */

/* The public struct plus the parsed header, which owns the metadata strings
 * that unic_safetensors_meta hands out. */
typedef struct {
    unic_safetensors pub;
    cJSON *root;
    const cJSON *meta;
} st_impl;

/* Upper bound for integers in the header: cJSON holds numbers as doubles. */
#define JSON_INT_MAX 9007199254740992.0 /* 2^53 */

static int json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d != floor(d) || d > JSON_INT_MAX) return -1;
    *out = (uint64_t)d;
    return 0;
}

typedef struct {
    uint64_t begin, end;
    int index;
} st_span;

static int cmp_span(const void *a, const void *b)
{
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name(const void *a, const void *b)
{
    const unic_array *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static int st_parse_tensor(const char *path, const cJSON *item, const unsigned char *data,
                           size_t data_size, unic_array *t, st_span *span, char *err, size_t errlen)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return unic_errf(err, errlen, "%s: header entry for tensor '%s' is not a JSON object", path,
                         name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    const char *missing = !jd ? "dtype" : !js ? "shape" : !jo ? "data_offsets" : NULL;
    if (missing)
        return unic_errf(err, errlen, "%s: tensor '%s' has no \"%s\" in the header", path, name,
                         missing);
    if (!cJSON_IsString(jd))
        return unic_errf(err, errlen, "%s: tensor '%s': \"dtype\" is not a string", path, name);
    int dt = unic_dtype_parse(jd->valuestring);
    if (dt < 0)
        return unic_errf(err, errlen,
                         "%s: tensor '%s' has unknown or unsupported dtype '%s' (supported: F32, "
                         "F16, BF16, F64, U8, I8, I32, I64, BOOL)",
                         path, name, jd->valuestring);
    t->dtype = (unic_dtype)dt;

    if (!cJSON_IsArray(js))
        return unic_errf(err, errlen, "%s: tensor '%s': \"shape\" is not a list", path, name);
    int nd = cJSON_GetArraySize(js);
    if (nd > 8)
        return unic_errf(err, errlen, "%s: tensor '%s' has %d dimensions; at most 8 are supported",
                         path, name, nd);
    t->ndim = nd;
    int k = 0;
    for (const cJSON *d = js->child; d; d = d->next, k++) {
        uint64_t v;
        if (json_uint(d, &v) != 0)
            return unic_errf(err, errlen,
                             "%s: tensor '%s': shape entry %d is not a non-negative integer", path,
                             name, k);
        t->shape[k] = (int64_t)v;
    }

    uint64_t off[2];
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || json_uint(jo->child, &off[0]) != 0 ||
        json_uint(jo->child->next, &off[1]) != 0)
        return unic_errf(err, errlen,
                         "%s: tensor '%s': \"data_offsets\" must be [begin, end] with non-negative "
                         "integers",
                         path, name);
    if (off[0] > off[1])
        return unic_errf(err, errlen,
                         "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                         "] are out of order (begin > end)",
                         path, name, off[0], off[1]);
    if (off[1] > data_size)
        return unic_errf(err, errlen,
                         "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] go beyond the "
                         "data section (%zu bytes)",
                         path, name, off[0], off[1], data_size);
    uint64_t need;
    char sbuf[160];
    if (unic_shape_bytes(t->shape, t->ndim, unic_dtype_size(dt), NULL, &need) != 0)
        return unic_errf(err, errlen, "%s: tensor '%s': shape %s is too large", path, name,
                         unic_shape_str(t->shape, t->ndim, sbuf, sizeof sbuf));
    if (off[1] - off[0] != need)
        return unic_errf(err, errlen,
                         "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64
                         " bytes but shape %s %s needs %" PRIu64 " bytes",
                         path, name, off[0], off[1], off[1] - off[0],
                         unic_shape_str(t->shape, t->ndim, sbuf, sizeof sbuf), unic_dtype_name(dt), need);
    t->name = unic_xstrdup(name);
    t->data = (void *)(data + off[0]);
    t->nbytes = (size_t)need;
    span->begin = off[0];
    span->end = off[1];
    return 0;
}

static int st_parse(st_impl *im, char *err, size_t errlen)
{
    unic_safetensors *st = &im->pub;
    const char *path = st->path;
    const unsigned char *base = st->map;
    uint64_t hlen = unic_ld_u64(base);
    if (hlen > st->size - 8)
        return unic_errf(err, errlen,
                         "%s: header length %" PRIu64 " goes beyond the end of the file (%zu bytes "
                         "after the 8-byte length); not a safetensors file or truncated",
                         path, hlen, st->size - 8);
    const char *hdr = (const char *)base + 8;
    const char *end = NULL;
    im->root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!im->root) {
        size_t at = end && end >= hdr ? (size_t)(end - hdr) : 0;
        return unic_errf(err, errlen,
                         "%s: header is not valid JSON (error near byte %zu of %" PRIu64 ")", path,
                         at, hlen);
    }
    /* The reference pads with spaces; anything else after the object is junk. */
    for (const char *p = end; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return unic_errf(err, errlen,
                             "%s: header is not valid JSON (unexpected text after the object at "
                             "byte %td)",
                             path, p - hdr);
    if (!cJSON_IsObject(im->root))
        return unic_errf(err, errlen, "%s: header is not a JSON object", path);

    int count = 0;
    for (const cJSON *it = im->root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") != 0) count++;
    }
    st->tensors = unic_xcalloc(count ? (size_t)count : 1, sizeof(unic_array));
    st_span *spans = unic_xmalloc((count ? (size_t)count : 1) * sizeof(st_span));
    const unsigned char *data = base + 8 + hlen;
    size_t data_size = st->size - 8 - (size_t)hlen;
    int rc = 0;
    for (const cJSON *it = im->root->child; it && rc == 0; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (im->meta) {
                rc = unic_errf(err, errlen, "%s: duplicate \"__metadata__\" in the header", path);
                break;
            }
            if (!cJSON_IsObject(it)) {
                rc = unic_errf(err, errlen, "%s: \"__metadata__\" is not a JSON object", path);
                break;
            }
            for (const cJSON *m = it->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    rc = unic_errf(err, errlen,
                                   "%s: __metadata__ value for '%s' is not a string (the format "
                                   "allows only string values)",
                                   path, m->string);
                    break;
                }
            }
            if (rc) break;
            im->meta = it;
            char *text = cJSON_PrintUnformatted(it);
            st->metadata_json = unic_xstrdup(text);
            cJSON_free(text);
            continue;
        }
        int i = st->count;
        spans[i].index = i;
        rc = st_parse_tensor(path, it, data, data_size, &st->tensors[i], &spans[i], err, errlen);
        if (rc == 0) st->count++;
    }
    if (rc == 0 && st->count > 1) {
        const unic_array **byname = unic_xmalloc((size_t)st->count * sizeof *byname);
        for (int i = 0; i < st->count; i++) byname[i] = &st->tensors[i];
        qsort(byname, (size_t)st->count, sizeof *byname, cmp_name);
        for (int i = 1; i < st->count && rc == 0; i++)
            if (strcmp(byname[i - 1]->name, byname[i]->name) == 0)
                rc = unic_errf(err, errlen, "%s: duplicate tensor name '%s' in the header", path,
                               byname[i]->name);
        unic_xfree(byname);

        qsort(spans, (size_t)st->count, sizeof *spans, cmp_span);
        uint64_t reach = 0;
        int last = -1;
        for (int i = 0; i < st->count && rc == 0; i++) {
            if (spans[i].begin == spans[i].end) continue; /* empty tensors take no room */
            if (last >= 0 && spans[i].begin < reach)
                rc = unic_errf(err, errlen,
                               "%s: tensors '%s' and '%s' overlap in the data section (offsets out "
                               "of order)",
                               path, st->tensors[last].name, st->tensors[spans[i].index].name);
            if (spans[i].end > reach) {
                reach = spans[i].end;
                last = spans[i].index;
            }
        }
    }
    unic_xfree(spans);
    return rc;
}

int unic_safetensors_open(const char *path, unic_safetensors **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return unic_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return unic_errf(err, errlen, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return unic_errf(err, errlen, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return unic_errf(err, errlen,
                         "%s: not a safetensors file: %zu bytes is shorter than the 8-byte header "
                         "length",
                         path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return unic_errf(err, errlen, "%s: cannot map the file: %s", path, strerror(e));
    st_impl *im = unic_xcalloc(1, sizeof *im);
    im->pub.path = unic_xstrdup(path);
    im->pub.map = map;
    im->pub.size = size;
    if (st_parse(im, err, errlen) != 0) {
        unic_safetensors_close(&im->pub);
        return -1;
    }
    *out = &im->pub;
    return 0;
}

const unic_array *unic_safetensors_find(const unic_safetensors *st, const char *name)
{
    for (int i = 0; i < st->count; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *unic_safetensors_meta(const unic_safetensors *st, const char *key)
{
    const st_impl *im = (const st_impl *)st;
    if (!im->meta) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(im->meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void unic_safetensors_close(unic_safetensors *st)
{
    if (!st) return;
    st_impl *im = (st_impl *)st;
    for (int i = 0; i < st->count; i++) unic_xfree(st->tensors[i].name);
    unic_xfree(st->tensors);
    unic_xfree(st->metadata_json);
    if (st->map) munmap(st->map, st->size);
    cJSON_Delete(im->root);
    unic_xfree(st->path);
    unic_xfree(im);
}

/* Integers go in as raw text: cJSON would print 1e15 as "1e+15", which strict
 * readers (the reference one parses usize) reject. */
static cJSON *json_raw_uint(uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateRaw(buf);
}

int unic_safetensors_write(const char *path, const unic_array *tensors, int count,
                           const char *const *metadata, char *err, size_t errlen)
{
    if (count < 0 || (count > 0 && !tensors))
        return unic_errf(err, errlen, "%s: invalid tensor list", path);
    cJSON *root = cJSON_CreateObject();
    int rc = 0;
    if (metadata && metadata[0]) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; rc == 0 && metadata[i]; i += 2) {
            if (!metadata[i + 1])
                rc =
                    unic_errf(err, errlen, "%s: metadata key '%s' has no value", path, metadata[i]);
            else if (cJSON_GetObjectItemCaseSensitive(meta, metadata[i]))
                rc = unic_errf(err, errlen, "%s: duplicate metadata key '%s'", path, metadata[i]);
            else
                cJSON_AddStringToObject(meta, metadata[i], metadata[i + 1]);
        }
    }
    uint64_t offset = 0;
    char sbuf[160];
    for (int i = 0; i < count && rc == 0; i++) {
        const unic_array *t = &tensors[i];
        uint64_t need = 0;
        if (!t->name || !*t->name || strcmp(t->name, "__metadata__") == 0)
            rc = unic_errf(err, errlen, "%s: tensor %d has no usable name", path, i);
        else if (cJSON_GetObjectItemCaseSensitive(root, t->name))
            rc = unic_errf(err, errlen, "%s: duplicate tensor name '%s'", path, t->name);
        else if (unic_dtype_size(t->dtype) == 0)
            rc = unic_errf(err, errlen, "%s: tensor '%s' has an unknown dtype", path, t->name);
        else if (t->ndim < 0 || t->ndim > 8 ||
                 unic_shape_bytes(t->shape, t->ndim, unic_dtype_size(t->dtype), NULL, &need) != 0)
            rc = unic_errf(err, errlen, "%s: tensor '%s' has an invalid shape", path, t->name);
        else if (t->nbytes != need || (need && !t->data))
            rc = unic_errf(err, errlen,
                           "%s: tensor '%s' holds %zu bytes but shape %s %s needs %" PRIu64, path,
                           t->name, t->nbytes, unic_shape_str(t->shape, t->ndim, sbuf, sizeof sbuf),
                           unic_dtype_name(t->dtype), need);
        if (rc) break;
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON_AddStringToObject(e, "dtype", unic_dtype_name(t->dtype));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(shape, json_raw_uint((uint64_t)t->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, json_raw_uint(offset));
        cJSON_AddItemToArray(offs, json_raw_uint(offset + need));
        offset += need;
    }
    if (rc) {
        cJSON_Delete(root);
        return -1;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t jlen = strlen(json);
    /* As the reference writer: pad with spaces so the data starts 8-aligned. */
    size_t hlen = (jlen + 7) & ~(size_t)7;
    unsigned char *head = unic_xmalloc(8 + hlen);
    uint64_t hlen64 = hlen;
    memcpy(head, &hlen64, 8);
    memcpy(head + 8, json, jlen);
    memset(head + 8 + jlen, ' ', hlen - jlen);
    cJSON_free(json);

    unic_write_part *parts = unic_xmalloc(((size_t)count + 1) * sizeof *parts);
    parts[0] = (unic_write_part){head, 8 + hlen};
    for (int i = 0; i < count; i++) parts[i + 1] = (unic_write_part){tensors[i].data, tensors[i].nbytes};
    rc = unic_write_parts_atomic(path, parts, count + 1, err, errlen);
    unic_xfree(parts);
    unic_xfree(head);
    return rc;
}
