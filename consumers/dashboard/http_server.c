/* What tecg-dashboard serves (docs/design.md §5), on libmicrohttpd. See
 * http_server.h for the routes and the contract.
 *
 * Threading: MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
 * gives one accepting thread and one thread per connection. Ordinary routes
 * answer at once from a docstore snapshot (the document route hands the
 * snapshot's bytes to libmicrohttpd without a copy and drops the reference
 * when the response is freed). An SSE stream is a response whose content
 * reader blocks on tecg_docstore_wait_change() in slices of at most
 * SSE_SLICE_MS, between which it checks the stop flag, whether the client
 * hung up, and whether a keep-alive comment is due. stop() sets the flag,
 * wakes every waiter and then lets MHD_stop_daemon() join the threads.
 *
 * Request deadline: libmicrohttpd's connection timeout counts idle time,
 * so a client sending one byte every few seconds never reaches it. Each
 * connection therefore gets a context (the connection-notify callback)
 * holding when it was accepted, or when its last answer was complete; a
 * watchdog thread shuts down the socket of any connection that has not
 * delivered a complete request within request_timeout_ms of that. The
 * context is unlinked under the lock in the CLOSED notification, which
 * libmicrohttpd sends before it closes the socket, so the watchdog never
 * shuts down a descriptor that was reused. */
#include "http_server.h"

#include <ctype.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "clock.h"
#include "docsign.h"
#include "export.h"
#include "log.h"
#include "metrics.h"
#include "page.h"
#include "timefmt.h"

#define FAC "http"
#define SSE_SLICE_MS 500
#define SSE_BLOCK_SIZE ((size_t)16 * 1024)
#define SSE_FILTER_MAX 16
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
#define WATCHDOG_MS 200
#define LOGIN_BODY_MAX 1024
#define HOSTS_MAX 32
#define PATH_MAX_DECODED 2048
#define SESSION_COOKIE "tecg_session"
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

typedef enum {
        ROUTE_PAGE,
        ROUTE_LIST,
        ROUTE_DASHBOARD,
        ROUTE_STREAM,
        ROUTE_EXPORT,
        ROUTE_METRICS,
        ROUTE_HEALTHZ,
        ROUTE_SIGNING_KEY,
        ROUTE_LOGIN,
        ROUTE_NATION,
        ROUTE_OTHER,
        ROUTE__COUNT
} route_t;

static const char *const route_names[ROUTE__COUNT] = {
        "page",    "list",        "dashboard", "stream", "export", "metrics",
        "healthz", "signing_key", "login",     "nation", "other",
};

/* One connection's request deadline (see the top of this file). */
typedef struct conn_ctx {
        struct conn_ctx *prev, *next;
        int fd;
        int64_t since_ms; /* accepted, or the last answer completed */
        bool busy;        /* a complete request is being answered */
        bool dropped;
} conn_ctx_t;

/* One request (MHD's con_cls), made by the URI callback before anything
 * else sees the request. */
typedef struct {
        bool bad_path;
        bool seen; /* on_request has been called */
        tecg_buf_t body;
        bool body_too_big;
} req_t;

/* Status classes counted: 1xx-5xx (index = status / 100 - 1). */
#define CLASS__COUNT 5

struct tecg_http_server {
        tecg_http_server_conf_t conf;
        char *bind_address;
        tecg_docstore_t *store;
        struct MHD_Daemon *daemon;
        uint16_t port;
        atomic_bool stopping;
        atomic_ulong requests[ROUTE__COUNT][CLASS__COUNT];
        atomic_long sse_clients;
        atomic_ulong sse_events;
        atomic_ulong sse_rejected;
        atomic_ulong slow_dropped;
        atomic_ulong auth_refused;
        char *tls_cert, *tls_key, *tls_ca;
        char *hosts_buf;
        const char *hosts[HOSTS_MAX];
        size_t nhosts;
        char default_hosts[8][80];
        unsigned char session_key[crypto_auth_hmacsha256_KEYBYTES];
        pthread_mutex_t conns_lock;
        conn_ctx_t *conns;
        pthread_t watchdog;
        bool watchdog_running;
        /* One budget per kind of bad request, so that a flood of one
         * does not hide the first lines of another. */
        tecg_log_limit_t path_log, host_log, auth_log, mhd_log;
};

/* One open SSE stream; owned by its MHD response (sse_free). */
typedef struct {
        tecg_http_server_t *srv;
        int fd; /* the client's socket, to notice hang-ups */
        bool started;
        uint64_t seq;          /* store sequence already sent */
        int64_t last_write_ms; /* monotonic */
        tecg_buf_t pending;    /* text not yet handed to MHD */
        size_t off;
        char *filter_buf; /* ?dashboards=a,b split in place */
        const char *filter[SSE_FILTER_MAX];
        size_t nfilter;
} sse_stream_t;

/* ------------------------------------------------------------------ */
/* Responses                                                           */

static void count(tecg_http_server_t *srv, route_t route, unsigned status) {
        unsigned cls = status / 100;
        if (cls >= 1 && cls <= CLASS__COUNT)
                atomic_fetch_add_explicit(&srv->requests[route][cls - 1], 1, memory_order_relaxed);
}

/* A URL fit for a log line: control bytes become '?', at most 200 bytes
 * (a decoded %0A must not split the line). */
static const char *loggable(const char *url, char *out, size_t size) {
        size_t i;
        for (i = 0; url[i] && i + 1 < size; i++) {
                char c = url[i];
                if ((unsigned char)c < 0x20 || c == 0x7f)
                        c = '?';
                out[i] = c;
        }
        out[i] = '\0';
        return out;
}

/* Headers every answer carries: the one place that decorates responses
 * (a header every document answer needs belongs here too). A response
 * without its own policy gets the strictest one: JSON, CSV and metrics
 * are never to run anything or be framed. */
static void add_security_headers(tecg_http_server_t *srv, struct MHD_Response *resp) {
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        if (!MHD_get_response_header(resp, "Content-Security-Policy"))
                MHD_add_response_header(resp, "Content-Security-Policy",
                                        "default-src 'none'; frame-ancestors 'none'");
        if (srv->tls_cert)
                MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

/* Queues resp (consumed; NULL means building it failed), counts and logs. */
static enum MHD_Result finish(tecg_http_server_t *srv, struct MHD_Connection *conn, route_t route,
                              const char *method, const char *url_raw, unsigned status,
                              struct MHD_Response *resp) {
        enum MHD_Result ret;
        char url_buf[201];
        const char *url = loggable(url_raw, url_buf, sizeof(url_buf));
        if (!resp) {
                tecg_log_warn(FAC,
                              "%s %s: cannot build the response "
                              "(out of memory)",
                              method, url);
                count(srv, route, 500);
                return MHD_NO; /* MHD closes the connection */
        }
        add_security_headers(srv, resp);
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        count(srv, route, status);
        if (ret != MHD_YES)
                tecg_log_warn(FAC, "%s %s: cannot queue the %u response", method, url, status);
        else if (status >= 500)
                tecg_log_warn(FAC, "%s %s %u", method, url, status);
        else
                tecg_log_debug(FAC, "%s %s %u", method, url, status);
        return ret;
}

static struct MHD_Response *response_own(tecg_buf_t *body, const char *ctype) {
        struct MHD_Response *resp;
        /* MHD takes the buffer only if it builds the response. */
        if (tecg_buf_terminate(body))
                return NULL;
        resp = MHD_create_response_from_buffer_with_free_callback_cls(body->len, body->data, free,
                                                                      body->data);
        if (!resp)
                return NULL;
        body->data = NULL;
        body->len = body->cap = 0;
        if (ctype)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        return resp;
}

static struct MHD_Response *response_copy(const char *text, const char *ctype) {
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
        if (resp && ctype)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        return resp;
}

static enum MHD_Result reply_error(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                   route_t route, const char *method, const char *url,
                                   unsigned status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 8, 9)));

