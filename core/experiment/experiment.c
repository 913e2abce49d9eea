#include "experiment/experiment.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/util.h"
#include "data/image.h"

const unic_param_spec unic_data_spec[] = {
    {"path", UNIC_STRING, "", "training data: a .npy / .safetensors matrix or IDX file, or the "
                              "root of an image dataset", NULL},
    {"format", UNIC_CHOICE, "auto", "auto (by extension: npy, safetensors, IDX as arrays) or an "
                                    "image dataset read through the loader",
     "auto|npy|safetensors|idx|idx_images|imagefolder|stl10|cifar10|cub200"},
    {"split", UNIC_STRING, "train", "image datasets: the split to train on (imagefolder: a "
                                    "subfolder if it exists)", NULL},
    {"eval_split", UNIC_STRING, "", "image datasets: evaluate on this split of the same root "
                                    "(e.g. test); empty = the training set", NULL},
    {"class_list", UNIC_STRING, "", "imagefolder: keep the classes listed in this file, in its "
                                    "order (experiments/splits/)", NULL},
    {"transform", UNIC_STRING, "", "image datasets: the test-time pipeline that feeds the "
                                   "backbone, e.g. resize(256, bicubic) center_crop(224) "
                                   "normalize(imagenet)", NULL},
    {"train_transform", UNIC_STRING, "", "image datasets: the training-time pipeline, used when "
                                         "the backbone trains", NULL},
    {"tensor", UNIC_STRING, "embeddings", "tensor to read from a safetensors file", NULL},
    {"labels", UNIC_STRING, "", "labels file (.npy, IDX, safetensors, text); only for evaluation "
                                "and the labeled GCD subset", NULL},
    {"limit", UNIC_INT, "0", "use only the first N samples (0 = all)", NULL},
    {"max_pixels", UNIC_INT, "178956970", "image formats: refuse (skip and list) an image whose "
     "width x height exceeds this, from its header, before decoding, or that a transform step "
     "would make larger (PIL's bomb limit; 0 = none)",
     NULL},
    {"eval_path", UNIC_STRING, "", "held-out evaluation set (clustering); empty = evaluate on the "
                                   "training set", NULL},
    {"eval_labels", UNIC_STRING, "", "labels of the evaluation set", NULL},
    {"classes", UNIC_INT, "0", "number of clusters K (0 = the number of label values)", NULL},
    {"old_classes", UNIC_STRING, "", "GCD: known classes, e.g. 0-4 or 0,2,5, or a split file "
                                     "with 'old N' lines such as experiments/splits/"
                                     "cub200_ssb.txt (empty = clustering)", NULL},
    {"labeled_fraction", UNIC_FLOAT, "0.5", "GCD: fraction of old-class samples that are labeled", NULL},
    {"split_seed", UNIC_INT, "0", "GCD: seed of the labeled subset", NULL},
    {NULL},
};

const unic_param_spec unic_train_spec[] = {
    {"epochs", UNIC_INT, "100", "passes over the anchors (paper: 100)", NULL},
    {"batch_size", UNIC_INT, "128", "anchors per step, each with a positive and a negative (A.10)", NULL},
    {"lr", UNIC_FLOAT, "1e-4", "Adam learning rate, cosine-annealed over the epochs (3.4)", NULL},
    {"lr_min", UNIC_FLOAT, "0", "learning rate the cosine schedule ends at", NULL},
    {"weight_decay", UNIC_FLOAT, "0", "Adam L2 weight decay", NULL},
    {"beta1", UNIC_FLOAT, "0.9", "Adam beta1", NULL},
    {"beta2", UNIC_FLOAT, "0.999", "Adam beta2", NULL},
    {"adam_eps", UNIC_FLOAT, "1e-8", "Adam epsilon", NULL},
    {"seed", UNIC_INT, "0", "seed of initialisation, shuffling and neighbour sampling", NULL},
    {"threads", UNIC_INT, "0", "CPU threads (0 = all cores)", NULL},
    {"device", UNIC_CHOICE, "cpu",
     "where the head trains and neighbours are mined (a backbone has its own device key)",
     "cpu|cuda"},
    {"balance_labeled", UNIC_BOOL, "true", "GCD: draw anchors half labeled, half unlabeled", NULL},
    {"checkpoint_every", UNIC_INT, "1", "write a checkpoint every N epochs", NULL},
    {"out", UNIC_STRING, "", "run folder (default runs/<experiment name>)", NULL},
    {NULL},
};

