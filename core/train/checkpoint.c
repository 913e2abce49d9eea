#include "train/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/limits.h"
#include "data/io.h"
#include "ops/ops.h"
#include "base/util.h"

/* Host copy of a tensor that may live on the GPU. */
static float *host_copy(const unic_tensor *t)
{
    float *h = unic_xmalloc((size_t)unic_numel(t) * sizeof(float));
    unic_tensor view = *t;
    view.device = UNIC_CPU;
    view.data = h;
    unic_tensor_copy(&view, t);
    return h;
}

/* 2: a checksum per tensor in the metadata ("checksum.NAME"). */
#define CKPT_FORMAT "unic-checkpoint-2"

int unic_checkpoint_save(const char *path, const unic_ckpt_tensor *t, int count,
                         const unic_ckpt_meta *meta, char *err, size_t errlen)
{
    unic_array *arrays = unic_xcalloc((size_t)count * 3, sizeof(unic_array));
    char (*names)[300] = unic_xmalloc((size_t)count * 3 * sizeof *names);
    const char *prefix[3] = {"", "optim.exp_avg.", "optim.exp_avg_sq."};
    for (int i = 0; i < count; i++) {
        const unic_tensor *src[3] = {t[i].value, t[i].m, t[i].v};
        for (int w = 0; w < 3; w++) {
            unic_array *a = &arrays[w * count + i];
            snprintf(names[w * count + i], 300, "%s%s", prefix[w], t[i].name);
            a->name = names[w * count + i];
            a->dtype = UNIC_DT_F32;
            a->ndim = src[w]->ndim;
            for (int d = 0; d < a->ndim; d++) a->shape[d] = src[w]->shape[d];
            a->data = host_copy(src[w]);
            a->nbytes = (size_t)unic_numel(src[w]) * sizeof(float);
        }
    }
    char epoch[32], step[32];
    snprintf(epoch, sizeof epoch, "%d", meta->epoch);
    snprintf(step, sizeof step, "%lld", (long long)meta->step);
    /* fixed keys, then a checksum per tensor, then the NULL */
    int n = count * 3;
    const char **md = unic_xmalloc(((size_t)n * 2 + 11) * sizeof *md);
    char (*keys)[320] = unic_xmalloc((size_t)n * sizeof *keys);
    char (*sums)[17] = unic_xmalloc((size_t)n * sizeof *sums);
    const char *fixed[] = {"format", CKPT_FORMAT, "epoch", epoch, "step", step,
                           "config", meta->config, "history", meta->history ? meta->history : "[]"};
    int m = 0;
    for (; m < 10; m++) md[m] = fixed[m];
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "checksum.%s", arrays[i].name);
        unic_checksum_hex(arrays[i].data, arrays[i].nbytes, sums[i]);
        md[m++] = keys[i];
        md[m++] = sums[i];
    }
    md[m] = NULL;
    int rc = unic_safetensors_write(path, arrays, n, md, err, errlen);
    unic_xfree(md);
    unic_xfree(keys);
    unic_xfree(sums);
    for (int i = 0; i < count * 3; i++) unic_xfree(arrays[i].data);
    unic_xfree(arrays);
    unic_xfree(names);
    return rc;
}

static int load_into(const unic_safetensors *st, const char *name, unic_tensor *dst, char *err,
                     size_t errlen)
{
    const unic_array *a = unic_safetensors_find(st, name);
    if (!a) return unic_errf(err, errlen, "%s: checkpoint has no tensor '%s'", st->path, name);
    int same = a->ndim == dst->ndim;
    for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == dst->shape[d];
    if (!same)
        return unic_errf(err, errlen, "%s: tensor '%s' has a different shape than the model's",
                         st->path, name);
    /* the stored bytes against the checksum written with them */
    char key[320], hex[17];
    snprintf(key, sizeof key, "checksum.%s", name);
    const char *sum = unic_safetensors_meta(st, key);
    unic_checksum_hex(a->data, a->nbytes, hex);
    if (!sum || strcmp(sum, hex) != 0)
        return unic_errf(err, errlen, "%s: tensor '%s' fails its checksum (stored %s, its data's "
                         "%s): the file is damaged; it is kept, and --resume cannot use it",
                         st->path, name, sum ? sum : "missing", hex);
    float *h = unic_xmalloc((size_t)unic_numel(dst) * sizeof(float));
    int rc = unic_array_to_f32(a, h, err, errlen);
    for (int64_t i = 0; rc == 0 && i < unic_numel(dst); i++)
        if (!isfinite(h[i]))
            rc = unic_errf(err, errlen, "%s: tensor '%s' holds %s at element %lld: a diverged "
                           "run's checkpoint cannot be resumed", st->path, name,
                           isnan(h[i]) ? "NaN" : "Inf", (long long)i);
    if (rc == 0) {
        unic_tensor view = *dst;
        view.device = UNIC_CPU;
        view.data = h;
        unic_tensor_copy(dst, &view);
    }
    unic_xfree(h);
    return rc;
}

