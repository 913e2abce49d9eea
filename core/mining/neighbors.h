/* `unic neighbors`: neighbour-quality analyses of an embedding with known
 * labels (paper section 4.3 Figure 4, section 4.4 Figures 8-10), written as
 * CSV and SVG so a backbone can be judged before any training:
 *   fig4_union_threshold_tau1-K  true-positive rate of the kept anchors'
 *                                neighbours and the fraction kept, against
 *                                the union-size threshold eta (eq. 4)
 *   fig8_rank_accuracy           same-class rate by normalised rank among
 *                                all other points (whole range, the negative
 *                                range against random, the first ranks)
 *   fig9_removed_by_union        fraction of anchors whose lists eq. 4 drops
 *   fig10_purity_by_removed      purity of the kept lists against the
 *                                fraction of samples removed */
#ifndef UNIC_NEIGHBORS_H
#define UNIC_NEIGHBORS_H

#include <stddef.h>

#define UNIC_NEIGHBORS_MAX_TAU1 16

/* input: an embeddings file (.safetensors with tensors `embeddings` and
 * `labels`, .npy, IDX images as flat pixels) or a run folder holding
 * embeddings.safetensors. labels: a labels file, or NULL/"" for the
 * input's own `labels` tensor (required one way or the other). out_dir:
 * NULL/"" for `neighbors/` beside the input (inside a run folder). tau1:
 * list sizes, the anchor included, each 2..N. max_union > 0 caps the
 * threshold axis of figures 4 and 9 (0: the largest union observed). */
int unic_neighbors_report(const char *input, const char *labels, const char *out_dir,
                          const int *tau1, int ntau1, int max_union, char *err, size_t errlen);

/* The command line after `unic neighbors`; returns the exit status. */
int unic_neighbors_command(int argc, char **argv);

#endif
