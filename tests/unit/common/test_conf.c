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
        {.name = "name",
         .type = TECG_CONF_STRING,
         .offset = F(name),
         .defval = "default-name",
         .doc = "a name"},
        {.name = "count",
         .type = TECG_CONF_INT,
         .offset = F(count),
         .defval = "10",
         .min = 1,
         .max = 100,
         .doc = "a count"},
        {.name = "flag",
         .type = TECG_CONF_BOOL,
         .offset = F(flag),
         .defval = "false",
         .doc = "a flag"},
        {.name = "needed",
         .type = TECG_CONF_STRING,
         .offset = F(required),
         .flags = TECG_CONF_F_REQUIRED,
         .doc = "must be given"},
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
        assert_int_equal(tecg_conf_check_required(conf, err, sizeof(err)), TECG_ERR_CONFIG);
        assert_non_null(strstr(err, "'needed'"));

        const char *text = "# comment\n\n  name = a # not a comment\n"
                           "count=42\r\nflag = yes\nneeded = x\n"
                           "kafka.bootstrap.servers = 127.0.0.1:9092\n"
                           "kafka.acks = all";
        assert_int_equal(tecg_conf_parse(conf, "t.conf", text, strlen(text), err, sizeof(err)),
                         TECG_OK);
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
        assert_int_equal(tecg_conf_set(conf, "count", "7", "-X", err, sizeof(err)), TECG_OK);
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
                {"count = 8\x1b[2J\xff"
                 "0\n",
                 "t.conf:1: 'count': \"8?[2J?0\" is not an integer"},
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
                assert_int_equal(
                        tecg_conf_parse(conf, "t.conf", cases[i].text, len, err, sizeof(err)),
                        TECG_ERR_CONFIG);
                if (strcmp(err, cases[i].error) != 0)
                        fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].error, err);
                tecg_conf_destroy(conf);
        }
}

static void test_load_file_errors(void **state) {
        (void)state;
        test_conf_t c;
        char err[256];
        tecg_conf_t *conf = tecg_conf_new(props, &c, err, sizeof(err));
        assert_int_equal(tecg_conf_load_file(conf, "/nonexistent/x.conf", err, sizeof(err)),
                         TECG_ERR_CONFIG);
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
        tu_assert_contains(text, "count", "integer [1..100]", "(default: 10)", "needed", "required",
                           "kafka.<property>");
        free(text);
}

/* A shared table taken by scope, and a group: the shapes of the daemons'
 * tables (common/daemon.c, consumers/dashboard/dashboard_conf.c). */
typedef struct {
        char *everyone;
        int64_t only_a;
        char *only_b;
} shared_t;

typedef struct {
        char *url;
        bool verify;
        int64_t timeout;
} item_t;

typedef struct {
        int64_t own;
        tecg_conf_group_t items;
        shared_t shared;
} daemon_t;

#define SCOPE_A 0x1
#define SCOPE_B 0x2

#define S(x) offsetof(shared_t, x)
static const tecg_conf_prop_t shared_props[] = {{.name = "everyone",
                                                 .type = TECG_CONF_STRING,
                                                 .offset = S(everyone),
                                                 .defval = "x",
                                                 .doc = "in every scope"},
                                                {.name = "only.a",
                                                 .type = TECG_CONF_INT,
                                                 .offset = S(only_a),
                                                 .defval = "3",
                                                 .min = 0,
                                                 .max = 9,
                                                 .scope = SCOPE_A,
                                                 .doc = "a only"},
                                                {.name = "only.b",
                                                 .type = TECG_CONF_STRING,
                                                 .offset = S(only_b),
                                                 .scope = SCOPE_B,
                                                 .doc = "b only"},
                                                {.name = NULL}};
#undef S

