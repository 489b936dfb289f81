/* The one HTTP server of tecg (docs/architecture.md, "One of each"): what tecg-dashboard serves to
 * operators and BI tools (docs/design.md §5), on libmicrohttpd.
 *
 *   GET /                           the operator page (page.h), live by SSE
 *   GET /api/dashboards             [{"name","version","url","updated_at"}]
 *   GET /api/dashboards/NAME        the document; ETag "VERSION", honours
 *                                   If-None-Match (304); 404 JSON if unknown
 *   GET /api/stream[?dashboards=a,b]  text/event-stream of the documents
 *   GET /api/export/NAME.csv        BI export (export.h); ETag "VERSION"
 *   GET /api/export/NAME.ndjson
 *   GET /metrics                    Prometheus text format 0.0.4
 *   GET /healthz                    200 or 503, JSON, from the health callback
 *   GET /.well-known/tecg-signing-key  the documents' public key (JSON);
 *                                   404 when documents are not signed
 *
 * A signed document (docs/design.md §9.2) is served with its
 * Tecg-Signature header, and its SSE event has a "tecg-signature:" line.
 *   anything else                   404 JSON; methods other than GET/HEAD 405
 *
 * Threads: libmicrohttpd runs one listening thread and one thread per
 * connection (MHD_USE_THREAD_PER_CONNECTION), so an SSE stream is a
 * connection thread blocked in its content reader on the docstore's change
 * notification. The callbacks below are therefore called from several
 * threads at once and must be thread-safe.
 *
 * Ownership: the server borrows the docstore (it must outlive the server)
 * and copies the configuration (bind_address included). */
#ifndef TECG_HTTP_SERVER_H
#define TECG_HTTP_SERVER_H

#include <stdint.h>

#include "buf.h"
#include "docstore.h"
#include "err.h"

/* Appends Prometheus text exposition lines (with their # HELP/# TYPE) to
 * `out`; called on every GET /metrics, after the server's own metrics. */
typedef void(tecg_http_metrics_cb_t)(tecg_buf_t *out, void *opaque);

/* Writes one JSON object to json_out, e.g. {"status":"ok","kafka":"up"} or
 * {"status":"unavailable","reason":"no nation state for 90 s"}, and returns
 * the answer's status: 0 or 200 when healthy, an HTTP status (e.g. 503)
 * otherwise; any other value means 503. A callback that writes nothing
 * gets a default body ({"status":"ok"} or one with a generic reason). */
typedef int(tecg_http_health_cb_t)(tecg_buf_t *json_out, void *opaque);

typedef struct {
        const char *bind_address;           /* numeric IPv4/IPv6 or a host name;
                                             * default "127.0.0.1" */
        uint16_t port;                      /* 0: an ephemeral port (see _port()) */
        unsigned max_connections;           /* concurrent connections, default 64 */
        unsigned max_sse_clients;           /* concurrent streams, default 32; more
                                             * get 503 */
        int sse_keepalive_ms;               /* ": keep-alive" comment period,
                                             * default 15000 */
        int connection_timeout_s;           /* idle keep-alive connections, default
                                             * 60 */
        tecg_http_metrics_cb_t *metrics_cb; /* optional */
        void *metrics_opaque;
        tecg_http_health_cb_t *health_cb; /* optional: always healthy */
        void *health_opaque;
        /* The body of /.well-known/tecg-signing-key (docsign.h); NULL:
         * 404. Borrowed: must outlive the server. */
        const char *signing_key_json;
} tecg_http_server_conf_t;

typedef struct tecg_http_server tecg_http_server_t;

/* Fills *conf with the defaults above (zero callbacks). */
void tecg_http_server_conf_init(tecg_http_server_conf_t *conf);

/* Binds and starts serving `store` with `conf`. NULL with errstr when the
 * address does not resolve, the port is taken, or libmicrohttpd fails.
 * conf is copied; store is borrowed and must outlive the server. */
tecg_http_server_t *tecg_http_server_start(const tecg_http_server_conf_t *conf,
                                           tecg_docstore_t *store, char *errstr,
                                           size_t errstr_size);

/* The port actually bound (the chosen one when conf.port was 0); 0 once
 * stopped. */
uint16_t tecg_http_server_port(const tecg_http_server_t *srv);

/* Stops listening, ends every SSE stream (within about a second, usually at
 * once) and joins all server threads. Idempotent; NULL ok. */
void tecg_http_server_stop(tecg_http_server_t *srv);

/* Stops the server if needed and frees it. NULL ok. */
void tecg_http_server_destroy(tecg_http_server_t *srv);

#endif
