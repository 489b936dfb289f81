/* The aggregator's signature check (docs/design.md §9.1) against
 * librdkafka's mock cluster: one message per reason a signature does not
 * hold, written as a forger would, next to genuine signed events. Under
 * require each goes to the dead-letter topic with its reason and only the
 * genuine ones are counted; under warn all that decode are counted and
 * every reason is counted once. */
#include <inttypes.h>
#include <setjmp.h>
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
#include "avro_codec.h"
#include "buf.h"
#include "conf.h"
#include "event.h"
#include "event_sig.h"
#include "keyring.h"
#include "log.h"
#include "refdata.h"
#include "testutil.h"

#define PREFIX "t."
#define TOPIC PREFIX "contributions"
#define PARTITIONS 3
#define WAIT_MS 15000
#define WATCHDOG_S 90

enum { K_DEU, K_FRA, K_REVOKED, K_FUTURE, K_OLD, K_UNLISTED, K__COUNT };
static const char *const key_ids[K__COUNT] = {"DEU-1",     "FRA-1",   "DEU-revoked",
                                              "DEU-later", "DEU-old", "ZZZ-1"};

typedef struct {
        int unused;
} conf_target_t;

static const tecg_conf_prop_t props[] = {
        {.name = "kafka.", .type = TECG_CONF_PREFIX, .doc = "librdkafka"}, {.name = NULL}};

typedef struct {
        rd_kafka_t *mock_rk;
        rd_kafka_mock_cluster_t *mcluster;
        char bootstraps[512];
        rd_kafka_t *producer;
        conf_target_t target;
        tecg_conf_t *conf;
        tecg_avro_t *avro;
        tecg_nations_t *nations;
        tecg_keyring_t *keyring;
        tecg_sign_key_t keys[K__COUNT];
        tecg_aggregator_t *agg;
} fixture_t;

