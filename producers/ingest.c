#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
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
/* While a held file keeps failing the same way, say so this often. */
#define HOLD_REMIND_MS (10 * 60 * 1000)

/* Which file a spool name was when it was read: a held file is only moved
 * to done/ without sending it again if it is still that file. */
typedef struct {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
} file_id_t;

/* One input unit: a spool file or a stream. */
typedef struct batch {
        struct batch *next;
        struct tecg_ingest *ing;
        char *name;              /* spool file name, or stream label */
        bool from_spool;
        file_id_t id;            /* spool file: what was opened */
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
        bool write_failed;       /* writing rejected/ failed while reading */
        uint64_t skip;           /* resumed: lines already accounted for */
        /* Rejections written to the rejected/ files' buffers but not yet
         * flushed: from line unflushed_from on, all of them rejections
         * (rejected_flush() runs before any line is sent). */
        uint64_t unflushed_from, unflushed_count;
        long errors_good, lines_good; /* bytes of the rejected/ files known
                                       * to be written */
        FILE *errors_fp;         /* rejected/NAME.errors, opened lazily */
        FILE *lines_fp;          /* rejected/NAME.ndjson, opened lazily */
        uint64_t *refused;       /* line numbers Kafka refused at delivery */
        size_t nrefused, refused_cap;
        time_t started;
} batch_t;

/* A spool file that failed (unreadable, disk full...): not tried again
 * before `retry_at_ms`, so a persistent problem does not spin. Kept after
 * it expires, to know whether the next failure is news, until the file
 * goes through or leaves incoming/. */
typedef struct hold {
        struct hold *next;
        char *name;
        char *reason;            /* the last failure */
        int64_t since_ms, retry_at_ms, logged_ms;
        unsigned attempts;
        /* How to try again: the whole file, from the first line not
         * accounted for (RESUME: `lines` were, with these counts and these
         * bytes of rejected/ files), or only the move to done/ (MOVE: every
         * line was accounted for). Only if it is still the same file. */
        enum { RETRY_ALL, RETRY_RESUME, RETRY_MOVE } how;
        bool was_read;           /* an attempt read lines and logged them */
        file_id_t id;
        uint64_t lines, delivered, rejected;
        long errors_good, lines_good;
} hold_t;

