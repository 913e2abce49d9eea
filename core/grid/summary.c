#include "grid/summary.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

unic_grid_counts unic_grid_count(const unic_grid_view *v)
{
    unic_grid_counts c = {0, 0, 0, 0};
    for (int i = 0; i < v->count; i++) {
        const unic_grid_view_point *p = &v->points[i];
        if (p->status.state == UNIC_POINT_DONE)
            c.done++;
        else if (p->status.state == UNIC_POINT_FAILED)
            c.failed++;
        else if (p->busy)
            c.running++;
        else
            c.pending++; /* never started, or interrupted */
    }
    return c;
}

void unic_grid_counts_line(const unic_grid_view *v, char *line, size_t len)
{
    unic_grid_counts c = unic_grid_count(v);
    size_t used = (size_t)snprintf(line, len, "%d done", c.done);
    if (c.failed)
        used += (size_t)snprintf(line + used, len - used, ", %d failed", c.failed);
    if (c.running && used < len)
        used += (size_t)snprintf(line + used, len - used, ", %d running", c.running);
    if (c.pending && used < len)
        used += (size_t)snprintf(line + used, len - used, ", %d not run", c.pending);
    if (c.failed && used < len) snprintf(line + used, len - used, ": see %s/failed.txt", v->dir);
}

/* A CSV field: quoted where it must be (inner quotes doubled), newlines
 * flattened. */
static size_t put_field(char *buf, size_t cap, const char *s)
{
    size_t used = 0;
    int quote = strpbrk(s, ",\"\n") != NULL;
    if (quote && used < cap) buf[used++] = '"';
    for (; *s && used + 3 < cap; s++) {
        if (*s == '"') buf[used++] = '"';
        buf[used++] = *s == '\n' ? ' ' : *s;
    }
    if (quote && used < cap) buf[used++] = '"';
    return used;
}

static void put_scores(char **csv, size_t *used, size_t *cap, const double s[3], int have)
{
    for (int i = 0; i < 3; i++) {
        if (*cap - *used < 64) *csv = realloc(*csv, *cap *= 2);
        *used += (size_t)snprintf(*csv + *used, *cap - *used, have && !isnan(s[i]) ? ",%.6f" : ",",
                                  s[i]);
    }
}

static char *summary_csv(const unic_grid_view *v)
{
    size_t cap = 1 << 16, used = 0;
    char *csv = malloc(cap);
    const char *b = v->gcd ? "sskmeans" : "kmeans";
    used += (size_t)snprintf(csv, cap, "id,state");
    for (int a = 0; a < v->naxes; a++)
        if (a != v->seed_axis) used += (size_t)snprintf(csv + used, cap - used, ",%s", v->axes[a].key);
    used += (size_t)snprintf(csv + used, cap - used, ",seed,epochs");
    for (int i = 0; i < 3; i++) used += (size_t)snprintf(csv + used, cap - used, ",%s_%s", b, v->metric[i]);
    for (int i = 0; i < 3; i++) used += (size_t)snprintf(csv + used, cap - used, ",unic_%s", v->metric[i]);
    used += (size_t)snprintf(csv + used, cap - used, ",seconds,error\n");
    for (int i = 0; i < v->count; i++) {
        const unic_grid_view_point *p = &v->points[i];
        if (cap - used < 8192) csv = realloc(csv, cap *= 2);
        const char *state = p->busy ? "running" : unic_point_state_name(p->status.state);
        used += (size_t)snprintf(csv + used, cap - used, "%s,%s", p->id, state);
        for (int a = 0; a < v->naxes; a++)
            if (a != v->seed_axis) {
                csv[used++] = ',';
                used += put_field(csv + used, cap - used, v->axes[a].values[p->value[a]]);
            }
        used += (size_t)snprintf(csv + used, cap - used, ",%s,%d/%d", p->seed ? p->seed : "",
                                 p->epoch_reached, p->epochs);
        put_scores(&csv, &used, &cap, p->baseline, p->has_scores);
        put_scores(&csv, &used, &cap, p->final, p->has_scores);
        double secs = p->status.finished > 0 ? p->status.finished - p->status.started : 0;
        used += (size_t)snprintf(csv + used, cap - used, secs > 0 ? ",%.1f," : ",,", secs);
        used += put_field(csv + used, cap - used, p->status.error);
        csv[used++] = '\n';
        csv[used] = '\0';
    }
    return csv;
}

static char *failed_text(const unic_grid_view *v)
{
    size_t cap = 1 << 14, used = 0;
    char *text = malloc(cap);
    text[0] = '\0';
    for (int i = 0; i < v->count; i++) {
        const unic_grid_view_point *p = &v->points[i];
        if (p->status.state != UNIC_POINT_FAILED) continue;
        if (cap - used < 8192) text = realloc(text, cap *= 2);
        used += (size_t)snprintf(text + used, cap - used, "%s %s%s%s: %s\n  folder %s/points/%s\n",
                                 p->id, *p->label ? p->label : "(the run)", p->seed ? " seed " : "",
                                 p->seed ? p->seed : "", p->status.error, v->dir, p->id);
    }
    return text;
}

int unic_grid_refresh_summary(const char *dir, char *line, size_t len, char *err, size_t errlen)
{
    unic_grid_view v;
    if (unic_grid_view_load(dir, &v, err, errlen) != 0) return -1;
    int rc = unic_grid_write_summary(&v, err, errlen);
    unic_grid_counts c = unic_grid_count(&v);
    if (line) unic_grid_counts_line(&v, line, len);
    unic_grid_view_free(&v);
    return rc != 0 ? -1 : (c.failed || c.pending || c.running) ? 1 : 0;
}

int unic_grid_write_summary(const unic_grid_view *v, char *err, size_t errlen)
{
    char path[2300];
    char *csv = summary_csv(v), *failed = failed_text(v);
    snprintf(path, sizeof path, "%s/grid.csv", v->dir);
    int rc = unic_write_file_atomic(path, csv, strlen(csv), err, errlen);
    snprintf(path, sizeof path, "%s/failed.txt", v->dir);
    if (rc == 0) rc = unic_write_file_atomic(path, failed, strlen(failed), err, errlen);
    free(csv);
    free(failed);
    return rc;
}
