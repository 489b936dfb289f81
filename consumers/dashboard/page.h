/* The operator page served at GET / (docs/design.md §5): one self-contained HTML
 * document (inline CSS and JavaScript, no external resource) that follows
 * GET /api/stream with EventSource and renders the funding, staffing and
 * training dashboards as tables, with a fallback that renders any JSON
 * document generically. Static storage; never freed. */
#ifndef TECG_PAGE_H
#define TECG_PAGE_H

#include <stddef.h>

/* The page, NUL-terminated; tecg_page_html_len excludes the NUL. */
extern const char tecg_page_html[];
extern const size_t tecg_page_html_len;

/* The Content-Security-Policy served with the page: what the page promises
 * (inline script and style only, requests to this server only, no forms,
 * no <base>), enforced by the browser. Kept beside the page so that a
 * change to one is checked against the other (test_page.c). */
extern const char tecg_page_csp[];

#endif
