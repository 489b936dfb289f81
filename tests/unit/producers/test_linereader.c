/* Bounded line reader (producers/linereader.h), table-driven.
 *
 * Each case is an input and a line limit, with the lines expected back:
 * their bytes (the kept prefix for a too-long line), their full length and
 * whether they are too long. Every case is read twice: from a file (one
 * large read) and from a pipe fed a few bytes at a time by a child process
 * (short reads), which must give the same lines. The idle call comes when
 * a pipe has nothing more for now, never for a file. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "linereader.h"
#include "testutil.h"

#define MAX_LINES 8

typedef struct {
        const char *data; /* expected bytes (len given by len) */
        size_t len;
        uint64_t full_len;
        bool too_long;
} want_line_t;

typedef struct {
        const char *name;
        const char *input;
        size_t input_len;
        size_t max_line, keep;
        want_line_t lines[MAX_LINES];
        size_t nlines;
} case_t;

#define S(s) s, sizeof(s) - 1
#define L(s, full, tl) \
        { s, sizeof(s) - 1, full, tl }

static const case_t cases[] = {
        {"empty input has no line", S(""), 8, 8, {{0}}, 0},
        {"one newline is one empty line", S("\n"), 8, 8, {L("", 0, false)}, 1},
        {"two lines", S("ab\ncd\n"), 8, 8, {L("ab", 2, false), L("cd", 2, false)}, 2},
        {"last line without newline", S("ab\ncd"), 8, 8, {L("ab", 2, false), L("cd", 2, false)}, 2},
        {"empty lines between",
         S("\n\nx\n"),
         8,
         8,
         {L("", 0, false), L("", 0, false), L("x", 1, false)},
         3},
        {"CRLF keeps the CR",
         S("ab\r\ncd\r\n"),
         8,
         8,
         {L("ab\r", 3, false), L("cd\r", 3, false)},
         2},
        {"a lone CR is no line end", S("a\rb\n"), 8, 8, {L("a\rb", 3, false)}, 1},
        {"NUL bytes are ordinary",
         S("a\0b\n\0\n"),
         8,
         8,
         {L("a\0b", 3, false), L("\0", 1, false)},
         2},
        {"exactly at the limit",
         S("12345678\nx\n"),
         8,
         4,
         {L("12345678", 8, false), L("x", 1, false)},
         2},
        {"at the limit plus its CR",
         S("12345678\r\nx\n"),
         8,
         4,
         {L("12345678\r", 9, false), L("x", 1, false)},
         2},
        {"one byte over the limit",
         S("123456789\nx\n"),
         8,
         4,
         {L("1234", 9, true), L("x", 1, false)},
         2},
        {"over the limit with CR",
         S("123456789\r\nx\n"),
         8,
         4,
         {L("1234", 10, true), L("x", 1, false)},
         2},
        {"two CRs: only one is free",
         S("12345678\r\r\nx\n"),
         8,
         4,
         {L("1234", 10, true), L("x", 1, false)},
         2},
        {"far over the limit, then resync",
         S("0123456789abcdefghij\nok\n"),
         4,
         2,
         {L("01", 20, true), L("ok", 2, false)},
         2},
        {"too long at the end, no newline",
         S("ok\n0123456789"),
         4,
         3,
         {L("ok", 2, false), L("012", 10, true)},
         2},
        {"keep capped at the limit", S("0123456789\n"), 4, 100, {L("0123", 10, true)}, 1},
        {"keep 0", S("0123456789\nab\n"), 4, 0, {L("", 10, true), L("ab", 2, false)}, 2},
        {"several too long in a row",
         S("aaaaaa\nbbbbbbb\n\ncc\n"),
         2,
         1,
         {L("a", 6, true), L("b", 7, true), L("", 0, false), L("cc", 2, false)},
         4},
};

/* A temporary file holding data, open for reading. */
static int file_fd(const char *data, size_t len) {
        char path[] = "linereader-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

/* The read end of a pipe a child process writes data into, `chunk` bytes
 * at a time with a pause between: the reader sees short reads. */
static int pipe_fd(const char *data, size_t len, size_t chunk, pid_t *child) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        *child = fork();
        assert_true(*child >= 0);
        if (*child == 0) {
                close(p[0]);
                for (size_t off = 0; off < len; off += chunk) {
                        size_t n = len - off < chunk ? len - off : chunk;
                        if (write(p[1], data + off, n) != (ssize_t)n)
                                _exit(1);
                        usleep(200);
                }
                _exit(0);
        }
        close(p[1]);
        return p[0];
}

