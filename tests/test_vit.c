/* The `vit` backbone against PyTorch: two tiny ViTs written by
 * tests/fixtures/make_vit_fixtures.py with timm / DINO names, one DINO-like
 * (float32, the checkpoint's own grid) and one DINOv2-like (bfloat16,
 * LayerScale, pos_embed interpolated from 5 x 5 to 8 x 8 with DINOv2's
 * recipe), the errors a wrong checkpoint must give, and the gradients of
 * finetune = last_block and full against PyTorch's and finite differences. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "data/io.h"
#include "ops/ops.h"
#include "plugin/params.h"
#include "plugin/registry.h"

static unic_registry *reg;
static void setup(void) { reg = test_builtin_registry(); }
static void teardown(void) { unic_registry_free(reg); }
TestSuite(vit, .init = setup, .fini = teardown);

#define DIM 24

typedef test_component vit_run;

static vit_run make(char *err, size_t errlen, const char *const *kv)
{
    return test_create(reg, UNIC_KIND_BACKBONE, "vit", kv, err, errlen);
}

static void drop(vit_run *r) { test_destroy(r); }

static const unic_input_info rgb32 = {3, {3, 32, 32}, "vit_inputs.npy"};

/* Forwards the fixture images, repeated `copies` times (more than the
 * plugin's chunk of images checks batches that span chunks), and compares
 * every copy with PyTorch's embeddings. */
