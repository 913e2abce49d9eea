#include "grid/slurm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/util.h"
#include "grid/folder.h"

/* A word for the script's shell, single-quoted. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* Output of a command run through the shell (first line), or NULL. */
static char *command_line(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char buf[4096] = "";
    size_t got = fread(buf, 1, sizeof buf - 1, p);
    buf[got] = '\0';
    *status = pclose(p);
    buf[strcspn(buf, "\n")] = '\0';
    return unic_xstrdup(buf);
}

/* A point an earlier submission handed to a job that is still queued or
 * running: submitting it again would run it twice. */
static int still_queued(const char *slurm_job)
{
    char job[64], cmd[256];
    snprintf(job, sizeof job, "%s", slurm_job);
    job[strcspn(job, "_")] = '\0';
    if (!*job || strspn(job, "0123456789") != strlen(job)) return 0;
    snprintf(cmd, sizeof cmd, "squeue -h -j %s -o %%i 2>/dev/null", job);
    int status;
    char *out = command_line(cmd, &status);
    int queued = out && status == 0 && *out;
    free(out);
    return queued;
}

static int pending_points(const unic_grid *g, const char *dir, int retry_failed,
                          const unic_grid_point **ids, int *skipped)
{
    int n = 0;
    for (int i = 0; i < g->count; i++) {
        char pd[2300], err[512];
        unic_point_status s;
        unic_point_dir(dir, g->points[i].id, pd, sizeof pd);
        if (unic_point_status_read(pd, &s, err, sizeof err) != 0 || s.state == UNIC_POINT_DONE ||
            (s.state == UNIC_POINT_FAILED && !retry_failed) || unic_point_busy(pd) ||
            (*s.slurm_job && s.state != UNIC_POINT_FAILED && still_queued(s.slurm_job))) {
            (*skipped)++;
            continue;
        }
        ids[n++] = &g->points[i];
    }
    return n;
}

static void write_header(FILE *f, const unic_grid *g, const char *sdir, int n,
                         const unic_slurm_options *s)
{
    fprintf(f, "#!/bin/bash\n# written by `unic grid submit`: one array task per grid point "
               "not yet done\n");
    fprintf(f, "#SBATCH --job-name=unic-%s\n#SBATCH --array=0-%d\n", g->name, n - 1);
    fprintf(f, "#SBATCH --output=%s/%%A_%%a.out\n", sdir);
    if (s->partition) fprintf(f, "#SBATCH --partition=%s\n", s->partition);
    if (s->account) fprintf(f, "#SBATCH --account=%s\n", s->account);
    if (s->time) fprintf(f, "#SBATCH --time=%s\n", s->time);
    fprintf(f, "#SBATCH --cpus-per-task=%d\n", s->cpus_per_task > 0 ? s->cpus_per_task : 1);
    if (s->gpus_per_task > 0) fprintf(f, "#SBATCH --gpus-per-task=%d\n", s->gpus_per_task);
    for (int i = 0; i < s->nlines; i++) fprintf(f, "#SBATCH %s\n", s->lines[i]);
}

static int write_script(const char *path, const unic_grid *g, const unic_grid_options *o,
                        const char *dir, const char *sdir, const unic_grid_point **ids, int n,
                        const unic_slurm_options *s, char *err, size_t errlen)
{
    char exe[4096], *ini = realpath(o->ini, NULL);
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0 || !ini) {
        free(ini);
        return unic_errf(err, errlen, "cannot resolve the unic binary or %s: %s", o->ini,
                         strerror(errno));
    }
    exe[len] = '\0';
    FILE *f = fopen(path, "w");
    if (!f) {
        free(ini);
        return unic_errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    }
    write_header(f, g, sdir, n, s);
    fprintf(f, "set -euo pipefail\npoints=(");
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? " " : "", ids[i]->id);
    fprintf(f, ")\nexec ");
    put_quoted(f, exe);
    fprintf(f, " run ");
    put_quoted(f, ini);
    for (int i = 0; i < o->nsets; i++) {
        fprintf(f, " --set ");
        put_quoted(f, o->sets[i]);
    }
    fprintf(f, " --out ");
    put_quoted(f, dir);
    fprintf(f, " --grid-point \"${points[$SLURM_ARRAY_TASK_ID]}\" --threads "
               "\"${SLURM_CPUS_PER_TASK:-1}\" --quiet%s\n", o->retry_failed ? " --retry-failed" : "");
    free(ini);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return unic_errf(err, errlen, "%s: write failed", path);
    return 0;
}

