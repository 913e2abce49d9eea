/* The number-of-classes search: GCD's Brent search over K with labels, a
 * scan over the range with a label-free criterion without. See
 * estimate_k.h for the method; this file only drives the k-means fits and
 * the criteria. */
#include "eval/estimate_k.h"

#include <math.h>
#include <string.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/util.h"
#include "eval/cluster_validity.h"
#include "eval/graph_spectrum.h"
#include "eval/kmeans.h"
#include "eval/metrics.h"
#include "mining/knn.h"
#include "unic/rng.h"

/* Scores within this share of the best count as equal: the estimate is
 * then the smallest such K (the fewest clusters that explain the data as
 * well). Relative, as the criteria live on different scales. */
#define TIE 1e-3
/* GCD: held-out accuracy within this of the best is the same plateau (a
 * few held-out items moving between runs, not a different K). */
#define GCD_PLATEAU 5e-3

static const char *names[UNIC_KEST_COUNT] = {"silhouette", "eigengap", "calinski", "gcd"};

const char *unic_kest_name(unic_kest_criterion c)
{
    return c >= 0 && c < UNIC_KEST_COUNT ? names[c] : "?";
}

int unic_kest_check(const unic_kest_input *in, const unic_kest_opts *o, char *err, size_t errlen)
{
    if (o->k_min < 2)
        return unic_errf(err, errlen, "the smallest K must be at least 2, got %d", o->k_min);
    if (o->k_min > o->k_max)
        return unic_errf(err, errlen, "the range of K is empty: min %d > max %d", o->k_min,
                         o->k_max);
    if (o->k_max > UNIC_MAX_CLASSES)
        return unic_errf(err, errlen, "the largest K, %d, is above UNIC_MAX_CLASSES (%d)",
                         o->k_max, UNIC_MAX_CLASSES);
    if (o->k_max > in->n)
        return unic_errf(err, errlen, "the largest K, %d, is above the %lld items", o->k_max,
                         (long long)in->n);
    if (o->criterion == UNIC_KEST_GCD && !in->labels)
        return unic_errf(err, errlen, "the gcd criterion needs labeled items");
    if (o->criterion == UNIC_KEST_EIGENGAP && o->k_max >= in->n)
        return unic_errf(err, errlen, "the eigengap criterion needs the largest K (%d) below the "
                         "%lld items", o->k_max, (long long)in->n);
    if (o->criterion == UNIC_KEST_EIGENGAP && !in->knn && (o->knn < 2 || o->knn > in->n))
        return unic_errf(err, errlen, "the eigengap criterion needs 2..%lld neighbours per item, "
                         "got %d", (long long)in->n, o->knn);
    if (o->criterion == UNIC_KEST_GCD && !(o->holdout > 0 && o->holdout < 1))
        return unic_errf(err, errlen, "the held-out share must be in (0, 1), got %g", o->holdout);
    if (o->restarts < 1 || o->max_iter < 1)
        return unic_errf(err, errlen, "k-means needs restarts and max_iter of at least 1");
    return 0;
}

/* k-means scratch: per point ~36 bytes, its greedy seeding's candidates
 * (2 + ln k of them) per point, centres and sums per cluster, and the
 * sgemm chunk of at most 16 MB. */
static size_t kmeans_bytes(int64_t n, int d, int k)
{
    size_t trials = 2 + (size_t)log((double)k);
    return (size_t)n * (36 + 4 * trials) + (size_t)k * d * 24 + ((size_t)16 << 20);
}

