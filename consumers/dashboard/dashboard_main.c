/* tecg-dashboard: follows tecg.nation-state and publishes the funding,
 * staffing and training dashboards (docs/design.md §5): pushed over HTTP to every
 * configured sink, served on an HTTP API with a live page and an SSE
 * stream, and written to tecg.dashboards for BI consumers. Any number of
 * instances may run; each reads all nation states. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "compose.h"
#include "conf.h"
#include "daemon.h"
#include "dashboard_conf.h"
#include "dashboards.h"
#include "docsign.h"
#include "docstore.h"
#include "http_server.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "mission_gauges.h"
#include "mission.h"
#include "redact.h"
#include "refdata.h"
#include "sign.h"
#include "sink.h"
#include "tokens.h"

#define FAC "main"
#define PEM_MAX ((size_t)1 << 20)

/* What the HTTP server is given from the configuration's files. */
typedef struct {
        tecg_tokens_t *tokens;
        char *cert_pem, *key_pem, *client_ca_pem;
} http_files_t;

/* What the HTTP threads read through the callbacks, and what a reload
 * changes. */
typedef struct {
        tecg_dashboards_t *dashboards;
        tecg_sinks_t *sinks;    /* replaced members on SIGHUP (sink.h) */
        tecg_docstore_t *store; /* the mission gauges read its documents */
        tecg_nations_t *nations;
} app_t;

/* The keys a SIGHUP applies live (tecg_daemon_reload()). */
static const char *const live_keys[] = {"nations.file", "sink.", NULL};

static const tecg_daemon_spec_t dashboard_spec = {
        .progname = "tecg-dashboard",
        .usage = "Usage: tecg-dashboard --config FILE [-X KEY=VALUE]...\n"
                 "       tecg-dashboard --config FILE --print-public-key\n"
                 "       tecg-dashboard --keygen --key-id ID --out FILE\n"
                 "       tecg-dashboard --new-token NAME ROUTE...\n"
                 "\n"
                 "Composes the funding, staffing and training dashboards from\n"
                 "tecg.nation-state; pushes them to HTTP sinks and serves them:\n"
                 "  /                          operator page (live)\n"
                 "  /api/dashboards[/NAME]     JSON documents (ETag = version)\n"
                 "  /api/stream                server-sent events of every new version\n"
                 "  /api/export/NAME.csv|.ndjson  one measure per row for BI\n"
                 "  /api/export/NAME.wide.csv|.wide.ndjson  one row per element\n"
                 "  /metrics  /healthz\n"
                 "  /.well-known/tecg-signing-key  the documents' public key\n"
                 "Every document version is signed (Ed25519, Tecg-Signature\n"
                 "header) with security.signing.key; --keygen makes such a key\n"
                 "(mode 0600) and --print-public-key prints its public half.\n"
                 "\n"
                 "--new-token NAME ROUTE... prints a new token (line 1; shown once,\n"
                 "never stored) and its line for the http.auth.tokens file (line 2).\n"
                 "ROUTEs: / (the page), /api/dashboards/, /api/stream, /api/export/,\n"
                 "/metrics, or * for all.\n",
        .exit_status = "Exit status: 0 stopped by a signal; 1 could not run or a "
                       "fatal Kafka error (restart it); 2 bad usage or "
                       "configuration.\n",
        .props = tecg_dashboard_conf_props,
};

/* --new-token NAME ROUTE...: the token on stdout once, then the line for
 * the tokens file, which holds only the token's hash. */
static int new_token(int argc, char **argv) {
        char token[TECG_TOKEN_TEXT_SIZE], line[2048], errstr[256];
        if (argc < 2) {
                fprintf(stderr, "tecg-dashboard: --new-token NAME ROUTE...\n");
                return 2;
        }
        if (tecg_tokens_make(argv[0], (const char *const *)argv + 1, (size_t)argc - 1, token, line,
                             sizeof(line), errstr, sizeof(errstr))) {
                fprintf(stderr, "tecg-dashboard: --new-token: %s\n", errstr);
                return 2;
        }
        int ok = printf("%s\n%s\n", token, line) > 0 && fflush(stdout) == 0;
        sodium_memzero(token, sizeof(token));
        if (!ok) {
                fprintf(stderr, "tecg-dashboard: --new-token: cannot write to stdout\n");
                return 1;
        }
        fprintf(stderr,
                "tecg-dashboard: line 1 is the token for %s (give it to them; it is not "
                "stored anywhere); add line 2 to the http.auth.tokens file and restart "
                "tecg-dashboard\n",
                argv[0]);
        return 0;
}

