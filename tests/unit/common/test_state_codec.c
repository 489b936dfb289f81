/* Nation-state codec (consumers/state_codec.h): golden bytes against
 * fastavro, round trips, and refusal of truncated, garbled, hostile or
 * invariant-breaking messages with a reason.
 *
 * Golden files in $TECG_TEST_DATA/state/ come from fastavro through
 * tests/tools/gen_state_golden.py (regenerate there): fingerprint.txt,
 * empty.hex (a fresh "NLD" state) and full.hex (the state full_events[]
 * below add up to, version 7, worked out by hand in the script). Equal
 * bytes both ways mean fastavro reads what we write and we read what it
 * writes, and that tecg_nation_state_apply() computed what a person did. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <avro.h>

#include "avro_codec.h"
#include "framing.h"
#include "nation_state.h"
#include "state_codec.h"
#include "testutil.h"

/* ------------------------------------------------------------- helpers */

/* One event of full_events[]: the union member is picked by type. */
typedef struct {
        tecg_event_type_t type;
        const char *id;
        int64_t when;
        int a, b;        /* the two enums of the type, in event.h order */
        int64_t n;       /* amount, quantity, headcount, trainees */
        const char *cur; /* funding; equipment: NULL = no value */
        int64_t value;
} ev_spec_t;

static tecg_event_t make_event(const ev_spec_t *s) {
        tecg_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = s->type;
        snprintf(ev.event_id, sizeof(ev.event_id), "%s", s->id);
        memcpy(ev.nation, "NLD", 4);
        ev.occurred_at_ms = s->when;
        switch (s->type) {
        case TECG_EV_FUNDING:
                ev.u.funding.channel = (tecg_channel_t)s->a;
                ev.u.funding.stage = (tecg_funding_stage_t)s->b;
                ev.u.funding.amount_minor = s->n;
                snprintf(ev.u.funding.currency, 4, "%s", s->cur);
                break;
        case TECG_EV_EQUIPMENT:
                ev.u.equipment.item = "item";
                ev.u.equipment.category = (tecg_category_t)s->a;
                ev.u.equipment.stage = (tecg_equipment_stage_t)s->b;
                ev.u.equipment.quantity = s->n;
                if (s->cur) {
                        ev.u.equipment.has_value = true;
                        ev.u.equipment.value_minor = s->value;
                        snprintf(ev.u.equipment.currency, 4, "%s", s->cur);
                }
                break;
        case TECG_EV_PERSONNEL:
                ev.u.personnel.role = (tecg_role_t)s->a;
                ev.u.personnel.location = (tecg_location_t)s->b;
                ev.u.personnel.headcount = (int32_t)s->n;
                break;
        default:
                ev.u.training.course = "course";
                ev.u.training.location = (tecg_location_t)s->a;
                ev.u.training.level = (tecg_level_t)s->b;
                ev.u.training.trainees = (int32_t)s->n;
                break;
        }
        return ev;
}

/* The events of the golden "full" state; gen_state_golden.py lists the
 * same in its comments and holds their aggregate. */
static tecg_nation_state_t *full_state(void) {
        const int64_t feb22 = tu_at(2005, 2, 22, 9, 0, 0, 0);
        const int64_t mar1 = tu_at(2005, 3, 1, 0, 0, 0, 0);
        const ev_spec_t full_events[] = {
                {TECG_EV_FUNDING, "NLD-f-1", feb22, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, 65200000,
                 "EUR", 0},
                {TECG_EV_FUNDING, "NLD-f-2", feb22, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, 100, "EUR",
                 0},
                {TECG_EV_FUNDING, "NLD-f-3", feb22, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, 5000,
                 "USD", 0},
                {TECG_EV_FUNDING, "NLD-f-4", feb22, TECG_CH_COMMON_FUNDING, TECG_FS_DISBURSED,
                 123456, "GBP", 0},
                {TECG_EV_FUNDING, "NLD-f-5", feb22, TECG_CH_BILATERAL, TECG_FS_PLEDGED, 7000000,
                 "JPY", 0},
                {TECG_EV_EQUIPMENT, "NLD-e-1", mar1, TECG_CAT_VEHICLES, TECG_ES_DELIVERED, 40,
                 "EUR", 1234567},
                {TECG_EV_EQUIPMENT, "NLD-e-2", mar1, TECG_CAT_VEHICLES, TECG_ES_DELIVERED, 2, "USD",
                 1000},
                {TECG_EV_EQUIPMENT, "NLD-e-3", mar1, TECG_CAT_UNIFORMS, TECG_ES_OFFERED, 1000, NULL,
                 0},
                {TECG_EV_EQUIPMENT, "NLD-e-4", mar1, TECG_CAT_MEDICAL, TECG_ES_ACCEPTED, 5, "EUR",
                 0},
                {TECG_EV_PERSONNEL, "NLD-p-2", mar1, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 15, NULL,
                 0},
                {TECG_EV_PERSONNEL, "NLD-p-1", mar1, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 12, NULL,
                 0},
                {TECG_EV_PERSONNEL, "NLD-p-9", tu_at(2005, 2, 1, 0, 0, 0, 0), TECG_ROLE_TRAINER,
                 TECG_LOC_IN_IRAQ, 99, NULL, 0},
                {TECG_EV_PERSONNEL, "NLD-p-3", tu_at(2005, 4, 1, 12, 0, 0, 180),
                 TECG_ROLE_FORCE_PROTECTION, TECG_LOC_OUTSIDE_IRAQ, 0, NULL, 0},
                {TECG_EV_TRAINING, "NLD-t-1", tu_at(2005, 1, 1, 1, 0, 0, 120), TECG_LOC_IN_IRAQ,
                 TECG_LVL_JUNIOR, 20, NULL, 0},
                {TECG_EV_TRAINING, "NLD-t-2", tu_at(2004, 12, 31, 23, 30, 0, -60), TECG_LOC_IN_IRAQ,
                 TECG_LVL_JUNIOR, 30, NULL, 0},
                {TECG_EV_TRAINING, "NLD-t-3", tu_at(2005, 6, 1, 0, 0, 0, 0), TECG_LOC_OUTSIDE_IRAQ,
                 TECG_LVL_SENIOR, 25, NULL, 0},
                {TECG_EV_TRAINING, "NLD-t-4", tu_at(2005, 7, 1, 10, 0, 0, 0), TECG_LOC_OUTSIDE_IRAQ,
                 TECG_LVL_SENIOR, 5, NULL, 0},
        };
        tecg_nation_state_t *st = tecg_nation_state_new("NLD");
        assert_non_null(st);
        for (size_t i = 0; i < sizeof(full_events) / sizeof(full_events[0]); i++) {
                tecg_event_t ev = make_event(&full_events[i]);
                char err[256];
                bool changed;
                if (tecg_nation_state_apply(st, &ev, &changed, err, sizeof(err)))
                        fail_msg("%s: %s", ev.event_id, err);
        }
        /* The notes gen_state_golden.py lists. */
        tecg_correction_t sup = {.kind = TECG_CORR_SUPERSEDE,
                                 .type = TECG_EV_FUNDING,
                                 .event_id = "NLD-f-2",
                                 .target_id = "NLD-f-0",
                                 .occurred_at_ms = feb22,
                                 .after = "funding TRUST_FUND PLEDGED 1.00 EUR"};
        tecg_correction_t ret = {.kind = TECG_CORR_RETRACT,
                                 .type = TECG_EV_TRAINING,
                                 .event_id = "NLD-r-1",
                                 .target_id = "NLD-t-9",
                                 .occurred_at_ms = tu_at(2005, 7, 1, 9, 0, 0, 0),
                                 .before = "training IN_IRAQ SENIOR 10 trainees",
                                 .reason = "counted twice \xc3\xa9"};
        char err[256];
        if (tecg_nation_state_note_correction(st, &sup, err, sizeof(err)) ||
            tecg_nation_state_note_correction(st, &ret, err, sizeof(err)) ||
            tecg_nation_state_note_dead_letter(st, tu_at(2005, 3, 6, 0, 0, 0, 0), "correction",
                                               "supersedes NLD-f-9, which was already retracted "
                                               "by NLD-r-2",
                                               err, sizeof(err)) ||
            tecg_nation_state_note_dead_letter(st, tu_at(2005, 3, 5, 0, 0, 0, 0), "signature",
                                               "bad signature", err, sizeof(err)))
                fail_msg("notes: %s", err);
        st->version = 7;
        return st;
}

