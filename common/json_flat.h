/* A small JSON parser for what one NDJSON input line may be (docs/design.md §2):
 * one flat object whose members the validator needs as keys, strings and
 * integers. It is the validator's hot path, so it builds no tree: it reads
 * (buf, len) once and fills a fixed, reused table of the top-level members
 * with their keys and string values unescaped into a buffer owned by the
 * parser. After the first lines it allocates nothing.
 *
 * It still reads all of RFC 8259, so that any line gets the right answer:
 * any value at the top (a line that is not an object is reported as what
 * it is), nested objects and arrays (checked in full, reported by kind
 * only), reals, true/false/null, every escape, surrogate pairs, whitespace
 * and trailing garbage. Where RFC 8259 leaves limits to the implementation,
 * it draws them where Jansson does with JSON_REJECT_DUPLICATES, so both
 * accept exactly the same texts (tests/fuzz/fuzz_json_flat.c checks that):
 *   - duplicate keys in any object are refused, compared after unescaping;
 *   - \u0000 is refused (in keys and values), and so are unpaired
 *     surrogates (\uD800 alone, \uDC00 first, \uD800\u0041);
 *   - integers (no fraction, no exponent) must fit int64_t; reals must not
 *     overflow a double (1e400 is refused, 1e-400 is 0);
 *   - the input must be strict UTF-8 (no overlongs, no encoded surrogates,
 *     nothing above U+10FFFF), inside strings and out;
 *   - nesting is limited (max_depth objects/arrays, the top one counts).
 *
 * Not thread-safe: one parser per thread. */
#ifndef TECG_JSON_FLAT_H
#define TECG_JSON_FLAT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum {
        TECG_JSON_FLAT_STRING = 0,
        TECG_JSON_FLAT_INTEGER,
        TECG_JSON_FLAT_REAL, /* a number with a fraction or exponent */
        TECG_JSON_FLAT_TRUE,
        TECG_JSON_FLAT_FALSE,
        TECG_JSON_FLAT_NULL,
        TECG_JSON_FLAT_OBJECT,
        TECG_JSON_FLAT_ARRAY,
} tecg_json_flat_kind_t;

/* One value: a member of the top-level object, or the top-level value
 * itself (key NULL). Strings are unescaped UTF-8, NUL-terminated (and hold
 * no NUL: \u0000 is refused), owned by the parser. */
typedef struct {
        const char *key;
        size_t key_len;
        tecg_json_flat_kind_t kind;
        const char *str; /* STRING */
        size_t str_len;
        int64_t integer; /* INTEGER */
} tecg_json_flat_value_t;

/* What a parse found. Everything it points to belongs to the parser and
 * stays valid until its next parse or destroy. */
typedef struct {
        tecg_json_flat_value_t top;            /* the whole value (key NULL) */
        const tecg_json_flat_value_t *members; /* top is an OBJECT: its members, */
        size_t count;                          /* in input order */
        /* On error: the byte offset where the input went wrong (the end
         * when it stops short), and for a duplicate key its name
         * (unescaped, NUL-terminated), else NULL. */
        size_t err_offset;
        const char *dup_key;
        size_t dup_key_len;
} tecg_json_flat_doc_t;

typedef struct tecg_json_flat tecg_json_flat_t;

/* A parser allowing max_depth (>= 1) nested objects/arrays. NULL when out of
 * memory or max_depth < 1. */
tecg_json_flat_t *tecg_json_flat_new(int max_depth);

/* Frees the parser and what its last parse returned; accepts NULL. */
void tecg_json_flat_destroy(tecg_json_flat_t *p);

/* Parses buf[0..len) (no NUL needed) as exactly one JSON value with
 * optional whitespace around it, into *doc.
 * TECG_OK: doc->top, and doc->members/count when the top is an object;
 * TECG_ERR_INVALID: not JSON, or beyond the limits above (a duplicate key
 *   sets doc->dup_key);
 * TECG_ERR_LIMIT: nested deeper than max_depth;
 * TECG_ERR_NOMEM: out of memory.
 * On error doc->err_offset is the byte offset N where the input went wrong
 * and errstr says "invalid JSON at byte offset N: what" (INVALID), "JSON
 * nested deeper than MAX at byte offset N" (LIMIT) or "out of memory". */
tecg_err_t tecg_json_flat_parse(tecg_json_flat_t *p, const char *buf, size_t len,
                                tecg_json_flat_doc_t *doc, char *errstr, size_t errstr_size);

/* "string", "integer", ..., as a reason names a kind. */
const char *tecg_json_flat_kind_name(tecg_json_flat_kind_t kind);

#endif
