/* Times the `vit` backbone on the CPU, for bench/vit.sh (which runs
 * bench/vit_torch.py beside it):
 *   vit_bench checkpoint PATH VARIANT        random weights, timm names, F32
 *   vit_bench forward PATH VARIANT BATCH REPS [DEVICE]
 *   vit_bench train PATH VARIANT BATCH REPS [DEVICE]   last_block + mlp head + Adam
 *   vit_bench sgemm                          OpenBLAS's sgemm rate here
 * VARIANT is s16 (ViT-S/16) or b16 (ViT-B/16), 224 x 224 images. Prints
 * key=value lines; peak_rss_mb is the process's peak resident memory and
 * base_rss_mb what was resident before the model loaded (the libraries). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "data/io.h"
#include "base/log.h"
#include "ops/ops.h"
#include "plugin/params.h"
#include "plugin/registry.h"
#include "base/util.h"

typedef struct variant {
    const char *name;
    int dim, depth, heads;
} variant;

static const variant variants[] = {{"s16", 384, 12, 6}, {"b16", 768, 12, 12}};
#define PATCH 16
#define SIDE 224
#define CLASSES 200

static const variant *find_variant(const char *name)
{
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (strcmp(variants[i].name, name) == 0) return &variants[i];
    fprintf(stderr, "unknown variant %s (s16 or b16)\n", name);
    exit(2);
}

/* Multiply-adds x 2 of one image's forward, as the GEMMs and attention do them. */
static double forward_flops(const variant *v)
{
    double t = 1 + (SIDE / PATCH) * (SIDE / PATCH), d = v->dim, g = t - 1;
    double patch = 2 * g * 3 * PATCH * PATCH * d;
    double block = 2 * t * d * 3 * d + 2 * t * d * d + 2 * 2 * t * d * 4 * d + 2 * 2 * t * t * d;
    return patch + v->depth * block;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* Resident memory now: before the model loads, the libraries' share
 * (OpenBLAS, and the CUDA runtime and cuBLAS that unic links when built
 * with CUDA), which the memory target leaves out. */
static double rss_now_mb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    if (f) fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1048576.0);
}

