/* k-means (greedy k-means++ seeding, Lloyd iterations, restarts) and GCD's
 * semi-supervised k-means.
 *
 * Results depend only on the data, the options and the seed, never on the
 * thread count: every parallel loop computes values that belong to exactly
 * one iteration (a tile of points, a slice of features), and every sum over
 * points runs serially in index order. */
#include "eval/kmeans.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "unic/rng.h"
#include "base/log.h"
#include "base/util.h"

#define TILE_ROWS 64   /* rows per task of the small-k dot kernel */
#define SGEMM_MIN_K 32 /* from here on OpenBLAS beats the register-tiled kernel */
#define FCHUNK 64      /* features per task when summing clusters */

typedef struct km_data {
    const float *x;  /* [n, d] */
    const float *xn; /* squared norms [n] */
    int64_t n;
    int d;
} km_data;

/* Scratch shared by every restart of one call. */
typedef struct km_work {
    int32_t *labels;  /* [n] */
    int32_t *prev;    /* [n] labels before the latest assignment */
    int64_t *moved;   /* [n] points whose label changed */
    float *dist;      /* [n] squared distance to the assigned centre */
    double *pdist;    /* [n] exact squared distances for the inertia */
    double *sums;     /* [k, d] */
    int64_t *counts;  /* [k] */
    float *cn;        /* [k] centre squared norms */
    float *old;       /* [k, d] centres before the update */
    double *cum;      /* [n] seeding: running potential */
    float *cand;      /* [trials, d] seeding candidates */
    float *cand_n;    /* [trials] */
    int64_t *cand_id; /* [trials] */
    float *cand_d;    /* [trials, n] nearest-centre distance if each candidate were added */
    float *g;         /* [chunk, k] dot products of one chunk of points (sgemm path) */
    int64_t chunk;    /* points per chunk */
    int trials;
} km_work;

static double uniform53(unic_rng *r) { return (double)(unic_rng_u64(r) >> 11) * 0x1.0p-53; }

static void row_norms(const float *x, int64_t n, int d, float *out)
{
#pragma omp parallel for schedule(static) if (n * d > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)xi[j] * xi[j];
        out[i] = (float)s;
    }
}

/* g[m, k] = x[m, d] c[k, d]^T for a few centres: 4 points x 2 centres per
 * pass keep eight vector accumulators in registers. The simd reductions fix
 * the summation order at compile time. */
static void tile_dots(const float *x, int m, int d, const float *c, int k, float *g)
{
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *x0 = x + (size_t)i * d, *x1 = x0 + d, *x2 = x1 + d, *x3 = x2 + d;
        float *g0 = g + (size_t)i * k, *g1 = g0 + k, *g2 = g1 + k, *g3 = g2 + k;
        int j = 0;
        for (; j + 2 <= k; j += 2) {
            const float *c0 = c + (size_t)j * d, *c1 = c0 + d;
            float a00 = 0, a01 = 0, a10 = 0, a11 = 0, a20 = 0, a21 = 0, a30 = 0, a31 = 0;
#pragma omp simd reduction(+ : a00, a01, a10, a11, a20, a21, a30, a31)
            for (int f = 0; f < d; f++) {
                float y0 = c0[f], y1 = c1[f];
                a00 += x0[f] * y0;
                a01 += x0[f] * y1;
                a10 += x1[f] * y0;
                a11 += x1[f] * y1;
                a20 += x2[f] * y0;
                a21 += x2[f] * y1;
                a30 += x3[f] * y0;
                a31 += x3[f] * y1;
            }
            g0[j] = a00, g0[j + 1] = a01;
            g1[j] = a10, g1[j + 1] = a11;
            g2[j] = a20, g2[j + 1] = a21;
            g3[j] = a30, g3[j + 1] = a31;
        }
        if (j < k) {
            const float *c0 = c + (size_t)j * d;
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
            for (int f = 0; f < d; f++) {
                a0 += x0[f] * c0[f];
                a1 += x1[f] * c0[f];
                a2 += x2[f] * c0[f];
                a3 += x3[f] * c0[f];
            }
            g0[j] = a0, g1[j] = a1, g2[j] = a2, g3[j] = a3;
        }
    }
    for (; i < m; i++) {
        const float *xi = x + (size_t)i * d;
        for (int j = 0; j < k; j++) {
            const float *cj = c + (size_t)j * d;
            float a = 0;
#pragma omp simd reduction(+ : a)
            for (int f = 0; f < d; f++) a += xi[f] * cj[f];
            g[(size_t)i * k + j] = a;
        }
    }
}

