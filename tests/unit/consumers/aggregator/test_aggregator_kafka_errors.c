/* The aggregator engine (consumers/aggregator/aggregator.h) when Kafka
 * refuses or never answers, on librdkafka's mock cluster: a restore that
 * is not allowed to read its own topics ends the engine with an error
 * that says what to fix (never a crash), and a stop while
 * init_transactions cannot complete is honoured within
 * shutdown_timeout_ms. */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "aggregator.h"
#include "conf.h"
#include "log.h"
#include "refdata.h"
#include "testutil.h"

#define PREFIX "t."
#define PARTITIONS 3
#define WAIT_MS 15000
#define WATCHDOG_S 60
#define APIKEY_LIST_OFFSETS 2
#define APIKEY_FIND_COORDINATOR 10
#define APIKEY_INIT_PRODUCER_ID 22

typedef struct {
        int unused;
} conf_target_t;

static const tecg_conf_prop_t props[] = {
        {.name = "kafka.", .type = TECG_CONF_PREFIX, .doc = "librdkafka"}, {.name = NULL}};

typedef struct {
        rd_kafka_t *mock_rk; /* owns the mock cluster */
        rd_kafka_mock_cluster_t *mcluster;
        conf_target_t target;
        tecg_conf_t *conf;
        tecg_nations_t *nations;
        tecg_aggregator_t *agg; /* destroyed by teardown after a failed assertion */
} fixture_t;

static void on_watchdog(int sig) {
        (void)sig;
        static const char msg[] = "test_aggregator_kafka_errors: watchdog: a test ran longer "
                                  "than its bound, failing instead of hanging\n";
        if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
                /* nothing left to report it with */
        }
        _exit(1);
}

static void engine_conf_set(fixture_t *f, const char *name, const char *value) {
        char err[512];
        if (tecg_conf_set(f->conf, name, value, "test", err, sizeof(err)))
                fail_msg("%s=%s: %s", name, value, err);
}

static int setup(void **state) {
        char err[512];
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        *state = f;
        alarm(WATCHDOG_S);
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        assert_int_equal(rd_kafka_conf_set(kc, "log_level", "3", err, sizeof(err)),
                         RD_KAFKA_CONF_OK);
        f->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
        assert_non_null(f->mock_rk);
        f->mcluster = rd_kafka_mock_cluster_new(f->mock_rk, 3);
        assert_non_null(f->mcluster);
        static const char *const suffixes[] = {"contributions", "training-completions",
                                               "nation-state", "event-ids", "dead-letter"};
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
                char name[64];
                snprintf(name, sizeof(name), PREFIX "%s", suffixes[i]);
                assert_int_equal(rd_kafka_mock_topic_create(f->mcluster, name, PARTITIONS, 1),
                                 RD_KAFKA_RESP_ERR_NO_ERROR);
        }
        f->conf = tecg_conf_new(props, &f->target, err, sizeof(err));
        assert_non_null(f->conf);
        engine_conf_set(f, "kafka.bootstrap.servers",
                        rd_kafka_mock_cluster_bootstraps(f->mcluster));
        engine_conf_set(f, "kafka.session.timeout.ms", "4000");
        engine_conf_set(f, "kafka.heartbeat.interval.ms", "500");
        static const char csv[] = "code,name,status\nDEU,Germany,member\n";
        f->nations = tecg_nations_parse(csv, sizeof(csv) - 1, "test.csv", err, sizeof(err));
        assert_non_null(f->nations);
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        if (!f)
                return 0;
        tecg_aggregator_destroy(f->agg);
        tecg_nations_destroy(f->nations);
        tecg_conf_destroy(f->conf);
        if (f->mcluster)
                rd_kafka_mock_cluster_destroy(f->mcluster);
        if (f->mock_rk)
                rd_kafka_destroy(f->mock_rk);
        free(f);
        alarm(0);
        return 0;
}

static tecg_aggregator_options_t engine_options(fixture_t *f) {
        tecg_aggregator_options_t opts = {
                .topic_prefix = PREFIX,
                .group_id = "tecg-aggregator-test",
                .transactional_id = "tecg-aggregator-test-1",
                .nations = f->nations,
                .batch_max_messages = 5,
                .batch_max_ms = 100,
                .restore_timeout_ms = WAIT_MS,
                .shutdown_timeout_ms = WAIT_MS,
        };
        return opts;
}

/* The restore consumer may not read its topics (a missing ACL): the
 * assignment's restore meets TOPIC_AUTHORIZATION_FAILED, and run_once
 * reports it as a configuration error naming the restore and its group,
 * well before restore.timeout.ms. Under ASan a read of the error
 * message's topic (which an error of the client or the group does not
 * have) would be a crash, not this. */
