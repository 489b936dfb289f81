/* Ed25519 signing (common/sign.c): key files and their permission checks,
 * the framing of signed parts, and RFC 8032's first test key (its seed must
 * give its public key: the seed handling matches other implementations). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "sign.h"
#include "testutil.h"

static char dir[] = "/tmp/tecg-test-sign-XXXXXX";
static char errstr[512];

static const char rfc8032_seed_b64[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
static const char rfc8032_public_hex[] =
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

static void put_key_file(const char *rel, const char *text, mode_t mode) {
        tu_put_file(dir, rel, text, strlen(text));
        assert_int_equal(chmod(tu_path_in(dir, rel), mode), 0);
}

static void test_rfc8032_seed_gives_its_public_key(void **state) {
        (void)state;
        char text[128];
        snprintf(text, sizeof(text), "key_id=rfc8032-1\nseed=%s\n", rfc8032_seed_b64);
        put_key_file("rfc.key", text, 0600);
        tecg_sign_key_t key;
        assert_int_equal(
                tecg_sign_key_load(tu_path_in(dir, "rfc.key"), &key, errstr, sizeof(errstr)),
                TECG_OK);
        assert_string_equal(key.key_id, "rfc8032-1");
        char *hex = tu_hex_of(key.public_key, sizeof(key.public_key));
        assert_string_equal(hex, rfc8032_public_hex);
        free(hex);
        tecg_sign_key_wipe(&key);
        for (size_t i = 0; i < sizeof(key.secret); i++)
                assert_int_equal(key.secret[i], 0);
}

static void test_keygen_write_load_round_trip(void **state) {
        (void)state;
        tecg_sign_key_t made, loaded;
        assert_int_equal(tecg_sign_keygen("FRA-2026.1", &made, errstr, sizeof(errstr)), TECG_OK);
        const char *path = tu_path_in(dir, "fra.key");
        assert_int_equal(tecg_sign_key_write(path, &made, errstr, sizeof(errstr)), TECG_OK);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        /* Never overwrites: a second key under the same name is refused. */
        assert_int_equal(tecg_sign_key_write(path, &made, errstr, sizeof(errstr)), TECG_ERR_IO);
        assert_non_null(strstr(errstr, "cannot create"));
        assert_int_equal(tecg_sign_key_load(path, &loaded, errstr, sizeof(errstr)), TECG_OK);
        assert_memory_equal(made.public_key, loaded.public_key, sizeof(made.public_key));
        assert_memory_equal(made.secret, loaded.secret, sizeof(made.secret));
        assert_string_equal(loaded.key_id, "FRA-2026.1");
}

static void test_load_refuses_readable_or_malformed_keys(void **state) {
        (void)state;
        char text[128];
        tecg_sign_key_t key;
        snprintf(text, sizeof(text), "key_id=k1\nseed=%s\n", rfc8032_seed_b64);
        put_key_file("open.key", text, 0644);
        assert_int_equal(
                tecg_sign_key_load(tu_path_in(dir, "open.key"), &key, errstr, sizeof(errstr)),
                TECG_ERR_CONFIG);
        tu_assert_contains(errstr, "open.key", "owner only", "0644");
        /* The seed must never be echoed in a reason. */
        assert_null(strstr(errstr, rfc8032_seed_b64));

        put_key_file("group.key", text, 0640);
        assert_int_equal(
                tecg_sign_key_load(tu_path_in(dir, "group.key"), &key, errstr, sizeof(errstr)),
                TECG_ERR_CONFIG);

        put_key_file("short.key", "key_id=k1\nseed=AAAA\n", 0600);
        assert_int_equal(
                tecg_sign_key_load(tu_path_in(dir, "short.key"), &key, errstr, sizeof(errstr)),
                TECG_ERR_CONFIG);
        tu_assert_contains(errstr, "short.key", "32 bytes");

        snprintf(text, sizeof(text), "key_id=bad id\nseed=%s\n", rfc8032_seed_b64);
        put_key_file("badid.key", text, 0600);
        assert_int_equal(
                tecg_sign_key_load(tu_path_in(dir, "badid.key"), &key, errstr, sizeof(errstr)),
                TECG_ERR_INVALID);
        tu_assert_contains(errstr, "badid.key", "key id");

        put_key_file("nokey.key", "hello\n", 0600);
        assert_int_equal(
                tecg_sign_key_load(tu_path_in(dir, "nokey.key"), &key, errstr, sizeof(errstr)),
                TECG_ERR_CONFIG);
        tu_assert_contains(errstr, "not a tecg key file");

        assert_int_equal(
                tecg_sign_key_load(tu_path_in(dir, "absent.key"), &key, errstr, sizeof(errstr)),
                TECG_ERR_CONFIG);
}

