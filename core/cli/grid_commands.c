#include "cli/grid_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "experiment/config.h"
#include "grid/plot.h"
#include "grid/slurm.h"
#include "grid/status.h"
#include "grid/summary.h"
#include "grid/table.h"
#include "grid/view.h"
#include "plugin/registry.h"

static int load_view(const char *cmd, const char *dir, unic_grid_view *v)
{
    char err[4096];
    if (unic_grid_view_load(dir, v, err, sizeof err) == 0) return 0;
    fprintf(stderr, "unic %s: %s\n", cmd, err);
    return -1;
}

/* ---- unic grid status DIR ------------------------------------------------ */

static int grid_status(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: unic grid status DIR\n");
        return 2;
    }
    unic_grid_view v;
    if (load_view("grid status", argv[0], &v) != 0) return 2;
    unic_grid_status_print(&v, stdout);
    unic_grid_counts c = unic_grid_count(&v);
    unic_grid_view_free(&v);
    return c.failed ? 1 : 0;
}

/* ---- unic grid submit EXP.ini --slurm ------------------------------------ */

static int positive(const char *opt, const char *text, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text && !*end && v >= 1 && v <= 4096) {
        *out = (int)v;
        return 0;
    }
    fprintf(stderr, "unic grid submit: %s expects a whole number from 1 to 4096, got '%s'\n", opt,
            text);
    return -1;
}

typedef struct submit_args {
    unic_grid_options o;
    unic_slurm_options s;
    const char **sets;
    int slurm;
} submit_args;

static int parse_submit(int argc, char **argv, submit_args *a)
{
    a->sets = calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 0; i < argc; i++) {
        const char *x = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0, *flag = strcmp(x, "--slurm") == 0           ? &a->slurm
                            : strcmp(x, "--dry-run") == 0       ? &a->s.dry_run
                            : strcmp(x, "--retry-failed") == 0  ? &a->o.retry_failed
                            : strcmp(x, "--allow-changed") == 0 ? &a->o.allow_changed
                                                                : NULL;
        if (flag) {
            *flag = 1;
            continue;
        }
        if (!next || x[0] != '-') {
            if (x[0] == '-' || a->o.ini) {
                fprintf(stderr, "unic grid submit: unexpected argument '%s'\n", x);
                return -1;
            }
            a->o.ini = x;
            continue;
        } else if (strcmp(x, "--set") == 0) a->sets[a->o.nsets++] = next;
        else if (strcmp(x, "--out") == 0) a->o.out = next;
        else if (strcmp(x, "--partition") == 0) a->s.partition = next;
        else if (strcmp(x, "--account") == 0) a->s.account = next;
        else if (strcmp(x, "--time") == 0) a->s.time = next;
        else if (strcmp(x, "--cpus-per-task") == 0) rc = positive(x, next, &a->s.cpus_per_task);
        else if (strcmp(x, "--gpus-per-task") == 0) rc = positive(x, next, &a->s.gpus_per_task);
        else if (strcmp(x, "--sbatch") == 0 && a->s.nlines < UNIC_SLURM_MAX_LINES)
            a->s.lines[a->s.nlines++] = next;
        else {
            fprintf(stderr, "unic grid submit: unexpected argument '%s'\n", x);
            return -1;
        }
        if (rc != 0) return -1;
        i++;
    }
    a->o.sets = a->sets;
    if (!a->o.ini || !a->slurm) {
        fprintf(stderr, "usage: unic grid submit EXP.ini --slurm [--out DIR] [--set s.k=v]... "
                "[--partition P] [--time T] [--account A] [--cpus-per-task N] [--gpus-per-task N] "
                "[--sbatch '--mem=8G']... [--retry-failed] [--dry-run]\n");
        return -1;
    }
    return 0;
}

static int grid_submit(int argc, char **argv)
{
    submit_args a;
    memset(&a, 0, sizeof a);
    if (parse_submit(argc, argv, &a) != 0) {
        free(a.sets);
        return 2;
    }
    char err[4096];
    unic_registry *reg = unic_registry_new();
    unic_grid g;
    int rc = 2;
    if (unic_registry_load_default(reg, err, sizeof err) == 0 &&
        unic_grid_prepare(a.o.ini, a.o.sets, a.o.nsets, reg, &g, err, sizeof err) == 0) {
        rc = unic_grid_submit(&g, &a.o, &a.s, err, sizeof err) == 0 ? 0 : 1;
        unic_grid_free(&g);
    }
    if (rc != 0) fprintf(stderr, "unic grid submit: %s\n", err);
    unic_registry_free(reg);
    free(a.sets);
    return rc;
}