/* {"error": code, "message": ...} */
static enum MHD_Result reply_error(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                   route_t route, const char *method, const char *url,
                                   unsigned status, const char *code, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        json_t *o;
        char *text = NULL;
        struct MHD_Response *resp = NULL;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        o = json_pack("{s:s, s:s}", "error", code, "message", msg);
        if (!o) /* msg held a name that is not UTF-8 */
                o = json_pack("{s:s, s:s}", "error", code, "message", "invalid request");
        if (o && (text = json_dumps(o, JSON_FLAGS)) &&
            (resp = response_copy(text, "application/json"))) {
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
                if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        }
        free(text);
        json_decref(o);
        return finish(srv, conn, route, method, url, status, resp);
}

/* If-None-Match against our ETag "VERSION": a list of (weak) tags or *. */
static bool etag_matches(const char *inm, uint64_t version) {
        char want[32];
        size_t wl;
        const char *p = inm;

        wl = (size_t)snprintf(want, sizeof(want), "\"%llu\"", (unsigned long long)version);
        while (*p) {
                const char *end;
                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                if (!*p)
                        break;
                if (*p == '*')
                        return true;
                if (strncmp(p, "W/", 2) == 0)
                        p += 2;
                end = p;
                if (*end == '"') {
                        end = strchr(end + 1, '"');
                        end = end ? end + 1 : p + strlen(p);
                } else {
                        while (*end && *end != ',' && *end != ' ')
                                end++;
                }
                if ((size_t)(end - p) == wl && memcmp(p, want, wl) == 0)
                        return true;
                p = end;
        }
        return false;
}

static void set_etag(struct MHD_Response *resp, uint64_t version) {
        char etag[32];
        snprintf(etag, sizeof(etag), "\"%llu\"", (unsigned long long)version);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
}

/* 304 when the client's If-None-Match names this version. */
static bool not_modified(struct MHD_Connection *conn, uint64_t version) {
        const char *inm =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
        return inm && etag_matches(inm, version);
}

static struct MHD_Response *response_304(uint64_t version) {
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (resp) {
                set_etag(resp, version);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        }
        return resp;
}

/* ------------------------------------------------------------------ */
/* Routes                                                              */

static void release_boxed_doc(void *cls) {
        tecg_doc_t *doc = cls;
        tecg_doc_release(doc);
        free(doc);
}

static enum MHD_Result serve_page(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                  const char *method, const char *url) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
                tecg_page_html_len, (void *)tecg_page_html, MHD_RESPMEM_PERSISTENT);
        if (resp) {
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                        "text/html; charset=utf-8");
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
                /* The browser enforces what the page promises: nothing
                 * loaded from anywhere but this server. */
                MHD_add_response_header(resp, "Content-Security-Policy", tecg_page_csp());
        }
        return finish(srv, conn, ROUTE_PAGE, method, url, MHD_HTTP_OK, resp);
}

static enum MHD_Result serve_list(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                  const char *method, const char *url) {
        tecg_doc_t *docs = NULL;
        size_t n = 0;
        json_t *arr = json_array();
        char *text = NULL;
        struct MHD_Response *resp = NULL;

        if (!arr || tecg_docstore_list(srv->store, &docs, &n, NULL))
                goto done;
        for (size_t i = 0; i < n; i++) {
                char path[128], updated[TECG_TIME_RFC3339_SIZE];
                snprintf(path, sizeof(path), "/api/dashboards/%s", docs[i].name);
                tecg_time_format_rfc3339_ms(docs[i].updated_ms, updated);
                if (json_array_append_new(arr,
                                          json_pack("{s:s, s:I, s:s, s:s}", "name", docs[i].name,
                                                    "version", (json_int_t)docs[i].version, "url",
                                                    path, "updated_at", updated)))
                        goto done;
        }
        if ((text = json_dumps(arr, JSON_FLAGS)) &&
            (resp = response_copy(text, "application/json")))
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
done:
        free(text);
        json_decref(arr);
        tecg_docs_release(docs, n);
        return finish(srv, conn, ROUTE_LIST, method, url, MHD_HTTP_OK, resp);
}

static enum MHD_Result serve_dashboard(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                       const char *method, const char *url, const char *name) {
        tecg_doc_t *doc = calloc(1, sizeof(*doc));
        struct MHD_Response *resp = NULL;
        unsigned status = MHD_HTTP_OK;
        uint64_t version;
        const char *signature;

        if (!doc)
                goto done;
        if (tecg_docstore_get(srv->store, name, doc) != TECG_OK) {
                free(doc);
                return reply_error(srv, conn, ROUTE_DASHBOARD, method, url, MHD_HTTP_NOT_FOUND,
                                   "not_found", "no dashboard named '%s'", name);
        }
        version = doc->version;
        signature = doc->signature;
        if (not_modified(conn, version)) {
                status = MHD_HTTP_NOT_MODIFIED;
                resp = response_304(version);
                goto done;
        }
        /* No copy: the response holds the snapshot's reference and drops
         * it when libmicrohttpd frees the response. */
        resp = MHD_create_response_from_buffer_with_free_callback_cls(doc->len, (void *)doc->json,
                                                                      release_boxed_doc, doc);
        if (!resp)
                goto done;
        doc = NULL;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        set_etag(resp, version);
        if (signature) /* lives in the snapshot the response holds */
                MHD_add_response_header(resp, TECG_DOCSIGN_HTTP_HEADER, signature);
done:
        if (doc) {
                tecg_doc_release(doc);
                free(doc);
        }
        return finish(srv, conn, ROUTE_DASHBOARD, method, url, status, resp);
}

/* NAME.csv, NAME.ndjson: the long form; NAME.wide.csv, NAME.wide.ndjson:
 * the wide one (export.h). ?bom=1 puts the UTF-8 byte order mark before
 * a CSV for Excel; on NDJSON, or with another value than 0 or 1, it is a
 * 400 rather than silently ignored, so a BI tool's URL mistake shows. */
static enum MHD_Result serve_export(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                    const char *method, const char *url, const char *file) {
        static const char wide_suffix[] = ".wide";
        const size_t wide_len = sizeof(wide_suffix) - 1;
        char name[TECG_DOCSTORE_NAME_MAX + 1], disp[160], errstr[256];
        const char *dot = strrchr(file, '.');
        const char *bom = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "bom");
        tecg_export_opts_t opts = {TECG_EXPORT_LONG, TECG_EXPORT_CSV, false};
        const char *ctype, *ext;
        size_t name_len;
        tecg_doc_t doc = {0};
        tecg_buf_t body = TECG_BUF_INIT;
        struct MHD_Response *resp = NULL;
        unsigned status = MHD_HTTP_OK;
        enum MHD_Result ret;

        if (dot && strcmp(dot, ".csv") == 0) {
                ctype = "text/csv; charset=utf-8; header=present";
                ext = "csv";
        } else if (dot && strcmp(dot, ".ndjson") == 0) {
                opts.format = TECG_EXPORT_NDJSON;
                ctype = "application/x-ndjson";
                ext = "ndjson";
        } else {
                return reply_error(srv, conn, ROUTE_EXPORT, method, url, MHD_HTTP_NOT_FOUND,
                                   "not_found",
                                   "export formats are NAME.csv, NAME.ndjson (long form) "
                                   "and NAME.wide.csv, NAME.wide.ndjson");
        }
        name_len = (size_t)(dot - file);
        if (name_len > wide_len && memcmp(file + name_len - wide_len, wide_suffix, wide_len) == 0) {
                opts.shape = TECG_EXPORT_WIDE;
                name_len -= wide_len;
        }
        if (bom && strcmp(bom, "1") == 0 && opts.format == TECG_EXPORT_CSV)
                opts.bom = true;
        else if (bom && strcmp(bom, "0") != 0)
                return reply_error(srv, conn, ROUTE_EXPORT, method, url, MHD_HTTP_BAD_REQUEST,
                                   "bad_parameter", "bom is 0 or 1, and for CSV only");
        /* A name too long for the store cannot be in it. */
        snprintf(name, sizeof(name), "%.*s", (int)name_len, file);
        if (name_len > TECG_DOCSTORE_NAME_MAX ||
            tecg_docstore_get(srv->store, name, &doc) != TECG_OK)
                return reply_error(srv, conn, ROUTE_EXPORT, method, url, MHD_HTTP_NOT_FOUND,
                                   "not_found", "no dashboard named '%.*s'", (int)name_len, file);
        if (opts.shape == TECG_EXPORT_LONG && !tecg_export_has_long_form(name)) {
                ret = reply_error(srv, conn, ROUTE_EXPORT, method, url, MHD_HTTP_NOT_FOUND,
                                  "not_found", "'%s' has no long form: %s.wide.%s exports it", name,
                                  name, ext);
                goto out;
        }
        if (not_modified(conn, doc.version)) {
                status = MHD_HTTP_NOT_MODIFIED;
                resp = response_304(doc.version);
                goto done;
        }
        if (tecg_export(doc.name, doc.version, doc.json, doc.len, &opts, &body, errstr,
                        sizeof(errstr)) != TECG_OK) {
                tecg_log_warn(FAC, "export of %s: %s", name, errstr);
                ret = reply_error(srv, conn, ROUTE_EXPORT, method, url,
                                  MHD_HTTP_INTERNAL_SERVER_ERROR, "export_failed", "%s", errstr);
                goto out;
        }
        if (!(resp = response_own(&body, ctype)))
                goto done;
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s-v%llu%s.%s\"", name,
                 (unsigned long long)doc.version, opts.shape == TECG_EXPORT_WIDE ? ".wide" : "",
                 ext);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        set_etag(resp, doc.version);
