/* The id record codec and the LMDB id store (consumers/aggregator/idstore.h):
 * records round-trip and every broken byte is refused; the overlay answers
 * before commit, abort drops it, commit writes it with the markers and
 * survives a reopen; the personnel index finds the latest ACTIVE report;
 * another owner's store is emptied; wipe forgets one partition only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "idstore.h"

#define MAP (64u << 20)

static tecg_event_t effect(tecg_event_type_t type, const char *id, int64_t at) {
        tecg_event_t e;
        memset(&e, 0, sizeof(e));
        e.type = type;
        snprintf(e.event_id, sizeof(e.event_id), "%s", id);
        memcpy(e.nation, "NLD", 4);
        e.occurred_at_ms = at;
        e.utc_offset_min = -90;
        switch (type) {
        case TECG_EV_FUNDING:
                e.u.funding.amount_minor = 810000000;
                memcpy(e.u.funding.currency, "EUR", 4);
                e.u.funding.channel = TECG_CH_BILATERAL;
                e.u.funding.stage = TECG_FS_DISBURSED;
                break;
        case TECG_EV_EQUIPMENT:
                e.u.equipment.category = TECG_CAT_MEDICAL;
                e.u.equipment.quantity = 12;
                e.u.equipment.has_value = true;
                e.u.equipment.value_minor = 0;
                memcpy(e.u.equipment.currency, "USD", 4);
                e.u.equipment.stage = TECG_ES_DELIVERED;
                break;
        case TECG_EV_PERSONNEL:
                e.u.personnel.role = TECG_ROLE_MENTOR;
                e.u.personnel.location = TECG_LOC_OUTSIDE_IRAQ;
                e.u.personnel.headcount = 0;
                break;
        default:
                e.u.training.level = TECG_LVL_MIDDLE;
                e.u.training.location = TECG_LOC_IN_IRAQ;
                e.u.training.trainees = 25;
                break;
        }
        return e;
}

static tecg_id_record_t active(tecg_event_type_t type, const char *id, int64_t at) {
        tecg_id_record_t r = {.status = TECG_ID_ACTIVE, .type = type, .has_effect = true};
        r.effect = effect(type, id, at);
        return r;
}

static void assert_same(const tecg_id_record_t *a, const tecg_id_record_t *b) {
        assert_int_equal(a->status, b->status);
        assert_string_equal(a->by, b->by);
        assert_int_equal(a->has_effect, b->has_effect);
        if (a->status != TECG_ID_LEGACY)
                assert_int_equal(a->type, b->type);
        if (a->has_effect)
                assert_memory_equal(&a->effect, &b->effect, sizeof(a->effect));
}

static void roundtrip(const tecg_id_record_t *r) {
        uint8_t buf[TECG_ID_RECORD_MAX];
        char err[256];
        tecg_id_record_t back;
        size_t n = tecg_id_record_encode(r, buf);
        assert_true(n > 0 && n <= TECG_ID_RECORD_MAX);
        if (tecg_id_record_decode(buf, n, "NLD", r->has_effect ? r->effect.event_id : "x", &back,
                                  err, sizeof(err)))
                fail_msg("decode: %s", err);
        assert_same(r, &back);
        /* Every shorter prefix and one byte more are refused. */
        for (size_t cut = 0; cut < n; cut++)
                assert_int_equal(
                        tecg_id_record_decode(buf, cut, "NLD", "x", &back, err, sizeof(err)),
                        TECG_ERR_INVALID);
        buf[n] = 0;
        assert_int_equal(tecg_id_record_decode(buf, n + 1, "NLD", "x", &back, err, sizeof(err)),
                         TECG_ERR_INVALID);
}

static void test_record_roundtrip(void **state) {
        (void)state;
        for (tecg_event_type_t t = 0; t < TECG_EV__COUNTED; t++) {
                tecg_id_record_t r = active(t, "NLD-1", -86400000);
                roundtrip(&r);
                r.status = TECG_ID_SUPERSEDED;
                snprintf(r.by, sizeof(r.by), "NLD-1b");
                roundtrip(&r);
                r.status = TECG_ID_RETRACTED;
                roundtrip(&r);
                tecg_id_record_t p = {.status = TECG_ID_PENDING_RETRACT, .type = t};
                snprintf(p.by, sizeof(p.by), "NLD-r:9");
                roundtrip(&p);
                p.status = TECG_ID_PENDING_SUPERSEDE;
                roundtrip(&p);
        }
        tecg_id_record_t eq = active(TECG_EV_EQUIPMENT, "e", 1);
        eq.effect.u.equipment.has_value = false;
        memset(eq.effect.u.equipment.currency, 0, sizeof(eq.effect.u.equipment.currency));
        roundtrip(&eq);
        tecg_id_record_t rr = {.status = TECG_ID_RETRACTION, .type = TECG_EV_RETRACTION};
        snprintf(rr.by, sizeof(rr.by), "%s",
                 "a234567890123456789012345678901234567890123456789012345678901234");
        roundtrip(&rr);
        tecg_id_record_t legacy = {.status = TECG_ID_LEGACY};
        roundtrip(&legacy);
}

