/* The `unic` command: run (an experiment or a grid of them), check, plugins,
 * eval, neighbors, gradcheck. */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fpenv.h"
#include "base/limits.h"
#include "experiment/config.h"
#include "experiment/experiment.h"
#include "experiment/grid.h"
#include "data/image.h"
#include "grid/folder.h"
#include "grid/point.h"
#include "grid/runner.h"
#include "data/io.h"
#include "base/log.h"
#include "eval/metrics.h"
#include "eval/predictions.h"
#include "mining/neighbors.h"
#include "plugin/params.h"
#include "plugin/registry.h"
#include "train/run.h"
#include "base/util.h"
#include "cli/gradcheck.h"
#include "cli/grid_commands.h"
#include "cli/report.h"
#include "grid/summary.h"
#include "grid/table.h"
#include "grid/view.h"
#include "cli/estimate_k.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage:\n"
            "  unic run EXPERIMENT.ini [--set section.key=value]... [--out DIR] [--resume] [--quiet]\n"
            "           [--threads N] [--jobs N] [--retry-failed] [--allow-changed] [--grid-point ID]\n"
            "      train and evaluate. An experiment with a [grid] section runs every point, each\n"
            "      in its own process and run folder (DIR/points/ID), --jobs at a time; run it\n"
            "      again to skip finished points and resume interrupted ones (failed ones with\n"
            "      --retry-failed); --grid-point runs one point (what a Slurm array task does)\n"
            "  unic grid status DIR\n"
            "      each point of a grid folder: state, epoch, elapsed time, latest scores\n"
            "  unic grid submit EXPERIMENT.ini --slurm [--out DIR] [--partition P] [--time T]\n"
            "                   [--cpus-per-task N] [--gpus-per-task N] [--sbatch LINE]...\n"
            "                   [--retry-failed] [--dry-run]\n"
            "      the points not done as one Slurm job array (sbatch), into the same folder\n"
            "  unic table DIR [--rows a,b] [--cols c] [--metrics acc,nmi] [--checkmarks a]\n"
            "                 [--names A,B] [--where k=v] [--format md|csv|latex|json]\n"
            "      the grid as a paper table: mean +- std over seeds (their count), best per\n"
            "      column marked; the experiment's [table] section sets the defaults\n"
            "  unic plot DIR [--metric NAME]... [--out FOLDER]\n"
            "      per-epoch curves (losses, objective, scores) as SVG, one line per setting,\n"
            "      mean over seeds with a min-max band (default DIR/plots/)\n"
            "  unic check EXPERIMENT.ini [--set section.key=value]...\n"
            "      validate the experiment against the plugins' parameter tables, do nothing else\n"
            "  unic extract EXPERIMENT.ini [--set section.key=value]... [--out FILE]\n"
            "      run the [backbone] over the [data] (test transform) and write embeddings,\n"
            "      labels and indices to FILE (default embeddings/<name>.safetensors), which\n"
            "      the features backbone and `unic neighbors` read\n"
            "  unic estimate-k EXPERIMENT.ini [--set section.key=value]... [--out DIR] [--quiet]\n"
            "      estimate the number of classes over [head] classes_min..classes_max (as\n"
            "      classes = auto does before training): prints it and writes the criterion\n"
            "      against K to DIR/estimate_k.csv and .svg\n"
            "  unic plugins\n"
            "      list every component with its parameters, defaults and docs\n"
            "  unic eval PREDICTIONS.csv [--labels FILE] [--old-classes 0-4] [--json]\n"
            "      score a predictions file (columns: prediction, and label unless --labels):\n"
            "      clustering ACC/NMI/ARI, or with --old-classes GCD All/Old/New over the rows\n"
            "      not marked labeled=1\n"
            "  unic neighbors EMBEDDINGS|RUN [--labels FILE] [--out DIR] [--tau1 10,50]\n"
            "                 [--max-union N] [--quiet]\n"
            "      judge a backbone's neighbours against the labels before training: CSV and\n"
            "      SVG of true positives by union size, same-class rate by rank, removal and\n"
            "      purity by union size (paper figures 4, 8, 9, 10) in DIR (default\n"
            "      neighbors/ beside the input)\n"
            "  unic report RUN_DIR|GRID_DIR [--out FILE] [--class-names FILE] [--thumbs N]\n"
            "      one self-contained HTML page: scores, curves, confusion matrix, cluster\n"
            "      mosaics (Figure 12), neighbour analyses; a grid's table and curves\n"
            "  unic gradcheck PLUGIN.so...\n"
            "      the generic checks on every head, loss and miner a plugin file registers\n"
            "      (finite-difference gradients, the miner contract): one line per check,\n"
            "      exit status 0 only if all pass\n"
            "plugins are loaded from %s and the folders in UNIC_PLUGIN_PATH\n",
            unic_builtin_plugin_dir());
}

