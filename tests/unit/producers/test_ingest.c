/* Ingest (producers/ingest.h): lines in = delivered + rejected, what goes
 * to rejected/, what is sent, and the retries of a spool file.
 *
 * Most tests hand the encoded events to a capture sink (no Kafka): it
 * keeps each message, acknowledges at once or at the next poll, and can
 * refuse chosen lines. One test runs the daemon's path, tecg_ingest_new()
 * with its publisher, against librdkafka's mock cluster.
 *
 * The producer is DEU with tests/data/validate/nations.csv; the lines come
 * from tests/data/validate/ (valid.ndjson, invalid.ndjson with the reasons
 * of invalid.expected). Spools live in a temporary directory under the
 * current directory (the build tree), removed afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "avro_codec.h"
#include "ingest.h"
#include "log.h"
#include "refdata.h"
#include "spool.h"
#include "testutil.h"
#include "validate.h"

#define MAX_MSGS 256

typedef struct {
        tecg_topic_t topic;
        uint64_t line;
        void *opaque;
        size_t len;
        unsigned char *payload;
        bool acked;
} msg_t;

/* The capture sink. */
typedef struct {
        msg_t msgs[MAX_MSGS];
        size_t count;
        bool ack_at_once;      /* from inside send(), else at poll() */
        uint64_t refuse_line;  /* ack this line with an error (0: none) */
        uint64_t invalid_line; /* send() refuses this line for good */
} capture_t;

static tecg_err_t capture_send(void *ctx, tecg_topic_t topic, const void *payload, size_t len,
                               void *opaque, uint64_t line, char *errstr, size_t errstr_size) {
        capture_t *c = ctx;
        if (line == c->invalid_line)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "sink refuses line %llu",
                                   (unsigned long long)line);
        assert_true(c->count < MAX_MSGS);
        msg_t *m = &c->msgs[c->count++];
        m->topic = topic;
        m->line = line;
        m->opaque = opaque;
        m->len = len;
        m->payload = malloc(len);
        assert_non_null(m->payload);
        memcpy(m->payload, payload, len);
        if (c->ack_at_once) {
                m->acked = true;
                tecg_ingest_ack(opaque, line, 0, NULL);
        }
        return TECG_OK;
}

static void capture_poll(void *ctx, int timeout_ms) {
        capture_t *c = ctx;
        (void)timeout_ms;
        for (size_t i = 0; i < c->count; i++) {
                msg_t *m = &c->msgs[i];
                if (m->acked)
                        continue;
                m->acked = true;
                if (m->line == c->refuse_line)
                        tecg_ingest_ack(m->opaque, m->line, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                        "Kafka refused the message: test");
                else
                        tecg_ingest_ack(m->opaque, m->line, 0, NULL);
        }
}

typedef struct {
        char dir[1024];
        tecg_nations_t *nations;
        tecg_spool_t *spool;
        capture_t cap;
        tecg_ingest_opts_t opts;
        tecg_ingest_t *ing;
        tecg_avro_t *avro;
        volatile int stop;
        char **valid, **invalid, **reasons; /* lines of the data files */
        size_t nvalid, ninvalid;
} fixture_t;

/* Lines of a data file, without their '\n' (a NULL-terminated array). */
static char **lines_of(const char *rel, size_t *count) {
        char *text = tu_slurp_data(rel, NULL);
        size_t n = 0;
        char **lines = calloc(1024, sizeof(*lines));
        assert_non_null(lines);
        for (char *p = text; *p;) {
                char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                assert_true(n < 1023);
                lines[n++] = strndup(p, len);
                p += len + (nl ? 1 : 0);
        }
        free(text);
        *count = n;
        return lines;
}

static void free_lines(char **lines) {
        for (size_t i = 0; lines && lines[i]; i++)
                free(lines[i]);
        free(lines);
}

