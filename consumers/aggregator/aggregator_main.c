/* tecg-aggregator: a member of the aggregator consumer group. Counts the
 * nations' events exactly once per event_id and publishes each changed
 * nation's totals to tecg.nation-state, all in Kafka transactions
 * (docs/design.md §4; the engine is aggregator.c). Scale out by starting more
 * instances (each with its own instance.id) up to the partition count. */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aggregator.h"
#include "aggregator_conf.h"
#include "clock.h"
#include "conf.h"
#include "daemon.h"
#include "kafka.h"
#include "keyring.h"
#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "refdata.h"
#include "tokens.h"

#define FAC "main"

static const tecg_daemon_spec_t aggregator_spec = {
        .progname = "tecg-aggregator",
        .usage = "Usage: tecg-aggregator --config FILE [-X KEY=VALUE]...\n"
                 "\n"
                 "Aggregates the nations' events per nation, exactly once, into\n"
                 "tecg.nation-state (Kafka transactions; restart-safe).\n",
        .exit_status = "Exit status: 0 stopped by a signal; 1 an error it cannot "
                       "recover from: authorization or Kafka configuration, another "
                       "process with the same instance.id, unreadable state (fix it, "
                       "then restart: it resumes from the last commit); 2 bad usage "
                       "or configuration.\n",
        .props = tecg_aggregator_conf_props,
};

/* The last resort behind the engine's bounded waits. librdkafka 2.0.2's
 * rd_kafka_send_offsets_to_transaction() ignores its timeout while the
 * transaction coordinator is unreachable (it waits for its request, up to
 * transaction.timeout.ms), so a stop during a broker outage could
 * outlast shutdown.timeout.ms: the process then ends anyway, as systemd
 * would end it, with status 0. Nothing is lost: what was not committed is
 * redone from the last commit at the next start. The margin leaves time
 * to exit. */
#define WATCHDOG_MARGIN_MS 200

/* How often the main loop refreshes what the monitoring listener serves:
 * more often than any scrape, far less than /healthz's staleness limit. */
#define MONITOR_PUBLISH_MS 1000

typedef struct {
        int64_t shutdown_timeout_ms;
        atomic_bool done; /* main finished its cleanup */
} watchdog_t;

static void *watchdog_run(void *arg) {
        watchdog_t *w = arg;
        struct timespec tick = {0, 50 * 1000000L};
        while (!tecg_daemon_stop && !atomic_load(&w->done))
                nanosleep(&tick, NULL);
        int64_t deadline = tecg_mono_ms() + w->shutdown_timeout_ms - WATCHDOG_MARGIN_MS;
        while (!atomic_load(&w->done)) {
                if (tecg_mono_ms() >= deadline) {
                        tecg_log_warn(FAC, "a Kafka call did not return within "
                                           "shutdown.timeout.ms: exiting without finishing the "
                                           "cleanup (nothing is lost: the next start resumes "
                                           "from the last commit)");
                        _exit(0);
                }
                nanosleep(&tick, NULL);
        }
        return NULL;
}

_Static_assert(TECG_SLOW_COMMIT_MS == 100, "tecg_aggregator_slow_commits_total's help says 100 ms");

