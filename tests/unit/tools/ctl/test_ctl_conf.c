/* tecg-ctl's configuration (tools/ctl/ctl_conf.c): its own keys and the
 * shared ones, and a daemon's file read with the keys tecg-ctl lacks
 * skipped while its own keys are still checked, with file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "testutil.h"

static tecg_err_t load_text(const char *text, tecg_ctl_conf_t *cc, tecg_conf_t **confp,
                            char *errstr, size_t errstr_size) {
        char dir[] = "/tmp/tecg-ctl-conf-XXXXXX";
        assert_non_null(mkdtemp(dir));
        tu_put_file(dir, "x.conf", text, strlen(text));
        memset(cc, 0, sizeof(*cc));
        *confp = tecg_conf_new(tecg_ctl_props, cc, errstr, errstr_size);
        assert_non_null(*confp);
        tecg_err_t err = tecg_ctl_conf_load(*confp, tu_path_in(dir, "x.conf"), errstr, errstr_size);
        tu_rm_tree(dir);
        return err;
}

static void test_a_daemons_file_is_read(void **state) {
        (void)state;
        tecg_ctl_conf_t cc;
        tecg_conf_t *conf;
        char errstr[512];
        const char *aggregator = "# the aggregator's file\n"
                                 "instance.id = agg-1\n"
                                 "group.id = tecg-agg-test\n"
                                 "topic.prefix = x.\n"
                                 "batch.max.ms = 100\n"
                                 "security.signatures = require\n"
                                 "kafka.bootstrap.servers = 127.0.0.1:1\n"
                                 "health.dash.url = http://127.0.0.1:1/healthz\n";
        assert_int_equal(load_text(aggregator, &cc, &conf, errstr, sizeof(errstr)), TECG_OK);
        assert_string_equal(cc.group_id, "tecg-agg-test");
        assert_string_equal(cc.common.topic_prefix, "x.");
        assert_int_equal(cc.timeout_ms, 10000);
        assert_int_equal(cc.health.count, 1);
        assert_string_equal(cc.health.items[0].name, "dash");
        size_t n;
        const tecg_conf_kv_t *kv = tecg_conf_passthru(conf, "kafka.", &n);
        assert_int_equal(n, 1);
        assert_string_equal(kv[0].key, "bootstrap.servers");
        tecg_conf_destroy(conf);

        /* tecg-ctl's own keys are checked as ever, on their line. */
        assert_int_equal(load_text("nation = DEU\nspool.dir = /x\nctl.timeout.ms = 5\n", &cc, &conf,
                                   errstr, sizeof(errstr)),
                         TECG_ERR_CONFIG);
        assert_non_null(strstr(errstr, "x.conf:3: "));
        tecg_conf_destroy(conf);
        /* A line that is no key = value is an error, wherever it is. */
        assert_int_equal(
                load_text("nation = DEU\nwhat is this\n", &cc, &conf, errstr, sizeof(errstr)),
                TECG_ERR_CONFIG);
        assert_non_null(strstr(errstr, "x.conf:2: "));
        tecg_conf_destroy(conf);
        /* The producer's limits keep their names and ranges. */
        assert_int_equal(load_text("limits.line.bytes = 10\n", &cc, &conf, errstr, sizeof(errstr)),
                         TECG_ERR_CONFIG);
        tecg_conf_destroy(conf);
        /* metrics.file is a daemon's shared key, not tecg-ctl's: skipped. */
        assert_int_equal(load_text("metrics.file = /x\n", &cc, &conf, errstr, sizeof(errstr)),
                         TECG_OK);
        assert_null(tecg_conf_get_string(conf, "metrics.file"));
        tecg_conf_destroy(conf);
}

static void test_set_keys_must_be_ctls(void **state) {
        (void)state;
        tecg_ctl_conf_t cc;
        char errstr[512];
        memset(&cc, 0, sizeof(cc));
        tecg_conf_t *conf = tecg_conf_new(tecg_ctl_props, &cc, errstr, sizeof(errstr));
        char *good[] = {"group.id=g", "schema.registry.url=http://r"};
        assert_int_equal(tecg_conf_apply_sets(conf, good, 2, errstr, sizeof(errstr)), TECG_OK);
        char *bad[] = {"batch.max.ms=5"};
        assert_int_equal(tecg_conf_apply_sets(conf, bad, 1, errstr, sizeof(errstr)),
                         TECG_ERR_CONFIG);
        tecg_conf_destroy(conf);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_daemons_file_is_read),
                cmocka_unit_test(test_set_keys_must_be_ctls),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
