/* Arrays and element types: what every format reader produces. */
#ifndef UNIC_FORMATS_ARRAY_H
#define UNIC_FORMATS_ARRAY_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    UNIC_DT_F32, UNIC_DT_F16, UNIC_DT_BF16, UNIC_DT_F64,
    UNIC_DT_U8, UNIC_DT_I8, UNIC_DT_I32, UNIC_DT_I64, UNIC_DT_BOOL
} unic_dtype;

size_t unic_dtype_size(unic_dtype dt);
const char *unic_dtype_name(unic_dtype dt); /* safetensors spelling: "F32", "I64", ... */

/* An n-dimensional array in memory (owned) or mapped from a file (borrowed).
 * Arrays loaded from .npy / IDX are named after their file, so conversion
 * errors name it. Borrowed data may be misaligned (safetensors makes no
 * promise): read it through unic_array_to_f32 / _to_i32. */
typedef struct unic_array {
    char *name;
    unic_dtype dtype;
    int ndim;
    int64_t shape[8];
    void *data;
    size_t nbytes;
} unic_array;

int64_t unic_array_numel(const unic_array *a);
/* Converts any numeric dtype to float32 / int32 (dst has numel entries).
 * to_i32 refuses non-integral floats and values outside int32. */
int unic_array_to_f32(const unic_array *a, float *dst, char *err, size_t errlen);
int unic_array_to_i32(const unic_array *a, int32_t *dst, char *err, size_t errlen);

void unic_array_free(unic_array *a); /* frees an owned array's data and name */

/* For the format readers: the dtype named by its safetensors spelling (-1 if
 * none), its name for messages ("float32"), numel * elem_size of a shape read
 * from a file (-1 instead of wrapping, so a hostile header cannot make us
 * under-allocate), and a shape as "10x4" ("scalar" for 0-d). */
int unic_dtype_parse(const char *name);
const char *unic_dtype_word(unic_dtype dt);
int unic_shape_bytes(const int64_t *shape, int ndim, size_t elem, uint64_t *numel,
                     uint64_t *bytes);
/* 0 when a's dtype and shape are valid and its data holds them; *numel set.
 * Messages start with `who`. */
int unic_array_check(const unic_array *a, const char *who, int64_t *numel, char *err,
                     size_t errlen);
const char *unic_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap);

#endif
