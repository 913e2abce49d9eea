/* Image datasets end to end through `unic run`: Fashion-MNIST written out as
 * an ImageFolder of JPEGs (with a corrupt and a truncated file that must be
 * skipped and listed), a class list naming a missing class (stopped before
 * any work), and the IDX file read as images through the loader. */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "helpers.h"
#include "data/io.h"

#define UNIC UNIC_BINARY_DIR "/unic"
#define IMAGES "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
#define LABELS "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"

static char *run_cmd(const char *args, int *status)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cd " UNIC_SOURCE_DIR " && " UNIC " %s", args);
    return test_run(cmd, status);
}

/* root/train/cK/img_I.jpg for the first n test images, as gray JPEGs. */
static void write_image_folder(const char *root, int n)
{
    char err[1024];
    unic_array im, lab;
    cr_assert_eq(unic_idx_load(IMAGES, &im, err, sizeof err), 0, "%s", err);
    int32_t *labels;
    int64_t nl;
    cr_assert_eq(unic_load_labels(LABELS, "labels", &labels, &nl, err, sizeof err), 0, "%s", err);
    (void)lab;
    tjhandle tj = tjInitCompress();
    char path[4096];
    for (int c = 0; c < 10; c++) {
        snprintf(path, sizeof path, "%s/train/c%d", root, c);
        mkdir(root, 0777);
        snprintf(path, sizeof path, "%s/train", root);
        mkdir(path, 0777);
        snprintf(path, sizeof path, "%s/train/c%d", root, c);
        mkdir(path, 0777);
    }
    for (int i = 0; i < n; i++) {
        unsigned char *jpeg = NULL;
        unsigned long size = 0;
        cr_assert_eq(tjCompress2(tj, (unsigned char *)im.data + (size_t)i * 784, 28, 28, 28,
                                 TJPF_GRAY, &jpeg, &size, TJSAMP_GRAY, 95, 0), 0, "%s",
                     tjGetErrorStr2(tj));
        snprintf(path, sizeof path, "%s/train/c%d/img_%04d.jpg", root, labels[i], i);
        test_write_file(path, jpeg, size);
        if (i == 0) { /* a truncated copy of a real JPEG */
            snprintf(path, sizeof path, "%s/train/c5/truncated.jpg", root);
            test_write_file(path, jpeg, size / 2);
        }
        tjFree(jpeg);
    }
    snprintf(path, sizeof path, "%s/train/c3/corrupt.jpg", root);
    test_write_text(path, "this is not a JPEG file at all");
    tjDestroy(tj);
    unic_array_free(&im);
    free(labels);
}

static const char *image_ini =
    "[data]\nformat = imagefolder\npath = %s\nsplit = train\nclass_list = %s\n"
    "transform = resize(28) center_crop(28)\n"
    "[backbone]\nplugin = pixels\n[head]\nplugin = mlp\nhidden = 256\n"
    "[miner.pos]\nplugin = knn\ntau1 = 10\n[miner.neg]\nplugin = far\ntau2 = 300\n"
    "[loss.pos]\n[loss.neg]\n[loss.entropy]\n"
    "[train]\nepochs = 10\nbatch_size = 64\nlr = 1e-3\n[eval]\nevery = 0\n";

