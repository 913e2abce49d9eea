/* The generic checks of core/plugin/gradcheck.c (also `unic gradcheck`) on
 * every head, loss and miner of the build, the SDK's examples and whatever
 * the user's UNIC_PLUGIN_PATH holds: a new plugin is covered without a
 * test of its own. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/gradcheck.h"
#include "plugin/params.h"
#include "plugin/registry.h"

static unic_registry *reg;
static void setup(void)
{
    char err[2048];
    reg = unic_registry_new();
    /* the built-ins and the user's own UNIC_PLUGIN_PATH, as `unic` sees them */
    cr_assert_eq(unic_registry_load_default(reg, err, sizeof err), 0, "%s", err);
    /* and the SDK's out-of-tree examples, held to the same checks */
    cr_assert_eq(unic_registry_load_dir(reg, UNIC_TEST_PLUGIN_ROOT "/example", err, sizeof err), 0,
                 "%s", err);
    cr_assert_not_null(unic_registry_find(reg, UNIC_KIND_LOSS, "kl_uniform", err, sizeof err), "%s", err);
    cr_assert_not_null(unic_registry_find(reg, UNIC_KIND_MINER, "mutual_knn", err, sizeof err), "%s", err);
}
static void teardown(void) { unic_registry_free(reg); }
TestSuite(gradcheck, .init = setup, .fini = teardown);

static void expect_pass(const unic_check *k, void *ctx)
{
    (void)ctx;
    if (k->numeric)
        cr_expect(k->pass, "%s %s: %s: relative error %g (tolerance %g)",
                  unic_kind_name(k->component->kind), k->component->name, k->name, k->error,
                  k->tolerance);
    else
        cr_expect(k->pass, "%s %s: %s: %s", unic_kind_name(k->component->kind),
                  k->component->name, k->name, k->detail);
}

/* Runs the checks on every component of a kind; returns how many. */
static int check_kind(unic_kind kind)
{
    int checked = 0;
    for (int i = 0; i < unic_registry_count(reg); i++) {
        const unic_component *c = unic_registry_at(reg, i);
        if (c->kind != kind) continue;
        unic_gradcheck_component(c, expect_pass, NULL);
        checked++;
    }
    return checked;
}

Test(gradcheck, every_head) { cr_expect_geq(check_kind(UNIC_KIND_HEAD), 3, "mlp, fc and attention at least"); }

Test(gradcheck, every_loss)
{
    cr_expect_geq(check_kind(UNIC_KIND_LOSS), 4, "pos, neg, entropy and the kl_uniform example at least");
}

Test(gradcheck, every_miner)
{
    cr_expect_geq(check_kind(UNIC_KIND_MINER), 6, "knn, far, labeled_pos/neg, random, mutual_knn");
}

static void count_failures(const unic_check *k, void *ctx)
{
    int *failed = ctx;
    *failed += !k->pass;
}

/* The checks can fail: a loss whose backward forgets d p_pos. */
Test(gradcheck, catches_a_wrong_gradient)
{
    char err[2048];
    unic_registry *r = unic_registry_new();
    cr_assert_eq(unic_registry_load_file(r, UNIC_TEST_PLUGIN_ROOT "/wrong_grad/wrong_grad.so", err,
                                         sizeof err), 0, "%s", err);
    int failed = 0;
    cr_expect_eq(unic_gradcheck_component(unic_registry_at(r, 0), count_failures, &failed), 1);
    cr_expect_eq(failed, 1, "exactly d p_pos fails");
    unic_registry_free(r);
}

Test(gradcheck, entropy_is_maximised)
{
    char err[256];
    const unic_component *c = unic_registry_find(reg, UNIC_KIND_LOSS, "entropy", err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    unic_params *p = unic_params_new();
    unic_params_add_table(p, c->params);
    void *s = c->create(p, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    float uniform[4] = {0.5f, 0.5f, 0.5f, 0.5f}, collapsed[4] = {1.0f, 0.0f, 1.0f, 0.0f};
    float g[4] = {0};
    unic_loss_grad lg = {g, NULL, NULL};
    unic_loss_batch bu = {2, 2, uniform, NULL, NULL, NULL, NULL, NULL},
                    bc = {2, 2, collapsed, NULL, NULL, NULL, NULL, NULL};
    double vu = c->loss->forward(s, &bu, 1.0f, &lg), vc = c->loss->forward(s, &bc, 1.0f, &lg);
    cr_expect_float_eq(vu, -log(2.0), 1e-6, "the value is -H: -log 2 for a uniform mean");
    cr_expect_lt(vu, vc, "a uniform mean prediction must have the lower loss");
    c->destroy(s);
    unic_params_free(p);
}
