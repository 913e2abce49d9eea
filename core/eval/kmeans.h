/* k-means baselines: plain k-means (k-means++ seeding, restarts, best inertia)
 * and the semi-supervised k-means of the GCD literature. */
#ifndef UNIC_KMEANS_H
#define UNIC_KMEANS_H

#include <stdint.h>

typedef struct unic_kmeans_opts {
    int k;
    int restarts;  /* sklearn's n_init */
    int max_iter;
    double tol;    /* stop when the summed squared centre shift falls below tol * mean feature variance (sklearn) */
    uint64_t seed;
    /* Warm start (may be NULL): restart 0 begins from these init_k <= k
     * centres [init_k, d] (say a converged solution for fewer clusters) and
     * adds the other k - init_k by the same greedy k-means++ step that
     * seeding uses, given them: a valid k-means++ seeding conditioned on
     * the given centres, so growing K this way is sound. Restarts 1.. are
     * fresh. A solution for more clusters is no seeding for fewer: there is
     * no warm start down. */
    const float *init;
    int init_k;
    /* x's squared row norms when the caller has them (NULL: computed). */
    const float *sq_norms;
} unic_kmeans_opts;

/* x: [n, d]. Writes assign[n] (and centers[k, d] when not NULL); returns the
 * best inertia (sum of squared distances), or -1 if n < k (also for k, d,
 * restarts or max_iter below 1, and for non-finite data). Restart r draws
 * from unic_rng_stream(seed, r, 0); the result does not depend on the
 * number of OpenMP threads. */
double unic_kmeans(const float *x, int64_t n, int d, const unic_kmeans_opts *o, int32_t *assign,
                   float *centers);

/* GCD's SS-k-means: features are L2-normalised (on a copy; o->sq_norms is
 * ignored); labels[i] in
 * [0, n_old) marks a labeled point, -1 an unlabeled one. The first n_old
 * centres start at the labeled class means and labeled points always stay
 * with their class; the other k - n_old centres come from k-means++ over the
 * unlabeled points. Returns the best inertia over restarts, -1 on bad input
 * (as for unic_kmeans, plus n_old outside [0, k], a label outside
 * [-1, n_old), or fewer unlabeled points than centres left to seed). An
 * old class without labeled points gets a k-means++ centre instead. A warm
 * start (o->init) needs init_k >= n_old, its centres in this function's
 * order (old classes first) and on the unit sphere; centers (may be NULL)
 * receives the best restart's [k, d], normalised space. */
double unic_ss_kmeans(const float *x, int64_t n, int d, const int32_t *labels, int n_old,
                      const unic_kmeans_opts *o, int32_t *assign, float *centers);

#endif
