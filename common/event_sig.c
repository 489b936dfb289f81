#include "event_sig.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"

_Static_assert(TECG_EVENT_SIG_SEAL_MAX <= TECG_MERKLE_TREE_MAX &&
                       (1 << TECG_EVENT_SIG_SEAL_PATH_MAX) >= TECG_EVENT_SIG_SEAL_MAX,
               "a seal's tree and proofs must fit tecg_merkle_tree() and the header");

/* Proofs a verifier reads: enough for TECG_EVENT_SIG_BATCH_LIMIT leaves. */
#define PATH_LIMIT 16
/* Roots whose signature held, shared by every verifying thread: a seal's
 * events may be split between threads (and, from an older producer or
 * another peer, between topics and batches). Enough for several of the
 * aggregator's batches of 50,000. */
#define ROOTS_REMEMBERED 8192

/* The four parts of m's frame; ts is their timestamp's storage. */
static void frame_parts(const tecg_event_sig_msg_t *m, unsigned char ts[8],
                        tecg_sign_part_t parts[4]) {
        tecg_put_be(ts, (uint64_t)m->timestamp_ms, 8);
        parts[0] = (tecg_sign_part_t){m->nation, m->nation_len};
        parts[1] = (tecg_sign_part_t){m->topic, strlen(m->topic)};
        parts[2] = (tecg_sign_part_t){ts, 8};
        parts[3] = (tecg_sign_part_t){m->value, m->value ? m->len : 0};
}

tecg_err_t tecg_event_sig_sign(const tecg_sign_key_t *key, const tecg_event_sig_msg_t *m,
                               unsigned char sig[TECG_SIGN_SIG_BYTES], char *errstr,
                               size_t errstr_size) {
        unsigned char ts[8];
        tecg_sign_part_t parts[4];
        frame_parts(m, ts, parts);
        return tecg_sign(key, TECG_SIGN_DOMAIN_EVENT, parts, 4, sig, errstr, errstr_size);
}

static void leaf_add(void *ctx, const void *data, size_t len) {
        tecg_merkle_leaf_add(ctx, data, len);
}

/* The Merkle leaf of m: its single-form frame, hashed. */
static void event_leaf(const tecg_event_sig_msg_t *m, tecg_merkle_hash_t leaf) {
        unsigned char ts[8];
        tecg_sign_part_t parts[4];
        tecg_merkle_leaf_ctx_t ctx;
        frame_parts(m, ts, parts);
        tecg_merkle_leaf_start(&ctx);
        tecg_sign_frame_feed(TECG_SIGN_DOMAIN_EVENT, parts, 4, leaf_add, &ctx);
        tecg_merkle_leaf_end(&ctx, leaf);
}

/* The batch signature's parts: the root and n, 4 bytes big-endian. */
static void root_parts(const tecg_merkle_hash_t root, size_t n, unsigned char n_be[4],
                       tecg_sign_part_t parts[2]) {
        tecg_put_be(n_be, n, 4);
        parts[0] = (tecg_sign_part_t){root, TECG_MERKLE_HASH_BYTES};
        parts[1] = (tecg_sign_part_t){n_be, 4};
}

tecg_err_t tecg_event_sig_seal(const tecg_sign_key_t *key, const tecg_event_sig_msg_t *msgs,
                               size_t n, unsigned char sig[TECG_SIGN_SIG_BYTES],
                               tecg_event_sig_batch_hdr_t *hdrs, char *errstr, size_t errstr_size) {
        tecg_merkle_hash_t leaves[TECG_EVENT_SIG_SEAL_MAX], root;
        tecg_merkle_hash_t paths[TECG_EVENT_SIG_SEAL_MAX * TECG_EVENT_SIG_SEAL_PATH_MAX];
        if (n < 2 || n > TECG_EVENT_SIG_SEAL_MAX)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "a sealed batch holds 2 to %d events, not %zu",
                                   TECG_EVENT_SIG_SEAL_MAX, n);
        for (size_t i = 0; i < n; i++)
                event_leaf(&msgs[i], leaves[i]);
        tecg_merkle_tree(leaves, n, root, paths, TECG_EVENT_SIG_SEAL_PATH_MAX);
        for (size_t i = 0; i < n; i++) {
                size_t path_len = tecg_merkle_path_len(i, n);
                unsigned char *b = hdrs[i].bytes;
                tecg_put_be(b, n, 2);
                tecg_put_be(b + 2, i, 2);
                memcpy(b + TECG_EVENT_SIG_BATCH_FIXED, paths[i * TECG_EVENT_SIG_SEAL_PATH_MAX],
                       path_len * TECG_MERKLE_HASH_BYTES);
                hdrs[i].len = TECG_EVENT_SIG_BATCH_FIXED + path_len * TECG_MERKLE_HASH_BYTES;
        }
        unsigned char n_be[4];
        tecg_sign_part_t parts[2];
        root_parts(root, n, n_be, parts);
        return tecg_sign(key, TECG_SIGN_DOMAIN_EVENT_BATCH, parts, 2, sig, errstr, errstr_size);
}

