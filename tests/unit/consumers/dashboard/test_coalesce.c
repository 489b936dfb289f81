/* When the dashboard composes after a change (consumers/dashboard/coalesce.h).
 * The clock is the test's own: every call gets "now" as an argument, so
 * nothing here waits or depends on how fast it runs. Scripts of
 * (time, what happens) with the due time expected after each step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "coalesce.h"

typedef enum { CHANGE, COMPOSE, CHECK } step_kind_t;

typedef struct {
        int64_t at;
        step_kind_t kind;
        int64_t due_in; /* expected tecg_coalesce_due_in() at `at` after the step */
        const char *why;
} step_t;

/* Every composition of the script costs cost_ms. */
static void run_script_costing(int64_t max_ms, int64_t cost_ms, const step_t *steps, size_t n) {
        tecg_coalesce_t c;
        tecg_coalesce_init(&c, max_ms);
        for (size_t i = 0; i < n; i++) {
                const step_t *s = &steps[i];
                if (s->kind == CHANGE)
                        tecg_coalesce_change(&c, s->at);
                else if (s->kind == COMPOSE)
                        tecg_coalesce_composed(&c, s->at, cost_ms);
                int64_t got = tecg_coalesce_due_in(&c, s->at);
                if (got != s->due_in)
                        fail_msg("step %zu (t=%lld, %s): due_in %lld, want %lld", i,
                                 (long long)s->at, s->why, (long long)got, (long long)s->due_in);
        }
}

/* Compositions that cost more than max_ms / TECG_COALESCE_COST_FACTOR:
 * the window's ceiling is max_ms. */
static void run_script(int64_t max_ms, const step_t *steps, size_t n) {
        run_script_costing(max_ms, 1000, steps, n);
}

/* Nothing pending: never due. */
static void test_idle(void **state) {
        (void)state;
        static const step_t s[] = {
                {0, CHECK, -1, "fresh"},
                {1000000, CHECK, -1, "still nothing"},
        };
        run_script(100, s, sizeof(s) / sizeof(s[0]));
}

/* A change that comes alone is composed at once, not after the interval:
 * the first ever, and one after a quiet spell. */
static void test_lone_change_at_once(void **state) {
        (void)state;
        static const step_t s[] = {
                {1000, CHANGE, 0, "first change ever: due now"},
                {1000, COMPOSE, -1, "composed"},
                {1500, CHANGE, 0, "500 ms later, window 5 long gone: due now"},
                {1500, COMPOSE, -1, "composed"},
                {1506, CHANGE, 0, "6 ms later: past the 5 ms floor, due now"},
        };
        run_script(100, s, sizeof(s) / sizeof(s[0]));
}

/* Changes that keep arriving inside the window wait for its end, and the
 * window doubles up to the interval; a quiet composition resets it. */
static void test_window_grows_under_load(void **state) {
        (void)state;
        static const step_t s[] = {
                {0, CHANGE, 0, "first"},
                {0, COMPOSE, -1, "window 5"},
                {2, CHANGE, 3, "inside the window: wait for 5"},
                {4, CHANGE, 1, "another: still 5"},
                {5, CHECK, 0, "window over: due"},
                {5, COMPOSE, -1, "busy: window 10"},
                {7, CHANGE, 8, "inside: due at 15"},
                {15, COMPOSE, -1, "busy: window 20"},
                {16, CHANGE, 19, "due at 35"},
                {35, COMPOSE, -1, "busy: window 40"},
                {36, CHANGE, 39, "due at 75"},
                {75, COMPOSE, -1, "busy: window 80"},
                {76, CHANGE, 79, "due at 155"},
                {155, COMPOSE, -1, "busy: window 100 (capped, not 160)"},
                {156, CHANGE, 99, "due at 255"},
                {255, COMPOSE, -1, "busy: stays 100"},
                {256, CHANGE, 99, "due at 355"},
                {355, COMPOSE, -1, "busy: stays 100"},
                /* The flood stops: the next change comes after the window. */
                {600, CHANGE, 0, "after a quiet window: at once"},
                {600, COMPOSE, -1, "quiet: back to 5"},
                {603, CHANGE, 2, "the floor again: due at 605, not 700"},
        };
        run_script(100, s, sizeof(s) / sizeof(s[0]));
}

/* Cheap compositions: under load the window stops at 4 times their cost
 * (3 ms: 12), not at max_ms; free ones keep it at the floor; a ceiling
 * follows the last composition's cost. */
