#include "mining/neighbors.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "mining/knn.h"
#include "base/log.h"
#include "report/svgplot.h"
#include "base/util.h"

#define TILE_BUDGET ((size_t)256 << 20) /* bytes of distances per GEMM tile, as in knn.c */
#define RANK_BINS 1000                  /* figure 8's bins over the normalised rank */
#define TOP_RANKS 100                   /* figure 8 (right): exact rates of the first ranks */
#define NEGATIVE_FROM 0.25              /* figure 8 (middle) starts at this normalised rank */
#define MAX_ETA_STEPS 1000              /* threshold axis: every integer up to this many */

/* ---- files ----------------------------------------------------------------- */

typedef struct outfile {
    FILE *f;
    char *data;
    size_t size;
    char path[4096];
} outfile;

/* Text is built in memory and written atomically, so a reader never sees a
 * half-written CSV next to a finished one. */
static int out_open(outfile *o, const char *dir, const char *name, char *err, size_t errlen)
{
    if (snprintf(o->path, sizeof o->path, "%s/%s", dir, name) >= (int)sizeof o->path)
        return unic_errf(err, errlen, "%s: the output folder's path is too long", dir);
    o->data = NULL;
    o->size = 0;
    o->f = open_memstream(&o->data, &o->size);
    if (!o->f) unic_die("out of memory formatting %s", o->path);
    return 0;
}

static int out_close(outfile *o, char *err, size_t errlen)
{
    fclose(o->f);
    int rc = unic_write_file_atomic(o->path, o->data, o->size, err, errlen);
    free(o->data);
    return rc;
}

/* Renders one figure to DIR/STEM.svg. */
static int write_svg(const char *dir, const char *stem, const unic_svg_plot *plots, int nplots,
                     char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s.svg", dir, stem) >= (int)sizeof path)
        return unic_errf(err, errlen, "%s: the output folder's path is too long", dir);
    return unic_svg_write(path, plots, nplots, err, errlen);
}

/* ---- second-order union sizes (eq. 4) per tau1 ----------------------------- */

typedef struct union_stats {
    int tau1;
    int32_t umin, umax;
    /* Cumulative over union sizes umin..u (index u - umin): anchors with a
     * union of at most u, and how many of their tau1 - 1 neighbours (the
     * anchor itself left out) share the anchor's label. */
    int64_t *kept, *same;
} union_stats;

static void union_stats_compute(const int32_t *full, int kmax, int k, const int32_t *labels,
                                int64_t n, union_stats *s)
{
    /* the knn rows are sorted, so the tau1 lists are prefixes; the union
     * needs them as a dense [n, tau1] array */
    int32_t *idx = unic_xmalloc((size_t)n * (size_t)k * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++)
        memcpy(idx + i * k, full + i * kmax, (size_t)k * sizeof(int32_t));
    int32_t *u = unic_xmalloc((size_t)n * sizeof(int32_t));
    unic_union_sizes(idx, n, k, u);
    s->tau1 = k;
    s->umin = INT32_MAX;
    s->umax = 0;
    for (int64_t i = 0; i < n; i++) {
        s->umin = u[i] < s->umin ? u[i] : s->umin;
        s->umax = u[i] > s->umax ? u[i] : s->umax;
    }
    int64_t range = (int64_t)s->umax - s->umin + 1;
    s->kept = unic_xcalloc((size_t)range, sizeof(int64_t));
    s->same = unic_xcalloc((size_t)range, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        int64_t same = 0;
        for (int c = 1; c < k; c++) same += labels[idx[i * k + c]] == labels[i];
        s->kept[u[i] - s->umin]++;
        s->same[u[i] - s->umin] += same;
    }
    for (int64_t b = 1; b < range; b++) {
        s->kept[b] += s->kept[b - 1];
        s->same[b] += s->same[b - 1];
    }
    unic_xfree(idx);
    unic_xfree(u);
}

