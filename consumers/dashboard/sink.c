/* Push sink: one worker thread per receiver. See sink.h for the contract.
 *
 * State lives under one mutex. Per dashboard name there is one entry, kept
 * for the sink's life (the set of dashboard names is small and fixed), with
 * at most one pending document, at most one in flight (only the worker posts,
 * one request at a time) and the last versions delivered and settled
 * (delivered or rejected). Offers and settlements keep
 *     settled < in flight < pending
 * so versions reach the receiver in increasing order.
 *
 * Two condition variables on CLOCK_MONOTONIC: `wake` tells the worker about
 * offers and shutdown (it also bounds the backoff sleep, so destroy can end
 * it), `progress` tells waiters about settled versions and the worker's exit.
 * The worker logs after releasing the mutex, so a slow stderr never stalls
 * tecg_sink_offer(). */
#include "sink.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "docsign.h"
#include "http_client.h"
#include "log.h"

#define SINK_NAME_MAX 128
#define SINK_EXCERPT 160 /* bytes of a rejecting answer quoted in the log */

typedef struct sink_entry {
        struct sink_entry *next;
        char *dashboard;
        /* The latest version offered and not yet taken by the worker. */
        int has_pending;
        uint64_t pending_version;
        uint64_t pending_seq; /* order among dashboards: oldest first */
        /* The document, a NUL, then its signature and a NUL (empty when
         * unsigned): one allocation, so the pair never comes apart when a
         * failed POST puts the document back. */
        char *json;
        size_t len;
        /* Taken by the worker, POST in progress. */
        int in_flight;
        uint64_t flight_version;
        /* Outcomes. */
        int has_delivered;
        uint64_t delivered_version;
        int has_settled; /* delivered or rejected */
        uint64_t settled_version;
} sink_entry_t;

struct tecg_sink {
        char *name;
        /* The options it was made with, as one blob (sink_options_blob()),
         * so that a reload can tell an unchanged sink from a changed one. */
        char *options;
        size_t options_len;
        tecg_http_client_t *http;
        int64_t backoff_initial_ms;
        int64_t backoff_max_ms;

        pthread_mutex_t mu;
        pthread_cond_t wake;
        pthread_cond_t progress;
        int sync_ready; /* mutex and both condvars initialised */
        pthread_t thread;
        int thread_started;

        /* Everything below is guarded by mu. */
        sink_entry_t *entries;
        uint64_t next_seq;
        int stopping;
        int64_t flush_deadline_ms; /* monotonic */
        int worker_done;
        int64_t retry_at_ms; /* monotonic; meaningful while failing */
        int down;
        int64_t down_since_ms;
        uint64_t rng;
        tecg_sink_stats_t st; /* up and pending are derived in stats() */
};

/* A log line composed under the mutex and written after releasing it. */
typedef struct {
        int level; /* -1 = nothing to log */
        char text[1024];
} sink_logline_t;

static int64_t sink_mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sink_wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on cv until the monotonic time `until_ms`; ETIMEDOUT when reached. */
static int sink_timedwait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until_ms) {
        struct timespec ts = {.tv_sec = until_ms / 1000,
                              .tv_nsec = (long)(until_ms % 1000) * 1000000};
        return pthread_cond_timedwait(cv, mu, &ts);
}

/* xorshift64*: jitter only needs to spread retries, not to be secret. */
static uint64_t sink_rand(tecg_sink_t *s) {
        uint64_t x = s->rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s->rng = x;
        return x * 0x2545F4914F6CDD1DULL;
}

static int sink_valid_name(const char *name) {
        size_t n = 0;
        if (!name)
                return 0;
        for (; name[n]; n++) {
                char c = name[n];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.' || c == '-'))
                        return 0;
        }
        return n > 0 && n <= SINK_NAME_MAX;
}

static sink_entry_t *sink_find(tecg_sink_t *s, const char *dashboard) {
        for (sink_entry_t *e = s->entries; e; e = e->next)
                if (strcmp(e->dashboard, dashboard) == 0)
                        return e;
        return NULL;
}

