/* The mission gauges (consumers/dashboard/mission_gauges.c) from the
 * golden documents of tests/data/compose/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "docstore.h"
#include "metrics.h"
#include "mission_gauges.h"
#include "testutil.h"

static char *gauges_of(const char *funding, const char *staffing, const char *training) {
        tecg_buf_t b = TECG_BUF_INIT;
        tecg_mission_gauges_from(funding, staffing, training, &b);
        assert_int_equal(tecg_metrics_group(&b), TECG_OK);
        assert_int_equal(tecg_buf_terminate(&b), TECG_OK);
        return (char *)b.data;
}

static void test_golden_documents(void **state) {
        (void)state;
        size_t len;
        char *funding = tu_slurp_data("compose/funding.json", &len);
        char *staffing = tu_slurp_data("compose/staffing.json", &len);
        char *training = tu_slurp_data("compose/training.json", &len);
        char *text = gauges_of(funding, staffing, training);
        /* Figures as the documents have them (see the golden files). */
        static const char *const want[] = {
                "# TYPE tecg_mission_strength gauge\n",
                "tecg_mission_strength{nation=\"BEL\",location=\"in_iraq\"} 0\n",
                "tecg_mission_strength{nation=\"BEL\",location=\"outside_iraq\"} 0\n",
                "# TYPE tecg_mission_trainees gauge\n",
                "tecg_mission_trainees{nation=\"USA\",year=\"2004\",location=\"in_iraq\"} 40\n",
                "tecg_mission_trainees{nation=\"USA\",year=\"2004\",location=\"outside_iraq\"} 0\n",
                "tecg_mission_trainees_target{location=\"in_iraq\"} 1000\n",
                "tecg_mission_trainees_target{location=\"outside_iraq\"} 500\n",
                "# TYPE tecg_mission_pledged gauge\n",
                "tecg_mission_pledged{nation=\"BEL\",currency=\"EUR\"} 0\n",
                "# TYPE tecg_mission_disbursed gauge\n",
        };
        tu_assert_contains_n(text, want, sizeof(want) / sizeof(want[0]));
        /* One block per family, whatever the number of nations. */
        assert_int_equal(tu_count_of(text, "# HELP tecg_mission_strength "), 1);
        assert_int_equal(tu_count_of(text, "# HELP tecg_mission_pledged "), 1);
        free(text);
        free(funding);
        free(staffing);
        free(training);
}

/* Money: the converted decimal string, in the document's reporting
 * currency. */
static void test_money(void **state) {
        (void)state;
        const char *funding = "{\"reporting_currency\":\"USD\",\"nations\":["
                              "{\"nation\":\"GBR\",\"pledged\":{\"converted\":\"1304200.50\"},"
                              "\"disbursed\":{\"converted\":\"12.25\"}},"
                              "{\"nation\":\"bad\",\"pledged\":{\"converted\":\"1\"}}]}";
        char *text = gauges_of(funding, NULL, NULL);
        assert_non_null(strstr(text, "tecg_mission_pledged{nation=\"GBR\",currency=\"USD\"} "
                                     "1304200.5\n"));
        assert_non_null(strstr(text, "tecg_mission_disbursed{nation=\"GBR\",currency=\"USD\"} "
                                     "12.25\n"));
        assert_null(strstr(text, "bad"));
        assert_null(strstr(text, "tecg_mission_strength"));
        free(text);
}

/* Nothing published, nothing malformed served. */
static void test_missing_and_bad(void **state) {
        (void)state;
        char *text = gauges_of(NULL, "not json", "[1]");
        assert_string_equal(text, "");
        free(text);

        tecg_docstore_t *store = tecg_docstore_new();
        const char *staffing = "{\"nations\":[{\"nation\":\"FRA\",\"in_iraq\":12,"
                               "\"outside_iraq\":3}],\"total\":{\"authorized_strength\":100,"
                               "\"fill_rate\":0.12}}";
        assert_int_equal(
                tecg_docstore_put(store, "staffing", 1, staffing, strlen(staffing), NULL, 0),
                TECG_OK);
        tecg_buf_t b = TECG_BUF_INIT;
        tecg_mission_gauges(store, &b);
        assert_int_equal(tecg_buf_terminate(&b), TECG_OK);
        assert_non_null(strstr((char *)b.data,
                               "tecg_mission_strength{nation=\"FRA\",location=\"in_iraq\"} 12\n"));
        assert_non_null(strstr((char *)b.data, "tecg_mission_authorized_strength 100\n"));
        assert_non_null(strstr((char *)b.data, "tecg_mission_fill_rate 0.12\n"));
        tecg_buf_free(&b);
        tecg_docstore_destroy(store);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden_documents),
                cmocka_unit_test(test_money),
                cmocka_unit_test(test_missing_and_bad),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
