#include "dashboards.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "coalesce.h"
#include "docsign.h"
#include "kafka.h"
#include "log.h"
#include "nation_state.h"
#include "nation_view.h"
#include "state_codec.h"
#include "timefmt.h"
#include "topics.h"

#define FAC "dashboards"
/* How long start-up waits for a topic's metadata. */
#define METADATA_TIMEOUT_MS 30000
/* How long publish() waits for room in the producer's queue: the write to
 * tecg.dashboards is for BI readers and must not stall the documents. */
#define QUEUE_FULL_WAIT_MS 1000

/* The last published version of one dashboard and its content without
 * version and generated_at, to tell a real change from a recomposition. */
typedef struct {
        uint64_t version;
        char *content_key;
} last_doc_t;

/* One version written to tecg.dashboards and not yet acknowledged: it
 * reaches the sinks from the delivery report (on_delivery), never before.
 * Owned by the engine's list of offers (freed by the report, or at
 * destroy); the message's opaque points at it. */
typedef struct pending_offer {
        struct pending_offer *prev, *next;
        int which;
        uint64_t version;
        char *text;
        size_t len;
        bool signed_;
        char sig[TECG_DOCSIGN_VALUE_SIZE];
} pending_offer_t;

/* What /metrics needs of a nation, kept from the last composition. */
typedef struct {
        char code[4];
        bool listed;
        int64_t times[TECG_REPORT_TIMES]; /* tecg_compose_report_times() */
} report_row_t;

struct tecg_dashboards {
        tecg_dashboards_options_t opts;
        char *topic_state, *topic_dashboards;
        rd_kafka_t *consumer;
        rd_kafka_t *producer; /* NULL unless publish_topic */
        tecg_state_codec_t *codec;

        tecg_nation_state_t **states; /* index = nation's index in `list` */
        size_t nstates;
        /* The list in force in opts.nations that states follow: a reload
         * replaces it (tecg_dashboards_nations_changed()). */
        const tecg_nations_t *list;
        /* States of nations not in the list, in arrival order: shown as
         * "unlisted" and counted (compose.h), never dropped. At most one
         * per code, and codes are 3 letters, so this stays small. */
        tecg_nation_state_t **unlisted;
        size_t nunlisted, unlisted_cap;
        int32_t npartitions;
        int32_t eof_partitions;
        bool *eof;
        bool loaded; /* nation-state read to its end once */
        bool dirty;  /* states changed since last compose */
        /* Bumped by every change that asks for a composition (a state,
         * a refused write, the clock); note_changes() tells the coalescer
         * of those it has not heard of, up to changes_noted. */
        uint64_t changes, changes_noted;
        tecg_coalesce_t coalesce; /* when to compose (coalesce.h) */
        int64_t next_recheck_ms;  /* monotonic: recompose for the clock's sake */
        last_doc_t last[TECG_DASH__COUNT];
        bool served[TECG_DASH__COUNT]; /* in the docstore */
        /* Rows of nations that did not change, kept as text between
         * compositions (compose.h: tecg_compose_text()). */
        tecg_compose_cache_t *compose_cache;

        /* Guards stats and reports, and the states against the HTTP
         * threads (tecg_dashboards_nation_view()): the engine's thread
         * changes them under it, and reads them without it. */
        pthread_mutex_t lock;
        tecg_dashboards_stats_t stats;
        report_row_t *reports;
        size_t nreports;
        pending_offer_t *offers; /* written, not yet acknowledged */
};

static int64_t wall_now(const tecg_dashboards_t *d) {
        return d->opts.clock_ms ? d->opts.clock_ms(d->opts.clock_opaque) : tecg_wall_ms();
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        (void)rk;
        (void)opaque;
        tecg_log(err == RD_KAFKA_RESP_ERR__FATAL ? TECG_LOG_ERR : TECG_LOG_WARNING, FAC, "%s: %s",
                 rd_kafka_err2name(err), reason);
}

/* After a write of `version` to tecg.dashboards failed: unless a newer
 * version is already on its way, the next composition writes the same
 * content again, as version + 1, rather than leave the topic (and so the
 * sinks, and the versions after a restart) without it. */
static void forget_content(tecg_dashboards_t *d, int which, uint64_t version) {
        if (d->last[which].version != version)
                return;
        free(d->last[which].content_key);
        d->last[which].content_key = NULL;
        d->dirty = true;
        d->changes++;
}

/* Unlinks po from the engine's offers and frees it. NULL ok. */
static void pending_offer_free(tecg_dashboards_t *d, pending_offer_t *po) {
        if (!po)
                return;
        if (po->prev)
                po->prev->next = po->next;
        else
                d->offers = po->next;
        if (po->next)
                po->next->prev = po->prev;
        free(po->text);
        free(po);
}

