#include "http_input.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "clock.h"
#include "event.h"
#include "log.h"

#define FAC "http"
#define JSON_FLAGS (JSON_COMPACT | JSON_ENSURE_ASCII)
#define STOP_GRACE_MS 1000
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* One line's fate, as the ingest reports it. */
typedef enum { LINE_UNKNOWN = 0, LINE_SENT, LINE_DELIVERED, LINE_REJECTED } line_state_t;

typedef struct {
        line_state_t state;
        char event_id[TECG_EVENT_ID_MAX + 1];
        char *reason;
} line_t;

typedef enum {
        JOB_RECEIVED, /* body complete, waiting for the main thread */
        JOB_INGESTED, /* handed to the ingest, waiting for Kafka */
        JOB_ANSWERED, /* status and body set: the connection may reply */
} job_state_t;

/* One request from its complete body to its answer. Two owners: the
 * connection thread (until it replies) and the ingest (from
 * tecg_ingest_request() to report.done); freed by the last. */
typedef struct job {
        struct job *next; /* in hi->jobs */
        struct tecg_http_input *hi;
        int refs;
        job_state_t state;
        int fd; /* the body, a memory file */
        size_t body_len;
        char name[TECG_TOKENS_NAME_MAX + 32];
        int64_t received_ms;
        line_t *lines;
        size_t nlines, cap;
        unsigned status; /* the answer */
        char *body;
} job_t;

/* Per connection: the request deadline. */
typedef struct conn {
        struct conn *prev, *next;
        int fd;
        int64_t since_ms;
        bool busy; /* a complete request is being answered */
        bool dropped;
} conn_t;

/* Per request. */
typedef struct {
        bool seen;
        bool refused; /* answered before its body's end: discard the rest */
        int fd;
        size_t len;
        char client[TECG_TOKENS_NAME_MAX + 1];
        job_t *job;
} req_t;

struct tecg_http_input {
        tecg_http_input_conf_t conf;
        char *bind_address, *tls_cert, *tls_key;
        struct MHD_Daemon *daemon;
        uint16_t port;
        bool quiesced;
        pthread_mutex_t lock; /* everything below */
        pthread_cond_t answered;
        bool stopping;
        job_t *jobs; /* received or ingested, not yet answered */
        conn_t *conns;
        uint64_t seq;
        tecg_http_input_stats_t stats;
        tecg_log_limit_t auth_log, mhd_log, unavailable_log;
};

/* ---- jobs (called with hi->lock held unless said) ---------------------- */

static void job_free(job_t *j) {
        for (size_t i = 0; i < j->nlines; i++)
                free(j->lines[i].reason);
        free(j->lines);
        free(j->body);
        if (j->fd >= 0)
                close(j->fd);
        free(j);
}

static void job_unref(job_t *j) {
        if (--j->refs == 0)
                job_free(j);
}

static void jobs_remove(tecg_http_input_t *hi, job_t *j) {
        for (job_t **pp = &hi->jobs; *pp; pp = &(*pp)->next)
                if (*pp == j) {
                        *pp = j->next;
                        j->next = NULL;
                        return;
                }
}

/* Sets the answer and wakes the connection thread. */
static void job_answer(tecg_http_input_t *hi, job_t *j, unsigned status, char *body) {
        if (j->state == JOB_ANSWERED) {
                free(body);
                return;
        }
        j->state = JOB_ANSWERED;
        j->status = status;
        j->body = body;
        jobs_remove(hi, j);
        pthread_cond_broadcast(&hi->answered);
}

