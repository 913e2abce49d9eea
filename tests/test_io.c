/* File readers and writers: round trips, every validation error on
 * hand-broken files, half-float conversions, IDX (gzipped and plain), real
 * Fashion-MNIST files and fixtures written by numpy/torch (make_io_fixtures.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "helpers.h"
#include "data/io.h"
#include "base/util.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

static char err[1024];

/* The message names the file and says what is wrong. */
#define expect_err(path, word)                                                                     \
    do {                                                                                           \
        cr_assert(strstr(err, (path)), "message does not name %s: %s", (path), err);               \
        cr_assert(strstr(err, (word)), "message lacks '%s': %s", (word), err);                     \
    } while (0)

static uint32_t f32_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

/* A safetensors file from a literal header and data section. */
static void write_st(const char *path, const char *json, const void *data, size_t len)
{
    size_t hlen = strlen(json);
    unsigned char *buf = malloc(8 + hlen + len + 1);
    uint64_t h = hlen;
    memcpy(buf, &h, 8);
    memcpy(buf + 8, json, hlen);
    if (len) memcpy(buf + 8 + hlen, data, len);
    test_write_file(path, buf, 8 + hlen + len);
    free(buf);
}

/* A .npy file from a literal header dict (padded as numpy does). */
static void write_npy(const char *path, int major, const char *dict, const void *data, size_t len)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
    unsigned char *buf = malloc(total + len);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        uint16_t h = (uint16_t)hlen;
        memcpy(buf + 8, &h, 2);
    } else {
        uint32_t h = (uint32_t)hlen;
        memcpy(buf + 8, &h, 4);
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hlen - dl - 1);
    buf[total - 1] = '\n';
    if (len) memcpy(buf + total, data, len);
    test_write_file(path, buf, total + len);
    free(buf);
}

/* An IDX file through zlib: mode "wb" gzips, "wbT" writes it plain. */
static void write_idx(const char *path, const char *mode, int type, int ndim, const uint32_t *dims,
                      const void *data, size_t len)
{
    gzFile g = gzopen(path, mode);
    cr_assert(g, "gzopen %s", path);
    unsigned char hdr[4] = {0, 0, (unsigned char)type, (unsigned char)ndim};
    gzwrite(g, hdr, 4);
    for (int i = 0; i < ndim; i++) {
        unsigned char d[4] = {dims[i] >> 24, dims[i] >> 16, dims[i] >> 8, dims[i]};
        gzwrite(g, d, 4);
    }
    if (len) gzwrite(g, data, (unsigned)len);
    gzclose(g);
}

static unic_array arr(const char *name, unic_dtype dt, int ndim, const int64_t *shape, void *data)
{
    unic_array a = {.name = (char *)name, .dtype = dt, .ndim = ndim, .data = data};
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    a.nbytes = (size_t)unic_array_numel(&a) * unic_dtype_size(dt);
    return a;
}

/* ---- dtypes and conversions ------------------------------------------------ */

Test(io, dtype_names_and_sizes)
{
    const char *names[] = {"F32", "F16", "BF16", "F64", "U8", "I8", "I32", "I64", "BOOL"};
    const size_t sizes[] = {4, 2, 2, 8, 1, 1, 4, 8, 1};
    for (int i = 0; i <= UNIC_DT_BOOL; i++) {
        cr_assert_str_eq(unic_dtype_name((unic_dtype)i), names[i]);
        cr_assert_eq(unic_dtype_size((unic_dtype)i), sizes[i]);
    }
}