/* The counters as Prometheus text: metrics.file and /metrics alike. */
static void metrics_text(const tecg_aggregator_stats_t *st, tecg_buf_t *out) {
        static const struct {
                const char *name, *help;
                tecg_metric_type_t type;
                size_t offset;
        } m[] = {
                {"tecg_aggregator_consumed_total", "Input messages processed.", TECG_METRIC_COUNTER,
                 offsetof(tecg_aggregator_stats_t, consumed)},
                {"tecg_aggregator_counted_total", "Distinct events aggregated.",
                 TECG_METRIC_COUNTER, offsetof(tecg_aggregator_stats_t, counted)},
                {"tecg_aggregator_duplicates_total", "Events whose event_id was already counted.",
                 TECG_METRIC_COUNTER, offsetof(tecg_aggregator_stats_t, duplicates)},
                {"tecg_aggregator_dead_lettered_total", "Messages sent to the dead-letter topic.",
                 TECG_METRIC_COUNTER, offsetof(tecg_aggregator_stats_t, dead_lettered)},
                {"tecg_aggregator_transactions_total", "Transactions committed.",
                 TECG_METRIC_COUNTER, offsetof(tecg_aggregator_stats_t, transactions)},
                {"tecg_aggregator_slow_commits_total",
                 "Transactions whose commit (offsets and commit) took 100 ms or more.",
                 TECG_METRIC_COUNTER, offsetof(tecg_aggregator_stats_t, slow_commits)},
                {"tecg_aggregator_aborts_total", "Transactions aborted and replayed.",
                 TECG_METRIC_COUNTER, offsetof(tecg_aggregator_stats_t, aborts)},
                {"tecg_aggregator_recoveries_total",
                 "New transactional producers after an error no abort could clear.",
                 TECG_METRIC_COUNTER, offsetof(tecg_aggregator_stats_t, recoveries)},
                {"tecg_aggregator_signature_checks_total",
                 "Ed25519 signature checks made: one per message signed alone, one per seal "
                 "(its root is then remembered); aborted batches' included.",
                 TECG_METRIC_COUNTER, offsetof(tecg_aggregator_stats_t, signature_checks)},
                {"tecg_aggregator_nations", "Nation states held.", TECG_METRIC_GAUGE,
                 offsetof(tecg_aggregator_stats_t, nations)},
                {"tecg_aggregator_event_ids",
                 "Event id records in the id store (counted ids "
                 "and pending corrections).",
                 TECG_METRIC_GAUGE, offsetof(tecg_aggregator_stats_t, seen_ids)},
                {"tecg_aggregator_store_bytes", "Bytes of the id store file in use.",
                 TECG_METRIC_GAUGE, offsetof(tecg_aggregator_stats_t, seen_bytes)},
                {"tecg_aggregator_corrections_applied_total",
                 "Corrections that took a counted event back.", TECG_METRIC_COUNTER,
                 offsetof(tecg_aggregator_stats_t, corrections.applied)},
                {"tecg_aggregator_corrections_pending_total",
                 "Corrections noted before their target arrived.", TECG_METRIC_COUNTER,
                 offsetof(tecg_aggregator_stats_t, corrections.pending)},
                {"tecg_aggregator_corrections_resolved_total",
                 "Events that arrived already superseded or retracted.", TECG_METRIC_COUNTER,
                 offsetof(tecg_aggregator_stats_t, corrections.resolved)},
                {"tecg_aggregator_corrections_mismatched_total",
                 "Events that arrived with another type than a correction expected (counted; "
                 "the correction does not apply).",
                 TECG_METRIC_COUNTER, offsetof(tecg_aggregator_stats_t, corrections.mismatched)},
        };
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
                tecg_metrics_add(out, m[i].type, m[i].name, m[i].help, NULL,
                                 (double)*(const uint64_t *)((const char *)st + m[i].offset));
        /* With transactions_total: the mean commit time over any window. */
        tecg_metrics_add(out, TECG_METRIC_COUNTER, "tecg_aggregator_commit_seconds_total",
                         "Time spent committing transactions (offsets and commit).", NULL,
                         (double)st->commit_ms / 1000.0);
        for (int r = 0; r < TECG_SIG__COUNT; r++) {
                char labels[64];
                snprintf(labels, sizeof(labels), "reason=\"%s\"", tecg_sig_refusal_names[r]);
                tecg_metrics_add(out, TECG_METRIC_COUNTER,
                                 "tecg_aggregator_signature_refused_total",
                                 "Input messages whose signature did not hold, by reason "
                                 "(dead-lettered under security.signatures=require).",
                                 labels, (double)st->sig_refused[r]);
        }
        for (int r = 0; r < TECG_CORR_REFUSED__COUNT; r++) {
                char labels[64];
                snprintf(labels, sizeof(labels), "reason=\"%s\"", tecg_corr_refusal_names[r]);
                tecg_metrics_add(out, TECG_METRIC_COUNTER,
                                 "tecg_aggregator_corrections_refused_total",
                                 "Corrections dead-lettered (stage correction), by reason.", labels,
                                 (double)st->corrections.refused[r]);
        }
}

