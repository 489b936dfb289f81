/* Merkle trees (common/merkle.c) against RFC 9162's definition: the roots
 * of the Certificate Transparency reference test vectors (the same eight
 * leaves, trees of 1 to 8 of them; also computed independently by
 * tests/integration/test_signatures.py's Python verifier), long
 * leaves of many blocks as another SHA-256 hashes them, every leaf's
 * proof leading back to its root for trees of 1 to 70 leaves, and no
 * proof surviving a changed leaf, hash or index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "merkle.h"

static const struct {
        const char *data;
        size_t len;
} ct_leaves[8] = {
        {"", 0},
        {"\x00", 1},
        {"\x10", 1},
        {"\x20\x21", 2},
        {"\x30\x31", 2},
        {"\x40\x41\x42\x43", 4},
        {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
        {"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
};

static const char *const ct_roots[8] = {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void hex(const tecg_merkle_hash_t h, char out[65]) {
        for (int i = 0; i < TECG_MERKLE_HASH_BYTES; i++)
                snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void test_roots_match_the_reference_vectors(void **state) {
        (void)state;
        tecg_merkle_hash_t leaves[8], root;
        char text[65];
        for (int i = 0; i < 8; i++)
                tecg_merkle_leaf(ct_leaves[i].data, ct_leaves[i].len, leaves[i]);
        for (size_t n = 1; n <= 8; n++) {
                assert_true(tecg_merkle_tree(leaves, n, root, NULL, 0));
                hex(root, text);
                assert_string_equal(text, ct_roots[n - 1]);
        }
        /* In pieces, the same leaf hash. */
        tecg_merkle_leaf_ctx_t ctx;
        tecg_merkle_hash_t whole;
        tecg_merkle_leaf_start(&ctx);
        tecg_merkle_leaf_add(&ctx, "\x40\x41", 2);
        tecg_merkle_leaf_add(&ctx, "", 0);
        tecg_merkle_leaf_add(&ctx, "\x42\x43", 2);
        tecg_merkle_leaf_end(&ctx, whole);
        assert_memory_equal(whole, leaves[5], TECG_MERKLE_HASH_BYTES);
        assert_false(tecg_merkle_tree(leaves, 0, root, NULL, 0));
}

#define MAX_LEAVES 70
#define STRIDE 8

/* Leaves of many blocks, in pieces that straddle SHA-256's 64-byte blocks,
 * against another implementation (libsodium's) of SHA-256(0x00 || data). */
static void test_long_leaves_in_pieces_match_another_sha256(void **state) {
        (void)state;
        unsigned char data[1 + 1000];
        data[0] = 0x00;
        for (size_t i = 1; i < sizeof(data); i++)
                data[i] = (unsigned char)(i * 131 + 7);
        const size_t lens[] = {55, 56, 63, 64, 65, 119, 128, 1000};
        const size_t steps[] = {1, 7, 63, 64, 65, 1000};
        for (size_t l = 0; l < sizeof(lens) / sizeof(*lens); l++) {
                unsigned char want[crypto_hash_sha256_BYTES];
                crypto_hash_sha256(want, data, 1 + lens[l]);
                for (size_t s = 0; s < sizeof(steps) / sizeof(*steps); s++) {
                        tecg_merkle_leaf_ctx_t ctx;
                        tecg_merkle_hash_t got;
                        tecg_merkle_leaf_start(&ctx);
                        for (size_t at = 0; at < lens[l]; at += steps[s]) {
                                size_t n = lens[l] - at < steps[s] ? lens[l] - at : steps[s];
                                tecg_merkle_leaf_add(&ctx, data + 1 + at, n);
                        }
                        tecg_merkle_leaf_end(&ctx, got);
                        assert_memory_equal(got, want, sizeof(want));
                }
                tecg_merkle_hash_t whole;
                tecg_merkle_leaf(data + 1, lens[l], whole);
                assert_memory_equal(whole, want, sizeof(want));
        }
}

