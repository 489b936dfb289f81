/* tecg-producer: one per nation. Takes the nation's NDJSON events from its
 * spool directory (or stdin), validates them, encodes them in Avro and
 * publishes them to Kafka, idempotently and with acks=all (docs/design.md §1-3).
 *
 *   incoming/ *.ndjson --> validate --> Avro --> tecg.contributions
 *                             |                 tecg.training-completions
 *                             +--> rejected/NAME.errors + NAME.ndjson
 *   file fully acknowledged --> done/
 *
 * With http.port set it also takes POST /v1/events (http_input.h), each
 * body read like one file, answered once Kafka acknowledged it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include "conf.h"
#include "daemon.h"
#include "event.h"
#include "http_input.h"
#include "ingest.h"
#include "kafka.h"
#include "keyring.h"
#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "producer_conf.h"
#include "refdata.h"
#include "sign.h"
#include "spool.h"
#include "tokens.h"
#include "topics.h"

#define FAC "main"

/* How often the main loop refreshes what the monitoring listener serves:
 * more often than any scrape, far less than /healthz's staleness limit. */
#define MONITOR_PUBLISH_MS 1000

/* Exit codes (also in --help). */
enum {
        EXIT_ALL_ACCOUNTED = 0, /* every line delivered or rejected */
        EXIT_FAILURE_RUN = 1,   /* could not run (broker config, spool...) */
        EXIT_USAGE = 2,         /* bad command line or configuration */
        EXIT_UNDELIVERED = 3,   /* stopped with lines not acknowledged */
};

static const tecg_daemon_spec_t producer_spec = {
        .progname = "tecg-producer",
        .usage = "Usage: tecg-producer --nation XXX --config FILE [options] [-]\n"
                 "\n"
                 "Publishes a nation's contribution and training events to Kafka.\n"
                 "Without '-' it runs as a daemon on its spool directory:\n"
                 "  incoming/*.ndjson   files to send (write NAME.tmp, then rename)\n"
                 "  done/              files whose every valid line Kafka acknowledged\n"
                 "  rejected/          NAME.errors (line: reason) and NAME.ndjson\n"
                 "With '-' it sends standard input to its end and exits.\n"
                 "\n"
                 "       tecg-producer --keygen XXX --key-id ID --out FILE\n"
                 "\n"
                 "Makes a new signing key for nation XXX: writes FILE (mode 0600, never\n"
                 "overwritten) and prints its nation-keys.csv line (public key only).\n"
                 "\n"
                 "       tecg-producer --new-token NAME\n"
                 "\n"
                 "Prints a new token for the HTTP input (line 1; shown once, never\n"
                 "stored) and its line for the http.auth.tokens file (line 2), granted\n"
                 "POST /v1/events.\n",
        .exit_status = "Exit status: 0 every line delivered or rejected with a reason;\n"
                       "1 could not run; 2 bad usage or configuration; 3 stopped with\n"
                       "lines not acknowledged (their files stay in incoming/).\n",
        .props = tecg_producer_conf_props,
        .alias_long = "nation",
        .alias_short = 'n',
        .alias_key = "nation",
        .accepts_stdin = true,
};

/* tecg-producer --keygen NATION --key-id ID --out FILE: a new private key
 * file for the nation and, on stdout, the keyring line the operators add
 * to nation-keys.csv (docs/design.md §9.1). Validity stays open: the
 * operators set valid_until on the old key when they rotate. */
