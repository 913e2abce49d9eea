/* Small helpers shared by the core: error text, checked allocation, clocks. */
#ifndef UNIC_UTIL_H
#define UNIC_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Functions that can fail return 0 on success and -1 after writing a
 * message into (err, errlen); this formats that message. */
int unic_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void *unic_xmalloc(size_t bytes);  /* 64-byte aligned; aborts with a message when out of memory */
void *unic_xcalloc(size_t count, size_t size);
void unic_xfree(void *p);
char *unic_xstrdup(const char *s);
/* 1 when s ends with suffix (file-name dispatch: ".npy", "-ubyte", ...). */
int unic_ends_with(const char *s, const char *suffix);
_Noreturn void unic_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

double unic_now(void); /* monotonic seconds */

/* Levenshtein distance, for "did you mean" suggestions. */
int unic_edit_distance(const char *a, const char *b);

/* Writes path atomically: data goes to path.PID.tmp, is flushed, then
 * renamed, so a crash never leaves a half-written file under the real name.
 * The fault hook (base/fault.h) can kill the process before the rename or
 * fail the write with ENOSPC. */
int unic_write_file_atomic(const char *path, const void *data, size_t size, char *err,
                           size_t errlen);
/* The same from several pieces, so a large array needs no second copy. */
typedef struct unic_write_part {
    const void *data;
    size_t size;
} unic_write_part;
int unic_write_parts_atomic(const char *path, const unic_write_part *parts, int nparts, char *err,
                            size_t errlen);
/* Removes dir's NAME.PID.tmp files whose process has ended (a crash
 * between writing and renaming); returns how many. */
int unic_remove_stale_temps(const char *dir);
int unic_mkdirs(const char *path, char *err, size_t errlen);

#endif
