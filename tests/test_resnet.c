/* The `resnet50` backbone against PyTorch: a tiny bottleneck ResNet written
 * by tests/fixtures/make_resnet_fixtures.py with torchvision's names (stage
 * widths 4, 8, 8, 16; layer4 with two blocks), forward on 64 px and odd
 * 50 px images, gradients for finetune = last_block and full, and the errors
 * a wrong checkpoint must give. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/api.h"
#include "helpers.h"
#include "data/io.h"
#include "ops/ops.h"
#include "plugin/registry.h"

static unic_registry *reg;
static void setup(void) { reg = test_builtin_registry(); }
static void teardown(void) { unic_registry_free(reg); }
TestSuite(resnet, .init = setup, .fini = teardown);

#define DIM 64

static test_component make(char *err, size_t errlen, const char *finetune)
{
    char *ck = test_fixture("resnet.safetensors");
    const char *kv[] = {"checkpoint", ck, "finetune", finetune, NULL};
    test_component r = test_create(reg, UNIC_KIND_BACKBONE, "resnet50", kv, err, errlen);
    free(ck);
    return r;
}

static float *load_npy(const char *name, unic_array *a, int64_t numel)
{
    char err[1024] = "", *path = test_fixture(name);
    cr_assert_eq(unic_npy_load(path, a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a->dtype, UNIC_DT_F32, "%s", name);
    cr_assert_eq(unic_array_numel(a), numel, "%s", name);
    free(path);
    return a->data;
}

/* The two fixture images of `size` px, repeated `copies` times. */
static float *repeated_images(const char *name, int size, int copies)
{
    unic_array in;
    int64_t per = 3LL * size * size;
    const float *src = load_npy(name, &in, 2 * per);
    float *images = malloc(sizeof(float) * (size_t)(2 * copies * per));
    for (int i = 0; i < copies; i++) memcpy(images + 2 * i * per, src, sizeof(float) * 2 * per);
    unic_array_free(&in);
    return images;
}

static void check_forward(const char *finetune, int training, const char *inputs,
                          const char *expected, int size, int copies)
{
    char err[1024] = "";
    test_component r = make(err, sizeof err, finetune);
    cr_assert_not_null(r.state, "%s", err);
    unic_input_info info = {3, {3, size, size}, inputs};
    int dim = 0;
    cr_assert_eq(r.c->backbone->open(r.state, &info, &dim, err, sizeof err), 0, "%s", err);
    cr_assert_eq(dim, DIM);
    int64_t n = 2LL * copies;
    float *images = repeated_images(inputs, size, copies);
    float *emb = calloc((size_t)(n * DIM), sizeof(float));
    unic_tensor input = {images, {n, 3, size, size}, 4, UNIC_CPU};
    unic_tensor out = {emb, {n, DIM}, 2, UNIC_CPU};
    if (training) r.c->backbone->set_training(r.state, 1);
    r.c->backbone->forward(r.state, &input, &out);
    unic_array want;
    const float *w = load_npy(expected, &want, 2 * DIM);
    for (int i = 0; i < copies; i++) {
        double e = test_rel_err(emb + (int64_t)i * 2 * DIM, w, 2 * DIM);
        cr_expect_lt(e, 1e-5, "%s %s copy %d: relative error %g", finetune, expected, i, e);
    }
    float got_diff[DIM], want_diff[DIM];
    for (int c = 0; c < DIM; c++) {
        got_diff[c] = emb[DIM + c] - emb[c];
        want_diff[c] = w[DIM + c] - w[c];
    }
    double e = test_rel_err(got_diff, want_diff, DIM);
    cr_expect_lt(e, 1e-4, "%s: relative error of the difference of the two images %g", expected, e);
    unic_array_free(&want);
    free(emb);
    free(images);
    test_destroy(&r);
}

Test(resnet, frozen_matches_pytorch)
{
    check_forward("frozen", 0, "resnet_inputs.npy", "resnet_expected.npy", 64, 1);
}

/* 18 images: three chunks of the frozen path, the last one short */
Test(resnet, frozen_batches_beyond_one_chunk_match_pytorch)
{
    check_forward("frozen", 0, "resnet_inputs.npy", "resnet_expected.npy", 64, 9);
}

/* 50 px: odd sizes through the stem, the pool and every stride-2 stage */
Test(resnet, odd_image_size_matches_pytorch)
{
    check_forward("frozen", 0, "resnet_inputs_odd.npy", "resnet_expected_odd.npy", 50, 1);
}

/* Training mode keeps the forward exact, over chunks of the frozen stages;
 * so does a trainable backbone outside it (embedding a dataset). */
Test(resnet, trainable_forward_matches_pytorch)
{
    for (int training = 0; training < 2; training++) {
        check_forward("last_block", training, "resnet_inputs.npy", "resnet_expected.npy", 64, 9);
        check_forward("full", training, "resnet_inputs_odd.npy", "resnet_expected_odd.npy", 50, 2);
    }
}


