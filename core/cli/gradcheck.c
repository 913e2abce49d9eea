#include "cli/gradcheck.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "plugin/gradcheck.h"
#include "plugin/registry.h"

typedef struct tally {
    int checks, failed;
} tally;

static void print_check(const unic_check *k, void *ctx)
{
    tally *t = ctx;
    t->checks++;
    t->failed += !k->pass;
    printf("%s  %s %s: %s: ", k->pass ? "PASS" : "FAIL", unic_kind_name(k->component->kind),
           k->component->name, k->name);
    if (k->numeric)
        printf("relative error %.2e (tolerance %.0e)\n", k->error, k->tolerance);
    else
        printf("%s\n", k->detail);
    fflush(stdout);
}

/* The same file as `real` (a realpath), whatever path loaded it. */
static int same_file(const char *path, const char *real)
{
    char other[PATH_MAX];
    return realpath(path, other) && strcmp(other, real) == 0;
}

static int registered_by(const unic_registry *reg, const char *real)
{
    for (int i = 0; i < unic_registry_count(reg); i++)
        if (same_file(unic_registry_file(reg, i), real)) return 1;
    return 0;
}

/* Loads `file` unless it is one of the built-ins already loaded, then
 * checks every component it registers. */
static int check_file(unic_registry *reg, const char *file, tally *t)
{
    char real[PATH_MAX], err[4096];
    if (!realpath(file, real)) {
        fprintf(stderr, "unic gradcheck: %s: no such file (expected a plugin .so)\n", file);
        return -1;
    }
    if (!registered_by(reg, real) && unic_registry_load_file(reg, real, err, sizeof err) != 0) {
        fprintf(stderr, "unic gradcheck: %s\n", err);
        return -1;
    }
    int components = 0;
    for (int i = 0; i < unic_registry_count(reg); i++) {
        if (!same_file(unic_registry_file(reg, i), real)) continue;
        const unic_component *c = unic_registry_at(reg, i);
        components++;
        if (unic_gradcheck_supports(c->kind))
            unic_gradcheck_component(c, print_check, t);
        else
            printf("SKIP  %s %s: no generic check for this kind (test it on known inputs)\n",
                   unic_kind_name(c->kind), c->name);
    }
    if (components == 0) {
        fprintf(stderr, "unic gradcheck: %s registers no component\n", file);
        return -1;
    }
    return 0;
}

int unic_gradcheck_command(int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: unic gradcheck PLUGIN.so...\n");
        return 2;
    }
    char err[4096];
    unic_log_set_quiet(1); /* the checks' lines only; warnings still show */
    unic_registry *reg = unic_registry_new();
    /* the built-ins, so a name clash is reported as it would be in a run */
    const char *builtin = unic_builtin_plugin_dir();
    if (*builtin && unic_registry_load_dir(reg, builtin, err, sizeof err) != 0) {
        fprintf(stderr, "unic gradcheck: %s\n", err);
        unic_registry_free(reg);
        return 2;
    }
    tally t = {0, 0};
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++)
        if (check_file(reg, argv[i], &t) != 0) rc = 2;
    unic_registry_free(reg);
    if (rc) return rc;
    if (t.failed)
        printf("%d of %d checks failed\n", t.failed, t.checks);
    else
        printf("all %d checks passed\n", t.checks);
    return t.failed ? 1 : 0;
}
