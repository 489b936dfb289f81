/* Counting with corrections (consumers/aggregator/count.h, docs/design.md
 * §4.4) against a real id store, without Kafka: the records count.c hands
 * out play the tecg.event-ids partition, a "commit" writes the store's
 * overlay with the marker = records so far, an "abort" drops the overlay
 * and the records and goes back to the committed state, a "rebuild"
 * deletes the store and replays the records, a "catch-up" replays them
 * from a store's marker.
 *
 * Every case of the model: supersede and retract after and before the
 * target, duplicates, a second correction dead-lettered, a correction of
 * another type or of a legacy id refused, chains, a type mismatch, the
 * personnel fallback; and that abort, rebuild and catch-up give the same
 * records and counts as running straight through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "count.h"
#include "idstore.h"
#include "nation_state.h"

#define MAP (64u << 20)
#define P 1 /* the partition */
#define RECORDS_MAX 256

typedef struct {
        char id[TECG_EVENT_ID_MAX + 1];
        uint8_t value[TECG_ID_RECORD_MAX];
        size_t len;
} topic_record_t;

typedef struct {
        char dir[256];
        tecg_idstore_t *store;
        topic_record_t topic[RECORDS_MAX]; /* the event-ids partition */
        size_t ntopic, committed;
        tecg_nation_state_t *st, *st_committed;
        tecg_count_stats_t stats;
        const char *stage;
        char reason[512];
} fixture_t;

static void on_record(void *opaque, const char *nation, const char *event_id, const uint8_t *value,
                      size_t len) {
        fixture_t *f = opaque;
        assert_string_equal(nation, "NLD");
        assert_true(f->ntopic < RECORDS_MAX);
        topic_record_t *r = &f->topic[f->ntopic++];
        snprintf(r->id, sizeof(r->id), "%s", event_id);
        memcpy(r->value, value, len);
        r->len = len;
}

static void store_files_remove(const char *dir) {
        char path[300];
        snprintf(path, sizeof(path), "%s/data.mdb", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/lock.mdb", dir);
        unlink(path);
}

static tecg_idstore_t *store_open(const char *dir) {
        char err[256];
        tecg_idstore_t *s = tecg_idstore_open(dir, MAP, "t.event-ids", err, sizeof(err));
        if (!s)
                fail_msg("open %s: %s", dir, err);
        return s;
}

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof(f->dir), "%s/test-count-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        f->store = store_open(f->dir);
        f->st = tecg_nation_state_new("NLD");
        f->st_committed = tecg_nation_state_new("NLD");
        assert_non_null(f->st);
        assert_non_null(f->st_committed);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_idstore_close(f->store);
        store_files_remove(f->dir);
        rmdir(f->dir);
        tecg_nation_state_destroy(f->st);
        tecg_nation_state_destroy(f->st_committed);
        free(f);
        return 0;
}

/* ---- events ---------------------------------------------------------- */

static int64_t day(int month, int d) {
        return ((int64_t)12784 + (month - 1) * 31 + d) * 86400000; /* 2005 */
}

static tecg_event_t base(tecg_event_type_t type, const char *id, int64_t at) {
        tecg_event_t e;
        memset(&e, 0, sizeof(e));
        e.type = type;
        snprintf(e.event_id, sizeof(e.event_id), "%s", id);
        memcpy(e.nation, "NLD", 4);
        e.occurred_at_ms = at;
        return e;
}

static tecg_event_t pledge(const char *id, int64_t minor, const char *supersedes) {
        tecg_event_t e = base(TECG_EV_FUNDING, id, day(2, 1));
        e.u.funding.amount_minor = minor;
        memcpy(e.u.funding.currency, "EUR", 4);
        e.u.funding.channel = TECG_CH_TRUST_FUND;
        e.u.funding.stage = TECG_FS_PLEDGED;
        snprintf(e.supersedes, sizeof(e.supersedes), "%s", supersedes ? supersedes : "");
        return e;
}

static tecg_event_t vehicles(const char *id, const char *supersedes) {
        tecg_event_t e = base(TECG_EV_EQUIPMENT, id, day(2, 2));
        e.u.equipment.item = "Land Rover";
        e.u.equipment.category = TECG_CAT_VEHICLES;
        e.u.equipment.quantity = 4;
        e.u.equipment.stage = TECG_ES_OFFERED;
        snprintf(e.supersedes, sizeof(e.supersedes), "%s", supersedes ? supersedes : "");
        return e;
}

