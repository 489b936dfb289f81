/* Fuzz target: the NDJSON line validator (common/validate.h), one input =
 * one line as the spool reader hands it over.
 *
 * Every input goes through two validators: the lenient one (any nation of
 * the list, default limits) and a strict one (nation DEU, small limits).
 * Invariants:
 *   - accepted: the event keeps the contract of validate.h (event_id of
 *     1-64 [A-Za-z0-9._:-], listed nation, texts of 1-200 code points of
 *     UTF-8, amounts > 0 with the currency's digits, enums and counts in
 *     range); its time (see check_time) and amount print back to text
 *     that parses to the same values; it goes through the Avro codec and
 *     back unchanged (what the producer sends is what the aggregator
 *     reads);
 *   - refused: INVALID or LIMIT with a one-line UTF-8 reason;
 *   - the same line validated twice gives the same answer;
 *   - the strict validator accepts nothing the lenient one refuses, and
 *     when it accepts, the event is the same; when only the lenient one
 *     accepts, the reason is a limit or the nation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_codec.h"
#include "fuzz.h"
#include "refdata.h"
#include "timefmt.h"
#include "validate.h"

/* The 26 nations of the seed plus a partner: a fixed list, so the corpus
 * means the same whatever deploy/nations.csv says. */

static struct {
        tecg_nations_t *nations;
        tecg_validator_t *lenient, *strict;
        tecg_avro_t *avro;
} fz;

static void fz_teardown(void) {
        tecg_validator_destroy(fz.lenient);
        tecg_validator_destroy(fz.strict);
        tecg_nations_destroy(fz.nations);
        tecg_avro_destroy(fz.avro);
        memset(&fz, 0, sizeof(fz));
}

static void fz_setup(void) {
        tecg_validate_limits_t strict;
        char err[512];
        if (fz.lenient)
                return;
        fz.nations = tecg_nations_parse(fuzz_nations_csv, sizeof(fuzz_nations_csv) - 1,
                                        "fuzz-nations", err, sizeof(err));
        FZ_SETUP(fz.nations, "%s", err);
        fz.lenient = tecg_validator_new(fz.nations, NULL, NULL, err, sizeof(err));
        FZ_SETUP(fz.lenient, "%s", err);
        /* Defaults first, so a limit added later keeps a sane value. */
        tecg_validate_limits_init(&strict);
        strict.max_line_bytes = 2048;
        strict.max_depth = 3;
        strict.max_string_bytes = 300;
        fz.strict = tecg_validator_new(fz.nations, "DEU", &strict, err, sizeof(err));
        FZ_SETUP(fz.strict, "%s", err);
        fz.avro = tecg_avro_new(err, sizeof(err));
        FZ_SETUP(fz.avro, "%s", err);
        atexit(fz_teardown);
}

static int id_char(unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == ':' || c == '-';
}

static int upper3(const char *s) {
        return strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
               s[2] >= 'A' && s[2] <= 'Z';
}

static void check_text_max(const char *field, const char *s, long max) {
        FZ_CHECK(s != NULL, "%s is NULL", field);
        long cps = fz_utf8_count(s, strlen(s));
        FZ_CHECK(cps >= 1 && cps <= max, "%s has %ld code points (or is not UTF-8)", field, cps);
}

static void check_text(const char *field, const char *s) {
        check_text_max(field, s, TECG_TEXT_MAX);
}

/* supersedes / retracts: an event_id, not the event's own. */
static void check_ref(const char *field, const char *ref, const tecg_event_t *ev) {
        size_t n = strnlen(ref, TECG_EVENT_ID_MAX + 1);
        FZ_CHECK(n >= 1 && n <= TECG_EVENT_ID_MAX, "%s of %zu chars", field, n);
        for (size_t i = 0; i < n; i++)
                FZ_CHECK(id_char((unsigned char)ref[i]),
                         "%s \"%s\" has a character outside [A-Za-z0-9._:-]", field, ref);
        FZ_CHECK(strcmp(ref, ev->event_id) != 0, "%s is the event's own id", field);
}

/* A currency the validator accepted and an amount in its minor units
 * print back to a decimal string that parses to the same amount. */
