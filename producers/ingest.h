/* From input lines to Kafka: each line of a spool file (or stdin) is
 * validated, encoded in Avro and handed to the publisher; a bad line is
 * written to rejected/ with its number and reason. A batch (one file) is
 * finished once every line is either acknowledged by Kafka or rejected:
 * only then is the file moved to done/ (docs/design.md §2).
 *
 *   lines == delivered + rejected, for every finished batch.
 *
 * The spool directory, the files held back after a failure and the writer
 * of rejected/ are spool.h's; ingest decides what to hold and when. The
 * encoded events go to a sink: the Kafka publisher (publisher.h) in the
 * daemon, a capture in tests and fuzz targets. */
#ifndef TECG_INGEST_H
#define TECG_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "publisher.h"
#include "refdata.h"
#include "spool.h"
#include "validate.h"

typedef struct tecg_ingest tecg_ingest_t;

/* What the producer accepts from one input, and how it retries. */
typedef struct {
        /* limits.line.bytes, limits.json.depth, limits.string.bytes. A line
         * longer than max_line_bytes is never read into memory whole: it is
         * rejected and rejected/NAME.ndjson gets its first
         * TECG_INGEST_TOO_LONG_KEEP bytes. */
        tecg_validate_limits_t validate;
        /* limits.file.lines: lines of a spool file after this many are
         * rejected unread (not sent), so they can be sent again in another
         * file; 0 = no limit. Streams (stdin) have no limit. */
        uint64_t max_file_lines;
        /* spool.retry.interval.ms: how long a spool file that failed
         * (unreadable, rejected/ or done/ not writable) waits before it is
         * tried again. tecg_ingest_new() sets it on the spool. */
        int64_t retry_interval_ms;
        /* The nation's signing key (borrowed, outlives the ingest): every
         * event published is signed with it; NULL = unsigned (only with
         * security.signing=off, docs/design.md §9.1). */
        const tecg_sign_key_t *signing_key;
        /* security.signing.seal.ms: how long a signed event may wait for
         * others to share its seal (docs/design.md §9.1). */
        int64_t seal_window_ms;
} tecg_ingest_opts_t;

#define TECG_INGEST_TOO_LONG_KEEP 4096

typedef struct {
        uint64_t files_done;
        uint64_t lines, delivered, rejected;
} tecg_ingest_stats_t;

/* Where ingest hands the encoded events. Copied by
 * tecg_ingest_new_with_sink(); `ctx` is borrowed and must outlive the
 * ingest. */
typedef struct {
        /* Queues one message (the payload is the sink's to copy).
         *   TECG_OK           `opaque` and `line` come back in exactly one
         *                     later call of tecg_ingest_ack(), made from
         *                     poll() or even from inside this send();
         *   TECG_ERR_INVALID  refused for good, reason in errstr: no ack,
         *                     the line is rejected with that reason;
         *   anything else     not sent for now (shutdown, Kafka trouble):
         *                     the batch stops there, reason in errstr. */
        tecg_err_t (*send)(void *ctx, tecg_topic_t topic, const void *payload, size_t len,
                           void *opaque, uint64_t line, char *errstr, size_t errstr_size);
        /* Serves acknowledgements, waiting up to timeout_ms for them. */
        void (*poll)(void *ctx, int timeout_ms);
        void *ctx;
        /* Optional: whether the sink takes messages now (TECG_OK), else
         * TECG_ERR_RETRY with the reason; NULL = always. */
        tecg_err_t (*ready)(void *ctx, char *errstr, size_t errstr_size);
        /* Milliseconds until poll() has a seal to make (-1: none); NULL =
         * never. */
        int (*seal_due_ms)(void *ctx);
        /* A spool file or stdin was read to its end (or stopped): what
         * waits to be sealed need not wait; NULL = nothing to do. */
        void (*input_ended)(void *ctx);
} tecg_ingest_sink_t;

/* What one request of the HTTP input learns about its lines (see
 * tecg_ingest_request()). Called on the thread that calls ingest. */
typedef struct {
        /* A valid line was handed to the sink: its event_id. */
        void (*sent)(void *ctx, uint64_t line, const char *event_id);
        /* The final word on a line: delivered (reason NULL) or rejected. */
        void (*outcome)(void *ctx, uint64_t line, bool delivered, const char *reason);
        /* The batch is finished: every line read has its outcome, unless
         * `complete` is false (a stop or Kafka trouble cut it short, or the
         * ingest was destroyed with lines unacknowledged). Called once. */
        void (*done)(void *ctx, bool complete);
        void *ctx;
} tecg_ingest_report_t;

/* `nations`, `spool` (may be NULL: stdin only, rejections go to the log)
 * and `stop` are borrowed and must outlive the ingest; `opts` is copied.
 * The sink is the Kafka publisher, built from the kafka.* keys of `conf`
 * and owned by the ingest. */
