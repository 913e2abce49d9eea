/* SCAN's machinery and the named heads, end to end through `unic run` on
 * the first Fashion-MNIST test images: several copies of the clustering
 * head with SCAN's lowest-loss selection, a projection head read by the
 * supervised contrastive loss, chains of stages that start from the
 * previous stage's checkpoint, k-means per evaluation (Figure 7), and the
 * errors a wrong head, count or chain gets before any work. */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "data/io.h"
#include "ops/ops.h"
#include "plugin/registry.h"

#define UNIC UNIC_BINARY_DIR "/unic"
#define IMAGES "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
#define LABELS "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"

static char *unic(const char *args, int *status)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cd " UNIC_SOURCE_DIR " && " UNIC " %s 2>&1", args);
    return test_run(cmd, status);
}

/* 1,000 images, raw pixels, a small MLP head; `extra` appends sections. */
static char *write_ini(const char *dir, const char *name, const char *head, const char *extra)
{
    char *ini = test_path(dir, name), text[8192];
    snprintf(text, sizeof text,
             "[data]\npath = " IMAGES "\nlabels = " LABELS "\nlimit = 1000\n"
             "[backbone]\nplugin = pixels\n"
             "%s\n"
             "[miner.positives]\nplugin = knn\ntau1 = 10\n"
             "[miner.negatives]\nplugin = far\ntau2 = 500\n"
             "[loss.pos]\n[loss.neg]\n[loss.entropy]\n"
             "[train]\nepochs = 2\nbatch_size = 64\nlr = 1e-3\n"
             "[eval]\nkmeans_restarts = 2\n%s",
             head, extra);
    test_write_text(ini, text);
    return ini;
}

static cJSON *read_json(const char *dir, const char *name)
{
    char *path = test_path(dir, name), *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "%s is missing", path);
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "%s does not parse", path);
    free(text);
    free(path);
    return j;
}

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    cr_assert(cJSON_IsNumber(v), "no number '%s'", key);
    return v->valuedouble;
}

/* The value of `column` in the last row of a history.csv. */
static double last_value(const char *history, const char *column)
{
    char *copy = strdup(history), *save = NULL, *line = strtok_r(copy, "\n", &save), *last = NULL;
    int col = -1, i = 0;
    char *s2 = NULL;
    for (char *c = strtok_r(line, ",", &s2); c; c = strtok_r(NULL, ",", &s2), i++)
        if (strcmp(c, column) == 0) col = i;
    cr_assert_geq(col, 0, "history.csv has no column '%s'", column);
    while ((line = strtok_r(NULL, "\n", &save))) last = line;
    cr_assert_not_null(last);
    const char *p = last;
    for (i = 0; i < col; i++) p = strchr(p, ',') + 1;
    double v = *p == ',' || !*p ? NAN : atof(p);
    free(copy);
    return v;
}

/* SCAN's rule, and copy 0 of several heads trains exactly as a single head
 * does (same seed, same batches, the other copies' losses do not reach
 * it): the selection is the lowest-loss copy, reported and written down. */
