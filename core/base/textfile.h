/* Whole small text files (JSON, CSV, state) read with the checks every
 * reader of outside data needs: a regular file, a size bound, no NULs. */
#ifndef UNIC_TEXTFILE_H
#define UNIC_TEXTFILE_H

#include <stddef.h>
#include <stdint.h>

/* *text is malloc'ed and NUL-terminated. A missing file sets errno ENOENT
 * (callers that treat absence as a state test it); `what` names the file's
 * role in messages. */
int unic_read_text_file(const char *path, const char *what, uint64_t max_bytes, char **text,
                        char *err, size_t errlen);

#endif
