/* The schema registry client (common/registry.c) against a tiny registry
 * served from this process: a thread answering canned responses by path,
 * one request per connection, and recording what it was asked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "avro_codec.h"
#include "framing.h"
#include "registry.h"
#include "schemas.h"

typedef struct {
        const char *request; /* "METHOD PATH" */
        int status;
        char *body; /* owned */
} route_t;

typedef struct {
        int listen_fd, port;
        pthread_t thread;
        volatile int stop;
        route_t routes[16];
        size_t nroutes;
        /* The last request, for the test to look at. */
        char last_line[256];
        char last_auth[256];
        char last_type[256];
        char *last_body;
} reg_server_t;

static void add_route(reg_server_t *s, const char *request, int status, const char *body) {
        s->routes[s->nroutes++] = (route_t){request, status, strdup(body)};
}

/* The value of header `name` (case as sent by libcurl) in head, or "". */
static void header_value(const char *head, const char *name, char *out, size_t size) {
        const char *h = strstr(head, name);
        out[0] = '\0';
        if (!h)
                return;
        h += strlen(name);
        size_t n = strcspn(h, "\r\n");
        snprintf(out, size, "%.*s", (int)n, h);
}

static void serve_one(reg_server_t *s, int fd) {
        char req[65536];
        size_t got = 0;
        char *end = NULL;
        long clen = 0;
        /* Headers, then Content-Length bytes of body. */
        while (got < sizeof(req) - 1) {
                ssize_t r = read(fd, req + got, sizeof(req) - 1 - got);
                if (r <= 0)
                        return;
                got += (size_t)r;
                req[got] = '\0';
                if (!end && (end = strstr(req, "\r\n\r\n"))) {
                        const char *cl = strstr(req, "Content-Length: ");
                        clen = cl && cl < end ? atol(cl + 16) : 0;
                }
                if (end && got >= (size_t)(end + 4 - req) + (size_t)clen)
                        break;
        }
        if (!end)
                return;
        *end = '\0';
        snprintf(s->last_line, sizeof(s->last_line), "%.*s", (int)strcspn(req, "\r\n"), req);
        header_value(req, "Authorization: ", s->last_auth, sizeof(s->last_auth));
        header_value(req, "Content-Type: ", s->last_type, sizeof(s->last_type));
        free(s->last_body);
        s->last_body = strndup(end + 4, (size_t)clen);

        int status = 404;
        const char *body = "{\"error_code\":40401,\"message\":\"not found\"}";
        for (size_t i = 0; i < s->nroutes; i++) {
                size_t n = strlen(s->routes[i].request);
                if (strncmp(s->last_line, s->routes[i].request, n) == 0 && s->last_line[n] == ' ') {
                        status = s->routes[i].status;
                        body = s->routes[i].body;
                }
        }
        char head[256];
        int hn = snprintf(head, sizeof(head),
                          "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          status, strlen(body));
        if (write(fd, head, (size_t)hn) != hn || write(fd, body, strlen(body)) < 0)
                return;
}

static void *serve(void *arg) {
        reg_server_t *s = arg;
        while (!s->stop) {
                struct pollfd p = {s->listen_fd, POLLIN, 0};
                if (poll(&p, 1, 50) <= 0)
                        continue;
                int fd = accept(s->listen_fd, NULL, NULL);
                if (fd < 0)
                        continue;
                serve_one(s, fd);
                close(fd);
        }
        return NULL;
}

static reg_server_t *server_start(void) {
        reg_server_t *s = calloc(1, sizeof(*s));
        struct sockaddr_in a = {.sin_family = AF_INET};
        socklen_t alen = sizeof(a);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_non_null(s);
        s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(s->listen_fd >= 0);
        assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(s->listen_fd, 8), 0);
        assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&a, &alen), 0);
        s->port = ntohs(a.sin_port);
        return s;
}

