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

/* Moves the k-th smallest value (0-based) to a[k], smaller ones before it,
 * larger after. Values only: the index tie-break is settled afterwards. */
static void select_nth(float *a, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        float x = a[lo], y = a[mid], z = a[hi]; /* median of three */
        float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (pivot < a[j]) j--;
            if (i <= j) {
                float t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

/* The point at rank k of one row by (distance, index): the k-th smallest
 * distance t, then among the points at exactly t the one whose index makes
 * its rank k. */
static void rank_k(const float *d, float *scratch, int64_t n, int64_t k, float *th, int32_t *th_idx)
{
    memcpy(scratch, d, (size_t)n * sizeof(float));
    select_nth(scratch, n, k);
    float t = scratch[k];
    int64_t less = 0;
    for (int64_t j = 0; j < n; j++) less += d[j] < t;
    int64_t want = k - less;
    for (int64_t j = 0; j < n; j++)
        if (d[j] == t && want-- == 0) {
            *th_idx = (int32_t)j;
            break;
        }
    *th = t;
}

/* The k nearest of one row, sorted by (distance, index): one pass that
 * keeps a sorted buffer and rarely inserts once it is full. Columns arrive
 * in index order, so an equal distance never displaces a kept point. */
static void top_k(const float *d, int64_t n, int k, pair *buf)
{
    int filled = 0;
    for (int64_t j = 0; j < n; j++) {
        float v = d[j];
        if (filled == k && !(v < buf[k - 1].d)) continue;
        int pos = filled < k ? filled++ : k - 1;
        while (pos > 0 && v < buf[pos - 1].d) {
            buf[pos] = buf[pos - 1];
            pos--;
        }
        buf[pos].d = v;
        buf[pos].j = (int32_t)j;
    }
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
    size_t scratch_bytes = (size_t)threads * ((size_t)n * sizeof(float) + (size_t)k_top * sizeof(pair));
    char what[96];
    if (k_top > 0 && k_th > 0)
        snprintf(what, sizeof what, "the %d nearest and rank %d", k_top, k_th);
    else if (k_top > 0)
        snprintf(what, sizeof what, "the %d nearest", k_top);
    else
        snprintf(what, sizeof what, "rank %d", k_th);
    unic_log(UNIC_LOG_INFO, "mining %s of N=%lld (D=%d): tiles of %lld rows, %.1f MiB working "
             "memory", what, (long long)n, in->dim, (long long)rows,
             (double)(tile_bytes + scratch_bytes) / 1048576.0);
    float *norms = row_norms(in);
    float *gram = unic_xmalloc(tile_bytes);
    float *scratch = unic_xmalloc((size_t)threads * (size_t)n * sizeof(float));
    pair *heads = unic_xmalloc((size_t)threads * (size_t)(k_top > 0 ? k_top : 1) * sizeof(pair));
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
            float *row = gram + r * n; /* distances overwrite the Gram row in place */
            float ni = norms[i];
            for (int64_t j = 0; j < n; j++) {
                float d = ni + norms[j] - 2.0f * row[j];
                row[j] = d > 0.0f ? d : 0.0f;
            }
            row[i] = -1.0f; /* the anchor ranks first, whatever rounding says */
            if (k_th > 0) {
                float *s = scratch + (size_t)omp_get_thread_num() * (size_t)n;
                rank_k(row, s, n, k_th, &th_sq[i], th_idx ? &th_idx[i] : &(int32_t){0});
            }
            if (k_top > 0) {
                pair *best = heads + (size_t)omp_get_thread_num() * (size_t)k_top;
                top_k(row, n, k_top, best);
                for (int c = 0; c < k_top; c++) {
                    top_idx[i * k_top + c] = best[c].j;
                    if (top_sq) top_sq[i * k_top + c] = best[c].d < 0 ? 0.0f : best[c].d;
                }
            }
        }
        unic_progress_update(&prog, r0 + nr);
    }
    unic_progress_end(&prog);
    unic_xfree(scratch);
    unic_xfree(heads);
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

void unic_union_sizes(const int32_t *idx, int64_t n, int k, int32_t *out)
{
    int threads = omp_get_max_threads();
    int32_t *stamps = unic_xmalloc(sizeof(int32_t) * (size_t)n * (size_t)threads);
    for (int64_t i = 0; i < n * threads; i++) stamps[i] = -1;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        /* a stamp per point instead of a cleared set: no O(n) reset per anchor */
        int32_t *seen = stamps + (size_t)omp_get_thread_num() * (size_t)n;
        int32_t count = 0;
        for (int a = 0; a < k; a++) {
            const int32_t *nb = idx + (size_t)idx[i * k + a] * k;
            for (int b = 0; b < k; b++)
                if (seen[nb[b]] != (int32_t)i) {
                    seen[nb[b]] = (int32_t)i;
                    count++;
                }
        }
        out[i] = count;
    }
    unic_xfree(stamps);
}
