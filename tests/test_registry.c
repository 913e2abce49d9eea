/* The plugin registry: built-in plugins load; broken ones are refused with
 * messages that name the file and the cause (and skipped in folders); the
 * ABI rule (same major, minor no newer than the core's). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "plugin/registry.h"

static unic_registry *builtin(void) { return test_builtin_registry(); }

Test(registry, loads_every_builtin_component)
{
    unic_registry *r = builtin();
    const char *expected[][2] = {{"backbone", "features"}, {"backbone", "pixels"}, {"head", "mlp"},
                                 {"head", "fc"}, {"loss", "pos"}, {"loss", "neg"},
                                 {"loss", "entropy"}, {"miner", "knn"}, {"miner", "far"},
                                 {"miner", "labeled_pos"}, {"miner", "labeled_neg"},
                                 {"miner", "random"}};
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
        int found = 0;
        for (int j = 0; j < unic_registry_count(r); j++) {
            const unic_component *c = unic_registry_at(r, j);
            found |= strcmp(unic_kind_name(c->kind), expected[i][0]) == 0 &&
                     strcmp(c->name, expected[i][1]) == 0;
        }
        cr_expect(found, "missing %s '%s'", expected[i][0], expected[i][1]);
    }
    unic_registry_free(r);
}

/* Loads one test plugin (tests/plugins/NAME.c, built into its own folder),
 * expecting `status`; returns the message. */
static void load_test_plugin(unic_registry *r, const char *name, int status, char *err,
                             size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s.so", UNIC_TEST_PLUGIN_ROOT, name, name);
    int before = unic_registry_count(r);
    cr_assert_eq(unic_registry_load_file(r, path, err, errlen), status, "%s: %s", path, err);
    cr_expect_eq(unic_registry_count(r), before, "%s: nothing of a refused file may stay", name);
    cr_expect(strstr(err, path), "the message should name the file %s: %s", path, err);
}

Test(registry, abi_rule_same_major_and_no_newer_minor)
{
    cr_expect_eq(unic_abi_compatible(6, 0, 6, 0), UNIC_ABI_OK);
    cr_expect_eq(unic_abi_compatible(6, 3, 6, 1), UNIC_ABI_OK, "an older minor loads");
    cr_expect_eq(unic_abi_compatible(6, 3, 6, 3), UNIC_ABI_OK);
    cr_expect_eq(unic_abi_compatible(6, 0, 6, 1), UNIC_ABI_NEWER_MINOR);
    cr_expect_eq(unic_abi_compatible(6, 2, 6, 7), UNIC_ABI_NEWER_MINOR);
    cr_expect_eq(unic_abi_compatible(6, 0, 7, 0), UNIC_ABI_OTHER_MAJOR);
    cr_expect_eq(unic_abi_compatible(6, 4, 5, 0), UNIC_ABI_OTHER_MAJOR, "an older major too");
    cr_expect_eq(unic_abi_compatible(6, 0, 0, 0), UNIC_ABI_MISSING, "a forgotten version");
    cr_expect_eq(unic_abi_compatible(6, 0, 6, -1), UNIC_ABI_MISSING);
}

/* The registry's check on a real component (built for this ABI), as a core
 * one minor newer would run it: this is how a plugin of 6.0 meets unic 6.1. */
