#include "kafka.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "redact.h"

/* What tecg relies on from each type of client; kafka.h says why. */
static const tecg_kafka_setting_t producer_defaults[] = {
        {"enable.idempotence", "true"}, {"acks", "all"}, {"linger.ms", "5"}, {NULL, NULL}};
static const tecg_kafka_setting_t consumer_defaults[] = {{"enable.auto.commit", "false"},
                                                         {"enable.auto.offset.store", "false"},
                                                         {"isolation.level", "read_committed"},
                                                         {"auto.offset.reset", "earliest"},
                                                         {NULL, NULL}};
static const tecg_kafka_setting_t reader_defaults[] = {{"enable.auto.commit", "false"},
                                                       {"isolation.level", "read_committed"},
                                                       {"enable.partition.eof", "true"},
                                                       {NULL, NULL}};
static const tecg_kafka_setting_t *const type_defaults[TECG_KAFKA__TYPE_COUNT] = {
        [TECG_KAFKA_PRODUCER] = producer_defaults,
        [TECG_KAFKA_CONSUMER] = consumer_defaults,
        [TECG_KAFKA_READER] = reader_defaults,
};

/* librdkafka's reasons may end in a newline; ours are one line. */
static void chomp(char *s) {
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = '\0';
}

static tecg_err_t set_builtin(rd_kafka_conf_t *kconf, const tecg_kafka_setting_t *settings,
                              char *errstr, size_t errstr_size) {
        char reason[512];
        for (const tecg_kafka_setting_t *s = settings; s && s->name; s++) {
                if (rd_kafka_conf_set(kconf, s->name, s->value, reason, sizeof(reason)) !=
                    RD_KAFKA_CONF_OK) {
                        chomp(reason);
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "built-in kafka.%s=%s: %s", s->name, s->value, reason);
                }
        }
        return TECG_OK;
}

/* The user's kafka.* keys, each refusal reported at its config line. */
static tecg_err_t set_user(rd_kafka_conf_t *kconf, const tecg_conf_t *conf, char *errstr,
                           size_t errstr_size) {
        char reason[512];
        size_t n = 0;
        const tecg_conf_kv_t *kv = conf ? tecg_conf_passthru(conf, "kafka.", &n) : NULL;
        for (size_t i = 0; i < n; i++) {
                if (rd_kafka_conf_set(kconf, kv[i].key, kv[i].value, reason, sizeof(reason)) !=
                    RD_KAFKA_CONF_OK) {
                        chomp(reason);
                        /* librdkafka quotes the refused value: a secret
                         * one is not repeated (docs/design.md §9.5). */
                        char shown[256];
                        const char *v = tecg_redact(kv[i].key, kv[i].value, shown, sizeof(shown));
                        if (v != kv[i].value)
                                snprintf(reason, sizeof(reason),
                                         "librdkafka refused the value \"%s\"", v);
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: kafka.%s: %s",
                                           kv[i].origin, kv[i].key, reason);
                }
        }
        return TECG_OK;
}

rd_kafka_conf_t *tecg_kafka_conf_new(tecg_kafka_type_t type, const tecg_conf_t *conf,
                                     const tecg_kafka_setting_t *overrides,
                                     const tecg_kafka_callbacks_t *cb, char *errstr,
                                     size_t errstr_size) {
        if ((unsigned)type >= TECG_KAFKA__TYPE_COUNT) {
                tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "unknown Kafka client type %d",
                            (int)type);
                return NULL;
        }
        rd_kafka_conf_t *kconf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(kconf, tecg_log_rdkafka_cb);
        if (set_builtin(kconf, type_defaults[type], errstr, errstr_size) ||
            set_builtin(kconf, overrides, errstr, errstr_size) ||
            set_user(kconf, conf, errstr, errstr_size)) {
                rd_kafka_conf_destroy(kconf);
                return NULL;
        }
        if (cb) {
                rd_kafka_conf_set_opaque(kconf, cb->opaque);
                if (cb->error_cb)
                        rd_kafka_conf_set_error_cb(kconf, cb->error_cb);
                if (cb->dr_msg_cb)
                        rd_kafka_conf_set_dr_msg_cb(kconf, cb->dr_msg_cb);
                if (cb->rebalance_cb)
                        rd_kafka_conf_set_rebalance_cb(kconf, cb->rebalance_cb);
        }
        return kconf;
}