/* Nearest centre of point i given its dot products gi[k] with the centres
 * (or its pinned centre); writes label and squared distance, returns 1 if
 * the label changed. */
static inline int nearest(const km_data *D, int64_t i, const float *gi, const float *cn, int k,
                          const int32_t *fixed, int32_t *labels, float *dist)
{
    int best;
    float bv;
    if (fixed && fixed[i] >= 0) {
        best = fixed[i];
        bv = cn[best] - 2.0f * gi[best];
    } else {
        best = 0;
        bv = cn[0] - 2.0f * gi[0];
        for (int j = 1; j < k; j++) {
            float v = cn[j] - 2.0f * gi[j];
            if (v < bv) bv = v, best = j;
        }
    }
    float dd = D->xn[i] + bv;
    dist[i] = dd > 0 ? dd : 0;
    int changed = labels[i] != best;
    labels[i] = best;
    return changed;
}

/* Nearest of k centres for every point, from ||x||^2 - 2 x.c + ||c||^2.
 * fixed (may be NULL) pins point i to centre fixed[i] when >= 0. Writes
 * labels and squared distances; returns how many labels changed.
 *
 * Few centres (k-means on 10 classes) starve sgemm's kernels; the tiled
 * loop is 2-3x faster there and runs in one parallel region. Many centres
 * go to OpenBLAS, called from outside any parallel region: its OpenMP build
 * re-sizes its thread buffers on every call made from inside one, which
 * costs more than the product. OpenBLAS splits only rows and columns
 * across threads, so each dot product is the same whatever the thread
 * count. */
static int64_t assign_points(const km_data *D, const float *c, const float *cn, int k,
                             const int32_t *fixed, int32_t *labels, float *dist, km_work *w)
{
    const int d = D->d;
    int64_t changed = 0;
    if (k < SGEMM_MIN_K) {
        const int64_t tiles = (D->n + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel reduction(+ : changed) if (tiles > 1 && D->n * k * d > 65536)
        {
            float g[TILE_ROWS * SGEMM_MIN_K];
#pragma omp for schedule(dynamic, 2)
            for (int64_t t = 0; t < tiles; t++) {
                const int64_t i0 = t * TILE_ROWS;
                const int m = (int)(D->n - i0 < TILE_ROWS ? D->n - i0 : TILE_ROWS);
                tile_dots(D->x + (size_t)i0 * d, m, d, c, k, g);
                for (int r = 0; r < m; r++)
                    changed += nearest(D, i0 + r, g + (size_t)r * k, cn, k, fixed, labels, dist);
            }
        }
        return changed;
    }
    for (int64_t i0 = 0; i0 < D->n; i0 += w->chunk) {
        const int64_t m = D->n - i0 < w->chunk ? D->n - i0 : w->chunk;
        const float *g = w->g;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, k, d, 1.0f,
                    D->x + (size_t)i0 * d, d, c, d, 0.0f, w->g, k);
#pragma omp parallel for schedule(static) reduction(+ : changed) if (m * k > 16384)
        for (int64_t r = 0; r < m; r++)
            changed += nearest(D, i0 + r, g + (size_t)r * k, cn, k, fixed, labels, dist);
    }
    return changed;
}

/* Per-cluster sums in double. Each feature slice is summed by one thread over
 * the points in index order, which fixes the rounding. */
static void cluster_sums(const km_data *D, const int32_t *labels, int k, double *sums,
                         int64_t *counts)
{
    const int d = D->d, nchunks = (d + FCHUNK - 1) / FCHUNK;
    memset(sums, 0, (size_t)k * d * sizeof(double));
    memset(counts, 0, (size_t)k * sizeof(int64_t));
    for (int64_t i = 0; i < D->n; i++) counts[labels[i]]++;
#pragma omp parallel for schedule(static) if (nchunks > 1 && D->n * d > 65536)
    for (int ch = 0; ch < nchunks; ch++) {
        int j0 = ch * FCHUNK, j1 = j0 + FCHUNK < d ? j0 + FCHUNK : d;
        for (int64_t i = 0; i < D->n; i++) {
            double *s = sums + (size_t)labels[i] * d;
            const float *xi = D->x + (size_t)i * d;
            for (int j = j0; j < j1; j++) s[j] += xi[j];
        }
    }
}

