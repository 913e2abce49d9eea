/* The pre-norm transformer block (unic/transformer_block.h) on the
 * device-dispatching ops, with an explicit forward and backward as in
 * llm.c. One forward serves inference and training: what changes is where
 * each intermediate lands (forward_buffers), either a few work buffers that
 * take turns, or the saved activations backward reads. The residual stream
 * x is updated in place, so a stack of blocks needs no buffer per block. */
#include "ops/transformer_block.h"

#include "base/util.h"
#include "ops/ops.h"

/* ---- activations --------------------------------------------------------- */

static unic_tensor *new_rows(unic_device dev, int64_t rows, int64_t cols)
{
    return unic_tensor_2d(dev, rows, cols);
}

unic_block_activations *unic_block_activations_new(const unic_block *b, int64_t max_rows,
                                                   int tokens, int keep)
{
    if (tokens < 1 || max_rows < 1 || max_rows % tokens)
        unic_die("block_activations_new: %lld token rows are not whole images of %d tokens",
                 (long long)max_rows, tokens);
    unic_device dev = b->w.qkv_w->device;
    int64_t d = b->dim, h = b->hidden, n = max_rows;
    unic_block_activations *a = unic_xcalloc(1, sizeof *a);
    a->max_rows = n;
    a->tokens = tokens;
    a->keep = keep != 0;
    if (!keep) {
        a->work_d[0] = new_rows(dev, n, d);
        a->work_d[1] = new_rows(dev, n, d);
        a->work_qkv = new_rows(dev, n, 3 * d);
        a->work_hid[0] = new_rows(dev, n, h); /* work_hid[1]: the first backward's */
        return a;
    }
    a->xin = new_rows(dev, n, d);
    a->ln1 = new_rows(dev, n, d);
    a->qkv = new_rows(dev, n, 3 * d);
    a->probs = new_rows(dev, n * b->heads, tokens);
    a->att = new_rows(dev, n, d);
    a->xmid = new_rows(dev, n, d);
    a->ln2 = new_rows(dev, n, d);
    a->pre = new_rows(dev, n, h);
    a->post = new_rows(dev, n, h);
    /* the branches before LayerScale: only its gradient reads them */
    if (b->w.ls1) a->proj = new_rows(dev, n, d);
    if (b->w.ls2) a->mlp = new_rows(dev, n, d);
    return a;
}

void unic_block_activations_free(unic_block_activations *a)
{
    if (!a) return;
    unic_tensor *all[] = {a->xin,  a->ln1,  a->qkv,        a->probs,      a->att,
                          a->xmid, a->ln2,  a->pre,        a->post,       a->proj,
                          a->mlp,  a->work_d[0], a->work_d[1], a->work_qkv, a->work_hid[0],
                          a->work_hid[1]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) unic_tensor_free(all[i]);
    unic_xfree(a);
}

/* ---- checks -------------------------------------------------------------- */

/* x viewed as [rows, dim], whether it came as that or [images, tokens, dim]. */
static unic_tensor stream_view(const unic_tensor *x, const unic_block *b, const char *op)
{
    if (x->shape[x->ndim - 1] != b->dim)
        unic_die("%s: rows of %lld, the block's dim is %d", op,
                 (long long)x->shape[x->ndim - 1], b->dim);
    return (unic_tensor){x->data, {unic_numel(x) / b->dim, b->dim}, 2, x->device};
}

static void check_activations(const unic_block_activations *a, int keep, int64_t rows,
                              int tokens, const char *op)
{
    const char *kind = keep ? "saved (keep = 1)" : "work (keep = 0)";
    if (!a) unic_die("%s: no %s activations", op, kind);
    if (a->keep != keep) unic_die("%s: %s activations expected, got the other kind", op, kind);
    if (rows > a->max_rows)
        unic_die("%s: %lld token rows, the %s activations hold %lld", op, (long long)rows, kind,
                 (long long)a->max_rows);
    if (a->tokens != tokens || rows % tokens)
        unic_die("%s: %lld rows of %d-token images, the %s activations are for %d tokens", op,
                 (long long)rows, tokens, kind, a->tokens);
}

/* Saved activations hold the unscaled branches exactly when b has LayerScale. */
static void check_layerscale(const unic_block_activations *s, const unic_block *b, const char *op)
{
    if (!b->w.ls1 != !s->proj || !b->w.ls2 != !s->mlp)
        unic_die("%s: saved activations allocated for a block %s LayerScale", op,
                 s->proj ? "with" : "without");
}

/* Backward accumulates into a gradient for every weight the block has. */
static void check_gradients(const unic_block *b, const char *op)
{
    unic_block copy = *b; /* the walk hands out writable slots */
    for (int i = 0; i < UNIC_BLOCK_TENSORS; i++)
        if (*unic_block_tensor(&copy.w, i) && !*unic_block_tensor(&copy.g, i))
            unic_die("%s: no gradient tensor for %s", op, unic_block_tensor_name(i));
}

