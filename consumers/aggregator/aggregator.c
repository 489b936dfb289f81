#include "aggregator.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "avro_codec.h"
#include "buf.h"
#include "clock.h"
#include "contract.h"
#include "count.h"
#include "kafka.h"
#include "event_sig.h"
#include "keyring.h"
#include "log.h"
#include "framing.h"
#include "nation_state.h"
#include "registry.h"
#include "sign.h"
#include "idstore.h"
#include "state_codec.h"
#include "timefmt.h"
#include "topics.h"
#include "workers.h"

#define FAC "aggregator"
/* One wait of a call to Kafka; the call is repeated while its error is
 * retriable and no stop was asked, so that SIGTERM is honoured within a
 * second whether Kafka answers or not. */
#define WAIT_STEP_MS 1000
/* Producers fenced one after the other without a commit in between: not
 * the broker's epoch bump after a timed-out transaction (that happens once
 * per outage) but another process using our transactional.id. */
#define FENCED_MAX 3
/* librdkafka doubles its reconnect back-off up to 10 s by default: after
 * a long outage it would find the returned broker up to 10 s late. One
 * attempt a second per broker costs nothing and bounds that to a second. */
#define RECONNECT_BACKOFF_MAX_MS "1000"
/* librdkafka 2.0.2 forgets a static member's id when its session times
 * out (a broker outage longer than session.timeout.ms) and rejoins as a
 * new member: the broker then fences the old id, and a heartbeat still
 * under it gets FENCED_INSTANCE_ID, a fatal consumer error. Within this
 * long after losing our own assignment, that fence is our own doing and a
 * new consumer takes over; later, it is another process. */
#define SELF_FENCE_WINDOW_MS 30000
/* Between two attempts to recover while Kafka does not answer. */
#define RECOVER_BACKOFF_MS 1000
/* One wait of the calls that recover or restore (rewind, watermarks). */
#define RECOVER_WAIT_MS 5000

enum { IN_CONTRIBUTIONS = 0, IN_TRAINING, IN__COUNT };

typedef struct {
        tecg_nation_state_t *st;
        bool dirty; /* changed in the open transaction */
} nation_slot_t;

/* Everything owned for one partition number p (of both input topics). */
typedef struct {
        int32_t partition;
        nation_slot_t *nations;
        size_t nnations, cap;
        int64_t next_offset[IN__COUNT]; /* to commit; -1 = nothing consumed */
        /* The event-ids offset after the last record of the open
         * transaction (delivery reports): the store's next marker; -1 =
         * none written. */
        int64_t ids_next;
} part_ctx_t;

struct tecg_aggregator {
        tecg_aggregator_options_t opts;
        char *topic_in[IN__COUNT];
        char *topic_state, *topic_ids, *topic_dead;

        rd_kafka_t *consumer;
        rd_kafka_conf_t *consumer_conf; /* to make a new one (owned) */
        rd_kafka_queue_t *consumer_queue;
        rd_kafka_t *producer;           /* transactional */
        rd_kafka_conf_t *producer_conf; /* to make a new one (owned) */
        rd_kafka_t *restorer;           /* reads nation-state and event-ids */

        tecg_avro_t *avro;
        tecg_registry_t *registry; /* NULL unless configured */
        tecg_state_codec_t *state_codec;
        tecg_buf_t buf;
        tecg_idstore_t *store;
        char *store_tmpdir; /* a private store.dir to remove; NULL = none */

        part_ctx_t **parts; /* indexed by partition number */
        size_t nparts;

        bool txn_open;
        bool batch_failed; /* a produce failed inside the transaction */
        char batch_error[1024];
        bool fatal; /* set in callbacks; run_once reports it and exits */
        char fatal_error[1024];
        /* Recovery: the producer cannot go on (renew_producer), then the
         * assigned partitions go back to the last commit (recover). Both
         * stay set until done; run_once retries every RECOVER_BACKOFF_MS. */
        bool renew_producer;
        bool recover;
        int64_t recover_after_ms;
        int fenced_in_a_row;  /* renewals after a fence, reset by a commit */
        bool renew_consumer;  /* fenced by its own rejoin: a new consumer */
        int64_t lost_ms;      /* monotonic time the assignment was last lost */
        int64_t stop_seen_ms; /* monotonic time the stop was first seen */
        tecg_aggregator_stats_t stats;
        /* What the open transaction counted (consumed, counted, duplicates,
         * dead_lettered, corrections, sig_refused): added to stats when it
         * commits, dropped when it aborts, so a replayed batch is not
         * counted twice in the metrics. */
        tecg_aggregator_stats_t batch_stats;
        size_t produce_max; /* the producer's message.max.bytes */
        /* Partition count of each input topic, for the partition check of
         * signed messages; 0 = not known yet. Refreshed every
         * PARTITION_COUNT_TTL_MS. */
        int32_t in_partitions[IN__COUNT];
        int64_t in_partitions_ms[IN__COUNT];
        /* The signature check of a batch, on verify_threads threads ahead
         * of the engine: per message of the batch, whether the whole check
         * held (1) or must be redone (0). */
        tecg_workers_t *workers;
        uint8_t *verified;
        size_t verified_cap;
        rd_kafka_message_t **verifying; /* the batch being checked, NULL: none */
        /* Adaptive batching: how long the last commit took (send_offsets
         * and commit_transaction), the window of a batch under load, and a
         * count of rebalances seen (a batch stops collecting at one). */
        int commit_ms;
        uint64_t rebalances;
        /* Slow commits are logged with where the time went, a few a
         * minute at most (a struggling broker makes every commit slow). */
        tecg_log_limit_t slow_commit_log;
        /* Keys of the event-ids batch records: "batch/<nonce>/<seq>", the
         * nonce random per engine, seq counting its batch records. */
        char batch_nonce[33];
        uint64_t batch_seq;
        /* For tecg_aggregator_health(): whether the group ever assigned us
         * (an empty assignment included), and since when every broker is
         * down (librdkafka says so, not when they are back). */
        bool assigned_once;
        int64_t down_since_ms, next_probe_ms;
};

/* ---- stop and error classes ------------------------------------------ */

/* True once the daemon is asked to stop; remembers when, for the
 * shutdown budget of tecg_aggregator_destroy(). */
static bool stopping(tecg_aggregator_t *agg) {
        if (!agg->opts.stop || !*agg->opts.stop)
                return false;
        if (!agg->stop_seen_ms)
                agg->stop_seen_ms = tecg_mono_ms();
        return true;
}

/* Errors that a new producer, a rewind or waiting would meet again: the
 * configuration or the ACLs must change, so the daemon exits. */
static bool err_is_terminal(rd_kafka_resp_err_t code) {
        switch (code) {
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR__NOT_CONFIGURED:
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
        case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
        case RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT:
                return true;
        default:
                return false;
        }
}

/* Our producer epoch was bumped: by the broker after a transaction timed
 * out, or by another process's init_transactions. librdkafka reports the
 * broker's two codes as its own __FENCED. */
