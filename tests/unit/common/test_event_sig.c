/* Event signatures (common/event_sig.c), both forms: a single signature
 * and a sealed one both verify over exactly the key, topic, timestamp and
 * value of their event; a sealed event's tecg-batch header is n, its index
 * and its proof, and any change to them, to the signature or to another
 * event's place in the batch is refused; a root's verdict is remembered
 * once its check is made, and then for every thread; the nodes of a seal held by a
 * thread save hashes and change no verdict. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "event_sig.h"

static char errstr[512];

#define TOPIC "tecg.contributions"

static tecg_event_sig_msg_t msg(const char *nation, const char *topic, int64_t ts,
                                const char *value) {
        return (tecg_event_sig_msg_t){nation, strlen(nation), topic, ts, value, strlen(value)};
}

static void test_single_signature_covers_each_part(void **state) {
        (void)state;
        tecg_sign_key_t key;
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        assert_int_equal(tecg_sign_keygen("FRA-1", &key, errstr, sizeof(errstr)), TECG_OK);
        const char *value = "\xc3\x01 event";
        tecg_event_sig_msg_t m = msg("FRA", TOPIC, 1234567, value);
        assert_int_equal(tecg_event_sig_sign(&key, &m, sig, errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(tecg_event_sig_verify(key.public_key, &m, sig, NULL, 0),
                         TECG_EVENT_SIG_VALID);
        tecg_event_sig_msg_t changed[] = {
                msg("DEU", TOPIC, 1234567, value),
                msg("FRA", "tecg.training-completions", 1234567, value),
                msg("FRA", TOPIC, 1234568, value),
                msg("FRA", TOPIC, 1234567, "\xc3\x01 even"),
        };
        for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++)
                assert_int_equal(tecg_event_sig_verify(key.public_key, &changed[i], sig, NULL, 0),
                                 TECG_EVENT_SIG_BAD);
        /* Not a document's signature: the domain differs. */
        const tecg_sign_part_t parts[] = {{value, strlen(value)}};
        assert_int_equal(
                tecg_sign(&key, TECG_SIGN_DOMAIN_DOCUMENT, parts, 1, sig, errstr, sizeof(errstr)),
                TECG_OK);
        assert_int_equal(tecg_event_sig_verify(key.public_key, &m, sig, NULL, 0),
                         TECG_EVENT_SIG_BAD);
        tecg_sign_key_wipe(&key);
}

#define N 11

typedef struct {
        tecg_sign_key_t key, other;
        char values[TECG_EVENT_SIG_SEAL_MAX][32];
        tecg_event_sig_msg_t msgs[TECG_EVENT_SIG_SEAL_MAX];
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        tecg_event_sig_batch_hdr_t hdrs[TECG_EVENT_SIG_SEAL_MAX];
} sealed_t;

/* Seals n events; another tag, other events (another root). */
static void seal_tagged(sealed_t *s, size_t n, int tag) {
        assert_int_equal(tecg_sign_keygen("FRA-1", &s->key, errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(tecg_sign_keygen("FRA-2", &s->other, errstr, sizeof(errstr)), TECG_OK);
        for (size_t i = 0; i < n; i++) {
                snprintf(s->values[i], sizeof(s->values[i]), "event %zu of %d", i, tag);
                s->msgs[i] = msg("FRA", i % 2 ? "tecg.training-completions" : TOPIC,
                                 1700000000000 + (int64_t)i, s->values[i]);
        }
        assert_int_equal(
                tecg_event_sig_seal(&s->key, s->msgs, n, s->sig, s->hdrs, errstr, sizeof(errstr)),
                TECG_OK);
}

static void seal(sealed_t *s, size_t n) {
        seal_tagged(s, n, 0);
}

static void test_each_sealed_event_verifies_alone(void **state) {
        (void)state;
        sealed_t s;
        seal(&s, N);
        for (size_t i = 0; i < N; i++) {
                const unsigned char *h = s.hdrs[i].bytes;
                assert_int_equal(h[0] << 8 | h[1], N);
                assert_int_equal(h[2] << 8 | h[3], i);
                assert_int_equal(s.hdrs[i].len,
                                 4 + tecg_merkle_path_len(i, N) * TECG_MERKLE_HASH_BYTES);
                assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[i], s.sig, h,
                                                       s.hdrs[i].len),
                                 TECG_EVENT_SIG_VALID);
                /* Not with another key, nor as a single signature. */
                assert_int_equal(tecg_event_sig_verify(s.other.public_key, &s.msgs[i], s.sig, h,
                                                       s.hdrs[i].len),
                                 TECG_EVENT_SIG_BAD);
                assert_int_equal(
                        tecg_event_sig_verify(s.key.public_key, &s.msgs[i], s.sig, NULL, 0),
                        TECG_EVENT_SIG_BAD);
        }
        /* The smallest and the largest seal. */
        assert_int_equal(
                tecg_event_sig_seal(&s.key, s.msgs, 1, s.sig, s.hdrs, errstr, sizeof(errstr)),
                TECG_ERR_INVALID);
        assert_non_null(strstr(errstr, "2 to 64 events"));
        seal(&s, 2);
        assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[1], s.sig, s.hdrs[1].bytes,
                                               s.hdrs[1].len),
                         TECG_EVENT_SIG_VALID);
}

