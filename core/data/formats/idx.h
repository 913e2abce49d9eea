/* IDX files (MNIST family), gzipped or not. */
#ifndef UNIC_FORMATS_IDX_H
#define UNIC_FORMATS_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "data/formats/array.h"

/* Reads .idx / -ubyte files, gzipped or not (zlib). ubyte, byte, int, float
 * and double map to U8, I8, I32, F32, F64; short widens to I32. */
int unic_idx_load(const char *path, unic_array *out, char *err, size_t errlen);

#endif
