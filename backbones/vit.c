/* `vit`: a Vision Transformer loaded from a timm / DINO / DINOv2 safetensors
 * checkpoint (or one with Hugging Face transformers' names: ViTModel and
 * Dinov2Model, mapped by a table), on the CPU. The embedding is the CLS token after the final
 * LayerNorm, as DINO evaluates its features. finetune = frozen (the default)
 * runs forward only; finetune = last_block makes the last block and the final
 * norm trainable: in training mode (set_training) forward keeps that block's
 * activations for the batch and backward differentiates it (the blocks
 * before keep nothing; outside training mode nothing is kept). finetune =
 * full trains everything: forward keeps every block's activations (and the
 * patch embedding's im2col) for the batch, backward runs the block backward
 * from the last block to the first, then the patch embedding, cls_token and
 * pos_embed (through the bicubic interpolation's weights when the grid was
 * resized, so the checkpoint-grid pos_embed is what trains).
 *
 * The architecture is timm's VisionTransformer: patch embedding (a stride-p
 * convolution, done here as im2col + GEMM), a CLS token, learned positional
 * embeddings, pre-norm blocks (LayerNorm, eps 1e-6 by default; multi-head
 * attention with a biased qkv whose rows are Q, K, V each head-major; exact
 * erf GELU MLP; optional DINOv2 LayerScale) and a final LayerNorm. The
 * blocks are the core's (api->block_forward / block_backward, the attention
 * head's too) on the weights loaded here; matrix products and LayerNorm go
 * through the api's ops; the patch im2col is a plain loop here.
 *
 * When images give another patch grid than the checkpoint's pos_embed, the
 * grid is resized with DINOv2's recipe (interpolate_pos_encoding): bicubic,
 * A = -0.75, scale factor (g + 0.1) / M, so output index d samples source
 * (d + 0.5) * M / (g + 0.1) - 0.5, taps clamped to the grid, align_corners
 * off, no antialias. timm instead resizes once to g x g with antialias,
 * which gives slightly different features; DINOv2's is what its reported
 * numbers use. For a non-square grid each axis uses its own size (DINOv2's
 * code swaps the two there; square grids, the usual case, are identical). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

/* Images run through the blocks this many at a time, which bounds the
 * activations (ViT-B/16 at 224 px: about 80 MB) whatever the batch. */
#define VIT_CHUNK 16
#define MAX_WEIGHTS 512

enum { NAMES_TIMM, NAMES_HF_VIT, NAMES_HF_DINOV2 };

/* Hugging Face transformers' names, a table: the model-level tensors, then
 * each block's (ViTModel's, and Dinov2Model's, which has LayerScale). timm's
 * fused attn.qkv is stored split there: attention.attention.{query, key,
 * value}, three row blocks of ours (see load_qkv). */
static const char *const hf_top[][2] = {
    {"cls_token", "embeddings.cls_token"},
    {"pos_embed", "embeddings.position_embeddings"},
    {"patch_embed.proj.weight", "embeddings.patch_embeddings.projection.weight"},
    {"patch_embed.proj.bias", "embeddings.patch_embeddings.projection.bias"},
    {"norm.weight", "layernorm.weight"},
    {"norm.bias", "layernorm.bias"},
};
static const char *const hf_block[][3] = { /* timm, ViTModel, Dinov2Model */
    {"norm1", "layernorm_before", "norm1"},
    {"norm2", "layernorm_after", "norm2"},
    {"attn.proj", "attention.output.dense", "attention.output.dense"},
    {"mlp.fc1", "intermediate.dense", "mlp.fc1"},
    {"mlp.fc2", "output.dense", "mlp.fc2"},
    {"ls1.gamma", "layer_scale1.lambda1", "layer_scale1.lambda1"},
    {"ls2.gamma", "layer_scale2.lambda1", "layer_scale2.lambda1"},
};

typedef struct vit {
    char *checkpoint;
    int patch, depth, dim, heads, hidden, layerscale, interp_dinov2;
    double eps; /* LayerNorm's */

    /* weights, as the checkpoint holds them (matrices viewed 2-D) */
    unic_tensor *weights[MAX_WEIGHTS];
    int nweights;
    char **loaded; /* the checkpoint's names of what was read, for report_unused_tensors */
    int nloaded;
    int naming;       /* NAMES_TIMM, NAMES_HF_VIT or NAMES_HF_DINOV2 */
    char prefix[16];  /* before Hugging Face names: "", "vit." or "dinov2." */
    unic_tensor *patch_w, *patch_b, *cls, *pos_ckpt, *norm_w, *norm_b;
    int grid_ckpt; /* pos_embed's grid is grid_ckpt x grid_ckpt */
    unic_block *blocks; /* [depth]: weights, and gradients where they train */

    /* set by open: the input's geometry and its positional embeddings */
    int64_t height, width;
    int gh, gw, tokens;
    unic_tensor *pos; /* [tokens, dim] */

    /* where weights and activations live (device = cuda: the GPU; images
     * arrive and embeddings leave through the host) */
    unic_device dev;

    /* activations for up to `cap` images: the blocks' work buffers (every
     * block's forward uses them in turn) and the stages around the blocks */
    int64_t cap;
    unic_block_activations *work;
    unic_tensor *cols_host, *cols, *patches, *x, *ln, *cls_rows;

    /* finetune = last_block: the last block and the final norm train; full:
     * everything. Their gradients, as parameters() reports them (timm
     * names), and what the trained blocks' forward keeps for the whole batch
     * (`saved` images); the frozen blocks before them keep nothing. */
    int last_block, full;
    int training; /* set_training: forwards keep the trained blocks' activations */
    int first_trained; /* the first block that trains: depth (frozen), depth - 1, or 0 */
    int nparams;
    unic_param_tensor *params;
    char (*names)[96];
    unic_tensor **grads;
    int64_t saved, batch; /* capacity, and the images of the last forward */
    unic_block_activations **kept; /* [depth - first_trained]: block first_trained + i's */
    unic_block_activations *bwork; /* the blocks' backward work buffers, for the batch */
    unic_tensor *s_xout;  /* the final norm's input, CLS rows */
    unic_tensor *s_xall;  /* forward_tokens: the final norm's input, every row */
    int batch_tokens;     /* the last training forward was forward_tokens */
    unic_tensor *s_cols;  /* full: the patch embedding's im2col for the batch */
    /* backward's own buffers, sized with the saved activations: d(tokens)
     * through the blocks, d(CLS rows) and d(every row) before the final
     * norm (g_tok, for backward_tokens, allocated with s_xall), d(embedding) */
    unic_tensor *g_x, *g_cls, *g_tok, *g_patch, *g_emb;
    unic_tensor *ones_n, *g_pos, *g_pos_host; /* full: d(pos) summed over the images */
} vit;

