/* The dashboard engine (consumers/dashboard/dashboards.h) against
 * librdkafka's mock cluster: no broker, no network beyond loopback.
 *
 * Each test gets a fresh mock cluster with the topics t.nation-state (2
 * partitions) and t.dashboards (1), writes nation states encoded with
 * state_codec.h into it, and runs the engine with
 * kafka.bootstrap.servers pointing at the mock (through a tecg_conf_t, as
 * the daemon does). What the engine composed is read from the docstore.
 *
 *   nations list: BEL (member), GBR (partner), USA (member); JPN is not in
 *   it and must be shown as "unlisted" and counted.
 *
 *   state           personnel in Iraq      funding pledged      training
 *   BEL v1          TRAINER 10             -                    -
 *   USA v3          STAFF 50               1000.00 EUR          -
 *   JPN v1          TRAINER 7              -                    2005 outside 5
 *   => staffing total in_iraq 67, reported 3, not_reported [GBR]
 *
 * Then BEL v2 (TRAINER 20) and a stale USA v2 (STAFF 999, must not replace
 * v3) and an undecodable record: in_iraq 77, staffing version 2.
 *
 * With a signing key every version is signed once (docs/design.md §9.2):
 * the docstore, the publish callback and t.dashboards's headers carry the
 * same signature, and it verifies over (name, exact bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "buf.h"
#include "conf.h"
#include "dashboards.h"
#include "docsign.h"
#include "docstore.h"
#include "mission.h"
#include "nation_state.h"
#include "refdata.h"
#include "sign.h"
#include "state_codec.h"
#include "testutil.h"

#define PREFIX "t."
#define WAIT_MS 20000
/* The Kafka protocol's ApiKey of Produce (librdkafka names it only in
 * an internal header). */
#define API_KEY_PRODUCE 0

static const char nations_csv[] = "code,name,status\n"
                                  "BEL,Belgium,member\n"
                                  "GBR,United Kingdom,partner\n"
                                  "USA,United States,member\n";

typedef struct {
        rd_kafka_t *mock_owner; /* the client that owns the cluster */
        rd_kafka_mock_cluster_t *mock;
        rd_kafka_t *writer; /* writes nation states */
        tecg_state_codec_t *codec;
        tecg_conf_t *conf;
        char conf_target; /* the props table binds no field */
        tecg_nations_t *nations;
        tecg_mission_t mission;
        tecg_docstore_t *store;
        int published; /* publish_cb calls */
        /* The highest version publish_cb was given, per dashboard, as a
         * sink keeps it; stale counts the calls not above it (a sink
         * answers those "stale"). */
        uint64_t sink_version[TECG_DASH__COUNT];
        int stale;
        const tecg_sign_key_t *key; /* the engine signs with it; NULL: unsigned */
        /* The signature publish_cb was given, per dashboard. */
        char published_sig[TECG_DASH__COUNT][TECG_DOCSIGN_VALUE_SIZE];
        /* The engine's wall clock when not 0 (the overdue test moves it);
         * 0: the real one. Read by the engine on this thread only. */
        int64_t clock_ms;
        int compose_interval_ms; /* the engine's; 0 unless a test sets it */
} fixture_t;

static int64_t fixture_clock(void *opaque) {
        const fixture_t *f = opaque;
        return f->clock_ms;
}

static const tecg_conf_prop_t props[] = {
        {.name = "kafka.", .type = TECG_CONF_PREFIX, .doc = "librdkafka pass-through"},
        {.name = NULL},
};

static rd_kafka_t *new_producer(const char *bootstraps) {
        char reason[256];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        if (bootstraps && rd_kafka_conf_set(kc, "bootstrap.servers", bootstraps, reason,
                                            sizeof(reason)) != RD_KAFKA_CONF_OK)
                fail_msg("%s", reason);
        rd_kafka_conf_set(kc, "log_level", "3", reason, sizeof(reason));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, reason, sizeof(reason));
        if (!rk)
                fail_msg("rd_kafka_new: %s", reason);
        return rk;
}

