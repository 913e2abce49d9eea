/* Arrays and their element types: the in-memory form every format reader
 * produces, and the conversions to the float32 / int32 the core works in. */
#include "data/formats/array.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "data/formats/bytes.h"

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

int unic_dtype_parse(const char *name)
{
    for (int i = 0; i < NUM_DTYPES; i++)
        if (strcmp(name, DTYPES[i].st) == 0) return i;
    return -1;
}

const char *unic_dtype_word(unic_dtype dt) { return dtype_valid(dt) ? DTYPES[dt].word : "?"; }

int64_t unic_array_numel(const unic_array *a)
{
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

/* numel * elem_size for a shape from a file; fails instead of wrapping so a
 * hostile header cannot make us under-allocate. */
int unic_shape_bytes(const int64_t *shape, int ndim, size_t elem, uint64_t *numel,
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
const char *unic_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap)
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


static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return unic_bits_f32(sign);
        /* Subnormal half: every one is a normal float, so renormalise. */
        int e = -14;
        while (!(man & 0x400)) {
            man <<= 1;
            e--;
        }
        man &= 0x3ff;
        return unic_bits_f32(sign | (uint32_t)(e + 127) << 23 | man << 13);
    }
    if (exp == 31)
        return unic_bits_f32(sign | 0x7f800000u | man << 13); /* inf, or nan keeping payload */
    return unic_bits_f32(sign | (exp - 15 + 127) << 23 | man << 13);
}

/* bfloat16 is the top half of a float32, subnormals and nan included. */
static float bf16_to_f32(uint16_t h) { return unic_bits_f32((uint32_t)h << 16); }

int unic_array_check(const unic_array *a, const char *who, int64_t *numel, char *err,
                       size_t errlen)
{
    if (!dtype_valid(a->dtype))
        return unic_errf(err, errlen, "%s: unknown dtype code %d", who, (int)a->dtype);
    uint64_t n, bytes;
    if (a->ndim < 0 || a->ndim > 8 ||
        unic_shape_bytes(a->shape, a->ndim, unic_dtype_size(a->dtype), &n, &bytes) != 0)
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
    if (unic_array_check(a, who, &n, err, errlen) != 0) return -1;
    const unsigned char *p = a->data;
    switch (a->dtype) {
    case UNIC_DT_F32:
        if (n) memcpy(dst, p, (size_t)n * 4);
        break;
    case UNIC_DT_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(unic_ld_u16(p + 2 * i));
        break;
    case UNIC_DT_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(unic_ld_u16(p + 2 * i));
        break;
    case UNIC_DT_F64:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)unic_bits_f64(unic_ld_u64(p + 8 * i));
        break;
    case UNIC_DT_U8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i];
        break;
    case UNIC_DT_I8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int8_t)p[i];
        break;
    case UNIC_DT_I32:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int32_t)unic_ld_u32(p + 4 * i);
        break;
    case UNIC_DT_I64:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int64_t)unic_ld_u64(p + 8 * i);
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
    if (unic_array_check(a, who, &n, err, errlen) != 0) return -1;
    const unsigned char *p = a->data;
    for (int64_t i = 0; i < n; i++) {
        double v;
        switch (a->dtype) {
        case UNIC_DT_U8: dst[i] = p[i]; continue;
        case UNIC_DT_I8: dst[i] = (int8_t)p[i]; continue;
        case UNIC_DT_BOOL: dst[i] = p[i] != 0; continue;
        case UNIC_DT_I32: dst[i] = (int32_t)unic_ld_u32(p + 4 * i); continue;
        case UNIC_DT_I64: {
            int64_t x = (int64_t)unic_ld_u64(p + 8 * i);
            if (x < INT32_MIN || x > INT32_MAX)
                return unic_errf(err, errlen,
                                 "%s: element %" PRId64 " is %" PRId64 ", outside the int32 range",
                                 who, i, x);
            dst[i] = (int32_t)x;
            continue;
        }
        case UNIC_DT_F32: v = unic_bits_f32(unic_ld_u32(p + 4 * i)); break;
        case UNIC_DT_F16: v = f16_to_f32(unic_ld_u16(p + 2 * i)); break;
        case UNIC_DT_BF16: v = bf16_to_f32(unic_ld_u16(p + 2 * i)); break;
        case UNIC_DT_F64: v = unic_bits_f64(unic_ld_u64(p + 8 * i)); break;
        default: return unic_errf(err, errlen, "%s: unknown dtype", who);
        }
        if (float_to_i32(v, i, who, &dst[i], err, errlen) != 0) return -1;
    }
    return 0;
}
