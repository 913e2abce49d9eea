/* The plugin SDK. A plugin is one shared object exporting one function,
 *
 *     int unic_plugin_init(const unic_api *api, unic_registrar *reg);
 *
 * which keeps the api pointer (UNIC_PLUGIN_INIT does that) and registers its
 * components with api->register_component. A plugin links against nothing of
 * the core: every service it needs comes through the api table, so checking
 * the ABI version of each registered component is enough to load it safely.
 * The entry point is the only symbol a plugin exports (UNIC_EXPORT; build
 * with -fvisibility=hidden). See plugins/README.md for a walk-through, and
 * plugins/kl_uniform.c and plugins/mutual_knn.c. */
#ifndef UNIC_PLUGIN_H
#define UNIC_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"
#include "tensor.h"
#include "transformer_block.h"

/* The plugin ABI, MAJOR.MINOR. Every component records the version its
 * plugin was compiled against (UNIC_COMPONENT_ABI); the core loads it when
 * the majors are equal and the plugin's minor is not newer than the core's.
 *
 * MINOR grows when something is appended that a plugin built earlier does
 * not know about: entries at the end of unic_api, fields at the end of a
 * struct the core fills for plugins (unic_loss_batch, unic_mine_input...),
 * or fields at the end of a struct a plugin fills, which the core then
 * reads only from components declaring that minor or later.
 * MAJOR grows for anything else (a field removed, reordered or retyped, a
 * signature changed); MINOR then restarts at 0.
 *
 * 6.0: the version split into major.minor (ABI 5 was a single number), the
 * loss's has_default_weight, unic_mine_input's device, and the api's entries
 * up to its end.
 * 6.1: a head's output_width (heads whose outputs are not K class scores,
 * as a projection head), a loss's takes_outputs (it reads its head's
 * outputs as they are, not their softmax), and unic_loss_batch's index and
 * row_labels (every row's dataset item and visible label). */
#define UNIC_ABI_MAJOR 6
#define UNIC_ABI_MINOR 1

/* Fills both fields of a component: { UNIC_COMPONENT_ABI, .kind = ... }. */
#define UNIC_COMPONENT_ABI .abi_major = UNIC_ABI_MAJOR, .abi_minor = UNIC_ABI_MINOR

#define UNIC_ENTRY_POINT "unic_plugin_init"

typedef enum {
    UNIC_KIND_BACKBONE = 0,
    UNIC_KIND_HEAD,
    UNIC_KIND_LOSS,
    UNIC_KIND_MINER,
    UNIC_KIND_COUNT
} unic_kind;

/* ---- parameters --------------------------------------------------------- */

typedef enum { UNIC_INT, UNIC_FLOAT, UNIC_BOOL, UNIC_STRING, UNIC_CHOICE } unic_param_type;

/* One INI key a component accepts. `def` is the default as it would be
 * written in the INI; `choices` lists the values of a UNIC_CHOICE as "a|b|c".
 * For UNIC_INT and UNIC_FLOAT, `choices` holds optional bounds, inclusive, as
 * "min..max", "min.." or "..max" (NULL or "" = unbounded): the core refuses
 * a value outside them while reading the INI, naming the section, key, bound
 * and value, so create() never sees it. (The bounds share this field rather
 * than new ones so every existing positional table still initialises every
 * field.) A table ends with an entry whose name is NULL. */
typedef struct unic_param_spec {
    const char *name;
    unic_param_type type;
    const char *def;
    const char *doc;
    const char *choices;
} unic_param_spec;

typedef struct unic_params unic_params; /* resolved values, owned by the core */

/* ---- component interfaces ----------------------------------------------- */

/* A trainable tensor and its gradient, as optimisers and checkpoints see it.
 * Names follow timm / PyTorch state_dict conventions ("fc1.weight"). */
typedef struct unic_param_tensor {
    const char *name;
    unic_tensor *value;
    unic_tensor *grad;
} unic_param_tensor;

/* What a dataset item looks like, for a backbone to accept or refuse. */
typedef struct unic_input_info {
    int ndim;              /* 1: a feature vector; 2 or 3: an image (H,W) or (C,H,W) */
    int64_t shape[3];
    const char *source;    /* the file the items come from, for messages */
} unic_input_info;