static void test_a_changed_event_header_or_signature_is_refused(void **state) {
        (void)state;
        sealed_t s;
        seal(&s, N);
        const size_t i = 6;
        const tecg_event_sig_batch_hdr_t *h = &s.hdrs[i];
        /* Every event verified: the root is remembered and the whole tree
         * held; every change below must still fail. */
        for (size_t e = 0; e < N; e++)
                assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[e], s.sig,
                                                       s.hdrs[e].bytes, s.hdrs[e].len),
                                 TECG_EVENT_SIG_VALID);
        tecg_event_sig_msg_t m = s.msgs[i];
        m.timestamp_ms++;
        assert_int_equal(tecg_event_sig_verify(s.key.public_key, &m, s.sig, h->bytes, h->len),
                         TECG_EVENT_SIG_BAD);
        m = s.msgs[i];
        m.topic = i % 2 ? TOPIC : "tecg.training-completions";
        assert_int_equal(tecg_event_sig_verify(s.key.public_key, &m, s.sig, h->bytes, h->len),
                         TECG_EVENT_SIG_BAD);
        /* Another event of the batch with this event's header. */
        assert_int_equal(
                tecg_event_sig_verify(s.key.public_key, &s.msgs[i + 1], s.sig, h->bytes, h->len),
                TECG_EVENT_SIG_BAD);
        /* Every byte of the header and of the signature flipped in turn. */
        for (size_t b = 0; b < h->len; b++) {
                tecg_event_sig_batch_hdr_t bad = *h;
                bad.bytes[b] ^= 0x10;
                tecg_event_sig_verdict_t v = tecg_event_sig_verify(s.key.public_key, &s.msgs[i],
                                                                   s.sig, bad.bytes, bad.len);
                assert_int_not_equal(v, TECG_EVENT_SIG_VALID);
        }
        for (size_t b = 0; b < sizeof(s.sig); b++) {
                unsigned char sig[TECG_SIGN_SIG_BYTES];
                memcpy(sig, s.sig, sizeof(sig));
                sig[b] ^= 0x01;
                assert_int_equal(
                        tecg_event_sig_verify(s.key.public_key, &s.msgs[i], sig, h->bytes, h->len),
                        TECG_EVENT_SIG_BAD);
        }
        /* Headers that are not n, an index below it and exactly its proof. */
        tecg_event_sig_batch_hdr_t bad = *h;
        assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[i], s.sig, bad.bytes, 3),
                         TECG_EVENT_SIG_MALFORMED_BATCH);
        assert_int_equal(
                tecg_event_sig_verify(s.key.public_key, &s.msgs[i], s.sig, bad.bytes, bad.len - 1),
                TECG_EVENT_SIG_MALFORMED_BATCH);
        bad.bytes[2] = 0;
        bad.bytes[3] = N; /* index == n */
        assert_int_equal(
                tecg_event_sig_verify(s.key.public_key, &s.msgs[i], s.sig, bad.bytes, bad.len),
                TECG_EVENT_SIG_MALFORMED_BATCH);
        bad = *h;
        bad.bytes[0] = 0;
        bad.bytes[1] = 1; /* a batch of one is the single form's */
        assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[i], s.sig, bad.bytes, 4),
                         TECG_EVENT_SIG_MALFORMED_BATCH);
        /* The same proof claimed for a larger tree (leaf 0's proof is the
         * same in a tree of 11 and of 12): the signed n refuses it. */
        bad = s.hdrs[0];
        bad.bytes[1] = N + 1;
        assert_int_equal(
                tecg_event_sig_verify(s.key.public_key, &s.msgs[0], s.sig, bad.bytes, bad.len),
                TECG_EVENT_SIG_BAD);
}

/* A full seal verified in order, backwards and scattered, each on a fresh thread
 * (the nodes held are per thread): every event holds, and after the
 * first event's walk to the root each inner node is made once. */
typedef struct {
        const sealed_t *s;
        size_t n;
        size_t stride; /* the k-th event checked is (k * stride) % n */
        int invalid;
        uint64_t node_hashes;
} seal_walk_arg_t;

