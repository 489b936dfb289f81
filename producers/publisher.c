#include "publisher.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kafka.h"
#include "event_sig.h"
#include "log.h"
#include "topics.h"

#define FAC "kafka"
#define RESEND_BACKOFF_MS 1000
#define STALL_WARN_MS 30000
/* A broker's connection error is logged only if the cluster as a whole is
 * not reported down within this time (both come from the same failure). */
#define BROKER_DOWN_GRACE_MS 1000
/* librdkafka repeats a broker's identical error every 30 s while it stays
 * down: a broker silent for longer is taken to be back. */
#define BROKER_DOWN_FORGET_MS 65000
#define BROKERS_TRACKED 16
#define PROBE_INTERVAL_MS 2000
#define PROBE_WAIT_MS 500
/* Unsigned messages: delivery reports are served every this many sends
 * while input keeps coming (and whenever the caller polls): a poll per
 * send cost more than the send. */
#define SENDS_PER_SERVE 64
/* Signed messages between send() and librdkafka: a few milliseconds of
 * signing, enough for the signers never to wait on the main thread. */
#define SIGN_RING 1024
/* Signed messages are handed to librdkafka only while its queue holds
 * fewer than this: enough for full batches at the rate signing allows (a
 * quarter of a second of it), where librdkafka's own bound (100,000
 * messages) only lets the queue, and memory, grow when the producer signs
 * faster than librdkafka's broker thread, which shares the CPUs, sends. */
#define OUTQ_SOFT_MAX 20000
#define SIGNERS_MAX 4
/* librdkafka's bound on one record besides its key, value and headers
 * (RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD: the varints at their widest). */
#define RECORD_MAX_OVERHEAD 36

/* One message from send() until its final ack. The payload lives here (not
 * copied by librdkafka) so that a message can be sent again on a new
 * producer instance after a fatal error, whatever librdkafka reported. */
typedef struct pending {
        struct pending *prev, *next;
        void *opaque;
        uint64_t line;
        tecg_topic_t topic;
        int64_t not_before_ms; /* earliest resend */
        /* The message timestamp and its signature, fixed at send(): a
         * resend is the same signed message (docs/design.md §9.1). */
        int64_t timestamp_ms;
        int64_t queued_ms; /* monotonic, when it joined its signing lane */
        bool is_signed;
        /* The key it is signed with (the header names it); borrowed. */
        const tecg_sign_key_t *sign_key;
        /* Set under the signer's lock once sig (or sign_err) is final. */
        bool signed_done;
        tecg_err_t sign_err;
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        /* Its tecg-batch header when sealed with others; len 0: signed
         * alone (docs/design.md §9.1). */
        tecg_event_sig_batch_hdr_t batch;
        size_t len;
        unsigned char payload[];
} pending_t;

typedef struct {
        pending_t *head, *tail;
        size_t count;
} pending_list_t;

/* Signing on threads of their own (docs/architecture.md, "Producer"): an
 * Ed25519 signature costs more than reading, validating and encoding a
 * line together, so send() only queues a signed message here and the
 * signers sign it while the main thread reads on. Each topic has a ring
 * (a lane) of its own, so that a seal's events all go to one partition,
 * one after the other: the aggregator checks the seal's signature once
 * (a seal across both topics arrived in two parts, far apart in a
 * backlog). A signer takes a full seal only (TECG_EVENT_SIG_SEAL_MAX
 * messages of one lane: one Ed25519 signature here and one check in the
 * aggregator for all of them); the main thread seals what waits when it
 * has nothing else to do (poll, flush, an input with nothing more for now)
 * or a lane is full, so no message waits for a seal to fill. Messages
 * leave a lane for librdkafka in the order they entered it, only from the
 * main thread (which alone touches the lists and librdkafka), so the
 * order per partition is the order read.
 *
 *   head <= claim <= tail, tail - head <= SIGN_RING
 *   [head, claim): claimed by a signer (or signed), [claim, tail): waiting */
typedef struct {
        pending_t *ring[SIGN_RING];
        uint64_t head, claim, tail;
} lane_t;

typedef struct {
        pthread_mutex_t lock;
        pthread_cond_t work;    /* signers: a full seal to sign, or quit */
        pthread_cond_t signed_; /* main thread: a lane's head is signed */
        lane_t lanes[TECG_TOPIC__COUNT];
        int64_t seal_window_ms; /* tecg_publisher_set_seal_window() */
        unsigned next_lane;     /* the lane a signer looks at first */
        bool flushing;          /* in flush(): seal what waits at once */
        bool quit, main_waits;
        pthread_t threads[SIGNERS_MAX];
        int nthreads;
        bool ready; /* lock and conditions initialised */
        /* Under the lock, for the log at exit: messages signed by the
         * signers and by the main thread, Ed25519 signatures made for them
         * (one per seal), the signers' CPU time. */
        uint64_t by_signers, by_main, signatures;
        int64_t signers_cpu_ns;
} signer_t;

/* One broker librdkafka reported a connection error for. */
typedef struct {
        char addr[128];   /* host:port, the key */
        char id[16];      /* node id, "" while only the bootstrap entry failed */
        char reason[256]; /* librdkafka's first reason */
        int64_t since_ms, last_ms;
        bool logged;     /* its "down" line was written (or covered) */
        bool delivering; /* "the cluster still delivering" was written */
} broker_down_t;

struct tecg_publisher {
        rd_kafka_conf_t *kconf; /* template, duplicated for each instance */
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt[TECG_TOPIC__COUNT];
        char *topic_names[TECG_TOPIC__COUNT];
        char *key;
        size_t key_len;
        tecg_publisher_ack_cb *ack_cb;
        const tecg_sign_key_t *sign_key; /* borrowed; NULL = unsigned */

        pending_list_t inflight; /* handed to librdkafka */
        pending_list_t resend;   /* failed transiently, to be sent again */

        int fatal;                /* set by error_cb, handled in poll */
        const volatile int *stop; /* caller's shutdown flag, may be NULL */
        int64_t down_since_ms;    /* all brokers down since; 0 while one is up */
        broker_down_t brokers[BROKERS_TRACKED];
        size_t nbrokers;
        int64_t last_progress_ms; /* last ack or refusal */
        int64_t served_at_ms;     /* serve(): the clock of this call's reports, 0 unread */
        int64_t waiting_since_ms; /* the first send after nothing was outstanding */
        int64_t next_probe_ms;    /* tecg_publisher_ready(): next metadata probe */
        int64_t last_stall_log_ms;
        int64_t next_create_ms; /* no instance: next attempt at making one */
        size_t max_msg_size;    /* kafka.message.max.bytes */
        signer_t signer;
        tecg_publisher_stats_t stats;
};

