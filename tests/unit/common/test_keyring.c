/* The nations' keyring (common/keyring.c): every bad line is refused with
 * its line, field and reason; lookups and verdicts follow the windows and
 * revocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keyring.h"
#include "testutil.h"

#define HEADER "nation,key_id,public_key,valid_from,valid_until,revoked_at\n"
/* RFC 8032's first test public key, base64. */
#define PUB "11qYAYKxCrfVS/7TyWQHOg7hcvPaoiMlrwIaaPcHURo="

static tecg_nations_t *nations;
static char errstr[512];

static int setup(void **state) {
        (void)state;
        static const char csv[] = "code,name,status\nFRA,France,member\nDEU,Germany,member\n";
        nations = tecg_nations_parse(csv, sizeof(csv) - 1, "n.csv", errstr, sizeof(errstr));
        return nations ? 0 : -1;
}

static int teardown(void **state) {
        (void)state;
        tecg_nations_destroy(nations);
        return 0;
}

static tecg_keyring_t *parse(const char *text) {
        return tecg_keyring_parse(text, strlen(text), "keys.csv", nations, errstr, sizeof(errstr));
}

static void test_bad_lines_name_line_field_and_reason(void **state) {
        (void)state;
        static const struct {
                const char *text, *want;
        } cases[] = {
                {"", "keys.csv: missing header line"},
                {"nation,key,public_key,valid_from,valid_until,revoked_at\n",
                 "keys.csv:1: header must be"},
                {HEADER "FRA,FRA-1," PUB ",,\n", "keys.csv:2: expected 6 fields"},
                {HEADER "FRA,FRA-1," PUB ",,,,\n", "keys.csv:2: expected 6 fields"},
                {HEADER "# c\n\nITA,ITA-1," PUB ",,,\n",
                 "keys.csv:4: nation \"ITA\": not a nation of the nations file"},
                {HEADER "FRA,FRA 1," PUB ",,,\n",
                 "keys.csv:2: key_id \"FRA 1\": must be 1-64 characters"},
                {HEADER "FRA,,", "keys.csv:2: expected 6 fields"},
                {HEADER "FRA,FRA-1,AAAA,,,\n",
                 "keys.csv:2: public_key \"AAAA\": must be the base64 of a 32-byte"},
                {HEADER "FRA,FRA-1," PUB ",2026-13-01T00:00:00Z,,\n",
                 "keys.csv:2: valid_from \"2026-13-01T00:00:00Z\": "},
                {HEADER "FRA,FRA-1," PUB ",2026-01-01T00:00:00+01:00,,\n",
                 "keys.csv:2: valid_from \"2026-01-01T00:00:00+01:00\": must be in UTC"},
                {HEADER "FRA,FRA-1," PUB ",,yesterday,\n",
                 "keys.csv:2: valid_until \"yesterday\": "},
                {HEADER "FRA,FRA-1," PUB ",2026-02-01T00:00:00Z,2026-01-01T00:00:00Z,\n",
                 "keys.csv:2: valid_until \"2026-01-01T00:00:00Z\": must be later than valid_from"},
                {HEADER "FRA,FRA-1," PUB ",,,soon\n", "keys.csv:2: revoked_at \"soon\": "},
                {HEADER "FRA,FRA-1," PUB ",,,\nDEU,FRA-1," PUB ",,,\n",
                 "keys.csv:3: key_id \"FRA-1\": listed twice"},
                {HEADER "FRA,FRA-1," PUB ",,,\n\x01\x00,x\n", "keys.csv:3: NUL byte in line"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t len = strlen(cases[i].text);
                if (strstr(cases[i].text, "\x01"))
                        len += 4; /* past the NUL: "\0,x\n" */
                tecg_keyring_t *kr = tecg_keyring_parse(cases[i].text, len, "keys.csv", nations,
                                                        errstr, sizeof(errstr));
                if (kr || !strstr(errstr, cases[i].want))
                        fail_msg("case %zu: want \"%s\", got %s \"%s\"", i, cases[i].want,
                                 kr ? "a keyring" : "error", errstr);
        }
}

static void test_windows_revocation_and_lookup(void **state) {
        (void)state;
        tecg_keyring_t *kr = parse("# rotation: old until March, new from February\r\n" HEADER
                                   "FRA,FRA-old," PUB ",,2026-03-01T00:00:00Z,\n"
                                   " FRA , FRA-new , " PUB " , 2026-02-01T00:00:00Z , , \n"
                                   "DEU,DEU-lost," PUB ",,,2026-01-01T00:00:00Z\n");
        assert_non_null(kr);
        assert_int_equal(tecg_keyring_count(kr), 3);
        const tecg_keyring_key_t *k = tecg_keyring_at(kr, 1);
        assert_string_equal(k->key_id, "FRA-new");
        assert_string_equal(k->nation, "FRA");
        assert_int_equal(k->valid_from_ms, tu_at(2026, 2, 1, 0, 0, 0, 0));
        assert_int_equal(k->valid_until_ms, TECG_KEYRING_OPEN_UNTIL);
        assert_null(tecg_keyring_at(kr, 3));
        assert_ptr_equal(tecg_keyring_find(kr, "FRA-newX", 7), k);
        assert_null(tecg_keyring_find(kr, "FRA-ne", 6));

        int64_t feb15 = tu_at(2026, 2, 15, 0, 0, 0, 0);
        int64_t march = tu_at(2026, 3, 1, 0, 0, 0, 0);
        assert_int_equal(tecg_keyring_check(kr, "FRA-old", 7, "FRA", feb15, &k), TECG_KEYRING_OK);
        assert_int_equal(tecg_keyring_check(kr, "FRA-new", 7, "FRA", feb15, &k), TECG_KEYRING_OK);
        /* valid_until is exclusive, valid_from inclusive. */
        assert_int_equal(tecg_keyring_check(kr, "FRA-old", 7, "FRA", march, &k),
                         TECG_KEYRING_EXPIRED);
        assert_int_equal(tecg_keyring_check(kr, "FRA-old", 7, "FRA", march - 1, &k),
                         TECG_KEYRING_OK);
        assert_int_equal(tecg_keyring_check(kr, "FRA-new", 7, "FRA", feb15 - 15 * 86400000LL, &k),
                         TECG_KEYRING_NOT_YET_VALID);
        assert_int_equal(tecg_keyring_check(kr, "FRA-new", 7, "DEU", feb15, &k),
                         TECG_KEYRING_OTHER_NATION);
        assert_string_equal(k->nation, "FRA");
        /* Revoked in January: refused in December too. */
        assert_int_equal(
                tecg_keyring_check(kr, "DEU-lost", 8, "DEU", tu_at(2025, 12, 1, 0, 0, 0, 0), &k),
                TECG_KEYRING_REVOKED);
        assert_int_equal(tecg_keyring_check(kr, "XXX-1", 5, "FRA", feb15, &k),
                         TECG_KEYRING_UNKNOWN_KEY);
        assert_null(k);
        tecg_keyring_destroy(kr);

        /* A keyring without keys is valid: it refuses everything. */
        kr = parse(HEADER);
        assert_non_null(kr);
        assert_int_equal(tecg_keyring_count(kr), 0);
        tecg_keyring_destroy(kr);
        tecg_keyring_destroy(NULL);
}

static void test_default_path_is_beside_the_nations_file(void **state) {
        (void)state;
        char *p = tecg_keyring_default_path("/etc/tecg/nations.csv");
        assert_string_equal(p, "/etc/tecg/nation-keys.csv");
        free(p);
        p = tecg_keyring_default_path("nations.csv");
        assert_string_equal(p, "nation-keys.csv");
        free(p);
}

/* A keyring put in force by a reload: a key revoked there is refused at
 * the next lookup on the same handle; the key read before stays intact. */
static void test_replace_revokes(void **state) {
        (void)state;
        int64_t now = 1767225600000; /* 2026-01-01 */
        tecg_keyring_t *kr = parse(HEADER "FRA,FRA-1," PUB ",,,\n");
        tecg_keyring_t *again = parse(HEADER "FRA,FRA-1," PUB ",,,\n");
        tecg_keyring_t *revoked = parse(HEADER "FRA,FRA-1," PUB ",,,2026-01-01T00:00:00Z\n");
        const tecg_keyring_key_t *k = NULL, *before;
        assert_non_null(kr);
        assert_non_null(again);
        assert_non_null(revoked);
        assert_true(tecg_keyring_same(kr, again));
        assert_false(tecg_keyring_same(kr, revoked));
        assert_int_equal(tecg_keyring_check(kr, "FRA-1", 5, "FRA", now, &before), TECG_KEYRING_OK);

        tecg_keyring_replace(kr, revoked);
        assert_int_equal(tecg_keyring_check(kr, "FRA-1", 5, "FRA", now, &k), TECG_KEYRING_REVOKED);
        assert_ptr_not_equal(k, before);
        assert_false(before->revoked); /* the old key, still readable */
        assert_true(tecg_keyring_at(kr, 0)->revoked);
        assert_false(tecg_keyring_same(kr, again));

        /* And back: a second replacement. */
        tecg_keyring_replace(kr, again);
        assert_int_equal(tecg_keyring_check(kr, "FRA-1", 5, "FRA", now, &k), TECG_KEYRING_OK);
        assert_int_equal(tecg_keyring_count(kr), 1);
        tecg_keyring_destroy(kr);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bad_lines_name_line_field_and_reason),
                cmocka_unit_test(test_windows_revocation_and_lookup),
                cmocka_unit_test(test_default_path_is_beside_the_nations_file),
                cmocka_unit_test(test_replace_revokes),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
