/* End to end through the `unic` command: UNIC beats k-means on real data
 * (a Fashion-MNIST subset), runs are deterministic, a killed run resumes to
 * the same result, GCD writes its split and scores, `unic eval` agrees with
 * the run, and bad input stops a run before any work. */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "data/io.h"

#define UNIC UNIC_BINARY_DIR "/unic"
#define FMNIST TEST_FMNIST

static cJSON *metrics(const char *dir)
{
    char *path = test_path(dir, "metrics.json");
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "%s was not written", path);
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "%s is not JSON", path);
    free(text);
    free(path);
    return j;
}

static double get(cJSON *root, const char *obj, const char *key)
{
    cJSON *o = cJSON_GetObjectItem(root, obj);
    cr_assert_not_null(o, "metrics.json lacks '%s'", obj);
    cJSON *v = cJSON_GetObjectItem(o, key);
    cr_assert(cJSON_IsNumber(v), "metrics.json lacks %s.%s", obj, key);
    return v->valuedouble;
}

static char *run_unic(const char *args, int expect_status)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd " UNIC_SOURCE_DIR " && " UNIC " %s", args);
    int status;
    char *out = test_run(cmd, &status);
    cr_assert_eq(status, expect_status, "`unic %s` exited %d:\n%s", args, status, out);
    return out;
}

/* 2,000 test images: small enough for CI, large enough for real clusters. */
#define SUBSET "run experiments/quickstart.ini --quiet --set data.limit=2000 " \
               "--set miner.negatives.tau2=1000 --set eval.every=0 "

Test(e2e, unic_beats_kmeans_on_fashion_mnist, .timeout = 600)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("e2e"), args[4096];
    snprintf(args, sizeof args, SUBSET "--set train.epochs=15 --out %s", dir);
    free(run_unic(args, 0));
    cJSON *m = metrics(dir);
    const char *keys[] = {"acc", "nmi", "ari"};
    for (int i = 0; i < 3; i++) {
        double u = get(m, "unic", keys[i]), k = get(m, "baseline", keys[i]);
        cr_expect_gt(u, k, "UNIC %s %.4f should beat k-means %.4f", keys[i], u, k);
    }
    /* the run's embeddings feed the neighbour analyses */
    snprintf(args, sizeof args, "neighbors %s --tau1 10 --quiet", dir);
    free(run_unic(args, 0));
    char *fig4 = test_read_file(test_path(dir, "neighbors/fig4_union_threshold_tau1-10.csv"), NULL);
    cr_expect_not_null(fig4, "unic neighbors RUN did not write figure 4");
    for (const char *const *f = (const char *const[]){"config.resolved.ini", "log.txt",
                                                     "predictions.csv", "checkpoint.safetensors",
                                                     "embeddings.safetensors", NULL};
         *f; f++) {
        char *p = test_path(dir, *f);
        cr_expect_eq(access(p, R_OK), 0, "run folder lacks %s", *f);
        free(p);
    }
    cJSON_Delete(m);
}

Test(e2e, same_seed_same_numbers_and_resume_after_a_crash, .timeout = 600)
{
    test_need_fashion_mnist();
    char *a = test_tmpdir("det-a"), *b = test_tmpdir("det-b"), args[4096];
    const char *small = SUBSET "--set data.limit=1000 --set miner.negatives.tau2=500 "
                               "--set train.epochs=3 --set eval.kmeans=false --set head.hidden=256";
    snprintf(args, sizeof args, "%s --out %s", small, a);
    free(run_unic(args, 0));
    /* b dies after epoch 2 (after its checkpoint), then resumes */
    char crash[4200];
    snprintf(crash, sizeof crash, "%s --out %s", small, b);
    setenv("UNIC_TEST_DIE_AFTER_EPOCH", "2", 1);
    free(run_unic(crash, 3));
    unsetenv("UNIC_TEST_DIE_AFTER_EPOCH");
    cr_expect_eq(test_files_ending(b, ".tmp"), 0, "a temporary checkpoint was left behind");
    snprintf(args, sizeof args, "%s --out %s --resume", small, b);
    char *out = run_unic(args, 0);
    free(out);
    char *pa = test_path(a, "predictions.csv"), *pb = test_path(b, "predictions.csv");
    char *ta = test_read_file(pa, NULL), *tb = test_read_file(pb, NULL);
    cr_assert_not_null(ta);
    cr_assert_not_null(tb);
    cr_expect_str_eq(ta, tb, "an interrupted and resumed run must equal an uninterrupted one");
    char *log = test_read_file(test_path(b, "log.txt"), NULL);
    cr_expect(strstr(log, "resumed after epoch 2"), "%s", log);
    /* resuming with other settings is refused */
    snprintf(args, sizeof args, "%s --out %s --resume --set train.lr=0.5", small, b);
    out = run_unic(args, 1);
    cr_expect(strstr(out, "different settings"), "%s", out);
    free(out);
}

