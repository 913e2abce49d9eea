/* Grids through the `unic` command, on real small data: each point a run
 * with a stable id and its own folder; failures recorded while the others
 * go on; kill -9 and rerun give the table of an uninterrupted grid without
 * recomputing a finished point; --jobs 2 gives the table of --jobs 1; two
 * commands on one folder never run a point twice; `unic table` prints mean
 * ± std over seeds in every format; `unic grid status` and `unic plot`
 * read the folder; bad layouts and edited folders are refused by name. */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/io.h"
#include "helpers.h"

#define UNIC UNIC_BINARY_DIR "/unic"
#define FMNIST TEST_FMNIST

/* 600 Fashion-MNIST images from pixels: about a second a point. */
static const char *fmnist_ini =
    "[data]\npath = " FMNIST "t10k-images-idx3-ubyte.gz\nlabels = " FMNIST
    "t10k-labels-idx1-ubyte.gz\nlimit = 600\n[backbone]\nplugin = pixels\n[head]\nplugin = mlp\n"
    "hidden = 64\n[miner.positives]\nplugin = knn\ntau1 = 10\n[miner.negatives]\nplugin = far\n"
    "tau2 = 300\n[loss.pos]\n[loss.neg]\n[loss.entropy]\n[train]\nepochs = %d\nbatch_size = 64\n"
    "lr = 1e-3\ncheckpoint_every = 1\n[eval]\nevery = 1\n%s";

static char *write_experiment(const char *dir, const char *name, int epochs, const char *extra)
{
    char *path = test_path(dir, name), text[8192];
    snprintf(text, sizeof text, fmnist_ini, epochs, extra);
    test_write_text(path, text);
    return path;
}

static char *unic(const char *args, int *status)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "UNIC_PLUGIN_PATH=" UNIC_TEST_PLUGIN_ROOT "/misbehave " UNIC " %s",
             args);
    return test_run(cmd, status);
}

static char *unic_ok(const char *args)
{
    int status;
    char *out = unic(args, &status);
    cr_assert_eq(status, 0, "`unic %s` exited %d:\n%s", args, status, out);
    return out;
}

static cJSON *read_json(const char *dir, const char *name)
{
    char *path = test_path(dir, name), *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "%s is missing", path);
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "%s is not JSON", path);
    free(text);
    free(path);
    return j;
}

/* Each point's folder, in grid.json's order. */
static int point_dirs(const char *grid, char dirs[][1024], int max)
{
    cJSON *m = read_json(grid, "grid.json"), *p;
    int n = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(m, "points"))
    {
        if (n < max)
            snprintf(dirs[n], sizeof dirs[n], "%s/points/%s", grid,
                     cJSON_GetObjectItem(p, "id")->valuestring);
        n++;
    }
    cJSON_Delete(m);
    return n;
}

static double point_finished(const char *point_dir)
{
    cJSON *s = read_json(point_dir, "state.json");
    double t = cJSON_GetObjectItem(s, "finished")->valuedouble;
    cJSON_Delete(s);
    return t;
}

static char *table(const char *grid, const char *flags)
{
    char args[4096];
    snprintf(args, sizeof args, "table %s %s", grid, flags);
    return unic_ok(args);
}

Test(grid, points_are_runs_with_ids_that_survive_a_new_value, .timeout = 300)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("grid-ids"), args[4096], dirs[8][1024];
    char *ini = write_experiment(dir, "exp.ini", 2, "[grid]\nloss.entropy.weight = 0, 3\n");
    snprintf(args, sizeof args, "run %s --quiet --out %s/g", ini, dir);
    free(unic_ok(args));
    char *grid = test_path(dir, "g");
    cr_assert_eq(point_dirs(grid, dirs, 8), 2);
    for (int i = 0; i < 2; i++)
        for (const char *const *f = (const char *const[]){"config.resolved.ini", "log.txt",
                                                         "history.csv", "metrics.json",
                                                         "state.json", NULL};
             *f; f++) {
            char *path = test_path(dirs[i], *f);
            cr_expect(access(path, R_OK) == 0, "%s is missing", path);
            free(path);
        }
    char *history = test_read_file(test_path(dirs[1], "history.csv"), NULL);
    cr_expect(strncmp(history, "epoch,lr,objective,pos,neg,entropy,acc,nmi,ari,seconds\n", 55) == 0,
              "%s", history);
    double first[2] = {point_finished(dirs[0]), point_finished(dirs[1])};
    /* a third value: the old points keep their ids and are not run again */
    char old[2][1024];
    memcpy(old, dirs, sizeof old);
    free(write_experiment(dir, "exp.ini", 2, "[grid]\nloss.entropy.weight = 0, 3, 5\n"));
    free(unic_ok(args));
    cr_assert_eq(point_dirs(grid, dirs, 8), 3);
    for (int i = 0; i < 2; i++) {
        cr_expect_str_eq(dirs[i], old[i], "point %d changed its id", i);
        cr_expect_eq(point_finished(dirs[i]), first[i], "point %d ran again", i);
    }
    char *csv = test_read_file(test_path(grid, "grid.csv"), NULL);
    int rows = 0;
    for (char *p = csv; (p = strchr(p, '\n')); p++) rows++;
    cr_expect_eq(rows, 4, "a header and three points, never a point twice:\n%s", csv);
    cr_expect(strstr(csv, "id,state,loss.entropy.weight,seed,epochs,kmeans_acc"), "%s", csv);
    test_remove_tree(dir);
}

