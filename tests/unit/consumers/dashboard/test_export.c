/* The BI export (consumers/dashboard/export.h).
 *
 * Golden files: $TECG_TEST_DATA/export/{funding,staffing,training}.json are
 * the documents of the compose scenario (test_compose.c) as the dashboard
 * serves them (compact, with version 7 and generated_at); NAME.csv and
 * NAME.ndjson next to them are their long exports with version 7,
 * NAME.wide.csv and NAME.wide.ndjson their wide ones (byte for byte what
 * GET /api/export/NAME.{csv,ndjson} served before the long form).
 * TECG_UPDATE_GOLDEN=1 rewrites them from the output: review the diff
 * before committing. The golden long exports are also checked apart from
 * their bytes: every value a number, every measure's nation rows summing
 * to its total row, so a rewrite cannot hide a wrong sum.
 *
 * The other cases are small documents with the whole expected text in the
 * table: CSV quoting, the formula guard, flattening, child tables, empty
 * documents, the long form's rows, the BOM, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "buf.h"
#include "export.h"
#include "testutil.h"

/* The export of `json` as a NUL-terminated string (the caller frees it);
 * fails the test unless the export returns `want_err`. */
static char *export_as(const char *name, uint64_t version, const char *json,
                       tecg_export_shape_t shape, tecg_export_format_t format, bool bom,
                       tecg_err_t want_err) {
        char errstr[256] = "";
        tecg_buf_t out = TECG_BUF_INIT;
        tecg_export_opts_t opts = {shape, format, bom};
        tecg_err_t err =
                tecg_export(name, version, json, strlen(json), &opts, &out, errstr, sizeof(errstr));
        if (err != want_err)
                fail_msg("export of %s: %d (%s), expected %d", json, (int)err, errstr,
                         (int)want_err);
        assert_int_equal(tecg_buf_terminate(&out), TECG_OK);
        return out.data ? (char *)out.data : strdup("");
}

/* The wide export, as before the long form. */
static char *export_text(const char *name, uint64_t version, const char *json,
                         tecg_export_format_t format, tecg_err_t want_err) {
        return export_as(name, version, json, TECG_EXPORT_WIDE, format, false, want_err);
}

/* The long export. */
static char *export_long(const char *name, const char *json, tecg_export_format_t format) {
        return export_as(name, 7, json, TECG_EXPORT_LONG, format, false, TECG_OK);
}

/* ------------------------------------------------------------------ */
/* Golden exports of the three dashboards                              */

static void check_golden(const char *name, tecg_export_shape_t shape, tecg_export_format_t format) {
        char in_rel[64], out_path[1024];
        const char *ext = format == TECG_EXPORT_CSV ? "csv" : "ndjson";
        snprintf(in_rel, sizeof(in_rel), "export/%s.json", name);
        char *doc = tu_slurp_data(in_rel, NULL);
        char *got = export_as(name, 7, doc, shape, format, false, TECG_OK);
        snprintf(out_path, sizeof(out_path), "%s/export/%s%s.%s", tu_data_dir(), name,
                 shape == TECG_EXPORT_WIDE ? ".wide" : "", ext);
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
        check_golden("funding", TECG_EXPORT_LONG, TECG_EXPORT_CSV);
}

static void test_golden_funding_wide_csv(void **state) {
        (void)state;
        check_golden("funding", TECG_EXPORT_WIDE, TECG_EXPORT_CSV);
}

static void test_golden_funding_ndjson(void **state) {
        (void)state;
        check_golden("funding", TECG_EXPORT_LONG, TECG_EXPORT_NDJSON);
}

static void test_golden_funding_wide_ndjson(void **state) {
        (void)state;
        check_golden("funding", TECG_EXPORT_WIDE, TECG_EXPORT_NDJSON);
}

static void test_golden_staffing_csv(void **state) {
        (void)state;
        check_golden("staffing", TECG_EXPORT_LONG, TECG_EXPORT_CSV);
}

static void test_golden_staffing_wide_csv(void **state) {
        (void)state;
        check_golden("staffing", TECG_EXPORT_WIDE, TECG_EXPORT_CSV);
}