/* The value written before records existed: the decimal input offset. */
static void test_record_legacy_value(void **state) {
        (void)state;
        tecg_id_record_t r;
        char err[256];
        assert_int_equal(tecg_id_record_decode("0", 1, "NLD", "a", &r, err, sizeof(err)), TECG_OK);
        assert_int_equal(r.status, TECG_ID_LEGACY);
        assert_int_equal(
                tecg_id_record_decode("18446744073709551615", 20, "NLD", "a", &r, err, sizeof(err)),
                TECG_OK);
        assert_int_equal(r.status, TECG_ID_LEGACY);
        assert_int_equal(tecg_id_record_decode("123456789012345678901", 21, "NLD", "a", &r, err,
                                               sizeof(err)),
                         TECG_ERR_INVALID);
        assert_int_equal(tecg_id_record_decode("12a", 3, "NLD", "a", &r, err, sizeof(err)),
                         TECG_ERR_INVALID);
        assert_int_equal(tecg_id_record_decode("", 0, "NLD", "a", &r, err, sizeof(err)),
                         TECG_ERR_INVALID);
}

/* Each rule of the codec, broken one at a time in a valid encoding. */
static void test_record_refusals(void **state) {
        (void)state;
        char err[256];
        tecg_id_record_t r = active(TECG_EV_FUNDING, "f", 5), back;
        uint8_t good[TECG_ID_RECORD_MAX], buf[TECG_ID_RECORD_MAX];
        size_t n = tecg_id_record_encode(&r, good);
        assert_true(n > 0);
        /* layout: version, status, type, by_len(0), has_effect, be64 at, be32 off,
         * be64 amount, currency[3], channel, stage */
        static const struct {
                size_t at;
                uint8_t value;
                const char *why;
        } spoil[] = {
                {0, 2, "unknown record version"},
                {1, 0, "status out of range"},
                {1, 8, "status out of range"},
                {1, TECG_ID_LEGACY, "status has no effect"},
                {1, TECG_ID_SUPERSEDED, "needs the correcting id"},
                {2, TECG_EV_RETRACTION, "effect type out of range"},
                {2, TECG_EV_TRAINING, "length does not fit"},
                {4, 2, "has_effect is not 0 or 1"},
                {5 + 8, 0x7f, "utc offset out of range"},
                {5 + 12, 0x80, "amount must be > 0"},
                {5 + 20, 'e', "currency must be 3 upper-case letters"},
                {5 + 23, TECG_CH__COUNT, "funding enum out of range"},
                {5 + 24, TECG_FS__COUNT, "funding enum out of range"},
        };
        for (size_t i = 0; i < sizeof(spoil) / sizeof(spoil[0]); i++) {
                memcpy(buf, good, n);
                buf[spoil[i].at] = spoil[i].value;
                if (tecg_id_record_decode(buf, n, "NLD", "f", &back, err, sizeof(err)) !=
                    TECG_ERR_INVALID)
                        fail_msg("spoil %zu (%s) accepted", i, spoil[i].why);
                if (!strstr(err, spoil[i].why))
                        fail_msg("spoil %zu: \"%s\" does not say \"%s\"", i, err, spoil[i].why);
        }
        /* A correcting id that breaks the id rule; an ACTIVE one with an id. */
        tecg_id_record_t p = {.status = TECG_ID_PENDING_RETRACT, .type = TECG_EV_FUNDING};
        snprintf(p.by, sizeof(p.by), "ok");
        n = tecg_id_record_encode(&p, buf);
        buf[4] = ' ';
        assert_int_equal(tecg_id_record_decode(buf, n, "NLD", "x", &back, err, sizeof(err)),
                         TECG_ERR_INVALID);
        /* Encoding refuses what decoding would. */
        p.by[0] = '\0';
        assert_int_equal(tecg_id_record_encode(&p, buf), 0);
        tecg_id_record_t bad = active(TECG_EV_TRAINING, "t", 1);
        bad.effect.u.training.trainees = 0;
        assert_int_equal(tecg_id_record_encode(&bad, buf), 0);
        bad = active(TECG_EV_PERSONNEL, "p", 1);
        bad.has_effect = false;
        assert_int_equal(tecg_id_record_encode(&bad, buf), 0);
}

