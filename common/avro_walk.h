/* The bounded walk of an untrusted Avro body, run before Avro-C reads it.
 *
 * Avro-C trusts its input: a string length of 2^62 is an allocation of that
 * size, an enum index past the symbols or a union branch past the branches
 * is read as given, and a varint may run on. So every decoder of messages
 * from Kafka (the event codec, avro_codec.c, and the nation-state codec,
 * state_codec.c) first walks the body with this module against the writer
 * schema: every varint must fit its type, every string/bytes length the
 * bytes left (and a string must be strict UTF-8), every enum index and
 * union branch its schema, every array/map block the body (the item count
 * of all blocks together may not exceed the body size, so zero-size items
 * cannot loop), nesting is bounded, and the body must end where the schema
 * does. Only then is a length prefix ever allocated.
 *
 * A schema is compiled once, at start-up, into flat sequences of checks
 * (docs/architecture.md, Style); a walk allocates nothing.
 *
 * Errors name what is wrong, the field path and the byte:
 *   "enum index 7 out of range (3 symbols) (field personnel.role, body byte 41)"
 *   "body longer than its schema: 2 trailing bytes (body byte 97)" */
#ifndef TECG_AVRO_WALK_H
#define TECG_AVRO_WALK_H

#include <stddef.h>

#include <avro.h>

#include "err.h"

typedef struct tecg_avro_walk tecg_avro_walk_t;

/* Schemas and bodies nest at most this deep (records, unions, arrays). */
#define TECG_AVRO_WALK_MAX_DEPTH 64

/* Compiles the checks for bodies of schema (borrowed: only read here).
 * NULL when out of memory or when the schema nests deeper than
 * TECG_AVRO_WALK_MAX_DEPTH or has more than 256 named records, which no
 * tecg schema comes near. */
tecg_avro_walk_t *tecg_avro_walk_new(avro_schema_t schema);

/* Frees the compiled checks; accepts NULL. */
void tecg_avro_walk_destroy(tecg_avro_walk_t *walk);

/* TECG_OK when body[0..len) is exactly one value of the schema and
 * respects the bounds above; TECG_ERR_INVALID with the reason in errstr
 * otherwise. Thread-safe: the walk only reads `walk`. */
tecg_err_t tecg_avro_walk_body(const tecg_avro_walk_t *walk, const void *body, size_t len,
                               char *errstr, size_t errstr_size);

#endif
