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

typedef struct unic_progress {
    const char *label;
    int64_t total, done;
    double start, last_print;
    int tty;
} unic_progress;

void unic_progress_start(unic_progress *p, const char *label, int64_t total);
void unic_progress_update(unic_progress *p, int64_t done);
void unic_progress_end(unic_progress *p);

#endif
