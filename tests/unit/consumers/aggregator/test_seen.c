/* The set of seen (nation, event_id) pairs (consumers/seen.h): exact
 * membership at millions of ids, limits, and the memory it takes per id
 * (printed, for the aggregator's memory budget). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "seen.h"

static uint64_t mix(uint64_t z) {
        z += UINT64_C(0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* The i-th id of a big run: distinct for distinct i (mix() is a bijection
 * and the 16 hex digits spell it), 16 to 23 chars of [A-Za-z0-9._:-], like
 * real ids ("NLD-2005-000123", "DEU-eq-17"). Never contains 'z'. */
static void big_id(uint64_t i, char out[32]) {
        static const char *const prefix[] = {"", "E-", "ev.", "NLD-eq:", "id_"};
        snprintf(out, 32, "%s%016llx", prefix[i % 5], (unsigned long long)mix(i));
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_basics(void **state) {
        (void)state;
        tecg_seen_t *s = tecg_seen_new();
        assert_non_null(s);
        assert_int_equal(tecg_seen_count(s), 0);
        assert_false(tecg_seen_contains(s, "NLD", "a"));

        assert_int_equal(tecg_seen_add(s, "NLD", "a"), 1);
        assert_int_equal(tecg_seen_add(s, "NLD", "a"), 0);
        assert_int_equal(tecg_seen_add(s, "DEU", "a"), 1); /* other nation */
        assert_int_equal(tecg_seen_add(s, "NLD", "A"), 1); /* case matters */
        assert_int_equal(tecg_seen_add(s, "NLD", "ab"), 1);
        assert_int_equal(tecg_seen_add(s, "NL", "Da"), 1); /* no joined keys */
        assert_true(tecg_seen_contains(s, "NLD", "a"));
        assert_true(tecg_seen_contains(s, "DEU", "a"));
        assert_true(tecg_seen_contains(s, "NL", "Da"));
        assert_false(tecg_seen_contains(s, "NLDa", ""));
        assert_false(tecg_seen_contains(s, "DEU", "A"));
        assert_false(tecg_seen_contains(s, "FRA", "a"));
        assert_false(tecg_seen_contains(s, "NLD", "b"));
        assert_int_equal(tecg_seen_count(s), 5);
        assert_true(tecg_seen_memory(s) > 0);
        tecg_seen_destroy(s);
        tecg_seen_destroy(NULL);
}

static void test_limits(void **state) {
        (void)state;
        tecg_seen_t *s = tecg_seen_new();
        char id[TECG_SEEN_ID_MAX + 2];
        char nation[TECG_SEEN_NATION_MAX + 2];

        memset(id, 'x', sizeof(id));
        id[TECG_SEEN_ID_MAX] = '\0';
        assert_int_equal(tecg_seen_add(s, "NLD", id), 1);
        assert_true(tecg_seen_contains(s, "NLD", id));
        id[TECG_SEEN_ID_MAX] = 'x';
        id[TECG_SEEN_ID_MAX + 1] = '\0';
        assert_int_equal(tecg_seen_add(s, "NLD", id), -1);
        assert_false(tecg_seen_contains(s, "NLD", id));
        assert_int_equal(tecg_seen_add(s, "NLD", ""), -1);
        assert_int_equal(tecg_seen_add(s, "", "a"), -1);
        memset(nation, 'N', sizeof(nation));
        nation[TECG_SEEN_NATION_MAX + 1] = '\0';
        assert_int_equal(tecg_seen_add(s, nation, "a"), -1);
        nation[TECG_SEEN_NATION_MAX] = '\0';
        assert_int_equal(tecg_seen_add(s, nation, "a"), 1);

        /* 255 nations per set, then -1 and nothing changes. */
        for (int i = 2; i < TECG_SEEN_NATIONS_MAX; i++) {
                char n[8];
                snprintf(n, sizeof(n), "N%03d", i);
                assert_int_equal(tecg_seen_add(s, n, "a"), 1);
        }
        assert_int_equal(tecg_seen_add(s, "ZZZ", "a"), -1);
        assert_false(tecg_seen_contains(s, "ZZZ", "a"));
        assert_int_equal(tecg_seen_add(s, "N100", "b"), 1); /* known nation */
        assert_int_equal(tecg_seen_count(s), 1 + TECG_SEEN_NATIONS_MAX);
        tecg_seen_destroy(s);
}

/* Two million ids: exact count, re-adds refused, every id found, and no
 * false positive for ids one character away from a stored one. */
static void test_two_million(void **state) {
        (void)state;
        enum { N = 2000000 };
        tecg_seen_t *s = tecg_seen_new();
        char id[32];
        double t0, t1, t2;
        size_t mem;

        t0 = now_s();
        for (uint64_t i = 0; i < N; i++) {
                big_id(i, id);
                if (tecg_seen_add(s, i % 7 ? "NLD" : "DEU", id) != 1)
                        fail_msg("add %s refused", id);
        }
        t1 = now_s();
        assert_int_equal(tecg_seen_count(s), N);
        mem = tecg_seen_memory(s);
        for (uint64_t i = 0; i < N; i++) {
                const char *nation = i % 7 ? "NLD" : "DEU";
                size_t len;
                big_id(i, id);
                assert_true(tecg_seen_contains(s, nation, id));
                /* Same id, other nation: never added (i % 7 picks one). */
                assert_false(tecg_seen_contains(s, i % 7 ? "DEU" : "NLD", id));
                /* One character changed, or one added, or one dropped. */
                len = strlen(id);
                id[len - 1] = 'z';
                assert_false(tecg_seen_contains(s, nation, id));
                id[len - 1] = '\0';
                assert_false(tecg_seen_contains(s, nation, id));
                big_id(i, id);
                id[len] = 'z';
                id[len + 1] = '\0';
                assert_false(tecg_seen_contains(s, nation, id));
        }
        t2 = now_s();
        for (uint64_t i = 0; i < N; i += 3) {
                big_id(i, id);
                assert_int_equal(tecg_seen_add(s, i % 7 ? "NLD" : "DEU", id), 0);
        }
        assert_int_equal(tecg_seen_count(s), N);
        assert_int_equal(tecg_seen_memory(s), mem);
        print_message("seen: %d ids of 16-23 chars: %zu bytes, %.1f bytes "
                      "per id; add %.0f ns/id, 4 lookups %.0f ns/id\n",
                      N, mem, (double)mem / N, (t1 - t0) * 1e9 / N, (t2 - t1) * 1e9 / N);

        /* Ids that differ from stored ones in their last char are new. */
        for (uint64_t i = 0; i < 1000; i++) {
                big_id(i, id);
                id[strlen(id) - 1] = 'z';
                assert_int_equal(tecg_seen_add(s, i % 7 ? "NLD" : "DEU", id), 1);
        }
        assert_int_equal(tecg_seen_count(s), N + 1000);
        tecg_seen_destroy(s);
}

/* Memory of the sizes the benchmark measures, and of a nearly empty set
 * (one exists per partition). */
static void test_memory_sizes(void **state) {
        (void)state;
        static const size_t sizes[] = {0, 1, 1000, 1000000};
        char id[32];
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
                tecg_seen_t *s = tecg_seen_new();
                for (size_t i = 0; i < sizes[k]; i++) {
                        /* "NLD-2005-0000123": 16 chars */
                        snprintf(id, sizeof(id), "NLD-2005-%07zu", i);
                        assert_int_equal(tecg_seen_add(s, "NLD", id), 1);
                }
                print_message("seen: %7zu ids like NLD-2005-0000123: %9zu "
                              "bytes, %.1f per id\n",
                              sizes[k], tecg_seen_memory(s),
                              (double)tecg_seen_memory(s) / (double)(sizes[k] ? sizes[k] : 1));
                if (sizes[k] == 0)
                        assert_true(tecg_seen_memory(s) < 8192);
                tecg_seen_destroy(s);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_basics),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_two_million),
                cmocka_unit_test(test_memory_sizes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
