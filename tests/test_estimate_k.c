/* The number-of-classes estimate and overclustering: metrics on
 * rectangular cluster x class tables and many-to-one accuracy, the
 * label-free criteria and the graph spectrum against scikit-learn / numpy
 * (tests/fixtures/make_estimate_k_fixtures.py), warm-started k-means,
 * Brent's integer search, the estimate on well-separated mixtures with and
 * without labels, and through the `unic` command: estimate-k, classes =
 * auto, an overclustered run, and bad ranges refused before any work. */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "data/formats/npy.h"
#include "eval/cluster_validity.h"
#include "eval/estimate_k.h"
#include "eval/graph_spectrum.h"
#include "eval/kmeans.h"
#include "eval/metrics.h"
#include "unic/rng.h"

#define UNIC UNIC_BINARY_DIR "/unic"

static int close_to(double got, double want, double rel)
{
    return fabs(got - want) <= rel * fmax(1.0, fabs(want));
}

/* ---- metrics with more (or fewer) clusters than classes ------------------ */

static FILE *open_fixture(const char *name)
{
    char *path = test_fixture(name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "missing fixture %s (run tests/fixtures/make_estimate_k_fixtures.py)",
                       path);
    free(path);
    return f;
}

Test(overcluster, scores_match_sklearn_on_rectangular_tables)
{
    FILE *f = open_fixture("overcluster_cases.txt");
    int cases;
    cr_assert_eq(fscanf(f, " cases %d", &cases), 1);
    cr_assert_geq(cases, 4);
    for (int c = 0; c < cases; c++) {
        char name[64];
        long n;
        cr_assert_eq(fscanf(f, " case %63s %ld", name, &n), 2);
        int32_t *y = malloc(sizeof(int32_t) * n), *p = malloc(sizeof(int32_t) * n);
        for (long i = 0; i < n; i++) cr_assert_eq(fscanf(f, "%d", &y[i]), 1);
        for (long i = 0; i < n; i++) cr_assert_eq(fscanf(f, "%d", &p[i]), 1);
        double acc, nmi, ari, m2o;
        cr_assert_eq(fscanf(f, "%lf %lf %lf %lf", &acc, &nmi, &ari, &m2o), 4);
        unic_cluster_scores s;
        char err[256] = "";
        cr_assert_eq(unic_cluster_scores_compute(y, p, n, &s, err, sizeof err), 0, "%s", err);
        cr_expect(close_to(s.acc, acc, 1e-12), "%s acc %.17g vs sklearn %.17g", name, s.acc, acc);
        cr_expect(close_to(s.nmi, nmi, 1e-9), "%s nmi %.17g vs %.17g", name, s.nmi, nmi);
        cr_expect(close_to(s.ari, ari, 1e-9), "%s ari %.17g vs %.17g", name, s.ari, ari);
        cr_expect(close_to(s.m2o, m2o, 1e-12), "%s m2o %.17g vs %.17g", name, s.m2o, m2o);
        cr_expect_geq(s.m2o, s.acc, "%s: many-to-one can only match more", name);
        free(y);
        free(p);
    }
    fclose(f);
}

/* ---- the label-free criteria and the spectrum ---------------------------- */

typedef struct validity_ref {
    int n, d, k, knn, m;
    float *x;
    int32_t *labels;
    double sil, ch, *eig;
} validity_ref;

static validity_ref load_validity(void)
{
    validity_ref v;
    FILE *f = open_fixture("validity_ref.txt");
    cr_assert_eq(fscanf(f, "%d %d %d %d %d", &v.n, &v.d, &v.k, &v.knn, &v.m), 5);
    v.x = malloc(sizeof(float) * v.n * v.d);
    v.labels = malloc(sizeof(int32_t) * v.n);
    v.eig = malloc(sizeof(double) * v.m);
    for (int i = 0; i < v.n * v.d; i++) cr_assert_eq(fscanf(f, "%f", &v.x[i]), 1);
    for (int i = 0; i < v.n; i++) cr_assert_eq(fscanf(f, "%d", &v.labels[i]), 1);
    cr_assert_eq(fscanf(f, "%lf %lf", &v.sil, &v.ch), 2);
    for (int i = 0; i < v.m; i++) cr_assert_eq(fscanf(f, "%lf", &v.eig[i]), 1);
    fclose(f);
    return v;
}