const unic_param_spec unic_eval_spec[] = {
    {"every", UNIC_INT, "1", "evaluate every N epochs (0 = only at the end)", NULL},
    {"kmeans", UNIC_BOOL, "true", "score the k-means (GCD: semi-supervised k-means) baseline", NULL},
    {"kmeans_restarts", UNIC_INT, "10", "k-means restarts (sklearn's n_init)",
     "1.." UNIC_STR(UNIC_MAX_KMEANS_RESTARTS)},
    {"kmeans_max_iter", UNIC_INT, "300", "k-means iterations per restart",
     "1.." UNIC_STR(UNIC_MAX_KMEANS_ITER)},
    {"kmeans_seed", UNIC_INT, "0", "k-means seed", NULL},
    {"save_embeddings", UNIC_BOOL, "true", "write the training embeddings and labels to "
                                           "embeddings.safetensors (for `unic neighbors RUN`)", NULL},
    {NULL},
};

static const unic_param_spec plugin_key[] = {
    {"plugin", UNIC_STRING, "", "the component's name (see `unic plugins`)", NULL},
    {NULL},
};

static const unic_param_spec miner_keys[] = {
    {"plugin", UNIC_STRING, "", "the component's name (see `unic plugins`)", NULL},
    {"scope", UNIC_CHOICE, "all", "anchors this miner serves", "all|labeled|unlabeled"},
    {NULL},
};

/* The head's core keys: how many outputs it has, or how to estimate that. */
const unic_param_spec unic_head_spec[] = {
    {"plugin", UNIC_STRING, "", "the component's name (see `unic plugins`)", NULL},
    {"classes", UNIC_STRING, "", "outputs K: a number (more than the classes overclusters), "
                                 "auto (estimated in classes_min..classes_max before training), "
                                 "or empty for [data] classes", NULL},
    {"classes_min", UNIC_INT, "0", "classes = auto: smallest K tried (0 = 2, or the number of old "
                                   "classes in GCD)", "0.." UNIC_STR(UNIC_MAX_CLASSES)},
    {"classes_max", UNIC_INT, "0", "classes = auto: largest K tried (0 = 50, at most the number of "
                                   "items)", "0.." UNIC_STR(UNIC_MAX_CLASSES)},
    {"estimate", UNIC_CHOICE, "auto", "criterion of the estimate: auto (gcd with [data] old_classes, else "
                                      "eigengap), silhouette, eigengap, calinski, gcd",
     "auto|silhouette|eigengap|calinski|gcd"},
    {"estimate_holdout", UNIC_FLOAT, "0.5", "gcd: share of the old classes held out whole, and of "
                                            "the other classes' labeled items", "0..1"},
    {"estimate_restarts", UNIC_INT, "4", "k-means runs per K (the first warm-started from the "
                                         "previous K)", "1.." UNIC_STR(UNIC_MAX_KMEANS_RESTARTS)},
    {"estimate_knn", UNIC_INT, "0", "eigengap: neighbours per item (0 = the knn miner's tau1, "
                                    "else 10)", "0..100000"},
    {NULL},
};

static const char *fixed_sections[] = {"data", "backbone", "head", "train", "eval", "grid", "table"};

static void slot_free(unic_slot *s)
{
    free(s->section);
    unic_params_free(s->params);
    free(s->owned_spec);
    memset(s, 0, sizeof *s);
}