static int setup(void **state) {
        char errstr[512];
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        f->mock_owner = new_producer(NULL);
        f->mock = rd_kafka_mock_cluster_new(f->mock_owner, 1);
        assert_non_null(f->mock);
        const char *bootstraps = rd_kafka_mock_cluster_bootstraps(f->mock);
        assert_int_equal(rd_kafka_mock_topic_create(f->mock, PREFIX "nation-state", 2, 1), 0);
        assert_int_equal(rd_kafka_mock_topic_create(f->mock, PREFIX "dashboards", 1, 1), 0);
        f->writer = new_producer(bootstraps);
        f->codec = tecg_state_codec_new(errstr, sizeof(errstr));
        if (!f->codec)
                fail_msg("%s", errstr);
        f->conf = tecg_conf_new(props, &f->conf_target, errstr, sizeof(errstr));
        if (!f->conf ||
            tecg_conf_set(f->conf, "kafka.bootstrap.servers", bootstraps, "test", errstr,
                          sizeof(errstr)) ||
            tecg_conf_set(f->conf, "kafka.log_level", "3", "test", errstr, sizeof(errstr)))
                fail_msg("%s", errstr);
        f->nations = tecg_nations_parse(nations_csv, strlen(nations_csv), "test", errstr,
                                        sizeof(errstr));
        if (!f->nations)
                fail_msg("%s", errstr);
        tecg_mission_init(&f->mission);
        f->store = tecg_docstore_new();
        assert_non_null(f->store);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_docstore_destroy(f->store);
        tecg_nations_destroy(f->nations);
        tecg_conf_destroy(f->conf);
        tecg_state_codec_destroy(f->codec);
        rd_kafka_destroy(f->writer);
        rd_kafka_mock_cluster_destroy(f->mock);
        rd_kafka_destroy(f->mock_owner);
        free(f);
        return 0;
}

/* ------------------------------------------------------------------ */
/* Writing states                                                      */

static tecg_nation_state_t *state_new(const char *nation, uint64_t version) {
        tecg_nation_state_t *st = tecg_nation_state_new(nation);
        assert_non_null(st);
        st->version = version;
        st->events = version;
        st->as_of_ms = tu_at(2005, 11, 20, 8, 0, 0, 0) + (int64_t)version;
        return st;
}

static void set_personnel(tecg_nation_state_t *st, tecg_role_t role, int32_t headcount) {
        tecg_strength_t *p = &st->personnel[role][TECG_LOC_IN_IRAQ];
        p->reported = true;
        p->occurred_at_ms = st->as_of_ms;
        snprintf(p->event_id, sizeof(p->event_id), "%s-%d", st->nation, (int)role);
        p->headcount = headcount;
}