/* A root being checked, or whose signature held or failed, with the whole
 * of what is checked, so that a hit is the same check (key, root, n and
 * signature all equal). A failed one is remembered too: the rest of a
 * forged or damaged seal costs no more checks (and another signature is
 * another entry, so a forger cannot make a valid seal fail). */
typedef enum { ROOT_EMPTY, ROOT_CHECKING, ROOT_VALID, ROOT_REFUSED } root_state_t;
typedef struct {
        root_state_t state;
        size_t n;
        unsigned char public_key[TECG_SIGN_PUBLIC_BYTES];
        tecg_merkle_hash_t root;
        unsigned char sig[TECG_SIGN_SIG_BYTES];
} root_seen_t;

/* Direct-mapped by the root's first bytes (a hash): a root that takes
 * another's slot only costs that one a check again, whoever chose it. A
 * thread that finds its root being checked by another waits for that
 * verdict rather than make the same check (the two parts of a seal often
 * come up on two threads at once). */
static root_seen_t roots_seen[ROOTS_REMEMBERED];
static pthread_mutex_t roots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t roots_checked = PTHREAD_COND_INITIALIZER;
static atomic_uint_fast64_t checks_made;

static root_seen_t *root_slot(const tecg_merkle_hash_t root) {
        return &roots_seen[tecg_get_be(root, 4) % ROOTS_REMEMBERED];
}

static bool root_is(const root_seen_t *s, const unsigned char *public_key,
                    const tecg_merkle_hash_t root, size_t n, const unsigned char *sig) {
        return s->state != ROOT_EMPTY && s->n == n && memcmp(s->root, root, sizeof(s->root)) == 0 &&
               memcmp(s->sig, sig, sizeof(s->sig)) == 0 &&
               memcmp(s->public_key, public_key, sizeof(s->public_key)) == 0;
}

/* Checks the signature over root and n once for every thread. */
static bool root_signature_holds(const unsigned char *public_key, const tecg_merkle_hash_t root,
                                 size_t n, const unsigned char *sig) {
        root_seen_t *s = root_slot(root);
        pthread_mutex_lock(&roots_lock);
        while (root_is(s, public_key, root, n, sig) && s->state == ROOT_CHECKING)
                pthread_cond_wait(&roots_checked, &roots_lock);
        if (root_is(s, public_key, root, n, sig)) { /* the verdict */
                bool valid = s->state == ROOT_VALID;
                pthread_mutex_unlock(&roots_lock);
                return valid;
        }
        /* A slot another root is being checked in is left to that check. */
        bool claimed = s->state != ROOT_CHECKING;
        if (claimed) {
                s->state = ROOT_CHECKING;
                s->n = n;
                memcpy(s->public_key, public_key, sizeof(s->public_key));
                memcpy(s->root, root, sizeof(s->root));
                memcpy(s->sig, sig, sizeof(s->sig));
        }
        pthread_mutex_unlock(&roots_lock);

        unsigned char n_be[4];
        tecg_sign_part_t parts[2];
        root_parts(root, n, n_be, parts);
        atomic_fetch_add(&checks_made, 1);
        bool holds = tecg_sign_verify(public_key, TECG_SIGN_DOMAIN_EVENT_BATCH, parts, 2, sig);

        if (claimed) {
                pthread_mutex_lock(&roots_lock);
                s->state = holds ? ROOT_VALID : ROOT_REFUSED;
                pthread_cond_broadcast(&roots_checked);
                pthread_mutex_unlock(&roots_lock);
        }
        return holds;
}

