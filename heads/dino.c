/* `dino`: the projection head of DINO and GCD (DINOHead): an MLP of
 * `layers` linear layers with GELU between them (in -> hidden -> ... ->
 * bottleneck), its output L2-normalised (F.normalize, eps 1e-12). GCD's
 * supervised contrastive loss reads these normalised bottleneck features
 * (out_dim = 0, the default). With out_dim = N > 0 the head ends, as DINO's
 * does, in a bias-free linear layer of N outputs under weight normalisation
 * (w = g v / ||v|| per output row), g fixed at 1 (norm_last_layer) or
 * trained.
 *
 * Initialisation as DINO's _init_weights: MLP weights from a normal of std
 * 0.02 truncated to [-2, 2], biases 0; the last layer's v as torch.nn.Linear
 * draws it, g = 1. Parameter names are DINOHead's state_dict names
 * (mlp.0.weight, ..., last_layer.weight_v).
 *
 *   forward, rows n:  a_0 = x [n, in]
 *                     p_i = a_i W_i^T + b_i,  a_{i+1} = gelu(p_i)   (i < L - 1)
 *                     z = p_{L-1} [n, bottleneck],  y = z / max(||z||, eps)
 *                     out = y            (out_dim = 0)
 *                     out = y w^T [n, N] (out_dim = N)
 *   backward:         dy = d_out w, dw = d_out^T y; dv = g/||v|| (dw - (dw.v^) v^),
 *                     dg = dw.v^; dz = (dy - y (y.dy)) / ||z||; then the MLP.
 *
 * The normalisations run on the host (a GPU's rows and v come over through
 * tensor_copy); everything else on the api's ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

#define MAX_LAYERS 8
#define NORM_EPS 1e-12

typedef struct dino {
    int layers, hidden, bottleneck, out_dim, norm_last;
    int in_dim, max_rows;
    unic_device dev;
    /* MLP: W_i [out_i, in_i], b_i [out_i]; p_i pre-activations, a_i GELU outputs [max_rows, *] */
    unic_tensor *w[MAX_LAYERS], *b[MAX_LAYERS], *dw[MAX_LAYERS], *db[MAX_LAYERS];
    unic_tensor *pre[MAX_LAYERS], *act[MAX_LAYERS], *d_pre[MAX_LAYERS], *d_act[MAX_LAYERS];
    unic_tensor x; /* the input of the last forward (a view) */
    /* normalisation: z, y and their gradients on the host; norms of the rows */
    unic_tensor *z_host, *y_host, *dy_host;
    double *norm;
    /* last layer (out_dim > 0): v [N, bottleneck], g [N, 1], the effective w */
    unic_tensor *v, *g, *dv, *dg, *wn, *dwn, *y_dev, *dy_dev;
    unic_tensor *v_host, *dv_host, *dwn_host;
    double *vnorm; /* ||v_o|| at the last forward */
} dino;

static const unic_param_spec params[] = {
    {"layers", UNIC_INT, "3", "linear layers of the MLP (DINO and GCD: 3)", "1..8"},
    {"hidden", UNIC_INT, "2048", "width of the hidden layers", "1..65536"},
    {"bottleneck", UNIC_INT, "256", "width of the L2-normalised features", "1..65536"},
    {"out_dim", UNIC_INT, "0", "0: the output is the normalised bottleneck (what a contrastive "
     "loss reads); N: DINO's weight-normalised last layer with N outputs", "0..262144"},
    {"norm_last_layer", UNIC_BOOL, "true", "out_dim > 0: keep the last layer's weight_g at 1 "
     "(DINO's norm_last_layer); false trains it", NULL},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    dino *d = calloc(1, sizeof *d);
    d->layers = (int)unic->param_int(p, "layers");
    d->hidden = (int)unic->param_int(p, "hidden");
    d->bottleneck = (int)unic->param_int(p, "bottleneck");
    d->out_dim = (int)unic->param_int(p, "out_dim");
    d->norm_last = unic->param_bool(p, "norm_last_layer");
    return d;
}

static void destroy(void *self)
{
    dino *d = self;
    for (int i = 0; i < MAX_LAYERS; i++) {
        unic_tensor *all[] = {d->w[i], d->b[i], d->dw[i], d->db[i], d->pre[i], d->act[i],
                              d->d_pre[i], d->d_act[i]};
        for (size_t k = 0; k < sizeof all / sizeof *all; k++) unic->tensor_free(all[k]);
    }
    int cpu = d->dev == UNIC_CPU;
    unic_tensor *own[] = {d->v, d->g, d->dv, d->dg, d->wn, d->dwn, d->y_dev, d->dy_dev};
    for (size_t k = 0; k < sizeof own / sizeof *own; k++) unic->tensor_free(own[k]);
    unic->tensor_free(d->z_host);
    unic->tensor_free(d->y_host);
    unic->tensor_free(d->dy_host);
    if (!cpu) {
        unic->tensor_free(d->v_host);
        unic->tensor_free(d->dv_host);
        unic->tensor_free(d->dwn_host);
    }
    free(d->norm);
    free(d->vnorm);
    free(d);
}