Test(scan, head_copies_report_the_lowest_loss_copy, .timeout = 300)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("heads"), args[4096];
    char *one = write_ini(dir, "one.ini", "[head]\nplugin = mlp\nhidden = 64\n", "");
    char *four = write_ini(dir, "four.ini", "[head]\nplugin = mlp\nhidden = 64\ncount = 4\n", "");
    int status;
    snprintf(args, sizeof args, "run %s --quiet --out %s/one", one, dir);
    char *out = unic(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    snprintf(args, sizeof args, "run %s --out %s/four", four, dir);
    out = unic(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    cr_expect(strstr(out, "[head] mlp 4 x ") && strstr(out, "([head] count = 4)"),
              "the memory plan counts the copies: %s", out);
    cr_expect(strstr(out, "heads' acc (* selected by the lowest training loss)"), "%s", out);
    free(out);

    char *d1 = test_path(dir, "one"), *d4 = test_path(dir, "four");
    cJSON *m1 = read_json(d1, "metrics.json"), *m4 = read_json(d4, "metrics.json");
    const cJSON *heads = cJSON_GetObjectItem(m4, "heads");
    cr_assert_not_null(heads, "metrics.json names the selected head");
    cr_expect_eq(number(heads, "count"), 4);
    int sel = (int)number(heads, "selected");
    const cJSON *obj = cJSON_GetObjectItem(heads, "objective_last_epoch");
    const cJSON *scores = cJSON_GetObjectItem(heads, "scores");
    cr_assert_eq(cJSON_GetArraySize(obj), 4);
    cr_assert_eq(cJSON_GetArraySize(scores), 4);
    for (int c = 0; c < 4; c++)
        cr_expect_geq(cJSON_GetArrayItem(obj, c)->valuedouble,
                      cJSON_GetArrayItem(obj, sel)->valuedouble, "copy %d has a lower loss than "
                      "the selected copy %d", c, sel);
    double differ = 0;
    for (int c = 1; c < 4; c++)
        differ += fabs(cJSON_GetArrayItem(obj, c)->valuedouble - cJSON_GetArrayItem(obj, 0)->valuedouble);
    cr_expect_gt(differ, 0, "each copy starts from its own initialisation");
    const cJSON *u4 = cJSON_GetObjectItem(m4, "unic");
    cr_expect_float_eq(number(u4, "acc"), number(cJSON_GetArrayItem(scores, sel), "acc"), 1e-12,
                       "the run's result is the selected copy's");

    /* copy 0 is the single head's run */
    char *h1 = test_read_file(test_path(d1, "history.csv"), NULL);
    char *h4 = test_read_file(test_path(d4, "history.csv"), NULL);
    cr_assert(h1 && h4);
    cr_expect(strstr(h4, ",selected_head,head0_objective,head1_objective,head2_objective,"
                         "head3_objective,head0_acc,head1_acc,head2_acc,head3_acc,"),
              "history.csv logs each head: %s", h4);
    double single = last_value(h1, "objective"), copy0 = last_value(h4, "head0_objective");
    cr_expect(fabs(single - copy0) <= 1e-5 * fabs(single), "copy 0 %.9g, single head %.9g", copy0,
              single);
    cr_expect_float_eq(last_value(h4, "head0_acc"), number(cJSON_GetObjectItem(m1, "unic"), "acc"),
                       1e-9, "copy 0 clusters as the single head does");
    cr_expect_eq((int)last_value(h4, "selected_head"), sel);
    cJSON_Delete(m1);
    cJSON_Delete(m4);
    free(h1);
    free(h4);
    free(d1);
    free(d4);
    free(one);
    free(four);
    test_remove_tree(dir);
    free(dir);
}

/* More copies than the memory plan allows are refused with the numbers
 * and the key, before anything is mined or trained; one copy fits. */
Test(scan, head_count_over_the_memory_plan_is_refused_up_front, .timeout = 300)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("heads_mem"), args[4096];
    char *ini = write_ini(dir, "exp.ini", "[head]\nplugin = mlp\nhidden = 4096\ncount = 16\n", "");
    int status;
    setenv("UNIC_MEMORY_LIMIT", "300M", 1);
    snprintf(args, sizeof args, "run %s --out %s/big", ini, dir);
    char *out = unic(args, &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "training needs ") && strstr(out, "[head] mlp 16 x ") &&
              strstr(out, "([head] count = 16)") && strstr(out, "but 300.0 MiB is available") &&
              strstr(out, "lower [head] count"), "%s", out);
    cr_expect(!strstr(out, "mining took") && !strstr(out, "epoch 1/"), "refused before mining: %s",
              out);
    free(out);
    snprintf(args, sizeof args, "run %s --out %s/small --set head.count=1 --set train.epochs=1", ini,
             dir);
    out = unic(args, &status);
    unsetenv("UNIC_MEMORY_LIMIT");
    cr_expect_eq(status, 0, "one copy fits: %s", out);
    free(out);
    free(ini);
    test_remove_tree(dir);
    free(dir);
}

/* A projection head beside the clustering head, the contrastive loss
 * bound to it: both train, both are checkpointed, evaluation reads the
 * clustering head. */