/* The pending document offered earliest, so one busy dashboard cannot starve
 * the others. */
static sink_entry_t *sink_next_pending(tecg_sink_t *s) {
        sink_entry_t *best = NULL;
        for (sink_entry_t *e = s->entries; e; e = e->next)
                if (e->has_pending && (!best || e->pending_seq < best->pending_seq))
                        best = e;
        return best;
}

/* Not newer than what was already settled, is in flight or is pending. */
static int sink_is_stale(const sink_entry_t *e, uint64_t version) {
        return (e->has_settled && version <= e->settled_version) ||
               (e->in_flight && version <= e->flight_version) ||
               (e->has_pending && version <= e->pending_version);
}

/* The start of a response body, printable and on one line, for logs. */
static void sink_excerpt(const tecg_http_response_t *resp, char *out, size_t out_size) {
        size_t n = resp->body.len < SINK_EXCERPT ? resp->body.len : SINK_EXCERPT;
        if (n > out_size - 1)
                n = out_size - 1;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = resp->body.data[i];
                if (c < 0x20 || c == 0x7f)
                        out[i] = ' ';
                else
                        out[i] = (char)c;
        }
        out[n] = '\0';
}

/* Full jitter: a uniform delay in [0, cap], the cap doubling per consecutive
 * failure up to backoff_max_ms. A Retry-After from the receiver is a lower
 * bound, itself capped at backoff_max_ms so a receiver cannot park the sink
 * for longer than configured. */
static int64_t sink_backoff_ms(tecg_sink_t *s, long retry_after_s) {
        int64_t cap = s->backoff_initial_ms;
        for (uint32_t i = 1; i < s->st.consecutive_failures && cap < s->backoff_max_ms; i++)
                cap *= 2;
        if (cap > s->backoff_max_ms)
                cap = s->backoff_max_ms;
        int64_t delay = (int64_t)(sink_rand(s) % (uint64_t)(cap + 1));
        if (retry_after_s > 0) {
                int64_t ra = (int64_t)retry_after_s * 1000;
                if (ra > s->backoff_max_ms)
                        ra = s->backoff_max_ms;
                if (delay < ra)
                        delay = ra;
        }
        return delay;
}

/* One POST of one dashboard version (json as laid out by offer, its
 * signature after it); called without the mutex. */
static tecg_err_t sink_post(tecg_sink_t *s, const char *dashboard, uint64_t version,
                            const char *json, size_t len, tecg_http_response_t *resp) {
        char h_dash[32 + SINK_NAME_MAX], h_ver[48], h_sig[32 + TECG_DOCSIGN_VALUE_SIZE];
        const char *signature = json + len + 1;
        snprintf(h_dash, sizeof(h_dash), "X-Tecg-Dashboard: %s", dashboard);
        snprintf(h_ver, sizeof(h_ver), "X-Tecg-Version: %" PRIu64, version);
        snprintf(h_sig, sizeof(h_sig), TECG_DOCSIGN_HTTP_HEADER ": %s", signature);
        const char *const headers[] = {"Content-Type: application/json", h_dash, h_ver,
                                       *signature ? h_sig : NULL, NULL};
        return tecg_http_post(s->http, headers, json, len, resp);
}

/* Applies the outcome of a POST of `version` of e (whose document `json`
 * the worker had taken; ownership comes back here) and tells what to log.
 * Returns 1 when the version was settled (delivered or rejected), which the
 * worker announces to waiters once the log line is written. */