static unic_registry *load_registry(void)
{
    char err[2048];
    unic_registry *reg = unic_registry_new();
    if (unic_registry_load_default(reg, err, sizeof err) != 0) {
        fprintf(stderr, "unic: %s\n", err);
        exit(2);
    }
    return reg;
}

static void print_table(const char *title, const unic_param_spec *spec)
{
    printf("  %s\n", title);
    for (const unic_param_spec *s = spec; s && s->name; s++) {
        char type[128];
        if (s->type == UNIC_CHOICE)
            snprintf(type, sizeof type, "%s", s->choices);
        else if ((s->type == UNIC_INT || s->type == UNIC_FLOAT) && s->choices && *s->choices)
            snprintf(type, sizeof type, "%s in %s", s->type == UNIC_INT ? "int" : "number",
                     s->choices);
        else
            snprintf(type, sizeof type, "%s", unic_param_type_name(s->type));
        printf("    %-18s %-22s default %-12s %s\n", s->name, type, *s->def ? s->def : "\"\"",
               s->doc);
    }
}

static int cmd_plugins(void)
{
    unic_registry *reg = load_registry();
    printf("core sections\n");
    print_table("[data]", unic_data_spec);
    print_table("[head] (beside the head plugin's own keys)", unic_head_spec);
    print_table("[train]", unic_train_spec);
    print_table("[eval]", unic_eval_spec);
    printf("  [miner.NAME] sections also take: scope = all|labeled|unlabeled (default all)\n");
    printf("  [loss.NAME] sections also take: weight (default per loss, below); head = cluster "
           "or NAME of a [head.NAME] (the head it reads, default cluster); plugin defaults "
           "to NAME\n");
    printf("  [head] (or [head.cluster]) also takes: count = 1..%d copies (SCAN's heads; the "
           "lowest training loss is reported); [head.NAME] adds a named head\n",
           UNIC_MAX_HEAD_COPIES);
    printf("  [stage.NAME] sections chain runs: losses = ..., miners = ..., and section.key "
           "overrides; each stage starts from the previous one's checkpoint\n");
    for (int kind = 0; kind < UNIC_KIND_COUNT; kind++) {
        printf("\n%s plugins\n", unic_kind_name((unic_kind)kind));
        for (int i = 0; i < unic_registry_count(reg); i++) {
            const unic_component *c = unic_registry_at(reg, i);
            if ((int)c->kind != kind) continue;
            printf("  %s: %s\n    (%s", c->name, c->doc ? c->doc : "", unic_registry_file(reg, i));
            if (c->kind == UNIC_KIND_LOSS) printf("; default weight %g", c->loss->default_weight);
            if (c->kind == UNIC_KIND_MINER)
                printf("; gives %s", c->miner->role == UNIC_ROLE_POSITIVE ? "positives" : "negatives");
            printf(")\n");
            if (c->params && c->params->name) print_table("parameters", c->params);
        }
    }
    if (unic_registry_failure_count(reg)) printf("\nskipped plugin files\n");
    for (int i = 0; i < unic_registry_failure_count(reg); i++)
        printf("  %s: %s\n", unic_registry_failure_file(reg, i),
               unic_registry_failure_reason(reg, i));
    unic_registry_free(reg);
    return 0;
}

typedef struct cli {
    const char *ini, *out;
    const char **sets;
    int nsets, resume, quiet, json;
    const char *labels, *old_classes;
    const char *grid_point;
    int jobs, threads, retry_failed, allow_changed;
} cli;

/* A count option's value in [1, max], or -1 after saying what was expected. */
static int count_arg(const char *cmd, const char *opt, const char *text, int max)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text && !*end && v >= 1 && v <= max) return (int)v;
    fprintf(stderr, "unic %s: %s expects a whole number from 1 to %d, got '%s'\n", cmd, opt, max,
            text);
    return -1;
}