Test(io, f16_known_values)
{
    const uint16_t bits[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x3555,
                             0x8000, 0x7C00, 0xFC00, 0x7E00, 0x0000, 0x8001};
    const float want[] = {1.0f,  -2.0f,    65504.0f,  0x1p-24f, 0x1.ff8p-15f, 0x1p-14f, 0x1.554p-2f,
                          -0.0f, INFINITY, -INFINITY, NAN,      0.0f,         -0x1p-24f};
    int n = sizeof bits / sizeof bits[0];
    float got[16];
    unic_array a = arr("h", UNIC_DT_F16, 1, (int64_t[]){n}, (void *)bits);
    cr_assert_eq(unic_array_to_f32(&a, got, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < n; i++) {
        if (isnan(want[i]))
            cr_assert(isnan(got[i]), "0x%04x -> %g, want nan", bits[i], got[i]);
        else
            cr_assert_eq(f32_bits(got[i]), f32_bits(want[i]), "0x%04x -> %a, want %a", bits[i],
                         got[i], want[i]);
    }
}

Test(io, bf16_known_values)
{
    const uint16_t bits[] = {0x3F80, 0xC049, 0x0001, 0x007F, 0x8000,
                             0x7F80, 0xFF80, 0x7FC0, 0x7F7F};
    const float want[] = {1.0f,     -3.140625f, 0x1p-133f, 0x1.fcp-127f, -0.0f,
                          INFINITY, -INFINITY,  NAN,       0x1.fep+127f};
    int n = sizeof bits / sizeof bits[0];
    float got[16];
    unic_array a = arr("b", UNIC_DT_BF16, 1, (int64_t[]){n}, (void *)bits);
    cr_assert_eq(unic_array_to_f32(&a, got, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < n; i++) {
        if (isnan(want[i]))
            cr_assert(isnan(got[i]));
        else
            cr_assert_eq(f32_bits(got[i]), f32_bits(want[i]), "0x%04x -> %a, want %a", bits[i],
                         got[i], want[i]);
    }
}

Test(io, to_f32_every_dtype)
{
    uint8_t u8[] = {0, 7, 255};
    int8_t i8[] = {-128, 0, 127};
    int32_t i32[] = {-5, 0, 2000000};
    int64_t i64[] = {-3, 1, 1 << 20};
    double f64[] = {0.5, -1e300, 3.25};
    uint8_t b[] = {0, 1, 9};
    float got[3];
    struct {
        unic_dtype dt;
        void *data;
        float want[3];
    } cases[] = {
        {UNIC_DT_U8, u8, {0, 7, 255}},
        {UNIC_DT_I8, i8, {-128, 0, 127}},
        {UNIC_DT_I32, i32, {-5, 0, 2e6f}},
        {UNIC_DT_I64, i64, {-3, 1, 1048576}},
        {UNIC_DT_F64, f64, {0.5f, -INFINITY, 3.25f}},
        {UNIC_DT_BOOL, b, {0, 1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unic_array a = arr("x", cases[c].dt, 1, (int64_t[]){3}, cases[c].data);
        cr_assert_eq(unic_array_to_f32(&a, got, err, sizeof err), 0, "%s", err);
        for (int i = 0; i < 3; i++)
            cr_assert_eq(got[i], cases[c].want[i], "%s[%d]: %g", unic_dtype_name(cases[c].dt), i,
                         got[i]);
    }
}

Test(io, to_i32_integral_and_refusals)
{
    int32_t got[4];
    float f[] = {3.0f, -2.0f, 0.0f, 1e9f};
    unic_array a = arr("f", UNIC_DT_F32, 1, (int64_t[]){4}, f);
    cr_assert_eq(unic_array_to_i32(&a, got, err, sizeof err), 0, "%s", err);
    cr_assert(got[0] == 3 && got[1] == -2 && got[2] == 0 && got[3] == 1000000000);

    uint16_t h[] = {0x4200, 0xBC00}; /* 3, -1 */
    a = arr("h", UNIC_DT_F16, 1, (int64_t[]){2}, h);
    cr_assert_eq(unic_array_to_i32(&a, got, err, sizeof err), 0, "%s", err);
    cr_assert(got[0] == 3 && got[1] == -1);

    f[2] = 2.5f;
    a = arr("scores", UNIC_DT_F32, 1, (int64_t[]){4}, f);
    cr_assert_eq(unic_array_to_i32(&a, got, err, sizeof err), -1);
    expect_err("scores", "element 2 is 2.5, not an integer");

    float fn[] = {NAN};
    a = arr("n", UNIC_DT_F32, 1, (int64_t[]){1}, fn);
    cr_assert_eq(unic_array_to_i32(&a, got, err, sizeof err), -1);
    expect_err("n", "not an integer");

    double big[] = {1, 1e10};
    a = arr("d", UNIC_DT_F64, 1, (int64_t[]){2}, big);
    cr_assert_eq(unic_array_to_i32(&a, got, err, sizeof err), -1);
    expect_err("d", "outside the int32 range");

    int64_t l[] = {1, 2, -3000000000LL};
    a = arr("ids", UNIC_DT_I64, 1, (int64_t[]){3}, l);
    cr_assert_eq(unic_array_to_i32(&a, got, err, sizeof err), -1);
    expect_err("ids", "element 2 is -3000000000, outside the int32 range");
}

/* ---- safetensors ------------------------------------------------------------- */

Test(io, safetensors_roundtrip)
{
    char *dir = test_tmpdir("io");
    char *path = test_path(dir, "model.safetensors");
    float f32[12];
    for (int i = 0; i < 12; i++) f32[i] = (float)i * 0.25f - 1.0f;
    int64_t i64[5] = {-1, 0, 1, 1LL << 40, 7};
    uint8_t u8[8] = {1, 2, 3, 4, 5, 6, 7, 255};
    uint16_t f16[3] = {0x3C00, 0x0001, 0xFC00};
    uint16_t bf16[2] = {0x3F80, 0xC049};
    uint8_t b[4] = {1, 0, 0, 1};
    double scalar = 2.718281828;
    int32_t i32[2] = {-7, 1 << 30};
    unic_array ts[] = {
        arr("weight", UNIC_DT_F32, 2, (int64_t[]){3, 4}, f32),
        arr("ids", UNIC_DT_I64, 1, (int64_t[]){5}, i64),
        arr("img", UNIC_DT_U8, 3, (int64_t[]){2, 2, 2}, u8),
        arr("half", UNIC_DT_F16, 1, (int64_t[]){3}, f16),
        arr("brain", UNIC_DT_BF16, 1, (int64_t[]){2}, bf16),
        arr("mask", UNIC_DT_BOOL, 1, (int64_t[]){4}, b),
        arr("temperature", UNIC_DT_F64, 0, NULL, &scalar),
        arr("nothing", UNIC_DT_I8, 1, (int64_t[]){0}, NULL),
        arr("with \"quotes\"", UNIC_DT_I32, 1, (int64_t[]){2}, i32),
    };
    int n = sizeof ts / sizeof ts[0];
    const char *meta[] = {"format", "pt", "note", "line\nbreak \"quoted\"", NULL};
    cr_assert_eq(unic_safetensors_write(path, ts, n, meta, err, sizeof err), 0, "%s", err);
    cr_assert_eq(test_files_ending(dir, ".tmp"), 0, "temp file left behind");

    /* Header padded with spaces to a multiple of 8, as the reference does. */
    size_t size;
    char *raw = test_read_file(path, &size);
    uint64_t hlen;
    memcpy(&hlen, raw, 8);
    cr_assert_eq(hlen % 8, 0);
    cr_assert_eq(raw[8], '{');
    size_t data_bytes = 48 + 40 + 8 + 6 + 4 + 4 + 8 + 0 + 8;
    cr_assert_eq(size, 8 + hlen + data_bytes);
    cr_assert(strstr(raw + 8, "\"data_offsets\":[0,48]"), "%.*s", (int)hlen, raw + 8);
    free(raw);

    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st->count, n);
    for (int i = 0; i < n; i++) {
        const unic_array *t = &st->tensors[i];
        cr_assert_str_eq(t->name, ts[i].name, "order is kept");
        cr_assert_eq(unic_safetensors_find(st, ts[i].name), t);
        cr_assert_eq(t->dtype, ts[i].dtype);
        cr_assert_eq(t->ndim, ts[i].ndim);
        for (int d = 0; d < t->ndim; d++) cr_assert_eq(t->shape[d], ts[i].shape[d]);
        cr_assert_eq(t->nbytes, ts[i].nbytes);
        if (t->nbytes) cr_assert_eq(memcmp(t->data, ts[i].data, t->nbytes), 0, "%s", t->name);
    }
    cr_assert_null(unic_safetensors_find(st, "missing"));
    cr_assert_str_eq(unic_safetensors_meta(st, "format"), "pt");
    cr_assert_str_eq(unic_safetensors_meta(st, "note"), "line\nbreak \"quoted\"");
    cr_assert_null(unic_safetensors_meta(st, "absent"));
    cr_assert(st->metadata_json && strstr(st->metadata_json, "\"format\":\"pt\""), "%s",
              st->metadata_json);
    unic_safetensors_close(st);
    free(path);
    free(dir);
}

Test(io, safetensors_without_metadata_or_tensors)
{
    char *dir = test_tmpdir("io");
    char *path = test_path(dir, "empty.safetensors");
    cr_assert_eq(unic_safetensors_write(path, NULL, 0, NULL, err, sizeof err), 0, "%s", err);
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st->count, 0);
    cr_assert_null(st->metadata_json);
    cr_assert_null(unic_safetensors_meta(st, "format"));
    unic_safetensors_close(st);
    free(path);
    free(dir);
}

Test(io, safetensors_writer_refuses_bad_input)
{
    char *dir = test_tmpdir("io");
    char *path = test_path(dir, "bad.safetensors");
    float x[4] = {0};
    unic_array ts[2] = {arr("a", UNIC_DT_F32, 1, (int64_t[]){4}, x),
                        arr("a", UNIC_DT_F32, 1, (int64_t[]){2}, x)};
    cr_assert_eq(unic_safetensors_write(path, ts, 2, NULL, err, sizeof err), -1);
    expect_err(path, "duplicate tensor name 'a'");
    ts[1].name = "b";
    ts[1].nbytes = 12;
    cr_assert_eq(unic_safetensors_write(path, ts, 2, NULL, err, sizeof err), -1);
    expect_err(path, "'b' holds 12 bytes but shape 2 F32 needs 8");
    const char *meta[] = {"k", NULL};
    cr_assert_eq(unic_safetensors_write(path, ts, 1, meta, err, sizeof err), -1);
    expect_err(path, "metadata key 'k' has no value");
    cr_assert_neq(access(path, F_OK), 0, "nothing is written on failure");
    free(path);
    free(dir);
}

Test(io, safetensors_reader_errors)
{
    static const struct {
        const char *file, *json;
        size_t data;
        const char *word;
    } cases[] = {
        {"badjson.safetensors", "{\"t\": {\"dtype\": ", 0, "not valid JSON"},
        {"junk.safetensors", "{}  xx", 0, "not valid JSON"},
        {"array.safetensors", "[1, 2]", 0, "not a JSON object"},
        {"nodtype.safetensors", "{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         "tensor 't' has no \"dtype\""},
        {"noshape.safetensors", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8,
         "tensor 't' has no \"shape\""},
        {"nooffsets.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
         "tensor 't' has no \"data_offsets\""},
        {"dtype.safetensors",
         "{\"t\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 8,
         "'t' has unknown or unsupported dtype 'F8_E4M3'"},
        {"order.safetensors", "{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,4]}}", 8,
         "'t': data_offsets [8, 4] are out of order"},
        {"beyond.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
         8, "'t': data_offsets [0, 16] go beyond the data section (8 bytes)"},
        {"size.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
         "'t': data_offsets [0, 8] span 8 bytes but shape 3 F32 needs 12 bytes"},
        {"dup.safetensors",
         "{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
         "\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
         8, "duplicate tensor name 't'"},
        {"overlap.safetensors",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
         8, "tensors 'a' and 'b' overlap"},
        {"negshape.safetensors", "{\"t\":{\"dtype\":\"U8\",\"shape\":[-4],\"data_offsets\":[0,4]}}",
         8, "'t': shape entry 0 is not a non-negative integer"},
        {"meta.safetensors", "{\"__metadata__\":{\"epochs\":3}}", 0,
         "value for 'epochs' is not a string"},
    };
    char *dir = test_tmpdir("io");
    unsigned char zeros[16] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = test_path(dir, cases[i].file);
        write_st(path, cases[i].json, zeros, cases[i].data);
        unic_safetensors *st = (void *)1;
        err[0] = '\0';
        cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), -1, "%s opened",
                     cases[i].file);
        cr_assert_null(st);
        expect_err(path, cases[i].word);
        free(path);
    }

    char *path = test_path(dir, "short.safetensors");
    test_write_file(path, "\x10\0\0\0\0", 5);
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), -1);
    expect_err(path, "5 bytes is shorter than the 8-byte header length");
    free(path);

    path = test_path(dir, "long.safetensors");
    write_st(path, "{}", NULL, 0);
    FILE *f = fopen(path, "r+b");
    fputc(200, f); /* header length 200 in a 10-byte file */
    fclose(f);
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), -1);
    expect_err(path, "header length 200 goes beyond the end of the file");
    free(path);

    path = test_path(dir, "absent.safetensors");
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), -1);
    expect_err(path, "cannot open");
    free(path);
    free(dir);
}

