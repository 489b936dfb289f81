/* NDJSON line validator (docs/design.md §2). See validate.h for the order of checks
 * and the rule decisions; this file keeps them. */
#include "validate.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "json_flat.h"
#include "utf8.h"

/* Every field any event type may carry. The per-type masks below say which
 * belong to which type; anything else is an unknown field. */
typedef enum {
        F_TYPE = 0,
        F_EVENT_ID,
        F_NATION,
        F_OCCURRED_AT,
        F_AMOUNT,
        F_CURRENCY,
        F_CHANNEL,
        F_STAGE,
        F_ITEM,
        F_CATEGORY,
        F_QUANTITY,
        F_VALUE,
        F_ROLE,
        F_LOCATION,
        F_HEADCOUNT,
        F_COURSE,
        F_LEVEL,
        F_VENUE,
        F_TRAINEES,
        F_SUPERSEDES,
        F_RETRACTS,
        F_RETRACTS_TYPE,
        F_REASON,
        F__COUNT
} field_t;

static const char *const field_names[F__COUNT] = {
        "type",     "event_id",   "nation",    "occurred_at",   "amount",   "currency",
        "channel",  "stage",      "item",      "category",      "quantity", "value",
        "role",     "location",   "headcount", "course",        "level",    "venue",
        "trainees", "supersedes", "retracts",  "retracts_type", "reason"};

#define BIT(f) (1u << (f))
#define COMMON_FIELDS (BIT(F_TYPE) | BIT(F_EVENT_ID) | BIT(F_NATION) | BIT(F_OCCURRED_AT))

/* `supersedes` belongs to the four counted types: a retraction takes back
 * an event, it does not replace one. */
#define COUNTED_FIELDS (COMMON_FIELDS | BIT(F_SUPERSEDES))

static const unsigned type_fields[TECG_EV__COUNT] = {
        [TECG_EV_FUNDING] =
                COUNTED_FIELDS | BIT(F_AMOUNT) | BIT(F_CURRENCY) | BIT(F_CHANNEL) | BIT(F_STAGE),
        [TECG_EV_EQUIPMENT] = COUNTED_FIELDS | BIT(F_ITEM) | BIT(F_CATEGORY) | BIT(F_QUANTITY) |
                              BIT(F_VALUE) | BIT(F_CURRENCY) | BIT(F_STAGE),
        [TECG_EV_PERSONNEL] = COUNTED_FIELDS | BIT(F_ROLE) | BIT(F_LOCATION) | BIT(F_HEADCOUNT),
        [TECG_EV_TRAINING] = COUNTED_FIELDS | BIT(F_COURSE) | BIT(F_LEVEL) | BIT(F_LOCATION) |
                             BIT(F_VENUE) | BIT(F_TRAINEES),
        [TECG_EV_RETRACTION] =
                COMMON_FIELDS | BIT(F_RETRACTS) | BIT(F_RETRACTS_TYPE) | BIT(F_REASON),
};

struct tecg_validator {
        const tecg_nations_t *nations;
        char own[4]; /* "" = any listed nation */
        tecg_validate_limits_t limits;
        tecg_json_flat_t *json; /* owns the last line's strings (ev's
                                 * borrowed ones) */
};

/* Longest value echoed in a reason, in code points. */
#define QUOTE_MAX_CHARS 64

void tecg_validate_limits_init(tecg_validate_limits_t *l) {
        l->max_line_bytes = TECG_VALIDATE_MAX_LINE_DEFAULT;
        l->max_depth = TECG_VALIDATE_MAX_DEPTH_DEFAULT;
        l->max_string_bytes = TECG_VALIDATE_MAX_STRING_DEFAULT;
}

tecg_validator_t *tecg_validator_new(const tecg_nations_t *nations, const char *own_nation,
                                     const tecg_validate_limits_t *limits, char *errstr,
                                     size_t errstr_size) {
        tecg_validator_t *v = NULL;
        if (!nations) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "validator: no nations list");
                return NULL;
        }
        if (own_nation && !tecg_nations_find(nations, own_nation)) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "validator: own nation \"%.8s\" is not in the nations list",
                            own_nation);
                return NULL;
        }
        if (limits && (limits->max_line_bytes == 0 || limits->max_depth <= 0 ||
                       limits->max_string_bytes == 0)) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "validator: limits must all be > 0");
                return NULL;
        }
        v = calloc(1, sizeof(*v));
        if (!v) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "validator: out of memory");
                return NULL;
        }
        v->nations = nations;
        if (own_nation)
                memcpy(v->own, own_nation, 4);
        if (limits)
                v->limits = *limits;
        else
                tecg_validate_limits_init(&v->limits);
        v->json = tecg_json_flat_new(v->limits.max_depth);
        if (!v->json) {
                free(v);
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "validator: out of memory");
                return NULL;
        }
        return v;
}

void tecg_validator_destroy(tecg_validator_t *v) {
        if (!v)
                return;
        tecg_json_flat_destroy(v->json);
        free(v);
}

/* ------------------------------------------------------------------ */
/* Reasons                                                             */
/* ------------------------------------------------------------------ */