/* A version goes to the sinks only once tecg.dashboards holds it. A sink
 * keeps the highest version it got, and a restarted dashboard numbers on
 * from the last version it reads back from the topic (docs/design.md
 * §5.3): offered before the topic acknowledged it, a version could reach a
 * sink, be lost from the topic with the process, and be numbered again
 * for other content after the restart, which the sink refuses as stale.
 * A refused write offers nothing and forgets the content, so the next
 * composition writes it again as a new version. Called on the engine's
 * thread (rd_kafka_poll(), rd_kafka_flush()). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        tecg_dashboards_t *d = opaque;
        pending_offer_t *po = m->_private;
        (void)rk;
        if (m->err)
                tecg_log_warn(FAC, "writing %s: %s", rd_kafka_topic_name(m->rkt),
                              rd_kafka_err2str(m->err));
        if (!po)
                return;
        if (m->err)
                forget_content(d, po->which, po->version);
        else if (d->opts.publish_cb) {
                d->opts.publish_cb(tecg_dashboard_names[po->which], po->version, po->text, po->len,
                                   po->signed_ ? po->sig : NULL, d->opts.opaque);
        }
        pending_offer_free(d, po);
}

/* Content identity: the document's compact text without its version and
 * generation time, keys in the order composed. A composition's text
 * (tecg_compose_text(): the body's compact dump, key order included) is
 * that already; this makes the same text of a document read back from
 * tecg.dashboards, which keeps the order it was written in, so the texts of
 * equal contents are equal. Sorting the keys instead cost more than
 * composing (every object of a 160 kB document sorted and copied). The
 * same text, with the version spliced in (stamped_text()), is what is
 * published: one serialisation per document and composition. */
static char *content_key(json_t *doc) {
        if (!json_object_get(doc, "version") && !json_object_get(doc, "generated_at"))
                return json_dumps(doc, TECG_COMPOSE_DUMP_FLAGS);
        json_t *copy = json_copy(doc); /* shallow: only top-level keys go */
        if (!copy)
                return NULL;
        json_object_del(copy, "version");
        json_object_del(copy, "generated_at");
        char *s = json_dumps(copy, TECG_COMPOSE_DUMP_FLAGS);
        json_decref(copy);
        return s;
}

static int dashboard_index(const char *name, size_t len) {
        for (int i = 0; i < TECG_DASH__COUNT; i++)
                if (strlen(tecg_dashboard_names[i]) == len &&
                    memcmp(tecg_dashboard_names[i], name, len) == 0)
                        return i;
        return -1;
}

static bool stopping(const tecg_dashboards_t *d) {
        return d->opts.stop && *d->opts.stop;
}

/* Asked in slices of a second, so that a stop during start-up with Kafka
 * away is not held up by the 30 s a metadata request may wait. */
static int32_t partition_count(tecg_dashboards_t *d, const char *topic, char *errstr,
                               size_t errstr_size) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(d->consumer, topic, NULL);
        int64_t deadline = tecg_mono_ms() + METADATA_TIMEOUT_MS;
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_metadata(d->consumer, 0, rkt, &md, 1000)) &&
               (err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT) &&
               !stopping(d) && tecg_mono_ms() < deadline)
                ;
        int32_t n = -1;
        if (err)
                tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "metadata of %s: %s", topic,
                            stopping(d) ? "stopped" : rd_kafka_err2str(err));
        else if (md->topic_cnt != 1 || md->topics[0].err)
                tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "topic %s: %s", topic,
                            md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
        else
                n = md->topics[0].partition_cnt;
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return n;
}

static rd_kafka_topic_partition_list_t *all_partitions(const char *topic, int32_t n) {
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
        for (int32_t p = 0; p < n; p++)
                rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        return parts;
}

/* Reads tecg.dashboards to its end: the last version of each dashboard. */
static tecg_err_t load_last_documents(tecg_dashboards_t *d, char *errstr, size_t errstr_size) {
        int32_t n = partition_count(d, d->topic_dashboards, errstr, errstr_size);
        if (n < 0)
                return TECG_ERR_KAFKA;
        rd_kafka_topic_partition_list_t *parts = all_partitions(d->topic_dashboards, n);
        rd_kafka_resp_err_t kerr = rd_kafka_assign(d->consumer, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        if (kerr)
                return tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "assign %s: %s",
                                   d->topic_dashboards, rd_kafka_err2str(kerr));
        int32_t eofs = 0;
        int64_t deadline = tecg_mono_ms() + d->opts.load_timeout_ms;
        while (eofs < n) {
                if (tecg_mono_ms() > deadline || stopping(d)) {
                        rd_kafka_assign(d->consumer, NULL);
                        if (stopping(d))
                                return tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size,
                                                   "stopped while reading %s", d->topic_dashboards);
                        return tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size,
                                           "%s not read to its end within %d ms",
                                           d->topic_dashboards, d->opts.load_timeout_ms);
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(d->consumer, 200);
                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        eofs++;
                } else if (!m->err && m->key && m->payload) {
                        int i = dashboard_index(m->key, m->key_len);
                        json_t *doc = i >= 0 ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
                        json_int_t v =
                                doc ? json_integer_value(json_object_get(doc, "version")) : 0;
                        char *key = doc ? content_key(doc) : NULL;
                        if (key && v > 0) {
                                free(d->last[i].content_key);
                                d->last[i].content_key = key;
                                d->last[i].version = (uint64_t)v;
                                key = NULL;
                        }
                        free(key);
                        json_decref(doc);
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(d->consumer, NULL);
        for (int i = 0; i < TECG_DASH__COUNT; i++)
                d->stats.versions[i] = d->last[i].version;
        tecg_log_info(FAC,
                      "last published versions: funding %" PRIu64 ", staffing %" PRIu64
                      ", training %" PRIu64 ", history %" PRIu64,
                      d->last[TECG_DASH_FUNDING].version, d->last[TECG_DASH_STAFFING].version,
                      d->last[TECG_DASH_TRAINING].version, d->last[TECG_DASH_HISTORY].version);
        return TECG_OK;
}

