/* Shared by the files that build a run's page (run_report.c: the frame,
 * summary, curves, confusion matrix, neighbours, configuration;
 * clusters.c: Figure 12). */
#ifndef UNIC_REPORT_RUN_PAGE_H
#define UNIC_REPORT_RUN_PAGE_H

#include <stdint.h>

#include "eval/metrics.h"
#include "report/html.h"
#include "report/images.h"
#include "report/report.h"
#include "report/run_folder.h"

#define RUN_PAGE_MAX_SAMPLING 8

typedef struct run_page {
    unic_run_folder *f;
    unic_html *h;
    const unic_report_options *o;
    unic_report_items *items; /* NULL when the data cannot be re-opened */
    char items_err[2048];
    unic_class_names names;
    int nclasses;             /* 1 + the largest label, 0 without labels */
    int64_t *scored;          /* rows of predictions.csv that are scored (GCD: unlabeled) */
    int64_t nscored;
    unic_confusion conf;
    int has_conf;
    int *cluster_class;       /* per cluster id (0..clusters-1): matched class or -1 */
    char *sampling[RUN_PAGE_MAX_SAMPLING]; /* what the page left out, said in its footer */
    int nsampling;
} run_page;

void run_page_sampling(run_page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* GCD: "old" / "new" tag after a class name, nothing otherwise. */
void run_page_class_tag(run_page *p, int cls);
/* Figure 12: every cluster's card. */
void run_page_clusters(run_page *p);

#endif