Test(e2e_images, imagefolder_jpegs_with_corrupt_files, .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("imgs"), *root = test_path(dir, "fmnist");
    write_image_folder(root, 600);
    char *list = test_path(dir, "classes.txt"), *ini = test_path(dir, "exp.ini");
    test_write_text(list, "# Fashion-MNIST classes\nc0 T-shirt\nc1 Trouser\nc2 Pullover\nc3 Dress\n"
                          "c4 Coat\nc5 Sandal\nc6 Shirt\nc7 Sneaker\nc8 Bag\nc9 Ankle boot\n");
    char text[4096], args[8192];
    snprintf(text, sizeof text, image_ini, root, list);
    test_write_text(ini, text);
    int status;
    snprintf(args, sizeof args, "run %s --quiet --out %s/run", ini, dir);
    char *out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    char *skipped = test_read_file(test_path(dir, "run/skipped.txt"), NULL);
    cr_assert_not_null(skipped, "skipped.txt is missing");
    cr_expect(strstr(skipped, "corrupt.jpg") && strstr(skipped, "truncated.jpg"), "%s", skipped);
    char *metrics = test_read_file(test_path(dir, "run/metrics.json"), NULL);
    cJSON *m = cJSON_Parse(metrics);
    cr_assert_not_null(m, "%s", metrics);
    cr_expect_eq(cJSON_GetObjectItem(m, "samples")->valueint, 600, "the two broken files are left out");
    double acc = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "unic"), "acc")->valuedouble;
    double km = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "baseline"), "acc")->valuedouble;
    cr_expect_gt(acc, 0.35, "UNIC on 600 JPEG Fashion-MNIST images: ACC %.3f (k-means %.3f)", acc, km);
    cJSON_Delete(m);

    /* a class list naming a class the root lacks stops before any work */
    test_write_text(list, "c0\nc1\nc11 missing\n");
    out = run_cmd(args, &status);
    cr_expect_neq(status, 0);
    cr_expect(strstr(out, "c11") && strstr(out, "classes.txt"), "%s", out);
    cr_expect(!strstr(out, "mining"), "no work may start: %s", out);
    free(out);
}

Test(e2e_images, idx_read_as_images_through_the_loader, .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("idximg"), args[8192];
    snprintf(args, sizeof args,
             "run experiments/quickstart.ini --quiet --set data.format=idx_images "
             "--set data.limit=1000 --set miner.negatives.tau2=500 --set train.epochs=3 "
             "--set head.hidden=128 --set eval.kmeans=false --out %s", dir);
    int status;
    char *out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    /* the same data as arrays gives the same embeddings, hence the same run */
    char *dir2 = test_tmpdir("idxarr");
    char *args2 = strdup(args);
    char *at = strstr(args2, "--set data.format=idx_images ");
    memset(at, ' ', strlen("--set data.format=idx_images "));
    snprintf(args, sizeof args, "%s", args2);
    at = strstr(args, dir);
    snprintf(at, sizeof args - (size_t)(at - args), "%s", dir2);
    out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    char *a = test_read_file(test_path(dir, "predictions.csv"), NULL);
    char *b = test_read_file(test_path(dir2, "predictions.csv"), NULL);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_expect_str_eq(a, b, "images through the loader must equal the IDX arrays");
}

Test(e2e_images, train_transform_augments_every_epoch_reproducibly, .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("aug"), *root = test_path(dir, "fmnist");
    write_image_folder(root, 300);
    char *list = test_path(dir, "classes.txt"), *ini = test_path(dir, "exp.ini");
    test_write_text(list, "c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nc9\n");
    char text[4096], args[8192];
    snprintf(text, sizeof text, image_ini, root, list);
    char *with = strstr(text, "transform = resize(28) center_crop(28)\n");
    cr_assert_not_null(with);
    /* add a training pipeline after the test one */
    char augmented[4096];
    snprintf(augmented, sizeof augmented, "%.*stransform = resize(28) center_crop(28)\n"
             "train_transform = random_resized_crop(28, 0.6, 1.0) hflip(0.5)\n%s",
             (int)(with - text), text, with + strlen("transform = resize(28) center_crop(28)\n"));
    test_write_text(ini, augmented);
    int status;
    char *runs[2] = {test_path(dir, "a"), test_path(dir, "b")};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "run %s --quiet --set train.epochs=3 --set miner.neg.tau2=150 "
                 "--out %s", ini, runs[i]);
        char *out = run_cmd(args, &status);
        cr_assert_eq(status, 0, "%s", out);
        free(out);
    }
    char *pa = test_read_file(test_path(runs[0], "predictions.csv"), NULL);
    char *pb = test_read_file(test_path(runs[1], "predictions.csv"), NULL);
    cr_assert_not_null(pa);
    cr_assert_not_null(pb);
    /* (the loader itself is thread-count independent: tests/test_loader.c; the
     * GEMMs of a whole run are reproducible for a given thread count) */
    cr_expect_str_eq(pa, pb, "augmented training must be reproducible");
    /* and it is really augmented: the plain run trains on other inputs */
    snprintf(args, sizeof args, "run %s --quiet --set data.train_transform= --set train.epochs=3 "
             "--set miner.neg.tau2=150 --out %s/plain", ini, dir);
    char *out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    char *pc = test_read_file(test_path(dir, "plain/predictions.csv"), NULL);
    cr_assert_not_null(pc);
    cr_expect_str_neq(pa, pc, "train_transform had no effect");
}

