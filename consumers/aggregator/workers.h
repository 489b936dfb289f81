/* A small pool of threads for the aggregator's one parallel step: checking
 * the Ed25519 signatures of a batch (docs/design.md §9.1), about 60 µs of
 * CPU per input message, which one core cannot do as fast as Kafka
 * delivers. The caller's thread works too, so a pool of n runs n - 1
 * threads of its own; with n = 1 nothing is started and work runs inline.
 *
 * The work function must be safe to call from several threads at once on
 * different items: the aggregator's only touches the item's own message
 * and read-only data (the keyring). */
#ifndef TECG_WORKERS_H
#define TECG_WORKERS_H

#include <stddef.h>

#include "err.h"

typedef struct tecg_workers tecg_workers_t;

/* Called once for each item index i in [0, n). */
typedef void (*tecg_workers_fn)(void *opaque, size_t i);

/* A pool of `n` (>= 1) threads, the caller's included. NULL with the
 * reason when a thread cannot be started. */
tecg_workers_t *tecg_workers_new(int n, char *errstr, size_t errstr_size);

/* Runs fn on every item of [0, n), spread over the pool, and returns once
 * every call returned. One call at a time (the pool has one caller). */
void tecg_workers_run(tecg_workers_t *w, size_t n, tecg_workers_fn fn, void *opaque);

/* The threads the pool uses, the caller's included. */
int tecg_workers_count(const tecg_workers_t *w);

/* Stops and joins the threads. NULL ok. */
void tecg_workers_destroy(tecg_workers_t *w);

#endif
