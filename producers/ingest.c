#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "avro_codec.h"
#include "buf.h"
#include "clock.h"
#include "framing.h"
#include "linereader.h"
#include "log.h"
#include "publisher.h"
#include "registry.h"
#include "validate.h"

#define FAC "ingest"
#define REJECTIONS_LOGGED_PER_FILE 5

/* One input unit: a spool file or a stream. */
typedef struct batch {
        struct batch *next;
        struct tecg_ingest *ing;
        char *name; /* spool file name, or stream label */
        bool from_spool;
        tecg_spool_file_id_t id; /* spool file: what was opened */
        uint64_t lines;          /* read so far */
        uint64_t delivered;      /* acknowledged by Kafka */
        uint64_t rejected;       /* invalid, or refused by Kafka */
        uint64_t pending;        /* sent, not yet acknowledged */
        bool sealed;             /* nothing more will be read */
        bool incomplete;         /* stopped before the end: keep in incoming/ */
        bool retry;              /* a held file tried again: its rejections
                                  * were logged at an earlier attempt */
        char *failure;           /* why it cannot finish (read error,
                                  * rejected/ not writable): hold, retry */
        /* The failure came at a line boundary: lines 1..lines are accounted
         * for, so a retry of the same file can resume after them. */
        bool resumable;
        bool write_failed; /* writing rejected/ failed while reading */
        uint64_t skip;     /* resumed: lines already accounted for */
        /* rejected/NAME.errors + NAME.ndjson, made at the first rejection
         * (at the start when resuming). Everything added to it is flushed
         * before the next line is sent (batch_flush_rejects()). */
        tecg_spool_rejects_t *rejects;
        /* An HTTP request: outcomes go here, not to rejected/. */
        tecg_ingest_report_t report;
        bool reported;     /* report.done was called */
        uint64_t *refused; /* line numbers Kafka refused at delivery */
        size_t nrefused, refused_cap;
        time_t started;
} batch_t;

struct tecg_ingest {
        const tecg_nations_t *nations;
        char nation[4];
        tecg_spool_t *spool;
        const volatile int *stop;
        tecg_ingest_opts_t opts;
        tecg_validator_t *validator;
        tecg_avro_t *avro;
        tecg_ingest_sink_t sink;
        tecg_publisher_t *pub; /* owned, when the sink is the publisher */
        tecg_buf_t encoded;
        bool confluent;                        /* Confluent framing with registry ids */
        uint32_t schema_ids[TECG_EV__COUNTED]; /* by type; a retraction's by topic: */
        uint32_t retraction_ids[TECG_TOPIC__COUNT];
        batch_t *batches;
        uint64_t outstanding; /* sent, not yet acknowledged */
        tecg_ingest_stats_t stats;
};

/* ---- rejected/ -------------------------------------------------------- */

