/* The commands that work on a grid's folder: `unic grid status DIR`,
 * `unic grid submit EXP.ini --slurm`, `unic table DIR`, `unic plot DIR`.
 * argv starts after the command's name; each returns the exit status
 * (0 fine, 1 the grid has failed or missing points where that matters,
 * 2 bad input). */
#ifndef UNIC_CLI_GRID_COMMANDS_H
#define UNIC_CLI_GRID_COMMANDS_H

int unic_grid_command(int argc, char **argv);
int unic_table_command(int argc, char **argv);
int unic_plot_command(int argc, char **argv);

#endif