/* ---- composing and publishing ------------------------------------------ */

/* The published text of a version: "dashboard", "version", "generated_at"
 * first, then the composed content in its order. Spliced into the body's
 * text (content_key(), which starts with its "dashboard" member) rather
 * than serialised once more. malloc'ed; NULL when out of memory or when
 * the body does not start with its name (never, for compose.c's). */
static char *stamped_text(const tecg_dashboards_t *d, int which, const char *key, uint64_t version,
                          size_t *len) {
        char now[TECG_TIME_RFC3339_SIZE];
        char head[TECG_TIME_RFC3339_SIZE + 128];
        const char *name = tecg_dashboard_names[which];
        size_t name_len = strlen(name), key_len = strlen(key);
        /* {"dashboard":"NAME" */
        size_t skip = 14 + name_len + 1;
        if (key_len < skip + 1 || strncmp(key, "{\"dashboard\":\"", 14) != 0 ||
            strncmp(key + 14, name, name_len) != 0 || key[14 + name_len] != '"')
                return NULL;
        tecg_time_format_rfc3339_ms(wall_now(d), now);
        int n = snprintf(head, sizeof(head),
                         "{\"dashboard\":\"%s\",\"version\":%" PRIu64 ",\"generated_at\":\"%s\"",
                         name, version, now);
        if (n < 0 || (size_t)n >= sizeof(head))
                return NULL;
        char *text = malloc((size_t)n + key_len - skip + 1);
        if (!text)
                return NULL;
        memcpy(text, head, (size_t)n);
        memcpy(text + n, key + skip, key_len - skip + 1);
        *len = (size_t)n + key_len - skip;
        return text;
}

/* The version's signature (docs/design.md §9.2) into *sig; false, logged,
 * when it cannot be made: a version is never handed out unsigned while
 * signing is on. *signed_ is false when signing is off. */
static bool sign_version(const tecg_dashboards_t *d, const char *name, uint64_t version,
                         const char *text, size_t len, tecg_docsign_t *sig, bool *signed_) {
        char errstr[256];
        *signed_ = d->opts.sign_key != NULL;
        if (!*signed_)
                return true;
        if (tecg_docsign_sign(d->opts.sign_key, name, text, len, sig, errstr, sizeof(errstr))) {
                tecg_log_err(FAC, "%s: version %" PRIu64 " not published: %s", name, version,
                             errstr);
                return false;
        }
        return true;
}

/* Writes one version to tecg.dashboards, its signature in the headers;
 * the delivery report hands `po` (taken either way) to the sinks. */
