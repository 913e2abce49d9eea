/* Clustering scores (ACC, NMI, ARI) and the GCD All/Old/New split. NMI and
 * ARI follow scikit-learn's formulas step by step so that the numbers match
 * what the reference code bases print. */
#include "eval/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* Dense contingency tables above this many cells are refused: the Hungarian
 * step on them would not finish anyway. */
#define MAX_TABLE_CELLS ((int64_t)1 << 26)

/* Shortest augmenting paths with potentials (Kuhn-Munkres in the
 * Jonker-Volgenant formulation), minimising cost over rows <= cols: every row
 * gets a distinct column. O(rows^2 cols). Indices are 1-based inside. */
static void hungarian_min(const double *cost, int rows, int cols, int *row_to_col)
{
    double *u = unic_xcalloc((size_t)rows + 1, sizeof(double));
    double *v = unic_xcalloc((size_t)cols + 1, sizeof(double));
    double *minv = unic_xmalloc(((size_t)cols + 1) * sizeof(double));
    int *p = unic_xcalloc((size_t)cols + 1, sizeof(int)); /* p[j]: row matched to column j */
    int *way = unic_xcalloc((size_t)cols + 1, sizeof(int));
    char *used = unic_xmalloc((size_t)cols + 1);

    for (int i = 1; i <= rows; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= cols; j++) minv[j] = INFINITY;
        memset(used, 0, (size_t)cols + 1);
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            const double *crow = cost + (size_t)(i0 - 1) * cols;
            for (int j = 1; j <= cols; j++) {
                if (used[j]) continue;
                double cur = crow[j - 1] - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (int j = 0; j <= cols; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do { /* flip the augmenting path */
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0 != 0);
    }
    for (int i = 0; i < rows; i++) row_to_col[i] = -1;
    for (int j = 1; j <= cols; j++)
        if (p[j] > 0) row_to_col[p[j] - 1] = j - 1;

    unic_xfree(u);
    unic_xfree(v);
    unic_xfree(minv);
    unic_xfree(p);
    unic_xfree(way);
    unic_xfree(used);
}

void unic_hungarian_max(const double *weights, int rows, int cols, int *assign)
{
    if (rows <= 0) return;
    if (cols <= 0) {
        for (int r = 0; r < rows; r++) assign[r] = -1;
        return;
    }
    /* The solver needs rows <= cols, so a tall matrix is solved transposed;
     * maximising weight is minimising its negation. */
    int transpose = rows > cols;
    int m = transpose ? cols : rows, k = transpose ? rows : cols;
    double *cost = unic_xmalloc((size_t)m * k * sizeof(double));
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double w = -weights[(size_t)r * cols + c];
            if (transpose)
                cost[(size_t)c * k + r] = w;
            else
                cost[(size_t)r * k + c] = w;
        }
    int *match = unic_xmalloc((size_t)m * sizeof(int));
    hungarian_min(cost, m, k, match);
    if (transpose) {
        for (int r = 0; r < rows; r++) assign[r] = -1;
        for (int c = 0; c < cols; c++) assign[match[c]] = c;
    } else {
        memcpy(assign, match, (size_t)rows * sizeof(int));
    }
    unic_xfree(match);
    unic_xfree(cost);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Maps arbitrary non-negative labels onto 0..count-1 in increasing order of
 * value. values (malloc'ed, count entries) keeps the original label of each
 * dense index. */
static int remap_labels(const int32_t *y, int64_t n, const char *what, int32_t *dense,
                        int32_t **values, int *count, char *err, size_t errlen)
{
    if (n <= 0) return unic_errf(err, errlen, "no samples to score (n = %lld)", (long long)n);
    int32_t maxv = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0)
            return unic_errf(err, errlen, "%s[%lld] = %d: labels must be non-negative", what,
                             (long long)i, (int)y[i]);
        if (y[i] > maxv) maxv = y[i];
    }
    int nv = 0;
    int32_t *vals;
    if ((int64_t)maxv < 4 * n + 65536) {
        /* Small label range: a lookup table over 0..max. */
        int32_t *table = unic_xmalloc(((size_t)maxv + 1) * sizeof(int32_t));
        for (int64_t v = 0; v <= maxv; v++) table[v] = -1;
        for (int64_t i = 0; i < n; i++) table[y[i]] = 0; /* mark the values present */
        for (int64_t v = 0; v <= maxv; v++)
            if (table[v] == 0) table[v] = nv++;
        vals = unic_xmalloc((size_t)nv * sizeof(int32_t));
        for (int64_t v = 0; v <= maxv; v++)
            if (table[v] >= 0) vals[table[v]] = (int32_t)v;
        for (int64_t i = 0; i < n; i++) dense[i] = table[y[i]];
        unic_xfree(table);
    } else {
        /* Sparse large labels: sort the values and binary-search each one. */
        vals = unic_xmalloc((size_t)n * sizeof(int32_t));
        memcpy(vals, y, (size_t)n * sizeof(int32_t));
        qsort(vals, (size_t)n, sizeof(int32_t), cmp_i32);
        for (int64_t i = 0; i < n; i++)
            if (i == 0 || vals[i] != vals[nv - 1]) vals[nv++] = vals[i];
        for (int64_t i = 0; i < n; i++) {
            int32_t *hit = bsearch(&y[i], vals, (size_t)nv, sizeof(int32_t), cmp_i32);
            dense[i] = (int32_t)(hit - vals);
        }
    }
    *values = vals;
    *count = nv;
    return 0;
}