static void union_stats_free(union_stats *s)
{
    unic_xfree(s->kept);
    unic_xfree(s->same);
}

/* True-positive rate of the neighbours of anchors with union <= eta. The
 * smallest observed union keeps at least one anchor, so it is defined. */
static double kept_tpr(const union_stats *s, int32_t eta)
{
    int64_t b = eta - s->umin;
    return (double)s->same[b] / ((double)s->kept[b] * (s->tau1 - 1));
}

/* Thresholds from the smallest observed union to the largest (or
 * max_union): every integer, or MAX_ETA_STEPS even steps plus the end. */
static int eta_grid(const union_stats *s, int max_union, int32_t **out)
{
    int32_t hi = s->umax;
    if (max_union > 0 && max_union < hi) hi = max_union > s->umin ? max_union : s->umin;
    int32_t range = hi - s->umin, stride = range > MAX_ETA_STEPS ? range / MAX_ETA_STEPS + 1 : 1;
    int32_t *g = unic_xmalloc(sizeof(int32_t) * (size_t)(range / stride + 2));
    int count = 0;
    for (int32_t e = s->umin; e <= hi; e += stride) g[count++] = e;
    if (g[count - 1] != hi) g[count++] = hi;
    *out = g;
    return count;
}

static int write_fig4(const char *dir, const union_stats *s, int64_t n, int max_union, char *err,
                      size_t errlen)
{
    char stem[64], name[96];
    snprintf(stem, sizeof stem, "fig4_union_threshold_tau1-%d", s->tau1);
    snprintf(name, sizeof name, "%s.csv", stem);
    outfile o;
    if (out_open(&o, dir, name, err, errlen) != 0) return -1;
    int32_t *eta;
    int m = eta_grid(s, max_union, &eta);
    double *x = unic_xmalloc(sizeof(double) * (size_t)m * 3), *tpr = x + m, *frac = x + 2 * m;
    fprintf(o.f, "eta,true_positive_rate,kept_fraction,kept_anchors\n");
    for (int i = 0; i < m; i++) {
        int64_t kept = s->kept[eta[i] - s->umin];
        x[i] = eta[i];
        tpr[i] = kept_tpr(s, eta[i]);
        frac[i] = (double)kept / (double)n;
        fprintf(o.f, "%d,%.10g,%.10g,%lld\n", eta[i], tpr[i], frac[i], (long long)kept);
    }
    int rc = out_close(&o, err, errlen);
    char title[128];
    snprintf(title, sizeof title, "True positives by second-order union size (tau1 = %d)",
             s->tau1);
    unic_svg_series series[2] = {{"true-positive rate of kept neighbours", x, tpr, m, NULL, NULL},
                                 {"fraction of the dataset kept", x, frac, m, NULL, NULL}};
    unic_svg_plot plot = {title, "union size threshold eta", "fraction", series, 2,
                          x[0], x[m - 1], 0, 1.02, 0, 0, NULL};
    if (rc == 0) rc = write_svg(dir, stem, &plot, 1, err, errlen);
    unic_xfree(x);
    free(eta);
    return rc;
}

