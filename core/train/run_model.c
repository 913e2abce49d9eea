/* The run's components (backbone, head, miners, losses), the tensors Adam
 * trains with their moments, and the step buffers, allocated once for the
 * largest step. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/util.h"
#ifdef UNIC_WITH_CUDA
#include "mining/knn_cuda.h"
#endif
#include "ops/ops.h"
#include "plugin/registry.h"
#include "train/run_internal.h"

int instance_create(instance *in, const unic_slot *slot, char *err, size_t errlen)
{
    char msg[1024] = "";
    in->slot = slot;
    in->state = slot->component->create(slot->params, msg, sizeof msg);
    if (!in->state)
        return unic_errf(err, errlen, "[%s] %s: %s", slot->section, slot->component->name,
                         *msg ? msg : "could not be created");
    return 0;
}

void instance_destroy(instance *in)
{
    if (in->state) in->slot->component->destroy(in->state);
    in->state = NULL;
}

void backbone_training(run *r, int on)
{
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    if (ops->set_training) ops->set_training(r->backbone.state, on);
}

/* The head instances: count copies of the clustering head, then each named
 * head. Every head reads the same input, so they all take tokens or none. */
static int create_heads(run *r, char *err, size_t errlen)
{
    const unic_experiment *x = r->x;
    r->ncopies = r->cfg.head_count;
    r->nheads = r->ncopies + x->naux;
    for (int h = 0; h < r->nheads; h++) {
        head_run *hr = &r->heads[h];
        hr->section = h < r->ncopies ? 0 : 1 + (h - r->ncopies);
        hr->copy = h < r->ncopies ? h : 0;
        const unic_slot *slot = hr->section ? &x->aux_heads[hr->section - 1] : &x->head;
        if (instance_create(&hr->in, slot, err, errlen) != 0) return -1;
        if (hr->section)
            snprintf(hr->prefix, sizeof hr->prefix, "head_%s", unic_head_slot_name(slot));
        else if (r->ncopies > 1)
            snprintf(hr->prefix, sizeof hr->prefix, "head.%d", h);
        else
            snprintf(hr->prefix, sizeof hr->prefix, "head");
        hr->needs_probs = hr->section == 0;
        for (int l = 0; l < x->nlosses; l++) {
            if (r->cfg.loss_head[l] != hr->section) continue;
            if (unic_loss_takes_outputs(x->losses[l].component))
                hr->needs_outputs = 1;
            else
                hr->needs_probs = 1;
        }
        if (slot->component->head->takes_tokens != x->head.component->head->takes_tokens)
            return unic_errf(err, errlen, "[%s] %s %s the backbone's tokens but [%s] %s %s: every "
                             "head reads the same input", slot->section, slot->component->name,
                             slot->component->head->takes_tokens ? "takes" : "does not take",
                             x->head.section, x->head.component->name,
                             x->head.component->head->takes_tokens ? "does" : "does not");
    }
    return 0;
}

int run_create_components(run *r, char *err, size_t errlen)
{
    const unic_experiment *x = r->x;
    if (instance_create(&r->backbone, &x->backbone, err, errlen) != 0 ||
        create_heads(r, err, errlen) != 0)
        return -1;
    r->train_backbone = x->backbone.component->backbone->parameters(r->backbone.state, NULL, 0) > 0;
    r->tokens_head = x->head.component->head->takes_tokens;
    if (r->tokens_head && !x->backbone.component->backbone->forward_tokens)
        return unic_errf(err, errlen, "[%s] %s takes the backbone's tokens, which [backbone] %s "
                         "does not give (vit does)", x->head.section, x->head.component->name,
                         x->backbone.component->name);
    for (int m = 0; m < x->nminers; m++)
        if (instance_create(&r->miners[m], &x->miners[m], err, errlen) != 0) return -1;
    return 0;
}

static unic_tensor *like(const unic_tensor *t)
{
    return unic_tensor_new(t->device, t->ndim, t->shape);
}

/* Appends trainable tensors with their Adam moments, checkpointed as
 * prefix.name. */
