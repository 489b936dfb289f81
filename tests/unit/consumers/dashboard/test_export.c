/* The BI export (consumers/dashboard/export.h).
 *
 * Golden files: $TECG_TEST_DATA/export/{funding,staffing,training}.json are
 * the documents of the compose scenario (test_compose.c) as the dashboard
 * serves them (compact, with version 7 and generated_at); the .csv and
 * .ndjson next to them are their exports with version 7, byte for byte
 * what GET /api/export/NAME.{csv,ndjson} served before the export moved
 * out of http_server.c. TECG_UPDATE_GOLDEN=1 rewrites them from the
 * output: review the diff before committing.
 *
 * The other cases are small documents with the whole expected text in the
 * table: CSV quoting, flattening, child tables, empty documents, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "export.h"
#include "testutil.h"

/* The export of `json` as a NUL-terminated string (the caller frees it);
 * fails the test unless the export returns `want_err`. */
static char *export_text(const char *name, uint64_t version, const char *json,
                         tecg_export_format_t format, tecg_err_t want_err) {
        char errstr[256] = "";
        tecg_buf_t out = TECG_BUF_INIT;
        tecg_err_t err = tecg_export(name, version, json, strlen(json), format, &out, errstr,
                                     sizeof(errstr));
        if (err != want_err)
                fail_msg("export of %s: %d (%s), expected %d", json, (int)err, errstr,
                         (int)want_err);
        assert_int_equal(tecg_buf_terminate(&out), TECG_OK);
        return out.data ? (char *)out.data : strdup("");
}

/* ------------------------------------------------------------------ */
/* Golden exports of the three dashboards                              */

static void check_golden(const char *name, tecg_export_format_t format) {
        char in_rel[64], out_path[1024];
        const char *ext = format == TECG_EXPORT_CSV ? "csv" : "ndjson";
        snprintf(in_rel, sizeof(in_rel), "export/%s.json", name);
        char *doc = tu_slurp_data(in_rel, NULL);
        char *got = export_text(name, 7, doc, format, TECG_OK);
        snprintf(out_path, sizeof(out_path), "%s/export/%s.%s", tu_data_dir(), name, ext);
        if (tu_update_golden()) {
                FILE *f = fopen(out_path, "wb");
                assert_non_null(f);
                fputs(got, f);
                fclose(f);
                print_message("rewrote %s\n", out_path);
        } else {
                char *want = tu_slurp(out_path, NULL);
                if (strcmp(got, want) != 0) {
                        size_t i = 0, line = 1;
                        while (got[i] && got[i] == want[i])
                                line += got[i++] == '\n';
                        fail_msg("%s differs from the output at line %zu", out_path, line);
                }
                free(want);
        }
        free(got);
        free(doc);
}

static void test_golden_funding_csv(void **state) {
        (void)state;
        check_golden("funding", TECG_EXPORT_CSV);
}

static void test_golden_funding_ndjson(void **state) {
        (void)state;
        check_golden("funding", TECG_EXPORT_NDJSON);
}

static void test_golden_staffing_csv(void **state) {
        (void)state;
        check_golden("staffing", TECG_EXPORT_CSV);
}

static void test_golden_staffing_ndjson(void **state) {
        (void)state;
        check_golden("staffing", TECG_EXPORT_NDJSON);
}

static void test_golden_training_csv(void **state) {
        (void)state;
        check_golden("training", TECG_EXPORT_CSV);
}

static void test_golden_training_ndjson(void **state) {
        (void)state;
        check_golden("training", TECG_EXPORT_NDJSON);
}

/* The golden CSV has as many rows as the document has nations plus its
 * one-object tables, each with as many fields as the header: checked
 * independently of the golden bytes, so a rewrite cannot hide a lost row. */
static void test_golden_shape(void **state) {
        (void)state;
        char *doc = tu_slurp_data("export/staffing.json", NULL);
        char *csv = export_text("staffing", 7, doc, TECG_EXPORT_CSV, TECG_OK);
        /* staffing: "total" and one row per nation (BEL CAN DNK GBR ISL JPN
         * NOR UKR USA, JPN unlisted) = 10 rows + the header. */
        assert_int_equal(tu_count_of(csv, "\r\n"), 11);
        assert_int_equal(tu_count_of(csv, "\r\nstaffing,7,2005-12-01T09:00:00Z,nations,"), 9);
        assert_int_equal(tu_count_of(csv, "\r\nstaffing,7,2005-12-01T09:00:00Z,total,"), 1);
        assert_non_null(strstr(csv, ",JPN,,unlisted,"));
        free(csv);
        free(doc);
}

/* ------------------------------------------------------------------ */
/* Small documents, whole text expected                                */

