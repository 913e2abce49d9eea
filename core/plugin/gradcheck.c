#include "plugin/gradcheck.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "plugin/params.h"
#include "plugin/registry.h"
#include "unic/rng.h"

/* Where results go, and how many failed. */
typedef struct reporter {
    const unic_component *c;
    unic_check_report report;
    void *ctx;
    int failed;
} reporter;

static void emit(reporter *r, const char *name, int numeric, double error, double tolerance,
                 int pass, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void emit(reporter *r, const char *name, int numeric, double error, double tolerance,
                 int pass, const char *fmt, ...)
{
    unic_check k = {.component = r->c, .numeric = numeric, .error = error,
                    .tolerance = tolerance, .pass = pass};
    snprintf(k.name, sizeof k.name, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k.detail, sizeof k.detail, fmt, ap);
    va_end(ap);
    if (!pass) r->failed++;
    if (r->report) r->report(&k, r->ctx);
}

/* A gradient check: passes below the tolerance (NaN fails). */
static void emit_gradient(reporter *r, const char *name, double error, double tolerance)
{
    emit(r, name, 1, error, tolerance, error < tolerance, "%s", "");
}

/* The component with its default parameters; NULL (one failed check) if
 * create refuses them. */
static void *create_default(reporter *r, unic_params **p)
{
    char err[1024] = "";
    *p = unic_params_new();
    unic_params_add_table(*p, r->c->params);
    void *s = r->c->create(*p, err, sizeof err);
    if (!s) {
        emit(r, "create with default parameters", 0, 0, 0, 0, "%s", err);
        unic_params_free(*p);
    }
    return s;
}

static void fill_uniform(float *x, int64_t n, uint64_t seed)
{
    unic_rng g = unic_rng_stream(seed, 1, 2);
    for (int64_t i = 0; i < n; i++) x[i] = 2.0f * unic_rng_uniform(&g) - 1.0f;
}

/* Central differences on up to `samples` entries of value (spread evenly)
 * against the analytic gradient: ||fd - grad|| / ||fd||. */
static double check_entries(float *value, const float *grad, int64_t n, int samples,
                            double (*f)(void *), void *ctx, float h)
{
    double num = 0, den = 0;
    int64_t stride = n > samples ? n / samples : 1;
    for (int64_t i = 0; i < n; i += stride) {
        float keep = value[i];
        value[i] = keep + h;
        double up = f(ctx);
        value[i] = keep - h;
        double down = f(ctx);
        value[i] = keep;
        double fd = (up - down) / (2.0 * h);
        num += (fd - grad[i]) * (fd - grad[i]);
        den += fd * fd;
    }
    return sqrt(num) / fmax(sqrt(den), 1e-12);
}

/* ---- heads: the objective sum(logits * R) ------------------------------ */

typedef struct head_ctx {
    const unic_component *c;
    void *s;
    unic_tensor *x, *logits;
    const float *r;
} head_ctx;

static double head_f(void *p)
{
    head_ctx *h = p;
    h->c->head->forward(h->s, h->x, h->logits);
    double v = 0;
    for (int64_t i = 0; i < unic_numel(h->logits); i++) v += (double)h->logits->data[i] * h->r[i];
    return v;
}

static void check_head(reporter *r)
{
    const unic_component *c = r->c;
    unic_params *p;
    void *s = create_default(r, &p);
    if (!s) return;
    /* in = 12: the attention head's default 12 heads divide it; a head that
     * takes tokens gets 3 per item */
    const int rows = 5, k = 4, tokens = c->head->takes_tokens ? 3 : 1, in = 12;
    const double tol = 1e-2;
    char err[512] = "";
    if (c->head->setup(s, in, k, rows, UNIC_CPU, 11, err, sizeof err) != 0) {
        emit(r, "setup(in 12, classes 4, rows 5, CPU)", 0, 0, 0, 0, "%s", err);
        c->destroy(s);
        unic_params_free(p);
        return;
    }
    int nd = c->head->takes_tokens ? 3 : 2;
    const int width = unic_head_output_width(c, s, k); /* a projection head's features */
    const int64_t shape3[3] = {rows, tokens, in}, shape2[2] = {rows, in};
    unic_tensor *x = unic_tensor_new(UNIC_CPU, nd, nd == 3 ? shape3 : shape2);
    unic_tensor *dx = unic_tensor_new(UNIC_CPU, nd, nd == 3 ? shape3 : shape2);
    unic_tensor *logits = unic_tensor_2d(UNIC_CPU, rows, width);
    unic_tensor *dl = unic_tensor_2d(UNIC_CPU, rows, width);
    fill_uniform(x->data, unic_numel(x), 5);
    fill_uniform(dl->data, (int64_t)rows * width, 6);
    unic_param_tensor params[64];
    int np = c->head->parameters(s, params, 64);
    for (int j = 0; j < np; j++) unic_tensor_zero(params[j].grad);
    head_ctx ctx = {c, s, x, logits, dl->data};
    head_f(&ctx);
    c->head->backward(s, dl, dx);
    emit_gradient(r, "d input", check_entries(x->data, dx->data, unic_numel(x), 30, head_f, &ctx,
                                              1e-2f), tol);
    for (int j = 0; j < np; j++) {
        char name[128];
        snprintf(name, sizeof name, "d %s", params[j].name);
        emit_gradient(r, name, check_entries(params[j].value->data, params[j].grad->data,
                                             unic_numel(params[j].value), 40, head_f, &ctx, 1e-2f),
                      tol);
    }
    unic_tensor_free(x);
    unic_tensor_free(dx);
    unic_tensor_free(logits);
    unic_tensor_free(dl);
    c->destroy(s);
    unic_params_free(p);
}

/* ---- losses -------------------------------------------------------------- */

typedef struct loss_ctx {
    const unic_component *c;
    void *s;
    const unic_loss_batch *b;
    float *scratch;
} loss_ctx;

static double loss_f(void *p)
{
    loss_ctx *l = p;
    size_t m = (size_t)l->b->n * l->b->k;
    unic_loss_grad g = {l->scratch, l->scratch + m, l->scratch + 2 * m};
    return l->c->loss->forward(l->s, l->b, 1.0f, &g);
}

/* Rows of a softmax of random logits: probabilities away from 0 and 1 so
 * a loss's clamps stay inactive. */
static void random_probs(float *p, int n, int k, uint64_t seed)
{
    unic_rng g = unic_rng_stream(seed, 3, 4);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int c = 0; c < k; c++) s += p[i * k + c] = expf(2.0f * unic_rng_uniform(&g));
        for (int c = 0; c < k; c++) p[i * k + c] = (float)(p[i * k + c] / s);
    }
}

