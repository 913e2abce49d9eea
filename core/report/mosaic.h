/* Figure 12's mosaics: a cluster's images as square thumbnails in a grid,
 * encoded as one JPEG by libjpeg-turbo (TurboJPEG's tjCompress2), so a
 * report inlines one small picture per row of a cluster, not one per item. */
#ifndef UNIC_REPORT_MOSAIC_H
#define UNIC_REPORT_MOSAIC_H

#include <stddef.h>
#include <stdint.h>

#include "data/image.h"

#define UNIC_MOSAIC_GAP 2 /* pixels between tiles */

typedef struct unic_mosaic {
    int cols, rows, side, channels; /* channels: 1 (gray) or 3 (RGB) */
    int w, h;
    uint8_t *px; /* h x w x channels, white where no tile is */
} unic_mosaic;

/* A white mosaic with room for count tiles, cols to a row. */
void unic_mosaic_init(unic_mosaic *m, int count, int cols, int side, int channels);
void unic_mosaic_free(unic_mosaic *m);
/* Tile t gets im (gray or RGB), its short side resized to the tile's side
 * (PIL's antialiased bilinear) and centre-cropped; gray images fill RGB
 * mosaics in gray, RGB images fill gray mosaics by luma. */
int unic_mosaic_put(unic_mosaic *m, int t, const unic_image *im);
/* Marks tile t with a frame of colour (r, g, b) (gray mosaics: its luma). */
void unic_mosaic_frame(unic_mosaic *m, int t, uint8_t r, uint8_t g, uint8_t b);
/* The mosaic as a baseline JPEG of the given quality (1..100; 4:2:0 for
 * RGB); returns malloc'ed bytes (free with free()) or NULL with a message. */
unsigned char *unic_mosaic_jpeg(const unic_mosaic *m, int quality, size_t *size, char *err,
                                size_t errlen);

#endif
