#include "mining/knn.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data/io.h"
#include "mining/knn_engine.h"
#include "mining/knn_gpu.h"
#include "base/hash.h"
#include "base/lock.h"
#include "base/log.h"
#include "ops/ops.h"
#include "base/util.h"

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

/* The k nearest of row i (anchor first), exact. row holds GEMM distances
 * with the anchor at -1; best has room for k pairs, cand for n. */
static void exact_top(const unic_mine_input *in, int64_t i, const float *row, int k, double delta,
                      pair *best, unic_knn_pair *cand, int32_t *idx, float *sq)
{
    int64_t n = in->n;
    int64_t m = 0;
    if (k > 1) {
        top_k(row, n, k, best);
        double hi = best[k - 1].d + 2 * delta;
        for (int64_t j = 0; j < n; j++)
            if (j != i && row[j] <= hi) cand[m++].j = (int32_t)j;
    }
    unic_knn_finish_top(in, i, k, cand, m, idx, sq);
}

/* The k-th smallest of a row's n values. On long rows a sorted sample of
 * 512 values brackets it (with a margin of 4 binomial standard deviations),
 * one pass keeps only the values inside the bracket, and the selection runs
 * on those: about 1.5 passes instead of a copy and a full quickselect. */
static float gemm_kth(const float *row, float *scratch, int64_t n, int64_t k, uint64_t salt)
{
    enum { S = 512 };
    if (salt || n > 4096) {
        float sample[S];
        int64_t stride = n / S;
        for (int q = 0; q < S; q++) sample[q] = row[q * stride + (int64_t)(salt % (uint64_t)stride)];
        double f = (double)k / (double)n, sd = sqrt(f * (1 - f) / S) + 2.0 / S;
        int qlo = (int)floor((f - 4 * sd) * S), qhi = (int)ceil((f + 4 * sd) * S);
        float lo = -INFINITY, hi = INFINITY;
        if (qhi < S - 1) {
            select_nth(sample, S, qhi);
            hi = sample[qhi];
        }
        if (qlo > 0) {
            select_nth(sample, qhi < S - 1 ? qhi : S, qlo); /* below qhi after the first select */
            lo = sample[qlo];
        }
        int64_t below = 0, m = 0;
        for (int64_t j = 0; j < n; j++) { /* branch-free: about a fifth of the values stay */
            float v = row[j];
            below += v < lo;
            scratch[m] = v;
            m += (v >= lo) & (v <= hi);
        }
        if (below <= k && k < below + m) {
            select_nth(scratch, m, k - below);
            return scratch[k - below];
        }
    }
    memcpy(scratch, row, (size_t)n * sizeof(float)); /* the bracket missed: select on all */
    select_nth(scratch, n, k);
    return scratch[k];
}

/* The point at exact rank k of row i: the band around the GEMM k-th goes to
 * the exact re-ranking (knn_engine.c says why that suffices). */
static void exact_rank(const unic_mine_input *in, int64_t i, const float *row, float *scratch,
                       int64_t k, double delta, unic_knn_pair *band, float *th, int32_t *th_idx)
{
    int64_t n = in->n;
    float t = gemm_kth(row, scratch, n, k, in->n > 4096 ? (uint64_t)i : 0);
    double lo = t - 2 * delta, hi = t + 2 * delta;
    int64_t below = 1, m = 0; /* the anchor always ranks first */
    for (int64_t j = 0; j < n; j++) {
        if (j == i) continue;
        if (row[j] < lo)
            below++;
        else if (row[j] <= hi)
            band[m++].j = (int32_t)j;
    }
    unic_knn_finish_rank(in, i, k, below, band, m, th, th_idx);
}

/* 3: a checksum of the data in the metadata. Older files are mined again. */
#define CACHE_VERSION "unic-neighbors-3"

static void cache_path(const unic_mine_input *in, int k_top, int k_th, char *buf, size_t buflen)
{
    uint64_t h = unic_hash_bytes(0x243f6a8885a308d3ULL, in->embeddings,
                                 (size_t)in->n * (size_t)in->dim * sizeof(float));
    int64_t key[4] = {in->n, in->dim, k_top, k_th};
    h = unic_hash_bytes(h, key, sizeof key);
    snprintf(buf, buflen, "%s/neighbors-%016llx.safetensors", in->cache_dir, (unsigned long long)h);
}

/* The cache's four arrays, as stored: name, destination, count, dtype. */
typedef struct cache_part {
    const char *name;
    void *data;
    int64_t count;
    unic_dtype dt;
} cache_part;

