/* Push sinks: dashboards POSTed to receivers (docs/design.md §5).
 *
 * One tecg_sink_t per configured receiver, each with its own worker thread
 * and its own keep-alive connection (common/http_client.h). The dashboard
 * daemon's main thread hands every new dashboard version to
 * tecg_sink_offer(), which copies it and returns at once: it never waits for
 * the network. Per dashboard name the sink holds only the latest version not
 * yet delivered; a newer offer replaces an older pending one (counted as
 * dropped), and an offer not newer than what was delivered, pending or in
 * flight is ignored (counted as stale). So while a receiver is down memory
 * stays bounded by the number of dashboards, and a receiver never gets an
 * older version of a dashboard after a newer one.
 *
 * Each POST carries
 *     Content-Type: application/json
 *     X-Tecg-Dashboard: NAME
 *     X-Tecg-Version: N
 *     Authorization: Bearer TOKEN      (when a token is configured)
 *     Tecg-Signature: keyid=ID,sig=B64 (when the version is signed,
 *                                       docs/design.md §9.2)
 * and the version header lets a receiver drop stale documents itself.
 *
 * Answers: 2xx = delivered. Network errors, 408, 429 and 5xx are retried
 * with exponential backoff and full jitter (a random delay in [0, cap], the
 * cap doubling from backoff_initial_ms up to backoff_max_ms), honouring
 * Retry-After up to backoff_max_ms; new offers during a backoff replace the
 * pending document but do not shorten or reset the backoff. Any other status
 * (4xx, or a 3xx, since redirects are not followed) drops that version with
 * an error log naming sink, dashboard, version, status and the start of the
 * body: retrying would not help, and the next change is offered anyway.
 *
 * Log lines (facility "sink") mark state changes only: "NAME: down (reason),
 * keeping latest versions, retrying" once, "NAME: up again after N s,
 * delivered ..." once; individual retries are DEBUG.
 *
 * Threads: tecg_sink_offer(), tecg_sink_stats(), tecg_sink_wait_delivered()
 * and tecg_sink_destroy() may be called from any thread (in practice the
 * daemon's main thread); only the worker touches the HTTP client. */
#ifndef TECG_SINK_H
#define TECG_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Defaults applied to options left at 0. */
#define TECG_SINK_CONNECT_TIMEOUT_MS 5000
#define TECG_SINK_TIMEOUT_MS 10000
#define TECG_SINK_BACKOFF_INITIAL_MS 200
#define TECG_SINK_BACKOFF_MAX_MS 30000

/* Options for tecg_sink_new(). Zero-initialise, then set name and url; every
 * other zero field means its default. Strings are copied. */
typedef struct {
        const char *name;         /* required: names the sink in logs/metrics */
        const char *url;          /* required: http:// or https:// */
        const char *bearer_token; /* optional */
        const char *ca_file;      /* optional PEM bundle */
        int tls_no_verify;        /* 1 = skip TLS verification (warned) */
        long connect_timeout_ms;  /* 0 = TECG_SINK_CONNECT_TIMEOUT_MS */
        long timeout_ms;          /* per POST; 0 = TECG_SINK_TIMEOUT_MS */
        long backoff_initial_ms;  /* 0 = TECG_SINK_BACKOFF_INITIAL_MS */
        long backoff_max_ms;      /* 0 = TECG_SINK_BACKOFF_MAX_MS */
} tecg_sink_options_t;

/* A consistent snapshot of one sink, for /metrics and tests. */
typedef struct {
        int up;                        /* 0 while failing (network/408/429/5xx) */
        uint64_t delivered;            /* documents the receiver accepted (2xx) */
        uint64_t failures;             /* failed POSTs of any kind */
        uint64_t retries;              /* POSTs made while the sink was failing */
        uint64_t dropped;              /* pending versions replaced by a newer one */
        uint64_t rejected;             /* versions dropped on a 4xx (or 3xx) answer */
        uint64_t stale;                /* offers ignored: not newer than the last */
        uint32_t consecutive_failures; /* since the last answer; drives backoff */
        size_t pending;                /* dashboards with a version not yet delivered */
        int64_t last_success_ms;       /* Unix time of the last 2xx in ms, 0 = never */
        long last_status;              /* HTTP status of the last answer, 0 = none */
        char last_error[256];          /* last failure, "" if none yet */
} tecg_sink_stats_t;

typedef struct tecg_sink tecg_sink_t;

/* Creates the sink and starts its worker thread. NULL with a reason in
 * errstr on bad options (missing name/url, bad URL) or when the thread
 * cannot start. The caller owns the sink: tecg_sink_destroy(). */
tecg_sink_t *tecg_sink_new(const tecg_sink_options_t *opts, char *errstr, size_t errstr_size);

/* Queues version `version` of `dashboard` (json/len are copied; the caller
 * keeps its buffers). Never blocks on the network. TECG_OK when queued or
 * ignored as stale (see tecg_sink_stats_t.stale); TECG_ERR_INVALID for a
 * missing or unusable dashboard name (1-128 characters from
 * [A-Za-z0-9_.-]) or a call after tecg_sink_destroy() began;
 * TECG_ERR_NOMEM when the copy fails. */
