#include "data/io.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/util.h"

/* safetensors and .npy store little-endian data and we hand it out as is. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "unic's file readers assume a little-endian host"
#endif

/* ---- dtypes --------------------------------------------------------------- */

static const struct {
    const char *st;   /* safetensors spelling */
    const char *word; /* for messages */
    size_t size;
} DTYPES[] = {
    [UNIC_DT_F32] = {"F32", "float32", 4},    [UNIC_DT_F16] = {"F16", "float16", 2},
    [UNIC_DT_BF16] = {"BF16", "bfloat16", 2}, [UNIC_DT_F64] = {"F64", "float64", 8},
    [UNIC_DT_U8] = {"U8", "uint8", 1},        [UNIC_DT_I8] = {"I8", "int8", 1},
    [UNIC_DT_I32] = {"I32", "int32", 4},      [UNIC_DT_I64] = {"I64", "int64", 8},
    [UNIC_DT_BOOL] = {"BOOL", "bool", 1},
};
#define NUM_DTYPES ((int)(sizeof DTYPES / sizeof DTYPES[0]))

static int dtype_valid(unic_dtype dt) { return (unsigned)dt < (unsigned)NUM_DTYPES; }

size_t unic_dtype_size(unic_dtype dt) { return dtype_valid(dt) ? DTYPES[dt].size : 0; }

const char *unic_dtype_name(unic_dtype dt) { return dtype_valid(dt) ? DTYPES[dt].st : "?"; }

static const char *dtype_word(unic_dtype dt) { return dtype_valid(dt) ? DTYPES[dt].word : "?"; }

int64_t unic_array_numel(const unic_array *a)
{
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

/* numel * elem_size for a shape from a file; fails instead of wrapping so a
 * hostile header cannot make us under-allocate. */
static int shape_bytes(const int64_t *shape, int ndim, size_t elem, uint64_t *numel,
                       uint64_t *bytes)
{
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return -1;
    }
    uint64_t b;
    if (__builtin_mul_overflow(n, (uint64_t)elem, &b) || b > (uint64_t)INT64_MAX ||
        b > (uint64_t)SIZE_MAX)
        return -1;
    if (numel) *numel = n;
    if (bytes) *bytes = b;
    return 0;
}

/* "10x4", or "scalar" for a 0-d array. */
static const char *shape_str(const int64_t *shape, int ndim, char *buf, size_t cap)
{
    if (ndim == 0) {
        snprintf(buf, cap, "scalar");
        return buf;
    }
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? "x%" PRId64 : "%" PRId64, shape[i]);
    return buf;
}

void unic_array_free(unic_array *a)
{
    if (!a) return;
    unic_xfree(a->data);
    unic_xfree(a->name);
    memset(a, 0, sizeof *a);
}

/* ---- conversions ------------------------------------------------------------ */

/* Arrays mapped from files written by other tools may be misaligned, so every
 * element is read through memcpy (which compiles to a plain load). */
static inline uint16_t ld_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t ld_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t ld_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline float bits_f32(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static inline double bits_f64(uint64_t b)
{
    double d;
    memcpy(&d, &b, 8);
    return d;
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* Subnormal half: every one is a normal float, so renormalise. */
        int e = -14;
        while (!(man & 0x400)) {
            man <<= 1;
            e--;
        }
        man &= 0x3ff;
        return bits_f32(sign | (uint32_t)(e + 127) << 23 | man << 13);
    }
    if (exp == 31)
        return bits_f32(sign | 0x7f800000u | man << 13); /* inf, or nan keeping payload */
    return bits_f32(sign | (exp - 15 + 127) << 23 | man << 13);
}

/* bfloat16 is the top half of a float32, subnormals and nan included. */
static float bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

static int check_array(const unic_array *a, const char *who, int64_t *numel, char *err,
                       size_t errlen)
{
    if (!dtype_valid(a->dtype))
        return unic_errf(err, errlen, "%s: unknown dtype code %d", who, (int)a->dtype);
    uint64_t n, bytes;
    if (a->ndim < 0 || a->ndim > 8 ||
        shape_bytes(a->shape, a->ndim, DTYPES[a->dtype].size, &n, &bytes) != 0)
        return unic_errf(err, errlen, "%s: invalid shape", who);
    if (a->nbytes < bytes || (bytes && !a->data))
        return unic_errf(err, errlen, "%s: holds %zu bytes but its shape needs %" PRIu64, who,
                         a->nbytes, bytes);
    *numel = (int64_t)n;
    return 0;
}

