/* `attention`: the self-attention head of the paper's Figure 6 (A.10: "a
 * self-attention-based classification architecture with patch size 16 x 16
 * and intermediate MLP dimension 2048"). It takes the backbone's tokens (a
 * ViT's CLS and patch tokens after its final norm) rather than the CLS
 * embedding: one pre-norm transformer block over them (timm's layout:
 * LayerNorm eps 1e-6, multi-head attention, an MLP with GELU, residuals),
 * then a LayerNorm and a linear classifier on the CLS token. The paper gives
 * no more detail; this is our reading, with timm's block and ViT
 * classifier conventions. Linear layers start as torch.nn.Linear does,
 * LayerNorms at weight 1 and bias 0. The block is the core's (the api's
 * block_forward / block_backward, the vit backbone's too) on this head's
 * weights; everything runs on the api's ops, so on the CPU or the GPU. */
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
    unic_block block; /* the first NW of w and g, as the core's block sees them */
    /* activations for max_rows items of `tokens` tokens (allocated at the
     * first forward, when the token count is known) */
    int tokens;
    unic_block_activations *saved, *work;
    unic_tensor *stream, *d_stream; /* [rows * T, dim]: tokens through the block, their gradient */
    unic_tensor *cls, *lnf, *d_cls, *d_lnf; /* [rows, dim] */
} sa_head;

static const unic_param_spec params[] = {
    {"heads", UNIC_INT, "12", "attention heads (the token width must be a multiple)", "1..1024"},
    {"hidden", UNIC_INT, "2048", "the block's MLP width (A.10)", "1..65536"},
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
    unic->block_activations_free(h->saved);
    unic->block_activations_free(h->work);
    h->saved = h->work = NULL;
    unic_tensor **all[] = {&h->stream, &h->d_stream, &h->cls, &h->lnf, &h->d_cls, &h->d_lnf};
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

/* The block's tensors among t[NP] (the weights or their gradients). */
static unic_block_tensors block_tensors(unic_tensor *const *t)
{
    return (unic_block_tensors){
        .norm1_w = t[N1W], .norm1_b = t[N1B], .qkv_w = t[QKVW], .qkv_b = t[QKVB],
        .proj_w = t[PROJW], .proj_b = t[PROJB], .norm2_w = t[N2W], .norm2_b = t[N2B],
        .fc1_w = t[FC1W], .fc1_b = t[FC1B], .fc2_w = t[FC2W], .fc2_b = t[FC2B]};
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
    h->block = (unic_block){.dim = in_dim, .heads = h->heads, .hidden = h->hidden, .eps = EPS,
                            .w = block_tensors(h->w), .g = block_tensors(h->g)};
    return 0;
}

/* Buffers for max_rows items of t tokens, on the head's device. */
static void ensure_activations(sa_head *h, int t)
{
    if (t == h->tokens) return;
    free_activations(h);
    int64_t rows = (int64_t)h->max_rows * t, d = h->dim;
    h->saved = unic->block_activations_new(&h->block, rows, t, 1);
    h->work = unic->block_activations_new(&h->block, rows, t, 0);
    h->stream = new2(h->dev, rows, d);
    h->d_stream = new2(h->dev, rows, d);
    h->cls = new2(h->dev, h->max_rows, d);
    h->lnf = new2(h->dev, h->max_rows, d);
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
    unic_tensor in = {x->data, {rows, h->dim}, 2, x->device}, xs = rows_of(h->stream, rows);
    unic_tensor cls = rows_of(h->cls, n), lnf = rows_of(h->lnf, n);
    unic->tensor_copy(&xs, &in); /* the block works in place; x is the backbone's */
    unic->block_forward(&xs, &h->block, h->saved, 0, h->work);
    for (int64_t b = 0; b < n; b++) { /* each item's CLS token */
        unic_tensor src = unic_rows(&xs, b * t, 1), dst = unic_rows(&cls, b, 1);
        unic->tensor_copy(&dst, &src);
    }
    unic->layer_norm_forward(&lnf, &cls, h->w[NW], h->w[NB], EPS);
    unic->linear_forward(logits, &lnf, h->w[CLSW], h->w[CLSB]);
}

/* Accumulates the parameters' gradients; dx (may be NULL) += dL/dx [n, T, dim]. */
static void backward(void *self, const unic_tensor *d_logits, unic_tensor *dx)
{
    sa_head *h = self;
    int64_t n = d_logits->shape[0], t = h->tokens, rows = n * t;
    unic_tensor cls = rows_of(h->cls, n), lnf = rows_of(h->lnf, n);
    unic_tensor d_lnf = rows_of(h->d_lnf, n), d_cls = rows_of(h->d_cls, n);
    unic_tensor ds = rows_of(h->d_stream, rows);

    unic->tensor_zero(&d_lnf);
    unic->linear_backward(&d_lnf, h->g[CLSW], h->g[CLSB], d_logits, &lnf, h->w[CLSW]);
    unic->tensor_zero(&d_cls);
    unic->layer_norm_backward(&d_cls, h->g[NW], h->g[NB], &d_lnf, &cls, h->w[NW], EPS);
    unic->tensor_zero(&ds); /* only the CLS rows reach the classifier */
    for (int64_t b = 0; b < n; b++) {
        unic_tensor src = unic_rows(&d_cls, b, 1), dst = unic_rows(&ds, b * t, 1);
        unic->tensor_copy(&dst, &src);
    }
    unic->block_backward(&ds, &h->block, h->saved, h->work, dx != NULL);
    if (!dx) return;
    unic_tensor dx2 = {dx->data, {rows, h->dim}, 2, dx->device};
    unic->add(&dx2, &ds, 1.0f);
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
