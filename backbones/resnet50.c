/* `resnet50`: a bottleneck ResNet (50, 101 or 152 layers: the stages' depths
 * are read from the checkpoint) with torchvision's names and layout, on the
 * CPU or (device = cuda) the GPU. Stem conv1 7x7/2 + bn1 + ReLU + 3x3/2 max pool, four stages of
 * Bottleneck blocks (1x1, 3x3 carrying the stride as torchvision's "v1.5",
 * 1x1 expanding 4x; the first block of a stage adds downsample = 1x1 conv +
 * BN), and the embedding is the global average pool of layer4 (2048-d).
 *
 * Batch norm runs in inference mode everywhere: the checkpoint's running
 * statistics, eps 1e-5. Where a finetune level trains a stage, its BN weight
 * and bias train with the convolutions but the statistics stay frozen (as
 * torchvision's FrozenBatchNorm2d and detection backbones do): an image's
 * embedding then never depends on its batch mates, so the embeddings that
 * mining saw and those training sees agree, and UNIC's small batches give
 * no noisy statistics. finetune = last_block trains layer4 (the last
 * bottleneck stage), full trains every convolution and BN affine; in
 * training mode (set_training) their forward keeps what backward needs.
 *
 * Activations are kept channel-major across the batch, [C][n][H][W], so a
 * convolution over a batch is one GEMM: weight [Cout, Cin*k*k] times the
 * im2col of the input [Cin*k*k, n*Ho*Wo] (a 1x1 stride-1 convolution needs
 * no im2col at all), and batch norm walks one contiguous row per channel.
 * Every layer is an api op, so the same code runs on either device; images
 * are made channel-major on the host and copied over, embeddings come back
 * the same way. Frozen stages run a few images at a time; trained stages
 * run on the whole batch and keep what backward needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unic/conv_window.h"
#include "unic/plugin.h"

UNIC_PLUGIN_API;

/* Frozen stages run this many images at a time: at 224 px that bounds each
 * activation buffer to about 26 MB whatever the batch. */
#define RN_CHUNK 8
#define BN_EPS 1e-5
#define MAX_WEIGHTS 1024
#define NAME_LEN 64

typedef struct conv {
    unic_tensor *w; /* [cout, cin * k * k] */
    int cin, cout, k, stride, pad;
} conv;

typedef struct bnorm {
    unic_tensor *w, *b, *mean, *var;
    int c;
} bnorm;

typedef struct block {
    conv c1, c2, c3, ds;
    bnorm b1, b2, b3, bds;
    int has_ds, planes;
    int hi, wi, ho, wo; /* set by open */
} block;

/* A trained block's activations for the whole batch (pre-BN t*, post-ReLU a*). */
typedef struct saved_block {
    unic_tensor *t1, *a1, *t2, *a2, *t3, *tds, *out;
    const unic_tensor *in;
} saved_block;

typedef struct resnet {
    char *checkpoint;
    unic_tensor *weights[MAX_WEIGHTS];
    char (*used)[NAME_LEN];
    int nweights;

    conv stem;
    bnorm stem_bn;
    block *blocks;
    int nblocks, stage_start[4], embed_dim;

    /* geometry, set by open: input, stem convolution, max pool */
    int64_t height, width;
    int h1, w1, hp, wp;
    int64_t act_max, col_max; /* per image, floats */

    /* where weights and activations live (images arrive and embeddings
     * leave through the host) */
    unic_device dev;

    /* frozen forward, for up to `cap` images (flat buffers on dev) */
    int64_t cap;
    unic_tensor *f_in, *f_a, *f_b, *f_t1, *f_t2, *f_t3, *f_ds, *f_col;
    /* host staging of the input, and the average pool's, for io_cap images */
    int64_t io_cap;
    unic_tensor *in_host, *pooled, *pooled_host, *ones;

    /* training: first_block is the first trained block (nblocks: none),
     * stem_trains with full */
    int first_block, stem_trains;
    int training; /* set_training: forwards keep the trained stages' activations */
    int nparams;
    unic_param_tensor *params;
    unic_tensor **grads;
    int64_t saved, batch;
    saved_block *sb;                         /* [nblocks - first_block] */
    unic_tensor *s_in;                       /* the first trained block's input (last_block) */
    unic_tensor *s_img, *s_t0, *s_a0, *s_pool; /* full: the stem's */
    unic_tensor *g_a, *g_b, *g_s1, *g_s2, *g_s3, *g_col, *g_stem, *g_stem2;
} resnet;

static const unic_param_spec params[] = {
    {"checkpoint", UNIC_STRING, "",
     "path of a .safetensors checkpoint with torchvision ResNet names (required)", NULL},
    {"device", UNIC_CHOICE, "cpu", "where the backbone runs: cpu, or cuda (weights and "
     "activations on the GPU)", "cpu|cuda"},
    {"finetune", UNIC_CHOICE, "frozen",
     "which weights train: frozen (none: the dataset is embedded once), last_block (layer4, "
     "the last bottleneck stage) or full (every convolution and batch-norm affine; batch-norm "
     "statistics stay the checkpoint's)",
     "frozen|last_block|full"},
    {NULL},
};

