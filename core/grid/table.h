/* `unic table DIR`: a grid's ablation as a paper prints it. Rows are the
 * values of the row axes, columns the metrics (for each value of the
 * column axes, if any); each cell is the mean ± std over the seeds with
 * their count, the best per column marked, and a cell with a failed or
 * unfinished point says so instead of a number. The layout comes from the
 * experiment's [table] section, and flags override it. */
#ifndef UNIC_GRID_TABLE_H
#define UNIC_GRID_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "experiment/config.h"
#include "grid/view.h"

#define UNIC_TABLE_MAX 16

typedef enum { UNIC_TABLE_MD, UNIC_TABLE_CSV, UNIC_TABLE_LATEX, UNIC_TABLE_JSON } unic_table_format;

typedef struct unic_table_layout {
    char *rows[UNIC_TABLE_MAX], *cols[UNIC_TABLE_MAX], *metrics[UNIC_TABLE_MAX];
    char *checkmarks[UNIC_TABLE_MAX], *names[UNIC_TABLE_MAX];
    char *where[UNIC_TABLE_MAX]; /* key=value */
    int nrows, ncols, nmetrics, nchecks, nnames, nwhere;
    int rows_set, cols_set, metrics_set;
    double scale; /* 100: percentages, as the paper prints them */
    int digits;
    char *title;
    unic_table_format format;
} unic_table_layout;

void unic_table_layout_init(unic_table_layout *t);
void unic_table_layout_free(unic_table_layout *t);
/* The [table] section of an experiment (cfg), every key checked. */
int unic_table_layout_read(const unic_config *cfg, unic_table_layout *t, char *err, size_t errlen);
/* One setting by name, from [table] or a flag (source names it in errors). */
int unic_table_layout_set(unic_table_layout *t, const char *key, const char *value,
                          const char *source, char *err, size_t errlen);
/* Checks the layout's axes against the grid's axis keys (for `unic check`
 * and before printing). */
int unic_table_layout_check(const unic_table_layout *t, const unic_grid_axis *axes, int naxes,
                            const char *source, char *err, size_t errlen);
int unic_table_print(const unic_grid_view *v, const unic_table_layout *t, FILE *out, char *err,
                     size_t errlen);

#endif