/* Moves the points whose label went from prev to labels between the
 * cluster sums: once few points move this is far cheaper than summing
 * afresh. Each feature slice is again updated by one thread, point by point
 * in index order. */
static void move_points(const km_data *D, const int32_t *prev, const int32_t *labels,
                        km_work *w)
{
    const int d = D->d, nchunks = (d + FCHUNK - 1) / FCHUNK;
    int64_t nm = 0;
    for (int64_t i = 0; i < D->n; i++)
        if (prev[i] != labels[i]) {
            w->moved[nm++] = i;
            w->counts[prev[i]]--;
            w->counts[labels[i]]++;
        }
    const int64_t *moved = w->moved;
    double *sums = w->sums;
#pragma omp parallel for schedule(static) if (nchunks > 1 && nm * d > 65536)
    for (int ch = 0; ch < nchunks; ch++) {
        int j0 = ch * FCHUNK, j1 = j0 + FCHUNK < d ? j0 + FCHUNK : d;
        for (int64_t q = 0; q < nm; q++) {
            int64_t i = moved[q];
            double *from = sums + (size_t)prev[i] * d, *to = sums + (size_t)labels[i] * d;
            const float *xi = D->x + (size_t)i * d;
            for (int j = j0; j < j1; j++) {
                from[j] -= xi[j];
                to[j] += xi[j];
            }
        }
    }
}

/* sklearn gives an empty cluster the point farthest from its centre. Only
 * free points (not pinned by fixed) from clusters with more than one point
 * can move, so no other cluster empties. */
static void reseed_empty(const km_data *D, const int32_t *fixed, int k, km_work *w)
{
    const int d = D->d;
    for (int e = 0; e < k; e++) {
        if (w->counts[e] != 0) continue;
        int64_t far = -1;
        for (int64_t i = 0; i < D->n; i++) {
            if ((fixed && fixed[i] >= 0) || w->counts[w->labels[i]] < 2) continue;
            if (far < 0 || w->dist[i] > w->dist[far]) far = i;
        }
        if (far < 0) continue; /* nothing can move: the centre stays where it was */
        const float *xf = D->x + (size_t)far * d;
        double *from = w->sums + (size_t)w->labels[far] * d, *to = w->sums + (size_t)e * d;
        for (int j = 0; j < d; j++) {
            from[j] -= xf[j];
            to[j] = xf[j];
        }
        w->counts[w->labels[far]]--;
        w->counts[e] = 1;
        w->labels[far] = e;
        w->dist[far] = 0;
    }
}

/* New centres from the cluster sums, which match the current labels;
 * returns the summed squared shift. */
static double update_centres(const km_data *D, const int32_t *fixed, int k, float *c, km_work *w)
{
    const int d = D->d;
    reseed_empty(D, fixed, k, w);
    memcpy(w->old, c, (size_t)k * d * sizeof(float));
    double shift = 0;
    for (int j = 0; j < k; j++) {
        if (w->counts[j] == 0) continue;
        double inv = 1.0 / (double)w->counts[j];
        for (int f = 0; f < d; f++) {
            size_t at = (size_t)j * d + f;
            c[at] = (float)(w->sums[at] * inv);
            double diff = (double)c[at] - w->old[at];
            shift += diff * diff;
        }
    }
    return shift;
}

/* Sum of squared distances computed directly (not via the norm expansion),
 * per point in parallel, then added in index order. */
static double exact_inertia(const km_data *D, const float *c, const int32_t *labels, double *pd)
{
    const int d = D->d;
#pragma omp parallel for schedule(static) if (D->n * d > 65536)
    for (int64_t i = 0; i < D->n; i++) {
        const float *xi = D->x + (size_t)i * d, *ci = c + (size_t)labels[i] * d;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0; /* four chains: the loop can vectorise */
        int j = 0;
        for (; j + 4 <= d; j += 4) {
            double a = (double)xi[j] - ci[j], b = (double)xi[j + 1] - ci[j + 1];
            double e = (double)xi[j + 2] - ci[j + 2], f = (double)xi[j + 3] - ci[j + 3];
            s0 += a * a;
            s1 += b * b;
            s2 += e * e;
            s3 += f * f;
        }
        for (; j < d; j++) {
            double a = (double)xi[j] - ci[j];
            s0 += a * a;
        }
        pd[i] = (s0 + s1) + (s2 + s3);
    }
    double total = 0;
    for (int64_t i = 0; i < D->n; i++) total += pd[i];
    return total;
}

