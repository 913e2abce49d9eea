/* A shared object without the entry point: the registry must name it. */
#include "unic/plugin.h"

UNIC_EXPORT int not_the_entry_point(void) { return 42; }