/* Code points a reader cannot see or that break a line: C1 controls,
 * Unicode spaces other than ' ', format characters (zero-width, bidi
 * controls, BOM) and line/paragraph separators. A reason shows them as
 * \uXXXX, so "2005-02-22T09:00:00\u00A0Z" does not look like a plain
 * space. */
static int invisible(unsigned cp) {
        return (cp >= 0x80 && cp <= 0xA0) || cp == 0xAD || cp == 0x061C || cp == 0x1680 ||
               cp == 0x180E || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
               (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF ||
               (cp >= 0xFFF9 && cp <= 0xFFFB) || (cp >= 0xE0000 && cp <= 0xE007F);
}

/* Writes s into out, escaped and possibly shortened, so a reason never
 * carries control characters, line breaks or invalid UTF-8: controls and
 * invisible code points become \uXXXX (\u{XXXXX} above the BMP), invalid
 * bytes \xNN, and the text is cut after QUOTE_MAX_CHARS code points with
 * "...". With a `delim` (' or ") the text is wrapped in it and the delimiter
 * and backslash are backslash-escaped. Other non-ASCII text is kept, so a
 * French item name stays readable. */
static const char *quote_d(char *out, size_t outsz, const char *str, size_t n, char delim) {
        const unsigned char *s = (const unsigned char *)str;
        size_t o = 0, i = 0, chars = 0;
        /* Room for the worst escape (\u{E007F}: 9), "...", the closing
         * delimiter and the NUL. */
        const size_t reserve = 9 + 3 + 1 + 1;
        if (outsz < reserve + 1) {
                if (outsz)
                        out[0] = '\0';
                return out;
        }
        if (delim)
                out[o++] = delim;
        while (i < n) {
                if (chars == QUOTE_MAX_CHARS || o + reserve >= outsz) {
                        memcpy(out + o, "...", 3);
                        o += 3;
                        break;
                }
                size_t k = tecg_utf8_seq(s + i, n - i);
                unsigned c = s[i];
                if (k == 0) {
                        o += (size_t)snprintf(out + o, outsz - o, "\\x%02X", c);
                        i++;
                } else if (k == 1) {
                        if (c < 0x20 || c == 0x7f)
                                o += (size_t)snprintf(out + o, outsz - o, "\\u%04X", c);
                        else if (delim && (c == (unsigned char)delim || c == '\\')) {
                                out[o++] = '\\';
                                out[o++] = (char)c;
                        } else
                                out[o++] = (char)c;
                        i++;
                } else {
                        unsigned cp;
                        if (k == 2)
                                cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
                        else if (k == 3)
                                cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) |
                                     (s[i + 2] & 0x3Fu);
                        else
                                cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) |
                                     ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
                        if (invisible(cp))
                                o += (size_t)snprintf(out + o, outsz - o,
                                                      cp > 0xFFFF ? "\\u{%X}" : "\\u%04X", cp);
                        else {
                                memcpy(out + o, s + i, k);
                                o += k;
                        }
                        i += k;
                }
                chars++;
        }
        if (delim)
                out[o++] = delim;
        out[o] = '\0';
        return out;
}

/* A value in a reason: "like this". */
static const char *quote(char *out, size_t outsz, const char *s, size_t n) {
        return quote_d(out, outsz, s, n, '"');
}

static const char *json_type_name(const tecg_json_flat_value_t *j) {
        switch (j->kind) {
        case TECG_JSON_FLAT_OBJECT:
                return "object";
        case TECG_JSON_FLAT_ARRAY:
                return "array";
        case TECG_JSON_FLAT_STRING:
                return "string";
        case TECG_JSON_FLAT_INTEGER:
                return "integer";
        case TECG_JSON_FLAT_REAL:
                return "number with a fraction or exponent";
        case TECG_JSON_FLAT_TRUE:
        case TECG_JSON_FLAT_FALSE:
                return "boolean";
        case TECG_JSON_FLAT_NULL:
                return "null";
        }
        return "unknown";
}