static void centre_norms(const float *c, int k, int d, float *cn) { row_norms(c, k, d, cn); }

/* sklearn's greedy k-means++ over the first npool points of D: centres
 * [0, have) are given; each further one is the best (lowest resulting
 * potential) of w->trials candidates drawn with probability proportional to
 * the squared distance to the nearest centre so far. */
static void kpp_seed(const km_data *D, int64_t npool, float *c, int have, int k, unic_rng *rng,
                     km_work *w)
{
    const int d = D->d, T = w->trials;
    const km_data P = {D->x, D->xn, npool, d};
    float *closest = w->dist; /* nearest-centre distances of the pool */
    int64_t first = -1;
    if (have == 0) {
        first = (int64_t)unic_rng_below(rng, (uint64_t)npool);
        memcpy(c, D->x + (size_t)first * d, (size_t)d * sizeof(float));
        have = 1;
    }
    if (have >= k) return;
    centre_norms(c, have, d, w->cn);
    for (int64_t i = 0; i < npool; i++) w->labels[i] = -1;
    assign_points(&P, c, w->cn, have, NULL, w->labels, closest, w);
    /* The norm expansion leaves rounding residue on a point's distance to
     * itself; a chosen point must not be drawn again. */
    if (first >= 0) closest[first] = 0;

    for (int next = have; next < k; next++) {
        double pot = 0;
        for (int64_t i = 0; i < npool; i++) w->cum[i] = pot += closest[i];
        for (int t = 0; t < T; t++) {
            int64_t id;
            if (pot > 0) {
                /* First point whose running potential exceeds the draw: never
                 * one already sitting on a centre. */
                double r = uniform53(rng) * pot;
                int64_t lo = 0, hi = npool - 1;
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (w->cum[mid] > r)
                        hi = mid;
                    else
                        lo = mid + 1;
                }
                id = lo;
            } else {
                id = (int64_t)unic_rng_below(rng, (uint64_t)npool); /* all points on centres */
            }
            w->cand_id[t] = id;
            memcpy(w->cand + (size_t)t * d, D->x + (size_t)id * d, (size_t)d * sizeof(float));
        }
        centre_norms(w->cand, T, d, w->cand_n);

        /* T < SGEMM_MIN_K always (T <= 2 + log(2^31)): the tiled kernel. */
        const int64_t tiles = (npool + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel if (tiles > 1 && npool * T * d > 65536)
        {
            float g[TILE_ROWS * SGEMM_MIN_K];
#pragma omp for schedule(dynamic, 2)
            for (int64_t tl = 0; tl < tiles; tl++) {
                const int64_t i0 = tl * TILE_ROWS;
                const int m = (int)(npool - i0 < TILE_ROWS ? npool - i0 : TILE_ROWS);
                tile_dots(D->x + (size_t)i0 * d, m, d, w->cand, T, g);
                for (int r = 0; r < m; r++)
                    for (int t = 0; t < T; t++) {
                        float dd = D->xn[i0 + r] + w->cand_n[t] - 2.0f * g[r * T + t];
                        if (dd < 0) dd = 0;
                        float cl = closest[i0 + r];
                        w->cand_d[(size_t)t * npool + i0 + r] = dd < cl ? dd : cl;
                    }
            }
        }

        int best = 0;
        double best_pot = INFINITY;
        for (int t = 0; t < T; t++) {
            const float *ct = w->cand_d + (size_t)t * npool;
            double p = 0;
            for (int64_t i = 0; i < npool; i++) p += ct[i];
            if (p < best_pot) best_pot = p, best = t;
        }
        memcpy(closest, w->cand_d + (size_t)best * npool, (size_t)npool * sizeof(float));
        closest[w->cand_id[best]] = 0;
        memcpy(c + (size_t)next * d, w->cand + (size_t)best * d, (size_t)d * sizeof(float));
    }
}

