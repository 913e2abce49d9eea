/* `attention`: the self-attention head of the paper's Figure 6 (A.10: "a
 * self-attention-based classification architecture with patch size 16 x 16
 * and intermediate MLP dimension 2048"). It takes the backbone's tokens (a
 * ViT's CLS and patch tokens after its final norm) rather than the CLS
 * embedding: one pre-norm transformer block over them (timm's layout:
 * LayerNorm eps 1e-6, multi-head attention, an MLP with GELU, residuals),
 * then a LayerNorm and a linear classifier on the CLS token. The paper gives
 * no more detail; this is our reading, with timm's block and ViT
 * classifier conventions. Linear layers start as torch.nn.Linear does,
 * LayerNorms at weight 1 and bias 0. Device-agnostic through the api's ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

#define EPS 1e-6f

enum {
    N1W, N1B, QKVW, QKVB, PROJW, PROJB, N2W, N2B,
    FC1W, FC1B, FC2W, FC2B, NW, NB, CLSW, CLSB, NP
};

static const char *const names[NP] = {
    "norm1.weight",  "norm1.bias",   "attn.qkv.weight", "attn.qkv.bias",
    "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
    "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
    "norm.weight",    "norm.bias",    "fc.weight",       "fc.bias"};

typedef struct sa_head {
    int heads, hidden, dim, k, max_rows;
    unic_device dev;
    unic_tensor *w[NP], *g[NP];
    /* activations for max_rows items of `tokens` tokens (allocated at the
     * first forward, when the token count is known) */
    int tokens;
    unic_tensor *ln1, *qkv, *probs, *att, *h1, *ln2, *pre, *post, *h2; /* [rows * T, ...] */
    unic_tensor *cls, *lnf;                                            /* [rows, dim] */
    unic_tensor *d_big, *d_big2, *d_qkv, *d_hid, *d_hid2, *d_cls, *d_lnf;
    unic_tensor x; /* the input of the last forward (a view) */
} sa_head;

static const unic_param_spec params[] = {
    {"heads", UNIC_INT, "12", "attention heads (the token width must be a multiple)", NULL},
    {"hidden", UNIC_INT, "2048", "the block's MLP width (A.10)", NULL},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    long heads = unic->param_int(p, "heads"), hidden = unic->param_int(p, "hidden");
    if (heads < 1 || hidden < 1) {
        snprintf(err, errlen, "heads and hidden must be positive, got %ld and %ld", heads, hidden);
        return NULL;
    }
    sa_head *h = calloc(1, sizeof *h);
    h->heads = (int)heads;
    h->hidden = (int)hidden;
    return h;
}

static void free_activations(sa_head *h)
{
    unic_tensor **all[] = {&h->ln1, &h->qkv, &h->probs, &h->att, &h->h1, &h->ln2, &h->pre,
                           &h->post, &h->h2, &h->cls, &h->lnf, &h->d_big, &h->d_big2, &h->d_qkv,
                           &h->d_hid, &h->d_hid2, &h->d_cls, &h->d_lnf};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        unic->tensor_free(*all[i]);
        *all[i] = NULL;
    }
    h->tokens = 0;
}

static void destroy(void *self)
{
    sa_head *h = self;
    free_activations(h);
    for (int i = 0; i < NP; i++) {
        unic->tensor_free(h->w[i]);
        unic->tensor_free(h->g[i]);
    }
    free(h);
}

static unic_tensor *new2(unic_device dev, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return unic->tensor_new(dev, 2, shape);
}

static int setup(void *self, int in_dim, int k, int max_rows, unic_device dev, uint64_t seed,
                 char *err, size_t errlen)
{
    sa_head *h = self;
    if (in_dim % h->heads) {
        snprintf(err, errlen, "tokens of width %d do not split into heads = %d", in_dim, h->heads);
        return -1;
    }
    h->dim = in_dim;
    h->k = k;
    h->max_rows = max_rows;
    h->dev = dev;
    int64_t d = in_dim, hid = h->hidden;
    /* [rows, cols] of each tensor; rows 0: a vector of cols */
    const int64_t shapes[NP][2] = {{0, d},   {0, d},   {3 * d, d}, {0, 3 * d}, {d, d}, {0, d},
                                   {0, d},   {0, d},   {hid, d},   {0, hid},   {d, hid}, {0, d},
                                   {0, d},   {0, d},   {k, d},     {0, k}};
    for (int i = 0; i < NP; i++) {
        const int64_t *sh = shapes[i];
        h->w[i] = sh[0] ? new2(dev, sh[0], sh[1]) : unic->tensor_new(dev, 1, &sh[1]);
        h->g[i] = sh[0] ? new2(dev, sh[0], sh[1]) : unic->tensor_new(dev, 1, &sh[1]);
    }
    /* torch.nn.Linear: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    const int linear[][3] = {{QKVW, QKVB, (int)d}, {PROJW, PROJB, (int)d}, {FC1W, FC1B, (int)d},
                             {FC2W, FC2B, (int)hid}, {CLSW, CLSB, (int)d}};
    for (int i = 0; i < 5; i++) {
        float bound = 1.0f / sqrtf((float)linear[i][2]);
        unic->fill_uniform(h->w[linear[i][0]], bound, seed, (uint64_t)(2 * i + 1));
        unic->fill_uniform(h->w[linear[i][1]], bound, seed, (uint64_t)(2 * i + 2));
    }
    /* LayerNorms at weight 1 (set on the host, copied to wherever they live) */
    int64_t n = d;
    unic_tensor *ones = unic->tensor_new(UNIC_CPU, 1, &n);
    for (int64_t i = 0; i < d; i++) ones->data[i] = 1.0f;
    unic->tensor_copy(h->w[N1W], ones);
    unic->tensor_copy(h->w[N2W], ones);
    unic->tensor_copy(h->w[NW], ones);
    unic->tensor_free(ones);
    return 0;
}

