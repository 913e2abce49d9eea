/* Peak memory of unic's loader, for bench/loader_memory.sh.
 *   loader_memory make ROOT N W H baseline|progressive 420|444
 *       writes N photo-like W x H JPEGs (smooth colour fields, edges and
 *       sensor-like noise, quality 90) into ROOT/c0/
 *   loader_memory run ROOT "PIPELINE" THREADS
 *       one pass of the loader (batches of 16) over ROOT as `unic` runs it
 *       (libjpeg's memory limit set as in main()); prints the process's
 *       peak resident memory (VmHWM) and the loader's batch slots */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "base/util.h"
#include "data/image.h"
#include "data/imagesets.h"
#include "data/loader.h"

static long long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') kb = atoll(line + n + 1);
    if (f) fclose(f);
    return kb;
}

static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    return x ^ (x >> 16);
}

static int make(const char *root, int n, int w, int h, int progressive, int samp)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/c0", root);
    mkdir(root, 0755);
    mkdir(dir, 0755);
    uint8_t *px = malloc((size_t)w * h * 3);
    tjhandle tj = tjInitCompress();
    for (int k = 0; k < n; k++) {
        /* three slow waves per channel, a few hard-edged discs, noise of +-6 */
        double a[3], b[3], ph[3];
        for (int c = 0; c < 3; c++) {
            a[c] = (mix(k * 9 + c) % 1000) / 500.0 - 1;
            b[c] = (mix(k * 9 + c + 3) % 1000) / 500.0 - 1;
            ph[c] = (mix(k * 9 + c + 6) % 1000) / 160.0;
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int disc = 0;
                for (int d = 0; d < 6; d++) {
                    long cx = mix(k * 31 + d) % w, cy = mix(k * 37 + d) % h, r = w / 12;
                    if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r) disc = d + 1;
                }
                for (int c = 0; c < 3; c++) {
                    double v = disc ? (mix(k * 41 + disc * 3 + c) & 255)
                                    : 128 + 80 * __builtin_sin(a[c] * x / 600.0 +
                                                               b[c] * y / 450.0 + ph[c]);
                    v += (int)(mix((uint32_t)((y * w + x) * 3 + c) ^ (uint32_t)k) % 13) - 6;
                    px[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        unsigned char *jpg = NULL;
        unsigned long size = 0;
        if (tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpg, &size, samp, 90,
                        progressive ? TJFLAG_PROGRESSIVE : 0) != 0) {
            fprintf(stderr, "%s\n", tjGetErrorStr2(tj));
            return 1;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/img_%03d.jpg", dir, k);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(jpg, 1, size, f) != size || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        tjFree(jpg);
    }
    tjDestroy(tj);
    free(px);
    return 0;
}

static int run(const char *root, const char *spec, int threads)
{
    char err[2048];
    if (unic_jpeg_memory_limit_init(err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    unic_imageset *set;
    if (unic_imageset_open("imagefolder", root, "", "", "", &set, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    unic_pipeline *p = unic_pipeline_parse(spec, err, sizeof err);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int64_t n = unic_imageset_size(set);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    long long before = status_kb("VmHWM");
    double t0 = unic_now();
    unic_loader *l = unic_loader_new(set, p, order, n, 16, threads, 0, 0, err, sizeof err);
    if (!l) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int c, h, w;
    unic_loader_shape(l, &c, &h, &w);
    unic_batch b;
    int64_t got = 0;
    while (unic_loader_next(l, &b)) got += b.n;
    /* the loader's window: at least 3 batches, see unic_loader_new */
    int64_t want = 1 + (2 * (int64_t)threads + 15) / 16, nb = (n + 15) / 16;
    int64_t slots = want < 3 ? 3 : want;
    if (slots > nb) slots = nb;
    printf("images=%lld skipped=%lld seconds=%.2f hwm_before_kb=%lld hwm_kb=%lld slots_kb=%lld\n",
           (long long)got, (long long)unic_loader_skipped(l), unic_now() - t0, before,
           status_kb("VmHWM"), (long long)(slots * 16 * c * h * w * 4 / 1024));
    unic_loader_free(l);
    free(order);
    unic_pipeline_free(p);
    unic_imageset_free(set);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 8 && strcmp(argv[1], "make") == 0)
        return make(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                    strcmp(argv[6], "progressive") == 0,
                    strcmp(argv[7], "444") == 0 ? TJSAMP_444 : TJSAMP_420);
    if (argc == 5 && strcmp(argv[1], "run") == 0) return run(argv[2], argv[3], atoi(argv[4]));
    fprintf(stderr, "usage: loader_memory make ROOT N W H baseline|progressive 420|444\n"
                    "       loader_memory run ROOT PIPELINE THREADS\n");
    return 2;
}
