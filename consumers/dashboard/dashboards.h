/* The dashboard engine: follows tecg.nation-state, composes the funding,
 * staffing and training documents (compose.c) and publishes every change:
 *
 *   tecg.nation-state ──▶ latest state per nation ──▶ compose ──▶ changed?
 *        (all partitions, read_committed)                          │ version + 1
 *                                                    signed once ──┤
 *                       docstore (HTTP API, SSE) ◀──────────────────┤
 *                       push sinks (HTTP POST)   ◀──────────────────┤
 *                       tecg.dashboards (compacted, key = name) ◀───┘
 *
 * Versions survive restarts: at start the last document of each dashboard
 * is read back from tecg.dashboards, and a new version is published only
 * when the content differs from it. Documents are composed only once the
 * whole of nation-state has been read, so a restart never publishes a
 * half-loaded picture. */
#ifndef TECG_DASHBOARDS_H
#define TECG_DASHBOARDS_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "compose.h"
#include "buf.h"
#include "conf.h"
#include "docstore.h"
#include "err.h"
#include "mission.h"
#include "refdata.h"
#include "sign.h"

/* Called for every new version (main thread): hand it to the sinks. With
 * publish_topic, once tecg.dashboards has acknowledged the version (from
 * run_once(), flush() or destroy()), never before, and not at all for a
 * version the topic refused (its content becomes the next version).
 * signature is the version's Tecg-Signature value (docsign.h), NULL when
 * documents are not signed. */
typedef void(tecg_dashboards_publish_cb)(const char *name, uint64_t version, const char *json,
                                         size_t len, const char *signature, void *opaque);

typedef struct {
        const char *topic_prefix;
        const tecg_nations_t *nations;          /* borrowed; may be replaced
                                                 * (tecg_dashboards_nations_changed()) */
        const tecg_mission_t *mission;          /* borrowed */
        tecg_docstore_t *store;                 /* borrowed; every version goes here */
        tecg_dashboards_publish_cb *publish_cb; /* may be NULL */
        /* Signs every version (docs/design.md §9.2); NULL: unsigned, for
         * security.signing=off. Borrowed. */
        const tecg_sign_key_t *sign_key;
        void *opaque;
        bool publish_topic; /* write tecg.dashboards */
        /* The ceiling of the coalescing window (coalesce.h): a change
         * that comes alone is composed at once, changes that keep arriving
         * wait at most this long. */
        int compose_interval_ms;
        int load_timeout_ms; /* reading tecg.dashboards at start */
        /* The daemon's stop flag (may be NULL): start-up gives up waiting
         * for Kafka once it is set. Borrowed. */
        const volatile int *stop;
        /* Wall clock in ms since the epoch for "generated_at" and the
         * overdue check; NULL: tecg_wall_ms(). Tests inject theirs. Called
         * on the engine's thread and, through tecg_dashboards_metrics(),
         * on HTTP threads. */
        int64_t (*clock_ms)(void *clock_opaque);
        void *clock_opaque;
        /* How often documents are recomposed with nothing received, so
         * that a nation turns overdue with time alone; 0: 60000. */
        int recheck_interval_ms;
} tecg_dashboards_options_t;

typedef struct {
        uint64_t states_received; /* nation-state records read */
        uint64_t undecodable;     /* records that could not be read */
        uint64_t compositions;
        uint64_t versions[TECG_DASH__COUNT]; /* current version per dashboard */
        uint64_t published;                  /* new versions published */
        bool caught_up;                      /* nation-state read to its end and the
                                              * documents composed from it */
        int64_t last_change_ms;              /* wall clock of the last new version */
} tecg_dashboards_stats_t;

typedef struct tecg_dashboards tecg_dashboards_t;

/* Connects, reads back the last published documents and starts following
 * nation-state from its beginning. The kafka.* keys of `conf` go to both
 * clients (tecg_kafka_conf_new()). NULL with errstr on failure. */
tecg_dashboards_t *tecg_dashboards_new(const tecg_conf_t *conf,
                                       const tecg_dashboards_options_t *opts, char *errstr,
                                       size_t errstr_size);

/* Waits at most timeout_ms for the first nation state (less when a
 * composition is due sooner), takes what else has arrived without
 * waiting, and composes and publishes what changed when the coalescer
 * says so (coalesce.h: at once for a change that comes alone).
 * TECG_ERR_KAFKA, with librdkafka's reason in errstr, once the consumer or
 * the producer has raised a fatal error (rd_kafka_fatal_error()): the
 * engine cannot go on and the daemon exits (status 1) to be restarted.
 * Other Kafka errors (a broker down, a partition moving) are logged and
 * retried by librdkafka. States of nations not in the list are shown as
 * "unlisted" (compose.h), never dropped; undecodable records are counted
 * and skipped. */
tecg_err_t tecg_dashboards_run_once(tecg_dashboards_t *d, int timeout_ms, char *errstr,
                                    size_t errstr_size);

/* Thread-safe copy of the counters (the HTTP threads read them). */
void tecg_dashboards_stats(tecg_dashboards_t *d, tecg_dashboards_stats_t *out);

/* Appends the reporting metrics (Prometheus text, docs/design.md §5.8) of
 * the nations as last composed, measured against the clock now:
 *   tecg_dashboard_nation_overdue{nation}               0/1, over all types
 *   tecg_dashboard_nation_report_age_seconds{nation}    since the latest report
 *   tecg_dashboard_report_overdue{nation,type}          0/1 per event type
 *   tecg_dashboard_report_age_seconds{nation,type}
 * (no age sample for what was never reported). Thread-safe. */
void tecg_dashboards_metrics(tecg_dashboards_t *d, tecg_buf_t *out);

/* The view of listed nation `code` (nation_view.h) at the engine's clock,
 * appended to out: 200, 404 for a nation not in the list, 500 when out of
 * memory. Before the states are read to their end it shows what has been
 * read. Thread-safe (the HTTP threads call it). */
int tecg_dashboards_nation_view(tecg_dashboards_t *d, const char *code, tecg_buf_t *out);

/* After tecg_nations_replace() on opts.nations (a reload): the states
 * follow the new list, under the lock the HTTP threads read them with. A
 * nation that left keeps its state, shown as "unlisted" (logged); a state
 * that was unlisted and whose nation joined is listed again. The documents
 * are composed again. Engine thread only. */
void tecg_dashboards_nations_changed(tecg_dashboards_t *d);

/* Waits at most timeout_ms for the writes to tecg.dashboards, so that the
 * versions they carry reach publish_cb: call it before stopping the
 * sinks. */
void tecg_dashboards_flush(tecg_dashboards_t *d, int timeout_ms);

/* For tests only: the engine's consumer, or its producer (NULL unless
 * publish_topic), so that a unit test can raise a fatal error with
 * rd_kafka_test_fatal_error(), which no mock broker answer provokes.
 * Borrowed: the engine keeps and destroys it. */
rd_kafka_t *tecg_dashboards_kafka_handle(tecg_dashboards_t *d, bool producer);

/* Flushes tecg.dashboards writes for at most timeout_ms (what is left is
 * logged and dropped: the next version is written anyway) and frees.
 * Never waits for Kafka beyond timeout_ms. NULL ok. */
void tecg_dashboards_destroy(tecg_dashboards_t *d, int timeout_ms);

#endif
