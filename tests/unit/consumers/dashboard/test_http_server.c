/* The HTTP server (consumers/http_server.h) through libcurl on loopback:
 * every route's status, headers and body; ETag/304; 404/405; the SSE
 * stream (initial documents, a put becomes an event, filter, keep-alive,
 * a client that hangs up, stop with a client connected); the BI export
 * against exact expected text; /metrics and /healthz callbacks; the page.
 *
 * Also a tool: `test_http_server --serve DIR [PORT [TOKENS]]` serves DIR/NAME.json
 * as dashboard NAME (version = the document's "version"), re-reads the
 * files every 300 ms and puts what changed, prints "port N" on stdout and
 * runs until SIGINT/SIGTERM. tests/integration/test_operator_page.py uses
 * it, and so does a person looking at the page in a browser. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "docstore.h"
#include "http_server.h"
#include "log.h"
#include "page.h"
#include "testutil.h"
#include "tokens.h"

/* ------------------------------------------------------------------ */
/* Fixture: a store with two documents and a server on an ephemeral port */

typedef struct {
        tecg_docstore_t *store;
        tecg_http_server_t *srv;
        uint16_t port;
        atomic_int healthy;
} fixture_t;

static void on_metrics(tecg_buf_t *out, void *opaque) {
        (void)opaque;
        tecg_buf_puts(out, "# TYPE tecg_test_metric gauge\n"
                           "tecg_test_metric 42\n");
}

/* healthy: 1 answers 0, 2 answers 200 (both healthy); 0 answers 1, -1
 * answers 503 (both unhealthy); -2 writes nothing and answers 503. */
static int on_health(tecg_buf_t *out, void *opaque) {
        fixture_t *f = opaque;
        int h = atomic_load(&f->healthy);
        if (h > 0) {
                tecg_buf_puts(out, "{\"status\":\"ok\",\"kafka\":\"up\"}");
                return h == 1 ? 0 : 200;
        }
        if (h == -2)
                return 503;
        tecg_buf_puts(out, "{\"status\":\"unavailable\","
                           "\"reason\":\"nation-state not read yet\"}");
        return h == 0 ? 1 : 503;
}

/* FRA is the one listed nation. */
static int on_nation(const char *code, tecg_buf_t *out, void *opaque) {
        (void)opaque;
        if (strcmp(code, "FRA") != 0)
                return 404;
        tecg_buf_puts(out, "{\"nation\":\"FRA\",\"events\":3}");
        return 200;
}

static void put(tecg_docstore_t *s, const char *name, uint64_t version, const char *json) {
        char errstr[256] = "";
        tecg_err_t err =
                tecg_docstore_put(s, name, version, json, strlen(json), errstr, sizeof(errstr));
        if (err)
                fail_msg("put %s: %s", name, errstr);
}

static fixture_t *fixture_start(int keepalive_ms, unsigned max_sse) {
        fixture_t *f = calloc(1, sizeof(*f));
        tecg_http_server_conf_t conf;
        char errstr[256];

        assert_non_null(f);
        f->store = tecg_docstore_new();
        atomic_init(&f->healthy, 1);
        put(f->store, "funding", 3, "{\"dashboard\":\"funding\",\"version\":3,\"total\":{}}");
        put(f->store, "training", 1, "{\"dashboard\":\"training\",\n \"version\":1}");
        tecg_http_server_conf_init(&conf);
        conf.port = 0;
        conf.metrics_cb = on_metrics;
        conf.health_cb = on_health;
        conf.health_opaque = f;
        conf.nation_cb = on_nation;
        if (keepalive_ms)
                conf.sse_keepalive_ms = keepalive_ms;
        if (max_sse)
                conf.max_sse_clients = max_sse;
        f->srv = tecg_http_server_start(&conf, f->store, errstr, sizeof(errstr));
        if (!f->srv)
                fail_msg("start: %s", errstr);
        f->port = tecg_http_server_port(f->srv);
        assert_true(f->port > 0);
        return f;
}

static int setup(void **state) {
        *state = fixture_start(0, 0);
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        tecg_http_server_destroy(f->srv);
        tecg_docstore_destroy(f->store);
        free(f);
        return 0;
}

/* ------------------------------------------------------------------ */
/* A synchronous client                                                */

typedef struct {
        long status;
        tecg_buf_t headers;
        tecg_buf_t body;
} resp_t;

static size_t collect(char *p, size_t size, size_t n, void *ud) {
        tecg_buf_append(ud, p, size * n);
        return size * n;
}

/* method NULL = GET; header may be NULL or several lines. The body is
 * NUL-terminated. */
static void http(fixture_t *f, const char *method, const char *path, const char *header,
                 resp_t *r) {
        CURL *c = curl_easy_init();
        struct curl_slist *hl = NULL;
        char url[512];
        CURLcode rc;

        memset(r, 0, sizeof(*r));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->port, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        if (method && strcmp(method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else if (method && strcmp(method, "POST") == 0)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
        else if (method)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (header) { /* several separated by '\n' */
                char *copy = strdup(header), *save = NULL;
                for (char *h = strtok_r(copy, "\n", &save); h; h = strtok_r(NULL, "\n", &save))
                        hl = curl_slist_append(hl, h);
                free(copy);
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        }
        rc = curl_easy_perform(c);
        if (rc != CURLE_OK)
                fail_msg("%s: %s", url, curl_easy_strerror(rc));
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        tecg_buf_terminate(&r->body);
        tecg_buf_terminate(&r->headers);
        if (!r->body.data) /* empty body: still a C string */
                r->body.data = (uint8_t *)calloc(1, 1);
        curl_slist_free_all(hl);
        curl_easy_cleanup(c);
}

static void resp_free(resp_t *r) {
        tecg_buf_free(&r->headers);
        tecg_buf_free(&r->body);
}

#define BODY(r) ((const char *)(r).body.data)

/* The value of response header `name` (case-insensitive), or NULL. */
static const char *header(resp_t *r, const char *name) {
        static char value[512];
        const char *p = (const char *)r->headers.data;
        size_t nl = strlen(name);
        while (p && *p) {
                const char *eol = strstr(p, "\r\n");
                if (!eol)
                        break;
                if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
                        const char *v = p + nl + 1;
                        size_t len;
                        while (*v == ' ')
                                v++;
                        len = (size_t)(eol - v);
                        if (len >= sizeof(value))
                                len = sizeof(value) - 1;
                        memcpy(value, v, len);
                        value[len] = '\0';
                        return value;
                }
                p = eol + 2;
        }
        return NULL;
}

static void assert_header(resp_t *r, const char *name, const char *want) {
        const char *got = header(r, name);
        if (!got)
                fail_msg("no %s header in\n%s", name, (const char *)r->headers.data);
        assert_string_equal(got, want);
}

/* ------------------------------------------------------------------ */
/* Plain routes                                                        */

static void test_list(void **state) {
        fixture_t *f = *state;
        resp_t r;
        json_t *arr;

        http(f, NULL, "/api/dashboards", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "application/json");
        arr = json_loads(BODY(r), 0, NULL);
        assert_non_null(arr);
        assert_int_equal(json_array_size(arr), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "name")),
                            "funding");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "version")), 3);
        assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "url")),
                            "/api/dashboards/funding");
        assert_non_null(json_object_get(json_array_get(arr, 1), "updated_at"));
        json_decref(arr);
        resp_free(&r);
}