uint64_t tecg_event_sig_checks(void) {
        return atomic_load(&checks_made);
}

/* The nodes of recently checked seals' trees, on each verifying thread.
 * A seal's events come one after the other in a partition (the producer
 * seals one topic's events and sends them together), and a proof's hashes
 * are nodes of the tree too: once one event led to a root whose signature
 * held, the next event's proof mostly consists of nodes already known.
 * When every proof hash from some level up is the known node at its
 * place, and the node the proof makes at that level is known too, the
 * whole walk would end at the known root: the event is in the seal
 * without hashing on (about 1 node hash an event instead of 6) or taking
 * the shared table's lock. The verdict is the one the whole walk gives,
 * whatever the thread saw before (a replayed batch is judged the same).
 * Only seals of tecg's own size are held. */
#define SEALS_HELD 4
/* A node's place: a leaf's is SEAL_SLOTS / 2 + its index, an inner
 * node's its split point (1 to n - 1; each inner node has its own). */
#define SEAL_SLOTS (2 * TECG_EVENT_SIG_SEAL_MAX)
typedef struct {
        uint64_t last_used; /* 0: empty */
        size_t n;
        unsigned char public_key[TECG_SIGN_PUBLIC_BYTES];
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        uint64_t known[SEAL_SLOTS / 64]; /* bit s: node[s] holds */
        tecg_merkle_hash_t node[SEAL_SLOTS];
} seal_nodes_t;

static _Thread_local struct {
        seal_nodes_t seals[SEALS_HELD];
        uint64_t uses;
        uint64_t node_hashes; /* tecg_event_sig_node_hashes() */
} held;

static size_t slot_of(size_t lo, size_t hi) {
        return hi - lo == 1 ? SEAL_SLOTS / 2 + lo : lo + tecg_merkle_split(hi - lo);
}

/* The place of the node step k's proof hash stands for. */
static size_t sibling_slot(const tecg_merkle_step_t *step, size_t index) {
        return index < step->mid ? slot_of(step->mid, step->hi) : slot_of(step->lo, step->mid);
}

/* The place of the node on the leaf's side below step k (k == path_len:
 * the root). */
static size_t below_slot(const tecg_merkle_step_t *steps, size_t k, size_t index) {
        return k == 0 ? SEAL_SLOTS / 2 + index : slot_of(steps[k - 1].lo, steps[k - 1].hi);
}

static bool held_is(const seal_nodes_t *h, size_t slot, const tecg_merkle_hash_t node) {
        return (h->known[slot / 64] >> (slot % 64) & 1) &&
               memcmp(h->node[slot], node, TECG_MERKLE_HASH_BYTES) == 0;
}

static void hold_node(seal_nodes_t *h, size_t slot, const tecg_merkle_hash_t node) {
        memcpy(h->node[slot], node, TECG_MERKLE_HASH_BYTES);
        h->known[slot / 64] |= (uint64_t)1 << (slot % 64);
}

/* The seal (key, signature, n) this thread holds nodes of, or NULL. */
static seal_nodes_t *seal_held(const unsigned char *public_key, const unsigned char *sig,
                               size_t n) {
        for (int i = 0; i < SEALS_HELD; i++) {
                seal_nodes_t *h = &held.seals[i];
                if (h->last_used && h->n == n && memcmp(h->sig, sig, sizeof(h->sig)) == 0 &&
                    memcmp(h->public_key, public_key, sizeof(h->public_key)) == 0) {
                        h->last_used = ++held.uses;
                        return h;
                }
        }
        return NULL;
}

/* A place for the seal whose root's signature just held, the least
 * recently used one's (or h, emptied: it held another root under the
 * same signature, which only a broken signature scheme allows). */
static seal_nodes_t *seal_take(seal_nodes_t *h, const unsigned char *public_key,
                               const unsigned char *sig, size_t n) {
        if (!h) {
                h = &held.seals[0];
                for (int i = 1; i < SEALS_HELD; i++)
                        if (held.seals[i].last_used < h->last_used)
                                h = &held.seals[i];
        }
        h->n = n;
        memcpy(h->public_key, public_key, sizeof(h->public_key));
        memcpy(h->sig, sig, sizeof(h->sig));
        memset(h->known, 0, sizeof(h->known));
        h->last_used = ++held.uses;
        return h;
}

