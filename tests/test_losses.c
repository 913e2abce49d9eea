/* Losses against PyTorch (tests/fixtures/make_dino_supcon_fixtures.py):
 * `supcon` against Khosla et al.'s formula with a general positive mask
 * (which the script checks equals GCD's SupConLoss and SimCLR's NT-Xent
 * where those apply), SCAN's loss against `pos` + 5 x `entropy`, and SCAN's
 * self-labelling against `selflabel`. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "data/io.h"
#include "ops/ops.h"
#include "plugin/registry.h"

static unic_registry *reg;
static void setup(void) { reg = test_builtin_registry(); }
static void teardown(void) { unic_registry_free(reg); }
TestSuite(losses, .init = setup, .fini = teardown);

static float *floats(const unic_safetensors *st, const char *name, int64_t *n)
{
    char err[512];
    const unic_array *a = unic_safetensors_find(st, name);
    cr_assert_not_null(a, "the fixture has no '%s'", name);
    *n = unic_array_numel(a);
    float *v = malloc(sizeof(float) * (size_t)*n);
    cr_assert_eq(unic_array_to_f32(a, v, err, sizeof err), 0, "%s", err);
    return v;
}

static int32_t *ints(const unic_safetensors *st, const char *name, int64_t *n)
{
    char err[512];
    const unic_array *a = unic_safetensors_find(st, name);
    cr_assert_not_null(a, "the fixture has no '%s'", name);
    *n = unic_array_numel(a);
    int32_t *v = malloc(sizeof(int32_t) * (size_t)*n);
    cr_assert_eq(unic_array_to_i32(a, v, err, sizeof err), 0, "%s", err);
    return v;
}

/* One fixture case: z [roles * 6, 8], the rows' items and labels. */
static void supcon_case(const char *name, int roles, const char *mined, const char *labeled)
{
    char err[1024] = "", key[128];
    const char *kv[] = {"mined_positives", mined, "labeled_positives", labeled, NULL};
    test_component l = test_create(reg, UNIC_KIND_LOSS, "supcon", kv, err, sizeof err);
    cr_assert_not_null(l.state, "%s", err);
    cr_expect(unic_loss_takes_outputs(l.c), "supcon reads the projection head's outputs");
    char *path = test_fixture("supcon.safetensors");
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
    int64_t m, rows = 6 * roles;
    snprintf(key, sizeof key, "case.%s.z", name);
    float *z = floats(st, key, &m);
    cr_assert_eq(m, rows * 8);
    snprintf(key, sizeof key, "case.%s.index", name);
    int32_t *index32 = ints(st, key, &m);
    snprintf(key, sizeof key, "case.%s.labels", name);
    int32_t *labels = ints(st, key, &m);
    int64_t index[18];
    for (int64_t i = 0; i < rows; i++) index[i] = index32[i];
    float *grad = calloc((size_t)(rows * 8), sizeof(float));
    unic_loss_batch b = {6, 8, z, z + 48, roles == 3 ? z + 96 : NULL, labels, index, labels};
    unic_loss_grad g = {grad, grad + 48, roles == 3 ? grad + 96 : NULL};
    double v = l.c->loss->forward(l.state, &b, 1.0f, &g);
    snprintf(key, sizeof key, "case.%s.loss", name);
    float *want = floats(st, key, &m);
    cr_expect(fabs(v - want[0]) <= 1e-5 * fabs(want[0]), "%s: loss %.7g, PyTorch %.7g", name, v,
              want[0]);
    free(want);
    snprintf(key, sizeof key, "case.%s.grad", name);
    want = floats(st, key, &m);
    double e = test_rel_err(grad, want, rows * 8);
    cr_expect_lt(e, 1e-4, "%s: dL/dz: relative error %g", name, e);
    free(want);
    free(grad);
    free(z);
    free(index32);
    free(labels);
    unic_safetensors_close(st);
    free(path);
    test_destroy(&l);
}

Test(losses, supcon_with_mined_labeled_and_same_item_positives_matches_pytorch)
{
    supcon_case("mined", 3, "true", "true");
}

Test(losses, supcon_reduces_to_simclr_nt_xent)
{
    supcon_case("simclr", 2, "false", "false");
}

Test(losses, supcon_on_two_labeled_views_matches_gcd_supconloss)
{
    supcon_case("gcd", 2, "false", "true");
}

/* No row with a positive: no term, no gradient (GCD's code would divide by
 * zero there). */
Test(losses, supcon_without_positives_is_zero)
{
    char err[1024] = "";
    const char *kv[] = {"mined_positives", "false", "labeled_positives", "false", NULL};
    test_component l = test_create(reg, UNIC_KIND_LOSS, "supcon", kv, err, sizeof err);
    cr_assert_not_null(l.state, "%s", err);
    float z[4 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0}, grad[12] = {0};
    int64_t index[4] = {0, 1, 2, 3};
    int32_t labels[4] = {-1, -1, -1, -1};
    unic_loss_batch b = {2, 3, z, z + 6, NULL, labels, index, labels};
    unic_loss_grad g = {grad, grad + 6, NULL};
    cr_expect_eq(l.c->loss->forward(l.state, &b, 1.0f, &g), 0.0);
    for (int i = 0; i < 12; i++) cr_expect_eq(grad[i], 0.0f);
    test_destroy(&l);
}

