/* The aggregator engine: consume-process-produce in Kafka transactions.
 *
 *   tecg.contributions ──┐  signatures (in      ┌─▶ tecg.nation-state  (snapshot per changed nation)
 *   tecg.training-… ─────┴─ parallel) · decode ─┼─▶ tecg.event-ids     (the id records the batch changed,
 *                          contract · dedupe ·  │                       one message per partition)
 *                          aggregate            ├─▶ tecg.dead-letter   (what cannot be counted, with why)
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

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "count.h"
#include "err.h"
#include "keyring.h"
#include "refdata.h"

/* security.signatures (docs/design.md §9.1): what becomes of an input
 * message whose signature does not hold. The daemon's default is require;
 * a zeroed options struct means off. */
typedef enum {
        TECG_SIGNATURES_OFF = 0, /* not checked */
        TECG_SIGNATURES_WARN,    /* checked, counted and logged, accepted */
        TECG_SIGNATURES_REQUIRE, /* checked; refused messages are dead-lettered */
} tecg_signatures_mode_t;

/* Why a message's signature does not hold, in the order they are checked. */
typedef enum {
        TECG_SIG_UNSIGNED = 0,    /* no tecg-key-id / tecg-signature headers */
        TECG_SIG_MALFORMED,       /* a header there but not as it must be */
        TECG_SIG_UNKNOWN_KEY,     /* key id not in the keyring */
        TECG_SIG_REVOKED,         /* the key is revoked */
        TECG_SIG_OTHER_NATION,    /* the key is another nation's than the message key */
        TECG_SIG_NOT_YET_VALID,   /* timestamp before the key's valid_from */
        TECG_SIG_EXPIRED,         /* timestamp at or after the key's valid_until */
        TECG_SIG_FUTURE,          /* timestamp more than 5 minutes ahead */
        TECG_SIG_BAD,             /* the signature does not verify */
        TECG_SIG_WRONG_PARTITION, /* not the partition murmur2(nation) maps to */
        TECG_SIG__COUNT
} tecg_sig_refusal_t;

/* Metric label of each refusal ("unsigned", "wrong_partition", ...). */
extern const char *const tecg_sig_refusal_names[TECG_SIG__COUNT];

typedef struct {
        const char *topic_prefix;
        const char *group_id;
        const char *transactional_id;
        /* group.instance.id of the consumer (static membership: a restart
         * within session.timeout.ms gets its partitions back without a
         * rebalance); NULL = none. A kafka.group.instance.id key wins. */
        const char *instance_id;
        const tecg_nations_t *nations; /* borrowed */
        int batch_max_messages;        /* per transaction */
        int batch_max_ms;              /* wait for a batch at most this long */
        int restore_timeout_ms;
        size_t message_max_bytes;        /* larger input values are dead-lettered
                                          * before decoding; 0 = no limit */
        const char *schema_registry_url; /* NULL: Confluent-framed messages
                                          * need ids known otherwise */
        /* Set (by a signal handler) when the daemon is asked to stop: every
         * wait on Kafka ends within a second of it. NULL = never. */
        const volatile sig_atomic_t *stop;
        /* From the stop, how long tecg_aggregator_destroy() may take. */
        int shutdown_timeout_ms;
        tecg_signatures_mode_t signatures;
        const tecg_keyring_t *keyring; /* borrowed; required unless off */
        /* The directory of the id store (store.dir, docs/design.md §4.4);
         * NULL: a private directory under $TMPDIR, removed by destroy
         * (tests), so every restore rebuilds from tecg.event-ids. */
        const char *store_dir;
        size_t store_map_bytes; /* store.map.bytes; 0 = TECG_STORE_MAP_DEFAULT */
        /* verify.threads: threads that check a batch's signatures, the
         * engine's own included; 0 or 1 = the engine's thread alone. */
        int verify_threads;
} tecg_aggregator_options_t;

/* The largest the store may grow: address space, not memory or disk. */
#define TECG_STORE_MAP_DEFAULT (sizeof(void *) >= 8 ? (size_t)64 << 30 : (size_t)1 << 30)

/* The counters count committed transactions only: a batch aborted and
 * replayed counts once. */