/* Lloyd iterations from the centres in c until the labels stop changing,
 * the centre shift falls to tol_abs, or max_iter updates. Leaves labels
 * consistent with the final centres and returns their exact inertia. */
static double lloyd(const km_data *D, const int32_t *fixed, int k, int max_iter, double tol_abs,
                    float *c, km_work *w)
{
    for (int64_t i = 0; i < D->n; i++) w->labels[i] = -1;
    centre_norms(c, k, D->d, w->cn);
    assign_points(D, c, w->cn, k, fixed, w->labels, w->dist, w);
    cluster_sums(D, w->labels, k, w->sums, w->counts);
    for (int it = 0; it < max_iter; it++) {
        double shift = update_centres(D, fixed, k, c, w);
        centre_norms(c, k, D->d, w->cn);
        memcpy(w->prev, w->labels, (size_t)D->n * sizeof(int32_t));
        int64_t changed = assign_points(D, c, w->cn, k, fixed, w->labels, w->dist, w);
        if (changed == 0 || shift <= tol_abs) break;
        /* A move costs two updates where a fresh sum costs one per point. */
        if (2 * changed > D->n)
            cluster_sums(D, w->labels, k, w->sums, w->counts);
        else
            move_points(D, w->prev, w->labels, w);
    }
    return exact_inertia(D, c, w->labels, w->pdist);
}

/* sklearn's tolerance scale: the mean over features of the variance. */
static double mean_feature_variance(const km_data *D)
{
    const int d = D->d, nchunks = (d + FCHUNK - 1) / FCHUNK;
    double *mean = unic_xcalloc((size_t)d, sizeof(double));
    double *var = unic_xcalloc((size_t)d, sizeof(double));
#pragma omp parallel for schedule(static) if (nchunks > 1 && D->n * d > 65536)
    for (int ch = 0; ch < nchunks; ch++) {
        int j0 = ch * FCHUNK, j1 = j0 + FCHUNK < d ? j0 + FCHUNK : d;
        for (int64_t i = 0; i < D->n; i++)
            for (int j = j0; j < j1; j++) mean[j] += D->x[(size_t)i * d + j];
        for (int j = j0; j < j1; j++) mean[j] /= (double)D->n;
        for (int64_t i = 0; i < D->n; i++)
            for (int j = j0; j < j1; j++) {
                double a = D->x[(size_t)i * d + j] - mean[j];
                var[j] += a * a;
            }
    }
    double total = 0;
    for (int j = 0; j < d; j++) total += var[j] / (double)D->n;
    unic_xfree(mean);
    unic_xfree(var);
    return total / d;
}

static void work_init(km_work *w, int64_t n, int d, int k)
{
    w->trials = 2 + (int)log((double)k); /* sklearn's number of local trials */
    w->labels = unic_xmalloc((size_t)n * sizeof(int32_t));
    w->prev = unic_xmalloc((size_t)n * sizeof(int32_t));
    w->moved = unic_xmalloc((size_t)n * sizeof(int64_t));
    w->dist = unic_xmalloc((size_t)n * sizeof(float));
    w->pdist = unic_xmalloc((size_t)n * sizeof(double));
    w->sums = unic_xmalloc((size_t)k * d * sizeof(double));
    w->counts = unic_xmalloc((size_t)k * sizeof(int64_t));
    w->cn = unic_xmalloc((size_t)k * sizeof(float));
    w->old = unic_xmalloc((size_t)k * d * sizeof(float));
    w->cum = unic_xmalloc((size_t)n * sizeof(double));
    w->cand = unic_xmalloc((size_t)w->trials * d * sizeof(float));
    w->cand_n = unic_xmalloc((size_t)w->trials * sizeof(float));
    w->cand_id = unic_xmalloc((size_t)w->trials * sizeof(int64_t));
    w->cand_d = unic_xmalloc((size_t)w->trials * n * sizeof(float));
    w->chunk = ((int64_t)1 << 22) / k; /* keeps g at 16 MB */
    if (w->chunk > 8192) w->chunk = 8192;
    if (w->chunk < 64) w->chunk = 64;
    w->g = k >= SGEMM_MIN_K ? unic_xmalloc((size_t)w->chunk * k * sizeof(float)) : NULL;
}

