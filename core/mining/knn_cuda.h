/* The device half of the GPU mining engine (cuda/knn_cuda.cu), driven by
 * knn_gpu.c: the embeddings and their norms live on the GPU; per block of
 * rows, cuBLAS computes the Gram tile in true fp32 and one thread block per
 * row selects the GEMM distance at a rank (radix selection on the float
 * bits), counts the candidates around it and, on request, writes them out.
 * The exact re-ranking stays on the host (knn_engine.c). Built only with
 * CUDA; CUDA failures other than allocation abort with the call that
 * failed, as in ops_cuda.cu. */
#ifndef UNIC_KNN_CUDA_H
#define UNIC_KNN_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct unic_knn_cuda unic_knn_cuda;

/* The current device's name and memory; -1 with a message if it cannot be
 * queried. */
int unic_knn_cuda_device(char *name, size_t namelen, size_t *free_bytes, size_t *total_bytes,
                         char *err, size_t errlen);

/* Bytes of GPU memory unic_knn_cuda_create takes, without the tile; and per
 * tile row. */
size_t unic_knn_cuda_fixed_bytes(int64_t n, int dim, int64_t cand_cap);
size_t unic_knn_cuda_row_bytes(int64_t n);

/* Uploads x [n, dim] and norms [n] (the host's unic_knn_row_norms, so both
 * engines start from the same floats). Per row i the requests are: the
 * candidates for the nearest list, every other point whose GEMM distance is
 * at most the GEMM value at rank rank_top (anchor at rank 0) plus twice the
 * rounding bound (0: none); and the band, every other point within twice
 * the bound of the GEMM value at rank rank_th (0: none), with the number of
 * points below it. NULL with a message if memory runs out. */
unic_knn_cuda *unic_knn_cuda_create(const float *x, const float *norms, int64_t n, int dim,
                                    double norm_max, int64_t tile_rows, int64_t cand_cap,
                                    int rank_top, int rank_th, char *err, size_t errlen);
void unic_knn_cuda_destroy(unic_knn_cuda *g);

/* Enqueues the tile of rows [r0, r0 + nr) (nr <= tile_rows): the GEMM, the
 * selections and the counts. Returns at once. */
void unic_knn_cuda_select(unic_knn_cuda *g, int64_t r0, int64_t nr);

/* Waits for the last select; per tile row [nr]: the nearest-list
 * candidates, the band's, and the points below the band counting the anchor.
 * Page-locked arrays, overwritten by the next select. */
void unic_knn_cuda_counts(unic_knn_cuda *g, const int32_t **n_top, const int32_t **n_band,
                          const int32_t **below);

/* Writes the candidates of tile rows [a, b) of the last select and waits
 * for them: row q's nearest-list candidates start at offsets[q - a] (then
 * its band), offsets[b - a] <= cand_cap is the total. Indices are in no
 * particular order. The page-locked result stays valid until the next call. */
const int32_t *unic_knn_cuda_collect(unic_knn_cuda *g, int64_t a, int64_t b,
                                     const int64_t *offsets);

#ifdef __cplusplus
}
#endif

#endif
