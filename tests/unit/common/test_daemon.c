/* The daemons' shared start-up (common/daemon.c): command line, config
 * sources and their order, --help generated from the table, the shared
 * keys taken by scope, and the exit statuses of each mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "log.h"
#include "testutil.h"

typedef struct {
        tecg_daemon_conf_t common;
        char *nation;
        int64_t count;
} test_daemon_conf_t;

#define F(x) offsetof(test_daemon_conf_t, x)
static const tecg_conf_prop_t producer_like[] = {
        {.name = "nation",
         .type = TECG_CONF_STRING,
         .offset = F(nation),
         .flags = TECG_CONF_F_REQUIRED,
         .doc = "the nation"},
        {.name = "count",
         .type = TECG_CONF_INT,
         .offset = F(count),
         .defval = "10",
         .min = 1,
         .max = 100,
         .doc = "a count"},
        TECG_DAEMON_SHARED_KEYS(test_daemon_conf_t, common, TECG_DAEMON_PRODUCER),
        {.name = NULL}};
static const tecg_conf_prop_t dashboard_like[] = {
        {.name = "count",
         .type = TECG_CONF_INT,
         .offset = F(count),
         .defval = "10",
         .min = 1,
         .max = 100,
         .doc = "a count"},
        TECG_DAEMON_SHARED_KEYS(test_daemon_conf_t, common, TECG_DAEMON_DASHBOARD),
        {.name = NULL}};
#undef F

static const tecg_daemon_spec_t spec = {
        .progname = "tecg-test",
        .usage = "Usage: tecg-test [options]\n",
        .exit_status = "Exit status: 0 fine.\n",
        .props = producer_like,
        .alias_long = "nation",
        .alias_short = 'n',
        .alias_key = "nation",
        .accepts_stdin = true,
};

static const tecg_daemon_spec_t dashboard_spec = {
        .progname = "tecg-test-dashboard",
        .usage = "Usage: tecg-test-dashboard [options]\n",
        .props = dashboard_like,
};

typedef struct {
        int rc;
        char *out, *err; /* what setup printed on stdout and stderr */
} run_t;

/* Runs tecg_daemon_setup() on argv (NULL-terminated) with stdout and
 * stderr captured. */
