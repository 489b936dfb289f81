/* The Kafka publisher (producers/publisher.h) against librdkafka's mock
 * cluster: no real broker, but the real producer, protocol and retries.
 *
 * The promise under test: every message sent ends in exactly one ack, and
 * transient trouble (a broker down, produce requests failing) never loses
 * or duplicates one. After each scenario the topic is read back and must
 * hold every payload exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "buf.h"
#include "conf.h"
#include "event_sig.h"
#include "keyring.h"
#include "log.h"
#include "publisher.h"
#include "testutil.h"

#define MAX_MSGS 64
/* Many signed messages (more than the publisher's signing ring holds):
 * lines BULK_FIRST.. (up to BULK_MAX of them) are counted in `bulk`. */
#define BULK_FIRST 1000
#define BULK_COUNT 3000
#define BULK_MAX 25000

static int64_t wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
/* Kafka's protocol number of the Produce request. */
#define API_PRODUCE 0

typedef struct {
        rd_kafka_t *host; /* owns the mock cluster */
        rd_kafka_mock_cluster_t *mock;
        char bootstraps[256];
        tecg_conf_t *conf;
        char *unused; /* the conf table's one string field */
        tecg_publisher_t *pub;
        /* Acks seen, per line. */
        unsigned acks[MAX_MSGS];
        rd_kafka_resp_err_t ack_err[MAX_MSGS];
        char reason[MAX_MSGS][256];
        unsigned bulk_acks[BULK_MAX];
        unsigned bulk_errors;
} fixture_t;

static fixture_t *current; /* the ack callback has no context of its own */

static void on_ack(void *opaque, uint64_t line, rd_kafka_resp_err_t err, const char *reason) {
        fixture_t *f = opaque;
        assert_ptr_equal(f, current);
        if (line >= BULK_FIRST && line < BULK_FIRST + BULK_MAX) {
                f->bulk_acks[line - BULK_FIRST]++;
                f->bulk_errors += err != 0;
                return;
        }
        assert_true(line < MAX_MSGS);
        f->acks[line]++;
        f->ack_err[line] = err;
        snprintf(f->reason[line], sizeof(f->reason[line]), "%s", reason ? reason : "");
}

static const tecg_conf_prop_t props[] = {
        {.name = "kafka.", .type = TECG_CONF_PREFIX, .doc = "librdkafka"}, {.name = NULL}};

static tecg_publisher_t *make_publisher(fixture_t *f, const char *const *extra) {
        char err[512];
        f->conf = tecg_conf_new(props, &f->unused, err, sizeof(err));
        assert_non_null(f->conf);
        assert_int_equal(tecg_conf_set(f->conf, "kafka.bootstrap.servers", f->bootstraps, "test",
                                       err, sizeof(err)),
                         TECG_OK);
        for (size_t i = 0; extra && extra[i]; i += 2)
                assert_int_equal(
                        tecg_conf_set(f->conf, extra[i], extra[i + 1], "test", err, sizeof(err)),
                        TECG_OK);
        tecg_publisher_t *pub = tecg_publisher_new(f->conf, "t.", "DEU", on_ack, err, sizeof(err));
        if (!pub)
                fail_msg("tecg_publisher_new: %s", err);
        return pub;
}

static int setup(void **state) {
        char err[512];
        fixture_t *f = calloc(1, sizeof(*f));
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        tecg_log_init("test_publisher", TECG_LOG_WARNING);
        rd_kafka_conf_set(kc, "log_level", "0", err, sizeof(err));
        if (!f || !(f->host = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err))))
                return -1;
        if (!(f->mock = rd_kafka_mock_cluster_new(f->host, 1)))
                return -1;
        snprintf(f->bootstraps, sizeof(f->bootstraps), "%s",
                 rd_kafka_mock_cluster_bootstraps(f->mock));
        if (rd_kafka_mock_topic_create(f->mock, "t.contributions", 3, 1) ||
            rd_kafka_mock_topic_create(f->mock, "t.training-completions", 1, 1))
                return -1;
        current = f;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_publisher_destroy(f->pub);
        tecg_conf_destroy(f->conf);
        rd_kafka_mock_cluster_destroy(f->mock);
        rd_kafka_destroy(f->host);
        free(f);
        current = NULL;
        return 0;
}

static void send_line(fixture_t *f, uint64_t line) {
        char payload[32], err[512];
        int n = snprintf(payload, sizeof(payload), "payload-%llu", (unsigned long long)line);
        tecg_err_t e = tecg_publisher_send(f->pub, TECG_TOPIC_CONTRIBUTIONS, payload, (size_t)n, f,
                                           line, err, sizeof(err));
        if (e)
                fail_msg("send line %llu: %s", (unsigned long long)line, err);
}

