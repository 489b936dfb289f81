/* Signed documents (consumers/dashboard/docsign.h, docs/design.md §9.2):
 * the Tecg-Signature value and its parsing, the public key's JSON, the
 * signature kept with a version in the docstore, and what the HTTP server
 * hands out: the header on GET /api/dashboards/NAME, the field of the SSE
 * event, the key at /.well-known/tecg-signing-key (404 when unsigned).
 *
 * A verifier that knows only the public JSON must be able to check a
 * signature, so one test rebuilds the signed message from the JSON's
 * description and checks it with libsodium directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "buf.h"
#include "docsign.h"
#include "docstore.h"
#include "http_server.h"
#include "sign.h"

static const char doc_funding[] = "{\"dashboard\":\"funding\",\"version\":3,\"total\":{}}";

typedef struct {
        tecg_sign_key_t key;
        tecg_docsign_t sig;
        tecg_docstore_t *store;
        tecg_http_server_t *srv;
        uint16_t port;
        char *public_json;
} fixture_t;

static int setup(void **state) {
        char errstr[256];
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        assert_int_equal(tecg_sign_keygen("dash-2026", &f->key, errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(tecg_docsign_sign(&f->key, "funding", doc_funding, strlen(doc_funding),
                                           &f->sig, errstr, sizeof(errstr)),
                         TECG_OK);
        f->store = tecg_docstore_new();
        assert_non_null(f->store);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_http_server_destroy(f->srv);
        tecg_docstore_destroy(f->store);
        free(f->public_json);
        tecg_sign_key_wipe(&f->key);
        free(f);
        return 0;
}

/* ------------------------------------------------------------------ */
/* The value and the public key                                        */

/* The value is "keyid=ID,sig=BASE64"; it verifies over (name, bytes) and
 * fails on one flipped byte, another name, another key id, another key. */
static void test_sign_and_verify(void **state) {
        fixture_t *f = *state;
        char errstr[256], copy[sizeof(doc_funding)];
        size_t len = strlen(doc_funding);
        char want_prefix[] = "keyid=dash-2026,sig=";
        assert_int_equal(strncmp(f->sig.value, want_prefix, strlen(want_prefix)), 0);
        assert_string_equal(f->sig.value + strlen(want_prefix), f->sig.sig_b64);
        assert_string_equal(f->sig.key_id, "dash-2026");
        assert_int_equal(strlen(f->sig.sig_b64), TECG_SIGN_SIG_B64_SIZE - 1);

        assert_true(tecg_docsign_verify("dash-2026", f->key.public_key, "funding", doc_funding, len,
                                        f->sig.value));
        for (size_t i = 0; i < len; i++) {
                memcpy(copy, doc_funding, sizeof(copy));
                copy[i] ^= 0x20;
                if (tecg_docsign_verify("dash-2026", f->key.public_key, "funding", copy, len,
                                        f->sig.value))
                        fail_msg("byte %zu flipped still verifies", i);
        }
        assert_false(tecg_docsign_verify("dash-2026", f->key.public_key, "funding", doc_funding,
                                         len - 1, f->sig.value));
        assert_false(tecg_docsign_verify("dash-2026", f->key.public_key, "training", doc_funding,
                                         len, f->sig.value));
        assert_false(tecg_docsign_verify("dash-2027", f->key.public_key, "funding", doc_funding,
                                         len, f->sig.value));
        tecg_sign_key_t other;
        assert_int_equal(tecg_sign_keygen("dash-2026", &other, errstr, sizeof(errstr)), TECG_OK);
        assert_false(tecg_docsign_verify("dash-2026", other.public_key, "funding", doc_funding, len,
                                         f->sig.value));
        /* An event signature of the same bytes is no document signature. */
        tecg_sign_part_t parts[2] = {{"funding", 7}, {doc_funding, len}};
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        char value[TECG_DOCSIGN_VALUE_SIZE], b64[TECG_SIGN_SIG_B64_SIZE];
        assert_int_equal(
                tecg_sign(&f->key, TECG_SIGN_DOMAIN_EVENT, parts, 2, sig, errstr, sizeof(errstr)),
                TECG_OK);
        tecg_sign_b64_encode(sig, sizeof(sig), b64, sizeof(b64));
        snprintf(value, sizeof(value), "keyid=dash-2026,sig=%s", b64);
        assert_false(tecg_docsign_verify("dash-2026", f->key.public_key, "funding", doc_funding,
                                         len, value));
        tecg_sign_key_wipe(&other);
}

