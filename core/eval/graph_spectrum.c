/* Smallest eigenvalues of a kNN graph's normalised Laplacian by
 * Chebyshev-filtered subspace iteration (Zhou and Saad's ChFSI): a block X
 * [n, p] (p a little over the m wanted) is passed through a Chebyshev
 * polynomial of M = I - L/2 (eigenvalues in [0, 1], the largest belonging
 * to L's smallest) that damps [0, b], b the block's smallest Ritz value,
 * then orthonormalised (Cholesky QR, twice) and rotated onto M's Ritz
 * vectors in its span (Rayleigh-Ritz), until the m leading Ritz pairs have
 * small residuals. Against plain powers of M, the polynomial multiplies
 * the wanted directions by ~exp(acosh(...)) per product instead of the
 * ratio of eigenvalues: about ten times fewer products on a kNN graph.
 *
 * Everything runs in double. Products over the n rows are summed per fixed
 * chunk of rows and the chunks added in order, and products that keep the
 * rows apart are tiled by rows, one single-threaded BLAS call per tile: the
 * result does not depend on the thread count. */
#include "eval/graph_spectrum.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "unic/rng.h"

#define CHUNK 1024       /* rows per partial product */
#define DEGREE 8         /* products with M per orthonormalisation (the filter's degree) */
#define MAX_OUTER 3000   /* orthonormalisations before giving up on convergence */
#define RESIDUAL 1e-5    /* ||M x - nu x|| of a converged Ritz pair (its eigenvalue error is ~ the square) */

/* LAPACK (OpenBLAS ships it): eigenvalues and vectors of a symmetric matrix. */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

typedef struct graph {
    int64_t n;
    int64_t *start; /* [n + 1] CSR row starts */
    int32_t *col;   /* neighbours, sorted per row */
    double *val;    /* 1 / sqrt(d_i d_j) */
} graph;

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Each row holds its own list and every list it appears in, then is sorted
 * and made unique; the fills run in index order, so the rows are the same
 * at any thread count. */
static int build_graph(const int32_t *idx, int64_t n, int k, graph *g, char *err, size_t errlen)
{
    int64_t *in = unic_xcalloc((size_t)n + 1, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        for (int t = 0; t < k; t++) {
            int32_t j = idx[(size_t)i * k + t];
            if (j < 0 || j >= n) {
                unic_xfree(in);
                return unic_errf(err, errlen, "neighbour %d of point %lld is outside 0..%lld",
                                 (int)j, (long long)i, (long long)n - 1);
            }
            if (j != i) in[j]++;
        }
    int64_t *cap = unic_xmalloc(((size_t)n + 1) * sizeof(int64_t));
    cap[0] = 0;
    for (int64_t i = 0; i < n; i++) cap[i + 1] = cap[i] + k + in[i];
    int32_t *tmp = unic_xmalloc((size_t)cap[n] * sizeof(int32_t));
    int64_t *fill = unic_xcalloc((size_t)n, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        for (int t = 0; t < k; t++) {
            int32_t j = idx[(size_t)i * k + t];
            if (j == i) continue;
            tmp[cap[i] + fill[i]++] = j;
            tmp[cap[j] + fill[j]++] = (int32_t)i;
        }
    int64_t *len = in; /* reused: unique length per row */
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t i = 0; i < n; i++) {
        int32_t *row = tmp + cap[i];
        qsort(row, (size_t)fill[i], sizeof(int32_t), cmp_i32);
        int64_t u = 0;
        for (int64_t t = 0; t < fill[i]; t++)
            if (u == 0 || row[t] != row[u - 1]) row[u++] = row[t];
        len[i] = u;
    }
    g->n = n;
    g->start = unic_xmalloc(((size_t)n + 1) * sizeof(int64_t));
    g->start[0] = 0;
    for (int64_t i = 0; i < n; i++) g->start[i + 1] = g->start[i] + len[i];
    g->col = unic_xmalloc((size_t)g->start[n] * sizeof(int32_t) + 1);
    g->val = unic_xmalloc((size_t)g->start[n] * sizeof(double) + 1);
    int64_t lonely = -1;
    for (int64_t i = 0; i < n; i++) {
        memcpy(g->col + g->start[i], tmp + cap[i], (size_t)len[i] * sizeof(int32_t));
        if (len[i] == 0 && lonely < 0) lonely = i;
    }
    for (int64_t i = 0; i < n && lonely < 0; i++)
        for (int64_t e = g->start[i]; e < g->start[i + 1]; e++)
            g->val[e] = 1.0 / sqrt((double)len[i] * (double)len[g->col[e]]);
    unic_xfree(tmp);
    unic_xfree(fill);
    unic_xfree(cap);
    unic_xfree(in);
    if (lonely >= 0)
        return unic_errf(err, errlen, "point %lld has no neighbour but itself (k = %d)",
                         (long long)lonely, k);
    return 0;
}

static void free_graph(graph *g)
{
    unic_xfree(g->start);
    unic_xfree(g->col);
    unic_xfree(g->val);
}

/* y = M x = x / 2 + (D^-1/2 W D^-1/2 x) / 2, row by row. */
static void apply_m(const graph *g, const double *x, int p, double *y)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < g->n; i++) {
        double *yi = y + (size_t)i * p;
        const double *xi = x + (size_t)i * p;
        for (int c = 0; c < p; c++) yi[c] = 0.5 * xi[c];
        for (int64_t e = g->start[i]; e < g->start[i + 1]; e++) {
            const double *xj = x + (size_t)g->col[e] * p;
            double w = 0.5 * g->val[e];
            for (int c = 0; c < p; c++) yi[c] += w * xj[c];
        }
    }
}

