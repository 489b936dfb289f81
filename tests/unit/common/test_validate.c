/* Validator tests (docs/design.md §2), table-driven.
 *
 * Golden files in $TECG_TEST_DATA/validate/:
 *   valid.ndjson / valid.expected     every line passes; line N of .expected
 *                                     is the event of line N, dumped by
 *                                     dump_event() below;
 *   invalid.ndjson / invalid.expected every line fails; line N of .expected
 *                                     is the exact reason for line N.
 * The producer's own nation is DEU, the nations are validate/nations.csv.
 * With TECG_UPDATE_GOLDEN=1 the .expected files are rewritten from what the
 * validator says (review the diff before committing it).
 *
 * Cases that need raw bytes (invalid UTF-8, NUL, BOM, CR) are in tables
 * here, so the golden files stay plain text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "refdata.h"
#include "validate.h"
#include "testutil.h"

typedef struct {
        tecg_nations_t *nations;
        tecg_validator_t *v;
} fixture_t;

/* Lines of a file, split on '\n' only (a final '\n' ends the last line
 * rather than starting an empty one). The lines point into *storage. */
typedef struct {
        char **line;
        size_t *len;
        size_t count;
        char *storage;
} lines_t;

static int load_lines(const char *name, lines_t *L) {
        char path[1024];
        size_t n;
        snprintf(path, sizeof(path), "%s/validate/%s", tu_data_dir(), name);
        memset(L, 0, sizeof(*L));
        L->storage = tu_read_file(path, &n);
        if (!L->storage) {
                print_error("cannot read %s\n", path);
                return -1;
        }
        size_t cap = 64;
        L->line = malloc(cap * sizeof(*L->line));
        L->len = malloc(cap * sizeof(*L->len));
        char *p = L->storage, *end = L->storage + n;
        while (p < end) {
                char *nl = memchr(p, '\n', (size_t)(end - p));
                char *e = nl ? nl : end;
                if (L->count == cap) {
                        cap *= 2;
                        L->line = realloc(L->line, cap * sizeof(*L->line));
                        L->len = realloc(L->len, cap * sizeof(*L->len));
                }
                L->line[L->count] = p;
                L->len[L->count] = (size_t)(e - p);
                L->count++;
                p = nl ? nl + 1 : end;
        }
        return 0;
}

static void free_lines(lines_t *L) {
        free(L->line);
        free(L->len);
        free(L->storage);
}

static int setup(void **state) {
        char path[1024], err[512];
        fixture_t *fx = calloc(1, sizeof(*fx));
        snprintf(path, sizeof(path), "%s/validate/nations.csv", tu_data_dir());
        fx->nations = tecg_nations_load(path, err, sizeof(err));
        if (!fx->nations) {
                print_error("%s\n", err);
                free(fx);
                return -1;
        }
        fx->v = tecg_validator_new(fx->nations, "DEU", NULL, err, sizeof(err));
        if (!fx->v) {
                print_error("%s\n", err);
                tecg_nations_destroy(fx->nations);
                free(fx);
                return -1;
        }
        *state = fx;
        return 0;
}

static int teardown(void **state) {
        fixture_t *fx = *state;
        tecg_validator_destroy(fx->v);
        tecg_nations_destroy(fx->nations);
        free(fx);
        return 0;
}

/* UTC ms -> "YYYY-MM-DDThh:mm:ss.mmmZ", independently of the code under
 * test (H. Hinnant's civil_from_days). */
static char *fmt_utc(int64_t ms, char out[64]) {
        int64_t s = ms / 1000, m = ms % 1000;
        if (m < 0) {
                m += 1000;
                s -= 1;
        }
        int64_t days = s / 86400, sod = s % 86400;
        if (sod < 0) {
                sod += 86400;
                days -= 1;
        }
        int64_t z = days + 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        int64_t d = doy - (153 * mp + 2) / 5 + 1;
        int64_t mo = mp < 10 ? mp + 3 : mp - 9;
        int64_t y = yoe + era * 400 + (mo <= 2);
        snprintf(out, 64, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", (long long)y,
                 (long long)mo, (long long)d, (long long)(sod / 3600), (long long)(sod / 60 % 60),
                 (long long)(sod % 60), (long long)m);
        return out;
}

