/* Reference data tests: nations CSV parsing (file:line errors), a list
 * replaced by a reload while other threads look nations up, and the
 * ISO 4217 minor-unit table. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "refdata.h"
#include "testutil.h"

/* The deployed list: the 26 members of the seed, all "member". */
static void test_deploy_nations(void **state) {
        (void)state;
        char path[1024], err[512];
        snprintf(path, sizeof(path), "%s/deploy/nations.csv", tu_source_dir());
        tecg_nations_t *ns = tecg_nations_load(path, err, sizeof(err));
        if (!ns)
                fail_msg("%s", err);
        assert_int_equal(tecg_nations_count(ns), 26);
        const tecg_nation_t *n = tecg_nations_at(ns, 0);
        assert_string_equal(n->code, "BEL");
        assert_string_equal(n->name, "Belgium");
        assert_int_equal(n->status, TECG_NATION_MEMBER);
        n = tecg_nations_at(ns, 25);
        assert_string_equal(n->code, "USA");
        assert_null(tecg_nations_at(ns, 26));
        for (size_t i = 0; i < tecg_nations_count(ns); i++) {
                const tecg_nation_t *a = tecg_nations_at(ns, i);
                assert_ptr_equal(tecg_nations_find(ns, a->code), a);
                assert_int_equal(a->status, TECG_NATION_MEMBER);
        }
        assert_non_null(tecg_nations_find(ns, "DEU"));
        assert_string_equal(tecg_nations_find(ns, "GBR")->name, "United Kingdom");
        assert_null(tecg_nations_find(ns, "AUT"));
        assert_null(tecg_nations_find(ns, "deu"));
        assert_null(tecg_nations_find(ns, "DE"));
        assert_null(tecg_nations_find(ns, "DEUT"));
        assert_null(tecg_nations_find(ns, ""));
        assert_null(tecg_nations_find(ns, NULL));
        tecg_nations_destroy(ns);
}

static void test_parse_ok(void **state) {
        (void)state;
        char err[512];
        const char *csv = "# comment\r\n"
                          "\r\n"
                          "code,name,status\r\n"
                          "#another comment\n"
                          "DEU,Germany,member\n"
                          "   \n"
                          "KOR,\"Korea, Republic of\",partner\n"
                          " JOR , Jordan , partner \n"
                          "CIV,\"C\xC3\xB4te d'Ivoire \"\"CI\"\"\",partner"; /* no final newline */
        tecg_nations_t *ns = tecg_nations_parse(csv, strlen(csv), "t.csv", err, sizeof(err));
        if (!ns)
                fail_msg("%s", err);
        assert_int_equal(tecg_nations_count(ns), 4);
        assert_string_equal(tecg_nations_find(ns, "KOR")->name, "Korea, Republic of");
        assert_int_equal(tecg_nations_find(ns, "KOR")->status, TECG_NATION_PARTNER);
        assert_string_equal(tecg_nations_find(ns, "JOR")->name, "Jordan");
        assert_string_equal(tecg_nations_find(ns, "CIV")->name, "C\xC3\xB4te d'Ivoire \"CI\"");
        assert_string_equal(tecg_nation_status_names[tecg_nations_find(ns, "DEU")->status],
                            "member");
        /* File order is kept for iteration. */
        assert_string_equal(tecg_nations_at(ns, 0)->code, "DEU");
        assert_string_equal(tecg_nations_at(ns, 3)->code, "CIV");
        tecg_nations_destroy(ns);
        tecg_nations_destroy(NULL);
}

typedef struct {
        const char *csv;
        const char *err;
} bad_csv_t;

