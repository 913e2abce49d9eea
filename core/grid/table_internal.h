/* What table.c computes and table_format.c prints: the cells of a grid's
 * table. Internal to the two. */
#ifndef UNIC_GRID_TABLE_INTERNAL_H
#define UNIC_GRID_TABLE_INTERNAL_H

#include <stdio.h>

#include "grid/table.h"

typedef enum { CELL_OK, CELL_FAILED, CELL_MISSING } cell_status;

typedef struct cell {
    cell_status status;
    double mean, std;
    int n, total, best;
} cell;

typedef struct metric_ref {
    int baseline; /* 0: UNIC's score, 1: the k-means baseline's */
    int index;
    char header[64];
} metric_ref;

typedef struct table {
    const unic_grid_view *v;
    const unic_table_layout *t;
    int row_axis[UNIC_TABLE_MAX], col_axis[UNIC_TABLE_MAX], nrow_axes, ncol_axes;
    int *keep; /* points that pass `where` */
    int (*row_keys)[UNIC_TABLE_MAX], (*col_keys)[UNIC_TABLE_MAX];
    int nrow_keys, ncol_keys;
    metric_ref metrics[UNIC_TABLE_MAX];
    int nmetrics;
    cell *cells; /* [row][col][metric] */
} table;

const cell *unic_table_cell(const table *tb, int r, int c, int m);
void unic_table_render(const table *tb, FILE *out);

#endif
