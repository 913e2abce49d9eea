#include "base/limits.h"

#include "base/util.h"

int unic_check_label(int64_t value, const char *source, int64_t index, char *err, size_t errlen)
{
    if (value >= 0 && value < UNIC_MAX_CLASSES) return 0;
    return unic_errf(err, errlen,
                     "%s: label %lld of item %lld is outside [0, %d) (unic's class limit, "
                     "UNIC_MAX_CLASSES in core/base/limits.h)",
                     source, (long long)value, (long long)index, UNIC_MAX_CLASSES);
}

int unic_check_class_count(int64_t count, const char *what, char *err, size_t errlen)
{
    if (count >= 1 && count <= UNIC_MAX_CLASSES) return 0;
    return unic_errf(err, errlen, "%s: %lld classes; unic handles 1 to %d (UNIC_MAX_CLASSES)", what,
                     (long long)count, UNIC_MAX_CLASSES);
}