static const unic_param_spec params[] = {
    {"checkpoint", UNIC_STRING, "",
     "path of a .safetensors checkpoint with timm / DINO names (required)", NULL},
    {"patch", UNIC_INT, "16", "patch size in pixels", "1..4096"},
    {"depth", UNIC_INT, "12", "number of transformer blocks", "1..1024"},
    {"dim", UNIC_INT, "768", "embedding width (the embedding size)", "1..65536"},
    {"heads", UNIC_INT, "12", "attention heads (dim must be a multiple)", "1..1024"},
    {"mlp_ratio", UNIC_INT, "4", "MLP hidden width over dim", "1..64"},
    {"layerscale", UNIC_BOOL, "false", "blocks have DINOv2's ls1.gamma / ls2.gamma", NULL},
    {"norm_eps", UNIC_FLOAT, "1e-6",
     "LayerNorm epsilon: 1e-6 as timm, DINO and DINOv2 train with (Hugging Face's ViT configs "
     "say 1e-12: set it to match transformers' outputs exactly)", NULL},
    {"pos_interp", UNIC_CHOICE, "dinov2",
     "pos_embed for another patch grid than the checkpoint's: DINOv2's bicubic recipe, or refuse",
     "dinov2|none"},
    {"device", UNIC_CHOICE, "cpu",
     "where the backbone runs: cpu, or cuda (weights and activations on the GPU; pos_embed "
     "and its interpolation stay on the host)", "cpu|cuda"},
    {"finetune", UNIC_CHOICE, "frozen",
     "which weights train: frozen (none: the dataset is embedded once), last_block (the last "
     "transformer block and the final norm) or full (every parameter: cls_token, pos_embed, the "
     "patch embedding, every block and the final norm; keeps every block's activations)",
     "frozen|last_block|full"},
    {NULL},
};

/* ---- loading ------------------------------------------------------------ */

/* The checkpoint's name for timm's `name` (buf when it differs). */
static const char *ck_name(const vit *x, const char *name, char *buf, size_t len)
{
    if (x->naming == NAMES_TIMM) return name;
    for (size_t i = 0; i < sizeof hf_top / sizeof hf_top[0]; i++)
        if (strcmp(name, hf_top[i][0]) == 0) {
            snprintf(buf, len, "%s%s", x->prefix, hf_top[i][1]);
            return buf;
        }
    int block, at = 0;
    if (sscanf(name, "blocks.%d.%n", &block, &at) != 1 || at == 0) return name;
    const char *rest = name + at;
    for (size_t i = 0; i < sizeof hf_block / sizeof hf_block[0]; i++) {
        size_t k = strlen(hf_block[i][0]);
        if (strncmp(rest, hf_block[i][0], k) == 0 && (rest[k] == '.' || rest[k] == 0)) {
            snprintf(buf, len, "%sencoder.layer.%d.%s%s", x->prefix, block,
                     hf_block[i][x->naming == NAMES_HF_VIT ? 1 : 2], rest + k);
            return buf;
        }
    }
    return name;
}

/* Reads timm's tensor `name` (under its checkpoint name) into dst. */
static int read_into(vit *x, const char *name, float *dst, const int64_t *shape, int ndim,
                     char *err, size_t errlen)
{
    char buf[160];
    const char *actual = ck_name(x, name, buf, sizeof buf);
    x->loaded = realloc(x->loaded, sizeof *x->loaded * (size_t)(x->nloaded + 1));
    x->loaded[x->nloaded++] = strdup(actual);
    return unic->load_tensor_f32(x->checkpoint, actual, dst, shape, ndim, err, errlen);
}

/* A weight tensor of rows x cols (cols = 0: a vector), freed with the model. */
static unic_tensor *new_weight(vit *x, int64_t rows, int64_t cols, char *err, size_t errlen)
{
    if (x->nweights == MAX_WEIGHTS) {
        snprintf(err, errlen, "%s: more than %d tensors to load (depth too large)", x->checkpoint,
                 MAX_WEIGHTS);
        return NULL;
    }
    int64_t flat[2] = {rows, cols};
    return x->weights[x->nweights++] = unic->tensor_new(UNIC_CPU, cols ? 2 : 1, flat);
}

/* Allocates a tensor of the file's shape, fills it from the checkpoint, and
 * views it as rows x cols (cols = 0: one dimension of rows). */
static unic_tensor *load(vit *x, const char *name, int ndim, const int64_t *shape, int64_t rows,
                         int64_t cols, char *err, size_t errlen)
{
    unic_tensor *t = new_weight(x, rows, cols, err, errlen);
    return t && read_into(x, name, t->data, shape, ndim, err, errlen) == 0 ? t : NULL;
}

static unic_tensor *load_vec(vit *x, const char *name, int64_t n, char *err, size_t errlen)
{
    return load(x, name, 1, &n, n, 0, err, errlen);
}

static unic_tensor *load_mat(vit *x, const char *name, int64_t rows, int64_t cols, char *err,
                             size_t errlen)
{
    int64_t shape[2] = {rows, cols};
    return load(x, name, 2, shape, rows, cols, err, errlen);
}