/* A finetuned run's checkpoint: it holds `trained` as backbone.<trained>,
 * moved a little from the original checkpoint, and nothing of `frozen`. */
static void expect_finetuned(const char *run_ckpt, const char *original, const char *trained,
                             const char *frozen)
{
    char err[1024], name[256];
    unic_safetensors *ckpt, *orig;
    cr_assert_eq(unic_safetensors_open(run_ckpt, &ckpt, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_safetensors_open(original, &orig, err, sizeof err), 0, "%s", err);
    snprintf(name, sizeof name, "backbone.%s", trained);
    const unic_array *now = unic_safetensors_find(ckpt, name);
    const unic_array *start = unic_safetensors_find(orig, trained);
    cr_assert_not_null(now, "the checkpoint lacks the trained %s", name);
    cr_assert_not_null(start);
    snprintf(name, sizeof name, "backbone.%s", frozen);
    cr_expect_null(unic_safetensors_find(ckpt, name), "%s is frozen and must not be trained",
                   frozen);
    int64_t m = unic_array_numel(start);
    float *t1 = malloc(sizeof(float) * (size_t)m), *t0 = malloc(sizeof(float) * (size_t)m);
    cr_assert_eq(unic_array_to_f32(now, t1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_array_to_f32(start, t0, err, sizeof err), 0, "%s", err);
    double moved = test_rel_err(t1, t0, m);
    cr_expect(moved > 1e-6 && moved < 0.5, "%s should move a little: %g", trained, moved);
    free(t1);
    free(t0);
    unic_safetensors_close(ckpt);
    unic_safetensors_close(orig);
}

/* The image path into a real backbone: JPEGs, the test pipeline with
 * ImageNet normalisation, and a (tiny, DINO-layout) ViT checkpoint. */
Test(e2e_images, images_through_a_vit_checkpoint, .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("vit"), *root = test_path(dir, "fmnist");
    write_image_folder(root, 300);
    char *ini = test_path(dir, "exp.ini"), *ck = test_fixture("vit_a.safetensors");
    char text[4096], args[8192];
    snprintf(text, sizeof text,
             "[data]\nformat = imagefolder\npath = %s\nsplit = train\n"
             "transform = resize(32, bicubic) center_crop(32) normalize(imagenet)\n"
             "[backbone]\nplugin = vit\ncheckpoint = %s\npatch = 8\ndepth = 2\ndim = 24\n"
             "heads = 3\n[head]\nplugin = mlp\nhidden = 64\n"
             "[miner.pos]\nplugin = knn\ntau1 = 10\n[miner.neg]\nplugin = far\ntau2 = 150\n"
             "[loss.pos]\n[loss.neg]\n[loss.entropy]\n"
             "[train]\nepochs = 3\nbatch_size = 64\nlr = 1e-3\n[eval]\nevery = 0\n",
             root, ck);
    test_write_text(ini, text);
    int status;
    snprintf(args, sizeof args, "run %s --quiet --out %s/run", ini, dir);
    char *out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    char err[1024];
    unic_safetensors *st;
    char *emb = test_path(dir, "run/embeddings.safetensors");
    cr_assert_eq(unic_safetensors_open(emb, &st, err, sizeof err), 0, "%s", err);
    const unic_array *a = unic_safetensors_find(st, "embeddings");
    cr_assert_not_null(a);
    cr_expect(a->shape[0] == 300 && a->shape[1] == 24, "ViT-sized embeddings: %lld x %lld",
              (long long)a->shape[0], (long long)a->shape[1]);
    unic_safetensors_close(st);
    /* finetune = last_block: the last block trains with the head */
    snprintf(args, sizeof args, "run %s --quiet --set backbone.finetune=last_block --out %s/run2",
             ini, dir);
    out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    char *cp = test_path(dir, "run2/checkpoint.safetensors");
    expect_finetuned(cp, ck, "blocks.1.attn.qkv.weight", "blocks.0.attn.qkv.weight");
}

/* SCAN's heads with a trainable backbone (Table 6's "+ heads + tune"): the
 * copies' d(input) add up in the last block, every copy is scored, one is
 * selected, and k-means on the backbone's current features (Figure 7)
 * moves away from the baseline as the block trains. */
Test(e2e_images, head_copies_with_a_finetuned_vit_and_kmeans_per_epoch, .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("vit_heads"), *root = test_path(dir, "fmnist");
    write_image_folder(root, 300);
    char *ini = test_path(dir, "exp.ini"), *ck = test_fixture("vit_a.safetensors");
    char text[4096], args[8192];
    snprintf(text, sizeof text,
             "[data]\nformat = imagefolder\npath = %s\nsplit = train\n"
             "transform = resize(32, bicubic) center_crop(32) normalize(imagenet)\n"
             "[backbone]\nplugin = vit\ncheckpoint = %s\npatch = 8\ndepth = 2\ndim = 24\n"
             "heads = 3\nfinetune = last_block\n[head]\nplugin = mlp\nhidden = 64\ncount = 3\n"
             "[head.projection]\nplugin = dino\nhidden = 32\nbottleneck = 16\n"
             "[miner.pos]\nplugin = knn\ntau1 = 10\n[miner.neg]\nplugin = far\ntau2 = 150\n"
             "[loss.pos]\n[loss.neg]\n[loss.entropy]\n[loss.supcon]\nhead = projection\n"
             "[train]\nepochs = 3\nbatch_size = 64\nlr = 3e-3\n"
             "[eval]\ntrack_kmeans = true\nkmeans_restarts = 2\n",
             root, ck);
    test_write_text(ini, text);
    int status;
    snprintf(args, sizeof args, "run %s --out %s/run 2>&1", ini, dir);
    char *out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    cr_expect(strstr(out, "[head] mlp 3 x ") && strstr(out, "[head.projection] dino"), "%s", out);
    free(out);
    char *cp = test_path(dir, "run/checkpoint.safetensors");
    expect_finetuned(cp, ck, "blocks.1.attn.qkv.weight", "blocks.0.attn.qkv.weight");
    char *hp = test_path(dir, "run/history.csv"), *hist = test_read_file(hp, NULL);
    cr_assert_not_null(hist);
    cr_expect(strstr(hist, "head2_acc") && strstr(hist, "kmeans_acc"), "%s", hist);
    /* kmeans_acc of epoch 1 and epoch 3 against the baseline: the block moved them */
    char *mp = test_path(dir, "run/metrics.json"), *mt = test_read_file(mp, NULL);
    cJSON *m = cJSON_Parse(mt);
    cr_assert_not_null(m);
    double base = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "baseline"), "nmi")->valuedouble;
    double now = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "kmeans_final"), "nmi")->valuedouble;
    cr_expect(fabs(now - base) > 1e-6, "k-means NMI on the trained features %g, baseline %g", now,
              base);
    const cJSON *heads = cJSON_GetObjectItem(m, "heads");
    cr_assert_not_null(heads);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(heads, "scores")), 3);
    cJSON_Delete(m);
    free(mt);
    free(mp);
    free(hist);
    free(hp);
    free(cp);
    free(ini);
    free(ck);
    free(root);
    test_remove_tree(dir);
    free(dir);
}

