/* Topic names: one list in common/topics.c, and the same list created by
 * deploy/kafka/topics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "topics.h"

static void test_names(void **state) {
        (void)state;
        static const struct {
                tecg_topics_id_t id;
                const char *name;
        } cases[] = {
                {TECG_TOPICS_CONTRIBUTIONS, "tecg.contributions"},
                {TECG_TOPICS_TRAINING, "tecg.training-completions"},
                {TECG_TOPICS_NATION_STATE, "tecg.nation-state"},
                {TECG_TOPICS_EVENT_IDS, "tecg.event-ids"},
                {TECG_TOPICS_DEAD_LETTER, "tecg.dead-letter"},
                {TECG_TOPICS_DASHBOARDS, "tecg.dashboards"},
        };
        assert_int_equal(sizeof(cases) / sizeof(cases[0]), TECG_TOPICS__COUNT);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *name = tecg_topics_name("tecg.", cases[i].id);
                assert_non_null(name);
                assert_string_equal(name, cases[i].name);
                assert_string_equal(tecg_topics_suffix(cases[i].id),
                                    cases[i].name + strlen("tecg."));
                free(name);
        }
}

static void test_prefix_and_bad_id(void **state) {
        (void)state;
        char *name = tecg_topics_name(NULL, TECG_TOPICS_DEAD_LETTER);
        assert_string_equal(name, "dead-letter");
        free(name);
        name = tecg_topics_name("test-42.", TECG_TOPICS_EVENT_IDS);
        assert_string_equal(name, "test-42.event-ids");
        free(name);
        assert_null(tecg_topics_name("tecg.", TECG_TOPICS__COUNT));
        assert_null(tecg_topics_suffix((tecg_topics_id_t)-1));
        assert_null(tecg_topics_suffix(TECG_TOPICS__COUNT));
}

/* deploy/kafka/topics names each topic it creates as "${prefix}SUFFIX=N":
 * those suffixes are exactly the C list, so a topic added on one side only
 * fails here rather than at the first start against a fresh broker. */
static void test_same_list_as_deploy_script(void **state) {
        (void)state;
        char path[4096];
        snprintf(path, sizeof(path), "%s/deploy/kafka/topics", tu_source_dir());
        char *text = tu_slurp(path, NULL);
        bool in_c[TECG_TOPICS__COUNT] = {false};
        size_t created = 0;
        static const char marker[] = "\"${prefix}";
        for (const char *p = strstr(text, marker); p; p = strstr(p + 1, marker)) {
                const char *s = p + strlen(marker);
                size_t n = strcspn(s, "=,\" ");
                if (s[n] != '=')
                        continue; /* the --copartition list, not a creation */
                created++;
                size_t id;
                for (id = 0; id < TECG_TOPICS__COUNT; id++) {
                        const char *suffix = tecg_topics_suffix((tecg_topics_id_t)id);
                        if (strlen(suffix) == n && memcmp(suffix, s, n) == 0)
                                break;
                }
                if (id == TECG_TOPICS__COUNT)
                        fail_msg("deploy/kafka/topics creates '%.*s', which "
                                 "common/topics.c does not name",
                                 (int)n, s);
                assert_false(in_c[id]);
                in_c[id] = true;
        }
        for (size_t id = 0; id < TECG_TOPICS__COUNT; id++)
                if (!in_c[id])
                        fail_msg("deploy/kafka/topics does not create '%s'",
                                 tecg_topics_suffix((tecg_topics_id_t)id));
        assert_int_equal(created, TECG_TOPICS__COUNT);
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_prefix_and_bad_id),
                cmocka_unit_test(test_same_list_as_deploy_script),
        };
        return cmocka_run_group_tests_name("topics", tests, NULL, NULL);
}