static void report_stats(const tecg_aggregator_conf_t *ac, const tecg_aggregator_t *agg) {
        tecg_aggregator_stats_t st;
        tecg_aggregator_stats(agg, &st);
        tecg_log_info("stats",
                      "consumed=%llu counted=%llu duplicates=%llu "
                      "dead_lettered=%llu transactions=%llu aborts=%llu recoveries=%llu "
                      "signature_checks=%llu nations=%llu "
                      "event_ids=%llu event_id_bytes=%llu corrections=%llu/%llu/%llu",
                      (unsigned long long)st.consumed, (unsigned long long)st.counted,
                      (unsigned long long)st.duplicates, (unsigned long long)st.dead_lettered,
                      (unsigned long long)st.transactions, (unsigned long long)st.aborts,
                      (unsigned long long)st.recoveries, (unsigned long long)st.signature_checks,
                      (unsigned long long)st.nations, (unsigned long long)st.seen_ids,
                      (unsigned long long)st.seen_bytes, (unsigned long long)st.corrections.applied,
                      (unsigned long long)st.corrections.pending,
                      (unsigned long long)st.corrections.resolved);
        if (!ac->common.metrics_file)
                return;
        tecg_buf_t out = TECG_BUF_INIT;
        char errstr[512];
        metrics_text(&st, &out);
        if (tecg_metrics_write_file(&out, ac->common.metrics_file, errstr, sizeof(errstr)))
                tecg_log_warn(FAC, "%s", errstr);
        tecg_buf_free(&out);
}

/* Readiness (GET /healthz): Kafka answers, the group assigned us, every
 * assigned partition's state is restored, and the input is read to
 * within health.lag.max. The first that fails is the reason. */
static bool health_text(const tecg_aggregator_conf_t *ac, const tecg_aggregator_health_t *h,
                        char *json, size_t json_size) {
        char reason[256] = "";
        if (h->down_ms)
                snprintf(reason, sizeof(reason), "no Kafka broker reachable for %lld s",
                         (long long)(h->down_ms / 1000));
        else if (h->recovering)
                snprintf(reason, sizeof(reason),
                         "recovering from a Kafka error: rewinding to the last commit");
        else if (!h->assigned_once)
                snprintf(reason, sizeof(reason), "waiting for the group to assign partitions");
        else if (h->unrestored)
                snprintf(reason, sizeof(reason), "restoring the state of %d partitions",
                         h->unrestored);
        else if (h->lag > ac->health_lag_max)
                snprintf(reason, sizeof(reason), "%lld messages behind (health.lag.max %lld)",
                         (long long)h->lag, (long long)ac->health_lag_max);
        bool ready = !*reason;
        snprintf(json, json_size,
                 "{\"status\":\"%s\"%s%s%s,\"kafka\":\"%s\",\"partitions\":%d,"
                 "\"restoring\":%d,\"lag\":%lld}",
                 ready ? "ok" : "unavailable", ready ? "" : ",\"reason\":\"", reason,
                 ready ? "" : "\"", h->down_ms ? "down" : "up", h->assigned, h->unrestored,
                 (long long)h->lag);
        return ready;
}

/* The snapshot the monitoring listener serves: the counters of
 * metrics.file, the readiness figures, and /healthz's answer. */
static void monitor_publish(tecg_monitor_t *mon, const tecg_aggregator_conf_t *ac,
                            tecg_aggregator_t *agg) {
        tecg_aggregator_stats_t st;
        tecg_aggregator_health_t h;
        tecg_buf_t out = TECG_BUF_INIT;
        char json[512];
        tecg_aggregator_stats(agg, &st);
        tecg_aggregator_health(agg, &h);
        bool ready = health_text(ac, &h, json, sizeof(json));
        metrics_text(&st, &out);
        tecg_metrics_add(&out, TECG_METRIC_GAUGE, "tecg_aggregator_ready",
                         "1 when /healthz answers 200.", NULL, ready ? 1 : 0);
        tecg_metrics_add(&out, TECG_METRIC_GAUGE, "tecg_aggregator_partitions_assigned",
                         "Input partitions assigned to this instance (both topics).", NULL,
                         h.assigned);
        tecg_metrics_add(&out, TECG_METRIC_GAUGE, "tecg_aggregator_lag_messages",
                         "Messages of the assigned input partitions not yet processed.", NULL,
                         (double)h.lag);
        if (tecg_monitor_publish(mon, &out, ready, json))
                tecg_log_warn(FAC, "out of memory: /metrics and /healthz not updated");
        tecg_buf_free(&out);
}

