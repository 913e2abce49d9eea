/* `unic neighbors`: the figure 4, 8, 9 and 10 analyses on point sets whose
 * neighbours are known by hand, the SVGs they draw, and the command end to
 * end with its errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "data/io.h"
#include "mining/neighbors.h"

#define UNIC UNIC_BINARY_DIR "/unic"

static void write_points(const char *path, const float *x, int64_t n, int64_t d,
                         const int32_t *labels)
{
    unic_array t[2] = {{"embeddings", UNIC_DT_F32, 2, {n, d}, (void *)x, sizeof(float) * n * d},
                       {"labels", UNIC_DT_I32, 1, {n}, (void *)labels, sizeof(int32_t) * n}};
    char err[1024];
    cr_assert_eq(unic_safetensors_write(path, t, labels ? 2 : 1, NULL, err, sizeof err), 0, "%s",
                 err);
}

/* The value in column `col` of the row of dir/file whose columns match
 * `where` ("a=1,b=2", compared as text). */
static double csv_get(const char *dir, const char *file, const char *where, const char *col)
{
    char *path = test_path(dir, file);
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "%s was not written", path);
    char *names[16], *line = strtok(text, "\n");
    int ncols = 0;
    for (char *s = line, *c; ncols < 16; s = c + 1) {
        names[ncols++] = s;
        if (!(c = strchr(s, ','))) break;
        *c = '\0';
    }
    int want = -1;
    for (int i = 0; i < ncols; i++)
        if (strcmp(names[i], col) == 0) want = i;
    cr_assert_geq(want, 0, "%s has no column '%s'", path, col);
    char keys[8][32], vals[8][32];
    int nkeys = 0;
    for (const char *s = where; *s && nkeys < 8; nkeys++) {
        int used = 0;
        cr_assert_eq(sscanf(s, "%31[^=]=%31[^,]%n", keys[nkeys], vals[nkeys], &used), 2);
        s += used + (s[used] == ',');
    }
    double value = NAN;
    int found = 0;
    while ((line = strtok(NULL, "\n"))) {
        char *cells[16];
        int n = 0;
        for (char *s = line, *c; n < 16; s = c + 1) {
            cells[n++] = s;
            if (!(c = strchr(s, ','))) break;
            *c = '\0';
        }
        int match = 1;
        for (int k = 0; k < nkeys; k++)
            for (int i = 0; i < ncols && i < n; i++)
                if (strcmp(names[i], keys[k]) == 0 && strcmp(cells[i], vals[k]) != 0) match = 0;
        if (match && n > want) {
            cr_assert_not(found, "%s: several rows match %s", path, where);
            value = strtod(cells[want], NULL);
            found = 1;
        }
    }
    cr_assert(found, "%s: no row matches %s", path, where);
    free(text);
    free(path);
    return value;
}

static int csv_rows(const char *dir, const char *file)
{
    char *path = test_path(dir, file);
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "%s was not written", path);
    int rows = -1; /* the header */
    for (char *s = text; *s; s++) rows += *s == '\n';
    free(text);
    free(path);
    return rows;
}

static void expect_svg(const char *dir, const char *file, const char *const *names)
{
    char *path = test_path(dir, file);
    size_t size;
    char *text = test_read_file(path, &size);
    cr_assert_not_null(text, "%s was not written", path);
    cr_expect_eq(strncmp(text, "<svg", 4), 0, "%s does not start with <svg", path);
    cr_expect_not_null(strstr(text, "</svg>"), "%s is not closed", path);
    for (const char *const *n = names; *n; n++)
        cr_expect_not_null(strstr(text, *n), "%s lacks the series '%s'", path, *n);
    free(text);
    free(path);
}