static int cache_parts(const unic_mine_input *in, int k_top, int32_t *top_idx, float *top_sq,
                       float *th_sq, int32_t *th_idx, cache_part out[4])
{
    int count = 0;
    if (k_top > 0) {
        out[count++] = (cache_part){"idx", top_idx, in->n * k_top, UNIC_DT_I32};
        if (top_sq) out[count++] = (cache_part){"sq", top_sq, in->n * k_top, UNIC_DT_F32};
    }
    if (th_sq) out[count++] = (cache_part){"th_sq", th_sq, in->n, UNIC_DT_F32};
    if (th_idx) out[count++] = (cache_part){"th_idx", th_idx, in->n, UNIC_DT_I32};
    return count;
}

/* Each part has its own checksum, so a request that reads some of a file's
 * parts checks just those. */
static void cache_checksum(const cache_part *part, char hex[17])
{
    unic_checksum_hex(part->data, (size_t)part->count * 4, hex);
}

/* Index arrays must name points of this input: a flipped bit must not
 * send a sampler outside the embeddings. */
static int cache_indices_valid(const cache_part *parts, int count, int64_t n)
{
    for (int p = 0; p < count; p++) {
        if (parts[p].dt != UNIC_DT_I32) continue;
        const int32_t *v = parts[p].data;
        for (int64_t i = 0; i < parts[p].count; i++)
            if (v[i] < 0 || v[i] >= n) return 0;
    }
    return 1;
}

/* 0: the file held this request's results, checked; 1: no usable file
 * (absent, another version or shape); -1: a damaged file, which the
 * caller reports and replaces. */
static int cache_load(const char *path, const unic_mine_input *in, int k_top, int32_t *top_idx,
                      float *top_sq, int k_th, float *th_sq, int32_t *th_idx, char *why,
                      size_t whylen)
{
    unic_safetensors *st;
    if (access(path, R_OK) != 0) return 1;
    if (unic_safetensors_open(path, &st, why, whylen) != 0) return -1;
    const char *v = unic_safetensors_meta(st, "version");
    int rc = v && strcmp(v, CACHE_VERSION) == 0 ? 0 : 1;
    cache_part parts[4];
    int count = cache_parts(in, k_top, top_idx, top_sq, k_th ? th_sq : NULL,
                            k_th ? th_idx : NULL, parts);
    for (int p = 0; rc == 0 && p < count; p++) {
        const unic_array *a = unic_safetensors_find(st, parts[p].name);
        char key[32], hex[17];
        snprintf(key, sizeof key, "checksum.%s", parts[p].name);
        const char *sum = unic_safetensors_meta(st, key);
        if (!a || a->dtype != parts[p].dt || unic_array_numel(a) != parts[p].count) {
            rc = 1;
            break;
        }
        memcpy(parts[p].data, a->data, (size_t)parts[p].count * 4);
        cache_checksum(&parts[p], hex);
        if (!sum || strcmp(sum, hex) != 0)
            rc = unic_errf(why, whylen, "%s: checksum %s, its data's is %s", parts[p].name,
                           sum ? sum : "missing", hex);
    }
    unic_safetensors_close(st);
    if (rc == 0 && !cache_indices_valid(parts, count, in->n))
        rc = unic_errf(why, whylen, "an index outside [0, %lld)", (long long)in->n);
    return rc;
}

static void cache_save(const char *path, const unic_mine_input *in, int k_top,
                       const int32_t *top_idx, const float *top_sq, int k_th, const float *th_sq,
                       const int32_t *th_idx)
{
    cache_part parts[4];
    int count = cache_parts(in, k_top, (int32_t *)top_idx, (float *)top_sq,
                            k_th ? (float *)th_sq : NULL, k_th ? (int32_t *)th_idx : NULL, parts);
    unic_array t[4];
    char kt[32], kh[32], keys[4][32], sums[4][17];
    const char *meta[7 + 8] = {"version", CACHE_VERSION, "k_top", kt, "k_th", kh};
    int m = 6;
    for (int p = 0; p < count; p++) {
        int per_row = parts[p].name[0] != 't'; /* idx, sq: [n, k_top]; th_*: [n] */
        t[p] = (unic_array){(char *)parts[p].name, parts[p].dt, per_row ? 2 : 1,
                            {in->n, per_row ? k_top : 0}, parts[p].data,
                            (size_t)parts[p].count * 4};
        snprintf(keys[p], sizeof keys[p], "checksum.%s", parts[p].name);
        cache_checksum(&parts[p], sums[p]);
        meta[m++] = keys[p];
        meta[m++] = sums[p];
    }
    meta[m] = NULL;
    snprintf(kt, sizeof kt, "%d", k_top);
    snprintf(kh, sizeof kh, "%d", k_th);
    char err[512];
    if (unic_mkdirs(in->cache_dir, err, sizeof err) != 0 ||
        unic_safetensors_write(path, t, count, (const char *const *)meta, err, sizeof err) != 0)
        unic_log(UNIC_LOG_WARN, "could not cache the neighbours: %s", err);
}

