/* An experiment file as read by iniparser, with the line of every key kept
 * for messages and `--set section.key=value` overrides applied on top. */
#ifndef UNIC_CONFIG_H
#define UNIC_CONFIG_H

#include <stddef.h>

typedef struct unic_config unic_config;

/* A malformed line (not blank, comment, [section] or key = value), a key
 * given twice in a section, or an unreadable file is an error with its line. */
int unic_config_load(const char *path, unic_config **out, char *err, size_t errlen);
void unic_config_free(unic_config *c);
/* Loads and applies `--set` assignments in order, as every command does. */
int unic_config_load_with(const char *path, const char *const *sets, int nsets, unic_config **out,
                          char *err, size_t errlen);

/* "section.key=value"; the key is what follows the last dot. */
int unic_config_override(unic_config *c, const char *assignment, char *err, size_t errlen);
int unic_config_set(unic_config *c, const char *section, const char *key, const char *value);
int unic_config_unset_section(unic_config *c, const char *section);
/* A copy with the same keys, lines and path (a chain's stages start from it). */
unic_config *unic_config_clone(const unic_config *c);
/* Sets section.key to value and records it as written where from_section's
 * from_key is (a stage's override is reported at its own line). */
int unic_config_set_like(unic_config *c, const char *section, const char *key, const char *value,
                         const char *from_section, const char *from_key);

int unic_config_section_count(const unic_config *c);
const char *unic_config_section(const unic_config *c, int i);
int unic_config_has_section(const unic_config *c, const char *section);
/* Keys of a section (without the "section:" prefix), in file order. */
int unic_config_keys(const unic_config *c, const char *section, const char **keys, int max);
const char *unic_config_get(const unic_config *c, const char *section, const char *key);
/* "file:line" of a key (or of the section header when key is NULL), or
 * "--set" for an override, into buf. */
const char *unic_config_where(const unic_config *c, const char *section, const char *key,
                              char *buf, size_t buflen);
const char *unic_config_path(const unic_config *c);

#endif