/* A block's tensor name, "blocks.<i>.<what>". */
static const char *bname(char *buf, size_t len, int i, const char *what)
{
    snprintf(buf, len, "blocks.%d.%s", i, what);
    return buf;
}

/* Whether the checkpoint holds timm's tensor `name` (under its own naming). */
static int has_tensor(const vit *x, const char *name)
{
    int64_t shape[8];
    char ignored[512], buf[160];
    return unic->tensor_shape(x->checkpoint, ck_name(x, name, buf, sizeof buf), shape, 8, ignored,
                              sizeof ignored) >= 0;
}

/* timm / DINO / DINOv2 names, or Hugging Face's (ViTModel or Dinov2Model,
 * bare or under the prefix of their ForImageClassification wrappers). */
static int detect_naming(vit *x, char *err, size_t errlen)
{
    x->naming = NAMES_TIMM;
    if (has_tensor(x, "pos_embed")) return 0;
    static const char *const prefixes[] = {"", "vit.", "dinov2."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        snprintf(x->prefix, sizeof x->prefix, "%s", prefixes[i]);
        x->naming = NAMES_HF_VIT;
        if (!has_tensor(x, "pos_embed")) continue;
        char dinov2[64];
        snprintf(dinov2, sizeof dinov2, "%sencoder.layer.0.norm1.weight", x->prefix);
        x->naming = NAMES_TIMM; /* to probe that name as it is */
        int is_dinov2 = has_tensor(x, dinov2);
        x->naming = is_dinov2 ? NAMES_HF_DINOV2 : NAMES_HF_VIT;
        return 0;
    }
    x->naming = NAMES_TIMM;
    x->prefix[0] = 0;
    snprintf(err, errlen, "%s: neither timm / DINO names ('pos_embed') nor Hugging Face ones "
             "('embeddings.position_embeddings', possibly under 'vit.' or 'dinov2.'): is it a "
             "ViT checkpoint? (tools/convert_checkpoint.py converts official .pth files)",
             x->checkpoint);
    return -1;
}

/* attn.qkv.<kind> of block i: [3 d, d] weight or [3 d] bias; Hugging Face
 * files hold it as query, key and value, our row blocks 0, 1 and 2. */
static unic_tensor *load_qkv(vit *x, int i, const char *kind, int64_t d, char *err, size_t errlen)
{
    char n[96], what[32];
    int is_w = strcmp(kind, "weight") == 0;
    snprintf(what, sizeof what, "attn.qkv.%s", kind);
    if (x->naming == NAMES_TIMM)
        return is_w ? load_mat(x, bname(n, sizeof n, i, what), 3 * d, d, err, errlen)
                    : load_vec(x, bname(n, sizeof n, i, what), 3 * d, err, errlen);
    unic_tensor *t = new_weight(x, 3 * d, is_w ? d : 0, err, errlen);
    if (!t) return NULL;
    static const char *const part[3] = {"query", "key", "value"};
    int64_t shape[2] = {d, d}, per = is_w ? d * d : d;
    for (int j = 0; j < 3; j++) {
        snprintf(n, sizeof n, "%sencoder.layer.%d.attention.attention.%s.%s", x->prefix, i,
                 part[j], kind);
        if (read_into(x, n, t->data + j * per, shape, is_w ? 2 : 1, err, errlen) != 0)
            return NULL;
    }
    return t;
}

static int load_block(vit *x, int i, unic_block *b, char *err, size_t errlen)
{
    char n[96];
    int64_t d = x->dim, h = x->hidden;
    *b = (unic_block){.dim = x->dim, .heads = x->heads, .hidden = x->hidden, .eps = (float)x->eps};
#define L(field, expr) \
    if (!(b->w.field = (expr))) return -1
    L(norm1_w, load_vec(x, bname(n, sizeof n, i, "norm1.weight"), d, err, errlen));
    L(norm1_b, load_vec(x, bname(n, sizeof n, i, "norm1.bias"), d, err, errlen));
    L(qkv_w, load_qkv(x, i, "weight", d, err, errlen));
    L(qkv_b, load_qkv(x, i, "bias", d, err, errlen));
    L(proj_w, load_mat(x, bname(n, sizeof n, i, "attn.proj.weight"), d, d, err, errlen));
    L(proj_b, load_vec(x, bname(n, sizeof n, i, "attn.proj.bias"), d, err, errlen));
    L(norm2_w, load_vec(x, bname(n, sizeof n, i, "norm2.weight"), d, err, errlen));
    L(norm2_b, load_vec(x, bname(n, sizeof n, i, "norm2.bias"), d, err, errlen));
    L(fc1_w, load_mat(x, bname(n, sizeof n, i, "mlp.fc1.weight"), h, d, err, errlen));
    L(fc1_b, load_vec(x, bname(n, sizeof n, i, "mlp.fc1.bias"), h, err, errlen));
    L(fc2_w, load_mat(x, bname(n, sizeof n, i, "mlp.fc2.weight"), d, h, err, errlen));
    L(fc2_b, load_vec(x, bname(n, sizeof n, i, "mlp.fc2.bias"), d, err, errlen));
    if (x->layerscale) {
        L(ls1, load_vec(x, bname(n, sizeof n, i, "ls1.gamma"), d, err, errlen));
        L(ls2, load_vec(x, bname(n, sizeof n, i, "ls2.gamma"), d, err, errlen));
    }
#undef L
    return 0;
}

static void free_activations(vit *x)
{
    if (x->cols == x->cols_host) x->cols = NULL; /* one tensor on the CPU */
    unic->block_activations_free(x->work);
    x->work = NULL;
    unic_tensor **all[] = {&x->cols_host, &x->cols, &x->patches, &x->x, &x->ln, &x->cls_rows};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (*all[i]) unic->tensor_free(*all[i]);
        *all[i] = NULL;
    }
    x->cap = 0;
}