static run_t run_setup(const tecg_daemon_spec_t *sp, void *target, tecg_daemon_t *d, char **argv) {
        run_t r;
        int argc = 0;
        while (argv[argc])
                argc++;
        char out_path[] = "/tmp/test_daemon_out_XXXXXX";
        char err_path[] = "/tmp/test_daemon_err_XXXXXX";
        int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
        assert_true(out_fd >= 0 && err_fd >= 0);
        fflush(stdout);
        fflush(stderr);
        int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
        dup2(out_fd, STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        r.rc = tecg_daemon_setup(sp, target, argc, argv, d);
        fflush(stdout);
        fflush(stderr);
        dup2(saved_out, STDOUT_FILENO);
        dup2(saved_err, STDERR_FILENO);
        close(saved_out);
        close(saved_err);
        close(out_fd);
        close(err_fd);
        r.out = tu_slurp(out_path, NULL);
        r.err = tu_slurp(err_path, NULL);
        unlink(out_path);
        unlink(err_path);
        return r;
}

static void run_free(run_t *r, tecg_daemon_t *d) {
        free(r->out);
        free(r->err);
        tecg_daemon_cleanup(d);
}

/* A config file in /tmp; the caller unlinks and frees the path. */
static char *write_conf(const char *text) {
        char *path = strdup("/tmp/test_daemon_conf_XXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        return path;
}

static void test_help_is_generated_from_the_table(void **state) {
        (void)state;
        test_daemon_conf_t c;
        tecg_daemon_t d;
        run_t r = run_setup(&spec, &c, &d, (char *[]){"tecg-test", "--help", NULL});
        assert_int_equal(r.rc, 0);
        tu_assert_contains(r.out, "Usage: tecg-test [options]", "-n, --nation VALUE",
                           "same as nation = VALUE", "-c, --config FILE", "-X, --set",
                           "--check-config", "Configuration keys:", "nation", "string, required",
                           "count", "integer [1..100]", "(default: 10)", "topic.prefix",
                           "(default: tecg.)", "metrics.file", "schema.registry.url",
                           "kafka.<property>", "Exit status: 0 fine.");
        assert_string_equal(r.err, "");
        run_free(&r, &d);

        /* The dashboard's scope has no metrics.file nor schema.registry.url. */
        r = run_setup(&dashboard_spec, &c, &d, (char *[]){"tecg-test-dashboard", "-h", NULL});
        assert_int_equal(r.rc, 0);
        tu_assert_contains(r.out, "nations.file", "log.level", "stats.interval.ms",
                           "kafka.<property>");
        assert_null(strstr(r.out, "metrics.file"));
        assert_null(strstr(r.out, "schema.registry.url"));
        assert_null(strstr(r.out, "--nation"));
        run_free(&r, &d);
}

/* --version: the project's version and the librdkafka loaded, exit 0,
 * no configuration read (a config file that does not exist is fine). */
static void test_version(void **state) {
        (void)state;
        test_daemon_conf_t c;
        tecg_daemon_t d;
        run_t r = run_setup(
                &spec, &c, &d,
                (char *[]){"tecg-test", "--config", "/nonexistent.conf", "--version", NULL});
        assert_int_equal(r.rc, 0);
        char want[128];
        snprintf(want, sizeof(want), "tecg-test %s (librdkafka ", TECG_VERSION);
        assert_non_null(strstr(r.out, want));
        assert_string_equal(r.err, "");
        run_free(&r, &d);
}

/* --help-man: the same options, keys, defaults and exit status as --help,
 * as a man(7) page; the shared default of nations.file is the installed
 * configuration directory, not the source tree. */
static void test_man_page_is_generated_from_the_table(void **state) {
        (void)state;
        test_daemon_conf_t c;
        tecg_daemon_t d;
        run_t r = run_setup(&spec, &c, &d, (char *[]){"tecg-test", "--help-man", NULL});
        assert_int_equal(r.rc, 0);
        tu_assert_contains(
                r.out, ".TH TECG\\-TEST 8 ", ".SH NAME\ntecg\\-test \\- ",
                ".SH SYNOPSIS\n.nf\n\\fBtecg\\-test\\fR [options]\n.fi\n",
                "\\fB\\-n\\fR, \\fB\\-\\-nation\\fR \\fIVALUE\\fR\nsame as nation = VALUE",
                "\\fB\\-\\-version\\fR\n",
                ".TP\n\\fBcount\\fR (integer [1..100])\na count (default: 10)\n",
                "\\fBnation\\fR (string, required)\n", "\\fBkafka.<property>\\fR (prefix)",
                "(default: " TECG_CONF_DIR "/nations.csv)", ".SH \"EXIT STATUS\"\n.PP\n0 fine.",
                ".SH \"SEE ALSO\"", "\\fBtecg.conf\\fR(5)");
        /* --help-man is for the build: --help does not offer it. */
        assert_null(strstr(r.out, "help\\-man"));
        run_free(&r, &d);
        r = run_setup(&spec, &c, &d, (char *[]){"tecg-test", "--help", NULL});
        assert_null(strstr(r.out, "help-man"));
        tu_assert_contains(r.out, "      --version          print the version");
        run_free(&r, &d);
}

/* defaults < file < -X < the alias option, whatever the order on the
 * command line. */
static void test_sources_in_order(void **state) {
        (void)state;
        test_daemon_conf_t c;
        tecg_daemon_t d;
        char *path = write_conf("nation = FRA\ncount = 5\ntopic.prefix = f.\n"
                                "log.level = warning\n");
        run_t r =
                run_setup(&spec, &c, &d,
                          (char *[]){"tecg-test", "-n", "DEU", "--config", path, "-X", "count=7",
                                     "--set", "stats.interval.ms=0", "--check-config", "-", NULL});
        assert_int_equal(r.rc, -1);
        assert_string_equal(r.err, "");
        assert_string_equal(c.nation, "DEU");
        assert_string_equal(tecg_conf_origin(d.conf, "nation"), "--nation");
        assert_int_equal(c.count, 7);
        assert_string_equal(tecg_conf_origin(d.conf, "count"), "-X");
        assert_string_equal(c.common.topic_prefix, "f.");
        char origin[4200];
        snprintf(origin, sizeof(origin), "%s:3", path);
        assert_string_equal(tecg_conf_origin(d.conf, "topic.prefix"), origin);
        assert_int_equal(c.common.stats_interval_ms, 0);
        assert_true(d.check_only);
        assert_true(d.read_stdin);
        assert_int_equal(tecg_log_get_level(), TECG_LOG_WARNING);
        run_free(&r, &d);
        unlink(path);
        free(path);

        /* -v wins over log.level. */
        r = run_setup(&spec, &c, &d, (char *[]){"tecg-test", "-n", "FRA", "-v", NULL});
        assert_int_equal(r.rc, -1);
        assert_false(d.check_only);
        assert_false(d.read_stdin);
        assert_int_equal(tecg_log_get_level(), TECG_LOG_DEBUG);
        run_free(&r, &d);
        tecg_log_set_level(TECG_LOG_INFO);
}

/* What the reload test's apply callback saw. */
typedef struct {
        int calls;
        int64_t count; /* the fresh configuration's count */
        bool refuse;   /* answer with an error */
} applied_t;

static tecg_err_t apply_count(const tecg_conf_t *conf, const void *fresh, void *opaque,
                              char *errstr, size_t errstr_size) {
        applied_t *a = opaque;
        const test_daemon_conf_t *c = fresh;
        a->calls++;
        if (a->refuse)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: count: refused",
                                   tecg_conf_origin(conf, "count"));
        a->count = c->count;
        return TECG_OK;
}

/* tecg_daemon_reload() with stderr captured: its return, its log. */
static int reload_logged(tecg_daemon_t *d, const tecg_daemon_live_t *live, char **log) {
        char path[] = "/tmp/test_daemon_log_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        dup2(fd, STDERR_FILENO);
        int rc = tecg_daemon_reload(d, live);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(fd);
        *log = tu_slurp(path, NULL);
        unlink(path);
        return rc;
}

static void rewrite(const char *path, const char *text) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        assert_true(fputs(text, fp) >= 0);
        assert_int_equal(fclose(fp), 0);
}

