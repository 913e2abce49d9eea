/* A growing HTML text, the escaping every piece of outside text goes
 * through (file names, class names, settings, log lines), base64 data:
 * URIs for inlined images, and the page's frame: one self-contained file
 * with its style sheet inline and no script, font or image fetched from
 * anywhere. */
#ifndef UNIC_REPORT_HTML_H
#define UNIC_REPORT_HTML_H

#include <stddef.h>

typedef struct unic_html {
    char *data;
    size_t len, cap;
} unic_html;

void unic_html_init(unic_html *h);
void unic_html_free(unic_html *h);
/* Appends markup as it is: only for text the report itself wrote. */
void unic_html_raw(unic_html *h, const char *s);
void unic_html_rawn(unic_html *h, const char *s, size_t n);
void unic_html_printf(unic_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s escaped for text and attribute values: & < > " ' become
 * entities, and control characters other than tab and newline become
 * U+FFFD, so no outside text can open a tag, end an attribute or break
 * the page. NULL appends nothing. */
void unic_html_text(unic_html *h, const char *s);
/* The same for s formatted first. */
void unic_html_textf(unic_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* data:MIME;base64,... of n bytes. */
void unic_html_data_uri(unic_html *h, const char *mime, const void *data, size_t n);
/* s escaped into a new string (malloc'ed; free with free()). */
char *unic_html_escape(const char *s);
/* Standard base64 (RFC 4648, with padding) of n bytes, NUL-terminated
 * (malloc'ed); *len gets its length. */
char *unic_base64(const void *data, size_t n, size_t *len);

/* <!doctype html> ... <body>, with the report's style sheet; title escaped. */
void unic_html_page_start(unic_html *h, const char *title);
void unic_html_page_end(unic_html *h);
/* Writes the page atomically (path.PID.tmp, then renamed). */
int unic_html_write(const unic_html *h, const char *path, char *err, size_t errlen);

#endif
