/* DIR/grid.csv (one row per point: its axis values, state and scores) and
 * DIR/failed.txt (each failed point with its error), rebuilt whole from
 * the point folders every time, so they can never hold a point twice. */
#ifndef UNIC_GRID_SUMMARY_H
#define UNIC_GRID_SUMMARY_H

#include <stddef.h>

#include "grid/view.h"

typedef struct unic_grid_counts {
    int done, failed, running, pending;
} unic_grid_counts;

unic_grid_counts unic_grid_count(const unic_grid_view *v);
int unic_grid_write_summary(const unic_grid_view *v, char *err, size_t errlen);
/* Reads the folder dir and rewrites its summary; line (if not NULL) gets
 * the count line. 0 when every point is done, 1 when some are not, -1
 * with a message. */
int unic_grid_refresh_summary(const char *dir, char *line, size_t len, char *err, size_t errlen);
/* "12 done, 1 failed: see DIR/failed.txt" (and running / pending counts). */
void unic_grid_counts_line(const unic_grid_view *v, char *line, size_t len);

#endif
