/* tecg-ctl dead-letter: list and show what the aggregator could not count
 * (docs/design.md §3.3), and replay fixed ones to their source topic.
 *
 * A replay sends the original message, read again at its tecg.source, not
 * the dead letter's copy: the dead letter has neither the producer's
 * headers (the signature) nor, when it was cut, the whole value. The
 * original's key, value, headers and timestamp go out unchanged (the
 * signature covers key, topic, timestamp and value), to the partition it
 * was read from, with one header more, tecg.replay-of, naming the dead
 * letter. The aggregator counts an event_id once, so a message replayed
 * twice, or replayed after it was counted, is counted once. */
#include "ctl_deadletter.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_format.h"
#include "ctl_kafka.h"
#include "kafka.h"
#include "topics.h"

#define HDR_REPLAY_OF "tecg.replay-of"

tecg_err_t tecg_ctl_dl_id_parse(const char *s, int32_t *partition, int64_t *offset, char *errstr,
                                size_t errstr_size) {
        char *end;
        errno = 0;
        long p = strtol(s, &end, 10);
        if (end == s || *end != ':' || errno || p < 0 || p > INT32_MAX || *s == '-' || *s == '+')
                goto bad;
        const char *o = end + 1;
        long long off = strtoll(o, &end, 10);
        if (end == o || *end || errno || off < 0 || *o == '-' || *o == '+')
                goto bad;
        *partition = (int32_t)p;
        *offset = off;
        return TECG_OK;
bad:
        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                           "'%s': a dead letter is PARTITION:OFFSET, as list shows it", s);
}

/* A decimal number of digits only in s[0..len), at most max. */
static int parse_digits(const char *s, size_t len, int64_t max, int64_t *out) {
        if (!len || len > 19)
                return -1;
        int64_t v = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                if (v > (max - (s[i] - '0')) / 10)
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        *out = v;
        return 0;
}

tecg_err_t tecg_ctl_dl_source_parse(const void *value, size_t len, const char *prefix, char *topic,
                                    size_t topic_size, int32_t *partition, int64_t *offset,
                                    char *errstr, size_t errstr_size) {
        const char *s = value;
        const char *slash2 = NULL, *slash1 = NULL;
        for (size_t i = len; i-- > 0;)
                if (s[i] == '/') {
                        if (!slash2)
                                slash2 = s + i;
                        else {
                                slash1 = s + i;
                                break;
                        }
                }
        int64_t p, o;
        size_t tlen = slash1 ? (size_t)(slash1 - s) : 0;
        if (!s || !slash1 || !tlen || tlen >= topic_size ||
            parse_digits(slash1 + 1, (size_t)(slash2 - slash1 - 1), INT32_MAX, &p) ||
            parse_digits(slash2 + 1, len - (size_t)(slash2 + 1 - s), INT64_MAX, &o))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "tecg.source is not TOPIC/PARTITION/OFFSET");
        memcpy(topic, s, tlen);
        topic[tlen] = '\0';
        if (memchr(topic, '\0', tlen) || tecg_ctl_kind_of(prefix, topic) != TECG_CTL_KIND_EVENT)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "tecg.source names no input topic under topic.prefix '%s'",
                                   prefix);
        *partition = (int32_t)p;
        *offset = o;
        return TECG_OK;
}

/* ---- reading ------------------------------------------------------------ */

/* A message copied out of librdkafka, to be kept past its poll. */
typedef struct {
        char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp_ms;
        void *key;
        size_t key_len;
        bool has_key;
        void *value;
        size_t len;
        rd_kafka_headers_t *headers; /* NULL: none */
} copy_t;

static void copy_free(copy_t *c) {
        free(c->topic);
        free(c->key);
        free(c->value);
        if (c->headers)
                rd_kafka_headers_destroy(c->headers);
        memset(c, 0, sizeof(*c));
}

static int copy_of(const rd_kafka_message_t *m, copy_t *c) {
        rd_kafka_timestamp_type_t tstype;
        rd_kafka_headers_t *h = NULL;
        memset(c, 0, sizeof(*c));
        c->partition = m->partition;
        c->offset = m->offset;
        c->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
        c->has_key = m->key != NULL;
        c->key_len = m->key_len;
        c->len = m->len;
        if (!(c->topic = strdup(rd_kafka_topic_name(m->rkt))) ||
            !(c->key = malloc(m->key_len + 1)) || !(c->value = malloc(m->len + 1))) {
                copy_free(c);
                return -1;
        }
        if (m->key && m->key_len)
                memcpy(c->key, m->key, m->key_len);
        if (m->payload && m->len)
                memcpy(c->value, m->payload, m->len);
        if (!rd_kafka_message_headers(m, &h) && h)
                c->headers = rd_kafka_headers_copy(h);
        return 0;
}