static void server_run(reg_server_t *s) {
        assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(reg_server_t *s) {
        s->stop = 1;
        pthread_join(s->thread, NULL);
        close(s->listen_fd);
        for (size_t i = 0; i < s->nroutes; i++)
                free(s->routes[i].body);
        free(s->last_body);
        free(s);
}

static const tecg_schema_source_t *source(const char *name) {
        for (size_t i = 0; i < tecg_schema_source_count; i++)
                if (strcmp(tecg_schema_sources[i].name, name) == 0)
                        return &tecg_schema_sources[i];
        fail_msg("schema %s is not built in", name);
        return NULL;
}

/* {"schema": "<text>"} as a registry answers GET /schemas/ids/N. */
static char *schema_answer(const char *text, size_t len) {
        json_t *j = json_pack("{s:s%}", "schema", text, len);
        char *s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return s;
}

/* One record per subject: the topic's own record under TOPIC-value, the
 * retraction under TOPIC-org.tecg.Retraction (docs/design.md §3.2). */
static void test_subject(void **state) {
        (void)state;
        char out[64];
        assert_int_equal(tecg_registry_subject(out, sizeof(out), "tecg.contributions", NULL), 0);
        assert_string_equal(out, "tecg.contributions-value");
        assert_int_equal(tecg_registry_subject(out, sizeof(out), "tecg.training-completions",
                                               "org.tecg.Retraction"),
                         0);
        assert_string_equal(out, "tecg.training-completions-org.tecg.Retraction");
        /* Too small: nothing half-written. */
        char small[10];
        assert_int_equal(tecg_registry_subject(small, sizeof(small), "tecg.contributions", NULL),
                         -1);
        assert_string_equal(small, "");
}

static void test_register(void **state) {
        (void)state;
        reg_server_t *s = server_start();
        char url[64], err[256] = "";
        uint32_t id = 0;
        add_route(s, "POST /subjects/tecg.contributions-value/versions", 200, "{\"id\":7}");
        add_route(s, "POST /subjects/zero-value/versions", 200, "{\"id\":0}");
        add_route(s, "POST /subjects/down-value/versions", 503, "busy");
        server_run(s);
        /* Trailing slashes of the base URL are dropped. */
        snprintf(url, sizeof(url), "http://127.0.0.1:%d//", s->port);
        tecg_registry_t *reg = tecg_registry_new(url, "s3cret", err, sizeof(err));
        assert_non_null(reg);

        assert_int_equal(tecg_registry_register(reg, "tecg.contributions-value",
                                                "{\"type\":\"string\"}", &id, err, sizeof(err)),
                         TECG_OK);
        assert_int_equal(id, 7);
        assert_string_equal(s->last_line,
                            "POST /subjects/tecg.contributions-value/versions HTTP/1.1");
        assert_string_equal(s->last_auth, "Bearer s3cret");
        assert_string_equal(s->last_type, "application/vnd.schemaregistry.v1+json");
        /* The schema goes as a JSON string inside {"schema": ...}. */
        assert_string_equal(s->last_body, "{\"schema\":\"{\\\"type\\\":\\\"string\\\"}\"}");

        id = 99;
        assert_int_equal(
                tecg_registry_register(reg, "zero-value", "\"int\"", &id, err, sizeof(err)),
                TECG_ERR_IO);
        assert_string_equal(err, "schema registry: zero-value: no valid \"id\" in the answer");
        assert_int_equal(id, 99);
        assert_int_equal(
                tecg_registry_register(reg, "down-value", "\"int\"", &id, err, sizeof(err)),
                TECG_ERR_IO);
        assert_string_equal(err, "schema registry: down-value: HTTP 503: busy");
        tecg_registry_destroy(reg);
        server_stop(s);
}

static void test_teach(void **state) {
        (void)state;
        const tecg_schema_source_t *src = source("contribution");
        reg_server_t *s = server_start();
        char url[64], err[256] = "";
        char *answer = schema_answer(src->json, src->len);
        add_route(s, "GET /schemas/ids/7", 200, answer);
        add_route(s, "GET /schemas/ids/9", 500, "oops");
        add_route(s, "GET /schemas/ids/10", 200, "not json");
        add_route(s, "GET /schemas/ids/11", 200, "{\"subject\":\"x\"}");
        add_route(s, "GET /schemas/ids/12", 200, "{\"schema\":\"{\\\"type\\\":\\\"nope\\\"}\"}");
        free(answer);
        server_run(s);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
        tecg_registry_t *reg = tecg_registry_new(url, NULL, err, sizeof(err));
        tecg_avro_t *avro = tecg_avro_new(err, sizeof(err));
        assert_non_null(reg);
        assert_non_null(avro);

        /* A Confluent message with id 7: unknown until the registry taught it. */
        tecg_event_t ev, back;
        memset(&ev, 0, sizeof(ev));
        ev.type = TECG_EV_FUNDING;
        strcpy(ev.event_id, "NLD-2005-0001");
        strcpy(ev.nation, "NLD");
        ev.occurred_at_ms = 1109062800000;
        ev.u.funding = (tecg_funding_t){65200000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED};
        tecg_buf_t msg = TECG_BUF_INIT;
        assert_int_equal(tecg_framing_write_confluent(&msg, 7), TECG_OK);
        assert_int_equal(tecg_avro_encode_body(avro, &ev, &msg, NULL, err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_avro_decode_event(avro, msg.data, msg.len, &back, err, sizeof(err)),
                         TECG_ERR_NOT_FOUND);

        assert_int_equal(tecg_registry_teach(reg, avro, 7, err, sizeof(err)), TECG_OK);
        assert_string_equal(s->last_line, "GET /schemas/ids/7 HTTP/1.1");
        assert_string_equal(s->last_auth, "");
        assert_int_equal(tecg_avro_decode_event(avro, msg.data, msg.len, &back, err, sizeof(err)),
                         TECG_OK);
        assert_string_equal(back.event_id, "NLD-2005-0001");
        assert_int_equal(back.u.funding.amount_minor, 65200000);

        /* 4xx: unknown for good; 5xx and garbage: ask again later. */
        assert_int_equal(tecg_registry_teach(reg, avro, 8, err, sizeof(err)), TECG_ERR_NOT_FOUND);
        assert_non_null(strstr(err, "schema registry: schema id 8: HTTP 404"));
        assert_int_equal(tecg_registry_teach(reg, avro, 9, err, sizeof(err)), TECG_ERR_IO);
        assert_string_equal(err, "schema registry: schema id 9: HTTP 500: oops");
        assert_int_equal(tecg_registry_teach(reg, avro, 10, err, sizeof(err)), TECG_ERR_IO);
        assert_non_null(strstr(err, "schema registry: schema id 10: answer is not JSON"));
        assert_int_equal(tecg_registry_teach(reg, avro, 11, err, sizeof(err)), TECG_ERR_IO);
        assert_string_equal(err, "schema registry: schema id 11: no \"schema\" in the answer");
        /* A schema Avro-C refuses is not learnt. */
        assert_int_not_equal(tecg_registry_teach(reg, avro, 12, err, sizeof(err)), TECG_OK);
        assert_true(err[0] != '\0');

        tecg_buf_free(&msg);
        tecg_avro_destroy(avro);
        tecg_registry_destroy(reg);
        server_stop(s);
}

/* The registry's own verdict on a proposed schema (tecg-ctl schema check):
 * Confluent's answer shapes, Apicurio's (no messages; compatible for a
 * subject without versions), and what is not an answer. */
static void test_compatible(void **state) {
        (void)state;
        reg_server_t *s = server_start();
        char url[64], err[256] = "", why[64];
        bool ok = false;
#define P "POST /apis/ccompat/v7/compatibility/subjects/"
#define Q "/versions/latest?verbose=true"
        add_route(s, P "yes-value" Q, 200, "{\"is_compatible\":true}");
        add_route(s, P "no-value" Q, 200,
                  "{\"is_compatible\":false,\"messages\":[\"field x\",\"field y\"]}");
        add_route(s, P "gone-value" Q, 404, "{\"error_code\":40403}");
        add_route(s, P "odd-value" Q, 200, "{\"compatible\":true}");
        add_route(s, P "down-value" Q, 503, "busy");
        server_run(s);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/apis/ccompat/v7", s->port);
        tecg_registry_t *reg = tecg_registry_new(url, NULL, err, sizeof(err));
        assert_non_null(reg);

        assert_int_equal(tecg_registry_compatible(reg, "yes-value", "\"int\"", &ok, why,
                                                  sizeof(why), err, sizeof(err)),
                         TECG_OK);
        assert_true(ok);
        assert_string_equal(why, "");
        assert_string_equal(s->last_line, P "yes-value" Q " HTTP/1.1");
        assert_string_equal(s->last_body, "{\"schema\":\"\\\"int\\\"\"}");

        assert_int_equal(tecg_registry_compatible(reg, "no-value", "\"int\"", &ok, why, sizeof(why),
                                                  err, sizeof(err)),
                         TECG_OK);
        assert_false(ok);
        assert_string_equal(why, "field x; field y");
        /* Reasons longer than why: cut, not overrun. */
        char tiny[8];
        assert_int_equal(tecg_registry_compatible(reg, "no-value", "\"int\"", &ok, tiny,
                                                  sizeof(tiny), err, sizeof(err)),
                         TECG_OK);
        assert_string_equal(tiny, "field x");

        /* Confluent's "no such subject": nothing to be incompatible with. */
        ok = false;
        assert_int_equal(tecg_registry_compatible(reg, "new-value", "\"int\"", &ok, why,
                                                  sizeof(why), err, sizeof(err)),
                         TECG_OK);
        assert_true(ok);
        assert_string_equal(why, "no version registered yet");

        assert_int_equal(tecg_registry_compatible(reg, "gone-value", "\"int\"", &ok, why,
                                                  sizeof(why), err, sizeof(err)),
                         TECG_ERR_IO);
        assert_non_null(strstr(err, "gone-value: HTTP 404"));
        assert_int_equal(tecg_registry_compatible(reg, "odd-value", "\"int\"", &ok, why,
                                                  sizeof(why), err, sizeof(err)),
                         TECG_ERR_IO);
        assert_string_equal(err, "schema registry: odd-value: no \"is_compatible\" in the answer");
        assert_int_equal(tecg_registry_compatible(reg, "down-value", "\"int\"", &ok, why,
                                                  sizeof(why), err, sizeof(err)),
                         TECG_ERR_IO);
        assert_string_equal(err, "schema registry: down-value: HTTP 503: busy");
#undef P
#undef Q
        tecg_registry_destroy(reg);
        server_stop(s);
}

/* Nobody listening: an I/O error naming the URL, not a hang. */
static void test_unreachable(void **state) {
        (void)state;
        reg_server_t *s = server_start();
        char url[64], err[256] = "";
        uint32_t id = 0;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
        server_stop(s); /* never served: the port is closed now */
        tecg_registry_t *reg = tecg_registry_new(url, NULL, err, sizeof(err));
        assert_non_null(reg);
        assert_int_equal(tecg_registry_register(reg, "x", "\"int\"", &id, err, sizeof(err)),
                         TECG_ERR_IO);
        assert_non_null(strstr(err, "/subjects/x/versions"));
        tecg_avro_t *avro = tecg_avro_new(err, sizeof(err));
        assert_int_equal(tecg_registry_teach(reg, avro, 3, err, sizeof(err)), TECG_ERR_IO);
        assert_non_null(strstr(err, "/schemas/ids/3"));
        tecg_avro_destroy(avro);
        tecg_registry_destroy(reg);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_subject),     cmocka_unit_test(test_register),
                cmocka_unit_test(test_teach),       cmocka_unit_test(test_compatible),
                cmocka_unit_test(test_unreachable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