/* ---- the store ------------------------------------------------------- */

typedef struct {
        char dir[256];
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof(f->dir), "%s/test-idstore-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        char path[300];
        snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/lock.mdb", f->dir);
        unlink(path);
        rmdir(f->dir);
        free(f);
        return 0;
}

static tecg_idstore_t *open_store(const fixture_t *f, const char *owner) {
        char err[256];
        tecg_idstore_t *s = tecg_idstore_open(f->dir, MAP, owner, err, sizeof(err));
        if (!s)
                fail_msg("open: %s", err);
        return s;
}

static int get(tecg_idstore_t *s, int32_t p, const char *id, tecg_id_record_t *out) {
        char err[256];
        int got = tecg_idstore_get(s, p, "NLD", id, out, err, sizeof(err));
        if (got < 0)
                fail_msg("get %s: %s", id, err);
        return got;
}

static void put(tecg_idstore_t *s, int32_t p, const tecg_id_record_t *r) {
        char err[256];
        if (tecg_idstore_put(s, p, "NLD", r->effect.event_id, r, err, sizeof(err)))
                fail_msg("put: %s", err);
}

static void commit(tecg_idstore_t *s, int32_t p, int64_t marker) {
        char err[256];
        if (tecg_idstore_commit(s, &p, &marker, 1, err, sizeof(err)))
                fail_msg("commit: %s", err);
}

/* The overlay answers before the commit; abort forgets it; commit keeps
 * it, with the marker, across a reopen. */
static void test_overlay_abort_commit(void **state) {
        fixture_t *f = *state;
        tecg_idstore_t *s = open_store(f, "t.event-ids");
        tecg_id_record_t r = active(TECG_EV_FUNDING, "f1", 1000), got;
        assert_int_equal(tecg_idstore_marker(s, 2), -1);
        put(s, 2, &r);
        assert_int_equal(get(s, 2, "f1", &got), 1);
        assert_same(&r, &got);
        assert_int_equal(get(s, 1, "f1", &got), 0); /* partitions are apart */
        tecg_idstore_abort(s);
        assert_int_equal(tecg_idstore_pending(s), 0);
        assert_int_equal(get(s, 2, "f1", &got), 0);

        put(s, 2, &r);
        r.status = TECG_ID_SUPERSEDED; /* a later put of the same id wins */
        snprintf(r.by, sizeof(r.by), "f1b");
        put(s, 2, &r);
        assert_int_equal(tecg_idstore_pending(s), 1);
        commit(s, 2, 42);
        assert_int_equal(tecg_idstore_pending(s), 0);
        assert_int_equal(tecg_idstore_marker(s, 2), 42);
        uint64_t ids, bytes;
        tecg_idstore_stats(s, &ids, &bytes);
        assert_int_equal(ids, 1);
        assert_true(bytes > 0);
        tecg_idstore_close(s);

        s = open_store(f, "t.event-ids");
        assert_int_equal(get(s, 2, "f1", &got), 1);
        assert_same(&r, &got);
        assert_int_equal(tecg_idstore_marker(s, 2), 42);
        tecg_idstore_close(s);

        /* Another owner (topic.prefix): emptied. */
        s = open_store(f, "u.event-ids");
        assert_int_equal(get(s, 2, "f1", &got), 0);
        assert_int_equal(tecg_idstore_marker(s, 2), -1);
        tecg_idstore_close(s);
}

static int latest(tecg_idstore_t *s, int32_t p, int64_t from, int64_t to, const char *exclude,
                  tecg_event_t *out) {
        char err[256];
        int got =
                tecg_idstore_personnel_latest(s, p, "NLD", TECG_ROLE_MENTOR, TECG_LOC_OUTSIDE_IRAQ,
                                              from, to, exclude, out, err, sizeof(err));
        if (got < 0)
                fail_msg("personnel_latest: %s", err);
        return got;
}

/* The fallback of a taken-back report: the latest ACTIVE one left, from
 * the store and the overlay, in a time range, ties by event_id. */