static int run_keygen(int argc, char **argv) {
        const struct option longopts[] = {{"keygen", required_argument, NULL, 'k'},
                                          {"key-id", required_argument, NULL, 'i'},
                                          {"out", required_argument, NULL, 'o'},
                                          {NULL, 0, NULL, 0}};
        const char *nation = NULL, *key_id = NULL, *out = NULL;
        char errstr[512], public_b64[TECG_SIGN_PUBLIC_B64_SIZE];
        tecg_sign_key_t key;
        int opt, rc = EXIT_USAGE;
        memset(&key, 0, sizeof(key));
        optind = 1;
        while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (opt) {
                case 'k':
                        nation = optarg;
                        break;
                case 'i':
                        key_id = optarg;
                        break;
                case 'o':
                        out = optarg;
                        break;
                default:
                        goto usage;
                }
        }
        if (optind != argc || !nation || !key_id || !out)
                goto usage;
        if (tecg_nation_code_check(nation, strlen(nation))) {
                fprintf(stderr,
                        "tecg-producer: --keygen: \"%s\" is not a nation code "
                        "(3 upper-case letters)\n",
                        nation);
                goto done;
        }
        rc = EXIT_FAILURE_RUN;
        if (tecg_sign_keygen(key_id, &key, errstr, sizeof(errstr)) ||
            tecg_sign_key_write(out, &key, errstr, sizeof(errstr))) {
                fprintf(stderr, "tecg-producer: --keygen: %s\n", errstr);
                goto done;
        }
        tecg_sign_b64_encode(key.public_key, sizeof(key.public_key), public_b64,
                             sizeof(public_b64));
        printf("%s,%s,%s,,,\n", nation, key.key_id, public_b64);
        rc = fflush(stdout) == 0 ? EXIT_ALL_ACCOUNTED : EXIT_FAILURE_RUN;
        goto done;
usage:
        fprintf(stderr, "Usage: tecg-producer --keygen XXX --key-id ID --out FILE\n");
done:
        tecg_sign_key_wipe(&key);
        return rc;
}

/* --new-token NAME: as tecg-dashboard --new-token NAME /v1/events, so a
 * nation's operators need not install the dashboard to make one. */
static int new_token(int argc, char **argv) {
        char token[TECG_TOKEN_TEXT_SIZE], line[512], errstr[256];
        const char *const routes[] = {TECG_HTTP_INPUT_PATH};
        if (argc != 1) {
                fprintf(stderr, "Usage: tecg-producer --new-token NAME\n");
                return EXIT_USAGE;
        }
        if (tecg_tokens_make(argv[0], routes, 1, token, line, sizeof(line), errstr,
                             sizeof(errstr))) {
                fprintf(stderr, "tecg-producer: --new-token: %s\n", errstr);
                return EXIT_USAGE;
        }
        printf("%s\n%s\n", token, line);
        sodium_memzero(token, sizeof(token));
        if (fflush(stdout) != 0) {
                fprintf(stderr, "tecg-producer: --new-token: cannot write to stdout\n");
                return EXIT_FAILURE_RUN;
        }
        fprintf(stderr, "tecg-producer: line 1 is the token (give it to the national system; it "
                        "is not stored anywhere); add line 2 to the http.auth.tokens file and "
                        "restart the producer\n");
        return EXIT_ALL_ACCOUNTED;
}

static bool wants_keygen(int argc, char **argv) {
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--keygen") == 0 || strncmp(argv[i], "--keygen=", 9) == 0)
                        return true;
        return false;
}

/* The key the events are signed with: loaded (mode checked by
 * tecg_sign_key_load()) and, when the keyring can be read, listed there
 * for this nation with the same public key and not revoked, so a key the
 * aggregator would refuse stops the producer at start-up instead of
 * filling the dead-letter topic. *loaded stays false under
 * security.signing=off. */
static tecg_err_t signing_setup(const tecg_producer_conf_t *pc, const tecg_daemon_t *d,
                                const tecg_nations_t *nations, tecg_sign_key_t *key, bool *loaded,
                                char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_keyring_t *keyring = NULL;
        char *default_path = NULL;
        char why[512];
        *loaded = false;
        if (!pc->signing) {
                tecg_log_warn(FAC, "security.signing=off: events are sent unsigned (a "
                                   "transition setting; an aggregator requiring signatures "
                                   "dead-letters them)");
                return TECG_OK;
        }
        if (!pc->signing_key)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "security.signing.key is not set: events must be signed "
                                   "(make a key with --keygen, or set security.signing=off "
                                   "for a transition period)");
        if ((err = tecg_sign_key_load(pc->signing_key, key, why, sizeof(why)))) {
                tecg_seterr(err, errstr, errstr_size, "%s: security.signing.key: %s",
                            tecg_conf_origin(d->conf, "security.signing.key"), why);
                goto done;
        }
        *loaded = true;
        const char *path = pc->keyring;
        if (!path && !(path = default_path = tecg_keyring_default_path(pc->common.nations_file))) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        /* A nation's machine need not hold the keyring; one configured
         * explicitly must be there. */
        if (!pc->keyring && access(path, F_OK) != 0 && errno == ENOENT) {
                tecg_log_info(FAC, "no keyring at %s: key id %s not checked here", path,
                              key->key_id);
                goto done;
        }
        if (!(keyring = tecg_keyring_load(path, nations, why, sizeof(why)))) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "security.keyring: %s",
                                  why);
                goto done;
        }
        const tecg_keyring_key_t *k = tecg_keyring_find(keyring, key->key_id, strlen(key->key_id));
        const char *problem = !k                              ? "is not in the keyring"
                              : strcmp(k->nation, pc->nation) ? "is another nation's key"
                              : memcmp(k->public_key, key->public_key, sizeof(k->public_key))
                                      ? "has another public key in the keyring"
                              : k->revoked ? "is revoked"
                                           : NULL;
        if (problem) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "%s: key id %s %s (%s): the aggregator would refuse every "
                                  "event",
                                  pc->signing_key, key->key_id, problem, path);
                goto done;
        }
