#include "knn.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define TILE_BUDGET ((size_t)256 << 20)

typedef struct pair {
    float d;
    int32_t j;
} pair;

static inline int before(pair a, pair b) { return a.d < b.d || (a.d == b.d && a.j < b.j); }

static inline void swap(pair *a, pair *b)
{
    pair t = *a;
    *a = *b;
    *b = t;
}

/* Moves the k-th smallest (0-based) to a[k], smaller ones before it and
 * larger ones after. Keys are distinct (indices break ties), so a plain
 * Hoare partition around a median of three terminates. */
static void select_nth(pair *a, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        if (before(a[mid], a[lo])) swap(&a[mid], &a[lo]);
        if (before(a[hi], a[lo])) swap(&a[hi], &a[lo]);
        if (before(a[hi], a[mid])) swap(&a[hi], &a[mid]);
        pair pivot = a[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (before(a[i], pivot)) i++;
            while (before(pivot, a[j])) j--;
            if (i <= j) swap(&a[i++], &a[j--]);
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

static int cmp_pair(const void *x, const void *y)
{
    pair a = *(const pair *)x, b = *(const pair *)y;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

int64_t unic_knn_tile_rows(int64_t n, size_t budget_bytes)
{
    int64_t rows = (int64_t)(budget_bytes / ((size_t)n * sizeof(float)));
    if (rows < 64) rows = 64;
    return rows > n ? n : rows;
}

static float *row_norms(const unic_mine_input *in)
{
    float *norms = unic_xmalloc((size_t)in->n * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < in->n; i++) {
        const float *x = in->embeddings + i * in->dim;
        double s = 0;
        for (int c = 0; c < in->dim; c++) s += (double)x[c] * x[c];
        norms[i] = (float)s;
    }
    return norms;
}

float unic_sq_dist(const unic_mine_input *in, int64_t i, int64_t j)
{
    if (i == j) return 0.0f;
    const float *x = in->embeddings + i * in->dim, *y = in->embeddings + j * in->dim;
    double d = 0;
    for (int c = 0; c < in->dim; c++) {
        double t = (double)x[c] - y[c];
        d += t * t;
    }
    return (float)d;
}

int unic_knn_and_kth(const unic_mine_input *in, int k_top, int32_t *top_idx, float *top_sq,
                     int k_th, float *th_sq, int32_t *th_idx, char *err, size_t errlen)
{
    int64_t n = in->n;
    if (k_top > n || k_th >= n)
        return unic_errf(err, errlen, "neighbour mining: asked for %d nearest and rank %d among "
                         "only %lld points", k_top, k_th, (long long)n);
    int64_t rows = unic_knn_tile_rows(n, TILE_BUDGET);
    int threads = omp_get_max_threads();
    size_t tile_bytes = (size_t)rows * (size_t)n * sizeof(float);
    size_t pair_bytes = (size_t)threads * (size_t)n * sizeof(pair);
    char what[96];
    if (k_top > 0 && k_th > 0)
        snprintf(what, sizeof what, "the %d nearest and rank %d", k_top, k_th);
    else if (k_top > 0)
        snprintf(what, sizeof what, "the %d nearest", k_top);
    else
        snprintf(what, sizeof what, "rank %d", k_th);
    unic_log(UNIC_LOG_INFO, "mining %s of N=%lld (D=%d): tiles of %lld rows, %.1f MiB working "
             "memory", what, (long long)n, in->dim, (long long)rows,
             (double)(tile_bytes + pair_bytes) / 1048576.0);
    float *norms = row_norms(in);
    float *gram = unic_xmalloc(tile_bytes);
    pair *scratch = unic_xmalloc(pair_bytes);
    unic_progress prog;
    unic_progress_start(&prog, "mining", n);
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        int64_t nr = r0 + rows <= n ? rows : n - r0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)n, in->dim, 1.0f,
                    in->embeddings + r0 * in->dim, in->dim, in->embeddings, in->dim, 0.0f, gram,
                    (int)n);
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < nr; r++) {
            int64_t i = r0 + r;
            pair *p = scratch + (size_t)omp_get_thread_num() * (size_t)n;
            const float *g = gram + r * n;
            float ni = norms[i];
            for (int64_t j = 0; j < n; j++) {
                float d = ni + norms[j] - 2.0f * g[j];
                p[j].d = d > 0.0f ? d : 0.0f;
                p[j].j = (int32_t)j;
            }
            p[i].d = -1.0f; /* the anchor ranks first, whatever rounding says */
            int64_t top_range = n;
            if (k_th > 0) {
                select_nth(p, n, k_th);
                th_sq[i] = p[k_th].d;
                if (th_idx) th_idx[i] = p[k_th].j;
                top_range = k_th;
            }
            if (k_top > 0) {
                if (k_top < top_range) select_nth(p, top_range, k_top - 1);
                qsort(p, (size_t)k_top, sizeof(pair), cmp_pair);
                for (int c = 0; c < k_top; c++) {
                    top_idx[i * k_top + c] = p[c].j;
                    if (top_sq) top_sq[i * k_top + c] = p[c].d < 0 ? 0.0f : p[c].d;
                }
            }
        }
        unic_progress_update(&prog, r0 + nr);
    }
    unic_progress_end(&prog);
    unic_xfree(scratch);
    unic_xfree(gram);
    unic_xfree(norms);
    return 0;
}

int unic_knn(const unic_mine_input *in, int k, int32_t *idx, float *sq_dist, char *err,
             size_t errlen)
{
    if (k < 1) return unic_errf(err, errlen, "neighbour mining: k must be at least 1, got %d", k);
    return unic_knn_and_kth(in, k, idx, sq_dist, 0, NULL, NULL, err, errlen);
}

int unic_kth_neighbor(const unic_mine_input *in, int k, float *sq_dist, int32_t *idx, char *err,
                      size_t errlen)
{
    if (k < 1) return unic_errf(err, errlen, "neighbour mining: rank must be at least 1, got %d", k);
    return unic_knn_and_kth(in, 0, NULL, NULL, k, sq_dist, idx, err, errlen);
}
