/* 8-bit images, JPEG decoding (libjpeg-turbo's TurboJPEG API) and the
 * transforms of the reference pipelines (torchvision on PIL images). */
#ifndef UNIC_IMAGE_H
#define UNIC_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "unic/rng.h"

/* Interleaved (HWC) 8-bit pixels; c is 3 (RGB) or 1 (gray). */
typedef struct unic_image {
    int w, h, c;
    uint8_t *px;
} unic_image;

int unic_image_alloc(unic_image *im, int w, int h, int c);
void unic_image_free(unic_image *im);

/* Decodes a JPEG held in memory to RGB (grayscale and CMYK/YCCK files are
 * converted). When min_w/min_h are positive, the decoder's DCT-domain scaling
 * picks the smallest scale whose output is still at least min_w x min_h, so
 * a large photo bound for 256 px is never decoded at full size. */
int unic_jpeg_decode(const uint8_t *data, size_t size, int min_w, int min_h, unic_image *out,
                     char *err, size_t errlen);
/* The same with a bound on the frame's pixels (width x height from the
 * header, before DCT scaling: progressive files keep every coefficient),
 * refused before any allocation; max_pixels <= 0 means no bound. */
int unic_jpeg_decode_bounded(const uint8_t *data, size_t size, int min_w, int min_h,
                             int64_t max_pixels, unic_image *out, char *err, size_t errlen);
/* Reads and decodes a JPEG file; errors name the file. The _bounded form as
 * above; the plain forms use UNIC_DEFAULT_MAX_PIXELS. */
int unic_jpeg_load(const char *path, int min_w, int min_h, unic_image *out, char *err,
                   size_t errlen);
int unic_jpeg_load_bounded(const char *path, int min_w, int min_h, int64_t max_pixels,
                           unic_image *out, char *err, size_t errlen);

/* libjpeg's memory limit for one decompressor (UNIC_DEFAULT_JPEGMEM in
 * base/limits.h explains the default). Sets JPEGMEM to the default when the
 * environment has none; a value of the user's must read as libjpeg would
 * take it (digits, for thousands of bytes, or digits and M for millions; 0
 * for no limit), else it is refused naming it. libjpeg reads JPEGMEM when a
 * decompressor is created, and setenv is not thread-safe: call this before
 * any thread starts and before the first decode (`unic` does, first thing
 * in main()). A progressive or multi-scan file over the limit is refused by
 * the decoders above with a message naming the limit. */
int unic_jpeg_memory_limit_init(char *err, size_t errlen);
/* The limit libjpeg applies to decompressors created now, in bytes (0:
 * none), with JPEGMEM's text in *text (NULL when unset) and whether it is
 * unic's default in *is_default (either may be NULL); -1 when JPEGMEM does
 * not read as a limit. */
int64_t unic_jpeg_memory_limit(const char **text, int *is_default);

/* ---- transforms (each writes a new image into out) ---------------------- */
typedef enum { UNIC_BILINEAR, UNIC_BICUBIC } unic_interp;

/* PIL's Image.resize with antialiasing (support widened by the scale on
 * downsampling), separable: horizontal pass then vertical, 8-bit between. */
int unic_resize(const unic_image *in, int out_w, int out_h, unic_interp interp, unic_image *out);
/* The w x h window at (x, y) of unic_resize's out_w x out_h output (inside
 * it), computing only that window: resize + center crop at the cost of the
 * crop. Same pixels as unic_resize followed by unic_crop. */
int unic_resize_window(const unic_image *in, int out_w, int out_h, unic_interp interp, int x,
                       int y, int w, int h, unic_image *out);
/* torchvision Resize(size) with an int: the short side becomes size, the
 * long side int(size * long / short). */
int unic_resize_short(const unic_image *in, int size, unic_interp interp, unic_image *out);
/* Crop at (x, y), size w x h; parts outside the image are zero (as PIL). */
int unic_crop(const unic_image *in, int x, int y, int w, int h, unic_image *out);
/* torchvision CenterCrop: top = int(round((H - h) / 2)), left likewise. */
int unic_center_crop(const unic_image *in, int w, int h, unic_image *out);
int unic_hflip(const unic_image *in, unic_image *out);
/* torchvision RandomResizedCrop.get_params: up to 10 tries of area in
 * [scale_lo, scale_hi] and log-uniform aspect ratio, then the central
 * fallback. Writes the box. */