/* One line per event with every field the validator fills; the time also
 * in UTC so a reader can check the conversion. */
static void dump_event(const tecg_event_t *ev, char *out, size_t outsz) {
        char t[64];
        size_t o = 0;
#define P(...) o += (size_t)snprintf(out + o, o < outsz ? outsz - o : 0, __VA_ARGS__)
        P("%s id=%s nation=%s at=%lld (%s) off=%d", tecg_event_type_names[ev->type], ev->event_id,
          ev->nation, (long long)ev->occurred_at_ms, fmt_utc(ev->occurred_at_ms, t),
          (int)ev->utc_offset_min);
        if (ev->supersedes[0])
                P(" supersedes=%s", ev->supersedes);
        switch (ev->type) {
        case TECG_EV_FUNDING: {
                const tecg_funding_t *f = &ev->u.funding;
                P(" amount_minor=%lld currency=%s channel=%s stage=%s", (long long)f->amount_minor,
                  f->currency, tecg_channel_names[f->channel], tecg_funding_stage_names[f->stage]);
                break;
        }
        case TECG_EV_EQUIPMENT: {
                const tecg_equipment_t *e = &ev->u.equipment;
                P(" item_bytes=%zu category=%s quantity=%lld", strlen(e->item),
                  tecg_category_names[e->category], (long long)e->quantity);
                if (e->has_value)
                        P(" value_minor=%lld currency=%s", (long long)e->value_minor, e->currency);
                else
                        P(" value=none currency=\"%s\"", e->currency);
                P(" stage=%s", tecg_equipment_stage_names[e->stage]);
                break;
        }
        case TECG_EV_PERSONNEL: {
                const tecg_personnel_t *p = &ev->u.personnel;
                P(" role=%s location=%s headcount=%d", tecg_role_names[p->role],
                  tecg_location_names[p->location], (int)p->headcount);
                break;
        }
        case TECG_EV_TRAINING: {
                const tecg_training_t *tr = &ev->u.training;
                P(" course_bytes=%zu level=%s location=%s", strlen(tr->course),
                  tecg_level_names[tr->level], tecg_location_names[tr->location]);
                if (tr->venue)
                        P(" venue_bytes=%zu", strlen(tr->venue));
                else
                        P(" venue=none");
                P(" trainees=%d", (int)tr->trainees);
                break;
        }
        case TECG_EV_RETRACTION: {
                const tecg_retraction_t *r = &ev->u.retraction;
                P(" retracts=%s retracts_type=%s reason_bytes=%zu", r->retracts,
                  tecg_event_type_names[r->retracts_type], strlen(r->reason));
                break;
        }
        default:
                P(" ?");
        }
#undef P
}

/* A reason must be one line of printable text: no control bytes, and the
 * only non-ASCII allowed is what quote() keeps (valid UTF-8). */
static int reason_is_clean(const char *r) {
        for (const unsigned char *p = (const unsigned char *)r; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return 0;
        return 1;
}

static void write_expected(const char *name, char **got, size_t n) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/validate/%s", tu_data_dir(), name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s\n", got[i]);
        fclose(f);
        print_message("rewrote %s (%zu lines)\n", path, n);
}

