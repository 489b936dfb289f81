#include "ctl_kafka.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "kafka.h"
#include "validate.h"

int tecg_ctl_from_parse(const char *s, tecg_ctl_from_t *from, char *errstr, size_t errstr_size) {
        if (strcmp(s, "beginning") == 0) {
                *from = (tecg_ctl_from_t){TECG_CTL_FROM_BEGINNING, 0};
                return 0;
        }
        if (strcmp(s, "end") == 0) {
                *from = (tecg_ctl_from_t){TECG_CTL_FROM_END, 0};
                return 0;
        }
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!*s || *end || errno) {
                snprintf(errstr, errstr_size,
                         "--from '%s': expected an offset, -N (the last N), beginning or end", s);
                return -1;
        }
        *from = (tecg_ctl_from_t){TECG_CTL_FROM_OFFSET, v};
        return 0;
}

int tecg_ctl_from_time_parse(const char *s, tecg_ctl_from_t *from, char *errstr,
                             size_t errstr_size) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (*s && !*end && !errno && v >= 0) {
                *from = (tecg_ctl_from_t){TECG_CTL_FROM_TIME, v};
                return 0;
        }
        int64_t ms;
        int32_t off;
        const char *why = NULL;
        if (tecg_validate_time(s, strlen(s), &ms, &off, &why)) {
                snprintf(errstr, errstr_size,
                         "--from-time '%s': expected RFC 3339 (2026-12-06T10:00:00Z) or "
                         "milliseconds since the epoch (%s)",
                         s, why ? why : "bad time");
                return -1;
        }
        *from = (tecg_ctl_from_t){TECG_CTL_FROM_TIME, ms};
        return 0;
}

rd_kafka_t *tecg_ctl_kafka_reader(const tecg_ctl_t *ctl, const char *group_id, char *errstr,
                                  size_t errstr_size) {
        /* librdkafka assigns partitions only to a consumer with a group;
         * it joins none and commits nothing (enable.auto.commit=false). */
        const tecg_kafka_setting_t overrides[] = {{"client.id", "tecg-ctl"},
                                                  {"group.id", group_id ? group_id : "tecg-ctl"},
                                                  {NULL, NULL}};
        return tecg_kafka_new(TECG_KAFKA_READER, ctl->conf, overrides, NULL, errstr, errstr_size);
}

int32_t tecg_ctl_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                                  size_t errstr_size) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        int32_t n = -1;
        if (!rkt) {
                snprintf(errstr, errstr_size, "%s: %s", topic,
                         rd_kafka_err2str(rd_kafka_last_error()));
                return -1;
        }
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
        if (err)
                snprintf(errstr, errstr_size, "%s: metadata: %s", topic, rd_kafka_err2str(err));
        else if (md->topic_cnt != 1 || md->topics[0].err)
                snprintf(errstr, errstr_size, "%s: %s", topic,
                         rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
                                                        : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        else if (md->topics[0].partition_cnt <= 0)
                snprintf(errstr, errstr_size, "%s: no partitions", topic);
        else
                n = md->topics[0].partition_cnt;
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return n;
}

void tecg_ctl_kafka_msg(const rd_kafka_message_t *m, tecg_ctl_msg_t *out, tecg_ctl_header_t *hbuf,
                        size_t hmax) {
        rd_kafka_timestamp_type_t tstype;
        memset(out, 0, sizeof(*out));
        out->topic = rd_kafka_topic_name(m->rkt);
        out->partition = m->partition;
        out->offset = m->offset;
        out->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
        if (tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
                out->timestamp_ms = -1;
        out->key = m->key;
        out->key_len = m->key_len;
        out->value = m->payload;
        out->len = m->len;
        rd_kafka_headers_t *hdrs = NULL;
        /* rd_kafka_message_headers() keeps them with the message. */
        if (rd_kafka_message_headers(m, &hdrs) || !hdrs)
                return;
        const char *name;
        const void *value;
        size_t len;
        for (size_t i = 0;
             out->nheaders < hmax && !rd_kafka_header_get_all(hdrs, i, &name, &value, &len); i++)
                hbuf[out->nheaders++] = (tecg_ctl_header_t){name, value, len};
        out->headers = hbuf;
}

tecg_err_t tecg_ctl_kafka_read(rd_kafka_t *rk, const char *topic, int32_t partition,
                               const tecg_ctl_from_t *from, uint64_t count, bool follow,
                               int timeout_ms, tecg_ctl_kafka_msg_cb *cb, void *opaque,
                               char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        rd_kafka_topic_partition_list_t *parts = NULL;
        bool *at_end = NULL;
        int32_t n = tecg_ctl_kafka_partitions(rk, topic, timeout_ms, errstr, errstr_size);
        if (n < 0)
                return TECG_ERR_KAFKA;
        if (partition >= n)
                return tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size,
                                   "%s has %d partitions, no partition %d", topic, (int)n,
                                   (int)partition);
        int32_t first = partition < 0 ? 0 : partition, last = partition < 0 ? n - 1 : partition;
        parts = rd_kafka_topic_partition_list_new(last - first + 1);
        at_end = calloc((size_t)n, sizeof(*at_end));
        if (!parts || !at_end) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        for (int32_t p = first; p <= last; p++) {
                int64_t off = RD_KAFKA_OFFSET_BEGINNING;
                switch (from->kind) {
                case TECG_CTL_FROM_END:
                        off = RD_KAFKA_OFFSET_END;
                        break;
                case TECG_CTL_FROM_OFFSET:
                        off = from->value >= 0 ? from->value : RD_KAFKA_OFFSET_TAIL(-from->value);
                        break;
                case TECG_CTL_FROM_TIME:
                        off = from->value;
                        break;
                default:
                        break;
                }
                rd_kafka_topic_partition_list_add(parts, topic, p)->offset = off;
        }
        if (from->kind == TECG_CTL_FROM_TIME) {
                rd_kafka_resp_err_t kerr = rd_kafka_offsets_for_times(rk, parts, timeout_ms);
                if (kerr) {
                        err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size,
                                          "%s: offsets for time: %s", topic,
                                          rd_kafka_err2str(kerr));
                        goto done;
                }
                /* No message at or after the time: from the end. */
                for (int i = 0; i < parts->cnt; i++)
                        if (parts->elems[i].offset < 0)
                                parts->elems[i].offset = RD_KAFKA_OFFSET_END;
        }
        rd_kafka_resp_err_t kerr = rd_kafka_assign(rk, parts);
        if (kerr) {
                err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "%s: assign: %s", topic,
                                  rd_kafka_err2str(kerr));
                goto done;
        }
        int ended = 0, want = last - first + 1;
        uint64_t handed = 0;
        int64_t quiet_ms = 0;
        while (!tecg_daemon_stop && (follow || ended < want) && (!count || handed < count)) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                if (!m) {
                        quiet_ms += 200;
                        if (!follow && quiet_ms >= timeout_ms) {
                                err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size,
                                                  "%s: nothing from Kafka for %d ms", topic,
                                                  timeout_ms);
                                break;
                        }
                        continue;
                }
                quiet_ms = 0;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        if (m->partition >= 0 && m->partition < n && !at_end[m->partition]) {
                                at_end[m->partition] = true;
                                ended++;
                        }
                } else if (m->err) {
                        err = tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "%s: %s", topic,
                                          rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        break;
                } else {
                        handed++;
                        int stop = cb(opaque, m);
                        if (stop) {
                                rd_kafka_message_destroy(m);
                                break;
                        }
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(rk, NULL);
done:
        if (parts)
                rd_kafka_topic_partition_list_destroy(parts);
        free(at_end);
        return err;
}