static void work_free(km_work *w)
{
    unic_xfree(w->labels);
    unic_xfree(w->prev);
    unic_xfree(w->moved);
    unic_xfree(w->dist);
    unic_xfree(w->pdist);
    unic_xfree(w->sums);
    unic_xfree(w->counts);
    unic_xfree(w->cn);
    unic_xfree(w->old);
    unic_xfree(w->cum);
    unic_xfree(w->cand);
    unic_xfree(w->cand_n);
    unic_xfree(w->cand_id);
    unic_xfree(w->cand_d);
    unic_xfree(w->g);
}

static int opts_ok(const unic_kmeans_opts *o, int d)
{
    return o && o->k >= 1 && o->restarts >= 1 && o->max_iter >= 1 && d >= 1 &&
           (!o->init || (o->init_k >= 1 && o->init_k <= o->k));
}

double unic_kmeans(const float *x, int64_t n, int d, const unic_kmeans_opts *o, int32_t *assign,
                   float *centers)
{
    if (!x || !assign || !opts_ok(o, d) || n < o->k) return -1;
    const int k = o->k;
    float *xn = NULL;
    if (!o->sq_norms) {
        xn = unic_xmalloc((size_t)n * sizeof(float));
        row_norms(x, n, d, xn);
    }
    const km_data D = {x, o->sq_norms ? o->sq_norms : xn, n, d};
    const double tol_abs = (o->tol > 0 ? o->tol : 0) * mean_feature_variance(&D);

    km_work w;
    work_init(&w, n, d, k);
    float *c = unic_xmalloc((size_t)k * d * sizeof(float));
    double best = INFINITY;
    unic_progress prog;
    unic_progress_start(&prog, "k-means", o->restarts);
    prog.unit = "restarts";
    for (int r = 0; r < o->restarts; r++) {
        unic_rng rng = unic_rng_stream(o->seed, (uint64_t)r, 0);
        int have = r == 0 && o->init ? o->init_k : 0;
        if (have) memcpy(c, o->init, (size_t)have * d * sizeof(float));
        kpp_seed(&D, n, c, have, k, &rng, &w);
        double inertia = lloyd(&D, NULL, k, o->max_iter, tol_abs, c, &w);
        if (inertia < best) { /* ties keep the earlier restart */
            best = inertia;
            memcpy(assign, w.labels, (size_t)n * sizeof(int32_t));
            if (centers) memcpy(centers, c, (size_t)k * d * sizeof(float));
        }
        unic_progress_update(&prog, r + 1);
    }
    if (prog.tty) unic_progress_end(&prog); /* the caller logs the result */
    unic_xfree(c);
    work_free(&w);
    unic_xfree(xn);
    return isfinite(best) ? best : -1; /* NaN or infinite data */
}