/* st without what schema v3 added: as a v2 writer would have had it. */
static void strip_v3(tecg_nation_state_t *st) {
        free(st->funding_months);
        free(st->training_months);
        free(st->strength_months);
        free(st->dead_letter_months);
        for (size_t i = 0; i < st->nrecent_corrections; i++)
                free(st->recent_corrections[i].reason);
        free(st->recent_corrections);
        st->funding_months = NULL;
        st->training_months = NULL;
        st->strength_months = NULL;
        st->dead_letter_months = NULL;
        st->recent_corrections = NULL;
        st->nfunding_months = st->ntraining_months = st->nstrength_months = 0;
        st->ndead_letter_months = st->nrecent_corrections = st->nrecent_dead_letters = 0;
        st->supersessions = st->retractions = st->dead_letters = 0;
}

static tecg_buf_t encode_ok(tecg_state_codec_t *c, const tecg_nation_state_t *st) {
        tecg_buf_t b = TECG_BUF_INIT;
        char err[256];
        if (tecg_state_codec_encode(c, st, &b, err, sizeof(err)))
                fail_msg("encode: %s", err);
        return b;
}

static tecg_nation_state_t *decode_ok(tecg_state_codec_t *c, const void *msg, size_t len) {
        tecg_nation_state_t *st = NULL;
        char err[256];
        static uint64_t last_serial;
        if (tecg_state_codec_decode(c, msg, len, &st, err, sizeof(err)))
                fail_msg("decode: %s", err);
        assert_non_null(st);
        /* Every decoded state is an object of its own (nation_state.h). */
        assert_true(st->serial > last_serial);
        last_serial = st->serial;
        return st;
}

/* Decodes and expects `want` with a reason containing `why`, and no state. */
static void decode_refused(tecg_state_codec_t *c, const void *msg, size_t len, tecg_err_t want,
                           const char *why, const char *name) {
        tecg_nation_state_t *st = (tecg_nation_state_t *)&st;
        char err[256] = "";
        tecg_err_t rc = tecg_state_codec_decode(c, msg, len, &st, err, sizeof(err));
        if (rc != want)
                fail_msg("%s: got %s (%s), want %s", name, tecg_err2str(rc), err,
                         tecg_err2str(want));
        assert_null(st);
        if (!strstr(err, why))
                fail_msg("%s: reason \"%s\" does not say \"%s\"", name, err, why);
}

static void assert_round_trip(tecg_state_codec_t *c, const tecg_nation_state_t *st) {
        tecg_buf_t a = encode_ok(c, st), b;
        tecg_nation_state_t *back = decode_ok(c, a.data, a.len);
        assert_true(tecg_nation_state_equal(st, back));
        assert_true(st->version == back->version);
        b = encode_ok(c, back);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        tecg_nation_state_destroy(back);
        tecg_buf_free(&a);
        tecg_buf_free(&b);
}

/* ------------------------------------------- a writer for crafted bodies */

static void put_long(tecg_buf_t *b, int64_t v) {
        uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        do {
                uint8_t byte = z & 0x7f;
                z >>= 7;
                if (z)
                        byte |= 0x80;
                assert_int_equal(tecg_buf_append(b, &byte, 1), TECG_OK);
        } while (z);
}

static void put_str(tecg_buf_t *b, const char *s) {
        put_long(b, (int64_t)strlen(s));
        assert_int_equal(tecg_buf_append(b, s, strlen(s)), TECG_OK);
}

/* A state as raw numbers, so a case can put in what apply never would. */
typedef struct {
        int64_t a, b;
        const char *cur;
        int64_t amount;
} raw_money_t;
typedef struct {
        int64_t a, b, q;
} raw_qty_t;
typedef struct {
        int64_t role, loc, when;
        const char *id;
        int64_t headcount;
} raw_strength_t;
typedef struct {
        int64_t year, loc, lvl, trainees;
} raw_training_t;

#define RAW_MAX 4
typedef struct {
        const char *nation;
        int64_t version, events;
        int64_t has_as_of; /* the union branch: 0 null, 1 long */
        int64_t as_of;
        raw_money_t funding[RAW_MAX];
        size_t nfunding;
        raw_qty_t qty[RAW_MAX];
        size_t nqty;
        raw_money_t values[RAW_MAX];
        size_t nvalues;
        raw_strength_t personnel[RAW_MAX];
        size_t npersonnel;
        raw_training_t training[RAW_MAX];
        size_t ntraining;
        bool v1;                            /* stop after training, as v1 did */
        bool v2;                            /* stop after last_*, as v2 did */
        int64_t has_last[TECG_EV__COUNTED]; /* last_*: union branch */
        int64_t last[TECG_EV__COUNTED];
} raw_t;

static void put_money(tecg_buf_t *b, const raw_money_t *m) {
        put_long(b, m->a);
        put_long(b, m->b);
        put_str(b, m->cur);
        put_long(b, m->amount);
}

static void put_qty(tecg_buf_t *b, const raw_qty_t *q) {
        put_long(b, q->a);
        put_long(b, q->b);
        put_long(b, q->q);
}

static void put_strength(tecg_buf_t *b, const raw_strength_t *p) {
        put_long(b, p->role);
        put_long(b, p->loc);
        put_long(b, p->when);
        put_str(b, p->id);
        put_long(b, p->headcount);
}