/* SIGHUP's reload: a live key goes to apply and is logged as applied, and
 * once applied it is not "changed" again; another key needs a restart
 * each time it differs from what runs; a refused apply or a bad file
 * changes nothing and says why. */
static void test_reload(void **state) {
        (void)state;
        test_daemon_conf_t c;
        tecg_daemon_t d;
        applied_t a = {.calls = 0};
        static const char *const keys[] = {"count", NULL};
        const tecg_daemon_live_t live = {
                .keys = keys, .conf_size = sizeof(c), .apply = apply_count, .opaque = &a};
        char *log = NULL;
        char *path = write_conf("nation = FRA\ncount = 5\n");
        run_t r = run_setup(&spec, &c, &d, (char *[]){"tecg-test", "--config", path, NULL});
        assert_int_equal(r.rc, -1);

        assert_int_equal(reload_logged(&d, &live, &log), 0);
        assert_int_equal(a.calls, 1); /* called even when nothing changed */
        tu_assert_contains(log, "SIGHUP: the configuration has not changed");
        free(log);

        rewrite(path, "nation = FRA\ncount = 9\n");
        assert_int_equal(reload_logged(&d, &live, &log), 0);
        assert_int_equal(a.count, 9);
        tu_assert_contains(log, "SIGHUP: count applied (9)");
        assert_null(strstr(log, "next start"));
        assert_int_equal(c.count, 5); /* the daemon's struct is its own */
        free(log);

        /* Applied: the same file again is no change. */
        assert_int_equal(reload_logged(&d, &live, &log), 0);
        tu_assert_contains(log, "SIGHUP: the configuration has not changed");
        free(log);

        /* nation is not live: named, each time. */
        rewrite(path, "nation = DEU\ncount = 9\n");
        for (int i = 0; i < 2; i++) {
                assert_int_equal(reload_logged(&d, &live, &log), 1);
                tu_assert_contains(log, "SIGHUP: nation in ", "changed to DEU",
                                   "takes effect at the next start");
                free(log);
        }

        /* Refused by the daemon: nothing applied, the reason said. */
        a.refuse = true;
        rewrite(path, "nation = FRA\ncount = 11\n");
        assert_int_equal(reload_logged(&d, &live, &log), -1);
        tu_assert_contains(log, "count: refused; the configuration in use stays");
        assert_null(strstr(log, "applied"));
        free(log);
        a.refuse = false;
        assert_int_equal(reload_logged(&d, &live, &log), 0);
        tu_assert_contains(log, "SIGHUP: count applied (11)");
        assert_int_equal(a.count, 11);
        free(log);

        /* A bad file: apply is not even asked. */
        int calls = a.calls;
        rewrite(path, "nation = FRA\ncount = 500\n");
        assert_int_equal(reload_logged(&d, &live, &log), -1);
        assert_int_equal(a.calls, calls);
        tu_assert_contains(log, ":2: ", "count", "the configuration in use stays");
        free(log);

        run_free(&r, &d);
        unlink(path);
        free(path);
        tecg_log_set_level(TECG_LOG_INFO);
}