/* out [p, p] = a^T b over n rows: per-chunk partials, added in chunk order. */
static void gram(const double *a, const double *b, int64_t n, int p, double *out)
{
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
    double *part = unic_xmalloc((size_t)chunks * p * p * sizeof(double));
#pragma omp parallel for schedule(dynamic)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t r0 = c * CHUNK, m = n - r0 < CHUNK ? n - r0 : CHUNK;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, p, (int)m, 1.0,
                    a + (size_t)r0 * p, p, b + (size_t)r0 * p, p, 0.0,
                    part + (size_t)c * p * p, p);
    }
    memset(out, 0, (size_t)p * p * sizeof(double));
    for (int64_t c = 0; c < chunks; c++)
        for (int e = 0; e < p * p; e++) out[e] += part[(size_t)c * p * p + e];
    unic_xfree(part);
}

/* out [n, p] = x [n, p] b [p, p], tiled by rows. */
static void times_small(const double *x, int64_t n, int p, const double *b, double *out)
{
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(dynamic)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t r0 = c * CHUNK, m = n - r0 < CHUNK ? n - r0 : CHUNK;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, p, p, 1.0,
                    x + (size_t)r0 * p, p, b, p, 0.0, out + (size_t)r0 * p, p);
    }
}

/* inv (p x p, upper) = R^-1 for G = R^T R; a tiny shift keeps a nearly
 * dependent block factorable (the second pass restores orthonormality). */
static void cholesky_inverse(double *gm, int p, double *inv)
{
    double trace = 0;
    for (int i = 0; i < p; i++) trace += gm[i * p + i];
    double shift = 1e-14 * (trace > 0 ? trace : 1);
    for (int j = 0; j < p; j++) { /* upper R in place of G's upper triangle */
        for (int i = 0; i <= j; i++) {
            double s = gm[i * p + j] + (i == j ? shift : 0);
            for (int t = 0; t < i; t++) s -= gm[t * p + i] * gm[t * p + j];
            if (i == j)
                gm[j * p + j] = sqrt(s > shift ? s : shift);
            else
                gm[i * p + j] = s / gm[i * p + i];
        }
    }
    memset(inv, 0, (size_t)p * p * sizeof(double));
    for (int j = 0; j < p; j++) { /* columns of R^-1 by back substitution */
        for (int i = j; i >= 0; i--) {
            double s = i == j ? 1.0 : 0.0;
            for (int t = i + 1; t <= j; t++) s -= gm[i * p + t] * inv[t * p + j];
            inv[i * p + j] = s / gm[i * p + i];
        }
    }
}

