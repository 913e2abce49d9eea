/* `unic estimate-k EXPERIMENT.ini`: only the number-of-classes estimate. */
#ifndef UNIC_CLI_ESTIMATE_K_H
#define UNIC_CLI_ESTIMATE_K_H

/* argv holds the arguments after the command's name; returns the exit
 * status: 0 with the estimate printed, 1 when the estimate fails, 2 on bad
 * arguments or a bad experiment. */
int unic_estimate_k_command(int argc, char **argv);

#endif