/* The topics of tecg_topic_t, in its order. */
static const tecg_topics_id_t topic_ids[TECG_TOPIC__COUNT] = {TECG_TOPICS_CONTRIBUTIONS,
                                                              TECG_TOPICS_TRAINING};

static void list_push(pending_list_t *l, pending_t *p) {
        p->next = NULL;
        p->prev = l->tail;
        if (l->tail)
                l->tail->next = p;
        else
                l->head = p;
        l->tail = p;
        l->count++;
}

static void list_remove(pending_list_t *l, pending_t *p) {
        if (p->prev)
                p->prev->next = p->next;
        else
                l->head = p->next;
        if (p->next)
                p->next->prev = p->prev;
        else
                l->tail = p->prev;
        p->prev = p->next = NULL;
        l->count--;
}

static void list_free(pending_list_t *l) {
        pending_t *p = l->head;
        while (p) {
                pending_t *next = p->next;
                free(p);
                p = next;
        }
        l->head = l->tail = NULL;
        l->count = 0;
}

/* Errors after which the broker will never accept this message. */
static int is_permanent(rd_kafka_resp_err_t err) {
        switch (err) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
                return 1;
        default:
                return 0;
        }
}

/* The broker of a connection error: librdkafka's reason starts with the
 * broker's name, "host:port/id" or "host:port/bootstrap", then ": ". */
static broker_down_t *broker_down_note(tecg_publisher_t *pub, const char *reason, int64_t now) {
        const char *colon = strstr(reason, ": ");
        if (!colon)
                return NULL;
        size_t name_len = (size_t)(colon - reason);
        const char *slash = memchr(reason, '/', name_len);
        size_t addr_len = slash ? (size_t)(slash - reason) : name_len;
        char addr[128], id[16] = "";
        snprintf(addr, sizeof(addr), "%.*s", (int)addr_len, reason);
        if (slash) {
                size_t id_len = name_len - addr_len - 1;
                if (id_len > 0 && id_len < sizeof(id) && strspn(slash + 1, "0123456789") == id_len)
                        snprintf(id, sizeof(id), "%.*s", (int)id_len, slash + 1);
        }
        broker_down_t *b = NULL;
        for (size_t i = 0; i < pub->nbrokers && !b; i++)
                if (strcmp(pub->brokers[i].addr, addr) == 0)
                        b = &pub->brokers[i];
        if (!b) {
                if (pub->nbrokers == BROKERS_TRACKED)
                        return NULL;
                b = &pub->brokers[pub->nbrokers++];
                memset(b, 0, sizeof(*b));
                snprintf(b->addr, sizeof(b->addr), "%s", addr);
                snprintf(b->reason, sizeof(b->reason), "%s", colon + 2);
                b->since_ms = now;
                /* Within an outage of the whole cluster, no broker of its
                 * own: the outage's line says it all. */
                b->logged = pub->down_since_ms != 0;
        }
        if (id[0])
                snprintf(b->id, sizeof(b->id), "%s", id);
        b->last_ms = now;
        return b;
}

/* "broker 2 (host:port)", or "broker host:port" before its id is known. */
static const char *broker_label(const broker_down_t *b, char *out, size_t out_size) {
        if (b->id[0])
                snprintf(out, out_size, "broker %s (%s)", b->id, b->addr);
        else
                snprintf(out, out_size, "broker %s", b->addr);
        return out;
}

/* A message was acknowledged: the cluster delivers. Ends an outage of the
 * whole cluster, or says once per broker down that the others deliver. */
static void brokers_acked(tecg_publisher_t *pub) {
        char label[160];
        if (pub->down_since_ms) {
                tecg_log_notice(FAC, "Kafka acknowledges again after %.1f s; nothing was lost",
                                (double)(pub->last_progress_ms - pub->down_since_ms) / 1000.0);
                pub->down_since_ms = 0;
                /* Those still down say so again at their next error. */
                pub->nbrokers = 0;
                return;
        }
        for (size_t i = 0; i < pub->nbrokers; i++) {
                broker_down_t *b = &pub->brokers[i];
                if (b->logged && !b->delivering) {
                        b->delivering = true;
                        tecg_log_notice(FAC, "Kafka %s down, the cluster still delivering",
                                        broker_label(b, label, sizeof(label)));
                }
        }
}

/* Called after each poll: writes the "down" line of each broker whose
 * error was not followed by an outage of the whole cluster, and forgets
 * the brokers that stopped failing. */
static void brokers_review(tecg_publisher_t *pub, int64_t now) {
        char label[160];
        for (size_t i = 0; i < pub->nbrokers;) {
                broker_down_t *b = &pub->brokers[i];
                if (now - b->last_ms > BROKER_DOWN_FORGET_MS) {
                        *b = pub->brokers[--pub->nbrokers];
                        continue;
                }
                if (!b->logged && now - b->since_ms >= BROKER_DOWN_GRACE_MS) {
                        b->logged = true;
                        tecg_log_warn(FAC, "Kafka %s down (%s); retrying it",
                                      broker_label(b, label, sizeof(label)), b->reason);
                }
                i++;
        }
}

