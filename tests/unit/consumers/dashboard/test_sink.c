/* Push sink (consumers/sink.c) against tests/tools/http_sink_server.py,
 * started per test on an ephemeral port (--fail-first/--fail-status inject
 * failures), and against raw sockets for dead receivers.
 *
 * The assertions are about counts and orders (what was delivered, how many
 * attempts, which log lines); times appear only as generous deadlines, so a
 * slow machine (valgrind, sanitizers) makes the tests slower, not red. */
#include <inttypes.h>
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

#include "docsign.h"
#include "http_client.h"
#include "sink.h"
#include "testserver.h"
#include "testutil.h"

/* ---- fixture: server, black hole, sink, captured stderr ---- */

typedef struct {
        tu_net_t net;
        tecg_sink_t *sink; /* destroyed by teardown if a test failed early */
        int saved_stderr;  /* >= 0 while stderr goes to cap_path */
        char cap_path[64];
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        f->saved_stderr = -1;
        tu_net_init(&f->net);
        *state = f;
        return 0;
}

static void capture_restore(fixture_t *f) {
        if (f->saved_stderr >= 0) {
                dup2(f->saved_stderr, STDERR_FILENO);
                close(f->saved_stderr);
                f->saved_stderr = -1;
        }
}

static int teardown(void **state) {
        fixture_t *f = *state;
        capture_restore(f);
        if (f->cap_path[0])
                unlink(f->cap_path);
        tecg_sink_destroy(f->sink, 0);
        tu_net_release(&f->net);
        free(f);
        return 0;
}

/* From here until capture_end() the log (stderr) goes to a file. */
static void capture_begin(fixture_t *f) {
        snprintf(f->cap_path, sizeof(f->cap_path), "/tmp/tecg-sink-log-XXXXXX");
        int fd = mkstemp(f->cap_path);
        assert_true(fd >= 0);
        f->saved_stderr = dup(STDERR_FILENO);
        assert_true(f->saved_stderr >= 0);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);
        close(fd);
}

/* The captured log (caller frees), also copied to the real stderr so it
 * shows in the test output. */
static char *capture_end(fixture_t *f) {
        capture_restore(f);
        char *text = tu_slurp(f->cap_path, NULL);
        unlink(f->cap_path);
        f->cap_path[0] = '\0';
        fputs(text, stderr);
        return text;
}

/* Destroys the sink (flush bound flush_ms) with the log captured: the log
 * (caller frees), and how long destroy() took in *took_ms. */
static char *destroy_logged(fixture_t *f, int flush_ms, int64_t *took_ms) {
        capture_begin(f);
        int64_t t0 = tu_now_ms();
        tecg_sink_destroy(f->sink, flush_ms);
        *took_ms = tu_now_ms() - t0;
        f->sink = NULL;
        print_message("destroy took %" PRId64 " ms\n", *took_ms);
        return capture_end(f);
}

/* Fast backoff so the tests do not wait long; generous request timeouts. */
static tecg_sink_options_t test_options(const char *url) {
        tecg_sink_options_t o = {.name = "test",
                                 .url = url,
                                 .timeout_ms = 10000,
                                 .backoff_initial_ms = 20,
                                 .backoff_max_ms = 2000};
        return o;
}

/* Starts the receiver with args (may be NULL); sink options for it. */
static tecg_sink_options_t serve(fixture_t *f, const char *const *args) {
        tu_server_start(&f->net.srv, args);
        return test_options(f->net.srv.url);
}

static tecg_sink_t *new_sink(const tecg_sink_options_t *o) {
        char err[256];
        tecg_sink_t *s = tecg_sink_new(o, err, sizeof(err));
        if (!s)
                print_error("tecg_sink_new: %s\n", err);
        assert_non_null(s);
        return s;
}

