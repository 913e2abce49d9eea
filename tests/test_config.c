/* Experiment files: malformed text, unknown sections and keys, bad values
 * and overrides are caught before any work starts, with file and line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment/config.h"
#include "experiment/experiment.h"
#include "experiment/grid.h"
#include "helpers.h"
#include "plugin/registry.h"

static const char *good =
    "; a valid experiment\n"
    "[data]\n"
    "path = data.npy\n"
    "[backbone]\n"
    "plugin = features\n"
    "[head]\n"
    "plugin = mlp\n"
    "hidden = 64\n"
    "[miner.positives]\n"
    "plugin = knn\n"
    "tau1 = 5\n"
    "[miner.negatives]\n"
    "plugin = far\n"
    "tau2 = 50\n"
    "[loss.pos]\n"
    "[loss.neg]\n"
    "[loss.entropy]\n"
    "weight = 2.5\n"
    "[train]\n"
    "epochs = 3\n";

static unic_registry *reg;
static void setup(void) { reg = test_builtin_registry(); }
static void teardown(void) { unic_registry_free(reg); }

/* Writes text as an INI file and validates it; returns the error ("" if valid). */
static char *check(const char *text, const char **sets, int nsets, char **path_out)
{
    char *dir = test_tmpdir("cfg");
    char *path = test_path(dir, "exp.ini");
    test_write_text(path, text);
    static char err[4096];
    err[0] = '\0';
    unic_grid g;
    if (unic_grid_prepare(path, sets, nsets, reg, &g, err, sizeof err) == 0) {
        for (int i = 0; i < g.count && !err[0]; i++) /* as `unic check` reports them */
            if (g.points[i].error)
                snprintf(err, sizeof err, "%s (grid point %s)", g.points[i].error, g.points[i].label);
        unic_grid_free(&g);
    }
    if (path_out) *path_out = path;
    return err;
}

static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    cr_assert_not_null(at, "fixture lacks '%s'", from);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

TestSuite(config, .init = setup, .fini = teardown);

Test(config, valid_experiment_resolves_defaults)
{
    char *dir = test_tmpdir("cfg"), *path = test_path(dir, "exp.ini"), err[2048];
    test_write_text(path, good);
    unic_config *c;
    cr_assert_eq(unic_config_load(path, &c, err, sizeof err), 0, "%s", err);
    unic_experiment x;
    cr_assert_eq(unic_experiment_prepare(c, reg, &x, err, sizeof err), 0, "%s", err);
    cr_expect_eq(x.nminers, 2);
    cr_expect_eq(x.nlosses, 3);
    cr_expect_float_eq(unic_slot_weight(&x.losses[2]), 2.5f, 1e-6);
    cr_expect_float_eq(unic_slot_weight(&x.losses[0]), 1.0f, 1e-6);
    char *ini = unic_experiment_resolved_ini(&x);
    cr_expect(strstr(ini, "batch_size = 128"), "defaults must be written out:\n%s", ini);
    cr_expect(strstr(ini, "hidden = 64"), "%s", ini);
    cr_expect(strstr(ini, "eta = 0"), "%s", ini);
    free(ini);
    unic_experiment_free(&x);
}

Test(config, malformed_line_names_file_and_line)
{
    char *path;
    char *t = replace(good, "tau1 = 5\n", "tau1 5\n");
    char *err = check(t, NULL, 0, &path);
    cr_expect(strstr(err, path), "%s", err);
    cr_expect(strstr(err, ":11:"), "line number expected: %s", err);
    cr_expect(strstr(err, "expected 'key = value'"), "%s", err);
}

Test(config, truncated_section_header)
{
    char *err = check(replace(good, "[train]", "[train"), NULL, 0, NULL);
    cr_expect(strstr(err, ":19:") && strstr(err, "malformed section header"), "%s", err);
}

Test(config, duplicate_key_is_an_error)
{
    char *err = check(replace(good, "tau1 = 5\n", "tau1 = 5\ntau1 = 6\n"), NULL, 0, NULL);
    cr_expect(strstr(err, "set again (first at line 11)"), "%s", err);
}

Test(config, unknown_key_suggests_closest)
{
    char *err = check(replace(good, "hidden = 64", "hiden = 64"), NULL, 0, NULL);
    cr_expect(strstr(err, ":8:"), "%s", err);
    cr_expect(strstr(err, "[head] unknown key 'hiden'"), "%s", err);
    cr_expect(strstr(err, "'hidden'"), "%s", err);
}

Test(config, bad_value_names_expected_type)
{
    char *err = check(replace(good, "epochs = 3", "epochs = three"), NULL, 0, NULL);
    cr_expect(strstr(err, "[train] epochs: expected an integer, got 'three'"), "%s", err);
    err = check(replace(good, "[train]\n", "[train]\ndevice = tpu\n"), NULL, 0, NULL);
    cr_expect(strstr(err, "expected one of cpu|cuda"), "%s", err);
}

