/* Predictions CSV as `unic eval` and `unic report` read it (header,
 * prediction / label / labeled / index / confidence columns); rows that
 * parse hold ids within the class limit, indices that are not negative and
 * confidences in [0, 1]. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include "base/limits.h"
#include "eval/predictions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    unic_predictions p;
    if (unic_predictions_read(fuzz_as_file(data, size, ".csv"), &p, err, sizeof err) != 0) return 0;
    for (int64_t i = 0; i < p.n; i++)
        if (p.prediction[i] < 0 || p.prediction[i] >= UNIC_MAX_CLASSES ||
            (p.label && (p.label[i] < 0 || p.label[i] >= UNIC_MAX_CLASSES)) ||
            (p.index && p.index[i] < 0) ||
            (p.confidence && !(p.confidence[i] >= 0 && p.confidence[i] <= 1)))
            abort();
    unic_predictions_free(&p);
    return 0;
}