static double rel_diff(const float *a, const float *b, float b_scale, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b_scale * b[i];
        num += d * d;
        den += (double)b_scale * b[i] * b_scale * b[i];
    }
    return sqrt(num) / fmax(sqrt(den), 1e-12);
}

static void check_loss(reporter *r)
{
    const unic_component *c = r->c;
    unic_params *p;
    void *s = create_default(r, &p);
    if (!s) return;
    const int n = 6, k = 5;
    const size_t m = (size_t)n * k;
    float *probs = malloc(sizeof(float) * 3 * m), *grad = calloc(3 * m, sizeof(float));
    float *grad2 = calloc(3 * m, sizeof(float)), *scratch = calloc(3 * m, sizeof(float));
    random_probs(probs, 3 * n, k, 17);
    int32_t labels[6] = {0, -1, 1, -1, 2, 0};
    /* every row's item and label (ABI 6.1): positives 1 and 4 are their
     * anchors again (another view), the rest other items; a negative shares
     * a label with anchor 0 */
    int64_t index[18] = {0, 1, 2, 3, 4, 5, 10, 1, 12, 13, 4, 15, 20, 21, 22, 23, 24, 25};
    int32_t row_labels[18] = {0, -1, 1, -1, 2, 0, -1, -1, 1, -1, 2, -1, 0, -1, -1, -1, -1, -1};
    unic_loss_batch b = {n, k, probs, probs + m, probs + 2 * m, labels, index, row_labels};
    unic_loss_grad g = {grad, grad + m, grad + 2 * m};
    double v = c->loss->forward(s, &b, 1.0f, &g);
    emit(r, "value is finite", 0, 0, 0, isfinite(v), "%g on 6 rows of 5 classes", v);
    loss_ctx ctx = {c, s, &b, scratch};
    const char *names[3] = {"d p_anchor", "d p_pos", "d p_neg"};
    for (int j = 0; j < 3; j++)
        emit_gradient(r, names[j], check_entries(probs + j * m, grad + j * m, (int64_t)m, 30,
                                                 loss_f, &ctx, 1e-3f), 1e-2);
    /* scale multiplies the gradient, and gradients accumulate: 2 + 1 = 3 */
    unic_loss_grad g2 = {grad2, grad2 + m, grad2 + 2 * m};
    c->loss->forward(s, &b, 2.0f, &g2);
    c->loss->forward(s, &b, 1.0f, &g2);
    emit_gradient(r, "scale 2 then 1 accumulates 3x", rel_diff(grad2, grad, 3.0f, 3 * m), 1e-5);
    free(probs);
    free(grad);
    free(grad2);
    free(scratch);
    c->destroy(s);
    unic_params_free(p);
}