static void test_golden_staffing_ndjson(void **state) {
        (void)state;
        check_golden("staffing", TECG_EXPORT_LONG, TECG_EXPORT_NDJSON);
}

static void test_golden_staffing_wide_ndjson(void **state) {
        (void)state;
        check_golden("staffing", TECG_EXPORT_WIDE, TECG_EXPORT_NDJSON);
}

static void test_golden_training_csv(void **state) {
        (void)state;
        check_golden("training", TECG_EXPORT_LONG, TECG_EXPORT_CSV);
}

static void test_golden_training_wide_csv(void **state) {
        (void)state;
        check_golden("training", TECG_EXPORT_WIDE, TECG_EXPORT_CSV);
}

static void test_golden_training_ndjson(void **state) {
        (void)state;
        check_golden("training", TECG_EXPORT_LONG, TECG_EXPORT_NDJSON);
}

static void test_golden_training_wide_ndjson(void **state) {
        (void)state;
        check_golden("training", TECG_EXPORT_WIDE, TECG_EXPORT_NDJSON);
}

/* History in long form: dimension month, money with the document's
 * currency, the references (authorized strength, targets) without a month. */
static void test_golden_history_csv(void **state) {
        (void)state;
        check_golden("history", TECG_EXPORT_LONG, TECG_EXPORT_CSV);
}

static void test_golden_history_ndjson(void **state) {
        (void)state;
        check_golden("history", TECG_EXPORT_LONG, TECG_EXPORT_NDJSON);
}

