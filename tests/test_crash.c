/* Checkpoints and crashes: a run killed between writing a file and renaming
 * it, or stopped by a full disk, resumes to the result of an uninterrupted
 * run; a damaged or out-of-range checkpoint is refused by name; a run
 * folder that cannot be written stops the run before any data is read.
 * Faults come from the UNIC_FAULT hook (core/base/fault.h), given to the
 * `unic` binary on its command line, never to this process. */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "data/formats/safetensors.h"
#include "ops/ops.h"
#include "train/checkpoint.h"

#define UNIC UNIC_BINARY_DIR "/unic"
#define FMNIST TEST_FMNIST

/* 1,000 images, 4 epochs, a checkpoint after each: about a second a run. */
#define SMALL "run experiments/quickstart.ini --quiet --set data.limit=1000 " \
              "--set train.epochs=4 --set miner.negatives.tau2=300 --set head.hidden=256 " \
              "--set eval.every=0"

/* `unic ARGS --out DIR` with UNIC_FAULT=fault (or none); its output. */
static char *unic_in(const char *dir, const char *fault, const char *args, int *status)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd " UNIC_SOURCE_DIR " && %s%s " UNIC " %s --out %s",
             fault ? "UNIC_FAULT=" : "", fault ? fault : "", args, dir);
    return test_run(cmd, status);
}

static void expect_run(const char *dir, const char *fault, const char *args, int want)
{
    int status;
    char *out = unic_in(dir, fault, args, &status);
    cr_assert_eq(status, want, "`UNIC_FAULT=%s unic %s --out %s` exited %d:\n%s",
                 fault ? fault : "", args, dir, status, out);
    free(out);
}

/* A process that kill -9 ended: the shell reports 137, or the signal itself. */
static void expect_killed(const char *dir, const char *fault, const char *args)
{
    int status;
    char *out = unic_in(dir, fault, args, &status);
    cr_assert(status == 137 || status == -1, "UNIC_FAULT=%s should have killed the run, it "
              "exited %d:\n%s", fault, status, out);
    free(out);
}

/* Removes a test's folder and frees its name. */
static void rm_rf(char *dir)
{
    test_remove_tree(dir);
    free(dir);
}

static char *read_in(const char *dir, const char *name)
{
    char *path = test_path(dir, name);
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "%s was not written", path);
    free(path);
    return text;
}

/* predictions.csv byte for byte, and the final scores (not the timings). */
static void expect_same_result(const char *a, const char *b)
{
    char *pa = read_in(a, "predictions.csv"), *pb = read_in(b, "predictions.csv");
    cr_expect_str_eq(pa, pb, "%s/predictions.csv differs from the uninterrupted run's", b);
    char *ma = read_in(a, "metrics.json"), *mb = read_in(b, "metrics.json");
    cJSON *ja = cJSON_Parse(ma), *jb = cJSON_Parse(mb);
    cr_assert(ja && jb, "metrics.json is not JSON");
    const char *keys[] = {"acc", "nmi", "ari"};
    for (int i = 0; i < 3; i++) {
        cJSON *va = cJSON_GetObjectItem(cJSON_GetObjectItem(ja, "unic"), keys[i]);
        cJSON *vb = cJSON_GetObjectItem(cJSON_GetObjectItem(jb, "unic"), keys[i]);
        cr_assert(cJSON_IsNumber(va) && cJSON_IsNumber(vb), "metrics.json lacks unic.%s", keys[i]);
        cr_expect_eq(va->valuedouble, vb->valuedouble, "unic.%s: %.17g after the crash, %.17g "
                     "without", keys[i], vb->valuedouble, va->valuedouble);
    }
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    free(pa);
    free(pb);
    free(ma);
    free(mb);
}

/* How many files of dir end in suffix. */
static int count_suffix(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    size_t ls = strlen(suffix);
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        n += l >= ls && strcmp(e->d_name + l - ls, suffix) == 0;
    }
    closedir(d);
    return n;
}

/* The checkpoint's epoch, read as a reader would (the file must open). */
static int checkpoint_epoch(const char *dir)
{
    char *path = test_path(dir, "checkpoint.safetensors"), err[1024];
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
    const char *e = unic_safetensors_meta(st, "epoch");
    cr_assert_not_null(e, "%s has no epoch", path);
    int epoch = atoi(e);
    unic_safetensors_close(st);
    free(path);
    return epoch;
}

static char *uninterrupted(void)
{
    char *dir = test_tmpdir("crash-ref");
    expect_run(dir, NULL, SMALL, 0);
    return dir;
}

