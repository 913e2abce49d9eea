/* JPEG decoding as the loader does it (unic_imageset_get reads a file and
 * calls this with its decode size and pixel bound). The first two bytes
 * choose the minimum side DCT scaling aims for. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include "data/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int min_side = data[0] | (data[1] & 3) << 8;
    char err[512];
    unic_image im;
    /* 2^24 pixels: the production bound is larger, but the fuzzer should
     * spend its time in the decoder, not in memset. */
    if (unic_jpeg_decode_bounded(data + 2, size - 2, min_side, min_side, 1 << 24, &im, err,
                                 sizeof err) == 0)
        unic_image_free(&im);
    return 0;
}