/* Runs a golden pair. `want_ok`: every line must pass (valid) or fail. */
static void run_golden(fixture_t *fx, const char *input, const char *expected, int want_ok) {
        lines_t in, ex;
        int update = tu_update_golden();
        assert_int_equal(load_lines(input, &in), 0);
        if (load_lines(expected, &ex) != 0) {
                if (!update)
                        fail_msg("missing %s (run with TECG_UPDATE_GOLDEN=1 to create it)",
                                 expected);
                memset(&ex, 0, sizeof(ex));
        }
        char **got = calloc(in.count, sizeof(*got));
        int failures = 0;
        for (size_t i = 0; i < in.count; i++) {
                char reason[512] = "";
                char out[1024];
                tecg_event_t ev;
                tecg_err_t err = tecg_validate_line(fx->v, in.line[i], in.len[i], &ev, reason,
                                                    sizeof(reason));
                if (want_ok) {
                        if (err != TECG_OK) {
                                print_error("%s:%zu: expected to pass, got %s: %s\n", input, i + 1,
                                            tecg_err2str(err), reason);
                                failures++;
                                snprintf(out, sizeof(out), "ERROR %s", reason);
                        } else
                                dump_event(&ev, out, sizeof(out));
                } else {
                        if (err != TECG_ERR_INVALID && err != TECG_ERR_LIMIT) {
                                print_error("%s:%zu: expected to fail, got %s\n", input, i + 1,
                                            tecg_err2str(err));
                                failures++;
                        }
                        if (!reason_is_clean(reason)) {
                                print_error("%s:%zu: reason has control bytes\n", input, i + 1);
                                failures++;
                        }
                        snprintf(out, sizeof(out), "%s", reason);
                }
                got[i] = strdup(out);
                if (update)
                        continue;
                if (i >= ex.count) {
                        print_error("%s:%zu: no expected line\n     got: %s\n", expected, i + 1,
                                    out);
                        failures++;
                } else if (strlen(out) != ex.len[i] || memcmp(out, ex.line[i], ex.len[i]) != 0) {
                        print_error("%s:%zu: mismatch\n  input: %.*s\n  want: %.*s\n   got: %s\n",
                                    expected, i + 1, (int)(in.len[i] > 200 ? 200 : in.len[i]),
                                    in.line[i], (int)ex.len[i], ex.line[i], out);
                        failures++;
                }
        }
        if (!update && ex.count != in.count) {
                print_error("%s has %zu lines, %s has %zu\n", input, in.count, expected, ex.count);
                failures++;
        }
        if (update)
                write_expected(expected, got, in.count);
        for (size_t i = 0; i < in.count; i++)
                free(got[i]);
        free(got);
        print_message("%s: %zu lines\n", input, in.count);
        free_lines(&in);
        free_lines(&ex);
        assert_int_equal(failures, 0);
}

static void test_golden_valid(void **state) {
        run_golden(*state, "valid.ndjson", "valid.expected", 1);
}

static void test_golden_invalid(void **state) {
        run_golden(*state, "invalid.ndjson", "invalid.expected", 0);
}

/* ---------------------------------------------------------------- */

#define OKLINE                                                             \
        "{\"type\":\"personnel\",\"event_id\":\"P-1\",\"nation\":\"DEU\"," \
        "\"occurred_at\":\"2005-02-22T09:00:00Z\",\"role\":\"TRAINER\","   \
        "\"location\":\"IN_IRAQ\",\"headcount\":3}"

typedef struct {
        const char *bytes;
        size_t len; /* sizeof - 1: lets the bytes hold NUL */
        tecg_err_t err;
        const char *reason; /* exact, or NULL when err == TECG_OK */
} raw_case_t;

#define RAW(lit, e, r) \
        { lit, sizeof(lit) - 1, e, r }

