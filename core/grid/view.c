#include "grid/view.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/textfile.h"
#include "base/util.h"

#define MAX_HISTORY_COLUMNS 64

static cJSON *read_json(const char *path, const char *what, char *err, size_t errlen)
{
    char *text;
    if (unic_read_text_file(path, what, UNIC_MAX_TEXT_FILE_BYTES, &text, err, errlen) != 0)
        return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        unic_errf(err, errlen, "%s: the %s is not a JSON object", path, what);
        return NULL;
    }
    return j;
}

static const char *string_key(const cJSON *o, const char *key, const char *path, char *err,
                              size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (cJSON_IsString(v)) return v->valuestring;
    unic_errf(err, errlen, "%s: key '%s' is missing or not a string", path, key);
    return NULL;
}

static int read_axes(const cJSON *m, const char *path, unic_grid_view *v, char *err, size_t errlen)
{
    const cJSON *axes = cJSON_GetObjectItem(m, "axes"), *a;
    if (!cJSON_IsArray(axes) || cJSON_GetArraySize(axes) > UNIC_GRID_MAX_AXES)
        return unic_errf(err, errlen, "%s: key 'axes' must be an array of at most %d axes", path,
                         UNIC_GRID_MAX_AXES);
    cJSON_ArrayForEach(a, axes)
    {
        unic_grid_axis *ax = &v->axes[v->naxes];
        const char *key = string_key(a, "key", path, err, errlen);
        const cJSON *values = cJSON_GetObjectItem(a, "values"), *x;
        if (!key) return -1;
        int n = cJSON_GetArraySize(values);
        if (!cJSON_IsArray(values) || n < 1 || n > UNIC_GRID_MAX_VALUES)
            return unic_errf(err, errlen, "%s: axis '%s': key 'values' must list 1 to %d values",
                             path, key, UNIC_GRID_MAX_VALUES);
        ax->key = unic_xstrdup(key);
        v->naxes++;
        cJSON_ArrayForEach(x, values)
        {
            if (!cJSON_IsString(x))
                return unic_errf(err, errlen, "%s: axis '%s': values must be strings", path, key);
            ax->values[ax->count++] = unic_xstrdup(x->valuestring);
        }
        if (strcmp(key, UNIC_GRID_SEED_KEY) == 0) v->seed_axis = v->naxes - 1;
    }
    return 0;
}

static int read_point_entry(const cJSON *o, const char *path, const unic_grid_view *v,
                            unic_grid_view_point *p, char *err, size_t errlen)
{
    const char *id = string_key(o, "id", path, err, errlen);
    const char *label = id ? string_key(o, "label", path, err, errlen) : NULL;
    if (!label) return -1;
    if (strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16)
        return unic_errf(err, errlen, "%s: point id '%s' is not 16 hex digits", path, id);
    snprintf(p->id, sizeof p->id, "%s", id);
    p->label = unic_xstrdup(label);
    const cJSON *values = cJSON_GetObjectItem(o, "values"), *x;
    if (!cJSON_IsArray(values) || cJSON_GetArraySize(values) != v->naxes)
        return unic_errf(err, errlen, "%s: point %s: key 'values' must hold one index per axis",
                         path, id);
    int a = 0;
    cJSON_ArrayForEach(x, values)
    {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= v->axes[a].count)
            return unic_errf(err, errlen, "%s: point %s: value %d is not an index into axis '%s'",
                             path, id, a, v->axes[a].key);
        p->value[a++] = (int)x->valuedouble;
    }
    if (v->seed_axis >= 0) p->seed = unic_xstrdup(v->axes[v->seed_axis].values[p->value[v->seed_axis]]);
    const cJSON *epochs = cJSON_GetObjectItem(o, "epochs");
    p->epochs = cJSON_IsNumber(epochs) && epochs->valuedouble >= 0 &&
                        epochs->valuedouble <= UNIC_MAX_EPOCHS
                    ? (int)epochs->valuedouble
                    : 0;
    return 0;
}

/* A done point's folder must still hold the settings its id was made
 * from: a config edited by hand would make its numbers lie in a table. */