/* security.signatures and the keyring it needs (docs/design.md §9.1):
 * require or warn without a readable keyring is a start-up error, not a
 * pipeline that refuses every message. */
static tecg_err_t load_keyring(const tecg_aggregator_conf_t *ac, const tecg_nations_t *nations,
                               tecg_signatures_mode_t *mode, tecg_keyring_t **keyring, char *errstr,
                               size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        char *default_path = NULL;
        char why[768];
        if (strcmp(ac->signatures, "off") == 0)
                *mode = TECG_SIGNATURES_OFF;
        else if (strcmp(ac->signatures, "warn") == 0)
                *mode = TECG_SIGNATURES_WARN;
        else if (strcmp(ac->signatures, "require") == 0)
                *mode = TECG_SIGNATURES_REQUIRE;
        else
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "security.signatures: \"%s\" is not off, warn or require",
                                   ac->signatures);
        if (*mode == TECG_SIGNATURES_OFF) {
                tecg_log_warn(FAC, "security.signatures=off: any client that can write the "
                                   "input topics can report for any nation");
                return TECG_OK;
        }
        const char *path = ac->keyring;
        if (!path && !(path = default_path = tecg_keyring_default_path(ac->common.nations_file)))
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        if (!(*keyring = tecg_keyring_load(path, nations, why, sizeof(why)))) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "security.keyring: %s (security.signatures=%s needs the "
                                  "nations' public keys)",
                                  why, ac->signatures);
                goto done;
        }
        if (*mode == TECG_SIGNATURES_WARN)
                tecg_log_warn(FAC, "security.signatures=warn: messages whose signature does "
                                   "not hold are counted all the same (a transition setting)");
        tecg_log_info(FAC, "signatures %s: %zu keys from %s", ac->signatures,
                      tecg_keyring_count(*keyring), path);
done:
        free(default_path);
        return err;
}

/* What a reload may change while the engine runs: the handles the engine
 * borrows stay, their lists are replaced inside them (refdata.h,
 * keyring.h), so the engine's threads see the new ones at their next
 * lookup. */
typedef struct {
        tecg_nations_t *nations;
        tecg_keyring_t *keyring; /* NULL under security.signatures=off */
} live_t;

/* security.keyring only while signatures are checked. */
static const char *const live_keys[] = {"nations.file", "security.keyring", NULL};
static const char *const live_keys_unsigned[] = {"nations.file", NULL};

/* SIGHUP: the nations list and the keyring read again, both or neither
 * put in force. A nation that leaves the list keeps its state (its next
 * events are dead-lettered by the contract check); a key revoked in the
 * keyring is refused from the next message on. */
