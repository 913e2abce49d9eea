/* tools/convert_checkpoint.py on checkpoints shaped like DINO's (teacher,
 * module.backbone., a head) and MoCo's (state_dict, module.encoder_q., the key
 * encoder and queue). Needs Debian's python3-torch; skipped without it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "io.h"

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
