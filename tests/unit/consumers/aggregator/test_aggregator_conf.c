/* tecg-aggregator's table (aggregator_conf.c): the example configuration
 * parses into the struct, the defaults are the documented ones, --help
 * lists the aggregator's keys and no other daemon's, and ranges are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aggregator_conf.h"
#include "conf.h"
#include "testutil.h"

static void test_example_parses(void **state) {
        (void)state;
        tecg_aggregator_conf_t c;
        memset(&c, 0, sizeof(c));
        tecg_conf_t *conf =
                tu_conf_load(tecg_aggregator_conf_props, &c, "deploy/aggregator.conf.example");
        assert_string_equal(c.instance_id, "agg-1");
        assert_string_equal(c.group_id, "tecg-aggregator");
        assert_int_equal(c.batch_max_messages, 10000);
        assert_int_equal(c.batch_max_ms, 100);
        assert_int_equal(c.common.stats_interval_ms, 60000);
        assert_null(c.common.metrics_file); /* commented out in the example */
        size_t n = 0;
        const tecg_conf_kv_t *kv = tecg_conf_passthru(conf, "kafka.", &n);
        assert_int_equal(n, 1);
        assert_string_equal(kv[0].key, "bootstrap.servers");
        assert_int_equal(tecg_conf_check_required(conf, NULL, 0), TECG_OK);
        tecg_conf_destroy(conf);
}

static void test_defaults(void **state) {
        (void)state;
        tecg_aggregator_conf_t c;
        memset(&c, 0, sizeof(c));
        tecg_conf_t *conf = tu_conf_load(tecg_aggregator_conf_props, &c, NULL);
        assert_string_equal(c.group_id, "tecg-aggregator");
        assert_int_equal(c.batch_max_messages, 50000);
        assert_int_equal(c.batch_max_ms, 100);
        assert_int_equal(c.restore_timeout_ms, 120000);
        assert_int_equal(c.message_max_bytes, 65536);
        assert_string_equal(c.common.topic_prefix, "tecg.");
        tecg_conf_destroy(conf);
}

static void test_reasons(void **state) {
        (void)state;
        tecg_aggregator_conf_t c;
        static const tu_conf_case_t cases[] = {
                {"batch.max.messages = 0\n", "t.conf:1: 'batch.max.messages': 0 is out of range"},
                {"batch.max.ms = soon\n", "t.conf:1: 'batch.max.ms': \"soon\" is not an integer"},
                {"group.id = a\ngroup.id = b\n", "t.conf:2: 'group.id' is already set at t.conf:1"},
                {"nation = FRA\n", "t.conf:1: unknown key 'nation'"},
                {"sink.bi.url = http://x/\n", "t.conf:1: unknown key 'sink.bi.url'"},
                {"limits.message.bytes = 1024\nkafka.linger.ms = 5\n", ""},
        };
        tu_conf_check_cases(tecg_aggregator_conf_props, &c, sizeof(c), cases,
                            sizeof(cases) / sizeof(cases[0]));
}

static void test_help(void **state) {
        (void)state;
        char *help = tu_conf_help(tecg_aggregator_conf_props);
        tu_assert_contains(help, "instance.id", "group.id", "batch.max.messages",
                           "restore.timeout.ms", "limits.message.bytes", "schema.registry.url",
                           "nations.file", "kafka.", "metrics.http.port", "health.lag.max");
        assert_null(strstr(help, "spool.dir"));
        /* The producer's event input; the monitoring listener's keys are
         * metrics.http.*. */
        assert_null(strstr(help, "  http.port"));
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
