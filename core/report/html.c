#include "report/html.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void unic_html_init(unic_html *h)
{
    h->cap = 1 << 16;
    h->len = 0;
    h->data = malloc(h->cap);
    if (!h->data) unic_die("out of memory building a report");
    h->data[0] = '\0';
}

void unic_html_free(unic_html *h)
{
    free(h->data);
    memset(h, 0, sizeof *h);
}

static void reserve(unic_html *h, size_t more)
{
    if (h->len + more + 1 <= h->cap) return;
    size_t cap = h->cap ? h->cap : 1024;
    while (cap < h->len + more + 1) cap *= 2;
    char *grown = realloc(h->data, cap);
    if (!grown) unic_die("out of memory building a report (%zu bytes)", cap);
    h->data = grown;
    h->cap = cap;
}

void unic_html_rawn(unic_html *h, const char *s, size_t n)
{
    reserve(h, n);
    memcpy(h->data + h->len, s, n);
    h->len += n;
    h->data[h->len] = '\0';
}

void unic_html_raw(unic_html *h, const char *s)
{
    if (s) unic_html_rawn(h, s, strlen(s));
}

static void vappend(unic_html *h, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int m = vsnprintf(h->data + h->len, h->cap - h->len, fmt, copy);
    va_end(copy);
    if (m < 0) return;
    if ((size_t)m >= h->cap - h->len) {
        reserve(h, (size_t)m);
        vsnprintf(h->data + h->len, h->cap - h->len, fmt, ap);
    }
    h->len += (size_t)m;
}

void unic_html_printf(unic_html *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(h, fmt, ap);
    va_end(ap);
}

void unic_html_text(unic_html *h, const char *s)
{
    if (!s) return;
    const char *run = s; /* bytes copied as they are, up to the next special one */
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        const char *rep = NULL;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        case '\0': break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) rep = "\xef\xbf\xbd";
        }
        if (!rep && c) continue;
        unic_html_rawn(h, run, (size_t)(p - run));
        if (!c) return;
        unic_html_raw(h, rep);
        run = p + 1;
    }
}

void unic_html_textf(unic_html *h, const char *fmt, ...)
{
    unic_html t;
    unic_html_init(&t);
    va_list ap;
    va_start(ap, fmt);
    vappend(&t, fmt, ap);
    va_end(ap);
    unic_html_text(h, t.data);
    unic_html_free(&t);
}

char *unic_html_escape(const char *s)
{
    unic_html t;
    unic_html_init(&t);
    unic_html_text(&t, s);
    return t.data;
}

char *unic_base64(const void *data, size_t n, size_t *len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = data;
    size_t out_len = (n + 2) / 3 * 4;
    char *out = malloc(out_len + 1), *o = out;
    if (!out) unic_die("out of memory encoding %zu bytes", n);
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[v >> 12 & 63];
        *o++ = tab[v >> 6 & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    if (len) *len = out_len;
    return out;
}

void unic_html_data_uri(unic_html *h, const char *mime, const void *data, size_t n)
{
    size_t len;
    char *b64 = unic_base64(data, n, &len);
    unic_html_printf(h, "data:%s;base64,", mime);
    unic_html_rawn(h, b64, len);
    free(b64);
}

/* System fonts only: nothing is fetched. Wide tables and figures scroll
 * inside their own box, never the page. */
static const char *style =
    "*{box-sizing:border-box}"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI','DejaVu Sans',Arial,"
    "sans-serif;color:#1d2330;background:#f3f4f7}"
    "header.top{background:#1f2a44;color:#fff;padding:18px 28px}"
    "header.top h1{margin:0 0 4px;font-size:22px;font-weight:600}"
    "header.top .sub{color:#c8d0e0;font-size:13px;word-break:break-all}"
    "nav{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid #dde1e8;"
    "padding:8px 28px;font-size:13px}"
    "nav a{margin-right:16px;color:#2f5fb3;text-decoration:none}"
    "main{padding:18px 28px 40px;max-width:1640px}"
    "section.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:16px 20px;"
    "margin:0 0 18px}"
    "section.card>h2{margin:0 0 10px;font-size:17px;font-weight:600}"
    "h3{font-size:14px;margin:14px 0 6px}"
    ".note{color:#5b6475;font-size:12.5px;margin:6px 0}"
    ".notice{background:#fff6e0;border:1px solid #f0c36d;border-radius:6px;padding:10px 14px;"
    "margin:0 0 18px}"
    ".notice ul{margin:4px 0 0;padding-left:20px}"
    ".grid2{display:flex;flex-wrap:wrap;gap:18px 36px;align-items:flex-start}"
    "table{border-collapse:collapse;font-size:13px}"
    "th,td{padding:4px 10px;border-bottom:1px solid #e6e8ee;text-align:left;vertical-align:top}"
    "th{background:#f6f7fa;font-weight:600}"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.unic td{font-weight:600}"
    "table.kv td:first-child{color:#5b6475;white-space:nowrap}"
    "table.kv td:last-child{max-width:560px;overflow-wrap:anywhere}"
    ".scroll{overflow:auto;max-width:100%}"
    ".figs{display:flex;flex-wrap:wrap;gap:12px}"
    ".figs svg,.figs img.fig{max-width:100%;height:auto;border:1px solid #e6e8ee;"
    "border-radius:4px;background:#fff}"
    ".figs>.curve{flex:1 1 460px;max-width:640px}"
    ".figs>.curve svg{width:100%;height:auto}"
    ".old{color:#1f6f3f}.new{color:#a4471b}"
    ".tag{display:inline-block;font-size:11px;padding:0 6px;border-radius:8px;margin-left:4px;"
    "vertical-align:1px}"
    ".tag.old{background:#dff3e6}.tag.new{background:#fbe6da}"
    ".clusters{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:14px}"
    ".cluster{border:1px solid #e1e4ea;border-radius:6px;padding:10px 12px;background:#fcfcfd}"
    ".cluster h3{margin:0 0 4px;font-size:14px}"
    ".cluster .stats{color:#5b6475;font-size:12px;margin-bottom:6px}"
    ".cluster img.mosaic{display:block;width:100%;max-width:100%;height:auto;"
    "image-rendering:auto;border-radius:3px}"
    ".cluster img.mosaic.small{image-rendering:pixelated}"
    ".cluster .lbl{font-size:12px;color:#5b6475;margin:6px 0 2px}"
    ".cluster ol.items{margin:0;padding-left:0;list-style:none;font-size:12px;columns:2;"
    "word-break:break-all}"
    ".cluster .caption{font-size:11.5px;color:#5b6475;margin:2px 0 0}"
    ".mistake{color:#a4471b}"
    "details summary{cursor:pointer;color:#2f5fb3}"
    "pre{background:#f6f7fa;border:1px solid #e6e8ee;border-radius:4px;padding:10px;"
    "font-size:12px;overflow:auto;max-height:480px}"
    "a{color:#2f5fb3}"
    ".best{font-weight:700}"
    "footer{color:#7a8394;font-size:12px;padding:0 28px 30px}";

void unic_html_page_start(unic_html *h, const char *title)
{
    unic_html_raw(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<title>");
    unic_html_text(h, title);
    unic_html_printf(h, "</title>\n<style>%s</style>\n</head>\n<body>\n", style);
}

void unic_html_page_end(unic_html *h) { unic_html_raw(h, "</body>\n</html>\n"); }

int unic_html_write(const unic_html *h, const char *path, char *err, size_t errlen)
{
    return unic_write_file_atomic(path, h->data, h->len, err, errlen);
}
