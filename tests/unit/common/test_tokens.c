/* The tokens file (common/tokens.h): parsing, constant-time lookup by
 * token, route patterns, new tokens, the file mode check. The hash of
 * "abc" is FIPS 180-2's SHA-256 example, copied, not computed here. */
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

#include "tokens.h"

#define ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define OTHER     \
        "sha256:" \
        "0000000000000000000000000000000000000000000000000000000000000001"

static tecg_tokens_t *parse(const char *text, char *errstr, size_t size) {
        return tecg_tokens_parse(text, strlen(text), "tokens", errstr, size);
}

static void test_parse_and_verify(void **state) {
        (void)state;
        char errstr[256] = "";
        tecg_tokens_t *t = parse("# operators\n"
                                 "\n"
                                 "ops  " ABC "  / /api/dashboards/ /api/stream  # the wall\n"
                                 "bi\t" OTHER "\t/api/export/\r\n",
                                 errstr, sizeof(errstr));
        assert_non_null(t);
        assert_int_equal(tecg_tokens_count(t), 2);
        const tecg_token_entry_t *e = tecg_tokens_verify(t, "abc", 3);
        assert_non_null(e);
        assert_string_equal(tecg_token_name(e), "ops");
        assert_null(tecg_tokens_verify(t, "abd", 3));
        assert_null(tecg_tokens_verify(t, "ab", 2));
        assert_null(tecg_tokens_verify(t, "", 0));
        assert_ptr_equal(tecg_tokens_find(t, "ops"), e);
        assert_string_equal(tecg_token_name(tecg_tokens_find(t, "bi")), "bi");
        assert_null(tecg_tokens_find(t, "op"));
        tecg_tokens_destroy(t);
        tecg_tokens_destroy(NULL);
}

static void test_routes(void **state) {
        (void)state;
        char errstr[256];
        tecg_tokens_t *t = parse("ops " ABC " / /api/dashboards/ /api/stream\n"
                                 "bi " OTHER " /api/export/ /metrics\n",
                                 errstr, sizeof(errstr));
        assert_non_null(t);
        const tecg_token_entry_t *ops = tecg_tokens_find(t, "ops");
        const tecg_token_entry_t *bi = tecg_tokens_find(t, "bi");
        static const struct {
                const char *path;
                bool ops, bi;
        } cases[] = {
                {"/", true, false},
                {"/index.html", true, false},
                {"/static/page.js", true, false},
                {"/api/dashboards", true, false},
                {"/api/dashboards/funding", true, false},
                {"/api/dashboardsX", false, false},
                {"/api/stream", true, false},
                {"/api/stream/x", false, false},
                {"/api/export/funding.csv", false, true},
                {"/api/export", false, true},
                {"/metrics", false, true},
                {"/metrics2", false, false},
                {"/healthz", false, false},
                {"/api", false, false},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                if (tecg_tokens_allows(ops, cases[i].path) != cases[i].ops ||
                    tecg_tokens_allows(bi, cases[i].path) != cases[i].bi)
                        fail_msg("%s: want ops=%d bi=%d", cases[i].path, cases[i].ops, cases[i].bi);
        }
        assert_false(tecg_tokens_allows(NULL, "/"));
        tecg_tokens_destroy(t);

        t = parse("all " ABC " *\n", errstr, sizeof(errstr));
        assert_non_null(t);
        assert_true(tecg_tokens_allows(tecg_tokens_find(t, "all"), "/metrics"));
        tecg_tokens_destroy(t);
}