/* X <- X R^-1 twice (CholeskyQR2). */
static void orthonormalise(double *x, int64_t n, int p, double *tmp, double *gm, double *inv)
{
    for (int pass = 0; pass < 2; pass++) {
        gram(x, x, n, p, gm);
        cholesky_inverse(gm, p, inv);
        times_small(x, n, p, inv, tmp);
        memcpy(x, tmp, (size_t)n * p * sizeof(double));
    }
}

/* Rayleigh-Ritz: X <- X V with V the eigenvectors of X^T M X, largest
 * first; nu gets the Ritz values; returns the largest residual norm of
 * the first m pairs. y holds M X on entry. */
static double rayleigh_ritz(double *x, double *y, int64_t n, int p, int m, double *tmp,
                            double *h, double *nu, double *work, int lwork)
{
    gram(x, y, n, p, h);
    for (int i = 0; i < p; i++) /* symmetric up to rounding */
        for (int j = 0; j < i; j++) h[i * p + j] = h[j * p + i] = 0.5 * (h[i * p + j] + h[j * p + i]);
    int info, np = p;
    double *w = unic_xmalloc((size_t)p * sizeof(double));
    /* row-major symmetric = column-major; eigenvectors come back as columns
     * of the column-major matrix, i.e. rows of h here */
    dsyev_("V", "U", &np, h, &np, w, work, &lwork, &info);
    double *v = unic_xmalloc((size_t)p * p * sizeof(double)); /* v[:, c] = c-th largest */
    for (int c = 0; c < p; c++) {
        int src = p - 1 - c;
        nu[c] = w[src];
        for (int r = 0; r < p; r++) v[r * p + c] = h[(size_t)src * p + r];
    }
    times_small(x, n, p, v, tmp);
    memcpy(x, tmp, (size_t)n * p * sizeof(double));
    times_small(y, n, p, v, tmp); /* M X V */
    double worst = 0;
    double *res = unic_xcalloc((size_t)m, sizeof(double));
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < m; c++) {
            double r = tmp[(size_t)i * p + c] - nu[c] * x[(size_t)i * p + c];
            res[c] += r * r;
        }
    for (int c = 0; c < m; c++)
        if (sqrt(res[c]) > worst) worst = sqrt(res[c]);
    unic_xfree(res);
    unic_xfree(v);
    unic_xfree(w);
    return info == 0 ? worst : INFINITY;
}

/* x <- T_DEGREE scaled to [0, b] applied to x (Zhou-Saad scaling, so no
 * column grows without bound); y and z are scratch. The wanted end is M's
 * largest eigenvalue, 1. */
static void chebyshev_filter(const graph *g, double **x, double **y, double **z, int p, double b)
{
    const double e = b / 2, c = b / 2;
    const size_t len = (size_t)g->n * p;
    double sigma = e / (1.0 - c), tau = 2.0 / sigma;
    apply_m(g, *x, p, *y);
    for (size_t i = 0; i < len; i++) (*y)[i] = ((*y)[i] - c * (*x)[i]) * sigma / e;
    for (int d = 2; d <= DEGREE; d++) {
        double next = 1.0 / (tau - sigma);
        apply_m(g, *y, p, *z);
        double *xp = *x, *yp = *y, *zp = *z;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < len; i++)
            zp[i] = 2.0 * next / e * (zp[i] - c * yp[i]) - sigma * next * xp[i];
        double *t = *x; /* x <- y, y <- z, z free */
        *x = *y;
        *y = *z;
        *z = t;
        sigma = next;
    }
    double *t = *x; /* the result is in y */
    *x = *y;
    *y = t;
}

