/* The monitoring listener of tecg-producer and tecg-aggregator
 * (metrics.http.port): a small HTTP server for Prometheus and for health
 * checks, on libmicrohttpd like the dashboard's server.
 *
 *   GET /metrics   Prometheus text format 0.0.4: the figures of
 *                  metrics.file, grouped (tecg_metrics_group()); with a
 *                  tokens file, a bearer token granted /metrics (401
 *                  with WWW-Authenticate: Bearer, 403 when not granted)
 *   GET /healthz   JSON, 200 when the daemon is live and ready, 503 with
 *                  a "reason" otherwise; never needs a token, as on the
 *                  dashboard (a load balancer or systemd check has none)
 *   anything else  404; methods other than GET and HEAD 405
 *
 * Why a listener of its own and not a route of the producer's event
 * input: the event input faces the national systems, monitoring faces
 * the operators' Prometheus. Two ports are two firewall rules an operator
 * can write without reading tokens files, and a monitoring listener on
 * every daemon works the same whether the producer takes events over
 * HTTP or not.
 *
 * Threads: the daemon's state is not thread-safe, so the server never
 * calls into it. The daemon's main loop publishes a snapshot (metrics text
 * and health answer) with tecg_monitor_publish(); the server's thread
 * answers from the latest one. A snapshot older than stale_ms means the
 * main loop is stuck: /healthz then answers 503 whatever it said.
 *
 * Ownership: the configuration is copied except `tokens`, which is
 * borrowed and must outlive the monitor. */
#ifndef TECG_MONITOR_H
#define TECG_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "tokens.h"

/* The token route that grants GET /metrics. */
#define TECG_MONITOR_METRICS_PATH "/metrics"

typedef struct {
        const char *bind_address;    /* default "127.0.0.1" */
        uint16_t port;               /* 0: an ephemeral port (_port()) */
        const tecg_tokens_t *tokens; /* NULL: /metrics open, loopback only */
        int stale_ms;                /* default 30000 */
} tecg_monitor_conf_t;

typedef struct tecg_monitor tecg_monitor_t;

/* Fills *conf with the defaults above. */
void tecg_monitor_conf_init(tecg_monitor_conf_t *conf);

/* Binds and starts serving. Until the first publish /metrics is empty and
 * /healthz answers 503 "starting". NULL with errstr when the address does
 * not resolve, the port is taken, or there are no tokens and the address
 * is not loopback. */
tecg_monitor_t *tecg_monitor_start(const tecg_monitor_conf_t *conf, char *errstr,
                                   size_t errstr_size);

/* The port bound (the chosen one when conf.port was 0); 0 for NULL. */
uint16_t tecg_monitor_port(const tecg_monitor_t *m);

/* Replaces the snapshot: `metrics` (exposition text, grouped here),
 * `ready` and `health_json` (one JSON object; NULL: {"status":"ok"} or
 * {"status":"unavailable"}). Copies what it is given. TECG_ERR_NOMEM
 * leaves the previous snapshot, its age growing. */
tecg_err_t tecg_monitor_publish(tecg_monitor_t *m, const tecg_buf_t *metrics, bool ready,
                                const char *health_json);

/* Stops serving, joins the server thread, frees. NULL ok. */
void tecg_monitor_destroy(tecg_monitor_t *m);

/* The /healthz answer for a snapshot `age_ms` old (< 0: none yet): the
 * status (200 or 503) and the body in *out. Apart from the server so a
 * unit test can check the rules without a socket. */
unsigned tecg_monitor_health_answer(bool ready, const char *health_json, int64_t age_ms,
                                    int stale_ms, tecg_buf_t *out);

#endif