/* A PEM file, NUL-terminated; a private key must be readable by its owner
 * only, as ssh refuses a group-readable identity file. */
static char *read_pem(const char *key, const char *path, bool private_key, char *errstr,
                      size_t errstr_size) {
        tecg_buf_t text = TECG_BUF_INIT;
        struct stat st;
        char chunk[4096];
        ssize_t n = 0;
        char *out = NULL;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0 || fstat(fd, &st) != 0) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: %s: %s", key, path,
                            strerror(errno));
                goto done;
        }
        if (private_key && (st.st_mode & (S_IRWXG | S_IRWXO))) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "%s: %s: mode %04o lets group or others read the private key; "
                            "chmod 0600",
                            key, path, (unsigned)(st.st_mode & 07777));
                goto done;
        }
        while ((n = read(fd, chunk, sizeof(chunk))) > 0 && text.len + (size_t)n <= PEM_MAX)
                if (tecg_buf_append(&text, chunk, (size_t)n))
                        break;
        if (n != 0 || tecg_buf_terminate(&text)) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: %s: %s", key, path,
                            n < 0 ? strerror(errno) : "larger than 1 MiB or out of memory");
                goto done;
        }
        out = (char *)text.data;
        text.data = NULL;
done:
        sodium_memzero(chunk, sizeof(chunk));
        if (text.data)
                sodium_memzero(text.data, text.len);
        tecg_buf_free(&text);
        if (fd >= 0)
                close(fd);
        return out;
}

static void http_files_free(http_files_t *hf) {
        tecg_tokens_destroy(hf->tokens);
        if (hf->key_pem)
                sodium_memzero(hf->key_pem, strlen(hf->key_pem));
        free(hf->cert_pem);
        free(hf->key_pem);
        free(hf->client_ca_pem);
        memset(hf, 0, sizeof(*hf));
}

/* The operators' side of the HTTP server from the configuration: the
 * tokens file (or an explicit http.auth = none on loopback), the TLS
 * files, checked now so that --check-config finds what would stop it. */
static tecg_err_t load_http_files(const tecg_conf_t *conf, const tecg_dashboard_conf_t *dc,
                                  http_files_t *hf, char *errstr, size_t errstr_size) {
        char reason[512];
        if (strcmp(dc->http_auth, "none") == 0) {
                if (dc->http_auth_tokens)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s: http.auth = none, but http.auth.tokens is set",
                                           tecg_conf_origin(conf, "http.auth"));
                if (!tecg_http_server_is_loopback(dc->http_address))
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s: http.auth = none is allowed on a loopback "
                                           "http.address only, not %s",
                                           tecg_conf_origin(conf, "http.auth"), dc->http_address);
        } else if (strcmp(dc->http_auth, "tokens") == 0) {
                if (!dc->http_auth_tokens)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "http.auth.tokens is not set: make tokens with "
                                           "tecg-dashboard --new-token, or set http.auth = none "
                                           "(loopback only)");
                if (!(hf->tokens = tecg_tokens_load(dc->http_auth_tokens, reason, sizeof(reason))))
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "http.auth.tokens: %s", reason);
        } else {
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "%s: http.auth must be tokens or none, not '%s'",
                                   tecg_conf_origin(conf, "http.auth"), dc->http_auth);
        }
        if (!dc->http_tls_cert != !dc->http_tls_key)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "http.tls.cert and http.tls.key go together");
        if (dc->http_tls_client_ca && !dc->http_tls_cert)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "http.tls.client.ca needs http.tls.cert and http.tls.key");
        if (!dc->http_tls_cert)
                return TECG_OK;
        if (!(hf->cert_pem =
                      read_pem("http.tls.cert", dc->http_tls_cert, false, errstr, errstr_size)) ||
            !(hf->key_pem =
                      read_pem("http.tls.key", dc->http_tls_key, true, errstr, errstr_size)) ||
            (dc->http_tls_client_ca &&
             !(hf->client_ca_pem = read_pem("http.tls.client.ca", dc->http_tls_client_ca, false,
                                            errstr, errstr_size))))
                return TECG_ERR_CONFIG;
        return tecg_http_server_tls_check(hf->cert_pem, hf->key_pem, hf->client_ca_pem, errstr,
                                          errstr_size);
}