static void write_raw(fixture_t *f, const char *key, const void *value, size_t len) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
                f->writer, RD_KAFKA_V_TOPIC(PREFIX "nation-state"),
                RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_int_equal(rd_kafka_flush(f->writer, WAIT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Encodes, writes (key = nation) and frees st. */
static void write_state(fixture_t *f, tecg_nation_state_t *st) {
        char errstr[256];
        tecg_buf_t buf = TECG_BUF_INIT;
        if (tecg_state_codec_encode(f->codec, st, &buf, errstr, sizeof(errstr)))
                fail_msg("encode %s: %s", st->nation, errstr);
        write_raw(f, st->nation, buf.data, buf.len);
        tecg_buf_free(&buf);
        tecg_nation_state_destroy(st);
}

/* The scenario's first three states (see the top of the file). */
static void write_first_states(fixture_t *f) {
        tecg_nation_state_t *bel = state_new("BEL", 1);
        set_personnel(bel, TECG_ROLE_TRAINER, 10);
        write_state(f, bel);

        tecg_nation_state_t *usa = state_new("USA", 3);
        set_personnel(usa, TECG_ROLE_STAFF, 50);
        usa->funding = calloc(1, sizeof(*usa->funding));
        assert_non_null(usa->funding);
        usa->funding[0] =
                (tecg_funding_total_t){TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "EUR", 100000};
        usa->nfunding = 1;
        write_state(f, usa);

        tecg_nation_state_t *jpn = state_new("JPN", 1);
        set_personnel(jpn, TECG_ROLE_TRAINER, 7);
        jpn->training = calloc(1, sizeof(*jpn->training));
        assert_non_null(jpn->training);
        jpn->training[0] = (tecg_training_total_t){2005, TECG_LOC_OUTSIDE_IRAQ, TECG_LVL_JUNIOR, 5};
        jpn->ntraining = 1;
        write_state(f, jpn);
}

/* ------------------------------------------------------------------ */
/* Running the engine                                                  */

static void on_publish(const char *name, uint64_t version, const char *json, size_t len,
                       const char *signature, void *opaque) {
        fixture_t *f = opaque;
        (void)json;
        (void)len;
        f->published++;
        for (int i = 0; i < TECG_DASH__COUNT; i++)
                if (strcmp(tecg_dashboard_names[i], name) == 0) {
                        snprintf(f->published_sig[i], sizeof(f->published_sig[i]), "%s",
                                 signature ? signature : "");
                        if (version <= f->sink_version[i])
                                f->stale++;
                        else
                                f->sink_version[i] = version;
                }
}

static tecg_dashboards_t *engine_new(fixture_t *f) {
        char errstr[512];
        tecg_dashboards_options_t opts = {
                .topic_prefix = PREFIX,
                .nations = f->nations,
                .mission = &f->mission,
                .store = f->store,
                .publish_cb = on_publish,
                .sign_key = f->key,
                .opaque = f,
                .publish_topic = true,
                .compose_interval_ms = f->compose_interval_ms,
                .load_timeout_ms = WAIT_MS,
                .clock_ms = f->clock_ms ? fixture_clock : NULL,
                .clock_opaque = f,
                .recheck_interval_ms = 10,
        };
        tecg_dashboards_t *d = tecg_dashboards_new(f->conf, &opts, errstr, sizeof(errstr));
        if (!d)
                fail_msg("tecg_dashboards_new: %s", errstr);
        return d;
}

/* Runs the engine until the staffing document has `version` (caught up
 * first), failing the test on an error or after WAIT_MS. */
static void run_until_staffing(tecg_dashboards_t *d, uint64_t version) {
        char errstr[512];
        tecg_dashboards_stats_t st;
        int64_t deadline = tu_now_ms() + WAIT_MS;
        for (;;) {
                if (tecg_dashboards_run_once(d, 100, errstr, sizeof(errstr)))
                        fail_msg("run_once: %s", errstr);
                tecg_dashboards_stats(d, &st);
                if (st.caught_up && st.versions[TECG_DASH_STAFFING] >= version)
                        return;
                if (tu_now_ms() > deadline)
                        fail_msg("staffing version %llu not reached (at %llu, caught_up %d)",
                                 (unsigned long long)version,
                                 (unsigned long long)st.versions[TECG_DASH_STAFFING],
                                 (int)st.caught_up);
        }
}

/* Runs the engine until publish_cb has been called `n` times in all (the
 * sinks get a version once t.dashboards acknowledged it). */
static void run_until_offered(fixture_t *f, tecg_dashboards_t *d, int n) {
        char errstr[512];
        int64_t deadline = tu_now_ms() + WAIT_MS;
        while (f->published < n) {
                if (tecg_dashboards_run_once(d, 100, errstr, sizeof(errstr)))
                        fail_msg("run_once: %s", errstr);
                if (tu_now_ms() > deadline)
                        fail_msg("%d versions offered to the sinks, not %d", f->published, n);
        }
}

/* The stored document `name` (the caller json_decref()s it); checks that
 * the docstore holds `version`. */
static json_t *stored(fixture_t *f, const char *name, uint64_t version) {
        tecg_doc_t doc;
        json_error_t jerr;
        assert_int_equal(tecg_docstore_get(f->store, name, &doc), TECG_OK);
        assert_int_equal(doc.version, version);
        if (f->key)
                assert_true(tecg_docsign_verify(f->key->key_id, f->key->public_key, name, doc.json,
                                                doc.len, doc.signature));
        else
                assert_null(doc.signature);
        json_t *j = json_loadb(doc.json, doc.len, 0, &jerr);
        if (!j)
                fail_msg("%s: %s", name, jerr.text);
        /* The engine splices version and generated_at into the composed
         * text: the result must be what Jansson itself writes for the
         * document, with those two right after "dashboard". */
        char *again = json_dumps(j, TECG_COMPOSE_DUMP_FLAGS);
        assert_non_null(again);
        assert_string_equal(again, doc.json);
        free(again);
        void *it = json_object_iter(j);
        const char *first[] = {"dashboard", "version", "generated_at"};
        for (size_t i = 0; i < 3; i++, it = json_object_iter_next(j, it)) {
                assert_non_null(it);
                assert_string_equal(json_object_iter_key(it), first[i]);
        }
        assert_string_equal(json_string_value(json_object_get(j, "dashboard")), name);
        tecg_doc_release(&doc);
        assert_int_equal(json_integer_value(json_object_get(j, "version")), version);
        return j;
}

static json_int_t int_at(json_t *doc, const char *path) {
        json_t *v = doc;
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
                v = json_object_get(v, k);
        if (!json_is_integer(v))
                fail_msg("%s is not an integer", path);
        return json_integer_value(v);
}

/* The row of `nation` in doc's "nations" (borrowed), or NULL. */
static json_t *row_of(json_t *doc, const char *nation) {
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(doc, "nations"), i, r) {
                if (strcmp(json_string_value(json_object_get(r, "nation")), nation) == 0)
                        return r;
        }
        return NULL;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

/* The engine reads nation-state to its end, composes the three documents
 * with the unlisted JPN shown and counted, follows later states (a stale
 * one ignored, an undecodable one counted) and a second engine resumes
 * the versions from t.dashboards without publishing the same content. */
static void test_follows_nation_state(void **state) {
        fixture_t *f = *state;
        tecg_dashboards_stats_t st;
        write_first_states(f);

        tecg_dashboards_t *d = engine_new(f);
        run_until_staffing(d, 1);
        run_until_offered(f, d, 3);
        tecg_dashboards_stats(d, &st);
        assert_int_equal(st.states_received, 3);
        assert_int_equal(st.undecodable, 0);
        for (int i = 0; i < TECG_DASH__COUNT; i++)
                assert_int_equal(st.versions[i], 1);
        assert_int_equal(st.published, TECG_DASH__COUNT);
        assert_int_equal(f->published, TECG_DASH__COUNT);

        json_t *staffing = stored(f, "staffing", 1);
        assert_int_equal(int_at(staffing, "total.in_iraq"), 67);
        assert_int_equal(int_at(staffing, "total.nations_reported"), 3);
        assert_int_equal(int_at(staffing, "total.roles.TRAINER.IN_IRAQ"), 17);
        assert_int_equal(json_array_size(json_object_get(staffing, "nations")), 4);
        json_t *jpn = row_of(staffing, "JPN");
        assert_non_null(jpn);
        assert_string_equal(json_string_value(json_object_get(jpn, "status")), "unlisted");
        assert_true(json_is_null(json_object_get(jpn, "name")));
        assert_int_equal(int_at(jpn, "in_iraq"), 7);
        json_t *gbr = row_of(staffing, "GBR");
        assert_non_null(gbr);
        assert_string_equal(json_string_value(json_object_get(gbr, "status")), "partner");
        assert_false(json_boolean_value(json_object_get(gbr, "reported")));
        json_t *nr = json_object_get(staffing, "not_reported");
        assert_int_equal(json_array_size(nr), 1);
        assert_string_equal(json_string_value(json_array_get(nr, 0)), "GBR");
        json_decref(staffing);

        json_t *funding = stored(f, "funding", 1);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(funding, "total"), "pledged"),
                                    "converted")),
                            "1000.00");
        assert_int_equal(json_array_size(json_object_get(funding, "nations")), 4);
        assert_string_equal(json_string_value(json_object_get(row_of(funding, "JPN"), "status")),
                            "unlisted");
        json_decref(funding);

        json_t *training = stored(f, "training", 1);
        json_t *year = json_array_get(json_object_get(training, "years"), 0);
        assert_int_equal(int_at(year, "year"), 2005);
        assert_int_equal(int_at(year, "trainees"), 5);
        assert_int_equal(int_at(year, "outside_iraq.levels.JUNIOR"), 5);
        json_t *trow = json_array_get(json_object_get(training, "nations"), 0);
        assert_string_equal(json_string_value(json_object_get(trow, "nation")), "JPN");
        assert_string_equal(json_string_value(json_object_get(trow, "status")), "unlisted");
        json_decref(training);

        /* A newer BEL, a stale USA (v2 < v3: ignored), a record that is
         * not a state. Only staffing changes. */
        tecg_nation_state_t *bel = state_new("BEL", 2);
        set_personnel(bel, TECG_ROLE_TRAINER, 20);
        write_state(f, bel);
        tecg_nation_state_t *usa = state_new("USA", 2);
        set_personnel(usa, TECG_ROLE_STAFF, 999);
        write_state(f, usa);
        write_raw(f, "FRA", "not avro", 8);
        run_until_staffing(d, 2);
        /* The stale and broken records may land in a later batch. */
        int64_t deadline = tu_now_ms() + WAIT_MS;
        do {
                char errstr[256];
                assert_int_equal(tecg_dashboards_run_once(d, 100, errstr, sizeof(errstr)), TECG_OK);
                tecg_dashboards_stats(d, &st);
        } while (st.states_received < 6 && tu_now_ms() < deadline);
        assert_int_equal(st.states_received, 6);
        assert_int_equal(st.undecodable, 1);
        assert_int_equal(st.versions[TECG_DASH_STAFFING], 2);
        assert_int_equal(st.versions[TECG_DASH_FUNDING], 1);
        assert_int_equal(st.versions[TECG_DASH_TRAINING], 1);
        staffing = stored(f, "staffing", 2);
        assert_int_equal(int_at(staffing, "total.in_iraq"), 77);
        assert_int_equal(int_at(row_of(staffing, "USA"), "in_iraq"), 50);
        json_decref(staffing);
        tecg_dashboards_destroy(d, 10000);

        /* A restart: same content, so the versions read back from
         * t.dashboards are served and nothing is published again. */
        tecg_docstore_destroy(f->store);
        f->store = tecg_docstore_new();
        assert_non_null(f->store);
        f->published = 0;
        d = engine_new(f);
        run_until_staffing(d, 2);
        tecg_dashboards_stats(d, &st);
        assert_int_equal(st.published, 0);
        assert_int_equal(f->published, 0);
        assert_int_equal(st.versions[TECG_DASH_STAFFING], 2);
        assert_int_equal(st.versions[TECG_DASH_FUNDING], 1);
        staffing = stored(f, "staffing", 2);
        assert_int_equal(int_at(staffing, "total.in_iraq"), 77);
        json_decref(staffing);
        tecg_dashboards_destroy(d, 10000);
}