done:
        tecg_keyring_destroy(keyring);
        free(default_path);
        return err;
}

/* One more sample of a family tecg_metrics_add() opened. */
static void metrics_sample(tecg_buf_t *out, const char *name, const char *labels, double value) {
        char line[256];
        snprintf(line, sizeof(line), "%s{%s} %.17g\n", name, labels, value);
        tecg_buf_puts(out, line);
}

/* The HTTP input's counters: requests by status, lines by outcome. */
static void write_http_metrics(tecg_buf_t *out, const char *nation, tecg_http_input_t *hi) {
        static tecg_http_input_stats_t st; /* large; the main thread's only */
        char labels[64];
        tecg_http_input_stats(hi, &st);
        /* 200 always, so the family exists before the first request. */
        snprintf(labels, sizeof(labels), "nation=\"%s\",code=\"200\"", nation);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_producer_http_requests_total",
                         "HTTP input requests answered, by status.", labels,
                         (double)st.requests[200]);
        for (unsigned code = 100; code < 600; code++) {
                if (code == 200 || !st.requests[code])
                        continue;
                snprintf(labels, sizeof(labels), "nation=\"%s\",code=\"%u\"", nation, code);
                metrics_sample(out, "tecg_producer_http_requests_total", labels,
                               (double)st.requests[code]);
        }
        snprintf(labels, sizeof(labels), "nation=\"%s\",outcome=\"accepted\"", nation);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_producer_http_lines_total",
                         "Lines of HTTP input answered, by outcome (also in lines_total, "
                         "delivered_total, rejected_total).",
                         labels, (double)st.lines_accepted);
        snprintf(labels, sizeof(labels), "nation=\"%s\",outcome=\"rejected\"", nation);
        metrics_sample(out, "tecg_producer_http_lines_total", labels, (double)st.lines_rejected);
        snprintf(labels, sizeof(labels), "nation=\"%s\"", nation);
        tecg_metrics_add(out, TECG_METRIC_GAUGE, "tecg_producer_http_pending",
                         "HTTP requests received, not yet answered.", labels,
                         (double)tecg_http_input_pending(hi));
}

/* The counters as Prometheus text: metrics.file and /metrics alike. */
static void metrics_text(const tecg_producer_conf_t *pc, const tecg_ingest_t *ing,
                         tecg_http_input_t *hi, tecg_buf_t *out) {
        tecg_ingest_stats_t st;
        char labels[32];
        tecg_ingest_stats(ing, &st);
        snprintf(labels, sizeof(labels), "nation=\"%s\"", pc->nation);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_producer_lines_total", "Input lines read.",
                         labels, (double)st.lines);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_producer_delivered_total",
                         "Events acknowledged by Kafka.", labels, (double)st.delivered);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_producer_rejected_total",
                         "Lines rejected with a reason.", labels, (double)st.rejected);
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_producer_files_done_total",
                         "Files moved to done/.", labels, (double)st.files_done);
        tecg_metrics_add(out, TECG_METRIC_GAUGE, "tecg_producer_outstanding",
                         "Events sent, not yet acknowledged.", labels,
                         (double)tecg_ingest_outstanding(ing));
        if (hi)
                write_http_metrics(out, pc->nation, hi);
}

