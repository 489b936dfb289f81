#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* The messages about held files kept the facility they had when this was
 * part of ingest.c: operators and tests look for "ingest: NAME: ...". */
#define FAC "ingest"
/* While a held file keeps failing the same way, say so this often. */
#define HOLD_REMIND_MS ((int64_t)10 * 60 * 1000)
#define DEFAULT_RETRY_INTERVAL_MS 30000

/* A spool file that failed (unreadable, disk full...): not tried again
 * before `retry_at_ms`, so a persistent problem does not spin. Kept after
 * it expires, to know whether the next failure is news, until the file
 * goes through or leaves incoming/. */
typedef struct hold {
        struct hold *next;
        char *name;
        char *reason; /* the last failure */
        int64_t since_ms, retry_at_ms, logged_ms;
        unsigned attempts;
        tecg_spool_progress_t progress;
} hold_t;

struct tecg_spool {
        char *dir;
        char incoming[PATH_MAX];
        char done[PATH_MAX];
        char rejected[PATH_MAX];
        int64_t retry_interval_ms;
        hold_t *holds;
        /* Names in incoming/ that are not spool files, sorted, each logged
         * once while it stays there. */
        char **foreign;
        size_t nforeign;
};

/* Foreign names remembered; past this many, the rest are not logged. */
#define FOREIGN_MAX 1024

static void hold_free(hold_t *h) {
        free(h->name);
        free(h->reason);
        free(h);
}

/* Directories the producer creates: the operator's account and its group
 * only, whatever the umask (docs/design.md §9.5). One that exists keeps
 * the mode the operator gave it. */
#define SPOOL_DIR_MODE 0750
/* A rejected/ file whose input has no mode to copy (standard input). */
#define REJECTS_FILE_MODE 0640

static tecg_err_t ensure_dir(const char *path, char *errstr, size_t errstr_size) {
        struct stat st;
        if (mkdir(path, SPOOL_DIR_MODE) != 0 && errno != EEXIST)
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: cannot create: %s", path,
                                   strerror(errno));
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: not a directory", path);
        if (access(path, W_OK | X_OK) != 0)
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: not writable: %s", path,
                                   strerror(errno));
        return TECG_OK;
}

tecg_spool_t *tecg_spool_open(const char *dir, char *errstr, size_t errstr_size) {
        tecg_spool_t *spool = calloc(1, sizeof(*spool));
        if (!spool || !(spool->dir = strdup(dir))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto fail;
        }
        /* Leave room below PATH_MAX for the file names appended later. */
        if (strlen(dir) > PATH_MAX - 512) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "spool.dir: path too long");
                goto fail;
        }
        spool->retry_interval_ms = DEFAULT_RETRY_INTERVAL_MS;
        snprintf(spool->incoming, sizeof(spool->incoming), "%s/incoming", dir);
        snprintf(spool->done, sizeof(spool->done), "%s/done", dir);
        snprintf(spool->rejected, sizeof(spool->rejected), "%s/rejected", dir);
        if (ensure_dir(dir, errstr, errstr_size) ||
            ensure_dir(spool->incoming, errstr, errstr_size) ||
            ensure_dir(spool->done, errstr, errstr_size) ||
            ensure_dir(spool->rejected, errstr, errstr_size))
                goto fail;
        return spool;
fail:
        tecg_spool_close(spool);
        return NULL;
}

void tecg_spool_close(tecg_spool_t *spool) {
        if (!spool)
                return;
        for (hold_t *h = spool->holds; h;) {
                hold_t *next = h->next;
                hold_free(h);
                h = next;
        }
        tecg_spool_names_free(spool->foreign, spool->nforeign);
        free(spool->dir);
        free(spool);
}

void tecg_spool_set_retry_interval(tecg_spool_t *spool, int64_t ms) {
        spool->retry_interval_ms = ms;
}

