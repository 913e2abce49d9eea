/* Hungarian matching, ACC/NMI/ARI and the GCD All/Old/New split against
 * scipy/sklearn values (tests/fixtures/make_metrics_fixtures.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "eval/metrics.h"

static int close_to(double got, double want)
{
    return fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want));
}

/* Best total by trying every injective row -> column map (rows <= cols). */
static double brute_best(const double *w, int rows, int cols, int r, uint32_t used)
{
    if (r == rows) return 0;
    double best = -INFINITY;
    for (int c = 0; c < cols; c++) {
        if (used & (1u << c)) continue;
        double v = w[r * cols + c] + brute_best(w, rows, cols, r + 1, used | (1u << c));
        if (v > best) best = v;
    }
    return best;
}

static double assigned_total(const double *w, int rows, int cols, const int *assign)
{
    double total = 0;
    uint32_t seen = 0;
    int matched = 0;
    for (int r = 0; r < rows; r++) {
        if (assign[r] < 0) continue;
        cr_assert(assign[r] < cols);
        cr_assert(!(seen & (1u << assign[r])), "column %d used twice", assign[r]);
        seen |= 1u << assign[r];
        total += w[r * cols + assign[r]];
        matched++;
    }
    cr_assert_eq(matched, rows < cols ? rows : cols);
    return total;
}

Test(hungarian, known_square_optimum)
{
    const double w[9] = {4, 1, 3, 2, 0, 5, 3, 2, 2};
    int a[3];
    unic_hungarian_max(w, 3, 3, a);
    cr_assert(a[0] == 0 && a[1] == 2 && a[2] == 1, "got %d %d %d", a[0], a[1], a[2]);
}

Test(hungarian, rectangular_both_ways)
{
    const double wide[8] = {1, 9, 2, 3, 8, 7, 1, 0};
    int a[4];
    unic_hungarian_max(wide, 2, 4, a);
    cr_assert(a[0] == 1 && a[1] == 0);

    const double tall[8] = {1, 8, 9, 7, 2, 1, 3, 0}; /* the transpose */
    unic_hungarian_max(tall, 4, 2, a);
    cr_assert(a[0] == 1 && a[1] == 0 && a[2] == -1 && a[3] == -1, "got %d %d %d %d", a[0], a[1],
              a[2], a[3]);
}

Test(hungarian, matches_brute_force)
{
    srand(3);
    for (int trial = 0; trial < 300; trial++) {
        int rows = 1 + rand() % 6, cols = 1 + rand() % 6;
        double w[36];
        for (int i = 0; i < rows * cols; i++) /* ties and negatives included */
            w[i] = trial % 2 ? (double)(rand() % 7) - 2 : (double)rand() / RAND_MAX * 10 - 3;
        int a[6];
        unic_hungarian_max(w, rows, cols, a);
        double got = assigned_total(w, rows, cols, a);
        double want;
        if (rows <= cols) {
            want = brute_best(w, rows, cols, 0, 0);
        } else {
            double t[36];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
            want = brute_best(t, cols, rows, 0, 0);
        }
        cr_assert(fabs(got - want) < 1e-9, "trial %d (%dx%d): %g vs %g", trial, rows, cols, got,
                  want);
    }
}

/* One fixture case as parsed from metrics_cases.txt. */
typedef struct mcase {
    char name[64];
    int64_t n;
    int num_classes;
    uint8_t *is_old;
    int32_t *y_true, *y_pred;
    double acc, nmi, ari, all, old, new_;
    int64_t n_old, n_new;
} mcase;

static long next_long(char **s)
{
    char *end;
    long v = strtol(*s, &end, 10);
    cr_assert(end != *s, "fixture: expected an integer near '%.20s'", *s);
    *s = end;
    return v;
}

static double next_double(char **s)
{
    char *end;
    double v = strtod(*s, &end);
    cr_assert(end != *s, "fixture: expected a number near '%.20s'", *s);
    *s = end;
    return v;
}

static void next_word(char **s, char *out, size_t cap)
{
    while (**s == ' ' || **s == '\n') (*s)++;
    size_t len = strcspn(*s, " \n");
    cr_assert(len > 0 && len < cap);
    memcpy(out, *s, len);
    out[len] = '\0';
    *s += len;
}

