/* k-means and SS-k-means: recovery of separated blobs, agreement with
 * sklearn's inertia, thread-count independence and input checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "eval/kmeans.h"
#include "eval/metrics.h"
#include "unic/rng.h"

typedef struct blobs {
    int64_t n;
    int d, k, n_old;
    float *x;
    int32_t *y;     /* true classes */
    int32_t *given; /* SS case: class or -1 */
    double sk_inertia;
} blobs;

static double next_num(char **s)
{
    char *end;
    double v = strtod(*s, &end);
    cr_assert(end != *s, "fixture: expected a number near '%.20s'", *s);
    *s = end;
    return v;
}

/* kmeans_blobs.txt: n d k, rows, labels, sklearn inertia.
 * ss_kmeans_blobs.txt: n d k n_old, rows, labels, given labels. */
static blobs load_blobs(const char *name, int ss)
{
    char *path = test_fixture(name);
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "missing %s", path);
    char *s = text;
    blobs b = {0};
    b.n = (int64_t)next_num(&s);
    b.d = (int)next_num(&s);
    b.k = (int)next_num(&s);
    if (ss) b.n_old = (int)next_num(&s);
    b.x = malloc((size_t)b.n * b.d * sizeof(float));
    b.y = malloc((size_t)b.n * sizeof(int32_t));
    for (int64_t i = 0; i < b.n * b.d; i++) b.x[i] = (float)next_num(&s);
    for (int64_t i = 0; i < b.n; i++) b.y[i] = (int32_t)next_num(&s);
    if (ss) {
        b.given = malloc((size_t)b.n * sizeof(int32_t));
        for (int64_t i = 0; i < b.n; i++) b.given[i] = (int32_t)next_num(&s);
    } else {
        b.sk_inertia = next_num(&s);
    }
    free(text);
    free(path);
    return b;
}

static void free_blobs(blobs *b)
{
    free(b->x);
    free(b->y);
    free(b->given);
}

static double acc_of(const int32_t *y, const int32_t *pred, int64_t n)
{
    unic_cluster_scores s;
    char err[128];
    cr_assert_eq(unic_cluster_scores_compute(y, pred, n, &s, err, sizeof err), 0, "%s", err);
    return s.acc;
}

/* Points around k random centres, so Lloyd takes several iterations. */
static float *random_data(int64_t n, int d, int k, uint64_t seed)
{
    float *c = malloc((size_t)k * d * sizeof(float)), *x = malloc((size_t)n * d * sizeof(float));
    unic_rng r = unic_rng_stream(seed, 0, 0);
    for (int64_t i = 0; i < (int64_t)k * d; i++) c[i] = 4.0f * unic_rng_uniform(&r);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = (int64_t)unic_rng_below(&r, (uint64_t)k);
        for (int f = 0; f < d; f++)
            x[i * d + f] = c[j * d + f] + 3.0f * (unic_rng_uniform(&r) - 0.5f);
    }
    free(c);
    return x;
}

Test(kmeans, recovers_blobs_like_sklearn)
{
    blobs b = load_blobs("kmeans_blobs.txt", 0);
    unic_kmeans_opts o = {.k = b.k, .restarts = 10, .max_iter = 300, .tol = 1e-4, .seed = 1};
    int32_t *a = malloc((size_t)b.n * sizeof(int32_t));
    float *centers = malloc((size_t)b.k * b.d * sizeof(float));
    double inertia = unic_kmeans(b.x, b.n, b.d, &o, a, centers);
    cr_assert_geq(inertia, 0);
    cr_expect_eq(acc_of(b.y, a, b.n), 1.0);
    cr_expect(fabs(inertia - b.sk_inertia) <= 0.01 * b.sk_inertia, "inertia %g vs sklearn %g",
              inertia, b.sk_inertia);

    /* The returned centres are the means of their points, and the inertia
     * is measured to them. */
    double total = 0;
    for (int j = 0; j < b.k; j++) {
        double mean[16] = {0};
        int64_t cnt = 0;
        for (int64_t i = 0; i < b.n; i++)
            if (a[i] == j) {
                cnt++;
                for (int f = 0; f < b.d; f++) mean[f] += b.x[i * b.d + f];
            }
        cr_assert_gt(cnt, 0);
        for (int f = 0; f < b.d; f++)
            cr_expect(fabs(mean[f] / cnt - centers[j * b.d + f]) < 1e-4, "centre %d feature %d", j,
                      f);
    }
    for (int64_t i = 0; i < b.n; i++)
        for (int f = 0; f < b.d; f++) {
            double diff = (double)b.x[i * b.d + f] - centers[a[i] * b.d + f];
            total += diff * diff;
        }
    cr_expect(fabs(total - inertia) <= 1e-6 * inertia, "%g vs %g", total, inertia);
    free(a);
    free(centers);
    free_blobs(&b);
}

