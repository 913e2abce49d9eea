#include "eval/predictions.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/util.h"

#define MAX_COLUMNS 64
/* An item index from the `index` column: far more items than any data set
 * holds, and small enough for every int64 sum over it. */
#define MAX_ITEM_INDEX ((int64_t)1 << 40)

static int column(char **cols, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cols[i], name) == 0) return i;
    return -1;
}

static int split_csv(char *line, char **cols, int max)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *s = line; n < max;) {
        cols[n++] = s;
        char *comma = strchr(s, ',');
        if (!comma) break;
        *comma = '\0';
        s = comma + 1;
    }
    return n;
}

/* A class or cluster id: an integer in [0, UNIC_MAX_CLASSES); a flag is 0 or more. */
static int parse_field(const char *path, int line, const char *name, const char *text, int is_id,
                       int32_t *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    long bound = is_id ? UNIC_MAX_CLASSES : INT32_MAX;
    if (!*text || *end || errno || v < 0 || v >= bound)
        return unic_errf(err, errlen, "%s:%d: column '%s' should be an integer in [0, %ld), got "
                         "'%.40s'", path, line, name, bound, text);
    *out = (int32_t)v;
    return 0;
}

/* An item index: an integer in [0, MAX_ITEM_INDEX]. */
static int parse_index(const char *path, int line, const char *text, int64_t *out, char *err,
                       size_t errlen)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || errno || v < 0 || v > MAX_ITEM_INDEX)
        return unic_errf(err, errlen, "%s:%d: column 'index' should be an integer in [0, %lld], "
                         "got '%.40s'", path, line, (long long)MAX_ITEM_INDEX, text);
    *out = (int64_t)v;
    return 0;
}

/* A probability: a number in [0, 1]. */
static int parse_confidence(const char *path, int line, const char *text, float *out, char *err,
                            size_t errlen)
{
    char *end;
    double v = strtod(text, &end);
    if (!*text || *end || !(v >= 0 && v <= 1))
        return unic_errf(err, errlen, "%s:%d: column 'confidence' should be a number in [0, 1], "
                         "got '%.40s'", path, line, text);
    *out = (float)v;
    return 0;
}

typedef struct columns {
    int count, prediction, label, labeled, index, confidence;
} columns;

static int read_header(FILE *f, const char *path, char *line, size_t cap, columns *c, char *err,
                       size_t errlen)
{
    char *cols[MAX_COLUMNS];
    if (!fgets(line, (int)cap, f))
        return unic_errf(err, errlen, "%s: empty file, expected a header line", path);
    c->count = split_csv(line, cols, MAX_COLUMNS);
    c->prediction = column(cols, c->count, "prediction");
    c->label = column(cols, c->count, "label");
    c->labeled = column(cols, c->count, "labeled");
    c->index = column(cols, c->count, "index");
    c->confidence = column(cols, c->count, "confidence");
    if (c->prediction < 0)
        return unic_errf(err, errlen, "%s:1: no 'prediction' column in the header", path);
    return 0;
}

static void grow(unic_predictions *p, int64_t *cap)
{
    if (p->n < *cap) return;
    *cap = *cap ? 2 * *cap : 1024;
    p->prediction = realloc(p->prediction, sizeof(int32_t) * (size_t)*cap);
    p->label = p->label ? realloc(p->label, sizeof(int32_t) * (size_t)*cap) : NULL;
    p->labeled = realloc(p->labeled, (size_t)*cap);
    p->index = p->index ? realloc(p->index, sizeof(int64_t) * (size_t)*cap) : NULL;
    p->confidence = p->confidence ? realloc(p->confidence, sizeof(float) * (size_t)*cap) : NULL;
    if (!p->prediction || !p->labeled) unic_die("out of memory reading predictions");
}

static int read_row(char *line, const char *path, int lineno, const columns *c,
                    unic_predictions *p, char *err, size_t errlen)
{
    char *cols[MAX_COLUMNS];
    int m = split_csv(line, cols, MAX_COLUMNS);
    if (m != c->count)
        return unic_errf(err, errlen, "%s:%d: %d columns, the header has %d", path, lineno, m,
                         c->count);
    int32_t flag = 0;
    if (parse_field(path, lineno, "prediction", cols[c->prediction], 1, &p->prediction[p->n],
                    err, errlen) != 0 ||
        (c->label >= 0 &&
         parse_field(path, lineno, "label", cols[c->label], 1, &p->label[p->n], err, errlen)) ||
        (c->labeled >= 0 &&
         parse_field(path, lineno, "labeled", cols[c->labeled], 0, &flag, err, errlen)) ||
        (c->index >= 0 &&
         parse_index(path, lineno, cols[c->index], &p->index[p->n], err, errlen)) ||
        (c->confidence >= 0 && parse_confidence(path, lineno, cols[c->confidence],
                                                &p->confidence[p->n], err, errlen)))
        return -1;
    p->labeled[p->n++] = flag != 0;
    return 0;
}

int unic_predictions_read(const char *path, unic_predictions *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (unic_check_input_file(path, "predictions file", UNIC_MAX_TEXT_FILE_BYTES, err, errlen) != 0)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f) return unic_errf(err, errlen, "%s: %s", path, strerror(errno));
    char line[8192];
    columns c = {0, -1, -1, -1, -1, -1};
    int rc = read_header(f, path, line, sizeof line, &c, err, errlen);
    int64_t cap = 0;
    /* grown with the rest */
    if (rc == 0 && c.label >= 0) out->label = malloc(sizeof(int32_t));
    if (rc == 0 && c.index >= 0) out->index = malloc(sizeof(int64_t));
    if (rc == 0 && c.confidence >= 0) out->confidence = malloc(sizeof(float));
    for (int lineno = 2; rc == 0 && fgets(line, sizeof line, f); lineno++) {
        if (line[0] == '\n' || line[0] == '\r' || line[0] == '\0') continue;
        grow(out, &cap);
        rc = read_row(line, path, lineno, &c, out, err, errlen);
    }
    fclose(f);
    if (rc == 0 && out->n == 0) rc = unic_errf(err, errlen, "%s: no rows after the header", path);
    if (rc != 0) unic_predictions_free(out);
    return rc;
}

void unic_predictions_free(unic_predictions *p)
{
    free(p->prediction);
    free(p->label);
    free(p->labeled);
    free(p->index);
    free(p->confidence);
    memset(p, 0, sizeof *p);
}