int unic_array_to_f32(const unic_array *a, float *dst, char *err, size_t errlen)
{
    const char *who = a->name ? a->name : "array";
    int64_t n;
    if (check_array(a, who, &n, err, errlen) != 0) return -1;
    const unsigned char *p = a->data;
    switch (a->dtype) {
    case UNIC_DT_F32:
        if (n) memcpy(dst, p, (size_t)n * 4);
        break;
    case UNIC_DT_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(ld_u16(p + 2 * i));
        break;
    case UNIC_DT_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(ld_u16(p + 2 * i));
        break;
    case UNIC_DT_F64:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)bits_f64(ld_u64(p + 8 * i));
        break;
    case UNIC_DT_U8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i];
        break;
    case UNIC_DT_I8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int8_t)p[i];
        break;
    case UNIC_DT_I32:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int32_t)ld_u32(p + 4 * i);
        break;
    case UNIC_DT_I64:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int64_t)ld_u64(p + 8 * i);
        break;
    case UNIC_DT_BOOL:
        for (int64_t i = 0; i < n; i++) dst[i] = p[i] ? 1.0f : 0.0f;
        break;
    }
    return 0;
}

static int float_to_i32(double v, int64_t i, const char *who, int32_t *out, char *err,
                        size_t errlen)
{
    if (!isfinite(v) || v != floor(v))
        return unic_errf(err, errlen, "%s: element %" PRId64 " is %.9g, not an integer", who, i, v);
    if (v < (double)INT32_MIN || v > (double)INT32_MAX)
        return unic_errf(err, errlen, "%s: element %" PRId64 " is %.17g, outside the int32 range",
                         who, i, v);
    *out = (int32_t)v;
    return 0;
}

int unic_array_to_i32(const unic_array *a, int32_t *dst, char *err, size_t errlen)
{
    const char *who = a->name ? a->name : "array";
    int64_t n;
    if (check_array(a, who, &n, err, errlen) != 0) return -1;
    const unsigned char *p = a->data;
    for (int64_t i = 0; i < n; i++) {
        double v;
        switch (a->dtype) {
        case UNIC_DT_U8: dst[i] = p[i]; continue;
        case UNIC_DT_I8: dst[i] = (int8_t)p[i]; continue;
        case UNIC_DT_BOOL: dst[i] = p[i] != 0; continue;
        case UNIC_DT_I32: dst[i] = (int32_t)ld_u32(p + 4 * i); continue;
        case UNIC_DT_I64: {
            int64_t x = (int64_t)ld_u64(p + 8 * i);
            if (x < INT32_MIN || x > INT32_MAX)
                return unic_errf(err, errlen,
                                 "%s: element %" PRId64 " is %" PRId64 ", outside the int32 range",
                                 who, i, x);
            dst[i] = (int32_t)x;
            continue;
        }
        case UNIC_DT_F32: v = bits_f32(ld_u32(p + 4 * i)); break;
        case UNIC_DT_F16: v = f16_to_f32(ld_u16(p + 2 * i)); break;
        case UNIC_DT_BF16: v = bf16_to_f32(ld_u16(p + 2 * i)); break;
        case UNIC_DT_F64: v = bits_f64(ld_u64(p + 8 * i)); break;
        default: return unic_errf(err, errlen, "%s: unknown dtype", who);
        }
        if (float_to_i32(v, i, who, &dst[i], err, errlen) != 0) return -1;
    }
    return 0;
}

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
    int dt = -1;
    for (int i = 0; i < NUM_DTYPES; i++)
        if (strcmp(jd->valuestring, DTYPES[i].st) == 0) dt = i;
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
    if (shape_bytes(t->shape, t->ndim, DTYPES[dt].size, NULL, &need) != 0)
        return unic_errf(err, errlen, "%s: tensor '%s': shape %s is too large", path, name,
                         shape_str(t->shape, t->ndim, sbuf, sizeof sbuf));
    if (off[1] - off[0] != need)
        return unic_errf(err, errlen,
                         "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64
                         " bytes but shape %s %s needs %" PRIu64 " bytes",
                         path, name, off[0], off[1], off[1] - off[0],
                         shape_str(t->shape, t->ndim, sbuf, sizeof sbuf), DTYPES[dt].st, need);
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
    uint64_t hlen = ld_u64(base);
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
        else if (!dtype_valid(t->dtype))
            rc = unic_errf(err, errlen, "%s: tensor '%s' has an unknown dtype", path, t->name);
        else if (t->ndim < 0 || t->ndim > 8 ||
                 shape_bytes(t->shape, t->ndim, DTYPES[t->dtype].size, NULL, &need) != 0)
            rc = unic_errf(err, errlen, "%s: tensor '%s' has an invalid shape", path, t->name);
        else if (t->nbytes != need || (need && !t->data))
            rc = unic_errf(err, errlen,
                           "%s: tensor '%s' holds %zu bytes but shape %s %s needs %" PRIu64, path,
                           t->name, t->nbytes, shape_str(t->shape, t->ndim, sbuf, sizeof sbuf),
                           DTYPES[t->dtype].st, need);
        if (rc) break;
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON_AddStringToObject(e, "dtype", DTYPES[t->dtype].st);
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

