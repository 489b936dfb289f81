/* Fuzz target: the producer's hostile-input path (producers/ingest.h), one
 * input = a control byte then the bytes of one spool file, which also go
 * through the stdin path.
 *
 * Everything the producer does with a file but Kafka: line reader,
 * validator, Avro encoding, rejected/ writer, the move to done/. The
 * encoded events go to a capture sink instead of Kafka; the control byte
 * says which of them the sink refuses (at send, or at delivery as Kafka
 * would). Small limits (512-byte lines, 8 lines per spool file) so the
 * limit paths are reached. Invariants:
 *   - lines in = delivered + rejected, with lines in counted
 *     independently ('\n's, plus an unterminated last line), for the
 *     spool file and for stdin alike;
 *   - the file ends in done/, unchanged, nothing is held back, nothing is
 *     outstanding;
 *   - rejected/NAME.errors has one "NAME:LINE: reason" line per rejected
 *     line, LINE within the file, the reason non-empty, one line of UTF-8
 *     without control characters; rejected/NAME.ndjson has one line per
 *     rejected line; neither exists when nothing was rejected;
 *   - every message sent decodes as an event (the Avro codec reads what
 *     ingest wrote). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avro_codec.h"
#include "fuzz.h"
#include "ingest.h"
#include "log.h"
#include "refdata.h"
#include "spool.h"

#define NAME "DEU-fuzz.ndjson"
#define MAX_LINE_BYTES 512
#define MAX_FILE_LINES 8

/* The fixed list of fuzz_validate.c, so the corpus means the same. */

/* The capture sink: keeps nothing but the count, acknowledges at poll. */
typedef struct {
        void *opaque[4096];
        uint64_t line[4096];
        size_t count;
        unsigned refuse_mod, invalid_mod; /* 0: none */
        uint64_t sent, refused;
        tecg_avro_t *avro;
} capture_t;

static struct {
        char dir[PATH_MAX - 512];
        tecg_nations_t *nations;
        tecg_spool_t *spool;
        tecg_ingest_t *spool_ing, *stream_ing;
        capture_t cap;
        volatile int stop;
} fz;

static tecg_err_t capture_send(void *ctx, tecg_topic_t topic, const void *payload, size_t len,
                               void *opaque, uint64_t line, char *errstr, size_t errstr_size) {
        capture_t *c = ctx;
        tecg_event_t ev;
        char err[512];
        FZ_CHECK((unsigned)topic < TECG_TOPIC__COUNT, "topic %d", (int)topic);
        FZ_CHECK(tecg_avro_decode_event(c->avro, payload, len, &ev, err, sizeof(err)) == TECG_OK,
                 "line %llu: what ingest sent does not decode: %s", (unsigned long long)line, err);
        /* A retraction goes with the type it retracts. */
        tecg_event_type_t routed =
                ev.type == TECG_EV_RETRACTION ? ev.u.retraction.retracts_type : ev.type;
        FZ_CHECK((topic == TECG_TOPIC_TRAINING) == (routed == TECG_EV_TRAINING),
                 "line %llu: event type %d (routed as %d) sent to topic %d",
                 (unsigned long long)line, (int)ev.type, (int)routed, (int)topic);
        if (c->invalid_mod && line % c->invalid_mod == 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "the sink refuses line %llu", (unsigned long long)line);
        FZ_CHECK(c->count < sizeof(c->line) / sizeof(c->line[0]), "too many messages");
        c->opaque[c->count] = opaque;
        c->line[c->count] = line;
        c->count++;
        c->sent++;
        return TECG_OK;
}

static void capture_poll(void *ctx, int timeout_ms) {
        capture_t *c = ctx;
        (void)timeout_ms;
        for (size_t i = 0; i < c->count; i++) {
                if (c->refuse_mod && c->line[i] % c->refuse_mod == 0) {
                        c->refused++;
                        tecg_ingest_ack(c->opaque[i], c->line[i],
                                        RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                        "Kafka refused the message: fuzz");
                } else {
                        tecg_ingest_ack(c->opaque[i], c->line[i], 0, NULL);
                }
        }
        c->count = 0;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        remove(path);
        return 0;
}