/* ---- loading ------------------------------------------------------------ */

static int has_tensor(const resnet *x, const char *name)
{
    int64_t shape[8];
    char ignored[512];
    return unic->tensor_shape(x->checkpoint, name, shape, 8, ignored, sizeof ignored) >= 0;
}

static unic_tensor *load(resnet *x, const char *name, int ndim, const int64_t *shape, int64_t rows,
                         int64_t cols, char *err, size_t errlen)
{
    if (x->nweights == MAX_WEIGHTS) {
        snprintf(err, errlen, "%s: more than %d tensors to load", x->checkpoint, MAX_WEIGHTS);
        return NULL;
    }
    int64_t flat[2] = {rows, cols};
    unic_tensor *t = unic->tensor_new(UNIC_CPU, cols ? 2 : 1, flat);
    snprintf(x->used[x->nweights], NAME_LEN, "%s", name);
    x->weights[x->nweights++] = t;
    if (unic->load_tensor_f32(x->checkpoint, name, t->data, shape, ndim, err, errlen) != 0)
        return NULL;
    return t;
}

static int load_conv(resnet *x, conv *cv, const char *name, int cin, int cout, int k, int stride,
                     char *err, size_t errlen)
{
    int64_t shape[4] = {cout, cin, k, k};
    *cv = (conv){NULL, cin, cout, k, stride, k / 2};
    return (cv->w = load(x, name, 4, shape, cout, (int64_t)cin * k * k, err, errlen)) ? 0 : -1;
}

/* prefix "layer1.0.bn1" or "bn1": loads .weight, .bias, .running_mean, .running_var */
static int load_bn(resnet *x, bnorm *bn, const char *prefix, int c, char *err, size_t errlen)
{
    static const char *const what[4] = {"weight", "bias", "running_mean", "running_var"};
    unic_tensor **dst[4] = {&bn->w, &bn->b, &bn->mean, &bn->var};
    char name[NAME_LEN];
    int64_t n = c;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, what[i]);
        if (!(*dst[i] = load(x, name, 1, &n, n, 0, err, errlen))) return -1;
    }
    bn->c = c;
    return 0;
}

/* The width a tensor's first dimension gives, or -1 with the message. */
static int out_channels(resnet *x, const char *name, char *err, size_t errlen)
{
    int64_t shape[8];
    if (unic->tensor_shape(x->checkpoint, name, shape, 8, err, errlen) < 1) return -1;
    return (int)shape[0];
}

static int load_all(resnet *x, char *err, size_t errlen)
{
    int stem = out_channels(x, "conv1.weight", err, errlen);
    if (stem < 0) return -1;
    if (load_conv(x, &x->stem, "conv1.weight", 3, stem, 7, 2, err, errlen) ||
        load_bn(x, &x->stem_bn, "bn1", stem, err, errlen))
        return -1;
    x->stem.pad = 3;

    char name[NAME_LEN];
    int counts[4], total = 0;
    for (int s = 0; s < 4; s++) {
        for (counts[s] = 0;; counts[s]++) {
            snprintf(name, sizeof name, "layer%d.%d.conv1.weight", s + 1, counts[s]);
            if (!has_tensor(x, name)) break;
        }
        if (counts[s] == 0) {
            snprintf(err, errlen, "%s: no tensor '%s': a torchvision ResNet has stages layer1 to "
                     "layer4", x->checkpoint, name);
            return -1;
        }
        total += counts[s];
    }
    if (!has_tensor(x, "layer1.0.conv3.weight")) {
        snprintf(err, errlen, "%s: no tensor 'layer1.0.conv3.weight': resnet50 needs Bottleneck "
                 "blocks (ResNet-50/101/152), not the BasicBlocks of ResNet-18/34", x->checkpoint);
        return -1;
    }
    x->blocks = calloc((size_t)total, sizeof *x->blocks);
    x->nblocks = total;
    int cin = stem, bi = 0;
    for (int s = 0; s < 4; s++) {
        x->stage_start[s] = bi;
        snprintf(name, sizeof name, "layer%d.0.conv1.weight", s + 1);
        int planes = out_channels(x, name, err, errlen);
        if (planes < 0) return -1;
        for (int j = 0; j < counts[s]; j++, bi++) {
            block *b = &x->blocks[bi];
            int stride = s > 0 && j == 0 ? 2 : 1;
            char p[NAME_LEN];
            b->planes = planes;
#define LOADC(field, what, ci, co, k, st)                                        \
    snprintf(p, sizeof p, "layer%d.%d.%s", s + 1, j, what);                      \
    if (load_conv(x, &b->field, p, ci, co, k, st, err, errlen) != 0) return -1
#define LOADB(field, what, c)                                                    \
    snprintf(p, sizeof p, "layer%d.%d.%s", s + 1, j, what);                      \
    if (load_bn(x, &b->field, p, c, err, errlen) != 0) return -1
            LOADC(c1, "conv1.weight", cin, planes, 1, 1);
            LOADB(b1, "bn1", planes);
            LOADC(c2, "conv2.weight", planes, planes, 3, stride);
            LOADB(b2, "bn2", planes);
            LOADC(c3, "conv3.weight", planes, 4 * planes, 1, 1);
            LOADB(b3, "bn3", 4 * planes);
            snprintf(p, sizeof p, "layer%d.%d.downsample.0.weight", s + 1, j);
            b->has_ds = j == 0 && (stride != 1 || cin != 4 * planes || has_tensor(x, p));
            if (b->has_ds) {
                LOADC(ds, "downsample.0.weight", cin, 4 * planes, 1, stride);
                LOADB(bds, "downsample.1", 4 * planes);
            }
#undef LOADC
#undef LOADB
            cin = 4 * planes;
        }
    }
    x->embed_dim = cin;
    const char **names = malloc(sizeof *names * (size_t)x->nweights);
    for (int i = 0; i < x->nweights; i++) names[i] = x->used[i];
    unic->report_unused_tensors(x->checkpoint, names, x->nweights, "resnet50");
    free(names);
    return 0;
}