static void test_dashboard(void **state) {
        fixture_t *f = *state;
        resp_t r;

        http(f, NULL, "/api/dashboards/funding", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "application/json");
        assert_header(&r, "ETag", "\"3\"");
        assert_header(&r, "Cache-Control", "no-cache");
        assert_string_equal(BODY(r), "{\"dashboard\":\"funding\",\"version\":3,"
                                     "\"total\":{}}");
        resp_free(&r);

        /* Conditional requests: a 304 has the ETag and no body. */
        static const struct {
                const char *header;
                long status;
        } conditional[] = {
                {"If-None-Match: \"3\"", 304},  {"If-None-Match: \"1\", W/\"3\"", 304},
                {"If-None-Match: *", 304},      {"If-None-Match: \"2\"", 200},
                {"If-None-Match: \"33\"", 200},
        };
        for (size_t i = 0; i < sizeof(conditional) / sizeof(conditional[0]); i++) {
                http(f, NULL, "/api/dashboards/funding", conditional[i].header, &r);
                if (r.status != conditional[i].status)
                        fail_msg("%s: %ld, want %ld", conditional[i].header, r.status,
                                 conditional[i].status);
                assert_header(&r, "ETag", "\"3\"");
                if (r.status == 304)
                        assert_int_equal(r.body.len, 0);
                resp_free(&r);
        }

        /* A newer version: a new ETag, the old one no longer matches. */
        put(f->store, "funding", 4, "{\"dashboard\":\"funding\",\"version\":4}");
        http(f, NULL, "/api/dashboards/funding", "If-None-Match: \"3\"", &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "ETag", "\"4\"");
        assert_string_equal(BODY(r), "{\"dashboard\":\"funding\",\"version\":4}");
        resp_free(&r);

        /* HEAD: headers only. */
        http(f, "HEAD", "/api/dashboards/training", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "ETag", "\"1\"");
        assert_int_equal(r.body.len, 0);
        resp_free(&r);
}

static void test_not_found_and_method(void **state) {
        fixture_t *f = *state;
        static const char *const paths[] = {
                "/api/dashboards/nope",      "/nope",
                "/api/dashboards/funding/x", "/api/export/nope.csv",
                "/api/export/funding.xml",   "/api/export/funding",
                "/api/export/nope.wide.csv", "/api/export/.wide.csv",
                "/api/export/funding.wide",  "/api",
                "/api/dashboards/%FF",
        };
        resp_t r;

        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                json_t *o;
                http(f, NULL, paths[i], NULL, &r);
                if (r.status != 404)
                        fail_msg("%s: %ld", paths[i], r.status);
                assert_header(&r, "Content-Type", "application/json");
                o = json_loads(BODY(r), 0, NULL);
                assert_non_null(o);
                assert_string_equal(json_string_value(json_object_get(o, "error")), "not_found");
                json_decref(o);
                resp_free(&r);
        }
        http(f, NULL, "/api/dashboards/nope", NULL, &r);
        assert_non_null(strstr(BODY(r), "no dashboard named 'nope'"));
        resp_free(&r);

        http(f, "POST", "/api/dashboards/funding", NULL, &r);
        assert_int_equal(r.status, 405);
        assert_header(&r, "Allow", "GET, HEAD");
        assert_non_null(strstr(BODY(r), "\"method_not_allowed\""));
        resp_free(&r);
        http(f, "DELETE", "/nope", NULL, &r);
        assert_int_equal(r.status, 405);
        resp_free(&r);
}

