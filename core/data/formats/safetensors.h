/* safetensors files: read (mapped, header validated) and written atomically. */
#ifndef UNIC_FORMATS_SAFETENSORS_H
#define UNIC_FORMATS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "data/formats/array.h"

typedef struct unic_safetensors {
    char *path;
    void *map;
    size_t size;
    int count;
    unic_array *tensors;   /* data points into the mapping */
    char *metadata_json;   /* the "__metadata__" object as JSON text, or NULL */
} unic_safetensors;

/* Maps the file read-only and validates the whole header (dtypes, shapes,
 * offsets against the data section, duplicate names). */
int unic_safetensors_open(const char *path, unic_safetensors **out, char *err, size_t errlen);
const unic_array *unic_safetensors_find(const unic_safetensors *st, const char *name);
/* The string value of key in __metadata__, or NULL. */
const char *unic_safetensors_meta(const unic_safetensors *st, const char *key);
void unic_safetensors_close(unic_safetensors *st);

/* Writes tensors (in the given order) and string metadata (NULL-terminated
 * key, value, key, value, ... list, may be NULL) atomically: temp + rename.
 * Data is streamed to path.tmp, never copied into one buffer. */
int unic_safetensors_write(const char *path, const unic_array *tensors, int count,
                           const char *const *metadata, char *err, size_t errlen);

#endif
