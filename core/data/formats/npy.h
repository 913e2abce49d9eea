/* numpy .npy files. */
#ifndef UNIC_FORMATS_NPY_H
#define UNIC_FORMATS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "data/formats/array.h"

/* Versions 1.0-3.0, little-endian C-order <f4 <f8 <f2 |u1 |i1 <i4 <i8 |b1. */
int unic_npy_load(const char *path, unic_array *out, char *err, size_t errlen);
int unic_npy_save(const char *path, const unic_array *a, char *err, size_t errlen);

#endif