/* A stream has no file of its own in rejected/: name one after the time. */
static void stream_rejected_name(batch_t *b) {
        if (b->from_spool || strchr(b->name, '.'))
                return;
        char stamp[32], *name;
        time_t t = b->started;
        struct tm tm;
        /* Seconds since the epoch for a time gmtime_r() cannot render. */
        if (!gmtime_r(&t, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                snprintf(stamp, sizeof(stamp), "%lld", (long long)t);
        if (asprintf(&name, "%s-%s-%d.ndjson", b->name, stamp, (int)getpid()) >= 0) {
                free(b->name);
                b->name = name;
        }
}

/* Whether the batch's rejections go to rejected/ files: a spool's, not an
 * HTTP request's (its client gets every reason in the answer). */
static bool batch_keeps_rejects(const tecg_ingest_t *ing, const batch_t *b) {
        return ing->spool && !b->report.ctx;
}

/* Marks the batch as unable to finish (the first reason wins). */
static void batch_fail(batch_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void batch_fail(batch_t *b, const char *fmt, ...) {
        if (b->failure)
                return;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&b->failure, fmt, ap) < 0)
                b->failure = strdup("out of memory");
        va_end(ap);
}

/* Records one rejected line: the log, and with a spool directory its
 * rejected/ files (the line itself when known: not for an acknowledgement).
 * Into the writer's buffers only: batch_flush_rejects() makes them reach
 * the files before the next line is sent, so a full disk stops the file
 * before anything more goes out, and one write serves a run of rejected
 * lines. */
static void batch_reject(tecg_ingest_t *ing, batch_t *b, uint64_t line, const char *raw,
                         size_t raw_len, const char *reason) {
        char why[PATH_MAX + 128];
        b->rejected++;
        ing->stats.rejected++;
        bool files = batch_keeps_rejects(ing, b);
        int level = !b->retry && (!files || b->rejected <= REJECTIONS_LOGGED_PER_FILE)
                            ? TECG_LOG_NOTICE
                            : TECG_LOG_DEBUG;
        if (b->report.ctx && b->rejected > REJECTIONS_LOGGED_PER_FILE)
                level = TECG_LOG_DEBUG; /* the client has every reason */
        tecg_log(level, FAC, "%s:%llu: rejected: %s", b->name, (unsigned long long)line, reason);
        if (b->report.outcome)
                b->report.outcome(b->report.ctx, line, false, reason);
        if (!files || b->failure)
                return;

        stream_rejected_name(b);
        if (!b->rejects && !(b->rejects = tecg_spool_rejects_new(ing->spool, b->name, NULL))) {
                /* Not recorded, so not accounted for: a line read just now
                 * is read again by the retry. */
                batch_fail(b, "out of memory");
                if (raw) {
                        b->rejected--;
                        ing->stats.rejected--;
                        b->write_failed = true;
                }
                return;
        }
        if (tecg_spool_rejects_add(b->rejects, line, raw, raw_len, reason, why, sizeof(why))) {
                batch_fail(b, "%s", why);
                b->write_failed = raw != NULL;
        }
}

/* Hands the buffered rejections to the files (see batch_reject()). False
 * when that failed: b->failure says why. */
static bool batch_flush_rejects(batch_t *b) {
        char why[PATH_MAX + 128];
        if (b->failure)
                return false;
        if (!b->rejects)
                return true;
        if (tecg_spool_rejects_flush(b->rejects, why, sizeof(why))) {
                batch_fail(b, "%s", why);
                b->write_failed = true;
                return false;
        }
        return true;
}

static int u64_cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* Kafka refused some lines after they were sent: copy those lines from the
 * input into rejected/NAME.ndjson, so the rejected file is complete. */
static void copy_refused_lines(tecg_ingest_t *ing, batch_t *b) {
        char path[PATH_MAX], why[PATH_MAX + 128];
        if (!b->nrefused || !b->from_spool || b->failure || !b->rejects)
                return;
        if (tecg_spool_rejects_open(b->rejects, why, sizeof(why))) {
                batch_fail(b, "%s", why);
                return;
        }
        /* Acks of the two topics arrive interleaved: put them in order. */
        qsort(b->refused, b->nrefused, sizeof(*b->refused), u64_cmp);
        tecg_spool_incoming_path(ing->spool, b->name, path, sizeof(path));
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        tecg_linereader_t *r = fd >= 0 ? tecg_linereader_new(fd, ing->opts.validate.max_line_bytes,
                                                             TECG_INGEST_TOO_LONG_KEEP)
                                       : NULL;
        if (!r) {
                batch_fail(b,
                           "cannot read %s again to copy the lines Kafka "
                           "refused: %s",
                           path, fd < 0 ? strerror(errno) : "out of memory");
                goto done;
        }
        size_t next = 0;
        uint64_t lineno = 0;
        tecg_line_t L;
        tecg_err_t err;
        while (next < b->nrefused &&
               ((err = tecg_linereader_next(r, &L, why, sizeof(why))) == TECG_OK ||
                err == TECG_ERR_RETRY)) {
                if (err == TECG_ERR_RETRY || ++lineno != b->refused[next])
                        continue;
                next++;
                if (tecg_spool_rejects_copy_line(b->rejects, L.data, L.len, why, sizeof(why))) {
                        batch_fail(b, "%s", why);
                        goto done;
                }
        }
        if (next < b->nrefused)
                batch_fail(b,
                           "%s changed while it was sent: line %llu, refused by "
                           "Kafka, is not there any more",
                           path, (unsigned long long)b->refused[next]);
done:
        tecg_linereader_destroy(r);
        if (fd >= 0)
                close(fd);
}

/* ---- batches ---------------------------------------------------------- */

static batch_t *batch_new(tecg_ingest_t *ing, const char *name, bool from_spool) {
        batch_t *b = calloc(1, sizeof(*b));
        if (!b || !(b->name = strdup(name))) {
                free(b);
                return NULL;
        }
        b->ing = ing;
        b->from_spool = from_spool;
        b->started = time(NULL);
        b->next = ing->batches;
        ing->batches = b;
        return b;
}

static void batch_free(batch_t *b) {
        if (!b)
                return;
        tecg_spool_rejects_destroy(b->rejects);
        free(b->refused);
        free(b->failure);
        free(b->name);
        free(b);
}

static void log_file_done(tecg_ingest_t *ing, const char *name, uint64_t lines, uint64_t delivered,
                          uint64_t rejected, bool files) {
        char where[PATH_MAX + 32] = "";
        if (rejected && files) {
                char path[PATH_MAX];
                tecg_spool_rejected_path(ing->spool, name, ".errors", path, sizeof(path));
                snprintf(where, sizeof(where), " (reasons in %s)", path);
        }
        tecg_log_info(FAC, "%s: %llu lines, %llu delivered, %llu rejected%s", name,
                      (unsigned long long)lines, (unsigned long long)delivered,
                      (unsigned long long)rejected, where);
}

/* Moves a spool file whose every line is accounted for to done/; on
 * failure the spool holds it back for a move-only retry. */
static void spool_file_done(tecg_ingest_t *ing, const char *name,
                            const tecg_spool_progress_t *done) {
        if (tecg_spool_complete(ing->spool, name, done))
                return;
        ing->stats.files_done++;
        log_file_done(ing, name, done->lines, done->delivered, done->rejected, true);
}

/* Called when a sealed batch has nothing pending: record and move on. */
static void batch_finish(tecg_ingest_t *ing, batch_t *b) {
        char why[PATH_MAX + 128];
        tecg_spool_progress_t progress = {
                .how = TECG_SPOOL_RETRY_ALL,
                .id = b->id,
                .lines = b->lines,
                .delivered = b->delivered,
                .rejected = b->rejected,
        };
        copy_refused_lines(ing, b);
        if (b->rejects) {
                if (tecg_spool_rejects_close(b->rejects, why, sizeof(why)))
                        batch_fail(b, "%s", why);
                tecg_spool_rejects_pos(b->rejects, &progress.rejects);
        }

        if (b->failure && b->from_spool) {
                /* Resume after the lines accounted for, unless Kafka refused
                 * some of them (their copies in rejected/ were not made). */
                bool resume =
                        b->resumable && b->nrefused == 0 && b->lines == b->delivered + b->rejected;
                char detail[200];
                if (resume)
                        snprintf(detail, sizeof(detail),
                                 "stopped at line %llu (%llu "
                                 "delivered, %llu rejected before it); the next attempt "
                                 "starts there",
                                 (unsigned long long)b->lines + 1, (unsigned long long)b->delivered,
                                 (unsigned long long)b->rejected);
                else
                        snprintf(detail, sizeof(detail),
                                 "stopped after line %llu (%llu "
                                 "delivered, %llu rejected); the next attempt sends it "
                                 "from its first line",
                                 (unsigned long long)b->lines, (unsigned long long)b->delivered,
                                 (unsigned long long)b->rejected);
                progress.how = resume ? TECG_SPOOL_RETRY_RESUME : TECG_SPOOL_RETRY_ALL;
                progress.was_read = true;
                tecg_spool_hold(ing->spool, b->name, b->failure, detail, &progress);
                return;
        }
        if (b->incomplete || b->failure) {
                tecg_log_warn(FAC,
                              "%s: %s after %llu lines (%llu delivered, "
                              "%llu rejected); %s",
                              b->name, b->failure ? b->failure : "stopped",
                              (unsigned long long)b->lines, (unsigned long long)b->delivered,
                              (unsigned long long)b->rejected,
                              b->from_spool ? "the file stays in incoming/ and "
                                              "will be sent again"
                                            : "the stream is incomplete");
                return;
        }
        if (b->lines != b->delivered + b->rejected)
                tecg_log_err(FAC,
                             "%s: BUG: %llu lines but %llu delivered + "
                             "%llu rejected",
                             b->name, (unsigned long long)b->lines,
                             (unsigned long long)b->delivered, (unsigned long long)b->rejected);
        if (!b->from_spool) {
                log_file_done(ing, b->name, b->lines, b->delivered, b->rejected,
                              batch_keeps_rejects(ing, b));
                return;
        }
        if (b->rejected == 0) /* what an earlier attempt rejected is stale */
                tecg_spool_rejects_remove(ing->spool, b->name);
        spool_file_done(ing, b->name, &progress);
}

static void batch_report_done(batch_t *b, bool complete) {
        if (b->report.done && !b->reported) {
                b->reported = true;
                b->report.done(b->report.ctx, complete);
        }
}

static void finish_complete_batches(tecg_ingest_t *ing) {
        batch_t **pp = &ing->batches;
        while (*pp) {
                batch_t *b = *pp;
                if (b->sealed && b->pending == 0) {
                        *pp = b->next;
                        batch_finish(ing, b);
                        batch_report_done(b, !b->incomplete && !b->failure);
                        batch_free(b);
                } else {
                        pp = &b->next;
                }
        }
}

/* The sink's acknowledgement: the final word on one line. */
void tecg_ingest_ack(void *opaque, uint64_t line, rd_kafka_resp_err_t err, const char *reason) {
        batch_t *b = opaque;
        tecg_ingest_t *ing = b->ing;
        b->pending--;
        ing->outstanding--;
        if (!err) {
                b->delivered++;
                ing->stats.delivered++;
                if (b->report.outcome)
                        b->report.outcome(b->report.ctx, line, true, NULL);
                return;
        }
        /* Remember the number: the line itself is copied from the input
         * into rejected/ when the batch finishes. */
        if (b->nrefused == b->refused_cap) {
                size_t cap = b->refused_cap ? b->refused_cap * 2 : 16;
                uint64_t *r = realloc(b->refused, cap * sizeof(*r));
                if (!r) {
                        batch_fail(b, "out of memory");
                        return;
                }
                b->refused = r;
                b->refused_cap = cap;
        }
        b->refused[b->nrefused++] = line;
        batch_reject(ing, b, line, NULL, 0, reason ? reason : "refused");
}

/* ---- public ----------------------------------------------------------- */

/* The daemon's sink: the Kafka publisher. */
static tecg_err_t publisher_sink_send(void *ctx, tecg_topic_t topic, const void *payload,
                                      size_t len, void *opaque, uint64_t line, char *errstr,
                                      size_t errstr_size) {
        return tecg_publisher_send(ctx, topic, payload, len, opaque, line, errstr, errstr_size);
}

static void publisher_sink_poll(void *ctx, int timeout_ms) {
        tecg_publisher_poll(ctx, timeout_ms);
}

static int publisher_sink_seal_due_ms(void *ctx) {
        return tecg_publisher_seal_due_ms(ctx);
}

static void publisher_sink_input_ended(void *ctx) {
        tecg_publisher_seal_now(ctx);
}

static tecg_err_t publisher_sink_ready(void *ctx, char *errstr, size_t errstr_size) {
        return tecg_publisher_ready(ctx, errstr, errstr_size);
}

tecg_ingest_t *tecg_ingest_new_with_sink(const tecg_ingest_sink_t *sink,
                                         const tecg_nations_t *nations, const char *nation,
                                         tecg_spool_t *spool, const tecg_ingest_opts_t *opts,
                                         const volatile int *stop, char *errstr,
                                         size_t errstr_size) {
        tecg_ingest_t *ing = calloc(1, sizeof(*ing));
        if (!ing) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                return NULL;
        }
        ing->nations = nations;
        snprintf(ing->nation, sizeof(ing->nation), "%s", nation);
        ing->spool = spool;
        ing->stop = stop;
        ing->opts = *opts;
        if (sink)
                ing->sink = *sink;
        if (spool)
                tecg_spool_set_retry_interval(spool, opts->retry_interval_ms);
        if (!(ing->validator =
                      tecg_validator_new(nations, nation, &opts->validate, errstr, errstr_size)) ||
            !(ing->avro = tecg_avro_new(errstr, errstr_size))) {
                tecg_ingest_destroy(ing);
                return NULL;
        }
        return ing;
}

