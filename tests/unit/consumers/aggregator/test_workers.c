/* The signature threads' pool (consumers/aggregator/workers.h): every item
 * of every job is handed over exactly once, whatever the pool's size and
 * the job's, jobs follow each other on the same threads, and a pool of one
 * runs everything on the caller's thread. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workers.h"

#define ITEMS_MAX 5000

typedef struct {
        atomic_int calls[ITEMS_MAX];
        atomic_int off_caller; /* calls on another thread than the caller's */
        pthread_t caller;
} job_t;

static void count_call(void *opaque, size_t i) {
        job_t *job = opaque;
        atomic_fetch_add(&job->calls[i], 1);
        if (!pthread_equal(pthread_self(), job->caller))
                atomic_fetch_add(&job->off_caller, 1);
}

static void run_sizes(int threads) {
        char err[256];
        tecg_workers_t *w = tecg_workers_new(threads, err, sizeof(err));
        if (!w)
                fail_msg("tecg_workers_new(%d): %s", threads, err);
        assert_int_equal(tecg_workers_count(w), threads < 1 ? 1 : threads);
        static const size_t sizes[] = {0, 1, 2, 3, 15, 16, 17, 64, 1000, ITEMS_MAX};
        static job_t job;
        for (int round = 0; round < 3; round++) {
                for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                        memset(&job, 0, sizeof(job));
                        job.caller = pthread_self();
                        tecg_workers_run(w, sizes[s], count_call, &job);
                        for (size_t i = 0; i < ITEMS_MAX; i++)
                                if (atomic_load(&job.calls[i]) != (i < sizes[s] ? 1 : 0))
                                        fail_msg("%d threads, %zu items: item %zu called %d "
                                                 "times",
                                                 threads, sizes[s], i, atomic_load(&job.calls[i]));
                        if (threads <= 1)
                                assert_int_equal(atomic_load(&job.off_caller), 0);
                }
        }
        tecg_workers_destroy(w);
}

static void test_one_thread_is_the_caller(void **state) {
        (void)state;
        run_sizes(1);
        run_sizes(0);
}

static void test_every_item_once(void **state) {
        (void)state;
        run_sizes(2);
        run_sizes(3);
        run_sizes(8);
}

static void test_destroy_null_and_idle(void **state) {
        (void)state;
        char err[256];
        tecg_workers_destroy(NULL);
        tecg_workers_t *w = tecg_workers_new(4, err, sizeof(err));
        assert_non_null(w);
        tecg_workers_destroy(w); /* never given a job: the threads still stop */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_one_thread_is_the_caller),
                cmocka_unit_test(test_every_item_once),
                cmocka_unit_test(test_destroy_null_and_idle),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