/* A fatal error of the engine's consumer or producer, raised with
 * rd_kafka_test_fatal_error() once the documents exist (the mock broker
 * has no answer that makes either fatal), is returned by run_once as
 * TECG_ERR_KAFKA naming the client and librdkafka's reason, and stays
 * returned: the daemon exits instead of logging and going on. */
static void check_fatal(fixture_t *f, bool producer) {
        char errstr[512] = "";
        tecg_err_t err = TECG_OK;
        write_first_states(f);
        tecg_dashboards_t *d = engine_new(f);
        run_until_staffing(d, 1);
        rd_kafka_t *rk = tecg_dashboards_kafka_handle(d, producer);
        assert_non_null(rk);
        assert_int_equal(rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
                                                   "injected by the test"),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        int64_t deadline = tu_now_ms() + WAIT_MS;
        while (!err && tu_now_ms() < deadline)
                err = tecg_dashboards_run_once(d, 100, errstr, sizeof(errstr));
        assert_int_equal(err, TECG_ERR_KAFKA);
        tu_assert_contains(errstr,
                           producer ? "fatal Kafka error in the producer"
                                    : "fatal Kafka error in the consumer",
                           "INVALID_PRODUCER_EPOCH", "injected by the test");
        errstr[0] = '\0';
        assert_int_equal(tecg_dashboards_run_once(d, 0, errstr, sizeof(errstr)), TECG_ERR_KAFKA);
        tu_assert_contains(errstr, "fatal Kafka error");
        tecg_dashboards_destroy(d, 10000);
}

