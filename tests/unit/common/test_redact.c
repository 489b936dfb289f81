/* Redaction of configuration values: by key name and by value type
 * (docs/design.md §9.5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "http_client.h"
#include "log.h"
#include "redact.h"
#include "testutil.h"

typedef struct {
        const char *key, *value, *want;
} redact_case_t;

static const char pem[] = "-----BEGIN PRIVATE KEY-----\n"
                          "MC4CAQAwBQYDK2VwBCIEIFakeFakeFakeFakeFakeFakeFakeFakeFake\n"
                          "-----END PRIVATE KEY-----\n";

static void test_cases(void **state) {
        (void)state;
        static const redact_case_t cases[] = {
                /* nothing secret: the value itself */
                {"log.level", "debug", "debug"},
                {"sink.bi.url", "https://bi.example/hook", "https://bi.example/hook"},
                {NULL, "http://127.0.0.1:8081", "http://127.0.0.1:8081"},
                {"kafka.sasl.username", "tecg-aggregator", "tecg-aggregator"},
                {"kafka.ssl.key.location", "/etc/tecg/key.pem", "/etc/tecg/key.pem"},
                /* by key name */
                {"kafka.sasl.password", "hunter2", "***"},
                {"kafka.ssl.key.password", "hunter2", "***"},
                {"kafka.sasl.oauthbearer.client.secret", "s3", "***"},
                {"sink.bi.token", "abc", "***"},
                {"kafka.ssl.key.pem", "not even a PEM", "***"},
                {"kafka.ssl.certificate.pem", "x", "***"},
                {"kafka.sasl.oauthbearer.config", "principal=a secret=b", "***"},
                /* by value: key material under any key */
                {"whatever", pem, "***"},
                {NULL, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "***"},
                {"x", "inline OPENSSH PRIVATE KEY blob", "***"},
                /* by value: URL userinfo, every URL of a list */
                {"sink.bi.url", "https://bi:s3cr3t@bi.example/hook", "https://***@bi.example/hook"},
                {NULL, "http://user@host:8081/subjects/a/versions",
                 "http://***@host:8081/subjects/a/versions"},
                {NULL, "https://u:p@ss@h/x", "https://***@h/x"},
                {"kafka.x", "sasl://a:b@h1:9092,sasl://c:d@h2:9092 tail",
                 "sasl://***@h1:9092,sasl://***@h2:9092 tail"},
                {NULL, "see https://u:p@h then", "see https://***@h then"},
                /* by value: secret query parameters, others kept */
                {"sink.bi.url", "https://h/hook?token=abc&page=2#top",
                 "https://h/hook?token=***&page=2#top"},
                {NULL, "https://h/?api_key=1&Signature=2&x=3",
                 "https://h/?api_key=***&Signature=***&x=3"},
                {NULL, "https://h/?flag&x=1", "https://h/?flag&x=1"},
                {"k", NULL, NULL},
        };
        char buf[256];
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *got = tecg_redact(cases[i].key, cases[i].value, buf, sizeof(buf));
                if (!cases[i].want) {
                        assert_null(got);
                        continue;
                }
                if (!got || strcmp(got, cases[i].want) != 0)
                        fail_msg("case %zu (%s = %s): got \"%s\", want \"%s\"", i,
                                 cases[i].key ? cases[i].key : "(no key)", cases[i].value,
                                 got ? got : "(null)", cases[i].want);
        }
}

/* A copy that does not fit is hidden as a whole, never cut short where
 * a secret could show. */
static void test_small_buffer(void **state) {
        (void)state;
        char buf[12];
        assert_string_equal(tecg_redact(NULL, "https://u:secret@host.example/x", buf, sizeof(buf)),
                            "***");
        assert_string_equal(tecg_redact(NULL, "https://u:secret@h", NULL, 0), "***");
        /* Unchanged values need no room. */
        assert_string_equal(tecg_redact(NULL, "https://host.example/long/path", buf, sizeof(buf)),
                            "https://host.example/long/path");
}

typedef struct {
        char *url, *password, *pem, *level;
} secrets_conf_t;

#define F(x) offsetof(secrets_conf_t, x)
static const tecg_conf_prop_t props[] = {
        {.name = "registry.url", .type = TECG_CONF_STRING, .offset = F(url), .doc = "a URL"},
        {.name = "level", .type = TECG_CONF_STRING, .offset = F(level), .doc = "plain"},
        {.name = "kafka.", .type = TECG_CONF_PREFIX, .doc = "librdkafka"},
        {.name = NULL}};
#undef F

/* The configuration dump (what -v and --check-config -v print) shows no
 * secret, whatever key it sits in. */
static void test_conf_log_hides_secrets(void **state) {
        (void)state;
        secrets_conf_t c;
        memset(&c, 0, sizeof(c));
        tecg_conf_t *conf = tecg_conf_new(props, &c, NULL, 0);
        assert_non_null(conf);
        char errstr[512];
        assert_int_equal(tecg_conf_set(conf, "registry.url", "http://reg:R3gPass@127.0.0.1:8081",
                                       "test", errstr, sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(
                tecg_conf_set(conf, "level", "shown-value", "test", errstr, sizeof(errstr)),
                TECG_OK);
        assert_int_equal(tecg_conf_set(conf, "kafka.sasl.password", "KafkaPass1", "test", errstr,
                                       sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(
                tecg_conf_set(conf, "kafka.ssl.key.pem", pem, "test", errstr, sizeof(errstr)),
                TECG_OK);
        assert_int_equal(
                tecg_conf_set(conf, "kafka.client.rack", pem, "test", errstr, sizeof(errstr)),
                TECG_OK);

        char path[] = "/tmp/test_redact_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        dup2(fd, STDERR_FILENO);
        tecg_log_init("test", TECG_LOG_DEBUG);
        tecg_conf_log(conf, "config");
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(fd);
        char *out = tu_slurp(path, NULL);
        unlink(path);
        tu_assert_contains(out, "registry.url = http://***@127.0.0.1:8081", "level = shown-value",
                           "kafka.sasl.password = ***", "kafka.ssl.key.pem = ***",
                           "kafka.client.rack = ***");
        static const char *const secrets[] = {"R3gPass", "KafkaPass1", "BEGIN", "FakeFake"};
        for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
                if (strstr(out, secrets[i]))
                        fail_msg("\"%s\" in the dump:\n%s", secrets[i], out);
        free(out);
        tecg_conf_destroy(conf);
}

/* The HTTP client's errors and its URL for logs (the sinks log it at
 * start) show no userinfo; requests still use the whole URL. */
static void test_http_client_url(void **state) {
        (void)state;
        char errstr[512];
        tecg_http_options_t bad = {.url = "ftp://ftpuser:FtpPass9@h/x"};
        assert_null(tecg_http_client_new(&bad, errstr, sizeof(errstr)));
        tu_assert_contains(errstr, "ftp://***@h/x");
        assert_null(strstr(errstr, "FtpPass9"));
        tecg_http_options_t ok = {.url = "https://bi:HookPass7@bi.example/hook?token=T0k"};
        tecg_http_client_t *c = tecg_http_client_new(&ok, errstr, sizeof(errstr));
        assert_non_null(c);
        assert_string_equal(tecg_http_client_url(c), "https://***@bi.example/hook?token=***");
        tecg_http_client_destroy(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cases),
                cmocka_unit_test(test_small_buffer),
                cmocka_unit_test(test_conf_log_hides_secrets),
                cmocka_unit_test(test_http_client_url),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
