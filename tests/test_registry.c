/* The plugin registry: built-in plugins load; broken ones are refused with
 * messages that name the file and the cause. */
#include <criterion/criterion.h>
#include <string.h>

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

Test(registry, refuses_abi_mismatch)
{
    char err[2048] = "";
    unic_registry *r = unic_registry_new();
    cr_assert_neq(unic_registry_load_dir(r, UNIC_TEST_PLUGIN_ROOT "/bad_abi", err, sizeof err), 0);
    cr_expect(strstr(err, "bad_abi.so"), "message should name the file: %s", err);
    cr_expect(strstr(err, "ABI mismatch"), "%s", err);
    cr_expect(strstr(err, "from_the_future"), "message should name the component: %s", err);
    cr_expect_eq(unic_registry_count(r), 0);
    unic_registry_free(r);
}

Test(registry, refuses_missing_entry_point)
{
    char err[2048] = "";
    unic_registry *r = unic_registry_new();
    cr_assert_neq(unic_registry_load_dir(r, UNIC_TEST_PLUGIN_ROOT "/no_entry", err, sizeof err), 0);
    cr_expect(strstr(err, "no_entry.so"), "%s", err);
    cr_expect(strstr(err, "unic_plugin_init"), "message should name the entry point: %s", err);
    unic_registry_free(r);
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
    setenv("UNIC_PLUGIN_PATH", "/nonexistent-unic-folder:" UNIC_TEST_PLUGIN_ROOT "/no_entry", 1);
    unic_registry *r = unic_registry_new();
    cr_expect_neq(unic_registry_load_default(r, err, sizeof err), 0);
    cr_expect(strstr(err, "nonexistent-unic-folder"), "%s", err);
    unic_registry_free(r);
    unsetenv("UNIC_PLUGIN_PATH");
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