uint64_t tecg_event_sig_node_hashes(void) {
        return held.node_hashes;
}

/* The sealed form's check of the event whose leaf hash is `leaf`. */
static bool sealed_event_holds(const unsigned char *public_key, const unsigned char *sig,
                               const tecg_merkle_hash_t leaf, size_t index, size_t n,
                               const tecg_merkle_hash_t *path, size_t path_len) {
        tecg_merkle_step_t steps[PATH_LIMIT];
        tecg_merkle_hash_t made[PATH_LIMIT + 1]; /* made[k]: the node below step k */
        tecg_merkle_steps(index, n, steps, PATH_LIMIT);
        seal_nodes_t *h = n <= TECG_EVENT_SIG_SEAL_MAX ? seal_held(public_key, sig, n) : NULL;
        /* The lowest level from which every proof hash is a known node. */
        size_t from = path_len;
        while (h && from > 0 && held_is(h, sibling_slot(&steps[from - 1], index), path[from - 1]))
                from--;
        memcpy(made[0], leaf, TECG_MERKLE_HASH_BYTES);
        size_t k = 0;
        for (;; k++) {
                if (h && k == from && held_is(h, below_slot(steps, k, index), made[k]))
                        break; /* the rest of the walk is the known one */
                if (k == path_len) {
                        /* None held, or another root: nodes are held in
                         * pairs (a node and its sibling) up to the root, so
                         * a walk to the held root joins it on the way. */
                        if (!root_signature_holds(public_key, made[k], n, sig))
                                return false;
                        if (n > TECG_EVENT_SIG_SEAL_MAX)
                                return true;
                        h = seal_take(h, public_key, sig, n);
                        hold_node(h, below_slot(steps, k, index), made[k]);
                        break;
                }
                tecg_merkle_step_hash(&steps[k], index, made[k], path[k], made[k + 1]);
                held.node_hashes++;
        }
        /* What the walk met below where it joined the known tree is in
         * the tree too. */
        for (size_t j = 0; j < k; j++) {
                hold_node(h, below_slot(steps, j, index), made[j]);
                hold_node(h, sibling_slot(&steps[j], index), path[j]);
        }
        return true;
}

tecg_event_sig_verdict_t
tecg_event_sig_verify(const unsigned char public_key[TECG_SIGN_PUBLIC_BYTES],
                      const tecg_event_sig_msg_t *m, const unsigned char sig[TECG_SIGN_SIG_BYTES],
                      const void *batch, size_t batch_len) {
        if (!batch) {
                unsigned char ts[8];
                tecg_sign_part_t parts[4];
                frame_parts(m, ts, parts);
                atomic_fetch_add(&checks_made, 1);
                return tecg_sign_verify(public_key, TECG_SIGN_DOMAIN_EVENT, parts, 4, sig)
                               ? TECG_EVENT_SIG_VALID
                               : TECG_EVENT_SIG_BAD;
        }
        const unsigned char *b = batch;
        if (batch_len < TECG_EVENT_SIG_BATCH_FIXED)
                return TECG_EVENT_SIG_MALFORMED_BATCH;
        size_t n = (size_t)tecg_get_be(b, 2), index = (size_t)tecg_get_be(b + 2, 2);
        size_t path_len = tecg_merkle_path_len(index, n);
        if (n < 2 || index >= n ||
            batch_len != TECG_EVENT_SIG_BATCH_FIXED + path_len * TECG_MERKLE_HASH_BYTES ||
            path_len > PATH_LIMIT)
                return TECG_EVENT_SIG_MALFORMED_BATCH;
        /* The header's bytes may sit anywhere (librdkafka's buffer): copy
         * the proof into aligned storage. */
        tecg_merkle_hash_t path[PATH_LIMIT], leaf;
        memcpy(path, b + TECG_EVENT_SIG_BATCH_FIXED, path_len * TECG_MERKLE_HASH_BYTES);
        event_leaf(m, leaf);
        return sealed_event_holds(public_key, sig, leaf, index, n, path, path_len)
                       ? TECG_EVENT_SIG_VALID
                       : TECG_EVENT_SIG_BAD;
}