static const raw_case_t raw_cases[] = {
        /* CRLF: the '\r' is dropped; only one. */
        RAW(OKLINE "\r", TECG_OK, NULL),
        RAW(OKLINE "\r\r", TECG_OK, NULL), /* the second '\r' is JSON whitespace */
        RAW("\r", TECG_ERR_INVALID, "empty line"),
        RAW(" \t \r", TECG_ERR_INVALID, "empty line"),
        RAW("\xEF\xBB\xBF" OKLINE, TECG_ERR_INVALID,
            "line starts with a UTF-8 byte order mark (BOM), which NDJSON does not allow"),
        RAW("{\"type\":\"funding\"\0}", TECG_ERR_INVALID, "NUL byte at byte offset 17"),
        RAW("\0", TECG_ERR_INVALID, "NUL byte at byte offset 0"),
        RAW("{\"type\":\"fund\x80ing\"}", TECG_ERR_INVALID, "invalid UTF-8 at byte offset 13"),
        RAW("{\"type\":\"\xC0\xAF\"}", TECG_ERR_INVALID,
            "invalid UTF-8 at byte offset 9"), /* overlong */
        RAW("{\"type\":\"\xED\xA0\x80\"}", TECG_ERR_INVALID,
            "invalid UTF-8 at byte offset 9"), /* surrogate */
        RAW("{\"type\":\"\xF4\x90\x80\x80\"}", TECG_ERR_INVALID,
            "invalid UTF-8 at byte offset 9"), /* > U+10FFFF */
        RAW("{\"type\":\"\xF5\"}", TECG_ERR_INVALID, "invalid UTF-8 at byte offset 9"),
        RAW("{\"type\":\"\xE2\x82\"}", TECG_ERR_INVALID,
            "invalid UTF-8 at byte offset 9"), /* truncated */
        RAW("{\"type\":\"x\"}\xE2\x82", TECG_ERR_INVALID,
            "invalid UTF-8 at byte offset 12"), /* at end */
        RAW("\xFF{}", TECG_ERR_INVALID, "invalid UTF-8 at byte offset 0"),
        /* Byte checks come in byte order: the first offence wins. */
        RAW("{\"a\":\"\x80\",\"b\":\"\0\"}", TECG_ERR_INVALID, "invalid UTF-8 at byte offset 6"),
        /* Valid UTF-8 but not JSON outside strings: Jansson's reason, escaped. */
        RAW("{\"type\":\"funding\",\xC3\xA9:1}", TECG_ERR_INVALID,
            "invalid JSON near byte offset 19: string or '}' expected near '\xC3\xA9'"),
        /* A raw control character inside a string: escaped in the reason. */
        RAW("{\"type\":\"a\x01\"}", TECG_ERR_INVALID,
            "invalid JSON near byte offset 9: control character 0x1 near '\"a'"),
        /* Unknown field names with odd characters are escaped, not echoed raw. */
        RAW("{\"type\":\"funding\",\"a\\u0007b\":1}", TECG_ERR_INVALID,
            "field 'a\\u0007b': unknown field for type funding"),
        RAW("{\"type\":\"funding\",\"a\\u2028b\":1}", TECG_ERR_INVALID,
            "field 'a\\u2028b': unknown field for type funding"),
        RAW("{\"type\":\"funding\",\"a'b\":1}", TECG_ERR_INVALID,
            "field 'a\\'b': unknown field for type funding"),
        /* Invisible code points are escaped too: NBSP, zero-width space, a tag. */
        RAW("{\"type\":\"a\xC2\xA0"
            "b\xE2\x80\x8B"
            "c\xF3\xA0\x81\x81\"}",
            TECG_ERR_INVALID,
            "field 'type': must be one of funding|equipment|personnel|training|retraction "
            "(got \"a\\u00A0b\\u200Bc\\u{E0041}\")"),
        RAW("{\"type\":\"fun\\nding\"}", TECG_ERR_INVALID,
            "field 'type': must be one of funding|equipment|personnel|training|retraction (got \"fun\\u000Ading\")"),
        /* JSON errors keep Jansson's words: json_flat finds the error,
         * Jansson reads the refused line again to say what it is. */
        RAW("{\"type\":\"funding\",\"a\\u0000b\":1}", TECG_ERR_INVALID,
            "invalid JSON near byte offset 27: NUL byte in object key not supported near "
            "'\"a\\u0000b\"'"),
        /* Jansson 2.14 drops a NUL byte right after a number (it accepts
         * "1\0"); the byte scan refuses every NUL first. */
        RAW("{\"type\":\"funding\",\"quantity\":1\0}", TECG_ERR_INVALID,
            "NUL byte at byte offset 30"),
        /* Duplicate keys are named however long, in nested objects too
         * (Jansson named only keys of up to 18 bytes). */
        RAW("{\"type\":\"funding\",\"amount\":{\"occurred_at_and_more\":1,"
            "\"occurred_at_\\u0061nd_more\":2}}",
            TECG_ERR_INVALID, "field 'occurred_at_and_more': duplicate key"),
};