/* ---- .npy ----------------------------------------------------------------- */

static const struct {
    const char *code; /* descr without the byte-order character */
    unic_dtype dt;
} NPY_TYPES[] = {
    {"f4", UNIC_DT_F32}, {"f8", UNIC_DT_F64}, {"f2", UNIC_DT_F16}, {"u1", UNIC_DT_U8},
    {"i1", UNIC_DT_I8},  {"i4", UNIC_DT_I32}, {"i8", UNIC_DT_I64}, {"b1", UNIC_DT_BOOL},
};

#define NPY_SUPPORTED "<f4 <f8 <f2 |u1 |i1 <i4 <i8 |b1"

typedef struct {
    const char *p, *end;
    const char *path;
    const char *text; /* whole header, for messages */
    char *err;
    size_t errlen;
} npy_cursor;

static void npy_ws(npy_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int npy_bad(npy_cursor *c, const char *what)
{
    return unic_errf(c->err, c->errlen,
                     "%s: malformed .npy header: %s at byte %td (header: %.120s)", c->path, what,
                     c->p - c->text, c->text);
}

static int npy_expect(npy_cursor *c, char ch, const char *what)
{
    npy_ws(c);
    if (c->p >= c->end || *c->p != ch) return npy_bad(c, what);
    c->p++;
    return 0;
}

/* A Python string literal without escapes (numpy never writes any). */
static int npy_string(npy_cursor *c, char *buf, size_t cap)
{
    npy_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return npy_bad(c, "expected a string");
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\') return npy_bad(c, "escape sequences are not supported");
        if (n + 1 >= cap) return npy_bad(c, "string too long");
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end) return npy_bad(c, "unterminated string");
    c->p++;
    buf[n] = '\0';
    return 0;
}

static int npy_word(npy_cursor *c, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

static int npy_shape(npy_cursor *c, int64_t *shape, int *ndim)
{
    if (npy_expect(c, '(', "expected '(' to start the shape") != 0) return -1;
    *ndim = 0;
    for (;;) {
        npy_ws(c);
        if (c->p < c->end && *c->p == ')') {
            c->p++;
            return 0;
        }
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return npy_bad(c, "expected a non-negative integer in the shape");
        if (*ndim == 8) return npy_bad(c, "more than 8 dimensions");
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return npy_bad(c, "dimension too large");
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs */
        shape[(*ndim)++] = v;
        npy_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == ')') continue;
        return npy_bad(c, "expected ',' or ')' in the shape");
    }
}