done:
        ret = finish(srv, conn, ROUTE_EXPORT, method, url, status, resp);
out:
        tecg_doc_release(&doc);
        tecg_buf_free(&body);
        return ret;
}

static tecg_err_t metrics_line(tecg_buf_t *out, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static tecg_err_t metrics_line(tecg_buf_t *out, const char *fmt, ...) {
        char line[512];
        va_list ap;
        int n;
        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sizeof(line))
                return TECG_ERR_LIMIT;
        return tecg_buf_append(out, line, (size_t)n);
}

static tecg_err_t metrics_own(tecg_http_server_t *srv, tecg_buf_t *out) {
        tecg_err_t err = TECG_OK;
        tecg_doc_t *docs = NULL;
        size_t n = 0;
        struct timespec now;

        err = tecg_buf_puts(out, "# HELP tecg_http_requests_total HTTP requests answered, by "
                                 "route and status class.\n"
                                 "# TYPE tecg_http_requests_total counter\n");
        for (int r = 0; r < ROUTE__COUNT && !err; r++)
                for (int c = 1; c < CLASS__COUNT && !err; c++)
                        err = metrics_line(out,
                                           "tecg_http_requests_total{route=\"%s\","
                                           "code=\"%dxx\"} %lu\n",
                                           route_names[r], c + 1,
                                           atomic_load(&srv->requests[r][c]));
        if (!err)
                err = metrics_line(out,
                                   "# HELP tecg_http_sse_clients Event streams open "
                                   "now.\n# TYPE tecg_http_sse_clients gauge\n"
                                   "tecg_http_sse_clients %ld\n"
                                   "# HELP tecg_http_sse_events_total Dashboard events "
                                   "sent on event streams.\n"
                                   "# TYPE tecg_http_sse_events_total counter\n"
                                   "tecg_http_sse_events_total %lu\n"
                                   "# HELP tecg_http_sse_rejected_total Event streams "
                                   "refused because max_sse_clients were open.\n"
                                   "# TYPE tecg_http_sse_rejected_total counter\n"
                                   "tecg_http_sse_rejected_total %lu\n",
                                   atomic_load(&srv->sse_clients), atomic_load(&srv->sse_events),
                                   atomic_load(&srv->sse_rejected));
        if (!err)
                err = metrics_line(out,
                                   "# HELP tecg_http_slow_closed_total Connections closed "
                                   "without a complete request within the request timeout.\n"
                                   "# TYPE tecg_http_slow_closed_total counter\n"
                                   "tecg_http_slow_closed_total %lu\n"
                                   "# HELP tecg_http_auth_refused_total Requests refused for "
                                   "missing, wrong or insufficient credentials (401, 403).\n"
                                   "# TYPE tecg_http_auth_refused_total counter\n"
                                   "tecg_http_auth_refused_total %lu\n",
                                   atomic_load(&srv->slow_dropped),
                                   atomic_load(&srv->auth_refused));
        if (err || (err = tecg_docstore_list(srv->store, &docs, &n, NULL)))
                goto done;
        err = tecg_buf_puts(out, "# HELP tecg_http_dashboard_version Version of each "
                                 "dashboard document being served.\n"
                                 "# TYPE tecg_http_dashboard_version gauge\n");
        for (size_t i = 0; i < n && !err; i++)
                err = metrics_line(out,
                                   "tecg_http_dashboard_version{dashboard="
                                   "\"%s\"} %llu\n",
                                   docs[i].name, (unsigned long long)docs[i].version);
        if (!err)
                err = tecg_buf_puts(out, "# HELP tecg_http_dashboard_age_seconds Seconds "
                                         "since each dashboard document was last updated.\n"
                                         "# TYPE tecg_http_dashboard_age_seconds gauge\n");
        clock_gettime(CLOCK_REALTIME, &now);
        for (size_t i = 0; i < n && !err; i++) {
                int64_t age =
                        (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - docs[i].updated_ms;
                err = metrics_line(out,
                                   "tecg_http_dashboard_age_seconds{"
                                   "dashboard=\"%s\"} %.3f\n",
                                   docs[i].name, (double)(age < 0 ? 0 : age) / 1000.0);
        }
done:
        tecg_docs_release(docs, n);
        return err;
}

static enum MHD_Result serve_metrics(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                     const char *method, const char *url) {
        tecg_buf_t body = TECG_BUF_INIT;
        struct MHD_Response *resp = NULL;

        if (metrics_own(srv, &body) == TECG_OK) {
                if (srv->conf.metrics_cb)
                        srv->conf.metrics_cb(&body, srv->conf.metrics_opaque);
                if (tecg_metrics_group(&body) == TECG_OK)
                        resp = response_own(&body, "text/plain; version=0.0.4; "
                                                   "charset=utf-8");
                if (resp)
                        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        }
        tecg_buf_free(&body);
        return finish(srv, conn, ROUTE_METRICS, method, url, MHD_HTTP_OK, resp);
}

static enum MHD_Result serve_healthz(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                     const char *method, const char *url) {
        tecg_buf_t body = TECG_BUF_INIT;
        struct MHD_Response *resp;
        int rc = 0;
        unsigned status;

        if (srv->conf.health_cb)
                rc = srv->conf.health_cb(&body, srv->conf.health_opaque);
        if (rc == 0)
                status = MHD_HTTP_OK;
        else if (rc >= 200 && rc <= 599)
                status = (unsigned)rc;
        else
                status = MHD_HTTP_SERVICE_UNAVAILABLE;
        if (body.len == 0) {
                tecg_buf_puts(&body, status < 300 ? "{\"status\":\"ok\"}"
                                                  : "{\"status\":\"unavailable\","
                                                    "\"reason\":\"health check "
                                                    "failed\"}");
        }
        resp = response_own(&body, "application/json");
        if (resp)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        tecg_buf_free(&body);
        if (status >= 300)
                tecg_log_warn(FAC, "%s %s: unhealthy (%u)", method, url, status);
        return finish(srv, conn, ROUTE_HEALTHZ, method, url, status, resp);
}

/* GET /api/nation/XXX: the view of one listed nation from the callback;
 * 400 for a code that is not three capital letters, 404 for a nation not
 * in the list (or no callback). */
static enum MHD_Result serve_nation(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                    const char *method, const char *url, const char *code) {
        tecg_buf_t body = TECG_BUF_INIT;
        struct MHD_Response *resp;
        int status = MHD_HTTP_NOT_FOUND;

        if (strlen(code) != 3 || !isupper((unsigned char)code[0]) ||
            !isupper((unsigned char)code[1]) || !isupper((unsigned char)code[2]))
                return reply_error(srv, conn, ROUTE_NATION, method, url, MHD_HTTP_BAD_REQUEST,
                                   "bad_nation", "a nation is three capital letters (FRA)");
        if (srv->conf.nation_cb)
                status = srv->conf.nation_cb(code, &body, srv->conf.nation_opaque);
        if (status != MHD_HTTP_OK || body.len == 0) {
                tecg_buf_free(&body);
                return reply_error(srv, conn, ROUTE_NATION, method, url, MHD_HTTP_NOT_FOUND,
                                   "not_found", "%s is not in the nations list", code);
        }
        resp = response_own(&body, "application/json");
        if (resp)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        tecg_buf_free(&body);
        return finish(srv, conn, ROUTE_NATION, method, url, MHD_HTTP_OK, resp);
}

/* ------------------------------------------------------------------ */
/* Server-sent events                                                  */

static bool sse_wants(const sse_stream_t *st, const char *name) {
        if (st->nfilter == 0)
                return true;
        for (size_t i = 0; i < st->nfilter; i++)
                if (strcmp(st->filter[i], name) == 0)
                        return true;
        return false;
}

/* "event: NAME\nid: NAME:VERSION\n[tecg-signature: VALUE\n]data: JSON\n\n".
 * A JSON text can hold raw CR/LF only as whitespace, so they become spaces
 * and the document stays one data line (the compact documents have none,
 * so data is the signed bytes). EventSource ignores the signature field;
 * a BI reader of the stream uses it (docs/design.md §9.2). */
static tecg_err_t sse_append_doc(tecg_buf_t *out, const tecg_doc_t *doc) {
        tecg_err_t err;
        char head[2 * TECG_DOCSTORE_NAME_MAX + TECG_DOCSIGN_VALUE_SIZE + 96];
        size_t start;
        int n = snprintf(head, sizeof(head), "event: %s\nid: %s:%llu\n%s%s%sdata: ", doc->name,
                         doc->name, (unsigned long long)doc->version,
                         doc->signature ? "tecg-signature: " : "",
                         doc->signature ? doc->signature : "", doc->signature ? "\n" : "");
        if ((err = tecg_buf_append(out, head, (size_t)n)))
                return err;
        start = out->len;
        if ((err = tecg_buf_append(out, doc->json, doc->len)))
                return err;
        for (size_t i = start; i < out->len; i++)
                if (out->data[i] == '\n' || out->data[i] == '\r')
                        out->data[i] = ' ';
        return tecg_buf_append(out, "\n\n", 2);
}

/* Queues every wanted document put since st->seq (all of them first). */
static tecg_err_t sse_queue_changes(sse_stream_t *st, bool all) {
        tecg_err_t err;
        tecg_doc_t *docs = NULL;
        size_t n = 0;
        uint64_t seq;

        if ((err = tecg_docstore_list(st->srv->store, &docs, &n, &seq)))
                return err;
        for (size_t i = 0; i < n && !err; i++) {
                if ((!all && docs[i].seq <= st->seq) || !sse_wants(st, docs[i].name))
                        continue;
                err = sse_append_doc(&st->pending, &docs[i]);
                atomic_fetch_add_explicit(&st->srv->sse_events, 1, memory_order_relaxed);
        }
        st->seq = seq;
        tecg_docs_release(docs, n);
        return err;
}

/* The client closed its end (or the socket failed). Our own thread owns
 * the connection, so looking at the socket here races with nobody. */
static bool sse_client_gone(const sse_stream_t *st) {
        struct pollfd pfd = {.fd = st->fd, .events = POLLIN | POLLRDHUP};
        if (st->fd < 0)
                return false;
        if (poll(&pfd, 1, 0) <= 0)
                return false;
        return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max) {
        sse_stream_t *st = cls;
        tecg_http_server_t *srv = st->srv;
        int keepalive = srv->conf.sse_keepalive_ms;
        (void)pos;

        for (;;) {
                int64_t now, due;
                uint64_t seq;

                if (st->off < st->pending.len) {
                        size_t n = st->pending.len - st->off;
                        if (n > max)
                                n = max;
                        memcpy(out, st->pending.data + st->off, n);
                        st->off += n;
                        if (st->off == st->pending.len) {
                                tecg_buf_reset(&st->pending);
                                st->off = 0;
                        }
                        return (ssize_t)n;
                }
                if (atomic_load(&srv->stopping))
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (!st->started) {
                        /* A comment first, so the headers go out at once
                         * even before any document exists. */
                        st->started = true;
                        st->last_write_ms = tecg_mono_ms();
                        if (tecg_buf_puts(&st->pending, ": tecg dashboards\nretry: 3000\n\n") ||
                            sse_queue_changes(st, true))
                                return MHD_CONTENT_READER_END_WITH_ERROR;
                        continue;
                }
                if (sse_client_gone(st)) {
                        /* An end, not an error: libmicrohttpd would log an
                         * "application error" for what every browser does. */
                        tecg_log_debug(FAC, "stream: client went away");
                        return MHD_CONTENT_READER_END_OF_STREAM;
                }
                now = tecg_mono_ms();
                due = st->last_write_ms + keepalive;
                if (now >= due) {
                        st->last_write_ms = now;
                        if (tecg_buf_puts(&st->pending, ": keep-alive\n\n"))
                                return MHD_CONTENT_READER_END_WITH_ERROR;
                        continue;
                }
                seq = st->seq;
                if (tecg_docstore_wait_change(
                            srv->store, &seq,
                            (int)(due - now < SSE_SLICE_MS ? due - now : SSE_SLICE_MS)) ==
                    TECG_OK) {
                        size_t before = st->pending.len;
                        if (sse_queue_changes(st, false))
                                return MHD_CONTENT_READER_END_WITH_ERROR;
                        if (st->pending.len > before)
                                st->last_write_ms = tecg_mono_ms();
                }
        }
}

static void sse_free(void *cls) {
        sse_stream_t *st = cls;
        atomic_fetch_sub(&st->srv->sse_clients, 1);
        tecg_log_debug(FAC, "stream closed");
        tecg_buf_free(&st->pending);
        free(st->filter_buf);
        free(st);
}

static enum MHD_Result serve_stream(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                    const char *method, const char *url) {
        const char *filter;
        const union MHD_ConnectionInfo *ci;
        sse_stream_t *st = NULL;
        struct MHD_Response *resp = NULL;

        if (strcmp(method, "HEAD") == 0) {
                resp = response_copy("", "text/event-stream; charset=utf-8");
                return finish(srv, conn, ROUTE_STREAM, method, url, MHD_HTTP_OK, resp);
        }
        if (atomic_fetch_add(&srv->sse_clients, 1) >= (long)srv->conf.max_sse_clients) {
                atomic_fetch_sub(&srv->sse_clients, 1);
                atomic_fetch_add(&srv->sse_rejected, 1);
                tecg_log_warn(FAC, "stream refused: %u streams open", srv->conf.max_sse_clients);
                return reply_error(srv, conn, ROUTE_STREAM, method, url,
                                   MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
                                   "too many event streams open");
        }
        if (!(st = calloc(1, sizeof(*st))))
                goto fail;
        st->srv = srv;
        st->fd = -1;
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
                st->fd = ci->connect_fd;
        filter = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "dashboards");
        if (filter && *filter) {
                char *save = NULL, *tok;
                if (!(st->filter_buf = strdup(filter)))
                        goto fail;
                for (tok = strtok_r(st->filter_buf, ",", &save);
                     tok && st->nfilter < SSE_FILTER_MAX; tok = strtok_r(NULL, ",", &save))
                        st->filter[st->nfilter++] = tok;
        }
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK_SIZE, sse_read, st,
                                                 sse_free);
        if (!resp)
                goto fail;
        st = NULL; /* the response owns it now */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/event-stream; charset=utf-8");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        tecg_log_debug(FAC, "stream opened (%ld open)", atomic_load(&srv->sse_clients));
        return finish(srv, conn, ROUTE_STREAM, method, url, MHD_HTTP_OK, resp);