Test(e2e, gcd_split_and_scores, .timeout = 600)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("gcd"), args[8192];
    snprintf(args, sizeof args, "run experiments/quickstart_gcd.ini --quiet --set data.limit=2000 "
             "--set miner.negatives.tau2=1000 --set train.epochs=2 --set head.hidden=256 --out %s",
             dir);
    free(run_unic(args, 0));
    cJSON *m = metrics(dir);
    cr_expect_str_eq(cJSON_GetObjectItem(m, "task")->valuestring, "gcd");
    for (int i = 0; i < 3; i++) {
        const char *k = (const char *[]){"all", "old", "new"}[i];
        double u = get(m, "unic", k), b = get(m, "baseline", k);
        cr_expect(u > 0.1 && u <= 1.0 && b > 0.1 && b <= 1.0, "%s: %g %g", k, u, b);
    }
    cJSON_Delete(m);
    char *split = test_read_file(test_path(dir, "split.csv"), NULL);
    cr_assert_not_null(split);
    int labeled = 0, old = 0, rows = 0;
    for (char *line = strchr(split, '\n') + 1; line && *line; line = strchr(line, '\n') + 1) {
        int idx, label, is_old, is_labeled;
        cr_assert_eq(sscanf(line, "%d,%d,%d,%d", &idx, &label, &is_old, &is_labeled), 4);
        cr_assert_eq(is_old, label <= 4);
        cr_assert(!is_labeled || is_old, "a new-class sample is labeled at row %d", idx);
        labeled += is_labeled;
        old += is_old;
        rows++;
        if (!strchr(line, '\n')) break;
    }
    cr_expect_eq(rows, 2000);
    cr_expect(labeled == (old + 1) / 2 || labeled == old / 2, "%d labeled of %d old", labeled, old);
    /* unic eval scores the same predictions the same way */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/predictions.csv --old-classes 0-4 --json", dir);
    char *out = run_unic((snprintf(args, sizeof args, "eval %s", cmd), args), 0);
    cJSON *e = cJSON_Parse(out);
    cr_assert_not_null(e, "%s", out);
    m = metrics(dir);
    cr_expect_float_eq(cJSON_GetObjectItem(e, "all")->valuedouble, get(m, "unic", "all"), 1e-6);
    cr_expect_float_eq(cJSON_GetObjectItem(e, "new")->valuedouble, get(m, "unic", "new"), 1e-6);
    cJSON_Delete(e);
    cJSON_Delete(m);
    free(out);
}

/* Three well-separated blobs as embeddings in a safetensors file, the way a
 * user brings features from any model. */
static void write_blobs(const char *path, int n_per, int32_t label_count_delta)
{
    const int d = 4, n = 3 * n_per;
    float *x = malloc(sizeof(float) * n * d);
    int64_t *y = malloc(sizeof(int64_t) * n);
    for (int i = 0; i < n; i++) {
        y[i] = i % 3;
        for (int c = 0; c < d; c++)
            x[i * d + c] = (c == y[i] ? 10.0f : 0.0f) + (float)((i * 7 + c * 13) % 11) * 0.05f;
    }
    unic_array t[2] = {{"embeddings", UNIC_DT_F32, 2, {n, d}, x, sizeof(float) * n * d},
                       {"labels", UNIC_DT_I64, 1, {n + label_count_delta}, y,
                        sizeof(int64_t) * (n + label_count_delta)}};
    char err[1024];
    cr_assert_eq(unic_safetensors_write(path, t, 2, NULL, err, sizeof err), 0, "%s", err);
    free(x);
    free(y);
}

