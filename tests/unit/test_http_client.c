/* HTTP client (common/http_client.c) against tests/tools/http_sink_server.py,
 * started per test on an ephemeral port, and against raw sockets for the
 * failure cases (a listener that never answers, a closed port).
 *
 * No test asserts how long something took beyond generous deadlines: the
 * assertions are about what happened (status, error text, connection ids). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "http_client.h"

/* ---- test receiver and sockets (the same helpers live in test_sink.c) ---- */

typedef struct {
        pid_t pid;
        int port;
        char dir[64];  /* --out directory */
        char base[96]; /* http://127.0.0.1:PORT (https:// with --tls-cert) */
        char url[100]; /* base + "/" */
        const char *ca_file; /* for a TLS server: its certificate */
} test_server_t;

typedef struct {
        test_server_t srv;
        int hole_fd; /* listening socket nobody accepts on, or -1 */
        char tmpdir[64];
} fixture_t;

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *server_script(void) {
        static char path[4096];
        const char *src = getenv("TECG_SOURCE_DIR");
        snprintf(path, sizeof(path), "%s/tests/tools/http_sink_server.py",
                 src ? src : TECG_SOURCE_DIR);
        return path;
}

/* Starts the receiver with `extra` arguments (NULL-terminated, may be NULL)
 * and reads the port it prints on its first stdout line. */
static void server_start(test_server_t *srv, const char *const *extra) {
        const char *argv[32];
        int n = 0, fds[2];
        char line[32];
        size_t got = 0;

        snprintf(srv->dir, sizeof(srv->dir), "/tmp/tecg-http-test-XXXXXX");
        assert_non_null(mkdtemp(srv->dir));
        argv[n++] = "python3";
        argv[n++] = server_script();
        argv[n++] = "--port";
        argv[n++] = "0";
        argv[n++] = "--out";
        argv[n++] = srv->dir;
        for (size_t i = 0; extra && extra[i] && n < 30; i++)
                argv[n++] = extra[i];
        argv[n] = NULL;

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        srv->pid = fork();
        assert_true(srv->pid >= 0);
        if (srv->pid == 0) {
                dup2(fds[1], STDOUT_FILENO);
                execvp("python3", (char *const *)argv);
                _exit(127);
        }
        close(fds[1]);
        int64_t deadline = now_ms() + 20000;
        while (got < sizeof(line) - 1 && (got == 0 || line[got - 1] != '\n')) {
                struct pollfd p = {.fd = fds[0], .events = POLLIN};
                int left = (int)(deadline - now_ms());
                if (left <= 0 || poll(&p, 1, left) <= 0)
                        break;
                ssize_t r = read(fds[0], line + got, sizeof(line) - 1 - got);
                if (r <= 0)
                        break;
                got += (size_t)r;
        }
        close(fds[0]);
        line[got] = '\0';
        srv->port = atoi(line);
        assert_true(srv->port > 0);
        int tls = 0;
        for (size_t i = 0; extra && extra[i]; i++)
                if (strcmp(extra[i], "--tls-cert") == 0 && extra[i + 1]) {
                        tls = 1;
                        srv->ca_file = extra[i + 1];
                }
        snprintf(srv->base, sizeof(srv->base), "%s://127.0.0.1:%d",
                 tls ? "https" : "http", srv->port);
        snprintf(srv->url, sizeof(srv->url), "%s/", srv->base);
}

static int rm_cb(const char *path, const struct stat *sb, int flag,
                 struct FTW *ftw) {
        (void)sb, (void)flag, (void)ftw;
        return remove(path);
}

static void rm_tree(const char *dir) {
        if (dir[0])
                nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void server_stop(test_server_t *srv) {
        if (srv->pid > 0) {
                kill(srv->pid, SIGTERM);
                int64_t deadline = now_ms() + 5000;
                while (waitpid(srv->pid, NULL, WNOHANG) == 0) {
                        if (now_ms() > deadline) {
                                kill(srv->pid, SIGKILL);
                                waitpid(srv->pid, NULL, 0);
                                break;
                        }
                        usleep(10000);
                }
                srv->pid = 0;
        }
        rm_tree(srv->dir);
        srv->dir[0] = '\0';
}

/* A listening socket on 127.0.0.1 that never accepts: the kernel completes
 * the handshake, so a request is sent and then nothing ever comes back. */
static int black_hole(int *port) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(fd, 8), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
        *port = ntohs(a.sin_port);
        return fd;
}

