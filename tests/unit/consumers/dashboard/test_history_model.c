/* The history document against a model (docs/design.md §5.9): events spread
 * over generated months arrive in a random order (late ones change months
 * already shown), some are retracted and some superseded
 * (tecg_nation_state_unapply() with the fallbacks the aggregator finds),
 * and every month of tecg_compose_history() equals what a plain
 * recomputation from the events that remain gives: strength in Iraq as of
 * each month's end, trainees per month and year to date, pledged and
 * disbursed cumulative in the reporting currency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compose.h"
#include "mission.h"
#include "money.h"
#include "nation_state.h"
#include "testutil.h"

enum { NNATIONS = 3, NEV = 90 };

static const char *const codes[NNATIONS] = {"BEL", "FRA", "NOR"};

static uint64_t rng_state = 0x452821e638d01377u;

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

/* One generated event and where it stands. */
typedef struct {
        tecg_event_t ev;
        int nation;
        bool counted; /* applied */
        bool gone;    /* taken back */
} gen_t;

static tecg_event_t make(int nation, size_t i, int type) {
        tecg_event_t ev;
        memset(&ev, 0, sizeof(ev));
        snprintf(ev.event_id, sizeof(ev.event_id), "%s-%03zu", codes[nation], i);
        memcpy(ev.nation, codes[nation], 4);
        /* 2005-01 .. 2006-06, at any hour. */
        int month = (int)(rng() % 18);
        ev.occurred_at_ms = tu_at(2005 + month / 12, 1 + month % 12, 1 + (int)(rng() % 28),
                                  (int)(rng() % 24), 0, 0, 0);
        switch (type) {
        case 0:
                ev.type = TECG_EV_FUNDING;
                ev.u.funding.channel = (tecg_channel_t)(rng() % TECG_CH__COUNT);
                ev.u.funding.stage = (tecg_funding_stage_t)(rng() % TECG_FS__COUNT);
                snprintf(ev.u.funding.currency, 4, "%s", rng() % 2 ? "EUR" : "USD");
                ev.u.funding.amount_minor = 1 + (int64_t)(rng() % 10000000);
                break;
        case 1:
                ev.type = TECG_EV_PERSONNEL;
                ev.u.personnel.role = (tecg_role_t)(rng() % 2);
                ev.u.personnel.location = (tecg_location_t)(rng() % 2);
                ev.u.personnel.headcount = (int32_t)(rng() % 120);
                break;
        default:
                ev.type = TECG_EV_TRAINING;
                ev.u.training.course = "course";
                ev.u.training.location = (tecg_location_t)(rng() % 2);
                ev.u.training.level = (tecg_level_t)(rng() % TECG_LVL__COUNT);
                ev.u.training.trainees = 1 + (int32_t)(rng() % 60);
                break;
        }
        return ev;
}

static bool beats(const tecg_event_t *a, const tecg_event_t *b) {
        return a->occurred_at_ms > b->occurred_at_ms ||
               (a->occurred_at_ms == b->occurred_at_ms && strcmp(a->event_id, b->event_id) > 0);
}

/* The latest counted, remaining report of k's (nation, role, location),
 * other than k, within k's month when `month`; NULL if none. */
static const tecg_event_t *fallback(const gen_t *g, size_t n, size_t k, bool month) {
        const tecg_event_t *best = NULL, *e = &g[k].ev;
        for (size_t i = 0; i < n; i++) {
                const tecg_event_t *c = &g[i].ev;
                if (i == k || !g[i].counted || g[i].gone || g[i].nation != g[k].nation ||
                    c->type != TECG_EV_PERSONNEL || c->u.personnel.role != e->u.personnel.role ||
                    c->u.personnel.location != e->u.personnel.location ||
                    (month && tecg_month_of(c->occurred_at_ms) != tecg_month_of(e->occurred_at_ms)))
                        continue;
                if (!best || beats(c, best))
                        best = c;
        }
        return best;
}

/* ------------------------------------------------------------- model */

static int32_t month_next(int32_t m) {
        return m % 100 == 12 ? (m / 100 + 1) * 100 + 1 : m + 1;
}