static void offer(tecg_sink_t *s, const char *dashboard, uint64_t version) {
        char json[128];
        int n = snprintf(json, sizeof(json), "{\"dashboard\":\"%s\",\"version\":%" PRIu64 "}",
                         dashboard, version);
        assert_int_equal(tecg_sink_offer(s, dashboard, version, json, (size_t)n), TECG_OK);
}

/* Versions of `dashboard` the server accepted, in arrival order. */
static size_t received_versions(const tu_server_t *srv, const char *dashboard, uint64_t *out,
                                size_t max, json_int_t *conn) {
        json_t *rec = tu_server_json(srv, "/received"), *it;
        size_t i, n = 0;
        json_array_foreach(rec, i, it) {
                if (strcmp(json_string_value(json_object_get(it, "dashboard")), dashboard) != 0)
                        continue;
                if (conn)
                        conn[n < max ? n : max - 1] =
                                json_integer_value(json_object_get(it, "conn"));
                if (n < max)
                        out[n] = (uint64_t)json_integer_value(json_object_get(it, "version"));
                n++;
        }
        json_decref(rec);
        return n;
}

/* Polls the stats until `failures` reaches n (or fails after 20 s). */
static void wait_failures(tecg_sink_t *s, uint64_t n) {
        tecg_sink_stats_t st;
        int64_t deadline = tu_now_ms() + 20000;
        for (;;) {
                tecg_sink_stats(s, &st);
                if (st.failures >= n)
                        return;
                assert_true(tu_now_ms() < deadline);
                tu_sleep_ms(10);
        }
}

/* ---- tests ---- */

/* A healthy receiver gets every dashboard's versions in increasing order,
 * the last one certainly, all on one keep-alive connection; whatever was
 * not sent was superseded, never lost in between. */
static void test_delivers_in_order(void **state) {
        fixture_t *f = *state;
        tecg_sink_options_t o = serve(f, NULL);
        f->sink = new_sink(&o);

        for (uint64_t v = 1; v <= 20; v++) {
                offer(f->sink, "funding", v);
                if (v <= 5)
                        offer(f->sink, "staffing", v);
        }
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "funding", 20, 20000), TECG_OK);
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "staffing", 5, 20000), TECG_OK);

        uint64_t got[32];
        json_int_t conn[32];
        size_t n = received_versions(&f->net.srv, "funding", got, 32, conn);
        assert_true(n >= 1 && n <= 20);
        for (size_t i = 1; i < n; i++) {
                assert_true(got[i] > got[i - 1]);
                assert_int_equal(conn[i], conn[0]);
        }
        assert_int_equal(got[n - 1], 20);
        json_int_t conn0 = conn[0];
        size_t m = received_versions(&f->net.srv, "staffing", got, 32, conn);
        assert_int_equal(got[m - 1], 5);
        for (size_t i = 0; i < m; i++)
                assert_int_equal(conn[i], conn0); /* one connection for all */
        assert_int_equal(tu_server_stat(&f->net.srv, "stale"), 0);

        tecg_sink_stats_t st;
        tecg_sink_stats(f->sink, &st);
        assert_int_equal(st.delivered, n + m);
        assert_int_equal(st.delivered + st.dropped, 25);
        assert_int_equal(st.failures, 0);
        assert_int_equal(st.pending, 0);
        assert_true(st.up);
        assert_true(st.last_success_ms > 0);
        assert_int_equal(st.last_status, 200);
}

/* While the receiver fails (3 x 500 with Retry-After: 1, so the five offers
 * certainly land during the first failure), only the latest version is kept
 * and delivered after recovery; the log says "down" once and "up again"
 * once. */
