/* IDX reader, plain and gzipped (zlib tells them apart by content). */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include "data/formats/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    unic_array a;
    if (unic_idx_load(fuzz_as_file(data, size, "-ubyte"), &a, err, sizeof err) == 0)
        unic_array_free(&a);
    return 0;
}