static int write_fig9(const char *dir, const union_stats *st, int ns, int64_t n, int max_union,
                      char *err, size_t errlen)
{
    outfile o;
    if (out_open(&o, dir, "fig9_removed_by_union.csv", err, errlen) != 0) return -1;
    fprintf(o.f, "tau1,eta,removed_fraction,removed_anchors\n");
    unic_svg_series series[UNIC_NEIGHBORS_MAX_TAU1];
    char names[UNIC_NEIGHBORS_MAX_TAU1][32];
    double *xs[UNIC_NEIGHBORS_MAX_TAU1], xmin = 0, xmax = 0;
    for (int t = 0; t < ns; t++) {
        const union_stats *s = &st[t];
        int32_t *eta;
        int m = eta_grid(s, max_union, &eta);
        xs[t] = unic_xmalloc(sizeof(double) * (size_t)m * 2);
        double *y = xs[t] + m;
        for (int i = 0; i < m; i++) {
            int64_t removed = n - s->kept[eta[i] - s->umin];
            xs[t][i] = eta[i];
            y[i] = (double)removed / (double)n;
            fprintf(o.f, "%d,%d,%.10g,%lld\n", s->tau1, eta[i], y[i], (long long)removed);
        }
        xmin = t == 0 || xs[t][0] < xmin ? xs[t][0] : xmin;
        xmax = t == 0 || xs[t][m - 1] > xmax ? xs[t][m - 1] : xmax;
        snprintf(names[t], sizeof names[t], "tau1 = %d", s->tau1);
        series[t] = (unic_svg_series){names[t], xs[t], y, m, NULL, NULL};
        free(eta);
    }
    int rc = out_close(&o, err, errlen);
    unic_svg_plot plot = {"Neighbours removed by union size", "union size threshold eta",
                          "fraction of anchors whose neighbours are removed", series, ns,
                          xmin, xmax, 0, 1.02, 0, 0, NULL};
    if (rc == 0) rc = write_svg(dir, "fig9_removed_by_union", &plot, 1, err, errlen);
    for (int t = 0; t < ns; t++) unic_xfree(xs[t]);
    return rc;
}

/* One row per observed union size u, largest first: cleaning at eta = u
 * removes the anchors above it (x) and leaves lists of this purity (y). */
static int write_fig10(const char *dir, const union_stats *st, int ns, int64_t n, char *err,
                       size_t errlen)
{
    outfile o;
    if (out_open(&o, dir, "fig10_purity_by_removed.csv", err, errlen) != 0) return -1;
    fprintf(o.f, "tau1,union_size,removed_fraction,purity,kept_anchors\n");
    unic_svg_series series[UNIC_NEIGHBORS_MAX_TAU1];
    char names[UNIC_NEIGHBORS_MAX_TAU1][32];
    double *xs[UNIC_NEIGHBORS_MAX_TAU1];
    for (int t = 0; t < ns; t++) {
        const union_stats *s = &st[t];
        int32_t range = s->umax - s->umin + 1;
        xs[t] = unic_xmalloc(sizeof(double) * (size_t)range * 2);
        double *y = xs[t] + range;
        int m = 0;
        for (int32_t u = s->umax; u >= s->umin; u--) {
            int64_t b = u - s->umin;
            if (b > 0 && s->kept[b] == s->kept[b - 1]) continue; /* no anchor has this size */
            xs[t][m] = (double)(n - s->kept[b]) / (double)n;
            y[m] = kept_tpr(s, u);
            fprintf(o.f, "%d,%d,%.10g,%.10g,%lld\n", s->tau1, u, xs[t][m], y[m],
                    (long long)s->kept[b]);
            m++;
        }
        snprintf(names[t], sizeof names[t], "tau1 = %d", s->tau1);
        series[t] = (unic_svg_series){names[t], xs[t], y, m, NULL, NULL};
    }
    int rc = out_close(&o, err, errlen);
    unic_svg_plot plot = {"Neighbour purity by samples removed", "fraction of samples removed",
                          "purity of the kept neighbours", series, ns, 0, 1, 0, 0, 0, 0, NULL};
    if (rc == 0) rc = write_svg(dir, "fig10_purity_by_removed", &plot, 1, err, errlen);
    for (int t = 0; t < ns; t++) unic_xfree(xs[t]);
    return rc;
}

/* ---- figure 8: same-class rate by rank among all other points -------------- */

/* Stable LSD radix sort of m non-negative float bit patterns carrying the
 * other point's label; three passes of 11/11/10 bits. The columns arrive in
 * index order, so stability gives the (distance, index) order of knn.c.
 * Returns whichever label buffer holds the sorted result. */