Test(scan, supcon_on_a_dino_projection_head, .timeout = 300)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("supcon"), args[4096];
    char *ini = write_ini(dir, "exp.ini",
                          "[head.cluster]\nplugin = mlp\nhidden = 64\n"
                          "[head.projection]\nplugin = dino\nhidden = 64\nbottleneck = 32\n",
                          "[loss.supcon]\nhead = projection\n");
    int status;
    snprintf(args, sizeof args, "run %s --quiet --out %s/run", ini, dir);
    char *out = unic(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    char *run = test_path(dir, "run"), err[1024];
    char *hist = test_read_file(test_path(run, "history.csv"), NULL);
    cr_expect(strstr(hist, "epoch,lr,objective,pos,neg,entropy,supcon,acc,nmi,ari,"), "%s", hist);
    double supcon = last_value(hist, "supcon");
    cr_expect(supcon > 0 && supcon < 20, "supcon %g", supcon);
    unic_safetensors *st;
    char *ck = test_path(run, "checkpoint.safetensors");
    cr_assert_eq(unic_safetensors_open(ck, &st, err, sizeof err), 0, "%s", err);
    cr_expect_not_null(unic_safetensors_find(st, "head.fc1.weight"));
    const unic_array *w = unic_safetensors_find(st, "head_projection.mlp.4.weight");
    cr_assert_not_null(w, "the projection head is checkpointed under its name");
    cr_expect(w->shape[0] == 32 && w->shape[1] == 64);
    unic_safetensors_close(st);
    char *resolved = test_read_file(test_path(run, "config.resolved.ini"), NULL);
    cr_expect(strstr(resolved, "[head.cluster]") && strstr(resolved, "[head.projection]") &&
              strstr(resolved, "head = projection"), "%s", resolved);
    free(resolved);
    free(hist);
    free(ck);
    free(run);
    free(ini);
    test_remove_tree(dir);
    free(dir);
}

/* Wrong heads are named before any work: a loss bound to no head, a
 * projection head as the clustering head, copies of a named head, both
 * [head] and [head.cluster]. */
Test(scan, wrong_heads_are_refused_naming_the_key, .timeout = 120)
{
    char *dir = test_tmpdir("badheads"), args[4096];
    int status;
    char *ini = write_ini(dir, "a.ini", "[head]\nplugin = mlp\n", "[loss.supcon]\nhead = projection\n");
    snprintf(args, sizeof args, "check %s", ini);
    char *out = unic(args, &status);
    cr_expect_neq(status, 0);
    cr_expect(strstr(out, "a.ini:") && strstr(out, "[loss.supcon] head = projection names no "
                                                  "head of this experiment; its heads: cluster "
                                                  "([head])"), "%s", out);
    free(out);
    free(ini);
    ini = write_ini(dir, "b.ini", "[head.projection]\nplugin = dino\ncount = 2\n", "");
    snprintf(args, sizeof args, "check %s", ini);
    out = unic(args, &status);
    cr_expect_neq(status, 0);
    cr_expect(strstr(out, "[head.projection] count must be 1 (only the clustering head trains "
                          "copies"), "%s", out);
    free(out);
    free(ini);
    ini = write_ini(dir, "c.ini", "[head]\nplugin = mlp\n[head.cluster]\nplugin = fc\n", "");
    snprintf(args, sizeof args, "check %s", ini);
    out = unic(args, &status);
    cr_expect_neq(status, 0);
    cr_expect(strstr(out, "[head.cluster] and [head] both describe the clustering head"), "%s", out);
    free(out);
    free(ini);
    ini = write_ini(dir, "d.ini", "[head]\nplugin = mlp\ncount = 17\n", "");
    snprintf(args, sizeof args, "check %s", ini);
    out = unic(args, &status);
    cr_expect_neq(status, 0);
    cr_expect(strstr(out, "[head] count must be between 1 and 16, got 17"), "%s", out);
    free(out);
    free(ini);
    if (access(IMAGES, R_OK) == 0) {
        ini = write_ini(dir, "e.ini", "[head]\nplugin = dino\n", "");
        snprintf(args, sizeof args, "run %s --out %s/e", ini, dir);
        out = unic(args, &status);
        cr_expect_neq(status, 0);
        cr_expect(strstr(out, "[head] dino gives 256 outputs, but the clustering head must give "
                              "one per cluster (K = 10)"), "%s", out);
        free(out);
        free(ini);
    }
    test_remove_tree(dir);
    free(dir);
}

