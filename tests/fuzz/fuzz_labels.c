/* Label files in every format unic_load_labels reads, chosen by the first
 * byte; labels that load must be in [0, UNIC_MAX_CLASSES) once a dataset
 * checks them, which is done here as the dataset does. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include "base/limits.h"
#include "data/formats/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const suffix[] = {".txt", ".npy", "-ubyte", ".safetensors"};
    if (size < 1) return 0;
    const char *path = fuzz_as_file(data + 1, size - 1, suffix[data[0] % 4]);
    char err[512];
    int32_t *labels;
    int64_t n;
    if (unic_load_labels(path, "labels", &labels, &n, err, sizeof err) != 0) return 0;
    for (int64_t i = 0; i < n; i++)
        if (unic_check_label(labels[i], path, i, err, sizeof err) != 0) break;
    free(labels);
    return 0;
}