/* Backpropagates L = sum(emb * R) over the fixture images repeated `copies`
 * times and compares each trainable tensor's gradient with PyTorch's
 * (resnet_grads.safetensors, times copies). No finite differences here, unlike
 * the ViT's: through ReLUs and max pools in float32 they are noisier than
 * the gradients they would check. */
static void check_grads(const char *finetune, int nparams, const char *first, int copies)
{
    char err[1024] = "";
    test_component r = make(err, sizeof err, finetune);
    cr_assert_not_null(r.state, "%s", err);
    unic_input_info info = {3, {3, 64, 64}, "resnet_inputs.npy"};
    int dim = 0;
    cr_assert_eq(r.c->backbone->open(r.state, &info, &dim, err, sizeof err), 0, "%s", err);
    unic_param_tensor params[128];
    int np = r.c->backbone->parameters(r.state, params, 128);
    cr_assert_eq(np, nparams, "%s: %d trainable tensors", finetune, np);
    cr_expect_str_eq(params[0].name, first);
    cr_expect_str_eq(params[np - 1].name, "layer4.1.bn3.bias");

    int64_t n = 2LL * copies;
    float *images = repeated_images("resnet_inputs.npy", 64, copies);
    unic_array rmat;
    const float *r1 = load_npy("resnet_grad_R.npy", &rmat, 2 * DIM);
    float *rr = malloc(sizeof(float) * (size_t)(n * DIM));
    for (int i = 0; i < copies; i++) memcpy(rr + i * 2 * DIM, r1, sizeof(float) * 2 * DIM);
    float *emb = calloc((size_t)(n * DIM), sizeof(float));
    unic_tensor input = {images, {n, 3, 64, 64}, 4, UNIC_CPU};
    unic_tensor out = {emb, {n, DIM}, 2, UNIC_CPU}, d_emb = {rr, {n, DIM}, 2, UNIC_CPU};

    for (int j = 0; j < np; j++) memset(params[j].grad->data, 0, sizeof(float) * (size_t)unic_numel(params[j].grad));
    r.c->backbone->set_training(r.state, 1);
    r.c->backbone->forward(r.state, &input, &out);
    r.c->backbone->backward(r.state, &d_emb);

    char *path = test_fixture("resnet_grads.safetensors");
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
    for (int j = 0; j < np; j++) {
        const unic_array *a = unic_safetensors_find(st, params[j].name);
        cr_assert_not_null(a, "no reference gradient for %s", params[j].name);
        int64_t m = unic_numel(params[j].grad);
        cr_assert_eq(unic_array_numel(a), m, "%s", params[j].name);
        float *w = malloc(sizeof(float) * (size_t)m);
        cr_assert_eq(unic_array_to_f32(a, w, err, sizeof err), 0, "%s", err);
        for (int64_t i = 0; i < m; i++) w[i] *= (float)copies;
        double e = test_rel_err(params[j].grad->data, w, m);
        cr_expect_lt(e, 1e-4, "%s x%d: d %s relative error %g", finetune, copies, params[j].name,
                     e);
        free(w);
    }
    unic_safetensors_close(st);
    free(path);

    free(emb);
    free(rr);
    free(images);
    unic_array_free(&rmat);
    test_destroy(&r);
}

/* layer4: block 0 (conv and BN x3 plus the downsample) and block 1 */
Test(resnet, last_block_gradients_match_pytorch)
{
    check_grads("last_block", 12 + 9, "layer4.0.conv1.weight", 1);
}

Test(resnet, last_block_gradients_accumulate_over_copies)
{
    check_grads("last_block", 12 + 9, "layer4.0.conv1.weight", 9);
}

/* the stem (conv1, bn1), one block per stage in layer1-3, and layer4 */
Test(resnet, full_gradients_match_pytorch)
{
    check_grads("full", 3 + 3 * 12 + 12 + 9, "conv1.weight", 1);
}

Test(resnet, full_gradients_accumulate_over_copies)
{
    check_grads("full", 3 + 3 * 12 + 12 + 9, "conv1.weight", 5);
}

Test(resnet, frozen_has_no_parameters)
{
    char err[1024] = "";
    test_component r = make(err, sizeof err, "frozen");
    cr_assert_not_null(r.state, "%s", err);
    cr_expect_eq(r.c->backbone->parameters(r.state, NULL, 0), 0);
    test_destroy(&r);
}

static void expect_refused(const char *ck, const char *const *needles)
{
    char err[1024] = "";
    const char *kv[] = {"checkpoint", ck, NULL};
    test_component r = test_create(reg, UNIC_KIND_BACKBONE, "resnet50", kv, err, sizeof err);
    cr_expect_null(r.state);
    for (int i = 0; needles[i]; i++)
        cr_expect_not_null(strstr(err, needles[i]), "'%s' not in: %s", needles[i], err);
    test_destroy(&r);
}