static void check_lines(const case_t *c, int fd, const char *how) {
        char err[256];
        tecg_linereader_t *r = tecg_linereader_new(fd, c->max_line, c->keep);
        assert_non_null(r);
        for (size_t i = 0; i <= c->nlines; i++) {
                tecg_line_t line;
                tecg_err_t e;
                while ((e = tecg_linereader_next(r, &line, err, sizeof(err))) == TECG_ERR_RETRY)
                        ;
                if (i == c->nlines) {
                        if (e != TECG_ERR_NOT_FOUND)
                                fail_msg("%s (%s): a line after the %zu expected", c->name, how,
                                         c->nlines);
                        break;
                }
                if (e != TECG_OK)
                        fail_msg("%s (%s): line %zu: error %d", c->name, how, i + 1, e);
                const want_line_t *w = &c->lines[i];
                if (line.len != w->len || memcmp(line.data, w->data, w->len) != 0 ||
                    line.full_len != w->full_len || line.too_long != w->too_long)
                        fail_msg("%s (%s): line %zu: got %zu bytes \"%.*s\" of %llu%s, "
                                 "want %zu bytes \"%s\" of %llu%s",
                                 c->name, how, i + 1, line.len, (int)line.len, line.data,
                                 (unsigned long long)line.full_len,
                                 line.too_long ? " (too long)" : "", w->len, w->data,
                                 (unsigned long long)w->full_len, w->too_long ? " (too long)" : "");
        }
        /* End of input stays the end. */
        tecg_line_t line;
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_ERR_NOT_FOUND);
        tecg_linereader_destroy(r);
}

static void test_cases_from_a_file(void **state) {
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int fd = file_fd(cases[i].input, cases[i].input_len);
                check_lines(&cases[i], fd, "file");
                close(fd);
        }
}

static void test_cases_with_short_reads(void **state) {
        (void)state;
        for (size_t chunk = 1; chunk <= 3; chunk++) {
                for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                        pid_t child;
                        char how[32];
                        int status;
                        int fd = pipe_fd(cases[i].input, cases[i].input_len, chunk, &child);
                        snprintf(how, sizeof(how), "pipe, %zu-byte writes", chunk);
                        check_lines(&cases[i], fd, how);
                        close(fd);
                        assert_int_equal(waitpid(child, &status, 0), child);
                        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                }
        }
}

/* A line longer than the reader's first buffer (256 kB) and than the
 * limit: the reader drops it as it reads, keeps its start and counts it
 * exactly, then finds the next line. */
static void test_huge_line_is_skipped_and_counted(void **state) {
        (void)state;
        size_t huge = 3 * 1024 * 1024 + 7;
        size_t len = huge + 1 + 3;
        char *data = malloc(len), err[256];
        assert_non_null(data);
        for (size_t i = 0; i < huge; i++)
                data[i] = (char)('a' + i % 26);
        memcpy(data + huge, "\nok\n", 4);
        int fd = file_fd(data, len);
        tecg_linereader_t *r = tecg_linereader_new(fd, 1024, 100);
        tecg_line_t line;
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_OK);
        assert_true(line.too_long);
        assert_int_equal(line.full_len, huge);
        assert_int_equal(line.len, 100);
        assert_memory_equal(line.data, data, 100);
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_OK);
        assert_false(line.too_long);
        assert_int_equal(line.len, 2);
        assert_memory_equal(line.data, "ok", 2);
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_ERR_NOT_FOUND);
        tecg_linereader_destroy(r);
        close(fd);
        free(data);
}

/* A limit above the first buffer: a line just under it is returned whole
 * (the buffer grows), one just over it is too long. */