static void test_personnel_latest(void **state) {
        fixture_t *f = *state;
        tecg_idstore_t *s = open_store(f, "t.event-ids");
        tecg_event_t out;
        tecg_id_record_t a = active(TECG_EV_PERSONNEL, "p-a", -5000);
        tecg_id_record_t b = active(TECG_EV_PERSONNEL, "p-b", 3000);
        tecg_id_record_t c = active(TECG_EV_PERSONNEL, "p-c", 3000); /* same time, greater id */
        tecg_id_record_t d = active(TECG_EV_PERSONNEL, "p-d", 9000);
        d.effect.u.personnel.role = TECG_ROLE_STAFF; /* another (role, location) */
        put(s, 0, &a);
        put(s, 0, &b);
        put(s, 0, &d);
        commit(s, 0, 3);
        assert_int_equal(latest(s, 0, INT64_MIN, INT64_MAX, NULL, &out), 1);
        assert_string_equal(out.event_id, "p-b");
        assert_int_equal(latest(s, 1, INT64_MIN, INT64_MAX, NULL, &out), 0);
        assert_int_equal(latest(s, 0, INT64_MIN, 2999, NULL, &out), 1);
        assert_string_equal(out.event_id, "p-a");
        assert_int_equal(out.occurred_at_ms, -5000);
        assert_int_equal(latest(s, 0, -4999, 2999, NULL, &out), 0);
        assert_int_equal(latest(s, 0, INT64_MIN, INT64_MAX, "p-b", &out), 1);
        assert_string_equal(out.event_id, "p-a");

        /* In the overlay: c wins the tie; b retracted (overlay) is skipped. */
        put(s, 0, &c);
        assert_int_equal(latest(s, 0, INT64_MIN, INT64_MAX, NULL, &out), 1);
        assert_string_equal(out.event_id, "p-c");
        tecg_id_record_t gone = c;
        gone.status = TECG_ID_RETRACTED;
        snprintf(gone.by, sizeof(gone.by), "r1");
        put(s, 0, &gone);
        gone = b;
        gone.status = TECG_ID_RETRACTED;
        snprintf(gone.by, sizeof(gone.by), "r2");
        put(s, 0, &gone);
        assert_int_equal(latest(s, 0, INT64_MIN, INT64_MAX, NULL, &out), 1);
        assert_string_equal(out.event_id, "p-a");
        /* Committed, the index follows the records. */
        commit(s, 0, 5);
        assert_int_equal(latest(s, 0, INT64_MIN, INT64_MAX, NULL, &out), 1);
        assert_string_equal(out.event_id, "p-a");
        assert_int_equal(latest(s, 0, INT64_MIN, INT64_MAX, "p-a", &out), 0);
        tecg_idstore_close(s);
}

