/* tecg-dashboard: follows tecg.nation-state and publishes the funding,
 * staffing and training dashboards (docs/design.md §5): pushed over HTTP to every
 * configured sink, served on an HTTP API with a live page and an SSE
 * stream, and written to tecg.dashboards for BI consumers. Any number of
 * instances may run; each reads all nation states. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "compose.h"
#include "conf.h"
#include "daemon.h"
#include "dashboards.h"
#include "docstore.h"
#include "http_server.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "mission.h"
#include "refdata.h"
#include "sink.h"

#define FAC "main"
#define MAX_SINKS 32

typedef struct {
        char *nations_file;
        char *topic_prefix;
        char *log_level;
        char *http_address;
        int64_t http_port;
        char *http_port_file;
        int64_t authorized_strength;
        int64_t target_in_iraq;
        int64_t target_outside_iraq;
        char *reporting_currency;
        bool publish_topic;
        int64_t compose_interval_ms;
        int64_t shutdown_timeout_ms;
        int64_t stats_interval_ms;
} dashboard_conf_t;

#define F(field) offsetof(dashboard_conf_t, field)
static const tecg_conf_prop_t dashboard_props[] = {
        {"nations.file", TECG_CONF_STRING, F(nations_file),
         TECG_SOURCE_DIR "/deploy/nations.csv", 0, 0, 0,
         "CSV of the mission's nations: code,name,status"},
        {"topic.prefix", TECG_CONF_STRING, F(topic_prefix), "tecg.", 0, 0, 0,
         "prefix of every Kafka topic name"},
        {"log.level", TECG_CONF_STRING, F(log_level), "info", 0, 0, 0,
         "debug, info, notice, warning, err"},
        {"http.address", TECG_CONF_STRING, F(http_address), "127.0.0.1", 0, 0, 0,
         "address the HTTP API and operator page listen on"},
        {"http.port", TECG_CONF_INT, F(http_port), "8080", 0, 65535, 0,
         "port of the HTTP API (0 = any free port, see http.port.file)"},
        {"http.port.file", TECG_CONF_STRING, F(http_port_file), NULL, 0, 0, 0,
         "write the port actually listened on to this file"},
        {"mission.authorized.strength", TECG_CONF_INT, F(authorized_strength), "360", 0,
         1000000000, 0, "personnel the mission is to be staffed to, in Iraq"},
        {"mission.target.in_iraq", TECG_CONF_INT, F(target_in_iraq), "1000", 0,
         1000000000, 0, "officers to train per year in Iraq"},
        {"mission.target.outside_iraq", TECG_CONF_INT, F(target_outside_iraq), "500", 0,
         1000000000, 0, "officers to train per year outside Iraq"},
        {"reporting.currency", TECG_CONF_STRING, F(reporting_currency), "EUR", 0, 0, 0,
         "currency totals are converted to (ISO 4217)"},
        {"rate.", TECG_CONF_PREFIX, 0, NULL, 0, 0, 0,
         "exchange rate: rate.USD = 0.8042 means 1 USD = 0.8042 reporting units "
         "(built-in 2005 rates otherwise)"},
        {"sink.", TECG_CONF_PREFIX, 0, NULL, 0, 0, 0,
         "push sink NAME: sink.NAME.url (required), .token (bearer), .ca.file, "
         ".tls.verify (true), .timeout.ms, .backoff.max.ms"},
        {"publish.topic", TECG_CONF_BOOL, F(publish_topic), "true", 0, 0, 0,
         "write every version to <prefix>dashboards (compacted, for BI consumers)"},
        {"compose.interval.ms", TECG_CONF_INT, F(compose_interval_ms), "100", 0, 60000, 0,
         "at most one new version per dashboard per interval"},
        {"shutdown.timeout.ms", TECG_CONF_INT, F(shutdown_timeout_ms), "10000", 0,
         3600000, 0, "on SIGTERM, how long sinks may take to deliver what is pending"},
        {"stats.interval.ms", TECG_CONF_INT, F(stats_interval_ms), "60000", 0, 86400000, 0,
         "how often counters are logged (0 = never)"},
        {"kafka.", TECG_CONF_PREFIX, 0, NULL, 0, 0, 0,
         "any librdkafka property, passed through unchanged"},
        {NULL, 0, 0, NULL, 0, 0, 0, NULL}};
#undef F

/* What the HTTP threads read through the callbacks. */
typedef struct {
        tecg_dashboards_t *dashboards;
        tecg_sink_t *sinks[MAX_SINKS];
        size_t nsinks;
} app_t;