/* Counts (predicted cluster, true class) pairs after remapping both label
 * sets densely. On success the caller frees table, true_values. */
typedef struct contingency {
    int kp, kt;            /* distinct predicted clusters, distinct true classes */
    int64_t *table;        /* [kp, kt] */
    int32_t *true_values;  /* original label of each dense true class */
} contingency;

static int build_contingency(const int32_t *y_true, const int32_t *y_pred, int64_t n,
                             contingency *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (n <= 0) return unic_errf(err, errlen, "no samples to score (n = %lld)", (long long)n);
    if (!y_true || !y_pred) return unic_errf(err, errlen, "labels or predictions missing");
    int32_t *dt = unic_xmalloc((size_t)n * sizeof(int32_t));
    int32_t *dp = unic_xmalloc((size_t)n * sizeof(int32_t));
    int32_t *pred_values = NULL;
    int rc = remap_labels(y_true, n, "y_true", dt, &c->true_values, &c->kt, err, errlen);
    if (rc == 0) rc = remap_labels(y_pred, n, "y_pred", dp, &pred_values, &c->kp, err, errlen);
    if (rc == 0 && (int64_t)c->kp * c->kt > MAX_TABLE_CELLS)
        rc = unic_errf(err, errlen, "%d clusters x %d classes is too large a contingency table",
                       c->kp, c->kt);
    if (rc == 0) {
        c->table = unic_xcalloc((size_t)c->kp * c->kt, sizeof(int64_t));
        for (int64_t i = 0; i < n; i++) c->table[(size_t)dp[i] * c->kt + dt[i]]++;
    } else {
        unic_xfree(c->true_values);
        c->true_values = NULL;
    }
    unic_xfree(pred_values);
    unic_xfree(dt);
    unic_xfree(dp);
    return rc;
}

static void free_contingency(contingency *c)
{
    unic_xfree(c->table);
    unic_xfree(c->true_values);
    memset(c, 0, sizeof *c);
}

/* Best one-to-one matching of clusters to classes; col_of_row[p] is the class
 * matched to cluster p, or -1. Returns the matched sample count. */
static int64_t match_clusters(const contingency *c, int *col_of_row)
{
    size_t cells = (size_t)c->kp * c->kt;
    double *w = unic_xmalloc(cells * sizeof(double));
    for (size_t i = 0; i < cells; i++) w[i] = (double)c->table[i];
    unic_hungarian_max(w, c->kp, c->kt, col_of_row);
    unic_xfree(w);
    int64_t matched = 0;
    for (int p = 0; p < c->kp; p++)
        if (col_of_row[p] >= 0) matched += c->table[(size_t)p * c->kt + col_of_row[p]];
    return matched;
}

/* sklearn's entropy(): natural log, log(a/b) written as log(a) - log(b). */
static double entropy_of_counts(const int64_t *counts, int k)
{
    int nonzero = 0;
    double total = 0;
    for (int i = 0; i < k; i++)
        if (counts[i] > 0) nonzero++, total += (double)counts[i];
    if (nonzero <= 1) return 0.0;
    double h = 0, log_total = log(total);
    for (int i = 0; i < k; i++)
        if (counts[i] > 0) h += ((double)counts[i] / total) * (log((double)counts[i]) - log_total);
    return -h;
}