fail:
        if (st) {
                free(st->filter_buf);
                free(st);
        }
        atomic_fetch_sub(&srv->sse_clients, 1);
        return finish(srv, conn, ROUTE_STREAM, method, url, MHD_HTTP_OK, NULL);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

/* ------------------------------------------------------------------ */
/* Request checks (pure, unit-tested)                                  */

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char)tolower((unsigned char)c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool tecg_http_server_path_ok(const char *raw) {
        char path[PATH_MAX_DECODED + 1];
        size_t n = 0;
        const char *seg;

        if (!raw || raw[0] != '/')
                return false;
        for (const char *p = raw; *p && *p != '?' && *p != '#'; p++) {
                unsigned char c = (unsigned char)*p;
                if (c == '%') {
                        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
                        if (lo < 0)
                                return false;
                        c = (unsigned char)(hi * 16 + lo);
                        p += 2;
                }
                if (c < 0x20 || c == 0x7f || n == PATH_MAX_DECODED)
                        return false;
                path[n++] = (char)c;
        }
        path[n] = '\0';
        /* "." and ".." would make one path look like another to a route
         * grant; nothing tecg serves has them. */
        for (seg = path; seg; seg = strchr(seg + 1, '/')) {
                const char *s = seg + 1;
                size_t len = strcspn(s, "/");
                if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
        }
        return true;
}

bool tecg_http_server_host_allowed(const char *const *hosts, size_t nhosts, uint16_t port,
                                   const char *host) {
        char name[256];
        const char *colon;
        size_t nl;

        if (!host || !*host || strlen(host) >= sizeof(name))
                return false;
        if (host[0] == '[') {
                const char *close = strchr(host, ']');
                if (!close)
                        return false;
                nl = (size_t)(close - host) + 1;
                colon = close[1] == ':' ? close + 1 : NULL;
                if (!colon && close[1])
                        return false;
        } else {
                colon = strchr(host, ':');
                if (colon && strchr(colon + 1, ':'))
                        return false;
                nl = colon ? (size_t)(colon - host) : strlen(host);
        }
        memcpy(name, host, nl);
        name[nl] = '\0';
        if (colon) {
                char *end;
                unsigned long p = strtoul(colon + 1, &end, 10);
                if (!colon[1] || *end || p > 65535)
                        return false;
        }
        for (size_t i = 0; i < nhosts; i++) {
                if (strcmp(hosts[i], "*") == 0 || strcasecmp(hosts[i], host) == 0)
                        return true;
                /* A name listed without a port: this server's port only. */
                if (strcasecmp(hosts[i], name) == 0 &&
                    (!colon || strtoul(colon + 1, NULL, 10) == port))
                        return true;
        }
        return false;
}

bool tecg_http_server_is_loopback(const char *address) {
        return address && (strncmp(address, "127.", 4) == 0 || strcmp(address, "::1") == 0 ||
                           strcmp(address, "[::1]") == 0 || strcasecmp(address, "localhost") == 0);
}

tecg_err_t tecg_http_server_tls_check(const char *cert_pem, const char *key_pem,
                                      const char *client_ca_pem, char *errstr, size_t errstr_size) {
        gnutls_certificate_credentials_t cred = NULL;
        gnutls_datum_t cert = {(unsigned char *)cert_pem,
                               cert_pem ? (unsigned)strlen(cert_pem) : 0};
        gnutls_datum_t key = {(unsigned char *)key_pem, key_pem ? (unsigned)strlen(key_pem) : 0};
        tecg_err_t err = TECG_OK;
        int rc;

        if (!cert_pem || !key_pem)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "HTTPS needs both a certificate and its key");
        if ((rc = gnutls_certificate_allocate_credentials(&cred)) < 0) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "TLS: %s",
                                  gnutls_strerror(rc));
                goto done;
        }
        /* GnuTLS checks here that the key is the certificate's. */
        if ((rc = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL,
                                                       0)) < 0) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "TLS certificate and key: %s", gnutls_strerror(rc));
                goto done;
        }
        if (client_ca_pem) {
                gnutls_datum_t ca = {(unsigned char *)client_ca_pem,
                                     (unsigned)strlen(client_ca_pem)};
                if ((rc = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM)) <=
                    0) {
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "TLS client CA: %s",
                                          rc < 0 ? gnutls_strerror(rc) : "no certificate");
                        goto done;
                }
        }