/* Buffers for max_rows items of t tokens, on the head's device. */
static void ensure_activations(sa_head *h, int t)
{
    if (t == h->tokens) return;
    free_activations(h);
    int64_t rows = (int64_t)h->max_rows * t, d = h->dim, hid = h->hidden;
    h->ln1 = new2(h->dev, rows, d);
    h->qkv = new2(h->dev, rows, 3 * d);
    h->probs = new2(h->dev, (int64_t)h->max_rows * h->heads * t, t);
    h->att = new2(h->dev, rows, d);
    h->h1 = new2(h->dev, rows, d);
    h->ln2 = new2(h->dev, rows, d);
    h->pre = new2(h->dev, rows, hid);
    h->post = new2(h->dev, rows, hid);
    h->h2 = new2(h->dev, rows, d);
    h->cls = new2(h->dev, h->max_rows, d);
    h->lnf = new2(h->dev, h->max_rows, d);
    h->d_big = new2(h->dev, rows, d);
    h->d_big2 = new2(h->dev, rows, d);
    h->d_qkv = new2(h->dev, rows, 3 * d);
    h->d_hid = new2(h->dev, rows, hid);
    h->d_hid2 = new2(h->dev, rows, hid);
    h->d_cls = new2(h->dev, h->max_rows, d);
    h->d_lnf = new2(h->dev, h->max_rows, d);
    h->tokens = t;
}

static unic_tensor rows_of(const unic_tensor *t, int64_t count) { return unic_rows(t, 0, count); }

/* x: [n, T, dim] tokens -> logits [n, k] */
static void forward(void *self, const unic_tensor *x, unic_tensor *logits)
{
    sa_head *h = self;
    int64_t n = x->shape[0], t = x->ndim == 3 ? x->shape[1] : 1, rows = n * t;
    ensure_activations(h, (int)t);
    h->x = *x;
    unic_tensor x2 = {x->data, {rows, h->dim}, 2, x->device};
    unic_tensor ln1 = rows_of(h->ln1, rows), qkv = rows_of(h->qkv, rows);
    unic_tensor probs = rows_of(h->probs, n * h->heads * t), att = rows_of(h->att, rows);
    unic_tensor h1 = rows_of(h->h1, rows), ln2 = rows_of(h->ln2, rows);
    unic_tensor pre = rows_of(h->pre, rows), post = rows_of(h->post, rows);
    unic_tensor h2 = rows_of(h->h2, rows), cls = rows_of(h->cls, n), lnf = rows_of(h->lnf, n);
    unic->layer_norm_forward(&ln1, &x2, h->w[N1W], h->w[N1B], EPS);
    unic->linear_forward(&qkv, &ln1, h->w[QKVW], h->w[QKVB]);
    unic->attention_forward(&att, &probs, &qkv, (int)t, h->heads);
    unic->linear_forward(&h1, &att, h->w[PROJW], h->w[PROJB]);
    unic->add(&h1, &x2, 1.0f);
    unic->layer_norm_forward(&ln2, &h1, h->w[N2W], h->w[N2B], EPS);
    unic->linear_forward(&pre, &ln2, h->w[FC1W], h->w[FC1B]);
    unic->gelu_forward(&post, &pre);
    unic->linear_forward(&h2, &post, h->w[FC2W], h->w[FC2B]);
    unic->add(&h2, &h1, 1.0f);
    for (int64_t b = 0; b < n; b++) { /* each item's CLS token */
        unic_tensor src = unic_rows(&h2, b * t, 1), dst = unic_rows(&cls, b, 1);
        unic->tensor_copy(&dst, &src);
    }
    unic->layer_norm_forward(&lnf, &cls, h->w[NW], h->w[NB], EPS);
    unic->linear_forward(logits, &lnf, h->w[CLSW], h->w[CLSB]);
}