struct tecg_ingest {
        const tecg_nations_t *nations;
        char nation[4];
        tecg_spool_t *spool;
        const volatile int *stop;
        tecg_ingest_opts_t opts;
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

/* ---- holds ------------------------------------------------------------ */

/* A file name as it can be logged: control bytes become \xNN, so a hostile
 * name cannot forge log lines. */
static const char *printable(const char *name, char *out, size_t out_size) {
        size_t o = 0;
        for (const unsigned char *s = (const unsigned char *)name; *s && o + 5 < out_size; s++) {
                if (*s < 0x20 || *s == 0x7f)
                        o += (size_t)snprintf(out + o, out_size - o, "\\x%02X", *s);
                else
                        out[o++] = (char)*s;
        }
        out[o] = '\0';
        return out;
}

static bool has_control_bytes(const char *name) {
        for (const unsigned char *s = (const unsigned char *)name; *s; s++)
                if (*s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

static hold_t *hold_find(tecg_ingest_t *ing, const char *name) {
        for (hold_t *h = ing->holds; h; h = h->next)
                if (strcmp(h->name, name) == 0)
                        return h;
        return NULL;
}

static void hold_free(hold_t *h) {
        free(h->name);
        free(h->reason);
        free(h);
}

/* Forgets NAME's failures; `recovered`: it went through after them. */
static void hold_clear(tecg_ingest_t *ing, const char *name, bool recovered) {
        char pname[PATH_MAX];
        for (hold_t **pp = &ing->holds; *pp; pp = &(*pp)->next) {
                hold_t *h = *pp;
                if (strcmp(h->name, name) != 0)
                        continue;
                if (recovered)
                        tecg_log_notice(FAC, "%s: goes through now, after %u failed "
                                        "attempt%s over %lld s",
                                        printable(name, pname, sizeof(pname)),
                                        h->attempts, h->attempts == 1 ? "" : "s",
                                        (long long)(tecg_mono_ms() - h->since_ms) / 1000);
                *pp = h->next;
                hold_free(h);
                return;
        }
}

/* Holds NAME back after a failure. The reason is logged (as an error) when
 * it is new for this file, then only every HOLD_REMIND_MS; `detail` (how
 * far this attempt got) is logged with it. */
static void hold_fail(tecg_ingest_t *ing, const char *name, const char *reason,
                      const char *detail) {
        char pname[PATH_MAX];
        int64_t now = tecg_mono_ms();
        hold_t *h = hold_find(ing, name);
        if (!h) {
                h = calloc(1, sizeof(*h));
                if (!h || !(h->name = strdup(name))) {
                        free(h);
                        tecg_log_err(FAC, "%s: %s (out of memory: not held back)",
                                     printable(name, pname, sizeof(pname)), reason);
                        return;
                }
                h->since_ms = now;
                h->next = ing->holds;
                ing->holds = h;
        }
        h->attempts++;
        h->how = RETRY_ALL;
        h->retry_at_ms = now + ing->opts.retry_interval_ms;
        printable(name, pname, sizeof(pname));
        if (!h->reason || strcmp(h->reason, reason) != 0) {
                free(h->reason);
                h->reason = strdup(reason);
                h->logged_ms = now;
                tecg_log_err(FAC, "%s: %s%s%s; the file stays in incoming/ and is "
                             "tried again in %.1f s", pname, reason,
                             detail ? "; " : "", detail ? detail : "",
                             (double)ing->opts.retry_interval_ms / 1000.0);
        } else if (now - h->logged_ms >= HOLD_REMIND_MS) {
                h->logged_ms = now;
                tecg_log_warn(FAC, "%s: still held back after %u attempts over "
                              "%lld s: %s", pname, h->attempts,
                              (long long)(now - h->since_ms) / 1000, reason);
        } else {
                tecg_log_debug(FAC, "%s: attempt %u failed again: %s", pname,
                               h->attempts, reason);
        }
}

static void file_id_of(const struct stat *st, file_id_t *id) {
        id->dev = st->st_dev;
        id->ino = st->st_ino;
        id->size = st->st_size;
        id->mtime = st->st_mtim;
}

static bool file_id_equal(const file_id_t *a, const file_id_t *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* ---- rejected/ ------------------------------------------------------- */

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

/* Marks the batch as unable to finish (the first reason wins). */
static void batch_fail(batch_t *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void batch_fail(batch_t *b, const char *fmt, ...) {
        if (b->failure)
                return;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&b->failure, fmt, ap) < 0)
                b->failure = strdup("out of memory");
        va_end(ap);
}

/* Records a write error on rejected/NAME<suffix> (errno is the cause). */
static void rejected_write_failed(tecg_ingest_t *ing, batch_t *b, const char *suffix) {
        char path[PATH_MAX];
        int e = errno;
        tecg_spool_rejected_path(ing->spool, b->name, suffix, path, sizeof(path));
        batch_fail(b, "cannot write %s: %s", path, strerror(e ? e : EIO));
}

/* Opens rejected/NAME<suffix> for writing after its first `keep` bytes
 * (what a resumed attempt keeps; 0 truncates what an earlier attempt left). */
static FILE *rejected_open_one(tecg_ingest_t *ing, batch_t *b, const char *suffix,
                               long keep) {
        char path[PATH_MAX];
        tecg_spool_rejected_path(ing->spool, b->name, suffix, path, sizeof(path));
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (keep ? 0 : O_TRUNC), 0666);
        FILE *fp = NULL;
        if (fd < 0 || (keep && ftruncate(fd, keep) != 0) ||
            lseek(fd, 0, SEEK_END) < 0 || !(fp = fdopen(fd, "w"))) {
                rejected_write_failed(ing, b, suffix);
                if (fd >= 0)
                        close(fd);
                return NULL;
        }
        return fp;
}

/* Opens both rejected/ files, at the batch's first rejection. */
static bool rejected_open(tecg_ingest_t *ing, batch_t *b) {
        if (b->errors_fp)
                return true;
        if (!(b->errors_fp = rejected_open_one(ing, b, ".errors", b->errors_good)))
                return false;
        if (!(b->lines_fp = rejected_open_one(ing, b, ".ndjson", b->lines_good))) {
                fclose(b->errors_fp);
                b->errors_fp = NULL;
                return false;
        }
        return true;
}

/* Records one rejected line: reason in rejected/NAME.errors, the line
 * itself (when known: not for an acknowledgement) in rejected/NAME.ndjson.
 * Without a spool directory the log is the record. Written to the buffers
 * only: rejected_flush() makes them reach the files before the next line is
 * sent, so a full disk stops the file before anything more goes out, and
 * one write serves a run of rejected lines. */
static void batch_reject(tecg_ingest_t *ing, batch_t *b, uint64_t line,
                         const char *raw, size_t raw_len, const char *reason) {
        b->rejected++;
        ing->stats.rejected++;
        int level = !b->retry && (!ing->spool || b->rejected <= REJECTIONS_LOGGED_PER_FILE)
                            ? TECG_LOG_NOTICE
                            : TECG_LOG_DEBUG;
        tecg_log(level, FAC, "%s:%llu: rejected: %s", b->name,
                 (unsigned long long)line, reason);
        if (!ing->spool || b->failure)
                return;

        stream_rejected_name(b);
        if (raw) { /* read just now, not an acknowledgement */
                if (!b->unflushed_count)
                        b->unflushed_from = line;
                b->unflushed_count++;
        }
        if (!rejected_open(ing, b)) {
                b->write_failed = raw != NULL;
                return;
        }
        errno = 0;
        if (fprintf(b->errors_fp, "%s:%llu: %s\n", b->name,
                    (unsigned long long)line, reason) < 0) {
                rejected_write_failed(ing, b, ".errors");
                b->write_failed = raw != NULL;
                return;
        }
        errno = 0;
        if (raw && (fwrite(raw, 1, raw_len, b->lines_fp) != raw_len ||
                    fputc('\n', b->lines_fp) == EOF)) {
                rejected_write_failed(ing, b, ".ndjson");
                b->write_failed = true;
        }
}

/* Hands the buffered rejections to the files (see batch_reject()). False
 * when that failed: b->failure says why. */
static bool rejected_flush(tecg_ingest_t *ing, batch_t *b) {
        if (b->failure)
                return false;
        if (!b->unflushed_count || !b->errors_fp)
                return true;
        errno = 0;
        if (fflush(b->errors_fp) != 0) {
                rejected_write_failed(ing, b, ".errors");
                b->write_failed = true;
                return false;
        }
        errno = 0;
        if (fflush(b->lines_fp) != 0) {
                rejected_write_failed(ing, b, ".ndjson");
                b->write_failed = true;
                return false;
        }
        b->unflushed_count = 0;
        b->errors_good = ftell(b->errors_fp);
        b->lines_good = ftell(b->lines_fp);
        return true;
}

static int u64_cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* Kafka refused some lines after they were sent: copy those lines from the
 * input into rejected/NAME.ndjson, so the rejected file is complete. */
static void copy_refused_lines(tecg_ingest_t *ing, batch_t *b) {
        char path[PATH_MAX], why[256];
        if (!b->nrefused || !b->from_spool || b->failure || !rejected_open(ing, b))
                return;
        /* Acks of the two topics arrive interleaved: put them in order. */
        qsort(b->refused, b->nrefused, sizeof(*b->refused), u64_cmp);
        tecg_spool_incoming_path(ing->spool, b->name, path, sizeof(path));
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        tecg_linereader_t *r = fd >= 0 ? tecg_linereader_new(
                                                 fd, ing->opts.validate.max_line_bytes,
                                                 TECG_INGEST_TOO_LONG_KEEP)
                                       : NULL;
        if (!r) {
                batch_fail(b, "cannot read %s again to copy the lines Kafka "
                           "refused: %s", path, fd < 0 ? strerror(errno) : "out of memory");
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
                errno = 0;
                if (fwrite(L.data, 1, L.len, b->lines_fp) != L.len ||
                    fputc('\n', b->lines_fp) == EOF) {
                        rejected_write_failed(ing, b, ".ndjson");
                        goto done;
                }
        }
        if (next < b->nrefused)
                batch_fail(b, "%s changed while it was sent: line %llu, refused by "
                           "Kafka, is not there any more", path,
                           (unsigned long long)b->refused[next]);
done:
        tecg_linereader_destroy(r);
        if (fd >= 0)
                close(fd);
}

/* Closes a rejected/ file, its data on disk; false on error (errno). */
static bool close_synced(FILE **fpp) {
        bool ok = true;
        if (!*fpp)
                return true;
        errno = 0;
        if (fflush(*fpp) != 0 || fsync(fileno(*fpp)) != 0)
                ok = false;
        int e = errno;
        if (fclose(*fpp) != 0 && ok) {
                ok = false;
                e = errno;
        }
        *fpp = NULL;
        errno = e;
        return ok;
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
        if (b->errors_fp)
                fclose(b->errors_fp);
        if (b->lines_fp)
                fclose(b->lines_fp);
        free(b->refused);
        free(b->failure);
        free(b->name);
        free(b);
}

static void log_file_done(tecg_ingest_t *ing, const char *name, uint64_t lines,
                          uint64_t delivered, uint64_t rejected) {
        char where[PATH_MAX + 32] = "";
        if (rejected && ing->spool) {
                char path[PATH_MAX];
                tecg_spool_rejected_path(ing->spool, name, ".errors", path, sizeof(path));
                snprintf(where, sizeof(where), " (reasons in %s)", path);
        }
        tecg_log_info(FAC, "%s: %llu lines, %llu delivered, %llu rejected%s", name,
                      (unsigned long long)lines, (unsigned long long)delivered,
                      (unsigned long long)rejected, where);
}

/* Moves a spool file whose every line is accounted for to done/; on
 * failure holds it back for a move-only retry. */
static void spool_file_done(tecg_ingest_t *ing, const char *name, const file_id_t *id,
                            uint64_t lines, uint64_t delivered, uint64_t rejected) {
        char errstr[PATH_MAX * 2 + 64], reason[sizeof(errstr) + 64];
        if (tecg_spool_finish(ing->spool, name, errstr, sizeof(errstr))) {
                snprintf(reason, sizeof(reason), "every line was delivered or "
                         "rejected, but %s", errstr);
                hold_fail(ing, name, reason, "only the move is tried again");
                hold_t *h = hold_find(ing, name);
                if (h) {
                        h->how = RETRY_MOVE;
                        h->id = *id;
                        h->lines = lines;
                        h->delivered = delivered;
                        h->rejected = rejected;
                }
                return;
        }
        hold_clear(ing, name, true);
        ing->stats.files_done++;
        log_file_done(ing, name, lines, delivered, rejected);
}

/* Called when a sealed batch has nothing pending: record and move on. */
static void batch_finish(tecg_ingest_t *ing, batch_t *b) {
        copy_refused_lines(ing, b);
        if (!close_synced(&b->errors_fp))
                rejected_write_failed(ing, b, ".errors");
        if (!close_synced(&b->lines_fp))
                rejected_write_failed(ing, b, ".ndjson");

        if (b->failure && b->from_spool) {
                /* Resume after the lines accounted for, unless Kafka refused
                 * some of them (their copies in rejected/ were not made). */
                bool resume = b->resumable && b->nrefused == 0 &&
                              b->lines == b->delivered + b->rejected;
                char detail[200];
                if (resume)
                        snprintf(detail, sizeof(detail), "stopped at line %llu (%llu "
                                 "delivered, %llu rejected before it); the next attempt "
                                 "starts there", (unsigned long long)b->lines + 1,
                                 (unsigned long long)b->delivered,
                                 (unsigned long long)b->rejected);
                else
                        snprintf(detail, sizeof(detail), "stopped after line %llu (%llu "
                                 "delivered, %llu rejected); the next attempt sends it "
                                 "from its first line", (unsigned long long)b->lines,
                                 (unsigned long long)b->delivered,
                                 (unsigned long long)b->rejected);
                hold_fail(ing, b->name, b->failure, detail);
                hold_t *h = hold_find(ing, b->name);
                if (h)
                        h->was_read = true;
                if (h && resume) {
                        h->how = RETRY_RESUME;
                        h->id = b->id;
                        h->lines = b->lines;
                        h->delivered = b->delivered;
                        h->rejected = b->rejected;
                        h->errors_good = b->errors_good;
                        h->lines_good = b->lines_good;
                }
                return;
        }
        if (b->incomplete || b->failure) {
                tecg_log_warn(FAC, "%s: %s after %llu lines (%llu delivered, "
                              "%llu rejected); %s",
                              b->name, b->failure ? b->failure : "stopped",
                              (unsigned long long)b->lines,
                              (unsigned long long)b->delivered,
                              (unsigned long long)b->rejected,
                              b->from_spool ? "the file stays in incoming/ and "
                                              "will be sent again"
                                            : "the stream is incomplete");
                return;
        }
        if (b->lines != b->delivered + b->rejected)
                tecg_log_err(FAC, "%s: BUG: %llu lines but %llu delivered + "
                             "%llu rejected", b->name,
                             (unsigned long long)b->lines,
                             (unsigned long long)b->delivered,
                             (unsigned long long)b->rejected);
        if (!b->from_spool) {
                log_file_done(ing, b->name, b->lines, b->delivered, b->rejected);
                return;
        }
        if (b->rejected == 0) {
                /* What an earlier attempt at this file rejected is stale. */
                char path[PATH_MAX];
                unlink(tecg_spool_rejected_path(ing->spool, b->name, ".errors", path,
                                                sizeof(path)));
                unlink(tecg_spool_rejected_path(ing->spool, b->name, ".ndjson", path,
                                                sizeof(path)));
        }
        spool_file_done(ing, b->name, &b->id, b->lines, b->delivered, b->rejected);
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
                        batch_fail(b, "out of memory");
                        return;
                }
                b->refused = r;
                b->refused_cap = cap;
        }
        b->refused[b->nrefused++] = line;
        batch_reject(b->ing, b, line, NULL, 0, reason);
}

