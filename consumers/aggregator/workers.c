#include "workers.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Items taken at a time, at most: consecutive messages, so that a sealed
 * batch (up to 64 events under one signature, docs/design.md §9.1) is
 * mostly checked by one thread, which verifies its signature once and
 * remembers the root; with smaller chunks every thread verified every
 * root. 256 single signatures (~60 µs each) are ~15 ms of work: large
 * batches still spread evenly, small jobs take fewer so that every thread
 * gets some. */
#define CHUNK_MAX 256

struct tecg_workers {
        int nthreads; /* started, besides the caller */
        pthread_t *threads;
        pthread_mutex_t lock;
        pthread_cond_t wake, idle;
        bool lock_ok, wake_ok, idle_ok;
        pthread_cond_t progress; /* a chunk is done */
        bool progress_ok;
        /* The job; `generation` moves on with each one. */
        uint64_t generation;
        tecg_workers_fn fn;
        void *opaque;
        size_t n, chunk;
        atomic_size_t next;
        atomic_uchar *chunk_done; /* by chunk: every item of it done */
        size_t chunks_cap;
        bool running; /* started, not finished */
        int busy;     /* threads still on the current job */
        bool stop;
};

/* Does the next chunk not taken yet; false when none is left. */
static bool take_chunk(tecg_workers_t *w, tecg_workers_fn fn, void *opaque, size_t n,
                       size_t chunk) {
        size_t i = atomic_fetch_add(&w->next, chunk);
        if (i >= n)
                return false;
        size_t end = i + chunk < n ? i + chunk : n;
        for (size_t k = i; k < end; k++)
                fn(opaque, k);
        atomic_store_explicit(&w->chunk_done[i / chunk], 1, memory_order_release);
        pthread_mutex_lock(&w->lock);
        pthread_cond_broadcast(&w->progress);
        pthread_mutex_unlock(&w->lock);
        return true;
}

/* Takes chunks of the current job until none are left. */
static void drain(tecg_workers_t *w, tecg_workers_fn fn, void *opaque, size_t n, size_t chunk) {
        while (take_chunk(w, fn, opaque, n, chunk))
                ;
}

static void *worker_main(void *arg) {
        tecg_workers_t *w = arg;
        uint64_t seen = 0;
        /* Signals are the daemon's main thread's business (its stop flag). */
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        /* Named for top -H, perf and gdb. */
        pthread_setname_np(pthread_self(), "tecg-verify");
        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->stop && w->generation == seen)
                        pthread_cond_wait(&w->wake, &w->lock);
                if (w->stop)
                        break;
                seen = w->generation;
                tecg_workers_fn fn = w->fn;
                void *opaque = w->opaque;
                size_t n = w->n, chunk = w->chunk;
                pthread_mutex_unlock(&w->lock);
                drain(w, fn, opaque, n, chunk);
                pthread_mutex_lock(&w->lock);
                if (--w->busy == 0)
                        pthread_cond_signal(&w->idle);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

tecg_workers_t *tecg_workers_new(int n, char *errstr, size_t errstr_size) {
        tecg_workers_t *w = calloc(1, sizeof(*w));
        if (!w) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                return NULL;
        }
        atomic_init(&w->next, 0);
        if (n < 1)
                n = 1;
        if (!(w->lock_ok = pthread_mutex_init(&w->lock, NULL) == 0) ||
            !(w->wake_ok = pthread_cond_init(&w->wake, NULL) == 0) ||
            !(w->idle_ok = pthread_cond_init(&w->idle, NULL) == 0) ||
            !(w->progress_ok = pthread_cond_init(&w->progress, NULL) == 0) ||
            !(w->threads = calloc((size_t)n, sizeof(pthread_t)))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto fail;
        }
        for (int i = 0; i < n - 1; i++) {
                int rc = pthread_create(&w->threads[i], NULL, worker_main, w);
                if (rc) {
                        tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "signature check thread: %s",
                                    strerror(rc));
                        goto fail;
                }
                w->nthreads++;
        }
        return w;
