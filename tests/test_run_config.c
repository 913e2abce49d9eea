/* A run's settings are typed and checked once, before any work: a value
 * beyond its bound is refused naming where it was set, [section] key, the
 * bound and the value. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "experiment/config.h"
#include "experiment/experiment.h"
#include "helpers.h"
#include "plugin/registry.h"
#include "experiment/run_config.h"

static const char *ini =
    "[data]\n"
    "path = data.npy\n"
    "[backbone]\n"
    "plugin = features\n"
    "[miner.positives]\n"
    "plugin = knn\n"
    "tau1 = 5\n"
    "scope = unlabeled\n"
    "[loss.pos]\n"
    "weight = 2\n"
    "[train]\n"
    "epochs = 3\n"
    "beta1 = %s\n";

static unic_registry *reg;
static unic_experiment x;
static int prepared;
static void setup(void) { reg = test_builtin_registry(); }
static void teardown(void)
{
    if (prepared) unic_experiment_free(&x);
    unic_registry_free(reg);
}

/* The experiment with [train] beta1 = beta1 in its file and one --set;
 * returns the message of the check that refused it ("" when the settings
 * hold). */
static const char *parse(const char *beta1, const char *set, unic_run_config *c)
{
    char *dir = test_tmpdir("train_config"), *path = test_path(dir, "exp.ini"), text[1024];
    static char err[2048];
    if (prepared) unic_experiment_free(&x);
    prepared = 0;
    snprintf(text, sizeof text, ini, beta1);
    test_write_text(path, text);
    const char *sets[] = {set};
    unic_config *cfg;
    cr_assert_eq(unic_config_load_with(path, sets, set ? 1 : 0, &cfg, err, sizeof err), 0, "%s",
                 err);
    if (unic_experiment_prepare(cfg, reg, &x, err, sizeof err) != 0) return err;
    prepared = 1;
    err[0] = '\0';
    unic_run_config_parse(&x, c, err, sizeof err);
    return err;
}

TestSuite(run_config, .init = setup, .fini = teardown);

Test(run_config, fields_hold_the_settings_and_defaults)
{
    unic_run_config c;
    const char *err = parse("0.8", "train.lr=1e-3", &c);
    cr_assert_str_empty(err);
    cr_expect_eq(c.train.epochs, 3);
    cr_expect_eq(c.train.batch_size, 128);
    cr_expect_eq(c.train.beta1, 0.8f);
    cr_expect_eq(c.train.beta2, 0.999f);
    cr_expect_eq(c.train.lr, 1e-3);
    cr_expect_eq(c.train.device, UNIC_CPU);
    cr_expect_eq(c.eval.every, 1);
    cr_expect_eq(c.eval.kmeans_restarts, 10);
    cr_expect_str_eq(c.data.path, "data.npy");
    cr_expect_eq(c.loss_weight[0], 2.0f);
    cr_expect_eq(c.miner_scope[0], UNIC_SCOPE_UNLABELED);
}

Test(run_config, a_value_in_the_file_is_refused_with_its_line)
{
    unic_run_config c;
    const char *err = parse("1", NULL, &c);
    cr_expect(strstr(err, "exp.ini:13: [train] beta1 must be in [0, 1)"), "%s", err);
    /* 0.99999999 is 1 as the float Adam computes with */
    err = parse("0.99999999", NULL, &c);
    cr_expect(strstr(err, "[train] beta1 must be in [0, 1)"), "%s", err);
}

Test(run_config, every_bound_names_its_key)
{
    static const struct {
        const char *set, *expected;
    } cases[] = {
        {"train.batch_size=2000000", "[train] batch_size must be between 1 and 1048576, got 2000000"},
        {"train.lr=-1", "[train] lr must be at least 0, got -1"},
        {"train.beta2=1", "[train] beta2 must be in [0, 1)"},
        {"train.adam_eps=-1e-8", "[train] adam_eps must be at least 0, got -1e-08"},
        {"train.threads=-2", "[train] threads must be between 0 and 4096, got -2"},
        {"train.checkpoint_every=-1", "[train] checkpoint_every must be at least 0, got -1"},
        {"eval.every=-1", "[eval] every must be at least 0, got -1"},
        {"eval.kmeans_restarts=0", "[eval] kmeans_restarts must be between 1 and 10000, got 0"},
        {"data.limit=-5", "[data] limit must be at least 0, got -5"},
        {"data.classes=5000", "(UNIC_MAX_CLASSES)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unic_run_config c;
        const char *err = parse("0.9", cases[i].set, &c);
        cr_expect(strstr(err, cases[i].expected), "--set %s: '%s'", cases[i].set, err);
        cr_expect(strstr(err, "(--set "), "--set %s: where it was set: '%s'", cases[i].set, err);
    }
}

/* `unic check` refuses an out-of-range value as `unic run` would, before
 * any work, for every point of a grid. */
Test(run_config, unic_check_applies_the_bounds)
{
    int status;
    char *out = test_run("cd " UNIC_SOURCE_DIR " && " UNIC_BINARY_DIR
                         "/unic check experiments/quickstart.ini --set train.beta1=1 2>&1",
                         &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "[train] beta1") && strstr(out, "[0, 1)"), "%s", out);
    free(out);
    out = test_run("cd " UNIC_SOURCE_DIR " && " UNIC_BINARY_DIR
                   "/unic check experiments/quickstart.ini --set train.batch_size=2147483647 2>&1",
                   &status);
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "[train] batch_size"), "%s", out);
    free(out);
    out = test_run("cd " UNIC_SOURCE_DIR " && " UNIC_BINARY_DIR
                   "/unic check experiments/quickstart.ini 2>&1", &status);
    cr_expect_eq(status, 0, "%s", out);
    free(out);
}
