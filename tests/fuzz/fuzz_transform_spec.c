/* Transform pipeline specs ("resize(256, bicubic) center_crop(224) ..."). */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include "data/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = fuzz_as_text(data, size), err[512];
    unic_pipeline *p = unic_pipeline_parse(spec, err, sizeof err);
    if (p) {
        unic_pipeline_min_side(p);
        unic_pipeline_free(p);
    }
    free(spec);
    return 0;
}
