/* `supcon`: the supervised contrastive loss of Khosla et al. (2020), L^sup_out
 * (their eq. 2), as GCD's code base computes it (SupConLoss, contrast_mode
 * 'all'), on the outputs of the head it is bound to (a projection head:
 * heads/dino.c, whose features are L2-normalised). Every row of the batch,
 * anchors, positives and negatives, is a view; for each view i with at
 * least one positive,
 *
 *     l_i = -(T / T_base) 1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / T) / sum_{a != i} exp(z_i.z_a / T) )
 *
 * and the loss is the mean of l_i over those views. P(i) holds the other
 * views of the same dataset item (two rows with the same index: an anchor
 * whose drawn positive is itself, as SCAN's lists allow), and as the INI
 * says, the anchor's drawn positive (mined_positives: the neighbour pairs
 * of clustering) and the rows whose visible labels agree (labeled_positives:
 * GCD's supervised part). With one positive per view (the other view only)
 * this is SimCLR's NT-Xent. Negatives' rows only add to the denominators
 * unless a rule makes them someone's positive.
 *
 *   S = Z Z^T / T [R, R];  G_ij = dL/dS_ij = -(T/T_base)/m (1{j in P(i)}/|P(i)| - softmax_i(S)_j)
 *   dZ = (G + G^T) Z / T
 *
 * Without the rows' items (a core older than ABI 6.1) the same-item rule
 * cannot apply and the labels are the anchors' only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct supcon {
    double temperature, base_temperature;
    int mined, labeled;
    /* scratch, grown as needed: features, similarities / their gradient, dZ */
    float *z, *s, *dz;
    int64_t cap_z, cap_s;
    unsigned char *pos; /* [R, R] positive mask */
} supcon;

static const unic_param_spec params[] = {
    {"temperature", UNIC_FLOAT, "0.07", "T: similarities are divided by it (SupCon, GCD: 0.07)",
     "1e-4..100"},
    {"base_temperature", UNIC_FLOAT, "0.07", "the loss is scaled by T / base_temperature "
     "(SupConLoss's base_temperature)", "1e-4..100"},
    {"mined_positives", UNIC_BOOL, "true", "an anchor and its drawn positive (a mined neighbour "
     "in clustering) are positives of each other", NULL},
    {"labeled_positives", UNIC_BOOL, "true", "rows with the same visible label (GCD's labeled "
     "items) are positives of each other", NULL},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    supcon *l = calloc(1, sizeof *l);
    l->temperature = unic->param_float(p, "temperature");
    l->base_temperature = unic->param_float(p, "base_temperature");
    l->mined = unic->param_bool(p, "mined_positives");
    l->labeled = unic->param_bool(p, "labeled_positives");
    return l;
}

static void destroy(void *self)
{
    supcon *l = self;
    free(l->z);
    free(l->s);
    free(l->dz);
    free(l->pos);
    free(l);
}

static void grow(supcon *l, int64_t rows, int k)
{
    if (rows * k > l->cap_z) {
        l->cap_z = rows * k;
        l->z = realloc(l->z, sizeof(float) * (size_t)l->cap_z);
        l->dz = realloc(l->dz, sizeof(float) * (size_t)l->cap_z);
    }
    if (rows * rows > l->cap_s) {
        l->cap_s = rows * rows;
        l->s = realloc(l->s, sizeof(float) * (size_t)l->cap_s);
        l->pos = realloc(l->pos, (size_t)l->cap_s);
    }
}

/* The visible label of row r, -1 when unlabeled or unknown. */
static int32_t row_label(const unic_loss_batch *b, int64_t r)
{
    if (b->row_labels) return b->row_labels[r];
    return b->labels && r < b->n ? b->labels[r] : -1;
}

