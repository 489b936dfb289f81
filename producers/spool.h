/* The spool directory of one nation (docs/design.md §2):
 *
 *   incoming/  national system writes NAME.tmp, renames to NAME.ndjson
 *   done/      files whose every valid line Kafka acknowledged
 *   rejected/  NAME.errors ("NAME:LINE: reason" per rejected line) and
 *              NAME.ndjson (the rejected lines themselves, to fix and resend)
 *
 * Besides the directory itself, the spool keeps what the producer must
 * remember about its files between attempts:
 *
 *   - taking a file (tecg_spool_take): only regular files with printable
 *     names, opened without blocking;
 *   - held files (tecg_spool_hold...): a file that cannot be taken or
 *     finished now stays in incoming/ and is not tried again before
 *     spool.retry.interval.ms; the retry either starts over, resumes after
 *     the lines already accounted for, or only moves the file to done/;
 *   - the rejected/ writer (tecg_spool_rejects_*): NAME.errors and
 *     NAME.ndjson of one attempt, with the byte offsets a resumed attempt
 *     continues from after a write failure (disk full).
 *
 * What is sent, and the accounting of lines, is ingest's (ingest.h).
 *
 * Log lines about held files keep the facility "ingest" they always had:
 * operators and tests look for "ingest: NAME: ...". */
#ifndef TECG_SPOOL_H
#define TECG_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "err.h"

typedef struct tecg_spool tecg_spool_t;

/* ---- the directory ---------------------------------------------------- */

/* Opens (creating the three subdirectories if missing) and checks that each
 * is a writable directory. Held files are retried after 30 s until
 * tecg_spool_set_retry_interval() says otherwise. */
tecg_spool_t *tecg_spool_open(const char *dir, char *errstr, size_t errstr_size);
/* Forgets every held file. NULL ok. */
void tecg_spool_close(tecg_spool_t *spool);

/* spool.retry.interval.ms: how long a held file waits before its retry. */
void tecg_spool_set_retry_interval(tecg_spool_t *spool, int64_t ms);

/* Lists incoming/ *.ndjson sorted by name (names only, *.tmp and anything
 * else ignored). *namesp is a malloc'd array of malloc'd strings the caller
 * frees with tecg_spool_names_free(). On success, also forgets the held
 * files that are no longer listed (taken away: nothing to retry). */
tecg_err_t tecg_spool_scan(tecg_spool_t *spool, char ***namesp, size_t *countp, char *errstr,
                           size_t errstr_size);
void tecg_spool_names_free(char **names, size_t count);

/* Path of incoming/NAME, or of rejected/NAME<suffix> with NAME's ".ndjson"
 * replaced by `suffix` (".errors", ".ndjson"), into out. */
const char *tecg_spool_incoming_path(const tecg_spool_t *spool, const char *name, char *out,
                                     size_t out_size);
const char *tecg_spool_rejected_path(const tecg_spool_t *spool, const char *name,
                                     const char *suffix, char *out, size_t out_size);

/* Moves incoming/NAME to done/NAME (done/NAME.1, .2... if the name was used
 * before: a file is never overwritten). fsyncs the directories so a crash
 * after return cannot bring the file back to incoming/. Holds nothing:
 * see tecg_spool_complete(). */
tecg_err_t tecg_spool_finish(tecg_spool_t *spool, const char *name, char *errstr,
                             size_t errstr_size);

const char *tecg_spool_dir(const tecg_spool_t *spool);

/* ---- taking a file ---------------------------------------------------- */

/* Which file a spool name was when it was opened: a held file is resumed,
 * or only moved to done/, if it is still that file. */
typedef struct {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
} tecg_spool_file_id_t;

bool tecg_spool_file_id_equal(const tecg_spool_file_id_t *a, const tecg_spool_file_id_t *b);

/* Opens incoming/NAME for reading, never blocking (a FIFO without a writer
 * would stop the daemon).
 *   TECG_OK            *fdp is the open file (the caller closes it), *idp
 *                      says which file it is;
 *   TECG_ERR_NOT_FOUND it went away since the scan: its hold, if any, is
 *                      forgotten;
 *   TECG_ERR_IO        it cannot be taken now (a name with control
 *                      characters, not a regular file, unreadable): it is
 *                      held back with the reason (tecg_spool_hold()). */
tecg_err_t tecg_spool_take(tecg_spool_t *spool, const char *name, int *fdp,
                           tecg_spool_file_id_t *idp);

/* ---- held files ------------------------------------------------------- */

/* Bytes of rejected/NAME.errors and rejected/NAME.ndjson known to be
 * written: where a resumed attempt continues. */
typedef struct {
        long errors_bytes, lines_bytes;
} tecg_spool_rejects_pos_t;

/* How far an attempt at a file got, and so what its retry does. */
typedef struct {
        enum {
                TECG_SPOOL_RETRY_ALL,    /* send the whole file again */
                TECG_SPOOL_RETRY_RESUME, /* from line `lines` + 1: lines
                                          * 1..lines were accounted for with
                                          * these counts and `rejects` */
                TECG_SPOOL_RETRY_MOVE,   /* every line was accounted for:
                                          * only move it to done/ */
        } how;
        /* The attempt read lines and logged their rejections; sticky: once
         * set for a held file, it stays set until the hold ends. */
        bool was_read;
        tecg_spool_file_id_t id; /* RESUME and MOVE: only if still this file */
        uint64_t lines, delivered, rejected;
        tecg_spool_rejects_pos_t rejects;
} tecg_spool_progress_t;

