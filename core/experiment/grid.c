#include "experiment/grid.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "experiment/run_config.h"

typedef unic_grid_axis axis;

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

static int read_axis(const unic_config *cfg, const char *key, axis *a, char *err, size_t errlen)
{
    char where[1200];
    unic_config_where(cfg, "grid", key, where, sizeof where);
    a->key = unic_xstrdup(key);
    if (!strchr(key, '.'))
        return unic_errf(err, errlen, "%s: [grid] key '%s' should name section.key (e.g. "
                         "loss.entropy.weight)", where, key);
    char *list = unic_xstrdup(unic_config_get(cfg, "grid", key)), *save = NULL;
    int rc = 0;
    for (char *v = strtok_r(list, ",", &save); v && rc == 0; v = strtok_r(NULL, ",", &save)) {
        if (a->count == UNIC_GRID_MAX_VALUES)
            rc = unic_errf(err, errlen, "%s: [grid] %s lists more than %d values", where, key,
                           UNIC_GRID_MAX_VALUES);
        else if (!*trim(v))
            rc = unic_errf(err, errlen, "%s: [grid] %s has an empty value", where, key);
        for (int i = 0; rc == 0 && i < a->count; i++)
            if (strcmp(a->values[i], trim(v)) == 0)
                rc = unic_errf(err, errlen, "%s: [grid] %s lists '%s' twice", where, key, trim(v));
        if (rc == 0) a->values[a->count++] = unic_xstrdup(trim(v));
    }
    free(list);
    if (rc == 0 && a->count == 0)
        rc = unic_errf(err, errlen, "%s: [grid] %s lists no values", where, key);
    return rc;
}

static int read_axes(const unic_config *cfg, unic_grid *g, char *err, size_t errlen)
{
    const char *keys[UNIC_GRID_MAX_AXES + 1];
    int n = unic_config_keys(cfg, "grid", keys, UNIC_GRID_MAX_AXES + 1);
    if (n > UNIC_GRID_MAX_AXES)
        return unic_errf(err, errlen, "%s: [grid] has more than %d keys", unic_config_path(cfg),
                         UNIC_GRID_MAX_AXES);
    for (int i = 0; i < n; i++) {
        if (read_axis(cfg, keys[i], &g->axes[i], err, errlen) != 0) {
            g->naxes = i + 1; /* freed by the caller */
            return -1;
        }
        if (strcmp(keys[i], UNIC_GRID_SEED_KEY) == 0) g->seed_axis = i;
    }
    g->naxes = n;
    return 0;
}

