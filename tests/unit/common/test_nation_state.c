/* Aggregation semantics (docs/design.md §4) of tecg_nation_state_apply(): every
 * event type, personnel reports in any order and with equal times, UTC years
 * of times written with offsets, several currencies, overflow and other
 * nations refused with the state unchanged, and arrival order never
 * mattering (equal states and byte-identical encodings). */
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

static tecg_event_t funding(const char *id, int64_t amount, const char *cur, tecg_channel_t ch,
                            tecg_funding_stage_t stage) {
        tecg_event_t ev = base(TECG_EV_FUNDING, id, tu_at(2005, 2, 22, 9, 0, 0, 0));
        ev.u.funding.amount_minor = amount;
        snprintf(ev.u.funding.currency, 4, "%s", cur);
        ev.u.funding.channel = ch;
        ev.u.funding.stage = stage;
        return ev;
}

/* cur NULL: no value. */
static tecg_event_t equipment(const char *id, tecg_category_t cat, tecg_equipment_stage_t stage,
                              int64_t qty, int64_t value, const char *cur) {
        tecg_event_t ev = base(TECG_EV_EQUIPMENT, id, tu_at(2005, 3, 1, 0, 0, 0, 0));
        ev.u.equipment.item = "item";
        ev.u.equipment.category = cat;
        ev.u.equipment.stage = stage;
        ev.u.equipment.quantity = qty;
        if (cur) {
                ev.u.equipment.has_value = true;
                ev.u.equipment.value_minor = value;
                snprintf(ev.u.equipment.currency, 4, "%s", cur);
        }
        return ev;
}

static tecg_event_t personnel(const char *id, int64_t occurred, tecg_role_t role,
                              tecg_location_t loc, int32_t headcount) {
        tecg_event_t ev = base(TECG_EV_PERSONNEL, id, occurred);
        ev.u.personnel.role = role;
        ev.u.personnel.location = loc;
        ev.u.personnel.headcount = headcount;
        return ev;
}

static tecg_event_t training(const char *id, int64_t occurred, tecg_location_t loc,
                             tecg_level_t lvl, int32_t trainees) {
        tecg_event_t ev = base(TECG_EV_TRAINING, id, occurred);
        ev.u.training.course = "course";
        ev.u.training.location = loc;
        ev.u.training.level = lvl;
        ev.u.training.trainees = trainees;
        return ev;
}

/* Applies ev, which must be accepted; whether it changed the state. The
 * flag starts as `preset`, so that a flag never written shows. */
static bool apply_preset(tecg_nation_state_t *st, const tecg_event_t *ev, bool preset) {
        char err[256] = "";
        bool changed = preset;
        tecg_err_t rc = tecg_nation_state_apply(st, ev, &changed, err, sizeof(err));
        if (rc != TECG_OK)
                fail_msg("apply %s: %s", ev->event_id, err);
        return changed;
}

static void apply_ok(tecg_nation_state_t *st, const tecg_event_t *ev, bool want_changed) {
        assert_int_equal(apply_preset(st, ev, !want_changed), want_changed);
}

static void apply(tecg_nation_state_t *st, const tecg_event_t *ev) {
        apply_preset(st, ev, false);
}

/* Applies ev, expects TECG_ERR_INVALID with a reason containing `why`, and
 * checks that the state did not change at all. */
static void apply_refused(tecg_nation_state_t *st, const tecg_event_t *ev, const char *why) {
        tecg_nation_state_t *before = tecg_nation_state_dup(st);
        char err[256] = "";
        bool changed = true;

        assert_non_null(before);
        assert_int_equal(tecg_nation_state_apply(st, ev, &changed, err, sizeof(err)),
                         TECG_ERR_INVALID);
        assert_false(changed);
        if (!strstr(err, why))
                fail_msg("reason \"%s\" does not say \"%s\"", err, why);
        assert_true(tecg_nation_state_equal(st, before));
        assert_true(st->version == before->version);
        tecg_nation_state_destroy(before);
}

