#include "ctl_format.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "avro_walk.h"
#include "canonical.h"
#include "framing.h"
#include "idstore.h"
#include "refdata.h"
#include "sign.h"
#include "timefmt.h"
#include "topics.h"
#include "utf8.h"

/* A built-in schema that is not an event's, read generically. Parsed, its
 * walk compiled and its value made once (docs/architecture.md, Style). */
typedef struct {
        uint64_t fingerprint;
        const char *name; /* the codec's */
        avro_schema_t schema;
        tecg_avro_walk_t *walk;
        avro_value_iface_t *iface;
        avro_value_t value;
        bool has_value;
} generic_t;

struct tecg_ctl_format {
        tecg_avro_t *avro;
        tecg_registry_t *registry;
        generic_t *generic;
        size_t ngeneric;
        avro_reader_t reader;
};

static const tecg_topics_id_t topic_ids[] = {TECG_TOPICS_CONTRIBUTIONS, TECG_TOPICS_TRAINING,
                                             TECG_TOPICS_NATION_STATE,  TECG_TOPICS_EVENT_IDS,
                                             TECG_TOPICS_DEAD_LETTER,   TECG_TOPICS_DASHBOARDS};
static const tecg_ctl_kind_t topic_kinds[] = {TECG_CTL_KIND_EVENT,       TECG_CTL_KIND_EVENT,
                                              TECG_CTL_KIND_AVRO,        TECG_CTL_KIND_TEXT,
                                              TECG_CTL_KIND_DEAD_LETTER, TECG_CTL_KIND_JSON};

int tecg_ctl_kind_of(const char *prefix, const char *topic) {
        size_t n = prefix ? strlen(prefix) : 0;
        if (n && strncmp(topic, prefix, n) != 0)
                return -1;
        for (size_t i = 0; i < sizeof(topic_ids) / sizeof(topic_ids[0]); i++)
                if (strcmp(topic + n, tecg_topics_suffix(topic_ids[i])) == 0)
                        return (int)topic_kinds[i];
        return -1;
}

static void generic_free(generic_t *g) {
        if (g->has_value)
                avro_value_decref(&g->value);
        if (g->iface)
                avro_value_iface_decref(g->iface);
        tecg_avro_walk_destroy(g->walk);
        if (g->schema)
                avro_schema_decref(g->schema);
}

void tecg_ctl_format_destroy(tecg_ctl_format_t *f) {
        if (!f)
                return;
        for (size_t i = 0; i < f->ngeneric; i++)
                generic_free(&f->generic[i]);
        free(f->generic);
        if (f->reader)
                avro_reader_free(f->reader);
        tecg_avro_destroy(f->avro);
        free(f);
}

/* Adds the generic reader of one schema's JSON text (copied by Avro-C). */
static tecg_err_t generic_add(tecg_ctl_format_t *f, const char *name, uint64_t fingerprint,
                              const char *json, size_t len, char *errstr, size_t errstr_size) {
        generic_t *grown = realloc(f->generic, (f->ngeneric + 1) * sizeof(*grown));
        if (!grown)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        f->generic = grown;
        generic_t *g = &f->generic[f->ngeneric++];
        memset(g, 0, sizeof(*g));
        g->fingerprint = fingerprint;
        g->name = name;
        if (avro_schema_from_json_length(json, len, &g->schema) ||
            !(g->walk = tecg_avro_walk_new(g->schema)) ||
            !(g->iface = avro_generic_class_from_schema(g->schema)) ||
            avro_generic_value_new(g->iface, &g->value))
                return tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "schema %s: %s", name,
                                   avro_strerror());
        g->has_value = true;
        return TECG_OK;
}

/* Earlier versions of a record schema that grew by appending fields with
 * defaults (nation_state's last_* fields): the schema without 1, 2...
 * of its trailing defaulted fields, so states written before still show. */
static tecg_err_t generic_add_older(tecg_ctl_format_t *f, const char *name, const char *json,
                                    char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        json_t *root = json_loads(json, 0, NULL);
        json_t *fields = json_object_get(root, "fields");
        while (!err && json_array_size(fields) > 1 &&
               json_object_get(json_array_get(fields, json_array_size(fields) - 1), "default")) {
                json_array_remove(fields, json_array_size(fields) - 1);
                char *text = json_dumps(root, JSON_COMPACT), *canonical = NULL;
                if (!text) {
                        err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                        break;
                }
                err = tecg_canonical_form(text, strlen(text), &canonical, errstr, errstr_size);
                if (!err)
                        err = generic_add(f, name, tecg_crc64_avro(canonical, strlen(canonical)),
                                          text, strlen(text), errstr, errstr_size);
                free(canonical);
                free(text);
        }
        json_decref(root);
        return err;
}

