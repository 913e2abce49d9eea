#include "experiment/grid.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "experiment/run_config.h"
#include "train/run.h"

#define MAX_AXES 16
#define MAX_VALUES 64

typedef struct axis {
    char *key; /* section.key */
    char *values[MAX_VALUES];
    int count;
} axis;

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

static int read_axes(const unic_config *cfg, axis *axes, int *naxes, char *err, size_t errlen)
{
    const char *keys[MAX_AXES + 1];
    int n = unic_config_keys(cfg, "grid", keys, MAX_AXES + 1);
    char where[1200];
    if (n > MAX_AXES)
        return unic_errf(err, errlen, "%s: [grid] has more than %d keys", unic_config_path(cfg),
                         MAX_AXES);
    for (int i = 0; i < n; i++) {
        axis *a = &axes[i];
        a->key = unic_xstrdup(keys[i]);
        if (!strchr(a->key, '.'))
            return unic_errf(err, errlen, "%s: [grid] key '%s' should name section.key (e.g. "
                             "loss.entropy.weight)",
                             unic_config_where(cfg, "grid", keys[i], where, sizeof where), keys[i]);
        char *list = unic_xstrdup(unic_config_get(cfg, "grid", keys[i])), *save = NULL;
        for (char *v = strtok_r(list, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
            if (a->count == MAX_VALUES) break;
            a->values[a->count++] = unic_xstrdup(trim(v));
        }
        free(list);
        if (a->count == 0)
            return unic_errf(err, errlen, "%s: [grid] %s lists no values",
                             unic_config_where(cfg, "grid", keys[i], where, sizeof where), keys[i]);
        (*naxes)++;
    }
    return 0;
}

/* One point: its experiment resolved, and the typed settings a run will
 * read checked against their bounds, so that `unic check` and a grid's
 * validation refuse a bad value before any point runs. */
static int prepare_point(unic_config *c, const unic_registry *reg, unic_experiment *x, char *err,
                         size_t errlen)
{
    if (unic_experiment_prepare(c, reg, x, err, errlen) != 0) return -1;
    unic_run_config settings;
    if (unic_run_config_parse(x, &settings, err, errlen) == 0) return 0;
    x->cfg = NULL; /* the caller frees c, as after a failed prepare */
    unic_experiment_free(x);
    return -1;
}

int unic_grid_prepare(const char *ini, const char *const *sets, int nsets,
                      const unic_registry *reg, unic_grid *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    unic_config *cfg;
    if (unic_config_load_with(ini, sets, nsets, &cfg, err, errlen) != 0) return -1;
    axis axes[MAX_AXES];
    memset(axes, 0, sizeof axes);
    int naxes = 0, rc = 0;
    g->is_grid = unic_config_has_section(cfg, "grid");
    if (g->is_grid) rc = read_axes(cfg, axes, &naxes, err, errlen);
    int total = 1;
    for (int a = 0; a < naxes; a++) total *= axes[a].count;
    if (rc == 0 && total > 10000) rc = unic_errf(err, errlen, "%s: [grid] makes %d runs", ini, total);
    if (rc == 0) {
        g->runs = unic_xcalloc((size_t)total, sizeof(unic_experiment));
        g->names = unic_xcalloc((size_t)total, sizeof(char *));
    }
    for (int r = 0; rc == 0 && r < total; r++) {
        unic_config *c = cfg;
        if (r > 0 && unic_config_load_with(ini, sets, nsets, &c, err, errlen) != 0) {
            rc = -1;
            break;
        }
        cfg = NULL;
        char name[2048] = "";
        size_t used = 0;
        for (int a = 0, rest = r; a < naxes; a++) {
            const char *v = axes[a].values[rest % axes[a].count];
            rest /= axes[a].count;
            char assignment[2048];
            snprintf(assignment, sizeof assignment, "%s=%s", axes[a].key, v);
            used += (size_t)snprintf(name + used, sizeof name - used, "%s%s", a ? "," : "", assignment);
            if (unic_config_override(c, assignment, err, errlen) != 0) rc = -1;
        }
        for (char *p = name; *p; p++)
            if (*p == '/' || *p == ' ') *p = '_';
        if (g->is_grid) unic_config_unset_section(c, "grid");
        char msg[4096];
        if (rc == 0 && prepare_point(c, reg, &g->runs[r], msg, sizeof msg) != 0) {
            if (naxes)
                unic_errf(err, errlen, "%s (grid run %s)", msg, name);
            else
                unic_errf(err, errlen, "%s", msg);
            rc = -1;
        }
        if (rc != 0) {
            unic_config_free(c);
            break;
        }
        g->names[r] = unic_xstrdup(name);
        g->count++;
    }
    for (int a = 0; a < naxes; a++) {
        free(axes[a].key);
        for (int v = 0; v < axes[a].count; v++) free(axes[a].values[v]);
    }
    if (rc != 0) unic_grid_free(g);
    return rc;
}

void unic_grid_free(unic_grid *g)
{
    for (int i = 0; i < g->count; i++) {
        unic_experiment_free(&g->runs[i]);
        free(g->names[i]);
    }
    free(g->runs);
    free(g->names);
    memset(g, 0, sizeof *g);
}

int unic_grid_run(unic_grid *g, const char *out, int resume, char *err, size_t errlen)
{
    if (!g->is_grid) return unic_run(&g->runs[0], out, NULL, resume, NULL, err, errlen);
    char base[2048];
    const unic_experiment *first = &g->runs[0];
    if (out)
        snprintf(base, sizeof base, "%s", out);
    else if (*unic_param_str(first->train, "out"))
        snprintf(base, sizeof base, "%s", unic_param_str(first->train, "out"));
    else
        snprintf(base, sizeof base, "runs/%s", first->name);
    if (unic_mkdirs(base, err, errlen) != 0) return -1;
    char summary_path[2300], cache[2300];
    snprintf(summary_path, sizeof summary_path, "%s/grid.csv", base);
    snprintf(cache, sizeof cache, "%s/cache", base); /* one mining for every run that can share it */
    FILE *f = fopen(summary_path, resume ? "a" : "w");
    if (!f) return unic_errf(err, errlen, "%s: cannot write: %s", summary_path, strerror(errno));
    int gcd = *unic_param_str(first->data, "old_classes") != '\0';
    if (!resume)
        fprintf(f, gcd ? "run,sskmeans_all,sskmeans_old,sskmeans_new,unic_all,unic_old,unic_new\n"
                       : "run,kmeans_acc,kmeans_nmi,kmeans_ari,unic_acc,unic_nmi,unic_ari\n");
    int rc = 0;
    for (int i = 0; i < g->count && rc == 0; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", base, g->names[i]);
        unic_log(UNIC_LOG_INFO, "grid run %d/%d: %s", i + 1, g->count, g->names[i]);
        unic_run_summary s;
        memset(&s, 0, sizeof s);
        rc = unic_run(&g->runs[i], dir, cache, resume, &s, err, errlen);
        if (rc == 0 && !unic_param_bool(g->runs[i].eval, "kmeans"))
            fprintf(f, "\"%s\",,,,%.6f,%.6f,%.6f\n", g->names[i], s.final[0], s.final[1], s.final[2]);
        else if (rc == 0)
            fprintf(f, "\"%s\",%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", g->names[i], s.baseline[0],
                    s.baseline[1], s.baseline[2], s.final[0], s.final[1], s.final[2]);
        fflush(f);
    }
    fclose(f);
    if (rc == 0)
        unic_log(UNIC_LOG_INFO, "grid: %d runs, summary in %s", g->count, summary_path);
    return rc;
}