size_t unic_kest_bytes(int64_t n, int d, const unic_kest_opts *o, int knn_given)
{
    size_t copy = (size_t)n * d * sizeof(float); /* the normalised points */
    size_t labels = (size_t)n * 3 * sizeof(int32_t);
    switch (o->criterion) {
    case UNIC_KEST_EIGENGAP:
        return unic_knn_laplacian_bytes(n, knn_given ? knn_given : o->knn, o->k_max + 1) +
               (knn_given ? 0 : (size_t)n * o->knn * (sizeof(int32_t) + sizeof(float)) + copy);
    case UNIC_KEST_GCD: /* SS-k-means copies and permutes the points; every fit keeps its centres */
        return 2 * copy + 4 * labels + kmeans_bytes(n, d, o->k_max) +
               2 * (size_t)(o->k_max - o->k_min + 1) * o->k_max * d * sizeof(float);
    default: /* two centre sets (this K and the last) */
        return copy + labels + kmeans_bytes(n, d, o->k_max) + 2 * (size_t)o->k_max * d * 4;
    }
}

/* The best score, ties within TIE going to the smaller K, and the best of
 * the others (the runner-up); NaN never wins. */
static void pick(const double *score, int count, int k_min, int *best, int *second)
{
    int b = -1, s = -1;
    for (int i = 0; i < count; i++)
        if (!isnan(score[i]) && (b < 0 || score[i] > score[b] + TIE * fabs(score[b]))) b = i;
    for (int i = 0; i < count; i++)
        if (i != b && !isnan(score[i]) && (s < 0 || score[i] > score[s] + TIE * fabs(score[s])))
            s = i;
    *best = b >= 0 ? k_min + b : 0;
    *second = s >= 0 ? k_min + s : 0;
}

/* ---- label-free: a scan over K -------------------------------------------- */

static float *normalised_copy(const float *x, int64_t n, int d, float *sq)
{
    float *xs = unic_xmalloc((size_t)n * d * sizeof(float));
#pragma omp parallel for schedule(static) if (n * d > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float *src = x + (size_t)i * d;
        float *dst = xs + (size_t)i * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)src[j] * src[j];
        double inv = s > 0 ? 1.0 / sqrt(s) : 0.0;
        double t = 0;
        for (int j = 0; j < d; j++) {
            dst[j] = (float)(src[j] * inv);
            t += (double)dst[j] * dst[j];
        }
        sq[i] = (float)t;
    }
    return xs;
}

/* Spherical k-means for every K from k_min up: each K starts from the
 * previous K's centres plus one k-means++ centre (and fresh restarts), so
 * most of the work of K - 1 is kept. Cosine geometry throughout: the
 * silhouette is on cosine distance and embeddings are compared by angle. */
static int scan_kmeans(const unic_kest_input *in, const unic_kest_opts *o, unic_kest_result *r,
                       char *err, size_t errlen)
{
    const int64_t n = in->n;
    const int d = in->d;
    float *sq = unic_xmalloc((size_t)n * sizeof(float));
    float *xs = normalised_copy(in->x, n, d, sq);
    int32_t *assign = unic_xmalloc((size_t)n * sizeof(int32_t));
    float *prev = unic_xmalloc((size_t)o->k_max * d * sizeof(float));
    float *cur = unic_xmalloc((size_t)o->k_max * d * sizeof(float));
    int rc = 0;
    for (int k = o->k_min; k <= o->k_max && rc == 0; k++) {
        unic_kmeans_opts km = {k, o->restarts, o->max_iter, o->tol, o->seed + (uint64_t)k,
                               k > o->k_min ? prev : NULL, k - 1, sq};
        double t0 = unic_now();
        if (unic_kmeans(xs, n, d, &km, assign, cur) < 0) {
            rc = unic_errf(err, errlen, "k-means failed at K = %d (non-finite embeddings?)", k);
            break;
        }
        r->evaluations += o->restarts;
        double s = o->criterion == UNIC_KEST_SILHOUETTE
                       ? unic_silhouette_cosine(xs, n, d, assign, k)
                       : unic_calinski_harabasz(xs, n, d, assign, k);
        r->score[k - o->k_min] = s;
        unic_log(UNIC_LOG_DEBUG, "estimate-k: K = %d %s %.6f (%.2f s)", k,
                 unic_kest_name(o->criterion), s, unic_now() - t0);
        float *t = prev;
        prev = cur;
        cur = t;
    }
    unic_xfree(cur);
    unic_xfree(prev);
    unic_xfree(assign);
    unic_xfree(xs);
    unic_xfree(sq);
    return rc;
}

