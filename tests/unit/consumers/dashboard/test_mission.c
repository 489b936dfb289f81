/* The mission profile (consumers/dashboard/mission.h): defaults, the
 * built-in rate table, setting rates and the reporting currency, checks.
 * Rates are compared scaled by 10^9 (TECG_MONEY_RATE_SCALE): 0.8042 is
 * 804200000. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mission.h"
#include "money.h"
#include "testutil.h"

/* The built-in table has 23 entries (mission.c); every one must parse, or
 * tecg_mission_init() silently leaves it out. */
#define BUILTIN_RATES 23

static int64_t rate_of(const tecg_mission_t *m, const char *cur) {
        int64_t r = -1;
        if (!tecg_mission_rate(m, cur, &r))
                return -1;
        return r;
}

/* Field by field: struct padding is not part of the value. */
static void assert_same(const tecg_mission_t *a, const tecg_mission_t *b) {
        assert_int_equal(a->authorized_strength, b->authorized_strength);
        assert_int_equal(a->target_in_iraq, b->target_in_iraq);
        assert_int_equal(a->target_outside_iraq, b->target_outside_iraq);
        assert_memory_equal(a->reporting_currency, b->reporting_currency, 4);
        assert_int_equal(a->nrates, b->nrates);
        for (size_t i = 0; i < a->nrates; i++) {
                assert_memory_equal(a->rates[i].currency, b->rates[i].currency, 4);
                assert_int_equal(a->rates[i].rate_scaled, b->rates[i].rate_scaled);
                assert_int_equal(a->rates[i].configured, b->rates[i].configured);
        }
}

static void assert_sorted(const tecg_mission_t *m) {
        for (size_t i = 1; i < m->nrates; i++)
                if (strcmp(m->rates[i - 1].currency, m->rates[i].currency) >= 0)
                        fail_msg("rates not strictly sorted at %zu: %s, %s", i,
                                 m->rates[i - 1].currency, m->rates[i].currency);
}

static void test_defaults(void **state) {
        (void)state;
        tecg_mission_t m;
        char errstr[128];
        tecg_mission_init(&m);
        assert_int_equal(m.authorized_strength, 360);
        assert_int_equal(m.target_in_iraq, 1000);
        assert_int_equal(m.target_outside_iraq, 500);
        assert_string_equal(m.reporting_currency, "EUR");
        assert_int_equal(m.nrates, BUILTIN_RATES);
        assert_sorted(&m);
        for (size_t i = 0; i < m.nrates; i++) {
                assert_false(m.rates[i].configured);
                assert_true(m.rates[i].rate_scaled > 0);
                assert_string_not_equal(m.rates[i].currency, "EUR");
        }
        assert_int_equal(tecg_mission_check(&m, errstr, sizeof(errstr)), TECG_OK);
}

/* The figures of the mission brief, and the extremes of the table. */
static void test_builtin_values(void **state) {
        (void)state;
        static const struct {
                const char *cur;
                int64_t scaled;
        } want[] = {
                {"EUR", 1000000000}, /* the reporting currency itself */
                {"USD", 804200000},  {"GBP", 1462200000}, {"NOK", 124500000}, {"DKK", 134300000},
                {"ISK", 12500000},   {"JPY", 7300000},    {"CAD", 662100000}, {"ROL", 27620},
                {"TRL", 596},        {"AUD", 612700000},
        };
        tecg_mission_t m;
        tecg_mission_init(&m);
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
                if (rate_of(&m, want[i].cur) != want[i].scaled)
                        fail_msg("%s: %lld, expected %lld", want[i].cur,
                                 (long long)rate_of(&m, want[i].cur), (long long)want[i].scaled);
        /* No rate: a currency of ISO 4217 without an entry, an unknown
         * code, NULL. */
        assert_int_equal(rate_of(&m, "UAH"), -1);
        assert_int_equal(rate_of(&m, "ABC"), -1);
        int64_t r = 42;
        assert_false(tecg_mission_rate(&m, NULL, &r));
        assert_int_equal(r, 42);
}

