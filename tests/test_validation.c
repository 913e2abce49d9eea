/* Validation before work: a plugin's size and count settings are bounded
 * by its parameter table, non-finite features, oversized batches, fractional
 * and huge labels and an over-budget training plan are all caught before
 * any epoch, through the `unic` command as a user meets them. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/io.h"
#include "helpers.h"
#include "plugin/params.h"

#define UNIC UNIC_BINARY_DIR "/unic"

/* Runs `unic ARGS` from the source tree; the output, and the status in *status. */
static char *unic(const char *args, int *status)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd " UNIC_SOURCE_DIR " && " UNIC " %s 2>&1", args);
    return test_run(cmd, status);
}

/* ---- 1. plugin parameter bounds ----------------------------------------- */

static const char *bounded_ini =
    "[data]\n"                      /* 1 */
    "path = data.npy\n"             /* 2 */
    "[backbone]\n"                  /* 3 */
    "plugin = features\n"           /* 4 */
    "[head]\n"                      /* 5 */
    "plugin = mlp\n"                /* 6 */
    "hidden = %s\n"                 /* 7 */
    "[miner.positives]\n"
    "plugin = knn\n"
    "tau1 = %s\n"
    "[loss.pos]\n"
    "[eval]\n"
    "kmeans_restarts = %s\n";

/* `unic check` on the experiment above; returns its output. */
static char *check(const char *dir, const char *hidden, const char *tau1, const char *restarts,
                   int *status)
{
    char *ini = test_path(dir, "exp.ini"), text[1024], args[2048];
    snprintf(text, sizeof text, bounded_ini, hidden, tau1, restarts);
    test_write_text(ini, text);
    snprintf(args, sizeof args, "check %s", ini);
    char *out = unic(args, status);
    unlink(ini);
    free(ini);
    return out;
}

/* hidden = 2147483647 overflowed mlp's int sizes; 2e9-wide layers and two
 * billion k-means restarts ran "forever". */
Test(validation, plugin_bounds_refuse_naming_file_line_section_key)
{
    char *dir = test_tmpdir("bounds");
    int status;
    char *out = check(dir, "2147483647", "20", "10", &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "exp.ini:7: [head] hidden must be between 1 and 65536, got 2147483647"),
              "%s", out);
    free(out);
    out = check(dir, "2000000000", "20", "10", &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "[head] hidden must be between 1 and 65536, got 2000000000"), "%s", out);
    free(out);
    out = check(dir, "16", "0", "10", &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "exp.ini:10: [miner.positives] tau1 must be between 1 and 65536, got 0"),
              "%s", out);
    free(out);
    out = check(dir, "16", "20", "2000000000", &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "[eval] kmeans_restarts must be between 1 and 10000, got 2000000000"),
              "%s", out);
    free(out);
    /* the bounds themselves are accepted */
    out = check(dir, "65536", "65536", "10000", &status);
    cr_expect(!strstr(out, "must be"), "%s", out);
    free(out);
    rmdir(dir);
    free(dir);
}

Test(validation, param_bounds_open_ends_and_numbers)
{
    char err[256];
    unic_param_spec at_least = {"n", UNIC_INT, "1", "", "1.."};
    unic_param_spec at_most = {"x", UNIC_FLOAT, "0.5", "", "..0.5"};
    unic_param_spec free_int = {"m", UNIC_INT, "0", "", NULL};
    cr_expect_eq(unic_param_check(&at_least, "9223372036854775807", err, sizeof err), 0);
    cr_expect_neq(unic_param_check(&at_least, "0", err, sizeof err), 0);
    cr_expect_str_eq(err, "must be at least 1, got 0");
    cr_expect_eq(unic_param_check(&at_most, "0.5", err, sizeof err), 0);
    cr_expect_neq(unic_param_check(&at_most, "0.51", err, sizeof err), 0);
    cr_expect_str_eq(err, "must be at most 0.5, got 0.51");
    cr_expect_eq(unic_param_check(&free_int, "-5", err, sizeof err), 0);
    /* a type error is still a type error */
    cr_expect_neq(unic_param_check(&at_least, "2e9", err, sizeof err), 0);
    cr_expect(strstr(err, "expected an integer"), "%s", err);
}

Test(validation, plugins_command_shows_the_bounds)
{
    int status;
    char *out = unic("plugins", &status);
    cr_expect_eq(status, 0, "%s", out);
    cr_expect(strstr(out, "int in 1..65536") && strstr(out, "int in 1..10000"), "%s", out);
    free(out);
}

/* ---- 2. non-finite features ---------------------------------------------- */