static void put_training(tecg_buf_t *b, const raw_training_t *t) {
        put_long(b, t->year);
        put_long(b, t->loc);
        put_long(b, t->lvl);
        put_long(b, t->trainees);
}

/* An array of n items as one block with a positive count (none: only the
 * closing 0), as fastavro and Avro-C write them. */
#define PUT_ARRAY(b, items, n, put_item)             \
        do {                                         \
                if (n)                               \
                        put_long((b), (int64_t)(n)); \
                for (size_t i_ = 0; i_ < (n); i_++)  \
                        put_item((b), &(items)[i_]); \
                put_long((b), 0);                    \
        } while (0)

/* Avro binary of raw, framed with fp. */
static tecg_buf_t craft(uint64_t fp, const raw_t *r) {
        tecg_buf_t b = TECG_BUF_INIT;
        assert_int_equal(tecg_framing_write_single_object(&b, fp), TECG_OK);
        put_str(&b, r->nation);
        put_long(&b, r->version);
        put_long(&b, r->events);
        put_long(&b, r->has_as_of);
        if (r->has_as_of)
                put_long(&b, r->as_of);
        PUT_ARRAY(&b, r->funding, r->nfunding, put_money);
        PUT_ARRAY(&b, r->qty, r->nqty, put_qty);
        PUT_ARRAY(&b, r->values, r->nvalues, put_money);
        PUT_ARRAY(&b, r->personnel, r->npersonnel, put_strength);
        PUT_ARRAY(&b, r->training, r->ntraining, put_training);
        for (int t = 0; t < TECG_EV__COUNTED && !r->v1; t++) {
                put_long(&b, r->has_last[t]);
                if (r->has_last[t])
                        put_long(&b, r->last[t]);
        }
        /* v3: no months, no corrections, no dead letters (3 empty arrays,
         * 2 counts, an empty array, a count, 2 empty arrays). */
        for (int i = 0; i < 9 && !r->v1 && !r->v2; i++)
                put_long(&b, 0);
        return b;
}

/* A valid state with two items in every array; cases change one thing. */
static raw_t base_raw(void) {
        raw_t r = {
                .nation = "NLD",
                .version = 3,
                .events = 12,
                .has_as_of = true,
                .as_of = 1109062800000,
                .funding = {{0, 0, "EUR", 100}, {0, 0, "USD", 5}},
                .nfunding = 2,
                .qty = {{0, 2, 40}, {5, 0, 1000}},
                .nqty = 2,
                .values = {{0, 2, "EUR", 7}, {0, 2, "USD", 0}},
                .nvalues = 2,
                .personnel = {{0, 0, 1109062800000, "NLD-p-2", 15}, {4, 1, -5, "x", 0}},
                .npersonnel = 2,
                .training = {{2004, 0, 0, 20}, {2005, 0, 0, 30}},
                .ntraining = 2,
        };
        return r;
}

/* ------------------------------------------------------------- fixture */

static int setup(void **state) {
        char err[256];
        *state = tecg_state_codec_new(err, sizeof(err));
        if (!*state)
                fprintf(stderr, "state codec: %s\n", err);
        return *state ? 0 : -1;
}

static int teardown(void **state) {
        tecg_state_codec_destroy(*state);
        return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_new_destroy(void **state) {
        (void)state;
        char err[256] = "";
        tecg_state_codec_destroy(NULL);
        tecg_state_codec_t *c = tecg_state_codec_new(err, sizeof(err));
        assert_non_null(c);
        tecg_state_codec_destroy(c);
}

/* Our fingerprint is fastavro's, and the event codec (which parses every
 * schema, this one too) computes the same from its own canonical form. */
static void test_fingerprint(void **state) {
        tecg_state_codec_t *c = *state;
        char hex[17], err[256];
        char *want = tu_slurp_data("state/fingerprint.txt", NULL);
        want[strcspn(want, "\r\n")] = '\0';
        assert_string_equal(tecg_framing_fingerprint_hex(tecg_state_codec_fingerprint(c), hex),
                            want);
        free(want);

        tecg_avro_t *avro = tecg_avro_new(err, sizeof(err));
        if (!avro)
                fail_msg("tecg_avro_new with nation_state.avsc: %s", err);
        const tecg_avro_schema_t *s = tecg_avro_schema_by_name(avro, "nation_state");
        assert_non_null(s);
        assert_string_equal(tecg_avro_schema_fullname(s), "org.tecg.state.NationState");
        assert_true(tecg_avro_schema_fingerprint(s) == tecg_state_codec_fingerprint(c));
        assert_false(tecg_avro_schema_is_event(s));
        tecg_avro_destroy(avro);
}

static void test_golden(void **state) {
        tecg_state_codec_t *c = *state;
        static const char *const names[] = {"empty", "full"};
        for (size_t k = 0; k < 2; k++) {
                tecg_nation_state_t *st = k ? full_state() : tecg_nation_state_new("NLD");
                char rel[64];
                size_t n;
                snprintf(rel, sizeof(rel), "state/%s.hex", names[k]);
                uint8_t *want = tu_hex_file(rel, &n);
                tecg_buf_t got = encode_ok(c, st);
                tu_assert_bytes_equal(names[k], got.data, got.len, want, n);

                tecg_nation_state_t *back = decode_ok(c, want, n);
                assert_true(tecg_nation_state_equal(st, back));
                assert_true(back->version == st->version);
                if (k) {
                        assert_true(back->version == 7 && back->events == 17);
                        assert_int_equal(back->ntraining, 3);
                        assert_int_equal(back->training[0].year, 2004);
                        assert_string_equal(
                                back->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ].event_id,
                                "NLD-p-2");
                } else {
                        assert_true(back->as_of_ms == INT64_MIN);
                }
                free(want);
                tecg_buf_free(&got);
                tecg_nation_state_destroy(back);
                tecg_nation_state_destroy(st);
        }
}

/* States written before the per-type last_* fields (v1) still decode,
 * into the same aggregates with every last report unknown; the encoder
 * writes the current schema only. */