tecg_ingest_t *tecg_ingest_new(const tecg_conf_t *conf, const char *topic_prefix,
                               const tecg_nations_t *nations, const char *nation,
                               tecg_spool_t *spool, const tecg_ingest_opts_t *opts,
                               const volatile int *stop, char *errstr, size_t errstr_size) {
        tecg_ingest_t *ing = tecg_ingest_new_with_sink(NULL, nations, nation, spool, opts, stop,
                                                       errstr, errstr_size);
        if (!ing)
                return NULL;
        if (!(ing->pub = tecg_publisher_new(conf, topic_prefix, nation, tecg_ingest_ack, errstr,
                                            errstr_size))) {
                tecg_ingest_destroy(ing);
                return NULL;
        }
        tecg_publisher_set_stop_flag(ing->pub, stop);
        tecg_publisher_set_signing_key(ing->pub, opts->signing_key);
        tecg_publisher_set_seal_window(ing->pub, opts->seal_window_ms);
        ing->sink = (tecg_ingest_sink_t){.send = publisher_sink_send,
                                         .poll = publisher_sink_poll,
                                         .seal_due_ms = publisher_sink_seal_due_ms,
                                         .input_ended = publisher_sink_input_ended,
                                         .ready = publisher_sink_ready,
                                         .ctx = ing->pub};
        return ing;
}

