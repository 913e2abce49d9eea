#include "base/textfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/limits.h"
#include "base/util.h"

int unic_read_text_file(const char *path, const char *what, uint64_t max_bytes, char **text,
                        char *err, size_t errlen)
{
    *text = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        unic_errf(err, errlen, "%s: cannot read the %s: %s", path, what, strerror(e));
        errno = e;
        return -1;
    }
    /* checked before opening: opening a FIFO would block */
    if (unic_check_input_file(path, what, max_bytes, err, errlen) != 0) {
        errno = EINVAL;
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        unic_errf(err, errlen, "%s: cannot read the %s: %s", path, what, strerror(e));
        errno = e;
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)(size > 0 ? size : 0) + 1);
    size_t got = size > 0 ? fread(buf, 1, (size_t)size, f) : 0;
    fclose(f);
    buf[got] = '\0';
    if ((long)got != size || strlen(buf) != got) {
        free(buf);
        errno = EINVAL;
        return unic_errf(err, errlen, "%s: the %s could not be read whole or holds a NUL byte",
                         path, what);
    }
    *text = buf;
    return 0;
}