typedef struct unic_backbone_ops {
    /* Accept the dataset's items (or explain why not) and say the embedding size. */
    int (*open)(void *self, const unic_input_info *in, int *embed_dim, char *err, size_t errlen);
    /* input: [n, item...] as the data gives it: features as stored, pixels
     * 0..255 from IDX or a pipeline without normalize, normalised floats
     * from a pipeline ending in normalize (what ViTs expect). */
    void (*forward)(void *self, const unic_tensor *input, unic_tensor *embeddings);
    /* d_embeddings: [n, embed_dim] for the last forward in training mode;
     * accumulates parameter gradients. */
    void (*backward)(void *self, const unic_tensor *d_embeddings);
    /* Trainable parameters only; none (0) means the core embeds the dataset once. */
    int (*parameters)(void *self, unic_param_tensor *out, int max);
    /* Trainable backbones: 1 makes the next forwards keep what backward
     * needs (PyTorch's model.train()), 0 (the state after create) keeps
     * nothing, so embedding a whole dataset costs no more memory than a
     * frozen forward. NULL for backbones with nothing to train. */
    void (*set_training)(void *self, int training);
    /* For heads that take tokens (the self-attention head of the paper's
     * Figure 6); NULL where the backbone has none. forward_tokens is
     * forward with every output token in out [n, T, embed_dim] (a ViT's CLS
     * first, then its patches, after the final norm), T = token_count();
     * backward_tokens takes their gradient, as backward does the embeddings'. */
    int (*token_count)(void *self);
    void (*forward_tokens)(void *self, const unic_tensor *input, unic_tensor *tokens);
    void (*backward_tokens)(void *self, const unic_tensor *d_tokens);
} unic_backbone_ops;

typedef struct unic_head_ops {
    /* Allocate weights (seeded) and activations for up to max_rows rows. */
    int (*setup)(void *self, int in_dim, int num_classes, int max_rows, unic_device device,
                 uint64_t seed, char *err, size_t errlen);
    /* x: [n, in_dim] -> logits: [n, num_classes]; keeps what backward needs. */
    void (*forward)(void *self, const unic_tensor *x, unic_tensor *logits);
    /* Accumulates parameter gradients; dx (may be NULL) receives dL/dx. */
    void (*backward)(void *self, const unic_tensor *d_logits, unic_tensor *dx);
    int (*parameters)(void *self, unic_param_tensor *out, int max);
    /* 1: x is the backbone's tokens [n, T, in_dim] (forward_tokens), not the
     * embeddings [n, in_dim]; the core then runs the backbone every step. */
    int takes_tokens;
    /* (6.1) The width of forward's output once setup has run: logits are
     * [n, output_width]. NULL: num_classes, as for every clustering head. A
     * projection head (heads/dino.c) returns its feature width; the core
     * refuses a clustering head whose width is not K. */
    int (*output_width)(void *self);
} unic_head_ops;

/* One batch as the losses see it: softmax outputs of the anchors, their
 * sampled positives and negatives (row r of each belongs to anchor r). */
typedef struct unic_loss_batch {
    int n, k;
    const float *p_anchor, *p_pos, *p_neg; /* [n, k] each, on the host */
    const int32_t *labels;                 /* [n] class of a labeled anchor, -1 if unlabeled */
    /* (6.1) Every row's dataset item and visible label, rows laid out as
     * [anchors | positives | negatives] (2n or 3n rows): two rows with the
     * same index are two augmented views of one item. NULL from a core
     * older than 6.1 and where the caller has no items (gradcheck may pass
     * them). */
    const int64_t *index;
    const int32_t *row_labels; /* -1 where unlabeled */
} unic_loss_batch;

/* Gradients with respect to the three probability matrices; a loss adds
 * scale * dL/dp into them (the core zeroes them once per step). */
typedef struct unic_loss_grad {
    float *d_anchor, *d_pos, *d_neg;
} unic_loss_grad;

