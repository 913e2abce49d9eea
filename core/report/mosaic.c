#include "report/mosaic.h"

#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "base/util.h"

void unic_mosaic_init(unic_mosaic *m, int count, int cols, int side, int channels)
{
    if (count < 1) count = 1;
    if (cols < 1) cols = 1;
    m->cols = count < cols ? count : cols;
    m->rows = (count + m->cols - 1) / m->cols;
    m->side = side;
    m->channels = channels == 1 ? 1 : 3;
    m->w = m->cols * side + (m->cols - 1) * UNIC_MOSAIC_GAP;
    m->h = m->rows * side + (m->rows - 1) * UNIC_MOSAIC_GAP;
    size_t n = (size_t)m->w * (size_t)m->h * (size_t)m->channels;
    m->px = unic_xmalloc(n);
    memset(m->px, 255, n);
}

void unic_mosaic_free(unic_mosaic *m)
{
    unic_xfree(m->px);
    memset(m, 0, sizeof *m);
}

static void tile_origin(const unic_mosaic *m, int t, int *x, int *y)
{
    *x = (t % m->cols) * (m->side + UNIC_MOSAIC_GAP);
    *y = (t / m->cols) * (m->side + UNIC_MOSAIC_GAP);
}

int unic_mosaic_put(unic_mosaic *m, int t, const unic_image *im)
{
    if (t < 0 || t >= m->cols * m->rows || im->w < 1 || im->h < 1) return -1;
    unic_image sized = {0}, square = {0};
    const unic_image *src = im;
    int shorter = im->w < im->h ? im->w : im->h;
    if (shorter != m->side) {
        if (unic_resize_short(im, m->side, UNIC_BILINEAR, &sized) != 0) return -1;
        src = &sized;
    }
    if (src->w != m->side || src->h != m->side) {
        if (unic_center_crop(src, m->side, m->side, &square) != 0) {
            unic_image_free(&sized);
            return -1;
        }
        src = &square;
    }
    int x0, y0;
    tile_origin(m, t, &x0, &y0);
    for (int y = 0; y < m->side; y++) {
        uint8_t *dst = m->px + ((size_t)(y0 + y) * (size_t)m->w + (size_t)x0) * (size_t)m->channels;
        const uint8_t *s = src->px + (size_t)y * (size_t)src->w * (size_t)src->c;
        for (int x = 0; x < m->side; x++, s += src->c) {
            if (m->channels == src->c)
                memcpy(dst + (size_t)x * (size_t)m->channels, s, (size_t)m->channels);
            else if (m->channels == 3) /* gray into RGB */
                memset(dst + (size_t)x * 3, s[0], 3);
            else /* RGB into gray: ITU-R 601-2 luma, as PIL's convert("L") */
                dst[x] = (uint8_t)((s[0] * 299 + s[1] * 587 + s[2] * 114) / 1000);
        }
    }
    unic_image_free(&sized);
    unic_image_free(&square);
    return 0;
}

void unic_mosaic_frame(unic_mosaic *m, int t, uint8_t r, uint8_t g, uint8_t b)
{
    if (t < 0 || t >= m->cols * m->rows) return;
    int x0, y0, k = m->side >= 40 ? 3 : 2;
    tile_origin(m, t, &x0, &y0);
    uint8_t rgb[3] = {r, g, b}, luma = (uint8_t)((r * 299 + g * 587 + b * 114) / 1000);
    for (int y = 0; y < m->side; y++)
        for (int x = 0; x < m->side; x++) {
            if (x >= k && x < m->side - k && y >= k && y < m->side - k) continue;
            uint8_t *p = m->px + ((size_t)(y0 + y) * (size_t)m->w + (size_t)(x0 + x)) *
                                     (size_t)m->channels;
            if (m->channels == 3) memcpy(p, rgb, 3);
            else *p = luma;
        }
}

unsigned char *unic_mosaic_jpeg(const unic_mosaic *m, int quality, size_t *size, char *err,
                                size_t errlen)
{
    tjhandle tj = tjInitCompress();
    if (!tj) {
        unic_errf(err, errlen, "TurboJPEG: cannot start a compressor: %s", tjGetErrorStr());
        return NULL;
    }
    unsigned char *jpeg = NULL, *out = NULL;
    unsigned long n = 0;
    int gray = m->channels == 1;
    if (tjCompress2(tj, m->px, m->w, 0, m->h, gray ? TJPF_GRAY : TJPF_RGB, &jpeg, &n,
                    gray ? TJSAMP_GRAY : TJSAMP_420, quality, TJFLAG_ACCURATEDCT) != 0) {
        unic_errf(err, errlen, "TurboJPEG: cannot encode a %dx%d mosaic: %s", m->w, m->h,
                  tjGetErrorStr2(tj));
    } else {
        out = malloc(n);
        if (!out) unic_die("out of memory copying a %lu-byte JPEG", n);
        memcpy(out, jpeg, n);
        *size = n;
    }
    tjFree(jpeg);
    tjDestroy(tj);
    return out;
}