done:
        if (cred)
                gnutls_certificate_free_credentials(cred);
        return err;
}

/* ------------------------------------------------------------------ */
/* Request deadline                                                    */

static conn_ctx_t *conn_ctx_of(struct MHD_Connection *conn) {
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci ? ci->socket_context : NULL;
}

static void conn_set_busy(tecg_http_server_t *srv, struct MHD_Connection *conn, bool busy) {
        conn_ctx_t *c = conn_ctx_of(conn);
        if (!c)
                return;
        pthread_mutex_lock(&srv->conns_lock);
        c->busy = busy;
        c->since_ms = tecg_mono_ms();
        pthread_mutex_unlock(&srv->conns_lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
        tecg_http_server_t *srv = cls;
        conn_ctx_t *c;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                if (!(c = calloc(1, sizeof(*c)))) {
                        /* No deadline without a context: refuse instead. */
                        if (ci)
                                shutdown(ci->connect_fd, SHUT_RDWR);
                        return;
                }
                c->fd = ci ? ci->connect_fd : -1;
                c->since_ms = tecg_mono_ms();
                pthread_mutex_lock(&srv->conns_lock);
                c->next = srv->conns;
                if (srv->conns)
                        srv->conns->prev = c;
                srv->conns = c;
                pthread_mutex_unlock(&srv->conns_lock);
                *socket_context = c;
                return;
        }
        if (!(c = *socket_context))
                return;
        pthread_mutex_lock(&srv->conns_lock);
        if (c->prev)
                c->prev->next = c->next;
        else
                srv->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        pthread_mutex_unlock(&srv->conns_lock);
        free(c);
        *socket_context = NULL;
}

static void *watchdog_main(void *arg) {
        tecg_http_server_t *srv = arg;
        static tecg_log_limit_t lim = TECG_LOG_LIMIT_INIT(5, 60000);

        while (!atomic_load(&srv->stopping)) {
                int64_t now = tecg_mono_ms();
                unsigned dropped = 0;
                pthread_mutex_lock(&srv->conns_lock);
                for (conn_ctx_t *c = srv->conns; c; c = c->next) {
                        if (c->busy || c->dropped || c->fd < 0 ||
                            now - c->since_ms < srv->conf.request_timeout_ms)
                                continue;
                        /* The connection's own thread sees end-of-file and
                         * closes it. */
                        shutdown(c->fd, SHUT_RDWR);
                        c->dropped = true;
                        dropped++;
                }
                pthread_mutex_unlock(&srv->conns_lock);
                if (dropped) {
                        atomic_fetch_add(&srv->slow_dropped, dropped);
                        tecg_log_limited(&lim, TECG_LOG_NOTICE, FAC,
                                         "closed %u connection(s) without a complete request "
                                         "after %d ms",
                                         dropped, srv->conf.request_timeout_ms);
                }
                {
                        struct timespec ts = {0, WATCHDOG_MS * 1000000L};
                        nanosleep(&ts, NULL);
                }
        }
        return NULL;
}

/* ------------------------------------------------------------------ */
/* Per-request context                                                 */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
        tecg_http_server_t *srv = cls;
        req_t *r = calloc(1, sizeof(*r));
        (void)conn;
        (void)srv;
        if (r) {
                r->body = (tecg_buf_t)TECG_BUF_INIT;
                r->bad_path = !tecg_http_server_path_ok(uri);
        }
        return r; /* NULL: on_request answers 500 */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        tecg_http_server_t *srv = cls;
        req_t *r = *con_cls;
        (void)toe;
        if (r) {
                tecg_buf_free(&r->body);
                free(r);
                *con_cls = NULL;
        }
        /* The next request on this connection gets its own deadline. */
        conn_set_busy(srv, conn, false);
}

/* ------------------------------------------------------------------ */
/* Authentication                                                      */

