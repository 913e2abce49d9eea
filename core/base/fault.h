/* Fault injection for the crash tests. UNIC_FAULT=POINT[@N] makes the Nth
 * time (the first by default) the process reaches POINT fire; the caller
 * then fails or dies the way a real fault would. Points:
 *   NAME-before-rename  killed (SIGKILL) between writing a file's temp copy
 *                       and renaming it; NAME is the file's kind:
 *                       checkpoint, cache (the mining cache), or the file's
 *                       name up to its first '.' (metrics, predictions, ...)
 *   NAME-enospc         that write fails with ENOSPC, as on a full disk
 *   readonly-run-folder the run folder's lock cannot be created (EROFS)
 * The variable is read here only. */
#ifndef UNIC_FAULT_H
#define UNIC_FAULT_H

int unic_fault(const char *point);

#endif
