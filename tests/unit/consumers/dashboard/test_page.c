/* The operator page (consumers/dashboard/page.h) on its own: a complete
 * HTML document, and one that keeps the promises of the
 * Content-Security-Policy served with it (tecg_page_csp()): inline script and
 * style only, requests only to this server's own paths, no forms, no
 * <base>, no eval. A page edit that breaks one of these would render blank
 * or half-working in the browser, with nothing but a console message; here
 * it fails the build's tests. test_http_server.c checks that the server
 * sends these bytes with this policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <sodium.h>

#include "page.h"
#include "testutil.h"

static const char *page(void) {
        return tecg_page_html;
}

/* The length is the string's, and the page is one NUL-free text. */
static void test_length(void **state) {
        (void)state;
        assert_int_equal(tecg_page_html_len, strlen(tecg_page_html));
        assert_true(tecg_page_html_len > 1000);
}

/* A complete HTML5 document: doctype, one html/head/body each, in order,
 * charset and title in the head, and nothing after </html>. */
static void test_complete_document(void **state) {
        (void)state;
        const char *p = page();
        static const char *const once[] = {"<html",
                                           "</html>",
                                           "<head>",
                                           "</head>",
                                           "<body>",
                                           "</body>",
                                           "<title>",
                                           "</title>",
                                           "<style>",
                                           "</style>",
                                           "<script>",
                                           "</script>",
                                           "<meta charset='utf-8'>"};
        assert_true(strncasecmp(p, "<!doctype html>\n", 16) == 0);
        for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++)
                if (tu_count_of(p, once[i]) != 1)
                        fail_msg("%s occurs %d times, expected once", once[i],
                                 tu_count_of(p, once[i]));
        const char *order[] = {"<html",    "<head>",    "<meta charset='utf-8'>",
                               "<title>",  "</title>",  "<style>",
                               "</style>", "</head>",   "<body>",
                               "<script>", "</script>", "</body>",
                               "</html>"};
        const char *at = p;
        for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
                const char *next = strstr(p, order[i]);
                if (next < at)
                        fail_msg("%s out of order", order[i]);
                at = next;
        }
        const char *end = strstr(p, "</html>");
        assert_string_equal(end, "</html>\n");
}

/* default-src 'none' with only script/style 'unsafe-inline': no external
 * script, stylesheet, font, frame or object, and no inline event handler
 * attribute in the markup (the script wires them up). */
static void test_nothing_external(void **state) {
        (void)state;
        const char *p = page();
        static const char *const banned[] = {
                "http:",  "https:",       "<link",    " src=",      "<iframe",     "<object",
                "<embed", "@import",      "url(",     "@font-face", "<form",       "<base",
                "eval(",  "new Function", "onclick=", "onload=",    "javascript:", "document.write",
        };
        for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
                if (strstr(p, banned[i]))
                        fail_msg("the page holds '%s', which the policy forbids or "
                                 "the page promises not to use",
                                 banned[i]);
}

/* connect-src 'self': every fetch() and EventSource goes to a path of this
 * server ('/...'), or to a URL this server listed (d.url of
 * /api/dashboards, itself "/api/dashboards/NAME"). Links too. */
static void test_requests_stay_here(void **state) {
        (void)state;
        const char *p = page();
        static const struct {
                const char *call;
                const char *const allowed[2];
        } calls[] = {
                {"fetch(", {"'/", "d.url"}},
                {"new EventSource(", {"'/", NULL}},
                {"href: ", {"'/", NULL}},
                {"href='", {"/", NULL}},
        };
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
                int seen = 0;
                size_t n = strlen(calls[i].call);
                for (const char *at = strstr(p, calls[i].call); at;
                     at = strstr(at + n, calls[i].call)) {
                        const char *arg = at + n;
                        bool ok = false;
                        for (int k = 0; k < 2 && calls[i].allowed[k]; k++)
                                ok |= strncmp(arg, calls[i].allowed[k],
                                              strlen(calls[i].allowed[k])) == 0;
                        if (!ok)
                                fail_msg("%s%.40s: not a path of this server", calls[i].call, arg);
                        seen++;
                }
                if (seen == 0 && i < 2)
                        fail_msg("no %s in the page", calls[i].call);
        }
        /* The routes it follows exist in http_server.h. */
        tu_assert_contains(p, "'/api/stream'", "'/api/dashboards'", "'/api/export/'",
                           "'/api/dashboards/'");
}