Test(registry, older_minor_component_passes_a_newer_cores_check)
{
    char err[2048] = "";
    unic_registry *r = builtin();
    const unic_component *c = unic_registry_find(r, UNIC_KIND_LOSS, "pos", err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(c->abi_major, UNIC_ABI_MAJOR);
    cr_assert_eq(c->abi_minor, UNIC_ABI_MINOR);
    cr_expect_eq(unic_abi_check(UNIC_ABI_MAJOR, UNIC_ABI_MINOR + 1, c, "pos.so", err, sizeof err),
                 0, "%s", err);
    cr_expect_eq(unic_abi_check(UNIC_ABI_MAJOR, UNIC_ABI_MINOR, c, "pos.so", err, sizeof err), 0);
    cr_expect_neq(unic_abi_check(UNIC_ABI_MAJOR + 1, 0, c, "pos.so", err, sizeof err), 0);
    cr_expect(strstr(err, "pos.so") && strstr(err, "'pos'"), "%s", err);
    unic_registry_free(r);
}

Test(registry, refuses_another_major)
{
    char err[2048] = "", want[64];
    unic_registry *r = unic_registry_new();
    load_test_plugin(r, "bad_abi", UNIC_LOAD_BROKEN, err, sizeof err);
    cr_expect(strstr(err, "ABI mismatch"), "%s", err);
    cr_expect(strstr(err, "'from_the_future'"), "message should name the component: %s", err);
    snprintf(want, sizeof want, "built for plugin ABI %d.0", UNIC_ABI_MAJOR + 1);
    cr_expect(strstr(err, want), "message should give the plugin's version: %s", err);
    snprintf(want, sizeof want, "speaks ABI %d.%d", UNIC_ABI_MAJOR, UNIC_ABI_MINOR);
    cr_expect(strstr(err, want), "message should give the core's version: %s", err);
    cr_expect(strstr(err, "rebuild the plugin"), "message should say what to do: %s", err);
    unic_registry_free(r);
}

Test(registry, refuses_a_newer_minor)
{
    char err[2048] = "", want[64];
    unic_registry *r = unic_registry_new();
    load_test_plugin(r, "newer_minor", UNIC_LOAD_BROKEN, err, sizeof err);
    cr_expect(strstr(err, "'newer_minor'"), "%s", err);
    snprintf(want, sizeof want, "ABI %d.%d, newer than this unic's ABI %d.%d", UNIC_ABI_MAJOR,
             UNIC_ABI_MINOR + 1, UNIC_ABI_MAJOR, UNIC_ABI_MINOR);
    cr_expect(strstr(err, want), "expected '%s' in: %s", want, err);
    cr_expect(strstr(err, "upgrade unic"), "message should say what to do: %s", err);
    unic_registry_free(r);
}

/* Built as ABI 5 laid its component out: name and version are still read. */
Test(registry, refuses_an_abi5_plugin_by_name)
{
    char err[2048] = "";
    unic_registry *r = unic_registry_new();
    load_test_plugin(r, "abi5", UNIC_LOAD_BROKEN, err, sizeof err);
    cr_expect(strstr(err, "'from_abi5' was built for plugin ABI 5,"), "%s", err);
    unic_registry_free(r);
}

Test(registry, refuses_a_loss_without_default_weight)
{
    char err[2048] = "";
    unic_registry *r = unic_registry_new();
    load_test_plugin(r, "no_weight", UNIC_LOAD_BROKEN, err, sizeof err);
    cr_expect(strstr(err, "loss 'weightless' has no default weight"), "%s", err);
    cr_expect(strstr(err, ".has_default_weight = 1"), "message should say what to set: %s", err);
    unic_registry_free(r);
}

Test(registry, every_builtin_loss_declares_its_default_weight)
{
    unic_registry *r = builtin();
    for (int i = 0; i < unic_registry_count(r); i++) {
        const unic_component *c = unic_registry_at(r, i);
        if (c->kind == UNIC_KIND_LOSS) cr_expect(c->loss->has_default_weight, "%s", c->name);
    }
    unic_registry_free(r);
}

Test(registry, refuses_missing_entry_point)
{
    char err[2048] = "";
    unic_registry *r = unic_registry_new();
    load_test_plugin(r, "no_entry", UNIC_LOAD_BROKEN, err, sizeof err);
    cr_expect(strstr(err, "unic_plugin_init"), "message should name the entry point: %s", err);
    unic_registry_free(r);
}

/* A folder with broken files and a good one, as a user's plugin folder
 * with a stale build in it. */
static char *mixed_folder(void)
{
    char *dir = test_tmpdir("mixed-plugins");
    const char *files[][2] = {{"bad_abi", "bad_abi.so"}, {"no_weight", "no_weight.so"},
                              {"example", "kl_uniform.so"}};
    for (int i = 0; i < 3; i++) {
        char from[1024], to[1024];
        snprintf(from, sizeof from, "%s/%s/%s", UNIC_TEST_PLUGIN_ROOT, files[i][0], files[i][1]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i][1]);
        cr_assert_eq(symlink(from, to), 0, "symlink %s", to);
    }
    return dir;
}