typedef struct unic_loss_ops {
    /* The weight when an INI's [loss.NAME] gives none. A static struct
     * that leaves it out would silently weigh the loss 0, so the flag must
     * be set too (to 1) or the core refuses the plugin at load; 0 with the
     * flag is a loss that is off unless an experiment asks for it. */
    float default_weight;
    int has_default_weight;
    int uses_negatives; /* the core then requires a negative miner for every anchor */
    /* Returns the unweighted loss; adds scale * dL/dp into g. */
    double (*forward)(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g);
    /* (6.1) 1: p_anchor, p_pos, p_neg are the outputs of the loss's head as
     * they are ([n, output_width], e.g. a projection head's L2-normalised
     * features), and g receives dL/d(outputs); 0: their softmax over K
     * classes, as every clustering loss reads. */
    int takes_outputs;
} unic_loss_ops;

typedef enum { UNIC_ROLE_POSITIVE = 0, UNIC_ROLE_NEGATIVE = 1 } unic_miner_role;

/* Everything a miner may look at. Labels are given only for labeled samples
 * (-1 elsewhere), so no miner can leak evaluation labels. */
typedef struct unic_mine_input {
    int64_t n;
    int dim;
    const float *embeddings;  /* [n, dim], host */
    const int32_t *labels;    /* [n], -1 where unlabeled */
    const char *cache_dir;    /* where miners may cache results, or NULL */
    /* Where the api's neighbour search (knn, kth_neighbor) runs for this
     * input: a run's [train] device; UNIC_MINE_DEVICE overrides it. A
     * miner passes its input on unchanged. (6.0) */
    unic_device device;
} unic_mine_input;

typedef struct unic_miner_ops {
    unic_miner_role role;
    int (*mine)(void *self, const unic_mine_input *in, char *err, size_t errlen);
    /* A partner for the anchor, or -1 when it has none. Deterministic in rng. */
    int64_t (*sample)(void *self, int64_t anchor, unic_rng *rng);
    /* Candidates the anchor can draw from (for logs and tests). */
    int64_t (*count)(void *self, int64_t anchor);
} unic_miner_ops;

typedef struct unic_component {
    /* These three stay first in every ABI version, so a plugin of any
     * version is refused with its component's name and version (ABI 5 had
     * int abi_version, unic_kind kind, const char *name: same offsets). */
    int abi_major; /* UNIC_ABI_MAJOR and UNIC_ABI_MINOR as the plugin saw */
    int abi_minor; /* them when compiled: UNIC_COMPONENT_ABI sets both */
    const char *name;
    unic_kind kind;
    const char *doc; /* one line */
    const unic_param_spec *params;
    void *(*create)(const unic_params *p, char *err, size_t errlen);
    void (*destroy)(void *self);
    /* exactly one, matching kind */
    const unic_backbone_ops *backbone;
    const unic_head_ops *head;
    const unic_loss_ops *loss;
    const unic_miner_ops *miner;
} unic_component;

/* ---- the core's services ------------------------------------------------ */

typedef struct unic_registrar unic_registrar;

typedef enum { UNIC_LOG_DEBUG, UNIC_LOG_INFO, UNIC_LOG_WARN, UNIC_LOG_ERROR } unic_log_level;