static void test_latest_only_while_down(void **state) {
        fixture_t *f = *state;
        const char *const args[] = {"--fail-first", "3", "--retry-after", "1", NULL};
        tecg_sink_options_t o = serve(f, args);
        capture_begin(f);
        f->sink = new_sink(&o);

        for (uint64_t v = 1; v <= 5; v++)
                offer(f->sink, "funding", v);
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "funding", 5, 30000), TECG_OK);
        char *log = capture_end(f);

        uint64_t got[8];
        assert_int_equal(received_versions(&f->net.srv, "funding", got, 8, NULL), 1);
        assert_int_equal(got[0], 5);
        assert_int_equal(tu_server_stat(&f->net.srv, "failed_injected"), 3);

        tecg_sink_stats_t st;
        tecg_sink_stats(f->sink, &st);
        assert_int_equal(st.delivered, 1);
        assert_int_equal(st.failures, 3);
        assert_int_equal(st.retries, 3);
        assert_int_equal(st.dropped, 4); /* versions 1-4, superseded */
        assert_int_equal(st.consecutive_failures, 0);
        assert_true(st.up);
        assert_int_equal(tu_count_of(log, "test: down (HTTP 500"), 1);
        assert_int_equal(tu_count_of(log, "keeping latest versions, retrying"), 1);
        assert_int_equal(tu_count_of(log, "test: up again after"), 1);
        assert_non_null(strstr(log, "delivered funding version 5 after 3 "
                                    "failed attempts"));
        free(log);
}

/* Which statuses are retried and which drop the version (table-driven). */
static void test_status_classes(void **state) {
        fixture_t *f = *state;
        static const struct {
                const char *status;
                int retried;
        } cases[] = {
                {"500", 1}, {"502", 1}, {"503", 1}, {"429", 1}, {"408", 1}, {"400", 0}, {"401", 0},
                {"403", 0}, {"404", 0}, {"409", 0}, {"413", 0}, {"422", 0}, {"301", 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *const args[] = {"--fail-first", cases[i].retried ? "2" : "1",
                                            "--fail-status", cases[i].status, NULL};
                tecg_sink_stats_t st;
                print_message("status %s\n", cases[i].status);
                tecg_sink_options_t o = serve(f, args);
                f->sink = new_sink(&o);
                offer(f->sink, "funding", 1);
                tecg_err_t want = cases[i].retried ? TECG_OK : TECG_ERR_INVALID;
                assert_int_equal(tecg_sink_wait_delivered(f->sink, "funding", 1, 20000), want);
                tecg_sink_stats(f->sink, &st);
                if (cases[i].retried) {
                        assert_int_equal(st.failures, 2);
                        assert_int_equal(st.retries, 2);
                        assert_int_equal(st.delivered, 1);
                        assert_int_equal(st.rejected, 0);
                } else {
                        assert_int_equal(st.failures, 1);
                        assert_int_equal(st.retries, 0);
                        assert_int_equal(st.delivered, 0);
                        assert_int_equal(st.rejected, 1);
                        assert_non_null(strstr(st.last_error, cases[i].status));
                        assert_int_equal(tu_server_stat(&f->net.srv, "posts"), 1);
                }
                assert_true(st.up);
                assert_int_equal(st.pending, 0);
                tecg_sink_destroy(f->sink, 1000);
                f->sink = NULL;
                tu_server_stop(&f->net.srv);
        }
}

/* A 4xx drops that version with an error naming sink, dashboard, version,
 * status and the start of the answer; the same version offered again is
 * ignored, the next one goes through. */
static void test_rejected_4xx_dropped(void **state) {
        fixture_t *f = *state;
        const char *const args[] = {"--fail-first", "1", "--fail-status", "400", NULL};
        tecg_sink_options_t o = serve(f, args);
        f->sink = new_sink(&o);

        capture_begin(f);
        offer(f->sink, "funding", 1);
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "funding", 1, 20000), TECG_ERR_INVALID);
        char *log = capture_end(f);
        tu_assert_contains(log, "test: receiver rejected dashboard funding "
                                "version 1 with HTTP 400, dropping this "
                                "version: {\"error\": \"injected failure");
        assert_null(strstr(log, "down ("));
        free(log);

        offer(f->sink, "funding", 1); /* the rejected version again: ignored */
        offer(f->sink, "funding", 2);
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "funding", 2, 20000), TECG_OK);
        uint64_t got[4];
        assert_int_equal(received_versions(&f->net.srv, "funding", got, 4, NULL), 1);
        assert_int_equal(got[0], 2);
        tecg_sink_stats_t st;
        tecg_sink_stats(f->sink, &st);
        assert_int_equal(st.rejected, 1);
        assert_int_equal(st.stale, 1);
        assert_int_equal(st.delivered, 1);
        assert_int_equal(tu_server_stat(&f->net.srv, "posts"), 2);
}