static int setup(void **state) {
        char err[512], cwd[900];
        fixture_t *f = calloc(1, sizeof(*f));
        size_t n;
        if (!f || !getcwd(cwd, sizeof(cwd)))
                return -1;
        tecg_log_init("test_ingest", TECG_LOG_DEBUG);
        snprintf(f->dir, sizeof(f->dir), "%s/tmp-test_ingest-XXXXXX", cwd);
        if (!mkdtemp(f->dir))
                return -1;
        f->nations = tecg_nations_load(tu_data_path("validate/nations.csv"), err, sizeof(err));
        f->spool = tecg_spool_open(f->dir, err, sizeof(err));
        f->avro = tecg_avro_new(err, sizeof(err));
        if (!f->nations || !f->spool || !f->avro) {
                print_error("setup: %s\n", err);
                return -1;
        }
        tecg_validate_limits_init(&f->opts.validate);
        f->opts.max_file_lines = 1000;
        f->opts.retry_interval_ms = 100;
        f->cap.ack_at_once = false;
        f->valid = lines_of("validate/valid.ndjson", &f->nvalid);
        f->invalid = lines_of("validate/invalid.ndjson", &f->ninvalid);
        f->reasons = lines_of("validate/invalid.expected", &n);
        if (n != f->ninvalid)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_ingest_destroy(f->ing);
        for (size_t i = 0; i < f->cap.count; i++)
                free(f->cap.msgs[i].payload);
        tecg_spool_close(f->spool);
        tecg_nations_destroy(f->nations);
        tecg_avro_destroy(f->avro);
        free_lines(f->valid);
        free_lines(f->invalid);
        free_lines(f->reasons);
        tu_rm_tree(f->dir);
        free(f);
        return 0;
}

static void make_ingest(fixture_t *f, bool with_spool) {
        char err[512];
        tecg_ingest_sink_t sink = {.send = capture_send, .poll = capture_poll, .ctx = &f->cap};
        f->ing = tecg_ingest_new_with_sink(&sink, f->nations, "DEU", with_spool ? f->spool : NULL,
                                           &f->opts, &f->stop, err, sizeof(err));
        if (!f->ing)
                fail_msg("tecg_ingest_new_with_sink: %s", err);
}

