/* HTTP client (common/http_client.c) against tests/tools/http_sink_server.py,
 * started per test on an ephemeral port, and against raw sockets for the
 * failure cases (a listener that never answers, a closed port).
 *
 * No test asserts how long something took beyond generous deadlines: the
 * assertions are about what happened (status, error text, connection ids). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "http_client.h"
#include "testserver.h"
#include "testutil.h"

typedef struct {
        tu_net_t net;
        char tmpdir[64]; /* for TLS certificates, or "" */
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        tu_net_init(&f->net);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tu_net_release(&f->net);
        tu_rm_tree(f->tmpdir);
        free(f);
        return 0;
}

/* A client for o, or the test fails with the reason. */
static tecg_http_client_t *new_client(const tecg_http_options_t *o) {
        char err[256];
        tecg_http_client_t *c = tecg_http_client_new(o, err, sizeof(err));
        if (!c)
                fail_msg("tecg_http_client_new: %s", err);
        return c;
}

/* Starts the receiver with args (may be NULL); a client for it. */
static tecg_http_client_t *served_client(fixture_t *f, const char *const *args) {
        tu_server_start(&f->net.srv, args);
        tecg_http_options_t o = {.url = f->net.srv.url};
        return new_client(&o);
}

static int has_tls_word(const char *s) {
        return strcasestr(s, "ssl") || strcasestr(s, "tls") || strcasestr(s, "certificate");
}

/* ---- tests ---- */

/* Headers and a large, non-ASCII body arrive byte for byte; the status and
 * body of the answer come back. */
static void test_post_roundtrip(void **state) {
        fixture_t *f = *state;
        char path[128];
        tecg_http_client_t *c = served_client(f, NULL);

        /* > 1 KiB so curl would use "Expect: 100-continue" if not told. */
        tecg_buf_t body = TECG_BUF_INIT;
        assert_int_equal(tecg_buf_puts(&body, "{\"nation\":\"Fran\xc3\xa7"
                                              "a\","
                                              "\"note\":\"\\u00e9 \xe2\x82\xac\",\"pad\":\""),
                         TECG_OK);
        for (int i = 0; i < 20000; i++)
                assert_int_equal(tecg_buf_puts(&body, "x"), TECG_OK);
        assert_int_equal(tecg_buf_puts(&body, "\"}"), TECG_OK);

        const char *const headers[] = {"Content-Type: application/json",
                                       "X-Tecg-Dashboard: funding", "X-Tecg-Version: 7", NULL};
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_post(c, headers, body.data, body.len, &r), TECG_OK);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.errstr, "");
        assert_int_equal(r.body_truncated, 0);

        json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "accepted");
        assert_string_equal(json_string_value(json_object_get(j, "dashboard")), "funding");
        assert_int_equal(json_integer_value(json_object_get(j, "version")), 7);
        assert_int_equal(json_integer_value(json_object_get(j, "length")), body.len);
        assert_string_equal(json_string_value(json_object_get(j, "content_type")),
                            "application/json");
        json_decref(j);

        size_t len;
        snprintf(path, sizeof(path), "%s/funding.json", f->net.srv.dir);
        char *got = tu_slurp(path, &len);
        assert_int_equal(len, body.len);
        assert_memory_equal(got, body.data, len);
        free(got);

        tecg_buf_free(&body);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