static float *normalised(const float *x, int n, int d)
{
    float *xs = malloc(sizeof(float) * n * d);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)x[i * d + j] * x[i * d + j];
        for (int j = 0; j < d; j++) xs[i * d + j] = (float)(x[i * d + j] / sqrt(s));
    }
    return xs;
}

Test(criteria, silhouette_and_calinski_match_sklearn)
{
    validity_ref v = load_validity();
    float *xs = normalised(v.x, v.n, v.d);
    double sil = unic_silhouette_cosine(xs, v.n, v.d, v.labels, v.k);
    double ch = unic_calinski_harabasz(xs, v.n, v.d, v.labels, v.k);
    cr_expect(close_to(sil, v.sil, 1e-5), "silhouette %.9g vs sklearn %.9g", sil, v.sil);
    cr_expect(close_to(ch, v.ch, 1e-5), "Calinski-Harabasz %.9g vs sklearn %.9g", ch, v.ch);
    /* one cluster is no clustering */
    int32_t *one = calloc(v.n, sizeof(int32_t));
    cr_expect(isnan(unic_silhouette_cosine(xs, v.n, v.d, one, v.k)));
    cr_expect(isnan(unic_calinski_harabasz(xs, v.n, v.d, one, v.k)));
    free(one);
    free(xs);
}

/* Exact neighbour lists of the fixture's points (self first). */
static int32_t *brute_knn(const float *x, int n, int d, int k)
{
    int32_t *idx = malloc(sizeof(int32_t) * n * k);
    double *dist = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int c = 0; c < d; c++) {
                double t = (double)x[i * d + c] - x[j * d + c];
                s += t * t;
            }
            dist[j] = s;
        }
        for (int t = 0; t < k; t++) { /* selection: k smallest, ties by index */
            int best = -1;
            for (int j = 0; j < n; j++) {
                int used = 0;
                for (int u = 0; u < t; u++) used |= idx[i * k + u] == j;
                if (!used && (best < 0 || dist[j] < dist[best])) best = j;
            }
            idx[i * k + t] = best;
        }
    }
    free(dist);
    return idx;
}

Test(criteria, knn_laplacian_spectrum_matches_numpy)
{
    validity_ref v = load_validity();
    int32_t *idx = brute_knn(v.x, v.n, v.d, v.knn);
    double *eig = malloc(sizeof(double) * v.m);
    char err[256] = "";
    int it = unic_knn_laplacian_smallest(idx, v.n, v.knn, v.m, 1, eig, err, sizeof err);
    cr_assert_gt(it, 0, "%s", err);
    for (int i = 0; i < v.m; i++)
        cr_expect(fabs(eig[i] - v.eig[i]) < 1e-7, "eigenvalue %d: %.12g vs numpy %.12g", i, eig[i],
                  v.eig[i]);
    /* the graph has two pieces: eigenvalue 0 twice, found as a block method finds it */
    cr_expect(fabs(eig[1]) < 1e-9 && eig[2] > 1e-3, "%g %g", eig[1], eig[2]);
    /* a point with no neighbour but itself is refused by name */
    for (int t = 0; t < v.knn; t++) idx[7 * v.knn + t] = 7;
    for (int i = 0; i < v.n; i++)
        for (int t = 0; t < v.knn; t++)
            if (idx[i * v.knn + t] == 7 && i != 7) idx[i * v.knn + t] = i;
    cr_expect_eq(unic_knn_laplacian_smallest(idx, v.n, v.knn, v.m, 1, eig, err, sizeof err), -1);
    cr_expect(strstr(err, "point 7 has no neighbour"), "%s", err);
    free(idx);
    free(eig);
}

/* ---- k-means warm starts ------------------------------------------------- */

/* k well-separated Gaussian clusters of unequal sizes (sizes[c] points
 * each) in d dimensions, centres at distance ~sep; labels in y. */
