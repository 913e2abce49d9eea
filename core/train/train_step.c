/* One optimiser step on a batch of triplets whose head input fills x_host:
 * every head's forward (the clustering head's copies and the named heads,
 * all on the same input), the softmax where it is read, every loss on the
 * head it is bound to (eq. 7 and 9; a loss on the clustering head once per
 * copy, their sum the objective, as SCAN sums its heads'), the backward
 * through every head (and a trainable backbone), and Adam. */
#include <string.h>

#include "ops/ops.h"
#include "plugin/registry.h"
#include "train/run_internal.h"

void gather_rows(run *r, const float *emb, const int64_t *idx, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        memcpy(r->x_host->data + i * r->dim, emb + idx[i] * r->dim, (size_t)r->dim * sizeof(float));
}

/* Head h's forward on x_dev's first count rows; its softmax (host copy)
 * and its raw outputs on the host where they are read. */
static void head_forward(run *r, int h, int64_t count)
{
    head_run *hr = &r->heads[h];
    unic_tensor xd = unic_rows(r->x_dev, 0, count), logits = unic_rows(hr->logits, 0, count);
    hr->in.slot->component->head->forward(hr->in.state, &xd, &logits);
    if (hr->needs_probs) {
        unic_tensor probs = unic_rows(hr->probs, 0, count), ph = unic_rows(hr->probs_host, 0, count);
        unic_softmax_forward(&probs, &logits);
        if (hr->probs_host != hr->probs) unic_tensor_copy(&ph, &probs);
    }
    if (hr->needs_outputs && hr->out_host != hr->logits) {
        unic_tensor oh = unic_rows(hr->out_host, 0, count);
        unic_tensor_copy(&oh, &logits);
    }
}

static void upload_input(run *r, int64_t count)
{
    unic_tensor xh = unic_rows(r->x_host, 0, count), xd = unic_rows(r->x_dev, 0, count);
    if (r->x_dev != r->x_host) unic_tensor_copy(&xd, &xh);
}

unic_tensor head_probs(run *r, int h, int64_t count)
{
    upload_input(r, count);
    head_forward(r, h, count);
    return unic_rows(r->heads[h].probs_host, 0, count);
}

/* Every loss on the head it is bound to (rows [anchors | positives |
 * negatives]); weighted gradients land in each head's dprobs_host (losses
 * on probabilities) or dout_host (losses on raw outputs). Returns the
 * objective; adds each unweighted value into sums[loss][copy]. */
static double apply_losses(run *r, const int64_t *anchors, int b, loss_table sums)
{
    int roles = r->use_negatives ? 3 : 2;
    int64_t rows = (int64_t)roles * b;
    for (int i = 0; i < b; i++) r->batch_labels[i] = r->visible[anchors[i]];
    for (int64_t i = 0; i < rows; i++) r->row_labels[i] = r->visible[r->batch_idx[i]];
    for (int h = 0; h < r->nheads; h++) {
        head_run *hr = &r->heads[h];
        unic_tensor d = hr->needs_probs ? unic_rows(hr->dprobs_host, 0, rows) : (unic_tensor){0};
        if (hr->needs_probs) unic_tensor_zero(&d);
        if (hr->needs_outputs) {
            unic_tensor o = unic_rows(hr->dout_host, 0, rows);
            unic_tensor_zero(&o);
        }
    }
    double objective = 0;
    for (int l = 0; l < r->x->nlosses; l++) {
        const unic_component *c = r->losses[l].slot->component;
        int outputs = unic_loss_takes_outputs(c);
        float w = r->cfg.loss_weight[l];
        for (int h = 0; h < r->nheads; h++) {
            head_run *hr = &r->heads[h];
            if (hr->section != r->cfg.loss_head[l]) continue;
            int k = hr->width;
            const float *p = outputs ? hr->out_host->data : hr->probs_host->data;
            float *g = outputs ? hr->dout_host->data : hr->dprobs_host->data;
            unic_loss_batch lb = {b, k, p, p + (size_t)b * k,
                                  r->use_negatives ? p + (size_t)2 * b * k : NULL,
                                  r->batch_labels, r->batch_idx, r->row_labels};
            unic_loss_grad lg = {g, g + (size_t)b * k, r->use_negatives ? g + (size_t)2 * b * k : NULL};
            double v = c->loss->forward(r->losses[l].state, &lb, w, &lg);
            sums[l][hr->copy] += v;
            objective += w * v;
        }
    }
    return objective;
}

