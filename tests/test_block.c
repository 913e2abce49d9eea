/* The core's transformer block (unic/transformer_block.h), through the api
 * table as plugins call it: keeping activations changes no result, a batch
 * kept in chunks is the batch kept at once, backward matches central
 * differences of forward (every weight, LayerScale included, and the input)
 * and only reads what forward kept; on a GPU, both against the CPU. The vit
 * backbone's and the attention head's tests check it against PyTorch. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "ops/ops.h"
#include "plugin/api.h"

#define DIM 12
#define HEADS 3
#define HIDDEN 20
#define TOKENS 5
#define IMAGES 3
#define ROWS (IMAGES * TOKENS)

static const unic_api *api;
static void setup(void) { api = unic_core_api(); }
TestSuite(block, .init = setup);

/* Where each tensor starts: scales (norms, LayerScale) near 1, the rest near 0 */
static const float centre[UNIC_BLOCK_TENSORS] = {1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1};

/* A block with seeded weights (the same on every device) and zero gradients. */
static unic_block random_block(int layerscale, unic_device dev)
{
    unic_block b = {.dim = DIM, .heads = HEADS, .hidden = HIDDEN, .eps = 1e-6f};
    for (int i = 0; i < UNIC_BLOCK_TENSORS; i++) {
        unic_tensor **slot = unic_block_tensor(&b.w, i);
        if ((slot == &b.w.ls1 || slot == &b.w.ls2) && !layerscale) continue;
        int64_t shape[2];
        int ndim = unic_block_tensor_shape(&b, i, shape);
        unic_tensor *w = unic_tensor_new(UNIC_CPU, ndim, shape);
        unic_fill_uniform(w, 0.5f, 7, (uint64_t)i + 1);
        for (int64_t j = 0; j < unic_numel(w); j++) w->data[j] += centre[i];
        unic_tensor_move(w, dev);
        *slot = w;
        *unic_block_tensor(&b.g, i) = unic_tensor_new(dev, ndim, shape);
    }
    return b;
}

static void free_block(unic_block *b)
{
    for (int i = 0; i < UNIC_BLOCK_TENSORS; i++) {
        unic_tensor_free(*unic_block_tensor(&b->w, i));
        unic_tensor_free(*unic_block_tensor(&b->g, i));
    }
}

static unic_tensor *random_rows(uint64_t seed)
{
    unic_tensor *t = unic_tensor_2d(UNIC_CPU, ROWS, DIM);
    unic_fill_uniform(t, 1.0f, seed, 1);
    return t;
}

/* A random block with its work buffers and kept activations for ROWS rows. */
typedef struct block_case {
    unic_block b;
    unic_block_activations *work, *saved;
} block_case;

static block_case open_case(int layerscale, unic_device dev)
{
    block_case c = {.b = random_block(layerscale, dev)};
    c.work = api->block_activations_new(&c.b, ROWS, TOKENS, 0);
    c.saved = api->block_activations_new(&c.b, ROWS, TOKENS, 1);
    return c;
}

static void close_case(block_case *c)
{
    api->block_activations_free(c->work);
    api->block_activations_free(c->saved);
    free_block(&c->b);
}

/* A training step's block: forward x keeping activations, then dx <-
 * d(input) of L = sum(block(x) * r), the weights' gradients accumulating. */
static void forward_backward(block_case *c, const unic_tensor *x, const unic_tensor *r,
                             unic_tensor *dx)
{
    unic_tensor_copy(dx, x); /* the stream, then its gradient */
    api->block_forward(dx, &c->b, c->saved, 0, c->work);
    unic_tensor_copy(dx, r);
    api->block_backward(dx, &c->b, c->saved, c->work, 1);
}

/* L = sum(block(x) * r) in double, keeping nothing. */
static double objective(block_case *c, const unic_tensor *x, const unic_tensor *r)
{
    unic_tensor *y = unic_tensor_2d(UNIC_CPU, ROWS, DIM);
    unic_tensor_copy(y, x);
    api->block_forward(y, &c->b, NULL, 0, c->work);
    double v = 0;
    for (int64_t i = 0; i < ROWS * DIM; i++) v += (double)y->data[i] * r->data[i];
    unic_tensor_free(y);
    return v;
}