/* One client, several requests: one TCP connection (keep-alive). */
static void test_keepalive_reuse(void **state) {
        fixture_t *f = *state;
        char ver[48];
        tecg_http_client_t *c = served_client(f, NULL);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        for (int v = 1; v <= 4; v++) {
                snprintf(ver, sizeof(ver), "X-Tecg-Version: %d", v);
                const char *const headers[] = {"X-Tecg-Dashboard: staffing", ver, NULL};
                assert_int_equal(tecg_http_post(c, headers, "{}", 2, &r), TECG_OK);
                assert_int_equal(r.status, 200);
                assert_int_equal(r.new_connections, v == 1 ? 1 : 0);
        }
        /* A GET on the same server rides the same connection too. */
        assert_int_equal(tecg_http_get(c, NULL, NULL, &r), TECG_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.new_connections, 0);

        json_t *rec = tu_server_json(&f->net.srv, "/received");
        assert_int_equal(json_array_size(rec), 4);
        json_int_t conn0 = json_integer_value(json_object_get(json_array_get(rec, 0), "conn"));
        size_t i;
        json_t *it;
        json_array_foreach(rec, i, it) {
                assert_int_equal(json_integer_value(json_object_get(it, "conn")), conn0);
                assert_int_equal(json_integer_value(json_object_get(it, "version")),
                                 (json_int_t)i + 1);
        }
        json_decref(rec);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

/* Statuses are the caller's business: 401 and 404 are TECG_OK. */
static void test_status_returned_as_is(void **state) {
        fixture_t *f = *state;
        char url[128];
        const char *const args[] = {"--token", "s3cret", NULL};
        tecg_http_client_t *c = served_client(f, args);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_post(c, NULL, "{}", 2, &r), TECG_OK);
        assert_int_equal(r.status, 401);
        assert_non_null(strstr((const char *)r.body.data, "bearer token"));
        assert_string_equal(r.errstr, "");

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/nope", f->net.srv.port);
        assert_int_equal(tecg_http_get(c, url, NULL, &r), TECG_OK);
        assert_int_equal(r.status, 404);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

/* The configured token is sent as "Authorization: Bearer ...". */
static void test_bearer_token(void **state) {
        fixture_t *f = *state;
        const char *const args[] = {"--token", "s3cret", NULL};
        const char *const headers[] = {"X-Tecg-Dashboard: training", "X-Tecg-Version: 1", NULL};
        tu_server_start(&f->net.srv, args);

        tecg_http_options_t good = {.url = f->net.srv.url, .bearer_token = "s3cret"};
        tecg_http_options_t bad = {.url = f->net.srv.url, .bearer_token = "guess"};
        tecg_http_client_t *c1 = new_client(&good);
        tecg_http_client_t *c2 = new_client(&bad);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_post(c2, headers, "{}", 2, &r), TECG_OK);
        assert_int_equal(r.status, 401);
        assert_int_equal(tecg_http_post(c1, headers, "{}", 2, &r), TECG_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(tu_server_stat(&f->net.srv, "accepted"), 1);
        assert_int_equal(tu_server_stat(&f->net.srv, "unauthorized"), 1);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c1);
        tecg_http_client_destroy(c2);
}

/* A new client for o POSTs and fails in the network (TECG_ERR_IO, no
 * status) well before deadline_ms; curl's reason, printed, goes to why. */