tecg_ingest_t *tecg_ingest_new(const tecg_conf_t *conf, const char *topic_prefix,
                               const tecg_nations_t *nations, const char *nation,
                               tecg_spool_t *spool, const tecg_ingest_opts_t *opts,
                               const volatile int *stop, char *errstr, size_t errstr_size);

/* The same with another sink (see tecg_ingest_sink_t), for tests and fuzz
 * targets: no Kafka involved. */
tecg_ingest_t *tecg_ingest_new_with_sink(const tecg_ingest_sink_t *sink,
                                         const tecg_nations_t *nations, const char *nation,
                                         tecg_spool_t *spool, const tecg_ingest_opts_t *opts,
                                         const volatile int *stop, char *errstr,
                                         size_t errstr_size);

/* The acknowledgement of one message the sink took (a
 * tecg_publisher_ack_cb): err 0 = delivered, else refused for good with a
 * one-line reason, written to rejected/ like any other. */
void tecg_ingest_ack(void *opaque, uint64_t line, rd_kafka_resp_err_t err, const char *reason);

/* From now on, frames messages in the Confluent wire format (00 + schema
 * id + body) with the ids the registry at `url` gives the two event schemas
 * (subjects <topic>-value). TECG_ERR_IO when the registry cannot be asked. */
tecg_err_t tecg_ingest_use_registry(tecg_ingest_t *ing, const char *url, const char *topic_prefix,
                                    char *errstr, size_t errstr_size);

/* Limits for the lines read from now on (a SIGHUP's limits.*): a new
 * validator replaces the one in use, between two files or requests; the
 * file being read, if any, finished under the old ones. Changes nothing
 * and says why when the limits are not all > 0. Same thread as the
 * readers below. */
tecg_err_t tecg_ingest_set_limits(tecg_ingest_t *ing, const tecg_validate_limits_t *limits,
                                  uint64_t max_file_lines, char *errstr, size_t errstr_size);

/* Discards whatever is still outstanding (call tecg_ingest_drain first);
 * logs the batches left unfinished. NULL ok. */
void tecg_ingest_destroy(tecg_ingest_t *ing);

/* Reads every line of spool file incoming/NAME and sends it. Returns once
 * the whole file is queued (or a stop was requested); acknowledgements
 * arrive later through tecg_ingest_poll().
 *
 * A file that cannot be taken now (not a regular file, unreadable, a read
 * error, rejected/ not writable, the move to done/ failing) stays in
 * incoming/ and is held back for opts.retry_interval_ms: the reason is
 * logged when it first happens or changes, and every 10 minutes while it
 * lasts. When only the move to done/ failed, the retry only moves the file
 * (if it is still the same file) instead of sending it again. */
tecg_err_t tecg_ingest_spool_file(tecg_ingest_t *ing, const char *name, char *errstr,
                                  size_t errstr_size);

/* Reads `fd` to its end as one batch named `name` (e.g. "stdin").
 * Both readers return TECG_ERR_RETRY when a stop cut the input short. */
tecg_err_t tecg_ingest_stream(tecg_ingest_t *ing, const char *name, int fd, char *errstr,
                              size_t errstr_size);

/* Reads `fd` to its end as one batch named `name` for the HTTP input: as a
 * stream (same validator, reasons and counters), but each line's fate goes
 * to `report` instead of rejected/ files (the client gets the reasons in
 * its answer). report->done may be called before this returns. */
tecg_err_t tecg_ingest_request(tecg_ingest_t *ing, const char *name, int fd,
                               const tecg_ingest_report_t *report, char *errstr,
                               size_t errstr_size);

/* Whether the sink takes messages now (tecg_publisher_ready()). */
tecg_err_t tecg_ingest_ready(tecg_ingest_t *ing, char *errstr, size_t errstr_size);

/* True while spool file NAME is being sent, or is held back after a
 * failure (it will be retried later), so a scan must not start it again. */
bool tecg_ingest_is_busy(tecg_ingest_t *ing, const char *name);

/* Serves acknowledgements and finishes the batches that are complete. */
void tecg_ingest_poll(tecg_ingest_t *ing, int timeout_ms);

/* Waits until every batch is finished or timeout_ms passed; TECG_ERR_RETRY
 * when messages are still unacknowledged. */
tecg_err_t tecg_ingest_drain(tecg_ingest_t *ing, int timeout_ms);

/* Messages the sink took and has not acknowledged yet. */
uint64_t tecg_ingest_outstanding(const tecg_ingest_t *ing);
void tecg_ingest_stats(const tecg_ingest_t *ing, tecg_ingest_stats_t *out);

#endif