/* A session cookie: NAME.EXPIRY.MAC, the MAC an HMAC-SHA-256 under a key
 * drawn at start, so a restart ends every session and the server keeps no
 * session table. The cookie names the client; its routes come from the
 * tokens file. */
static void session_mac(const tecg_http_server_t *srv, const char *msg, size_t len,
                        char hex[2 * crypto_auth_hmacsha256_BYTES + 1]) {
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256(mac, (const unsigned char *)msg, len, srv->session_key);
        sodium_bin2hex(hex, 2 * crypto_auth_hmacsha256_BYTES + 1, mac, sizeof(mac));
}

static const tecg_token_entry_t *session_check(const tecg_http_server_t *srv, const char *cookie) {
        char want[2 * crypto_auth_hmacsha256_BYTES + 1], name[TECG_TOKENS_NAME_MAX + 1];
        /* From the right: a NAME may hold dots itself. */
        const char *dot2 = strrchr(cookie, '.');
        const char *dot1 = dot2;
        long long expiry;
        char *end;

        while (dot1 && dot1 > cookie && *--dot1 != '.')
                ;
        if (!dot2 || !dot1 || *dot1 != '.' || strlen(dot2 + 1) != sizeof(want) - 1 ||
            (size_t)(dot1 - cookie) > TECG_TOKENS_NAME_MAX)
                return NULL;
        session_mac(srv, cookie, (size_t)(dot2 - cookie), want);
        if (sodium_memcmp(want, dot2 + 1, sizeof(want) - 1) != 0)
                return NULL;
        expiry = strtoll(dot1 + 1, &end, 10);
        if (end != dot2 || expiry < (long long)time(NULL))
                return NULL;
        memcpy(name, cookie, (size_t)(dot1 - cookie));
        name[dot1 - cookie] = '\0';
        return tecg_tokens_find(srv->conf.tokens, name);
}

/* The client a verified TLS client certificate names by its CN. */
static const tecg_token_entry_t *client_cert_check(const tecg_http_server_t *srv,
                                                   struct MHD_Connection *conn) {
        const union MHD_ConnectionInfo *ci;
        gnutls_session_t tls;
        const gnutls_datum_t *peers;
        unsigned npeers = 0, status = 0;
        gnutls_x509_crt_t crt = NULL;
        char cn[TECG_TOKENS_NAME_MAX + 1];
        size_t cnlen = sizeof(cn);
        const tecg_token_entry_t *e = NULL;

        if (!srv->tls_ca ||
            !(ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)))
                return NULL;
        tls = (gnutls_session_t)ci->tls_session;
        if (gnutls_certificate_verify_peers2(tls, &status) < 0 || status != 0 ||
            !(peers = gnutls_certificate_get_peers(tls, &npeers)) || npeers == 0)
                return NULL;
        if (gnutls_x509_crt_init(&crt) < 0)
                return NULL;
        if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0 &&
            gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cnlen) >= 0)
                e = tecg_tokens_find(srv->conf.tokens, cn);
        gnutls_x509_crt_deinit(crt);
        return e;
}

/* Who is asking: a bearer token, else a session cookie, else a client
 * certificate. *presented tells a wrong credential from none. */
static const tecg_token_entry_t *authenticate(const tecg_http_server_t *srv,
                                              struct MHD_Connection *conn, bool *presented) {
        const char *auth =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, SESSION_COOKIE);
        *presented = false;
        if (auth) {
                *presented = true;
                if (strncasecmp(auth, "Bearer ", 7) != 0)
                        return NULL;
                auth += 7;
                while (*auth == ' ')
                        auth++;
                return tecg_tokens_verify(srv->conf.tokens, auth, strlen(auth));
        }
        if (cookie) {
                const tecg_token_entry_t *e = session_check(srv, cookie);
                if (e)
                        return e;
                *presented = true;
        }
        return client_cert_check(srv, conn);
}

static struct MHD_Response *response_login_page(void) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
                tecg_page_login_html_len, (void *)tecg_page_login_html, MHD_RESPMEM_PERSISTENT);
        if (resp) {
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                        "text/html; charset=utf-8");
                MHD_add_response_header(resp, "Content-Security-Policy", tecg_page_login_csp());
        }
        return resp;
}

/* 401: the sign-in page for a browser asking for the page, JSON else. */
static enum MHD_Result reply_unauthorized(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                          route_t route, const char *method, const char *url,
                                          bool presented) {
        struct MHD_Response *resp;
        char text[160];
        const char *challenge = presented ? "Bearer realm=\"tecg\", error=\"invalid_token\""
                                          : "Bearer realm=\"tecg\"";
        atomic_fetch_add(&srv->auth_refused, 1);
        if (presented)
                tecg_log_limited(&srv->auth_log, TECG_LOG_WARNING, FAC,
                                 "%s %s: credentials refused (401)", method,
                                 loggable(url, text, sizeof(text)));
        if (route == ROUTE_PAGE) {
                resp = response_login_page();
        } else {
                snprintf(text, sizeof(text), "{\"error\":\"unauthorized\",\"message\":\"%s\"}",
                         presented ? "the token or session is not valid"
                                   : "a bearer token or session is required");
                resp = response_copy(text, "application/json");
        }
        if (resp) {
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        }
        return finish(srv, conn, route, method, url, MHD_HTTP_UNAUTHORIZED, resp);
}

/* The token of a POST /login body "token=HEX[&...]" (a form), or NULL. */
static const char *form_token(tecg_buf_t *body, size_t *len) {
        char *p;
        if (tecg_buf_terminate(body) || !body->data)
                return NULL;
        for (p = (char *)body->data; p; p = strchr(p, '&')) {
                if (*p == '&')
                        p++;
                if (strncmp(p, "token=", 6) == 0) {
                        p += 6;
                        *len = strcspn(p, "&\r\n");
                        return p;
                }
        }
        return NULL;
}

static enum MHD_Result serve_login(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                   const char *method, const char *url, req_t *r) {
        const tecg_token_entry_t *e = NULL;
        const char *auth =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        const char *tok;
        size_t len = 0;
        char cookie[384], hex[2 * crypto_auth_hmacsha256_BYTES + 1], msg[128];
        struct MHD_Response *resp;
        int n;

        if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
                e = tecg_tokens_verify(srv->conf.tokens, auth + 7, strlen(auth + 7));
        else if ((tok = form_token(&r->body, &len)))
                e = tecg_tokens_verify(srv->conf.tokens, tok, len);
        if (r->body.data)
                sodium_memzero(r->body.data, r->body.len);
        if (!e)
                return reply_unauthorized(srv, conn, ROUTE_LOGIN, method, url, true);
        n = snprintf(msg, sizeof(msg), "%s.%lld", tecg_token_name(e),
                     (long long)time(NULL) + srv->conf.session_ttl_s);
        session_mac(srv, msg, (size_t)n, hex);
        snprintf(cookie, sizeof(cookie),
                 SESSION_COOKIE "=%s.%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s", msg, hex,
                 srv->conf.session_ttl_s, srv->tls_cert ? "; Secure" : "");
        /* A form is sent back to the page; a script gets 204. */
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (resp) {
                MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
                if (!auth)
                        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, "/");
        }
        tecg_log_info(FAC, "%s signed in", tecg_token_name(e));
        return finish(srv, conn, ROUTE_LOGIN, method, url,
                      auth ? MHD_HTTP_NO_CONTENT : MHD_HTTP_SEE_OTHER, resp);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