/* The same path into a (tiny, torchvision-layout) ResNet, finetuning layer4. */
Test(e2e_images, images_through_a_resnet_checkpoint, .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("resnet"), *root = test_path(dir, "fmnist");
    write_image_folder(root, 300);
    char *ini = test_path(dir, "exp.ini"), *ck = test_fixture("resnet.safetensors");
    char text[4096], args[8192];
    snprintf(text, sizeof text,
             "[data]\nformat = imagefolder\npath = %s\nsplit = train\n"
             "transform = resize(64, bicubic) center_crop(64) normalize(imagenet)\n"
             "[backbone]\nplugin = resnet50\ncheckpoint = %s\nfinetune = last_block\n"
             "[head]\nplugin = mlp\nhidden = 64\n"
             "[miner.pos]\nplugin = knn\ntau1 = 10\n[miner.neg]\nplugin = far\ntau2 = 150\n"
             "[loss.pos]\n[loss.neg]\n[loss.entropy]\n"
             "[train]\nepochs = 2\nbatch_size = 64\nlr = 1e-3\n[eval]\nevery = 0\n",
             root, ck);
    test_write_text(ini, text);
    int status;
    snprintf(args, sizeof args, "run %s --quiet --out %s/run", ini, dir);
    char *out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    char *cp = test_path(dir, "run/checkpoint.safetensors");
    expect_finetuned(cp, ck, "layer4.0.conv2.weight", "layer3.0.conv2.weight");
    char err[1024];
    unic_safetensors *ckpt;
    cr_assert_eq(unic_safetensors_open(cp, &ckpt, err, sizeof err), 0, "%s", err);
    cr_expect_not_null(unic_safetensors_find(ckpt, "backbone.layer4.1.bn3.bias"),
                       "all of layer4 trains");
    unic_safetensors_close(ckpt);
}

