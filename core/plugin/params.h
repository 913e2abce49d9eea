/* Resolved parameter values of one INI section, checked against the
 * parameter tables of the core and of the section's component. */
#ifndef UNIC_PARAMS_H
#define UNIC_PARAMS_H

#include <stddef.h>

#include "unic/plugin.h"

struct unic_params {
    int count;
    const unic_param_spec **spec;
    char **values;
};

unic_params *unic_params_new(void);
void unic_params_free(unic_params *p);
/* Appends a table's keys with their defaults. */
void unic_params_add_table(unic_params *p, const unic_param_spec *table);
const unic_param_spec *unic_params_spec(const unic_params *p, const char *key);
/* Checks the value against the key's type; the message says what was expected. */
int unic_param_check(const unic_param_spec *s, const char *value, char *err, size_t errlen);
/* 0 when a table entry's bounds are well formed and its default lies
 * within them; the registry refuses a plugin otherwise. */
int unic_param_spec_valid(const unic_param_spec *s, char *err, size_t errlen);
int unic_params_set(unic_params *p, const char *key, const char *value, char *err, size_t errlen);
const char *unic_params_get(const unic_params *p, const char *key);
/* The key names, for "did you mean" suggestions. */
int unic_params_names(const unic_params *p, const char **names, int max);

long unic_param_int(const unic_params *p, const char *name);
double unic_param_float(const unic_params *p, const char *name);
int unic_param_bool(const unic_params *p, const char *name);
const char *unic_param_str(const unic_params *p, const char *name);

const char *unic_param_type_name(unic_param_type t);

#endif
