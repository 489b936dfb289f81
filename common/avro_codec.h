/* Avro codec for tecg events (docs/design.md §3): the .avsc files of schemas/ are
 * built into the binary (schemas.h); tecg_avro_new() parses each once,
 * computes its Parsing Canonical Form and CRC-64-AVRO fingerprint and builds
 * the Avro-C value interfaces, values, readers and writers that every
 * encode/decode then reuses (docs/architecture.md, Style; Avro-C value API only).
 *
 * Readers and writers. The schema named "contribution" is written for
 * funding, equipment and personnel events, "training" for training events,
 * "retraction" for retractions (on either input topic); these three are also
 * the reader schemas. Any other known schema whose record has the same full
 * name (an older version kept under schemas/, such as contribution_v1 from
 * before `supersedes`, or one added with tecg_avro_add_schema()) is accepted
 * as a writer and read through an Avro-C
 * resolved reader built once for it. Avro-C 1.11 has gaps the codec makes
 * up for: it cannot fill reader fields the writer lacks (the codec reads
 * against the reader minus those fields and applies the reader's defaults
 * itself); it maps enum symbols by position (a writer whose symbols are not
 * the reader's in the same order, possibly fewer or more, is refused when
 * added, and a symbol index the reader lacks fails that one message); and it
 * crashes on some incompatible schema pairs (so the codec checks
 * resolvability first and refuses the writer with a reason: every branch of
 * a writer union must be readable).
 *
 * Untrusted input. Avro-C believes length prefixes, so before Avro-C sees a
 * body the codec walks it against the writer schema: every varint, length,
 * union branch and enum index is checked against the schema and the bytes
 * left, strings must be UTF-8, and the body must end exactly where the
 * schema does.
 *
 * Threads: a tecg_avro_t is not thread-safe; use one per thread. The lookup
 * functions may be called from several threads when nobody adds schemas. */
#ifndef TECG_AVRO_CODEC_H
#define TECG_AVRO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "event.h"

typedef struct tecg_avro_s tecg_avro_t;
/* A known schema; owned by its tecg_avro_t, valid until tecg_avro_destroy(). */
typedef struct tecg_avro_schema_s tecg_avro_schema_t;

/* Parses every schema of tecg_schema_sources[] and prepares encoding and
 * decoding. NULL with a reason in errstr when a schema does not parse, the
 * reader schemas "contribution" / "training" / "retraction" are missing or
 * do not match event.h (field names, types, enum symbols in event.h's
 * order). */
tecg_avro_t *tecg_avro_new(char *errstr, size_t errstr_size);

/* Frees everything, including the strings that decoded events borrow.
 * Accepts NULL. */
void tecg_avro_destroy(tecg_avro_t *avro);

/* Adds a writer schema at run time (a schema fetched from a registry, or a
 * test's older version). json is copied. A schema with the fingerprint of a
 * known one is not added again: *out (if not NULL) is the known one. An
 * event schema (same record full name as a reader) must resolve against its
 * reader now, or TECG_ERR_INVALID says why. */
tecg_err_t tecg_avro_add_schema(tecg_avro_t *avro, const char *name, const char *json, size_t len,
                                const tecg_avro_schema_t **out, char *errstr, size_t errstr_size);

/* Confluent framing: declares that registry id `id` is the known schema
 * `schema_name` (as for tecg_avro_schema_by_name()). TECG_ERR_NOT_FOUND when
 * no such schema is known. Registering an id again replaces the mapping. */
tecg_err_t tecg_avro_register_id(tecg_avro_t *avro, uint32_t id, const char *schema_name,
                                 char *errstr, size_t errstr_size);

/* Known schemas, in the order they were added (embedded ones first, sorted
 * by file name). */
size_t tecg_avro_schema_count(const tecg_avro_t *avro);
const tecg_avro_schema_t *tecg_avro_schema_at(const tecg_avro_t *avro, size_t i);