/* A consumer of the mock cluster in consumer group `group`, to be
 * assigned the partitions a test reads. */
static rd_kafka_t *new_consumer(const fixture_t *f, const char *group) {
        char err[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_conf_set(kc, "bootstrap.servers", f->bootstraps, err, sizeof(err));
        rd_kafka_conf_set(kc, "group.id", group, err, sizeof(err));
        rd_kafka_conf_set(kc, "log_level", "0", err, sizeof(err));
        rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        assert_non_null(c);
        return c;
}

/* Reads t.contributions from the start and checks that it holds
 * payload-FIRST..payload-LAST, each exactly once, and nothing else. */
static void assert_topic_holds(fixture_t *f, unsigned first, unsigned last) {
        unsigned seen[MAX_MSGS] = {0}, total = 0, want = last - first + 1;
        rd_kafka_t *c = new_consumer(f, "test-publisher-check");
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
        for (int p = 0; p < 3; p++)
                rd_kafka_topic_partition_list_add(parts, "t.contributions", p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, parts), 0);
        rd_kafka_topic_partition_list_destroy(parts);
        int64_t deadline = tu_now_ms() + 15000;
        /* Past the expected count, keep reading a little for duplicates. */
        int64_t extra_until = 0;
        while (tu_now_ms() < deadline && (!extra_until || tu_now_ms() < extra_until)) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
                if (!m)
                        continue;
                if (!m->err) {
                        unsigned line;
                        char text[64];
                        snprintf(text, sizeof(text), "%.*s", (int)m->len, (const char *)m->payload);
                        assert_int_equal(sscanf(text, "payload-%u", &line), 1);
                        assert_true(line >= first && line <= last);
                        seen[line]++;
                        total++;
                        if (total == want)
                                extra_until = tu_now_ms() + 500;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        for (unsigned line = first; line <= last; line++)
                if (seen[line] != 1)
                        fail_msg("payload-%u is in the topic %u times", line, seen[line]);
        assert_int_equal(total, want);
}

static void assert_acked_once(fixture_t *f, unsigned first, unsigned last) {
        for (unsigned line = first; line <= last; line++) {
                if (f->acks[line] != 1 || f->ack_err[line])
                        fail_msg("line %u: %u acks, last error %s", line, f->acks[line],
                                 rd_kafka_err2name(f->ack_err[line]));
        }
}

static void test_every_message_is_acked_once(void **state) {
        fixture_t *f = *state;
        tecg_publisher_stats_t st;
        f->pub = make_publisher(f, NULL);
        for (unsigned line = 1; line <= 20; line++)
                send_line(f, line);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);
        assert_int_equal(tecg_publisher_outstanding(f->pub), 0);
        assert_acked_once(f, 1, 20);
        tecg_publisher_stats(f->pub, &st);
        assert_int_equal(st.sent, 20);
        assert_int_equal(st.acked, 20);
        assert_int_equal(st.refused, 0);
        assert_topic_holds(f, 1, 20);
}

/* The broker goes away: what was sent stays outstanding, unacknowledged
 * (held, not dropped, whatever the wait); when it is back, everything is
 * delivered once. */
static void test_broker_down_holds_then_delivers(void **state) {
        fixture_t *f = *state;
        f->pub = make_publisher(f, NULL);
        for (unsigned line = 1; line <= 5; line++)
                send_line(f, line);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);

        assert_int_equal(rd_kafka_mock_broker_set_down(f->mock, 1), 0);
        for (unsigned line = 6; line <= 15; line++)
                send_line(f, line);
        assert_int_equal(tecg_publisher_flush(f->pub, 2500), TECG_ERR_RETRY);
        assert_int_equal(tecg_publisher_outstanding(f->pub), 10);
        for (unsigned line = 6; line <= 15; line++)
                assert_int_equal(f->acks[line], 0);

        assert_int_equal(rd_kafka_mock_broker_set_up(f->mock, 1), 0);
        assert_int_equal(tecg_publisher_flush(f->pub, 30000), TECG_OK);
        assert_acked_once(f, 1, 15);
        assert_topic_holds(f, 1, 15);
}

/* Produce requests failing with retriable errors: retried, nothing lost,
 * nothing twice (idempotence). */
static void test_transient_produce_errors_are_retried(void **state) {
        fixture_t *f = *state;
        f->pub = make_publisher(f, NULL);
        /* Connect first, so the errors hit produce requests. */
        send_line(f, 1);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);
        rd_kafka_mock_push_request_errors(
                f->mock, API_PRODUCE, 4, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
        for (unsigned line = 2; line <= 12; line++)
                send_line(f, line);
        assert_int_equal(tecg_publisher_flush(f->pub, 30000), TECG_OK);
        assert_acked_once(f, 1, 12);
        assert_topic_holds(f, 1, 12);
}