static int check_settings(const char *pd, const unic_grid_view_point *p, char *err, size_t errlen)
{
    char path[2400], *text, id[17];
    snprintf(path, sizeof path, "%s/config.resolved.ini", pd);
    if (unic_read_text_file(path, "resolved settings", UNIC_MAX_TEXT_FILE_BYTES, &text, err,
                            errlen) != 0)
        return -1;
    unic_grid_settings_id(text, id);
    free(text);
    if (strcmp(id, p->id) != 0)
        return unic_errf(err, errlen, "%s: these settings hash to %s, not to the point's id %s "
                         "(was the folder edited by hand?); move the point's folder away to run it "
                         "again", path, id, p->id);
    return 0;
}

static int read_scores(const cJSON *m, const char *obj, const unic_grid_view *v, double out[3])
{
    const cJSON *o = cJSON_GetObjectItem(m, obj);
    for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetObjectItem(o, v->metric[i]);
        out[i] = cJSON_IsNumber(x) ? x->valuedouble : NAN;
    }
    return cJSON_IsObject(o);
}

static int read_point_results(const unic_grid_view *v, unic_grid_view_point *p, char *err,
                              size_t errlen)
{
    char pd[2300], path[2400];
    unic_point_dir(v->dir, p->id, pd, sizeof pd);
    if (unic_point_status_read(pd, &p->status, err, errlen) != 0) return -1;
    p->busy = unic_point_busy(pd);
    for (int i = 0; i < 3; i++) p->latest[i] = p->baseline[i] = p->final[i] = NAN;
    unic_history h;
    if (unic_history_load(pd, &h, err, errlen) != 0) return -1;
    p->epoch_reached = h.rows;
    for (int i = 0; i < 3; i++) {
        int c = unic_history_column(&h, v->metric[i]);
        for (int r = h.rows - 1; c >= 0 && r >= 0; r--)
            if (!isnan(h.values[(size_t)r * (size_t)h.ncols + (size_t)c])) {
                p->latest[i] = h.values[(size_t)r * (size_t)h.ncols + (size_t)c];
                break;
            }
    }
    unic_history_free(&h);
    if (p->status.state != UNIC_POINT_DONE) return 0;
    if (check_settings(pd, p, err, errlen) != 0) return -1;
    snprintf(path, sizeof path, "%s/metrics.json", pd);
    cJSON *m = read_json(path, "metrics", err, errlen);
    if (!m) return -1;
    p->has_scores = read_scores(m, "unic", v, p->final);
    read_scores(m, "baseline", v, p->baseline);
    cJSON_Delete(m);
    return 0;
}

static int read_manifest(const char *dir, unic_grid_view *v, char *err, size_t errlen)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/grid.json", dir);
    cJSON *m = read_json(path, "grid manifest (is this a grid folder?)", err, errlen);
    if (!m) return -1;
    const cJSON *format = cJSON_GetObjectItem(m, "format"), *points, *o;
    const char *name, *experiment, *task;
    int rc = -1;
    if (!cJSON_IsNumber(format) || format->valuedouble != UNIC_GRID_FORMAT)
        unic_errf(err, errlen, "%s: key 'format' is not %d: this grid folder was written by "
                  "another version of unic", path, UNIC_GRID_FORMAT);
    else if ((name = string_key(m, "name", path, err, errlen)) &&
             (experiment = string_key(m, "experiment", path, err, errlen)) &&
             (task = string_key(m, "task", path, err, errlen)) &&
             read_axes(m, path, v, err, errlen) == 0) {
        v->name = unic_xstrdup(name);
        v->experiment = unic_xstrdup(experiment);
        v->gcd = strcmp(task, "gcd") == 0;
        points = cJSON_GetObjectItem(m, "points");
        int n = cJSON_GetArraySize(points);
        if (!cJSON_IsArray(points) || n < 1 || n > UNIC_GRID_MAX_POINTS)
            unic_errf(err, errlen, "%s: key 'points' must list 1 to %d points", path,
                      UNIC_GRID_MAX_POINTS);
        else {
            v->points = unic_xcalloc((size_t)n, sizeof *v->points);
            rc = 0;
            cJSON_ArrayForEach(o, points)
            {
                if (rc != 0) break;
                rc = read_point_entry(o, path, v, &v->points[v->count++], err, errlen);
            }
        }
    }
    cJSON_Delete(m);
    return rc;
}

