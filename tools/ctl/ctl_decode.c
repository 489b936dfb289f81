/* tecg-ctl decode: any tecg topic as one JSON object per line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_format.h"
#include "ctl_kafka.h"
#include "idstore.h"
#include "registry.h"
#include "topics.h"

typedef struct {
        const char *topic;
        int32_t partition;
        tecg_ctl_from_t from;
        bool from_set;
        uint64_t count;
        bool follow;
} decode_opts_t;

typedef struct {
        tecg_ctl_format_t *format;
        tecg_ctl_kind_t kind;
        bool follow;
        uint64_t undecodable;
} decode_run_t;

static int parse_count(const char *what, const char *arg, int64_t min, int64_t max, int64_t *out,
                       char *errstr, size_t errstr_size) {
        char *end;
        errno = 0;
        long long v = strtoll(arg, &end, 10);
        if (!*arg || *end || errno || v < min || v > max) {
                snprintf(errstr, errstr_size, "%s '%s': expected an integer in [%lld, %lld]", what,
                         arg, (long long)min, (long long)max);
                return -1;
        }
        *out = v;
        return 0;
}

static int on_option(void *opaque, int opt, const char *arg, char *errstr, size_t errstr_size) {
        decode_opts_t *o = opaque;
        int64_t v;
        switch (opt) {
        case 't':
                o->topic = arg;
                return 0;
        case 'p':
                if (parse_count("--partition", arg, 0, INT32_MAX, &v, errstr, errstr_size))
                        return -1;
                o->partition = (int32_t)v;
                return 0;
        case 'F':
        case 'T':
                if (o->from_set) {
                        snprintf(errstr, errstr_size, "--from and --from-time: give one");
                        return -1;
                }
                o->from_set = true;
                return opt == 'F' ? tecg_ctl_from_parse(arg, &o->from, errstr, errstr_size)
                                  : tecg_ctl_from_time_parse(arg, &o->from, errstr, errstr_size);
        case 'n':
                if (parse_count("--count", arg, 1, INT64_MAX, &v, errstr, errstr_size))
                        return -1;
                o->count = (uint64_t)v;
                return 0;
        case 'f':
                o->follow = true;
                return 0;
        default:
                snprintf(errstr, errstr_size, "unknown option");
                return -1;
        }
}

/* One entry of an event-ids batch record, printed as the per-event
 * record it stands for (key NATION/event_id, the id record as value), with
 * "batch": the message's own key, the entry's place and the count. */
typedef struct {
        decode_run_t *run;
        const tecg_ctl_msg_t *msg;
        size_t entry, entries;
} batch_print_t;

static tecg_err_t print_batch_entry(void *opaque, const char *nation, const char *event_id,
                                    const tecg_id_record_t *r, char *errstr, size_t errstr_size) {
        batch_print_t *bp = opaque;
        char key[4 + TECG_EVENT_ID_MAX + 1];
        uint8_t value[TECG_ID_RECORD_MAX];
        tecg_ctl_msg_t one = *bp->msg;
        int klen = snprintf(key, sizeof(key), "%s/%s", nation, event_id);
        one.key = key;
        one.key_len = (size_t)klen;
        one.value = value;
        one.len = tecg_id_record_encode(r, value); /* decoded: it encodes */
        json_t *j = tecg_ctl_format_message(bp->run->format, bp->run->kind, &one);
        if (!j)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        json_object_set_new(j, "batch",
                            json_pack("{s:o,s:I,s:I}", "key",
                                      tecg_ctl_bytes_json(bp->msg->key, bp->msg->key_len), "entry",
                                      (json_int_t)++bp->entry, "entries", (json_int_t)bp->entries));
        tecg_ctl_print_json_line(stdout, j);
        return TECG_OK;
}

static int print_message(void *opaque, const rd_kafka_message_t *m) {
        decode_run_t *run = opaque;
        tecg_ctl_header_t hbuf[TECG_CTL_MAX_HEADERS];
        tecg_ctl_msg_t msg;
        char why[512];
        tecg_ctl_kafka_msg(m, &msg, hbuf, TECG_CTL_MAX_HEADERS);
        if (run->kind == TECG_CTL_KIND_TEXT && m->payload &&
            tecg_id_batch_key(msg.key, msg.key_len)) {
                /* The compact form of event-ids: checked whole first, then
                 * one line per id record. */
                batch_print_t bp = {run, &msg, 0, 0};
                if (tecg_id_batch_decode(m->payload, m->len, NULL, NULL, &bp.entries, why,
                                         sizeof(why)) == TECG_OK &&
                    tecg_id_batch_decode(m->payload, m->len, print_batch_entry, &bp, NULL, why,
                                         sizeof(why)) == TECG_OK) {
                        if (run->follow)
                                (void)fflush(stdout);
                        return 0;
                }
                json_t *j = tecg_ctl_format_message(run->format, run->kind, &msg);
                if (j)
                        json_object_set_new(j, "value_error", json_string(why));
                run->undecodable++;
                tecg_ctl_print_json_line(stdout, j);
                return 0;
        }
        json_t *j = tecg_ctl_format_message(run->format, run->kind, &msg);
        if (j && json_object_get(j, "value_error"))
                run->undecodable++;
        tecg_ctl_print_json_line(stdout, j);
        if (run->follow)
                (void)fflush(stdout);
        return 0;
}

