/* Logging to stderr and, once a run folder exists, to its log file; and
 * progress lines for long passes (live on a terminal, plain lines in logs). */
#ifndef UNIC_LOG_H
#define UNIC_LOG_H

#include <stdint.h>
#include <stdio.h>

#include "unic/plugin.h"

void unic_log(unic_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void unic_log_set_file(FILE *f); /* NULL stops copying to a file */
void unic_log_set_quiet(int quiet); /* only warnings and errors on stderr */

/* A long pass (embedding, mining, an epoch, k-means restarts): on a
 * terminal a live line on stderr with the count, the rate and the ETA,
 * redrawn at most every 0.2 s; in the log file (and on stderr when it is
 * not a terminal) a plain line every UNIC_PROGRESS_LOG_EVERY seconds and
 * one at the end. */
#define UNIC_PROGRESS_LOG_EVERY 10.0

typedef struct unic_progress {
    const char *label;
    const char *unit; /* what is counted, for the rate ("items" unless set) */
    int64_t total, done;
    double start, last_print, last_log;
    int tty;
} unic_progress;

void unic_progress_start(unic_progress *p, const char *label, int64_t total);
void unic_progress_update(unic_progress *p, int64_t done);
void unic_progress_end(unic_progress *p);

#endif