/* ---- .npy --------------------------------------------------------------------- */

Test(io, npy_roundtrip_every_dtype)
{
    char *dir = test_tmpdir("io");
    float f32[6] = {1.5f, -2, 3, 4, 5, 6e-30f};
    double f64[3] = {1e300, -0.0, 3.5};
    uint16_t f16[2] = {0x3C00, 0x7C00};
    uint8_t u8[4] = {0, 1, 128, 255};
    int8_t i8[2] = {-128, 127};
    int32_t i32[3] = {-1, 0, 1};
    int64_t i64[2] = {1LL << 50, -(1LL << 50)};
    uint8_t b[3] = {1, 0, 1};
    unic_array cases[] = {
        arr("f32", UNIC_DT_F32, 2, (int64_t[]){2, 3}, f32),
        arr("f64", UNIC_DT_F64, 1, (int64_t[]){3}, f64),
        arr("f16", UNIC_DT_F16, 2, (int64_t[]){1, 2}, f16),
        arr("u8", UNIC_DT_U8, 3, (int64_t[]){1, 2, 2}, u8),
        arr("i8", UNIC_DT_I8, 1, (int64_t[]){2}, i8),
        arr("i32", UNIC_DT_I32, 1, (int64_t[]){3}, i32),
        arr("i64", UNIC_DT_I64, 1, (int64_t[]){2}, i64),
        arr("b", UNIC_DT_BOOL, 1, (int64_t[]){3}, b),
        arr("scalar", UNIC_DT_F64, 0, NULL, f64),
        arr("empty", UNIC_DT_F32, 2, (int64_t[]){0, 5}, NULL),
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char name[64];
        snprintf(name, sizeof name, "%s.npy", cases[c].name);
        char *path = test_path(dir, name);
        cr_assert_eq(unic_npy_save(path, &cases[c], err, sizeof err), 0, "%s", err);
        size_t size;
        char *raw = test_read_file(path, &size);
        uint16_t hlen;
        memcpy(&hlen, raw + 8, 2);
        cr_assert_eq((10 + hlen) % 64, 0, "numpy aligns the data to 64 bytes");
        cr_assert_eq(raw[10 + hlen - 1], '\n');
        free(raw);

        unic_array a;
        cr_assert_eq(unic_npy_load(path, &a, err, sizeof err), 0, "%s", err);
        cr_assert_str_eq(a.name, path);
        cr_assert_eq(a.dtype, cases[c].dtype, "%s", name);
        cr_assert_eq(a.ndim, cases[c].ndim, "%s", name);
        for (int d = 0; d < a.ndim; d++) cr_assert_eq(a.shape[d], cases[c].shape[d]);
        cr_assert_eq(a.nbytes, cases[c].nbytes);
        if (a.nbytes) cr_assert_eq(memcmp(a.data, cases[c].data, a.nbytes), 0, "%s", name);
        unic_array_free(&a);
        cr_assert_null(a.data);
        free(path);
    }

    /* numpy spells 1-D shapes (n,) and scalars (). */
    char *path = test_path(dir, "i64.npy");
    char *raw = test_read_file(path, NULL);
    cr_assert(strstr(raw + 10, "'descr': '<i8', 'fortran_order': False, 'shape': (2,), }"), "%s",
              raw + 10);
    free(raw);
    free(path);
    path = test_path(dir, "scalar.npy");
    raw = test_read_file(path, NULL);
    cr_assert(strstr(raw + 10, "'shape': (), }"), "%s", raw + 10);
    free(raw);
    free(path);

    path = test_path(dir, "bf16.npy");
    unic_array bf = arr("bf", UNIC_DT_BF16, 1, (int64_t[]){2}, f16);
    cr_assert_eq(unic_npy_save(path, &bf, err, sizeof err), -1);
    expect_err(path, "bfloat16 has no .npy dtype");
    free(path);
    free(dir);
}