/* Figure 6's self-attention head on the ViT's tokens: frozen (the backbone
 * runs every step and for the predictions) and with the last block trained
 * through the tokens. */
Test(e2e_images, attention_head_on_vit_tokens, .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("sahead"), *root = test_path(dir, "fmnist");
    write_image_folder(root, 200);
    char *ini = test_path(dir, "exp.ini"), *ck = test_fixture("vit_a.safetensors");
    char text[4096], args[8192];
    snprintf(text, sizeof text,
             "[data]\nformat = imagefolder\npath = %s\nsplit = train\n"
             "transform = resize(32, bicubic) center_crop(32) normalize(imagenet)\n"
             "[backbone]\nplugin = vit\ncheckpoint = %s\npatch = 8\ndepth = 2\ndim = 24\n"
             "heads = 3\n[head]\nplugin = attention\nheads = 3\nhidden = 32\n"
             "[miner.pos]\nplugin = knn\ntau1 = 10\n[miner.neg]\nplugin = far\ntau2 = 100\n"
             "[loss.pos]\n[loss.neg]\n[loss.entropy]\n"
             "[train]\nepochs = 2\nbatch_size = 32\nlr = 1e-3\n[eval]\nevery = 1\n",
             root, ck);
    test_write_text(ini, text);
    int status;
    for (int trained = 0; trained < 2; trained++) {
        snprintf(args, sizeof args, "run %s --quiet --set backbone.finetune=%s --out %s/run%d",
                 ini, trained ? "last_block" : "frozen", dir, trained);
        char *out = run_cmd(args, &status);
        cr_assert_eq(status, 0, "%s", out);
        free(out);
        char path[4096];
        snprintf(path, sizeof path, "%s/run%d/predictions.csv", dir, trained);
        char *pred = test_read_file(path, NULL);
        cr_assert_not_null(pred);
        int lines = 0;
        for (char *c = pred; *c; c++) lines += *c == '\n';
        cr_expect_eq(lines, 201, "a header and one line per image");
        free(pred);
        snprintf(path, sizeof path, "%s/run%d/checkpoint.safetensors", dir, trained);
        unic_safetensors *st;
        char err[1024];
        cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
        cr_expect_not_null(unic_safetensors_find(st, "head.attn.qkv.weight"));
        unic_safetensors_close(st);
        if (trained) /* the last block trains through the tokens */
            expect_finetuned(path, ck, "blocks.1.attn.qkv.weight", "blocks.0.attn.qkv.weight");
    }
    /* a backbone without tokens is refused before any work */
    char *bad = test_path(dir, "bad.ini");
    snprintf(text, sizeof text,
             "[data]\nformat = imagefolder\npath = %s\nsplit = train\n"
             "transform = resize(28) center_crop(28)\n[backbone]\nplugin = pixels\n"
             "[head]\nplugin = attention\n[miner.pos]\nplugin = knn\n[loss.pos]\n",
             root);
    test_write_text(bad, text);
    snprintf(args, sizeof args, "run %s --quiet --out %s/bad", bad, dir);
    char *out = run_cmd(args, &status);
    cr_expect_neq(status, 0);
    cr_expect_not_null(strstr(out, "[head] attention takes the backbone's tokens"), "%s", out);
    free(out);
}