static bool err_is_fence(rd_kafka_resp_err_t code) {
        return code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
               code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* ---- partition contexts ---------------------------------------------- */

static void ctx_destroy(part_ctx_t *ctx) {
        if (!ctx)
                return;
        for (size_t i = 0; i < ctx->nnations; i++)
                tecg_nation_state_destroy(ctx->nations[i].st);
        free(ctx->nations);
        free(ctx);
}

static part_ctx_t *ctx_new(int32_t partition) {
        part_ctx_t *ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return NULL;
        ctx->partition = partition;
        ctx->ids_next = -1;
        for (int i = 0; i < IN__COUNT; i++)
                ctx->next_offset[i] = -1;
        return ctx;
}

static nation_slot_t *ctx_slot(part_ctx_t *ctx, const char *nation, bool create) {
        for (size_t i = 0; i < ctx->nnations; i++)
                if (strcmp(ctx->nations[i].st->nation, nation) == 0)
                        return &ctx->nations[i];
        if (!create)
                return NULL;
        if (ctx->nnations == ctx->cap) {
                size_t cap = ctx->cap ? ctx->cap * 2 : 8;
                nation_slot_t *n = realloc(ctx->nations, cap * sizeof(*n));
                if (!n)
                        return NULL;
                ctx->nations = n;
                ctx->cap = cap;
        }
        tecg_nation_state_t *st = tecg_nation_state_new(nation);
        if (!st)
                return NULL;
        ctx->nations[ctx->nnations] = (nation_slot_t){st, false};
        return &ctx->nations[ctx->nnations++];
}

static part_ctx_t *ctx_get(tecg_aggregator_t *agg, int32_t partition) {
        if (partition < 0 || (size_t)partition >= agg->nparts)
                return NULL;
        return agg->parts[partition];
}

static tecg_err_t ctx_put(tecg_aggregator_t *agg, part_ctx_t *ctx) {
        size_t p = (size_t)ctx->partition;
        if (p >= agg->nparts) {
                part_ctx_t **np = realloc(agg->parts, (p + 1) * sizeof(part_ctx_t *));
                if (!np)
                        return TECG_ERR_NOMEM;
                memset(np + agg->nparts, 0, (p + 1 - agg->nparts) * sizeof(part_ctx_t *));
                agg->parts = np;
                agg->nparts = p + 1;
        }
        ctx_destroy(agg->parts[p]);
        agg->parts[p] = ctx;
        return TECG_OK;
}

static void ctx_drop_all(tecg_aggregator_t *agg) {
        for (size_t i = 0; i < agg->nparts; i++) {
                ctx_destroy(agg->parts[i]);
                agg->parts[i] = NULL;
        }
}

/* ---- restore ----------------------------------------------------------- */

/* One entry of an event-ids batch record into the store. */
typedef struct {
        tecg_idstore_t *store;
        int32_t partition;
} restore_put_t;

static tecg_err_t restore_put(void *opaque, const char *nation, const char *event_id,
                              const tecg_id_record_t *r, char *errstr, size_t errstr_size) {
        restore_put_t *rp = opaque;
        return tecg_idstore_put(rp->store, rp->partition, nation, event_id, r, errstr, errstr_size);
}

/* Applies one record of nation-state (snapshot, latest wins) or event-ids. */
static void restore_record(tecg_aggregator_t *agg, part_ctx_t *ctx, const rd_kafka_message_t *m,
                           bool is_state) {
        char reason[512];
        if (!m->key || m->key_len == 0)
                return;
        if (!is_state && tecg_id_batch_key(m->key, m->key_len)) {
                /* The compact form: every id record of one batch. */
                restore_put_t rp = {agg->store, ctx->partition};
                if (!m->payload || tecg_id_batch_decode(m->payload, m->len, restore_put, &rp, NULL,
                                                        reason, sizeof(reason))) {
                        agg->fatal = true;
                        snprintf(agg->fatal_error, sizeof(agg->fatal_error),
                                 "%s [%" PRId32 "] offset %" PRId64 ": %s", agg->topic_ids,
                                 m->partition, m->offset,
                                 m->payload ? reason : "a batch record without a value");
                        return;
                }
                ctx->ids_next = m->offset + 1;
                return;
        }
        if (!is_state) {
                /* key = NATION/event_id */
                char key[4 + TECG_EVENT_ID_MAX + 1];
                if (m->key_len < 5 || m->key_len >= sizeof(key) ||
                    ((const char *)m->key)[3] != '/') {
                        tecg_log_warn(FAC,
                                      "%s [%" PRId32 "] offset %" PRId64
                                      ": not an event-id key, ignored",
                                      agg->topic_ids, m->partition, m->offset);
                        return;
                }
                memcpy(key, m->key, m->key_len);
                key[m->key_len] = '\0';
                key[3] = '\0';
                tecg_id_record_t rec;
                if (!m->payload ||
                    tecg_id_record_decode(m->payload, m->len, key, key + 4, &rec, reason,
                                          sizeof(reason)) ||
                    tecg_idstore_put(agg->store, ctx->partition, key, key + 4, &rec, reason,
                                     sizeof(reason))) {
                        /* Our own topic holds what we cannot read: stop
                         * rather than count an event twice. */
                        agg->fatal = true;
                        snprintf(agg->fatal_error, sizeof(agg->fatal_error),
                                 "%s [%" PRId32 "] offset %" PRId64 ": %s", agg->topic_ids,
                                 m->partition, m->offset,
                                 m->payload ? reason : "an event-id record without a value");
                        return;
                }
                ctx->ids_next = m->offset + 1;
                return;
        }
        char nation[4] = "";
        if (m->key_len == 3)
                memcpy(nation, m->key, 3);
        nation_slot_t *slot = ctx_slot(ctx, nation, true);
        if (!slot) {
                agg->fatal = true;
                snprintf(agg->fatal_error, sizeof(agg->fatal_error), "out of memory");
                return;
        }
        if (!m->payload) { /* tombstone: the nation's state was removed */
                tecg_nation_state_t *blank = tecg_nation_state_new(nation);
                if (blank) {
                        tecg_nation_state_destroy(slot->st);
                        slot->st = blank;
                }
                return;
        }
        tecg_nation_state_t *st = NULL;
        if (tecg_state_codec_decode(agg->state_codec, m->payload, m->len, &st, reason,
                                    sizeof(reason))) {
                /* Our own topic holds something we cannot read: counting on
                 * would give wrong totals, so stop here. */
                agg->fatal = true;
                snprintf(agg->fatal_error, sizeof(agg->fatal_error),
                         "%s [%" PRId32 "] offset %" PRId64 ": undecodable state: %s",
                         agg->topic_state, m->partition, m->offset, reason);
                return;
        }
        tecg_nation_state_destroy(slot->st);
        slot->st = st;
}

/* Drops the placeholders of nations whose last state was a tombstone. */
static void ctx_drop_blank(part_ctx_t *ctx) {
        for (size_t i = 0; i < ctx->nnations;) {
                if (ctx->nations[i].st->events == 0 && ctx->nations[i].st->version == 0) {
                        tecg_nation_state_destroy(ctx->nations[i].st);
                        ctx->nations[i] = ctx->nations[--ctx->nnations];
                } else {
                        i++;
                }
        }
}

/* An error message of the restorer, read before anything else of it: an
 * error of the client or of its group (a missing ACL on the restore group
 * <group.id>-restore, docs/architecture.md) carries no topic and no
 * partition of ours. One that waiting cannot clear (authorization,
 * authentication, configuration) is fatal: agg->fatal is set, so the
 * daemon logs it and exits instead of retrying forever; TECG_OK for the
 * others, which are logged and waited out up to restore.timeout.ms. */
static tecg_err_t restore_error(tecg_aggregator_t *agg, const rd_kafka_message_t *m, char *errstr,
                                size_t errstr_size) {
        char where[300] = "";
        if (m->rkt)
                snprintf(where, sizeof(where), " %s [%" PRId32 "]", rd_kafka_topic_name(m->rkt),
                         m->partition);
        if (!err_is_terminal(m->err)) {
                tecg_log_warn(FAC, "restore%s: %s", where, rd_kafka_message_errstr(m));
                return TECG_OK;
        }
        char group[300];
        snprintf(group, sizeof(group), "%s-restore", agg->opts.group_id);
        agg->fatal = true;
        snprintf(agg->fatal_error, sizeof(agg->fatal_error),
                 "restore%s (consumer group %s): %s (%s): the configuration or the ACLs must "
                 "change (the restore group needs Read, the state topics Read and Describe)",
                 where, group, rd_kafka_message_errstr(m), rd_kafka_err2name(m->err));
        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s", agg->fatal_error);
}

/* The low and high watermarks of partition p of `topic`, asked with the
 * restorer. Asking also tells the restorer the partition's leader, so an
 * assignment at an absolute offset starts fetching at once: a fresh
 * restorer knows no leader and would find it on librdkafka's 1 s topic
 * scan, then retry a logical offset (BEGINNING) on a 500 ms timer, which
 * made every restore take 1.3-1.8 s, even of empty partitions. */
static tecg_err_t watermarks(tecg_aggregator_t *agg, const char *topic, int32_t p, int64_t *lo,
                             int64_t *hi, char *errstr, size_t errstr_size) {
        rd_kafka_resp_err_t kerr =
                rd_kafka_query_watermark_offsets(agg->restorer, topic, p, lo, hi, RECOVER_WAIT_MS);
        if (kerr && err_is_terminal(kerr)) {
                agg->fatal = true;
                snprintf(agg->fatal_error, sizeof(agg->fatal_error),
                         "restore %s [%" PRId32 "] (consumer group %s-restore): %s (%s): the "
                         "configuration or the ACLs must change (the restore group needs Read, "
                         "the state topics Read and Describe)",
                         topic, p, agg->opts.group_id, rd_kafka_err2str(kerr),
                         rd_kafka_err2name(kerr));
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s", agg->fatal_error);
        }
        if (kerr)
                return tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size,
                                   "restore: offsets of %s [%" PRId32 "]: %s", topic, p,
                                   rd_kafka_err2str(kerr));
        return TECG_OK;
}

/* Where the restore reads partition p of event-ids from: the store's
 * marker when the topic still holds it (low <= marker <= high), else the
 * beginning, after wiping what the store holds of p (the store is new or
 * was deleted, or the topic was recreated). */
static tecg_err_t store_start(tecg_aggregator_t *agg, int32_t p, int64_t *from, char *errstr,
                              size_t errstr_size) {
        int64_t lo = 0, hi = 0;
        int64_t marker = tecg_idstore_marker(agg->store, p);
        tecg_err_t err = watermarks(agg, agg->topic_ids, p, &lo, &hi, errstr, errstr_size);
        if (err)
                return err;
        if (marker >= lo && marker <= hi) {
                *from = marker;
                return TECG_OK;
        }
        if (marker >= 0)
                tecg_log_notice(FAC,
                                "id store: partition %" PRId32 " at offset %" PRId64
                                ", outside %s [%" PRId64 ", %" PRId64 "]: rebuilt from the start",
                                p, marker, agg->topic_ids, lo, hi);
        *from = lo;
        return tecg_idstore_wipe(agg->store, p, errstr, errstr_size);
}

/* Writes what the restore read so far into the store, with each
 * partition's marker after its last record read. */
#define RESTORE_CHUNK 50000
static tecg_err_t restore_flush(tecg_aggregator_t *agg, part_ctx_t **ctxs, size_t n, char *errstr,
                                size_t errstr_size) {
        int32_t *ps = calloc(n ? n : 1, sizeof(*ps));
        int64_t *markers = calloc(n ? n : 1, sizeof(*markers));
        tecg_err_t err;
        if (!ps || !markers) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                tecg_idstore_abort(agg->store);
        } else {
                for (size_t i = 0; i < n; i++) {
                        ps[i] = ctxs[i]->partition;
                        markers[i] = ctxs[i]->ids_next;
                }
                err = tecg_idstore_commit(agg->store, ps, markers, n, errstr, errstr_size);
        }
        free(ps);
        free(markers);
        return err;
}

/* Rebuilds the states and seen ids of the `n` partition numbers in `ps`
 * from the same partitions of nation-state and event-ids, read to their
 * end (read_committed), all in one pass: restoring one partition after the
 * other costs a fetch round trip each. */
static tecg_err_t ctx_restore(tecg_aggregator_t *agg, const int32_t *ps, size_t n, char *errstr,
                              size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        int64_t t0 = tecg_mono_ms(), last_log = t0;
        size_t eofs = 0, want = 2 * n;
        part_ctx_t **ctxs = calloc(n ? n : 1, sizeof(part_ctx_t *));
        bool *eof = calloc(want ? want : 1, sizeof(*eof)); /* [2*i]: state, [2*i+1]: ids */
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)want);
        if (!ctxs || !eof) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < n; i++) {
                if (!(ctxs[i] = ctx_new(ps[i]))) {
                        err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                        goto done;
                }
                /* nation-state from its first offset, as an absolute one
                 * (watermarks()). */
                int64_t from = 0, hi = 0;
                if ((err = watermarks(agg, agg->topic_state, ps[i], &from, &hi, errstr,
                                      errstr_size)))
                        goto done;
                rd_kafka_topic_partition_list_add(parts, agg->topic_state, ps[i])->offset = from;
                if ((err = store_start(agg, ps[i], &from, errstr, errstr_size)))
                        goto done;
                ctxs[i]->ids_next = from;
                rd_kafka_topic_partition_list_add(parts, agg->topic_ids, ps[i])->offset = from;
        }
        rd_kafka_resp_err_t kerr = rd_kafka_assign(agg->restorer, parts);
        if (kerr) {
                err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "restore: %s",
                                  rd_kafka_err2str(kerr));
                goto done;
        }
        while (eofs < want && !agg->fatal) {
                if (stopping(agg)) {
                        err = tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size,
                                          "restore of %zu partitions: stopped", n);
                        goto done;
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(agg->restorer, 200);
                int64_t now = tecg_mono_ms();
                if (now - t0 > agg->opts.restore_timeout_ms) {
                        err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size,
                                          "restore of %zu partitions: %zu of %zu not at "
                                          "the end of %s or %s after %d ms",
                                          n, want - eofs, want, agg->topic_state, agg->topic_ids,
                                          agg->opts.restore_timeout_ms);
                        if (m)
                                rd_kafka_message_destroy(m);
                        goto done;
                }
                if (now - last_log > 10000) {
                        tecg_log_notice(FAC,
                                        "restoring %zu partitions: still reading "
                                        "(an open transaction of a previous owner "
                                        "delays the end until it times out)",
                                        n);
                        last_log = now;
                }
                if (!m)
                        continue;
                if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        err = restore_error(agg, m, errstr, errstr_size);
                        rd_kafka_message_destroy(m);
                        if (err)
                                goto done;
                        continue;
                }
                bool is_state =
                        m->rkt && strcmp(rd_kafka_topic_name(m->rkt), agg->topic_state) == 0;
                size_t i = 0;
                while (i < n && ps[i] != m->partition)
                        i++;
                if (i == n) {
                        /* not ours: cannot happen with this assignment */
                } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        bool *flag = &eof[2 * i + (is_state ? 0 : 1)];
                        if (!*flag) {
                                *flag = true;
                                eofs++;
                        }
                } else {
                        restore_record(agg, ctxs[i], m, is_state);
                        if (!is_state && tecg_idstore_pending(agg->store) >= RESTORE_CHUNK &&
                            !agg->fatal &&
                            (err = restore_flush(agg, ctxs, n, errstr, errstr_size))) {
                                rd_kafka_message_destroy(m);
                                goto done;
                        }
                }
                rd_kafka_message_destroy(m);
        }
        if (agg->fatal) {
                err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "%s",
                                  agg->fatal_error[0] ? agg->fatal_error : "out of memory");
                goto done;
        }
        if ((err = restore_flush(agg, ctxs, n, errstr, errstr_size)))
                goto done;
        size_t nations = 0;
        uint64_t ids = 0, bytes = 0;
        tecg_idstore_stats(agg->store, &ids, &bytes);
        for (size_t i = 0; i < n; i++) {
                ctx_drop_blank(ctxs[i]);
                nations += ctxs[i]->nnations;
                ctxs[i]->ids_next = -1;
                if ((err = ctx_put(agg, ctxs[i])))
                        goto done;
                ctxs[i] = NULL;
                agg->stats.restores++;
        }
        tecg_log_info(FAC,
                      "%zu partitions restored: %zu nations, %" PRIu64 " event ids in the "
                      "store, %lld ms",
                      n, nations, ids, (long long)(tecg_mono_ms() - t0));