static int sink_settle(tecg_sink_t *s, sink_entry_t *e, uint64_t version, uint64_t seq, char *json,
                       size_t len, tecg_err_t err, const tecg_http_response_t *resp,
                       sink_logline_t *line) {
        int64_t now = sink_mono_ms();
        long status = err ? 0 : resp->status;
        char excerpt[SINK_EXCERPT + 1] = "";

        line->level = -1;
        e->in_flight = 0;
        if (!err)
                sink_excerpt(resp, excerpt, sizeof(excerpt));

        if (!err && status >= 200 && status < 300) {
                s->st.delivered++;
                s->st.last_success_ms = sink_wall_ms();
                s->st.last_status = status;
                e->has_delivered = e->has_settled = 1;
                e->delivered_version = e->settled_version = version;
                if (s->down) {
                        line->level = TECG_LOG_NOTICE;
                        snprintf(line->text, sizeof(line->text),
                                 "%s: up again after %.1f s, delivered %s "
                                 "version %" PRIu64 " after %" PRIu32 " failed attempts",
                                 s->name, (double)(now - s->down_since_ms) / 1000.0, e->dashboard,
                                 version, s->st.consecutive_failures);
                        s->down = 0;
                }
                s->st.consecutive_failures = 0;
                free(json);
                goto done;
        }

        s->st.failures++;
        s->st.last_status = status;
        if (err || status == 408 || status == 429 || status >= 500) {
                if (err)
                        snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", resp->errstr);
                else
                        snprintf(s->st.last_error, sizeof(s->st.last_error), "HTTP %ld: %s", status,
                                 excerpt);
                if (e->has_pending) {
                        /* A newer version came while this one was out. */
                        s->st.dropped++;
                        free(json);
                } else {
                        e->has_pending = 1;
                        e->pending_version = version;
                        e->pending_seq = seq;
                        e->json = json;
                        e->len = len;
                }
                s->st.consecutive_failures++;
                int64_t delay = sink_backoff_ms(s, err ? 0 : resp->retry_after_s);
                s->retry_at_ms = now + delay;
                if (!s->down && s->stopping) {
                        /* Failing during the final flush (or aborted by
                         * it): the leftover report says it all. */
                        s->down = 1;
                        s->down_since_ms = now;
                } else if (!s->down) {
                        s->down = 1;
                        s->down_since_ms = now;
                        line->level = TECG_LOG_WARNING;
                        snprintf(line->text, sizeof(line->text),
                                 "%s: down (%s), keeping latest versions, "
                                 "retrying",
                                 s->name, s->st.last_error);
                } else {
                        line->level = TECG_LOG_DEBUG;
                        snprintf(line->text, sizeof(line->text),
                                 "%s: attempt %" PRIu32 " failed (%s), next "
                                 "in %" PRId64 " ms",
                                 s->name, s->st.consecutive_failures, s->st.last_error, delay);
                }
                return 0; /* nothing settled */
        }

        /* 4xx (or an unfollowed 3xx): this version will never be accepted. */
        s->st.rejected++;
        snprintf(s->st.last_error, sizeof(s->st.last_error),
                 "HTTP %ld for %s version %" PRIu64 ": %s", status, e->dashboard, version, excerpt);
        e->has_settled = 1;
        e->settled_version = version;
        free(json);
        line->level = TECG_LOG_ERR;
        snprintf(line->text, sizeof(line->text),
                 "%s: receiver rejected dashboard %s version %" PRIu64
                 " with HTTP %ld, dropping this version: %s%s",
                 s->name, e->dashboard, version, status, excerpt,
                 s->down ? " (receiver answering again)" : "");
        /* The receiver answers, so it is not down; the next version goes
         * without waiting. */
        s->down = 0;
        s->st.consecutive_failures = 0;

done:
        return 1;
}