static mcase *load_cases(int *count)
{
    char *path = test_fixture("metrics_cases.txt");
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "missing %s", path);
    char *s = text, word[64];
    next_word(&s, word, sizeof word);
    cr_assert_str_eq(word, "cases");
    *count = (int)next_long(&s);
    mcase *cases = calloc((size_t)*count, sizeof(mcase));
    for (int c = 0; c < *count; c++) {
        mcase *m = &cases[c];
        next_word(&s, word, sizeof word);
        cr_assert_str_eq(word, "case");
        next_word(&s, m->name, sizeof m->name);
        m->n = next_long(&s);
        m->num_classes = (int)next_long(&s);
        m->is_old = malloc((size_t)m->num_classes + 1);
        m->y_true = malloc((size_t)m->n * sizeof(int32_t));
        m->y_pred = malloc((size_t)m->n * sizeof(int32_t));
        for (int k = 0; k < m->num_classes; k++) m->is_old[k] = (uint8_t)next_long(&s);
        for (int64_t i = 0; i < m->n; i++) m->y_true[i] = (int32_t)next_long(&s);
        for (int64_t i = 0; i < m->n; i++) m->y_pred[i] = (int32_t)next_long(&s);
        m->acc = next_double(&s);
        m->nmi = next_double(&s);
        m->ari = next_double(&s);
        m->all = next_double(&s);
        m->old = next_double(&s);
        m->new_ = next_double(&s);
        m->n_old = next_long(&s);
        m->n_new = next_long(&s);
    }
    free(text);
    free(path);
    return cases;
}

static void free_cases(mcase *cases, int count)
{
    for (int c = 0; c < count; c++) {
        free(cases[c].is_old);
        free(cases[c].y_true);
        free(cases[c].y_pred);
    }
    free(cases);
}

Test(metrics, fixture_cluster_scores)
{
    int count;
    mcase *cases = load_cases(&count);
    cr_assert_geq(count, 8);
    for (int c = 0; c < count; c++) {
        const mcase *m = &cases[c];
        unic_cluster_scores s;
        char err[256] = "";
        cr_assert_eq(unic_cluster_scores_compute(m->y_true, m->y_pred, m->n, &s, err, sizeof err),
                     0, "%s: %s", m->name, err);
        cr_expect(close_to(s.acc, m->acc), "%s acc %.17g vs %.17g", m->name, s.acc, m->acc);
        cr_expect(close_to(s.nmi, m->nmi), "%s nmi %.17g vs %.17g", m->name, s.nmi, m->nmi);
        cr_expect(close_to(s.ari, m->ari), "%s ari %.17g vs %.17g", m->name, s.ari, m->ari);
    }
    free_cases(cases, count);
}

Test(metrics, fixture_gcd_scores)
{
    int count;
    mcase *cases = load_cases(&count);
    for (int c = 0; c < count; c++) {
        const mcase *m = &cases[c];
        unic_gcd_scores g;
        char err[256] = "";
        cr_assert_eq(unic_gcd_scores_compute(m->y_true, m->y_pred, m->n, m->is_old, m->num_classes,
                                             &g, err, sizeof err),
                     0, "%s: %s", m->name, err);
        cr_expect(close_to(g.all, m->all), "%s all %.17g vs %.17g", m->name, g.all, m->all);
        cr_expect(close_to(g.old, m->old), "%s old %.17g vs %.17g", m->name, g.old, m->old);
        cr_expect(close_to(g.new_, m->new_), "%s new %.17g vs %.17g", m->name, g.new_, m->new_);
        cr_expect_eq(g.n_old, m->n_old, "%s n_old", m->name);
        cr_expect_eq(g.n_new, m->n_new, "%s n_new", m->name);
    }
    free_cases(cases, count);
}