/* A port nothing listens on (bound, then closed). */
static int closed_port(void) {
        int port;
        int fd = black_hole(&port);
        close(fd);
        return port;
}

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        f->hole_fd = -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        server_stop(&f->srv);
        if (f->hole_fd >= 0)
                close(f->hole_fd);
        rm_tree(f->tmpdir);
        free(f);
        return 0;
}

/* GETs PATH from the server and parses the answer as JSON. */
static json_t *server_json(const test_server_t *srv, const char *path) {
        char url[160], err[256];
        tecg_http_options_t o = {.url = srv->url, .ca_file = srv->ca_file};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_non_null(c);
        snprintf(url, sizeof(url), "%s%s", srv->base, path);
        assert_int_equal(tecg_http_get(c, url, NULL, &r), TECG_OK);
        assert_int_equal(r.status, 200);
        json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
        assert_non_null(j);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
        return j;
}

static json_int_t server_stat(const test_server_t *srv, const char *key) {
        json_t *j = server_json(srv, "/stats");
        json_int_t v = json_integer_value(json_object_get(j, key));
        json_decref(j);
        return v;
}

static char *slurp(const char *path, size_t *len) {
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        long n = ftell(f);
        rewind(f);
        char *buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        buf[n] = '\0';
        fclose(f);
        *len = (size_t)n;
        return buf;
}

static int has_tls_word(const char *s) {
        return strcasestr(s, "ssl") || strcasestr(s, "tls") ||
               strcasestr(s, "certificate");
}

/* ---- tests ---- */

/* Headers and a large, non-ASCII body arrive byte for byte; the status and
 * body of the answer come back. */
static void test_post_roundtrip(void **state) {
        fixture_t *f = *state;
        char err[256], path[128];
        server_start(&f->srv, NULL);

        tecg_http_options_t o = {.url = f->srv.url};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        assert_non_null(c);

        /* > 1 KiB so curl would use "Expect: 100-continue" if not told. */
        tecg_buf_t body = TECG_BUF_INIT;
        assert_int_equal(tecg_buf_puts(&body, "{\"nation\":\"Fran\xc3\xa7" "a\","
                                       "\"note\":\"\\u00e9 \xe2\x82\xac\",\"pad\":\""),
                         TECG_OK);
        for (int i = 0; i < 20000; i++)
                assert_int_equal(tecg_buf_puts(&body, "x"), TECG_OK);
        assert_int_equal(tecg_buf_puts(&body, "\"}"), TECG_OK);

        const char *const headers[] = {"Content-Type: application/json",
                                       "X-Tecg-Dashboard: funding",
                                       "X-Tecg-Version: 7", NULL};
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_post(c, headers, body.data, body.len, &r),
                         TECG_OK);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.errstr, "");
        assert_int_equal(r.body_truncated, 0);

        json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "status")),
                            "accepted");
        assert_string_equal(json_string_value(json_object_get(j, "dashboard")),
                            "funding");
        assert_int_equal(json_integer_value(json_object_get(j, "version")), 7);
        assert_int_equal(json_integer_value(json_object_get(j, "length")),
                         body.len);
        assert_string_equal(
                json_string_value(json_object_get(j, "content_type")),
                "application/json");
        json_decref(j);

        size_t len;
        snprintf(path, sizeof(path), "%s/funding.json", f->srv.dir);
        char *got = slurp(path, &len);
        assert_int_equal(len, body.len);
        assert_memory_equal(got, body.data, len);
        free(got);

        tecg_buf_free(&body);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