/* Parses the header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (10, 4), } */
static int npy_header(npy_cursor *c, char *descr, size_t dcap, int *fortran, int64_t *shape,
                      int *ndim)
{
    int seen[3] = {0, 0, 0};
    if (npy_expect(c, '{', "expected '{'") != 0) return -1;
    for (;;) {
        npy_ws(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            break;
        }
        char key[64];
        if (npy_string(c, key, sizeof key) != 0) return -1;
        if (npy_expect(c, ':', "expected ':' after a key") != 0) return -1;
        npy_ws(c);
        int k = strcmp(key, "descr") == 0           ? 0
                : strcmp(key, "fortran_order") == 0 ? 1
                : strcmp(key, "shape") == 0         ? 2
                                                    : -1;
        if (k < 0)
            return unic_errf(c->err, c->errlen, "%s: malformed .npy header: unexpected key '%s'",
                             c->path, key);
        if (seen[k]++)
            return unic_errf(c->err, c->errlen, "%s: malformed .npy header: key '%s' repeated",
                             c->path, key);
        if (k == 0) {
            if (c->p < c->end && *c->p == '[')
                return unic_errf(c->err, c->errlen,
                                 "%s: structured arrays (descr is a list of fields) are not "
                                 "supported; save a plain numeric array",
                                 c->path);
            if (npy_string(c, descr, dcap) != 0) return -1;
        } else if (k == 1) {
            if (npy_word(c, "True"))
                *fortran = 1;
            else if (npy_word(c, "False"))
                *fortran = 0;
            else
                return npy_bad(c, "fortran_order must be True or False");
        } else if (npy_shape(c, shape, ndim) != 0) {
            return -1;
        }
        npy_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '}') continue;
        return npy_bad(c, "expected ',' or '}'");
    }
    npy_ws(c);
    if (c->p != c->end) return npy_bad(c, "unexpected text after the dict");
    const char *miss = !seen[0] ? "descr" : !seen[1] ? "fortran_order" : !seen[2] ? "shape" : NULL;
    if (miss)
        return unic_errf(c->err, c->errlen, "%s: malformed .npy header: no '%s' key", c->path,
                         miss);
    return 0;
}

static int npy_dtype(const char *path, const char *descr, unic_dtype *dt, char *err, size_t errlen)
{
    char order = descr[0];
    const char *code = descr + (order == '<' || order == '>' || order == '|' || order == '=');
    for (size_t i = 0; i < sizeof NPY_TYPES / sizeof NPY_TYPES[0]; i++) {
        if (strcmp(code, NPY_TYPES[i].code) != 0) continue;
        if (order == '>' && DTYPES[NPY_TYPES[i].dt].size > 1)
            return unic_errf(err, errlen,
                             "%s: big-endian data ('%s') is not supported; save it little-endian, "
                             "e.g. arr.astype('<%s')",
                             path, descr, code);
        *dt = NPY_TYPES[i].dt;
        return 0;
    }
    return unic_errf(err, errlen, "%s: unsupported dtype '%s' (supported: " NPY_SUPPORTED ")", path,
                     descr);
}