/* Three separated blobs of n_per items each, 4 columns, in dir/data.npy
 * with labels in dir/labels.npy; value `bad` at (bad_item, bad_col) when
 * bad_item >= 0. Returns dir/exp.ini, an experiment on them with `extra`
 * appended. */
static char *blob_experiment(const char *dir, int n_per, int bad_item, int bad_col, float bad,
                             const char *extra)
{
    const int d = 4, n = 3 * n_per;
    float *x = malloc(sizeof(float) * n * d);
    int32_t *y = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) {
        y[i] = i % 3;
        for (int c = 0; c < d; c++)
            x[i * d + c] = (c == y[i] ? 10.0f : 0.0f) + (float)((i * 7 + c * 13) % 11) * 0.05f;
    }
    if (bad_item >= 0) x[bad_item * d + bad_col] = bad;
    char *xp = test_path(dir, "data.npy"), *yp = test_path(dir, "labels.npy"), err[1024];
    unic_array a = {NULL, UNIC_DT_F32, 2, {n, d}, x, sizeof(float) * n * d};
    unic_array b = {NULL, UNIC_DT_I32, 1, {n}, y, sizeof(int32_t) * n};
    cr_assert_eq(unic_npy_save(xp, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_npy_save(yp, &b, err, sizeof err), 0, "%s", err);
    char *ini = test_path(dir, "exp.ini"), text[4096];
    snprintf(text, sizeof text,
             "[data]\npath = %s\nlabels = %s\n[backbone]\nplugin = features\n[head]\n"
             "plugin = mlp\nhidden = 16\n[miner.pos]\nplugin = knn\ntau1 = 5\n[miner.neg]\n"
             "plugin = far\ntau2 = %d\n[loss.pos]\n[loss.neg]\n[loss.entropy]\n[train]\n"
             "epochs = 3\nbatch_size = 16\nlr = 3e-3\n[eval]\nevery = 0\n%s",
             xp, yp, 2 * n_per, extra);
    test_write_text(ini, text);
    free(x);
    free(y);
    free(xp);
    free(yp);
    return ini;
}

/* One NaN used to train for the whole run, then fail in k-means with a
 * message naming neither the file nor the value. */
Test(validation, non_finite_features_stop_before_mining, .timeout = 120)
{
    char *dir = test_tmpdir("nan"), args[4096];
    char *ini = blob_experiment(dir, 10, 17, 3, NAN, "");
    int status;
    snprintf(args, sizeof args, "run %s --out %s/run", ini, dir);
    char *out = unic(args, &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "data.npy: 1 non-finite value (NaN at item 17, column 3); unic needs "
                          "finite features"), "%s", out);
    cr_expect(!strstr(out, "mining"), "no mining may start: %s", out);
    free(out);
    free(ini);
    /* every one is counted, the first named */
    ini = blob_experiment(dir, 10, 4, 0, -INFINITY, "");
    out = unic(args, &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "1 non-finite value (-Inf at item 4, column 0)"), "%s", out);
    free(out);
    free(ini);
    test_remove_tree(dir);
    free(dir);
}

/* ---- 3. batch_size beyond N ---------------------------------------------- */

/* A run's numbers: dir/NAME/predictions.csv and metrics.json's history
 * without its timings. */
static char *run_numbers(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/predictions.csv", dir, name);
    char *pred = test_read_file(path, NULL);
    cr_assert_not_null(pred, "%s was not written", path);
    snprintf(path, sizeof path, "%s/%s/metrics.json", dir, name);
    char *metrics = test_read_file(path, NULL);
    cr_assert_not_null(metrics, "%s was not written", path);
    char *hist = strstr(metrics, "\"history\"");
    cr_assert_not_null(hist, "%s", metrics);
    size_t len = strlen(pred) + strlen(hist) + 2;
    char *both = malloc(len), *o = both + snprintf(both, len, "%s\n", pred);
    for (char *line = strtok(hist, "\n"); line; line = strtok(NULL, "\n"))
        if (!strstr(line, "\"seconds\"")) o += sprintf(o, "%s\n", line);
    free(pred);
    free(metrics);
    return both;
}

/* batch_size = 100000 on 1,797 items ran 91 s in 9.7 GiB of step buffers;
 * now it is N, with a warning, and gives the numbers of batch_size = N. */
