/* `unic gradcheck PLUGIN.so...`: the generic checks (plugin/gradcheck.h) on
 * every head, loss and miner the files register, in tree or out of tree. */
#ifndef UNIC_CLI_GRADCHECK_H
#define UNIC_CLI_GRADCHECK_H

/* argv holds the files; returns the exit status: 0 when every check
 * passes, 1 when one fails, 2 when a file cannot be loaded. */
int unic_gradcheck_command(int argc, char **argv);

#endif
