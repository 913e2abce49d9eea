/* Figure 12 of the paper: for each cluster, its most confident images and
 * a row of its most confident mistakes (items whose class is not the one
 * the cluster was matched to), as JPEG mosaics; items that are not images
 * are listed by name or index instead. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "report/mosaic.h"
#include "report/run_page.h"

#define COLS 8
#define MAX_SIDE 64
#define JPEG_QUALITY 85
#define MAX_CONFIDENT 16
#define MAX_MISTAKES 8

typedef struct cluster {
    int id;
    int64_t size, hits;  /* scored items, and those of the matched class */
    double conf_sum;
    int64_t *members;    /* rows of predictions.csv, most confident first */
    int64_t *mistakes;
    int nshow, nmiss;    /* shown: confident, mistakes */
    int64_t nmistakes;   /* all mistakes */
    unsigned char *jpeg[2];
    size_t jpeg_n[2];
    char err[512];
} cluster;

static const unic_predictions *sort_pred;

/* Most confident first; ties by row, so the page never depends on qsort. */
static int by_confidence(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    float cx = sort_pred->confidence ? sort_pred->confidence[x] : 0;
    float cy = sort_pred->confidence ? sort_pred->confidence[y] : 0;
    if (cx != cy) return cx > cy ? -1 : 1;
    return (x > y) - (x < y);
}

static int64_t item_index(const run_page *p, int64_t row)
{
    return p->f->pred.index ? p->f->pred.index[row] : row;
}

static int is_mistake(const run_page *p, const cluster *c, int64_t row)
{
    int cls = p->cluster_class[c->id];
    return p->f->pred.label && cls >= 0 && p->f->pred.label[row] != cls;
}

static void build_clusters(run_page *p, cluster *cl, int k)
{
    const unic_predictions *pr = &p->f->pred;
    for (int c = 0; c < k; c++) cl[c].id = c;
    for (int64_t s = 0; s < p->nscored; s++) cl[pr->prediction[p->scored[s]]].size++;
    for (int c = 0; c < k; c++) {
        cl[c].members = unic_xmalloc(sizeof(int64_t) * (size_t)(cl[c].size ? cl[c].size : 1));
        cl[c].mistakes = unic_xmalloc(sizeof(int64_t) * (size_t)(cl[c].size ? cl[c].size : 1));
        cl[c].size = 0;
    }
    for (int64_t s = 0; s < p->nscored; s++) {
        int64_t row = p->scored[s];
        cluster *c = &cl[pr->prediction[row]];
        c->members[c->size++] = row;
        c->conf_sum += pr->confidence ? pr->confidence[row] : 0;
        if (pr->label && p->cluster_class[c->id] >= 0 && pr->label[row] == p->cluster_class[c->id])
            c->hits++;
    }
    sort_pred = pr;
    for (int c = 0; c < k; c++) {
        qsort(cl[c].members, (size_t)cl[c].size, sizeof(int64_t), by_confidence);
        for (int64_t i = 0; i < cl[c].size; i++)
            if (is_mistake(p, &cl[c], cl[c].members[i])) cl[c].mistakes[cl[c].nmistakes++] = cl[c].members[i];
    }
}

/* Thumbnails per cluster: the page's budget spread over the clusters, in
 * whole mosaic rows, two confident for every mistake. */
static void budget(const run_page *p, int k, int *show, int *miss)
{
    int total = p->o && p->o->max_thumbs > 0 ? p->o->max_thumbs : UNIC_REPORT_THUMBS;
    int per = total / (k ? k : 1);
    *show = per * 2 / 3 / COLS * COLS;
    if (*show > MAX_CONFIDENT) *show = MAX_CONFIDENT;
    if (*show < COLS / 2) *show = COLS / 2;
    *miss = per - *show;
    if (*miss > MAX_MISTAKES) *miss = MAX_MISTAKES;
    if (*miss < 2) *miss = 2;
}

/* The tile side: the images' own short side up to MAX_SIDE. */
static int tile_side(const run_page *p, const cluster *cl, int k, int *channels)
{
    for (int c = 0; c < k; c++)
        if (cl[c].size) {
            unic_image im;
            char err[512];
            if (unic_report_items_get(p->items, item_index(p, cl[c].members[0]), MAX_SIDE, &im, err,
                                      sizeof err) != 0)
                continue;
            int side = im.w < im.h ? im.w : im.h;
            *channels = im.c;
            unic_image_free(&im);
            return side < MAX_SIDE ? side : MAX_SIDE;
        }
    *channels = 3;
    return MAX_SIDE;
}