static route_t route_of(const char *url, const char **arg) {
        *arg = NULL;
        if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
                return ROUTE_PAGE;
        /* The page again: its script shows the drill-down of the nation. */
        if (strncmp(url, "/nation/", 8) == 0 && url[8] && !strchr(url + 8, '/'))
                return ROUTE_PAGE;
        if (strncmp(url, "/api/nation/", 12) == 0 && !strchr(url + 12, '/')) {
                *arg = url + 12;
                return ROUTE_NATION;
        }
        if (strcmp(url, "/api/dashboards") == 0 || strcmp(url, "/api/dashboards/") == 0)
                return ROUTE_LIST;
        if (strncmp(url, "/api/dashboards/", 16) == 0 && !strchr(url + 16, '/')) {
                *arg = url + 16;
                return ROUTE_DASHBOARD;
        }
        if (strcmp(url, "/api/stream") == 0)
                return ROUTE_STREAM;
        if (strncmp(url, "/api/export/", 12) == 0 && url[12] && !strchr(url + 12, '/')) {
                *arg = url + 12;
                return ROUTE_EXPORT;
        }
        if (strcmp(url, "/metrics") == 0)
                return ROUTE_METRICS;
        if (strcmp(url, "/healthz") == 0)
                return ROUTE_HEALTHZ;
        if (strcmp(url, "/login") == 0)
                return ROUTE_LOGIN;
        if (strcmp(url, TECG_DOCSIGN_WELL_KNOWN) == 0)
                return ROUTE_SIGNING_KEY;
        return ROUTE_OTHER;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
        tecg_http_server_t *srv = cls;
        req_t *r = *con_cls;
        const char *arg = NULL;
        const char *host;
        const tecg_token_entry_t *who = NULL;
        bool presented = false;
        char logurl[201];
        route_t route = route_of(url, &arg);
        (void)version;

        if (!r)
                return finish(srv, conn, route, method, url, 500, NULL);
        if (route == ROUTE_LOGIN && strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
                /* Collect the (small) form body first; answer on the last
                 * call, when *upload_size is 0. */
                if (*upload_size) {
                        if (r->body.len + *upload_size > LOGIN_BODY_MAX ||
                            tecg_buf_append(&r->body, upload, *upload_size))
                                r->body_too_big = true;
                        *upload_size = 0;
                        return MHD_YES;
                }
                if (!r->seen) {
                        r->seen = true;
                        return MHD_YES;
                }
        } else if (r->seen) {
                *upload_size = 0; /* a body nobody asked for */
                return MHD_YES;
        }
        r->seen = true;
        conn_set_busy(srv, conn, true);

        if (r->bad_path) {
                tecg_log_limited(&srv->path_log, TECG_LOG_WARNING, FAC,
                                 "%s %s: control character or dot segment in the path (400)",
                                 method, loggable(url, logurl, sizeof(logurl)));
                return reply_error(srv, conn, ROUTE_OTHER, method, "(bad path)",
                                   MHD_HTTP_BAD_REQUEST, "bad_path",
                                   "the path holds a control character or a dot segment");
        }
        host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        if (!tecg_http_server_host_allowed(srv->hosts, srv->nhosts, srv->port, host)) {
                char h[80];
                tecg_log_limited(&srv->host_log, TECG_LOG_WARNING, FAC,
                                 "%s %s: Host '%s' is not served here (%u)", method,
                                 loggable(url, logurl, sizeof(logurl)),
                                 host ? loggable(host, h, sizeof(h)) : "", host ? 421 : 400);
                return reply_error(srv, conn, route, method, url,
                                   host ? MHD_HTTP_MISDIRECTED_REQUEST : MHD_HTTP_BAD_REQUEST,
                                   "bad_host", "this server does not answer for that Host");
        }
        if (route == ROUTE_LOGIN && strcmp(method, MHD_HTTP_METHOD_POST) == 0 && srv->conf.tokens) {
                if (r->body_too_big)
                        return reply_error(srv, conn, route, method, url,
                                           MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                                           "the sign-in form is at most %d bytes", LOGIN_BODY_MAX);
                return serve_login(srv, conn, method, url, r);
        }
        if (route != ROUTE_HEALTHZ && srv->conf.tokens) {
                if (!(who = authenticate(srv, conn, &presented)))
                        return reply_unauthorized(srv, conn, route, method, url, presented);
                /* A nation's view is the dashboards' data in another
                 * cut, and its page the operator page: the same grants. */
                const char *granted = route == ROUTE_NATION ? "/api/dashboards"
                                      : route == ROUTE_PAGE ? "/"
                                                            : url;
                if (!tecg_tokens_allows(who, granted)) {
                        atomic_fetch_add(&srv->auth_refused, 1);
                        tecg_log_limited(&srv->auth_log, TECG_LOG_WARNING, FAC,
                                         "%s %s: %s may not read this (403)", method,
                                         loggable(url, logurl, sizeof(logurl)),
                                         tecg_token_name(who));
                        return reply_error(srv, conn, route, method, url, MHD_HTTP_FORBIDDEN,
                                           "forbidden", "this token may not read %s",
                                           route == ROUTE_OTHER ? "that" : url);
                }
        }

        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return reply_error(srv, conn, route, method, url, MHD_HTTP_METHOD_NOT_ALLOWED,
                                   "method_not_allowed", "%s is not allowed; use GET", method);
        switch (route) {
        case ROUTE_PAGE:
                return serve_page(srv, conn, method, url);
        case ROUTE_LIST:
                return serve_list(srv, conn, method, url);
        case ROUTE_DASHBOARD:
                return serve_dashboard(srv, conn, method, url, arg);
        case ROUTE_STREAM:
                return serve_stream(srv, conn, method, url);
        case ROUTE_EXPORT:
                return serve_export(srv, conn, method, url, arg);
        case ROUTE_METRICS:
                return serve_metrics(srv, conn, method, url);
        case ROUTE_NATION:
                return serve_nation(srv, conn, method, url, arg);
        case ROUTE_HEALTHZ:
                return serve_healthz(srv, conn, method, url);
        case ROUTE_SIGNING_KEY:
                if (!srv->conf.signing_key_json) /* documents are not signed */
                        return reply_error(srv, conn, ROUTE_OTHER, method, url, MHD_HTTP_NOT_FOUND,
                                           "not_found", "no such resource");
                return finish(srv, conn, route, method, url, MHD_HTTP_OK,
                              response_copy(srv->conf.signing_key_json, "application/json"));
        default:
                return reply_error(srv, conn, ROUTE_OTHER, method, url, MHD_HTTP_NOT_FOUND,
                                   "not_found", "no such resource");
        }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

/* What libmicrohttpd says when a client goes away, which a client that
 * closes an SSE stream or a page that reloads does all the time: not a
 * problem of this server. Found anywhere in a message: the reason often
 * comes after what failed ("Failed to send the chunked response body
 * for the request for `/api/stream'. Error: The connection was forcibly
 * closed by remote peer", when a document goes out to a stream whose
 * client has just reset it). */
static const char *const mhd_hangups[] = {
        "Failed to send data in request for",
        "The connection was forcibly closed by remote peer",
        "The socket is no longer available for sending",
        "The socket is not connected",
        "Socket has been disconnected when reading request",
        "Connection was closed by remote side",
};

/* libmicrohttpd's own messages, one line each, rate-limited: a peer can
 * provoke them (failed TLS handshakes, refused connections). A client's
 * hang-up is debug, the rest a warning. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        tecg_http_server_t *srv = cls;
        char msg[512];
        size_t n;
        tecg_log_level_t level = TECG_LOG_WARNING;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
                msg[--n] = '\0';
        for (size_t i = 0; i < sizeof(mhd_hangups) / sizeof(mhd_hangups[0]); i++)
                if (strstr(msg, mhd_hangups[i]))
                        level = TECG_LOG_DEBUG;
        tecg_log_limited(&srv->mhd_log, level, FAC, "libmicrohttpd: %s", msg);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

void tecg_http_server_conf_init(tecg_http_server_conf_t *conf) {
        memset(conf, 0, sizeof(*conf));
        conf->bind_address = "127.0.0.1";
        conf->port = 0;
        conf->max_connections = 512;
        conf->max_connections_per_client = 32;
        conf->max_sse_clients = 128;
        conf->request_timeout_ms = 10000;
        conf->sse_keepalive_ms = 15000;
        conf->connection_timeout_s = 60;
        conf->session_ttl_s = 28800;
}

/* The Host allow-list: the configured one, or the localhost forms and the
 * bind address (any port check is done against the bound port). */
static tecg_err_t hosts_setup(tecg_http_server_t *srv, const char *allowed, char *errstr,
                              size_t errstr_size) {
        const char *bind = srv->bind_address;
        if (allowed && *allowed) {
                char *save = NULL, *tok;
                if (!(srv->hosts_buf = strdup(allowed)))
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                for (tok = strtok_r(srv->hosts_buf, ", ", &save); tok;
                     tok = strtok_r(NULL, ", ", &save)) {
                        if (srv->nhosts == HOSTS_MAX)
                                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                                   "more than %d allowed hosts", HOSTS_MAX);
                        srv->hosts[srv->nhosts++] = tok;
                }
                return TECG_OK;
        }
        snprintf(srv->default_hosts[0], sizeof(srv->default_hosts[0]), "localhost");
        snprintf(srv->default_hosts[1], sizeof(srv->default_hosts[1]), "127.0.0.1");
        snprintf(srv->default_hosts[2], sizeof(srv->default_hosts[2]), "[::1]");
        srv->nhosts = 3;
        if (strcmp(bind, "0.0.0.0") != 0 && strcmp(bind, "::") != 0 &&
            strlen(bind) + 3 <= sizeof(srv->default_hosts[3]))
                snprintf(srv->default_hosts[srv->nhosts++], sizeof(srv->default_hosts[0]),
                         strchr(bind, ':') ? "[%s]" : "%s", bind);
        for (size_t i = 0; i < srv->nhosts; i++)
                srv->hosts[i] = srv->default_hosts[i];
        return TECG_OK;
}