done:
        tecg_idstore_abort(agg->store);
        rd_kafka_assign(agg->restorer, NULL);
        rd_kafka_topic_partition_list_destroy(parts);
        for (size_t i = 0; ctxs && i < n; i++)
                ctx_destroy(ctxs[i]);
        free(ctxs);
        free(eof);
        return err;
}

/* The distinct partition numbers of `parts` not restored yet. */
static size_t partitions_to_restore(tecg_aggregator_t *agg,
                                    const rd_kafka_topic_partition_list_t *parts, int32_t *out) {
        size_t n = 0;
        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                bool dup = ctx_get(agg, p) != NULL;
                for (size_t j = 0; !dup && j < n; j++)
                        dup = out[j] == p;
                if (!dup)
                        out[n++] = p;
        }
        return n;
}

/* ---- rebalance --------------------------------------------------------- */

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
        tecg_aggregator_t *agg = opaque;
        char errstr[512];
        agg->rebalances++;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                int32_t *ps = calloc((size_t)parts->cnt + 1, sizeof(*ps));
                size_t n = ps ? partitions_to_restore(agg, parts, ps) : 0;
                if (!ps) {
                        agg->fatal = true;
                        snprintf(agg->fatal_error, sizeof(agg->fatal_error), "out of memory");
                } else if (n && ctx_restore(agg, ps, n, errstr, sizeof(errstr)) && !agg->fatal) {
                        /* Kafka did not answer in time (or a stop): the
                         * partitions without a context are skipped until
                         * run_once rewinds and restores them. */
                        tecg_log_warn(FAC, "%s; retrying", errstr);
                        agg->recover = true;
                }
                free(ps);
                agg->assigned_once = true;
                tecg_log_info(FAC, "assigned %d input partitions", parts->cnt);
                rd_kafka_assign(rk, parts);
                return;
        }
        /* Revoked: nothing uncommitted is kept (run_once never leaves a
         * transaction open across polls); the next owner restores. */
        if (rd_kafka_assignment_lost(rk))
                agg->lost_ms = tecg_mono_ms();
        tecg_log_info(FAC, "revoked %d input partitions", parts->cnt);
        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                if (p >= 0 && (size_t)p < agg->nparts) {
                        ctx_destroy(agg->parts[p]);
                        agg->parts[p] = NULL;
                }
        }
        rd_kafka_assign(rk, NULL);
}

/* A fatal error of the transactional producer is recovered from with a
 * new producer; of the consumer (an error callback, or a message with
 * ERR__FATAL from the consumer queue), it ends the daemon. The consumer's
 * FENCED_INSTANCE_ID means that another process joined the group with our
 * group.instance.id (derived from instance.id): two instances share the
 * name, and the older one, this one, gives way. */
static void on_fatal(tecg_aggregator_t *agg, rd_kafka_t *rk) {
        char why[512];
        rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk, why, sizeof(why));
        if (rk == agg->producer && !err_is_terminal(code)) {
                if (!agg->renew_producer)
                        tecg_log_warn(FAC, "transactional producer: %s", why);
                agg->renew_producer = true;
                return;
        }
        if (rk == agg->consumer && code == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID && agg->lost_ms &&
            tecg_mono_ms() - agg->lost_ms < SELF_FENCE_WINDOW_MS) {
                if (!agg->renew_consumer)
                        tecg_log_warn(FAC,
                                      "consumer fenced by its own rejoin after its session was "
                                      "lost: a new consumer takes over (%s)",
                                      why);
                agg->renew_consumer = true;
                return;
        }
        agg->fatal = true;
        if (code == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID)
                snprintf(agg->fatal_error, sizeof(agg->fatal_error),
                         "another process joined the group with this instance's "
                         "group.instance.id (two aggregators with the same instance.id?): %s",
                         why);
        else
                snprintf(agg->fatal_error, sizeof(agg->fatal_error), "fatal Kafka error: %s", why);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        tecg_aggregator_t *agg = opaque;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                on_fatal(agg, rk);
                return;
        }
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !agg->down_since_ms)
                agg->down_since_ms = tecg_mono_ms();
        tecg_log_warn(FAC, "%s: %s", rd_kafka_err2name(err), reason);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        (void)rk;
        tecg_aggregator_t *agg = opaque;
        if (m->err && !agg->batch_failed) {
                agg->batch_failed = true;
                snprintf(agg->batch_error, sizeof(agg->batch_error), "%s: %s",
                         rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        }
        /* The store's next marker: after the last id record of the batch. */
        part_ctx_t *ctx = m->err ? NULL : ctx_get(agg, m->partition);
        if (ctx && strcmp(rd_kafka_topic_name(m->rkt), agg->topic_ids) == 0 &&
            m->offset + 1 > ctx->ids_next)
                ctx->ids_next = m->offset + 1;
}

/* ---- producing inside the transaction --------------------------------- */