/* A chain: SCAN's clustering stage with 3 copies, then a stage at lr 0
 * that starts from the copy the first selected: its scores are that
 * copy's, and each stage's are reported. */
Test(scan, stages_chain_from_the_selected_copy, .timeout = 300)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("chain"), args[4096];
    char *ini = write_ini(dir, "chain.ini", "[head]\nplugin = mlp\nhidden = 64\n",
                          "[stage.scan]\nlosses = pos, entropy\nminers = positives\n"
                          "head.count = 3\nloss.entropy.weight = 5\n"
                          "[stage.frozen]\nlosses = pos, neg, entropy\nminers = positives, "
                          "negatives\ntrain.lr = 0\ntrain.epochs = 1\n");
    int status;
    snprintf(args, sizeof args, "run %s --out %s/run", ini, dir);
    char *out = unic(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    cr_expect(strstr(out, "== stage 1/2: scan") && strstr(out, "== stage 2/2: frozen"), "%s", out);
    cr_expect(strstr(out, "clustering head: copy "), "%s", out);
    free(out);
    char *run = test_path(dir, "run"), *first = test_path(dir, "run/stages/scan");
    cJSON *m1 = read_json(first, "metrics.json"), *m2 = read_json(run, "metrics.json");
    const cJSON *heads = cJSON_GetObjectItem(m1, "heads");
    cr_assert_not_null(heads);
    int sel = (int)number(heads, "selected");
    double picked = number(cJSON_GetArrayItem(cJSON_GetObjectItem(heads, "scores"), sel), "acc");
    cr_expect_float_eq(number(cJSON_GetObjectItem(m2, "unic"), "acc"), picked, 1e-12,
                       "at lr 0 the second stage keeps copy %d of the first", sel);
    const cJSON *stages = cJSON_GetObjectItem(m2, "stages");
    cr_assert_eq(cJSON_GetArraySize(stages), 2, "each stage's scores are reported");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(stages, 0), "stage")->valuestring, "scan");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(stages, 1), "stage")->valuestring,
                     "frozen");
    cr_expect_float_eq(number(cJSON_GetObjectItem(cJSON_GetArrayItem(stages, 0), "scores"), "acc"),
                       number(cJSON_GetObjectItem(m1, "unic"), "acc"), 1e-12);
    char *r1 = test_read_file(test_path(first, "config.resolved.ini"), NULL);
    cr_expect(strstr(r1, "count = 3") && !strstr(r1, "[loss.neg]") && !strstr(r1, "[miner.negatives]"),
              "the first stage trains only its losses and miners: %s", r1);
    free(r1);
    /* --resume skips a finished stage */
    snprintf(args, sizeof args, "run %s --out %s/run --resume", ini, dir);
    out = unic(args, &status);
    cr_expect_eq(status, 0, "%s", out);
    cr_expect(strstr(out, "stage scan is done"), "%s", out);
    free(out);
    cJSON_Delete(m1);
    cJSON_Delete(m2);
    free(first);
    free(run);
    free(ini);
    test_remove_tree(dir);
    free(dir);
}

/* A chain whose checkpoints cannot match is refused before any work,
 * naming the stage key; so is a stage without its lists or a loss no
 * stage uses. */