void unic_grid_settings_id(const char *resolved_ini, char id[17])
{
    size_t len = strlen(resolved_ini), used = 0;
    char *text = unic_xmalloc(len + 1), section[256] = "";
    for (const char *line = resolved_ini; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
        if (line[0] == '[') snprintf(section, sizeof section, "%.*s", (int)n, line);
        int skip = line[0] == ';' ||
                   (strncmp(section, "[train]", 7) == 0 &&
                    (strncmp(line, "out =", 5) == 0 || strncmp(line, "threads =", 9) == 0));
        if (!skip) {
            memcpy(text + used, line, n);
            used += n;
        }
        line += n;
    }
    unic_checksum_hex(text, used, id);
    unic_xfree(text);
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

/* Point r's values (the first axis varies fastest), its label and its
 * overrides applied to c. */
static int assign_point(unic_grid *g, int r, unic_config *c, char *err, size_t errlen)
{
    unic_grid_point *p = &g->points[r];
    char label[4096] = "";
    size_t used = 0;
    for (int a = 0, rest = r; a < g->naxes; a++) {
        p->value[a] = rest % g->axes[a].count;
        rest /= g->axes[a].count;
        const char *v = g->axes[a].values[p->value[a]];
        char assignment[2048];
        snprintf(assignment, sizeof assignment, "%s=%s", g->axes[a].key, v);
        if (a == g->seed_axis)
            p->seed = v;
        else if (used < sizeof label)
            used += (size_t)snprintf(label + used, sizeof label - used, "%s%s", used ? "," : "",
                                     assignment);
        if (unic_config_override(c, assignment, err, errlen) != 0) return -1;
    }
    p->label = unic_xstrdup(label);
    return 0;
}

/* A point whose values do not validate keeps its error; its id hashes
 * its assignments, as it has no resolved settings. */
static void keep_invalid(unic_grid *g, unic_grid_point *p, const char *msg)
{
    char text[4400];
    snprintf(text, sizeof text, "invalid:%s,seed=%s", p->label, p->seed ? p->seed : "");
    unic_checksum_hex(text, strlen(text), p->id);
    p->error = unic_xstrdup(msg);
    g->invalid++;
}

static int expand(const char *ini, const char *const *sets, int nsets, const unic_registry *reg,
                  unic_grid *g, unic_config *cfg, int total, char *err, size_t errlen)
{
    g->points = unic_xcalloc((size_t)total, sizeof(unic_grid_point));
    for (int r = 0; r < total; r++) {
        unic_config *c = cfg;
        if (r > 0 && unic_config_load_with(ini, sets, nsets, &c, err, errlen) != 0) return -1;
        g->count++;
        if (assign_point(g, r, c, err, errlen) != 0) {
            unic_config_free(c);
            return -1;
        }
        unic_config_unset_section(c, "grid");
        unic_config_unset_section(c, "table");
        char msg[4096];
        unic_grid_point *p = &g->points[r];
        if (prepare_point(c, reg, &p->run, msg, sizeof msg) != 0) {
            unic_config_free(c);
            if (!g->is_grid) return unic_errf(err, errlen, "%s", msg);
            keep_invalid(g, p, msg);
            continue;
        }
        char *resolved = unic_experiment_resolved_ini(&p->run);
        unic_grid_settings_id(resolved, p->id);
        free(resolved);
    }
    return 0;
}

int unic_grid_prepare(const char *ini, const char *const *sets, int nsets,
                      const unic_registry *reg, unic_grid *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    g->seed_axis = -1;
    unic_config *cfg;
    if (unic_config_load_with(ini, sets, nsets, &cfg, err, errlen) != 0) return -1;
    g->is_grid = unic_config_has_section(cfg, "grid");
    int rc = g->is_grid ? read_axes(cfg, g, err, errlen) : 0;
    long total = 1;
    for (int a = 0; a < g->naxes && total <= UNIC_GRID_MAX_POINTS; a++) total *= g->axes[a].count;
    if (rc == 0 && total > UNIC_GRID_MAX_POINTS)
        rc = unic_errf(err, errlen, "%s: [grid] makes more than %d points", ini,
                       UNIC_GRID_MAX_POINTS);
    const char *base = strrchr(ini, '/') ? strrchr(ini, '/') + 1 : ini;
    g->name = unic_xstrdup(base);
    if (strrchr(g->name, '.')) *strrchr(g->name, '.') = '\0';
    if (rc == 0) {
        rc = expand(ini, sets, nsets, reg, g, cfg, (int)total, err, errlen);
        cfg = NULL; /* owned by the points now */
    }
    unic_config_free(cfg);
    /* an error every point shares is the file's, not a value's: stop */
    if (rc == 0 && g->invalid == g->count)
        rc = unic_errf(err, errlen, "%s (grid point %s)", g->points[0].error, g->points[0].label);
    if (rc != 0) unic_grid_free(g);
    return rc;
}

unic_grid_point *unic_grid_find(unic_grid *g, const char *id)
{
    size_t n = strlen(id);
    unic_grid_point *found = NULL;
    if (n < 6 || n > 16) return NULL;
    for (int i = 0; i < g->count; i++)
        if (strncmp(g->points[i].id, id, n) == 0) {
            if (found) return NULL; /* ambiguous */
            found = &g->points[i];
        }
    return found;
}

void unic_grid_free(unic_grid *g)
{
    for (int i = 0; i < g->count; i++) {
        if (!g->points[i].error) unic_experiment_free(&g->points[i].run);
        free(g->points[i].label);
        free(g->points[i].error);
    }
    free(g->points);
    for (int a = 0; a < g->naxes; a++) {
        free(g->axes[a].key);
        for (int v = 0; v < g->axes[a].count; v++) free(g->axes[a].values[v]);
    }
    free(g->name);
    memset(g, 0, sizeof *g);
    g->seed_axis = -1;
}