static void *sink_worker(void *arg) {
        tecg_sink_t *s = arg;
        tecg_http_response_t resp = TECG_HTTP_RESPONSE_INIT;
        sink_logline_t line;

        pthread_mutex_lock(&s->mu);
        for (;;) {
                int64_t now = sink_mono_ms();
                sink_entry_t *e = sink_next_pending(s);
                if (s->stopping && (!e || now >= s->flush_deadline_ms))
                        break;
                if (!e) {
                        pthread_cond_wait(&s->wake, &s->mu);
                        continue;
                }
                if (s->st.consecutive_failures > 0 && now < s->retry_at_ms) {
                        int64_t until = s->retry_at_ms;
                        if (s->stopping && s->flush_deadline_ms < until)
                                until = s->flush_deadline_ms;
                        sink_timedwait(&s->wake, &s->mu, until);
                        continue;
                }

                /* Take the document: offers may now queue a newer one. The
                 * entry and its name live until destroy, after the join. */
                char *json = e->json;
                size_t len = e->len;
                uint64_t version = e->pending_version, seq = e->pending_seq;
                e->json = NULL;
                e->has_pending = 0;
                e->in_flight = 1;
                e->flight_version = version;
                if (s->st.consecutive_failures > 0)
                        s->st.retries++;
                pthread_mutex_unlock(&s->mu);

                tecg_err_t err = sink_post(s, e->dashboard, version, json, len, &resp);

                pthread_mutex_lock(&s->mu);
                int settled = sink_settle(s, e, version, seq, json, len, err, &resp, &line);
                if (line.level >= 0) {
                        pthread_mutex_unlock(&s->mu);
                        tecg_log(line.level, "sink", "%s", line.text);
                        pthread_mutex_lock(&s->mu);
                }
                /* After the log line: whoever waited for this version reads
                 * a log that already tells about it. */
                if (settled)
                        pthread_cond_broadcast(&s->progress);
        }
        s->worker_done = 1;
        pthread_cond_broadcast(&s->progress);
        pthread_mutex_unlock(&s->mu);
        tecg_http_response_free(&resp);
        return NULL;
}

static void sink_free(tecg_sink_t *s) {
        sink_entry_t *e = s->entries, *next;
        for (; e; e = next) {
                next = e->next;
                free(e->json);
                free(e->dashboard);
                free(e);
        }
        tecg_http_client_destroy(s->http);
        if (s->options) /* it holds the bearer token */
                memset(s->options, 0, s->options_len);
        free(s->options);
        if (s->sync_ready) {
                pthread_cond_destroy(&s->progress);
                pthread_cond_destroy(&s->wake);
                pthread_mutex_destroy(&s->mu);
        }
        free(s->name);
        free(s);
}

/* Mutex plus two condvars timed on CLOCK_MONOTONIC (wall-clock jumps must
 * not stretch or cut a backoff). */
static int sink_sync_init(tecg_sink_t *s) {
        pthread_condattr_t attr;
        int ok = 0, mu = 0, wake = 0, attr_ok = 0;

        if (pthread_condattr_init(&attr) != 0)
                goto done;
        attr_ok = 1;
        if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
            pthread_mutex_init(&s->mu, NULL) != 0)
                goto done;
        mu = 1;
        if (pthread_cond_init(&s->wake, &attr) != 0)
                goto done;
        wake = 1;
        if (pthread_cond_init(&s->progress, &attr) != 0)
                goto done;
        ok = 1;

done:
        if (!ok && wake)
                pthread_cond_destroy(&s->wake);
        if (!ok && mu)
                pthread_mutex_destroy(&s->mu);
        if (attr_ok)
                pthread_condattr_destroy(&attr);
        return ok;
}

/* Every option that makes a sink behave differently, as text: url, token,
 * CA file and the numbers, each ended by a NUL. malloc'd; NULL when out of
 * memory. */
static char *sink_options_blob(const tecg_sink_options_t *o, size_t *len) {
        char *blob = NULL;
        size_t size = 0;
        FILE *fp = open_memstream(&blob, &size);
        if (!fp)
                return NULL;
        fprintf(fp, "%s%c%s%c%s%c%d %ld %ld %ld %ld", o->url ? o->url : "", 0,
                o->bearer_token ? o->bearer_token : "", 0, o->ca_file ? o->ca_file : "", 0,
                o->tls_no_verify, o->connect_timeout_ms, o->timeout_ms, o->backoff_initial_ms,
                o->backoff_max_ms);
        if (fclose(fp) != 0) {
                free(blob);
                return NULL;
        }
        *len = size;
        return blob;
}

