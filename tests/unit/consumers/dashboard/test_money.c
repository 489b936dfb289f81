/* Money conversion, formatting and rate parsing (consumers/money.h), and
 * the mission profile's rate table (consumers/mission.h). Table-driven:
 * every row can be checked by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mission.h"
#include "money.h"
#include "refdata.h"

/* ------------------------------------------------------------------ */

typedef struct {
        int64_t minor;
        int from_digits;
        const char *rate;
        int to_digits;
        tecg_err_t err;
        int64_t want;
        const char *why;
} conv_case_t;

static const conv_case_t conv_cases[] = {
        /* identity */
        {65200000, 2, "1", 2, TECG_OK, 65200000, "652000.00 EUR at 1"},
        {0, 2, "0.8042", 2, TECG_OK, 0, "zero"},
        /* USD -> EUR at 0.8042 */
        {100000000, 2, "0.8042", 2, TECG_OK, 80420000, "1,000,000.00 USD = 804,200.00 EUR"},
        {1, 2, "0.8042", 2, TECG_OK, 1, "0.01 USD = 0.008042 EUR -> 0.01"},
        {5, 2, "0.8042", 2, TECG_OK, 4, "0.05 USD = 0.04021 -> 0.04"},
        {-5, 2, "0.8042", 2, TECG_OK, -4, "negative rounds symmetrically"},
        /* rounding exactly half: away from zero */
        {1, 2, "0.5", 2, TECG_OK, 1, "0.005 -> 0.01"},
        {-1, 2, "0.5", 2, TECG_OK, -1, "-0.005 -> -0.01"},
        {3, 2, "0.5", 2, TECG_OK, 2, "0.015 -> 0.02"},
        {1, 2, "0.499999999", 2, TECG_OK, 0, "just below half -> 0"},
        {1, 2, "0.500000001", 2, TECG_OK, 1, "just above half -> 1"},
        /* JPY (0 digits) <-> EUR (2 digits) */
        {1500, 0, "0.0073", 2, TECG_OK, 1095, "1500 JPY = 10.95 EUR"},
        {1, 0, "0.0073", 2, TECG_OK, 1, "1 JPY = 0.0073 EUR -> 0.01"},
        {10000, 2, "136.85", 0, TECG_OK, 13685, "100.00 EUR = 13685 JPY"},
        {1, 2, "136.85", 0, TECG_OK, 1, "0.01 EUR = 1.3685 JPY -> 1"},
        {150, 2, "136.85", 0, TECG_OK, 205, "1.50 EUR = 205.275 JPY -> 205"},
        /* KWD (3 digits) */
        {1000, 3, "2.7", 2, TECG_OK, 270, "1.000 KWD = 2.70 EUR"},
        {1, 3, "2.7", 2, TECG_OK, 0, "0.001 KWD = 0.0027 EUR -> 0.00"},
        {2, 3, "2.7", 2, TECG_OK, 1, "0.002 KWD = 0.0054 EUR -> 0.01"},
        {100, 2, "0.37", 3, TECG_OK, 370, "1.00 EUR = 0.370 KWD"},
        /* ISK, TRL: tiny rates */
        {1000000, 0, "0.000000596", 2, TECG_OK, 60, "1,000,000 TRL = 0.596 EUR -> 0.60"},
        {1, 0, "0.000000001", 2, TECG_OK, 0, "smallest rate"},
        /* extremes */
        {INT64_MAX, 2, "1", 2, TECG_OK, INT64_MAX, "INT64_MAX at 1"},
        {INT64_MIN, 2, "1", 2, TECG_OK, INT64_MIN, "INT64_MIN at 1"},
        {INT64_MAX, 2, "0.5", 2, TECG_OK, 4611686018427387904, "INT64_MAX / 2, half up"},
        {INT64_MAX, 2, "2", 2, TECG_ERR_LIMIT, 0, "doubles past int64"},
        {INT64_MIN, 2, "1.000000001", 2, TECG_ERR_LIMIT, 0, "negative past int64"},
        {INT64_MAX, 0, "9223372036.854775807", 18, TECG_ERR_LIMIT, 0,
         "past 128 bits in the intermediate"},
        {INT64_MAX, 18, "9223372036.854775807", 0, TECG_OK, 85070591730, "18 -> 0 digits"},
        {92233720368547759, 0, "1", 2, TECG_ERR_LIMIT, 0, "x100 past int64"},
        {92233720368547758, 0, "1", 1, TECG_OK, 922337203685477580, "x10 fits"},
};

