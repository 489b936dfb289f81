/* What the fuzz targets of tests/fuzz/ share: invariant checks that abort
 * with a message, UTF-8 and reason checks, and deep copies of events.
 *
 * A failed check calls abort(): libFuzzer reports that as a crash and saves
 * the input; the replay runner (replay_main.c) dies with the same message,
 * so ctest fails. Everything here is static inline, so each target is its
 * fuzz_<name>.c plus this header. Names start with fz_. */
#ifndef TECG_FUZZ_H
#define TECG_FUZZ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_codec.h"
#include "buf.h"
#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn, format(printf, 3, 4))) static inline void
fz_fail(const char *file, int line, const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "\n==fuzz== ERROR: invariant broken at %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
        abort();
}

/* FZ_CHECK(cond, "fmt", ...): abort with the message unless cond holds. */
#define FZ_CHECK(cond, ...)                                                      \
        do {                                                                     \
                if (!(cond))                                                     \
                        fz_fail(__FILE__, __LINE__, "(" #cond ") " __VA_ARGS__); \
        } while (0)

/* Setup that cannot fail in a sane tree (a schema does not parse...). */
#define FZ_SETUP(cond, ...)                                          \
        do {                                                         \
                if (!(cond)) {                                       \
                        fprintf(stderr, "fuzz setup: " __VA_ARGS__); \
                        fputc('\n', stderr);                         \
                        exit(2);                                     \
                }                                                    \
        } while (0)

/* Length of the strict UTF-8 sequence at s (1-4), 0 when invalid: no
 * overlongs, no surrogates, nothing above U+10FFFF. An independent copy of
 * the rule, so a target does not check the code with itself. */
static inline size_t fz_utf8_seq(const unsigned char *s, size_t avail, unsigned *cp) {
        unsigned c = s[0], lo = 0x80, hi = 0xBF, v;
        size_t need;
        if (c < 0x80) {
                *cp = c;
                return 1;
        }
        if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
                v = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                v = c & 0x0F;
                lo = c == 0xE0 ? 0xA0 : 0x80;
                hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                v = c & 0x07;
                lo = c == 0xF0 ? 0x90 : 0x80;
                hi = c == 0xF4 ? 0x8F : 0xBF;
        } else
                return 0;
        if (avail <= need || s[1] < lo || s[1] > hi)
                return 0;
        for (size_t k = 1; k <= need; k++) {
                if ((s[k] & 0xC0) != 0x80)
                        return 0;
                v = (v << 6) | (s[k] & 0x3Fu);
        }
        *cp = v;
        return need + 1;
}

/* Code points of s[0..n), or -1 when it is not valid UTF-8. */
static inline long fz_utf8_count(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *)s;
        long count = 0;
        unsigned cp;
        for (size_t i = 0; i < n; count++) {
                size_t k = fz_utf8_seq(p + i, n - i, &cp);
                if (k == 0)
                        return -1;
                i += k;
        }
        return count;
}

/* An error reason as the user sees it: NUL-terminated inside its buffer,
 * not empty, one line of valid UTF-8 without control characters. */
static inline void fz_check_reason(const char *what, const char *errstr, size_t errstr_size) {
        size_t n = strnlen(errstr, errstr_size);
        FZ_CHECK(n < errstr_size, "%s: reason not NUL-terminated", what);
        FZ_CHECK(n > 0, "%s: empty reason", what);
        FZ_CHECK(fz_utf8_count(errstr, n) >= 0, "%s: reason is not valid UTF-8: %s", what, errstr);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)errstr[i];
                FZ_CHECK(c >= 0x20 && c != 0x7f,
                         "%s: control character 0x%02X at %zu in reason: %s", what, c, i, errstr);
        }
}

/* A NUL-terminated fixed-size field holding at most max chars. */
static inline bool fz_fixed_ok(const char *field, size_t size, size_t max) {
        size_t n = strnlen(field, size);
        return n < size && n <= max;
}

/* ------------------------------------------------------------ events */

/* An event with its own copies of the strings it borrows, so it survives
 * the next call of the validator or decoder that filled it. */
typedef struct {
        tecg_event_t ev;
        char *text1; /* item or course */
        char *text2; /* venue */
} fz_event_copy_t;

static inline char *fz_strdup(const char *s) {
        if (!s)
                return NULL;
        char *d = strdup(s);
        FZ_CHECK(d != NULL, "out of memory");
        return d;
}

static inline void fz_event_copy(fz_event_copy_t *dst, const tecg_event_t *src) {
        memset(dst, 0, sizeof(*dst));
        dst->ev = *src;
        if (src->type == TECG_EV_EQUIPMENT)
                dst->ev.u.equipment.item = dst->text1 = fz_strdup(src->u.equipment.item);
        else if (src->type == TECG_EV_TRAINING) {
                dst->ev.u.training.course = dst->text1 = fz_strdup(src->u.training.course);
                dst->ev.u.training.venue = dst->text2 = fz_strdup(src->u.training.venue);
        } else if (src->type == TECG_EV_RETRACTION)
                dst->ev.u.retraction.reason = dst->text1 = fz_strdup(src->u.retraction.reason);
}

