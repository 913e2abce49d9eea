#include "report/estimate_report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "report/svgplot.h"

static const char *score_label(unic_kest_criterion c)
{
    switch (c) {
    case UNIC_KEST_SILHOUETTE: return "mean silhouette (cosine)";
    case UNIC_KEST_EIGENGAP: return "eigengap lambda_K - lambda_(K-1)";
    case UNIC_KEST_CALINSKI: return "Calinski-Harabasz index";
    case UNIC_KEST_GCD: return "held-out accuracy of SS-k-means";
    default: return "score";
    }
}

static int write_csv(const unic_kest_result *r, int k_min, const char *path, char *err,
                     size_t errlen)
{
    size_t cap = 64 + (size_t)r->count * 96, len = 0;
    char *buf = unic_xmalloc(cap);
    len += (size_t)snprintf(buf + len, cap - len, "k,%s%s,evaluated\n", unic_kest_name(r->criterion),
                            r->eigen ? ",eigenvalue" : "");
    for (int i = 0; i < r->count; i++) {
        int seen = !isnan(r->score[i]);
        len += (size_t)snprintf(buf + len, cap - len, "%d,", k_min + i);
        if (seen) len += (size_t)snprintf(buf + len, cap - len, "%.9g", r->score[i]);
        if (r->eigen) len += (size_t)snprintf(buf + len, cap - len, ",%.9g", r->eigen[i]);
        len += (size_t)snprintf(buf + len, cap - len, ",%d\n", seen);
    }
    int rc = unic_write_file_atomic(path, buf, len, err, errlen);
    unic_xfree(buf);
    return rc;
}

static int write_svg(const unic_kest_result *r, int k_min, int label_k, const char *path,
                     char *err, size_t errlen)
{
    /* evaluated points only, in K order: a GCD search leaves gaps */
    double *x = unic_xmalloc((size_t)r->count * sizeof(double));
    double *y = unic_xmalloc((size_t)r->count * sizeof(double));
    int n = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < r->count; i++) {
        if (isnan(r->score[i]) || isinf(r->score[i])) continue;
        x[n] = k_min + i;
        y[n] = r->score[i];
        lo = fmin(lo, y[n]);
        hi = fmax(hi, y[n]);
        n++;
    }
    if (n == 0) lo = 0, hi = 1;
    char est_name[64], lab_name[64], title[128];
    snprintf(est_name, sizeof est_name, "estimate K = %d", r->k);
    snprintf(lab_name, sizeof lab_name, "label values: %d", label_k);
    snprintf(title, sizeof title, "number of classes: %s", unic_kest_name(r->criterion));
    double ex[2] = {r->k, r->k}, ly[2] = {lo, hi}, lx[2] = {label_k, label_k};
    unic_svg_series s[3] = {{score_label(r->criterion), x, y, n, NULL, NULL},
                            {est_name, ex, ly, 2, NULL, NULL},
                            {lab_name, lx, ly, 2, NULL, NULL}};
    unic_svg_plot p = {title, "K (clusters)", score_label(r->criterion), s, label_k > 0 ? 3 : 2,
                       k_min, k_min + r->count - 1, 0, 0, 0, 0, NULL};
    if (r->count == 1) p.xmin = p.xmax = 0; /* one K: let the axis fit */
    int rc = unic_svg_write(path, &p, 1, err, errlen);
    unic_xfree(x);
    unic_xfree(y);
    return rc;
}

int unic_kest_write(const unic_kest_result *r, int k_min, int label_k, const char *dir,
                    char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/estimate_k.csv", dir);
    if (write_csv(r, k_min, path, err, errlen) != 0) return -1;
    snprintf(path, sizeof path, "%s/estimate_k.svg", dir);
    return write_svg(r, k_min, label_k, path, err, errlen);
}
