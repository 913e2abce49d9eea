#include "grid/runner.h"
#include "report/report.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/log.h"
#include "base/util.h"
#include "grid/folder.h"
#include "grid/point.h"
#include "grid/summary.h"
#include "grid/view.h"

#define SUMMARY_EVERY_S 5.0

typedef struct child {
    pid_t pid;
    const unic_grid_point *point;
    double started;
} child;

typedef struct runner {
    const unic_grid *g;
    const unic_grid_options *o;
    char dir[2048];
    int threads_each;
    const unic_grid_point **queue;
    int nqueue, next, finished, failed, busy_elsewhere;
    child *running;
    int nrunning;
    double point_seconds; /* summed over the points this command ran */
} runner;

/* The point's process: argv made before fork, since between fork and exec
 * only async-signal-safe calls are allowed (the parent may hold OpenMP's
 * threads). It dies with the grid command (PR_SET_PDEATHSIG), so a killed
 * grid leaves no point running unseen; the next command resumes it. */
static pid_t spawn(const runner *rn, const unic_grid_point *p)
{
    char threads[16], output[2400], pd[2300];
    snprintf(threads, sizeof threads, "%d", rn->threads_each);
    unic_point_dir(rn->dir, p->id, pd, sizeof pd);
    snprintf(output, sizeof output, "%s/output.txt", pd);
    const char *argv[64 + 2 * 64];
    int n = 0;
    argv[n++] = "unic";
    argv[n++] = "run";
    argv[n++] = rn->o->ini;
    for (int i = 0; i < rn->o->nsets && n < 100; i++) {
        argv[n++] = "--set";
        argv[n++] = rn->o->sets[i];
    }
    const char *tail[] = {"--grid-point", p->id, "--out", rn->dir, "--threads", threads, "--quiet"};
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++) argv[n++] = tail[i];
    if (rn->o->retry_failed) argv[n++] = "--retry-failed";
    argv[n] = NULL;
    pid_t parent = getpid(), pid = fork();
    if (pid != 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    execv("/proc/self/exe", (char *const *)argv);
    _exit(127);
}

/* A point's process that ended without recording its end (a signal, an
 * abort, an exit before it could write): the grid records it. */
static void record_crash(const runner *rn, const child *c, int status)
{
    char pd[2300], err[512], why[256];
    unic_point_dir(rn->dir, c->point->id, pd, sizeof pd);
    int lock = unic_point_lock(pd, 0, err, sizeof err);
    if (lock < 0) return; /* another command runs it now */
    unic_point_status s;
    if (unic_point_status_read(pd, &s, err, sizeof err) == 0 && s.state != UNIC_POINT_DONE &&
        s.state != UNIC_POINT_FAILED) {
        if (WIFSIGNALED(status))
            snprintf(why, sizeof why, "its process was killed by signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
        else
            snprintf(why, sizeof why, "its process exited with status %d", WEXITSTATUS(status));
        snprintf(s.error, sizeof s.error, "%s; see %.1500s/output.txt and log.txt", why, pd);
        s.state = UNIC_POINT_FAILED;
        s.finished = unic_wall_clock();
        if (unic_point_status_write(pd, &s, err, sizeof err) != 0)
            unic_log(UNIC_LOG_ERROR, "%s", err);
    }
    unic_lock_release(lock);
}

static void report_point(runner *rn, const child *c, int status)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    double secs = unic_now() - c->started;
    const unic_grid_point *p = c->point;
    if (code == UNIC_POINT_EXIT_BUSY) {
        rn->busy_elsewhere++;
        return;
    }
    if (code != UNIC_POINT_EXIT_DONE && code != UNIC_POINT_EXIT_FAILED) record_crash(rn, c, status);
    rn->finished++;
    rn->point_seconds += secs;
    if (code != UNIC_POINT_EXIT_DONE) rn->failed++;
    int left = rn->nqueue - rn->finished - rn->busy_elsewhere;
    int jobs = rn->o->jobs;
    double eta = left > 0 ? rn->point_seconds / rn->finished * left / (left < jobs ? left : jobs) : 0;
    char rest[64] = "";
    if (left > 0) snprintf(rest, sizeof rest, ", about %.0f s left", eta);
    unic_log(UNIC_LOG_INFO, "grid %d/%d %s %s %s%s%s (%.1f s%s)", rn->finished, rn->nqueue,
             code == UNIC_POINT_EXIT_DONE ? "done  " : "FAILED", p->id,
             *p->label ? p->label : "(the run)", p->seed ? " seed " : "", p->seed ? p->seed : "",
             secs, rest);
}