const char *tecg_spool_dir(const tecg_spool_t *spool) {
        return spool->dir;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int key_cmp(const void *key, const void *elem) {
        return strcmp(key, *(char *const *)elem);
}

/* Forgets the holds of files no longer in incoming/ (`names` sorted). */
static void forget_missing(tecg_spool_t *spool, char *const *names, size_t count) {
        for (hold_t **pp = &spool->holds; *pp;) {
                hold_t *h = *pp;
                if (!count || !bsearch(h->name, names, count, sizeof(*names), key_cmp)) {
                        *pp = h->next;
                        hold_free(h);
                } else {
                        pp = &h->next;
                }
        }
}

static int is_ndjson(const char *name) {
        size_t n = strlen(name);
        return name[0] != '.' && n > 7 && strcmp(name + n - 7, ".ndjson") == 0;
}

/* What a national system leaves while it writes (NAME.tmp) and dot-files
 * are passed over in silence; anything else in incoming/ is a mistake
 * worth one log line (events.json would otherwise wait there forever). */
static bool is_foreign(const char *name) {
        size_t n = strlen(name);
        return name[0] != '.' && !is_ndjson(name) && !(n > 4 && strcmp(name + n - 4, ".tmp") == 0);
}

static const char *printable(const char *name, char *out, size_t out_size);

/* Logs the foreign names of this scan that the last one did not have, and
 * keeps this scan's (they take ownership of `names`). */
static void foreign_review(tecg_spool_t *spool, char **names, size_t count) {
        if (count)
                qsort(names, count, sizeof(*names), name_cmp);
        for (size_t i = 0; i < count; i++) {
                if (spool->nforeign &&
                    bsearch(&names[i], spool->foreign, spool->nforeign, sizeof(*names), name_cmp))
                        continue;
                char pname[1024];
                tecg_log_warn(FAC,
                              "%s/%s: ignored: only NAME.ndjson files are read (write NAME.tmp, "
                              "then rename it to NAME.ndjson)",
                              spool->incoming, printable(names[i], pname, sizeof(pname)));
        }
        tecg_spool_names_free(spool->foreign, spool->nforeign);
        spool->foreign = names;
        spool->nforeign = count;
}

tecg_err_t tecg_spool_scan(tecg_spool_t *spool, char ***namesp, size_t *countp, char *errstr,
                           size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        char **names = NULL, **foreign = NULL;
        size_t count = 0, cap = 0, nforeign = 0;
        DIR *d = opendir(spool->incoming);
        *namesp = NULL;
        *countp = 0;
        if (!d)
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: cannot list: %s",
                                   spool->incoming, strerror(errno));
        struct dirent *de;
        while ((de = readdir(d))) {
                if (is_foreign(de->d_name) && nforeign < FOREIGN_MAX) {
                        if (!foreign && !(foreign = calloc(FOREIGN_MAX, sizeof(*foreign)))) {
                                err = TECG_ERR_NOMEM;
                                goto done;
                        }
                        if (!(foreign[nforeign] = strdup(de->d_name))) {
                                err = TECG_ERR_NOMEM;
                                goto done;
                        }
                        nforeign++;
                }
                if (!is_ndjson(de->d_name))
                        continue;
                if (count == cap) {
                        cap = cap ? cap * 2 : 16;
                        char **nn = realloc(names, cap * sizeof(*names));
                        if (!nn) {
                                err = TECG_ERR_NOMEM;
                                goto done;
                        }
                        names = nn;
                }
                if (!(names[count] = strdup(de->d_name))) {
                        err = TECG_ERR_NOMEM;
                        goto done;
                }
                count++;
        }
        if (count)
                qsort(names, count, sizeof(*names), name_cmp);
done:
        closedir(d);
        if (err) {
                tecg_spool_names_free(names, count);
                tecg_spool_names_free(foreign, nforeign);
                return tecg_seterr(err, errstr, errstr_size, "out of memory");
        }
        foreign_review(spool, foreign, nforeign);
        forget_missing(spool, names, count);
        *namesp = names;
        *countp = count;
        return TECG_OK;
}

void tecg_spool_names_free(char **names, size_t count) {
        for (size_t i = 0; i < count; i++)
                free(names[i]);
        free(names);
}

/* A path into out. It cannot be cut short in a PATH_MAX buffer: the
 * directory leaves 512 bytes below PATH_MAX and a file name has at most
 * 255. Through vsnprintf, so that the compiler does not warn about every
 * caller of the path functions that it inlines them into. */