#define I(x) offsetof(item_t, x)
static const tecg_conf_prop_t item_props[] = {{.name = "url",
                                               .type = TECG_CONF_STRING,
                                               .offset = I(url),
                                               .flags = TECG_CONF_F_REQUIRED,
                                               .doc = "where"},
                                              {.name = "verify",
                                               .type = TECG_CONF_BOOL,
                                               .offset = I(verify),
                                               .defval = "true",
                                               .doc = "check it"},
                                              {.name = "timeout.ms",
                                               .type = TECG_CONF_INT,
                                               .offset = I(timeout),
                                               .defval = "100",
                                               .min = 1,
                                               .max = 1000,
                                               .doc = "how long"},
                                              {.name = NULL}};
#undef I

#define D(x) offsetof(daemon_t, x)
static const tecg_conf_prop_t daemon_a_props[] = {{.name = "own",
                                                   .type = TECG_CONF_INT,
                                                   .offset = D(own),
                                                   .defval = "1",
                                                   .min = 0,
                                                   .max = 5,
                                                   .doc = "its own"},
                                                  {.name = "item.",
                                                   .type = TECG_CONF_GROUP,
                                                   .offset = D(items),
                                                   .sub = item_props,
                                                   .size = sizeof(item_t),
                                                   .max = 2,
                                                   .doc = "an item NAME"},
                                                  {.name = "",
                                                   .type = TECG_CONF_INCLUDE,
                                                   .offset = D(shared),
                                                   .sub = shared_props,
                                                   .scope = SCOPE_A},
                                                  {.name = NULL}};
#undef D

static void test_include_takes_the_scope(void **state) {
        (void)state;
        daemon_t c;
        char err[256] = "";
        tecg_conf_t *conf = tecg_conf_new(daemon_a_props, &c, err, sizeof(err));
        assert_non_null(conf);
        assert_string_equal(c.shared.everyone, "x");
        assert_int_equal(c.shared.only_a, 3);
        const char *text = "everyone = y\nonly.a = 4\n";
        assert_int_equal(tecg_conf_parse(conf, "t.conf", text, strlen(text), err, sizeof(err)),
                         TECG_OK);
        assert_string_equal(c.shared.everyone, "y");
        assert_int_equal(c.shared.only_a, 4);
        assert_string_equal(tecg_conf_origin(conf, "only.a"), "t.conf:2");
        assert_string_equal(tecg_conf_get_string(conf, "everyone"), "y");
        text = "only.b = z\n";
        assert_int_equal(tecg_conf_parse(conf, "u.conf", text, strlen(text), err, sizeof(err)),
                         TECG_ERR_CONFIG);
        assert_string_equal(err, "u.conf:1: unknown key 'only.b' (see --help)");
        tecg_conf_destroy(conf);

        char *help = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&help, &len);
        tecg_conf_print_help(fp, daemon_a_props);
        fclose(fp);
        tu_assert_contains(help, "everyone", "only.a", "item.<name>.url", "item.<name>.timeout.ms",
                           "integer [1..1000]", "of up to 2");
        assert_null(strstr(help, "only.b"));
        free(help);
}