/* Messages time out in librdkafka while the broker is down (a short
 * kafka.message.timeout.ms): the publisher keeps them and sends them again
 * itself, so they are delivered all the same. */
static void test_timed_out_messages_are_resent(void **state) {
        fixture_t *f = *state;
        tecg_publisher_stats_t st;
        const char *extra[] = {"kafka.message.timeout.ms", "1500", NULL};
        f->pub = make_publisher(f, extra);
        send_line(f, 1);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);

        assert_int_equal(rd_kafka_mock_broker_set_down(f->mock, 1), 0);
        for (unsigned line = 2; line <= 6; line++)
                send_line(f, line);
        assert_int_equal(tecg_publisher_flush(f->pub, 4000), TECG_ERR_RETRY);
        assert_int_equal(tecg_publisher_outstanding(f->pub), 5);
        for (unsigned line = 2; line <= 6; line++)
                assert_int_equal(f->acks[line], 0);
        assert_int_equal(rd_kafka_mock_broker_set_up(f->mock, 1), 0);
        assert_int_equal(tecg_publisher_flush(f->pub, 30000), TECG_OK);
        tecg_publisher_stats(f->pub, &st);
        /* Sent again by the publisher, or by a new producer after a fatal
         * idempotence error: either way not lost. */
        assert_true(st.resent + st.fatal_restarts > 0);
        assert_acked_once(f, 1, 6);
}

/* A permanent error from the broker is the message's one ack, with a
 * reason for rejected/; the next messages go through. */
static void test_permanent_error_is_acked_with_a_reason(void **state) {
        fixture_t *f = *state;
        tecg_publisher_stats_t st;
        f->pub = make_publisher(f, NULL);
        send_line(f, 1);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);
        rd_kafka_mock_push_request_errors(f->mock, API_PRODUCE, 1,
                                          RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
        send_line(f, 2);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);
        send_line(f, 3);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);
        assert_int_equal(f->acks[2], 1);
        assert_int_equal(f->ack_err[2], RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
        assert_string_equal(f->reason[2], "Kafka refused the message: the broker finds "
                                          "its 9 bytes too large (the topic's "
                                          "max.message.bytes)");
        assert_int_equal(f->acks[3], 1);
        assert_int_equal(f->ack_err[3], 0);
        tecg_publisher_stats(f->pub, &st);
        assert_int_equal(st.refused, 1);
        assert_int_equal(st.acked, 2);
        assert_int_equal(tecg_publisher_outstanding(f->pub), 0);
}

/* Larger than kafka.message.max.bytes: refused at once, naming the key,
 * and never acked. */
static void test_too_large_is_refused_at_send(void **state) {
        fixture_t *f = *state;
        char err[512], big[3000];
        const char *extra[] = {"kafka.message.max.bytes", "2000", NULL};
        f->pub = make_publisher(f, extra);
        memset(big, 'x', sizeof(big));
        assert_int_equal(tecg_publisher_send(f->pub, TECG_TOPIC_TRAINING, big, sizeof(big), f, 7,
                                             err, sizeof(err)),
                         TECG_ERR_INVALID);
        assert_string_equal(err, "encoded event is 3000 bytes: with its key and Kafka's "
                                 "record overhead that is more than "
                                 "kafka.message.max.bytes (2000 bytes) allows");
        assert_int_equal(tecg_publisher_flush(f->pub, 1000), TECG_OK);
        assert_int_equal(f->acks[7], 0);
        assert_int_equal(tecg_publisher_outstanding(f->pub), 0);
}

/* f->pub signing with a key made for the test (`extra`: more settings). */
static void make_signing_publisher(fixture_t *f, tecg_sign_key_t *key, const char **extra) {
        char err[512];
        assert_int_equal(tecg_sign_keygen("DEU-2026", key, err, sizeof(err)), TECG_OK);
        f->pub = make_publisher(f, extra);
        tecg_publisher_set_signing_key(f->pub, key);
}

/* The publisher first: it borrows the key. */
static void destroy_signing_publisher(fixture_t *f, tecg_sign_key_t *key) {
        tecg_publisher_destroy(f->pub);
        f->pub = NULL;
        tecg_sign_key_wipe(key);
}

/* Signed (docs/design.md §9.1): every message carries the key id and a
 * signature that verifies, with the keyring's key, over the message key,
 * the topic, the message's own timestamp and the value; resent messages
 * (broker down, then up) keep a signature that verifies. */
/* The verdict on consumed message m's signature under public_key, read
 * from its headers as the aggregator reads them (tecg-batch when sealed);
 * *sealed says which form it had. */
