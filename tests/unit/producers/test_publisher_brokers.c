/* What the publisher (producers/publisher.c) logs when brokers of a
 * three-broker cluster go down, on librdkafka's mock cluster. One broker
 * down is not an outage: the log names the broker and says the cluster
 * still delivers, and only when every broker is down does it say that no
 * broker is reachable. stderr (where tecg_log writes) is caught in a file,
 * as in tests/unit/common/test_log.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "conf.h"
#include "log.h"
#include "publisher.h"
#include "testutil.h"

#define MAX_MSGS 64

typedef struct {
        rd_kafka_t *host; /* owns the mock cluster */
        rd_kafka_mock_cluster_t *mock;
        tecg_conf_t *conf;
        char *unused;
        tecg_publisher_t *pub;
        unsigned acks[MAX_MSGS];
        int saved_stderr;
        char path[32];
} fixture_t;

static const tecg_conf_prop_t props[] = {
        {.name = "kafka.", .type = TECG_CONF_PREFIX, .doc = "librdkafka"}, {.name = NULL}};

static void on_ack(void *opaque, uint64_t line, rd_kafka_resp_err_t err, const char *reason) {
        fixture_t *f = opaque;
        (void)reason;
        assert_true(line < MAX_MSGS);
        assert_int_equal(err, 0);
        f->acks[line]++;
}

static int setup(void **state) {
        char err[512];
        fixture_t *f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        snprintf(f->path, sizeof(f->path), "/tmp/tecg-pubb-XXXXXX");
        int fd = mkstemp(f->path);
        if (fd < 0)
                return -1;
        fflush(stderr);
        f->saved_stderr = dup(STDERR_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        tecg_log_init("test_publisher_brokers", TECG_LOG_NOTICE);

        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_conf_set(kc, "log_level", "0", err, sizeof(err));
        if (!(f->host = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err))) ||
            !(f->mock = rd_kafka_mock_cluster_new(f->host, 3)))
                return -1;
        /* Contributions led by broker 1, training by broker 3: the producer
         * talks to both, so it sees broker 3 go while 1 still delivers. */
        if (rd_kafka_mock_topic_create(f->mock, "t.contributions", 3, 3) ||
            rd_kafka_mock_topic_create(f->mock, "t.training-completions", 3, 3))
                return -1;
        for (int p = 0; p < 3; p++) {
                rd_kafka_mock_partition_set_leader(f->mock, "t.contributions", p, 1);
                rd_kafka_mock_partition_set_leader(f->mock, "t.training-completions", p, 3);
        }
        f->conf = tecg_conf_new(props, &f->unused, err, sizeof(err));
        if (!f->conf ||
            tecg_conf_set(f->conf, "kafka.bootstrap.servers",
                          rd_kafka_mock_cluster_bootstraps(f->mock), "test", err, sizeof(err)))
                return -1;
        if (!(f->pub = tecg_publisher_new(f->conf, "t.", "DEU", on_ack, err, sizeof(err))))
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_publisher_destroy(f->pub);
        tecg_conf_destroy(f->conf);
        rd_kafka_mock_cluster_destroy(f->mock);
        rd_kafka_destroy(f->host);
        fflush(stderr);
        dup2(f->saved_stderr, STDERR_FILENO);
        close(f->saved_stderr);
        unlink(f->path);
        free(f);
        return 0;
}

static void send_line(fixture_t *f, tecg_topic_t topic, uint64_t line) {
        char payload[32], err[512];
        int n = snprintf(payload, sizeof(payload), "payload-%llu", (unsigned long long)line);
        if (tecg_publisher_send(f->pub, topic, payload, (size_t)n, f, line, err, sizeof(err)))
                fail_msg("send line %llu: %s", (unsigned long long)line, err);
}

/* Everything logged so far. */
static char *logged(fixture_t *f) {
        fflush(stderr);
        return tu_slurp(f->path, NULL);
}

/* Fails with the log, shown on the real stderr (cmocka's messages go to
 * the captured one). */
static void fail_log(fixture_t *f, const char *what, const char *text) {
        dprintf(f->saved_stderr, "%s; the log:\n%s", what, text);
        fail_msg("%s", what);
}

/* Polls the publisher until the log holds `needle` or timeout_ms passed. */
static char *poll_until_logged(fixture_t *f, const char *needle, int timeout_ms) {
        int64_t deadline = tu_now_ms() + timeout_ms;
        for (;;) {
                tecg_publisher_poll(f->pub, 100);
                char *text = logged(f);
                if (strstr(text, needle) || tu_now_ms() > deadline)
                        return text;
                free(text);
        }
}

static void test_one_broker_down_then_all(void **state) {
        fixture_t *f = *state;
        char want[160];
        send_line(f, TECG_TOPIC_CONTRIBUTIONS, 1);
        send_line(f, TECG_TOPIC_TRAINING, 2);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);

        /* Broker 3 goes: named, and the cluster still delivers through 1. */
        assert_int_equal(rd_kafka_mock_broker_set_down(f->mock, 3), 0);
        char *text = poll_until_logged(f, "Kafka broker 3 (", 10000);
        free(text);
        for (uint64_t line = 3; line <= 10; line++)
                send_line(f, TECG_TOPIC_CONTRIBUTIONS, line);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);
        text = logged(f);
        snprintf(want, sizeof(want), "WARN kafka: Kafka broker 3 (");
        if (!strstr(text, want) || !strstr(text, ") down (") ||
            !strstr(text, "NOTICE kafka: Kafka broker 3 (") ||
            !strstr(text, ") down, the cluster still delivering\n"))
                fail_log(f, "one broker down, not logged as such", text);
        if (strstr(text, "unreachable") || strstr(text, "no Kafka broker reachable"))
                fail_log(f, "one broker down logged as an outage", text);
        free(text);

        /* Then all three: no broker reachable, held, and back. */
        assert_int_equal(rd_kafka_mock_broker_set_down(f->mock, 1), 0);
        assert_int_equal(rd_kafka_mock_broker_set_down(f->mock, 2), 0);
        for (uint64_t line = 11; line <= 15; line++)
                send_line(f, TECG_TOPIC_CONTRIBUTIONS, line);
        text = poll_until_logged(f, "no Kafka broker reachable", 20000);
        if (!strstr(text, "WARN kafka: no Kafka broker reachable (") ||
            !strstr(text, " unacknowledged messages and retrying\n"))
                fail_log(f, "all brokers down, not logged as such", text);
        assert_int_equal(tu_count_of(text, "no Kafka broker reachable"), 1);
        free(text);
        for (int b = 1; b <= 3; b++)
                assert_int_equal(rd_kafka_mock_broker_set_up(f->mock, b), 0);
        assert_int_equal(tecg_publisher_flush(f->pub, 30000), TECG_OK);
        text = logged(f);
        if (!strstr(text, "NOTICE kafka: Kafka acknowledges again after "))
                fail_log(f, "recovery not logged", text);
        free(text);
        for (uint64_t line = 1; line <= 15; line++)
                assert_int_equal(f->acks[line], 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_one_broker_down_then_all, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