static const char *path_printf(char *out, size_t out_size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static const char *path_printf(char *out, size_t out_size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out, out_size, fmt, ap);
        va_end(ap);
        return out;
}

const char *tecg_spool_incoming_path(const tecg_spool_t *spool, const char *name, char *out,
                                     size_t out_size) {
        return path_printf(out, out_size, "%s/%s", spool->incoming, name);
}

const char *tecg_spool_rejected_path(const tecg_spool_t *spool, const char *name,
                                     const char *suffix, char *out, size_t out_size) {
        /* FRA-1.ndjson -> rejected/FRA-1.errors / rejected/FRA-1.ndjson */
        size_t n = strlen(name);
        if (n > 7 && strcmp(name + n - 7, ".ndjson") == 0)
                n -= 7;
        return path_printf(out, out_size, "%s/%.*s%s", spool->rejected, (int)n, name, suffix);
}

static void fsync_dir(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
                fsync(fd);
                close(fd);
        }
}

tecg_err_t tecg_spool_finish(tecg_spool_t *spool, const char *name, char *errstr,
                             size_t errstr_size) {
        char from[PATH_MAX], to[PATH_MAX];
        if (snprintf(from, sizeof(from), "%s/%s", spool->incoming, name) >= (int)sizeof(from) ||
            snprintf(to, sizeof(to), "%s/%s", spool->done, name) >= (int)sizeof(to))
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: path too long", name);
        for (int i = 1; access(to, F_OK) == 0; i++) {
                if (i > 100000 ||
                    snprintf(to, sizeof(to), "%s/%s.%d", spool->done, name, i) >= (int)sizeof(to))
                        return tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                           "%s: no free name in done/", name);
        }
        if (rename(from, to) != 0)
                return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "cannot move %s to %s: %s",
                                   from, to, strerror(errno));
        fsync_dir(spool->done);
        fsync_dir(spool->incoming);
        return TECG_OK;
}

/* ---- taking a file ---------------------------------------------------- */

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

static void file_id_of(const struct stat *st, tecg_spool_file_id_t *id) {
        id->dev = st->st_dev;
        id->ino = st->st_ino;
        id->size = st->st_size;
        id->mtime = st->st_mtim;
}