Test(resnet, missing_tensor_names_the_tensor_and_the_file)
{
    char *dir = test_tmpdir("resnet_missing");
    char *ck = test_altered_checkpoint("resnet.safetensors", dir, "no_var.safetensors",
                                       "layer4.1.bn2.running_var", NULL, 0, 0);
    const char *needles[] = {"'layer4.1.bn2.running_var'", ck, NULL};
    expect_refused(ck, needles);
    free(ck);
    free(dir);
}

Test(resnet, wrong_shape_names_the_tensor_and_both_shapes)
{
    char *dir = test_tmpdir("resnet_shape");
    /* layer2.0.conv2 is [8, 8, 3, 3]: 576 values seen as [24, 24] */
    char *ck = test_altered_checkpoint("resnet.safetensors", dir, "bad.safetensors", NULL,
                                       "layer2.0.conv2.weight", 24, 24);
    const char *needles[] = {"'layer2.0.conv2.weight'", "[24, 24]", "[8, 8, 3, 3]", ck, NULL};
    expect_refused(ck, needles);
    free(ck);
    free(dir);
}

Test(resnet, basic_block_checkpoint_is_refused)
{
    char *dir = test_tmpdir("resnet_basic");
    char *ck = test_altered_checkpoint("resnet.safetensors", dir, "basic.safetensors",
                                       "layer1.0.conv3.weight", NULL, 0, 0);
    const char *needles[] = {"Bottleneck", "ResNet-18/34", ck, NULL};
    expect_refused(ck, needles);
    free(ck);
    free(dir);
}

Test(resnet, grayscale_input_is_refused)
{
    char err[1024] = "";
    test_component r = make(err, sizeof err, "frozen");
    cr_assert_not_null(r.state, "%s", err);
    unic_input_info info = {2, {28, 28, 0}, "train-images-idx3-ubyte"};
    int dim = 0;
    cr_expect_neq(r.c->backbone->open(r.state, &info, &dim, err, sizeof err), 0);
    cr_expect_not_null(strstr(err, "train-images-idx3-ubyte"), "%s", err);
    cr_expect_not_null(strstr(err, "RGB"), "%s", err);
    test_destroy(&r);
}

/* The classifier and BN's num_batches_tracked are what a torchvision file
 * holds beyond the backbone: reported, not loaded, not an error. */
Test(resnet, unused_tensors_are_reported)
{
    char err[1024] = "";
    char *ck = test_fixture("resnet.safetensors");
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(ck, &st, err, sizeof err), 0, "%s", err);
    const char **used = malloc(sizeof *used * (size_t)st->count);
    int nused = 0, tracked = 0;
    for (int i = 0; i < st->count; i++) {
        const char *name = st->tensors[i].name;
        if (strstr(name, "num_batches_tracked"))
            tracked++;
        else if (strncmp(name, "fc.", 3) != 0)
            used[nused++] = name;
    }
    cr_expect_eq(tracked, 1 + 5 * 3 + 4, "one per BN: the stem, 3 per block, 4 downsamples");
    test_log_capture_start();
    const char *kv[] = {"checkpoint", ck, NULL};
    test_component r = test_create(reg, UNIC_KIND_BACKBONE, "resnet50", kv, err, sizeof err);
    char *log = test_log_capture_end();
    cr_assert_not_null(r.state, "%s", err);
    cr_expect_not_null(strstr(log, "resnet50 ignores 22 of its 122 tensors: fc.weight, fc.bias; "
                                   "20 num_batches_tracked"), "%s", log);
    free(log);
    test_destroy(&r);
    /* the core's count, which the log line reports */
    const unic_api *api = unic_core_api();
    cr_expect_eq(api->report_unused_tensors(ck, used, nused, "test"), tracked + 2);
    cr_expect_eq(api->report_unused_tensors(ck, used, nused - 1, "test"), tracked + 3);
    free(used);
    unic_safetensors_close(st);
    free(ck);
}

Test(resnet, cuda_device_needs_a_gpu)
{
    if (unic_cuda_available()) cr_skip_test("a GPU is visible: tests/test_cuda_parity.c runs it");
    char err[1024] = "", *ck = test_fixture("resnet.safetensors");
    const char *kv[] = {"checkpoint", ck, "device", "cuda", NULL};
    test_component r = test_create(reg, UNIC_KIND_BACKBONE, "resnet50", kv, err, sizeof err);
    cr_expect_null(r.state);
    cr_expect_not_null(strstr(err, "no CUDA GPU is visible"), "%s", err);
    test_destroy(&r);
    free(ck);
}