static void post_fails(const tecg_http_options_t *o, int64_t deadline_ms, char why[256]) {
        tecg_http_client_t *c = new_client(o);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        int64_t t0 = tu_now_ms();
        assert_int_equal(tecg_http_post(c, NULL, "{}", 2, &r), TECG_ERR_IO);
        assert_true(tu_now_ms() - t0 < deadline_ms); /* not a measurement */
        assert_int_equal(r.status, 0);
        print_message("%s: %s\n", o->url, r.errstr);
        snprintf(why, 256, "%s", r.errstr);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

/* A server that accepts the connection but never answers: the client gives
 * up after its timeout with curl's "timed out" message. */
static void test_timeout_no_answer(void **state) {
        fixture_t *f = *state;
        char url[64], why[256];
        f->net.hole_fd = tu_black_hole(url, sizeof(url));
        tecg_http_options_t o = {.url = url, .timeout_ms = 300};
        post_fails(&o, 15000, why);
        assert_non_null(strcasestr(why, "timed out"));
}

static void test_connection_refused(void **state) {
        (void)state;
        char url[64], why[256];
        tu_closed_port(url, sizeof(url));
        tecg_http_options_t o = {.url = url};
        post_fails(&o, 15000, why);
        assert_non_null(strstr(why, "curl error 7")); /* COULDNT_CONNECT */
}

/* https:// to a plain HTTP server must fail in TLS, never fall back. */
static void test_tls_to_plain_http_fails(void **state) {
        fixture_t *f = *state;
        char url[64], why[256];
        tu_server_start(&f->net.srv, NULL);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/", f->net.srv.port);
        tecg_http_options_t o = {.url = url, .timeout_ms = 5000};
        post_fails(&o, 15000, why);
        assert_true(has_tls_word(why));
        assert_int_equal(tu_server_stat(&f->net.srv, "posts"), 0);
}

/* Against a real TLS server with a self-signed certificate for IP
 * 127.0.0.1: refused by default, accepted with that certificate as CA file,
 * refused for a host name the certificate does not name, accepted with
 * verification explicitly off. Skipped when openssl(1) is not installed. */
static void test_tls_verification(void **state) {
        fixture_t *f = *state;
        char cmd[1024], cert[128], key[128], url[64], url_name[64];
        const char *const headers[] = {"X-Tecg-Dashboard: funding", "X-Tecg-Version: 1", NULL};

        snprintf(f->tmpdir, sizeof(f->tmpdir), "/tmp/tecg-tls-test-XXXXXX");
        assert_non_null(mkdtemp(f->tmpdir));
        snprintf(cert, sizeof(cert), "%s/cert.pem", f->tmpdir);
        snprintf(key, sizeof(key), "%s/key.pem", f->tmpdir);
        snprintf(cmd, sizeof(cmd),
                 "openssl req -x509 -newkey ec -pkeyopt "
                 "ec_paramgen_curve:prime256v1 -nodes -days 2 "
                 "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
                 "-keyout %s -out %s >/dev/null 2>&1",
                 key, cert);
        if (system(cmd) != 0) {
                skip();
                return;
        }
        const char *const args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
        tu_server_start(&f->net.srv, args);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/", f->net.srv.port);
        snprintf(url_name, sizeof(url_name), "https://localhost:%d/", f->net.srv.port);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;

        /* Refused: why (in curl's words); accepted: NULL. With verification
         * off the post is stale for the server, still 200. */
        const struct {
                const char *name;
                tecg_http_options_t o;
                const char *why;
        } cases[] = {
                {"default verification", {.url = url}, "certificate"},
                {"certificate as CA file", {.url = url, .ca_file = cert}, NULL},
                {"wrong host name", {.url = url_name, .ca_file = cert}, "host"},
                {"verification off", {.url = url, .tls_no_verify = 1}, NULL},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                tecg_http_client_t *c = new_client(&cases[i].o);
                tecg_err_t rc = tecg_http_post(c, headers, "{}", 2, &r);
                print_message("%s: %s\n", cases[i].name, r.errstr);
                if (cases[i].why) {
                        assert_int_equal(rc, TECG_ERR_IO);
                        assert_non_null(strcasestr(r.errstr, cases[i].why));
                } else {
                        assert_int_equal(rc, TECG_OK);
                        assert_int_equal(r.status, 200);
                }
                tecg_http_client_destroy(c);
        }

        assert_int_equal(tu_server_stat(&f->net.srv, "posts"), 2);
        tecg_http_response_free(&r);
}

/* The body is capped at max_body; the rest is read and discarded, so the
 * connection stays usable. */
static void test_body_cap(void **state) {
        fixture_t *f = *state;
        tu_server_start(&f->net.srv, NULL);
        tecg_http_options_t o = {.url = f->net.srv.url, .max_body = 16};
        tecg_http_client_t *c = new_client(&o);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_get(c, NULL, NULL, &r), TECG_OK); /* HTML */
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body.len, 16);
        assert_int_equal(r.body_truncated, 1);
        assert_int_equal(strlen((const char *)r.body.data), 16);
        const char *const headers[] = {"X-Tecg-Dashboard: funding", "X-Tecg-Version: 1", NULL};
        assert_int_equal(tecg_http_post(c, headers, "{}", 2, &r), TECG_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.new_connections, 0);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

typedef struct {
        tecg_http_client_t *c;
        int delay_ms;
} canceller_t;

static void *cancel_later(void *arg) {
        canceller_t *k = arg;
        usleep((useconds_t)k->delay_ms * 1000);
        tecg_http_client_cancel(k->c);
        return NULL;
}

