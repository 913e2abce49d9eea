#include "mining/knn_engine.h"

#include <stdio.h>
#include <stdlib.h>

#include "mining/knn.h"
#include "base/limits.h"
#include "base/util.h"

int unic_knn_check_request(const unic_mine_input *in, int k_top, int k_th, char *err,
                           size_t errlen)
{
    if (k_top < 0 || k_th < 0 || k_top > in->n || k_th >= in->n || (k_top == 0 && k_th == 0))
        return unic_errf(err, errlen, "neighbour mining: asked for %d nearest and rank %d among "
                         "only %lld points", k_top, k_th, (long long)in->n);
    return 0;
}

float *unic_knn_row_norms(const unic_mine_input *in, double *norm_max)
{
    float *norms = unic_xmalloc((size_t)in->n * sizeof(float));
    double top = 0;
#pragma omp parallel for schedule(static) reduction(max : top)
    for (int64_t i = 0; i < in->n; i++) {
        const float *x = in->embeddings + i * in->dim;
        double s = 0;
        for (int c = 0; c < in->dim; c++) s += (double)x[c] * x[c];
        norms[i] = (float)s;
        top = norms[i] > top ? norms[i] : top;
    }
    *norm_max = top;
    return norms;
}

/* The GEMM form rounds: |fl(d) - d| <= (D + 8) u (|x|^2 + |y|^2) with u the
 * float32 unit roundoff (dot product of D terms, the norms, two adds), a
 * worst case that real summation orders stay far below. Candidates within
 * twice that of a boundary are re-ranked with exact distances, so the
 * neighbour sets are those of exact arithmetic, ties broken by index. */
double unic_knn_rounding_bound(int dim, double norm_i, double norm_max)
{
    return (dim + 8) * 5.9604644775390625e-08 * (norm_i + norm_max);
}

double unic_knn_exact_sq(const unic_mine_input *in, int64_t i, int64_t j)
{
    const float *x = in->embeddings + i * in->dim, *y = in->embeddings + j * in->dim;
    /* four fixed partial sums: the compiler vectorises them, the order of
     * additions stays the same on every run */
    double acc[4] = {0, 0, 0, 0};
    int c = 0;
    for (; c + 4 <= in->dim; c += 4)
        for (int u = 0; u < 4; u++) {
            double t = (double)x[c + u] - y[c + u];
            acc[u] += t * t;
        }
    for (; c < in->dim; c++) {
        double t = (double)x[c] - y[c];
        acc[0] += t * t;
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

float unic_sq_dist(const unic_mine_input *in, int64_t i, int64_t j)
{
    return i == j ? 0.0f : (float)unic_knn_exact_sq(in, i, j);
}

static int cmp_exact(const void *x, const void *y)
{
    const unic_knn_pair *a = x, *b = y;
    if (a->d != b->d) return a->d < b->d ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

/* Exact distances for the candidates' .j, then the (distance, index) order:
 * a total order, so the result does not depend on the order they came in. */
static void rank_exact(const unic_mine_input *in, int64_t i, unic_knn_pair *c, int64_t m)
{
    for (int64_t q = 0; q < m; q++) c[q].d = unic_knn_exact_sq(in, i, c[q].j);
    qsort(c, (size_t)m, sizeof *c, cmp_exact);
}

static int64_t fallbacks;

int64_t unic_knn_fallbacks(void)
{
    int64_t v;
#pragma omp atomic read
    v = fallbacks;
    return v;
}

/* Every other point of row i, for the fallbacks below. */
static int64_t all_others(const unic_mine_input *in, int64_t i, unic_knn_pair *c)
{
#pragma omp atomic
    fallbacks++;
    int64_t m = 0;
    for (int64_t j = 0; j < in->n; j++)
        if (j != i) c[m++].j = (int32_t)j;
    return m;
}

void unic_knn_finish_top(const unic_mine_input *in, int64_t i, int k, unic_knn_pair *cand,
                         int64_t m, int32_t *idx, float *sq)
{
    if (k > 1) {
        if (m < k - 1) m = all_others(in, i, cand); /* cannot happen within the bound; stay exact */
        rank_exact(in, i, cand, m);
    }
    idx[0] = (int32_t)i;
    if (sq) sq[0] = 0.0f;
    for (int c = 1; c < k; c++) {
        idx[c] = cand[c - 1].j;
        if (sq) sq[c] = (float)cand[c - 1].d;
    }
}

/* Every point whose GEMM distance lies more than 2 bounds below the GEMM
 * k-th is below it in exact arithmetic too, every point more than 2 bounds
 * above is above, and the exact k-th lies in the band between (order
 * statistics move by at most one bound). */
void unic_knn_finish_rank(const unic_mine_input *in, int64_t i, int64_t k, int64_t below,
                          unic_knn_pair *band, int64_t m, float *th, int32_t *th_idx)
{
    rank_exact(in, i, band, m);
    int64_t pos = k - below;
    if (pos < 0 || pos >= m) { /* cannot happen within the bound; stay exact anyway */
        m = all_others(in, i, band);
        rank_exact(in, i, band, m);
        pos = k - 1;
    }
    *th = (float)band[pos].d;
    *th_idx = band[pos].j;
}

void unic_knn_describe(int k_top, int k_th, char *buf, size_t len)
{
    if (k_top > 0 && k_th > 0)
        snprintf(buf, len, "the %d nearest and rank %d", k_top, k_th);
    else if (k_top > 0)
        snprintf(buf, len, "the %d nearest", k_top);
    else
        snprintf(buf, len, "rank %d", k_th);
}

size_t unic_knn_memory_limit(const char **source) { return unic_memory_limit(source); }