/* The CPU engine: GEMM tiles on OpenBLAS, per-row selection on OpenMP. */
static int cpu_engine(const unic_mine_input *in, const char *what, int k_top, int32_t *top_idx,
                      float *top_sq, int k_th, float *th_sq, int32_t *th_idx, char *err,
                      size_t errlen)
{
    int64_t n = in->n;
    /* memory: O(N*D + N*k + one tile + per-thread rows), checked up front */
    int threads = omp_get_max_threads();
    double mib = 1048576.0;
    size_t row_bytes = (size_t)n * sizeof(float);
    size_t fixed = (size_t)n * (size_t)in->dim * sizeof(float) + row_bytes +
                   (size_t)n * (size_t)(k_top > 0 ? k_top : 0) * 8 + (size_t)n * 8;
    size_t scratch = (size_t)threads * ((size_t)n * (sizeof(float) + sizeof(unic_knn_pair)) +
                                        (size_t)(k_top + 1) * sizeof(pair));
    const char *source;
    size_t limit = unic_knn_memory_limit(&source);
    if (fixed + scratch + row_bytes > limit)
        return unic_errf(err, errlen, "neighbour mining of N=%lld (D=%d) needs at least %.1f MiB "
                         "(embeddings and results %.1f, per-thread scratch %.1f, one tile row "
                         "%.1f) but %.1f MiB is available (%s)", (long long)n, in->dim,
                         (double)(fixed + scratch + row_bytes) / mib, (double)fixed / mib,
                         (double)scratch / mib, (double)row_bytes / mib, (double)limit / mib,
                         source);
    int64_t rows = unic_knn_tile_rows(n, TILE_BUDGET);
    int64_t fit = (int64_t)((limit - fixed - scratch) / row_bytes);
    if (rows > fit) rows = fit;
    unic_log(UNIC_LOG_INFO, "mining %s of N=%lld (D=%d) on the CPU: %.1f MiB (tiles of %lld rows, "
             "%.1f MiB; %s %.0f MiB)", what, (long long)n, in->dim,
             (double)(fixed + scratch + (size_t)rows * row_bytes) / mib, (long long)rows,
             (double)((size_t)rows * row_bytes) / mib, source, (double)limit / mib);
    double norm_max;
    float *norms = unic_knn_row_norms(in, &norm_max);
    float *gram = unic_xmalloc((size_t)rows * row_bytes);
    float *sel = unic_xmalloc((size_t)threads * row_bytes);
    unic_knn_pair *cand = unic_xmalloc((size_t)threads * (size_t)n * sizeof(unic_knn_pair));
    pair *heads = unic_xmalloc((size_t)threads * (size_t)(k_top + 1) * sizeof(pair));
    unic_progress prog;
    unic_progress_start(&prog, "mining", n);
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        int64_t nr = r0 + rows <= n ? rows : n - r0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)n, in->dim, 1.0f,
                    in->embeddings + r0 * in->dim, in->dim, in->embeddings, in->dim, 0.0f, gram,
                    (int)n);
#pragma omp parallel for schedule(dynamic, 16)
        for (int64_t r = 0; r < nr; r++) {
            int64_t i = r0 + r;
            int t = omp_get_thread_num();
            float *row = gram + r * n; /* distances overwrite the Gram row in place */
            float ni = norms[i];
            for (int64_t j = 0; j < n; j++) {
                float d = ni + norms[j] - 2.0f * row[j];
                row[j] = d > 0.0f ? d : 0.0f;
            }
            row[i] = -1.0f; /* the anchor ranks first (eq. 3) */
            double delta = unic_knn_rounding_bound(in->dim, ni, norm_max);
            unic_knn_pair *c = cand + (size_t)t * (size_t)n;
            if (k_th > 0) {
                int32_t idx;
                exact_rank(in, i, row, sel + (size_t)t * (size_t)n, k_th, delta, c, &th_sq[i], &idx);
                if (th_idx) th_idx[i] = idx;
            }
            if (k_top > 0)
                exact_top(in, i, row, k_top, delta, heads + (size_t)t * (size_t)(k_top + 1), c,
                          top_idx + i * k_top, top_sq ? top_sq + i * k_top : NULL);
        }
        unic_progress_update(&prog, r0 + nr);
    }
    unic_progress_end(&prog);
    unic_xfree(sel);
    unic_xfree(cand);
    unic_xfree(heads);
    unic_xfree(gram);
    unic_xfree(norms);
    return 0;
}

