/* Corrections and history in the nation state (docs/design.md §4.1, §4.4):
 * tecg_nation_state_unapply() is the exact inverse of apply() on totals and
 * months for every type, personnel reports fall back to the latest
 * remaining one, the correction and dead-letter lists do not depend on
 * arrival order, and a property test: random events, some taken back, give
 * the same state (months included) as counting only the ones that remain,
 * in any order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nation_state.h"
#include "state_codec.h"
#include "testutil.h"

/* ------------------------------------------------------------- helpers */

static tecg_event_t base(tecg_event_type_t type, const char *id, int64_t occurred) {
        tecg_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = type;
        snprintf(ev.event_id, sizeof(ev.event_id), "%s", id);
        memcpy(ev.nation, "NLD", 4);
        ev.occurred_at_ms = occurred;
        return ev;
}

static tecg_event_t funding(const char *id, int64_t at, int64_t amount, const char *cur,
                            tecg_funding_stage_t stage) {
        tecg_event_t ev = base(TECG_EV_FUNDING, id, at);
        ev.u.funding.amount_minor = amount;
        snprintf(ev.u.funding.currency, 4, "%s", cur);
        ev.u.funding.channel = TECG_CH_TRUST_FUND;
        ev.u.funding.stage = stage;
        return ev;
}

static tecg_event_t equipment(const char *id, int64_t at, int64_t qty, int64_t value,
                              const char *cur) {
        tecg_event_t ev = base(TECG_EV_EQUIPMENT, id, at);
        ev.u.equipment.item = "item";
        ev.u.equipment.category = TECG_CAT_VEHICLES;
        ev.u.equipment.stage = TECG_ES_OFFERED;
        ev.u.equipment.quantity = qty;
        if (cur) {
                ev.u.equipment.has_value = true;
                ev.u.equipment.value_minor = value;
                snprintf(ev.u.equipment.currency, 4, "%s", cur);
        }
        return ev;
}

static tecg_event_t personnel(const char *id, int64_t at, tecg_role_t role, tecg_location_t loc,
                              int32_t headcount) {
        tecg_event_t ev = base(TECG_EV_PERSONNEL, id, at);
        ev.u.personnel.role = role;
        ev.u.personnel.location = loc;
        ev.u.personnel.headcount = headcount;
        return ev;
}

static tecg_event_t training(const char *id, int64_t at, tecg_location_t loc, int32_t trainees) {
        tecg_event_t ev = base(TECG_EV_TRAINING, id, at);
        ev.u.training.course = "course";
        ev.u.training.location = loc;
        ev.u.training.level = TECG_LVL_JUNIOR;
        ev.u.training.trainees = trainees;
        return ev;
}

static void apply(tecg_nation_state_t *st, const tecg_event_t *ev) {
        char err[256] = "";
        bool changed;
        if (tecg_nation_state_apply(st, ev, &changed, err, sizeof(err)))
                fail_msg("apply %s: %s", ev->event_id, err);
}

static void count_only(tecg_nation_state_t *st, const tecg_event_t *ev) {
        char err[256] = "";
        bool changed;
        if (tecg_nation_state_count_only(st, ev, &changed, err, sizeof(err)))
                fail_msg("count_only %s: %s", ev->event_id, err);
}

static void unapply(tecg_nation_state_t *st, const tecg_event_t *ev, const tecg_event_t *fb,
                    const tecg_event_t *mfb) {
        char err[256] = "";
        bool changed = false;
        if (tecg_nation_state_unapply(st, ev, fb, mfb, &changed, err, sizeof(err)))
                fail_msg("unapply %s: %s", ev->event_id, err);
}

static tecg_state_codec_t *codec;

static int group_setup(void **state) {
        char err[256];
        (void)state;
        codec = tecg_state_codec_new(err, sizeof(err));
        if (!codec)
                fprintf(stderr, "state codec: %s\n", err);
        return codec ? 0 : -1;
}

static int group_teardown(void **state) {
        (void)state;
        tecg_state_codec_destroy(codec);
        return 0;
}

