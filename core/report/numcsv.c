#include "report/numcsv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/textfile.h"
#include "base/util.h"

static char *next_line(char **cursor)
{
    char *s = *cursor;
    if (!*s) return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = s + strlen(s);
    }
    size_t n = strlen(s);
    if (n && s[n - 1] == '\r') s[n - 1] = '\0';
    return s;
}

static int parse(char *text, const char *path, unic_numcsv *t, char *err, size_t errlen)
{
    char *cur = text, *line = next_line(&cur);
    if (!line || !*line) return unic_errf(err, errlen, "%s: empty, expected a header line", path);
    for (char *c = line;;) {
        if (t->ncols == UNIC_NUMCSV_MAX_COLUMNS)
            return unic_errf(err, errlen, "%s:1: more than %d columns", path,
                             UNIC_NUMCSV_MAX_COLUMNS);
        size_t len = strcspn(c, ",");
        t->names[t->ncols] = unic_xmalloc(len + 1);
        memcpy(t->names[t->ncols], c, len);
        t->names[t->ncols++][len] = '\0';
        if (!c[len]) break;
        c += len + 1;
    }
    int lines = 0;
    for (const char *p = cur; *p; p++) lines += *p == '\n';
    if (lines + 1 > UNIC_NUMCSV_MAX_ROWS)
        return unic_errf(err, errlen, "%s: more than %d rows", path, UNIC_NUMCSV_MAX_ROWS);
    t->values = unic_xmalloc(sizeof(double) * (size_t)(lines + 1) * (size_t)t->ncols);
    for (int lineno = 2; (line = next_line(&cur)); lineno++) {
        if (!*line) continue;
        double *row = t->values + (size_t)t->rows * (size_t)t->ncols;
        const char *c = line;
        for (int j = 0; j < t->ncols; j++) {
            char *end = (char *)c;
            row[j] = (*c == ',' || *c == '\0') ? NAN : strtod(c, &end);
            if (end == c && *c != ',' && *c != '\0')
                return unic_errf(err, errlen, "%s:%d: column '%s' is not a number", path, lineno,
                                 t->names[j]);
            c = end;
            if (j + 1 < t->ncols && *c++ != ',')
                return unic_errf(err, errlen, "%s:%d: expected %d columns", path, lineno, t->ncols);
        }
        if (*c)
            return unic_errf(err, errlen, "%s:%d: expected %d columns", path, lineno, t->ncols);
        t->rows++;
    }
    return 0;
}

int unic_numcsv_read(const char *path, unic_numcsv *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    char *text;
    if (unic_read_text_file(path, "table", UNIC_MAX_TEXT_FILE_BYTES, &text, err, errlen) != 0)
        return -1;
    int rc = parse(text, path, t, err, errlen);
    free(text);
    if (rc != 0) unic_numcsv_free(t);
    return rc;
}

void unic_numcsv_free(unic_numcsv *t)
{
    for (int j = 0; j < t->ncols; j++) unic_xfree(t->names[j]);
    unic_xfree(t->values);
    memset(t, 0, sizeof *t);
}

int unic_numcsv_column(const unic_numcsv *t, const char *name)
{
    for (int j = 0; j < t->ncols; j++)
        if (strcmp(t->names[j], name) == 0) return j;
    return -1;
}