static void on_publish(const char *name, uint64_t version, const char *json, size_t len,
                       const char *signature, void *opaque) {
        app_t *app = opaque;
        if (tecg_sinks_offer_signed(app->sinks, name, version, json, len, signature))
                tecg_log_warn(FAC,
                              "%s version %llu: out of memory: a sink added by a reload "
                              "would not get it",
                              name, (unsigned long long)version);
}

/* tecg-dashboard --keygen --key-id ID --out FILE: a new signing key, in a
 * file only its owner may read (never overwritten); the public half goes
 * to stdout. Returns the exit status. */
static int keygen_main(int argc, char **argv) {
        char errstr[512];
        const char *key_id = NULL, *out = NULL;
        tecg_sign_key_t key;
        int rc = 2;
        char *pub = NULL;

        bool usage_ok = true;
        for (int i = 1; i < argc && usage_ok; i++) {
                if (strcmp(argv[i], "--keygen") == 0)
                        continue;
                if (strcmp(argv[i], "--key-id") == 0 && i + 1 < argc)
                        key_id = argv[++i];
                else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
                        out = argv[++i];
                else
                        usage_ok = false;
        }
        if (!usage_ok || !key_id || !out) {
                fprintf(stderr, "Usage: tecg-dashboard --keygen --key-id ID --out FILE\n");
                return 2;
        }
        if (!tecg_sign_key_id_valid(key_id)) {
                fprintf(stderr, "tecg-dashboard: --key-id: 1-%d characters of A-Z a-z 0-9 . _ -\n",
                        TECG_SIGN_KEY_ID_MAX);
                return 2;
        }
        memset(&key, 0, sizeof(key));
        if (tecg_sign_keygen(key_id, &key, errstr, sizeof(errstr)) ||
            tecg_sign_key_write(out, &key, errstr, sizeof(errstr))) {
                fprintf(stderr, "tecg-dashboard: %s\n", errstr);
                rc = 1;
                goto done;
        }
        if (!(pub = tecg_docsign_public_json(&key))) {
                fprintf(stderr, "tecg-dashboard: out of memory\n");
                rc = 1;
                goto done;
        }
        printf("%s\n", pub);
        rc = 0;
done:
        free(pub);
        tecg_sign_key_wipe(&key);
        return rc;
}

/* The signing key of security.signing.key into *key (docs/design.md §9.2).
 * *loaded is false when security.signing=off, which is allowed but
 * warned about: BI can no longer tell the documents from forgeries. */
static tecg_err_t load_signing_key(const tecg_conf_t *conf, const tecg_dashboard_conf_t *dc,
                                   tecg_sign_key_t *key, bool *loaded, char *errstr,
                                   size_t errstr_size) {
        char reason[512];
        *loaded = false;
        if (!dc->signing) {
                tecg_log_warn(FAC,
                              "%s: security.signing=off: documents are pushed, served and "
                              "published unsigned",
                              tecg_conf_origin(conf, "security.signing"));
                return TECG_OK;
        }
        if (!dc->signing_key || !*dc->signing_key)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "security.signing.key is required (make one with "
                                   "tecg-dashboard --keygen --key-id ID --out FILE), or set "
                                   "security.signing=off");
        if (tecg_sign_key_load(dc->signing_key, key, reason, sizeof(reason)))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "%s: security.signing.key: %s",
                                   tecg_conf_origin(conf, "security.signing.key"), reason);
        *loaded = true;
        tecg_log_info(FAC, "documents are signed with key %s", key->key_id);
        return TECG_OK;
}