Test(io, npy_versions_2_and_3_and_header_variants)
{
    char *dir = test_tmpdir("io");
    int32_t v[6] = {1, 2, 3, 4, 5, 6};
    const struct {
        int major;
        const char *dict;
        int ndim;
        int64_t d0, d1;
    } cases[] = {
        {2, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", 2, 2, 3},
        {3, "{\"shape\": (6,), \"descr\": \"<i4\", \"fortran_order\": False}", 1, 6, 0},
        {1, "{'descr':'<i4','fortran_order':False,'shape':(3L, 2L)}", 2, 3, 2},
        /* Column-major equals row-major when only one axis is longer than 1. */
        {1, "{'descr': '<i4', 'fortran_order': True, 'shape': (6, 1), }", 2, 6, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *path = test_path(dir, "v.npy");
        write_npy(path, cases[c].major, cases[c].dict, v, sizeof v);
        unic_array a;
        cr_assert_eq(unic_npy_load(path, &a, err, sizeof err), 0, "case %zu: %s", c, err);
        cr_assert_eq(a.dtype, UNIC_DT_I32);
        cr_assert_eq(a.ndim, cases[c].ndim);
        cr_assert_eq(a.shape[0], cases[c].d0);
        if (a.ndim > 1) cr_assert_eq(a.shape[1], cases[c].d1);
        cr_assert_eq(memcmp(a.data, v, sizeof v), 0);
        unic_array_free(&a);
        free(path);
    }
    free(dir);
}

Test(io, npy_errors)
{
    static const struct {
        const char *file;
        int major;
        const char *dict;
        size_t data;
        const char *word;
    } cases[] = {
        {"be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8,
         "big-endian data ('>f4') is not supported"},
        {"fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16,
         "fortran_order is True"},
        {"u2.npy", 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }", 4,
         "unsupported dtype '<u2'"},
        {"struct.npy", 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8,
         "structured arrays"},
        {"noshape.npy", 1, "{'descr': '<f4', 'fortran_order': False, }", 8, "no 'shape' key"},
        {"extra.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8,
         "unexpected key 'x'"},
        {"garbage.npy", 1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8,
         "fortran_order must be True or False"},
        {"badshape.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", 8,
         "malformed .npy header"},
        {"version.npy", 4, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8,
         "unsupported .npy format version 4.0"},
        {"trunc.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 4), }", 96,
         "truncated: header says 10x4 float32 (160 bytes) but only 96 bytes follow"},
        {"trunc_v2.npy", 2, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", 0,
         "truncated: header says 5 int64 (40 bytes) but only 0 bytes follow"},
        /* A corrupt shape must fail cleanly, not try to allocate 4 TB. */
        {"huge.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }",
         16, "header says 1000000000x1000 float32 (4000000000000 bytes) but only 16 bytes follow"},
    };
    char *dir = test_tmpdir("io");
    unsigned char zeros[256] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = test_path(dir, cases[i].file);
        write_npy(path, cases[i].major, cases[i].dict, zeros, cases[i].data);
        unic_array a;
        err[0] = '\0';
        cr_assert_eq(unic_npy_load(path, &a, err, sizeof err), -1, "%s loaded", cases[i].file);
        cr_assert_null(a.data);
        expect_err(path, cases[i].word);
        free(path);
    }

    char *path = test_path(dir, "magic.npy");
    test_write_text(path, "not numpy at all");
    unic_array a;
    cr_assert_eq(unic_npy_load(path, &a, err, sizeof err), -1);
    expect_err(path, "not a .npy file (bad magic bytes)");
    free(path);

    path = test_path(dir, "cut_header.npy");
    test_write_file(path, "\x93NUMPY\x01\x00\x76\x00{'descr'", 17);
    cr_assert_eq(unic_npy_load(path, &a, err, sizeof err), -1);
    expect_err(path, "announces a 118-byte header but only 7 bytes follow");
    free(path);

    path = test_path(dir, "absent.npy");
    cr_assert_eq(unic_npy_load(path, &a, err, sizeof err), -1);
    expect_err(path, "cannot open");
    free(path);
    free(dir);
}