static void *verify_seal(void *opaque) {
        seal_walk_arg_t *a = opaque;
        for (size_t k = 0; k < a->n; k++) {
                size_t i = k * a->stride % a->n;
                a->invalid += tecg_event_sig_verify(a->s->key.public_key, &a->s->msgs[i], a->s->sig,
                                                    a->s->hdrs[i].bytes,
                                                    a->s->hdrs[i].len) != TECG_EVENT_SIG_VALID;
        }
        a->node_hashes = tecg_event_sig_node_hashes();
        return NULL;
}

static void test_a_seal_in_order_costs_about_a_node_hash_an_event(void **state) {
        (void)state;
        static sealed_t s;
        seal_tagged(&s, TECG_EVENT_SIG_SEAL_MAX, 7);
        /* In order; 0 then backwards; scattered (37 is prime to 64). */
        static const size_t strides[] = {1, TECG_EVENT_SIG_SEAL_MAX - 1, 37};
        for (size_t o = 0; o < sizeof(strides) / sizeof(strides[0]); o++) {
                seal_walk_arg_t a = {&s, TECG_EVENT_SIG_SEAL_MAX, strides[o], 0, 0};
                pthread_t t;
                assert_int_equal(pthread_create(&t, NULL, verify_seal, &a), 0);
                assert_int_equal(pthread_join(t, NULL), 0);
                assert_int_equal(a.invalid, 0);
                /* Each of the 63 inner nodes made once (a walk to the
                 * root each: 384). */
                assert_int_equal(a.node_hashes, TECG_EVENT_SIG_SEAL_MAX - 1);
        }
}

/* With every node of a seal held, a changed event, proof or index is
 * judged as a thread that holds nothing judges it: refused. */
static void test_a_held_seal_refuses_what_a_fresh_check_refuses(void **state) {
        (void)state;
        static sealed_t s;
        seal_tagged(&s, TECG_EVENT_SIG_SEAL_MAX, 8);
        seal_walk_arg_t all = {&s, TECG_EVENT_SIG_SEAL_MAX, 1, 0, 0};
        verify_seal(&all);
        assert_int_equal(all.invalid, 0);
        const size_t events[] = {0, 1, 2, 31, 32, 62, 63};
        for (size_t e = 0; e < sizeof(events) / sizeof(events[0]); e++) {
                size_t i = events[e];
                const tecg_event_sig_batch_hdr_t *h = &s.hdrs[i];
                for (size_t b = 2; b < h->len; b++) { /* the index and every proof byte */
                        tecg_event_sig_batch_hdr_t bad = *h;
                        bad.bytes[b] ^= 0x01;
                        assert_int_not_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[i],
                                                                   s.sig, bad.bytes, bad.len),
                                             TECG_EVENT_SIG_VALID);
                }
                /* Its own proof for the event next to it. */
                size_t next = i + 1 < TECG_EVENT_SIG_SEAL_MAX ? i + 1 : i - 1;
                assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[next], s.sig,
                                                       h->bytes, h->len),
                                 TECG_EVENT_SIG_BAD);
                tecg_event_sig_msg_t m = s.msgs[i];
                m.timestamp_ms++;
                assert_int_equal(
                        tecg_event_sig_verify(s.key.public_key, &m, s.sig, h->bytes, h->len),
                        TECG_EVENT_SIG_BAD);
                /* Still valid as it came. */
                assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[i], s.sig,
                                                       h->bytes, h->len),
                                 TECG_EVENT_SIG_VALID);
        }
}

/* One seal's events on two threads: one Ed25519 check in all (the events
 * of one seal go to two topics, read by any thread); a signature that is
 * not the one checked, or another key, is checked again and refused. */
typedef struct {
        const sealed_t *s;
        size_t i;
        tecg_event_sig_verdict_t verdict;
} verify_arg_t;

static void *verify_on_a_thread(void *opaque) {
        verify_arg_t *a = opaque;
        a->verdict = tecg_event_sig_verify(a->s->key.public_key, &a->s->msgs[a->i], a->s->sig,
                                           a->s->hdrs[a->i].bytes, a->s->hdrs[a->i].len);
        return NULL;
}

