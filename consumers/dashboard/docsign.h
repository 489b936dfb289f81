/* Signed dashboard documents (docs/design.md §9.2): every version the
 * dashboard service hands out carries its Ed25519 signature, so BI can
 * prove a figure came from the pipeline unchanged.
 *
 * The signature is common/sign.h's, with domain TECG_SIGN_DOMAIN_DOCUMENT
 * over two parts: the document's name ("funding") and the exact bytes of
 * the document as sent. It is made once per version, where the version is
 * made (dashboards.c), and travels with it:
 *
 *   HTTP (sink POSTs, GET /api/dashboards/NAME)
 *       Tecg-Signature: keyid=ID,sig=BASE64
 *   SSE  a field line "tecg-signature: keyid=ID,sig=BASE64" before data:
 *   Kafka (tecg.dashboards)  headers tecg-key-id: ID, tecg-signature: BASE64
 *
 * The public key is served as JSON (tecg_docsign_public_json()) at
 * /.well-known/tecg-signing-key and printed by
 * `tecg-dashboard --print-public-key`. */
#ifndef TECG_DOCSIGN_H
#define TECG_DOCSIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "sign.h"

#define TECG_DOCSIGN_HTTP_HEADER "Tecg-Signature"
#define TECG_DOCSIGN_KAFKA_KEY_ID "tecg-key-id"
#define TECG_DOCSIGN_KAFKA_SIGNATURE "tecg-signature"
#define TECG_DOCSIGN_WELL_KNOWN "/.well-known/tecg-signing-key"

/* "keyid=" ID ",sig=" BASE64, with the NUL. */
#define TECG_DOCSIGN_VALUE_SIZE (6 + TECG_SIGN_KEY_ID_MAX + 5 + TECG_SIGN_SIG_B64_SIZE)

/* One document version's signature, in the forms it travels in. */
typedef struct {
        char key_id[TECG_SIGN_KEY_ID_MAX + 1];
        char sig_b64[TECG_SIGN_SIG_B64_SIZE];
        char value[TECG_DOCSIGN_VALUE_SIZE]; /* the Tecg-Signature header value */
} tecg_docsign_t;

/* Signs version bytes `json` (len) of document `name` with key. */
tecg_err_t tecg_docsign_sign(const tecg_sign_key_t *key, const char *name, const char *json,
                             size_t len, tecg_docsign_t *out, char *errstr, size_t errstr_size);

/* Splits a Tecg-Signature value into its key id and signature; false when
 * it is not exactly "keyid=ID,sig=BASE64" with a valid id and 64 bytes. */
bool tecg_docsign_parse(const char *value, char key_id[TECG_SIGN_KEY_ID_MAX + 1],
                        unsigned char sig[TECG_SIGN_SIG_BYTES]);

/* True when `value` (a Tecg-Signature value) names key_id and is
 * public_key's signature of document `name` with bytes json/len. */
bool tecg_docsign_verify(const char *key_id, const unsigned char public_key[TECG_SIGN_PUBLIC_BYTES],
                         const char *name, const char *json, size_t len, const char *value);

/* The public half of key as the JSON object served at the well-known path:
 * key_id, algorithm, public_key (base64) and how the signed message is
 * framed. No secret. malloc'ed, NUL-terminated; NULL when out of memory. */
char *tecg_docsign_public_json(const tecg_sign_key_t *key);

#endif
