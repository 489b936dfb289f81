/* tecg-dashboard's table (dashboard_conf.c): the example configuration
 * parses into the struct, sinks as a group with their own defaults and
 * checks, the mission defaults of the seed, and --help that lists the
 * dashboard's keys and no other daemon's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "dashboard_conf.h"
#include "testutil.h"

static void test_example_parses(void **state) {
        (void)state;
        tecg_dashboard_conf_t c;
        memset(&c, 0, sizeof(c));
        tecg_conf_t *conf =
                tu_conf_load(tecg_dashboard_conf_props, &c, "deploy/dashboard.conf.example");
        assert_string_equal(c.http_address, "127.0.0.1");
        assert_int_equal(c.http_port, 8080);
        assert_string_equal(c.reporting_currency, "EUR");
        assert_int_equal(c.sinks.count, 1);
        assert_string_equal(c.sinks.items[0].name, "bi");
        const tecg_dashboard_sink_conf_t *bi = c.sinks.items[0].data;
        assert_string_equal(bi->url, "https://bi.example.org/ingest/tecg");
        assert_string_equal(bi->token, "change-me");
        assert_true(bi->tls_verify);
        size_t n = 0;
        const tecg_conf_kv_t *rates = tecg_conf_passthru(conf, "rate.", &n);
        assert_int_equal(n, 2);
        assert_string_equal(rates[0].key, "USD");
        assert_string_equal(rates[0].value, "0.8042");
        assert_int_equal(tecg_conf_check_required(conf, NULL, 0), TECG_OK);
        tecg_conf_destroy(conf);
}

static void test_defaults(void **state) {
        (void)state;
        tecg_dashboard_conf_t c;
        memset(&c, 0, sizeof(c));
        tecg_conf_t *conf = tu_conf_load(tecg_dashboard_conf_props, &c, NULL);
        /* The mission profile of the seed: 360 staff, 1,000 and 500 trainees. */
        assert_int_equal(c.authorized_strength, 360);
        assert_int_equal(c.target_in_iraq, 1000);
        assert_int_equal(c.target_outside_iraq, 500);
        assert_int_equal(c.sinks.count, 0);
        assert_true(c.publish_topic);
        assert_int_equal(c.compose_interval_ms, 100);
        assert_int_equal(c.shutdown_timeout_ms, 10000);
        tecg_conf_destroy(conf);
}

/* A sink's keys have the defaults of sink.h and one boolean spelling. */
static void test_sink_group(void **state) {
        (void)state;
        tecg_dashboard_conf_t c;
        memset(&c, 0, sizeof(c));
        tecg_conf_t *conf = tu_conf_load(tecg_dashboard_conf_props, &c, NULL);
        char errstr[256];
        static const char text[] = "sink.a.url = http://a/\nsink.b.url = http://b/\n"
                                   "sink.b.tls.verify = off\nsink.a.timeout.ms = 2500\n";
        assert_int_equal(
                tecg_conf_parse(conf, "t.conf", text, strlen(text), errstr, sizeof(errstr)),
                TECG_OK);
        assert_int_equal(c.sinks.count, 2);
        const tecg_dashboard_sink_conf_t *a = c.sinks.items[0].data, *b = c.sinks.items[1].data;
        assert_string_equal(c.sinks.items[0].name, "a");
        assert_int_equal(a->timeout_ms, 2500);
        assert_true(a->tls_verify);
        assert_false(b->tls_verify);
        assert_null(b->token);
        assert_true(b->backoff_max_ms > 0);
        tecg_conf_destroy(conf);
}

static void test_reasons(void **state) {
        (void)state;
        tecg_dashboard_conf_t c;
        static const tu_conf_case_t cases[] = {
                {"http.port = 70000\n", "t.conf:1: 'http.port': 70000 is out of range"},
                {"sink.bi.tls.verify = maybe\nsink.bi.url = http://x/\n",
                 "t.conf:1: 'sink.bi.tls.verify': \"maybe\" is not a boolean"},
                {"sink.bi.token = t\n", "t.conf:1: sink bi has no sink.bi.url"},
                {"sink.bi.colour = red\n",
                 "t.conf:1: 'sink.bi.colour': unknown sink setting 'colour'"},
                {"instance.id = x\n", "t.conf:1: unknown key 'instance.id'"},
                {"publish.topic = no\nsink.x.url = https://x/\n", ""},
        };
        tu_conf_check_cases(tecg_dashboard_conf_props, &c, sizeof(c), cases,
                            sizeof(cases) / sizeof(cases[0]));
}

static void test_help(void **state) {
        (void)state;
        char *help = tu_conf_help(tecg_dashboard_conf_props);
        tu_assert_contains(help, "http.port", "mission.authorized.strength", "reporting.currency",
                           "rate.", "sink.", "tls.verify", "publish.topic", "nations.file");
        assert_null(strstr(help, "spool.dir"));
        assert_null(strstr(help, "instance.id"));
        assert_null(strstr(help, "limits.message.bytes"));
        free(help);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_example_parses), cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_sink_group),     cmocka_unit_test(test_reasons),
                cmocka_unit_test(test_help),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