/* librdkafka reports each broker's connection failure (_TRANSPORT,
 * _RESOLVE) and, when every broker it knows is down, _ALL_BROKERS_DOWN.
 * One broker down in a cluster is not an outage: the others take its
 * partitions over, and the log must not say "unreachable" then. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        (void)rk;
        tecg_publisher_t *pub = opaque;
        int64_t now = tecg_mono_ms();
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                pub->fatal = 1;
                return;
        }
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                if (!pub->down_since_ms) {
                        pub->down_since_ms = now;
                        for (size_t i = 0; i < pub->nbrokers; i++)
                                pub->brokers[i].logged = true;
                        tecg_log_warn(FAC,
                                      "no Kafka broker reachable (%s): holding "
                                      "%llu unacknowledged messages and retrying",
                                      reason, (unsigned long long)tecg_publisher_outstanding(pub));
                }
                return;
        }
        if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE) {
                if (!broker_down_note(pub, reason, now))
                        tecg_log_warn(FAC, "%s: %s", rd_kafka_err2name(err), reason);
                return;
        }
        tecg_log_warn(FAC, "%s: %s", rd_kafka_err2name(err), reason);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        (void)rk;
        tecg_publisher_t *pub = opaque;
        pending_t *p = m->_private;
        list_remove(&pub->inflight, p);

        if (!m->err || is_permanent(m->err)) {
                if (m->err)
                        pub->stats.refused++;
                else
                        pub->stats.acked++;
                /* One clock reading for the reports one poll serves. */
                if (!pub->served_at_ms)
                        pub->served_at_ms = tecg_mono_ms();
                pub->last_progress_ms = pub->served_at_ms;
                if (!m->err)
                        brokers_acked(pub);
                char reason[256] = "";
                if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
                        snprintf(reason, sizeof(reason),
                                 "Kafka refused the message: the broker finds its %zu "
                                 "bytes too large (the topic's max.message.bytes)",
                                 p->len);
                else if (m->err)
                        snprintf(reason, sizeof(reason), "Kafka refused the message: %s",
                                 rd_kafka_err2str(m->err));
                pub->ack_cb(p->opaque, p->line, m->err, m->err ? reason : NULL);
                free(p);
                return;
        }
        /* Transient (timeout, purge after a fatal error, ...): keep it. */
        tecg_log_debug(FAC, "line %llu: delivery failed (%s, %s): will resend",
                       (unsigned long long)p->line, rd_kafka_err2str(m->err),
                       rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_NOT_PERSISTED
                               ? "not persisted"
                               : "possibly persisted");
        p->not_before_ms = tecg_mono_ms() + RESEND_BACKOFF_MS;
        list_push(&pub->resend, p);
}

/* Serves librdkafka's callbacks (on_delivery(), on_error()), waiting at
 * most timeout_ms for the first. */
static void serve(tecg_publisher_t *pub, int timeout_ms) {
        pub->served_at_ms = 0;
        rd_kafka_poll(pub->rk, timeout_ms);
        pub->served_at_ms = 0; /* reports served elsewhere read the clock */
}

static void instance_destroy(tecg_publisher_t *pub) {
        for (int i = 0; i < TECG_TOPIC__COUNT; i++) {
                if (pub->rkt[i])
                        rd_kafka_topic_destroy(pub->rkt[i]);
                pub->rkt[i] = NULL;
        }
        if (pub->rk)
                rd_kafka_destroy(pub->rk);
        pub->rk = NULL;
}

static tecg_err_t instance_create(tecg_publisher_t *pub, char *errstr, size_t errstr_size) {
        if (!(pub->rk = tecg_kafka_new_from(TECG_KAFKA_PRODUCER, pub->kconf, errstr, errstr_size)))
                return TECG_ERR_KAFKA;
        for (int i = 0; i < TECG_TOPIC__COUNT; i++) {
                pub->rkt[i] = rd_kafka_topic_new(pub->rk, pub->topic_names[i], NULL);
                if (!pub->rkt[i]) {
                        tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "topic %s: %s",
                                    pub->topic_names[i], rd_kafka_err2str(rd_kafka_last_error()));
                        instance_destroy(pub);
                        return TECG_ERR_KAFKA;
                }
        }
        return TECG_OK;
}

/* librdkafka refuses a message whose value, key and record overhead exceed
 * its message.max.bytes before sending it: say which setting. */
static tecg_err_t too_large(tecg_publisher_t *pub, size_t len, char *errstr, size_t errstr_size) {
        char max[32] = "?";
        size_t max_size = sizeof(max);
        if (rd_kafka_conf_get(pub->kconf, "message.max.bytes", max, &max_size) != RD_KAFKA_CONF_OK)
                snprintf(max, sizeof(max), "?");
        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                           "encoded event is %zu bytes: with its key and Kafka's "
                           "record overhead that is more than kafka.message.max.bytes "
                           "(%s bytes) allows",
                           len, max);
}

/* The bytes a record header takes on the wire: its name and value, each
 * after its length as a zigzag varint (librdkafka's count). */
static size_t header_wire_size(size_t name_len, size_t value_len) {
        size_t n = name_len + value_len;
        for (int i = 0; i < 2; i++) {
                uint64_t v = (uint64_t)(i ? value_len : name_len) << 1;
                n++;
                while (v >= 0x80) {
                        v >>= 7;
                        n++;
                }
        }
        return n;
}

/* librdkafka's own test at produce time (rd_kafka_msg_new0(): the widest
 * record overhead, key, value and headers against message.max.bytes). */
static bool fits(const tecg_publisher_t *pub, const pending_t *p) {
        size_t headers = 0;
        if (p->len > INT32_MAX)
                return false;
        /* Checked before signing: with the largest tecg-batch header a
         * seal may give it. */
        if (p->is_signed)
                headers = header_wire_size(strlen(TECG_EVENT_SIG_HDR_KEY_ID),
                                           strlen(p->sign_key->key_id)) +
                          header_wire_size(strlen(TECG_EVENT_SIG_HDR_SIGNATURE),
                                           TECG_SIGN_SIG_BYTES) +
                          header_wire_size(strlen(TECG_EVENT_SIG_HDR_BATCH),
                                           TECG_EVENT_SIG_SEAL_HDR_MAX);
        return RECORD_MAX_OVERHEAD + pub->key_len + p->len + headers <= pub->max_msg_size;
}

/* Hands one pending message to librdkafka, with its explicit timestamp
 * and, when signed, the tecg-key-id and tecg-signature headers (and
 * tecg-batch when sealed). */
static rd_kafka_resp_err_t produce(tecg_publisher_t *pub, pending_t *p) {
        rd_kafka_vu_t vus[9];
        size_t n = 0;
        vus[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_RKT, .u.rkt = pub->rkt[p->topic]};
        vus[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_KEY, .u.mem = {pub->key, pub->key_len}};
        vus[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_VALUE, .u.mem = {p->payload, p->len}};
        vus[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_MSGFLAGS, .u.i = 0};
        vus[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_TIMESTAMP, .u.i64 = p->timestamp_ms};
        vus[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_OPAQUE, .u.ptr = p};
        if (p->is_signed) {
                vus[n++] =
                        (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_HEADER,
                                        .u.header = {TECG_EVENT_SIG_HDR_KEY_ID, p->sign_key->key_id,
                                                     (ssize_t)strlen(p->sign_key->key_id)}};
                vus[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_HEADER,
                                           .u.header = {TECG_EVENT_SIG_HDR_SIGNATURE, p->sig,
                                                        (ssize_t)sizeof(p->sig)}};
                if (p->batch.len)
                        vus[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_HEADER,
                                                   .u.header = {TECG_EVENT_SIG_HDR_BATCH,
                                                                p->batch.bytes,
                                                                (ssize_t)p->batch.len}};
        }
        rd_kafka_error_t *error = rd_kafka_produceva(pub->rk, vus, n);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (error) {
                err = rd_kafka_error_code(error);
                rd_kafka_error_destroy(error);
        }
        if (!err)
                list_push(&pub->inflight, p);
        return err;
}