static void check_against_torch(const char *const *kv, const char *expected_name, int copies)
{
    char err[1024] = "";
    vit_run r = make(err, sizeof err, kv);
    cr_assert_not_null(r.state, "%s", err);
    int dim = 0;
    cr_assert_eq(r.c->backbone->open(r.state, &rgb32, &dim, err, sizeof err), 0, "%s", err);
    cr_assert_eq(dim, DIM);
    cr_expect_eq(r.c->backbone->parameters(r.state, NULL, 0), 0, "frozen: nothing to train");

    unic_array in, want;
    char *in_path = test_fixture("vit_inputs.npy"), *want_path = test_fixture(expected_name);
    cr_assert_eq(unic_npy_load(in_path, &in, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_npy_load(want_path, &want, err, sizeof err), 0, "%s", err);
    cr_assert_eq(in.dtype, UNIC_DT_F32);
    cr_assert_eq(want.shape[0], 2);
    cr_assert_eq(want.shape[1], DIM);
    int64_t per = 3 * 32 * 32, n = 2LL * copies;
    float *images = malloc(sizeof(float) * (size_t)(n * per));
    for (int i = 0; i < copies; i++)
        memcpy(images + (int64_t)i * 2 * per, in.data, sizeof(float) * (size_t)(2 * per));
    unic_tensor input = {images, {n, 3, 32, 32}, 4, UNIC_CPU};
    float *emb = calloc((size_t)(n * DIM), sizeof(float));
    unic_tensor out = {emb, {n, DIM}, 2, UNIC_CPU};
    r.c->backbone->forward(r.state, &input, &out);

    const float *w = want.data;
    for (int i = 0; i < copies; i++) {
        double e = test_rel_err(emb + (int64_t)i * 2 * DIM, w, 2 * DIM);
        cr_expect_lt(e, 1e-4, "%s copy %d: relative error %g", expected_name, i, e);
    }
    /* The two images' embeddings share much (CLS, positions): their
     * difference checks that the image-dependent part is right too. */
    float got_diff[DIM], want_diff[DIM];
    for (int c = 0; c < DIM; c++) {
        got_diff[c] = emb[DIM + c] - emb[c];
        want_diff[c] = w[DIM + c] - w[c];
    }
    double e = test_rel_err(got_diff, want_diff, DIM);
    cr_expect_lt(e, 1e-3, "%s: relative error of the difference of the two images %g",
                 expected_name, e);

    free(emb);
    free(images);
    unic_array_free(&in);
    unic_array_free(&want);
    free(in_path);
    free(want_path);
    drop(&r);
}

Test(vit, dino_like_matches_pytorch)
{
    char *ck = test_fixture("vit_a.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        NULL};
    check_against_torch(kv, "vit_a_expected.npy", 1);
    free(ck);
}

Test(vit, batches_beyond_one_chunk_match_pytorch)
{
    char *ck = test_fixture("vit_a.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        NULL};
    check_against_torch(kv, "vit_a_expected.npy", 19);
    free(ck);
}

Test(vit, dinov2_like_bf16_layerscale_interpolated_matches_pytorch)
{
    char *ck = test_fixture("vit_b.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "4", "depth", "2", "dim", "24", "heads", "2",
                        "layerscale", "true", "pos_interp", "dinov2", NULL};
    check_against_torch(kv, "vit_b_expected.npy", 1);
    free(ck);
}

/* The same weights under Hugging Face transformers' names (written by
 * tests/fixtures/make_vit_hf_fixtures.py): ViTModel's under "vit." with a
 * pooler and a classifier, and Dinov2Model's; q, k and v split. */
Test(vit, hugging_face_vit_names_match_pytorch)
{
    char *ck = test_fixture("vit_a_hf.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        NULL};
    check_against_torch(kv, "vit_a_expected.npy", 1);
    free(ck);
}

Test(vit, hugging_face_dinov2_names_match_pytorch)
{
    char *ck = test_fixture("vit_b_hf.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "4", "depth", "2", "dim", "24", "heads", "2",
                        "layerscale", "true", NULL};
    check_against_torch(kv, "vit_b_expected.npy", 1);
    free(ck);
}

/* Errors name the tensor as the file spells it. */
Test(vit, hugging_face_missing_tensor_names_it)
{
    char err[1024] = "";
    char *dir = test_tmpdir("vit_hf");
    char *ck = test_altered_checkpoint("vit_a_hf.safetensors", dir, "no_key.safetensors",
                                       "vit.encoder.layer.1.attention.attention.key.bias", NULL,
                                       0, 0);
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        NULL};
    vit_run r = make(err, sizeof err, kv);
    cr_expect_null(r.state);
    cr_expect_not_null(strstr(err, "'vit.encoder.layer.1.attention.attention.key.bias'"), "%s",
                       err);
    drop(&r);
    free(ck);
    free(dir);
}

/* What the backbone does not use is logged by the checkpoint's names. */
Test(vit, unused_tensors_are_reported)
{
    char err[1024] = "";
    char *ck = test_fixture("vit_a_hf.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        NULL};
    test_log_capture_start();
    vit_run r = make(err, sizeof err, kv);
    char *log = test_log_capture_end();
    cr_assert_not_null(r.state, "%s", err);
    cr_expect_not_null(strstr(log, "vit ignores 2 of its 40 tensors: vit.pooler.dense.weight, "
                                   "classifier.weight"), "%s", log);
    free(log);
    drop(&r);
    free(ck);
    ck = test_fixture("vit_a.safetensors");
    kv[1] = ck;
    test_log_capture_start();
    r = make(err, sizeof err, kv);
    log = test_log_capture_end();
    cr_expect_null(strstr(log, "ignores"), "every tensor of vit_a is used: %s", log);
    free(log);
    drop(&r);
    free(ck);
}

Test(vit, other_grid_without_interpolation_is_refused)
{
    char err[1024] = "";
    char *ck = test_fixture("vit_b.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "4", "depth", "2", "dim", "24", "heads", "2",
                        "layerscale", "true", "pos_interp", "none", NULL};
    vit_run r = make(err, sizeof err, kv);
    cr_assert_not_null(r.state, "%s", err);
    int dim = 0;
    cr_assert_neq(r.c->backbone->open(r.state, &rgb32, &dim, err, sizeof err), 0);
    cr_expect_not_null(strstr(err, "8 x 8"), "%s", err);
    cr_expect_not_null(strstr(err, "5 x 5"), "%s", err);
    unic_input_info odd = {3, {3, 30, 32}, "odd.npy"};
    cr_assert_neq(r.c->backbone->open(r.state, &odd, &dim, err, sizeof err), 0);
    cr_expect_not_null(strstr(err, "multiple of patch"), "%s", err);
    drop(&r);
    free(ck);
}

Test(vit, missing_checkpoint_names_the_file)
{
    char err[1024] = "";
    const char *kv[] = {"checkpoint", "/nonexistent/dino_vitb16.safetensors", "depth", "2", NULL};
    vit_run r = make(err, sizeof err, kv);
    cr_expect_null(r.state);
    cr_expect_not_null(strstr(err, "/nonexistent/dino_vitb16.safetensors"), "%s", err);
    drop(&r);
    const char *none[] = {NULL};
    r = make(err, sizeof err, none);
    cr_expect_null(r.state);
    cr_expect_not_null(strstr(err, "checkpoint is required"), "%s", err);
    drop(&r);
}

static char *altered_copy(const char *dir, const char *name, const char *drop_name,
                          const char *reshape_name, int64_t rows, int64_t cols)
{
    return test_altered_checkpoint("vit_a.safetensors", dir, name, drop_name, reshape_name, rows,
                                   cols);
}

Test(vit, missing_tensor_names_the_tensor_and_the_file)
{
    char err[1024] = "";
    char *dir = test_tmpdir("vit_missing");
    char *ck = altered_copy(dir, "no_qkv.safetensors", "blocks.1.attn.qkv.weight", NULL, 0, 0);
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        NULL};
    vit_run r = make(err, sizeof err, kv);
    cr_expect_null(r.state);
    cr_expect_not_null(strstr(err, "'blocks.1.attn.qkv.weight'"), "%s", err);
    cr_expect_not_null(strstr(err, ck), "%s", err);
    drop(&r);
    free(ck);
    free(dir);
}

Test(vit, wrong_shape_names_the_tensor_and_both_shapes)
{
    char err[1024] = "";
    char *dir = test_tmpdir("vit_shape");
    char *ck = altered_copy(dir, "bad_fc1.safetensors", NULL, "blocks.0.mlp.fc1.weight", 48, 48);
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        NULL};
    vit_run r = make(err, sizeof err, kv);
    cr_expect_null(r.state);
    cr_expect_not_null(strstr(err, "'blocks.0.mlp.fc1.weight'"), "%s", err);
    cr_expect_not_null(strstr(err, "[48, 48]"), "%s", err);
    cr_expect_not_null(strstr(err, "[96, 24]"), "%s", err);
    cr_expect_not_null(strstr(err, ck), "%s", err);
    drop(&r);
    free(ck);
    free(dir);
}

Test(vit, config_that_disagrees_with_the_checkpoint_is_refused)
{
    char err[1024] = "";
    char *a = test_fixture("vit_a.safetensors"), *b = test_fixture("vit_b.safetensors");
    /* too few blocks: the features would silently be an earlier layer's */
    const char *shallow[] = {"checkpoint", a, "patch", "8", "depth", "1", "dim", "24", "heads", "3",
                             NULL};
    vit_run r = make(err, sizeof err, shallow);
    cr_expect_null(r.state);
    cr_expect_not_null(strstr(err, "blocks.1.norm1.weight"), "%s", err);
    drop(&r);
    /* DINOv2 weights without layerscale = true */
    const char *no_ls[] = {"checkpoint", b, "patch", "4", "depth", "2", "dim", "24", "heads", "2",
                           NULL};
    r = make(err, sizeof err, no_ls);
    cr_expect_null(r.state);
    cr_expect_not_null(strstr(err, "layerscale = true"), "%s", err);
    drop(&r);
    /* the default ViT-B width against a 24-wide checkpoint */
    const char *wide[] = {"checkpoint", a, "patch", "8", "depth", "2", NULL};
    r = make(err, sizeof err, wide);
    cr_expect_null(r.state);
    cr_expect_not_null(strstr(err, "pos_embed"), "%s", err);
    drop(&r);
    free(a);
    free(b);
}

/* ---- finetune = last_block ---------------------------------------------- */

typedef struct grad_ctx {
    vit_run *r;
    unic_tensor *input, *out;
    const float *rr; /* R, [n, DIM] */
} grad_ctx;

/* L = sum(emb * R), accumulated in double. */
static double objective(grad_ctx *g)
{
    g->r->c->backbone->forward(g->r->state, g->input, g->out);
    double v = 0;
    for (int64_t i = 0; i < unic_numel(g->out); i++) v += (double)g->out->data[i] * g->rr[i];
    return v;
}

/* Forwards the two fixture images repeated `copies` times with a trainable
 * finetune, backpropagates R (repeated too) and compares every trainable
 * tensor's gradient with PyTorch's (vit_<tag>_<kind>_<name>.npy, kind "grad"
 * for last_block, "full_grad" for full), times copies; with `fd`, also
 * checks a few entries of each against central differences of the C
 * forward. `first` is the first trainable tensor's name. */
static void check_grads(const char *const *kv, const char *tag, const char *kind,
                        const char *first, int nparams, int copies, int fd)
{
    char err[1024] = "", name[160];
    vit_run r = make(err, sizeof err, kv);
    cr_assert_not_null(r.state, "%s", err);
    int dim = 0;
    cr_assert_eq(r.c->backbone->open(r.state, &rgb32, &dim, err, sizeof err), 0, "%s", err);
    unic_param_tensor params[64];
    int np = r.c->backbone->parameters(r.state, params, 64);
    cr_assert_eq(np, nparams, "%s: %d trainable tensors", tag, np);
    cr_expect_str_eq(params[0].name, first);
    cr_expect_str_eq(params[np - 1].name, "norm.bias");

    unic_array in, rmat, want;
    char *in_path = test_fixture("vit_inputs.npy");
    snprintf(name, sizeof name, "vit_%s_grad_R.npy", tag);
    char *r_path = test_fixture(name);
    cr_assert_eq(unic_npy_load(in_path, &in, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_npy_load(r_path, &rmat, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_array_numel(&rmat), 2 * DIM);
    int64_t per = 3 * 32 * 32, n = 2LL * copies;
    float *images = malloc(sizeof(float) * (size_t)(n * per));
    float *rr = malloc(sizeof(float) * (size_t)(n * DIM));
    for (int i = 0; i < copies; i++) {
        memcpy(images + (int64_t)i * 2 * per, in.data, sizeof(float) * (size_t)(2 * per));
        memcpy(rr + (int64_t)i * 2 * DIM, rmat.data, sizeof(float) * 2 * DIM);
    }
    unic_tensor input = {images, {n, 3, 32, 32}, 4, UNIC_CPU};
    float *emb = calloc((size_t)(n * DIM), sizeof(float));
    unic_tensor out = {emb, {n, DIM}, 2, UNIC_CPU}, d_emb = {rr, {n, DIM}, 2, UNIC_CPU};
    grad_ctx g = {&r, &input, &out, rr};

    /* outside training mode nothing is kept: backward has nothing to do */
    for (int j = 0; j < np; j++) memset(params[j].grad->data, 0, sizeof(float) * (size_t)unic_numel(params[j].grad));
    objective(&g);
    r.c->backbone->backward(r.state, &d_emb);
    for (int j = 0; j < np; j++)
        for (int64_t i = 0; i < unic_numel(params[j].grad); i++)
            cr_assert_eq(params[j].grad->data[i], 0.0f, "%s: a gradient without training mode",
                         params[j].name);
    r.c->backbone->set_training(r.state, 1);
    objective(&g);
    /* training keeps the forward exact */
    snprintf(name, sizeof name, "vit_%s_expected.npy", tag);
    char *want_path = test_fixture(name);
    cr_assert_eq(unic_npy_load(want_path, &want, err, sizeof err), 0, "%s", err);
    double e = test_rel_err(emb + (n - 2) * DIM, want.data, 2 * DIM);
    cr_expect_lt(e, 1e-4, "%s: %s forward relative error %g", tag, kind, e);
    unic_array_free(&want);
    free(want_path);
    r.c->backbone->backward(r.state, &d_emb);

    for (int j = 0; j < np; j++) {
        snprintf(name, sizeof name, "vit_%s_%s_%s.npy", tag, kind, params[j].name);
        char *path = test_fixture(name);
        cr_assert_eq(unic_npy_load(path, &want, err, sizeof err), 0, "%s", err);
        int64_t m = unic_numel(params[j].grad);
        cr_assert_eq(unic_array_numel(&want), m, "%s", params[j].name);
        float *w = want.data;
        for (int64_t i = 0; i < m; i++) w[i] *= (float)copies;
        e = test_rel_err(params[j].grad->data, w, m);
        cr_expect_lt(e, 1e-4, "%s x%d: d %s relative error %g", tag, copies, params[j].name, e);
        unic_array_free(&want);
        free(path);
    }

    if (fd) { /* central differences in float32: a coarse, independent check */
        for (int j = 0; j < np; j++) {
            float *v = params[j].value->data;
            const float *gr = params[j].grad->data;
            int64_t m = unic_numel(params[j].value), stride = m > 6 ? m / 6 : 1;
            double num = 0, den = 0;
            for (int64_t i = 0; i < m; i += stride) {
                float keep = v[i], h = 1e-2f;
                v[i] = keep + h;
                double up = objective(&g);
                v[i] = keep - h;
                double down = objective(&g);
                v[i] = keep;
                double diff = (up - down) / (2.0 * h);
                num += (diff - gr[i]) * (diff - gr[i]);
                den += diff * diff;
            }
            e = sqrt(num) / fmax(sqrt(den), 1e-12);
            cr_expect_lt(e, 1e-2, "%s: finite differences on %s: relative error %g", tag,
                         params[j].name, e);
        }
    }

    free(emb);
    free(images);
    free(rr);
    unic_array_free(&in);
    unic_array_free(&rmat);
    free(in_path);
    free(r_path);
    drop(&r);
}

Test(vit, last_block_gradients_match_pytorch)
{
    char *ck = test_fixture("vit_a.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        "finetune", "last_block", NULL};
    check_grads(kv, "a", "grad", "blocks.1.norm1.weight", 14, 1, 1);
    free(ck);
}

Test(vit, last_block_gradients_accumulate_over_chunks)
{
    char *ck = test_fixture("vit_a.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        "finetune", "last_block", NULL};
    check_grads(kv, "a", "grad", "blocks.1.norm1.weight", 14, 9, 0); /* 18 images: two chunks */
    free(ck);
}

Test(vit, last_block_layerscale_gradients_match_pytorch)
{
    char *ck = test_fixture("vit_b.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "4", "depth", "2", "dim", "24", "heads", "2",
                        "layerscale", "true", "pos_interp", "dinov2", "finetune", "last_block",
                        NULL};
    check_grads(kv, "b", "grad", "blocks.1.norm1.weight", 16, 1, 1);
    free(ck);
}

Test(vit, full_gradients_match_pytorch)
{
    char *ck = test_fixture("vit_a.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        "finetune", "full", NULL};
    check_grads(kv, "a", "full_grad", "cls_token", 30, 1, 1);
    free(ck);
}

Test(vit, full_gradients_accumulate_over_chunks)
{
    char *ck = test_fixture("vit_a.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        "finetune", "full", NULL};
    check_grads(kv, "a", "full_grad", "cls_token", 30, 9, 0); /* 18 images: two chunks */
    free(ck);
}

/* pos_embed's gradient goes back through the bicubic interpolation */
Test(vit, full_layerscale_interpolated_gradients_match_pytorch)
{
    char *ck = test_fixture("vit_b.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "4", "depth", "2", "dim", "24", "heads", "2",
                        "layerscale", "true", "pos_interp", "dinov2", "finetune", "full", NULL};
    check_grads(kv, "b", "full_grad", "cls_token", 34, 1, 1);
    free(ck);
}

Test(vit, frozen_has_no_parameters)
{
    char err[1024] = "";
    char *ck = test_fixture("vit_a.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        "finetune", "frozen", NULL};
    vit_run r = make(err, sizeof err, kv);
    cr_assert_not_null(r.state, "%s", err);
    int dim = 0;
    cr_assert_eq(r.c->backbone->open(r.state, &rgb32, &dim, err, sizeof err), 0, "%s", err);
    cr_expect_eq(r.c->backbone->parameters(r.state, NULL, 0), 0);
    drop(&r);
    free(ck);
}

/* forward_tokens / backward_tokens (for heads that take tokens) against
 * PyTorch on the DINOv2-like fixture: every token after the final norm, and
 * the last block's gradients of L = sum(tokens * Rt). */
Test(vit, tokens_and_their_gradients_match_pytorch)
{
    char err[1024] = "", name[160];
    char *ck = test_fixture("vit_b.safetensors"), *ref = test_fixture("vit_b_tokens.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "4", "depth", "2", "dim", "24", "heads", "2",
                        "layerscale", "true", "finetune", "last_block", NULL};
    vit_run r = make(err, sizeof err, kv);
    cr_assert_not_null(r.state, "%s", err);
    int dim = 0;
    cr_assert_eq(r.c->backbone->open(r.state, &rgb32, &dim, err, sizeof err), 0, "%s", err);
    int t = r.c->backbone->token_count(r.state);
    cr_assert_eq(t, 65, "CLS and an 8 x 8 grid");

    unic_array in;
    char *in_path = test_fixture("vit_inputs.npy");
    cr_assert_eq(unic_npy_load(in_path, &in, err, sizeof err), 0, "%s", err);
    unic_tensor input = {in.data, {2, 3, 32, 32}, 4, UNIC_CPU};
    float *tok = calloc((size_t)2 * t * DIM, sizeof(float)), emb[2 * DIM];
    unic_tensor tokens = {tok, {2, t, DIM}, 3, UNIC_CPU}, e = {emb, {2, DIM}, 2, UNIC_CPU};
    unic_param_tensor params[32];
    int np = r.c->backbone->parameters(r.state, params, 32);
    for (int j = 0; j < np; j++)
        memset(params[j].grad->data, 0, sizeof(float) * (size_t)unic_numel(params[j].grad));
    r.c->backbone->set_training(r.state, 1);
    r.c->backbone->forward(r.state, &input, &e);
    r.c->backbone->forward_tokens(r.state, &input, &tokens);

    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(ref, &st, err, sizeof err), 0, "%s", err);
    const unic_array *a = unic_safetensors_find(st, "tokens");
    cr_assert_not_null(a);
    float *want = malloc(sizeof(float) * (size_t)unic_array_numel(a));
    cr_assert_eq(unic_array_to_f32(a, want, err, sizeof err), 0, "%s", err);
    double rel = test_rel_err(tok, want, 2LL * t * DIM);
    cr_expect_lt(rel, 1e-4, "tokens: relative error %g", rel);
    for (int b = 0; b < 2; b++) { /* token 0 is the embedding forward gives */
        rel = test_rel_err(tok + (int64_t)b * t * DIM, emb + b * DIM, DIM);
        cr_expect_lt(rel, 1e-6, "image %d: CLS token and embedding differ by %g", b, rel);
    }
    free(want);
    a = unic_safetensors_find(st, "r");
    float *rt = malloc(sizeof(float) * (size_t)unic_array_numel(a));
    cr_assert_eq(unic_array_to_f32(a, rt, err, sizeof err), 0, "%s", err);
    unic_tensor d_tokens = {rt, {2, t, DIM}, 3, UNIC_CPU};
    r.c->backbone->backward_tokens(r.state, &d_tokens);
    for (int j = 0; j < np; j++) {
        snprintf(name, sizeof name, "grad.%s", params[j].name);
        a = unic_safetensors_find(st, name);
        cr_assert_not_null(a, "no reference for %s", name);
        int64_t m = unic_array_numel(a);
        want = malloc(sizeof(float) * (size_t)m);
        cr_assert_eq(unic_array_to_f32(a, want, err, sizeof err), 0, "%s", err);
        rel = test_rel_err(params[j].grad->data, want, m);
        cr_expect_lt(rel, 1e-4, "d %s: relative error %g", params[j].name, rel);
        free(want);
    }
    unic_safetensors_close(st);
    free(rt);
    free(tok);
    unic_array_free(&in);
    free(in_path);
    free(ref);
    free(ck);
    drop(&r);
}

/* device = cuda is refused with a reason where it cannot run (the CUDA
 * path itself is compared with the CPU in tests/test_cuda_parity.c). */
Test(vit, cuda_device_needs_a_gpu)
{
    if (unic_cuda_available()) cr_skip_test("a GPU is visible: tests/test_cuda_parity.c runs it");
    char err[1024] = "";
    char *ck = test_fixture("vit_a.safetensors");
    const char *kv[] = {"checkpoint", ck, "patch", "8", "depth", "2", "dim", "24", "heads", "3",
                        "device", "cuda", NULL};
    vit_run r = make(err, sizeof err, kv);
    cr_expect_null(r.state);
    cr_expect_not_null(strstr(err, "no CUDA GPU is visible"), "%s", err);
    drop(&r);
    free(ck);
}