static char *error_json(const char *code, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static char *error_json(const char *code, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_t *o = json_pack("{s:s, s:s}", "error", code, "message", msg);
        char *text = o ? json_dumps(o, JSON_FLAGS) : NULL;
        json_decref(o);
        return text;
}

/* 503: the client may assume nothing of this body was accepted. */
static void job_unavailable(tecg_http_input_t *hi, job_t *j, const char *why) {
        /* Limited: during an outage every client posting gets one. */
        tecg_log_limited(&hi->unavailable_log, TECG_LOG_WARNING, FAC, "%s: 503: %s", j->name, why);
        job_answer(hi, j, MHD_HTTP_SERVICE_UNAVAILABLE,
                   error_json("unavailable",
                              "%s; nothing of this request may be assumed accepted: post the "
                              "same lines again later (lines that did reach Kafka are "
                              "de-duplicated by event_id)",
                              why));
}

static line_t *job_line(job_t *j, uint64_t line) {
        if (line == 0 || line > SIZE_MAX / sizeof(line_t) / 2)
                return NULL;
        if (line > j->cap) {
                size_t cap = j->cap ? j->cap : 64;
                while (cap < line)
                        cap *= 2;
                line_t *l = realloc(j->lines, cap * sizeof(*l));
                if (!l)
                        return NULL;
                memset(l + j->cap, 0, (cap - j->cap) * sizeof(*l));
                j->lines = l;
                j->cap = cap;
        }
        if (line > j->nlines)
                j->nlines = line;
        return &j->lines[line - 1];
}

/* ---- the ingest's report (main thread) -------------------------------- */

static void on_sent(void *ctx, uint64_t line, const char *event_id) {
        job_t *j = ctx;
        pthread_mutex_lock(&j->hi->lock);
        line_t *l = job_line(j, line);
        if (l) {
                l->state = LINE_SENT;
                snprintf(l->event_id, sizeof(l->event_id), "%s", event_id);
        }
        pthread_mutex_unlock(&j->hi->lock);
}

static void on_outcome(void *ctx, uint64_t line, bool delivered, const char *reason) {
        job_t *j = ctx;
        pthread_mutex_lock(&j->hi->lock);
        line_t *l = job_line(j, line);
        if (l) {
                l->state = delivered ? LINE_DELIVERED : LINE_REJECTED;
                free(l->reason);
                l->reason = reason ? strdup(reason) : NULL;
        }
        pthread_mutex_unlock(&j->hi->lock);
}

/* The event_id of a rejected line, when it has a valid one: the client
 * finds its line by it. */
static void rejected_ids(job_t *j) {
        void *map = NULL;
        if (j->body_len == 0 ||
            (map = mmap(NULL, j->body_len, PROT_READ, MAP_PRIVATE, j->fd, 0)) == MAP_FAILED)
                return;
        const char *p = map, *end = p + j->body_len;
        for (size_t n = 1; p < end && n <= j->nlines; n++) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *eol = nl ? nl : end;
                line_t *l = &j->lines[n - 1];
                if (l->state == LINE_REJECTED && !l->event_id[0]) {
                        json_t *o = json_loadb(p, (size_t)(eol - p), JSON_DISABLE_EOF_CHECK, NULL);
                        const char *id = json_string_value(json_object_get(o, "event_id"));
                        if (id && !tecg_event_id_check(id, strlen(id)))
                                snprintf(l->event_id, sizeof(l->event_id), "%s", id);
                        json_decref(o);
                }
                p = eol + 1;
        }
        munmap(map, j->body_len);
}

static char *results_json(job_t *j, uint64_t *accepted, uint64_t *rejected) {
        json_t *results = json_array(), *o = NULL;
        char *text = NULL;
        *accepted = *rejected = 0;
        if (!results)
                return NULL;
        for (size_t i = 0; i < j->nlines; i++) {
                const line_t *l = &j->lines[i];
                bool ok = l->state == LINE_DELIVERED;
                json_t *r = json_pack("{s:I, s:s}", "line", (json_int_t)i + 1, "status",
                                      ok ? "accepted" : "rejected");
                if (!r)
                        goto done;
                if (l->event_id[0])
                        json_object_set_new(r, "event_id", json_string(l->event_id));
                if (!ok)
                        json_object_set_new(
                                r, "reason",
                                json_string(l->reason ? l->reason : "no outcome (internal error)"));
                json_array_append_new(results, r);
                if (ok)
                        (*accepted)++;
                else
                        (*rejected)++;
        }
        o = json_pack("{s:I, s:I, s:I, s:O}", "lines", (json_int_t)j->nlines, "accepted",
                      (json_int_t)*accepted, "rejected", (json_int_t)*rejected, "results", results);
        if (o)
                text = json_dumps(o, JSON_FLAGS);
done:
        json_decref(o);
        json_decref(results);
        return text;
}