/* A permanent refusal before librdkafka took the message: its one ack. */
static void refuse(tecg_publisher_t *pub, pending_t *p, rd_kafka_resp_err_t err,
                   const char *reason) {
        pub->stats.refused++;
        pub->last_progress_ms = tecg_mono_ms();
        pub->ack_cb(p->opaque, p->line, err, reason);
        free(p);
}

/* ---- signing ---------------------------------------------------------- */

/* What p's signature covers (docs/design.md §9.1); on any thread: it reads
 * only what does not change after send(). */
static tecg_event_sig_msg_t signed_parts(const tecg_publisher_t *pub, const pending_t *p) {
        return (tecg_event_sig_msg_t){pub->key,        pub->key_len, pub->topic_names[p->topic],
                                      p->timestamp_ms, p->payload,   p->len};
}

/* The message's signature alone. */
static void sign_message(const tecg_publisher_t *pub, pending_t *p) {
        const tecg_event_sig_msg_t m = signed_parts(pub, p);
        p->batch.len = 0;
        p->sign_err = tecg_event_sig_sign(p->sign_key, &m, p->sig, NULL, 0);
}

/* Seals run[0..n) under one signature (n >= 2), or signs a lone message
 * alone. A seal that fails leaves each message to be signed alone at
 * hand-over. */
static void sign_run(const tecg_publisher_t *pub, pending_t **run, size_t n) {
        tecg_event_sig_msg_t msgs[TECG_EVENT_SIG_SEAL_MAX] = {{0}};
        tecg_event_sig_batch_hdr_t hdrs[TECG_EVENT_SIG_SEAL_MAX];
        unsigned char sig[TECG_SIGN_SIG_BYTES];
        if (n == 1) {
                sign_message(pub, run[0]);
                return;
        }
        for (size_t i = 0; i < n; i++)
                msgs[i] = signed_parts(pub, run[i]);
        tecg_err_t err = tecg_event_sig_seal(run[0]->sign_key, msgs, n, sig, hdrs, NULL, 0);
        for (size_t i = 0; i < n; i++) {
                run[i]->sign_err = err;
                if (err)
                        continue;
                memcpy(run[i]->sig, sig, sizeof(sig));
                run[i]->batch = hdrs[i];
        }
}

static int64_t thread_cpu_ns(void) {
        struct timespec ts;
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
                return 0;
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Signs the oldest messages no signer took yet, a seal's worth (one
 * signature for all) or, when `partial`, as many as wait, here (a signer,
 * or the main thread when `on_main`); false when there are none (or fewer
 * than a seal's worth and not `partial`). Called and returns with the lock
 * held, drops it while signing. */
static bool sign_some_here(tecg_publisher_t *pub, lane_t *l, bool on_main, bool partial) {
        signer_t *s = &pub->signer;
        pending_t *run[TECG_EVENT_SIG_SEAL_MAX];
        size_t n = 0;
        if (!partial && l->tail - l->claim < TECG_EVENT_SIG_SEAL_MAX)
                return false;
        while (l->claim < l->tail && n < TECG_EVENT_SIG_SEAL_MAX)
                run[n++] = l->ring[l->claim++ % SIGN_RING];
        if (n == 0)
                return false;
        pthread_mutex_unlock(&s->lock);
        sign_run(pub, run, n);
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < n; i++)
                run[i]->signed_done = true;
        if (on_main)
                s->by_main += n;
        else
                s->by_signers += n;
        s->signatures++;
        return true;
}

/* A lane with a full seal waiting, or NULL; each lane first in turn, so
 * that one topic's backlog does not hold the other's seals. Under the
 * lock. */
static lane_t *lane_with_a_seal(signer_t *s) {
        for (int k = 0; k < TECG_TOPIC__COUNT; k++) {
                lane_t *l = &s->lanes[(s->next_lane + k) % TECG_TOPIC__COUNT];
                if (l->tail - l->claim >= TECG_EVENT_SIG_SEAL_MAX) {
                        s->next_lane = (unsigned)(l - s->lanes + 1) % TECG_TOPIC__COUNT;
                        return l;
                }
        }
        return NULL;
}

/* Messages in the lanes: waiting, being signed or signed but not handed
 * over yet. The main thread's view (it alone moves head and tail). */
static bool lanes_hold_messages(const signer_t *s) {
        for (int t = 0; t < TECG_TOPIC__COUNT; t++)
                if (s->lanes[t].head < s->lanes[t].tail)
                        return true;
        return false;
}

static void *signer_main(void *arg) {
        tecg_publisher_t *pub = arg;
        signer_t *s = &pub->signer;
        /* Named for top and perf: its CPU is the signatures'. */
        pthread_setname_np(pthread_self(), "tecg-sign");
        pthread_mutex_lock(&s->lock);
        for (;;) {
                lane_t *l;
                while (!s->quit && !(l = lane_with_a_seal(s)))
                        pthread_cond_wait(&s->work, &s->lock);
                if (s->quit)
                        break;
                sign_some_here(pub, l, false, false);
                if (s->main_waits)
                        pthread_cond_signal(&s->signed_);
        }
        /* Almost all of it signing: the rest is a lock and a wait. */
        s->signers_cpu_ns += thread_cpu_ns();
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

static tecg_err_t signer_init(signer_t *s, char *errstr, size_t errstr_size) {
        pthread_condattr_t attr;
        bool attr_made = false, lock_made = false, work_made = false;
        tecg_err_t err = TECG_OK;
        if (pthread_condattr_init(&attr) != 0)
                goto fail;
        attr_made = true;
        /* Waits are bounded by the monotonic clock, as everything else. */
        if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
            pthread_mutex_init(&s->lock, NULL) != 0)
                goto fail;
        lock_made = true;
        if (pthread_cond_init(&s->work, &attr) != 0)
                goto fail;
        work_made = true;
        if (pthread_cond_init(&s->signed_, &attr) != 0)
                goto fail;
        s->ready = true;
        goto done;
fail:
        err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
                          "cannot set up the signing threads' lock");
        if (work_made)
                pthread_cond_destroy(&s->work);
        if (lock_made)
                pthread_mutex_destroy(&s->lock);
