/* The producer's HTTP input (producers/http_input.h): a real server on an
 * ephemeral loopback port, a libcurl client on its own thread, and the
 * ingest with a capture sink (no Kafka) that acknowledges at poll(),
 * holds its acknowledgements, or says Kafka is unreachable.
 *
 * The test's main thread plays the producer's main loop: it calls
 * tecg_http_input_run() and tecg_ingest_poll() until the client has its
 * answer. Lines come from tests/data/validate/ as in test_ingest.c. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "http_input.h"
#include "ingest.h"
#include "log.h"
#include "refdata.h"
#include "spool.h"
#include "testutil.h"
#include "tokens.h"

#define MAX_MSGS 64

/* The capture sink. */
typedef struct {
        void *opaque[MAX_MSGS];
        uint64_t line[MAX_MSGS];
        bool acked[MAX_MSGS];
        size_t count;
        bool hold;        /* poll() acknowledges nothing while set */
        bool unreachable; /* ready() says Kafka is down */
} capture_t;

static tecg_err_t capture_send(void *ctx, tecg_topic_t topic, const void *payload, size_t len,
                               void *opaque, uint64_t line, char *errstr, size_t errstr_size) {
        capture_t *c = ctx;
        (void)topic, (void)payload, (void)len, (void)errstr, (void)errstr_size;
        assert_true(c->count < MAX_MSGS);
        c->opaque[c->count] = opaque;
        c->line[c->count] = line;
        c->acked[c->count++] = false;
        return TECG_OK;
}

static void capture_poll(void *ctx, int timeout_ms) {
        capture_t *c = ctx;
        (void)timeout_ms;
        if (c->hold)
                return;
        for (size_t i = 0; i < c->count; i++)
                if (!c->acked[i]) {
                        c->acked[i] = true;
                        tecg_ingest_ack(c->opaque[i], c->line[i], 0, NULL);
                }
}

static tecg_err_t capture_ready(void *ctx, char *errstr, size_t errstr_size) {
        capture_t *c = ctx;
        return c->unreachable ? tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size,
                                            "no Kafka broker reachable for 3 s")
                              : TECG_OK;
}

typedef struct {
        char dir[1024];
        tecg_nations_t *nations;
        tecg_spool_t *spool;
        capture_t cap;
        tecg_ingest_t *ing;
        tecg_tokens_t *tokens;
        tecg_http_input_t *hi;
        volatile int stop;
        char token[TECG_TOKEN_TEXT_SIZE];       /* granted /v1/events */
        char other_token[TECG_TOKEN_TEXT_SIZE]; /* granted /api/export/ only */
        char url[128];
} fixture_t;

/* One request on the client thread. */
typedef struct {
        const char *url, *token, *ctype, *method;
        const char *body;
        size_t body_len;
        long status;
        char retry_after[32];
        char www_auth[128];
        char *answer;
        size_t answer_len;
        volatile int done;
} call_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
        call_t *c = ud;
        char *more = realloc(c->answer, c->answer_len + size * n + 1);
        assert_non_null(more);
        memcpy(more + c->answer_len, p, size * n);
        c->answer = more;
        c->answer_len += size * n;
        c->answer[c->answer_len] = '\0';
        return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
        call_t *c = ud;
        size_t len = size * n;
        if (len > 13 && strncasecmp(p, "Retry-After: ", 13) == 0)
                snprintf(c->retry_after, sizeof(c->retry_after), "%.*s",
                         (int)strcspn(p + 13, "\r\n"), p + 13);
        if (len > 18 && strncasecmp(p, "WWW-Authenticate: ", 18) == 0)
                snprintf(c->www_auth, sizeof(c->www_auth), "%.*s", (int)strcspn(p + 18, "\r\n"),
                         p + 18);
        return len;
}

static void *client_main(void *arg) {
        call_t *c = arg;
        char auth[200], ctype[200];
        struct curl_slist *h = NULL;
        CURL *curl = curl_easy_init();
        assert_non_null(curl);
        if (c->token) {
                snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
                h = curl_slist_append(h, auth);
        }
        snprintf(ctype, sizeof(ctype), "Content-Type: %s", c->ctype ? c->ctype : "");
        h = curl_slist_append(h, c->ctype ? ctype : "Content-Type:");
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(curl, CURLOPT_URL, c->url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
        if (c->method && strcmp(c->method, "GET") == 0) {
                curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        } else {
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c->body ? c->body : "");
                curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)c->body_len);
        }
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, c);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L);
        if (curl_easy_perform(curl) == CURLE_OK)
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &c->status);
        curl_slist_free_all(h);
        curl_easy_cleanup(curl);
        __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
        return NULL;
}