static void produce(tecg_aggregator_t *agg, const char *topic, int32_t partition, const void *key,
                    size_t key_len, const void *value, size_t value_len, rd_kafka_headers_t *hdrs) {
        for (;;) {
                rd_kafka_resp_err_t err;
                if (hdrs)
                        err = rd_kafka_producev(
                                agg->producer, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE((void *)value, value_len),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END);
                else
                        err = rd_kafka_producev(
                                agg->producer, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE((void *)value, value_len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                if (!err)
                        return;
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rd_kafka_poll(agg->producer, 50);
                        continue;
                }
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                if (!agg->batch_failed) {
                        agg->batch_failed = true;
                        snprintf(agg->batch_error, sizeof(agg->batch_error), "produce to %s: %s",
                                 topic, rd_kafka_err2str(err));
                }
                return;
        }
}

static int32_t input_partitions(tecg_aggregator_t *agg, int input, rd_kafka_topic_t *rkt,
                                int32_t seen_partition);

/* The data-quality panel's source: a dead letter of a listed nation (by
 * the message key) is noted in its state, when it sits on the partition
 * of that nation: a message on another one (a wrong key, a copy) must not
 * make a second state of the nation where another aggregator owns it.
 * A message refused at the signature check is not noted: nothing says the
 * nation sent it, and a Kafka write credential is not a nation's identity
 * (anyone able to write the topic could otherwise fill a nation's panel). */
static void note_dead_letter(tecg_aggregator_t *agg, const rd_kafka_message_t *m, const char *stage,
                             const char *reason) {
        char nation[4], why[256];
        part_ctx_t *ctx = ctx_get(agg, m->partition);
        if (!ctx || !m->key || m->key_len != 3 || strcmp(stage, "signature") == 0)
                return;
        memcpy(nation, m->key, 3);
        nation[3] = '\0';
        if (!agg->opts.nations || !tecg_nations_find(agg->opts.nations, nation))
                return;
        int input = strcmp(rd_kafka_topic_name(m->rkt), agg->topic_in[IN_TRAINING]) == 0
                            ? IN_TRAINING
                            : IN_CONTRIBUTIONS;
        int32_t count = input_partitions(agg, input, m->rkt, m->partition);
        if (count <= 0 || rd_kafka_msg_partitioner_murmur2(NULL, m->key, m->key_len, count, NULL,
                                                           NULL) != m->partition)
                return;
        nation_slot_t *slot = ctx_slot(ctx, nation, true);
        rd_kafka_timestamp_type_t ts_type;
        int64_t at = rd_kafka_message_timestamp(m, &ts_type);
        if (!slot ||
            tecg_nation_state_note_dead_letter(slot->st, at, stage, reason, why, sizeof(why))) {
                tecg_log_warn(FAC, "dead letter of %s not noted in its state: %s", nation,
                              slot ? why : "out of memory");
                return;
        }
        slot->dirty = true;
}

/* librdkafka counts a message's key, value, headers and some overhead of
 * its own against message.max.bytes: this covers the overhead, the header
 * names and the note added to a cut message's reason. */
#define DEAD_LETTER_SLACK 512

/* The original message, untouched, with headers that say why. One that
 * would not fit the producer's message.max.bytes (an input near the
 * broker's limit, or a huge key) is cut to what fits and the reason says
 * so: a dead letter the producer refuses would fail the transaction at
 * every replay and stall the partition. The whole message stays in the
 * input topic, at tecg.source. */
static void dead_letter(tecg_aggregator_t *agg, const rd_kafka_message_t *m, const char *stage,
                        const char *reason) {
        char source[300], why[1024];
        snprintf(source, sizeof(source), "%s/%" PRId32 "/%" PRId64, rd_kafka_topic_name(m->rkt),
                 m->partition, m->offset);
        size_t headers = DEAD_LETTER_SLACK + strlen(reason) + strlen(stage) + strlen(source);
        size_t room = agg->produce_max > headers ? agg->produce_max - headers : 0;
        /* The value first (what was refused), but a short key stays whole. */
        size_t key_len = m->key_len < DEAD_LETTER_SLACK ? m->key_len : DEAD_LETTER_SLACK;
        if (key_len > room)
                key_len = room;
        size_t len = m->len < room - key_len ? m->len : room - key_len;
        key_len = m->key_len < room - len ? m->key_len : room - len;
        if (key_len < m->key_len || len < m->len) {
                int n = snprintf(why, sizeof(why), "%s", reason);
                if (len < m->len && n >= 0 && (size_t)n < sizeof(why))
                        n += snprintf(why + n, sizeof(why) - (size_t)n,
                                      "; the dead letter holds the first %zu of "
                                      "its %zu bytes",
                                      len, m->len);
                if (key_len < m->key_len && n >= 0 && (size_t)n < sizeof(why))
                        snprintf(why + n, sizeof(why) - (size_t)n,
                                 "; the dead letter holds the first %zu of "
                                 "its key's %zu bytes",
                                 key_len, m->key_len);
                reason = why;
        }
        tecg_log_notice(FAC, "dead-letter %s: %s: %s", source, stage, reason);
        note_dead_letter(agg, m, stage, reason);
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
        rd_kafka_header_add(hdrs, "tecg.error", -1, reason, -1);
        rd_kafka_header_add(hdrs, "tecg.stage", -1, stage, -1);
        rd_kafka_header_add(hdrs, "tecg.source", -1, source, -1);
        produce(agg, agg->topic_dead, RD_KAFKA_PARTITION_UA, m->key, key_len, m->payload, len,
                hdrs);
        agg->batch_stats.dead_lettered++;
}

/* ---- processing -------------------------------------------------------- */

/* Decodes, asking the schema registry for a Confluent schema id the codec
 * does not know yet. A registry that cannot be asked is fatal for now
 * (nothing is committed, a restart retries): dead-lettering would lose an
 * event that is only waiting for its schema. */
static tecg_err_t decode(tecg_aggregator_t *agg, const rd_kafka_message_t *m, tecg_event_t *ev,
                         char *reason, size_t reason_size) {
        tecg_err_t err =
                tecg_avro_decode_event(agg->avro, m->payload, m->len, ev, reason, reason_size);
        tecg_frame_t frame;
        char why[512];
        if (err != TECG_ERR_NOT_FOUND || !agg->registry ||
            tecg_framing_parse(m->payload, m->len, &frame, why, sizeof(why)) ||
            frame.kind != TECG_FRAME_CONFLUENT)
                return err;
        for (int attempt = 1;; attempt++) {
                tecg_err_t terr = tecg_registry_teach(agg->registry, agg->avro, frame.schema_id,
                                                      why, sizeof(why));
                if (terr == TECG_OK)
                        break;
                if (terr != TECG_ERR_IO) {
                        snprintf(reason, reason_size, "%s", why);
                        return TECG_ERR_INVALID;
                }
                if (attempt == 5) {
                        agg->fatal = true;
                        snprintf(agg->fatal_error, sizeof(agg->fatal_error), "schema id %u: %s",
                                 frame.schema_id, why);
                        return TECG_ERR_RETRY;
                }
                tecg_log_warn(FAC, "schema id %u: %s; retrying", frame.schema_id, why);
                struct timespec ts = {attempt, 0};
                nanosleep(&ts, NULL);
        }
        tecg_log_info(FAC, "learnt schema id %u from the registry", frame.schema_id);
        return tecg_avro_decode_event(agg->avro, m->payload, m->len, ev, reason, reason_size);
}

/* ---- signatures (docs/design.md §9.1) ------------------------------------ */

/* A producer's clock may run ahead of ours by this much at most. */
#define SIG_FUTURE_MS ((int64_t)5 * 60 * 1000)
#define PARTITION_COUNT_TTL_MS 60000

const char *const tecg_sig_refusal_names[TECG_SIG__COUNT] = {
        "unsigned",      "malformed", "unknown_key", "revoked",       "other_nation",
        "not_yet_valid", "expired",   "future",      "bad_signature", "wrong_partition"};

/* The partition count of an input topic, from the consumer's metadata;
 * -1 when Kafka does not say. */
static int32_t input_partitions(tecg_aggregator_t *agg, int input, rd_kafka_topic_t *rkt,
                                int32_t seen_partition) {
        int64_t now = tecg_mono_ms();
        if (agg->in_partitions[input] > seen_partition &&
            now - agg->in_partitions_ms[input] < PARTITION_COUNT_TTL_MS)
                return agg->in_partitions[input];
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(agg->consumer, 0, rkt, &md, 5000);
        int32_t n = -1;
        if (!err && md->topic_cnt == 1 && !md->topics[0].err)
                n = md->topics[0].partition_cnt;
        if (md)
                rd_kafka_metadata_destroy(md);
        if (n > 0) {
                agg->in_partitions[input] = n;
                agg->in_partitions_ms[input] = now;
        }
        return n;
}

/* The single value of header `name`: 0 when it is there once, 1 when it
 * is missing, -1 when it is there more than once. */
static int header_once(rd_kafka_headers_t *hdrs, const char *name, const void **val, size_t *size) {
        const void *v2;
        size_t s2;
        if (!hdrs || rd_kafka_header_get(hdrs, 0, name, val, size) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return 1;
        if (rd_kafka_header_get(hdrs, 1, name, &v2, &s2) == RD_KAFKA_RESP_ERR_NO_ERROR)
                return -1;
        return 0;
}

/* Checks the signature of one input message before anything reads its
 * value: who signed it (tecg-key-id, looked up in the keyring), that the
 * key is this nation's, unrevoked and valid at the message's timestamp,
 * that the timestamp is not in the future and that the signature covers
 * key, topic, timestamp and value. Returns
 * TECG_SIG__COUNT when it holds, otherwise the reason, described in why.
 * Reads only the message and the keyring: safe on several threads at once
 * (signatures_verify_start()), each with its own messages. */
static tecg_sig_refusal_t signature_verdict(const tecg_aggregator_t *agg,
                                            const rd_kafka_message_t *m, char *why,
                                            size_t why_size) {
        rd_kafka_headers_t *hdrs = NULL;
        const void *id_val = NULL, *sig_val = NULL;
        size_t id_len = 0, sig_len = 0;
        char key_id[TECG_SIGN_KEY_ID_MAX + 1], nation[4] = "";
        char t1[TECG_TIME_RFC3339_SIZE], t2[TECG_TIME_RFC3339_SIZE];
        rd_kafka_timestamp_type_t ts_type;
        const char *topic = rd_kafka_topic_name(m->rkt);

        if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
                hdrs = NULL;
        int has_id = header_once(hdrs, TECG_EVENT_SIG_HDR_KEY_ID, &id_val, &id_len);
        int has_sig = header_once(hdrs, TECG_EVENT_SIG_HDR_SIGNATURE, &sig_val, &sig_len);
        const void *batch = NULL;
        size_t batch_len = 0;
        int has_batch = header_once(hdrs, TECG_EVENT_SIG_HDR_BATCH, &batch, &batch_len);
        if (has_id == 1 && has_sig == 1) {
                snprintf(why, why_size, "unsigned: no %s and %s headers", TECG_EVENT_SIG_HDR_KEY_ID,
                         TECG_EVENT_SIG_HDR_SIGNATURE);
                return TECG_SIG_UNSIGNED;
        }
        if (has_batch == -1 || (has_batch == 0 && !batch)) {
                snprintf(why, why_size, "malformed signature header: %s at most once, not empty",
                         TECG_EVENT_SIG_HDR_BATCH);
                return TECG_SIG_MALFORMED;
        }
        if (has_id != 0 || has_sig != 0 || !id_val || id_len > TECG_SIGN_KEY_ID_MAX ||
            sig_len != TECG_SIGN_SIG_BYTES || !sig_val) {
                snprintf(why, why_size,
                         "malformed signature header: needs one %s (1-%d characters) and one "
                         "%s of %d bytes",
                         TECG_EVENT_SIG_HDR_KEY_ID, TECG_SIGN_KEY_ID_MAX,
                         TECG_EVENT_SIG_HDR_SIGNATURE, TECG_SIGN_SIG_BYTES);
                return TECG_SIG_MALFORMED;
        }
        memcpy(key_id, id_val, id_len);
        key_id[id_len] = '\0';
        if (!tecg_sign_key_id_valid(key_id)) {
                snprintf(why, why_size,
                         "malformed signature header: %s is not 1-%d of A-Z a-z 0-9 . _ -",
                         TECG_EVENT_SIG_HDR_KEY_ID, TECG_SIGN_KEY_ID_MAX);
                return TECG_SIG_MALFORMED;
        }
        if (m->key && m->key_len == 3)
                memcpy(nation, m->key, 3);
        int64_t ts = rd_kafka_message_timestamp(m, &ts_type);
        const tecg_keyring_key_t *k = NULL;
        switch (tecg_keyring_check(agg->opts.keyring, key_id, id_len, nation, ts, &k)) {
        case TECG_KEYRING_UNKNOWN_KEY:
                snprintf(why, why_size, "unknown key id \"%s\"", key_id);
                return TECG_SIG_UNKNOWN_KEY;
        case TECG_KEYRING_REVOKED:
                snprintf(why, why_size, "key revoked: key id %s of %s was revoked at %s", key_id,
                         k->nation, tecg_time_format_rfc3339_ms(k->revoked_at_ms, t1));
                return TECG_SIG_REVOKED;
        case TECG_KEYRING_OTHER_NATION:
                snprintf(why, why_size,
                         "key of another nation: key id %s belongs to %s, the message key says "
                         "%s",
                         key_id, k->nation, nation[0] ? nation : "(not a nation code)");
                return TECG_SIG_OTHER_NATION;
        case TECG_KEYRING_NOT_YET_VALID:
                snprintf(why, why_size,
                         "key not valid at the message's timestamp: key id %s is valid from %s, "
                         "the message is of %s",
                         key_id, tecg_time_format_rfc3339_ms(k->valid_from_ms, t1),
                         tecg_time_format_rfc3339_ms(ts, t2));
                return TECG_SIG_NOT_YET_VALID;
        case TECG_KEYRING_EXPIRED:
                snprintf(why, why_size,
                         "key not valid at the message's timestamp: key id %s expired at %s, "
                         "the message is of %s",
                         key_id, tecg_time_format_rfc3339_ms(k->valid_until_ms, t1),
                         tecg_time_format_rfc3339_ms(ts, t2));
                return TECG_SIG_EXPIRED;
        case TECG_KEYRING_OK:
                break;
        }
        if (ts_type != RD_KAFKA_TIMESTAMP_CREATE_TIME || ts > tecg_wall_ms() + SIG_FUTURE_MS) {
                snprintf(why, why_size,
                         ts_type != RD_KAFKA_TIMESTAMP_CREATE_TIME
                                 ? "bad signature: the timestamp is not the producer's "
                                   "(the topic must keep CreateTime)"
                                 : "timestamp %s is more than 5 minutes in the future",
                         tecg_time_format_rfc3339_ms(ts, t1));
                return ts_type != RD_KAFKA_TIMESTAMP_CREATE_TIME ? TECG_SIG_BAD : TECG_SIG_FUTURE;
        }
        const tecg_event_sig_msg_t signed_msg = {m->key, m->key_len, topic, ts, m->payload, m->len};
        switch (tecg_event_sig_verify(k->public_key, &signed_msg, sig_val, batch, batch_len)) {
        case TECG_EVENT_SIG_VALID:
                break;
        case TECG_EVENT_SIG_MALFORMED_BATCH:
                snprintf(why, why_size,
                         "malformed signature header: %s is not a batch size (2-%d), an index "
                         "below it and that index's inclusion proof",
                         TECG_EVENT_SIG_HDR_BATCH, TECG_EVENT_SIG_BATCH_LIMIT);
                return TECG_SIG_MALFORMED;
        case TECG_EVENT_SIG_BAD:
                snprintf(why, why_size,
                         "bad signature: does not verify with key id %s over key, topic, "
                         "timestamp and value%s",
                         key_id, batch ? " (sealed batch: proof and root)" : "");
                return TECG_SIG_BAD;
        }
        return TECG_SIG__COUNT;
}

/* The whole check: signature_verdict(), then (engine thread only: it may
 * ask Kafka) that the message sits on the partition its nation maps to (a
 * signed message copied to another partition would be counted a second
 * time by another owner). `verified`: the verification held already
 * (signatures_verify_start()). Sets batch_failed (the batch is replayed) when
 * Kafka does not say how many partitions the topic has. */
static tecg_sig_refusal_t signature_check(tecg_aggregator_t *agg, int input,
                                          const rd_kafka_message_t *m, bool verified, char *why,
                                          size_t why_size) {
        /* Verified on a worker: signature_verdict() held there (what it
         * reads is the same here: the message, and the keyring, which a
         * SIGHUP replaces only between batches), so it is not made twice. */
        tecg_sig_refusal_t r =
                verified ? TECG_SIG__COUNT : signature_verdict(agg, m, why, why_size);
        if (r != TECG_SIG__COUNT)
                return r;
        char nation[4] = "";
        if (m->key && m->key_len == 3)
                memcpy(nation, m->key, 3);
        const char *topic = rd_kafka_topic_name(m->rkt);
        int32_t count = input_partitions(agg, input, m->rkt, m->partition);
        if (count <= 0) {
                if (!agg->batch_failed) {
                        agg->batch_failed = true;
                        snprintf(agg->batch_error, sizeof(agg->batch_error),
                                 "%s: partition count unknown (metadata request failed)", topic);
                }
                return TECG_SIG__COUNT;
        }
        int32_t want =
                rd_kafka_msg_partitioner_murmur2(NULL, m->key, m->key_len, count, NULL, NULL);
        if (want != m->partition) {
                snprintf(why, why_size,
                         "wrong partition: %s maps to partition %" PRId32 " of %" PRId32
                         ", the message is on %" PRId32,
                         nation, want, count, m->partition);
                return TECG_SIG_WRONG_PARTITION;
        }
        return TECG_SIG__COUNT;
}

/* Applies security.signatures to one message: true when it may be
 * processed, false when it went to the dead-letter topic. `verified`: see
 * signature_check(). */
static bool signature_accepts(tecg_aggregator_t *agg, int input, const rd_kafka_message_t *m,
                              bool verified) {
        char why[512];
        if (agg->opts.signatures == TECG_SIGNATURES_OFF)
                return true;
        tecg_sig_refusal_t r = signature_check(agg, input, m, verified, why, sizeof(why));
        if (r == TECG_SIG__COUNT)
                return true;
        uint64_t n = agg->stats.sig_refused[r] + ++agg->batch_stats.sig_refused[r];
        if (agg->opts.signatures == TECG_SIGNATURES_REQUIRE) {
                dead_letter(agg, m, "signature", why);
                return false;
        }
        /* warn: the first ones of each reason, then one in a thousand. */
        if (n <= 10 || n % 1000 == 0)
                tecg_log_warn(FAC,
                              "%s [%" PRId32 "] offset %" PRId64
                              ": %s (accepted: security.signatures=warn; %llu so far)",
                              rd_kafka_topic_name(m->rkt), m->partition, m->offset, why,
                              (unsigned long long)n);
        return true;
}

/* The signature checks of a batch (signature_verdict(): headers, keyring,
 * Ed25519 and Merkle proofs), on the verify.threads pool while the
 * engine's thread counts the batch in order, waiting for each message's
 * check (signatures_verified()): verified[i] says whether message i
 * passed. Any other outcome is left to the engine's thread, which checks
 * that message again in full and words the reason. */
static void verify_one(void *opaque, size_t i) {
        tecg_aggregator_t *agg = opaque;
        const rd_kafka_message_t *m = agg->verifying[i];
        char why[512];
        agg->verified[i] =
                !m->err && m->rkt && signature_verdict(agg, m, why, sizeof(why)) == TECG_SIG__COUNT;
}

static tecg_err_t signatures_verify_start(tecg_aggregator_t *agg, rd_kafka_message_t **msgs,
                                          size_t n, char *errstr, size_t errstr_size) {
        if (n > agg->verified_cap) {
                uint8_t *v = realloc(agg->verified, n);
                if (!v)
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                agg->verified = v;
                agg->verified_cap = n;
        }
        memset(agg->verified, 0, n);
        if (agg->opts.signatures == TECG_SIGNATURES_OFF || !agg->workers)
                return TECG_OK;
        agg->verifying = msgs;
        if (!tecg_workers_start(agg->workers, n, verify_one, agg)) {
                agg->verifying = NULL;
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        return TECG_OK;
}

/* Whether message i passed the check, once it is made. */
static bool signatures_verified(tecg_aggregator_t *agg, size_t i) {
        if (agg->verifying)
                tecg_workers_wait(agg->workers, i);
        return agg->verified[i];
}

/* No thread reads the batch any more (before its messages go); a batch
 * given up (an error before every message was processed) is not checked
 * to its end. */
static void signatures_verify_end(tecg_aggregator_t *agg, bool given_up) {
        if (agg->verifying && given_up)
                tecg_workers_abandon(agg->workers);
        else if (agg->verifying)
                tecg_workers_finish(agg->workers);
        agg->verifying = NULL;
}

/* ---- counting (count.c) --------------------------------------------------- */

/* Dedupe and count one valid event (docs/design.md §4.4). */
static void count_event(tecg_aggregator_t *agg, part_ctx_t *ctx, const rd_kafka_message_t *m,
                        const tecg_event_t *ev) {
        char reason[512];
        const char *stage = "aggregate";
        /* The id records stay in the store's overlay: produce_id_batches()
         * writes them to event-ids, one message per partition. */
        tecg_count_ctx_t c = {.store = agg->store,
                              .partition = ctx->partition,
                              .stats = &agg->batch_stats.corrections};
        nation_slot_t *slot = ctx_slot(ctx, ev->nation, true);
        if (!slot) {
                agg->fatal = true;
                snprintf(agg->fatal_error, sizeof(agg->fatal_error), "out of memory");
                return;
        }
        uint64_t mismatched = c.stats->mismatched;
        switch (tecg_count_event(&c, &slot->st, ev, &stage, reason, sizeof(reason))) {
        case TECG_COUNTED:
                if (c.stats->mismatched != mismatched)
                        tecg_log_warn(FAC,
                                      "%s/%s: a correction expected another type of event: "
                                      "counted as it is, the correction does not apply",
                                      ev->nation, ev->event_id);
                slot->dirty = true; /* events and as_of move even when totals don't */
                agg->batch_stats.counted++;
                break;
        case TECG_DUPLICATE:
                agg->batch_stats.duplicates++;
                break;
        case TECG_REFUSED:
                dead_letter(agg, m, stage, reason);
                break;
        case TECG_COUNT_FAILED:
                /* The store failed: counting on would count twice. */
                if (!agg->fatal) {
                        agg->fatal = true;
                        snprintf(agg->fatal_error, sizeof(agg->fatal_error), "id store: %s",
                                 reason);
                }
                break;
        }
}

static void process(tecg_aggregator_t *agg, part_ctx_t *ctx, int input, const rd_kafka_message_t *m,
                    bool verified) {
        char reason[512];
        tecg_event_t ev;
        agg->batch_stats.consumed++;
        if (!signature_accepts(agg, input, m, verified))
                return;
        if (!m->payload) {
                dead_letter(agg, m, "decode", "empty message (no value)");
                return;
        }
        /* Before anything reads the value: a hostile or broken peer must
         * not make the codec walk (or Avro-C allocate for) megabytes. */
        if (agg->opts.message_max_bytes && m->len > agg->opts.message_max_bytes) {
                snprintf(reason, sizeof(reason),
                         "message of %zu bytes exceeds limits.message.bytes (%zu)", m->len,
                         agg->opts.message_max_bytes);
                dead_letter(agg, m, "decode", reason);
                return;
        }
        tecg_err_t err = decode(agg, m, &ev, reason, sizeof(reason));
        if (err == TECG_ERR_RETRY)
                return; /* fatal: the batch is not committed */
        if (err) {
                dead_letter(agg, m, "decode", reason);
                return;
        }
        if (tecg_contract_check(&ev, agg->opts.nations, reason, sizeof(reason))) {
                dead_letter(agg, m, "contract", reason);
                return;
        }
        /* One partition must hold all of a nation's events: a wrong key
         * would put them where another aggregator counts them. */
        if (m->key_len != 3 || memcmp(m->key, ev.nation, 3) != 0) {
                snprintf(reason, sizeof(reason), "message key does not equal the event's nation %s",
                         ev.nation);
                dead_letter(agg, m, "contract", reason);
                return;
        }
        if (tecg_contract_check_topic(&ev, input == IN_TRAINING, rd_kafka_topic_name(m->rkt),
                                      reason, sizeof(reason))) {
                dead_letter(agg, m, "contract", reason);
                return;
        }
        count_event(agg, ctx, m, &ev);
}

/* A batch record at most this large: well under the broker's default
 * message.max.bytes (1 MiB), so that no topic setting must change. */
#define ID_BATCH_MAX_BYTES ((size_t)512 * 1024)

/* The id records this batch changed (the store's overlay), one event-ids
 * message per partition, more only when they do not fit one: each under a
 * key of its own (batch/<nonce>/<seq>), so compaction never drops one and
 * a restore reads them all, in order. */
static void produce_id_batches(tecg_aggregator_t *agg) {
        char key[sizeof(TECG_ID_BATCH_KEY_PREFIX) + sizeof(agg->batch_nonce) + 24];
        size_t max = agg->produce_max > DEAD_LETTER_SLACK + sizeof(key)
                             ? agg->produce_max - DEAD_LETTER_SLACK - sizeof(key)
                             : 0;
        if (max > ID_BATCH_MAX_BYTES)
                max = ID_BATCH_MAX_BYTES;
        if (!tecg_idstore_pending(agg->store))
                return;
        for (size_t i = 0; i < agg->nparts; i++) {
                part_ctx_t *ctx = agg->parts[i];
                size_t cursor = 0, n;
                while (ctx && (n = tecg_idstore_batch_next(agg->store, ctx->partition, &cursor, max,
                                                           &agg->buf)) > 0) {
                        if (n == SIZE_MAX) {
                                agg->batch_failed = true;
                                snprintf(agg->batch_error, sizeof(agg->batch_error),
                                         "event-ids batch record of partition %" PRId32
                                         ": out of memory",
                                         ctx->partition);
                                return;
                        }
                        int klen = snprintf(key, sizeof(key), "%s%s/%" PRIu64,
                                            TECG_ID_BATCH_KEY_PREFIX, agg->batch_nonce,
                                            agg->batch_seq++);
                        produce(agg, agg->topic_ids, ctx->partition, key, (size_t)klen,
                                agg->buf.data, agg->buf.len, NULL);
                }
        }
}

/* Snapshots of every nation changed in this batch. */
static void produce_states(tecg_aggregator_t *agg) {
        char reason[512];
        for (size_t i = 0; i < agg->nparts; i++) {
                part_ctx_t *ctx = agg->parts[i];
                for (size_t j = 0; ctx && j < ctx->nnations; j++) {
                        nation_slot_t *slot = &ctx->nations[j];
                        if (!slot->dirty)
                                continue;
                        slot->st->version++;
                        tecg_buf_reset(&agg->buf);
                        if (tecg_state_codec_encode(agg->state_codec, slot->st, &agg->buf, reason,
                                                    sizeof(reason))) {
                                agg->batch_failed = true;
                                snprintf(agg->batch_error, sizeof(agg->batch_error),
                                         "encode state of %s: %s", slot->st->nation, reason);
                                return;
                        }
                        produce(agg, agg->topic_state, ctx->partition, slot->st->nation, 3,
                                agg->buf.data, agg->buf.len, NULL);
                }
        }
}

static rd_kafka_topic_partition_list_t *batch_offsets(tecg_aggregator_t *agg) {
        rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(8);
        for (size_t i = 0; i < agg->nparts; i++) {
                part_ctx_t *ctx = agg->parts[i];
                for (int t = 0; ctx && t < IN__COUNT; t++)
                        if (ctx->next_offset[t] >= 0)
                                rd_kafka_topic_partition_list_add(offsets, agg->topic_in[t],
                                                                  ctx->partition)
                                        ->offset = ctx->next_offset[t];
        }
        return offsets;
}

/* After the Kafka commit: the batch's id records into the store, with the
 * markers after them. Should that fail, the store is behind its topic and
 * counting on would count twice: every partition is restored (caught up
 * from the marker) before the next batch. */
static void store_commit(tecg_aggregator_t *agg) {
        char errstr[512];
        int32_t *ps = calloc(agg->nparts ? agg->nparts : 1, sizeof(*ps));
        int64_t *markers = calloc(agg->nparts ? agg->nparts : 1, sizeof(*markers));
        size_t n = 0;
        tecg_err_t err = TECG_ERR_NOMEM;
        snprintf(errstr, sizeof(errstr), "out of memory");
        if (ps && markers) {
                for (size_t i = 0; i < agg->nparts; i++) {
                        part_ctx_t *ctx = agg->parts[i];
                        if (ctx && ctx->ids_next >= 0) {
                                ps[n] = ctx->partition;
                                markers[n++] = ctx->ids_next;
                        }
                }
                err = tecg_idstore_commit(agg->store, ps, markers, n, errstr, sizeof(errstr));
        } else {
                tecg_idstore_abort(agg->store);
        }
        if (err) {
                tecg_log_warn(FAC, "%s; the partitions are restored from the last commit", errstr);
                agg->recover = true;
        }
        free(ps);
        free(markers);
}

/* The counters of a committed transaction, added to the totals. */
static void stats_add_committed(tecg_aggregator_stats_t *total,
                                const tecg_aggregator_stats_t *txn) {
        total->consumed += txn->consumed;
        total->counted += txn->counted;
        total->duplicates += txn->duplicates;
        total->dead_lettered += txn->dead_lettered;
        total->corrections.applied += txn->corrections.applied;
        total->corrections.pending += txn->corrections.pending;
        total->corrections.resolved += txn->corrections.resolved;
        total->corrections.mismatched += txn->corrections.mismatched;
        for (int i = 0; i < TECG_CORR_REFUSED__COUNT; i++)
                total->corrections.refused[i] += txn->corrections.refused[i];
        for (int i = 0; i < TECG_SIG__COUNT; i++)
                total->sig_refused[i] += txn->sig_refused[i];
}

static void batch_reset(tecg_aggregator_t *agg) {
        for (size_t i = 0; i < agg->nparts; i++) {
                part_ctx_t *ctx = agg->parts[i];
                if (!ctx)
                        continue;
                for (int t = 0; t < IN__COUNT; t++)
                        ctx->next_offset[t] = -1;
                ctx->ids_next = -1;
                for (size_t j = 0; j < ctx->nnations; j++)
                        ctx->nations[j].dirty = false;
        }
        agg->batch_failed = false;
        agg->batch_error[0] = '\0';
        memset(&agg->batch_stats, 0, sizeof(agg->batch_stats));
        /* Nothing uncommitted stays in the overlay (after a commit it is
         * empty already). */
        if (agg->store)
                tecg_idstore_abort(agg->store);
}

/* After an abort: forget what was not committed, restore every assigned
 * partition and go back to the committed input offsets. Each wait is short
 * (RECOVER_WAIT_MS): when Kafka does not answer, the caller tries again
 * later rather than blocking a stop. */
static tecg_err_t rewind_to_last_commit(tecg_aggregator_t *agg, char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        rd_kafka_topic_partition_list_t *parts = NULL;
        rd_kafka_resp_err_t kerr = rd_kafka_assignment(agg->consumer, &parts);
        if (kerr)
                return tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "assignment: %s",
                                   rd_kafka_err2str(kerr));
        ctx_drop_all(agg);
        batch_reset(agg);
        if (parts->cnt == 0)
                goto done;
        if ((kerr = rd_kafka_committed(agg->consumer, parts, RECOVER_WAIT_MS))) {
                err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "committed offsets: %s",
                                  rd_kafka_err2str(kerr));
                goto done;
        }
        for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].offset < 0)
                        parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_error_t *error = rd_kafka_seek_partitions(agg->consumer, parts, RECOVER_WAIT_MS);
        if (error) {
                err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "seek: %s",
                                  rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                goto done;
        }
        int32_t *ps = calloc((size_t)parts->cnt + 1, sizeof(*ps));
        if (!ps) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        size_t n = partitions_to_restore(agg, parts, ps);
        if (n)
                err = ctx_restore(agg, ps, n, errstr, errstr_size);
        free(ps);