#define EXPECT_NEAR(got, want) \
    cr_expect(fabs((got) - (want)) < 1e-9, "%s = %.12g, expected %.12g", #got, (got), (want))

/* Two clusters on a line, {0,1,2,3} and {99,...,102}, and a point at 51
 * between them whose nearest are 3 and 99 (a tie at 48, broken by index).
 * Point 7 (102) is labelled with the left class. tau1 = 3 lists:
 *   0:[0,1,2] 1:[1,0,2] 2:[2,1,3] 3:[3,2,1] 4:[4,5,6] 5:[5,4,6] 6:[6,5,7]
 *   7:[7,6,5] 8:[8,3,4]
 * unions are 4 except the middle point's {8,3,4,2,1,5,6} = 7; same-class
 * neighbours 2,2,2,2,2,2,1,0 and 1. tau1 = 2 (the prefixes): unions
 * 2,2,3,3,2,2,3,3,3, same-class 1,1,1,1,1,1,1,0,1. */
static char *union_case(void)
{
    char *dir = test_tmpdir("neighbors");
    char *path = test_path(dir, "points.safetensors");
    float x[9] = {0, 1, 2, 3, 99, 100, 101, 102, 51};
    int32_t y[9] = {0, 0, 0, 0, 1, 1, 1, 0, 0};
    write_points(path, x, 9, 1, y);
    char *out = test_path(dir, "out"), err[2048];
    int tau1[2] = {3, 2}; /* unsorted on purpose: knn runs once at the largest */
    cr_assert_eq(unic_neighbors_report(path, NULL, out, tau1, 2, 0, err, sizeof err), 0, "%s",
                 err);
    free(path);
    free(dir);
    return out;
}

Test(neighbors, fig4_true_positives_and_kept_fraction_by_threshold)
{
    char *out = union_case();
    const char *f3 = "fig4_union_threshold_tau1-3.csv", *f2 = "fig4_union_threshold_tau1-2.csv";
    cr_expect_eq(csv_rows(out, f3), 4, "thresholds 4..7, every integer");
    for (int eta = 4; eta <= 6; eta++) {
        char where[32];
        snprintf(where, sizeof where, "eta=%d", eta);
        EXPECT_NEAR(csv_get(out, f3, where, "true_positive_rate"), 13.0 / 16.0);
        EXPECT_NEAR(csv_get(out, f3, where, "kept_fraction"), 8.0 / 9.0);
    }
    EXPECT_NEAR(csv_get(out, f3, "eta=7", "true_positive_rate"), 14.0 / 18.0);
    EXPECT_NEAR(csv_get(out, f3, "eta=7", "kept_fraction"), 1.0);
    EXPECT_NEAR(csv_get(out, f3, "eta=7", "kept_anchors"), 9.0);
    cr_expect_eq(csv_rows(out, f2), 2);
    EXPECT_NEAR(csv_get(out, f2, "eta=2", "true_positive_rate"), 1.0);
    EXPECT_NEAR(csv_get(out, f2, "eta=2", "kept_fraction"), 4.0 / 9.0);
    EXPECT_NEAR(csv_get(out, f2, "eta=3", "true_positive_rate"), 8.0 / 9.0);
    EXPECT_NEAR(csv_get(out, f2, "eta=3", "kept_fraction"), 1.0);
    const char *series[] = {"true-positive rate of kept neighbours", "fraction of the dataset kept",
                            NULL};
    expect_svg(out, "fig4_union_threshold_tau1-3.svg", series);
    expect_svg(out, "fig4_union_threshold_tau1-2.svg", series);
    free(out);
}

Test(neighbors, fig9_removed_and_fig10_purity)
{
    char *out = union_case();
    const char *f9 = "fig9_removed_by_union.csv", *f10 = "fig10_purity_by_removed.csv";
    EXPECT_NEAR(csv_get(out, f9, "tau1=3,eta=4", "removed_fraction"), 1.0 / 9.0);
    EXPECT_NEAR(csv_get(out, f9, "tau1=3,eta=6", "removed_anchors"), 1.0);
    EXPECT_NEAR(csv_get(out, f9, "tau1=3,eta=7", "removed_fraction"), 0.0);
    EXPECT_NEAR(csv_get(out, f9, "tau1=2,eta=2", "removed_fraction"), 5.0 / 9.0);
    EXPECT_NEAR(csv_get(out, f9, "tau1=2,eta=3", "removed_fraction"), 0.0);
    cr_expect_eq(csv_rows(out, f9), 4 + 2);
    /* one row per observed union size: 5 and 6 occur for no anchor */
    cr_expect_eq(csv_rows(out, f10), 2 + 2);
    EXPECT_NEAR(csv_get(out, f10, "tau1=3,union_size=7", "removed_fraction"), 0.0);
    EXPECT_NEAR(csv_get(out, f10, "tau1=3,union_size=7", "purity"), 14.0 / 18.0);
    EXPECT_NEAR(csv_get(out, f10, "tau1=3,union_size=4", "removed_fraction"), 1.0 / 9.0);
    EXPECT_NEAR(csv_get(out, f10, "tau1=3,union_size=4", "purity"), 13.0 / 16.0);
    EXPECT_NEAR(csv_get(out, f10, "tau1=2,union_size=2", "removed_fraction"), 5.0 / 9.0);
    EXPECT_NEAR(csv_get(out, f10, "tau1=2,union_size=2", "purity"), 1.0);
    const char *series[] = {"tau1 = 2", "tau1 = 3", NULL};
    expect_svg(out, "fig9_removed_by_union.svg", series);
    expect_svg(out, "fig10_purity_by_removed.svg", series);
    free(out);
}

Test(neighbors, max_union_caps_the_threshold_axis)
{
    char *dir = test_tmpdir("neighbors");
    char *path = test_path(dir, "points.safetensors"), *out = test_path(dir, "out"), err[2048];
    float x[9] = {0, 1, 2, 3, 99, 100, 101, 102, 51};
    int32_t y[9] = {0, 0, 0, 0, 1, 1, 1, 0, 0};
    write_points(path, x, 9, 1, y);
    int tau1[1] = {3};
    cr_assert_eq(unic_neighbors_report(path, NULL, out, tau1, 1, 5, err, sizeof err), 0, "%s", err);
    cr_expect_eq(csv_rows(out, "fig4_union_threshold_tau1-3.csv"), 2, "eta 4 and 5 only");
    cr_expect_eq(csv_rows(out, "fig9_removed_by_union.csv"), 2);
    free(path);
    free(out);
    free(dir);
}

/* Two classes of 5 on a line, far apart: every anchor's 4 nearest others
 * share its class, the 5 after them do not. */
Test(neighbors, fig8_rank_accuracy_of_two_clusters)
{
    char *dir = test_tmpdir("neighbors");
    char *path = test_path(dir, "points.safetensors"), *out = test_path(dir, "out"), err[2048];
    float x[10] = {0, 1, 2, 3, 4, 100, 101, 102, 103, 104};
    int32_t y[10] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
    write_points(path, x, 10, 1, y);
    int tau1[1] = {2};
    cr_assert_eq(unic_neighbors_report(path, NULL, out, tau1, 1, 0, err, sizeof err), 0, "%s", err);
    const char *f = "fig8_rank_accuracy.csv", *top = "fig8_rank_accuracy_top.csv";
    cr_expect_eq(csv_rows(out, f), 9, "fewer ranks than bins: one bin per rank");
    for (int r = 1; r <= 9; r++) {
        char where[32];
        snprintf(where, sizeof where, "rank_first=%d", r);
        EXPECT_NEAR(csv_get(out, f, where, "same_class_rate"), r <= 4 ? 1.0 : 0.0);
        EXPECT_NEAR(csv_get(out, f, where, "rank_norm"), r / 9.0);
        EXPECT_NEAR(csv_get(out, f, where, "random_rate"), 2 * 5 * 4 / 90.0);
        snprintf(where, sizeof where, "rank=%d", r);
        EXPECT_NEAR(csv_get(out, top, where, "same_class_rate"), r <= 4 ? 1.0 : 0.0);
    }
    const char *series[] = {"same-class rate", "random other point (0.4444)",
                            "Negative range", "Positive range", NULL};
    expect_svg(out, "fig8_rank_accuracy.svg", series);
    free(path);
    free(out);
    free(dir);
}

/* Integer points with many ties against a direct sort by (distance,
 * index): the same ranking knn.c uses. Small integers keep the GEMM form
 * exact, so ties stay ties. */
Test(neighbors, fig8_matches_a_direct_sort)
{
    enum { N = 60, D = 3, C = 3 };
    float x[N * D];
    int32_t y[N];
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        y[i] = i % C;
        for (int c = 0; c < D; c++) {
            s = s * 1103515245u + 12345u;
            x[i * D + c] = (float)((s >> 16) % 5) + (c == 0 ? 3.0f * (float)y[i] : 0.0f);
        }
    }
    char *dir = test_tmpdir("neighbors");
    char *path = test_path(dir, "points.safetensors"), *out = test_path(dir, "out"), err[2048];
    write_points(path, x, N, D, y);
    int tau1[1] = {5};
    cr_assert_eq(unic_neighbors_report(path, NULL, out, tau1, 1, 0, err, sizeof err), 0, "%s", err);
    int same[N - 1] = {0};
    for (int i = 0; i < N; i++) {
        int order[N - 1], d2[N], m = 0;
        for (int j = 0; j < N; j++) {
            d2[j] = 0;
            for (int c = 0; c < D; c++) {
                int t = (int)x[i * D + c] - (int)x[j * D + c];
                d2[j] += t * t;
            }
            if (j != i) order[m++] = j;
        }
        for (int a = 1; a < m; a++) /* insertion sort by (distance, index) */
            for (int b = a; b > 0 && (d2[order[b - 1]] > d2[order[b]] ||
                                      (d2[order[b - 1]] == d2[order[b]] &&
                                       order[b - 1] > order[b])); b--) {
                int t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
        for (int p = 0; p < m; p++) same[p] += y[order[p]] == y[i];
    }
    for (int r = 1; r < N; r++) {
        char where[32];
        snprintf(where, sizeof where, "rank=%d", r);
        EXPECT_NEAR(csv_get(out, "fig8_rank_accuracy_top.csv", where, "same_class_rate"),
                    same[r - 1] / (double)N);
    }
    free(path);
    free(out);
    free(dir);
}

static char *run_unic(const char *args, int *status)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, UNIC " neighbors %s", args);
    return test_run(cmd, status);
}