/* Plays the producer's loop for up to ms, or until the call is answered. */
static void loop_for(fixture_t *f, call_t *c, int ms) {
        int64_t end = tu_now_ms() + ms;
        while (tu_now_ms() < end && !(c && __atomic_load_n(&c->done, __ATOMIC_SEQ_CST))) {
                tecg_http_input_run(f->hi, f->ing);
                tecg_ingest_poll(f->ing, 5);
                tu_sleep_ms(5);
        }
}

/* Posts `body` and waits for the answer (the loop running meanwhile). */
static void post(fixture_t *f, call_t *c) {
        pthread_t t;
        if (!c->url)
                c->url = f->url;
        assert_int_equal(pthread_create(&t, NULL, client_main, c), 0);
        loop_for(f, c, 15000);
        pthread_join(t, NULL);
}

static void call_free(call_t *c) {
        free(c->answer);
}

static void start(fixture_t *f, const tecg_http_input_conf_t *conf_in) {
        char err[512];
        tecg_http_input_conf_t conf;
        if (conf_in)
                conf = *conf_in;
        else
                tecg_http_input_conf_init(&conf);
        conf.tokens = f->tokens;
        f->hi = tecg_http_input_start(&conf, err, sizeof(err));
        if (!f->hi)
                fail_msg("tecg_http_input_start: %s", err);
        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/v1/events",
                 (unsigned)tecg_http_input_port(f->hi));
}

static int setup(void **state) {
        char err[512], cwd[900], line1[512], line2[512], text[1100];
        const char *const events[] = {"/v1/events"}, *const export[] = {"/api/export/"};
        fixture_t *f = calloc(1, sizeof(*f));
        if (!f || !getcwd(cwd, sizeof(cwd)))
                return -1;
        tecg_log_init("test_http_input", TECG_LOG_DEBUG);
        snprintf(f->dir, sizeof(f->dir), "%s/tmp-test_http_input-XXXXXX", cwd);
        if (!mkdtemp(f->dir))
                return -1;
        f->nations = tecg_nations_load(tu_data_path("validate/nations.csv"), err, sizeof(err));
        f->spool = tecg_spool_open(f->dir, err, sizeof(err));
        if (!f->nations || !f->spool ||
            tecg_tokens_make("deu-system", events, 1, f->token, line1, sizeof(line1), err,
                             sizeof(err)) ||
            tecg_tokens_make("bi", export, 1, f->other_token, line2, sizeof(line2), err,
                             sizeof(err))) {
                print_error("setup: %s\n", err);
                return -1;
        }
        snprintf(text, sizeof(text), "%s\n%s\n", line1, line2);
        if (!(f->tokens = tecg_tokens_parse(text, strlen(text), "tokens", err, sizeof(err))))
                return -1;

        tecg_ingest_opts_t opts = {.max_file_lines = 1000, .retry_interval_ms = 100};
        tecg_validate_limits_init(&opts.validate);
        tecg_ingest_sink_t sink = {
                .send = capture_send, .poll = capture_poll, .ctx = &f->cap, .ready = capture_ready};
        /* With a spool: the test checks that a request writes nothing to
         * rejected/. */
        if (!(f->ing = tecg_ingest_new_with_sink(&sink, f->nations, "DEU", f->spool, &opts,
                                                 &f->stop, err, sizeof(err))))
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_http_input_stop(f->hi);
        tecg_ingest_destroy(f->ing);
        tecg_http_input_destroy(f->hi);
        tecg_tokens_destroy(f->tokens);
        tecg_spool_close(f->spool);
        tecg_nations_destroy(f->nations);
        tu_rm_tree(f->dir);
        free(f);
        return 0;
}

static const char *const GOOD1 =
        "{\"type\":\"funding\",\"event_id\":\"H-1\",\"nation\":\"DEU\",\"occurred_at\":"
        "\"2005-02-22T09:00:00Z\",\"amount\":\"652000.00\",\"currency\":\"EUR\",\"channel\":"
        "\"TRUST_FUND\",\"stage\":\"PLEDGED\"}";