/* Same seed, one thread or two: identical labels and inertia, with few
 * centres (tiled kernel) and many (OpenBLAS). */
static void check_thread_independence(int k)
{
    const int64_t n = 2000;
    const int d = 40;
    float *x = random_data(n, d, k, 5);
    unic_kmeans_opts o = {.k = k, .restarts = 3, .max_iter = 50, .tol = 1e-4, .seed = 42};
    int32_t *a1 = malloc(n * sizeof(int32_t)), *a2 = malloc(n * sizeof(int32_t));
    omp_set_num_threads(1);
    double in1 = unic_kmeans(x, n, d, &o, a1, NULL);
    omp_set_num_threads(2);
    double in2 = unic_kmeans(x, n, d, &o, a2, NULL);
    cr_expect_eq(in1, in2, "k=%d: inertia %.17g vs %.17g", k, in1, in2);
    cr_expect_eq(memcmp(a1, a2, n * sizeof(int32_t)), 0, "k=%d: assignments differ", k);

    int32_t *given = malloc(n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) given[i] = i % 3 == 0 ? (int32_t)(i % 4) : -1;
    omp_set_num_threads(1);
    in1 = unic_ss_kmeans(x, n, d, given, 4, &o, a1, NULL);
    omp_set_num_threads(2);
    in2 = unic_ss_kmeans(x, n, d, given, 4, &o, a2, NULL);
    cr_expect_eq(in1, in2, "ss k=%d: inertia %.17g vs %.17g", k, in1, in2);
    cr_expect_eq(memcmp(a1, a2, n * sizeof(int32_t)), 0, "ss k=%d: assignments differ", k);
    free(given);
    free(a1);
    free(a2);
    free(x);
}

Test(kmeans, same_result_on_one_or_two_threads)
{
    check_thread_independence(10);
    check_thread_independence(48);
}

Test(kmeans, seed_decides_the_result)
{
    const int64_t n = 2000;
    float *x = random_data(n, 16, 8, 9);
    unic_kmeans_opts o = {.k = 8, .restarts = 1, .max_iter = 100, .tol = 1e-4, .seed = 7};
    int32_t *a1 = malloc(n * sizeof(int32_t)), *a2 = malloc(n * sizeof(int32_t));
    double in1 = unic_kmeans(x, n, 16, &o, a1, NULL);
    double in2 = unic_kmeans(x, n, 16, &o, a2, NULL);
    cr_expect_eq(in1, in2);
    cr_expect_eq(memcmp(a1, a2, n * sizeof(int32_t)), 0);
    /* More restarts never end worse: the first restart is among them. */
    o.restarts = 5;
    cr_expect_leq(unic_kmeans(x, n, 16, &o, a2, NULL), in1);
    free(a1);
    free(a2);
    free(x);
}

Test(kmeans, as_many_centres_as_points)
{
    /* Seeding never picks a point already under a centre, so every point
     * gets its own. */
    const int64_t n = 20;
    float *x = random_data(n, 3, 20, 3);
    unic_kmeans_opts o = {.k = 20, .restarts = 2, .max_iter = 10, .tol = 0, .seed = 1};
    int32_t a[20];
    cr_expect_eq(unic_kmeans(x, n, 3, &o, a, NULL), 0.0);
    for (int i = 0; i < 20; i++)
        for (int j = i + 1; j < 20; j++) cr_expect_neq(a[i], a[j]);
    free(x);
}

Test(kmeans, identical_points)
{
    /* Zero potential: seeds repeat, clusters empty and get re-seeded; the
     * result is still a valid labelling with zero inertia. */
    float x[30];
    for (int i = 0; i < 30; i++) x[i] = 1.5f;
    unic_kmeans_opts o = {.k = 3, .restarts = 2, .max_iter = 20, .tol = 1e-4, .seed = 3};
    int32_t a[10];
    cr_expect_eq(unic_kmeans(x, 10, 3, &o, a, NULL), 0.0);
    for (int i = 0; i < 10; i++) cr_expect(a[i] >= 0 && a[i] < 3);
}