/* Each submitted point remembers its array task, so a resubmission while
 * the array is queued does not hand it out twice. */
static void remember_job(const char *dir, const unic_grid_point **ids, int n, const char *job)
{
    for (int i = 0; i < n; i++) {
        char pd[2300], err[512];
        unic_point_dir(dir, ids[i]->id, pd, sizeof pd);
        int lock = unic_point_lock(pd, 0, err, sizeof err);
        if (lock < 0) continue; /* already started: it records its own job */
        unic_point_status st;
        if (unic_point_status_read(pd, &st, err, sizeof err) == 0 && st.state != UNIC_POINT_DONE) {
            snprintf(st.slurm_job, sizeof st.slurm_job, "%s_%d", job, i);
            unic_point_status_write(pd, &st, err, sizeof err);
        }
        unic_lock_release(lock);
    }
}

static int submit(const char *script, const char *dir, const unic_grid_point **ids, int n,
                  char *err, size_t errlen)
{
    char cmd[4600];
    snprintf(cmd, sizeof cmd, "sbatch --parsable '%s' 2>&1", script);
    int status;
    char *out = command_line(cmd, &status);
    if (!out || status != 0) {
        int rc = unic_errf(err, errlen, "sbatch %s failed: %s (the script is kept; submit it by "
                           "hand or fix the options)", script, out ? out : strerror(errno));
        free(out);
        return rc;
    }
    out[strcspn(out, ";")] = '\0'; /* --parsable prints JOBID[;CLUSTER] */
    printf("submitted %d grid points as Slurm job array %s (%s)\n", n, out, script);
    remember_job(dir, ids, n, out);
    free(out);
    return 0;
}

int unic_grid_submit(const unic_grid *g, const unic_grid_options *o, const unic_slurm_options *s,
                     char *err, size_t errlen)
{
    char dir_given[2048], *dir, sdir[2300], script[2400];
    unic_grid_dir(g, o->out, dir_given, sizeof dir_given);
    if (unic_grid_folder_prepare(dir_given, g, o->ini, o->sets, o->nsets, o->allow_changed, err,
                                 errlen) != 0)
        return -1;
    dir = realpath(dir_given, NULL); /* the array's tasks may start in another folder */
    if (!dir) return unic_errf(err, errlen, "%s: %s", dir_given, strerror(errno));
    snprintf(sdir, sizeof sdir, "%s/slurm", dir);
    const unic_grid_point **ids = unic_xcalloc((size_t)g->count, sizeof *ids);
    int skipped = 0, n = pending_points(g, dir, o->retry_failed, ids, &skipped), rc = 0;
    if (n == 0) {
        printf("nothing to submit: %d of %d points are done, failed (see --retry-failed) or "
               "queued\n", skipped, g->count);
    } else if ((rc = unic_mkdirs(sdir, err, errlen)) == 0) {
        int k = 1;
        do snprintf(script, sizeof script, "%s/submit-%d.sbatch", sdir, k++);
        while (access(script, F_OK) == 0);
        rc = write_script(script, g, o, dir, sdir, ids, n, s, err, errlen);
        if (rc == 0 && s->dry_run)
            printf("wrote %s: %d array tasks (not submitted: --dry-run)\n", script, n);
        else if (rc == 0)
            rc = submit(script, dir, ids, n, err, errlen);
    }
    free(ids);
    free(dir);
    return rc;
}