static void add_params(run *r, const unic_param_tensor *list, int count, const char *prefix)
{
    for (int i = 0; i < count; i++) {
        r->params[r->nparams + i] = list[i];
        unic_ckpt_tensor *c = &r->ckpt[r->nparams + i];
        snprintf(c->name, sizeof c->name, "%s.%s", prefix, list[i].name);
        c->value = list[i].value;
        c->m = like(list[i].value);
        c->v = like(list[i].value);
    }
    r->nparams += count;
}

/* ---- the memory plan --------------------------------------------------- */

/* Bytes of the training's allocations, by what they hold; host and device
 * apart, since UNIC_MEMORY_LIMIT / MemAvailable bound the host. */
typedef struct plan {
    double head[2];    /* what the heads' setups allocate: weights, gradients, activations */
    double copy[2];    /* of which one copy of the clustering head */
    double aux[UNIC_MAX_AUX_HEADS][2]; /* and each named head */
    double trained[2]; /* a trainable backbone's parameters and gradients */
    double moments[2]; /* Adam's m and v for every trained tensor */
    double step[2];    /* the core's step buffers (alloc_step_buffers) */
} plan;

static double tensor_bytes(const unic_tensor *t)
{
    return t ? (double)unic_numel(t) * sizeof(float) : 0;
}

static void plan_params(plan *p, const unic_param_tensor *list, int n, int backbone, int times)
{
    for (int i = 0; i < n; i++) {
        int dev = list[i].value->device == UNIC_CUDA;
        p->moments[dev] += 2 * tensor_bytes(list[i].value) * times;
        if (backbone) p->trained[dev] += tensor_bytes(list[i].value) + tensor_bytes(list[i].grad);
    }
}

/* Mirrors alloc_step_buffers: the head's input (and d(input), images for a
 * trainable backbone or tokens), then per head its outputs, probabilities
 * and their gradients, host copies where the training device is a GPU. */
static void plan_step(plan *p, const run *r)
{
    const unic_backbone_ops *bb = r->backbone.slot->component->backbone;
    int gpu = r->cfg.train.device == UNIC_CUDA;
    double rows = r->rows, f = sizeof(float);
    double in = rows * (r->tokens_head ? bb->token_count(r->backbone.state) : 1) * r->dim * f;
    int dx = r->train_backbone ? 1 + (r->nheads > 1) : 0;
    p->step[0] += in * (1 + dx) + rows * 12 + r->cfg.train.batch_size * 4.0;
    if (r->train_backbone || r->tokens_head) p->step[0] += rows * (double)r->train.item_size * f;
    if (gpu) p->step[1] += in * (1 + dx);
    for (int h = 0; h < r->nheads; h++) {
        const head_run *hr = &r->heads[h];
        /* logits and their gradient; probabilities and theirs; d(outputs) (the
         * outputs are the logits), each with a host copy where the head runs
         * on a GPU */
        double rk = rows * hr->width * f;
        double dev = 2 * rk + (hr->needs_probs ? 2 * rk : 0) + (hr->needs_outputs ? rk : 0);
        if (gpu) {
            p->step[1] += dev;
            p->step[0] += (hr->needs_probs ? 2 * rk : 0) + (hr->needs_outputs ? 2 * rk : 0);
        } else {
            p->step[0] += dev;
        }
    }
}

/* Logs the plan and refuses it, with its numbers, when the host part
 * exceeds the limit mining uses too. */
