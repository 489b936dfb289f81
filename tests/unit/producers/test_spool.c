/* Spool directory (producers/spool.h): scan order, taking files, held
 * files and their retry, the rejected/ writer (format, resume offsets,
 * write errors) and the move to done/.
 *
 * Each test gets a fresh spool in a temporary directory under the current
 * directory (ctest runs the tests in the build tree), removed afterwards.
 * Log lines are captured from stderr where their wording is the contract
 * (tests/integration/test_hostile_input.py looks for the same lines). */
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

#include "log.h"
#include "spool.h"
#include "testutil.h"

typedef struct {
        char dir[1024];
        tecg_spool_t *spool;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        char err[512], cwd[900];
        if (!f || !getcwd(cwd, sizeof(cwd)))
                return -1;
        snprintf(f->dir, sizeof(f->dir), "%s/tmp-test_spool-XXXXXX", cwd);
        if (!mkdtemp(f->dir))
                return -1;
        if (!(f->spool = tecg_spool_open(f->dir, err, sizeof(err)))) {
                print_error("%s\n", err);
                return -1;
        }
        tecg_log_init("test_spool", TECG_LOG_DEBUG);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_spool_close(f->spool);
        tu_rm_tree(f->dir);
        free(f);
        return 0;
}

/* ---- stderr capture --------------------------------------------------- */

static int saved_stderr = -1;
static FILE *capture_fp;

static void capture_start(void) {
        fflush(stderr);
        capture_fp = tmpfile();
        assert_non_null(capture_fp);
        saved_stderr = dup(STDERR_FILENO);
        assert_true(dup2(fileno(capture_fp), STDERR_FILENO) >= 0);
}

/* What was logged since capture_start() (the caller frees it). */
static char *capture_end(void) {
        fflush(stderr);
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        long n = ftell(capture_fp);
        char *s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
        assert_non_null(s);
        rewind(capture_fp);
        if (n > 0)
                assert_int_equal(fread(s, 1, (size_t)n, capture_fp), (size_t)n);
        fclose(capture_fp);
        return s;
}

/* ---- the directory ---------------------------------------------------- */

static void test_open_makes_the_three_directories(void **state) {
        fixture_t *f = *state;
        struct stat st;
        char err[512];
        const char *subdirs[] = {"incoming", "done", "rejected"};
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(stat(tu_path_in(f->dir, subdirs[i]), &st), 0);
                assert_true(S_ISDIR(st.st_mode));
        }
        tu_put_file(f->dir, "not-a-dir", "x", strlen("x"));
        char bad[PATH_MAX];
        snprintf(bad, sizeof(bad), "%s", tu_path_in(f->dir, "not-a-dir"));
        assert_null(tecg_spool_open(bad, err, sizeof(err)));
        tu_assert_contains(err, "not-a-dir", "not a directory");
}

/* The directories the producer creates are 0750 whatever the umask
 * (docs/design.md §9.5); one that exists keeps its mode. */