static void test_set_rate(void **state) {
        (void)state;
        tecg_mission_t m;
        char errstr[256];
        tecg_mission_init(&m);

        /* A new currency goes in its sorted place, marked configured. */
        assert_int_equal(tecg_mission_set_rate(&m, "UAH", "0.16", errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(m.nrates, BUILTIN_RATES + 1);
        assert_sorted(&m);
        assert_int_equal(rate_of(&m, "UAH"), 160000000);
        /* Replacing a built-in keeps the count. */
        assert_int_equal(tecg_mission_set_rate(&m, "USD", "0.000000001", errstr, sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(m.nrates, BUILTIN_RATES + 1);
        assert_int_equal(rate_of(&m, "USD"), 1);
        for (size_t i = 0; i < m.nrates; i++)
                assert_int_equal(m.rates[i].configured,
                                 !strcmp(m.rates[i].currency, "UAH") ||
                                         !strcmp(m.rates[i].currency, "USD"));
        /* The reporting currency: only 1, and no entry is added. */
        assert_int_equal(tecg_mission_set_rate(&m, "EUR", "1", errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(tecg_mission_set_rate(&m, "EUR", "1.000000000", errstr, sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(m.nrates, BUILTIN_RATES + 1);
}

/* Refused rates leave the profile as it was, with a one-line reason. */
static void test_set_rate_errors(void **state) {
        (void)state;
        static const struct {
                const char *cur, *rate, *reason;
        } bad[] = {
                {"ABC", "1", "rate: unknown ISO 4217 currency 'ABC'"},
                {"usd", "1", "rate: unknown ISO 4217 currency 'usd'"},
                {"US", "1", "rate: unknown ISO 4217 currency 'US'"},
                {"USDX", "1", "rate: unknown ISO 4217 currency 'USDX'"},
                {NULL, "1", "rate: unknown ISO 4217 currency ''"},
                {"USD", "0",
                 "rate of USD must be a decimal > 0 with at most 9 decimals, "
                 "e.g. 0.8042 (got '0')"},
                {"USD", "-1", NULL},
                {"USD", "1e3", NULL},
                {"USD", " 1", NULL},
                {"USD", "01.5", NULL},
                {"USD", "0.0000000001", NULL}, /* 10 decimals */
                {"USD", "", NULL},
                {"USD", NULL,
                 "rate of USD must be a decimal > 0 with at most 9 decimals, "
                 "e.g. 0.8042 (got '')"},
                {"EUR", "2", "rate of EUR must be 1: it is the reporting currency"},
                {"EUR", "0.999999999", "rate of EUR must be 1: it is the reporting currency"},
        };
        tecg_mission_t m, before;
        tecg_mission_init(&m);
        before = m;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char errstr[256] = "";
                tecg_err_t err =
                        tecg_mission_set_rate(&m, bad[i].cur, bad[i].rate, errstr, sizeof(errstr));
                if (err != TECG_ERR_CONFIG)
                        fail_msg("%s = %s: %d, expected TECG_ERR_CONFIG",
                                 bad[i].cur ? bad[i].cur : "(null)",
                                 bad[i].rate ? bad[i].rate : "(null)", (int)err);
                if (bad[i].reason)
                        assert_string_equal(errstr, bad[i].reason);
                else
                        tu_assert_contains(errstr, "must be a decimal > 0");
                assert_same(&m, &before);
        }
}

static void test_reporting_currency(void **state) {
        (void)state;
        tecg_mission_t m, before;
        char errstr[256];

        /* Built-in rates are EUR rates: gone with another currency;
         * configured ones stay, and the new currency's own (1) is dropped. */
        tecg_mission_init(&m);
        assert_int_equal(tecg_mission_set_rate(&m, "EUR", "1", errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(tecg_mission_set_rate(&m, "GBP", "1.7", errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(tecg_mission_set_rate(&m, "USD", "1", errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(tecg_mission_set_reporting_currency(&m, "USD", errstr, sizeof(errstr)),
                         TECG_OK);
        assert_string_equal(m.reporting_currency, "USD");
        assert_int_equal(m.nrates, 1);
        assert_string_equal(m.rates[0].currency, "GBP");
        assert_int_equal(rate_of(&m, "GBP"), 1700000000);
        assert_int_equal(rate_of(&m, "USD"), TECG_MONEY_RATE_SCALE);
        assert_int_equal(rate_of(&m, "NOK"), -1);
        assert_int_equal(rate_of(&m, "EUR"), -1);
        /* Setting the same currency again changes nothing. */
        before = m;
        assert_int_equal(tecg_mission_set_reporting_currency(&m, "USD", errstr, sizeof(errstr)),
                         TECG_OK);
        assert_same(&m, &before);

        /* A configured rate other than 1 for the new currency: refused,
         * nothing changed. */
        tecg_mission_init(&m);
        assert_int_equal(tecg_mission_set_rate(&m, "USD", "0.8", errstr, sizeof(errstr)), TECG_OK);
        before = m;
        assert_int_equal(tecg_mission_set_reporting_currency(&m, "USD", errstr, sizeof(errstr)),
                         TECG_ERR_CONFIG);
        assert_string_equal(errstr, "reporting currency USD has a configured rate other than 1");
        assert_same(&m, &before);

        /* Unknown codes. */
        static const char *const unknown[] = {"ABC", "eur", "EU", "EURO", ""};
        for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
                assert_int_equal(
                        tecg_mission_set_reporting_currency(&m, unknown[i], errstr, sizeof(errstr)),
                        TECG_ERR_CONFIG);
                tu_assert_contains(errstr, "reporting currency: unknown ISO 4217 code");
                assert_same(&m, &before);
        }
        assert_int_equal(tecg_mission_set_reporting_currency(&m, NULL, errstr, sizeof(errstr)),
                         TECG_ERR_CONFIG);
}

static void test_remove_rate(void **state) {
        (void)state;
        tecg_mission_t m;
        tecg_mission_init(&m);
        tecg_mission_remove_rate(&m, "JPY");
        assert_int_equal(m.nrates, BUILTIN_RATES - 1);
        assert_int_equal(rate_of(&m, "JPY"), -1);
        assert_sorted(&m);
        /* Not there, NULL, the reporting currency: no-ops (EUR has no
         * entry; its rate is implicit). */
        tecg_mission_remove_rate(&m, "JPY");
        tecg_mission_remove_rate(&m, NULL);
        tecg_mission_remove_rate(&m, "EUR");
        assert_int_equal(m.nrates, BUILTIN_RATES - 1);
        assert_int_equal(rate_of(&m, "EUR"), TECG_MONEY_RATE_SCALE);
}

static void test_check(void **state) {
        (void)state;
        static const struct {
                size_t offset;
                int64_t value;
                const char *reason; /* NULL: accepted */
        } cases[] = {
                {offsetof(tecg_mission_t, authorized_strength), 0, NULL},
                {offsetof(tecg_mission_t, authorized_strength), TECG_MISSION_COUNT_MAX, NULL},
                {offsetof(tecg_mission_t, authorized_strength), -1,
                 "authorized_strength must be within 0..1000000000 (got -1)"},
                {offsetof(tecg_mission_t, authorized_strength), TECG_MISSION_COUNT_MAX + 1,
                 "authorized_strength must be within 0..1000000000 (got 1000000001)"},
                {offsetof(tecg_mission_t, target_in_iraq), -5,
                 "target_in_iraq must be within 0..1000000000 (got -5)"},
                {offsetof(tecg_mission_t, target_outside_iraq), INT64_MAX,
                 "target_outside_iraq must be within 0..1000000000 (got 9223372036854775807)"},
                {offsetof(tecg_mission_t, target_outside_iraq), 0, NULL},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                tecg_mission_t m;
                char errstr[256] = "";
                tecg_mission_init(&m);
                memcpy((char *)&m + cases[i].offset, &cases[i].value, sizeof(int64_t));
                tecg_err_t err = tecg_mission_check(&m, errstr, sizeof(errstr));
                if (!cases[i].reason) {
                        assert_int_equal(err, TECG_OK);
                } else {
                        assert_int_equal(err, TECG_ERR_CONFIG);
                        assert_string_equal(errstr, cases[i].reason);
                }
        }
        /* A reporting currency written around the setter. */
        static const char bad_currency[][4] = {"ABC", "eur", "", {'E', 'U', 'R', 'O'}};
        for (size_t i = 0; i < sizeof(bad_currency) / sizeof(bad_currency[0]); i++) {
                tecg_mission_t m;
                char errstr[256] = "";
                tecg_mission_init(&m);
                memcpy(m.reporting_currency, bad_currency[i], 4);
                assert_int_equal(tecg_mission_check(&m, errstr, sizeof(errstr)), TECG_ERR_CONFIG);
                assert_string_equal(errstr, "reporting currency: unknown ISO 4217 code");
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_builtin_values),
                cmocka_unit_test(test_set_rate),
                cmocka_unit_test(test_set_rate_errors),
                cmocka_unit_test(test_reporting_currency),
                cmocka_unit_test(test_remove_rate),
                cmocka_unit_test(test_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