static void test_raw_bytes(void **state) {
        fixture_t *fx = *state;
        int failures = 0;
        for (size_t i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++) {
                const raw_case_t *c = &raw_cases[i];
                char reason[512] = "";
                tecg_event_t ev;
                tecg_err_t err =
                        tecg_validate_line(fx->v, c->bytes, c->len, &ev, reason, sizeof(reason));
                if (err != c->err || (c->reason && strcmp(reason, c->reason) != 0) ||
                    !reason_is_clean(reason)) {
                        print_error(
                                "raw case %zu: want %s \"%s\"\n                got  %s \"%s\"\n", i,
                                tecg_err2str(c->err), c->reason ? c->reason : "", tecg_err2str(err),
                                reason);
                        failures++;
                }
        }
        assert_int_equal(failures, 0);
}

/* ---------------------------------------------------------------- */

typedef struct {
        const char *in;
        int64_t ms;
        int32_t off;
} time_case_t;

static void test_time_exact(void **state) {
        (void)state;
        static const time_case_t cases[] = {
                {"1970-01-01T00:00:00Z", 0, 0},
                {"1970-01-01T00:00:00.001Z", 1, 0},
                {"1969-12-31T23:59:59.999Z", -1, 0},
                {"2005-02-22T09:00:00Z", 1109062800000LL, 0},
                {"2005-02-22T12:00:00+03:00", 1109062800000LL, 180},
                {"2005-02-22T04:00:00-05:00", 1109062800000LL, -300},
                /* Offsets crossing a year boundary, both ways. */
                {"2005-01-01T01:00:00+02:00", 1104534000000LL, 120},  /* 2004-12-31T23:00Z */
                {"2004-12-31T22:00:00-03:00", 1104541200000LL, -180}, /* 2005-01-01T01:00Z */
                {"2005-01-01T00:30:00+00:45", 1104536700000LL, 45},   /* 2004-12-31T23:45Z */
                /* Leap years: 2000 yes (div 400), 2004 yes, 2100 no (div 100). */
                {"2000-02-29T00:00:00Z", 951782400000LL, 0},
                {"2000-03-01T00:00:00Z", 951868800000LL, 0},
                {"2004-02-29T12:00:00Z", 1078056000000LL, 0},
                {"2100-03-01T00:00:00Z", 4107542400000LL, 0},
                /* Fractions: truncated to ms, never rounded up. */
                {"2005-02-22T09:00:00.9999Z", 1109062800999LL, 0},
                {"2005-02-22T09:00:00.1Z", 1109062800100LL, 0},
                /* Leap second: 23:59:60 UTC -> 23:59:59.999. */
                {"2005-12-31T23:59:60Z", 1136073599999LL, 0},
                {"2006-01-01T02:59:60+03:00", 1136073599999LL, 180},
                {"2005-12-31T18:59:60-05:00", 1136073599999LL, -300},
                {"2008-06-30T23:59:60.25Z", 1214870399999LL, 0},
                /* Range ends. */
                {"0000-01-01T00:00:00Z", -62167219200000LL, 0},
                {"9999-12-31T23:59:59.999Z", 253402300799999LL, 0},
                {"0000-01-01T00:00:00+23:59", -62167219200000LL - 1439 * 60000LL, 1439},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t ms = 0;
                int32_t off = 0;
                const char *why = NULL;
                int rc = tecg_validate_time(cases[i].in, strlen(cases[i].in), &ms, &off, &why);
                if (rc != 0 || ms != cases[i].ms || off != cases[i].off)
                        fail_msg("%s: rc=%d (%s) ms=%lld off=%d, want ms=%lld off=%d", cases[i].in,
                                 rc, why ? why : "", (long long)ms, (int)off,
                                 (long long)cases[i].ms, (int)cases[i].off);
        }
        /* Every day of 1600-2400 round-trips through an independent
         * formatter. */
        for (int64_t d = -135140; d < 157054; d += 1) {
                char t[64];
                int64_t ms = d * 86400000LL + 45296789, got = 0; /* 12:34:56.789 */
                int32_t off = 0;
                const char *why = NULL;
                fmt_utc(ms, t);
                assert_int_equal(tecg_validate_time(t, strlen(t), &got, &off, &why), 0);
                assert_true(got == ms);
        }
}

