/* A run folder read back for its report: config.resolved.ini, metrics.json,
 * history.csv, predictions.csv, log.txt, skipped.txt and the neighbour
 * analyses of `unic neighbors` (neighbors/). Whatever is missing or cannot
 * be read is a note naming the file and what the report leaves out, so a
 * partial run still gets a page of what it has. */
#ifndef UNIC_REPORT_RUN_FOLDER_H
#define UNIC_REPORT_RUN_FOLDER_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "eval/predictions.h"
#include "experiment/config.h"
#include "grid/view.h"

#define UNIC_REPORT_MAX_NOTES 32

typedef struct unic_run_folder {
    char *dir;
    char *name;         /* the experiment's name (metrics.json), else the folder's */
    char *config_text;  /* config.resolved.ini as written, or NULL */
    unic_config *cfg;   /* the same parsed, or NULL */
    cJSON *metrics;     /* metrics.json, or NULL */
    int gcd;            /* [data] old_classes set, or metrics.json's task says so */
    unsigned char is_old[UNIC_MAX_CLASSES];
    int has_scores;     /* metrics.json holds the final scores */
    double final[3], baseline[3];
    int has_baseline;
    char *baseline_method; /* "kmeans" / "ss-kmeans" */
    double seconds[3];     /* embedding, mining, training; NaN where unknown */
    int64_t samples;       /* training items (metrics.json), -1 unknown */
    int clusters;          /* K (metrics.json, else the predictions), 0 unknown */
    unic_history history;  /* rows = 0 without history.csv */
    unic_predictions pred; /* n = 0 without predictions.csv */
    char *log_tail;        /* the last lines of log.txt, or NULL */
    int64_t skipped;       /* lines of skipped.txt */
    char *skipped_head;    /* its first lines, or NULL */
    char *notes[UNIC_REPORT_MAX_NOTES];
    int nnotes;
} unic_run_folder;

/* -1 only when dir is not a folder or holds none of a run's files; any
 * single file missing or unreadable becomes a note. */
int unic_run_folder_load(const char *dir, unic_run_folder *f, char *err, size_t errlen);
void unic_run_folder_free(unic_run_folder *f);
void unic_run_folder_note(unic_run_folder *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A [data] setting of the resolved configuration, or "" when unknown. */
const char *unic_run_folder_data(const unic_run_folder *f, const char *key);
/* "acc", "nmi", "ari" or GCD's "all", "old", "new". */
const char *unic_run_folder_metric(const unic_run_folder *f, int i);

#endif