static int parse_args(int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof *c);
    c->sets = calloc((size_t)argc, sizeof(char *));
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--set") == 0 && more)
            c->sets[c->nsets++] = argv[++i];
        else if (strncmp(a, "--set=", 6) == 0)
            c->sets[c->nsets++] = a + 6;
        else if (strcmp(a, "--out") == 0 && more)
            c->out = argv[++i];
        else if (strcmp(a, "--labels") == 0 && more)
            c->labels = argv[++i];
        else if (strcmp(a, "--old-classes") == 0 && more)
            c->old_classes = argv[++i];
        else if (strcmp(a, "--resume") == 0)
            c->resume = 1;
        else if (strcmp(a, "--quiet") == 0)
            c->quiet = 1;
        else if (strcmp(a, "--json") == 0)
            c->json = 1;
        else if (strcmp(a, "--grid-point") == 0 && more)
            c->grid_point = argv[++i];
        else if (strcmp(a, "--retry-failed") == 0)
            c->retry_failed = 1;
        else if (strcmp(a, "--allow-changed") == 0)
            c->allow_changed = 1;
        else if (strcmp(a, "--jobs") == 0 && more) {
            if ((c->jobs = count_arg(argv[1], a, argv[++i], 256)) < 0) return -1;
        } else if (strcmp(a, "--threads") == 0 && more) {
            if ((c->threads = count_arg(argv[1], a, argv[++i], UNIC_MAX_THREADS)) < 0) return -1;
        }
        else if (a[0] == '-' || c->ini) {
            fprintf(stderr, "unic %s: unexpected argument '%s'\n", argv[1], a);
            return -1;
        } else
            c->ini = a;
    }
    if (!c->ini) {
        fprintf(stderr, "unic %s: missing the %s file\n", argv[1],
                strcmp(argv[1], "eval") == 0 ? "predictions" : "experiment");
        return -1;
    }
    return 0;
}

/* `unic check`: every point validated; an invalid grid value is named. */
static int report_check(const cli *c, const unic_grid *grid)
{
    for (int i = 0; i < grid->count; i++)
        if (grid->points[i].error)
            fprintf(stderr, "unic: %s (grid point %s)\n", grid->points[i].error,
                    grid->points[i].label);
    if (grid->invalid) return 2;
    printf("%s: valid (%d run%s)\n", c->ini, grid->count, grid->count == 1 ? "" : "s");
    return 0;
}

/* One point of a grid in this process (what a grid's --jobs and a Slurm
 * array task run). */
static int run_grid_point(const cli *c, unic_grid *grid, char *err, size_t errlen)
{
    unic_grid_point *p = unic_grid_find(grid, c->grid_point);
    if (!p) {
        unic_errf(err, errlen, "%s has no grid point '%s' (or it names several): the points and "
                  "their ids are in the grid folder's grid.json and `unic grid status`", c->ini,
                  c->grid_point);
        return 2;
    }
    char dir[2048];
    unic_grid_dir(grid, c->out, dir, sizeof dir);
    int rc = unic_grid_run_point(p, dir, c->retry_failed, err, errlen);
    if (rc == UNIC_POINT_EXIT_DONE) err[0] = '\0';
    char msg[2048]; /* a Slurm array has no driver: each task refreshes the summary */
    if (rc != UNIC_POINT_EXIT_BUSY) unic_grid_refresh_summary(dir, NULL, 0, msg, sizeof msg);
    return rc;
}

static int run_grid(const cli *c, unic_grid *grid, char *err, size_t errlen)
{
    if (c->grid_point) return run_grid_point(c, grid, err, errlen);
    if (!grid->is_grid) {
        if (c->jobs > 1) fprintf(stderr, "unic: --jobs applies to grids; this is one run\n");
        int rc = unic_run(&grid->points[0].run, c->out, NULL, c->resume, NULL, err, errlen);
        return rc == 0 ? 0 : 1;
    }
    unic_grid_options o = {c->ini, c->sets, c->nsets, c->out, c->jobs > 0 ? c->jobs : 1,
                           c->threads, c->retry_failed, c->allow_changed};
    int rc = unic_grid_run_all(grid, &o, err, errlen);
    if (rc > 0) err[0] = '\0'; /* the count line has said it */
    return rc < 0 ? 2 : rc;
}

