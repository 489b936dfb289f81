/* tecg-producer's configuration: its struct and its property table, the
 * shared keys of common/daemon.h for the producer's scope plus its own.
 * Kept out of producer_main.c so that the configuration fuzz target
 * (tests/fuzz/fuzz_conf.c) parses with the very table the daemon uses. */
#ifndef TECG_PRODUCER_CONF_H
#define TECG_PRODUCER_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "daemon.h"

typedef struct {
        tecg_daemon_conf_t common;
        char *nation;
        char *spool_dir;
        int64_t scan_interval_ms;
        int64_t retry_interval_ms;
        int64_t shutdown_timeout_ms;
        int64_t line_bytes;
        int64_t json_depth;
        int64_t string_bytes;
        int64_t file_lines;
        bool signing;      /* security.signing */
        char *signing_key; /* security.signing.key: the key file */
        int64_t seal_ms;   /* security.signing.seal.ms */
        char *keyring;     /* security.keyring; NULL = beside nations.file */
        /* The HTTP input (docs/design.md §2.8); off unless http.port is set. */
        char *http_address;
        int64_t http_port;
        char *http_port_file;
        char *http_tls_cert;
        char *http_tls_key;
        char *http_auth;
        char *http_auth_tokens;
        int64_t http_max_connections;
        int64_t http_max_connections_per_client;
        int64_t http_request_timeout_ms;
        int64_t http_response_timeout_ms;
        int64_t http_retry_after_s;
        int64_t http_max_body_bytes;
} tecg_producer_conf_t;

extern const tecg_conf_prop_t tecg_producer_conf_props[];

#endif