static void write_metrics(const tecg_producer_conf_t *pc, const tecg_ingest_t *ing,
                          tecg_http_input_t *hi) {
        tecg_buf_t out = TECG_BUF_INIT;
        char errstr[512];
        metrics_text(pc, ing, hi, &out);
        if (tecg_metrics_write_file(&out, pc->common.metrics_file, errstr, sizeof(errstr)))
                tecg_log_warn(FAC, "%s", errstr);
        tecg_buf_free(&out);
}

/* The snapshot the monitoring listener serves. Ready when Kafka takes
 * messages now (tecg_ingest_ready(): a broker reachable, acknowledgements
 * coming), the same test the HTTP input answers 503 by. */
static void monitor_publish(tecg_monitor_t *mon, const tecg_producer_conf_t *pc, tecg_ingest_t *ing,
                            tecg_http_input_t *hi) {
        tecg_buf_t out = TECG_BUF_INIT;
        char why[256], json[512], labels[32];
        bool ready = tecg_ingest_ready(ing, why, sizeof(why)) == TECG_OK;
        snprintf(json, sizeof(json), "{\"status\":\"%s\",\"nation\":\"%s\",\"kafka\":\"%s\"",
                 ready ? "ok" : "unavailable", pc->nation, ready ? "up" : "not ready");
        if (!ready) {
                size_t n = strlen(json);
                snprintf(json + n, sizeof(json) - n, ",\"reason\":\"%s\"", why);
        }
        size_t n = strlen(json);
        snprintf(json + n, sizeof(json) - n, ",\"outstanding\":%llu}",
                 (unsigned long long)tecg_ingest_outstanding(ing));
        metrics_text(pc, ing, hi, &out);
        snprintf(labels, sizeof(labels), "nation=\"%s\"", pc->nation);
        tecg_metrics_add(&out, TECG_METRIC_GAUGE, "tecg_producer_ready",
                         "1 when /healthz answers 200 (Kafka takes messages).", labels,
                         ready ? 1 : 0);
        if (tecg_monitor_publish(mon, &out, ready, json))
                tecg_log_warn(FAC, "out of memory: /metrics and /healthz not updated");
        tecg_buf_free(&out);
}

static void log_stats(const tecg_producer_conf_t *pc, const tecg_ingest_t *ing,
                      tecg_http_input_t *hi) {
        tecg_ingest_stats_t st;
        tecg_ingest_stats(ing, &st);
        tecg_log_info("stats",
                      "lines=%llu delivered=%llu rejected=%llu "
                      "files_done=%llu outstanding=%llu",
                      (unsigned long long)st.lines, (unsigned long long)st.delivered,
                      (unsigned long long)st.rejected, (unsigned long long)st.files_done,
                      (unsigned long long)tecg_ingest_outstanding(ing));
        if (pc->common.metrics_file)
                write_metrics(pc, ing, hi);
}

/* What a reload may change: the limits (a new validator, between files)
 * and the nations list (replaced inside the handle the validator
 * borrows). */
typedef struct {
        tecg_ingest_t *ing;
        tecg_nations_t *nations;
        const char *nation; /* this producer's */
} live_t;

static const char *const live_keys[] = {"nations.file", "limits.", NULL};

/* SIGHUP: both or neither. A list without this producer's own nation is
 * refused, as at start: every line would be rejected. */
static tecg_err_t apply_live(const tecg_conf_t *conf, const void *fresh, void *opaque, char *errstr,
                             size_t errstr_size) {
        const tecg_producer_conf_t *pc = fresh;
        live_t *live = opaque;
        tecg_err_t err = TECG_OK;
        tecg_nations_t *nations = tecg_nations_load(pc->common.nations_file, errstr, errstr_size);
        if (!nations)
                return TECG_ERR_CONFIG;
        if (!tecg_nations_find(nations, live->nation)) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "%s: nations.file: %s is not in %s, the nation this producer "
                                  "reports for",
                                  tecg_conf_origin(conf, "nations.file"), live->nation,
                                  pc->common.nations_file);
                goto done;
        }
        tecg_validate_limits_t limits = {.max_line_bytes = (size_t)pc->line_bytes,
                                         .max_depth = (int)pc->json_depth,
                                         .max_string_bytes = (size_t)pc->string_bytes};
        if ((err = tecg_ingest_set_limits(live->ing, &limits, (uint64_t)pc->file_lines, errstr,
                                          errstr_size)))
                goto done;
        tecg_daemon_reload_nations(live->nations, nations, pc->common.nations_file, NULL);
        nations = NULL;
