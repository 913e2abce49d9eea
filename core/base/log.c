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
    char eta[32];
    format_eta(eta, sizeof eta, rate > 0 ? (double)(p->total - p->done) / rate : -1);
    if (p->tty && !quiet) {
        fprintf(stderr, "\r%s: %lld/%lld (%.0f%%) %.1f items/s ETA %s   ", p->label,
                (long long)p->done, (long long)p->total,
                p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, rate, eta);
        if (final) fputc('\n', stderr);
        fflush(stderr);
    }
    if (log_file || !p->tty)
        unic_log(UNIC_LOG_DEBUG + (p->tty ? 0 : 1), "%s: %lld/%lld %.1f items/s ETA %s", p->label,
                 (long long)p->done, (long long)p->total, rate, final ? "done" : eta);
    p->last_print = now;
}

void unic_progress_start(unic_progress *p, const char *label, int64_t total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->start = p->last_print = unic_now();
    p->tty = isatty(STDERR_FILENO);
}

void unic_progress_update(unic_progress *p, int64_t done)
{
    p->done = done;
    double gap = p->tty ? 0.2 : 30.0; /* plain logs get a line every 30 s */
    if (unic_now() - p->last_print >= gap) progress_print(p, 0);
}

void unic_progress_end(unic_progress *p)
{
    p->done = p->total;
    progress_print(p, 1);
}