static void free_saved(vit *x)
{
    unic_tensor **all[] = {&x->s_xout, &x->s_xall,   &x->s_cols, &x->g_x,   &x->g_cls,
                           &x->g_tok,  &x->g_patch,  &x->g_emb,  &x->ones_n, &x->g_pos,
                           &x->g_pos_host};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (*all[i]) unic->tensor_free(*all[i]);
        *all[i] = NULL;
    }
    for (int b = 0; x->kept && b < x->depth - x->first_trained; b++) {
        unic->block_activations_free(x->kept[b]);
        x->kept[b] = NULL;
    }
    unic->block_activations_free(x->bwork);
    x->bwork = NULL;
    x->saved = 0;
}

static void destroy(void *self)
{
    vit *x = self;
    if (!x) return;
    free_activations(x);
    free_saved(x);
    for (int i = 0; i < x->nparams; i++) unic->tensor_free(x->grads[i]);
    free(x->params);
    free(x->names);
    free(x->grads);
    free(x->kept);
    if (x->pos) unic->tensor_free(x->pos);
    for (int i = 0; i < x->nweights; i++) unic->tensor_free(x->weights[i]);
    for (int i = 0; i < x->nloaded; i++) free(x->loaded[i]);
    free(x->loaded);
    free(x->blocks);
    free(x->checkpoint);
    free(x);
}

/* Loads everything in create, so a wrong checkpoint fails before any data is read. */
static int load_all(vit *x, char *err, size_t errlen)
{
    const char *ck = x->checkpoint;
    int64_t d = x->dim, p = x->patch;

    if (detect_naming(x, err, errlen) != 0) return -1;
    int64_t pshape[8] = {0};
    char buf[160];
    const char *pos_name = ck_name(x, "pos_embed", buf, sizeof buf);
    int nd = unic->tensor_shape(ck, pos_name, pshape, 8, err, errlen);
    if (nd < 0) return -1;
    int64_t n = nd == 3 ? pshape[1] - 1 : -1;
    int g = n > 0 ? (int)llround(sqrt((double)n)) : 0;
    if (nd != 3 || pshape[0] != 1 || pshape[2] != d || (int64_t)g * g != n) {
        char have[160];
        int off = snprintf(have, sizeof have, "[");
        for (int i = 0; i < nd && off < (int)sizeof have; i++)
            off += snprintf(have + off, sizeof have - (size_t)off, "%s%lld", i ? ", " : "",
                            (long long)pshape[i]);
        snprintf(err, errlen, "%s: tensor '%s' has shape %s%s, expected [1, 1 + g * g, %d] "
                 "(a CLS token and a square grid; dim = %d)", ck, pos_name, have,
                 off < (int)sizeof have ? "]" : "", x->dim, x->dim);
        return -1;
    }
    x->grid_ckpt = g;
    int64_t pos_shape[3] = {1, 1 + n, d}, cls_shape[3] = {1, 1, d}, pw_shape[4] = {d, 3, p, p};
    if (!(x->pos_ckpt = load(x, "pos_embed", 3, pos_shape, 1 + n, d, err, errlen))) return -1;
    if (!(x->cls = load(x, "cls_token", 3, cls_shape, 1, d, err, errlen))) return -1;
    if (!(x->patch_w = load(x, "patch_embed.proj.weight", 4, pw_shape, d, 3 * p * p, err, errlen)))
        return -1;
    if (!(x->patch_b = load_vec(x, "patch_embed.proj.bias", d, err, errlen))) return -1;
    x->blocks = calloc((size_t)x->depth, sizeof *x->blocks);
    for (int i = 0; i < x->depth; i++)
        if (load_block(x, i, &x->blocks[i], err, errlen) != 0) return -1;
    if (!(x->norm_w = load_vec(x, "norm.weight", d, err, errlen))) return -1;
    if (!(x->norm_b = load_vec(x, "norm.bias", d, err, errlen))) return -1;

    /* A checkpoint with more blocks, or with LayerScale the config leaves
     * out, would otherwise load "fine" and give wrong features. */
    char name[96];
    if (has_tensor(x, bname(name, sizeof name, x->depth, "norm1.weight"))) {
        snprintf(err, errlen, "%s: has a tensor '%s' beyond depth = %d: set depth to the "
                 "checkpoint's number of blocks", ck, name, x->depth);
        return -1;
    }
    if (!x->layerscale && has_tensor(x, "blocks.0.ls1.gamma")) {
        snprintf(err, errlen, "%s: has LayerScale ('blocks.0.ls1.gamma', DINOv2): set "
                 "layerscale = true", ck);
        return -1;
    }
    unic->report_unused_tensors(ck, (const char *const *)x->loaded, x->nloaded, "vit");
    return 0;
}

/* Moves every weight to x->dev in place (each tensor keeps its address, so
 * the blocks' pointers stay valid), but pos_embed: the bicubic
 * interpolation (and its transpose, with finetune = full) reads it on the
 * host, and the interpolated copy goes to the device. */
static void move_weights(vit *x)
{
    for (int i = 0; i < x->nweights; i++)
        if (x->weights[i] != x->pos_ckpt) unic->tensor_move(x->weights[i], x->dev);
}

/* The trainable tensors, timm's names and order (named_parameters); returns
 * the gradient it allocates. */
static unic_tensor *add_param(vit *x, const char *name, unic_tensor *value)
{
    int i = x->nparams++;
    snprintf(x->names[i], sizeof x->names[i], "%s", name);
    x->grads[i] = unic->tensor_new(value->device, value->ndim, value->shape);
    x->params[i] = (unic_param_tensor){x->names[i], value, x->grads[i]};
    return x->grads[i];
}