static void publish_topic(tecg_dashboards_t *d, int which, uint64_t version, const char *text,
                          size_t len, const tecg_docsign_t *sig, pending_offer_t *po) {
        const char *name = tecg_dashboard_names[which];
        rd_kafka_resp_err_t err;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
        if (sig) {
                rd_kafka_header_add(hdrs, TECG_DOCSIGN_KAFKA_KEY_ID, -1, sig->key_id, -1);
                rd_kafka_header_add(hdrs, TECG_DOCSIGN_KAFKA_SIGNATURE, -1, sig->sig_b64, -1);
        }
        int64_t give_up = tecg_mono_ms() + QUEUE_FULL_WAIT_MS;
        /* The headers become librdkafka's only when producev succeeds. */
        while ((err = rd_kafka_producev(
                        d->producer, RD_KAFKA_V_TOPIC(d->topic_dashboards),
                        RD_KAFKA_V_KEY(name, strlen(name)), RD_KAFKA_V_VALUE((void *)text, len),
                        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_OPAQUE(po), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
               !stopping(d) && tecg_mono_ms() < give_up)
                rd_kafka_poll(d->producer, 50);
        if (err) {
                rd_kafka_headers_destroy(hdrs);
                tecg_log_warn(FAC, "%s: not written to %s: %s", name, d->topic_dashboards,
                              rd_kafka_err2str(err));
                /* As a refused write (on_delivery): nothing offered, the
                 * content written again as the next version. */
                forget_content(d, which, version);
                pending_offer_free(d, po);
        }
        rd_kafka_poll(d->producer, 0);
}

/* What on_delivery needs to offer the version to the sinks; NULL when
 * out of memory (then the sinks miss this version, not the next). */
static pending_offer_t *pending_offer_new(tecg_dashboards_t *d, int which, uint64_t version,
                                          const char *text, size_t len, const tecg_docsign_t *sig) {
        pending_offer_t *po = calloc(1, sizeof(*po));
        if (!po || !(po->text = malloc(len + 1))) {
                free(po);
                tecg_log_err(FAC, "%s version %" PRIu64 ": not offered to the sinks: out of memory",
                             tecg_dashboard_names[which], version);
                return NULL;
        }
        memcpy(po->text, text, len);
        po->text[len] = '\0';
        po->len = len;
        po->which = which;
        po->version = version;
        if (sig) {
                po->signed_ = true;
                snprintf(po->sig, sizeof(po->sig), "%s", sig->value);
        }
        po->next = d->offers;
        if (d->offers)
                d->offers->prev = po;
        d->offers = po;
        return po;
}

/* Publishes `version` of dashboard `which`, whose text (stamped_text())
 * it takes. */
static void publish(tecg_dashboards_t *d, int which, char *text, size_t len, uint64_t version) {
        char errstr[512];
        tecg_docsign_t sig;
        bool signed_;
        const char *name = tecg_dashboard_names[which];
        /* Signed once here, where the version is made; the docstore, the
         * sinks and the topic all hand out this one signature. */
        if (!sign_version(d, name, version, text, len, &sig, &signed_))
                goto done;
        if (tecg_docstore_put_signed(d->opts.store, name, version, text, len,
                                     signed_ ? sig.value : NULL, errstr, sizeof(errstr)))
                tecg_log_err(FAC, "%s: %s", name, errstr);
        /* The sinks get it once the topic holds it (on_delivery), the
         * docstore at once. */
        if (d->producer)
                publish_topic(d, which, version, text, len, signed_ ? &sig : NULL,
                              d->opts.publish_cb ? pending_offer_new(d, which, version, text, len,
                                                                     signed_ ? &sig : NULL)
                                                 : NULL);
        else if (d->opts.publish_cb)
                d->opts.publish_cb(name, version, text, len, signed_ ? sig.value : NULL,
                                   d->opts.opaque);
        tecg_log_debug(FAC, "%s version %" PRIu64 " (%zu bytes)%s", name, version, len,
                       signed_ ? ", signed" : "");
done:
        free(text);
}

/* Serves a document under its last version without publishing it: after
 * a restart, when the content equals what was published before. */
static void serve_unchanged(tecg_dashboards_t *d, int which, const char *key) {
        char errstr[512];
        tecg_docsign_t sig;
        bool signed_;
        const char *name = tecg_dashboard_names[which];
        uint64_t version = d->last[which].version;
        size_t len = 0;
        char *text = stamped_text(d, which, key, version, &len);
        /* New bytes (generated_at), so a signature of their own. */
        if (text && sign_version(d, name, version, text, len, &sig, &signed_) &&
            tecg_docstore_put_signed(d->opts.store, name, version, text, len,
                                     signed_ ? sig.value : NULL, errstr, sizeof(errstr)) == TECG_OK)
                d->served[which] = true;
        free(text);
}

/* Keeps, for /metrics, each nation's last report times (listed nations in
 * list order, then the unlisted ones). */
static void keep_reports(tecg_dashboards_t *d) {
        size_t nlist = tecg_nations_count(d->list), n = 0;
        report_row_t *v = calloc(nlist + d->nunlisted + 1, sizeof(*v));
        if (!v) {
                tecg_log_err(FAC, "reporting metrics not updated: out of memory");
                return;
        }
        for (size_t i = 0; i < nlist + d->nunlisted; i++, n++) {
                const tecg_nation_state_t *st = i < nlist ? d->states[i] : d->unlisted[i - nlist];
                memcpy(v[n].code, i < nlist ? tecg_nations_at(d->list, i)->code : st->nation, 4);
                v[n].listed = i < nlist;
                tecg_compose_report_times(st, v[n].times);
        }
        pthread_mutex_lock(&d->lock);
        free(d->reports);
        d->reports = v;
        d->nreports = n;
        pthread_mutex_unlock(&d->lock);
}

static void compose_all(tecg_dashboards_t *d) {
        char errstr[512];
        const tecg_nation_state_t **states =
                calloc(d->nstates + d->nunlisted + 1, sizeof(const tecg_nation_state_t *));
        size_t n = 0;
        int64_t now = wall_now(d);
        if (!states) {
                tecg_log_err(FAC, "cannot compose: out of memory");
                return;
        }
        for (size_t i = 0; i < d->nstates; i++)
                if (d->states[i])
                        states[n++] = d->states[i];
        for (size_t i = 0; i < d->nunlisted; i++)
                states[n++] = d->unlisted[i];
        keep_reports(d);
        for (int which = 0; which < TECG_DASH__COUNT; which++) {
                size_t key_len;
                char *key = tecg_compose_text(d->compose_cache, (tecg_dashboard_t)which,
                                              d->opts.mission, d->list, states, n, now, &key_len,
                                              errstr, sizeof(errstr));
                if (!key) {
                        tecg_log_err(FAC, "%s: cannot compose: %s", tecg_dashboard_names[which],
                                     errstr);
                } else if (d->last[which].content_key &&
                           strcmp(key, d->last[which].content_key) == 0) {
                        if (!d->served[which])
                                serve_unchanged(d, which, key);
                } else {
                        uint64_t version = d->last[which].version + 1;
                        size_t len = 0;
                        char *text = stamped_text(d, which, key, version, &len);
                        if (!text) {
                                tecg_log_err(FAC, "%s: cannot serialise version %" PRIu64,
                                             tecg_dashboard_names[which], version);
                                goto next;
                        }
                        /* Recorded first: a failed write forgets it again
                         * (forget_content()). */
                        free(d->last[which].content_key);
                        d->last[which].content_key = key;
                        d->last[which].version = version;
                        d->served[which] = true;
                        key = NULL;
                        publish(d, which, text, len, version);
                        pthread_mutex_lock(&d->lock);
                        d->stats.versions[which] = version;
                        d->stats.published++;
                        d->stats.last_change_ms = tecg_wall_ms();
                        pthread_mutex_unlock(&d->lock);
                }
        next:
                free(key);
        }
        free(states);
        pthread_mutex_lock(&d->lock);
        d->stats.compositions++;
        pthread_mutex_unlock(&d->lock);
}

/* ---- following nation-state --------------------------------------------- */

/* Puts st in *slot unless the state there is newer: versions only grow, and
 * an older snapshot (a zombie's write) must not replace a newer one. Takes
 * st either way. */
static void replace_state(tecg_dashboards_t *d, tecg_nation_state_t **slot,
                          tecg_nation_state_t *st) {
        if (*slot && (*slot)->version > st->version) {
                tecg_nation_state_destroy(st);
                return;
        }
        tecg_nation_state_destroy(*slot);
        *slot = st;
        d->dirty = true;
        d->changes++;
}

/* The state of a nation not in the list: kept beside the others. Takes st. */
static void take_unlisted(tecg_dashboards_t *d, tecg_nation_state_t *st) {
        for (size_t i = 0; i < d->nunlisted; i++) {
                if (strcmp(d->unlisted[i]->nation, st->nation) == 0) {
                        replace_state(d, &d->unlisted[i], st);
                        return;
                }
        }
        if (d->nunlisted == d->unlisted_cap) {
                size_t cap = d->unlisted_cap ? 2 * d->unlisted_cap : 8;
                tecg_nation_state_t **v = realloc(d->unlisted, cap * sizeof(tecg_nation_state_t *));
                if (!v) {
                        tecg_log_err(FAC, "state of %s: out of memory; ignored", st->nation);
                        tecg_nation_state_destroy(st);
                        return;
                }
                d->unlisted = v;
                d->unlisted_cap = cap;
        }
        /* Once per nation: a later snapshot replaces it silently. */
        tecg_log_warn(FAC,
                      "state of %s, which is not in the nations list: shown as "
                      "unlisted and counted in the totals",
                      st->nation);
        d->unlisted[d->nunlisted++] = st;
        d->dirty = true;
        d->changes++;
}

static void take_state(tecg_dashboards_t *d, const rd_kafka_message_t *m) {
        char reason[512];
        tecg_nation_state_t *st = NULL;
        pthread_mutex_lock(&d->lock);
        d->stats.states_received++;
        pthread_mutex_unlock(&d->lock);
        if (!m->payload)
                return;
        if (tecg_state_codec_decode(d->codec, m->payload, m->len, &st, reason, sizeof(reason))) {
                tecg_log_warn(FAC, "%s [%" PRId32 "] offset %" PRId64 ": %s; ignored",
                              d->topic_state, m->partition, m->offset, reason);
                pthread_mutex_lock(&d->lock);
                d->stats.undecodable++;
                pthread_mutex_unlock(&d->lock);
                return;
        }
        pthread_mutex_lock(&d->lock);
        for (size_t i = 0; i < d->nstates; i++) {
                if (strcmp(tecg_nations_at(d->list, i)->code, st->nation) == 0) {
                        replace_state(d, &d->states[i], st);
                        st = NULL;
                        break;
                }
        }
        if (st)
                take_unlisted(d, st);
        pthread_mutex_unlock(&d->lock);
}

/* TECG_ERR_KAFKA with librdkafka's reason when `rk` (the consumer or the
 * producer, named by `role`) has raised a fatal error: the client can do
 * nothing more, and only a restart gets a new one. */
static tecg_err_t check_fatal(rd_kafka_t *rk, const char *role, char *errstr, size_t errstr_size) {
        char reason[512];
        rd_kafka_resp_err_t err;
        if (!rk || !(err = rd_kafka_fatal_error(rk, reason, sizeof(reason))))
                return TECG_OK;
        return tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size,
                           "fatal Kafka error in the %s: %s: %s", role, rd_kafka_err2name(err),
                           reason);
}

/* One message from nation-state: an end of partition, a state, or an error
 * (a fatal one sets *fatal; the reason is read from the client later).
 * Destroys m. */
static void take_message(tecg_dashboards_t *d, rd_kafka_message_t *m, bool *fatal) {
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                *fatal = true;
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (m->partition >= 0 && m->partition < d->npartitions && !d->eof[m->partition]) {
                        d->eof[m->partition] = true;
                        d->eof_partitions++;
                }
        } else if (m->err) {
                tecg_log_warn(FAC, "consume: %s", rd_kafka_message_errstr(m));
        } else {
                take_state(d, m);
        }
        rd_kafka_message_destroy(m);
}