static void remove_mixed_folder(char *dir)
{
    const char *names[] = {"bad_abi.so", "no_weight.so", "kl_uniform.so"};
    for (int i = 0; i < 3; i++) {
        char *p = test_path(dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
    free(dir);
}

Test(registry, broken_files_are_skipped_with_a_warning_naming_them)
{
    char err[4096] = "";
    char *dir = mixed_folder();
    unic_registry *r = unic_registry_new();
    test_log_capture_start();
    int rc = unic_registry_load_dir(r, dir, err, sizeof err);
    char *log = test_log_capture_end();
    cr_expect_eq(rc, 0, "broken files must not fail the folder: %s", err);
    cr_expect_eq(unic_registry_count(r), 1, "kl_uniform still loads");
    cr_expect_eq(unic_registry_failure_count(r), 2);
    cr_expect(strstr(log, "skipped plugin") && strstr(log, "/bad_abi.so: ABI mismatch"), "%s", log);
    cr_expect(strstr(log, "/no_weight.so: loss 'weightless' has no default weight"), "%s", log);
    cr_expect_not_null(unic_registry_find(r, UNIC_KIND_LOSS, "kl_uniform", err, sizeof err));
    free(log);
    unic_registry_free(r);
    remove_mixed_folder(dir);
}

Test(registry, unknown_plugin_message_names_the_skipped_files)
{
    char err[4096] = "";
    char *dir = mixed_folder();
    unic_registry *r = unic_registry_new();
    cr_assert_eq(unic_registry_load_dir(r, dir, err, sizeof err), 0, "%s", err);
    cr_expect_null(unic_registry_find(r, UNIC_KIND_LOSS, "weightless", err, sizeof err));
    cr_expect(strstr(err, "unknown loss plugin 'weightless'"), "%s", err);
    cr_expect(strstr(err, "note: ") && strstr(err, "/no_weight.so failed to load: loss "
                                               "'weightless' has no default weight"), "%s", err);
    cr_expect(strstr(err, "/bad_abi.so failed to load: ABI mismatch"), "%s", err);
    unic_registry_free(r);
    remove_mixed_folder(dir);
}

Test(registry, refuses_duplicate_names_naming_both_files)
{
    char err[2048] = "";
    unic_registry *r = builtin();
    int before = unic_registry_count(r);
    cr_assert_neq(unic_registry_load_dir(r, UNIC_TEST_PLUGIN_ROOT "/duplicate", err, sizeof err), 0);
    cr_expect(strstr(err, "duplicate loss 'entropy'"), "%s", err);
    cr_expect(strstr(err, "losses_entropy.so"), "first file missing: %s", err);
    cr_expect(strstr(err, "duplicate.so"), "second file missing: %s", err);
    cr_expect_eq(unic_registry_count(r), before);
    unic_registry_free(r);
}

Test(registry, plugin_path_environment_is_searched)
{
    char err[2048] = "";
    setenv("UNIC_BUILTIN_PLUGIN_DIR", "", 1);
    setenv("UNIC_PLUGIN_PATH", "/nonexistent-unic-folder:" UNIC_TEST_PLUGIN_ROOT "/example", 1);
    unic_registry *r = unic_registry_new();
    cr_expect_neq(unic_registry_load_default(r, err, sizeof err), 0, "a missing folder is an error");
    cr_expect(strstr(err, "nonexistent-unic-folder"), "%s", err);
    unic_registry_free(r);
    setenv("UNIC_PLUGIN_PATH", UNIC_TEST_PLUGIN_ROOT "/no_entry:" UNIC_TEST_PLUGIN_ROOT "/example", 1);
    r = unic_registry_new();
    cr_expect_eq(unic_registry_load_default(r, err, sizeof err), 0, "%s", err);
    cr_expect_not_null(unic_registry_find(r, UNIC_KIND_LOSS, "kl_uniform", err, sizeof err),
                       "the folder after a broken file is still searched: %s", err);
    cr_expect_eq(unic_registry_failure_count(r), 1);
    unic_registry_free(r);
    unsetenv("UNIC_PLUGIN_PATH");
    unsetenv("UNIC_BUILTIN_PLUGIN_DIR");
}

Test(registry, builtin_folder_is_the_builds_and_can_be_overridden)
{
    cr_expect_str_eq(unic_builtin_plugin_dir(), UNIC_PLUGIN_DIR,
                     "no lib/unic/plugins beside the test binary: the build's folder");
    setenv("UNIC_BUILTIN_PLUGIN_DIR", "/somewhere/else", 1);
    cr_expect_str_eq(unic_builtin_plugin_dir(), "/somewhere/else");
    unsetenv("UNIC_BUILTIN_PLUGIN_DIR");
}

Test(registry, unknown_plugin_suggests_closest)
{
    char err[2048] = "";
    unic_registry *r = builtin();
    cr_expect_null(unic_registry_find(r, UNIC_KIND_LOSS, "entropi", err, sizeof err));
    cr_expect(strstr(err, "unknown loss plugin 'entropi'"), "%s", err);
    cr_expect(strstr(err, "'entropy'"), "%s", err);
    cr_expect_not_null(unic_registry_find(r, UNIC_KIND_MINER, "far", err, sizeof err));
    unic_registry_free(r);
}