static void test_convert_table(void **state) {
        (void)state;
        int failures = 0;
        for (size_t i = 0; i < sizeof(conv_cases) / sizeof(conv_cases[0]); i++) {
                const conv_case_t *k = &conv_cases[i];
                int64_t rate, out = 12345;
                assert_int_equal(tecg_money_parse_rate(k->rate, &rate), 0);
                tecg_err_t err =
                        tecg_money_convert(k->minor, k->from_digits, rate, k->to_digits, &out);
                if (err != k->err || (err == TECG_OK && out != k->want) ||
                    (err != TECG_OK && out != 12345)) {
                        print_error("case %zu (%s): got %s %lld, want %s %lld\n", i, k->why,
                                    tecg_err2str(err), (long long)out, tecg_err2str(k->err),
                                    (long long)k->want);
                        failures++;
                }
        }
        assert_int_equal(failures, 0);
}

static void test_convert_bad_args(void **state) {
        (void)state;
        int64_t out;
        assert_int_equal(tecg_money_convert(1, 2, 0, 2, &out), TECG_ERR_INVALID);
        assert_int_equal(tecg_money_convert(1, 2, -1, 2, &out), TECG_ERR_INVALID);
        assert_int_equal(tecg_money_convert(1, -1, 1, 2, &out), TECG_ERR_INVALID);
        assert_int_equal(tecg_money_convert(1, 2, 1, 19, &out), TECG_ERR_INVALID);
}

/* convert(-x) == -convert(x) for every rounding position. */
static void test_convert_symmetric(void **state) {
        (void)state;
        static const char *rates[] = {"0.8042", "1.4622", "0.0073", "136.85", "0.5", "2.7"};
        for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
                int64_t rate;
                assert_int_equal(tecg_money_parse_rate(rates[r], &rate), 0);
                for (int64_t x = 0; x < 2000; x += 7) {
                        int64_t p, n;
                        assert_int_equal(tecg_money_convert(x, 2, rate, 0, &p), TECG_OK);
                        assert_int_equal(tecg_money_convert(-x, 2, rate, 0, &n), TECG_OK);
                        assert_true(p == -n);
                }
        }
}

typedef struct {
        int64_t minor;
        int digits;
        const char *want;
} fmt_case_t;

static const fmt_case_t fmt_cases[] = {
        {65200000, 2, "652000.00"},
        {-5, 2, "-0.05"},
        {0, 2, "0.00"},
        {1500, 0, "1500"},
        {0, 0, "0"},
        {1, 3, "0.001"},
        {-1000, 3, "-1.000"},
        {123456, 4, "12.3456"},
        {INT64_MAX, 2, "92233720368547758.07"},
        {INT64_MIN, 2, "-92233720368547758.08"},
        {INT64_MIN, 0, "-9223372036854775808"},
        {5, 18, "0.000000000000000005"},
        {INT64_MIN, 18, "-9.223372036854775808"},
};

static void test_format_table(void **state) {
        (void)state;
        char buf[TECG_MONEY_STR_SIZE];
        for (size_t i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
                assert_non_null(tecg_money_format(fmt_cases[i].minor, fmt_cases[i].digits, buf,
                                                  sizeof(buf)));
                assert_string_equal(buf, fmt_cases[i].want);
        }
        /* Too small a buffer or bad digits: NULL, nothing written. */
        char small[6] = "xxxxx";
        assert_null(tecg_money_format(65200000, 2, small, sizeof(small)));
        assert_string_equal(small, "xxxxx");
        assert_non_null(tecg_money_format(-5, 2, small, sizeof(small))); /* "-0.05" + NUL */
        assert_string_equal(small, "-0.05");
        assert_null(tecg_money_format(1, 19, buf, sizeof(buf)));
        assert_null(tecg_money_format(1, -1, buf, sizeof(buf)));
}

static void test_rates_parse_format(void **state) {
        (void)state;
        static const struct {
                const char *in;
                int64_t scaled;
                const char *out;
        } ok[] = {
                {"0.8042", 804200000, "0.8042"},
                {"1", 1000000000, "1"},
                {"1.0", 1000000000, "1"},
                {"136.85", 136850000000, "136.85"},
                {"0.000000596", 596, "0.000000596"},
                {"0.000000001", 1, "0.000000001"},
                {"9223372036.854775807", INT64_MAX, "9223372036.854775807"},
        };
        static const char *bad[] = {
                "",     "0",
                "0.0",  "0.000000000",
                "-1",   "+1",
                " 1",   "1 ",
                "1.",   ".5",
                "00.5", "01",
                "1e3",  "0.0000000001",
                "1,5",  "9223372036.854775808",
                "abc",
        };
        char buf[TECG_MONEY_STR_SIZE];
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                int64_t v = 0;
                assert_int_equal(tecg_money_parse_rate(ok[i].in, &v), 0);
                assert_true(v == ok[i].scaled);
                assert_string_equal(tecg_money_format_rate(v, buf, sizeof(buf)), ok[i].out);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int64_t v = 0;
                if (tecg_money_parse_rate(bad[i], &v) == 0)
                        fail_msg("rate '%s' should be rejected", bad[i]);
        }
        int64_t unused;
        assert_int_equal(tecg_money_parse_rate(NULL, &unused), -1);
}