/* Waits at most wait_ms for the first message, then takes whatever else
 * has arrived without waiting more: rd_kafka_consume_batch_queue() alone
 * would hold a lone state until its timeout or a full batch. At most
 * DRAIN_ROUNDS batches, so that a flood cannot keep the loop from
 * composing. */
#define DRAIN_BATCH 512
#define DRAIN_ROUNDS 8
static void drain(tecg_dashboards_t *d, int wait_ms, bool *fatal) {
        rd_kafka_message_t *batch[DRAIN_BATCH];
        rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(d->consumer);
        rd_kafka_message_t *first = rd_kafka_consume_queue(q, wait_ms);
        if (first) {
                take_message(d, first, fatal);
                for (int round = 0; round < DRAIN_ROUNDS; round++) {
                        ssize_t n = rd_kafka_consume_batch_queue(q, 0, batch, DRAIN_BATCH);
                        for (ssize_t i = 0; i < n; i++)
                                take_message(d, batch[i], fatal);
                        if (n < DRAIN_BATCH)
                                break;
                }
        }
        rd_kafka_queue_destroy(q);
}

/* Tells the coalescer of changes made since it last heard, once the states
 * are loaded: nothing is composed before, so what arrives then is no
 * burst. Also catches a refused write noted during a composition. */
