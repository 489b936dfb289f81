/* The signature threads' pool (consumers/aggregator/workers.h): every item
 * of every job is handed over exactly once, whatever the pool's size and
 * the job's, jobs follow each other on the same threads, a pool of one
 * runs everything on the caller's thread, and a job run in the background
 * is done item by item as its caller takes it. */
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
                        assert_true(tecg_workers_run(w, sizes[s], count_call, &job));
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

/* The job in the background: the caller, taking items in order, finds
 * each one done when wait(i) returns (the item's work is a slow write of
 * its own mark), every item runs once, and a job the caller stops waiting
 * for half-way still ends at finish. */
typedef struct {
        atomic_int calls[ITEMS_MAX];
        unsigned char mark[ITEMS_MAX]; /* plain: wait() must publish it */
        atomic_int off_caller;
        atomic_uint work; /* keeps mark_item()'s work from being optimised away */
        pthread_t caller;
} marked_job_t;

static void mark_item(void *opaque, size_t i) {
        marked_job_t *job = opaque;
        unsigned spin = 0;
        for (unsigned k = 0; k < 2000; k++) /* a little work, as a signature check */
                spin = spin * 31 + k;
        atomic_fetch_add(&job->work, spin);
        job->mark[i] = (unsigned char)(i % 251 + 1);
        atomic_fetch_add(&job->calls[i], 1);
        if (!pthread_equal(pthread_self(), job->caller))
                atomic_fetch_add(&job->off_caller, 1);
}

static void test_a_background_job_is_taken_in_order(void **state) {
        (void)state;
        char err[256];
        static const int threads[] = {1, 2, 3};
        static const size_t sizes[] = {0, 1, 2, 7, 1000, ITEMS_MAX};
        static marked_job_t job;
        for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++) {
                tecg_workers_t *w = tecg_workers_new(threads[t], err, sizeof(err));
                assert_non_null(w);
                for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                        size_t n = sizes[s];
                        for (int half = 0; half < 2; half++) {
                                memset(&job, 0, sizeof(job));
                                job.caller = pthread_self();
                                assert_true(tecg_workers_start(w, n, mark_item, &job));
                                size_t upto = half ? n / 2 : n;
                                for (size_t i = 0; i < upto; i++) {
                                        tecg_workers_wait(w, i);
                                        if (job.mark[i] != i % 251 + 1)
                                                fail_msg("%d threads, %zu items: item %zu not "
                                                         "done after wait",
                                                         threads[t], n, i);
                                }
                                tecg_workers_finish(w);
                                tecg_workers_finish(w); /* no job: returns */
                                for (size_t i = 0; i < n; i++)
                                        assert_int_equal(atomic_load(&job.calls[i]), 1);
                                if (threads[t] == 1)
                                        assert_int_equal(atomic_load(&job.off_caller), 0);
                        }
                }
                tecg_workers_destroy(w);
        }
}

/* A background job given up after its first item: abandon returns with
 * no item called twice and the untaken chunks left undone, and the pool
 * takes the next job as usual. */
static void test_an_abandoned_job_stops_taking_chunks(void **state) {
        (void)state;
        char err[256];
        static marked_job_t job;
        tecg_workers_t *w = tecg_workers_new(2, err, sizeof(err));
        assert_non_null(w);
        memset(&job, 0, sizeof(job));
        job.caller = pthread_self();
        assert_true(tecg_workers_start(w, ITEMS_MAX, mark_item, &job));
        tecg_workers_wait(w, 0);
        tecg_workers_abandon(w);
        int called = 0;
        for (size_t i = 0; i < ITEMS_MAX; i++) {
                assert_in_range(atomic_load(&job.calls[i]), 0, 1);
                called += atomic_load(&job.calls[i]);
        }
        assert_true(called >= 1);
        /* Nothing runs after abandon returned. */
        int after = 0;
        for (size_t i = 0; i < ITEMS_MAX; i++)
                after += atomic_load(&job.calls[i]);
        assert_int_equal(after, called);
        tecg_workers_abandon(w); /* no job: returns */
        memset(&job, 0, sizeof(job));
        job.caller = pthread_self();
        assert_true(tecg_workers_run(w, ITEMS_MAX, mark_item, &job));
        for (size_t i = 0; i < ITEMS_MAX; i++)
                assert_int_equal(atomic_load(&job.calls[i]), 1);
        tecg_workers_destroy(w);
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
                cmocka_unit_test(test_a_background_job_is_taken_in_order),
                cmocka_unit_test(test_an_abandoned_job_stops_taking_chunks),
                cmocka_unit_test(test_destroy_null_and_idle),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
