/* The one HTTP server of tecg (docs/architecture.md, "One of each"): what tecg-dashboard serves to
 * operators and BI tools (docs/design.md §5), on libmicrohttpd.
 *
 *   GET /                           the operator page (page.h), live by SSE
 *   GET /api/dashboards             [{"name","version","url","updated_at"}]
 *   GET /api/dashboards/NAME        the document; ETag "VERSION", honours
 *                                   If-None-Match (304); 404 JSON if unknown
 *   GET /api/stream[?dashboards=a,b]  text/event-stream of the documents
 *   GET /api/export/NAME.csv        BI export in long form (export.h);
 *   GET /api/export/NAME.ndjson     ETag "VERSION"; ?bom=1 for Excel (CSV)
 *   GET /api/export/NAME.wide.csv   the wide form (one row per element)
 *   GET /api/export/NAME.wide.ndjson
 *   GET /api/nation/XXX             one listed nation's view (nation_view.h)
 *                                   from nation_cb; 400 for a malformed
 *                                   code, 404 for a nation not listed
 *   GET /nation/XXX                 the operator page, showing that nation
 *   GET /metrics                    Prometheus text format 0.0.4
 *   GET /healthz                    200 or 503, JSON, from the health callback
 *   GET /.well-known/tecg-signing-key  the documents' public key (JSON);
 *                                   404 when documents are not signed
 *   POST /login                     a token (form field or bearer header) for
 *                                   a session cookie: 303 to / or 204
 *   anything else                   404 JSON; methods other than GET/HEAD 405
 *
 * A signed document (docs/design.md §9.2) is served with its
 * Tecg-Signature header, and its SSE event has a "tecg-signature:" line.
 *
 * Security (docs/design.md §5.6), in this order for every request:
 * a path holding a control character once decoded (%00, %0A, ...) or a
 * dot segment is 400; a Host header not in the allow-list is 421 (400 when
 * missing); every route but /healthz and POST /login needs a client of the
 * tokens file (bearer token, session cookie or client certificate): 401
 * with WWW-Authenticate: Bearer without one (the sign-in page for /), 403
 * when its routes do not include the path. Connections must deliver a
 * complete request within request_timeout_ms of being accepted (or of the
 * previous answer) or are closed, however slowly they trickle bytes.
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

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "docstore.h"
#include "err.h"
#include "tokens.h"

/* Appends Prometheus text exposition lines (with their # HELP/# TYPE) to
 * `out`; called on every GET /metrics, after the server's own metrics. */
typedef void(tecg_http_metrics_cb_t)(tecg_buf_t *out, void *opaque);

/* Writes one JSON object to json_out, e.g. {"status":"ok","kafka":"up"} or
 * {"status":"unavailable","reason":"no nation state for 90 s"}, and returns
 * the answer's status: 0 or 200 when healthy, an HTTP status (e.g. 503)
 * otherwise; any other value means 503. A callback that writes nothing
 * gets a default body ({"status":"ok"} or one with a generic reason). */
typedef int(tecg_http_health_cb_t)(tecg_buf_t *json_out, void *opaque);

/* Writes the JSON view of nation `code` (three capital letters) to
 * json_out and returns 200, or 404 when the nation is not in the list.
 * Called on HTTP threads: must be thread-safe. */
typedef int(tecg_http_nation_cb_t)(const char *code, tecg_buf_t *json_out, void *opaque);

typedef struct {
        const char *bind_address;            /* numeric IPv4/IPv6 or a host name;
                                             * default "127.0.0.1" */
        uint16_t port;                       /* 0: an ephemeral port (see _port()) */
        unsigned max_connections;            /* concurrent connections, default 512 */
        unsigned max_connections_per_client; /* per client address, default 32
                                              * (which also bounds one client's
                                              * streams) */
        unsigned max_sse_clients;            /* concurrent streams, default 128;
                                             * more get 503 */
        int request_timeout_ms;              /* accept (or last answer) to complete
                                             * request, default 10000 */
        const tecg_tokens_t *tokens;         /* borrowed; NULL: no authentication,
                                             * refused unless bind_address is a
                                             * loopback address */
        const char *tls_cert_pem;            /* PEM text; with tls_key_pem: HTTPS */
        const char *tls_key_pem;
        const char *tls_client_ca_pem;      /* optional: ask for client certificates
                                        * signed by this CA; a verified one
                                        * whose CN names a client of the
                                        * tokens file is that client */
        const char *allowed_hosts;          /* comma-separated Host values (name or
                                        * name:port; "*" = any); NULL: the
                                        * bind address and localhost forms */
        int session_ttl_s;                  /* session cookie lifetime, default
                                        * 28800 (8 h) */
        int sse_keepalive_ms;               /* ": keep-alive" comment period,
                                             * default 15000 */
        int connection_timeout_s;           /* idle keep-alive connections, default
                                             * 60 */
        tecg_http_metrics_cb_t *metrics_cb; /* optional */
        void *metrics_opaque;
        tecg_http_health_cb_t *health_cb; /* optional: always healthy */
        void *health_opaque;
        tecg_http_nation_cb_t *nation_cb; /* optional: every nation 404 */
        void *nation_opaque;
        /* The body of /.well-known/tecg-signing-key (docsign.h); NULL:
         * 404. Borrowed: must outlive the server. */
        const char *signing_key_json;
} tecg_http_server_conf_t;

typedef struct tecg_http_server tecg_http_server_t;

/* Whether the TLS key (PEM) belongs to the certificate (PEM), both parse,
 * and the client CA (optional) parses; TECG_OK or errstr. */
tecg_err_t tecg_http_server_tls_check(const char *cert_pem, const char *key_pem,
                                      const char *client_ca_pem, char *errstr, size_t errstr_size);

/* Whether a raw request target (as on the request line, query included)
 * is fit to route: its path decodes without a control byte (NUL, CR, LF,
 * DEL, ...), with valid %XX escapes, and without "." or ".." segments. */
bool tecg_http_server_path_ok(const char *raw_target);

/* Whether the Host header value `host` is one of `hosts` (each a name,
 * "[v6]", or either with ":port"; "*" matches any). A name without a port
 * also matches host:port for this server's `port`; comparison ignores
 * case. NULL host: false. */
bool tecg_http_server_host_allowed(const char *const *hosts, size_t nhosts, uint16_t port,
                                   const char *host);

/* Whether `address` is a loopback address (127.0.0.0/8, ::1, localhost). */
bool tecg_http_server_is_loopback(const char *address);

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