/* ---- label-free: the eigengap of the mined neighbour graph ---------------- */

static int eigengap(const unic_kest_input *in, const unic_kest_opts *o, unic_kest_result *r,
                    char *err, size_t errlen)
{
    const int32_t *idx = in->knn;
    int k = in->knn_k;
    int32_t *mined = NULL;
    if (!idx) { /* nothing mined yet: mine here (the cache may still have it) */
        k = o->knn;
        mined = unic_xmalloc((size_t)in->n * k * sizeof(int32_t));
        unic_mine_input mi = {in->n, in->d, in->x, NULL, in->cache_dir, UNIC_CPU};
        if (unic_knn(&mi, k, mined, NULL, err, errlen) != 0) {
            unic_xfree(mined);
            return -1;
        }
        idx = mined;
    }
    const int m = o->k_max + 1;
    double *eig = unic_xmalloc((size_t)m * sizeof(double));
    int it = unic_knn_laplacian_smallest(idx, in->n, k, m, o->seed, eig, err, errlen);
    if (it > 0) {
        r->eigen = unic_xmalloc((size_t)r->count * sizeof(double));
        for (int K = o->k_min; K <= o->k_max; K++) {
            r->score[K - o->k_min] = eig[K] - eig[K - 1];
            r->eigen[K - o->k_min] = eig[K - 1];
        }
        unic_log(UNIC_LOG_DEBUG, "estimate-k: %d smallest eigenvalues of the %d-NN graph in %d "
                 "iterations", m, k, it);
    }
    unic_xfree(eig);
    unic_xfree(mined);
    return it > 0 ? 0 : -1;
}

/* ---- GCD: Brent's method on the held-out accuracy of SS-k-means ----------- */

/* Two splits of the labeled items, the second hiding the classes the first
 * gives (as far as the count allows): every old class is held out whole in
 * one of them, and the score, pooled over both, depends less on which
 * classes happened to be hidden. */
#define FOLDS 2

typedef struct gcd_fold {
    int32_t *given;       /* [n] dense class of a labeled item SS-k-means sees, -1 elsewhere */
    int n_given;          /* classes SS-k-means sees */
    int64_t *held;        /* held-out items */
    int32_t *held_label;  /* their class, numbered densely 0..n_hc-1 */
    int64_t n_held;
    int n_hc;             /* classes with held-out items */
    double *share;        /* [n_hc] per held-out class: the share of its items held out */
    float **centres;      /* [count]: each evaluated K's centres, or NULL */
} gcd_fold;

typedef struct gcd_search {
    const unic_kest_input *in;
    const unic_kest_opts *o;
    unic_kest_result *r;
    gcd_fold fold[FOLDS];
    int n_labeled_classes;
    int32_t *assign;
    int failed;
    char *err;
    size_t errlen;
} gcd_search;

static void shuffle(int64_t *a, int64_t n, unic_rng *g)
{
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)unic_rng_below(g, (uint64_t)(i + 1)), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Fold f hides round(holdout x count) of the labeled classes whole (at
 * least one, never all when there are two or more), starting at f x that
 * many in a seeded order; of each other class, round(holdout x size) items
 * are held out (its last item always stays given). */