static const char *features_ini =
    "[data]\npath = %s\n[backbone]\nplugin = features\n[head]\nplugin = mlp\nhidden = 32\n"
    "[miner.pos]\nplugin = knn\ntau1 = 5\n[miner.neg]\nplugin = far\ntau2 = 60\n"
    "[loss.pos]\n[loss.neg]\n[loss.%s]\n[train]\nepochs = 30\nbatch_size = 32\nlr = 3e-3\n"
    "[eval]\nevery = 0\n";

/* A folder with blob embeddings and an experiment on them (its third loss
 * named by `loss`, `extra` appended); returns the INI's path. */
static char *blob_experiment(const char *tag, int n_per, int label_delta, const char *loss,
                             const char *extra, char **dir_out)
{
    char *dir = test_tmpdir(tag), *st = test_path(dir, "emb.safetensors");
    char *ini = test_path(dir, "blobs.ini"), text[4096];
    write_blobs(st, n_per, label_delta);
    snprintf(text, sizeof text, features_ini, st, loss);
    strncat(text, extra, sizeof text - strlen(text) - 1);
    test_write_text(ini, text);
    *dir_out = dir;
    free(st);
    return ini;
}

Test(e2e, features_backbone_clusters_separated_blobs, .timeout = 300)
{
    char *dir, args[4096];
    char *ini = blob_experiment("feat", 40, 0, "entropy", "", &dir);
    snprintf(args, sizeof args, "run %s --quiet --out %s/run", ini, dir);
    free(run_unic(args, 0));
    char *rd = test_path(dir, "run");
    cJSON *m = metrics(rd);
    cr_expect_float_eq(get(m, "unic", "acc"), 1.0, 1e-9, "three separated blobs");
    cJSON_Delete(m);
}