void unic_random_resized_crop_box(int w, int h, float scale_lo, float scale_hi, float ratio_lo,
                                  float ratio_hi, unic_rng *rng, int *x, int *y, int *cw, int *ch);
/* PIL ImageEnhance semantics, factors as torchvision ColorJitter draws them. */
void unic_adjust_brightness(unic_image *im, float factor);
void unic_adjust_contrast(unic_image *im, float factor);
void unic_adjust_saturation(unic_image *im, float factor);
void unic_adjust_hue(unic_image *im, float shift); /* shift in [-0.5, 0.5] */
/* PIL's convert("L") (ITU-R 601-2 luma, L = R*299/1000 + G*587/1000 +
 * B*114/1000), kept as 3 equal channels when keep_rgb. */
int unic_grayscale(const unic_image *in, int keep_rgb, unic_image *out);

/* SCAN's strong augmentation (its RandAugment list), as Pillow 9 computes
 * each: ImageOps.autocontrast (cutoff 0) and equalize, posterize (keep the
 * top `bits`), solarize (invert from threshold up), ImageEnhance.Sharpness,
 * Image.transform(AFFINE, NEAREST) with a = (a, b, c, d, e, f) mapping an
 * output pixel (x, y) to input (a x + b y + c, d x + e y + f) and black
 * outside, and Image.rotate(degrees) (counter-clockwise, about the
 * centre, NEAREST). */
void unic_autocontrast(unic_image *im);
void unic_equalize(unic_image *im);
void unic_posterize(unic_image *im, int bits);
void unic_solarize(unic_image *im, double threshold);
void unic_adjust_sharpness(unic_image *im, float factor);
int unic_affine_nearest(const unic_image *in, const double a[6], unic_image *out);
int unic_rotate_nearest(const unic_image *in, double degrees, unic_image *out);

/* ---- pipelines ------------------------------------------------------------ */
/* A pipeline is written in the INI as a list of steps, e.g.
 *   resize(256, bicubic) center_crop(224) normalize(imagenet)
 *   random_resized_crop(224, 0.08, 1.0) hflip(0.5) color_jitter(0.4, 0.4, 0.4, 0.1)
 *     grayscale(0.2) normalize(imagenet)
 * Steps: resize(size[, bilinear|bicubic]), center_crop(size), random_crop(size),
 * random_resized_crop(size[, scale_lo, scale_hi]), hflip(p), color_jitter(b, c, s, h),
 * grayscale(p), randaugment(n) (SCAN's strong augmentation: n operations drawn
 * with replacement from its list, each at a uniform magnitude), normalize(imagenet
 * | m0 m1 m2 s0 s1 s2), cutout(length) (SCAN's Cutout, after normalize: one square
 * of a side drawn in [1, length], centred anywhere, zeroed). The output is a float
 * tensor C x H x W: 0..1 values normalised when the pipeline ends in
 * normalize, else 0..255 as stored (what the pixels backbone expects). */
typedef struct unic_pipeline unic_pipeline;
unic_pipeline *unic_pipeline_parse(const char *spec, char *err, size_t errlen);
void unic_pipeline_free(unic_pipeline *p);
/* The output shape for an input of w x h x c (fixed when the pipeline crops). */
void unic_pipeline_out_shape(const unic_pipeline *p, int in_w, int in_h, int in_c, int *c, int *h,
                             int *w);
/* 0 when every image the steps make for a w x h input (each step's output;
 * a resize's intermediate is never larger than the larger of its input and
 * 4/3 of its output) has at most max_pixels pixels (<= 0: no bound) and
 * sides that fit an int; otherwise a message naming the step, both sizes
 * and the bound. The loader checks it before applying the pipeline. */
int unic_pipeline_check_size(const unic_pipeline *p, int w, int h, int64_t max_pixels, char *err,
                             size_t errlen);
/* Smallest decode size worth asking the JPEG decoder for (0 = full size). */
int unic_pipeline_min_side(const unic_pipeline *p);
/* Applies the steps; random ones draw from rng. out holds C*H*W floats. */
int unic_pipeline_apply(const unic_pipeline *p, const unic_image *in, unic_rng *rng, float *out,
                        char *err, size_t errlen);

#endif