/* Head h from d(probs) and d(outputs) on the host back to its input:
 * into dx (NULL: nothing before it trains). */
static void head_backward(run *r, int h, int64_t rows, unic_tensor *dx)
{
    head_run *hr = &r->heads[h];
    unic_tensor dl = unic_rows(hr->dlogits, 0, rows);
    unic_tensor_zero(&dl);
    if (hr->needs_probs) {
        unic_tensor dph = unic_rows(hr->dprobs_host, 0, rows), dp = unic_rows(hr->dprobs, 0, rows);
        unic_tensor pd = unic_rows(hr->probs, 0, rows);
        if (hr->dprobs != hr->dprobs_host) unic_tensor_copy(&dp, &dph);
        unic_softmax_backward(&dl, &pd, &dp);
    }
    if (hr->needs_outputs) {
        unic_tensor doh = unic_rows(hr->dout_host, 0, rows), dod = unic_rows(hr->dout, 0, rows);
        if (hr->dout != hr->dout_host) unic_tensor_copy(&dod, &doh);
        unic_add(&dl, &dod, 1.0f);
    }
    hr->in.slot->component->head->backward(hr->in.state, &dl, dx);
}

/* Back through every head, and on into a trainable backbone (the heads'
 * d(input) summed); every trainable tensor's gradient is fresh. */
static void backward(run *r, int64_t rows)
{
    for (int i = 0; i < r->nparams; i++) unic_tensor_zero(r->params[i].grad);
    if (!r->train_backbone) {
        for (int h = 0; h < r->nheads; h++) head_backward(r, h, rows, NULL);
        return;
    }
    const unic_backbone_ops *bb = r->backbone.slot->component->backbone;
    unic_tensor dx = unic_rows(r->dx, 0, rows), dxd = unic_rows(r->dx_dev, 0, rows);
    unic_tensor_zero(&dxd);
    for (int h = 0; h < r->nheads; h++) {
        if (!r->dx_part) {
            head_backward(r, h, rows, &dxd);
            continue;
        }
        /* a head may write its d(input) rather than add it: each its own, then summed */
        unic_tensor part = unic_rows(r->dx_part, 0, rows);
        unic_tensor_zero(&part);
        head_backward(r, h, rows, &part);
        unic_add(&dxd, &part, 1.0f);
    }
    if (r->dx_dev != r->dx) unic_tensor_copy(&dx, &dxd);
    if (r->tokens_head)
        bb->backward_tokens(r->backbone.state, &dx);
    else
        bb->backward(r->backbone.state, &dx);
}

double train_step(run *r, const int64_t *anchors, int b, int64_t step_no, double lr,
                  loss_table sums)
{
    int64_t rows = (int64_t)(r->use_negatives ? 3 : 2) * b;
    upload_input(r, rows);
    for (int h = 0; h < r->nheads; h++) head_forward(r, h, rows);
    double objective = apply_losses(r, anchors, b, sums);
    backward(r, rows);
    const unic_train_config *t = &r->cfg.train;
    for (int i = 0; i < r->nparams; i++)
        unic_adam_step(r->params[i].value, r->params[i].grad, r->ckpt[i].m, r->ckpt[i].v,
                       (float)lr, t->beta1, t->beta2, t->adam_eps, t->weight_decay, step_no + 1);
    return objective;
}