static void field_errf(char *errstr, size_t errstr_size, field_t f, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* "field 'NAME': " + the rule in errstr, and TECG_ERR_INVALID. A macro
 * over a void formatter, so that the code is in plain sight: the static
 * analyzer does not look into variadic functions, and took a refused field
 * for a TECG_OK that leaves the caller's out-parameters unset. */
#define field_err(errstr, errstr_size, f, ...) \
        (field_errf((errstr), (errstr_size), (f), __VA_ARGS__), (tecg_err_t)TECG_ERR_INVALID)

static void field_errf(char *errstr, size_t errstr_size, field_t f, const char *fmt, ...) {
        if (errstr && errstr_size > 0) {
                int n = snprintf(errstr, errstr_size, "field '%s': ", field_names[f]);
                if (n >= 0 && (size_t)n < errstr_size) {
                        va_list ap;
                        va_start(ap, fmt);
                        vsnprintf(errstr + n, errstr_size - (size_t)n, fmt, ap);
                        va_end(ap);
                }
        }
}

/* ------------------------------------------------------------------ */
/* Byte-level scan                                                     */
/* ------------------------------------------------------------------ */

/* Bytes the scan must look at, outside and inside JSON strings; everything
 * else is skipped in a tight loop (this scan is on the producer's hot path:
 * most bytes of a line are plain ASCII inside strings). */
static const unsigned char scan_out[256] = {
        [0] = 1,    ['"'] = 1,  ['{'] = 1, ['['] = 1, ['}'] = 1, [']'] = 1,
#define HI8(x)                                                                                \
        [(x)] = 1, [(x) + 1] = 1, [(x) + 2] = 1, [(x) + 3] = 1, [(x) + 4] = 1, [(x) + 5] = 1, \
        [(x) + 6] = 1, [(x) + 7] = 1
#define HI64(x)                                                                           \
        HI8(x), HI8((x) + 8), HI8((x) + 16), HI8((x) + 24), HI8((x) + 32), HI8((x) + 40), \
                HI8((x) + 48), HI8((x) + 56)
        HI64(0x80), HI64(0xC0),
};
static const unsigned char scan_in[256] = {
        [0] = 1, ['"'] = 1, ['\\'] = 1, HI64(0x80), HI64(0xC0),
#undef HI64
#undef HI8
};

/* Whether scan_bytes() below can only pass, found without following the
 * strings: plain ASCII without NUL, no more '{' and '[' bytes in all than
 * the depth limit, and the whole line no longer than the string limit. So
 * the common line costs a branch-free pass instead of a branch per string
 * (a third of the validator's time); any other line is scanned in full. */
static int plain_line(const tecg_validator_t *v, const unsigned char *s, size_t n) {
        size_t i = 0, opens = 0;
        unsigned bad = 0;
        if (n > v->limits.max_string_bytes)
                return 0;
#if defined(__SSE2__)
        {
                const __m128i zero = _mm_setzero_si128(), brace = _mm_set1_epi8('{'),
                              bracket = _mm_set1_epi8('[');
                for (; i + 16 <= n; i += 16) {
                        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
                        /* High bit set: non-ASCII; equal to 0: NUL. */
                        bad |= (unsigned)_mm_movemask_epi8(
                                _mm_or_si128(x, _mm_cmpeq_epi8(x, zero)));
                        opens +=
                                (size_t)__builtin_popcount((unsigned)_mm_movemask_epi8(_mm_or_si128(
                                        _mm_cmpeq_epi8(x, brace), _mm_cmpeq_epi8(x, bracket))));
                }
        }
#endif
        for (; i < n; i++) {
                bad |= (unsigned)(s[i] == 0) | (unsigned)(s[i] >> 7);
                opens += (size_t)(s[i] == '{') + (size_t)(s[i] == '[');
        }
        return !bad && opens <= (size_t)v->limits.max_depth;
}

/* One pass over the raw line before the parser sees it: NUL bytes, UTF-8,
 * and the depth and string-size limits, each with the byte offset of the
 * first offence, whatever JSON error may come earlier in the line. String
 * state is tracked only well enough to skip brackets inside strings; a
 * malformed line that confuses it is rejected by the parser right after. */
static tecg_err_t scan_bytes(const tecg_validator_t *v, const unsigned char *s, size_t n,
                             char *errstr, size_t errstr_size) {
        int depth = 0, in_str = 0;
        size_t str_start = 0, i = 0;
        if (plain_line(v, s, n))
                return TECG_OK;
        for (;;) {
                const unsigned char *cls = in_str ? scan_in : scan_out;
                while (i < n && !cls[s[i]])
                        i++;
                if (i >= n)
                        break;
                unsigned c = s[i];
                if (c >= 0x80) {
                        size_t k = tecg_utf8_seq(s + i, n - i);
                        if (k == 0)
                                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                                   "invalid UTF-8 at byte offset %zu", i);
                        i += k;
                        continue;
                }
                if (c == 0)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "NUL byte at byte offset %zu", i);
                if (in_str) {
                        if (c == '\\') {
                                /* The escaped byte is skipped unless it is one
                                 * the scan must see (NUL, non-ASCII). */
                                i++;
                                if (i < n && (s[i] == 0 || s[i] >= 0x80))
                                        continue;
                        } else { /* '"' */
                                in_str = 0;
                                if (i - str_start > v->limits.max_string_bytes)
                                        goto long_string;
                        }
                } else if (c == '"') {
                        in_str = 1;
                        str_start = i + 1;
                } else if (c == '{' || c == '[') {
                        if (++depth > v->limits.max_depth)
                                return tecg_seterr(TECG_ERR_LIMIT, errstr, errstr_size,
                                                   "JSON nesting deeper than limits.json.depth "
                                                   "(%d) at byte offset %zu",
                                                   v->limits.max_depth, i);
                } else if (depth > 0) /* '}' or ']' */
                        depth--;
                i++;
        }
        if (in_str && n - str_start > v->limits.max_string_bytes)
                goto long_string;
        return TECG_OK;
long_string:
        return tecg_seterr(TECG_ERR_LIMIT, errstr, errstr_size,
                           "string at byte offset %zu is longer than "
                           "limits.string.bytes (%zu bytes)",
                           str_start - 1, v->limits.max_string_bytes);
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