static tecg_event_t trainers(const char *id, int64_t at, int32_t headcount) {
        tecg_event_t e = base(TECG_EV_PERSONNEL, id, at);
        e.u.personnel.role = TECG_ROLE_TRAINER;
        e.u.personnel.location = TECG_LOC_IN_IRAQ;
        e.u.personnel.headcount = headcount;
        return e;
}

static tecg_event_t retraction(const char *id, const char *target, tecg_event_type_t type) {
        tecg_event_t e = base(TECG_EV_RETRACTION, id, day(3, 1));
        snprintf(e.u.retraction.retracts, sizeof(e.u.retraction.retracts), "%s", target);
        e.u.retraction.retracts_type = type;
        e.u.retraction.reason = "reported ten times the amount";
        return e;
}

/* ---- driving --------------------------------------------------------- */

static tecg_count_result_t count(fixture_t *f, const tecg_event_t *ev) {
        tecg_count_ctx_t c = {.store = f->store,
                              .partition = P,
                              .on_record = on_record,
                              .opaque = f,
                              .stats = &f->stats};
        f->reason[0] = '\0';
        tecg_count_result_t res =
                tecg_count_event(&c, &f->st, ev, &f->stage, f->reason, sizeof(f->reason));
        assert_int_not_equal(res, TECG_COUNT_FAILED);
        return res;
}

static void counted(fixture_t *f, const tecg_event_t *ev) {
        tecg_count_result_t res = count(f, ev);
        if (res != TECG_COUNTED)
                fail_msg("%s: result %d (%s: %s)", ev->event_id, (int)res, f->stage, f->reason);
}

/* Refused at `stage` with a reason containing `why`, nothing written. */
static void refused(fixture_t *f, const tecg_event_t *ev, const char *stage, const char *why) {
        size_t before = f->ntopic;
        uint64_t events = f->st->events;
        assert_int_equal(count(f, ev), TECG_REFUSED);
        assert_string_equal(f->stage, stage);
        if (!strstr(f->reason, why))
                fail_msg("%s: \"%s\" does not say \"%s\"", ev->event_id, f->reason, why);
        assert_int_equal(f->ntopic, before);
        assert_int_equal(f->st->events, events);
}

static void commit(fixture_t *f) {
        char err[256];
        int32_t p = P;
        int64_t marker = (int64_t)f->ntopic;
        if (tecg_idstore_commit(f->store, &p, &marker, 1, err, sizeof(err)))
                fail_msg("commit: %s", err);
        f->committed = f->ntopic;
        tecg_nation_state_destroy(f->st_committed);
        f->st_committed = tecg_nation_state_dup(f->st);
        assert_non_null(f->st_committed);
}

static void abort_txn(fixture_t *f) {
        tecg_idstore_abort(f->store);
        f->ntopic = f->committed;
        tecg_nation_state_destroy(f->st);
        f->st = tecg_nation_state_dup(f->st_committed);
        assert_non_null(f->st);
}

/* What a restore does with event-ids records from `from` on. */
static void replay(fixture_t *f, tecg_idstore_t *s, size_t from) {
        char err[256];
        for (size_t i = from; i < f->committed; i++) {
                tecg_id_record_t rec;
                if (tecg_id_record_decode(f->topic[i].value, f->topic[i].len, "NLD", f->topic[i].id,
                                          &rec, err, sizeof(err)) ||
                    tecg_idstore_put(s, P, "NLD", f->topic[i].id, &rec, err, sizeof(err)))
                        fail_msg("replay %zu: %s", i, err);
        }
        int32_t p = P;
        int64_t marker = (int64_t)f->committed;
        if (tecg_idstore_commit(s, &p, &marker, 1, err, sizeof(err)))
                fail_msg("replay commit: %s", err);
}

static tecg_id_status_t status_of(fixture_t *f, const char *id, char *by) {
        char err[256];
        tecg_id_record_t rec;
        int got = tecg_idstore_get(f->store, P, "NLD", id, &rec, err, sizeof(err));
        if (got < 0)
                fail_msg("get %s: %s", id, err);
        if (!got)
                return 0;
        if (by)
                strcpy(by, rec.by);
        return rec.status;
}