int tecg_ctl_decode(int argc, char **argv) {
        static const struct option opts[] = {{"topic", required_argument, NULL, 't'},
                                             {"partition", required_argument, NULL, 'p'},
                                             {"from", required_argument, NULL, 'F'},
                                             {"from-time", required_argument, NULL, 'T'},
                                             {"count", required_argument, NULL, 'n'},
                                             {"follow", no_argument, NULL, 'f'},
                                             {NULL, 0, NULL, 0}};
        decode_opts_t o = {.partition = -1};
        const tecg_ctl_spec_t spec = {
                .name = "decode",
                .synopsis = "decode --topic T [--partition P] [--from OFFSET|--from-time T] "
                            "[--count N] [--follow]",
                .description =
                        "Prints the messages of a tecg topic as one JSON object per line: topic,\n"
                        "partition, offset, timestamp (ms) and time, key, headers, and the value\n"
                        "decoded for the topic: input events in either framing (contributions,\n"
                        "training-completions), nation states, event-ids (a batch record as one\n"
                        "line per id record, with \"batch\"), dashboards (JSON), dead\n"
                        "letters (the original event and the tecg.* headers). A value that does "
                        "not\ndecode is shown as value_error and value_base64. Without --follow it "
                        "stops\nat the end of every partition.",
                .options_help =
                        "  -t, --topic T          the topic: its full name or the part after "
                        "topic.prefix\n"
                        "                         (contributions, nation-state, dead-letter...)\n"
                        "  -p, --partition P      only this partition (default: all)\n"
                        "      --from OFFSET      start at OFFSET in each partition; -N: the last "
                        "N;\n"
                        "                         beginning (default) or end\n"
                        "      --from-time T      start at the first message at or after T (RFC "
                        "3339 or ms)\n"
                        "  -n, --count N          stop after N messages\n"
                        "  -f, --follow           keep reading new messages until interrupted\n",
                .exit_status = "  0  every message read was decoded\n"
                               "  1  at least one value did not decode (shown as value_error)\n",
                .opts = opts,
                .shortopts = "t:p:n:f",
                .min_args = 0,
                .max_args = 0,
                .on_option = on_option,
                .opaque = &o,
        };
        tecg_ctl_t ctl;
        int rc = tecg_ctl_setup(&spec, argc, argv, &ctl);
        if (rc >= 0)
                return rc;
        char errstr[1024];
        char *topic = NULL;
        rd_kafka_t *rk = NULL;
        tecg_registry_t *registry = NULL;
        decode_run_t run = {.follow = o.follow};
        if (!o.topic) {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_USAGE, "--topic is required");
                goto done;
        }
        const char *prefix = ctl.cc.common.topic_prefix;
        int kind = tecg_ctl_kind_of(prefix, o.topic);
        if (kind < 0) {
                size_t n = strlen(prefix) + strlen(o.topic) + 1;
                if ((topic = malloc(n)))
                        snprintf(topic, n, "%s%s", prefix, o.topic);
                kind = topic ? tecg_ctl_kind_of(prefix, topic) : -1;
        } else {
                topic = strdup(o.topic);
        }
        if (kind < 0 || !topic) {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_USAGE,
                                   "--topic %s: not a tecg topic under topic.prefix '%s'", o.topic,
                                   prefix);
                goto done;
        }
        run.kind = (tecg_ctl_kind_t)kind;
        if (ctl.cc.common.schema_registry_url &&
            !(registry = tecg_registry_new(ctl.cc.common.schema_registry_url, NULL, errstr,
                                           sizeof(errstr)))) {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_USAGE, "schema.registry.url: %s",
                                   errstr);
                goto done;
        }
        if (!(run.format = tecg_ctl_format_new(registry, errstr, sizeof(errstr))) ||
            !(rk = tecg_ctl_kafka_reader(&ctl, NULL, errstr, sizeof(errstr)))) {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s", errstr);
                goto done;
        }
        tecg_daemon_signals();
        if (tecg_ctl_kafka_read(rk, topic, o.partition, &o.from, o.count, o.follow,
                                (int)ctl.cc.timeout_ms, print_message, &run, errstr,
                                sizeof(errstr))) {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s", errstr);
                goto done;
        }
        rc = run.undecodable ? TECG_CTL_EXIT_NO : TECG_CTL_EXIT_OK;
done:
        (void)fflush(stdout);
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        tecg_ctl_format_destroy(run.format);
        tecg_registry_destroy(registry);
        free(topic);
        tecg_ctl_cleanup(&ctl);
        return rc;
}
