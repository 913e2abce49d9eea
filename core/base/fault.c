#include "base/fault.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

int unic_fault(const char *point)
{
    const char *spec = getenv("UNIC_FAULT");
    if (!spec || !*spec) return 0;
    const char *at = strchr(spec, '@');
    size_t len = at ? (size_t)(at - spec) : strlen(spec);
    if (strlen(point) != len || strncmp(spec, point, len) != 0) return 0;
    long nth = at ? strtol(at + 1, NULL, 10) : 1;
    /* one spec per process, so one counter: the times its point was reached */
    static atomic_long reached;
    return atomic_fetch_add(&reached, 1) + 1 == nth;
}