tecg_err_t tecg_ingest_set_limits(tecg_ingest_t *ing, const tecg_validate_limits_t *limits,
                                  uint64_t max_file_lines, char *errstr, size_t errstr_size) {
        tecg_validator_t *v =
                tecg_validator_new(ing->nations, ing->nation, limits, errstr, errstr_size);
        if (!v)
                return TECG_ERR_CONFIG;
        tecg_validator_destroy(ing->validator);
        ing->validator = v;
        ing->opts.validate = *limits;
        ing->opts.max_file_lines = max_file_lines;
        return TECG_OK;
}

void tecg_ingest_destroy(tecg_ingest_t *ing) {
        if (!ing)
                return;
        for (batch_t *b = ing->batches; b;) {
                batch_t *next = b->next;
                tecg_log_warn(FAC, "%s: %llu lines not acknowledged at exit; %s", b->name,
                              (unsigned long long)b->pending,
                              b->from_spool ? "the file stays in incoming/ and "
                                              "will be sent again"
                                            : "they may be lost");
                batch_report_done(b, false);
                batch_free(b);
                b = next;
        }
        tecg_publisher_destroy(ing->pub);
        tecg_avro_destroy(ing->avro);
        tecg_validator_destroy(ing->validator);
        tecg_buf_free(&ing->encoded);
        free(ing);
}

