/* See testutil.h. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "testutil.h"

/* ------------------------------------------------------------------ time */

int64_t tu_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_sleep_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
}

int64_t tu_at(int y, int mo, int d, int h, int mi, int s, int off_min) {
        struct tm tm = {0};
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = s;
        return ((int64_t)timegm(&tm) - (int64_t)off_min * 60) * 1000;
}

/* ----------------------------------------------------------------- files */

const char *tu_source_dir(void) {
        const char *src = getenv("TECG_SOURCE_DIR");
        return src ? src : TECG_SOURCE_DIR;
}

const char *tu_data_dir(void) {
        static char dir[4096];
        const char *d = getenv("TECG_TEST_DATA");
        if (d)
                return d;
        int n = snprintf(dir, sizeof(dir), "%s/tests/data", tu_source_dir());
        assert_true(n > 0 && (size_t)n < sizeof(dir));
        return dir;
}

const char *tu_data_path(const char *rel) {
        static char path[4096];
        int n = snprintf(path, sizeof(path), "%s/%s", tu_data_dir(), rel);
        assert_true(n > 0 && (size_t)n < sizeof(path));
        return path;
}

char *tu_read_file(const char *path, size_t *len) {
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        size_t cap = 0, n = 0, r;
        if (!f)
                return NULL;
        do {
                if (n == cap) {
                        cap = cap ? cap * 2 : 1 << 16;
                        char *nbuf = realloc(buf, cap + 1);
                        assert_non_null(nbuf);
                        buf = nbuf;
                }
                r = fread(buf + n, 1, cap - n, f);
                n += r;
        } while (r > 0);
        assert_int_equal(ferror(f), 0);
        fclose(f);
        buf[n] = '\0';
        if (len)
                *len = n;
        return buf;
}

char *tu_slurp(const char *path, size_t *len) {
        char *buf = tu_read_file(path, len);
        if (!buf)
                fail_msg("cannot open %s", path);
        return buf;
}

int tu_update_golden(void) {
        const char *u = getenv("TECG_UPDATE_GOLDEN");
        return u && strcmp(u, "1") == 0;
}

char *tu_slurp_data(const char *rel, size_t *len) {
        return tu_slurp(tu_data_path(rel), len);
}

int tu_each_data_line(const char *rel, void (*check)(char *line)) {
        char *text = tu_slurp_data(rel, NULL);
        int n = 0;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                check(line);
                n++;
        }
        free(text);
        return n;
}

uint8_t *tu_hex_file(const char *rel, size_t *len) {
        char *text = tu_slurp_data(rel, NULL);
        size_t n = strcspn(text, "\r\n");
        uint8_t *out = malloc(n / 2 + 1);
        assert_non_null(out);
        assert_int_equal(n % 2, 0);
        for (size_t i = 0; i < n / 2; i++) {
                unsigned b;
                assert_int_equal(sscanf(text + 2 * i, "%2x", &b), 1);
                out[i] = (uint8_t)b;
        }
        *len = n / 2;
        free(text);
        return out;
}

char *tu_hex_of(const uint8_t *p, size_t n) {
        char *s = malloc(2 * n + 1);
        assert_non_null(s);
        for (size_t i = 0; i < n; i++)
                sprintf(s + 2 * i, "%02x", p[i]);
        s[2 * n] = '\0';
        return s;
}

void tu_assert_bytes_equal(const char *what, const uint8_t *got, size_t got_len,
                           const uint8_t *want, size_t want_len) {
        char *got_hex = tu_hex_of(got, got_len);
        char *want_hex = tu_hex_of(want, want_len);
        if (strcmp(got_hex, want_hex))
                fail_msg("%s:\n got  %s\n want %s", what, got_hex, want_hex);
        free(got_hex);
        free(want_hex);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
        (void)sb, (void)flag, (void)ftw;
        return remove(path);
}

const char *tu_path_in(const char *dir, const char *rel) {
        static char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        return path;
}

