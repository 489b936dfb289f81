/* The logger (common/log.c): line format, level filtering, one event per
 * line with no control characters. Its stderr is caught in a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "testutil.h"

static int saved_stderr = -1;
static char path[] = "/tmp/tecg-log-XXXXXX";

static int setup(void **state) {
        (void)state;
        int fd = mkstemp(path);
        if (fd < 0)
                return -1;
        fflush(stderr);
        saved_stderr = dup(STDERR_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        tecg_log_init("tecg-test", TECG_LOG_INFO);
        return 0;
}

static int teardown(void **state) {
        (void)state;
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        unlink(path);
        return 0;
}

/* What was logged since the last call. */
static char *take(void) {
        char *text = tu_slurp(path, NULL);
        if (ftruncate(STDERR_FILENO, 0) || lseek(STDERR_FILENO, 0, SEEK_SET))
                fail_msg("cannot reset the captured stderr");
        return text;
}

static void test_line_format(void **state) {
        (void)state;
        char want[64];
        tecg_log_info("spool", "%s: %d lines", "FRA-1.ndjson", 12);
        char *text = take();
        /* 2026-11-29T18:55:00.123Z tecg-test[PID] INFO spool: ... */
        assert_true(strlen(text) > 25);
        assert_true(text[4] == '-' && text[7] == '-' && text[10] == 'T' && text[13] == ':' &&
                    text[16] == ':' && text[19] == '.' && text[23] == 'Z' && text[24] == ' ');
        snprintf(want, sizeof(want), " tecg-test[%d] INFO spool: FRA-1.ndjson: 12 lines\n",
                 (int)getpid());
        assert_string_equal(text + 24, want);
        free(text);
}

static void test_levels(void **state) {
        (void)state;
        tecg_log_set_level(TECG_LOG_WARNING);
        tecg_log_info("f", "dropped");
        tecg_log_debug("f", "dropped too");
        tecg_log_warn("f", "kept");
        tecg_log_err("f", "also kept");
        char *text = take();
        assert_null(strstr(text, "dropped"));
        assert_non_null(strstr(text, " WARN f: kept\n"));
        assert_non_null(strstr(text, " ERROR f: also kept\n"));
        assert_int_equal(tu_count_of(text, "\n"), 2);
        free(text);
        /* Out-of-range thresholds are clamped: 99 lets DEBUG through, -5
         * still EMERG. */
        tecg_log_set_level(99);
        tecg_log_debug("f", "debug shown");
        tecg_log_set_level(-5);
        tecg_log(TECG_LOG_EMERG, "f", "emerg shown");
        tecg_log(TECG_LOG_ALERT, "f", "alert dropped");
        text = take();
        assert_non_null(strstr(text, " DEBUG f: debug shown\n"));
        assert_non_null(strstr(text, " EMERG f: emerg shown\n"));
        assert_null(strstr(text, "alert dropped"));
        free(text);
        tecg_log_set_level(TECG_LOG_INFO);
}

static void test_level_parse(void **state) {
        (void)state;
        assert_int_equal(tecg_log_level_parse("debug"), TECG_LOG_DEBUG);
        assert_int_equal(tecg_log_level_parse("WARNING"), TECG_LOG_WARNING);
        assert_int_equal(tecg_log_level_parse("error"), TECG_LOG_ERR);
        assert_int_equal(tecg_log_level_parse("err"), TECG_LOG_ERR);
        assert_int_equal(tecg_log_level_parse("0"), TECG_LOG_EMERG);
        assert_int_equal(tecg_log_level_parse("7"), TECG_LOG_DEBUG);
        assert_int_equal(tecg_log_level_parse("8"), -1);
        assert_int_equal(tecg_log_level_parse("77"), -1);
        assert_int_equal(tecg_log_level_parse(""), -1);
        assert_int_equal(tecg_log_level_parse(NULL), -1);
        assert_int_equal(tecg_log_level_parse("verbose"), -1);
}

/* A message is one line whatever it carries: no newline but the last, no
 * control character at all. */
static void test_no_control_characters(void **state) {
        (void)state;
        tecg_log_info("f", "a\nb\rc\td\x1b[2Je\x7f"
                           "f\x01");
        char *text = take();
        size_t n = strlen(text);
        assert_true(n > 0 && text[n - 1] == '\n');
        for (size_t i = 0; i + 1 < n; i++)
                if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
                        fail_msg("control byte 0x%02x at %zu in \"%s\"", (unsigned char)text[i], i,
                                 text);
        assert_non_null(strstr(text, "f: a b c d [2Je f \n"));
        free(text);
}

/* A message longer than a line is cut, still ending in a newline. */
static void test_long_message(void **state) {
        (void)state;
        char *big = malloc(5000);
        memset(big, 'x', 4999);
        big[4999] = '\0';
        tecg_log_info("f", "%s", big);
        char *text = take();
        size_t n = strlen(text);
        assert_true(n < 2048);
        assert_int_equal(text[n - 1], '\n');
        assert_int_equal(tu_count_of(text, "\n"), 1);
        free(text);
        free(big);
}

static void test_rdkafka_cb(void **state) {
        (void)state;
        tecg_log_rdkafka_cb(NULL, TECG_LOG_WARNING, "FAIL", "broker down");
        tecg_log_rdkafka_cb(NULL, 42, "X", "beyond debug: dropped at INFO");
        char *text = take();
        assert_non_null(strstr(text, " WARN rdkafka/FAIL: broker down\n"));
        assert_null(strstr(text, "beyond debug"));
        free(text);
}

/* A flood of one message: `burst` lines per interval, then one line that
 * says how many were dropped, with the next message after the interval. */
static void test_rate_limit(void **state) {
        (void)state;
        static tecg_log_limit_t lim = TECG_LOG_LIMIT_INIT(3, 200);
        int written = 0;
        for (int i = 0; i < 50; i++)
                written += tecg_log_limited(&lim, TECG_LOG_WARNING, "http", "bad request %d", i);
        assert_int_equal(written, 3);
        char *text = take();
        assert_int_equal(tu_count_of(text, "WARN http: bad request"), 3);
        assert_non_null(strstr(text, "bad request 2\n"));
        assert_null(strstr(text, "bad request 3\n"));
        assert_null(strstr(text, "suppressed"));
        free(text);
        /* Below the threshold: neither written nor counted. */
        assert_int_equal(tecg_log_limited(&lim, TECG_LOG_DEBUG, "http", "quiet"), 0);
        tu_sleep_ms(250);
        assert_int_equal(tecg_log_limited(&lim, TECG_LOG_WARNING, "http", "bad request again"), 1);
        text = take();
        assert_non_null(strstr(text, "WARN http: 47 similar messages suppressed\n"));
        assert_non_null(strstr(text, "WARN http: bad request again\n"));
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_line_format),  cmocka_unit_test(test_levels),
                cmocka_unit_test(test_level_parse),  cmocka_unit_test(test_no_control_characters),
                cmocka_unit_test(test_long_message), cmocka_unit_test(test_rdkafka_cb),
                cmocka_unit_test(test_rate_limit),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