void unic_experiment_free(unic_experiment *x)
{
    unic_config_free(x->cfg);
    free(x->name);
    unic_params_free(x->data);
    unic_params_free(x->train);
    unic_params_free(x->eval);
    slot_free(&x->backbone);
    slot_free(&x->head);
    for (int i = 0; i < x->nminers; i++) slot_free(&x->miners[i]);
    for (int i = 0; i < x->nlosses; i++) slot_free(&x->losses[i]);
    memset(x, 0, sizeof *x);
}

/* Copies a section's keys into params, each checked; unknown keys get the
 * closest valid name. */
static int fill(const unic_config *cfg, const char *section, unic_params *p, const char *what,
                char *err, size_t errlen)
{
    const char *keys[256];
    int n = unic_config_keys(cfg, section, keys, 256);
    char where[1200], msg[512];
    for (int i = 0; i < n; i++) {
        const char *v = unic_config_get(cfg, section, keys[i]);
        if (!unic_params_spec(p, keys[i])) {
            const char *names[256];
            char close[512];
            int m = unic_params_names(p, names, 256);
            unic_suggest(keys[i], names, m, close, sizeof close);
            return unic_errf(err, errlen, "%s: [%s] unknown key '%s' for %s; closest valid key: %s",
                             unic_config_where(cfg, section, keys[i], where, sizeof where),
                             section, keys[i], what, m ? close : "(it takes no keys)");
        }
        /* "[head] hidden must be between 1 and 65536, got 0" reads as a
         * sentence; a type error stays "[head] hidden: expected ...". */
        if (unic_params_set(p, keys[i], v ? v : "", msg, sizeof msg) != 0)
            return unic_errf(err, errlen, "%s: [%s] %s%s%s",
                             unic_config_where(cfg, section, keys[i], where, sizeof where),
                             section, keys[i], strncmp(msg, "must ", 5) == 0 ? " " : ": ", msg);
    }
    return 0;
}

static int core_section(const unic_config *cfg, const char *section, const unic_param_spec *spec,
                        unic_params **out, char *err, size_t errlen)
{
    *out = unic_params_new();
    unic_params_add_table(*out, spec);
    char what[64];
    snprintf(what, sizeof what, "the [%s] section", section);
    return fill(cfg, section, *out, what, err, errlen);
}

/* Resolves `plugin = NAME` to a component of the kind; a loss section
 * [loss.NAME] may leave plugin out. */
static int component_section(const unic_config *cfg, const unic_registry *reg, const char *section,
                              unic_kind kind, unic_slot *slot, char *err, size_t errlen)
{
    char where[1200], msg[1024];
    const char *name = unic_config_get(cfg, section, "plugin");
    if ((!name || !*name) && kind == UNIC_KIND_LOSS) name = strchr(section, '.') + 1;
    if (!name || !*name)
        return unic_errf(err, errlen, "%s: [%s] needs 'plugin = NAME' naming a %s (see `unic "
                         "plugins`)", unic_config_where(cfg, section, NULL, where, sizeof where),
                         section, unic_kind_name(kind));
    slot->section = unic_xstrdup(section);
    slot->component = unic_registry_find(reg, kind, name, msg, sizeof msg);
    if (!slot->component)
        return unic_errf(err, errlen, "%s: [%s] %s",
                         unic_config_where(cfg, section, "plugin", where, sizeof where), section,
                         msg);
    slot->params = unic_params_new();
    if (kind == UNIC_KIND_MINER) {
        unic_params_add_table(slot->params, miner_keys);
    } else if (kind == UNIC_KIND_LOSS) {
        slot->owned_spec = calloc(3, sizeof(unic_param_spec));
        snprintf(slot->weight_default, sizeof slot->weight_default, "%g",
                 slot->component->loss->default_weight);
        slot->owned_spec[0] = plugin_key[0];
        slot->owned_spec[1] = (unic_param_spec){"weight", UNIC_FLOAT, slot->weight_default,
                                                "multiplier of this term in the objective", NULL};
        unic_params_add_table(slot->params, slot->owned_spec);
    } else if (kind == UNIC_KIND_HEAD) {
        unic_params_add_table(slot->params, unic_head_spec);
    } else {
        unic_params_add_table(slot->params, plugin_key);
    }
    unic_params_add_table(slot->params, slot->component->params);
    char what[256];
    snprintf(what, sizeof what, "%s '%s'", unic_kind_name(kind), slot->component->name);
    if (fill(cfg, section, slot->params, what, err, errlen) != 0) return -1;
    unic_params_set(slot->params, "plugin", slot->component->name, NULL, 0);
    return 0;
}

