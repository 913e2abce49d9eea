#include "base/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/util.h"

/* The pid the holder wrote into the lock file, or 0 if unreadable. */
static long holder_pid(int fd)
{
    char buf[32] = "";
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    return got > 0 ? strtol(buf, NULL, 10) : 0;
}

int unic_lock_take(const char *path, const char *what, int wait, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        unic_errf(err, errlen, "%s: cannot lock the %s: %s", path, what, strerror(errno));
        return -1;
    }
    int rc;
    do rc = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int busy = errno == EWOULDBLOCK;
        long pid = busy ? holder_pid(fd) : 0;
        if (busy)
            unic_errf(err, errlen, "the %s is in use by another unic process (pid %ld), and two "
                      "processes never write into one: wait for it to end, or choose another",
                      what, pid);
        else
            unic_errf(err, errlen, "%s: cannot lock the %s: %s", path, what, strerror(errno));
        int e = errno;
        close(fd);
        errno = busy ? EWOULDBLOCK : e; /* callers tell "in use" from a failure */
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        unic_errf(err, errlen, "%s: cannot write the %s's lock: %s", path, what, strerror(errno));
        close(fd); /* releases the lock */
        return -1;
    }
    return fd;
}

void unic_lock_release(int fd)
{
    if (fd >= 0) close(fd); /* closing the only descriptor releases the flock */
}