static void test_metrics(void **state) {
        fixture_t *f = *state;
        resp_t r;

        http(f, NULL, "/api/dashboards/funding", NULL, &r);
        resp_free(&r);
        http(f, NULL, "/api/dashboards/nope", NULL, &r);
        resp_free(&r);
        http(f, NULL, "/metrics", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        tu_assert_contains(BODY(r), "# TYPE tecg_http_requests_total counter\n",
                           "tecg_http_requests_total{route=\"dashboard\",code=\"2xx\"} 1\n",
                           "tecg_http_requests_total{route=\"dashboard\",code=\"4xx\"} 1\n",
                           "tecg_http_requests_total{route=\"metrics\",code=\"2xx\"} 0\n",
                           "tecg_http_sse_clients 0\n",
                           "tecg_http_dashboard_version{dashboard=\"funding\"} 3\n",
                           "tecg_http_dashboard_age_seconds{dashboard=\"training\"} ",
                           "\ntecg_test_metric 42\n");
        resp_free(&r);
}

static void test_healthz(void **state) {
        fixture_t *f = *state;
        resp_t r;

        /* What on_health() is told to answer, and what the server makes
         * of it. */
        static const char ok[] = "{\"status\":\"ok\",\"kafka\":\"up\"}";
        static const char down[] = "{\"status\":\"unavailable\","
                                   "\"reason\":\"nation-state not read yet\"}";
        static const struct {
                int healthy;
                long status;
                const char *body;
        } cases[] = {
                {1, 200, ok},
                {2, 200, ok},
                {0, 503, down},
                {-1, 503, down},
                {-2, 503,
                 "{\"status\":\"unavailable\","
                 "\"reason\":\"health check failed\"}"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                atomic_store(&f->healthy, cases[i].healthy);
                http(f, NULL, "/healthz", NULL, &r);
                if (r.status != cases[i].status)
                        fail_msg("healthy %d: %ld, want %ld", cases[i].healthy, r.status,
                                 cases[i].status);
                assert_header(&r, "Content-Type", "application/json");
                assert_string_equal(BODY(r), cases[i].body);
                resp_free(&r);
        }
}

/* Without a health callback the server answers for itself. */
static void test_healthz_default(void **state) {
        tecg_docstore_t *s = tecg_docstore_new();
        tecg_http_server_conf_t conf;
        fixture_t f = {0};
        resp_t r;
        (void)state;

        tecg_http_server_conf_init(&conf);
        f.srv = tecg_http_server_start(&conf, s, NULL, 0);
        assert_non_null(f.srv);
        f.port = tecg_http_server_port(f.srv);
        http(&f, NULL, "/healthz", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(BODY(r), "{\"status\":\"ok\"}");
        resp_free(&r);
        http(&f, NULL, "/api/dashboards", NULL, &r);
        assert_string_equal(BODY(r), "[]");
        resp_free(&r);
        tecg_http_server_stop(f.srv);
        assert_int_equal(tecg_http_server_port(f.srv), 0);
        tecg_http_server_stop(f.srv); /* idempotent */
        tecg_http_server_destroy(f.srv);
        tecg_http_server_destroy(NULL);
        tecg_docstore_destroy(s);
}

static void test_bind_errors(void **state) {
        fixture_t *f = *state;
        tecg_http_server_conf_t conf;
        char errstr[256] = "";
        tecg_http_server_t *srv;

        tecg_http_server_conf_init(&conf);
        conf.port = f->port; /* taken */
        srv = tecg_http_server_start(&conf, f->store, errstr, sizeof(errstr));
        assert_null(srv);
        assert_non_null(strstr(errstr, "cannot serve HTTP"));
        conf.port = 0;
        conf.bind_address = "no such host.invalid";
        srv = tecg_http_server_start(&conf, f->store, errstr, sizeof(errstr));
        assert_null(srv);
        assert_non_null(strstr(errstr, "bind address"));
        /* IPv6 loopback, where the machine has it. */
        conf.bind_address = "::1";
        srv = tecg_http_server_start(&conf, f->store, errstr, sizeof(errstr));
        if (srv) {
                CURL *c = curl_easy_init();
                char url[64];
                long status = 0;
                tecg_buf_t body = TECG_BUF_INIT;
                snprintf(url, sizeof(url), "http://[::1]:%u/healthz", tecg_http_server_port(srv));
                curl_easy_setopt(c, CURLOPT_URL, url);
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
                curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
                assert_int_equal(curl_easy_perform(c), CURLE_OK);
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
                assert_int_equal(status, 200);
                tecg_buf_free(&body);
                curl_easy_cleanup(c);
                tecg_http_server_destroy(srv);
        }
}

/* ------------------------------------------------------------------ */
/* BI export                                                           */

static const char export_doc[] =
        "{\"dashboard\":\"funding\",\"version\":3,"
        "\"generated_at\":\"2005-03-01T10:00:00Z\","
        "\"as_of\":\"2005-02-28T17:00:00Z\",\"reporting_currency\":\"EUR\","
        "\"total\":{\"nations_reported\":2,\"pledged\":{\"by_currency\":"
        "{\"EUR\":\"1652000.00\"},\"converted\":\"1652000.00\"}},"
        "\"nations\":["
        "{\"nation\":\"BEL\",\"name\":\"Belgium, Kingdom of\","
        "\"reported\":true,\"pledged\":{\"by_currency\":"
        "{\"EUR\":\"652000.00\"},\"converted\":\"652000.00\"},"
        "\"fill_rate\":0.8333},"
        "{\"nation\":\"FRA\",\"name\":\"France \\\"la belle\\\"\","
        "\"reported\":false,\"pledged\":{\"by_currency\":"
        "{\"EUR\":\"1000000.00\",\"USD\":\"10.50\"},"
        "\"converted\":\"1008.44\"},\"fill_rate\":null,"
        "\"missing_rates\":[\"UAH\"],\"note\":\"line1\\nline2\","
        "\"years\":[{\"year\":2005,\"trainees\":10},"
        "{\"year\":2006,\"trainees\":20}]}],"
        "\"not_reported\":[\"ISL\"]}";

static const char export_csv[] = "dashboard,version,as_of,table,nations_reported,"
                                 "pledged.by_currency.EUR,pledged.converted,nation,name,reported,"
                                 "fill_rate,pledged.by_currency.USD,missing_rates,note,"
                                 "parent.nation,parent.name,parent.reported,parent.note,year,"
                                 "trainees\r\n"
                                 "funding,3,2005-02-28T17:00:00Z,total,2,1652000.00,1652000.00,"
                                 ",,,,,,,,,,,,\r\n"
                                 "funding,3,2005-02-28T17:00:00Z,nations,,652000.00,652000.00,BEL,"
                                 "\"Belgium, Kingdom of\",true,0.8333,,,,,,,,,\r\n"
                                 "funding,3,2005-02-28T17:00:00Z,nations,,1000000.00,1008.44,FRA,"
                                 "\"France \"\"la belle\"\"\",false,,10.50,\"[\"\"UAH\"\"]\","
                                 "\"line1\nline2\",,,,,,\r\n"
                                 "funding,3,2005-02-28T17:00:00Z,nations.years,,,,,,,,,,,FRA,"
                                 "\"France \"\"la belle\"\"\",false,\"line1\nline2\",2005,10\r\n"
                                 "funding,3,2005-02-28T17:00:00Z,nations.years,,,,,,,,,,,FRA,"
                                 "\"France \"\"la belle\"\"\",false,\"line1\nline2\",2006,20\r\n";

#define ROW                                         \
        "{\"dashboard\":\"funding\",\"version\":3," \
        "\"as_of\":\"2005-02-28T17:00:00Z\","
static const char export_ndjson[] = ROW
        "\"table\":\"total\",\"nations_reported\":2,"
        "\"pledged.by_currency.EUR\":\"1652000.00\","
        "\"pledged.converted\":\"1652000.00\"}\n" ROW "\"table\":\"nations\",\"nation\":\"BEL\","
        "\"name\":\"Belgium, Kingdom of\",\"reported\":true,"
        "\"pledged.by_currency.EUR\":\"652000.00\","
        "\"pledged.converted\":\"652000.00\",\"fill_rate\":0.8333}\n" ROW
        "\"table\":\"nations\",\"nation\":\"FRA\","
        "\"name\":\"France \\\"la belle\\\"\",\"reported\":false,"
        "\"pledged.by_currency.EUR\":\"1000000.00\","
        "\"pledged.by_currency.USD\":\"10.50\","
        "\"pledged.converted\":\"1008.44\",\"fill_rate\":null,"
        "\"missing_rates\":[\"UAH\"],\"note\":\"line1\\nline2\"}\n" ROW
        "\"table\":\"nations.years\",\"parent.nation\":\"FRA\","
        "\"parent.name\":\"France \\\"la belle\\\"\","
        "\"parent.reported\":false,\"parent.note\":\"line1\\nline2\","
        "\"year\":2005,\"trainees\":10}\n" ROW
        "\"table\":\"nations.years\",\"parent.nation\":\"FRA\","
        "\"parent.name\":\"France \\\"la belle\\\"\","
        "\"parent.reported\":false,\"parent.note\":\"line1\\nline2\","
        "\"year\":2006,\"trainees\":20}\n";
#undef ROW

#define LONG_AT "funding,3,2005-02-28T17:00:00Z,"
static const char export_long_csv[] =
        "dashboard,version,as_of,nation,channel,category,stage,measure,value,currency\r\n" LONG_AT
        ",,,,reported,2,\r\n" LONG_AT ",,,,pledged,1652000.00,EUR\r\n" LONG_AT
        ",,,,pledged_converted,1652000.00,EUR\r\n" LONG_AT "BEL,,,,reported,1,\r\n" LONG_AT
        "BEL,,,,pledged,652000.00,EUR\r\n" LONG_AT
        "BEL,,,,pledged_converted,652000.00,EUR\r\n" LONG_AT "FRA,,,,reported,0,\r\n" LONG_AT
        "FRA,,,,pledged,1000000.00,EUR\r\n" LONG_AT "FRA,,,,pledged,10.50,USD\r\n" LONG_AT
        "FRA,,,,pledged_converted,1008.44,EUR\r\n";
#undef LONG_AT

/* NAME.csv and NAME.ndjson are the long form, NAME.wide.* the wide one
 * (export.h has the rows; test_export.c checks them in detail). */
static void test_export(void **state) {
        fixture_t *f = *state;
        resp_t r;

        put(f->store, "funding", 3, export_doc);
        http(f, NULL, "/api/export/funding.csv", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "text/csv; charset=utf-8; header=present");
        assert_header(&r, "Content-Disposition", "attachment; filename=\"funding-v3.csv\"");
        assert_header(&r, "ETag", "\"3\"");
        assert_string_equal(BODY(r), export_long_csv);
        resp_free(&r);

        http(f, NULL, "/api/export/funding.ndjson", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "application/x-ndjson");
        assert_header(&r, "Content-Disposition", "attachment; filename=\"funding-v3.ndjson\"");
        assert_int_equal(tu_count_of(BODY(r), "\n"), 10);
        tu_assert_contains(BODY(r),
                           "{\"dashboard\":\"funding\",\"version\":3,"
                           "\"as_of\":\"2005-02-28T17:00:00Z\",\"nation\":\"FRA\","
                           "\"channel\":null,\"category\":null,\"stage\":null,"
                           "\"measure\":\"pledged\",\"value\":10.50,\"currency\":\"USD\"}\n");
        resp_free(&r);

        /* ?bom=1: the byte order mark, then the same CSV. */
        http(f, NULL, "/api/export/funding.csv?bom=1", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_memory_equal(BODY(r), "\xEF\xBB\xBF", 3);
        assert_string_equal(BODY(r) + 3, export_long_csv);
        resp_free(&r);
        http(f, NULL, "/api/export/funding.csv?bom=0", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(BODY(r), export_long_csv);
        resp_free(&r);
        /* Not for NDJSON, and 0 or 1 only: a 400 says so. */
        static const char *const bad_bom[] = {"/api/export/funding.ndjson?bom=1",
                                              "/api/export/funding.csv?bom=yes",
                                              "/api/export/funding.wide.csv?bom="};
        for (size_t i = 0; i < sizeof(bad_bom) / sizeof(bad_bom[0]); i++) {
                http(f, NULL, bad_bom[i], NULL, &r);
                if (r.status != 400)
                        fail_msg("%s: %ld, expected 400", bad_bom[i], r.status);
                assert_header(&r, "Content-Type", "application/json");
                tu_assert_contains(BODY(r), "\"bad_parameter\"");
                resp_free(&r);
        }

        /* The wide form, as before the long form. */
        http(f, NULL, "/api/export/funding.wide.csv", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "text/csv; charset=utf-8; header=present");
        assert_header(&r, "Content-Disposition", "attachment; filename=\"funding-v3.wide.csv\"");
        assert_header(&r, "ETag", "\"3\"");
        assert_string_equal(BODY(r), export_csv);
        resp_free(&r);

        http(f, NULL, "/api/export/funding.wide.ndjson", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "application/x-ndjson");
        assert_header(&r, "Content-Disposition", "attachment; filename=\"funding-v3.wide.ndjson\"");
        assert_string_equal(BODY(r), export_ndjson);
        resp_free(&r);

        http(f, NULL, "/api/export/funding.wide.csv?bom=1", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_memory_equal(BODY(r), "\xEF\xBB\xBF", 3);
        assert_string_equal(BODY(r) + 3, export_csv);
        resp_free(&r);

        http(f, NULL, "/api/export/funding.csv", "If-None-Match: \"3\"", &r);
        assert_int_equal(r.status, 304);
        resp_free(&r);
        http(f, NULL, "/api/export/funding.wide.csv", "If-None-Match: \"3\"", &r);
        assert_int_equal(r.status, 304);
        resp_free(&r);

        /* A document without a long form: 404 naming the wide one, which
         * serves it. */
        put(f->store, "other", 1, "{\"rows\":[{\"n\":1}]}");
        http(f, NULL, "/api/export/other.csv", NULL, &r);
        assert_int_equal(r.status, 404);
        tu_assert_contains(BODY(r), "other.wide.csv");
        resp_free(&r);
        http(f, NULL, "/api/export/other.wide.csv", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(BODY(r), "dashboard,version,as_of,table,n\r\nother,1,,rows,1\r\n");
        resp_free(&r);
}

/* ------------------------------------------------------------------ */
/* SSE                                                                 */

typedef struct {
        char url[256];
        pthread_t thread;
        pthread_mutex_t lock;
        tecg_buf_t data;
        atomic_int abort;
        atomic_int done;
        CURLcode rc;
        long status;
} sse_client_t;

static size_t sse_collect(char *p, size_t size, size_t n, void *ud) {
        sse_client_t *c = ud;
        pthread_mutex_lock(&c->lock);
        tecg_buf_append(&c->data, p, size * n);
        pthread_mutex_unlock(&c->lock);
        return atomic_load(&c->abort) ? 0 : size * n;
}

static int sse_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c_, curl_off_t d) {
        sse_client_t *c = ud;
        (void)a, (void)b, (void)c_, (void)d;
        return atomic_load(&c->abort);
}

static void *sse_run(void *arg) {
        sse_client_t *c = arg;
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, c->url);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sse_collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, sse_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L); /* the guard */
        c->rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
        curl_easy_cleanup(h);
        atomic_store(&c->done, 1);
        return NULL;
}

static sse_client_t *sse_open(fixture_t *f, const char *path) {
        sse_client_t *c = calloc(1, sizeof(*c));
        assert_non_null(c);
        snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%u%s", f->port, path);
        pthread_mutex_init(&c->lock, NULL);
        assert_int_equal(pthread_create(&c->thread, NULL, sse_run, c), 0);
        return c;
}

/* Waits up to timeout_ms for `needle` in what the stream sent. */
static int sse_wait_for(sse_client_t *c, const char *needle, int timeout_ms) {
        int64_t deadline = tu_now_ms() + timeout_ms;
        do {
                int found;
                pthread_mutex_lock(&c->lock);
                found = c->data.len && tecg_buf_terminate(&c->data) == TECG_OK &&
                        strstr((char *)c->data.data, needle) != NULL;
                pthread_mutex_unlock(&c->lock);
                if (found)
                        return 1;
                tu_sleep_ms(10);
        } while (tu_now_ms() < deadline);
        return 0;
}

static int sse_count(sse_client_t *c, const char *needle) {
        int n = 0;
        pthread_mutex_lock(&c->lock);
        tecg_buf_terminate(&c->data);
        if (c->data.data)
                n = tu_count_of((char *)c->data.data, needle);
        pthread_mutex_unlock(&c->lock);
        return n;
}

static void sse_close(sse_client_t *c) {
        atomic_store(&c->abort, 1);
        pthread_join(c->thread, NULL);
        pthread_mutex_destroy(&c->lock);
        tecg_buf_free(&c->data);
        free(c);
}

static void test_sse(void **state) {
        fixture_t *f = *state;
        sse_client_t *c = sse_open(f, "/api/stream");

        /* The current documents first, in name order; the training
         * document's newline became a space so data is one line. */
        if (!sse_wait_for(c, "event: training\n", 5000))
                fail_msg("no initial training event: %s", (char *)c->data.data);
        assert_true(sse_wait_for(c,
                                 "event: funding\nid: funding:3\ndata: "
                                 "{\"dashboard\":\"funding\",\"version\":3,\"total\":{}}\n\n"
                                 "event: training\nid: training:1\ndata: "
                                 "{\"dashboard\":\"training\",  \"version\":1}\n\n",
                                 100));

        /* A put becomes an event with the new version; nothing else. */
        put(f->store, "funding", 4, "{\"dashboard\":\"funding\",\"version\":4}");
        assert_true(sse_wait_for(c,
                                 "event: funding\nid: funding:4\ndata: "
                                 "{\"dashboard\":\"funding\",\"version\":4}\n\n",
                                 5000));
        put(f->store, "funding", 5, "{\"version\":5}");
        put(f->store, "staffing", 1, "{\"version\":1}");
        assert_true(sse_wait_for(c, "id: staffing:1\n", 5000));
        assert_true(sse_wait_for(c, "id: funding:5\n", 5000));
        assert_int_equal(sse_count(c, "id: training:"), 1);
        assert_int_equal(sse_count(c, "\nid: "), 5);
        assert_false(atomic_load(&c->done));
        sse_close(c);
}

static void test_sse_headers_and_filter(void **state) {
        fixture_t *f = *state;
        sse_client_t *c = sse_open(f, "/api/stream?dashboards=training,x");
        resp_t r;

        assert_true(sse_wait_for(c, "id: training:1\n", 5000));
        put(f->store, "funding", 4, "{\"version\":4}");
        put(f->store, "training", 2, "{\"version\":2}");
        assert_true(sse_wait_for(c, "id: training:2\n", 5000));
        assert_int_equal(sse_count(c, "funding"), 0);

        http(f, NULL, "/metrics", NULL, &r);
        tu_assert_contains(BODY(r), "tecg_http_sse_clients 1\n", "tecg_http_sse_events_total 2\n",
                           "tecg_http_requests_total{route=\"stream\",code=\"2xx\"} 1\n");
        resp_free(&r);
        sse_close(c);

        /* The response headers, with HEAD (no stream is opened). */
        http(f, "HEAD", "/api/stream", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "text/event-stream; charset=utf-8");
        resp_free(&r);
}

/* With a client on a 100 ms keep-alive; a client that hangs up is noticed
 * well before the next keep-alive would fail. */
static void test_sse_keepalive_and_hangup(void **state) {
        fixture_t *f = fixture_start(100, 0);
        sse_client_t *c = sse_open(f, "/api/stream");
        int64_t deadline;
        resp_t r;
        int closed = 0;
        (void)state;

        assert_true(sse_wait_for(c, "id: training:1\n", 5000));
        assert_true(sse_wait_for(c, "\n\n: keep-alive\n\n: keep-alive\n\n", 3000));
        sse_close(c);
        deadline = tu_now_ms() + 3000;
        while (!closed && tu_now_ms() < deadline) {
                http(f, NULL, "/metrics", NULL, &r);
                closed = strstr(BODY(r), "tecg_http_sse_clients 0\n") != NULL;
                resp_free(&r);
                if (!closed)
                        tu_sleep_ms(50);
        }
        assert_true(closed);
        teardown((void **)&f);
}

static void test_sse_limit(void **state) {
        fixture_t *f = fixture_start(0, 1);
        sse_client_t *c = sse_open(f, "/api/stream");
        resp_t r;
        (void)state;

        assert_true(sse_wait_for(c, "id: training:1\n", 5000));
        http(f, NULL, "/api/stream", NULL, &r);
        assert_int_equal(r.status, 503);
        assert_non_null(strstr(BODY(r), "\"busy\""));
        resp_free(&r);
        sse_close(c);
        teardown((void **)&f);
}

static void test_stop_with_stream_open(void **state) {
        fixture_t *f = fixture_start(0, 0);
        sse_client_t *c[2];
        int64_t t0, took;
        (void)state;

        c[0] = sse_open(f, "/api/stream");
        c[1] = sse_open(f, "/api/stream?dashboards=funding");
        assert_true(sse_wait_for(c[0], "id: training:1\n", 5000));
        assert_true(sse_wait_for(c[1], "id: funding:3\n", 5000));
        t0 = tu_now_ms();
        tecg_http_server_stop(f->srv);
        took = tu_now_ms() - t0;
        if (took > 1000)
                fail_msg("stop took %lld ms", (long long)took);
        /* The clients see their streams end, without waiting for their
         * own timeouts. */
        for (int i = 0; i < 2; i++) {
                int64_t deadline = tu_now_ms() + 2000;
                while (!atomic_load(&c[i]->done) && tu_now_ms() < deadline)
                        tu_sleep_ms(10);
                assert_true(atomic_load(&c[i]->done));
                sse_close(c[i]);
        }
        teardown((void **)&f);
}

/* ------------------------------------------------------------------ */
/* The operator page                                                   */

static void test_page(void **state) {
        fixture_t *f = *state;
        resp_t r;
        const char *b;

        http(f, NULL, "/", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "text/html; charset=utf-8");
        assert_header(&r, "Content-Security-Policy", tecg_page_csp());
        b = BODY(r);
        assert_true(strncasecmp(b, "<!doctype html>", 15) == 0);
        assert_non_null(strstr(b, "new EventSource("));
        assert_non_null(strstr(b, "/api/stream"));
        /* Self-contained: nothing to fetch from anywhere. */
        assert_null(strstr(b, "http:"));
        assert_null(strstr(b, "https:"));
        assert_null(strstr(b, "<link"));
        assert_null(strstr(b, " src="));
        assert_null(strstr(b, "@import"));
        resp_free(&r);
        http(f, NULL, "/index.html", NULL, &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
}

/* ------------------------------------------------------------------ */
/* Security: request checks, tokens, sessions, headers                 */

static void test_path_ok(void **state) {
        (void)state;
        static const struct {
                const char *target;
                bool ok;
        } cases[] = {
                {"/", true},
                {"/api/dashboards/funding", true},
                {"/api/dashboards/funding?x=%00", true}, /* the query is not the path */
                {"/api/export/funding.csv", true},
                {"/a%20b", true},
                {"/%FF", true},
                {"/api/dashboards/funding%00.json", false},
                {"/api/dashboards/a%0Ab", false},
                {"/a%0db", false},
                {"/a%7Fb", false},
                {"/a%1fb", false},
                {"/a\tb", false},
                {"/a%", false},
                {"/a%4", false},
                {"/a%zz", false},
                {"/api/../metrics", false},
                {"/api/%2e%2e/metrics", false},
                {"/api/./stream", false},
                {"/..", false},
                {"/api/x..y", true},
                {"api", false},
                {"", false},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (tecg_http_server_path_ok(cases[i].target) != cases[i].ok)
                        fail_msg("%s: want %d", cases[i].target, cases[i].ok);
        assert_false(tecg_http_server_path_ok(NULL));
}

static void test_host_allowed(void **state) {
        (void)state;
        const char *const defaults[] = {"localhost", "127.0.0.1", "[::1]"};
        const char *const listed[] = {"dash.example.org", "10.0.0.5:8443"};
        const char *const any[] = {"*"};
        static const struct {
                const char *host;
                bool def, lst;
        } cases[] = {
                {"localhost", true, false},
                {"LOCALHOST:8080", true, false},
                {"localhost:8081", false, false},
                {"127.0.0.1:8080", true, false},
                {"[::1]:8080", true, false},
                {"[::1]", true, false},
                {"[::1]:x", false, false},
                {"::1", false, false},
                {"evil.example", false, false},
                {"evil.example:8080", false, false},
                {"localhost.evil.example", false, false},
                {"dash.example.org", false, true},
                {"dash.example.org:8080", false, true},
                {"dash.example.org:9999", false, false},
                {"10.0.0.5:8443", false, true},
                {"10.0.0.5", false, false},
                {"localhost:", false, false},
                {"localhost:99999", false, false},
                {"", false, false},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                if (tecg_http_server_host_allowed(defaults, 3, 8080, cases[i].host) !=
                            cases[i].def ||
                    tecg_http_server_host_allowed(listed, 2, 8080, cases[i].host) != cases[i].lst)
                        fail_msg("%s: want default=%d listed=%d", cases[i].host, cases[i].def,
                                 cases[i].lst);
        }
        assert_false(tecg_http_server_host_allowed(defaults, 3, 8080, NULL));
        assert_true(tecg_http_server_host_allowed(any, 1, 8080, "anything:1"));
        assert_true(tecg_http_server_is_loopback("127.0.0.2"));
        assert_true(tecg_http_server_is_loopback("::1"));
        assert_false(tecg_http_server_is_loopback("0.0.0.0"));
        assert_false(tecg_http_server_is_loopback("10.0.0.1"));
}

typedef struct {
        fixture_t f;
        tecg_tokens_t *tokens;
        char ops[TECG_TOKEN_TEXT_SIZE], bi[TECG_TOKEN_TEXT_SIZE], dotted[TECG_TOKEN_TEXT_SIZE];
} auth_fixture_t;

static int setup_auth(void **state) {
        auth_fixture_t *a = calloc(1, sizeof(*a));
        const char *ops_routes[] = {"/", "/api/dashboards/", "/api/stream"};
        const char *dotted_routes[] = {"/api/dashboards/"};
        const char *bi_routes[] = {"/api/export/"};
        char l1[512], l2[512], l3[512], text[1700], errstr[256];
        tecg_http_server_conf_t conf;

        assert_non_null(a);
        assert_int_equal(tecg_tokens_make("ops", ops_routes, 3, a->ops, l1, sizeof(l1), errstr,
                                          sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(
                tecg_tokens_make("bi", bi_routes, 1, a->bi, l2, sizeof(l2), errstr, sizeof(errstr)),
                TECG_OK);
        assert_int_equal(tecg_tokens_make("ops.bob", dotted_routes, 1, a->dotted, l3, sizeof(l3),
                                          errstr, sizeof(errstr)),
                         TECG_OK);
        snprintf(text, sizeof(text), "%s\n%s\n%s\n", l1, l2, l3);
        a->tokens = tecg_tokens_parse(text, strlen(text), "test", errstr, sizeof(errstr));
        assert_non_null(a->tokens);
        a->f.store = tecg_docstore_new();
        atomic_init(&a->f.healthy, 1);
        put(a->f.store, "funding", 3, "{\"dashboard\":\"funding\",\"version\":3,\"total\":{}}");
        tecg_http_server_conf_init(&conf);
        conf.tokens = a->tokens;
        conf.nation_cb = on_nation;
        conf.health_cb = on_health;
        conf.health_opaque = &a->f;
        a->f.srv = tecg_http_server_start(&conf, a->f.store, errstr, sizeof(errstr));
        if (!a->f.srv)
                fail_msg("start: %s", errstr);
        a->f.port = tecg_http_server_port(a->f.srv);
        *state = a;
        return 0;
}

static int teardown_auth(void **state) {
        auth_fixture_t *a = *state;
        tecg_http_server_destroy(a->f.srv);
        tecg_docstore_destroy(a->f.store);
        tecg_tokens_destroy(a->tokens);
        free(a);
        return 0;
}

/* GET path with these header lines; the status. */
static long status_of(fixture_t *f, const char *path, const char *headers) {
        resp_t r;
        long st;
        http(f, NULL, path, headers, &r);
        st = r.status;
        resp_free(&r);
        return st;
}

static void test_auth(void **state) {
        auth_fixture_t *a = *state;
        fixture_t *f = &a->f;
        char ops[128], bi[128], cookie[512], hdr[600];
        const char *sc;
        resp_t r;

        snprintf(ops, sizeof(ops), "Authorization: Bearer %s", a->ops);
        snprintf(bi, sizeof(bi), "Authorization: Bearer %s", a->bi);

        /* Without credentials: only /healthz; 401 says Bearer. */
        assert_int_equal(status_of(f, "/healthz", NULL), 200);
        http(f, NULL, "/api/dashboards/funding", NULL, &r);
        assert_int_equal(r.status, 401);
        assert_header(&r, "WWW-Authenticate", "Bearer realm=\"tecg\"");
        assert_header(&r, "Content-Type", "application/json");
        resp_free(&r);
        /* The page's 401 is the sign-in form, with its own policy. */
        http(f, NULL, "/", NULL, &r);
        assert_int_equal(r.status, 401);
        assert_header(&r, "Content-Type", "text/html; charset=utf-8");
        assert_header(&r, "Content-Security-Policy", tecg_page_login_csp());
        assert_non_null(strstr(BODY(r), "action='/login'"));
        assert_null(strstr(BODY(r), "funding"));
        resp_free(&r);
        for (const char *const *p =
                     (const char *const[]){"/api/dashboards", "/api/stream",
                                           "/api/export/funding.csv", "/metrics", "/nope", NULL};
             *p; p++)
                if (status_of(f, *p, NULL) != 401)
                        fail_msg("%s without a token: not 401", *p);

        /* A wrong token, a wrong scheme. */
        http(f, NULL, "/api/dashboards/funding", "Authorization: Bearer 00", &r);
        assert_int_equal(r.status, 401);
        assert_header(&r, "WWW-Authenticate", "Bearer realm=\"tecg\", error=\"invalid_token\"");
        resp_free(&r);
        snprintf(hdr, sizeof(hdr), "Authorization: Basic %s", a->ops);
        assert_int_equal(status_of(f, "/api/dashboards/funding", hdr), 401);

        /* Each token its routes: 200 there, 403 elsewhere. */
        assert_int_equal(status_of(f, "/api/dashboards/funding", ops), 200);
        assert_int_equal(status_of(f, "/api/dashboards", ops), 200);
        assert_int_equal(status_of(f, "/", ops), 200);
        assert_int_equal(status_of(f, "/metrics", ops), 403);
        assert_int_equal(status_of(f, "/api/export/funding.csv", ops), 403);
        assert_int_equal(status_of(f, "/api/export/funding.csv", bi), 200);
        assert_int_equal(status_of(f, "/api/dashboards/funding", bi), 403);
        assert_int_equal(status_of(f, "/", bi), 403);
        assert_int_equal(status_of(f, "/healthz", bi), 200);

        /* A session: POST /login with the token, then the cookie alone. */
        http(f, "POST", "/login", ops, &r);
        assert_int_equal(r.status, 204);
        sc = header(&r, "Set-Cookie");
        assert_non_null(sc);
        assert_non_null(strstr(sc, "; HttpOnly"));
        assert_non_null(strstr(sc, "; SameSite=Strict"));
        assert_null(strstr(sc, "Secure")); /* not over plain HTTP */
        assert_null(strstr(sc, a->ops));   /* the cookie is not the token */
        snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(sc, ";"), sc);
        resp_free(&r);
        snprintf(hdr, sizeof(hdr), "Cookie: %s", cookie);
        assert_int_equal(status_of(f, "/api/dashboards/funding", hdr), 200);
        assert_int_equal(status_of(f, "/metrics", hdr), 403); /* the token's routes */
        hdr[strlen(hdr) - 1] ^= 1;                            /* one bit of the MAC */
        assert_int_equal(status_of(f, "/api/dashboards/funding", hdr), 401);
        /* Another name under the same MAC. */
        snprintf(hdr, sizeof(hdr), "Cookie: tecg_session=bi%s", strchr(cookie, '.'));
        assert_int_equal(status_of(f, "/api/export/funding.csv", hdr), 401);
        /* A name with dots has sessions too. */
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", a->dotted);
        http(f, "POST", "/login", hdr, &r);
        assert_int_equal(r.status, 204);
        sc = header(&r, "Set-Cookie");
        assert_non_null(sc);
        assert_int_equal(strncmp(sc, "tecg_session=ops.bob.", 21), 0);
        snprintf(hdr, sizeof(hdr), "Cookie: %.*s", (int)strcspn(sc, ";"), sc);
        resp_free(&r);
        assert_int_equal(status_of(f, "/api/dashboards/funding", hdr), 200);
        assert_int_equal(status_of(f, "/", hdr), 403);
        /* The form: 303 back to the page; a wrong token 401. */
        snprintf(hdr, sizeof(hdr), "token=%s", a->ops);
        {
                CURL *c = curl_easy_init();
                char url[128];
                long st = 0;
                tecg_buf_t sink = TECG_BUF_INIT;
                snprintf(url, sizeof(url), "http://127.0.0.1:%u/login", f->port);
                curl_easy_setopt(c, CURLOPT_URL, url);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, hdr);
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
                assert_int_equal(curl_easy_perform(c), CURLE_OK);
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
                assert_int_equal(st, 303);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "token=nope");
                assert_int_equal(curl_easy_perform(c), CURLE_OK);
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
                assert_int_equal(st, 401);
                tecg_buf_free(&sink);
                curl_easy_cleanup(c);
        }
}

/* GET /api/nation/XXX: the callback's view (200, JSON), 404 for a nation
 * it does not list, 400 for a malformed code; /nation/XXX is the page.
 * Grants: the dashboards API's for the view, the page's for the page. */
static void test_nation(void **state) {
        auth_fixture_t *a = *state;
        fixture_t *f = &a->f;
        char ops[128], bi[128], dotted[128];
        resp_t r;

        snprintf(ops, sizeof(ops), "Authorization: Bearer %s", a->ops);
        snprintf(bi, sizeof(bi), "Authorization: Bearer %s", a->bi);
        snprintf(dotted, sizeof(dotted), "Authorization: Bearer %s", a->dotted);
        http(f, NULL, "/api/nation/FRA", ops, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Type", "application/json");
        assert_string_equal(BODY(r), "{\"nation\":\"FRA\",\"events\":3}");
        resp_free(&r);
        http(f, NULL, "/api/nation/DEU", ops, &r);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(BODY(r), "not in the nations list"));
        resp_free(&r);
        for (const char *const *p =
                     (const char *const[]){"/api/nation/fra", "/api/nation/FR", "/api/nation/FRAN",
                                           "/api/nation/F1A", "/api/nation/", NULL};
             *p; p++)
                if (status_of(f, *p, ops) != 400)
                        fail_msg("%s: not 400", *p);
        /* The dashboards API's grant without the page's: the view, not
         * the page; neither for the BI token. */
        assert_int_equal(status_of(f, "/api/nation/FRA", dotted), 200);
        assert_int_equal(status_of(f, "/nation/FRA", dotted), 403);
        assert_int_equal(status_of(f, "/api/nation/FRA", bi), 403);
        assert_int_equal(status_of(f, "/nation/FRA", bi), 403);
        assert_int_equal(status_of(f, "/api/nation/FRA", NULL), 401);
        http(f, NULL, "/nation/FRA", ops, &r);
        assert_int_equal(r.status, 200);
        assert_header(&r, "Content-Security-Policy", tecg_page_csp());
        assert_int_equal(r.body.len, tecg_page_html_len);
        resp_free(&r);
}

static void test_request_checks(void **state) {
        auth_fixture_t *a = *state;
        fixture_t *f = &a->f;
        char ops[128], hdr[300];
        resp_t r;

        snprintf(ops, sizeof(ops), "Authorization: Bearer %s", a->ops);
        /* An encoded NUL once cut the path: funding%00.json served funding. */
        assert_int_equal(status_of(f, "/api/dashboards/funding%00.json", ops), 400);
        assert_int_equal(status_of(f, "/api/dashboards/fund%0Aing", ops), 400);
        assert_int_equal(status_of(f, "/healthz%00", NULL), 400);
        /* Host: the localhost forms with this port; others 421. */
        snprintf(hdr, sizeof(hdr), "%s\nHost: evil.example", ops);
        assert_int_equal(status_of(f, "/api/dashboards/funding", hdr), 421);
        snprintf(hdr, sizeof(hdr), "%s\nHost: localhost:%u", ops, f->port);
        assert_int_equal(status_of(f, "/api/dashboards/funding", hdr), 200);
        snprintf(hdr, sizeof(hdr), "%s\nHost: localhost:%u", ops, f->port + 1);
        assert_int_equal(status_of(f, "/api/dashboards/funding", hdr), 421);
        assert_int_equal(status_of(f, "/healthz", "Host: rebound.example"), 421);

        /* The headers every answer carries; the page's policy by hash. */
        http(f, NULL, "/api/dashboards/funding", ops, &r);
        assert_header(&r, "X-Content-Type-Options", "nosniff");
        assert_header(&r, "Referrer-Policy", "no-referrer");
        assert_header(&r, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
        assert_null(header(&r, "Strict-Transport-Security")); /* plain HTTP */
        resp_free(&r);
        http(f, NULL, "/", ops, &r);
        assert_header(&r, "Content-Security-Policy", tecg_page_csp());
        assert_non_null(strstr(header(&r, "Content-Security-Policy"), "frame-ancestors 'none'"));
        assert_null(strstr(header(&r, "Content-Security-Policy"), "script-src 'unsafe-inline'"));
        resp_free(&r);
}

/* A connection that never completes its request is closed at the
 * deadline, however it trickles; a normal request meanwhile is served. */
static void test_request_deadline(void **state) {
        (void)state;
        tecg_docstore_t *store = tecg_docstore_new();
        tecg_http_server_conf_t conf;
        tecg_http_server_t *srv;
        fixture_t f = {0};
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd;
        char buf[64];
        const char *head = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
        size_t sent = 0;
        int64_t t0, closed_at = 0;

        tecg_http_server_conf_init(&conf);
        conf.request_timeout_ms = 600;
        srv = tecg_http_server_start(&conf, store, NULL, 0);
        assert_non_null(srv);
        f.port = tecg_http_server_port(srv);
        sa.sin_port = htons(f.port);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        t0 = tu_now_ms();
        /* One byte every 100 ms: never idle long enough for an idle timeout. */
        while (tu_now_ms() - t0 < 5000) {
                char c = head[sent] ? head[sent++] : 'x';
                ssize_t rv;
                if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
                        closed_at = tu_now_ms();
                        break;
                }
                rv = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (rv == 0 || (rv < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                        closed_at = tu_now_ms();
                        break;
                }
                assert_int_equal(status_of(&f, "/healthz", NULL), 200);
                tu_sleep_ms(100);
        }
        close(fd);
        if (!closed_at)
                fail_msg("a trickling connection was still open after 5 s");
        assert_true(closed_at - t0 >= 500);
        assert_true(closed_at - t0 < 2500);
        tecg_http_server_destroy(srv);
        tecg_docstore_destroy(store);
}

/* ------------------------------------------------------------------ */
/* --serve DIR [PORT]                                                  */

static volatile sig_atomic_t serve_stop;

static void on_signal(int sig) {
        (void)sig;
        serve_stop = 1;
}

static void serve_scan(tecg_docstore_t *store, const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;
        if (!d)
                return;
        while ((e = readdir(d))) {
                char path[4096], name[TECG_DOCSTORE_NAME_MAX + 1], errstr[256];
                size_t nl = strlen(e->d_name);
                json_t *doc;
                char *text;
                json_int_t version;
                if (nl < 6 || nl - 5 > TECG_DOCSTORE_NAME_MAX ||
                    strcmp(e->d_name + nl - 5, ".json") != 0)
                        continue;
                memcpy(name, e->d_name, nl - 5);
                name[nl - 5] = '\0';
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                if (!(doc = json_load_file(path, 0, NULL)))
                        continue; /* being written: next time */
                version = json_integer_value(json_object_get(doc, "version"));
                text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
                if (text && tecg_docstore_put(store, name, (uint64_t)version, text, strlen(text),
                                              errstr, sizeof(errstr)))
                        fprintf(stderr, "%s: %s\n", path, errstr);
                free(text);
                json_decref(doc);
        }
        closedir(d);
}

/* --serve: a nation's view is DIR/nation/XXX.json, when there is one. */
static int serve_nation(const char *code, tecg_buf_t *out, void *opaque) {
        char path[4096];
        json_t *v;
        char *text;
        int status = 404;
        snprintf(path, sizeof(path), "%s/nation/%s.json", (const char *)opaque, code);
        if (!(v = json_load_file(path, 0, NULL)))
                return 404;
        if ((text = json_dumps(v, JSON_COMPACT)) && tecg_buf_puts(out, text) == 0)
                status = 200;
        free(text);
        json_decref(v);
        return status;
}

static int serve(const char *dir, const char *port, const char *tokens_file) {
        tecg_docstore_t *store = tecg_docstore_new();
        tecg_http_server_conf_t conf;
        tecg_http_server_t *srv;
        tecg_tokens_t *tokens = NULL;
        char errstr[256];

        tecg_log_init("serve-sample", TECG_LOG_INFO);
        if (tokens_file && !(tokens = tecg_tokens_load(tokens_file, errstr, sizeof(errstr)))) {
                fprintf(stderr, "%s\n", errstr);
                tecg_docstore_destroy(store);
                return 1;
        }
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        serve_scan(store, dir);
        tecg_http_server_conf_init(&conf);
        conf.port = (uint16_t)(port ? atoi(port) : 0);
        conf.tokens = tokens;
        conf.nation_cb = serve_nation;
        conf.nation_opaque = (void *)dir;
        if (!(srv = tecg_http_server_start(&conf, store, errstr, sizeof(errstr)))) {
                fprintf(stderr, "%s\n", errstr);
                tecg_docstore_destroy(store);
                tecg_tokens_destroy(tokens);
                return 1;
        }
        printf("port %u\n", tecg_http_server_port(srv));
        fflush(stdout);
        while (!serve_stop) {
                tu_sleep_ms(300);
                serve_scan(store, dir);
        }
        tecg_http_server_destroy(srv);
        tecg_docstore_destroy(store);
        tecg_tokens_destroy(tokens);
        return 0;
}

int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_list, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dashboard, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_found_and_method, setup, teardown),
                cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
                cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
                cmocka_unit_test(test_healthz_default),
                cmocka_unit_test_setup_teardown(test_bind_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sse, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sse_headers_and_filter, setup, teardown),
                cmocka_unit_test(test_sse_keepalive_and_hangup),
                cmocka_unit_test(test_sse_limit),
                cmocka_unit_test(test_stop_with_stream_open),
                cmocka_unit_test_setup_teardown(test_page, setup, teardown),
                cmocka_unit_test(test_path_ok),
                cmocka_unit_test(test_host_allowed),
                cmocka_unit_test_setup_teardown(test_auth, setup_auth, teardown_auth),
                cmocka_unit_test_setup_teardown(test_request_checks, setup_auth, teardown_auth),
                cmocka_unit_test_setup_teardown(test_nation, setup_auth, teardown_auth),
                cmocka_unit_test(test_request_deadline),
        };
        int rc;

        if (argc >= 3 && strcmp(argv[1], "--serve") == 0)
                return serve(argv[2], argc >= 4 ? argv[3] : NULL, argc >= 5 ? argv[4] : NULL);
        tecg_log_init("test_http_server",
                      getenv("TECG_TEST_DEBUG") ? TECG_LOG_DEBUG : TECG_LOG_ERR);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return rc;
}