Test(grid, a_failing_point_does_not_stop_the_others, .timeout = 300)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("grid-fail"), args[4096];
    char *ini = write_experiment(dir, "exp.ini", 2,
                                 "[loss.bad]\nplugin = misbehave\n"
                                 "[grid]\nloss.bad.fail = none, crash, nan\ntrain.lr = 1e-3, -1\n");
    snprintf(args, sizeof args, "run %s --out %s/g --jobs 2", ini, dir);
    int status;
    char *out = unic(args, &status);
    cr_expect_eq(status, 1, "%s", out);
    cr_expect(strstr(out, "1 done, 5 failed: see "), "%s", out);
    char *grid = test_path(dir, "g");
    char *failed = test_read_file(test_path(grid, "failed.txt"), NULL);
    cr_assert_not_null(failed);
    cr_expect(strstr(failed, "killed by signal 6"), "the crash is recorded:\n%s", failed);
    cr_expect(strstr(failed, "the objective is nan"), "the NaN is recorded:\n%s", failed);
    cr_expect(strstr(failed, "lr"), "the invalid value is recorded:\n%s", failed);
    free(out);
    /* failed points are not rerun unless asked */
    out = unic(args, &status);
    cr_expect_eq(status, 1);
    cr_expect(strstr(out, "0 to run here"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "run %s --out %s/g --retry-failed --quiet", ini, dir);
    out = unic(args, &status);
    cr_expect_eq(status, 1, "they fail again:\n%s", out);
    char *st = test_read_file(test_path(grid, "grid.csv"), NULL);
    cr_expect(strstr(st, ",done,") && strstr(st, ",failed,"), "%s", st);
    free(out);
    test_remove_tree(dir);
}

/* The table's CSV without what may differ between two runs of one grid. */
static char *scores_table(const char *grid) { return table(grid, "--format csv --digits 6"); }

Test(grid, kill_and_rerun_and_jobs_give_the_same_table, .timeout = 600)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("grid-kill"), args[4096], dirs[8][1024];
    char *ini = write_experiment(dir, "exp.ini", 6,
                                 "[grid]\nloss.entropy.weight = 0, 3\ntrain.seed = 0, 1\n");
    /* the reference: uninterrupted, one point at a time (two threads each) */
    snprintf(args, sizeof args, "run %s --quiet --out %s/ref --jobs 1", ini, dir);
    free(unic_ok(args));
    /* two at a time (one thread each): the same numbers */
    snprintf(args, sizeof args, "run %s --quiet --out %s/jobs2 --jobs 2", ini, dir);
    free(unic_ok(args));
    char *ref = test_path(dir, "ref"), *jobs2 = test_path(dir, "jobs2"), *killed = test_path(dir, "killed");
    char *want = scores_table(ref), *got = scores_table(jobs2);
    cr_expect_str_eq(got, want, "--jobs 2 differs from --jobs 1");
    /* killed with -9 while its points train, then run again */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, UNIC " run %s --quiet --out %s --jobs 2 & pid=$!; "
             "until grep -qs '\"done\"' %s/points/*/state.json; do sleep 0.05; done; "
             "kill -9 $pid; wait $pid; sleep 0.5", ini, killed, killed);
    int status;
    free(test_run(cmd, &status));
    int n = point_dirs(killed, dirs, 8);
    double before[8];
    for (int i = 0; i < n; i++) {
        char *s = test_path(dirs[i], "state.json"), *text = test_read_file(s, NULL);
        before[i] = text && strstr(text, "\"done\"") ? point_finished(dirs[i]) : -1;
        free(text);
        free(s);
    }
    int done = 0;
    for (int i = 0; i < n; i++) done += before[i] > 0;
    cr_expect(done >= 1 && done < n, "killed with %d of %d points done", done, n);
    snprintf(args, sizeof args, "run %s --quiet --out %s --jobs 2", ini, killed);
    free(unic_ok(args));
    for (int i = 0; i < n; i++)
        if (before[i] > 0) cr_expect_eq(point_finished(dirs[i]), before[i], "a done point ran again");
    got = scores_table(killed);
    cr_expect_str_eq(got, want, "the killed and rerun grid differs from the uninterrupted one");
    test_remove_tree(dir);
}

