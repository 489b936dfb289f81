/* See testserver.h. */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_client.h"
#include "testserver.h"
#include "testutil.h"

static const char *server_script(void) {
        static char path[4096];
        snprintf(path, sizeof(path), "%s/tests/tools/http_sink_server.py", tu_source_dir());
        return path;
}

/* The port the child prints on its first line, or 0. */
static int read_port(int fd) {
        char line[32];
        size_t got = 0;
        int64_t deadline = tu_now_ms() + 20000;
        while (got < sizeof(line) - 1 && (got == 0 || line[got - 1] != '\n')) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int left = (int)(deadline - tu_now_ms());
                if (left <= 0 || poll(&p, 1, left) <= 0)
                        break;
                ssize_t r = read(fd, line + got, sizeof(line) - 1 - got);
                if (r <= 0)
                        break;
                got += (size_t)r;
        }
        line[got] = '\0';
        return atoi(line);
}

void tu_server_start(tu_server_t *srv, const char *const *extra) {
        const char *argv[32];
        int n = 0, fds[2];

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
        srv->port = read_port(fds[0]);
        close(fds[0]);
        assert_true(srv->port > 0);
        int tls = 0;
        for (size_t i = 0; extra && extra[i]; i++)
                if (strcmp(extra[i], "--tls-cert") == 0 && extra[i + 1]) {
                        tls = 1;
                        srv->ca_file = extra[i + 1];
                }
        snprintf(srv->base, sizeof(srv->base), "%s://127.0.0.1:%d", tls ? "https" : "http",
                 srv->port);
        snprintf(srv->url, sizeof(srv->url), "%s/", srv->base);
}

void tu_server_stop(tu_server_t *srv) {
        if (srv->pid > 0) {
                kill(srv->pid, SIGTERM);
                int64_t deadline = tu_now_ms() + 5000;
                while (waitpid(srv->pid, NULL, WNOHANG) == 0) {
                        if (tu_now_ms() > deadline) {
                                kill(srv->pid, SIGKILL);
                                waitpid(srv->pid, NULL, 0);
                                break;
                        }
                        usleep(10000);
                }
                srv->pid = 0;
        }
        tu_rm_tree(srv->dir);
        srv->dir[0] = '\0';
}

void tu_net_init(tu_net_t *net) {
        memset(net, 0, sizeof(*net));
        net->hole_fd = -1;
}

void tu_net_release(tu_net_t *net) {
        tu_server_stop(&net->srv);
        if (net->hole_fd >= 0)
                close(net->hole_fd);
        net->hole_fd = -1;
}

json_t *tu_server_json(const tu_server_t *srv, const char *path) {
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

json_int_t tu_server_stat(const tu_server_t *srv, const char *key) {
        json_t *j = tu_server_json(srv, "/stats");
        json_int_t v = json_integer_value(json_object_get(j, key));
        json_decref(j);
        return v;
}

static int listen_local(int *port) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(fd, 8), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
        *port = ntohs(a.sin_port);
        return fd;
}

static void local_url(char *url, size_t size, int port) {
        int n = snprintf(url, size, "http://127.0.0.1:%d/", port);
        assert_true(n > 0 && (size_t)n < size);
}

int tu_black_hole(char *url, size_t size) {
        int port;
        int fd = listen_local(&port);
        local_url(url, size, port);
        return fd;
}

int tu_closed_port(char *url, size_t size) {
        int port;
        close(listen_local(&port));
        local_url(url, size, port);
        return port;
}
