/* The producer's HTTP input (docs/design.md §2.8): national systems POST
 * their events instead of dropping spool files.
 *
 *   POST /v1/events   body: NDJSON (Content-Type application/x-ndjson,
 *                     application/ndjson, application/jsonl or
 *                     application/x-jsonlines), one event per line
 *     200  every line's outcome, sent once Kafka acknowledged every
 *          accepted line:
 *          {"lines":N,"accepted":A,"rejected":R,"results":[
 *            {"line":1,"status":"accepted","event_id":"..."},
 *            {"line":2,"status":"rejected","event_id":"...","reason":"..."}]}
 *     503  + Retry-After: Kafka unreachable before the body was read, or no
 *          acknowledgement within response_timeout_ms, or shutting down.
 *          The client assumes nothing of the body was accepted and posts
 *          it again; lines that did reach Kafka are dropped as duplicates
 *          by the aggregator (event ids).
 *     401/403 (bearer token of the tokens file, route /v1/events), 404,
 *     405, 413 (max_body_bytes), 415 (content type): JSON
 *     {"error": code, "message": ...}
 *
 * A body is read like one spool file (producers/ingest.h): the same
 * validator, reasons, line numbers and counters, but its rejected lines
 * go to the answer and the log, not to rejected/ files.
 *
 * Threads: libmicrohttpd runs a listening thread and one thread per
 * connection. Connection threads only check the request and store its
 * body (in a memory file); everything that touches the ingest (reading,
 * sending, acknowledgements, the answer) runs on the thread that calls
 * tecg_http_input_run(), the producer's main loop. A connection thread
 * waits for its answer on a condition variable.
 *
 * Ownership: the configuration is copied; `tokens` is borrowed and must
 * outlive the input. Stop the input before destroying the ingest, and
 * destroy the ingest before the input (requests still waiting for Kafka
 * are released by the ingest's final report). */
#ifndef TECG_HTTP_INPUT_H
#define TECG_HTTP_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ingest.h"
#include "tokens.h"

#define TECG_HTTP_INPUT_PATH "/v1/events"

typedef struct {
        const char *bind_address;            /* default "127.0.0.1" */
        uint16_t port;                       /* 0: an ephemeral port (_port()) */
        unsigned max_connections;            /* default 64 */
        unsigned max_connections_per_client; /* default 8 */
        int request_timeout_ms;              /* accept (or last answer) to a
                                              * complete request, default 30000 */
        int response_timeout_ms;             /* complete request to Kafka's
                                              * acknowledgements, default 30000;
                                              * then 503 */
        int retry_after_s;                   /* Retry-After of a 503, default 10 */
        size_t max_body_bytes;               /* default 4 MiB; more: 413 */
        const tecg_tokens_t *tokens;         /* NULL: no authentication (loopback
                                              * only) */
        const char *tls_cert_pem;            /* with tls_key_pem: HTTPS */
        const char *tls_key_pem;
} tecg_http_input_conf_t;

/* Counters for the metrics file. */
typedef struct {
        uint64_t requests[600]; /* by status code */
        uint64_t lines_accepted, lines_rejected;
} tecg_http_input_stats_t;

typedef struct tecg_http_input tecg_http_input_t;

/* Fills *conf with the defaults above. */
void tecg_http_input_conf_init(tecg_http_input_conf_t *conf);

/* Binds and starts serving. NULL with errstr when the address does not
 * resolve, the port is taken, TLS does not load, or there are no tokens
 * and the address is not loopback. */
tecg_http_input_t *tecg_http_input_start(const tecg_http_input_conf_t *conf, char *errstr,
                                         size_t errstr_size);

/* The port bound; 0 once stopped. */
uint16_t tecg_http_input_port(const tecg_http_input_t *hi);

/* On the ingest's thread, often (every few tens of ms): hands received
 * bodies to `ing`, answers 503 for what waited too long, closes
 * connections that did not deliver a request in time. */
void tecg_http_input_run(tecg_http_input_t *hi, tecg_ingest_t *ing);

/* Requests received and not yet answered. */
size_t tecg_http_input_pending(tecg_http_input_t *hi);

/* Stops accepting connections (SIGTERM); requests already received are
 * still served by tecg_http_input_run(), except those not yet handed to
 * the ingest, which get 503. Idempotent. */
void tecg_http_input_quiesce(tecg_http_input_t *hi);

/* Answers 503 to every request still waiting, closes every connection and
 * joins the server's threads. Idempotent; NULL ok. */
void tecg_http_input_stop(tecg_http_input_t *hi);

/* Stops if needed and frees. NULL ok. */
void tecg_http_input_destroy(tecg_http_input_t *hi);

void tecg_http_input_stats(tecg_http_input_t *hi, tecg_http_input_stats_t *out);

/* Whether `ctype` (a Content-Type value) names NDJSON / JSON lines. */
bool tecg_http_input_ctype_ok(const char *ctype);

#endif