/* One sink's metrics; under the set's lock (tecg_sinks_foreach()). */
static void sink_metrics(tecg_sink_t *sink, void *opaque) {
        tecg_buf_t *out = opaque;
        tecg_sink_stats_t ss;
        char labels[256];
        tecg_sink_stats(sink, &ss);
        snprintf(labels, sizeof(labels), "sink=\"%s\"", tecg_sink_name(sink));
        tecg_metrics_add(out, TECG_METRIC_GAUGE, "tecg_sink_up",
                         "1 while the sink accepts documents.", labels, ss.up);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_sink_delivered_total",
                         "Documents the sink accepted.", labels, (double)ss.delivered);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_sink_failures_total", "Failed POSTs.",
                         labels, (double)ss.failures);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_sink_superseded_total",
                         "Pending versions replaced by a newer one.", labels, (double)ss.dropped);
        tecg_metrics_add(out, TECG_METRIC_GAUGE, "tecg_sink_pending",
                         "Dashboards with a version not yet delivered.", labels,
                         (double)ss.pending);
}

static void sink_down(tecg_sink_t *sink, void *opaque) {
        size_t *down = opaque;
        tecg_sink_stats_t ss;
        tecg_sink_stats(sink, &ss);
        *down += !ss.up;
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
                         "1 once nation-state was read to its end.", NULL, st.caught_up ? 1 : 0);
        for (int i = 0; i < TECG_DASH__COUNT; i++) {
                snprintf(labels, sizeof(labels), "dashboard=\"%s\"", tecg_dashboard_names[i]);
                tecg_metrics_add(out, TECG_METRIC_GAUGE, "tecg_dashboard_version",
                                 "Current version of the dashboard.", labels,
                                 (double)st.versions[i]);
        }
        tecg_dashboards_metrics(app->dashboards, out);
        tecg_mission_gauges(app->store, out);
        tecg_sinks_foreach(app->sinks, sink_metrics, out);
}

static int on_nation(const char *code, tecg_buf_t *out, void *opaque) {
        app_t *app = opaque;
        return tecg_dashboards_nation_view(app->dashboards, code, out);
}

static int on_health(tecg_buf_t *out, void *opaque) {
        app_t *app = opaque;
        tecg_dashboards_stats_t st;
        char text[512];
        tecg_dashboards_stats(app->dashboards, &st);
        size_t down = 0;
        tecg_sinks_foreach(app->sinks, sink_down, &down);
        snprintf(text, sizeof(text),
                 "{\"status\":\"%s\",\"caught_up\":%s,\"versions\":{\"funding\":%llu,"
                 "\"staffing\":%llu,\"training\":%llu},\"sinks\":%zu,\"sinks_down\":%zu}",
                 st.caught_up ? "ok" : "catching up", st.caught_up ? "true" : "false",
                 (unsigned long long)st.versions[0], (unsigned long long)st.versions[1],
                 (unsigned long long)st.versions[2], tecg_sinks_count(app->sinks), down);
        tecg_buf_puts(out, text);
        return st.caught_up ? 200 : 503;
}

/* The sinks of the configuration (sink.NAME.*, parsed and checked by the
 * table) made the members of app->sinks: at start, and again on each
 * reload (unchanged ones kept, sink.h). */