static void on_done(void *ctx, bool complete) {
        job_t *j = ctx;
        tecg_http_input_t *hi = j->hi;
        pthread_mutex_lock(&hi->lock);
        if (j->state != JOB_ANSWERED) {
                if (!complete) {
                        job_unavailable(hi, j, "the producer stopped before every line was sent");
                } else {
                        uint64_t accepted, rejected;
                        rejected_ids(j);
                        char *text = results_json(j, &accepted, &rejected);
                        if (text) {
                                hi->stats.lines_accepted += accepted;
                                hi->stats.lines_rejected += rejected;
                                job_answer(hi, j, MHD_HTTP_OK, text);
                        } else {
                                job_answer(hi, j, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                           error_json("internal", "out of memory"));
                        }
                }
        }
        job_unref(j);
        pthread_mutex_unlock(&hi->lock);
}

/* ---- main thread ------------------------------------------------------ */

/* Hands one received body to the ingest, unless Kafka cannot take it now. */
static void job_ingest(tecg_http_input_t *hi, tecg_ingest_t *ing, job_t *j) {
        char why[512];
        /* Called without the lock: the report callbacks take it. */
        if (tecg_ingest_ready(ing, why, sizeof(why))) {
                pthread_mutex_lock(&hi->lock);
                job_unavailable(hi, j, why);
                pthread_mutex_unlock(&hi->lock);
                return;
        }
        if (lseek(j->fd, 0, SEEK_SET) != 0) {
                pthread_mutex_lock(&hi->lock);
                job_answer(hi, j, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           error_json("internal", "cannot read the body again"));
                pthread_mutex_unlock(&hi->lock);
                return;
        }
        tecg_ingest_report_t report = {
                .sent = on_sent, .outcome = on_outcome, .done = on_done, .ctx = j};
        pthread_mutex_lock(&hi->lock);
        j->refs++; /* the ingest's, dropped by on_done */
        j->state = JOB_INGESTED;
        pthread_mutex_unlock(&hi->lock);
        tecg_err_t err = tecg_ingest_request(ing, j->name, j->fd, &report, why, sizeof(why));
        if (err == TECG_ERR_NOMEM) { /* no batch was made: no report will come */
                pthread_mutex_lock(&hi->lock);
                job_answer(hi, j, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           error_json("internal", "out of memory"));
                job_unref(j);
                pthread_mutex_unlock(&hi->lock);
        } else if (err && err != TECG_ERR_RETRY) {
                tecg_log_warn(FAC, "%s", why);
        }
}

void tecg_http_input_run(tecg_http_input_t *hi, tecg_ingest_t *ing) {
        int64_t now = tecg_mono_ms();
        /* One job at a time: answering one changes the list. */
        for (;;) {
                job_t *todo = NULL;
                bool changed = false;
                pthread_mutex_lock(&hi->lock);
                for (job_t *j = hi->jobs; j && !todo && !changed; j = j->next) {
                        if (j->state == JOB_RECEIVED && (hi->quiesced || hi->stopping)) {
                                job_unavailable(hi, j, "the producer is shutting down");
                                changed = true;
                        } else if (j->state == JOB_RECEIVED) {
                                todo = j;
                                todo->refs++;
                        } else if (now - j->received_ms > hi->conf.response_timeout_ms) {
                                char why[160];
                                snprintf(why, sizeof(why),
                                         "Kafka did not acknowledge every line within "
                                         "http.response.timeout.ms (%d ms)",
                                         hi->conf.response_timeout_ms);
                                job_unavailable(hi, j, why);
                                changed = true;
                        }
                }
                pthread_mutex_unlock(&hi->lock);
                if (todo) {
                        job_ingest(hi, ing, todo);
                        pthread_mutex_lock(&hi->lock);
                        job_unref(todo);
                        pthread_mutex_unlock(&hi->lock);
                } else if (!changed) {
                        break;
                }
        }

        /* Connections that did not deliver a complete request in time:
         * their own thread sees end-of-file and closes. */
        unsigned dropped = 0;
        pthread_mutex_lock(&hi->lock);
        for (conn_t *c = hi->conns; c; c = c->next) {
                if (c->busy || c->dropped || c->fd < 0 ||
                    now - c->since_ms < hi->conf.request_timeout_ms)
                        continue;
                shutdown(c->fd, SHUT_RDWR);
                c->dropped = true;
                dropped++;
        }
        pthread_mutex_unlock(&hi->lock);
        if (dropped)
                tecg_log_notice(FAC,
                                "closed %u connection(s) without a complete request after "
                                "%d ms (http.request.timeout.ms)",
                                dropped, hi->conf.request_timeout_ms);
}