done:
        if (attr_made)
                pthread_condattr_destroy(&attr);
        return err;
}

/* One signer per CPU but the one the main thread reads on (at least one,
 * at most SIGNERS_MAX). None made (threads short): the main thread signs
 * every message itself, as before the signers existed. Signals stay with
 * the main thread, whose blocking read a stop must interrupt. */
static void signer_start(tecg_publisher_t *pub) {
        signer_t *s = &pub->signer;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int want = cpus > 2 ? (int)(cpus - 1) : 1;
        sigset_t all, old;
        if (want > SIGNERS_MAX)
                want = SIGNERS_MAX;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        while (s->nthreads < want &&
               pthread_create(&s->threads[s->nthreads], NULL, signer_main, pub) == 0)
                s->nthreads++;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (s->nthreads < want)
                tecg_log_warn(FAC,
                              "%d of %d signing threads started; the main thread signs the rest",
                              s->nthreads, want);
}

static void signer_stop(tecg_publisher_t *pub) {
        signer_t *s = &pub->signer;
        if (!s->ready)
                return;
        pthread_mutex_lock(&s->lock);
        s->quit = true;
        pthread_cond_broadcast(&s->work);
        pthread_mutex_unlock(&s->lock);
        for (int i = 0; i < s->nthreads; i++)
                pthread_join(s->threads[i], NULL);
        s->nthreads = 0;
        if (s->by_signers + s->by_main)
                tecg_log_info(FAC,
                              "%llu messages signed with %llu signatures: %llu on the signing "
                              "threads (%.2f CPU s), %llu on the main thread",
                              (unsigned long long)(s->by_signers + s->by_main),
                              (unsigned long long)s->signatures, (unsigned long long)s->by_signers,
                              (double)s->signers_cpu_ns / 1e9, (unsigned long long)s->by_main);
        /* Never handed to librdkafka: purged without an ack, as the
         * messages still in librdkafka's queue. */
        for (int t = 0; t < TECG_TOPIC__COUNT; t++) {
                lane_t *l = &s->lanes[t];
                while (l->head < l->tail)
                        free(l->ring[l->head++ % SIGN_RING]);
        }
        pthread_cond_destroy(&s->signed_);
        pthread_cond_destroy(&s->work);
        pthread_mutex_destroy(&s->lock);
        s->ready = false;
}

/* One signed message to librdkafka. A message refused for good (or whose
 * signature cannot be made) gets its ack with the reason; a transient
 * refusal waits in the resend list. A full queue or a fatal error is
 * returned: the message stays at the head of the ring. */