/* cancel() from another thread ends a hanging request at once, and later
 * requests fail without touching the network. */
static void test_cancel(void **state) {
        fixture_t *f = *state;
        char url[64];
        f->net.hole_fd = tu_black_hole(url, sizeof(url));
        tecg_http_options_t o = {.url = url, .timeout_ms = 60000};
        tecg_http_client_t *c = new_client(&o);

        canceller_t k = {c, 200};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, cancel_later, &k), 0);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        int64_t t0 = tu_now_ms();
        assert_int_equal(tecg_http_post(c, NULL, "{}", 2, &r), TECG_ERR_IO);
        assert_true(tu_now_ms() - t0 < 30000); /* far below the 60 s timeout */
        pthread_join(t, NULL);
        assert_non_null(strstr(r.errstr, "cancelled"));
        assert_int_equal(tecg_http_post(c, NULL, "{}", 2, &r), TECG_ERR_IO);
        assert_non_null(strstr(r.errstr, "cancelled"));
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

typedef struct {
        const char *url;
        int index;
        int ok;
} poster_t;

static void *post_from_thread(void *arg) {
        poster_t *p = arg;
        char err[256], dash[64], ver[48];
        tecg_http_options_t o = {.url = p->url};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        if (!c)
                return NULL;
        snprintf(dash, sizeof(dash), "X-Tecg-Dashboard: thread%d", p->index);
        for (int v = 1; v <= 5; v++) {
                snprintf(ver, sizeof(ver), "X-Tecg-Version: %d", v);
                const char *const headers[] = {dash, ver, NULL};
                if (tecg_http_post(c, headers, "{\"n\":1}", 7, &r) == TECG_OK && r.status == 200)
                        p->ok++;
        }
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
        return NULL;
}

/* Clients created and used concurrently in several threads (the first of
 * them triggers the one curl_global_init). */
static void test_threads(void **state) {
        fixture_t *f = *state;
        enum { N = 4 };
        pthread_t t[N];
        poster_t p[N];
        tu_server_start(&f->net.srv, NULL);
        for (int i = 0; i < N; i++) {
                p[i] = (poster_t){f->net.srv.url, i, 0};
                assert_int_equal(pthread_create(&t[i], NULL, post_from_thread, &p[i]), 0);
        }
        for (int i = 0; i < N; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(p[i].ok, 5);
        }
        assert_int_equal(tu_server_stat(&f->net.srv, "accepted"), N * 5);
}

static void test_bad_options(void **state) {
        (void)state;
        char err[256];
        const struct {
                tecg_http_options_t o;
                const char *why;
        } cases[] = {
                {{.url = NULL}, "http://"},
                {{.url = "ftp://example.org/"}, "http://"},
                {{.url = "127.0.0.1:80"}, "http://"},
                {{.url = "http://x/", .bearer_token = "a\r\nX-Evil: 1"}, "line break"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                err[0] = '\0';
                assert_null(tecg_http_client_new(&cases[i].o, err, sizeof(err)));
                assert_non_null(strstr(err, cases[i].why));
        }
        assert_null(tecg_http_client_new(NULL, err, sizeof(err)));
        tecg_http_client_destroy(NULL);

        /* Header injection through a per-request header is refused too. */
        tecg_http_options_t o = {.url = "http://127.0.0.1:9/"};
        tecg_http_client_t *c = new_client(&o);
        const char *const headers[] = {"X-A: 1\r\nX-B: 2", NULL};
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_post(c, headers, "{}", 2, &r), TECG_ERR_INVALID);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_post_roundtrip),
                T(test_keepalive_reuse),
                T(test_status_returned_as_is),
                T(test_bearer_token),
                T(test_timeout_no_answer),
                T(test_connection_refused),
                T(test_tls_to_plain_http_fails),
                T(test_tls_verification),
                T(test_body_cap),
                T(test_cancel),
                T(test_threads),
                T(test_bad_options),
#undef T
        };
        /* A receiver that vanished must not kill the test with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