static int64_t wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conf_set(rd_kafka_conf_t *kc, const char *name, const char *value) {
        char err[512];
        if (rd_kafka_conf_set(kc, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
                fail_msg("%s=%s: %s", name, value, err);
}

static int setup(void **state) {
        char err[512], csv[2048], b64[TECG_SIGN_PUBLIC_B64_SIZE];
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        *state = f;
        alarm(WATCHDOG_S);
        tecg_log_init("test_aggregator_signatures", TECG_LOG_WARNING);

        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        conf_set(kc, "log_level", "3");
        f->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
        assert_non_null(f->mock_rk);
        f->mcluster = rd_kafka_mock_cluster_new(f->mock_rk, 3);
        assert_non_null(f->mcluster);
        snprintf(f->bootstraps, sizeof(f->bootstraps), "%s",
                 rd_kafka_mock_cluster_bootstraps(f->mcluster));
        static const char *const topics[] = {"contributions", "training-completions",
                                             "nation-state", "event-ids", "dead-letter"};
        for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
                char name[64];
                snprintf(name, sizeof(name), PREFIX "%s", topics[i]);
                assert_int_equal(rd_kafka_mock_topic_create(f->mcluster, name, PARTITIONS, 1), 0);
        }
        kc = rd_kafka_conf_new();
        conf_set(kc, "bootstrap.servers", f->bootstraps);
        conf_set(kc, "partitioner", "murmur2_random");
        conf_set(kc, "linger.ms", "0");
        f->producer = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
        assert_non_null(f->producer);

        f->conf = tecg_conf_new(props, &f->target, err, sizeof(err));
        assert_non_null(f->conf);
        assert_int_equal(tecg_conf_set(f->conf, "kafka.bootstrap.servers", f->bootstraps, "t", err,
                                       sizeof(err)),
                         TECG_OK);
        assert_int_equal(
                tecg_conf_set(f->conf, "kafka.session.timeout.ms", "4000", "t", err, sizeof(err)),
                TECG_OK);
        f->avro = tecg_avro_new(err, sizeof(err));
        assert_non_null(f->avro);
        static const char ncsv[] = "code,name,status\nDEU,Germany,member\nFRA,France,member\n";
        f->nations = tecg_nations_parse(ncsv, sizeof(ncsv) - 1, "n.csv", err, sizeof(err));
        assert_non_null(f->nations);

        int n = snprintf(csv, sizeof(csv),
                         "nation,key_id,public_key,valid_from,valid_until,revoked_at\n");
        static const char *const windows[K__COUNT] = {
                ",,",                                         /* DEU-1 */
                ",,",                                         /* FRA-1 */
                ",,2026-01-01T00:00:00Z",                     /* revoked */
                "2100-01-01T00:00:00Z,,",                     /* not yet valid */
                "2005-01-01T00:00:00Z,2006-01-01T00:00:00Z,", /* expired */
                NULL};                                        /* not in the keyring */
        for (int k = 0; k < K__COUNT; k++) {
                assert_int_equal(tecg_sign_keygen(key_ids[k], &f->keys[k], err, sizeof(err)),
                                 TECG_OK);
                if (!windows[k])
                        continue;
                tecg_sign_b64_encode(f->keys[k].public_key, TECG_SIGN_PUBLIC_BYTES, b64,
                                     sizeof(b64));
                n += snprintf(csv + n, sizeof(csv) - (size_t)n, "%s,%s,%s,%s\n",
                              k == K_FRA ? "FRA" : "DEU", key_ids[k], b64, windows[k]);
        }
        f->keyring = tecg_keyring_parse(csv, (size_t)n, "keys.csv", f->nations, err, sizeof(err));
        if (!f->keyring)
                fail_msg("%s", err);
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_aggregator_destroy(f->agg);
        tecg_keyring_destroy(f->keyring);
        for (int k = 0; k < K__COUNT; k++)
                tecg_sign_key_wipe(&f->keys[k]);
        tecg_nations_destroy(f->nations);
        tecg_avro_destroy(f->avro);
        tecg_conf_destroy(f->conf);
        rd_kafka_destroy(f->producer);
        rd_kafka_mock_cluster_destroy(f->mcluster);
        rd_kafka_destroy(f->mock_rk);
        free(f);
        alarm(0);
        return 0;
}

/* How one message is spoiled. */
typedef enum {
        S_NONE,       /* genuine */
        S_UNSIGNED,   /* no headers */
        S_SHORT_SIG,  /* 10-byte signature */
        S_FLIP,       /* value changed after signing */
        S_FUTURE,     /* timestamp 10 minutes ahead */
        S_PARTITION,  /* another partition than murmur2 maps to */
        S_REKEY_FRA,  /* signed as DEU, message key changed to FRA */
        S_SEALED,     /* genuine, sealed with an event never sent */
        S_SEAL_PROOF, /* sealed, a hash of its proof changed */
        S_SEAL_CUT,   /* sealed, its tecg-batch header a byte short */
} spoil_t;

static void send_case(fixture_t *f, const char *id, const char *nation, int key, spoil_t spoil) {
        char err[512];
        tecg_buf_t buf = TECG_BUF_INIT;
        tecg_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = TECG_EV_PERSONNEL;
        snprintf(ev.event_id, sizeof(ev.event_id), "%s", id);
        snprintf(ev.nation, sizeof(ev.nation), "%s", nation);
        ev.occurred_at_ms = tu_at(2005, 6, 1, 12, 0, 0, 0);
        ev.u.personnel.role = TECG_ROLE_TRAINER;
        ev.u.personnel.location = TECG_LOC_IN_IRAQ;
        ev.u.personnel.headcount = 7;
        if (tecg_avro_encode_event(f->avro, &ev, &buf, err, sizeof(err)))
                fail_msg("encode: %s", err);
        int64_t ts = wall_ms() + (spoil == S_FUTURE ? 10 * 60 * 1000 : 0);
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        const tecg_event_sig_msg_t signed_msg = {nation, 3, TOPIC, ts, buf.data, buf.len};
        tecg_event_sig_batch_hdr_t seal[2];
        bool sealed = spoil == S_SEALED || spoil == S_SEAL_PROOF || spoil == S_SEAL_CUT;
        if (sealed) {
                /* Its batch's other event is never sent: the proof alone
                 * must show this one's origin. */
                const tecg_event_sig_msg_t batch[2] = {signed_msg,
                                                       {nation, 3, TOPIC, ts, "never sent", 10}};
                assert_int_equal(
                        tecg_event_sig_seal(&f->keys[key], batch, 2, sig, seal, err, sizeof(err)),
                        TECG_OK);
                if (spoil == S_SEAL_PROOF)
                        seal[0].bytes[seal[0].len - 1] ^= 1;
                if (spoil == S_SEAL_CUT)
                        seal[0].len--;
        } else {
                assert_int_equal(
                        tecg_event_sig_sign(&f->keys[key], &signed_msg, sig, err, sizeof(err)),
                        TECG_OK);
        }
        if (spoil == S_FLIP)
                buf.data[buf.len - 1] ^= 1;
        const char *msg_key = spoil == S_REKEY_FRA ? "FRA" : nation;
        int32_t partition = RD_KAFKA_PARTITION_UA;
        if (spoil == S_PARTITION)
                partition = (rd_kafka_msg_partitioner_murmur2(NULL, msg_key, 3, PARTITIONS, NULL,
                                                              NULL) +
                             1) %
                            PARTITIONS;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
        if (spoil != S_UNSIGNED) {
                rd_kafka_header_add(hdrs, TECG_EVENT_SIG_HDR_KEY_ID, -1, key_ids[key], -1);
                rd_kafka_header_add(hdrs, TECG_EVENT_SIG_HDR_SIGNATURE, -1, sig,
                                    spoil == S_SHORT_SIG ? 10 : (ssize_t)sizeof(sig));
                if (sealed)
                        rd_kafka_header_add(hdrs, TECG_EVENT_SIG_HDR_BATCH, -1, seal[0].bytes,
                                            (ssize_t)seal[0].len);
        }
        rd_kafka_resp_err_t kerr = rd_kafka_producev(
                f->producer, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(msg_key, 3), RD_KAFKA_V_VALUE(buf.data, buf.len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (kerr) {
                rd_kafka_headers_destroy(hdrs);
                fail_msg("produce: %s", rd_kafka_err2str(kerr));
        }
        tecg_buf_free(&buf);
}

/* The cases: id, nation, key, spoil, the refusal (TECG_SIG__COUNT =
 * genuine) and how its dead letter's reason starts. */
static const struct {
        const char *id, *nation;
        int key;
        spoil_t spoil;
        tecg_sig_refusal_t refusal;
        const char *reason;
} cases[] = {
        {"DEU-ok-1", "DEU", K_DEU, S_NONE, TECG_SIG__COUNT, NULL},
        {"FRA-ok-1", "FRA", K_FRA, S_NONE, TECG_SIG__COUNT, NULL},
        {"DEU-unsigned", "DEU", K_DEU, S_UNSIGNED, TECG_SIG_UNSIGNED, "unsigned: no tecg-key-id"},
        {"DEU-short", "DEU", K_DEU, S_SHORT_SIG, TECG_SIG_MALFORMED, "malformed signature header"},
        {"DEU-unknown", "DEU", K_UNLISTED, S_NONE, TECG_SIG_UNKNOWN_KEY,
         "unknown key id \"ZZZ-1\""},
        {"DEU-revoked", "DEU", K_REVOKED, S_NONE, TECG_SIG_REVOKED,
         "key revoked: key id DEU-revoked of DEU was revoked at 2026-01-01T00:00:00.000Z"},
        {"FRA-as-DEU", "DEU", K_FRA, S_NONE, TECG_SIG_OTHER_NATION,
         "key of another nation: key id FRA-1 belongs to FRA, the message key says DEU"},
        {"DEU-rekeyed", "DEU", K_DEU, S_REKEY_FRA, TECG_SIG_OTHER_NATION,
         "key of another nation: key id DEU-1 belongs to DEU, the message key says FRA"},
        {"DEU-later", "DEU", K_FUTURE, S_NONE, TECG_SIG_NOT_YET_VALID,
         "key not valid at the message's timestamp: key id DEU-later is valid from "
         "2100-01-01T00:00:00.000Z"},
        {"DEU-old", "DEU", K_OLD, S_NONE, TECG_SIG_EXPIRED,
         "key not valid at the message's timestamp: key id DEU-old expired at "
         "2006-01-01T00:00:00.000Z"},
        {"DEU-future", "DEU", K_DEU, S_FUTURE, TECG_SIG_FUTURE, "timestamp "},
        {"DEU-flip", "DEU", K_DEU, S_FLIP, TECG_SIG_BAD, "bad signature: does not verify"},
        {"DEU-moved", "DEU", K_DEU, S_PARTITION, TECG_SIG_WRONG_PARTITION,
         "wrong partition: DEU maps to partition "},
        {"DEU-sealed", "DEU", K_DEU, S_SEALED, TECG_SIG__COUNT, NULL},
        {"DEU-seal-proof", "DEU", K_DEU, S_SEAL_PROOF, TECG_SIG_BAD,
         "bad signature: does not verify with key id DEU-1 over key, topic, timestamp and value "
         "(sealed batch: proof and root)"},
        {"DEU-seal-cut", "DEU", K_DEU, S_SEAL_CUT, TECG_SIG_MALFORMED,
         "malformed signature header: tecg-batch is not a batch size"},
        {"DEU-ok-2", "DEU", K_DEU, S_NONE, TECG_SIG__COUNT, NULL},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void send_all(fixture_t *f) {
        for (size_t i = 0; i < NCASES; i++)
                send_case(f, cases[i].id, cases[i].nation, cases[i].key, cases[i].spoil);
        rd_kafka_flush(f->producer, WAIT_MS);
        assert_int_equal(rd_kafka_outq_len(f->producer), 0);
}

/* verify.threads of the engine run() starts (0: the engine's thread). */
static int run_verify_threads;

static void run(fixture_t *f, tecg_signatures_mode_t mode, tecg_aggregator_stats_t *st) {
        char err[512];
        tecg_aggregator_options_t opts = {
                .topic_prefix = PREFIX,
                .group_id = "tecg-aggregator-sig-test",
                .transactional_id = "tecg-aggregator-sig-test-1",
                .nations = f->nations,
                .batch_max_messages = 100,
                .batch_max_ms = 100,
                .restore_timeout_ms = WAIT_MS,
                .message_max_bytes = 4096,
                .shutdown_timeout_ms = WAIT_MS,
                .signatures = mode,
                .keyring = f->keyring,
                .verify_threads = run_verify_threads,
        };
        f->agg = tecg_aggregator_new(f->conf, &opts, err, sizeof(err));
        if (!f->agg)
                fail_msg("tecg_aggregator_new: %s", err);
        int64_t deadline = tu_now_ms() + WAIT_MS;
        do {
                if (tecg_aggregator_run_once(f->agg, err, sizeof(err)))
                        fail_msg("run_once: %s", err);
                tecg_aggregator_stats(f->agg, st);
                if (tu_now_ms() > deadline)
                        fail_msg("%" PRIu64 " of %zu consumed", st->consumed, NCASES);
        } while (st->consumed < NCASES);
        if (tecg_aggregator_run_once(f->agg, err, sizeof(err)))
                fail_msg("run_once: %s", err);
        tecg_aggregator_stats(f->agg, st);
        assert_int_equal(st->aborts, 0);
}

/* Every dead letter's tecg.error and tecg.stage header, by the value's
 * event id (the dead letter keeps the original value). */
static void check_dead_letters(fixture_t *f, size_t want) {
        char err[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        conf_set(kc, "bootstrap.servers", f->bootstraps);
        conf_set(kc, "group.id", "sig-test-reader");
        rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        assert_non_null(c);
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTITIONS);
        for (int p = 0; p < PARTITIONS; p++)
                rd_kafka_topic_partition_list_add(parts, PREFIX "dead-letter", p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, parts), 0);
        rd_kafka_topic_partition_list_destroy(parts);
        size_t got = 0;
        bool matched[NCASES] = {false};
        int64_t deadline = tu_now_ms() + WAIT_MS;
        while (got < want && tu_now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
                if (!m)
                        continue;
                if (!m->err) {
                        rd_kafka_headers_t *hdrs = NULL;
                        const void *why = NULL, *stage = NULL;
                        size_t why_len = 0, stage_len = 0;
                        assert_int_equal(rd_kafka_message_headers(m, &hdrs), 0);
                        assert_int_equal(
                                rd_kafka_header_get_last(hdrs, "tecg.error", &why, &why_len), 0);
                        assert_int_equal(
                                rd_kafka_header_get_last(hdrs, "tecg.stage", &stage, &stage_len),
                                0);
                        assert_int_equal(stage_len, 9);
                        assert_memory_equal(stage, "signature", 9);
                        tecg_event_t ev;
                        char reason[512];
                        memset(&ev, 0, sizeof(ev));
                        if (tecg_avro_decode_event(f->avro, m->payload, m->len, &ev, reason,
                                                   sizeof(reason)) != TECG_OK)
                                ev.event_id[0] = '\0';
                        size_t i = 0;
                        while (i < NCASES && strcmp(cases[i].id, ev.event_id) != 0)
                                i++;
                        /* The flipped value may not decode to its id: find it by reason. */
                        if (i == NCASES)
                                for (i = 0; i < NCASES; i++)
                                        if (cases[i].spoil == S_FLIP)
                                                break;
                        assert_true(i < NCASES);
                        assert_non_null(cases[i].reason);
                        if (why_len < strlen(cases[i].reason) ||
                            memcmp(why, cases[i].reason, strlen(cases[i].reason)) != 0)
                                fail_msg("%s: want \"%s...\", got \"%.*s\"", cases[i].id,
                                         cases[i].reason, (int)why_len, (const char *)why);
                        assert_false(matched[i]);
                        matched[i] = true;
                        got++;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        assert_int_equal(got, want);
}

static void test_require_dead_letters_each_reason(void **state) {
        fixture_t *f = *state;
        tecg_aggregator_stats_t st;
        size_t refused = 0, per_reason[TECG_SIG__COUNT] = {0};
        for (size_t i = 0; i < NCASES; i++)
                if (cases[i].refusal != TECG_SIG__COUNT) {
                        refused++;
                        per_reason[cases[i].refusal]++;
                }
        send_all(f);
        run(f, TECG_SIGNATURES_REQUIRE, &st);
        assert_int_equal(st.counted, NCASES - refused);
        assert_int_equal(st.dead_lettered, refused);
        for (int r = 0; r < TECG_SIG__COUNT; r++)
                if (st.sig_refused[r] != per_reason[r])
                        fail_msg("%s: %" PRIu64 " refused, want %zu", tecg_sig_refusal_names[r],
                                 st.sig_refused[r], per_reason[r]);
        /* One nation state each, from their own signed events only. */
        assert_int_equal(st.nations, 2);
        check_dead_letters(f, refused);
}

/* The same, the signatures checked on three threads (verify.threads):
 * every refusal found, with the same reason, each message once. */
static void test_require_on_threads(void **state) {
        run_verify_threads = 3;
        test_require_dead_letters_each_reason(state);
        run_verify_threads = 0;
}

/* warn: counted and logged, accepted; what decodes and passes the
 * contract is counted (the rekeyed and flipped ones do not). */
static void test_warn_counts_but_accepts(void **state) {
        fixture_t *f = *state;
        tecg_aggregator_stats_t st;
        send_all(f);
        run(f, TECG_SIGNATURES_WARN, &st);
        for (int r = 0; r < TECG_SIG__COUNT; r++)
                assert_true(st.sig_refused[r] >= 1);
        assert_int_equal(st.counted + st.dead_lettered + st.duplicates, NCASES);
        assert_true(st.counted >= NCASES - 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_require_dead_letters_each_reason, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_require_on_threads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_warn_counts_but_accepts, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