static tecg_event_sig_verdict_t verify_consumed(const unsigned char *public_key,
                                                const rd_kafka_message_t *m, const char *topic,
                                                int64_t ts, bool *sealed) {
        rd_kafka_headers_t *hdrs = NULL;
        const void *sig = NULL, *batch = NULL;
        size_t sig_len = 0, batch_len = 0;
        assert_int_equal(rd_kafka_message_headers(m, &hdrs), 0);
        assert_int_equal(
                rd_kafka_header_get_last(hdrs, TECG_EVENT_SIG_HDR_SIGNATURE, &sig, &sig_len), 0);
        assert_int_equal(sig_len, TECG_SIGN_SIG_BYTES);
        *sealed = rd_kafka_header_get_last(hdrs, TECG_EVENT_SIG_HDR_BATCH, &batch, &batch_len) == 0;
        const tecg_event_sig_msg_t sm = {m->key, m->key_len, topic, ts, m->payload, m->len};
        return tecg_event_sig_verify(public_key, &sm, sig, *sealed ? batch : NULL, batch_len);
}

static void test_signed_messages_verify_with_the_keyring(void **state) {
        fixture_t *f = *state;
        char err[512], line_text[256], pub_b64[TECG_SIGN_PUBLIC_B64_SIZE];
        tecg_sign_key_t key;
        assert_int_equal(tecg_sign_keygen("DEU-2026", &key, err, sizeof(err)), TECG_OK);
        tecg_sign_b64_encode(key.public_key, sizeof(key.public_key), pub_b64, sizeof(pub_b64));
        static const char csv[] = "code,name,status\nDEU,Germany,member\n";
        tecg_nations_t *ns = tecg_nations_parse(csv, sizeof(csv) - 1, "n", err, sizeof(err));
        assert_non_null(ns);
        int n = snprintf(line_text, sizeof(line_text),
                         "nation,key_id,public_key,valid_from,valid_until,revoked_at\n"
                         "DEU,DEU-2026,%s,,,\n",
                         pub_b64);
        tecg_keyring_t *kr = tecg_keyring_parse(line_text, (size_t)n, "k", ns, err, sizeof(err));
        assert_non_null(kr);

        int64_t before = wall_ms();
        f->pub = make_publisher(f, NULL);
        tecg_publisher_set_signing_key(f->pub, &key);
        for (unsigned line = 1; line <= 3; line++)
                send_line(f, line);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);
        assert_int_equal(rd_kafka_mock_broker_set_down(f->mock, 1), 0);
        for (unsigned line = 4; line <= 6; line++)
                send_line(f, line);
        assert_int_equal(tecg_publisher_flush(f->pub, 1500), TECG_ERR_RETRY);
        assert_int_equal(rd_kafka_mock_broker_set_up(f->mock, 1), 0);
        assert_int_equal(tecg_publisher_flush(f->pub, 30000), TECG_OK);
        assert_acked_once(f, 1, 6);

        rd_kafka_t *c = new_consumer(f, "test-publisher-signed");
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
        for (int p = 0; p < 3; p++)
                rd_kafka_topic_partition_list_add(parts, "t.contributions", p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, parts), 0);
        rd_kafka_topic_partition_list_destroy(parts);
        unsigned verified = 0;
        int64_t deadline = tu_now_ms() + 15000;
        while (verified < 6 && tu_now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
                if (!m)
                        continue;
                if (!m->err) {
                        rd_kafka_headers_t *hdrs = NULL;
                        const void *id = NULL, *sig = NULL;
                        size_t id_len = 0, sig_len = 0;
                        rd_kafka_timestamp_type_t tstype;
                        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
                        assert_int_equal(rd_kafka_message_headers(m, &hdrs), 0);
                        assert_int_equal(rd_kafka_header_get_last(hdrs, TECG_EVENT_SIG_HDR_KEY_ID,
                                                                  &id, &id_len),
                                         0);
                        assert_int_equal(rd_kafka_header_get_last(hdrs,
                                                                  TECG_EVENT_SIG_HDR_SIGNATURE,
                                                                  &sig, &sig_len),
                                         0);
                        assert_int_equal(sig_len, TECG_SIGN_SIG_BYTES);
                        assert_int_equal(tstype, RD_KAFKA_TIMESTAMP_CREATE_TIME);
                        assert_true(ts >= before && ts <= wall_ms());
                        const tecg_keyring_key_t *k = NULL;
                        assert_int_equal(tecg_keyring_check(kr, id, id_len, "DEU", ts, &k),
                                         TECG_KEYRING_OK);
                        bool sealed;
                        assert_int_equal(
                                verify_consumed(k->public_key, m, "t.contributions", ts, &sealed),
                                TECG_EVENT_SIG_VALID);
                        /* Not under another topic or timestamp. */
                        assert_int_equal(verify_consumed(k->public_key, m, "t.training-completions",
                                                         ts, &sealed),
                                         TECG_EVENT_SIG_BAD);
                        assert_int_equal(verify_consumed(k->public_key, m, "t.contributions",
                                                         ts + 1, &sealed),
                                         TECG_EVENT_SIG_BAD);
                        verified++;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        assert_int_equal(verified, 6);
        tecg_keyring_destroy(kr);
        tecg_nations_destroy(ns);
        destroy_signing_publisher(f, &key);
}

/* Signing happens on threads of their own, but the messages leave in the
 * order they were sent: BULK_COUNT signed messages (more than the signing
 * ring holds) to the one partition of t.training-completions come back in
 * that order, each once, each with a signature that verifies. Sent at
 * once, they are sealed 64 to a signature, but for the rest that the
 * flush seals (docs/design.md §9.1). */
static void test_signed_messages_keep_their_order(void **state) {
        fixture_t *f = *state;
        char err[512], payload[32];
        tecg_sign_key_t key;
        make_signing_publisher(f, &key, NULL);
        for (unsigned i = 0; i < BULK_COUNT; i++) {
                int n = snprintf(payload, sizeof(payload), "payload-%u", BULK_FIRST + i);
                assert_int_equal(tecg_publisher_send(f->pub, TECG_TOPIC_TRAINING, payload,
                                                     (size_t)n, f, BULK_FIRST + i, err,
                                                     sizeof(err)),
                                 TECG_OK);
        }
        assert_int_equal(tecg_publisher_flush(f->pub, 30000), TECG_OK);
        assert_int_equal(tecg_publisher_outstanding(f->pub), 0);
        assert_int_equal(f->bulk_errors, 0);
        for (unsigned i = 0; i < BULK_COUNT; i++)
                if (f->bulk_acks[i] != 1)
                        fail_msg("line %u: %u acks", BULK_FIRST + i, f->bulk_acks[i]);

        rd_kafka_t *c = new_consumer(f, "test-publisher-order");
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(parts, "t.training-completions", 0)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, parts), 0);
        rd_kafka_topic_partition_list_destroy(parts);
        unsigned next = BULK_FIRST, in_full_seals = 0, in_last_seal = 0;
        int64_t deadline = tu_now_ms() + 20000;
        while (next < BULK_FIRST + BULK_COUNT && tu_now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
                if (!m)
                        continue;
                if (!m->err) {
                        char text[64];
                        unsigned line = 0;
                        bool is_sealed;
                        rd_kafka_timestamp_type_t tstype;
                        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
                        snprintf(text, sizeof(text), "%.*s", (int)m->len, (const char *)m->payload);
                        assert_int_equal(sscanf(text, "payload-%u", &line), 1);
                        if (line != next)
                                fail_msg("offset %lld holds line %u, expected %u",
                                         (long long)m->offset, line, next);
                        assert_int_equal(verify_consumed(key.public_key, m,
                                                         "t.training-completions", ts, &is_sealed),
                                         TECG_EVENT_SIG_VALID);
                        const void *batch;
                        size_t batch_len;
                        rd_kafka_headers_t *hdrs = NULL;
                        assert_int_equal(rd_kafka_message_headers(m, &hdrs), 0);
                        if (!is_sealed || rd_kafka_header_get_last(hdrs, TECG_EVENT_SIG_HDR_BATCH,
                                                                   &batch, &batch_len) != 0)
                                fail_msg("line %u was signed alone", line);
                        unsigned seal_n = (unsigned)tecg_get_be(batch, 2);
                        if (seal_n == TECG_EVENT_SIG_SEAL_MAX)
                                in_full_seals++;
                        else if (seal_n == BULK_COUNT % TECG_EVENT_SIG_SEAL_MAX)
                                in_last_seal++;
                        else
                                fail_msg("line %u in a seal of %u", line, seal_n);
                        next++;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        assert_int_equal(next, BULK_FIRST + BULK_COUNT);
        assert_int_equal(in_full_seals,
                         BULK_COUNT / TECG_EVENT_SIG_SEAL_MAX * TECG_EVENT_SIG_SEAL_MAX);
        assert_int_equal(in_last_seal, BULK_COUNT % TECG_EVENT_SIG_SEAL_MAX);
        destroy_signing_publisher(f, &key);
}

/* Reads `want` messages from the start of both topics (consumer group
 * `group`): for each, in the order read, whether it is a training
 * completion and the n of its seal (0: signed alone). False when fewer
 * came within 20 s. */
typedef struct {
        bool training;
        unsigned seal_n;
} read_seal_t;

static bool read_seal_sizes(const fixture_t *f, const char *group, unsigned want,
                            read_seal_t *out) {
        rd_kafka_t *c = new_consumer(f, group);
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
        for (int32_t p = 0; p < 3; p++)
                rd_kafka_topic_partition_list_add(parts, "t.contributions", p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_topic_partition_list_add(parts, "t.training-completions", 0)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, parts), 0);
        rd_kafka_topic_partition_list_destroy(parts);
        unsigned got = 0;
        int64_t deadline = tu_now_ms() + 20000;
        while (got < want && tu_now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
                if (!m)
                        continue;
                if (!m->err) {
                        const void *batch;
                        size_t batch_len;
                        rd_kafka_headers_t *hdrs = NULL;
                        assert_int_equal(rd_kafka_message_headers(m, &hdrs), 0);
                        out[got].training =
                                strcmp(rd_kafka_topic_name(m->rkt), "t.contributions") != 0;
                        out[got].seal_n = rd_kafka_header_get_last(hdrs, TECG_EVENT_SIG_HDR_BATCH,
                                                                   &batch, &batch_len) == 0
                                                  ? (unsigned)tecg_get_be(batch, 2)
                                                  : 0;
                        got++;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        return got == want;
}

/* Each topic is sealed on its own (a lane each): messages sent to the two
 * topics in turn come back as seals of one topic only, 64 to a seal but
 * for each topic's last, so that the aggregator finds a seal's events
 * together in one partition. */
#define LANE_TEST_EACH 200

static void test_each_topic_is_sealed_on_its_own(void **state) {
        fixture_t *f = *state;
        char err[512], payload[32];
        tecg_sign_key_t key;
        static read_seal_t got[2 * LANE_TEST_EACH];
        make_signing_publisher(f, &key, NULL);
        for (unsigned i = 0; i < 2 * LANE_TEST_EACH; i++) {
                int n = snprintf(payload, sizeof(payload), "lane-%u", i);
                tecg_topic_t topic = i % 2 ? TECG_TOPIC_TRAINING : TECG_TOPIC_CONTRIBUTIONS;
                assert_int_equal(tecg_publisher_send(f->pub, topic, payload, (size_t)n, f,
                                                     BULK_FIRST + i, err, sizeof(err)),
                                 TECG_OK);
        }
        assert_int_equal(tecg_publisher_flush(f->pub, 30000), TECG_OK);
        assert_int_equal(f->bulk_errors, 0);
        assert_true(read_seal_sizes(f, "test-publisher-lanes", 2 * LANE_TEST_EACH, got));
        /* Per topic: events in full seals and in the last, shorter one. */
        unsigned full[2] = {0, 0}, last[2] = {0, 0};
        for (unsigned i = 0; i < 2 * LANE_TEST_EACH; i++) {
                if (got[i].seal_n == TECG_EVENT_SIG_SEAL_MAX)
                        full[got[i].training]++;
                else if (got[i].seal_n == LANE_TEST_EACH % TECG_EVENT_SIG_SEAL_MAX)
                        last[got[i].training]++;
                else
                        fail_msg("message %u in a seal of %u", i, got[i].seal_n);
        }
        for (int t = 0; t < 2; t++) {
                assert_int_equal(full[t], LANE_TEST_EACH / TECG_EVENT_SIG_SEAL_MAX *
                                                  TECG_EVENT_SIG_SEAL_MAX);
                assert_int_equal(last[t], LANE_TEST_EACH % TECG_EVENT_SIG_SEAL_MAX);
        }
        destroy_signing_publisher(f, &key);
}

/* Fewer than a seal's worth wait for the seal window (docs/design.md §9.1,
 * security.signing.seal.ms): polled within it, three messages stay
 * unsent; flush seals them at once, as one seal of three. With no window,
 * polling alone sends what waits. */
static void test_a_short_seal_waits_for_its_window(void **state) {
        fixture_t *f = *state;
        char err[512];
        tecg_sign_key_t key;
        read_seal_t got[5];
        make_signing_publisher(f, &key, NULL);
        tecg_publisher_set_seal_window(f->pub, 600000);
        assert_int_equal(tecg_publisher_seal_due_ms(f->pub), -1);
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(tecg_publisher_send(f->pub, TECG_TOPIC_TRAINING, "w", 1, f,
                                                     BULK_FIRST + i, err, sizeof(err)),
                                 TECG_OK);
        for (int k = 0; k < 5; k++)
                tecg_publisher_poll(f->pub, 20);
        assert_true(tecg_publisher_seal_due_ms(f->pub) > 500000);
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(f->bulk_acks[i], 0);
        tecg_publisher_seal_now(f->pub); /* the input ended */
        assert_int_equal(tecg_publisher_seal_due_ms(f->pub), -1);
        assert_int_equal(tecg_publisher_flush(f->pub, 30000), TECG_OK);
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(f->bulk_acks[i], 1);

        tecg_publisher_set_seal_window(f->pub, 0);
        for (unsigned i = 3; i < 5; i++)
                assert_int_equal(tecg_publisher_send(f->pub, TECG_TOPIC_TRAINING, "w", 1, f,
                                                     BULK_FIRST + i, err, sizeof(err)),
                                 TECG_OK);
        int64_t deadline = tu_now_ms() + 20000;
        while (tecg_publisher_outstanding(f->pub) > 0 && tu_now_ms() < deadline)
                tecg_publisher_poll(f->pub, 20);
        assert_int_equal(tecg_publisher_outstanding(f->pub), 0);
        assert_int_equal(f->bulk_errors, 0);

        assert_true(read_seal_sizes(f, "test-publisher-window", 5, got));
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(got[i].seal_n, 3);
        for (unsigned i = 3; i < 5; i++) /* both waited when poll came */
                assert_int_equal(got[i].seal_n, 2);
        destroy_signing_publisher(f, &key);
}

/* While input keeps coming nobody polls: a send seals any lane whose
 * window ran out (a topic seldom written), so only the message just sent
 * is left waiting, due a whole window later. */
static void test_a_send_seals_what_is_due(void **state) {
        fixture_t *f = *state;
        char err[512];
        tecg_sign_key_t key;
        make_signing_publisher(f, &key, NULL);
        tecg_publisher_set_seal_window(f->pub, 1000);
        assert_int_equal(tecg_publisher_send(f->pub, TECG_TOPIC_TRAINING, "t", 1, f, BULK_FIRST,
                                             err, sizeof(err)),
                         TECG_OK);
        struct timespec over = {1, 100000000}; /* the window and a tenth */
        nanosleep(&over, NULL);
        assert_int_equal(tecg_publisher_seal_due_ms(f->pub), 0);
        assert_int_equal(tecg_publisher_send(f->pub, TECG_TOPIC_CONTRIBUTIONS, "c", 1, f,
                                             BULK_FIRST + 1, err, sizeof(err)),
                         TECG_OK);
        assert_true(tecg_publisher_seal_due_ms(f->pub) > 500);
        assert_int_equal(tecg_publisher_flush(f->pub, 30000), TECG_OK);
        assert_int_equal(f->bulk_acks[0] + f->bulk_acks[1], 2);
        assert_int_equal(f->bulk_errors, 0);
        destroy_signing_publisher(f, &key);
}

/* A signed message is queued for its signature before librdkafka sees it,
 * so the publisher makes librdkafka's size check itself: the largest value
 * that fits goes through (librdkafka would refuse one the check let pass:
 * an ack with an error), one byte more is refused at send(). */
static void test_signed_size_limit_is_librdkafkas(void **state) {
        fixture_t *f = *state;
        char err[512], big[2000];
        tecg_sign_key_t key;
        const char *extra[] = {"kafka.message.max.bytes", "1000", NULL};
        make_signing_publisher(f, &key, extra);
        /* Record overhead 36, key "DEU"; headers: name and value, each
         * after its length as a zigzag varint (one byte, but two for the
         * 64 bytes of the signature and the largest tecg-batch header a
         * seal may add, which is counted before signing). */
        size_t headers = strlen(TECG_EVENT_SIG_HDR_KEY_ID) + 1 + strlen("DEU-2026") + 1 +
                         strlen(TECG_EVENT_SIG_HDR_SIGNATURE) + 1 + TECG_SIGN_SIG_BYTES + 2 +
                         strlen(TECG_EVENT_SIG_HDR_BATCH) + 1 + TECG_EVENT_SIG_SEAL_HDR_MAX + 2;
        size_t fit = 1000 - 36 - 3 - headers;
        memset(big, 'x', sizeof(big));
        assert_int_equal(tecg_publisher_send(f->pub, TECG_TOPIC_CONTRIBUTIONS, big, fit + 1, f, 8,
                                             err, sizeof(err)),
                         TECG_ERR_INVALID);
        assert_non_null(strstr(err, "kafka.message.max.bytes (1000 bytes)"));
        assert_int_equal(tecg_publisher_send(f->pub, TECG_TOPIC_CONTRIBUTIONS, big, fit, f, 7, err,
                                             sizeof(err)),
                         TECG_OK);
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);
        assert_int_equal(f->acks[7], 1);
        assert_int_equal(f->ack_err[7], 0);
        assert_int_equal(f->acks[8], 0);
        assert_int_equal(tecg_publisher_outstanding(f->pub), 0);
        destroy_signing_publisher(f, &key);
}

/* A stop while the signing ring and librdkafka's queue are full: send()
 * gives up on the next message (not sent, never acked) instead of
 * waiting; every message it took is still delivered once and acked once
 * when the broker is back. */
static void test_stop_while_the_ring_is_full(void **state) {
        fixture_t *f = *state;
        char err[512], payload[32];
        volatile int stop = 1;
        tecg_sign_key_t key;
        const char *extra[] = {"kafka.queue.buffering.max.messages", "10", NULL};
        make_signing_publisher(f, &key, extra);
        tecg_publisher_set_stop_flag(f->pub, &stop);
        assert_int_equal(rd_kafka_mock_broker_set_down(f->mock, 1), 0);
        unsigned taken = 0;
        tecg_err_t e = TECG_OK;
        while (taken < BULK_COUNT) {
                int n = snprintf(payload, sizeof(payload), "payload-%u", BULK_FIRST + taken);
                e = tecg_publisher_send(f->pub, TECG_TOPIC_TRAINING, payload, (size_t)n, f,
                                        BULK_FIRST + taken, err, sizeof(err));
                if (e)
                        break;
                taken++;
        }
        if (e != TECG_ERR_RETRY)
                fail_msg("%u messages taken, none refused", taken);
        assert_string_equal(err, "shutting down");
        /* More than the ring alone: librdkafka's queue holds some too. */
        if (taken <= 1024)
                fail_msg("only %u messages taken", taken);
        assert_int_equal(tecg_publisher_outstanding(f->pub), taken);
        stop = 0;
        assert_int_equal(rd_kafka_mock_broker_set_up(f->mock, 1), 0);
        assert_int_equal(tecg_publisher_flush(f->pub, 30000), TECG_OK);
        assert_int_equal(f->bulk_errors, 0);
        for (unsigned i = 0; i < BULK_COUNT; i++)
                if (f->bulk_acks[i] != (i < taken ? 1u : 0u))
                        fail_msg("line %u: %u acks", BULK_FIRST + i, f->bulk_acks[i]);
        destroy_signing_publisher(f, &key);
}

/* librdkafka's queue is kept short (OUTQ_SOFT_MAX in publisher.c, 20,000
 * messages): with the broker down and a stop requested, send() takes the
 * ring's 1,024 messages and about 20,000 in librdkafka, not the 100,000
 * librdkafka would queue; all of them are delivered once when the broker is
 * back. */
static void test_signed_queue_is_kept_short(void **state) {
        fixture_t *f = *state;
        char err[512], payload[32];
        volatile int stop = 1;
        tecg_sign_key_t key;
        make_signing_publisher(f, &key, NULL);
        tecg_publisher_set_stop_flag(f->pub, &stop);
        send_line(f, 1); /* connected first: the queue is what holds them */
        assert_int_equal(tecg_publisher_flush(f->pub, 15000), TECG_OK);
        assert_int_equal(rd_kafka_mock_broker_set_down(f->mock, 1), 0);
        unsigned taken = 0;
        tecg_err_t e = TECG_OK;
        while (taken < BULK_MAX) {
                int n = snprintf(payload, sizeof(payload), "payload-%u", BULK_FIRST + taken);
                e = tecg_publisher_send(f->pub, TECG_TOPIC_TRAINING, payload, (size_t)n, f,
                                        BULK_FIRST + taken, err, sizeof(err));
                if (e)
                        break;
                taken++;
        }
        if (e != TECG_ERR_RETRY)
                fail_msg("%u messages taken, none refused", taken);
        /* 20,000 in librdkafka, give or take one run of 64, + the ring. */
        if (taken < 20000 || taken > 20000 + 64 + 1024)
                fail_msg("%u messages taken", taken);
        stop = 0;
        assert_int_equal(rd_kafka_mock_broker_set_up(f->mock, 1), 0);
        assert_int_equal(tecg_publisher_flush(f->pub, 60000), TECG_OK);
        assert_int_equal(f->bulk_errors, 0);
        for (unsigned i = 0; i < BULK_MAX; i++)
                if (f->bulk_acks[i] != (i < taken ? 1u : 0u))
                        fail_msg("line %u: %u acks", BULK_FIRST + i, f->bulk_acks[i]);
        destroy_signing_publisher(f, &key);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_every_message_is_acked_once),
                T(test_broker_down_holds_then_delivers),
                T(test_transient_produce_errors_are_retried),
                T(test_timed_out_messages_are_resent),
                T(test_permanent_error_is_acked_with_a_reason),
                T(test_too_large_is_refused_at_send),
                T(test_signed_messages_verify_with_the_keyring),
                T(test_signed_messages_keep_their_order),
                T(test_each_topic_is_sealed_on_its_own),
                T(test_a_short_seal_waits_for_its_window),
                T(test_a_send_seals_what_is_due),
                T(test_signed_size_limit_is_librdkafkas),
                T(test_stop_while_the_ring_is_full),
                T(test_signed_queue_is_kept_short),
        };
#undef T
        return cmocka_run_group_tests(tests, NULL, NULL);
}
