/* tecg-ctl status: the aggregator group's lag per input partition, each
 * nation's last report and its age, the dashboards' versions, and the
 * health of each daemon configured under health.NAME.url. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_format.h"
#include "ctl_kafka.h"
#include "http_client.h"
#include "refdata.h"
#include "timefmt.h"
#include "topics.h"

typedef struct {
        tecg_ctl_format_t *format;
        tecg_ctl_kind_t kind;
        json_t *latest; /* key -> {"value", "timestamp"} of its last message */
} latest_t;

static int latest_cb(void *opaque, const rd_kafka_message_t *km) {
        latest_t *l = opaque;
        tecg_ctl_msg_t m;
        tecg_ctl_kafka_msg(km, &m, NULL, 0);
        char key[128];
        if (!m.key || m.key_len == 0 || m.key_len >= sizeof(key))
                return 0;
        memcpy(key, m.key, m.key_len);
        key[m.key_len] = '\0';
        if (strlen(key) != m.key_len)
                return 0;
        if (!m.value) { /* a tombstone removes it */
                json_object_del(l->latest, key);
                return 0;
        }
        json_t *value = NULL;
        char why[512];
        json_t *entry = json_pack("{s:I}", "timestamp", (json_int_t)m.timestamp_ms);
        if (!entry)
                return 0;
        if (tecg_ctl_format_value(l->format, l->kind, m.value, m.len, &value, why, sizeof(why)))
                json_object_set_new(entry, "error", json_string(why));
        else
                json_object_set_new(entry, "value", value);
        json_object_set_new(l->latest, key, entry);
        return 0;
}

/* Reads topic to its end and keeps the last value of each key. */
static tecg_err_t read_latest(rd_kafka_t *rk, const char *topic, latest_t *l, int timeout_ms,
                              char *errstr, size_t errstr_size) {
        tecg_ctl_from_t from = {TECG_CTL_FROM_BEGINNING, 0};
        if (!(l->latest = json_object()))
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return tecg_ctl_kafka_read(rk, topic, -1, &from, 0, false, timeout_ms, latest_cb, l, errstr,
                                   errstr_size);
}