/* ---- IDX ------------------------------------------------------------------------ */

Test(io, idx_gzipped_and_plain)
{
    char *dir = test_tmpdir("io");
    const char *modes[] = {"wb", "wbT"};
    for (int m = 0; m < 2; m++) {
        char name[64];
        snprintf(name, sizeof name, "imgs-%d-ubyte%s", m, m ? "" : ".gz");
        char *path = test_path(dir, name);
        uint8_t px[6] = {0, 1, 2, 253, 254, 255};
        write_idx(path, modes[m], 0x08, 2, (uint32_t[]){2, 3}, px, 6);
        unic_array a;
        cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), 0, "%s", err);
        cr_assert_eq(a.dtype, UNIC_DT_U8);
        cr_assert(a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3);
        cr_assert_eq(memcmp(a.data, px, 6), 0);
        unic_array_free(&a);
        free(path);
    }

    /* Wider types are big-endian on disk. */
    char *path = test_path(dir, "wide.idx");
    unsigned char s16[] = {0xFF, 0xFE, 0x01, 0x00, 0x80, 0x00}; /* -2, 256, -32768 */
    write_idx(path, "wb", 0x0B, 1, (uint32_t[]){3}, s16, sizeof s16);
    unic_array a;
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.dtype, UNIC_DT_I32, "int16 widens to int32");
    int32_t *i = a.data;
    cr_assert(i[0] == -2 && i[1] == 256 && i[2] == -32768, "%d %d %d", i[0], i[1], i[2]);
    unic_array_free(&a);

    unsigned char s32[] = {0xFF, 0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x00, 0x00};
    write_idx(path, "wb", 0x0C, 1, (uint32_t[]){2}, s32, sizeof s32);
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert(a.dtype == UNIC_DT_I32 && ((int32_t *)a.data)[0] == -3 &&
              ((int32_t *)a.data)[1] == 65536);
    unic_array_free(&a);

    unsigned char f32[] = {0x3F, 0xC0, 0x00, 0x00, 0xC1, 0x20, 0x00, 0x00}; /* 1.5, -10 */
    write_idx(path, "wb", 0x0D, 2, (uint32_t[]){1, 2}, f32, sizeof f32);
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert(a.dtype == UNIC_DT_F32 && ((float *)a.data)[0] == 1.5f &&
              ((float *)a.data)[1] == -10.0f);
    unic_array_free(&a);

    unsigned char f64[] = {0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18}; /* pi */
    write_idx(path, "wbT", 0x0E, 1, (uint32_t[]){1}, f64, sizeof f64);
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert(a.dtype == UNIC_DT_F64 && ((double *)a.data)[0] == M_PI);
    unic_array_free(&a);

    int8_t s8[] = {-1, 5};
    write_idx(path, "wb", 0x09, 1, (uint32_t[]){2}, s8, 2);
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert(a.dtype == UNIC_DT_I8 && ((int8_t *)a.data)[0] == -1);
    unic_array_free(&a);
    free(path);
    free(dir);
}