/* Equal, and byte-identical once encoded (the codec also checks every
 * invariant, months against totals included). */
static void assert_same_state(const tecg_nation_state_t *a, const tecg_nation_state_t *b) {
        tecg_buf_t ea = TECG_BUF_INIT, eb = TECG_BUF_INIT;
        char err[256];
        assert_true(tecg_nation_state_equal(a, b));
        if (tecg_state_codec_encode(codec, a, &ea, err, sizeof(err)) ||
            tecg_state_codec_encode(codec, b, &eb, err, sizeof(err)))
                fail_msg("encode: %s", err);
        assert_int_equal(ea.len, eb.len);
        assert_memory_equal(ea.data, eb.data, ea.len);
        tecg_buf_free(&ea);
        tecg_buf_free(&eb);
}

static uint64_t rng_state = 0x13198a2e03707344u;

static uint64_t rng(void) {
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        return z ^ (z >> 31);
}

static void shuffle(size_t *order, size_t n) {
        for (size_t i = n; i > 1; i--) {
                size_t j = (size_t)(rng() % i), t = order[i - 1];
                order[i - 1] = order[j];
                order[j] = t;
        }
}

/* --------------------------------------------------------------- tests */

static void test_month_of(void **state) {
        (void)state;
        assert_int_equal(tecg_month_of(0), 197001);
        assert_int_equal(tecg_month_of(-1), 196912);
        assert_int_equal(tecg_month_of(tu_at(2005, 1, 1, 1, 0, 0, 120)), 200412);
        assert_int_equal(tecg_month_of(tu_at(2004, 12, 31, 23, 30, 0, -60)), 200501);
        assert_int_equal(tecg_month_of(tu_at(2004, 2, 29, 23, 59, 59, 0)), 200402);
        assert_int_equal(tecg_month_of(tu_at(2004, 3, 1, 0, 0, 0, 0)), 200403);
        assert_int_equal(tecg_month_of(tu_at(9999, 12, 31, 23, 59, 59, 0)), 999912);
}

/* For every type: base events, then ev applied and taken back, equals the
 * base with ev only counted (events, as_of and last_report stay: they
 * count what arrived). */
static void test_unapply_inverse(void **state) {
        (void)state;
        const int64_t jan = tu_at(2005, 1, 10, 0, 0, 0, 0), feb = tu_at(2005, 2, 10, 0, 0, 0, 0);
        tecg_event_t basev[] = {
                funding("b-f", jan, 500, "EUR", TECG_FS_PLEDGED),
                equipment("b-e", jan, 3, 700, "EUR"),
                personnel("b-p", jan, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 10),
                training("b-t", jan, TECG_LOC_IN_IRAQ, 20),
        };
        tecg_event_t evs[] = {
                funding("x-f1", jan, 250, "EUR", TECG_FS_PLEDGED),   /* same cell */
                funding("x-f2", feb, 250, "USD", TECG_FS_DISBURSED), /* new cells */
                equipment("x-e1", feb, 2, 300, "EUR"),
                equipment("x-e2", feb, 2, 300, "GBP"),
                equipment("x-e3", feb, 2, 0, NULL),
                training("x-t1", jan, TECG_LOC_IN_IRAQ, 5),
                training("x-t2", tu_at(2006, 3, 1, 0, 0, 0, 0), TECG_LOC_OUTSIDE_IRAQ, 5),
                /* An older report: no effect to take back but its arrival. */
                personnel("a-p", tu_at(2004, 12, 1, 0, 0, 0, 0), TECG_ROLE_TRAINER,
                          TECG_LOC_IN_IRAQ, 99),
                /* A report of another (role, location): no fallback. */
                personnel("x-p", feb, TECG_ROLE_STAFF, TECG_LOC_IN_IRAQ, 4),
        };
        for (size_t k = 0; k < sizeof(evs) / sizeof(evs[0]); k++) {
                tecg_nation_state_t *st = tecg_nation_state_new("NLD");
                tecg_nation_state_t *want = tecg_nation_state_new("NLD");
                for (size_t i = 0; i < 4; i++) {
                        apply(st, &basev[i]);
                        apply(want, &basev[i]);
                }
                count_only(want, &evs[k]);
                apply(st, &evs[k]);
                assert_false(tecg_nation_state_equal(st, want) && k != 7);
                unapply(st, &evs[k], NULL, NULL);
                assert_same_state(st, want);
                /* Twice is refused where the base cannot cover it (cells the
                 * base does not have). */
                if (strcmp(evs[k].event_id, "x-f2") == 0 || strcmp(evs[k].event_id, "x-e2") == 0 ||
                    strcmp(evs[k].event_id, "x-t2") == 0) {
                        char err[256] = "";
                        bool changed = true;
                        tecg_nation_state_t *before = tecg_nation_state_dup(st);
                        assert_int_equal(tecg_nation_state_unapply(st, &evs[k], NULL, NULL,
                                                                   &changed, err, sizeof(err)),
                                         TECG_ERR_INVALID);
                        assert_non_null(strstr(err, "is not in the state"));
                        assert_false(changed);
                        assert_true(tecg_nation_state_equal(st, before));
                        tecg_nation_state_destroy(before);
                }
                tecg_nation_state_destroy(st);
                tecg_nation_state_destroy(want);
        }
}

