#include "plugin/api.h"

#include <stdio.h>
#include <string.h>

#include "data/io.h"
#include "mining/knn.h"
#include "base/log.h"
#include "ops/ops.h"
#include "ops/transformer_block.h"
#include "plugin/params.h"
#include "plugin/registry.h"
#include "base/util.h"

static int format_shape(char *buf, size_t len, const int64_t *shape, int ndim)
{
    int off = snprintf(buf, len, "[");
    for (int i = 0; i < ndim && off < (int)len; i++)
        off += snprintf(buf + off, len - (size_t)off, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (off < (int)len) off += snprintf(buf + off, len - (size_t)off, "]");
    return off;
}

/* Opens path and finds name in it; on failure *st is closed and NULL. */
static const unic_array *find_tensor(const char *path, const char *name, unic_safetensors **st,
                                     char *err, size_t errlen)
{
    if (unic_safetensors_open(path, st, err, errlen) != 0) {
        *st = NULL;
        return NULL;
    }
    const unic_array *a = unic_safetensors_find(*st, name);
    if (!a) {
        unic_errf(err, errlen, "%s: no tensor '%s' in this checkpoint (%d tensors)", path, name,
                  (*st)->count);
        unic_safetensors_close(*st);
        *st = NULL;
    }
    return a;
}

static int load_tensor_f32(const char *path, const char *name, float *dst, const int64_t *shape,
                           int ndim, char *err, size_t errlen)
{
    unic_safetensors *st;
    const unic_array *a = find_tensor(path, name, &st, err, errlen);
    if (!a) return -1;
    int same = a->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = a->shape[i] == shape[i];
    if (!same) {
        char have[160], want[160];
        format_shape(have, sizeof have, a->shape, a->ndim);
        format_shape(want, sizeof want, shape, ndim);
        unic_errf(err, errlen, "%s: tensor '%s' has shape %s, expected %s", path, name, have, want);
        unic_safetensors_close(st);
        return -1;
    }
    if (a->dtype != UNIC_DT_F32 && a->dtype != UNIC_DT_F16 && a->dtype != UNIC_DT_BF16 &&
        a->dtype != UNIC_DT_F64) {
        unic_errf(err, errlen, "%s: tensor '%s' is %s, expected floating point (F32, F16, BF16, "
                  "F64)", path, name, unic_dtype_name(a->dtype));
        unic_safetensors_close(st);
        return -1;
    }
    char why[512];
    int rc = unic_array_to_f32(a, dst, why, sizeof why);
    if (rc != 0) unic_errf(err, errlen, "%s: tensor '%s': %s", path, name, why);
    unic_safetensors_close(st);
    return rc;
}

static int tensor_shape(const char *path, const char *name, int64_t *shape, int max_ndim,
                        char *err, size_t errlen)
{
    unic_safetensors *st;
    const unic_array *a = find_tensor(path, name, &st, err, errlen);
    if (!a) return -1;
    int ndim = a->ndim;
    if (ndim > max_ndim) {
        unic_errf(err, errlen, "%s: tensor '%s' has %d dimensions, at most %d expected", path, name,
                  ndim, max_ndim);
        ndim = -1;
    } else {
        memcpy(shape, a->shape, sizeof(int64_t) * (size_t)ndim);
    }
    unic_safetensors_close(st);
    return ndim;
}

/* num_batches_tracked (BN bookkeeping, one per layer in torchvision
 * checkpoints) is counted, not listed, so the names that matter (a
 * classifier, a projection head) stay readable. */
static int report_unused_tensors(const char *path, const char *const *used, int nused,
                                 const char *who)
{
    unic_safetensors *st;
    char err[512];
    if (unic_safetensors_open(path, &st, err, sizeof err) != 0) return 0;
    char list[1024] = "";
    int unused = 0, bookkeeping = 0, listed = 0;
    size_t off = 0;
    for (int i = 0; i < st->count; i++) {
        const char *name = st->tensors[i].name;
        int found = 0;
        for (int j = 0; j < nused && !found; j++) found = strcmp(used[j], name) == 0;
        if (found) continue;
        unused++;
        size_t len = strlen(name), tail = strlen(".num_batches_tracked");
        if (len >= tail && strcmp(name + len - tail, ".num_batches_tracked") == 0) {
            bookkeeping++;
        } else if (listed < 12 && off < sizeof list) {
            off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", listed ? ", " : "", name);
            listed++;
        }
    }
    if (unused) {
        int other = unused - bookkeeping - listed;
        char rest[128] = "";
        int r = 0;
        if (other) r = snprintf(rest, sizeof rest, "%s%d more", listed ? " and " : "", other);
        if (bookkeeping)
            snprintf(rest + r, sizeof rest - (size_t)r, "%s%d num_batches_tracked",
                     listed || other ? "; " : "", bookkeeping);
        unic_log(UNIC_LOG_INFO, "%s: %s ignores %d of its %d tensors: %s%s", path, who, unused,
                 st->count, list, rest);
    }
    unic_safetensors_close(st);
    return unused;
}

static int cuda_available(void) { return unic_cuda_available() ? 1 : 0; }

static const unic_api api = {
    .abi_major = UNIC_ABI_MAJOR,
    .abi_minor = UNIC_ABI_MINOR,
    .register_component = unic_registrar_add,
    .log = unic_log,
    .param_int = unic_param_int,
    .param_float = unic_param_float,
    .param_bool = unic_param_bool,
    .param_str = unic_param_str,
    .tensor_new = unic_tensor_new,
    .tensor_free = unic_tensor_free,
    .tensor_zero = unic_tensor_zero,
    .tensor_copy = unic_tensor_copy,
    .gemm = unic_gemm,
    .linear_forward = unic_linear_forward,
    .linear_backward = unic_linear_backward,
    .gelu_forward = unic_gelu_forward,
    .gelu_backward = unic_gelu_backward,
    .fill_uniform = unic_fill_uniform,
    .scale = unic_scale,
    .knn = unic_knn,
    .kth_neighbor = unic_kth_neighbor,
    .sq_dist = unic_sq_dist,
    .union_sizes = unic_union_sizes,
    .load_tensor_f32 = load_tensor_f32,
    .tensor_shape = tensor_shape,
    .report_unused_tensors = report_unused_tensors,
    .layer_norm_forward = unic_layer_norm_forward,
    .layer_norm_backward = unic_layer_norm_backward,
    .attention_forward = unic_attention_forward,
    .attention_backward = unic_attention_backward,
    .add = unic_add,
    .scale_columns = unic_scale_columns,
    .column_dot = unic_column_dot,
    .cuda_available = cuda_available,
    .im2col = unic_im2col,
    .col2im = unic_col2im,
    .batch_norm_forward = unic_batch_norm_forward,
    .batch_norm_backward = unic_batch_norm_backward,
    .relu_backward = unic_relu_backward,
    .max_pool_forward = unic_max_pool_forward,
    .max_pool_backward = unic_max_pool_backward,
    .tensor_move = unic_tensor_move,
    /* added in ABI 6.0 */
    .block_activations_new = unic_block_activations_new,
    .block_activations_free = unic_block_activations_free,
    .block_forward = unic_block_forward,
    .block_backward = unic_block_backward,
};

const unic_api *unic_core_api(void) { return &api; }
