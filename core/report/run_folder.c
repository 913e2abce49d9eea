#include "report/run_folder.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/textfile.h"
#include "base/util.h"
#include "experiment/experiment.h"

#define LOG_TAIL_BYTES 16384
#define SKIPPED_HEAD_LINES 20

void unic_run_folder_note(unic_run_folder *f, const char *fmt, ...)
{
    if (f->nnotes >= UNIC_REPORT_MAX_NOTES) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    f->notes[f->nnotes++] = unic_xstrdup(buf);
}

static void path_of(const unic_run_folder *f, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", f->dir, name);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

const char *unic_run_folder_data(const unic_run_folder *f, const char *key)
{
    const char *v = f->cfg ? unic_config_get(f->cfg, "data", key) : NULL;
    return v ? v : "";
}

const char *unic_run_folder_metric(const unic_run_folder *f, int i)
{
    static const char *clu[] = {"acc", "nmi", "ari"}, *gcd[] = {"all", "old", "new"};
    return f->gcd ? gcd[i] : clu[i];
}

static void load_config(unic_run_folder *f)
{
    char path[2300], err[2048];
    path_of(f, "config.resolved.ini", path, sizeof path);
    if (unic_read_text_file(path, "resolved configuration", UNIC_MAX_TEXT_FILE_BYTES,
                            &f->config_text, err, sizeof err) != 0) {
        f->config_text = NULL;
        unic_run_folder_note(f, "%s: the configuration, the data set summary and the "
                             "thumbnails are left out", err);
        return;
    }
    if (unic_config_load(path, &f->cfg, err, sizeof err) != 0) {
        f->cfg = NULL;
        unic_run_folder_note(f, "%s: the data set summary and the thumbnails are left out", err);
        return;
    }
    const char *old = unic_run_folder_data(f, "old_classes");
    if (*old) {
        int count;
        if (unic_parse_class_list(old, f->is_old, UNIC_MAX_CLASSES, &count, err, sizeof err) == 0)
            f->gcd = 1;
        else
            unic_run_folder_note(f, "%s: [data] old_classes: %s; old and new classes are not "
                                 "marked", path, err);
    }
}

/* A number under key in o; 0 when absent or of another type. */
static int number(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return 0;
    *out = v->valuedouble;
    return 1;
}

static int read_scores(const unic_run_folder *f, const cJSON *o, double s[3])
{
    int got = 0;
    for (int i = 0; i < 3; i++) got += number(o, unic_run_folder_metric(f, i), &s[i]);
    return got == 3;
}

static void load_metrics(unic_run_folder *f)
{
    char path[2300], err[2048], *text;
    path_of(f, "metrics.json", path, sizeof path);
    if (unic_read_text_file(path, "metrics", UNIC_MAX_TEXT_FILE_BYTES, &text, err, sizeof err)) {
        unic_run_folder_note(f, "%s: %s; the final scores and timings are left out (a run "
                             "writes it when it finishes)", path,
                             errno == ENOENT ? "missing" : err);
        return;
    }
    f->metrics = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(f->metrics)) {
        cJSON_Delete(f->metrics);
        f->metrics = NULL;
        unic_run_folder_note(f, "%s: not a JSON object; the final scores and timings are left "
                             "out", path);
        return;
    }
    const cJSON *task = cJSON_GetObjectItem(f->metrics, "task");
    if (cJSON_IsString(task) && strcmp(task->valuestring, "gcd") == 0) f->gcd = 1;
    const cJSON *name = cJSON_GetObjectItem(f->metrics, "experiment");
    if (cJSON_IsString(name) && *name->valuestring) {
        free(f->name);
        f->name = unic_xstrdup(name->valuestring);
    }
    double v;
    if (number(f->metrics, "samples", &v) && v >= 0 && v < 1e15) f->samples = (int64_t)v;
    if (number(f->metrics, "clusters", &v) && v >= 1 && v <= UNIC_MAX_CLASSES) f->clusters = (int)v;
    const cJSON *unic = cJSON_GetObjectItem(f->metrics, "unic");
    const cJSON *base = cJSON_GetObjectItem(f->metrics, "baseline");
    f->has_scores = cJSON_IsObject(unic) && read_scores(f, unic, f->final);
    f->has_baseline = cJSON_IsObject(base) && read_scores(f, base, f->baseline);
    const cJSON *method = cJSON_GetObjectItem(base, "method");
    f->baseline_method = unic_xstrdup(cJSON_IsString(method) ? method->valuestring
                                      : f->gcd ? "ss-kmeans" : "kmeans");
    const cJSON *t = cJSON_GetObjectItem(f->metrics, "seconds");
    static const char *keys[] = {"embed_s", "mining_s", "training_s"};
    for (int i = 0; i < 3; i++)
        if (!number(t, keys[i], &f->seconds[i])) f->seconds[i] = NAN;
    if (!f->has_scores)
        unic_run_folder_note(f, "%s: no final scores (the data set has no labels, or the run "
                             "did not finish)", path);
}