static int check_plan(const plan *p, const run *r, char *err, size_t errlen)
{
    const double mib = 1048576.0;
    double host = p->head[0] + p->trained[0] + p->moments[0] + p->step[0];
    double dev = p->head[1] + p->trained[1] + p->moments[1] + p->step[1];
    const char *source;
    size_t limit = unic_memory_limit(&source);
    char what[1536];
    size_t used = 0;
    if (r->ncopies > 1)
        used += (size_t)snprintf(what, sizeof what, "[%s] %s %d x %.1f MiB ([%s] count = %d)",
                                 r->x->head.section, r->x->head.component->name, r->ncopies,
                                 (p->copy[0] + p->copy[1]) / mib, r->x->head.section, r->ncopies);
    else
        used += (size_t)snprintf(what, sizeof what, "[%s] %s %.1f MiB", r->x->head.section,
                                 r->x->head.component->name, (p->copy[0] + p->copy[1]) / mib);
    for (int i = 0; i < r->x->naux && used < sizeof what; i++)
        used += (size_t)snprintf(what + used, sizeof what - used, ", [%s] %s %.1f MiB",
                                 r->x->aux_heads[i].section, r->x->aux_heads[i].component->name,
                                 (p->aux[i][0] + p->aux[i][1]) / mib);
    if (used < sizeof what)
        snprintf(what + used, sizeof what - used, " (weights, gradients and activations for %d "
                 "rows), trainable backbone %.1f, Adam moments %.1f, step buffers %.1f", r->rows,
                 (p->trained[0] + p->trained[1]) / mib, (p->moments[0] + p->moments[1]) / mib,
                 (p->step[0] + p->step[1]) / mib);
    if (host > (double)limit)
        return unic_errf(err, errlen, "training needs %.1f MiB of host memory (%s) but %.1f MiB "
                         "is available (%s); lower %s[train] batch_size or the head's size",
                         host / mib, what, (double)limit / mib, source,
                         r->ncopies > 1 ? "[head] count, " : "");
#ifdef UNIC_WITH_CUDA
    /* the device part against the GPU's free memory, less what the set-up
     * heads and the backbone hold already */
    char name[256], msg[512];
    size_t free_b = 0, total_b = 0;
    double held = p->copy[1] + p->trained[1];
    for (int i = 0; i < r->x->naux; i++) held += p->aux[i][1];
    if (dev > 0 && unic_knn_cuda_device(name, sizeof name, &free_b, &total_b, msg, sizeof msg) == 0 &&
        dev - held > (double)free_b)
        return unic_errf(err, errlen, "training needs %.1f MiB of GPU memory (%s) but %s has "
                         "%.1f MiB free; lower %s[train] batch_size or the head's size",
                         dev / mib, what, name, (double)free_b / mib,
                         r->ncopies > 1 ? "[head] count, " : "");
#endif
    char gpu[64] = "";
    if (dev > 0) snprintf(gpu, sizeof gpu, " and %.1f MiB GPU", dev / mib);
    unic_log(UNIC_LOG_INFO, "training memory: %.1f MiB host%s (%s; %s %.0f MiB)", host / mib, gpu,
             what, source, (double)limit / mib);
    return 0;
}

/* One head's setup for the data, its allocation measured into bytes[2]. */
static int setup_head(run *r, head_run *hr, double bytes[2], char *err, size_t errlen)
{
    const unic_component *c = hr->in.slot->component;
    char msg[1024] = "";
    int64_t host0 = unic_tensor_live_bytes(UNIC_CPU), dev0 = unic_tensor_live_bytes(UNIC_CUDA);
    /* copy 0 and a single head keep the run's seed, so count = 1 is what it always was */
    uint64_t seed = r->cfg.train.seed;
    if (hr->section) seed = unic_mix64(seed ^ (0xa0a0u + (uint64_t)hr->section));
    else if (hr->copy) seed = unic_mix64(seed + (uint64_t)hr->copy);
    if (c->head->setup(hr->in.state, r->dim, r->k, r->rows, r->cfg.train.device, seed, msg,
                       sizeof msg) != 0)
        return unic_errf(err, errlen, "[%s] %s: %s", hr->in.slot->section, c->name, msg);
    bytes[0] = (double)(unic_tensor_live_bytes(UNIC_CPU) - host0);
    bytes[1] = (double)(unic_tensor_live_bytes(UNIC_CUDA) - dev0);
    hr->width = unic_head_output_width(c, hr->in.state, r->k);
    if (hr->width < 1 || hr->width > (1 << 24))
        return unic_errf(err, errlen, "[%s] %s says its output width is %d", hr->in.slot->section,
                         c->name, hr->width);
    if (hr->section == 0 && hr->width != r->k)
        return unic_errf(err, errlen, "[%s] %s gives %d outputs, but the clustering head must "
                         "give one per cluster (K = %d); a projection head goes in a "
                         "[head.NAME] section", hr->in.slot->section, c->name, hr->width, r->k);
    return 0;
}

