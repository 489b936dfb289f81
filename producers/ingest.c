#include "ingest.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "avro_codec.h"
#include "buf.h"
#include "clock.h"
#include "framing.h"
#include "log.h"
#include "publisher.h"
#include "registry.h"
#include "validate.h"

#define FAC "ingest"
#define REJECTIONS_LOGGED_PER_FILE 5
#define HOLD_RETRY_MS 30000

/* One input unit: a spool file or a stream. */
typedef struct batch {
        struct batch *next;
        struct tecg_ingest *ing;
        char *name;              /* spool file name, or stream label */
        bool from_spool;
        uint64_t lines;          /* read so far */
        uint64_t delivered;      /* acknowledged by Kafka */
        uint64_t rejected;       /* invalid, or refused by Kafka */
        uint64_t pending;        /* sent, not yet acknowledged */
        bool sealed;             /* nothing more will be read */
        bool incomplete;         /* stopped before the end: keep in incoming/ */
        bool broken;             /* could not record a rejection: retry later */
        FILE *errors_fp;         /* rejected/NAME.errors, opened lazily */
        FILE *lines_fp;          /* rejected/NAME.ndjson, opened lazily */
        uint64_t *refused;       /* line numbers Kafka refused at delivery */
        size_t nrefused, refused_cap;
        time_t started;
} batch_t;

/* A spool file that failed (unreadable, disk full...): not retried before
 * `retry_at`, so a persistent problem does not spin. */
typedef struct hold {
        struct hold *next;
        char *name;
        int64_t retry_at_ms;
} hold_t;

struct tecg_ingest {
        const tecg_nations_t *nations;
        char nation[4];
        tecg_spool_t *spool;
        const volatile int *stop;
        tecg_validator_t *validator;
        tecg_avro_t *avro;
        tecg_publisher_t *pub;
        tecg_buf_t encoded;
        bool confluent;          /* Confluent framing with registry ids */
        uint32_t schema_ids[TECG_EV__COUNT];
        batch_t *batches;
        hold_t *holds;
        tecg_ingest_stats_t stats;
};

/* ---- rejected/ ------------------------------------------------------- */

static FILE *rejected_open(tecg_ingest_t *ing, batch_t *b, const char *suffix) {
        char path[PATH_MAX];
        tecg_spool_rejected_path(ing->spool, b->name, suffix, path, sizeof(path));
        FILE *fp = fopen(path, "w");
        if (!fp)
                tecg_log_err(FAC, "%s: cannot create: %s", path, strerror(errno));
        return fp;
}

/* A stream has no file of its own in rejected/: name one after the time. */
static void stream_rejected_name(batch_t *b) {
        if (b->from_spool || strchr(b->name, '.'))
                return;
        char stamp[32], *name;
        time_t t = b->started;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
        if (asprintf(&name, "%s-%s-%d.ndjson", b->name, stamp, (int)getpid()) >= 0) {
                free(b->name);
                b->name = name;
        }
}

/* Records one rejected line: reason in rejected/NAME.errors, the line
 * itself (when known) in rejected/NAME.ndjson. Without a spool directory the
 * log is the record. */
static void batch_reject(tecg_ingest_t *ing, batch_t *b, uint64_t line,
                         const char *raw, size_t raw_len, const char *reason) {
        b->rejected++;
        ing->stats.rejected++;
        int level = (!ing->spool || b->rejected <= REJECTIONS_LOGGED_PER_FILE)
                            ? TECG_LOG_NOTICE
                            : TECG_LOG_DEBUG;
        tecg_log(level, FAC, "%s:%llu: rejected: %s", b->name,
                 (unsigned long long)line, reason);
        if (!ing->spool)
                return;

        stream_rejected_name(b);
        if (!b->errors_fp && !(b->errors_fp = rejected_open(ing, b, ".errors"))) {
                b->broken = true;
                return;
        }
        if (raw && !b->lines_fp && !(b->lines_fp = rejected_open(ing, b, ".ndjson"))) {
                b->broken = true;
                return;
        }
        if (fprintf(b->errors_fp, "%s:%llu: %s\n", b->name,
                    (unsigned long long)line, reason) < 0)
                b->broken = true;
        if (raw && (fwrite(raw, 1, raw_len, b->lines_fp) != raw_len ||
                    fputc('\n', b->lines_fp) == EOF))
                b->broken = true;
}

/* Kafka refused some lines after they were sent: copy those lines from the
 * input into rejected/NAME.ndjson, so the rejected file is complete. */
