/* Tensors: float32, row-major, contiguous, tagged with the device that holds
 * their memory. A tensor struct is a cheap view; `unic_rows` narrows one to
 * its first rows so buffers sized for the largest batch serve smaller ones. */
#ifndef UNIC_TENSOR_H
#define UNIC_TENSOR_H

#include <stdint.h>

#define UNIC_MAX_DIMS 4

typedef enum { UNIC_CPU = 0, UNIC_CUDA = 1 } unic_device;

typedef struct unic_tensor {
    float *data;
    int64_t shape[UNIC_MAX_DIMS];
    int ndim;
    unic_device device;
} unic_tensor;

static inline int64_t unic_numel(const unic_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

/* Elements in one row: the product of all dimensions but the first. */
static inline int64_t unic_row_size(const unic_tensor *t)
{
    int64_t n = 1;
    for (int i = 1; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static inline unic_tensor unic_rows(const unic_tensor *t, int64_t first, int64_t count)
{
    unic_tensor v = *t;
    v.data = t->data + first * unic_row_size(t);
    v.shape[0] = count;
    return v;
}

#endif