static void free_all(unic_tensor **const *all, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        unic->tensor_free(*all[i]);
        *all[i] = NULL;
    }
}

static void free_buffers(resnet *x)
{
    unic_tensor **all[] = {&x->f_in, &x->f_a,  &x->f_b,  &x->f_t1, &x->f_t2,
                           &x->f_t3, &x->f_ds, &x->f_col};
    free_all(all, sizeof all / sizeof all[0]);
    x->cap = 0;
}

static void free_io(resnet *x)
{
    unic_tensor **all[] = {&x->in_host, &x->pooled, &x->pooled_host, &x->ones};
    free_all(all, sizeof all / sizeof all[0]);
    x->io_cap = 0;
}

static void free_saved(resnet *x)
{
    for (int i = 0; x->sb && i < x->nblocks - x->first_block; i++) {
        saved_block *s = &x->sb[i];
        unic_tensor **blk[] = {&s->t1, &s->a1, &s->t2, &s->a2, &s->t3, &s->tds, &s->out};
        free_all(blk, sizeof blk / sizeof blk[0]);
    }
    unic_tensor **all[] = {&x->s_in, &x->s_img, &x->s_t0, &x->s_a0,  &x->s_pool, &x->g_a,
                           &x->g_b,  &x->g_s1,  &x->g_s2, &x->g_s3,  &x->g_col,  &x->g_stem,
                           &x->g_stem2};
    free_all(all, sizeof all / sizeof all[0]);
    x->saved = 0;
}

static void destroy(void *self)
{
    resnet *x = self;
    if (!x) return;
    free_buffers(x);
    free_io(x);
    free_saved(x);
    for (int i = 0; i < x->nparams; i++) unic->tensor_free(x->grads[i]);
    free(x->params);
    free(x->grads);
    free(x->sb);
    for (int i = 0; i < x->nweights; i++) unic->tensor_free(x->weights[i]);
    free(x->blocks);
    free(x->used);
    free(x->checkpoint);
    free(x);
}

/* Moves every weight to x->dev in place (each tensor keeps its address, so
 * the layers' pointers stay valid). */
static void move_weights(resnet *x)
{
    for (int i = 0; i < x->nweights; i++) unic->tensor_move(x->weights[i], x->dev);
}

/* The trainable tensors, in torchvision's named_parameters order. */
static void add_param(resnet *x, unic_tensor *value)
{
    const char *name = NULL;
    for (int i = 0; i < x->nweights && !name; i++)
        if (x->weights[i] == value) name = x->used[i];
    int i = x->nparams++;
    x->grads[i] = unic->tensor_new(value->device, value->ndim, value->shape);
    x->params[i] = (unic_param_tensor){name, value, x->grads[i]};
}

static void add_conv_bn(resnet *x, const conv *cv, const bnorm *bn)
{
    add_param(x, cv->w);
    add_param(x, bn->w);
    add_param(x, bn->b);
}

static void setup_trainable(resnet *x)
{
    int cap = 3 + 12 * x->nblocks;
    x->params = calloc((size_t)cap, sizeof *x->params);
    x->grads = calloc((size_t)cap, sizeof *x->grads);
    x->sb = calloc((size_t)(x->nblocks - x->first_block), sizeof *x->sb);
    if (x->stem_trains) add_conv_bn(x, &x->stem, &x->stem_bn);
    for (int i = x->first_block; i < x->nblocks; i++) {
        block *b = &x->blocks[i];
        add_conv_bn(x, &b->c1, &b->b1);
        add_conv_bn(x, &b->c2, &b->b2);
        add_conv_bn(x, &b->c3, &b->b3);
        if (b->has_ds) add_conv_bn(x, &b->ds, &b->bds);
    }
}

static void *create(const unic_params *p, char *err, size_t errlen)
{
    const char *ck = unic->param_str(p, "checkpoint");
    if (!ck || !*ck) {
        snprintf(err, errlen, "checkpoint is required: the path of a .safetensors file with "
                 "torchvision ResNet tensor names (tools/convert_checkpoint.py converts a .pth)");
        return NULL;
    }
    resnet *x = calloc(1, sizeof *x);
    x->checkpoint = malloc(strlen(ck) + 1);
    strcpy(x->checkpoint, ck);
    x->used = calloc(MAX_WEIGHTS, sizeof *x->used);
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
    const char *ft = unic->param_str(p, "finetune");
    x->stem_trains = strcmp(ft, "full") == 0;
    x->first_block = x->stem_trains ? 0
                     : strcmp(ft, "last_block") == 0 ? x->stage_start[3] : x->nblocks;
    if (x->first_block < x->nblocks) setup_trainable(x);
    return x;
}

