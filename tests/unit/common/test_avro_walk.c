/* The walk of untrusted Avro bodies (avro_walk.c), on a small schema with
 * every kind of length prefix and index the tecg schemas have: each bad
 * body is refused with the reason, field path and byte the header promises,
 * before Avro-C would have allocated or indexed anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <avro.h>
#include <cmocka.h>

#include "avro_walk.h"
#include "testutil.h"

static const char schema_json[] =
        "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
        "{\"name\":\"s\",\"type\":\"string\"},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}},"
        "{\"name\":\"u\",\"type\":[\"null\",\"long\"]},"
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"int\"}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"}}]}";

typedef struct {
        avro_schema_t schema;
        tecg_avro_walk_t *walk;
} fixture_t;

static int setup(void **state) {
        static fixture_t fx;
        assert_int_equal(
                avro_schema_from_json_length(schema_json, sizeof(schema_json) - 1, &fx.schema), 0);
        fx.walk = tecg_avro_walk_new(fx.schema);
        assert_non_null(fx.walk);
        *state = &fx;
        return 0;
}

static int teardown(void **state) {
        fixture_t *fx = *state;
        tecg_avro_walk_destroy(fx->walk);
        avro_schema_decref(fx->schema);
        return 0;
}

typedef struct {
        const char *name;
        const uint8_t *body;
        size_t len;
        const char *reason; /* "" = accepted */
} walk_case_t;

#define BODY(name, reason, ...) \
        { name, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), reason }

/* s = "hi", e = B, u = 5L, a = [1, 2], m = {} */
#define VALID 0x04, 'h', 'i', 0x02, 0x02, 0x0a, 0x04, 0x02, 0x04, 0x00, 0x00

static void test_bodies(void **state) {
        fixture_t *fx = *state;
        const walk_case_t cases[] = {
                BODY("valid", "", VALID),
                BODY("null branch, empty string, empty array", "", 0x00, 0x00, 0x00, 0x00, 0x00),
                BODY("array block with byte size", "", 0x00, 0x00, 0x00, 0x01, 0x02, 0x02, 0x00,
                     0x00),
                BODY("map with one entry", "", 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 'k', 0x02, 'v',
                     0x00),
                BODY("trailing byte",
                     "body longer than its schema: 1 trailing bytes (body byte 11)", VALID, 0x00),
                BODY("truncated", "body ends inside a varint (field m, body byte 10)", 0x04, 'h',
                     'i', 0x02, 0x02, 0x0a, 0x04, 0x02, 0x04, 0x00),
                BODY("string longer than the body",
                     "string length 63 exceeds the 2 bytes left (field s, body byte 0)", 0x7e, 'h',
                     'i'),
                BODY("string length 2^62",
                     "string length 4611686018427387904 exceeds the 0 bytes left (field s, body byte 0)",
                     0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
                BODY("negative string length", "negative string length -1 (field s, body byte 0)",
                     0x01, 0x00, 0x00, 0x00, 0x00, 0x00),
                BODY("string not UTF-8", "string is not valid UTF-8 (field s, body byte 0)", 0x04,
                     0xc3, 0x28, 0x00, 0x00, 0x00, 0x00),
                BODY("enum index past the symbols",
                     "enum index 3 out of range (3 symbols) (field e, body byte 1)", 0x00, 0x06,
                     0x00, 0x00, 0x00),
                BODY("negative enum index",
                     "enum index -1 out of range (3 symbols) (field e, body byte 1)", 0x00, 0x01,
                     0x00, 0x00, 0x00),
                BODY("union branch past the branches",
                     "union branch index 2 out of range (2 branches) (field u, body byte 2)", 0x00,
                     0x00, 0x04, 0x00, 0x00),
                BODY("varint longer than a long",
                     "varint does not fit 64 bits (field u, body byte 3)", 0x00, 0x00, 0x02, 0xff,
                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00),
                BODY("int that does not fit 32 bits",
                     "varint does not fit 32 bits (field a, body byte 4)", 0x00, 0x00, 0x00, 0x02,
                     0xff, 0xff, 0xff, 0xff, 0x1f, 0x00, 0x00),
                BODY("array count past the body",
                     "array block count 32767 exceeds what the 7-byte body can hold (field a, body byte 3)",
                     0x00, 0x00, 0x00, 0xfe, 0xff, 0x03, 0x00),
                BODY("array block byte size past the body",
                     "array block size 63 does not fit the 3 bytes left (field a, body byte 3)",
                     0x00, 0x00, 0x00, 0x01, 0x7e, 0x02, 0x00, 0x00),
                {"empty body", (const uint8_t *)"", 0,
                 "body ends inside a varint (field s, body byte 0)"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char reason[256] = "";
                tecg_err_t err = tecg_avro_walk_body(fx->walk, cases[i].body, cases[i].len, reason,
                                                     sizeof(reason));
                if (cases[i].reason[0] == '\0') {
                        if (err != TECG_OK)
                                fail_msg("%s: refused: %s", cases[i].name, reason);
                        continue;
                }
                if (err != TECG_ERR_INVALID || strcmp(reason, cases[i].reason) != 0)
                        fail_msg("%s: got %d \"%s\", want \"%s\"", cases[i].name, err, reason,
                                 cases[i].reason);
        }
}

/* A short errstr is cut, never overrun; NULL errstr only returns the code. */
static void test_short_errstr(void **state) {
        fixture_t *fx = *state;
        static const uint8_t bad[] = {0x00, 0x06, 0x00, 0x00, 0x00};
        char reason[12];
        memset(reason, 'x', sizeof(reason));
        assert_int_equal(tecg_avro_walk_body(fx->walk, bad, sizeof(bad), reason, 8),
                         TECG_ERR_INVALID);
        assert_int_equal(strlen(reason), 7);
        assert_int_equal(reason[8], 'x');
        assert_int_equal(tecg_avro_walk_body(fx->walk, bad, sizeof(bad), NULL, 0),
                         TECG_ERR_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_bodies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_short_errstr, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
