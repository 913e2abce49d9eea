/* .npy reader: any bytes end in a clean error or an array whose shape
 * matches its data; the conversion to float32 is exercised too. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include "data/formats/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    unic_array a;
    if (unic_npy_load(fuzz_as_file(data, size, ".npy"), &a, err, sizeof err) != 0) return 0;
    int64_t n = unic_array_numel(&a);
    if (n <= (1 << 20)) {
        float *f = malloc((size_t)(n ? n : 1) * sizeof(float));
        unic_array_to_f32(&a, f, err, sizeof err);
        free(f);
    }
    unic_array_free(&a);
    return 0;
}
