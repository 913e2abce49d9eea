/* A grid folder as `unic table`, `unic grid status` and `unic plot` read
 * it: a valid one-point folder with one of its files (chosen by the first
 * byte: grid.json, state.json, history.csv or metrics.json) replaced by the
 * rest of the input. Whatever the bytes, loading ends in a clean error or a
 * view the table and status printers can use. */
#include "fuzz_file.h" /* first: it asks for _GNU_SOURCE */

#include <sys/stat.h>

#include "grid/status.h"
#include "grid/table.h"
#include "grid/view.h"

static char grid_dir[4400], point_dir[4500], id[17];

static void put(const char *dir, const char *name, const void *data, size_t n)
{
    char path[4700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fuzz_write_bytes(path, data, n);
}

static void put_text(const char *dir, const char *name, const char *text)
{
    put(dir, name, text, strlen(text));
}

/* The valid folder every input starts from. */
static void make_folder(void)
{
    const char *resolved = "[train]\nepochs = 2\n";
    unic_grid_settings_id(resolved, id);
    snprintf(grid_dir, sizeof grid_dir, "%s/grid", fuzz_scratch_dir());
    snprintf(point_dir, sizeof point_dir, "%s/points/%s", grid_dir, id);
    char points[4500], manifest[1024];
    snprintf(points, sizeof points, "%s/points", grid_dir);
    mkdir(grid_dir, 0755);
    mkdir(points, 0755);
    mkdir(point_dir, 0755);
    snprintf(manifest, sizeof manifest,
             "{\"format\": 1, \"name\": \"g\", \"experiment\": \"g.ini\", \"task\": \"clustering\", "
             "\"axes\": [{\"key\": \"train.seed\", \"values\": [\"0\"]}], \"points\": [{\"id\": "
             "\"%s\", \"label\": \"\", \"values\": [0], \"epochs\": 2}]}",
             id);
    put_text(grid_dir, "grid.json", manifest);
    put_text(point_dir, "config.resolved.ini", resolved);
    put_text(point_dir, "state.json", "{\"state\": \"done\", \"started\": 1, \"finished\": 2}");
    put_text(point_dir, "history.csv", "epoch,lr,objective,acc,nmi,ari,seconds\n1,0.1,-1,0.5,,,1\n"
                                       "2,0.1,-2,0.6,0.5,0.4,1\n");
    put_text(point_dir, "metrics.json", "{\"unic\": {\"acc\": 0.6, \"nmi\": 0.5, \"ari\": 0.4}}");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    make_folder();
    static const char *files[] = {"grid.json", "state.json", "history.csv", "metrics.json"};
    int which = data[0] % 4;
    put(which == 0 ? grid_dir : point_dir, files[which], data + 1, size - 1);
    char err[4096];
    unic_grid_view v;
    if (unic_grid_view_load(grid_dir, &v, err, sizeof err) != 0) return 0;
    FILE *null = fopen("/dev/null", "w");
    unic_table_layout t;
    unic_table_layout_init(&t);
    unic_table_print(&v, &t, null, err, sizeof err);
    t.format = UNIC_TABLE_LATEX;
    unic_table_print(&v, &t, null, err, sizeof err);
    unic_grid_status_print(&v, null);
    unic_table_layout_free(&t);
    fclose(null);
    unic_grid_view_free(&v);
    return 0;
}
