/* Signed dashboard documents: see docsign.h and docs/design.md §9.2. */
#include "docsign.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

static void parts_of(const char *name, const char *json, size_t len, tecg_sign_part_t parts[2]) {
        parts[0] = (tecg_sign_part_t){name, strlen(name)};
        parts[1] = (tecg_sign_part_t){json, len};
}

tecg_err_t tecg_docsign_sign(const tecg_sign_key_t *key, const char *name, const char *json,
                             size_t len, tecg_docsign_t *out, char *errstr, size_t errstr_size) {
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        tecg_sign_part_t parts[2];
        parts_of(name, json, len, parts);
        memset(out, 0, sizeof(*out));
        tecg_err_t err =
                tecg_sign(key, TECG_SIGN_DOMAIN_DOCUMENT, parts, 2, sig, errstr, errstr_size);
        if (err != TECG_OK)
                return err;
        snprintf(out->key_id, sizeof(out->key_id), "%s", key->key_id);
        tecg_sign_b64_encode(sig, sizeof(sig), out->sig_b64, sizeof(out->sig_b64));
        snprintf(out->value, sizeof(out->value), "keyid=%s,sig=%s", out->key_id, out->sig_b64);
        return TECG_OK;
}

bool tecg_docsign_parse(const char *value, char key_id[TECG_SIGN_KEY_ID_MAX + 1],
                        unsigned char sig[TECG_SIGN_SIG_BYTES]) {
        static const char keyid_tag[] = "keyid=", sig_tag[] = ",sig=";
        if (!value || strncmp(value, keyid_tag, sizeof(keyid_tag) - 1) != 0)
                return false;
        const char *id = value + sizeof(keyid_tag) - 1;
        const char *comma = strstr(id, sig_tag);
        if (!comma || (size_t)(comma - id) > TECG_SIGN_KEY_ID_MAX)
                return false;
        memcpy(key_id, id, (size_t)(comma - id));
        key_id[comma - id] = '\0';
        if (!tecg_sign_key_id_valid(key_id))
                return false;
        const char *b64 = comma + sizeof(sig_tag) - 1;
        return tecg_sign_b64_decode(b64, strlen(b64), sig, TECG_SIGN_SIG_BYTES);
}

bool tecg_docsign_verify(const char *key_id, const unsigned char public_key[TECG_SIGN_PUBLIC_BYTES],
                         const char *name, const char *json, size_t len, const char *value) {
        char got_id[TECG_SIGN_KEY_ID_MAX + 1];
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        tecg_sign_part_t parts[2];
        if (!tecg_docsign_parse(value, got_id, sig) || strcmp(got_id, key_id) != 0)
                return false;
        parts_of(name, json, len, parts);
        return tecg_sign_verify(public_key, TECG_SIGN_DOMAIN_DOCUMENT, parts, 2, sig);
}

/* Enough for a verifier written from this answer alone: which key, which
 * algorithm, and the exact bytes that were signed. */
char *tecg_docsign_public_json(const tecg_sign_key_t *key) {
        char pub[TECG_SIGN_PUBLIC_B64_SIZE];
        tecg_sign_b64_encode(key->public_key, sizeof(key->public_key), pub, sizeof(pub));
        json_t *o = json_pack(
                "{s:s, s:s, s:s, s:s, s:[s,s], s:s, s:s, s:[s,s]}", "key_id", key->key_id,
                "algorithm", "Ed25519", "public_key", pub, "domain", TECG_SIGN_DOMAIN_DOCUMENT,
                "parts", "document name", "document bytes as sent", "signed_message",
                "domain, one 0x00 byte, then per part a 4-byte big-endian length and its bytes",
                "http_header", TECG_DOCSIGN_HTTP_HEADER ": keyid=KEY_ID,sig=BASE64",
                "kafka_headers", TECG_DOCSIGN_KAFKA_KEY_ID, TECG_DOCSIGN_KAFKA_SIGNATURE);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        return text;
}