static void note_changes(tecg_dashboards_t *d, int64_t now) {
        if (!d->loaded || d->changes == d->changes_noted)
                return;
        d->changes_noted = d->changes;
        tecg_coalesce_change(&d->coalesce, now);
}

tecg_err_t tecg_dashboards_run_once(tecg_dashboards_t *d, int timeout_ms, char *errstr,
                                    size_t errstr_size) {
        tecg_err_t err;
        bool fatal_message = false;
        int64_t now = tecg_mono_ms();
        note_changes(d, now);
        /* Not past a composition that is due: a pending change waits for
         * its window, never for the caller's timeout. */
        int wait_ms = timeout_ms;
        int64_t due_in = tecg_coalesce_due_in(&d->coalesce, now);
        if (due_in >= 0 && due_in < wait_ms)
                wait_ms = (int)due_in;
        drain(d, wait_ms, &fatal_message);
        if (d->producer)
                rd_kafka_poll(d->producer, 0);
        /* Checked before composing: nothing is published by a client that
         * librdkafka has given up on. */
        if ((err = check_fatal(d->consumer, "consumer", errstr, errstr_size)) ||
            (err = check_fatal(d->producer, "producer", errstr, errstr_size)))
                return err;
        if (fatal_message) /* and the client had no reason to give */
                return tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size,
                                   "fatal Kafka error reading %s", d->topic_state);
        now = tecg_mono_ms();
        if (!d->loaded && d->eof_partitions == d->npartitions) {
                d->loaded = true;
                size_t have = 0;
                for (size_t i = 0; i < d->nstates; i++)
                        have += d->states[i] != NULL;
                tecg_log_info(FAC, "caught up with %s: %zu nation states (%zu unlisted)",
                              d->topic_state, have + d->nunlisted, d->nunlisted);
                d->dirty = true; /* compose now, even when nothing was reported */
                d->changes++;
        }
        /* Nothing received can still change a document: a nation turns
         * overdue as the clock moves. Unchanged content publishes nothing. */
        if (d->loaded && now >= d->next_recheck_ms) {
                d->dirty = true;
                d->changes++;
                d->next_recheck_ms =
                        now +
                        (d->opts.recheck_interval_ms > 0 ? d->opts.recheck_interval_ms : 60000);
        }
        note_changes(d, now);
        if (d->loaded && d->dirty && tecg_coalesce_due_in(&d->coalesce, now) == 0) {
                d->dirty = false;
                compose_all(d);
                int64_t done = tecg_mono_ms();
                tecg_coalesce_composed(&d->coalesce, done, done - now);
                /* Healthy only once the documents exist, not when the
                 * states are merely read. */
                pthread_mutex_lock(&d->lock);
                d->stats.caught_up = true;
                pthread_mutex_unlock(&d->lock);
        }
        return TECG_OK;
}

/* ---- life cycle ---------------------------------------------------------- */

