#include "report/png.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/util.h"

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* length, type, data, CRC over type and data */
static unsigned char *chunk(unsigned char *o, const char *type, const unsigned char *data,
                            size_t n)
{
    put32(o, (uint32_t)n);
    memcpy(o + 4, type, 4);
    if (n) memcpy(o + 8, data, n);
    uLong crc = crc32(0L, o + 4, (uInt)(n + 4));
    put32(o + 8 + n, (uint32_t)crc);
    return o + 12 + n;
}

unsigned char *unic_png_encode_rgb(const uint8_t *rgb, int w, int h, size_t *size)
{
    if (w < 1 || h < 1 || w > 65535 || h > 65535) return NULL;
    size_t row = (size_t)w * 3 + 1, raw_n = row * (size_t)h;
    unsigned char *raw = malloc(raw_n);
    if (!raw) unic_die("out of memory encoding a %dx%d PNG", w, h);
    for (int y = 0; y < h; y++) { /* filter type 0 (none) per row */
        raw[(size_t)y * row] = 0;
        memcpy(raw + (size_t)y * row + 1, rgb + (size_t)y * (size_t)w * 3, (size_t)w * 3);
    }
    uLongf z_n = compressBound((uLong)raw_n);
    unsigned char *z = malloc(z_n);
    if (!z || compress2(z, &z_n, raw, (uLong)raw_n, 9) != Z_OK)
        unic_die("zlib failed to compress a %dx%d PNG", w, h);
    free(raw);
    unsigned char ihdr[13];
    put32(ihdr, (uint32_t)w);
    put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering, type per row */
    ihdr[12] = 0; /* no interlace */
    size_t total = 8 + (12 + 13) + (12 + z_n) + 12;
    unsigned char *out = malloc(total), *o = out;
    if (!out) unic_die("out of memory encoding a %dx%d PNG", w, h);
    memcpy(o, "\x89PNG\r\n\x1a\n", 8);
    o = chunk(o + 8, "IHDR", ihdr, 13);
    o = chunk(o, "IDAT", z, z_n);
    o = chunk(o, "IEND", NULL, 0);
    free(z);
    *size = (size_t)(o - out);
    return out;
}