/* P(i) as a mask over rows; returns how many rows have a positive. */
static int64_t positives(const supcon *l, const unic_loss_batch *b, int64_t rows, int64_t *count)
{
    int64_t n = b->n, with = 0;
    memset(l->pos, 0, (size_t)(rows * rows));
    for (int64_t i = 0; i < rows; i++) {
        int32_t li = l->labeled ? row_label(b, i) : -1;
        for (int64_t j = 0; j < rows; j++) {
            if (j == i) continue;
            int p = b->index && b->index[i] == b->index[j];
            p |= l->mined && ((i < n && j == i + n) || (j < n && i == j + n));
            p |= li >= 0 && row_label(b, j) == li;
            l->pos[i * rows + j] = (unsigned char)p;
        }
        count[i] = 0;
        for (int64_t j = 0; j < rows; j++) count[i] += l->pos[i * rows + j];
        with += count[i] > 0;
    }
    return with;
}

static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g)
{
    supcon *l = self;
    int k = b->k;
    int64_t n = b->n, rows = (b->p_neg ? 3 : 2) * n;
    if (n == 0) return 0;
    grow(l, rows, k);
    memcpy(l->z, b->p_anchor, sizeof(float) * (size_t)(n * k));
    memcpy(l->z + n * k, b->p_pos, sizeof(float) * (size_t)(n * k));
    if (b->p_neg) memcpy(l->z + 2 * n * k, b->p_neg, sizeof(float) * (size_t)(n * k));
    int64_t *count = malloc(sizeof(int64_t) * (size_t)rows);
    int64_t m = positives(l, b, rows, count);
    if (m == 0) {
        free(count);
        return 0;
    }
    double t = l->temperature, coef = t / l->base_temperature;
    /* S = Z Z^T / T */
    unic_tensor z = {l->z, {rows, k}, 2, UNIC_CPU}, s = {l->s, {rows, rows}, 2, UNIC_CPU};
    unic->gemm(0, 1, (float)(1.0 / t), &z, &z, 0.0f, &s);
    double total = 0;
    for (int64_t i = 0; i < rows; i++) {
        float *si = l->s + i * rows;
        const unsigned char *pi = l->pos + i * rows;
        if (count[i] == 0) {
            memset(si, 0, sizeof(float) * (size_t)rows); /* G's row: no term */
            continue;
        }
        double mx = -INFINITY, sum = 0, lp = 0;
        for (int64_t j = 0; j < rows; j++)
            if (j != i && si[j] > mx) mx = si[j];
        for (int64_t j = 0; j < rows; j++)
            if (j != i) sum += exp(si[j] - mx);
        double lse = mx + log(sum);
        for (int64_t j = 0; j < rows; j++)
            if (pi[j]) lp += si[j] - lse;
        total += -coef * lp / (double)count[i];
        /* the row of S becomes the row of G = dL/dS */
        double f = -coef / (double)m;
        for (int64_t j = 0; j < rows; j++) {
            double soft = j == i ? 0.0 : exp(si[j] - lse);
            si[j] = (float)(f * ((pi[j] ? 1.0 / (double)count[i] : 0.0) - soft));
        }
    }
    /* dZ = (G + G^T) Z / T, scaled */
    unic_tensor dz = {l->dz, {rows, k}, 2, UNIC_CPU};
    float a = (float)(scale / t);
    unic->gemm(0, 0, a, &s, &z, 0.0f, &dz);
    unic->gemm(1, 0, a, &s, &z, 1.0f, &dz);
    float *dst[3] = {g->d_anchor, g->d_pos, g->d_neg};
    for (int r = 0; r < (b->p_neg ? 3 : 2); r++)
        for (int64_t e = 0; e < n * k; e++) dst[r][e] += l->dz[r * n * k + e];
    free(count);
    return total / (double)m;
}

static const unic_loss_ops ops = {
    .default_weight = 5.0f,
    .has_default_weight = 1,
    .forward = forward,
    .takes_outputs = 1,
};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_LOSS,
    .name = "supcon",
    .doc = "supervised contrastive loss (Khosla et al., GCD's SupConLoss) on a projection head's "
           "outputs; positives: other views, drawn neighbours, same labels; weight 5 (A.9)",
    .params = params,
    .create = create,
    .destroy = destroy,
    .loss = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    UNIC_PLUGIN_INIT(api);
    return api->register_component(reg, &component);
}