/* The encoder for byte comparisons, made once for the whole group. */
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

static tecg_buf_t encode(const tecg_nation_state_t *st) {
        tecg_buf_t b = TECG_BUF_INIT;
        char err[256];
        if (tecg_state_codec_encode(codec, st, &b, err, sizeof(err)))
                fail_msg("encode: %s", err);
        return b;
}

static void assert_same_state(const tecg_nation_state_t *a, const tecg_nation_state_t *b) {
        tecg_buf_t ea = encode(a), eb = encode(b);
        assert_true(tecg_nation_state_equal(a, b));
        assert_int_equal(ea.len, eb.len);
        assert_memory_equal(ea.data, eb.data, ea.len);
        tecg_buf_free(&ea);
        tecg_buf_free(&eb);
}

static uint64_t rng_state = 0x243f6a8885a308d3u;

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

static void test_new_destroy(void **state) {
        (void)state;
        tecg_nation_state_t *st = tecg_nation_state_new("NLD");
        assert_non_null(st);
        assert_string_equal(st->nation, "NLD");
        assert_true(st->version == 0 && st->events == 0);
        assert_true(st->as_of_ms == INT64_MIN);
        assert_int_equal(st->nfunding + st->nequipment_values + st->ntraining, 0);
        tecg_nation_state_destroy(st);
        tecg_nation_state_destroy(NULL);
}

static void test_funding(void **state) {
        (void)state;
        tecg_nation_state_t *st = tecg_nation_state_new("NLD");
        static const struct {
                const char *id, *cur;
                int64_t amount;
                tecg_channel_t ch;
                tecg_funding_stage_t stage;
        } in[] = {
                {"f1", "USD", 5000, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED},
                {"f2", "EUR", 65200000, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED},
                {"f3", "EUR", 100, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED},
                {"f4", "EUR", 700, TECG_CH_TRUST_FUND, TECG_FS_DISBURSED},
                {"f5", "JPY", 7000000, TECG_CH_BILATERAL, TECG_FS_PLEDGED},
                {"f6", "GBP", 123456, TECG_CH_COMMON_FUNDING, TECG_FS_DISBURSED},
                {"f7", "AUD", 1, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED},
                {"f8", "USD", INT64_MAX - 5000, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED},
        };
        /* Sorted by (channel, stage, currency). */
        static const tecg_funding_total_t want[] = {
                {TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "AUD", 1},
                {TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "EUR", 65200100},
                {TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "USD", INT64_MAX},
                {TECG_CH_TRUST_FUND, TECG_FS_DISBURSED, "EUR", 700},
                {TECG_CH_COMMON_FUNDING, TECG_FS_DISBURSED, "GBP", 123456},
                {TECG_CH_BILATERAL, TECG_FS_PLEDGED, "JPY", 7000000},
        };
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
                tecg_event_t ev = funding(in[i].id, in[i].amount, in[i].cur, in[i].ch, in[i].stage);
                apply_ok(st, &ev, true);
        }
        assert_int_equal(st->nfunding, sizeof(want) / sizeof(want[0]));
        for (size_t i = 0; i < st->nfunding; i++) {
                assert_int_equal(st->funding[i].channel, want[i].channel);
                assert_int_equal(st->funding[i].stage, want[i].stage);
                assert_string_equal(st->funding[i].currency, want[i].currency);
                assert_true(st->funding[i].amount_minor == want[i].amount_minor);
        }
        assert_true(st->events == 8);
        assert_true(st->as_of_ms == tu_at(2005, 2, 22, 9, 0, 0, 0));
        /* USD is at INT64_MAX: one more minor unit overflows. */
        tecg_event_t more = funding("f9", 1, "USD", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED);
        apply_refused(st, &more, "overflow");
        tecg_nation_state_destroy(st);
}