size_t tecg_http_input_pending(tecg_http_input_t *hi) {
        size_t n = 0;
        pthread_mutex_lock(&hi->lock);
        for (job_t *j = hi->jobs; j; j = j->next)
                n++;
        pthread_mutex_unlock(&hi->lock);
        return n;
}

/* ---- connection threads ----------------------------------------------- */

static void conn_set_busy(tecg_http_input_t *hi, struct MHD_Connection *mc, bool busy) {
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        conn_t *c = ci ? ci->socket_context : NULL;
        if (!c)
                return;
        pthread_mutex_lock(&hi->lock);
        c->busy = busy;
        c->since_ms = tecg_mono_ms();
        pthread_mutex_unlock(&hi->lock);
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
        tecg_http_input_t *hi = cls;
        conn_t *c;
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
                if (!(c = calloc(1, sizeof(*c)))) {
                        /* No deadline without a context: refuse instead. */
                        if (ci)
                                shutdown(ci->connect_fd, SHUT_RDWR);
                        return;
                }
                c->fd = ci ? ci->connect_fd : -1;
                c->since_ms = tecg_mono_ms();
                pthread_mutex_lock(&hi->lock);
                c->next = hi->conns;
                if (hi->conns)
                        hi->conns->prev = c;
                hi->conns = c;
                pthread_mutex_unlock(&hi->lock);
                *socket_context = c;
                return;
        }
        if (!(c = *socket_context))
                return;
        pthread_mutex_lock(&hi->lock);
        if (c->prev)
                c->prev->next = c->next;
        else
                hi->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        pthread_mutex_unlock(&hi->lock);
        free(c);
        *socket_context = NULL;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        tecg_http_input_t *hi = cls;
        req_t *r = *con_cls;
        (void)toe;
        if (r) {
                if (r->fd >= 0)
                        close(r->fd);
                if (r->job) { /* answered: serve_body() waited for it */
                        pthread_mutex_lock(&hi->lock);
                        job_unref(r->job);
                        pthread_mutex_unlock(&hi->lock);
                }
                free(r);
                *con_cls = NULL;
        }
        /* The next request on this connection gets its own deadline. */
        conn_set_busy(hi, mc, false);
}

/* Queues the answer (body consumed), counts it. */
static enum MHD_Result reply(tecg_http_input_t *hi, struct MHD_Connection *mc, unsigned status,
                             char *body, bool www_auth, const char *challenge) {
        struct MHD_Response *resp = NULL;
        enum MHD_Result ret = MHD_NO;
        if (!body)
                body = strdup("{\"error\":\"internal\",\"message\":\"out of memory\"}"),
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        if (body)
                resp = MHD_create_response_from_buffer_with_free_callback(strlen(body), body, free);
        if (!resp) {
                free(body);
                return MHD_NO; /* MHD closes the connection */
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        if (hi->tls_cert)
                MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
        if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
                char s[24];
                snprintf(s, sizeof(s), "%d", hi->conf.retry_after_s);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, s);
        }
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
        if (www_auth)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
        ret = MHD_queue_response(mc, status, resp);
        MHD_destroy_response(resp);
        pthread_mutex_lock(&hi->lock);
        if (status < 600)
                hi->stats.requests[status]++;
        pthread_mutex_unlock(&hi->lock);
        return ret;
}

/* Who is asking: NULL, with *presented telling a wrong token from none. */
static const tecg_token_entry_t *authenticate(tecg_http_input_t *hi, struct MHD_Connection *mc,
                                              bool *presented) {
        const char *auth =
                MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        *presented = auth != NULL;
        if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
                return NULL;
        auth += 7;
        while (*auth == ' ')
                auth++;
        return tecg_tokens_verify(hi->conf.tokens, auth, strlen(auth));
}

bool tecg_http_input_ctype_ok(const char *ctype) {
        static const char *const ok[] = {"application/x-ndjson", "application/ndjson",
                                         "application/jsonl", "application/x-jsonlines"};
        if (!ctype)
                return false;
        while (*ctype == ' ')
                ctype++;
        size_t n = strcspn(ctype, "; \t");
        for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
                if (strlen(ok[i]) == n && strncasecmp(ctype, ok[i], n) == 0)
                        return true;
        return false;
}

/* Everything that can be said before the body: route, method, token,
 * content type, announced length. Returns the status and sets *body, or 0
 * when the request may go on. */