static void fz_teardown(void) {
        tecg_ingest_destroy(fz.spool_ing);
        tecg_ingest_destroy(fz.stream_ing);
        tecg_spool_close(fz.spool);
        tecg_nations_destroy(fz.nations);
        tecg_avro_destroy(fz.cap.avro);
        if (fz.dir[0])
                nftw(fz.dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
        memset(&fz, 0, sizeof(fz));
}

static void fz_setup(void) {
        char err[512];
        if (fz.spool)
                return;
        /* Logs would drown the fuzzer's output: errors only. */
        tecg_log_init("fuzz_ingest", TECG_LOG_CRIT);
        /* A memory file system when there is one: fsync costs nothing. */
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                           : getenv("TMPDIR")            ? getenv("TMPDIR")
                                                         : "/tmp";
        snprintf(fz.dir, sizeof(fz.dir), "%s/fuzz_ingest-XXXXXX", base);
        FZ_SETUP(mkdtemp(fz.dir), "mkdtemp %s: %s", fz.dir, strerror(errno));
        fz.nations = tecg_nations_parse(fuzz_nations_csv, sizeof(fuzz_nations_csv) - 1,
                                        "fuzz-nations", err, sizeof(err));
        FZ_SETUP(fz.nations, "%s", err);
        fz.spool = tecg_spool_open(fz.dir, err, sizeof(err));
        FZ_SETUP(fz.spool, "%s", err);
        fz.cap.avro = tecg_avro_new(err, sizeof(err));
        FZ_SETUP(fz.cap.avro, "%s", err);

        tecg_ingest_opts_t opts = {.max_file_lines = MAX_FILE_LINES, .retry_interval_ms = 100};
        tecg_validate_limits_init(&opts.validate);
        opts.validate.max_line_bytes = MAX_LINE_BYTES;
        tecg_ingest_sink_t sink = {.send = capture_send, .poll = capture_poll, .ctx = &fz.cap};
        fz.spool_ing = tecg_ingest_new_with_sink(&sink, fz.nations, "DEU", fz.spool, &opts,
                                                 &fz.stop, err, sizeof(err));
        FZ_SETUP(fz.spool_ing, "%s", err);
        fz.stream_ing = tecg_ingest_new_with_sink(&sink, fz.nations, "DEU", NULL, &opts, &fz.stop,
                                                  err, sizeof(err));
        FZ_SETUP(fz.stream_ing, "%s", err);
        atexit(fz_teardown);
}

static const char *path_in(const char *rel, char *out, size_t out_size) {
        snprintf(out, out_size, "%s/%s", fz.dir, rel);
        return out;
}

static void write_file(const char *path, const uint8_t *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        FZ_SETUP(fd >= 0, "%s: %s", path, strerror(errno));
        for (size_t off = 0; off < size;) {
                ssize_t n = write(fd, data + off, size - off);
                FZ_SETUP(n > 0, "%s: %s", path, strerror(errno));
                off += (size_t)n;
        }
        close(fd);
}

/* The whole file (NULL when missing), its size in *len. */
static uint8_t *read_whole(const char *path, size_t *len) {
        FILE *fp = fopen(path, "rb");
        uint8_t *buf = NULL;
        size_t cap = 0, n = 0, r;
        *len = 0;
        if (!fp)
                return NULL;
        do {
                if (cap - n < 4096) {
                        cap = cap ? cap * 2 : 8192;
                        buf = realloc(buf, cap);
                        FZ_SETUP(buf, "out of memory");
                }
                r = fread(buf + n, 1, cap - n - 1, fp);
                n += r;
        } while (r > 0);
        fclose(fp);
        buf[n] = '\0';
        *len = n;
        return buf;
}

/* rejected/NAME.errors: `rejected` lines "NAME:LINE: reason". */
static void check_errors_file(const char *path, uint64_t rejected, uint64_t lines) {
        size_t len;
        uint8_t *text = read_whole(path, &len);
        FZ_CHECK(text != NULL, "%s missing with %llu rejected", path, (unsigned long long)rejected);
        uint64_t count = 0;
        for (char *p = (char *)text; p < (char *)text + len;) {
                char *nl = memchr(p, '\n', (size_t)((char *)text + len - p));
                FZ_CHECK(nl != NULL, "%s: last line without newline", path);
                *nl = '\0';
                count++;
                FZ_CHECK(strncmp(p, NAME ":", strlen(NAME ":")) == 0,
                         "%s: line %llu does not start with the file name: %s", path,
                         (unsigned long long)count, p);
                char *end;
                unsigned long long n = strtoull(p + strlen(NAME ":"), &end, 10);
                FZ_CHECK(end != p + strlen(NAME ":") && n >= 1 && n <= lines &&
                                 strncmp(end, ": ", 2) == 0,
                         "%s: line %llu: no line number of 1..%llu: %s", path,
                         (unsigned long long)count, (unsigned long long)lines, p);
                const char *reason = end + 2;
                fz_check_reason("rejection", reason, strlen(reason) + 1);
                p = nl + 1;
        }
        FZ_CHECK(count == rejected, "%s: %llu lines for %llu rejected", path,
                 (unsigned long long)count, (unsigned long long)rejected);
        free(text);
}

static void check_rejected_lines_file(const char *path, uint64_t rejected) {
        size_t len, count = 0;
        uint8_t *text = read_whole(path, &len);
        FZ_CHECK(text != NULL, "%s missing with %llu rejected", path, (unsigned long long)rejected);
        for (size_t i = 0; i < len; i++)
                count += text[i] == '\n';
        FZ_CHECK(len == 0 || text[len - 1] == '\n', "%s: no final newline", path);
        FZ_CHECK(count == rejected, "%s: %zu lines for %llu rejected", path, count,
                 (unsigned long long)rejected);
        free(text);
}

static void check_accounting(const char *what, const tecg_ingest_stats_t *before,
                             const tecg_ingest_stats_t *after, uint64_t want_lines) {
        uint64_t lines = after->lines - before->lines;
        uint64_t delivered = after->delivered - before->delivered;
        uint64_t rejected = after->rejected - before->rejected;
        FZ_CHECK(lines == want_lines, "%s: %llu lines counted, the input has %llu", what,
                 (unsigned long long)lines, (unsigned long long)want_lines);
        FZ_CHECK(lines == delivered + rejected, "%s: %llu lines but %llu delivered + %llu rejected",
                 what, (unsigned long long)lines, (unsigned long long)delivered,
                 (unsigned long long)rejected);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char path[PATH_MAX], errpath[PATH_MAX], linespath[PATH_MAX], err[512];
        tecg_ingest_stats_t before, after;
        if (size < 1)
                return 0;
        fz_setup();
        static const unsigned mods[4] = {0, 2, 3, 5};
        fz.cap.refuse_mod = mods[data[0] & 3];
        fz.cap.invalid_mod = mods[(data[0] >> 2) & 3];
        const uint8_t *in = data + 1;
        size_t n = size - 1;

        uint64_t want_lines = 0;
        for (size_t i = 0; i < n; i++)
                want_lines += in[i] == '\n';
        if (n > 0 && in[n - 1] != '\n')
                want_lines++;

        /* As a spool file. */
        write_file(path_in("incoming/" NAME, path, sizeof(path)), in, n);
        tecg_ingest_stats(fz.spool_ing, &before);
        tecg_err_t e = tecg_ingest_spool_file(fz.spool_ing, NAME, err, sizeof(err));
        FZ_CHECK(e == TECG_OK, "spool file: error %d: %s", e, err);
        FZ_CHECK(tecg_ingest_drain(fz.spool_ing, 1000) == TECG_OK, "spool file: not drained");
        tecg_ingest_stats(fz.spool_ing, &after);
        check_accounting("spool file", &before, &after, want_lines);
        FZ_CHECK(after.files_done == before.files_done + 1, "spool file: not done");
        FZ_CHECK(!tecg_spool_held(fz.spool, NAME), "spool file: held back");
        FZ_CHECK(access(path, F_OK) != 0, "spool file: still in incoming/");
        size_t done_len;
        uint8_t *done = read_whole(path_in("done/" NAME, path, sizeof(path)), &done_len);
        FZ_CHECK(done && done_len == n && memcmp(done, in, n) == 0,
                 "done/" NAME " is not the input");
        free(done);
        unlink(path);

        uint64_t rejected = after.rejected - before.rejected;
        tecg_spool_rejected_path(fz.spool, NAME, ".errors", errpath, sizeof(errpath));
        tecg_spool_rejected_path(fz.spool, NAME, ".ndjson", linespath, sizeof(linespath));
        if (rejected) {
                check_errors_file(errpath, rejected, want_lines);
                check_rejected_lines_file(linespath, rejected);
        } else {
                FZ_CHECK(access(errpath, F_OK) != 0 && access(linespath, F_OK) != 0,
                         "rejected/ files with nothing rejected");
        }
        unlink(errpath);
        unlink(linespath);

        /* As stdin: no file limit, no rejected/ (the log is the record). */
        int fd = memfd_create("fuzz-ingest", MFD_CLOEXEC);
        FZ_SETUP(fd >= 0, "memfd_create: %s", strerror(errno));
        FZ_SETUP(write(fd, in, n) == (ssize_t)n, "write: %s", strerror(errno));
        FZ_SETUP(lseek(fd, 0, SEEK_SET) == 0, "lseek: %s", strerror(errno));
        tecg_ingest_stats(fz.stream_ing, &before);
        e = tecg_ingest_stream(fz.stream_ing, "stdin", fd, err, sizeof(err));
        close(fd);
        FZ_CHECK(e == TECG_OK, "stdin: error %d: %s", e, err);
        FZ_CHECK(tecg_ingest_drain(fz.stream_ing, 1000) == TECG_OK, "stdin: not drained");
        tecg_ingest_stats(fz.stream_ing, &after);
        check_accounting("stdin", &before, &after, want_lines);
        FZ_CHECK(tecg_ingest_outstanding(fz.spool_ing) == 0 &&
                         tecg_ingest_outstanding(fz.stream_ing) == 0,
                 "messages outstanding after the drain");
        return 0;
}