Test(neighbors, command_end_to_end_writes_beside_the_input)
{
    char *dir = test_tmpdir("neighbors");
    char *path = test_path(dir, "emb.safetensors");
    enum { N = 40, D = 4 };
    float x[N * D];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 4;
        for (int c = 0; c < D; c++)
            x[i * D + c] = (c == y[i] ? 5.0f : 0.0f) + 0.1f * (float)((i * 7 + c * 3) % 11);
    }
    write_points(path, x, N, D, y);
    char args[4096];
    snprintf(args, sizeof args, "%s --tau1 5,10 --quiet", path);
    int status;
    char *log = run_unic(args, &status);
    cr_assert_eq(status, 0, "unic neighbors exited %d:\n%s", status, log);
    free(log);
    char *out = test_path(dir, "neighbors");
    const char *files[] = {"fig4_union_threshold_tau1-5.csv", "fig4_union_threshold_tau1-5.svg",
                           "fig4_union_threshold_tau1-10.csv", "fig4_union_threshold_tau1-10.svg",
                           "fig8_rank_accuracy.csv", "fig8_rank_accuracy_top.csv",
                           "fig8_rank_accuracy.svg", "fig9_removed_by_union.csv",
                           "fig9_removed_by_union.svg", "fig10_purity_by_removed.csv",
                           "fig10_purity_by_removed.svg"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *f = test_path(out, files[i]);
        cr_expect_eq(access(f, R_OK), 0, "%s was not written", f);
        free(f);
    }
    /* separated classes: every uncleaned neighbour is a true positive */
    EXPECT_NEAR(csv_get(out, "fig10_purity_by_removed.csv", "tau1=5,removed_fraction=0",
                        "purity"), 1.0);
    const char *series[] = {"tau1 = 5", "tau1 = 10", NULL};
    expect_svg(out, "fig9_removed_by_union.svg", series);
    free(out);
    free(path);
    free(dir);
}