typedef struct {
        uint64_t consumed;              /* input messages processed */
        uint64_t counted;               /* distinct events aggregated */
        uint64_t duplicates;            /* event_ids already counted */
        uint64_t dead_lettered;         /* sent to dead-letter */
        uint64_t transactions;          /* committed */
        uint64_t commit_ms;             /* spent committing them (offsets and commit) */
        uint64_t slow_commits;          /* of them, those that took TECG_SLOW_COMMIT_MS or more */
        uint64_t aborts;                /* aborted and replayed */
        uint64_t recoveries;            /* new transactional producers after an
                                 * error no abort could clear */
        uint64_t restores;              /* partitions restored */
        uint64_t signature_checks;      /* Ed25519 checks made (work done: aborted
                                         * batches' too); a seal's remembered root
                                         * needs none */
        uint64_t nations;               /* nation states held */
        uint64_t seen_ids;              /* id records in the store (committed) */
        uint64_t seen_bytes;            /* bytes of the store file in use */
        tecg_count_stats_t corrections; /* docs/design.md §4.4 */
        int64_t last_commit_ms;         /* wall clock of the last commit, 0 = none */
        /* Messages whose signature did not hold, per reason: dead-lettered
         * under require, accepted under warn. */
        uint64_t sig_refused[TECG_SIG__COUNT];
} tecg_aggregator_stats_t;

/* A commit this long is counted as slow (tecg_aggregator_slow_commits_total):
 * a local broker commits in a few ms; librdkafka's default retry after a
 * CONCURRENT_TRANSACTIONS answer once made one commit in a hundred take
 * 100 ms, visible only in the latency. */
#define TECG_SLOW_COMMIT_MS 100

typedef struct tecg_aggregator tecg_aggregator_t;

/* Creates the consumer (subscribed to both input topics), the transactional
 * producer (initialised: this fences an older instance with the same
 * transactional id) and the restore consumer. kafka.* keys of `conf` apply
 * to all three. */
tecg_aggregator_t *tecg_aggregator_new(const tecg_conf_t *conf,
                                       const tecg_aggregator_options_t *opts, char *errstr,
                                       size_t errstr_size);

/* Consumes one batch, aggregates it and commits it in one transaction.
 * Adaptive batching: it waits up to batch_max_ms for a first message,
 * then takes what is queued and commits as soon as the queue is drained;
 * only while messages are already waiting when a batch starts (load) does
 * it keep collecting, for as long as the last commit took, up to
 * batch_max_ms (and batch_max_messages). TECG_OK also when there was nothing to
 * do, when a stop interrupted the batch (destroy aborts it) and after an
 * error the engine recovers from: an aborted transaction is replayed, and
 * a producer that cannot go on (fenced by the broker's epoch bump after
 * transaction.timeout.ms, fatal error, failed abort) is replaced by a new
 * one with the same transactional.id before the assigned partitions are
 * restored from the last commit. TECG_ERR_CONFIG on an authorization or
 * configuration error, TECG_ERR_KAFKA when another process with the same
 * instance.id took over or our own topics cannot be read; the caller
 * exits, and a restart resumes from the last commit. */
tecg_err_t tecg_aggregator_run_once(tecg_aggregator_t *agg, char *errstr, size_t errstr_size);

/* Aborts what is not committed, closes the clients, destroys; all within
 * shutdown_timeout_ms of the stop (or of this call), Kafka up or down:
 * what is not committed by then is redone from the last commit by the next
 * owner. A static member sends no LeaveGroup: its partitions wait for it
 * for session.timeout.ms. NULL ok. */
void tecg_aggregator_destroy(tecg_aggregator_t *agg);

void tecg_aggregator_stats(const tecg_aggregator_t *agg, tecg_aggregator_stats_t *out);

/* What /healthz tells of the engine (aggregator_main.c). */
typedef struct {
        bool assigned_once; /* the group assigned us at least once */
        bool recovering;    /* rewinding to the last commit, or a client
                             * being remade */
        int assigned;       /* input partitions assigned (both topics) */
        int unrestored;     /* of those, without their state yet */
        int64_t lag;        /* messages behind the high watermarks last
                             * fetched */
        int64_t down_ms;    /* every broker down for this long; 0 = up */
} tecg_aggregator_health_t;

/* Fills *out from cached figures; while every broker is down it asks
 * Kafka, at most every 5 s and 500 ms, whether one is back. Main thread
 * only, between run_once calls. */
void tecg_aggregator_health(tecg_aggregator_t *agg, tecg_aggregator_health_t *out);

#endif