static void test_golden_v1(void **state) {
        tecg_state_codec_t *c = *state;
        char hex[17];
        char *want_fp = tu_slurp_data("state/fingerprint_v1.txt", NULL);
        want_fp[strcspn(want_fp, "\r\n")] = '\0';
        assert_string_equal(tecg_framing_fingerprint_hex(tecg_state_codec_fingerprint_v1(c), hex),
                            want_fp);
        assert_true(tecg_state_codec_fingerprint_v1(c) != tecg_state_codec_fingerprint(c));
        free(want_fp);

        size_t n;
        uint8_t *old = tu_hex_file("state/full_v1.hex", &n);
        tecg_nation_state_t *st = full_state(), *back = decode_ok(c, old, n);
        /* The current state knows when each type was last reported... */
        assert_true(st->last_report_ms[TECG_EV_FUNDING] == tu_at(2005, 2, 22, 9, 0, 0, 0));
        assert_true(st->last_report_ms[TECG_EV_PERSONNEL] == tu_at(2005, 4, 1, 12, 0, 0, 180));
        assert_true(st->last_report_ms[TECG_EV_TRAINING] == st->as_of_ms);
        assert_false(tecg_nation_state_equal(st, back));
        /* ...v1 did not, nor the months and notes of v3: the rest is the
         * same. */
        for (int t = 0; t < TECG_EV__COUNTED; t++) {
                assert_true(back->last_report_ms[t] == INT64_MIN);
                st->last_report_ms[t] = INT64_MIN;
        }
        strip_v3(st);
        assert_true(tecg_nation_state_equal(st, back));
        assert_true(back->version == 7 && back->events == 17);

        /* Re-encoded, it is a current message that decodes to itself. */
        tecg_buf_t again = encode_ok(c, back);
        tecg_nation_state_t *back2 = decode_ok(c, again.data, again.len);
        assert_true(tecg_nation_state_equal(back, back2));
        uint8_t fp[8];
        for (int i = 0; i < 8; i++)
                fp[i] = (uint8_t)(tecg_state_codec_fingerprint(c) >> (8 * i));
        assert_memory_equal(again.data + 2, fp, 8);

        tecg_buf_free(&again);
        tecg_nation_state_destroy(back2);
        tecg_nation_state_destroy(back);
        tecg_nation_state_destroy(st);
        free(old);
}

/* States written before the months, corrections and dead letters (v2)
 * still decode, into the same totals with none of those. */
static void test_golden_v2(void **state) {
        tecg_state_codec_t *c = *state;
        char hex[17];
        char *want_fp = tu_slurp_data("state/fingerprint_v2.txt", NULL);
        want_fp[strcspn(want_fp, "\r\n")] = '\0';
        assert_string_equal(tecg_framing_fingerprint_hex(tecg_state_codec_fingerprint_v2(c), hex),
                            want_fp);
        assert_true(tecg_state_codec_fingerprint_v2(c) != tecg_state_codec_fingerprint(c));
        assert_true(tecg_state_codec_fingerprint_v2(c) != tecg_state_codec_fingerprint_v1(c));
        free(want_fp);

        size_t n;
        uint8_t *old = tu_hex_file("state/full_v2.hex", &n);
        tecg_nation_state_t *st = full_state(), *back = decode_ok(c, old, n);
        assert_false(tecg_nation_state_equal(st, back));
        strip_v3(st);
        assert_true(tecg_nation_state_equal(st, back));
        tecg_nation_state_destroy(st);
        st = full_state();
        assert_int_equal(back->nfunding_months, 0);
        assert_int_equal(back->nstrength_months, 0);
        assert_int_equal(back->nrecent_corrections, 0);
        assert_true(back->supersessions == 0 && back->retractions == 0 && back->dead_letters == 0);
        assert_int_equal(back->nfunding, st->nfunding);
        assert_true(back->funding[0].amount_minor == st->funding[0].amount_minor);
        assert_true(back->last_report_ms[TECG_EV_TRAINING] == st->as_of_ms);

        /* An event counted after the upgrade adds its month: the months
         * are then a part of the totals, which the codec accepts. */
        tecg_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = TECG_EV_FUNDING;
        snprintf(ev.event_id, sizeof(ev.event_id), "NLD-f-new");
        memcpy(ev.nation, "NLD", 4);
        ev.occurred_at_ms = tu_at(2005, 8, 1, 0, 0, 0, 0);
        ev.u.funding.amount_minor = 100;
        snprintf(ev.u.funding.currency, 4, "EUR");
        char err[256];
        bool changed;
        assert_int_equal(tecg_nation_state_apply(back, &ev, &changed, err, sizeof(err)), TECG_OK);
        tecg_buf_t again = encode_ok(c, back);
        tecg_nation_state_t *back2 = decode_ok(c, again.data, again.len);
        assert_true(tecg_nation_state_equal(back, back2));
        assert_int_equal(back2->nfunding_months, 1);
        assert_int_equal(back2->funding_months[0].month, 200508);

        tecg_buf_free(&again);
        tecg_nation_state_destroy(back2);
        tecg_nation_state_destroy(back);
        tecg_nation_state_destroy(st);
        free(old);
}

/* Each new invariant is refused on encode (and so on decode, which runs
 * the same check): months beyond their totals, out of order, a correction
 * list not latest first, dead-letter months that do not add up. */
static void test_history_invariants(void **state) {
        tecg_state_codec_t *c = *state;
        static const char *const want[] = {
                "funding_months[0]",     "training_months[1]", "strength_months[0]",
                "recent_corrections[1]", "dead_letter_months", "recent_corrections[0]",
        };
        for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
                tecg_nation_state_t *st = full_state();
                tecg_buf_t b = TECG_BUF_INIT;
                char err[256] = "";
                switch (k) {
                case 0:
                        st->funding_months[0].amount_minor++;
                        break;
                case 1:
                        st->training_months[1].month = 200411;
                        break;
                case 2:
                        st->strength_months[0].month = 200503;
                        break;
                case 3:
                        st->recent_corrections[1].occurred_at_ms = st->as_of_ms;
                        break;
                case 4:
                        st->dead_letters = 3;
                        break;
                default:
                        free(st->recent_corrections[0].reason);
                        st->recent_corrections[0].reason = NULL;
                        break;
                }
                assert_int_equal(tecg_state_codec_encode(c, st, &b, err, sizeof(err)),
                                 TECG_ERR_INVALID);
                if (!strstr(err, want[k]))
                        fail_msg("case %zu: %s", k, err);
                assert_int_equal(b.len, 0);
                tecg_buf_free(&b);
                tecg_nation_state_destroy(st);
        }
}

/* A last report later than as_of cannot come from apply(): refused on
 * both sides. */
static void test_last_report_bounds(void **state) {
        tecg_state_codec_t *c = *state;
        tecg_nation_state_t *st = full_state();
        tecg_buf_t b = TECG_BUF_INIT;
        char err[256] = "";
        st->last_report_ms[TECG_EV_EQUIPMENT] = st->as_of_ms + 1;
        assert_int_equal(tecg_state_codec_encode(c, st, &b, err, sizeof(err)), TECG_ERR_INVALID);
        assert_non_null(strstr(err, "last_equipment"));
        assert_int_equal(b.len, 0);
        tecg_buf_free(&b);
        tecg_nation_state_destroy(st);
}

