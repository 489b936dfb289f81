/* tecg-ctl schema check's resolution (tools/ctl/ctl_schema.h): the Avro
 * rules and tecg's, the field that breaks named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_schema.h"
#include "testutil.h"

#define REC(fields) \
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\",\"fields\":[" fields "]}"
#define ENUM(syms) \
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[" syms "]}}"

typedef struct {
        const char *writer, *reader;
        tecg_err_t want;
        const char *why; /* part of the reason, or NULL */
} case_t;

static void test_resolution_cases(void **state) {
        (void)state;
        static const case_t cases[] = {
                {REC("{\"name\":\"a\",\"type\":\"int\"}"),
                 REC("{\"name\":\"a\",\"type\":\"long\"}"), TECG_OK, NULL},
                {REC("{\"name\":\"a\",\"type\":\"long\"}"),
                 REC("{\"name\":\"a\",\"type\":\"int\"}"), TECG_ERR_INVALID,
                 "field a: the writer's long cannot be read as the reader's int"},
                {REC("{\"name\":\"a\",\"type\":\"int\"}"),
                 REC("{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"int\","
                     "\"default\":0}"),
                 TECG_OK, NULL},
                {REC("{\"name\":\"a\",\"type\":\"int\"}"),
                 REC("{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"int\"}"),
                 TECG_ERR_INVALID, "field b: the reader has it without a default"},
                {REC(ENUM("\"X\",\"Y\"")), REC(ENUM("\"X\",\"Y\",\"Z\"")), TECG_OK, NULL},
                {REC(ENUM("\"X\",\"Y\",\"Z\"")), REC(ENUM("\"X\",\"Y\"")), TECG_ERR_INVALID,
                 "field e: enum E: the writer's symbol Z is unknown to the reader"},
                {REC(ENUM("\"X\",\"Y\"")), REC(ENUM("\"Y\",\"X\"")), TECG_ERR_INVALID,
                 "symbol X is at position 0 in the writer and 1 in the reader"},
                {REC("{\"name\":\"u\",\"type\":[\"null\",\"string\"]}"),
                 REC("{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]}"), TECG_OK, NULL},
                {REC("{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]}"),
                 REC("{\"name\":\"u\",\"type\":[\"null\",\"string\"]}"), TECG_ERR_INVALID,
                 "field u: the writer's long matches no branch of the reader's union"},
                {REC("{\"name\":\"s\",\"type\":{\"type\":\"array\",\"items\":\"int\"}}"),
                 REC("{\"name\":\"s\",\"type\":{\"type\":\"array\",\"items\":\"string\"}}"),
                 TECG_ERR_INVALID, "field s: "},
                {REC("{\"name\":\"a\",\"type\":\"int\"}"),
                 "{\"type\":\"record\",\"name\":\"Other\",\"fields\":[]}", TECG_ERR_INVALID,
                 "R cannot be read as the reader's Other"},
                {"{\"type\":", REC("{\"name\":\"a\",\"type\":\"int\"}"), TECG_ERR_CONFIG,
                 "writer schema"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char why[512] = "";
                const case_t *c = &cases[i];
                tecg_err_t err = tecg_ctl_schema_resolve(c->writer, strlen(c->writer), c->reader,
                                                         strlen(c->reader), why, sizeof(why));
                if (err != c->want || (c->why && !strstr(why, c->why)))
                        fail_msg("case %zu: got %d \"%s\", want %d \"%s\"", i, (int)err, why,
                                 (int)c->want, c->why ? c->why : "");
        }
}

/* The built-in schemas resolve against themselves. */
static void test_builtin_schemas_resolve_against_themselves(void **state) {
        (void)state;
        const char *names[] = {"schemas/contribution.avsc", "schemas/training.avsc",
                               "schemas/nation_state.avsc"};
        for (size_t i = 0; i < 3; i++) {
                char path[1024], why[512];
                size_t len;
                snprintf(path, sizeof(path), "%s/%s", tu_source_dir(), names[i]);
                char *json = tu_slurp(path, &len);
                assert_int_equal(tecg_ctl_schema_resolve(json, len, json, len, why, sizeof(why)),
                                 TECG_OK);
                free(json);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resolution_cases),
                cmocka_unit_test(test_builtin_schemas_resolve_against_themselves),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
