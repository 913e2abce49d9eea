#include "helpers.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include "data/io.h"
#include "base/log.h"
#include "base/util.h"
#include "plugin/params.h"
#include "plugin/registry.h"
#include "unic/rng.h"

#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/wait.h>

/* Every temporary folder of a test run lives under one root, made before
 * the first test (the runner's TMPDIR, inherited by the forked tests and
 * the unic processes they start) and removed after the last, so a run
 * leaves nothing in /tmp whichever test failed or crashed. */
static char test_root[4096];

ReportHook(PRE_ALL)(struct criterion_test_set *tests)
{
    (void)tests;
    const char *base = getenv("TMPDIR");
    snprintf(test_root, sizeof test_root, "%s/unic-tests-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(test_root)) {
        perror("mkdtemp");
        abort();
    }
    setenv("TMPDIR", test_root, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    if (test_root[0]) test_remove_tree(test_root);
}

void test_remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

char *test_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/unic-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        abort();
    }
    return strdup(tmpl);
}

char *test_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size) {
        perror(path);
        abort();
    }
    fclose(f);
}

void test_write_text(const char *path, const char *text) { test_write_file(path, text, strlen(text)); }

char *test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    if (size) *size = got;
    return buf;
}

char *test_fixture(const char *name) { return test_path(UNIC_SOURCE_DIR "/tests/fixtures", name); }

double test_rel_err(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num) / fmax(sqrt(den), 1e-30);
}

char *test_run(const char *cmd, int *status)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) abort();
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 4096) out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    int st = pclose(p);
    if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

unic_registry *test_builtin_registry(void)
{
    char err[2048];
    unic_registry *r = unic_registry_new();
    if (unic_registry_load_dir(r, UNIC_PLUGIN_DIR, err, sizeof err) != 0) {
        fprintf(stderr, "cannot load the build's plugins: %s\n", err);
        abort();
    }
    /* a skipped built-in is a bug of the build, not a user's broken file */
    if (unic_registry_failure_count(r) != 0) {
        fprintf(stderr, "a plugin of the build failed to load: %s: %s\n",
                unic_registry_failure_file(r, 0), unic_registry_failure_reason(r, 0));
        abort();
    }
    return r;
}

test_component test_create(struct unic_registry *reg, unic_kind kind, const char *name,
                           const char *const *kv, char *err, size_t errlen)
{
    test_component r = {0};
    r.c = unic_registry_find(reg, kind, name, err, errlen);
    if (!r.c) {
        fprintf(stderr, "test_create: %s\n", err);
        abort();
    }
    r.p = unic_params_new();
    unic_params_add_table(r.p, r.c->params);
    for (int i = 0; kv[i]; i += 2)
        if (unic_params_set(r.p, kv[i], kv[i + 1], err, errlen) != 0) {
            fprintf(stderr, "test_create: %s\n", err);
            abort();
        }
    r.state = r.c->create(r.p, err, errlen);
    return r;
}

void test_destroy(test_component *r)
{
    if (r->state) r->c->destroy(r->state);
    unic_params_free(r->p);
    r->state = NULL;
    r->p = NULL;
}

char *test_altered_checkpoint(const char *fixture, const char *dir, const char *name,
                              const char *drop_name, const char *reshape_name, int64_t rows,
                              int64_t cols)
{
    char err[1024] = "";
    char *src = test_fixture(fixture), *dst = test_path(dir, name);
    unic_safetensors *st;
    if (unic_safetensors_open(src, &st, err, sizeof err) != 0) {
        fprintf(stderr, "test_altered_checkpoint: %s\n", err);
        abort();
    }
    unic_array *keep = calloc((size_t)st->count, sizeof *keep);
    int n = 0;
    for (int i = 0; i < st->count; i++) {
        if (drop_name && strcmp(st->tensors[i].name, drop_name) == 0) continue;
        keep[n] = st->tensors[i];
        if (reshape_name && strcmp(st->tensors[i].name, reshape_name) == 0) {
            if (unic_array_numel(&keep[n]) != rows * cols) {
                fprintf(stderr, "test_altered_checkpoint: %s has not %lld elements\n",
                        reshape_name, (long long)(rows * cols));
                abort();
            }
            keep[n].ndim = 2;
            keep[n].shape[0] = rows;
            keep[n].shape[1] = cols;
        }
        n++;
    }
    if (unic_safetensors_write(dst, keep, n, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "test_altered_checkpoint: %s\n", err);
        abort();
    }
    free(keep);
    unic_safetensors_close(st);
    free(src);
    return dst;
}

static FILE *captured;

void test_log_capture_start(void)
{
    captured = tmpfile();
    if (!captured) {
        perror("tmpfile");
        abort();
    }
    unic_log_set_file(captured);
}

char *test_log_capture_end(void)
{
    unic_log_set_file(NULL);
    long size = ftell(captured);
    char *text = calloc((size_t)size + 1, 1);
    rewind(captured);
    if (size > 0 && fread(text, 1, (size_t)size, captured) != (size_t)size) text[0] = 0;
    fclose(captured);
    captured = NULL;
    return text;
}

float *test_clustered_points(int n, int d, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)n * d);
    unic_rng g = unic_rng_stream(seed, 1, 1);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++)
            x[i * d + c] = 50.0f + 10.0f * (float)(i % 7 == c % 7) + 0.01f * unic_rng_uniform(&g);
    for (int i = 0; i < n; i += 13) memcpy(x + (i + 1) % n * d, x + i * d, sizeof(float) * d);
    return x;
}

uint8_t *test_jpeg_with_frame_size(const uint8_t *jpg, size_t n, int w, int h)
{
    uint8_t *copy = malloc(n);
    memcpy(copy, jpg, n);
    for (size_t i = 2; i + 9 < n; i++) {
        if (copy[i] == 0xFF && copy[i + 1] >= 0xC0 && copy[i + 1] <= 0xC2) {
            copy[i + 5] = (uint8_t)(h >> 8), copy[i + 6] = (uint8_t)h;
            copy[i + 7] = (uint8_t)(w >> 8), copy[i + 8] = (uint8_t)w;
            return copy;
        }
    }
    free(copy);
    cr_assert_fail("no SOF0/1/2 frame header in the JPEG");
    return NULL;
}

int test_files_ending(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += unic_ends_with(e->d_name, suffix);
    if (d) closedir(d);
    return n;
}

void test_need_fashion_mnist(void)
{
    if (access(TEST_FMNIST "t10k-images-idx3-ubyte.gz", R_OK) != 0)
        cr_skip_test("Debian's dataset-fashion-mnist is not installed (apt-get install "
                     "dataset-fashion-mnist)");
}