double unic_ss_kmeans(const float *x, int64_t n, int d, const int32_t *labels, int n_old,
                      const unic_kmeans_opts *o, int32_t *assign, float *centers)
{
    if (!x || !labels || !assign || !opts_ok(o, d) || n < o->k || n_old < 0 || n_old > o->k ||
        (o->init && o->init_k < n_old))
        return -1;
    const int k = o->k;
    int64_t n_u = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < -1 || labels[i] >= n_old) return -1;
        n_u += labels[i] < 0;
    }
    int64_t *class_count = unic_xcalloc((size_t)n_old + 1, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        if (labels[i] >= 0) class_count[labels[i]]++;
    int present = 0;
    for (int c = 0; c < n_old; c++) present += class_count[c] > 0;
    /* Centres without labeled points (free ones, and old classes nobody
     * labeled) are seeded from distinct unlabeled points. */
    if (n_u < k - present) {
        unic_xfree(class_count);
        return -1;
    }

    /* A normalised copy with the unlabeled points first, so that seeding
     * works on a contiguous prefix; perm maps rows back to the caller's. */
    float *xs = unic_xmalloc((size_t)n * d * sizeof(float));
    int64_t *perm = unic_xmalloc((size_t)n * sizeof(int64_t));
    int32_t *fixed = unic_xmalloc((size_t)n * sizeof(int32_t));
    int64_t nu_at = 0, nl_at = n_u;
    for (int64_t i = 0; i < n; i++) {
        int64_t at = labels[i] < 0 ? nu_at++ : nl_at++;
        perm[at] = i;
        fixed[at] = labels[i];
    }
#pragma omp parallel for schedule(static) if (n * d > 65536)
    for (int64_t at = 0; at < n; at++) {
        const float *src = x + (size_t)perm[at] * d;
        float *dst = xs + (size_t)at * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)src[j] * src[j];
        double inv = 1.0 / fmax(sqrt(s), 1e-12); /* torch's F.normalize eps */
        for (int j = 0; j < d; j++) dst[j] = (float)(src[j] * inv);
    }
    float *xn = unic_xmalloc((size_t)n * sizeof(float));
    row_norms(xs, n, d, xn);
    const km_data D = {xs, xn, n, d};
    const double tol_abs = (o->tol > 0 ? o->tol : 0) * mean_feature_variance(&D);

    km_work w;
    work_init(&w, n, d, k);

    /* Labeled class means, the same for every restart. */
    float *means = unic_xcalloc((size_t)(n_old ? n_old : 1) * d, sizeof(float));
    if (n_old > 0 && n > n_u) {
        const km_data L = {xs + (size_t)n_u * d, xn + n_u, n - n_u, d};
        double *sums = unic_xmalloc((size_t)n_old * d * sizeof(double));
        int64_t *counts = unic_xmalloc((size_t)n_old * sizeof(int64_t));
        cluster_sums(&L, fixed + n_u, n_old, sums, counts);
        for (int c = 0; c < n_old; c++)
            for (int j = 0; j < d && counts[c]; j++)
                means[(size_t)c * d + j] = (float)(sums[(size_t)c * d + j] / (double)counts[c]);
        unic_xfree(sums);
        unic_xfree(counts);
    }
    /* slot[j]: the centre index that seeding position j fills. Present
     * classes come first (given), then absent old classes, then the free
     * centres n_old..k-1. */
    int *slot = unic_xmalloc((size_t)k * sizeof(int));
    int ns = 0;
    for (int c = 0; c < n_old; c++)
        if (class_count[c] > 0) slot[ns++] = c;
    for (int c = 0; c < n_old; c++)
        if (class_count[c] == 0) slot[ns++] = c;
    for (int c = n_old; c < k; c++) slot[ns++] = c;

    float *seeds = unic_xmalloc((size_t)k * d * sizeof(float));
    float *c = unic_xmalloc((size_t)k * d * sizeof(float));
    int32_t *best_labels = unic_xmalloc((size_t)n * sizeof(int32_t));
    double best = INFINITY;
    unic_progress prog;
    unic_progress_start(&prog, "SS-k-means", o->restarts);
    prog.unit = "restarts";
    for (int r = 0; r < o->restarts; r++) {
        unic_rng rng = unic_rng_stream(o->seed, (uint64_t)r, 0);
        if (r == 0 && o->init) {
            /* warm: the given centres keep their indices, k-means++ adds the rest */
            memcpy(c, o->init, (size_t)o->init_k * d * sizeof(float));
            kpp_seed(&D, n_u, c, o->init_k, k, &rng, &w);
        } else {
            for (int j = 0; j < present; j++)
                memcpy(seeds + (size_t)j * d, means + (size_t)slot[j] * d,
                       (size_t)d * sizeof(float));
            kpp_seed(&D, n_u, seeds, present, k, &rng, &w);
            for (int j = 0; j < k; j++)
                memcpy(c + (size_t)slot[j] * d, seeds + (size_t)j * d, (size_t)d * sizeof(float));
        }
        double inertia = lloyd(&D, fixed, k, o->max_iter, tol_abs, c, &w);
        if (inertia < best) {
            best = inertia;
            memcpy(best_labels, w.labels, (size_t)n * sizeof(int32_t));
            if (centers) memcpy(centers, c, (size_t)k * d * sizeof(float));
        }
        unic_progress_update(&prog, r + 1);
    }
    if (prog.tty) unic_progress_end(&prog);
    if (isfinite(best))
        for (int64_t at = 0; at < n; at++) assign[perm[at]] = best_labels[at];

    unic_xfree(best_labels);
    unic_xfree(c);
    unic_xfree(seeds);
    unic_xfree(slot);
    unic_xfree(means);
    work_free(&w);
    unic_xfree(xn);
    unic_xfree(fixed);
    unic_xfree(perm);
    unic_xfree(xs);
    unic_xfree(class_count);
    return isfinite(best) ? best : -1;
}