done:
        tecg_nations_destroy(nations);
        return err;
}

/* Daemon mode: send every file that appears in incoming/ (with a spool)
 * and every body posted to the HTTP input (with one), until signalled. */
static void run_daemon(tecg_daemon_t *d, const tecg_producer_conf_t *pc, tecg_spool_t *spool,
                       tecg_ingest_t *ing, tecg_http_input_t *hi, tecg_monitor_t *mon,
                       tecg_nations_t *nations) {
        char errstr[512];
        int64_t next_scan = 0, next_stats = tecg_mono_ms() + pc->common.stats_interval_ms;
        int64_t next_publish = 0;
        bool scan_failing = false;
        /* A posted body waits for the next turn of the loop: keep it short. */
        int poll_ms = hi ? 20 : 100;
        live_t live = {.ing = ing, .nations = nations, .nation = pc->nation};
        const tecg_daemon_live_t reload = {.keys = live_keys,
                                           .conf_size = sizeof(tecg_producer_conf_t),
                                           .apply = apply_live,
                                           .opaque = &live};

        if (spool)
                tecg_log_info(FAC, "watching %s/incoming for %s events", tecg_spool_dir(spool),
                              pc->nation);
        while (!tecg_daemon_stop) {
                int64_t now = tecg_mono_ms();
                if (tecg_daemon_reload_asked)
                        tecg_daemon_reload(d, &reload);
                if (hi)
                        tecg_http_input_run(hi, ing);
                if (mon && now >= next_publish) {
                        monitor_publish(mon, pc, ing, hi);
                        next_publish = now + MONITOR_PUBLISH_MS;
                }
                if (spool && now >= next_scan) {
                        char **names;
                        size_t count;
                        if (tecg_spool_scan(spool, &names, &count, errstr, sizeof(errstr))) {
                                /* Not recreated: incoming/ belongs to the
                                 * national system, and a spool on an
                                 * unmounted volume must not be refilled on
                                 * the disk below it. */
                                if (!scan_failing)
                                        tecg_log_err(FAC,
                                                     "%s; no file is read until it "
                                                     "is back (the producer does not "
                                                     "create it); looking again every "
                                                     "%lld ms",
                                                     errstr, (long long)pc->scan_interval_ms);
                                scan_failing = true;
                        } else {
                                if (scan_failing)
                                        tecg_log_notice(FAC,
                                                        "%s/incoming can be read "
                                                        "again",
                                                        tecg_spool_dir(spool));
                                scan_failing = false;
                        }
                        for (size_t i = 0; !scan_failing && i < count && !tecg_daemon_stop; i++) {
                                if (tecg_ingest_is_busy(ing, names[i]))
                                        continue;
                                tecg_err_t err = tecg_ingest_spool_file(ing, names[i], errstr,
                                                                        sizeof(errstr));
                                if (err && err != TECG_ERR_RETRY)
                                        tecg_log_err(FAC, "%s", errstr);
                                tecg_ingest_poll(ing, 0);
                        }
                        if (!scan_failing)
                                tecg_spool_names_free(names, count);
                        next_scan = tecg_mono_ms() + pc->scan_interval_ms;
                }
                if (pc->common.stats_interval_ms && now >= next_stats) {
                        log_stats(pc, ing, hi);
                        next_stats = now + pc->common.stats_interval_ms;
                }
                tecg_ingest_poll(ing, poll_ms);
        }
}

/* SIGTERM with the HTTP input: no new connection; the requests already
 * handed to Kafka get their answer if it comes within the shutdown
 * timeout (shared with the drain after it), the others 503. */
static void http_shutdown(const tecg_producer_conf_t *pc, tecg_ingest_t *ing,
                          tecg_http_input_t *hi) {
        int64_t deadline = tecg_mono_ms() + pc->shutdown_timeout_ms;
        tecg_http_input_quiesce(hi);
        size_t pending;
        while ((pending = tecg_http_input_pending(hi)) > 0 && tecg_mono_ms() < deadline) {
                tecg_http_input_run(hi, ing);
                tecg_ingest_poll(ing, 20);
        }
        if (pending)
                tecg_log_warn(FAC,
                              "%zu HTTP requests not answered within shutdown.timeout.ms: "
                              "answered 503",
                              pending);
        tecg_http_input_stop(hi);
}