static unsigned check_request(tecg_http_input_t *hi, struct MHD_Connection *mc, const char *url,
                              const char *method, req_t *r, char **body, const char **challenge) {
        const char *clen;
        *challenge = NULL;
        if (strcmp(url, TECG_HTTP_INPUT_PATH) != 0) {
                *body = error_json("not_found", "no such resource; events go to POST %s",
                                   TECG_HTTP_INPUT_PATH);
                return MHD_HTTP_NOT_FOUND;
        }
        if (hi->conf.tokens) {
                bool presented;
                const tecg_token_entry_t *who = authenticate(hi, mc, &presented);
                if (!who) {
                        if (presented)
                                tecg_log_limited(&hi->auth_log, TECG_LOG_WARNING, FAC,
                                                 "%s %s: token refused (401)", method,
                                                 TECG_HTTP_INPUT_PATH);
                        *challenge = presented ? "Bearer realm=\"tecg\", error=\"invalid_token\""
                                               : "Bearer realm=\"tecg\"";
                        *body = error_json("unauthorized", "%s",
                                           presented ? "the token is not valid"
                                                     : "a bearer token is required");
                        return MHD_HTTP_UNAUTHORIZED;
                }
                if (!tecg_tokens_allows(who, TECG_HTTP_INPUT_PATH)) {
                        tecg_log_limited(&hi->auth_log, TECG_LOG_WARNING, FAC,
                                         "%s %s: %s may not post events (403)", method,
                                         TECG_HTTP_INPUT_PATH, tecg_token_name(who));
                        *body = error_json("forbidden", "this token may not post to %s",
                                           TECG_HTTP_INPUT_PATH);
                        return MHD_HTTP_FORBIDDEN;
                }
                snprintf(r->client, sizeof(r->client), "%s", tecg_token_name(who));
        } else {
                snprintf(r->client, sizeof(r->client), "anonymous");
        }
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
                *body = error_json("method_not_allowed", "use POST");
                return MHD_HTTP_METHOD_NOT_ALLOWED;
        }
        if (!tecg_http_input_ctype_ok(MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                                                  MHD_HTTP_HEADER_CONTENT_TYPE))) {
                *body = error_json("unsupported_media_type",
                                   "the body must be NDJSON: Content-Type application/x-ndjson "
                                   "(or application/ndjson, application/jsonl, "
                                   "application/x-jsonlines)");
                return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
        }
        clen = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (clen && strtoull(clen, NULL, 10) > hi->conf.max_body_bytes) {
                *body = error_json("too_large",
                                   "the body is at most %zu bytes (http.max.body.bytes)",
                                   hi->conf.max_body_bytes);
                return MHD_HTTP_CONTENT_TOO_LARGE;
        }
        if ((r->fd = memfd_create("tecg-http-body", MFD_CLOEXEC)) < 0) {
                *body = error_json("internal", "cannot store the body: %s", strerror(errno));
                return MHD_HTTP_INTERNAL_SERVER_ERROR;
        }
        return 0;
}

static bool write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return false;
                p += w;
                n -= (size_t)w;
        }
        return true;
}

