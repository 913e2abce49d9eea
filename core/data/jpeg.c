/* JPEG decoding through libjpeg-turbo's TurboJPEG API, and the image buffer.
 *
 * The decoder runs with TurboJPEG's defaults (accurate integer IDCT, fancy
 * upsampling), which are libjpeg's defaults too, so a file decodes to the
 * same pixels PIL gives on a libjpeg-turbo build. */
#include "data/image.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "base/limits.h"
#include "base/util.h"

int unic_image_alloc(unic_image *im, int w, int h, int c)
{
    im->w = w;
    im->h = h;
    im->c = c;
    im->px = unic_xmalloc((size_t)w * h * c);
    return 0;
}

void unic_image_free(unic_image *im)
{
    if (!im) return;
    unic_xfree(im->px);
    im->px = NULL;
    im->w = im->h = im->c = 0;
}

/* ---- one decompressor per thread ----------------------------------------- */
/* A tjhandle is not safe to share between threads, and creating one per call
 * costs an allocation of libjpeg's state; the loader's workers each keep
 * theirs, freed by the key's destructor when the thread ends. */
static pthread_key_t tj_key;
static pthread_once_t tj_once = PTHREAD_ONCE_INIT;
static int tj_key_ok;

static void tj_destroy(void *h) { tjDestroy((tjhandle)h); }

static void tj_key_init(void) { tj_key_ok = pthread_key_create(&tj_key, tj_destroy) == 0; }

static tjhandle tj_handle(void)
{
    pthread_once(&tj_once, tj_key_init);
    tjhandle h = tj_key_ok ? pthread_getspecific(tj_key) : NULL;
    if (h) return h;
    h = tjInitDecompress();
    if (h && tj_key_ok && pthread_setspecific(tj_key, h) != 0) {
        tjDestroy(h);
        h = NULL;
    }
    return h;
}

/* ---- libjpeg's memory limit ------------------------------------------------ */
/* Set once by unic_jpeg_memory_limit_init, before any thread exists. */
static int jpegmem_is_default;

/* JPEGMEM in bytes as libjpeg's jinit_memory_mgr reads it ("%ld%c": the
 * number is thousands of bytes, or millions when an M or m follows), but
 * only for text that means what it says: digits, then at most an M. -1 for
 * anything else ("2G" would be 2000 bytes to libjpeg, "lots" no limit). */
static int64_t parse_jpegmem(const char *text)
{
    const char *p = text;
    int64_t v = 0;
    if (!isdigit((unsigned char)*p)) return -1;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (INT64_MAX / 1000000 - 9) / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    int mega = *p == 'M' || *p == 'm';
    if (mega) p++;
    if (*p) return -1;
    return v * (mega ? 1000000 : 1000);
}

int unic_jpeg_memory_limit_init(char *err, size_t errlen)
{
    const char *text = getenv("JPEGMEM");
    if (!text) {
        if (setenv("JPEGMEM", UNIC_DEFAULT_JPEGMEM, 0) != 0)
            return unic_errf(err, errlen, "cannot set JPEGMEM: %s", strerror(errno));
        jpegmem_is_default = 1;
        return 0;
    }
    if (parse_jpegmem(text) < 0)
        return unic_errf(err, errlen, "JPEGMEM is '%s': libjpeg reads its memory limit as a whole "
                         "number of thousands of bytes, or of millions with an M (e.g. %s, "
                         "unic's default; 0 for no limit), and would not read this as meant",
                         text, UNIC_DEFAULT_JPEGMEM);
    return 0;
}

int64_t unic_jpeg_memory_limit(const char **text, int *is_default)
{
    const char *t = getenv("JPEGMEM");
    if (text) *text = t;
    if (is_default) *is_default = t && jpegmem_is_default;
    return t ? parse_jpegmem(t) : 0;
}

/* What a progressive or multi-scan file keeps until its last scan: a 64
 * coefficient block of 2-byte values per 8 x 8 samples of each component,
 * chroma at the file's subsampling (libjpeg pads each to whole blocks). */
