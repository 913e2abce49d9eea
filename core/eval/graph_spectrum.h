/* The spectrum of a neighbour graph, for the eigengap estimate of the
 * number of clusters: the smallest eigenvalues of the normalised Laplacian
 * of the symmetrised kNN graph that mining has already built. */
#ifndef UNIC_GRAPH_SPECTRUM_H
#define UNIC_GRAPH_SPECTRUM_H

#include <stddef.h>
#include <stdint.h>

/* idx [n, k]: each point's k nearest (itself among them, as unic_knn
 * writes them). The graph has an edge i-j when j is in i's list or i in
 * j's (self loops dropped), weight 1; L = I - D^-1/2 W D^-1/2. Writes the m
 * smallest eigenvalues of L, ascending, into eig[m] (1 <= m < n), found
 * by subspace iteration with Rayleigh-Ritz on (2I - L)/2 (a block method,
 * so the repeated eigenvalue 0 of a graph in several pieces is found with
 * its multiplicity). seed draws the start block. Returns the iterations
 * used, or -1 with a message (a point without any edge, bad sizes). */
int unic_knn_laplacian_smallest(const int32_t *idx, int64_t n, int k, int m, uint64_t seed,
                                double *eig, char *err, size_t errlen);

/* Bytes unic_knn_laplacian_smallest allocates for n points, k neighbours
 * and m eigenvalues (for memory plans). */
size_t unic_knn_laplacian_bytes(int64_t n, int k, int m);

#endif