static void test_parse_errors(void **state) {
        (void)state;
        static const bad_csv_t cases[] = {
                {"", "t.csv: missing header line 'code,name,status'"},
                {"# only a comment\n", "t.csv: missing header line 'code,name,status'"},
                {"code,name,status\n", "t.csv: no nations listed"},
                {"code,name\nDEU,Germany\n",
                 "t.csv:1: expected 3 fields (code,name,status), got 2"},
                {"name,code,status\n", "t.csv:1: header must be 'code,name,status'"},
                {"DEU,Germany,member\n", "t.csv:1: header must be 'code,name,status'"},
                {"code,name,status\nDEU,Germany,member,extra\n",
                 "t.csv:2: expected 3 fields (code,name,status), got 4"},
                {"code,name,status\nDEU,Germany\n",
                 "t.csv:2: expected 3 fields (code,name,status), got 2"},
                {"code,name,status\ndeu,Germany,member\n",
                 "t.csv:2: code must be 3 upper-case ASCII letters (got \"deu\")"},
                {"code,name,status\nDE,Germany,member\n",
                 "t.csv:2: code must be 3 upper-case ASCII letters (got \"DE\")"},
                {"code,name,status\nDEUT,Germany,member\n",
                 "t.csv:2: code must be 3 upper-case ASCII letters (got \"DEUT\")"},
                {"code,name,status\nD\xC3\x9C,Germany,member\n",
                 "t.csv:2: code must be 3 upper-case ASCII letters (got \"D??\")"},
                {"code,name,status\nDEU,,member\n", "t.csv:2: name must not be empty"},
                {"code,name,status\nDEU,Germ\xFF"
                 "any,member\n",
                 "t.csv:2: name is not valid UTF-8"},
                {"code,name,status\nDEU,\"Germ\tany\",member\n",
                 "t.csv:2: name must not contain control characters"},
                {"code,name,status\nDEU,Germany,Member\n",
                 "t.csv:2: status must be member or partner (got \"Member\")"},
                {"code,name,status\nDEU,Germany,\n",
                 "t.csv:2: status must be member or partner (got \"\")"},
                {"code,name,status\nDEU,\"Germany,member\n", "t.csv:2: unterminated quoted field"},
                {"code,name,status\nDEU,\"Germany\"x,member\n",
                 "t.csv:2: text after a closing quote"},
                {"code,name,status\n# c\nDEU,Germany,member\nFRA,France,member\n\nDEU,Deutschland,member\n",
                 "t.csv:6: duplicate code DEU (first on line 3)"},
                /* Two duplicates: the one that comes first in the file. */
                {"code,name,status\nUSA,A,member\nBEL,B,member\nBEL,B2,member\nUSA,A2,member\n",
                 "t.csv:4: duplicate code BEL (first on line 3)"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char err[512] = "";
                tecg_nations_t *ns = tecg_nations_parse(cases[i].csv, strlen(cases[i].csv), "t.csv",
                                                        err, sizeof(err));
                if (ns || strcmp(err, cases[i].err) != 0) {
                        tecg_nations_destroy(ns);
                        fail_msg("case %zu: want \"%s\", got %s \"%s\"", i, cases[i].err,
                                 ns ? "success" : "error", err);
                }
        }
        /* NUL bytes: the file is text. */
        const char nul[] = "code,name,status\nDEU,Ger\0many,member\n";
        char err[512];
        assert_null(tecg_nations_parse(nul, sizeof(nul) - 1, "t.csv", err, sizeof(err)));
        assert_string_equal(err, "t.csv:2: NUL byte in line");
}

static void test_load_missing(void **state) {
        (void)state;
        char err[512];
        assert_null(tecg_nations_load("/nonexistent/nations.csv", err, sizeof(err)));
        assert_string_equal(err, "/nonexistent/nations.csv: No such file or directory");
}

static void test_currencies(void **state) {
        (void)state;
        static const struct {
                const char *code;
                int digits;
        } cases[] = {
                {"EUR", 2},
                {"USD", 2},
                {"GBP", 2},
                {"JPY", 0},
                {"ISK", 0},
                {"KRW", 0},
                {"KWD", 3},
                {"BHD", 3},
                {"JOD", 3},
                {"TND", 3},
                {"OMR", 3},
                {"IQD", 3},
                {"LYD", 3},
                {"CLF", 4},
                {"UYW", 4},
                {"HUF", 2},
                {"CZK", 2},
                {"PLN", 2},
                {"RON", 2},
                {"BGN", 2},
                {"TRY", 2},
                {"NOK", 2},
                {"DKK", 2},
                {"SEK", 2},
                {"CHF", 2},
                {"CAD", 2},
                {"XAF", 0},
                {"XOF", 0},
                {"VND", 0},
                {"UYI", 0},
                /* 2005 currencies since replaced. */
                {"ROL", 2},
                {"TRL", 0},
                {"SKK", 2},
                {"SIT", 2},
                {"EEK", 2},
                {"LVL", 2},
                {"LTL", 2},
                {"CYP", 2},
                {"MTL", 2},
                /* Unknown: no minor unit, not a code, wrong shape. */
                {"XAU", -1},
                {"XDR", -1},
                {"XXX", -1},
                {"XTS", -1},
                {"ABC", -1},
                {"DEM", -1},
                {"eur", -1},
                {"EU", -1},
                {"EURO", -1},
                {"", -1},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (tecg_currency_minor_digits(cases[i].code) != cases[i].digits)
                        fail_msg("%s: %d, want %d", cases[i].code,
                                 tecg_currency_minor_digits(cases[i].code), cases[i].digits);
        assert_int_equal(tecg_currency_minor_digits(NULL), -1);

        /* The binary search needs the table sorted: every code of AAA..ZZZ
         * found by a linear reading must be found by the search, so count
         * them both ways. */
        int found = 0;
        char c[4] = {0};
        for (c[0] = 'A'; c[0] <= 'Z'; c[0]++)
                for (c[1] = 'A'; c[1] <= 'Z'; c[1]++)
                        for (c[2] = 'A'; c[2] <= 'Z'; c[2]++)
                                found += tecg_currency_minor_digits(c) >= 0;
        /* 165 current codes with a minor unit + 15 withdrawn ones. */
        assert_int_equal(found, 180);
}

static tecg_nations_t *parse_list(const char *csv) {
        char err[256];
        tecg_nations_t *ns = tecg_nations_parse(csv, strlen(csv), "n.csv", err, sizeof(err));
        if (!ns)
                print_error("%s\n", err);
        assert_non_null(ns);
        return ns;
}

/* A replacement is what every lookup on the same handle sees next; the
 * nations handed out before stay readable (ASan checks) until destroy. */
static void test_replace(void **state) {
        (void)state;
        char added[64], removed[64];
        tecg_nations_t *ns = parse_list("code,name,status\nFRA,France,member\nDEU,Germany,"
                                        "member\n");
        tecg_nations_t *fresh = parse_list("code,name,status\nFRA,France,member\nESP,Spain,"
                                           "partner\nNOR,Norway,member\n");
        tecg_nations_t *same = parse_list("code,name,status\nFRA,France,member\nESP,Spain,"
                                          "partner\nNOR,Norway,member\n");
        const tecg_nation_t *deu = tecg_nations_find(ns, "DEU");
        const tecg_nations_t *before = tecg_nations_current(ns);
        assert_ptr_not_equal(before, ns); /* a list, not the handle replacements change */
        assert_ptr_equal(tecg_nations_current(before), before);
        assert_false(tecg_nations_same(ns, fresh));
        tecg_nations_diff(ns, fresh, added, sizeof(added), removed, sizeof(removed));
        assert_string_equal(added, "ESP NOR");
        assert_string_equal(removed, "DEU");

        tecg_nations_replace(ns, fresh);
        assert_int_equal(tecg_nations_count(ns), 3);
        assert_null(tecg_nations_find(ns, "DEU"));
        assert_string_equal(tecg_nations_find(ns, "ESP")->name, "Spain");
        assert_string_equal(tecg_nations_at(ns, 2)->code, "NOR");
        assert_true(tecg_nations_same(ns, same));
        tecg_nations_diff(ns, same, added, sizeof(added), removed, sizeof(removed));
        assert_string_equal(added, "");
        assert_string_equal(removed, "");
        /* What was handed out before is intact. */
        assert_string_equal(deu->name, "Germany");
        assert_int_equal(tecg_nations_count(before), 2);
        assert_string_equal(tecg_nations_at(before, 1)->code, "DEU");

        /* A second replacement keeps the first one's list readable too. */
        const tecg_nations_t *second = tecg_nations_current(ns);
        tecg_nations_replace(ns, parse_list("code,name,status\nITA,Italy,member\n"));
        assert_int_equal(tecg_nations_count(ns), 1);
        assert_int_equal(tecg_nations_count(second), 3);
        assert_string_equal(tecg_nations_find(second, "NOR")->name, "Norway");
        tecg_nations_destroy(same);
        tecg_nations_destroy(ns);
}

typedef struct {
        tecg_nations_t *ns;
        volatile int stop;
        volatile long misses, lookups;
} reader_t;

static void *reader_run(void *opaque) {
        reader_t *r = opaque;
        while (!r->stop) {
                const tecg_nation_t *n = tecg_nations_find(r->ns, "FRA");
                if (!n || strcmp(n->name, "France") != 0)
                        r->misses++;
                const tecg_nations_t *cur = tecg_nations_current(r->ns);
                size_t count = tecg_nations_count(cur);
                if (!tecg_nations_at(cur, count - 1))
                        r->misses++;
                r->lookups++;
        }
        return NULL;
}

/* A thread looking nations up while the main thread replaces the list
 * over and over always finds the nation every list has, and a list taken
 * with tecg_nations_current() never changes under it. */
static void test_replace_while_read(void **state) {
        (void)state;
        reader_t r = {.ns = parse_list("code,name,status\nFRA,France,member\n")};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, reader_run, &r), 0);
        for (int i = 0; i < 300; i++)
                tecg_nations_replace(r.ns, parse_list(i % 2 ? "code,name,status\nFRA,France,"
                                                              "member\n"
                                                            : "code,name,status\nDEU,Germany,"
                                                              "member\nFRA,France,member\n"));
        while (r.lookups < 1000)
                ;
        r.stop = 1;
        pthread_join(t, NULL);
        assert_int_equal(r.misses, 0);
        tecg_nations_destroy(r.ns);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_deploy_nations),     cmocka_unit_test(test_parse_ok),
                cmocka_unit_test(test_parse_errors),       cmocka_unit_test(test_load_missing),
                cmocka_unit_test(test_currencies),         cmocka_unit_test(test_replace),
                cmocka_unit_test(test_replace_while_read),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