typedef struct {
        const char *in;
        int digits;
        int rc;
        int64_t minor;
} dec_case_t;

static void test_decimal(void **state) {
        (void)state;
        static const dec_case_t cases[] = {
                {"0", 2, 0, 0},
                {"0.00", 2, 0, 0},
                {"1", 2, 0, 100},
                {"1.5", 2, 0, 150},
                {"1.05", 2, 0, 105},
                {"652000.00", 2, 0, 65200000},
                {"1.234", 3, 0, 1234},
                {"1", 4, 0, 10000},
                {"7", 0, 0, 7},
                {"92233720368547758.07", 2, 0, INT64_MAX},
                {"9223372036854775807", 0, 0, INT64_MAX},
                {"92233720368547758.08", 2, -2, 0},
                {"9223372036854775808", 0, -2, 0},
                {"922337203685477581", 1, -2, 0}, /* overflows only when scaled */
                {"99999999999999999999", 2, -2, 0},
                {"1.5", 0, -1, 0},
                {"1.000", 2, -1, 0},
                {"", 2, -1, 0},
                {".5", 2, -1, 0},
                {"5.", 2, -1, 0},
                {"01", 2, -1, 0},
                {"00.5", 2, -1, 0},
                {"-1", 2, -1, 0},
                {"+1", 2, -1, 0},
                {"1e3", 2, -1, 0},
                {"1 ", 2, -1, 0},
                {"1..0", 2, -1, 0},
                {"99999999999999999999x", 2, -1, 0}, /* syntax before overflow */
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t m = 0;
                int rc = tecg_validate_decimal(cases[i].in, strlen(cases[i].in), cases[i].digits,
                                               &m);
                if (rc != cases[i].rc || (rc == 0 && m != cases[i].minor))
                        fail_msg("\"%s\"/%d: rc=%d minor=%lld, want rc=%d minor=%lld", cases[i].in,
                                 cases[i].digits, rc, (long long)m, cases[i].rc,
                                 (long long)cases[i].minor);
        }
}

/* ---------------------------------------------------------------- */