static const char *const GOOD2 =
        "{\"type\":\"funding\",\"event_id\":\"H-2\",\"nation\":\"DEU\",\"occurred_at\":"
        "\"2005-02-22T09:00:00Z\",\"amount\":\"1.00\",\"currency\":\"EUR\",\"channel\":"
        "\"TRUST_FUND\",\"stage\":\"DISBURSED\"}";
/* Valid JSON with an event_id, but of another nation. */
static const char *const BAD_NATION =
        "{\"type\":\"funding\",\"event_id\":\"H-3\",\"nation\":\"FRA\",\"occurred_at\":"
        "\"2005-02-22T09:00:00Z\",\"amount\":\"1.00\",\"currency\":\"EUR\",\"channel\":"
        "\"TRUST_FUND\",\"stage\":\"PLEDGED\"}";

static char *body_of(const char *first, ...) {
        char *text = NULL;
        size_t len = 0;
        va_list ap;
        va_start(ap, first);
        for (const char *l = first; l; l = va_arg(ap, const char *)) {
                size_t n = strlen(l);
                text = realloc(text, len + n + 2);
                assert_non_null(text);
                memcpy(text + len, l, n);
                len += n;
                text[len++] = '\n';
                text[len] = '\0';
        }
        va_end(ap);
        return text;
}

static json_t *answer_json(const call_t *c) {
        json_error_t je;
        assert_non_null(c->answer);
        json_t *o = json_loads(c->answer, 0, &je);
        if (!o)
                fail_msg("answer is not JSON: %s (%s)", je.text, c->answer);
        return o;
}

static void assert_result(json_t *results, size_t i, const char *status, const char *event_id,
                          const char *reason_part) {
        json_t *r = json_array_get(results, i);
        assert_non_null(r);
        assert_int_equal(json_integer_value(json_object_get(r, "line")), (json_int_t)i + 1);
        assert_string_equal(json_string_value(json_object_get(r, "status")), status);
        if (event_id)
                assert_string_equal(json_string_value(json_object_get(r, "event_id")), event_id);
        else
                assert_null(json_object_get(r, "event_id"));
        const char *reason = json_string_value(json_object_get(r, "reason"));
        if (reason_part) {
                assert_non_null(reason);
                if (!strstr(reason, reason_part))
                        fail_msg("line %zu: reason \"%s\" lacks \"%s\"", i + 1, reason,
                                 reason_part);
        } else {
                assert_null(reason);
        }
}

/* Good, bad and unparsable lines: every line accounted, with the
 * validator's reasons and line numbers, counted like a spool file's, and
 * nothing written to rejected/. */
static void test_http_input_mixed_body(void **state) {
        fixture_t *f = *state;
        char *body = body_of(GOOD1, "[1,2]", BAD_NATION, "", GOOD2, NULL);
        call_t c = {.token = f->token, .ctype = "application/x-ndjson", .body = body};
        c.body_len = strlen(body);
        start(f, NULL);
        post(f, &c);
        assert_int_equal(c.status, 200);
        json_t *o = answer_json(&c);
        assert_int_equal(json_integer_value(json_object_get(o, "lines")), 5);
        assert_int_equal(json_integer_value(json_object_get(o, "accepted")), 2);
        assert_int_equal(json_integer_value(json_object_get(o, "rejected")), 3);
        json_t *results = json_object_get(o, "results");
        assert_int_equal(json_array_size(results), 5);
        assert_result(results, 0, "accepted", "H-1", NULL);
        assert_result(results, 1, "rejected", NULL, "line must be a JSON object (got array)");
        assert_result(results, 2, "rejected", "H-3", "nation");
        assert_result(results, 3, "rejected", NULL, "empty line");
        assert_result(results, 4, "accepted", "H-2", NULL);
        json_decref(o);

        tecg_ingest_stats_t st;
        tecg_ingest_stats(f->ing, &st);
        assert_int_equal(st.lines, 5);
        assert_int_equal(st.delivered, 2);
        assert_int_equal(st.rejected, 3);
        assert_int_equal(f->cap.count, 2);
        tecg_http_input_stats_t hs;
        tecg_http_input_stats(f->hi, &hs);
        assert_int_equal(hs.requests[200], 1);
        assert_int_equal(hs.lines_accepted, 2);
        assert_int_equal(hs.lines_rejected, 3);
        /* The reasons went to the client: rejected/ stays empty. */
        DIR *d = opendir(tu_path_in(f->dir, "rejected"));
        struct dirent *e;
        assert_non_null(d);
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        fail_msg("rejected/%s written for an HTTP request", e->d_name);
        closedir(d);
        call_free(&c);
        free(body);
}

