#include "merkle.h"

#include <stdint.h>
#include <string.h>

/* Nettle's SHA-256 (GnuTLS's own): it uses the CPU's SHA instructions where
 * there are some, 3 to 4 times libsodium's portable code on the producer's
 * and the aggregator's hot path (a leaf per event, a node per level), and
 * it neither allocates nor fails. */
#include <nettle/sha2.h>
#include <nettle/version.h>

/* Nettle 4 drops sha256_digest()'s length (always the whole digest). */
#if NETTLE_VERSION_MAJOR >= 4
#define SHA256_FINISH(ctx, out) sha256_digest(ctx, out)
#else
#define SHA256_FINISH(ctx, out) sha256_digest(ctx, SHA256_DIGEST_SIZE, out)
#endif

_Static_assert(sizeof(struct sha256_ctx) <= sizeof(((tecg_merkle_leaf_ctx_t *)0)->state),
               "tecg_merkle_leaf_ctx_t too small for Nettle's SHA-256 state");
_Static_assert(SHA256_DIGEST_SIZE == TECG_MERKLE_HASH_BYTES, "SHA-256 is 32 bytes");

static const unsigned char LEAF_PREFIX = 0x00, NODE_PREFIX = 0x01;

void tecg_merkle_leaf_start(tecg_merkle_leaf_ctx_t *ctx) {
        struct sha256_ctx *st = (struct sha256_ctx *)ctx->state;
        sha256_init(st);
        sha256_update(st, 1, &LEAF_PREFIX);
}

void tecg_merkle_leaf_add(tecg_merkle_leaf_ctx_t *ctx, const void *data, size_t len) {
        if (len)
                sha256_update((struct sha256_ctx *)ctx->state, len, data);
}

void tecg_merkle_leaf_end(tecg_merkle_leaf_ctx_t *ctx, tecg_merkle_hash_t out) {
        SHA256_FINISH((struct sha256_ctx *)ctx->state, out);
}

void tecg_merkle_leaf(const void *data, size_t len, tecg_merkle_hash_t out) {
        tecg_merkle_leaf_ctx_t ctx;
        tecg_merkle_leaf_start(&ctx);
        tecg_merkle_leaf_add(&ctx, data, len);
        tecg_merkle_leaf_end(&ctx, out);
}

static void node(const tecg_merkle_hash_t left, const tecg_merkle_hash_t right,
                 tecg_merkle_hash_t out) {
        struct sha256_ctx st;
        sha256_init(&st);
        sha256_update(&st, 1, &NODE_PREFIX);
        sha256_update(&st, TECG_MERKLE_HASH_BYTES, left);
        sha256_update(&st, TECG_MERKLE_HASH_BYTES, right);
        SHA256_FINISH(&st, out);
}

/* The largest power of two strictly below n (n >= 2): where RFC 9162
 * splits a tree of n leaves. */
static size_t split_point(size_t n) {
        size_t k = 1;
        while (k << 1 < n)
                k <<= 1;
        return k;
}

size_t tecg_merkle_path_len(size_t index, size_t n) {
        return tecg_merkle_steps(index, n, NULL, 0);
}

/* The root of leaves[lo, hi); appends the sibling of each half to the
 * proofs of the leaves of the other half. Proofs grow from the leaf up
 * because the halves are hashed before the node above them. */
static void subtree(const tecg_merkle_hash_t *leaves, size_t lo, size_t hi, tecg_merkle_hash_t root,
                    tecg_merkle_hash_t *paths, size_t stride, size_t *lens) {
        if (hi - lo == 1) {
                memcpy(root, leaves[lo], TECG_MERKLE_HASH_BYTES);
                return;
        }
        size_t mid = lo + split_point(hi - lo);
        tecg_merkle_hash_t left, right;
        subtree(leaves, lo, mid, left, paths, stride, lens);
        subtree(leaves, mid, hi, right, paths, stride, lens);
        if (paths) {
                for (size_t i = lo; i < hi; i++)
                        memcpy(paths[i * stride + lens[i]++], i < mid ? right : left,
                               TECG_MERKLE_HASH_BYTES);
        }
        node(left, right, root);
}

bool tecg_merkle_tree(const tecg_merkle_hash_t *leaves, size_t n, tecg_merkle_hash_t root,
                      tecg_merkle_hash_t *paths, size_t path_stride) {
        size_t lens[TECG_MERKLE_TREE_MAX]; /* each proof's length so far */
        if (n == 0 || (paths && n > TECG_MERKLE_TREE_MAX))
                return false;
        if (paths)
                memset(lens, 0, n * sizeof(*lens));
        subtree(leaves, 0, n, root, paths, path_stride, lens);
        return true;
}

size_t tecg_merkle_steps(size_t index, size_t n, tecg_merkle_step_t *steps, size_t max) {
        /* RFC 9162's recursion from the root down, then turned round. */
        tecg_merkle_step_t down[64];
        size_t depth = 0, lo = 0, hi = n;
        if (index >= n)
                return 0;
        while (hi - lo > 1) {
                size_t mid = lo + split_point(hi - lo);
                down[depth++] = (tecg_merkle_step_t){lo, mid, hi};
                if (index < mid)
                        hi = mid;
                else
                        lo = mid;
        }
        for (size_t k = 0; k < depth && k < max; k++)
                steps[k] = down[depth - 1 - k];
        return depth;
}

void tecg_merkle_step_hash(const tecg_merkle_step_t *step, size_t index,
                           const tecg_merkle_hash_t below, const tecg_merkle_hash_t sibling,
                           tecg_merkle_hash_t out) {
        if (index < step->mid)
                node(below, sibling, out);
        else
                node(sibling, below, out);
}

size_t tecg_merkle_split(size_t n) {
        return split_point(n);
}

bool tecg_merkle_root_from_path(const tecg_merkle_hash_t leaf, size_t index, size_t n,
                                const tecg_merkle_hash_t *path, size_t path_len,
                                tecg_merkle_hash_t root) {
        tecg_merkle_step_t steps[64];
        if (index >= n || tecg_merkle_steps(index, n, steps, 64) != path_len)
                return false;
        tecg_merkle_hash_t r;
        memcpy(r, leaf, TECG_MERKLE_HASH_BYTES);
        for (size_t k = 0; k < path_len; k++)
                tecg_merkle_step_hash(&steps[k], index, r, path[k], r);
        memcpy(root, r, TECG_MERKLE_HASH_BYTES);
        return true;
}