tecg_ctl_format_t *tecg_ctl_format_new(tecg_registry_t *registry, char *errstr,
                                       size_t errstr_size) {
        tecg_ctl_format_t *f = calloc(1, sizeof(*f));
        if (!f) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                return NULL;
        }
        f->registry = registry;
        if (!(f->avro = tecg_avro_new(errstr, errstr_size)))
                goto fail;
        if (!(f->reader = avro_reader_memory("", 0))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < tecg_avro_schema_count(f->avro); i++) {
                const tecg_avro_schema_t *s = tecg_avro_schema_at(f->avro, i);
                if (tecg_avro_schema_is_event(s))
                        continue;
                const char *name = tecg_avro_schema_name(s), *json = tecg_avro_schema_json(s);
                if (generic_add(f, name, tecg_avro_schema_fingerprint(s), json, strlen(json),
                                errstr, errstr_size) ||
                    generic_add_older(f, name, json, errstr, errstr_size))
                        goto fail;
        }
        return f;
fail:
        tecg_ctl_format_destroy(f);
        return NULL;
}

tecg_avro_t *tecg_ctl_format_avro(tecg_ctl_format_t *f) {
        return f->avro;
}

json_t *tecg_ctl_bytes_json(const void *p, size_t len) {
        if (!p)
                return json_null();
        if (tecg_utf8_valid(p, len))
                return json_stringn(p, len);
        size_t size = 4 * ((len + 2) / 3) + 1;
        char *b64 = malloc(size);
        if (!b64)
                return NULL;
        tecg_sign_b64_encode(p, len, b64, size);
        json_t *j = json_pack("{s:s}", "base64", b64);
        free(b64);
        return j;
}

/* minor units as the decimal text the validator reads ("652000.00"). */
static json_t *money_json(int64_t minor, const char *currency) {
        int digits = tecg_currency_minor_digits(currency);
        if (digits <= 0)
                return json_sprintf("%" PRId64, minor);
        uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor, scale = 1;
        for (int i = 0; i < digits; i++)
                scale *= 10;
        return json_sprintf("%s%" PRIu64 ".%0*" PRIu64, minor < 0 ? "-" : "", mag / scale, digits,
                            mag % scale);
}

static const char *name_of(const char *const *names, int count, int i) {
        return i >= 0 && i < count ? names[i] : "?";
}

/* One case per event type: a new type is one more case. */
json_t *tecg_ctl_event_json(const tecg_event_t *ev) {
        char when[TECG_TIME_RFC3339_SIZE];
        json_t *j = json_object();
        if (!j)
                return NULL;
        json_object_set_new(
                j, "type",
                json_string(name_of(tecg_event_type_names, TECG_EV__COUNT, (int)ev->type)));
        json_object_set_new(j, "event_id", json_string(ev->event_id));
        json_object_set_new(j, "nation", json_string(ev->nation));
        json_object_set_new(j, "occurred_at",
                            json_string(tecg_time_format_rfc3339(ev->occurred_at_ms,
                                                                 ev->utc_offset_min, when)));
        if (ev->supersedes[0])
                json_object_set_new(j, "supersedes", json_string(ev->supersedes));
        switch (ev->type) {
        case TECG_EV_FUNDING: {
                const tecg_funding_t *x = &ev->u.funding;
                json_object_set_new(j, "amount", money_json(x->amount_minor, x->currency));
                json_object_set_new(j, "currency", json_string(x->currency));
                json_object_set_new(
                        j, "channel",
                        json_string(name_of(tecg_channel_names, TECG_CH__COUNT, (int)x->channel)));
                json_object_set_new(j, "stage",
                                    json_string(name_of(tecg_funding_stage_names, TECG_FS__COUNT,
                                                        (int)x->stage)));
                break;
        }
        case TECG_EV_EQUIPMENT: {
                const tecg_equipment_t *x = &ev->u.equipment;
                json_object_set_new(j, "item", json_string(x->item ? x->item : ""));
                json_object_set_new(j, "category",
                                    json_string(name_of(tecg_category_names, TECG_CAT__COUNT,
                                                        (int)x->category)));
                json_object_set_new(j, "quantity", json_integer(x->quantity));
                if (x->has_value) {
                        json_object_set_new(j, "value", money_json(x->value_minor, x->currency));
                        json_object_set_new(j, "currency", json_string(x->currency));
                }
                json_object_set_new(j, "stage",
                                    json_string(name_of(tecg_equipment_stage_names, TECG_ES__COUNT,
                                                        (int)x->stage)));
                break;
        }
        case TECG_EV_PERSONNEL: {
                const tecg_personnel_t *x = &ev->u.personnel;
                json_object_set_new(
                        j, "role",
                        json_string(name_of(tecg_role_names, TECG_ROLE__COUNT, (int)x->role)));
                json_object_set_new(j, "location",
                                    json_string(name_of(tecg_location_names, TECG_LOC__COUNT,
                                                        (int)x->location)));
                json_object_set_new(j, "headcount", json_integer(x->headcount));
                break;
        }
        case TECG_EV_TRAINING: {
                const tecg_training_t *x = &ev->u.training;
                json_object_set_new(j, "course", json_string(x->course ? x->course : ""));
                json_object_set_new(
                        j, "level",
                        json_string(name_of(tecg_level_names, TECG_LVL__COUNT, (int)x->level)));
                json_object_set_new(j, "location",
                                    json_string(name_of(tecg_location_names, TECG_LOC__COUNT,
                                                        (int)x->location)));
                if (x->venue)
                        json_object_set_new(j, "venue", json_string(x->venue));
                json_object_set_new(j, "trainees", json_integer(x->trainees));
                break;
        }
        case TECG_EV_RETRACTION: {
                const tecg_retraction_t *x = &ev->u.retraction;
                json_object_set_new(j, "retracts", json_string(x->retracts));
                json_object_set_new(j, "retracts_type",
                                    json_string(name_of(tecg_event_type_names, TECG_EV__COUNT,
                                                        (int)x->retracts_type)));
                json_object_set_new(j, "reason", json_string(x->reason ? x->reason : ""));
                break;
        }
        default:
                break;
        }
        return j;
}