static void load_predictions(unic_run_folder *f)
{
    char path[2300], err[4096];
    path_of(f, "predictions.csv", path, sizeof path);
    if (!exists(path)) {
        unic_run_folder_note(f, "%s: missing; the confusion matrix and the clusters' mosaics "
                             "are left out (a run writes it when it finishes)", path);
        return;
    }
    if (unic_predictions_read(path, &f->pred, err, sizeof err) != 0) {
        memset(&f->pred, 0, sizeof f->pred);
        unic_run_folder_note(f, "%s; the confusion matrix and the clusters' mosaics are left "
                             "out", err);
        return;
    }
    int32_t top = 0;
    for (int64_t i = 0; i < f->pred.n; i++) top = f->pred.prediction[i] > top ? f->pred.prediction[i] : top;
    if (f->clusters < top + 1) f->clusters = top + 1;
    if (!f->pred.label)
        unic_run_folder_note(f, "%s: no 'label' column; the confusion matrix and the mistakes "
                             "are left out", path);
}

/* The last LOG_TAIL_BYTES of log.txt, from the first whole line. */
static void load_log(unic_run_folder *f)
{
    char path[2300];
    path_of(f, "log.txt", path, sizeof path);
    FILE *in = fopen(path, "rb");
    if (!in) {
        unic_run_folder_note(f, "%s: missing; the log is left out", path);
        return;
    }
    struct stat st;
    if (fstat(fileno(in), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(in);
        unic_run_folder_note(f, "%s: not a regular file; the log is left out", path);
        return;
    }
    long from = st.st_size > LOG_TAIL_BYTES ? (long)(st.st_size - LOG_TAIL_BYTES) : 0;
    fseek(in, from, SEEK_SET);
    char *buf = unic_xmalloc(LOG_TAIL_BYTES + 1);
    size_t n = fread(buf, 1, LOG_TAIL_BYTES, in);
    fclose(in);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++) /* a NUL would end the text early */
        if (!buf[i]) buf[i] = ' ';
    char *start = buf;
    if (from > 0) {
        char *nl = strchr(buf, '\n');
        start = nl ? nl + 1 : buf;
    }
    f->log_tail = unic_xstrdup(start);
    unic_xfree(buf);
}

static void load_skipped(unic_run_folder *f)
{
    char path[2300], err[2048], *text;
    path_of(f, "skipped.txt", path, sizeof path);
    if (!exists(path)) return;
    if (unic_read_text_file(path, "list of skipped images", UNIC_MAX_TEXT_FILE_BYTES, &text, err,
                            sizeof err) != 0) {
        unic_run_folder_note(f, "%s", err);
        return;
    }
    size_t head = 0;
    for (char *p = text; *p; p++)
        if (*p == '\n') {
            if (f->skipped++ == SKIPPED_HEAD_LINES - 1) head = (size_t)(p - text) + 1;
        }
    size_t len = strlen(text);
    if (len && text[len - 1] != '\n') f->skipped++;
    if (head) text[head] = '\0';
    f->skipped_head = unic_xstrdup(text);
    free(text);
}

int unic_run_folder_load(const char *dir, unic_run_folder *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return unic_errf(err, errlen, "%s: not a folder (give a run folder, e.g. runs/quickstart, "
                         "or a grid folder)", dir);
    f->dir = unic_xstrdup(dir);
    const char *base = strrchr(dir, '/');
    while (base && !base[1] && base > dir) { /* a trailing slash */
        const char *b = base - 1;
        while (b > dir && *b != '/') b--;
        base = b;
    }
    f->name = unic_xstrdup(base && base[1] ? base + 1 : dir);
    char *slash = strchr(f->name, '/');
    if (slash) *slash = '\0';
    f->samples = -1;
    for (int i = 0; i < 3; i++) f->seconds[i] = NAN;
    static const char *any[] = {"config.resolved.ini", "metrics.json", "history.csv",
                                "predictions.csv", "log.txt"};
    int found = 0;
    for (int i = 0; i < 5; i++) {
        char path[2300];
        path_of(f, any[i], path, sizeof path);
        found += exists(path);
    }
    if (!found) {
        unic_errf(err, errlen, "%s holds none of a run's files (config.resolved.ini, "
                  "metrics.json, history.csv, predictions.csv, log.txt): is it a run folder?",
                  dir);
        unic_run_folder_free(f);
        return -1;
    }
    load_config(f);
    load_metrics(f);
    char msg[4096];
    if (unic_history_load(dir, &f->history, msg, sizeof msg) != 0) {
        memset(&f->history, 0, sizeof f->history);
        unic_run_folder_note(f, "%s; the training curves are left out", msg);
    } else if (f->history.rows == 0) {
        unic_run_folder_note(f, "%s/history.csv: missing or empty; the training curves are "
                             "left out (a run rewrites it after every epoch)", dir);
    }
    load_predictions(f);
    load_log(f);
    load_skipped(f);
    return 0;
}

void unic_run_folder_free(unic_run_folder *f)
{
    free(f->dir);
    free(f->name);
    free(f->config_text);
    if (f->cfg) unic_config_free(f->cfg);
    cJSON_Delete(f->metrics);
    free(f->baseline_method);
    unic_history_free(&f->history);
    unic_predictions_free(&f->pred);
    free(f->log_tail);
    free(f->skipped_head);
    for (int i = 0; i < f->nnotes; i++) free(f->notes[i]);
    memset(f, 0, sizeof *f);
}
