/* Merkle trees of SHA-256 as RFC 9162 (Certificate Transparency 2.0)
 * defines them, §2.1: a leaf's hash is SHA-256(0x00 || data), a node's
 * SHA-256(0x01 || left || right), and a tree of n leaves splits at the
 * largest power of two below n. One signature over the root then vouches
 * for every leaf, and a leaf's inclusion proof (the sibling hashes from the
 * leaf up) lets anyone check one leaf alone against the signed root
 * (docs/design.md §9.1: the producer's sealed batches).
 *
 * Any implementation of RFC 9162 computes the same roots and checks the
 * same proofs. */
#ifndef TECG_MERKLE_H
#define TECG_MERKLE_H

#include <stdbool.h>
#include <stddef.h>

#define TECG_MERKLE_HASH_BYTES 32

typedef unsigned char tecg_merkle_hash_t[TECG_MERKLE_HASH_BYTES];

/* The leaf hash of data[0..len). */
void tecg_merkle_leaf(const void *data, size_t len, tecg_merkle_hash_t out);

/* The leaf hash of data handed over in pieces (as if concatenated): start,
 * add each piece, end. */
typedef struct {
        _Alignas(16) unsigned char state[256]; /* Nettle's SHA-256 state, opaque */
} tecg_merkle_leaf_ctx_t;
void tecg_merkle_leaf_start(tecg_merkle_leaf_ctx_t *ctx);
void tecg_merkle_leaf_add(tecg_merkle_leaf_ctx_t *ctx, const void *data, size_t len);
void tecg_merkle_leaf_end(tecg_merkle_leaf_ctx_t *ctx, tecg_merkle_hash_t out);

/* How many hashes the inclusion proof of leaf `index` in a tree of n
 * leaves holds (0 when index >= n). */
size_t tecg_merkle_path_len(size_t index, size_t n);

/* The most leaves tecg_merkle_tree() makes proofs for (a batch's bound). */
#define TECG_MERKLE_TREE_MAX 256

/* The root of leaves[0..n) and, when paths is not NULL, every leaf's
 * inclusion proof: paths[i * path_stride + k] is the k-th hash of leaf i's
 * proof, from the leaf up; path_stride must be at least
 * tecg_merkle_path_len() of every leaf. n - 1 node hashes in all. False
 * when n is 0, or above TECG_MERKLE_TREE_MAX with paths wanted. */
bool tecg_merkle_tree(const tecg_merkle_hash_t *leaves, size_t n, tecg_merkle_hash_t root,
                      tecg_merkle_hash_t *paths, size_t path_stride);

/* The root that leaf hash `leaf`, at `index` of a tree of n leaves, and
 * its proof path[0..path_len) lead to (RFC 9162 §2.1.3.2). False when the
 * proof cannot be one of that leaf (index >= n, too few or too many
 * hashes). The caller compares the root, or checks a signature over it. */
bool tecg_merkle_root_from_path(const tecg_merkle_hash_t leaf, size_t index, size_t n,
                                const tecg_merkle_hash_t *path, size_t path_len,
                                tecg_merkle_hash_t root);

/* For a verifier that checks several leaves of one tree and keeps the
 * nodes it has seen: leaf `index`'s way up a tree of n leaves, as
 * tecg_merkle_root_from_path() walks it. Step k joins the nodes over
 * leaves [lo, mid) and [mid, hi): one holds the leaf, the other is the
 * proof's k-th hash. Returns the number of steps
 * (tecg_merkle_path_len()), writing at most max. */
typedef struct {
        size_t lo, mid, hi;
} tecg_merkle_step_t;
size_t tecg_merkle_steps(size_t index, size_t n, tecg_merkle_step_t *steps, size_t max);

/* The node a step makes from the node below it (on the leaf's side) and
 * the proof's hash (the other side). below and out may be the same. */
void tecg_merkle_step_hash(const tecg_merkle_step_t *step, size_t index,
                           const tecg_merkle_hash_t below, const tecg_merkle_hash_t sibling,
                           tecg_merkle_hash_t out);

/* Where RFC 9162 splits a tree of n >= 2 leaves: the largest power of
 * two below n. Every inner node of a tree splits at its own place. */
size_t tecg_merkle_split(size_t n);

#endif