/* Offers not newer than what was delivered are not sent at all. */
static void test_stale_offers_ignored(void **state) {
        fixture_t *f = *state;
        tecg_sink_options_t o = serve(f, NULL);
        f->sink = new_sink(&o);
        offer(f->sink, "training", 3);
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "training", 3, 20000), TECG_OK);
        offer(f->sink, "training", 2);
        offer(f->sink, "training", 3);
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "training", 2, 0),
                         TECG_OK); /* an older version counts as delivered */
        tecg_sink_stats_t st;
        tecg_sink_stats(f->sink, &st);
        assert_int_equal(st.stale, 2);
        assert_int_equal(st.pending, 0);
        assert_int_equal(tu_server_stat(&f->net.srv, "posts"), 1);
}

/* The token configured for the sink reaches the receiver; a wrong one is a
 * 401, which drops the version instead of retrying forever. */
static void test_bearer_token(void **state) {
        fixture_t *f = *state;
        const char *const args[] = {"--token", "s3cret", NULL};
        tecg_sink_options_t o = serve(f, args);
        o.bearer_token = "s3cret";
        f->sink = new_sink(&o);
        offer(f->sink, "funding", 1);
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "funding", 1, 20000), TECG_OK);
        tecg_sink_destroy(f->sink, 1000);

        o.bearer_token = "wrong";
        f->sink = new_sink(&o);
        offer(f->sink, "funding", 2);
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "funding", 2, 20000), TECG_ERR_INVALID);
        assert_int_equal(tu_server_stat(&f->net.srv, "unauthorized"), 1);
        assert_int_equal(tu_server_stat(&f->net.srv, "accepted"), 1);
}

/* A signed version's Tecg-Signature value reaches the receiver as that
 * header, with every retry of the version (the signature stays with the
 * document when a failed POST puts it back); an unsigned one has none. */
static void test_signature_header(void **state) {
        fixture_t *f = *state;
        static const char sig[] = "keyid=dash-1,sig=c2lnbmF0dXJl";
        static const char doc[] = "{\"dashboard\":\"funding\",\"version\":1}";
        const char *const args[] = {"--fail-first", "2", NULL};
        tecg_sink_options_t o = serve(f, args);
        f->sink = new_sink(&o);
        assert_int_equal(tecg_sink_offer_signed(f->sink, "funding", 1, doc, strlen(doc), sig),
                         TECG_OK);
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "funding", 1, 20000), TECG_OK);
        offer(f->sink, "staffing", 1);
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "staffing", 1, 20000), TECG_OK);
        assert_int_equal(tu_server_stat(&f->net.srv, "failed_injected"), 2);

        json_t *rec = tu_server_json(&f->net.srv, "/received"), *it;
        size_t i, seen = 0;
        json_array_foreach(rec, i, it) {
                const char *name = json_string_value(json_object_get(it, "dashboard"));
                json_t *got = json_object_get(it, "signature");
                if (strcmp(name, "funding") == 0)
                        assert_string_equal(json_string_value(got), sig);
                else
                        assert_true(json_is_null(got));
                seen++;
        }
        assert_int_equal(seen, 2);
        json_decref(rec);
        /* A value that could not be a Tecg-Signature is refused. */
        char big[TECG_DOCSIGN_VALUE_SIZE + 1];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(tecg_sink_offer_signed(f->sink, "funding", 2, doc, strlen(doc), big),
                         TECG_ERR_INVALID);
}