int unic_grid_command(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "status") == 0) return grid_status(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "submit") == 0) return grid_submit(argc - 1, argv + 1);
    fprintf(stderr, "usage: unic grid status DIR | unic grid submit EXP.ini --slurm [...]\n");
    return 2;
}

/* ---- unic table DIR ------------------------------------------------------ */

/* The experiment's [table] section, from the copy the grid folder keeps. */
static int read_layout(const unic_grid_view *v, unic_table_layout *t, char *err, size_t errlen)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/experiment.ini", v->dir);
    unic_config *cfg;
    if (unic_config_load(path, &cfg, err, errlen) != 0) return -1;
    int rc = unic_table_layout_read(cfg, t, err, errlen);
    if (rc == 0 && unic_config_has_section(cfg, "table")) {
        char source[2400];
        snprintf(source, sizeof source, "%s: [table]", path);
        rc = unic_table_layout_check(t, v->axes, v->naxes, source, err, errlen);
    }
    unic_config_free(cfg);
    return rc;
}

static int table_flags(int argc, char **argv, unic_table_layout *t, const char **dir, char *err,
                       size_t errlen)
{
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] != '-') {
            if (*dir) return unic_errf(err, errlen, "unexpected argument '%s'", argv[i]);
            *dir = argv[i];
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc)
            return unic_errf(err, errlen, "unexpected argument '%s'", argv[i]);
        char source[128];
        snprintf(source, sizeof source, "%s", argv[i]);
        if (unic_table_layout_set(t, argv[i] + 2, argv[i + 1], source, err, errlen) != 0) return -1;
        i++;
    }
    if (!*dir) return unic_errf(err, errlen, "missing the grid folder");
    return 0;
}

int unic_table_command(int argc, char **argv)
{
    char err[4096];
    const char *dir = NULL;
    unic_table_layout flags, t;
    unic_table_layout_init(&flags);
    unic_table_layout_init(&t);
    int rc = 2;
    unic_grid_view v;
    if (table_flags(argc, argv, &flags, &dir, err, sizeof err) != 0) {
        fprintf(stderr, "unic table: %s\nusage: unic table DIR [--rows a,b] [--cols c] "
                "[--metrics acc,nmi] [--checkmarks a] [--names A,B] [--where k=v] [--format "
                "md|csv|latex|json] [--scale 100] [--digits 1] [--title T]\n", err);
    } else if (load_view("table", dir, &v) == 0) {
        /* [table] first, then every flag given over it */
        const char *same_dir = NULL;
        if (unic_table_layout_check(&flags, v.axes, v.naxes, "the command line", err,
                                    sizeof err) == 0 &&
            read_layout(&v, &t, err, sizeof err) == 0 &&
            table_flags(argc, argv, &t, &same_dir, err, sizeof err) == 0 &&
            unic_table_print(&v, &t, stdout, err, sizeof err) == 0)
            rc = 0;
        else
            fprintf(stderr, "unic table: %s\n", err);
        unic_grid_view_free(&v);
    }
    unic_table_layout_free(&flags);
    unic_table_layout_free(&t);
    return rc;
}

/* ---- unic plot DIR ------------------------------------------------------- */

int unic_plot_command(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, **columns = calloc((size_t)argc + 1, sizeof(char *));
    int ncolumns = 0, rc = 2;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--metric") == 0 && i + 1 < argc)
            columns[ncolumns++] = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr, "unic plot: unexpected argument '%s'\nusage: unic plot DIR "
                    "[--metric NAME]... [--out FOLDER]\n", argv[i]);
            free(columns);
            return 2;
        }
    }
    unic_grid_view v;
    if (!dir)
        fprintf(stderr, "usage: unic plot DIR [--metric NAME]... [--out FOLDER]\n");
    else if (load_view("plot", dir, &v) == 0) {
        char err[4096], folder[2300];
        snprintf(folder, sizeof folder, "%s", out ? out : "");
        if (!out) snprintf(folder, sizeof folder, "%s/plots", dir);
        rc = unic_grid_plot(&v, columns, ncolumns, folder, err, sizeof err) == 0 ? 0 : 2;
        if (rc != 0) fprintf(stderr, "unic plot: %s\n", err);
        unic_grid_view_free(&v);
    }
    free(columns);
    return rc;
}