static void test_group_instances(void **state) {
        (void)state;
        daemon_t c;
        char err[256] = "";
        tecg_conf_t *conf = tecg_conf_new(daemon_a_props, &c, err, sizeof(err));
        assert_non_null(conf);
        assert_int_equal(c.items.count, 0);
        const char *text = "item.one.url = http://1/\n"
                           "item.two.verify = off\n"
                           "item.two.url = http://2/\n"
                           "item.one.timeout.ms = 7\n";
        assert_int_equal(tecg_conf_parse(conf, "t.conf", text, strlen(text), err, sizeof(err)),
                         TECG_OK);
        assert_int_equal(c.items.count, 2);
        const item_t *one = c.items.items[0].data, *two = c.items.items[1].data;
        assert_string_equal(c.items.items[0].name, "one");
        assert_string_equal(c.items.items[0].origin, "t.conf:1");
        assert_string_equal(c.items.items[1].name, "two");
        assert_string_equal(c.items.items[1].origin, "t.conf:2");
        assert_string_equal(one->url, "http://1/");
        assert_true(one->verify);
        assert_int_equal(one->timeout, 7);
        assert_false(two->verify);
        assert_int_equal(two->timeout, 100);
        assert_string_equal(tecg_conf_origin(conf, "item.one.timeout.ms"), "t.conf:4");
        assert_string_equal(tecg_conf_origin(conf, "item.two.timeout.ms"), "default");
        assert_null(tecg_conf_origin(conf, "item.three.url"));
        assert_string_equal(tecg_conf_get_string(conf, "item.two.url"), "http://2/");
        assert_int_equal(tecg_conf_check_required(conf, err, sizeof(err)), TECG_OK);

        /* -X overrides a key of an instance. */
        assert_int_equal(tecg_conf_set(conf, "item.two.timeout.ms", "9", "-X", err, sizeof(err)),
                         TECG_OK);
        assert_int_equal(two->timeout, 9);
        /* At most max instances; a refused first key leaves none behind. */
        assert_int_equal(tecg_conf_set(conf, "item.three.url", "x", "-X", err, sizeof(err)),
                         TECG_ERR_CONFIG);
        assert_string_equal(err, "-X: 'item.three': more than 2 item names");
        assert_int_equal(c.items.count, 2);
        tecg_conf_destroy(conf);
        assert_int_equal(c.items.count, 0);
        assert_null(c.items.items);
}

/* Each bad group key gives exactly this error. */
static void test_group_errors(void **state) {
        (void)state;
        static const struct {
                const char *text;
                const char *error;
        } cases[] = {
                {"item.a.colour = red\n",
                 "t.conf:1: 'item.a.colour': unknown item setting 'colour' (url, verify, "
                 "timeout.ms)"},
                {"item.a = x\n", "t.conf:1: 'item.a': expected item.NAME.KEY (see --help)"},
                {"item..url = x\n", "t.conf:1: 'item..url': expected item.NAME.KEY (see --help)"},
                {"item.a. = x\n", "t.conf:1: 'item.a.': expected item.NAME.KEY (see --help)"},
                {"item. = x\n", "t.conf:1: unknown key 'item.' (see --help)"},
                {"item.a.timeout.ms = 0\n",
                 "t.conf:1: 'item.a.timeout.ms': 0 is out of range [1, 1000]"},
                {"item.a.verify = maybe\n",
                 "t.conf:1: 'item.a.verify': \"maybe\" is not a boolean (true/false)"},
                {"item.a.url = x\nitem.a.url = y\n",
                 "t.conf:2: 'item.a.url' is already set at t.conf:1"},
                {"item.a.url = x\nitem.b.url = y\nitem.c.url = z\n",
                 "t.conf:3: 'item.c': more than 2 item names"},
                {"item.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.url = x\n",
                 "t.conf:1: 'item.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 ".url': item name longer than 63 bytes"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                daemon_t c;
                char err[512] = "";
                tecg_conf_t *conf = tecg_conf_new(daemon_a_props, &c, err, sizeof(err));
                assert_non_null(conf);
                assert_int_equal(tecg_conf_parse(conf, "t.conf", cases[i].text,
                                                 strlen(cases[i].text), err, sizeof(err)),
                                 TECG_ERR_CONFIG);
                if (strcmp(err, cases[i].error) != 0)
                        fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].error, err);
                tecg_conf_destroy(conf);
        }

        /* An instance without its required key: named at its first key. */
        daemon_t c;
        char err[256] = "";
        tecg_conf_t *conf = tecg_conf_new(daemon_a_props, &c, err, sizeof(err));
        const char *text = "\nitem.b.verify = yes\n";
        assert_int_equal(tecg_conf_parse(conf, "t.conf", text, strlen(text), err, sizeof(err)),
                         TECG_OK);
        assert_int_equal(tecg_conf_check_required(conf, err, sizeof(err)), TECG_ERR_CONFIG);
        assert_string_equal(err, "t.conf:2: item b has no item.b.url");
        tecg_conf_destroy(conf);
}