/* Only the exact form parses. */
static void test_parse(void **state) {
        fixture_t *f = *state;
        char id[TECG_SIGN_KEY_ID_MAX + 1], value[TECG_DOCSIGN_VALUE_SIZE + 8];
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        assert_true(tecg_docsign_parse(f->sig.value, id, sig));
        assert_string_equal(id, "dash-2026");
        const char *bad[] = {
                NULL,
                "",
                "keyid=,sig=AAAA",
                "sig=AAAA,keyid=dash-2026",
                "keyid=dash 2026,sig=AAAA",
                "keyid=dash-2026;sig=AAAA",
                "keyid=dash-2026,sig=AAAA", /* 3 bytes, not 64 */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (tecg_docsign_parse(bad[i], id, sig))
                        fail_msg("'%s' parsed", bad[i] ? bad[i] : "(null)");
        snprintf(value, sizeof(value), "%s ", f->sig.value); /* trailing space */
        assert_false(tecg_docsign_parse(value, id, sig));
        snprintf(value, sizeof(value), "keyid=%s,sig=%s", "x", f->sig.sig_b64);
        assert_true(tecg_docsign_parse(value, id, sig));
        assert_string_equal(id, "x");
}

/* The public JSON holds the key and no secret, and describes the signed
 * message well enough to verify with libsodium alone: domain, a 0x00,
 * then each part as a 4-byte big-endian length and its bytes. */
static void test_public_json(void **state) {
        fixture_t *f = *state;
        char *text = tecg_docsign_public_json(&f->key);
        assert_non_null(text);
        json_t *o = json_loads(text, 0, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "key_id")), "dash-2026");
        assert_string_equal(json_string_value(json_object_get(o, "algorithm")), "Ed25519");
        assert_string_equal(json_string_value(json_object_get(o, "domain")), "tecg-document-v1");
        unsigned char pub[TECG_SIGN_PUBLIC_BYTES];
        const char *pub_b64 = json_string_value(json_object_get(o, "public_key"));
        assert_non_null(pub_b64);
        assert_true(tecg_sign_b64_decode(pub_b64, strlen(pub_b64), pub, sizeof(pub)));
        assert_memory_equal(pub, f->key.public_key, sizeof(pub));
        /* Neither the seed nor libsodium's secret key in any form. */
        char seed_b64[TECG_SIGN_PUBLIC_B64_SIZE];
        tecg_sign_b64_encode(f->key.secret, 32, seed_b64, sizeof(seed_b64));
        assert_null(strstr(text, seed_b64));
        assert_null(strstr(text, "seed"));

        const char *domain = json_string_value(json_object_get(o, "domain"));
        const char *name = "funding";
        size_t dlen = strlen(domain), nlen = strlen(name), len = strlen(doc_funding);
        size_t total = dlen + 1 + 4 + nlen + 4 + len, at = 0;
        unsigned char *msg = malloc(total);
        assert_non_null(msg);
        memcpy(msg, domain, dlen + 1);
        at = dlen + 1;
        const char *parts[2] = {name, doc_funding};
        size_t lens[2] = {nlen, len};
        for (int i = 0; i < 2; i++) {
                msg[at++] = (unsigned char)(lens[i] >> 24);
                msg[at++] = (unsigned char)(lens[i] >> 16);
                msg[at++] = (unsigned char)(lens[i] >> 8);
                msg[at++] = (unsigned char)lens[i];
                memcpy(msg + at, parts[i], lens[i]);
                at += lens[i];
        }
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        assert_true(tecg_sign_b64_decode(f->sig.sig_b64, strlen(f->sig.sig_b64), sig, sizeof(sig)));
        assert_int_equal(crypto_sign_verify_detached(sig, msg, total, pub), 0);
        msg[total - 1] ^= 1;
        assert_int_not_equal(crypto_sign_verify_detached(sig, msg, total, pub), 0);
        free(msg);
        json_decref(o);
        free(text);
}

/* ------------------------------------------------------------------ */
/* The docstore keeps the signature with the version                   */