static void test_equipment(void **state) {
        (void)state;
        tecg_nation_state_t *st = tecg_nation_state_new("NLD");
        tecg_event_t in[] = {
                equipment("e1", TECG_CAT_VEHICLES, TECG_ES_DELIVERED, 40, 1234567, "EUR"),
                equipment("e2", TECG_CAT_VEHICLES, TECG_ES_DELIVERED, 2, 1000, "USD"),
                equipment("e3", TECG_CAT_UNIFORMS, TECG_ES_OFFERED, 1000, 0, NULL),
                equipment("e4", TECG_CAT_MEDICAL, TECG_ES_ACCEPTED, 5, 0, "EUR"),
                equipment("e5", TECG_CAT_VEHICLES, TECG_ES_DELIVERED, 1, 33, "EUR"),
                equipment("e6", TECG_CAT_VEHICLES, TECG_ES_OFFERED, 7, 0, NULL),
        };
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
                apply_ok(st, &in[i], true);
        for (int c = 0; c < TECG_CAT__COUNT; c++)
                for (int s = 0; s < TECG_ES__COUNT; s++) {
                        int64_t want = 0;
                        if (c == TECG_CAT_VEHICLES && s == TECG_ES_DELIVERED)
                                want = 43;
                        if (c == TECG_CAT_VEHICLES && s == TECG_ES_OFFERED)
                                want = 7;
                        if (c == TECG_CAT_UNIFORMS && s == TECG_ES_OFFERED)
                                want = 1000;
                        if (c == TECG_CAT_MEDICAL && s == TECG_ES_ACCEPTED)
                                want = 5;
                        assert_true(st->equipment_quantity[c][s] == want);
                }
        /* A value of 0 is a value: it makes a cell. No value makes none. */
        static const tecg_equipment_value_t want[] = {
                {TECG_CAT_VEHICLES, TECG_ES_DELIVERED, "EUR", 1234600},
                {TECG_CAT_VEHICLES, TECG_ES_DELIVERED, "USD", 1000},
                {TECG_CAT_MEDICAL, TECG_ES_ACCEPTED, "EUR", 0},
        };
        assert_int_equal(st->nequipment_values, 3);
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(st->equipment_values[i].category, want[i].category);
                assert_int_equal(st->equipment_values[i].stage, want[i].stage);
                assert_string_equal(st->equipment_values[i].currency, want[i].currency);
                assert_true(st->equipment_values[i].value_minor == want[i].value_minor);
        }

        /* Overflow of the value alone must not add the quantity either. */
        st->equipment_values[1].value_minor = INT64_MAX;
        tecg_event_t v = equipment("e7", TECG_CAT_VEHICLES, TECG_ES_DELIVERED, 1, 1, "USD");
        apply_refused(st, &v, "value would overflow");
        st->equipment_quantity[TECG_CAT_OTHER][TECG_ES_OFFERED] = INT64_MAX - 1;
        tecg_event_t q = equipment("e8", TECG_CAT_OTHER, TECG_ES_OFFERED, 2, 5, "EUR");
        apply_refused(st, &q, "quantity would overflow");
        assert_int_equal(st->nequipment_values, 3); /* no EUR/OTHER cell */
        tecg_nation_state_destroy(st);
}

/* Reports for one (role, location) in every order give the same winner:
 * the latest, and at equal times the greatest event_id. */
