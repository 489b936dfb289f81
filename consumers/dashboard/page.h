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
 * (its one inline script by hash, inline style, requests to this server
 * only, no forms, no <base>, no framing), enforced by the browser. Kept
 * beside the page so that a change to one is checked against the other
 * (test_page.c). Thread-safe; static storage. */
const char *tecg_page_csp(void);

/* The sign-in page (a form POSTing the token to /login, and /#token=
 * for wall displays) and its policy. */
extern const char tecg_page_login_html[];
extern const size_t tecg_page_login_html_len;
const char *tecg_page_login_csp(void);

#endif
