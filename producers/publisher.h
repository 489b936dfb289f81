/* The Kafka side of the producer: one idempotent librdkafka producer, the
 * two input topics, delivery reports, retries and recovery from fatal errors.
 *
 * Every message handed to tecg_publisher_send() ends in exactly one call of
 * the ack callback: err == 0 when Kafka acknowledged it, or a permanent
 * error (the broker will never take it, e.g. too large) with a reason.
 * Transient failures never reach the callback: the message is kept and sent
 * again (after a fatal error, on a new producer instance). */
#ifndef TECG_PUBLISHER_H
#define TECG_PUBLISHER_H

#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "err.h"
#include "sign.h"

typedef enum { TECG_TOPIC_CONTRIBUTIONS = 0, TECG_TOPIC_TRAINING, TECG_TOPIC__COUNT } tecg_topic_t;

/* `opaque` and `line` are what was given to tecg_publisher_send();
 * `reason` (NULL when err == 0) is a one-line reason for rejected/. */
typedef void(tecg_publisher_ack_cb)(void *opaque, uint64_t line, rd_kafka_resp_err_t err,
                                    const char *reason);

typedef struct tecg_publisher tecg_publisher_t;

/* Creates the producer from the kafka.* keys of `conf` on top of tecg's
 * defaults (idempotence, acks=all, no message timeout, murmur2 partitioner).
 * `key` (the nation) is copied and used as the key of every message. */
tecg_publisher_t *tecg_publisher_new(const tecg_conf_t *conf, const char *topic_prefix,
                                     const char *key, tecg_publisher_ack_cb *ack_cb, char *errstr,
                                     size_t errstr_size);

/* Flushes nothing: call tecg_publisher_flush() first. Messages still queued
 * are purged without their ack callback being called. NULL ok. */
void tecg_publisher_destroy(tecg_publisher_t *pub);

/* Queues a copy of the payload. Waits (serving delivery reports) while the
 * local queue is full. TECG_ERR_INVALID with a reason when librdkafka refuses
 * the message for good (e.g. larger than kafka.message.max.bytes, named in
 * the reason): the ack callback is not called for it. */
tecg_err_t tecg_publisher_send(tecg_publisher_t *pub, tecg_topic_t topic, const void *payload,
                               size_t len, void *opaque, uint64_t line, char *errstr,
                               size_t errstr_size);

/* Signs every message sent from now on with `key` (borrowed: it must
 * outlive the publisher); NULL sends them unsigned. Each message gets an
 * explicit timestamp (the wall clock at send()) either way. */
void tecg_publisher_set_signing_key(tecg_publisher_t *pub, const tecg_sign_key_t *key);

/* How long a signed message may wait for others to share its seal (one
 * signature for up to TECG_EVENT_SIG_SEAL_MAX messages of a topic) when
 * fewer than a seal's worth wait: 0 (the default) seals what waits as soon
 * as the caller polls. flush() seals at once. */
void tecg_publisher_set_seal_window(tecg_publisher_t *pub, int64_t ms);

/* Seals what waits now, whatever the window: the input has ended (a file,
 * stdin, an HTTP request read to its end), nothing is coming to join it. */
void tecg_publisher_seal_now(tecg_publisher_t *pub);

/* Milliseconds until a waiting seal is due (poll then seals it); 0 when
 * one is due now, -1 when none waits. */
int tecg_publisher_seal_due_ms(tecg_publisher_t *pub);

/* While *stop is non-zero, send() gives up waiting on a full queue and
 * returns TECG_ERR_RETRY (the message was not sent). Borrowed. */
void tecg_publisher_set_stop_flag(tecg_publisher_t *pub, const volatile int *stop);

/* Serves delivery reports and resends what failed transiently. */
void tecg_publisher_poll(tecg_publisher_t *pub, int timeout_ms);

/* Messages sent but not yet acknowledged or refused (queued, in flight or
 * waiting for a resend). */
uint64_t tecg_publisher_outstanding(const tecg_publisher_t *pub);

/* Whether Kafka takes messages now: TECG_OK, or TECG_ERR_RETRY with the
 * reason (no broker reachable, a producer instance being remade, or
 * messages outstanding with no acknowledgement for TECG_PUBLISHER_STALL_MS).
 * For the HTTP input, which answers 503 instead of accepting lines it
 * cannot confirm. May wait up to half a second for a broker to answer. */
#define TECG_PUBLISHER_STALL_MS 5000
tecg_err_t tecg_publisher_ready(tecg_publisher_t *pub, char *errstr, size_t errstr_size);

/* Polls until nothing is outstanding or timeout_ms passed; TECG_ERR_RETRY
 * when messages are still outstanding. */
tecg_err_t tecg_publisher_flush(tecg_publisher_t *pub, int timeout_ms);

/* Counters for logs and metrics. */
typedef struct {
        uint64_t sent, acked, refused, resent, fatal_restarts;
} tecg_publisher_stats_t;
void tecg_publisher_stats(const tecg_publisher_t *pub, tecg_publisher_stats_t *out);

#endif