/* Taking back the winner of a (role, location) falls back to the latest
 * remaining report, overall and within the month; without a fallback the
 * cell goes. A wrong fallback is refused with the state unchanged. */
static void test_personnel_fallbacks(void **state) {
        (void)state;
        tecg_event_t p1 = personnel("p1", tu_at(2005, 1, 5, 0, 0, 0, 0), TECG_ROLE_TRAINER,
                                    TECG_LOC_IN_IRAQ, 10);
        tecg_event_t p2 = personnel("p2", tu_at(2005, 2, 5, 0, 0, 0, 0), TECG_ROLE_TRAINER,
                                    TECG_LOC_IN_IRAQ, 20);
        tecg_event_t p3 = personnel("p3", tu_at(2005, 2, 20, 0, 0, 0, 0), TECG_ROLE_TRAINER,
                                    TECG_LOC_IN_IRAQ, 30);
        tecg_event_t other = personnel("q1", tu_at(2005, 1, 1, 0, 0, 0, 0), TECG_ROLE_MENTOR,
                                       TECG_LOC_IN_IRAQ, 1);
        tecg_nation_state_t *st = tecg_nation_state_new("NLD");
        tecg_nation_state_t *want = tecg_nation_state_new("NLD");
        char err[256] = "";
        bool changed = true;

        apply(st, &p1);
        apply(st, &p2);
        apply(st, &p3);
        assert_int_equal(st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ].headcount, 30);
        assert_int_equal(st->nstrength_months, 2);
        assert_int_equal(st->strength_months[1].headcount, 30);

        /* A fallback of another role, or not earlier (itself), is refused. */
        tecg_nation_state_t *before = tecg_nation_state_dup(st);
        assert_int_equal(
                tecg_nation_state_unapply(st, &p3, &other, NULL, &changed, err, sizeof(err)),
                TECG_ERR_INVALID);
        assert_int_equal(tecg_nation_state_unapply(st, &p3, &p3, NULL, &changed, err, sizeof(err)),
                         TECG_ERR_INVALID);
        /* A month fallback of another month, too. */
        assert_int_equal(tecg_nation_state_unapply(st, &p3, &p2, &p1, &changed, err, sizeof(err)),
                         TECG_ERR_INVALID);
        assert_non_null(strstr(err, "and month"));
        assert_false(changed);
        assert_true(tecg_nation_state_equal(st, before));
        tecg_nation_state_destroy(before);

        /* p3 retracted: p2 wins overall and in February. */
        unapply(st, &p3, &p2, &p2);
        assert_int_equal(st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ].headcount, 20);
        assert_string_equal(st->strength_months[1].event_id, "p2");
        apply(want, &p1);
        apply(want, &p2);
        count_only(want, &p3);
        assert_same_state(st, want);

        /* p2 retracted too: p1 overall, February has no report left. */
        unapply(st, &p2, &p1, NULL);
        assert_int_equal(st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ].headcount, 10);
        assert_int_equal(st->nstrength_months, 1);
        assert_int_equal(st->strength_months[0].month, 200501);

        /* p1 retracted: the cell goes. */
        unapply(st, &p1, NULL, NULL);
        assert_false(st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ].reported);
        assert_int_equal(st->nstrength_months, 0);
        assert_true(st->events == 3);

        /* Taking back a report that wins neither overall nor its month
         * changes nothing; one that wins only its month removes the month. */
        tecg_event_t p0 = personnel("p0", tu_at(2005, 1, 2, 0, 0, 0, 0), TECG_ROLE_TRAINER,
                                    TECG_LOC_IN_IRAQ, 5);
        tecg_nation_state_destroy(want);
        want = tecg_nation_state_new("NLD");
        tecg_nation_state_destroy(st);
        st = tecg_nation_state_new("NLD");
        apply(st, &p0);
        apply(st, &p1);
        apply(st, &p2);
        apply(want, &p0);
        apply(want, &p1);
        apply(want, &p2);
        changed = true;
        /* A fallback that would not be used is not looked at either. */
        assert_int_equal(tecg_nation_state_unapply(st, &p0, &p2, NULL, &changed, err, sizeof(err)),
                         TECG_OK);
        assert_false(changed);
        assert_true(tecg_nation_state_equal(st, want));
        unapply(st, &p1, &p0, &p0);
        assert_int_equal(st->nstrength_months, 2);
        assert_string_equal(st->strength_months[0].event_id, "p0");
        assert_int_equal(st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ].headcount, 20);

        tecg_nation_state_destroy(want);
        tecg_nation_state_destroy(st);
}