/* unic extract from an ImageFolder through a ViT checkpoint, and the
 * features backbone reading the file back for a head-only run. */
Test(e2e_images, extract_then_features, .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("extract"), *root = test_path(dir, "fmnist");
    write_image_folder(root, 300);
    char *ini = test_path(dir, "extract.ini"), *ck = test_fixture("vit_a.safetensors");
    char text[4096], args[8192], err[1024];
    snprintf(text, sizeof text,
             "[data]\nformat = imagefolder\npath = %s\nsplit = train\n"
             "transform = resize(32, bicubic) center_crop(32) normalize(imagenet)\n"
             "[backbone]\nplugin = vit\ncheckpoint = %s\npatch = 8\ndepth = 2\ndim = 24\n"
             "heads = 3\n", root, ck);
    test_write_text(ini, text);
    int status;
    snprintf(args, sizeof args, "extract %s --quiet --out %s/emb/vit.safetensors", ini, dir);
    char *out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    char *file = test_path(dir, "emb/vit.safetensors");
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(file, &st, err, sizeof err), 0, "%s", err);
    const unic_array *e = unic_safetensors_find(st, "embeddings");
    const unic_array *l = unic_safetensors_find(st, "labels");
    cr_assert(e && l, "embeddings and labels tensors expected");
    cr_expect(e->shape[0] == 300 && e->shape[1] == 24 && l->shape[0] == 300);
    unic_safetensors_close(st);
    char *run_ini = test_path(dir, "features.ini");
    snprintf(text, sizeof text,
             "[data]\npath = %s\n[backbone]\nplugin = features\n[head]\nplugin = mlp\n"
             "hidden = 32\n[miner.pos]\nplugin = knn\ntau1 = 10\n[miner.neg]\nplugin = far\n"
             "tau2 = 150\n[loss.pos]\n[loss.neg]\n[loss.entropy]\n[train]\nepochs = 2\n"
             "batch_size = 64\n[eval]\nevery = 0\n", file);
    test_write_text(run_ini, text);
    snprintf(args, sizeof args, "run %s --quiet --out %s/run", run_ini, dir);
    out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    char *metrics = test_read_file(test_path(dir, "run/metrics.json"), NULL);
    cr_assert_not_null(metrics);
    cr_expect(strstr(metrics, "\"samples\":\t300"), "%s", metrics);
}

/* [data] max_pixels: an image larger than the bound is refused from its
 * header, skipped and listed with the reason, and the run goes on. */
