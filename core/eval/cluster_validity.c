/* Silhouette (cosine) and Calinski-Harabasz from cluster sums. Sums over
 * points run in index order in double, and the one matrix product goes
 * through the CPU GEMM in fixed tiles, so scores do not depend on the
 * thread count. */
#include "eval/cluster_validity.h"

#include <math.h>
#include <string.h>

#include "base/util.h"
#include "ops/ops.h"

#define ROWS 4096 /* points per product with the cluster sums */

/* Cluster sizes and sums (double), summed over points in index order. */
static void sums_of(const float *x, int64_t n, int d, const int32_t *assign, int k, double *sums,
                    int64_t *counts)
{
    memset(sums, 0, (size_t)k * d * sizeof(double));
    memset(counts, 0, (size_t)k * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        double *s = sums + (size_t)assign[i] * d;
        const float *xi = x + (size_t)i * d;
        counts[assign[i]]++;
        for (int j = 0; j < d; j++) s[j] += xi[j];
    }
}

static int used_clusters(const int64_t *counts, int k)
{
    int used = 0;
    for (int c = 0; c < k; c++) used += counts[c] > 0;
    return used;
}

/* s(i) from its dot products g[c] = <x_i, S_c> with every cluster sum. */
static double point_silhouette(const float *xi, int d, int own, const float *g,
                               const int64_t *counts, int k)
{
    if (counts[own] < 2) return 0; /* sklearn: a singleton scores 0 */
    double self = 0;
    for (int j = 0; j < d; j++) self += (double)xi[j] * xi[j];
    double m = (double)counts[own];
    /* sum over the others of (1 - <x_i, x_j>), over |C| - 1 of them */
    double a = ((m - 1) - ((double)g[own] - self)) / (m - 1);
    double b = INFINITY;
    for (int c = 0; c < k; c++) {
        if (c == own || counts[c] == 0) continue;
        double v = 1.0 - (double)g[c] / (double)counts[c];
        if (v < b) b = v;
    }
    if (a < 0) a = 0; /* rounding: distances are at least 0 */
    if (b < 0) b = 0;
    double den = a > b ? a : b;
    return den > 0 ? (b - a) / den : 0;
}

double unic_silhouette_cosine(const float *xs, int64_t n, int d, const int32_t *assign, int k)
{
    double *sums = unic_xmalloc((size_t)k * d * sizeof(double));
    int64_t *counts = unic_xmalloc((size_t)k * sizeof(int64_t));
    sums_of(xs, n, d, assign, k, sums, counts);
    if (used_clusters(counts, k) < 2) {
        unic_xfree(sums);
        unic_xfree(counts);
        return NAN;
    }
    unic_tensor *S = unic_tensor_2d(UNIC_CPU, k, d);
    for (size_t i = 0; i < (size_t)k * d; i++) S->data[i] = (float)sums[i];
    int64_t rows = n < ROWS ? n : ROWS;
    unic_tensor *G = unic_tensor_2d(UNIC_CPU, rows, k);
    double *s = unic_xmalloc((size_t)n * sizeof(double));
    for (int64_t i0 = 0; i0 < n; i0 += ROWS) {
        int64_t m = n - i0 < ROWS ? n - i0 : ROWS;
        unic_tensor X = {(float *)xs + (size_t)i0 * d, {m, d}, 2, UNIC_CPU};
        unic_tensor Gm = {G->data, {m, k}, 2, UNIC_CPU};
        unic_gemm(0, 1, 1.0f, &X, S, 0.0f, &Gm);
#pragma omp parallel for schedule(static) if (m * k > 16384)
        for (int64_t r = 0; r < m; r++)
            s[i0 + r] = point_silhouette(xs + (size_t)(i0 + r) * d, d, assign[i0 + r],
                                         G->data + (size_t)r * k, counts, k);
    }
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += s[i];
    unic_xfree(s);
    unic_tensor_free(G);
    unic_tensor_free(S);
    unic_xfree(sums);
    unic_xfree(counts);
    return total / (double)n;
}

double unic_calinski_harabasz(const float *x, int64_t n, int d, const int32_t *assign, int k)
{
    double *sums = unic_xmalloc((size_t)k * d * sizeof(double));
    int64_t *counts = unic_xmalloc((size_t)k * sizeof(int64_t));
    sums_of(x, n, d, assign, k, sums, counts);
    int used = used_clusters(counts, k);
    double ch = NAN;
    if (used >= 2 && n > used) {
        double *mean = unic_xcalloc((size_t)d, sizeof(double));
        for (int c = 0; c < k; c++)
            for (int j = 0; j < d; j++) mean[j] += sums[(size_t)c * d + j];
        for (int j = 0; j < d; j++) mean[j] /= (double)n;
        double between = 0, within = 0;
        for (int c = 0; c < k; c++) {
            if (!counts[c]) continue;
            for (int j = 0; j < d; j++) {
                double diff = sums[(size_t)c * d + j] / (double)counts[c] - mean[j];
                between += (double)counts[c] * diff * diff;
            }
        }
        for (int64_t i = 0; i < n; i++) {
            const double *s = sums + (size_t)assign[i] * d;
            double inv = 1.0 / (double)counts[assign[i]];
            for (int j = 0; j < d; j++) {
                double diff = (double)x[(size_t)i * d + j] - s[j] * inv;
                within += diff * diff;
            }
        }
        ch = within > 0 ? between * (double)(n - used) / (within * (double)(used - 1)) : 1.0;
        unic_xfree(mean);
    }
    unic_xfree(sums);
    unic_xfree(counts);
    return ch;
}