static tecg_correction_t correction(int i) {
        tecg_correction_t c;
        memset(&c, 0, sizeof(c));
        c.kind = i % 3 ? TECG_CORR_SUPERSEDE : TECG_CORR_RETRACT;
        c.type = (tecg_event_type_t)(i % TECG_EV__COUNTED);
        snprintf(c.event_id, sizeof(c.event_id), "c-%02d", i);
        snprintf(c.target_id, sizeof(c.target_id), "t-%02d", i);
        /* Pairs share a time: the event_id breaks the tie. */
        c.occurred_at_ms = tu_at(2005, 1, 1 + i / 2, 0, 0, 0, 0);
        if (c.kind == TECG_CORR_RETRACT)
                c.reason = "entered twice";
        else
                snprintf(c.after, sizeof(c.after), "funding TRUST_FUND PLEDGED %d.00 EUR", i);
        return c;
}

/* 15 corrections in two orders: the same 10 latest kept, latest first, the
 * same counts; a later note of a listed entry fills `before` and counts
 * nothing; an update of an entry no longer listed counts nothing either. */
static void test_note_correction_order(void **state) {
        (void)state;
        enum { N = 15 };
        size_t order[N];
        tecg_nation_state_t *a = tecg_nation_state_new("NLD"), *b = tecg_nation_state_new("NLD");
        char err[256];

        for (size_t i = 0; i < N; i++)
                order[i] = i;
        for (size_t i = 0; i < N; i++) {
                tecg_correction_t c = correction((int)i);
                assert_int_equal(tecg_nation_state_note_correction(a, &c, err, sizeof(err)), 0);
        }
        shuffle(order, N);
        for (size_t i = 0; i < N; i++) {
                tecg_correction_t c = correction((int)order[i]);
                assert_int_equal(tecg_nation_state_note_correction(b, &c, err, sizeof(err)), 0);
        }
        assert_same_state(a, b);
        assert_int_equal(a->nrecent_corrections, TECG_RECENT_CORRECTIONS);
        assert_string_equal(a->recent_corrections[0].event_id, "c-14");
        assert_string_equal(a->recent_corrections[1].event_id, "c-13");
        assert_string_equal(a->recent_corrections[9].event_id, "c-05");
        assert_true(a->retractions == 5 && a->supersessions == 10);
        assert_string_equal(a->recent_corrections[2].reason, "entered twice");
        assert_null(a->recent_corrections[0].reason);

        /* The target of c-13 arrived: its note gets `before`. */
        tecg_correction_t upd = correction(13);
        snprintf(upd.before, sizeof(upd.before), "training IN_IRAQ JUNIOR 5 trainees");
        upd.update_only = true;
        assert_int_equal(tecg_nation_state_note_correction(a, &upd, err, sizeof(err)), 0);
        assert_string_equal(a->recent_corrections[1].before, "training IN_IRAQ JUNIOR 5 trainees");
        assert_true(a->retractions == 5 && a->supersessions == 10);
        /* The target of c-00, long out of the list: nothing changes. */
        tecg_nation_state_t *before = tecg_nation_state_dup(a);
        upd = correction(0);
        upd.update_only = true;
        assert_int_equal(tecg_nation_state_note_correction(a, &upd, err, sizeof(err)), 0);
        assert_true(tecg_nation_state_equal(a, before));
        /* A bad note is refused. */
        upd.type = TECG_EV_RETRACTION;
        assert_int_equal(tecg_nation_state_note_correction(a, &upd, err, sizeof(err)),
                         TECG_ERR_INVALID);
        assert_true(tecg_nation_state_equal(a, before));

        tecg_nation_state_destroy(before);
        tecg_nation_state_destroy(a);
        tecg_nation_state_destroy(b);
}