bool tecg_spool_file_id_equal(const tecg_spool_file_id_t *a, const tecg_spool_file_id_t *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static const char *file_type(mode_t m) {
        return S_ISDIR(m)    ? "a directory"
               : S_ISFIFO(m) ? "a FIFO"
               : S_ISSOCK(m) ? "a socket"
               : S_ISCHR(m)  ? "a character device"
               : S_ISBLK(m)  ? "a block device"
                             : "not a regular file";
}

/* Opens path for reading if it is a regular file. -1 when it is gone
 * (ENOENT, nothing to say) or cannot be read (*why set). */
static int open_regular(const char *path, struct stat *st, char *why, size_t why_size) {
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        *why = '\0';
        if (fd < 0) {
                int e = errno;
                struct stat lst;
                if (e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
                        snprintf(why, why_size,
                                 "cannot open: a symbolic link to "
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
                snprintf(why, why_size,
                         "not a regular file (%s): cannot be read "
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

tecg_err_t tecg_spool_take(tecg_spool_t *spool, const char *name, int *fdp,
                           tecg_spool_file_id_t *idp) {
        char path[PATH_MAX], why[PATH_MAX + 128];
        struct stat st;
        *fdp = -1;
        if (has_control_bytes(name)) {
                tecg_spool_hold(spool, name,
                                "the file name has control characters, "
                                "which would garble logs and rejected/NAME.errors: "
                                "rename it",
                                NULL, NULL);
                return TECG_ERR_IO;
        }
        tecg_spool_incoming_path(spool, name, path, sizeof(path));
        int fd = open_regular(path, &st, why, sizeof(why));
        if (fd < 0) {
                if (!*why) { /* taken away since the scan */
                        tecg_spool_release(spool, name, false);
                        return TECG_ERR_NOT_FOUND;
                }
                tecg_spool_hold(spool, name, why, NULL, NULL);
                return TECG_ERR_IO;
        }
        file_id_of(&st, idp);
        *fdp = fd;
        return TECG_OK;
}

/* ---- held files ------------------------------------------------------- */

static hold_t *hold_find(const tecg_spool_t *spool, const char *name) {
        for (hold_t *h = spool->holds; h; h = h->next)
                if (strcmp(h->name, name) == 0)
                        return h;
        return NULL;
}

void tecg_spool_hold(tecg_spool_t *spool, const char *name, const char *reason, const char *detail,
                     const tecg_spool_progress_t *progress) {
        char pname[PATH_MAX];
        int64_t now = tecg_mono_ms();
        hold_t *h = hold_find(spool, name);
        if (!h) {
                h = calloc(1, sizeof(*h));
                if (!h || !(h->name = strdup(name))) {
                        free(h);
                        tecg_log_err(FAC, "%s: %s (out of memory: not held back)",
                                     printable(name, pname, sizeof(pname)), reason);
                        return;
                }
                h->since_ms = now;
                h->next = spool->holds;
                spool->holds = h;
        }
        h->attempts++;
        bool was_read = h->progress.was_read;
        if (progress)
                h->progress = *progress;
        else
                h->progress.how = TECG_SPOOL_RETRY_ALL;
        h->progress.was_read = was_read || (progress && progress->was_read);
        h->retry_at_ms = now + spool->retry_interval_ms;
        printable(name, pname, sizeof(pname));
        if (!h->reason || strcmp(h->reason, reason) != 0) {
                free(h->reason);
                h->reason = strdup(reason);
                h->logged_ms = now;
                tecg_log_err(FAC,
                             "%s: %s%s%s; the file stays in incoming/ and is "
                             "tried again in %.1f s",
                             pname, reason, detail ? "; " : "", detail ? detail : "",
                             (double)spool->retry_interval_ms / 1000.0);
        } else if (now - h->logged_ms >= HOLD_REMIND_MS) {
                h->logged_ms = now;
                tecg_log_warn(FAC,
                              "%s: still held back after %u attempts over "
                              "%lld s: %s",
                              pname, h->attempts, (long long)(now - h->since_ms) / 1000, reason);
        } else {
                tecg_log_debug(FAC, "%s: attempt %u failed again: %s", pname, h->attempts, reason);
        }
}

const tecg_spool_progress_t *tecg_spool_held(const tecg_spool_t *spool, const char *name) {
        hold_t *h = hold_find(spool, name);
        return h ? &h->progress : NULL;
}

bool tecg_spool_is_waiting(const tecg_spool_t *spool, const char *name) {
        hold_t *h = hold_find(spool, name);
        return h && h->retry_at_ms > tecg_mono_ms();
}

void tecg_spool_release(tecg_spool_t *spool, const char *name, bool recovered) {
        char pname[PATH_MAX];
        for (hold_t **pp = &spool->holds; *pp; pp = &(*pp)->next) {
                hold_t *h = *pp;
                if (strcmp(h->name, name) != 0)
                        continue;
                if (recovered)
                        tecg_log_notice(FAC,
                                        "%s: goes through now, after %u failed "
                                        "attempt%s over %lld s",
                                        printable(name, pname, sizeof(pname)), h->attempts,
                                        h->attempts == 1 ? "" : "s",
                                        (long long)(tecg_mono_ms() - h->since_ms) / 1000);
                *pp = h->next;
                hold_free(h);
                return;
        }
}

tecg_err_t tecg_spool_complete(tecg_spool_t *spool, const char *name,
                               const tecg_spool_progress_t *done) {
        char errstr[PATH_MAX * 2 + 64], reason[sizeof(errstr) + 64];
        if (tecg_spool_finish(spool, name, errstr, sizeof(errstr))) {
                tecg_spool_progress_t move = *done;
                move.how = TECG_SPOOL_RETRY_MOVE;
                move.was_read = false; /* keeps what earlier attempts said */
                snprintf(reason, sizeof(reason),
                         "every line was delivered or "
                         "rejected, but %s",
                         errstr);
                tecg_spool_hold(spool, name, reason, "only the move is tried again", &move);
                return TECG_ERR_IO;
        }
        tecg_spool_release(spool, name, true);
        return TECG_OK;
}

/* ---- rejected/ -------------------------------------------------------- */

struct tecg_spool_rejects {
        tecg_spool_t *spool;
        char *name;
        tecg_spool_rejects_pos_t good; /* bytes known written */
        FILE *errors_fp;               /* NAME.errors, opened lazily */
        FILE *lines_fp;                /* NAME.ndjson, opened lazily */
        /* Rejections with their line written to the buffers but not yet
         * flushed: from line unflushed_from on. */
        uint64_t unflushed_from, unflushed_count;
};

tecg_spool_rejects_t *tecg_spool_rejects_new(tecg_spool_t *spool, const char *name,
                                             const tecg_spool_rejects_pos_t *resume) {
        tecg_spool_rejects_t *w = calloc(1, sizeof(*w));
        if (!w || !(w->name = strdup(name))) {
                free(w);
                return NULL;
        }
        w->spool = spool;
        if (resume)
                w->good = *resume;
        return w;
}

void tecg_spool_rejects_destroy(tecg_spool_rejects_t *w) {
        if (!w)
                return;
        /* A close error is not news here: the attempt is given up, and a
         * resumed one keeps only what _flush() counted as written. */
        if (w->errors_fp)
                (void)fclose(w->errors_fp);
        if (w->lines_fp)
                (void)fclose(w->lines_fp);
        free(w->name);
        free(w);
}

/* A write error on rejected/NAME<suffix>; errno (0: unknown) is the cause. */
static tecg_err_t write_failed(const tecg_spool_rejects_t *w, const char *suffix, char *errstr,
                               size_t errstr_size) {
        char path[PATH_MAX];
        int e = errno;
        tecg_spool_rejected_path(w->spool, w->name, suffix, path, sizeof(path));
        return tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "cannot write %s: %s", path,
                           strerror(e ? e : EIO));
}

/* The mode of the rejected/ files of input NAME: the rejected lines are
 * the input's own lines, so whoever may read the input may read them and
 * no one else; never writable by group or others. REJECTS_FILE_MODE when
 * the input is not a file of incoming/ (docs/design.md §9.5). */
static mode_t rejects_mode(const tecg_spool_t *spool, const char *name) {
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof(path), "%s/%s", spool->incoming, name) >= (int)sizeof(path) ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                return REJECTS_FILE_MODE;
        return st.st_mode & 0644;
}

/* Opens rejected/NAME<suffix> for writing after its first `keep` bytes
 * (what a resumed attempt keeps; 0 truncates what an earlier attempt left).
 * The mode of a regular file is set whether it is new or not: one left by
 * an earlier attempt or version may be wider than the input's. */
static FILE *open_one(const tecg_spool_rejects_t *w, const char *suffix, long keep, char *errstr,
                      size_t errstr_size) {
        char path[PATH_MAX];
        mode_t mode = rejects_mode(w->spool, w->name);
        tecg_spool_rejected_path(w->spool, w->name, suffix, path, sizeof(path));
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (keep ? 0 : O_TRUNC), mode);
        struct stat st;
        FILE *fp = NULL;
        if (fd < 0 || fstat(fd, &st) != 0 ||
            (S_ISREG(st.st_mode) && (st.st_mode & 07777) != mode && fchmod(fd, mode) != 0) ||
            (keep && ftruncate(fd, keep) != 0) || lseek(fd, 0, SEEK_END) < 0 ||
            !(fp = fdopen(fd, "w"))) {
                write_failed(w, suffix, errstr, errstr_size);
                if (fd >= 0)
                        close(fd);
                return NULL;
        }
        return fp;
}

tecg_err_t tecg_spool_rejects_open(tecg_spool_rejects_t *w, char *errstr, size_t errstr_size) {
        if (w->errors_fp)
                return TECG_OK;
        if (!(w->errors_fp = open_one(w, ".errors", w->good.errors_bytes, errstr, errstr_size)))
                return TECG_ERR_IO;
        if (!(w->lines_fp = open_one(w, ".ndjson", w->good.lines_bytes, errstr, errstr_size))) {
                (void)fclose(w->errors_fp); /* just opened, nothing written yet */
                w->errors_fp = NULL;
                return TECG_ERR_IO;
        }
        return TECG_OK;
}

tecg_err_t tecg_spool_rejects_add(tecg_spool_rejects_t *w, uint64_t line, const char *raw,
                                  size_t raw_len, const char *reason, char *errstr,
                                  size_t errstr_size) {
        if (raw) {
                if (!w->unflushed_count)
                        w->unflushed_from = line;
                w->unflushed_count++;
        }
        tecg_err_t err = tecg_spool_rejects_open(w, errstr, errstr_size);
        if (err)
                return err;
        errno = 0;
        if (fprintf(w->errors_fp, "%s:%llu: %s\n", w->name, (unsigned long long)line, reason) < 0)
                return write_failed(w, ".errors", errstr, errstr_size);
        errno = 0;
        if (raw &&
            (fwrite(raw, 1, raw_len, w->lines_fp) != raw_len || fputc('\n', w->lines_fp) == EOF))
                return write_failed(w, ".ndjson", errstr, errstr_size);
        return TECG_OK;
}

tecg_err_t tecg_spool_rejects_copy_line(tecg_spool_rejects_t *w, const char *raw, size_t raw_len,
                                        char *errstr, size_t errstr_size) {
        tecg_err_t err = tecg_spool_rejects_open(w, errstr, errstr_size);
        if (err)
                return err;
        errno = 0;
        if (fwrite(raw, 1, raw_len, w->lines_fp) != raw_len || fputc('\n', w->lines_fp) == EOF)
                return write_failed(w, ".ndjson", errstr, errstr_size);
        return TECG_OK;
}

tecg_err_t tecg_spool_rejects_flush(tecg_spool_rejects_t *w, char *errstr, size_t errstr_size) {
        if (!w->unflushed_count || !w->errors_fp)
                return TECG_OK;
        errno = 0;
        if (fflush(w->errors_fp) != 0)
                return write_failed(w, ".errors", errstr, errstr_size);
        errno = 0;
        if (fflush(w->lines_fp) != 0)
                return write_failed(w, ".ndjson", errstr, errstr_size);
        w->unflushed_count = 0;
        w->good.errors_bytes = ftell(w->errors_fp);
        w->good.lines_bytes = ftell(w->lines_fp);
        return TECG_OK;
}

uint64_t tecg_spool_rejects_unflushed(const tecg_spool_rejects_t *w, uint64_t *first_line) {
        if (w->unflushed_count)
                *first_line = w->unflushed_from;
        return w->unflushed_count;
}

void tecg_spool_rejects_drop_unflushed(tecg_spool_rejects_t *w) {
        w->unflushed_count = 0;
}

void tecg_spool_rejects_pos(const tecg_spool_rejects_t *w, tecg_spool_rejects_pos_t *out) {
        *out = w->good;
}

/* Closes one file, its data on disk; false on error (errno). */
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

tecg_err_t tecg_spool_rejects_close(tecg_spool_rejects_t *w, char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        if (!close_synced(&w->errors_fp))
                err = write_failed(w, ".errors", errstr, errstr_size);
        if (!close_synced(&w->lines_fp) && !err)
                err = write_failed(w, ".ndjson", errstr, errstr_size);
        return err;
}

bool tecg_spool_rejects_intact(const tecg_spool_t *spool, const char *name,
                               const tecg_spool_rejects_pos_t *pos) {
        char path[PATH_MAX];
        struct stat st;
        const char *suffix[2] = {".errors", ".ndjson"};
        long good[2] = {pos->errors_bytes, pos->lines_bytes};
        for (int i = 0; i < 2; i++) {
                tecg_spool_rejected_path(spool, name, suffix[i], path, sizeof(path));
                if (good[i] && (stat(path, &st) != 0 || st.st_size < good[i]))
                        return false;
        }
        return true;
}

void tecg_spool_rejects_remove(const tecg_spool_t *spool, const char *name) {
        char path[PATH_MAX];
        unlink(tecg_spool_rejected_path(spool, name, ".errors", path, sizeof(path)));
        unlink(tecg_spool_rejected_path(spool, name, ".ndjson", path, sizeof(path)));
}