Test(grid, two_commands_never_run_one_point_twice, .timeout = 300)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("grid-two"), cmd[8192], dirs[8][1024];
    char *ini = write_experiment(dir, "exp.ini", 3, "[grid]\nloss.entropy.weight = 0, 1, 3, 5\n");
    snprintf(cmd, sizeof cmd, "(" UNIC " run %s --quiet --out %s/g --jobs 1 & " UNIC
             " run %s --quiet --out %s/g --jobs 1 & wait)", ini, dir, ini, dir);
    int status;
    free(test_run(cmd, &status));
    char *grid = test_path(dir, "g");
    int n = point_dirs(grid, dirs, 8);
    cr_assert_eq(n, 4);
    for (int i = 0; i < n; i++) {
        cJSON *s = read_json(dirs[i], "state.json");
        cr_expect_str_eq(cJSON_GetObjectItem(s, "state")->valuestring, "done");
        cr_expect_eq(cJSON_GetObjectItem(s, "attempts")->valueint, 1, "%s ran twice", dirs[i]);
        cJSON_Delete(s);
    }
    test_remove_tree(dir);
}

/* Mean and sample std of one metric over a setting's seeds, from the
 * points' own metrics.json. */
static void expected_cell(char dirs[][1024], int n, int setting, const char *metric, double *mean,
                          double *std)
{
    double x[3];
    for (int s = 0; s < 3; s++) {
        /* grid.json enumerates the first axis fastest: setting + 2 * seed */
        cJSON *m = read_json(dirs[setting + 2 * s], "metrics.json");
        x[s] = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "unic"), metric)->valuedouble;
        cJSON_Delete(m);
    }
    (void)n;
    *mean = (x[0] + x[1] + x[2]) / 3;
    double ss = 0;
    for (int s = 0; s < 3; s++) ss += (x[s] - *mean) * (x[s] - *mean);
    *std = sqrt(ss / 2);
}

Test(grid, table_prints_mean_std_over_three_seeds_in_every_format, .timeout = 600)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("grid-table"), args[4096], dirs[8][1024];
    char *ini = write_experiment(dir, "exp.ini", 2,
                                 "[grid]\nloss.neg.weight = 0, 1\ntrain.seed = 0, 1, 2\n"
                                 "[table]\nrows = loss.neg.weight\nchecks_typo = 1\n");
    snprintf(args, sizeof args, "check %s", ini);
    int status;
    char *out = unic(args, &status);
    cr_expect_eq(status, 2, "an unknown [table] key stops the run:\n%s", out);
    cr_expect(strstr(out, "unknown key 'checks_typo'"), "%s", out);
    free(out);
    free(write_experiment(dir, "exp.ini", 2,
                          "[grid]\nloss.neg.weight = 0, 1\ntrain.seed = 0, 1, 2\n"
                          "[table]\nrows = loss.neg.weight\ncheckmarks = loss.neg.weight\n"
                          "names = L_neg\ntitle = Negatives on and off\n"));
    snprintf(args, sizeof args, "run %s --quiet --out %s/g --jobs 2", ini, dir);
    free(unic_ok(args));
    char *grid = test_path(dir, "g");
    cr_assert_eq(point_dirs(grid, dirs, 8), 6);
    double mean, std;
    char want[256];
    /* Markdown, laid out by [table]: the off row first, the on row checked */
    char *md = table(grid, "");
    cr_expect(strstr(md, "**Negatives on and off**"), "%s", md);
    cr_expect(strstr(md, "| L_neg | ACC | NMI | ARI |"), "%s", md);
    expected_cell(dirs, 6, 1, "acc", &mean, &std);
    snprintf(want, sizeof want, "| ✓ | %s%.1f ± %.1f%s (3) |", "", 100 * mean, 100 * std, "");
    char bold[256];
    snprintf(bold, sizeof bold, "| ✓ | **%.1f ± %.1f** (3) |", 100 * mean, 100 * std);
    cr_expect(strstr(md, want) || strstr(md, bold), "want '%s' in\n%s", want, md);
    /* CSV: unrounded means and stds */
    char *csv = table(grid, "--format csv");
    cr_expect(strncmp(csv, "loss.neg.weight,ACC mean,ACC std,ACC n,ACC best,", 48) == 0, "%s", csv);
    for (int setting = 0; setting < 2; setting++) {
        expected_cell(dirs, 6, setting, "nmi", &mean, &std);
        snprintf(want, sizeof want, "%.6f,%.6f,3,", mean, std);
        cr_expect(strstr(csv, want), "want NMI '%s' in\n%s", want, csv);
    }
    /* LaTeX (booktabs) and JSON */
    char *tex = table(grid, "--format latex");
    cr_expect(strstr(tex, "\\toprule") && strstr(tex, "\\bottomrule") && strstr(tex, "$\\pm$") &&
              strstr(tex, "\\checkmark"), "%s", tex);
    char *js = table(grid, "--format json");
    cJSON *j = cJSON_Parse(js);
    cr_assert_not_null(j, "%s", js);
    cJSON *cell = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 0), "cells"), 2);
    expected_cell(dirs, 6, 0, "ari", &mean, &std);
    cr_expect_float_eq(cJSON_GetObjectItem(cell, "mean")->valuedouble, mean, 1e-9);
    cr_expect_float_eq(cJSON_GetObjectItem(cell, "std")->valuedouble, std, 1e-9);
    cr_expect_eq(cJSON_GetObjectItem(cell, "n")->valueint, 3);
    cJSON_Delete(j);
    /* status and curves */
    snprintf(args, sizeof args, "grid status %s", grid);
    out = unic_ok(args);
    cr_expect(strstr(out, "6 points: 6 done") && strstr(out, "2/2") && strstr(out, "seed 2"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "plot %s --metric acc --metric objective", grid);
    free(unic_ok(args));
    char *svg = test_read_file(test_path(grid, "plots/acc.svg"), NULL);
    cr_assert_not_null(svg);
    cr_expect(strstr(svg, "<polygon") && strstr(svg, "loss.neg.weight=1"), "a band per setting");
    /* a point that failed shows as failed, never as a number */
    char *state = test_path(dirs[1], "state.json");
    test_write_text(state, "{\"state\": \"failed\", \"error\": \"edited\"}");
    md = table(grid, "");
    cr_expect(strstr(md, "*failed* (2/3)"), "%s", md);
    test_remove_tree(dir);
}