int unic_npy_load(const char *path, unic_array *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return unic_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    char *hdr = NULL;
    int rc = 0;
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        rc = unic_errf(err, errlen, "%s: not a .npy file (%s)", path,
                       got < 10 ? "shorter than the 10-byte preamble" : "bad magic bytes");
        goto done;
    }
    int major = pre[6], minor = pre[7];
    uint32_t hlen;
    if (major == 1) {
        hlen = ld_u16(pre + 8);
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            rc = unic_errf(err, errlen, "%s: truncated: the file ends inside the preamble", path);
            goto done;
        }
        hlen = ld_u32(pre + 8);
    } else {
        rc = unic_errf(err, errlen,
                       "%s: unsupported .npy format version %d.%d (known: 1.0, 2.0, 3.0)", path,
                       major, minor);
        goto done;
    }
    if (hlen > (1u << 24)) {
        rc = unic_errf(err, errlen, "%s: .npy header length %u is implausibly large", path, hlen);
        goto done;
    }
    hdr = unic_xmalloc((size_t)hlen + 1);
    got = fread(hdr, 1, hlen, f);
    if (got < hlen) {
        rc = unic_errf(err, errlen,
                       "%s: truncated: the preamble announces a %u-byte header but only %zu bytes "
                       "follow",
                       path, hlen, got);
        goto done;
    }
    hdr[hlen] = '\0';
    if (memchr(hdr, '\0', hlen)) {
        rc = unic_errf(err, errlen, "%s: malformed .npy header: contains a NUL byte", path);
        goto done;
    }
    char descr[32];
    int fortran = 0;
    npy_cursor c = {hdr, hdr + hlen, path, hdr, err, errlen};
    if (npy_header(&c, descr, sizeof descr, &fortran, out->shape, &out->ndim) != 0 ||
        npy_dtype(path, descr, &out->dtype, err, errlen) != 0) {
        rc = -1;
        goto done;
    }
    /* Column-major and row-major agree for fewer than two dimensions. */
    int nontrivial = 0;
    for (int i = 0; i < out->ndim; i++) nontrivial += out->shape[i] > 1;
    if (fortran && nontrivial > 1) {
        rc = unic_errf(err, errlen,
                       "%s: fortran_order is True (column-major data) which is not supported; save "
                       "np.ascontiguousarray(arr) instead",
                       path);
        goto done;
    }
    uint64_t numel, nbytes;
    char sbuf[160];
    shape_str(out->shape, out->ndim, sbuf, sizeof sbuf);
    if (shape_bytes(out->shape, out->ndim, DTYPES[out->dtype].size, &numel, &nbytes) != 0) {
        rc = unic_errf(err, errlen, "%s: shape %s is too large", path, sbuf);
        goto done;
    }
    /* Check the size first so a corrupt header fails cleanly instead of
     * asking for an impossible allocation. */
    struct stat sb;
    long pos = ftell(f);
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && pos >= 0 &&
        (uint64_t)(sb.st_size - pos) < nbytes)
        got = (size_t)(sb.st_size - pos);
    else {
        out->data = unic_xmalloc((size_t)nbytes);
        out->nbytes = (size_t)nbytes;
        got = nbytes ? fread(out->data, 1, (size_t)nbytes, f) : 0;
    }
    if (got < nbytes) {
        rc = unic_errf(err, errlen,
                       "%s: truncated: header says %s %s (%" PRIu64 " bytes) but only %zu bytes "
                       "follow",
                       path, sbuf, dtype_word(out->dtype), nbytes, got);
        goto done;
    }
    out->name = unic_xstrdup(path);
done:
    unic_xfree(hdr);
    fclose(f);
    if (rc) unic_array_free(out);
    return rc;
}

int unic_npy_save(const char *path, const unic_array *a, char *err, size_t errlen)
{
    static const char *const descr[] = {
        [UNIC_DT_F32] = "<f4", [UNIC_DT_F16] = "<f2", [UNIC_DT_BF16] = NULL,
        [UNIC_DT_F64] = "<f8", [UNIC_DT_U8] = "|u1",  [UNIC_DT_I8] = "|i1",
        [UNIC_DT_I32] = "<i4", [UNIC_DT_I64] = "<i8", [UNIC_DT_BOOL] = "|b1",
    };
    int64_t n;
    if (check_array(a, path, &n, err, errlen) != 0) return -1;
    if (!descr[a->dtype])
        return unic_errf(err, errlen,
                         "%s: %s has no .npy dtype; convert to float32 first (or use safetensors)",
                         path, dtype_word(a->dtype));
    uint64_t nbytes = 0;
    shape_bytes(a->shape, a->ndim, DTYPES[a->dtype].size, NULL, &nbytes);

    char dict[512];
    size_t len = (size_t)snprintf(
        dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr[a->dtype]);
    for (int i = 0; i < a->ndim; i++)
        len += (size_t)snprintf(dict + len, sizeof dict - len, i ? ", %" PRId64 : "%" PRId64,
                                a->shape[i]);
    len += (size_t)snprintf(dict + len, sizeof dict - len, "%s), }", a->ndim == 1 ? "," : "");
    /* numpy pads so the data starts 64-aligned; the header ends in '\n'. */
    int v2 = 10 + len + 1 > 65535;
    size_t pre = v2 ? 12 : 10;
    size_t total = (pre + len + 1 + 63) & ~(size_t)63;
    size_t hlen = total - pre;
    unsigned char *head = unic_xmalloc(total);
    memcpy(head, "\x93NUMPY", 6);
    head[6] = v2 ? 2 : 1;
    head[7] = 0;
    if (v2) {
        uint32_t h = (uint32_t)hlen;
        memcpy(head + 8, &h, 4);
    } else {
        uint16_t h = (uint16_t)hlen;
        memcpy(head + 8, &h, 2);
    }
    memcpy(head + pre, dict, len);
    memset(head + pre + len, ' ', hlen - len - 1);
    head[total - 1] = '\n';
    unic_write_part parts[2] = {{head, total}, {a->data, (size_t)nbytes}};
    int rc = unic_write_parts_atomic(path, parts, 2, err, errlen);
    unic_xfree(head);
    return rc;
}