/* Hands the complete body to the main thread and waits for the answer. */
static enum MHD_Result serve_body(tecg_http_input_t *hi, struct MHD_Connection *mc, req_t *r) {
        job_t *j = calloc(1, sizeof(*j));
        if (!j)
                return reply(hi, mc, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             error_json("internal", "out of memory"), false, NULL);
        j->hi = hi;
        j->fd = r->fd;
        r->fd = -1;
        j->body_len = r->len;
        j->refs = 2; /* this thread (via r->job) and the list until answered */
        j->received_ms = tecg_mono_ms();
        pthread_mutex_lock(&hi->lock);
        snprintf(j->name, sizeof(j->name), "http:%s#%llu", r->client,
                 (unsigned long long)++hi->seq);
        r->job = j;
        if (hi->stopping) {
                j->state = JOB_ANSWERED;
                j->status = MHD_HTTP_SERVICE_UNAVAILABLE;
                j->body = error_json("unavailable", "the producer is shutting down");
        } else { /* first come, first sent */
                job_t **pp = &hi->jobs;
                while (*pp)
                        pp = &(*pp)->next;
                *pp = j;
        }
        while (j->state != JOB_ANSWERED)
                pthread_cond_wait(&hi->answered, &hi->lock);
        unsigned status = j->status;
        char *body = j->body;
        j->body = NULL;
        job_unref(j); /* the list's; r->job keeps it until on_completed() */
        pthread_mutex_unlock(&hi->lock);
        return reply(hi, mc, status, body, false, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
        tecg_http_input_t *hi = cls;
        req_t *r = *con_cls;
        (void)version;
        if (!r) {
                if (!(r = calloc(1, sizeof(*r))))
                        return MHD_NO;
                r->fd = -1;
                *con_cls = r;
                const char *challenge;
                char *body = NULL;
                unsigned status = check_request(hi, mc, url, method, r, &body, &challenge);
                if (status) {
                        r->refused = true;
                        return reply(hi, mc, status, body, challenge != NULL, challenge);
                }
                return MHD_YES;
        }
        if (r->refused) {
                *upload_size = 0;
                return MHD_YES;
        }
        if (*upload_size) {
                if (r->len + *upload_size > hi->conf.max_body_bytes) {
                        /* Answered at once (the connection closes after it),
                         * rather than reading a body of any size to its end. */
                        r->refused = true;
                        *upload_size = 0;
                        return reply(hi, mc, MHD_HTTP_CONTENT_TOO_LARGE,
                                     error_json("too_large",
                                                "the body is at most %zu bytes "
                                                "(http.max.body.bytes)",
                                                hi->conf.max_body_bytes),
                                     false, NULL);
                }
                if (!write_all(r->fd, upload, *upload_size)) {
                        r->refused = true;
                        *upload_size = 0;
                        return reply(hi, mc, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                     error_json("internal", "cannot store the body"), false, NULL);
                }
                r->len += *upload_size;
                *upload_size = 0;
                return MHD_YES;
        }
        conn_set_busy(hi, mc, true);
        return serve_body(hi, mc, r);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        tecg_http_input_t *hi = cls;
        char msg[512];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        size_t n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
                msg[--n] = '\0';
        tecg_log_limited(&hi->mhd_log, TECG_LOG_WARNING, FAC, "libmicrohttpd: %s", msg);
}

/* ---- life cycle ------------------------------------------------------- */

void tecg_http_input_conf_init(tecg_http_input_conf_t *conf) {
        memset(conf, 0, sizeof(*conf));
        conf->bind_address = "127.0.0.1";
        conf->max_connections = 64;
        conf->max_connections_per_client = 8;
        conf->request_timeout_ms = 30000;
        conf->response_timeout_ms = 30000;
        conf->retry_after_s = 10;
        conf->max_body_bytes = (size_t)4 * 1024 * 1024;
}

static bool is_loopback(const char *a) {
        return a && (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 ||
                     strcasecmp(a, "localhost") == 0);
}

tecg_http_input_t *tecg_http_input_start(const tecg_http_input_conf_t *conf, char *errstr,
                                         size_t errstr_size) {
        tecg_http_input_t *hi = NULL;
        struct addrinfo hints = {0}, *ai = NULL;
        char port[8];
        bool ok = false;
        int rc;

        if (!(hi = calloc(1, sizeof(*hi)))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        pthread_mutex_init(&hi->lock, NULL);
        pthread_cond_init(&hi->answered, NULL);
        hi->auth_log = (tecg_log_limit_t)TECG_LOG_LIMIT_INIT(10, 10000);
        hi->mhd_log = (tecg_log_limit_t)TECG_LOG_LIMIT_INIT(10, 10000);
        hi->unavailable_log = (tecg_log_limit_t)TECG_LOG_LIMIT_INIT(10, 10000);
        hi->conf = *conf;
        if (!(hi->bind_address = strdup(conf->bind_address ? conf->bind_address : "127.0.0.1")) ||
            (conf->tls_cert_pem && !(hi->tls_cert = strdup(conf->tls_cert_pem))) ||
            (conf->tls_key_pem && !(hi->tls_key = strdup(conf->tls_key_pem)))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        hi->conf.bind_address = hi->bind_address;
        hi->conf.tls_cert_pem = hi->conf.tls_key_pem = NULL;
        if (!hi->tls_cert != !hi->tls_key) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "HTTPS needs both a certificate and its key");
                goto done;
        }
        if (!hi->conf.tokens && !is_loopback(hi->bind_address)) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "taking events on %s without authentication: only a loopback "
                            "address may",
                            hi->bind_address);
                goto done;
        }
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        snprintf(port, sizeof(port), "%u", (unsigned)conf->port);
        if ((rc = getaddrinfo(hi->bind_address, port, &hints, &ai)) != 0) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "http bind address %s: %s",
                            hi->bind_address, gai_strerror(rc));
                goto done;
        }
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
        if (ai->ai_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        if (hi->tls_cert)
                flags |= MHD_USE_TLS;
        /* The TLS options come last: without TLS the list ends early. */
        hi->daemon = MHD_start_daemon(
                flags, conf->port, NULL, NULL, on_request, hi, MHD_OPTION_EXTERNAL_LOGGER,
                on_mhd_log, hi, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                hi->conf.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                hi->conf.max_connections_per_client, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                MHD_OPTION_NOTIFY_CONNECTION, on_connection, hi, MHD_OPTION_NOTIFY_COMPLETED,
                on_completed, hi, hi->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
                hi->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, hi->tls_key, MHD_OPTION_HTTPS_PRIORITIES,
                TLS_PRIORITIES, MHD_OPTION_END);
        if (!hi->daemon) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                            "cannot serve HTTP on %s port %u (in use, not an address of this "
                            "host, or a certificate and key that do not load?)",
                            hi->bind_address, (unsigned)conf->port);
                goto done;
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(hi->daemon, MHD_DAEMON_INFO_BIND_PORT);
        hi->port = di ? di->port : conf->port;
        tecg_log_info(FAC, "taking events at %s://%s:%u%s%s", hi->tls_cert ? "https" : "http",
                      hi->bind_address, (unsigned)hi->port, TECG_HTTP_INPUT_PATH,
                      hi->conf.tokens ? "" : " WITHOUT authentication");
        ok = true;