/* Accumulates the parameters' gradients; dx (may be NULL) += dL/dx [n, T, dim]. */
static void backward(void *self, const unic_tensor *d_logits, unic_tensor *dx)
{
    sa_head *h = self;
    int64_t n = d_logits->shape[0], t = h->x.ndim == 3 ? h->x.shape[1] : 1, rows = n * t;
    unic_tensor x2 = {h->x.data, {rows, h->dim}, 2, h->x.device};
    unic_tensor ln1 = rows_of(h->ln1, rows), qkv = rows_of(h->qkv, rows);
    unic_tensor probs = rows_of(h->probs, n * h->heads * t), att = rows_of(h->att, rows);
    unic_tensor h1 = rows_of(h->h1, rows), ln2 = rows_of(h->ln2, rows);
    unic_tensor pre = rows_of(h->pre, rows), post = rows_of(h->post, rows);
    unic_tensor cls = rows_of(h->cls, n), lnf = rows_of(h->lnf, n);
    unic_tensor d_lnf = rows_of(h->d_lnf, n), d_cls = rows_of(h->d_cls, n);
    unic_tensor d_h2 = rows_of(h->d_big, rows), d_h1 = rows_of(h->d_big2, rows);
    unic_tensor d_post = rows_of(h->d_hid, rows), d_pre = rows_of(h->d_hid2, rows);
    unic_tensor d_qkv = rows_of(h->d_qkv, rows);

    unic->tensor_zero(&d_lnf);
    unic->linear_backward(&d_lnf, h->g[CLSW], h->g[CLSB], d_logits, &lnf, h->w[CLSW]);
    unic->tensor_zero(&d_cls);
    unic->layer_norm_backward(&d_cls, h->g[NW], h->g[NB], &d_lnf, &cls, h->w[NW], EPS);
    unic->tensor_zero(&d_h2); /* only the CLS rows reach the classifier */
    for (int64_t b = 0; b < n; b++) {
        unic_tensor src = unic_rows(&d_cls, b, 1), dst = unic_rows(&d_h2, b * t, 1);
        unic->tensor_copy(&dst, &src);
    }
    /* h2 = h1 + fc2(gelu(fc1(norm2(h1)))) */
    unic->tensor_zero(&d_post);
    unic->linear_backward(&d_post, h->g[FC2W], h->g[FC2B], &d_h2, &post, h->w[FC2W]);
    unic->tensor_zero(&d_pre);
    unic->gelu_backward(&d_pre, &pre, &d_post);
    unic_tensor d_ln2 = rows_of(h->d_qkv, rows); /* scratch: d_qkv is not live yet */
    d_ln2.shape[1] = h->dim;
    unic->tensor_zero(&d_ln2);
    unic->linear_backward(&d_ln2, h->g[FC1W], h->g[FC1B], &d_pre, &ln2, h->w[FC1W]);
    unic->tensor_copy(&d_h1, &d_h2);
    unic->layer_norm_backward(&d_h1, h->g[N2W], h->g[N2B], &d_ln2, &h1, h->w[N2W], EPS);
    /* h1 = x + proj(attention(qkv(norm1(x)))) */
    unic_tensor d_att = d_h2; /* d_h2 is spent */
    unic->tensor_zero(&d_att);
    unic->linear_backward(&d_att, h->g[PROJW], h->g[PROJB], &d_h1, &att, h->w[PROJW]);
    unic->tensor_zero(&d_qkv);
    unic->attention_backward(&d_qkv, &d_att, &qkv, &probs, (int)t, h->heads);
    unic_tensor d_ln1 = d_att;
    unic->tensor_zero(&d_ln1);
    unic->linear_backward(&d_ln1, h->g[QKVW], h->g[QKVB], &d_qkv, &ln1, h->w[QKVW]);
    unic_tensor dx2 = {dx ? dx->data : NULL, {rows, h->dim}, 2, h->dev};
    unic->layer_norm_backward(dx ? &dx2 : NULL, h->g[N1W], h->g[N1B], &d_ln1, &x2, h->w[N1W], EPS);
    if (dx) unic->add(&dx2, &d_h1, 1.0f);
}

static int parameters(void *self, unic_param_tensor *out, int max)
{
    sa_head *h = self;
    for (int i = 0; i < NP && i < max; i++)
        out[i] = (unic_param_tensor){names[i], h->w[i], h->g[i]};
    return NP;
}

static const unic_head_ops ops = {
    .setup = setup,
    .forward = forward,
    .backward = backward,
    .parameters = parameters,
    .takes_tokens = 1,
};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_HEAD,
    .name = "attention",
    .doc = "self-attention head over the backbone's tokens: a transformer block, then LayerNorm "
           "and a linear classifier on CLS (Figure 6's SA head)",
    .params = params,
    .create = create,
    .destroy = destroy,
    .head = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    UNIC_PLUGIN_INIT(api);
    return api->register_component(reg, &component);
}