static void test_ceiling_follows_cost(void **state) {
        (void)state;
        static const step_t cheap[] = {
                {0, CHANGE, 0, "first"},
                {0, COMPOSE, -1, "window 5"},
                {1, CHANGE, 4, "inside: due at 5"},
                {5, COMPOSE, -1, "busy: window 10"},
                {6, CHANGE, 9, "due at 15"},
                {15, COMPOSE, -1, "busy: window 12 (4 x 3 ms), not 20"},
                {16, CHANGE, 11, "due at 27"},
                {27, COMPOSE, -1, "busy: stays 12"},
                {28, CHANGE, 11, "due at 39"},
        };
        run_script_costing(100, 3, cheap, sizeof(cheap) / sizeof(cheap[0]));
        static const step_t free_[] = {
                {0, CHANGE, 0, "first"},     {0, COMPOSE, -1, "window 5"},
                {1, CHANGE, 4, "due at 5"},  {5, COMPOSE, -1, "busy: the floor is the ceiling"},
                {6, CHANGE, 4, "due at 10"},
        };
        run_script_costing(100, 0, free_, sizeof(free_) / sizeof(free_[0]));

        tecg_coalesce_t c;
        tecg_coalesce_init(&c, 100);
        int64_t t = 0;
        for (int i = 0; i < 8; i++) { /* a flood of costly compositions */
                tecg_coalesce_change(&c, t + 1);
                t += c.window_ms;
                tecg_coalesce_composed(&c, t, 50);
        }
        assert_int_equal(c.window_ms, 100);
        tecg_coalesce_change(&c, t + 1);
        tecg_coalesce_composed(&c, t + 100, 2); /* cheap again: 8 */
        assert_int_equal(c.window_ms, 8);
}

/* A change that arrived while the previous composition was running (the
 * engine notes it afterwards, at the composition's end or just after) is
 * a busy period too. */
static void test_change_right_after_compose(void **state) {
        (void)state;
        static const step_t s[] = {
                {0, CHANGE, 0, "first"},
                {30, COMPOSE, -1, "a slow composition ends at 30"},
                {30, CHANGE, 5, "came in meanwhile: wait for the window"},
                {35, COMPOSE, -1, "window 10"},
                {35, CHANGE, 10, "again: due at 45"},
        };
        run_script(100, s, sizeof(s) / sizeof(s[0]));
}

/* compose.interval.ms 0: every change at once, whatever the rate; below
 * the floor, the interval is the ceiling. */
static void test_small_intervals(void **state) {
        (void)state;
        static const step_t zero[] = {
                {0, CHANGE, 0, "first"}, {0, COMPOSE, -1, ""},      {0, CHANGE, 0, "same ms"},
                {0, COMPOSE, -1, ""},    {1, CHANGE, 0, "next ms"},
        };
        run_script(0, zero, sizeof(zero) / sizeof(zero[0]));
        static const step_t two[] = {
                {0, CHANGE, 0, "first"},    {0, COMPOSE, -1, "window 2"},
                {1, CHANGE, 1, "due at 2"}, {2, COMPOSE, -1, "busy: window 2 (ceiling)"},
                {3, CHANGE, 1, "due at 4"},
        };
        run_script(2, two, sizeof(two) / sizeof(two[0]));
        static const step_t neg[] = {
                {0, CHANGE, 0, "first"},
                {0, COMPOSE, -1, ""},
                {0, CHANGE, 0, "negative = 0"},
        };
        run_script(-5, neg, sizeof(neg) / sizeof(neg[0]));
}

/* Every pending change is in the composition: nothing stays due after it. */
static void test_compose_clears(void **state) {
        (void)state;
        tecg_coalesce_t c;
        tecg_coalesce_init(&c, 100);
        tecg_coalesce_change(&c, 10);
        tecg_coalesce_change(&c, 11);
        tecg_coalesce_composed(&c, 12, 1);
        assert_int_equal(tecg_coalesce_due_in(&c, 12), -1);
        assert_int_equal(tecg_coalesce_due_in(&c, 100000), -1);
        assert_false(c.pending);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_idle),
                cmocka_unit_test(test_lone_change_at_once),
                cmocka_unit_test(test_window_grows_under_load),
                cmocka_unit_test(test_change_right_after_compose),
                cmocka_unit_test(test_ceiling_follows_cost),
                cmocka_unit_test(test_small_intervals),
                cmocka_unit_test(test_compose_clears),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