static tecg_err_t build_sinks(const tecg_dashboard_conf_t *dc, app_t *app, bool at_start,
                              char *errstr, size_t errstr_size) {
        tecg_sink_options_t o[TECG_DASHBOARD_SINKS_MAX] = {{0}};
        size_t n = dc->sinks.count < TECG_DASHBOARD_SINKS_MAX ? dc->sinks.count
                                                              : TECG_DASHBOARD_SINKS_MAX;
        size_t added, removed, kept;
        char reason[512], shown[1024];
        for (size_t i = 0; i < n; i++) {
                const tecg_dashboard_sink_conf_t *sc = dc->sinks.items[i].data;
                o[i] = (tecg_sink_options_t){
                        .name = dc->sinks.items[i].name,
                        .url = sc->url,
                        .bearer_token = sc->token,
                        .ca_file = sc->ca_file,
                        .tls_no_verify = !sc->tls_verify,
                        .timeout_ms = (long)sc->timeout_ms,
                        .backoff_max_ms = (long)sc->backoff_max_ms,
                };
        }
        if (tecg_sinks_update(app->sinks, o, n, &added, &removed, &kept, reason, sizeof(reason))) {
                /* reason starts "sink NAME: " (tecg_sink_new()): the
                 * origin of that sink's first key gives file:line. */
                const char *origin = NULL;
                for (size_t i = 0; i < n && !origin; i++) {
                        size_t len = strlen(dc->sinks.items[i].name);
                        if (strncmp(reason, "sink ", 5) == 0 &&
                            strncmp(reason + 5, dc->sinks.items[i].name, len) == 0 &&
                            reason[5 + len] == ':')
                                origin = dc->sinks.items[i].origin;
                }
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s%s%s",
                                   origin ? origin : "", origin ? ": " : "", reason);
        }
        for (size_t i = 0; i < n && at_start; i++)
                tecg_log_info(FAC, "sink %s: pushing to %s", o[i].name,
                              tecg_redact(NULL, o[i].url, shown, sizeof(shown)));
        if (!at_start)
                tecg_log_info(FAC, "sinks: %zu started, %zu stopped, %zu kept as they were", added,
                              removed, kept);
        return TECG_OK;
}

/* SIGHUP: the sinks and the nations list, each applied after both were
 * read: a list that cannot be read changes nothing. */
static tecg_err_t apply_live(const tecg_conf_t *conf, const void *fresh, void *opaque, char *errstr,
                             size_t errstr_size) {
        const tecg_dashboard_conf_t *dc = fresh;
        app_t *app = opaque;
        tecg_err_t err = TECG_OK;
        (void)conf;
        tecg_nations_t *nations = tecg_nations_load(dc->common.nations_file, errstr, errstr_size);
        if (!nations)
                return TECG_ERR_CONFIG;
        if ((err = build_sinks(dc, app, false, errstr, errstr_size)))
                goto done;
        bool changed =
                tecg_daemon_reload_nations(app->nations, nations, dc->common.nations_file, NULL);
        nations = NULL;
        if (changed)
                tecg_dashboards_nations_changed(app->dashboards);
done:
        tecg_nations_destroy(nations);
        return err;
}

static tecg_err_t build_mission(const tecg_conf_t *conf, const tecg_dashboard_conf_t *dc,
                                tecg_mission_t *m, char *errstr, size_t errstr_size) {
        char reason[512];
        tecg_mission_init(m);
        m->authorized_strength = dc->authorized_strength;
        m->target_in_iraq = dc->target_in_iraq;
        m->target_outside_iraq = dc->target_outside_iraq;
        m->report_overdue_days = dc->report_overdue_days;
        if (tecg_mission_set_reporting_currency(m, dc->reporting_currency, reason, sizeof(reason)))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: %s",
                                   tecg_conf_origin(conf, "reporting.currency"), reason);
        size_t n;
        const tecg_conf_kv_t *kv = tecg_conf_passthru(conf, "rate.", &n);
        for (size_t i = 0; i < n; i++)
                if (tecg_mission_set_rate(m, kv[i].key, kv[i].value, reason, sizeof(reason)))
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: rate.%s: %s",
                                           kv[i].origin, kv[i].key, reason);
        if (tecg_mission_check(m, reason, sizeof(reason)))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "mission: %s", reason);
        return TECG_OK;
}

/* Removes the options main() handles itself from argv (tecg_daemon_setup
 * would refuse them); true when `option` was there. */
static bool take_option(int *argc, char **argv, const char *option) {
        bool found = false;
        int out = 1;
        for (int i = 1; i < *argc; i++) {
                if (strcmp(argv[i], option) == 0)
                        found = true;
                else
                        argv[out++] = argv[i];
        }
        argv[out] = NULL;
        *argc = out;
        return found;
}