static tecg_err_t apply_live(const tecg_conf_t *conf, const void *fresh, void *opaque, char *errstr,
                             size_t errstr_size) {
        const tecg_aggregator_conf_t *ac = fresh;
        live_t *live = opaque;
        tecg_nations_t *nations = NULL;
        tecg_keyring_t *keyring = NULL;
        char *default_path = NULL, why[768];
        tecg_err_t err = TECG_OK;
        (void)conf;
        if (!(nations = tecg_nations_load(ac->common.nations_file, errstr, errstr_size))) {
                err = TECG_ERR_CONFIG;
                goto done;
        }
        if (live->keyring) {
                const char *path = ac->keyring;
                if (!path &&
                    !(path = default_path = tecg_keyring_default_path(ac->common.nations_file))) {
                        err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                        goto done;
                }
                if (!(keyring = tecg_keyring_load(path, nations, why, sizeof(why)))) {
                        err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                          "security.keyring: %s", why);
                        goto done;
                }
        }
        tecg_daemon_reload_nations(live->nations, nations, ac->common.nations_file,
                                   "the states of removed nations are kept, their next events "
                                   "are dead-lettered");
        nations = NULL;
        if (keyring && tecg_keyring_same(live->keyring, keyring)) {
                tecg_log_info(FAC, "SIGHUP: the keyring has not changed");
        } else if (keyring) {
                size_t revoked = 0;
                for (size_t i = 0; i < tecg_keyring_count(keyring); i++)
                        revoked += tecg_keyring_at(keyring, i)->revoked;
                tecg_log_notice(FAC,
                                "SIGHUP: keyring in force from the next message: %zu keys, %zu "
                                "revoked",
                                tecg_keyring_count(keyring), revoked);
                tecg_keyring_replace(live->keyring, keyring);
                keyring = NULL;
        }
done:
        free(default_path);
        tecg_keyring_destroy(keyring);
        tecg_nations_destroy(nations);
        return err;
}

/* Every batch allocates and frees up to batch.max.messages of
 * librdkafka's messages and their fetch buffers. By default glibc hands
 * the freed pages back to the kernel and faults them in again, zeroed, at
 * the next batch (about 6 % of the aggregator's time in operator-bench):
 * the heap keeps what a batch needed instead. The peak is the same. */