static void test_open_makes_directories_0750(void **state) {
        fixture_t *f = *state;
        struct stat st;
        char err[512], dir[1100];
        const char *subdirs[] = {"", "/incoming", "/done", "/rejected"};
        mode_t old = umask(0);
        snprintf(dir, sizeof(dir), "%s/fresh", f->dir);
        tecg_spool_t *sp = tecg_spool_open(dir, err, sizeof(err));
        umask(old);
        assert_non_null(sp);
        for (size_t i = 0; i < 4; i++) {
                char path[1200];
                snprintf(path, sizeof(path), "%s%s", dir, subdirs[i]);
                assert_int_equal(stat(path, &st), 0);
                if ((st.st_mode & 07777) != 0750)
                        fail_msg("%s: mode %04o, want 0750", path, (unsigned)(st.st_mode & 07777));
        }
        tecg_spool_close(sp);
        assert_int_equal(chmod(tu_path_in(dir, "done"), 0700), 0);
        assert_non_null(sp = tecg_spool_open(dir, err, sizeof(err)));
        assert_int_equal(stat(tu_path_in(dir, "done"), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        tecg_spool_close(sp);
}

static void test_scan_sorts_and_ignores_tmp_and_others(void **state) {
        fixture_t *f = *state;
        char err[512], **names;
        size_t count;
        tu_put_file(f->dir, "incoming/DEU-2.ndjson", "", strlen(""));
        tu_put_file(f->dir, "incoming/DEU-10.ndjson", "", strlen(""));
        tu_put_file(f->dir, "incoming/DEU-1.ndjson", "", strlen(""));
        tu_put_file(f->dir, "incoming/DEU-3.ndjson.tmp", "", strlen(""));
        tu_put_file(f->dir, "incoming/DEU-4.tmp", "", strlen(""));
        tu_put_file(f->dir, "incoming/.DEU-5.ndjson", "", strlen(""));
        tu_put_file(f->dir, "incoming/.ndjson", "", strlen(""));
        tu_put_file(f->dir, "incoming/notes.txt", "", strlen(""));
        assert_int_equal(tecg_spool_scan(f->spool, &names, &count, err, sizeof(err)), TECG_OK);
        assert_int_equal(count, 3);
        /* By name, bytewise: the national system numbers with that in mind. */
        assert_string_equal(names[0], "DEU-1.ndjson");
        assert_string_equal(names[1], "DEU-10.ndjson");
        assert_string_equal(names[2], "DEU-2.ndjson");
        tecg_spool_names_free(names, count);
}

/* A file the producer will never read is named once, not at every scan,
 * and again only if it comes back after it was gone. */
static void test_a_foreign_file_is_logged_once(void **state) {
        fixture_t *f = *state;
        char err[512], **names;
        size_t count;
        tu_put_file(f->dir, "incoming/events.json", "", strlen(""));
        tu_put_file(f->dir, "incoming/FRA-1.tmp", "", strlen(""));
        tu_put_file(f->dir, "incoming/.hidden", "", strlen(""));
        capture_start();
        for (int i = 0; i < 3; i++) {
                assert_int_equal(tecg_spool_scan(f->spool, &names, &count, err, sizeof(err)),
                                 TECG_OK);
                assert_int_equal(count, 0);
                tecg_spool_names_free(names, count);
        }
        char *log = capture_end();
        tu_assert_contains(log, "/incoming/events.json: ignored: only NAME.ndjson files are "
                                "read (write NAME.tmp, then rename it to NAME.ndjson)");
        assert_int_equal(tu_count_of(log, "ignored"), 1);
        free(log);

        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/incoming/events.json", f->dir);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(tecg_spool_scan(f->spool, &names, &count, err, sizeof(err)), TECG_OK);
        tecg_spool_names_free(names, count);
        tu_put_file(f->dir, "incoming/events.json", "", strlen(""));
        capture_start();
        assert_int_equal(tecg_spool_scan(f->spool, &names, &count, err, sizeof(err)), TECG_OK);
        tecg_spool_names_free(names, count);
        log = capture_end();
        assert_int_equal(tu_count_of(log, "events.json: ignored"), 1);
        free(log);
}

static void test_scan_of_a_missing_incoming_fails(void **state) {
        fixture_t *f = *state;
        char err[512], **names;
        size_t count;
        assert_int_equal(rmdir(tu_path_in(f->dir, "incoming")), 0);
        assert_int_equal(tecg_spool_scan(f->spool, &names, &count, err, sizeof(err)), TECG_ERR_IO);
        tu_assert_contains(err, "/incoming: cannot list: ", strerror(ENOENT));
        assert_null(names);
        assert_int_equal(count, 0);
}

static void test_paths(void **state) {
        fixture_t *f = *state;
        char got[PATH_MAX], want[PATH_MAX];
        tecg_spool_rejected_path(f->spool, "FRA-1.ndjson", ".errors", got, sizeof(got));
        snprintf(want, sizeof(want), "%s/rejected/FRA-1.errors", f->dir);
        assert_string_equal(got, want);
        /* A stream's name without .ndjson keeps its whole name. */
        tecg_spool_rejected_path(f->spool, "stdin", ".ndjson", got, sizeof(got));
        snprintf(want, sizeof(want), "%s/rejected/stdin.ndjson", f->dir);
        assert_string_equal(got, want);
        tecg_spool_incoming_path(f->spool, "a.ndjson", got, sizeof(got));
        snprintf(want, sizeof(want), "%s/incoming/a.ndjson", f->dir);
        assert_string_equal(got, want);
}

/* ---- taking and holding ----------------------------------------------- */

static void test_take_a_regular_file(void **state) {
        fixture_t *f = *state;
        int fd;
        char buf[16] = "";
        tecg_spool_file_id_t id, id2;
        tu_put_file(f->dir, "incoming/a.ndjson", "hello\n", strlen("hello\n"));
        assert_int_equal(tecg_spool_take(f->spool, "a.ndjson", &fd, &id), TECG_OK);
        assert_int_equal(read(fd, buf, sizeof(buf) - 1), 6);
        assert_string_equal(buf, "hello\n");
        close(fd);
        assert_int_equal(id.size, 6);
        assert_int_equal(tecg_spool_take(f->spool, "a.ndjson", &fd, &id2), TECG_OK);
        close(fd);
        assert_true(tecg_spool_file_id_equal(&id, &id2));
        /* Another file under the same name is another file. */
        tu_put_file(f->dir, "incoming/a.ndjson", "hello again\n", strlen("hello again\n"));
        assert_int_equal(tecg_spool_take(f->spool, "a.ndjson", &fd, &id2), TECG_OK);
        close(fd);
        assert_false(tecg_spool_file_id_equal(&id, &id2));
        assert_null(tecg_spool_held(f->spool, "a.ndjson"));
}

static void test_a_directory_is_held_and_retried_after_the_interval(void **state) {
        fixture_t *f = *state;
        int fd;
        tecg_spool_file_id_t id;
        tecg_spool_set_retry_interval(f->spool, 200);
        assert_int_equal(mkdir(tu_path_in(f->dir, "incoming/d.ndjson"), 0775), 0);

        capture_start();
        assert_int_equal(tecg_spool_take(f->spool, "d.ndjson", &fd, &id), TECG_ERR_IO);
        assert_int_equal(tecg_spool_take(f->spool, "d.ndjson", &fd, &id), TECG_ERR_IO);
        char *log = capture_end();
        /* Said once as an error; the second failure, the same, only at
         * debug level. */
        tu_assert_contains(log,
                           "ERROR ingest: d.ndjson: not a regular file (a "
                           "directory): cannot be read as NDJSON; remove it or "
                           "replace it with a file; the file stays in incoming/ "
                           "and is tried again in 0.2 s\n",
                           "DEBUG ingest: d.ndjson: attempt 2 failed again: ");
        assert_int_equal(tu_count_of(log, "ERROR"), 1);
        free(log);

        const tecg_spool_progress_t *h = tecg_spool_held(f->spool, "d.ndjson");
        assert_non_null(h);
        assert_int_equal(h->how, TECG_SPOOL_RETRY_ALL);
        assert_false(h->was_read);
        assert_true(tecg_spool_is_waiting(f->spool, "d.ndjson"));
        tu_sleep_ms(250);
        assert_false(tecg_spool_is_waiting(f->spool, "d.ndjson"));
        /* Still remembered, so the next failure is not news. */
        assert_non_null(tecg_spool_held(f->spool, "d.ndjson"));

        assert_int_equal(rmdir(tu_path_in(f->dir, "incoming/d.ndjson")), 0);
        tu_put_file(f->dir, "incoming/d.ndjson", "x\n", strlen("x\n"));
        assert_int_equal(tecg_spool_take(f->spool, "d.ndjson", &fd, &id), TECG_OK);
        close(fd);
        capture_start();
        tecg_spool_release(f->spool, "d.ndjson", true);
        log = capture_end();
        tu_assert_contains(log, "NOTICE ingest: d.ndjson: goes through now, after 2 "
                                "failed attempts over 0 s\n");
        free(log);
        assert_null(tecg_spool_held(f->spool, "d.ndjson"));
        assert_false(tecg_spool_is_waiting(f->spool, "d.ndjson"));
}

static void test_control_characters_in_a_name_are_held_and_escaped(void **state) {
        fixture_t *f = *state;
        int fd;
        tecg_spool_file_id_t id;
        tu_put_file(f->dir, "incoming/e-\x1b[2J.ndjson", "x\n", strlen("x\n"));
        capture_start();
        assert_int_equal(tecg_spool_take(f->spool, "e-\x1b[2J.ndjson", &fd, &id), TECG_ERR_IO);
        char *log = capture_end();
        tu_assert_contains(log, "ERROR ingest: e-\\x1B[2J.ndjson: the file name has "
                                "control characters, which would garble logs and "
                                "rejected/NAME.errors: rename it;");
        assert_null(strchr(log, '\x1b'));
        free(log);
        assert_non_null(tecg_spool_held(f->spool, "e-\x1b[2J.ndjson"));
}

static void test_a_file_gone_since_the_scan_is_forgotten(void **state) {
        fixture_t *f = *state;
        int fd = -2;
        tecg_spool_file_id_t id;
        tecg_spool_hold(f->spool, "gone.ndjson", "some reason", NULL, NULL);
        assert_non_null(tecg_spool_held(f->spool, "gone.ndjson"));
        assert_int_equal(tecg_spool_take(f->spool, "gone.ndjson", &fd, &id), TECG_ERR_NOT_FOUND);
        assert_int_equal(fd, -1);
        assert_null(tecg_spool_held(f->spool, "gone.ndjson"));
}

static void test_scan_forgets_holds_of_files_taken_away(void **state) {
        fixture_t *f = *state;
        char err[512], **names;
        size_t count;
        tu_put_file(f->dir, "incoming/stay.ndjson", "", strlen(""));
        tecg_spool_hold(f->spool, "stay.ndjson", "r", NULL, NULL);
        tecg_spool_hold(f->spool, "away.ndjson", "r", NULL, NULL);
        assert_int_equal(tecg_spool_scan(f->spool, &names, &count, err, sizeof(err)), TECG_OK);
        tecg_spool_names_free(names, count);
        assert_non_null(tecg_spool_held(f->spool, "stay.ndjson"));
        assert_null(tecg_spool_held(f->spool, "away.ndjson"));
        /* An empty incoming/ forgets every hold. */
        unlink(tu_path_in(f->dir, "incoming/stay.ndjson"));
        assert_int_equal(tecg_spool_scan(f->spool, &names, &count, err, sizeof(err)), TECG_OK);
        assert_int_equal(count, 0);
        tecg_spool_names_free(names, count);
        assert_null(tecg_spool_held(f->spool, "stay.ndjson"));
}

/* A hold keeps how far the attempt got; was_read, once set, stays set
 * even when a later failure (the move) does not read the file. */
static void test_hold_keeps_the_progress(void **state) {
        fixture_t *f = *state;
        tecg_spool_progress_t p = {
                .how = TECG_SPOOL_RETRY_RESUME,
                .was_read = true,
                .lines = 7,
                .delivered = 4,
                .rejected = 3,
                .rejects = {.errors_bytes = 11, .lines_bytes = 22},
        };
        p.id.size = 99;
        tecg_spool_hold(f->spool, "p.ndjson", "disk full", "stopped at line 8", &p);
        const tecg_spool_progress_t *h = tecg_spool_held(f->spool, "p.ndjson");
        assert_non_null(h);
        assert_int_equal(h->how, TECG_SPOOL_RETRY_RESUME);
        assert_true(h->was_read);
        assert_int_equal(h->lines, 7);
        assert_int_equal(h->delivered, 4);
        assert_int_equal(h->rejected, 3);
        assert_int_equal(h->rejects.errors_bytes, 11);
        assert_int_equal(h->rejects.lines_bytes, 22);
        assert_int_equal(h->id.size, 99);

        tecg_spool_progress_t move = {.how = TECG_SPOOL_RETRY_MOVE, .lines = 8};
        tecg_spool_hold(f->spool, "p.ndjson", "cannot move", NULL, &move);
        h = tecg_spool_held(f->spool, "p.ndjson");
        assert_int_equal(h->how, TECG_SPOOL_RETRY_MOVE);
        assert_int_equal(h->lines, 8);
        assert_true(h->was_read);

        /* Without progress: the whole file again. */
        tecg_spool_hold(f->spool, "p.ndjson", "cannot open", NULL, NULL);
        assert_int_equal(tecg_spool_held(f->spool, "p.ndjson")->how, TECG_SPOOL_RETRY_ALL);
}

/* ---- done/ ------------------------------------------------------------ */

static void test_finish_moves_to_done_without_overwriting(void **state) {
        fixture_t *f = *state;
        char err[512];
        tu_put_file(f->dir, "incoming/a.ndjson", "first\n", strlen("first\n"));
        assert_int_equal(tecg_spool_finish(f->spool, "a.ndjson", err, sizeof(err)), TECG_OK);
        tu_put_file(f->dir, "incoming/a.ndjson", "second\n", strlen("second\n"));
        assert_int_equal(tecg_spool_finish(f->spool, "a.ndjson", err, sizeof(err)), TECG_OK);
        tu_put_file(f->dir, "incoming/a.ndjson", "third\n", strlen("third\n"));
        assert_int_equal(tecg_spool_finish(f->spool, "a.ndjson", err, sizeof(err)), TECG_OK);
        assert_false(tu_exists(f->dir, "incoming/a.ndjson"));
        tu_assert_file(f->dir, "done/a.ndjson", "first\n");
        tu_assert_file(f->dir, "done/a.ndjson.1", "second\n");
        tu_assert_file(f->dir, "done/a.ndjson.2", "third\n");
}

/* When the move fails, the file is held for a move-only retry with its
 * counts; once the move works the hold ends. */
static void test_complete_holds_when_the_move_fails(void **state) {
        fixture_t *f = *state;
        tecg_spool_progress_t done = {
                .how = TECG_SPOOL_RETRY_ALL, .lines = 5, .delivered = 3, .rejected = 2};
        tu_put_file(f->dir, "incoming/m.ndjson", "x\n", strlen("x\n"));
        assert_int_equal(rmdir(tu_path_in(f->dir, "done")), 0);
        capture_start();
        assert_int_equal(tecg_spool_complete(f->spool, "m.ndjson", &done), TECG_ERR_IO);
        char *log = capture_end();
        tu_assert_contains(log,
                           "ERROR ingest: m.ndjson: every line was delivered or "
                           "rejected, but cannot move ",
                           "; only the move is tried again; the file stays in "
                           "incoming/ and is tried again in 30.0 s\n");
        free(log);
        const tecg_spool_progress_t *h = tecg_spool_held(f->spool, "m.ndjson");
        assert_non_null(h);
        assert_int_equal(h->how, TECG_SPOOL_RETRY_MOVE);
        assert_int_equal(h->lines, 5);
        assert_int_equal(h->delivered, 3);
        assert_int_equal(h->rejected, 2);
        assert_true(tu_exists(f->dir, "incoming/m.ndjson"));

        assert_int_equal(mkdir(tu_path_in(f->dir, "done"), 0775), 0);
        assert_int_equal(tecg_spool_complete(f->spool, "m.ndjson", h), TECG_OK);
        assert_null(tecg_spool_held(f->spool, "m.ndjson"));
        tu_assert_file(f->dir, "done/m.ndjson", "x\n");
}

/* ---- rejected/ -------------------------------------------------------- */

static void test_rejects_format(void **state) {
        fixture_t *f = *state;
        char err[512];
        uint64_t first = 0;
        tecg_spool_rejects_pos_t pos;
        tecg_spool_rejects_t *w = tecg_spool_rejects_new(f->spool, "DEU-1.ndjson", NULL);
        assert_non_null(w);
        /* Nothing opened before the first rejection. */
        assert_false(tu_exists(f->dir, "rejected/DEU-1.errors"));
        assert_int_equal(tecg_spool_rejects_add(w, 3, "{\"bad\":1}", 9, "missing key \"type\"", err,
                                                sizeof(err)),
                         TECG_OK);
        assert_int_equal(tecg_spool_rejects_add(w, 4, "x\0y", 3, "not JSON", err, sizeof(err)),
                         TECG_OK);
        assert_int_equal(tecg_spool_rejects_unflushed(w, &first), 2);
        assert_int_equal(first, 3);
        /* A refusal by Kafka: the reason now, its line copied later; it
         * was sent, so it is not an unflushed line. */
        assert_int_equal(tecg_spool_rejects_add(w, 9, NULL, 0, "Kafka refused the message: x", err,
                                                sizeof(err)),
                         TECG_OK);
        assert_int_equal(tecg_spool_rejects_unflushed(w, &first), 2);
        assert_int_equal(tecg_spool_rejects_flush(w, err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_spool_rejects_unflushed(w, &first), 0);
        tecg_spool_rejects_pos(w, &pos);
        assert_int_equal(pos.errors_bytes,
                         strlen("DEU-1.ndjson:3: missing key \"type\"\n"
                                "DEU-1.ndjson:4: not JSON\n"
                                "DEU-1.ndjson:9: Kafka refused the message: x\n"));
        assert_int_equal(pos.lines_bytes, 9 + 1 + 3 + 1);
        assert_int_equal(tecg_spool_rejects_copy_line(w, "{\"big\":1}", 9, err, sizeof(err)),
                         TECG_OK);
        assert_int_equal(tecg_spool_rejects_close(w, err, sizeof(err)), TECG_OK);
        tecg_spool_rejects_destroy(w);

        tu_assert_file(f->dir, "rejected/DEU-1.errors",
                       "DEU-1.ndjson:3: missing key \"type\"\n"
                       "DEU-1.ndjson:4: not JSON\n"
                       "DEU-1.ndjson:9: Kafka refused the message: x\n");
        size_t len;
        char *lines = tu_slurp(tu_path_in(f->dir, "rejected/DEU-1.ndjson"), &len);
        assert_int_equal(len, 9 + 1 + 3 + 1 + 9 + 1);
        assert_memory_equal(lines, "{\"bad\":1}\nx\0y\n{\"big\":1}\n", len);
        free(lines);

        assert_true(tecg_spool_rejects_intact(f->spool, "DEU-1.ndjson", &pos));
        tecg_spool_rejects_remove(f->spool, "DEU-1.ndjson");
        assert_false(tu_exists(f->dir, "rejected/DEU-1.errors"));
        assert_false(tu_exists(f->dir, "rejected/DEU-1.ndjson"));
        assert_false(tecg_spool_rejects_intact(f->spool, "DEU-1.ndjson", &pos));
        /* Nothing written yet is always intact. */
        tecg_spool_rejects_pos_t zero = {0, 0};
        assert_true(tecg_spool_rejects_intact(f->spool, "DEU-1.ndjson", &zero));
}

/* A fresh attempt truncates what an earlier one left; a resumed one cuts
 * the files back to the offsets known written and appends. */
static void test_rejects_fresh_and_resumed(void **state) {
        fixture_t *f = *state;
        char err[512];
        tecg_spool_rejects_pos_t pos;
        tu_put_file(f->dir, "rejected/r.errors", "stale\n", strlen("stale\n"));
        tu_put_file(f->dir, "rejected/r.ndjson", "stale\n", strlen("stale\n"));
        tecg_spool_rejects_t *w = tecg_spool_rejects_new(f->spool, "r.ndjson", NULL);
        assert_int_equal(tecg_spool_rejects_add(w, 1, "a", 1, "r1", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_spool_rejects_flush(w, err, sizeof(err)), TECG_OK);
        tecg_spool_rejects_pos(w, &pos);
        /* Written after the last good flush: half of a failed write. */
        assert_int_equal(tecg_spool_rejects_add(w, 2, "b", 1, "r2", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_spool_rejects_close(w, err, sizeof(err)), TECG_OK);
        tecg_spool_rejects_destroy(w);
        tu_assert_file(f->dir, "rejected/r.errors", "r.ndjson:1: r1\nr.ndjson:2: r2\n");

        assert_true(tecg_spool_rejects_intact(f->spool, "r.ndjson", &pos));
        w = tecg_spool_rejects_new(f->spool, "r.ndjson", &pos);
        assert_int_equal(tecg_spool_rejects_open(w, err, sizeof(err)), TECG_OK);
        tu_assert_file(f->dir, "rejected/r.errors", "r.ndjson:1: r1\n");
        tu_assert_file(f->dir, "rejected/r.ndjson", "a\n");
        assert_int_equal(tecg_spool_rejects_add(w, 2, "B", 1, "R2", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_spool_rejects_close(w, err, sizeof(err)), TECG_OK);
        tecg_spool_rejects_destroy(w);
        tu_assert_file(f->dir, "rejected/r.errors", "r.ndjson:1: r1\nr.ndjson:2: R2\n");
        tu_assert_file(f->dir, "rejected/r.ndjson", "a\nB\n");

        /* Someone emptied the file meanwhile: not intact, no resume. */
        tu_put_file(f->dir, "rejected/r.errors", "", strlen(""));
        assert_false(tecg_spool_rejects_intact(f->spool, "r.ndjson", &pos));
}

/* A full disk (here /dev/full) shows at the flush, with the path and the
 * system's reason; the rejections stay unflushed. */
static void test_rejects_write_error(void **state) {
        fixture_t *f = *state;
        char err[512], want[PATH_MAX + 64];
        uint64_t first = 0;
        if (access("/dev/full", W_OK) != 0)
                skip();
        assert_int_equal(symlink("/dev/full", tu_path_in(f->dir, "rejected/full.errors")), 0);
        tecg_spool_rejects_t *w = tecg_spool_rejects_new(f->spool, "full.ndjson", NULL);
        assert_int_equal(tecg_spool_rejects_add(w, 5, "x", 1, "bad", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_spool_rejects_flush(w, err, sizeof(err)), TECG_ERR_IO);
        snprintf(want, sizeof(want), "cannot write %s/rejected/full.errors: %s", f->dir,
                 strerror(ENOSPC));
        assert_string_equal(err, want);
        assert_int_equal(tecg_spool_rejects_unflushed(w, &first), 1);
        assert_int_equal(first, 5);
        tecg_spool_rejects_drop_unflushed(w);
        assert_int_equal(tecg_spool_rejects_unflushed(w, &first), 0);
        tecg_spool_rejects_destroy(w);
}

/* rejected/ gone: the first rejection cannot be recorded, and says where. */
static void test_rejects_open_error(void **state) {
        fixture_t *f = *state;
        char err[512], want[PATH_MAX + 64];
        uint64_t first = 0;
        assert_int_equal(rmdir(tu_path_in(f->dir, "rejected")), 0);
        tecg_spool_rejects_t *w = tecg_spool_rejects_new(f->spool, "o.ndjson", NULL);
        assert_int_equal(tecg_spool_rejects_add(w, 2, "x", 1, "bad", err, sizeof(err)),
                         TECG_ERR_IO);
        snprintf(want, sizeof(want), "cannot write %s/rejected/o.errors: %s", f->dir,
                 strerror(ENOENT));
        assert_string_equal(err, want);
        /* Counted although not written: the caller unaccounts it. */
        assert_int_equal(tecg_spool_rejects_unflushed(w, &first), 1);
        assert_int_equal(first, 2);
        tecg_spool_rejects_destroy(w);
}

static mode_t mode_of(const char *dir, const char *rel) {
        struct stat st;
        assert_int_equal(stat(tu_path_in(dir, rel), &st), 0);
        return st.st_mode & 07777;
}

/* rejected/ files have the mode of their input, never writable by group or
 * others, whatever the umask and whatever an earlier file had; 0640 when
 * the input is not a file of incoming/ (standard input). */
static void test_rejects_modes(void **state) {
        fixture_t *f = *state;
        char err[512];
        static const struct {
                mode_t input, want;
        } cases[] = {{0600, 0600}, {0640, 0640}, {0644, 0644}, {0666, 0644}, {0755, 0644}};
        mode_t old = umask(0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                tu_put_file(f->dir, "incoming/m.ndjson", "x\n", 2);
                assert_int_equal(chmod(tu_path_in(f->dir, "incoming/m.ndjson"), cases[i].input), 0);
                /* A wider file left by an earlier attempt is narrowed. */
                tu_put_file(f->dir, "rejected/m.errors", "old\n", 4);
                assert_int_equal(chmod(tu_path_in(f->dir, "rejected/m.errors"), 0666), 0);
                tecg_spool_rejects_t *w = tecg_spool_rejects_new(f->spool, "m.ndjson", NULL);
                assert_int_equal(tecg_spool_rejects_add(w, 1, "x", 1, "bad", err, sizeof(err)),
                                 TECG_OK);
                assert_int_equal(tecg_spool_rejects_close(w, err, sizeof(err)), TECG_OK);
                tecg_spool_rejects_destroy(w);
                mode_t got_errors = mode_of(f->dir, "rejected/m.errors");
                mode_t got_lines = mode_of(f->dir, "rejected/m.ndjson");
                if (got_errors != cases[i].want || got_lines != cases[i].want)
                        fail_msg("input %04o: rejected files %04o and %04o, want %04o",
                                 (unsigned)cases[i].input, (unsigned)got_errors,
                                 (unsigned)got_lines, (unsigned)cases[i].want);
        }
        tecg_spool_rejects_t *w = tecg_spool_rejects_new(f->spool, "stdin", NULL);
        assert_int_equal(tecg_spool_rejects_add(w, 1, "x", 1, "bad", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_spool_rejects_close(w, err, sizeof(err)), TECG_OK);
        tecg_spool_rejects_destroy(w);
        umask(old);
        assert_int_equal(mode_of(f->dir, "rejected/stdin.errors"), 0640);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_open_makes_the_three_directories),
                T(test_open_makes_directories_0750),
                T(test_scan_sorts_and_ignores_tmp_and_others),
                T(test_a_foreign_file_is_logged_once),
                T(test_scan_of_a_missing_incoming_fails),
                T(test_paths),
                T(test_take_a_regular_file),
                T(test_a_directory_is_held_and_retried_after_the_interval),
                T(test_control_characters_in_a_name_are_held_and_escaped),
                T(test_a_file_gone_since_the_scan_is_forgotten),
                T(test_scan_forgets_holds_of_files_taken_away),
                T(test_hold_keeps_the_progress),
                T(test_finish_moves_to_done_without_overwriting),
                T(test_complete_holds_when_the_move_fails),
                T(test_rejects_format),
                T(test_rejects_fresh_and_resumed),
                T(test_rejects_write_error),
                T(test_rejects_open_error),
                T(test_rejects_modes),
        };
#undef T
        return cmocka_run_group_tests(tests, NULL, NULL);
}