static void test_personnel_any_order(void **state) {
        (void)state;
        int64_t t1 = tu_at(2005, 3, 1, 0, 0, 0, 0), t0 = tu_at(2005, 2, 1, 0, 0, 0, 0);
        tecg_event_t in[] = {
                personnel("NLD-p-1", t1, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 12),
                personnel("NLD-p-2", t1, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 15),
                personnel("NLD-p-10", t1, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ,
                          11), /* "NLD-p-10" < "NLD-p-2" in byte order */
                personnel("NLD-p-9", t0, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 99),
                personnel("A", t1 - 1, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 3),
        };
        enum { N = sizeof(in) / sizeof(in[0]) };
        size_t order[N] = {0, 1, 2, 3, 4};
        tecg_nation_state_t *first = NULL;
        int perms = 0;

        /* All 120 permutations, by Heap's algorithm. */
        size_t c[N] = {0};
        for (size_t i = 0;;) {
                tecg_nation_state_t *st = tecg_nation_state_new("NLD");
                for (size_t k = 0; k < N; k++)
                        apply(st, &in[order[k]]);
                const tecg_strength_t *cell = &st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ];
                assert_true(cell->reported);
                assert_string_equal(cell->event_id, "NLD-p-2");
                assert_int_equal(cell->headcount, 15);
                assert_true(cell->occurred_at_ms == t1);
                assert_true(st->events == N);
                if (!first)
                        first = st;
                else {
                        assert_same_state(first, st);
                        tecg_nation_state_destroy(st);
                }
                perms++;
                while (i < N && c[i] >= i) {
                        c[i] = 0;
                        i++;
                }
                if (i >= N)
                        break;
                size_t j = i % 2 ? c[i] : 0, t = order[j];
                order[j] = order[i];
                order[i] = t;
                c[i]++;
                i = 0;
        }
        assert_int_equal(perms, 120);
        for (int r = 0; r < TECG_ROLE__COUNT; r++)
                for (int l = 0; l < TECG_LOC__COUNT; l++)
                        if (r != TECG_ROLE_TRAINER || l != TECG_LOC_IN_IRAQ)
                                assert_false(first->personnel[r][l].reported);
        tecg_nation_state_destroy(first);
}

/* What `changed` says for reports: an older or losing one only counts. */
static void test_personnel_changed(void **state) {
        (void)state;
        tecg_nation_state_t *st = tecg_nation_state_new("NLD");
        int64_t t = tu_at(2005, 4, 1, 12, 0, 0, 180);
        tecg_event_t a = personnel("b", t, TECG_ROLE_STAFF, TECG_LOC_OUTSIDE_IRAQ, 4);
        tecg_event_t older = personnel("z", t - 1, TECG_ROLE_STAFF, TECG_LOC_OUTSIDE_IRAQ, 8);
        tecg_event_t tie_less = personnel("a", t, TECG_ROLE_STAFF, TECG_LOC_OUTSIDE_IRAQ, 8);
        tecg_event_t tie_more = personnel("c", t, TECG_ROLE_STAFF, TECG_LOC_OUTSIDE_IRAQ, 0);
        tecg_event_t other = personnel("a", t - 5, TECG_ROLE_STAFF, TECG_LOC_IN_IRAQ, 1);

        apply_ok(st, &a, true);
        apply_ok(st, &older, false);
        apply_ok(st, &tie_less, false);
        assert_int_equal(st->personnel[TECG_ROLE_STAFF][TECG_LOC_OUTSIDE_IRAQ].headcount, 4);
        apply_ok(st, &tie_more, true);
        assert_int_equal(st->personnel[TECG_ROLE_STAFF][TECG_LOC_OUTSIDE_IRAQ].headcount, 0);
        apply_ok(st, &other, true); /* another cell: its first report */
        assert_true(st->events == 5);
        assert_true(st->as_of_ms == t);
        tecg_nation_state_destroy(st);
}