typedef struct {
        const char *what;
        const char *json;
        const char *csv;
        const char *ndjson;
} case_t;

static const case_t cases[] = {
        {"an empty object: the header alone, no NDJSON line", "{}",
         "dashboard,version,as_of,table\r\n", ""},
        {"only meta keys and scalars: no rows",
         "{\"dashboard\":\"d\",\"version\":3,\"generated_at\":\"x\","
         "\"as_of\":\"2005-01-01T00:00:00Z\",\"currency\":\"EUR\",\"codes\":[\"A\",\"B\"]}",
         "dashboard,version,as_of,table\r\n", ""},
        {"an empty table: no rows", "{\"nations\":[],\"not_reported\":[]}",
         "dashboard,version,as_of,table\r\n", ""},
        {"quoting: comma, quote, CR, LF; plain fields bare",
         "{\"nations\":[{\"a\":\"x,y\",\"b\":\"say \\\"hi\\\"\",\"c\":\"l1\\nl2\","
         "\"d\":\"r\\rs\",\"e\":\"plain\"}]}",
         "dashboard,version,as_of,table,a,b,c,d,e\r\n"
         "d,9,,nations,\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\",\"r\rs\",plain\r\n",
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"nations\","
         "\"a\":\"x,y\",\"b\":\"say \\\"hi\\\"\",\"c\":\"l1\\nl2\",\"d\":\"r\\rs\","
         "\"e\":\"plain\"}\n"},
        {"no formula guard: a leading = + - @ is written as it is",
         "{\"nations\":[{\"name\":\"=1+1\",\"b\":\"+2\",\"c\":\"-3\",\"d\":\"@SUM(A1)\"}]}",
         "dashboard,version,as_of,table,name,b,c,d\r\n"
         "d,9,,nations,=1+1,+2,-3,@SUM(A1)\r\n",
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"nations\","
         "\"name\":\"=1+1\",\"b\":\"+2\",\"c\":\"-3\",\"d\":\"@SUM(A1)\"}\n"},
        {"nulls and missing members empty; header in first-seen order",
         "{\"as_of\":\"2005-12-01T09:00:00Z\",\"nations\":[{\"a\":1,\"b\":null},"
         "{\"c\":true,\"a\":2.5}]}",
         "dashboard,version,as_of,table,a,b,c\r\n"
         "d,9,2005-12-01T09:00:00Z,nations,1,,\r\n"
         "d,9,2005-12-01T09:00:00Z,nations,2.5,,true\r\n",
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":\"2005-12-01T09:00:00Z\","
         "\"table\":\"nations\",\"a\":1,\"b\":null}\n"
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":\"2005-12-01T09:00:00Z\","
         "\"table\":\"nations\",\"c\":true,\"a\":2.5}\n"},
        {"nested objects dotted; arrays of scalars as JSON text (quoted)",
         "{\"total\":{\"pledged\":{\"by_currency\":{\"EUR\":\"1.00\"},"
         "\"missing_rates\":[\"UAH\",\"XYZ\"]},\"n\":0.8333}}",
         "dashboard,version,as_of,table,pledged.by_currency.EUR,"
         "pledged.missing_rates,n\r\n"
         "d,9,,total,1.00,\"[\"\"UAH\"\",\"\"XYZ\"\"]\",0.8333\r\n",
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"total\","
         "\"pledged.by_currency.EUR\":\"1.00\",\"pledged.missing_rates\":[\"UAH\",\"XYZ\"],"
         "\"n\":0.8333}\n"},
        {"child tables follow the parents, with parent.* scalars",
         "{\"years\":[{\"year\":2005,\"by_nation\":[{\"nation\":\"BEL\",\"n\":1},"
         "{\"nation\":\"USA\",\"n\":2}]}]}",
         "dashboard,version,as_of,table,year,parent.year,nation,n\r\n"
         "d,9,,years,2005,,,\r\n"
         "d,9,,years.by_nation,,2005,BEL,1\r\n"
         "d,9,,years.by_nation,,2005,USA,2\r\n",
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"years\",\"year\":2005}\n"
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"years.by_nation\","
         "\"parent.year\":2005,\"nation\":\"BEL\",\"n\":1}\n"
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"years.by_nation\","
         "\"parent.year\":2005,\"nation\":\"USA\",\"n\":2}\n"},
        {"an object holding only tables gives no row of its own",
         "{\"groups\":{\"rows\":[{\"x\":1}]}}",
         "dashboard,version,as_of,table,x\r\n"
         "d,9,,groups.rows,1\r\n",
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"groups.rows\","
         "\"x\":1}\n"},
        {"an empty array is a value, not a table; an object with a table and a value",
         "{\"as_of\":null,\"o\":{\"t\":[{\"k\":\"v\"}],\"u\":[]},\"e\":[]}",
         "dashboard,version,as_of,table,u,k\r\n"
         "d,9,,o,[],\r\n"
         "d,9,,o.t,,v\r\n",
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"o\",\"u\":[]}\n"
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"o.t\",\"k\":\"v\"}\n"},
        {"the four fixed names win over members of the same name",
         "{\"dashboard\":\"ignored\",\"version\":1,\"nations\":[{\"dashboard\":\"no\","
         "\"version\":2,\"table\":\"no\",\"as_of\":\"no\",\"k\":\"yes\"}]}",
         "dashboard,version,as_of,table,k\r\n"
         "d,9,,nations,yes\r\n",
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"nations\","
         "\"k\":\"yes\"}\n"},
};