static void setup_trainable(vit *x)
{
    int cap = 4 + 14 * x->depth + 2;
    x->params = calloc((size_t)cap, sizeof *x->params);
    x->names = calloc((size_t)cap, sizeof *x->names);
    x->grads = calloc((size_t)cap, sizeof *x->grads);
    x->kept = calloc((size_t)(x->depth - x->first_trained), sizeof *x->kept);
    if (x->full) {
        add_param(x, "cls_token", x->cls);
        add_param(x, "pos_embed", x->pos_ckpt);
        add_param(x, "patch_embed.proj.weight", x->patch_w);
        add_param(x, "patch_embed.proj.bias", x->patch_b);
    }
    for (int i = x->first_trained; i < x->depth; i++)
        for (int k = 0; k < UNIC_BLOCK_TENSORS; k++) {
            unic_tensor *w = *unic_block_tensor(&x->blocks[i].w, k);
            char n[96];
            if (w) /* ls1 / ls2 only with LayerScale */
                *unic_block_tensor(&x->blocks[i].g, k) =
                    add_param(x, bname(n, sizeof n, i, unic_block_tensor_name(k)), w);
        }
    add_param(x, "norm.weight", x->norm_w);
    add_param(x, "norm.bias", x->norm_b);
}

static void *create(const unic_params *p, char *err, size_t errlen)
{
    const char *ck = unic->param_str(p, "checkpoint");
    if (!ck || !*ck) {
        snprintf(err, errlen, "checkpoint is required: the path of a .safetensors file with timm / "
                 "DINO tensor names");
        return NULL;
    }
    vit *x = calloc(1, sizeof *x);
    x->checkpoint = malloc(strlen(ck) + 1);
    strcpy(x->checkpoint, ck);
    x->patch = (int)unic->param_int(p, "patch");
    x->depth = (int)unic->param_int(p, "depth");
    x->dim = (int)unic->param_int(p, "dim");
    x->heads = (int)unic->param_int(p, "heads");
    long ratio = unic->param_int(p, "mlp_ratio");
    x->layerscale = unic->param_bool(p, "layerscale");
    x->eps = unic->param_float(p, "norm_eps");
    x->interp_dinov2 = strcmp(unic->param_str(p, "pos_interp"), "dinov2") == 0;
    if (x->patch < 1 || x->depth < 1 || x->dim < 1 || x->heads < 1 || ratio < 1) {
        snprintf(err, errlen, "patch, depth, dim, heads and mlp_ratio must be positive");
        destroy(x);
        return NULL;
    }
    if (x->dim % x->heads != 0) {
        snprintf(err, errlen, "dim = %d is not a multiple of heads = %d", x->dim, x->heads);
        destroy(x);
        return NULL;
    }
    x->hidden = (int)(x->dim * ratio);
    const char *ft = unic->param_str(p, "finetune");
    x->last_block = strcmp(ft, "last_block") == 0;
    x->full = strcmp(ft, "full") == 0;
    x->dev = strcmp(unic->param_str(p, "device"), "cuda") == 0 ? UNIC_CUDA : UNIC_CPU;
    if (x->dev == UNIC_CUDA && !unic->cuda_available()) {
        snprintf(err, errlen, "device = cuda, but no CUDA GPU is visible (or unic was built "
                 "without CUDA): use device = cpu");
        destroy(x);
        return NULL;
    }
    if (load_all(x, err, errlen) != 0) {
        destroy(x);
        return NULL;
    }
    if (x->dev != UNIC_CPU) move_weights(x);
    x->first_trained = x->full ? 0 : x->last_block ? x->depth - 1 : x->depth;
    if (x->last_block || x->full) setup_trainable(x);
    return x;
}

/* ---- positional embeddings ---------------------------------------------- */