int unic_format_is_images(const char *format)
{
    return strcmp(format, "auto") && strcmp(format, "npy") && strcmp(format, "safetensors") &&
           strcmp(format, "idx");
}

static int is_prefixed(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 && s[n] != '\0';
}

/* A split file as experiments/splits/cub200_ssb.txt writes it: lines
 * "old N" mark known classes; "new ..." lines and # comments are skipped. */
static int read_split_file(const char *path, unsigned char *mask, int max_classes, int *count,
                           char *err, size_t errlen)
{
    if (unic_check_input_file(path, "class split file", UNIC_MAX_TEXT_FILE_BYTES, err, errlen) != 0)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f) return unic_errf(err, errlen, "%s: cannot open the class split file", path);
    char line[512];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char word[16];
        long c;
        if (line[0] == '#' || sscanf(line, "%15s", word) != 1 || strcmp(word, "old") != 0) continue;
        if (sscanf(line, "%*s %ld", &c) != 1 || c < 0 || c >= max_classes)
            rc = unic_errf(err, errlen, "%s:%d: expected 'old CLASS_INDEX', got '%s'", path,
                           lineno, line);
        else if (!mask[c]) {
            mask[c] = 1;
            (*count)++;
        }
    }
    fclose(f);
    if (rc == 0 && *count == 0)
        rc = unic_errf(err, errlen, "%s: no 'old N' lines", path);
    return rc;
}

int unic_parse_class_list(const char *text, unsigned char *mask, int max_classes, int *count,
                          char *err, size_t errlen)
{
    memset(mask, 0, (size_t)max_classes);
    *count = 0;
    if (strchr(text, '/') || strstr(text, ".txt"))
        return read_split_file(text, mask, max_classes, count, err, errlen);
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p) return unic_errf(err, errlen, "expected class numbers like 0-4 or 0,2,5, got '%s'", text);
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            if (end == p + 1) return unic_errf(err, errlen, "incomplete range in '%s'", text);
            p = end;
        }
        if (a < 0 || b < a || b >= max_classes)
            return unic_errf(err, errlen, "class range %ld-%ld is outside 0-%d in '%s'", a, b,
                             max_classes - 1, text);
        for (long c = a; c <= b; c++)
            if (!mask[c]) {
                mask[c] = 1;
                (*count)++;
            }
        while (*p == ' ') p++;
        if (*p && *p != ',') return unic_errf(err, errlen, "unexpected '%c' in '%s'", *p, text);
    }
    return 0;
}