/* A metadata integer, whole text, within [lo, hi]. */
static int meta_int(const char *path, const char *key, const char *text, long long lo,
                    long long hi, long long *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        return unic_errf(err, errlen, "%s: metadata '%s' is '%s', expected an integer in [%lld, "
                         "%lld]", path, key, text, lo, hi);
    *out = v;
    return 0;
}

int unic_checkpoint_load(const char *path, unic_ckpt_tensor *t, int count, int *epoch,
                         int64_t *step, char **config_out, char **history_out, char *err,
                         size_t errlen)
{
    unic_safetensors *st;
    if (unic_safetensors_open(path, &st, err, errlen) != 0) return -1;
    int rc = 0;
    const char *fmt = unic_safetensors_meta(st, "format");
    const char *ep = unic_safetensors_meta(st, "epoch"), *sp = unic_safetensors_meta(st, "step");
    const char *cfg = unic_safetensors_meta(st, "config");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0 || !ep || !sp || !cfg) {
        rc = unic_errf(err, errlen, "%s: not a unic run checkpoint of format %s (metadata "
                       "format '%s'; format, epoch, step and config are needed; checkpoints "
                       "older than their checksums cannot be resumed: run again without "
                       "--resume)", path, CKPT_FORMAT, fmt ? fmt : "missing");
        goto done;
    }
    long long e = 0, s = 0;
    if (meta_int(path, "epoch", ep, 0, UNIC_MAX_EPOCHS, &e, err, errlen) != 0 ||
        meta_int(path, "step", sp, 0, INT64_MAX, &s, err, errlen) != 0) {
        rc = -1;
        goto done;
    }
    char name[300];
    for (int i = 0; i < count && rc == 0; i++) {
        rc = load_into(st, t[i].name, t[i].value, err, errlen);
        snprintf(name, sizeof name, "optim.exp_avg.%s", t[i].name);
        if (rc == 0) rc = load_into(st, name, t[i].m, err, errlen);
        snprintf(name, sizeof name, "optim.exp_avg_sq.%s", t[i].name);
        if (rc == 0) rc = load_into(st, name, t[i].v, err, errlen);
    }
    if (rc == 0) {
        *epoch = (int)e;
        *step = s;
        const char *h = unic_safetensors_meta(st, "history");
        *history_out = unic_xstrdup(h ? h : "[]");
        *config_out = unic_xstrdup(cfg);
    }
done:
    unic_safetensors_close(st);
    return rc;
}

int unic_checkpoint_load_values(const char *path, const char *const *names, unic_tensor *const *dst,
                                const int *required, int count, int *loaded, char *err,
                                size_t errlen)
{
    unic_safetensors *st;
    if (unic_safetensors_open(path, &st, err, errlen) != 0) return -1;
    const char *fmt = unic_safetensors_meta(st, "format");
    int rc = 0;
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0)
        rc = unic_errf(err, errlen, "%s: not a unic run checkpoint of format %s", path, CKPT_FORMAT);
    for (int i = 0; rc == 0 && i < count; i++) {
        loaded[i] = unic_safetensors_find(st, names[i]) != NULL;
        if (!loaded[i] && required[i])
            rc = unic_errf(err, errlen, "%s: checkpoint has no tensor '%s', which this stage "
                           "starts from", path, names[i]);
        else if (loaded[i])
            rc = load_into(st, names[i], dst[i], err, errlen);
    }
    unic_safetensors_close(st);
    return rc;
}