done:
        if (ai)
                freeaddrinfo(ai);
        if (!ok) {
                tecg_http_input_destroy(hi);
                hi = NULL;
        }
        return hi;
}

uint16_t tecg_http_input_port(const tecg_http_input_t *hi) {
        return hi && hi->daemon ? hi->port : 0;
}

void tecg_http_input_quiesce(tecg_http_input_t *hi) {
        if (!hi || !hi->daemon || hi->quiesced)
                return;
        MHD_socket s = MHD_quiesce_daemon(hi->daemon);
        if (s != MHD_INVALID_SOCKET)
                close(s);
        pthread_mutex_lock(&hi->lock);
        hi->quiesced = true;
        pthread_mutex_unlock(&hi->lock);
        tecg_log_info(FAC, "no longer accepting connections on %s port %u", hi->bind_address,
                      (unsigned)hi->port);
}

void tecg_http_input_stop(tecg_http_input_t *hi) {
        if (!hi || !hi->daemon)
                return;
        pthread_mutex_lock(&hi->lock);
        hi->stopping = true;
        while (hi->jobs)
                job_unavailable(hi, hi->jobs, "the producer is shutting down");
        pthread_mutex_unlock(&hi->lock);
        /* Let the answers just given leave before the sockets close (a
         * connection stays busy until its answer is sent). */
        for (int64_t end = tecg_mono_ms() + STOP_GRACE_MS; tecg_mono_ms() < end;) {
                bool busy = false;
                pthread_mutex_lock(&hi->lock);
                for (conn_t *c = hi->conns; c && !busy; c = c->next)
                        busy = c->busy;
                pthread_mutex_unlock(&hi->lock);
                if (!busy)
                        break;
                struct timespec ts = {0, 10 * 1000000L};
                nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(hi->daemon);
        hi->daemon = NULL;
        tecg_log_info(FAC, "stopped taking events on %s port %u", hi->bind_address,
                      (unsigned)hi->port);
}

void tecg_http_input_destroy(tecg_http_input_t *hi) {
        if (!hi)
                return;
        tecg_http_input_stop(hi);
        free(hi->tls_cert);
        if (hi->tls_key) {
                explicit_bzero(hi->tls_key, strlen(hi->tls_key));
                free(hi->tls_key);
        }
        free(hi->bind_address);
        pthread_cond_destroy(&hi->answered);
        pthread_mutex_destroy(&hi->lock);
        free(hi);
}

void tecg_http_input_stats(tecg_http_input_t *hi, tecg_http_input_stats_t *out) {
        pthread_mutex_lock(&hi->lock);
        *out = hi->stats;
        pthread_mutex_unlock(&hi->lock);
}
