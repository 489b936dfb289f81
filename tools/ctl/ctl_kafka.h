/* tecg-ctl's reads of Kafka: a client that assigns partitions itself and
 * commits nothing (common/kafka.h, TECG_KAFKA_READER), and a loop that
 * reads chosen partitions from a chosen start to their end (or on). */
#ifndef TECG_CTL_KAFKA_H
#define TECG_CTL_KAFKA_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "ctl.h"
#include "ctl_format.h"
#include "err.h"

/* Where reading starts in each partition. */
typedef enum {
        TECG_CTL_FROM_BEGINNING = 0,
        TECG_CTL_FROM_END,
        TECG_CTL_FROM_OFFSET, /* value >= 0: that offset; < 0: the last -value */
        TECG_CTL_FROM_TIME,   /* value: ms since the epoch */
} tecg_ctl_from_kind_t;

typedef struct {
        tecg_ctl_from_kind_t kind;
        int64_t value;
} tecg_ctl_from_t;

/* Parses --from: "beginning", "end", an offset, or -N (the last N). 0 or
 * -1 with a reason. */
int tecg_ctl_from_parse(const char *s, tecg_ctl_from_t *from, char *errstr, size_t errstr_size);

/* Parses --from-time: RFC 3339 with an offset, or milliseconds since the
 * epoch. 0 or -1 with a reason. */
int tecg_ctl_from_time_parse(const char *s, tecg_ctl_from_t *from, char *errstr,
                             size_t errstr_size);

/* A reader client for ctl's configuration. group_id (NULL: "tecg-ctl")
 * names the group whose committed offsets rd_kafka_committed() gives; the
 * client joins no group and commits nothing. */
rd_kafka_t *tecg_ctl_kafka_reader(const tecg_ctl_t *ctl, const char *group_id, char *errstr,
                                  size_t errstr_size);

/* The partition count of topic; -1 with errstr when Kafka does not say
 * (no such topic, broker unreachable within timeout_ms). */
int32_t tecg_ctl_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                                  size_t errstr_size);

/* Returns 0 to go on, 1 to stop reading. */
typedef int tecg_ctl_kafka_msg_cb(void *opaque, const rd_kafka_message_t *m);

/* Reads `topic` (partition -1: all of them) from `from`, handing each
 * message to cb, until every partition reached its end (unless follow),
 * cb stops, `count` messages were handed (0: no limit) or SIGINT/SIGTERM.
 * TECG_ERR_KAFKA with errstr on a Kafka error or when nothing at all
 * arrives for timeout_ms (without follow). */
tecg_err_t tecg_ctl_kafka_read(rd_kafka_t *rk, const char *topic, int32_t partition,
                               const tecg_ctl_from_t *from, uint64_t count, bool follow,
                               int timeout_ms, tecg_ctl_kafka_msg_cb *cb, void *opaque,
                               char *errstr, size_t errstr_size);

/* Fills *out from m (borrowed: valid while m is); its headers go into
 * hbuf[hmax] (more are left out). */
void tecg_ctl_kafka_msg(const rd_kafka_message_t *m, tecg_ctl_msg_t *out, tecg_ctl_header_t *hbuf,
                        size_t hmax);

/* At most this many headers of a message are shown. */
#define TECG_CTL_MAX_HEADERS 32

#endif
