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
#include "ingest.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "refdata.h"
#include "spool.h"

#define FAC "main"

/* Exit codes (also in --help). */
enum {
        EXIT_ALL_ACCOUNTED = 0, /* every line delivered or rejected */
        EXIT_FAILURE_RUN = 1,   /* could not run (broker config, spool...) */
        EXIT_USAGE = 2,         /* bad command line or configuration */
        EXIT_UNDELIVERED = 3,   /* stopped with lines not acknowledged */
};

typedef struct {
        char *nation;
        char *spool_dir;
        char *nations_file;
        char *topic_prefix;
        char *log_level;
        int64_t scan_interval_ms;
        int64_t shutdown_timeout_ms;
        int64_t stats_interval_ms;
        char *metrics_file;
        char *schema_registry_url;
        int64_t retry_interval_ms;
        int64_t line_bytes;
        int64_t json_depth;
        int64_t string_bytes;
        int64_t file_lines;
} producer_conf_t;

#define F(field) offsetof(producer_conf_t, field)
static const tecg_conf_prop_t producer_props[] = {
        {"nation", TECG_CONF_STRING, F(nation), NULL, 0, 0, TECG_CONF_F_REQUIRED,
         "ISO 3166-1 alpha-3 code this producer reports for (or --nation)"},
        {"spool.dir", TECG_CONF_STRING, F(spool_dir), NULL, 0, 0, 0,
         "spool directory with incoming/, done/, rejected/ (required unless reading stdin)"},
        {"nations.file", TECG_CONF_STRING, F(nations_file),
         TECG_SOURCE_DIR "/deploy/nations.csv", 0, 0, 0,
         "CSV of accepted nations: code,name,status"},
        {"topic.prefix", TECG_CONF_STRING, F(topic_prefix), "tecg.", 0, 0, 0,
         "prefix of every Kafka topic name"},
        {"log.level", TECG_CONF_STRING, F(log_level), "info", 0, 0, 0,
         "debug, info, notice, warning, err"},
        {"spool.scan.interval.ms", TECG_CONF_INT, F(scan_interval_ms), "500", 10,
         3600000, 0, "how often incoming/ is looked at for new files"},
        {"spool.retry.interval.ms", TECG_CONF_INT, F(retry_interval_ms), "30000", 100,
         86400000, 0,
         "a file that cannot be taken now (not a regular file, unreadable, rejected/ "
         "or done/ not writable) stays in incoming/ and is tried again after this "
         "long; the reason is logged once, then every 10 minutes"},
        {"limits.line.bytes", TECG_CONF_INT, F(line_bytes), "1048576", 1024,
         1073741824, 0,
         "longest input line; a longer one is never read into memory: it is "
         "rejected (\"line is N bytes, longer than limits.line.bytes\") and "
         "rejected/NAME.ndjson keeps only its first 4096 bytes"},
        {"limits.json.depth", TECG_CONF_INT, F(json_depth), "16", 1, 1000, 0,
         "deepest nesting of JSON objects and arrays in a line (an event has 1)"},
        {"limits.string.bytes", TECG_CONF_INT, F(string_bytes), "4096", 64,
         1073741824, 0,
         "longest JSON string (key or value) in a line, in bytes as written "
         "between its quotes (the longest valid text, 200 characters, can take "
         "2400)"},
        {"limits.file.lines", TECG_CONF_INT, F(file_lines), "1000000", 1,
         1000000000, 0,
         "lines sent from one spool file; the lines after them are rejected "
         "unsent, each with its reason, and copied to rejected/NAME.ndjson to be "
         "sent again in another file; the file still goes to done/ (stdin has "
         "no limit)"},
        {"shutdown.timeout.ms", TECG_CONF_INT, F(shutdown_timeout_ms), "30000", 0,
         3600000, 0,
         "on SIGTERM, how long to wait for Kafka to acknowledge what was sent"},
        {"stats.interval.ms", TECG_CONF_INT, F(stats_interval_ms), "60000", 0,
         86400000, 0, "how often counters are logged (0 = never)"},
        {"metrics.file", TECG_CONF_STRING, F(metrics_file), NULL, 0, 0, 0,
         "write Prometheus text-format counters to this file at each stats "
         "interval (node_exporter textfile collector)"},
        {"schema.registry.url", TECG_CONF_STRING, F(schema_registry_url), NULL, 0, 0, 0,
         "Confluent-compatible schema registry: register the schemas there and "
         "frame messages as 00 + schema id + body (default: single-object "
         "encoding, no registry needed)"},
        {"kafka.", TECG_CONF_PREFIX, 0, NULL, 0, 0, 0,
         "any librdkafka property, passed through unchanged (e.g. "
         "kafka.bootstrap.servers=127.0.0.1:9092)"},
        {NULL, 0, 0, NULL, 0, 0, 0, NULL}};