static unic_tensor *new2(unic_device dev, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return unic->tensor_new(dev, 2, shape);
}

static unic_tensor *new1(unic_device dev, int64_t n) { return unic->tensor_new(dev, 1, &n); }

/* Width of layer i's output. */
static int out_of(const dino *d, int i) { return i == d->layers - 1 ? d->bottleneck : d->hidden; }
static int in_of(const dino *d, int i) { return i == 0 ? d->in_dim : d->hidden; }

/* timm's trunc_normal_(std = 0.02, a = -2, b = 2): Box-Muller normals,
 * redrawn outside [a, b], from a seeded stream; written on the host and
 * copied to the tensor's device. */
static void fill_trunc_normal(unic_tensor *t, float std, uint64_t seed, uint64_t stream)
{
    int64_t n = unic_numel(t);
    float *h = malloc(sizeof(float) * (size_t)n);
    unic_rng g = unic_rng_stream(seed, 0xd1e0u + stream, 0);
    for (int64_t i = 0; i < n; i++) {
        double v;
        do {
            double u1 = ((double)(unic_rng_u64(&g) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
            double u2 = (double)(unic_rng_u64(&g) >> 11) * (1.0 / 9007199254740992.0);
            v = std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        } while (v < -2.0 || v > 2.0);
        h[i] = (float)v;
    }
    unic_tensor view = *t;
    view.device = UNIC_CPU;
    view.data = h;
    unic->tensor_copy(t, &view);
    free(h);
}

static void fill_const(unic_tensor *t, float value)
{
    int64_t n = unic_numel(t);
    float *h = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) h[i] = value;
    unic_tensor view = *t;
    view.device = UNIC_CPU;
    view.data = h;
    unic->tensor_copy(t, &view);
    free(h);
}

/* A host mirror of a device tensor, or the tensor itself on the CPU. */
static unic_tensor *host_mirror(const dino *d, unic_tensor *t)
{
    return d->dev == UNIC_CPU ? t : unic->tensor_new(UNIC_CPU, t->ndim, t->shape);
}

static int setup(void *self, int in_dim, int k, int max_rows, unic_device dev, uint64_t seed,
                 char *err, size_t errlen)
{
    dino *d = self;
    (void)k;
    d->in_dim = in_dim;
    d->max_rows = max_rows;
    d->dev = dev;
    for (int i = 0; i < d->layers; i++) {
        int o = out_of(d, i), in = in_of(d, i);
        d->w[i] = new2(dev, o, in);
        d->b[i] = new1(dev, o);
        d->dw[i] = new2(dev, o, in);
        d->db[i] = new1(dev, o);
        d->pre[i] = new2(dev, max_rows, o);
        d->d_pre[i] = new2(dev, max_rows, o);
        if (i < d->layers - 1) {
            d->act[i] = new2(dev, max_rows, o);
            d->d_act[i] = new2(dev, max_rows, o);
        }
        fill_trunc_normal(d->w[i], 0.02f, seed, (uint64_t)i); /* biases stay 0 */
    }
    d->z_host = new2(UNIC_CPU, max_rows, d->bottleneck);
    d->y_host = new2(UNIC_CPU, max_rows, d->bottleneck);
    d->dy_host = new2(UNIC_CPU, max_rows, d->bottleneck);
    d->norm = calloc((size_t)max_rows, sizeof(double));
    if (d->out_dim > 0) {
        int n = d->out_dim, b = d->bottleneck;
        d->v = new2(dev, n, b);
        d->dv = new2(dev, n, b);
        d->g = new2(dev, n, 1);
        d->dg = new2(dev, n, 1);
        d->wn = new2(dev, n, b);
        d->dwn = new2(dev, n, b);
        d->y_dev = new2(dev, max_rows, b);
        d->dy_dev = new2(dev, max_rows, b);
        d->v_host = host_mirror(d, d->v);
        d->dv_host = host_mirror(d, d->dv);
        d->dwn_host = host_mirror(d, d->dwn);
        d->vnorm = calloc((size_t)n, sizeof(double));
        /* torch.nn.Linear(bottleneck, N, bias=False), then weight_norm; DINO fills g with 1 */
        unic->fill_uniform(d->v, 1.0f / sqrtf((float)b), seed, 100);
        fill_const(d->g, 1.0f);
    }
    return 0;
}

static int output_width(void *self)
{
    const dino *d = self;
    return d->out_dim > 0 ? d->out_dim : d->bottleneck;
}

/* w = g v / ||v||, row by row, on the host; remembers ||v||. */
static void weight_norm_forward(dino *d)
{
    int n = d->out_dim, b = d->bottleneck;
    if (d->v_host != d->v) unic->tensor_copy(d->v_host, d->v);
    float *gh = malloc(sizeof(float) * (size_t)n), *wh = malloc(sizeof(float) * (size_t)n * b);
    unic_tensor gv = {gh, {n, 1}, 2, UNIC_CPU}, wv = {wh, {n, b}, 2, UNIC_CPU};
    unic->tensor_copy(&gv, d->g);
    for (int o = 0; o < n; o++) {
        const float *v = d->v_host->data + (size_t)o * b;
        double s = 0;
        for (int c = 0; c < b; c++) s += (double)v[c] * v[c];
        d->vnorm[o] = sqrt(s);
        double f = gh[o] / d->vnorm[o];
        for (int c = 0; c < b; c++) wh[(size_t)o * b + c] = (float)(f * v[c]);
    }
    unic->tensor_copy(d->wn, &wv);
    free(gh);
    free(wh);
}

/* dv += g/||v|| (dw - (dw.v^) v^), dg += dw.v^ (when g trains). */
static void weight_norm_backward(dino *d)
{
    int n = d->out_dim, b = d->bottleneck;
    if (d->dwn_host != d->dwn) unic->tensor_copy(d->dwn_host, d->dwn);
    if (d->dv_host != d->dv) unic->tensor_copy(d->dv_host, d->dv);
    float *gh = malloc(sizeof(float) * (size_t)n), *dgh = malloc(sizeof(float) * (size_t)n);
    unic_tensor gv = {gh, {n, 1}, 2, UNIC_CPU}, dgv = {dgh, {n, 1}, 2, UNIC_CPU};
    unic->tensor_copy(&gv, d->g);
    unic->tensor_copy(&dgv, d->dg);
    for (int o = 0; o < n; o++) {
        const float *v = d->v_host->data + (size_t)o * b, *dw = d->dwn_host->data + (size_t)o * b;
        float *dv = d->dv_host->data + (size_t)o * b;
        double vn = d->vnorm[o], s = 0;
        for (int c = 0; c < b; c++) s += (double)dw[c] * v[c] / vn;
        for (int c = 0; c < b; c++) dv[c] += (float)(gh[o] / vn * (dw[c] - s * v[c] / vn));
        dgh[o] += (float)s;
    }
    if (d->dv_host != d->dv) unic->tensor_copy(d->dv, d->dv_host);
    if (!d->norm_last) unic->tensor_copy(d->dg, &dgv);
    free(gh);
    free(dgh);
}

static void forward(void *self, const unic_tensor *x, unic_tensor *out)
{
    dino *d = self;
    int64_t n = x->shape[0];
    int b = d->bottleneck;
    d->x = *x;
    const unic_tensor *in = x;
    unic_tensor a;
    for (int i = 0; i < d->layers; i++) {
        unic_tensor p = unic_rows(d->pre[i], 0, n);
        unic->linear_forward(&p, in, d->w[i], d->b[i]);
        if (i == d->layers - 1) break;
        a = unic_rows(d->act[i], 0, n);
        unic->gelu_forward(&a, &p);
        in = &a;
    }
    /* y = z / max(||z||, eps) on the host */
    unic_tensor z = unic_rows(d->pre[d->layers - 1], 0, n), zh = unic_rows(d->z_host, 0, n);
    unic->tensor_copy(&zh, &z);
    for (int64_t r = 0; r < n; r++) {
        const float *zr = zh.data + r * b;
        float *yr = d->y_host->data + r * b;
        double s = 0;
        for (int c = 0; c < b; c++) s += (double)zr[c] * zr[c];
        d->norm[r] = sqrt(s);
        double den = d->norm[r] > NORM_EPS ? d->norm[r] : NORM_EPS;
        for (int c = 0; c < b; c++) yr[c] = (float)(zr[c] / den);
    }
    unic_tensor yh = unic_rows(d->y_host, 0, n);
    if (d->out_dim == 0) {
        unic->tensor_copy(out, &yh);
        return;
    }
    unic_tensor y = unic_rows(d->y_dev, 0, n);
    unic->tensor_copy(&y, &yh);
    weight_norm_forward(d);
    unic->linear_forward(out, &y, d->wn, NULL);
}

static void backward(void *self, const unic_tensor *d_out, unic_tensor *dx)
{
    dino *d = self;
    int64_t n = d_out->shape[0];
    int b = d->bottleneck;
    unic_tensor dyh = unic_rows(d->dy_host, 0, n);
    if (d->out_dim == 0) {
        unic->tensor_copy(&dyh, d_out);
    } else {
        unic_tensor y = unic_rows(d->y_dev, 0, n), dy = unic_rows(d->dy_dev, 0, n);
        unic->tensor_zero(&dy);
        unic->tensor_zero(d->dwn);
        unic->linear_backward(&dy, d->dwn, NULL, d_out, &y, d->wn);
        unic->tensor_copy(&dyh, &dy);
        weight_norm_backward(d);
    }
    /* dz = (dy - y (y.dy)) / ||z||, or dy / eps where the norm was clamped */
    for (int64_t r = 0; r < n; r++) {
        const float *yr = d->y_host->data + r * b;
        float *g = dyh.data + r * b; /* becomes dz in place */
        if (d->norm[r] <= NORM_EPS) {
            for (int c = 0; c < b; c++) g[c] = (float)(g[c] / NORM_EPS);
            continue;
        }
        double dot = 0;
        for (int c = 0; c < b; c++) dot += (double)yr[c] * g[c];
        for (int c = 0; c < b; c++) g[c] = (float)((g[c] - yr[c] * dot) / d->norm[r]);
    }
    int last = d->layers - 1;
    unic_tensor dz = unic_rows(d->d_pre[last], 0, n);
    unic->tensor_copy(&dz, &dyh);
    for (int i = last; i >= 0; i--) {
        unic_tensor dp = unic_rows(d->d_pre[i], 0, n);
        if (i == 0) {
            unic->linear_backward(dx, d->dw[0], d->db[0], &dp, &d->x, d->w[0]);
            break;
        }
        unic_tensor a = unic_rows(d->act[i - 1], 0, n), da = unic_rows(d->d_act[i - 1], 0, n);
        unic_tensor pp = unic_rows(d->pre[i - 1], 0, n), dpp = unic_rows(d->d_pre[i - 1], 0, n);
        unic->tensor_zero(&da);
        unic->tensor_zero(&dpp);
        unic->linear_backward(&da, d->dw[i], d->db[i], &dp, &a, d->w[i]);
        unic->gelu_backward(&dpp, &pp, &da);
    }
}

static int parameters(void *self, unic_param_tensor *out, int max)
{
    dino *d = self;
    static const char *const weight[MAX_LAYERS] = {"mlp.0.weight", "mlp.2.weight", "mlp.4.weight",
                                                   "mlp.6.weight", "mlp.8.weight", "mlp.10.weight",
                                                   "mlp.12.weight", "mlp.14.weight"};
    static const char *const bias[MAX_LAYERS] = {"mlp.0.bias", "mlp.2.bias", "mlp.4.bias",
                                                 "mlp.6.bias", "mlp.8.bias", "mlp.10.bias",
                                                 "mlp.12.bias", "mlp.14.bias"};
    unic_param_tensor all[2 * MAX_LAYERS + 2];
    int n = 0;
    for (int i = 0; i < d->layers; i++) {
        /* one layer is nn.Linear itself (mlp.weight); more are nn.Sequential
         * with a GELU after each but the last (mlp.0, mlp.2, ...) */
        all[n++] = (unic_param_tensor){d->layers == 1 ? "mlp.weight" : weight[i], d->w[i], d->dw[i]};
        all[n++] = (unic_param_tensor){d->layers == 1 ? "mlp.bias" : bias[i], d->b[i], d->db[i]};
    }
    if (d->out_dim > 0) {
        if (!d->norm_last) all[n++] = (unic_param_tensor){"last_layer.weight_g", d->g, d->dg};
        all[n++] = (unic_param_tensor){"last_layer.weight_v", d->v, d->dv};
    }
    for (int i = 0; i < n && i < max; i++) out[i] = all[i];
    return n;
}

static const unic_head_ops ops = {
    .setup = setup,
    .forward = forward,
    .backward = backward,
    .parameters = parameters,
    .output_width = output_width,
};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_HEAD,
    .name = "dino",
    .doc = "DINO / GCD projection head: 3 linear layers with GELU (hidden 2048), L2-normalised "
           "256-d output; out_dim > 0 adds DINO's weight-normalised last layer",
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
