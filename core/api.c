#include "api.h"

#include "knn.h"
#include "log.h"
#include "ops.h"
#include "params.h"
#include "registry.h"

static const unic_api api = {
    .abi_version = UNIC_ABI_VERSION,
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
};

const unic_api *unic_core_api(void) { return &api; }