static void collect(const tecg_conf_setting_t *s, void *opaque) {
        char buf[32];
        const char *v = tecg_conf_setting_text(s, buf, sizeof(buf));
        fprintf(opaque, "%s=%s@%s\n", s->key, v ? v : "(unset)", s->origin ? s->origin : "-");
}

static void test_foreach_sees_every_setting(void **state) {
        (void)state;
        daemon_t c;
        char err[256] = "", *text = NULL;
        size_t len = 0;
        tecg_conf_t *conf = tecg_conf_new(daemon_a_props, &c, err, sizeof(err));
        const char *in = "item.x.url = u\n";
        assert_int_equal(tecg_conf_parse(conf, "t", in, strlen(in), err, sizeof(err)), TECG_OK);
        FILE *fp = open_memstream(&text, &len);
        tecg_conf_foreach(conf, collect, fp);
        fclose(fp);
        assert_string_equal(text, "own=1@default\n"
                                  "item.x.url=u@t:1\n"
                                  "item.x.verify=true@default\n"
                                  "item.x.timeout.ms=100@default\n"
                                  "everyone=x@default\n"
                                  "only.a=3@default\n");
        free(text);
        tecg_conf_destroy(conf);

        test_conf_t t;
        conf = tecg_conf_new(props, &t, err, sizeof(err));
        in = "kafka.acks = all\n";
        assert_int_equal(tecg_conf_parse(conf, "t", in, strlen(in), err, sizeof(err)), TECG_OK);
        fp = open_memstream(&text, &len);
        tecg_conf_foreach(conf, collect, fp);
        fclose(fp);
        assert_string_equal(text, "name=default-name@default\n"
                                  "count=10@default\n"
                                  "flag=false@default\n"
                                  "needed=(unset)@-\n"
                                  "kafka.acks=all@t:1\n");
        free(text);
        tecg_conf_destroy(conf);
}

/* A table mistake is found at tecg_conf_new(), not at the first use. */
static void test_table_mistakes(void **state) {
        (void)state;
        daemon_t c;
        char err[256];
        static const tecg_conf_prop_t twice[] = {
                {.name = "everyone", .type = TECG_CONF_STRING, .offset = 0, .doc = "dup"},
                {.name = "",
                 .type = TECG_CONF_INCLUDE,
                 .offset = offsetof(daemon_t, shared),
                 .sub = shared_props},
                {.name = NULL}};
        assert_null(tecg_conf_new(twice, &c, err, sizeof(err)));
        assert_string_equal(err, "property table: 'everyone' twice");
        static const tecg_conf_prop_t nested[] = {{.name = "g.",
                                                   .type = TECG_CONF_GROUP,
                                                   .offset = offsetof(daemon_t, items),
                                                   .sub = daemon_a_props,
                                                   .size = 8,
                                                   .max = 1},
                                                  {.name = NULL}};
        assert_null(tecg_conf_new(nested, &c, err, sizeof(err)));
        tu_assert_contains(err, "is not a string, integer or boolean");
        static const tecg_conf_prop_t bad_default[] = {{.name = "n",
                                                        .type = TECG_CONF_INT,
                                                        .offset = offsetof(daemon_t, own),
                                                        .defval = "7",
                                                        .min = 0,
                                                        .max = 5},
                                                       {.name = NULL}};
        assert_null(tecg_conf_new(bad_default, &c, err, sizeof(err)));
        assert_string_equal(err, "built-in default: 'n': 7 is out of range [0, 5]");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_and_parse),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_load_file_errors),
                cmocka_unit_test(test_help_is_generated_from_the_table),
                cmocka_unit_test(test_include_takes_the_scope),
                cmocka_unit_test(test_group_instances),
                cmocka_unit_test(test_group_errors),
                cmocka_unit_test(test_foreach_sees_every_setting),
                cmocka_unit_test(test_table_mistakes),
        };
        return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