/* sklearn's normalized_mutual_info_score with average_method="arithmetic". */
static double nmi_of(const contingency *c, int64_t n)
{
    /* Both labellings a single group: a perfect (trivial) match. */
    if (c->kp == 1 && c->kt == 1) return 1.0;
    /* Any single-group labelling carries no information. */
    if (c->kp == 1 || c->kt == 1) return 0.0;

    int64_t *pi = unic_xcalloc((size_t)c->kp, sizeof(int64_t)); /* cluster sizes */
    int64_t *pj = unic_xcalloc((size_t)c->kt, sizeof(int64_t)); /* class sizes */
    for (int p = 0; p < c->kp; p++)
        for (int t = 0; t < c->kt; t++) {
            int64_t v = c->table[(size_t)p * c->kt + t];
            pi[p] += v;
            pj[t] += v;
        }
    const double total = (double)n, log_total = log(total);
    double mi = 0;
    for (int p = 0; p < c->kp; p++)
        for (int t = 0; t < c->kt; t++) {
            int64_t v = c->table[(size_t)p * c->kt + t];
            if (v == 0) continue;
            double nm = (double)v / total;
            double log_outer = -log((double)(pi[p] * pj[t])) + log_total + log_total;
            double term = nm * (log((double)v) - log_total) + nm * log_outer;
            /* sklearn zeroes terms below machine epsilon */
            if (fabs(term) >= 2.220446049250313e-16) mi += term;
        }
    if (mi < 0) mi = 0;
    double nmi = 0;
    if (mi != 0) {
        double h_pred = entropy_of_counts(pi, c->kp), h_true = entropy_of_counts(pj, c->kt);
        nmi = mi / ((h_true + h_pred) / 2);
    }
    unic_xfree(pi);
    unic_xfree(pj);
    return nmi;
}

/* sklearn's adjusted_rand_score via the pair confusion matrix; products of
 * pair counts overflow int64 past ~55k samples, hence 128-bit arithmetic. */
static double ari_of(const contingency *c, int64_t n)
{
    int64_t *rows = unic_xcalloc((size_t)c->kp, sizeof(int64_t));
    int64_t *cols = unic_xcalloc((size_t)c->kt, sizeof(int64_t));
    __int128 sum_sq = 0;
    for (int p = 0; p < c->kp; p++)
        for (int t = 0; t < c->kt; t++) {
            int64_t v = c->table[(size_t)p * c->kt + t];
            rows[p] += v;
            cols[t] += v;
            sum_sq += (__int128)v * v;
        }
    __int128 sum_rows = 0, sum_cols = 0;
    for (int p = 0; p < c->kp; p++) sum_rows += (__int128)rows[p] * rows[p];
    for (int t = 0; t < c->kt; t++) sum_cols += (__int128)cols[t] * cols[t];
    unic_xfree(rows);
    unic_xfree(cols);

    __int128 tp = sum_sq - n;
    __int128 fp = sum_rows - sum_sq; /* same cluster, different class (sklearn's C[0,1]) */
    __int128 fn = sum_cols - sum_sq; /* same class, different cluster (sklearn's C[1,0]) */
    __int128 tn = (__int128)n * n - fp - fn - sum_sq;
    if (fn == 0 && fp == 0) return 1.0;
    __int128 num = tp * tn - fn * fp;
    __int128 den = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn);
    return 2.0 * (double)num / (double)den;
}

/* Each cluster's largest class count, summed: the matches a many-to-one map
 * from clusters to classes makes. */
static int64_t majority_hits(const contingency *c)
{
    int64_t hits = 0;
    for (int p = 0; p < c->kp; p++) {
        int64_t best = 0;
        for (int t = 0; t < c->kt; t++)
            if (c->table[(size_t)p * c->kt + t] > best) best = c->table[(size_t)p * c->kt + t];
        hits += best;
    }
    return hits;
}