/* ---- forward -------------------------------------------------------------- */

/* Where one forward's intermediates go, each a [rows, ...] view. */
typedef struct block_buffers {
    int keep;
    unic_tensor xin, ln1, qkv, probs, att, proj, xmid, ln2, pre, post, mlp;
    unic_tensor branch; /* a branch times its LayerScale, when proj / mlp must stay unscaled */
} block_buffers;

static block_buffers forward_buffers(const unic_block_activations *s, int64_t r0,
                                     const unic_block_activations *w, int64_t rows, int heads)
{
    block_buffers v = {0};
    unic_tensor a = unic_rows(w->work_d[0], 0, rows), b = unic_rows(w->work_d[1], 0, rows);
    v.branch = b;
    if (!s) { /* norm1, attention and norm2 take turns in a; proj and fc2 in b; GELU in place */
        v.ln1 = v.att = v.ln2 = a;
        v.qkv = unic_rows(w->work_qkv, 0, rows);
        v.proj = v.mlp = b;
        v.pre = v.post = unic_rows(w->work_hid[0], 0, rows);
        return v;
    }
    v.keep = 1;
    v.xin = unic_rows(s->xin, r0, rows);
    v.ln1 = unic_rows(s->ln1, r0, rows);
    v.qkv = unic_rows(s->qkv, r0, rows);
    v.probs = unic_rows(s->probs, r0 * heads, rows * heads);
    v.att = unic_rows(s->att, r0, rows);
    v.xmid = unic_rows(s->xmid, r0, rows);
    v.ln2 = unic_rows(s->ln2, r0, rows);
    v.pre = unic_rows(s->pre, r0, rows);
    v.post = unic_rows(s->post, r0, rows);
    /* without LayerScale backward never reads the branches: they pass through b */
    v.proj = s->proj ? unic_rows(s->proj, r0, rows) : b;
    v.mlp = s->mlp ? unic_rows(s->mlp, r0, rows) : b;
    return v;
}

/* x += gamma * y by columns (gamma NULL: 1). scratch receives gamma * y,
 * unless it is y itself, which is then scaled in place. */
static void residual_forward(unic_tensor *x, unic_tensor *y, const unic_tensor *gamma,
                             unic_tensor *scratch)
{
    if (gamma) {
        if (scratch->data != y->data) unic_tensor_copy(scratch, y);
        unic_scale_columns(scratch, gamma);
        y = scratch;
    }
    unic_add(x, y, 1.0f);
}

void unic_block_forward(unic_tensor *x, const unic_block *b, unic_block_activations *saved,
                        int64_t first_row, unic_block_activations *work)
{
    const char *op = "block_forward";
    unic_tensor xs = stream_view(x, b, op); /* [rows, d] */
    int64_t rows = xs.shape[0];
    int t = work ? work->tokens : 1;
    check_activations(work, 0, rows, t, op);
    if (saved) check_activations(saved, 1, first_row + rows, t, op);
    if (saved) check_layerscale(saved, b, op);
    block_buffers v = forward_buffers(saved, first_row, work, rows, b->heads);
    const unic_block_tensors *w = &b->w;

    /* x = x + ls1 * proj(attention(qkv(norm1(x)))) */
    if (v.keep) unic_tensor_copy(&v.xin, &xs);
    unic_layer_norm_forward(&v.ln1, &xs, w->norm1_w, w->norm1_b, b->eps);  /* [rows, d] */
    unic_linear_forward(&v.qkv, &v.ln1, w->qkv_w, w->qkv_b);              /* [rows, 3 d] */
    unic_attention_forward(&v.att, v.keep ? &v.probs : NULL, &v.qkv, t, b->heads); /* [rows, d] */
    unic_linear_forward(&v.proj, &v.att, w->proj_w, w->proj_b);           /* [rows, d] */
    residual_forward(&xs, &v.proj, w->ls1, &v.branch);
    /* x = x + ls2 * fc2(gelu(fc1(norm2(x)))) */
    if (v.keep) unic_tensor_copy(&v.xmid, &xs);
    unic_layer_norm_forward(&v.ln2, &xs, w->norm2_w, w->norm2_b, b->eps);  /* [rows, d] */
    unic_linear_forward(&v.pre, &v.ln2, w->fc1_w, w->fc1_b);              /* [rows, h] */
    unic_gelu_forward(&v.post, &v.pre);                                   /* [rows, h] */
    unic_linear_forward(&v.mlp, &v.post, w->fc2_w, w->fc2_b);             /* [rows, d] */
    residual_forward(&xs, &v.mlp, w->ls2, &v.branch);
}

