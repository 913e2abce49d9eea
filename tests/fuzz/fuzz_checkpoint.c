/* Run checkpoints as `unic run --resume` reads them (unic_checkpoint_load
 * into the model's tensors). A genuine checkpoint of two small tensors with
 * their Adam moments is written once into the harness's scratch folder;
 * each input either flips bytes of it (first byte even: the rest is XORed in
 * at the offsets it names, as (offset lo, offset hi, xor) triples) or
 * replaces it (odd: the rest is the file). Whatever the file holds:
 * - a refusal names the file;
 * - a success gives an epoch and step within their bounds, the config and
 *   history strings, and finite values;
 * - a success on flipped bytes gives exactly the values that were saved:
 *   a damaged tensor is refused by its checksum, never loaded. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include <math.h>

#include "base/limits.h"
#include "ops/ops.h"
#include "train/checkpoint.h"

enum { NT = 2 };

typedef struct ckpt_fixture {
    char path[4300];
    unic_ckpt_tensor t[NT];
    float *saved[NT][3]; /* value, m, v as saved */
    uint8_t *genuine;
    size_t size;
} ckpt_fixture;

static unic_tensor **part(unic_ckpt_tensor *t, int w)
{
    return w == 0 ? &t->value : w == 1 ? &t->m : &t->v;
}

static ckpt_fixture *fixture(void)
{
    static ckpt_fixture *f;
    if (f) return f;
    f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s/checkpoint.safetensors", fuzz_scratch_dir());
    const char *names[NT] = {"head.fc1.weight", "head.fc1.bias"};
    const int64_t shapes[NT][2] = {{4, 3}, {3, 0}};
    for (int i = 0; i < NT; i++) {
        snprintf(f->t[i].name, sizeof f->t[i].name, "%s", names[i]);
        for (int w = 0; w < 3; w++) {
            unic_tensor *x = unic_tensor_new(UNIC_CPU, shapes[i][1] ? 2 : 1, shapes[i]);
            int64_t n = unic_numel(x);
            f->saved[i][w] = malloc((size_t)n * sizeof(float));
            for (int64_t k = 0; k < n; k++)
                f->saved[i][w][k] = ((float *)x->data)[k] =
                    w == 2 ? 0.01f * (float)(k + 1) : (float)(i * 10 + k) / 7.0f - (float)w;
            *part(&f->t[i], w) = x;
        }
    }
    unic_ckpt_meta meta = {3, 12, "[data]\npath = x.npy\n", "[{\"epoch\": 1}]"};
    char err[512];
    if (unic_checkpoint_save(f->path, f->t, NT, &meta, err, sizeof err) != 0) abort();
    f->genuine = fuzz_read_whole(f->path, &f->size);
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    ckpt_fixture *f = fixture();
    int flipped = !(data[0] & 1);
    if (flipped) {
        uint8_t *bytes = malloc(f->size);
        memcpy(bytes, f->genuine, f->size);
        for (size_t i = 1; i + 2 < size; i += 3)
            bytes[((size_t)data[i] | (size_t)data[i + 1] << 8) % f->size] ^= data[i + 2];
        fuzz_write_bytes(f->path, bytes, f->size);
        free(bytes);
    } else {
        fuzz_write_bytes(f->path, data + 1, size - 1);
    }
    /* sentinels: a success must overwrite every element */
    for (int i = 0; i < NT; i++)
        for (int w = 0; w < 3; w++) {
            unic_tensor *x = *part(&f->t[i], w);
            for (int64_t k = 0; k < unic_numel(x); k++) ((float *)x->data)[k] = NAN;
        }
    int epoch = -1;
    int64_t step = -1;
    char *config = NULL, *history = NULL, err[1024] = "";
    int rc = unic_checkpoint_load(f->path, f->t, NT, &epoch, &step, &config, &history, err,
                                  sizeof err);
    if (rc != 0) {
        if (!strstr(err, f->path)) abort(); /* a refusal names the file */
        return 0;
    }
    if (epoch < 0 || epoch > UNIC_MAX_EPOCHS || step < 0 || !config || !history) abort();
    for (int i = 0; i < NT; i++)
        for (int w = 0; w < 3; w++) {
            unic_tensor *x = *part(&f->t[i], w);
            const float *got = x->data;
            for (int64_t k = 0; k < unic_numel(x); k++) {
                if (!isfinite(got[k])) abort();
                if (flipped && got[k] != f->saved[i][w][k]) abort();
            }
        }
    free(config);
    free(history);
    return 0;
}
