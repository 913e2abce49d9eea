/* Window arithmetic shared by the CPU and CUDA convolution and pooling ops,
 * so both devices pick the same output sizes and the same maxima, and by
 * plugins that size their buffers for those ops. */
#ifndef UNIC_CONV_WINDOW_H
#define UNIC_CONV_WINDOW_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define UNIC_HOST_DEVICE __host__ __device__
#else
#define UNIC_HOST_DEVICE
#endif

static inline UNIC_HOST_DEVICE int unic_conv_out(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

/* The index in its plane of window (oy, ox)'s first maximum, as PyTorch
 * picks it; padding never wins. */
static inline UNIC_HOST_DEVICE int64_t unic_pool_argmax(const float *plane, int H, int W, int oy,
                                                        int ox, int k, int s, int p)
{
    int64_t at = -1;
    float best = -INFINITY;
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * s - p + ky;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = ox * s - p + kx;
            if (ix < 0 || ix >= W) continue;
            float v = plane[iy * W + ix];
            if (v > best || at < 0) {
                best = v;
                at = (int64_t)iy * W + ix;
            }
        }
    }
    return at;
}

#endif
