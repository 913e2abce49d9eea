#include "train/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    const char *md[] = {"format", "unic-checkpoint-1", "epoch", epoch, "step", step,
                        "config", meta->config, "history", meta->history ? meta->history : "[]",
                        NULL};
    int rc = unic_safetensors_write(path, arrays, count * 3, md, err, errlen);
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
    float *h = unic_xmalloc((size_t)unic_numel(dst) * sizeof(float));
    int rc = unic_array_to_f32(a, h, err, errlen);
    if (rc == 0) {
        unic_tensor view = *dst;
        view.device = UNIC_CPU;
        view.data = h;
        unic_tensor_copy(dst, &view);
    }
    unic_xfree(h);
    return rc;
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
    if (!fmt || strcmp(fmt, "unic-checkpoint-1") != 0 || !ep || !sp || !cfg) {
        rc = unic_errf(err, errlen, "%s: not a unic run checkpoint (metadata format/epoch/step/"
                       "config missing)", path);
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
        *epoch = atoi(ep);
        *step = atoll(sp);
        const char *h = unic_safetensors_meta(st, "history");
        *history_out = unic_xstrdup(h ? h : "[]");
        *config_out = unic_xstrdup(cfg);
    }
done:
    unic_safetensors_close(st);
    return rc;
}
