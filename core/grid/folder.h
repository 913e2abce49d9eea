/* A grid's folder on disk, the one thing every grid command shares:
 *
 *   DIR/grid.json             the manifest: format, experiment, axes, points
 *   DIR/experiment.ini        the experiment file as it was (its [table])
 *   DIR/points/ID/            each point's run folder (config.resolved.ini,
 *                             log.txt, history.csv, metrics.json, ...) plus
 *   DIR/points/ID/state.json  pending | running | done | failed, with the error
 *   DIR/points/ID/.point.lock held by the process running the point
 *   DIR/cache/                the mining cache all points share
 *   DIR/grid.csv, failed.txt  rebuilt from the points, never appended to
 *
 * State files are written atomically and only by the holder of the point's
 * lock, so two grid commands on one folder never run a point twice. */
#ifndef UNIC_GRID_FOLDER_H
#define UNIC_GRID_FOLDER_H

#include <stddef.h>

#include "experiment/grid.h"

#define UNIC_GRID_FORMAT 1

typedef enum {
    UNIC_POINT_PENDING,
    UNIC_POINT_RUNNING,
    UNIC_POINT_DONE,
    UNIC_POINT_FAILED,
} unic_point_state;

typedef struct unic_point_status {
    unic_point_state state;
    char error[2048];  /* why it failed */
    long pid;          /* the process that ran it last */
    char host[128];
    double started;    /* wall-clock seconds since 1970, 0 if never */
    double finished;
    int attempts;
    char slurm_job[64]; /* the array task that was given it, if any */
} unic_point_status;

const char *unic_point_state_name(unic_point_state s);
double unic_wall_clock(void);

/* DIR for a grid: --out, else [train] out, else runs/<experiment name>. */
void unic_grid_dir(const unic_grid *g, const char *out, char *dir, size_t len);
void unic_point_dir(const char *grid_dir, const char *id, char *out, size_t len);

/* Missing state.json: pending. A damaged one is an error naming the file. */
int unic_point_status_read(const char *point_dir, unic_point_status *s, char *err, size_t errlen);
int unic_point_status_write(const char *point_dir, const unic_point_status *s, char *err,
                            size_t errlen);
/* The point's lock (see base/lock.h): its descriptor, or -1 with a message
 * (errno EWOULDBLOCK when another process holds it and wait is 0). */
int unic_point_lock(const char *point_dir, int wait, char *err, size_t errlen);
/* 1 when a live process holds the point's lock. */
int unic_point_busy(const char *point_dir);

/* Writes DIR/grid.json and DIR/experiment.ini for g, and each point's
 * folder and point.json. An existing manifest of another format, or done
 * points whose settings differ from g's for the same axis values, are
 * refused (the latter unless allow_changed). */
int unic_grid_folder_prepare(const char *dir, const unic_grid *g, const char *ini,
                             const char *const *sets, int nsets, int allow_changed, char *err,
                             size_t errlen);

#endif