Test(validation, batch_larger_than_n_is_clamped_to_n, .timeout = 300)
{
    char *dir = test_tmpdir("batch"), args[4096];
    char *ini = blob_experiment(dir, 10, -1, 0, 0, "");
    int status;
    snprintf(args, sizeof args, "run %s --out %s/big --set train.batch_size=100000 --set train.epochs=10", ini, dir);
    char *out = unic(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    cr_expect(strstr(out, "[train] batch_size = 100000 is larger than the 30 training items; "
                          "using 30"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "run %s --out %s/n --set train.batch_size=30 --set train.epochs=10", ini, dir);
    out = unic(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    cr_expect(!strstr(out, "is larger than"), "%s", out);
    free(out);
    char *big = run_numbers(dir, "big"), *n = run_numbers(dir, "n");
    cr_expect(strcmp(big, n) == 0, "batch_size 100000 and N must give the same numbers:\n%s\n----\n%s", big, n);
    free(big);
    free(n);
    free(ini);
    test_remove_tree(dir);
    free(dir);
}

/* ---- 4. labels ----------------------------------------------------------- */

/* "3.7" as a label was a class nobody meant: text and float arrays both
 * refuse it with the file (and the line), never truncate it to 3. */
Test(validation, fractional_labels_are_refused_not_truncated)
{
    char *dir = test_tmpdir("labels"), err[1024] = "";
    char *txt = test_path(dir, "labels.txt"), *npy = test_path(dir, "labels.npy");
    test_write_text(txt, "0\n1\n3.7\n");
    int32_t *l = NULL;
    int64_t n = 0;
    cr_expect_neq(unic_load_labels(txt, NULL, &l, &n, err, sizeof err), 0, "3.7 was read as %d",
                  l && n > 2 ? l[2] : -1);
    cr_expect(strstr(err, "labels.txt") && strstr(err, "line 3") && strstr(err, "3.7"), "%s", err);
    float f[3] = {0, 1, 3.7f};
    unic_array a = {NULL, UNIC_DT_F32, 1, {3}, f, sizeof f};
    cr_assert_eq(unic_npy_save(npy, &a, err, sizeof err), 0, "%s", err);
    cr_expect_neq(unic_load_labels(npy, NULL, &l, &n, err, sizeof err), 0);
    cr_expect(strstr(err, "labels.npy") && strstr(err, "element 2") &&
              strstr(err, "not an integer"), "%s", err);
    f[2] = 2.0f; /* whole floats are labels */
    cr_assert_eq(unic_npy_save(npy, &a, err, sizeof err), 0, "%s", err);
    cr_expect_eq(unic_load_labels(npy, NULL, &l, &n, err, sizeof err), 0, "%s", err);
    cr_expect(n == 3 && l[2] == 2);
    free(l);
    test_remove_tree(dir);
    free(txt);
    free(npy);
    free(dir);
}

/* random_rate counts items per label value: a label of 2147483646 would
 * ask for 16 GiB. It is refused where `unic neighbors` loads the labels,
 * from the embeddings file or from --labels. */
Test(validation, neighbors_refuses_a_huge_label, .timeout = 60)
{
    char *dir = test_tmpdir("nbr_labels"), args[4096], err[1024];
    char *st = test_path(dir, "emb.safetensors"), *txt = test_path(dir, "labels.txt");
    enum { N = 12, D = 3 };
    float x[N * D];
    int64_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 3;
        for (int c = 0; c < D; c++) x[i * D + c] = (float)(i * 3 + c * 5 % 7);
    }
    y[N - 1] = 2147483646;
    unic_array t[2] = {{"embeddings", UNIC_DT_F32, 2, {N, D}, x, sizeof x},
                       {"labels", UNIC_DT_I64, 1, {N}, y, sizeof y}};
    cr_assert_eq(unic_safetensors_write(st, t, 2, NULL, err, sizeof err), 0, "%s", err);
    int status;
    snprintf(args, sizeof args, "neighbors %s --tau1 3 --out %s/out", st, dir);
    char *out = unic(args, &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "emb.safetensors: label 2147483646 of item 11") &&
              strstr(out, "[0, 4096)"), "%s", out);
    free(out);
    char text[256] = "";
    for (int i = 0; i < N - 1; i++) snprintf(text + strlen(text), 8, "%d\n", i % 3);
    strcat(text, "2147483646\n");
    test_write_text(txt, text);
    snprintf(args, sizeof args, "neighbors %s --labels %s --tau1 3 --out %s/out", st, txt, dir);
    out = unic(args, &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "labels.txt: label 2147483646 of item 11"), "%s", out);
    free(out);
    /* the same file with a sane last label is analysed */
    text[strlen(text) - 11] = '\0';
    strcat(text, "1\n");
    test_write_text(txt, text);
    out = unic(args, &status);
    cr_expect_eq(status, 0, "%s", out);
    free(out);
    test_remove_tree(dir);
    free(st);
    free(txt);
    free(dir);
}