static void test_live_keys(void **state) {
        (void)state;
        static const char *const keys[] = {"nations.file", "sink.", "limits.", NULL};
        assert_true(tecg_daemon_key_is_live(keys, "log.level"));
        assert_true(tecg_daemon_key_is_live(NULL, "log.level"));
        assert_true(tecg_daemon_key_is_live(keys, "nations.file"));
        assert_true(tecg_daemon_key_is_live(keys, "sink.bi.url"));
        assert_true(tecg_daemon_key_is_live(keys, "limits.json.depth"));
        assert_false(tecg_daemon_key_is_live(keys, "nations.filex"));
        assert_false(tecg_daemon_key_is_live(keys, "sink"));
        assert_false(tecg_daemon_key_is_live(keys, "kafka.acks"));
        assert_false(tecg_daemon_key_is_live(NULL, "nations.file"));
}

/* Every mistake: exit status 2 and "progname: where: reason". */
static void test_mistakes(void **state) {
        (void)state;
        char *bad_file = write_conf("nation = FRA\n\ncuont = 1\n");
        char bad_file_reason[4200];
        snprintf(bad_file_reason, sizeof(bad_file_reason),
                 "tecg-test: %s:3: unknown key 'cuont' (see --help)\n", bad_file);
        const struct {
                char *argv[8];
                const char *err; /* stderr, exactly; NULL: see contains */
                const char *contains;
        } cases[] = {
                {{"tecg-test", NULL},
                 "tecg-test: required key 'nation' is not set "
                 "(the nation)\n",
                 NULL},
                {{"tecg-test", "-c", bad_file, NULL}, bad_file_reason, NULL},
                {{"tecg-test", "-c", "/nonexistent/t.conf", NULL},
                 "tecg-test: /nonexistent/t.conf: cannot open: No such file or "
                 "directory\n",
                 NULL},
                {{"tecg-test", "-n", "FRA", "-X", "count", NULL},
                 "tecg-test: -X count: expected KEY=VALUE\n",
                 NULL},
                {{"tecg-test", "-n", "FRA", "-X", "count=0", NULL},
                 "tecg-test: -X: 'count': 0 is out of range [1, 100]\n",
                 NULL},
                {{"tecg-test", "-n", "FRA", "-X", "log.level=loud", NULL},
                 "tecg-test: -X: log.level: \"loud\" is not a level\n",
                 NULL},
                {{"tecg-test", "-n", "FRA", "-X", "kafka.no.such=1", NULL},
                 NULL,
                 "tecg-test: -X: kafka.no.such: "},
                {{"tecg-test", "-n", "FRA", "extra", NULL},
                 "tecg-test: unexpected argument 'extra' ('-' reads standard input)\n",
                 NULL},
                {{"tecg-test", "--colour", NULL}, NULL, "Usage: tecg-test"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                test_daemon_conf_t c;
                tecg_daemon_t d;
                run_t r = run_setup(&spec, &c, &d, (char **)cases[i].argv);
                if (r.rc != 2)
                        fail_msg("case %zu: exit status %d, stderr %s", i, r.rc, r.err);
                if (cases[i].err && strcmp(r.err, cases[i].err) != 0)
                        fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].err, r.err);
                if (cases[i].contains && !strstr(r.err, cases[i].contains))
                        fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].contains, r.err);
                assert_string_equal(r.out, "");
                run_free(&r, &d);
        }
        /* Without accepts_stdin, '-' is just an unexpected argument. */
        test_daemon_conf_t c;
        tecg_daemon_t d;
        run_t r = run_setup(&dashboard_spec, &c, &d, (char *[]){"tecg-test-dashboard", "-", NULL});
        assert_int_equal(r.rc, 2);
        assert_string_equal(r.err, "tecg-test-dashboard: unexpected argument '-'\n");
        run_free(&r, &d);
        unlink(bad_file);
        free(bad_file);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_help_is_generated_from_the_table),
                cmocka_unit_test(test_version),
                cmocka_unit_test(test_man_page_is_generated_from_the_table),
                cmocka_unit_test(test_sources_in_order),
                cmocka_unit_test(test_mistakes),
                cmocka_unit_test(test_reload),
                cmocka_unit_test(test_live_keys),
        };
        return cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
}