Test(io, idx_errors)
{
    char *dir = test_tmpdir("io");
    unic_array a;
    uint8_t four[4] = {1, 2, 3, 4};

    char *path = test_path(dir, "short-labels-idx1-ubyte.gz");
    write_idx(path, "wb", 0x08, 1, (uint32_t[]){10}, four, 4);
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), -1);
    cr_assert_null(a.data);
    expect_err(path, "truncated: header says 10 uint8 (10 items) but only 4 items found");
    free(path);

    path = test_path(dir, "huge-ubyte.gz");
    write_idx(path, "wb", 0x08, 3, (uint32_t[]){65536, 65536, 16}, four, 4);
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), -1);
    expect_err(path, "(68719476736 items) but only 4 items found");
    free(path);

    path = test_path(dir, "short-images-idx3-ubyte");
    write_idx(path, "wbT", 0x0D, 3, (uint32_t[]){2, 2, 2}, four, 4);
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), -1);
    expect_err(path, "header says 2x2x2 float32 (8 items) but only 1 items found");
    free(path);

    /* A gzip stream cut in the middle. */
    path = test_path(dir, "cut-ubyte.gz");
    uint8_t *big = malloc(100000);
    for (int i = 0; i < 100000; i++) big[i] = (uint8_t)(i * 2654435761u >> 24);
    write_idx(path, "wb", 0x08, 1, (uint32_t[]){100000}, big, 100000);
    free(big);
    size_t size;
    char *raw = test_read_file(path, &size);
    test_write_file(path, raw, size / 2);
    free(raw);
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), -1);
    expect_err(path, "truncated: header says 100000 uint8 (100000 items)");
    free(path);

    path = test_path(dir, "magic-ubyte");
    test_write_text(path, "\x01\x02\x08\x01");
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), -1);
    expect_err(path, "not an IDX file");
    free(path);

    path = test_path(dir, "type-ubyte");
    write_idx(path, "wbT", 0x0A, 1, (uint32_t[]){4}, four, 4);
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), -1);
    expect_err(path, "unknown IDX data type 0x0A");
    free(path);

    path = test_path(dir, "dims-ubyte");
    test_write_file(path, "\0\0\x08\x03\0\0\0\x02\0\0", 10);
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), -1);
    expect_err(path, "announces 3 dimensions");
    free(path);

    path = test_path(dir, "absent-ubyte.gz");
    cr_assert_eq(unic_idx_load(path, &a, err, sizeof err), -1);
    expect_err(path, "cannot open");
    free(path);
    free(dir);
}