/* ---- IDX ------------------------------------------------------------------ */

/* IDX element types and the unic dtype each becomes (int16 widens to int32). */
static const struct {
    int code;
    unic_dtype dt;
    size_t src; /* bytes per element on disk */
    const char *word;
} IDX_TYPES[] = {
    {0x08, UNIC_DT_U8, 1, "uint8"},    {0x09, UNIC_DT_I8, 1, "int8"},
    {0x0B, UNIC_DT_I32, 2, "int16"},   {0x0C, UNIC_DT_I32, 4, "int32"},
    {0x0D, UNIC_DT_F32, 4, "float32"}, {0x0E, UNIC_DT_F64, 8, "float64"},
};

int unic_idx_load(const char *path, unic_array *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return unic_errf(err, errlen, "%s: cannot open: %s", path,
                         errno ? strerror(errno) : "out of memory");
    gzbuffer(g, 1 << 17);
    int rc = 0;
    unsigned char *raw = NULL;
    unsigned char hdr[4 + 4 * 255];
    int got = gzread(g, hdr, 4);
    int zerr;
    if (got < 0) {
        rc = unic_errf(err, errlen, "%s: cannot read: %s", path, gzerror(g, &zerr));
        goto done;
    }
    if (got < 4 || hdr[0] != 0 || hdr[1] != 0) {
        rc = unic_errf(err, errlen,
                       "%s: not an IDX file (expected magic bytes 00 00 <type> <ndim>%s)", path,
                       got < 4 ? ", the file is too short" : "");
        goto done;
    }
    int type = hdr[2], ndim = hdr[3];
    int k = -1;
    for (int i = 0; i < (int)(sizeof IDX_TYPES / sizeof IDX_TYPES[0]); i++)
        if (IDX_TYPES[i].code == type) k = i;
    if (k < 0) {
        rc = unic_errf(err, errlen,
                       "%s: unknown IDX data type 0x%02X (known: 0x08 ubyte, 0x09 byte, 0x0B "
                       "short, 0x0C int, 0x0D float, 0x0E double)",
                       path, type);
        goto done;
    }
    out->dtype = IDX_TYPES[k].dt;
    size_t src = IDX_TYPES[k].src;
    if (ndim < 1 || ndim > 8) {
        rc = unic_errf(err, errlen, "%s: IDX header has %d dimensions (supported: 1 to 8)", path,
                       ndim);
        goto done;
    }
    got = gzread(g, hdr + 4, (unsigned)(4 * ndim));
    if (got < 4 * ndim) {
        rc = unic_errf(err, errlen,
                       "%s: truncated: the header announces %d dimensions but the file "
                       "ends inside them",
                       path, ndim);
        goto done;
    }
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        const unsigned char *d = hdr + 4 + 4 * i;
        out->shape[i] =
            (int64_t)((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3]);
    }
    char sbuf[160];
    shape_str(out->shape, ndim, sbuf, sizeof sbuf);
    uint64_t numel, nbytes, srcbytes;
    if (shape_bytes(out->shape, ndim, DTYPES[out->dtype].size, &numel, &nbytes) != 0 ||
        shape_bytes(out->shape, ndim, src, NULL, &srcbytes) != 0) {
        rc = unic_errf(err, errlen, "%s: shape %s is too large", path, sbuf);
        goto done;
    }
    /* A gzip stream does not say how much it holds, so the buffer grows as
     * data arrives: a corrupt header cannot make us allocate terabytes. */
    size_t cap = srcbytes < ((uint64_t)1 << 26) ? (size_t)srcbytes : (size_t)1 << 26;
    raw = unic_xmalloc(cap);
    uint64_t have = 0;
    while (have < srcbytes) {
        if (have == cap) {
            size_t bigger = srcbytes - cap < cap ? (size_t)srcbytes : 2 * cap;
            unsigned char *grown = unic_xmalloc(bigger);
            memcpy(grown, raw, (size_t)have);
            unic_xfree(raw);
            raw = grown;
            cap = bigger;
        }
        size_t want = cap - (size_t)have;
        if (want > ((size_t)1 << 30)) want = (size_t)1 << 30;
        int r = gzread(g, raw + have, (unsigned)want);
        if (r < 0) {
            rc = unic_errf(err, errlen, "%s: cannot read: %s", path, gzerror(g, &zerr));
            goto done;
        }
        if (r == 0) break;
        have += (uint64_t)r;
    }
    if (have < srcbytes) {
        gzerror(g, &zerr);
        rc = unic_errf(err, errlen,
                       "%s: truncated: header says %s %s (%" PRIu64 " items) but only %" PRIu64
                       " items found%s",
                       path, sbuf, IDX_TYPES[k].word, numel, have / src,
                       zerr == Z_BUF_ERROR ? " (the gzip stream ends early)" : "");
        goto done;
    }
    /* IDX is big-endian. */
    if (type == 0x0B) {
        int32_t *dst = unic_xmalloc((size_t)nbytes);
        for (uint64_t i = 0; i < numel; i++)
            dst[i] = (int16_t)(uint16_t)((unsigned)raw[2 * i] << 8 | raw[2 * i + 1]);
        unic_xfree(raw);
        raw = (unsigned char *)dst;
    } else if (src == 4) {
        for (uint64_t i = 0; i < numel; i++) {
            uint32_t v = __builtin_bswap32(ld_u32(raw + 4 * i));
            memcpy(raw + 4 * i, &v, 4);
        }
    } else if (src == 8) {
        for (uint64_t i = 0; i < numel; i++) {
            uint64_t v = __builtin_bswap64(ld_u64(raw + 8 * i));
            memcpy(raw + 8 * i, &v, 8);
        }
    }
    out->data = raw;
    out->nbytes = (size_t)nbytes;
    raw = NULL;
    out->name = unic_xstrdup(path);