static void make_mosaic(const run_page *p, cluster *c, int which, int side, int channels)
{
    const int64_t *rows = which ? c->mistakes : c->members;
    int n = which ? c->nmiss : c->nshow;
    if (n == 0) return;
    unic_mosaic m;
    /* the confident rows frame their mistakes in colour, so they are RGB */
    unic_mosaic_init(&m, n, COLS, side, which ? channels : 3);
    for (int t = 0; t < n; t++) {
        unic_image im;
        char err[512];
        if (unic_report_items_get(p->items, item_index(p, rows[t]), side, &im, err, sizeof err) != 0) {
            snprintf(c->err, sizeof c->err, "%s", err); /* the tile stays white */
            continue;
        }
        unic_mosaic_put(&m, t, &im);
        unic_image_free(&im);
        if (!which && is_mistake(p, c, rows[t])) unic_mosaic_frame(&m, t, 0xe8, 0x59, 0x0c);
    }
    c->jpeg[which] = unic_mosaic_jpeg(&m, JPEG_QUALITY, &c->jpeg_n[which], c->err, sizeof c->err);
    unic_mosaic_free(&m);
}

/* One line per shown item: its name, class and confidence. */
static void item_list(run_page *p, const cluster *c, const int64_t *rows, int n, int open)
{
    const unic_predictions *pr = &p->f->pred;
    unic_html *h = p->h;
    if (!open) unic_html_printf(h, "<details><summary>the %d items</summary>", n);
    unic_html_raw(h, "<ol class=\"items\">");
    for (int t = 0; t < n; t++) {
        char buf[2400];
        const char *name = unic_report_items_name(p->items, item_index(p, rows[t]), buf, sizeof buf);
        int miss = is_mistake(p, c, rows[t]);
        unic_html_printf(h, "<li%s>", miss ? " class=\"mistake\"" : "");
        unic_html_text(h, name);
        if (pr->label) {
            unic_html_raw(h, " · ");
            unic_html_text(h, unic_class_name(&p->names, pr->label[rows[t]]));
            run_page_class_tag(p, pr->label[rows[t]]);
        }
        if (pr->confidence) unic_html_printf(h, " · %.3f", pr->confidence[rows[t]]);
        unic_html_raw(h, "</li>");
    }
    unic_html_raw(h, "</ol>");
    if (!open) unic_html_raw(h, "</details>");
}

/* A mosaic of fewer tiles than a row holds keeps the tiles' size. */
static double width_percent(int tiles, int side)
{
    int cols = tiles < COLS ? tiles : COLS;
    return 100.0 * (cols * side + (cols - 1) * UNIC_MOSAIC_GAP) /
           (COLS * side + (COLS - 1) * UNIC_MOSAIC_GAP);
}

static void card(run_page *p, const cluster *c, int side, int small)
{
    unic_html *h = p->h;
    int cls = p->cluster_class[c->id];
    unic_html_printf(h, "<div class=\"cluster\" id=\"cluster-%d\" data-cluster=\"%d\" "
                     "data-size=\"%lld\">\n<h3>Cluster %d", c->id, c->id, (long long)c->size, c->id);
    if (cls >= 0) {
        unic_html_raw(h, " → ");
        unic_html_text(h, unic_class_name(&p->names, cls));
        run_page_class_tag(p, cls);
    } else if (p->f->pred.label) {
        unic_html_raw(h, " <span class=\"note\">(matched to no class)</span>");
    }
    unic_html_printf(h, "</h3>\n<div class=\"stats\">%lld item%s", (long long)c->size,
                     c->size == 1 ? "" : "s");
    if (cls >= 0 && c->size) {
        unic_html_printf(h, " · %.1f%% ", 100.0 * (double)c->hits / (double)c->size);
        unic_html_text(h, unic_class_name(&p->names, cls));
    }
    if (p->f->pred.confidence && c->size)
        unic_html_printf(h, " · mean confidence %.3f", c->conf_sum / (double)c->size);
    unic_html_raw(h, "</div>\n");
    if (!c->size) {
        unic_html_raw(h, "<div class=\"note\">empty: the head assigns no scored item to this "
                         "cluster</div>\n</div>\n");
        return;
    }
    for (int which = 0; which < 2; which++) {
        const int64_t *rows = which ? c->mistakes : c->members;
        int n = which ? c->nmiss : c->nshow;
        if (which) {
            if (cls < 0 || !p->f->pred.label) break;
            if (!c->nmistakes) {
                unic_html_raw(h, "<div class=\"lbl\">No mistakes: every item is of its class.</div>\n");
                break;
            }
            unic_html_printf(h, "<div class=\"lbl mistake\">Most confident mistakes (%d of %lld)"
                             "</div>\n", n, (long long)c->nmistakes);
        } else {
            unic_html_printf(h, "<div class=\"lbl\">Most confident (%d of %lld)%s</div>\n", n,
                             (long long)c->size, p->f->pred.label && cls >= 0 && c->jpeg[0]
                                 ? "; framed: not of the cluster's class" : "");
        }
        if (c->jpeg[which]) {
            unic_html_printf(h, "<img class=\"mosaic%s%s\" data-kind=\"%s\" data-tiles=\"%d\" "
                             "style=\"width:%.1f%%\" alt=\"", which ? " mistakes" : "",
                             small ? " small" : "", which ? "mistakes" : "confident", n,
                             width_percent(n, side));
            unic_html_textf(h, "cluster %d: the %d %s", c->id, n,
                            which ? "most confident mistakes" : "most confident items");
            unic_html_raw(h, "\" src=\"");
            unic_html_data_uri(h, "image/jpeg", c->jpeg[which], c->jpeg_n[which]);
            unic_html_raw(h, "\">\n");
            if (which) { /* the mistakes' true classes, in tile order */
                unic_html_raw(h, "<div class=\"caption\">their classes: ");
                for (int t = 0; t < n; t++) {
                    if (t) unic_html_raw(h, ", ");
                    unic_html_text(h, unic_class_name(&p->names, p->f->pred.label[rows[t]]));
                    run_page_class_tag(p, p->f->pred.label[rows[t]]);
                }
                unic_html_raw(h, "</div>\n");
            }
            item_list(p, c, rows, n, 0);
        } else {
            item_list(p, c, rows, n, 1);
        }
    }
    if (*c->err) {
        unic_html_raw(h, "<div class=\"note\">");
        unic_html_text(h, c->err);
        unic_html_raw(h, "</div>\n");
    }
    unic_html_raw(h, "</div>\n");
}