static void test_docstore_keeps_signature(void **state) {
        fixture_t *f = *state;
        char errstr[256];
        tecg_doc_t doc;
        size_t len = strlen(doc_funding);
        assert_int_equal(tecg_docstore_put_signed(f->store, "funding", 3, doc_funding, len,
                                                  f->sig.value, errstr, sizeof(errstr)),
                         TECG_OK);
        uint64_t seq = tecg_docstore_seq(f->store);
        assert_int_equal(tecg_docstore_get(f->store, "funding", &doc), TECG_OK);
        assert_non_null(doc.signature);
        assert_string_equal(doc.signature, f->sig.value);
        assert_true(tecg_docsign_verify("dash-2026", f->key.public_key, doc.name, doc.json, doc.len,
                                        doc.signature));
        /* The same version, bytes and signature again: nothing changes. */
        assert_int_equal(tecg_docstore_put_signed(f->store, "funding", 3, doc_funding, len,
                                                  f->sig.value, errstr, sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(tecg_docstore_seq(f->store), seq);
        /* A reader's snapshot keeps its signature after a newer put. */
        assert_int_equal(tecg_docstore_put(f->store, "funding", 4, "{\"version\":4}", 13, errstr,
                                           sizeof(errstr)),
                         TECG_OK);
        assert_string_equal(doc.signature, f->sig.value);
        tecg_doc_release(&doc);
        assert_int_equal(tecg_docstore_get(f->store, "funding", &doc), TECG_OK);
        assert_int_equal(doc.version, 4);
        assert_null(doc.signature);
        tecg_doc_release(&doc);
}

/* ------------------------------------------------------------------ */
/* What the HTTP server hands out                                      */

static void start_server(fixture_t *f, bool with_key) {
        char errstr[256];
        tecg_http_server_conf_t conf;
        tecg_http_server_conf_init(&conf);
        conf.port = 0;
        if (with_key) {
                f->public_json = tecg_docsign_public_json(&f->key);
                assert_non_null(f->public_json);
                conf.signing_key_json = f->public_json;
        }
        assert_int_equal(
                tecg_docstore_put_signed(f->store, "funding", 3, doc_funding, strlen(doc_funding),
                                         with_key ? f->sig.value : NULL, errstr, sizeof(errstr)),
                TECG_OK);
        f->srv = tecg_http_server_start(&conf, f->store, errstr, sizeof(errstr));
        if (!f->srv)
                fail_msg("start: %s", errstr);
        f->port = tecg_http_server_port(f->srv);
}

typedef struct {
        long status;
        tecg_buf_t headers;
        tecg_buf_t body;
} resp_t;

static size_t collect(char *p, size_t size, size_t n, void *ud) {
        tecg_buf_append(ud, p, size * n);
        return size * n;
}

/* GET path; timeout_ms bounds a stream, which then ends by timing out. */
static void get(fixture_t *f, const char *path, long timeout_ms, resp_t *r) {
        char url[256];
        CURL *c = curl_easy_init();
        memset(r, 0, sizeof(*r));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->port, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        CURLcode rc = curl_easy_perform(c);
        if (rc != CURLE_OK && rc != CURLE_OPERATION_TIMEDOUT)
                fail_msg("%s: %s", url, curl_easy_strerror(rc));
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        tecg_buf_terminate(&r->body);
        tecg_buf_terminate(&r->headers);
        curl_easy_cleanup(c);
}

static void resp_free(resp_t *r) {
        tecg_buf_free(&r->headers);
        tecg_buf_free(&r->body);
}

/* The value of response header `name` (case-insensitive) or NULL; static. */
static const char *header(const resp_t *r, const char *name) {
        static char value[512];
        const char *p = (const char *)r->headers.data;
        size_t nl = strlen(name);
        while (p && *p) {
                const char *eol = strstr(p, "\r\n");
                if (!eol)
                        break;
                if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
                        const char *v = p + nl + 1;
                        while (*v == ' ')
                                v++;
                        snprintf(value, sizeof(value), "%.*s", (int)(eol - v), v);
                        return value;
                }
                p = eol + 2;
        }
        return NULL;
}

/* GET /api/dashboards/funding carries the version's signature, which
 * verifies over the body as received; the SSE event carries it in a
 * tecg-signature field right before its data; the key is served. */
static void test_http_signed(void **state) {
        fixture_t *f = *state;
        resp_t r;
        start_server(f, true);

        get(f, "/api/dashboards/funding", 10000, &r);
        assert_int_equal(r.status, 200);
        const char *value = header(&r, TECG_DOCSIGN_HTTP_HEADER);
        assert_non_null(value);
        assert_string_equal(value, f->sig.value);
        assert_true(tecg_docsign_verify("dash-2026", f->key.public_key, "funding",
                                        (const char *)r.body.data, r.body.len, value));
        resp_free(&r);

        get(f, "/api/stream", 1500, &r);
        char want[TECG_DOCSIGN_VALUE_SIZE + 256];
        snprintf(want, sizeof(want),
                 "event: funding\nid: funding:3\ntecg-signature: %s\ndata: %s\n\n", f->sig.value,
                 doc_funding);
        if (!r.body.data || !strstr((const char *)r.body.data, want))
                fail_msg("no signed event in\n%s", r.body.data ? (char *)r.body.data : "");
        resp_free(&r);

        get(f, TECG_DOCSIGN_WELL_KNOWN, 10000, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal((const char *)r.body.data, f->public_json);
        assert_non_null(header(&r, "Content-Type"));
        assert_string_equal(header(&r, "Content-Type"), "application/json");
        resp_free(&r);
}

/* Unsigned (security.signing=off): no header, no field, no key route. */
static void test_http_unsigned(void **state) {
        fixture_t *f = *state;
        resp_t r;
        start_server(f, false);
        get(f, "/api/dashboards/funding", 10000, &r);
        assert_int_equal(r.status, 200);
        assert_null(header(&r, TECG_DOCSIGN_HTTP_HEADER));
        resp_free(&r);
        get(f, "/api/stream", 1500, &r);
        assert_non_null(r.body.data);
        assert_non_null(strstr((const char *)r.body.data, "event: funding\n"));
        assert_null(strstr((const char *)r.body.data, "tecg-signature"));
        resp_free(&r);
        get(f, TECG_DOCSIGN_WELL_KNOWN, 10000, &r);
        assert_int_equal(r.status, 404);
        resp_free(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sign_and_verify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
                cmocka_unit_test_setup_teardown(test_public_json, setup, teardown),
                cmocka_unit_test_setup_teardown(test_docstore_keeps_signature, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_signed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_unsigned, setup, teardown),
        };
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return rc;
}