/* An Avro JSON value: a union is {"type": value}, take the value. */
static json_t *unwrap(json_t *v) {
        if (json_is_object(v) && json_object_size(v) == 1) {
                void *it = json_object_iter(v);
                return json_object_iter_value(it);
        }
        return v;
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "3d 4h", "5h 2m", "40s": an age for people. */
static void age_text(int64_t ms, char *out, size_t size) {
        int64_t s = ms / 1000;
        if (s < 0)
                snprintf(out, size, "in the future");
        else if (s >= 86400)
                snprintf(out, size, "%" PRId64 "d %" PRId64 "h", s / 86400, s % 86400 / 3600);
        else if (s >= 3600)
                snprintf(out, size, "%" PRId64 "h %" PRId64 "m", s / 3600, s % 3600 / 60);
        else if (s >= 60)
                snprintf(out, size, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
        else
                snprintf(out, size, "%" PRId64 "s", s);
}

static json_t *lag_section(const tecg_ctl_t *ctl, rd_kafka_t *rk, char *errstr,
                           size_t errstr_size) {
        static const tecg_topics_id_t inputs[] = {TECG_TOPICS_CONTRIBUTIONS, TECG_TOPICS_TRAINING};
        int timeout = (int)ctl->cc.timeout_ms;
        json_t *rows = json_array();
        for (size_t t = 0; rows && t < 2; t++) {
                char *topic = tecg_topics_name(ctl->cc.common.topic_prefix, inputs[t]);
                int32_t n =
                        topic ? tecg_ctl_kafka_partitions(rk, topic, timeout, errstr, errstr_size)
                              : -1;
                rd_kafka_topic_partition_list_t *parts =
                        n > 0 ? rd_kafka_topic_partition_list_new(n) : NULL;
                for (int32_t p = 0; parts && p < n; p++)
                        rd_kafka_topic_partition_list_add(parts, topic, p);
                rd_kafka_resp_err_t kerr =
                        parts ? rd_kafka_committed(rk, parts, timeout) : RD_KAFKA_RESP_ERR__FAIL;
                /* librdkafka reports a group the user may not Describe
                 * as a time-out (it keeps asking for the coordinator):
                 * name both causes. */
                if (parts && kerr)
                        snprintf(errstr, errstr_size, "%s: committed offsets of group %s: %s%s",
                                 topic, ctl->cc.group_id, rd_kafka_err2str(kerr),
                                 kerr == RD_KAFKA_RESP_ERR__TIMED_OUT
                                         ? " (Kafka did not answer in ctl.timeout.ms, or this "
                                           "user may not Describe the group)"
                                         : "");
                for (int i = 0; parts && !kerr && i < parts->cnt; i++) {
                        int64_t lo = 0, hi = 0;
                        rd_kafka_resp_err_t werr = rd_kafka_query_watermark_offsets(
                                rk, topic, parts->elems[i].partition, &lo, &hi, timeout);
                        if (werr) {
                                snprintf(errstr, errstr_size, "%s [%d]: end offset: %s", topic,
                                         (int)parts->elems[i].partition, rd_kafka_err2str(werr));
                                kerr = werr;
                                break;
                        }
                        int64_t committed = parts->elems[i].offset;
                        /* Nothing committed: the aggregator starts at the
                         * earliest offset (auto.offset.reset=earliest). */
                        int64_t from = committed >= 0 ? committed : lo;
                        json_t *row =
                                json_pack("{s:s,s:i,s:I,s:I}", "topic", topic, "partition",
                                          (int)parts->elems[i].partition, "end", (json_int_t)hi,
                                          "lag", (json_int_t)(hi > from ? hi - from : 0));
                        json_object_set_new(row, "committed",
                                            committed >= 0 ? json_integer(committed) : json_null());
                        json_array_append_new(rows, row);
                }
                bool failed = n < 0 || !parts || kerr;
                if (parts)
                        rd_kafka_topic_partition_list_destroy(parts);
                free(topic);
                if (failed) {
                        json_decref(rows);
                        return NULL;
                }
        }
        return rows;
}

static json_t *nations_section(const tecg_ctl_t *ctl, const json_t *latest,
                               const tecg_nations_t *nations, int64_t now) {
        json_t *rows = json_array();
        const char *key;
        json_t *entry;
        json_object_foreach((json_t *)latest, key, entry) {
                json_t *v = json_object_get(entry, "value");
                json_t *row = json_pack("{s:s}", "nation", key);
                json_int_t ts = json_integer_value(json_object_get(entry, "timestamp"));
                json_object_set_new(row, "written", json_integer(ts));
                if (!v) {
                        json_object_set(row, "error", json_object_get(entry, "error"));
                } else {
                        json_t *as_of = unwrap(json_object_get(v, "as_of"));
                        json_object_set(row, "version", unwrap(json_object_get(v, "version")));
                        json_object_set(row, "events", unwrap(json_object_get(v, "events")));
                        if (json_is_integer(as_of)) {
                                char when[TECG_TIME_RFC3339_SIZE];
                                json_int_t ms = json_integer_value(as_of);
                                json_object_set_new(
                                        row, "last_report",
                                        json_string(tecg_time_format_rfc3339_ms(ms, when)));
                                json_object_set_new(row, "age_ms", json_integer(now - ms));
                        }
                }
                json_array_append_new(rows, row);
        }
        /* The listed nations that never reported, so a silent one shows. */
        for (size_t i = 0; nations && i < tecg_nations_count(nations); i++) {
                const tecg_nation_t *n = tecg_nations_at(nations, i);
                if (!json_object_get(latest, n->code))
                        json_array_append_new(
                                rows, json_pack("{s:s,s:n}", "nation", n->code, "last_report"));
        }
        (void)ctl;
        return rows;
}

static json_t *dashboards_section(const json_t *latest) {
        json_t *rows = json_array();
        const char *key;
        json_t *entry;
        json_object_foreach((json_t *)latest, key, entry) {
                json_t *v = json_object_get(entry, "value");
                json_t *row = json_pack("{s:s,s:O}", "dashboard", key, "written",
                                        json_object_get(entry, "timestamp"));
                if (v) {
                        json_object_set(row, "version", json_object_get(v, "version"));
                        json_object_set(row, "generated_at", json_object_get(v, "generated_at"));
                } else {
                        json_object_set(row, "error", json_object_get(entry, "error"));
                }
                json_array_append_new(rows, row);
        }
        return rows;
}

static json_t *health_section(const tecg_ctl_t *ctl, bool *unhealthy) {
        json_t *rows = json_array();
        for (size_t i = 0; i < ctl->cc.health.count; i++) {
                const tecg_conf_group_item_t *it = &ctl->cc.health.items[i];
                const tecg_ctl_health_t *h = it->data;
                tecg_http_options_t opts = {.url = h->url,
                                            .ca_file = h->ca,
                                            .bearer_token = h->token,
                                            .timeout_ms = (long)ctl->cc.timeout_ms,
                                            .user_agent = "tecg-ctl/" TECG_VERSION};
                tecg_http_response_t resp = TECG_HTTP_RESPONSE_INIT;
                char errstr[512];
                json_t *row = json_pack("{s:s,s:s}", "name", it->name, "url", h->url);
                tecg_http_client_t *c = tecg_http_client_new(&opts, errstr, sizeof(errstr));
                if (!c) {
                        json_object_set_new(row, "error", json_string(errstr));
                } else if (tecg_http_get(c, h->url, NULL, &resp)) {
                        json_object_set_new(row, "error", json_string(resp.errstr));
                } else {
                        json_object_set_new(row, "status", json_integer(resp.status));
                }
                bool ok = c && resp.status >= 200 && resp.status < 300;
                json_object_set_new(row, "healthy", json_boolean(ok));
                if (!ok)
                        *unhealthy = true;
                tecg_http_response_free(&resp);
                tecg_http_client_destroy(c);
                json_array_append_new(rows, row);
        }
        return rows;
}

/* A value of the status for a terminal: text from Kafka made printable. */
static const char *str_or(const json_t *v, const char *dflt, char *buf, size_t size) {
        if (json_is_string(v)) {
                snprintf(buf, size, "%s", json_string_value(v));
                return tecg_ctl_printable(buf);
        }
        if (json_is_integer(v)) {
                snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return buf;
        }
        return dflt;
}

static void print_human(const tecg_ctl_t *ctl, const json_t *st, int64_t now) {
        char b1[64], b2[64], b3[512], b4[128], b5[512], age[64], when[TECG_TIME_RFC3339_SIZE];
        size_t i;
        json_t *row;
        printf("Consumer group %s (aggregator):\n  %-32s %9s %12s %12s %10s\n", ctl->cc.group_id,
               "TOPIC", "PARTITION", "COMMITTED", "END", "LAG");
        json_array_foreach(json_object_get(st, "lag"), i, row) {
                printf("  %-32s %9s %12s %12s %10s\n",
                       str_or(json_object_get(row, "topic"), "", b4, sizeof(b4)),
                       str_or(json_object_get(row, "partition"), "", b1, sizeof(b1)),
                       str_or(json_object_get(row, "committed"), "-", b2, sizeof(b2)),
                       str_or(json_object_get(row, "end"), "", b3, sizeof(b3)),
                       str_or(json_object_get(row, "lag"), "", age, sizeof(age)));
        }
        printf("\nNations (last report = latest occurred_at counted):\n  %-6s %8s %8s %-26s "
               "%s\n",
               "NATION", "VERSION", "EVENTS", "LAST REPORT", "AGE");
        json_array_foreach(json_object_get(st, "nations"), i, row) {
                json_t *a = json_object_get(row, "age_ms");
                if (json_is_integer(a))
                        age_text(json_integer_value(a), age, sizeof(age));
                else
                        snprintf(age, sizeof(age), "%s",
                                 json_object_get(row, "error") ? "undecodable" : "never reported");
                printf("  %-6s %8s %8s %-26s %s\n",
                       str_or(json_object_get(row, "nation"), "", b4, sizeof(b4)),
                       str_or(json_object_get(row, "version"), "-", b1, sizeof(b1)),
                       str_or(json_object_get(row, "events"), "-", b2, sizeof(b2)),
                       str_or(json_object_get(row, "last_report"), "-", b3, sizeof(b3)), age);
        }
        printf("\nDashboards:\n  %-12s %8s %-26s %s\n", "NAME", "VERSION", "GENERATED AT",
               "WRITTEN (AGE)");
        json_array_foreach(json_object_get(st, "dashboards"), i, row) {
                json_int_t ts = json_integer_value(json_object_get(row, "written"));
                age_text(now - ts, age, sizeof(age));
                printf("  %-12s %8s %-26s %s (%s)\n",
                       str_or(json_object_get(row, "dashboard"), "", b4, sizeof(b4)),
                       str_or(json_object_get(row, "version"), "-", b1, sizeof(b1)),
                       str_or(json_object_get(row, "generated_at"), "-", b2, sizeof(b2)),
                       tecg_time_format_rfc3339_ms(ts, when), age);
        }
        json_t *health = json_object_get(st, "health");
        if (json_array_size(health)) {
                printf("\nHealth:\n");
                json_array_foreach(health, i, row) {
                        json_t *err = json_object_get(row, "error");
                        printf("  %-12s %-48s %s\n",
                               str_or(json_object_get(row, "name"), "", b4, sizeof(b4)),
                               str_or(json_object_get(row, "url"), "", b5, sizeof(b5)),
                               err ? str_or(err, "", b3, sizeof(b3))
                                   : str_or(json_object_get(row, "status"), "", b1, sizeof(b1)));
                }
        } else {
                printf("\nHealth: no health.NAME.url configured\n");
        }
}

int tecg_ctl_status(int argc, char **argv) {
        const tecg_ctl_spec_t spec = {
                .name = "status",
                .synopsis = "status",
                .description =
                        "Shows per input partition the aggregator group's committed offset, end "
                        "and\nlag (group.id); per nation its last report (the latest occurred_at "
                        "counted),\nits age and the state's version, and the nations of "
                        "nations.file that never\nreported; each dashboard's version, when it "
                        "was generated and written; and\nthe answer of each health.NAME.url. "
                        "--json prints one object with the\nsections lag, nations, dashboards "
                        "and health.",
                .exit_status = "  0  shown, every configured health URL answered 2xx\n"
                               "  1  shown, but a health URL did not answer 2xx\n",
                .min_args = 0,
                .max_args = 0,
        };
        tecg_ctl_t ctl;
        int rc = tecg_ctl_setup(&spec, argc, argv, &ctl);
        if (rc >= 0)
                return rc;
        char errstr[1024];
        rd_kafka_t *rk = NULL;
        tecg_nations_t *nations = NULL;
        json_t *st = NULL;
        latest_t states = {.kind = TECG_CTL_KIND_AVRO}, dashboards = {.kind = TECG_CTL_KIND_JSON};
        char *t_state = tecg_topics_name(ctl.cc.common.topic_prefix, TECG_TOPICS_NATION_STATE);
        char *t_dash = tecg_topics_name(ctl.cc.common.topic_prefix, TECG_TOPICS_DASHBOARDS);
        int timeout = (int)ctl.cc.timeout_ms;
        bool unhealthy = false;
        /* A nations list that cannot be read only hides the silent ones. */
        if (!(nations = tecg_nations_load(ctl.cc.common.nations_file, errstr, sizeof(errstr))))
                tecg_ctl_fail(spec.name, 0, "%s (nations that never reported are not shown)",
                              errstr);
        if (!t_state || !t_dash ||
            !(states.format = tecg_ctl_format_new(NULL, errstr, sizeof(errstr))) ||
            !(rk = tecg_ctl_kafka_reader(&ctl, ctl.cc.group_id, errstr, sizeof(errstr)))) {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s",
                                   t_state && t_dash ? errstr : "out of memory");
                goto done;
        }
        dashboards.format = states.format;
        tecg_daemon_signals();
        json_t *lag = lag_section(&ctl, rk, errstr, sizeof(errstr));
        if (!lag || read_latest(rk, t_state, &states, timeout, errstr, sizeof(errstr)) ||
            read_latest(rk, t_dash, &dashboards, timeout, errstr, sizeof(errstr))) {
                json_decref(lag);
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s", errstr);
                goto done;
        }
        int64_t now = now_ms();
        st = json_pack("{s:o,s:o,s:o,s:o}", "lag", lag, "nations",
                       nations_section(&ctl, states.latest, nations, now), "dashboards",
                       dashboards_section(dashboards.latest), "health",
                       health_section(&ctl, &unhealthy));
        if (!st) {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "out of memory");
                goto done;
        }
        if (ctl.json) {
                tecg_ctl_print_json_line(stdout, st);
                st = NULL;
        } else {
                print_human(&ctl, st, now);
        }
        rc = unhealthy ? TECG_CTL_EXIT_NO : TECG_CTL_EXIT_OK;
done:
        json_decref(st);
        json_decref(states.latest);
        json_decref(dashboards.latest);
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        tecg_ctl_format_destroy(states.format);
        tecg_nations_destroy(nations);
        free(t_state);
        free(t_dash);
        tecg_ctl_cleanup(&ctl);
        return rc;
}