/* ------------------------------------------------------------------ */
/* Mission profile                                                     */
/* ------------------------------------------------------------------ */

static void test_mission_defaults(void **state) {
        (void)state;
        tecg_mission_t m;
        int64_t r;
        char err[256];
        tecg_mission_init(&m);
        assert_int_equal(m.authorized_strength, 360);
        assert_int_equal(m.target_in_iraq, 1000);
        assert_int_equal(m.target_outside_iraq, 500);
        assert_string_equal(m.reporting_currency, "EUR");
        assert_int_equal(tecg_mission_check(&m, err, sizeof(err)), TECG_OK);
        /* The default table: every entry parsed, sorted, known, not EUR. */
        assert_int_equal(m.nrates, 23);
        for (size_t i = 0; i < m.nrates; i++) {
                assert_true(tecg_currency_minor_digits(m.rates[i].currency) >= 0);
                assert_true(m.rates[i].rate_scaled > 0);
                assert_false(m.rates[i].configured);
                if (i > 0)
                        assert_true(strcmp(m.rates[i - 1].currency, m.rates[i].currency) < 0);
        }
        static const struct {
                const char *cur;
                int64_t scaled;
        } brief[] = {{"USD", 804200000}, {"GBP", 1462200000}, {"NOK", 124500000},
                     {"DKK", 134300000}, {"ISK", 12500000},   {"JPY", 7300000},
                     {"CAD", 662100000}, {"EUR", 1000000000}};
        for (size_t i = 0; i < sizeof(brief) / sizeof(brief[0]); i++) {
                assert_true(tecg_mission_rate(&m, brief[i].cur, &r));
                assert_true(r == brief[i].scaled);
        }
        assert_false(tecg_mission_rate(&m, "UAH", &r));
        assert_false(tecg_mission_rate(&m, "KWD", &r));
}

