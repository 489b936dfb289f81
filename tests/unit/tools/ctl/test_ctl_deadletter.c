/* tecg-ctl dead-letter: the ids operators type and the tecg.source header,
 * which comes from Kafka and may be anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_deadletter.h"

static void test_id_parse(void **state) {
        (void)state;
        int32_t p;
        int64_t o;
        char errstr[256];
        assert_int_equal(tecg_ctl_dl_id_parse("2:17", &p, &o, errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(p, 2);
        assert_int_equal(o, 17);
        const char *bad[] = {
                "",     ":",    "2",   "2:",   ":5",           "-1:5",
                "2:-5", "2:5x", "x:5", "+1:2", "2147483648:1", "1:99999999999999999999"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (tecg_ctl_dl_id_parse(bad[i], &p, &o, errstr, sizeof(errstr)) !=
                    TECG_ERR_INVALID)
                        fail_msg("'%s' accepted", bad[i]);
}

static void test_source_parse(void **state) {
        (void)state;
        char topic[64], errstr[256];
        int32_t p;
        int64_t o;
        const char *ok = "tecg.contributions/3/42";
        assert_int_equal(tecg_ctl_dl_source_parse(ok, strlen(ok), "tecg.", topic, sizeof(topic), &p,
                                                  &o, errstr, sizeof(errstr)),
                         TECG_OK);
        assert_string_equal(topic, "tecg.contributions");
        assert_int_equal(p, 3);
        assert_int_equal(o, 42);
        ok = "tecg.training-completions/0/0";
        assert_int_equal(tecg_ctl_dl_source_parse(ok, strlen(ok), "tecg.", topic, sizeof(topic), &p,
                                                  &o, errstr, sizeof(errstr)),
                         TECG_OK);
        /* Only the input topics of this prefix: a replay writes there. */
        const char *bad[] = {"",
                             "tecg.contributions",
                             "tecg.contributions/3",
                             "tecg.contributions//4",
                             "tecg.contributions/3/",
                             "tecg.contributions/-3/4",
                             "tecg.contributions/3/4x",
                             "tecg.contributions/99999999999/4",
                             "/3/4",
                             "tecg.nation-state/0/1",
                             "tecg.dead-letter/0/1",
                             "other.contributions/0/1",
                             "tecg.contributions/0/99999999999999999999"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (tecg_ctl_dl_source_parse(bad[i], strlen(bad[i]), "tecg.", topic, sizeof(topic),
                                             &p, &o, errstr, sizeof(errstr)) != TECG_ERR_INVALID)
                        fail_msg("'%s' accepted", bad[i]);
        /* A NUL inside, and a topic longer than the room for it. */
        const char nul[] = "tecg.contri\0butions/0/1";
        assert_int_equal(tecg_ctl_dl_source_parse(nul, sizeof(nul) - 1, "tecg.", topic,
                                                  sizeof(topic), &p, &o, errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_int_equal(tecg_ctl_dl_source_parse(ok, strlen(ok), "tecg.", topic, 8, &p, &o, errstr,
                                                  sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_int_equal(tecg_ctl_dl_source_parse(NULL, 0, "tecg.", topic, sizeof(topic), &p, &o,
                                                  errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_id_parse),
                cmocka_unit_test(test_source_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