/* Against a receiver that always answers 500, the number of attempts in a
 * 1.5 s window stays small although offers keep coming every 100 ms: the
 * backoff doubles and new offers do not reset it. Bounds: delays never
 * exceed their cap (20, 40, 80, ... ms), so at least 6 attempts fit in the
 * window; a backoff that did not grow, or restarted with every offer,
 * would make 40+. */
static void test_backoff_grows(void **state) {
        fixture_t *f = *state;
        const char *const args[] = {"--fail-first", "1000000", NULL};
        tecg_sink_options_t o = serve(f, args);
        o.backoff_initial_ms = 20;
        o.backoff_max_ms = 10000;
        f->sink = new_sink(&o);

        for (uint64_t v = 1; v <= 15; v++) {
                offer(f->sink, "funding", v);
                tu_sleep_ms(100);
        }
        tecg_sink_stats_t st;
        tecg_sink_stats(f->sink, &st);
        print_message("attempts in the window: %" PRIu64 "\n", st.failures);
        assert_true(st.failures >= 3);
        assert_true(st.failures <= 30);
        assert_int_equal(st.retries, st.failures - 1);
        assert_int_equal(st.consecutive_failures, st.failures);
        assert_int_equal(st.delivered, 0);
        assert_int_equal(st.dropped, 14);
        assert_int_equal(st.pending, 1);
        assert_false(st.up);
        assert_non_null(strstr(st.last_error, "HTTP 500"));
        assert_int_equal(tu_server_stat(&f->net.srv, "posts"), (json_int_t)st.failures);

        int64_t took;
        char *log = destroy_logged(f, 200, &took);
        tu_assert_contains(log, "test: stopped; 1 dashboard(s) not "
                                "delivered: funding version 15");
        free(log);
}

/* destroy() with versions pending and a receiver that accepts the
 * connection but never answers (request timeout 30 s): it returns within
 * its bound, aborting the hanging POST, and logs what was not delivered. */
static void test_destroy_bounded_dead_server(void **state) {
        fixture_t *f = *state;
        char url[64];
        f->net.hole_fd = tu_black_hole(url, sizeof(url));
        tecg_sink_options_t o = test_options(url);
        o.timeout_ms = 30000;
        o.connect_timeout_ms = 30000;
        f->sink = new_sink(&o);
        offer(f->sink, "funding", 3);
        offer(f->sink, "staffing", 7);

        int64_t took;
        char *log = destroy_logged(f, 300, &took);
        assert_true(took < 10000); /* deadline far below the 30 s timeout */
        tu_assert_contains(log, "2 dashboard(s) not delivered", "funding version 3",
                           "staffing version 7");
        free(log);
}

/* tecg_sink_stop() on several sinks, then destroy: one budget for all of
 * them, not one per sink. Three receivers that never answer, a 1500 ms
 * budget: one after the other the stop would take 4.5 s. */
static void test_stop_one_budget_for_all(void **state) {
        (void)state;
        char url[64];
        int holes[3];
        tecg_sink_t *sinks[3];
        for (int i = 0; i < 3; i++) {
                holes[i] = tu_black_hole(url, sizeof(url));
                tecg_sink_options_t o = test_options(url);
                o.timeout_ms = 30000;
                o.connect_timeout_ms = 30000;
                sinks[i] = new_sink(&o);
                offer(sinks[i], "funding", 1);
        }
        int64_t t0 = tu_now_ms();
        for (int i = 0; i < 3; i++)
                tecg_sink_stop(sinks[i], 1500);
        for (int i = 0; i < 3; i++)
                tecg_sink_destroy(sinks[i], 0); /* keeps the deadline of stop */
        int64_t took = tu_now_ms() - t0;
        print_message("stop of three dead sinks took %" PRId64 " ms\n", took);
        assert_true(took >= 1400);
        assert_true(took < 4000); /* one after the other: 4500 */
        for (int i = 0; i < 3; i++)
                close(holes[i]);
}