static void test_fatal_consumer_error(void **state) {
        check_fatal(*state, false);
}

static void test_fatal_producer_error(void **state) {
        check_fatal(*state, true);
}

/* Without a fatal error, run_once keeps returning TECG_OK (the check above
 * is not satisfied by any error at all): a broker that refuses the writes
 * to t.dashboards is logged by the delivery report, not fatal. */
static void test_refused_writes_are_not_fatal(void **state) {
        fixture_t *f = *state;
        char errstr[512] = "";
        write_first_states(f);
        rd_kafka_mock_push_request_errors(
                f->mock, API_KEY_PRODUCE, 3, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
                RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH);
        tecg_dashboards_t *d = engine_new(f);
        run_until_staffing(d, 1);
        for (int i = 0; i < 10; i++)
                assert_int_equal(tecg_dashboards_run_once(d, 100, errstr, sizeof(errstr)), TECG_OK);
        tecg_dashboards_destroy(d, 10000);
}

/* A version reaches the sinks only once t.dashboards holds it, so a
 * restart, which numbers on from the versions read back from the topic,
 * never gives a sink a version it already has (docs/design.md §5.3, §5.4).
 * The first writes to t.dashboards are refused: nothing is offered for
 * them, the content is written again as the next version, and that one is
 * offered. A restarted engine then reads back exactly the versions the
 * sinks hold and, the content unchanged, offers nothing. Offered before
 * the acknowledgement, version 1 would have reached the sinks while the
 * topic held nothing, and the restart would have numbered 1 again. */
static void test_sinks_get_versions_the_topic_holds(void **state) {
        fixture_t *f = *state;
        tecg_dashboards_stats_t st;
        write_first_states(f);
        rd_kafka_mock_push_request_errors(f->mock, API_KEY_PRODUCE, 2,
                                          RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
                                          RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH);
        tecg_dashboards_t *d = engine_new(f);
        run_until_offered(f, d, TECG_DASH__COUNT);
        for (int i = 0; i < TECG_DASH__COUNT; i++)
                assert_true(f->sink_version[i] >= 2);
        assert_int_equal(f->stale, 0);
        tecg_dashboards_stats(d, &st);
        for (int i = 0; i < TECG_DASH__COUNT; i++)
                assert_int_equal(st.versions[i], f->sink_version[i]);
        tecg_dashboards_destroy(d, 10000);

        uint64_t held[TECG_DASH__COUNT];
        memcpy(held, f->sink_version, sizeof(held));
        tecg_docstore_destroy(f->store);
        f->store = tecg_docstore_new();
        assert_non_null(f->store);
        f->published = 0;
        d = engine_new(f);
        run_until_staffing(d, held[TECG_DASH_STAFFING]);
        for (int i = 0; i < 5; i++) {
                char errstr[256];
                assert_int_equal(tecg_dashboards_run_once(d, 100, errstr, sizeof(errstr)), TECG_OK);
        }
        tecg_dashboards_stats(d, &st);
        for (int i = 0; i < TECG_DASH__COUNT; i++)
                assert_int_equal(st.versions[i], held[i]);
        assert_int_equal(st.published, 0);
        assert_int_equal(f->published, 0);
        assert_int_equal(f->stale, 0);

        /* A new state: the next version, offered, one above what is held. */
        tecg_nation_state_t *bel = state_new("BEL", 2);
        set_personnel(bel, TECG_ROLE_TRAINER, 20);
        write_state(f, bel);
        run_until_offered(f, d, 1);
        assert_int_equal(f->sink_version[TECG_DASH_STAFFING], held[TECG_DASH_STAFFING] + 1);
        assert_int_equal(f->stale, 0);
        tecg_dashboards_destroy(d, 10000);
}