tecg_sink_t *tecg_sink_new(const tecg_sink_options_t *opts, char *errstr, size_t errstr_size) {
        tecg_sink_t *s = NULL;
        tecg_err_t err = TECG_OK;
        char herr[256];

        if (!opts || !opts->name || !*opts->name || !opts->url) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "a sink needs a name and a url");
                goto done;
        }
        if (!(s = calloc(1, sizeof(*s))) || !(s->name = strdup(opts->name)) ||
            !(s->options = sink_options_blob(opts, &s->options_len))) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        s->backoff_initial_ms = opts->backoff_initial_ms > 0 ? opts->backoff_initial_ms
                                                             : TECG_SINK_BACKOFF_INITIAL_MS;
        s->backoff_max_ms =
                opts->backoff_max_ms > 0 ? opts->backoff_max_ms : TECG_SINK_BACKOFF_MAX_MS;
        if (s->backoff_max_ms < s->backoff_initial_ms)
                s->backoff_max_ms = s->backoff_initial_ms;
        s->rng = ((uint64_t)sink_wall_ms() << 20) ^ (uint64_t)(uintptr_t)s ^ (uint64_t)getpid() ^
                 0x9E3779B97F4A7C15ULL;
        if (!s->rng)
                s->rng = 1;

        tecg_http_options_t ho = {
                .url = opts->url,
                .bearer_token = opts->bearer_token,
                .ca_file = opts->ca_file,
                .tls_no_verify = opts->tls_no_verify,
                .connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                                   : TECG_SINK_CONNECT_TIMEOUT_MS,
                .timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : TECG_SINK_TIMEOUT_MS,
        };
        if (!(s->http = tecg_http_client_new(&ho, herr, sizeof(herr)))) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "sink %s: %s", opts->name,
                                  herr);
                goto done;
        }
        if (!sink_sync_init(s)) {
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                  "sink %s: cannot set up its mutex", opts->name);
                goto done;
        }
        s->sync_ready = 1;
        int rc = pthread_create(&s->thread, NULL, sink_worker, s);
        if (rc != 0) {
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                  "sink %s: cannot start its thread: %s", opts->name, strerror(rc));
                goto done;
        }
        s->thread_started = 1;
        tecg_log_info("sink", "%s: pushing dashboards to %s", s->name,
                      tecg_http_client_url(s->http));

done:
        if (err && s) {
                sink_free(s);
                s = NULL;
        }
        return s;
}

const char *tecg_sink_name(const tecg_sink_t *s) {
        return s->name;
}

tecg_err_t tecg_sink_offer(tecg_sink_t *s, const char *dashboard, uint64_t version,
                           const char *json, size_t len) {
        return tecg_sink_offer_signed(s, dashboard, version, json, len, NULL);
}

tecg_err_t tecg_sink_offer_signed(tecg_sink_t *s, const char *dashboard, uint64_t version,
                                  const char *json, size_t len, const char *signature) {
        tecg_err_t err = TECG_OK;
        char *copy = NULL;
        sink_entry_t *e;
        size_t slen = signature ? strlen(signature) : 0;

        if (!sink_valid_name(dashboard) || (!json && len) || slen >= TECG_DOCSIGN_VALUE_SIZE ||
            len > SIZE_MAX - slen - 2)
                return TECG_ERR_INVALID;
        /* Copy before locking: the worker is never held up by a memcpy. */
        if (!(copy = malloc(len + 1 + slen + 1)))
                return TECG_ERR_NOMEM;
        if (len)
                memcpy(copy, json, len);
        copy[len] = '\0';
        if (slen)
                memcpy(copy + len + 1, signature, slen);
        copy[len + 1 + slen] = '\0';

        pthread_mutex_lock(&s->mu);
        if (s->stopping) {
                err = TECG_ERR_INVALID;
                goto done;
        }
        if (!(e = sink_find(s, dashboard))) {
                if (!(e = calloc(1, sizeof(*e))) || !(e->dashboard = strdup(dashboard))) {
                        free(e);
                        err = TECG_ERR_NOMEM;
                        goto done;
                }
                e->next = s->entries;
                s->entries = e;
        }
        if (sink_is_stale(e, version)) {
                s->st.stale++;
                goto done; /* copy is freed below */
        }
        if (e->has_pending) {
                s->st.dropped++; /* superseded before it was sent */
                free(e->json);
        } else {
                e->pending_seq = ++s->next_seq;
        }
        e->has_pending = 1;
        e->pending_version = version;
        e->json = copy;
        e->len = len;
        copy = NULL;
        pthread_cond_signal(&s->wake);

done:
        pthread_mutex_unlock(&s->mu);
        free(copy);
        return err;
}