/* The answer waits for Kafka: nothing while acknowledgements are held,
 * then 200 once they come. */
static void test_http_input_answer_waits_for_acks(void **state) {
        fixture_t *f = *state;
        char *body = body_of(GOOD1, GOOD2, NULL);
        call_t c = {.token = f->token, .ctype = "application/x-ndjson", .body = body};
        pthread_t t;
        c.body_len = strlen(body);
        c.url = NULL;
        start(f, NULL);
        c.url = f->url;
        f->cap.hold = true;
        assert_int_equal(pthread_create(&t, NULL, client_main, &c), 0);
        loop_for(f, NULL, 600);
        assert_false(__atomic_load_n(&c.done, __ATOMIC_SEQ_CST));
        assert_int_equal(f->cap.count, 2); /* sent, not acknowledged */
        assert_int_equal(tecg_http_input_pending(f->hi), 1);
        f->cap.hold = false;
        loop_for(f, &c, 10000);
        pthread_join(t, NULL);
        assert_int_equal(c.status, 200);
        json_t *o = answer_json(&c);
        assert_int_equal(json_integer_value(json_object_get(o, "accepted")), 2);
        json_decref(o);
        assert_int_equal(tecg_http_input_pending(f->hi), 0);
        call_free(&c);
        free(body);
}

/* Kafka unreachable before the body is read: 503 with Retry-After, not a
 * line sent or counted. */
static void test_http_input_unreachable_503(void **state) {
        fixture_t *f = *state;
        char *body = body_of(GOOD1, NULL);
        call_t c = {.token = f->token, .ctype = "application/x-ndjson", .body = body};
        tecg_http_input_conf_t conf;
        c.body_len = strlen(body);
        tecg_http_input_conf_init(&conf);
        conf.retry_after_s = 7;
        start(f, &conf);
        f->cap.unreachable = true;
        post(f, &c);
        assert_int_equal(c.status, 503);
        assert_string_equal(c.retry_after, "7");
        json_t *o = answer_json(&c);
        assert_string_equal(json_string_value(json_object_get(o, "error")), "unavailable");
        assert_non_null(strstr(json_string_value(json_object_get(o, "message")),
                               "no Kafka broker reachable"));
        json_decref(o);
        assert_int_equal(f->cap.count, 0);
        tecg_ingest_stats_t st;
        tecg_ingest_stats(f->ing, &st);
        assert_int_equal(st.lines, 0);
        call_free(&c);
        free(body);
}

/* Acknowledgements that do not come within the response timeout: 503, and
 * the lines still in flight are released cleanly when they come later. */
static void test_http_input_ack_timeout_503(void **state) {
        fixture_t *f = *state;
        char *body = body_of(GOOD1, NULL);
        call_t c = {.token = f->token, .ctype = "application/x-ndjson", .body = body};
        tecg_http_input_conf_t conf;
        c.body_len = strlen(body);
        tecg_http_input_conf_init(&conf);
        conf.response_timeout_ms = 300;
        start(f, &conf);
        f->cap.hold = true;
        post(f, &c);
        assert_int_equal(c.status, 503);
        assert_string_equal(c.retry_after, "10");
        assert_non_null(strstr(c.answer, "http.response.timeout.ms"));
        assert_int_equal(tecg_http_input_pending(f->hi), 0);
        /* The ack arrives after the answer: counted, the job freed. */
        f->cap.hold = false;
        loop_for(f, NULL, 50);
        tecg_ingest_stats_t st;
        tecg_ingest_stats(f->ing, &st);
        assert_int_equal(st.delivered, 1);
        tecg_http_input_stats_t hs;
        tecg_http_input_stats(f->hi, &hs);
        assert_int_equal(hs.requests[503], 1);
        assert_int_equal(hs.lines_accepted, 0);
        call_free(&c);
        free(body);
}