void run_page_clusters(run_page *p)
{
    unic_html *h = p->h;
    unic_html_raw(h, "<section class=\"card\" id=\"clusters\">\n<h2>Clusters (Figure 12)</h2>\n");
    int k = p->f->clusters;
    if (!p->f->pred.n || k < 1) {
        unic_html_raw(h, "<p class=\"note\">No predictions.csv: nothing to show.</p>\n</section>\n");
        return;
    }
    cluster *cl = unic_xcalloc((size_t)k, sizeof *cl);
    build_clusters(p, cl, k);
    int show, miss;
    budget(p, k, &show, &miss);
    int pixels = unic_report_items_has_pixels(p->items), side = 0, channels = 3;
    if (pixels) side = tile_side(p, cl, k, &channels);
    int64_t truncated = 0;
    for (int c = 0; c < k; c++) {
        cl[c].nshow = (int)(cl[c].size < show ? cl[c].size : show);
        cl[c].nmiss = (int)(cl[c].nmistakes < miss ? cl[c].nmistakes : miss);
        truncated += cl[c].size > show;
    }
    if (pixels) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int c = 0; c < k; c++) {
            make_mosaic(p, &cl[c], 0, side, channels);
            make_mosaic(p, &cl[c], 1, side, channels);
        }
    }
    unic_html_printf(h, "<p class=\"note\">Each cluster shows its %d most confident items%s "
                     "(the head's probability of the cluster), and its %d most confident "
                     "mistakes: items whose true class is not the class the cluster was matched "
                     "to by the Hungarian matching. ", show,
                     p->f->gcd ? " among the unlabeled, scored ones" : "", miss);
    if (pixels)
        unic_html_printf(h, "Thumbnails: %dx%d px, JPEG (libjpeg-turbo) at quality %d. ", side,
                         side, JPEG_QUALITY);
    else
        unic_html_raw(h, "The items are not images, so they are listed by name or index. ");
    unic_html_raw(h, "</p>\n");
    if (!pixels && p->items == NULL && *p->items_err) {
        unic_html_raw(h, "<p class=\"note\">The data set could not be re-opened: ");
        unic_html_text(h, p->items_err);
        unic_html_raw(h, "</p>\n");
    }
    if (truncated)
        run_page_sampling(p, "Figure 12 shows at most %d items and %d mistakes per cluster "
                          "(%lld of %d clusters have more), so the page holds at most %d "
                          "thumbnails", show, miss, (long long)truncated, k,
                          k * (show + miss));
    unic_html_raw(h, "<div class=\"clusters\">\n");
    /* cards in the confusion matrix's column order (by matched class), then
     * the clusters that hold no scored item */
    unsigned char *done = unic_xcalloc((size_t)k, 1);
    if (p->has_conf)
        for (int j = 0; j < p->conf.ncols; j++) {
            int id = p->conf.cluster_value[j];
            if (id >= 0 && id < k && !done[id]) {
                card(p, &cl[id], side, pixels && side < 48);
                done[id] = 1;
            }
        }
    for (int c = 0; c < k; c++)
        if (!done[c]) card(p, &cl[c], side, pixels && side < 48);
    unic_html_raw(h, "</div>\n</section>\n");
    for (int c = 0; c < k; c++) {
        unic_xfree(cl[c].members);
        unic_xfree(cl[c].mistakes);
        free(cl[c].jpeg[0]);
        free(cl[c].jpeg[1]);
    }
    unic_xfree(done);
    unic_xfree(cl);
}
