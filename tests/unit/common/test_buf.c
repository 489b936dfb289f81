/* The growable buffer (common/buf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "testutil.h"

static void test_append_and_grow(void **state) {
        (void)state;
        tecg_buf_t b = TECG_BUF_INIT;
        char chunk[100];
        memset(chunk, 'a', sizeof(chunk));
        /* Past the first allocation (256), several doublings. */
        for (int i = 0; i < 50; i++) {
                chunk[0] = (char)('0' + i % 10);
                assert_int_equal(tecg_buf_append(&b, chunk, sizeof(chunk)), TECG_OK);
        }
        assert_int_equal(b.len, 5000);
        assert_true(b.cap >= b.len);
        for (int i = 0; i < 50; i++)
                assert_int_equal(b.data[i * 100], '0' + i % 10);
        tecg_buf_free(&b);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.cap, 0);
}

static void test_puts_terminate(void **state) {
        (void)state;
        tecg_buf_t b = TECG_BUF_INIT;
        assert_int_equal(tecg_buf_puts(&b, "hello"), TECG_OK);
        assert_int_equal(tecg_buf_puts(&b, ", world"), TECG_OK);
        assert_int_equal(tecg_buf_terminate(&b), TECG_OK);
        /* The NUL is there but not counted. */
        assert_int_equal(b.len, 12);
        assert_string_equal((char *)b.data, "hello, world");
        assert_int_equal(tecg_buf_append(&b, "!", 1), TECG_OK);
        assert_int_equal(b.len, 13);
        tecg_buf_free(&b);
}

static void test_empty(void **state) {
        (void)state;
        tecg_buf_t b = TECG_BUF_INIT;
        /* Appending nothing to an empty buffer (data NULL) is fine. */
        assert_int_equal(tecg_buf_append(&b, NULL, 0), TECG_OK);
        assert_int_equal(b.len, 0);
        assert_int_equal(tecg_buf_terminate(&b), TECG_OK);
        assert_string_equal((char *)b.data, "");
        tecg_buf_free(&b);
        tecg_buf_free(&b); /* twice is harmless */
}

static void test_reset_keeps_memory(void **state) {
        (void)state;
        tecg_buf_t b = TECG_BUF_INIT;
        assert_int_equal(tecg_buf_puts(&b, "abc"), TECG_OK);
        uint8_t *data = b.data;
        size_t cap = b.cap;
        tecg_buf_reset(&b);
        assert_int_equal(b.len, 0);
        assert_ptr_equal(b.data, data);
        assert_int_equal(b.cap, cap);
        assert_int_equal(tecg_buf_puts(&b, "xy"), TECG_OK);
        assert_memory_equal(b.data, "xy", 2);
        tecg_buf_free(&b);
}

static void test_reserve(void **state) {
        (void)state;
        tecg_buf_t b = TECG_BUF_INIT;
        assert_int_equal(tecg_buf_reserve(&b, 1000), TECG_OK);
        assert_true(b.cap >= 1000);
        assert_int_equal(b.len, 0);
        /* A size no allocation can give is refused, not wrapped around. */
        assert_int_equal(tecg_buf_reserve(&b, SIZE_MAX - 10), TECG_ERR_NOMEM);
        assert_true(b.cap >= 1000);
        tecg_buf_free(&b);
}

static void test_read_file_whole_bounded_and_errors(void **state) {
        (void)state;
        char dir[] = "/tmp/tecg-test-buf-XXXXXX";
        char errstr[256];
        assert_non_null(mkdtemp(dir));
        tu_put_file(dir, "f.csv", "a,b\n1,2\n", 8);
        tecg_buf_t b = TECG_BUF_INIT;
        assert_int_equal(tecg_buf_puts(&b, ">"), TECG_OK); /* appends after what is there */
        assert_int_equal(tecg_buf_read_file(&b, tu_path_in(dir, "f.csv"), 8, "a list", errstr,
                                            sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(b.len, 9);
        assert_memory_equal(b.data, ">a,b\n1,2\n", 9);
        tecg_buf_reset(&b);
        assert_int_equal(tecg_buf_read_file(&b, tu_path_in(dir, "f.csv"), 7, "a list", errstr,
                                            sizeof(errstr)),
                         TECG_ERR_CONFIG);
        tu_assert_contains(errstr, "f.csv: larger than 7 bytes, not a list");
        assert_int_equal(tecg_buf_read_file(&b, tu_path_in(dir, "absent"), 7, "a list", errstr,
                                            sizeof(errstr)),
                         TECG_ERR_IO);
        tu_assert_contains(errstr, "absent: No such file");
        tecg_buf_free(&b);
        tu_rm_tree(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_append_and_grow),
                cmocka_unit_test(test_puts_terminate),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_reset_keeps_memory),
                cmocka_unit_test(test_reserve),
                cmocka_unit_test(test_read_file_whole_bounded_and_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