Test(e2e_images, image_above_max_pixels_is_skipped_and_listed, .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("bomb"), *root = test_path(dir, "fmnist");
    write_image_folder(root, 150);
    unsigned char gray[40 * 40], *jpeg = NULL;
    unsigned long size = 0;
    for (int i = 0; i < 40 * 40; i++) gray[i] = (unsigned char)(i * 7);
    tjhandle tj = tjInitCompress();
    cr_assert_eq(tjCompress2(tj, gray, 40, 40, 40, TJPF_GRAY, &jpeg, &size, TJSAMP_GRAY, 90, 0), 0);
    char *big = test_path(root, "train/c1/big.jpg");
    test_write_file(big, jpeg, size);
    tjFree(jpeg);
    tjDestroy(tj);
    char *list = test_path(dir, "classes.txt"), *ini = test_path(dir, "exp.ini");
    test_write_text(list, "c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nc9\n");
    char text[4096], args[8192];
    snprintf(text, sizeof text, image_ini, root, list);
    test_write_text(ini, text);
    int status;
    snprintf(args, sizeof args,
             "run %s --quiet --out %s/run --set data.max_pixels=784 --set train.epochs=1 "
             "--set miner.pos.tau1=5 --set miner.neg.tau2=50",
             ini, dir);
    char *out = run_cmd(args, &status);
    cr_assert_eq(status, 0, "%s", out);
    char *skipped = test_read_file(test_path(dir, "run/skipped.txt"), NULL);
    cr_assert_not_null(skipped, "skipped.txt is missing");
    cr_expect(strstr(skipped, "big.jpg") && strstr(skipped, "40 x 40 = 1600 pixels") &&
                  strstr(skipped, "max_pixels"),
              "%s", skipped);
    cr_expect(!strstr(skipped, "img_0001.jpg"), "28 x 28 images stay: %s", skipped);
    free(out);
    free(skipped);
    free(big);
    test_remove_tree(dir);
}

/* ---- libjpeg's memory limit (JPEGMEM) ------------------------------------ */

/* A w x h progressive JPEG (RGB or, with cmyk, Adobe YCCK) of a pattern;
 * the caller frees it with tjFree. */
static unsigned char *progressive_jpeg(int w, int h, int cmyk, int subsamp, unsigned long *size)
{
    int nc = cmyk ? 4 : 3;
    unsigned char *px = malloc((size_t)w * h * nc), *jpeg = NULL;
    for (int i = 0; i < w * h * nc; i++) px[i] = (unsigned char)(i * 37 ^ i >> 5);
    tjhandle tj = tjInitCompress();
    *size = 0;
    cr_assert_eq(tjCompress2(tj, px, w, 0, h, cmyk ? TJPF_CMYK : TJPF_RGB, &jpeg, size, subsamp,
                             90, TJFLAG_PROGRESSIVE), 0, "%s", tjGetErrorStr2(tj));
    tjDestroy(tj);
    free(px);
    return jpeg;
}

/* `unic run` on 150 Fashion-MNIST JPEGs plus the files placed by the test,
 * with env (e.g. "JPEGMEM=1", "env -u JPEGMEM") before the command and
 * extra settings after it; returns skipped.txt (malloc'ed, "" when none). */
static char *run_with_env(const char *dir, const char *root, const char *env, const char *sets)
{
    char *list = test_path(dir, "classes.txt"), *ini = test_path(dir, "exp.ini");
    test_write_text(list, "c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nc9\n");
    char text[4096], cmd[9000];
    snprintf(text, sizeof text, image_ini, root, list);
    test_write_text(ini, text);
    snprintf(cmd, sizeof cmd,
             "cd " UNIC_SOURCE_DIR " && %s " UNIC " run %s --quiet --out %s/run "
             "--set train.epochs=1 --set miner.pos.tau1=5 --set miner.neg.tau2=50 %s",
             env, ini, dir, sets);
    int status;
    char *out = test_run(cmd, &status);
    cr_assert_eq(status, 0, "the run goes on past a refused image: %s", out);
    free(out);
    char *path = test_path(dir, "run/skipped.txt");
    char *skipped = test_read_file(path, NULL);
    char *metrics_path = test_path(dir, "run/metrics.json");
    char *metrics = test_read_file(metrics_path, NULL);
    cJSON *m = cJSON_Parse(metrics ? metrics : "");
    cr_assert_not_null(m, "metrics.json: %s", metrics);
    cr_expect_eq(cJSON_GetObjectItem(m, "samples")->valueint, 150,
                 "every Fashion-MNIST image is kept: %s", skipped ? skipped : "");
    cJSON_Delete(m);
    free(metrics);
    free(metrics_path);
    free(path);
    free(list);
    free(ini);
    return skipped ? skipped : strdup("");
}

