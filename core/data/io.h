/* Readers and writers for the file formats users bring: safetensors (model
 * hubs), .npy (numpy), IDX (MNIST family, optionally gzipped) and label lists.
 * Every failure names the file and what is wrong with it. */
#ifndef UNIC_IO_H
#define UNIC_IO_H

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

/* ---- safetensors -------------------------------------------------------- */
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

/* ---- .npy --------------------------------------------------------------- */
/* Versions 1.0-3.0, little-endian C-order <f4 <f8 <f2 |u1 |i1 <i4 <i8 |b1. */
int unic_npy_load(const char *path, unic_array *out, char *err, size_t errlen);
int unic_npy_save(const char *path, const unic_array *a, char *err, size_t errlen);

/* ---- IDX ---------------------------------------------------------------- */
/* Reads .idx / -ubyte files, gzipped or not (zlib). ubyte, byte, int, float
 * and double map to U8, I8, I32, F32, F64; short widens to I32. */
int unic_idx_load(const char *path, unic_array *out, char *err, size_t errlen);

void unic_array_free(unic_array *a); /* frees an owned array's data and name */

/* ---- convenience for datasets ------------------------------------------ */
/* Loads labels from .npy, IDX, safetensors (tensor `name`, default "labels")
 * or a text file with one integer per line (blank lines and # comments
 * skipped); labels are 1-D or N x 1; *labels is malloc'ed. */
int unic_load_labels(const char *path, const char *name, int32_t **labels, int64_t *n, char *err,
                     size_t errlen);

#endif