/* Dead letters: counted per month, the latest 5 kept whatever the order,
 * a long reason cut on a UTF-8 boundary. */
static void test_dead_letters(void **state) {
        (void)state;
        enum { N = 8 };
        size_t order[N];
        tecg_nation_state_t *a = tecg_nation_state_new("NLD"), *b = tecg_nation_state_new("NLD");
        char err[256], reason[400];

        for (size_t i = 0; i < N; i++)
                order[i] = i;
        shuffle(order, N);
        for (size_t i = 0; i < N; i++) {
                int64_t at = tu_at(2005, 1 + (int)i / 3, 1, 0, 0, 0, 0);
                int64_t at2 = tu_at(2005, 1 + (int)order[i] / 3, 1, 0, 0, 0, 0);
                char r1[32], r2[32];
                snprintf(r1, sizeof(r1), "reason %zu", i);
                snprintf(r2, sizeof(r2), "reason %zu", order[i]);
                assert_int_equal(
                        tecg_nation_state_note_dead_letter(a, at, "contract", r1, err, sizeof(err)),
                        0);
                assert_int_equal(tecg_nation_state_note_dead_letter(b, at2, "contract", r2, err,
                                                                    sizeof(err)),
                                 0);
        }
        assert_same_state(a, b);
        assert_true(a->dead_letters == N);
        assert_int_equal(a->ndead_letter_months, 3);
        assert_true(a->dead_letter_months[0].count == 3 && a->dead_letter_months[2].count == 2);
        assert_int_equal(a->nrecent_dead_letters, TECG_RECENT_DEAD_LETTERS);
        assert_string_equal(a->recent_dead_letters[0].reason, "reason 7");

        /* 'é' is 2 bytes: 300 of them cut at 254 bytes, never inside one. */
        reason[0] = '\0';
        for (int i = 0; i < 150; i++)
                strcat(reason, "\xc3\xa9");
        assert_int_equal(tecg_nation_state_note_dead_letter(a, tu_at(2006, 1, 1, 0, 0, 0, 0),
                                                            "decode", reason, err, sizeof(err)),
                         0);
        assert_int_equal(strlen(a->recent_dead_letters[0].reason), 254);
        tecg_nation_state_destroy(a);
        tecg_nation_state_destroy(b);
}