/* Holds NAME back after a failure for the retry interval. `progress` (NULL:
 * nothing read, retry the whole file) is copied. The reason is logged as an
 * error when it is new for this file, with `detail` (how far this attempt
 * got, may be NULL); while the same reason lasts, a warning every 10
 * minutes. */
void tecg_spool_hold(tecg_spool_t *spool, const char *name, const char *reason, const char *detail,
                     const tecg_spool_progress_t *progress);

/* The progress of held file NAME, NULL when it is not held. Owned by the
 * spool, valid until the next hold, release or scan. */
const tecg_spool_progress_t *tecg_spool_held(const tecg_spool_t *spool, const char *name);

/* True while NAME is held and its retry time has not come. */
bool tecg_spool_is_waiting(const tecg_spool_t *spool, const char *name);

/* Forgets NAME's hold; `recovered`: it went through after its failures
 * (logged as a notice with the count of failed attempts). */
void tecg_spool_release(tecg_spool_t *spool, const char *name, bool recovered);

/* The end of a file whose every line is accounted for (`done`: its id and
 * counts; `how` is ignored): moves it to done/ and releases its hold. When
 * the move fails the file is held for a move-only retry and the reason is
 * logged; TECG_ERR_IO then. */
tecg_err_t tecg_spool_complete(tecg_spool_t *spool, const char *name,
                               const tecg_spool_progress_t *done);

/* ---- rejected/ -------------------------------------------------------- */

typedef struct tecg_spool_rejects tecg_spool_rejects_t;

/* The writer of rejected/NAME.errors and rejected/NAME.ndjson for one
 * attempt at NAME (`name` copied, `spool` borrowed). `resume` NULL: a fresh
 * attempt, whatever an earlier one left is truncated; else the files are
 * cut back to resume's offsets and appended to. Nothing is opened before
 * the first tecg_spool_rejects_open() or _add(). NULL when out of memory. */
tecg_spool_rejects_t *tecg_spool_rejects_new(tecg_spool_t *spool, const char *name,
                                             const tecg_spool_rejects_pos_t *resume);

/* Closes the files without syncing them (an attempt given up). NULL ok. */
void tecg_spool_rejects_destroy(tecg_spool_rejects_t *w);

/* Opens both files if they are not open yet. TECG_ERR_IO with "cannot
 * write PATH: reason" (the same for every write error below). */
tecg_err_t tecg_spool_rejects_open(tecg_spool_rejects_t *w, char *errstr, size_t errstr_size);

/* Records the rejection of line `line`: "NAME:LINE: reason" in NAME.errors,
 * and, when `raw` is not NULL, the line itself in NAME.ndjson (the line of
 * a later refusal by Kafka is copied with tecg_spool_rejects_copy_line()).
 * Into stdio's buffers only: tecg_spool_rejects_flush() makes them reach
 * the files. A rejection with its line counts as unflushed until then,
 * even when this call fails. */
tecg_err_t tecg_spool_rejects_add(tecg_spool_rejects_t *w, uint64_t line, const char *raw,
                                  size_t raw_len, const char *reason, char *errstr,
                                  size_t errstr_size);

/* Appends one line to NAME.ndjson (opening the files if needed). */
tecg_err_t tecg_spool_rejects_copy_line(tecg_spool_rejects_t *w, const char *raw, size_t raw_len,
                                        char *errstr, size_t errstr_size);

/* Writes the unflushed rejections to the files; then they are the resume
 * point (tecg_spool_rejects_pos()). TECG_OK when there were none. */
tecg_err_t tecg_spool_rejects_flush(tecg_spool_rejects_t *w, char *errstr, size_t errstr_size);

/* Rejections with their line added since the last successful flush, and
 * the number of the first of them in *first_line (when there are any). */
uint64_t tecg_spool_rejects_unflushed(const tecg_spool_rejects_t *w, uint64_t *first_line);

/* Forgets the unflushed rejections (their lines will be read again). */
void tecg_spool_rejects_drop_unflushed(tecg_spool_rejects_t *w);

/* The offsets known written at the last successful flush (or given to
 * _new() to resume from). */
void tecg_spool_rejects_pos(const tecg_spool_rejects_t *w, tecg_spool_rejects_pos_t *out);

/* Flushes, fsyncs and closes both files (the first error is returned);
 * the writer can be destroyed afterwards. */
tecg_err_t tecg_spool_rejects_close(tecg_spool_rejects_t *w, char *errstr, size_t errstr_size);

/* The rejected/ files of NAME still hold at least the bytes at `pos`
 * (nobody took them away since): a resumed attempt can append to them. */
bool tecg_spool_rejects_intact(const tecg_spool_t *spool, const char *name,
                               const tecg_spool_rejects_pos_t *pos);

/* Removes NAME's rejected/ files: what an earlier attempt rejected is stale
 * once an attempt rejects nothing. */
void tecg_spool_rejects_remove(const tecg_spool_t *spool, const char *name);

#endif
