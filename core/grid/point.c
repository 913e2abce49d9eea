#include "grid/point.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/log.h"
#include "base/util.h"
#include "grid/folder.h"
#include "train/run.h"

static void mark(unic_point_status *s, unic_point_state state, const char *error)
{
    s->state = state;
    snprintf(s->error, sizeof s->error, "%s", error ? error : "");
    s->finished = state == UNIC_POINT_RUNNING ? 0 : unic_wall_clock();
}

/* The state this process may start from, or the status to return at once. */
static int check_state(const unic_point_status *s, int retry_failed, char *err, size_t errlen)
{
    if (s->state == UNIC_POINT_DONE) return UNIC_POINT_EXIT_DONE;
    if (s->state == UNIC_POINT_FAILED && !retry_failed) {
        unic_errf(err, errlen, "failed before (%s); --retry-failed runs it again", s->error);
        return UNIC_POINT_EXIT_FAILED;
    }
    return -1; /* pending, interrupted, or failed and retried: run it */
}

static int run_locked(const unic_grid_point *p, const char *grid_dir, const char *pd,
                      int retry_failed, char *err, size_t errlen)
{
    unic_point_status s;
    if (unic_point_status_read(pd, &s, err, errlen) != 0) return UNIC_POINT_EXIT_FAILED;
    int early = check_state(&s, retry_failed, err, errlen);
    if (early >= 0) return early;
    if (p->error) {
        mark(&s, UNIC_POINT_FAILED, p->error); /* a value that does not validate */
        if (unic_point_status_write(pd, &s, err, errlen) == 0) unic_errf(err, errlen, "%s", p->error);
        return UNIC_POINT_EXIT_FAILED;
    }
    s.pid = (long)getpid();
    gethostname(s.host, sizeof s.host - 1);
    s.started = unic_wall_clock();
    s.attempts++;
    const char *job = getenv("SLURM_ARRAY_JOB_ID"), *task = getenv("SLURM_ARRAY_TASK_ID");
    if (job && task) snprintf(s.slurm_job, sizeof s.slurm_job, "%s_%s", job, task);
    mark(&s, UNIC_POINT_RUNNING, NULL);
    if (unic_point_status_write(pd, &s, err, errlen) != 0) return UNIC_POINT_EXIT_FAILED;
    char ckpt[2400], cache[2300];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", pd);
    snprintf(cache, sizeof cache, "%s/cache", grid_dir);
    int resume = access(ckpt, F_OK) == 0; /* interrupted: go on from its last epoch */
    int rc = unic_run(&p->run, pd, cache, resume, NULL, err, errlen);
    char run_err[2048];
    snprintf(run_err, sizeof run_err, "%s", rc == 0 ? "" : err);
    mark(&s, rc == 0 ? UNIC_POINT_DONE : UNIC_POINT_FAILED, rc == 0 ? NULL : run_err);
    if (unic_point_status_write(pd, &s, err, errlen) != 0) return UNIC_POINT_EXIT_FAILED;
    if (rc != 0) snprintf(err, errlen, "%s", run_err);
    return rc == 0 ? UNIC_POINT_EXIT_DONE : UNIC_POINT_EXIT_FAILED;
}

int unic_grid_run_point(const unic_grid_point *p, const char *grid_dir, int retry_failed,
                        char *err, size_t errlen)
{
    char pd[2300];
    unic_point_dir(grid_dir, p->id, pd, sizeof pd);
    if (unic_mkdirs(pd, err, errlen) != 0) return UNIC_POINT_EXIT_FAILED;
    /* `unic grid status` and other grid commands probe the lock for a
     * moment (unic_point_busy); only a holder that stays is another run */
    int lock = -1;
    for (int tries = 0; lock < 0 && tries < 20; tries++) {
        lock = unic_point_lock(pd, 0, err, errlen);
        if (lock < 0 && errno != EWOULDBLOCK) return UNIC_POINT_EXIT_FAILED;
        if (lock < 0) usleep(50 * 1000);
    }
    if (lock < 0) return UNIC_POINT_EXIT_BUSY;
    int rc = run_locked(p, grid_dir, pd, retry_failed, err, errlen);
    unic_lock_release(lock);
    return rc;
}
