/* PNG encoding (zlib) of 8-bit RGB pixels: lossless, for pictures whose
 * every pixel carries a value, such as a large confusion matrix drawn one
 * pixel per cell. */
#ifndef UNIC_REPORT_PNG_H
#define UNIC_REPORT_PNG_H

#include <stddef.h>
#include <stdint.h>

/* rgb is h rows of w x 3 bytes; returns the file's bytes (malloc'ed, free
 * with free()) and their count in *size, or NULL when w or h is not in
 * [1, 65535]. */
unsigned char *unic_png_encode_rgb(const uint8_t *rgb, int w, int h, size_t *size);

#endif