int unic_cluster_scores_compute(const int32_t *y_true, const int32_t *y_pred, int64_t n,
                                unic_cluster_scores *out, char *err, size_t errlen)
{
    contingency c;
    if (build_contingency(y_true, y_pred, n, &c, err, errlen) != 0) return -1;
    int *match = unic_xmalloc((size_t)c.kp * sizeof(int));
    out->acc = (double)match_clusters(&c, match) / (double)n;
    out->nmi = nmi_of(&c, n);
    out->ari = ari_of(&c, n);
    out->m2o = (double)majority_hits(&c) / (double)n;
    unic_xfree(match);
    free_contingency(&c);
    return 0;
}

int unic_gcd_scores_compute(const int32_t *y_true, const int32_t *y_pred, int64_t n,
                            const uint8_t *is_old, int num_classes, unic_gcd_scores *out,
                            char *err, size_t errlen)
{
    if (num_classes < 0 || (num_classes > 0 && !is_old))
        return unic_errf(err, errlen, "is_old must cover num_classes = %d classes", num_classes);
    contingency c;
    if (build_contingency(y_true, y_pred, n, &c, err, errlen) != 0) return -1;
    int *match = unic_xmalloc((size_t)c.kp * sizeof(int));
    int64_t matched = match_clusters(&c, match);

    /* One assignment for all classes; the split only decides which matched
     * counts and which sample totals go to Old or New, by true class. */
    int64_t hit_old = 0, hit_new = 0, n_old = 0, n_new = 0;
    for (int t = 0; t < c.kt; t++) {
        int32_t cls = c.true_values[t];
        int old = cls < num_classes && is_old[cls];
        int64_t size = 0, hit = 0;
        for (int p = 0; p < c.kp; p++) {
            int64_t v = c.table[(size_t)p * c.kt + t];
            size += v;
            if (match[p] == t) hit = v;
        }
        if (old)
            hit_old += hit, n_old += size;
        else
            hit_new += hit, n_new += size;
    }
    out->all = (double)matched / (double)n;
    out->old = n_old ? (double)hit_old / (double)n_old : 0.0; /* 0 when a side has no samples */
    out->new_ = n_new ? (double)hit_new / (double)n_new : 0.0;
    out->n_old = n_old;
    out->n_new = n_new;
    unic_xfree(match);
    free_contingency(&c);
    return 0;
}

int unic_confusion_matched(const int32_t *y_true, const int32_t *y_pred, int64_t n,
                           unic_confusion *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    contingency c;
    int32_t *pred_values = NULL;
    if (build_contingency(y_true, y_pred, n, &c, err, errlen) != 0) return -1;
    /* the clusters' original values, in the dense order build_contingency used */
    int32_t *dense = unic_xmalloc((size_t)n * sizeof(int32_t));
    int kp;
    remap_labels(y_pred, n, "y_pred", dense, &pred_values, &kp, err, errlen);
    unic_xfree(dense);
    int *match = unic_xmalloc((size_t)c.kp * sizeof(int));
    out->matched = match_clusters(&c, match);
    out->n = n;
    out->nrows = c.kt;
    out->ncols = c.kp;
    out->class_value = c.true_values;
    c.true_values = NULL;
    out->cluster_value = unic_xmalloc((size_t)c.kp * sizeof(int32_t));
    out->matched_row = unic_xmalloc((size_t)c.kp * sizeof(int));
    out->counts = unic_xcalloc((size_t)c.kp * (size_t)c.kt, sizeof(int64_t));
    int *order = unic_xmalloc((size_t)c.kp * sizeof(int)), col = 0;
    for (int t = 0; t < c.kt; t++) /* matched clusters, by their class */
        for (int p = 0; p < c.kp; p++)
            if (match[p] == t) order[col++] = p;
    for (int p = 0; p < c.kp; p++) /* then the unmatched ones */
        if (match[p] < 0) order[col++] = p;
    for (int j = 0; j < c.kp; j++) {
        int p = order[j];
        out->cluster_value[j] = pred_values[p];
        out->matched_row[j] = match[p];
        for (int t = 0; t < c.kt; t++)
            out->counts[(size_t)t * (size_t)c.kp + (size_t)j] = c.table[(size_t)p * c.kt + t];
    }
    unic_xfree(order);
    unic_xfree(match);
    unic_xfree(pred_values);
    free_contingency(&c);
    return 0;
}

void unic_confusion_free(unic_confusion *c)
{
    unic_xfree(c->class_value);
    unic_xfree(c->cluster_value);
    unic_xfree(c->counts);
    unic_xfree(c->matched_row);
    memset(c, 0, sizeof *c);
}
