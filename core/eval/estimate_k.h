/* Estimating the number of classes K within a range, for `classes = auto`
 * and `unic estimate-k`.
 *
 * With labels (GCD), GCD's method: a bounded Brent search over K maximising
 * the accuracy of semi-supervised k-means on a held-out part of the labeled
 * items, then a step down the plateau to its smallest K. Held out are half
 * the labeled classes whole (their clusters must be found, so that too few
 * clusters show) and half of the other classes' items (their clusters must
 * not split, so that too many show), in two complementary splits whose
 * scores are pooled; each matched cluster's count is weighted by its purity
 * estimated from the labeled fraction.
 *
 * Without labels, a scan over every K of the range with a label-free
 * criterion: silhouette on cosine distance or Calinski-Harabasz of spherical
 * k-means (each K warm-started from the previous K's centres), or the
 * eigengap of the normalised kNN graph built from the mined neighbours (no
 * k-means at all). */
#ifndef UNIC_ESTIMATE_K_H
#define UNIC_ESTIMATE_K_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    UNIC_KEST_SILHOUETTE = 0, /* mean cosine silhouette of spherical k-means */
    UNIC_KEST_EIGENGAP,       /* largest gap lambda_K - lambda_{K-1} of the kNN graph's Laplacian */
    UNIC_KEST_CALINSKI,       /* Calinski-Harabasz of spherical k-means */
    UNIC_KEST_GCD,            /* held-out accuracy of SS-k-means (needs labels) */
    UNIC_KEST_COUNT
} unic_kest_criterion;

/* The label-free criterion `auto` means without labels (see README: the
 * one that came out best on the comparison data sets). */
#define UNIC_KEST_LABEL_FREE_DEFAULT UNIC_KEST_EIGENGAP

/* "silhouette", "eigengap", "calinski", "gcd". */
const char *unic_kest_name(unic_kest_criterion c);

typedef struct unic_kest_opts {
    int k_min, k_max;          /* 2 <= k_min <= k_max <= n */
    unic_kest_criterion criterion;
    int restarts;              /* k-means runs per K: a warm start (when there is one) and fresh ones */
    int max_iter;
    double tol;                /* k-means tolerance (sklearn's scale) */
    uint64_t seed;
    double holdout;            /* GCD: share of the labeled classes held out whole, and of
                                * the other classes' labeled items; in (0, 1) */
    int knn;                   /* eigengap: neighbours per point when none are given */
} unic_kest_opts;

typedef struct unic_kest_input {
    const float *x;            /* [n, d] embeddings */
    int64_t n;
    int d;
    const int32_t *labels;     /* GCD: [n] class (0..UNIC_MAX_CLASSES-1) of a labeled item, -1
                                * elsewhere; NULL without labels */
    double labeled_fraction;   /* GCD: the share of each old class that is labeled (0 =
                                * unknown: plain held-out accuracy, no purity) */
    const int32_t *knn;        /* eigengap: mined neighbours [n, knn_k], self included; NULL: mined here */
    int knn_k;
    const char *cache_dir;     /* where mining here may cache (NULL: none) */
} unic_kest_input;

typedef struct unic_kest_result {
    int k;                     /* the estimate */
    int runner_up;             /* the K with the next best score (0 if none) */
    int count;                 /* k_max - k_min + 1 */
    double *score;             /* [count] criterion at k_min + i; NaN where not evaluated */
    double *eigen;             /* eigengap: [count] lambda_{K-1} (the K-th smallest); else NULL */
    int evaluations;           /* k-means or SS-k-means fits (eigengap: 0) */
    double seconds;
    unic_kest_criterion criterion;
} unic_kest_result;

/* Checks the options against the data (range, sizes); 0 or -1 with a
 * message naming what is wrong. unic_estimate_k runs it first. */
int unic_kest_check(const unic_kest_input *in, const unic_kest_opts *o, char *err, size_t errlen);

/* Bytes the estimate allocates at most, for the memory plan. */
size_t unic_kest_bytes(int64_t n, int d, const unic_kest_opts *o, int knn_given);

/* Runs the search; out->score (and eigen) are malloc'ed: unic_kest_free. */
int unic_estimate_k(const unic_kest_input *in, const unic_kest_opts *o, unic_kest_result *out,
                    char *err, size_t errlen);
void unic_kest_free(unic_kest_result *r);

/* Brent's bounded minimisation (scipy's fminbound) of f over integers in
 * [lo, hi]: f is called on rounded points and its values memoised, so
 * each integer costs one call. Returns the best integer seen (ties: the
 * smallest); *calls counts the distinct integers evaluated. */
int unic_brent_integer(double (*f)(void *ctx, int k), void *ctx, int lo, int hi, int *calls);

#endif
