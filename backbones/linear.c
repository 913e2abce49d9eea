/* `linear`: a seeded random projection of the raw pixels, y = (scale x) W^T
 * with W [dim, D] drawn from N(0, 1 / dim), so distances between items are
 * kept in expectation (Johnson-Lindenstrauss) and the neighbours mined on
 * it are close to the pixels' own. With finetune = full, W trains with the
 * heads: a backbone that tunes in minutes on two CPU cores, for the small
 * versions of the experiments whose point is a trained representation
 * (Table 6's "+ tune" rows, Table 3's contrastive column, Figure 7), where
 * the paper tunes a ViT's last block.
 *
 *   forward:  a = scale x [n, D],  y = a W^T [n, dim]
 *   backward: dW += dy^T a   (nothing before it trains) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct linear {
    int dim, trainable;
    float scale;
    uint64_t seed;
    int64_t in_dim;
    unic_tensor *w, *dw;
    float *a;          /* scaled inputs of the last training forward */
    int64_t a_rows;    /* rows a holds room for */
    int64_t last_rows; /* rows of the last training forward */
    int training;
} linear;

static const unic_param_spec params[] = {
    {"dim", UNIC_INT, "256", "embedding width (rows of the projection)", "1..65536"},
    {"finetune", UNIC_CHOICE, "full", "full: the projection trains with the heads; frozen: a "
     "fixed random projection", "frozen|full"},
    {"scale", UNIC_FLOAT, "0.00392156862745098", "multiplier applied to raw values first (1/255: "
     "pixels to [0, 1])", NULL},
    {"seed", UNIC_INT, "0", "seed of the projection", "0.."},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    linear *l = calloc(1, sizeof *l);
    l->dim = (int)unic->param_int(p, "dim");
    l->trainable = strcmp(unic->param_str(p, "finetune"), "full") == 0;
    l->scale = (float)unic->param_float(p, "scale");
    l->seed = (uint64_t)unic->param_int(p, "seed");
    return l;
}

static void destroy(void *self)
{
    linear *l = self;
    unic->tensor_free(l->w);
    unic->tensor_free(l->dw);
    free(l->a);
    free(l);
}

/* W ~ N(0, 1 / dim): Box-Muller on a seeded stream. */
static void init_weights(linear *l)
{
    int64_t n = (int64_t)l->dim * l->in_dim;
    unic_rng g = unic_rng_stream(l->seed, 0x11ea5u, 0);
    double sd = 1.0 / sqrt((double)l->dim);
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = ((double)(unic_rng_u64(&g) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        double u2 = (double)(unic_rng_u64(&g) >> 11) * (1.0 / 9007199254740992.0);
        double r = sd * sqrt(-2.0 * log(u1));
        l->w->data[i] = (float)(r * cos(2.0 * M_PI * u2));
        if (i + 1 < n) l->w->data[i + 1] = (float)(r * sin(2.0 * M_PI * u2));
    }
}

static int open_input(void *self, const unic_input_info *in, int *embed_dim, char *err,
                      size_t errlen)
{
    linear *l = self;
    int64_t d = 1;
    for (int i = 0; i < in->ndim; i++) d *= in->shape[i];
    if (l->w && d != l->in_dim) {
        snprintf(err, errlen, "%s: items of %lld values, but the projection was made for %lld",
                 in->source, (long long)d, (long long)l->in_dim);
        return -1;
    }
    if (!l->w) { /* a second open (the evaluation set) keeps the projection */
        int64_t shape[2] = {l->dim, d};
        l->in_dim = d;
        l->w = unic->tensor_new(UNIC_CPU, 2, shape);
        l->dw = unic->tensor_new(UNIC_CPU, 2, shape);
        init_weights(l);
    }
    *embed_dim = l->dim;
    return 0;
}

static void forward(void *self, const unic_tensor *input, unic_tensor *emb)
{
    linear *l = self;
    int64_t n = input->shape[0], d = l->in_dim;
    float *a = l->a;
    if (!l->training || n > l->a_rows) { /* a scratch for an evaluation pass, or room to keep */
        a = malloc(sizeof(float) * (size_t)(n * d));
        if (l->training) {
            free(l->a);
            l->a = a;
            l->a_rows = n;
        }
    }
    for (int64_t i = 0; i < n * d; i++) a[i] = input->data[i] * l->scale;
    unic_tensor av = {a, {n, d}, 2, UNIC_CPU};
    unic->linear_forward(emb, &av, l->w, NULL);
    if (l->training)
        l->last_rows = n;
    else
        free(a);
}

static void backward(void *self, const unic_tensor *d_emb)
{
    linear *l = self;
    if (!l->trainable) return;
    unic_tensor av = {l->a, {l->last_rows, l->in_dim}, 2, UNIC_CPU};
    unic->linear_backward(NULL, l->dw, NULL, d_emb, &av, l->w);
}

static int parameters(void *self, unic_param_tensor *out, int max)
{
    linear *l = self;
    if (!l->trainable) return 0;
    if (max > 0) out[0] = (unic_param_tensor){"weight", l->w, l->dw};
    return 1;
}

static void set_training(void *self, int training) { ((linear *)self)->training = training; }

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
    .name = "linear",
    .doc = "a seeded random projection of the pixels (distances kept in expectation), trainable "
           "with finetune = full: a backbone that tunes on the CPU",
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
