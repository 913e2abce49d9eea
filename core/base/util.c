#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fault.h"

int unic_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

_Noreturn void unic_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "unic: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void *unic_xmalloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0) bytes = 1;
    if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63) != 0)
        unic_die("out of memory allocating %zu bytes", bytes);
    return p;
}

void *unic_xcalloc(size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes))
        unic_die("allocation of %zu x %zu bytes overflows size_t", count, size);
    void *p = unic_xmalloc(bytes);
    memset(p, 0, bytes);
    return p;
}

void unic_xfree(void *p) { free(p); }

char *unic_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = unic_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

int unic_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

double unic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int unic_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int *row = unic_xmalloc((lb + 1) * sizeof(int));
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int sub = diag + (a[i - 1] != b[j - 1]);
            int best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    int d = row[lb];
    free(row);
    return d;
}

/* The kind of file a write is, for the fault hook's point names:
 * checkpoint, cache (the mining cache), else the name up to its first '.'. */
static void write_kind(const char *path, char *kind, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "checkpoint.", 11) == 0)
        snprintf(kind, len, "checkpoint");
    else if (strncmp(base, "neighbors-", 10) == 0)
        snprintf(kind, len, "cache");
    else
        snprintf(kind, len, "%.*s", (int)strcspn(base, "."), base);
}

/* UNIC_FAULT=KIND-before-rename: the temp file is whole, the rename has not
 * happened, and the process dies as kill -9 would kill it. */
static void fault_before_rename(const char *kind)
{
    char point[96];
    snprintf(point, sizeof point, "%s-before-rename", kind);
    if (unic_fault(point)) raise(SIGKILL);
}

static int fault_enospc(const char *kind)
{
    char point[96];
    snprintf(point, sizeof point, "%s-enospc", kind);
    return unic_fault(point);
}

int unic_write_parts_atomic(const char *path, const unic_write_part *parts, int nparts, char *err,
                            size_t errlen)
{
    /* The temp file is this process's own, so two writers of one path (grid
     * points sharing a cache) never write into each other's bytes; the last
     * rename wins, whole. */
    size_t n = strlen(path) + 32;
    char *tmp = unic_xmalloc(n), kind[64];
    snprintf(tmp, n, "%s.%ld.tmp", path, (long)getpid());
    write_kind(path, kind, sizeof kind);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        unic_errf(err, errlen, "%s: cannot open for writing: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    int ok = 1;
    for (int i = 0; i < nparts && ok; i++)
        ok = parts[i].size == 0 || fwrite(parts[i].data, 1, parts[i].size, f) == parts[i].size;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    if (ok && fault_enospc(kind)) {
        ok = 0;
        saved = ENOSPC;
    }
    ok = (fclose(f) == 0) && ok;
    if (ok) fault_before_rename(kind);
    if (!ok || rename(tmp, path) != 0) {
        if (ok) saved = errno;
        unic_errf(err, errlen, "%s: write failed: %s (the file as it was before is kept)",
                  path, strerror(saved));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int unic_write_file_atomic(const char *path, const void *data, size_t size, char *err,
                           size_t errlen)
{
    unic_write_part part = {data, size};
    return unic_write_parts_atomic(path, &part, 1, err, errlen);
}

/* A NAME.PID.tmp whose process is gone was left by a crash between the
 * write and the rename: never trusted, only removed. A live writer's own
 * temp file (a grid point sharing the cache) is left alone. */
int unic_remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".tmp") != 0) continue;
        const char *dot = e->d_name + len - 5;
        while (dot > e->d_name && *dot >= '0' && *dot <= '9') dot--;
        long pid = *dot == '.' ? strtol(dot + 1, NULL, 10) : 0;
        if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        removed += unlink(path) == 0;
    }
    closedir(d);
    return removed;
}

int unic_mkdirs(const char *path, char *err, size_t errlen)
{
    char *p = unic_xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                unic_errf(err, errlen, "%s: cannot create folder: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    return 0;
}