/* The latest signature of `name` in the docstore verifies over its bytes,
 * and over nothing else: not a byte changed, not under another name, not
 * with another key id. Returns the value (static buffer). */
static const char *check_stored_signature(fixture_t *f, const char *name) {
        static char value[TECG_DOCSIGN_VALUE_SIZE];
        tecg_doc_t doc;
        assert_int_equal(tecg_docstore_get(f->store, name, &doc), TECG_OK);
        assert_non_null(doc.signature);
        snprintf(value, sizeof(value), "%s", doc.signature);
        assert_true(tecg_docsign_verify(f->key->key_id, f->key->public_key, name, doc.json, doc.len,
                                        value));
        char *copy = malloc(doc.len);
        assert_non_null(copy);
        memcpy(copy, doc.json, doc.len);
        copy[doc.len / 2] ^= 0x01;
        assert_false(tecg_docsign_verify(f->key->key_id, f->key->public_key, name, copy, doc.len,
                                         value));
        free(copy);
        assert_false(tecg_docsign_verify(f->key->key_id, f->key->public_key,
                                         strcmp(name, "funding") ? "funding" : "training", doc.json,
                                         doc.len, value));
        assert_false(tecg_docsign_verify("another-key", f->key->public_key, name, doc.json, doc.len,
                                         value));
        tecg_doc_release(&doc);
        return value;
}

/* Reads the n messages of t.dashboards and checks that each carries the
 * key id and signature headers, and that they verify over (key, value). */
static void check_topic_signatures(fixture_t *f, int n) {
        char reason[256];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        const char *bootstraps = rd_kafka_mock_cluster_bootstraps(f->mock);
        if (rd_kafka_conf_set(kc, "bootstrap.servers", bootstraps, reason, sizeof(reason)) ||
            rd_kafka_conf_set(kc, "group.id", "test-reader", reason, sizeof(reason)) ||
            rd_kafka_conf_set(kc, "log_level", "3", reason, sizeof(reason)))
                fail_msg("%s", reason);
        rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, kc, reason, sizeof(reason));
        if (!c)
                fail_msg("%s", reason);
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(parts, PREFIX "dashboards", 0)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(parts);
        int seen = 0;
        int64_t deadline = tu_now_ms() + WAIT_MS;
        while (seen < n && tu_now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
                if (!m)
                        continue;
                if (!m->err) {
                        rd_kafka_headers_t *h = NULL;
                        const void *id = NULL, *sig = NULL;
                        size_t id_len = 0, sig_len = 0;
                        char name[64], value[TECG_DOCSIGN_VALUE_SIZE];
                        assert_int_equal(rd_kafka_message_headers(m, &h),
                                         RD_KAFKA_RESP_ERR_NO_ERROR);
                        assert_int_equal(rd_kafka_header_get_last(h, TECG_DOCSIGN_KAFKA_KEY_ID, &id,
                                                                  &id_len),
                                         RD_KAFKA_RESP_ERR_NO_ERROR);
                        assert_int_equal(rd_kafka_header_get_last(h, TECG_DOCSIGN_KAFKA_SIGNATURE,
                                                                  &sig, &sig_len),
                                         RD_KAFKA_RESP_ERR_NO_ERROR);
                        snprintf(name, sizeof(name), "%.*s", (int)m->key_len, (const char *)m->key);
                        snprintf(value, sizeof(value), "keyid=%.*s,sig=%.*s", (int)id_len,
                                 (const char *)id, (int)sig_len, (const char *)sig);
                        assert_true(tecg_docsign_verify(f->key->key_id, f->key->public_key, name,
                                                        m->payload, m->len, value));
                        assert_false(tecg_docsign_verify(f->key->key_id, f->key->public_key, name,
                                                         m->payload, m->len - 1, value));
                        seen++;
                }
                rd_kafka_message_destroy(m);
        }
        assert_int_equal(seen, n);
        rd_kafka_destroy(c);
}

/* With a key, every version is signed once: the docstore keeps the
 * signature with the bytes, the sinks get the same one, t.dashboards
 * carries it in headers, and the versions served after a restart (new
 * bytes: generated_at) are signed too. */
static void test_signs_every_version(void **state) {
        fixture_t *f = *state;
        char errstr[256];
        tecg_sign_key_t key;
        assert_int_equal(tecg_sign_keygen("dashboard-test", &key, errstr, sizeof(errstr)), TECG_OK);
        f->key = &key;
        write_first_states(f);
        tecg_dashboards_t *d = engine_new(f);
        run_until_staffing(d, 1);
        run_until_offered(f, d, TECG_DASH__COUNT);
        for (int i = 0; i < TECG_DASH__COUNT; i++) {
                const char *value = check_stored_signature(f, tecg_dashboard_names[i]);
                assert_string_equal(f->published_sig[i], value);
        }
        tecg_dashboards_destroy(d, 10000);
        check_topic_signatures(f, TECG_DASH__COUNT);

        tecg_docstore_destroy(f->store);
        f->store = tecg_docstore_new();
        assert_non_null(f->store);
        d = engine_new(f);
        run_until_staffing(d, 1);
        for (int i = 0; i < TECG_DASH__COUNT; i++)
                check_stored_signature(f, tecg_dashboard_names[i]);
        tecg_dashboards_destroy(d, 10000);
        tecg_sign_key_wipe(&key);
        f->key = NULL;
}