static const int32_t *radix_sort(uint32_t *key, int32_t *val, uint32_t *key2, int32_t *val2,
                                 int64_t m)
{
    static const int shift[3] = {0, 11, 22};
    static const uint32_t mask[3] = {0x7ff, 0x7ff, 0x3ff};
    int64_t hist[2048];
    for (int pass = 0; pass < 3; pass++) {
        memset(hist, 0, sizeof hist);
        for (int64_t j = 0; j < m; j++) hist[(key[j] >> shift[pass]) & mask[pass]]++;
        /* distances of one scale share their top bits: skip a pass that moves nothing */
        if (hist[(key[0] >> shift[pass]) & mask[pass]] == m) continue;
        int64_t sum = 0;
        for (int b = 0; b <= (int)mask[pass]; b++) {
            int64_t c = hist[b];
            hist[b] = sum;
            sum += c;
        }
        for (int64_t j = 0; j < m; j++) {
            int64_t p = hist[(key[j] >> shift[pass]) & mask[pass]]++;
            key2[p] = key[j];
            val2[p] = val[j];
        }
        uint32_t *tk = key;
        key = key2;
        key2 = tk;
        int32_t *tv = val;
        val = val2;
        val2 = tv;
    }
    return val;
}

/* same[p] (p = 0..n-2): anchors whose (p+1)-th nearest other point shares
 * their label. Distances come from the GEMM form like knn.c's tiles; its
 * float rounding can swap near-ties, which moves nothing measurable in a
 * rate over all anchors, so no exact re-ranking here. */
static void rank_accuracy(const unic_mine_input *in, int64_t *same)
{
    int64_t n = in->n, m = n - 1;
    int threads = omp_get_max_threads();
    int64_t rows = unic_knn_tile_rows(n, TILE_BUDGET);
    float *norms = unic_xmalloc((size_t)n * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *x = in->embeddings + i * in->dim;
        double s = 0;
        for (int c = 0; c < in->dim; c++) s += (double)x[c] * x[c];
        norms[i] = (float)s;
    }
    float *gram = unic_xmalloc((size_t)rows * (size_t)n * sizeof(float));
    uint32_t *keys = unic_xmalloc((size_t)threads * 2 * (size_t)m * sizeof(uint32_t));
    int32_t *vals = unic_xmalloc((size_t)threads * 2 * (size_t)m * sizeof(int32_t));
    int64_t *acc = unic_xcalloc((size_t)threads * (size_t)m, sizeof(int64_t));
    unic_progress prog;
    unic_progress_start(&prog, "ranking all pairs", n);
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        int64_t nr = r0 + rows <= n ? rows : n - r0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)n, in->dim, 1.0f,
                    in->embeddings + r0 * in->dim, in->dim, in->embeddings, in->dim, 0.0f, gram,
                    (int)n);
#pragma omp parallel for schedule(dynamic, 8)
        for (int64_t r = 0; r < nr; r++) {
            int64_t i = r0 + r;
            int t = omp_get_thread_num();
            uint32_t *k1 = keys + (size_t)t * 2 * (size_t)m, *k2 = k1 + m;
            int32_t *v1 = vals + (size_t)t * 2 * (size_t)m, *v2 = v1 + m;
            const float *row = gram + r * n;
            float ni = norms[i];
            int64_t c = 0;
            for (int64_t j = 0; j < n; j++) {
                if (j == i) continue;
                float d = ni + norms[j] - 2.0f * row[j];
                if (!(d > 0.0f)) d = 0.0f; /* rounding below zero; +0 keeps the bits ordered */
                memcpy(&k1[c], &d, sizeof d);
                v1[c++] = in->labels[j];
            }
            const int32_t *sorted = radix_sort(k1, v1, k2, v2, m);
            int64_t *a = acc + (size_t)t * (size_t)m;
            int32_t li = in->labels[i];
            for (int64_t p = 0; p < m; p++) a[p] += sorted[p] == li;
        }
        unic_progress_update(&prog, r0 + nr);
    }
    unic_progress_end(&prog);
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < m; p++) {
        int64_t s = 0;
        for (int t = 0; t < threads; t++) s += acc[(size_t)t * (size_t)m + p];
        same[p] = s;
    }
    unic_xfree(acc);
    unic_xfree(vals);
    unic_xfree(keys);
    unic_xfree(gram);
    unic_xfree(norms);
}

