/* The run's components (backbone, head, miners, losses), the tensors Adam
 * trains with their moments, and the step buffers, allocated once for the
 * largest step. */
#include <stdio.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/util.h"
#include "ops/ops.h"
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

int run_create_components(run *r, char *err, size_t errlen)
{
    const unic_experiment *x = r->x;
    if (instance_create(&r->backbone, &x->backbone, err, errlen) != 0 ||
        instance_create(&r->head, &x->head, err, errlen) != 0)
        return -1;
    r->train_backbone = x->backbone.component->backbone->parameters(r->backbone.state, NULL, 0) > 0;
    r->tokens_head = x->head.component->head->takes_tokens;
    if (r->tokens_head && !x->backbone.component->backbone->forward_tokens)
        return unic_errf(err, errlen, "[head] %s takes the backbone's tokens, which [backbone] %s "
                         "does not give (vit does)", x->head.component->name,
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
    double head[2];    /* what the head's setup allocated: weights, gradients, activations */
    double trained[2]; /* a trainable backbone's parameters and gradients */
    double moments[2]; /* Adam's m and v for every trained tensor */
    double step[2];    /* the core's step buffers (alloc_step_buffers) */
} plan;

static double tensor_bytes(const unic_tensor *t)
{
    return t ? (double)unic_numel(t) * sizeof(float) : 0;
}

static void plan_params(plan *p, const unic_param_tensor *list, int n, int backbone)
{
    for (int i = 0; i < n; i++) {
        int dev = list[i].value->device == UNIC_CUDA;
        p->moments[dev] += 2 * tensor_bytes(list[i].value);
        if (backbone) p->trained[dev] += tensor_bytes(list[i].value) + tensor_bytes(list[i].grad);
    }
}

/* Mirrors alloc_step_buffers: the head's input (and d(input), images for a
 * trainable backbone or tokens), logits, probabilities and their gradients,
 * host copies where the training device is a GPU. */
static void plan_step(plan *p, const run *r)
{
    const unic_backbone_ops *bb = r->backbone.slot->component->backbone;
    int gpu = r->cfg.train.device == UNIC_CUDA;
    double rows = r->rows, f = sizeof(float);
    double in = rows * (r->tokens_head ? bb->token_count(r->backbone.state) : 1) * r->dim * f;
    double rk = rows * r->k * f;
    p->step[0] += in * (r->train_backbone ? 2 : 1) + rows * 8 + r->cfg.train.batch_size * 4.0;
    if (r->train_backbone || r->tokens_head) p->step[0] += rows * (double)r->train.item_size * f;
    if (gpu) {
        p->step[1] += in * (r->train_backbone ? 2 : 1) + 4 * rk;
        p->step[0] += 2 * rk; /* probs_host, dprobs_host */
    } else {
        p->step[0] += 4 * rk;
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
    char what[512];
    snprintf(what, sizeof what, "[head] %s %.1f MiB (weights, gradients and activations for %d "
             "rows), trainable backbone %.1f, Adam moments %.1f, step buffers %.1f",
             r->head.slot->component->name, (p->head[0] + p->head[1]) / mib, r->rows,
             (p->trained[0] + p->trained[1]) / mib, (p->moments[0] + p->moments[1]) / mib,
             (p->step[0] + p->step[1]) / mib);
    if (host > (double)limit)
        return unic_errf(err, errlen, "training needs %.1f MiB of host memory (%s) but %.1f MiB "
                         "is available (%s); lower [train] batch_size or the head's size",
                         host / mib, what, (double)limit / mib, source);
    char gpu[64] = "";
    if (dev > 0) snprintf(gpu, sizeof gpu, " and %.1f MiB GPU", dev / mib);
    unic_log(UNIC_LOG_INFO, "training memory: %.1f MiB host%s (%s; %s %.0f MiB)", host / mib, gpu,
             what, source, (double)limit / mib);
    return 0;
}

/* The head sized for the data, and every tensor Adam trains: the head's,
 * then a trainable backbone's. The memory plan is checked once the head's
 * sizes are known, before the moments and step buffers exist. */
static int collect_params(run *r, char *err, size_t errlen)
{
    const unic_head_ops *h = r->head.slot->component->head;
    char msg[1024] = "";
    plan p = {0};
    int64_t host0 = unic_tensor_live_bytes(UNIC_CPU), dev0 = unic_tensor_live_bytes(UNIC_CUDA);
    if (h->setup(r->head.state, r->dim, r->k, r->rows, r->cfg.train.device, r->cfg.train.seed, msg,
                 sizeof msg) != 0)
        return unic_errf(err, errlen, "[head] %s: %s", r->head.slot->component->name, msg);
    p.head[0] = (double)(unic_tensor_live_bytes(UNIC_CPU) - host0);
    p.head[1] = (double)(unic_tensor_live_bytes(UNIC_CUDA) - dev0);
    unic_param_tensor list[MAX_PARAMS], blist[MAX_PARAMS];
    int n = h->parameters(r->head.state, list, MAX_PARAMS), m = 0;
    if (n > MAX_PARAMS)
        return unic_errf(err, errlen, "[head] has more than %d tensors", MAX_PARAMS);
    plan_params(&p, list, n, 0);
    if (r->train_backbone) {
        const unic_backbone_ops *b = r->backbone.slot->component->backbone;
        m = b->parameters(r->backbone.state, blist, MAX_PARAMS);
        if (n + m > MAX_PARAMS)
            return unic_errf(err, errlen, "more than %d trainable tensors", MAX_PARAMS);
        plan_params(&p, blist, m, 1);
    }
    plan_step(&p, r);
    if (check_plan(&p, r, err, errlen) != 0) return -1;
    add_params(r, list, n, "head");
    add_params(r, blist, m, "backbone");
    return 0;
}

/* The head's input is embeddings [rows, dim] or tokens [rows, T, dim]; the
 * other buffers hold a step's logits, probabilities and their gradients. */
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
    }
    if (r->train_backbone || r->tokens_head)
        r->images = unic_xmalloc((size_t)r->rows * (size_t)r->train.item_size * sizeof(float));
    r->x_host = unic_tensor_new(UNIC_CPU, nd, shape);
    r->x_dev = dev == UNIC_CPU ? r->x_host : unic_tensor_new(dev, nd, shape);
    r->logits = unic_tensor_2d(dev, r->rows, r->k);
    r->probs = unic_tensor_2d(dev, r->rows, r->k);
    r->dlogits = unic_tensor_2d(dev, r->rows, r->k);
    r->probs_host = dev == UNIC_CPU ? r->probs : unic_tensor_2d(UNIC_CPU, r->rows, r->k);
    r->dprobs_host = unic_tensor_2d(UNIC_CPU, r->rows, r->k);
    r->dprobs = dev == UNIC_CPU ? r->dprobs_host : unic_tensor_2d(dev, r->rows, r->k);
    r->batch_idx = unic_xmalloc((size_t)r->rows * sizeof(int64_t));
    r->batch_labels = unic_xmalloc((size_t)r->cfg.train.batch_size * sizeof(int32_t));
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

void run_model_free(run *r)
{
    instance_destroy(&r->backbone);
    instance_destroy(&r->head);
    for (int i = 0; i < r->x->nminers; i++) instance_destroy(&r->miners[i]);
    for (int i = 0; i < r->x->nlosses; i++) instance_destroy(&r->losses[i]);
    for (int i = 0; i < r->nparams; i++) {
        unic_tensor_free(r->ckpt[i].m);
        unic_tensor_free(r->ckpt[i].v);
    }
    if (r->x_dev != r->x_host) unic_tensor_free(r->x_dev);
    if (r->probs_host != r->probs) unic_tensor_free(r->probs_host);
    if (r->dprobs != r->dprobs_host) unic_tensor_free(r->dprobs);
    unic_tensor *own[] = {r->x_host, r->logits, r->probs, r->dprobs_host, r->dlogits};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) unic_tensor_free(own[i]);
    if (r->dx_dev != r->dx) unic_tensor_free(r->dx_dev);
    unic_tensor_free(r->dx);
    unic_xfree(r->images);
    unic_xfree(r->batch_idx);
    unic_xfree(r->batch_labels);
}