tecg_err_t tecg_sink_offer(tecg_sink_t *sink, const char *dashboard, uint64_t version,
                           const char *json, size_t len);

/* The same with the version's Tecg-Signature value (docsign.h; NULL or
 * "" for none), copied with the document and sent as that header with
 * every POST of this version. */
tecg_err_t tecg_sink_offer_signed(tecg_sink_t *sink, const char *dashboard, uint64_t version,
                                  const char *json, size_t len, const char *signature);

/* Fills *out with the sink's counters and state. */
void tecg_sink_stats(tecg_sink_t *sink, tecg_sink_stats_t *out);

/* The name given in the options (owned by the sink). */
const char *tecg_sink_name(const tecg_sink_t *sink);

/* Waits up to timeout_ms until `version` (or a newer one) of `dashboard` was
 * delivered. TECG_OK when it was; TECG_ERR_INVALID when the receiver
 * rejected that version and no newer one was delivered; TECG_ERR_RETRY on
 * timeout or when the worker has stopped. No busy waiting. */
tecg_err_t tecg_sink_wait_delivered(tecg_sink_t *sink, const char *dashboard, uint64_t version,
                                    int timeout_ms);

/* Starts the stop without waiting: the final flush of tecg_sink_destroy()
 * (below) begins now, with its deadline flush_timeout_ms from now, and a
 * later tecg_sink_destroy() keeps that deadline. So several sinks flush at
 * the same time, within one budget, instead of one after the other. NULL
 * is ok. */
void tecg_sink_stop(tecg_sink_t *sink, int flush_timeout_ms);

/* Stops the sink (unless tecg_sink_stop() did already): makes one immediate attempt at what is pending (ending a
 * backoff early) and keeps trying, with backoff, for at most
 * flush_timeout_ms (<= 0: no flush); a POST still running at the deadline is
 * aborted. Then joins the worker, logs which dashboard versions were not
 * delivered (or that all were), and frees everything. Returns within about
 * flush_timeout_ms. NULL is ok. */
void tecg_sink_destroy(tecg_sink_t *sink, int flush_timeout_ms);

/* ---- the set of sinks, replaced on SIGHUP ------------------------------
 *
 * The daemon's sinks as one set. The main thread offers every version to
 * the set (tecg_sinks_offer_signed()) and replaces its members on a reload
 * (tecg_sinks_update()); the HTTP threads read the members for /metrics
 * and /healthz (tecg_sinks_foreach()). The member list is swapped under the
 * set's lock and a sink that left it is destroyed only after the swap, so
 * no reader ever holds a destroyed sink. The set keeps the last version
 * offered of each dashboard, so a sink that joins gets the current
 * documents at once. */
typedef struct tecg_sinks tecg_sinks_t;

/* An empty set; NULL when out of memory. */
tecg_sinks_t *tecg_sinks_new(void);

/* Makes the members the sinks of opts[0..n) (names unique). A member whose
 * name and options are unchanged stays as it is: its pending versions,
 * backoff and counters. A new name, or a name whose options changed, gets
 * a new sink, offered the last version of each dashboard. A member whose
 * name is gone (or was replaced) is stopped without a flush: its pending
 * versions are dropped, each named in the log. When a new sink cannot be
 * made nothing changes (errstr says which and why). `added`, `removed`
 * and `kept` (each may be NULL) count what happened. Main thread only. */
tecg_err_t tecg_sinks_update(tecg_sinks_t *set, const tecg_sink_options_t *opts, size_t n,
                             size_t *added, size_t *removed, size_t *kept, char *errstr,
                             size_t errstr_size);

/* Offers the version to every member (tecg_sink_offer_signed()) and keeps
 * it as the dashboard's last for sinks that join later. TECG_ERR_NOMEM
 * when it could not be kept (the members got it all the same). */
tecg_err_t tecg_sinks_offer_signed(tecg_sinks_t *set, const char *dashboard, uint64_t version,
                                   const char *json, size_t len, const char *signature);

/* Calls cb for each member in configuration order, under the set's lock:
 * cb must not call back into the set (tecg_sink_stats() and
 * tecg_sink_name() are what it is for). Any thread. */
void tecg_sinks_foreach(tecg_sinks_t *set, void (*cb)(tecg_sink_t *sink, void *opaque),
                        void *opaque);

/* Number of members now. Any thread. */
size_t tecg_sinks_count(tecg_sinks_t *set);

/* tecg_sink_stop() on every member: their flushes run side by side. */
void tecg_sinks_stop(tecg_sinks_t *set, int flush_timeout_ms);

/* Destroys every member (tecg_sink_destroy()) and the set. NULL ok. */
void tecg_sinks_destroy(tecg_sinks_t *set, int flush_timeout_ms);

#endif
