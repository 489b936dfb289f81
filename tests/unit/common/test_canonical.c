/* Parsing Canonical Form and schema fingerprints (docs/design.md §3).
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
#include <jansson.h>

#include "canonical.h"
#include "framing.h"
#include "schemas.h"
#include "testutil.h"

static const tecg_schema_source_t *source(const char *name) {
        for (size_t i = 0; i < tecg_schema_source_count; i++)
                if (strcmp(tecg_schema_sources[i].name, name) == 0)
                        return &tecg_schema_sources[i];
        fail_msg("schema %s is not built in", name);
        return NULL;
}

/* The canonical form of schema is want_pcf and its fingerprint, spelled as
 * fastavro does, is want_fp. */
static void assert_pcf(const char *schema, size_t len, const char *want_pcf, const char *want_fp) {
        char errstr[256], hex[17], *pcf = NULL;
        assert_int_equal(tecg_canonical_form(schema, len, &pcf, errstr, sizeof(errstr)), TECG_OK);
        assert_string_equal(pcf, want_pcf);
        tecg_framing_fingerprint_hex(tecg_crc64_avro(pcf, strlen(pcf)), hex);
        assert_string_equal(hex, want_fp);
        free(pcf);
}

/* "<schema> <fingerprint hex>", the canonical form in avro/<schema>.pcf */
static void check_project_schema(char *line) {
        char name[64], want_fp[17], rel[128];
        assert_int_equal(sscanf(line, "%63s %16s", name, want_fp), 2);
        const tecg_schema_source_t *src = source(name);
        snprintf(rel, sizeof(rel), "avro/%s.pcf", name);
        char *want = tu_slurp_data(rel, NULL);
        assert_pcf(src->json, src->len, want, want_fp);
        /* The values fixed in the brief, as fastavro prints them: the
         * previous writers keep theirs (messages on the topics carry them). */
        if (strcmp(name, "contribution_v1") == 0)
                assert_string_equal(want_fp, "fa26e2c03bf3d58d");
        else if (strcmp(name, "training_v1") == 0)
                assert_string_equal(want_fp, "db65c399a8188022");
        else if (strcmp(name, "contribution") == 0)
                assert_string_equal(want_fp, "3b866841c306725a");
        else if (strcmp(name, "training") == 0)
                assert_string_equal(want_fp, "8fd75df3db8a7cf1");
        else
                assert_string_equal(want_fp, "9be114fae2f6a42d");
        free(want);
}

static void test_pcf_project_schemas(void **state) {
        (void)state;
        assert_int_equal(tu_each_data_line("avro/fingerprints.txt", check_project_schema), 5);
}

/* {"schema", "pcf", "fingerprint"} */
static void check_pcf_case(char *line) {
        json_error_t jerr;
        json_t *c = json_loads(line, 0, &jerr);
        assert_non_null(c);
        const char *schema = json_string_value(json_object_get(c, "schema"));
        assert_non_null(schema);
        assert_pcf(schema, strlen(schema), json_string_value(json_object_get(c, "pcf")),
                   json_string_value(json_object_get(c, "fingerprint")));
        json_decref(c);
}

static void test_pcf_cases(void **state) {
        (void)state;
        assert_true(tu_each_data_line("avro/pcf_cases.ndjson", check_pcf_case) >= 9);
}

/* Rules fastavro cannot check for us, and refusals. */
static void test_pcf_edges(void **state) {
        (void)state;
        static const struct {
                const char *schema, *pcf;
        } ok[] = {
                /* "namespace": "" is the null namespace (spec, Java);
                 * fastavro 1.13 keeps the enclosing one. */
                {"{\"type\":\"record\",\"name\":\"O\",\"namespace\":\"a\","
                 "\"fields\":[{\"name\":\"t\",\"type\":{\"type\":\"record\","
                 "\"name\":\"T\",\"namespace\":\"\",\"fields\":[]}},"
                 "{\"name\":\"u\",\"type\":\"T\"}]}",
                 "{\"name\":\"a.O\",\"type\":\"record\",\"fields\":[{\"name\":"
                 "\"t\",\"type\":{\"name\":\"T\",\"type\":\"record\",\"fields\""
                 ":[]}},{\"name\":\"u\",\"type\":\"T\"}]}"},
                /* STRINGS: escapes become UTF-8; "/" stays unescaped. */
                {"{\"type\":\"enum\",\"name\":\"E\",\"doc\":\"a\\/b\","
                 "\"symbols\":[\"\\u0041\"]}",
                 "{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"A\"]}"},
                /* whitespace everywhere */
                {" { \"type\" : \"map\" ,\n \"values\" : [ \"null\" , \"int\" ] } ",
                 "{\"type\":\"map\",\"values\":[\"null\",\"int\"]}"},
        };
        static const struct {
                const char *schema, *reason;
        } bad[] = {
                {"{\"type\":", "schema is not JSON: line 1: "},
                {"\"Nope\"", "unknown type name \"Nope\""},
                {"{\"name\":\"x\"}", "schema object without a \"type\""},
                {"{\"type\":\"record\",\"fields\":[]}", "record without a name"},
                {"{\"type\":\"record\",\"name\":\"R\"}", "record R: \"fields\" is not an array"},
                {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":\"16\"}",
                 "fixed F: \"size\" is not an integer"},
                {"42", "a number, boolean or null where a schema was expected"},
        };
        char errstr[256], *pcf;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                assert_int_equal(tecg_canonical_form(ok[i].schema, strlen(ok[i].schema), &pcf,
                                                     errstr, sizeof(errstr)),
                                 TECG_OK);
                assert_string_equal(pcf, ok[i].pcf);
                free(pcf);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                pcf = (char *)"untouched";
                assert_int_equal(tecg_canonical_form(bad[i].schema, strlen(bad[i].schema), &pcf,
                                                     errstr, sizeof(errstr)),
                                 TECG_ERR_INVALID);
                assert_null(pcf);
                assert_memory_equal(errstr, bad[i].reason, strlen(bad[i].reason));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pcf_project_schemas),
                cmocka_unit_test(test_pcf_cases),
                cmocka_unit_test(test_pcf_edges),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
