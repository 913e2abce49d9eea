/* tools/convert_checkpoint.py on checkpoints shaped like DINO's (teacher,
 * module.backbone., a head) and MoCo's (state_dict, module.encoder_q., the key
 * encoder and queue). Needs Debian's python3-torch; skipped without it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "data/io.h"
#include "plugin/registry.h"

static void need_torch(void)
{
    int status;
    free(test_run("/usr/bin/python3 -c 'import torch'", &status));
    if (status != 0)
        cr_skip_test("Debian's python3-torch is not installed: the converter needs it");
}

static unic_safetensors *convert(const char *dir, const char *make_pth, const char *extra)
{
    char cmd[8192], *pth = test_path(dir, "in.pth"), *out = test_path(dir, "out.safetensors");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import torch; %s; torch.save(ckpt, '%s')\"",
             make_pth, pth);
    int status;
    char *log = test_run(cmd, &status);
    cr_assert_eq(status, 0, "%s", log);
    free(log);
    snprintf(cmd, sizeof cmd, UNIC_SOURCE_DIR "/tools/convert_checkpoint.py %s %s %s", pth, out,
             extra);
    log = test_run(cmd, &status);
    cr_assert_eq(status, 0, "%s", log);
    free(log);
    unic_safetensors *st;
    char err[1024];
    cr_assert_eq(unic_safetensors_open(out, &st, err, sizeof err), 0, "%s", err);
    return st;
}

Test(convert, dino_teacher_prefixes_and_head)
{
    need_torch();
    char *dir = test_tmpdir("conv");
    unic_safetensors *st = convert(
        dir,
        "sd = {'module.backbone.cls_token': torch.arange(4.).reshape(1,1,4), "
        "'module.backbone.blocks.0.ls1.gamma': torch.arange(4.).to(torch.bfloat16), "
        "'module.head.mlp.0.weight': torch.ones(3,4)}; "
        "ckpt = {'teacher': sd, 'student': {'module.backbone.cls_token': torch.zeros(1,1,4)}, "
        "'epoch': 3}",
        "");
    const unic_array *cls = unic_safetensors_find(st, "cls_token");
    cr_assert_not_null(cls, "prefix module.backbone. not stripped");
    float v[4];
    char err[256];
    cr_assert_eq(unic_array_to_f32(cls, v, err, sizeof err), 0, "%s", err);
    cr_expect(v[3] == 3.0f, "the teacher's weights, not the student's");
    const unic_array *g = unic_safetensors_find(st, "blocks.0.ls1.gamma");
    cr_assert_not_null(g);
    cr_expect_eq(g->dtype, UNIC_DT_BF16, "dtypes are kept");
    cr_expect_null(unic_safetensors_find(st, "head.mlp.0.weight"), "the DINO head is dropped");
    cr_expect_eq(st->count, 2);
    unic_safetensors_close(st);
}

Test(convert, moco_key_encoder_and_queue_dropped)
{
    need_torch();
    char *dir = test_tmpdir("conv");
    unic_safetensors *st = convert(
        dir,
        "ckpt = {'state_dict': {'module.encoder_q.conv1.weight': torch.ones(2,3,7,7), "
        "'module.encoder_q.bn1.num_batches_tracked': torch.tensor(5), "
        "'module.encoder_q.fc.0.weight': torch.ones(4,2), "
        "'module.encoder_k.conv1.weight': torch.ones(2,3,7,7), 'module.queue': torch.ones(8,4)}}",
        "");
    cr_expect_not_null(unic_safetensors_find(st, "conv1.weight"));
    cr_expect_eq(st->count, 1, "only the query encoder's backbone remains");
    unic_safetensors_close(st);
}

/* A MoCo v2 checkpoint of the ResNet fixture's weights, converted, is what
 * the resnet50 backbone loads: the embeddings PyTorch computed come out. */
Test(convert, moco_resnet_loads_in_the_backbone)
{
    need_torch();
    char *dir = test_tmpdir("conv"), *src = test_fixture("resnet.safetensors");
    char make[4096];
    snprintf(make, sizeof make,
             "import json, struct, numpy as np; f = open('%s', 'rb'); "
             "n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); d = f.read(); "
             "sd = {'module.encoder_q.' + k: torch.from_numpy(np.frombuffer(d[v['data_offsets'][0]:"
             "v['data_offsets'][1]], dtype={'F32': '<f4', 'I64': '<i8'}[v['dtype']])"
             ".reshape(v['shape']).copy()) for k, v in h.items() if k != '__metadata__'}; "
             "sd['module.encoder_q.fc.0.weight'] = torch.ones(4, 64); "
             "sd['module.encoder_k.conv1.weight'] = torch.ones(8, 3, 7, 7); "
             "sd['module.queue'] = torch.ones(8, 4); ckpt = {'state_dict': sd, 'epoch': 200}",
             src);
    unic_safetensors *st = convert(dir, make, "");
    cr_expect_null(unic_safetensors_find(st, "fc.weight"), "the classifier is dropped");
    cr_expect_not_null(unic_safetensors_find(st, "layer4.1.bn3.running_var"));
    unic_safetensors_close(st);

    char err[1024] = "", *out = test_path(dir, "out.safetensors");
    unic_registry *reg = test_builtin_registry();
    const char *kv[] = {"checkpoint", out, NULL};
    test_component r = test_create(reg, UNIC_KIND_BACKBONE, "resnet50", kv, err, sizeof err);
    cr_assert_not_null(r.state, "%s", err);
    unic_input_info info = {3, {3, 64, 64}, "resnet_inputs.npy"};
    int dim = 0;
    cr_assert_eq(r.c->backbone->open(r.state, &info, &dim, err, sizeof err), 0, "%s", err);
    unic_array in, want;
    char *in_path = test_fixture("resnet_inputs.npy"), *want_path = test_fixture("resnet_expected.npy");
    cr_assert_eq(unic_npy_load(in_path, &in, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_npy_load(want_path, &want, err, sizeof err), 0, "%s", err);
    float emb[2 * 64];
    unic_tensor input = {in.data, {2, 3, 64, 64}, 4, UNIC_CPU}, o = {emb, {2, 64}, 2, UNIC_CPU};
    cr_assert_eq(dim, 64);
    r.c->backbone->forward(r.state, &input, &o);
    double e = test_rel_err(emb, want.data, 2 * 64);
    cr_expect_lt(e, 1e-5, "converted MoCo checkpoint: relative error %g", e);
    unic_array_free(&in);
    unic_array_free(&want);
    test_destroy(&r);
    unic_registry_free(reg);
}