void tecg_sink_stats(tecg_sink_t *s, tecg_sink_stats_t *out) {
        pthread_mutex_lock(&s->mu);
        *out = s->st;
        out->up = !s->down;
        out->pending = 0;
        for (sink_entry_t *e = s->entries; e; e = e->next)
                if (e->has_pending || e->in_flight)
                        out->pending++;
        pthread_mutex_unlock(&s->mu);
}

tecg_err_t tecg_sink_wait_delivered(tecg_sink_t *s, const char *dashboard, uint64_t version,
                                    int timeout_ms) {
        int64_t deadline = sink_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        tecg_err_t err = TECG_ERR_RETRY;

        if (!dashboard)
                return TECG_ERR_INVALID;
        pthread_mutex_lock(&s->mu);
        for (;;) {
                const sink_entry_t *e = sink_find(s, dashboard);
                if (e && e->has_delivered && e->delivered_version >= version) {
                        err = TECG_OK;
                        break;
                }
                if (e && e->has_settled && e->settled_version >= version) {
                        err = TECG_ERR_INVALID; /* rejected, nothing newer */
                        break;
                }
                if (s->worker_done || sink_mono_ms() >= deadline)
                        break;
                sink_timedwait(&s->progress, &s->mu, deadline);
        }
        pthread_mutex_unlock(&s->mu);
        return err;
}

/* One log line naming every version that was not delivered. */
static void sink_log_leftovers(tecg_sink_t *s) {
        char list[768];
        size_t off = 0, n = 0;

        list[0] = '\0';
        for (sink_entry_t *e = s->entries; e; e = e->next) {
                if (!e->has_pending)
                        continue;
                n++;
                if (off < sizeof(list)) {
                        int w = snprintf(list + off, sizeof(list) - off, "%s%s version %" PRIu64,
                                         off ? ", " : "", e->dashboard, e->pending_version);
                        off += w > 0 ? (size_t)w : 0;
                }
        }
        if (n)
                tecg_log_warn("sink",
                              "%s: stopped; %zu dashboard(s) not "
                              "delivered: %s%s (last error: %s)",
                              s->name, n, list, off >= sizeof(list) ? "..." : "",
                              s->st.last_error[0] ? s->st.last_error : "none");
        else
                tecg_log_info("sink",
                              "%s: stopped; nothing pending "
                              "(%" PRIu64 " delivered, %" PRIu64 " rejected)",
                              s->name, s->st.delivered, s->st.rejected);
}

/* Sets the deadline of the final flush once: a later call (destroy after
 * stop) keeps the first one. Called with the mutex held. */
static void sink_begin_stop(tecg_sink_t *s, int flush_timeout_ms) {
        if (s->stopping)
                return;
        int64_t now = sink_mono_ms();
        s->stopping = 1;
        s->flush_deadline_ms = now + (flush_timeout_ms > 0 ? flush_timeout_ms : 0);
        s->retry_at_ms = now; /* one attempt now, whatever the backoff */
        pthread_cond_broadcast(&s->wake);
}

void tecg_sink_stop(tecg_sink_t *s, int flush_timeout_ms) {
        if (!s)
                return;
        pthread_mutex_lock(&s->mu);
        sink_begin_stop(s, flush_timeout_ms);
        pthread_mutex_unlock(&s->mu);
}