static void test_restore_denied_exits(void **state) {
        fixture_t *f = *state;
        char err[512];
        /* Nothing reads before the first assignment, and the restore
         * runs before the input partitions are assigned: the restorer's
         * ListOffsets (for the beginning of its partitions) meet these. */
        rd_kafka_resp_err_t errs[20];
        for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
                errs[i] = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
        rd_kafka_mock_push_request_errors_array(f->mcluster, APIKEY_LIST_OFFSETS,
                                                sizeof(errs) / sizeof(errs[0]), errs);
        tecg_aggregator_options_t opts = engine_options(f);
        tecg_aggregator_t *agg = f->agg = tecg_aggregator_new(f->conf, &opts, err, sizeof(err));
        if (!agg)
                fail_msg("tecg_aggregator_new: %s", err);
        int64_t t0 = tu_now_ms();
        tecg_err_t rc;
        while ((rc = tecg_aggregator_run_once(agg, err, sizeof(err))) == TECG_OK) {
                if (tu_now_ms() - t0 > WAIT_MS)
                        fail_msg("run_once never reported the restore's authorization error");
        }
        fprintf(stderr, "run_once after %lld ms: %s\n", (long long)(tu_now_ms() - t0), err);
        assert_true(rc == TECG_ERR_KAFKA || rc == TECG_ERR_CONFIG);
        tu_assert_contains(err, "restore", "tecg-aggregator-test-restore",
                           "TOPIC_AUTHORIZATION_FAILED", "ACLs must change");
        tecg_aggregator_stats_t s;
        tecg_aggregator_stats(agg, &s);
        assert_int_equal(s.restores, 0);
        assert_int_equal(s.transactions, 0);
        tecg_aggregator_destroy(agg);
        f->agg = NULL;
}

/* The first FindCoordinator requests are refused (a missing ACL on a
 * group, as on the restore group <group.id>-restore that no document
 * mentioned): librdkafka queues an error message without a topic to the
 * consumer and to the restorer. Whichever is read first, run_once ends
 * with an error that names the group authorization. Before the messages'
 * errors were read first, the restore read the topic of this one and
 * crashed (SIGSEGV). */
static void test_group_denied_exits(void **state) {
        fixture_t *f = *state;
        char err[512];
        rd_kafka_resp_err_t errs[6];
        for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
                errs[i] = RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED;
        rd_kafka_mock_push_request_errors_array(f->mcluster, APIKEY_FIND_COORDINATOR,
                                                sizeof(errs) / sizeof(errs[0]), errs);
        tecg_aggregator_options_t opts = engine_options(f);
        tecg_aggregator_t *agg = f->agg = tecg_aggregator_new(f->conf, &opts, err, sizeof(err));
        if (!agg) {
                /* The transactional producer met it first: as clean. */
                fprintf(stderr, "tecg_aggregator_new: %s\n", err);
                tu_assert_contains(err, "uthorization");
                return;
        }
        int64_t t0 = tu_now_ms();
        tecg_err_t rc;
        while ((rc = tecg_aggregator_run_once(agg, err, sizeof(err))) == TECG_OK) {
                if (tu_now_ms() - t0 > WAIT_MS)
                        fail_msg("run_once never reported the group authorization error");
        }
        fprintf(stderr, "run_once after %lld ms: %s\n", (long long)(tu_now_ms() - t0), err);
        assert_true(rc == TECG_ERR_KAFKA || rc == TECG_ERR_CONFIG);
        tu_assert_contains(err, "GROUP_AUTHORIZATION_FAILED", "ACLs must change");
        tecg_aggregator_stats_t s;
        tecg_aggregator_stats(agg, &s);
        assert_int_equal(s.transactions, 0);
        tecg_aggregator_destroy(agg);
        f->agg = NULL;
}

static volatile sig_atomic_t stop_flag;

static void *stop_later(void *arg) {
        (void)arg;
        tu_sleep_ms(1500);
        stop_flag = 1;
        return NULL;
}

/* InitProducerId never succeeds (the coordinator keeps answering
 * COORDINATOR_NOT_AVAILABLE, as under a failing login it never answers
 * at all): tecg_aggregator_new waits for Kafka, but a stop ends the wait
 * within a wait step and the whole of new + destroy stays within
 * shutdown_timeout_ms of the stop. */
static void test_stop_while_init_transactions_hangs(void **state) {
        fixture_t *f = *state;
        char err[512];
        enum { SHUTDOWN_MS = 3000 };
        rd_kafka_resp_err_t errs[200];
        for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
                errs[i] = RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE;
        rd_kafka_mock_push_request_errors_array(f->mcluster, APIKEY_INIT_PRODUCER_ID,
                                                sizeof(errs) / sizeof(errs[0]), errs);
        stop_flag = 0;
        tecg_aggregator_options_t opts = engine_options(f);
        opts.stop = &stop_flag;
        opts.shutdown_timeout_ms = SHUTDOWN_MS;
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, stop_later, NULL), 0);
        int64_t t0 = tu_now_ms();
        tecg_aggregator_t *agg = tecg_aggregator_new(f->conf, &opts, err, sizeof(err));
        int64_t returned = tu_now_ms();
        pthread_join(th, NULL);
        if (agg) {
                f->agg = agg;
                fail_msg("init_transactions completed although every InitProducerId failed");
        }
        fprintf(stderr, "tecg_aggregator_new returned after %lld ms: %s\n",
                (long long)(returned - t0), err);
        tu_assert_contains(err, "init_transactions", "stopped before Kafka answered");
        /* The stop came at 1.5 s; new waits in steps of a second and
         * destroys what it made within the budget. Without the stop it
         * would never return; the margin is for a loaded machine (ASan,
         * the broker tests beside), not for the code. */
        assert_true(returned - t0 >= 1400);
        assert_true(returned - t0 < 1500 + SHUTDOWN_MS + 3000);
}

int main(void) {
        signal(SIGALRM, on_watchdog);
        tecg_log_init("test_aggregator_kafka_errors", TECG_LOG_NOTICE);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_restore_denied_exits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_denied_exits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_while_init_transactions_hangs, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