static void assert_status(fixture_t *f, const char *id, tecg_id_status_t want, const char *by) {
        char got_by[TECG_EVENT_ID_MAX + 1] = "";
        tecg_id_status_t got = status_of(f, id, got_by);
        if (got != want || (by && strcmp(got_by, by) != 0))
                fail_msg("%s: %s by \"%s\", want %s by \"%s\"", id,
                         got ? tecg_id_status_names[got] : "(none)", got_by,
                         tecg_id_status_names[want], by ? by : "");
}

/* The pledged EUR trust fund total (0 when the cell is gone). */
static int64_t pledged(const fixture_t *f) {
        for (size_t i = 0; i < f->st->nfunding; i++)
                if (f->st->funding[i].channel == TECG_CH_TRUST_FUND &&
                    f->st->funding[i].stage == TECG_FS_PLEDGED &&
                    strcmp(f->st->funding[i].currency, "EUR") == 0)
                        return f->st->funding[i].amount_minor;
        return 0;
}

static const tecg_correction_t *note_of(const fixture_t *f, const char *id) {
        for (size_t i = 0; i < f->st->nrecent_corrections; i++)
                if (strcmp(f->st->recent_corrections[i].event_id, id) == 0)
                        return &f->st->recent_corrections[i];
        fail_msg("no correction note of %s", id);
        return NULL;
}

/* ---- the cases ------------------------------------------------------- */

/* 8,100,000.00 reported, 810,000.00 meant: the replacement counts, the
 * first is superseded, the note says what changed. */
static void test_supersede_after_target(void **state) {
        fixture_t *f = *state;
        tecg_event_t f1 = pledge("f1", 810000000, NULL), f1b = pledge("f1b", 81000000, "f1");
        counted(f, &f1);
        commit(f);
        counted(f, &f1b);
        assert_int_equal(pledged(f), 81000000);
        assert_int_equal(f->st->events, 2);
        assert_int_equal(f->st->supersessions, 1);
        assert_status(f, "f1", TECG_ID_SUPERSEDED, "f1b");
        assert_status(f, "f1b", TECG_ID_ACTIVE, NULL);
        const tecg_correction_t *n = note_of(f, "f1b");
        assert_string_equal(n->target_id, "f1");
        assert_int_equal(n->kind, TECG_CORR_SUPERSEDE);
        assert_true(n->before[0] && n->after[0] && strcmp(n->before, n->after) != 0);
        assert_int_equal(f->stats.applied, 1);
        /* event-ids: f1 counted, f1 superseded, f1b counted. */
        assert_int_equal(f->ntopic, 3);
        assert_string_equal(f->topic[1].id, "f1");
        assert_string_equal(f->topic[2].id, "f1b");
}

/* The replacement first: the target arrives superseded, counts as an
 * event but not its amount, and the note learns what it was. */
static void test_supersede_before_target(void **state) {
        fixture_t *f = *state;
        tecg_event_t f1 = pledge("f1", 810000000, NULL), f1b = pledge("f1b", 81000000, "f1");
        counted(f, &f1b);
        assert_status(f, "f1", TECG_ID_PENDING_SUPERSEDE, "f1b");
        assert_string_equal(note_of(f, "f1b")->before, "");
        commit(f);
        counted(f, &f1);
        assert_int_equal(pledged(f), 81000000);
        assert_int_equal(f->st->events, 2);
        assert_int_equal(f->st->supersessions, 1);
        assert_status(f, "f1", TECG_ID_SUPERSEDED, "f1b");
        assert_true(note_of(f, "f1b")->before[0]);
        assert_int_equal(f->stats.pending, 1);
        assert_int_equal(f->stats.resolved, 1);
}