/* Per currency (EUR, USD) sums converted once each, as the documents do. */
static void model_money(const tecg_mission_t *m, const int64_t sum[2], char *out, size_t size) {
        static const char *const cur[2] = {"EUR", "USD"};
        int64_t total = 0, rate, x;
        for (int i = 0; i < 2; i++) {
                if (!sum[i] || !tecg_mission_rate(m, cur[i], &rate))
                        continue;
                assert_int_equal(tecg_money_convert(sum[i], 2, rate, 2, &x), TECG_OK);
                total += x;
        }
        tecg_money_format(total, 2, out, size);
}

static void check_month(const tecg_mission_t *m, const gen_t *g, size_t n, int32_t mo,
                        int64_t ytd[2], const json_t *got) {
        int64_t strength = 0, trainees[2] = {0, 0}, money[TECG_FS__COUNT][2];
        char want[TECG_MONEY_STR_SIZE], name[16];

        memset(money, 0, sizeof(money));
        /* Strength: the latest remaining report of each (nation, role) in
         * Iraq at or before the month. */
        for (int na = 0; na < NNATIONS; na++)
                for (int r = 0; r < TECG_ROLE__COUNT; r++) {
                        const tecg_event_t *best = NULL;
                        for (size_t i = 0; i < n; i++) {
                                const tecg_event_t *e = &g[i].ev;
                                if (!g[i].counted || g[i].gone || g[i].nation != na ||
                                    e->type != TECG_EV_PERSONNEL || (int)e->u.personnel.role != r ||
                                    e->u.personnel.location != TECG_LOC_IN_IRAQ ||
                                    tecg_month_of(e->occurred_at_ms) > mo)
                                        continue;
                                if (!best || beats(e, best))
                                        best = e;
                        }
                        if (best)
                                strength += best->u.personnel.headcount;
                }
        for (size_t i = 0; i < n; i++) {
                const tecg_event_t *e = &g[i].ev;
                int32_t em = tecg_month_of(e->occurred_at_ms);
                if (!g[i].counted || g[i].gone)
                        continue;
                if (e->type == TECG_EV_TRAINING && em == mo)
                        trainees[e->u.training.location] += e->u.training.trainees;
                if (e->type == TECG_EV_FUNDING && em <= mo)
                        money[e->u.funding.stage][strcmp(e->u.funding.currency, "EUR") ? 1 : 0] +=
                                e->u.funding.amount_minor;
        }
        if (mo % 100 == 1)
                ytd[0] = ytd[1] = 0;
        ytd[0] += trainees[0];
        ytd[1] += trainees[1];

        snprintf(name, sizeof(name), "%04d-%02d", (int)(mo / 100), (int)(mo % 100));
        assert_string_equal(json_string_value(json_object_get(got, "month")), name);
#define INT_AT(key, v)                                                                   \
        do {                                                                             \
                if (json_integer_value(json_object_get(got, key)) != (v))                \
                        fail_msg("%s %s: %" PRId64 ", model %" PRId64, name, key,        \
                                 (int64_t)json_integer_value(json_object_get(got, key)), \
                                 (int64_t)(v));                                          \
        } while (0)
        INT_AT("strength_in_iraq", strength);
        INT_AT("trainees_in_iraq", trainees[0]);
        INT_AT("trainees_outside_iraq", trainees[1]);
        INT_AT("trainees_in_iraq_ytd", ytd[0]);
        INT_AT("trainees_outside_iraq_ytd", ytd[1]);
        INT_AT("pro_rata_in_iraq", (m->target_in_iraq * (mo % 100) * 2 + 12) / 24);
        INT_AT("dead_letters", 0);
#undef INT_AT
        model_money(m, money[TECG_FS_PLEDGED], want, sizeof(want));
        assert_string_equal(json_string_value(json_object_get(got, "pledged_cumulative")), want);
        model_money(m, money[TECG_FS_DISBURSED], want, sizeof(want));
        assert_string_equal(json_string_value(json_object_get(got, "disbursed_cumulative")), want);
}

/* Months from the first remaining event's to the last arrived one's (as_of
 * counts what arrived, taken back or not), none missing. */
