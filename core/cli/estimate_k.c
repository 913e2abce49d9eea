/* `unic estimate-k EXPERIMENT.ini [--set section.key=value]... [--out DIR]
 * [--quiet]`: loads and embeds the experiment's data as `unic run` does,
 * estimates K over [head] classes_min..classes_max with [head] estimate,
 * prints "estimated K = N" and writes estimate_k.csv / .svg into DIR. */
#include "cli/estimate_k.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "experiment/config.h"
#include "experiment/experiment.h"
#include "plugin/registry.h"
#include "train/run.h"

int unic_estimate_k_command(int argc, char **argv)
{
    const char *ini = NULL, *out = NULL;
    const char **sets = calloc((size_t)argc + 1, sizeof(char *));
    int nsets = 0, quiet = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc)
            sets[nsets++] = argv[++i];
        else if (strncmp(argv[i], "--set=", 6) == 0)
            sets[nsets++] = argv[i] + 6;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = 1;
        else if (argv[i][0] == '-' || ini) {
            fprintf(stderr, "unic estimate-k: unexpected argument '%s'\n", argv[i]);
            free(sets);
            return 2;
        } else
            ini = argv[i];
    }
    if (!ini) {
        fprintf(stderr, "unic estimate-k: missing the experiment file\n");
        free(sets);
        return 2;
    }
    char err[4096];
    unic_registry *reg = unic_registry_new();
    unic_config *cfg = NULL;
    unic_experiment x;
    int rc = 2, k = 0;
    if (unic_registry_load_default(reg, err, sizeof err) == 0 &&
        unic_config_load_with(ini, sets, nsets, &cfg, err, sizeof err) == 0) {
        if (unic_experiment_prepare(cfg, reg, &x, err, sizeof err) == 0) {
            unic_log_set_quiet(quiet);
            rc = unic_estimate_classes(&x, out, &k, err, sizeof err) == 0 ? 0 : 1;
            unic_experiment_free(&x);
        } else {
            unic_config_free(cfg);
        }
    }
    if (rc == 0)
        printf("estimated K = %d\n", k);
    else
        fprintf(stderr, "unic estimate-k: %s\n", err);
    unic_registry_free(reg);
    free(sets);
    return rc;
}
