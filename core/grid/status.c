#include "grid/status.h"

#include <math.h>
#include <string.h>

#include "grid/summary.h"

static const char *state_text(const unic_grid_view_point *p)
{
    if (p->busy) return "running";
    if (p->status.state == UNIC_POINT_RUNNING) return "stopped"; /* its process died: resumable */
    return unic_point_state_name(p->status.state);
}

static double elapsed(const unic_grid_view_point *p, double now)
{
    if (p->status.started <= 0) return NAN;
    if (p->busy) return now - p->status.started;
    return p->status.finished > 0 ? p->status.finished - p->status.started : NAN;
}

void unic_grid_status_print(const unic_grid_view *v, FILE *out)
{
    char line[4096];
    unic_grid_counts_line(v, line, sizeof line);
    fprintf(out, "grid %s: %d points: %s\n", v->dir, v->count, line);
    fprintf(out, "%-16s  %-7s  %7s  %9s  %7s  %7s  %7s  %s\n", "id", "state", "epoch", "elapsed",
            v->metric[0], v->metric[1], v->metric[2], "point");
    double now = unic_wall_clock();
    for (int i = 0; i < v->count; i++) {
        const unic_grid_view_point *p = &v->points[i];
        char epoch[32], secs[32], scores[3][16];
        snprintf(epoch, sizeof epoch, "%d/%d", p->epoch_reached, p->epochs);
        double e = elapsed(p, now);
        if (isnan(e))
            snprintf(secs, sizeof secs, "-");
        else
            snprintf(secs, sizeof secs, "%.1f s", e);
        for (int k = 0; k < 3; k++) {
            double s = p->has_scores ? p->final[k] : p->latest[k];
            if (isnan(s))
                snprintf(scores[k], sizeof scores[k], "-");
            else
                snprintf(scores[k], sizeof scores[k], "%.4f", s);
        }
        fprintf(out, "%-16s  %-7s  %7s  %9s  %7s  %7s  %7s  %s%s%s\n", p->id, state_text(p), epoch,
                secs, scores[0], scores[1], scores[2], *p->label ? p->label : "(the run)",
                p->seed ? " seed " : "", p->seed ? p->seed : "");
        if (p->status.state == UNIC_POINT_FAILED)
            fprintf(out, "%-16s  error: %s\n", "", p->status.error);
    }
}