/* reporting.nations[] entry of `code` in a document (borrowed). */
static json_t *reporting_row(json_t *doc, const char *code) {
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(json_object_get(doc, "reporting"), "nations"), i, r) {
                if (strcmp(json_string_value(json_object_get(r, "nation")), code) == 0)
                        return r;
        }
        fail_msg("no reporting row for %s", code);
        return NULL;
}

/* The /metrics text of the engine; the caller frees it. */
static char *metrics_text(tecg_dashboards_t *d) {
        tecg_buf_t b = TECG_BUF_INIT;
        tecg_dashboards_metrics(d, &b);
        assert_int_equal(tecg_buf_append(&b, "", 1), 0);
        return (char *)b.data;
}

#define DAY_MS INT64_C(86400000)

/* With an injected clock: BEL, silent for more than the 35 days, turns
 * overdue with no new state at all (a new version of staffing, and
 * /metrics), and stops being overdue when it reports again. The nations
 * that never reported (GBR, USA) are overdue all along. */
/* compose.interval.ms is the ceiling of the coalescing window, not a wait:
 * with it at an hour, changes that come one at a time are each composed
 * at once (docs/design.md 5.3). The rule itself is test_coalesce.c's; this
 * is the engine using it. With a fixed interval the second version would
 * come an hour later and run_until_staffing() would fail. */
static void test_lone_changes_do_not_wait_for_the_interval(void **state) {
        fixture_t *f = *state;
        f->compose_interval_ms = 3600000;
        tecg_nation_state_t *bel = state_new("BEL", 1);
        set_personnel(bel, TECG_ROLE_TRAINER, 10);
        write_state(f, bel);
        tecg_dashboards_t *d = engine_new(f);
        run_until_staffing(d, 1);
        for (int v = 2; v <= 4; v++) {
                bel = state_new("BEL", (uint64_t)v);
                set_personnel(bel, TECG_ROLE_TRAINER, 10 * v);
                write_state(f, bel);
                run_until_staffing(d, (uint64_t)v);
                json_t *doc = stored(f, "staffing", (uint64_t)v);
                assert_int_equal(int_at(row_of(doc, "BEL"), "roles.TRAINER.IN_IRAQ"), 10 * v);
                json_decref(doc);
        }
        tecg_dashboards_destroy(d, 1000);
}

static void test_overdue_with_clock(void **state) {
        fixture_t *f = *state;
        tecg_nation_state_t *bel = state_new("BEL", 1);
        const int64_t t0 = bel->as_of_ms;
        set_personnel(bel, TECG_ROLE_TRAINER, 10);
        bel->last_report_ms[TECG_EV_PERSONNEL] = t0;
        write_state(f, bel);

        f->clock_ms = t0 + 30 * DAY_MS;
        tecg_dashboards_t *d = engine_new(f);
        run_until_staffing(d, 1);
        json_t *doc = stored(f, "staffing", 1);
        json_t *r = reporting_row(doc, "BEL");
        assert_false(json_is_true(json_object_get(r, "overdue")));
        assert_true(json_is_true(json_object_get(reporting_row(doc, "USA"), "overdue")));
        assert_true(json_is_true(json_object_get(reporting_row(doc, "GBR"), "overdue")));
        /* generated_at is the engine's clock too. */
        assert_string_equal(json_string_value(json_object_get(doc, "generated_at")),
                            "2005-12-20T08:00:00.001Z");
        json_decref(doc);
        char *m = metrics_text(d);
        assert_non_null(strstr(m, "tecg_dashboard_nation_overdue{nation=\"BEL\"} 0\n"));
        assert_non_null(strstr(m, "tecg_dashboard_nation_overdue{nation=\"USA\"} 1\n"));
        assert_non_null(strstr(m, "tecg_dashboard_report_age_seconds{nation=\"BEL\","
                                  "type=\"personnel\"} 2592000\n"));
        assert_null(strstr(m, "tecg_dashboard_report_age_seconds{nation=\"USA\""));
        free(m);

        /* 36 days on: nothing arrives, yet staffing changes. */
        f->clock_ms = t0 + 36 * DAY_MS;
        run_until_staffing(d, 2);
        doc = stored(f, "staffing", 2);
        r = reporting_row(doc, "BEL");
        assert_true(json_is_true(json_object_get(r, "overdue")));
        assert_int_equal(json_integer_value(json_object_get(r, "overdue_for_days")), 1);
        json_decref(doc);
        m = metrics_text(d);
        assert_non_null(strstr(m, "tecg_dashboard_nation_overdue{nation=\"BEL\"} 1\n"));
        assert_non_null(strstr(m, "tecg_dashboard_report_overdue{nation=\"BEL\","
                                  "type=\"personnel\"} 1\n"));
        assert_non_null(strstr(m, "tecg_dashboard_report_overdue{nation=\"BEL\","
                                  "type=\"funding\"} 0\n"));
        free(m);

        /* BEL reports again (a day ago): no longer overdue. */
        bel = state_new("BEL", 2);
        bel->as_of_ms = f->clock_ms - DAY_MS;
        set_personnel(bel, TECG_ROLE_TRAINER, 12);
        bel->last_report_ms[TECG_EV_PERSONNEL] = bel->as_of_ms;
        write_state(f, bel);
        run_until_staffing(d, 3);
        doc = stored(f, "staffing", 3);
        r = reporting_row(doc, "BEL");
        assert_false(json_is_true(json_object_get(r, "overdue")));
        assert_true(json_is_null(json_object_get(r, "overdue_for_days")));
        json_decref(doc);
        m = metrics_text(d);
        assert_non_null(strstr(m, "tecg_dashboard_nation_overdue{nation=\"BEL\"} 0\n"));
        assert_non_null(strstr(m, "tecg_dashboard_nation_report_age_seconds{nation=\"BEL\"} "
                                  "86400\n"));
        free(m);
        tecg_dashboards_destroy(d, 10000);
}