Test(io, fashion_mnist_t10k)
{
    const char *lpath = FMNIST "/t10k-labels-idx1-ubyte.gz";
    const char *ipath = FMNIST "/t10k-images-idx3-ubyte.gz";
    if (access(lpath, R_OK) != 0 || access(ipath, R_OK) != 0)
        cr_skip_test("Fashion-MNIST not found under " FMNIST " (install Debian's fashion-mnist "
                     "dataset package to run this test)");
    int32_t *labels;
    int64_t n;
    cr_assert_eq(unic_load_labels(lpath, NULL, &labels, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 10000);
    const int32_t first[] = {9, 2, 1, 1, 6};
    for (int i = 0; i < 5; i++) cr_assert_eq(labels[i], first[i], "label %d", i);
    int counts[10] = {0};
    for (int64_t i = 0; i < n; i++) {
        cr_assert(labels[i] >= 0 && labels[i] <= 9, "label %lld = %d", (long long)i, labels[i]);
        counts[labels[i]]++;
    }
    for (int c = 0; c < 10; c++) cr_assert_eq(counts[c], 1000, "the test split is balanced");
    unic_xfree(labels);

    unic_array a;
    cr_assert_eq(unic_idx_load(ipath, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.dtype, UNIC_DT_U8);
    cr_assert(a.ndim == 3 && a.shape[0] == 10000 && a.shape[1] == 28 && a.shape[2] == 28);
    float *x = malloc(10000 * 28 * 28 * sizeof(float));
    cr_assert_eq(unic_array_to_f32(&a, x, err, sizeof err), 0, "%s", err);
    double sum = 0;
    float hi = 0;
    for (int i = 0; i < 10000 * 28 * 28; i++) {
        sum += x[i];
        if (x[i] > hi) hi = x[i];
    }
    double mean = sum / (10000.0 * 28 * 28);
    cr_assert(mean > 60 && mean < 85, "mean pixel %g is not Fashion-MNIST-like", mean);
    cr_assert_eq(hi, 255.0f);
    free(x);
    unic_array_free(&a);
}

/* ---- labels ---------------------------------------------------------------------- */

Test(io, labels_text)
{
    char *dir = test_tmpdir("io");
    char *path = test_path(dir, "labels.txt");
    test_write_text(path, "# class ids\n3\n\n  1  \r\n0 # first sample of class 0\n-2\n\t7\n");
    int32_t *l;
    int64_t n;
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 5);
    cr_assert(l[0] == 3 && l[1] == 1 && l[2] == 0 && l[3] == -2 && l[4] == 7);
    unic_xfree(l);

    test_write_text(path, "1\n2\n\n# ok\nthree\n4\n");
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), -1);
    expect_err(path, "line 5: 'three' is not an integer");
    test_write_text(path, "1\n2.5\n");
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), -1);
    expect_err(path, "line 2: '2.5' is not an integer");
    test_write_text(path, "1\n99999999999\n");
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), -1);
    expect_err(path, "line 2: 99999999999 is outside the int32 range");
    test_write_text(path, "# nothing\n\n");
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), -1);
    expect_err(path, "contains no labels");
    free(path);
    free(dir);
}