static tecg_err_t event_value(tecg_ctl_format_t *f, const void *value, size_t len, json_t **out,
                              char *errstr, size_t errstr_size) {
        tecg_event_t ev;
        tecg_err_t err = tecg_avro_decode_event(f->avro, value, len, &ev, errstr, errstr_size);
        tecg_frame_t frame;
        char why[256];
        if (err == TECG_ERR_NOT_FOUND && f->registry &&
            !tecg_framing_parse(value, len, &frame, why, sizeof(why)) &&
            frame.kind == TECG_FRAME_CONFLUENT) {
                err = tecg_registry_teach(f->registry, f->avro, frame.schema_id, errstr,
                                          errstr_size);
                if (!err)
                        err = tecg_avro_decode_event(f->avro, value, len, &ev, errstr, errstr_size);
        }
        if (err)
                return err;
        if (!(*out = tecg_ctl_event_json(&ev)))
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return TECG_OK;
}

/* A built-in schema's value, read only once the walk accepted the body. */
static tecg_err_t avro_value(tecg_ctl_format_t *f, const void *value, size_t len, json_t **out,
                             char *errstr, size_t errstr_size) {
        tecg_frame_t frame;
        char why[512], hex[17];
        if (tecg_framing_parse(value, len, &frame, why, sizeof(why)))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "%s", why);
        if (frame.kind != TECG_FRAME_SINGLE_OBJECT)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "Confluent schema id %u: tecg writes this topic in "
                                   "single-object encoding only",
                                   frame.schema_id);
        generic_t *g = NULL;
        for (size_t i = 0; i < f->ngeneric && !g; i++)
                if (f->generic[i].fingerprint == frame.fingerprint)
                        g = &f->generic[i];
        if (!g)
                return tecg_seterr(TECG_ERR_NOT_FOUND, errstr, errstr_size,
                                   "unknown schema fingerprint %s",
                                   tecg_framing_fingerprint_hex(frame.fingerprint, hex));
        if (tecg_avro_walk_body(g->walk, frame.body, frame.body_len, why, sizeof(why)))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "schema %s: %s", g->name,
                                   why);
        char *text = NULL;
        avro_value_reset(&g->value);
        avro_reader_memory_set_source(f->reader, (const char *)frame.body, (int64_t)frame.body_len);
        if (avro_value_read(f->reader, &g->value) || avro_value_to_json(&g->value, 1, &text))
                return tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "schema %s: %s", g->name,
                                   avro_strerror());
        json_error_t jerr;
        *out = json_loads(text, 0, &jerr);
        free(text);
        if (!*out)
                return tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size,
                                   "schema %s: Avro-C wrote no JSON: %s", g->name, jerr.text);
        return TECG_OK;
}

/* An event-ids value: the aggregator's id record (docs/design.md §4.4) as
 * {"status", "type", "by", "effect"}, or the decimal offset text written
 * before records existed, shown as it is. The key names the event; the
 * effect printed here leaves nation and event_id out. */