/* Central differences on a few entries of value against grad: the relative error. */
static double fd_error(float *value, const float *grad, int64_t n, block_case *c,
                       const unic_tensor *x, const unic_tensor *r)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i += n > 8 ? n / 8 : 1) {
        float keep = value[i], h = 1e-2f;
        value[i] = keep + h;
        double up = objective(c, x, r);
        value[i] = keep - h;
        double down = objective(c, x, r);
        value[i] = keep;
        double fd = (up - down) / (2.0 * h);
        num += (fd - grad[i]) * (fd - grad[i]);
        den += fd * fd;
    }
    return sqrt(num) / fmax(sqrt(den), 1e-12);
}

/* x in two chunks, images 0-1 then 2, kept at their rows of the batch or not at all. */
static void forward_in_chunks(block_case *c, unic_tensor *x, int keep)
{
    int64_t split = 2 * TOKENS;
    unic_tensor head = unic_rows(x, 0, split), tail = unic_rows(x, split, ROWS - split);
    api->block_forward(&head, &c->b, keep ? c->saved : NULL, 0, c->work);
    api->block_forward(&tail, &c->b, keep ? c->saved : NULL, split, c->work);
}

/* The forward that keeps gives the output of the one that keeps nothing,
 * to the bit; kept in chunks, the batch lands where it belongs. (Chunks on
 * both sides: a GEMM over fewer rows may round differently.) */
Test(block, keeping_activations_changes_no_result)
{
    for (int ls = 0; ls < 2; ls++) {
        block_case c = open_case(ls, UNIC_CPU);
        cr_expect_eq(c.saved->proj != NULL, ls, "proj is kept only for ls1's gradient");
        unic_tensor *x = random_rows(3), *plain = random_rows(3), *kept = random_rows(3);
        forward_in_chunks(&c, plain, 0);
        forward_in_chunks(&c, kept, 1);
        cr_expect_eq(memcmp(plain->data, kept->data, sizeof(float) * ROWS * DIM), 0,
                     "layerscale %d: the output depends on keeping", ls);
        cr_expect_eq(memcmp(c.saved->xin->data, x->data, sizeof(float) * ROWS * DIM), 0,
                     "layerscale %d: the kept input", ls);
        cr_expect(test_rel_err(plain->data, x->data, ROWS * DIM) > 1e-2, "the block did little");
        for (int r = 0; r < IMAGES * HEADS * TOKENS; r++) { /* the attention maps */
            double sum = 0;
            for (int k = 0; k < TOKENS; k++) sum += c.saved->probs->data[r * TOKENS + k];
            cr_expect(fabs(sum - 1) < 1e-5, "softmax row %d sums to %g", r, sum);
        }
        unic_tensor_free(x);
        unic_tensor_free(plain);
        unic_tensor_free(kept);
        close_case(&c);
    }
}

Test(block, gradients_match_finite_differences)
{
    for (int ls = 0; ls < 2; ls++) {
        block_case c = open_case(ls, UNIC_CPU);
        unic_tensor *x = random_rows(3), *r = random_rows(4);
        unic_tensor *dx = unic_tensor_2d(UNIC_CPU, ROWS, DIM);
        forward_backward(&c, x, r, dx);
        double e = fd_error(x->data, dx->data, ROWS * DIM, &c, x, r);
        cr_expect_lt(e, 1e-2, "layerscale %d: d input relative error %g", ls, e);
        for (int i = 0; i < UNIC_BLOCK_TENSORS; i++) {
            unic_tensor *w = *unic_block_tensor(&c.b.w, i), *g = *unic_block_tensor(&c.b.g, i);
            if (!w) continue;
            e = fd_error(w->data, g->data, unic_numel(w), &c, x, r);
            cr_expect_lt(e, 1e-2, "layerscale %d: d %s relative error %g", ls,
                         unic_block_tensor_name(i), e);
        }
        unic_tensor_free(x);
        unic_tensor_free(r);
        unic_tensor_free(dx);
        close_case(&c);
    }
}