typedef struct {
        tecg_tokens_t *tokens;
        char *cert_pem, *key_pem;
} http_files_t;

static void http_files_free(http_files_t *hf) {
        tecg_tokens_destroy(hf->tokens);
        if (hf->key_pem)
                sodium_memzero(hf->key_pem, strlen(hf->key_pem));
        free(hf->cert_pem);
        free(hf->key_pem);
        memset(hf, 0, sizeof(*hf));
}

/* A PEM file, NUL-terminated; a private key must be readable by its owner
 * only, as the dashboard requires. */
static char *read_pem(const char *key, const char *path, bool private_key, char *errstr,
                      size_t errstr_size) {
        tecg_buf_t text = TECG_BUF_INIT;
        struct stat st;
        char why[512];
        char *out = NULL;
        if (stat(path, &st) != 0) {
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
        if (tecg_buf_read_file(&text, path, (size_t)1024 * 1024, "a PEM file", why, sizeof(why)) ||
            tecg_buf_terminate(&text)) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: %s", key, why);
                goto done;
        }
        out = (char *)text.data;
        text.data = NULL;
done:
        if (text.data)
                sodium_memzero(text.data, text.len);
        tecg_buf_free(&text);
        return out;
}

/* The HTTP input's files from the configuration, checked now so that
 * --check-config finds what would stop it: the tokens file (or an
 * explicit http.auth = none on loopback) and the TLS files. */
static tecg_err_t http_files_load(const tecg_conf_t *conf, const tecg_producer_conf_t *pc,
                                  http_files_t *hf, char *errstr, size_t errstr_size) {
        char reason[512];
        if (strcmp(pc->http_auth, "none") == 0) {
                if (pc->http_auth_tokens)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s: http.auth = none, but http.auth.tokens is set",
                                           tecg_conf_origin(conf, "http.auth"));
                if (strncmp(pc->http_address, "127.", 4) != 0 &&
                    strcmp(pc->http_address, "::1") != 0 &&
                    strcmp(pc->http_address, "localhost") != 0)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s: http.auth = none is allowed on a loopback "
                                           "http.address only, not %s",
                                           tecg_conf_origin(conf, "http.auth"), pc->http_address);
        } else if (strcmp(pc->http_auth, "tokens") == 0) {
                if (!pc->http_auth_tokens)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "http.port is set but http.auth.tokens is not: make "
                                           "tokens with tecg-producer --new-token, or set "
                                           "http.auth = none on a loopback http.address");
                if (!(hf->tokens = tecg_tokens_load(pc->http_auth_tokens, reason, sizeof(reason))))
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "http.auth.tokens: %s", reason);
        } else {
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "%s: http.auth must be tokens or none, not '%s'",
                                   tecg_conf_origin(conf, "http.auth"), pc->http_auth);
        }
        if (!pc->http_tls_cert != !pc->http_tls_key)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "http.tls.cert and http.tls.key go together");
        if (pc->http_tls_cert && (!(hf->cert_pem = read_pem("http.tls.cert", pc->http_tls_cert,
                                                            false, errstr, errstr_size)) ||
                                  !(hf->key_pem = read_pem("http.tls.key", pc->http_tls_key, true,
                                                           errstr, errstr_size))))
                return TECG_ERR_CONFIG;
        return TECG_OK;
}