static void copy_refused_lines(tecg_ingest_t *ing, batch_t *b) {
        char path[PATH_MAX];
        if (!b->nrefused || !b->from_spool)
                return;
        tecg_spool_incoming_path(ing->spool, b->name, path, sizeof(path));
        FILE *in = fopen(path, "rb");
        if (!in || (!b->lines_fp && !(b->lines_fp = rejected_open(ing, b, ".ndjson")))) {
                b->broken = true;
                if (in)
                        fclose(in);
                return;
        }
        char *line = NULL;
        size_t cap = 0, next = 0;
        uint64_t lineno = 0;
        ssize_t n;
        while (next < b->nrefused && (n = getline(&line, &cap, in)) != -1) {
                if (++lineno != b->refused[next])
                        continue;
                next++;
                if (n > 0 && line[n - 1] == '\n')
                        n--;
                if (fwrite(line, 1, (size_t)n, b->lines_fp) != (size_t)n ||
                    fputc('\n', b->lines_fp) == EOF)
                        b->broken = true;
        }
        free(line);
        fclose(in);
}

static int close_synced(FILE **fpp) {
        int rc = 0;
        if (!*fpp)
                return 0;
        if (fflush(*fpp) != 0 || fsync(fileno(*fpp)) != 0)
                rc = -1;
        if (fclose(*fpp) != 0)
                rc = -1;
        *fpp = NULL;
        return rc;
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
        /* Rejections of an earlier, interrupted attempt are stale. */
        if (from_spool) {
                char path[PATH_MAX];
                unlink(tecg_spool_rejected_path(ing->spool, name, ".errors", path, sizeof(path)));
                unlink(tecg_spool_rejected_path(ing->spool, name, ".ndjson", path, sizeof(path)));
        }
        b->next = ing->batches;
        ing->batches = b;
        return b;
}

static void batch_free(batch_t *b) {
        if (!b)
                return;
        if (b->errors_fp)
                fclose(b->errors_fp);
        if (b->lines_fp)
                fclose(b->lines_fp);
        free(b->refused);
        free(b->name);
        free(b);
}

static void hold_add(tecg_ingest_t *ing, const char *name) {
        hold_t *h = calloc(1, sizeof(*h));
        if (!h || !(h->name = strdup(name))) {
                free(h);
                return;
        }
        h->retry_at_ms = tecg_mono_ms() + HOLD_RETRY_MS;
        h->next = ing->holds;
        ing->holds = h;
}

/* Called when a sealed batch has nothing pending: record and move on. */
static void batch_finish(tecg_ingest_t *ing, batch_t *b) {
        char errstr[512];
        copy_refused_lines(ing, b);
        if (close_synced(&b->errors_fp) || close_synced(&b->lines_fp))
                b->broken = true;

        if (b->incomplete || b->broken) {
                tecg_log_warn(FAC, "%s: %s after %llu lines (%llu delivered, "
                              "%llu rejected); %s",
                              b->name,
                              b->broken ? "could not record rejected lines"
                                        : "stopped",
                              (unsigned long long)b->lines,
                              (unsigned long long)b->delivered,
                              (unsigned long long)b->rejected,
                              b->from_spool ? "the file stays in incoming/ and "
                                              "will be sent again"
                                            : "the stream is incomplete");
                if (b->from_spool && b->broken)
                        hold_add(ing, b->name);
                return;
        }
        if (b->lines != b->delivered + b->rejected)
                tecg_log_err(FAC, "%s: BUG: %llu lines but %llu delivered + "
                             "%llu rejected", b->name,
                             (unsigned long long)b->lines,
                             (unsigned long long)b->delivered,
                             (unsigned long long)b->rejected);
        if (b->from_spool &&
            tecg_spool_finish(ing->spool, b->name, errstr, sizeof(errstr))) {
                tecg_log_err(FAC, "%s: every line delivered or rejected, but %s",
                             b->name, errstr);
                hold_add(ing, b->name);
                return;
        }
        ing->stats.files_done++;
        char where[PATH_MAX + 32] = "";
        if (b->rejected && ing->spool) {
                char path[PATH_MAX];
                tecg_spool_rejected_path(ing->spool, b->name, ".errors", path,
                                         sizeof(path));
                snprintf(where, sizeof(where), " (reasons in %s)", path);
        }
        tecg_log_info(FAC, "%s: %llu lines, %llu delivered, %llu rejected%s",
                      b->name, (unsigned long long)b->lines,
                      (unsigned long long)b->delivered,
                      (unsigned long long)b->rejected, where);
}

static void finish_complete_batches(tecg_ingest_t *ing) {
        batch_t **pp = &ing->batches;
        while (*pp) {
                batch_t *b = *pp;
                if (b->sealed && b->pending == 0) {
                        *pp = b->next;
                        batch_finish(ing, b);
                        batch_free(b);
                } else {
                        pp = &b->next;
                }
        }
}