tecg_dashboards_t *tecg_dashboards_new(const tecg_conf_t *conf,
                                       const tecg_dashboards_options_t *opts, char *errstr,
                                       size_t errstr_size) {
        tecg_dashboards_t *d = calloc(1, sizeof(*d));
        if (!d) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&d->lock, NULL);
        d->opts = *opts;
        tecg_coalesce_init(&d->coalesce, opts->compose_interval_ms);
        d->list = tecg_nations_current(opts->nations);
        d->nstates = tecg_nations_count(d->list);
        if (!(d->topic_state = tecg_topics_name(opts->topic_prefix, TECG_TOPICS_NATION_STATE)) ||
            !(d->topic_dashboards = tecg_topics_name(opts->topic_prefix, TECG_TOPICS_DASHBOARDS)) ||
            !(d->states = calloc(d->nstates ? d->nstates : 1, sizeof(tecg_nation_state_t *))) ||
            !(d->compose_cache = tecg_compose_cache_new())) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (!(d->codec = tecg_state_codec_new(errstr, errstr_size)))
                goto fail;

        /* On top of the reader's and the producer's defaults
         * (common/kafka.h); kafka.* keys of the config override these. */
        const tecg_kafka_setting_t consumer_overrides[] = {
                {"group.id", "tecg-dashboard"}, /* required; nothing is committed */
                {"client.id", "tecg-dashboard"},
                {"auto.offset.reset", "earliest"},
                /* librdkafka's default lets the wait between reconnects
                 * grow to 10 s in a long outage, so the documents could
                 * lag that long behind the broker's return; 1 s keeps the
                 * resume within a few seconds for a negligible load. */
                {"reconnect.backoff.max.ms", "1000"},
                {NULL, NULL}};
        const tecg_kafka_callbacks_t consumer_cb = {.error_cb = on_error};
        if (!(d->consumer = tecg_kafka_new(TECG_KAFKA_READER, conf, consumer_overrides,
                                           &consumer_cb, errstr, errstr_size)))
                goto fail;
        rd_kafka_poll_set_consumer(d->consumer);
        if (opts->publish_topic) {
                const tecg_kafka_setting_t producer_overrides[] = {{"client.id", "tecg-dashboard"},
                                                                   {NULL, NULL}};
                const tecg_kafka_callbacks_t producer_cb = {
                        .opaque = d, .error_cb = on_error, .dr_msg_cb = on_delivery};
                if (!(d->producer = tecg_kafka_new(TECG_KAFKA_PRODUCER, conf, producer_overrides,
                                                   &producer_cb, errstr, errstr_size)))
                        goto fail;
        }
        if (load_last_documents(d, errstr, errstr_size))
                goto fail;
        if ((d->npartitions = partition_count(d, d->topic_state, errstr, errstr_size)) < 0)
                goto fail;
        if (!(d->eof = calloc((size_t)d->npartitions + 1, sizeof(*d->eof)))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto fail;
        }
        rd_kafka_topic_partition_list_t *parts = all_partitions(d->topic_state, d->npartitions);
        rd_kafka_resp_err_t kerr = rd_kafka_assign(d->consumer, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        if (kerr) {
                tecg_seterr(TECG_ERR_KAFKA, errstr, errstr_size, "assign %s: %s", d->topic_state,
                            rd_kafka_err2str(kerr));
                goto fail;
        }
        return d;
fail:
        tecg_dashboards_destroy(d, 0);
        return NULL;
}

void tecg_dashboards_stats(tecg_dashboards_t *d, tecg_dashboards_stats_t *out) {
        pthread_mutex_lock(&d->lock);
        *out = d->stats;
        pthread_mutex_unlock(&d->lock);
}

/* "# HELP" and "# TYPE" once per family, then its samples. */
static void metric_family(tecg_buf_t *out, const char *name, const char *help) {
        char line[512];
        int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
        if (n > 0 && (size_t)n < sizeof(line))
                tecg_buf_append(out, line, (size_t)n);
}

static void metric_sample(tecg_buf_t *out, const char *name, const char *code, const char *type,
                          double value) {
        char line[256];
        int n = type ? snprintf(line, sizeof(line), "%s{nation=\"%s\",type=\"%s\"} %.17g\n", name,
                                code, type, value)
                     : snprintf(line, sizeof(line), "%s{nation=\"%s\"} %.17g\n", name, code, value);
        if (n > 0 && (size_t)n < sizeof(line))
                tecg_buf_append(out, line, (size_t)n);
}

void tecg_dashboards_metrics(tecg_dashboards_t *d, tecg_buf_t *out) {
        static const char overdue_help[] = "1 when a listed nation's latest report is older than "
                                           "mission.report.overdue.days, or it never reported.";
        static const char age_help[] = "Seconds since the nation's latest report (occurred_at).";
        int64_t now = wall_now(d);
        tecg_report_status_t rs;
        size_t i;

        pthread_mutex_lock(&d->lock);
        /* Nation level: over every type, as the page shows it. */
        metric_family(out, "tecg_dashboard_nation_overdue", overdue_help);
        for (i = 0; i < d->nreports; i++) {
                const report_row_t *r = &d->reports[i];
                tecg_compose_nation_status(d->opts.mission, r->times, r->listed, TECG_REPORT_ALL,
                                           now, &rs);
                metric_sample(out, "tecg_dashboard_nation_overdue", r->code, NULL,
                              rs.overdue ? 1 : 0);
        }
        metric_family(out, "tecg_dashboard_nation_report_age_seconds", age_help);
        for (i = 0; i < d->nreports; i++) {
                const report_row_t *r = &d->reports[i];
                if (r->times[TECG_REPORT_ANY] != INT64_MIN)
                        metric_sample(out, "tecg_dashboard_nation_report_age_seconds", r->code,
                                      NULL, (double)(now - r->times[TECG_REPORT_ANY]) / 1000.0);
        }
        /* Per type: no age sample for a type never reported. */
        metric_family(out, "tecg_dashboard_report_overdue", overdue_help);
        for (i = 0; i < d->nreports; i++)
                for (int t = 0; t < TECG_EV__COUNTED; t++) {
                        const report_row_t *r = &d->reports[i];
                        tecg_compose_type_status(d->opts.mission, r->times, r->listed, t, now, &rs);
                        metric_sample(out, "tecg_dashboard_report_overdue", r->code,
                                      tecg_event_type_names[t], rs.overdue ? 1 : 0);
                }
        metric_family(out, "tecg_dashboard_report_age_seconds", age_help);
        for (i = 0; i < d->nreports; i++)
                for (int t = 0; t < TECG_EV__COUNTED; t++) {
                        const report_row_t *r = &d->reports[i];
                        if (r->times[t] != INT64_MIN)
                                metric_sample(out, "tecg_dashboard_report_age_seconds", r->code,
                                              tecg_event_type_names[t],
                                              (double)(now - r->times[t]) / 1000.0);
                }
        pthread_mutex_unlock(&d->lock);
}