static float *mixture(const int *sizes, int k, int d, double sep, uint64_t seed, int32_t *y, int *n_out)
{
    int n = 0;
    for (int c = 0; c < k; c++) n += sizes[c];
    float *x = malloc(sizeof(float) * n * d);
    double *centre = malloc(sizeof(double) * k * d);
    unic_rng g = unic_rng_stream(seed, 0, 0);
    for (int c = 0; c < k * d; c++) centre[c] = 0;
    for (int c = 0; c < k; c++) centre[c * d + (c % d)] = sep / sqrt(2.0); /* orthogonal axes */
    for (int c = 0; c < k; c++) centre[c * d + ((c + 3) % d)] += sep / sqrt(2.0) * 0.5;
    int at = 0;
    for (int c = 0; c < k; c++)
        for (int s = 0; s < sizes[c]; s++, at++) {
            y[at] = c;
            for (int j = 0; j < d; j++) { /* Box-Muller */
                double u1 = (unic_rng_u64(&g) >> 11) * 0x1.0p-53 + 1e-300;
                double u2 = (unic_rng_u64(&g) >> 11) * 0x1.0p-53;
                x[at * d + j] = (float)(centre[c * d + j] + sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
            }
        }
    /* shuffle rows so that classes interleave */
    for (int i = n - 1; i > 0; i--) {
        int j = (int)unic_rng_below(&g, (uint64_t)i + 1);
        for (int c = 0; c < d; c++) {
            float t = x[i * d + c];
            x[i * d + c] = x[j * d + c];
            x[j * d + c] = t;
        }
        int32_t t = y[i];
        y[i] = y[j];
        y[j] = t;
    }
    free(centre);
    *n_out = n;
    return x;
}

Test(kmeans_warm, converged_centres_are_a_fixed_point_and_bad_init_is_refused)
{
    const int sizes[4] = {120, 80, 60, 40};
    int32_t y[300], a1[300], a2[300];
    int n;
    float *x = mixture(sizes, 4, 8, 12, 3, y, &n);
    float c[4 * 8], c2[4 * 8];
    unic_kmeans_opts o = {.k = 4, .restarts = 3, .max_iter = 100, .tol = 1e-4, .seed = 1};
    double in1 = unic_kmeans(x, n, 8, &o, a1, c);
    cr_assert_geq(in1, 0);
    /* restarting from its own converged centres changes nothing */
    unic_kmeans_opts w = {.k = 4, .restarts = 1, .max_iter = 100, .tol = 1e-4, .seed = 9,
                          .init = c, .init_k = 4};
    double in2 = unic_kmeans(x, n, 8, &w, a2, c2);
    cr_expect(close_to(in2, in1, 1e-9), "%.9g vs %.9g", in2, in1);
    cr_expect_arr_eq(a1, a2, sizeof a1);
    /* from three of the four centres, the fourth is added by k-means++: same optimum */
    w.init_k = 3;
    cr_expect(close_to(unic_kmeans(x, n, 8, &w, a2, NULL), in1, 1e-6));
    /* more given centres than clusters is not a seeding */
    w.init_k = 5;
    cr_expect_eq(unic_kmeans(x, n, 8, &w, a2, NULL), -1);
    /* SS-k-means: a warm start needs every labeled class among the given centres */
    int32_t given[300];
    for (int i = 0; i < n; i++) given[i] = i % 2 && y[i] < 2 ? y[i] : -1;
    unic_kmeans_opts ws = {.k = 4, .restarts = 1, .max_iter = 100, .tol = 1e-4, .seed = 2,
                           .init = c, .init_k = 1};
    cr_expect_eq(unic_ss_kmeans(x, n, 8, given, 2, &ws, a2, NULL), -1);
    ws.init_k = 0;
    ws.init = NULL;
    cr_expect_geq(unic_ss_kmeans(x, n, 8, given, 2, &ws, a2, c2), 0);
    ws.init = c2;
    ws.init_k = 4;
    cr_expect_geq(unic_ss_kmeans(x, n, 8, given, 2, &ws, a1, NULL), 0);
    cr_expect_arr_eq(a1, a2, sizeof a1, "SS-k-means from its own centres stays there");
    free(x);
}

/* ---- Brent on integers --------------------------------------------------- */

static double parabola(void *ctx, int k)
{
    (*(int *)ctx)++;
    return (k - 13.0) * (k - 13.0);
}

static double plateau(void *ctx, int k)
{
    (void)ctx;
    return k >= 9 && k <= 12 ? -1.0 : k < 9 ? -1.0 + 0.1 * (9 - k) : -1.0 + 0.1 * (k - 12);
}

Test(brent, integer_minimum_with_memoised_calls)
{
    int raw = 0, calls = 0;
    cr_expect_eq(unic_brent_integer(parabola, &raw, 2, 60, &calls), 13);
    cr_expect_eq(raw, calls, "each integer is evaluated once");
    cr_expect_lt(calls, 20, "%d evaluations of 59 integers", calls);
    cr_expect_eq(unic_brent_integer(parabola, &raw, 20, 40, &calls), 20, "minimum at the bound");
    int best = unic_brent_integer(plateau, NULL, 2, 40, &calls);
    cr_expect(best >= 9 && best <= 12, "a point of the flat minimum, got %d", best);
    cr_expect_eq(unic_brent_integer(parabola, &raw, 7, 7, &calls), 7);
}

/* ---- the estimate on well-separated mixtures ----------------------------- */

static const int sizes7[7] = {400, 300, 220, 160, 120, 80, 50};

static unic_kest_opts default_opts(unic_kest_criterion c)
{
    unic_kest_opts o = {.k_min = 2, .k_max = 15, .criterion = c, .restarts = 4,
                        .max_iter = 300, .tol = 1e-4, .seed = 0, .holdout = 0.5, .knn = 10};
    return o;
}

Test(estimate, label_free_default_within_one_of_the_truth, .timeout = 120)
{
    int32_t y[1330];
    int n;
    float *x = mixture(sizes7, 7, 16, 10, 11, y, &n);
    unic_kest_input in = {.x = x, .n = n, .d = 16};
    unic_kest_result r;
    char err[512] = "";
    unic_kest_opts o = default_opts(UNIC_KEST_LABEL_FREE_DEFAULT);
    cr_assert_eq(unic_estimate_k(&in, &o, &r, err, sizeof err), 0, "%s", err);
    cr_expect(abs(r.k - 7) <= 1, "%s estimated %d for 7 clusters", unic_kest_name(r.criterion), r.k);
    cr_expect_eq(r.count, 14);
    /* the same input gives the same numbers */
    unic_kest_result again;
    cr_assert_eq(unic_estimate_k(&in, &o, &again, err, sizeof err), 0, "%s", err);
    cr_expect_eq(again.k, r.k);
    cr_expect_arr_eq(again.score, r.score, sizeof(double) * r.count);
    unic_kest_free(&again);
    unic_kest_free(&r);
    /* the other criteria on the same data, scanned with warm starts */
    o = default_opts(UNIC_KEST_SILHOUETTE);
    cr_assert_eq(unic_estimate_k(&in, &o, &r, err, sizeof err), 0, "%s", err);
    cr_expect(abs(r.k - 7) <= 1, "silhouette estimated %d for 7 clusters", r.k);
    cr_expect_eq(r.evaluations, 14 * 4);
    for (int i = 0; i < r.count; i++) cr_expect(!isnan(r.score[i]), "K = %d not scanned", i + 2);
    unic_kest_free(&r);
    free(x);
}

Test(estimate, gcd_within_one_of_the_truth, .timeout = 120)
{
    int32_t y[1330];
    int n;
    float *x = mixture(sizes7, 7, 16, 10, 12, y, &n);
    /* classes 0-3 old, half of their items labeled */
    int32_t *lab = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) lab[i] = y[i] < 4 && i % 2 == 0 ? y[i] : -1;
    unic_kest_input in = {.x = x, .n = n, .d = 16, .labels = lab, .labeled_fraction = 0.5};
    unic_kest_opts o = default_opts(UNIC_KEST_GCD);
    o.k_min = 4;
    o.k_max = 20;
    unic_kest_result r;
    char err[512] = "";
    cr_assert_eq(unic_estimate_k(&in, &o, &r, err, sizeof err), 0, "%s", err);
    cr_expect(abs(r.k - 7) <= 1, "gcd estimated %d for 7 clusters", r.k);
    int evaluated = 0;
    for (int i = 0; i < r.count; i++) evaluated += !isnan(r.score[i]);
    cr_expect_lt(evaluated, r.count, "Brent evaluates part of the range (%d of %d)", evaluated,
                 r.count);
    cr_expect_eq(r.evaluations, evaluated * o.restarts * 2, "two splits, restarts fits each");
    unic_kest_free(&r);
    /* below the labeled classes: refused by name */
    o.k_min = 3;
    cr_expect_eq(unic_estimate_k(&in, &o, &r, err, sizeof err), -1);
    cr_expect(strstr(err, "below the"), "%s", err);
    free(lab);
    free(x);
}