void tu_put_file(const char *dir, const char *rel, const char *text, size_t len) {
        FILE *fp = fopen(tu_path_in(dir, rel), "w");
        if (!fp)
                fail_msg("cannot write %s/%s: %s", dir, rel, strerror(errno));
        assert_int_equal(fwrite(text, 1, len, fp), len);
        assert_int_equal(fclose(fp), 0);
}

void tu_assert_file(const char *dir, const char *rel, const char *want) {
        char *got = tu_read_file(tu_path_in(dir, rel), NULL);
        if (strcmp(got ? got : "", want) != 0)
                fail_msg("%s: got\n%s\nwant\n%s", rel, got ? got : "(missing)", want);
        free(got);
}

int tu_exists(const char *dir, const char *rel) {
        return access(tu_path_in(dir, rel), F_OK) == 0;
}

void tu_rm_tree(const char *dir) {
        if (dir[0])
                nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* --------------------------------------------------------------- strings */

int tu_count_of(const char *hay, const char *needle) {
        int n = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

void tu_assert_contains_n(const char *hay, const char *const *needles, size_t n) {
        assert_non_null(hay);
        for (size_t i = 0; i < n; i++)
                if (!strstr(hay, needles[i]))
                        fail_msg("\"%s\" not found in:\n%s", needles[i], hay);
}

/* ------------------------------------------------------------ allocation */

size_t tu_largest_alloc;

void *tu_counting_allocator(void *ud, void *ptr, size_t osize, size_t nsize) {
        (void)ud;
        (void)osize;
        if (nsize == 0) {
                free(ptr);
                return NULL;
        }
        if (nsize > tu_largest_alloc)
                tu_largest_alloc = nsize;
        return realloc(ptr, nsize);
}

/* ---------------------------------------------------------------- config */

tecg_conf_t *tu_conf_load(const tecg_conf_prop_t *props, void *target, const char *rel) {
        char errstr[512] = "";
        tecg_conf_t *conf = tecg_conf_new(props, target, errstr, sizeof(errstr));
        if (!conf)
                fail_msg("tecg_conf_new: %s", errstr);
        if (rel) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", tu_source_dir(), rel);
                if (tecg_conf_load_file(conf, path, errstr, sizeof(errstr)) != TECG_OK)
                        fail_msg("%s: %s", rel, errstr);
        }
        return conf;
}

const char *tu_conf_reason(const tecg_conf_prop_t *props, void *target, const char *text) {
        static char errstr[512];
        errstr[0] = '\0';
        tecg_conf_t *conf = tecg_conf_new(props, target, errstr, sizeof(errstr));
        if (!conf)
                fail_msg("tecg_conf_new: %s", errstr);
        if (tecg_conf_parse(conf, "t.conf", text, strlen(text), errstr, sizeof(errstr)) ==
                    TECG_OK &&
            tecg_conf_check_required(conf, errstr, sizeof(errstr)) == TECG_OK)
                errstr[0] = '\0';
        tecg_conf_destroy(conf);
        return errstr;
}

void tu_conf_check_cases(const tecg_conf_prop_t *props, void *target, size_t target_size,
                         const tu_conf_case_t *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                memset(target, 0, target_size);
                const char *got = tu_conf_reason(props, target, cases[i].text);
                if (cases[i].reason[0] == '\0'
                            ? got[0] != '\0'
                            : strncmp(got, cases[i].reason, strlen(cases[i].reason)) != 0)
                        fail_msg("case %zu: got \"%s\", want \"%s\"", i, got, cases[i].reason);
        }
}

char *tu_conf_help(const tecg_conf_prop_t *props) {
        char *text = NULL;
        size_t size = 0;
        FILE *fp = open_memstream(&text, &size);
        assert_non_null(fp);
        tecg_conf_print_help(fp, props);
        assert_int_equal(fclose(fp), 0);
        return text;
}