/* The same-class rate of a uniformly random other point: what a miner
 * without any embedding would get (figure 8's dashed line). */
static double random_rate(const int32_t *labels, int64_t n, int classes)
{
    int64_t *count = unic_xcalloc((size_t)classes, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) count[labels[i]]++;
    double pairs = 0;
    for (int c = 0; c < classes; c++) pairs += (double)count[c] * (double)(count[c] - 1);
    unic_xfree(count);
    return pairs / ((double)n * (double)(n - 1));
}

static int write_fig8(const char *dir, const int64_t *same, int64_t n, double rnd, int top,
                      char *err, size_t errlen)
{
    int64_t m = n - 1;
    int bins = m < RANK_BINS ? (int)m : RANK_BINS;
    outfile o;
    if (out_open(&o, dir, "fig8_rank_accuracy.csv", err, errlen) != 0) return -1;
    double *x = unic_xmalloc(sizeof(double) * (size_t)(2 * bins + 2 * top));
    double *y = x + bins, *tx = y + bins, *ty = tx + top;
    fprintf(o.f, "bin,rank_first,rank_last,rank_norm,same_class_rate,random_rate\n");
    for (int b = 0; b < bins; b++) {
        /* positions p with p * bins / m == b */
        int64_t lo = ((int64_t)b * m + bins - 1) / bins;
        int64_t hi = ((int64_t)(b + 1) * m + bins - 1) / bins;
        int64_t s = 0;
        for (int64_t p = lo; p < hi; p++) s += same[p];
        x[b] = ((double)(lo + hi - 1) / 2.0 + 1.0) / (double)m;
        y[b] = (double)s / ((double)n * (double)(hi - lo));
        fprintf(o.f, "%d,%lld,%lld,%.10g,%.10g,%.10g\n", b, (long long)lo + 1, (long long)hi,
                x[b], y[b], rnd);
    }
    int rc = out_close(&o, err, errlen);
    if (rc == 0) rc = out_open(&o, dir, "fig8_rank_accuracy_top.csv", err, errlen);
    if (rc == 0) {
        fprintf(o.f, "rank,same_class_rate\n");
        for (int r = 0; r < top; r++) {
            tx[r] = r + 1;
            ty[r] = (double)same[r] / (double)n;
            fprintf(o.f, "%d,%.10g\n", r + 1, ty[r]);
        }
        rc = out_close(&o, err, errlen);
    }
    int neg = 0; /* the middle panel's bins: the negative range */
    while (neg < bins && x[neg] < NEGATIVE_FROM) neg++;
    if (neg == bins) neg = 0; /* too few points for a range of its own */
    char rnd_name[64], top_title[64];
    snprintf(rnd_name, sizeof rnd_name, "random other point (%.4f)", rnd);
    snprintf(top_title, sizeof top_title, "Positive range (first %d ranks)", top);
    unic_svg_series all = {"same-class rate", x, y, bins, NULL, NULL};
    unic_svg_series negative = {"same-class rate", x + neg, y + neg, bins - neg, NULL, NULL};
    unic_svg_series positive = {"same-class rate", tx, ty, top, NULL, NULL};
    unic_svg_plot plots[3] = {
        {"Neighbour accuracy by rank", "normalised rank among all other points",
         "same-class rate", &all, 1, 0, 1, 0, 1.02, 0, 0, NULL},
        {"Negative range (ranks beyond 25%)", "normalised rank", "same-class rate", &negative, 1,
         x[neg], 1, 0, 0, 1, rnd, rnd_name},
        {top_title, "rank", "same-class rate", &positive, 1, 1, top > 1 ? top : 2, 0, 0, 0, 0,
         NULL}};
    if (rc == 0) rc = write_svg(dir, "fig8_rank_accuracy", plots, 3, err, errlen);
    unic_xfree(x);
    return rc;
}

