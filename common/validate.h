/* The NDJSON line validator: docs/design.md §2, the input contract of national
 * systems. It turns one line into a tecg_event_t or into a one-line reason.
 *
 * Parsing only, no I/O: callers (the producer's ingest path, unit tests,
 * fuzzers) hand in (buf, len).
 *
 * Order of checks, so that every bad line gets one stable reason:
 *   1. the line as bytes: length limit; empty or blank ("empty line"); UTF-8
 *      byte order mark; then, in byte order, NUL bytes, invalid UTF-8 (with
 *      its byte offset), nesting deeper than the limit and string tokens
 *      longer than the limit;
 *   2. JSON syntax, duplicate keys (named, in any object), trailing data
 *      (common/json_flat.h, which accepts exactly what Jansson with
 *      JSON_REJECT_DUPLICATES does); the value must be an object;
 *   3. `type`;
 *   4. unknown fields, in the order they appear in the line (a field of
 *      another type is unknown for this one), so a misspelt field is
 *      reported as what it is rather than as a missing one;
 *   5. the common fields: event_id, nation, occurred_at;
 *   6. the type's fields in the order of docs/design.md §2, except that a funding
 *      event's currency is checked before its amount (the amount's allowed
 *      decimals depend on it) and equipment's value/currency pair comes
 *      after quantity: "value" without "currency", "currency" without
 *      "value", then currency, then value.
 *
 * Rule decisions beyond the design text:
 *   - decimal strings ("amount", "value"): digits with an optional '.'
 *     followed by 1 or more digits; no sign, exponent, blanks, or leading
 *     zeros ("0.5" yes, "00.5" and "01" no, like JSON numbers); at most the
 *     currency's minor digits, trailing zeros count ("1.000" EUR is
 *     rejected), fewer are fine ("652000.5" EUR is 65200050 cents);
 *   - occurred_at: RFC 3339 date-time, 'T' or 't', 'Z' or 'z' or +hh:mm /
 *     -hh:mm (hh <= 23, mm <= 59; -00:00 is taken as +00:00), fraction of
 *     1-9 digits truncated to milliseconds, years 0000-9999, proleptic
 *     Gregorian; second 60 is accepted only where a leap second can be, at
 *     23:59:60 UTC on 30 June or 31 December, and is stored as :59.999
 *     (Unix time has no leap seconds; this keeps the order of events);
 *   - null is never accepted, not even for the optional fields (omit them);
 *   - strings (item, course, venue): 1-200 Unicode code points, any
 *     characters JSON allows;
 *   - integers must be JSON integers: 1.0, 1e3, "1", true are rejected;
 *     quantity is 1..INT64_MAX, headcount 0..INT32_MAX, trainees
 *     1..INT32_MAX;
 *   - whitespace around the object is allowed (it is JSON), a single
 *     trailing '\r' is dropped first (CRLF files);
 *   - JSON errors (syntax, numbers beyond 64 bits, reals beyond a double)
 *     name no field and are worded by Jansson, which reads a line again
 *     once json_flat refused it: "invalid JSON near byte offset N: ...".
 *     A duplicate key is named whatever its length: "field 'stage':
 *     duplicate key".
 *
 * Reasons are one line of valid UTF-8 without control characters: values
 * are quoted, escaped (\uXXXX for controls and invisible characters, \xNN
 * for invalid bytes) and cut after 64 characters. A reason about a field
 * starts with "field 'NAME': ". */
#ifndef TECG_VALIDATE_H
#define TECG_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"
#include "refdata.h"

/* Limits on untrusted lines, checked before the line is parsed. Each
 * is named in its reason by the configuration key that sets it in the
 * producer (limits.line.bytes, limits.json.depth, limits.string.bytes), so
 * the reason says what to raise, e.g. "string at byte offset 40 is longer
 * than limits.string.bytes (4096 bytes)". */
typedef struct {
        size_t max_line_bytes;   /* limits.line.bytes, default 1 MiB; longer
                                  * lines: TECG_ERR_LIMIT */
        int max_depth;           /* limits.json.depth, default 16 nested
                                  * objects/arrays (a valid event has 1) */
        size_t max_string_bytes; /* limits.string.bytes, default 4096 bytes
                                  * of a raw JSON string token between its
                                  * quotes (any key or value); a valid event
                                  * needs at most 200 code points = 2400
                                  * escaped bytes */
} tecg_validate_limits_t;

#define TECG_VALIDATE_MAX_LINE_DEFAULT ((size_t)1024 * 1024)
#define TECG_VALIDATE_MAX_DEPTH_DEFAULT 16
#define TECG_VALIDATE_MAX_STRING_DEFAULT 4096

/* An errstr of this size always holds a whole reason; a smaller one gets
 * it cut short. */
#define TECG_VALIDATE_ERRSTR_SIZE 512

/* Fills *limits with the defaults above. */
void tecg_validate_limits_init(tecg_validate_limits_t *limits);

typedef struct tecg_validator tecg_validator_t;

/* A validator for one producer. `nations` is borrowed and must outlive the
 * validator. `own_nation` is copied: events must carry exactly this nation;
 * NULL accepts any nation of the list (for checks that are not one
 * nation's, e.g. the fuzzers).
 * `limits` is copied; NULL means defaults; every limit must be > 0.
 * Returns NULL with a reason on a bad argument (own nation not in the list,
 * zero limit) or out of memory. Not thread-safe: one per thread. */
tecg_validator_t *tecg_validator_new(const tecg_nations_t *nations, const char *own_nation,
                                     const tecg_validate_limits_t *limits, char *errstr,
                                     size_t errstr_size);

/* Frees the validator and the last parsed line; accepts NULL. */
void tecg_validator_destroy(tecg_validator_t *v);

/* Validates one line (without its '\n'; one trailing '\r' is ignored).
 * TECG_OK: *ev is filled; its borrowed strings (item, course, venue) point
 *   into the validator and stay valid until the next call or destroy.
 * TECG_ERR_INVALID: the line breaks the contract;
 * TECG_ERR_LIMIT: it exceeds a configured limit;
 * TECG_ERR_NOMEM: out of memory.
 * On error errstr holds a one-line reason (see above) and *ev is undefined. */
tecg_err_t tecg_validate_line(tecg_validator_t *v, const char *buf, size_t len, tecg_event_t *ev,
                              char *errstr, size_t errstr_size);

/* Parses a decimal string as docs/design.md §2 writes money ("652000.00") into
 * minor units with `digits` decimals, exactly. Returns 0 on success, -1 on a
 * syntax error or too many decimals, -2 when the result overflows int64.
 * Zero is accepted (callers check > 0 themselves). */
int tecg_validate_decimal(const char *s, size_t len, int digits, int64_t *minor);

/* Parses an RFC 3339 date-time with offset, as `occurred_at` must be, into
 * UTC milliseconds since the epoch and the written offset in minutes.
 * Returns 0, or -1 with a short reason in *why. */
int tecg_validate_time(const char *s, size_t len, int64_t *utc_ms, int32_t *offset_min,
                       const char **why);

#endif