/* ---- geometry ----------------------------------------------------------- */

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static int open_input(void *self, const unic_input_info *in, int *embed_dim, char *err,
                      size_t errlen)
{
    resnet *x = self;
    if (in->ndim != 3 || in->shape[0] != 3) {
        snprintf(err, errlen, "%s: the resnet50 backbone expects RGB images (N x 3 x H x W), got "
                 "items of %d dimensions%s", in->source, in->ndim,
                 in->ndim == 3 ? " with other than 3 channels" : "");
        return -1;
    }
    if (in->shape[1] < 32 || in->shape[2] < 32) {
        snprintf(err, errlen, "%s: images of %lld x %lld are too small for a ResNet (it divides "
                 "them by 32): resize them (224 is the reference)", in->source,
                 (long long)in->shape[1], (long long)in->shape[2]);
        return -1;
    }
    free_buffers(x);
    free_io(x);
    free_saved(x);
    x->height = in->shape[1];
    x->width = in->shape[2];
    x->h1 = unic_conv_out((int)x->height, 7, 2, 3);
    x->w1 = unic_conv_out((int)x->width, 7, 2, 3);
    x->hp = unic_conv_out(x->h1, 3, 2, 1);
    x->wp = unic_conv_out(x->w1, 3, 2, 1);
    int64_t s1 = (int64_t)x->h1 * x->w1;
    x->act_max = max64(3 * x->height * x->width, x->stem.cout * s1);
    x->col_max = 3 * 49 * s1;
    int h = x->hp, w = x->wp;
    for (int i = 0; i < x->nblocks; i++) {
        block *b = &x->blocks[i];
        b->hi = h;
        b->wi = w;
        b->ho = unic_conv_out(h, 3, b->c2.stride, 1);
        b->wo = unic_conv_out(w, 3, b->c2.stride, 1);
        int64_t si = (int64_t)h * w, so = (int64_t)b->ho * b->wo;
        x->act_max = max64(x->act_max, max64((int64_t)b->c1.cin * si,
                                             max64((int64_t)b->planes * si, b->c3.cout * so)));
        x->col_max = max64(x->col_max, (int64_t)b->planes * 9 * so);
        if (b->has_ds && b->ds.stride != 1) x->col_max = max64(x->col_max, b->ds.cin * so);
        h = b->ho;
        w = b->wo;
    }
    *embed_dim = x->embed_dim;
    return 0;
}

/* ---- the layers, on [C][n][H][W] activations ---------------------------- */

/* A [rows, cols] view of a buffer, on its device. */
static unic_tensor view2(const unic_tensor *buf, int64_t rows, int64_t cols)
{
    unic_tensor v = {buf->data, {rows, cols}, 2, buf->device};
    return v;
}

static unic_tensor *buffer(const resnet *x, int64_t floats)
{
    int64_t n = floats > 0 ? floats : 1;
    return unic->tensor_new(x->dev, 1, &n);
}

static int is_pointwise(const conv *cv) { return cv->k == 1 && cv->stride == 1; }

/* out [cout][n Ho Wo] = conv(in [cin][n H W]); col is scratch for the im2col. */
static void conv_forward(const conv *cv, const unic_tensor *out, const unic_tensor *in, int n,
                         int H, int W, int Ho, int Wo, const unic_tensor *col)
{
    int64_t M = (int64_t)n * Ho * Wo, K = unic_row_size(cv->w);
    unic_tensor b = view2(in, K, M), c = view2(out, cv->cout, M);
    if (!is_pointwise(cv)) {
        unic_tensor src = view2(in, cv->cin, (int64_t)n * H * W);
        b = view2(col, K, M);
        unic->im2col(&b, &src, n, H, W, cv->k, cv->stride, cv->pad);
    }
    unic->gemm(0, 0, 1.0f, cv->w, &b, 0.0f, &c);
}

/* dw += dy in^T (im2col'ed again from in); dx (may be NULL) += W^T dy. */
static void conv_backward(const conv *cv, const unic_tensor *dx, unic_tensor *dw,
                          const unic_tensor *dy, const unic_tensor *in, int n, int H, int W, int Ho,
                          int Wo, const unic_tensor *col)
{
    int64_t M = (int64_t)n * Ho * Wo, K = unic_row_size(cv->w);
    unic_tensor b = view2(in, K, M), g = view2(dy, cv->cout, M), gw = view2(dw, cv->cout, K);
    if (!is_pointwise(cv)) {
        unic_tensor src = view2(in, cv->cin, (int64_t)n * H * W);
        b = view2(col, K, M);
        unic->im2col(&b, &src, n, H, W, cv->k, cv->stride, cv->pad);
    }
    unic->gemm(0, 1, 1.0f, &g, &b, 1.0f, &gw);
    if (!dx) return;
    if (is_pointwise(cv)) {
        unic_tensor d = view2(dx, K, M);
        unic->gemm(1, 0, 1.0f, cv->w, &g, 1.0f, &d);
    } else {
        unic_tensor d = view2(col, K, M), di = view2(dx, cv->cin, (int64_t)n * H * W);
        unic->gemm(1, 0, 1.0f, cv->w, &g, 0.0f, &d);
        unic->col2im(&di, &d, n, H, W, cv->k, cv->stride, cv->pad);
    }
}

