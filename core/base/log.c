#include "base/log.h"

#include <stdarg.h>
#include <unistd.h>

#include "base/util.h"

static FILE *log_file;
static int quiet;

void unic_log_set_file(FILE *f) { log_file = f; }
void unic_log_set_quiet(int q) { quiet = q; }

void unic_log(unic_log_level level, const char *fmt, ...)
{
    static const char *tags[] = {"debug", "info", "warning", "error"};
    va_list ap;
    if (level >= UNIC_LOG_INFO && (!quiet || level >= UNIC_LOG_WARN)) {
        va_start(ap, fmt);
        if (level >= UNIC_LOG_WARN) fprintf(stderr, "%s: ", tags[level]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    if (log_file) {
        va_start(ap, fmt);
        fprintf(log_file, "[%s] ", tags[level]);
        vfprintf(log_file, fmt, ap);
        fputc('\n', log_file);
        fflush(log_file);
        va_end(ap);
    }
}

static void format_eta(char *buf, size_t n, double seconds)
{
    if (seconds < 0 || seconds > 1e7) {
        snprintf(buf, n, "?");
        return;
    }
    int s = (int)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", s / 3600, s / 60 % 60);
    else
        snprintf(buf, n, "%dm%02ds", s / 60, s % 60);
}

static void progress_print(unic_progress *p, int final)
{
    double now = unic_now(), elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    const char *unit = p->unit ? p->unit : "items";
    char eta[32], took[32], speed[32];
    snprintf(speed, sizeof speed, rate >= 100 ? "%.0f" : "%.1f", rate);
    format_eta(eta, sizeof eta, rate > 0 ? (double)(p->total - p->done) / rate : -1);
    format_eta(took, sizeof took, elapsed);
    if (p->tty && !quiet && (final || now - p->last_print >= 0.2)) {
        fprintf(stderr, "\r%s: %lld/%lld (%.0f%%) %s %s/s, %s %s%s%s   ", p->label,
                (long long)p->done, (long long)p->total,
                p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, speed, unit,
                final ? "took" : "elapsed", took, final ? "" : ", ETA ", final ? "" : eta);
        if (final) fputc('\n', stderr);
        fflush(stderr);
        p->last_print = now;
    }
    if (!final && now - p->last_log < UNIC_PROGRESS_LOG_EVERY) return;
    p->last_log = now;
    if (!p->tty) { /* stderr is a log too: the same plain line there */
        unic_log(UNIC_LOG_INFO, "%s: %lld/%lld %s %s/s %s %s", p->label, (long long)p->done,
                 (long long)p->total, speed, unit, final ? "took" : "ETA", final ? took : eta);
    } else if (log_file) {
        fprintf(log_file, "[info] %s: %lld/%lld %s %s/s %s %s\n", p->label, (long long)p->done,
                (long long)p->total, speed, unit, final ? "took" : "ETA", final ? took : eta);
        fflush(log_file);
    }
}

void unic_progress_start(unic_progress *p, const char *label, int64_t total)
{
    p->label = label;
    p->unit = NULL;
    p->total = total;
    p->done = 0;
    p->start = p->last_print = p->last_log = unic_now();
    p->tty = isatty(STDERR_FILENO);
}

void unic_progress_update(unic_progress *p, int64_t done)
{
    p->done = done;
    progress_print(p, 0);
}

void unic_progress_end(unic_progress *p)
{
    p->done = p->total;
    progress_print(p, 1);
}
