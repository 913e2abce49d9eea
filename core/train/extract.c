/* unic extract: the [backbone] over the [data] (test transform), written as
 * the features backbone and `unic neighbors` read embeddings. It shares the
 * run's data and embedding stages and stops there. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "train/run.h"
#include "train/run_internal.h"

/* The folder out_path lands in, made if missing (also for skipped.txt). */
static int open_folder(run *r, const char *out_path, char *err, size_t errlen)
{
    char *dir = unic_xstrdup(out_path), *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    snprintf(r->out, sizeof r->out, "%s", slash ? dir : ".");
    free(dir);
    return unic_mkdirs(r->out, err, errlen);
}

static int extract(run *r, const char *out_path, char *err, size_t errlen)
{
    if (unic_run_config_parse(r->x, &r->cfg, err, errlen) != 0 ||
        open_folder(r, out_path, err, errlen) != 0)
        return -1;
    if (r->cfg.train.threads > 0) omp_set_num_threads(r->cfg.train.threads);
    if (instance_create(&r->backbone, &r->x->backbone, err, errlen) != 0) return -1;
    double t0 = unic_now();
    if (run_load_data(r, err, errlen) != 0 ||
        run_embed(r, r->train_set, &r->train, &r->emb, &r->train_index, err, errlen) != 0)
        return -1;
    r->n = r->train.n;
    if (write_embeddings(r, out_path, err, errlen) != 0) return -1;
    unic_log(UNIC_LOG_INFO, "extract: %lld embeddings of size %d in %.1f s -> %s", (long long)r->n,
             r->dim, unic_now() - t0, out_path);
    return 0;
}

int unic_extract(const unic_experiment *x, const char *out_path, char *err, size_t errlen)
{
    run *r = unic_xcalloc(1, sizeof *r);
    r->x = x; /* r->gcd stays 0: extraction ignores the GCD split */
    int rc = extract(r, out_path, err, errlen);
    instance_destroy(&r->backbone);
    run_data_free(r);
    unic_xfree(r);
    return rc;
}