Test(scan, mismatched_stages_are_refused_before_any_work, .timeout = 120)
{
    char *dir = test_tmpdir("badchain"), args[4096];
    int status;
    const char *cases[][2] = {
        {"[stage.a]\nlosses = pos, neg, entropy\nminers = positives, negatives\n"
         "[stage.b]\nlosses = pos\nminers = positives\nhead.hidden = 32\n",
         "[stage.b] head.hidden = 32, but stage a has 2048: each stage starts from the previous "
         "one's checkpoint, whose tensors would not fit"},
        {"[stage.a]\nlosses = pos, neg, entropy\nminers = positives, negatives\nhead.count = 3\n"
         "[stage.b]\nlosses = pos\nminers = positives\nhead.count = 2\n",
         "[stage.b] head.count = 2, but stage a has 3"},
        {"[stage.a]\nlosses = pos, neg, entropy\nminers = positives, negatives\n"
         "[stage.b]\nlosses = pos\nminers = positives\nbackbone.plugin = features\n",
         "[stage.b] backbone.plugin = features, but stage a has pixels"},
        {"[stage.a]\nlosses = pos, neg, entropy\nminers = positives, negatives\n"
         "[stage.b]\nlosses = pos, selfie\nminers = positives\n",
         "[stage.b] losses names 'selfie', but the file has no [loss.selfie]"},
        {"[stage.a]\nlosses = pos, neg\nminers = positives, negatives\n",
         "[loss.entropy] is in no stage's losses list"},
        {"[stage.a]\nminers = positives\n", "[stage.a] needs 'losses = NAME, ...'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%zu.ini", i);
        char *ini = write_ini(dir, name, "[head]\nplugin = mlp\n", cases[i][0]);
        snprintf(args, sizeof args, "run %s --out %s/r%zu", ini, dir, i);
        char *out = unic(args, &status);
        cr_expect_eq(status, 2, "case %zu: %s", i, out);
        cr_expect(strstr(out, cases[i][1]), "case %zu: expected '%s' in: %s", i, cases[i][1], out);
        cr_expect(strstr(out, name), "case %zu names the file: %s", i, out);
        char r[4096];
        snprintf(r, sizeof r, "%s/r%zu", dir, i);
        cr_expect(access(r, F_OK) != 0, "case %zu: no run folder is made", i);
        free(out);
        free(ini);
    }
    test_remove_tree(dir);
    free(dir);
}

/* Figure 7's curve: k-means on the current features at each evaluation.
 * Raw pixels do not train, so every point equals the baseline. */
Test(scan, kmeans_per_evaluation_is_logged, .timeout = 300)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("fig7"), args[4096];
    char *ini = write_ini(dir, "exp.ini", "[head]\nplugin = mlp\nhidden = 64\n", "track_kmeans = true\n");
    int status;
    snprintf(args, sizeof args, "run %s --quiet --out %s/run", ini, dir);
    char *out = unic(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    char *run = test_path(dir, "run");
    char *hist = test_read_file(test_path(run, "history.csv"), NULL);
    cr_expect(strstr(hist, ",kmeans_acc,kmeans_nmi,kmeans_ari,seconds\n"), "%s", hist);
    cJSON *m = read_json(run, "metrics.json");
    double base = number(cJSON_GetObjectItem(m, "baseline"), "acc");
    cr_expect_float_eq(last_value(hist, "kmeans_acc"), base, 1e-6, "frozen pixels: the baseline");
    cr_expect_float_eq(number(cJSON_GetObjectItem(m, "kmeans_final"), "acc"), base, 1e-9);
    cJSON_Delete(m);
    free(hist);
    free(run);
    free(ini);
    test_remove_tree(dir);
    free(dir);
}

/* The `linear` backbone: y = (scale x) W^T with W ~ N(0, 1/dim), seeded;
 * its gradient dW = dy^T a in training mode; nothing trains when frozen. */