typedef struct unic_api {
    /* These stay first in every ABI version so any plugin can be told
     * precisely why it cannot load (register_component has the offset it
     * had in ABI 5, after one int abi_version and padding). */
    int abi_major, abi_minor;
    int (*register_component)(unic_registrar *reg, const unic_component *c);

    void (*log)(unic_log_level level, const char *fmt, ...);

    long (*param_int)(const unic_params *p, const char *name);
    double (*param_float)(const unic_params *p, const char *name);
    int (*param_bool)(const unic_params *p, const char *name);
    const char *(*param_str)(const unic_params *p, const char *name);

    /* Tensors (zero-filled) and ops; every op dispatches on the tensors'
     * device. Gradient ops accumulate (+=), as in llm.c. */
    unic_tensor *(*tensor_new)(unic_device dev, int ndim, const int64_t *shape);
    void (*tensor_free)(unic_tensor *t);
    void (*tensor_zero)(unic_tensor *t);
    void (*tensor_copy)(unic_tensor *dst, const unic_tensor *src); /* any devices */

    /* C = alpha * op(A) op(B) + beta * C for 2-D tensors. */
    void (*gemm)(int trans_a, int trans_b, float alpha, const unic_tensor *a,
                 const unic_tensor *b, float beta, unic_tensor *c);
    /* out[n,o] = in[n,i] w[o,i]^T + b[o] (b may be NULL), PyTorch layout. */
    void (*linear_forward)(unic_tensor *out, const unic_tensor *in, const unic_tensor *w,
                           const unic_tensor *b);
    void (*linear_backward)(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,
                            const unic_tensor *d_out, const unic_tensor *in,
                            const unic_tensor *w);
    void (*gelu_forward)(unic_tensor *out, const unic_tensor *in);
    void (*gelu_backward)(unic_tensor *d_in, const unic_tensor *in, const unic_tensor *d_out);
    /* U(-bound, bound) from a seeded stream, as torch.nn.Linear initialises. */
    void (*fill_uniform)(unic_tensor *t, float bound, uint64_t seed, uint64_t stream);
    void (*scale)(unic_tensor *t, float s);

    /* Exact Euclidean neighbours, blocked (never N x N). Row i of idx/dist
     * holds its k nearest by (distance, index), i itself first. */
    int (*knn)(const unic_mine_input *in, int k, int32_t *idx, float *dist, char *err, size_t errlen);
    /* The k-th nearest (0-based rank k) of every point: beyond it lie the
     * negatives. Ties are ordered by index, so (dist, idx) pairs compare. */
    int (*kth_neighbor)(const unic_mine_input *in, int k, float *dist, int32_t *idx, char *err,
                        size_t errlen);
    /* Squared Euclidean distance of rows i and j. */
    float (*sq_dist)(const unic_mine_input *in, int64_t i, int64_t j);
    /* Second-order union sizes (eq. 4) of knn lists idx [n, k]. */
    void (*union_sizes)(const int32_t *idx, int64_t n, int k, int32_t *out);

    /* Checkpoints, for backbones that start from published weights (the
     * plugin cannot link the core's readers). Both map the safetensors file
     * for the call only, so a plugin holds nothing open. */
    /* Copies tensor `name` of `path` into dst as float32 (F32, F16, BF16 and
     * F64 convert) after checking its shape is exactly shape[0..ndim); a
     * missing tensor, another shape or an integer dtype is an error that
     * names the tensor and the file. */
    int (*load_tensor_f32)(const char *path, const char *name, float *dst, const int64_t *shape,
                           int ndim, char *err, size_t errlen);
    /* The shape of tensor `name` of `path` into shape[0..max_ndim): returns
     * its ndim, or -1 with a message (missing, or more than max_ndim dims).
     * For the tensors whose size the checkpoint decides, as the grid of a
     * ViT's pos_embed. */
    int (*tensor_shape)(const char *path, const char *name, int64_t *shape, int max_ndim,
                        char *err, size_t errlen);
    /* Logs which tensors of `path` are not among used[0..nused) (a
     * classifier, optimizer state, num_batches_tracked) so a user sees what
     * `who` ignored; returns how many. */
    int (*report_unused_tensors)(const char *path, const char *const *used, int nused,
                                 const char *who);

    /* The transformer ops (CPU and CUDA, dispatched like the others).
     * LayerNorm over each row: out = (in - mean) / sqrt(var + eps) * w + b;
     * backward accumulates into d_in (may be NULL), d_w and d_b. */
    void (*layer_norm_forward)(unic_tensor *out, const unic_tensor *in, const unic_tensor *w,
                               const unic_tensor *b, float eps);
    void (*layer_norm_backward)(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,
                                const unic_tensor *d_out, const unic_tensor *in,
                                const unic_tensor *w, float eps);
    /* Multi-head self-attention over images of `tokens` tokens (timm's
     * layout): qkv [n T, 3 d], rows Q | K | V each head-major -> out [n T,
     * d], scale 1 / sqrt(d / heads); probs [n heads T, T] (NULL: not kept)
     * keeps the softmax for backward, which accumulates into d_qkv. */
    void (*attention_forward)(unic_tensor *out, unic_tensor *probs, const unic_tensor *qkv,
                              int tokens, int heads);
    void (*attention_backward)(unic_tensor *d_qkv, const unic_tensor *d_out,
                               const unic_tensor *qkv, const unic_tensor *probs, int tokens,
                               int heads);
    /* y += alpha x, element-wise (same element counts): residual connections. */
    void (*add)(unic_tensor *y, const unic_tensor *x, float alpha);
    /* LayerScale: y[r, c] *= gamma[c]; its gradient d_gamma[c] += sum_r a[r, c] b[r, c]. */
    void (*scale_columns)(unic_tensor *y, const unic_tensor *gamma);
    void (*column_dot)(unic_tensor *d_gamma, const unic_tensor *a, const unic_tensor *b);
    /* 1 when unic was built with CUDA and a GPU is visible. */
    int (*cuda_available)(void);

    /* The convolution ops (a ResNet's), on channel-major activations [C, n
     * H W]: im2col -> col [C k k, n Ho Wo], so a convolution is one GEMM;
     * col2im, its adjoint, accumulates. Batch norm on running statistics
     * over rows = channels, with an optional residual added and ReLU after;
     * its backward accumulates dx (may be NULL), dw, db. relu_backward: d *=
     * (y > 0). Max pooling over planes [P, H W], ties to the first maximum;
     * its backward accumulates. */
    void (*im2col)(unic_tensor *col, const unic_tensor *in, int images, int height, int width,
                   int kernel, int stride, int pad);
    void (*col2im)(unic_tensor *d_in, const unic_tensor *col, int images, int height, int width,
                   int kernel, int stride, int pad);
    void (*batch_norm_forward)(unic_tensor *y, const unic_tensor *x, const unic_tensor *w,
                               const unic_tensor *b, const unic_tensor *mean,
                               const unic_tensor *var, float eps, const unic_tensor *residual,
                               int relu);
    void (*batch_norm_backward)(unic_tensor *dx, unic_tensor *dw, unic_tensor *db,
                                const unic_tensor *dy, const unic_tensor *x, const unic_tensor *w,
                                const unic_tensor *mean, const unic_tensor *var, float eps);
    void (*relu_backward)(unic_tensor *d, const unic_tensor *y);
    void (*max_pool_forward)(unic_tensor *out, const unic_tensor *in, int height, int width,
                             int kernel, int stride, int pad);
    void (*max_pool_backward)(unic_tensor *d_in, const unic_tensor *d_out, const unic_tensor *in,
                              int height, int width, int kernel, int stride, int pad);
    /* Moves a tensor's data to another device in place (its address, and so
     * every pointer to it, stays): for weights loaded on the host. */
    void (*tensor_move)(unic_tensor *t, unic_device dev);

    /* added in ABI 6.0: the pre-norm transformer block (timm's Block; the
     * structs and the contract are in transformer_block.h). Activations
     * for up to max_rows token rows: keep = 0 work buffers any number of
     * blocks share, keep = 1 what one block's forward keeps for backward.
     * forward: x [rows, dim] <- block(x) in place; saved NULL keeps nothing,
     * else receives x's rows from first_row on. backward: dx holds dL/d(out)
     * and becomes dL/d(in) (input_grad = 0 skips that: nothing before
     * trains); b->g accumulates. */
    unic_block_activations *(*block_activations_new)(const unic_block *b, int64_t max_rows,
                                                     int tokens, int keep);
    void (*block_activations_free)(unic_block_activations *a);
    void (*block_forward)(unic_tensor *x, const unic_block *b, unic_block_activations *saved,
                          int64_t first_row, unic_block_activations *work);
    void (*block_backward)(unic_tensor *dx, const unic_block *b,
                           const unic_block_activations *saved, unic_block_activations *work,
                           int input_grad);
} unic_api;

/* Keeps the api table for the plugin's callbacks (one per shared object). */
#define UNIC_PLUGIN_INIT(api_arg) (unic = (api_arg))
#define UNIC_PLUGIN_API static const unic_api *unic

#define UNIC_EXPORT __attribute__((visibility("default")))

#endif
