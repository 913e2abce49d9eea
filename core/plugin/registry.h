/* The plugin registry: opens shared objects with dlopen, hands each the
 * api table, and keeps the components they register, by kind and name. */
#ifndef UNIC_REGISTRY_H
#define UNIC_REGISTRY_H

#include <stddef.h>

#include "unic/plugin.h"

typedef struct unic_registry unic_registry;

unic_registry *unic_registry_new(void);
void unic_registry_free(unic_registry *r);

/* One shared object. Errors name the file: not loadable, no entry point,
 * ABI mismatch, duplicate name (with the file that registered it first). */
int unic_registry_load_file(unic_registry *r, const char *path, char *err, size_t errlen);
/* Every *.so in a folder, in name order. */
int unic_registry_load_dir(unic_registry *r, const char *dir, char *err, size_t errlen);
/* The build's plugin folder, then each folder of $UNIC_PLUGIN_PATH (':'-separated). */
int unic_registry_load_default(unic_registry *r, char *err, size_t errlen);

/* NULL with a message naming the closest known names when there is none. */
const unic_component *unic_registry_find(const unic_registry *r, unic_kind kind, const char *name,
                                         char *err, size_t errlen);
int unic_registry_count(const unic_registry *r);
const unic_component *unic_registry_at(const unic_registry *r, int i);
const char *unic_registry_file(const unic_registry *r, int i);

const char *unic_kind_name(unic_kind kind);

/* Closest of `count` candidate names to `name`, formatted "'a', 'b'" into buf. */
void unic_suggest(const char *name, const char *const *candidates, int count, char *buf,
                  size_t buflen);

#endif
