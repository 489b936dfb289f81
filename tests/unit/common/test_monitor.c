/* The monitoring listener (common/monitor.c): /healthz rules, /metrics
 * from the last snapshot, tokens, loopback only without them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_client.h"
#include "metrics.h"
#include "monitor.h"
#include "testutil.h"
#include "tokens.h"

static void test_health_answer(void **state) {
        (void)state;
        static const struct {
                bool ready;
                const char *json;
                int64_t age_ms;
                unsigned status;
                const char *body_has;
        } cases[] = {
                {true, NULL, -1, 503, "\"starting\""},
                {true, NULL, 0, 200, "{\"status\":\"ok\"}"},
                {false, NULL, 0, 503, "{\"status\":\"unavailable\"}"},
                {true, "{\"status\":\"ok\",\"lag\":3}", 100, 200, "\"lag\":3"},
                {false, "{\"status\":\"unavailable\",\"reason\":\"x\"}", 100, 503, "\"x\""},
                /* A stuck main loop: its last word no longer counts. */
                {true, "{\"status\":\"ok\"}", 31000, 503, "has not reported for 31 s"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                tecg_buf_t b = TECG_BUF_INIT;
                unsigned st = tecg_monitor_health_answer(cases[i].ready, cases[i].json,
                                                         cases[i].age_ms, 30000, &b);
                assert_int_equal(tecg_buf_terminate(&b), TECG_OK);
                assert_int_equal(st, cases[i].status);
                if (!strstr((char *)b.data, cases[i].body_has))
                        fail_msg("case %zu: %s lacks %s", i, (char *)b.data, cases[i].body_has);
                tecg_buf_free(&b);
        }
}

/* GET url with an optional bearer token: the status, the body in *body. */
static long get(uint16_t port, const char *path, const char *token, char **body) {
        char url[128], err[256];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
        tecg_http_options_t o = {.url = url, .bearer_token = token, .timeout_ms = 5000};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        tecg_http_response_t r;
        memset(&r, 0, sizeof(r));
        assert_non_null(c);
        assert_int_equal(tecg_http_get(c, NULL, NULL, &r), TECG_OK);
        long status = r.status;
        if (body)
                *body = strdup(r.body.data ? (char *)r.body.data : "");
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
        return status;
}

static void test_serve(void **state) {
        (void)state;
        char err[256], *body = NULL;
        tecg_monitor_conf_t mc;
        tecg_monitor_conf_init(&mc);
        tecg_monitor_t *m = tecg_monitor_start(&mc, err, sizeof(err));
        assert_non_null(m);
        uint16_t port = tecg_monitor_port(m);
        assert_true(port > 0);

        assert_int_equal(get(port, "/healthz", NULL, &body), 503);
        assert_non_null(strstr(body, "starting"));
        free(body);

        /* Two samples of one family added apart come out grouped. */
        tecg_buf_t text = TECG_BUF_INIT;
        tecg_metrics_add(&text, TECG_METRIC_GAUGE, "tecg_x", "X.", "a=\"1\"", 1);
        tecg_metrics_add(&text, TECG_METRIC_GAUGE, "tecg_y", "Y.", NULL, 2);
        tecg_metrics_add(&text, TECG_METRIC_GAUGE, "tecg_x", "X.", "a=\"2\"", 3);
        assert_int_equal(tecg_monitor_publish(m, &text, true, "{\"status\":\"ok\",\"n\":1}"),
                         TECG_OK);
        tecg_buf_free(&text);
        assert_int_equal(get(port, "/metrics", NULL, &body), 200);
        assert_string_equal(body, "# HELP tecg_x X.\n# TYPE tecg_x gauge\n"
                                  "tecg_x{a=\"1\"} 1\ntecg_x{a=\"2\"} 3\n"
                                  "# HELP tecg_y Y.\n# TYPE tecg_y gauge\ntecg_y 2\n");
        free(body);
        assert_int_equal(get(port, "/healthz", NULL, &body), 200);
        assert_string_equal(body, "{\"status\":\"ok\",\"n\":1}");
        free(body);

        tecg_buf_t empty = TECG_BUF_INIT;
        assert_int_equal(tecg_monitor_publish(m, &empty, false, NULL), TECG_OK);
        assert_int_equal(get(port, "/healthz", NULL, &body), 503);
        free(body);
        assert_int_equal(get(port, "/other", NULL, NULL), 404);
        tecg_monitor_destroy(m);
}

static void test_tokens(void **state) {
        (void)state;
        char err[256], tok_metrics[TECG_TOKEN_TEXT_SIZE], tok_other[TECG_TOKEN_TEXT_SIZE];
        char line1[512], line2[512], text[1100];
        const char *const r_metrics[] = {"/metrics"}, *const r_other[] = {"/api/stream"};
        assert_int_equal(tecg_tokens_make("prom", r_metrics, 1, tok_metrics, line1, sizeof(line1),
                                          err, sizeof(err)),
                         TECG_OK);
        assert_int_equal(tecg_tokens_make("bi", r_other, 1, tok_other, line2, sizeof(line2), err,
                                          sizeof(err)),
                         TECG_OK);
        snprintf(text, sizeof(text), "%s\n%s\n", line1, line2);
        tecg_tokens_t *tokens = tecg_tokens_parse(text, strlen(text), "t", err, sizeof(err));
        assert_non_null(tokens);

        tecg_monitor_conf_t mc;
        tecg_monitor_conf_init(&mc);
        mc.tokens = tokens;
        tecg_monitor_t *m = tecg_monitor_start(&mc, err, sizeof(err));
        assert_non_null(m);
        uint16_t port = tecg_monitor_port(m);
        tecg_buf_t empty = TECG_BUF_INIT;
        assert_int_equal(tecg_monitor_publish(m, &empty, true, NULL), TECG_OK);
        assert_int_equal(get(port, "/metrics", NULL, NULL), 401);
        assert_int_equal(get(port, "/metrics", "0000", NULL), 401);
        assert_int_equal(get(port, "/metrics", tok_other, NULL), 403);
        assert_int_equal(get(port, "/metrics", tok_metrics, NULL), 200);
        /* Health checks carry no token. */
        assert_int_equal(get(port, "/healthz", NULL, NULL), 200);
        tecg_monitor_destroy(m);
        tecg_tokens_destroy(tokens);
}

/* Counters name nations and volumes: no open listener off loopback. */
static void test_no_tokens_off_loopback(void **state) {
        (void)state;
        char err[256];
        tecg_monitor_conf_t mc;
        tecg_monitor_conf_init(&mc);
        mc.bind_address = "0.0.0.0";
        assert_null(tecg_monitor_start(&mc, err, sizeof(err)));
        assert_non_null(strstr(err, "metrics.http.tokens"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_health_answer),
                cmocka_unit_test(test_serve),
                cmocka_unit_test(test_tokens),
                cmocka_unit_test(test_no_tokens_off_loopback),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
