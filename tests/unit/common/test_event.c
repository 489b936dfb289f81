/* Event names and the identifier rules (common/event.c) that the validator,
 * the contract check, the state codec and the nations list share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "timefmt.h"
#include "testutil.h"

static void test_enum_lookup(void **state) {
        (void)state;
        assert_int_equal(tecg_enum_lookup(tecg_event_type_names, TECG_EV__COUNT, "funding"), 0);
        assert_int_equal(tecg_enum_lookup(tecg_event_type_names, TECG_EV__COUNT, "training"),
                         TECG_EV_TRAINING);
        assert_int_equal(tecg_enum_lookup(tecg_role_names, TECG_ROLE__COUNT, "FORCE_PROTECTION"),
                         TECG_ROLE_FORCE_PROTECTION);
        /* Exact spelling only. */
        assert_int_equal(tecg_enum_lookup(tecg_event_type_names, TECG_EV__COUNT, "Funding"), -1);
        assert_int_equal(tecg_enum_lookup(tecg_level_names, TECG_LVL__COUNT, ""), -1);
}

static void test_event_id(void **state) {
        (void)state;
        char id[TECG_EVENT_ID_MAX + 2];
        assert_null(tecg_event_id_check("NLD-2005-001", 12));
        assert_null(tecg_event_id_check("a.b_c:d-0", 9));
        assert_string_equal(tecg_event_id_check("", 0), TECG_EVENT_ID_RULE);
        assert_string_equal(tecg_event_id_check("NLD 1", 5), TECG_EVENT_ID_RULE);
        assert_string_equal(tecg_event_id_check("NLD/1", 5), TECG_EVENT_ID_RULE);
        assert_string_equal(tecg_event_id_check("\xc3\x84", 2), TECG_EVENT_ID_RULE);
        /* A NUL inside the length is a character outside the set. */
        assert_string_equal(tecg_event_id_check("ab\0cd", 5), TECG_EVENT_ID_RULE);
        /* Only len bytes are read: the bad byte after them does not count. */
        assert_null(tecg_event_id_check("abc def", 3));
        memset(id, 'x', sizeof(id));
        assert_null(tecg_event_id_check(id, TECG_EVENT_ID_MAX));
        assert_string_equal(tecg_event_id_check(id, TECG_EVENT_ID_MAX + 1), TECG_EVENT_ID_RULE);
        assert_string_equal(TECG_EVENT_ID_RULE, "must be 1-64 characters of [A-Za-z0-9._:-]");
}

static void test_nation_code(void **state) {
        (void)state;
        assert_null(tecg_nation_code_check("NLD", 3));
        assert_null(tecg_nation_code_check("NLDX", 3));
        assert_string_equal(tecg_nation_code_check("nld", 3), TECG_CODE3_RULE);
        assert_string_equal(tecg_nation_code_check("NL", 2), TECG_CODE3_RULE);
        assert_string_equal(tecg_nation_code_check("NLDX", 4), TECG_CODE3_RULE);
        assert_string_equal(tecg_nation_code_check("N1D", 3), TECG_CODE3_RULE);
        assert_string_equal(tecg_nation_code_check("N\0D", 3), TECG_CODE3_RULE);
        assert_string_equal(tecg_nation_code_check("", 0), TECG_CODE3_RULE);
}

static void test_currency_code(void **state) {
        (void)state;
        assert_null(tecg_currency_code_check("EUR", 3, true));
        assert_null(tecg_currency_code_check("SKK", 3, true)); /* withdrawn, kept */
        /* Shape only: any 3 upper-case letters. */
        assert_null(tecg_currency_code_check("QQQ", 3, false));
        assert_string_equal(tecg_currency_code_check("QQQ", 3, true), TECG_CURRENCY_UNKNOWN_RULE);
        /* No minor unit: not money. */
        assert_string_equal(tecg_currency_code_check("XAU", 3, true), TECG_CURRENCY_UNKNOWN_RULE);
        assert_string_equal(tecg_currency_code_check("eur", 3, true), TECG_CODE3_RULE);
        assert_string_equal(tecg_currency_code_check("eur", 3, false), TECG_CODE3_RULE);
        assert_string_equal(tecg_currency_code_check("EURO", 4, true), TECG_CODE3_RULE);
        /* Not NUL-terminated after 3: only the 3 bytes count. */
        assert_null(tecg_currency_code_check("USDX", 3, true));
}

static void test_format_time(void **state) {
        (void)state;
        char out[40];
        assert_string_equal(tecg_time_format_rfc3339(tu_at(2005, 2, 22, 12, 0, 0, 180), 180, out),
                            "2005-02-22T12:00:00+03:00");
        assert_string_equal(tecg_time_format_rfc3339(tu_at(2005, 2, 22, 12, 0, 0, 0) + 250, 0, out),
                            "2005-02-22T12:00:00.250Z");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_enum_lookup), cmocka_unit_test(test_event_id),
                cmocka_unit_test(test_nation_code), cmocka_unit_test(test_currency_code),
                cmocka_unit_test(test_format_time),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
