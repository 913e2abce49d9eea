#include "grid/folder.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/textfile.h"
#include "base/util.h"
#include "plugin/params.h"

#define STATE_MAX_BYTES (1 << 20)
#define MANIFEST_MAX_BYTES (64u << 20)

static const char *state_names[] = {"pending", "running", "done", "failed"};

const char *unic_point_state_name(unic_point_state s) { return state_names[s]; }

double unic_wall_clock(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void unic_grid_dir(const unic_grid *g, const char *out, char *dir, size_t len)
{
    const unic_grid_point *first = NULL;
    for (int i = 0; i < g->count && !first; i++)
        if (!g->points[i].error) first = &g->points[i];
    const char *configured = first ? unic_param_str(first->run.train, "out") : "";
    if (out)
        snprintf(dir, len, "%s", out);
    else if (*configured)
        snprintf(dir, len, "%s", configured);
    else
        snprintf(dir, len, "runs/%s", g->name);
}

void unic_point_dir(const char *grid_dir, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s/points/%s", grid_dir, id);
}

/* ---- state.json ------------------------------------------------------- */

static int parse_state(const char *path, const char *text, unic_point_status *s, char *err,
                       size_t errlen)
{
    cJSON *j = cJSON_Parse(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return unic_errf(err, errlen, "%s: not a JSON object (edited by hand?)", path);
    }
    const cJSON *st = cJSON_GetObjectItem(j, "state");
    int found = -1;
    for (int i = 0; cJSON_IsString(st) && i < 4; i++)
        if (strcmp(st->valuestring, state_names[i]) == 0) found = i;
    if (found < 0) {
        cJSON_Delete(j);
        return unic_errf(err, errlen, "%s: key 'state' must be pending, running, done or failed",
                         path);
    }
    s->state = (unic_point_state)found;
    const cJSON *v;
    if (cJSON_IsString(v = cJSON_GetObjectItem(j, "error")))
        snprintf(s->error, sizeof s->error, "%s", v->valuestring);
    if (cJSON_IsString(v = cJSON_GetObjectItem(j, "host")))
        snprintf(s->host, sizeof s->host, "%s", v->valuestring);
    if (cJSON_IsString(v = cJSON_GetObjectItem(j, "slurm_job")))
        snprintf(s->slurm_job, sizeof s->slurm_job, "%s", v->valuestring);
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "pid"))) s->pid = (long)v->valuedouble;
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "started"))) s->started = v->valuedouble;
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "finished"))) s->finished = v->valuedouble;
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "attempts"))) s->attempts = (int)v->valuedouble;
    cJSON_Delete(j);
    return 0;
}

int unic_point_status_read(const char *point_dir, unic_point_status *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    char path[2300];
    snprintf(path, sizeof path, "%s/state.json", point_dir);
    char *text;
    if (unic_read_text_file(path, "point state", STATE_MAX_BYTES, &text, err, errlen) != 0)
        return errno == ENOENT ? 0 : -1; /* never started: pending */
    int rc = parse_state(path, text, s, err, errlen);
    free(text);
    return rc;
}

int unic_point_status_write(const char *point_dir, const unic_point_status *s, char *err,
                            size_t errlen)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "state", state_names[s->state]);
    if (*s->error) cJSON_AddStringToObject(j, "error", s->error);
    cJSON_AddNumberToObject(j, "pid", (double)s->pid);
    cJSON_AddStringToObject(j, "host", s->host);
    cJSON_AddNumberToObject(j, "started", s->started);
    cJSON_AddNumberToObject(j, "finished", s->finished);
    cJSON_AddNumberToObject(j, "attempts", s->attempts);
    if (*s->slurm_job) cJSON_AddStringToObject(j, "slurm_job", s->slurm_job);
    char *text = cJSON_Print(j), path[2300];
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/state.json", point_dir);
    int rc = unic_write_file_atomic(path, text, strlen(text), err, errlen);
    free(text);
    return rc;
}

int unic_point_lock(const char *point_dir, int wait, char *err, size_t errlen)
{
    char path[2300], what[2400];
    snprintf(path, sizeof path, "%s/.point.lock", point_dir);
    snprintf(what, sizeof what, "grid point %s", point_dir);
    return unic_lock_take(path, what, wait, err, errlen);
}

int unic_point_busy(const char *point_dir)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/.point.lock", point_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int busy = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return busy;
}

/* ---- grid.json -------------------------------------------------------- */

