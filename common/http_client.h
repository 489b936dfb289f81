/* The one HTTP client of tecg: a thin wrapper over libcurl (docs/architecture.md, "One of each").
 *
 * A client talks to one base URL through one reused curl handle, so
 * consecutive requests ride the same keep-alive connection. curl_global_init
 * runs once per process, whichever thread creates the first client. A client
 * is used by one thread at a time (the dashboard push sink's worker); clients
 * in different threads are independent. Only tecg_http_client_cancel() may be
 * called from another thread.
 *
 * Every request returns {status, body, errstr}: a network failure (refused,
 * timed out, TLS handshake or certificate error, cancelled) is TECG_ERR_IO
 * with curl's own message in errstr; any HTTP answer is TECG_OK with the
 * status as the server sent it: the caller decides what a 404 or a 503 means.
 *
 * TLS certificates and host names are verified unless tls_no_verify is set
 * explicitly, which is logged as a warning when the client is created.
 *
 * Requests run with CURLOPT_NOSIGNAL (safe in threads); as libcurl advises
 * for that mode, daemons should ignore SIGPIPE. */
#ifndef TECG_HTTP_CLIENT_H
#define TECG_HTTP_CLIENT_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Defaults applied to options left at 0. */
#define TECG_HTTP_CONNECT_TIMEOUT_MS 5000
#define TECG_HTTP_TIMEOUT_MS 30000
#define TECG_HTTP_MAX_BODY ((size_t)64 * 1024)

/* Options for tecg_http_client_new(). Zero-initialise and set what you need:
 * every zero field means its default. Strings are copied; the caller keeps
 * ownership of its own. */
typedef struct {
        const char *url;          /* required: http:// or https:// */
        const char *bearer_token; /* optional: "Authorization: Bearer <token>" */
        long connect_timeout_ms;  /* 0 = TECG_HTTP_CONNECT_TIMEOUT_MS */
        long timeout_ms;          /* whole request; 0 = TECG_HTTP_TIMEOUT_MS */
        const char *ca_file;      /* optional PEM bundle instead of the system's */
        int tls_no_verify;        /* 1 = do NOT verify peer and host (logged) */
        const char *user_agent;   /* optional; default "tecg/<version>" */
        size_t max_body;          /* response bytes kept; 0 = TECG_HTTP_MAX_BODY */
} tecg_http_options_t;

/* What one request produced. Initialise with TECG_HTTP_RESPONSE_INIT, reuse it
 * across requests (each request resets it), release with
 * tecg_http_response_free(). */
typedef struct {
        long status;          /* HTTP status, 0 when no answer was received */
        tecg_buf_t body;      /* response body, NUL-terminated, at most max_body */
        int body_truncated;   /* 1 when the server sent more than max_body */
        long retry_after_s;   /* Retry-After in seconds (both forms), 0 = none */
        long new_connections; /* connections opened for this request (0 = reused) */
        char errstr[256];     /* why it failed; empty on TECG_OK */
} tecg_http_response_t;

#define TECG_HTTP_RESPONSE_INIT              \
        {                                    \
                0, TECG_BUF_INIT, 0, 0, 0, { \
                        0                    \
                }                            \
        }

typedef struct tecg_http_client tecg_http_client_t;

/* Creates a client for opts->url (initialising libcurl on first use).
 * NULL with a reason in errstr when the options are unusable
 * (TECG_ERR_CONFIG-like: no or non-HTTP URL, CR/LF in the token) or libcurl
 * could not be set up. The caller owns the client:
 * tecg_http_client_destroy(). */
tecg_http_client_t *tecg_http_client_new(const tecg_http_options_t *opts, char *errstr,
                                         size_t errstr_size);

/* Closes the connection and frees the client. NULL is ok. */
void tecg_http_client_destroy(tecg_http_client_t *client);

/* POSTs len bytes of body to the client's URL with the extra `headers`
 * (NULL-terminated array of "Name: value" strings, may be NULL; borrowed for
 * the call). Blocks up to the client's timeout. TECG_OK when the server
 * answered (any status, see resp->status); TECG_ERR_IO on a network, TLS or
 * timeout error and TECG_ERR_NOMEM, both with resp->errstr filled. */
tecg_err_t tecg_http_post(tecg_http_client_t *client, const char *const *headers, const void *body,
                          size_t len, tecg_http_response_t *resp);

/* GETs `url` (NULL = the client's URL) on the same connection pool, same
 * results as tecg_http_post(). */
tecg_err_t tecg_http_get(tecg_http_client_t *client, const char *url, const char *const *headers,
                         tecg_http_response_t *resp);

/* Thread-safe, for shutdown: aborts the request in progress (if any) at once
 * and makes every later request on this client fail with TECG_ERR_IO
 * "request cancelled". The client must still be destroyed by its owner. */
void tecg_http_client_cancel(tecg_http_client_t *client);

/* The client's URL as logs and errors may show it: without userinfo or
 * secret query values (tecg_redact(), docs/design.md §9.5). Owned by the
 * client. */
const char *tecg_http_client_url(const tecg_http_client_t *client);

/* Frees the response body; the struct can be reused afterwards. */
void tecg_http_response_free(tecg_http_response_t *resp);

#endif