static int head_params(const head_run *hr, unic_param_tensor *list, char *err, size_t errlen)
{
    int n = hr->in.slot->component->head->parameters(hr->in.state, list, MAX_PARAMS);
    if (n > MAX_PARAMS)
        return unic_errf(err, errlen, "[%s] has more than %d tensors", hr->in.slot->section,
                         MAX_PARAMS);
    return n;
}

/* Every head sized for the data, and every tensor Adam trains: the heads',
 * then a trainable backbone's. The memory plan is checked once one copy
 * of the clustering head is set up, before the other copies, the moments
 * and the step buffers exist: too many copies are refused, with the
 * numbers, before they are allocated. */
static int collect_params(run *r, char *err, size_t errlen)
{
    plan p = {0};
    double bytes[2];
    unic_param_tensor list[MAX_PARAMS], blist[MAX_PARAMS];
    int order[MAX_HEAD_RUNS], norder = 0;
    order[norder++] = 0; /* copy 0, then the named heads, then the other copies */
    for (int h = r->ncopies; h < r->nheads; h++) order[norder++] = h;
    for (int h = 1; h < r->ncopies; h++) order[norder++] = h;
    for (int i = 0; i < norder; i++) {
        head_run *hr = &r->heads[order[i]];
        if (hr->section == 0 && hr->copy > 0) break; /* planned below, set up after the check */
        if (setup_head(r, hr, bytes, err, errlen) != 0) return -1;
        int n = head_params(hr, list, err, errlen);
        if (n < 0) return -1;
        int times = hr->section == 0 ? r->ncopies : 1;
        for (int d = 0; d < 2; d++) {
            p.head[d] += bytes[d] * times;
            if (hr->section == 0) p.copy[d] = bytes[d];
            else p.aux[hr->section - 1][d] = bytes[d];
        }
        plan_params(&p, list, n, 0, times);
    }
    int m = 0;
    if (r->train_backbone) {
        const unic_backbone_ops *b = r->backbone.slot->component->backbone;
        m = b->parameters(r->backbone.state, blist, MAX_PARAMS);
        plan_params(&p, blist, m, 1, 1);
    }
    plan_step(&p, r);
    if (check_plan(&p, r, err, errlen) != 0) return -1;
    for (int h = 1; h < r->ncopies; h++)
        if (setup_head(r, &r->heads[h], bytes, err, errlen) != 0) return -1;
    for (int h = 0; h < r->nheads; h++) {
        int n = head_params(&r->heads[h], list, err, errlen);
        if (n < 0) return -1;
        if (r->nparams + n + m > MAX_PARAMS)
            return unic_errf(err, errlen, "more than %d trainable tensors", MAX_PARAMS);
        add_params(r, list, n, r->heads[h].prefix);
    }
    add_params(r, blist, m, "backbone");
    return 0;
}

/* The head's input is embeddings [rows, dim] or tokens [rows, T, dim]; each
 * head has its outputs, probabilities and their gradients. */
static void alloc_head_buffers(run *r, head_run *hr)
{
    unic_device dev = r->cfg.train.device;
    int w = hr->width;
    hr->logits = unic_tensor_2d(dev, r->rows, w);
    hr->dlogits = unic_tensor_2d(dev, r->rows, w);
    if (hr->needs_probs) {
        hr->probs = unic_tensor_2d(dev, r->rows, w);
        hr->probs_host = dev == UNIC_CPU ? hr->probs : unic_tensor_2d(UNIC_CPU, r->rows, w);
        hr->dprobs_host = unic_tensor_2d(UNIC_CPU, r->rows, w);
        hr->dprobs = dev == UNIC_CPU ? hr->dprobs_host : unic_tensor_2d(dev, r->rows, w);
    }
    if (hr->needs_outputs) {
        hr->out_host = dev == UNIC_CPU ? hr->logits : unic_tensor_2d(UNIC_CPU, r->rows, w);
        hr->dout_host = unic_tensor_2d(UNIC_CPU, r->rows, w);
        hr->dout = dev == UNIC_CPU ? hr->dout_host : unic_tensor_2d(dev, r->rows, w);
    }
}