static void check_money(const char *field, const char *cur, int64_t minor, int64_t min) {
        int digits = tecg_currency_minor_digits(cur);
        char text[48];
        int64_t back = -1;
        FZ_CHECK(upper3(cur) && digits >= 0, "%s: currency \"%s\"", field, cur);
        FZ_CHECK(minor >= min, "%s: %lld below %lld", field, (long long)minor, (long long)min);
        int n = snprintf(text, sizeof(text), "%0*lld", digits + 1, (long long)minor);
        if (digits > 0) {
                memmove(text + n - digits + 1, text + n - digits, (size_t)digits + 1);
                text[n - digits] = '.';
                n++;
        }
        FZ_CHECK(tecg_validate_decimal(text, (size_t)n, digits, &back) == 0 && back == minor,
                 "%s: %lld minor units of %s print as \"%s\", which parses to %lld", field,
                 (long long)minor, cur, text, (long long)back);
}

/* RFC 3339 text of (utc_ms, offset) with a 4-digit year and milliseconds,
 * written here independently of tecg_time_format_rfc3339(): civil date from days
 * (H. Hinnant's algorithm). */
static void format_rfc3339(int64_t utc_ms, int32_t off, char out[48]) {
        int64_t local = utc_ms + (int64_t)off * 60000;
        int64_t days = local / 86400000, ms = local % 86400000;
        if (ms < 0) {
                ms += 86400000;
                days--;
        }
        int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
        int64_t y = yoe + era * 400 + (m <= 2);
        int n = snprintf(out, 48, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lld", (long long)y,
                         (long long)m, (long long)d, (long long)(ms / 3600000),
                         (long long)(ms / 60000 % 60), (long long)(ms / 1000 % 60),
                         (long long)(ms % 1000));
        if (off == 0)
                snprintf(out + n, (size_t)(48 - n), "Z");
        else
                snprintf(out + n, (size_t)(48 - n), "%c%02d:%02d", off < 0 ? '-' : '+',
                         (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
}

/* The time prints as RFC 3339 and parses back to the same instant and
 * offset: with the independent printer above and with tecg_time_format_rfc3339()
 * (what the dashboards print), for every year. */
static void check_time(const tecg_event_t *ev) {
        char text[48];
        int64_t ms = 0;
        int32_t off = 0;
        const char *why = "";

        format_rfc3339(ev->occurred_at_ms, ev->utc_offset_min, text);
        FZ_CHECK(tecg_validate_time(text, strlen(text), &ms, &off, &why) == 0 &&
                         ms == ev->occurred_at_ms && off == ev->utc_offset_min,
                 "occurred_at %lld ms offset %d is \"%s\", which parses to %lld ms "
                 "offset %d (%s)",
                 (long long)ev->occurred_at_ms, (int)ev->utc_offset_min, text, (long long)ms,
                 (int)off, why ? why : "");
        tecg_time_format_rfc3339(ev->occurred_at_ms, ev->utc_offset_min, text);
        FZ_CHECK(tecg_validate_time(text, strlen(text), &ms, &off, &why) == 0 &&
                         ms == ev->occurred_at_ms && off == ev->utc_offset_min,
                 "tecg_time_format_rfc3339: occurred_at %lld ms offset %d prints as \"%s\", "
                 "which parses to %lld ms offset %d (%s)",
                 (long long)ev->occurred_at_ms, (int)ev->utc_offset_min, text, (long long)ms,
                 (int)off, why ? why : "");
}

static void check_accepted(const tecg_event_t *ev) {
        size_t n = strnlen(ev->event_id, sizeof(ev->event_id));
        fz_check_event_shape("validated event", ev);
        FZ_CHECK(n >= 1 && n <= TECG_EVENT_ID_MAX, "event_id of %zu chars", n);
        for (size_t i = 0; i < n; i++)
                FZ_CHECK(id_char((unsigned char)ev->event_id[i]),
                         "event_id \"%s\" has a character outside [A-Za-z0-9._:-]", ev->event_id);
        FZ_CHECK(upper3(ev->nation) && tecg_nations_find(fz.nations, ev->nation),
                 "nation \"%s\" not in the list", ev->nation);
        FZ_CHECK(ev->utc_offset_min >= -(23 * 60 + 59) && ev->utc_offset_min <= 23 * 60 + 59,
                 "offset %d minutes", (int)ev->utc_offset_min);

        check_time(ev);
        if (ev->supersedes[0])
                check_ref("supersedes", ev->supersedes, ev);

        switch (ev->type) {
        case TECG_EV_FUNDING:
                check_money("amount", ev->u.funding.currency, ev->u.funding.amount_minor, 1);
                break;
        case TECG_EV_EQUIPMENT: {
                const tecg_equipment_t *e = &ev->u.equipment;
                check_text("item", e->item);
                FZ_CHECK(e->quantity >= 1, "quantity %lld", (long long)e->quantity);
                if (e->has_value)
                        check_money("value", e->currency, e->value_minor, 0);
                else
                        FZ_CHECK(e->currency[0] == '\0' && e->value_minor == 0,
                                 "currency \"%s\" / value %lld without has_value", e->currency,
                                 (long long)e->value_minor);
                break;
        }
        case TECG_EV_PERSONNEL:
                FZ_CHECK(ev->u.personnel.headcount >= 0, "headcount %d",
                         (int)ev->u.personnel.headcount);
                break;
        case TECG_EV_TRAINING:
                check_text("course", ev->u.training.course);
                if (ev->u.training.venue)
                        check_text("venue", ev->u.training.venue);
                FZ_CHECK(ev->u.training.trainees >= 1, "trainees %d", (int)ev->u.training.trainees);
                break;
        case TECG_EV_RETRACTION:
                check_ref("retracts", ev->u.retraction.retracts, ev);
                check_text_max("reason", ev->u.retraction.reason, TECG_REASON_MAX);
                break;
        default:
                break;
        }
}

static void check_refused(const char *who, tecg_err_t rc, const char *err, size_t err_size) {
        FZ_CHECK(rc == TECG_ERR_INVALID || rc == TECG_ERR_LIMIT || rc == TECG_ERR_NOMEM,
                 "%s: unexpected %s", who, tecg_err2str(rc));
        fz_check_reason(who, err, err_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *line = (const char *)data;
        char err[TECG_VALIDATE_ERRSTR_SIZE], err2[TECG_VALIDATE_ERRSTR_SIZE];
        tecg_event_t ev;
        fz_event_copy_t first = {0};
        tecg_err_t rc, rc2, rcs;
        const char *diff;

        fz_setup();

        rc = tecg_validate_line(fz.lenient, line, size, &ev, err, sizeof(err));
        if (rc == TECG_OK) {
                check_accepted(&ev);
                fz_event_copy(&first, &ev);
                fz_avro_round_trip(fz.avro, &first.ev, "validated event");
        } else
                check_refused("lenient validator", rc, err, sizeof(err));

        /* Same line, same answer. */
        rc2 = tecg_validate_line(fz.lenient, line, size, &ev, err2, sizeof(err2));
        FZ_CHECK(rc2 == rc, "second run: %s, first %s", tecg_err2str(rc2), tecg_err2str(rc));
        if (rc == TECG_OK) {
                diff = fz_event_diff(&first.ev, &ev);
                FZ_CHECK(diff == NULL, "second run: %s differs", diff);
        } else
                FZ_CHECK(strcmp(err, err2) == 0, "second run: reason \"%s\", first \"%s\"", err2,
                         err);

        /* The strict validator only refuses more. */
        rcs = tecg_validate_line(fz.strict, line, size, &ev, err2, sizeof(err2));
        if (rcs == TECG_OK) {
                FZ_CHECK(rc == TECG_OK, "strict accepts what lenient refuses (%s)", err);
                diff = fz_event_diff(&first.ev, &ev);
                FZ_CHECK(diff == NULL, "strict and lenient disagree on %s", diff);
                FZ_CHECK(strcmp(ev.nation, "DEU") == 0, "strict accepted nation %s", ev.nation);
        } else {
                check_refused("strict validator", rcs, err2, sizeof(err2));
                if (rc == TECG_OK && rcs == TECG_ERR_INVALID)
                        FZ_CHECK(strcmp(first.ev.nation, "DEU") != 0,
                                 "only strict refuses, not for a limit: %s", err2);
        }

        fz_event_copy_free(&first);
        return 0;
}