/* One client, several requests: one TCP connection (keep-alive). */
static void test_keepalive_reuse(void **state) {
        fixture_t *f = *state;
        char err[256], ver[48];
        server_start(&f->srv, NULL);

        tecg_http_options_t o = {.url = f->srv.url};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        assert_non_null(c);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        for (int v = 1; v <= 4; v++) {
                snprintf(ver, sizeof(ver), "X-Tecg-Version: %d", v);
                const char *const headers[] = {"X-Tecg-Dashboard: staffing",
                                               ver, NULL};
                assert_int_equal(tecg_http_post(c, headers, "{}", 2, &r),
                                 TECG_OK);
                assert_int_equal(r.status, 200);
                assert_int_equal(r.new_connections, v == 1 ? 1 : 0);
        }
        /* A GET on the same server rides the same connection too. */
        assert_int_equal(tecg_http_get(c, NULL, NULL, &r), TECG_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.new_connections, 0);

        json_t *rec = server_json(&f->srv, "/received");
        assert_int_equal(json_array_size(rec), 4);
        json_int_t conn0 = json_integer_value(
                json_object_get(json_array_get(rec, 0), "conn"));
        size_t i;
        json_t *it;
        json_array_foreach(rec, i, it) {
                assert_int_equal(json_integer_value(json_object_get(it, "conn")),
                                 conn0);
                assert_int_equal(
                        json_integer_value(json_object_get(it, "version")),
                        (json_int_t)i + 1);
        }
        json_decref(rec);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

/* Statuses are the caller's business: 401 and 404 are TECG_OK. */
static void test_status_returned_as_is(void **state) {
        fixture_t *f = *state;
        char err[256], url[128];
        const char *const args[] = {"--token", "s3cret", NULL};
        server_start(&f->srv, args);

        tecg_http_options_t o = {.url = f->srv.url};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        assert_non_null(c);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_post(c, NULL, "{}", 2, &r), TECG_OK);
        assert_int_equal(r.status, 401);
        assert_non_null(strstr((const char *)r.body.data, "bearer token"));
        assert_string_equal(r.errstr, "");

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/nope", f->srv.port);
        assert_int_equal(tecg_http_get(c, url, NULL, &r), TECG_OK);
        assert_int_equal(r.status, 404);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

/* The configured token is sent as "Authorization: Bearer ...". */
static void test_bearer_token(void **state) {
        fixture_t *f = *state;
        char err[256];
        const char *const args[] = {"--token", "s3cret", NULL};
        const char *const headers[] = {"X-Tecg-Dashboard: training",
                                       "X-Tecg-Version: 1", NULL};
        server_start(&f->srv, args);

        tecg_http_options_t good = {.url = f->srv.url, .bearer_token = "s3cret"};
        tecg_http_options_t bad = {.url = f->srv.url, .bearer_token = "guess"};
        tecg_http_client_t *c1 = tecg_http_client_new(&good, err, sizeof(err));
        tecg_http_client_t *c2 = tecg_http_client_new(&bad, err, sizeof(err));
        assert_non_null(c1);
        assert_non_null(c2);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_post(c2, headers, "{}", 2, &r), TECG_OK);
        assert_int_equal(r.status, 401);
        assert_int_equal(tecg_http_post(c1, headers, "{}", 2, &r), TECG_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(server_stat(&f->srv, "accepted"), 1);
        assert_int_equal(server_stat(&f->srv, "unauthorized"), 1);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c1);
        tecg_http_client_destroy(c2);
}

/* A server that accepts the connection but never answers: the client gives
 * up after its timeout with curl's "timed out" message. */
static void test_timeout_no_answer(void **state) {
        fixture_t *f = *state;
        char err[256], url[64];
        int port;
        f->hole_fd = black_hole(&port);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);

        tecg_http_options_t o = {.url = url, .timeout_ms = 300};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        assert_non_null(c);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        int64_t t0 = now_ms();
        assert_int_equal(tecg_http_post(c, NULL, "{}", 2, &r), TECG_ERR_IO);
        assert_true(now_ms() - t0 < 15000); /* a deadline, not a measurement */
        assert_int_equal(r.status, 0);
        assert_non_null(strcasestr(r.errstr, "timed out"));
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

static void test_connection_refused(void **state) {
        (void)state;
        char err[256], url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
        tecg_http_options_t o = {.url = url};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        assert_non_null(c);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_post(c, NULL, "{}", 2, &r), TECG_ERR_IO);
        assert_int_equal(r.status, 0);
        assert_true(strlen(r.errstr) > 0);
        assert_non_null(strstr(r.errstr, "curl error 7")); /* COULDNT_CONNECT */
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

/* https:// to a plain HTTP server must fail in TLS, never fall back. */
static void test_tls_to_plain_http_fails(void **state) {
        fixture_t *f = *state;
        char err[256], url[64];
        server_start(&f->srv, NULL);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/", f->srv.port);

        tecg_http_options_t o = {.url = url, .timeout_ms = 5000};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        assert_non_null(c);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_post(c, NULL, "{}", 2, &r), TECG_ERR_IO);
        assert_int_equal(r.status, 0);
        print_message("https to plain http: %s\n", r.errstr);
        assert_true(has_tls_word(r.errstr));
        assert_int_equal(server_stat(&f->srv, "posts"), 0);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