/* By name (file name without .avsc, or the name given to add_schema) or, if
 * no schema has that name, by record full name (e.g.
 * "org.tecg.ContributionEvent": the reader schema of that name if there is
 * one). NULL when unknown. */
const tecg_avro_schema_t *tecg_avro_schema_by_name(const tecg_avro_t *avro, const char *name);
/* By CRC-64-AVRO fingerprint (the integer, as tecg_frame_t carries it). */
const tecg_avro_schema_t *tecg_avro_schema_by_fingerprint(const tecg_avro_t *avro, uint64_t fp);
/* The schema written for events of this type ("retraction" for a
 * retraction, whichever topic it goes to); NULL for an invalid type. */
const tecg_avro_schema_t *tecg_avro_schema_for_type(const tecg_avro_t *avro,
                                                    tecg_event_type_t type);

/* Accessors; the strings belong to the codec. */
const char *tecg_avro_schema_name(const tecg_avro_schema_t *s);
const char *tecg_avro_schema_fullname(const tecg_avro_schema_t *s);
uint64_t tecg_avro_schema_fingerprint(const tecg_avro_schema_t *s);
const char *tecg_avro_schema_canonical(const tecg_avro_schema_t *s);
const char *tecg_avro_schema_json(const tecg_avro_schema_t *s);
/* 1 when messages written with s decode into events. */
int tecg_avro_schema_is_event(const tecg_avro_schema_t *s);

/* Topic suffix for events of this type: "contributions" or
 * "training-completions" (the configured prefix goes in front); NULL for an
 * invalid type. */
const char *tecg_avro_topic_for(tecg_event_type_t type);

/* Topic suffix an event travels on: its type's, or for a retraction the
 * topic of the type it retracts (docs/design.md §2.9); NULL when either is
 * out of range. */
const char *tecg_avro_topic_for_event(const tecg_event_t *ev);

/* Appends the Avro binary body of ev (no framing) to out and, if schema is
 * not NULL, sets *schema to the schema written, so a caller can frame it
 * itself (Confluent). The event's strings are only read. TECG_ERR_INVALID
 * when ev cannot be encoded (type or enum out of range, NULL item/course,
 * unterminated fixed-size field); out is then unchanged. */
tecg_err_t tecg_avro_encode_body(tecg_avro_t *avro, const tecg_event_t *ev, tecg_buf_t *out,
                                 const tecg_avro_schema_t **schema, char *errstr,
                                 size_t errstr_size);

/* Appends the single-object encoded message (C3 01, fingerprint, body) for
 * ev to out. Errors as tecg_avro_encode_body(); out is unchanged on error. */
tecg_err_t tecg_avro_encode_event(tecg_avro_t *avro, const tecg_event_t *ev, tecg_buf_t *out,
                                  char *errstr, size_t errstr_size);

/* Decodes one framed message (single-object or Confluent) into ev. The
 * strings ev borrows (item, course, venue) point into the codec and stay
 * valid until the next decode call on the same codec or its destruction.
 * TECG_ERR_INVALID: bad framing or a body that does not match its writer
 * schema or event.h (the reason says which and where); TECG_ERR_NOT_FOUND:
 * unknown fingerprint (in wire hex) or registry id; TECG_ERR_AVRO: Avro-C
 * failed. On error *ev is zeroed. */
tecg_err_t tecg_avro_decode_event(tecg_avro_t *avro, const void *msg, size_t len, tecg_event_t *ev,
                                  char *errstr, size_t errstr_size);

/* Decodes an unframed body written with `writer`, a schema of this codec
 * (a lookup result, e.g. for a registry id the caller resolved itself).
 * Same rules and lifetimes as tecg_avro_decode_event(). */
tecg_err_t tecg_avro_decode_body(tecg_avro_t *avro, const tecg_avro_schema_t *writer,
                                 const void *body, size_t len, tecg_event_t *ev, char *errstr,
                                 size_t errstr_size);

#endif
