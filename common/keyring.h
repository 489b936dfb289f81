/* The nations' public signing keys (deploy/nation-keys.csv): which key id
 * belongs to which nation, and from when until when it may sign that
 * nation's events (docs/design.md §9.1).
 *
 * A nation rotates its key without downtime by listing two keys whose
 * windows overlap; a key with revoked_at set is refused for everything,
 * whatever a message's timestamp says (nobody knows when a stolen key was
 * first used). Loaded at start-up; a reload (SIGHUP) puts a new keyring in
 * force with tecg_keyring_replace() while any number of threads look keys
 * up on the same handle, so a revocation takes effect without a restart. */
#ifndef TECG_KEYRING_H
#define TECG_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "refdata.h"
#include "sign.h"

/* The file name of the keyring beside the nations file. */
#define TECG_KEYRING_FILE "nation-keys.csv"

/* An open end of a validity window. */
#define TECG_KEYRING_OPEN_FROM INT64_MIN
#define TECG_KEYRING_OPEN_UNTIL INT64_MAX

typedef struct {
        char nation[4];
        char key_id[TECG_SIGN_KEY_ID_MAX + 1];
        unsigned char public_key[TECG_SIGN_PUBLIC_BYTES];
        int64_t valid_from_ms;  /* UTC ms; TECG_KEYRING_OPEN_FROM when empty */
        int64_t valid_until_ms; /* exclusive; TECG_KEYRING_OPEN_UNTIL when empty */
        bool revoked;
        int64_t revoked_at_ms; /* meaningful when revoked: for logs only */
} tecg_keyring_key_t;

typedef struct tecg_keyring tecg_keyring_t;

/* Why a key may not vouch for a nation's message. */
typedef enum {
        TECG_KEYRING_OK = 0,
        TECG_KEYRING_UNKNOWN_KEY,   /* no such key id */
        TECG_KEYRING_OTHER_NATION,  /* the key is another nation's */
        TECG_KEYRING_NOT_YET_VALID, /* the timestamp is before valid_from */
        TECG_KEYRING_EXPIRED,       /* the timestamp is at or after valid_until */
        TECG_KEYRING_REVOKED,       /* revoked_at is set */
} tecg_keyring_verdict_t;

/* Parses keyring CSV text; `origin` (a path) names it in errors, which read
 * "origin:line: field: reason". Format: '#' comments and blank lines are
 * skipped, the header is `nation,key_id,public_key,valid_from,valid_until,
 * revoked_at`, then one key a line: a nation of `nations`, a key id
 * (tecg_sign_key_id_valid(), unique in the file), the base64 of the 32-byte
 * public key, and three RFC 3339 times (empty = open; valid_from before
 * valid_until). No field is quoted. An empty keyring is valid (every
 * message is then refused). The caller owns the result. */
tecg_keyring_t *tecg_keyring_parse(const char *buf, size_t len, const char *origin,
                                   const tecg_nations_t *nations, char *errstr, size_t errstr_size);

/* Reads and parses a keyring file. NULL with the reason in errstr. */
tecg_keyring_t *tecg_keyring_load(const char *path, const tecg_nations_t *nations, char *errstr,
                                  size_t errstr_size);

/* Frees the keyring; accepts NULL. */
void tecg_keyring_destroy(tecg_keyring_t *keyring);

/* Puts `fresh` in force in `keyring`, which takes ownership of it; the
 * keyrings it replaces stay allocated, unchanged, until
 * tecg_keyring_destroy(keyring) (a reader may hold one of their keys).
 * One thread replaces; any number look up meanwhile. */
void tecg_keyring_replace(tecg_keyring_t *keyring, tecg_keyring_t *fresh);

/* Whether the two keyrings in force hold the same keys in the same order. */
bool tecg_keyring_same(const tecg_keyring_t *a, const tecg_keyring_t *b);

/* The key with this id, or NULL. */
const tecg_keyring_key_t *tecg_keyring_find(const tecg_keyring_t *keyring, const char *key_id,
                                            size_t key_id_len);

/* Whether key `key_id` may sign `nation`'s message timestamped `ts_ms`;
 * *key is the key found (NULL when unknown). Revocation is checked before
 * the nation and the window. */
tecg_keyring_verdict_t tecg_keyring_check(const tecg_keyring_t *keyring, const char *key_id,
                                          size_t key_id_len, const char *nation, int64_t ts_ms,
                                          const tecg_keyring_key_t **key);

/* Number of keys, and the i-th in file order (NULL when out of range). */
size_t tecg_keyring_count(const tecg_keyring_t *keyring);
const tecg_keyring_key_t *tecg_keyring_at(const tecg_keyring_t *keyring, size_t i);

/* "<directory of nations_path>/nation-keys.csv", malloc'd (NULL when out of
 * memory): the default of security.keyring. */
char *tecg_keyring_default_path(const char *nations_path);

#endif