static void test_limit_above_the_first_buffer(void **state) {
        (void)state;
        size_t max = 300 * 1024, len = (max + 1) + (max + 1) + 1;
        char *data = malloc(len), err[256];
        assert_non_null(data);
        memset(data, 'x', max);
        data[max] = '\n';
        memset(data + max + 1, 'y', max + 1);
        data[len - 1] = '\n';
        int fd = file_fd(data, len);
        tecg_linereader_t *r = tecg_linereader_new(fd, max, 16);
        tecg_line_t line;
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_OK);
        assert_false(line.too_long);
        assert_int_equal(line.len, max);
        assert_int_equal(line.full_len, max);
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_OK);
        assert_true(line.too_long);
        assert_int_equal(line.full_len, max + 1);
        assert_int_equal(line.len, 16);
        assert_memory_equal(line.data, data + max + 1, 16);
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_ERR_NOT_FOUND);
        tecg_linereader_destroy(r);
        close(fd);
        free(data);
}

/* read(2) failing (a directory) is TECG_ERR_IO with the system's reason. */
static void test_read_error(void **state) {
        (void)state;
        char err[256] = "";
        int fd = open(".", O_RDONLY);
        assert_true(fd >= 0);
        tecg_linereader_t *r = tecg_linereader_new(fd, 64, 8);
        tecg_line_t line;
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_ERR_IO);
        assert_string_equal(err, strerror(EISDIR));
        tecg_linereader_destroy(r);
        close(fd);
}

/* The idle call feeds the pipe: the first writes a line, the second closes
 * the writing end. */
typedef struct {
        int write_fd;
        int calls;
} idle_pipe_t;

static int idle_feeds_the_pipe(void *ctx) {
        idle_pipe_t *ip = ctx;
        ip->calls++;
        if (ip->calls == 1) {
                assert_int_equal(write(ip->write_fd, "second\n", 7), 7);
        } else if (ip->calls == 2) {
                close(ip->write_fd);
                ip->write_fd = -1;
        }
        return -1; /* TECG_LINEREADER_IDLE_MS */
}

static int idle_says_stop(void *ctx) {
        (void)ctx;
        return TECG_LINEREADER_IDLE_STOP;
}

static void expect_line(tecg_linereader_t *r, const char *want) {
        char err[256];
        tecg_line_t line;
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_OK);
        assert_int_equal(line.len, strlen(want));
        assert_memory_equal(line.data, want, line.len);
}

static void test_idle_call_when_the_input_waits(void **state) {
        (void)state;
        char err[256];
        tecg_line_t line;
        int p[2];
        assert_int_equal(pipe(p), 0);
        idle_pipe_t ip = {p[1], 0};
        assert_int_equal(write(p[1], "first\n", 6), 6);
        tecg_linereader_t *r = tecg_linereader_new(p[0], 64, 8);
        tecg_linereader_on_idle(r, idle_feeds_the_pipe, &ip);
        expect_line(r, "first"); /* there already: no idle call */
        assert_int_equal(ip.calls, 0);
        expect_line(r, "second"); /* written by the first idle call */
        assert_int_equal(ip.calls, 1);
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_ERR_NOT_FOUND);
        assert_int_equal(ip.calls, 2);
        tecg_linereader_destroy(r);
        close(p[0]);

        /* The idle function can end the wait (a stop signal came while it
         * ran): the reader says retry, and reads on when called again. */
        assert_int_equal(pipe(p), 0);
        r = tecg_linereader_new(p[0], 64, 8);
        tecg_linereader_on_idle(r, idle_says_stop, NULL);
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_ERR_RETRY);
        assert_int_equal(write(p[1], "after\n", 6), 6);
        expect_line(r, "after");
        tecg_linereader_destroy(r);
        close(p[0]);
        close(p[1]);

        /* A file is always ready: never idle. */
        int fd = file_fd("a\nb\n", 4);
        idle_pipe_t never = {-1, 0};
        r = tecg_linereader_new(fd, 64, 8);
        tecg_linereader_on_idle(r, idle_feeds_the_pipe, &never);
        expect_line(r, "a");
        expect_line(r, "b");
        assert_int_equal(tecg_linereader_next(r, &line, err, sizeof(err)), TECG_ERR_NOT_FOUND);
        assert_int_equal(never.calls, 0);
        tecg_linereader_destroy(r);
        close(fd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cases_from_a_file),
                cmocka_unit_test(test_cases_with_short_reads),
                cmocka_unit_test(test_huge_line_is_skipped_and_counted),
                cmocka_unit_test(test_limit_above_the_first_buffer),
                cmocka_unit_test(test_read_error),
                cmocka_unit_test(test_idle_call_when_the_input_waits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
