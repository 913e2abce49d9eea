/* IDX: the MNIST family's files, plain or gzipped. */
#include "data/formats/idx.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/limits.h"
#include "base/util.h"
#include "data/formats/bytes.h"

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
    if (unic_check_input_file(path, "IDX file", 0, err, errlen) != 0) return -1;
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
    unic_shape_str(out->shape, ndim, sbuf, sizeof sbuf);
    uint64_t numel, nbytes, srcbytes;
    if (unic_shape_bytes(out->shape, ndim, unic_dtype_size(out->dtype), &numel, &nbytes) != 0 ||
        unic_shape_bytes(out->shape, ndim, src, NULL, &srcbytes) != 0) {
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
            uint32_t v = __builtin_bswap32(unic_ld_u32(raw + 4 * i));
            memcpy(raw + 4 * i, &v, 4);
        }
    } else if (src == 8) {
        for (uint64_t i = 0; i < numel; i++) {
            uint64_t v = __builtin_bswap64(unic_ld_u64(raw + 8 * i));
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


