#include "base/limits.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int unic_check_input_file(const char *path, const char *what, uint64_t max_bytes, char *err,
                          size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return unic_errf(err, errlen, "%s: cannot open %s: %s", path, what, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return unic_errf(err, errlen, "%s: the %s is not a regular file", path, what);
    if (max_bytes && (uint64_t)st.st_size > max_bytes)
        return unic_errf(err, errlen, "%s: the %s is %lld bytes; unic reads at most %llu "
                         "(UNIC_MAX_TEXT_FILE_BYTES)", path, what, (long long)st.st_size,
                         (unsigned long long)max_bytes);
    return 0;
}

size_t unic_memory_limit(const char **source)
{
    const char *env = getenv("UNIC_MEMORY_LIMIT");
    if (env && *env) {
        char *end;
        double v = strtod(env, &end);
        double unit = *end == 'G' || *end == 'g' ? 1 << 30 : *end == 'M' || *end == 'm' ? 1 << 20
                      : *end == 'K' || *end == 'k' ? 1 << 10 : 1;
        *source = "UNIC_MEMORY_LIMIT";
        return (size_t)(v * unit);
    }
    *source = "MemAvailable";
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb ? kb * 1024 : (size_t)8 << 30;
}
