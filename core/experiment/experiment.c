#include "experiment/experiment.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/util.h"
#include "data/image.h"
#include "experiment/run_config.h"

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
    {"positive_transform", UNIC_STRING, "", "image datasets: the positives' training pipeline "
     "(SCAN's self-labelling: the strong augmentation, with a `self` positive miner); empty = "
     "train_transform", NULL},
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
    {"track_kmeans", UNIC_BOOL, "false", "at every evaluation also score k-means (GCD: "
     "semi-supervised k-means) on the backbone's current features, as history.csv's kmeans_* "
     "columns (Figure 7; a trainable backbone moves them)", NULL},
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

/* The head's core keys: its copies, how many outputs it has, or how to
 * estimate that. */
const unic_param_spec unic_head_spec[] = {
    {"plugin", UNIC_STRING, "", "the component's name (see `unic plugins`)", NULL},
    {"count", UNIC_INT, "1", "copies of the clustering head trained side by side on the same "
     "input, each from its own initialisation, their losses summed (SCAN's heads); the copy with "
     "the lowest total training loss over the last epoch is reported (SCAN's rule)",
     "1.." UNIC_STR(UNIC_MAX_HEAD_COPIES)},
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

const char *unic_head_slot_name(const unic_slot *s)
{
    return strncmp(s->section, "head.", 5) == 0 ? s->section + 5 : "cluster";
}

int unic_loss_head(const unic_experiment *x, const unic_slot *loss)
{
    const char *name = unic_params_get(loss->params, "head");
    if (!name || strcmp(name, "cluster") == 0) return 0;
    for (int i = 0; i < x->naux; i++)
        if (strcmp(unic_head_slot_name(&x->aux_heads[i]), name) == 0) return 1 + i;
    return -1;
}

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
    for (int i = 0; i < x->naux; i++) slot_free(&x->aux_heads[i]);
    for (int i = 0; i < x->nstages; i++) {
        unic_experiment_free(&x->stages[i]);
        free(x->stage_names[i]);
    }
    free(x->stages);
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
        slot->owned_spec = calloc(4, sizeof(unic_param_spec));
        snprintf(slot->weight_default, sizeof slot->weight_default, "%g",
                 slot->component->loss->default_weight);
        slot->owned_spec[0] = plugin_key[0];
        slot->owned_spec[1] = (unic_param_spec){"weight", UNIC_FLOAT, slot->weight_default,
                                                "multiplier of this term in the objective", NULL};
        slot->owned_spec[2] = (unic_param_spec){"head", UNIC_STRING, "cluster",
                                                "the head whose outputs this loss reads: cluster "
                                                "(the clustering head) or NAME of a [head.NAME] "
                                                "section", NULL};
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

/* The clustering head ([head], or [head.cluster]; mlp when neither is
 * there) and the other [head.NAME] sections, each resolved. */
static int prepare_heads(unic_config *cfg, const unic_registry *reg, unic_experiment *x,
                         char *err, size_t errlen)
{
    char where[1200];
    int plain = unic_config_has_section(cfg, "head"), named = unic_config_has_section(cfg, "head.cluster");
    if (plain && named)
        return unic_errf(err, errlen, "%s: [head.cluster] and [head] both describe the clustering "
                         "head; keep one", unic_config_where(cfg, "head.cluster", NULL, where,
                                                              sizeof where));
    const char *cluster = named ? "head.cluster" : "head";
    /* the default head, also for a [head] that only sets classes or count */
    const char *plugin = unic_config_get(cfg, cluster, "plugin");
    if (!plugin || !*plugin) unic_config_set(cfg, cluster, "plugin", "mlp");
    if (component_section(cfg, reg, cluster, UNIC_KIND_HEAD, &x->head, err, errlen)) return -1;
    int nsec = unic_config_section_count(cfg);
    for (int i = 0; i < nsec; i++) {
        const char *s = unic_config_section(cfg, i);
        if (!is_prefixed(s, "head.") || strcmp(s, "head.cluster") == 0) continue;
        const char *name = s + 5;
        size_t digits = strspn(name, "0123456789");
        if (digits == strlen(name) || strchr(name, '.'))
            return unic_errf(err, errlen, "%s: [%s]: a head's name is a word without dots (e.g. "
                             "[head.projection]); numbers name the copies of the clustering "
                             "head", unic_config_where(cfg, s, NULL, where, sizeof where), s);
        if (x->naux == UNIC_MAX_AUX_HEADS)
            return unic_errf(err, errlen, "%s: more than %d [head.NAME] sections",
                             unic_config_path(cfg), UNIC_MAX_AUX_HEADS);
        if (component_section(cfg, reg, s, UNIC_KIND_HEAD, &x->aux_heads[x->naux++], err, errlen))
            return -1;
    }
    return 0;
}


/* ---- chains of stages ------------------------------------------------- */

static int prepare(unic_config *cfg, const unic_registry *reg, unic_experiment *x, int training,
                   char *err, size_t errlen);

/* Whether `name` is in the comma-separated list. */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t w = strcspn(p, ", ");
        if (w == n && strncmp(p, name, n) == 0) return 1;
        p += w;
    }
    return 0;
}