int tecg_validate_decimal(const char *s, size_t len, int digits, int64_t *minor) {
        size_t i = 0, int_end, frac_digits = 0;
        if (len == 0 || s[0] < '0' || s[0] > '9')
                return -1;
        while (i < len && s[i] >= '0' && s[i] <= '9')
                i++;
        int_end = i;
        /* Leading zeros are rejected as in JSON numbers: "0" and "0.5" yes,
         * "00" and "01.5" no — they look like another notation (octal,
         * fixed-width fields) and are more likely a bug upstream. */
        if (s[0] == '0' && int_end > 1)
                return -1;
        if (i < len) {
                if (s[i] != '.')
                        return -1;
                i++;
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                        i++;
                        frac_digits++;
                }
                if (frac_digits == 0 || i != len)
                        return -1;
        }
        if (digits < 0 || frac_digits > (size_t)digits)
                return -1;

        int64_t v = 0;
        for (size_t k = 0; k < len; k++) {
                if (s[k] == '.')
                        continue;
                if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[k] - '0', &v))
                        return -2;
        }
        for (size_t k = frac_digits; k < (size_t)digits; k++)
                if (__builtin_mul_overflow(v, 10, &v))
                        return -2;
        *minor = v;
        return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no timegm(), no TZ or locale involved. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