static void test_bad_files(void **state) {
        (void)state;
        static const struct {
                const char *text, *reason;
        } cases[] = {
                {"ops " ABC "\n", "tokens:1: ops: no route granted"},
                {"ops sha1:abc /\n", "tokens:1: ops: the hash must be sha256:"},
                {"ops " ABC "0 /\n", "the hash must be"},
                {"ops sha256:zz16bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad /\n",
                 "the hash must be"},
                {"\n\nop$ " ABC " /\n", "tokens:3: name must be"},
                {"ops " ABC " api/\n", "route 'api/' must be"},
                {"ops " ABC " /a/../metrics\n", "route '/a/../metrics'"},
                {"ops " ABC " /\nops " OTHER " /\n", "tokens:2: ops is listed twice"},
                {"ops " ABC " /\nbi " ABC " /\n", "tokens:2: bi has the same token as ops"},
                {"ops " ABC " / / / / / / / / / / / / / / / / /\n", "more than 16 routes"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char errstr[256] = "";
                tecg_tokens_t *t = parse(cases[i].text, errstr, sizeof(errstr));
                if (t || !strstr(errstr, cases[i].reason))
                        fail_msg("case %zu: got '%s', want '%s'", i, errstr, cases[i].reason);
        }
        char errstr[256] = "";
        static const char nul[] = "ops " ABC " /\0x\n";
        assert_null(tecg_tokens_parse(nul, sizeof(nul) - 1, "tokens", errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "NUL"));
}

static void test_make(void **state) {
        (void)state;
        char token[TECG_TOKEN_TEXT_SIZE], token2[TECG_TOKEN_TEXT_SIZE], line[512], errstr[256];
        const char *routes[] = {"/", "/api/stream"};
        assert_int_equal(tecg_tokens_make("alice", routes, 2, token, line, sizeof(line), errstr,
                                          sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(strlen(token), 64);
        assert_int_equal(strncmp(line, "alice  sha256:", 14), 0);
        assert_null(strstr(line, token)); /* the file gets the hash only */
        tecg_tokens_t *t = parse(line, errstr, sizeof(errstr));
        assert_non_null(t);
        const tecg_token_entry_t *e = tecg_tokens_verify(t, token, strlen(token));
        assert_non_null(e);
        assert_true(tecg_tokens_allows(e, "/api/stream"));
        assert_false(tecg_tokens_allows(e, "/metrics"));
        tecg_tokens_destroy(t);

        assert_int_equal(tecg_tokens_make("alice", routes, 2, token2, line, sizeof(line), errstr,
                                          sizeof(errstr)),
                         TECG_OK);
        assert_string_not_equal(token, token2);
        assert_int_equal(tecg_tokens_make("al ice", routes, 2, token, line, sizeof(line), errstr,
                                          sizeof(errstr)),
                         TECG_ERR_CONFIG);
        routes[1] = "metrics";
        assert_int_equal(tecg_tokens_make("alice", routes, 2, token, line, sizeof(line), errstr,
                                          sizeof(errstr)),
                         TECG_ERR_CONFIG);
        assert_int_equal(tecg_tokens_make("alice", routes, 0, token, line, sizeof(line), errstr,
                                          sizeof(errstr)),
                         TECG_ERR_CONFIG);
}

static void test_load_mode(void **state) {
        (void)state;
        char path[] = "/tmp/tecg-tokens-XXXXXX";
        char errstr[256] = "";
        int fd = mkstemp(path);
        const char *text = "ops " ABC " /\n";
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);

        assert_int_equal(chmod(path, 0640), 0);
        tecg_tokens_t *t = tecg_tokens_load(path, errstr, sizeof(errstr));
        assert_non_null(t);
        assert_non_null(tecg_tokens_verify(t, "abc", 3));
        tecg_tokens_destroy(t);

        assert_int_equal(chmod(path, 0644), 0);
        assert_null(tecg_tokens_load(path, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "mode 0644"));
        assert_int_equal(chmod(path, 0660), 0);
        assert_null(tecg_tokens_load(path, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "mode 0660"));
        unlink(path);
        assert_null(tecg_tokens_load(path, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "No such file"));
        assert_null(tecg_tokens_load("/tmp", errstr, sizeof(errstr)));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_and_verify), cmocka_unit_test(test_routes),
                cmocka_unit_test(test_bad_files),        cmocka_unit_test(test_make),
                cmocka_unit_test(test_load_mode),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
