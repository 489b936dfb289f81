/* The signature of a national event (docs/design.md §9.1), in one of two
 * forms, both Ed25519 under the nation's key:
 *
 * - single: a signature under TECG_SIGN_DOMAIN_EVENT over the event's
 *   frame: the message key (the nation code), the topic name as written,
 *   the message timestamp (8 bytes big-endian milliseconds) and the value
 *   bytes, each length-framed (common/sign.h);
 * - sealed: the frames of n events are the leaves of a Merkle tree
 *   (common/merkle.h), and one signature under
 *   TECG_SIGN_DOMAIN_EVENT_BATCH covers its root and n. Each message
 *   carries that signature and, in the tecg-batch header, n, its index and
 *   its inclusion proof: it still proves its origin on its own, while the
 *   producer signs once per batch and the aggregator checks each root once.
 *
 * The producer makes them, the aggregator checks them; both sides' parts
 * live here so that they stay the same. */
#ifndef TECG_EVENT_SIG_H
#define TECG_EVENT_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "merkle.h"
#include "sign.h"

/* The Kafka headers of a signed event: the key id as text, the 64-byte
 * signature raw and, for a sealed event only, its place in the batch. */
#define TECG_EVENT_SIG_HDR_KEY_ID "tecg-key-id"
#define TECG_EVENT_SIG_HDR_SIGNATURE "tecg-signature"
#define TECG_EVENT_SIG_HDR_BATCH "tecg-batch"

/* tecg-batch: n (2 bytes big-endian, 2-65535), the event's index in the
 * batch (2 bytes, below n), then exactly the RFC 9162 inclusion proof's
 * hashes for that index and n, 32 bytes each. */
#define TECG_EVENT_SIG_BATCH_FIXED 4
#define TECG_EVENT_SIG_BATCH_LIMIT 65535
/* The producer seals at most this many events under one signature: the
 * signature's cost spread over 64 events, a proof of 6 hashes. */
#define TECG_EVENT_SIG_SEAL_MAX 64
#define TECG_EVENT_SIG_SEAL_PATH_MAX 6
#define TECG_EVENT_SIG_SEAL_HDR_MAX \
        (TECG_EVENT_SIG_BATCH_FIXED + TECG_EVENT_SIG_SEAL_PATH_MAX * TECG_MERKLE_HASH_BYTES)

/* What a signature covers, besides the domain. */
typedef struct {
        const void *nation; /* the message key */
        size_t nation_len;
        const char *topic;
        int64_t timestamp_ms;
        const void *value;
        size_t len;
} tecg_event_sig_msg_t;

/* One sealed event's tecg-batch header. */
typedef struct {
        unsigned char bytes[TECG_EVENT_SIG_SEAL_HDR_MAX];
        size_t len;
} tecg_event_sig_batch_hdr_t;

/* The single form's signature of m. */
tecg_err_t tecg_event_sig_sign(const tecg_sign_key_t *key, const tecg_event_sig_msg_t *m,
                               unsigned char sig[TECG_SIGN_SIG_BYTES], char *errstr,
                               size_t errstr_size);

/* Seals msgs[0..n) (2 <= n <= TECG_EVENT_SIG_SEAL_MAX): the one signature
 * every one of them carries, and each one's tecg-batch header. */
tecg_err_t tecg_event_sig_seal(const tecg_sign_key_t *key, const tecg_event_sig_msg_t *msgs,
                               size_t n, unsigned char sig[TECG_SIGN_SIG_BYTES],
                               tecg_event_sig_batch_hdr_t *hdrs, char *errstr, size_t errstr_size);

typedef enum {
        TECG_EVENT_SIG_VALID,
        TECG_EVENT_SIG_BAD,            /* does not verify */
        TECG_EVENT_SIG_MALFORMED_BATCH /* tecg-batch is not n, an index and its proof */
} tecg_event_sig_verdict_t;

/* Checks m's signature: the single form when batch is NULL, else the
 * sealed form with the tecg-batch header's bytes batch[0..batch_len).
 * A root's verdict is remembered (8,192 of them, shared by every thread
 * of the process), so the rest of its seal costs a proof's hashes, not an
 * Ed25519 check, whether its signature held or not; the proof's walk
 * stops where it joins the nodes this thread holds of that seal (the same
 * verdict, fewer hashes). Safe on several threads at once. */
tecg_event_sig_verdict_t
tecg_event_sig_verify(const unsigned char public_key[TECG_SIGN_PUBLIC_BYTES],
                      const tecg_event_sig_msg_t *m, const unsigned char sig[TECG_SIGN_SIG_BYTES],
                      const void *batch, size_t batch_len);

/* Ed25519 checks tecg_event_sig_verify() made in this process (not the
 * ones a remembered root saved). */
uint64_t tecg_event_sig_checks(void);

/* Merkle node hashes tecg_event_sig_verify() made on the calling thread:
 * a proof's walk stops at a node of a seal checked before (the last few
 * seals' trees are held per thread). */
uint64_t tecg_event_sig_node_hashes(void);

#endif
