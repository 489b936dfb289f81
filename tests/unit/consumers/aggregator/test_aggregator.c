/* The aggregator engine (consumers/aggregator/aggregator.h) end to end
 * against librdkafka's mock cluster: input events encoded exactly as the
 * producer encodes and keys them (single-object Avro, key = nation, the
 * Java clients' partitioner), then tecg_aggregator_run_once() until the
 * stats show them consumed, then the three output topics read back.
 *
 * What the mock cluster of librdkafka 2.0.2 (Debian 12) does with
 * transactions, as its request handlers of that version are written,
 * decides what can be tested here:
 *   - InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn only
 *     check the producer id and epoch; EndTxn writes no commit or abort
 *     marker, and Fetch reports LastStableOffset = high watermark and no
 *     aborted transactions. So read_committed consumers see everything,
 *     aborted records included. After an abort the engine restores from
 *     nation-state and event-ids, where the mock would show it the aborted
 *     snapshots and ids: abort-and-replay cannot be tested here.
 *   - TxnOffsetCommit answers success and stores nothing, so the offsets a
 *     transaction commits are never seen by OffsetFetch: a new instance
 *     starts from auto.offset.reset (earliest) again.
 *   - InitProducerId for a transactional id already in use hands out a new
 *     producer id instead of bumping the epoch: an older instance is not
 *     fenced.
 *   - The consumer group works; its first join waits 3 s (like the
 *     broker's group.initial.rebalance.delay.ms), a join after the last
 *     member left waits session.timeout.ms - 1 s, hence the short session
 *     timeout.
 * So the tests check counting, dedupe, dead letters and snapshots, and a
 * restore by a second instance, which must count nothing twice although
 * the mock makes it re-read every input message from the start.
 *
 * Every wait has a deadline; a watchdog (alarm) turns anything that still
 * hangs inside librdkafka into a failure. */
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
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "aggregator.h"
#include "avro_codec.h"
#include "buf.h"
#include "conf.h"
#include "event.h"
#include "idstore.h"
#include "log.h"
#include "nation_state.h"
#include "refdata.h"
#include "state_codec.h"
#include "testutil.h"

#define PREFIX "t."
#define PARTITIONS 3 /* inputs, nation-state, event-ids */
#define DLQ_PARTITIONS 2
#define MESSAGE_MAX 4096 /* limits.message.bytes of the engine */
#define WAIT_MS 15000    /* for anything the engine or mock must do */
#define WATCHDOG_S 60

/* ---- fixture --------------------------------------------------------- */

/* One input message the test produced, where the mock put it. */
typedef struct {
        char topic[64];
        int32_t partition;
        int64_t offset;
        rd_kafka_resp_err_t err;
        bool delivered;
} sent_t;

typedef struct {
        int unused;
} conf_target_t;

static const tecg_conf_prop_t props[] = {
        {.name = "kafka.", .type = TECG_CONF_PREFIX, .doc = "librdkafka"}, {.name = NULL}};

typedef struct {
        rd_kafka_t *mock_rk; /* owns the mock cluster */
        rd_kafka_mock_cluster_t *mcluster;
        char bootstraps[512];
        rd_kafka_t *producer; /* plays tecg-producer */
        conf_target_t target;
        tecg_conf_t *conf; /* what the engine gets */
        tecg_avro_t *avro;
        tecg_state_codec_t *states;
        tecg_nations_t *nations;
        tecg_buf_t buf;
        sent_t sent[64];
        size_t nsent;
        /* Destroyed by teardown when a failed assertion left them. */
        tecg_aggregator_t *agg;
        rd_kafka_t *reader;
} fixture_t;

static void on_watchdog(int sig) {
        (void)sig;
        static const char msg[] = "test_aggregator: watchdog: a test ran longer "
                                  "than its bound, failing instead of hanging\n";
        if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
                /* nothing left to report it with */
        }
        _exit(1);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        (void)rk;
        (void)opaque;
        sent_t *s = m->_private;
        s->err = m->err;
        s->partition = m->partition;
        s->offset = m->offset;
        s->delivered = true;
}

