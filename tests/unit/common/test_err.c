/* Error codes and reasons (common/err.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static void test_err2str(void **state) {
        (void)state;
        assert_string_equal(tecg_err2str(TECG_OK), "ok");
        assert_string_equal(tecg_err2str(TECG_ERR_INVALID), "invalid input");
        assert_string_equal(tecg_err2str(TECG_ERR_RETRY), "transient error");
        /* Every code has its own name; an unknown one still gets a string. */
        for (int a = TECG_OK; a <= TECG_ERR_RETRY; a++) {
                assert_non_null(tecg_err2str((tecg_err_t)a));
                assert_string_not_equal(tecg_err2str((tecg_err_t)a), "unknown error");
                for (int b = a + 1; b <= TECG_ERR_RETRY; b++)
                        assert_string_not_equal(tecg_err2str((tecg_err_t)a),
                                                tecg_err2str((tecg_err_t)b));
        }
        assert_string_equal(tecg_err2str((tecg_err_t)999), "unknown error");
}

static void test_seterr(void **state) {
        (void)state;
        char buf[32];
        assert_int_equal(tecg_seterr(TECG_ERR_IO, buf, sizeof(buf), "%s: %d", "x", 42),
                         TECG_ERR_IO);
        assert_string_equal(buf, "x: 42");
        /* Cut to the buffer, always terminated. */
        assert_int_equal(tecg_seterr(TECG_ERR_LIMIT, buf, 8, "%s", "0123456789"), TECG_ERR_LIMIT);
        assert_string_equal(buf, "0123456");
        /* No buffer: only the code comes back. */
        assert_int_equal(tecg_seterr(TECG_ERR_NOMEM, NULL, 0, "ignored"), TECG_ERR_NOMEM);
        memcpy(buf, "keep", 5);
        assert_int_equal(tecg_seterr(TECG_ERR_NOMEM, buf, 0, "ignored"), TECG_ERR_NOMEM);
        assert_string_equal(buf, "keep");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_err2str),
                cmocka_unit_test(test_seterr),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