static void split_fold(gcd_search *s, int f, const int64_t *classes, int64_t nc, unic_rng *g)
{
    const unic_kest_input *in = s->in;
    gcd_fold *F = &s->fold[f];
    int64_t hide = llround(s->o->holdout * (double)nc);
    if (hide < 1) hide = 1;
    if (nc >= 2 && hide >= nc) hide = nc - 1;
    if (nc < 2) hide = 0; /* one class: only items can be held out */
    int32_t *dense = unic_xmalloc(UNIC_MAX_CLASSES * sizeof(int32_t));
    for (int64_t t = 0; t < nc; t++) dense[classes[t]] = -2;
    for (int64_t t = 0; t < nc; t++) { /* position t in this fold's rotation */
        int64_t c = classes[(t + f * hide) % nc];
        dense[c] = t < hide ? -1 : F->n_given++;
    }
    int64_t *items = unic_xmalloc((size_t)in->n * sizeof(int64_t));
    F->given = unic_xmalloc((size_t)in->n * sizeof(int32_t));
    F->held = unic_xmalloc((size_t)in->n * sizeof(int64_t));
    F->held_label = unic_xmalloc((size_t)in->n * sizeof(int32_t));
    F->share = unic_xmalloc((size_t)nc * sizeof(double));
    for (int64_t i = 0; i < in->n; i++) F->given[i] = -1;
    for (int64_t t = 0; t < nc; t++) {
        int32_t c = (int32_t)classes[t];
        int64_t m = 0;
        for (int64_t i = 0; i < in->n; i++)
            if (in->labels[i] == c) items[m++] = i;
        shuffle(items, m, g);
        int64_t out = dense[c] < 0 ? m : llround(s->o->holdout * (double)m);
        if (dense[c] >= 0 && out >= m) out = m - 1;
        if (out > 0) /* of the class's items, labeled_fraction are labeled, out / m of those held */
            F->share[F->n_hc++] = in->labeled_fraction * (double)out / (double)m;
        for (int64_t q = 0; q < m; q++) {
            if (q < out) {
                F->held[F->n_held] = items[q];
                F->held_label[F->n_held++] = F->n_hc - 1;
            } else {
                F->given[items[q]] = dense[c];
            }
        }
    }
    F->centres = unic_xcalloc((size_t)s->r->count, sizeof(float *));
    unic_xfree(items);
    unic_xfree(dense);
}

static int split_labeled(gcd_search *s)
{
    const unic_kest_input *in = s->in;
    int64_t *size = unic_xcalloc(UNIC_MAX_CLASSES, sizeof(int64_t));
    for (int64_t i = 0; i < in->n; i++)
        if (in->labels[i] >= 0) size[in->labels[i]]++;
    int64_t *classes = unic_xmalloc(UNIC_MAX_CLASSES * sizeof(int64_t)), nc = 0;
    for (int c = 0; c < UNIC_MAX_CLASSES; c++)
        if (size[c]) classes[nc++] = c;
    unic_rng g = unic_rng_stream(s->o->seed, 0x6cd, 0);
    shuffle(classes, nc, &g);
    s->n_labeled_classes = (int)nc;
    for (int f = 0; f < FOLDS; f++) split_fold(s, f, classes, nc, &g);
    unic_xfree(classes);
    unic_xfree(size);
    return s->fold[0].n_held > 0 ? 0 : -1;
}

static void free_folds(gcd_search *s)
{
    for (int f = 0; f < FOLDS; f++) {
        gcd_fold *F = &s->fold[f];
        for (int i = 0; F->centres && i < s->r->count; i++) unic_xfree(F->centres[i]);
        unic_xfree(F->centres);
        unic_xfree(F->given);
        unic_xfree(F->held);
        unic_xfree(F->held_label);
        unic_xfree(F->share);
    }
}

/* The evaluated K just below k whose centres can seed it (NULL: none). */
static const float *warm_centres(const gcd_search *s, const gcd_fold *F, int k, int *from)
{
    for (int j = k - 1; j >= s->o->k_min; j--)
        if (F->centres[j - s->o->k_min] && j >= F->n_given) {
            *from = j;
            return F->centres[j - s->o->k_min];
        }
    return NULL;
}