static int block_size(int64_t n, int m)
{
    int64_t p = m + (m / 4 > 8 ? m / 4 : 8);
    return (int)(p < n ? p : n);
}

size_t unic_knn_laplacian_bytes(int64_t n, int k, int m)
{
    int p = block_size(n, m);
    size_t graph_bytes = (size_t)n * (size_t)(2 * k) * (sizeof(int32_t) * 2 + sizeof(double));
    size_t block = 3 * (size_t)n * p * sizeof(double);
    size_t chunks = (size_t)((n + CHUNK - 1) / CHUNK) * p * p * sizeof(double);
    return graph_bytes + block + chunks + (size_t)n * 4 * sizeof(int64_t);
}

int unic_knn_laplacian_smallest(const int32_t *idx, int64_t n, int k, int m, uint64_t seed,
                                double *eig, char *err, size_t errlen)
{
    if (!idx || n < 2 || k < 2 || m < 1 || m >= n)
        return unic_errf(err, errlen, "the spectrum needs n >= 2 points, k >= 2 neighbours and "
                         "1 <= m < n eigenvalues (n = %lld, k = %d, m = %d)", (long long)n, k, m);
    graph g;
    memset(&g, 0, sizeof g);
    if (build_graph(idx, n, k, &g, err, errlen) != 0) {
        free_graph(&g);
        return -1;
    }
    const int p = block_size(n, m);
    double *x = unic_xmalloc((size_t)n * p * sizeof(double));
    double *y = unic_xmalloc((size_t)n * p * sizeof(double));
    double *tmp = unic_xmalloc((size_t)n * p * sizeof(double));
    double *gm = unic_xmalloc((size_t)p * p * sizeof(double));
    double *inv = unic_xmalloc((size_t)p * p * sizeof(double));
    double *nu = unic_xmalloc((size_t)p * sizeof(double));
    int lwork = 4 * p * p + 64;
    double *work = unic_xmalloc((size_t)lwork * sizeof(double));
    unic_rng rng = unic_rng_stream(seed, 0x5bec, 0);
    for (size_t i = 0; i < (size_t)n * p; i++)
        x[i] = (double)(unic_rng_u64(&rng) >> 11) * 0x1.0p-53 - 0.5;
    orthonormalise(x, n, p, tmp, gm, inv);
    /* one plain product first: the Ritz values it gives place the filter */
    apply_m(&g, x, p, y);
    rayleigh_ritz(x, y, n, p, m, tmp, gm, nu, work, lwork);
    int it = 0;
    for (; it < MAX_OUTER; it++) {
        /* damp everything up to the block's last Ritz value, which lies
         * below the m wanted ones (p > m) */
        double b = nu[p - 1] > 0 ? nu[p - 1] : 0;
        if (b > nu[m - 1] - 1e-12) b = nu[m - 1] - 1e-12; /* stays below the wanted */
        if (b <= 1e-6)
            for (int q = 0; q < 2; q++) { /* nothing to damp below: powers */
                apply_m(&g, x, p, y);
                double *t = x;
                x = y;
                y = t;
            }
        else
            chebyshev_filter(&g, &x, &y, &tmp, p, b);
        orthonormalise(x, n, p, tmp, gm, inv);
        apply_m(&g, x, p, y);
        if (rayleigh_ritz(x, y, n, p, m, tmp, gm, nu, work, lwork) < RESIDUAL) break;
    }
    for (int c = 0; c < m; c++) eig[c] = 2.0 * (1.0 - nu[c]); /* L = 2 (I - M) */
    unic_xfree(x);
    unic_xfree(y);
    unic_xfree(tmp);
    unic_xfree(gm);
    unic_xfree(inv);
    unic_xfree(nu);
    unic_xfree(work);
    free_graph(&g);
    return it + 1;
}