tecg_http_server_t *tecg_http_server_start(const tecg_http_server_conf_t *conf,
                                           tecg_docstore_t *store, char *errstr,
                                           size_t errstr_size) {
        tecg_http_server_t *srv = NULL;
        struct addrinfo hints = {0}, *ai = NULL;
        char port[8];
        const union MHD_DaemonInfo *di;
        unsigned flags;
        int rc;
        bool ok = false;

        if (!(srv = calloc(1, sizeof(*srv)))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        pthread_mutex_init(&srv->conns_lock, NULL);
        srv->path_log = (tecg_log_limit_t)TECG_LOG_LIMIT_INIT(10, 10000);
        srv->host_log = (tecg_log_limit_t)TECG_LOG_LIMIT_INIT(10, 10000);
        srv->auth_log = (tecg_log_limit_t)TECG_LOG_LIMIT_INIT(10, 10000);
        srv->mhd_log = (tecg_log_limit_t)TECG_LOG_LIMIT_INIT(10, 10000);
        srv->conf = *conf;
        srv->store = store;
        if (!srv->conf.bind_address || !*srv->conf.bind_address)
                srv->conf.bind_address = "127.0.0.1";
        if (!srv->conf.max_connections)
                srv->conf.max_connections = 512;
        if (!srv->conf.max_connections_per_client)
                srv->conf.max_connections_per_client = 32;
        if (!srv->conf.max_sse_clients)
                srv->conf.max_sse_clients = 128;
        if (srv->conf.request_timeout_ms <= 0)
                srv->conf.request_timeout_ms = 10000;
        if (srv->conf.sse_keepalive_ms <= 0)
                srv->conf.sse_keepalive_ms = 15000;
        if (srv->conf.connection_timeout_s <= 0)
                srv->conf.connection_timeout_s = 60;
        if (srv->conf.session_ttl_s <= 0)
                srv->conf.session_ttl_s = 28800;
        if (!(srv->bind_address = strdup(srv->conf.bind_address))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        srv->conf.bind_address = srv->bind_address;
        srv->conf.allowed_hosts = NULL; /* hosts_buf holds them */
        if (hosts_setup(srv, conf->allowed_hosts, errstr, errstr_size))
                goto done;
        if (sodium_init() < 0) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "libsodium cannot start");
                goto done;
        }
        randombytes_buf(srv->session_key, sizeof(srv->session_key));
        if (!conf->tls_cert_pem != !conf->tls_key_pem) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "HTTPS needs both a certificate and its key");
                goto done;
        }
        if (conf->tls_cert_pem && conf->tls_key_pem) {
                if (tecg_http_server_tls_check(conf->tls_cert_pem, conf->tls_key_pem,
                                               conf->tls_client_ca_pem, errstr, errstr_size))
                        goto done;
                if (!(srv->tls_cert = strdup(conf->tls_cert_pem)) ||
                    !(srv->tls_key = strdup(conf->tls_key_pem)) ||
                    (conf->tls_client_ca_pem && !(srv->tls_ca = strdup(conf->tls_client_ca_pem)))) {
                        tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                        goto done;
                }
        }
        srv->conf.tls_cert_pem = srv->conf.tls_key_pem = srv->conf.tls_client_ca_pem = NULL;

        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        snprintf(port, sizeof(port), "%u", (unsigned)conf->port);
        if ((rc = getaddrinfo(srv->bind_address, port, &hints, &ai)) != 0) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "http bind address %s: %s",
                            srv->bind_address, gai_strerror(rc));
                goto done;
        }
        if (!srv->conf.tokens && !tecg_http_server_is_loopback(srv->bind_address)) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "serving %s without authentication: only a loopback address may",
                            srv->bind_address);
                goto done;
        }
        flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO |
                MHD_USE_ERROR_LOG;
        if (ai->ai_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        if (srv->tls_cert)
                flags |= MHD_USE_TLS;
        /* An option list that ends early when there is no TLS: the TLS
         * options come last. */
        srv->daemon = MHD_start_daemon(
                flags, conf->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->conf.max_connections,
                MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)srv->conf.max_connections_per_client,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->conf.connection_timeout_s,
                MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_URI_LOG_CALLBACK,
                on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
                srv->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->tls_cert,
                MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
                srv->tls_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, srv->tls_ca,
                MHD_OPTION_END);
        if (!srv->daemon) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                            "cannot serve HTTP on %s port %u (in use or not "
                            "an address of this host?)",
                            srv->bind_address, (unsigned)conf->port);
                goto done;
        }
        di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
        srv->port = di ? di->port : conf->port;
        if (pthread_create(&srv->watchdog, NULL, watchdog_main, srv) != 0) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "cannot start the request watchdog");
                goto done;
        }
        srv->watchdog_running = true;
        tecg_log_info(FAC, "serving %s on %s port %u%s", srv->tls_cert ? "HTTPS" : "HTTP",
                      srv->bind_address, (unsigned)srv->port,
                      srv->conf.tokens ? "" : " WITHOUT authentication");
        ok = true;
done:
        if (ai)
                freeaddrinfo(ai);
        if (!ok) {
                tecg_http_server_destroy(srv);
                srv = NULL;
        }
        return srv;
}

uint16_t tecg_http_server_port(const tecg_http_server_t *srv) {
        return srv && srv->daemon ? srv->port : 0;
}

void tecg_http_server_stop(tecg_http_server_t *srv) {
        if (!srv || !srv->daemon)
                return;
        atomic_store(&srv->stopping, true);
        if (srv->watchdog_running) {
                pthread_join(srv->watchdog, NULL);
                srv->watchdog_running = false;
        }
        /* Streams blocked on the store return at once; then
         * MHD_stop_daemon() closes the sockets and joins the threads. */
        tecg_docstore_wakeup(srv->store);
        MHD_stop_daemon(srv->daemon);
        srv->daemon = NULL;
        tecg_log_info(FAC, "stopped serving on %s port %u", srv->bind_address, (unsigned)srv->port);
}

void tecg_http_server_destroy(tecg_http_server_t *srv) {
        if (!srv)
                return;
        tecg_http_server_stop(srv);
        if (srv->watchdog_running) /* started, but the daemon was not */
                pthread_join(srv->watchdog, NULL);
        sodium_memzero(srv->session_key, sizeof(srv->session_key));
        if (srv->tls_key)
                sodium_memzero(srv->tls_key, strlen(srv->tls_key));
        free(srv->tls_cert);
        free(srv->tls_key);
        free(srv->tls_ca);
        free(srv->hosts_buf);
        free(srv->bind_address);
        pthread_mutex_destroy(&srv->conns_lock);
        free(srv);
}