static void test_round_trips(void **state) {
        tecg_state_codec_t *c = *state;
        tecg_nation_state_t *st = tecg_nation_state_new("USA");
        assert_round_trip(c, st);

        /* Extremes of every field. */
        st->version = INT64_MAX;
        st->events = INT64_MAX;
        st->as_of_ms = INT64_MIN + 1;
        st->equipment_quantity[TECG_CAT_OTHER][TECG_ES_DELIVERED] = INT64_MAX;
        st->equipment_quantity[TECG_CAT_VEHICLES][TECG_ES_OFFERED] = 1;
        tecg_strength_t *p = &st->personnel[TECG_ROLE_FORCE_PROTECTION][TECG_LOC_OUTSIDE_IRAQ];
        p->reported = true;
        p->occurred_at_ms = INT64_MIN;
        memset(p->event_id, 'z', TECG_EVENT_ID_MAX);
        p->event_id[TECG_EVENT_ID_MAX] = '\0';
        p->headcount = INT32_MAX;
        p = &st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ];
        p->reported = true;
        p->occurred_at_ms = INT64_MAX;
        strcpy(p->event_id, "A.b_c:d-9");
        st->funding = calloc(1, sizeof(*st->funding));
        st->nfunding = 1;
        st->funding[0] =
                (tecg_funding_total_t){TECG_CH_BILATERAL, TECG_FS_DISBURSED, "ZZZ", INT64_MAX};
        st->training = calloc(2, sizeof(*st->training));
        st->ntraining = 2;
        st->training[0] = (tecg_training_total_t){INT32_MIN, TECG_LOC_IN_IRAQ, TECG_LVL_SENIOR, 1};
        st->training[1] = (tecg_training_total_t){INT32_MAX, TECG_LOC_OUTSIDE_IRAQ, TECG_LVL_JUNIOR,
                                                  INT64_MAX};
        assert_round_trip(c, st);
        tecg_nation_state_destroy(st);

        st = full_state();
        assert_round_trip(c, st);
        tecg_nation_state_destroy(st);
}

/* Decoding a full state and then an empty one into the same reused value
 * must not leave items of the first behind. */
static void test_reuse(void **state) {
        tecg_state_codec_t *c = *state;
        tecg_nation_state_t *full = full_state(), *empty = tecg_nation_state_new("NLD");
        tecg_buf_t fb = encode_ok(c, full), eb = encode_ok(c, empty);
        for (int i = 0; i < 3; i++) {
                tecg_nation_state_t *a = decode_ok(c, fb.data, fb.len);
                tecg_nation_state_t *b = decode_ok(c, eb.data, eb.len);
                assert_true(tecg_nation_state_equal(a, full));
                assert_true(tecg_nation_state_equal(b, empty));
                tecg_nation_state_destroy(a);
                tecg_nation_state_destroy(b);
        }
        tecg_buf_t again = encode_ok(c, empty);
        assert_int_equal(again.len, eb.len);
        assert_memory_equal(again.data, eb.data, eb.len);
        tecg_buf_free(&again);
        tecg_buf_free(&fb);
        tecg_buf_free(&eb);
        tecg_nation_state_destroy(full);
        tecg_nation_state_destroy(empty);
}

static void test_encode_appends(void **state) {
        tecg_state_codec_t *c = *state;
        tecg_nation_state_t *st = full_state();
        tecg_buf_t one = encode_ok(c, st), b = TECG_BUF_INIT;
        char err[256];
        assert_int_equal(tecg_buf_append(&b, "xy", 2), TECG_OK);
        assert_int_equal(tecg_state_codec_encode(c, st, &b, err, sizeof(err)), TECG_OK);
        assert_int_equal(b.len, 2 + one.len);
        assert_memory_equal(b.data, "xy", 2);
        assert_memory_equal(b.data + 2, one.data, one.len);
        tecg_buf_free(&b);
        tecg_buf_free(&one);
        tecg_nation_state_destroy(st);
}

/* States apply never builds are refused before anything is written. */
static void test_encode_refuses(void **state) {
        tecg_state_codec_t *c = *state;
        static const struct {
                const char *name, *why;
        } cases[] = {
                {"lower-case nation", "nation"},
                {"funding out of order", "duplicate or out of order"},
                {"funding duplicate", "duplicate or out of order"},
                {"funding currency", "currency"},
                {"negative quantity", "quantity"},
                {"bad event_id", "event_id"},
                {"training out of order", "duplicate or out of order"},
                {"version beyond int64", "version"},
                {"enum out of range", "out of range"},
        };
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                tecg_nation_state_t *st = full_state();
                tecg_buf_t b = TECG_BUF_INIT;
                char err[256] = "";
                switch (k) {
                case 0:
                        memcpy(st->nation, "nld", 4);
                        break;
                case 1: {
                        tecg_funding_total_t t = st->funding[0];
                        st->funding[0] = st->funding[1];
                        st->funding[1] = t;
                        break;
                }
                case 2:
                        st->funding[1] = st->funding[0];
                        break;
                case 3:
                        memcpy(st->funding[3].currency, "JP", 3);
                        break;
                case 4:
                        st->equipment_quantity[TECG_CAT_OTHER][TECG_ES_OFFERED] = -1;
                        break;
                case 5:
                        strcpy(st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ].event_id, "a b");
                        break;
                case 6:
                        st->training[2].year = 2003;
                        break;
                case 7:
                        st->version = (uint64_t)INT64_MAX + 1;
                        break;
                case 8:
                        st->equipment_values[0].stage = TECG_ES__COUNT;
                        break;
                }
                assert_int_equal(tecg_buf_append(&b, "x", 1), TECG_OK);
                assert_int_equal(tecg_state_codec_encode(c, st, &b, err, sizeof(err)),
                                 TECG_ERR_INVALID);
                if (!strstr(err, cases[k].why))
                        fail_msg("%s: reason \"%s\" does not say \"%s\"", cases[k].name, err,
                                 cases[k].why);
                assert_int_equal(b.len, 1);
                tecg_buf_free(&b);
                tecg_nation_state_destroy(st);
        }
}

static void test_framing_refused(void **state) {
        tecg_state_codec_t *c = *state;
        tecg_nation_state_t *st = full_state();
        tecg_buf_t b = encode_ok(c, st);
        uint8_t conf[] = {0x00, 0, 0, 0, 7, 0x06, 'N', 'L', 'D'};

        decode_refused(c, b.data, 0, TECG_ERR_INVALID, "empty", "empty");
        decode_refused(c, b.data, 5, TECG_ERR_INVALID, "truncated", "short");
        decode_refused(c, b.data, 10, TECG_ERR_INVALID, "body empty", "header only");
        decode_refused(c, conf, sizeof(conf), TECG_ERR_INVALID, "Confluent", "confluent");
        b.data[2] ^= 0x01;
        decode_refused(c, b.data, b.len, TECG_ERR_NOT_FOUND, "unknown writer schema fingerprint",
                       "fingerprint");
        b.data[2] ^= 0x01;
        b.data[0] = 0x7b;
        decode_refused(c, b.data, b.len, TECG_ERR_INVALID, "magic", "magic");
        tecg_buf_free(&b);
        tecg_nation_state_destroy(st);
}