/* PyTorch's cubic convolution weights (A = -0.75) for fraction t. */
static void cubic_weights(double t, double w[4])
{
    const double a = -0.75;
    double t1 = t + 1, t2 = 1 - t, t3 = 2 - t;
    w[0] = ((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a;
    w[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
    w[2] = ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1;
    w[3] = ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a;
}

/* Row d of the 1-D resampling matrix from m to g samples: r[g * m]. */
static void resample_matrix(int m, int g, double *r)
{
    memset(r, 0, sizeof(double) * (size_t)g * (size_t)m);
    for (int d = 0; d < g; d++) {
        double s = (d + 0.5) * m / (g + 0.1) - 0.5; /* DINOv2's scale factor, not m / g */
        double f = floor(s), w[4];
        cubic_weights(s - f, w);
        for (int k = 0; k < 4; k++) {
            int i = (int)f - 1 + k;
            i = i < 0 ? 0 : i >= m ? m - 1 : i;
            r[(size_t)d * m + i] += w[k];
        }
    }
}

static void interpolate_pos(vit *x, float *dst)
{
    int m = x->grid_ckpt, gh = x->gh, gw = x->gw, d = x->dim;
    double *rh = malloc(sizeof(double) * (size_t)gh * m);
    double *rw = malloc(sizeof(double) * (size_t)gw * m);
    resample_matrix(m, gh, rh);
    resample_matrix(m, gw, rw);
    const float *src = x->pos_ckpt->data + d; /* the grid, after the CLS entry */
    memcpy(dst, x->pos_ckpt->data, sizeof(float) * (size_t)d);
#pragma omp parallel for collapse(2)
    for (int y = 0; y < gh; y++)
        for (int xx = 0; xx < gw; xx++) {
            float *out = dst + (size_t)(1 + y * gw + xx) * d;
            for (int c = 0; c < d; c++) {
                double acc = 0;
                for (int i = 0; i < m; i++) {
                    double wy = rh[(size_t)y * m + i];
                    if (wy == 0) continue;
                    double row = 0;
                    for (int j = 0; j < m; j++)
                        row += rw[(size_t)xx * m + j] * src[(size_t)(i * m + j) * d + c];
                    acc += wy * row;
                }
                out[c] = (float)acc;
            }
        }
    free(rh);
    free(rw);
}

/* The positional embeddings for the input's grid from the checkpoint's
 * (again before every forward with finetune = full, where pos_embed trains). */
static void refresh_pos(vit *x)
{
    if (x->gh == x->grid_ckpt && x->gw == x->grid_ckpt) {
        unic->tensor_copy(x->pos, x->pos_ckpt);
    } else if (x->dev == UNIC_CPU) {
        interpolate_pos(x, x->pos->data);
    } else { /* interpolated on the host (pos_embed stays there), then copied */
        unic_tensor *host = unic->tensor_new(UNIC_CPU, 2, x->pos->shape);
        interpolate_pos(x, host->data);
        unic->tensor_copy(x->pos, host);
        unic->tensor_free(host);
    }
}

static int open_input(void *self, const unic_input_info *in, int *embed_dim, char *err,
                      size_t errlen)
{
    vit *x = self;
    if (in->ndim != 3 || in->shape[0] != 3) {
        snprintf(err, errlen, "%s: the vit backbone expects RGB images (N x 3 x H x W), got items "
                 "of %d dimensions%s", in->source, in->ndim,
                 in->ndim == 3 ? " with other than 3 channels" : "");
        return -1;
    }
    int64_t h = in->shape[1], w = in->shape[2];
    if (h % x->patch || w % x->patch || h < x->patch || w < x->patch) {
        snprintf(err, errlen, "%s: images of %lld x %lld are not a multiple of patch = %d: resize "
                 "or crop them (e.g. 224 for patch 16, 224 or 518 for patch 14)", in->source,
                 (long long)h, (long long)w, x->patch);
        return -1;
    }
    int gh = (int)(h / x->patch), gw = (int)(w / x->patch), m = x->grid_ckpt;
    if ((gh != m || gw != m) && !x->interp_dinov2) {
        snprintf(err, errlen, "%s: %lld x %lld images give a %d x %d patch grid but %s was trained "
                 "on %d x %d (pos_interp = none): use %d px images or pos_interp = dinov2",
                 in->source, (long long)h, (long long)w, gh, gw, x->checkpoint, m, m,
                 m * x->patch);
        return -1;
    }
    free_activations(x);
    free_saved(x);
    if (x->pos) unic->tensor_free(x->pos);
    x->height = h;
    x->width = w;
    x->gh = gh;
    x->gw = gw;
    x->tokens = 1 + gh * gw;
    int64_t shape[2] = {x->tokens, x->dim};
    x->pos = unic->tensor_new(x->dev, 2, shape);
    refresh_pos(x);
    *embed_dim = x->dim;
    return 0;
}

/* ---- forward ------------------------------------------------------------ */

static unic_tensor *mat(const vit *x, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return unic->tensor_new(x->dev, 2, shape);
}

/* Grows the activations to hold `images` images; a smaller batch uses views.
 * The patch im2col is built on the host (where the images arrive) and, on a
 * GPU, copied over once per chunk. */
static void ensure_activations(vit *x, int64_t images)
{
    if (images <= x->cap) return;
    free_activations(x);
    int64_t g = (int64_t)x->gh * x->gw, rows = images * x->tokens;
    int64_t shape[2] = {images * g, 3LL * x->patch * x->patch};
    x->cols_host = unic->tensor_new(UNIC_CPU, 2, shape);
    x->cols = x->dev == UNIC_CPU ? x->cols_host : mat(x, shape[0], shape[1]);
    x->patches = mat(x, images * g, x->dim);
    x->x = mat(x, rows, x->dim);
    x->ln = mat(x, rows, x->dim);
    x->cls_rows = mat(x, images, x->dim);
    x->work = unic->block_activations_new(&x->blocks[0], rows, x->tokens, 0);
    x->cap = images;
}

/* Grows what the trained blocks keep (and backward's buffers) to `images`. */
static void ensure_saved(vit *x, int64_t images)
{
    if (images <= x->saved) return;
    free_saved(x);
    int64_t rows = images * x->tokens, d = x->dim, t = x->tokens;
    int64_t g = (int64_t)x->gh * x->gw;
    for (int i = 0; i < x->depth - x->first_trained; i++)
        x->kept[i] = unic->block_activations_new(&x->blocks[x->first_trained + i], rows, t, 1);
    x->bwork = unic->block_activations_new(&x->blocks[0], rows, t, 0);
    x->s_xout = mat(x, images, d);
    if (x->full) {
        x->s_cols = mat(x, images * g, 3LL * x->patch * x->patch);
        x->g_patch = mat(x, images * g, d);
        unic_tensor *ones = unic->tensor_new(UNIC_CPU, 2, (int64_t[]){1, images});
        for (int64_t i = 0; i < images; i++) ones->data[i] = 1.0f;
        x->ones_n = mat(x, 1, images);
        unic->tensor_copy(x->ones_n, ones);
        unic->tensor_free(ones);
        x->g_pos = mat(x, 1, t * d);
        x->g_pos_host = unic->tensor_new(UNIC_CPU, 2, (int64_t[]){1, t * d});
    }
    x->g_x = mat(x, rows, d);
    x->g_cls = mat(x, images, d);
    x->g_emb = mat(x, images, d);
    x->saved = images;
}

/* input: `images` images [3, H, W] (host) -> emb [images, dim] or every
 * token, tok [images * T, dim] (host); `first` is the chunk's first image
 * in the batch (where training keeps its activations). */
static void forward_chunk(vit *x, const float *input, int64_t images, int64_t first, float *emb,
                          float *tok, int train)
{
    int p = x->patch, gh = x->gh, gw = x->gw, d = x->dim, t = x->tokens;
    int64_t g = (int64_t)gh * gw, rows = images * t, H = x->height, W = x->width;
    int64_t kcols = 3LL * p * p;

    /* patch embedding: im2col in the weight's (c, ky, kx) order, then GEMM */
#pragma omp parallel for collapse(2)
    for (int64_t b = 0; b < images; b++)
        for (int64_t cell = 0; cell < g; cell++) {
            int64_t gy = cell / gw, gx = cell % gw;
            float *col = x->cols_host->data + (b * g + cell) * kcols;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < p; ky++)
                    memcpy(col + ((int64_t)c * p + ky) * p,
                           input + ((b * 3 + c) * H + gy * p + ky) * W + gx * p, sizeof(float) * p);
        }
    unic_tensor cols = unic_rows(x->cols, 0, images * g);
    if (x->cols != x->cols_host) {
        unic_tensor host = unic_rows(x->cols_host, 0, images * g);
        unic->tensor_copy(&cols, &host);
    }
    unic_tensor patches = unic_rows(x->patches, 0, images * g);
    unic->linear_forward(&patches, &cols, x->patch_w, x->patch_b);
    if (train && x->full) {
        unic_tensor keep = unic_rows(x->s_cols, first * g, images * g);
        unic->tensor_copy(&keep, &cols);
    }

    /* tokens: CLS then the grid row-major, plus positional embeddings */
    for (int64_t b = 0; b < images; b++) {
        unic_tensor cls = unic_rows(x->x, b * t, 1), grid = unic_rows(x->x, b * t + 1, g);
        unic_tensor from = unic_rows(&patches, b * g, g), all = unic_rows(x->x, b * t, t);
        unic->tensor_copy(&cls, x->cls);
        unic->tensor_copy(&grid, &from);
        unic->add(&all, x->pos, 1.0f);
    }

    /* the blocks; in training the trained ones keep their activations at
     * this chunk's rows of the batch, the frozen ones before them nothing */
    unic_tensor xs = unic_rows(x->x, 0, rows), ln = unic_rows(x->ln, 0, rows);
    for (int i = 0; i < x->depth; i++) {
        int trains = train && i >= x->first_trained;
        unic->block_forward(&xs, &x->blocks[i], trains ? x->kept[i - x->first_trained] : NULL,
                            first * t, x->work);
    }
    if (tok) { /* every token after the final norm, for heads that take tokens */
        if (train) {
            unic_tensor keep = unic_rows(x->s_xall, first * t, rows);
            unic->tensor_copy(&keep, &xs);
        }
        unic->layer_norm_forward(&ln, &xs, x->norm_w, x->norm_b, x->eps);
        unic_tensor out = {tok, {rows, d}, 2, UNIC_CPU};
        unic->tensor_copy(&out, &ln);
        return;
    }
    /* the embedding: each image's CLS token after the final norm */
    unic_tensor cls = unic_rows(x->cls_rows, 0, images), normed = unic_rows(x->ln, 0, images);
    for (int64_t b = 0; b < images; b++) {
        unic_tensor from = unic_rows(&xs, b * t, 1), to = unic_rows(&cls, b, 1);
        unic->tensor_copy(&to, &from);
    }
    if (train) { /* the final norm's input */
        unic_tensor keep = unic_rows(x->s_xout, first, images);
        unic->tensor_copy(&keep, &cls);
    }
    unic->layer_norm_forward(&normed, &cls, x->norm_w, x->norm_b, x->eps);
    unic_tensor out = {emb, {images, d}, 2, UNIC_CPU};
    unic->tensor_copy(&out, &normed);
}

/* The CLS embeddings (emb) or every token (tok, [n, T, dim]) of the images. */
static void run_forward(vit *x, const unic_tensor *input, float *emb, float *tok)
{
    int64_t n = input->shape[0], per = 3 * x->height * x->width, td = (int64_t)x->tokens * x->dim;
    int train = x->nparams && x->training;
    ensure_activations(x, n < VIT_CHUNK ? n : VIT_CHUNK);
    if (train) ensure_saved(x, n);
    if (train && tok && !x->s_xall) {
        x->s_xall = mat(x, x->saved * x->tokens, x->dim);
        x->g_tok = mat(x, x->saved * x->tokens, x->dim);
    }
    if (x->full) refresh_pos(x);
    x->batch = train ? n : 0; /* what backward may differentiate */
    x->batch_tokens = tok != NULL;
    for (int64_t b0 = 0; b0 < n; b0 += VIT_CHUNK) {
        int64_t nb = n - b0 < VIT_CHUNK ? n - b0 : VIT_CHUNK;
        forward_chunk(x, input->data + b0 * per, nb, b0, emb ? emb + b0 * x->dim : NULL,
                      tok ? tok + b0 * td : NULL, train);
    }
}

static void forward(void *self, const unic_tensor *input, unic_tensor *emb)
{
    run_forward(self, input, emb->data, NULL);
}

static int token_count(void *self) { return ((vit *)self)->tokens; }

static void forward_tokens(void *self, const unic_tensor *input, unic_tensor *tokens)
{
    run_forward(self, input, NULL, tokens->data);
}

static void set_training(void *self, int training) { ((vit *)self)->training = training; }

/* ---- backward (finetune = last_block or full) --------------------------- */

static unic_tensor *grad_of(vit *x, const unic_tensor *value)
{
    for (int i = 0; i < x->nparams; i++)
        if (x->params[i].value == value) return x->grads[i];
    return NULL;
}

/* The trained blocks' backward, the last first: dx holds d(the last block's
 * output) and ends as d(the first trained block's input), which only full
 * goes on with. */
static void blocks_backward(vit *x, unic_tensor *dx)
{
    for (int i = x->depth - 1; i >= x->first_trained; i--)
        unic->block_backward(dx, &x->blocks[i], x->kept[i - x->first_trained], x->bwork,
                             x->full || i > x->first_trained);
}

/* full: from d(tokens before block 0) to the patch embedding, cls_token and
 * pos_embed; when open resized the grid, the grid's gradient goes back
 * through the bicubic weights (the transpose of interpolate_pos). */
static void embed_backward(vit *x, int64_t n, const unic_tensor *dx)
{
    int d = x->dim, t = x->tokens, m = x->grid_ckpt, gh = x->gh, gw = x->gw;
    int64_t g = (int64_t)gh * gw;
    /* d(pos) = the tokens' gradient summed over the images: ones [1, n] x
     * dx [n, T d], where dx lives; pos_embed's own gradient is on the host */
    unic_tensor ones = unic_rows(x->ones_n, 0, 1), all = {dx->data, {n, (int64_t)t * d}, 2, x->dev};
    ones.shape[1] = n;
    unic_tensor sum = {x->g_pos->data, {1, (int64_t)t * d}, 2, x->dev};
    unic->gemm(0, 0, 1.0f, &ones, &all, 0.0f, &sum);
    unic_tensor cls_sum = {x->g_pos->data, {1, d}, 2, x->dev};
    unic->add(grad_of(x, x->cls), &cls_sum, 1.0f);
    unic_tensor host = {x->g_pos_host->data, {1, (int64_t)t * d}, 2, UNIC_CPU};
    unic->tensor_copy(&host, &sum);
    float *dpos_ck = grad_of(x, x->pos_ckpt)->data;
    const float *dpos = x->g_pos_host->data;
    unic_tensor dp = unic_rows(x->g_patch, 0, n * g), cols = unic_rows(x->s_cols, 0, n * g);
    for (int64_t b = 0; b < n; b++) {
        unic_tensor from = unic_rows(dx, b * t + 1, g), to = unic_rows(&dp, b * g, g);
        unic->tensor_copy(&to, &from);
    }
    unic->linear_backward(NULL, grad_of(x, x->patch_w), grad_of(x, x->patch_b), &dp, &cols,
                          x->patch_w);
    if (gh == m && gw == m) {
        for (int64_t i = 0; i < (int64_t)t * d; i++) dpos_ck[i] += dpos[i];
        return;
    }
    /* pos[1 + y gw + xx] = sum_ij rh[y, i] rw[xx, j] src[i m + j]: so
     * dsrc[i m + j] = sum_y rh[y, i] sum_xx rw[xx, j] dpos[1 + y gw + xx] */
    double *rh = malloc(sizeof(double) * (size_t)gh * m);
    double *rw = malloc(sizeof(double) * (size_t)gw * m);
    double *tmp = calloc((size_t)gh * m * d, sizeof(double)); /* [y, j, c] */
    resample_matrix(m, gh, rh);
    resample_matrix(m, gw, rw);
    for (int c = 0; c < d; c++) dpos_ck[c] += dpos[c];
    for (int y = 0; y < gh; y++)
        for (int xx = 0; xx < gw; xx++)
            for (int j = 0; j < m; j++) {
                double w = rw[(size_t)xx * m + j];
                if (w == 0) continue;
                const float *src = dpos + (size_t)(1 + y * gw + xx) * d;
                double *dst = tmp + ((size_t)y * m + j) * d;
                for (int c = 0; c < d; c++) dst[c] += w * src[c];
            }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            float *dst = dpos_ck + (size_t)(1 + i * m + j) * d;
            for (int c = 0; c < d; c++) {
                double acc = 0;
                for (int y = 0; y < gh; y++) acc += rh[(size_t)y * m + i] * tmp[((size_t)y * m + j) * d + c];
                dst[c] += (float)acc;
            }
        }
    free(tmp);
    free(rh);
    free(rw);
}

/* d_emb [n, dim] (host) for the images of the last forward. Only each
 * image's CLS token reaches the embedding, so the final norm is
 * differentiated there alone; then the trained blocks from the last to the
 * first, each one's d(input) the previous one's d(output); with full, the
 * embedding last. */
static void backward(void *self, const unic_tensor *d_emb)
{
    vit *x = self;
    if (!x->nparams || x->batch == 0 || x->batch_tokens) return;
    int t = x->tokens;
    int64_t n = x->batch, rows = n * t;
    unic_tensor dx = unic_rows(x->g_x, 0, rows), de = unic_rows(x->g_emb, 0, n);
    unic_tensor dcls = unic_rows(x->g_cls, 0, n), xout = unic_rows(x->s_xout, 0, n);

    /* the final norm, CLS rows only; the other tokens' gradient is zero */
    unic->tensor_copy(&de, d_emb);
    unic->tensor_zero(&dcls);
    unic->layer_norm_backward(&dcls, grad_of(x, x->norm_w), grad_of(x, x->norm_b), &de, &xout,
                              x->norm_w, x->eps);
    unic->tensor_zero(&dx);
    for (int64_t b = 0; b < n; b++) {
        unic_tensor from = unic_rows(&dcls, b, 1), to = unic_rows(&dx, b * t, 1);
        unic->tensor_copy(&to, &from);
    }
    blocks_backward(x, &dx);
    if (x->full) embed_backward(x, n, &dx);
}

/* As backward, from d(tokens) [n, T, dim] (host) of the last forward_tokens. */
static void backward_tokens(void *self, const unic_tensor *d_tokens)
{
    vit *x = self;
    if (!x->nparams || x->batch == 0 || !x->batch_tokens) return;
    int64_t n = x->batch, rows = n * x->tokens;
    unic_tensor dx = unic_rows(x->g_x, 0, rows), dt = unic_rows(x->g_tok, 0, rows);
    unic_tensor xall = unic_rows(x->s_xall, 0, rows);
    unic_tensor in = {d_tokens->data, {rows, x->dim}, 2, d_tokens->device};
    unic->tensor_copy(&dt, &in);
    unic->tensor_zero(&dx);
    unic->layer_norm_backward(&dx, grad_of(x, x->norm_w), grad_of(x, x->norm_b), &dt, &xall,
                              x->norm_w, x->eps);
    blocks_backward(x, &dx);
    if (x->full) embed_backward(x, n, &dx);
}

/* frozen: none, which makes the core embed the dataset once. */
static int parameters(void *self, unic_param_tensor *out, int max)
{
    vit *x = self;
    for (int i = 0; i < x->nparams && i < max; i++) out[i] = x->params[i];
    return x->nparams;
}

static const unic_backbone_ops ops = {
    .open = open_input,
    .forward = forward,
    .backward = backward,
    .parameters = parameters,
    .set_training = set_training,
    .token_count = token_count,
    .forward_tokens = forward_tokens,
    .backward_tokens = backward_tokens,
};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_BACKBONE,
    .name = "vit",
    .doc = "Vision Transformer from a timm / DINO / DINOv2 / Hugging Face safetensors checkpoint "
           "(CLS embedding or all tokens; CPU or GPU; frozen, last block or fully trainable)",
    .params = params,
    .create = create,
    .destroy = destroy,
    .backbone = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    UNIC_PLUGIN_INIT(api);
    return api->register_component(reg, &component);
}
