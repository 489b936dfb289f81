/* Framing and CRC-64-AVRO (docs/design.md §3); the canonical form is in
 * test_canonical.c.
 *
 * Golden files in $TECG_TEST_DATA/avro/, written by fastavro through
 * tests/tools/gen_avro_golden.py (regenerate there, never by hand):
 *   crc64.txt          "<fingerprint hex>\t<input>" per line
 *   <schema>.pcf       canonical form of schemas/<schema>.avsc
 *   fingerprints.txt   "<schema> <fingerprint hex>" per line
 *   pcf_cases.ndjson   {"schema", "pcf", "fingerprint"} per line
 * Fingerprint hex is fastavro's spelling: the 8 bytes little-endian, as they
 * follow C3 01 on the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "framing.h"
#include "testutil.h"

/* ---------------------------------------------------------------- CRC */

/* "<fingerprint hex>\t<input>" */
static void check_crc64_line(char *line) {
        char hex[17];
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        tecg_framing_fingerprint_hex(tecg_crc64_avro(tab + 1, strlen(tab + 1)), hex);
        assert_string_equal(hex, line);
}

static void test_crc64_vectors(void **state) {
        (void)state;
        char hex[17];

        assert_true(tecg_crc64_avro("", 0) == UINT64_C(0xc15d213aa4d7a795));
        assert_true(tecg_crc64_avro(NULL, 0) == TECG_CRC64_AVRO_EMPTY);
        /* The integer the spec computes, and its wire spelling. */
        assert_true(tecg_crc64_avro("\"int\"", 5) == UINT64_C(0x7275d51a3f395c8f));
        assert_string_equal(tecg_framing_fingerprint_hex(TECG_CRC64_AVRO_EMPTY, hex),
                            "95a7d7a43a215dc1");
        assert_int_equal(tu_each_data_line("avro/crc64.txt", check_crc64_line), 9);
}

/* ---------------------------------------------------------------- PCF */

/* ------------------------------------------------------------- framing */

typedef struct {
        const char *name;
        const uint8_t *msg;
        size_t len;
        tecg_err_t err;
        const char *reason;
} frame_case_t;

#define CASE(n, err, reason, ...) \
        { n, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), err, reason }

static void test_framing_parse_errors(void **state) {
        (void)state;
        const frame_case_t cases[] = {
                {"empty", (const uint8_t *)"", 0, TECG_ERR_INVALID, "empty message"},
                CASE("one byte C3", TECG_ERR_INVALID,
                     "single-object header truncated: 1 of 10 bytes", 0xC3),
                CASE("short single-object header", TECG_ERR_INVALID,
                     "single-object header truncated: 9 of 10 bytes", 0xC3, 0x01, 1, 2, 3, 4, 5, 6,
                     7),
                CASE("C3 02", TECG_ERR_INVALID,
                     "unknown magic byte 0x02 after 0xC3 (single-object "
                     "encoding starts C3 01)",
                     0xC3, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 9),
                CASE("magic 0x01", TECG_ERR_INVALID,
                     "unknown magic byte 0x01 (expected 0xC3 for "
                     "single-object encoding or 0x00 for Confluent wire "
                     "format)",
                     0x01, 0x02),
                CASE("JSON text", TECG_ERR_INVALID,
                     "unknown magic byte 0x7B (expected 0xC3 for "
                     "single-object encoding or 0x00 for Confluent wire "
                     "format)",
                     '{', '}'),
                CASE("single-object, no body", TECG_ERR_INVALID,
                     "body empty after the 10-byte single-object header", 0xC3, 0x01, 1, 2, 3, 4, 5,
                     6, 7, 8),
                CASE("one byte 00", TECG_ERR_INVALID, "Confluent header truncated: 1 of 5 bytes",
                     0x00),
                CASE("short Confluent header", TECG_ERR_INVALID,
                     "Confluent header truncated: 4 of 5 bytes", 0x00, 0, 0, 7),
                CASE("Confluent, no body", TECG_ERR_INVALID,
                     "body empty after the 5-byte Confluent header", 0x00, 0, 0, 0, 7),
        };
        char errstr[256];
        tecg_frame_t f;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                memset(errstr, 0, sizeof(errstr));
                tecg_err_t err =
                        tecg_framing_parse(cases[i].msg, cases[i].len, &f, errstr, sizeof(errstr));
                if (err != cases[i].err || strcmp(errstr, cases[i].reason))
                        fail_msg("%s: got %d \"%s\", want %d \"%s\"", cases[i].name, err, errstr,
                                 cases[i].err, cases[i].reason);
                assert_null(f.body);
        }
        /* NULL errstr is allowed. */
        assert_int_equal(tecg_framing_parse("", 0, &f, NULL, 0), TECG_ERR_INVALID);
}

static void test_framing_parse_ok(void **state) {
        (void)state;
        static const uint8_t so[] = {0xC3, 0x01, 0xfa, 0x26, 0xe2, 0xc0,
                                     0x3b, 0xf3, 0xd5, 0x8d, 0x02, 0x41};
        static const uint8_t cf[] = {0x00, 0x80, 0x00, 0x01, 0x02, 0x99};
        tecg_frame_t f;
        char errstr[128], hex[17];

        assert_int_equal(tecg_framing_parse(so, sizeof(so), &f, errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(f.kind, TECG_FRAME_SINGLE_OBJECT);
        assert_true(f.fingerprint == UINT64_C(0x8dd5f33bc0e226fa));
        assert_string_equal(tecg_framing_fingerprint_hex(f.fingerprint, hex), "fa26e2c03bf3d58d");
        assert_ptr_equal(f.body, so + 10);
        assert_int_equal(f.body_len, 2);

        assert_int_equal(tecg_framing_parse(cf, sizeof(cf), &f, errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(f.kind, TECG_FRAME_CONFLUENT);
        assert_int_equal(f.schema_id, 0x80000102u);
        assert_ptr_equal(f.body, cf + 5);
        assert_int_equal(f.body_len, 1);
}

static void test_framing_write(void **state) {
        (void)state;
        tecg_buf_t b = TECG_BUF_INIT;
        tecg_frame_t f;
        static const uint8_t want[] = {0xC3, 0x01, 0xfa, 0x26, 0xe2, 0xc0, 0x3b, 0xf3,
                                       0xd5, 0x8d, 0x00, 0x00, 0x00, 0x00, 0x2a};

        assert_int_equal(tecg_framing_write_single_object(&b, UINT64_C(0x8dd5f33bc0e226fa)),
                         TECG_OK);
        assert_int_equal(tecg_framing_write_confluent(&b, 42), TECG_OK);
        assert_int_equal(b.len, sizeof(want));
        assert_memory_equal(b.data, want, sizeof(want));
        /* The Confluent header parses back (the body is the header's last
         * byte here, which is all parse needs). */
        assert_int_equal(tecg_framing_parse(b.data + 10, 5, &f, NULL, 0), TECG_ERR_INVALID);
        assert_int_equal(tecg_buf_append(&b, "\x02", 1), TECG_OK);
        assert_int_equal(tecg_framing_parse(b.data + 10, 6, &f, NULL, 0), TECG_OK);
        assert_int_equal(f.schema_id, 42);
        tecg_buf_free(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crc64_vectors),
                cmocka_unit_test(test_framing_parse_errors),
                cmocka_unit_test(test_framing_parse_ok),
                cmocka_unit_test(test_framing_write),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
