/* Helpers shared by the unit tests (tests/unit/FOLDER/test_*.c), built once as the
 * static library tecg_testutil (tests/CMakeLists.txt) and linked into every
 * unit test executable.
 *
 * Everything here may fail the running test through cmocka (fail_msg,
 * assert_*), so call it from inside a test or a fixture only. Names start
 * with tu_ so they never collide with a test file's own helpers.
 *
 * Include <setjmp.h>, <stdarg.h>, <stddef.h> and <cmocka.h> first, as for
 * cmocka itself. */
#ifndef TECG_TESTUTIL_H
#define TECG_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ time */

/* CLOCK_MONOTONIC in milliseconds: for deadlines, never for asserting how
 * long something took. */
int64_t tu_now_ms(void);

/* Sleeps ms milliseconds (resumed after a signal). */
void tu_sleep_ms(int ms);

/* Milliseconds since the epoch of a local time written with an offset in
 * minutes, through timegm(): independent of the code under test. */
int64_t tu_at(int y, int mo, int d, int h, int mi, int s, int off_min);

/* ----------------------------------------------------------------- files */

/* $TECG_SOURCE_DIR (set by ctest), or the source tree this was built from. */
const char *tu_source_dir(void);

/* $TECG_TEST_DATA (set by ctest), or <source dir>/tests/data. */
const char *tu_data_dir(void);

/* <data dir>/rel, in a static buffer overwritten by the next call. */
const char *tu_data_path(const char *rel);

/* The whole file, NUL-terminated (the caller frees it); its length in *len
 * when len is not NULL. NULL when the file cannot be opened. */
char *tu_read_file(const char *path, size_t *len);

/* tu_read_file() that fails the test when the file cannot be opened. */
char *tu_slurp(const char *path, size_t *len);

/* TECG_UPDATE_GOLDEN=1: rewrite golden files from the output instead of
 * comparing with them. */
int tu_update_golden(void);

/* tu_slurp() of tu_data_path(rel). */
char *tu_slurp_data(const char *rel, size_t *len);

/* Hands each non-empty line of data file rel to check(); returns how many
 * there were. check() must not use strtok(). */
int tu_each_data_line(const char *rel, void (*check)(char *line));

/* The bytes of a data file holding one line of hex digits (the caller
 * frees them), their count in *len. */
uint8_t *tu_hex_file(const char *rel, size_t *len);

/* Lower-case hex of n bytes, NUL-terminated (the caller frees it). */
char *tu_hex_of(const uint8_t *p, size_t n);

/* Fails with both sides in hex, named `what`, unless the bytes are equal. */
void tu_assert_bytes_equal(const char *what, const uint8_t *got, size_t got_len,
                           const uint8_t *want, size_t want_len);

/* dir/rel, in a static buffer overwritten by the next call. */
const char *tu_path_in(const char *dir, const char *rel);

/* Writes len bytes of text to dir/rel (created or truncated). */
void tu_put_file(const char *dir, const char *rel, const char *text, size_t len);

/* Fails, showing both, unless dir/rel holds exactly want (a missing file
 * holds ""). */
void tu_assert_file(const char *dir, const char *rel, const char *want);

/* Whether dir/rel exists (any kind of file). */
int tu_exists(const char *dir, const char *rel);

/* Removes dir and everything below it; "" is a no-op. */
void tu_rm_tree(const char *dir);

/* --------------------------------------------------------------- strings */

/* Non-overlapping occurrences of needle in hay. */
int tu_count_of(const char *hay, const char *needle);

/* Fails, showing hay, unless every needle occurs in it. */
void tu_assert_contains_n(const char *hay, const char *const *needles, size_t n);
#define tu_assert_contains(hay, ...)                                    \
        tu_assert_contains_n((hay), (const char *const[]){__VA_ARGS__}, \
                             sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* ---------------------------------------------------------------- config */

struct tecg_conf;
struct tecg_conf_prop;

/* A daemon's table bound to target and fed source-relative file rel (e.g.
 * "deploy/aggregator.conf.example"), or nothing when rel is NULL; fails the
 * test on any error. The caller destroys it with tecg_conf_destroy(). */
struct tecg_conf *tu_conf_load(const struct tecg_conf_prop *props, void *target, const char *rel);

/* The reason a table gives for one config text, "" when it is accepted. */
const char *tu_conf_reason(const struct tecg_conf_prop *props, void *target, const char *text);

/* One config text and the reason it must give ("" = accepted); a reason
 * is matched as a prefix, so it need not spell the allowed range. */
typedef struct {
        const char *text, *reason;
} tu_conf_case_t;

/* Fails at the first case whose reason differs, naming it; target is
 * zeroed (target_size bytes) before each. */
void tu_conf_check_cases(const struct tecg_conf_prop *props, void *target, size_t target_size,
                         const tu_conf_case_t *cases, size_t n);

/* What --help prints for a table (the caller frees it). */
char *tu_conf_help(const struct tecg_conf_prop *props);

/* ------------------------------------------------------------ allocation */

/* An allocator for avro_set_allocator() that records the largest single
 * request in tu_largest_alloc, so a test can prove that hostile length
 * prefixes never reach malloc. */
extern size_t tu_largest_alloc;
void *tu_counting_allocator(void *ud, void *ptr, size_t osize, size_t nsize);

#endif