static rd_kafka_resp_err_t hand_over(tecg_publisher_t *pub, pending_t *p) {
        char reason[256];
        if (p->sign_err) /* once more here before giving up on it */
                sign_message(pub, p);
        if (p->sign_err) {
                refuse(pub, p, RD_KAFKA_RESP_ERR__FAIL,
                       p->sign_err == TECG_ERR_NOMEM ? "cannot sign the message: out of memory"
                                                     : "cannot sign the message");
                return RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        rd_kafka_resp_err_t err = produce(pub, p);
        if (!err || err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                return err;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                pub->fatal = 1;
                return err;
        }
        if (is_permanent(err)) {
                if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
                        too_large(pub, p->len, reason, sizeof(reason));
                else
                        snprintf(reason, sizeof(reason), "Kafka refused the message: %s",
                                 rd_kafka_err2str(err));
                refuse(pub, p, err, reason);
                return RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        /* Said once per series: the resend list logs nothing itself. */
        if (!pub->resend.head)
                tecg_log_warn(FAC,
                              "line %llu: Kafka did not take the message (%s): sending it again",
                              (unsigned long long)p->line, rd_kafka_err2str(err));
        p->not_before_ms = tecg_mono_ms() + RESEND_BACKOFF_MS;
        list_push(&pub->resend, p);
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Hands the signed messages at the head of lane l to librdkafka, in
 * order, until one is not signed yet, librdkafka's queue is full (or
 * holds OUTQ_SOFT_MAX) or there is no producer instance. Only the main
 * thread moves head and tail. True when Kafka's side is what stopped it
 * (the caller waits for librdkafka, not for a signature): asking again
 * whether the head is signed would race with the signers, and a head
 * signed just after this returned is not Kafka being full. */
static bool lane_drain(tecg_publisher_t *pub, lane_t *l) {
        signer_t *s = &pub->signer;
        pending_t *run[64];
        for (;;) {
                size_t n = 0, done = 0;
                pthread_mutex_lock(&s->lock);
                for (uint64_t i = l->head; i < l->claim && n < sizeof(run) / sizeof(run[0]); i++) {
                        pending_t *p = l->ring[i % SIGN_RING];
                        if (!p->signed_done)
                                break;
                        run[n++] = p;
                }
                pthread_mutex_unlock(&s->lock);
                if (n == 0)
                        return false;
                if (!pub->rk || pub->fatal || rd_kafka_outq_len(pub->rk) >= OUTQ_SOFT_MAX)
                        return true;
                while (done < n && pub->rk && !pub->fatal && !hand_over(pub, run[done]))
                        done++;
                l->head += done;
                if (done < n)
                        return true;
        }
}

/* lane_drain() of every lane; true when Kafka's side held any back. */
static bool ring_drain(tecg_publisher_t *pub) {
        bool held = false;
        for (int t = 0; t < TECG_TOPIC__COUNT; t++)
                held |= lane_drain(pub, &pub->signer.lanes[t]);
        return held;
}

/* Which seals the main thread makes itself: full ones only (it has other
 * work), also shorter ones whose first message has waited the seal window
 * (it has nothing else to do), or everything waiting (flush). */
typedef enum { SEAL_FULL, SEAL_DUE, SEAL_ALL } seal_policy_t;

/* Milliseconds until lane l's waiting messages are due for a seal of
 * their own: 0 now, -1 when none waits. Under the lock. */
static int64_t lane_due_ms(const signer_t *s, const lane_t *l, int64_t now) {
        if (l->claim == l->tail)
                return -1;
        int64_t due = l->ring[l->claim % SIGN_RING]->queued_ms + s->seal_window_ms - now;
        return due > 0 ? due : 0;
}

/* Until the message at the head of lane l, or of every lane when l is
 * NULL, is signed (at most timeout_ms), signs the waiting ones here rather
 * than wait for the signers, as `policy` allows. Returns the milliseconds
 * until a seal it left waiting is due (-1: none left). */
static int64_t ring_wait_head(tecg_publisher_t *pub, lane_t *only, int timeout_ms,
                              seal_policy_t policy) {
        signer_t *s = &pub->signer;
        int64_t next_due = -1;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
        }
        bool may_wait = true; /* until the first wait times out */
        pthread_mutex_lock(&s->lock);
        for (int t = 0; t < TECG_TOPIC__COUNT; t++) {
                lane_t *l = &s->lanes[t];
                if (only && l != only)
                        continue;
                for (;;) {
                        bool head_waits =
                                l->head < l->tail && !l->ring[l->head % SIGN_RING]->signed_done;
                        bool partial =
                                policy == SEAL_ALL ||
                                (policy == SEAL_DUE && lane_due_ms(s, l, tecg_mono_ms()) == 0);
                        /* A due seal is made even when the head is signed. */
                        if ((head_waits || partial) && sign_some_here(pub, l, true, partial))
                                continue;
                        if (!head_waits || l->head == l->claim || !may_wait)
                                break;        /* signed, or not due (nobody else signs it) */
                        s->main_waits = true; /* a signer holds the head */
                        int rc = pthread_cond_timedwait(&s->signed_, &s->lock, &until);
                        s->main_waits = false;
                        if (rc != 0)
                                may_wait = false; /* the other lanes' due seals still */
                }
                int64_t due = lane_due_ms(s, l, tecg_mono_ms());
                if (due >= 0 && (next_due < 0 || due < next_due))
                        next_due = due;
        }
        pthread_mutex_unlock(&s->lock);
        return next_due;
}

/* Queues a signed message in its topic's lane (which owns it from now
 * on): waits, serving acknowledgements and signing, while the lane is
 * full. */
static tecg_err_t ring_push(tecg_publisher_t *pub, pending_t *p, char *errstr, size_t errstr_size) {
        signer_t *s = &pub->signer;
        lane_t *l = &s->lanes[p->topic];
        for (;;) {
                bool held_by_kafka = ring_drain(pub);
                if (l->tail - l->head < SIGN_RING)
                        break;
                /* Full: the head not signed yet (work here that always
                 * ends), or librdkafka's queue full (or at OUTQ_SOFT_MAX)
                 * or no producer instance (a wait that a stop cuts short,
                 * as in send()). */
                if (!held_by_kafka) {
                        ring_wait_head(pub, l, 100, SEAL_FULL);
                        continue;
                }
                if (pub->stop && *pub->stop) {
                        free(p);
                        return tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size, "shutting down");
                }
                tecg_publisher_poll(pub, 100);
        }
        p->signed_done = false;
        if (s->nthreads == 0) {
                sign_message(pub, p);
                p->signed_done = true;
        }
        p->queued_ms = tecg_mono_ms();
        pthread_mutex_lock(&s->lock);
        l->ring[l->tail++ % SIGN_RING] = p;
        if (s->nthreads == 0)
                l->claim = l->tail;
        else if (l->tail - l->claim >= TECG_EVENT_SIG_SEAL_MAX)
                pthread_cond_signal(&s->work);
        /* While input keeps coming the main thread does not poll: a lane
         * whose few messages (a topic seldom written) waited the window
         * is sealed here, not when the input pauses. (No window: sealed
         * when the main thread has nothing else to do.) */
        for (int t = 0; t < TECG_TOPIC__COUNT && s->nthreads && s->seal_window_ms > 0; t++) {
                lane_t *due = &s->lanes[t];
                /* Full seals are the signers' (they may be behind). */
                if (due->tail - due->claim < TECG_EVENT_SIG_SEAL_MAX &&
                    lane_due_ms(s, due, p->queued_ms) == 0)
                        sign_some_here(pub, due, true, true);
        }
        pthread_mutex_unlock(&s->lock);
        ring_drain(pub);
        return TECG_OK;
}

void tecg_publisher_set_seal_window(tecg_publisher_t *pub, int64_t ms) {
        pub->signer.seal_window_ms = ms > 0 ? ms : 0;
}

int tecg_publisher_seal_due_ms(tecg_publisher_t *pub) {
        signer_t *s = &pub->signer;
        /* Without a producer instance poll() seals nothing. */
        if (!s->ready || !pub->rk)
                return -1;
        int64_t now = tecg_mono_ms(), next = -1;
        pthread_mutex_lock(&s->lock);
        for (int t = 0; t < TECG_TOPIC__COUNT; t++) {
                int64_t due = lane_due_ms(s, &s->lanes[t], now);
                if (due >= 0 && (next < 0 || due < next))
                        next = due;
        }
        pthread_mutex_unlock(&s->lock);
        return next > INT_MAX ? INT_MAX : (int)next;
}

void tecg_publisher_seal_now(tecg_publisher_t *pub) {
        if (!pub->signer.ready || !lanes_hold_messages(&pub->signer))
                return;
        ring_wait_head(pub, NULL, 0, SEAL_ALL);
        ring_drain(pub);
}

void tecg_publisher_set_signing_key(tecg_publisher_t *pub, const tecg_sign_key_t *key) {
        pub->sign_key = key;
        if (key && pub->signer.ready && pub->signer.nthreads == 0)
                signer_start(pub);
}