#undef F

static const tecg_daemon_spec_t producer_spec = {
        .progname = "tecg-producer",
        .usage = "Usage: tecg-producer --nation XXX --config FILE [options] [-]\n"
                 "\n"
                 "Publishes a nation's contribution and training events to Kafka.\n"
                 "Without '-' it runs as a daemon on its spool directory:\n"
                 "  incoming/*.ndjson   files to send (write NAME.tmp, then rename)\n"
                 "  done/              files whose every valid line Kafka acknowledged\n"
                 "  rejected/          NAME.errors (line: reason) and NAME.ndjson\n"
                 "With '-' it sends standard input to its end and exits.\n",
        .exit_status = "Exit status: 0 every line delivered or rejected with a reason;\n"
                       "1 could not run; 2 bad usage or configuration; 3 stopped with\n"
                       "lines not acknowledged (their files stay in incoming/).\n",
        .props = producer_props,
        .alias_long = "nation",
        .alias_short = 'n',
        .alias_key = "nation",
        .accepts_stdin = true,
};

static void write_metrics(const producer_conf_t *pc, const tecg_ingest_t *ing) {
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
        if (tecg_metrics_write_file(&out, pc->metrics_file, errstr, sizeof(errstr)))
                tecg_log_warn(FAC, "%s", errstr);
        tecg_buf_free(&out);
}

static void log_stats(const producer_conf_t *pc, const tecg_ingest_t *ing) {
        tecg_ingest_stats_t st;
        tecg_ingest_stats(ing, &st);
        tecg_log_info("stats", "lines=%llu delivered=%llu rejected=%llu "
                      "files_done=%llu outstanding=%llu",
                      (unsigned long long)st.lines,
                      (unsigned long long)st.delivered,
                      (unsigned long long)st.rejected,
                      (unsigned long long)st.files_done,
                      (unsigned long long)tecg_ingest_outstanding(ing));
        if (pc->metrics_file)
                write_metrics(pc, ing);
}

/* Daemon mode: send every file that appears in incoming/, until signalled. */
static void run_spool(const producer_conf_t *pc, tecg_spool_t *spool,
                      tecg_ingest_t *ing) {
        char errstr[512];
        int64_t next_scan = 0, next_stats = tecg_mono_ms() + pc->stats_interval_ms;
        bool scan_failing = false;

        tecg_log_info(FAC, "watching %s/incoming for %s events",
                      tecg_spool_dir(spool), pc->nation);
        while (!tecg_daemon_stop) {
                int64_t now = tecg_mono_ms();
                if (now >= next_scan) {
                        char **names;
                        size_t count;
                        if (tecg_spool_scan(spool, &names, &count, errstr,
                                            sizeof(errstr))) {
                                /* Not recreated: incoming/ belongs to the
                                 * national system, and a spool on an
                                 * unmounted volume must not be refilled on
                                 * the disk below it. */
                                if (!scan_failing)
                                        tecg_log_err(FAC, "%s; no file is read until it "
                                                     "is back (the producer does not "
                                                     "create it); looking again every "
                                                     "%lld ms", errstr,
                                                     (long long)pc->scan_interval_ms);
                                scan_failing = true;
                        } else {
                                if (scan_failing)
                                        tecg_log_notice(FAC, "%s/incoming can be read "
                                                        "again", tecg_spool_dir(spool));
                                scan_failing = false;
                        }
                        for (size_t i = 0; !scan_failing && i < count && !tecg_daemon_stop; i++) {
                                if (tecg_ingest_is_busy(ing, names[i]))
                                        continue;
                                tecg_err_t err = tecg_ingest_spool_file(
                                        ing, names[i], errstr, sizeof(errstr));
                                if (err && err != TECG_ERR_RETRY)
                                        tecg_log_err(FAC, "%s", errstr);
                                tecg_ingest_poll(ing, 0);
                        }
                        if (!scan_failing)
                                tecg_spool_names_free(names, count);
                        next_scan = tecg_mono_ms() + pc->scan_interval_ms;
                }
                if (pc->stats_interval_ms && now >= next_stats) {
                        log_stats(pc, ing);
                        next_stats = now + pc->stats_interval_ms;
                }
                tecg_ingest_poll(ing, 100);
        }
}