static tecg_err_t id_record_value(const void *value, size_t len, json_t **out, char *errstr,
                                  size_t errstr_size) {
        tecg_id_record_t r;
        if (tecg_id_record_decode(value, len, "XXX", "x", &r, errstr, errstr_size))
                return TECG_ERR_INVALID;
        if (r.status == TECG_ID_LEGACY) {
                *out = json_stringn(value, len);
                return *out ? TECG_OK
                            : tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
        json_t *o = json_object();
        json_object_set_new(o, "status", json_string(tecg_id_status_names[r.status]));
        if ((unsigned)r.type < TECG_EV__COUNT)
                json_object_set_new(o, "type", json_string(tecg_event_type_names[r.type]));
        if (r.by[0])
                json_object_set_new(o, "by", json_string(r.by));
        if (r.has_effect) {
                json_t *e = tecg_ctl_event_json(&r.effect);
                if (e) {
                        json_object_del(e, "nation");
                        json_object_del(e, "event_id");
                        json_object_set_new(o, "effect", e);
                }
        }
        *out = o;
        return TECG_OK;
}

tecg_err_t tecg_ctl_format_value(tecg_ctl_format_t *f, tecg_ctl_kind_t kind, const void *value,
                                 size_t len, json_t **out, char *errstr, size_t errstr_size) {
        *out = NULL;
        if (!value)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "no value");
        switch (kind) {
        case TECG_CTL_KIND_EVENT:
        case TECG_CTL_KIND_DEAD_LETTER:
                return event_value(f, value, len, out, errstr, errstr_size);
        case TECG_CTL_KIND_AVRO:
                return avro_value(f, value, len, out, errstr, errstr_size);
        case TECG_CTL_KIND_TEXT:
                return id_record_value(value, len, out, errstr, errstr_size);
        case TECG_CTL_KIND_JSON: {
                json_error_t jerr;
                *out = json_loadb(value, len, JSON_REJECT_DUPLICATES, &jerr);
                if (!*out)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "not JSON: %s (byte %d)", jerr.text, jerr.position);
                break;
        }
        default:
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "unknown kind");
        }
        return *out ? TECG_OK : tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
}

const tecg_ctl_header_t *tecg_ctl_header_find(const tecg_ctl_msg_t *m, const char *name) {
        for (size_t i = 0; i < m->nheaders; i++)
                if (strcmp(m->headers[i].name, name) == 0)
                        return &m->headers[i];
        return NULL;
}

/* Headers as an object; a name given more than once holds an array. */
static json_t *headers_json(const tecg_ctl_msg_t *m) {
        json_t *h = json_object();
        for (size_t i = 0; h && i < m->nheaders; i++) {
                const char *name = m->headers[i].name;
                json_t *v = tecg_ctl_bytes_json(m->headers[i].value, m->headers[i].len);
                json_t *old = json_object_get(h, name);
                if (!old) {
                        json_object_set_new(h, name, v);
                } else if (json_is_array(old)) {
                        json_array_append_new(old, v);
                } else {
                        json_t *a = json_pack("[O,o]", old, v);
                        json_object_set_new(h, name, a);
                }
        }
        return h;
}

json_t *tecg_ctl_format_message(tecg_ctl_format_t *f, tecg_ctl_kind_t kind,
                                const tecg_ctl_msg_t *m) {
        char when[TECG_TIME_RFC3339_SIZE], why[512];
        json_t *j = json_object();
        if (!j)
                return NULL;
        json_object_set_new(j, "topic", json_string(m->topic));
        json_object_set_new(j, "partition", json_integer(m->partition));
        json_object_set_new(j, "offset", json_integer(m->offset));
        if (m->timestamp_ms >= 0) {
                json_object_set_new(j, "timestamp", json_integer(m->timestamp_ms));
                json_object_set_new(
                        j, "time", json_string(tecg_time_format_rfc3339_ms(m->timestamp_ms, when)));
        } else {
                json_object_set_new(j, "timestamp", json_null());
        }
        json_object_set_new(j, "key", tecg_ctl_bytes_json(m->key, m->key_len));
        if (m->nheaders)
                json_object_set_new(j, "headers", headers_json(m));
        json_t *value = NULL;
        if (!m->value) {
                json_object_set_new(j, "value", json_null());
        } else if (tecg_ctl_format_value(f, kind, m->value, m->len, &value, why, sizeof(why))) {
                json_object_set_new(j, "value_error", json_string(why));
                size_t size = 4 * ((m->len + 2) / 3) + 1;
                char *b64 = malloc(size);
                if (b64) {
                        tecg_sign_b64_encode(m->value, m->len, b64, size);
                        json_object_set_new(j, "value_base64", json_string(b64));
                        free(b64);
                }
        } else {
                json_object_set_new(j, "value", value);
        }
        return j;
}

char *tecg_ctl_printable(char *s) {
        for (unsigned char *p = (unsigned char *)s; p && *p; p++) {
                if (*p < 0x20 || *p == 0x7f)
                        *p = '?';
                else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
                        p[0] = '?';
                        p[1] = '?';
                        p++;
                }
        }
        return s;
}

void tecg_ctl_print_json_line(FILE *fp, json_t *j) {
        if (!j)
                return;
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (s) {
                fprintf(fp, "%s\n", s);
                free(s);
        }
        json_decref(j);
}