tecg_publisher_t *tecg_publisher_new(const tecg_conf_t *conf, const char *topic_prefix,
                                     const char *key, tecg_publisher_ack_cb *ack_cb, char *errstr,
                                     size_t errstr_size) {
        char client_id[64];
        snprintf(client_id, sizeof(client_id), "tecg-producer-%s", key);
        /* On top of the idempotent producer's defaults; a kafka.* key of
         * the config overrides any of them (docs/design.md §3). */
        const tecg_kafka_setting_t overrides[] = {
                {"client.id", client_id},
                /* Never give up on a message: while Kafka is away we wait
                 * (and say so) rather than drop. It also avoided 2.0.2's
                 * spurious fatal idempotence error after timeouts; 2.3.0
                 * fixed that cause and tecg now runs on 2.8.0, but the
                 * setting stays for the first reason, and the restart after
                 * a fatal error stays as defence (docs/design.md §7). */
                {"message.timeout.ms", "0"},
                /* The Java clients' partitioner, so any producer of a
                 * nation's events picks the same partition. */
                {"partitioner", "murmur2_random"},
                {NULL, NULL}};
        tecg_kafka_callbacks_t callbacks = {.error_cb = on_error, .dr_msg_cb = on_delivery};
        char max[32];
        size_t max_size = sizeof(max);

        tecg_publisher_t *pub = calloc(1, sizeof(*pub));
        if (!pub)
                goto nomem;
        callbacks.opaque = pub;
        pub->ack_cb = ack_cb;
        if (!(pub->key = strdup(key)))
                goto nomem;
        pub->key_len = strlen(key);
        for (int i = 0; i < TECG_TOPIC__COUNT; i++) {
                if (!(pub->topic_names[i] = tecg_topics_name(topic_prefix, topic_ids[i])))
                        goto nomem;
        }
        /* Kept: a fatal error is survived with a new producer made from it. */
        if (!(pub->kconf = tecg_kafka_conf_new(TECG_KAFKA_PRODUCER, conf, overrides, &callbacks,
                                               errstr, errstr_size)))
                goto fail;
        if (instance_create(pub, errstr, errstr_size))
                goto fail;
        if (signer_init(&pub->signer, errstr, errstr_size))
                goto fail;
        pub->max_msg_size = SIZE_MAX; /* unknown: librdkafka checks it */
        if (rd_kafka_conf_get(pub->kconf, "message.max.bytes", max, &max_size) ==
            RD_KAFKA_CONF_OK) {
                char *end = NULL;
                unsigned long long v = strtoull(max, &end, 10);
                if (end != max && *end == '\0')
                        pub->max_msg_size = (size_t)v;
        }
        pub->last_progress_ms = tecg_mono_ms();
        return pub;
nomem:
        tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
fail:
        tecg_publisher_destroy(pub);
        return NULL;
}

void tecg_publisher_destroy(tecg_publisher_t *pub) {
        if (!pub)
                return;
        signer_stop(pub);
        if (pub->rk)
                rd_kafka_purge(pub->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        instance_destroy(pub);
        list_free(&pub->inflight);
        list_free(&pub->resend);
        if (pub->kconf)
                rd_kafka_conf_destroy(pub->kconf);
        for (int i = 0; i < TECG_TOPIC__COUNT; i++)
                free(pub->topic_names[i]);
        free(pub->key);
        free(pub);
}

/* True when there is a producer instance, making one if a fatal error
 * left none (at most one attempt a second: rd_kafka_new() fails only when
 * the machine is short of threads or memory). No endless wait here, so a
 * stop is never held up. */
static bool instance_ready(tecg_publisher_t *pub) {
        char errstr[512];
        if (pub->rk)
                return true;
        int64_t now = tecg_mono_ms();
        if (now < pub->next_create_ms)
                return false;
        if (instance_create(pub, errstr, sizeof(errstr)) != TECG_OK) {
                tecg_log_err(FAC, "%s; retrying in 1 s", errstr);
                pub->next_create_ms = now + 1000;
                return false;
        }
        return true;
}

/* A fatal error (e.g. idempotence state lost) makes this instance useless:
 * collect everything it still holds, start a new one and send it all again.
 * Duplicates are possible for what was in flight; the aggregator counts each
 * event_id once (docs/design.md §4). */
static void publisher_restart(tecg_publisher_t *pub) {
        char reason[512] = "";
        rd_kafka_fatal_error(pub->rk, reason, sizeof(reason));
        tecg_log_err(FAC,
                     "fatal producer error: %s; restarting the producer "
                     "and resending %zu unacknowledged messages",
                     reason, pub->inflight.count + pub->resend.count);
        rd_kafka_purge(pub->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        serve(pub, 0);
        instance_destroy(pub);
        /* Whatever librdkafka did not report back is ours to resend. */
        while (pub->inflight.head) {
                pending_t *p = pub->inflight.head;
                list_remove(&pub->inflight, p);
                p->not_before_ms = 0;
                list_push(&pub->resend, p);
        }
        pub->fatal = 0;
        pub->stats.fatal_restarts++;
        pub->next_create_ms = 0;
        instance_ready(pub);
}

static void resend_due(tecg_publisher_t *pub) {
        int64_t now = tecg_mono_ms();
        pending_t *p = pub->resend.head;
        while (p) {
                pending_t *next = p->next;
                if (p->not_before_ms <= now) {
                        list_remove(&pub->resend, p);
                        rd_kafka_resp_err_t err = produce(pub, p);
                        if (err) {
                                /* Queue full or fatal: try again later. */
                                p->not_before_ms = now + RESEND_BACKOFF_MS;
                                list_push(&pub->resend, p);
                                if (err == RD_KAFKA_RESP_ERR__FATAL)
                                        pub->fatal = 1;
                                return;
                        }
                        pub->stats.resent++;
                }
                p = next;
        }
}

/* Since when the outstanding messages have waited with no acknowledgement:
 * the later of the last acknowledgement and the first send after an idle
 * time, so a send after hours of quiet does not count the quiet. */
static int64_t stalled_since(const tecg_publisher_t *pub) {
        return pub->last_progress_ms > pub->waiting_since_ms ? pub->last_progress_ms
                                                             : pub->waiting_since_ms;
}

void tecg_publisher_poll(tecg_publisher_t *pub, int timeout_ms) {
        if (!instance_ready(pub)) {
                struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
                nanosleep(&ts, NULL);
                return;
        }
        signer_t *s = &pub->signer;
        seal_policy_t policy = s->flushing ? SEAL_ALL : SEAL_DUE;
        if (lanes_hold_messages(s)) {
                /* Messages to hand over first: wait for their signatures
                 * (signing meanwhile), not for librdkafka, unless its queue
                 * is what holds them back; then wait for librdkafka at
                 * most until the next seal is due. */
                if (!ring_drain(pub) && lanes_hold_messages(s)) {
                        int64_t due = ring_wait_head(pub, NULL, timeout_ms, policy);
                        ring_drain(pub);
                        timeout_ms = due < 0 ? 0 : due < timeout_ms ? (int)due : timeout_ms;
                }
                if (!lanes_hold_messages(s))
                        timeout_ms = 0;
        }
        serve(pub, timeout_ms);
        if (pub->fatal)
                publisher_restart(pub);
        if (lanes_hold_messages(s) && pub->rk) {
                ring_wait_head(pub, NULL, 0, policy);
                ring_drain(pub);
        }
        if (pub->resend.head && pub->rk)
                resend_due(pub);

        int64_t now = tecg_mono_ms();
        if (pub->nbrokers)
                brokers_review(pub, now);
        uint64_t outstanding = tecg_publisher_outstanding(pub);
        int64_t since = stalled_since(pub);
        if (outstanding && now - since > STALL_WARN_MS &&
            now - pub->last_stall_log_ms > STALL_WARN_MS) {
                tecg_log_warn(FAC,
                              "%llu messages waiting for acknowledgement, "
                              "none acknowledged for %lld s; still retrying",
                              (unsigned long long)outstanding, (long long)(now - since) / 1000);
                pub->last_stall_log_ms = now;
        }
}

tecg_err_t tecg_publisher_send(tecg_publisher_t *pub, tecg_topic_t topic, const void *payload,
                               size_t len, void *opaque, uint64_t line, char *errstr,
                               size_t errstr_size) {
        pending_t *p = malloc(sizeof(*p) + len);
        if (!p)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        p->prev = p->next = NULL;
        p->opaque = opaque;
        p->line = line;
        p->topic = topic;
        p->not_before_ms = 0;
        p->timestamp_ms = tecg_wall_ms();
        p->is_signed = pub->sign_key != NULL;
        p->sign_key = pub->sign_key;
        p->sign_err = TECG_OK;
        p->len = len;
        memcpy(p->payload, payload, len);
        if (tecg_publisher_outstanding(pub) == 0)
                pub->waiting_since_ms = tecg_mono_ms();
        if (p->is_signed) {
                /* Signed later, on a signer: librdkafka's size check is
                 * made now, so a message too large is still refused here. */
                if (!fits(pub, p)) {
                        free(p);
                        return too_large(pub, len, errstr, errstr_size);
                }
                pub->stats.sent++;
                tecg_err_t err = ring_push(pub, p, errstr, errstr_size);
                if (err)
                        pub->stats.sent--;
                return err;
        }

        for (;;) {
                if (!instance_ready(pub)) {
                        if (pub->stop && *pub->stop) {
                                free(p);
                                return tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size,
                                                   "shutting down");
                        }
                        tecg_publisher_poll(pub, 100);
                        continue;
                }
                rd_kafka_resp_err_t err = produce(pub, p);
                if (!err)
                        break;
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        if (pub->stop && *pub->stop) {
                                free(p);
                                return tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size,
                                                   "shutting down");
                        }
                        /* Backpressure: serve delivery reports, then retry. */
                        tecg_publisher_poll(pub, 100);
                        continue;
                }
                if (err == RD_KAFKA_RESP_ERR__FATAL) {
                        publisher_restart(pub);
                        continue;
                }
                free(p);
                if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
                        return too_large(pub, len, errstr, errstr_size);
                return tecg_seterr(is_permanent(err) ? TECG_ERR_INVALID : TECG_ERR_KAFKA, errstr,
                                   errstr_size, "Kafka refused the message: %s",
                                   rd_kafka_err2str(err));
        }
        if (++pub->stats.sent % SENDS_PER_SERVE == 0)
                serve(pub, 0);
        return TECG_OK;
}

