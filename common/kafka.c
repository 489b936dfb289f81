#include "kafka.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* librdkafka's reasons may end in a newline; ours are one line. */
static void chomp(char *s) {
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = '\0';
}

rd_kafka_conf_t *tecg_kafka_conf_new(const tecg_conf_t *conf,
                                     const tecg_kafka_default_t *defaults,
                                     char *errstr, size_t errstr_size) {
        char reason[512];
        rd_kafka_conf_t *kconf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(kconf, tecg_log_rdkafka_cb);

        for (const tecg_kafka_default_t *d = defaults; d && d->name; d++) {
                if (rd_kafka_conf_set(kconf, d->name, d->value, reason,
                                      sizeof(reason)) != RD_KAFKA_CONF_OK) {
                        chomp(reason);
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "built-in kafka.%s=%s: %s", d->name,
                                    d->value, reason);
                        goto fail;
                }
        }
        size_t n;
        const tecg_conf_kv_t *kv = tecg_conf_passthru(conf, "kafka.", &n);
        for (size_t i = 0; i < n; i++) {
                if (rd_kafka_conf_set(kconf, kv[i].key, kv[i].value, reason,
                                      sizeof(reason)) != RD_KAFKA_CONF_OK) {
                        chomp(reason);
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "%s: kafka.%s: %s", kv[i].origin,
                                    kv[i].key, reason);
                        goto fail;
                }
        }
        return kconf;
fail:
        rd_kafka_conf_destroy(kconf);
        return NULL;
}

const char *tecg_kafka_topic_name(const char *prefix, const char *suffix,
                                  char *out, size_t out_size) {
        snprintf(out, out_size, "%s%s", prefix ? prefix : "", suffix);
        return out;
}

tecg_err_t tecg_kafka_ping(rd_kafka_t *rk, int timeout_ms, char *errstr,
                           size_t errstr_size) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
        if (err)
                return tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size,
                                   "no broker answered within %d ms: %s",
                                   timeout_ms, rd_kafka_err2str(err));
        rd_kafka_metadata_destroy(md);
        return TECG_OK;
}