/* training: a run needs losses and miners; `unic extract` only data and a backbone. */
static int prepare(unic_config *cfg, const unic_registry *reg, unic_experiment *x, int training,
                   char *err, size_t errlen)
{
    memset(x, 0, sizeof *x);
    char where[1200];
    const char *path = unic_config_path(cfg);
    const char *base = strrchr(path, '/');
    x->name = unic_xstrdup(base ? base + 1 : path);
    char *dot = strrchr(x->name, '.');
    if (dot) *dot = '\0';

    int nsec = unic_config_section_count(cfg);
    for (int i = 0; i < nsec; i++) {
        const char *s = unic_config_section(cfg, i);
        int known = is_prefixed(s, "miner.") || is_prefixed(s, "loss.");
        for (size_t k = 0; k < sizeof fixed_sections / sizeof *fixed_sections; k++)
            known |= strcmp(s, fixed_sections[k]) == 0;
        if (!known) {
            const char *all[] = {"data", "backbone", "head",  "train",     "eval",
                                 "grid", "table",    "miner.NAME", "loss.NAME"};
            char close[256];
            unic_suggest(s, all, 9, close, sizeof close);
            unic_errf(err, errlen, "%s: unknown section [%s]; closest valid: %s",
                      unic_config_where(cfg, s, NULL, where, sizeof where), s, close);
            goto fail;
        }
    }
    if (!unic_config_has_section(cfg, "data") || !unic_config_has_section(cfg, "backbone")) {
        unic_errf(err, errlen, "%s: an experiment needs a [data] and a [backbone] section", path);
        goto fail;
    }
    if (core_section(cfg, "data", unic_data_spec, &x->data, err, errlen) != 0 ||
        core_section(cfg, "train", unic_train_spec, &x->train, err, errlen) != 0 ||
        core_section(cfg, "eval", unic_eval_spec, &x->eval, err, errlen) != 0)
        goto fail;
    if (!*unic_param_str(x->data, "path")) {
        unic_errf(err, errlen, "%s: [data] needs 'path = FILE'",
                  unic_config_where(cfg, "data", NULL, where, sizeof where));
        goto fail;
    }
    if (component_section(cfg, reg, "backbone", UNIC_KIND_BACKBONE, &x->backbone, err, errlen))
        goto fail;
    /* the default head, also for a [head] that only sets classes */
    const char *head = unic_config_get(cfg, "head", "plugin");
    if (!head || !*head) unic_config_set(cfg, "head", "plugin", "mlp");
    if (component_section(cfg, reg, "head", UNIC_KIND_HEAD, &x->head, err, errlen)) goto fail;
    for (int i = 0; i < nsec; i++) {
        const char *s = unic_config_section(cfg, i);
        int miner = is_prefixed(s, "miner."), loss = is_prefixed(s, "loss.");
        if (!miner && !loss) continue;
        int *count = miner ? &x->nminers : &x->nlosses;
        if (*count == UNIC_MAX_SLOTS) {
            unic_errf(err, errlen, "%s: more than %d %s sections", path, UNIC_MAX_SLOTS,
                      miner ? "miner" : "loss");
            goto fail;
        }
        unic_slot *slot = miner ? &x->miners[*count] : &x->losses[*count];
        (*count)++;
        if (component_section(cfg, reg, s, miner ? UNIC_KIND_MINER : UNIC_KIND_LOSS, slot, err,
                              errlen))
            goto fail;
    }
    if (training && x->nlosses == 0) {
        unic_errf(err, errlen, "%s: no [loss.*] sections: add e.g. [loss.pos], [loss.neg] and "
                  "[loss.entropy]", path);
        goto fail;
    }
    if (training && x->nminers == 0) {
        unic_errf(err, errlen, "%s: no [miner.*] sections: add e.g. [miner.positives] with "
                  "plugin = knn", path);
        goto fail;
    }
    long epochs = unic_param_int(x->train, "epochs"), bs = unic_param_int(x->train, "batch_size");
    if (epochs < 1 || bs < 1) {
        unic_errf(err, errlen, "%s: [train] epochs and batch_size must be at least 1",
                  unic_config_where(cfg, "train", NULL, where, sizeof where));
        goto fail;
    }
    double frac = unic_param_float(x->data, "labeled_fraction");
    if (frac < 0 || frac > 1) {
        unic_errf(err, errlen, "%s: [data] labeled_fraction must be within [0, 1], got %g",
                  unic_config_where(cfg, "data", "labeled_fraction", where, sizeof where), frac);
        goto fail;
    }
    const char *format = unic_param_str(x->data, "format");
    int images = unic_format_is_images(format);
    const char *pipes[] = {"transform", "train_transform"};
    for (int i = 0; i < 2; i++) {
        const char *spec = unic_param_str(x->data, pipes[i]);
        char msg[512];
        if (!*spec) continue;
        if (!images) {
            unic_errf(err, errlen, "%s: [data] %s applies to image datasets; format = %s reads "
                      "arrays", unic_config_where(cfg, "data", pipes[i], where, sizeof where),
                      pipes[i], format);
            goto fail;
        }
        unic_pipeline *pl = unic_pipeline_parse(spec, msg, sizeof msg);
        if (!pl) {
            unic_errf(err, errlen, "%s: [data] %s: %s",
                      unic_config_where(cfg, "data", pipes[i], where, sizeof where), pipes[i], msg);
            goto fail;
        }
        unic_pipeline_free(pl);
    }
    if (images && strcmp(format, "idx_images") != 0 && !*unic_param_str(x->data, "transform")) {
        unic_errf(err, errlen, "%s: [data] format = %s needs a transform giving every image the "
                  "same size, e.g. transform = resize(256, bicubic) center_crop(224) "
                  "normalize(imagenet)", unic_config_where(cfg, "data", NULL, where, sizeof where),
                  format);
        goto fail;
    }
    const char *old = unic_param_str(x->data, "old_classes");
    if (*old) {
        unsigned char mask[UNIC_MAX_CLASSES];
        int count;
        char msg[512];
        if (unic_parse_class_list(old, mask, UNIC_MAX_CLASSES, &count, msg, sizeof msg) != 0) {
            unic_errf(err, errlen, "%s: [data] old_classes: %s",
                      unic_config_where(cfg, "data", "old_classes", where, sizeof where), msg);
            goto fail;
        }
    }
    x->cfg = cfg;
    return 0;
fail:
    x->cfg = NULL;
    unic_experiment_free(x);
    return -1;
}

