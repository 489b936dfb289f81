/* The one constructor of librdkafka clients: type defaults, call-site
 * overrides, the user's kafka.* keys (errors at their file:line), logs
 * through tecg_log, and real clients against librdkafka's mock cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "kafka.h"
#include "log.h"
#include "testutil.h"

typedef struct {
        char *unused;
} kconf_target_t;

/* A broker of the mock cluster answers the client. */
static void assert_metadata(rd_kafka_t *rk) {
        const struct rd_kafka_metadata *md = NULL;
        assert_int_equal(rd_kafka_metadata(rk, 0, NULL, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_true(md->broker_cnt >= 1);
        rd_kafka_metadata_destroy(md);
}

static const tecg_conf_prop_t props[] = {
        {.name = "kafka.", .type = TECG_CONF_PREFIX, .doc = "librdkafka"}, {.name = NULL}};

/* A configuration parsed from `text` with the label "t.conf". */
static tecg_conf_t *conf_of(kconf_target_t *target, const char *text) {
        char err[512];
        tecg_conf_t *conf = tecg_conf_new(props, target, err, sizeof(err));
        assert_non_null(conf);
        if (tecg_conf_parse(conf, "t.conf", text, strlen(text), err, sizeof(err)))
                fail_msg("%s", err);
        return conf;
}

static void assert_prop(const rd_kafka_conf_t *kconf, const char *name, const char *want) {
        char value[256];
        size_t size = sizeof(value);
        assert_int_equal(rd_kafka_conf_get(kconf, name, value, &size), RD_KAFKA_CONF_OK);
        if (strcmp(value, want) != 0)
                fail_msg("%s = \"%s\", expected \"%s\"", name, value, want);
}

static void test_unknown_key_names_key_and_line(void **state) {
        (void)state;
        kconf_target_t t;
        char err[512] = "";
        tecg_conf_t *conf = conf_of(&t, "kafka.linger.ms = 1\n\n"
                                        "kafka.no.such.property = 1\n");
        assert_null(tecg_kafka_new(TECG_KAFKA_PRODUCER, conf, NULL, NULL, err, sizeof(err)));
        tu_assert_contains(err,
                           "t.conf:3: kafka.no.such.property: ", "No such configuration property");
        assert_null(strchr(err, '\n'));

        /* The start-up check says the same, without any client. */
        char err2[512] = "";
        assert_int_equal(tecg_kafka_check(conf, err2, sizeof(err2)), TECG_ERR_CONFIG);
        assert_string_equal(err, err2);
        tecg_conf_destroy(conf);

        conf = conf_of(&t, "kafka.acks = sometimes\n");
        assert_int_equal(tecg_kafka_check(conf, err, sizeof(err)), TECG_ERR_CONFIG);
        tu_assert_contains(err, "t.conf:1: kafka.acks: ");
        tecg_conf_destroy(conf);
}

static void test_type_defaults(void **state) {
        (void)state;
        static const struct {
                tecg_kafka_type_t type;
                const char *name, *value;
        } cases[] = {
                {TECG_KAFKA_PRODUCER, "enable.idempotence", "true"},
                {TECG_KAFKA_PRODUCER, "acks", "-1"}, /* "all" */
                {TECG_KAFKA_PRODUCER, "linger.ms", "5"},
                {TECG_KAFKA_CONSUMER, "enable.auto.commit", "false"},
                {TECG_KAFKA_CONSUMER, "enable.auto.offset.store", "false"},
                {TECG_KAFKA_CONSUMER, "isolation.level", "read_committed"},
                {TECG_KAFKA_CONSUMER, "auto.offset.reset", "smallest"}, /* "earliest" */
                {TECG_KAFKA_READER, "enable.auto.commit", "false"},
                {TECG_KAFKA_READER, "isolation.level", "read_committed"},
                {TECG_KAFKA_READER, "enable.partition.eof", "true"},
                /* librdkafka's own default: the reader does not set it. */
                {TECG_KAFKA_READER, "enable.auto.offset.store", "true"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char err[512];
                rd_kafka_conf_t *kconf =
                        tecg_kafka_conf_new(cases[i].type, NULL, NULL, NULL, err, sizeof(err));
                assert_non_null(kconf);
                assert_prop(kconf, cases[i].name, cases[i].value);
                rd_kafka_conf_destroy(kconf);
        }
        char err[512];
        assert_null(
                tecg_kafka_conf_new(TECG_KAFKA__TYPE_COUNT, NULL, NULL, NULL, err, sizeof(err)));
}

/* defaults < overrides < the user's kafka.* keys */
static void test_precedence(void **state) {
        (void)state;
        kconf_target_t t;
        char err[512];
        const tecg_kafka_setting_t overrides[] = {
                {"linger.ms", "7"}, {"client.id", "from-call-site"}, {NULL, NULL}};
        tecg_conf_t *conf = conf_of(&t, "kafka.client.id = from-file\n");
        rd_kafka_conf_t *kconf =
                tecg_kafka_conf_new(TECG_KAFKA_PRODUCER, conf, overrides, NULL, err, sizeof(err));
        assert_non_null(kconf);
        assert_prop(kconf, "linger.ms", "7");
        assert_prop(kconf, "client.id", "from-file");
        assert_prop(kconf, "enable.idempotence", "true");
        rd_kafka_conf_destroy(kconf);
        tecg_conf_destroy(conf);

        const tecg_kafka_setting_t bad[] = {{"no.such.thing", "x"}, {NULL, NULL}};
        assert_null(tecg_kafka_conf_new(TECG_KAFKA_READER, NULL, bad, NULL, err, sizeof(err)));
        tu_assert_contains(err, "built-in kafka.no.such.thing=x: ");
}

/* The comparison behind the start-up refusal: Debian 12's 2.0.2 (the
 * soname is shared, so it loads silently without the RUNPATH) and
 * pre-releases of the needed version are refused, naming both versions. */
static void test_version_check(void **state) {
        (void)state;
        static const struct {
                int runtime, required;
                tecg_err_t want;
                const char *have, *need;
        } cases[] = {
                {0x020800ff, 0x020800ff, TECG_OK, NULL, NULL},
                {0x020801ff, 0x020800ff, TECG_OK, NULL, NULL},
                {0x020a00ff, 0x020800ff, TECG_OK, NULL, NULL}, /* 2.10 > 2.8 */
                {0x030000ff, 0x020800ff, TECG_OK, NULL, NULL},
                {0x020002ff, 0x020800ff, TECG_ERR_CONFIG, "librdkafka 2.0.2 ", "needs 2.8.0 "},
                {0x020701ff, 0x020800ff, TECG_ERR_CONFIG, "librdkafka 2.7.1 ", "needs 2.8.0 "},
                {0x02080003, 0x020800ff, TECG_ERR_CONFIG, "librdkafka 2.8.0-pre3 ", "needs 2.8.0 "},
                {0x010900ff, 0x020601ff, TECG_ERR_CONFIG, "librdkafka 1.9.0 ", "needs 2.6.1 "},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char err[512] = "";
                tecg_err_t got = tecg_kafka_version_check(cases[i].runtime, cases[i].required, err,
                                                          sizeof(err));
                if (got != cases[i].want)
                        fail_msg("case %zu: 0x%08x vs 0x%08x: got %d, want %d (%s)", i,
                                 (unsigned)cases[i].runtime, (unsigned)cases[i].required, got,
                                 cases[i].want, err);
                if (cases[i].want == TECG_OK) {
                        assert_string_equal(err, "");
                        continue;
                }
                tu_assert_contains(err, cases[i].have, cases[i].need, "RUNPATH");
        }
}

/* This test binary, like every tecg binary, loads a librdkafka recent
 * enough: its RUNPATH reaches the library it was built with. */
static void test_loaded_library_is_recent_enough(void **state) {
        (void)state;
        char err[512] = "";
        if (tecg_kafka_version_check(rd_kafka_version(), TECG_RDKAFKA_MIN_VERSION, err,
                                     sizeof(err)))
                fail_msg("%s", err);
        assert_int_equal(tecg_kafka_check(NULL, err, sizeof(err)), TECG_OK);
}

/* The first client of a process logs the loaded version at INFO, the next
 * ones do not. Runs before any other test makes a client. */
static void test_version_logged_once(void **state) {
        (void)state;
        kconf_target_t t;
        char err[512], path[] = "/tmp/test_kafka_version_XXXXXX", want[128];
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        int saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        tecg_log_init("test_kafka", TECG_LOG_INFO);
        tecg_conf_t *conf = conf_of(&t, "kafka.test.mock.num.brokers = 1\n");
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        rd_kafka_t *first = tecg_kafka_new(TECG_KAFKA_PRODUCER, conf, NULL, NULL, err, sizeof(err));
        rd_kafka_t *second =
                tecg_kafka_new(TECG_KAFKA_PRODUCER, conf, NULL, NULL, err, sizeof(err));
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(fd);
        assert_non_null(first);
        assert_non_null(second);
        rd_kafka_destroy(first);
        rd_kafka_destroy(second);
        char *text = tu_slurp(path, NULL);
        unlink(path);
        snprintf(want, sizeof(want), " INFO kafka: librdkafka %s (built against ",
                 rd_kafka_version_str());
        if (tu_count_of(text, want) != 1)
                fail_msg("\"%s\" %d times, not once, in: %s", want, tu_count_of(text, want), text);
        free(text);
        tecg_conf_destroy(conf);
}

typedef struct {
        int delivered;
        int errors;
        void *opaque_seen;
} cb_state_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        (void)rk;
        cb_state_t *st = opaque;
        st->opaque_seen = opaque;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
                st->delivered++;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        (void)rk;
        (void)err;
        (void)reason;
        ((cb_state_t *)opaque)->errors++;
}

/* A producer and a reader made by tecg_kafka_new() work against
 * librdkafka's mock cluster, with the call site's callbacks. */
static void test_clients_against_mock_cluster(void **state) {
        (void)state;
        kconf_target_t t;
        char err[512];
        cb_state_t st = {0, 0, NULL};
        tecg_conf_t *conf = conf_of(&t, "kafka.test.mock.num.brokers = 1\n");
        const tecg_kafka_callbacks_t cb = {
                .opaque = &st, .error_cb = on_error, .dr_msg_cb = on_delivery};
        rd_kafka_t *rk = tecg_kafka_new(TECG_KAFKA_PRODUCER, conf, NULL, &cb, err, sizeof(err));
        if (!rk)
                fail_msg("%s", err);
        assert_metadata(rk);
        assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_VALUE("v", 1),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_int_equal(st.delivered, 1);
        assert_ptr_equal(st.opaque_seen, &st);
        rd_kafka_destroy(rk);

        const tecg_kafka_setting_t reader[] = {{"group.id", "test"}, {NULL, NULL}};
        const tecg_kafka_callbacks_t reader_cb = {.opaque = &st, .error_cb = on_error};
        rk = tecg_kafka_new(TECG_KAFKA_READER, conf, reader, &reader_cb, err, sizeof(err));
        if (!rk)
                fail_msg("%s", err);
        assert_prop(rd_kafka_conf(rk), "group.id", "test");
        assert_metadata(rk);
        rd_kafka_destroy(rk);

        /* A copy of a kept configuration makes a second client. */
        rd_kafka_conf_t *kconf =
                tecg_kafka_conf_new(TECG_KAFKA_PRODUCER, conf, NULL, &cb, err, sizeof(err));
        assert_non_null(kconf);
        for (int i = 0; i < 2; i++) {
                rk = tecg_kafka_new_from(TECG_KAFKA_PRODUCER, kconf, err, sizeof(err));
                assert_non_null(rk);
                rd_kafka_destroy(rk);
        }
        rd_kafka_conf_destroy(kconf);
        tecg_conf_destroy(conf);
}

/* librdkafka's log lines come out as tecg log lines ("rdkafka/FAC"). */
static void test_logs_go_through_tecg_log(void **state) {
        (void)state;
        kconf_target_t t;
        char err[512], path[] = "/tmp/test_kafka_log_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        int saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        tecg_log_init("test_kafka", TECG_LOG_DEBUG);
        tecg_conf_t *conf = conf_of(&t, "kafka.test.mock.num.brokers = 1\n"
                                        "kafka.debug = generic\n");
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        rd_kafka_t *rk = tecg_kafka_new(TECG_KAFKA_PRODUCER, conf, NULL, NULL, err, sizeof(err));
        if (rk)
                rd_kafka_destroy(rk);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(fd);
        tecg_log_set_level(TECG_LOG_INFO);
        assert_non_null(rk);
        char *text = tu_slurp(path, NULL);
        unlink(path);
        tu_assert_contains(text, "test_kafka[", " rdkafka/");
        free(text);
        tecg_conf_destroy(conf);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unknown_key_names_key_and_line),
                cmocka_unit_test(test_type_defaults),
                cmocka_unit_test(test_precedence),
                cmocka_unit_test(test_version_check),
                cmocka_unit_test(test_loaded_library_is_recent_enough),
                cmocka_unit_test(test_version_logged_once),
                cmocka_unit_test(test_clients_against_mock_cluster),
                cmocka_unit_test(test_logs_go_through_tecg_log),
        };
        return cmocka_run_group_tests_name("kafka", tests, NULL, NULL);
}