/* The UTC year of occurred_at, whatever offset it was written with. */
static void test_training_years(void **state) {
        (void)state;
        static const struct {
                int64_t ms;
                int32_t year;
        } cases[] = {
                /* 2005-01-01T01:00:00+02:00 is 2004-12-31T23:00Z */
                {INT64_C(1104534000000), 2004},
                /* 2004-12-31T23:30:00-01:00 is 2005-01-01T00:30Z */
                {INT64_C(1104539400000), 2005},
                {0, 1970},
                {-1, 1969}, /* 1969-12-31T23:59:59.999Z */
                {-86400000, 1969},
                {INT64_C(951782400000), 2000}, /* 2000-02-29 */
                {INT64_C(978307199999), 2000}, /* 2000-12-31T23:59:59.999Z */
                {INT64_C(978307200000), 2001},
                {INT64_C(-2203891200000), 1900},  /* 1900-03-01 */
                {INT64_C(-11644473600001), 1600}, /* 1600-12-31T23:59:59.999Z */
                {INT64_C(-11644473600000), 1601},
                {INT64_C(-62135596800000), 1}, /* 0001-01-01T00:00Z */
                {INT64_C(-62135596800001), 0}, /* the last ms of year 0 */
                {INT64_C(-62167219200000), 0}, /* 0000-01-01T00:00Z */
                {INT64_C(-62167219200001), -1},
                {INT64_C(253402300799999), 9999}, /* 9999-12-31T23:59:59.999Z */
                {INT64_C(253402300800000), 10000},
                {INT64_MAX, 292278994}, /* as java.time says */
                {INT64_MIN, -292275055},
        };
        enum { N = sizeof(cases) / sizeof(cases[0]) };
        /* The two documented cases through the independent helper too. */
        assert_true(cases[0].ms == tu_at(2005, 1, 1, 1, 0, 0, 120));
        assert_true(cases[1].ms == tu_at(2004, 12, 31, 23, 30, 0, -60));

        for (size_t i = 0; i < N; i++) {
                tecg_nation_state_t *st = tecg_nation_state_new("NLD");
                char id[16];
                snprintf(id, sizeof(id), "t%zu", i);
                tecg_event_t ev = training(id, cases[i].ms, TECG_LOC_IN_IRAQ, TECG_LVL_MIDDLE, 3);
                apply_ok(st, &ev, true);
                assert_int_equal(st->ntraining, 1);
                if (st->training[0].year != cases[i].year)
                        fail_msg("%" PRId64 " ms: year %d, want %d", cases[i].ms,
                                 st->training[0].year, cases[i].year);
                tecg_nation_state_destroy(st);
        }
}

static void test_training_sums(void **state) {
        (void)state;
        tecg_nation_state_t *st = tecg_nation_state_new("NLD");
        tecg_event_t in[] = {
                training("t1", tu_at(2005, 1, 1, 1, 0, 0, 120), TECG_LOC_IN_IRAQ, TECG_LVL_JUNIOR,
                         20),
                training("t2", tu_at(2004, 12, 31, 23, 30, 0, -60), TECG_LOC_IN_IRAQ,
                         TECG_LVL_JUNIOR, 30),
                training("t3", tu_at(2005, 6, 1, 0, 0, 0, 0), TECG_LOC_OUTSIDE_IRAQ,
                         TECG_LVL_SENIOR, 25),
                training("t4", tu_at(2005, 7, 1, 10, 0, 0, 0), TECG_LOC_OUTSIDE_IRAQ,
                         TECG_LVL_SENIOR, 5),
                training("t5", tu_at(2005, 7, 1, 10, 0, 0, 0), TECG_LOC_IN_IRAQ, TECG_LVL_JUNIOR,
                         1),
                training("t6", tu_at(1999, 7, 1, 10, 0, 0, 0), TECG_LOC_IN_IRAQ, TECG_LVL_MIDDLE,
                         2),
        };
        static const tecg_training_total_t want[] = {
                {1999, TECG_LOC_IN_IRAQ, TECG_LVL_MIDDLE, 2},
                {2004, TECG_LOC_IN_IRAQ, TECG_LVL_JUNIOR, 20},
                {2005, TECG_LOC_IN_IRAQ, TECG_LVL_JUNIOR, 31},
                {2005, TECG_LOC_OUTSIDE_IRAQ, TECG_LVL_SENIOR, 30},
        };
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
                apply_ok(st, &in[i], true);
        assert_int_equal(st->ntraining, 4);
        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(st->training[i].year, want[i].year);
                assert_int_equal(st->training[i].location, want[i].location);
                assert_int_equal(st->training[i].level, want[i].level);
                assert_true(st->training[i].trainees == want[i].trainees);
        }
        st->training[3].trainees = INT64_MAX - 4;
        tecg_event_t big = training("t7", tu_at(2005, 8, 1, 0, 0, 0, 0), TECG_LOC_OUTSIDE_IRAQ,
                                    TECG_LVL_SENIOR, 5);
        apply_refused(st, &big, "overflow");
        tecg_nation_state_destroy(st);
}