static void test_cases(void **state) {
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const case_t *c = &cases[i];
                char *csv = export_text("d", 9, c->json, TECG_EXPORT_CSV, TECG_OK);
                char *nd = export_text("d", 9, c->json, TECG_EXPORT_NDJSON, TECG_OK);
                if (strcmp(csv, c->csv) != 0)
                        fail_msg("%s: CSV\n%s\nexpected\n%s", c->what, csv, c->csv);
                if (strcmp(nd, c->ndjson) != 0)
                        fail_msg("%s: NDJSON\n%s\nexpected\n%s", c->what, nd, c->ndjson);
                free(csv);
                free(nd);
        }
}

/* The two wrappers are the dispatcher with their format. */
static void test_wrappers(void **state) {
        (void)state;
        const char *json = cases[3].json;
        char errstr[64];
        tecg_buf_t out = TECG_BUF_INIT;
        assert_int_equal(tecg_export_csv("d", 9, json, strlen(json), &out, errstr, sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(tecg_buf_terminate(&out), TECG_OK);
        assert_string_equal(out.data, cases[3].csv);
        tecg_buf_reset(&out);
        assert_int_equal(
                tecg_export_ndjson("d", 9, json, strlen(json), &out, errstr, sizeof(errstr)),
                TECG_OK);
        assert_int_equal(tecg_buf_terminate(&out), TECG_OK);
        assert_string_equal(out.data, cases[3].ndjson);
        tecg_buf_free(&out);
}

/* The export reads only len bytes: a document that is not NUL-terminated
 * (the docstore's bytes are, a fuzzer's are not) exports the same. */
static void test_length_bounded(void **state) {
        (void)state;
        const char *json = "{\"nations\":[{\"a\":1}]}GARBAGE";
        size_t len = strlen("{\"nations\":[{\"a\":1}]}");
        char errstr[64];
        tecg_buf_t out = TECG_BUF_INIT;
        assert_int_equal(
                tecg_export("d", 1, json, len, TECG_EXPORT_CSV, &out, errstr, sizeof(errstr)),
                TECG_OK);
        assert_int_equal(tecg_buf_terminate(&out), TECG_OK);
        assert_string_equal(out.data, "dashboard,version,as_of,table,a\r\nd,1,,nations,1\r\n");
        tecg_buf_free(&out);
}

/* Not a JSON object: TECG_ERR_INVALID naming the dashboard. */
static void test_not_an_object(void **state) {
        (void)state;
        static const char *const bad[] = {"[]",   "[{\"a\":1}]", "42", "\"s\"",
                                          "null", "{",           "",   "{\"a\":1} x"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                for (int f = TECG_EXPORT_CSV; f <= TECG_EXPORT_NDJSON; f++) {
                        char errstr[128] = "";
                        tecg_buf_t out = TECG_BUF_INIT;
                        tecg_err_t err =
                                tecg_export("funding", 1, bad[i], strlen(bad[i]),
                                            (tecg_export_format_t)f, &out, errstr, sizeof(errstr));
                        if (err != TECG_ERR_INVALID)
                                fail_msg("'%s': %d, expected TECG_ERR_INVALID", bad[i], (int)err);
                        assert_string_equal(errstr, "funding: not a JSON object");
                        assert_int_equal(out.len, 0);
                        tecg_buf_free(&out);
                }
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden_funding_csv),
                cmocka_unit_test(test_golden_funding_ndjson),
                cmocka_unit_test(test_golden_staffing_csv),
                cmocka_unit_test(test_golden_staffing_ndjson),
                cmocka_unit_test(test_golden_training_csv),
                cmocka_unit_test(test_golden_training_ndjson),
                cmocka_unit_test(test_golden_shape),
                cmocka_unit_test(test_cases),
                cmocka_unit_test(test_wrappers),
                cmocka_unit_test(test_length_bounded),
                cmocka_unit_test(test_not_an_object),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