Test(estimate, bad_ranges_are_refused_before_any_work)
{
    float x[20 * 2] = {0};
    unic_kest_input in = {.x = x, .n = 20, .d = 2};
    unic_kest_result r;
    char err[512];
    struct { int lo, hi; const char *want; } cases[] = {
        {1, 5, "at least 2"}, {6, 5, "min 6 > max 5"}, {2, 21, "above the 20 items"},
        {2, 5000, "UNIC_MAX_CLASSES"}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        unic_kest_opts o = default_opts(UNIC_KEST_SILHOUETTE);
        o.k_min = cases[c].lo;
        o.k_max = cases[c].hi;
        err[0] = '\0';
        cr_expect_eq(unic_estimate_k(&in, &o, &r, err, sizeof err), -1);
        cr_expect(strstr(err, cases[c].want), "%d..%d: %s", cases[c].lo, cases[c].hi, err);
    }
    unic_kest_opts o = default_opts(UNIC_KEST_GCD);
    o.k_max = 5;
    cr_expect_eq(unic_estimate_k(&in, &o, &r, err, sizeof err), -1);
    cr_expect(strstr(err, "needs labeled items"), "%s", err);
    o = default_opts(UNIC_KEST_EIGENGAP);
    o.k_max = 20;
    cr_expect_eq(unic_estimate_k(&in, &o, &r, err, sizeof err), -1);
    cr_expect(strstr(err, "below the 20 items") || strstr(err, "above"), "%s", err);
}