static const tecg_daemon_spec_t dashboard_spec = {
        .progname = "tecg-dashboard",
        .usage = "Usage: tecg-dashboard --config FILE [-X KEY=VALUE]...\n"
                 "\n"
                 "Composes the funding, staffing and training dashboards from\n"
                 "tecg.nation-state; pushes them to HTTP sinks and serves them:\n"
                 "  /                          operator page (live)\n"
                 "  /api/dashboards[/NAME]     JSON documents (ETag = version)\n"
                 "  /api/stream                server-sent events of every new version\n"
                 "  /api/export/NAME.csv|.ndjson  per-nation rows for BI\n"
                 "  /metrics  /healthz\n",
        .exit_status = "Exit status: 0 stopped by a signal; 1 could not run or a "
                       "fatal Kafka error (restart it); 2 bad usage or "
                       "configuration.\n",
        .props = dashboard_props,
};

static void on_publish(const char *name, uint64_t version, const char *json, size_t len,
                       void *opaque) {
        app_t *app = opaque;
        for (size_t i = 0; i < app->nsinks; i++)
                tecg_sink_offer(app->sinks[i], name, version, json, len);
}

static void on_metrics(tecg_buf_t *out, void *opaque) {
        app_t *app = opaque;
        tecg_dashboards_stats_t st;
        char labels[128];
        tecg_dashboards_stats(app->dashboards, &st);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_dashboard_states_received_total",
                         "nation-state records read.", NULL, (double)st.states_received);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_dashboard_undecodable_total",
                         "nation-state records that could not be read.", NULL,
                         (double)st.undecodable);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_dashboard_published_total",
                         "New dashboard versions published.", NULL, (double)st.published);
        tecg_metrics_add(out, TECG_METRIC_GAUGE, "tecg_dashboard_caught_up",
                         "1 once nation-state was read to its end.", NULL,
                         st.caught_up ? 1 : 0);
        for (int i = 0; i < TECG_DASH__COUNT; i++) {
                snprintf(labels, sizeof(labels), "dashboard=\"%s\"", tecg_dashboard_names[i]);
                tecg_metrics_add(out, TECG_METRIC_GAUGE, "tecg_dashboard_version",
                                 "Current version of the dashboard.", labels,
                                 (double)st.versions[i]);
        }
        for (size_t i = 0; i < app->nsinks; i++) {
                tecg_sink_stats_t ss;
                tecg_sink_stats(app->sinks[i], &ss);
                snprintf(labels, sizeof(labels), "sink=\"%s\"", tecg_sink_name(app->sinks[i]));
                tecg_metrics_add(out, TECG_METRIC_GAUGE, "tecg_sink_up",
                                 "1 while the sink accepts documents.", labels, ss.up);
                tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_sink_delivered_total",
                                 "Documents the sink accepted.", labels, (double)ss.delivered);
                tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_sink_failures_total",
                                 "Failed POSTs.", labels, (double)ss.failures);
                tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_sink_superseded_total",
                                 "Pending versions replaced by a newer one.", labels,
                                 (double)ss.dropped);
                tecg_metrics_add(out, TECG_METRIC_GAUGE, "tecg_sink_pending",
                                 "Dashboards with a version not yet delivered.", labels,
                                 (double)ss.pending);
        }
}

static int on_health(tecg_buf_t *out, void *opaque) {
        app_t *app = opaque;
        tecg_dashboards_stats_t st;
        char text[512];
        tecg_dashboards_stats(app->dashboards, &st);
        size_t down = 0;
        for (size_t i = 0; i < app->nsinks; i++) {
                tecg_sink_stats_t ss;
                tecg_sink_stats(app->sinks[i], &ss);
                down += !ss.up;
        }
        snprintf(text, sizeof(text),
                 "{\"status\":\"%s\",\"caught_up\":%s,\"versions\":{\"funding\":%llu,"
                 "\"staffing\":%llu,\"training\":%llu},\"sinks\":%zu,\"sinks_down\":%zu}",
                 st.caught_up ? "ok" : "catching up", st.caught_up ? "true" : "false",
                 (unsigned long long)st.versions[0], (unsigned long long)st.versions[1],
                 (unsigned long long)st.versions[2], app->nsinks, down);
        tecg_buf_puts(out, text);
        return st.caught_up ? 200 : 503;
}