static int is_leap(unsigned y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int digits_at(const char *s, size_t n, unsigned *out) {
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        *out = v;
        return 0;
}

int tecg_validate_time(const char *s, size_t len, int64_t *utc_ms, int32_t *offset_min,
                       const char **why) {
        static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        unsigned Y, M, D, h, mi, sec, oh = 0, om = 0, ms = 0;
        size_t i;
        int sign = 1;

        /* YYYY-MM-DDThh:mm:ss is fixed width: 19 characters. */
        if (len < 19 || digits_at(s, 4, &Y) || s[4] != '-' || digits_at(s + 5, 2, &M) ||
            s[7] != '-' || digits_at(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
            digits_at(s + 11, 2, &h) || s[13] != ':' || digits_at(s + 14, 2, &mi) || s[16] != ':' ||
            digits_at(s + 17, 2, &sec)) {
                *why = "not of the form YYYY-MM-DDThh:mm:ss";
                return -1;
        }
        if (M < 1 || M > 12) {
                *why = "month must be 01-12";
                return -1;
        }
        if (D < 1 || D > (unsigned)(mdays[M - 1] + (M == 2 && is_leap(Y)))) {
                *why = "no such day in that month";
                return -1;
        }
        if (h > 23) {
                *why = "hour must be 00-23";
                return -1;
        }
        if (mi > 59) {
                *why = "minute must be 00-59";
                return -1;
        }
        if (sec > 60) {
                *why = "second must be 00-60";
                return -1;
        }
        i = 19;
        if (i < len && s[i] == '.') {
                size_t f0 = ++i;
                while (i < len && s[i] >= '0' && s[i] <= '9')
                        i++;
                size_t nf = i - f0;
                if (nf < 1 || nf > 9) {
                        *why = "fraction of a second must have 1-9 digits";
                        return -1;
                }
                /* Keep milliseconds, truncate the rest (no rounding into the
                 * next second). */
                for (size_t k = 0; k < 3; k++)
                        ms = ms * 10 + (k < nf ? (unsigned)(s[f0 + k] - '0') : 0);
        }
        if (i >= len) {
                *why = "missing UTC offset (Z or +hh:mm)";
                return -1;
        }
        if (s[i] == 'Z' || s[i] == 'z') {
                i++;
        } else if (s[i] == '+' || s[i] == '-') {
                sign = s[i] == '-' ? -1 : 1;
                if (len - i < 6 || digits_at(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
                    digits_at(s + i + 4, 2, &om)) {
                        *why = "UTC offset must be Z or +hh:mm or -hh:mm";
                        return -1;
                }
                if (oh > 23) {
                        *why = "UTC offset hours must be 00-23";
                        return -1;
                }
                if (om > 59) {
                        *why = "UTC offset minutes must be 00-59";
                        return -1;
                }
                i += 6;
        } else {
                *why = "missing UTC offset (Z or +hh:mm)";
                return -1;
        }
        if (i != len) {
                *why = "unexpected text after the UTC offset";
                return -1;
        }

        int32_t off = sign * (int32_t)(oh * 60 + om);
        int64_t days = days_from_civil(Y, M, D);
        if (sec == 60) {
                /* A leap second exists only at the end of a UTC day in June
                 * or December (RFC 3339 5.7); elsewhere it is a typo. */
                int64_t min_of_day = (int64_t)h * 60 + mi - off;
                int64_t udays = days + (min_of_day < 0 ? -1 : min_of_day >= 1440 ? 1 : 0);
                int64_t umin = (min_of_day % 1440 + 1440) % 1440;
                int ok = 0;
                for (int64_t y = (int64_t)Y - 1; y <= (int64_t)Y + 1 && !ok; y++)
                        ok = udays == days_from_civil(y, 6, 30) ||
                             udays == days_from_civil(y, 12, 31);
                if (!ok || umin != 1439) {
                        *why = "second 60 is only allowed at 23:59:60 UTC on 30 June or 31 December";
                        return -1;
                }
                sec = 59;
                ms = 999;
        }
        int64_t secs =
                days * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec - (int64_t)off * 60;
        *utc_ms = secs * 1000 + ms;
        *offset_min = off;
        return 0;
}

/* ------------------------------------------------------------------ */
/* Fields                                                              */
/* ------------------------------------------------------------------ */

static field_t field_lookup(const char *k, size_t n) {
        /* Switch on the first letter: a few compares instead of 19. Keys
         * are NUL-terminated, so k[0] of "" is 0. */
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(k, lit, sizeof(lit) - 1) == 0)
        switch (k[0]) {
        case 'a':
                if (IS("amount"))
                        return F_AMOUNT;
                break;
        case 'c':
                if (IS("currency"))
                        return F_CURRENCY;
                if (IS("channel"))
                        return F_CHANNEL;
                if (IS("category"))
                        return F_CATEGORY;
                if (IS("course"))
                        return F_COURSE;
                break;
        case 'e':
                if (IS("event_id"))
                        return F_EVENT_ID;
                break;
        case 'h':
                if (IS("headcount"))
                        return F_HEADCOUNT;
                break;
        case 'i':
                if (IS("item"))
                        return F_ITEM;
                break;
        case 'l':
                if (IS("location"))
                        return F_LOCATION;
                if (IS("level"))
                        return F_LEVEL;
                break;
        case 'n':
                if (IS("nation"))
                        return F_NATION;
                break;
        case 'o':
                if (IS("occurred_at"))
                        return F_OCCURRED_AT;
                break;
        case 'q':
                if (IS("quantity"))
                        return F_QUANTITY;
                break;
        case 'r':
                if (IS("role"))
                        return F_ROLE;
                if (IS("retracts"))
                        return F_RETRACTS;
                if (IS("retracts_type"))
                        return F_RETRACTS_TYPE;
                if (IS("reason"))
                        return F_REASON;
                break;
        case 's':
                if (IS("stage"))
                        return F_STAGE;
                if (IS("supersedes"))
                        return F_SUPERSEDES;
                break;
        case 't':
                if (IS("type"))
                        return F_TYPE;
                if (IS("trainees"))
                        return F_TRAINEES;
                break;
        case 'v':
                if (IS("value"))
                        return F_VALUE;
                if (IS("venue"))
                        return F_VENUE;
                break;
        }
#undef IS
        return F__COUNT;
}

/* Everything a field check needs: the slots and where reasons go. */
typedef struct {
        const tecg_json_flat_value_t *f[F__COUNT];
        tecg_event_type_t type;
        char *errstr;
        size_t errstr_size;
} line_t;

static tecg_err_t need_string(line_t *L, field_t f, const char **s, size_t *n) {
        const tecg_json_flat_value_t *j = L->f[f];
        if (!j) {
                if (BIT(f) & COMMON_FIELDS)
                        return field_err(L->errstr, L->errstr_size, f, "is required");
                return field_err(L->errstr, L->errstr_size, f, "is required for type %s",
                                 tecg_event_type_names[L->type]);
        }
        if (j->kind != TECG_JSON_FLAT_STRING)
                return field_err(L->errstr, L->errstr_size, f, "must be a string (got %s)",
                                 json_type_name(j));
        *s = j->str;
        *n = j->str_len;
        return TECG_OK;
}

static tecg_err_t need_enum(line_t *L, field_t f, const char *const *names, int count, int *out) {
        const char *s = NULL;
        size_t n = 0;
        tecg_err_t err = need_string(L, f, &s, &n);
        if (err)
                return err;
        int idx = tecg_enum_lookup(names, count, s);
        if (idx < 0) {
                char alts[160], q[300];
                size_t o = 0;
                for (int i = 0; i < count && o < sizeof(alts); i++)
                        o += (size_t)snprintf(alts + o, sizeof(alts) - o, "%s%s", i ? "|" : "",
                                              names[i]);
                return field_err(L->errstr, L->errstr_size, f, "must be one of %s (got %s)", alts,
                                 quote(q, sizeof(q), s, n));
        }
        *out = idx;
        return TECG_OK;
}

/* An integer in [lo, hi]; JSON reals (1.0, 1e3), strings and booleans are
 * not integers, whatever their value. */
static tecg_err_t need_int(line_t *L, field_t f, int64_t lo, int64_t hi, const char *rule,
                           int64_t *out) {
        const tecg_json_flat_value_t *j = L->f[f];
        if (!j)
                return field_err(L->errstr, L->errstr_size, f, "is required for type %s",
                                 tecg_event_type_names[L->type]);
        if (j->kind != TECG_JSON_FLAT_INTEGER)
                return field_err(L->errstr, L->errstr_size, f, "must be %s (got %s)", rule,
                                 json_type_name(j));
        int64_t x = j->integer;
        if (x < lo || x > hi)
                return field_err(L->errstr, L->errstr_size, f, "must be %s (got %lld)", rule,
                                 (long long)x);
        *out = x;
        return TECG_OK;
}

/* A text of 1-`max` Unicode code points (not bytes: "Ärzteset" is 8):
 * TECG_TEXT_MAX for item, course and venue, TECG_REASON_MAX for a
 * retraction's reason. */
static tecg_err_t need_text_max(line_t *L, field_t f, size_t max, const char **out) {
        const char *s = NULL;
        size_t n = 0, chars;
        tecg_err_t err = need_string(L, f, &s, &n);
        if (err)
                return err;
        chars = tecg_utf8_count(s, n);
        if (chars < 1 || chars > max)
                return field_err(L->errstr, L->errstr_size, f,
                                 "must be 1-%zu characters long (got %zu)", max, chars);
        *out = s;
        return TECG_OK;
}

static tecg_err_t need_text(line_t *L, field_t f, const char **out) {
        return need_text_max(L, f, TECG_TEXT_MAX, out);
}

/* An event_id as a value (event_id itself, supersedes, retracts): the rule,
 * then what broke it. */
static tecg_err_t need_id(line_t *L, field_t f, char out[TECG_EVENT_ID_MAX + 1]) {
        const char *s = NULL;
        size_t n = 0;
        char q[300];
        const char *why;
        tecg_err_t err = need_string(L, f, &s, &n);
        if (err)
                return err;
        if ((why = tecg_event_id_check(s, n))) {
                if (n == 0)
                        return field_err(L->errstr, L->errstr_size, f, "%s (got an empty string)",
                                         why);
                if (n > TECG_EVENT_ID_MAX)
                        return field_err(L->errstr, L->errstr_size, f, "%s (got %zu bytes)", why,
                                         n);
                return field_err(L->errstr, L->errstr_size, f, "%s (got %s)", why,
                                 quote(q, sizeof(q), s, n));
        }
        memcpy(out, s, n + 1);
        return TECG_OK;
}

/* A reference to another event of the same nation (supersedes, retracts):
 * an event_id that is not the event's own, since an event cannot take
 * itself back. */
static tecg_err_t need_ref(line_t *L, field_t f, const tecg_event_t *ev,
                           char out[TECG_EVENT_ID_MAX + 1]) {
        char q[300];
        tecg_err_t err = need_id(L, f, out);
        if (err)
                return err;
        if (strcmp(out, ev->event_id) == 0)
                return field_err(L->errstr, L->errstr_size, f,
                                 "must name another event, not the event's own event_id (got %s)",
                                 quote(q, sizeof(q), out, strlen(out)));
        return TECG_OK;
}

static tecg_err_t need_currency(line_t *L, char out[4], int *digits) {
        const char *s = NULL;
        size_t n = 0;
        char q[300];
        tecg_err_t err = need_string(L, F_CURRENCY, &s, &n);
        if (err)
                return err;
        int d = tecg_currency_code_check(s, n, true) ? -1 : tecg_currency_minor_digits(s);
        if (d < 0)
                return field_err(L->errstr, L->errstr_size, F_CURRENCY,
                                 "must be an ISO 4217 currency code (got %s)",
                                 quote(q, sizeof(q), s, n));
        memcpy(out, s, 4);
        *digits = d;
        return TECG_OK;
}

/* amount (> 0) or value (>= 0) in minor units of `cur`. */
static tecg_err_t need_money(line_t *L, field_t f, const char *cur, int digits, int64_t min,
                             int64_t *out) {
        const char *s = NULL;
        size_t n = 0;
        char q[300];
        tecg_err_t err = need_string(L, f, &s, &n);
        if (err)
                return err;
        int64_t v = 0;
        int rc = tecg_validate_decimal(s, n, digits, &v);
        if (rc == -2)
                return field_err(L->errstr, L->errstr_size, f,
                                 "too large: more than %lld minor units of %s (got %s)",
                                 (long long)INT64_MAX, cur, quote(q, sizeof(q), s, n));
        if (rc < 0 || v < min)
                return field_err(
                        L->errstr, L->errstr_size, f,
                        "must be a decimal string %s with at most %d decimals for %s (got %s)",
                        min > 0 ? "> 0" : ">= 0", digits, cur, quote(q, sizeof(q), s, n));
        *out = v;
        return TECG_OK;
}

static tecg_err_t check_common(const tecg_validator_t *v, line_t *L, tecg_event_t *ev) {
        const char *s = NULL;
        size_t n = 0;
        char q[300];
        const char *why;
        tecg_err_t err;

        if ((err = need_id(L, F_EVENT_ID, ev->event_id)))
                return err;

        if ((err = need_string(L, F_NATION, &s, &n)))
                return err;
        if (tecg_nation_code_check(s, n))
                return field_err(
                        L->errstr, L->errstr_size, F_NATION,
                        "must be an ISO 3166-1 alpha-3 code of 3 upper-case letters (got %s)",
                        quote(q, sizeof(q), s, n));
        if (!tecg_nations_find(v->nations, s))
                return field_err(L->errstr, L->errstr_size, F_NATION,
                                 "%s is not in the nations list", s);
        if (v->own[0] && memcmp(s, v->own, 4) != 0)
                return field_err(L->errstr, L->errstr_size, F_NATION,
                                 "event for %s, but this producer reports for %s", s, v->own);
        memcpy(ev->nation, s, 4);

        if ((err = need_string(L, F_OCCURRED_AT, &s, &n)))
                return err;
        why = NULL;
        if (tecg_validate_time(s, n, &ev->occurred_at_ms, &ev->utc_offset_min, &why))
                return field_err(L->errstr, L->errstr_size, F_OCCURRED_AT,
                                 "must be an RFC 3339 date-time with offset like "
                                 "2005-02-22T09:00:00Z: %s (got %s)",
                                 why, quote(q, sizeof(q), s, n));
        return TECG_OK;
}

static tecg_err_t check_funding(line_t *L, tecg_funding_t *fu) {
        tecg_err_t err;
        int digits, x;
        if ((err = need_currency(L, fu->currency, &digits)))
                return err;
        if ((err = need_money(L, F_AMOUNT, fu->currency, digits, 1, &fu->amount_minor)))
                return err;
        if ((err = need_enum(L, F_CHANNEL, tecg_channel_names, TECG_CH__COUNT, &x)))
                return err;
        fu->channel = (tecg_channel_t)x;
        if ((err = need_enum(L, F_STAGE, tecg_funding_stage_names, TECG_FS__COUNT, &x)))
                return err;
        fu->stage = (tecg_funding_stage_t)x;
        return TECG_OK;
}

static tecg_err_t check_equipment(line_t *L, tecg_equipment_t *eq) {
        tecg_err_t err;
        int x, digits;
        int64_t q;
        if ((err = need_text(L, F_ITEM, &eq->item)))
                return err;
        if ((err = need_enum(L, F_CATEGORY, tecg_category_names, TECG_CAT__COUNT, &x)))
                return err;
        eq->category = (tecg_category_t)x;
        if ((err = need_int(L, F_QUANTITY, 1, INT64_MAX, "an integer > 0", &q)))
                return err;
        eq->quantity = q;
        if (L->f[F_VALUE] && !L->f[F_CURRENCY])
                return field_err(L->errstr, L->errstr_size, F_CURRENCY,
                                 "is required when 'value' is given");
        if (!L->f[F_VALUE] && L->f[F_CURRENCY])
                return field_err(L->errstr, L->errstr_size, F_CURRENCY,
                                 "is only allowed together with 'value'");
        if (L->f[F_VALUE]) {
                if ((err = need_currency(L, eq->currency, &digits)))
                        return err;
                if ((err = need_money(L, F_VALUE, eq->currency, digits, 0, &eq->value_minor)))
                        return err;
                eq->has_value = true;
        }
        if ((err = need_enum(L, F_STAGE, tecg_equipment_stage_names, TECG_ES__COUNT, &x)))
                return err;
        eq->stage = (tecg_equipment_stage_t)x;
        return TECG_OK;
}

static tecg_err_t check_personnel(line_t *L, tecg_personnel_t *pe) {
        tecg_err_t err;
        int x;
        int64_t h;
        if ((err = need_enum(L, F_ROLE, tecg_role_names, TECG_ROLE__COUNT, &x)))
                return err;
        pe->role = (tecg_role_t)x;
        if ((err = need_enum(L, F_LOCATION, tecg_location_names, TECG_LOC__COUNT, &x)))
                return err;
        pe->location = (tecg_location_t)x;
        if ((err = need_int(L, F_HEADCOUNT, 0, INT32_MAX, "an integer from 0 to 2147483647", &h)))
                return err;
        pe->headcount = (int32_t)h;
        return TECG_OK;
}

static tecg_err_t check_training(line_t *L, tecg_training_t *tr) {
        tecg_err_t err;
        int x;
        int64_t t;
        if ((err = need_text(L, F_COURSE, &tr->course)))
                return err;
        if ((err = need_enum(L, F_LEVEL, tecg_level_names, TECG_LVL__COUNT, &x)))
                return err;
        tr->level = (tecg_level_t)x;
        if ((err = need_enum(L, F_LOCATION, tecg_location_names, TECG_LOC__COUNT, &x)))
                return err;
        tr->location = (tecg_location_t)x;
        if (L->f[F_VENUE] && (err = need_text(L, F_VENUE, &tr->venue)))
                return err;
        if ((err = need_int(L, F_TRAINEES, 1, INT32_MAX, "an integer from 1 to 2147483647", &t)))
                return err;
        tr->trainees = (int32_t)t;
        return TECG_OK;
}

static tecg_err_t check_retraction(line_t *L, const tecg_event_t *ev, tecg_retraction_t *re) {
        tecg_err_t err;
        int x;
        if ((err = need_ref(L, F_RETRACTS, ev, re->retracts)))
                return err;
        /* Only the counted types can be taken back: a retraction of a
         * retraction would bring an event back, which a new event does
         * more plainly. */
        if ((err = need_enum(L, F_RETRACTS_TYPE, tecg_event_type_names, TECG_EV__COUNTED, &x)))
                return err;
        re->retracts_type = (tecg_event_type_t)x;
        return need_text_max(L, F_REASON, TECG_REASON_MAX, &re->reason);
}

/* Turns a Jansson error into a reason. Jansson's position counts the
 * bytes it had read when it gave up: the error is at or just before the
 * last of them. */
static tecg_err_t json_reason(const json_error_t *je, char *errstr, size_t errstr_size) {
        char q[400];
        if (json_error_code(je) == json_error_out_of_memory)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                           "invalid JSON near byte offset %d: %s",
                           je->position > 0 ? je->position - 1 : 0,
                           quote_d(q, sizeof(q), je->text, strlen(je->text), 0));
}

/* The reason for a line json_flat refused (rc, doc, its own words in
 * `flat_reason`). A duplicate key is named, after unescaping ("\u0073tage"
 * is 'stage'). Other JSON errors keep the words Jansson gave them before
 * json_flat replaced it on the hot path: both refuse exactly the same lines
 * (tests/fuzz/fuzz_json_flat.c checks it), so Jansson reads the refused
 * line once more and says where and why, as users and tests know it. A
 * line Jansson would accept gets json_flat's own words. */
static tecg_err_t json_error(const tecg_validator_t *v, tecg_err_t rc,
                             const tecg_json_flat_doc_t *doc, const char *flat_reason,
                             const char *buf, size_t len, char *errstr, size_t errstr_size) {
        char q[400];
        json_error_t je;
        json_t *j;
        if (rc == TECG_ERR_NOMEM)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        if (rc == TECG_ERR_LIMIT) /* scan_bytes() has seen it first */
                return tecg_seterr(TECG_ERR_LIMIT, errstr, errstr_size,
                                   "JSON nesting deeper than limits.json.depth (%d) at byte "
                                   "offset %zu",
                                   v->limits.max_depth, doc->err_offset);
        if (doc->dup_key)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "field %s: duplicate key",
                                   quote_d(q, sizeof(q), doc->dup_key, doc->dup_key_len, '\''));
        j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (!j)
                return json_reason(&je, errstr, errstr_size);
        json_decref(j);
        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "%s",
                           quote_d(q, sizeof(q), flat_reason, strlen(flat_reason), 0));
}

