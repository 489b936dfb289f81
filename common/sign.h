/* Ed25519 signatures (libsodium) for what tecg vouches for: a nation's
 * producer signs each event it publishes, the dashboard service signs each
 * document version it hands out (docs/design.md §9).
 *
 * A signature covers a message framed from parts: a domain string naming
 * what is signed, then each part as a 4-byte big-endian length and its
 * bytes. The lengths keep (key "AB", topic "C") and (key "A", topic "BC")
 * apart; the domain keeps an event's signature from passing as a
 * document's. Pure Ed25519 over that frame, so any implementation (Python's
 * cryptography, Java 15+) verifies it.
 *
 * Private keys live in a text file of two lines, `key_id=ID` and
 * `seed=BASE64` (the 32-byte Ed25519 seed), readable by its owner only. */
#ifndef TECG_SIGN_H
#define TECG_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define TECG_SIGN_KEY_ID_MAX 64
#define TECG_SIGN_PUBLIC_BYTES 32
#define TECG_SIGN_SIG_BYTES 64
/* Base64 (RFC 4648, padded) of a public key / signature, with the NUL. */
#define TECG_SIGN_PUBLIC_B64_SIZE 45
#define TECG_SIGN_SIG_B64_SIZE 89

/* The domains in use; one per kind of signed thing. */
#define TECG_SIGN_DOMAIN_EVENT "tecg-event-v1"
#define TECG_SIGN_DOMAIN_DOCUMENT "tecg-document-v1"
#define TECG_SIGN_DOMAIN_EVENT_BATCH "tecg-event-batch-v1"

typedef struct {
        char key_id[TECG_SIGN_KEY_ID_MAX + 1];
        unsigned char public_key[TECG_SIGN_PUBLIC_BYTES];
        unsigned char secret[64]; /* libsodium's seed || public key */
} tecg_sign_key_t;

typedef struct {
        const void *data;
        size_t len;
} tecg_sign_part_t;

/* Initialises libsodium; safe to call more than once, from any thread. */
tecg_err_t tecg_sign_init(char *errstr, size_t errstr_size);

/* A key id is 1-64 of [A-Za-z0-9._-]: it travels in Kafka and HTTP headers
 * and in file names. */
bool tecg_sign_key_id_valid(const char *key_id);

/* A fresh random key under key_id. */
tecg_err_t tecg_sign_keygen(const char *key_id, tecg_sign_key_t *key, char *errstr,
                            size_t errstr_size);

/* Writes the key to a new file (never overwrites) with mode 0600. */
tecg_err_t tecg_sign_key_write(const char *path, const tecg_sign_key_t *key, char *errstr,
                               size_t errstr_size);

/* Reads a key file; refuses one that is not a regular file or that its
 * group or others may read or write, and never echoes the seed. */
tecg_err_t tecg_sign_key_load(const char *path, tecg_sign_key_t *key, char *errstr,
                              size_t errstr_size);

/* Zeroes the secret (sodium_memzero, which the compiler keeps). */
void tecg_sign_key_wipe(tecg_sign_key_t *key);

/* Hands the frame of domain + parts (what tecg_sign() signs) to add() in
 * pieces, in order: to hash the same bytes (common/event_sig.c). Each
 * part's len must fit in 32 bits. */
typedef void tecg_sign_feed_fn(void *ctx, const void *data, size_t len);
void tecg_sign_frame_feed(const char *domain, const tecg_sign_part_t *parts, size_t nparts,
                          tecg_sign_feed_fn *add, void *ctx);

/* Signs domain + parts into sig. */
tecg_err_t tecg_sign(const tecg_sign_key_t *key, const char *domain, const tecg_sign_part_t *parts,
                     size_t nparts, unsigned char sig[TECG_SIGN_SIG_BYTES], char *errstr,
                     size_t errstr_size);

/* True when sig is public_key's signature of domain + parts. */
bool tecg_sign_verify(const unsigned char public_key[TECG_SIGN_PUBLIC_BYTES], const char *domain,
                      const tecg_sign_part_t *parts, size_t nparts,
                      const unsigned char sig[TECG_SIGN_SIG_BYTES]);

/* Base64 of n bytes into out (out_size >= 4 * ceil(n / 3) + 1). */
void tecg_sign_b64_encode(const unsigned char *bin, size_t n, char *out, size_t out_size);

/* Decodes base64 text that must be exactly want bytes; false otherwise. */
bool tecg_sign_b64_decode(const char *text, size_t text_len, unsigned char *bin, size_t want);

#endif