typedef struct {
        int64_t want; /* the offset asked for */
        copy_t *out;
        bool found;
        bool nomem;
} fetch_t;

static int fetch_cb(void *opaque, const rd_kafka_message_t *m) {
        fetch_t *f = opaque;
        if (m->offset == f->want) {
                f->found = true;
                f->nomem = copy_of(m, f->out) != 0;
        }
        return 1; /* the first message answers: that offset, or it is gone */
}

/* The message at (topic, partition, offset). TECG_ERR_NOT_FOUND when there
 * is none (beyond the end, or deleted by retention). */
static tecg_err_t fetch(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset,
                        int timeout_ms, copy_t *out, char *errstr, size_t errstr_size) {
        fetch_t f = {.want = offset, .out = out};
        tecg_ctl_from_t from = {TECG_CTL_FROM_OFFSET, offset};
        tecg_err_t err = tecg_ctl_kafka_read(rk, topic, partition, &from, 1, false, timeout_ms,
                                             fetch_cb, &f, errstr, errstr_size);
        if (err)
                return err;
        if (f.nomem)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        if (!f.found)
                return tecg_seterr(TECG_ERR_NOT_FOUND, errstr, errstr_size,
                                   "%s/%d/%" PRId64 ": no such message (beyond the end, or "
                                   "deleted)",
                                   topic, (int)partition, offset);
        return TECG_OK;
}

/* A header's text (UTF-8 or base64), for the list; "" when absent. */
static json_t *header_text(const tecg_ctl_msg_t *m, const char *name) {
        const tecg_ctl_header_t *h = tecg_ctl_header_find(m, name);
        return h ? tecg_ctl_bytes_json(h->value, h->len) : json_string("");
}

/* ---- the subcommand ------------------------------------------------------ */

typedef struct {
        const char *stage;
        bool all;
        bool dry_run;
} dl_opts_t;

typedef struct {
        const tecg_ctl_t *ctl;
        const dl_opts_t *o;
        tecg_ctl_format_t *format;
        /* replay: the dead letters selected */
        copy_t *sel;
        size_t nsel, cap;
        bool nomem;
        uint64_t listed;
} dl_run_t;

static int on_option(void *opaque, int opt, const char *arg, char *errstr, size_t errstr_size) {
        dl_opts_t *o = opaque;
        switch (opt) {
        case 's':
                o->stage = arg;
                return 0;
        case 'a':
                o->all = true;
                return 0;
        case 'd':
                o->dry_run = true;
                return 0;
        default:
                snprintf(errstr, errstr_size, "unknown option");
                return -1;
        }
}

static bool stage_matches(const tecg_ctl_msg_t *m, const char *stage) {
        if (!stage)
                return true;
        const tecg_ctl_header_t *h = tecg_ctl_header_find(m, "tecg.stage");
        return h && h->value && h->len == strlen(stage) && memcmp(h->value, stage, h->len) == 0;
}