static void test_refused(void **state) {
        (void)state;
        tecg_nation_state_t *st = tecg_nation_state_new("NLD");
        tecg_event_t ok = funding("f1", 10, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED);
        apply_ok(st, &ok, true);

        tecg_event_t other = ok;
        memcpy(other.nation, "DEU", 4);
        apply_refused(st, &other, "DEU");

        tecg_event_t bad = ok;
        bad.u.funding.channel = TECG_CH__COUNT;
        apply_refused(st, &bad, "out of range");
        bad = ok;
        memcpy(bad.u.funding.currency, "eur", 4);
        apply_refused(st, &bad, "currency");
        bad = ok;
        bad.u.funding.amount_minor = 0;
        apply_refused(st, &bad, "not > 0");
        bad = ok;
        bad.type = TECG_EV__COUNT;
        apply_refused(st, &bad, "type");
        bad = ok;
        bad.event_id[0] = '\0';
        apply_refused(st, &bad, "event_id");

        tecg_event_t p = personnel("p", 0, TECG_ROLE__COUNT, TECG_LOC_IN_IRAQ, 1);
        apply_refused(st, &p, "out of range");
        p = personnel("p", 0, TECG_ROLE_STAFF, TECG_LOC_IN_IRAQ, -1);
        apply_refused(st, &p, "headcount");
        tecg_event_t e = equipment("e", TECG_CAT_OTHER, TECG_ES__COUNT, 1, 0, NULL);
        apply_refused(st, &e, "out of range");
        e = equipment("e", TECG_CAT_OTHER, TECG_ES_OFFERED, 1, -1, "EUR");
        apply_refused(st, &e, "negative");
        tecg_event_t t = training("t", 0, TECG_LOC_IN_IRAQ, TECG_LVL__COUNT, 1);
        apply_refused(st, &t, "out of range");
        t = training("t", 0, TECG_LOC_IN_IRAQ, TECG_LVL_SENIOR, 0);
        apply_refused(st, &t, "not > 0");

        assert_true(st->events == 1);
        tecg_nation_state_destroy(st);
}

/* A mix of every type in 300 random orders: the same state, the same
 * bytes. */