static const char *status_of(json_t *doc, const char *nation) {
        json_t *row = row_of(doc, nation);
        assert_non_null(row);
        return json_string_value(json_object_get(row, "status"));
}

/* A reload of the nations list (tecg_dashboards_nations_changed()): BEL
 * leaves, JPN (which had an unlisted state) and NOR (none) join. BEL's
 * state stays, shown as unlisted and counted; JPN's is listed; the
 * per-nation view follows the new list. */
static void test_nations_list_reloaded(void **state) {
        fixture_t *f = *state;
        char errstr[512];
        tecg_buf_t out = TECG_BUF_INIT;
        static const char csv[] = "code,name,status\n"
                                  "GBR,United Kingdom,partner\n"
                                  "JPN,Japan,member\n"
                                  "NOR,Norway,member\n"
                                  "USA,United States,member\n";
        write_first_states(f);
        tecg_dashboards_t *d = engine_new(f);
        run_until_staffing(d, 1);
        assert_int_equal(tecg_dashboards_nation_view(d, "BEL", &out), 200);
        assert_int_equal(tecg_dashboards_nation_view(d, "JPN", &out), 404);

        tecg_nations_t *fresh =
                tecg_nations_parse(csv, strlen(csv), "test", errstr, sizeof(errstr));
        assert_non_null(fresh);
        tecg_nations_replace(f->nations, fresh);
        tecg_dashboards_nations_changed(d);
        assert_int_equal(tecg_dashboards_nation_view(d, "BEL", &out), 404);
        assert_int_equal(tecg_dashboards_nation_view(d, "JPN", &out), 200);
        assert_int_equal(tecg_dashboards_nation_view(d, "NOR", &out), 200);
        run_until_staffing(d, 2);

        json_t *staffing = stored(f, "staffing", 2);
        assert_int_equal(int_at(staffing, "total.in_iraq"), 67); /* BEL still counted */
        assert_string_equal(status_of(staffing, "BEL"), "unlisted");
        assert_string_equal(status_of(staffing, "JPN"), "member");
        assert_string_equal(status_of(staffing, "NOR"), "member");
        json_t *nr = json_object_get(staffing, "not_reported");
        assert_int_equal(json_array_size(nr), 2);
        assert_string_equal(json_string_value(json_array_get(nr, 0)), "GBR");
        assert_string_equal(json_string_value(json_array_get(nr, 1)), "NOR");
        json_decref(staffing);

        /* A newer state of the nation that left still lands (as unlisted). */
        tecg_nation_state_t *bel = state_new("BEL", 2);
        set_personnel(bel, TECG_ROLE_TRAINER, 20);
        write_state(f, bel);
        run_until_staffing(d, 3);
        staffing = stored(f, "staffing", 3);
        assert_int_equal(int_at(staffing, "total.in_iraq"), 77);
        assert_string_equal(status_of(staffing, "BEL"), "unlisted");
        json_decref(staffing);
        tecg_buf_free(&out);
        tecg_dashboards_destroy(d, 10000);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_follows_nation_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lone_changes_do_not_wait_for_the_interval,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_overdue_with_clock, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sinks_get_versions_the_topic_holds, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_fatal_consumer_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fatal_producer_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused_writes_are_not_fatal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_signs_every_version, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nations_list_reloaded, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
