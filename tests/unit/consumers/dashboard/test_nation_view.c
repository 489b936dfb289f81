/* The per-nation view (nation_view.h): a nation's state in, the JSON of
 * GET /api/nation/XXX out, at an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "nation_view.h"
#include "testutil.h"

#define DAY_MS INT64_C(86400000)

static const tecg_nation_t FRA = {"FRA", "France", TECG_NATION_MEMBER};

static json_t *at(json_t *v, const char *path) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
                v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
        if (!v)
                fail_msg("%s: missing", path);
        return v;
}

static const char *str_at(json_t *v, const char *path) {
        json_t *s = at(v, path);
        if (!json_is_string(s))
                fail_msg("%s is not a string", path);
        return json_string_value(s);
}

static json_int_t int_at(json_t *v, const char *path) {
        json_t *i = at(v, path);
        if (!json_is_integer(i))
                fail_msg("%s is not an integer", path);
        return json_integer_value(i);
}

/* A nation of the list that never reported: overdue from the start, with
 * no days, every list empty and every count 0. */
static void test_never_reported(void **state) {
        tecg_mission_t m;
        (void)state;
        tecg_mission_init(&m);
        json_t *v = tecg_nation_view(&m, &FRA, NULL, tu_at(2005, 12, 1, 0, 0, 0, 0));
        assert_non_null(v);
        assert_string_equal(str_at(v, "nation"), "FRA");
        assert_string_equal(str_at(v, "name"), "France");
        assert_string_equal(str_at(v, "status"), "member");
        assert_int_equal(int_at(v, "events"), 0);
        assert_true(json_is_null(at(v, "as_of")));
        assert_true(json_is_true(at(v, "reporting.overdue")));
        assert_true(json_is_null(at(v, "reporting.overdue_for_days")));
        assert_int_equal(int_at(v, "reporting.overdue_days"), 35);
        assert_false(json_is_true(at(v, "reporting.types.FUNDING.overdue")));
        assert_int_equal(json_array_size(at(v, "funding")), 0);
        assert_int_equal(json_array_size(at(v, "personnel")), 0);
        assert_int_equal(int_at(v, "corrections.supersessions"), 0);
        assert_int_equal(json_array_size(at(v, "corrections.recent")), 0);
        assert_int_equal(int_at(v, "dead_letters.count"), 0);
        json_decref(v);
}

/* Totals, per-type last reports with one type overdue, corrections and
 * dead letters, each as the state holds them. */
static void test_full_state(void **state) {
        tecg_mission_t m;
        (void)state;
        tecg_mission_init(&m);
        const int64_t t0 = tu_at(2005, 3, 1, 9, 0, 0, 0);
        tecg_nation_state_t *st = tecg_nation_state_new("FRA");
        assert_non_null(st);
        st->version = 7;
        st->events = 5;
        st->as_of_ms = t0 + 10 * DAY_MS;
        st->last_report_ms[TECG_EV_FUNDING] = t0;
        st->last_report_ms[TECG_EV_PERSONNEL] = t0 + 10 * DAY_MS;
        st->funding = calloc(1, sizeof(*st->funding));
        assert_non_null(st->funding);
        st->funding[0] =
                (tecg_funding_total_t){TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "EUR", 81000000};
        st->nfunding = 1;
        st->equipment_quantity[TECG_CAT_VEHICLES][TECG_ES_OFFERED] = 12;
        tecg_strength_t *p = &st->personnel[TECG_ROLE_TRAINER][TECG_LOC_IN_IRAQ];
        p->reported = true;
        p->occurred_at_ms = t0 + 10 * DAY_MS;
        p->headcount = 42;
        snprintf(p->event_id, sizeof(p->event_id), "FRA-p1");
        /* Filled by hand, as the aggregator's notes would leave them. */
        st->supersessions = 1;
        st->recent_corrections = calloc(1, sizeof(*st->recent_corrections));
        assert_non_null(st->recent_corrections);
        st->recent_corrections[0] =
                (tecg_correction_t){.kind = TECG_CORR_SUPERSEDE,
                                    .type = TECG_EV_FUNDING,
                                    .event_id = "FRA-f2",
                                    .target_id = "FRA-f1",
                                    .occurred_at_ms = t0,
                                    .before = "funding TRUST_FUND PLEDGED 8100000.00 EUR",
                                    .after = "funding TRUST_FUND PLEDGED 810000.00 EUR"};
        st->nrecent_corrections = 1;
        st->dead_letters = 1;
        st->dead_letter_months = calloc(1, sizeof(*st->dead_letter_months));
        assert_non_null(st->dead_letter_months);
        st->dead_letter_months[0] = (tecg_dead_letter_month_t){200503, 1};
        st->ndead_letter_months = 1;
        st->recent_dead_letters[0] =
                (tecg_dead_letter_note_t){t0, "contract", "amount: not a decimal"};
        st->nrecent_dead_letters = 1;

        /* 40 days after the funding report, 30 after the personnel one. */
        json_t *v = tecg_nation_view(&m, &FRA, st, t0 + 40 * DAY_MS);
        assert_non_null(v);
        assert_int_equal(int_at(v, "version"), 7);
        assert_string_equal(str_at(v, "as_of"), "2005-03-11T09:00:00Z");
        assert_string_equal(str_at(v, "funding.0.amount"), "810000.00");
        assert_string_equal(str_at(v, "funding.0.channel"), "TRUST_FUND");
        assert_int_equal(int_at(v, "equipment.0.quantity"), 12);
        assert_string_equal(str_at(v, "equipment.0.category"), "VEHICLES");
        assert_int_equal(int_at(v, "personnel.0.headcount"), 42);
        assert_string_equal(str_at(v, "personnel.0.event_id"), "FRA-p1");
        assert_true(json_is_true(at(v, "reporting.types.FUNDING.overdue")));
        assert_int_equal(int_at(v, "reporting.types.FUNDING.overdue_for_days"), 5);
        assert_false(json_is_true(at(v, "reporting.types.PERSONNEL.overdue")));
        assert_true(json_is_true(at(v, "reporting.overdue")));
        assert_string_equal(str_at(v, "reporting.last_report"), "2005-03-11T09:00:00Z");
        assert_int_equal(int_at(v, "corrections.supersessions"), 1);
        assert_int_equal(int_at(v, "corrections.retractions"), 0);
        assert_string_equal(str_at(v, "corrections.recent.0.kind"), "supersede");
        assert_string_equal(str_at(v, "corrections.recent.0.target_id"), "FRA-f1");
        assert_string_equal(str_at(v, "corrections.recent.0.before"),
                            "funding TRUST_FUND PLEDGED 8100000.00 EUR");
        assert_true(json_is_null(at(v, "corrections.recent.0.reason")));
        assert_int_equal(int_at(v, "dead_letters.count"), 1);
        assert_string_equal(str_at(v, "dead_letters.months.0.month"), "2005-03");
        assert_string_equal(str_at(v, "dead_letters.recent.0.stage"), "contract");
        assert_string_equal(str_at(v, "dead_letters.recent.0.reason"), "amount: not a decimal");
        json_decref(v);
        /* Freed here and cleared, so that this holds whether or not
         * destroy frees the lists (the history fields are new). */
        free(st->recent_corrections);
        st->recent_corrections = NULL;
        st->nrecent_corrections = 0;
        free(st->dead_letter_months);
        st->dead_letter_months = NULL;
        st->ndead_letter_months = 0;
        tecg_nation_state_destroy(st);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_never_reported),
                cmocka_unit_test(test_full_state),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