/* Pipe mode: stdin to its end, then wait for every acknowledgement.
 * False when the input was not read to its end. */
static bool run_stdin(tecg_ingest_t *ing) {
        char errstr[512];
        tecg_err_t err = tecg_ingest_stream(ing, "stdin", STDIN_FILENO, errstr,
                                            sizeof(errstr));
        if (err)
                tecg_log_err(FAC, "%s", errstr);
        while (!tecg_daemon_stop && tecg_ingest_outstanding(ing) > 0)
                tecg_ingest_poll(ing, 100);
        return err == TECG_OK;
}

int main(int argc, char **argv) {
        producer_conf_t pc;
        tecg_daemon_t d;
        char errstr[1024];
        tecg_nations_t *nations = NULL;
        tecg_spool_t *spool = NULL;
        tecg_ingest_t *ing = NULL;

        int rc = tecg_daemon_setup(&producer_spec, &pc, argc, argv, &d);
        if (rc >= 0)
                goto done;
        rc = EXIT_USAGE;
        if (!d.read_stdin && !pc.spool_dir) {
                rc = tecg_daemon_config_error(&producer_spec, "spool.dir is not set "
                                              "(required unless reading stdin with '-')");
                goto done;
        }
        if (!(nations = tecg_nations_load(pc.nations_file, errstr, sizeof(errstr)))) {
                rc = tecg_daemon_config_error(&producer_spec, errstr);
                goto done;
        }
        if (!tecg_nations_find(nations, pc.nation)) {
                snprintf(errstr, sizeof(errstr), "%s: nation: \"%s\" is not in %s",
                         tecg_conf_origin(d.conf, "nation"), pc.nation, pc.nations_file);
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
        };
        if (!(ing = tecg_ingest_new(d.conf, pc.topic_prefix, nations, pc.nation, spool,
                                    &opts, (const volatile int *)&tecg_daemon_stop,
                                    errstr, sizeof(errstr)))) {
                tecg_log_err(FAC, "%s", errstr);
                goto done;
        }
        if (pc.schema_registry_url &&
            tecg_ingest_use_registry(ing, pc.schema_registry_url, pc.topic_prefix, errstr,
                                     sizeof(errstr))) {
                tecg_log_err(FAC, "%s", errstr);
                goto done;
        }
        tecg_log_info(FAC, "started for %s (topics %scontributions, "
                      "%straining-completions)", pc.nation, pc.topic_prefix,
                      pc.topic_prefix);

        bool input_complete = true;
        if (d.read_stdin)
                input_complete = run_stdin(ing);
        else
                run_spool(&pc, spool, ing);

        uint64_t outstanding = tecg_ingest_outstanding(ing);
        if (outstanding)
                tecg_log_info(FAC, "stopping: waiting up to %lld ms for %llu "
                              "acknowledgements", (long long)pc.shutdown_timeout_ms,
                              (unsigned long long)outstanding);
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
        tecg_daemon_cleanup(&d);
        return rc;
}