static void alloc_step_buffers(run *r)
{
    const unic_backbone_ops *bb = r->backbone.slot->component->backbone;
    unic_device dev = r->cfg.train.device;
    r->tokens = r->tokens_head ? bb->token_count(r->backbone.state) : 0;
    int64_t shape[3] = {r->rows, r->tokens_head ? r->tokens : r->dim, r->dim};
    int nd = r->tokens_head ? 3 : 2;
    if (r->train_backbone) { /* the head's d(input) where it runs; the backbone reads the host's */
        r->dx = unic_tensor_new(UNIC_CPU, nd, shape);
        r->dx_dev = dev == UNIC_CPU ? r->dx : unic_tensor_new(dev, nd, shape);
        if (r->nheads > 1) r->dx_part = unic_tensor_new(dev, nd, shape);
    }
    if (r->train_backbone || r->tokens_head)
        r->images = unic_xmalloc((size_t)r->rows * (size_t)r->train.item_size * sizeof(float));
    r->x_host = unic_tensor_new(UNIC_CPU, nd, shape);
    r->x_dev = dev == UNIC_CPU ? r->x_host : unic_tensor_new(dev, nd, shape);
    for (int h = 0; h < r->nheads; h++) alloc_head_buffers(r, &r->heads[h]);
    r->batch_idx = unic_xmalloc((size_t)r->rows * sizeof(int64_t));
    r->batch_labels = unic_xmalloc((size_t)r->cfg.train.batch_size * sizeof(int32_t));
    r->row_labels = unic_xmalloc((size_t)r->rows * sizeof(int32_t));
}

int run_build_model(run *r, char *err, size_t errlen)
{
    r->rows = r->cfg.train.batch_size * (r->use_negatives ? 3 : 2);
    if (collect_params(r, err, errlen) != 0) return -1;
    alloc_step_buffers(r);
    for (int l = 0; l < r->x->nlosses; l++)
        if (instance_create(&r->losses[l], &r->x->losses[l], err, errlen) != 0) return -1;
    return 0;
}

static void free_head_buffers(head_run *hr)
{
    if (hr->probs_host != hr->probs) unic_tensor_free(hr->probs_host);
    if (hr->dprobs != hr->dprobs_host) unic_tensor_free(hr->dprobs);
    if (hr->out_host != hr->logits) unic_tensor_free(hr->out_host);
    if (hr->dout != hr->dout_host) unic_tensor_free(hr->dout);
    unic_tensor *own[] = {hr->logits, hr->dlogits, hr->probs, hr->dprobs_host, hr->dout_host};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) unic_tensor_free(own[i]);
    memset(&hr->logits, 0, sizeof *hr - offsetof(head_run, logits));
}

void run_model_free(run *r)
{
    instance_destroy(&r->backbone);
    for (int h = 0; h < r->nheads; h++) {
        instance_destroy(&r->heads[h].in);
        free_head_buffers(&r->heads[h]);
    }
    for (int i = 0; i < r->x->nminers; i++) instance_destroy(&r->miners[i]);
    for (int i = 0; i < r->x->nlosses; i++) instance_destroy(&r->losses[i]);
    for (int i = 0; i < r->nparams; i++) {
        unic_tensor_free(r->ckpt[i].m);
        unic_tensor_free(r->ckpt[i].v);
    }
    if (r->x_dev != r->x_host) unic_tensor_free(r->x_dev);
    unic_tensor_free(r->x_host);
    if (r->dx_dev != r->dx) unic_tensor_free(r->dx_dev);
    unic_tensor_free(r->dx);
    unic_tensor_free(r->dx_part);
    unic_xfree(r->images);
    unic_xfree(r->batch_idx);
    unic_xfree(r->batch_labels);
    unic_xfree(r->row_labels);
}
