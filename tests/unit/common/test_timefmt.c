/* RFC 3339 formatting (common/timefmt.c): the edges a calendar gets wrong.
 * Expected times are computed with tu_at() (timegm), not with the code under
 * test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timefmt.h"
#include "testutil.h"

static void check_ms(int64_t ms, const char *want) {
        char out[TECG_TIME_RFC3339_SIZE];
        memset(out, 'x', sizeof(out));
        assert_ptr_equal(tecg_time_format_rfc3339_ms(ms, out), out);
        assert_string_equal(out, want);
}

static void check_local(int64_t ms, int32_t off, const char *want) {
        char out[TECG_TIME_RFC3339_SIZE];
        assert_ptr_equal(tecg_time_format_rfc3339(ms, off, out), out);
        assert_string_equal(out, want);
}

static void test_ms_edges(void **state) {
        (void)state;
        check_ms(0, "1970-01-01T00:00:00.000Z");
        check_ms(1, "1970-01-01T00:00:00.001Z");
        /* Before 1970: floored, not truncated towards zero. */
        check_ms(-1, "1969-12-31T23:59:59.999Z");
        check_ms(-1000, "1969-12-31T23:59:59.000Z");
        check_ms(-1001, "1969-12-31T23:59:58.999Z");
        /* Milliseconds are cut, never rounded up into the next second. */
        check_ms(1999, "1970-01-01T00:00:01.999Z");
        check_ms(tu_at(2005, 11, 30, 16, 45, 2, 0) + 118, "2005-11-30T16:45:02.118Z");
        check_ms(tu_at(2004, 2, 29, 23, 59, 59, 0) + 999, "2004-02-29T23:59:59.999Z");
        check_ms(tu_at(9999, 12, 31, 23, 59, 59, 0) + 999, "9999-12-31T23:59:59.999Z");
        check_ms(tu_at(9999, 12, 31, 23, 59, 59, 0) + 1000, "10000-01-01T00:00:00.000Z");
        /* Four digits for every year, which strftime's %Y does not give. */
        check_ms(tu_at(999, 1, 1, 0, 0, 0, 0), "0999-01-01T00:00:00.000Z");
        check_ms(tu_at(1, 1, 1, 0, 0, 0, 0), "0001-01-01T00:00:00.000Z");
}

static void test_extremes_fit(void **state) {
        (void)state;
        char out[TECG_TIME_RFC3339_SIZE];
        /* No int64 input overflows the buffer or reads an unset struct tm. */
        tecg_time_format_rfc3339_ms(INT64_MAX, out);
        assert_true(strlen(out) < sizeof(out));
        assert_non_null(strstr(out, ".807Z"));
        tecg_time_format_rfc3339_ms(INT64_MIN, out);
        assert_true(strlen(out) < sizeof(out));
        assert_non_null(strstr(out, ".192Z"));
        /* A local time beyond int64 falls back to UTC with Z. */
        tecg_time_format_rfc3339(INT64_MAX, 60, out);
        assert_true(strlen(out) < sizeof(out));
        assert_int_equal(out[strlen(out) - 1], 'Z');
        tecg_time_format_rfc3339(INT64_MIN, -60, out);
        assert_int_equal(out[strlen(out) - 1], 'Z');
}

static void test_with_offset(void **state) {
        (void)state;
        int64_t noon_utc = tu_at(2005, 2, 22, 9, 0, 0, 0);
        check_local(noon_utc, 0, "2005-02-22T09:00:00Z");
        check_local(noon_utc, 180, "2005-02-22T12:00:00+03:00");
        check_local(noon_utc, -330, "2005-02-22T03:30:00-05:30");
        check_local(noon_utc + 5, 180, "2005-02-22T12:00:00.005+03:00");
        /* The offset moves the date too. */
        check_local(tu_at(2005, 1, 1, 1, 0, 0, 0), -120, "2004-12-31T23:00:00-02:00");
        check_local(-1, 60, "1970-01-01T00:59:59.999+01:00");
        check_local(0, 24 * 60 - 1, "1970-01-01T23:59:00+23:59");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ms_edges),
                cmocka_unit_test(test_extremes_fit),
                cmocka_unit_test(test_with_offset),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
