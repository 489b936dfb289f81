#include "monitor.h"

#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

#define FAC "monitor"

/* Prometheus scrapes every 15 s or so, health checks every few seconds:
 * a handful of connections is plenty, and a few more per client would
 * only let one client starve the others. */
#define MONITOR_MAX_CONNECTIONS 16
#define MONITOR_MAX_PER_CLIENT 4
#define MONITOR_CONNECTION_TIMEOUT_S 10

struct tecg_monitor {
        tecg_monitor_conf_t conf;
        char *bind_address;
        struct MHD_Daemon *daemon;
        uint16_t port;
        tecg_log_limit_t auth_log, mhd_log;

        pthread_mutex_t lock; /* guards the snapshot */
        tecg_buf_t metrics;   /* grouped exposition text */
        char *health_json;    /* NULL: default body */
        bool ready;
        int64_t published_ms; /* monotonic; 0 = never */
};

void tecg_monitor_conf_init(tecg_monitor_conf_t *conf) {
        memset(conf, 0, sizeof(*conf));
        conf->bind_address = "127.0.0.1";
        conf->stale_ms = 30000;
}

static bool is_loopback(const char *a) {
        return a && (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 ||
                     strcasecmp(a, "localhost") == 0);
}

unsigned tecg_monitor_health_answer(bool ready, const char *health_json, int64_t age_ms,
                                    int stale_ms, tecg_buf_t *out) {
        char text[256];
        if (age_ms < 0) {
                tecg_buf_puts(out, "{\"status\":\"unavailable\",\"reason\":\"starting\"}");
                return MHD_HTTP_SERVICE_UNAVAILABLE;
        }
        /* The main loop publishes about once a second: silence means it is
         * stuck (a Kafka call that does not return, a full disk), which
         * its own last answer cannot say. */
        if (age_ms > stale_ms) {
                snprintf(text, sizeof(text),
                         "{\"status\":\"unavailable\",\"reason\":\"the main loop has not "
                         "reported for %lld s\"}",
                         (long long)(age_ms / 1000));
                tecg_buf_puts(out, text);
                return MHD_HTTP_SERVICE_UNAVAILABLE;
        }
        if (health_json)
                tecg_buf_puts(out, health_json);
        else
                tecg_buf_puts(out, ready ? "{\"status\":\"ok\"}" : "{\"status\":\"unavailable\"}");
        return ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
}

/* Takes ownership of body (malloc'ed, NUL-terminated). */
static enum MHD_Result reply(struct MHD_Connection *mc, unsigned status, const char *ctype,
                             char *body, const char *challenge) {
        struct MHD_Response *resp =
                MHD_create_response_from_buffer_with_free_callback(strlen(body), body, free);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        if (challenge)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
        enum MHD_Result ret = MHD_queue_response(mc, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *mc, unsigned status, const char *code,
                                   const char *message, const char *challenge) {
        char text[256];
        snprintf(text, sizeof(text), "{\"error\":\"%s\",\"message\":\"%s\"}", code, message);
        char *body = strdup(text);
        return body ? reply(mc, status, "application/json", body, challenge) : MHD_NO;
}

/* The bearer token's client when it is granted /metrics; 401 or 403
 * otherwise (*status), logged at most a few times a minute: a
 * misconfigured scraper retries every interval. */
static bool authorized(tecg_monitor_t *m, struct MHD_Connection *mc, unsigned *status) {
        const char *auth =
                MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        const tecg_token_entry_t *who = NULL;
        if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
                auth += 7;
                while (*auth == ' ')
                        auth++;
                who = tecg_tokens_verify(m->conf.tokens, auth, strlen(auth));
        }
        if (!who) {
                tecg_log_limited(&m->auth_log, TECG_LOG_WARNING, FAC,
                                 "GET /metrics without a valid token: 401");
                *status = MHD_HTTP_UNAUTHORIZED;
                return false;
        }
        if (!tecg_tokens_allows(who, TECG_MONITOR_METRICS_PATH)) {
                tecg_log_limited(&m->auth_log, TECG_LOG_WARNING, FAC,
                                 "GET /metrics by %s, not granted /metrics: 403",
                                 tecg_token_name(who));
                *status = MHD_HTTP_FORBIDDEN;
                return false;
        }
        return true;
}

static enum MHD_Result serve_metrics(tecg_monitor_t *m, struct MHD_Connection *mc) {
        unsigned status = 0;
        if (m->conf.tokens && !authorized(m, mc, &status))
                return status == MHD_HTTP_UNAUTHORIZED
                               ? reply_error(mc, status, "unauthorized",
                                             "a bearer token granted /metrics is required",
                                             "Bearer realm=\"tecg\"")
                               : reply_error(mc, status, "forbidden",
                                             "this token is not granted /metrics", NULL);
        pthread_mutex_lock(&m->lock);
        char *body = malloc(m->metrics.len + 1);
        if (body) {
                if (m->metrics.len)
                        memcpy(body, m->metrics.data, m->metrics.len);
                body[m->metrics.len] = '\0';
        }
        pthread_mutex_unlock(&m->lock);
        if (!body)
                return MHD_NO;
        return reply(mc, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, NULL);
}