void tecg_dashboards_nations_changed(tecg_dashboards_t *d) {
        const tecg_nations_t *list = tecg_nations_current(d->opts.nations);
        size_t n = tecg_nations_count(list);
        if (list == d->list)
                return;
        tecg_nation_state_t **states = calloc(n ? n : 1, sizeof(tecg_nation_state_t *));
        tecg_nation_state_t **unlisted = realloc(
                d->unlisted, (d->nunlisted + d->nstates + 1) * sizeof(tecg_nation_state_t *));
        if (!states || !unlisted) {
                tecg_log_err(FAC, "nations list: out of memory; the documents keep the "
                                  "previous one");
                free(states);
                if (unlisted)
                        d->unlisted = unlisted;
                return;
        }
        d->unlisted = unlisted;
        d->unlisted_cap = d->nunlisted + d->nstates + 1;
        pthread_mutex_lock(&d->lock);
        /* A nation that joined may have had a state already (unlisted). */
        for (size_t k = 0; k < d->nunlisted;) {
                const tecg_nation_t *na = tecg_nations_find(list, d->unlisted[k]->nation);
                if (na) {
                        states[na - tecg_nations_at(list, 0)] = d->unlisted[k];
                        d->unlisted[k] = d->unlisted[--d->nunlisted];
                } else {
                        k++;
                }
        }
        /* A nation that left keeps its state, shown as unlisted. */
        for (size_t i = 0; i < d->nstates; i++) {
                tecg_nation_state_t *st = d->states[i];
                const tecg_nation_t *na = st ? tecg_nations_find(list, st->nation) : NULL;
                if (na) {
                        states[na - tecg_nations_at(list, 0)] = st;
                } else if (st) {
                        d->unlisted[d->nunlisted++] = st;
                        tecg_log_notice(FAC,
                                        "%s left the nations list: its state is kept, shown as "
                                        "unlisted and counted in the totals",
                                        st->nation);
                }
        }
        free(d->states);
        d->states = states;
        d->nstates = n;
        d->list = list;
        d->dirty = true;
        pthread_mutex_unlock(&d->lock);
}

int tecg_dashboards_nation_view(tecg_dashboards_t *d, const char *code, tecg_buf_t *out) {
        int status = 404;
        int64_t now = wall_now(d);
        pthread_mutex_lock(&d->lock);
        for (size_t i = 0; i < d->nstates; i++) {
                const tecg_nation_t *n = tecg_nations_at(d->list, i);
                if (strcmp(n->code, code) != 0)
                        continue;
                json_t *v = tecg_nation_view(d->opts.mission, n, d->states[i], now);
                char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
                if (text && tecg_buf_puts(out, text) == 0)
                        status = 200;
                else
                        status = 500;
                free(text);
                json_decref(v);
                break;
        }
        pthread_mutex_unlock(&d->lock);
        return status;
}

void tecg_dashboards_flush(tecg_dashboards_t *d, int timeout_ms) {
        if (d && d->producer)
                rd_kafka_flush(d->producer, timeout_ms > 0 ? timeout_ms : 0);
}

rd_kafka_t *tecg_dashboards_kafka_handle(tecg_dashboards_t *d, bool producer) {
        return producer ? d->producer : d->consumer;
}

void tecg_dashboards_destroy(tecg_dashboards_t *d, int timeout_ms) {
        if (!d)
                return;
        int64_t deadline = tecg_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        /* No close: the consumer is no group member (its partitions are
         * assigned, not subscribed) and commits nothing, so there is
         * nothing to leave or commit, and a close could wait for a
         * coordinator that is down. After a fatal error librdkafka 2.0
         * would not even return from it. */
        if (d->consumer)
                rd_kafka_destroy_flags(d->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        if (d->producer) {
                int64_t left = deadline - tecg_mono_ms();
                if (rd_kafka_flush(d->producer, left > 0 ? (int)left : 0))
                        tecg_log_warn(FAC,
                                      "%d writes to %s not acknowledged at exit; the next "
                                      "version of each dashboard is written anyway",
                                      rd_kafka_outq_len(d->producer), d->topic_dashboards);
                rd_kafka_purge(d->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_poll(d->producer, 0);
                rd_kafka_destroy(d->producer);
        }
        /* Writes librdkafka gave no report for. */
        for (pending_offer_t *po = d->offers, *next; po; po = next) {
                next = po->next;
                free(po->text);
                free(po);
        }
        d->offers = NULL;
        for (size_t i = 0; d->states && i < d->nstates; i++)
                tecg_nation_state_destroy(d->states[i]);
        for (size_t i = 0; i < d->nunlisted; i++)
                tecg_nation_state_destroy(d->unlisted[i]);
        free(d->unlisted);
        for (int i = 0; i < TECG_DASH__COUNT; i++)
                free(d->last[i].content_key);
        free(d->states);
        free(d->reports);
        free(d->eof);
        tecg_compose_cache_destroy(d->compose_cache);
        tecg_state_codec_destroy(d->codec);
        free(d->topic_state);
        free(d->topic_dashboards);
        pthread_mutex_destroy(&d->lock);
        free(d);
}