done:
        rd_kafka_topic_partition_list_destroy(parts);
        return err;
}

/* ---- transactional calls ----------------------------------------------- */

typedef enum { TXN_INIT, TXN_SEND_OFFSETS, TXN_COMMIT, TXN_ABORT } txn_op_t;

static const char *const txn_op_names[] = {"init_transactions", "send_offsets_to_transaction",
                                           "commit_transaction", "abort_transaction"};

/* One transactional call, never with an infinite timeout: waits of
 * WAIT_STEP_MS, repeated while the error is retriable and no stop was
 * asked. init, commit and abort resume what goes on in the background;
 * send_offsets is sent again with the same offsets, as librdkafka
 * recommends. Once stopped, the last (retriable) error is returned; the
 * transaction stays open and tecg_aggregator_destroy() aborts it. */
static rd_kafka_error_t *txn_call(tecg_aggregator_t *agg, txn_op_t op,
                                  const rd_kafka_topic_partition_list_t *offsets,
                                  const rd_kafka_consumer_group_metadata_t *cgmd) {
        int64_t t0 = tecg_mono_ms(), last_log = t0;
        for (;;) {
                int64_t t = tecg_mono_ms();
                rd_kafka_error_t *error = NULL;
                switch (op) {
                case TXN_INIT:
                        error = rd_kafka_init_transactions(agg->producer, WAIT_STEP_MS);
                        break;
                case TXN_SEND_OFFSETS:
                        error = rd_kafka_send_offsets_to_transaction(agg->producer, offsets, cgmd,
                                                                     WAIT_STEP_MS);
                        break;
                case TXN_COMMIT:
                        error = rd_kafka_commit_transaction(agg->producer, WAIT_STEP_MS);
                        break;
                case TXN_ABORT:
                        error = rd_kafka_abort_transaction(agg->producer, WAIT_STEP_MS);
                        break;
                }
                if (!error || !rd_kafka_error_is_retriable(error))
                        return error;
                if (stopping(agg)) {
                        /* Said now: the cleanup that follows may be cut
                         * short by shutdown.timeout.ms. */
                        tecg_log_notice(FAC, "%s: stopped before Kafka answered (%s)",
                                        txn_op_names[op], rd_kafka_error_string(error));
                        return error;
                }
                int64_t now = tecg_mono_ms();
                if (now - last_log >= 10000) {
                        tecg_log_notice(FAC, "%s: %s; still trying after %lld s", txn_op_names[op],
                                        rd_kafka_error_string(error),
                                        (long long)((now - t0) / 1000));
                        last_log = now;
                }
                rd_kafka_error_destroy(error);
                if (now - t < 100) {
                        /* answered at once: do not spin */
                        struct timespec ts = {0, 100 * 1000000L};
                        nanosleep(&ts, NULL);
                }
        }
}

