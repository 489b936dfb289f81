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
 * wakes every waiter and then lets MHD_stop_daemon() join the threads. */
#include "http_server.h"

#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "clock.h"
#include "docsign.h"
#include "export.h"
#include "log.h"
#include "page.h"
#include "timefmt.h"

#define FAC "http"
#define SSE_SLICE_MS 500
#define SSE_BLOCK_SIZE ((size_t)16 * 1024)
#define SSE_FILTER_MAX 16
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

typedef enum {
        ROUTE_PAGE,
        ROUTE_LIST,
        ROUTE_DASHBOARD,
        ROUTE_STREAM,
        ROUTE_EXPORT,
        ROUTE_METRICS,
        ROUTE_HEALTHZ,
        ROUTE_SIGNING_KEY,
        ROUTE_OTHER,
        ROUTE__COUNT
} route_t;

static const char *const route_names[ROUTE__COUNT] = {
        "page",    "list",    "dashboard",   "stream", "export",
        "metrics", "healthz", "signing_key", "other",
};

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
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
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
                MHD_add_response_header(resp, "Content-Security-Policy", tecg_page_csp);
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

static enum MHD_Result serve_export(tecg_http_server_t *srv, struct MHD_Connection *conn,
                                    const char *method, const char *url, const char *file) {
        char name[TECG_DOCSTORE_NAME_MAX + 1], disp[160], errstr[256];
        const char *dot = strrchr(file, '.');
        tecg_export_format_t format;
        const char *ctype, *ext;
        tecg_doc_t doc = {0};
        tecg_buf_t body = TECG_BUF_INIT;
        struct MHD_Response *resp = NULL;
        unsigned status = MHD_HTTP_OK;
        enum MHD_Result ret;

        if (dot && strcmp(dot, ".csv") == 0) {
                format = TECG_EXPORT_CSV;
                ctype = "text/csv; charset=utf-8; header=present";
                ext = "csv";
        } else if (dot && strcmp(dot, ".ndjson") == 0) {
                format = TECG_EXPORT_NDJSON;
                ctype = "application/x-ndjson";
                ext = "ndjson";
        } else {
                return reply_error(srv, conn, ROUTE_EXPORT, method, url, MHD_HTTP_NOT_FOUND,
                                   "not_found",
                                   "export formats are NAME.csv and "
                                   "NAME.ndjson");
        }
        /* A name too long for the store cannot be in it. */
        snprintf(name, sizeof(name), "%.*s", (int)(dot - file), file);
        if ((size_t)(dot - file) > TECG_DOCSTORE_NAME_MAX ||
            tecg_docstore_get(srv->store, name, &doc) != TECG_OK)
                return reply_error(srv, conn, ROUTE_EXPORT, method, url, MHD_HTTP_NOT_FOUND,
                                   "not_found", "no dashboard named '%.*s'", (int)(dot - file),
                                   file);
        if (not_modified(conn, doc.version)) {
                status = MHD_HTTP_NOT_MODIFIED;
                resp = response_304(doc.version);
                goto done;
        }
        if (tecg_export(doc.name, doc.version, doc.json, doc.len, format, &body, errstr,
                        sizeof(errstr)) != TECG_OK) {
                tecg_log_warn(FAC, "export of %s: %s", name, errstr);
                ret = reply_error(srv, conn, ROUTE_EXPORT, method, url,
                                  MHD_HTTP_INTERNAL_SERVER_ERROR, "export_failed", "%s", errstr);
                goto out;
        }
        if (!(resp = response_own(&body, ctype)))
                goto done;
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s-v%llu.%s\"", name,
                 (unsigned long long)doc.version, ext);
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
                        tecg_log_debug(FAC, "stream: client went away");
                        return MHD_CONTENT_READER_END_WITH_ERROR;
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
        tecg_http_server_t *srv = cls;
        route_t route = ROUTE_OTHER;
        const char *arg = NULL;
        (void)version;
        (void)upload;
        (void)upload_size;
        (void)con_cls;

        if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
                route = ROUTE_PAGE;
        else if (strcmp(url, "/api/dashboards") == 0 || strcmp(url, "/api/dashboards/") == 0)
                route = ROUTE_LIST;
        else if (strncmp(url, "/api/dashboards/", 16) == 0 && !strchr(url + 16, '/'))
                route = ROUTE_DASHBOARD, arg = url + 16;
        else if (strcmp(url, "/api/stream") == 0)
                route = ROUTE_STREAM;
        else if (strncmp(url, "/api/export/", 12) == 0 && url[12] && !strchr(url + 12, '/'))
                route = ROUTE_EXPORT, arg = url + 12;
        else if (strcmp(url, "/metrics") == 0)
                route = ROUTE_METRICS;
        else if (strcmp(url, "/healthz") == 0)
                route = ROUTE_HEALTHZ;
        else if (strcmp(url, TECG_DOCSIGN_WELL_KNOWN) == 0 && srv->conf.signing_key_json)
                route = ROUTE_SIGNING_KEY;

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
        case ROUTE_HEALTHZ:
                return serve_healthz(srv, conn, method, url);
        case ROUTE_SIGNING_KEY:
                return finish(srv, conn, route, method, url, MHD_HTTP_OK,
                              response_copy(srv->conf.signing_key_json, "application/json"));
        default:
                return reply_error(srv, conn, ROUTE_OTHER, method, url, MHD_HTTP_NOT_FOUND,
                                   "not_found", "no such resource");
        }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

/* libmicrohttpd's own messages, one warning line each. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        char msg[512];
        size_t n;
        (void)cls;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
                msg[--n] = '\0';
        tecg_log_warn(FAC, "libmicrohttpd: %s", msg);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

void tecg_http_server_conf_init(tecg_http_server_conf_t *conf) {
        memset(conf, 0, sizeof(*conf));
        conf->bind_address = "127.0.0.1";
        conf->port = 0;
        conf->max_connections = 64;
        conf->max_sse_clients = 32;
        conf->sse_keepalive_ms = 15000;
        conf->connection_timeout_s = 60;
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
        srv->conf = *conf;
        srv->store = store;
        if (!srv->conf.bind_address || !*srv->conf.bind_address)
                srv->conf.bind_address = "127.0.0.1";
        if (!srv->conf.max_connections)
                srv->conf.max_connections = 64;
        if (!srv->conf.max_sse_clients)
                srv->conf.max_sse_clients = 32;
        if (srv->conf.sse_keepalive_ms <= 0)
                srv->conf.sse_keepalive_ms = 15000;
        if (srv->conf.connection_timeout_s <= 0)
                srv->conf.connection_timeout_s = 60;
        if (!(srv->bind_address = strdup(srv->conf.bind_address))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        srv->conf.bind_address = srv->bind_address;

        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        snprintf(port, sizeof(port), "%u", (unsigned)conf->port);
        if ((rc = getaddrinfo(srv->bind_address, port, &hints, &ai)) != 0) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "http bind address %s: %s",
                            srv->bind_address, gai_strerror(rc));
                goto done;
        }
        flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO |
                MHD_USE_ERROR_LOG;
        if (ai->ai_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        srv->daemon = MHD_start_daemon(
                flags, conf->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->conf.max_connections,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->conf.connection_timeout_s,
                MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
        if (!srv->daemon) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                            "cannot serve HTTP on %s port %u (in use or not "
                            "an address of this host?)",
                            srv->bind_address, (unsigned)conf->port);
                goto done;
        }
        di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
        srv->port = di ? di->port : conf->port;
        tecg_log_info(FAC, "serving on %s port %u", srv->bind_address, (unsigned)srv->port);
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
        free(srv->bind_address);
        free(srv);
}
