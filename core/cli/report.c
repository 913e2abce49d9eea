#include "cli/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

static const char *usage_text =
    "usage: unic report RUN_DIR|GRID_DIR [--out FILE] [--class-names FILE] [--thumbs N]\n"
    "                   [--no-points]\n"
    "  one self-contained HTML page (default DIR/report.html); --class-names: one class\n"
    "  name a line, class 0 first; --thumbs: thumbnails on the page, all clusters\n"
    "  together (default %d); --no-points: a grid's page links the points' pages\n"
    "  without writing them\n";

int unic_report_command(int argc, char **argv)
{
    unic_report_options o = {0};
    const char *dir = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--out") == 0 && next) {
            o.out = next;
            i++;
        } else if (strcmp(a, "--class-names") == 0 && next) {
            o.class_names = next;
            i++;
        } else if (strcmp(a, "--thumbs") == 0 && next) {
            char *end;
            long v = strtol(next, &end, 10);
            if (!*next || *end || v < 1 || v > 1000000) {
                fprintf(stderr, "unic report: --thumbs expects a whole number from 1 to 1000000, "
                        "got '%s'\n", next);
                return 2;
            }
            o.max_thumbs = (int)v;
            i++;
        } else if (strcmp(a, "--no-points") == 0) {
            o.no_points = 1;
        } else if (a[0] != '-' && !dir) {
            dir = a;
        } else {
            fprintf(stderr, "unic report: unexpected argument '%s'\n", a);
            fprintf(stderr, usage_text, UNIC_REPORT_THUMBS);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "unic report: missing the run or grid folder\n");
        fprintf(stderr, usage_text, UNIC_REPORT_THUMBS);
        return 2;
    }
    char path[4096], err[8192];
    if (unic_report_write(dir, &o, path, sizeof path, err, sizeof err) != 0) {
        fprintf(stderr, "unic report: %s\n", err);
        return 2;
    }
    printf("%s\n", path);
    return 0;
}
