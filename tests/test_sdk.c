/* The plugin SDK from a user's side: what the built plugins export, the
 * `unic gradcheck` command, broken plugin files next to good ones, and an
 * installed unic that out-of-tree plugins build against. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define UNIC UNIC_BINARY_DIR "/unic"
#define EXAMPLES UNIC_TEST_PLUGIN_ROOT "/example"
/* the build's own plugins only: nothing from the user's environment */
#define HERMETIC "env -u UNIC_BUILTIN_PLUGIN_DIR -u UNIC_PLUGIN_PATH "

static char *run(const char *cmd, int expect_status)
{
    int status;
    char *out = test_run(cmd, &status);
    cr_assert_eq(status, expect_status, "`%s` exited %d, expected %d:\n%s", cmd, status,
                 expect_status, out);
    return out;
}

/* The dynamic symbols a shared object defines, space-separated. */
static void defined_symbols(const char *so, char *buf, size_t len)
{
    char cmd[2048], line[512], name[256];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s' 2>&1", so);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "cannot run nm");
    buf[0] = '\0';
    while (fgets(line, sizeof line, p))
        if (sscanf(line, "%*s %*s %255s", name) == 1)
            snprintf(buf + strlen(buf), len - strlen(buf), "%s ", name);
    cr_assert_eq(pclose(p), 0, "nm -D %s failed (binutils missing?): %s", so, buf);
}

/* Every .so of a folder exports the entry point and nothing else; returns how many. */
static int expect_only_entry_point(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    int checked = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".so") != 0) continue;
        char *so = test_path(dir, e->d_name), symbols[4096];
        defined_symbols(so, symbols, sizeof symbols);
        cr_expect_str_eq(symbols, "unic_plugin_init ",
                         "%s should export only unic_plugin_init (UNIC_EXPORT, built with hidden "
                         "visibility), it exports: %s", so, symbols);
        free(so);
        checked++;
    }
    closedir(d);
    return checked;
}

Test(sdk, plugins_export_only_the_entry_point)
{
    cr_expect_geq(expect_only_entry_point(UNIC_PLUGIN_DIR), 14, "every built-in plugin");
    cr_expect_eq(expect_only_entry_point(EXAMPLES), 2, "kl_uniform and mutual_knn");
}

Test(sdk, gradcheck_passes_the_examples, .timeout = 120)
{
    char *out = run(HERMETIC UNIC " gradcheck " EXAMPLES "/kl_uniform.so " EXAMPLES "/mutual_knn.so", 0);
    cr_expect(strstr(out, "PASS  loss kl_uniform: d p_anchor: relative error "), "%s", out);
    cr_expect(strstr(out, "PASS  miner mutual_knn: sample is a pure function of the stream"),
              "%s", out);
    cr_expect(strstr(out, "all 10 checks passed"), "%s", out);
    cr_expect_null(strstr(out, "FAIL"), "%s", out);
    free(out);
}

Test(sdk, gradcheck_checks_a_builtin_file_in_place, .timeout = 120)
{
    char *out = run(HERMETIC UNIC " gradcheck " UNIC_PLUGIN_DIR "/heads_fc.so", 0);
    cr_expect(strstr(out, "PASS  head fc: d weight: relative error "), "%s", out);
    free(out);
}

Test(sdk, gradcheck_fails_a_wrong_gradient)
{
    char *out = run(HERMETIC UNIC " gradcheck " UNIC_TEST_PLUGIN_ROOT "/wrong_grad/wrong_grad.so", 1);
    cr_expect(strstr(out, "FAIL  loss wrong_grad: d p_pos: relative error 1.00e+00"), "%s", out);
    cr_expect(strstr(out, "PASS  loss wrong_grad: d p_anchor"), "%s", out);
    cr_expect(strstr(out, "1 of 5 checks failed"), "%s", out);
    free(out);
}

Test(sdk, gradcheck_refuses_a_file_that_does_not_load)
{
    char *out = run(HERMETIC UNIC " gradcheck " UNIC_TEST_PLUGIN_ROOT "/no_weight/no_weight.so", 2);
    cr_expect(strstr(out, "no_weight.so: loss 'weightless' has no default weight"), "%s", out);
    free(out);
    out = run(HERMETIC UNIC " gradcheck /nonexistent/plugin.so", 2);
    cr_expect(strstr(out, "/nonexistent/plugin.so: no such file"), "%s", out);
    free(out);
}

/* A user's plugin folder with a broken file: commands still work, with a
 * warning; an experiment that needs the broken file's component is told
 * why it is missing. */
Test(sdk, a_broken_plugin_is_skipped_unless_needed)
{
    const char *path = "env -u UNIC_BUILTIN_PLUGIN_DIR UNIC_PLUGIN_PATH=" UNIC_TEST_PLUGIN_ROOT
                       "/no_weight:" EXAMPLES " ";
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s%s plugins", path, UNIC);
    char *out = run(cmd, 0);
    cr_expect(strstr(out, "warning: skipped plugin " UNIC_TEST_PLUGIN_ROOT "/no_weight/no_weight.so: "
                          "loss 'weightless' has no default weight"), "%s", out);
    cr_expect(strstr(out, "  kl_uniform: "), "the good folder still loads: %s", out);
    free(out);
    char *dir = test_tmpdir("broken-plugin"), *ini = test_path(dir, "x.ini");
    test_write_text(ini, "[data]\npath = /nonexistent/x.npy\n[backbone]\nplugin = features\n"
                         "[head]\nplugin = mlp\n[miner.positives]\nplugin = knn\n"
                         "[loss.weightless]\n");
    snprintf(cmd, sizeof cmd, "%s%s check %s", path, UNIC, ini);
    out = run(cmd, 2);
    cr_expect(strstr(out, "unknown loss plugin 'weightless'"), "%s", out);
    cr_expect(strstr(out, "note: " UNIC_TEST_PLUGIN_ROOT "/no_weight/no_weight.so failed to load: "
                          "loss 'weightless' has no default weight"), "%s", out);
    free(out);
    unlink(ini);
    rmdir(dir);
    free(ini);
    free(dir);
}

/* cmake --install into a temporary prefix, then the examples built out of
 * tree with pkg-config and with find_package(unic), loaded and checked by
 * the installed unic (tests/install/check.sh; a few seconds). */
Test(sdk, install_and_build_plugins_out_of_tree, .timeout = 300)
{
    char *out = run("sh " UNIC_SOURCE_DIR "/tests/install/check.sh " UNIC_BINARY_DIR " " UNIC_SOURCE_DIR,
                    0);
    cr_expect(strstr(out, "\nOK\n"), "%s", out);
    free(out);
}