/* Starts the HTTP input and writes http.port.file. */
static tecg_http_input_t *http_start(const tecg_producer_conf_t *pc, const http_files_t *hf,
                                     char *errstr, size_t errstr_size) {
        tecg_http_input_conf_t hc;
        tecg_http_input_conf_init(&hc);
        hc.bind_address = pc->http_address;
        hc.port = (uint16_t)pc->http_port;
        hc.max_connections = (unsigned)pc->http_max_connections;
        hc.max_connections_per_client = (unsigned)pc->http_max_connections_per_client;
        hc.request_timeout_ms = (int)pc->http_request_timeout_ms;
        hc.response_timeout_ms = (int)pc->http_response_timeout_ms;
        hc.retry_after_s = (int)pc->http_retry_after_s;
        hc.max_body_bytes = (size_t)pc->http_max_body_bytes;
        hc.tokens = hf->tokens;
        hc.tls_cert_pem = hf->cert_pem;
        hc.tls_key_pem = hf->key_pem;
        if (!hf->tokens)
                tecg_log_warn(FAC,
                              "http.auth = none: anyone who can reach %s port %lld can post "
                              "events for %s",
                              pc->http_address, (long long)pc->http_port, pc->nation);
        tecg_http_input_t *hi = tecg_http_input_start(&hc, errstr, errstr_size);
        if (hi && pc->http_port_file) {
                FILE *fp = fopen(pc->http_port_file, "w");
                if (!fp || fprintf(fp, "%u\n", (unsigned)tecg_http_input_port(hi)) < 0 ||
                    fclose(fp) != 0) {
                        tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "%s: %s", pc->http_port_file,
                                    strerror(errno));
                        tecg_http_input_destroy(hi);
                        return NULL;
                }
        }
        return hi;
}

/* Pipe mode: stdin to its end, then wait for every acknowledgement.
 * False when the input was not read to its end. */
static bool run_stdin(tecg_ingest_t *ing) {
        char errstr[512];
        tecg_err_t err = tecg_ingest_stream(ing, "stdin", STDIN_FILENO, errstr, sizeof(errstr));
        if (err)
                tecg_log_err(FAC, "%s", errstr);
        while (!tecg_daemon_stop && tecg_ingest_outstanding(ing) > 0)
                tecg_ingest_poll(ing, 100);
        return err == TECG_OK;
}