/* Wipe forgets one partition: its records, index and marker. */
static void test_wipe(void **state) {
        fixture_t *f = *state;
        char err[256];
        tecg_idstore_t *s = open_store(f, "t.event-ids");
        tecg_id_record_t p = active(TECG_EV_PERSONNEL, "p", 1), q = active(TECG_EV_FUNDING, "q", 1);
        tecg_id_record_t got;
        tecg_event_t out;
        put(s, 0, &p);
        put(s, 0, &q);
        put(s, 1, &q);
        int32_t ps[2] = {0, 1};
        int64_t ms[2] = {7, 9};
        assert_int_equal(tecg_idstore_commit(s, ps, ms, 2, err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_idstore_wipe(s, 0, err, sizeof(err)), TECG_OK);
        assert_int_equal(get(s, 0, "p", &got), 0);
        assert_int_equal(get(s, 0, "q", &got), 0);
        assert_int_equal(latest(s, 0, INT64_MIN, INT64_MAX, NULL, &out), 0);
        assert_int_equal(tecg_idstore_marker(s, 0), -1);
        assert_int_equal(get(s, 1, "q", &got), 1);
        assert_int_equal(tecg_idstore_marker(s, 1), 9);
        tecg_idstore_close(s);
}

/* ---- batch records (the compact form of event-ids) ------------------- */

typedef struct {
        char keys[64][80];
        tecg_id_record_t recs[64];
        size_t n;
} batch_seen_t;

static tecg_err_t batch_collect(void *opaque, const char *nation, const char *event_id,
                                const tecg_id_record_t *r, char *errstr, size_t errstr_size) {
        (void)errstr;
        (void)errstr_size;
        batch_seen_t *b = opaque;
        assert_true(b->n < 64);
        snprintf(b->keys[b->n], sizeof(b->keys[0]), "%s/%s", nation, event_id);
        b->recs[b->n++] = *r;
        return TECG_OK;
}

/* The overlay of one partition as batch records: every record once, in
 * order, other partitions left out; a small max_bytes splits it into
 * several records that together hold the same. */
static void test_batch_roundtrip(void **state) {
        fixture_t *f = *state;
        char err[256], id[16];
        tecg_idstore_t *s = open_store(f, "t.event-ids");
        tecg_id_record_t recs[20];
        for (int i = 0; i < 20; i++) {
                snprintf(id, sizeof(id), "e-%02d", i);
                recs[i] = active((tecg_event_type_t)(i % TECG_EV__COUNTED), id, 1000 + i);
                assert_int_equal(tecg_idstore_put(s, 3, "NLD", id, &recs[i], err, sizeof(err)),
                                 TECG_OK);
                assert_int_equal(tecg_idstore_put(s, 4, "DEU", id, &recs[i], err, sizeof(err)),
                                 TECG_OK);
        }
        /* A later put of the same id wins: one entry, the last record. */
        tecg_id_record_t sup = recs[0];
        sup.status = TECG_ID_SUPERSEDED;
        snprintf(sup.by, sizeof(sup.by), "e-99");
        assert_int_equal(tecg_idstore_put(s, 3, "NLD", "e-00", &sup, err, sizeof(err)), TECG_OK);
        recs[0] = sup;

        tecg_buf_t buf = TECG_BUF_INIT;
        size_t cursor = 0;
        size_t n = tecg_idstore_batch_next(s, 3, &cursor, 1 << 20, &buf);
        assert_int_equal(n, 20);
        static batch_seen_t seen;
        seen.n = 0;
        size_t count = 0;
        assert_int_equal(tecg_id_batch_decode(buf.data, buf.len, batch_collect, &seen, &count, err,
                                              sizeof(err)),
                         TECG_OK);
        assert_int_equal(count, 20);
        assert_int_equal(seen.n, 20);
        for (int i = 0; i < 20; i++) {
                snprintf(id, sizeof(id), "NLD/e-%02d", i);
                assert_string_equal(seen.keys[i], id);
                recs[i].effect.nation[0] = 'N'; /* the decoder fills it from the key */
                assert_same(&seen.recs[i], &recs[i]);
        }
        assert_int_equal(tecg_idstore_batch_next(s, 3, &cursor, 1 << 20, &buf), 0);
        assert_int_equal(buf.len, 0);

        /* Split: room for two entries of the largest size a record. */
        size_t max = TECG_ID_BATCH_HEADER + 2 * TECG_ID_BATCH_ENTRY_MAX;
        size_t total = 0, records = 0;
        seen.n = 0;
        cursor = 0;
        while ((n = tecg_idstore_batch_next(s, 4, &cursor, max, &buf)) > 0) {
                assert_true(n != SIZE_MAX);
                assert_true(buf.len <= max);
                assert_int_equal(tecg_id_batch_decode(buf.data, buf.len, batch_collect, &seen,
                                                      &count, err, sizeof(err)),
                                 TECG_OK);
                assert_int_equal(count, n);
                total += n;
                records++;
        }
        assert_int_equal(total, 20);
        assert_true(records > 1);
        for (int i = 0; i < 20; i++) {
                snprintf(id, sizeof(id), "DEU/e-%02d", i);
                assert_string_equal(seen.keys[i], id);
        }
        /* Too small for one entry: an error, never a silent nothing. */
        cursor = 0;
        assert_int_equal(tecg_idstore_batch_next(s, 4, &cursor, 16, &buf), SIZE_MAX);
        /* No record of partition 5. */
        cursor = 0;
        assert_int_equal(tecg_idstore_batch_next(s, 5, &cursor, 1 << 20, &buf), 0);
        assert_true(tecg_id_batch_key("batch/0123/7", 12));
        assert_false(tecg_id_batch_key("NLD/batch", 9));
        assert_false(tecg_id_batch_key("batch/", 6));
        tecg_buf_free(&buf);
        tecg_idstore_close(s);
}

static int calls_made;

static tecg_err_t batch_count_calls(void *opaque, const char *nation, const char *event_id,
                                    const tecg_id_record_t *r, char *errstr, size_t errstr_size) {
        (void)opaque;
        (void)nation;
        (void)event_id;
        (void)r;
        (void)errstr;
        (void)errstr_size;
        calls_made++;
        return TECG_OK;
}

/* Hostile batch values: each refused with where, and the callback never
 * called (the whole value is checked first). Also every truncation and
 * every single-byte change of a valid value is either refused or decodes
 * (never a crash: run under the sanitizers by the test suite's
 * sanitizer build). */
static void test_batch_refusals(void **state) {
        fixture_t *f = *state;
        char err[256];
        tecg_idstore_t *s = open_store(f, "t.event-ids");
        tecg_id_record_t a = active(TECG_EV_FUNDING, "f1", 1),
                         b = active(TECG_EV_PERSONNEL, "p1", 2);
        assert_int_equal(tecg_idstore_put(s, 0, "NLD", "f1", &a, err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_idstore_put(s, 0, "NLD", "p1", &b, err, sizeof(err)), TECG_OK);
        tecg_buf_t buf = TECG_BUF_INIT;
        size_t cursor = 0;
        assert_int_equal(tecg_idstore_batch_next(s, 0, &cursor, 1 << 20, &buf), 2);
        uint8_t v[512];
        size_t len = buf.len;
        assert_true(len < sizeof(v));
        memcpy(v, buf.data, len);
        /* Layout: [0] version, [1..4] count, entry 1 at 5: NLD, idlen 2, "f1",
         * reclen, record. */
        static const struct {
                size_t at;
                uint8_t byte;
                const char *why;
        } spoil[] = {
                {0, 1, "batch record at byte 0: unknown batch record version"},
                {4, 0, "entry count does not fit"},
                {4, 200, "entry count does not fit"},
                {5, 'n', "entry 1 of 2 at byte 5: nation"},
                {8, 0, "entry 1 of 2 at byte 5: event_id empty"},
                {9, ' ', "entry 1 of 2 at byte 5: event_id"},
                {11, 0, "entry 1 of 2 at byte 5: record empty"},
                {12, '7', "entry 1 of 2 at byte 5: unknown record version"},
                {13, 99, "entry 1 of 2 at byte 5: id record of NLD/f1: status out of range"},
        };
        for (size_t i = 0; i < sizeof(spoil) / sizeof(spoil[0]); i++) {
                uint8_t w[512];
                memcpy(w, v, len);
                w[spoil[i].at] = spoil[i].byte;
                calls_made = 0;
                assert_int_equal(tecg_id_batch_decode(w, len, batch_count_calls, NULL, NULL, err,
                                                      sizeof(err)),
                                 TECG_ERR_INVALID);
                if (!strstr(err, spoil[i].why))
                        fail_msg("byte %zu: \"%s\" does not say \"%s\"", spoil[i].at, err,
                                 spoil[i].why);
                assert_int_equal(calls_made, 0);
        }
        /* A byte more, or any prefix: refused. */
        uint8_t more[512];
        memcpy(more, v, len);
        more[len] = 0;
        assert_int_equal(tecg_id_batch_decode(more, len + 1, batch_count_calls, NULL, NULL, err,
                                              sizeof(err)),
                         TECG_ERR_INVALID);
        assert_non_null(strstr(err, "bytes after the last entry"));
        for (size_t cut = 0; cut < len; cut++) {
                calls_made = 0;
                assert_int_equal(tecg_id_batch_decode(cut ? v : NULL, cut, batch_count_calls, NULL,
                                                      NULL, err, sizeof(err)),
                                 TECG_ERR_INVALID);
                assert_int_equal(calls_made, 0);
        }
        /* Every single byte changed to every value: refused or decoded,
         * and when decoded, both entries handed over. */
        for (size_t at = 0; at < len; at++) {
                for (int x = 0; x < 256; x++) {
                        uint8_t w[512];
                        memcpy(w, v, len);
                        w[at] = (uint8_t)x;
                        calls_made = 0;
                        size_t count = 0;
                        tecg_err_t e = tecg_id_batch_decode(w, len, batch_count_calls, NULL, &count,
                                                            err, sizeof(err));
                        assert_int_equal(calls_made, e == TECG_OK ? 2 : 0);
                }
        }
        tecg_buf_free(&buf);
        tecg_idstore_close(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_record_roundtrip),
                cmocka_unit_test(test_record_legacy_value),
                cmocka_unit_test(test_record_refusals),
                cmocka_unit_test_setup_teardown(test_overlay_abort_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_personnel_latest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wipe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batch_roundtrip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batch_refusals, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