/* ---- public ----------------------------------------------------------- */

tecg_ingest_t *tecg_ingest_new(const tecg_conf_t *conf, const char *topic_prefix,
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
        if (!(ing->validator = tecg_validator_new(nations, nation, &opts->validate, errstr,
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
                hold_free(h);
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
        /* Nothing more goes out while rejections cannot be recorded. */
        if (!rejected_flush(ing, b))
                return TECG_OK;
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

/* A line longer than limits.line.bytes: the reader kept its start only. */
static void reject_too_long(tecg_ingest_t *ing, batch_t *b, const tecg_line_t *L) {
        char why[256];
        int n = snprintf(why, sizeof(why), "line is %llu bytes, longer than "
                         "limits.line.bytes (%zu bytes)",
                         (unsigned long long)L->full_len,
                         ing->opts.validate.max_line_bytes);
        if (ing->spool && n > 0 && (size_t)n < sizeof(why))
                snprintf(why + n, sizeof(why) - (size_t)n, "; rejected/ keeps only "
                         "its first %zu bytes", L->len);
        batch_reject(ing, b, b->lines, L->data, L->len, why);
}

/* A line after the first limits.file.lines of a spool file: not read as
 * an event, copied to rejected/ as it is, to be sent again. */
static void reject_beyond_file_limit(tecg_ingest_t *ing, batch_t *b,
                                     const tecg_line_t *L) {
        char why[200];
        if (b->lines == ing->opts.max_file_lines + 1)
                tecg_log_warn(FAC, "%s: more than limits.file.lines (%llu) lines: "
                              "the lines after line %llu are rejected unsent, to be "
                              "sent again in another file", b->name,
                              (unsigned long long)ing->opts.max_file_lines,
                              (unsigned long long)ing->opts.max_file_lines);
        snprintf(why, sizeof(why), "not sent: the file has more than "
                 "limits.file.lines (%llu) lines; send this line again in "
                 "another file", (unsigned long long)ing->opts.max_file_lines);
        batch_reject(ing, b, b->lines, L->data, L->len, why);
}

/* Writing rejected/ failed: the rejections not flushed yet, and the line
 * being read, are not accounted for. As nothing was sent after the first of
 * them, the batch ends just before it, and a retry resumes there. */
static void unaccount_unflushed(tecg_ingest_t *ing, batch_t *b) {
        uint64_t from = b->unflushed_count ? b->unflushed_from : b->lines;
        if (from == 0 || from > b->lines)
                return;
        ing->stats.lines -= b->lines - from + 1;
        ing->stats.rejected -= b->unflushed_count;
        b->rejected -= b->unflushed_count;
        b->lines = from - 1;
        b->unflushed_count = 0;
        b->write_failed = false;
        b->resumable = true;
}

/* Reads r line by line into batch b, then seals it. */
static tecg_err_t ingest_batch(tecg_ingest_t *ing, batch_t *b, tecg_linereader_t *r,
                               char *errstr, size_t errstr_size) {
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
                        if (!rejected_flush(ing, b))
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
                        if (!rejected_flush(ing, b))
                                unaccount_unflushed(ing, b);
                        b->resumable = true;
                        batch_fail(b, "read error after line %llu: %s",
                                   (unsigned long long)b->lines, why);
                        err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: %s",
                                          b->name, b->failure);
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
                err = tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size,
                                  "%s: stopped before its end", b->name);
        b->sealed = true;
        finish_complete_batches(ing); /* may free b */
        return err;
}

/* The rejected/ files a resumed attempt appends to still hold what the
 * earlier attempt wrote (nobody took them away meanwhile). */
static bool rejected_intact(tecg_ingest_t *ing, const char *name, const hold_t *h) {
        char path[PATH_MAX];
        struct stat st;
        const char *suffix[2] = {".errors", ".ndjson"};
        long good[2] = {h->errors_good, h->lines_good};
        for (int i = 0; i < 2; i++) {
                tecg_spool_rejected_path(ing->spool, name, suffix[i], path, sizeof(path));
                if (good[i] && (stat(path, &st) != 0 || st.st_size < good[i]))
                        return false;
        }
        return true;
}

static const char *file_type(mode_t m) {
        return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO"
               : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device"
               : S_ISBLK(m) ? "a block device" : "not a regular file";
}

/* Opens incoming/NAME for reading if it is a regular file. -1 when it is
 * gone (ENOENT, nothing to say) or cannot be read (*why set). Never blocks:
 * a FIFO without a writer would stop the daemon. */
static int open_spool_file(const char *path, struct stat *st, char *why,
                           size_t why_size) {
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        *why = '\0';
        if (fd < 0) {
                int e = errno;
                struct stat lst;
                if (e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
                        snprintf(why, why_size, "cannot open: a symbolic link to "
                                 "nothing");
                else if (e != ENOENT)
                        snprintf(why, why_size, "cannot open: %s", strerror(e));
                return -1;
        }
        if (fstat(fd, st) != 0) {
                snprintf(why, why_size, "cannot stat: %s", strerror(errno));
                close(fd);
                return -1;
        }
        if (!S_ISREG(st->st_mode)) {
                snprintf(why, why_size, "not a regular file (%s): cannot be read "
                         "as NDJSON; remove it or replace it with a file",
                         file_type(st->st_mode));
                close(fd);
                return -1;
        }
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
                fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
#ifdef POSIX_FADV_SEQUENTIAL
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
        return fd;
}

tecg_err_t tecg_ingest_spool_file(tecg_ingest_t *ing, const char *name,
                                  char *errstr, size_t errstr_size) {
        char path[PATH_MAX], why[PATH_MAX + 128];
        struct stat st;
        if (has_control_bytes(name)) {
                hold_fail(ing, name, "the file name has control characters, which "
                          "would garble logs and rejected/NAME.errors: rename it",
                          NULL);
                return TECG_OK;
        }
        tecg_spool_incoming_path(ing->spool, name, path, sizeof(path));
        int fd = open_spool_file(path, &st, why, sizeof(why));
        if (fd < 0) {
                if (*why)
                        hold_fail(ing, name, why, NULL);
                else /* taken away since the scan */
                        hold_clear(ing, name, false);
                return TECG_OK;
        }
        file_id_t id;
        file_id_of(&st, &id);
        hold_t *h = hold_find(ing, name);
        if (h && h->how == RETRY_MOVE && file_id_equal(&h->id, &id)) {
                /* Sent before; only its move to done/ is left to do. */
                close(fd);
                spool_file_done(ing, name, &id, h->lines, h->delivered, h->rejected);
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
        if (h && h->how == RETRY_RESUME && file_id_equal(&h->id, &id) &&
            rejected_intact(ing, name, h)) {
                b->skip = h->lines;
                b->delivered = h->delivered;
                b->rejected = h->rejected;
                b->errors_good = h->errors_good;
                b->lines_good = h->lines_good;
                tecg_log_debug(FAC, "%s: resuming at line %llu", name,
                               (unsigned long long)h->lines + 1);
                /* Cut what the failed write may have left half-written. */
                if (!rejected_open(ing, b)) {
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

tecg_err_t tecg_ingest_stream(tecg_ingest_t *ing, const char *name, int fd,
                              char *errstr, size_t errstr_size) {
        tecg_linereader_t *r = tecg_linereader_new(fd, ing->opts.validate.max_line_bytes,
                                                   TECG_INGEST_TOO_LONG_KEEP);
        batch_t *b = r ? batch_new(ing, name, false) : NULL;
        if (!b) {
                tecg_linereader_destroy(r);
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        tecg_err_t err = ingest_batch(ing, b, r, errstr, errstr_size);
        tecg_linereader_destroy(r);
        return err;
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
        hold_t *h = hold_find(ing, name);
        return h && h->retry_at_ms > tecg_mono_ms();
}

static int name_cmp(const void *key, const void *elem) {
        return strcmp(key, *(char *const *)elem);
}

void tecg_ingest_scanned(tecg_ingest_t *ing, char *const *names, size_t count) {
        for (hold_t **pp = &ing->holds; *pp;) {
                hold_t *h = *pp;
                if (!bsearch(h->name, names, count, sizeof(*names), name_cmp)) {
                        *pp = h->next;
                        hold_free(h);
                } else {
                        pp = &h->next;
                }
        }
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