/* "2.8.0", or "2.8.0-pre3" for a pre-release (pp != 0xff). */
static void version_format(int version, char *buf, size_t size) {
        unsigned v = (unsigned)version;
        unsigned pre = v & 0xffU;
        int n = snprintf(buf, size, "%u.%u.%u", (v >> 24) & 0xffU, (v >> 16) & 0xffU,
                         (v >> 8) & 0xffU);
        if (pre != 0xffU && n >= 0 && (size_t)n < size)
                snprintf(buf + n, size - (size_t)n, "-pre%u", pre);
}

tecg_err_t tecg_kafka_version_check(int runtime, int required, char *errstr, size_t errstr_size) {
        char have[32], need[32];
        /* The encoding is ordered as unsigned: major first, release last. */
        if ((unsigned)runtime >= (unsigned)required)
                return TECG_OK;
        version_format(runtime, have, sizeof(have));
        version_format(required, need, sizeof(need));
        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                           "librdkafka %s is loaded but tecg needs %s or newer: the binary's "
                           "RUNPATH does not reach the librdkafka it was built with "
                           "(scripts/build-librdkafka), or LD_LIBRARY_PATH overrides it",
                           have, need);
}

/* The loaded library, checked before any client is made; its version is
 * logged once per process, at the first client (start-up in every daemon). */
static tecg_err_t runtime_check(char *errstr, size_t errstr_size) {
        static atomic_flag logged = ATOMIC_FLAG_INIT;
        tecg_err_t err = tecg_kafka_version_check(rd_kafka_version(), TECG_RDKAFKA_MIN_VERSION,
                                                  errstr, errstr_size);
        if (!err && !atomic_flag_test_and_set(&logged)) {
                char built[32];
                version_format(RD_KAFKA_VERSION, built, sizeof(built));
                tecg_log_info("kafka", "librdkafka %s (built against %s)", rd_kafka_version_str(),
                              built);
        }
        return err;
}

/* Takes ownership of kconf. */
static rd_kafka_t *client_new(tecg_kafka_type_t type, rd_kafka_conf_t *kconf, char *errstr,
                              size_t errstr_size) {
        char reason[512];
        bool producer = type == TECG_KAFKA_PRODUCER;
        if (runtime_check(errstr, errstr_size)) {
                rd_kafka_conf_destroy(kconf);
                return NULL;
        }
        rd_kafka_t *rk = rd_kafka_new(producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, kconf,
                                      reason, sizeof(reason));
        if (!rk) {
                rd_kafka_conf_destroy(kconf);
                chomp(reason);
                tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "cannot create Kafka %s: %s",
                            producer ? "producer" : "consumer", reason);
        }
        return rk;
}

rd_kafka_t *tecg_kafka_new(tecg_kafka_type_t type, const tecg_conf_t *conf,
                           const tecg_kafka_setting_t *overrides, const tecg_kafka_callbacks_t *cb,
                           char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *kconf =
                tecg_kafka_conf_new(type, conf, overrides, cb, errstr, errstr_size);
        return kconf ? client_new(type, kconf, errstr, errstr_size) : NULL;
}

rd_kafka_t *tecg_kafka_new_from(tecg_kafka_type_t type, const rd_kafka_conf_t *kconf, char *errstr,
                                size_t errstr_size) {
        return client_new(type, rd_kafka_conf_dup(kconf), errstr, errstr_size);
}

tecg_err_t tecg_kafka_check(const tecg_conf_t *conf, char *errstr, size_t errstr_size) {
        tecg_err_t err = tecg_kafka_version_check(rd_kafka_version(), TECG_RDKAFKA_MIN_VERSION,
                                                  errstr, errstr_size);
        if (err)
                return err;
        rd_kafka_conf_t *kconf = rd_kafka_conf_new();
        err = set_user(kconf, conf, errstr, errstr_size);
        rd_kafka_conf_destroy(kconf);
        return err;
}
