/* Label-free scores of one clustering, for choosing the number of
 * clusters: silhouette on cosine distance and the Calinski-Harabasz index.
 * Both work from cluster sums, so one score costs O(N K D), not the
 * O(N^2 D) of the pairwise definition. */
#ifndef UNIC_CLUSTER_VALIDITY_H
#define UNIC_CLUSTER_VALIDITY_H

#include <stdint.h>

/* Mean silhouette with cosine distance 1 - <x_i, x_j> / (|x_i| |x_j|), as
 * sklearn's silhouette_score(metric="cosine"): xs [n, d] are the points
 * L2-normalised (a zero row stays zero, at distance 1 from everything),
 * assign[i] in [0, k). A point alone in its cluster scores 0. Exact: the
 * mean distance from x_i to cluster C is 1 - <x_i, S_C> / |C| with S_C the
 * cluster's sum (x_i itself left out of its own). Returns NaN when fewer
 * than 2 clusters are used. */
double unic_silhouette_cosine(const float *xs, int64_t n, int d, const int32_t *assign, int k);

/* Calinski-Harabasz (between- over within-cluster dispersion, each per
 * degree of freedom) of x [n, d] under assign, as sklearn computes it;
 * NaN when fewer than 2 clusters are used or n equals their number. */
double unic_calinski_harabasz(const float *x, int64_t n, int d, const int32_t *assign, int k);

#endif
