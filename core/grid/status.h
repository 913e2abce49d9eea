/* `unic grid status DIR`: each point's state, epoch reached, elapsed time
 * and latest scores, read from the folder (so it works while the grid
 * runs, here or on a cluster). */
#ifndef UNIC_GRID_STATUS_H
#define UNIC_GRID_STATUS_H

#include <stdio.h>

#include "grid/view.h"

void unic_grid_status_print(const unic_grid_view *v, FILE *out);

#endif
