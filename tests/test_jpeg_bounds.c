/* Decompression bombs: an image's size is checked from its header before
 * any allocation. A copy of a small JPEG whose frame header claims 65000 x
 * 65000 pixels would ask for 12 GB; it is refused with the numbers. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "data/image.h"
#include "helpers.h"

Test(jpeg_bounds, header_claiming_65000_squared_is_refused_before_decoding)
{
    char *path = test_fixture("tf_big.jpg"), err[512] = "";
    size_t n;
    uint8_t *jpg = (uint8_t *)test_read_file(path, &n);
    cr_assert_not_null(jpg);
    uint8_t *bomb = test_jpeg_with_frame_size(jpg, n, 65000, 65000);
    unic_image im;
    cr_assert_eq(unic_jpeg_decode(bomb, n, 0, 0, &im, err, sizeof err), -1);
    cr_expect(strstr(err, "65000 x 65000 = 4225000000 pixels") && strstr(err, "max_pixels"), "%s",
              err);
    cr_expect_null(im.px);
    free(bomb);
    free(jpg);
    free(path);
}

Test(jpeg_bounds, limit_is_inclusive_and_settable)
{
    char *path = test_fixture("tf_big.jpg"), err[512] = "";
    unic_image im;
    cr_assert_eq(unic_jpeg_load(path, 0, 0, &im, err, sizeof err), 0, "%s", err);
    int64_t pixels = (int64_t)im.w * im.h;
    unic_image_free(&im);
    cr_expect_eq(unic_jpeg_load_bounded(path, 0, 0, pixels, &im, err, sizeof err), 0, "%s", err);
    unic_image_free(&im);
    cr_expect_eq(unic_jpeg_load_bounded(path, 0, 0, pixels - 1, &im, err, sizeof err), -1);
    cr_expect(strstr(err, "tf_big.jpg") && strstr(err, "above the limit"), "%s", err);
    cr_expect_eq(unic_jpeg_load_bounded(path, 0, 0, 0, &im, err, sizeof err), 0, "%s", err);
    unic_image_free(&im);
    free(path);
}