Test(config, unknown_section_and_plugin)
{
    char *err = check(replace(good, "[train]", "[trian]"), NULL, 0, NULL);
    cr_expect(strstr(err, "unknown section [trian]") && strstr(err, "'train'"), "%s", err);
    err = check(replace(good, "plugin = far", "plugin = farr"), NULL, 0, NULL);
    cr_expect(strstr(err, "unknown miner plugin 'farr'") && strstr(err, "'far'"), "%s", err);
    err = check(replace(good, "plugin = features", "plugin = mlp"), NULL, 0, NULL);
    cr_expect(strstr(err, "unknown backbone plugin 'mlp'"), "%s", err);
}

Test(config, overrides_are_validated_too)
{
    const char *ok[] = {"loss.entropy.weight=5", "train.lr=0.001"};
    cr_expect_str_empty(check(good, ok, 2, NULL));
    const char *bad[] = {"head.hidden=wide"};
    char *err = check(good, bad, 1, NULL);
    cr_expect(strstr(err, "(--set head.hidden)") && strstr(err, "expected an integer"), "%s", err);
    const char *shape[] = {"epochs=3"};
    err = check(good, shape, 1, NULL);
    cr_expect(strstr(err, "expected section.key=value"), "%s", err);
}

Test(config, grid_validates_every_combination_first)
{
    char *t = replace(good, "[train]\n", "[grid]\nloss.entropy.weight = 0, 3\nhead.hidden = 32, big\n[train]\n");
    char *err = check(t, NULL, 0, NULL);
    cr_expect(strstr(err, "expected an integer, got 'big'"), "%s", err);
    cr_expect(strstr(err, "(grid point loss.entropy.weight=0,head.hidden=big)"), "%s", err);
    char *dir = test_tmpdir("grid"), *path = test_path(dir, "exp.ini"), msg[2048];
    test_write_text(path, replace(good, "[train]\n", "[grid]\nloss.entropy.weight = 0, 3\nhead.hidden = 32, 64, 128\n[train]\n"));
    unic_grid g;
    cr_assert_eq(unic_grid_prepare(path, NULL, 0, reg, &g, msg, sizeof msg), 0, "%s", msg);
    cr_expect_eq(g.count, 6);
    cr_expect_str_eq(g.points[5].label, "loss.entropy.weight=3,head.hidden=128");
    unic_grid_free(&g);
}

Test(config, missing_required_parts)
{
    char *err = check(replace(good, "path = data.npy\n", ""), NULL, 0, NULL);
    cr_expect(strstr(err, "[data] needs 'path = FILE'"), "%s", err);
    err = check(replace(good, "[miner.positives]\nplugin = knn\ntau1 = 5\n", "[miner.positives]\ntau1 = 5\n"), NULL, 0, NULL);
    cr_expect(strstr(err, "needs 'plugin = NAME'"), "%s", err);
}

Test(config, class_lists)
{
    unsigned char mask[16];
    int n;
    char err[256];
    cr_assert_eq(unic_parse_class_list("0-2, 5,7", mask, 16, &n, err, sizeof err), 0, "%s", err);
    cr_expect_eq(n, 5);
    cr_expect(mask[0] && mask[1] && mask[2] && !mask[3] && mask[5] && mask[7]);
    cr_expect_neq(unic_parse_class_list("3-1", mask, 16, &n, err, sizeof err), 0);
    cr_expect_neq(unic_parse_class_list("0-99", mask, 16, &n, err, sizeof err), 0);
    cr_expect_neq(unic_parse_class_list("a", mask, 16, &n, err, sizeof err), 0);
    /* a split file like experiments/splits/cub200_ssb.txt */
    char *dir = test_tmpdir("split"), *f = test_path(dir, "split.txt");
    test_write_text(f, "# header\nold 0\nnew 1 easy\nold 3\nnew 2 hard\n");
    cr_assert_eq(unic_parse_class_list(f, mask, 16, &n, err, sizeof err), 0, "%s", err);
    cr_expect(n == 2 && mask[0] && mask[3] && !mask[1] && !mask[2]);
    test_write_text(f, "old x\n");
    cr_expect_neq(unic_parse_class_list(f, mask, 16, &n, err, sizeof err), 0);
    cr_expect(strstr(err, "split.txt:1: expected 'old CLASS_INDEX'"), "%s", err);
    char ssb[] = UNIC_SOURCE_DIR "/experiments/splits/cub200_ssb.txt";
    unsigned char big[200];
    cr_assert_eq(unic_parse_class_list(ssb, big, 200, &n, err, sizeof err), 0, "%s", err);
    cr_expect_eq(n, 100, "the SSB split has 100 old classes");
}
