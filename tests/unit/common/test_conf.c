/* Table-driven configuration: defaults, types, ranges, pass-through keys and
 * the `file:line: reason` errors every daemon reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "testutil.h"

typedef struct {
        char *name;
        int64_t count;
        bool flag;
        char *required;
} test_conf_t;

#define F(x) offsetof(test_conf_t, x)
static const tecg_conf_prop_t props[] = {
        {.name = "name", .type = TECG_CONF_STRING, .offset = F(name),
         .defval = "default-name", .doc = "a name"},
        {.name = "count", .type = TECG_CONF_INT, .offset = F(count), .defval = "10",
         .min = 1, .max = 100, .doc = "a count"},
        {.name = "flag", .type = TECG_CONF_BOOL, .offset = F(flag), .defval = "false",
         .doc = "a flag"},
        {.name = "needed", .type = TECG_CONF_STRING, .offset = F(required),
         .flags = TECG_CONF_F_REQUIRED, .doc = "must be given"},
        {.name = "kafka.", .type = TECG_CONF_PREFIX, .doc = "librdkafka"},
        {.name = NULL}};
#undef F

static void test_defaults_and_parse(void **state) {
        (void)state;
        test_conf_t c;
        char err[256];
        tecg_conf_t *conf = tecg_conf_new(props, &c, err, sizeof(err));
        assert_non_null(conf);
        assert_string_equal(c.name, "default-name");
        assert_int_equal(c.count, 10);
        assert_false(c.flag);
        assert_null(c.required);
        assert_int_equal(tecg_conf_check_required(conf, err, sizeof(err)),
                         TECG_ERR_CONFIG);
        assert_non_null(strstr(err, "'needed'"));

        const char *text = "# comment\n\n  name = a # not a comment\n"
                           "count=42\r\nflag = yes\nneeded = x\n"
                           "kafka.bootstrap.servers = 127.0.0.1:9092\n"
                           "kafka.acks = all";
        assert_int_equal(tecg_conf_parse(conf, "t.conf", text, strlen(text),
                                         err, sizeof(err)), TECG_OK);
        assert_string_equal(c.name, "a # not a comment");
        assert_int_equal(c.count, 42);
        assert_true(c.flag);
        assert_string_equal(tecg_conf_origin(conf, "count"), "t.conf:4");
        assert_int_equal(tecg_conf_check_required(conf, err, sizeof(err)), TECG_OK);

        size_t n;
        const tecg_conf_kv_t *kv = tecg_conf_passthru(conf, "kafka.", &n);
        assert_int_equal(n, 2);
        assert_string_equal(kv[0].key, "bootstrap.servers");
        assert_string_equal(kv[0].value, "127.0.0.1:9092");
        assert_string_equal(kv[0].origin, "t.conf:7");
        assert_string_equal(kv[1].key, "acks");

        /* A later source overrides the file. */
        assert_int_equal(tecg_conf_set(conf, "count", "7", "-X", err, sizeof(err)),
                         TECG_OK);
        assert_int_equal(c.count, 7);
        tecg_conf_destroy(conf);
}

/* Each bad file gives exactly this error. */
static void test_errors(void **state) {
        (void)state;
        static const struct {
                const char *text;
                const char *error;
        } cases[] = {
                {"nmae = x\n", "t.conf:1: unknown key 'nmae' (see --help)"},
                {"\ncount = ten\n", "t.conf:2: 'count': \"ten\" is not an integer"},
                {"count = 101\n", "t.conf:1: 'count': 101 is out of range [1, 100]"},
                {"count = 0\n", "t.conf:1: 'count': 0 is out of range [1, 100]"},
                {"count = 5x\n", "t.conf:1: 'count': \"5x\" is not an integer"},
                {"count = 99999999999999999999\n",
                 "t.conf:1: 'count': \"99999999999999999999\" is not an integer"},
                {"flag = maybe\n", "t.conf:1: 'flag': \"maybe\" is not a boolean (true/false)"},
                /* Terminal escapes and invalid UTF-8 never reach the message. */
                {"count = 8\x1b[2J\xff" "0\n", "t.conf:1: 'count': \"8?[2J?0\" is not an integer"},
                {"n\xc3\xa4me\x07 = x\n", "t.conf:1: unknown key 'n\xc3\xa4me?' (see --help)"},
                {"name\n", "t.conf:1: expected 'key = value'"},
                {" = x\n", "t.conf:1: missing key before '='"},
                {"name = a\nname = b\n", "t.conf:2: 'name' is already set at t.conf:1"},
                {"kafka. = x\n", "t.conf:1: unknown key 'kafka.' (see --help)"},
                {"name = a\0b\n", "t.conf:1: NUL byte in line"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                test_conf_t c;
                char err[256] = "";
                tecg_conf_t *conf = tecg_conf_new(props, &c, err, sizeof(err));
                assert_non_null(conf);
                size_t len = strlen(cases[i].text);
                if (strstr(cases[i].error, "NUL"))
                        len = 11;
                assert_int_equal(tecg_conf_parse(conf, "t.conf", cases[i].text, len,
                                                 err, sizeof(err)),
                                 TECG_ERR_CONFIG);
                if (strcmp(err, cases[i].error) != 0)
                        fail_msg("case %zu: expected \"%s\", got \"%s\"", i,
                                 cases[i].error, err);
                tecg_conf_destroy(conf);
        }
}

static void test_load_file_errors(void **state) {
        (void)state;
        test_conf_t c;
        char err[256];
        tecg_conf_t *conf = tecg_conf_new(props, &c, err, sizeof(err));
        assert_int_equal(tecg_conf_load_file(conf, "/nonexistent/x.conf", err,
                                             sizeof(err)), TECG_ERR_CONFIG);
        assert_string_equal(err, "/nonexistent/x.conf: cannot open: No such file or directory");
        tecg_conf_destroy(conf);
}

static void test_help_is_generated_from_the_table(void **state) {
        (void)state;
        char *text = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&text, &len);
        tecg_conf_print_help(fp, props);
        fclose(fp);
        tu_assert_contains(text, "count", "integer [1..100]", "(default: 10)",
                           "needed", "required", "kafka.<property>");
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_and_parse),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_load_file_errors),
                cmocka_unit_test(test_help_is_generated_from_the_table),
        };
        return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
