/* SipHash-1-3 (one compression round, three finalisation rounds, as Rust's
 * HashMap uses) for the hash tables that hold keys an outsider chooses: the
 * NDJSON parser's duplicate-key index and the aggregator's set of seen
 * event ids. Keyed with a random key per table, so collisions cannot be
 * crafted without it, and fast enough for keys of a few dozen bytes.
 * Not a MAC: nothing here needs one. */
#ifndef TECG_SIPHASH_H
#define TECG_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* The 128-bit key as SipHash's k0 and k1 (the key's bytes 0-7 and 8-15,
 * read little-endian). */
typedef struct {
        uint64_t k0, k1;
} tecg_siphash_key_t;

/* SipHash-1-3 of data[0..len) under key; the same on every host. */
uint64_t tecg_siphash13(const tecg_siphash_key_t *key, const void *data, size_t len);

/* Fills *key from getrandom(); should that fail (an old kernel, a seccomp
 * filter), from the clock and an address, which still differs per run:
 * the key only has to be unknown to whoever writes the input. */
void tecg_siphash_key_random(tecg_siphash_key_t *key);

#endif