static void test_effect_text(void **state) {
        (void)state;
        char out[TECG_EFFECT_TEXT_MAX + 1];
        tecg_event_t ev = funding("f", 0, 810000000, "EUR", TECG_FS_PLEDGED);
        tecg_nation_state_effect_text(&ev, out, sizeof(out));
        assert_string_equal(out, "funding TRUST_FUND PLEDGED 8100000.00 EUR");
        ev = funding("f", 0, 7000000, "JPY", TECG_FS_DISBURSED);
        tecg_nation_state_effect_text(&ev, out, sizeof(out));
        assert_string_equal(out, "funding TRUST_FUND DISBURSED 7000000 JPY");
        ev = funding("f", 0, 1005, "KWD", TECG_FS_PLEDGED);
        tecg_nation_state_effect_text(&ev, out, sizeof(out));
        assert_string_equal(out, "funding TRUST_FUND PLEDGED 1.005 KWD");
        ev = personnel("p", 0, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 42);
        tecg_nation_state_effect_text(&ev, out, sizeof(out));
        assert_string_equal(out, "personnel TRAINER IN_IRAQ 42");
        ev = training("t", 0, TECG_LOC_IN_IRAQ, 25);
        ev.u.training.level = TECG_LVL_SENIOR;
        tecg_nation_state_effect_text(&ev, out, sizeof(out));
        assert_string_equal(out, "training IN_IRAQ SENIOR 25 trainees");
        ev = equipment("e", 0, 12, 30000000, "EUR");
        tecg_nation_state_effect_text(&ev, out, sizeof(out));
        assert_string_equal(out, "equipment VEHICLES OFFERED 12 (value 300000.00 EUR)");
        ev = equipment("e", 0, 12, 0, NULL);
        tecg_nation_state_effect_text(&ev, out, sizeof(out));
        assert_string_equal(out, "equipment VEHICLES OFFERED 12");
        /* Cut to the buffer, always terminated. */
        char small[8];
        tecg_nation_state_effect_text(&ev, small, sizeof(small));
        assert_string_equal(small, "equipme");
}

/* ------------------------------------------------- the property test */

enum { NEV = 60 };

static tecg_event_t random_event(size_t i) {
        char id[16];
        /* Months spread over two years, some events late (any order). */
        int64_t at = tu_at(2005 + (int)(rng() % 2), 1 + (int)(rng() % 12), 1 + (int)(rng() % 28),
                           (int)(rng() % 24), 0, 0, 0);
        snprintf(id, sizeof(id), "ev-%02zu", i);
        switch (rng() % 4) {
        case 0:
                return funding(id, at, 1 + (int64_t)(rng() % 1000), rng() % 2 ? "EUR" : "USD",
                               (tecg_funding_stage_t)(rng() % 2));
        case 1:
                return equipment(id, at, 1 + (int64_t)(rng() % 9), 1 + (int64_t)(rng() % 500),
                                 rng() % 3 ? "EUR" : NULL);
        case 2:
                /* Few (role, location) cells, so reports compete. */
                return personnel(id, at, (tecg_role_t)(rng() % 2), TECG_LOC_IN_IRAQ,
                                 (int32_t)(rng() % 400));
        default:
                return training(id, at, (tecg_location_t)(rng() % 2), 1 + (int32_t)(rng() % 50));
        }
}

/* The best report among evs[] of the same (role, location) as evs[k]
 * (and of its month when `month`), skipping the gone ones; NULL if none. */
static const tecg_event_t *best_remaining(const tecg_event_t *evs, const bool *gone, size_t k,
                                          bool month) {
        const tecg_event_t *best = NULL, *e = &evs[k];
        for (size_t i = 0; i < NEV; i++) {
                const tecg_event_t *c = &evs[i];
                if (i == k || gone[i] || c->type != TECG_EV_PERSONNEL ||
                    c->u.personnel.role != e->u.personnel.role ||
                    c->u.personnel.location != e->u.personnel.location ||
                    (month && tecg_month_of(c->occurred_at_ms) != tecg_month_of(e->occurred_at_ms)))
                        continue;
                if (!best || c->occurred_at_ms > best->occurred_at_ms ||
                    (c->occurred_at_ms == best->occurred_at_ms &&
                     strcmp(c->event_id, best->event_id) > 0))
                        best = c;
        }
        return best;
}