/* Every name of a stage's `losses` or `miners` list must be a [PREFIX.NAME]
 * section of the file. */
static int check_list(const unic_config *cfg, const char *stage, const char *key,
                      const char *prefix, char *err, size_t errlen)
{
    const char *list = unic_config_get(cfg, stage, key);
    char where[1200], name[256], section[300];
    if (!list || !*list)
        return unic_errf(err, errlen, "%s: [%s] needs '%s = NAME, ...' naming the [%s.NAME] "
                         "sections this stage trains with", unic_config_where(cfg, stage, NULL,
                                                                              where, sizeof where),
                         stage, key, prefix);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t w = strcspn(p, ", ");
        if (!w) break;
        snprintf(name, sizeof name, "%.*s", (int)w, p);
        snprintf(section, sizeof section, "%s.%s", prefix, name);
        if (!unic_config_has_section(cfg, section))
            return unic_errf(err, errlen, "%s: [%s] %s names '%s', but the file has no [%s]",
                             unic_config_where(cfg, stage, key, where, sizeof where), stage, key,
                             name, section);
        p += w;
    }
    return 0;
}

/* A stage's configuration: the file with its overrides applied at their
 * lines, only its losses and miners, no stage, grid or table sections. */
static unic_config *stage_config(const unic_config *cfg, const char *stage, char *err,
                                 size_t errlen)
{
    unic_config *c = unic_config_clone(cfg);
    const char *keys[256];
    char where[1200];
    int n = unic_config_keys(cfg, stage, keys, 256);
    for (int i = 0; i < n; i++) {
        if (strcmp(keys[i], "losses") == 0 || strcmp(keys[i], "miners") == 0) continue;
        const char *dot = strrchr(keys[i], '.');
        if (!dot || dot == keys[i] || !dot[1] || strncmp(keys[i], "stage.", 6) == 0 ||
            strncmp(keys[i], "grid.", 5) == 0 || strncmp(keys[i], "table.", 6) == 0) {
            unic_errf(err, errlen, "%s: [%s] key '%s' should be losses, miners or section.key "
                      "(e.g. train.epochs or head.count), as --set takes it",
                      unic_config_where(cfg, stage, keys[i], where, sizeof where), stage, keys[i]);
            unic_config_free(c);
            return NULL;
        }
        char section[512];
        snprintf(section, sizeof section, "%.*s", (int)(dot - keys[i]), keys[i]);
        unic_config_set_like(c, section, dot + 1, unic_config_get(cfg, stage, keys[i]), stage,
                             keys[i]);
    }
    const char *losses = unic_config_get(cfg, stage, "losses");
    const char *miners = unic_config_get(cfg, stage, "miners");
    int nsec = unic_config_section_count(cfg);
    char **drop = unic_xcalloc((size_t)nsec, sizeof(char *));
    int ndrop = 0;
    for (int i = 0; i < nsec; i++) {
        const char *s = unic_config_section(cfg, i);
        if ((is_prefixed(s, "loss.") && !listed(losses, s + 5)) ||
            (is_prefixed(s, "miner.") && !listed(miners, s + 6)) || is_prefixed(s, "stage.") ||
            strcmp(s, "grid") == 0 || strcmp(s, "table") == 0)
            drop[ndrop++] = unic_xstrdup(s);
    }
    for (int i = 0; i < ndrop; i++) {
        unic_config_unset_section(c, drop[i]);
        free(drop[i]);
    }
    free(drop);
    return c;
}

/* Resolved values of two slots, key by key: the first that differs (key
 * NULL when the plugins differ), skipping `skip`. */