/* The experiment's [table] section: its keys, and its axes against the
 * grid's, checked before any point runs. */
static int check_table_section(const cli *c, const unic_grid *grid, char *err, size_t errlen)
{
    unic_config *cfg;
    if (unic_config_load_with(c->ini, c->sets, c->nsets, &cfg, err, errlen) != 0) return -1;
    unic_table_layout t;
    unic_table_layout_init(&t);
    char source[2300];
    snprintf(source, sizeof source, "%s: [table]", c->ini);
    int rc = unic_table_layout_read(cfg, &t, err, errlen);
    if (rc == 0 && unic_config_has_section(cfg, "table"))
        rc = unic_table_layout_check(&t, grid->axes, grid->naxes, source, err, errlen);
    unic_table_layout_free(&t);
    unic_config_free(cfg);
    return rc;
}

static int cmd_run(const cli *c, int check_only)
{
    char err[4096] = "";
    unic_registry *reg = load_registry();
    unic_grid grid;
    /* every point of a grid is validated before the first one starts */
    int bad = unic_grid_prepare(c->ini, c->sets, c->nsets, reg, &grid, err, sizeof err) != 0;
    if (!bad && check_table_section(c, &grid, err, sizeof err) != 0) {
        unic_grid_free(&grid);
        bad = 1;
    }
    if (bad) {
        fprintf(stderr, "unic: %s\n", err);
        unic_registry_free(reg);
        return 2;
    }
    int rc;
    if (check_only)
        rc = report_check(c, &grid);
    else {
        unic_log_set_quiet(c->quiet);
        if (c->threads > 0) omp_set_num_threads(c->threads);
        rc = run_grid(c, &grid, err, sizeof err);
        if (rc != 0 && *err) fprintf(stderr, "unic: %s\n", err);
    }
    unic_grid_free(&grid);
    unic_registry_free(reg);
    return rc;
}

static int cmd_extract(const cli *c)
{
    char err[4096];
    unic_registry *reg = load_registry();
    unic_config *cfg;
    int rc = 2;
    if (unic_config_load_with(c->ini, c->sets, c->nsets, &cfg, err, sizeof err) != 0) goto fail;
    unic_experiment x;
    if (unic_experiment_prepare_extract(cfg, reg, &x, err, sizeof err) != 0) {
        unic_config_free(cfg);
        goto fail;
    }
    char out[4096];
    if (c->out)
        snprintf(out, sizeof out, "%s", c->out);
    else
        snprintf(out, sizeof out, "embeddings/%s.safetensors", x.name);
    unic_log_set_quiet(c->quiet);
    rc = unic_extract(&x, out, err, sizeof err) == 0 ? 0 : 1;
    unic_experiment_free(&x);
    if (rc == 0) {
        unic_registry_free(reg);
        return 0;
    }
fail:
    fprintf(stderr, "unic: %s\n", err);
    unic_registry_free(reg);
    return rc;
}

/* ---- unic eval ----------------------------------------------------------- */