static void test_retract_after_and_before_target(void **state) {
        fixture_t *f = *state;
        tecg_event_t f1 = pledge("f1", 500, NULL), f2 = pledge("f2", 70, NULL);
        tecg_event_t r1 = retraction("r1", "f1", TECG_EV_FUNDING);
        tecg_event_t r2 = retraction("r2", "f2", TECG_EV_FUNDING);
        counted(f, &f1);
        counted(f, &r1); /* after its target */
        counted(f, &r2); /* before its target */
        commit(f);
        counted(f, &f2);
        assert_int_equal(pledged(f), 0);
        assert_int_equal(f->st->events, 4); /* retractions count as events */
        assert_int_equal(f->st->retractions, 2);
        assert_int_equal(f->st->supersessions, 0);
        assert_status(f, "f1", TECG_ID_RETRACTED, "r1");
        assert_status(f, "f2", TECG_ID_RETRACTED, "r2");
        assert_status(f, "r1", TECG_ID_RETRACTION, "f1");
        assert_int_equal(note_of(f, "r1")->kind, TECG_CORR_RETRACT);
        assert_string_equal(note_of(f, "r1")->after, "");
        assert_int_equal(f->stats.applied, 1);
        assert_int_equal(f->stats.pending, 1);
        assert_int_equal(f->stats.resolved, 1);
}

/* Every id counts once, whatever it carries the second time. */
static void test_duplicates(void **state) {
        fixture_t *f = *state;
        tecg_event_t f1 = pledge("f1", 500, NULL), f1b = pledge("f1b", 50, "f1");
        tecg_event_t r1 = retraction("r1", "f1b", TECG_EV_FUNDING);
        counted(f, &f1);
        counted(f, &f1b);
        counted(f, &r1);
        commit(f);
        size_t n = f->ntopic;
        tecg_event_t again[] = {f1, f1b, r1, pledge("f1", 9, NULL), pledge("r1", 9, NULL)};
        for (size_t i = 0; i < sizeof(again) / sizeof(again[0]); i++)
                assert_int_equal(count(f, &again[i]), TECG_DUPLICATE);
        assert_int_equal(f->ntopic, n);
        assert_int_equal(f->st->events, 3);
        assert_int_equal(pledged(f), 0);
}

/* A target is taken back once: later corrections are dead-lettered with
 * the one that got there first, and change nothing. */
static void test_second_correction_refused(void **state) {
        fixture_t *f = *state;
        tecg_event_t f1 = pledge("f1", 500, NULL), f1b = pledge("f1b", 50, "f1");
        counted(f, &f1);
        counted(f, &f1b);
        tecg_event_t f1c = pledge("f1c", 5, "f1");
        refused(f, &f1c, "correction", "supersedes f1, which was already superseded by f1b");
        tecg_event_t r = retraction("r", "f1", TECG_EV_FUNDING);
        refused(f, &r, "correction", "retracts f1, which was already superseded by f1b");
        /* Claimed before it arrived. */
        tecg_event_t rx = retraction("rx", "x", TECG_EV_FUNDING), fx = pledge("fx", 1, "x");
        counted(f, &rx);
        refused(f, &fx, "correction", "supersedes x, which was already retracted by rx");
        assert_int_equal(f->stats.refused[TECG_CORR_REFUSED_ALREADY], 3);
        assert_int_equal(pledged(f), 50);
        /* Refused, not counted: the same id sent again, fixed, counts. */
        tecg_event_t f1c_fixed = pledge("f1c", 5, "f1b");
        counted(f, &f1c_fixed);
        assert_int_equal(pledged(f), 5);
}

static void test_other_type_refused(void **state) {
        fixture_t *f = *state;
        tecg_event_t f1 = pledge("f1", 500, NULL), e1 = vehicles("e1", "f1");
        counted(f, &f1);
        refused(f, &e1, "correction",
                "supersedes f1, a funding event; an equipment event can only supersede one of "
                "its own type");
        tecg_event_t r = retraction("r", "f1", TECG_EV_TRAINING);
        refused(f, &r, "correction", "retracts f1, a funding event; retracts_type says training");
        tecg_event_t r2 = retraction("r2", "f1", TECG_EV_FUNDING),
                     r3 = retraction("r3", "r2", TECG_EV_FUNDING);
        counted(f, &r2);
        refused(f, &r3, "correction", "retracts r2, a retraction");
        assert_int_equal(f->stats.refused[TECG_CORR_REFUSED_TYPE], 3);
}

/* An id counted before corrections existed (the old event-ids value, a
 * decimal offset) has no effect to take back. */