done:
    unic_xfree(raw);
    gzclose(g);
    if (rc) unic_array_free(out);
    return rc;
}

/* ---- labels ----------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* "-ubyte" or ".idx..." in the file name, with or without a trailing ".gz". */
static int is_idx_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (ends_with(base, ".gz")) n -= 3;
    char *name = unic_xmalloc(n + 1);
    memcpy(name, base, n);
    name[n] = '\0';
    int yes = ends_with(name, "-ubyte") || strstr(name, ".idx") != NULL;
    unic_xfree(name);
    return yes;
}

static int labels_from_array(const char *path, const unic_array *a, int32_t **labels, int64_t *n,
                             char *err, size_t errlen)
{
    char sbuf[160];
    if (!(a->ndim == 1 || (a->ndim == 2 && a->shape[1] == 1)))
        return unic_errf(err, errlen, "%s: labels must be 1-D (or N x 1), got shape %s", path,
                         shape_str(a->shape, a->ndim, sbuf, sizeof sbuf));
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
    if (ends_with(path, ".safetensors")) {
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
    if (ends_with(path, ".npy") || is_idx_name(path)) {
        unic_array a;
        int rc = ends_with(path, ".npy") ? unic_npy_load(path, &a, err, errlen)
                                         : unic_idx_load(path, &a, err, errlen);
        if (rc != 0) return -1;
        rc = labels_from_array(path, &a, labels, n, err, errlen);
        unic_array_free(&a);
        return rc;
    }
    return labels_from_text(path, labels, n, err, errlen);
}