/* Publisher callback: the final word on one line. */
static void on_ack(void *opaque, uint64_t line, rd_kafka_resp_err_t err,
                   const char *reason) {
        batch_t *b = opaque;
        b->pending--;
        if (!err) {
                b->delivered++;
                return;
        }
        /* Remember the number: the line itself is copied from the input
         * into rejected/ when the batch finishes. */
        if (b->nrefused == b->refused_cap) {
                size_t cap = b->refused_cap ? b->refused_cap * 2 : 16;
                uint64_t *r = realloc(b->refused, cap * sizeof(*r));
                if (!r) {
                        b->broken = true;
                        return;
                }
                b->refused = r;
                b->refused_cap = cap;
        }
        b->refused[b->nrefused++] = line;
        char why[512];
        snprintf(why, sizeof(why), "Kafka refused the message: %s", reason);
        batch_reject(b->ing, b, line, NULL, 0, why);
}

/* ---- public ----------------------------------------------------------- */

tecg_ingest_t *tecg_ingest_new(const tecg_conf_t *conf, const char *topic_prefix,
                               const tecg_nations_t *nations, const char *nation,
                               tecg_spool_t *spool, const volatile int *stop,
                               char *errstr, size_t errstr_size) {
        tecg_ingest_t *ing = calloc(1, sizeof(*ing));
        if (!ing) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                return NULL;
        }
        ing->nations = nations;
        snprintf(ing->nation, sizeof(ing->nation), "%s", nation);
        ing->spool = spool;
        ing->stop = stop;
        if (!(ing->validator = tecg_validator_new(nations, nation, NULL, errstr,
                                                  errstr_size)) ||
            !(ing->avro = tecg_avro_new(errstr, errstr_size)) ||
            !(ing->pub = tecg_publisher_new(conf, topic_prefix, nation, on_ack,
                                            errstr, errstr_size))) {
                tecg_ingest_destroy(ing);
                return NULL;
        }
        tecg_publisher_set_stop_flag(ing->pub, stop);
        return ing;
}

void tecg_ingest_destroy(tecg_ingest_t *ing) {
        if (!ing)
                return;
        for (batch_t *b = ing->batches; b;) {
                batch_t *next = b->next;
                tecg_log_warn(FAC, "%s: %llu lines not acknowledged at exit; %s",
                              b->name, (unsigned long long)b->pending,
                              b->from_spool ? "the file stays in incoming/ and "
                                              "will be sent again"
                                            : "they may be lost");
                batch_free(b);
                b = next;
        }
        for (hold_t *h = ing->holds; h;) {
                hold_t *next = h->next;
                free(h->name);
                free(h);
                h = next;
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
static tecg_err_t ingest_line(tecg_ingest_t *ing, batch_t *b, uint64_t lineno,
                              const char *line, size_t len) {
        char reason[1024];
        tecg_event_t ev;
        tecg_err_t err = tecg_validate_line(ing->validator, line, len, &ev,
                                            reason, sizeof(reason));
        if (err) {
                batch_reject(ing, b, lineno, line, len, reason);
                return TECG_OK;
        }
        tecg_buf_reset(&ing->encoded);
        if (ing->confluent) {
                err = tecg_framing_write_confluent(&ing->encoded, ing->schema_ids[ev.type]);
                if (err)
                        snprintf(reason, sizeof(reason), "out of memory");
                else
                        err = tecg_avro_encode_body(ing->avro, &ev, &ing->encoded, NULL,
                                                    reason, sizeof(reason));
        } else
                err = tecg_avro_encode_event(ing->avro, &ev, &ing->encoded, reason,
                                             sizeof(reason));
        if (err) {
                char why[1100];
                snprintf(why, sizeof(why), "cannot encode: %s", reason);
                batch_reject(ing, b, lineno, line, len, why);
                return TECG_OK;
        }
        tecg_topic_t topic = ev.type == TECG_EV_TRAINING ? TECG_TOPIC_TRAINING
                                                         : TECG_TOPIC_CONTRIBUTIONS;
        err = tecg_publisher_send(ing->pub, topic, ing->encoded.data,
                                  ing->encoded.len, b, lineno, reason,
                                  sizeof(reason));
        if (err == TECG_ERR_INVALID) {
                batch_reject(ing, b, lineno, line, len, reason);
                return TECG_OK;
        }
        if (err) {
                tecg_log_warn(FAC, "%s:%llu: not sent: %s", b->name,
                              (unsigned long long)lineno, reason);
                return TECG_ERR_RETRY;
        }
        b->pending++;
        return TECG_OK;
}

/* Reads `in` line by line into batch b, then seals it. */
static tecg_err_t ingest_batch(tecg_ingest_t *ing, batch_t *b, FILE *in,
                               char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        errno = 0;
        while ((n = getline(&line, &cap, in)) != -1) {
                size_t len = (size_t)n;
                if (len > 0 && line[len - 1] == '\n')
                        len--;
                b->lines++;
                ing->stats.lines++;
                if (ingest_line(ing, b, b->lines, line, len) != TECG_OK) {
                        b->lines--;
                        ing->stats.lines--;
                        b->incomplete = true;
                        break;
                }
                if (*ing->stop) {
                        b->incomplete = true;
                        break;
                }
                errno = 0;
        }
        if (n == -1 && ferror(in)) {
                b->incomplete = true;
                if (errno != EINTR) {
                        b->broken = true; /* hold it back and retry later */
                        err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                          "%s: read error after line %llu: %s",
                                          b->name, (unsigned long long)b->lines,
                                          strerror(errno));
                }
        }
        free(line);
        b->sealed = true;
        finish_complete_batches(ing);
        if (!err && b->incomplete)
                err = tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size,
                                  "%s: stopped before its end", b->name);
        return err;
}

