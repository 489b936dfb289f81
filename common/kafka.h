/* The one constructor of tecg's librdkafka clients.
 *
 * A client's configuration is assembled in one order everywhere:
 *
 *   1. the defaults of its type (below), which say what tecg relies on;
 *   2. the call site's overrides (client.id, group.id, transactional.id and
 *      tuning that only that client needs);
 *   3. the user's kafka.* keys of the daemon's configuration, passed to
 *      librdkafka unchanged; a key librdkafka refuses is reported as
 *      "file:line: kafka.KEY: librdkafka's reason".
 *
 * librdkafka's own log lines go through common/log.h (tecg_log_rdkafka_cb). */
#ifndef TECG_KAFKA_H
#define TECG_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "err.h"

/* The oldest librdkafka tecg runs with, in rd_kafka_version()'s encoding
 * 0xMMmmrrpp (pp = 0xff for a release): 2.8.0. SCRAM-SHA-512 against Kafka
 * 4 needs 2.6.1 (client-final nonce fix), and 2.3.0 fixed the spurious fatal
 * idempotence error; 2.8.0 is what the project builds and tests with
 * (scripts/build-librdkafka). The top-level CMakeLists.txt reads this line
 * for its pkg-config check, so the number lives only here. */
#define TECG_RDKAFKA_MIN_VERSION 0x020800ff

_Static_assert(RD_KAFKA_VERSION >= TECG_RDKAFKA_MIN_VERSION,
               "librdkafka's headers are older than TECG_RDKAFKA_MIN_VERSION: "
               "build with scripts/build (scripts/build-librdkafka)");

typedef enum {
        /* Producer that never duplicates on retry and waits for every
         * in-sync replica: enable.idempotence=true, acks=all, linger.ms=5.
         * With a transactional.id override it is the aggregator's
         * transactional producer. */
        TECG_KAFKA_PRODUCER = 0,
        /* Group member that stores and commits its own offsets (inside
         * transactions) and sees only committed input:
         * enable.auto.commit=false, enable.auto.offset.store=false,
         * isolation.level=read_committed, auto.offset.reset=earliest. */
        TECG_KAFKA_CONSUMER,
        /* Consumer of assign()ed partitions read to their end, committing
         * nothing: enable.auto.commit=false, isolation.level=read_committed,
         * enable.partition.eof=true. */
        TECG_KAFKA_READER,
        TECG_KAFKA__TYPE_COUNT
} tecg_kafka_type_t;

/* One librdkafka property: an override of the type's defaults. */
typedef struct {
        const char *name;
        const char *value;
} tecg_kafka_setting_t;

/* The callbacks a call site wants on its client; any may be NULL. */
typedef struct {
        void *opaque;
        void (*error_cb)(rd_kafka_t *rk, int err, const char *reason, void *opaque);
        void (*dr_msg_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
        void (*rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *partitions, void *opaque);
} tecg_kafka_callbacks_t;

/* Assembles a client's configuration as the header comment says.
 * `overrides` is an array terminated by a NULL name (NULL = none); `cb` may
 * be NULL. The caller owns the result (rd_kafka_new() takes it on success).
 * NULL with errstr when librdkafka refuses a property. */
rd_kafka_conf_t *tecg_kafka_conf_new(tecg_kafka_type_t type, const tecg_conf_t *conf,
                                     const tecg_kafka_setting_t *overrides,
                                     const tecg_kafka_callbacks_t *cb, char *errstr,
                                     size_t errstr_size);

/* tecg_kafka_conf_new() and the client made from it; NULL with errstr,
 * also when the loaded librdkafka is older than TECG_RDKAFKA_MIN_VERSION.
 * The first client of a process logs the loaded version at INFO. */
rd_kafka_t *tecg_kafka_new(tecg_kafka_type_t type, const tecg_conf_t *conf,
                           const tecg_kafka_setting_t *overrides, const tecg_kafka_callbacks_t *cb,
                           char *errstr, size_t errstr_size);

/* A client made from a copy of an assembled configuration (kept by the
 * caller, e.g. to start a fresh producer after a fatal error). */
rd_kafka_t *tecg_kafka_new_from(tecg_kafka_type_t type, const rd_kafka_conf_t *kconf, char *errstr,
                                size_t errstr_size);

/* Whether librdkafka `runtime` (rd_kafka_version()'s encoding) is at least
 * `required`; TECG_ERR_CONFIG with errstr naming both versions if not. A
 * pure function so the comparison can be tested: the binary shares the
 * soname librdkafka.so.1 with Debian 12's 2.0.2, which loads silently when
 * the RUNPATH does not reach the private library. */
tecg_err_t tecg_kafka_version_check(int runtime, int required, char *errstr, size_t errstr_size);

/* Checks every kafka.* key of `conf` with librdkafka now, at start-up,
 * rather than when the first client is made, and the loaded librdkafka's
 * version (tecg_kafka_version_check against TECG_RDKAFKA_MIN_VERSION). */
tecg_err_t tecg_kafka_check(const tecg_conf_t *conf, char *errstr, size_t errstr_size);

#endif