Test(crash, killed_before_checkpoint_rename_resumes_to_identical_result, .timeout = 300)
{
    test_need_fashion_mnist();
    char *ref = uninterrupted(), *dir = test_tmpdir("crash-ckpt");
    /* dies with epoch 2's checkpoint written but not renamed */
    expect_killed(dir, "checkpoint-before-rename@2", SMALL);
    cr_expect_eq(checkpoint_epoch(dir), 1, "the epoch-1 checkpoint should be the one in place");
    cr_expect_eq(count_suffix(dir, ".tmp"), 1, "the killed run's temp file should be there");
    expect_run(dir, NULL, SMALL " --resume", 0);
    cr_expect_eq(count_suffix(dir, ".tmp"), 0, "the dead run's temp file was not cleared");
    char *log = read_in(dir, "log.txt");
    cr_expect(strstr(log, "resumed after epoch 1"), "%s", log);
    expect_same_result(ref, dir);
    free(log);
    rm_rf(ref);
    rm_rf(dir);
}

Test(crash, killed_before_cache_rename_reruns_to_identical_result, .timeout = 300)
{
    test_need_fashion_mnist();
    char *ref = uninterrupted(), *dir = test_tmpdir("crash-cache");
    char *cache = test_path(dir, "cache");
    expect_killed(dir, "cache-before-rename", SMALL);
    cr_expect_eq(count_suffix(cache, ".safetensors"), 0, "no cache file may carry a real name");
    cr_expect_eq(count_suffix(cache, ".tmp"), 1, "the killed run's temp file should be there");
    expect_run(dir, NULL, SMALL, 0);
    cr_expect_eq(count_suffix(cache, ".tmp"), 0, "the dead run's temp file was not cleared");
    cr_expect_gt(count_suffix(cache, ".safetensors"), 0, "the rerun did not cache");
    expect_same_result(ref, dir);
    free(cache);
    rm_rf(ref);
    rm_rf(dir);
}

Test(crash, disk_full_on_second_checkpoint_keeps_the_first, .timeout = 300)
{
    test_need_fashion_mnist();
    char *ref = uninterrupted(), *dir = test_tmpdir("crash-enospc");
    int status;
    char *out = unic_in(dir, "checkpoint-enospc@2", SMALL, &status);
    cr_assert_eq(status, 1, "a full disk must stop the run (exit 1), it exited %d:\n%s", status,
                 out);
    cr_expect(strstr(out, "No space left on device"), "%s", out);
    cr_expect(strstr(out, "checkpoint.safetensors"), "the message must name the file:\n%s", out);
    cr_expect_eq(checkpoint_epoch(dir), 1, "the epoch-1 checkpoint should be kept");
    cr_expect_eq(count_suffix(dir, ".tmp"), 0, "the failed write left its temp file");
    expect_run(dir, NULL, SMALL " --resume", 0);
    expect_same_result(ref, dir);
    free(out);
    rm_rf(ref);
    rm_rf(dir);
}

Test(crash, read_only_run_folder_stops_before_any_work, .timeout = 120)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("crash-ro");
    int status;
    /* not --quiet: nothing of the data stage may show */
    char *out = unic_in(dir, "readonly-run-folder",
                        "run experiments/quickstart.ini --set data.limit=1000", &status);
    cr_expect_eq(status, 1, "exited %d:\n%s", status, out);
    cr_expect(strstr(out, "cannot be written") && strstr(out, "Read-only file system") &&
              strstr(out, dir), "the message must name the folder and why:\n%s", out);
    cr_expect(!strstr(out, "mining") && !strstr(out, "embed"), "work began:\n%s", out);
    char *log = test_path(dir, "log.txt");
    cr_expect_neq(access(log, F_OK), 0, "log.txt was written into the refused folder");
    free(log);
    free(out);
    rm_rf(dir);
}

Test(crash, damaged_checkpoint_is_refused_by_checksum_and_kept, .timeout = 300)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("crash-flip");
    expect_run(dir, NULL, SMALL " --set train.epochs=2", 0);
    char *path = test_path(dir, "checkpoint.safetensors");
    size_t size;
    char *bytes = test_read_file(path, &size);
    cr_assert_not_null(bytes);
    bytes[size - 3] ^= 0x10; /* in the last tensor's data */
    test_write_file(path, bytes, size);
    int status;
    char *out = unic_in(dir, NULL, SMALL " --set train.epochs=2 --resume", &status);
    cr_expect_eq(status, 1, "exited %d:\n%s", status, out);
    cr_expect(strstr(out, "checksum") && strstr(out, path) && strstr(out, "tensor '"),
              "the refusal must name the checksum, file and tensor:\n%s", out);
    struct stat sb;
    cr_expect(stat(path, &sb) == 0 && (size_t)sb.st_size == size, "the checkpoint was not kept");
    free(out);
    free(bytes);
    free(path);
    rm_rf(dir);
}

/* The checkpoint rewritten with metadata key set to value, its tensors and
 * their checksums as they were. */
