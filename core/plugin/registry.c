#include "plugin/registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "plugin/params.h"
#include "plugin/api.h"

/* Where an installed unic finds its plugins, relative to its executable
 * (CMake passes the install layout's; this is its default). */
#ifndef UNIC_PLUGIN_DIR_FROM_EXE
#define UNIC_PLUGIN_DIR_FROM_EXE "../lib/unic/plugins"
#endif

typedef struct entry {
    const unic_component *component;
    char *file;
} entry;

/* A plugin file that was skipped, and why (for the messages of later
 * look-ups that it might have answered). */
typedef struct failure {
    char *file, *reason;
} failure;

struct unic_registrar {
    unic_registry *registry;
    const char *file;
    char *err;
    size_t errlen;
    int failed;   /* UNIC_LOAD_BROKEN or UNIC_LOAD_CONFLICT once a component is refused */
};

struct unic_registry {
    entry *entries;
    int count, cap;
    void **handles;
    int nhandles;
    failure *failures;
    int nfailures;
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
    for (int i = 0; i < r->nfailures; i++) {
        free(r->failures[i].file);
        free(r->failures[i].reason);
    }
    free(r->failures);
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

/* ---- the ABI rule --------------------------------------------------------- */

unic_abi_verdict unic_abi_compatible(int core_major, int core_minor, int plugin_major,
                                     int plugin_minor)
{
    if (plugin_major <= 0 || plugin_minor < 0) return UNIC_ABI_MISSING;
    if (plugin_major != core_major) return UNIC_ABI_OTHER_MAJOR;
    if (plugin_minor > core_minor) return UNIC_ABI_NEWER_MINOR;
    return UNIC_ABI_OK; /* an older minor knows a prefix of what this core has */
}

/* ABI 5 and earlier had one number, kept where abi_major is now. */
static void format_abi(char *buf, size_t len, int major, int minor)
{
    if (major < 6)
        snprintf(buf, len, "%d", major);
    else
        snprintf(buf, len, "%d.%d", major, minor);
}

int unic_abi_check(int core_major, int core_minor, const unic_component *c, const char *file,
                   char *err, size_t errlen)
{
    unic_abi_verdict v = unic_abi_compatible(core_major, core_minor, c->abi_major, c->abi_minor);
    if (v == UNIC_ABI_OK) return 0;
    const char *name = c->name ? c->name : "?";
    char core[32], plugin[32];
    format_abi(core, sizeof core, core_major, core_minor);
    format_abi(plugin, sizeof plugin, c->abi_major, c->abi_minor);
    if (v == UNIC_ABI_MISSING)
        return unic_errf(err, errlen,
                         "%s: ABI mismatch: component '%s' declares no valid ABI version "
                         "(abi_major %d, abi_minor %d; this unic speaks ABI %s): put "
                         "UNIC_COMPONENT_ABI in its unic_component and rebuild it",
                         file, name, c->abi_major, c->abi_minor, core);
    if (v == UNIC_ABI_NEWER_MINOR)
        return unic_errf(err, errlen,
                         "%s: ABI mismatch: component '%s' was built for plugin ABI %s, newer "
                         "than this unic's ABI %s (it may call api entries this unic lacks); "
                         "upgrade unic to one with ABI %d.%d or later, or rebuild the plugin "
                         "against this unic's headers",
                         file, name, plugin, core, c->abi_major, c->abi_minor);
    return unic_errf(err, errlen,
                     "%s: ABI mismatch: component '%s' was built for plugin ABI %s, this unic "
                     "speaks ABI %s and loads only ABI %d.x plugins (another major version "
                     "lays the structs out differently); rebuild the plugin against this "
                     "unic's headers (pkg-config --cflags unic, or find_package(unic))",
                     file, name, plugin, core, core_major);
}

/* ---- registration ------------------------------------------------------------ */

/* A refusal that makes the file broken (skipped by folder loads). */
static int refuse(unic_registrar *g) { return g->failed = UNIC_LOAD_BROKEN; }

static int check_loss(unic_registrar *g, const unic_component *c)
{
    const unic_loss_ops *l = c->loss;
    if (!l->has_default_weight) {
        refuse(g);
        return unic_errf(g->err, g->errlen,
                         "%s: loss '%s' has no default weight: set .default_weight = W and "
                         ".has_default_weight = 1 in its unic_loss_ops (W weighs the loss when "
                         "an experiment's [loss.%s] gives no weight; W = 0 makes it opt-in)",
                         g->file, c->name, c->name);
    }
    if (!isfinite(l->default_weight)) {
        refuse(g);
        return unic_errf(g->err, g->errlen, "%s: loss '%s' has default weight %g, expected a "
                         "finite number", g->file, c->name, l->default_weight);
    }
    return 0;
}

/* Bounds that do not parse, or a default outside them, would stop every
 * run that sets the key; the plugin is refused at load instead. */
static int check_params(unic_registrar *g, const unic_component *c)
{
    char msg[512];
    for (const unic_param_spec *s = c->params; s && s->name; s++)
        if (unic_param_spec_valid(s, msg, sizeof msg) != 0) {
            refuse(g);
            return unic_errf(g->err, g->errlen, "%s: %s '%s': %s", g->file,
                             unic_kind_name(c->kind), c->name, msg);
        }
    return 0;
}

/* api->register_component: the only way components enter the registry. */
int unic_registrar_add(unic_registrar *g, const unic_component *c)
{
    unic_registry *r = g->registry;
    if (g->failed) return -1;
    if (!c) {
        refuse(g);
        return unic_errf(g->err, g->errlen, "%s: registered a NULL component", g->file);
    }
    if (unic_abi_check(UNIC_ABI_MAJOR, UNIC_ABI_MINOR, c, g->file, g->err, g->errlen) != 0)
        return refuse(g);
    if (!c->name || !*c->name || c->kind < 0 || c->kind >= UNIC_KIND_COUNT || !c->create ||
        !c->destroy || !has_ops(c)) {
        refuse(g);
        return unic_errf(g->err, g->errlen,
                         "%s: component '%s' is incomplete: it needs a name, a kind, create, "
                         "destroy and the operations of its kind",
                         g->file, c->name ? c->name : "?");
    }
    if (c->kind == UNIC_KIND_LOSS && check_loss(g, c) != 0) return -1;
    if (check_params(g, c) != 0) return -1;
    for (int i = 0; i < r->count; i++) {
        const unic_component *o = r->entries[i].component;
        if (o->kind == c->kind && strcmp(o->name, c->name) == 0) {
            g->failed = UNIC_LOAD_CONFLICT;
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
    if (!h) {
        unic_errf(err, errlen, "%s: cannot load plugin: %s", path, dlerror());
        return UNIC_LOAD_BROKEN;
    }
    typedef int (*init_fn)(const unic_api *, unic_registrar *);
    init_fn init;
    *(void **)&init = dlsym(h, UNIC_ENTRY_POINT);
    if (!init) {
        dlclose(h);
        unic_errf(err, errlen, "%s: not a unic plugin: it does not export the entry point '%s'",
                  path, UNIC_ENTRY_POINT);
        return UNIC_LOAD_BROKEN;
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
        return g.failed ? g.failed : UNIC_LOAD_BROKEN;
    }
    r->handles = realloc(r->handles, (size_t)(r->nhandles + 1) * sizeof(void *));
    r->handles[r->nhandles++] = h;
    return UNIC_LOAD_OK;
}

/* Keeps why a file was skipped (message minus its leading "path: ") and
 * says so on stderr. */
static void record_failure(unic_registry *r, const char *path, const char *msg)
{
    size_t n = strlen(path);
    const char *reason = strncmp(msg, path, n) == 0 && strncmp(msg + n, ": ", 2) == 0 ? msg + n + 2
                                                                                      : msg;
    r->failures = realloc(r->failures, (size_t)(r->nfailures + 1) * sizeof(failure));
    r->failures[r->nfailures].file = unic_xstrdup(path);
    r->failures[r->nfailures].reason = unic_xstrdup(reason);
    r->nfailures++;
    unic_log(UNIC_LOG_WARN, "skipped plugin %s: %s", path, reason);
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
    if (n > 1) qsort(names, (size_t)n, sizeof(char *), cmp_str);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            char path[4096], msg[2048];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            int status = unic_registry_load_file(r, path, msg, sizeof msg);
            /* a broken file is skipped; two files claiming one name make
             * every experiment ambiguous, so that stops the load */
            if (status == UNIC_LOAD_BROKEN) record_failure(r, path, msg);
            if (status == UNIC_LOAD_CONFLICT) rc = unic_errf(err, errlen, "%s", msg);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The executable's folder joined with UNIC_PLUGIN_DIR_FROM_EXE, if that is
 * a folder: how an installed unic finds the plugins installed with it. */
static int dir_beside_executable(char *buf, size_t len)
{
    char exe[PATH_MAX], joined[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return 0;
    *slash = '\0';
    snprintf(joined, sizeof joined, "%s/%s", exe, UNIC_PLUGIN_DIR_FROM_EXE);
    char real[PATH_MAX];
    if (!is_dir(joined) || !realpath(joined, real)) return 0;
    snprintf(buf, len, "%s", real);
    return 1;
}

const char *unic_builtin_plugin_dir(void)
{
    static char dir[PATH_MAX];
    const char *env = getenv("UNIC_BUILTIN_PLUGIN_DIR");
    if (env) return env;
    if (!dir[0] && !dir_beside_executable(dir, sizeof dir))
        snprintf(dir, sizeof dir, "%s", UNIC_PLUGIN_DIR);
    return dir;
}

int unic_registry_load_default(unic_registry *r, char *err, size_t errlen)
{
    const char *builtin = unic_builtin_plugin_dir();
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

/* Appends, to a message about a missing component, every file that was
 * skipped: the component may well have been in one of them. */
static void note_failures(const unic_registry *r, char *err, size_t errlen)
{
    size_t used = strlen(err);
    for (int i = 0; i < r->nfailures && used + 1 < errlen; i++)
        used += (size_t)snprintf(err + used, errlen - used, "; note: %s failed to load: %s",
                                 r->failures[i].file, r->failures[i].reason);
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
                  unic_builtin_plugin_dir());
    } else {
        char close[512];
        unic_suggest(name, names, n, close, sizeof close);
        unic_errf(err, errlen, "unknown %s plugin '%s'; closest known: %s", unic_kind_name(kind),
                  name, close);
    }
    note_failures(r, err, errlen);
    return NULL;
}

int unic_registry_count(const unic_registry *r) { return r->count; }
const unic_component *unic_registry_at(const unic_registry *r, int i)
{
    return r->entries[i].component;
}
const char *unic_registry_file(const unic_registry *r, int i) { return r->entries[i].file; }

int unic_registry_failure_count(const unic_registry *r) { return r->nfailures; }
const char *unic_registry_failure_file(const unic_registry *r, int i) { return r->failures[i].file; }
const char *unic_registry_failure_reason(const unic_registry *r, int i)
{
    return r->failures[i].reason;
}

int unic_head_output_width(const unic_component *c, void *state, int num_classes)
{
    if (c->abi_minor < 1 || !c->head->output_width) return num_classes;
    return c->head->output_width(state);
}

int unic_loss_takes_outputs(const unic_component *c)
{
    return c->abi_minor >= 1 && c->loss->takes_outputs;
}