/* y [c][m] = BN(x) (+ residual), then ReLU if relu; y may be x. */
static void bn_forward(const bnorm *bn, const unic_tensor *y, const unic_tensor *x, int64_t m,
                       const unic_tensor *residual, int relu)
{
    unic_tensor yv = view2(y, bn->c, m), xv = view2(x, bn->c, m);
    unic_tensor rv = residual ? view2(residual, bn->c, m) : yv;
    unic->batch_norm_forward(&yv, &xv, bn->w, bn->b, bn->mean, bn->var, BN_EPS,
                             residual ? &rv : NULL, relu);
}

/* dx (zeroed here; may be NULL) = dy * scale; dw, db accumulate. */
static void bn_backward(const bnorm *bn, const unic_tensor *dx, unic_tensor *dw, unic_tensor *db,
                        const unic_tensor *dy, const unic_tensor *x, int64_t m)
{
    unic_tensor d = dx ? view2(dx, bn->c, m) : view2(dy, bn->c, m);
    unic_tensor g = view2(dy, bn->c, m), xv = view2(x, bn->c, m);
    if (dx) unic->tensor_zero(&d);
    unic->batch_norm_backward(dx ? &d : NULL, dw, db, &g, &xv, bn->w, bn->mean, bn->var, BN_EPS);
}

/* d *= (y > 0) over count values */
static void relu_backward(const unic_tensor *d, const unic_tensor *y, int64_t count)
{
    unic_tensor dv = view2(d, 1, count), yv = view2(y, 1, count);
    unic->relu_backward(&dv, &yv);
}

/* A bottleneck over n images: x [cin][n hi wi] -> out [4p][n ho wo]. The
 * pre-BN t1/t2 may be the post-ReLU a1/a2 (in place) when nothing trains;
 * dsn holds the downsample's normalised output. */
static void block_forward(const block *bl, int n, const unic_tensor *x, const unic_tensor *t1,
                          const unic_tensor *a1, const unic_tensor *t2, const unic_tensor *a2,
                          const unic_tensor *t3, const unic_tensor *tds, const unic_tensor *dsn,
                          const unic_tensor *out, const unic_tensor *col)
{
    int64_t mi = (int64_t)n * bl->hi * bl->wi, mo = (int64_t)n * bl->ho * bl->wo;
    conv_forward(&bl->c1, t1, x, n, bl->hi, bl->wi, bl->hi, bl->wi, col);
    bn_forward(&bl->b1, a1, t1, mi, NULL, 1);
    conv_forward(&bl->c2, t2, a1, n, bl->hi, bl->wi, bl->ho, bl->wo, col);
    bn_forward(&bl->b2, a2, t2, mo, NULL, 1);
    conv_forward(&bl->c3, t3, a2, n, bl->ho, bl->wo, bl->ho, bl->wo, col);
    if (bl->has_ds) {
        conv_forward(&bl->ds, tds, x, n, bl->hi, bl->wi, bl->ho, bl->wo, col);
        bn_forward(&bl->bds, dsn, tds, mo, NULL, 0);
    }
    bn_forward(&bl->b3, out, t3, mo, bl->has_ds ? dsn : x, 1);
}

/* host images [n][3][H][W] -> out [3][n][H][W] (host) */
static void to_channel_major(float *out, const float *images, int n, int64_t hw)
{
    for (int b = 0; b < n; b++)
        for (int c = 0; c < 3; c++)
            memcpy(out + ((int64_t)c * n + b) * hw, images + ((int64_t)b * 3 + c) * hw,
                   sizeof(float) * (size_t)hw);
}

/* emb [n][C] (host) = the mean of each image's plane of act [C][n][hw]: a
 * GEMM with a ones vector, then a transpose on the host. */
static void average_pool(resnet *x, float *emb, const unic_tensor *act, int n, int64_t hw)
{
    int C = x->embed_dim;
    unic_tensor a = view2(act, (int64_t)C * n, hw), ones = view2(x->ones, hw, 1);
    unic_tensor pooled = view2(x->pooled, (int64_t)C * n, 1);
    unic->gemm(0, 0, 1.0f / (float)hw, &a, &ones, 0.0f, &pooled);
    unic_tensor host = view2(x->pooled_host, (int64_t)C * n, 1);
    unic->tensor_copy(&host, &pooled);
    for (int c = 0; c < C; c++)
        for (int b = 0; b < n; b++)
            emb[(int64_t)b * C + c] = x->pooled_host->data[(int64_t)c * n + b];
}

/* ---- forward ------------------------------------------------------------ */