/* sink.NAME.FIELD = VALUE entries into sink options, checked now. */
static tecg_err_t build_sinks(const tecg_conf_t *conf, app_t *app, char *errstr,
                              size_t errstr_size) {
        size_t n;
        const tecg_conf_kv_t *kv = tecg_conf_passthru(conf, "sink.", &n);
        struct {
                char name[64];
                tecg_sink_options_t o;
                const char *origin;
        } defs[MAX_SINKS];
        size_t ndefs = 0;
        memset(defs, 0, sizeof(defs));
        for (size_t i = 0; i < n; i++) {
                const char *dot = strchr(kv[i].key, '.');
                size_t nlen = dot ? (size_t)(dot - kv[i].key) : 0;
                if (!dot || nlen == 0 || nlen >= sizeof(defs[0].name))
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s: sink.%s: expected sink.NAME.FIELD",
                                           kv[i].origin, kv[i].key);
                size_t d;
                for (d = 0; d < ndefs; d++)
                        if (strlen(defs[d].name) == nlen &&
                            memcmp(defs[d].name, kv[i].key, nlen) == 0)
                                break;
                if (d == ndefs) {
                        if (ndefs == MAX_SINKS)
                                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                                   "%s: more than %d sinks", kv[i].origin,
                                                   MAX_SINKS);
                        memcpy(defs[d].name, kv[i].key, nlen);
                        defs[d].o.name = defs[d].name;
                        defs[d].origin = kv[i].origin;
                        ndefs++;
                }
                const char *field = dot + 1, *v = kv[i].value;
                char *end;
                if (strcmp(field, "url") == 0) {
                        defs[d].o.url = v;
                } else if (strcmp(field, "token") == 0) {
                        defs[d].o.bearer_token = v;
                } else if (strcmp(field, "ca.file") == 0) {
                        defs[d].o.ca_file = v;
                } else if (strcmp(field, "tls.verify") == 0) {
                        if (strcmp(v, "true") && strcmp(v, "false"))
                                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                                   "%s: sink.%s: \"%s\" is not true/false",
                                                   kv[i].origin, kv[i].key, v);
                        defs[d].o.tls_no_verify = strcmp(v, "false") == 0;
                } else if (strcmp(field, "timeout.ms") == 0 ||
                           strcmp(field, "backoff.max.ms") == 0) {
                        errno = 0;
                        long ms = strtol(v, &end, 10);
                        if (errno || *end || ms < 1 || ms > 3600000)
                                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                                   "%s: sink.%s: \"%s\" is not a number of "
                                                   "milliseconds (1..3600000)",
                                                   kv[i].origin, kv[i].key, v);
                        if (field[0] == 't')
                                defs[d].o.timeout_ms = ms;
                        else
                                defs[d].o.backoff_max_ms = ms;
                } else {
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s: sink.%s: unknown sink setting '%s' (url, "
                                           "token, ca.file, tls.verify, timeout.ms, "
                                           "backoff.max.ms)", kv[i].origin, kv[i].key, field);
                }
        }
        for (size_t d = 0; d < ndefs; d++) {
                char reason[512];
                if (!defs[d].o.url)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s: sink %s has no sink.%s.url", defs[d].origin,
                                           defs[d].name, defs[d].name);
                if (!(app->sinks[app->nsinks] = tecg_sink_new(&defs[d].o, reason, sizeof(reason))))
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s: sink %s: %s", defs[d].origin, defs[d].name,
                                           reason);
                app->nsinks++;
                tecg_log_info(FAC, "sink %s: pushing to %s", defs[d].name, defs[d].o.url);
        }
        return TECG_OK;
}

static tecg_err_t build_mission(const tecg_conf_t *conf, const dashboard_conf_t *dc,
                                tecg_mission_t *m, char *errstr, size_t errstr_size) {
        char reason[512];
        tecg_mission_init(m);
        m->authorized_strength = dc->authorized_strength;
        m->target_in_iraq = dc->target_in_iraq;
        m->target_outside_iraq = dc->target_outside_iraq;
        if (tecg_mission_set_reporting_currency(m, dc->reporting_currency, reason,
                                                sizeof(reason)))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: %s",
                                   tecg_conf_origin(conf, "reporting.currency"), reason);
        size_t n;
        const tecg_conf_kv_t *kv = tecg_conf_passthru(conf, "rate.", &n);
        for (size_t i = 0; i < n; i++)
                if (tecg_mission_set_rate(m, kv[i].key, kv[i].value, reason, sizeof(reason)))
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s: rate.%s: %s", kv[i].origin, kv[i].key,
                                           reason);
        if (tecg_mission_check(m, reason, sizeof(reason)))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "mission: %s",
                                   reason);
        return TECG_OK;
}