tecg_err_t tecg_validate_line(tecg_validator_t *v, const char *buf, size_t len, tecg_event_t *ev,
                              char *errstr, size_t errstr_size) {
        const unsigned char *s = (const unsigned char *)buf;
        tecg_json_flat_doc_t doc;
        tecg_err_t err;
        line_t L;
        char q[300];

        if (len > 0 && s[len - 1] == '\r')
                len--;
        if (len > v->limits.max_line_bytes)
                return tecg_seterr(TECG_ERR_LIMIT, errstr, errstr_size,
                                   "line is %zu bytes, longer than limits.line.bytes "
                                   "(%zu bytes)",
                                   len, v->limits.max_line_bytes);
        {
                size_t i = 0;
                while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
                        i++;
                if (i == len)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "empty line");
        }
        if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "line starts with a UTF-8 byte order mark (BOM), "
                                   "which NDJSON does not allow");
        if ((err = scan_bytes(v, s, len, errstr, errstr_size)))
                return err;

        /* The previous line's strings die here, as documented. */
        {
                char why[160];
                err = tecg_json_flat_parse(v->json, buf, len, &doc, why, sizeof(why));
                if (err)
                        return json_error(v, err, &doc, why, buf, len, errstr, errstr_size);
        }
        if (doc.top.kind != TECG_JSON_FLAT_OBJECT)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "line must be a JSON object (got %s)", json_type_name(&doc.top));

        memset(&L, 0, sizeof(L));
        L.errstr = errstr;
        L.errstr_size = errstr_size;
        memset(ev, 0, sizeof(*ev));

        /* type first: it decides which fields exist. */
        {
                int t;
                for (size_t m = 0; m < doc.count; m++)
                        if (doc.members[m].key_len == 4 && !memcmp(doc.members[m].key, "type", 4)) {
                                L.f[F_TYPE] = &doc.members[m];
                                break;
                        }
                if ((err = need_enum(&L, F_TYPE, tecg_event_type_names, TECG_EV__COUNT, &t)))
                        return err;
                L.type = (tecg_event_type_t)t;
                ev->type = L.type;
        }

        /* Unknown fields, in line order; the known ones land in slots. */
        {
                unsigned allowed = type_fields[L.type];
                for (size_t m = 0; m < doc.count; m++) {
                        const tecg_json_flat_value_t *val = &doc.members[m];
                        field_t f = field_lookup(val->key, val->key_len);
                        if (f == F__COUNT || !(allowed & BIT(f)))
                                return tecg_seterr(
                                        TECG_ERR_INVALID, errstr, errstr_size,
                                        "field %s: unknown field for type %s",
                                        quote_d(q, sizeof(q), val->key, val->key_len, '\''),
                                        tecg_event_type_names[L.type]);
                        L.f[f] = val;
                }
        }

        if ((err = check_common(v, &L, ev)))
                return err;
        switch (L.type) {
        case TECG_EV_FUNDING:
                err = check_funding(&L, &ev->u.funding);
                break;
        case TECG_EV_EQUIPMENT:
                err = check_equipment(&L, &ev->u.equipment);
                break;
        case TECG_EV_PERSONNEL:
                err = check_personnel(&L, &ev->u.personnel);
                break;
        case TECG_EV_TRAINING:
                err = check_training(&L, &ev->u.training);
                break;
        case TECG_EV_RETRACTION:
                err = check_retraction(&L, ev, &ev->u.retraction);
                break;
        default:
                err = TECG_ERR_INVALID;
                break;
        }
        /* supersedes last: it is the last field of the type (docs/design.md
         * §2.9), and a line whose own fields are wrong is reported for them. */
        if (!err && L.f[F_SUPERSEDES])
                err = need_ref(&L, F_SUPERSEDES, ev, ev->supersedes);
        return err;
}