/* Backward reads the kept activations without spending them: each further
 * backward of the same forward adds the same gradients again, and
 * input_grad = 0 changes none of the weights' gradients. */
Test(block, backward_accumulates_and_only_reads)
{
    block_case c = open_case(1, UNIC_CPU);
    unic_tensor *x = random_rows(3), *r = random_rows(4), *dx = unic_tensor_2d(UNIC_CPU, ROWS, DIM);
    forward_backward(&c, x, r, dx);
    float *once[UNIC_BLOCK_TENSORS];
    for (int i = 0; i < UNIC_BLOCK_TENSORS; i++) {
        const unic_tensor *g = *unic_block_tensor(&c.b.g, i);
        once[i] = malloc(sizeof(float) * (size_t)unic_numel(g));
        memcpy(once[i], g->data, sizeof(float) * (size_t)unic_numel(g));
    }
    for (int pass = 2; pass <= 3; pass++) {
        unic_tensor_copy(dx, r);
        api->block_backward(dx, &c.b, c.saved, c.work, pass == 2);
        for (int i = 0; i < UNIC_BLOCK_TENSORS; i++) {
            const unic_tensor *g = *unic_block_tensor(&c.b.g, i);
            int64_t n = unic_numel(g);
            float *want = malloc(sizeof(float) * (size_t)n);
            for (int64_t j = 0; j < n; j++) want[j] = (float)pass * once[i][j];
            double e = test_rel_err(g->data, want, n);
            cr_expect_lt(e, 1e-6, "backward %d: d %s is not %d times the first (%g)", pass,
                         unic_block_tensor_name(i), pass, e);
            free(want);
        }
    }
    for (int i = 0; i < UNIC_BLOCK_TENSORS; i++) free(once[i]);
    unic_tensor_free(x);
    unic_tensor_free(r);
    unic_tensor_free(dx);
    close_case(&c);
}

/* The same block on the GPU: the output of a forward that keeps nothing, d
 * input and every weight's gradient against the CPU (skips without a GPU). */
Test(block, cuda_matches_the_cpu)
{
    if (!unic_cuda_available()) cr_skip_test("no CUDA GPU (or a build without CUDA)");
    unic_tensor *x = random_rows(3), *r = random_rows(4), *y[2], *dx[2];
    block_case c[2];
    for (int dev = 0; dev < 2; dev++) {
        unic_device where = dev ? UNIC_CUDA : UNIC_CPU;
        c[dev] = open_case(1, where);
        y[dev] = unic_tensor_2d(where, ROWS, DIM);
        dx[dev] = unic_tensor_2d(where, ROWS, DIM);
        unic_tensor_copy(y[dev], x);
        api->block_forward(y[dev], &c[dev].b, NULL, 0, c[dev].work);
        forward_backward(&c[dev], x, r, dx[dev]);
    }
    unic_tensor *back = unic_tensor_2d(UNIC_CPU, ROWS, DIM);
    unic_tensor_copy(back, y[1]);
    cr_expect_lt(test_rel_err(back->data, y[0]->data, ROWS * DIM), 1e-5, "output");
    unic_tensor_copy(back, dx[1]);
    cr_expect_lt(test_rel_err(back->data, dx[0]->data, ROWS * DIM), 1e-4, "d input");
    for (int i = 0; i < UNIC_BLOCK_TENSORS; i++) {
        const unic_tensor *g = *unic_block_tensor(&c[0].b.g, i);
        unic_tensor *host = unic_tensor_new(UNIC_CPU, g->ndim, g->shape);
        unic_tensor_copy(host, *unic_block_tensor(&c[1].b.g, i));
        double e = test_rel_err(host->data, g->data, unic_numel(g));
        cr_expect_lt(e, 1e-4, "d %s: relative error %g", unic_block_tensor_name(i), e);
        unic_tensor_free(host);
    }
    unic_tensor_free(back);
    unic_tensor_free(x);
    unic_tensor_free(r);
    for (int dev = 0; dev < 2; dev++) {
        unic_tensor_free(y[dev]);
        unic_tensor_free(dx[dev]);
        close_case(&c[dev]);
    }
}
