/* Advisory locks on files (flock), for the run folder and the mining
 * cache's keys. The kernel releases a lock when its process ends, however
 * it ends (kill -9 included), so a lock is never stale. */
#ifndef UNIC_LOCK_H
#define UNIC_LOCK_H

#include <stddef.h>

/* Takes the exclusive lock on path (created if missing) and records this
 * process's pid in it; returns its descriptor, or -1 with a message. With
 * wait = 0 a lock held elsewhere is refused at once, naming `what` (e.g.
 * "run folder runs/x") and the holder's pid; with wait = 1 the call blocks
 * until it is free. A lock held elsewhere leaves errno EWOULDBLOCK. */
int unic_lock_take(const char *path, const char *what, int wait, char *err, size_t errlen);
/* Releases a lock from unic_lock_take (fd < 0: nothing). */
void unic_lock_release(int fd);

#endif