/* Against a real TLS server with a self-signed certificate for IP
 * 127.0.0.1: refused by default, accepted with that certificate as CA file,
 * refused for a host name the certificate does not name, accepted with
 * verification explicitly off. Skipped when openssl(1) is not installed. */
static void test_tls_verification(void **state) {
        fixture_t *f = *state;
        char cmd[1024], cert[128], key[128], err[256], url[64], url_name[64];
        const char *const headers[] = {"X-Tecg-Dashboard: funding",
                                       "X-Tecg-Version: 1", NULL};

        snprintf(f->tmpdir, sizeof(f->tmpdir), "/tmp/tecg-tls-test-XXXXXX");
        assert_non_null(mkdtemp(f->tmpdir));
        snprintf(cert, sizeof(cert), "%s/cert.pem", f->tmpdir);
        snprintf(key, sizeof(key), "%s/key.pem", f->tmpdir);
        snprintf(cmd, sizeof(cmd),
                 "openssl req -x509 -newkey ec -pkeyopt "
                 "ec_paramgen_curve:prime256v1 -nodes -days 2 "
                 "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
                 "-keyout %s -out %s >/dev/null 2>&1", key, cert);
        if (system(cmd) != 0) {
                skip();
                return;
        }
        const char *const args[] = {"--tls-cert", cert, "--tls-key", key,
                                    NULL};
        server_start(&f->srv, args);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/", f->srv.port);
        snprintf(url_name, sizeof(url_name), "https://localhost:%d/",
                 f->srv.port);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;

        tecg_http_options_t dflt = {.url = url};
        tecg_http_client_t *c = tecg_http_client_new(&dflt, err, sizeof(err));
        assert_non_null(c);
        assert_int_equal(tecg_http_post(c, headers, "{}", 2, &r), TECG_ERR_IO);
        print_message("default verification: %s\n", r.errstr);
        assert_non_null(strcasestr(r.errstr, "certificate"));
        tecg_http_client_destroy(c);

        tecg_http_options_t ca = {.url = url, .ca_file = cert};
        c = tecg_http_client_new(&ca, err, sizeof(err));
        assert_non_null(c);
        assert_int_equal(tecg_http_post(c, headers, "{}", 2, &r), TECG_OK);
        assert_int_equal(r.status, 200);
        tecg_http_client_destroy(c);

        tecg_http_options_t wrong_host = {.url = url_name, .ca_file = cert};
        c = tecg_http_client_new(&wrong_host, err, sizeof(err));
        assert_non_null(c);
        assert_int_equal(tecg_http_post(c, headers, "{}", 2, &r), TECG_ERR_IO);
        print_message("wrong host name: %s\n", r.errstr);
        assert_non_null(strcasestr(r.errstr, "host"));
        tecg_http_client_destroy(c);

        tecg_http_options_t off = {.url = url, .tls_no_verify = 1};
        c = tecg_http_client_new(&off, err, sizeof(err));
        assert_non_null(c);
        assert_int_equal(tecg_http_post(c, headers, "{}", 2, &r), TECG_OK);
        assert_int_equal(r.status, 200); /* stale for the server, still 200 */
        tecg_http_client_destroy(c);

        assert_int_equal(server_stat(&f->srv, "posts"), 2);
        tecg_http_response_free(&r);
}

/* The body is capped at max_body; the rest is read and discarded, so the
 * connection stays usable. */
static void test_body_cap(void **state) {
        fixture_t *f = *state;
        char err[256];
        server_start(&f->srv, NULL);
        tecg_http_options_t o = {.url = f->srv.url, .max_body = 16};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        assert_non_null(c);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_get(c, NULL, NULL, &r), TECG_OK); /* HTML */
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body.len, 16);
        assert_int_equal(r.body_truncated, 1);
        assert_int_equal(strlen((const char *)r.body.data), 16);
        const char *const headers[] = {"X-Tecg-Dashboard: funding",
                                       "X-Tecg-Version: 1", NULL};
        assert_int_equal(tecg_http_post(c, headers, "{}", 2, &r), TECG_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.new_connections, 0);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

typedef struct {
        tecg_http_client_t *c;
        int delay_ms;
} canceller_t;