/* SCAN's loss (ScanLoss: BCE of <p_a, p_n> against 1, minus 5 x the
 * entropy of the mean anchor prediction) is unic's pos + 5 x entropy. */
Test(losses, pos_plus_entropy_is_scans_loss)
{
    char err[1024] = "";
    const char *none[] = {NULL};
    test_component pos = test_create(reg, UNIC_KIND_LOSS, "pos", none, err, sizeof err);
    test_component ent = test_create(reg, UNIC_KIND_LOSS, "entropy", none, err, sizeof err);
    cr_assert(pos.state && ent.state, "%s", err);
    char *path = test_fixture("scan_loss.safetensors");
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
    int64_t m;
    float *pa = floats(st, "pa", &m), *pn = floats(st, "pn", &m), *want = floats(st, "loss", &m);
    float ga[28] = {0}, gn[28] = {0};
    int32_t labels[7] = {-1, -1, -1, -1, -1, -1, -1};
    unic_loss_batch b = {7, 4, pa, pn, NULL, labels, NULL, NULL};
    unic_loss_grad g = {ga, gn, NULL};
    double v = pos.c->loss->forward(pos.state, &b, 1.0f, &g) +
               5.0 * ent.c->loss->forward(ent.state, &b, 5.0f, &g);
    cr_expect(fabs(v - want[0]) <= 1e-5 * fabs(want[0]), "pos + 5 entropy %.7g, SCAN %.7g", v,
              want[0]);
    float *wa = floats(st, "grad.pa", &m), *wn = floats(st, "grad.pn", &m);
    double ea = test_rel_err(ga, wa, 28), en = test_rel_err(gn, wn, 28);
    cr_expect_lt(ea, 1e-5, "d p_anchor: relative error %g", ea);
    cr_expect_lt(en, 1e-5, "d p_neighbour: relative error %g", en);
    free(pa);
    free(pn);
    free(want);
    free(wa);
    free(wn);
    unic_safetensors_close(st);
    free(path);
    test_destroy(&pos);
    test_destroy(&ent);
}

/* SCAN's self-labelling (ConfidenceBasedCE, threshold 0.99) against SCAN's
 * code on weak and strong logits: the loss, and its gradient with respect
 * to the strong logits through unic's softmax. */
static void selflabel_case(const char *name, const char *balance)
{
    char err[1024] = "", key[128];
    const char *kv[] = {"class_balance", balance, NULL};
    test_component l = test_create(reg, UNIC_KIND_LOSS, "selflabel", kv, err, sizeof err);
    cr_assert_not_null(l.state, "%s", err);
    char *path = test_fixture("selflabel.safetensors");
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
    int64_t m;
    float *weak = floats(st, "weak", &m), *strong = floats(st, "strong", &m);
    unic_tensor wl = {weak, {16, 5}, 2, UNIC_CPU}, sl = {strong, {16, 5}, 2, UNIC_CPU};
    unic_tensor *pw = unic_tensor_2d(UNIC_CPU, 16, 5), *ps = unic_tensor_2d(UNIC_CPU, 16, 5);
    unic_tensor *dps = unic_tensor_2d(UNIC_CPU, 16, 5), *dls = unic_tensor_2d(UNIC_CPU, 16, 5);
    unic_tensor *dpw = unic_tensor_2d(UNIC_CPU, 16, 5);
    unic_softmax_forward(pw, &wl);
    unic_softmax_forward(ps, &sl);
    int32_t labels[16];
    for (int i = 0; i < 16; i++) labels[i] = -1;
    unic_loss_batch b = {16, 5, pw->data, ps->data, NULL, labels, NULL, NULL};
    unic_loss_grad g = {dpw->data, dps->data, NULL};
    double v = l.c->loss->forward(l.state, &b, 1.0f, &g);
    unic_softmax_backward(dls, ps, dps);
    snprintf(key, sizeof key, "%s.loss", name);
    float *want = floats(st, key, &m);
    cr_expect(fabs(v - want[0]) <= 1e-5 * fabs(want[0]), "%s: loss %.7g, SCAN %.7g", name, v,
              want[0]);
    free(want);
    snprintf(key, sizeof key, "%s.grad.strong", name);
    want = floats(st, key, &m);
    double e = test_rel_err(dls->data, want, 80);
    cr_expect_lt(e, 1e-4, "%s: d strong logits: relative error %g", name, e);
    for (int i = 0; i < 80; i++) cr_expect_eq(dpw->data[i], 0.0f, "the weak view gets no gradient");
    free(want);
    free(weak);
    free(strong);
    unic_tensor *all[] = {pw, ps, dps, dls, dpw};
    for (int i = 0; i < 5; i++) unic_tensor_free(all[i]);
    unic_safetensors_close(st);
    free(path);
    test_destroy(&l);
}

Test(losses, selflabel_matches_scans_confidence_based_ce)
{
    selflabel_case("balanced", "true");
    selflabel_case("plain", "false");
}
