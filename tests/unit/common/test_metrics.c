/* Prometheus text exposition (common/metrics.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "testutil.h"

static void test_add(void **state) {
        (void)state;
        tecg_buf_t b = TECG_BUF_INIT;
        assert_int_equal(tecg_metrics_add(&b, TECG_METRIC_COUNTER, "tecg_events_total",
                                          "Events counted.", "nation=\"FRA\"", 42),
                         TECG_OK);
        assert_int_equal(
                tecg_metrics_add(&b, TECG_METRIC_GAUGE, "tecg_lag", "Lag in seconds.", NULL, 0.5),
                TECG_OK);
        assert_int_equal(tecg_buf_terminate(&b), TECG_OK);
        assert_string_equal((char *)b.data, "# HELP tecg_events_total Events counted.\n"
                                            "# TYPE tecg_events_total counter\n"
                                            "tecg_events_total{nation=\"FRA\"} 42\n"
                                            "# HELP tecg_lag Lag in seconds.\n"
                                            "# TYPE tecg_lag gauge\n"
                                            "tecg_lag 0.5\n");
        tecg_buf_free(&b);
}

/* Counters past 2^53 keep every digit %.17g can give. */
static void test_large_value(void **state) {
        (void)state;
        tecg_buf_t b = TECG_BUF_INIT;
        assert_int_equal(
                tecg_metrics_add(&b, TECG_METRIC_COUNTER, "c", "h", NULL, 9007199254740993.0),
                TECG_OK);
        assert_int_equal(tecg_buf_terminate(&b), TECG_OK);
        assert_non_null(strstr((char *)b.data, "\nc 9007199254740992\n"));
        tecg_buf_free(&b);
}

/* A sample that does not fit one line is refused and adds nothing. */
static void test_too_long(void **state) {
        (void)state;
        tecg_buf_t b = TECG_BUF_INIT;
        char help[1100];
        memset(help, 'h', sizeof(help) - 1);
        help[sizeof(help) - 1] = '\0';
        assert_int_equal(tecg_metrics_add(&b, TECG_METRIC_GAUGE, "g", help, NULL, 1),
                         TECG_ERR_LIMIT);
        assert_int_equal(b.len, 0);
        tecg_buf_free(&b);
}

static void test_write_file(void **state) {
        (void)state;
        char dir[] = "/tmp/tecg-metrics-XXXXXX", path[128], tmp[140], err[256] = "";
        tecg_buf_t b = TECG_BUF_INIT;
        size_t len = 0;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/tecg.prom", dir);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        assert_int_equal(tecg_metrics_add(&b, TECG_METRIC_GAUGE, "g", "h", NULL, 3), TECG_OK);
        assert_int_equal(tecg_metrics_write_file(&b, path, err, sizeof(err)), TECG_OK);
        char *text = tu_slurp(path, &len);
        assert_int_equal(len, b.len);
        assert_memory_equal(text, b.data, b.len);
        free(text);
        /* Renamed into place: no temporary file left behind. */
        assert_int_not_equal(access(tmp, F_OK), 0);
        /* 0644 whatever the umask: the collector may be another user. */
        struct stat st;
        mode_t old = umask(077);
        assert_int_equal(tecg_metrics_write_file(&b, path, err, sizeof(err)), TECG_OK);
        umask(old);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        /* A reader holding the old file keeps it whole: a new inode. */
        ino_t before = st.st_ino;
        assert_int_equal(tecg_metrics_write_file(&b, path, err, sizeof(err)), TECG_OK);
        assert_int_equal(stat(path, &st), 0);
        assert_int_not_equal(st.st_ino, before);
        /* A directory that does not exist: an I/O error naming the file. */
        snprintf(path, sizeof(path), "%s/missing/tecg.prom", dir);
        assert_int_equal(tecg_metrics_write_file(&b, path, err, sizeof(err)), TECG_ERR_IO);
        assert_non_null(strstr(err, "missing/tecg.prom.tmp"));
        tecg_buf_free(&b);
        tu_rm_tree(dir);
}

/* Samples of one family added in two places (a loop over sinks adds
 * several families per sink) come out as one block with one HELP/TYPE,
 * in first-seen order, as the text format requires. */
static void test_group(void **state) {
        (void)state;
        tecg_buf_t b = TECG_BUF_INIT;
        assert_int_equal(tecg_metrics_add(&b, TECG_METRIC_GAUGE, "up", "Up.", "sink=\"a\"", 1),
                         TECG_OK);
        assert_int_equal(
                tecg_metrics_add(&b, TECG_METRIC_COUNTER, "sent_total", "Sent.", "sink=\"a\"", 3),
                TECG_OK);
        assert_int_equal(tecg_metrics_add(&b, TECG_METRIC_GAUGE, "up", "Up.", "sink=\"b\"", 0),
                         TECG_OK);
        assert_int_equal(
                tecg_metrics_add(&b, TECG_METRIC_COUNTER, "sent_total", "Sent.", "sink=\"b\"", 5),
                TECG_OK);
        assert_int_equal(tecg_metrics_add(&b, TECG_METRIC_GAUGE, "upper", "Not up.", NULL, 7),
                         TECG_OK);
        assert_int_equal(tecg_metrics_group(&b), TECG_OK);
        assert_int_equal(tecg_buf_terminate(&b), TECG_OK);
        assert_string_equal((char *)b.data, "# HELP up Up.\n"
                                            "# TYPE up gauge\n"
                                            "up{sink=\"a\"} 1\n"
                                            "up{sink=\"b\"} 0\n"
                                            "# HELP sent_total Sent.\n"
                                            "# TYPE sent_total counter\n"
                                            "sent_total{sink=\"a\"} 3\n"
                                            "sent_total{sink=\"b\"} 5\n"
                                            "# HELP upper Not up.\n"
                                            "# TYPE upper gauge\n"
                                            "upper 7\n");
        tecg_buf_free(&b);
        /* Empty stays empty. */
        assert_int_equal(tecg_metrics_group(&b), TECG_OK);
        assert_int_equal(b.len, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_add),      cmocka_unit_test(test_large_value),
                cmocka_unit_test(test_too_long), cmocka_unit_test(test_write_file),
                cmocka_unit_test(test_group),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