static void heap_keeps_batch_pages(void) {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int main(int argc, char **argv) {
        tecg_aggregator_conf_t ac;
        tecg_daemon_t d;
        char errstr[1024], hostname[256] = "localhost", member_id[512],
                           txn_id[sizeof("tecg-aggregator-") + sizeof(member_id)];
        tecg_nations_t *nations = NULL;
        tecg_aggregator_t *agg = NULL;
        tecg_keyring_t *keyring = NULL;
        tecg_signatures_mode_t signatures = TECG_SIGNATURES_REQUIRE;
        watchdog_t watchdog = {.done = false};
        tecg_tokens_t *monitor_tokens = NULL;
        tecg_monitor_t *mon = NULL;
        pthread_t watchdog_thread;
        bool watchdog_started = false;

        heap_keeps_batch_pages();
        int rc = tecg_daemon_setup(&aggregator_spec, &ac, argc, argv, &d);
        if (rc >= 0)
                goto done;
        if (!(nations = tecg_nations_load(ac.common.nations_file, errstr, sizeof(errstr)))) {
                rc = tecg_daemon_config_error(&aggregator_spec, errstr);
                goto done;
        }
        if (load_keyring(&ac, nations, &signatures, &keyring, errstr, sizeof(errstr))) {
                rc = tecg_daemon_config_error(&aggregator_spec, errstr);
                goto done;
        }
        if (tecg_daemon_monitor_tokens(&d, &ac.common, &monitor_tokens, errstr, sizeof(errstr))) {
                rc = tecg_daemon_config_error(&aggregator_spec, errstr);
                goto done;
        }
        gethostname(hostname, sizeof(hostname) - 1);
        const char *instance_id = ac.instance_id ? ac.instance_id : hostname;
        /* Both carry the topic prefix. A static member that rejoins gets
         * its previous assignment back whatever it subscribes to now (the
         * broker keeps a stable group's assignment; librdkafka 2.0.2 does
         * not check it against the subscription): under another
         * topic.prefix it must be another member. And two deployments on
         * one cluster with the same instance.id (the host name) would
         * fence each other's transactions under one transactional.id. */
        if ((size_t)snprintf(member_id, sizeof(member_id), "%s@%s", instance_id,
                             ac.common.topic_prefix) >= sizeof(member_id)) {
                rc = tecg_daemon_config_error(&aggregator_spec,
                                              "instance.id: too long (with topic.prefix, at "
                                              "most 510 characters)");
                goto done;
        }
        snprintf(txn_id, sizeof(txn_id), "tecg-aggregator-%s", member_id);
        tecg_conf_log(d.conf, "config");
        if (d.check_only) {
                rc = tecg_daemon_config_ok(&d);
                goto done;
        }
        tecg_daemon_signals();
        watchdog.shutdown_timeout_ms = ac.shutdown_timeout_ms;
        watchdog_started = pthread_create(&watchdog_thread, NULL, watchdog_run, &watchdog) == 0;

        rc = 1;
        /* Before the engine: its start-up (joining, restoring) is what
         * /healthz reports as not ready yet. */
        if (tecg_daemon_monitor_start(&d, &ac.common, monitor_tokens, &mon, errstr,
                                      sizeof(errstr))) {
                tecg_log_err(FAC, "%s", errstr);
                goto done;
        }
        tecg_aggregator_options_t opts = {
                .topic_prefix = ac.common.topic_prefix,
                .group_id = ac.group_id,
                .transactional_id = txn_id,
                .instance_id = member_id,
                .nations = nations,
                .batch_max_messages = (int)ac.batch_max_messages,
                .batch_max_ms = (int)ac.batch_max_ms,
                .restore_timeout_ms = (int)ac.restore_timeout_ms,
                .message_max_bytes = (size_t)ac.message_max_bytes,
                .schema_registry_url = ac.common.schema_registry_url,
                .stop = &tecg_daemon_stop,
                .shutdown_timeout_ms = (int)ac.shutdown_timeout_ms,
                .signatures = signatures,
                .keyring = keyring,
                .store_dir = ac.store_dir,
                .store_map_bytes = (size_t)ac.store_map_bytes,
                .verify_threads = ac.verify_threads ? (int)ac.verify_threads
                                                    : (int)sysconf(_SC_NPROCESSORS_ONLN),
        };
        if (!(agg = tecg_aggregator_new(d.conf, &opts, errstr, sizeof(errstr)))) {
                if (tecg_daemon_stop) {
                        tecg_log_notice(FAC, "%s", errstr);
                        rc = 0;
                } else {
                        tecg_log_err(FAC, "%s", errstr);
                }
                goto done;
        }
        tecg_log_info(FAC, "started: group %s, instance %s, transactional.id %s, topics %s*",
                      ac.group_id, instance_id, txn_id, ac.common.topic_prefix);
        live_t live = {.nations = nations, .keyring = keyring};
        const tecg_daemon_live_t reload = {.keys = keyring ? live_keys : live_keys_unsigned,
                                           .conf_size = sizeof(tecg_aggregator_conf_t),
                                           .apply = apply_live,
                                           .opaque = &live};
        int64_t next_stats = tecg_mono_ms() + ac.common.stats_interval_ms, next_publish = 0;
        while (!tecg_daemon_stop) {
                if (mon && tecg_mono_ms() >= next_publish) {
                        monitor_publish(mon, &ac, agg);
                        next_publish = tecg_mono_ms() + MONITOR_PUBLISH_MS;
                }
                if (tecg_daemon_reload_asked)
                        tecg_daemon_reload(&d, &reload);
                if (tecg_aggregator_run_once(agg, errstr, sizeof(errstr))) {
                        tecg_log_err(FAC,
                                     "%s; exiting (a restart resumes from the "
                                     "last committed transaction)",
                                     errstr);
                        goto done;
                }
                if (ac.common.stats_interval_ms && tecg_mono_ms() >= next_stats) {
                        report_stats(&ac, agg);
                        next_stats = tecg_mono_ms() + ac.common.stats_interval_ms;
                }
        }
        report_stats(&ac, agg);
        tecg_log_info(FAC, "stopping (uncommitted work is redone from the last commit; "
                           "a static member keeps its partitions for session.timeout.ms)");
        rc = 0;
done:
        tecg_monitor_destroy(mon);
        tecg_aggregator_destroy(agg);
        if (watchdog_started) {
                atomic_store(&watchdog.done, true);
                pthread_join(watchdog_thread, NULL);
        }
        tecg_keyring_destroy(keyring);
        tecg_tokens_destroy(monitor_tokens);
        tecg_nations_destroy(nations);
        tecg_daemon_cleanup(&d);
        return rc;
}