/* destroy() ends a long backoff at once: the receiver that was down when
 * the sink backed off (60 s) is up by shutdown, and the pending version is
 * delivered within the flush bound. */
static void test_destroy_flushes_after_backoff(void **state) {
        fixture_t *f = *state;
        char url[64], port_arg[16];
        int port = tu_closed_port(url, sizeof(url));
        tecg_sink_options_t o = test_options(url);
        o.backoff_initial_ms = 60000;
        o.backoff_max_ms = 60000;
        f->sink = new_sink(&o);
        offer(f->sink, "funding", 1);
        wait_failures(f->sink, 1); /* refused: now in backoff */

        snprintf(port_arg, sizeof(port_arg), "%d", port);
        const char *const args[] = {"--port", port_arg, NULL};
        tu_server_start(&f->net.srv, args);
        offer(f->sink, "funding", 2); /* replaces 1; the backoff goes on */

        int64_t took;
        char *log = destroy_logged(f, 20000, &took);
        assert_true(took < 20000);
        tu_assert_contains(log, "stopped; nothing pending (1 delivered");
        free(log);
        uint64_t got[4];
        assert_int_equal(received_versions(&f->net.srv, "funding", got, 4, NULL), 1);
        assert_int_equal(got[0], 2);
}

/* destroy() with a healthy receiver delivers what was just offered. */
static void test_destroy_flushes_pending(void **state) {
        fixture_t *f = *state;
        tecg_sink_options_t o = serve(f, NULL);
        f->sink = new_sink(&o);
        offer(f->sink, "funding", 1);
        offer(f->sink, "staffing", 1);
        offer(f->sink, "training", 1);
        tecg_sink_destroy(f->sink, 20000);
        f->sink = NULL;
        assert_int_equal(tu_server_stat(&f->net.srv, "accepted"), 3);
}

static void test_offer_validation(void **state) {
        fixture_t *f = *state;
        char url[64], err[256];
        tu_closed_port(url, sizeof(url));
        tecg_sink_options_t o = test_options(url);
        o.backoff_initial_ms = 60000;
        f->sink = new_sink(&o);
        const char *bad[] = {NULL, "", "a b", "x\r\nX-Evil: 1", "caf\xc3\xa9", "a/b"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(tecg_sink_offer(f->sink, bad[i], 1, "{}", 2), TECG_ERR_INVALID);
        assert_int_equal(tecg_sink_offer(f->sink, "funding", 1, NULL, 5), TECG_ERR_INVALID);
        /* Nothing delivered: the wait ends at its timeout. */
        assert_int_equal(tecg_sink_wait_delivered(f->sink, "nothing", 1, 50), TECG_ERR_RETRY);
        assert_string_equal(tecg_sink_name(f->sink), "test");

        tecg_sink_options_t none = {.name = "x"};
        assert_null(tecg_sink_new(&none, err, sizeof(err)));
        assert_non_null(strstr(err, "url"));
        tecg_sink_options_t ftp = {.name = "x", .url = "ftp://h/"};
        assert_null(tecg_sink_new(&ftp, err, sizeof(err)));
        assert_non_null(strstr(err, "sink x"));
        assert_null(tecg_sink_new(NULL, err, sizeof(err)));
        tecg_sink_destroy(NULL, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_delivers_in_order),       T(test_latest_only_while_down),
                T(test_status_classes),          T(test_rejected_4xx_dropped),
                T(test_stale_offers_ignored),    T(test_bearer_token),
                T(test_backoff_grows),           T(test_destroy_bounded_dead_server),
                T(test_stop_one_budget_for_all), T(test_destroy_flushes_after_backoff),
                T(test_destroy_flushes_pending), T(test_offer_validation),
                T(test_signature_header),
#undef T
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