/* ---- the report ------------------------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int unic_neighbors_report(const char *input, const char *labels, const char *out_dir,
                          const int *tau1, int ntau1, int max_union, char *err, size_t errlen)
{
    if (ntau1 < 1 || ntau1 > UNIC_NEIGHBORS_MAX_TAU1)
        return unic_errf(err, errlen, "neighbors: give 1 to %d values of tau1, got %d",
                         UNIC_NEIGHBORS_MAX_TAU1, ntau1);
    char path[4096], out[4096];
    int folder = is_dir(input);
    if (folder) {
        snprintf(path, sizeof path, "%s/embeddings.safetensors", input);
        if (access(path, R_OK) != 0)
            return unic_errf(err, errlen, "%s is a folder without embeddings.safetensors; pass an "
                             "embeddings file instead (.safetensors with tensors 'embeddings' and "
                             "'labels', .npy or IDX images, with --labels FILE if needed)", input);
    } else
        snprintf(path, sizeof path, "%s", input);
    if (out_dir && *out_dir)
        snprintf(out, sizeof out, "%s", out_dir);
    else if (folder)
        snprintf(out, sizeof out, "%s/neighbors", input);
    else {
        const char *slash = strrchr(input, '/');
        if (slash)
            snprintf(out, sizeof out, "%.*s/neighbors", (int)(slash - input), input);
        else
            snprintf(out, sizeof out, "neighbors");
    }
    int ks[UNIC_NEIGHBORS_MAX_TAU1], nk = 0;
    memcpy(ks, tau1, sizeof(int) * (size_t)ntau1);
    qsort(ks, (size_t)ntau1, sizeof(int), cmp_int);
    for (int t = 0; t < ntau1; t++)
        if (nk == 0 || ks[t] != ks[nk - 1]) ks[nk++] = ks[t];

    unic_dataset d;
    if (unic_dataset_load(path, "embeddings", labels, 0, &d, err, errlen) != 0) return -1;
    int rc = 0;
    if (!d.labels)
        rc = unic_errf(err, errlen, "%s has no 'labels' tensor and no --labels FILE was given; "
                       "the neighbour analyses compare neighbours' true classes", path);
    else if (d.n < 3)
        rc = unic_errf(err, errlen, "%s: %lld items; the neighbour analyses need at least 3",
                       path, (long long)d.n);
    else if (d.item_size > INT_MAX || d.n > INT_MAX)
        rc = unic_errf(err, errlen, "%s: %lld items of %lld values is beyond what the GEMM "
                       "tiles index", path, (long long)d.n, (long long)d.item_size);
    for (int t = 0; rc == 0 && t < nk; t++)
        if (ks[t] < 2 || ks[t] > d.n)
            rc = unic_errf(err, errlen, "tau1 = %d: need 2 <= tau1 <= %lld (the items in %s); "
                           "the list holds the anchor and tau1 - 1 neighbours", ks[t],
                           (long long)d.n, path);
    if (rc == 0) rc = unic_mkdirs(out, err, errlen);
    if (rc != 0) {
        unic_dataset_free(&d);
        return -1;
    }
    int64_t n = d.n;
    unic_mine_input in = {n, (int)d.item_size, d.x, d.labels, NULL, UNIC_CPU};
    double rnd = random_rate(d.labels, n, d.num_classes);
    unic_log(UNIC_LOG_INFO, "neighbors: %s, N=%lld D=%lld, %d classes (random same-class rate "
             "%.4f); writing to %s", path, (long long)n, (long long)d.item_size, d.num_classes,
             rnd, out);

    /* one knn pass at the largest tau1; smaller lists are its prefixes */
    int kmax = ks[nk - 1];
    int32_t *idx = unic_xmalloc((size_t)n * (size_t)kmax * sizeof(int32_t));
    union_stats st[UNIC_NEIGHBORS_MAX_TAU1];
    int nst = 0;
    rc = unic_knn(&in, kmax, idx, NULL, err, errlen);
    for (int t = 0; rc == 0 && t < nk; t++) {
        union_stats_compute(idx, kmax, ks[t], d.labels, n, &st[nst++]);
        const union_stats *s = &st[t];
        unic_log(UNIC_LOG_INFO, "tau1 = %d: union sizes %d..%d; true-positive rate %.4f "
                 "uncleaned", s->tau1, s->umin, s->umax, kept_tpr(s, s->umax));
        rc = write_fig4(out, s, n, max_union, err, errlen);
    }
    unic_xfree(idx);
    if (rc == 0) rc = write_fig9(out, st, nst, n, max_union, err, errlen);
    if (rc == 0) rc = write_fig10(out, st, nst, n, err, errlen);
    for (int t = 0; t < nst; t++) union_stats_free(&st[t]);
    if (rc == 0) {
        int64_t *same = unic_xmalloc(sizeof(int64_t) * (size_t)(n - 1));
        double t0 = unic_now();
        rank_accuracy(&in, same);
        int top = TOP_RANKS > 2 * kmax ? TOP_RANKS : 2 * kmax;
        top = top < n - 1 ? top : (int)(n - 1);
        unic_log(UNIC_LOG_INFO, "ranked all %lld pairs in %.1f s; same-class rate at rank 1 "
                 "%.4f, at rank %lld %.4f", (long long)n * (n - 1), unic_now() - t0,
                 (double)same[0] / (double)n, (long long)(n - 1),
                 (double)same[n - 2] / (double)n);
        rc = write_fig8(out, same, n, rnd, top, err, errlen);
        unic_xfree(same);
    }
    unic_dataset_free(&d);
    return rc;
}

