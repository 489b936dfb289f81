/* Strict UTF-8, the one definition every reader of untrusted text uses (the
 * NDJSON parser and validator, the Avro body walk, the nations list, the
 * aggregator's contract check): no overlong forms, no encoded surrogates
 * (U+D800-U+DFFF), nothing above U+10FFFF. That is what Jansson's utf.c
 * accepts, so the producer's own parser and Jansson agree on every line.
 * The callers word their own reasons; this module only answers yes or no. */
#ifndef TECG_UTF8_H
#define TECG_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the strict UTF-8 sequence at s, or 0 when the bytes there
 * are not one. avail > 0 bytes are readable at s. */
size_t tecg_utf8_seq(const unsigned char *s, size_t avail);

/* True when buf[0..len) is strict UTF-8 throughout (NUL bytes count as
 * ASCII: whoever refuses them says so in its own words). */
bool tecg_utf8_valid(const void *buf, size_t len);

/* Unicode code points in s[0..len), which must already be valid UTF-8:
 * every byte that does not continue a sequence starts one. */
size_t tecg_utf8_count(const char *s, size_t len);

#endif