static void test_any_order(void **state) {
        (void)state;
        int64_t t = tu_at(2005, 5, 5, 5, 5, 5, 0);
        tecg_event_t in[] = {
                funding("a1", 100, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED),
                funding("a2", 250, "USD", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED),
                funding("a3", 50, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED),
                funding("a4", 7, "CAD", TECG_CH_BILATERAL, TECG_FS_DISBURSED),
                equipment("b1", TECG_CAT_WEAPONS, TECG_ES_ACCEPTED, 3, 10, "EUR"),
                equipment("b2", TECG_CAT_WEAPONS, TECG_ES_ACCEPTED, 3, 10, "DKK"),
                equipment("b3", TECG_CAT_OTHER, TECG_ES_OFFERED, 9, 0, NULL),
                personnel("c1", t, TECG_ROLE_MENTOR, TECG_LOC_IN_IRAQ, 4),
                personnel("c2", t, TECG_ROLE_MENTOR, TECG_LOC_IN_IRAQ, 5),
                personnel("c3", t + 1, TECG_ROLE_SUPPORT, TECG_LOC_IN_IRAQ, 6),
                personnel("c4", t - 1, TECG_ROLE_SUPPORT, TECG_LOC_IN_IRAQ, 7),
                training("d1", t, TECG_LOC_IN_IRAQ, TECG_LVL_JUNIOR, 10),
                training("d2", tu_at(2006, 1, 1, 0, 30, 0, 60), TECG_LOC_IN_IRAQ, TECG_LVL_JUNIOR,
                         11),
                training("d3", tu_at(2007, 1, 1, 0, 30, 0, 0), TECG_LOC_IN_IRAQ, TECG_LVL_SENIOR,
                         12),
        };
        enum { N = sizeof(in) / sizeof(in[0]) };
        size_t order[N];
        tecg_nation_state_t *ref = tecg_nation_state_new("NLD");

        for (size_t i = 0; i < N; i++) /* c4 is older than c3: no change */
                apply_ok(ref, &in[i], strcmp(in[i].event_id, "c4") != 0);
        assert_true(ref->as_of_ms == tu_at(2007, 1, 1, 0, 30, 0, 0));
        for (int round = 0; round < 300; round++) {
                tecg_nation_state_t *st = tecg_nation_state_new("NLD");
                for (size_t i = 0; i < N; i++)
                        order[i] = i;
                shuffle(order, N);
                for (size_t i = 0; i < N; i++)
                        apply(st, &in[order[i]]);
                assert_same_state(ref, st);
                tecg_nation_state_destroy(st);
        }
        tecg_nation_state_destroy(ref);
}

static void test_dup_equal(void **state) {
        (void)state;
        tecg_nation_state_t *a = tecg_nation_state_new("NLD"), *b;
        tecg_event_t f = funding("f", 5, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED);
        tecg_event_t p = personnel("p", 9, TECG_ROLE_STAFF, TECG_LOC_IN_IRAQ, 3);
        tecg_event_t t = training("t", 9, TECG_LOC_IN_IRAQ, TECG_LVL_SENIOR, 3);
        tecg_event_t e = equipment("e", TECG_CAT_OTHER, TECG_ES_OFFERED, 1, 2, "EUR");
        apply_ok(a, &f, true);
        apply_ok(a, &p, true);
        apply_ok(a, &t, true);
        apply_ok(a, &e, true);
        b = tecg_nation_state_dup(a);
        assert_non_null(b);
        assert_ptr_not_equal(a->funding, b->funding);
        assert_true(tecg_nation_state_equal(a, b));
        /* A copy is another object: a serial of its own, never 0. */
        assert_true(a->serial != 0 && b->serial != 0 && a->serial != b->serial);
        b->version = 99; /* ignored */
        assert_true(tecg_nation_state_equal(a, b));
        b->training[0].trainees++;
        assert_false(tecg_nation_state_equal(a, b));
        b->training[0].trainees--;
        b->personnel[TECG_ROLE_STAFF][TECG_LOC_IN_IRAQ].event_id[0] = 'q';
        assert_false(tecg_nation_state_equal(a, b));
        tecg_nation_state_destroy(b);

        tecg_nation_state_t *empty = tecg_nation_state_new("NLD");
        /* Freed and made again, perhaps at the same address: a new serial. */
        uint64_t was = empty->serial;
        tecg_nation_state_destroy(empty);
        empty = tecg_nation_state_new("NLD");
        assert_true(empty->serial > was);
        b = tecg_nation_state_dup(empty);
        assert_true(tecg_nation_state_equal(empty, b));
        assert_false(tecg_nation_state_equal(a, b));
        tecg_nation_state_destroy(b);
        tecg_nation_state_destroy(empty);
        tecg_nation_state_destroy(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_new_destroy),
                cmocka_unit_test(test_funding),
                cmocka_unit_test(test_equipment),
                cmocka_unit_test(test_personnel_any_order),
                cmocka_unit_test(test_personnel_changed),
                cmocka_unit_test(test_training_years),
                cmocka_unit_test(test_training_sums),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_any_order),
                cmocka_unit_test(test_dup_equal),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