void tecg_sink_destroy(tecg_sink_t *s, int flush_timeout_ms) {
        int exited;

        if (!s)
                return;
        pthread_mutex_lock(&s->mu);
        sink_begin_stop(s, flush_timeout_ms);
        while (!s->worker_done &&
               sink_timedwait(&s->progress, &s->mu, s->flush_deadline_ms) != ETIMEDOUT)
                ;
        exited = s->worker_done;
        pthread_mutex_unlock(&s->mu);
        /* Past the deadline a POST may still hang on a dead receiver: abort
         * it; the worker then sees the deadline and leaves. */
        if (!exited)
                tecg_http_client_cancel(s->http);
        if (s->thread_started)
                pthread_join(s->thread, NULL);
        sink_log_leftovers(s);
        sink_free(s);
}

/* ---- the set -------------------------------------------------------------- */

/* The last version offered of one dashboard, for the sinks that join. */
typedef struct {
        char *dashboard;
        uint64_t version;
        char *json;
        size_t len;
        char *signature; /* NULL: unsigned */
} sinks_last_t;

struct tecg_sinks {
        pthread_mutex_t lock; /* members and count: the HTTP threads read them */
        tecg_sink_t **members;
        size_t count;
        /* Main thread only. */
        sinks_last_t *last;
        size_t nlast;
};

tecg_sinks_t *tecg_sinks_new(void) {
        tecg_sinks_t *set = calloc(1, sizeof(*set));
        if (set && pthread_mutex_init(&set->lock, NULL) != 0) {
                free(set);
                set = NULL;
        }
        return set;
}

/* The member named `name` of the current list, or NULL. */
static tecg_sink_t *sinks_find(const tecg_sinks_t *set, const char *name) {
        for (size_t i = 0; i < set->count; i++)
                if (strcmp(set->members[i]->name, name) == 0)
                        return set->members[i];
        return NULL;
}

tecg_err_t tecg_sinks_update(tecg_sinks_t *set, const tecg_sink_options_t *opts, size_t n,
                             size_t *added, size_t *removed, size_t *kept, char *errstr,
                             size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_sink_t **next = calloc(n ? n : 1, sizeof(tecg_sink_t *));
        bool *fresh = calloc(n ? n : 1, sizeof(*fresh));
        tecg_sink_t **gone = NULL;
        size_t ngone = 0, nadded = 0, nkept = 0;
        if (!next || !fresh) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        /* The new list, built beside the one the readers see. */
        for (size_t i = 0; i < n; i++) {
                tecg_sink_t *old = opts[i].name ? sinks_find(set, opts[i].name) : NULL;
                size_t len = 0;
                char *blob = sink_options_blob(&opts[i], &len);
                if (!blob) {
                        err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                        goto done;
                }
                bool same = old && old->options_len == len && memcmp(old->options, blob, len) == 0;
                memset(blob, 0, len);
                free(blob);
                if (same) {
                        next[i] = old;
                        nkept++;
                        continue;
                }
                if (!(next[i] = tecg_sink_new(&opts[i], errstr, errstr_size))) {
                        err = TECG_ERR_CONFIG;
                        goto done;
                }
                fresh[i] = true;
                nadded++;
        }
        if (!(gone = calloc(set->count ? set->count : 1, sizeof(tecg_sink_t *)))) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        for (size_t j = 0; j < set->count; j++) {
                bool stays = false;
                for (size_t i = 0; i < n && !stays; i++)
                        stays = next[i] == set->members[j];
                if (!stays)
                        gone[ngone++] = set->members[j];
        }
        /* The new sinks get the documents now, before the swap: the next
         * offer, from this same thread, cannot come in between. */
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; fresh[i] && k < set->nlast; k++)
                        tecg_sink_offer_signed(next[i], set->last[k].dashboard,
                                               set->last[k].version, set->last[k].json,
                                               set->last[k].len, set->last[k].signature);
        pthread_mutex_lock(&set->lock);
        tecg_sink_t **old_members = set->members;
        set->members = next;
        set->count = n;
        pthread_mutex_unlock(&set->lock);
        free(old_members);
        next = NULL;
        /* No reader can reach them now. */
        for (size_t j = 0; j < ngone; j++) {
                tecg_log_notice("sink",
                                "%s: removed or changed by a reload; its pending "
                                "versions are dropped",
                                gone[j]->name);
                tecg_sink_destroy(gone[j], 0);
        }