/* Waits for one point's process and takes it off the running list. */
static void reap_one(runner *rn)
{
    int status;
    pid_t pid;
    do pid = waitpid(-1, &status, 0);
    while (pid < 0 && errno == EINTR);
    for (int i = 0; i < rn->nrunning; i++)
        if (rn->running[i].pid == pid) {
            child c = rn->running[i];
            rn->running[i] = rn->running[--rn->nrunning];
            report_point(rn, &c, status);
            return;
        }
}

/* Which points this command runs: not done, not failed (unless retried),
 * not held by another command. Invalid points are recorded at once. */
static void build_queue(runner *rn)
{
    const unic_grid *g = rn->g;
    rn->queue = unic_xcalloc((size_t)g->count, sizeof *rn->queue);
    for (int i = 0; i < g->count; i++) {
        const unic_grid_point *p = &g->points[i];
        char pd[2300], err[2048];
        unic_point_status s;
        unic_point_dir(rn->dir, p->id, pd, sizeof pd);
        if (unic_point_status_read(pd, &s, err, sizeof err) != 0) {
            unic_log(UNIC_LOG_WARN, "%s", err);
            continue;
        }
        if (s.state == UNIC_POINT_DONE || (s.state == UNIC_POINT_FAILED && !rn->o->retry_failed))
            continue;
        if (unic_point_busy(pd)) {
            rn->busy_elsewhere++;
            continue;
        }
        if (p->error) {
            unic_grid_run_point(p, rn->dir, rn->o->retry_failed, err, sizeof err);
            unic_log(UNIC_LOG_INFO, "grid: point %s (%s) is invalid: %s", p->id, p->label, err);
            continue;
        }
        rn->queue[rn->nqueue++] = p;
    }
}

static void run_queue(runner *rn)
{
    rn->running = unic_xcalloc((size_t)rn->o->jobs, sizeof(child));
    double last_summary = unic_now();
    while (rn->next < rn->nqueue || rn->nrunning > 0) {
        while (rn->next < rn->nqueue && rn->nrunning < rn->o->jobs) {
            const unic_grid_point *p = rn->queue[rn->next++];
            pid_t pid = spawn(rn, p);
            if (pid < 0) {
                unic_log(UNIC_LOG_ERROR, "grid: cannot start point %s: %s", p->id, strerror(errno));
                rn->failed++;
                continue;
            }
            rn->running[rn->nrunning++] = (child){pid, p, unic_now()};
        }
        if (rn->nrunning > 0) reap_one(rn);
        /* grid.csv stays current within a few seconds; `unic grid status`
         * reads the points themselves, so it never lags */
        char err[2048];
        if (unic_now() - last_summary > SUMMARY_EVERY_S) {
            if (unic_grid_refresh_summary(rn->dir, NULL, 0, err, sizeof err) < 0)
                unic_log(UNIC_LOG_WARN, "%s", err);
            last_summary = unic_now();
        }
    }
    free(rn->running);
}

int unic_grid_run_all(const unic_grid *g, const unic_grid_options *o, char *err, size_t errlen)
{
    runner rn = {.g = g, .o = o};
    unic_grid_dir(g, o->out, rn.dir, sizeof rn.dir);
    if (unic_grid_folder_prepare(rn.dir, g, o->ini, o->sets, o->nsets, o->allow_changed, err,
                                 errlen) != 0)
        return -1;
    int threads = o->threads > 0 ? o->threads : omp_get_num_procs();
    rn.threads_each = threads / o->jobs > 0 ? threads / o->jobs : 1;
    build_queue(&rn);
    int seeds = g->seed_axis >= 0 ? g->axes[g->seed_axis].count : 1;
    unic_log(UNIC_LOG_INFO, "grid %s: %d points (%d settings x %d seeds); %d to run here, %d at "
             "a time, %d thread%s each", rn.dir, g->count, g->count / seeds, seeds, rn.nqueue,
             o->jobs, rn.threads_each, rn.threads_each == 1 ? "" : "s");
    run_queue(&rn);
    free(rn.queue);
    char line[4096];
    int rc = unic_grid_refresh_summary(rn.dir, line, sizeof line, err, errlen);
    if (rc < 0) return -1;
    unic_log(UNIC_LOG_INFO, "grid: summary in %s/grid.csv%s", rn.dir,
             rn.busy_elsewhere ? "; some points are being run by another command" : "");
    /* each point wrote its own page when it finished; the grid's links them */
    char page[2400], msg[4096];
    unic_report_options ro = {.no_points = 1};
    if (unic_report_grid(rn.dir, &ro, page, sizeof page, msg, sizeof msg) == 0)
        unic_log(UNIC_LOG_INFO, "grid: report in %s", page);
    else
        unic_log(UNIC_LOG_WARN, "grid: no report: %s; try `unic report %s`", msg, rn.dir);
    printf("%s\n", line);
    return rc;
}
