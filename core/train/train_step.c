/* One optimiser step on a batch of triplets whose head input fills x_host:
 * the head's forward and softmax, every loss (eq. 7 and 9), the backward
 * through the head (and a trainable backbone), and Adam. */
#include <string.h>

#include "ops/ops.h"
#include "train/run_internal.h"

void gather_rows(run *r, const float *emb, const int64_t *idx, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        memcpy(r->x_host->data + i * r->dim, emb + idx[i] * r->dim, (size_t)r->dim * sizeof(float));
}

unic_tensor head_probs(run *r, int64_t count)
{
    unic_tensor xh = unic_rows(r->x_host, 0, count), xd = unic_rows(r->x_dev, 0, count);
    if (r->x_dev != r->x_host) unic_tensor_copy(&xd, &xh);
    unic_tensor logits = unic_rows(r->logits, 0, count), probs = unic_rows(r->probs, 0, count);
    r->head.slot->component->head->forward(r->head.state, &xd, &logits);
    unic_softmax_forward(&probs, &logits);
    unic_tensor ph = unic_rows(r->probs_host, 0, count);
    if (r->probs_host != r->probs) unic_tensor_copy(&ph, &probs);
    return ph;
}

/* Every loss on the step's probabilities (rows [anchors | positives |
 * negatives]); their weighted gradients w.r.t. the probabilities land in
 * dprobs_host. Returns the objective; adds each unweighted value into
 * loss_sums. */
static double apply_losses(run *r, const int64_t *anchors, int b, const unic_tensor *probs,
                           double *loss_sums)
{
    int64_t rows = (int64_t)(r->use_negatives ? 3 : 2) * b;
    unic_tensor dph = unic_rows(r->dprobs_host, 0, rows);
    unic_tensor_zero(&dph);
    for (int i = 0; i < b; i++) r->batch_labels[i] = r->visible[anchors[i]];
    unic_loss_batch lb = {b, r->k, probs->data, probs->data + (size_t)b * r->k,
                          r->use_negatives ? probs->data + (size_t)2 * b * r->k : NULL,
                          r->batch_labels};
    unic_loss_grad lg = {dph.data, dph.data + (size_t)b * r->k,
                         r->use_negatives ? dph.data + (size_t)2 * b * r->k : NULL};
    double objective = 0;
    for (int l = 0; l < r->x->nlosses; l++) {
        float w = r->cfg.loss_weight[l];
        double v = r->losses[l].slot->component->loss->forward(r->losses[l].state, &lb, w, &lg);
        loss_sums[l] += v;
        objective += w * v;
    }
    return objective;
}

/* From d(probs) on the host back through the softmax and the head, and on
 * into a trainable backbone; every trainable tensor's gradient is fresh. */
static void backward(run *r, int64_t rows)
{
    unic_tensor dph = unic_rows(r->dprobs_host, 0, rows);
    unic_tensor dp = unic_rows(r->dprobs, 0, rows), dl = unic_rows(r->dlogits, 0, rows);
    unic_tensor pd = unic_rows(r->probs, 0, rows);
    if (r->dprobs != r->dprobs_host) unic_tensor_copy(&dp, &dph);
    unic_tensor_zero(&dl);
    unic_softmax_backward(&dl, &pd, &dp);
    for (int i = 0; i < r->nparams; i++) unic_tensor_zero(r->params[i].grad);
    const unic_head_ops *head = r->head.slot->component->head;
    if (!r->train_backbone) {
        head->backward(r->head.state, &dl, NULL);
        return;
    }
    const unic_backbone_ops *bb = r->backbone.slot->component->backbone;
    unic_tensor dx = unic_rows(r->dx, 0, rows), dxd = unic_rows(r->dx_dev, 0, rows);
    unic_tensor_zero(&dxd);
    head->backward(r->head.state, &dl, &dxd);
    if (r->dx_dev != r->dx) unic_tensor_copy(&dx, &dxd);
    if (r->tokens_head)
        bb->backward_tokens(r->backbone.state, &dx);
    else
        bb->backward(r->backbone.state, &dx);
}

double train_step(run *r, const int64_t *anchors, int b, int64_t step_no, double lr,
                  double *loss_sums)
{
    int64_t rows = (int64_t)(r->use_negatives ? 3 : 2) * b;
    unic_tensor probs = head_probs(r, rows);
    double objective = apply_losses(r, anchors, b, &probs, loss_sums);
    backward(r, rows);
    const unic_train_config *t = &r->cfg.train;
    for (int i = 0; i < r->nparams; i++)
        unic_adam_step(r->params[i].value, r->params[i].grad, r->ckpt[i].m, r->ckpt[i].v,
                       (float)lr, t->beta1, t->beta2, t->adam_eps, t->weight_decay, step_no + 1);
    return objective;
}
