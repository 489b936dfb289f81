/* Counting one distinct, valid event into its nation's state, with the
 * corrections of docs/design.md §4.4: dedupe by the id record, an event
 * that supersedes or retracts another takes that one's effect back (or
 * marks it, when it has not arrived yet), and an event that arrives taken
 * back already counts without its effect.
 *
 * Apart from Kafka: the caller (aggregator.c) gives the id store of the
 * open transaction, the nation's state and a sink for the id records to
 * write to tecg.event-ids, and dead-letters what is refused; the unit
 * tests drive the same function with a store of their own. */
#ifndef TECG_COUNT_H
#define TECG_COUNT_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "idstore.h"
#include "nation_state.h"

/* Why a correction was dead-lettered (stage "correction"). */
typedef enum {
        TECG_CORR_REFUSED_ALREADY = 0, /* the target was already taken back (or claimed) */
        TECG_CORR_REFUSED_TYPE,        /* the target is of another type, or a retraction */
        TECG_CORR_REFUSED_LEGACY,      /* counted before corrections existed */
        TECG_CORR_REFUSED__COUNT
} tecg_corr_refusal_t;

/* Metric label of each refusal ("already_corrected", "other_type", "legacy"). */
extern const char *const tecg_corr_refusal_names[TECG_CORR_REFUSED__COUNT];

typedef struct {
        uint64_t applied;    /* a counted target taken back */
        uint64_t pending;    /* noted before their target arrived */
        uint64_t resolved;   /* targets that arrived already taken back */
        uint64_t mismatched; /* a target arrived with another type than expected */
        uint64_t refused[TECG_CORR_REFUSED__COUNT];
} tecg_count_stats_t;

/* An id record to write to event-ids (key nation/event_id), in the order
 * they are made. */
typedef void (*tecg_count_record_cb)(void *opaque, const char *nation, const char *event_id,
                                     const uint8_t *value, size_t len);

typedef struct {
        tecg_idstore_t *store; /* borrowed; its overlay is the open transaction */
        int32_t partition;
        tecg_count_record_cb on_record; /* NULL: the records stay in the overlay only */
        void *opaque;
        tecg_count_stats_t *stats; /* added to */
} tecg_count_ctx_t;

typedef enum {
        TECG_COUNTED = 0,  /* counted (the state may be a new object) */
        TECG_DUPLICATE,    /* its id was counted already: nothing changed */
        TECG_REFUSED,      /* to the dead-letter topic: *stage and reason say why */
        TECG_COUNT_FAILED, /* the store failed or out of memory (reason): commit nothing */
} tecg_count_result_t;

/* Counts ev (valid, of st's nation, on c->partition) into *st. A
 * correction works on a copy, which replaces *st (the old one is
 * destroyed) only when everything held. On TECG_REFUSED *st is as it was
 * and no record was made; after TECG_COUNT_FAILED nothing of the batch
 * may be committed (the state and the overlay are to be dropped). */
tecg_count_result_t tecg_count_event(tecg_count_ctx_t *c, tecg_nation_state_t **st,
                                     const tecg_event_t *ev, const char **stage, char *reason,
                                     size_t reason_size);

#endif