fail:
        tecg_workers_destroy(w);
        return NULL;
}

bool tecg_workers_start(tecg_workers_t *w, size_t n, tecg_workers_fn fn, void *opaque) {
        if (!w->nthreads || n < 2) {
                for (size_t i = 0; i < n; i++)
                        fn(opaque, i);
                return true;
        }
        size_t chunk = n / (4 * ((size_t)w->nthreads + 1));
        chunk = chunk < 1 ? 1 : chunk > CHUNK_MAX ? CHUNK_MAX : chunk;
        size_t chunks = (n + chunk - 1) / chunk;
        if (chunks > w->chunks_cap) {
                atomic_uchar *done = realloc(w->chunk_done, chunks * sizeof(*done));
                if (!done)
                        return false;
                w->chunk_done = done;
                w->chunks_cap = chunks;
        }
        for (size_t c = 0; c < chunks; c++)
                atomic_init(&w->chunk_done[c], 0);
        pthread_mutex_lock(&w->lock);
        w->fn = fn;
        w->opaque = opaque;
        w->n = n;
        w->chunk = chunk;
        atomic_store(&w->next, 0);
        w->busy = w->nthreads;
        w->running = true;
        w->generation++;
        pthread_cond_broadcast(&w->wake);
        pthread_mutex_unlock(&w->lock);
        return true;
}

void tecg_workers_wait(tecg_workers_t *w, size_t i) {
        if (!w->running || i >= w->n)
                return;
        atomic_uchar *done = &w->chunk_done[i / w->chunk];
        /* Chunks are taken in order: while i's is not done, help with the
         * next one (i's own when nobody took it), then wait. */
        while (!atomic_load_explicit(done, memory_order_acquire))
                if (!take_chunk(w, w->fn, w->opaque, w->n, w->chunk))
                        break;
        pthread_mutex_lock(&w->lock);
        while (!atomic_load_explicit(done, memory_order_acquire))
                pthread_cond_wait(&w->progress, &w->lock);
        pthread_mutex_unlock(&w->lock);
}

/* Once every thread is off the job: a new one may start. */
static void job_end(tecg_workers_t *w) {
        pthread_mutex_lock(&w->lock);
        while (w->busy > 0)
                pthread_cond_wait(&w->idle, &w->lock);
        w->running = false;
        pthread_mutex_unlock(&w->lock);
}

void tecg_workers_finish(tecg_workers_t *w) {
        if (!w->running)
                return;
        drain(w, w->fn, w->opaque, w->n, w->chunk);
        job_end(w);
}

void tecg_workers_abandon(tecg_workers_t *w) {
        if (!w->running)
                return;
        /* No chunk is taken after this; those taken are finished. */
        atomic_store(&w->next, w->n);
        job_end(w);
}

bool tecg_workers_run(tecg_workers_t *w, size_t n, tecg_workers_fn fn, void *opaque) {
        if (!tecg_workers_start(w, n, fn, opaque))
                return false;
        tecg_workers_finish(w);
        return true;
}

int tecg_workers_count(const tecg_workers_t *w) {
        return w->nthreads + 1;
}

void tecg_workers_destroy(tecg_workers_t *w) {
        if (!w)
                return;
        if (w->nthreads) {
                pthread_mutex_lock(&w->lock);
                w->stop = true;
                pthread_cond_broadcast(&w->wake);
                pthread_mutex_unlock(&w->lock);
                for (int i = 0; i < w->nthreads; i++)
                        pthread_join(w->threads[i], NULL);
        }
        free(w->threads);
        free(w->chunk_done);
        if (w->progress_ok)
                pthread_cond_destroy(&w->progress);
        if (w->idle_ok)
                pthread_cond_destroy(&w->idle);
        if (w->wake_ok)
                pthread_cond_destroy(&w->wake);
        if (w->lock_ok)
                pthread_mutex_destroy(&w->lock);
        free(w);
}