int unic_experiment_prepare(unic_config *cfg, const unic_registry *reg, unic_experiment *x,
                            char *err, size_t errlen)
{
    return prepare(cfg, reg, x, 1, err, errlen);
}

int unic_experiment_prepare_extract(unic_config *cfg, const unic_registry *reg,
                                    unic_experiment *x, char *err, size_t errlen)
{
    return prepare(cfg, reg, x, 0, err, errlen);
}

unic_scope unic_slot_scope(const unic_slot *s)
{
    const char *v = unic_params_get(s->params, "scope");
    if (!v || strcmp(v, "all") == 0) return UNIC_SCOPE_ALL;
    return strcmp(v, "labeled") == 0 ? UNIC_SCOPE_LABELED : UNIC_SCOPE_UNLABELED;
}

float unic_slot_weight(const unic_slot *s) { return (float)unic_param_float(s->params, "weight"); }

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        *cap = 2 * *cap + (size_t)n;
        *buf = realloc(*buf, *cap);
    }
}

static void dump(char **buf, size_t *len, size_t *cap, const char *section, const unic_params *p)
{
    append(buf, len, cap, "[%s]\n", section);
    for (int i = 0; i < p->count; i++)
        append(buf, len, cap, "%s = %s\n", p->spec[i]->name, p->values[i]);
    append(buf, len, cap, "\n");
}

char *unic_experiment_resolved_ini(const unic_experiment *x)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    buf[0] = '\0';
    append(&buf, &len, &cap, "; %s resolved by unic %s: every key, defaults included\n\n",
           unic_config_path(x->cfg), UNIC_VERSION);
    dump(&buf, &len, &cap, "data", x->data);
    dump(&buf, &len, &cap, "backbone", x->backbone.params);
    dump(&buf, &len, &cap, "head", x->head.params);
    for (int i = 0; i < x->nminers; i++) dump(&buf, &len, &cap, x->miners[i].section, x->miners[i].params);
    for (int i = 0; i < x->nlosses; i++) dump(&buf, &len, &cap, x->losses[i].section, x->losses[i].params);
    dump(&buf, &len, &cap, "train", x->train);
    dump(&buf, &len, &cap, "eval", x->eval);
    return buf;
}