/* Every proper prefix of a message is refused with a reason. */
static void test_every_truncation(void **state) {
        tecg_state_codec_t *c = *state;
        tecg_nation_state_t *st = full_state();
        tecg_buf_t b = encode_ok(c, st);
        for (size_t n = 0; n < b.len; n++) {
                tecg_nation_state_t *out = NULL;
                char err[256] = "";
                uint8_t *copy = malloc(n + 1); /* ASan sees reads past n */
                memcpy(copy, b.data, n);
                assert_int_not_equal(tecg_state_codec_decode(c, copy, n, &out, err, sizeof(err)),
                                     TECG_OK);
                assert_null(out);
                assert_true(err[0] != '\0');
                free(copy);
        }
        /* One byte too many is refused too. */
        assert_int_equal(tecg_buf_append(&b, "", 1), TECG_OK);
        decode_refused(c, b.data, b.len, TECG_ERR_INVALID,
                       "body longer than its schema: 1 trailing bytes", "trailing byte");
        tecg_buf_free(&b);
        tecg_nation_state_destroy(st);
}

/* Flipping bits anywhere in the body either is refused with a reason or
 * yields a state that passes every check (it then encodes again). */
static void test_every_byte_flip(void **state) {
        tecg_state_codec_t *c = *state;
        tecg_nation_state_t *st = full_state();
        tecg_buf_t b = encode_ok(c, st);
        static const uint8_t masks[] = {0x01, 0x02, 0x40, 0x80, 0xff};
        size_t accepted = 0, refused = 0;
        for (size_t i = TECG_FRAMING_SO_HEADER_LEN; i < b.len; i++)
                for (size_t m = 0; m < sizeof(masks); m++) {
                        tecg_nation_state_t *out = NULL;
                        char err[256] = "";
                        b.data[i] ^= masks[m];
                        if (tecg_state_codec_decode(c, b.data, b.len, &out, err, sizeof(err)) ==
                            TECG_OK) {
                                tecg_buf_t again = encode_ok(c, out);
                                tecg_buf_free(&again);
                                tecg_nation_state_destroy(out);
                                accepted++;
                        } else {
                                assert_null(out);
                                assert_true(err[0] != '\0');
                                refused++;
                        }
                        b.data[i] ^= masks[m];
                }
        print_message("byte flips: %zu refused, %zu decoded to valid states\n", refused, accepted);
        assert_true(refused > 0);
        tecg_buf_free(&b);
        tecg_nation_state_destroy(st);
}

/* Random garbage after a correct header: never a crash, always a reason. */
static void test_garbage(void **state) {
        tecg_state_codec_t *c = *state;
        uint64_t x = 42;
        for (int round = 0; round < 20000; round++) {
                tecg_buf_t b = TECG_BUF_INIT;
                tecg_nation_state_t *out = NULL;
                char err[256] = "";
                size_t n;
                x = x * 6364136223846793005u + 1442695040888963407u;
                n = 1 + (size_t)(x >> 33) % 64;
                assert_int_equal(
                        tecg_framing_write_single_object(&b, tecg_state_codec_fingerprint(c)),
                        TECG_OK);
                for (size_t i = 0; i < n; i++) {
                        uint8_t byte;
                        x = x * 6364136223846793005u + 1442695040888963407u;
                        byte = (uint8_t)(x >> 56);
                        assert_int_equal(tecg_buf_append(&b, &byte, 1), TECG_OK);
                }
                if (tecg_state_codec_decode(c, b.data, b.len, &out, err, sizeof(err)) == TECG_OK)
                        tecg_nation_state_destroy(out);
                else
                        assert_true(err[0] != '\0');
                tecg_buf_free(&b);
        }
}

#define RAW_CASE(name, err, why, ...) \
        {                             \
                name, err, why, {     \
                        __VA_ARGS__   \
                }                     \
        }

typedef struct {
        const char *name;
        tecg_err_t err;
        const char *why;
        struct {
                int field; /* which change, see apply_change() */
                int64_t v;
                const char *s;
        } change;
} raw_case_t;

enum {
        C_NONE,
        C_NATION,
        C_VERSION,
        C_EVENTS,
        C_AS_OF,
        C_F_CHANNEL,
        C_F_DUP,
        C_F_ORDER,
        C_F_CUR,
        C_F_AMOUNT,
        C_Q_DUP,
        C_Q_ZERO,
        C_V_VALUE,
        C_V_DUP,
        C_P_DUP,
        C_P_ID,
        C_P_HEAD,
        C_T_ORDER,
        C_T_DUP,
        C_T_ZERO,
        C_T_LEVEL,
        C_P_ROLE,
        C_AS_OF_BRANCH,
        C_V_CUR,
};

static void apply_change(raw_t *r, int field, int64_t v, const char *s) {
        switch (field) {
        case C_NATION:
                r->nation = s;
                break;
        case C_VERSION:
                r->version = v;
                break;
        case C_EVENTS:
                r->events = v;
                break;
        case C_AS_OF:
                r->as_of = v;
                break;
        case C_AS_OF_BRANCH:
                r->has_as_of = v;
                break;
        case C_F_CHANNEL:
                r->funding[0].a = v;
                break;
        case C_F_DUP:
                r->funding[1] = r->funding[0];
                break;
        case C_F_ORDER:
                r->funding[0].cur = "ZZZ";
                break;
        case C_F_CUR:
                r->funding[0].cur = s;
                break;
        case C_F_AMOUNT:
                r->funding[1].amount = v;
                break;
        case C_Q_DUP:
                r->qty[1] = r->qty[0];
                break;
        case C_Q_ZERO:
                r->qty[1].q = v;
                break;
        case C_V_VALUE:
                r->values[0].amount = v;
                break;
        case C_V_DUP:
                r->values[1].cur = "EUR";
                break;
        case C_V_CUR:
                r->values[1].cur = s;
                break;
        case C_P_DUP:
                r->personnel[1].role = 0;
                r->personnel[1].loc = 0;
                break;
        case C_P_ID:
                r->personnel[0].id = s;
                break;
        case C_P_HEAD:
                r->personnel[1].headcount = v;
                break;
        case C_P_ROLE:
                r->personnel[1].role = v;
                break;
        case C_T_ORDER:
                r->training[1].year = v;
                break;
        case C_T_DUP:
                r->training[1].year = 2004;
                break;
        case C_T_ZERO:
                r->training[0].trainees = v;
                break;
        case C_T_LEVEL:
                r->training[0].lvl = v;
                break;
        default:
                break;
        }
}

/* Bodies that match the schema's shape but break an invariant, or that
 * lie about lengths and indices. */