static double coefficient_bytes(int w, int h, int subsamp, int cs)
{
    double full = ceil(w / 8.0) * ceil(h / 8.0) * 128.0;
    if (cs == TJCS_GRAY) return full;
    double chroma = 1;
    if (subsamp >= 0 && subsamp < TJ_NUMSAMP && subsamp != TJSAMP_GRAY)
        chroma = 1.0 / ((tjMCUWidth[subsamp] / 8) * (tjMCUHeight[subsamp] / 8));
    int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    return full * ((cmyk ? 2 : 1) + 2 * chroma); /* Y (and K) at full size */
}

/* Adobe CMYK JPEGs (Photoshop writes them, and so do PIL and libjpeg for CMYK
 * input) store inverted ink values, which libjpeg hands back as stored. PIL
 * reads them as "CMYK;I" (un-inverting: C = 255 - c') and converts with
 *   nk = 255 - K;  R = nk - MULDIV255(C, nk), likewise G from M and B from Y,
 * MULDIV255(a, b) = ((a*b + 128) >> 8) + (a*b + 128)) >> 8, a rounded a*b/255.
 * In the stored values c', k' that is R = k' - MULDIV255(255 - c', k'),
 * about c' * k' / 255. YCCK files come out of libjpeg as the same CMYK. */
static inline uint8_t muldiv255(int a, int b)
{
    int t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static void cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t npix)
{
    for (size_t i = 0; i < npix; i++) {
        int k = cmyk[4 * i + 3];
        rgb[3 * i + 0] = (uint8_t)(k - muldiv255(255 - cmyk[4 * i + 0], k));
        rgb[3 * i + 1] = (uint8_t)(k - muldiv255(255 - cmyk[4 * i + 1], k));
        rgb[3 * i + 2] = (uint8_t)(k - muldiv255(255 - cmyk[4 * i + 2], k));
    }
}

/* The smallest DCT scaling factor not above 1 whose output still covers
 * min_w x min_h (each bound only when positive); 1/1 when none does. */
static tjscalingfactor pick_scale(int w, int h, int min_w, int min_h)
{
    tjscalingfactor best = {1, 1};
    if (min_w <= 0 && min_h <= 0) return best;
    int n = 0;
    tjscalingfactor *sf = tjGetScalingFactors(&n);
    if (!sf) return best;
    long best_px = (long)w * h;
    for (int i = 0; i < n; i++) {
        if (sf[i].num > sf[i].denom) continue; /* never upscale in the decoder */
        int sw = TJSCALED(w, sf[i]), sh = TJSCALED(h, sf[i]);
        if ((min_w > 0 && sw < min_w) || (min_h > 0 && sh < min_h)) continue;
        if ((long)sw * sh < best_px) {
            best_px = (long)sw * sh;
            best = sf[i];
        }
    }
    return best;
}

