/* safetensors reader (data files and checkpoints share it): a header that
 * parses must describe tensors lying inside the file; each small tensor is
 * converted to float32 and int32, and the metadata looked up. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include "data/formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    unic_safetensors *st;
    if (unic_safetensors_open(fuzz_as_file(data, size, ".safetensors"), &st, err, sizeof err) != 0)
        return 0;
    for (int i = 0; i < st->count; i++) {
        const unic_array *a = &st->tensors[i];
        int64_t n = unic_array_numel(a);
        if (n > (1 << 20)) continue;
        float *f = malloc((size_t)(n ? n : 1) * sizeof(float));
        int32_t *l = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
        unic_array_to_f32(a, f, err, sizeof err);
        unic_array_to_i32(a, l, err, sizeof err);
        if (unic_safetensors_find(st, a->name) != a) abort();
        free(f);
        free(l);
    }
    unic_safetensors_meta(st, "format");
    unic_safetensors_meta(st, "checksum");
    unic_safetensors_close(st);
    return 0;
}