static void test_crafted(void **state) {
        tecg_state_codec_t *c = *state;
        const raw_case_t cases[] = {
                RAW_CASE("valid", TECG_OK, "", C_NONE, 0, NULL),
                RAW_CASE("null as_of", TECG_OK, "", C_AS_OF_BRANCH, 0, NULL),
                RAW_CASE("lower-case nation", TECG_ERR_INVALID, "nation", C_NATION, 0, "nld"),
                RAW_CASE("long nation", TECG_ERR_INVALID, "nation: string too long", C_NATION, 0,
                         "NLDX"),
                RAW_CASE("nation with NUL", TECG_ERR_INVALID, "nation", C_NATION, 0, "N"),
                RAW_CASE("negative version", TECG_ERR_INVALID, "version: < 0", C_VERSION, -1, NULL),
                RAW_CASE("negative events", TECG_ERR_INVALID, "events: < 0", C_EVENTS, INT64_MIN,
                         NULL),
                RAW_CASE("as_of INT64_MIN", TECG_ERR_INVALID, "as_of", C_AS_OF, INT64_MIN, NULL),
                RAW_CASE("as_of branch 2", TECG_ERR_INVALID,
                         "union branch index 2 out of range (2 branches) "
                         "(field as_of",
                         C_AS_OF_BRANCH, 2, NULL),
                RAW_CASE("channel 3", TECG_ERR_INVALID,
                         "enum index 3 out of range (3 symbols) "
                         "(field funding.channel",
                         C_F_CHANNEL, 3, NULL),
                RAW_CASE("channel -1", TECG_ERR_INVALID, "enum index -1 out of range", C_F_CHANNEL,
                         -1, NULL),
                RAW_CASE("funding duplicate", TECG_ERR_INVALID,
                         "funding[1]: key duplicate or out of order", C_F_DUP, 0, NULL),
                RAW_CASE("funding out of order", TECG_ERR_INVALID,
                         "funding[1]: key duplicate or out of order", C_F_ORDER, 0, NULL),
                RAW_CASE("funding currency", TECG_ERR_INVALID, "funding[0].currency", C_F_CUR, 0,
                         "Eur"),
                RAW_CASE("funding currency long", TECG_ERR_INVALID,
                         "funding[0].currency: string too long", C_F_CUR, 0, "EURO"),
                RAW_CASE("funding amount 0", TECG_ERR_INVALID,
                         "funding[1].amount_minor 0 is not > 0", C_F_AMOUNT, 0, NULL),
                RAW_CASE("quantity duplicate", TECG_ERR_INVALID,
                         "equipment_quantity[1].category: key duplicate", C_Q_DUP, 0, NULL),
                RAW_CASE("quantity 0", TECG_ERR_INVALID, "equipment_quantity[1].quantity: not > 0",
                         C_Q_ZERO, 0, NULL),
                RAW_CASE("value negative", TECG_ERR_INVALID, "equipment_values[0].value_minor < 0",
                         C_V_VALUE, -1, NULL),
                RAW_CASE("value duplicate", TECG_ERR_INVALID, "equipment_values[1]: key duplicate",
                         C_V_DUP, 0, NULL),
                RAW_CASE("value currency", TECG_ERR_INVALID, "equipment_values[1].currency",
                         C_V_CUR, 0, "U$D"),
                RAW_CASE("personnel duplicate", TECG_ERR_INVALID,
                         "personnel[1].role: key duplicate", C_P_DUP, 0, NULL),
                RAW_CASE("personnel role 5", TECG_ERR_INVALID,
                         "enum index 5 out of range (5 symbols) "
                         "(field personnel.role",
                         C_P_ROLE, 5, NULL),
                RAW_CASE("event_id charset", TECG_ERR_INVALID, "bad event_id", C_P_ID, 0,
                         "NLD p 2"),
                RAW_CASE("event_id empty", TECG_ERR_INVALID, "bad event_id", C_P_ID, 0, ""),
                RAW_CASE("event_id 65 chars", TECG_ERR_INVALID,
                         "personnel[0].event_id: string too long", C_P_ID, 0,
                         "12345678901234567890123456789012345678901234567890"
                         "123456789012345"),
                RAW_CASE("headcount negative", TECG_ERR_INVALID, "headcount < 0", C_P_HEAD, -1,
                         NULL),
                RAW_CASE("headcount over int32", TECG_ERR_INVALID,
                         "varint does not fit 32 bits "
                         "(field personnel.headcount",
                         C_P_HEAD, INT64_C(1) << 31, NULL),
                RAW_CASE("training out of order", TECG_ERR_INVALID,
                         "training[1]: key duplicate or out of order", C_T_ORDER, 2003, NULL),
                RAW_CASE("training duplicate", TECG_ERR_INVALID, "training[1]: key duplicate",
                         C_T_DUP, 0, NULL),
                RAW_CASE("trainees 0", TECG_ERR_INVALID, "training[0].trainees 0 is not > 0",
                         C_T_ZERO, 0, NULL),
                RAW_CASE("level 3", TECG_ERR_INVALID,
                         "enum index 3 out of range (3 symbols) "
                         "(field training.level",
                         C_T_LEVEL, 3, NULL),
        };
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                raw_t r = base_raw();
                apply_change(&r, cases[k].change.field, cases[k].change.v, cases[k].change.s);
                tecg_buf_t b = craft(tecg_state_codec_fingerprint(c), &r);
                if (strcmp(cases[k].name, "nation with NUL") == 0) {
                        /* "N" -> "N\0D": length 3 with a NUL inside. */
                        b.data[10] = 0x06;
                        uint8_t rest[] = {0, 'D'};
                        tecg_buf_t n = TECG_BUF_INIT;
                        assert_int_equal(tecg_buf_append(&n, b.data, 12), 0);
                        assert_int_equal(tecg_buf_append(&n, rest, 2), 0);
                        assert_int_equal(tecg_buf_append(&n, b.data + 12, b.len - 12), 0);
                        tecg_buf_free(&b);
                        b = n;
                }
                if (cases[k].err == TECG_OK) {
                        tecg_nation_state_t *st = decode_ok(c, b.data, b.len);
                        tecg_buf_t again = encode_ok(c, st);
                        /* Our crafting writer and the codec agree. */
                        assert_int_equal(again.len, b.len);
                        assert_memory_equal(again.data, b.data, b.len);
                        tecg_buf_free(&again);
                        tecg_nation_state_destroy(st);
                } else {
                        decode_refused(c, b.data, b.len, cases[k].err, cases[k].why, cases[k].name);
                }
                tecg_buf_free(&b);
        }
}

/* Lengths and counts that would make Avro-C allocate far more than the
 * message holds are refused before Avro-C reads them. */