/* A fold's held-out score of a clustering, as a sum over its held-out items
 * (the caller divides): clusters matched one to one to the held-out
 * classes (Hungarian, on the held-out items), then each class's matched
 * count, weighted by the matched cluster's estimated purity when the
 * labeled fraction is known.
 *
 * The plain held-out accuracy (GCD's) sees a class split over clusters
 * (too many clusters), but not a held-out class merged with unlabeled new
 * items (too few): its held-out items still sit together. GCD draws the
 * labeled items uniformly, labeled_fraction of every old class, so a
 * cluster that is class A alone holds about held(A in c) / share(A) of A's
 * items in all; a cluster much larger than that has taken in other
 * classes. Purity = min(1, that estimate / cluster size). */
static double held_out_hits(const gcd_search *s, const gcd_fold *F, int k)
{
    const int nh = F->n_hc;
    double *w = unic_xcalloc((size_t)k * nh, sizeof(double));
    int64_t *size = unic_xcalloc((size_t)k, sizeof(int64_t));
    for (int64_t i = 0; i < s->in->n; i++) size[s->assign[i]]++;
    for (int64_t i = 0; i < F->n_held; i++)
        w[(size_t)s->assign[F->held[i]] * nh + F->held_label[i]] += 1;
    int *match = unic_xmalloc((size_t)k * sizeof(int));
    unic_hungarian_max(w, k, nh, match);
    double total = 0;
    for (int c = 0; c < k; c++) {
        if (match[c] < 0) continue;
        double hits = w[(size_t)c * nh + match[c]], purity = 1;
        if (s->in->labeled_fraction > 0 && hits > 0) {
            double est = hits / F->share[match[c]];
            purity = est < (double)size[c] ? est / (double)size[c] : 1.0;
        }
        total += hits * purity;
    }
    unic_xfree(match);
    unic_xfree(size);
    unic_xfree(w);
    return total;
}

/* The held-out score of SS-k-means with k clusters, pooled over the folds;
 * memoised per k. */
static double gcd_score(void *ctx, int k)
{
    gcd_search *s = ctx;
    const unic_kest_opts *o = s->o;
    double *slot = &s->r->score[k - o->k_min];
    if (!isnan(*slot) || s->failed) return *slot;
    double t0 = unic_now(), hits = 0;
    int64_t held = 0;
    int warm = 0;
    for (int f = 0; f < FOLDS; f++) {
        gcd_fold *F = &s->fold[f];
        int from = 0;
        const float *init = warm_centres(s, F, k, &from);
        unic_kmeans_opts km = {k, o->restarts, o->max_iter, o->tol, o->seed + (uint64_t)k, init,
                               from, NULL};
        float *c = unic_xmalloc((size_t)k * s->in->d * sizeof(float));
        if (unic_ss_kmeans(s->in->x, s->in->n, s->in->d, F->given, F->n_given, &km, s->assign,
                           c) < 0) {
            unic_xfree(c);
            s->failed = 1;
            unic_errf(s->err, s->errlen, "semi-supervised k-means failed at K = %d (fewer "
                      "unlabeled items than clusters to seed?)", k);
            return NAN;
        }
        F->centres[k - o->k_min] = c;
        s->r->evaluations += o->restarts;
        hits += held_out_hits(s, F, k);
        held += F->n_held;
        warm += init != NULL;
    }
    *slot = hits / (double)held;
    unic_log(UNIC_LOG_DEBUG, "estimate-k: K = %d held-out score %.4f (%.2f s%s)", k, *slot,
             unic_now() - t0, warm ? ", warm" : "");
    return *slot;
}

static double neg_score(void *ctx, int k)
{
    double v = gcd_score(ctx, k);
    return isnan(v) ? INFINITY : -v;
}