Test(io, labels_from_arrays)
{
    char *dir = test_tmpdir("io");
    int32_t *l;
    int64_t n;

    char *path = test_path(dir, "y.npy");
    int64_t col[3] = {4, 5, 6};
    unic_array a = arr("y", UNIC_DT_I64, 2, (int64_t[]){3, 1}, col);
    cr_assert_eq(unic_npy_save(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), 0, "%s", err);
    cr_assert(n == 3 && l[0] == 4 && l[2] == 6);
    unic_xfree(l);

    a = arr("y", UNIC_DT_I64, 2, (int64_t[]){1, 3}, col);
    cr_assert_eq(unic_npy_save(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), -1);
    expect_err(path, "labels must be 1-D (or N x 1), got shape 1x3");

    float frac[2] = {1, 1.5f};
    a = arr("y", UNIC_DT_F32, 1, (int64_t[]){2}, frac);
    cr_assert_eq(unic_npy_save(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), -1);
    expect_err(path, "element 1 is 1.5, not an integer");
    free(path);

    path = test_path(dir, "data.safetensors");
    uint8_t y8[4] = {0, 1, 1, 0};
    int32_t y32[2] = {7, 8};
    float x[4] = {0};
    unic_array ts[] = {arr("x", UNIC_DT_F32, 1, (int64_t[]){4}, x),
                       arr("labels", UNIC_DT_U8, 1, (int64_t[]){4}, y8),
                       arr("coarse", UNIC_DT_I32, 1, (int64_t[]){2}, y32)};
    cr_assert_eq(unic_safetensors_write(path, ts, 3, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), 0, "%s", err);
    cr_assert(n == 4 && l[1] == 1 && l[3] == 0);
    unic_xfree(l);
    cr_assert_eq(unic_load_labels(path, "coarse", &l, &n, err, sizeof err), 0, "%s", err);
    cr_assert(n == 2 && l[0] == 7 && l[1] == 8);
    unic_xfree(l);
    cr_assert_eq(unic_load_labels(path, "fine", &l, &n, err, sizeof err), -1);
    expect_err(path, "no tensor named 'fine' (the file has 'x', 'labels', 'coarse')");
    free(path);

    /* IDX by name: -ubyte, .idx*, and .gz of either. */
    const char *names[] = {"y-labels-idx1-ubyte.gz", "y.idx1", "y.idx.gz", "train-ubyte"};
    for (int i = 0; i < 4; i++) {
        path = test_path(dir, names[i]);
        write_idx(path, i % 2 ? "wbT" : "wb", 0x08, 1, (uint32_t[]){4}, y8, 4);
        cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), 0, "%s: %s", names[i],
                     err);
        cr_assert(n == 4 && l[1] == 1 && l[3] == 0);
        unic_xfree(l);
        free(path);
    }
    free(dir);
}

/* ---- files written by numpy / torch / a hand-made safetensors ------------------------ */

Test(io, reference_fixtures)
{
    char *exp_path = test_fixture("io_expected.txt");
    FILE *f = fopen(exp_path, "r");
    cr_assert(f, "missing %s (run tests/fixtures/make_io_fixtures.py)", exp_path);
    char *line = NULL;
    size_t cap = 0;
    int arrays = 0, metas = 0;
    while (getline(&line, &cap, f) > 0) {
        char *save, *tok = strtok_r(line, " \n", &save);
        if (!tok) continue;
        if (strcmp(tok, "META") == 0) {
            char *key = strtok_r(NULL, " \n", &save), *val = strtok_r(NULL, "\n", &save);
            char *path = test_fixture("io_ref.safetensors");
            unic_safetensors *st;
            cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
            const char *got = unic_safetensors_meta(st, key);
            cr_assert(got && strcmp(got, val) == 0, "meta %s = %s, want %s", key, got, val);
            unic_safetensors_close(st);
            free(path);
            metas++;
            continue;
        }
        char *path = test_fixture(tok);
        const char *tensor = strtok_r(NULL, " ", &save);
        const char *dtype = strtok_r(NULL, " ", &save);
        int ndim = atoi(strtok_r(NULL, " ", &save));
        int64_t shape[8];
        for (int d = 0; d < ndim; d++) shape[d] = atoll(strtok_r(NULL, " ", &save));
        int64_t count = atoll(strtok_r(NULL, " ", &save));
        float *want = malloc((size_t)count * sizeof(float)),
              *got = malloc((size_t)count * sizeof(float));
        for (int64_t i = 0; i < count; i++) want[i] = strtof(strtok_r(NULL, " \n", &save), NULL);

        unic_array owned = {0};
        unic_safetensors *st = NULL;
        const unic_array *a;
        if (strcmp(tensor, "-") == 0) {
            cr_assert_eq(unic_npy_load(path, &owned, err, sizeof err), 0, "%s", err);
            a = &owned;
        } else {
            cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
            a = unic_safetensors_find(st, tensor);
            cr_assert(a, "%s: no tensor %s", path, tensor);
        }
        cr_assert_str_eq(unic_dtype_name(a->dtype), dtype, "%s %s", path, tensor);
        cr_assert_eq(a->ndim, ndim, "%s %s", path, tensor);
        for (int d = 0; d < ndim; d++) cr_assert_eq(a->shape[d], shape[d]);
        cr_assert_eq(unic_array_to_f32(a, got, err, sizeof err), 0, "%s", err);
        for (int64_t i = 0; i < count; i++)
            cr_assert_eq(f32_bits(got[i]), f32_bits(want[i]), "%s %s [%lld]: %a, want %a", path,
                         tensor, (long long)i, got[i], want[i]);
        if (st)
            unic_safetensors_close(st);
        else
            unic_array_free(&owned);
        free(want);
        free(got);
        free(path);
        arrays++;
    }
    free(line);
    fclose(f);
    free(exp_path);
    cr_assert_eq(arrays, 8);
    cr_assert_eq(metas, 2);

    /* The same files as label sources. */
    int32_t *l;
    int64_t n;
    char *path = test_fixture("io_ref.safetensors");
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), 0, "%s", err);
    cr_assert(n == 4 && l[0] == 3 && l[1] == 0 && l[2] == 2 && l[3] == 1);
    unic_xfree(l);
    free(path);
    path = test_fixture("io_labels_i8.npy");
    cr_assert_eq(unic_load_labels(path, NULL, &l, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 12);
    unic_xfree(l);
    free(path);
}
