/* The mining cache (cache/neighbors-*.safetensors) as unic_knn reads it: a
 * genuine cache file for fixed embeddings is mined once, then each input
 * either flips bytes of it (first byte even: the rest is XORed in at the
 * offsets it names) or replaces it (odd). Whatever the file holds, the
 * results must be the exact neighbours: a damaged file is discarded and
 * mined again, never trusted. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include <dirent.h>

#include "base/log.h"
#include "mining/knn.h"

enum { N = 64, D = 4, K = 5 };

typedef struct cache_fixture {
    float x[N * D];
    int32_t exact[N * K];
    char dir[4200], file[4500];
    uint8_t *genuine;
    size_t size;
} cache_fixture;

static void find_cache_file(cache_fixture *f)
{
    DIR *d = opendir(f->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 12 && strcmp(e->d_name + len - 12, ".safetensors") == 0)
            snprintf(f->file, sizeof f->file, "%s/%s", f->dir, e->d_name);
    }
    if (d) closedir(d);
}

static cache_fixture *fixture(void)
{
    static cache_fixture *f;
    if (f) return f;
    f = calloc(1, sizeof *f);
    unic_log_set_quiet(1); /* each damaged input logs a warning */
    for (int i = 0; i < N * D; i++) f->x[i] = (float)((i * 7919) % 97) / 9.0f;
    snprintf(f->dir, sizeof f->dir, "%s/cache", fuzz_scratch_dir()); /* removed at exit */
    char err[512];
    unic_mine_input in = {N, D, f->x, NULL, NULL, UNIC_CPU};
    if (unic_knn(&in, K, f->exact, NULL, err, sizeof err) != 0) abort();
    in.cache_dir = f->dir;
    int32_t again[N * K];
    if (unic_knn(&in, K, again, NULL, err, sizeof err) != 0) abort();
    find_cache_file(f);
    f->genuine = fuzz_read_whole(f->file, &f->size);
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    cache_fixture *f = fixture();
    if (data[0] & 1) {
        fuzz_write_bytes(f->file, data + 1, size - 1);
    } else {
        uint8_t *bytes = malloc(f->size);
        memcpy(bytes, f->genuine, f->size);
        for (size_t i = 1; i + 2 < size; i += 3) /* (offset lo, offset hi, xor) triples */
            bytes[((size_t)data[i] | (size_t)data[i + 1] << 8) % f->size] ^= data[i + 2];
        fuzz_write_bytes(f->file, bytes, f->size);
        free(bytes);
    }
    int32_t got[N * K];
    char err[512];
    unic_mine_input in = {N, D, f->x, NULL, f->dir, UNIC_CPU};
    if (unic_knn(&in, K, got, NULL, err, sizeof err) != 0 || memcmp(got, f->exact, sizeof got))
        abort();
    return 0;
}
