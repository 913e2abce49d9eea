/* The pre-norm transformer block (timm's Block), which the core runs for
 * plugins: the vit backbone's blocks and the attention head's are this one.
 *
 *     x = x + ls1 * proj(attention(qkv(norm1(x))))      (the attention branch)
 *     x = x + ls2 * fc2(gelu(fc1(norm2(x))))            (the MLP branch)
 *
 * over token rows x [rows, dim], rows = images * tokens with each image's
 * tokens together; attention mixes the tokens of one image only. LayerNorm,
 * multi-head attention (scale 1 / sqrt(dim / heads)), exact erf GELU;
 * ls1 / ls2 are DINOv2's optional LayerScale. The ops dispatch on the
 * tensors' device, so a block runs on the CPU or the GPU alike.
 *
 * The plugin owns the weights and their gradients (it loads, initialises
 * and checkpoints them under its own names); the core allocates the
 * activations. Through the api table:
 *
 *     block_activations_new / block_activations_free
 *     block_forward    x <- block(x), keeping what backward needs or nothing
 *     block_backward   dx <- d(input), accumulating the weights' gradients
 *
 * A model of several blocks shares one set of work buffers (keep = 0) and
 * gives each block it trains its own saved activations (keep = 1). */
#ifndef UNIC_TRANSFORMER_BLOCK_H
#define UNIC_TRANSFORMER_BLOCK_H

#include <stdint.h>

#include "tensor.h"

/* A block's tensors, with timm's names (d = dim, h = hidden), on one device. */
typedef struct unic_block_tensors {
    unic_tensor *norm1_w, *norm1_b; /* norm1.weight, norm1.bias [d] */
    unic_tensor *qkv_w, *qkv_b;     /* attn.qkv.weight [3 d, d] (rows Q | K | V, each
                                       head-major), attn.qkv.bias [3 d] */
    unic_tensor *proj_w, *proj_b;   /* attn.proj.weight [d, d], attn.proj.bias [d] */
    unic_tensor *ls1;               /* ls1.gamma [d]; NULL: no LayerScale */
    unic_tensor *norm2_w, *norm2_b; /* norm2.weight, norm2.bias [d] */
    unic_tensor *fc1_w, *fc1_b;     /* mlp.fc1.weight [h, d], mlp.fc1.bias [h] */
    unic_tensor *fc2_w, *fc2_b;     /* mlp.fc2.weight [d, h], mlp.fc2.bias [d] */
    unic_tensor *ls2;               /* ls2.gamma [d]; NULL: no LayerScale */
} unic_block_tensors;

/* The tensors one by one in timm's order (named_parameters), i from 0 to
 * UNIC_BLOCK_TENSORS - 1, ls1 and ls2 among them (NULL without
 * LayerScale): for allocating, listing or checkpointing them in a loop. */
#define UNIC_BLOCK_TENSORS 14

static inline unic_tensor **unic_block_tensor(unic_block_tensors *t, int i)
{
    unic_tensor **all[UNIC_BLOCK_TENSORS] = {
        &t->norm1_w, &t->norm1_b, &t->qkv_w, &t->qkv_b, &t->proj_w, &t->proj_b, &t->ls1,
        &t->norm2_w, &t->norm2_b, &t->fc1_w, &t->fc1_b, &t->fc2_w,  &t->fc2_b,  &t->ls2};
    return all[i];
}

static inline const char *unic_block_tensor_name(int i)
{
    static const char *const names[UNIC_BLOCK_TENSORS] = {
        "norm1.weight",   "norm1.bias",     "attn.qkv.weight", "attn.qkv.bias",
        "attn.proj.weight", "attn.proj.bias", "ls1.gamma",     "norm2.weight",
        "norm2.bias",     "mlp.fc1.weight", "mlp.fc1.bias",    "mlp.fc2.weight",
        "mlp.fc2.bias",   "ls2.gamma"};
    return names[i];
}

typedef struct unic_block {
    int dim, heads, hidden; /* dim a multiple of heads; hidden: the MLP's width */
    float eps;              /* LayerNorm's (timm, DINO and DINOv2: 1e-6) */
    unic_block_tensors w;   /* the weights */
    unic_block_tensors g;   /* their gradients, which backward accumulates into (+=);
                               forward reads w only, so a frozen block leaves g NULL */
} unic_block;

/* Tensor i's shape in b: [shape[0], shape[1]] (returns 2) or [shape[0]] (1). */
static inline int unic_block_tensor_shape(const unic_block *b, int i, int64_t shape[2])
{
    int64_t d = b->dim, h = b->hidden;
    const int64_t all[UNIC_BLOCK_TENSORS][2] = {{d, 0}, {d, 0}, {3 * d, d}, {3 * d, 0}, {d, d},
                                                {d, 0}, {d, 0}, {d, 0},     {d, 0},     {h, d},
                                                {h, 0}, {d, h}, {d, 0},     {d, 0}};
    shape[0] = all[i][0];
    shape[1] = all[i][1];
    return all[i][1] ? 2 : 1;
}

/* Activations for up to max_rows token rows of images of `tokens` tokens,
 * on the device of the block's weights, in one of two kinds:
 *   keep = 0: work buffers, the temporaries of a forward that keeps nothing
 *             and of backward; blocks run one at a time, so every block of a
 *             model can share one set;
 *   keep = 1: what one block's forward keeps for its backward, one set per
 *             trained block (a forward that keeps writes them; backward only
 *             reads them, so it may run again on the same forward).
 * The plugin reads the saved tensors if it likes (probs are the attention
 * maps); the work buffers hold nothing between calls. */
typedef struct unic_block_activations {
    int64_t max_rows;
    int tokens;
    int keep;
    /* keep = 1, [max_rows, ...]: the block's input, norm1's output, qkv [3 d],
     * the softmax [max_rows * heads, tokens] ([images, heads, T, T]), the
     * attention before proj, x after the attention branch, norm2's output,
     * fc1's output before the GELU [h] and after it [h]; with LayerScale also
     * proj's and fc2's outputs before ls1 and ls2 (NULL without). */
    unic_tensor *xin, *ln1, *qkv, *probs, *att, *xmid, *ln2, *pre, *post, *proj, *mlp;
    /* keep = 0, [max_rows, ...]: two of d, one of 3 d, two of h (the second
     * allocated by the first backward, so a forward-only model never has it). */
    unic_tensor *work_d[2], *work_qkv, *work_hid[2];
} unic_block_activations;

#endif