/* ---- through the command ------------------------------------------------- */

static char *run_unic(const char *args, int expect_status)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd " UNIC_SOURCE_DIR " && " UNIC " %s", args);
    int status;
    char *out = test_run(cmd, &status);
    cr_assert_eq(status, expect_status, "`unic %s` exited %d:\n%s", args, status, out);
    return out;
}

static cJSON *read_json(const char *dir, const char *name)
{
    char *path = test_path(dir, name);
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "%s was not written", path);
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j);
    free(text);
    free(path);
    return j;
}

static double number(cJSON *root, const char *obj, const char *key)
{
    cJSON *o = obj ? cJSON_GetObjectItem(root, obj) : root;
    cr_assert_not_null(o, "no '%s'", obj);
    cJSON *v = cJSON_GetObjectItem(o, key);
    cr_assert(cJSON_IsNumber(v), "no %s.%s", obj ? obj : "", key);
    return v->valuedouble;
}

/* A folder with a 5-cluster mixture as .npy embeddings and labels, and an
 * experiment on it (extra appended to [head]); returns the INI. */
static char *mixture_experiment(const char *tag, const char *head, char **dir_out)
{
    static const int sizes[5] = {120, 90, 70, 50, 40};
    int32_t y[370];
    int n;
    float *x = mixture(sizes, 5, 8, 12, 21, y, &n);
    char *dir = test_tmpdir(tag);
    char *emb = test_path(dir, "emb.npy"), *lab = test_path(dir, "labels.npy");
    char err[512];
    unic_array a = {"x", UNIC_DT_F32, 2, {n, 8}, x, sizeof(float) * n * 8};
    unic_array l = {"y", UNIC_DT_I32, 1, {n}, y, sizeof(int32_t) * n};
    cr_assert_eq(unic_npy_save(emb, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_npy_save(lab, &l, err, sizeof err), 0, "%s", err);
    char text[4096], *ini = test_path(dir, "mix.ini");
    snprintf(text, sizeof text,
             "[data]\npath = %s\nlabels = %s\n[backbone]\nplugin = features\n"
             "[head]\nhidden = 32\n%s\n"
             "[miner.pos]\nplugin = knn\ntau1 = 8\n[miner.neg]\nplugin = far\ntau2 = 150\n"
             "[loss.pos]\n[loss.neg]\n[loss.entropy]\n"
             "[train]\nepochs = 3\nbatch_size = 64\nlr = 3e-3\n[eval]\nevery = 0\n",
             emb, lab, head);
    test_write_text(ini, text);
    free(emb);
    free(lab);
    free(x);
    *dir_out = dir;
    return ini;
}

Test(estimate_cli, estimate_k_prints_and_writes_the_curve, .timeout = 120)
{
    char *dir, args[4096];
    char *ini = mixture_experiment("estk", "classes_max = 12", &dir);
    snprintf(args, sizeof args, "estimate-k %s --out %s/est", ini, dir);
    char *out = run_unic(args, 0);
    cr_expect(strstr(out, "estimated K = 5\n"), "%s", out);
    cr_expect(strstr(out, "the labels have 5 values"), "%s", out);
    char *est = test_path(dir, "est");
    char *csv = test_read_file(test_path(est, "estimate_k.csv"), NULL);
    cr_assert_not_null(csv);
    cr_expect(strncmp(csv, "k,eigengap,eigenvalue,evaluated\n2,", 33) == 0, "%s", csv);
    cr_expect(strstr(csv, "\n12,"), "the range ends at classes_max:\n%s", csv);
    char *svg = test_read_file(test_path(est, "estimate_k.svg"), NULL);
    cr_assert_not_null(svg);
    cr_expect(strstr(svg, "estimate K = 5"), "the plot marks the estimate");
    cr_expect(access(test_path(est, "checkpoint.safetensors"), F_OK) != 0, "nothing trained");
    free(out);
    /* another criterion through --set */
    snprintf(args, sizeof args, "estimate-k %s --out %s/sil --set head.estimate=silhouette", ini,
             dir);
    out = run_unic(args, 0);
    cr_expect(strstr(out, "estimated K = 5\n"), "%s", out);
    free(out);
    test_remove_tree(dir);
}

Test(estimate_cli, classes_auto_trains_with_the_estimate, .timeout = 120)
{
    char *dir, args[4096];
    char *ini = mixture_experiment("auto", "classes = auto\nclasses_max = 10", &dir);
    snprintf(args, sizeof args, "run %s --quiet --out %s/run", ini, dir);
    free(run_unic(args, 0));
    char *rd = test_path(dir, "run");
    cJSON *m = read_json(rd, "metrics.json");
    cr_expect_eq(number(m, NULL, "clusters"), 5);
    cr_expect_eq(number(m, "estimate", "k"), 5);
    cr_expect_eq(number(m, "estimate", "k_max"), 10);
    char *log = test_read_file(test_path(rd, "log.txt"), NULL);
    cr_expect(strstr(log, "estimated K = 5 (eigengap"), "%s", log);
    /* the estimate reads the knn miner's neighbours from the mining cache */
    cr_expect(strstr(log, "the 8 nearest of N=370: cached in"), "%s", log);
    cr_expect_eq(access(test_path(rd, "estimate_k.svg"), R_OK), 0);
    cJSON_Delete(m);
    test_remove_tree(dir);
}

/* Predictions from an overclustered run score as `unic eval` and the
 * library (checked against sklearn above) score them. */
Test(estimate_cli, overclustered_run_evaluates_every_output, .timeout = 120)
{
    char *dir, args[4096];
    char *ini = mixture_experiment("over", "classes = 10", &dir);
    snprintf(args, sizeof args, "run %s --quiet --out %s/run --set loss.entropy.weight=5", ini,
             dir);
    free(run_unic(args, 0));
    char *rd = test_path(dir, "run");
    cJSON *m = read_json(rd, "metrics.json");
    cr_expect_eq(number(m, NULL, "clusters"), 10);
    double acc = number(m, "unic", "acc"), m2o = number(m, "unic", "m2o");
    /* recompute from predictions.csv */
    char *csv = test_read_file(test_path(rd, "predictions.csv"), NULL);
    cr_assert_not_null(csv);
    int32_t pred[370], lab[370], n = 0, used[10] = {0};
    char *line = strchr(csv, '\n') + 1;
    while (*line && n < 370) {
        long idx;
        int p, l;
        float conf;
        cr_assert_eq(sscanf(line, "%ld,%d,%f,%d", &idx, &p, &conf, &l), 4, "%.60s", line);
        cr_assert(p >= 0 && p < 10, "prediction %d outside the 10 outputs", p);
        pred[n] = p;
        lab[n++] = l;
        used[p] = 1;
        line = strchr(line, '\n') + 1;
    }
    cr_assert_eq(n, 370);
    unic_cluster_scores s;
    char err[256];
    cr_assert_eq(unic_cluster_scores_compute(lab, pred, n, &s, err, sizeof err), 0);
    cr_expect(close_to(acc, s.acc, 1e-6), "metrics.json acc %.6f vs %.6f", acc, s.acc);
    cr_expect(close_to(m2o, s.m2o, 1e-6), "metrics.json m2o %.6f vs %.6f", m2o, s.m2o);
    cr_expect(close_to(number(m, "unic", "nmi"), s.nmi, 1e-6));
    cr_expect(close_to(number(m, "baseline", "m2o"), 1.0, 0.02),
                       "10-means on 5 separated clusters: each cluster is pure");
    int outputs = 0;
    for (int c = 0; c < 10; c++) outputs += used[c];
    cr_expect_gt(outputs, 5, "more outputs than classes in use (%d)", outputs);
    cJSON_Delete(m);
    free(csv);
    test_remove_tree(dir);
}

Test(estimate_cli, bad_ranges_stop_before_any_work)
{
    char *dir, args[4096];
    char *ini = mixture_experiment("badk", "classes = auto", &dir);
    struct { const char *set, *want; int status; } cases[] = {
        {"head.classes_min=9 --set head.classes_max=4", "[head] classes_max must be at least classes_min", 2},
        {"head.classes_min=1", "[head] classes_min must be 0 (automatic) or at least 2", 2},
        {"head.classes=many", "[head] classes must be auto or a number of clusters", 2},
        {"head.classes_max=5000", "[head] classes_max must be between 0 and 4096", 2},
        {"head.estimate=gcd", "gcd needs [data] old_classes", 2},
        {"data.classes=4", "[head] classes must be left empty, or [data] classes removed", 2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        snprintf(args, sizeof args, "check %s --set %s", ini, cases[c].set);
        char *out = run_unic(args, cases[c].status);
        cr_expect(strstr(out, cases[c].want), "%s:\n%s", cases[c].set, out);
        cr_expect(strstr(out, "mix.ini"), "the message names the file: %s", out);
        free(out);
    }
    /* against the data: more clusters than items, before anything is embedded or mined */
    snprintf(args, sizeof args, "run %s --out %s/r1 --set head.classes_max=371", ini, dir);
    char *out = run_unic(args, 1);
    cr_expect(strstr(out, "[head] classes_max") && strstr(out, "above the 370 items"), "%s", out);
    cr_expect(!strstr(out, "mining"), "no work may start: %s", out);
    free(out);
    snprintf(args, sizeof args, "estimate-k %s --out %s/r2 --set head.classes_max=371", ini, dir);
    out = run_unic(args, 1);
    cr_expect(strstr(out, "above the 370 items"), "%s", out);
    free(out);
    /* above what the memory plan allows */
    snprintf(args, sizeof args, "UNIC_MEMORY_LIMIT=1M " UNIC " run %s --out %s/r3 "
             "--set head.classes_max=300", ini, dir);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd " UNIC_SOURCE_DIR " && %s", args);
    int status;
    out = test_run(cmd, &status);
    cr_expect_eq(status, 1, "%s", out);
    cr_expect(strstr(out, "[head] classes_max = 300") && strstr(out, "MiB of host memory"), "%s",
              out);
    cr_expect(!strstr(out, "mining the"), "no mining before the refusal: %s", out);
    free(out);
    test_remove_tree(dir);
}
