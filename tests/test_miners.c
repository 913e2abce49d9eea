/* The mining engine against brute force, and every miner on small point
 * sets whose neighbours are known by construction. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "mining/knn.h"
#include "plugin/params.h"
#include "plugin/registry.h"
#include "unic/rng.h"

static unic_registry *reg;
static void setup(void) { reg = test_builtin_registry(); }
static void teardown(void) { unic_registry_free(reg); }
TestSuite(miners, .init = setup, .fini = teardown);

/* 1-D points 0, 1, ..., n-1: the neighbours of i are ordered by |i - j|,
 * ties to the lower index. */
static float *line(int n)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) x[i] = (float)i;
    return x;
}

typedef struct miner {
    const unic_component *c;
    unic_params *p;
    void *state;
} miner;

static miner make(const char *name, const char *k1, const char *v1, const char *k2, const char *v2)
{
    char err[1024];
    miner m;
    m.c = unic_registry_find(reg, UNIC_KIND_MINER, name, err, sizeof err);
    cr_assert_not_null(m.c, "%s", err);
    m.p = unic_params_new();
    unic_params_add_table(m.p, m.c->params);
    if (k1) cr_assert_eq(unic_params_set(m.p, k1, v1, err, sizeof err), 0, "%s", err);
    if (k2) cr_assert_eq(unic_params_set(m.p, k2, v2, err, sizeof err), 0, "%s", err);
    m.state = m.c->create(m.p, err, sizeof err);
    cr_assert_not_null(m.state, "%s", err);
    return m;
}

static void run_mine(miner *m, const unic_mine_input *in)
{
    char err[1024] = "";
    cr_assert_eq(m->c->miner->mine(m->state, in, err, sizeof err), 0, "%s", err);
}

static void drop(miner *m)
{
    m->c->destroy(m->state);
    unic_params_free(m->p);
}

Test(miners, engine_on_a_line_orders_by_distance_then_index)
{
    float *x = line(10);
    unic_mine_input in = {10, 1, x, NULL, NULL, UNIC_CPU};
    int32_t idx[30];
    float d[30];
    char err[256];
    cr_assert_eq(unic_knn(&in, 3, idx, d, err, sizeof err), 0, "%s", err);
    int32_t want0[] = {0, 1, 2}, want5[] = {5, 4, 6}, want9[] = {9, 8, 7};
    cr_expect_arr_eq(idx, want0, sizeof want0);
    cr_expect_arr_eq(idx + 15, want5, sizeof want5);
    cr_expect_arr_eq(idx + 27, want9, sizeof want9);
    cr_expect_float_eq(d[16], 1.0f, 1e-5);
    float th[10];
    int32_t th_idx[10];
    cr_assert_eq(unic_kth_neighbor(&in, 7, th, th_idx, err, sizeof err), 0, "%s", err);
    /* from 5 the order is 5,4,6,3,7,2,8,1,9,0: rank 7 is point 1 */
    cr_expect_eq(th_idx[5], 1);
    cr_expect_float_eq(th[5], 16.0f, 1e-4);
    cr_expect_eq(th_idx[0], 7);
    free(x);
}

static int cmp_int(const void *a, const void *b) { return *(const int32_t *)a - *(const int32_t *)b; }