static int list_cb(void *opaque, const rd_kafka_message_t *km) {
        dl_run_t *run = opaque;
        tecg_ctl_header_t hbuf[TECG_CTL_MAX_HEADERS];
        tecg_ctl_msg_t m;
        tecg_ctl_kafka_msg(km, &m, hbuf, TECG_CTL_MAX_HEADERS);
        if (!stage_matches(&m, run->o->stage))
                return 0;
        run->listed++;
        json_t *j = json_pack(
                "{s:i,s:I,s:I,s:o,s:o,s:o,s:o,s:o}", "partition", (int)m.partition, "offset",
                (json_int_t)m.offset, "timestamp", (json_int_t)m.timestamp_ms, "stage",
                header_text(&m, "tecg.stage"), "source", header_text(&m, "tecg.source"), "error",
                header_text(&m, "tecg.error"), "key", tecg_ctl_bytes_json(m.key, m.key_len),
                "replay_of", header_text(&m, HDR_REPLAY_OF));
        if (!j)
                return 0;
        char id[64];
        snprintf(id, sizeof(id), "%d:%" PRId64, (int)m.partition, m.offset);
        json_object_set_new(j, "id", json_string(id));
        if (run->ctl->json) {
                tecg_ctl_print_json_line(stdout, j);
                return 0;
        }
        /* One line each; the values may be base64 objects, shown as JSON. */
        char *fields[4];
        const char *names[4] = {"stage", "source", "key", "error"};
        for (int i = 0; i < 4; i++) {
                json_t *v = json_object_get(j, names[i]);
                fields[i] = tecg_ctl_printable(
                        json_is_string(v) ? strdup(json_string_value(v))
                                          : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
        }
        printf("%-10s %-9s %-40s %-5s %s\n", id, fields[0] ? fields[0] : "",
               fields[1] ? fields[1] : "", fields[2] ? fields[2] : "", fields[3] ? fields[3] : "");
        for (int i = 0; i < 4; i++)
                free(fields[i]);
        json_decref(j);
        return 0;
}

static int select_cb(void *opaque, const rd_kafka_message_t *km) {
        dl_run_t *run = opaque;
        tecg_ctl_header_t hbuf[TECG_CTL_MAX_HEADERS];
        tecg_ctl_msg_t m;
        tecg_ctl_kafka_msg(km, &m, hbuf, TECG_CTL_MAX_HEADERS);
        if (!stage_matches(&m, run->o->stage))
                return 0;
        if (run->nsel == run->cap) {
                size_t cap = run->cap ? run->cap * 2 : 16;
                copy_t *p = realloc(run->sel, cap * sizeof(*p));
                if (!p) {
                        run->nomem = true;
                        return 1;
                }
                run->sel = p;
                run->cap = cap;
        }
        if (copy_of(km, &run->sel[run->nsel])) {
                run->nomem = true;
                return 1;
        }
        run->nsel++;
        return 0;
}

/* Delivery reports of the replays: each message's opaque is its result. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        (void)rk;
        (void)opaque;
        int64_t *result = m->_private;
        if (result)
                *result = m->err ? -1 - (int64_t)m->err : m->offset;
}

/* Replays one selected dead letter; 0 sent (or would be, dry run), 1
 * refused with the reason printed, 3 Kafka failed. result: the offset
 * written, set by the delivery report. */
static int replay_one(dl_run_t *run, rd_kafka_t *reader, rd_kafka_t *producer, const copy_t *dl,
                      copy_t *orig, int64_t *result, char *src_topic, size_t src_size,
                      int32_t *src_p, int64_t *src_o) {
        char errstr[1024], id[64];
        const tecg_ctl_t *ctl = run->ctl;
        snprintf(id, sizeof(id), "%d:%" PRId64, (int)dl->partition, dl->offset);
        const void *src = NULL;
        size_t src_len = 0;
        if (dl->headers)
                rd_kafka_header_get_last(dl->headers, "tecg.source", &src, &src_len);
        if (tecg_ctl_dl_source_parse(src, src ? src_len : 0, ctl->cc.common.topic_prefix, src_topic,
                                     src_size, src_p, src_o, errstr, sizeof(errstr)))
                return tecg_ctl_fail("dead-letter replay", TECG_CTL_EXIT_NO, "%s: %s", id, errstr);
        tecg_err_t err = fetch(reader, src_topic, *src_p, *src_o, (int)ctl->cc.timeout_ms, orig,
                               errstr, sizeof(errstr));
        if (err)
                return tecg_ctl_fail("dead-letter replay",
                                     err == TECG_ERR_NOT_FOUND ? TECG_CTL_EXIT_NO
                                                               : TECG_CTL_EXIT_FAILED,
                                     "%s: source %s", id, errstr);
        /* The dead letter holds the original's key and value, or their
         * start when they were cut: anything else means tecg.source does
         * not point at the message that was refused. */
        if (dl->key_len > orig->key_len || dl->len > orig->len ||
            (dl->key_len && memcmp(dl->key, orig->key, dl->key_len) != 0) ||
            (dl->len && memcmp(dl->value, orig->value, dl->len) != 0))
                return tecg_ctl_fail("dead-letter replay", TECG_CTL_EXIT_NO,
                                     "%s: the message at %s/%d/%" PRId64
                                     " is not the one dead-lettered: not replayed",
                                     id, src_topic, (int)*src_p, *src_o);
        if (run->o->dry_run)
                return TECG_CTL_EXIT_OK;
        rd_kafka_headers_t *hdrs =
                orig->headers ? rd_kafka_headers_copy(orig->headers) : rd_kafka_headers_new(1);
        char replay_of[300];
        snprintf(replay_of, sizeof(replay_of), "%s/%d/%" PRId64, dl->topic, (int)dl->partition,
                 dl->offset);
        rd_kafka_header_add(hdrs, HDR_REPLAY_OF, -1, replay_of, -1);
        rd_kafka_resp_err_t kerr = rd_kafka_producev(
                producer, RD_KAFKA_V_TOPIC(src_topic), RD_KAFKA_V_PARTITION(*src_p),
                RD_KAFKA_V_KEY(orig->has_key ? orig->key : NULL, orig->key_len),
                RD_KAFKA_V_VALUE(orig->value, orig->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADERS(hdrs),
                RD_KAFKA_V_TIMESTAMP(orig->timestamp_ms > 0 ? orig->timestamp_ms : 0),
                RD_KAFKA_V_OPAQUE(result), RD_KAFKA_V_END);
        if (kerr) {
                rd_kafka_headers_destroy(hdrs);
                return tecg_ctl_fail("dead-letter replay", TECG_CTL_EXIT_FAILED, "%s: produce: %s",
                                     id, rd_kafka_err2str(kerr));
        }
        return TECG_CTL_EXIT_OK;
}

static int do_replay(dl_run_t *run, rd_kafka_t *reader) {
        const tecg_ctl_t *ctl = run->ctl;
        char errstr[1024];
        int rc = TECG_CTL_EXIT_OK;
        rd_kafka_t *producer = NULL;
        copy_t *origs = calloc(run->nsel ? run->nsel : 1, sizeof(*origs));
        int64_t *results = calloc(run->nsel ? run->nsel : 1, sizeof(*results));
        int *status = calloc(run->nsel ? run->nsel : 1, sizeof(*status));
        typedef struct {
                char topic[256];
                int32_t p;
                int64_t o;
        } src_t;
        src_t *srcs = calloc(run->nsel ? run->nsel : 1, sizeof(*srcs));
        if (!origs || !results || !status || !srcs) {
                rc = tecg_ctl_fail("dead-letter replay", TECG_CTL_EXIT_FAILED, "out of memory");
                goto done;
        }
        if (!run->o->dry_run) {
                const tecg_kafka_setting_t overrides[] = {{"client.id", "tecg-ctl"}, {NULL, NULL}};
                const tecg_kafka_callbacks_t cb = {.dr_msg_cb = on_delivery};
                if (!(producer = tecg_kafka_new(TECG_KAFKA_PRODUCER, ctl->conf, overrides, &cb,
                                                errstr, sizeof(errstr)))) {
                        rc = tecg_ctl_fail("dead-letter replay", TECG_CTL_EXIT_FAILED, "%s",
                                           errstr);
                        goto done;
                }
        }
        for (size_t i = 0; i < run->nsel; i++) {
                results[i] = INT64_MIN;
                status[i] =
                        replay_one(run, reader, producer, &run->sel[i], &origs[i], &results[i],
                                   srcs[i].topic, sizeof(srcs[i].topic), &srcs[i].p, &srcs[i].o);
                /* The same original twice in one run is sent once. */
                for (size_t k = 0; status[i] == 0 && k < i; k++)
                        if (status[k] == 0 && srcs[k].p == srcs[i].p && srcs[k].o == srcs[i].o &&
                            strcmp(srcs[k].topic, srcs[i].topic) == 0)
                                status[i] = -1;
        }
        if (producer) {
                rd_kafka_resp_err_t kerr = rd_kafka_flush(producer, (int)ctl->cc.timeout_ms);
                if (kerr)
                        tecg_ctl_fail("dead-letter replay", TECG_CTL_EXIT_FAILED,
                                      "not every replay was acknowledged within %lld ms: %s",
                                      (long long)ctl->cc.timeout_ms, rd_kafka_err2str(kerr));
        }
        for (size_t i = 0; i < run->nsel; i++) {
                char id[64];
                snprintf(id, sizeof(id), "%d:%" PRId64, (int)run->sel[i].partition,
                         run->sel[i].offset);
                const char *outcome = "replayed";
                if (status[i] == -1)
                        outcome = "duplicate";
                else if (status[i])
                        outcome = "refused";
                else if (run->o->dry_run)
                        outcome = "would replay";
                else if (results[i] < 0)
                        outcome = "failed";
                if (status[i] > 0 && rc < status[i])
                        rc = status[i];
                if (!status[i] && !run->o->dry_run && results[i] < 0) {
                        if (results[i] != INT64_MIN)
                                tecg_ctl_fail(
                                        "dead-letter replay", TECG_CTL_EXIT_FAILED, "%s: %s", id,
                                        rd_kafka_err2str((rd_kafka_resp_err_t)(-1 - results[i])));
                        rc = TECG_CTL_EXIT_FAILED;
                }
                if (ctl->json) {
                        json_t *j = json_pack("{s:s,s:s}", "id", id, "outcome", outcome);
                        if (status[i] >= 0 && srcs[i].topic[0]) {
                                char src[300];
                                snprintf(src, sizeof(src), "%s/%d/%" PRId64, srcs[i].topic,
                                         (int)srcs[i].p, srcs[i].o);
                                json_object_set_new(j, "source", json_string(src));
                        }
                        if (!status[i] && results[i] >= 0)
                                json_object_set_new(j, "offset", json_integer(results[i]));
                        tecg_ctl_print_json_line(stdout, j);
                } else if (!status[i] && results[i] >= 0) {
                        printf("%s %s: %s/%d/%" PRId64 " -> %s [%d] at offset %" PRId64 "\n",
                               outcome, id, srcs[i].topic, (int)srcs[i].p, srcs[i].o, srcs[i].topic,
                               (int)srcs[i].p, results[i]);
                } else if (status[i] <= 0) {
                        printf("%s %s: %s/%d/%" PRId64 "\n", outcome, id, srcs[i].topic,
                               (int)srcs[i].p, srcs[i].o);
                }
        }
done:
        if (producer)
                rd_kafka_destroy(producer);
        for (size_t i = 0; origs && i < run->nsel; i++)
                copy_free(&origs[i]);
        free(origs);
        free(results);
        free(status);
        free(srcs);
        return rc;
}

int tecg_ctl_dead_letter(int argc, char **argv) {
        static const struct option opts[] = {{"stage", required_argument, NULL, 's'},
                                             {"all", no_argument, NULL, 'a'},
                                             {"dry-run", no_argument, NULL, 'd'},
                                             {NULL, 0, NULL, 0}};
        dl_opts_t o = {0};
        const tecg_ctl_spec_t spec = {
                .name = "dead-letter",
                .synopsis = "dead-letter list [--stage S] | show ID | replay [--dry-run] "
                            "ID...|--stage S|--all",
                .description =
                        "list: every dead letter, one line each: ID (PARTITION:OFFSET), stage,\n"
                        "source (TOPIC/PARTITION/OFFSET of the original), key, reason.\n"
                        "show ID: one dead letter, its headers and its value decoded when it "
                        "decodes.\n"
                        "replay: sends the originals of the chosen dead letters (read again at "
                        "their\nsource, with their key, value, headers - the signature too - and "
                        "timestamp)\nto their source topic and partition, once the cause is "
                        "fixed (the\nproducer, a new schema, the nations list); a header "
                        "tecg.replay-of names the\ndead letter. The aggregator counts each "
                        "event_id once, so replaying twice\ncounts once; a dead letter whose "
                        "source is gone or is another message is\nnot replayed.",
                .options_help =
                        "  -s, --stage S          only dead letters of stage S (signature, decode,\n"
                        "                         contract, aggregate)\n"
                        "      --all              replay: every dead letter (of --stage S)\n"
                        "      --dry-run          replay: check and say what would be sent, send "
                        "nothing\n",
                .exit_status = "  0  listed, shown, or every chosen dead letter replayed\n"
                               "  1  no such dead letter, or one was not replayed (said why)\n",
                .opts = opts,
                .shortopts = "s:",
                .min_args = 1,
                .max_args = -1,
                .on_option = on_option,
                .opaque = &o,
        };
        tecg_ctl_t ctl;
        int rc = tecg_ctl_setup(&spec, argc, argv, &ctl);
        if (rc >= 0)
                return rc;
        char errstr[1024];
        rd_kafka_t *rk = NULL;
        dl_run_t run = {.ctl = &ctl, .o = &o};
        char *topic = tecg_topics_name(ctl.cc.common.topic_prefix, TECG_TOPICS_DEAD_LETTER);
        const char *sub = ctl.args[0];
        int timeout = (int)ctl.cc.timeout_ms;
        tecg_ctl_from_t beginning = {TECG_CTL_FROM_BEGINNING, 0};
        if (!topic || !(run.format = tecg_ctl_format_new(NULL, errstr, sizeof(errstr))) ||
            !(rk = tecg_ctl_kafka_reader(&ctl, NULL, errstr, sizeof(errstr)))) {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s",
                                   topic ? errstr : "out of memory");
                goto done;
        }
        tecg_daemon_signals();
        if (strcmp(sub, "list") == 0 && ctl.nargs == 1) {
                if (!ctl.json)
                        printf("%-10s %-9s %-40s %-5s %s\n", "ID", "STAGE", "SOURCE", "KEY",
                               "REASON");
                if (tecg_ctl_kafka_read(rk, topic, -1, &beginning, 0, false, timeout, list_cb, &run,
                                        errstr, sizeof(errstr)))
                        rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s", errstr);
                else
                        rc = TECG_CTL_EXIT_OK;
        } else if (strcmp(sub, "show") == 0 && ctl.nargs == 2) {
                int32_t p = 0;
                int64_t off = 0;
                copy_t c = {0};
                if (tecg_ctl_dl_id_parse(ctl.args[1], &p, &off, errstr, sizeof(errstr))) {
                        rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_USAGE, "%s", errstr);
                        goto done;
                }
                tecg_err_t err = fetch(rk, topic, p, off, timeout, &c, errstr, sizeof(errstr));
                if (err) {
                        rc = tecg_ctl_fail(spec.name,
                                           err == TECG_ERR_NOT_FOUND ? TECG_CTL_EXIT_NO
                                                                     : TECG_CTL_EXIT_FAILED,
                                           "%s", errstr);
                        goto done;
                }
                tecg_ctl_header_t hbuf[TECG_CTL_MAX_HEADERS];
                tecg_ctl_msg_t m = {.topic = c.topic,
                                    .partition = c.partition,
                                    .offset = c.offset,
                                    .timestamp_ms = c.timestamp_ms,
                                    .key = c.has_key ? c.key : NULL,
                                    .key_len = c.key_len,
                                    .value = c.value,
                                    .len = c.len,
                                    .headers = hbuf};
                const char *name;
                const void *value;
                size_t len;
                for (size_t i = 0; c.headers && m.nheaders < TECG_CTL_MAX_HEADERS &&
                                   !rd_kafka_header_get_all(c.headers, i, &name, &value, &len);
                     i++)
                        hbuf[m.nheaders++] = (tecg_ctl_header_t){name, value, len};
                json_t *j = tecg_ctl_format_message(run.format, TECG_CTL_KIND_DEAD_LETTER, &m);
                if (ctl.json) {
                        tecg_ctl_print_json_line(stdout, j);
                } else if (j) {
                        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
                        (void)putchar('\n');
                        json_decref(j);
                }
                copy_free(&c);
                rc = TECG_CTL_EXIT_OK;
        } else if (strcmp(sub, "replay") == 0 && (ctl.nargs > 1) != (o.all || o.stage)) {
                if (o.all || o.stage) {
                        if (tecg_ctl_kafka_read(rk, topic, -1, &beginning, 0, false, timeout,
                                                select_cb, &run, errstr, sizeof(errstr))) {
                                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s", errstr);
                                goto done;
                        }
                } else {
                        if (!(run.sel = calloc((size_t)ctl.nargs, sizeof(*run.sel)))) {
                                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED,
                                                   "out of memory");
                                goto done;
                        }
                        for (int i = 1; i < ctl.nargs; i++) {
                                int32_t p = 0;
                                int64_t off = 0;
                                if (tecg_ctl_dl_id_parse(ctl.args[i], &p, &off, errstr,
                                                         sizeof(errstr))) {
                                        rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_USAGE, "%s",
                                                           errstr);
                                        goto done;
                                }
                                tecg_err_t err = fetch(rk, topic, p, off, timeout,
                                                       &run.sel[run.nsel], errstr, sizeof(errstr));
                                if (err) {
                                        rc = tecg_ctl_fail(spec.name,
                                                           err == TECG_ERR_NOT_FOUND
                                                                   ? TECG_CTL_EXIT_NO
                                                                   : TECG_CTL_EXIT_FAILED,
                                                           "%s", errstr);
                                        goto done;
                                }
                                run.nsel++;
                        }
                }
                if (run.nomem) {
                        rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "out of memory");
                        goto done;
                }
                rc = do_replay(&run, rk);
        } else {
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_USAGE, "usage: tecg-ctl %s",
                                   spec.synopsis);
        }
done:
        for (size_t i = 0; i < run.nsel; i++)
                copy_free(&run.sel[i]);
        free(run.sel);
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        tecg_ctl_format_destroy(run.format);
        free(topic);
        tecg_ctl_cleanup(&ctl);
        return rc;
}