static void *cancel_later(void *arg) {
        canceller_t *k = arg;
        usleep((useconds_t)k->delay_ms * 1000);
        tecg_http_client_cancel(k->c);
        return NULL;
}

/* cancel() from another thread ends a hanging request at once, and later
 * requests fail without touching the network. */
static void test_cancel(void **state) {
        fixture_t *f = *state;
        char err[256], url[64];
        int port;
        f->hole_fd = black_hole(&port);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
        tecg_http_options_t o = {.url = url, .timeout_ms = 60000};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        assert_non_null(c);

        canceller_t k = {c, 200};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, cancel_later, &k), 0);
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        int64_t t0 = now_ms();
        assert_int_equal(tecg_http_post(c, NULL, "{}", 2, &r), TECG_ERR_IO);
        assert_true(now_ms() - t0 < 30000); /* far below the 60 s timeout */
        pthread_join(t, NULL);
        assert_non_null(strstr(r.errstr, "cancelled"));
        assert_int_equal(tecg_http_post(c, NULL, "{}", 2, &r), TECG_ERR_IO);
        assert_non_null(strstr(r.errstr, "cancelled"));
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

typedef struct {
        const char *url;
        int index;
        int ok;
} poster_t;

static void *post_from_thread(void *arg) {
        poster_t *p = arg;
        char err[256], dash[64], ver[48];
        tecg_http_options_t o = {.url = p->url};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        if (!c)
                return NULL;
        snprintf(dash, sizeof(dash), "X-Tecg-Dashboard: thread%d", p->index);
        for (int v = 1; v <= 5; v++) {
                snprintf(ver, sizeof(ver), "X-Tecg-Version: %d", v);
                const char *const headers[] = {dash, ver, NULL};
                if (tecg_http_post(c, headers, "{\"n\":1}", 7, &r) == TECG_OK &&
                    r.status == 200)
                        p->ok++;
        }
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
        return NULL;
}

/* Clients created and used concurrently in several threads (the first of
 * them triggers the one curl_global_init). */
static void test_threads(void **state) {
        fixture_t *f = *state;
        enum { N = 4 };
        pthread_t t[N];
        poster_t p[N];
        server_start(&f->srv, NULL);
        for (int i = 0; i < N; i++) {
                p[i] = (poster_t){f->srv.url, i, 0};
                assert_int_equal(
                        pthread_create(&t[i], NULL, post_from_thread, &p[i]), 0);
        }
        for (int i = 0; i < N; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(p[i].ok, 5);
        }
        assert_int_equal(server_stat(&f->srv, "accepted"), N * 5);
}

static void test_bad_options(void **state) {
        (void)state;
        char err[256];
        const struct {
                tecg_http_options_t o;
                const char *why;
        } cases[] = {
                {{.url = NULL}, "http://"},
                {{.url = "ftp://example.org/"}, "http://"},
                {{.url = "127.0.0.1:80"}, "http://"},
                {{.url = "http://x/", .bearer_token = "a\r\nX-Evil: 1"},
                 "line break"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                err[0] = '\0';
                assert_null(tecg_http_client_new(&cases[i].o, err, sizeof(err)));
                assert_non_null(strstr(err, cases[i].why));
        }
        assert_null(tecg_http_client_new(NULL, err, sizeof(err)));
        tecg_http_client_destroy(NULL);

        /* Header injection through a per-request header is refused too. */
        tecg_http_options_t o = {.url = "http://127.0.0.1:9/"};
        tecg_http_client_t *c = tecg_http_client_new(&o, err, sizeof(err));
        assert_non_null(c);
        const char *const headers[] = {"X-A: 1\r\nX-B: 2", NULL};
        tecg_http_response_t r = TECG_HTTP_RESPONSE_INIT;
        assert_int_equal(tecg_http_post(c, headers, "{}", 2, &r),
                         TECG_ERR_INVALID);
        tecg_http_response_free(&r);
        tecg_http_client_destroy(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                T(test_post_roundtrip),
                T(test_keepalive_reuse),
                T(test_status_returned_as_is),
                T(test_bearer_token),
                T(test_timeout_no_answer),
                T(test_connection_refused),
                T(test_tls_to_plain_http_fails),
                T(test_tls_verification),
                T(test_body_cap),
                T(test_cancel),
                T(test_threads),
                T(test_bad_options),
#undef T
        };
        /* A receiver that vanished must not kill the test with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
