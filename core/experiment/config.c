#include "experiment/config.h"

#include <ctype.h>
#include <errno.h>
#include <iniparser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/util.h"

typedef struct located {
    char *section, *key; /* key NULL for a section header */
    int line;
} located;

struct unic_config {
    char *path;
    dictionary *dict;
    located *lines;
    int nlines;
};

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

static void lower(char *s)
{
    for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

/* The latest entry wins, so an override (line -1) shadows the file's line. */
static int find_line(const unic_config *c, const char *section, const char *key)
{
    for (int i = c->nlines - 1; i >= 0; i--) {
        const located *l = &c->lines[i];
        if (strcmp(l->section, section) != 0) continue;
        if (key ? (l->key && strcmp(l->key, key) == 0) : !l->key) return l->line;
    }
    return 0;
}

static void remember(unic_config *c, const char *section, const char *key, int line)
{
    c->lines = realloc(c->lines, (size_t)(c->nlines + 1) * sizeof(located));
    c->lines[c->nlines].section = unic_xstrdup(section);
    c->lines[c->nlines].key = key ? unic_xstrdup(key) : NULL;
    c->lines[c->nlines].line = line;
    c->nlines++;
}

/* Our own pass over the text first: iniparser accepts some malformed lines
 * silently and keeps only the last of duplicated keys, and neither should
 * pass unnoticed in an experiment that a paper's numbers come from. */
static int scan(unic_config *c, FILE *f, char *err, size_t errlen)
{
    char buf[8192], section[1024] = "";
    int line = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (!strchr(buf, '\n') && !feof(f))
            return unic_errf(err, errlen, "%s:%d: line longer than %zu characters", c->path, line,
                             sizeof buf - 2);
        char *s = trim(buf);
        if (!*s || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || close[1] != '\0' || close == s + 1)
                return unic_errf(err, errlen, "%s:%d: malformed section header '%s': expected "
                                 "'[name]'", c->path, line, s);
            *close = '\0';
            snprintf(section, sizeof section, "%s", trim(s + 1));
            lower(section);
            if (find_line(c, section, NULL))
                return unic_errf(err, errlen, "%s:%d: section [%s] appears again (first at line "
                                 "%d); merge the two", c->path, line, section,
                                 find_line(c, section, NULL));
            remember(c, section, NULL, line);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq)
            return unic_errf(err, errlen, "%s:%d: expected 'key = value' or '[section]', got '%s'",
                             c->path, line, s);
        if (!*section)
            return unic_errf(err, errlen, "%s:%d: key outside any section: '%s'", c->path, line, s);
        *eq = '\0';
        char *key = trim(s);
        if (!*key)
            return unic_errf(err, errlen, "%s:%d: missing key before '='", c->path, line);
        lower(key);
        int first = find_line(c, section, key);
        if (first)
            return unic_errf(err, errlen, "%s:%d: [%s] %s is set again (first at line %d)",
                             c->path, line, section, key, first);
        remember(c, section, key, line);
    }
    return 0;
}

/* iniparser reports through a callback without user data, so its message
 * is held here for the one call that asked (per thread, freed right after). */
static _Thread_local char *captured;
static int capture_error(const char *fmt, ...)
{
    va_list ap;
    char buf[1024];
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!captured) captured = unic_xstrdup(trim(buf));
    return 0;
}