static void ensure_buffers(resnet *x, int64_t images)
{
    if (images <= x->cap) return;
    free_buffers(x);
    int64_t a = x->act_max * images;
    x->f_in = buffer(x, 3 * x->height * x->width * images);
    x->f_a = buffer(x, a);
    x->f_b = buffer(x, a);
    x->f_t1 = buffer(x, a);
    x->f_t2 = buffer(x, a);
    x->f_t3 = buffer(x, a);
    x->f_ds = buffer(x, a);
    x->f_col = buffer(x, x->col_max * images);
    x->cap = images;
}

/* The average pool's buffers and, on a GPU, the input's host staging, for
 * n images. */
static void ensure_io(resnet *x, int64_t n)
{
    if (n <= x->io_cap) return;
    const block *last = &x->blocks[x->nblocks - 1];
    int64_t hw = (int64_t)last->ho * last->wo;
    free_io(x);
    int64_t in = 3 * x->height * x->width * n, pooled = (int64_t)x->embed_dim * n;
    if (x->dev != UNIC_CPU) x->in_host = unic->tensor_new(UNIC_CPU, 1, &in);
    x->pooled = buffer(x, pooled);
    x->pooled_host = unic->tensor_new(UNIC_CPU, 1, &pooled);
    unic_tensor *ones = unic->tensor_new(UNIC_CPU, 1, &hw);
    for (int64_t i = 0; i < hw; i++) ones->data[i] = 1.0f;
    x->ones = buffer(x, hw);
    unic->tensor_copy(x->ones, ones);
    unic->tensor_free(ones);
    x->io_cap = n;
}

static void ensure_saved(resnet *x, int64_t n)
{
    if (n <= x->saved) return;
    free_saved(x);
    for (int i = x->first_block; i < x->nblocks; i++) {
        const block *b = &x->blocks[i];
        saved_block *s = &x->sb[i - x->first_block];
        int64_t mi = n * b->hi * b->wi, mo = n * b->ho * b->wo;
        s->t1 = buffer(x, b->planes * mi);
        s->a1 = buffer(x, b->planes * mi);
        s->t2 = buffer(x, b->planes * mo);
        s->a2 = buffer(x, b->planes * mo);
        s->t3 = buffer(x, b->c3.cout * mo);
        s->tds = b->has_ds ? buffer(x, b->c3.cout * mo) : NULL;
        s->out = buffer(x, b->c3.cout * mo);
    }
    const block *first = &x->blocks[x->first_block];
    int64_t s1 = n * x->h1 * x->w1, pool = n * x->hp * x->wp;
    if (x->stem_trains) {
        x->s_img = buffer(x, 3 * n * x->height * x->width);
        x->s_t0 = buffer(x, x->stem.cout * s1);
        x->s_a0 = buffer(x, x->stem.cout * s1);
        x->s_pool = buffer(x, x->stem.cout * pool);
        x->g_stem = buffer(x, x->stem.cout * s1);
        x->g_stem2 = buffer(x, x->stem.cout * s1);
    } else {
        x->s_in = buffer(x, first->c1.cin * n * first->hi * first->wi);
    }
    int64_t act = x->act_max * n;
    x->g_a = buffer(x, act);
    x->g_b = buffer(x, act);
    x->g_s1 = buffer(x, act);
    x->g_s2 = buffer(x, act);
    x->g_s3 = buffer(x, act);
    x->g_col = buffer(x, x->col_max * n);
    x->saved = n;
}

/* The images of a chunk, channel-major, where the layers run: straight
 * into dst on the CPU, through the host staging buffer for a GPU. */
static const unic_tensor *stage_input(resnet *x, const float *images, int n,
                                      const unic_tensor *dst)
{
    int64_t hw = x->height * x->width;
    if (dst->device == UNIC_CPU) {
        to_channel_major(dst->data, images, n, hw);
        return dst;
    }
    to_channel_major(x->in_host->data, images, n, hw);
    unic_tensor host = view2(x->in_host, 1, 3 * n * hw), to = view2(dst, 1, 3 * n * hw);
    unic->tensor_copy(&to, &host);
    return dst;
}

/* The stem and blocks [0, upto) over n images [n][3][H][W] (host), keeping
 * nothing; returns the output [C][n][h][w] (one of the f_ buffers). */
static const unic_tensor *frozen_part(resnet *x, const float *images, int n, int upto)
{
    const unic_tensor *in = stage_input(x, images, n, x->f_in);
    conv_forward(&x->stem, x->f_t1, in, n, (int)x->height, (int)x->width, x->h1, x->w1, x->f_col);
    bn_forward(&x->stem_bn, x->f_t1, x->f_t1, (int64_t)n * x->h1 * x->w1, NULL, 1);
    unic_tensor pin = view2(x->f_t1, (int64_t)x->stem.cout * n, (int64_t)x->h1 * x->w1);
    unic_tensor pout = view2(x->f_a, (int64_t)x->stem.cout * n, (int64_t)x->hp * x->wp);
    unic->max_pool_forward(&pout, &pin, x->h1, x->w1, 3, 2, 1);
    const unic_tensor *cur = x->f_a, *next = x->f_b;
    for (int i = 0; i < upto; i++) {
        block_forward(&x->blocks[i], n, cur, x->f_t1, x->f_t1, x->f_t2, x->f_t2, x->f_t3, x->f_ds,
                      x->f_ds, next, x->f_col);
        const unic_tensor *t = cur;
        cur = next;
        next = t;
    }
    return cur;
}

