/* Class lists: inline ("0-4,7") or a split file ("old N" lines), chosen by
 * the first byte. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include "base/limits.h"
#include "experiment/experiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned char mask[UNIC_MAX_CLASSES];
    int count = 0;
    char err[512];
    if (data[0] & 1) {
        char *text = fuzz_as_text(data + 1, size - 1);
        unic_parse_class_list(text, mask, UNIC_MAX_CLASSES, &count, err, sizeof err);
        free(text);
    } else {
        const char *path = fuzz_as_file(data + 1, size - 1, ".txt");
        unic_parse_class_list(path, mask, UNIC_MAX_CLASSES, &count, err, sizeof err);
    }
    return 0;
}