/* A terminal error: the message says what to fix. */
static tecg_err_t terminal(rd_kafka_resp_err_t code, const char *what, char *errstr,
                           size_t errstr_size) {
        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                           "%s: %s (%s): the configuration or the ACLs must change", what,
                           rd_kafka_err2str(code), rd_kafka_err2name(code));
}

/* A new transactional producer with the same transactional.id: its
 * init_transactions bumps the epoch, which fences the old producer and
 * aborts what it left open. On a stop or while Kafka does not answer,
 * renew_producer stays set and the next call starts over. */
static tecg_err_t producer_renew(tecg_aggregator_t *agg, char *errstr, size_t errstr_size) {
        if (agg->producer) {
                rd_kafka_purge(agg->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_destroy(agg->producer);
                agg->producer = NULL;
        }
        agg->txn_open = false;
        if (!(agg->producer = tecg_kafka_new_from(TECG_KAFKA_PRODUCER, agg->producer_conf, errstr,
                                                  errstr_size)))
                return TECG_ERR_KAFKA;
        rd_kafka_error_t *error = txn_call(agg, TXN_INIT, NULL, NULL);
        if (!error) {
                agg->renew_producer = false;
                agg->stats.recoveries++;
                tecg_log_notice(FAC, "a new transactional producer took over (%s)",
                                agg->opts.transactional_id);
                return TECG_OK;
        }
        rd_kafka_resp_err_t code = rd_kafka_error_code(error);
        tecg_err_t err = TECG_OK;
        if (err_is_terminal(code))
                err = terminal(code, "init_transactions", errstr, errstr_size);
        else if (!stopping(agg))
                tecg_log_warn(FAC, "init_transactions: %s; retrying", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return err;
}

/* Renews the producer if it must be, then rewinds every assigned partition
 * to the last commit. TECG_OK also when not done yet (recover stays set);
 * an error only when the daemon must exit. */
static tecg_err_t recover(tecg_aggregator_t *agg, char *errstr, size_t errstr_size) {
        agg->recover_after_ms = tecg_mono_ms() + RECOVER_BACKOFF_MS;
        if (agg->renew_producer) {
                tecg_err_t err = producer_renew(agg, errstr, errstr_size);
                if (err)
                        return err;
                if (agg->renew_producer)
                        return TECG_OK;
        }
        if (rewind_to_last_commit(agg, errstr, errstr_size)) {
                if (agg->fatal)
                        return TECG_ERR_KAFKA;
                if (!stopping(agg))
                        tecg_log_warn(FAC, "%s; retrying", errstr);
                return TECG_OK;
        }
        agg->recover = false;
        return TECG_OK;
}

/* A transactional call failed. A retriable error after a stop leaves the
 * transaction to tecg_aggregator_destroy(). Authorization and
 * configuration errors end the daemon. Anything else aborts the
 * transaction and replays from the last commit; when the abort is not
 * possible (fatal error, fenced, the abort itself fails) a new producer
 * takes over first. */
static tecg_err_t txn_failed(tecg_aggregator_t *agg, rd_kafka_error_t *error, const char *what,
                             char *errstr, size_t errstr_size) {
        rd_kafka_resp_err_t code = rd_kafka_error_code(error);
        bool renew = rd_kafka_error_is_fatal(error) || agg->renew_producer || err_is_fence(code);
        bool retriable = rd_kafka_error_is_retriable(error);
        char why[512];
        snprintf(why, sizeof(why), "%s: %s", what, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        if (err_is_terminal(code))
                return terminal(code, what, errstr, errstr_size);
        if (retriable && stopping(agg)) {
                tecg_log_notice(FAC,
                                "%s; stopping: the open transaction is aborted and "
                                "its batch redone from the last commit",
                                why);
                return TECG_OK;
        }
        agg->stats.aborts++;
        if (!renew && agg->txn_open) {
                tecg_log_warn(FAC,
                              "%s; aborting the transaction and replaying from the last commit",
                              why);
                rd_kafka_error_t *aerr = txn_call(agg, TXN_ABORT, NULL, NULL);
                if (!aerr) {
                        agg->txn_open = false;
                } else {
                        code = rd_kafka_error_code(aerr);
                        retriable = rd_kafka_error_is_retriable(aerr);
                        snprintf(why, sizeof(why), "abort_transaction: %s",
                                 rd_kafka_error_string(aerr));
                        rd_kafka_error_destroy(aerr);
                        if (err_is_terminal(code))
                                return terminal(code, "abort_transaction", errstr, errstr_size);
                        if (retriable && stopping(agg))
                                return TECG_OK;
                        renew = true;
                }
        }
        if (renew) {
                if (err_is_fence(code) && ++agg->fenced_in_a_row >= FENCED_MAX)
                        return tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size,
                                           "%s; fenced %d times without a commit in between: "
                                           "another process uses transactional.id %s (two "
                                           "aggregators with the same instance.id?)",
                                           why, agg->fenced_in_a_row, agg->opts.transactional_id);
                tecg_log_warn(FAC,
                              "%s; the transaction cannot be aborted: a new transactional "
                              "producer takes over, then the partitions are restored from "
                              "the last commit",
                              why);
                agg->renew_producer = true;
        }
        agg->recover = true;
        return recover(agg, errstr, errstr_size);
}

/* Routes the consumer's callbacks to its queue and subscribes to both
 * inputs. */
static tecg_err_t consumer_start(tecg_aggregator_t *agg, char *errstr, size_t errstr_size) {
        rd_kafka_poll_set_consumer(agg->consumer);
        agg->consumer_queue = rd_kafka_queue_get_consumer(agg->consumer);
        rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(2);
        rd_kafka_topic_partition_list_add(subs, agg->topic_in[0], RD_KAFKA_PARTITION_UA);
        rd_kafka_topic_partition_list_add(subs, agg->topic_in[1], RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t kerr = rd_kafka_subscribe(agg->consumer, subs);
        rd_kafka_topic_partition_list_destroy(subs);
        if (kerr)
                return tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "subscribe: %s",
                                   rd_kafka_err2str(kerr));
        return TECG_OK;
}

/* A new consumer instead of one in a fatal state (see
 * SELF_FENCE_WINDOW_MS): it joins under the same group.instance.id, and
 * its assignment restores the partitions from the last commit. */
static tecg_err_t consumer_renew(tecg_aggregator_t *agg, char *errstr, size_t errstr_size) {
        rd_kafka_queue_destroy(agg->consumer_queue);
        agg->consumer_queue = NULL;
        rd_kafka_destroy_flags(agg->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        agg->consumer = NULL;
        ctx_drop_all(agg);
        batch_reset(agg);
        agg->recover = false; /* the new assignment restores */
        agg->renew_consumer = false;
        agg->lost_ms = 0;
        if (!(agg->consumer = tecg_kafka_new_from(TECG_KAFKA_CONSUMER, agg->consumer_conf, errstr,
                                                  errstr_size)))
                return TECG_ERR_KAFKA;
        tecg_log_notice(FAC, "a new consumer took over");
        return consumer_start(agg, errstr, errstr_size);
}

/* Adaptive batching (tecg_aggregator_run_once()): what is queued now;
 * when nothing is, waits up to batch_max_ms for a first message and takes
 * no window (idle: it commits as soon as the queue is drained). Messages
 * already waiting mean load (they came while the last batch committed):
 * the window is then as long as the last commit took, at most
 * batch_max_ms, so that a commit's fixed cost is spread over what arrives
 * meanwhile and grows with the load, never waited for in vain. It takes
 * what comes until the queue is drained and the window since the first
 * message is over, the batch is full, or a rebalance happened (what
 * follows it belongs to the new assignment). The number of messages, or
 * -1. */
static ssize_t batch_collect(tecg_aggregator_t *agg, rd_kafka_message_t **msgs, size_t max) {
        uint64_t rebalances = agg->rebalances;
        int window = 0;
        ssize_t n = rd_kafka_consume_batch_queue(agg->consumer_queue, 0, msgs, max);
        if (n < 0)
                return n;
        if (n == 0) {
                if (agg->rebalances != rebalances)
                        return 0;
                n = rd_kafka_consume_batch_queue(agg->consumer_queue, agg->opts.batch_max_ms, msgs,
                                                 1);
                if (n <= 0)
                        return n;
        } else {
                window = agg->commit_ms < agg->opts.batch_max_ms ? agg->commit_ms
                                                                 : agg->opts.batch_max_ms;
        }
        int64_t end = tecg_mono_ms() + window;
        while ((size_t)n < max && agg->rebalances == rebalances) {
                int64_t left = end - tecg_mono_ms();
                ssize_t got = rd_kafka_consume_batch_queue(
                        agg->consumer_queue, left > 0 ? (int)left : 0, msgs + n, max - (size_t)n);
                if (got <= 0)
                        break;
                n += got;
        }
        return n;
}

/* A commit of TECG_SLOW_COMMIT_MS or more (counted in
 * tecg_aggregator_slow_commits_total), with its two waits: the offsets
 * sent to the transaction (AddOffsetsToTxn, TxnOffsetCommit) and the
 * commit (the produce requests' flush, EndTxn). */
static void log_slow_commit(tecg_aggregator_t *agg, int64_t took, int64_t offsets_ms,
                            ssize_t messages) {
        tecg_log_limited(&agg->slow_commit_log, TECG_LOG_NOTICE, FAC,
                         "slow commit: %lld ms for %zd messages (sending the offsets %lld ms, "
                         "committing %lld ms)",
                         (long long)took, messages, (long long)offsets_ms,
                         (long long)(took - offsets_ms));
}

tecg_err_t tecg_aggregator_run_once(tecg_aggregator_t *agg, char *errstr, size_t errstr_size) {
        int max = agg->opts.batch_max_messages;
        if (agg->renew_consumer && !agg->txn_open && consumer_renew(agg, errstr, errstr_size))
                return TECG_ERR_KAFKA;
        rd_kafka_message_t **msgs = malloc((size_t)max * sizeof(rd_kafka_message_t *));
        if (!msgs)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        tecg_err_t err = TECG_OK;
        ssize_t n = batch_collect(agg, msgs, (size_t)max);
        if (agg->producer)
                rd_kafka_poll(agg->producer, 0);
        for (ssize_t i = 0; i < n; i++)
                if (msgs[i]->err == RD_KAFKA_RESP_ERR__FATAL)
                        on_fatal(agg, agg->consumer);
        if (agg->fatal) {
                err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "%s", agg->fatal_error);
                goto destroy_msgs;
        }
        if (agg->renew_consumer)
                goto destroy_msgs; /* the next call makes a new consumer */
        if (agg->renew_producer)
                agg->recover = true;
        if (agg->recover) {
                /* What was consumed is read again after the rewind. */
                if (!stopping(agg) && tecg_mono_ms() >= agg->recover_after_ms)
                        err = recover(agg, errstr, errstr_size);
                goto destroy_msgs;
        }
        if (n <= 0)
                goto destroy_msgs;
        if ((err = signatures_verify_start(agg, msgs, (size_t)n, errstr, errstr_size)))
                goto destroy_msgs;

        rd_kafka_error_t *error = rd_kafka_begin_transaction(agg->producer);
        if (error) {
                err = txn_failed(agg, error, "begin_transaction", errstr, errstr_size);
                goto destroy_msgs;
        }
        agg->txn_open = true;
        for (ssize_t i = 0; i < n; i++) {
                rd_kafka_message_t *m = msgs[i];
                if (m->err) {
                        /* Before anything else of the message: an error of
                         * the client or the group has no topic. */
                        if (err_is_terminal(m->err) && !agg->fatal) {
                                agg->fatal = true;
                                snprintf(agg->fatal_error, sizeof(agg->fatal_error),
                                         "consume: %s (%s): the configuration or the ACLs must "
                                         "change",
                                         rd_kafka_message_errstr(m), rd_kafka_err2name(m->err));
                        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                tecg_log_warn(FAC, "consume: %s", rd_kafka_message_errstr(m));
                        }
                        continue;
                }
                part_ctx_t *ctx = ctx_get(agg, m->partition);
                if (!ctx)
                        continue; /* revoked meanwhile: the next owner does it */
                int input = strcmp(rd_kafka_topic_name(m->rkt), agg->topic_in[IN_TRAINING]) == 0
                                    ? IN_TRAINING
                                    : IN_CONTRIBUTIONS;
                process(agg, ctx, input, m, signatures_verified(agg, (size_t)i));
                ctx->next_offset[input] = m->offset + 1;
        }
        signatures_verify_end(agg, false);
        if (agg->fatal) {
                /* Nothing of this batch may be committed. */
                err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "%s", agg->fatal_error);
                goto destroy_msgs;
        }
        produce_id_batches(agg);
        produce_states(agg);

        int64_t commit_start = tecg_mono_ms(), offsets_done;
        rd_kafka_topic_partition_list_t *offsets = batch_offsets(agg);
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(agg->consumer);
        error = offsets->cnt ? txn_call(agg, TXN_SEND_OFFSETS, offsets, cgmd) : NULL;
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        rd_kafka_topic_partition_list_destroy(offsets);
        if (error) {
                err = txn_failed(agg, error, "send_offsets_to_transaction", errstr, errstr_size);
                goto destroy_msgs;
        }
        offsets_done = tecg_mono_ms();
        if (agg->batch_failed) {
                /* A produce failed: never commit a partial batch. */
                err = txn_failed(
                        agg, rd_kafka_error_new(RD_KAFKA_RESP_ERR__STATE, "%s", agg->batch_error),
                        "batch", errstr, errstr_size);
                goto destroy_msgs;
        }
        if ((error = txn_call(agg, TXN_COMMIT, NULL, NULL))) {
                err = txn_failed(agg, error, "commit_transaction", errstr, errstr_size);
                goto destroy_msgs;
        }
        agg->txn_open = false;
        int64_t took = tecg_mono_ms() - commit_start;
        agg->commit_ms = took < INT32_MAX ? (int)took : INT32_MAX;
        agg->fenced_in_a_row = 0;
        agg->stats.transactions++;
        agg->stats.commit_ms += (uint64_t)took;
        agg->stats.slow_commits += took >= TECG_SLOW_COMMIT_MS;
        if (took >= TECG_SLOW_COMMIT_MS)
                log_slow_commit(agg, took, offsets_done - commit_start, n);
        agg->stats.last_commit_ms = tecg_wall_ms();
        stats_add_committed(&agg->stats, &agg->batch_stats);
        store_commit(agg);
        batch_reset(agg);
destroy_msgs:
        signatures_verify_end(agg, true);
        for (ssize_t i = 0; i < n; i++)
                rd_kafka_message_destroy(msgs[i]);
        free(msgs);
        return err;
}

/* ---- life cycle --------------------------------------------------------- */

/* The id store in store.dir, or in a private directory when none is
 * given (removed again by destroy). */
static tecg_err_t store_open(tecg_aggregator_t *agg, char *errstr, size_t errstr_size) {
        const char *dir = agg->opts.store_dir;
        if (!dir) {
                const char *tmp = getenv("TMPDIR");
                size_t len = strlen(tmp && *tmp ? tmp : "/tmp") + 32;
                if (!(agg->store_tmpdir = malloc(len)))
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                snprintf(agg->store_tmpdir, len, "%s/tecg-idstore-XXXXXX",
                         tmp && *tmp ? tmp : "/tmp");
                if (!mkdtemp(agg->store_tmpdir)) {
                        free(agg->store_tmpdir);
                        agg->store_tmpdir = NULL;
                        return tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                           "a private store directory: %s", strerror(errno));
                }
                dir = agg->store_tmpdir;
        }
        size_t map = agg->opts.store_map_bytes ? agg->opts.store_map_bytes : TECG_STORE_MAP_DEFAULT;
        if (!(agg->store = tecg_idstore_open(dir, map, agg->topic_ids, errstr, errstr_size)))
                return TECG_ERR_IO;
        return TECG_OK;
}