/* The requested device unless UNIC_MINE_DEVICE overrides it; 1 for the
 * GPU, 0 for the CPU (also when the GPU was asked for but cannot be used,
 * which the log says), -1 for a bad UNIC_MINE_DEVICE. */
static int use_gpu(unic_device requested, char *err, size_t errlen)
{
    unic_device dev = requested;
    const char *env = getenv("UNIC_MINE_DEVICE");
    if (env && *env) {
        if (strcmp(env, "cpu") != 0 && strcmp(env, "cuda") != 0)
            return unic_errf(err, errlen, "UNIC_MINE_DEVICE=%s: expected cpu or cuda", env);
        dev = strcmp(env, "cuda") == 0 ? UNIC_CUDA : UNIC_CPU;
    }
    if (dev != UNIC_CUDA) return 0;
    if (unic_cuda_available()) return 1;
    unic_log(UNIC_LOG_WARN, "mining on the CPU instead of the GPU: %s",
#ifdef UNIC_WITH_CUDA
             "no CUDA GPU is visible"
#else
             "unic was built without CUDA (nvcc not found)"
#endif
    );
    return 0;
}

/* Mines on the GPU or the CPU engine, with no cache. */
static int mine_now(unic_device dev, const unic_mine_input *in, const char *what, int k_top,
                    int32_t *top_idx, float *top_sq, int k_th, float *th_sq, int32_t *th_idx,
                    char *err, size_t errlen)
{
    int gpu = use_gpu(dev, err, errlen);
    if (gpu < 0) return -1;
    return gpu ? unic_knn_gpu(in, k_top, top_idx, top_sq, k_th, th_sq, th_idx, NULL, err, errlen)
               : cpu_engine(in, what, k_top, top_idx, top_sq, k_th, th_sq, th_idx, err, errlen);
}

/* Both engines return identical results, so the cache serves either. */
int unic_knn_and_kth_on(unic_device dev, const unic_mine_input *in, int k_top, int32_t *top_idx,
                        float *top_sq, int k_th, float *th_sq, int32_t *th_idx, char *err,
                        size_t errlen)
{
    int64_t n = in->n;
    if (unic_knn_check_request(in, k_top, k_th, err, errlen) != 0) return -1;
    char what[96], cache[4096] = "";
    unic_knn_describe(k_top, k_th, what, sizeof what);
    if (!in->cache_dir || !*in->cache_dir)
        return mine_now(dev, in, what, k_top, top_idx, top_sq, k_th, th_sq, th_idx, err, errlen);
    cache_path(in, k_top, k_th, cache, sizeof cache);
    /* One process mines a key while the others wait for its file (grid
     * points sharing a cache). */
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s.lock", cache);
    if (unic_mkdirs(in->cache_dir, err, errlen) != 0) return -1;
    int lock = unic_lock_take(lock_path, "mining cache", 1, err, errlen);
    if (lock < 0) return -1;
    char why[512] = "";
    int rc = cache_load(cache, in, k_top, top_idx, top_sq, k_th, th_sq, th_idx, why, sizeof why);
    if (rc == 0) {
        unic_log(UNIC_LOG_INFO, "mining %s of N=%lld: cached in %s", what, (long long)n, cache);
    } else {
        if (rc < 0)
            unic_log(UNIC_LOG_WARN, "%s: damaged cache file (%s): discarded, mining again", cache,
                     why);
        rc = mine_now(dev, in, what, k_top, top_idx, top_sq, k_th, th_sq, th_idx, err, errlen);
        if (rc == 0) cache_save(cache, in, k_top, top_idx, top_sq, k_th, th_sq, th_idx);
    }
    unic_lock_release(lock);
    return rc;
}

int unic_knn_and_kth(const unic_mine_input *in, int k_top, int32_t *top_idx, float *top_sq,
                     int k_th, float *th_sq, int32_t *th_idx, char *err, size_t errlen)
{
    return unic_knn_and_kth_on(in->device, in, k_top, top_idx, top_sq, k_th, th_sq, th_idx, err,
                               errlen);
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
