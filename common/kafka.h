/* What every tecg daemon does with librdkafka's configuration: built-in
 * defaults first, then the kafka.* keys of the daemon's config passed through
 * unchanged, with librdkafka's own complaint reported at the config line. */
#ifndef TECG_KAFKA_H
#define TECG_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "err.h"

typedef struct {
        const char *name;
        const char *value;
} tecg_kafka_default_t;

/* Builds a librdkafka configuration: `defaults` (array terminated by a NULL
 * name, may be NULL) then every "kafka." entry of `conf`, and routes
 * librdkafka's logs through tecg_log. The caller owns the result and hands
 * it to rd_kafka_new(), which takes ownership on success. */
rd_kafka_conf_t *tecg_kafka_conf_new(const tecg_conf_t *conf,
                                     const tecg_kafka_default_t *defaults,
                                     char *errstr, size_t errstr_size);

/* Writes prefix + suffix (e.g. "tecg." + "contributions") into out. */
const char *tecg_kafka_topic_name(const char *prefix, const char *suffix,
                                  char *out, size_t out_size);

/* Asks the cluster for metadata within timeout_ms: TECG_OK when a broker
 * answered, TECG_ERR_RETRY (with librdkafka's reason) when none did. */
tecg_err_t tecg_kafka_ping(rd_kafka_t *rk, int timeout_ms, char *errstr,
                           size_t errstr_size);

#endif