int unic_config_load(const char *path, unic_config **out, char *err, size_t errlen)
{
    if (unic_check_input_file(path, "experiment file", UNIC_MAX_TEXT_FILE_BYTES, err, errlen) != 0)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f) return unic_errf(err, errlen, "%s: cannot open experiment file: %s", path,
                             strerror(errno));
    unic_config *c = unic_xcalloc(1, sizeof *c);
    c->path = unic_xstrdup(path);
    int rc = scan(c, f, err, errlen);
    fclose(f);
    if (rc == 0) {
        free(captured);
        captured = NULL;
        iniparser_set_error_callback(capture_error);
        c->dict = iniparser_load(path);
        iniparser_set_error_callback(NULL);
        if (!c->dict) {
            rc = unic_errf(err, errlen, "%s: iniparser could not read it: %s", path,
                           captured ? captured : "unknown error");
        }
        free(captured);
        captured = NULL;
    }
    if (rc != 0) {
        unic_config_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int unic_config_load_with(const char *path, const char *const *sets, int nsets, unic_config **out,
                          char *err, size_t errlen)
{
    if (unic_config_load(path, out, err, errlen) != 0) return -1;
    for (int i = 0; i < nsets; i++)
        if (unic_config_override(*out, sets[i], err, errlen) != 0) {
            unic_config_free(*out);
            return -1;
        }
    return 0;
}

void unic_config_free(unic_config *c)
{
    if (!c) return;
    if (c->dict) iniparser_freedict(c->dict);
    for (int i = 0; i < c->nlines; i++) {
        free(c->lines[i].section);
        free(c->lines[i].key);
    }
    free(c->lines);
    free(c->path);
    free(c);
}

int unic_config_set(unic_config *c, const char *section, const char *key, const char *value)
{
    char full[2048];
    if (iniparser_find_entry(c->dict, section) == 0 && iniparser_set(c->dict, section, NULL) != 0)
        return -1;
    snprintf(full, sizeof full, "%s:%s", section, key);
    return iniparser_set(c->dict, full, value);
}

int unic_config_unset_section(unic_config *c, const char *section)
{
    const char *keys[256];
    int n = unic_config_keys(c, section, keys, 256);
    char **copy = unic_xmalloc((size_t)(n + 1) * sizeof(char *));
    for (int i = 0; i < n; i++) copy[i] = unic_xstrdup(keys[i]);
    for (int i = 0; i < n; i++) {
        char full[2048];
        snprintf(full, sizeof full, "%s:%s", section, copy[i]);
        iniparser_unset(c->dict, full);
        free(copy[i]);
    }
    free(copy);
    iniparser_unset(c->dict, section);
    return 0;
}

unic_config *unic_config_clone(const unic_config *c)
{
    unic_config *d = unic_xcalloc(1, sizeof *d);
    d->path = unic_xstrdup(c->path);
    d->dict = dictionary_new(0);
    for (int i = 0; i < c->dict->size; i++)
        if (c->dict->key[i]) dictionary_set(d->dict, c->dict->key[i], c->dict->val[i]);
    for (int i = 0; i < c->nlines; i++)
        remember(d, c->lines[i].section, c->lines[i].key, c->lines[i].line);
    return d;
}

int unic_config_set_like(unic_config *c, const char *section, const char *key, const char *value,
                         const char *from_section, const char *from_key)
{
    remember(c, section, key, find_line(c, from_section, from_key));
    return unic_config_set(c, section, key, value);
}

int unic_config_override(unic_config *c, const char *assignment, char *err, size_t errlen)
{
    const char *eq = strchr(assignment, '=');
    const char *dot = NULL;
    for (const char *p = assignment; eq && p < eq; p++)
        if (*p == '.') dot = p;
    if (!eq || !dot || dot == assignment || dot + 1 == eq)
        return unic_errf(err, errlen, "--set %s: expected section.key=value (e.g. "
                         "--set train.epochs=5 or --set loss.entropy.weight=3)", assignment);
    char section[1024], key[1024], value[4096];
    snprintf(section, sizeof section, "%.*s", (int)(dot - assignment), assignment);
    snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
    snprintf(value, sizeof value, "%s", eq + 1);
    char *s = trim(section), *k = trim(key);
    lower(s);
    lower(k);
    remember(c, s, k, -1);
    return unic_config_set(c, s, k, trim(value));
}

int unic_config_section_count(const unic_config *c) { return iniparser_getnsec(c->dict); }
const char *unic_config_section(const unic_config *c, int i) { return iniparser_getsecname(c->dict, i); }
int unic_config_has_section(const unic_config *c, const char *section)
{
    return iniparser_find_entry(c->dict, section) != 0;
}

int unic_config_keys(const unic_config *c, const char *section, const char **keys, int max)
{
    int n = iniparser_getsecnkeys(c->dict, section);
    if (n <= 0) return 0;
    const char **full = unic_xmalloc((size_t)n * sizeof(char *));
    iniparser_getseckeys(c->dict, section, full);
    size_t skip = strlen(section) + 1;
    int m = n < max ? n : max;
    for (int i = 0; i < m; i++) keys[i] = full[i] + skip;
    free(full);
    return m;
}

const char *unic_config_get(const unic_config *c, const char *section, const char *key)
{
    char full[2048];
    snprintf(full, sizeof full, "%s:%s", section, key);
    return iniparser_getstring(c->dict, full, NULL);
}

const char *unic_config_where(const unic_config *c, const char *section, const char *key,
                              char *buf, size_t buflen)
{
    int line = find_line(c, section, key);
    if (!line && key) line = find_line(c, section, NULL);
    if (line > 0)
        snprintf(buf, buflen, "%s:%d", c->path, line);
    else if (line < 0)
        snprintf(buf, buflen, "%s (--set %s.%s)", c->path, section, key ? key : "");
    else
        snprintf(buf, buflen, "%s", c->path);
    return buf;
}

const char *unic_config_path(const unic_config *c) { return c->path; }