Test(e2e, grid_runs_every_combination, .timeout = 300)
{
    char *dir, args[4096];
    char *ini = blob_experiment("grid", 30, 0, "entropy",
                                "[grid]\nhead.hidden = 8, 16\nloss.entropy.weight = 0, 3\n", &dir);
    snprintf(args, sizeof args, "run %s --quiet --set train.epochs=2 --out %s/g", ini, dir);
    free(run_unic(args, 0));
    char *csv = test_read_file(test_path(dir, "g/grid.csv"), NULL);
    cr_assert_not_null(csv);
    cr_expect(strstr(csv, "id,state,head.hidden,loss.entropy.weight,seed,epochs,kmeans_acc,"
                          "kmeans_nmi,kmeans_ari,unic_acc,unic_nmi,unic_ari,seconds,error\n"), "%s", csv);
    cr_expect(strstr(csv, ",done,16,3,,2/2,"), "%s", csv);
    int rows = 0;
    for (char *p = csv; (p = strchr(p, '\n')); p++) rows++;
    cr_expect_eq(rows, 5, "a header and four runs:\n%s", csv);
    /* each point has its own folder, named by its id (grid.csv's first column) */
    char id[17];
    memcpy(id, strstr(csv, ",done,16,3,") - 16, 16);
    id[16] = '\0';
    char point[256];
    snprintf(point, sizeof point, "g/points/%s", id);
    char *pd = test_path(dir, point);
    char *resolved = test_read_file(test_path(pd, "config.resolved.ini"), NULL);
    cr_assert_not_null(resolved, "each run has its own folder");
    cr_expect(strstr(resolved, "hidden = 16") && strstr(resolved, "weight = 3"), "%s", resolved);
    /* four runs over the same embeddings mine once: the later ones hit the cache */
    int cached = 0;
    char dirs[4][64];
    for (char *line = strchr(csv, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        snprintf(dirs[0], sizeof dirs[0], "g/points/%.16s/log.txt", line);
        char *log = test_read_file(test_path(dir, dirs[0]), NULL);
        cr_assert_not_null(log);
        cached += strstr(log, "the 5 nearest of N=90: cached in") != NULL;
        free(log);
    }
    cr_expect_eq(cached, 3, "one point mines, three read the cache");
}

Test(e2e, out_of_tree_plugin_through_plugin_path, .timeout = 300)
{
    char *dir, args[4096];
    char *ini = blob_experiment("oot", 40, 0, "kl_uniform", "", &dir);
    snprintf(args, sizeof args, "run %s --quiet --out %s/run", ini, dir);
    char *out = run_unic(args, 2);
    cr_expect(strstr(out, "unknown loss plugin 'kl_uniform'"), "%s", out);
    free(out);
    setenv("UNIC_PLUGIN_PATH", UNIC_TEST_PLUGIN_ROOT "/example", 1);
    free(run_unic(args, 0));
    unsetenv("UNIC_PLUGIN_PATH");
    char *rd = test_path(dir, "run");
    cJSON *m = metrics(rd);
    cr_expect_float_eq(get(m, "unic", "acc"), 1.0, 1e-9);
    cJSON_Delete(m);
}

Test(e2e, mismatched_labels_stop_before_any_work)
{
    char *dir, args[4096];
    char *ini = blob_experiment("bad", 10, -1, "entropy", "", &dir);
    char *st = test_path(dir, "emb.safetensors");
    snprintf(args, sizeof args, "run %s --out %s/run", ini, dir);
    char *out = run_unic(args, 1);
    cr_expect(strstr(out, "emb.safetensors has 29 labels but") && strstr(out, "30 items"), "%s", out);
    cr_expect(!strstr(out, "mining"), "no work may start: %s", out);
    free(out);
    /* a truncated file names itself */
    test_write_text(st, "\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":");
    out = run_unic(args, 1);
    cr_expect(strstr(out, "emb.safetensors"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "check %s --set train.epochs=0", ini);
    out = run_unic(args, 2);
    cr_expect(strstr(out, "epochs and batch_size must be at least 1"), "%s", out);
    free(out);
}

Test(e2e, eval_command_reports_bad_rows)
{
    char *dir = test_tmpdir("eval"), *csv = test_path(dir, "p.csv"), args[4096];
    test_write_text(csv, "index,prediction,label\n0,1,0\n1,1,0\n2,0,1\n3,0,1\n4,x,1\n");
    snprintf(args, sizeof args, "eval %s", csv);
    char *out = run_unic(args, 2);
    cr_expect(strstr(out, "p.csv:6: column 'prediction'"), "%s", out);
    free(out);
    test_write_text(csv, "index,prediction,label\n0,1,0\n1,1,0\n2,0,1\n3,0,1\n4,0,0\n");
    out = run_unic(args, 0);
    cr_expect(strstr(out, "acc 0.8000"), "%s", out);
    free(out);
    /* a label used as a size once asked for gigabytes: ids stop at the class limit */
    test_write_text(csv, "index,prediction,label\n0,1,0\n1,1,2147483647\n");
    out = run_unic(args, 2);
    cr_expect(strstr(out, "p.csv:3: column 'label'") && strstr(out, "[0, 4096)"), "%s", out);
    free(out);
}

Test(e2e, every_shipped_experiment_validates)
{
    char *out = run_unic("check experiments/quickstart.ini", 0);
    free(out);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd " UNIC_SOURCE_DIR " && for f in experiments/*.ini; do " UNIC
             " check \"$f\" || exit 1; done");
    int status;
    out = test_run(cmd, &status);
    cr_expect_eq(status, 0, "%s", out);
    cr_expect(strstr(out, "table3_losses_fmnist.ini: valid (12 runs)"), "%s", out);
    cr_expect(strstr(out, "table3_contrastive_fmnist.ini: valid (8 runs)") &&
                  strstr(out, "table6_scan_selflabel_fmnist.ini: valid (1 run)"), "%s", out);
    free(out);
}

Test(e2e, plugins_command_lists_parameters)
{
    char *out = run_unic("plugins", 0);
    cr_expect(strstr(out, "tau1") && strstr(out, "nearest neighbours"), "%s", out);
    cr_expect(strstr(out, "default weight 3"), "%s", out);
    cr_expect(strstr(out, "[train]") && strstr(out, "batch_size"), "%s", out);
    free(out);
}