static enum MHD_Result serve_health(tecg_monitor_t *m, struct MHD_Connection *mc) {
        tecg_buf_t out = TECG_BUF_INIT;
        pthread_mutex_lock(&m->lock);
        int64_t age = m->published_ms ? tecg_mono_ms() - m->published_ms : -1;
        unsigned status =
                tecg_monitor_health_answer(m->ready, m->health_json, age, m->conf.stale_ms, &out);
        pthread_mutex_unlock(&m->lock);
        if (tecg_buf_terminate(&out)) {
                tecg_buf_free(&out);
                return MHD_NO;
        }
        return reply(mc, status, "application/json", (char *)out.data, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
        tecg_monitor_t *m = cls;
        (void)version;
        (void)upload;
        /* A request body is never read: the first call answers. */
        if (*upload_size) {
                *upload_size = 0;
                return MHD_YES;
        }
        if (!*con_cls) {
                *con_cls = m; /* headers only; the answer comes on the next call */
                return MHD_YES;
        }
        bool metrics = strcmp(url, "/metrics") == 0, health = strcmp(url, "/healthz") == 0;
        if (!metrics && !health)
                return reply_error(mc, MHD_HTTP_NOT_FOUND, "not_found",
                                   "only /metrics and /healthz are served here", NULL);
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return reply_error(mc, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                                   "GET or HEAD", NULL);
        return metrics ? serve_metrics(m, mc) : serve_health(m, mc);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        tecg_monitor_t *m = cls;
        char msg[512];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        size_t n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
                msg[--n] = '\0';
        tecg_log_limited(&m->mhd_log, TECG_LOG_WARNING, FAC, "libmicrohttpd: %s", msg);
}

tecg_monitor_t *tecg_monitor_start(const tecg_monitor_conf_t *conf, char *errstr,
                                   size_t errstr_size) {
        tecg_monitor_t *m = NULL;
        struct addrinfo hints = {0}, *ai = NULL;
        char port[8];
        bool ok = false;
        int rc;

        if (!(m = calloc(1, sizeof(*m)))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        pthread_mutex_init(&m->lock, NULL);
        m->auth_log = (tecg_log_limit_t)TECG_LOG_LIMIT_INIT(5, 60000);
        m->mhd_log = (tecg_log_limit_t)TECG_LOG_LIMIT_INIT(5, 60000);
        m->metrics = (tecg_buf_t)TECG_BUF_INIT;
        m->conf = *conf;
        if (!(m->bind_address = strdup(conf->bind_address ? conf->bind_address : "127.0.0.1"))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        m->conf.bind_address = m->bind_address;
        if (m->conf.stale_ms <= 0)
                m->conf.stale_ms = 30000;
        if (!m->conf.tokens && !is_loopback(m->bind_address)) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "serving /metrics on %s without tokens: only a loopback address "
                            "may (set metrics.http.tokens)",
                            m->bind_address);
                goto done;
        }
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        snprintf(port, sizeof(port), "%u", (unsigned)conf->port);
        if ((rc = getaddrinfo(m->bind_address, port, &hints, &ai)) != 0) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "metrics.http.address %s: %s",
                            m->bind_address, gai_strerror(rc));
                goto done;
        }
        /* One internal thread polls every connection: monitoring answers
         * are small copies made under a mutex, never a wait. */
        unsigned flags =
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
        if (ai->ai_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        m->daemon = MHD_start_daemon(
                flags, conf->port, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER,
                on_mhd_log, m, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                (unsigned)MONITOR_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                (unsigned)MONITOR_MAX_PER_CLIENT, MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned)MONITOR_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
        if (!m->daemon) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                            "cannot serve /metrics on %s port %u (in use, or not an address of "
                            "this host?)",
                            m->bind_address, (unsigned)conf->port);
                goto done;
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
        m->port = di ? di->port : conf->port;
        tecg_log_info(FAC, "serving /metrics and /healthz at http://%s:%u%s", m->bind_address,
                      (unsigned)m->port,
                      m->conf.tokens ? " (/metrics with a token)" : " (no token needed)");
        ok = true;
done:
        if (ai)
                freeaddrinfo(ai);
        if (!ok) {
                tecg_monitor_destroy(m);
                m = NULL;
        }
        return m;
}

uint16_t tecg_monitor_port(const tecg_monitor_t *m) {
        return m ? m->port : 0;
}

tecg_err_t tecg_monitor_publish(tecg_monitor_t *m, const tecg_buf_t *metrics, bool ready,
                                const char *health_json) {
        tecg_buf_t grouped = TECG_BUF_INIT;
        char *json = NULL;
        tecg_err_t err;
        /* Built outside the lock: a scrape never waits for the grouping. */
        if ((metrics->len && (err = tecg_buf_append(&grouped, metrics->data, metrics->len))) ||
            (err = tecg_metrics_group(&grouped)))
                goto done;
        if (health_json && !(json = strdup(health_json))) {
                err = TECG_ERR_NOMEM;
                goto done;
        }
        pthread_mutex_lock(&m->lock);
        tecg_buf_t old = m->metrics;
        char *old_json = m->health_json;
        m->metrics = grouped;
        m->health_json = json;
        m->ready = ready;
        m->published_ms = tecg_mono_ms();
        pthread_mutex_unlock(&m->lock);
        grouped = old;
        json = old_json;
        err = TECG_OK;
done:
        tecg_buf_free(&grouped);
        free(json);
        return err;
}

void tecg_monitor_destroy(tecg_monitor_t *m) {
        if (!m)
                return;
        if (m->daemon)
                MHD_stop_daemon(m->daemon);
        tecg_buf_free(&m->metrics);
        free(m->health_json);
        free(m->bind_address);
        pthread_mutex_destroy(&m->lock);
        free(m);
}