static void test_hostile_lengths(void **state) {
        tecg_state_codec_t *c = *state;
        uint64_t fp = tecg_state_codec_fingerprint(c);
        static const struct {
                const char *name;
                uint8_t body[24];
                size_t len;
                const char *why;
        } cases[] = {
                {"nation length 2^62",
                 {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'N'},
                 10,
                 "string length 4611686018427387903 exceeds the 1 bytes left "
                 "(field nation, body byte 0)"},
                {"nation length negative",
                 {0x01, 'N'},
                 2,
                 "negative string length -1 (field nation"},
                {"funding count 2^40",
                 {0x06, 'N', 'L', 'D', 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0},
                 14,
                 "array block count 1099511627776 exceeds what the "
                 "14-byte body can hold (field funding"},
                {"funding block count INT64_MIN",
                 {0x06, 'N', 'L', 'D', 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                  0xff, 0x01},
                 17,
                 "array block count out of range (field funding"},
                {"varint of 11 bytes",
                 {0x06, 'N', 'L', 'D', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                  0x01},
                 15,
                 "field version"},
                {"varint beyond 64 bits",
                 {0x06, 'N', 'L', 'D', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
                 14,
                 "varint does not fit 64 bits (field version"},
                {"ends in a varint",
                 {0x06, 'N', 'L', 'D', 0x80},
                 5,
                 "body ends inside a varint (field version"},
        };
        avro_set_allocator(tu_counting_allocator, NULL);
        tu_largest_alloc = 0;
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                tecg_buf_t b = TECG_BUF_INIT;
                assert_int_equal(tecg_framing_write_single_object(&b, fp), 0);
                assert_int_equal(tecg_buf_append(&b, cases[k].body, cases[k].len), 0);
                decode_refused(c, b.data, b.len, TECG_ERR_INVALID, cases[k].why, cases[k].name);
                tecg_buf_free(&b);
        }
        assert_true(tu_largest_alloc < 4096);
}

/* Arrays written in negative-count blocks (count, byte size, items), which
 * the Avro spec allows and Java writers use, decode the same. */
/* The last_* fields on the wire: v1 bodies end before them, current ones
 * must hold them, and a value is checked like as_of. */
static void test_crafted_last(void **state) {
        tecg_state_codec_t *c = *state;
        raw_t r = base_raw();
        tecg_buf_t b;
        tecg_nation_state_t *st;

        r.has_last[TECG_EV_TRAINING] = 1;
        r.last[TECG_EV_TRAINING] = r.as_of - 1;
        b = craft(tecg_state_codec_fingerprint(c), &r);
        st = decode_ok(c, b.data, b.len);
        assert_true(st->last_report_ms[TECG_EV_TRAINING] == r.as_of - 1);
        assert_true(st->last_report_ms[TECG_EV_FUNDING] == INT64_MIN);
        tecg_nation_state_destroy(st);
        tecg_buf_free(&b);

        r.last[TECG_EV_TRAINING] = r.as_of + 1;
        b = craft(tecg_state_codec_fingerprint(c), &r);
        decode_refused(c, b.data, b.len, TECG_ERR_INVALID, "last_training is later than as_of",
                       "last after as_of");
        tecg_buf_free(&b);

        r.last[TECG_EV_TRAINING] = INT64_MIN;
        b = craft(tecg_state_codec_fingerprint(c), &r);
        decode_refused(c, b.data, b.len, TECG_ERR_INVALID, "last_training: INT64_MIN",
                       "last INT64_MIN");
        tecg_buf_free(&b);

        /* A v1 body under the current fingerprint ends too early... */
        r.v1 = true;
        b = craft(tecg_state_codec_fingerprint(c), &r);
        decode_refused(c, b.data, b.len, TECG_ERR_INVALID, "field last_funding", "v1 as v2");
        tecg_buf_free(&b);
        /* ...and under v1's it is read, every last report unknown. */
        b = craft(tecg_state_codec_fingerprint_v1(c), &r);
        st = decode_ok(c, b.data, b.len);
        for (int t = 0; t < TECG_EV__COUNTED; t++)
                assert_true(st->last_report_ms[t] == INT64_MIN);
        tecg_nation_state_destroy(st);
        tecg_buf_free(&b);

        /* A v2 body (through last_*) under the current fingerprint ends
         * too early; under v2's it is read without months. */
        r.v1 = false;
        r.v2 = true;
        r.last[TECG_EV_TRAINING] = r.as_of - 1;
        b = craft(tecg_state_codec_fingerprint(c), &r);
        decode_refused(c, b.data, b.len, TECG_ERR_INVALID, "field funding_months", "v2 as v3");
        tecg_buf_free(&b);
        b = craft(tecg_state_codec_fingerprint_v2(c), &r);
        st = decode_ok(c, b.data, b.len);
        assert_true(st->last_report_ms[TECG_EV_TRAINING] == r.as_of - 1);
        assert_int_equal(st->nfunding_months, 0);
        tecg_nation_state_destroy(st);
        tecg_buf_free(&b);
}

static void test_negative_blocks(void **state) {
        tecg_state_codec_t *c = *state;
        raw_t r = base_raw();
        tecg_buf_t want = craft(tecg_state_codec_fingerprint(c), &r), b;
        tecg_nation_state_t *a, *bst;

        /* Rewrite the funding array (2 items) as blocks of -1 item each. */
        r.nfunding = 0;
        b = craft(tecg_state_codec_fingerprint(c), &r);
        {
                tecg_buf_t item = TECG_BUF_INIT, out = TECG_BUF_INIT;
                size_t head = 10 + 4 + 1 + 1 + 1 + 6; /* through as_of */
                assert_int_equal(tecg_buf_append(&out, b.data, head), 0);
                for (size_t i = 0; i < 2; i++) {
                        tecg_buf_reset(&item);
                        put_money(&item, &r.funding[i]);
                        put_long(&out, -1);
                        put_long(&out, (int64_t)item.len);
                        assert_int_equal(tecg_buf_append(&out, item.data, item.len), 0);
                }
                /* b continues with the funding terminator 0 at head. */
                assert_int_equal(tecg_buf_append(&out, b.data + head, b.len - head), 0);
                tecg_buf_free(&item);
                tecg_buf_free(&b);
                b = out;
        }
        a = decode_ok(c, want.data, want.len);
        bst = decode_ok(c, b.data, b.len);
        assert_true(tecg_nation_state_equal(a, bst));
        assert_int_equal(bst->nfunding, 2);
        tecg_nation_state_destroy(a);
        tecg_nation_state_destroy(bst);
        tecg_buf_free(&want);
        tecg_buf_free(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                cmocka_unit_test(test_new_destroy),
                T(test_fingerprint),
                T(test_golden),
                T(test_golden_v1),
                T(test_golden_v2),
                T(test_history_invariants),
                T(test_crafted_last),
                T(test_last_report_bounds),
                T(test_round_trips),
                T(test_reuse),
                T(test_encode_appends),
                T(test_encode_refuses),
                T(test_framing_refused),
                T(test_every_truncation),
                T(test_every_byte_flip),
                T(test_garbage),
                T(test_crafted),
                T(test_hostile_lengths),
                T(test_negative_blocks),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