Test(neighbors, command_errors_name_the_problem)
{
    char *dir = test_tmpdir("neighbors");
    char *path = test_path(dir, "nolabels.safetensors"), args[4096];
    float x[8] = {0, 1, 2, 3, 10, 11, 12, 13};
    write_points(path, x, 8, 1, NULL);
    int status;
    snprintf(args, sizeof args, "%s --tau1 2", path);
    char *log = run_unic(args, &status);
    cr_expect_eq(status, 2);
    cr_expect_not_null(strstr(log, "no 'labels' tensor"), "%s", log);
    cr_expect_not_null(strstr(log, "--labels FILE"), "%s", log);
    cr_expect_not_null(strstr(log, path), "the message names the file: %s", log);
    free(log);

    /* the same file with the labels given separately works */
    char *labels = test_path(dir, "labels.txt");
    test_write_text(labels, "0\n0\n0\n0\n1\n1\n1\n1\n");
    snprintf(args, sizeof args, "%s --labels %s --tau1 2 --out %s/o --quiet", path, labels, dir);
    log = run_unic(args, &status);
    cr_expect_eq(status, 0, "%s", log);
    free(log);

    snprintf(args, sizeof args, "%s --labels %s --tau1 9", path, labels);
    log = run_unic(args, &status);
    cr_expect_eq(status, 2);
    cr_expect_not_null(strstr(log, "tau1 = 9"), "%s", log);
    free(log);

    log = run_unic("--tau1 1,x somewhere", &status);
    cr_expect_eq(status, 2);
    cr_expect_not_null(strstr(log, "--tau1"), "%s", log);
    free(log);

    snprintf(args, sizeof args, "%s", dir); /* a folder that is no run with embeddings */
    log = run_unic(args, &status);
    cr_expect_eq(status, 2);
    cr_expect_not_null(strstr(log, "without embeddings.safetensors"), "%s", log);
    cr_expect_not_null(strstr(log, "pass an embeddings file"), "%s", log);
    free(log);
    free(labels);
    free(path);
    free(dir);
}

Test(neighbors, run_folder_with_embeddings)
{
    char *dir = test_tmpdir("neighbors");
    char *path = test_path(dir, "embeddings.safetensors"), args[4096];
    float x[8] = {0, 1, 2, 3, 10, 11, 12, 13};
    int32_t y[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    write_points(path, x, 8, 1, y);
    snprintf(args, sizeof args, "%s --tau1 3 --quiet", dir);
    int status;
    char *log = run_unic(args, &status);
    cr_expect_eq(status, 0, "%s", log);
    free(log);
    char *out = test_path(dir, "neighbors");
    EXPECT_NEAR(csv_get(out, "fig4_union_threshold_tau1-3.csv", "eta=4", "true_positive_rate"),
                1.0);
    free(out);
    free(path);
    free(dir);
}
