#include "plugin/registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/api.h"
#include "base/util.h"

typedef struct entry {
    const unic_component *component;
    char *file;
} entry;

struct unic_registrar {
    unic_registry *registry;
    const char *file;
    char *err;
    size_t errlen;
    int failed;
};

struct unic_registry {
    entry *entries;
    int count, cap;
    void **handles;
    int nhandles;
};

static const char *kind_names[UNIC_KIND_COUNT] = {"backbone", "head", "loss", "miner"};

const char *unic_kind_name(unic_kind kind)
{
    return kind >= 0 && kind < UNIC_KIND_COUNT ? kind_names[kind] : "unknown";
}

unic_registry *unic_registry_new(void) { return unic_xcalloc(1, sizeof(unic_registry)); }

void unic_registry_free(unic_registry *r)
{
    if (!r) return;
    for (int i = 0; i < r->count; i++) free(r->entries[i].file);
    free(r->entries);
    /* Handles stay open: components may still be referenced by static data
     * in the process (atexit handlers, OpenMP pools inside plugins). */
    free(r->handles);
    free(r);
}

static int has_ops(const unic_component *c)
{
    switch (c->kind) {
    case UNIC_KIND_BACKBONE: return c->backbone != NULL;
    case UNIC_KIND_HEAD: return c->head != NULL;
    case UNIC_KIND_LOSS: return c->loss != NULL;
    case UNIC_KIND_MINER: return c->miner != NULL;
    default: return 0;
    }
}

/* api->register_component: the only way components enter the registry. */
int unic_registrar_add(unic_registrar *g, const unic_component *c)
{
    unic_registry *r = g->registry;
    if (g->failed) return -1;
    if (!c || c->abi_version != UNIC_ABI_VERSION) {
        g->failed = 1;
        return unic_errf(g->err, g->errlen,
                         "%s: ABI mismatch: component '%s' was built for plugin ABI %d, this core "
                         "speaks ABI %d; rebuild the plugin against this version's headers",
                         g->file, c && c->name ? c->name : "?", c ? c->abi_version : -1,
                         UNIC_ABI_VERSION);
    }
    if (!c->name || !*c->name || c->kind < 0 || c->kind >= UNIC_KIND_COUNT || !c->create ||
        !c->destroy || !has_ops(c)) {
        g->failed = 1;
        return unic_errf(g->err, g->errlen,
                         "%s: component '%s' is incomplete: it needs a name, a kind, create, "
                         "destroy and the operations of its kind",
                         g->file, c->name ? c->name : "?");
    }
    for (int i = 0; i < r->count; i++) {
        const unic_component *o = r->entries[i].component;
        if (o->kind == c->kind && strcmp(o->name, c->name) == 0) {
            g->failed = 1;
            return unic_errf(g->err, g->errlen,
                             "duplicate %s '%s': registered by %s and again by %s",
                             unic_kind_name(c->kind), c->name, r->entries[i].file, g->file);
        }
    }
    if (r->count == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 32;
        r->entries = realloc(r->entries, (size_t)r->cap * sizeof(entry));
    }
    r->entries[r->count].component = c;
    r->entries[r->count].file = unic_xstrdup(g->file);
    r->count++;
    return 0;
}

int unic_registry_load_file(unic_registry *r, const char *path, char *err, size_t errlen)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) return unic_errf(err, errlen, "%s: cannot load plugin: %s", path, dlerror());
    typedef int (*init_fn)(const unic_api *, unic_registrar *);
    init_fn init;
    *(void **)&init = dlsym(h, UNIC_ENTRY_POINT);
    if (!init) {
        dlclose(h);
        return unic_errf(err, errlen,
                         "%s: not a unic plugin: it does not export the entry point '%s'", path,
                         UNIC_ENTRY_POINT);
    }
    int before = r->count;
    unic_registrar g = {r, path, err, errlen, 0};
    int rc = init(unic_core_api(), &g);
    if (g.failed || rc != 0) {
        /* roll back what this file registered before failing */
        for (int i = before; i < r->count; i++) free(r->entries[i].file);
        r->count = before;
        dlclose(h);
        if (!g.failed)
            unic_errf(err, errlen, "%s: the plugin's %s returned %d", path, UNIC_ENTRY_POINT, rc);
        return -1;
    }
    r->handles = realloc(r->handles, (size_t)(r->nhandles + 1) * sizeof(void *));
    r->handles[r->nhandles++] = h;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int unic_registry_load_dir(unic_registry *r, const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) return unic_errf(err, errlen, "%s: cannot open plugin folder", dir);
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".so") == 0) {
            names = realloc(names, (size_t)(n + 1) * sizeof(char *));
            names[n++] = unic_xstrdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            rc = unic_registry_load_file(r, path, err, errlen);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int unic_registry_load_default(unic_registry *r, char *err, size_t errlen)
{
    const char *builtin = getenv("UNIC_BUILTIN_PLUGIN_DIR");
    if (!builtin) builtin = UNIC_PLUGIN_DIR;
    if (*builtin && unic_registry_load_dir(r, builtin, err, errlen) != 0) return -1;
    const char *extra = getenv("UNIC_PLUGIN_PATH");
    if (!extra || !*extra) return 0;
    char *list = unic_xstrdup(extra), *save = NULL;
    int rc = 0;
    for (char *dir = strtok_r(list, ":", &save); dir && rc == 0; dir = strtok_r(NULL, ":", &save))
        if (*dir) rc = unic_registry_load_dir(r, dir, err, errlen);
    free(list);
    return rc;
}

void unic_suggest(const char *name, const char *const *candidates, int count, char *buf,
                  size_t buflen)
{
    int best = 1 << 30;
    for (int i = 0; i < count; i++) {
        int d = unic_edit_distance(name, candidates[i]);
        if (d < best) best = d;
    }
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < count && used + 1 < buflen; i++)
        if (unic_edit_distance(name, candidates[i]) == best)
            used += (size_t)snprintf(buf + used, buflen - used, "%s'%s'", used ? ", " : "",
                                     candidates[i]);
}

const unic_component *unic_registry_find(const unic_registry *r, unic_kind kind, const char *name,
                                         char *err, size_t errlen)
{
    const char *names[256];
    int n = 0;
    for (int i = 0; i < r->count; i++) {
        const unic_component *c = r->entries[i].component;
        if (c->kind != kind) continue;
        if (strcmp(c->name, name) == 0) return c;
        if (n < 256) names[n++] = c->name;
    }
    if (n == 0) {
        unic_errf(err, errlen, "unknown %s plugin '%s': no %s plugins are loaded (plugin folder %s, "
                  "UNIC_PLUGIN_PATH)", unic_kind_name(kind), name, unic_kind_name(kind),
                  UNIC_PLUGIN_DIR);
        return NULL;
    }
    char close[512];
    unic_suggest(name, names, n, close, sizeof close);
    unic_errf(err, errlen, "unknown %s plugin '%s'; closest known: %s", unic_kind_name(kind), name,
              close);
    return NULL;
}

int unic_registry_count(const unic_registry *r) { return r->count; }
const unic_component *unic_registry_at(const unic_registry *r, int i)
{
    return r->entries[i].component;
}
const char *unic_registry_file(const unic_registry *r, int i) { return r->entries[i].file; }
