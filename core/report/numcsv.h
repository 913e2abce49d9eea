/* Small numeric CSV tables (the CSVs `unic neighbors` writes): a header of
 * names, then rows of numbers (an empty cell is NaN). */
#ifndef UNIC_REPORT_NUMCSV_H
#define UNIC_REPORT_NUMCSV_H

#include <stddef.h>

#define UNIC_NUMCSV_MAX_COLUMNS 64
#define UNIC_NUMCSV_MAX_ROWS 1000000

typedef struct unic_numcsv {
    char *names[UNIC_NUMCSV_MAX_COLUMNS];
    int ncols, rows;
    double *values; /* rows x ncols */
} unic_numcsv;

/* -1 with a message naming the file, line and column. */
int unic_numcsv_read(const char *path, unic_numcsv *t, char *err, size_t errlen);
void unic_numcsv_free(unic_numcsv *t);
int unic_numcsv_column(const unic_numcsv *t, const char *name); /* -1 when absent */

#endif