static int gcd_estimate(const unic_kest_input *in, const unic_kest_opts *o, unic_kest_result *r,
                        char *err, size_t errlen)
{
    gcd_search s = {.in = in, .o = o, .r = r, .err = err, .errlen = errlen};
    s.assign = unic_xmalloc((size_t)in->n * sizeof(int32_t));
    int rc = 0;
    if (split_labeled(&s) != 0)
        rc = unic_errf(err, errlen, "no labeled item to hold out");
    else if (o->k_min < s.n_labeled_classes)
        rc = unic_errf(err, errlen, "the smallest K, %d, is below the %d labeled classes",
                       o->k_min, s.n_labeled_classes);
    if (rc == 0) {
        unic_log(UNIC_LOG_INFO, "estimate-k: %lld and %lld labeled items held out in two splits "
                 "(%d and %d classes given to SS-k-means)", (long long)s.fold[0].n_held,
                 (long long)s.fold[1].n_held, s.fold[0].n_given, s.fold[1].n_given);
        int calls = 0;
        int best = unic_brent_integer(neg_score, &s, o->k_min, o->k_max, &calls);
        /* ties with the best below it form a plateau; its left edge is the
         * fewest clusters that explain the labeled classes as well */
        double top = gcd_score(&s, best);
        for (int k = best - 1; k >= o->k_min && !s.failed; k--)
            if (!(gcd_score(&s, k) >= top - GCD_PLATEAU)) break;
        if (s.failed) rc = -1;
    }
    free_folds(&s);
    unic_xfree(s.assign);
    return rc;
}

/* After the search: the estimate is the smallest K within GCD_PLATEAU of
 * the best accuracy among the K contiguous below it (the plateau's edge). */
static void pick_gcd(unic_kest_result *r, int k_min)
{
    int best = -1;
    for (int i = 0; i < r->count; i++)
        if (!isnan(r->score[i]) && (best < 0 || r->score[i] > r->score[best] + TIE * r->score[best]))
            best = i;
    if (best < 0) return;
    double top = r->score[best];
    int edge = best;
    while (edge > 0 && !isnan(r->score[edge - 1]) && r->score[edge - 1] >= top - GCD_PLATEAU) edge--;
    int second = -1;
    for (int i = 0; i < r->count; i++)
        if (i != edge && !isnan(r->score[i]) && (second < 0 || r->score[i] > r->score[second]))
            second = i;
    r->k = k_min + edge;
    r->runner_up = second >= 0 ? k_min + second : 0;
}

/* ---- Brent's bounded minimisation over integers (scipy's fminbound) ------- */

typedef struct memo_f {
    double (*f)(void *ctx, int k);
    void *ctx;
    int lo, hi, calls;
    double *seen; /* [hi - lo + 1], NaN = not yet */
} memo_f;

static double at(memo_f *m, double x)
{
    int k = (int)llround(x);
    if (k < m->lo) k = m->lo;
    if (k > m->hi) k = m->hi;
    double *v = &m->seen[k - m->lo];
    if (isnan(*v)) {
        *v = m->f(m->ctx, k);
        m->calls++;
        if (isnan(*v)) *v = INFINITY;
    }
    return *v;
}