static void test_a_root_is_checked_once_for_every_thread(void **state) {
        (void)state;
        sealed_t s;
        seal(&s, N);
        uint64_t before = tecg_event_sig_checks();
        verify_arg_t a = {&s, 3, TECG_EVENT_SIG_BAD};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, verify_on_a_thread, &a), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(a.verdict, TECG_EVENT_SIG_VALID);
        assert_int_equal(tecg_event_sig_checks(), before + 1);
        for (size_t i = 0; i < N; i++)
                assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[i], s.sig,
                                                       s.hdrs[i].bytes, s.hdrs[i].len),
                                 TECG_EVENT_SIG_VALID);
        assert_int_equal(tecg_event_sig_checks(), before + 1);

        unsigned char sig[TECG_SIGN_SIG_BYTES];
        memcpy(sig, s.sig, sizeof(sig));
        sig[10] ^= 0x04;
        assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[0], sig, s.hdrs[0].bytes,
                                               s.hdrs[0].len),
                         TECG_EVENT_SIG_BAD);
        assert_int_equal(tecg_event_sig_verify(s.other.public_key, &s.msgs[0], s.sig,
                                               s.hdrs[0].bytes, s.hdrs[0].len),
                         TECG_EVENT_SIG_BAD);
        assert_int_equal(tecg_event_sig_checks(), before + 3);
}

/* A seal whose signature does not hold costs one check, not one per
 * event: the failed verdict is remembered as the valid ones are. The
 * real signature still holds afterwards. */
static void test_a_forged_seal_costs_one_check(void **state) {
        (void)state;
        sealed_t s;
        seal_tagged(&s, N, 9);
        unsigned char forged[TECG_SIGN_SIG_BYTES];
        memcpy(forged, s.sig, sizeof(forged));
        forged[5] ^= 0x20;
        uint64_t before = tecg_event_sig_checks();
        for (size_t i = 0; i < N; i++)
                assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[i], forged,
                                                       s.hdrs[i].bytes, s.hdrs[i].len),
                                 TECG_EVENT_SIG_BAD);
        assert_int_equal(tecg_event_sig_checks(), before + 1);
        assert_int_equal(tecg_event_sig_verify(s.key.public_key, &s.msgs[0], s.sig, s.hdrs[0].bytes,
                                               s.hdrs[0].len),
                         TECG_EVENT_SIG_VALID);
        assert_int_equal(tecg_event_sig_checks(), before + 2);
}

/* Two threads verifying the same seals at the same time, in opposite
 * orders: one Ed25519 check a seal, whoever met it first (the other waits
 * for that verdict). Roots do not depend on the key, so these seals'
 * places in the table are the same every run. */
#define CONCURRENT_SEALS 8

typedef struct {
        const sealed_t *seals;
        bool backwards;
        int invalid;
} verify_all_arg_t;

static void *verify_all(void *opaque) {
        verify_all_arg_t *a = opaque;
        for (int k = 0; k < CONCURRENT_SEALS * N; k++) {
                int at = a->backwards ? CONCURRENT_SEALS * N - 1 - k : k;
                const sealed_t *s = &a->seals[at / N];
                size_t i = (size_t)(at % N);
                a->invalid += tecg_event_sig_verify(s->key.public_key, &s->msgs[i], s->sig,
                                                    s->hdrs[i].bytes,
                                                    s->hdrs[i].len) != TECG_EVENT_SIG_VALID;
        }
        return NULL;
}

static void test_threads_meeting_on_a_root_check_it_once(void **state) {
        (void)state;
        static sealed_t seals[CONCURRENT_SEALS];
        for (int k = 0; k < CONCURRENT_SEALS; k++)
                seal_tagged(&seals[k], N, 100 + k);
        uint64_t before = tecg_event_sig_checks();
        verify_all_arg_t a = {seals, false, 0}, b = {seals, true, 0};
        pthread_t ta, tb;
        assert_int_equal(pthread_create(&ta, NULL, verify_all, &a), 0);
        assert_int_equal(pthread_create(&tb, NULL, verify_all, &b), 0);
        assert_int_equal(pthread_join(ta, NULL), 0);
        assert_int_equal(pthread_join(tb, NULL), 0);
        assert_int_equal(a.invalid + b.invalid, 0);
        assert_int_equal(tecg_event_sig_checks(), before + CONCURRENT_SEALS);
}

int main(void) {
        if (tecg_sign_init(errstr, sizeof(errstr)) != TECG_OK)
                return 1;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_single_signature_covers_each_part),
                cmocka_unit_test(test_each_sealed_event_verifies_alone),
                cmocka_unit_test(test_a_changed_event_header_or_signature_is_refused),
                cmocka_unit_test(test_a_seal_in_order_costs_about_a_node_hash_an_event),
                cmocka_unit_test(test_a_held_seal_refuses_what_a_fresh_check_refuses),
                cmocka_unit_test(test_a_root_is_checked_once_for_every_thread),
                cmocka_unit_test(test_a_forged_seal_costs_one_check),
                cmocka_unit_test(test_threads_meeting_on_a_root_check_it_once),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