static cJSON *manifest_json(const unic_grid *g, const char *ini, const char *const *sets,
                            int nsets)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "format", UNIC_GRID_FORMAT);
    cJSON_AddStringToObject(m, "unic", UNIC_VERSION);
    char *abs = realpath(ini, NULL);
    cJSON_AddStringToObject(m, "experiment", abs ? abs : ini);
    free(abs);
    cJSON_AddStringToObject(m, "name", g->name);
    cJSON *s = cJSON_AddArrayToObject(m, "sets");
    for (int i = 0; i < nsets; i++) cJSON_AddItemToArray(s, cJSON_CreateString(sets[i]));
    const unic_grid_point *first = NULL;
    for (int i = 0; i < g->count && !first; i++)
        if (!g->points[i].error) first = &g->points[i];
    int gcd = first && *unic_param_str(first->run.data, "old_classes");
    cJSON_AddStringToObject(m, "task", gcd ? "gcd" : "clustering");
    cJSON *axes = cJSON_AddArrayToObject(m, "axes");
    for (int a = 0; a < g->naxes; a++) {
        cJSON *ax = cJSON_CreateObject();
        cJSON_AddStringToObject(ax, "key", g->axes[a].key);
        cJSON *v = cJSON_AddArrayToObject(ax, "values");
        for (int i = 0; i < g->axes[a].count; i++)
            cJSON_AddItemToArray(v, cJSON_CreateString(g->axes[a].values[i]));
        cJSON_AddItemToArray(axes, ax);
    }
    cJSON *points = cJSON_AddArrayToObject(m, "points");
    for (int i = 0; i < g->count; i++) {
        const unic_grid_point *p = &g->points[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", p->id);
        cJSON_AddStringToObject(o, "label", p->label);
        if (p->seed) cJSON_AddStringToObject(o, "seed", p->seed);
        cJSON *v = cJSON_AddArrayToObject(o, "values");
        for (int a = 0; a < g->naxes; a++) cJSON_AddItemToArray(v, cJSON_CreateNumber(p->value[a]));
        cJSON_AddNumberToObject(o, "epochs", p->error ? 0 : unic_param_int(p->run.train, "epochs"));
        if (p->error) cJSON_AddStringToObject(o, "invalid", p->error);
        cJSON_AddItemToArray(points, o);
    }
    return m;
}

/* A point of the old manifest that is done, whose axis values g also has
 * under another id: its settings changed since the folder was made. */
static int find_changed(const char *dir, const cJSON *old, const unic_grid *g, char *err,
                        size_t errlen)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(old, "points"))
    {
        const cJSON *id = cJSON_GetObjectItem(p, "id"), *label = cJSON_GetObjectItem(p, "label");
        const cJSON *seed = cJSON_GetObjectItem(p, "seed");
        if (!cJSON_IsString(id) || !cJSON_IsString(label)) continue;
        char pd[2300], msg[256];
        unic_point_status st;
        unic_point_dir(dir, id->valuestring, pd, sizeof pd);
        if (unic_point_status_read(pd, &st, msg, sizeof msg) != 0 || st.state != UNIC_POINT_DONE)
            continue;
        for (int i = 0; i < g->count; i++) {
            const unic_grid_point *q = &g->points[i];
            const char *old_seed = cJSON_IsString(seed) ? seed->valuestring : "";
            if (strcmp(label->valuestring, q->label) == 0 &&
                strcmp(old_seed, q->seed ? q->seed : "") == 0 && strcmp(id->valuestring, q->id) != 0)
                return unic_errf(err, errlen, "%s/grid.json: point '%s%s%s' is done with other "
                                 "settings (id %s, now %s): the experiment changed since the "
                                 "folder was made; use another --out, or --allow-changed to "
                                 "keep the old points beside the new ones", dir,
                                 *q->label ? q->label : "(the run)", q->seed ? " seed " : "",
                                 q->seed ? q->seed : "", id->valuestring, q->id);
        }
    }
    return 0;
}

static int check_old_manifest(const char *dir, const unic_grid *g, int allow_changed, char *err,
                              size_t errlen)
{
    char path[2300], *text;
    snprintf(path, sizeof path, "%s/grid.json", dir);
    if (unic_read_text_file(path, "grid manifest", MANIFEST_MAX_BYTES, &text, err, errlen) != 0)
        return errno == ENOENT ? 0 : -1;
    cJSON *old = cJSON_Parse(text);
    free(text);
    const cJSON *format = cJSON_GetObjectItem(old, "format");
    int rc = 0;
    if (!cJSON_IsNumber(format) || format->valuedouble != UNIC_GRID_FORMAT)
        rc = unic_errf(err, errlen, "%s: key 'format' is %s, this unic reads grid folders of "
                       "format %d; use another --out", path,
                       cJSON_IsNumber(format) ? "another version" : "missing", UNIC_GRID_FORMAT);
    else if (!allow_changed)
        rc = find_changed(dir, old, g, err, errlen);
    cJSON_Delete(old);
    return rc;
}

static int write_point_folders(const char *dir, const unic_grid *g, char *err, size_t errlen)
{
    for (int i = 0; i < g->count; i++) {
        char pd[2300];
        unic_point_dir(dir, g->points[i].id, pd, sizeof pd);
        if (unic_mkdirs(pd, err, errlen) != 0) return -1;
    }
    return 0;
}

int unic_grid_folder_prepare(const char *dir, const unic_grid *g, const char *ini,
                             const char *const *sets, int nsets, int allow_changed, char *err,
                             size_t errlen)
{
    if (unic_mkdirs(dir, err, errlen) != 0 ||
        check_old_manifest(dir, g, allow_changed, err, errlen) != 0 ||
        write_point_folders(dir, g, err, errlen) != 0)
        return -1;
    char path[2300], *text;
    if (unic_read_text_file(ini, "experiment file", 0, &text, err, errlen) != 0) return -1;
    snprintf(path, sizeof path, "%s/experiment.ini", dir);
    int rc = unic_write_file_atomic(path, text, strlen(text), err, errlen);
    free(text);
    if (rc != 0) return -1;
    cJSON *m = manifest_json(g, ini, sets, nsets);
    text = cJSON_Print(m);
    cJSON_Delete(m);
    snprintf(path, sizeof path, "%s/grid.json", dir);
    rc = unic_write_file_atomic(path, text, strlen(text), err, errlen);
    free(text);
    return rc;
}