static void test_every_proof_leads_to_its_root_and_nothing_else_does(void **state) {
        (void)state;
        static tecg_merkle_hash_t leaves[MAX_LEAVES], paths[MAX_LEAVES * STRIDE];
        tecg_merkle_hash_t root, got;
        for (int i = 0; i < MAX_LEAVES; i++) {
                char data[16];
                int len = snprintf(data, sizeof(data), "event %d", i);
                tecg_merkle_leaf(data, (size_t)len, leaves[i]);
        }
        for (size_t n = 1; n <= MAX_LEAVES; n++) {
                assert_true(tecg_merkle_tree(leaves, n, root, paths, STRIDE));
                for (size_t i = 0; i < n; i++) {
                        size_t len = tecg_merkle_path_len(i, n);
                        const tecg_merkle_hash_t *path = &paths[i * STRIDE];
                        /* ceil(log2(n)) at most, and 0 only for a lone leaf */
                        assert_true(len <= 7);
                        assert_true((len == 0) == (n == 1));
                        assert_true(tecg_merkle_root_from_path(leaves[i], i, n, path, len, got));
                        assert_memory_equal(got, root, TECG_MERKLE_HASH_BYTES);
                        /* Another leaf's hash at this place */
                        if (n > 1) {
                                size_t other = (i + 1) % n;
                                assert_true(tecg_merkle_root_from_path(leaves[other], i, n, path,
                                                                       len, got));
                                assert_memory_not_equal(got, root, TECG_MERKLE_HASH_BYTES);
                        }
                        /* A proof one hash short or one too long */
                        if (len > 0)
                                assert_false(tecg_merkle_root_from_path(leaves[i], i, n, path,
                                                                        len - 1, got) &&
                                             memcmp(got, root, TECG_MERKLE_HASH_BYTES) == 0);
                        assert_false(
                                tecg_merkle_root_from_path(leaves[i], i, n, path, len + 1, got) &&
                                memcmp(got, root, TECG_MERKLE_HASH_BYTES) == 0);
                        /* The index past the end */
                        assert_false(tecg_merkle_root_from_path(leaves[i], n, n, path, len, got));
                }
        }
}

/* What a verifier holding a tree's nodes relies on (common/event_sig.c):
 * the steps of every leaf's way up name each inner node by its own split
 * point (1 to n - 1, one node each), a step's halves meet at it, and the
 * first step of a leaf is a node over that leaf. */
static void test_every_inner_node_splits_at_its_own_place(void **state) {
        (void)state;
        for (size_t n = 2; n <= MAX_LEAVES; n++) {
                size_t lo_at[MAX_LEAVES], hi_at[MAX_LEAVES];
                bool seen[MAX_LEAVES] = {false};
                for (size_t i = 0; i < n; i++) {
                        tecg_merkle_step_t steps[8];
                        size_t len = tecg_merkle_steps(i, n, steps, 8);
                        assert_int_equal(len, tecg_merkle_path_len(i, n));
                        assert_true(steps[0].lo <= i && i < steps[0].hi);
                        assert_true(steps[len - 1].lo == 0 && steps[len - 1].hi == n);
                        for (size_t k = 0; k < len; k++) {
                                const tecg_merkle_step_t *st = &steps[k];
                                assert_true(st->lo < st->mid && st->mid < st->hi);
                                assert_int_equal(st->mid - st->lo,
                                                 tecg_merkle_split(st->hi - st->lo));
                                if (k > 0) /* the node below is one half */
                                        assert_true((steps[k - 1].lo == st->lo &&
                                                     steps[k - 1].hi == st->mid) ||
                                                    (steps[k - 1].lo == st->mid &&
                                                     steps[k - 1].hi == st->hi));
                                if (seen[st->mid]) { /* the same node, met again */
                                        assert_int_equal(lo_at[st->mid], st->lo);
                                        assert_int_equal(hi_at[st->mid], st->hi);
                                }
                                seen[st->mid] = true;
                                lo_at[st->mid] = st->lo;
                                hi_at[st->mid] = st->hi;
                        }
                }
                for (size_t m = 1; m < n; m++)
                        assert_true(seen[m]);
        }
}

static void test_a_changed_proof_hash_or_index_fails(void **state) {
        (void)state;
        enum { N = 13 };
        tecg_merkle_hash_t leaves[N], paths[N * STRIDE], root, got;
        for (int i = 0; i < N; i++)
                tecg_merkle_leaf(&i, sizeof(i), leaves[i]);
        assert_true(tecg_merkle_tree(leaves, N, root, paths, STRIDE));
        for (size_t i = 0; i < N; i++) {
                size_t len = tecg_merkle_path_len(i, N);
                for (size_t k = 0; k < len; k++) {
                        tecg_merkle_hash_t path[STRIDE];
                        memcpy(path, &paths[i * STRIDE], sizeof(path));
                        path[k][k % TECG_MERKLE_HASH_BYTES] ^= 0x01;
                        assert_true(tecg_merkle_root_from_path(leaves[i], i, N, path, len, got));
                        assert_memory_not_equal(got, root, TECG_MERKLE_HASH_BYTES);
                }
                /* The same proof claimed for another index: never this
                 * root. (Another tree size can give it: a leaf of a full
                 * left subtree has the same proof in a larger tree. That
                 * is why a seal signs n with the root, test_event_sig.c.) */
                for (size_t j = 0; j < N; j++)
                        if (j != i && tecg_merkle_root_from_path(leaves[i], j, N,
                                                                 &paths[i * STRIDE], len, got))
                                assert_memory_not_equal(got, root, TECG_MERKLE_HASH_BYTES);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roots_match_the_reference_vectors),
                cmocka_unit_test(test_long_leaves_in_pieces_match_another_sha256),
                cmocka_unit_test(test_every_proof_leads_to_its_root_and_nothing_else_does),
                cmocka_unit_test(test_every_inner_node_splits_at_its_own_place),
                cmocka_unit_test(test_a_changed_proof_hash_or_index_fails),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