tecg_err_t tecg_ingest_spool_file(tecg_ingest_t *ing, const char *name,
                                  char *errstr, size_t errstr_size) {
        char path[PATH_MAX];
        tecg_spool_incoming_path(ing->spool, name, path, sizeof(path));
        FILE *in = fopen(path, "rb");
        if (!in) {
                if (errno == ENOENT) /* taken away since the scan */
                        return TECG_OK;
                hold_add(ing, name);
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                   "%s: cannot open: %s (will retry in %d s)",
                                   path, strerror(errno), HOLD_RETRY_MS / 1000);
        }
        batch_t *b = batch_new(ing, name, true);
        if (!b) {
                fclose(in);
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        tecg_log_debug(FAC, "%s: sending", name);
        tecg_err_t err = ingest_batch(ing, b, in, errstr, errstr_size);
        fclose(in);
        return err;
}

tecg_err_t tecg_ingest_stream(tecg_ingest_t *ing, const char *name, FILE *in,
                              char *errstr, size_t errstr_size) {
        batch_t *b = batch_new(ing, name, false);
        if (!b)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return ingest_batch(ing, b, in, errstr, errstr_size);
}

tecg_err_t tecg_ingest_use_registry(tecg_ingest_t *ing, const char *url,
                                    const char *topic_prefix, char *errstr,
                                    size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_registry_t *reg = tecg_registry_new(url, NULL, errstr, errstr_size);
        if (!reg)
                return TECG_ERR_CONFIG;
        for (int t = 0; t < TECG_EV__COUNT && !err; t++) {
                char subject[512];
                const tecg_avro_schema_t *schema =
                        tecg_avro_schema_for_type(ing->avro, (tecg_event_type_t)t);
                snprintf(subject, sizeof(subject), "%s%s-value", topic_prefix,
                         tecg_avro_topic_for((tecg_event_type_t)t));
                err = tecg_registry_register(reg, subject, tecg_avro_schema_json(schema),
                                             &ing->schema_ids[t], errstr, errstr_size);
        }
        tecg_registry_destroy(reg);
        if (!err) {
                ing->confluent = true;
                tecg_log_info(FAC, "Confluent framing: schema ids %u (contributions), "
                              "%u (training-completions) from %s",
                              ing->schema_ids[TECG_EV_FUNDING],
                              ing->schema_ids[TECG_EV_TRAINING], url);
        }
        return err;
}

bool tecg_ingest_is_busy(tecg_ingest_t *ing, const char *name) {
        for (batch_t *b = ing->batches; b; b = b->next)
                if (b->from_spool && strcmp(b->name, name) == 0)
                        return true;
        int64_t now = tecg_mono_ms();
        for (hold_t **pp = &ing->holds; *pp;) {
                hold_t *h = *pp;
                if (h->retry_at_ms <= now) { /* hold expired: forget it */
                        *pp = h->next;
                        free(h->name);
                        free(h);
                        continue;
                }
                if (strcmp(h->name, name) == 0)
                        return true;
                pp = &h->next;
        }
        return false;
}

void tecg_ingest_poll(tecg_ingest_t *ing, int timeout_ms) {
        tecg_publisher_poll(ing->pub, timeout_ms);
        finish_complete_batches(ing);
}

tecg_err_t tecg_ingest_drain(tecg_ingest_t *ing, int timeout_ms) {
        tecg_err_t err = tecg_publisher_flush(ing->pub, timeout_ms);
        finish_complete_batches(ing);
        return err;
}

uint64_t tecg_ingest_outstanding(const tecg_ingest_t *ing) {
        return tecg_publisher_outstanding(ing->pub);
}

void tecg_ingest_stats(const tecg_ingest_t *ing, tecg_ingest_stats_t *out) {
        *out = ing->stats;
        tecg_publisher_stats_t ps;
        tecg_publisher_stats(ing->pub, &ps);
        out->delivered = ps.acked;
}