/* Validates, encodes and sends one line (without its '\n'). Returns
 * TECG_ERR_RETRY when the line could not be sent for now (shutdown or
 * Kafka trouble): the batch is then incomplete. */
static tecg_err_t ingest_line(tecg_ingest_t *ing, batch_t *b, uint64_t lineno, const char *line,
                              size_t len) {
        char reason[1024];
        tecg_event_t ev;
        tecg_err_t err = tecg_validate_line(ing->validator, line, len, &ev, reason, sizeof(reason));
        if (err) {
                batch_reject(ing, b, lineno, line, len, reason);
                return TECG_OK;
        }
        /* A retraction travels with the events it can take back: same
         * topic, same partition (key = nation), so the aggregator that
         * counted the target sees it (docs/design.md §2.9). */
        tecg_event_type_t routed =
                ev.type == TECG_EV_RETRACTION ? ev.u.retraction.retracts_type : ev.type;
        tecg_topic_t topic =
                routed == TECG_EV_TRAINING ? TECG_TOPIC_TRAINING : TECG_TOPIC_CONTRIBUTIONS;
        tecg_buf_reset(&ing->encoded);
        if (ing->confluent) {
                err = tecg_framing_write_confluent(
                        &ing->encoded, ev.type == TECG_EV_RETRACTION ? ing->retraction_ids[topic]
                                                                     : ing->schema_ids[ev.type]);
                if (err)
                        snprintf(reason, sizeof(reason), "out of memory");
                else
                        err = tecg_avro_encode_body(ing->avro, &ev, &ing->encoded, NULL, reason,
                                                    sizeof(reason));
        } else
                err = tecg_avro_encode_event(ing->avro, &ev, &ing->encoded, reason, sizeof(reason));
        if (err) {
                char why[1100];
                snprintf(why, sizeof(why), "cannot encode: %s", reason);
                batch_reject(ing, b, lineno, line, len, why);
                return TECG_OK;
        }
        /* Nothing more goes out while rejections cannot be recorded. */
        if (!batch_flush_rejects(b))
                return TECG_OK;
        /* Counted before it is handed over: a sink may acknowledge it at
         * once, from inside send(). */
        b->pending++;
        ing->outstanding++;
        if (b->report.sent)
                b->report.sent(b->report.ctx, lineno, ev.event_id);
        err = ing->sink.send(ing->sink.ctx, topic, ing->encoded.data, ing->encoded.len, b, lineno,
                             reason, sizeof(reason));
        if (err) {
                b->pending--;
                ing->outstanding--;
        }
        if (err == TECG_ERR_INVALID) {
                batch_reject(ing, b, lineno, line, len, reason);
                return TECG_OK;
        }
        if (err) {
                tecg_log_warn(FAC, "%s:%llu: not sent: %s", b->name, (unsigned long long)lineno,
                              reason);
                return TECG_ERR_RETRY;
        }
        return TECG_OK;
}