/* ---- miners ------------------------------------------------------------- */

enum { CLUSTERS = 3, DIM = 4, DRAWS = 16, MAX_ANCHORS = 600 };

/* n points in CLUSTERS tight clusters 10 apart (point i in cluster i % 3);
 * the even points are labeled with their cluster, as a GCD split would. */
typedef struct points {
    unic_mine_input in;
    float *x;
    int32_t *labels;
} points;

static points make_points(int64_t n)
{
    points p = {.x = malloc(sizeof(float) * (size_t)n * DIM),
                .labels = malloc(sizeof(int32_t) * (size_t)n)};
    unic_rng g = unic_rng_stream(23, 5, 7);
    for (int64_t i = 0; i < n; i++) {
        for (int d = 0; d < DIM; d++)
            p.x[i * DIM + d] = (d == i % CLUSTERS ? 10.0f : 0.0f) + unic_rng_uniform(&g) - 0.5f;
        p.labels[i] = i % 2 == 0 ? (int32_t)(i % CLUSTERS) : -1;
    }
    p.in = (unic_mine_input){n, DIM, p.x, p.labels, NULL, UNIC_CPU};
    return p;
}

static void free_points(points *p)
{
    free(p->x);
    free(p->labels);
}

/* Mines 60 points, or 600 or 6000 when the defaults need more (far's tau2
 * is 5000): returns the mined state, or NULL after one failed check. */
static void *mine_smallest(reporter *r, unic_params **params, points *pts)
{
    char err[1024] = "";
    for (int64_t n = 60; n <= 6000; n *= 10) {
        void *s = create_default(r, params);
        if (!s) return NULL;
        *pts = make_points(n);
        if (r->c->miner->mine(s, &pts->in, err, sizeof err) == 0) {
            emit(r, "mine points in 3 clusters", 0, 0, 0, 1, "%lld points", (long long)n);
            return s;
        }
        free_points(pts);
        r->c->destroy(s);
        unic_params_free(*params);
    }
    emit(r, "mine points in 3 clusters", 0, 0, 0, 0, "60, 600 and 6000 points refused: %s", err);
    return NULL;
}

static int64_t draw(const unic_component *c, void *s, int64_t anchor, int d)
{
    unic_rng g = unic_rng_stream(7, (uint64_t)anchor, (uint64_t)d);
    return c->miner->sample(s, anchor, &g);
}