static const char *first_difference(const unic_slot *a, const unic_slot *b, const char *skip,
                                    const char **va, const char **vb)
{
    if (a->component != b->component) {
        *va = a->component->name;
        *vb = b->component->name;
        return "plugin";
    }
    for (int i = 0; i < a->params->count; i++) {
        const char *k = a->params->spec[i]->name;
        if (skip && listed(skip, k)) continue;
        const char *x = a->params->values[i], *y = unic_params_get(b->params, k);
        if (!y || strcmp(x, y) != 0) {
            *va = x;
            *vb = y ? y : "";
            return k;
        }
    }
    return NULL;
}

static int differs(const unic_experiment *b, const char *section, const char *key,
                   const char *stage, const char *prev, const char *va, const char *vb,
                   const char *why, char *err, size_t errlen)
{
    char where[1200];
    return unic_errf(err, errlen, "%s: [%s] %s.%s = %s, but stage %s has %s: each stage starts "
                     "from the previous one's checkpoint, %s", unic_config_where(b->cfg, section,
                                                                                  key, where,
                                                                                  sizeof where),
                     stage, section, key, vb, prev, va, why);
}

/* Stage b starts from stage a's checkpoint: its heads and backbone must be
 * those a trained, checked here before any work. */
static int check_chain(const unic_experiment *a, const unic_experiment *b, const char *prev,
                       const char *stage, char *err, size_t errlen)
{
    const char *va, *vb, *k;
    const char *fit = "whose tensors would not fit";
    if ((k = first_difference(&a->head, &b->head, "count", &va, &vb)))
        return differs(b, b->head.section, k, stage, prev, va, vb, fit, err, errlen);
    long ca = unic_param_int(a->head.params, "count"), cb = unic_param_int(b->head.params, "count");
    if (cb != ca && cb != 1) {
        char x[32], y[32];
        snprintf(x, sizeof x, "%ld", ca);
        snprintf(y, sizeof y, "%ld", cb);
        return differs(b, b->head.section, "count", stage, prev, x, y,
                       "which trains as many copies or goes on with the best one (count = 1)",
                       err, errlen);
    }
    for (int i = 0; i < b->naux; i++)
        for (int j = 0; j < a->naux; j++)
            if (strcmp(b->aux_heads[i].section, a->aux_heads[j].section) == 0 &&
                (k = first_difference(&a->aux_heads[j], &b->aux_heads[i], NULL, &va, &vb)))
                return differs(b, b->aux_heads[i].section, k, stage, prev, va, vb, fit, err,
                               errlen);
    /* the backbone may train more or fewer blocks, from the same weights */
    if ((k = first_difference(&a->backbone, &b->backbone, "finetune device", &va, &vb)))
        return differs(b, "backbone", k, stage, prev, va, vb, fit, err, errlen);
    const char *same[] = {"path", "format", "split", "class_list", "classes", "limit",
                          "old_classes", "labeled_fraction", "split_seed"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        const char *x = unic_param_str(a->data, same[i]), *y = unic_param_str(b->data, same[i]);
        if (strcmp(x, y) != 0)
            return differs(b, "data", same[i], stage, prev, x, y,
                           "trained on the same items and clusters", err, errlen);
    }
    return 0;
}