/* The line of text that starts with name (malloc'ed; "" when none). */
static char *line_of(const char *text, const char *name)
{
    const char *at = strstr(text, name);
    if (!at) return strdup("");
    return strndup(at, strcspn(at, "\n"));
}

/* A progressive file keeps every DCT coefficient of the image until its last
 * scan; over libjpeg's memory limit it is refused, skipped and listed with
 * the limit and where it comes from, and the run goes on. */
Test(e2e_images, progressive_jpeg_over_the_decoder_memory_limit_is_skipped_and_listed,
     .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("jpegmem"), *root = test_path(dir, "fmnist");
    write_image_folder(root, 150);
    unsigned long size;
    unsigned char *jpeg = progressive_jpeg(64, 64, 0, TJSAMP_444, &size);
    char *prog = test_path(root, "train/c1/progressive.jpg");
    test_write_file(prog, jpeg, size);
    tjFree(jpeg);
    /* JPEGMEM=1: 1000 bytes, far below the 64 x 64 x 3 x 2 bytes of coefficients */
    char *skipped = run_with_env(dir, root, "JPEGMEM=1", "");
    cr_expect(strstr(skipped, "progressive.jpg: ") && strstr(skipped, "64 x 64") &&
                  strstr(skipped, "memory limit of 1000 bytes (JPEGMEM=1)"),
              "%s", skipped);
    free(skipped);
    free(prog);
    free(root);
    test_remove_tree(dir);
    free(dir);
}

/* Without JPEGMEM, unic sets libjpeg's limit to 1500M: above what any image
 * within the default max_pixels needs (the worst case, a 4-channel 4:4:4
 * progressive file 65500 pixels wide, needs 1,435,868,000 bytes), below what
 * a larger progressive header asks for once max_pixels is lifted. Both
 * files below are small copies whose headers claim the large size: the
 * first gets past the limit and fails on its data, the second is refused by
 * the limit before its buffers are allocated. */
Test(e2e_images, default_decoder_memory_limit_covers_max_pixels_and_stops_larger_files,
     .timeout = 600)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("jpegmemdef"), *root = test_path(dir, "fmnist");
    write_image_folder(root, 150);
    unsigned long size;
    unsigned char *jpeg = progressive_jpeg(64, 64, 1, TJSAMP_444, &size);
    uint8_t *widest = test_jpeg_with_frame_size(jpeg, size, 65500, 2732); /* 178,946,000 px */
    char *path = test_path(root, "train/c1/widest.jpg");
    test_write_file(path, widest, size);
    free(path);
    free(widest);
    tjFree(jpeg);
    jpeg = progressive_jpeg(64, 64, 0, TJSAMP_444, &size);
    uint8_t *bomb = test_jpeg_with_frame_size(jpeg, size, 16000, 16000); /* 1,536,000,000 bytes */
    path = test_path(root, "train/c2/bomb.jpg");
    test_write_file(path, bomb, size);
    free(path);
    free(bomb);
    tjFree(jpeg);
    char *skipped = run_with_env(dir, root, "env -u JPEGMEM", "--set data.max_pixels=0");
    char *b = line_of(skipped, "bomb.jpg: "), *w = line_of(skipped, "widest.jpg: ");
    cr_expect(strstr(b, "16000 x 16000") &&
                  strstr(b, "memory limit of 1500000000 bytes (JPEGMEM=1500M, unic's default)"),
              "%s", skipped);
    cr_expect(strstr(w, "corrupt or truncated JPEG") && !strstr(w, "memory limit"),
              "the widest image within max_pixels gets past the limit: %s", skipped);
    free(b);
    free(w);
    free(skipped);
    free(root);
    test_remove_tree(dir);
    free(dir);
}