/* A line longer than limits.line.bytes: the reader kept its start only. */
static void reject_too_long(tecg_ingest_t *ing, batch_t *b, const tecg_line_t *L) {
        char why[256];
        int n = snprintf(why, sizeof(why),
                         "line is %llu bytes, longer than "
                         "limits.line.bytes (%zu bytes)",
                         (unsigned long long)L->full_len, ing->opts.validate.max_line_bytes);
        if (batch_keeps_rejects(ing, b) && n > 0 && (size_t)n < sizeof(why))
                snprintf(why + n, sizeof(why) - (size_t)n,
                         "; rejected/ keeps only "
                         "its first %zu bytes",
                         L->len);
        batch_reject(ing, b, b->lines, L->data, L->len, why);
}

/* A line after the first limits.file.lines of a spool file: not read as
 * an event, copied to rejected/ as it is, to be sent again. */
static void reject_beyond_file_limit(tecg_ingest_t *ing, batch_t *b, const tecg_line_t *L) {
        char why[200];
        if (b->lines == ing->opts.max_file_lines + 1)
                tecg_log_warn(FAC,
                              "%s: more than limits.file.lines (%llu) lines: "
                              "the lines after line %llu are rejected unsent, to be "
                              "sent again in another file",
                              b->name, (unsigned long long)ing->opts.max_file_lines,
                              (unsigned long long)ing->opts.max_file_lines);
        snprintf(why, sizeof(why),
                 "not sent: the file has more than "
                 "limits.file.lines (%llu) lines; send this line again in "
                 "another file",
                 (unsigned long long)ing->opts.max_file_lines);
        batch_reject(ing, b, b->lines, L->data, L->len, why);
}

/* Writing rejected/ failed: the rejections not flushed yet, and the line
 * being read, are not accounted for. As nothing was sent after the first of
 * them, the batch ends just before it, and a retry resumes there. */
static void unaccount_unflushed(tecg_ingest_t *ing, batch_t *b) {
        uint64_t from = b->lines;
        uint64_t count = b->rejects ? tecg_spool_rejects_unflushed(b->rejects, &from) : 0;
        if (from == 0 || from > b->lines)
                return;
        ing->stats.lines -= b->lines - from + 1;
        ing->stats.rejected -= count;
        b->rejected -= count;
        b->lines = from - 1;
        if (b->rejects)
                tecg_spool_rejects_drop_unflushed(b->rejects);
        b->write_failed = false;
        b->resumable = true;
}

/* Reads r line by line into batch b, then seals it. */
static tecg_err_t ingest_batch(tecg_ingest_t *ing, batch_t *b, tecg_linereader_t *r, char *errstr,
                               size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        char why[256];
        uint64_t max_lines = b->from_spool ? ing->opts.max_file_lines : 0;
        for (;;) {
                tecg_line_t L;
                if (b->failure) {
                        b->incomplete = true;
                        break;
                }
                err = tecg_linereader_next(r, &L, why, sizeof(why));
                if (err == TECG_ERR_NOT_FOUND) {
                        err = TECG_OK;
                        if (!batch_flush_rejects(b))
                                unaccount_unflushed(ing, b);
                        break;
                }
                if (err == TECG_ERR_RETRY) { /* EINTR */
                        err = TECG_OK;
                        if (*ing->stop) {
                                b->incomplete = true;
                                break;
                        }
                        continue;
                }
                if (err) {
                        b->incomplete = true;
                        if (!batch_flush_rejects(b))
                                unaccount_unflushed(ing, b);
                        b->resumable = true;
                        batch_fail(b, "read error after line %llu: %s",
                                   (unsigned long long)b->lines, why);
                        err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: %s", b->name,
                                          b->failure);
                        break;
                }
                b->lines++;
                if (b->lines <= b->skip) /* accounted for by an earlier attempt */
                        continue;
                ing->stats.lines++;
                if (L.too_long) {
                        reject_too_long(ing, b, &L);
                } else if (max_lines && b->lines > max_lines) {
                        reject_beyond_file_limit(ing, b, &L);
                } else if (ingest_line(ing, b, b->lines, L.data, L.len) != TECG_OK) {
                        b->lines--;
                        ing->stats.lines--;
                        b->incomplete = true;
                        break;
                }
                if (b->write_failed)
                        unaccount_unflushed(ing, b);
                if (b->failure || *ing->stop) {
                        b->incomplete = true;
                        break;
                }
        }
        if (!err && b->incomplete)
                err = tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size, "%s: stopped before its end",
                                  b->name);
        b->sealed = true;
        /* A file or stdin ended: nothing more of it will share a signature.
         * An HTTP request is one of many: its events may wait the seal
         * window for the next requests' (docs/design.md §9.1). */
        if (ing->sink.input_ended && !b->report.done)
                ing->sink.input_ended(ing->sink.ctx);
        finish_complete_batches(ing); /* may free b */
        return err;
}