/* full: the stem over the whole batch, keeping what backward needs. */
static const unic_tensor *stem_train(resnet *x, const float *images, int n)
{
    int64_t s1 = (int64_t)n * x->h1 * x->w1;
    const unic_tensor *in = stage_input(x, images, n, x->s_img);
    conv_forward(&x->stem, x->s_t0, in, n, (int)x->height, (int)x->width, x->h1, x->w1, x->g_col);
    bn_forward(&x->stem_bn, x->s_a0, x->s_t0, s1, NULL, 1);
    unic_tensor pin = view2(x->s_a0, (int64_t)x->stem.cout * n, (int64_t)x->h1 * x->w1);
    unic_tensor pout = view2(x->s_pool, (int64_t)x->stem.cout * n, (int64_t)x->hp * x->wp);
    unic->max_pool_forward(&pout, &pin, x->h1, x->w1, 3, 2, 1);
    return x->s_pool;
}

static void forward(void *self, const unic_tensor *input, unic_tensor *emb)
{
    resnet *x = self;
    int64_t n = input->shape[0], per = 3 * x->height * x->width;
    const block *last = &x->blocks[x->nblocks - 1];
    int64_t hw_last = (int64_t)last->ho * last->wo;
    if (!x->nparams || !x->training) { /* a chunk at a time, straight to the embedding */
        x->batch = 0;
        int64_t chunk = n < RN_CHUNK ? n : RN_CHUNK;
        ensure_buffers(x, chunk);
        ensure_io(x, chunk);
        for (int64_t b0 = 0; b0 < n; b0 += RN_CHUNK) {
            int nb = (int)(n - b0 < RN_CHUNK ? n - b0 : RN_CHUNK);
            const unic_tensor *out = frozen_part(x, input->data + b0 * per, nb, x->nblocks);
            average_pool(x, emb->data + b0 * x->embed_dim, out, nb, hw_last);
        }
        return;
    }
    ensure_saved(x, n);
    ensure_io(x, n);
    x->batch = n;
    const block *first = &x->blocks[x->first_block];
    const unic_tensor *cur;
    if (x->stem_trains) {
        cur = stem_train(x, input->data, (int)n);
    } else { /* the frozen stages a chunk at a time, gathered for the batch */
        ensure_buffers(x, n < RN_CHUNK ? n : RN_CHUNK);
        int64_t hw = (int64_t)first->hi * first->wi;
        for (int64_t b0 = 0; b0 < n; b0 += RN_CHUNK) {
            int nb = (int)(n - b0 < RN_CHUNK ? n - b0 : RN_CHUNK);
            const unic_tensor *out = frozen_part(x, input->data + b0 * per, nb, x->first_block);
            for (int c = 0; c < first->c1.cin; c++) {
                unic_tensor from = {out->data + (int64_t)c * nb * hw, {nb * hw}, 1, x->dev};
                unic_tensor to = {x->s_in->data + (c * n + b0) * hw, {nb * hw}, 1, x->dev};
                unic->tensor_copy(&to, &from);
            }
        }
        cur = x->s_in;
    }
    for (int i = x->first_block; i < x->nblocks; i++) {
        saved_block *s = &x->sb[i - x->first_block];
        s->in = cur;
        block_forward(&x->blocks[i], (int)n, cur, s->t1, s->a1, s->t2, s->a2, s->t3, s->tds,
                      x->g_s1, s->out, x->g_col);
        cur = s->out;
    }
    average_pool(x, emb->data, cur, (int)n, hw_last);
}

static void set_training(void *self, int training) { ((resnet *)self)->training = training; }

/* ---- backward (finetune = last_block or full) --------------------------- */

static unic_tensor *grad_of(resnet *x, const unic_tensor *value)
{
    for (int i = 0; i < x->nparams; i++)
        if (x->params[i].value == value) return x->grads[i];
    return NULL;
}

/* d_out: dL/d(block output), overwritten; dx (NULL: not wanted) receives
 * dL/d(block input). */