static void test_limits(void **state) {
        fixture_t *fx = *state;
        tecg_validate_limits_t lim;
        char reason[512];
        tecg_event_t ev;
        tecg_validate_limits_init(&lim);
        assert_int_equal(lim.max_line_bytes, 1024 * 1024);
        assert_int_equal(lim.max_depth, 16);
        assert_int_equal(lim.max_string_bytes, 4096);

        lim.max_line_bytes = strlen(OKLINE);
        lim.max_depth = 2;
        lim.max_string_bytes = 20;
        tecg_validator_t *v = tecg_validator_new(fx->nations, "DEU", &lim, reason, sizeof(reason));
        assert_non_null(v);
        /* Exactly at the line limit passes; the '\r' does not count. */
        assert_int_equal(
                tecg_validate_line(v, OKLINE "\r", strlen(OKLINE) + 1, &ev, reason, sizeof(reason)),
                TECG_OK);
        assert_int_equal(
                tecg_validate_line(v, OKLINE " ", strlen(OKLINE) + 1, &ev, reason, sizeof(reason)),
                TECG_ERR_LIMIT);
        assert_string_equal(reason, "line is 142 bytes, longer than limits.line.bytes (141 bytes)");
        assert_int_equal(tecg_validate_line(v, "{\"a\":[[1]]}", 11, &ev, reason, sizeof(reason)),
                         TECG_ERR_LIMIT);
        assert_string_equal(reason,
                            "JSON nesting deeper than limits.json.depth (2) at byte offset 6");
        const char *s = "{\"type\":\"abcdefghijklmnopqrstu\"}";
        assert_int_equal(tecg_validate_line(v, s, strlen(s), &ev, reason, sizeof(reason)),
                         TECG_ERR_LIMIT);
        assert_string_equal(reason, "string at byte offset 8 is longer than "
                                    "limits.string.bytes (20 bytes)");
        s = "{\"type\":\"abcdefghijklmnopqrstu"; /* unterminated, still counted */
        assert_int_equal(tecg_validate_line(v, s, strlen(s), &ev, reason, sizeof(reason)),
                         TECG_ERR_LIMIT);
        /* 20 bytes is fine. */
        s = "{\"type\":\"abcdefghijklmnopqrst\"}";
        assert_int_equal(tecg_validate_line(v, s, strlen(s), &ev, reason, sizeof(reason)),
                         TECG_ERR_INVALID);
        tecg_validator_destroy(v);

        /* The default line limit: 1 MiB + 1 is refused before parsing. */
        size_t big = 1024 * 1024 + 1;
        char *line = malloc(big);
        memset(line, ' ', big);
        line[0] = '{';
        line[big - 1] = '}';
        assert_int_equal(tecg_validate_line(fx->v, line, big, &ev, reason, sizeof(reason)),
                         TECG_ERR_LIMIT);
        assert_string_equal(reason, "line is 1048577 bytes, longer than limits.line.bytes "
                                    "(1048576 bytes)");
        free(line);

        /* Bad arguments. */
        lim.max_depth = 0;
        assert_null(tecg_validator_new(fx->nations, "DEU", &lim, reason, sizeof(reason)));
        assert_string_equal(reason, "validator: limits must all be > 0");
        assert_null(tecg_validator_new(fx->nations, "AUT", NULL, reason, sizeof(reason)));
        assert_string_equal(reason, "validator: own nation \"AUT\" is not in the nations list");
        assert_null(tecg_validator_new(NULL, "DEU", NULL, reason, sizeof(reason)));
}

/* The longest reasons (long values of the characters with the longest
 * escapes) still fit TECG_VALIDATE_ERRSTR_SIZE whole. */
static void test_reason_size(void **state) {
        fixture_t *fx = *state;
        /* U+E0041 (tag A, escaped as \u{E0041}) and U+0001 as a JSON escape. */
        char big[2048], line[8192];
        size_t o = 0;
        for (int i = 0; i < 200; i++)
                o += (size_t)snprintf(big + o, sizeof(big) - o, "%s",
                                      i % 2 ? "\xF3\xA0\x81\x81" : "\\u0001");
        for (int t = 0; t < 5; t++) {
                char reason[TECG_VALIDATE_ERRSTR_SIZE];
                tecg_event_t ev;
                switch (t) {
                case 0: /* unknown field */
                        snprintf(line, sizeof(line), "{\"type\":\"funding\",\"%s\":1}", big);
                        break;
                case 1: /* duplicate key */
                        snprintf(line, sizeof(line), "{\"type\":\"funding\",\"%s\":1,\"%s\":2}",
                                 big, big);
                        break;
                case 2: /* the longest rule text plus a long value */
                        snprintf(line, sizeof(line),
                                 "{\"type\":\"funding\",\"event_id\":\"X-1\",\"nation\":\"DEU\","
                                 "\"occurred_at\":\"2005-06-30T23:59:60Z%s\"}",
                                 big);
                        break;
                case 3: /* enum */
                        snprintf(line, sizeof(line), "{\"type\":\"%s\"}", big);
                        break;
                default: /* Jansson's own message */
                        snprintf(line, sizeof(line), "{\"type\":\"funding\" %s}", big);
                        break;
                }
                assert_int_not_equal(
                        tecg_validate_line(fx->v, line, strlen(line), &ev, reason, sizeof(reason)),
                        TECG_OK);
                assert_true(strlen(reason) < sizeof(reason) - 1);
                assert_true(reason_is_clean(reason));
        }
}