static void test_legacy_refused(void **state) {
        fixture_t *f = *state;
        char err[256];
        tecg_id_record_t old;
        assert_int_equal(tecg_id_record_decode("17", 2, "NLD", "old", &old, err, sizeof(err)),
                         TECG_OK);
        assert_int_equal(tecg_idstore_put(f->store, P, "NLD", "old", &old, err, sizeof(err)),
                         TECG_OK);
        commit(f);
        tecg_event_t r = retraction("r", "old", TECG_EV_FUNDING), o = pledge("old", 1, NULL);
        refused(f, &r, "correction",
                "retracts old, which was counted before corrections existed: its effect is "
                "unknown");
        assert_int_equal(count(f, &o), TECG_DUPLICATE);
        assert_int_equal(f->stats.refused[TECG_CORR_REFUSED_LEGACY], 1);
}

/* Retracting a replacement takes its effect back; what it replaced stays
 * replaced. In order, and with the retraction first. */
static void test_chains(void **state) {
        fixture_t *f = *state;
        tecg_event_t f1 = pledge("f1", 500, NULL), f1b = pledge("f1b", 50, "f1");
        tecg_event_t r = retraction("r", "f1b", TECG_EV_FUNDING);
        counted(f, &f1);
        counted(f, &f1b);
        counted(f, &r);
        assert_int_equal(pledged(f), 0);
        assert_status(f, "f1", TECG_ID_SUPERSEDED, "f1b");
        assert_status(f, "f1b", TECG_ID_RETRACTED, "r");

        tecg_event_t g1 = pledge("g1", 300, NULL), g1b = pledge("g1b", 30, "g1");
        tecg_event_t rg = retraction("rg", "g1b", TECG_EV_FUNDING);
        counted(f, &g1);
        counted(f, &rg); /* g1b not there yet */
        commit(f);
        counted(f, &g1b); /* supersedes g1, and is retracted itself */
        assert_int_equal(pledged(f), 0);
        assert_status(f, "g1", TECG_ID_SUPERSEDED, "g1b");
        assert_status(f, "g1b", TECG_ID_RETRACTED, "rg");
        assert_int_equal(f->st->supersessions, 2);
        assert_int_equal(f->st->retractions, 2);
        assert_int_equal(f->st->events, 6);
}

/* A correction that expected another type does not apply to what
 * arrives: it counts as it is. */
static void test_type_mismatch_counts(void **state) {
        fixture_t *f = *state;
        tecg_event_t r = retraction("r", "x", TECG_EV_EQUIPMENT), x = pledge("x", 40, NULL);
        counted(f, &r);
        counted(f, &x);
        assert_int_equal(pledged(f), 40);
        assert_int_equal(f->stats.mismatched, 1);
        assert_status(f, "x", TECG_ID_ACTIVE, NULL);
}

/* A taken-back report falls back to the latest remaining one of its
 * (role, location), from the store and from the open batch. */
static void test_personnel_fallback(void **state) {
        fixture_t *f = *state;
        tecg_event_t p1 = trainers("p1", day(1, 10), 10), p2 = trainers("p2", day(3, 20), 20);
        tecg_event_t p3 = trainers("p3", day(3, 5), 15);
        counted(f, &p1);
        counted(f, &p2);
        commit(f);
        counted(f, &p3); /* older than p2: not the winner */
        const tecg_strength_t *s = &f->st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ];
        assert_int_equal(s->headcount, 20);
        tecg_event_t r2 = retraction("r2", "p2", TECG_EV_PERSONNEL);
        counted(f, &r2);
        s = &f->st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ];
        assert_string_equal(s->event_id, "p3");
        assert_int_equal(s->headcount, 15);
        commit(f);
        tecg_event_t p3b = trainers("p3b", day(3, 6), 16);
        snprintf(p3b.supersedes, sizeof(p3b.supersedes), "p3");
        counted(f, &p3b);
        s = &f->st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ];
        assert_string_equal(s->event_id, "p3b");
        assert_int_equal(s->headcount, 16);
        tecg_event_t r3 = retraction("r3", "p3b", TECG_EV_PERSONNEL);
        counted(f, &r3);
        s = &f->st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ];
        assert_string_equal(s->event_id, "p1");
        assert_int_equal(s->headcount, 10);
        tecg_event_t r1 = retraction("r1", "p1", TECG_EV_PERSONNEL);
        counted(f, &r1);
        s = &f->st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ];
        assert_false(s->reported);
}

