/* Strict UTF-8 (common/utf8.c): the boundaries of every lead byte, as
 * Jansson's utf.c and RFC 3629 draw them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

typedef struct {
        const char *name;
        const char *bytes;
        size_t len;
        size_t seq; /* tecg_utf8_seq at the first byte: 0 = invalid */
} seq_case_t;

#define C(name, lit, seq) \
        { name, lit, sizeof(lit) - 1, seq }

static const seq_case_t seq_cases[] = {
        C("ASCII", "A", 1),
        C("NUL is ASCII", "\x00", 1),
        C("DEL", "\x7f", 1),
        C("lone continuation", "\x80", 0),
        C("C0 overlong lead", "\xc0\x80", 0),
        C("C1 overlong lead", "\xc1\xbf", 0),
        C("U+0080", "\xc2\x80", 2),
        C("U+07FF", "\xdf\xbf", 2),
        C("2-byte, bad continuation", "\xc2\x41", 0),
        C("2-byte, cut short", "\xc2", 0),
        C("3-byte overlong U+07FF", "\xe0\x9f\xbf", 0),
        C("U+0800", "\xe0\xa0\x80", 3),
        C("U+D7FF", "\xed\x9f\xbf", 3),
        C("surrogate U+D800", "\xed\xa0\x80", 0),
        C("surrogate U+DFFF", "\xed\xbf\xbf", 0),
        C("U+E000", "\xee\x80\x80", 3),
        C("U+FFFF", "\xef\xbf\xbf", 3),
        C("3-byte, bad third", "\xe2\x82\x41", 0),
        C("3-byte, cut short", "\xe2\x82", 0),
        C("4-byte overlong U+FFFF", "\xf0\x8f\xbf\xbf", 0),
        C("U+10000", "\xf0\x90\x80\x80", 4),
        C("U+10FFFF", "\xf4\x8f\xbf\xbf", 4),
        C("U+110000", "\xf4\x90\x80\x80", 0),
        C("F5 lead", "\xf5\x80\x80\x80", 0),
        C("FF", "\xff", 0),
        C("4-byte, bad fourth", "\xf0\x9f\x98\x41", 0),
        C("4-byte, cut short", "\xf0\x9f\x98", 0),
};

static void test_seq(void **state) {
        (void)state;
        for (size_t i = 0; i < sizeof(seq_cases) / sizeof(seq_cases[0]); i++) {
                const seq_case_t *c = &seq_cases[i];
                size_t got = tecg_utf8_seq((const unsigned char *)c->bytes, c->len);
                if (got != c->seq)
                        fail_msg("%s: tecg_utf8_seq %zu, want %zu", c->name, got, c->seq);
                /* A sequence on its own is a valid buffer exactly when it is
                 * one whole sequence. */
                assert_int_equal(tecg_utf8_valid(c->bytes, c->len), c->seq == c->len);
        }
}

/* avail bounds the read: a valid sequence with too few bytes available is
 * refused, not read past. */
static void test_seq_avail(void **state) {
        (void)state;
        const unsigned char euro[] = {0xe2, 0x82, 0xac};
        assert_int_equal(tecg_utf8_seq(euro, 3), 3);
        assert_int_equal(tecg_utf8_seq(euro, 2), 0);
        assert_int_equal(tecg_utf8_seq(euro, 1), 0);
}

static void test_valid(void **state) {
        (void)state;
        assert_true(tecg_utf8_valid("", 0));
        assert_true(tecg_utf8_valid("plain", 5));
        assert_true(tecg_utf8_valid("\xc3\x84rzteset \xe2\x82\xac \xf0\x9f\x98\x80", 18));
        /* Invalid anywhere, including last. */
        assert_false(tecg_utf8_valid("ok \xff", 4));
        assert_false(tecg_utf8_valid("\xc3", 1));
        assert_false(tecg_utf8_valid("abc\xe2\x82", 5));
        assert_false(tecg_utf8_valid("\xed\xa0\x80 surrogate", 13));
        /* len bounds it: a cut inside a sequence is invalid, before it fine. */
        assert_true(tecg_utf8_valid("ab\xc3\x84", 2));
        assert_false(tecg_utf8_valid("ab\xc3\x84", 3));
}

static void test_count(void **state) {
        (void)state;
        assert_int_equal(tecg_utf8_count("", 0), 0);
        assert_int_equal(tecg_utf8_count("abc", 3), 3);
        /* "Ärzteset" is 8 characters in 9 bytes. */
        assert_int_equal(tecg_utf8_count("\xc3\x84rzteset", 9), 8);
        assert_int_equal(tecg_utf8_count("\xe2\x82\xac\xf0\x9f\x98\x80", 7), 2);
        /* Counts only up to len. */
        assert_int_equal(tecg_utf8_count("abcdef", 4), 4);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seq),
                cmocka_unit_test(test_seq_avail),
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_count),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