tecg_err_t tecg_ingest_spool_file(tecg_ingest_t *ing, const char *name, char *errstr,
                                  size_t errstr_size) {
        char why[PATH_MAX + 128];
        int fd;
        tecg_spool_file_id_t id;
        if (tecg_spool_take(ing->spool, name, &fd, &id) != TECG_OK)
                return TECG_OK; /* held back (and logged), or gone */
        const tecg_spool_progress_t *h = tecg_spool_held(ing->spool, name);
        if (h && h->how == TECG_SPOOL_RETRY_MOVE && tecg_spool_file_id_equal(&h->id, &id)) {
                /* Sent before; only its move to done/ is left to do. */
                tecg_spool_progress_t done = *h;
                close(fd);
                spool_file_done(ing, name, &done);
                return TECG_OK;
        }
        tecg_linereader_t *r = tecg_linereader_new(fd, ing->opts.validate.max_line_bytes,
                                                   TECG_INGEST_TOO_LONG_KEEP);
        batch_t *b = r ? batch_new(ing, name, true) : NULL;
        if (!b) {
                tecg_linereader_destroy(r);
                close(fd);
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        b->id = id;
        b->retry = h && h->was_read;
        if (h && h->how == TECG_SPOOL_RETRY_RESUME && tecg_spool_file_id_equal(&h->id, &id) &&
            tecg_spool_rejects_intact(ing->spool, name, &h->rejects)) {
                b->skip = h->lines;
                b->delivered = h->delivered;
                b->rejected = h->rejected;
                tecg_log_debug(FAC, "%s: resuming at line %llu", name,
                               (unsigned long long)h->lines + 1);
                /* Cut what the failed write may have left half-written. */
                if (!(b->rejects = tecg_spool_rejects_new(ing->spool, name, &h->rejects)))
                        batch_fail(b, "out of memory");
                else if (tecg_spool_rejects_open(b->rejects, why, sizeof(why)))
                        batch_fail(b, "%s", why);
                if (b->failure) {
                        b->lines = b->skip; /* nothing read: resume there again */
                        b->resumable = true;
                }
        }
        tecg_log_debug(FAC, "%s: sending", name);
        tecg_err_t err = ingest_batch(ing, b, r, errstr, errstr_size);
        tecg_linereader_destroy(r);
        close(fd);
        /* A failing file was logged and held back by batch_finish(). */
        return err == TECG_ERR_IO ? TECG_OK : err;
}

/* A stream with nothing more for now: what was read goes to Kafka (a seal
 * whose window is over is signed, docs/design.md §9.1), acknowledgements
 * are served; called again when the next seal is due. 1 ms lets a signing
 * thread finish the seal it holds. */
static int stream_idle(void *ctx) {
        tecg_ingest_t *ing = ctx;
        ing->sink.poll(ing->sink.ctx, 1);
        if (*ing->stop) /* a signal that came while polling */
                return TECG_LINEREADER_IDLE_STOP;
        return ing->sink.seal_due_ms ? ing->sink.seal_due_ms(ing->sink.ctx)
                                     : TECG_LINEREADER_IDLE_DEFAULT;
}

tecg_err_t tecg_ingest_stream(tecg_ingest_t *ing, const char *name, int fd, char *errstr,
                              size_t errstr_size) {
        tecg_linereader_t *r = tecg_linereader_new(fd, ing->opts.validate.max_line_bytes,
                                                   TECG_INGEST_TOO_LONG_KEEP);
        batch_t *b = r ? batch_new(ing, name, false) : NULL;
        if (!b) {
                tecg_linereader_destroy(r);
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        tecg_linereader_on_idle(r, stream_idle, ing);
        tecg_err_t err = ingest_batch(ing, b, r, errstr, errstr_size);
        tecg_linereader_destroy(r);
        return err;
}

tecg_err_t tecg_ingest_request(tecg_ingest_t *ing, const char *name, int fd,
                               const tecg_ingest_report_t *report, char *errstr,
                               size_t errstr_size) {
        tecg_linereader_t *r = tecg_linereader_new(fd, ing->opts.validate.max_line_bytes,
                                                   TECG_INGEST_TOO_LONG_KEEP);
        batch_t *b = r ? batch_new(ing, name, false) : NULL;
        if (!b) {
                tecg_linereader_destroy(r);
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        b->report = *report;
        tecg_err_t err = ingest_batch(ing, b, r, errstr, errstr_size);
        tecg_linereader_destroy(r);
        return err;
}

tecg_err_t tecg_ingest_ready(tecg_ingest_t *ing, char *errstr, size_t errstr_size) {
        if (!ing->sink.ready)
                return TECG_OK;
        return ing->sink.ready(ing->sink.ctx, errstr, errstr_size);
}

tecg_err_t tecg_ingest_use_registry(tecg_ingest_t *ing, const char *url, const char *topic_prefix,
                                    char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_registry_t *reg = tecg_registry_new(url, NULL, errstr, errstr_size);
        if (!reg)
                return TECG_ERR_CONFIG;
        const tecg_avro_schema_t *retraction =
                tecg_avro_schema_for_type(ing->avro, TECG_EV_RETRACTION);
        /* The counted types under their topic's -value subject... */
        for (int t = 0; t < TECG_EV__COUNTED && !err; t++) {
                char topic[256], subject[512];
                const tecg_avro_schema_t *schema =
                        tecg_avro_schema_for_type(ing->avro, (tecg_event_type_t)t);
                snprintf(topic, sizeof(topic), "%s%s", topic_prefix,
                         tecg_avro_topic_for((tecg_event_type_t)t));
                if (tecg_registry_subject(subject, sizeof(subject), topic, NULL))
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "topic prefix too long for a registry subject");
                else
                        err = tecg_registry_register(reg, subject, tecg_avro_schema_json(schema),
                                                     &ing->schema_ids[t], errstr, errstr_size);
        }
        /* ...and the retraction under a subject of its own on each topic
         * (tecg_registry_subject() says why). */
        for (int tp = 0; tp < TECG_TOPIC__COUNT && !err; tp++) {
                char topic[256], subject[512];
                snprintf(topic, sizeof(topic), "%s%s", topic_prefix,
                         tecg_avro_topic_for(tp == TECG_TOPIC_TRAINING ? TECG_EV_TRAINING
                                                                       : TECG_EV_FUNDING));
                if (tecg_registry_subject(subject, sizeof(subject), topic,
                                          tecg_avro_schema_fullname(retraction)))
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "topic prefix too long for a registry subject");
                else
                        err = tecg_registry_register(reg, subject,
                                                     tecg_avro_schema_json(retraction),
                                                     &ing->retraction_ids[tp], errstr, errstr_size);
        }
        tecg_registry_destroy(reg);
        if (!err) {
                ing->confluent = true;
                tecg_log_info(FAC,
                              "Confluent framing: schema ids %u (contributions), "
                              "%u (training-completions), %u/%u (retractions) from %s",
                              ing->schema_ids[TECG_EV_FUNDING], ing->schema_ids[TECG_EV_TRAINING],
                              ing->retraction_ids[TECG_TOPIC_CONTRIBUTIONS],
                              ing->retraction_ids[TECG_TOPIC_TRAINING], url);
        }
        return err;
}

bool tecg_ingest_is_busy(tecg_ingest_t *ing, const char *name) {
        for (batch_t *b = ing->batches; b; b = b->next)
                if (b->from_spool && strcmp(b->name, name) == 0)
                        return true;
        return ing->spool && tecg_spool_is_waiting(ing->spool, name);
}

void tecg_ingest_poll(tecg_ingest_t *ing, int timeout_ms) {
        ing->sink.poll(ing->sink.ctx, timeout_ms);
        finish_complete_batches(ing);
}

/* As tecg_publisher_flush(): poll until nothing is outstanding. */
tecg_err_t tecg_ingest_drain(tecg_ingest_t *ing, int timeout_ms) {
        tecg_err_t err = TECG_OK;
        int64_t deadline = tecg_mono_ms() + timeout_ms;
        while (ing->outstanding > 0) {
                int64_t left = deadline - tecg_mono_ms();
                if (left <= 0) {
                        err = TECG_ERR_RETRY;
                        break;
                }
                ing->sink.poll(ing->sink.ctx, left < 100 ? (int)left : 100);
        }
        finish_complete_batches(ing);
        return err;
}

uint64_t tecg_ingest_outstanding(const tecg_ingest_t *ing) {
        return ing->outstanding;
}

void tecg_ingest_stats(const tecg_ingest_t *ing, tecg_ingest_stats_t *out) {
        *out = ing->stats;
}
