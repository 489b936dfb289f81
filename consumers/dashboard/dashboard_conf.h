/* tecg-dashboard's configuration: its struct and its property table, the
 * shared keys of common/daemon.h for the dashboard's scope plus its own,
 * with the push sinks as the templated group sink.NAME.*. Kept out of
 * dashboard_main.c so that the configuration fuzz target
 * (tests/fuzz/fuzz_conf.c) parses with the very table the daemon uses. */
#ifndef TECG_DASHBOARD_CONF_H
#define TECG_DASHBOARD_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "daemon.h"

#define TECG_DASHBOARD_SINKS_MAX 32

/* One sink.NAME.* instance. */
typedef struct {
        char *url;
        char *token;
        char *ca_file;
        bool tls_verify;
        int64_t timeout_ms;
        int64_t backoff_max_ms;
} tecg_dashboard_sink_conf_t;

typedef struct {
        tecg_daemon_conf_t common;
        char *http_address;
        int64_t http_port;
        char *http_port_file;
        char *http_tls_cert;
        char *http_tls_key;
        char *http_tls_client_ca;
        char *http_auth;        /* "tokens" or "none" */
        char *http_auth_tokens; /* the tokens file (common/tokens.h) */
        char *http_allowed_hosts;
        int64_t http_max_connections;
        int64_t http_max_connections_per_client;
        int64_t http_max_streams;
        int64_t http_request_timeout_ms;
        int64_t authorized_strength;
        int64_t target_in_iraq;
        int64_t target_outside_iraq;
        int64_t report_overdue_days;
        char *reporting_currency;
        tecg_conf_group_t sinks; /* items' data: tecg_dashboard_sink_conf_t */
        bool publish_topic;
        int64_t compose_interval_ms;
        int64_t shutdown_timeout_ms;
        bool signing;      /* security.signing (docs/design.md §9.2) */
        char *signing_key; /* security.signing.key: a key file (common/sign.h) */
} tecg_dashboard_conf_t;

extern const tecg_conf_prop_t tecg_dashboard_conf_props[];

#endif
