/* How tecg-ctl shows what it reads from Kafka: one JSON object per message.
 *
 * Every byte read from Kafka is hostile. Input events are decoded by the
 * event codec (common/avro_codec.h), which walks the body before Avro-C
 * reads it; other Avro values (nation states) are read generically (Avro-C's
 * value API, then avro_value_to_json) only after common/avro_walk.c accepted
 * the body for its writer schema, so fields added to a schema appear
 * without a change here; dashboards are JSON, event-ids the aggregator's id records. A key,
 * header or value that is not UTF-8 text is shown as {"base64": "..."}. */
#ifndef TECG_CTL_FORMAT_H
#define TECG_CTL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "avro_codec.h"
#include "err.h"
#include "event.h"
#include "registry.h"

/* What a topic holds, so how its values are shown. */
typedef enum {
        TECG_CTL_KIND_EVENT = 0,   /* contributions, training-completions */
        TECG_CTL_KIND_AVRO,        /* nation-state: any built-in schema */
        TECG_CTL_KIND_TEXT,        /* event-ids: the id record (or old decimal text) */
        TECG_CTL_KIND_JSON,        /* dashboards: JSON documents */
        TECG_CTL_KIND_DEAD_LETTER, /* the original bytes of an input message */
        TECG_CTL_KIND__COUNT
} tecg_ctl_kind_t;

/* The kind of `topic` under `prefix`; -1 when it is no tecg topic. */
int tecg_ctl_kind_of(const char *prefix, const char *topic);

typedef struct {
        const char *name;
        const void *value; /* NULL: a header without a value */
        size_t len;
} tecg_ctl_header_t;

/* A message as read from Kafka; everything borrowed. */
typedef struct {
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp_ms; /* -1 when the message has none */
        const void *key;      /* NULL: no key */
        size_t key_len;
        const void *value; /* NULL: no value (a tombstone) */
        size_t len;
        const tecg_ctl_header_t *headers;
        size_t nheaders;
} tecg_ctl_msg_t;

typedef struct tecg_ctl_format tecg_ctl_format_t;

/* Parses the built-in schemas once (the event codec, and each other schema
 * with its walker and generic value). `registry` (borrowed, may be NULL)
 * is asked for Confluent schema ids the codec does not know. */
tecg_ctl_format_t *tecg_ctl_format_new(tecg_registry_t *registry, char *errstr, size_t errstr_size);
void tecg_ctl_format_destroy(tecg_ctl_format_t *f);

/* The event codec (borrowed from f). */
tecg_avro_t *tecg_ctl_format_avro(tecg_ctl_format_t *f);

/* An event as JSON, one case per event type. NULL when out of memory. */
json_t *tecg_ctl_event_json(const tecg_event_t *ev);

/* Bytes as a JSON string when they are UTF-8, else {"base64": "..."}. */
json_t *tecg_ctl_bytes_json(const void *p, size_t len);

/* A value of `kind` as JSON into *out (a new reference). TECG_ERR_INVALID
 * (or the codec's error) with the reason when the bytes are not what the
 * kind says; *out is NULL then. */
tecg_err_t tecg_ctl_format_value(tecg_ctl_format_t *f, tecg_ctl_kind_t kind, const void *value,
                                 size_t len, json_t **out, char *errstr, size_t errstr_size);

/* The whole message: topic, partition, offset, timestamp, time, key,
 * headers, value (or value_error and value_base64 when the value could not
 * be decoded). NULL when out of memory. */
json_t *tecg_ctl_format_message(tecg_ctl_format_t *f, tecg_ctl_kind_t kind,
                                const tecg_ctl_msg_t *m);

/* The value of header `name` (the first one), or NULL. */
const tecg_ctl_header_t *tecg_ctl_header_find(const tecg_ctl_msg_t *m, const char *name);

/* Makes text from Kafka safe for a terminal, in place: C0 and C1 control
 * characters and DEL (escape sequences) become '?'. For the human output;
 * JSON output escapes them itself. Returns s. */
char *tecg_ctl_printable(char *s);

/* Writes j as one line to fp and releases it. */
void tecg_ctl_print_json_line(FILE *fp, json_t *j);

#endif