/* ---- backward ------------------------------------------------------------- */

/* The gradient reaching a residual branch y that was scaled by gamma: d_out
 * itself without LayerScale; else gamma * d_out, in scratch, and d_gamma +=
 * the column sums of d_out * y. */
static const unic_tensor *residual_backward(unic_tensor *scratch, unic_tensor *d_gamma,
                                            const unic_tensor *d_out, const unic_tensor *y,
                                            const unic_tensor *gamma)
{
    if (!gamma) return d_out;
    unic_tensor_copy(scratch, d_out);
    unic_scale_columns(scratch, gamma);
    unic_column_dot(d_gamma, d_out, y);
    return scratch;
}

/* The gradients flowing back through a block, in the work buffers. */
typedef struct block_grads {
    unic_tensor da, db;    /* [rows, d] each, in turn */
    unic_tensor dqkv;      /* [rows, 3 d] */
    unic_tensor dh, dh2;   /* [rows, h]: after and before the GELU */
} block_grads;

/* out = xmid + ls2 * fc2(gelu(fc1(norm2(xmid)))): ds from d(out) to d(xmid). */
static void mlp_backward(unic_tensor *ds, const unic_block *b, const block_buffers *v,
                         block_grads *s)
{
    const unic_block_tensors *w = &b->w, *g = &b->g;
    const unic_tensor *d_mlp = residual_backward(&s->db, g->ls2, ds, &v->mlp, w->ls2);
    unic_tensor_zero(&s->dh);
    unic_linear_backward(&s->dh, g->fc2_w, g->fc2_b, d_mlp, &v->post, w->fc2_w);
    unic_tensor_zero(&s->dh2);
    unic_gelu_backward(&s->dh2, &v->pre, &s->dh);
    unic_tensor_zero(&s->da);
    unic_linear_backward(&s->da, g->fc1_w, g->fc1_b, &s->dh2, &v->ln2, w->fc1_w);
    unic_layer_norm_backward(ds, g->norm2_w, g->norm2_b, &s->da, &v->xmid, w->norm2_w, b->eps);
}

/* xmid = xin + ls1 * proj(attention(qkv(norm1(xin)))): ds from d(xmid) to
 * d(xin), or left as it is without input_grad. */
static void attention_branch_backward(unic_tensor *ds, const unic_block *b,
                                      const block_buffers *v, block_grads *s, int tokens,
                                      int input_grad)
{
    const unic_block_tensors *w = &b->w, *g = &b->g;
    const unic_tensor *d_proj = residual_backward(&s->db, g->ls1, ds, &v->proj, w->ls1);
    unic_tensor_zero(&s->da);
    unic_linear_backward(&s->da, g->proj_w, g->proj_b, d_proj, &v->att, w->proj_w);
    unic_tensor_zero(&s->dqkv);
    unic_attention_backward(&s->dqkv, &s->da, &v->qkv, &v->probs, tokens, b->heads);
    unic_tensor_zero(&s->db);
    unic_linear_backward(&s->db, g->qkv_w, g->qkv_b, &s->dqkv, &v->ln1, w->qkv_w);
    unic_layer_norm_backward(input_grad ? ds : NULL, g->norm1_w, g->norm1_b, &s->db, &v->xin,
                             w->norm1_w, b->eps);
}

/* Attention mixes the tokens of an image, so every token's path reaches
 * every weight's gradient: dx holds all rows' gradients, not just those a
 * loss looked at. The saved rows are read where forward put them. */
void unic_block_backward(unic_tensor *dx, const unic_block *b,
                         const unic_block_activations *saved, unic_block_activations *work,
                         int input_grad)
{
    const char *op = "block_backward";
    unic_tensor ds = stream_view(dx, b, op); /* [rows, d], the residual stream's gradient */
    int64_t rows = ds.shape[0];
    int t = saved ? saved->tokens : 1;
    check_activations(saved, 1, rows, t, op);
    check_activations(work, 0, rows, t, op);
    check_layerscale(saved, b, op);
    check_gradients(b, op);
    if (!work->work_hid[1])
        work->work_hid[1] = new_rows(ds.device, work->max_rows, b->hidden);
    block_buffers v = forward_buffers(saved, 0, work, rows, b->heads);
    block_grads s = {
        .da = unic_rows(work->work_d[0], 0, rows), .db = unic_rows(work->work_d[1], 0, rows),
        .dqkv = unic_rows(work->work_qkv, 0, rows), .dh = unic_rows(work->work_hid[0], 0, rows),
        .dh2 = unic_rows(work->work_hid[1], 0, rows)};
    mlp_backward(&ds, b, &v, &s);
    attention_branch_backward(&ds, b, &v, &s, t, input_grad);
}