int unic_jpeg_decode_bounded(const uint8_t *data, size_t size, int min_w, int min_h,
                             int64_t max_pixels, unic_image *out, char *err, size_t errlen)
{
    out->px = NULL;
    out->w = out->h = out->c = 0;
    if (size < 4 || data[0] != 0xFF || data[1] != 0xD8)
        return unic_errf(err, errlen, "not a JPEG file (no SOI marker; %zu bytes)", size);
    if (size > 0xFFFFFFFFUL) return unic_errf(err, errlen, "JPEG data too large (%zu bytes)", size);
    tjhandle tj = tj_handle();
    if (!tj) return unic_errf(err, errlen, "cannot create a JPEG decompressor: %s",
                              tjGetErrorStr2(NULL));
    /* TurboJPEG can return success on a header it did not find (garbage
     * after the SOI marker) without writing the outputs: start from zeros. */
    int w = 0, h = 0, subsamp = -1, cs = -1;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &w, &h, &subsamp, &cs) != 0)
        return unic_errf(err, errlen, "bad JPEG header: %s", tjGetErrorStr2(tj));
    if (w <= 0 || h <= 0 || w > 65535 || h > 65535 || cs < 0)
        return unic_errf(err, errlen, "bad JPEG header: no valid frame (size %d x %d)", w, h);
    if (max_pixels > 0 && (int64_t)w * h > max_pixels)
        return unic_errf(err, errlen, "image of %d x %d = %lld pixels is above the limit of %lld "
                         "([data] max_pixels): refused as a possible decompression bomb", w, h,
                         (long long)w * h, (long long)max_pixels);
    tjscalingfactor sf = pick_scale(w, h, min_w, min_h);
    int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
    int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    /* Warnings (a truncated file's "premature end of data", which libjpeg
     * papers over with gray) stop the decode: such files are reported and
     * skipped, not trained on. */
    int flags = TJFLAG_STOPONWARNING;
    unic_image im;
    unic_image_alloc(&im, sw, sh, 3);
    uint8_t *dst = im.px;
    if (cmyk) dst = unic_xmalloc((size_t)sw * sh * 4);
    int rc = tjDecompress2(tj, data, (unsigned long)size, dst, sw, 0, sh,
                           cmyk ? TJPF_CMYK : TJPF_RGB, flags);
    if (rc != 0) {
        const char *msg = tjGetErrorStr2(tj), *text;
        int is_default;
        int64_t limit = unic_jpeg_memory_limit(&text, &is_default);
        /* libjpeg's memory manager (jmemnobs) has no backing store: this is
         * its error for whole-image buffers above max_memory_to_use. */
        if (strstr(msg, "Backing store not supported") && limit > 0)
            unic_errf(err, errlen, "JPEG of %d x %d pixels needs about %.0f bytes for its "
                      "coefficients (a progressive or multi-scan file keeps them all), above "
                      "libjpeg's memory limit of %lld bytes (JPEGMEM=%s%s): refused as a "
                      "possible decompression bomb", w, h, coefficient_bytes(w, h, subsamp, cs),
                      (long long)limit, text, is_default ? ", unic's default" : "");
        else
            unic_errf(err, errlen, "%s: %s",
                      tjGetErrorCode(tj) == TJERR_WARNING ? "corrupt or truncated JPEG"
                                                          : "JPEG decode failed", msg);
        if (cmyk) unic_xfree(dst);
        unic_image_free(&im);
        return -1;
    }
    if (cmyk) {
        cmyk_to_rgb(dst, im.px, (size_t)sw * sh);
        unic_xfree(dst);
    }
    *out = im;
    return 0;
}

int unic_jpeg_decode(const uint8_t *data, size_t size, int min_w, int min_h, unic_image *out,
                     char *err, size_t errlen)
{
    return unic_jpeg_decode_bounded(data, size, min_w, min_h, UNIC_DEFAULT_MAX_PIXELS, out, err,
                                    errlen);
}

int unic_jpeg_load(const char *path, int min_w, int min_h, unic_image *out, char *err,
                   size_t errlen)
{
    return unic_jpeg_load_bounded(path, min_w, min_h, UNIC_DEFAULT_MAX_PIXELS, out, err, errlen);
}

int unic_jpeg_load_bounded(const char *path, int min_w, int min_h, int64_t max_pixels,
                           unic_image *out, char *err, size_t errlen)
{
    out->px = NULL;
    out->w = out->h = out->c = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return unic_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return unic_errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    }
    buf = unic_xmalloc((size_t)n);
    size_t got = fread(buf, 1, (size_t)n, f);
    int read_err = ferror(f);
    fclose(f);
    if (read_err || got != (size_t)n) {
        unic_xfree(buf);
        return unic_errf(err, errlen, "%s: short read (%zu of %ld bytes)", path, got, n);
    }
    char msg[512];
    int rc = unic_jpeg_decode_bounded(buf, (size_t)n, min_w, min_h, max_pixels, out, msg,
                                      sizeof msg);
    unic_xfree(buf);
    if (rc != 0) return unic_errf(err, errlen, "%s: %s", path, msg);
    return 0;
}
