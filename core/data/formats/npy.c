/* .npy: numpy's array files, versions 1.0-3.0. */
#include "data/formats/npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "data/formats/bytes.h"

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
        if (order == '>' && unic_dtype_size(NPY_TYPES[i].dt) > 1)
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
        hlen = unic_ld_u16(pre + 8);
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            rc = unic_errf(err, errlen, "%s: truncated: the file ends inside the preamble", path);
            goto done;
        }
        hlen = unic_ld_u32(pre + 8);
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
    unic_shape_str(out->shape, out->ndim, sbuf, sizeof sbuf);
    if (unic_shape_bytes(out->shape, out->ndim, unic_dtype_size(out->dtype), &numel, &nbytes) != 0) {
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
                       path, sbuf, unic_dtype_word(out->dtype), nbytes, got);
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
    if (unic_array_check(a, path, &n, err, errlen) != 0) return -1;
    if (!descr[a->dtype])
        return unic_errf(err, errlen,
                         "%s: %s has no .npy dtype; convert to float32 first (or use safetensors)",
                         path, unic_dtype_word(a->dtype));
    uint64_t nbytes = 0;
    unic_shape_bytes(a->shape, a->ndim, unic_dtype_size(a->dtype), NULL, &nbytes);

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
