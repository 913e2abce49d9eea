#include "plugin/params.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

unic_params *unic_params_new(void) { return unic_xcalloc(1, sizeof(unic_params)); }

void unic_params_free(unic_params *p)
{
    if (!p) return;
    for (int i = 0; i < p->count; i++) free(p->values[i]);
    free(p->values);
    free(p->spec);
    free(p);
}

void unic_params_add_table(unic_params *p, const unic_param_spec *table)
{
    for (const unic_param_spec *s = table; s && s->name; s++) {
        if (unic_params_spec(p, s->name)) continue; /* the first table to name a key wins */
        p->spec = realloc(p->spec, (size_t)(p->count + 1) * sizeof *p->spec);
        p->values = realloc(p->values, (size_t)(p->count + 1) * sizeof *p->values);
        p->spec[p->count] = s;
        p->values[p->count] = unic_xstrdup(s->def ? s->def : "");
        p->count++;
    }
}

static int find(const unic_params *p, const char *key)
{
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->spec[i]->name, key) == 0) return i;
    return -1;
}

const unic_param_spec *unic_params_spec(const unic_params *p, const char *key)
{
    int i = find(p, key);
    return i < 0 ? NULL : p->spec[i];
}

const char *unic_param_type_name(unic_param_type t)
{
    switch (t) {
    case UNIC_INT: return "an integer";
    case UNIC_FLOAT: return "a number";
    case UNIC_BOOL: return "true or false";
    case UNIC_STRING: return "a string";
    case UNIC_CHOICE: return "one of";
    }
    return "?";
}

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

static int in_choices(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *c = choices; c && *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && strncmp(c, v, n) == 0) return 1;
        c = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* Splits "min..max" (either side may be empty) into its two ends; "" when
 * a side is open. 0 when the text has that form. */
static int split_range(const char *range, char *lo, char *hi, size_t len)
{
    const char *dots = strstr(range, "..");
    if (!dots || (size_t)(dots - range) >= len || strlen(dots + 2) >= len) return -1;
    memcpy(lo, range, (size_t)(dots - range));
    lo[dots - range] = 0;
    strcpy(hi, dots + 2);
    return 0;
}

/* 0 when value lies within the spec's bounds (or it has none). The
 * registry refuses a plugin whose bounds are malformed
 * (unic_param_spec_valid), so one here is a bug in the core's tables. */
static int check_range(const unic_param_spec *s, double value, const char *v, char *err,
                       size_t errlen)
{
    if (!s->choices || !*s->choices) return 0;
    char lo[64], hi[64];
    if (split_range(s->choices, lo, hi, sizeof lo) != 0)
        unic_die("internal: parameter '%s' has bounds '%s'; expected min..max", s->name,
                 s->choices);
    int below = *lo && value < strtod(lo, NULL), above = *hi && value > strtod(hi, NULL);
    if (!below && !above) return 0;
    if (*lo && *hi) return unic_errf(err, errlen, "must be between %s and %s, got %s", lo, hi, v);
    if (*lo) return unic_errf(err, errlen, "must be at least %s, got %s", lo, v);
    return unic_errf(err, errlen, "must be at most %s, got %s", hi, v);
}

/* A number that fills the whole text (an empty bound is open, not this). */
static int is_number(const char *t)
{
    char *end;
    errno = 0;
    double d = strtod(t, &end);
    return *t && !*end && !errno && isfinite(d);
}

int unic_param_spec_valid(const unic_param_spec *s, char *err, size_t errlen)
{
    if ((s->type != UNIC_INT && s->type != UNIC_FLOAT) || !s->choices || !*s->choices) return 0;
    char lo[64], hi[64], msg[256];
    if (split_range(s->choices, lo, hi, sizeof lo) != 0 || (*lo && !is_number(lo)) ||
        (*hi && !is_number(hi)) || (*lo && *hi && strtod(lo, NULL) > strtod(hi, NULL)))
        return unic_errf(err, errlen, "parameter '%s' has bounds '%s'; expected min..max, min.. "
                         "or ..max with min <= max", s->name, s->choices);
    if (unic_param_check(s, s->def ? s->def : "", msg, sizeof msg) != 0)
        return unic_errf(err, errlen, "parameter '%s': its default %s", s->name, msg);
    return 0;
}

int unic_param_check(const unic_param_spec *s, const char *v, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    switch (s->type) {
    case UNIC_INT: {
        /* Every long a bound can name (|x| <= 2^53 in practice) is exact as a double. */
        long i = strtol(v, &end, 10);
        if (!*v || *end || errno) break;
        return check_range(s, (double)i, v, err, errlen);
    }
    case UNIC_FLOAT: {
        double d = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(d)) break;
        return check_range(s, d, v, err, errlen);
    }
    case UNIC_BOOL: {
        int b;
        if (parse_bool(v, &b) == 0) return 0;
        break;
    }
    case UNIC_STRING: return 0;
    case UNIC_CHOICE:
        if (in_choices(s->choices, v)) return 0;
        return unic_errf(err, errlen, "expected one of %s, got '%s'", s->choices, v);
    }
    return unic_errf(err, errlen, "expected %s, got '%s'", unic_param_type_name(s->type), v);
}

int unic_params_set(unic_params *p, const char *key, const char *value, char *err, size_t errlen)
{
    int i = find(p, key);
    if (i < 0) return unic_errf(err, errlen, "unknown key '%s'", key);
    if (unic_param_check(p->spec[i], value, err, errlen) != 0) return -1;
    free(p->values[i]);
    p->values[i] = unic_xstrdup(value);
    return 0;
}

const char *unic_params_get(const unic_params *p, const char *key)
{
    int i = find(p, key);
    return i < 0 ? NULL : p->values[i];
}

int unic_params_names(const unic_params *p, const char **names, int max)
{
    int n = p->count < max ? p->count : max;
    for (int i = 0; i < n; i++) names[i] = p->spec[i]->name;
    return n;
}

/* A plugin asking for a key it did not declare is a bug in the plugin. */
static const char *must_get(const unic_params *p, const char *name)
{
    const char *v = unic_params_get(p, name);
    if (!v) unic_die("internal: parameter '%s' was read but never declared", name);
    return v;
}

long unic_param_int(const unic_params *p, const char *name) { return strtol(must_get(p, name), NULL, 10); }
double unic_param_float(const unic_params *p, const char *name) { return strtod(must_get(p, name), NULL); }
int unic_param_bool(const unic_params *p, const char *name)
{
    int b = 0;
    parse_bool(must_get(p, name), &b);
    return b;
}
const char *unic_param_str(const unic_params *p, const char *name) { return must_get(p, name); }
