/* Clustering and GCD scores as SCAN and the GCD code bases report them. */
#ifndef UNIC_METRICS_H
#define UNIC_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct unic_cluster_scores {
    double acc; /* accuracy after the best one-to-one matching (Hungarian) */
    double nmi; /* normalized mutual information, arithmetic normalisation (sklearn's default) */
    double ari; /* adjusted Rand index */
    double m2o; /* many-to-one accuracy: each cluster votes for its majority class, so
                 * several clusters may share one (the overclustering papers' measure) */
} unic_cluster_scores;

typedef struct unic_gcd_scores {
    double all, old, new_; /* one Hungarian assignment over all classes, then split by true class */
    int64_t n_old, n_new;
} unic_gcd_scores;

/* Maximum-weight assignment on a rows x cols matrix (row-major). Writes
 * assign[r] = matched column, or -1 when rows > cols leaves r unmatched. */
void unic_hungarian_max(const double *weights, int rows, int cols, int *assign);

/* Labels and predictions are any non-negative integers, and the numbers of
 * clusters and classes may differ (overclustering): ACC matches them one to
 * one on the rectangular table (clusters left over count as errors), NMI
 * and ARI are sklearn's, m2o is many-to-one. Returns 0, or -1 with
 * a message if n is 0 or a value is negative (or if clusters x classes
 * exceeds 2^26, a table no matching could handle). */
int unic_cluster_scores_compute(const int32_t *y_true, const int32_t *y_pred, int64_t n,
                                unic_cluster_scores *out, char *err, size_t errlen);

/* is_old[c] != 0 marks true class c as old (known); classes past
 * num_classes count as new. One Hungarian matching over all samples; Old
 * (New) is the matched count over samples whose true class is old (new),
 * divided by their number, or 0 when there are none. Errors as above, and
 * for is_old NULL with num_classes > 0. */
int unic_gcd_scores_compute(const int32_t *y_true, const int32_t *y_pred, int64_t n,
                            const uint8_t *is_old, int num_classes, unic_gcd_scores *out,
                            char *err, size_t errlen);

/* The contingency table after the best one-to-one matching (the one ACC
 * uses), as a confusion matrix: rows are the true classes present, in
 * increasing order (class_value[r]); columns are the predicted clusters
 * present, the cluster matched to row 0 first, then to row 1, ..., then the
 * unmatched clusters in increasing order (cluster_value[c]). counts is
 * [nrows, ncols]; matched_row[c] is the row matched to column c, or -1, so a
 * matched cluster's count of its class is counts[matched_row[c] * ncols + c]
 * and column c < number of matches lies on the diagonal. */
typedef struct unic_confusion {
    int nrows, ncols;
    int32_t *class_value, *cluster_value;
    int64_t *counts;
    int *matched_row;
    int64_t matched, n; /* samples on the matched cells, and in all */
} unic_confusion;

/* Errors as unic_cluster_scores_compute. */
int unic_confusion_matched(const int32_t *y_true, const int32_t *y_pred, int64_t n,
                           unic_confusion *out, char *err, size_t errlen);
void unic_confusion_free(unic_confusion *c);

#endif
