/* A run folder as `unic report` reads it: a valid small folder with one of
 * its files (chosen by the first byte: config.resolved.ini, metrics.json,
 * history.csv, predictions.csv, skipped.txt, the neighbour analysis's
 * Figure 4 CSV, or the class names file given to the report) replaced by
 * the rest of the input. Whatever the bytes, the report ends in a page
 * (with a note on what it could not read) or a clean error. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include <sys/stat.h>

#include "report/report.h"

static char run_dir[4400], nb_dir[4500], names_path[4500], page[4600];

static void put(const char *dir, const char *name, const void *data, size_t n)
{
    char path[4700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) abort();
}

static void put_text(const char *dir, const char *name, const char *text)
{
    put(dir, name, text, strlen(text));
}

static void make_folder(void)
{
    snprintf(run_dir, sizeof run_dir, "%s/run", fuzz_scratch_dir());
    snprintf(nb_dir, sizeof nb_dir, "%s/neighbors", run_dir);
    snprintf(names_path, sizeof names_path, "%s/names.txt", fuzz_scratch_dir());
    snprintf(page, sizeof page, "%s/report.html", fuzz_scratch_dir());
    mkdir(run_dir, 0755);
    mkdir(nb_dir, 0755);
    put_text(run_dir, "config.resolved.ini",
             "[data]\npath = features.npy\nformat = auto\nold_classes = 0-1\n[backbone]\n"
             "plugin = features\n[train]\nepochs = 2\n");
    put_text(run_dir, "metrics.json",
             "{\"experiment\": \"f\", \"task\": \"gcd\", \"samples\": 6, \"clusters\": 3, "
             "\"baseline\": {\"all\": 0.5, \"old\": 0.5, \"new\": 0.5, \"method\": \"ss-kmeans\"}, "
             "\"unic\": {\"all\": 0.6, \"old\": 0.7, \"new\": 0.5}, \"seconds\": {\"embed_s\": 1, "
             "\"mining_s\": 2, \"training_s\": 3}}");
    put_text(run_dir, "history.csv", "epoch,lr,objective,pos,all,old,new,seconds\n"
                                     "1,0.1,-1,0.5,,,,1\n2,0.1,-2,0.4,0.6,0.7,0.5,1\n");
    put_text(run_dir, "predictions.csv", "index,prediction,confidence,label,labeled\n"
                                         "0,0,0.9,0,1\n1,1,0.8,1,0\n2,2,0.7,2,0\n3,0,0.6,1,0\n"
                                         "4,1,0.5,2,0\n5,2,0.4,2,0\n");
    put_text(run_dir, "skipped.txt", "a.jpg: truncated\n");
    put_text(nb_dir, "fig4_union_threshold_tau1-10.csv",
             "eta,true_positive_rate,kept_fraction,kept_anchors\n10,1,0.5,3\n12,0.9,1,6\n");
    put_text(fuzz_scratch_dir(), "names.txt", "zero\none\ntwo\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    make_folder();
    static const char *files[] = {"config.resolved.ini", "metrics.json", "history.csv",
                                  "predictions.csv", "skipped.txt",
                                  "fig4_union_threshold_tau1-10.csv", "names.txt"};
    int which = data[0] % 7;
    const char *dir = which == 5 ? nb_dir : which == 6 ? fuzz_scratch_dir() : run_dir;
    put(dir, files[which], data + 1, size - 1);
    unic_report_options o = {page, names_path, 60, 0};
    char path[4700], err[8192];
    unic_report_write(run_dir, &o, path, sizeof path, err, sizeof err);
    return 0;
}