/* Appends to a growing text (freed by the caller). */
static void cat(char **text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cat(char **text, const char *fmt, ...) {
        char *more, *joined;
        va_list ap;
        va_start(ap, fmt);
        assert_true(vasprintf(&more, fmt, ap) >= 0);
        va_end(ap);
        assert_true(asprintf(&joined, "%s%s", *text ? *text : "", more) >= 0);
        free(*text);
        free(more);
        *text = joined;
}

static void assert_stats(fixture_t *f, uint64_t lines, uint64_t delivered, uint64_t rejected,
                         uint64_t files_done) {
        tecg_ingest_stats_t st;
        tecg_ingest_stats(f->ing, &st);
        if (st.lines != lines || st.delivered != delivered || st.rejected != rejected ||
            st.files_done != files_done)
                fail_msg("stats: %llu lines, %llu delivered, %llu rejected, %llu files; "
                         "want %llu, %llu, %llu, %llu",
                         (unsigned long long)st.lines, (unsigned long long)st.delivered,
                         (unsigned long long)st.rejected, (unsigned long long)st.files_done,
                         (unsigned long long)lines, (unsigned long long)delivered,
                         (unsigned long long)rejected, (unsigned long long)files_done);
        assert_int_equal(st.lines, st.delivered + st.rejected);
}

/* ---- tests ------------------------------------------------------------ */

/* Every valid line is encoded and sent, in order, on its event's topic;
 * every invalid line goes to rejected/ with its number and reason; the
 * file moves to done/ once every line is acknowledged. */
static void test_spool_file_valid_and_invalid_lines(void **state) {
        fixture_t *f = *state;
        char err[512], *input = NULL, *errors = NULL, *rejected = NULL;
        make_ingest(f, true);
        /* Interleave: valid i, invalid i; skip the empty invalid line so
         * each line's number is easy to say. */
        size_t lines = 0, nv = 0, ni = 0;
        for (size_t i = 0; i < 20 && i < f->nvalid; i++) {
                cat(&input, "%s\n", f->valid[i]);
                lines++;
                nv++;
                if (i + 1 < f->ninvalid && i < 12) {
                        cat(&input, "%s\n", f->invalid[i + 1]);
                        lines++;
                        ni++;
                        cat(&errors, "DEU-1.ndjson:%zu: %s\n", lines, f->reasons[i + 1]);
                        cat(&rejected, "%s\n", f->invalid[i + 1]);
                }
        }
        tu_put_file(f->dir, "incoming/DEU-1.ndjson", input, strlen(input));
        assert_int_equal(tecg_ingest_spool_file(f->ing, "DEU-1.ndjson", err, sizeof(err)), TECG_OK);
        /* Sent, not acknowledged: still in incoming/, busy. */
        assert_true(tu_exists(f->dir, "incoming/DEU-1.ndjson"));
        assert_true(tecg_ingest_is_busy(f->ing, "DEU-1.ndjson"));
        assert_int_equal(tecg_ingest_outstanding(f->ing), nv);
        assert_int_equal(f->cap.count, nv);
        tecg_ingest_poll(f->ing, 0);
        assert_int_equal(tecg_ingest_outstanding(f->ing), 0);
        assert_false(tecg_ingest_is_busy(f->ing, "DEU-1.ndjson"));
        assert_false(tu_exists(f->dir, "incoming/DEU-1.ndjson"));
        assert_true(tu_exists(f->dir, "done/DEU-1.ndjson"));
        assert_stats(f, lines, nv, ni, 1);
        tu_assert_file(f->dir, "rejected/DEU-1.errors", errors);
        tu_assert_file(f->dir, "rejected/DEU-1.ndjson", rejected);

        /* What was sent is the valid lines' events, in order. */
        tecg_validator_t *v =
                tecg_validator_new(f->nations, "DEU", &f->opts.validate, err, sizeof(err));
        assert_non_null(v);
        for (size_t i = 0; i < f->cap.count; i++) {
                tecg_event_t ev;
                msg_t *m = &f->cap.msgs[i];
                assert_int_equal(
                        tecg_avro_decode_event(f->avro, m->payload, m->len, &ev, err, sizeof(err)),
                        TECG_OK);
                tecg_event_t want;
                assert_int_equal(tecg_validate_line(v, f->valid[i], strlen(f->valid[i]), &want, err,
                                                    sizeof(err)),
                                 TECG_OK);
                assert_string_equal(ev.event_id, want.event_id);
                assert_int_equal(ev.type, want.type);
                assert_int_equal(m->topic, ev.type == TECG_EV_TRAINING ? TECG_TOPIC_TRAINING
                                                                       : TECG_TOPIC_CONTRIBUTIONS);
                if (i > 0)
                        assert_true(m->line > f->cap.msgs[i - 1].line);
        }
        tecg_validator_destroy(v);
        free(input);
        free(errors);
        free(rejected);
}

/* CRLF, no final newline, a line over limits.line.bytes and one past
 * limits.file.lines: each accounted for, the rest flows. */
static void test_limits_crlf_and_last_line(void **state) {
        fixture_t *f = *state;
        char err[512], *input = NULL, *errors = NULL;
        char long_line[2000];
        f->opts.validate.max_line_bytes = 1024;
        f->opts.max_file_lines = 4;
        make_ingest(f, true);
        memset(long_line, 'x', sizeof(long_line) - 1);
        long_line[sizeof(long_line) - 1] = '\0';
        cat(&input, "%s\r\n", f->valid[0]); /* 1: CRLF, fine */
        cat(&input, "%s\n", long_line);     /* 2: too long */
        cat(&input, "%s\n", f->valid[1]);   /* 3 */
        cat(&input, "%s\n", f->valid[2]);   /* 4 */
        cat(&input, "%s", f->valid[3]);     /* 5: over the file limit, no \n */
        cat(&errors, "DEU-2.ndjson:2: line is 1999 bytes, longer than limits.line.bytes "
                     "(1024 bytes); rejected/ keeps only its first 1024 bytes\n");
        cat(&errors, "DEU-2.ndjson:5: not sent: the file has more than limits.file.lines "
                     "(4) lines; send this line again in another file\n");
        tu_put_file(f->dir, "incoming/DEU-2.ndjson", input, strlen(input));
        assert_int_equal(tecg_ingest_spool_file(f->ing, "DEU-2.ndjson", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_ingest_drain(f->ing, 1000), TECG_OK);
        assert_stats(f, 5, 3, 2, 1);
        tu_assert_file(f->dir, "rejected/DEU-2.errors", errors);
        char *kept = NULL;
        cat(&kept, "%.1024s\n%s\n", long_line, f->valid[3]);
        tu_assert_file(f->dir, "rejected/DEU-2.ndjson", kept);
        free(kept);
        free(input);
        free(errors);
}

/* Refused by Kafka after sending (an ack with an error) or by the sink at
 * once: both rejected with the reason, the line copied to rejected/. */
static void test_refusals_are_rejections(void **state) {
        fixture_t *f = *state;
        char err[512], *input = NULL, *errors = NULL;
        make_ingest(f, true);
        for (int i = 0; i < 4; i++)
                cat(&input, "%s\n", f->valid[i]);
        f->cap.refuse_line = 2;
        f->cap.invalid_line = 3;
        tu_put_file(f->dir, "incoming/DEU-3.ndjson", input, strlen(input));
        assert_int_equal(tecg_ingest_spool_file(f->ing, "DEU-3.ndjson", err, sizeof(err)), TECG_OK);
        tecg_ingest_poll(f->ing, 0);
        assert_stats(f, 4, 2, 2, 1);
        /* Line 3 at once, line 2 when its ack came. */
        cat(&errors, "DEU-3.ndjson:3: sink refuses line 3\n");
        cat(&errors, "DEU-3.ndjson:2: Kafka refused the message: test\n");
        tu_assert_file(f->dir, "rejected/DEU-3.errors", errors);
        char *lines = NULL;
        cat(&lines, "%s\n%s\n", f->valid[2], f->valid[1]);
        tu_assert_file(f->dir, "rejected/DEU-3.ndjson", lines);
        free(lines);
        free(input);
        free(errors);
}

/* A sink that acknowledges from inside send(): counts stay right. */
static void test_ack_from_inside_send(void **state) {
        fixture_t *f = *state;
        char err[512], *input = NULL;
        f->cap.ack_at_once = true;
        make_ingest(f, true);
        for (int i = 0; i < 5; i++)
                cat(&input, "%s\n", f->valid[i]);
        tu_put_file(f->dir, "incoming/DEU-4.ndjson", input, strlen(input));
        assert_int_equal(tecg_ingest_spool_file(f->ing, "DEU-4.ndjson", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_ingest_outstanding(f->ing), 0);
        assert_stats(f, 5, 5, 0, 1);
        assert_true(tu_exists(f->dir, "done/DEU-4.ndjson"));
        /* Nothing rejected: no rejected/ files, stale ones removed. */
        assert_false(tu_exists(f->dir, "rejected/DEU-4.errors"));
        free(input);
}

/* A full disk under rejected/ (here /dev/full): the file stops before the
 * next line is sent, is held, and the retry resumes at the first line not
 * accounted for: nothing sent twice, nothing lost. */
static void test_disk_full_on_rejected_resumes_at_the_right_line(void **state) {
        fixture_t *f = *state;
        char err[512], *input = NULL;
        if (access("/dev/full", W_OK) != 0)
                skip();
        make_ingest(f, true);
        cat(&input, "%s\n", f->valid[0]);   /* 1: sent */
        cat(&input, "%s\n", f->invalid[1]); /* 2: rejected: cannot be written */
        cat(&input, "%s\n", f->valid[1]);   /* 3: not sent before 2 is recorded */
        cat(&input, "%s\n", f->invalid[2]); /* 4 */
        cat(&input, "%s\n", f->valid[2]);   /* 5 */
        tu_put_file(f->dir, "incoming/DEU-5.ndjson", input, strlen(input));
        assert_int_equal(symlink("/dev/full", tu_path_in(f->dir, "rejected/DEU-5.errors")), 0);

        /* Stopped before its end (held, logged): RETRY, as for a stop. */
        assert_int_equal(tecg_ingest_spool_file(f->ing, "DEU-5.ndjson", err, sizeof(err)),
                         TECG_ERR_RETRY);
        tecg_ingest_poll(f->ing, 0);
        assert_int_equal(f->cap.count, 1);
        assert_true(tu_exists(f->dir, "incoming/DEU-5.ndjson"));
        assert_stats(f, 1, 1, 0, 0);
        const tecg_spool_progress_t *h = tecg_spool_held(f->spool, "DEU-5.ndjson");
        assert_non_null(h);
        assert_int_equal(h->how, TECG_SPOOL_RETRY_RESUME);
        assert_int_equal(h->lines, 1);
        assert_true(tecg_ingest_is_busy(f->ing, "DEU-5.ndjson"));

        unlink(tu_path_in(f->dir, "rejected/DEU-5.errors"));
        tu_sleep_ms(150);
        assert_false(tecg_ingest_is_busy(f->ing, "DEU-5.ndjson"));
        assert_int_equal(tecg_ingest_spool_file(f->ing, "DEU-5.ndjson", err, sizeof(err)), TECG_OK);
        tecg_ingest_poll(f->ing, 0);
        assert_stats(f, 5, 3, 2, 1);
        assert_int_equal(f->cap.count, 3);
        assert_int_equal(f->cap.msgs[0].line, 1);
        assert_int_equal(f->cap.msgs[1].line, 3);
        assert_int_equal(f->cap.msgs[2].line, 5);
        char *errors = NULL;
        cat(&errors, "DEU-5.ndjson:2: %s\nDEU-5.ndjson:4: %s\n", f->reasons[1], f->reasons[2]);
        tu_assert_file(f->dir, "rejected/DEU-5.errors", errors);
        assert_null(tecg_spool_held(f->spool, "DEU-5.ndjson"));
        free(errors);
        free(input);
}

/* done/ gone after every line was accounted for: held, and the retry only
 * moves the file (nothing sent again). */
static void test_move_failure_retries_only_the_move(void **state) {
        fixture_t *f = *state;
        char err[512], *input = NULL;
        make_ingest(f, true);
        cat(&input, "%s\n%s\n", f->valid[0], f->valid[1]);
        tu_put_file(f->dir, "incoming/DEU-6.ndjson", input, strlen(input));
        assert_int_equal(rmdir(tu_path_in(f->dir, "done")), 0);
        assert_int_equal(tecg_ingest_spool_file(f->ing, "DEU-6.ndjson", err, sizeof(err)), TECG_OK);
        tecg_ingest_poll(f->ing, 0);
        assert_stats(f, 2, 2, 0, 0);
        assert_int_equal(tecg_spool_held(f->spool, "DEU-6.ndjson")->how, TECG_SPOOL_RETRY_MOVE);
        assert_int_equal(mkdir(tu_path_in(f->dir, "done"), 0775), 0);
        tu_sleep_ms(150);
        assert_int_equal(tecg_ingest_spool_file(f->ing, "DEU-6.ndjson", err, sizeof(err)), TECG_OK);
        assert_int_equal(f->cap.count, 2);
        assert_stats(f, 2, 2, 0, 1);
        assert_true(tu_exists(f->dir, "done/DEU-6.ndjson"));
        free(input);
}

/* A stream without a spool: the log is the record of rejections. */
static void test_stream_without_spool(void **state) {
        fixture_t *f = *state;
        char err[512], *input = NULL, tmp[] = "ingest-stream-XXXXXX";
        make_ingest(f, false);
        cat(&input, "%s\n%s\n%s", f->valid[0], f->invalid[3], f->valid[1]);
        int fd = mkstemp(tmp);
        assert_true(fd >= 0);
        unlink(tmp);
        assert_int_equal(write(fd, input, strlen(input)), (ssize_t)strlen(input));
        lseek(fd, 0, SEEK_SET);
        assert_int_equal(tecg_ingest_stream(f->ing, "stdin", fd, err, sizeof(err)), TECG_OK);
        close(fd);
        assert_int_equal(tecg_ingest_drain(f->ing, 1000), TECG_OK);
        assert_stats(f, 3, 2, 1, 0);
        free(input);
}

/* Corrections (docs/design.md §2.9): a line with `supersedes` goes where its
 * type goes, with the field; a retraction goes to the topic of the type it
 * retracts, so it lands in the partition of its target. The golden valid
 * lines of both shapes, each checked against its decoded message. */
static void test_corrections_routing(void **state) {
        fixture_t *f = *state;
        char err[512], *input = NULL, tmp[] = "ingest-corr-XXXXXX";
        size_t n = 0, retractions = 0, training_topic = 0;
        make_ingest(f, false);
        for (size_t i = 0; i < f->nvalid; i++)
                if (strstr(f->valid[i], "\"supersedes\"") ||
                    strstr(f->valid[i], "\"retraction\"")) {
                        cat(&input, "%s\n", f->valid[i]);
                        n++;
                }
        assert_true(n >= 8);
        int fd = mkstemp(tmp);
        assert_true(fd >= 0);
        unlink(tmp);
        assert_int_equal(write(fd, input, strlen(input)), (ssize_t)strlen(input));
        lseek(fd, 0, SEEK_SET);
        assert_int_equal(tecg_ingest_stream(f->ing, "stdin", fd, err, sizeof(err)), TECG_OK);
        close(fd);
        assert_int_equal(tecg_ingest_drain(f->ing, 1000), TECG_OK);
        assert_stats(f, n, n, 0, 0);
        assert_int_equal(f->cap.count, n);
        for (size_t i = 0; i < f->cap.count; i++) {
                tecg_event_t ev;
                msg_t *m = &f->cap.msgs[i];
                assert_int_equal(
                        tecg_avro_decode_event(f->avro, m->payload, m->len, &ev, err, sizeof(err)),
                        TECG_OK);
                tecg_event_type_t routed = ev.type;
                if (ev.type == TECG_EV_RETRACTION) {
                        routed = ev.u.retraction.retracts_type;
                        retractions++;
                        assert_non_null(ev.u.retraction.reason);
                        assert_string_equal(ev.supersedes, "");
                } else {
                        assert_true(ev.supersedes[0] != '\0');
                }
                if (m->topic == TECG_TOPIC_TRAINING)
                        training_topic++;
                assert_int_equal(m->topic, routed == TECG_EV_TRAINING ? TECG_TOPIC_TRAINING
                                                                      : TECG_TOPIC_CONTRIBUTIONS);
        }
        /* Both topics carry retractions in the golden lines. */
        assert_true(retractions >= 4);
        assert_true(training_topic >= 3);
        free(input);
}

/* The daemon's path: tecg_ingest_new() with the Kafka publisher, against
 * librdkafka's mock cluster (kafka.test.mock.num.brokers). */
static void test_through_the_mock_cluster(void **state) {
        fixture_t *f = *state;
        char err[512], *input = NULL, *unused = NULL;
        const tecg_conf_prop_t props[] = {
                {.name = "kafka.", .type = TECG_CONF_PREFIX, .doc = "librdkafka"}, {.name = NULL}};
        tecg_conf_t *conf = tecg_conf_new(props, &unused, err, sizeof(err));
        assert_non_null(conf);
        assert_int_equal(
                tecg_conf_set(conf, "kafka.test.mock.num.brokers", "1", "test", err, sizeof(err)),
                TECG_OK);
        f->ing = tecg_ingest_new(conf, "t.", f->nations, "DEU", f->spool, &f->opts, &f->stop, err,
                                 sizeof(err));
        if (!f->ing)
                fail_msg("tecg_ingest_new: %s", err);
        for (int i = 0; i < 10; i++)
                cat(&input, "%s\n", f->valid[i]);
        cat(&input, "%s\n", f->invalid[5]);
        tu_put_file(f->dir, "incoming/DEU-7.ndjson", input, strlen(input));
        assert_int_equal(tecg_ingest_spool_file(f->ing, "DEU-7.ndjson", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_ingest_drain(f->ing, 30000), TECG_OK);
        assert_stats(f, 11, 10, 1, 1);
        assert_true(tu_exists(f->dir, "done/DEU-7.ndjson"));
        tecg_ingest_destroy(f->ing);
        f->ing = NULL;
        tecg_conf_destroy(conf);
        free(input);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_spool_file_valid_and_invalid_lines),
                T(test_limits_crlf_and_last_line),
                T(test_refusals_are_rejections),
                T(test_ack_from_inside_send),
                T(test_disk_full_on_rejected_resumes_at_the_right_line),
                T(test_move_failure_retries_only_the_move),
                T(test_stream_without_spool),
                T(test_corrections_routing),
                T(test_through_the_mock_cluster),
        };
#undef T
        return cmocka_run_group_tests(tests, NULL, NULL);
}