Test(metrics, gcd_split_by_true_class)
{
    /* clusters 5,7,9 x classes 0,1,2: [2 0 1; 1 2 0; 0 0 2]; the best
     * matching is 5-0, 7-1, 9-2 with 6 hits. Class 0 is old. */
    const int32_t y_true[8] = {0, 0, 0, 1, 1, 2, 2, 2};
    const int32_t y_pred[8] = {5, 5, 7, 7, 7, 9, 9, 5};
    const uint8_t is_old[1] = {1}; /* classes 1 and 2 lie past num_classes: new */
    unic_gcd_scores g;
    char err[128];
    cr_assert_eq(unic_gcd_scores_compute(y_true, y_pred, 8, is_old, 1, &g, err, sizeof err), 0);
    cr_expect(close_to(g.all, 6.0 / 8));
    cr_expect(close_to(g.old, 2.0 / 3));
    cr_expect(close_to(g.new_, 4.0 / 5));
    cr_expect_eq(g.n_old, 3);
    cr_expect_eq(g.n_new, 5);
}

Test(metrics, gcd_uses_one_assignment)
{
    /* Cluster 0 holds 3 of class 0 (old) and 4 of class 1 (new); cluster 1
     * holds 2 of class 0. Separate matchings per subset would give Old 3/5;
     * the single joint matching pairs 0-1 and 1-0, so Old is 2/5. */
    int32_t y_true[9] = {0, 0, 0, 1, 1, 1, 1, 0, 0};
    int32_t y_pred[9] = {0, 0, 0, 0, 0, 0, 0, 1, 1};
    const uint8_t is_old[2] = {1, 0};
    unic_gcd_scores g;
    char err[128];
    cr_assert_eq(unic_gcd_scores_compute(y_true, y_pred, 9, is_old, 2, &g, err, sizeof err), 0);
    cr_expect(close_to(g.all, 6.0 / 9));
    cr_expect(close_to(g.old, 2.0 / 5));
    cr_expect(close_to(g.new_, 4.0 / 4));
}

Test(metrics, scores_of_a_perfect_clustering)
{
    const int32_t y[6] = {3, 3, 8, 8, 1, 1};
    const int32_t p[6] = {0, 0, 2, 2, 1, 1};
    unic_cluster_scores s;
    cr_assert_eq(unic_cluster_scores_compute(y, p, 6, &s, NULL, 0), 0);
    cr_expect(close_to(s.acc, 1) && close_to(s.nmi, 1) && close_to(s.ari, 1));
}

Test(metrics, ari_of_many_samples_does_not_overflow)
{
    /* 200k samples in 7 classes: products of pair counts pass 2^63. A pure
     * relabelling scores 1; moving one sample must give just below 1, which
     * wrapped int64 arithmetic would not. */
    const int64_t n = 200000;
    int32_t *y = malloc(n * sizeof(int32_t)), *p = malloc(n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 7);
        p[i] = (int32_t)((i % 7) * 3 + 1);
    }
    unic_cluster_scores s;
    cr_assert_eq(unic_cluster_scores_compute(y, p, n, &s, NULL, 0), 0);
    cr_expect(close_to(s.ari, 1.0));
    p[0] = 2; /* one sample moved: ARI just below 1, still sane */
    cr_assert_eq(unic_cluster_scores_compute(y, p, n, &s, NULL, 0), 0);
    cr_expect(s.ari < 1.0 && s.ari > 0.9999, "ari %.17g", s.ari);
    free(y);
    free(p);
}

Test(metrics, bad_input)
{
    const int32_t y[3] = {0, 1, 1}, bad[3] = {0, -2, 1};
    unic_cluster_scores s;
    unic_gcd_scores g;
    char err[128] = "";
    cr_expect_eq(unic_cluster_scores_compute(y, y, 0, &s, err, sizeof err), -1);
    cr_expect_neq(err[0], '\0');
    err[0] = '\0';
    cr_expect_eq(unic_cluster_scores_compute(y, bad, 3, &s, err, sizeof err), -1);
    cr_expect(strstr(err, "y_pred") != NULL, "message: %s", err);
    err[0] = '\0';
    cr_expect_eq(unic_cluster_scores_compute(bad, y, 3, &s, err, sizeof err), -1);
    cr_expect(strstr(err, "y_true") != NULL, "message: %s", err);
    const uint8_t is_old[2] = {1, 0};
    cr_expect_eq(unic_gcd_scores_compute(y, y, 0, is_old, 2, &g, err, sizeof err), -1);
    cr_expect_eq(unic_gcd_scores_compute(bad, y, 3, is_old, 2, &g, err, sizeof err), -1);
    cr_expect_eq(unic_gcd_scores_compute(y, y, 3, NULL, 2, &g, err, sizeof err), -1);
}