static void write_checkpoint(const char *path, const variant *v)
{
    char err[2048];
    int64_t d = v->dim, t = 1 + (SIDE / PATCH) * (SIDE / PATCH);
    unic_array arr[16 * 12 + 8];
    char names[16 * 12 + 8][64];
    int n = 0;
    uint64_t seed = 1;
#define ADD(label, nd, s0, s1, s2, s3, bound)                                          \
    do {                                                                               \
        int64_t shp[4] = {s0, s1, s2, s3};                                             \
        unic_array *a = &arr[n];                                                       \
        memset(a, 0, sizeof *a);                                                       \
        snprintf(names[n], sizeof names[n], "%s", label);                              \
        a->name = names[n];                                                            \
        a->dtype = UNIC_DT_F32;                                                        \
        a->ndim = nd;                                                                  \
        int64_t numel = 1;                                                             \
        for (int q = 0; q < nd; q++) numel *= (a->shape[q] = shp[q]);                  \
        unic_tensor *tmp = unic_tensor_2d(UNIC_CPU, 1, numel);                         \
        unic_fill_uniform(tmp, bound, seed++, 0);                                      \
        a->data = tmp->data;                                                           \
        a->nbytes = (size_t)numel * sizeof(float);                                     \
        free(tmp);                                                                     \
        n++;                                                                           \
    } while (0)
    ADD("cls_token", 3, 1, 1, d, 0, 0.02f);
    ADD("pos_embed", 3, 1, t, d, 0, 0.02f);
    ADD("patch_embed.proj.weight", 4, d, 3, PATCH, PATCH, 1.0f / sqrtf(3 * PATCH * PATCH));
    ADD("patch_embed.proj.bias", 1, d, 0, 0, 0, 0.02f);
    char nm[64];
    for (int i = 0; i < v->depth; i++) {
#define BLK(what, nd, s0, s1, bound) \
    snprintf(nm, sizeof nm, "blocks.%d.%s", i, what); \
    ADD(nm, nd, s0, s1, 0, 0, bound)
        BLK("norm1.weight", 1, d, 0, 1.0f);
        BLK("norm1.bias", 1, d, 0, 0.02f);
        BLK("attn.qkv.weight", 2, 3 * d, d, 1.0f / sqrtf((float)d));
        BLK("attn.qkv.bias", 1, 3 * d, 0, 0.02f);
        BLK("attn.proj.weight", 2, d, d, 1.0f / sqrtf((float)d));
        BLK("attn.proj.bias", 1, d, 0, 0.02f);
        BLK("norm2.weight", 1, d, 0, 1.0f);
        BLK("norm2.bias", 1, d, 0, 0.02f);
        BLK("mlp.fc1.weight", 2, 4 * d, d, 1.0f / sqrtf((float)d));
        BLK("mlp.fc1.bias", 1, 4 * d, 0, 0.02f);
        BLK("mlp.fc2.weight", 2, d, 4 * d, 1.0f / sqrtf(4.0f * d));
        BLK("mlp.fc2.bias", 1, d, 0, 0.02f);
#undef BLK
    }
    ADD("norm.weight", 1, d, 0, 0, 0, 1.0f);
    ADD("norm.bias", 1, d, 0, 0, 0, 0.02f);
#undef ADD
    if (unic_safetensors_write(path, arr, n, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    for (int i = 0; i < n; i++) free(arr[i].data);
}

typedef struct made {
    const unic_component *c;
    unic_params *p;
    void *state;
} made;

static made create(unic_registry *reg, unic_kind kind, const char *plugin, const char *const *kv)
{
    char err[2048];
    made m = {0};
    if (!(m.c = unic_registry_find(reg, kind, plugin, err, sizeof err))) goto fail;
    m.p = unic_params_new();
    unic_params_add_table(m.p, m.c->params);
    for (int i = 0; kv[i]; i += 2)
        if (unic_params_set(m.p, kv[i], kv[i + 1], err, sizeof err) != 0) goto fail;
    if (!(m.state = m.c->create(m.p, err, sizeof err))) goto fail;
    return m;
fail:
    fprintf(stderr, "%s\n", err);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "sgemm") == 0) {
        /* the shapes of ViT-B's MLP at batch 32, where the forward spends its time */
        int m = 32 * 197, k = 768, n = 3072;
        float *a = calloc((size_t)m * k, 4), *b = calloc((size_t)k * n, 4), *c = calloc((size_t)m * n, 4);
        for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)(i % 5) * 0.1f;
        double best = 1e30; /* the best of several, as for the models */
        for (int r = 0; r < 8; r++) {
            double t0 = unic_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, c, n);
            double s = unic_now() - t0;
            if (r > 0 && s < best) best = s;
        }
        printf("sgemm_gflops=%.1f\n", 2.0 * m * k * n / best / 1e9);
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: vit_bench checkpoint|forward|train PATH VARIANT [BATCH REPS "
                        "[cpu|cuda]] | vit_bench sgemm\n");
        return 2;
    }
    const char *mode = argv[1], *path = argv[2];
    const variant *v = find_variant(argv[3]);
    if (strcmp(mode, "checkpoint") == 0) {
        write_checkpoint(path, v);
        return 0;
    }
    if (argc < 6) return 2;
    int batch = atoi(argv[4]), reps = atoi(argv[5]), train = strcmp(mode, "train") == 0;
    double base_rss = rss_now_mb();
    char err[2048];
    unic_log_set_quiet(1);
    unic_registry *reg = unic_registry_new();
    if (unic_registry_load_default(reg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char dim[16], heads[16];
    snprintf(dim, sizeof dim, "%d", v->dim);
    snprintf(heads, sizeof heads, "%d", v->heads);
    const char *device = argc > 6 ? argv[6] : "cpu";
    const char *kv[] = {"checkpoint", path, "dim", dim, "heads", heads, "finetune",
                        train ? "last_block" : "frozen", "device", device, NULL};
    made bb = create(reg, UNIC_KIND_BACKBONE, "vit", kv);
    unic_input_info info = {3, {3, SIDE, SIDE}, "random images"};
    int edim;
    if (bb.c->backbone->open(bb.state, &info, &edim, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int64_t per = 3LL * SIDE * SIDE;
    unic_tensor *images = unic_tensor_2d(UNIC_CPU, batch, per);
    unic_fill_uniform(images, 2.0f, 7, 0);
    unic_tensor input = {images->data, {batch, 3, SIDE, SIDE}, 4, UNIC_CPU};
    unic_tensor *emb = unic_tensor_2d(UNIC_CPU, batch, edim);

    /* training: the paper's head (A.10) on the embedding; its loss gradient
     * is a stand-in (the logits themselves), the cost is the same */
    made head = {0};
    unic_param_tensor ps[64], hs[8];
    int np = 0, nh = 0;
    unic_tensor *logits = NULL, *dx = NULL, *mom[72], *vel[72];
    if (train) {
        const char *hkv[] = {NULL};
        head = create(reg, UNIC_KIND_HEAD, "mlp", hkv);
        if (head.c->head->setup(head.state, edim, CLASSES, batch, UNIC_CPU, 1, err,
                                sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        np = bb.c->backbone->parameters(bb.state, ps, 64);
        nh = head.c->head->parameters(head.state, hs, 8);
        for (int i = 0; i < nh; i++) ps[np + i] = hs[i];
        for (int i = 0; i < np + nh; i++) {
            mom[i] = unic_tensor_new(ps[i].value->device, ps[i].value->ndim, ps[i].value->shape);
            vel[i] = unic_tensor_new(ps[i].value->device, ps[i].value->ndim, ps[i].value->shape);
        }
        logits = unic_tensor_2d(UNIC_CPU, batch, CLASSES);
        bb.c->backbone->set_training(bb.state, 1);
        dx = unic_tensor_2d(UNIC_CPU, batch, edim);
    }

    double best = 1e30;
    for (int r = 0; r <= reps; r++) { /* r = 0 warms up */
        double t0 = unic_now();
        bb.c->backbone->forward(bb.state, &input, emb);
        if (train) {
            for (int i = 0; i < np + nh; i++) unic_tensor_zero(ps[i].grad);
            head.c->head->forward(head.state, emb, logits);
            unic_tensor_zero(dx);
            head.c->head->backward(head.state, logits, dx);
            bb.c->backbone->backward(bb.state, dx);
            for (int i = 0; i < np + nh; i++)
                unic_adam_step(ps[i].value, ps[i].grad, mom[i], vel[i], 1e-6f, 0.9f, 0.999f,
                               1e-8f, 0.0f, r + 1);
        }
        double s = unic_now() - t0;
        if (r > 0 && s < best) best = s;
    }
    double gflops = forward_flops(v) * batch / best / 1e9;
    printf("variant=%s\nmode=%s\nbatch=%d\nimages_per_s=%.2f\n", v->name, mode, batch,
           batch / best);
    if (!train) printf("gflops=%.1f\n", gflops);
    printf("peak_rss_mb=%.0f\nbase_rss_mb=%.0f\n", peak_rss_mb(), base_rss);
    return 0;
}