static void rewrite_meta(const char *path, const char *key, const char *value)
{
    char err[1024];
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
    cJSON *meta = cJSON_Parse(st->metadata_json);
    cr_assert_not_null(meta);
    int n = cJSON_GetArraySize(meta), m = 0;
    const char **md = calloc((size_t)n * 2 + 1, sizeof *md);
    for (cJSON *e = meta->child; e; e = e->next) {
        md[m++] = e->string;
        md[m++] = strcmp(e->string, key) == 0 ? value : e->valuestring;
    }
    /* copies: the mapping goes away when the new file replaces the old */
    unic_array *t = calloc((size_t)st->count, sizeof *t);
    for (int i = 0; i < st->count; i++) {
        t[i] = st->tensors[i];
        t[i].name = strdup(st->tensors[i].name);
        t[i].data = malloc(t[i].nbytes ? t[i].nbytes : 1);
        memcpy(t[i].data, st->tensors[i].data, t[i].nbytes);
    }
    int count = st->count;
    unic_safetensors_close(st);
    cr_assert_eq(unic_safetensors_write(path, t, count, md, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < count; i++) {
        free(t[i].name);
        free(t[i].data);
    }
    free(t);
    free(md);
    cJSON_Delete(meta);
}

Test(crash, checkpoint_epoch_out_of_range_is_refused, .timeout = 300)
{
    test_need_fashion_mnist();
    char *dir = test_tmpdir("crash-epoch");
    expect_run(dir, NULL, SMALL " --set train.epochs=2", 0);
    char *path = test_path(dir, "checkpoint.safetensors");
    const char *bad[] = {"-100000000", "3", "2x", ""};
    for (int i = 0; i < 4; i++) {
        rewrite_meta(path, "epoch", bad[i]);
        int status;
        char *out = unic_in(dir, NULL, SMALL " --set train.epochs=2 --resume", &status);
        cr_expect_eq(status, 1, "epoch '%s' was accepted (exit %d):\n%s", bad[i], status, out);
        cr_expect(strstr(out, "'epoch'") && strstr(out, path), "epoch '%s': the refusal must "
                  "name the file and key:\n%s", bad[i], out);
        free(out);
    }
    /* the same file with a sane epoch still resumes: only the key was wrong */
    rewrite_meta(path, "epoch", "2");
    rewrite_meta(path, "step", "-1");
    int status;
    char *out = unic_in(dir, NULL, SMALL " --set train.epochs=2 --resume", &status);
    cr_expect(status == 1 && strstr(out, "'step'"), "step -1 was accepted:\n%s", out);
    free(out);
    rewrite_meta(path, "step", "32");
    expect_run(dir, NULL, SMALL " --set train.epochs=2 --resume", 0);
    free(path);
    rm_rf(dir);
}

/* At the file level: a tensor holding NaN is refused by name even when its
 * checksum is right (a diverged run's checkpoint). */
Test(crash, checkpoint_with_nan_is_refused_naming_the_tensor)
{
    char *dir = test_tmpdir("crash-nan"), *path = test_path(dir, "c.safetensors"), err[1024];
    unic_tensor *w = unic_tensor_2d(UNIC_CPU, 2, 3), *m = unic_tensor_2d(UNIC_CPU, 2, 3),
                *v = unic_tensor_2d(UNIC_CPU, 2, 3);
    for (int i = 0; i < 6; i++) {
        ((float *)w->data)[i] = (float)i;
        ((float *)m->data)[i] = 0.f;
        ((float *)v->data)[i] = 1.f;
    }
    ((float *)m->data)[4] = NAN;
    unic_ckpt_tensor t = {"head.fc1.weight", w, m, v};
    unic_ckpt_meta meta = {1, 10, "[x]\n", "[]"};
    cr_assert_eq(unic_checkpoint_save(path, &t, 1, &meta, err, sizeof err), 0, "%s", err);
    int epoch;
    int64_t step;
    char *config = NULL, *history = NULL;
    cr_assert_eq(unic_checkpoint_load(path, &t, 1, &epoch, &step, &config, &history, err,
                                      sizeof err), -1);
    cr_expect(strstr(err, "optim.exp_avg.head.fc1.weight") && strstr(err, "NaN") &&
              strstr(err, path), "%s", err);
    /* finite, it loads */
    ((float *)m->data)[4] = 0.5f;
    cr_assert_eq(unic_checkpoint_save(path, &t, 1, &meta, err, sizeof err), 0, "%s", err);
    cr_expect_eq(unic_checkpoint_load(path, &t, 1, &epoch, &step, &config, &history, err,
                                      sizeof err), 0, "%s", err);
    cr_expect_eq(epoch, 1);
    cr_expect_eq(step, 10);
    free(config);
    free(history);
    unic_tensor_free(w);
    unic_tensor_free(m);
    unic_tensor_free(v);
    free(path);
    rm_rf(dir);
}