/* own_nation NULL: any nation of the list. */
static void test_any_nation(void **state) {
        fixture_t *fx = *state;
        char reason[512];
        tecg_event_t ev;
        tecg_validator_t *v = tecg_validator_new(fx->nations, NULL, NULL, reason, sizeof(reason));
        assert_non_null(v);
        const char *fra = "{\"type\":\"personnel\",\"event_id\":\"P-1\",\"nation\":\"FRA\","
                          "\"occurred_at\":\"2005-02-22T09:00:00Z\",\"role\":\"TRAINER\","
                          "\"location\":\"IN_IRAQ\",\"headcount\":3}";
        assert_int_equal(tecg_validate_line(v, fra, strlen(fra), &ev, reason, sizeof(reason)),
                         TECG_OK);
        assert_string_equal(ev.nation, "FRA");
        const char *aut = "{\"type\":\"personnel\",\"event_id\":\"P-1\",\"nation\":\"AUT\"}";
        assert_int_equal(tecg_validate_line(v, aut, strlen(aut), &ev, reason, sizeof(reason)),
                         TECG_ERR_INVALID);
        assert_string_equal(reason, "field 'nation': AUT is not in the nations list");
        tecg_validator_destroy(v);
}

/* Borrowed strings live until the next call; a failing call also ends them
 * (ASan checks that nothing reads freed memory). */
static void test_borrowed_strings(void **state) {
        fixture_t *fx = *state;
        char reason[512];
        tecg_event_t ev, ev2;
        const char *a = "{\"type\":\"training\",\"event_id\":\"T-1\",\"nation\":\"DEU\","
                        "\"occurred_at\":\"2005-02-22T09:00:00Z\",\"course\":\"Staff course\","
                        "\"level\":\"SENIOR\",\"location\":\"IN_IRAQ\",\"venue\":\"Baghdad\","
                        "\"trainees\":30}";
        assert_int_equal(tecg_validate_line(fx->v, a, strlen(a), &ev, reason, sizeof(reason)),
                         TECG_OK);
        assert_string_equal(ev.u.training.course, "Staff course");
        assert_string_equal(ev.u.training.venue, "Baghdad");
        assert_int_equal(
                tecg_validate_line(fx->v, OKLINE, strlen(OKLINE), &ev2, reason, sizeof(reason)),
                TECG_OK);
        assert_int_equal(ev2.type, TECG_EV_PERSONNEL);
        assert_int_equal(ev2.u.personnel.headcount, 3);
        /* errstr may be NULL / 0. */
        assert_int_equal(tecg_validate_line(fx->v, "x", 1, &ev2, NULL, 0), TECG_ERR_INVALID);
        char tiny[8];
        assert_int_equal(tecg_validate_line(fx->v, "[]", 2, &ev2, tiny, sizeof(tiny)),
                         TECG_ERR_INVALID);
        assert_int_equal(strlen(tiny), 7);
        tecg_validator_destroy(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden_valid),     cmocka_unit_test(test_golden_invalid),
                cmocka_unit_test(test_raw_bytes),        cmocka_unit_test(test_time_exact),
                cmocka_unit_test(test_decimal),          cmocka_unit_test(test_limits),
                cmocka_unit_test(test_reason_size),      cmocka_unit_test(test_any_nation),
                cmocka_unit_test(test_borrowed_strings),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