int unic_brent_integer(double (*f)(void *ctx, int k), void *ctx, int lo, int hi, int *calls)
{
    memo_f m = {f, ctx, lo, hi, 0, unic_xmalloc((size_t)(hi - lo + 1) * sizeof(double))};
    for (int i = 0; i <= hi - lo; i++) m.seen[i] = NAN;
    const double sqrt_eps = sqrt(2.2e-16), golden = 0.5 * (3.0 - sqrt(5.0)), xatol = 0.25;
    double a = lo, b = hi;
    double fulc = a + golden * (b - a), nfc = fulc, xf = fulc;
    double rat = 0, e = 0, x = xf;
    double fx = at(&m, x), ffulc = fx, fnfc = fx;
    double xm = 0.5 * (a + b), tol1 = sqrt_eps * fabs(xf) + xatol / 3.0, tol2 = 2.0 * tol1;
    for (int num = 1; fabs(xf - xm) > tol2 - 0.5 * (b - a) && num < 500; num++) {
        int gold = 1;
        if (fabs(e) > tol1) { /* a parabola through the three best points */
            gold = 0;
            double r = (xf - nfc) * (fx - ffulc), q = (xf - fulc) * (fx - fnfc);
            double p = (xf - fulc) * q - (xf - nfc) * r;
            q = 2.0 * (q - r);
            if (q > 0) p = -p;
            q = fabs(q);
            r = e;
            e = rat;
            if (fabs(p) < fabs(0.5 * q * r) && p > q * (a - xf) && p < q * (b - xf)) {
                rat = p / q;
                x = xf + rat;
                if (x - a < tol2 || b - x < tol2) rat = tol1 * ((xm - xf >= 0) ? 1 : -1);
            } else {
                gold = 1;
            }
        }
        if (gold) {
            e = xf >= xm ? a - xf : b - xf;
            rat = golden * e;
        }
        double si = rat > 0 ? 1 : rat < 0 ? -1 : 1;
        x = xf + si * fmax(fabs(rat), tol1);
        double fu = at(&m, x);
        if (fu <= fx) {
            if (x >= xf)
                a = xf;
            else
                b = xf;
            fulc = nfc, ffulc = fnfc;
            nfc = xf, fnfc = fx;
            xf = x, fx = fu;
        } else {
            if (x < xf)
                a = x;
            else
                b = x;
            if (fu <= fnfc || nfc == xf) {
                fulc = nfc, ffulc = fnfc;
                nfc = x, fnfc = fu;
            } else if (fu <= ffulc || fulc == xf || fulc == nfc) {
                fulc = x, ffulc = fu;
            }
        }
        xm = 0.5 * (a + b);
        tol1 = sqrt_eps * fabs(xf) + xatol / 3.0;
        tol2 = 2.0 * tol1;
    }
    int best = lo;
    for (int k = lo; k <= hi; k++)
        if (!isnan(m.seen[k - lo]) && (isnan(m.seen[best - lo]) || m.seen[k - lo] < m.seen[best - lo]))
            best = k;
    /* Brent's steps on a step function (and its never touching the bounds)
     * can stop one integer beside the best: step to a neighbour while it
     * is lower */
    for (int moved = 1; moved;) {
        moved = 0;
        for (int dk = -1; dk <= 1 && !moved; dk += 2) {
            int k = best + dk;
            if (k >= lo && k <= hi && at(&m, k) < at(&m, best)) best = k, moved = 1;
        }
    }
    if (calls) *calls = m.calls;
    unic_xfree(m.seen);
    return best;
}

/* ---- entry ---------------------------------------------------------------- */

int unic_estimate_k(const unic_kest_input *in, const unic_kest_opts *o, unic_kest_result *out,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (unic_kest_check(in, o, err, errlen) != 0) return -1;
    double t0 = unic_now();
    out->criterion = o->criterion;
    out->count = o->k_max - o->k_min + 1;
    out->score = unic_xmalloc((size_t)out->count * sizeof(double));
    for (int i = 0; i < out->count; i++) out->score[i] = NAN;
    int rc;
    if (o->criterion == UNIC_KEST_GCD)
        rc = gcd_estimate(in, o, out, err, errlen);
    else if (o->criterion == UNIC_KEST_EIGENGAP)
        rc = eigengap(in, o, out, err, errlen);
    else
        rc = scan_kmeans(in, o, out, err, errlen);
    if (rc == 0 && o->criterion == UNIC_KEST_GCD)
        pick_gcd(out, o->k_min);
    else if (rc == 0)
        pick(out->score, out->count, o->k_min, &out->k, &out->runner_up);
    if (rc == 0 && out->k == 0) rc = unic_errf(err, errlen, "no K in the range could be scored");
    out->seconds = unic_now() - t0;
    if (rc != 0) unic_kest_free(out);
    return rc;
}

void unic_kest_free(unic_kest_result *r)
{
    unic_xfree(r->score);
    unic_xfree(r->eigen);
    r->score = r->eigen = NULL;
}