static void check_history(const tecg_mission_t *m, const gen_t *g, size_t n, const json_t *doc) {
        int32_t first = INT32_MAX, last = INT32_MIN;
        int64_t ytd[2] = {0, 0};
        const json_t *months = json_object_get(doc, "months");
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                int32_t mo = tecg_month_of(g[i].ev.occurred_at_ms);
                if (!g[i].counted)
                        continue;
                if (mo > last)
                        last = mo;
                if (!g[i].gone && mo < first)
                        first = mo;
        }
        for (int32_t mo = first; mo <= last; mo = month_next(mo), k++) {
                const json_t *got = json_array_get(months, k);
                if (!got)
                        fail_msg("month %d missing", (int)mo);
                check_month(m, g, n, mo, ytd, got);
        }
        assert_int_equal(json_array_size(months), k);
}

static json_t *compose_history(const tecg_mission_t *m, tecg_nation_state_t *const *st) {
        char err[256] = "";
        json_t *doc = tecg_compose_history(m, NULL, (const tecg_nation_state_t *const *)st,
                                           NNATIONS, err, sizeof(err));
        if (!doc)
                fail_msg("history: %s", err);
        return doc;
}

static void test_history_against_model(void **state) {
        (void)state;
        tecg_mission_t m;
        tecg_mission_init(&m);

        for (int round = 0; round < 12; round++) {
                gen_t g[NEV * 2];
                size_t n = NEV, order[NEV];
                tecg_nation_state_t *st[NNATIONS];
                char err[256];
                bool changed;

                for (int na = 0; na < NNATIONS; na++)
                        st[na] = tecg_nation_state_new(codes[na]);
                for (size_t i = 0; i < NEV; i++) {
                        g[i] = (gen_t){make((int)(i % NNATIONS), i, (int)(rng() % 3)),
                                       (int)(i % NNATIONS), false, false};
                        order[i] = i;
                }
                /* Arrival in any order: late events land in months that
                 * were composed before. Compose halfway to check then too. */
                shuffle(order, NEV);
                for (size_t i = 0; i < NEV; i++) {
                        gen_t *x = &g[order[i]];
                        if (tecg_nation_state_apply(st[x->nation], &x->ev, &changed, err,
                                                    sizeof(err)))
                                fail_msg("apply: %s", err);
                        x->counted = true;
                        if (i == NEV / 2) {
                                json_t *doc = compose_history(&m, st);
                                check_history(&m, g, NEV, doc);
                                json_decref(doc);
                        }
                }
                /* Corrections: a quarter retracted, another quarter
                 * superseded by a new event of the same nation and type. */
                for (size_t i = 0; i < NEV; i++) {
                        size_t k = order[i];
                        uint64_t pick = rng() % 4;
                        if (pick > 1)
                                continue;
                        const tecg_event_t *fb = NULL, *mfb = NULL;
                        if (g[k].ev.type == TECG_EV_PERSONNEL) {
                                fb = fallback(g, n, k, false);
                                mfb = fallback(g, n, k, true);
                        }
                        if (tecg_nation_state_unapply(st[g[k].nation], &g[k].ev, fb, mfb, &changed,
                                                      err, sizeof(err)))
                                fail_msg("unapply %s: %s", g[k].ev.event_id, err);
                        g[k].gone = true;
                        if (pick == 1) {
                                int type = g[k].ev.type == TECG_EV_FUNDING     ? 0
                                           : g[k].ev.type == TECG_EV_PERSONNEL ? 1
                                                                               : 2;
                                gen_t *y = &g[n];
                                *y = (gen_t){make(g[k].nation, n, type), g[k].nation, true, false};
                                memcpy(y->ev.supersedes, g[k].ev.event_id,
                                       sizeof(y->ev.supersedes));
                                n++;
                                if (tecg_nation_state_apply(st[y->nation], &y->ev, &changed, err,
                                                            sizeof(err)))
                                        fail_msg("apply: %s", err);
                        }
                }
                json_t *doc = compose_history(&m, st);
                check_history(&m, g, n, doc);
                json_decref(doc);
                for (int na = 0; na < NNATIONS; na++)
                        tecg_nation_state_destroy(st[na]);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_history_against_model),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
