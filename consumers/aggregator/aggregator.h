/* The aggregator engine: consume-process-produce in Kafka transactions.
 *
 *   tecg.contributions ──┐                      ┌─▶ tecg.nation-state  (snapshot per changed nation)
 *   tecg.training-… ─────┴─ decode · contract ──┼─▶ tecg.event-ids     (each newly counted event_id)
 *                          dedupe · aggregate   ├─▶ tecg.dead-letter   (what cannot be counted, with why)
 *                                               └─▶ consumer offsets
 *
 * All four outputs of a batch are committed in one transaction, so after
 * any crash the committed state includes exactly the committed input
 * offsets. Partition p of the input topics holds the same nations as
 * partition p of nation-state and event-ids (same count, same key), so
 * when partition p is assigned its state is restored from those two
 * partitions (read_committed) before any input is processed. */
#ifndef TECG_AGGREGATOR_H
#define TECG_AGGREGATOR_H

#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "refdata.h"

typedef struct {
        const char *topic_prefix;
        const char *group_id;
        const char *transactional_id;
        const tecg_nations_t *nations; /* borrowed */
        int batch_max_messages;        /* per transaction */
        int batch_max_ms;              /* wait for a batch at most this long */
        int restore_timeout_ms;
        size_t message_max_bytes;        /* larger input values are dead-lettered
                                          * before decoding; 0 = no limit */
        const char *schema_registry_url; /* NULL: Confluent-framed messages
                                          * need ids known otherwise */
} tecg_aggregator_options_t;

typedef struct {
        uint64_t consumed;      /* input messages processed */
        uint64_t counted;       /* distinct events aggregated */
        uint64_t duplicates;    /* event_ids already counted */
        uint64_t dead_lettered; /* sent to dead-letter */
        uint64_t transactions;  /* committed */
        uint64_t aborts;        /* aborted and replayed */
        uint64_t restores;      /* partitions restored */
        uint64_t nations;       /* nation states held */
        uint64_t seen_ids;      /* event ids held for dedupe */
        uint64_t seen_bytes;    /* memory of those ids */
        int64_t last_commit_ms; /* wall clock of the last commit, 0 = none */
} tecg_aggregator_stats_t;

typedef struct tecg_aggregator tecg_aggregator_t;

/* Creates the consumer (subscribed to both input topics), the transactional
 * producer (initialised: this fences an older instance with the same
 * transactional id) and the restore consumer. kafka.* keys of `conf` apply
 * to all three. */
tecg_aggregator_t *tecg_aggregator_new(const tecg_conf_t *conf,
                                       const tecg_aggregator_options_t *opts, char *errstr,
                                       size_t errstr_size);

/* Consumes one batch (waiting up to batch_max_ms), aggregates it and
 * commits it in one transaction. TECG_OK also when there was nothing to
 * do; TECG_ERR_KAFKA on a fatal error (the caller exits; a restart resumes
 * from the last commit). */
tecg_err_t tecg_aggregator_run_once(tecg_aggregator_t *agg, char *errstr, size_t errstr_size);

/* Aborts what is not committed, leaves the group, destroys. NULL ok. */
void tecg_aggregator_destroy(tecg_aggregator_t *agg);

void tecg_aggregator_stats(const tecg_aggregator_t *agg, tecg_aggregator_stats_t *out);

#endif