/* Random events, a random third of them taken back (in a random order,
 * with the fallbacks the aggregator's store would find), equal the state
 * of only the remaining ones applied in another order, the taken-back ones
 * only counted: totals and every month cell, byte for byte. */
static void test_property_take_back(void **state) {
        (void)state;
        for (int round = 0; round < 40; round++) {
                tecg_event_t evs[NEV];
                bool back[NEV], gone[NEV];
                size_t order[NEV];
                tecg_nation_state_t *a = tecg_nation_state_new("NLD");
                tecg_nation_state_t *b = tecg_nation_state_new("NLD");

                for (size_t i = 0; i < NEV; i++) {
                        evs[i] = random_event(i);
                        back[i] = rng() % 3 == 0;
                        gone[i] = false;
                        order[i] = i;
                }
                shuffle(order, NEV);
                for (size_t i = 0; i < NEV; i++)
                        apply(a, &evs[order[i]]);
                shuffle(order, NEV);
                for (size_t i = 0; i < NEV; i++) {
                        size_t k = order[i];
                        if (!back[k])
                                continue;
                        const tecg_event_t *fb = NULL, *mfb = NULL;
                        if (evs[k].type == TECG_EV_PERSONNEL) {
                                fb = best_remaining(evs, gone, k, false);
                                mfb = best_remaining(evs, gone, k, true);
                        }
                        unapply(a, &evs[k], fb, mfb);
                        gone[k] = true;
                }
                shuffle(order, NEV);
                for (size_t i = 0; i < NEV; i++) {
                        size_t k = order[i];
                        if (back[k])
                                count_only(b, &evs[k]);
                        else
                                apply(b, &evs[k]);
                }
                assert_same_state(a, b);
                tecg_nation_state_destroy(a);
                tecg_nation_state_destroy(b);
        }
}

/* dup copies every new field, reasons included, and equal sees them. */
static void test_dup_equal_notes(void **state) {
        (void)state;
        tecg_nation_state_t *a = tecg_nation_state_new("NLD"), *d;
        tecg_event_t ev = training("t", tu_at(2005, 4, 1, 0, 0, 0, 0), TECG_LOC_IN_IRAQ, 5);
        tecg_correction_t c = correction(0);
        char err[256];

        apply(a, &ev);
        assert_int_equal(tecg_nation_state_note_correction(a, &c, err, sizeof(err)), 0);
        assert_int_equal(tecg_nation_state_note_dead_letter(a, 0, "decode", "x", err, sizeof(err)),
                         0);
        d = tecg_nation_state_dup(a);
        assert_non_null(d);
        assert_true(tecg_nation_state_equal(a, d));
        assert_ptr_not_equal(d->recent_corrections[0].reason, a->recent_corrections[0].reason);
        d->training_months[0].trainees++;
        assert_false(tecg_nation_state_equal(a, d));
        d->training_months[0].trainees--;
        d->recent_corrections[0].reason[0] = 'E';
        assert_false(tecg_nation_state_equal(a, d));
        d->recent_corrections[0].reason[0] = 'e';
        d->recent_dead_letters[0].at_ms++;
        assert_false(tecg_nation_state_equal(a, d));
        tecg_nation_state_destroy(d);
        tecg_nation_state_destroy(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_month_of),
                cmocka_unit_test(test_unapply_inverse),
                cmocka_unit_test(test_personnel_fallbacks),
                cmocka_unit_test(test_note_correction_order),
                cmocka_unit_test(test_dead_letters),
                cmocka_unit_test(test_effect_text),
                cmocka_unit_test(test_property_take_back),
                cmocka_unit_test(test_dup_equal_notes),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