int main(int argc, char **argv) {
        tecg_producer_conf_t pc;
        tecg_daemon_t d;
        char errstr[1024];
        tecg_nations_t *nations = NULL;
        tecg_spool_t *spool = NULL;
        tecg_ingest_t *ing = NULL;
        tecg_sign_key_t signing_key;
        bool signing = false;
        http_files_t hf = {0};
        tecg_http_input_t *hi = NULL;
        tecg_tokens_t *monitor_tokens = NULL;
        tecg_monitor_t *mon = NULL;
        memset(&signing_key, 0, sizeof(signing_key));

        if (wants_keygen(argc, argv))
                return run_keygen(argc, argv);
        if (argc >= 2 && strcmp(argv[1], "--new-token") == 0)
                return new_token(argc - 2, argv + 2);
        int rc = tecg_daemon_setup(&producer_spec, &pc, argc, argv, &d);
        if (rc >= 0)
                goto done;
        bool http = tecg_conf_origin(d.conf, "http.port") != NULL;
        if (http && d.read_stdin) {
                rc = tecg_daemon_config_error(&producer_spec,
                                              "http.port is set: the HTTP input runs in daemon "
                                              "mode only, not with '-'");
                goto done;
        }
        if (!d.read_stdin && !pc.spool_dir && !http) {
                rc = tecg_daemon_config_error(&producer_spec,
                                              "spool.dir is not set "
                                              "(required unless reading stdin with '-' or "
                                              "taking events over HTTP with http.port)");
                goto done;
        }
        if (http && http_files_load(d.conf, &pc, &hf, errstr, sizeof(errstr))) {
                rc = tecg_daemon_config_error(&producer_spec, errstr);
                goto done;
        }
        if (tecg_conf_origin(d.conf, "metrics.http.port") && d.read_stdin) {
                rc = tecg_daemon_config_error(&producer_spec,
                                              "metrics.http.port is set: the monitoring "
                                              "listener runs in daemon mode only, not with '-'");
                goto done;
        }
        if (tecg_daemon_monitor_tokens(&d, &pc.common, &monitor_tokens, errstr, sizeof(errstr))) {
                rc = tecg_daemon_config_error(&producer_spec, errstr);
                goto done;
        }
        if (!(nations = tecg_nations_load(pc.common.nations_file, errstr, sizeof(errstr)))) {
                rc = tecg_daemon_config_error(&producer_spec, errstr);
                goto done;
        }
        if (!tecg_nations_find(nations, pc.nation)) {
                snprintf(errstr, sizeof(errstr), "%s: nation: \"%s\" is not in %s",
                         tecg_conf_origin(d.conf, "nation"), pc.nation, pc.common.nations_file);
                rc = tecg_daemon_config_error(&producer_spec, errstr);
                goto done;
        }
        if (signing_setup(&pc, &d, nations, &signing_key, &signing, errstr, sizeof(errstr))) {
                rc = tecg_daemon_config_error(&producer_spec, errstr);
                goto done;
        }
        tecg_conf_log(d.conf, "config");
        if (d.check_only) {
                rc = tecg_daemon_config_ok(&d);
                goto done;
        }

        rc = EXIT_FAILURE_RUN;
        if (pc.spool_dir && !(spool = tecg_spool_open(pc.spool_dir, errstr, sizeof(errstr)))) {
                tecg_log_err(FAC, "%s", errstr);
                goto done;
        }
        tecg_daemon_signals();
        tecg_ingest_opts_t opts = {
                .validate = {.max_line_bytes = (size_t)pc.line_bytes,
                             .max_depth = (int)pc.json_depth,
                             .max_string_bytes = (size_t)pc.string_bytes},
                .max_file_lines = (uint64_t)pc.file_lines,
                .retry_interval_ms = pc.retry_interval_ms,
                .signing_key = signing ? &signing_key : NULL,
                .seal_window_ms = pc.seal_ms,
        };
        if (!(ing = tecg_ingest_new(d.conf, pc.common.topic_prefix, nations, pc.nation, spool,
                                    &opts, (const volatile int *)&tecg_daemon_stop, errstr,
                                    sizeof(errstr)))) {
                tecg_log_err(FAC, "%s", errstr);
                goto done;
        }
        if (pc.common.schema_registry_url &&
            tecg_ingest_use_registry(ing, pc.common.schema_registry_url, pc.common.topic_prefix,
                                     errstr, sizeof(errstr))) {
                tecg_log_err(FAC, "%s", errstr);
                goto done;
        }
        tecg_log_info(FAC, "started for %s (topics %s%s, %s%s; %s%s)", pc.nation,
                      pc.common.topic_prefix, tecg_topics_suffix(TECG_TOPICS_CONTRIBUTIONS),
                      pc.common.topic_prefix, tecg_topics_suffix(TECG_TOPICS_TRAINING),
                      signing ? "signed with key " : "unsigned", signing ? signing_key.key_id : "");

        if (http && !(hi = http_start(&pc, &hf, errstr, sizeof(errstr)))) {
                tecg_log_err(FAC, "%s", errstr);
                goto done;
        }

        if (tecg_daemon_monitor_start(&d, &pc.common, monitor_tokens, &mon, errstr,
                                      sizeof(errstr))) {
                tecg_log_err(FAC, "%s", errstr);
                goto done;
        }

        bool input_complete = true;
        if (d.read_stdin)
                input_complete = run_stdin(ing);
        else
                run_daemon(&d, &pc, spool, ing, hi, mon, nations);
        if (hi)
                http_shutdown(&pc, ing, hi);

        uint64_t outstanding = tecg_ingest_outstanding(ing);
        if (outstanding)
                tecg_log_info(FAC,
                              "stopping: waiting up to %lld ms for %llu "
                              "acknowledgements",
                              (long long)pc.shutdown_timeout_ms, (unsigned long long)outstanding);
        if (tecg_ingest_drain(ing, (int)pc.shutdown_timeout_ms) == TECG_OK) {
                rc = EXIT_ALL_ACCOUNTED;
        } else {
                tecg_log_err(FAC, "%llu events not acknowledged within %lld ms",
                             (unsigned long long)tecg_ingest_outstanding(ing),
                             (long long)pc.shutdown_timeout_ms);
                rc = EXIT_UNDELIVERED;
        }
        if (!input_complete && rc == EXIT_ALL_ACCOUNTED)
                rc = EXIT_UNDELIVERED; /* stdin was not read to its end */
        log_stats(&pc, ing, hi);
        tecg_log_info(FAC, "stopped");
done:
        tecg_monitor_destroy(mon);
        tecg_tokens_destroy(monitor_tokens);
        tecg_http_input_stop(hi);
        /* Before the input: its requests still waiting are released by the
         * ingest's last report. */
        tecg_ingest_destroy(ing);
        tecg_http_input_destroy(hi);
        http_files_free(&hf);
        tecg_spool_close(spool);
        tecg_nations_destroy(nations);
        tecg_sign_key_wipe(&signing_key);
        tecg_daemon_cleanup(&d);
        return rc;
}