static int cmd_eval(const cli *c)
{
    char err[2048];
    unic_predictions p;
    if (unic_predictions_read(c->ini, &p, err, sizeof err) != 0) {
        fprintf(stderr, "unic eval: %s\n", err);
        return 2;
    }
    if (!p.label && !c->labels) {
        fprintf(stderr, "unic eval: %s: no 'label' column; give the labels with --labels FILE\n",
                c->ini);
        unic_predictions_free(&p);
        return 2;
    }
    int64_t n = p.n;
    int32_t *pred = p.prediction;
    unsigned char *labeled = p.labeled;
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    if (p.label) memcpy(lab, p.label, sizeof(int32_t) * (size_t)n);
    int rc = 0;
    if (rc == 0 && c->labels) {
        int32_t *ext;
        int64_t m;
        if (unic_load_labels(c->labels, "labels", &ext, &m, err, sizeof err) != 0) {
            fprintf(stderr, "unic eval: %s\n", err);
            rc = -1;
        } else if (m != n) {
            fprintf(stderr, "unic eval: %s has %lld labels but %s has %lld predictions\n",
                    c->labels, (long long)m, c->ini, (long long)n);
            rc = -1;
        } else
            memcpy(lab, ext, sizeof(int32_t) * (size_t)n);
        if (rc == 0) free(ext);
    }
    if (rc == 0 && c->old_classes) {
        unsigned char old[UNIC_MAX_CLASSES];
        int count;
        if (unic_parse_class_list(c->old_classes, old, UNIC_MAX_CLASSES, &count, err,
                                  sizeof err) != 0) {
            fprintf(stderr, "unic eval: --old-classes: %s\n", err);
            rc = -1;
        } else {
            int64_t k = 0; /* GCD scores the unlabeled rows only */
            for (int64_t i = 0; i < n; i++)
                if (!labeled[i]) {
                    pred[k] = pred[i];
                    lab[k] = lab[i];
                    k++;
                }
            unic_gcd_scores g;
            if (unic_gcd_scores_compute(lab, pred, k, old, UNIC_MAX_CLASSES, &g, err,
                                        sizeof err) != 0) {
                fprintf(stderr, "unic eval: %s\n", err);
                rc = -1;
            } else if (c->json)
                printf("{\"all\": %.6f, \"old\": %.6f, \"new\": %.6f, \"n_old\": %lld, \"n_new\": %lld}\n",
                       g.all, g.old, g.new_, (long long)g.n_old, (long long)g.n_new);
            else
                printf("samples %lld (old %lld, new %lld)\nall %.4f\nold %.4f\nnew %.4f\n",
                       (long long)k, (long long)g.n_old, (long long)g.n_new, g.all, g.old, g.new_);
        }
    } else if (rc == 0) {
        unic_cluster_scores s;
        if (unic_cluster_scores_compute(lab, pred, n, &s, err, sizeof err) != 0) {
            fprintf(stderr, "unic eval: %s\n", err);
            rc = -1;
        } else if (c->json)
            printf("{\"acc\": %.6f, \"nmi\": %.6f, \"ari\": %.6f, \"samples\": %lld}\n", s.acc, s.nmi,
                   s.ari, (long long)n);
        else
            printf("samples %lld\nacc %.4f\nnmi %.4f\nari %.4f\n", (long long)n, s.acc, s.nmi, s.ari);
    }
    unic_predictions_free(&p);
    free(lab);
    return rc == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
    /* Before anything else: setenv is unsafe once threads run, and libjpeg
     * reads JPEGMEM when each decompressor is created. */
    char jerr[512];
    if (unic_jpeg_memory_limit_init(jerr, sizeof jerr) != 0) {
        fprintf(stderr, "unic: %s\n", jerr);
        return 2;
    }
    unic_flush_denormals(); /* before any thread exists, so every thread inherits it */
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("unic %s (plugin ABI %d.%d)\n", UNIC_VERSION, UNIC_ABI_MAJOR, UNIC_ABI_MINOR);
        return 0;
    }
    if (strcmp(argv[1], "plugins") == 0) return cmd_plugins();
    if (strcmp(argv[1], "neighbors") == 0) return unic_neighbors_command(argc - 2, argv + 2);
    if (strcmp(argv[1], "gradcheck") == 0) return unic_gradcheck_command(argc - 2, argv + 2);
    if (strcmp(argv[1], "grid") == 0) return unic_grid_command(argc - 2, argv + 2);
    if (strcmp(argv[1], "table") == 0) return unic_table_command(argc - 2, argv + 2);
    if (strcmp(argv[1], "plot") == 0) return unic_plot_command(argc - 2, argv + 2);
    if (strcmp(argv[1], "report") == 0) return unic_report_command(argc - 2, argv + 2);
    if (strcmp(argv[1], "estimate-k") == 0) return unic_estimate_k_command(argc - 2, argv + 2);
    cli c;
    int known = strcmp(argv[1], "run") == 0 || strcmp(argv[1], "check") == 0 ||
                strcmp(argv[1], "eval") == 0 || strcmp(argv[1], "extract") == 0;
    if (!known) {
        fprintf(stderr, "unic: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    if (parse_args(argc, argv, &c) != 0) return 2;
    int rc;
    if (strcmp(argv[1], "eval") == 0)
        rc = cmd_eval(&c);
    else if (strcmp(argv[1], "extract") == 0)
        rc = cmd_extract(&c);
    else
        rc = cmd_run(&c, strcmp(argv[1], "check") == 0);
    free(c.sets);
    return rc;
}