int main(int argc, char **argv) {
        tecg_dashboard_conf_t dc;
        tecg_daemon_t d;
        tecg_mission_t mission;
        char errstr[1024];
        tecg_nations_t *nations = NULL;
        tecg_docstore_t *store = NULL;
        tecg_http_server_t *server = NULL;
        tecg_sign_key_t sign_key;
        bool signing = false;
        char *public_json = NULL;
        http_files_t hf = {0};
        app_t app;
        memset(&app, 0, sizeof(app));
        memset(&sign_key, 0, sizeof(sign_key));

        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--keygen") == 0)
                        return keygen_main(argc, argv);
        bool print_public = take_option(&argc, argv, "--print-public-key");
        if (argc >= 2 && strcmp(argv[1], "--new-token") == 0)
                return new_token(argc - 2, argv + 2);
        int rc = tecg_daemon_setup(&dashboard_spec, &dc, argc, argv, &d);
        if (rc >= 0)
                goto done;
        if (print_public) {
                /* Only the key's public half: no Kafka, no other file.
                 * Asked for, so printed even under security.signing=off. */
                dc.signing = true;
                if (load_signing_key(d.conf, &dc, &sign_key, &signing, errstr, sizeof(errstr))) {
                        rc = tecg_daemon_config_error(&dashboard_spec, errstr);
                        goto done;
                }
                if (!(public_json = tecg_docsign_public_json(&sign_key))) {
                        rc = 1;
                        goto done;
                }
                printf("%s\n", public_json);
                rc = 0;
                goto done;
        }
        if (!(app.sinks = tecg_sinks_new())) {
                rc = tecg_daemon_config_error(&dashboard_spec, "out of memory");
                goto done;
        }
        if (!(nations = tecg_nations_load(dc.common.nations_file, errstr, sizeof(errstr))) ||
            build_mission(d.conf, &dc, &mission, errstr, sizeof(errstr)) ||
            build_sinks(&dc, &app, true, errstr, sizeof(errstr)) ||
            load_signing_key(d.conf, &dc, &sign_key, &signing, errstr, sizeof(errstr)) ||
            load_http_files(d.conf, &dc, &hf, errstr, sizeof(errstr))) {
                rc = tecg_daemon_config_error(&dashboard_spec, errstr);
                goto done;
        }
        if (signing && !(public_json = tecg_docsign_public_json(&sign_key))) {
                tecg_log_err(FAC, "out of memory");
                rc = 1;
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
        app.store = store;
        app.nations = nations;
        tecg_dashboards_options_t opts = {
                .topic_prefix = dc.common.topic_prefix,
                .nations = nations,
                .mission = &mission,
                .store = store,
                .publish_cb = on_publish,
                .sign_key = signing ? &sign_key : NULL,
                .opaque = &app,
                .publish_topic = dc.publish_topic,
                .compose_interval_ms = (int)dc.compose_interval_ms,
                .load_timeout_ms = 60000,
                .stop = (const volatile int *)&tecg_daemon_stop,
        };
        if (!(app.dashboards = tecg_dashboards_new(d.conf, &opts, errstr, sizeof(errstr)))) {
                if (tecg_daemon_stop) {
                        /* A stop during start-up, e.g. with Kafka away. */
                        tecg_log_info(FAC, "stopped during start-up (%s)", errstr);
                        rc = 0;
                } else {
                        tecg_log_err(FAC, "%s", errstr);
                }
                goto done;
        }
        tecg_http_server_conf_t hc;
        tecg_http_server_conf_init(&hc);
        hc.bind_address = dc.http_address;
        hc.port = (uint16_t)dc.http_port;
        hc.max_connections = (unsigned)dc.http_max_connections;
        hc.max_connections_per_client = (unsigned)dc.http_max_connections_per_client;
        hc.max_sse_clients = (unsigned)dc.http_max_streams;
        hc.request_timeout_ms = (int)dc.http_request_timeout_ms;
        hc.tokens = hf.tokens;
        hc.tls_cert_pem = hf.cert_pem;
        hc.tls_key_pem = hf.key_pem;
        hc.tls_client_ca_pem = hf.client_ca_pem;
        hc.allowed_hosts = dc.http_allowed_hosts;
        if (!hf.tokens)
                tecg_log_warn(FAC,
                              "http.auth = none: anyone who can reach %s port %u reads "
                              "every dashboard and /metrics",
                              dc.http_address, (unsigned)dc.http_port);
        hc.metrics_cb = on_metrics;
        hc.metrics_opaque = &app;
        hc.health_cb = on_health;
        hc.health_opaque = &app;
        hc.nation_cb = on_nation;
        hc.nation_opaque = &app;
        hc.signing_key_json = public_json;
        server = tecg_http_server_start(&hc, store, errstr, sizeof(errstr));
        /* The server keeps its own copy of the key. */
        if (hf.key_pem)
                sodium_memzero(hf.key_pem, strlen(hf.key_pem));
        if (!server) {
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
        tecg_log_info(FAC,
                      "serving %s://%s:%u/ (operator page), /api/dashboards, "
                      "/api/stream, /metrics, /healthz; %zu clients in the tokens file",
                      hf.cert_pem ? "https" : "http", dc.http_address, port,
                      tecg_tokens_count(hf.tokens));

        const tecg_daemon_live_t reload = {.keys = live_keys,
                                           .conf_size = sizeof(tecg_dashboard_conf_t),
                                           .apply = apply_live,
                                           .opaque = &app};
        int64_t next_stats = tecg_mono_ms() + dc.common.stats_interval_ms;
        while (!tecg_daemon_stop) {
                if (tecg_daemon_reload_asked)
                        tecg_daemon_reload(&d, &reload);
                if (tecg_dashboards_run_once(app.dashboards, 100, errstr, sizeof(errstr))) {
                        /* rc is 1 here: a restart reads nation-state again
                         * and resumes the versions from tecg.dashboards. */
                        tecg_log_err(FAC,
                                     "%s; exiting (a restart rebuilds the documents "
                                     "from nation-state)",
                                     errstr);
                        goto done;
                }
                if (dc.common.stats_interval_ms && tecg_mono_ms() >= next_stats) {
                        tecg_dashboards_stats_t st;
                        tecg_dashboards_stats(app.dashboards, &st);
                        tecg_log_info("stats",
                                      "states=%llu published=%llu versions "
                                      "funding=%llu staffing=%llu training=%llu",
                                      (unsigned long long)st.states_received,
                                      (unsigned long long)st.published,
                                      (unsigned long long)st.versions[0],
                                      (unsigned long long)st.versions[1],
                                      (unsigned long long)st.versions[2]);
                        next_stats = tecg_mono_ms() + dc.common.stats_interval_ms;
                }
        }
        tecg_log_info(FAC, "stopping");
        rc = 0;
done:;
        /* One budget for the whole stop, whatever the number of sinks: they
         * flush side by side while the rest closes, and Kafka gets what is
         * left of it. After a failure nothing waits. */
        int budget_ms = rc == 0 && app.dashboards ? (int)dc.shutdown_timeout_ms : 0;
        int64_t deadline = tecg_mono_ms() + budget_ms;
        /* The sinks get a version once the topic holds it: that first. */
        tecg_dashboards_flush(app.dashboards, budget_ms / 2);
        int sinks_ms = (int)(deadline - tecg_mono_ms());
        tecg_sinks_stop(app.sinks, sinks_ms > 0 ? sinks_ms : 0);
        tecg_http_server_stop(server);
        tecg_http_server_destroy(server);
        int64_t left = deadline - tecg_mono_ms();
        tecg_dashboards_destroy(app.dashboards, left > 0 ? (int)left : 0);
        tecg_sinks_destroy(app.sinks, 0);
        tecg_docstore_destroy(store);
        http_files_free(&hf);
        tecg_nations_destroy(nations);
        tecg_sign_key_wipe(&sign_key);
        free(public_json);
        tecg_daemon_cleanup(&d);
        return rc;
}