Test(miners, engine_matches_brute_force_with_duplicates)
{
    const int n = 700, d = 9, k = 12;
    float *x = malloc(sizeof(float) * n * d);
    unic_rng g = unic_rng_stream(3, 0, 0);
    for (int i = 0; i < n * d; i++) x[i] = (float)(unic_rng_u64(&g) % 5); /* coarse grid: many ties */
    memcpy(x + 10 * d, x + 20 * d, sizeof(float) * d); /* an exact duplicate */
    unic_mine_input in = {n, d, x, NULL, NULL, UNIC_CPU};
    int32_t *idx = malloc(sizeof(int32_t) * n * k);
    char err[256];
    cr_assert_eq(unic_knn(&in, k, idx, NULL, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(idx[i * k], i, "anchor %d is not its own first neighbour", i);
        /* brute force: the k-th smallest squared distance among the others */
        float *all = malloc(sizeof(float) * n);
        for (int j = 0; j < n; j++) all[j] = j == i ? -1.0f : unic_sq_dist(&in, i, j);
        float kth_d = 0;
        for (int c = 0; c < k; c++) {
            float dd = unic_sq_dist(&in, i, idx[i * k + c]);
            if (c) cr_assert_geq(dd, kth_d, "row %d not sorted", i);
            kth_d = c ? dd : 0;
        }
        int strictly_closer = 0;
        for (int j = 0; j < n; j++) strictly_closer += all[j] >= 0 && all[j] < kth_d;
        cr_assert_leq(strictly_closer, k - 1, "row %d misses a closer point", i);
        /* on ties, the lowest indices win */
        int32_t got[64];
        memcpy(got, idx + i * k, sizeof(int32_t) * k);
        qsort(got + 1, k - 1, sizeof(int32_t), cmp_int);
        int c = 1;
        for (int j = 0; j < n && c < k; j++)
            if (j != i && all[j] < kth_d) c++;
        for (int j = 0; j < n && c < k; j++)
            if (j != i && all[j] == kth_d) {
                cr_assert(bsearch(&j, got + 1, k - 1, sizeof(int32_t), cmp_int),
                          "row %d: tie at index %d should have been kept", i, j);
                c++;
            }
        free(all);
    }
    cr_expect_eq(idx[10 * k + 1], 20, "the duplicate of 10 is its nearest neighbour");
    free(idx);
    free(x);
}

Test(miners, knn_positives_and_cleaning)
{
    float *x = line(10);
    unic_mine_input in = {10, 1, x, NULL, NULL, UNIC_CPU};
    miner m = make("knn", "tau1", "3", NULL, NULL);
    run_mine(&m, &in);
    unic_rng g = unic_rng_stream(1, 2, 3);
    int seen[10] = {0};
    for (int t = 0; t < 300; t++) seen[m.c->miner->sample(m.state, 5, &g)]++;
    cr_expect(seen[4] > 50 && seen[5] > 50 && seen[6] > 50, "uniform over {4,5,6}");
    cr_expect_eq(seen[4] + seen[5] + seen[6], 300);
    drop(&m);

    /* union sizes: 4 at the ends (0: {0,1,2,3}), 5 inside ({i-2..i+2}) */
    m = make("knn", "tau1", "3", "eta", "4");
    run_mine(&m, &in);
    cr_expect_eq(m.c->miner->count(m.state, 0), 3, "an end point keeps its neighbours");
    cr_expect_eq(m.c->miner->count(m.state, 5), 1, "an inner point is cleaned to itself");
    for (int t = 0; t < 20; t++) cr_expect_eq(m.c->miner->sample(m.state, 5, &g), 5);
    drop(&m);
    free(x);
}

/* Cleaning (eq. 4) on random data against a naive union of neighbour lists. */
Test(miners, cleaning_matches_naive_union_sizes)
{
    const int n = 300, d = 3, t1 = 6;
    float *x = malloc(sizeof(float) * n * d);
    unic_rng g = unic_rng_stream(8, 8, 8);
    for (int i = 0; i < n * d; i++) x[i] = unic_rng_uniform(&g);
    unic_mine_input in = {n, d, x, NULL, NULL, UNIC_CPU};
    int32_t *idx = malloc(sizeof(int32_t) * n * t1);
    char err[256];
    cr_assert_eq(unic_knn(&in, t1, idx, NULL, err, sizeof err), 0, "%s", err);
    int *size = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        char seen[300] = {0};
        size[i] = 0;
        for (int a = 0; a < t1; a++)
            for (int b = 0; b < t1; b++) {
                int j = idx[idx[i * t1 + a] * t1 + b];
                if (!seen[j]) seen[j] = 1, size[i]++;
            }
    }
    const char *eta = "16";
    miner m = make("knn", "tau1", "6", "eta", eta);
    run_mine(&m, &in);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int want = size[i] <= atoi(eta) ? t1 : 1;
        cr_assert_eq(m.c->miner->count(m.state, i), want, "anchor %d: union %d", i, size[i]);
        kept += want == t1;
    }
    cr_expect(kept > 10 && kept < n - 10, "eta should split this set: kept %d of %d", kept, n);
    drop(&m);
    free(size);
    free(idx);
    free(x);
}

Test(miners, far_negatives_lie_beyond_tau2)
{
    float *x = line(10);
    unic_mine_input in = {10, 1, x, NULL, NULL, UNIC_CPU};
    miner m = make("far", "tau2", "7", NULL, NULL);
    run_mine(&m, &in);
    unic_rng g = unic_rng_stream(9, 9, 9);
    int seen[10] = {0};
    for (int t = 0; t < 3000; t++) seen[m.c->miner->sample(m.state, 5, &g)]++;
    /* from 5: ranks 7, 8, 9 are points 1, 9, 0 */
    cr_expect_eq(seen[0] + seen[1] + seen[9], 3000, "only points 0, 1, 9");
    cr_expect(seen[0] > 800 && seen[1] > 800 && seen[9] > 800, "uniform: %d %d %d", seen[0],
              seen[1], seen[9]);
    cr_expect_eq(m.c->miner->count(m.state, 5), 3);
    char err[256];
    miner bad = make("far", "tau2", "10", NULL, NULL);
    cr_expect_neq(bad.c->miner->mine(bad.state, &in, err, sizeof err), 0);
    cr_expect(strstr(err, "tau2 = 10"), "%s", err);
    drop(&bad);
    drop(&m);
    free(x);
}

Test(miners, labeled_and_random)
{
    float *x = line(8);
    int32_t labels[8] = {0, 0, 1, 1, -1, -1, 2, 0};
    unic_mine_input in = {8, 1, x, labels, NULL, UNIC_CPU};
    miner pos = make("labeled_pos", NULL, NULL, NULL, NULL);
    miner neg = make("labeled_neg", NULL, NULL, NULL, NULL);
    miner rnd = make("random", NULL, NULL, NULL, NULL);
    run_mine(&pos, &in);
    run_mine(&neg, &in);
    run_mine(&rnd, &in);
    unic_rng g = unic_rng_stream(4, 4, 4);
    for (int t = 0; t < 200; t++) {
        int64_t p = pos.c->miner->sample(pos.state, 1, &g);
        cr_assert(p == 0 || p == 1 || p == 7, "class-0 positive, got %lld", (long long)p);
        int64_t q = neg.c->miner->sample(neg.state, 1, &g);
        cr_assert(q == 2 || q == 3 || q == 6, "labeled other-class negative, got %lld", (long long)q);
        int64_t r = rnd.c->miner->sample(rnd.state, 3, &g);
        cr_assert(r >= 0 && r < 8 && r != 3);
    }
    cr_expect_eq(pos.c->miner->sample(pos.state, 4, &g), -1, "unlabeled anchors have no labeled positive");
    cr_expect_eq(pos.c->miner->count(pos.state, 7), 3);
    cr_expect_eq(neg.c->miner->count(neg.state, 6), 5);
    drop(&pos);
    drop(&neg);
    drop(&rnd);
    free(x);
}
