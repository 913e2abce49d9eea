/* `unic report DIR`: a run's or a grid's page (see core/report/report.h).
 * argv starts after the command's name; returns the exit status. */
#ifndef UNIC_CLI_REPORT_H
#define UNIC_CLI_REPORT_H

int unic_report_command(int argc, char **argv);

#endif
