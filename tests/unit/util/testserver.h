/* A test receiver and dead sockets for the HTTP client and the push sink
 * tests: tests/tools/http_sink_server.py run per test on an ephemeral port
 * (asked through common/http_client for what it received), a listening
 * socket that never answers, and a closed port. Part of tecg_testutil; the
 * same rules as testutil.h apply. */
#ifndef TECG_TESTSERVER_H
#define TECG_TESTSERVER_H

#include <sys/types.h>

#include <jansson.h>

typedef struct {
        pid_t pid;
        int port;
        char dir[64];        /* --out directory */
        char base[96];       /* http://127.0.0.1:PORT (https:// with --tls-cert) */
        char url[100];       /* base + "/" */
        const char *ca_file; /* for a TLS server: its certificate */
} tu_server_t;

/* The network side of a test fixture: a receiver and a black hole, each
 * set up by the test that needs it and released by tu_net_release(). */
typedef struct {
        tu_server_t srv;
        int hole_fd; /* from tu_black_hole(), or -1 */
} tu_net_t;

/* Nothing started yet. */
void tu_net_init(tu_net_t *net);

/* Stops the receiver and closes the black hole, whichever were set up. */
void tu_net_release(tu_net_t *net);

/* Starts the receiver with `extra` arguments (NULL-terminated, may be NULL)
 * and reads the port it prints on its first stdout line. */
void tu_server_start(tu_server_t *srv, const char *const *extra);

/* Stops the receiver (if started) and removes its --out directory. */
void tu_server_stop(tu_server_t *srv);

/* GETs PATH from the receiver and parses the answer as JSON. */
json_t *tu_server_json(const tu_server_t *srv, const char *path);

/* The number `key` of the receiver's /stats. */
json_int_t tu_server_stat(const tu_server_t *srv, const char *key);

/* A listening socket on 127.0.0.1 that never accepts (the caller closes
 * it): the kernel completes the handshake, so a request is sent and then
 * nothing ever comes back. Its URL "http://127.0.0.1:PORT/" goes to url. */
int tu_black_hole(char *url, size_t size);

/* A port nothing listens on (bound, then closed), returned, and its URL
 * "http://127.0.0.1:PORT/" in url. */
int tu_closed_port(char *url, size_t size);

#endif