/* An aborted batch leaves nothing in the store: its ids count again, its
 * corrections never happened. */
static void test_abort_drops_the_batch(void **state) {
        fixture_t *f = *state;
        tecg_event_t f1 = pledge("f1", 500, NULL), f2 = pledge("f2", 7, NULL);
        tecg_event_t f1b = pledge("f1b", 50, "f1");
        counted(f, &f1);
        commit(f);
        counted(f, &f2);
        counted(f, &f1b);
        assert_status(f, "f1", TECG_ID_SUPERSEDED, "f1b");
        abort_txn(f);
        assert_status(f, "f1", TECG_ID_ACTIVE, NULL);
        assert_int_equal(status_of(f, "f2", NULL), 0);
        assert_int_equal(status_of(f, "f1b", NULL), 0);
        counted(f, &f2);
        counted(f, &f1b);
        assert_int_equal(pledged(f), 57);
}

/* The store rebuilt from event-ids (deleted), or caught up from its
 * marker, holds what it held running straight through, and counting goes
 * on the same: a pending correction still catches its target. */
static void test_rebuild_and_catch_up(void **state) {
        fixture_t *f = *state;
        tecg_event_t evs[] = {pledge("f1", 500, NULL), pledge("f1b", 50, "f1"),
                              retraction("rx", "x", TECG_EV_FUNDING), trainers("p1", day(1, 1), 3),
                              trainers("p2", day(2, 1), 4)};
        counted(f, &evs[0]);
        counted(f, &evs[1]);
        commit(f);
        size_t half = f->committed;
        counted(f, &evs[2]);
        counted(f, &evs[3]);
        counted(f, &evs[4]);
        commit(f);
        static const char *const ids[] = {"f1", "f1b", "rx", "x", "p1", "p2"};
        tecg_id_status_t want[6];
        for (size_t i = 0; i < 6; i++)
                want[i] = status_of(f, ids[i], NULL);

        /* Deleted: rebuilt from the start of the topic. */
        tecg_idstore_close(f->store);
        store_files_remove(f->dir);
        f->store = store_open(f->dir);
        assert_int_equal(tecg_idstore_marker(f->store, P), -1);
        replay(f, f->store, 0);
        for (size_t i = 0; i < 6; i++)
                assert_int_equal(status_of(f, ids[i], NULL), want[i]);
        assert_int_equal(tecg_idstore_marker(f->store, P), (int64_t)f->committed);

        /* Behind: a store that saw the first half catches up from its
         * marker. */
        tecg_idstore_close(f->store);
        store_files_remove(f->dir);
        f->store = store_open(f->dir);
        size_t all = f->committed;
        f->committed = half;
        replay(f, f->store, 0);
        f->committed = all;
        assert_int_equal(tecg_idstore_marker(f->store, P), (int64_t)half);
        assert_int_equal(status_of(f, "rx", NULL), 0);
        replay(f, f->store, (size_t)tecg_idstore_marker(f->store, P));
        for (size_t i = 0; i < 6; i++)
                assert_int_equal(status_of(f, ids[i], NULL), want[i]);

        /* And the personnel index came back with the records. */
        tecg_event_t r = retraction("r", "p2", TECG_EV_PERSONNEL), x = pledge("x", 9, NULL);
        counted(f, &r);
        assert_int_equal(f->st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ].headcount, 3);
        counted(f, &x);
        assert_status(f, "x", TECG_ID_RETRACTED, "rx");
        assert_int_equal(pledged(f), 50);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_supersede_after_target),
                T(test_supersede_before_target),
                T(test_retract_after_and_before_target),
                T(test_duplicates),
                T(test_second_correction_refused),
                T(test_other_type_refused),
                T(test_legacy_refused),
                T(test_chains),
                T(test_type_mismatch_counts),
                T(test_personnel_fallback),
                T(test_abort_drops_the_batch),
                T(test_rebuild_and_catch_up),
        };
#undef T
        return cmocka_run_group_tests(tests, NULL, NULL);
}