static void block_backward(resnet *x, const block *bl, const saved_block *s, int n,
                           const unic_tensor *d_out, const unic_tensor *dx)
{
    int64_t mi = (int64_t)n * bl->hi * bl->wi, mo = (int64_t)n * bl->ho * bl->wo;
    const unic_tensor *s1 = x->g_s1, *s2 = x->g_s2, *s3 = x->g_s3, *col = x->g_col;
    relu_backward(d_out, s->out, bl->c3.cout * mo);
    if (dx) {
        unic_tensor d = view2(dx, 1, bl->c1.cin * mi), g = view2(d_out, 1, bl->c1.cin * mi);
        if (bl->has_ds)
            unic->tensor_zero(&d);
        else
            unic->tensor_copy(&d, &g);
    }
    if (bl->has_ds) {
        bn_backward(&bl->bds, s1, grad_of(x, bl->bds.w), grad_of(x, bl->bds.b), d_out, s->tds, mo);
        conv_backward(&bl->ds, dx, grad_of(x, bl->ds.w), s1, s->in, n, bl->hi, bl->wi, bl->ho,
                      bl->wo, col);
    }
    bn_backward(&bl->b3, s1, grad_of(x, bl->b3.w), grad_of(x, bl->b3.b), d_out, s->t3, mo);
    unic_tensor z2 = view2(s2, 1, bl->planes * mo);
    unic->tensor_zero(&z2);
    conv_backward(&bl->c3, s2, grad_of(x, bl->c3.w), s1, s->a2, n, bl->ho, bl->wo, bl->ho, bl->wo,
                  col);
    relu_backward(s2, s->a2, bl->planes * mo);
    bn_backward(&bl->b2, s1, grad_of(x, bl->b2.w), grad_of(x, bl->b2.b), s2, s->t2, mo);
    unic_tensor z3 = view2(s3, 1, bl->planes * mi);
    unic->tensor_zero(&z3);
    conv_backward(&bl->c2, s3, grad_of(x, bl->c2.w), s1, s->a1, n, bl->hi, bl->wi, bl->ho, bl->wo,
                  col);
    relu_backward(s3, s->a1, bl->planes * mi);
    bn_backward(&bl->b1, s2, grad_of(x, bl->b1.w), grad_of(x, bl->b1.b), s3, s->t1, mi);
    conv_backward(&bl->c1, dx, grad_of(x, bl->c1.w), s2, s->in, n, bl->hi, bl->wi, bl->hi, bl->wi,
                  col);
}

/* full: dL/d(pool output) back through the max pool, ReLU, bn1 and conv1. */
static void stem_backward(resnet *x, const unic_tensor *d_pool, int n)
{
    int64_t s1 = (int64_t)n * x->h1 * x->w1, planes = (int64_t)x->stem.cout * n;
    unic_tensor d = view2(x->g_stem, planes, (int64_t)x->h1 * x->w1);
    unic_tensor dp = view2(d_pool, planes, (int64_t)x->hp * x->wp);
    unic_tensor a0 = view2(x->s_a0, planes, (int64_t)x->h1 * x->w1);
    unic->tensor_zero(&d);
    unic->max_pool_backward(&d, &dp, &a0, x->h1, x->w1, 3, 2, 1);
    relu_backward(x->g_stem, x->s_a0, x->stem.cout * s1);
    bn_backward(&x->stem_bn, x->g_stem2, grad_of(x, x->stem_bn.w), grad_of(x, x->stem_bn.b),
                x->g_stem, x->s_t0, s1);
    conv_backward(&x->stem, NULL, grad_of(x, x->stem.w), x->g_stem2, x->s_img, n, (int)x->height,
                  (int)x->width, x->h1, x->w1, x->g_col);
}

/* d_emb [n, embed_dim] (host) for the images of the last forward: spread
 * over the last feature map by the average pool (a GEMM with the ones
 * vector), then the trained blocks from the last to the first (and the stem
 * with full). */
static void backward(void *self, const unic_tensor *d_emb)
{
    resnet *x = self;
    if (!x->nparams || x->batch == 0) return;
    int n = (int)x->batch, C = x->embed_dim;
    const block *last = &x->blocks[x->nblocks - 1];
    int64_t hw = (int64_t)last->ho * last->wo;
    for (int c = 0; c < C; c++)
        for (int b = 0; b < n; b++)
            x->pooled_host->data[(int64_t)c * n + b] = d_emb->data[(int64_t)b * C + c];
    unic_tensor gh = view2(x->pooled_host, (int64_t)C * n, 1);
    unic_tensor g = view2(x->pooled, (int64_t)C * n, 1);
    unic->tensor_copy(&g, &gh);
    unic_tensor ones = view2(x->ones, 1, hw), spread = view2(x->g_a, (int64_t)C * n, hw);
    unic->gemm(0, 0, 1.0f / (float)hw, &g, &ones, 0.0f, &spread);
    const unic_tensor *d = x->g_a, *other = x->g_b;
    for (int i = x->nblocks - 1; i >= x->first_block; i--) {
        int want_dx = i > x->first_block || x->stem_trains;
        block_backward(x, &x->blocks[i], &x->sb[i - x->first_block], n, d, want_dx ? other : NULL);
        const unic_tensor *t = d;
        d = other;
        other = t;
    }
    if (x->stem_trains) stem_backward(x, d, n);
}

/* frozen: none, which makes the core embed the dataset once. */
static int parameters(void *self, unic_param_tensor *out, int max)
{
    resnet *x = self;
    for (int i = 0; i < x->nparams && i < max; i++) out[i] = x->params[i];
    return x->nparams;
}

static const unic_backbone_ops ops = {
    .open = open_input,
    .forward = forward,
    .backward = backward,
    .parameters = parameters,
    .set_training = set_training,
};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_BACKBONE,
    .name = "resnet50",
    .doc = "bottleneck ResNet-50/101/152 from a torchvision-named safetensors checkpoint (global "
           "average pool, CPU or GPU; frozen, layer4 or fully trainable)",
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