/* ---- 5. training's memory plan ------------------------------------------- */

/* Training states its memory as mining does, and a plan beyond
 * UNIC_MEMORY_LIMIT is refused with its numbers before any epoch (a 65536
 * wide head on 48 rows: about 50 MiB of activations, mining far less). */
Test(validation, training_memory_plan_is_logged_and_refused_over_the_limit, .timeout = 120)
{
    char *dir = test_tmpdir("memplan"), args[4096];
    char *ini = blob_experiment(dir, 10, -1, 0, 0, "");
    int status;
    snprintf(args, sizeof args, "run %s --out %s/ok --set train.epochs=1", ini, dir);
    char *out = unic(args, &status);
    cr_expect_eq(status, 0, "%s", out);
    cr_expect(strstr(out, "training memory: ") && strstr(out, "[head] mlp") &&
              strstr(out, "Adam moments"), "%s", out);
    free(out);
    setenv("UNIC_MEMORY_LIMIT", "10M", 1);
    snprintf(args, sizeof args, "run %s --out %s/big --set head.hidden=65536", ini, dir);
    out = unic(args, &status);
    unsetenv("UNIC_MEMORY_LIMIT");
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(!strstr(out, "mining took"), "the plan is refused before mining: %s", out);
    cr_expect(strstr(out, "training needs ") && strstr(out, "activations for 48 rows") &&
              strstr(out, "but 10.0 MiB is available (UNIC_MEMORY_LIMIT)"), "%s", out);
    cr_expect(!strstr(out, "epoch 1/"), "no epoch may start: %s", out);
    free(out);
    free(ini);
    test_remove_tree(dir);
    free(dir);
}

/* A plugin's malformed bounds (or a default outside them) are its bug:
 * the registry refuses it at load, naming the key. */
Test(validation, malformed_bounds_are_refused_at_registration)
{
    char err[512];
    unic_param_spec ok = {"n", UNIC_INT, "4", "", "1..8"};
    unic_param_spec swapped = {"n", UNIC_INT, "4", "", "8..1"};
    unic_param_spec words = {"n", UNIC_INT, "4", "", "one..eight"};
    unic_param_spec outside = {"n", UNIC_INT, "0", "", "1.."};
    unic_param_spec choice = {"c", UNIC_CHOICE, "a", "", "a|b"};
    cr_expect_eq(unic_param_spec_valid(&ok, err, sizeof err), 0, "%s", err);
    cr_expect_eq(unic_param_spec_valid(&choice, err, sizeof err), 0, "%s", err);
    cr_expect_neq(unic_param_spec_valid(&swapped, err, sizeof err), 0);
    cr_expect(strstr(err, "'n'") && strstr(err, "8..1"), "%s", err);
    cr_expect_neq(unic_param_spec_valid(&words, err, sizeof err), 0);
    cr_expect_neq(unic_param_spec_valid(&outside, err, sizeof err), 0);
    cr_expect(strstr(err, "default must be at least 1, got 0"), "%s", err);
}

/* ---- 6. libjpeg's memory limit ------------------------------------------- */

/* libjpeg reads JPEGMEM as "%ld%c": thousands of bytes, or millions with an
 * M; anything else ("2G" is 2000 bytes to it, "1.5e9" 1000, "lots" no limit
 * at all) would silently change what a run refuses, so unic refuses the
 * value itself, naming it and the forms it takes. */
Test(validation, malformed_jpegmem_is_refused_naming_it, .timeout = 60)
{
    const char *bad[] = {"2G", "1.5e9", "lots", "-5", "", " 100", "100MB"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd,
                 "cd " UNIC_SOURCE_DIR " && JPEGMEM='%s' " UNIC " check experiments/quickstart.ini",
                 bad[i]);
        int status;
        char *out = test_run(cmd, &status);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "JPEGMEM is '%s'", bad[i]);
        cr_expect_eq(status, 2, "JPEGMEM='%s': %s", bad[i], out);
        cr_expect(strstr(out, quoted) && strstr(out, "1500M"), "JPEGMEM='%s': %s", bad[i], out);
        free(out);
    }
    const char *good[] = {"0", "1", "512M", "2000000", "1500m"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd,
                 "cd " UNIC_SOURCE_DIR " && JPEGMEM='%s' " UNIC " check experiments/quickstart.ini",
                 good[i]);
        int status;
        char *out = test_run(cmd, &status);
        cr_expect_eq(status, 0, "JPEGMEM='%s': %s", good[i], out);
        free(out);
    }
}