/* ---- the command line ------------------------------------------------------- */

static int parse_tau1(const char *text, int *out, int *count)
{
    *count = 0;
    for (const char *s = text; *s;) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 2 || v > INT_MAX || (*end && *end != ',') ||
            *count == UNIC_NEIGHBORS_MAX_TAU1)
            return -1;
        out[(*count)++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return *count > 0 ? 0 : -1;
}

int unic_neighbors_command(int argc, char **argv)
{
    const char *input = NULL, *labels = NULL, *out = NULL;
    int tau1[UNIC_NEIGHBORS_MAX_TAU1] = {10, 50}, ntau1 = 2, max_union = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--labels") == 0 && more)
            labels = argv[++i];
        else if (strcmp(a, "--out") == 0 && more)
            out = argv[++i];
        else if (strcmp(a, "--tau1") == 0 && more) {
            if (parse_tau1(argv[++i], tau1, &ntau1) != 0) {
                fprintf(stderr, "unic neighbors: --tau1 takes 1 to %d comma-separated integers "
                        ">= 2 (e.g. 10,50), got '%s'\n", UNIC_NEIGHBORS_MAX_TAU1, argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--max-union") == 0 && more) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > INT_MAX) {
                fprintf(stderr, "unic neighbors: --max-union takes a positive integer, got "
                        "'%s'\n", argv[i]);
                return 2;
            }
            max_union = (int)v;
        } else if (strcmp(a, "--quiet") == 0)
            unic_log_set_quiet(1);
        else if (a[0] == '-' || input) {
            fprintf(stderr, "unic neighbors: unexpected argument '%s'\n", a);
            return 2;
        } else
            input = a;
    }
    if (!input) {
        fprintf(stderr, "unic neighbors: missing the embeddings file or run folder\n");
        return 2;
    }
    char err[4096];
    if (unic_neighbors_report(input, labels, out, tau1, ntau1, max_union, err, sizeof err) != 0) {
        fprintf(stderr, "unic neighbors: %s\n", err);
        return 2;
    }
    return 0;
}