/* [stage.NAME] sections, in file order: each a whole experiment. */
static int prepare_stages(const unic_config *cfg, const unic_registry *reg, unic_experiment *x,
                          char *err, size_t errlen)
{
    int nsec = unic_config_section_count(cfg);
    char where[1200];
    for (int i = 0; i < nsec; i++) {
        const char *s = unic_config_section(cfg, i);
        if (!is_prefixed(s, "stage.")) continue;
        if (x->nstages == UNIC_MAX_STAGES)
            return unic_errf(err, errlen, "%s: more than %d [stage.NAME] sections",
                             unic_config_path(cfg), UNIC_MAX_STAGES);
        if (check_list(cfg, s, "losses", "loss", err, errlen) != 0 ||
            check_list(cfg, s, "miners", "miner", err, errlen) != 0)
            return -1;
        if (!x->stages) x->stages = unic_xcalloc(UNIC_MAX_STAGES, sizeof(unic_experiment));
        unic_config *c = stage_config(cfg, s, err, errlen);
        if (!c) return -1;
        char msg[4096];
        if (prepare(c, reg, &x->stages[x->nstages], 1, msg, sizeof msg) != 0) {
            unic_config_free(c);
            return unic_errf(err, errlen, "%s (in stage %s)", msg, s + 6);
        }
        x->stage_names[x->nstages++] = unic_xstrdup(s + 6);
        unic_run_config rc;
        unic_experiment *st = &x->stages[x->nstages - 1];
        if (unic_run_config_parse(st, &rc, msg, sizeof msg) != 0)
            return unic_errf(err, errlen, "%s (in stage %s)", msg, s + 6);
        if (x->nstages > 1 && check_chain(&x->stages[x->nstages - 2], st,
                                          x->stage_names[x->nstages - 2], s, err, errlen) != 0)
            return -1;
    }
    if (x->nstages == 0) return 0;
    /* a loss or miner no stage uses is a typo or a forgotten stage */
    for (int i = 0; i < nsec; i++) {
        const char *s = unic_config_section(cfg, i);
        int loss = is_prefixed(s, "loss."), miner = is_prefixed(s, "miner.");
        if (!loss && !miner) continue;
        int used = 0;
        for (int j = 0; j < nsec; j++) {
            const char *t = unic_config_section(cfg, j);
            if (is_prefixed(t, "stage."))
                used |= listed(unic_config_get(cfg, t, loss ? "losses" : "miners"),
                               s + (loss ? 5 : 6));
        }
        if (!used)
            return unic_errf(err, errlen, "%s: [%s] is in no stage's %s list",
                             unic_config_where(cfg, s, NULL, where, sizeof where), s,
                             loss ? "losses" : "miners");
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
        int known = is_prefixed(s, "miner.") || is_prefixed(s, "loss.") ||
                    is_prefixed(s, "head.") || is_prefixed(s, "stage.");
        for (size_t k = 0; k < sizeof fixed_sections / sizeof *fixed_sections; k++)
            known |= strcmp(s, fixed_sections[k]) == 0;
        if (!known) {
            const char *all[] = {"data",  "backbone",   "head",      "train",     "eval",
                                 "grid",  "table",      "miner.NAME", "loss.NAME", "head.NAME",
                                 "stage.NAME"};
            char close[256];
            unic_suggest(s, all, 11, close, sizeof close);
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
    if (prepare_heads(cfg, reg, x, err, errlen) != 0) goto fail;
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
    for (int l = 0; l < x->nlosses; l++)
        if (unic_loss_head(x, &x->losses[l]) < 0) {
            char names[512];
            size_t used = (size_t)snprintf(names, sizeof names, "cluster ([%s])", x->head.section);
            for (int h = 0; h < x->naux; h++)
                used += (size_t)snprintf(names + used, used < sizeof names ? sizeof names - used : 0,
                                         ", %s ([%s])", unic_head_slot_name(&x->aux_heads[h]),
                                         x->aux_heads[h].section);
            unic_errf(err, errlen, "%s: [%s] head = %s names no head of this experiment; its "
                      "heads: %s", unic_config_where(cfg, x->losses[l].section, "head", where,
                                                     sizeof where),
                      x->losses[l].section, unic_params_get(x->losses[l].params, "head"), names);
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
    const char *pipes[] = {"transform", "train_transform", "positive_transform"};
    for (int i = 0; i < 3; i++) {
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
    if (training && prepare_stages(cfg, reg, x, err, errlen) != 0) {
        x->cfg = NULL; /* the caller still owns cfg */
        unic_experiment_free(x);
        return -1;
    }
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
    if (x->nstages > 0) { /* a chain: every stage's settings, in order */
        for (int i = 0; i < x->nstages; i++) {
            char *one = unic_experiment_resolved_ini(&x->stages[i]);
            const char *body = strstr(one, "\n\n") ? strstr(one, "\n\n") + 2 : one;
            append(&buf, &len, &cap, "[stage.%s]\n\n%s", x->stage_names[i], body);
            free(one);
        }
        return buf;
    }
    dump(&buf, &len, &cap, "data", x->data);
    dump(&buf, &len, &cap, "backbone", x->backbone.params);
    dump(&buf, &len, &cap, x->head.section, x->head.params);
    for (int i = 0; i < x->naux; i++) dump(&buf, &len, &cap, x->aux_heads[i].section, x->aux_heads[i].params);
    for (int i = 0; i < x->nminers; i++) dump(&buf, &len, &cap, x->miners[i].section, x->miners[i].params);
    for (int i = 0; i < x->nlosses; i++) dump(&buf, &len, &cap, x->losses[i].section, x->losses[i].params);
    dump(&buf, &len, &cap, "train", x->train);
    dump(&buf, &len, &cap, "eval", x->eval);
    return buf;
}
