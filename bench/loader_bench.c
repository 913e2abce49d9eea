/* Decode + transform throughput of unic's loader over an ImageFolder, for
 * bench/loader.sh. Prints `unic_images_per_s=...` after a warm-up pass.
 *   loader_bench ROOT "PIPELINE" THREADS PASSES */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "data/imagesets.h"
#include "data/loader.h"
#include "base/util.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: loader_bench ROOT PIPELINE THREADS PASSES\n");
        return 2;
    }
    char err[2048];
    unic_imageset *set;
    if (unic_imageset_open("imagefolder", argv[1], "", "", "", &set, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    unic_pipeline *p = unic_pipeline_parse(argv[2], err, sizeof err);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int threads = atoi(argv[3]), passes = atoi(argv[4]);
    int64_t n = unic_imageset_size(set);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    double best = 0;
    for (int pass = 0; pass <= passes; pass++) { /* pass 0 warms the page cache */
        double t0 = unic_now();
        unic_loader *l = unic_loader_new(set, p, order, n, 64, threads, 0, (uint64_t)pass, err,
                                         sizeof err);
        if (!l) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        unic_batch b;
        int64_t got = 0;
        double checksum = 0;
        while (unic_loader_next(l, &b)) {
            got += b.n;
            checksum += b.n ? b.x[0] : 0;
        }
        double rate = (double)got / (unic_now() - t0);
        if (pass > 0 && rate > best) best = rate;
        fprintf(stderr, "pass %d: %lld images, %.1f images/s (checksum %g, skipped %lld)\n", pass,
                (long long)got, rate, checksum, (long long)unic_loader_skipped(l));
        unic_loader_free(l);
    }
    printf("unic_images_per_s=%.2f\n", best);
    free(order);
    unic_pipeline_free(p);
    unic_imageset_free(set);
    return 0;
}