void tecg_publisher_set_stop_flag(tecg_publisher_t *pub, const volatile int *stop) {
        pub->stop = stop;
}

uint64_t tecg_publisher_outstanding(const tecg_publisher_t *pub) {
        return pub->stats.sent - pub->stats.acked - pub->stats.refused;
}

/* An outage of the whole cluster ends at the next acknowledgement
 * (brokers_acked()); with nothing outstanding there is none, so a cheap
 * metadata request (at most every PROBE_INTERVAL_MS, waiting PROBE_WAIT_MS)
 * tells whether a broker answers again. A paused broker keeps its
 * connections open and reports no error: messages waiting longer than
 * TECG_PUBLISHER_STALL_MS for any acknowledgement count as an outage too. */
tecg_err_t tecg_publisher_ready(tecg_publisher_t *pub, char *errstr, size_t errstr_size) {
        int64_t now = tecg_mono_ms();
        uint64_t outstanding = tecg_publisher_outstanding(pub);
        if (!pub->rk)
                return tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size,
                                   "the Kafka producer is being restarted");
        if (pub->down_since_ms && outstanding == 0 && now >= pub->next_probe_ms) {
                const struct rd_kafka_metadata *md = NULL;
                pub->next_probe_ms = now + PROBE_INTERVAL_MS;
                if (rd_kafka_metadata(pub->rk, 0, pub->rkt[0], &md, PROBE_WAIT_MS) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR) {
                        tecg_log_notice(FAC, "Kafka answers again after %.1f s",
                                        (double)(tecg_mono_ms() - pub->down_since_ms) / 1000.0);
                        pub->down_since_ms = 0;
                        pub->nbrokers = 0;
                }
                if (md)
                        rd_kafka_metadata_destroy(md);
        }
        if (pub->down_since_ms)
                return tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size,
                                   "no Kafka broker reachable for %lld s",
                                   (long long)(now - pub->down_since_ms) / 1000);
        int64_t since = stalled_since(pub);
        if (outstanding && now - since > TECG_PUBLISHER_STALL_MS)
                return tecg_seterr(TECG_ERR_RETRY, errstr, errstr_size,
                                   "%llu messages waiting, none acknowledged by Kafka for %lld s",
                                   (unsigned long long)outstanding,
                                   (long long)(now - since) / 1000);
        return TECG_OK;
}

tecg_err_t tecg_publisher_flush(tecg_publisher_t *pub, int timeout_ms) {
        int64_t deadline = tecg_mono_ms() + timeout_ms;
        tecg_err_t err = TECG_OK;
        pub->signer.flushing = true; /* nothing more is coming: seal it all */
        while (tecg_publisher_outstanding(pub) > 0) {
                int64_t left = deadline - tecg_mono_ms();
                if (left <= 0) {
                        err = TECG_ERR_RETRY;
                        break;
                }
                tecg_publisher_poll(pub, left < 100 ? (int)left : 100);
        }
        pub->signer.flushing = false;
        return err;
}

void tecg_publisher_stats(const tecg_publisher_t *pub, tecg_publisher_stats_t *out) {
        *out = pub->stats;
}