Test(ss_kmeans, keeps_labeled_points_and_finds_new_classes)
{
    blobs b = load_blobs("ss_kmeans_blobs.txt", 1);
    unic_kmeans_opts o = {.k = b.k, .restarts = 10, .max_iter = 300, .tol = 1e-4, .seed = 3};
    int32_t *a = malloc((size_t)b.n * sizeof(int32_t));
    double inertia = unic_ss_kmeans(b.x, b.n, b.d, b.given, b.n_old, &o, a, NULL);
    cr_assert_geq(inertia, 0);
    int64_t labeled = 0;
    for (int64_t i = 0; i < b.n; i++)
        if (b.given[i] >= 0) {
            labeled++;
            cr_expect_eq(a[i], b.given[i], "labeled point %lld moved", (long long)i);
        }
    cr_assert_gt(labeled, 0);

    /* Old classes keep their indices, so unlabeled old points should land on
     * centre = class; scored like GCD over the unlabeled points. */
    int64_t nu = 0;
    int32_t *yu = malloc((size_t)b.n * sizeof(int32_t));
    int32_t *pu = malloc((size_t)b.n * sizeof(int32_t));
    int64_t old_right = 0, old_total = 0;
    for (int64_t i = 0; i < b.n; i++) {
        if (b.given[i] >= 0) continue;
        yu[nu] = b.y[i];
        pu[nu++] = a[i];
        if (b.y[i] < b.n_old) old_total++, old_right += a[i] == b.y[i];
    }
    cr_expect_eq(old_right, old_total);
    const uint8_t is_old[2] = {1, 1};
    unic_gcd_scores g;
    char err[128];
    cr_assert_eq(unic_gcd_scores_compute(yu, pu, nu, is_old, 2, &g, err, sizeof err), 0, "%s", err);
    cr_expect_geq(g.all, 0.99, "all %g", g.all);
    cr_expect_geq(g.old, 0.99, "old %g", g.old);
    cr_expect_geq(g.new_, 0.99, "new %g", g.new_);
    free(yu);
    free(pu);
    free(a);
    free_blobs(&b);
}

Test(ss_kmeans, scale_of_features_does_not_matter)
{
    /* Features are L2-normalised first: scaling every row changes nothing. */
    blobs b = load_blobs("ss_kmeans_blobs.txt", 1);
    unic_kmeans_opts o = {.k = b.k, .restarts = 3, .max_iter = 300, .tol = 1e-4, .seed = 5};
    int32_t *a1 = malloc((size_t)b.n * sizeof(int32_t));
    int32_t *a2 = malloc((size_t)b.n * sizeof(int32_t));
    double in1 = unic_ss_kmeans(b.x, b.n, b.d, b.given, b.n_old, &o, a1, NULL);
    for (int64_t i = 0; i < b.n; i++)
        for (int f = 0; f < b.d; f++) b.x[i * b.d + f] *= (float)(1 + i % 5) * 0.5f;
    double in2 = unic_ss_kmeans(b.x, b.n, b.d, b.given, b.n_old, &o, a2, NULL);
    cr_expect(fabs(in1 - in2) <= 1e-4 * in1, "%g vs %g", in1, in2);
    cr_expect_eq(acc_of(a1, a2, b.n), 1.0);
    free(a1);
    free(a2);
    free_blobs(&b);
}

Test(kmeans, bad_input)
{
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int32_t a[4];
    unic_kmeans_opts o = {.k = 5, .restarts = 1, .max_iter = 10, .tol = 1e-4, .seed = 0};
    cr_expect_eq(unic_kmeans(x, 4, 2, &o, a, NULL), -1); /* n < k */
    cr_expect_eq(unic_kmeans(x, 0, 2, &o, a, NULL), -1);
    o.k = 2;
    o.restarts = 0;
    cr_expect_eq(unic_kmeans(x, 4, 2, &o, a, NULL), -1);
    o.restarts = 1;

    int32_t given[4] = {0, -1, 1, -1};
    cr_expect_eq(unic_ss_kmeans(x, 4, 2, given, 3, &o, a, NULL), -1); /* n_old > k */
    given[0] = 2;
    cr_expect_eq(unic_ss_kmeans(x, 4, 2, given, 2, &o, a, NULL), -1); /* label >= n_old */
    given[0] = -2;
    cr_expect_eq(unic_ss_kmeans(x, 4, 2, given, 2, &o, a, NULL), -1); /* below -1 */
    int32_t all_labeled[4] = {0, 0, 0, 0};
    o.k = 3;
    cr_expect_eq(unic_ss_kmeans(x, 4, 2, all_labeled, 1, &o, a, NULL), -1); /* no point to seed from */
    given[0] = 0;
    cr_expect_geq(unic_ss_kmeans(x, 4, 2, given, 2, &o, a, NULL), 0);
}