Test(grid, bad_layouts_and_edited_folders_are_named, .timeout = 300)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("grid-bad"), args[4096], dirs[4][1024];
    char *ini = write_experiment(dir, "exp.ini", 1, "[grid]\nloss.entropy.weight = 0, 3\n"
                                                    "[table]\nrows = loss.entropy.wieght\n");
    snprintf(args, sizeof args, "check %s", ini);
    int status;
    char *out = unic(args, &status);
    cr_expect_eq(status, 2);
    cr_expect(strstr(out, "[table]: rows names 'loss.entropy.wieght', which is not an axis") &&
              strstr(out, "its axes: loss.entropy.weight"), "%s", out);
    free(out);
    free(write_experiment(dir, "exp.ini", 1, "[grid]\nloss.entropy.weight = 0, 3\n"));
    snprintf(args, sizeof args, "run %s --quiet --out %s/g", ini, dir);
    free(unic_ok(args));
    char *grid = test_path(dir, "g");
    snprintf(args, sizeof args, "table %s --rows nope", grid);
    out = unic(args, &status);
    cr_expect(status == 2 && strstr(out, "the command line: rows names 'nope'"), "%s", out);
    free(out);
    /* the settings changed since the folder was made: refused unless asked */
    free(write_experiment(dir, "exp.ini", 1, "[grid]\nloss.entropy.weight = 0, 3\n"));
    char *text = test_read_file(ini, NULL);
    char *changed = strstr(text, "hidden = 64");
    memcpy(changed, "hidden = 32", 11);
    test_write_text(ini, text);
    snprintf(args, sizeof args, "run %s --quiet --out %s/g", ini, dir);
    out = unic(args, &status);
    cr_expect(status == 2 && strstr(out, "is done with other settings"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "run %s --quiet --out %s/g --allow-changed", ini, dir);
    free(unic_ok(args));
    /* a point folder edited by hand, and a manifest of another format */
    point_dirs(grid, dirs, 4);
    char *resolved = test_path(dirs[0], "config.resolved.ini");
    char *cfg = test_read_file(resolved, NULL);
    test_write_text(resolved, strstr(cfg, "hidden = 32") ? "[head]\nhidden = 7\n" : cfg);
    snprintf(args, sizeof args, "table %s", grid);
    out = unic(args, &status);
    cr_expect(status == 2 && strstr(out, "config.resolved.ini: these settings hash to"), "%s", out);
    free(out);
    char *manifest = test_path(grid, "grid.json");
    test_write_text(manifest, "{\"format\": 99}");
    out = unic(args, &status);
    cr_expect(status == 2 && strstr(out, "grid.json: key 'format' is not 1"), "%s", out);
    free(out);
    test_remove_tree(dir);
}