/* Shutting down with an answer still waiting for Kafka: 503. */
static void test_http_input_stop_answers_503(void **state) {
        fixture_t *f = *state;
        char *body = body_of(GOOD1, NULL);
        call_t c = {.token = f->token, .ctype = "application/x-ndjson", .body = body};
        pthread_t t;
        c.body_len = strlen(body);
        start(f, NULL);
        c.url = f->url;
        f->cap.hold = true;
        assert_int_equal(pthread_create(&t, NULL, client_main, &c), 0);
        for (int i = 0; i < 400 && tecg_http_input_pending(f->hi) == 0; i++)
                loop_for(f, NULL, 10);
        loop_for(f, NULL, 50);
        assert_int_equal(f->cap.count, 1);
        tecg_http_input_quiesce(f->hi);
        tecg_http_input_stop(f->hi);
        pthread_join(t, NULL);
        assert_int_equal(c.status, 503);
        assert_non_null(strstr(c.answer, "shutting down"));
        call_free(&c);
        free(body);
}

/* What is refused before the body is read: the token (401, 403), the
 * route (404), the method (405), the content type (415), the size (413). */
static void test_http_input_refusals(void **state) {
        fixture_t *f = *state;
        char big[3000], other_url[160];
        tecg_http_input_conf_t conf;
        tecg_http_input_conf_init(&conf);
        conf.max_body_bytes = 2048;
        start(f, &conf);
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        snprintf(other_url, sizeof(other_url), "http://127.0.0.1:%u/v1/other",
                 (unsigned)tecg_http_input_port(f->hi));
        struct {
                const char *token, *ctype, *method, *url, *body;
                long status;
                const char *code;
        } cases[] = {
                {NULL, "application/x-ndjson", "POST", NULL, GOOD1, 401, "unauthorized"},
                {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                 "application/x-ndjson", "POST", NULL, GOOD1, 401, "unauthorized"},
                {f->other_token, "application/x-ndjson", "POST", NULL, GOOD1, 403, "forbidden"},
                {f->token, "application/x-ndjson", "POST", other_url, GOOD1, 404, "not_found"},
                {f->token, "application/x-ndjson", "GET", NULL, NULL, 405, "method_not_allowed"},
                {f->token, "application/json", "POST", NULL, GOOD1, 415, "unsupported_media_type"},
                {f->token, NULL, "POST", NULL, GOOD1, 415, "unsupported_media_type"},
                {f->token, "application/x-ndjson", "POST", NULL, big, 413, "too_large"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                call_t c = {.token = cases[i].token,
                            .ctype = cases[i].ctype,
                            .method = cases[i].method,
                            .url = cases[i].url,
                            .body = cases[i].body};
                c.body_len = c.body ? strlen(c.body) : 0;
                post(f, &c);
                if (c.status != cases[i].status)
                        fail_msg("case %zu: status %ld, want %ld (%s)", i, c.status,
                                 cases[i].status, c.answer ? c.answer : "");
                json_t *o = answer_json(&c);
                assert_string_equal(json_string_value(json_object_get(o, "error")), cases[i].code);
                json_decref(o);
                if (cases[i].status == 401)
                        assert_non_null(strstr(c.www_auth, "Bearer"));
                call_free(&c);
        }
        assert_int_equal(f->cap.count, 0);
        tecg_ingest_stats_t st;
        tecg_ingest_stats(f->ing, &st);
        assert_int_equal(st.lines, 0);
}

static void test_http_input_ctype(void **state) {
        (void)state;
        assert_true(tecg_http_input_ctype_ok("application/x-ndjson"));
        assert_true(tecg_http_input_ctype_ok("application/x-ndjson; charset=utf-8"));
        assert_true(tecg_http_input_ctype_ok("Application/JSONL"));
        assert_true(tecg_http_input_ctype_ok("application/x-jsonlines"));
        assert_false(tecg_http_input_ctype_ok("application/json"));
        assert_false(tecg_http_input_ctype_ok("application/x-ndjsonx"));
        assert_false(tecg_http_input_ctype_ok(""));
        assert_false(tecg_http_input_ctype_ok(NULL));
}

/* No tokens is for loopback only. */
static void test_http_input_no_tokens_loopback_only(void **state) {
        (void)state;
        char err[256];
        tecg_http_input_conf_t conf;
        tecg_http_input_conf_init(&conf);
        conf.bind_address = "0.0.0.0";
        assert_null(tecg_http_input_start(&conf, err, sizeof(err)));
        assert_non_null(strstr(err, "without authentication"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_http_input_ctype),
                cmocka_unit_test(test_http_input_no_tokens_loopback_only),
                cmocka_unit_test_setup_teardown(test_http_input_mixed_body, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_input_answer_waits_for_acks, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_http_input_unreachable_503, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_input_ack_timeout_503, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_input_stop_answers_503, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_input_refusals, setup, teardown),
        };
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return rc;
}