done:
        if (next && fresh) /* failed: the sinks made for it go, the set is as it was */
                for (size_t i = 0; i < n; i++)
                        if (fresh[i])
                                tecg_sink_destroy(next[i], 0);
        free(next);
        free(fresh);
        free(gone);
        if (added)
                *added = err ? 0 : nadded;
        if (removed)
                *removed = err ? 0 : ngone;
        if (kept)
                *kept = err ? 0 : nkept;
        return err;
}

/* Replaces the kept copy of `dashboard`'s last version. */
static tecg_err_t sinks_keep(tecg_sinks_t *set, const char *dashboard, uint64_t version,
                             const char *json, size_t len, const char *signature) {
        sinks_last_t *l = NULL;
        for (size_t k = 0; k < set->nlast && !l; k++)
                if (strcmp(set->last[k].dashboard, dashboard) == 0)
                        l = &set->last[k];
        if (l && l->version >= version)
                return TECG_OK;
        char *copy = malloc(len + 1), *sig = signature ? strdup(signature) : NULL;
        if (!copy || (signature && !sig))
                goto nomem;
        memcpy(copy, json, len);
        copy[len] = '\0';
        if (!l) {
                sinks_last_t *grown = realloc(set->last, (set->nlast + 1) * sizeof(*grown));
                if (!grown)
                        goto nomem;
                set->last = grown;
                l = &set->last[set->nlast];
                *l = (sinks_last_t){.dashboard = strdup(dashboard)};
                if (!l->dashboard)
                        goto nomem;
                set->nlast++;
        }
        free(l->json);
        free(l->signature);
        l->version = version;
        l->json = copy;
        l->len = len;
        l->signature = sig;
        return TECG_OK;
nomem:
        free(copy);
        free(sig);
        return TECG_ERR_NOMEM;
}

tecg_err_t tecg_sinks_offer_signed(tecg_sinks_t *set, const char *dashboard, uint64_t version,
                                   const char *json, size_t len, const char *signature) {
        /* The members change on this thread only: no lock to read them. */
        for (size_t i = 0; i < set->count; i++)
                tecg_sink_offer_signed(set->members[i], dashboard, version, json, len, signature);
        return sinks_keep(set, dashboard, version, json, len, signature);
}

void tecg_sinks_foreach(tecg_sinks_t *set, void (*cb)(tecg_sink_t *sink, void *opaque),
                        void *opaque) {
        pthread_mutex_lock(&set->lock);
        for (size_t i = 0; i < set->count; i++)
                cb(set->members[i], opaque);
        pthread_mutex_unlock(&set->lock);
}

size_t tecg_sinks_count(tecg_sinks_t *set) {
        pthread_mutex_lock(&set->lock);
        size_t n = set->count;
        pthread_mutex_unlock(&set->lock);
        return n;
}

void tecg_sinks_stop(tecg_sinks_t *set, int flush_timeout_ms) {
        if (!set)
                return;
        for (size_t i = 0; i < set->count; i++)
                tecg_sink_stop(set->members[i], flush_timeout_ms);
}

void tecg_sinks_destroy(tecg_sinks_t *set, int flush_timeout_ms) {
        if (!set)
                return;
        for (size_t i = 0; i < set->count; i++)
                tecg_sink_destroy(set->members[i], flush_timeout_ms);
        free(set->members);
        for (size_t k = 0; k < set->nlast; k++) {
                free(set->last[k].dashboard);
                free(set->last[k].json);
                free(set->last[k].signature);
        }
        free(set->last);
        pthread_mutex_destroy(&set->lock);
        free(set);
}
