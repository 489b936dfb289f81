/* Fuzz target: the nations CSV parser (tecg_nations_parse() of
 * common/refdata.h), one input = one nations.csv, origin "fuzz.csv".
 *
 * Invariants:
 *   - refused: TECG_ERR_CONFIG-style reason "fuzz.csv:LINE: ..." or
 *     "fuzz.csv: ...", one line of UTF-8 without control characters;
 *   - accepted: at least one nation; each has a code of 3 upper-case
 *     letters that tecg_nations_find() maps back to it (so codes are
 *     unique), a non-empty UTF-8 name without control characters and a
 *     known status; written back as CSV (names quoted) it parses to the
 *     same list; a validator can be built for each of the first nations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "refdata.h"
#include "validate.h"

#define ORIGIN "fuzz.csv"

static void write_csv(const tecg_nations_t *ns, tecg_buf_t *out) {
        tecg_buf_puts(out, "# written back by fuzz_nations\ncode,name,status\n");
        for (size_t i = 0; i < tecg_nations_count(ns); i++) {
                const tecg_nation_t *n = tecg_nations_at(ns, i);
                tecg_buf_puts(out, n->code);
                tecg_buf_puts(out, ",\"");
                for (const char *p = n->name; *p; p++) {
                        if (*p == '"')
                                tecg_buf_puts(out, "\"\"");
                        else
                                tecg_buf_append(out, p, 1);
                }
                tecg_buf_puts(out, "\",");
                tecg_buf_puts(out, tecg_nation_status_names[n->status]);
                tecg_buf_puts(out, i % 2 ? "\r\n" : "\n");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char err[512] = "";
        tecg_buf_t csv = TECG_BUF_INIT;
        tecg_nations_t *ns = tecg_nations_parse((const char *)data, size, ORIGIN, err, sizeof(err)),
                       *back;
        size_t count;

        if (!ns) {
                fz_check_reason("nations", err, sizeof(err));
                FZ_CHECK(strncmp(err, ORIGIN ":", sizeof(ORIGIN)) == 0,
                         "reason does not start with \"" ORIGIN ":\": %s", err);
                return 0;
        }
        count = tecg_nations_count(ns);
        FZ_CHECK(count >= 1, "an empty list");
        FZ_CHECK(tecg_nations_at(ns, count) == NULL, "at(count) is not NULL");
        for (size_t i = 0; i < count; i++) {
                const tecg_nation_t *n = tecg_nations_at(ns, i);
                FZ_CHECK(n && fz_fixed_ok(n->code, sizeof(n->code), 3) && strlen(n->code) == 3,
                         "nation %zu: code", i);
                for (int k = 0; k < 3; k++)
                        FZ_CHECK(n->code[k] >= 'A' && n->code[k] <= 'Z', "nation %zu: code \"%s\"",
                                 i, n->code);
                FZ_CHECK(tecg_nations_find(ns, n->code) == n, "find(%s) is not nation %zu", n->code,
                         i);
                FZ_CHECK(n->name && n->name[0], "nation %s: empty name", n->code);
                FZ_CHECK(fz_utf8_count(n->name, strlen(n->name)) > 0, "nation %s: name not UTF-8",
                         n->code);
                for (const unsigned char *p = (const unsigned char *)n->name; *p; p++)
                        FZ_CHECK(*p >= 0x20 && *p != 0x7f, "nation %s: control character in name",
                                 n->code);
                FZ_CHECK((unsigned)n->status < TECG_NATION__COUNT, "nation %s: status %d", n->code,
                         (int)n->status);
                char lower[4] = {(char)(n->code[0] | 0x20), n->code[1], n->code[2], 0};
                FZ_CHECK(tecg_nations_find(ns, lower) == NULL, "find(%s) found", lower);
        }

        /* Written back, the same list. */
        write_csv(ns, &csv);
        back = tecg_nations_parse((const char *)csv.data, csv.len, "written-back", err,
                                  sizeof(err));
        FZ_CHECK(back != NULL, "the list written back does not parse: %s", err);
        FZ_CHECK(tecg_nations_count(back) == count, "%zu nations written back, %zu read", count,
                 tecg_nations_count(back));
        for (size_t i = 0; i < count; i++) {
                const tecg_nation_t *a = tecg_nations_at(ns, i), *b = tecg_nations_at(back, i);
                FZ_CHECK(strcmp(a->code, b->code) == 0 && strcmp(a->name, b->name) == 0 &&
                                 a->status == b->status,
                         "nation %zu (%s) changes when written back", i, a->code);
        }
        tecg_nations_destroy(back);
        tecg_buf_free(&csv);

        /* A producer of any listed nation can start with this list. */
        for (size_t i = 0; i < count && i < 4; i++) {
                tecg_validator_t *v = tecg_validator_new(ns, tecg_nations_at(ns, i)->code, NULL,
                                                         err, sizeof(err));
                FZ_CHECK(v != NULL, "validator for %s: %s", tecg_nations_at(ns, i)->code, err);
                tecg_validator_destroy(v);
        }
        tecg_nations_destroy(ns);
        return 0;
}