static inline void fz_event_copy_free(fz_event_copy_t *c) {
        free(c->text1);
        free(c->text2);
        memset(c, 0, sizeof(*c));
}

static inline bool fz_str_eq(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

/* The field that differs between two events, or NULL when they are equal
 * (strings by content). */
static inline const char *fz_event_diff(const tecg_event_t *a, const tecg_event_t *b) {
        if (a->type != b->type)
                return "type";
        if (strcmp(a->event_id, b->event_id))
                return "event_id";
        if (strcmp(a->nation, b->nation))
                return "nation";
        if (a->occurred_at_ms != b->occurred_at_ms)
                return "occurred_at_ms";
        if (a->utc_offset_min != b->utc_offset_min)
                return "utc_offset_min";
        if (strcmp(a->supersedes, b->supersedes))
                return "supersedes";
        switch (a->type) {
        case TECG_EV_FUNDING: {
                const tecg_funding_t *x = &a->u.funding, *y = &b->u.funding;
                if (x->amount_minor != y->amount_minor)
                        return "amount_minor";
                if (strcmp(x->currency, y->currency))
                        return "currency";
                if (x->channel != y->channel)
                        return "channel";
                if (x->stage != y->stage)
                        return "stage";
                return NULL;
        }
        case TECG_EV_EQUIPMENT: {
                const tecg_equipment_t *x = &a->u.equipment, *y = &b->u.equipment;
                if (!fz_str_eq(x->item, y->item))
                        return "item";
                if (x->category != y->category)
                        return "category";
                if (x->quantity != y->quantity)
                        return "quantity";
                if (x->has_value != y->has_value)
                        return "has_value";
                if (x->has_value && x->value_minor != y->value_minor)
                        return "value_minor";
                if (strcmp(x->currency, y->currency))
                        return "currency";
                if (x->stage != y->stage)
                        return "stage";
                return NULL;
        }
        case TECG_EV_PERSONNEL: {
                const tecg_personnel_t *x = &a->u.personnel, *y = &b->u.personnel;
                if (x->role != y->role)
                        return "role";
                if (x->location != y->location)
                        return "location";
                if (x->headcount != y->headcount)
                        return "headcount";
                return NULL;
        }
        case TECG_EV_TRAINING: {
                const tecg_training_t *x = &a->u.training, *y = &b->u.training;
                if (!fz_str_eq(x->course, y->course))
                        return "course";
                if (x->level != y->level)
                        return "level";
                if (x->location != y->location)
                        return "location";
                if (!fz_str_eq(x->venue, y->venue))
                        return "venue";
                if (x->trainees != y->trainees)
                        return "trainees";
                return NULL;
        }
        case TECG_EV_RETRACTION: {
                const tecg_retraction_t *x = &a->u.retraction, *y = &b->u.retraction;
                if (strcmp(x->retracts, y->retracts))
                        return "retracts";
                if (x->retracts_type != y->retracts_type)
                        return "retracts_type";
                if (!fz_str_eq(x->reason, y->reason))
                        return "reason";
                return NULL;
        }
        default:
                return NULL;
        }
}

/* What every event that leaves a parser holds, whoever filled it: type
 * and enums in range, fixed-size strings terminated, text present and
 * valid UTF-8 without NUL bytes inside. The contract rules beyond that
 * (event_id charset, nation list, amounts > 0) are the validator's and
 * are checked by its target. */
static inline void fz_check_event_shape(const char *what, const tecg_event_t *ev) {
        FZ_CHECK((unsigned)ev->type < TECG_EV__COUNT, "%s: type %d", what, (int)ev->type);
        FZ_CHECK(fz_fixed_ok(ev->event_id, sizeof(ev->event_id), TECG_EVENT_ID_MAX),
                 "%s: event_id not terminated", what);
        FZ_CHECK(fz_fixed_ok(ev->nation, sizeof(ev->nation), 3), "%s: nation not terminated", what);
        FZ_CHECK(fz_fixed_ok(ev->supersedes, sizeof(ev->supersedes), TECG_EVENT_ID_MAX),
                 "%s: supersedes not terminated", what);
        FZ_CHECK(ev->type != TECG_EV_RETRACTION || ev->supersedes[0] == '\0',
                 "%s: a retraction with supersedes", what);
        switch (ev->type) {
        case TECG_EV_FUNDING:
                FZ_CHECK(fz_fixed_ok(ev->u.funding.currency, 4, 3), "%s: currency", what);
                FZ_CHECK((unsigned)ev->u.funding.channel < TECG_CH__COUNT, "%s: channel", what);
                FZ_CHECK((unsigned)ev->u.funding.stage < TECG_FS__COUNT, "%s: stage", what);
                break;
        case TECG_EV_EQUIPMENT:
                FZ_CHECK(ev->u.equipment.item != NULL, "%s: item NULL", what);
                FZ_CHECK(fz_utf8_count(ev->u.equipment.item, strlen(ev->u.equipment.item)) >= 0,
                         "%s: item not UTF-8", what);
                FZ_CHECK(fz_fixed_ok(ev->u.equipment.currency, 4, 3), "%s: currency", what);
                FZ_CHECK((unsigned)ev->u.equipment.category < TECG_CAT__COUNT, "%s: category",
                         what);
                FZ_CHECK((unsigned)ev->u.equipment.stage < TECG_ES__COUNT, "%s: stage", what);
                break;
        case TECG_EV_PERSONNEL:
                FZ_CHECK((unsigned)ev->u.personnel.role < TECG_ROLE__COUNT, "%s: role", what);
                FZ_CHECK((unsigned)ev->u.personnel.location < TECG_LOC__COUNT, "%s: location",
                         what);
                break;
        case TECG_EV_TRAINING:
                FZ_CHECK(ev->u.training.course != NULL, "%s: course NULL", what);
                FZ_CHECK(fz_utf8_count(ev->u.training.course, strlen(ev->u.training.course)) >= 0,
                         "%s: course not UTF-8", what);
                FZ_CHECK(!ev->u.training.venue || fz_utf8_count(ev->u.training.venue,
                                                                strlen(ev->u.training.venue)) >= 0,
                         "%s: venue not UTF-8", what);
                FZ_CHECK((unsigned)ev->u.training.level < TECG_LVL__COUNT, "%s: level", what);
                FZ_CHECK((unsigned)ev->u.training.location < TECG_LOC__COUNT, "%s: location", what);
                break;
        case TECG_EV_RETRACTION:
                FZ_CHECK(fz_fixed_ok(ev->u.retraction.retracts, sizeof(ev->u.retraction.retracts),
                                     TECG_EVENT_ID_MAX),
                         "%s: retracts not terminated", what);
                FZ_CHECK((unsigned)ev->u.retraction.retracts_type < TECG_EV__COUNTED,
                         "%s: retracts_type", what);
                FZ_CHECK(ev->u.retraction.reason != NULL, "%s: reason NULL", what);
                FZ_CHECK(fz_utf8_count(ev->u.retraction.reason, strlen(ev->u.retraction.reason)) >=
                                 0,
                         "%s: reason not UTF-8", what);
                break;
        default:
                break;
        }
}

/* Encodes ev (whose strings must not belong to `avro`: decoding replaces
 * them), decodes the message and checks that the same event comes back and
 * that encoding it again gives the same bytes. */
static inline void fz_avro_round_trip(tecg_avro_t *avro, const tecg_event_t *ev, const char *what) {
        tecg_buf_t b1 = TECG_BUF_INIT, b2 = TECG_BUF_INIT;
        tecg_event_t back;
        char err[512] = "";
        const char *diff;

        FZ_CHECK(tecg_avro_encode_event(avro, ev, &b1, err, sizeof(err)) == TECG_OK,
                 "%s: cannot encode the event: %s", what, err);
        FZ_CHECK(tecg_avro_decode_event(avro, b1.data, b1.len, &back, err, sizeof(err)) == TECG_OK,
                 "%s: cannot decode what was encoded: %s", what, err);
        diff = fz_event_diff(ev, &back);
        FZ_CHECK(diff == NULL, "%s: %s differs after encode + decode", what, diff);
        FZ_CHECK(tecg_avro_encode_event(avro, &back, &b2, err, sizeof(err)) == TECG_OK,
                 "%s: cannot encode the decoded event: %s", what, err);
        FZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0,
                 "%s: encoding the decoded event gives other bytes", what);
        tecg_buf_free(&b1);
        tecg_buf_free(&b2);
}

/* The nations of deploy/nations.csv as the targets parse them, kept here so
 * a target needs no file. */
static const char fuzz_nations_csv[] =
        "code,name,status\n"
        "BEL,Belgium,member\nBGR,Bulgaria,member\nCAN,Canada,member\n"
        "CZE,Czech Republic,member\nDNK,Denmark,member\nEST,Estonia,member\n"
        "FRA,France,member\nDEU,Germany,member\nGRC,Greece,member\n"
        "HUN,Hungary,member\nISL,Iceland,member\nITA,Italy,member\n"
        "LVA,Latvia,member\nLTU,Lithuania,member\nLUX,Luxembourg,member\n"
        "NLD,Netherlands,member\nNOR,Norway,member\nPOL,Poland,member\n"
        "PRT,Portugal,member\nROU,Romania,member\nSVK,Slovakia,member\n"
        "SVN,Slovenia,member\nESP,Spain,member\nTUR,Turkey,member\n"
        "GBR,United Kingdom,member\nUSA,United States,member\n"
        "UKR,Ukraine,partner\n";

#endif
