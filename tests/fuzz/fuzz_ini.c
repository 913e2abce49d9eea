/* Experiment files with --set overrides: the bytes before the first NUL are
 * the INI, each line after it one "section.key=value" override. Everything
 * up to the validated experiment runs, against the built-in plugins, as
 * `unic check` does. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include "experiment/experiment.h"
#include "plugin/registry.h"

static unic_registry *registry(void)
{
    static unic_registry *reg;
    char err[1024];
    if (!reg) {
        reg = unic_registry_new();
        if (unic_registry_load_default(reg, err, sizeof err) != 0) {
            fprintf(stderr, "fuzz_ini: %s\n", err);
            abort();
        }
    }
    return reg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t ini_size = nul ? (size_t)(nul - data) : size;
    char *sets_text = nul ? fuzz_as_text(nul + 1, size - ini_size - 1) : NULL;
    const char *sets[16];
    int nsets = 0;
    for (char *save = NULL, *line = sets_text ? strtok_r(sets_text, "\n", &save) : NULL;
         line && nsets < 16; line = strtok_r(NULL, "\n", &save))
        sets[nsets++] = line;
    char err[2048];
    unic_config *cfg;
    const char *path = fuzz_as_file(data, ini_size, ".ini");
    if (unic_config_load_with(path, sets, nsets, &cfg, err, sizeof err) == 0) {
        unic_experiment x;
        if (unic_experiment_prepare(cfg, registry(), &x, err, sizeof err) == 0) {
            free(unic_experiment_resolved_ini(&x));
            unic_experiment_free(&x);
        } else {
            unic_config_free(cfg); /* prepare owns it only on success */
        }
    }
    free(sets_text);
    return 0;
}
