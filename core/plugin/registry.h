/* The plugin registry: opens shared objects with dlopen, hands each the
 * api table, and keeps the components they register, by kind and name. */
#ifndef UNIC_REGISTRY_H
#define UNIC_REGISTRY_H

#include <stddef.h>

#include "unic/plugin.h"

typedef struct unic_registry unic_registry;

unic_registry *unic_registry_new(void);
void unic_registry_free(unic_registry *r);

/* What loading one file gave: a broken file (not loadable, no entry point,
 * ABI mismatch, incomplete component, loss without a default weight) can be
 * skipped; a conflict (a name already registered by another file) cannot. */
enum { UNIC_LOAD_OK = 0, UNIC_LOAD_BROKEN = -1, UNIC_LOAD_CONFLICT = -2 };

/* One shared object; returns one of the above. Errors name the file, and a
 * duplicate both files. Nothing of a refused file stays registered. */
int unic_registry_load_file(unic_registry *r, const char *path, char *err, size_t errlen);
/* Every *.so in a folder, in name order. Broken files are skipped with a
 * warning naming them and kept for unic_registry_find's message; -1 only
 * for an unreadable folder or a conflict. */
int unic_registry_load_dir(unic_registry *r, const char *dir, char *err, size_t errlen);
/* The built-in plugin folder, then each folder of $UNIC_PLUGIN_PATH (':'-separated). */
int unic_registry_load_default(unic_registry *r, char *err, size_t errlen);
/* The built-in plugin folder: $UNIC_BUILTIN_PLUGIN_DIR if set (empty: none),
 * else the installed folder beside the executable (<exe dir>/../lib/unic/plugins)
 * if there is one, else the build tree's (UNIC_PLUGIN_DIR). */
const char *unic_builtin_plugin_dir(void);

/* Files skipped by folder loads, with why (the reason without the path). */
int unic_registry_failure_count(const unic_registry *r);
const char *unic_registry_failure_file(const unic_registry *r, int i);
const char *unic_registry_failure_reason(const unic_registry *r, int i);

/* The ABI rule: same major, and a minor no newer than the core's. */
typedef enum {
    UNIC_ABI_OK = 0,
    UNIC_ABI_MISSING,     /* no version set (major 0) or a negative one */
    UNIC_ABI_OTHER_MAJOR, /* the structs are laid out differently */
    UNIC_ABI_NEWER_MINOR  /* it may use api entries this core lacks */
} unic_abi_verdict;
unic_abi_verdict unic_abi_compatible(int core_major, int core_minor, int plugin_major,
                                     int plugin_minor);
/* 0 if a core of core_major.core_minor loads component c of `file`, else -1
 * with a message naming the file, the component, both versions and what to do.
 * The registry calls it with UNIC_ABI_MAJOR and UNIC_ABI_MINOR. */
int unic_abi_check(int core_major, int core_minor, const unic_component *c, const char *file,
                   char *err, size_t errlen);

/* NULL with a message naming the closest known names when there is none,
 * and every file a folder load skipped (the component may be in one). */
const unic_component *unic_registry_find(const unic_registry *r, unic_kind kind, const char *name,
                                         char *err, size_t errlen);
int unic_registry_count(const unic_registry *r);
const unic_component *unic_registry_at(const unic_registry *r, int i);
const char *unic_registry_file(const unic_registry *r, int i);

const char *unic_kind_name(unic_kind kind);

/* Fields a component declares from ABI 6.1 on, read only from components
 * built for 6.1 or later (older ones stop before them): a head's output
 * width after setup (num_classes when it has no output_width), and whether
 * a loss reads its head's outputs as they are rather than their softmax. */
int unic_head_output_width(const unic_component *c, void *state, int num_classes);
int unic_loss_takes_outputs(const unic_component *c);

/* Closest of `count` candidate names to `name`, formatted "'a', 'b'" into buf. */
void unic_suggest(const char *name, const char *const *candidates, int count, char *buf,
                  size_t buflen);

#endif