static void test_mission_set_rate(void **state) {
        (void)state;
        tecg_mission_t m;
        int64_t r;
        char err[256];
        tecg_mission_init(&m);

        assert_int_equal(tecg_mission_set_rate(&m, "USD", "0.8", err, sizeof(err)), TECG_OK);
        assert_true(tecg_mission_rate(&m, "USD", &r) && r == 800000000);
        assert_int_equal(tecg_mission_set_rate(&m, "KWD", "2.7", err, sizeof(err)), TECG_OK);
        assert_true(tecg_mission_rate(&m, "KWD", &r) && r == 2700000000);
        assert_int_equal(m.nrates, 24);
        for (size_t i = 1; i < m.nrates; i++)
                assert_true(strcmp(m.rates[i - 1].currency, m.rates[i].currency) < 0);

        static const struct {
                const char *cur, *rate, *reason;
        } bad[] = {
                {"XYZ", "1", "rate: unknown ISO 4217 currency 'XYZ'"},
                {"usd", "1", "rate: unknown ISO 4217 currency 'usd'"},
                {"USDX", "1", "rate: unknown ISO 4217 currency 'USDX'"},
                {"XAU", "1", "rate: unknown ISO 4217 currency 'XAU'"},
                {"USD", "0",
                 "rate of USD must be a decimal > 0 with at most 9 decimals, e.g. 0.8042 (got '0')"},
                {"USD", "-0.8",
                 "rate of USD must be a decimal > 0 with at most 9 decimals, e.g. 0.8042 (got '-0.8')"},
                {"USD", "0.1234567891",
                 "rate of USD must be a decimal > 0 with at most 9 decimals, e.g. 0.8042 (got '0.1234567891')"},
                {"EUR", "1.1", "rate of EUR must be 1: it is the reporting currency"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                assert_int_equal(
                        tecg_mission_set_rate(&m, bad[i].cur, bad[i].rate, err, sizeof(err)),
                        TECG_ERR_CONFIG);
                assert_string_equal(err, bad[i].reason);
        }
        /* unchanged by the failures */
        assert_true(tecg_mission_rate(&m, "USD", &r) && r == 800000000);
        assert_int_equal(tecg_mission_set_rate(&m, "EUR", "1", err, sizeof(err)), TECG_OK);

        tecg_mission_remove_rate(&m, "USD");
        assert_false(tecg_mission_rate(&m, "USD", &r));
        tecg_mission_remove_rate(&m, "USD"); /* not found: fine */
        assert_int_equal(m.nrates, 23);
}

static void test_mission_reporting_currency(void **state) {
        (void)state;
        tecg_mission_t m;
        int64_t r;
        char err[256];

        tecg_mission_init(&m);
        /* Rates meant for a GBP reporting currency, set before switching. */
        assert_int_equal(tecg_mission_set_rate(&m, "CAD", "0.45", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_mission_set_rate(&m, "USD", "0.55", err, sizeof(err)), TECG_OK);
        /* USD has a configured rate other than 1: refused, nothing changes */
        assert_int_equal(tecg_mission_set_reporting_currency(&m, "USD", err, sizeof(err)),
                         TECG_ERR_CONFIG);
        assert_string_equal(err, "reporting currency USD has a configured rate other than 1");
        assert_string_equal(m.reporting_currency, "EUR");
        assert_int_equal(m.nrates, 23);

        /* Switching to GBP: the EUR defaults go (GBP's own among them), the
         * configured CAD and USD stay, GBP becomes the identity. */
        assert_int_equal(tecg_mission_set_reporting_currency(&m, "GBP", err, sizeof(err)), TECG_OK);
        assert_string_equal(m.reporting_currency, "GBP");
        assert_int_equal(m.nrates, 2);
        assert_true(tecg_mission_rate(&m, "USD", &r) && r == 550000000);
        assert_true(tecg_mission_rate(&m, "CAD", &r) && r == 450000000);
        assert_true(tecg_mission_rate(&m, "GBP", &r) && r == 1000000000);
        assert_false(tecg_mission_rate(&m, "JPY", &r));
        assert_false(tecg_mission_rate(&m, "EUR", &r));
        /* A configured rate of exactly 1 for the new currency is accepted and
         * folded into the identity. */
        assert_int_equal(tecg_mission_set_rate(&m, "EUR", "1.4622", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_mission_set_rate(&m, "NOK", "1", err, sizeof(err)), TECG_OK);
        assert_int_equal(m.nrates, 4);
        assert_int_equal(tecg_mission_set_reporting_currency(&m, "NOK", err, sizeof(err)), TECG_OK);
        assert_int_equal(m.nrates, 3);
        assert_true(tecg_mission_rate(&m, "NOK", &r) && r == 1000000000);
        assert_int_equal(tecg_mission_set_rate(&m, "NOK", "1.000", err, sizeof(err)), TECG_OK);
        assert_int_equal(m.nrates, 3);

        assert_int_equal(tecg_mission_set_reporting_currency(&m, "EURO", err, sizeof(err)),
                         TECG_ERR_CONFIG);
        assert_string_equal(err, "reporting currency: unknown ISO 4217 code 'EURO'");
        assert_int_equal(tecg_mission_set_reporting_currency(&m, "GBP", err, sizeof(err)), TECG_OK);
        assert_string_equal(m.reporting_currency, "GBP");
        assert_int_equal(m.nrates, 3);
}

static void test_mission_check(void **state) {
        (void)state;
        tecg_mission_t m;
        char err[256];
        tecg_mission_init(&m);
        m.authorized_strength = -1;
        assert_int_equal(tecg_mission_check(&m, err, sizeof(err)), TECG_ERR_CONFIG);
        assert_string_equal(err, "authorized_strength must be within 0..1000000000 (got -1)");
        m.authorized_strength = 0;
        m.target_outside_iraq = 1000000001;
        assert_int_equal(tecg_mission_check(&m, err, sizeof(err)), TECG_ERR_CONFIG);
        assert_string_equal(err,
                            "target_outside_iraq must be within 0..1000000000 (got 1000000001)");
        m.target_outside_iraq = 0;
        assert_int_equal(tecg_mission_check(&m, err, sizeof(err)), TECG_OK);
        memcpy(m.reporting_currency, "XXX", 4);
        assert_int_equal(tecg_mission_check(&m, err, sizeof(err)), TECG_ERR_CONFIG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_convert_table),
                cmocka_unit_test(test_convert_bad_args),
                cmocka_unit_test(test_convert_symmetric),
                cmocka_unit_test(test_format_table),
                cmocka_unit_test(test_rates_parse_format),
                cmocka_unit_test(test_mission_defaults),
                cmocka_unit_test(test_mission_set_rate),
                cmocka_unit_test(test_mission_reporting_currency),
                cmocka_unit_test(test_mission_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
