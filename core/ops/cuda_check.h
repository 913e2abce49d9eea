/* Error checks shared by the CUDA sources: a failed CUDA or cuBLAS call
 * stops the program with the call, its place and the library's reason. */
#ifndef UNIC_CUDA_CHECK_H
#define UNIC_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

/* util.h uses C11 _Noreturn, which C++ does not parse; declare what we use. */
extern "C" [[noreturn]] void unic_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CUDA_CHECK(call)                                                                   \
    do {                                                                                   \
        cudaError_t err_ = (call);                                                         \
        if (err_ != cudaSuccess)                                                           \
            unic_die("%s:%d: %s failed: %s", __FILE__, __LINE__, #call,                   \
                     cudaGetErrorString(err_));                                            \
    } while (0)

#define CUBLAS_CHECK(call)                                                                 \
    do {                                                                                   \
        cublasStatus_t st_ = (call);                                                       \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                  \
            unic_die("%s:%d: %s failed: %s", __FILE__, __LINE__, #call,                   \
                     cublasGetStatusString(st_));                                          \
    } while (0)

/* Launches are asynchronous: this catches bad configurations at once, and a
 * fault inside a kernel surfaces at the next checked call. */
#define LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

#endif
