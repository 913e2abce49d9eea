/* The synthetic large run of bench/report.sh: a run folder as a 200-class,
 * 100,000-item ImageNet-like run leaves it, for `unic report` to render.
 *   report_bench DIR [CLASSES ITEMS EPOCHS IMAGES_PER_CLASS]
 * writes DIR/images/train/cNNN/img_NNN.jpg (photo-sized 320 x 240 RGB JPEGs with
 * shapes, gradients and noise, distinct per image), DIR/run/ with
 * config.resolved.ini (imagefolder over those images), predictions.csv
 * (ITEMS rows, index = row % images: the report only decodes the few
 * thousand it shows), history.csv (EPOCHS epochs, scored every epoch),
 * metrics.json, and neighbors/ with a Figure 4 CSV. Deterministic. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

static uint64_t state = 0x2026120600000001ULL;

static uint64_t next(void)
{
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 11;
}

static double uniform(void) { return (double)(next() & ((1ULL << 52) - 1)) / (double)(1ULL << 52); }

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* A class colour, then per image: a gradient, three filled ellipses and noise. */
static void draw(unsigned char *px, int w, int h, int cls)
{
    double hue = cls * 2.399963, base[3] = {128 + 90 * sin(hue), 128 + 90 * sin(hue + 2.1),
                                             128 + 90 * sin(hue + 4.2)};
    double gx = uniform() - 0.5, gy = uniform() - 0.5;
    double ex[3], ey[3], ea[3], eb[3], ec[3][3];
    for (int e = 0; e < 3; e++) {
        ex[e] = uniform() * w, ey[e] = uniform() * h;
        ea[e] = 20 + uniform() * 80, eb[e] = 15 + uniform() * 60;
        for (int k = 0; k < 3; k++) ec[e][k] = 255 * uniform();
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) {
                double v = base[k] + 80 * (gx * x / w + gy * y / h);
                for (int e = 0; e < 3; e++) {
                    double dx = (x - ex[e]) / ea[e], dy = (y - ey[e]) / eb[e];
                    if (dx * dx + dy * dy < 1) v = 0.3 * v + 0.7 * ec[e][k];
                }
                v += 24 * (uniform() - 0.5);
                px[((size_t)y * w + x) * 3 + k] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 6) {
        fprintf(stderr, "usage: report_bench DIR [CLASSES ITEMS EPOCHS IMAGES_PER_CLASS]\n");
        return 2;
    }
    const char *dir = argv[1];
    int k = argc == 6 ? atoi(argv[2]) : 200, items = argc == 6 ? atoi(argv[3]) : 100000;
    int epochs = argc == 6 ? atoi(argv[4]) : 100, per = argc == 6 ? atoi(argv[5]) : 20;
    if (k < 2 || k > 4096 || items < k || epochs < 1 || per < 1) return 2;
    char path[4096];
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/images", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/images/train", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/run", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/run/neighbors", dir);
    mkdir(path, 0777);
    /* the images: class folders c000.. in sorted order, per images each */
    const int w = 320, h = 240;
    unsigned char *px = malloc((size_t)w * h * 3);
    tjhandle tj = tjInitCompress();
    for (int c = 0; c < k; c++) {
        snprintf(path, sizeof path, "%s/images/train/c%03d", dir, c);
        mkdir(path, 0777);
        for (int i = 0; i < per; i++) {
            draw(px, w, h, c);
            unsigned char *jpeg = NULL;
            unsigned long n = 0;
            if (tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpeg, &n, TJSAMP_420, 90, 0) != 0) {
                fprintf(stderr, "report_bench: %s\n", tjGetErrorStr2(tj));
                return 1;
            }
            snprintf(path, sizeof path, "%s/images/train/c%03d/img_%03d.jpg", dir, c, i);
            write_file(path, jpeg, n);
            tjFree(jpeg);
        }
    }
    tjDestroy(tj);
    free(px);
    int images = k * per;
    snprintf(path, sizeof path, "%s/run/config.resolved.ini", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "; report_bench: a synthetic %d-class, %d-item run\n[data]\npath = %s/images\n"
            "format = imagefolder\nsplit = train\ntransform = resize(256, bicubic) center_crop(224)\n"
            "[backbone]\nplugin = vit\n[head]\nplugin = mlp\n[train]\nepochs = %d\n", k, items,
            dir, epochs);
    fclose(f);
    /* predictions: the item's class is its image's; 70% in the class's own
     * cluster (a permutation), the rest anywhere; confidences spread */
    snprintf(path, sizeof path, "%s/run/predictions.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "index,prediction,confidence,label\n");
    for (int i = 0; i < items; i++) {
        int index = i % images, label = index / per;
        int pred = uniform() < 0.7 ? (label * 37 + 11) % k : (int)(next() % (uint64_t)k);
        fprintf(f, "%d,%d,%.6f,%d\n", index, pred, 0.15 + 0.85 * uniform(), label);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/run/history.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "epoch,lr,objective,pos,neg,entropy,acc,nmi,ari,seconds\n");
    for (int e = 1; e <= epochs; e++)
        fprintf(f, "%d,%.9g,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f\n", e, 1e-4 * (1 + cos(M_PI * e / epochs)) / 2,
                -3.0 - log(e), 2.0 / (1 + e), 0.05 + 0.01 * uniform(), 5.2 - 0.1 * exp(-e / 20.0),
                0.7 - 0.3 * exp(-e / 15.0), 0.8 - 0.3 * exp(-e / 15.0), 0.55 - 0.3 * exp(-e / 15.0),
                600 + 20 * uniform());
    fclose(f);
    snprintf(path, sizeof path, "%s/run/metrics.json", dir);
    f = fopen(path, "w");
    fprintf(f, "{\"experiment\": \"report_bench\", \"task\": \"clustering\", \"samples\": %d, "
            "\"clusters\": %d, \"baseline\": {\"acc\": 0.55, \"nmi\": 0.7, \"ari\": 0.4, "
            "\"method\": \"kmeans\"}, \"unic\": {\"acc\": 0.7, \"nmi\": 0.8, \"ari\": 0.55}, "
            "\"seconds\": {\"embed_s\": 1800, \"mining_s\": 60, \"training_s\": %d}}\n", items, k,
            epochs * 600);
    fclose(f);
    snprintf(path, sizeof path, "%s/run/neighbors/fig4_union_threshold_tau1-50.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "eta,true_positive_rate,kept_fraction,kept_anchors\n");
    double kept = 0;
    for (int eta = 50; eta <= 1050; eta++) {
        kept += items * exp(-pow((eta - 400) / 150.0, 2)) / (150 * sqrt(M_PI));
        if (kept > items) kept = items;
        fprintf(f, "%d,%.6f,%.6f,%lld\n", eta, 0.9 - eta * 0.0003, kept / items, (long long)kept);
    }
    fclose(f);
    printf("%s/run: %d classes, %d items, %d epochs, %d JPEGs of %dx%d\n", dir, k, items, epochs,
           images, w, h);
    return 0;
}