static void conf_set(rd_kafka_conf_t *kc, const char *name, const char *value) {
        char err[512];
        if (rd_kafka_conf_set(kc, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
                fail_msg("%s=%s: %s", name, value, err);
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
        conf_set(kc, "log_level", "3");
        f->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
        assert_non_null(f->mock_rk);
        f->mcluster = rd_kafka_mock_cluster_new(f->mock_rk, 3);
        assert_non_null(f->mcluster);
        snprintf(f->bootstraps, sizeof(f->bootstraps), "%s",
                 rd_kafka_mock_cluster_bootstraps(f->mcluster));
        static const struct {
                const char *suffix;
                int partitions;
        } topics[] = {{"contributions", PARTITIONS},
                      {"training-completions", PARTITIONS},
                      {"nation-state", PARTITIONS},
                      {"event-ids", PARTITIONS},
                      {"dead-letter", DLQ_PARTITIONS}};
        for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
                char name[64];
                snprintf(name, sizeof(name), PREFIX "%s", topics[i].suffix);
                assert_int_equal(
                        rd_kafka_mock_topic_create(f->mcluster, name, topics[i].partitions, 1),
                        RD_KAFKA_RESP_ERR_NO_ERROR);
        }

        /* The producer's own settings that decide where a message lands. */
        kc = rd_kafka_conf_new();
        conf_set(kc, "bootstrap.servers", f->bootstraps);
        conf_set(kc, "partitioner", "murmur2_random");
        conf_set(kc, "linger.ms", "0");
        conf_set(kc, "message.timeout.ms", "10000");
        rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
        f->producer = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
        assert_non_null(f->producer);

        f->conf = tecg_conf_new(props, &f->target, err, sizeof(err));
        assert_non_null(f->conf);
        engine_conf_set(f, "kafka.bootstrap.servers", f->bootstraps);
        /* A second instance joins after the first left: the mock makes it
         * wait session.timeout.ms - 1 s (default 44 s). */
        engine_conf_set(f, "kafka.session.timeout.ms", "4000");
        engine_conf_set(f, "kafka.heartbeat.interval.ms", "500");

        f->avro = tecg_avro_new(err, sizeof(err));
        assert_non_null(f->avro);
        f->states = tecg_state_codec_new(err, sizeof(err));
        assert_non_null(f->states);
        static const char csv[] = "code,name,status\n"
                                  "NLD,Netherlands,member\n"
                                  "DEU,Germany,member\n"
                                  "FRA,France,member\n";
        f->nations = tecg_nations_parse(csv, sizeof(csv) - 1, "test.csv", err, sizeof(err));
        assert_non_null(f->nations);
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        if (!f)
                return 0;
        tecg_aggregator_destroy(f->agg);
        if (f->reader)
                rd_kafka_destroy(f->reader);
        tecg_buf_free(&f->buf);
        tecg_nations_destroy(f->nations);
        tecg_state_codec_destroy(f->states);
        tecg_avro_destroy(f->avro);
        tecg_conf_destroy(f->conf);
        if (f->producer)
                rd_kafka_destroy(f->producer);
        if (f->mcluster)
                rd_kafka_mock_cluster_destroy(f->mcluster);
        if (f->mock_rk)
                rd_kafka_destroy(f->mock_rk);
        free(f);
        alarm(0);
        return 0;
}

/* ---- input ----------------------------------------------------------- */

static int64_t at(int y, int mo, int d) {
        return tu_at(y, mo, d, 12, 0, 0, 180);
}

static tecg_event_t event(tecg_event_type_t type, const char *id, const char *nation,
                          int64_t occurred_at_ms) {
        tecg_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = type;
        snprintf(ev.event_id, sizeof(ev.event_id), "%s", id);
        snprintf(ev.nation, sizeof(ev.nation), "%s", nation);
        ev.occurred_at_ms = occurred_at_ms;
        ev.utc_offset_min = 180;
        return ev;
}

static tecg_event_t funding(const char *id, const char *nation, int64_t amount,
                            const char *currency, tecg_channel_t ch, tecg_funding_stage_t stage,
                            int64_t when) {
        tecg_event_t ev = event(TECG_EV_FUNDING, id, nation, when);
        ev.u.funding.amount_minor = amount;
        snprintf(ev.u.funding.currency, sizeof(ev.u.funding.currency), "%s", currency);
        ev.u.funding.channel = ch;
        ev.u.funding.stage = stage;
        return ev;
}

static tecg_event_t training(const char *id, const char *nation, int32_t trainees, int64_t when) {
        tecg_event_t ev = event(TECG_EV_TRAINING, id, nation, when);
        ev.u.training.course = "Basic officer course";
        ev.u.training.level = TECG_LVL_SENIOR;
        ev.u.training.location = TECG_LOC_OUTSIDE_IRAQ;
        ev.u.training.venue = NULL;
        ev.u.training.trainees = trainees;
        return ev;
}

static tecg_event_t personnel(const char *id, const char *nation, int32_t headcount, int64_t when) {
        tecg_event_t ev = event(TECG_EV_PERSONNEL, id, nation, when);
        ev.u.personnel.role = TECG_ROLE_TRAINER;
        ev.u.personnel.location = TECG_LOC_IN_IRAQ;
        ev.u.personnel.headcount = headcount;
        return ev;
}

static tecg_event_t equipment(const char *id, const char *nation, int64_t quantity, int64_t value,
                              const char *currency, int64_t when) {
        tecg_event_t ev = event(TECG_EV_EQUIPMENT, id, nation, when);
        ev.u.equipment.item = "Land Rover Defender";
        ev.u.equipment.category = TECG_CAT_VEHICLES;
        ev.u.equipment.quantity = quantity;
        ev.u.equipment.has_value = true;
        ev.u.equipment.value_minor = value;
        snprintf(ev.u.equipment.currency, sizeof(ev.u.equipment.currency), "%s", currency);
        ev.u.equipment.stage = TECG_ES_OFFERED;
        return ev;
}

/* Produces raw bytes; key or value NULL sends none. Returns the index of
 * its sent_t, filled in by the delivery report. */
static size_t send_raw(fixture_t *f, const char *suffix, const void *key, size_t key_len,
                       const void *value, size_t len) {
        assert_true(f->nsent < sizeof(f->sent) / sizeof(f->sent[0]));
        size_t i = f->nsent++;
        sent_t *s = &f->sent[i];
        memset(s, 0, sizeof(*s));
        snprintf(s->topic, sizeof(s->topic), PREFIX "%s", suffix);
        rd_kafka_resp_err_t err = rd_kafka_producev(
                f->producer, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_KEY(key, key_len),
                RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE(s), RD_KAFKA_V_END);
        if (err)
                fail_msg("produce to %s: %s", s->topic, rd_kafka_err2str(err));
        return i;
}

/* The message tecg-producer sends for ev (ingest.c: single-object Avro,
 * the topic of its type), keyed `key` (the producer keys by its nation). */
static size_t send_event_to(fixture_t *f, const tecg_event_t *ev, const char *key,
                            const char *suffix) {
        char err[512];
        tecg_buf_reset(&f->buf);
        if (tecg_avro_encode_event(f->avro, ev, &f->buf, err, sizeof(err)))
                fail_msg("encode %s: %s", ev->event_id, err);
        return send_raw(f, suffix ? suffix : tecg_avro_topic_for(ev->type), key,
                        key ? strlen(key) : 0, f->buf.data, f->buf.len);
}

static size_t send_event(fixture_t *f, const tecg_event_t *ev) {
        return send_event_to(f, ev, ev->nation, NULL);
}

/* Waits for every delivery report; each must be a success. */
static void flush_all(fixture_t *f) {
        rd_kafka_flush(f->producer, WAIT_MS);
        assert_int_equal(rd_kafka_outq_len(f->producer), 0);
        for (size_t i = 0; i < f->nsent; i++) {
                if (!f->sent[i].delivered || f->sent[i].err)
                        fail_msg("message %zu to %s: %s", i, f->sent[i].topic,
                                 f->sent[i].delivered ? rd_kafka_err2str(f->sent[i].err)
                                                      : "no delivery report");
        }
}

/* ---- the engine ------------------------------------------------------ */

/* An engine whose id store is in `store_dir` (NULL: a private one). */
static tecg_aggregator_t *engine_new_in(fixture_t *f, const char *store_dir) {
        char err[512];
        tecg_aggregator_options_t opts = {
                .topic_prefix = PREFIX,
                .group_id = "tecg-aggregator-test",
                .transactional_id = "tecg-aggregator-test-1",
                .nations = f->nations,
                /* Small batches: several transactions per test, and
                 * duplicates in a later batch than their original. */
                .batch_max_messages = 5,
                .batch_max_ms = 100,
                .restore_timeout_ms = WAIT_MS,
                .message_max_bytes = MESSAGE_MAX,
                .schema_registry_url = NULL,
                .shutdown_timeout_ms = WAIT_MS,
                .store_dir = store_dir,
                .store_map_bytes = (size_t)64 << 20,
        };
        tecg_aggregator_t *agg = tecg_aggregator_new(f->conf, &opts, err, sizeof(err));
        if (!agg)
                fail_msg("tecg_aggregator_new: %s", err);
        f->agg = agg;
        return agg;
}

static tecg_aggregator_t *engine_new(fixture_t *f) {
        return engine_new_in(f, NULL);
}

/* Aborts nothing (run_once commits every batch it starts), leaves the
 * group. */
static void engine_destroy(fixture_t *f) {
        tecg_aggregator_destroy(f->agg);
        f->agg = NULL;
}

static void print_stats(const char *what, const tecg_aggregator_stats_t *s) {
        fprintf(stderr,
                "%s: consumed %" PRIu64 ", counted %" PRIu64 ", duplicates %" PRIu64
                ", dead-lettered %" PRIu64 ", transactions %" PRIu64 ", aborts %" PRIu64
                ", restores %" PRIu64 ", nations %" PRIu64 ", seen ids %" PRIu64 "\n",
                what, s->consumed, s->counted, s->duplicates, s->dead_lettered, s->transactions,
                s->aborts, s->restores, s->nations, s->seen_ids);
}

/* Calls run_once until `consumed` input messages were processed and
 * committed, then once more to see that nothing else arrives. */
static void run_until_consumed(tecg_aggregator_t *agg, uint64_t consumed,
                               tecg_aggregator_stats_t *out) {
        char err[512];
        int64_t deadline = tu_now_ms() + WAIT_MS;
        tecg_aggregator_stats_t s;
        for (;;) {
                if (tecg_aggregator_run_once(agg, err, sizeof(err)))
                        fail_msg("run_once: %s", err);
                tecg_aggregator_stats(agg, &s);
                if (s.consumed >= consumed)
                        break;
                if (tu_now_ms() > deadline) {
                        print_stats("stats", &s);
                        fail_msg("%" PRIu64 " of %" PRIu64 " input messages consumed "
                                 "after %d ms",
                                 s.consumed, consumed, WAIT_MS);
                }
        }
        if (tecg_aggregator_run_once(agg, err, sizeof(err)))
                fail_msg("run_once: %s", err);
        tecg_aggregator_stats(agg, &s);
        print_stats("stats", &s);
        assert_int_equal(s.consumed, consumed);
        assert_int_equal(s.aborts, 0);
        *out = s;
}

/* ---- output ---------------------------------------------------------- */

typedef struct {
        int32_t partition;
        int64_t offset;
        char *key; /* NUL-terminated copy; NULL = no key */
        size_t key_len;
        uint8_t *value; /* NULL = no value */
        size_t len;
        char *error, *stage, *source; /* dead-letter headers, NULL = absent */
} record_t;

typedef struct {
        record_t *v;
        size_t n;
} records_t;

static char *dup_bytes(const void *p, size_t n) {
        if (!p)
                return NULL;
        char *s = malloc(n + 1);
        assert_non_null(s);
        memcpy(s, p, n);
        s[n] = '\0';
        return s;
}

static char *header(const rd_kafka_message_t *m, const char *name) {
        rd_kafka_headers_t *hdrs = NULL;
        const void *v;
        size_t n;
        if (rd_kafka_message_headers(m, &hdrs) || rd_kafka_header_get_last(hdrs, name, &v, &n))
                return NULL;
        return dup_bytes(v, n);
}

/* The engine's three output topics, each message copied. */
typedef struct {
        records_t dead;   /* dead-letter */
        records_t states; /* nation-state */
        records_t ids;    /* event-ids */
} outputs_t;

/* Every message of the three output topics, read to their end
 * (read_committed, as the dashboard and a restoring aggregator read), by
 * one consumer: each new consumer costs the mock half a second. */
static void read_outputs(fixture_t *f, outputs_t *out) {
        char err[512];
        static const struct {
                const char *topic;
                int partitions;
                size_t field; /* offsetof(outputs_t, ...) */
        } topics[] = {{PREFIX "dead-letter", DLQ_PARTITIONS, offsetof(outputs_t, dead)},
                      {PREFIX "nation-state", PARTITIONS, offsetof(outputs_t, states)},
                      {PREFIX "event-ids", PARTITIONS, offsetof(outputs_t, ids)}};
        enum { NTOPICS = sizeof(topics) / sizeof(topics[0]), MAX_RECORDS = 256 };
        memset(out, 0, sizeof(*out));
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        conf_set(kc, "bootstrap.servers", f->bootstraps);
        /* 2.0.2's rd_kafka_assign() wants a group, though nothing joins
         * or commits. */
        conf_set(kc, "group.id", "test-reader");
        conf_set(kc, "enable.auto.commit", "false");
        conf_set(kc, "enable.partition.eof", "true");
        conf_set(kc, "isolation.level", "read_committed");
        conf_set(kc, "fetch.wait.max.ms", "50");
        rd_kafka_t *rk = f->reader = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        assert_non_null(rk);
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
        int want = 0;
        for (int t = 0; t < NTOPICS; t++) {
                records_t *rs = (records_t *)((char *)out + topics[t].field);
                rs->v = calloc(MAX_RECORDS, sizeof(record_t));
                assert_non_null(rs->v);
                for (int p = 0; p < topics[t].partitions; p++, want++)
                        rd_kafka_topic_partition_list_add(parts, topics[t].topic, p)->offset =
                                RD_KAFKA_OFFSET_BEGINNING;
        }
        assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(parts);

        bool eof[NTOPICS][8] = {{false}};
        int eofs = 0;
        int64_t deadline = tu_now_ms() + WAIT_MS;
        while (eofs < want) {
                if (tu_now_ms() > deadline)
                        fail_msg("output topics: %d of %d partitions read to the end "
                                 "after %d ms",
                                 eofs, want, WAIT_MS);
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        fail_msg("output topics: %s", rd_kafka_message_errstr(m));
                int t = 0;
                while (t < NTOPICS && strcmp(rd_kafka_topic_name(m->rkt), topics[t].topic))
                        t++;
                assert_true(t < NTOPICS);
                records_t *rs = (records_t *)((char *)out + topics[t].field);
                if (m->err) {
                        if (!eof[t][m->partition]) {
                                eof[t][m->partition] = true;
                                eofs++;
                        }
                } else {
                        assert_true(rs->n < MAX_RECORDS);
                        record_t *r = &rs->v[rs->n++];
                        r->partition = m->partition;
                        r->offset = m->offset;
                        r->key = dup_bytes(m->key, m->key_len);
                        r->key_len = m->key_len;
                        r->value = (uint8_t *)dup_bytes(m->payload, m->len);
                        r->len = m->len;
                        r->error = header(m, "tecg.error");
                        r->stage = header(m, "tecg.stage");
                        r->source = header(m, "tecg.source");
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        f->reader = NULL;
}

static void records_free(records_t *rs) {
        for (size_t i = 0; i < rs->n; i++) {
                free(rs->v[i].key);
                free(rs->v[i].value);
                free(rs->v[i].error);
                free(rs->v[i].stage);
                free(rs->v[i].source);
        }
        free(rs->v);
        rs->v = NULL;
        rs->n = 0;
}

static void outputs_free(outputs_t *out) {
        records_free(&out->dead);
        records_free(&out->states);
        records_free(&out->ids);
}

/* The latest snapshot of `nation` in nation-state (the compacted topic's
 * value for that key), decoded; its partition in *partition. */
static tecg_nation_state_t *latest_state(fixture_t *f, const records_t *rs, const char *nation,
                                         int32_t *partition) {
        const record_t *last = NULL;
        for (size_t i = 0; i < rs->n; i++) {
                const record_t *r = &rs->v[i];
                if (r->key && strcmp(r->key, nation) == 0) {
                        /* One nation, one partition: co-partitioned with
                         * its input. */
                        if (last)
                                assert_int_equal(r->partition, last->partition);
                        if (!last || r->offset > last->offset)
                                last = r;
                }
        }
        if (!last)
                fail_msg("no snapshot of %s in " PREFIX "nation-state", nation);
        char err[512];
        tecg_nation_state_t *st = NULL;
        if (tecg_state_codec_decode(f->states, last->value, last->len, &st, err, sizeof(err)))
                fail_msg("snapshot of %s: %s", nation, err);
        *partition = last->partition;
        return st;
}

/* The state that counting exactly `evs` gives, for comparing a snapshot
 * with as a whole (tecg_nation_state_equal ignores the version). */
static tecg_nation_state_t *expected_state(const char *nation, const tecg_event_t *evs, size_t n) {
        char err[512];
        tecg_nation_state_t *st = tecg_nation_state_new(nation);
        assert_non_null(st);
        for (size_t i = 0; i < n; i++) {
                bool changed;
                if (tecg_nation_state_apply(st, &evs[i], &changed, err, sizeof(err)))
                        fail_msg("expected state of %s: %s", nation, err);
        }
        return st;
}

static const tecg_funding_total_t *find_funding(const tecg_nation_state_t *st, tecg_channel_t ch,
                                                tecg_funding_stage_t stage, const char *currency) {
        for (size_t i = 0; i < st->nfunding; i++)
                if (st->funding[i].channel == ch && st->funding[i].stage == stage &&
                    strcmp(st->funding[i].currency, currency) == 0)
                        return &st->funding[i];
        fail_msg("%s: no funding total for %s/%s/%s", st->nation, tecg_channel_names[ch],
                 tecg_funding_stage_names[stage], currency);
        return NULL;
}

/* One id record of tecg.event-ids, from either form: a per-event message
 * (key NATION/event_id) or an entry of a batch record. */
typedef struct {
        int32_t partition;
        char key[4 + TECG_EVENT_ID_MAX + 1]; /* NATION/event_id */
        tecg_id_record_t rec;
} id_entry_t;

typedef struct {
        id_entry_t v[256];
        size_t n;
        int32_t partition; /* of the message being expanded */
} id_entries_t;

static tecg_err_t collect_entry(void *opaque, const char *nation, const char *event_id,
                                const tecg_id_record_t *r, char *errstr, size_t errstr_size) {
        (void)errstr;
        (void)errstr_size;
        id_entries_t *es = opaque;
        assert_true(es->n < sizeof(es->v) / sizeof(es->v[0]));
        id_entry_t *e = &es->v[es->n++];
        e->partition = es->partition;
        snprintf(e->key, sizeof(e->key), "%s/%s", nation, event_id);
        e->rec = *r;
        return TECG_OK;
}

/* Every id record of the event-ids messages rs, in offset order within a
 * partition; each value must decode strictly. */
static void id_entries(const records_t *rs, id_entries_t *out) {
        char err[512], nation[4];
        out->n = 0;
        for (size_t i = 0; i < rs->n; i++) {
                const record_t *r = &rs->v[i];
                assert_non_null(r->key);
                assert_non_null(r->value);
                out->partition = r->partition;
                if (tecg_id_batch_key(r->key, r->key_len)) {
                        size_t count = 0;
                        if (tecg_id_batch_decode(r->value, r->len, collect_entry, out, &count, err,
                                                 sizeof(err)))
                                fail_msg("%s: %s", r->key, err);
                        assert_true(count > 0);
                        continue;
                }
                assert_true(r->key_len > 4 && r->key[3] == '/');
                snprintf(nation, sizeof(nation), "%.3s", r->key);
                tecg_id_record_t rec;
                if (tecg_id_record_decode(r->value, r->len, nation, r->key + 4, &rec, err,
                                          sizeof(err)))
                        fail_msg("%s: %s", r->key, err);
                collect_entry(out, nation, r->key + 4, &rec, err, sizeof(err));
        }
}

/* tecg.event-ids must hold exactly `ids` ("NATION/event_id"), each once, in
 * the partition of the input message that counted it and with its id
 * record as value: counted (ACTIVE), with the effect of the event's type.
 * The records are those of the batch records and of per-event messages. */
static void assert_event_ids(const fixture_t *f, const records_t *rs, const char *const *ids,
                             const size_t *origin, size_t n) {
        static id_entries_t es;
        id_entries(rs, &es);
        if (es.n != n) {
                for (size_t i = 0; i < es.n; i++)
                        fprintf(stderr, "event-ids [%d] %s\n", es.v[i].partition, es.v[i].key);
                fail_msg("%zu event-ids records, want %zu", es.n, n);
        }
        for (size_t i = 0; i < n; i++) {
                const id_entry_t *hit = NULL;
                for (size_t j = 0; j < es.n; j++)
                        if (strcmp(es.v[j].key, ids[i]) == 0) {
                                if (hit)
                                        fail_msg("event id %s written twice", ids[i]);
                                hit = &es.v[j];
                        }
                if (!hit)
                        fail_msg("event id %s not in " PREFIX "event-ids", ids[i]);
                const sent_t *s = &f->sent[origin[i]];
                assert_int_equal(hit->partition, s->partition);
                assert_int_equal(hit->rec.status, TECG_ID_ACTIVE);
                assert_true(hit->rec.has_effect);
                assert_int_equal(hit->rec.type == TECG_EV_TRAINING,
                                 strcmp(s->topic, PREFIX "training-completions") == 0);
        }
}

/* ---- tests ----------------------------------------------------------- */

/* A message the engine must dead-letter: which one, at which stage, why. */
typedef struct {
        size_t sent;
        const char *stage;
        char error[256];
} dead_t;

#define DEAD_MAX 16

__attribute__((format(printf, 5, 6))) static void
expect_dead(dead_t *dl, size_t *n, size_t sent, const char *stage, const char *fmt, ...) {
        assert_true(*n < DEAD_MAX);
        dead_t *d = &dl[(*n)++];
        d->sent = sent;
        d->stage = stage;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->error, sizeof(d->error), fmt, ap);
        va_end(ap);
}

/* Distinct events counted once each, a re-sent event_id counted once
 * (even with other content), every kind of message that cannot be
 * counted in the dead-letter topic with its reason, and snapshots that
 * hold the right totals. */
/* Drops the dead-letter notes of a state, to compare its figures. */
static void forget_dead_letters(tecg_nation_state_t *st) {
        free(st->dead_letter_months);
        st->dead_letter_months = NULL;
        st->ndead_letter_months = 0;
        st->dead_letters = 0;
        st->nrecent_dead_letters = 0;
        memset(st->recent_dead_letters, 0, sizeof(st->recent_dead_letters));
}

static void test_count_dedupe_dead_letter(void **state) {
        fixture_t *f = *state;
        const int64_t feb = at(2005, 2, 22), mar = at(2005, 3, 1), apr = at(2005, 4, 5);

        /* Counted: 3 NLD, 3 DEU. */
        tecg_event_t nld[] = {
                funding("NLD-f1", "NLD", 100000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, feb),
                funding("NLD-f2", "NLD", 250000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, mar),
                funding("NLD-f3", "NLD", 70000, "USD", TECG_CH_BILATERAL, TECG_FS_DISBURSED, apr),
        };
        tecg_event_t deu[] = {
                training("DEU-t1", "DEU", 12, feb),
                personnel("DEU-p1", "DEU", 25, mar),
                equipment("DEU-q1", "DEU", 5, 1000000, "EUR", feb),
        };
        size_t origin[6];
        origin[0] = send_event(f, &nld[0]);
        origin[1] = send_event(f, &nld[1]);
        /* Same event_id as NLD-f1, other amount: already counted, so
         * nothing of it may reach the totals. */
        tecg_event_t again = nld[0];
        again.u.funding.amount_minor = 99999900;
        send_event(f, &again);
        origin[2] = send_event(f, &nld[2]);
        for (size_t i = 0; i < 3; i++)
                origin[3 + i] = send_event(f, &deu[i]);
        send_event(f, &deu[0]); /* the identical message again */

        /* Not counted: each ends in the dead-letter topic. */
        dead_t dl[DEAD_MAX];
        size_t ndl = 0;
        static const char garbage[] = "not an Avro message at all";
        expect_dead(dl, &ndl, send_raw(f, "contributions", "NLD", 3, garbage, sizeof(garbage) - 1),
                    "decode",
                    "unknown magic byte 0x6E (expected 0xC3 for "
                    "single-object encoding or 0x00 for Confluent wire format)");
        expect_dead(dl, &ndl, send_raw(f, "contributions", "NLD", 3, NULL, 0), "decode",
                    "empty message (no value)");
        static uint8_t big[MESSAGE_MAX + 1];
        memset(big, 'A', sizeof(big));
        expect_dead(dl, &ndl, send_raw(f, "training-completions", "DEU", 3, big, sizeof(big)),
                    "decode", "message of %d bytes exceeds limits.message.bytes (%d)",
                    MESSAGE_MAX + 1, MESSAGE_MAX);
        tecg_event_t keyed_wrong =
                funding("NLD-k1", "NLD", 500, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, feb);
        expect_dead(dl, &ndl, send_event_to(f, &keyed_wrong, "DEU", NULL), "contract",
                    "message key does not equal the event's nation NLD");
        tecg_event_t unkeyed =
                funding("NLD-k2", "NLD", 500, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, feb);
        const size_t unkeyed_dl = ndl;
        expect_dead(dl, &ndl, send_event_to(f, &unkeyed, NULL, NULL), "contract",
                    "message key does not equal the event's nation NLD");
        tecg_event_t unlisted =
                funding("ZZZ-1", "ZZZ", 500, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, feb);
        expect_dead(dl, &ndl, send_event(f, &unlisted), "contract",
                    "field 'nation': ZZZ is not in the nations list");
        tecg_event_t zero =
                funding("NLD-z1", "NLD", 0, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, feb);
        expect_dead(dl, &ndl, send_event(f, &zero), "contract", "field 'amount': must be > 0");
        tecg_event_t misplaced = training("DEU-t9", "DEU", 3, feb);
        expect_dead(dl, &ndl, send_event_to(f, &misplaced, "DEU", "contributions"), "contract",
                    "a training event does not belong on " PREFIX "contributions");
        tecg_event_t misplaced2 =
                funding("DEU-f9", "DEU", 500, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, feb);
        expect_dead(dl, &ndl, send_event_to(f, &misplaced2, "DEU", "training-completions"),
                    "contract",
                    "a funding event does not belong on " PREFIX "training-completions");
        flush_all(f);

        const uint64_t inputs = f->nsent;
        assert_int_equal(inputs, 8 + ndl);
        tecg_aggregator_t *agg = engine_new(f);
        tecg_aggregator_stats_t s;
        run_until_consumed(agg, inputs, &s);
        assert_int_equal(s.counted, 6);
        assert_int_equal(s.duplicates, 2);
        assert_int_equal(s.dead_lettered, ndl);
        assert_int_equal(s.nations, 2);
        assert_int_equal(s.seen_ids, 6);
        /* batch.max.messages 5: at least this many commits. */
        assert_true(s.transactions >= (inputs + 4) / 5);
        assert_int_equal(s.restores, PARTITIONS);

        /* Dead letters: the original key and value, untouched, with why,
         * at which stage, and where the original is. */
        outputs_t out;
        read_outputs(f, &out);
        const records_t *rs = &out.dead;
        assert_int_equal(rs->n, ndl);
        for (size_t i = 0; i < ndl; i++) {
                const sent_t *src = &f->sent[dl[i].sent];
                char source[128];
                snprintf(source, sizeof(source), "%s/%" PRId32 "/%" PRId64, src->topic,
                         src->partition, src->offset);
                const record_t *r = NULL;
                for (size_t j = 0; j < rs->n && !r; j++)
                        if (rs->v[j].source && strcmp(rs->v[j].source, source) == 0)
                                r = &rs->v[j];
                if (!r)
                        fail_msg("no dead letter for %s (stage %s)", source, dl[i].stage);
                assert_non_null(r->stage);
                assert_string_equal(r->stage, dl[i].stage);
                assert_non_null(r->error);
                assert_string_equal(r->error, dl[i].error);
        }
        /* The value and key are the original ones: checked for the
         * garbage (decoded nowhere), the empty one and the unkeyed one. */
        for (size_t j = 0; j < rs->n; j++) {
                const record_t *r = &rs->v[j];
                if (strcmp(r->stage, "decode") == 0 && r->value && r->len == sizeof(garbage) - 1) {
                        assert_memory_equal(r->value, garbage, r->len);
                        assert_string_equal(r->key, "NLD");
                }
                if (r->error && strcmp(r->error, "empty message (no value)") == 0)
                        assert_null(r->value);
                if (r->error && r->len == sizeof(big))
                        assert_memory_equal(r->value, big, sizeof(big));
        }
        bool unkeyed_seen = false;
        for (size_t j = 0; j < rs->n; j++)
                if (!rs->v[j].key) {
                        assert_false(unkeyed_seen);
                        unkeyed_seen = true;
                        assert_string_equal(rs->v[j].error, dl[unkeyed_dl].error);
                }
        assert_true(unkeyed_seen);

        /* Snapshots: the latest of each nation holds exactly the counted
         * events, in the partition of that nation's input. */
        rs = &out.states;
        int32_t p;
        tecg_nation_state_t *got = latest_state(f, rs, "NLD", &p);
        tecg_nation_state_t *want = expected_state("NLD", nld, 3);
        assert_int_equal(p, f->sent[origin[0]].partition);
        /* NLD's own dead letters (its key, its partition) are noted in its
         * state for the data-quality panel; the figures are the events'. */
        assert_true(got->dead_letters >= 1);
        assert_true(got->nrecent_dead_letters >= 1);
        forget_dead_letters(got);
        assert_true(tecg_nation_state_equal(got, want));
        assert_int_equal(got->events, 3);
        assert_int_equal(got->as_of_ms, apr);
        assert_true(got->version >= 1);
        assert_int_equal(got->nfunding, 2);
        assert_int_equal(
                find_funding(got, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "EUR")->amount_minor,
                350000);
        assert_int_equal(
                find_funding(got, TECG_CH_BILATERAL, TECG_FS_DISBURSED, "USD")->amount_minor,
                70000);
        tecg_nation_state_destroy(got);
        tecg_nation_state_destroy(want);

        got = latest_state(f, rs, "DEU", &p);
        want = expected_state("DEU", deu, 3);
        assert_int_equal(p, f->sent[origin[3]].partition);
        forget_dead_letters(got);
        assert_true(tecg_nation_state_equal(got, want));
        assert_int_equal(got->events, 3);
        assert_int_equal(got->as_of_ms, mar);
        assert_int_equal(got->ntraining, 1);
        assert_int_equal(got->training[0].year, 2005);
        assert_int_equal(got->training[0].location, TECG_LOC_OUTSIDE_IRAQ);
        assert_int_equal(got->training[0].level, TECG_LVL_SENIOR);
        assert_int_equal(got->training[0].trainees, 12);
        const tecg_strength_t *str = &got->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ];
        assert_true(str->reported);
        assert_int_equal(str->headcount, 25);
        assert_string_equal(str->event_id, "DEU-p1");
        assert_int_equal(got->equipment_quantity[TECG_CAT_VEHICLES][TECG_ES_OFFERED], 5);
        assert_int_equal(got->nequipment_values, 1);
        assert_int_equal(got->equipment_values[0].value_minor, 1000000);
        assert_string_equal(got->equipment_values[0].currency, "EUR");
        tecg_nation_state_destroy(got);
        tecg_nation_state_destroy(want);

        /* Nothing else got a snapshot: not the refused nation ZZZ. */
        for (size_t i = 0; i < rs->n; i++) {
                assert_non_null(rs->v[i].key);
                assert_true(strcmp(rs->v[i].key, "NLD") == 0 || strcmp(rs->v[i].key, "DEU") == 0);
        }

        static const char *const ids[] = {"NLD/NLD-f1", "NLD/NLD-f2", "NLD/NLD-f3",
                                          "DEU/DEU-t1", "DEU/DEU-p1", "DEU/DEU-q1"};
        assert_event_ids(f, &out.ids, ids, origin, 6);
        outputs_free(&out);
        engine_destroy(f);
}

/* How many input messages a new member of the group reads again: those at
 * or after the group's committed offsets (all of them on the mock, which
 * stores no transactional commit). */
static uint64_t uncommitted_inputs(fixture_t *f) {
        char err[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        conf_set(kc, "bootstrap.servers", f->bootstraps);
        conf_set(kc, "group.id", "tecg-aggregator-test");
        rd_kafka_t *rk = f->reader = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        assert_non_null(rk);
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2 * PARTITIONS);
        for (int p = 0; p < PARTITIONS; p++) {
                rd_kafka_topic_partition_list_add(parts, PREFIX "contributions", p);
                rd_kafka_topic_partition_list_add(parts, PREFIX "training-completions", p);
        }
        assert_int_equal(rd_kafka_committed(rk, parts, WAIT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
        uint64_t n = 0;
        for (int i = 0; i < parts->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &parts->elems[i];
                int64_t lo, hi;
                assert_int_equal(rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo,
                                                                  &hi, WAIT_MS),
                                 RD_KAFKA_RESP_ERR_NO_ERROR);
                int64_t from = tp->offset >= 0 ? tp->offset : lo;
                fprintf(stderr, "%s [%" PRId32 "]: committed %" PRId64 ", end %" PRId64 "\n",
                        tp->topic, tp->partition, tp->offset, hi);
                n += (uint64_t)(hi - from);
        }
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_destroy(rk);
        f->reader = NULL;
        return n;
}

/* A second instance with the same transactional id and group restores
 * states and seen ids from nation-state and event-ids: re-sent events and
 * whatever input it reads again count nothing twice, and the totals go on
 * from the first instance's. */
static void test_restore(void **state) {
        fixture_t *f = *state;
        const int64_t feb = at(2005, 2, 22), mar = at(2005, 3, 1);
        tecg_event_t first[] = {
                funding("NLD-f1", "NLD", 100000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, feb),
                training("DEU-t1", "DEU", 10, feb),
                personnel("NLD-p1", "NLD", 40, feb),
        };
        size_t origin[4];
        for (size_t i = 0; i < 3; i++)
                origin[i] = send_event(f, &first[i]);
        flush_all(f);

        tecg_aggregator_t *agg = engine_new(f);
        tecg_aggregator_stats_t s;
        run_until_consumed(agg, 3, &s);
        assert_int_equal(s.counted, 3);
        engine_destroy(f);

        outputs_t out;
        read_outputs(f, &out);
        const records_t *rs = &out.states;
        int32_t p;
        tecg_nation_state_t *nld_a = latest_state(f, rs, "NLD", &p);
        tecg_nation_state_t *deu_a = latest_state(f, rs, "DEU", &p);
        uint64_t deu_a_version = deu_a->version;
        size_t snapshots_a = rs->n;
        assert_int_equal(out.dead.n, 0);
        outputs_free(&out);

        uint64_t replay = uncommitted_inputs(f);
        /* The same three again, one of them with other content, and one
         * new event. */
        for (size_t i = 0; i < 3; i++)
                send_event(f, &first[i]);
        tecg_event_t f2 =
                funding("NLD-f2", "NLD", 50000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, mar);
        origin[3] = send_event(f, &f2);
        flush_all(f);

        agg = engine_new(f);
        run_until_consumed(agg, replay + 4, &s);
        assert_int_equal(s.restores, PARTITIONS);
        assert_int_equal(s.counted, 1);
        assert_int_equal(s.duplicates, replay + 3);
        assert_int_equal(s.dead_lettered, 0);
        assert_int_equal(s.nations, 2);
        assert_int_equal(s.seen_ids, 4);
        engine_destroy(f);

        /* NLD goes on from the first instance's state; DEU got no new
         * snapshot (nothing of it was counted). */
        read_outputs(f, &out);
        rs = &out.states;
        tecg_nation_state_t *nld_b = latest_state(f, rs, "NLD", &p);
        tecg_event_t nld_events[] = {first[0], first[2], f2};
        tecg_nation_state_t *want = expected_state("NLD", nld_events, 3);
        assert_true(tecg_nation_state_equal(nld_b, want));
        assert_int_equal(nld_b->events, 3);
        assert_int_equal(
                find_funding(nld_b, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "EUR")->amount_minor,
                150000);
        assert_true(nld_b->version > nld_a->version);
        tecg_nation_state_t *deu_b = latest_state(f, rs, "DEU", &p);
        assert_true(tecg_nation_state_equal(deu_b, deu_a));
        assert_int_equal(deu_b->version, deu_a_version);
        assert_int_equal(deu_b->training[0].trainees, 10);
        assert_int_equal(rs->n, snapshots_a + 1);
        assert_int_equal(out.dead.n, 0);
        tecg_nation_state_destroy(nld_a);
        tecg_nation_state_destroy(nld_b);
        tecg_nation_state_destroy(deu_a);
        tecg_nation_state_destroy(deu_b);
        tecg_nation_state_destroy(want);

        static const char *const ids[] = {"NLD/NLD-f1", "DEU/DEU-t1", "NLD/NLD-p1", "NLD/NLD-f2"};
        assert_event_ids(f, &out.ids, ids, origin, 4);
        outputs_free(&out);
}

/* Per-event event-ids records (key NATION/event_id), as written before
 * batch records existed, are read on restore together with the batch
 * records written since: an id of either form is never counted again,
 * whether the store catches up or is rebuilt from the start. */
static void test_restore_reads_both_forms(void **state) {
        fixture_t *f = *state;
        const int64_t feb = at(2005, 2, 22), mar = at(2005, 3, 1);
        tecg_event_t old =
                funding("NLD-f1", "NLD", 100000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, feb);
        tecg_event_t neu =
                funding("NLD-f2", "NLD", 50000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, mar);
        size_t origin[2];
        origin[0] = send_event(f, &old);
        flush_all(f);
        /* What an aggregator of the previous version committed for NLD-f1,
         * on the partition of its input. */
        int32_t p = f->sent[origin[0]].partition;
        tecg_id_record_t rec = {.status = TECG_ID_ACTIVE,
                                .type = TECG_EV_FUNDING,
                                .has_effect = true,
                                .effect = old};
        uint8_t value[TECG_ID_RECORD_MAX];
        size_t vlen = tecg_id_record_encode(&rec, value);
        assert_true(vlen > 0);
        sent_t legacy = {.delivered = false};
        assert_int_equal(rd_kafka_producev(f->producer, RD_KAFKA_V_TOPIC(PREFIX "event-ids"),
                                           RD_KAFKA_V_PARTITION(p),
                                           RD_KAFKA_V_KEY("NLD/NLD-f1", 10),
                                           RD_KAFKA_V_VALUE(value, vlen),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_OPAQUE(&legacy), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_flush(f->producer, WAIT_MS);
        assert_int_equal(rd_kafka_outq_len(f->producer), 0);
        assert_true(legacy.delivered);
        assert_int_equal(legacy.err, RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_int_equal(legacy.partition, p);
        origin[1] = send_event(f, &neu);
        flush_all(f);

        tecg_aggregator_stats_t s;
        run_until_consumed(engine_new(f), 2, &s);
        assert_int_equal(s.counted, 1);
        assert_int_equal(s.duplicates, 1);
        assert_int_equal(s.seen_ids, 2);
        engine_destroy(f);

        /* Another private store: rebuilt from both forms. */
        uint64_t replay = uncommitted_inputs(f);
        run_until_consumed(engine_new(f), replay, &s);
        assert_int_equal(s.counted, 0);
        assert_int_equal(s.duplicates, replay);
        assert_int_equal(s.seen_ids, 2);
        engine_destroy(f);

        outputs_t out;
        read_outputs(f, &out);
        size_t batches = 0;
        for (size_t i = 0; i < out.ids.n; i++)
                batches += tecg_id_batch_key(out.ids.v[i].key, out.ids.v[i].key_len);
        assert_int_equal(batches, 1); /* NLD-f2's */
        assert_int_equal(out.ids.n, 2);
        static const char *const ids[] = {"NLD/NLD-f1", "NLD/NLD-f2"};
        assert_event_ids(f, &out.ids, ids, origin, 2);
        int32_t sp;
        tecg_nation_state_t *nld = latest_state(f, &out.states, "NLD", &sp);
        assert_int_equal(nld->events, 1); /* the engine never saw NLD-f1 counted */
        tecg_nation_state_destroy(nld);
        outputs_free(&out);
}

static void store_dir_remove(const char *dir, bool keep_dir) {
        char path[300];
        snprintf(path, sizeof(path), "%s/data.mdb", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/lock.mdb", dir);
        unlink(path);
        if (!keep_dir)
                rmdir(dir);
}

/* The id store on disk (docs/design.md §4.4) through restarts: instance A
 * counts, instance B (another store) counts one more event, A restarts on
 * its store, now behind tecg.event-ids, and catches up from its marker;
 * then A's store is deleted and rebuilt from the topic. The mock makes
 * every start re-read all input (see the top of this file), so each
 * restart must find every id it already counted: nothing twice. */
static void test_store_catch_up_and_rebuild(void **state) {
        fixture_t *f = *state;
        const int64_t feb = at(2005, 2, 22), mar = at(2005, 3, 1);
        char dir_a[256], dir_b[256];
        const char *tmp = getenv("TMPDIR");
        snprintf(dir_a, sizeof(dir_a), "%s/test-agg-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        snprintf(dir_b, sizeof(dir_b), "%s/test-agg-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(dir_a));
        assert_non_null(mkdtemp(dir_b));
        tecg_event_t first[] = {
                funding("NLD-f1", "NLD", 100000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, feb),
                training("DEU-t1", "DEU", 10, feb),
                personnel("NLD-p1", "NLD", 40, feb),
        };
        for (size_t i = 0; i < 3; i++)
                send_event(f, &first[i]);
        flush_all(f);
        tecg_aggregator_stats_t s;
        run_until_consumed(engine_new_in(f, dir_a), 3, &s);
        assert_int_equal(s.counted, 3);
        assert_int_equal(s.seen_ids, 3);
        assert_true(s.seen_bytes > 0);
        engine_destroy(f);
        /* Its markers: after the last record of each partition (the mock
         * writes no transaction markers, so offsets are dense and their
         * sum is the number of event-ids messages). */
        outputs_t out;
        read_outputs(f, &out);
        size_t id_messages = out.ids.n;
        outputs_free(&out);
        assert_true(id_messages > 0);
        char err[512];
        tecg_idstore_t *store =
                tecg_idstore_open(dir_a, (size_t)64 << 20, PREFIX "event-ids", err, sizeof(err));
        if (!store)
                fail_msg("%s", err);
        int64_t markers = 0;
        for (int32_t p = 0; p < PARTITIONS; p++) {
                assert_true(tecg_idstore_marker(store, p) >= 0);
                markers += tecg_idstore_marker(store, p);
        }
        tecg_idstore_close(store);
        assert_int_equal(markers, id_messages);

        uint64_t replay = uncommitted_inputs(f);
        tecg_event_t f2 =
                funding("NLD-f2", "NLD", 50000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, mar);
        send_event(f, &f2);
        flush_all(f);
        run_until_consumed(engine_new_in(f, dir_b), replay + 1, &s);
        assert_int_equal(s.counted, 1); /* B's new store was built from event-ids */
        assert_int_equal(s.duplicates, replay);
        engine_destroy(f);

        /* A's store ends before NLD-f2's record: caught up from its marker. */
        replay = uncommitted_inputs(f);
        run_until_consumed(engine_new_in(f, dir_a), replay, &s);
        assert_int_equal(s.counted, 0);
        assert_int_equal(s.duplicates, replay);
        assert_int_equal(s.seen_ids, 4);
        engine_destroy(f);

        /* Deleted: rebuilt from the start of event-ids. */
        store_dir_remove(dir_a, true);
        run_until_consumed(engine_new_in(f, dir_a), replay, &s);
        assert_int_equal(s.counted, 0);
        assert_int_equal(s.duplicates, replay);
        assert_int_equal(s.seen_ids, 4);
        engine_destroy(f);

        read_outputs(f, &out);
        int32_t p;
        tecg_nation_state_t *nld = latest_state(f, &out.states, "NLD", &p);
        assert_int_equal(nld->events, 3);
        assert_int_equal(
                find_funding(nld, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "EUR")->amount_minor,
                150000);
        tecg_nation_state_destroy(nld);
        outputs_free(&out);
        store_dir_remove(dir_a, false);
        store_dir_remove(dir_b, false);
}

/* ---- errors no abort clears, and stops ------------------------------- */

/* The Kafka protocol's ApiKey of EndTxn (not in librdkafka's public
 * headers). */
#define APIKEY_END_TXN 26

/* Calls run_once until `done` says so; every call must succeed. */
static void run_until(tecg_aggregator_t *agg, bool (*done)(const tecg_aggregator_stats_t *),
                      tecg_aggregator_stats_t *out) {
        char err[512];
        int64_t deadline = tu_now_ms() + WAIT_MS;
        for (;;) {
                if (tecg_aggregator_run_once(agg, err, sizeof(err)))
                        fail_msg("run_once: %s", err);
                tecg_aggregator_stats(agg, out);
                if (done(out))
                        return;
                if (tu_now_ms() > deadline) {
                        print_stats("stats", out);
                        fail_msg("not done after %d ms", WAIT_MS);
                }
        }
}

static bool recovered_and_committed(const tecg_aggregator_stats_t *s) {
        return s->recoveries >= 1 && s->transactions >= 1 && s->seen_ids >= 3;
}

static bool four_ids(const tecg_aggregator_stats_t *s) {
        return s->seen_ids >= 4 && s->transactions >= 2;
}

/* The commit of the first batch fails with `code`, which librdkafka makes
 * a fatal error of the transactional producer (our epoch was bumped: what
 * the broker does to a transaction older than transaction.timeout.ms).
 * The engine does not give up: a new producer takes over, the partitions
 * are restored and replayed from the last commit, and what follows is
 * counted once. */
static void fenced_commit_recovers(fixture_t *f, rd_kafka_resp_err_t code) {
        const int64_t feb = at(2005, 2, 22), mar = at(2005, 3, 1);
        tecg_event_t first[] = {
                funding("NLD-f1", "NLD", 100000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, feb),
                training("DEU-t1", "DEU", 10, feb),
                personnel("NLD-p1", "NLD", 40, feb),
        };
        for (size_t i = 0; i < 3; i++)
                send_event(f, &first[i]);
        flush_all(f);
        rd_kafka_mock_push_request_errors(f->mcluster, APIKEY_END_TXN, 1, code);

        tecg_aggregator_t *agg = engine_new(f);
        tecg_aggregator_stats_t s;
        run_until(agg, recovered_and_committed, &s);
        print_stats("recovered", &s);
        assert_int_equal(s.recoveries, 1);
        assert_int_equal(s.aborts, 1);
        /* The batch went again, after a restore that gave back its ids:
         * the mock shows uncommitted records to read_committed readers
         * (see the top of this file), a broker would not. */
        assert_int_equal(s.seen_ids, 3);

        tecg_event_t f2 =
                funding("NLD-f2", "NLD", 50000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, mar);
        send_event(f, &f2);
        flush_all(f);
        run_until(agg, four_ids, &s);
        assert_int_equal(s.recoveries, 1);
        assert_int_equal(s.aborts, 1);
        assert_int_equal(s.dead_lettered, 0);
        /* The metrics count what was committed: the aborted batch's
         * first pass is not in them (7 messages were processed). Counted
         * and duplicates split as the mock's restore allows (above). */
        print_stats("after", &s);
        assert_int_equal(s.consumed, 4);
        assert_int_equal(s.counted + s.duplicates, 4);
        engine_destroy(f);

        outputs_t out;
        read_outputs(f, &out);
        int32_t p;
        tecg_nation_state_t *nld = latest_state(f, &out.states, "NLD", &p);
        tecg_event_t nld_events[] = {first[0], first[2], f2};
        tecg_nation_state_t *want = expected_state("NLD", nld_events, 3);
        assert_true(tecg_nation_state_equal(nld, want));
        assert_int_equal(nld->events, 3);
        tecg_nation_state_destroy(nld);
        tecg_nation_state_destroy(want);
        outputs_free(&out);
}

static void test_commit_producer_fenced_recovers(void **state) {
        fenced_commit_recovers(*state, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
}

static void test_commit_invalid_epoch_recovers(void **state) {
        fenced_commit_recovers(*state, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH);
}

/* Every commit's time is summed and one of 100 ms or more is counted as
 * slow (tecg_aggregator_commit_seconds_total, ..._slow_commits_total):
 * the transaction coordinator answers EndTxn 150 ms late. Which of the
 * three brokers coordinates is the mock's choice: each is given the delay
 * once, only the coordinator is asked. */
static void test_slow_commit_is_counted(void **state) {
        fixture_t *f = *state;
        tecg_event_t ev = funding("NLD-slow", "NLD", 100000, "EUR", TECG_CH_TRUST_FUND,
                                  TECG_FS_PLEDGED, at(2005, 2, 22));
        send_event(f, &ev);
        flush_all(f);
        for (int32_t broker = 1; broker <= 3; broker++)
                assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                                         f->mcluster, broker, APIKEY_END_TXN, 1,
                                         RD_KAFKA_RESP_ERR_NO_ERROR, 150),
                                 RD_KAFKA_RESP_ERR_NO_ERROR);
        tecg_aggregator_t *agg = engine_new(f);
        tecg_aggregator_stats_t s;
        /* The log says where the time went: stderr into a file meanwhile. */
        char log_path[] = "/tmp/tecg-test-slow-commit-XXXXXX";
        int log_fd = mkstemp(log_path), saved_stderr = dup(2);
        assert_true(log_fd >= 0 && saved_stderr >= 0);
        assert_int_equal(dup2(log_fd, 2), 2);
        run_until_consumed(agg, 1, &s);
        assert_int_equal(dup2(saved_stderr, 2), 2);
        close(saved_stderr);
        close(log_fd);
        size_t len = 0;
        char *log = tu_read_file(log_path, &len);
        unlink(log_path);
        assert_non_null(log);
        const char *line = strstr(log, "slow commit: ");
        long long took = 0, offsets = 0, committing = 0;
        if (!line || sscanf(line,
                            "slow commit: %lld ms for 1 messages (sending the offsets %lld "
                            "ms, committing %lld ms)",
                            &took, &offsets, &committing) != 3)
                fail_msg("no slow commit line in the log:\n%s", log);
        assert_true(committing >= 150);
        assert_int_equal(took, offsets + committing);
        free(log);
        print_stats("slow commit", &s);
        assert_int_equal(s.transactions, 1);
        assert_int_equal(s.slow_commits, 1);
        assert_true(s.commit_ms >= 150);
        engine_destroy(f);
}

/* An authorization error is not recovered from: a new producer would meet
 * it again. run_once reports it as a configuration error. */
static void test_commit_unauthorized_exits(void **state) {
        fixture_t *f = *state;
        char err[512];
        tecg_event_t ev = training("DEU-t1", "DEU", 10, at(2005, 2, 22));
        send_event(f, &ev);
        flush_all(f);
        rd_kafka_mock_push_request_errors(f->mcluster, APIKEY_END_TXN, 1,
                                          RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
        tecg_aggregator_t *agg = engine_new(f);
        int64_t deadline = tu_now_ms() + WAIT_MS;
        tecg_err_t rc;
        while ((rc = tecg_aggregator_run_once(agg, err, sizeof(err))) == TECG_OK) {
                if (tu_now_ms() > deadline)
                        fail_msg("run_once never reported the authorization error");
        }
        fprintf(stderr, "run_once: %s\n", err);
        assert_int_equal(rc, TECG_ERR_CONFIG);
        assert_non_null(strstr(err, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"));
        tecg_aggregator_stats_t s;
        tecg_aggregator_stats(agg, &s);
        assert_int_equal(s.transactions, 0);
        assert_int_equal(s.recoveries, 0);
        engine_destroy(f);
}

/* Fenced again by every new producer before it commits anything: not the
 * broker's epoch bump after a timed-out transaction, which happens once,
 * but another process with our transactional.id. The third fence in a row
 * ends the engine, saying so. */
static void test_fenced_again_and_again_exits(void **state) {
        fixture_t *f = *state;
        char err[512];
        tecg_event_t ev = training("DEU-t1", "DEU", 10, at(2005, 2, 22));
        send_event(f, &ev);
        flush_all(f);
        rd_kafka_mock_push_request_errors(
                f->mcluster, APIKEY_END_TXN, 3, RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
                RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
        tecg_aggregator_t *agg = engine_new(f);
        int64_t deadline = tu_now_ms() + WAIT_MS;
        tecg_err_t rc;
        while ((rc = tecg_aggregator_run_once(agg, err, sizeof(err))) == TECG_OK) {
                if (tu_now_ms() > deadline)
                        fail_msg("run_once never gave up");
        }
        fprintf(stderr, "run_once: %s\n", err);
        assert_int_equal(rc, TECG_ERR_KAFKA);
        assert_non_null(strstr(err, "another process uses transactional.id"));
        tecg_aggregator_stats_t s;
        tecg_aggregator_stats(agg, &s);
        assert_int_equal(s.transactions, 0);
        assert_int_equal(s.recoveries, 2);
        engine_destroy(f);
}

static volatile sig_atomic_t stop_flag;
static int64_t stop_at_ms; /* when stop_when_committing set it */

/* Sets stop_flag half a second after the mock received the delayed EndTxn
 * (one of the three brokers' error stacks is used up). */
static void *stop_when_committing(void *arg) {
        fixture_t *f = arg;
        int64_t deadline = tu_now_ms() + WAIT_MS;
        for (;;) {
                size_t left = 0, cnt;
                for (int32_t b = 1; b <= 3; b++)
                        if (!rd_kafka_mock_broker_error_stack_cnt(f->mcluster, b, APIKEY_END_TXN,
                                                                  &cnt))
                                left += cnt;
                if (left < 3 || tu_now_ms() > deadline)
                        break;
                struct timespec ts = {0, 20 * 1000000L};
                nanosleep(&ts, NULL);
        }
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
        stop_at_ms = tu_now_ms();
        stop_flag = 1;
        return NULL;
}

/* A commit that Kafka does not answer (EndTxn delayed by 30 s on every
 * broker) and a stop: run_once returns within a wait step of the stop,
 * and destroy within the shutdown timeout, with the transaction left
 * uncommitted. */
static void test_stop_while_commit_hangs(void **state) {
        fixture_t *f = *state;
        char err[512];
        enum { SHUTDOWN_MS = 3000, DELAY_MS = 30000 };
        tecg_event_t ev = training("DEU-t1", "DEU", 10, at(2005, 2, 22));
        send_event(f, &ev);
        flush_all(f);
        for (int32_t b = 1; b <= 3; b++)
                assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                                         f->mcluster, b, APIKEY_END_TXN, 1,
                                         RD_KAFKA_RESP_ERR_NO_ERROR, DELAY_MS),
                                 RD_KAFKA_RESP_ERR_NO_ERROR);
        stop_flag = 0;
        tecg_aggregator_options_t opts = {
                .topic_prefix = PREFIX,
                .group_id = "tecg-aggregator-test",
                .transactional_id = "tecg-aggregator-test-1",
                .nations = f->nations,
                .batch_max_messages = 5,
                .batch_max_ms = 100,
                .restore_timeout_ms = WAIT_MS,
                .message_max_bytes = MESSAGE_MAX,
                .stop = &stop_flag,
                .shutdown_timeout_ms = SHUTDOWN_MS,
        };
        tecg_aggregator_t *agg = f->agg = tecg_aggregator_new(f->conf, &opts, err, sizeof(err));
        if (!agg)
                fail_msg("tecg_aggregator_new: %s", err);
        tecg_aggregator_stats_t s;
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, stop_when_committing, f), 0);
        int64_t deadline = tu_now_ms() + WAIT_MS;
        while (!stop_flag) {
                if (tecg_aggregator_run_once(agg, err, sizeof(err)))
                        fail_msg("run_once: %s", err);
                if (tu_now_ms() > deadline)
                        fail_msg("not stopped after %d ms", WAIT_MS);
        }
        int64_t returned = tu_now_ms();
        pthread_join(th, NULL); /* it ended when it set the flag */
        tecg_aggregator_stats(agg, &s);
        print_stats("stopped", &s);
        assert_int_equal(s.transactions, 0);
        engine_destroy(f);
        int64_t destroyed = tu_now_ms();
        fprintf(stderr, "run_once returned %lld ms after the stop, destroy took %lld ms\n",
                (long long)(returned - stop_at_ms), (long long)(destroyed - returned));
        /* The commit waits in steps of a second and looks at the flag
         * after each. */
        assert_true(returned - stop_at_ms < 1500);
        assert_true(destroyed - returned < SHUTDOWN_MS + 1000);
}

int main(void) {
        signal(SIGALRM, on_watchdog);
        /* The engine's info lines (assignments, restores) help when a test
         * fails; librdkafka's warnings come through the same logger. */
        tecg_log_init("test_aggregator", TECG_LOG_NOTICE);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_count_dedupe_dead_letter, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_catch_up_and_rebuild, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restore_reads_both_forms, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_producer_fenced_recovers, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_commit_invalid_epoch_recovers, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_slow_commit_is_counted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_unauthorized_exits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fenced_again_and_again_exits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_while_commit_hangs, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