static void test_signature_covers_every_part_and_the_framing(void **state) {
        (void)state;
        tecg_sign_key_t key, other;
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        assert_int_equal(tecg_sign_keygen("k", &key, errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(tecg_sign_keygen("o", &other, errstr, sizeof(errstr)), TECG_OK);
        tecg_sign_part_t parts[] = {{"AB", 2}, {"C", 1}, {"value", 5}};
        assert_int_equal(
                tecg_sign(&key, TECG_SIGN_DOMAIN_EVENT, parts, 3, sig, errstr, sizeof(errstr)),
                TECG_OK);
        assert_true(tecg_sign_verify(key.public_key, TECG_SIGN_DOMAIN_EVENT, parts, 3, sig));
        /* Another key, another domain, moved part boundaries, one flipped bit. */
        assert_false(tecg_sign_verify(other.public_key, TECG_SIGN_DOMAIN_EVENT, parts, 3, sig));
        assert_false(tecg_sign_verify(key.public_key, TECG_SIGN_DOMAIN_DOCUMENT, parts, 3, sig));
        tecg_sign_part_t moved[] = {{"A", 1}, {"BC", 2}, {"value", 5}};
        assert_false(tecg_sign_verify(key.public_key, TECG_SIGN_DOMAIN_EVENT, moved, 3, sig));
        sig[10] ^= 1;
        assert_false(tecg_sign_verify(key.public_key, TECG_SIGN_DOMAIN_EVENT, parts, 3, sig));
        /* Empty parts are parts too. */
        tecg_sign_part_t empty[] = {{NULL, 0}};
        assert_int_equal(
                tecg_sign(&key, TECG_SIGN_DOMAIN_DOCUMENT, empty, 1, sig, errstr, sizeof(errstr)),
                TECG_OK);
        assert_true(tecg_sign_verify(key.public_key, TECG_SIGN_DOMAIN_DOCUMENT, empty, 1, sig));
        assert_false(tecg_sign_verify(key.public_key, TECG_SIGN_DOMAIN_DOCUMENT, NULL, 0, sig));
}

static void test_key_ids_and_base64(void **state) {
        (void)state;
        assert_true(tecg_sign_key_id_valid("DEU-2026_a.1"));
        assert_false(tecg_sign_key_id_valid(""));
        assert_false(tecg_sign_key_id_valid("a b"));
        assert_false(tecg_sign_key_id_valid("a,b"));
        assert_false(tecg_sign_key_id_valid("a=b"));
        char long_id[TECG_SIGN_KEY_ID_MAX + 2];
        memset(long_id, 'a', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        assert_false(tecg_sign_key_id_valid(long_id));
        long_id[TECG_SIGN_KEY_ID_MAX] = '\0';
        assert_true(tecg_sign_key_id_valid(long_id));

        unsigned char bin[32], back[32];
        char b64[TECG_SIGN_PUBLIC_B64_SIZE];
        for (int i = 0; i < 32; i++)
                bin[i] = (unsigned char)(i * 7);
        tecg_sign_b64_encode(bin, 32, b64, sizeof(b64));
        assert_int_equal(strlen(b64), TECG_SIGN_PUBLIC_B64_SIZE - 1);
        assert_true(tecg_sign_b64_decode(b64, strlen(b64), back, 32));
        assert_memory_equal(bin, back, 32);
        assert_false(tecg_sign_b64_decode(b64, strlen(b64) - 4, back, 32));
        assert_false(tecg_sign_b64_decode("!!!!", 4, back, 32));
        char trailing[TECG_SIGN_PUBLIC_B64_SIZE + 2];
        snprintf(trailing, sizeof(trailing), "%sx", b64);
        assert_false(tecg_sign_b64_decode(trailing, strlen(trailing), back, 32));
}

static int setup(void **state) {
        (void)state;
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        (void)state;
        tu_rm_tree(dir);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc8032_seed_gives_its_public_key),
                cmocka_unit_test(test_keygen_write_load_round_trip),
                cmocka_unit_test(test_load_refuses_readable_or_malformed_keys),
                cmocka_unit_test(test_signature_covers_every_part_and_the_framing),
                cmocka_unit_test(test_key_ids_and_base64),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
