/* The default partition count of the input topics (deploy/kafka/topics)
 * against the shipped nations list (deploy/nations.csv): with murmur2 on the
 * nation code, librdkafka's own partitioner (tecg-producer's
 * murmur2_random, the Java client's default), no partition may stay empty
 * (an aggregator instance that owns it would idle) and none may hold more
 * than twice the mean (one instance would carry a double share). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "refdata.h"
#include "testutil.h"

#define MAX_PARTITIONS 256

/* The default of `partitions=${TECG_PARTITIONS:-N}` in deploy/kafka/topics. */
static int default_partitions(void) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/deploy/kafka/topics", tu_source_dir());
        char *text = tu_slurp(path, NULL);
        static const char needle[] = "\npartitions=${TECG_PARTITIONS:-";
        const char *p = strstr(text, needle);
        long n = 0;
        if (p) {
                p += strlen(needle);
                char *end = NULL;
                n = strtol(p, &end, 10);
                if (end == p || *end != '}' || n < 1 || n > MAX_PARTITIONS)
                        fail_msg("%s: bad default partition count near '%.20s'", path, p);
        } else {
                fail_msg("%s: no line 'partitions=${TECG_PARTITIONS:-N}'", path);
        }
        free(text);
        return (int)n;
}

static tecg_nations_t *deploy_nations(void) {
        char path[1024], err[512];
        snprintf(path, sizeof(path), "%s/deploy/nations.csv", tu_source_dir());
        tecg_nations_t *ns = tecg_nations_load(path, err, sizeof(err));
        if (!ns)
                fail_msg("%s", err);
        return ns;
}

/* Nations per partition with librdkafka's murmur2 partitioner: the key is
 * the nation code, as tecg-producer writes it. The partitioner does not use
 * the topic handle or the opaques for a non-NULL key. */
static void count_per_partition(const tecg_nations_t *ns, int partitions, int *counts) {
        memset(counts, 0, sizeof(*counts) * (size_t)partitions);
        for (size_t i = 0; i < tecg_nations_count(ns); i++) {
                const char *code = tecg_nations_at(ns, i)->code;
                int32_t p = rd_kafka_msg_partitioner_murmur2(NULL, code, strlen(code), partitions,
                                                             NULL, NULL);
                assert_in_range(p, 0, partitions - 1);
                counts[p]++;
        }
}

/* NULL when the spread is acceptable, else why not (static buffer). */
static const char *spread_problem(const int *counts, int partitions, size_t nations) {
        static char why[128];
        for (int p = 0; p < partitions; p++) {
                if (counts[p] == 0) {
                        snprintf(why, sizeof(why), "partition %d of %d is empty", p, partitions);
                        return why;
                }
                /* counts[p] > 2 * nations / partitions, in integers */
                if ((size_t)counts[p] * (size_t)partitions > 2 * nations) {
                        snprintf(why, sizeof(why), "partition %d of %d holds %d of %zu nations", p,
                                 partitions, counts[p], nations);
                        return why;
                }
        }
        return NULL;
}

static void test_default_count_spreads_nations(void **state) {
        (void)state;
        int partitions = default_partitions();
        tecg_nations_t *ns = deploy_nations();
        size_t nations = tecg_nations_count(ns);
        /* More nations than partitions, or some partition must stay empty. */
        assert_true(nations >= (size_t)partitions);
        int counts[MAX_PARTITIONS];
        count_per_partition(ns, partitions, counts);
        const char *why = spread_problem(counts, partitions, nations);
        if (why)
                fail_msg("default partition count %d in deploy/kafka/topics: %s; choose another",
                         partitions, why);
        tecg_nations_destroy(ns);
}

/* The check itself can fail: 6, the count before, left partition 0 empty. */
static void test_six_partitions_leave_one_empty(void **state) {
        (void)state;
        tecg_nations_t *ns = deploy_nations();
        int counts[6];
        count_per_partition(ns, 6, counts);
        assert_int_equal(counts[0], 0);
        assert_non_null(spread_problem(counts, 6, tecg_nations_count(ns)));
        tecg_nations_destroy(ns);
}

/* librdkafka's murmur2 is the Java client's: Utils.murmur2() of these keys
 * as kafka-clients 4.1.2 computes them, through Utils.toPositive() and
 * modulo the partition count as its partitioner does. */
static void test_murmur2_is_javas(void **state) {
        (void)state;
        static const struct {
                const char *key;
                int32_t java_murmur2;
        } cases[] = {
                {"kafka", -798503068},
                {"BEL", 1912786735},
                {"USA", -1482744072},
                {"21", -973932308},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int32_t want = (int32_t)((uint32_t)cases[i].java_murmur2 & 0x7fffffffU) % 1000;
                assert_int_equal(rd_kafka_msg_partitioner_murmur2(NULL, cases[i].key,
                                                                  strlen(cases[i].key), 1000, NULL,
                                                                  NULL),
                                 want);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_count_spreads_nations),
                cmocka_unit_test(test_six_partitions_leave_one_empty),
                cmocka_unit_test(test_murmur2_is_javas),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
