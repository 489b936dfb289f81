/* tecg-producer: one per nation. Takes the nation's NDJSON events from its
 * spool directory (or stdin), validates them, encodes them in Avro and
 * publishes them to Kafka, idempotently and with acks=all (docs/design.md §1-3).
 *
 *   incoming/ *.ndjson --> validate --> Avro --> tecg.contributions
 *                             |                 tecg.training-completions
 *                             +--> rejected/NAME.errors + NAME.ndjson
 *   file fully acknowledged --> done/
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "daemon.h"
#include "event.h"
#include "ingest.h"
#include "kafka.h"
#include "keyring.h"
#include "log.h"
#include "metrics.h"
#include "producer_conf.h"
#include "refdata.h"
#include "sign.h"
#include "spool.h"
#include "topics.h"

#define FAC "main"

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
                 "overwritten) and prints its nation-keys.csv line (public key only).\n",
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

static void write_metrics(const tecg_producer_conf_t *pc, const tecg_ingest_t *ing) {
        tecg_ingest_stats_t st;
        tecg_buf_t out = TECG_BUF_INIT;
        char labels[32], errstr[512];
        tecg_ingest_stats(ing, &st);
        snprintf(labels, sizeof(labels), "nation=\"%s\"", pc->nation);
        tecg_metrics_add(&out, TECG_METRIC_COUNTER, "tecg_producer_lines_total",
                         "Input lines read.", labels, (double)st.lines);
        tecg_metrics_add(&out, TECG_METRIC_COUNTER, "tecg_producer_delivered_total",
                         "Events acknowledged by Kafka.", labels, (double)st.delivered);
        tecg_metrics_add(&out, TECG_METRIC_COUNTER, "tecg_producer_rejected_total",
                         "Lines rejected with a reason.", labels, (double)st.rejected);
        tecg_metrics_add(&out, TECG_METRIC_COUNTER, "tecg_producer_files_done_total",
                         "Files moved to done/.", labels, (double)st.files_done);
        tecg_metrics_add(&out, TECG_METRIC_GAUGE, "tecg_producer_outstanding",
                         "Events sent, not yet acknowledged.", labels,
                         (double)tecg_ingest_outstanding(ing));
        if (tecg_metrics_write_file(&out, pc->common.metrics_file, errstr, sizeof(errstr)))
                tecg_log_warn(FAC, "%s", errstr);
        tecg_buf_free(&out);
}

static void log_stats(const tecg_producer_conf_t *pc, const tecg_ingest_t *ing) {
        tecg_ingest_stats_t st;
        tecg_ingest_stats(ing, &st);
        tecg_log_info("stats",
                      "lines=%llu delivered=%llu rejected=%llu "
                      "files_done=%llu outstanding=%llu",
                      (unsigned long long)st.lines, (unsigned long long)st.delivered,
                      (unsigned long long)st.rejected, (unsigned long long)st.files_done,
                      (unsigned long long)tecg_ingest_outstanding(ing));
        if (pc->common.metrics_file)
                write_metrics(pc, ing);
}

/* Daemon mode: send every file that appears in incoming/, until signalled. */
static void run_spool(const tecg_producer_conf_t *pc, tecg_spool_t *spool, tecg_ingest_t *ing) {
        char errstr[512];
        int64_t next_scan = 0, next_stats = tecg_mono_ms() + pc->common.stats_interval_ms;
        bool scan_failing = false;

        tecg_log_info(FAC, "watching %s/incoming for %s events", tecg_spool_dir(spool), pc->nation);
        while (!tecg_daemon_stop) {
                int64_t now = tecg_mono_ms();
                if (now >= next_scan) {
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
                        log_stats(pc, ing);
                        next_stats = now + pc->common.stats_interval_ms;
                }
                tecg_ingest_poll(ing, 100);
        }
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
        memset(&signing_key, 0, sizeof(signing_key));

        if (wants_keygen(argc, argv))
                return run_keygen(argc, argv);
        int rc = tecg_daemon_setup(&producer_spec, &pc, argc, argv, &d);
        if (rc >= 0)
                goto done;
        if (!d.read_stdin && !pc.spool_dir) {
                rc = tecg_daemon_config_error(&producer_spec,
                                              "spool.dir is not set "
                                              "(required unless reading stdin with '-')");
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

        bool input_complete = true;
        if (d.read_stdin)
                input_complete = run_stdin(ing);
        else
                run_spool(&pc, spool, ing);

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
        log_stats(&pc, ing);
        tecg_log_info(FAC, "stopped");
done:
        tecg_ingest_destroy(ing);
        tecg_spool_close(spool);
        tecg_nations_destroy(nations);
        tecg_sign_key_wipe(&signing_key);
        tecg_daemon_cleanup(&d);
        return rc;
}