int main(int argc, char **argv) {
        dashboard_conf_t dc;
        tecg_daemon_t d;
        tecg_mission_t mission;
        char errstr[1024];
        tecg_nations_t *nations = NULL;
        tecg_docstore_t *store = NULL;
        tecg_http_server_t *server = NULL;
        app_t app;
        memset(&app, 0, sizeof(app));

        int rc = tecg_daemon_setup(&dashboard_spec, &dc, argc, argv, &d);
        if (rc >= 0)
                goto done;
        if (!(nations = tecg_nations_load(dc.nations_file, errstr, sizeof(errstr))) ||
            build_mission(d.conf, &dc, &mission, errstr, sizeof(errstr)) ||
            build_sinks(d.conf, &app, errstr, sizeof(errstr))) {
                rc = tecg_daemon_config_error(&dashboard_spec, errstr);
                goto done;
        }
        tecg_conf_log(d.conf, "config");
        if (d.check_only) {
                rc = tecg_daemon_config_ok(&d);
                goto done;
        }
        tecg_daemon_signals();

        rc = 1;
        if (!(store = tecg_docstore_new())) {
                tecg_log_err(FAC, "out of memory");
                goto done;
        }
        tecg_dashboards_options_t opts = {
                .topic_prefix = dc.topic_prefix,
                .nations = nations,
                .mission = &mission,
                .store = store,
                .publish_cb = on_publish,
                .opaque = &app,
                .publish_topic = dc.publish_topic,
                .compose_interval_ms = (int)dc.compose_interval_ms,
                .load_timeout_ms = 60000,
        };
        if (!(app.dashboards = tecg_dashboards_new(d.conf, &opts, errstr, sizeof(errstr)))) {
                tecg_log_err(FAC, "%s", errstr);
                goto done;
        }
        tecg_http_server_conf_t hc;
        tecg_http_server_conf_init(&hc);
        hc.bind_address = dc.http_address;
        hc.port = (uint16_t)dc.http_port;
        hc.metrics_cb = on_metrics;
        hc.metrics_opaque = &app;
        hc.health_cb = on_health;
        hc.health_opaque = &app;
        if (!(server = tecg_http_server_start(&hc, store, errstr, sizeof(errstr)))) {
                tecg_log_err(FAC, "%s", errstr);
                goto done;
        }
        unsigned port = tecg_http_server_port(server);
        if (dc.http_port_file) {
                FILE *fp = fopen(dc.http_port_file, "w");
                if (!fp || fprintf(fp, "%u\n", port) < 0 || fclose(fp) != 0) {
                        tecg_log_err(FAC, "%s: %s", dc.http_port_file, strerror(errno));
                        goto done;
                }
        }
        tecg_log_info(FAC, "serving http://%s:%u/ (operator page), /api/dashboards, "
                      "/api/stream, /metrics, /healthz", dc.http_address, port);

        int64_t next_stats = tecg_mono_ms() + dc.stats_interval_ms;
        while (!tecg_daemon_stop) {
                if (tecg_dashboards_run_once(app.dashboards, 100, errstr, sizeof(errstr))) {
                        /* rc is 1 here: a restart reads nation-state again
                         * and resumes the versions from tecg.dashboards. */
                        tecg_log_err(FAC, "%s; exiting (a restart rebuilds the documents "
                                     "from nation-state)", errstr);
                        goto done;
                }
                if (dc.stats_interval_ms && tecg_mono_ms() >= next_stats) {
                        tecg_dashboards_stats_t st;
                        tecg_dashboards_stats(app.dashboards, &st);
                        tecg_log_info("stats", "states=%llu published=%llu versions "
                                      "funding=%llu staffing=%llu training=%llu",
                                      (unsigned long long)st.states_received,
                                      (unsigned long long)st.published,
                                      (unsigned long long)st.versions[0],
                                      (unsigned long long)st.versions[1],
                                      (unsigned long long)st.versions[2]);
                        next_stats = tecg_mono_ms() + dc.stats_interval_ms;
                }
        }
        tecg_log_info(FAC, "stopping");
        rc = 0;
done:
        tecg_http_server_stop(server);
        tecg_http_server_destroy(server);
        for (size_t i = 0; i < app.nsinks; i++)
                tecg_sink_destroy(app.sinks[i], rc == 0 ? (int)dc.shutdown_timeout_ms : 0);
        tecg_dashboards_destroy(app.dashboards);
        tecg_docstore_destroy(store);
        tecg_nations_destroy(nations);
        tecg_daemon_cleanup(&d);
        return rc;
}
