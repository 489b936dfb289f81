/* A small pool of threads for the aggregator's one parallel step: checking
 * the signatures of a batch (docs/design.md §9.1: Ed25519 and Merkle
 * proofs), which the engine's thread would otherwise do between reading
 * a batch and counting it. The pool checks ahead while the engine counts
 * the batch in order (tecg_workers_start()). The caller's thread works
 * too when it waits, so a pool of n runs n - 1 threads of its own; with
 * n = 1 nothing is started and work runs inline.
 *
 * The work function must be safe to call from several threads at once on
 * different items: the aggregator's only touches the item's own message
 * and read-only data (the keyring). */
#ifndef TECG_WORKERS_H
#define TECG_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct tecg_workers tecg_workers_t;

/* Called once for each item index i in [0, n). */
typedef void (*tecg_workers_fn)(void *opaque, size_t i);

/* A pool of `n` (>= 1) threads, the caller's included. NULL with the
 * reason when a thread cannot be started. */
tecg_workers_t *tecg_workers_new(int n, char *errstr, size_t errstr_size);

/* Runs fn on every item of [0, n), spread over the pool, and returns once
 * every call returned. One job at a time (the pool has one caller). False
 * when there is no memory for the job's bookkeeping (nothing was run). */
bool tecg_workers_run(tecg_workers_t *w, size_t n, tecg_workers_fn fn, void *opaque);

/* The same job in the background, for a caller that takes the items in
 * order: start hands [0, n) to the pool's own threads (false: no memory,
 * nothing started); wait(i) returns once item i is done, the caller
 * doing the next items itself meanwhile if nobody took them; finish
 * returns once every item is done and no thread works on the job any
 * more. Whatever fn reads must stay until finish. A pool of one does the
 * whole job in start. */
bool tecg_workers_start(tecg_workers_t *w, size_t n, tecg_workers_fn fn, void *opaque);
void tecg_workers_wait(tecg_workers_t *w, size_t i);
void tecg_workers_finish(tecg_workers_t *w);
/* Ends the background job early: the chunks no thread took are left
 * undone, and it returns once no thread works on the job any more (the
 * caller gave up on the batch). */
void tecg_workers_abandon(tecg_workers_t *w);

/* The threads the pool uses, the caller's included. */
int tecg_workers_count(const tecg_workers_t *w);

/* Stops and joins the threads. NULL ok. */
void tecg_workers_destroy(tecg_workers_t *w);

#endif