/* The policy itself: what the checks above rely on, spelled out, so that
 * loosening it is a visible change. */
static void test_policy(void **state) {
        (void)state;
        static const char *const directives[] = {
                "default-src 'none'", "script-src 'sha256-",    "style-src 'unsafe-inline'",
                "connect-src 'self'", "img-src 'self' data:",   "base-uri 'none'",
                "form-action 'none'", "frame-ancestors 'none'",
        };
        for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
                if (tu_count_of(tecg_page_csp(), directives[i]) != 1)
                        fail_msg("policy '%s' lacks '%s'", tecg_page_csp(), directives[i]);
        assert_null(strstr(tecg_page_csp(), "unsafe-eval"));
        assert_null(strstr(tecg_page_csp(), "*"));
        assert_null(strstr(tecg_page_csp(), "http"));
        /* One line: it is a header value. */
        assert_null(strpbrk(tecg_page_csp(), "\r\n"));
}

/* The hash in each policy is the SHA-256 of that page's one inline script,
 * byte for byte, and no policy falls back to 'unsafe-inline' scripts: a
 * stale hash would leave the page dead in the browser. */
static void check_hash(const char *html, const char *csp) {
        unsigned char hash[crypto_hash_sha256_BYTES];
        char b64[64], want[96];
        const char *start = strstr(html, "<script>") + strlen("<script>");
        const char *end = strstr(start, "</script>");
        assert_non_null(end);
        crypto_hash_sha256(hash, (const unsigned char *)start, (size_t)(end - start));
        sodium_bin2base64(b64, sizeof(b64), hash, sizeof(hash), sodium_base64_VARIANT_ORIGINAL);
        snprintf(want, sizeof(want), "script-src 'sha256-%s';", b64);
        if (!strstr(csp, want))
                fail_msg("policy '%s' lacks %s", csp, want);
        assert_null(strstr(csp, "script-src 'unsafe-inline'"));
        assert_int_equal(tu_count_of(html, "<script"), 1);
}

static void test_policy_hash(void **state) {
        (void)state;
        assert_true(sodium_init() >= 0);
        check_hash(tecg_page_html, tecg_page_csp());
        check_hash(tecg_page_login_html, tecg_page_login_csp());
        assert_int_equal(tecg_page_login_html_len, strlen(tecg_page_login_html));
        tu_assert_contains(tecg_page_login_csp(), "default-src 'none'", "form-action 'self'",
                           "frame-ancestors 'none'", "base-uri 'none'");
        /* The sign-in form posts to this server only, the token as a password
         * field; the script reads the fragment, never a query string. */
        tu_assert_contains(tecg_page_login_html, "<form method='post' action='/login'>",
                           "type='password'", "location.hash", "fetch('/login'",
                           "history.replaceState");
        assert_null(strstr(tecg_page_login_html, "location.search"));
        assert_null(strstr(tecg_page_login_html, "http:"));
}

/* The three dashboards are rendered, and a row without a name (a nation
 * not in the list: status "unlisted", name null) shows its status rather
 * than nothing. */
static void test_dashboards_rendered(void **state) {
        (void)state;
        const char *p = page();
        tu_assert_contains(p, "'staffing'", "'training'", "'funding'", "n.name || n.status");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_length),
                cmocka_unit_test(test_complete_document),
                cmocka_unit_test(test_nothing_external),
                cmocka_unit_test(test_requests_stay_here),
                cmocka_unit_test(test_policy),
                cmocka_unit_test(test_policy_hash),
                cmocka_unit_test(test_dashboards_rendered),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