static void check_miner(reporter *r)
{
    const unic_component *c = r->c;
    unic_params *p;
    points pts;
    void *s = mine_smallest(r, &p, &pts);
    if (!s) return;
    const int64_t n = pts.in.n, stride = n > MAX_ANCHORS ? n / MAX_ANCHORS : 1;
    const int anchors = (int)((n + stride - 1) / stride);
    int64_t *got = malloc(sizeof(int64_t) * (size_t)anchors * DRAWS);
    for (int a = 0; a < anchors; a++)
        for (int d = 0; d < DRAWS; d++) got[a * DRAWS + d] = draw(c, s, a * stride, d);
    /* the same streams in reverse order: no state may carry between calls */
    int64_t differ = -1;
    for (int a = anchors - 1; a >= 0; a--)
        for (int d = DRAWS - 1; d >= 0; d--)
            if (draw(c, s, a * stride, d) != got[a * DRAWS + d]) differ = a * stride;
    if (differ < 0)
        emit(r, "sample is a pure function of the stream", 0, 0, 0, 1,
             "%d anchors x %d streams, twice", anchors, DRAWS);
    else
        emit(r, "sample is a pure function of the stream", 0, 0, 0, 0,
             "anchor %lld drew another partner from the same stream", (long long)differ);
    int64_t bad_range = -1, too_varied = -1, self = -1, same = 0, drawn = 0, most = 0;
    for (int a = 0; a < anchors; a++) {
        int64_t anchor = a * stride, count = c->miner->count(s, anchor), distinct = 0;
        for (int d = 0; d < DRAWS; d++) {
            int64_t j = got[a * DRAWS + d];
            int fits = count == 0 ? j == -1 : j >= 0 && j < n;
            if (!fits || count < 0 || count > n) bad_range = anchor;
            if (j < 0 || j >= n) continue;
            int seen = 0;
            for (int e = 0; e < d; e++) seen |= got[a * DRAWS + e] == j;
            distinct += !seen;
            if (j == anchor) self = anchor;
            same += j % CLUSTERS == anchor % CLUSTERS;
            drawn++;
        }
        if (distinct > count) too_varied = anchor;
        if (distinct > most) most = distinct;
    }
    if (bad_range < 0)
        emit(r, "partners in range, -1 exactly when count is 0", 0, 0, 0, 1,
             "%lld partners drawn", (long long)drawn);
    else
        emit(r, "partners in range, -1 exactly when count is 0", 0, 0, 0, 0,
             "anchor %lld: a partner outside [0, %lld), a count outside [0, n], or -1 where "
             "count is not 0 (or the reverse)", (long long)bad_range, (long long)n);
    if (too_varied < 0)
        emit(r, "distinct partners at most count", 0, 0, 0, 1,
             "up to %lld distinct in %d draws of an anchor", (long long)most, DRAWS);
    else
        emit(r, "distinct partners at most count", 0, 0, 0, 0,
             "anchor %lld drew more distinct partners than count() says", (long long)too_varied);
    double rate = drawn ? (double)same / (double)drawn : 0, chance = 1.0 / CLUSTERS;
    if (c->miner->role == UNIC_ROLE_NEGATIVE) {
        if (self < 0)
            emit(r, "negatives are never the anchor", 0, 0, 0, 1, "%lld partners drawn",
                 (long long)drawn);
        else
            emit(r, "negatives are never the anchor", 0, 0, 0, 0, "anchor %lld drew itself",
                 (long long)self);
        emit(r, "negatives from the anchor's cluster no more than chance", 0, 0, 0,
             drawn > 0 && rate <= chance + 0.1, "same-cluster rate %.2f (chance %.2f)", rate,
             chance);
    } else {
        emit(r, "positives mostly from the anchor's cluster", 0, 0, 0, drawn > 0 && rate >= 0.5,
             "same-cluster rate %.2f (chance %.2f)", rate, chance);
    }
    free(got);
    free_points(&pts);
    c->destroy(s);
    unic_params_free(p);
}

int unic_gradcheck_supports(unic_kind kind)
{
    return kind == UNIC_KIND_HEAD || kind == UNIC_KIND_LOSS || kind == UNIC_KIND_MINER;
}

int unic_gradcheck_component(const unic_component *c, unic_check_report report, void *ctx)
{
    reporter r = {c, report, ctx, 0};
    if (c->kind == UNIC_KIND_HEAD) check_head(&r);
    if (c->kind == UNIC_KIND_LOSS) check_loss(&r);
    if (c->kind == UNIC_KIND_MINER) check_miner(&r);
    return r.failed;
}