Test(scan, linear_backbone_projects_and_trains)
{
    struct unic_registry *reg = test_builtin_registry();
    char err[1024] = "";
    const char *kv[] = {"dim", "64", "scale", "0.5", "seed", "3", NULL};
    test_component b = test_create(reg, UNIC_KIND_BACKBONE, "linear", kv, err, sizeof err);
    cr_assert_not_null(b.state, "%s", err);
    const unic_backbone_ops *ops = b.c->backbone;
    cr_expect_eq(ops->parameters(b.state, NULL, 0), 1, "trainable before open, as the core asks");
    unic_input_info info = {2, {4, 5}, "test"};
    int dim = 0;
    cr_assert_eq(ops->open(b.state, &info, &dim, err, sizeof err), 0, "%s", err);
    cr_expect_eq(dim, 64);
    unic_param_tensor p;
    cr_assert_eq(ops->parameters(b.state, &p, 1), 1);
    cr_assert(p.value->shape[0] == 64 && p.value->shape[1] == 20);
    double ss = 0;
    for (int i = 0; i < 64 * 20; i++) ss += (double)p.value->data[i] * p.value->data[i];
    cr_expect(fabs(ss / (64 * 20) - 1.0 / 64) < 0.25 / 64, "variance %g, 1/dim %g", ss / 1280, 1 / 64.0);
    float x[3 * 20], y[3 * 64], dy[3 * 64];
    for (int i = 0; i < 60; i++) x[i] = (float)((i * 37) % 11) - 5.0f;
    for (int i = 0; i < 192; i++) dy[i] = (float)((i * 13) % 7) - 3.0f;
    unic_tensor in = {x, {3, 1, 4, 5}, 4, UNIC_CPU}, out = {y, {3, 64}, 2, UNIC_CPU};
    ops->set_training(b.state, 1);
    ops->forward(b.state, &in, &out);
    double e = 0;
    for (int r = 0; r < 3; r++)
        for (int o = 0; o < 64; o++) {
            double want = 0;
            for (int k = 0; k < 20; k++) want += 0.5 * x[r * 20 + k] * p.value->data[o * 20 + k];
            e = fmax(e, fabs(want - y[r * 64 + o]));
        }
    cr_expect_lt(e, 1e-4, "forward: max error %g", e);
    unic_tensor_zero(p.grad);
    unic_tensor d = {dy, {3, 64}, 2, UNIC_CPU};
    ops->backward(b.state, &d);
    e = 0;
    for (int o = 0; o < 64; o++)
        for (int k = 0; k < 20; k++) {
            double want = 0;
            for (int r = 0; r < 3; r++) want += dy[r * 64 + o] * 0.5 * x[r * 20 + k];
            e = fmax(e, fabs(want - p.grad->data[o * 20 + k]));
        }
    cr_expect_lt(e, 1e-4, "dW: max error %g", e);
    /* a frozen projection trains nothing, and keeps its input width */
    const char *kv2[] = {"dim", "64", "seed", "3", "finetune", "frozen", NULL};
    test_component c = test_create(reg, UNIC_KIND_BACKBONE, "linear", kv2, err, sizeof err);
    cr_assert_eq(c.c->backbone->open(c.state, &info, &dim, err, sizeof err), 0, "%s", err);
    cr_expect_eq(c.c->backbone->parameters(c.state, NULL, 0), 0);
    unic_input_info other = {2, {4, 6}, "other"};
    cr_expect_neq(c.c->backbone->open(c.state, &other, &dim, err, sizeof err), 0);
    cr_expect(strstr(err, "items of 24 values, but the projection was made for 20"), "%s", err);
    test_destroy(&b);
    test_destroy(&c);
    unic_registry_free(reg);
}

/* A backbone that trains reads its items every step through the image
 * loader: on arrays it is refused before any work, naming the way out. */
Test(scan, trainable_backbone_on_arrays_is_refused, .timeout = 120)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("linear_arrays"), args[4096];
    char *ini = test_path(dir, "exp.ini");
    test_write_text(ini, "[data]\npath = " IMAGES "\nlabels = " LABELS "\nlimit = 500\n"
                         "[backbone]\nplugin = linear\n[head]\nplugin = mlp\nhidden = 16\n"
                         "[miner.p]\nplugin = knn\ntau1 = 5\n[loss.pos]\n[loss.entropy]\n");
    int status;
    snprintf(args, sizeof args, "run %s --out %s/run", ini, dir);
    char *out = unic(args, &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "[backbone] linear trains (finetune), which reads the items every step "
                          "through the image loader: give [data] an image format (format = "
                          "idx_images"), "%s", out);
    cr_expect(!strstr(out, "embedding:"), "refused before embedding: %s", out);
    free(out);
    free(ini);
    test_remove_tree(dir);
    free(dir);
}
