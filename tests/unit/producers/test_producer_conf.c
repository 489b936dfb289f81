/* tecg-producer's table (producer_conf.c): the example configuration
 * parses into the struct, the defaults are the documented ones, --help
 * lists the producer's keys and no other daemon's, and limits are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "producer_conf.h"
#include "testutil.h"

static void test_example_parses(void **state) {
        (void)state;
        tecg_producer_conf_t c;
        memset(&c, 0, sizeof(c));
        tecg_conf_t *conf =
                tu_conf_load(tecg_producer_conf_props, &c, "deploy/producer.conf.example");
        assert_string_equal(c.nation, "FRA");
        assert_string_equal(c.spool_dir, "/var/spool/tecg/FRA");
        assert_string_equal(c.common.nations_file, "/etc/tecg/nations.csv");
        assert_string_equal(c.common.topic_prefix, "tecg.");
        assert_int_equal(c.line_bytes, 1048576);
        assert_int_equal(c.file_lines, 1000000);
        size_t n = 0;
        const tecg_conf_kv_t *kv = tecg_conf_passthru(conf, "kafka.", &n);
        assert_int_equal(n, 1);
        assert_string_equal(kv[0].key, "bootstrap.servers");
        assert_string_equal(kv[0].value, "127.0.0.1:9092");
        assert_int_equal(tecg_conf_check_required(conf, NULL, 0), TECG_OK);
        tecg_conf_destroy(conf);
}

static void test_defaults(void **state) {
        (void)state;
        tecg_producer_conf_t c;
        memset(&c, 0, sizeof(c));
        tecg_conf_t *conf = tu_conf_load(tecg_producer_conf_props, &c, NULL);
        assert_null(c.nation);
        assert_int_equal(c.scan_interval_ms, 500);
        assert_int_equal(c.retry_interval_ms, 30000);
        assert_int_equal(c.shutdown_timeout_ms, 30000);
        assert_int_equal(c.json_depth, 16);
        assert_int_equal(c.string_bytes, 4096);
        assert_string_equal(c.common.topic_prefix, "tecg.");
        /* No HTTP input unless http.port is set. */
        assert_null(tecg_conf_origin(conf, "http.port"));
        assert_string_equal(c.http_address, "127.0.0.1");
        assert_string_equal(c.http_auth, "tokens");
        assert_int_equal(c.http_max_body_bytes, 4194304);
        assert_int_equal(c.http_response_timeout_ms, 30000);
        /* nation has no default: a producer must be told whom it speaks for. */
        char errstr[256];
        assert_int_equal(tecg_conf_check_required(conf, errstr, sizeof(errstr)), TECG_ERR_CONFIG);
        assert_non_null(strstr(errstr, "nation"));
        tecg_conf_destroy(conf);
}

static void test_reasons(void **state) {
        (void)state;
        tecg_producer_conf_t c;
        static const tu_conf_case_t cases[] = {
                {"nation = FRA\nlimits.line.bytes = 0\n",
                 "t.conf:2: 'limits.line.bytes': 0 is out of range"},
                {"nation = FRA\nlimits.json.depth = deep\n",
                 "t.conf:2: 'limits.json.depth': \"deep\" is not an integer"},
                {"nation = FRA\nhttp.port = 70000\n",
                 "t.conf:2: 'http.port': 70000 is out of range"},
                {"nation = FRA\nhttp.max.body.bytes = 10\n",
                 "t.conf:2: 'http.max.body.bytes': 10 is out of range"},
                /* The dashboard's, not the producer's. */
                {"nation = FRA\nhttp.max.streams = 8\n",
                 "t.conf:2: unknown key 'http.max.streams'"},
                {"nation = FRA\nhttp.port = 8443\nhttp.auth.tokens = /t\n", ""},
                {"nation = FRA\ninstance.id = x\n", "t.conf:2: unknown key 'instance.id'"},
                {"nation = FRA\nspool.dir = /s\n", ""},
        };
        tu_conf_check_cases(tecg_producer_conf_props, &c, sizeof(c), cases,
                            sizeof(cases) / sizeof(cases[0]));
}

static void test_help(void **state) {
        (void)state;
        char *help = tu_conf_help(tecg_producer_conf_props);
        tu_assert_contains(help, "nation", "spool.dir", "limits.line.bytes", "limits.file.lines",
                           "nations.file", "topic.prefix", "metrics.file", "kafka.");
        /* Other daemons' keys are not the producer's. */
        assert_null(strstr(help, "instance.id"));
        assert_null(strstr(help, "http.max.streams"));
        /* The HTTP input's (docs/design.md §2.8). */
        tu_assert_contains(help, "http.port", "http.auth.tokens", "http.max.body.bytes",
                           "http.response.timeout.ms", "http.request.timeout.ms");
        assert_null(strstr(help, "sink."));
        free(help);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_example_parses),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_reasons),
                cmocka_unit_test(test_help),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