int unic_grid_view_load(const char *dir, unic_grid_view *v, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    v->seed_axis = -1;
    v->dir = unic_xstrdup(dir);
    int rc = read_manifest(dir, v, err, errlen);
    static const char *clu[] = {"acc", "nmi", "ari"}, *gcd[] = {"all", "old", "new"};
    for (int i = 0; i < 3; i++) v->metric[i] = v->gcd ? gcd[i] : clu[i];
    for (int i = 0; rc == 0 && i < v->count; i++)
        rc = read_point_results(v, &v->points[i], err, errlen);
    if (rc != 0) unic_grid_view_free(v);
    return rc;
}

void unic_grid_view_free(unic_grid_view *v)
{
    for (int i = 0; i < v->count; i++) {
        free(v->points[i].label);
        free(v->points[i].seed);
    }
    free(v->points);
    for (int a = 0; a < v->naxes; a++) {
        free(v->axes[a].key);
        for (int i = 0; i < v->axes[a].count; i++) free(v->axes[a].values[i]);
    }
    free(v->dir);
    free(v->name);
    free(v->experiment);
    memset(v, 0, sizeof *v);
}

/* ---- history.csv ------------------------------------------------------ */

static int split_header(char *line, unic_history *h, const char *path, char *err, size_t errlen)
{
    h->names = unic_xcalloc(MAX_HISTORY_COLUMNS, sizeof(char *));
    char *save = NULL;
    for (char *c = strtok_r(line, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        if (h->ncols == MAX_HISTORY_COLUMNS)
            return unic_errf(err, errlen, "%s: more than %d columns", path, MAX_HISTORY_COLUMNS);
        h->names[h->ncols++] = unic_xstrdup(c);
    }
    if (h->ncols < 1 || strcmp(h->names[0], "epoch") != 0)
        return unic_errf(err, errlen, "%s: line 1: expected a header starting with 'epoch'", path);
    return 0;
}

/* One data row: ncols cells, numbers or empty. */
static int parse_row(const char *line, int lineno, unic_history *h, double *row, const char *path,
                     char *err, size_t errlen)
{
    const char *c = line;
    for (int j = 0; j < h->ncols; j++) {
        char *end = (char *)c;
        row[j] = (*c == ',' || *c == '\0') ? NAN : strtod(c, &end);
        if (end == c && *c != ',' && *c != '\0')
            return unic_errf(err, errlen, "%s: line %d: column '%s' is not a number", path, lineno,
                             h->names[j]);
        c = end;
        if (j + 1 < h->ncols && *c++ != ',')
            return unic_errf(err, errlen, "%s: line %d: expected %d columns", path, lineno, h->ncols);
    }
    if (*c != '\0')
        return unic_errf(err, errlen, "%s: line %d: expected %d columns", path, lineno, h->ncols);
    return 0;
}

static int parse_history(char *text, const char *path, unic_history *h, char *err, size_t errlen)
{
    int lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    if (!line) return 0;
    if (split_header(line, h, path, err, errlen) != 0) return -1;
    h->values = unic_xcalloc((size_t)(lines + 1) * (size_t)h->ncols, sizeof(double));
    int lineno = 1;
    while ((line = strtok_r(NULL, "\n", &save))) {
        lineno++;
        if (parse_row(line, lineno, h, h->values + (size_t)h->rows * (size_t)h->ncols, path, err,
                      errlen) != 0)
            return -1;
        h->rows++;
    }
    return 0;
}

int unic_history_load(const char *point_dir, unic_history *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    char path[2400], *text;
    snprintf(path, sizeof path, "%s/history.csv", point_dir);
    if (unic_read_text_file(path, "history", UNIC_MAX_TEXT_FILE_BYTES, &text, err, errlen) != 0)
        return errno == ENOENT ? 0 : -1;
    int rc = parse_history(text, path, h, err, errlen);
    free(text);
    if (rc != 0) unic_history_free(h);
    return rc;
}

void unic_history_free(unic_history *h)
{
    for (int i = 0; i < h->ncols; i++) free(h->names[i]);
    free(h->names);
    free(h->values);
    memset(h, 0, sizeof *h);
}

int unic_history_column(const unic_history *h, const char *name)
{
    for (int i = 0; i < h->ncols; i++)
        if (strcmp(h->names[i], name) == 0) return i;
    return -1;
}