/* Every month of the document gives its 10 measures, the references 3. */
static void test_history_rows(void **state) {
        (void)state;
        char *doc = tu_slurp_data("export/history.json", NULL);
        json_t *root = json_loads(doc, 0, NULL);
        assert_non_null(root);
        size_t months = json_array_size(json_object_get(root, "months"));
        assert_true(months >= 12);
        char *csv = export_long("history", doc, TECG_EXPORT_CSV);
        assert_int_equal(tu_count_of(csv, "\r\n"), 1 + 3 + 10 * months);
        assert_non_null(
                strstr(csv, "dashboard,version,as_of,nation,month,measure,value,currency\r\n"));
        assert_non_null(
                strstr(csv, "history,7,2005-12-01T09:00:00Z,,2005-12,strength_in_iraq,240,\r\n"));
        assert_non_null(strstr(
                csv,
                "history,7,2005-12-01T09:00:00Z,,2005-11,pledged_cumulative,2878150.00,EUR\r\n"));
        free(csv);
        json_decref(root);
        free(doc);
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
        {"formula guard: a text starting with = + - @ TAB CR gets a quote; "
         "decimal numbers and JSON numbers stay; NDJSON unguarded",
         "{\"nations\":[{\"name\":\"=1+1\",\"b\":\"+2\",\"c\":\"-3\",\"d\":\"@SUM(A1)\","
         "\"e\":\"\\tx\",\"f\":\"\\r=y\",\"g\":\"-500.00\",\"h\":-1.5,\"i\":\"-\","
         "\"j\":\"=a,b\",\"k\":\"a=b\",\"=k\":1}]}",
         "dashboard,version,as_of,table,name,b,c,d,e,f,g,h,i,j,k,'=k\r\n"
         "d,9,,nations,'=1+1,'+2,-3,'@SUM(A1),'\tx,\"'\r=y\",-500.00,-1.5,'-,\"'=a,b\",a=b,1\r\n",
         "{\"dashboard\":\"d\",\"version\":9,\"as_of\":null,\"table\":\"nations\","
         "\"name\":\"=1+1\",\"b\":\"+2\",\"c\":\"-3\",\"d\":\"@SUM(A1)\",\"e\":\"\\tx\","
         "\"f\":\"\\r=y\",\"g\":\"-500.00\",\"h\":-1.5,\"i\":\"-\",\"j\":\"=a,b\","
         "\"k\":\"a=b\",\"=k\":1}\n"},
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

/* ------------------------------------------------------------------ */
/* Long form: small documents, whole text expected                     */

#define F_AT "funding,7,2005-12-01T09:00:00Z,"
#define S_AT "staffing,7,,"
#define T_AT "training,7,,"

static const case_t long_cases[] = {
        {"funding",
         "{\"as_of\":\"2005-12-01T09:00:00Z\",\"reporting_currency\":\"EUR\","
         "\"rates\":{\"USD\":\"0.8042\"},\"missing_rates\":[\"UAH\"],"
         "\"total\":{\"nations_reported\":1,"
         "\"pledged\":{\"by_currency\":{\"USD\":\"10.00\"},\"converted\":\"8.04\","
         "\"missing_rates\":[]},"
         "\"disbursed\":{\"by_currency\":{},\"converted\":\"0.00\",\"missing_rates\":[]},"
         "\"channels\":{\"BILATERAL\":{\"pledged\":{\"by_currency\":{\"USD\":\"10.00\"},"
         "\"converted\":\"8.04\"}}},"
         "\"equipment\":{\"stages\":{\"OFFERED\":{\"quantity\":3,\"value\":{\"by_currency\":{},"
         "\"converted\":\"0.00\"}}},"
         "\"categories\":{\"VEHICLES\":{\"OFFERED\":{\"quantity\":3}}}}},"
         "\"nations\":[{\"nation\":\"=BEL\",\"reported\":false,"
         "\"pledged\":{\"by_currency\":{\"UAH\":\"1e3\",\"-EU\":\"-5.50\"},\"converted\":\"0.00\"}},"
         "{\"reported\":true},\"USA\"],\"not_reported\":[\"BEL\"]}",
         "dashboard,version,as_of,nation,channel,category,stage,measure,value,currency\r\n" F_AT
         ",,,,exchange_rate,0.8042,USD\r\n" F_AT ",,,,reported,1,\r\n" F_AT
         ",,,,pledged,10.00,USD\r\n" F_AT ",,,,pledged_converted,8.04,EUR\r\n" F_AT
         ",,,,disbursed_converted,0.00,EUR\r\n" F_AT
         ",BILATERAL,,,pledged_by_channel,10.00,USD\r\n" F_AT
         ",BILATERAL,,,pledged_by_channel_converted,8.04,EUR\r\n" F_AT
         ",,,OFFERED,equipment_quantity,3,\r\n" F_AT
         ",,,OFFERED,equipment_value_converted,0.00,EUR\r\n" F_AT
         ",,VEHICLES,OFFERED,equipment_quantity_by_category,3,\r\n" F_AT
         "'=BEL,,,,reported,0,\r\n" F_AT "'=BEL,,,,pledged,-5.50,'-EU\r\n" F_AT
         "'=BEL,,,,pledged_converted,0.00,EUR\r\n",
         NULL},
        {"staffing",
         "{\"as_of\":null,\"total\":{\"nations_reported\":1,\"in_iraq\":5,\"outside_iraq\":0,"
         "\"total\":5,\"roles\":{\"TRAINER\":{\"IN_IRAQ\":5,\"OUTSIDE_IRAQ\":0}},"
         "\"authorized_strength\":360,\"fill_rate\":0.0139,\"shortfall\":355},"
         "\"nations\":[{\"nation\":\"USA\",\"name\":\"United States\",\"status\":\"member\","
         "\"reported\":true,\"last_report\":\"2005-11-30T12:00:00Z\",\"in_iraq\":5,"
         "\"outside_iraq\":0,\"total\":5,\"roles\":{\"TRAINER\":{\"IN_IRAQ\":5,"
         "\"OUTSIDE_IRAQ\":0}}}]}",
         "dashboard,version,as_of,nation,role,location,measure,value\r\n" S_AT
         ",,,reported,1\r\n" S_AT ",,IN_IRAQ,headcount,5\r\n" S_AT
         ",,OUTSIDE_IRAQ,headcount,0\r\n" S_AT ",,,headcount_total,5\r\n" S_AT
         ",TRAINER,IN_IRAQ,headcount_by_role,5\r\n" S_AT
         ",TRAINER,OUTSIDE_IRAQ,headcount_by_role,0\r\n" S_AT ",,,authorized_strength,360\r\n" S_AT
         ",,,fill_rate,0.0139\r\n" S_AT ",,,shortfall,355\r\n" S_AT "USA,,,reported,1\r\n" S_AT
         "USA,,IN_IRAQ,headcount,5\r\n" S_AT "USA,,OUTSIDE_IRAQ,headcount,0\r\n" S_AT
         "USA,,,headcount_total,5\r\n" S_AT "USA,TRAINER,IN_IRAQ,headcount_by_role,5\r\n" S_AT
         "USA,TRAINER,OUTSIDE_IRAQ,headcount_by_role,0\r\n",
         NULL},
        {"staffing",
         "{\"total\":{\"nations_reported\":0,\"authorized_strength\":0,\"fill_rate\":null}}",
         "dashboard,version,as_of,nation,role,location,measure,value\r\n" S_AT
         ",,,reported,0\r\n" S_AT ",,,authorized_strength,0\r\n",
         "{\"dashboard\":\"staffing\",\"version\":7,\"as_of\":null,\"nation\":null,"
         "\"role\":null,\"location\":null,\"measure\":\"reported\",\"value\":0}\n"
         "{\"dashboard\":\"staffing\",\"version\":7,\"as_of\":null,\"nation\":null,"
         "\"role\":null,\"location\":null,\"measure\":\"authorized_strength\",\"value\":0}\n"},
        {"training",
         "{\"targets\":{\"in_iraq\":1000,\"outside_iraq\":500},"
         "\"years\":[{\"year\":2005,\"trainees\":10,\"nations_providing\":1,"
         "\"in_iraq\":{\"trainees\":10,\"target\":1000,\"progress\":0.01,"
         "\"levels\":{\"SENIOR\":10}},\"outside_iraq\":{\"trainees\":0,\"target\":500,"
         "\"progress\":0.0,\"levels\":{}}}],"
         "\"nations\":[{\"year\":2005,\"nation\":\"USA\",\"trainees\":10,"
         "\"in_iraq\":{\"trainees\":10,\"levels\":{\"SENIOR\":10}}}]}",
         "dashboard,version,as_of,nation,year,location,level,measure,value\r\n" T_AT
         ",,IN_IRAQ,,target,1000\r\n" T_AT ",,OUTSIDE_IRAQ,,target,500\r\n" T_AT
         ",2005,,,trainees,10\r\n" T_AT ",2005,,,nations_providing,1\r\n" T_AT
         ",2005,IN_IRAQ,,trainees_by_location,10\r\n" T_AT ",2005,IN_IRAQ,,target,1000\r\n" T_AT
         ",2005,IN_IRAQ,,progress,0.01\r\n" T_AT
         ",2005,IN_IRAQ,SENIOR,trainees_by_level,10\r\n" T_AT
         ",2005,OUTSIDE_IRAQ,,trainees_by_location,0\r\n" T_AT
         ",2005,OUTSIDE_IRAQ,,target,500\r\n" T_AT ",2005,OUTSIDE_IRAQ,,progress,0.0\r\n" T_AT
         "USA,2005,,,trainees,10\r\n" T_AT "USA,2005,IN_IRAQ,,trainees_by_location,10\r\n" T_AT
         "USA,2005,IN_IRAQ,SENIOR,trainees_by_level,10\r\n",
         NULL},
        {"training", "{}", "dashboard,version,as_of,nation,year,location,level,measure,value\r\n",
         ""},
        {"staffing",
         "{\"total\":{\"nations_reported\":\"0500\",\"in_iraq\":\"-0\",\"outside_iraq\":\"12.\","
         "\"total\":\"1e3\",\"shortfall\":\"-12.50\",\"fill_rate\":[1]}}",
         "dashboard,version,as_of,nation,role,location,measure,value\r\n" S_AT
         ",,IN_IRAQ,headcount,-0\r\n" S_AT ",,,shortfall,-12.50\r\n",
         "{\"dashboard\":\"staffing\",\"version\":7,\"as_of\":null,\"nation\":null,"
         "\"role\":null,\"location\":\"IN_IRAQ\",\"measure\":\"headcount\",\"value\":-0}\n"
         "{\"dashboard\":\"staffing\",\"version\":7,\"as_of\":null,\"nation\":null,"
         "\"role\":null,\"location\":null,\"measure\":\"shortfall\",\"value\":-12.50}\n"},
};

/* The long form's columns, rows, order and numbers (a string is a value
 * only when spelled as a JSON number: not "0500", "12.", "1e3"); NDJSON
 * where given (else only its line count against the CSV's). */
static void test_long_cases(void **state) {
        (void)state;
        for (size_t i = 0; i < sizeof(long_cases) / sizeof(long_cases[0]); i++) {
                const case_t *c = &long_cases[i];
                char *csv = export_long(c->what, c->json, TECG_EXPORT_CSV);
                char *nd = export_long(c->what, c->json, TECG_EXPORT_NDJSON);
                if (strcmp(csv, c->csv) != 0)
                        fail_msg("%s #%zu: CSV\n%s\nexpected\n%s", c->what, i, csv, c->csv);
                if (c->ndjson && strcmp(nd, c->ndjson) != 0)
                        fail_msg("%s #%zu: NDJSON\n%s\nexpected\n%s", c->what, i, nd, c->ndjson);
                assert_int_equal(tu_count_of(nd, "\n"), tu_count_of(csv, "\r\n") - 1);
                free(csv);
                free(nd);
        }
}

/* NDJSON of the long form: every column on every line, null when empty,
 * the value a JSON number with the CSV's digits, no formula guard. */
static void test_long_ndjson(void **state) {
        (void)state;
        char *nd = export_long("funding", long_cases[0].json, TECG_EXPORT_NDJSON);
        tu_assert_contains(
                nd,
                "{\"dashboard\":\"funding\",\"version\":7,\"as_of\":\"2005-12-01T09:00:00Z\","
                "\"nation\":null,\"channel\":null,\"category\":null,\"stage\":null,"
                "\"measure\":\"exchange_rate\",\"value\":0.8042,\"currency\":\"USD\"}\n",
                "\"nation\":\"=BEL\",\"channel\":null,\"category\":null,\"stage\":null,"
                "\"measure\":\"pledged\",\"value\":-5.50,\"currency\":\"-EU\"}\n",
                "\"channel\":\"BILATERAL\",\"category\":null,\"stage\":null,"
                "\"measure\":\"pledged_by_channel_converted\",\"value\":8.04,"
                "\"currency\":\"EUR\"}\n");
        free(nd);
        /* A year is a number, as in the document. */
        nd = export_long("training", long_cases[3].json, TECG_EXPORT_NDJSON);
        tu_assert_contains(nd,
                           "{\"dashboard\":\"training\",\"version\":7,\"as_of\":null,"
                           "\"nation\":\"USA\",\"year\":2005,\"location\":\"IN_IRAQ\","
                           "\"level\":\"SENIOR\",\"measure\":\"trainees_by_level\",\"value\":10}\n",
                           "\"year\":null,\"location\":\"OUTSIDE_IRAQ\",\"level\":null,"
                           "\"measure\":\"target\",\"value\":500}\n");
        free(nd);
}

/* A dashboard without a long form: TECG_ERR_NOT_FOUND, nothing written;
 * its wide form exports. */
static void test_long_unknown(void **state) {
        (void)state;
        char errstr[128] = "";
        tecg_buf_t out = TECG_BUF_INIT;
        tecg_export_opts_t opts = {TECG_EXPORT_LONG, TECG_EXPORT_CSV, true};
        const char *doc = "{\"months\":[{\"month\":\"2005-01\",\"n\":1}]}";
        assert_int_equal(
                tecg_export("nation", 1, doc, strlen(doc), &opts, &out, errstr, sizeof(errstr)),
                TECG_ERR_NOT_FOUND);
        assert_string_equal(errstr, "nation: no long form (its wide form exports it)");
        assert_int_equal(out.len, 0);
        assert_false(tecg_export_has_long_form("nation"));
        assert_true(tecg_export_has_long_form("history"));
        assert_true(tecg_export_has_long_form("funding"));
        assert_true(tecg_export_has_long_form("staffing"));
        assert_true(tecg_export_has_long_form("training"));
        char *wide = export_as("nation", 1, doc, TECG_EXPORT_WIDE, TECG_EXPORT_CSV, false, TECG_OK);
        assert_string_equal(wide, "dashboard,version,as_of,table,month,n\r\n"
                                  "nation,1,,months,2005-01,1\r\n");
        free(wide);
}

/* ?bom=1: EF BB BF before the CSV (long and wide), the rest unchanged;
 * never before NDJSON. */
static void test_bom(void **state) {
        (void)state;
        const char *doc = long_cases[2].json;
        for (int shape = TECG_EXPORT_LONG; shape <= TECG_EXPORT_WIDE; shape++) {
                char *plain = export_as("staffing", 7, doc, (tecg_export_shape_t)shape,
                                        TECG_EXPORT_CSV, false, TECG_OK);
                char *bom = export_as("staffing", 7, doc, (tecg_export_shape_t)shape,
                                      TECG_EXPORT_CSV, true, TECG_OK);
                char *nd = export_as("staffing", 7, doc, (tecg_export_shape_t)shape,
                                     TECG_EXPORT_NDJSON, true, TECG_OK);
                char *nd_plain = export_as("staffing", 7, doc, (tecg_export_shape_t)shape,
                                           TECG_EXPORT_NDJSON, false, TECG_OK);
                assert_memory_equal(bom, "\xEF\xBB\xBF", 3);
                assert_string_equal(bom + 3, plain);
                assert_int_not_equal((unsigned char)plain[0], 0xEF);
                assert_string_equal(nd, nd_plain);
                assert_int_equal(nd[0], '{');
                free(plain);
                free(bom);
                free(nd);
                free(nd_plain);
        }
}

/* The export reads only len bytes: a document that is not NUL-terminated
 * (the docstore's bytes are, a fuzzer's are not) exports the same. */
static void test_length_bounded(void **state) {
        (void)state;
        const char *json = "{\"nations\":[{\"a\":1}]}GARBAGE";
        size_t len = strlen("{\"nations\":[{\"a\":1}]}");
        char errstr[64];
        tecg_buf_t out = TECG_BUF_INIT;
        tecg_export_opts_t opts = {TECG_EXPORT_WIDE, TECG_EXPORT_CSV, false};
        assert_int_equal(tecg_export("d", 1, json, len, &opts, &out, errstr, sizeof(errstr)),
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
                for (int f = 0; f < 4; f++) {
                        char errstr[128] = "";
                        tecg_buf_t out = TECG_BUF_INIT;
                        tecg_export_opts_t opts = {f < 2 ? TECG_EXPORT_LONG : TECG_EXPORT_WIDE,
                                                   f % 2 ? TECG_EXPORT_NDJSON : TECG_EXPORT_CSV,
                                                   true};
                        tecg_err_t err = tecg_export("funding", 1, bad[i], strlen(bad[i]), &opts,
                                                     &out, errstr, sizeof(errstr));
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
                cmocka_unit_test(test_golden_funding_wide_csv),
                cmocka_unit_test(test_golden_funding_ndjson),
                cmocka_unit_test(test_golden_funding_wide_ndjson),
                cmocka_unit_test(test_golden_staffing_csv),
                cmocka_unit_test(test_golden_staffing_wide_csv),
                cmocka_unit_test(test_golden_staffing_ndjson),
                cmocka_unit_test(test_golden_staffing_wide_ndjson),
                cmocka_unit_test(test_golden_training_csv),
                cmocka_unit_test(test_golden_training_wide_csv),
                cmocka_unit_test(test_golden_training_ndjson),
                cmocka_unit_test(test_golden_training_wide_ndjson),
                cmocka_unit_test(test_golden_history_csv),
                cmocka_unit_test(test_golden_history_ndjson),
                cmocka_unit_test(test_history_rows),
                cmocka_unit_test(test_golden_shape),
                cmocka_unit_test(test_cases),
                cmocka_unit_test(test_long_cases),
                cmocka_unit_test(test_long_ndjson),
                cmocka_unit_test(test_long_unknown),
                cmocka_unit_test(test_bom),
                cmocka_unit_test(test_length_bounded),
                cmocka_unit_test(test_not_an_object),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