/* Removes the private store directory (LMDB's two files in it). */
static void store_tmpdir_remove(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;
        char path[4096];
        while (d && (e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                unlink(path);
        }
        if (d)
                closedir(d);
        rmdir(dir);
}

tecg_aggregator_t *tecg_aggregator_new(const tecg_conf_t *conf,
                                       const tecg_aggregator_options_t *opts, char *errstr,
                                       size_t errstr_size) {
        char restore_group[300];
        tecg_aggregator_t *agg = calloc(1, sizeof(*agg));
        if (!agg) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                return NULL;
        }
        agg->opts = *opts;
        agg->slow_commit_log = (tecg_log_limit_t)TECG_LOG_LIMIT_INIT(3, 60000);
        agg->topic_in[IN_CONTRIBUTIONS] =
                tecg_topics_name(opts->topic_prefix, TECG_TOPICS_CONTRIBUTIONS);
        agg->topic_in[IN_TRAINING] = tecg_topics_name(opts->topic_prefix, TECG_TOPICS_TRAINING);
        agg->topic_state = tecg_topics_name(opts->topic_prefix, TECG_TOPICS_NATION_STATE);
        agg->topic_ids = tecg_topics_name(opts->topic_prefix, TECG_TOPICS_EVENT_IDS);
        agg->topic_dead = tecg_topics_name(opts->topic_prefix, TECG_TOPICS_DEAD_LETTER);
        if (!agg->topic_in[0] || !agg->topic_in[1] || !agg->topic_state || !agg->topic_ids ||
            !agg->topic_dead) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (opts->schema_registry_url &&
            !(agg->registry =
                      tecg_registry_new(opts->schema_registry_url, NULL, errstr, errstr_size)))
                goto fail;
        if (!(agg->avro = tecg_avro_new(errstr, errstr_size)) ||
            !(agg->state_codec = tecg_state_codec_new(errstr, errstr_size)))
                goto fail;
        if (store_open(agg, errstr, errstr_size))
                goto fail;
        unsigned char nonce[(sizeof(agg->batch_nonce) - 1) / 2];
        if (tecg_sign_init(errstr, errstr_size))
                goto fail;
        randombytes_buf(nonce, sizeof(nonce));
        sodium_bin2hex(agg->batch_nonce, sizeof(agg->batch_nonce), nonce, sizeof(nonce));
        if (opts->verify_threads > 1 && opts->signatures != TECG_SIGNATURES_OFF &&
            !(agg->workers = tecg_workers_new(opts->verify_threads, errstr, errstr_size)))
                goto fail;
        if (opts->signatures != TECG_SIGNATURES_OFF)
                tecg_log_info(FAC, "signatures checked on %d threads (verify.threads)",
                              agg->workers ? tecg_workers_count(agg->workers) : 1);

        /* On top of each type's defaults (common/kafka.h); the kafka.* keys
         * of the config apply to all three clients and override these. */
        const tecg_kafka_setting_t consumer_overrides[] = {
                {"group.id", opts->group_id},
                {"client.id", "tecg-aggregator"},
                /* Eager assignment: the cooperative assignor of 2.0.2 can
                 * resume from a stale position (docs/design.md §7); range keeps
                 * partition p of both inputs on the same member. */
                {"partition.assignment.strategy", "range"},
                /* Avoid the one-second fetch back-off (docs/design.md §7). */
                {"queued.min.messages", "200000"},
                {"queued.max.messages.kbytes", "262144"},
                /* How long a member that stopped answering keeps its
                 * partitions (librdkafka's default is 45 s). A static member
                 * sends no LeaveGroup, so this is also the wait after a
                 * SIGTERM or crash without a restart; a restart within it
                 * gets the same partitions back without a rebalance
                 * (docs/design.md §6). */
                {"session.timeout.ms", "10000"},
                {"reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS},
                /* Static membership, last: no instance id ends the list. */
                {opts->instance_id ? "group.instance.id" : NULL, opts->instance_id},
                {NULL, NULL}};
        snprintf(restore_group, sizeof(restore_group), "%s-restore", opts->group_id);
        const tecg_kafka_setting_t restorer_overrides[] = {
                {"group.id", restore_group},
                {"client.id", "tecg-aggregator-restore"},
                /* It is assigned absolute offsets (watermarks()): one that
                 * is gone by the time it is fetched means the start of the
                 * partition, never its end. */
                {"auto.offset.reset", "earliest"},
                {"queued.min.messages", "200000"},
                /* Restoring waits for the end of small partitions: do not
                 * let each fetch sit for the default 500 ms. */
                {"fetch.wait.max.ms", "100"},
                {"reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS},
                {NULL, NULL}};
        const tecg_kafka_setting_t producer_overrides[] = {
                {"client.id", "tecg-aggregator"},
                {"transactional.id", opts->transactional_id},
                {"transaction.timeout.ms", "30000"},
                /* A transaction begun right after the last commit may be
                 * answered CONCURRENT_TRANSACTIONS while the broker still
                 * writes the last one's markers; librdkafka retries after
                 * retry.backoff.ms, whose 100 ms default made one commit in
                 * a hundred take 100 ms at 200 events/s (the Java client
                 * waits 20 ms, KAFKA-5477). It still grows to
                 * retry.backoff.max.ms over a series of failures. */
                {"retry.backoff.ms", "10"},
                {"reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS},
                {NULL, NULL}};
        char errbuf[512];
        const tecg_kafka_callbacks_t consumer_cb = {
                .opaque = agg, .error_cb = on_error, .rebalance_cb = on_rebalance};
        const tecg_kafka_callbacks_t restorer_cb = {.opaque = agg, .error_cb = on_error};
        const tecg_kafka_callbacks_t producer_cb = {
                .opaque = agg, .error_cb = on_error, .dr_msg_cb = on_delivery};
        if (!(agg->consumer_conf =
                      tecg_kafka_conf_new(TECG_KAFKA_CONSUMER, conf, consumer_overrides,
                                          &consumer_cb, errstr, errstr_size)) ||
            !(agg->consumer = tecg_kafka_new_from(TECG_KAFKA_CONSUMER, agg->consumer_conf, errstr,
                                                  errstr_size)) ||
            !(agg->restorer = tecg_kafka_new(TECG_KAFKA_READER, conf, restorer_overrides,
                                             &restorer_cb, errstr, errstr_size)) ||
            !(agg->producer_conf =
                      tecg_kafka_conf_new(TECG_KAFKA_PRODUCER, conf, producer_overrides,
                                          &producer_cb, errstr, errstr_size)) ||
            !(agg->producer = tecg_kafka_new_from(TECG_KAFKA_PRODUCER, agg->producer_conf, errstr,
                                                  errstr_size)))
                goto fail;

        char max_bytes[32];
        size_t max_bytes_size = sizeof(max_bytes);
        if (rd_kafka_conf_get(rd_kafka_conf(agg->producer), "message.max.bytes", max_bytes,
                              &max_bytes_size) != RD_KAFKA_CONF_OK ||
            (agg->produce_max = strtoull(max_bytes, NULL, 10)) == 0)
                agg->produce_max = 1000000; /* librdkafka's default */

        /* Fences any older instance with our transactional.id and aborts
         * what it left open. Waits for Kafka until a stop. */
        rd_kafka_error_t *error = txn_call(agg, TXN_INIT, NULL, NULL);
        if (error) {
                snprintf(errbuf, sizeof(errbuf), "%s", rd_kafka_error_string(error));
                tecg_seterr(err_is_terminal(rd_kafka_error_code(error)) ? TECG_ERR_CONFIG
                                                                        : TECG_ERR_KAFKA,
                            errstr, errstr_size, "init_transactions: %s%s", errbuf,
                            stopping(agg) ? " (stopped before Kafka answered)" : "");
                rd_kafka_error_destroy(error);
                goto fail;
        }
        if (consumer_start(agg, errstr, errstr_size))
                goto fail;
        return agg;
fail:
        tecg_aggregator_destroy(agg);
        return NULL;
}

/* Closes a consumer within `deadline_ms` (monotonic): a close that Kafka
 * does not let finish (the group coordinator is down) is given up, and the
 * consumer destroyed without it. Rebalance events of the close (the final
 * revoke) go through on_rebalance as usual. */
static void consumer_close(tecg_aggregator_t *agg, rd_kafka_t *rk, int64_t deadline_ms) {
        bool closed = false;
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_error_t *error = rd_kafka_consumer_close_queue(rk, q);
        if (error) {
                tecg_log_warn(FAC, "close: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else {
                while (!(closed = rd_kafka_consumer_closed(rk))) {
                        int64_t left = deadline_ms - tecg_mono_ms();
                        if (left <= 0)
                                break;
                        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left < 100 ? (int)left : 100);
                        if (!ev)
                                continue;
                        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                                on_rebalance(rk, rd_kafka_event_error(ev),
                                             rd_kafka_event_topic_partition_list(ev), agg);
                        rd_kafka_event_destroy(ev);
                }
        }
        rd_kafka_queue_destroy(q);
        if (!closed)
                tecg_log_warn(FAC, "%s: not closed within shutdown.timeout.ms; destroyed as is",
                              rd_kafka_name(rk));
        rd_kafka_destroy_flags(rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

void tecg_aggregator_destroy(tecg_aggregator_t *agg) {
        if (!agg)
                return;
        /* The budget runs from the stop, when there was one, which the
         * engine may have seen up to a wait step after the signal. */
        stopping(agg);
        int64_t now = tecg_mono_ms();
        int64_t budget = agg->opts.shutdown_timeout_ms - (agg->stop_seen_ms ? WAIT_STEP_MS : 0);
        int64_t deadline =
                (agg->stop_seen_ms ? agg->stop_seen_ms : now) + (budget > 0 ? budget : 0);
        bool clean = !agg->txn_open && !agg->renew_producer;
        if (agg->txn_open && agg->producer && !agg->renew_producer) {
                /* At most half of what is left: the consumers' close needs
                 * the rest when Kafka is up. */
                int64_t abort_end = now + (deadline - now) / 2;
                for (;;) {
                        int64_t left = abort_end - tecg_mono_ms();
                        if (left <= 0)
                                break;
                        rd_kafka_error_t *error = rd_kafka_abort_transaction(
                                agg->producer, left < WAIT_STEP_MS ? (int)left : WAIT_STEP_MS);
                        if (!error) {
                                clean = true;
                                break;
                        }
                        bool retry = rd_kafka_error_is_retriable(error);
                        rd_kafka_error_destroy(error);
                        if (!retry)
                                break;
                }
                if (!clean)
                        tecg_log_notice(FAC, "the open transaction was not aborted: the broker "
                                             "aborts it when the next instance starts or "
                                             "after transaction.timeout.ms");
        }
        if (agg->consumer_queue)
                rd_kafka_queue_destroy(agg->consumer_queue);
        if (agg->consumer)
                consumer_close(agg, agg->consumer, deadline);
        if (agg->restorer)
                consumer_close(agg, agg->restorer, deadline);
        if (agg->producer) {
                int64_t left = deadline - tecg_mono_ms();
                if (clean && left > 0)
                        rd_kafka_flush(agg->producer, (int)left);
                rd_kafka_purge(agg->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_destroy(agg->producer);
        }
        if (agg->producer_conf)
                rd_kafka_conf_destroy(agg->producer_conf);
        if (agg->consumer_conf)
                rd_kafka_conf_destroy(agg->consumer_conf);
        ctx_drop_all(agg);
        free(agg->parts);
        tecg_workers_destroy(agg->workers);
        free(agg->verified);
        tecg_idstore_close(agg->store);
        if (agg->store_tmpdir)
                store_tmpdir_remove(agg->store_tmpdir);
        free(agg->store_tmpdir);
        tecg_state_codec_destroy(agg->state_codec);
        tecg_avro_destroy(agg->avro);
        tecg_registry_destroy(agg->registry);
        tecg_buf_free(&agg->buf);
        for (int i = 0; i < IN__COUNT; i++)
                free(agg->topic_in[i]);
        free(agg->topic_state);
        free(agg->topic_ids);
        free(agg->topic_dead);
        free(agg);
}

void tecg_aggregator_stats(const tecg_aggregator_t *agg, tecg_aggregator_stats_t *out) {
        *out = agg->stats;
        out->nations = 0;
        for (size_t i = 0; i < agg->nparts; i++)
                if (agg->parts[i])
                        out->nations += agg->parts[i]->nnations;
        tecg_idstore_stats(agg->store, &out->seen_ids, &out->seen_bytes);
        out->signature_checks = tecg_event_sig_checks();
}

/* librdkafka reports that every broker is down but not that one is back:
 * while down, a metadata request (brokers only) every HEALTH_PROBE_MS,
 * waiting at most HEALTH_PROBE_WAIT_MS, tells. */
#define HEALTH_PROBE_MS 5000
#define HEALTH_PROBE_WAIT_MS 500

void tecg_aggregator_health(tecg_aggregator_t *agg, tecg_aggregator_health_t *out) {
        rd_kafka_topic_partition_list_t *parts = NULL;
        int64_t now = tecg_mono_ms();
        memset(out, 0, sizeof(*out));
        out->assigned_once = agg->assigned_once;
        out->recovering = agg->recover || agg->renew_producer || agg->renew_consumer;
        if (agg->down_since_ms && now >= agg->next_probe_ms && agg->consumer) {
                const struct rd_kafka_metadata *md = NULL;
                agg->next_probe_ms = now + HEALTH_PROBE_MS;
                if (rd_kafka_metadata(agg->consumer, 0, NULL, &md, HEALTH_PROBE_WAIT_MS) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR)
                        agg->down_since_ms = 0;
                if (md)
                        rd_kafka_metadata_destroy(md);
        }
        out->down_ms = agg->down_since_ms ? tecg_mono_ms() - agg->down_since_ms : 0;
        if (!agg->consumer || rd_kafka_assignment(agg->consumer, &parts) || !parts)
                return;
        out->assigned = parts->cnt;
        /* Cached figures only (the last fetch's high watermark), so this
         * never waits for Kafka. */
        if (rd_kafka_position(agg->consumer, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                for (int i = 0; i < parts->cnt; i++) {
                        rd_kafka_topic_partition_t *tp = &parts->elems[i];
                        int64_t low = 0, high = 0;
                        if (!ctx_get(agg, tp->partition))
                                out->unrestored++;
                        if (rd_kafka_get_watermark_offsets(agg->consumer, tp->topic, tp->partition,
                                                           &low, &high) ||
                            high < 0)
                                continue;
                        /* No position yet: behind by all there is. */
                        int64_t pos = tp->offset >= 0 ? tp->offset : low;
                        if (high > pos)
                                out->lag += high - pos;
                }
        }
        rd_kafka_topic_partition_list_destroy(parts);
}
