/* Avro codec of nation states (tecg.nation-state, docs/design.md §3/§4): a
 * tecg_nation_state_t as a single-object encoded message (C3 01 + 8-byte
 * little-endian CRC-64-AVRO fingerprint of the Parsing Canonical Form of
 * schemas/nation_state.avsc + Avro binary body), readable by any Avro
 * library with that schema.
 *
 * The schema is the built-in copy of schemas/nation_state.avsc, parsed once
 * by tecg_state_codec_new(), which also checks that it has the shape this
 * code reads and writes (field order, types, enum symbols in event.h's
 * order); values, reader and writer are reused for every message (docs/architecture.md,
 * Style: Avro-C lifetime).
 *
 * Untrusted input: before Avro-C reads a body, the codec walks it against
 * the schema with avro_walk.h, the same walk the event codec uses (every
 * varint, string length, union branch, enum index and array block is
 * checked against the schema and the bytes left, and the body must end
 * where the schema does), so no length prefix reaches an allocation
 * unchecked. After reading, the state must satisfy what
 * tecg_nation_state_apply() guarantees: nation of 3 upper-case letters,
 * arrays strictly ascending by key (so no key twice), currencies of 3
 * upper-case letters, event_ids of 1-64 [A-Za-z0-9._:-], sums in range;
 * month cells > 0 under keys of the totals, adding up per key to at most
 * the total (a state written before the months had none), a month's
 * strength winner not later than the overall one; at most 10 corrections,
 * latest first, each event_id once, a retraction's reason non-empty and
 * a supersession's null; dead-letter months adding up to dead_letters,
 * at most 5 recent ones, latest first. The encoder checks the same before
 * writing, so it never produces a message the decoder refuses.
 *
 * Threads: a codec is not thread-safe; use one per thread. */
#ifndef TECG_STATE_CODEC_H
#define TECG_STATE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "nation_state.h"

typedef struct tecg_state_codec_s tecg_state_codec_t;

/* Parses the built-in nation_state schema and prepares encoding and
 * decoding. NULL with a reason in errstr when the schema is missing, does
 * not parse, or does not have the expected shape. */
tecg_state_codec_t *tecg_state_codec_new(char *errstr, size_t errstr_size);

/* Frees the codec. Accepts NULL. */
void tecg_state_codec_destroy(tecg_state_codec_t *codec);

/* CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form (the
 * integer; tecg_framing_fingerprint_hex() spells it as on the wire). */
uint64_t tecg_state_codec_fingerprint(const tecg_state_codec_t *codec);

/* The fingerprint of v1, the schema before the per-type last_* fields:
 * messages written with it still decode (the fields read as null). */
uint64_t tecg_state_codec_fingerprint_v1(const tecg_state_codec_t *codec);

/* The fingerprint of v2, the schema before the months, corrections and
 * dead letters: messages written with it still decode (no months, no
 * corrections, no dead letters). */
uint64_t tecg_state_codec_fingerprint_v2(const tecg_state_codec_t *codec);

/* Appends the single-object message of st to out; st is only read.
 * TECG_ERR_INVALID with a reason when st breaks an invariant of
 * nation_state.h (see above); TECG_ERR_NOMEM, TECG_ERR_AVRO. On error out
 * is unchanged. The encoding depends only on the aggregates and version:
 * equal states (tecg_nation_state_equal) with equal versions encode to
 * equal bytes. */
tecg_err_t tecg_state_codec_encode(tecg_state_codec_t *codec, const tecg_nation_state_t *st,
                                   tecg_buf_t *out, char *errstr, size_t errstr_size);

/* Decodes one message (a tecg.nation-state value) into a new state that the
 * caller owns and frees with tecg_nation_state_destroy(); msg is only read
 * and not referenced afterwards. TECG_ERR_INVALID: bad framing, Confluent
 * framing, a body that does not match the schema, or a state that breaks an
 * invariant (the reason says which field and why); TECG_ERR_NOT_FOUND: the
 * fingerprint is not the nation_state schema's (named in wire hex);
 * TECG_ERR_NOMEM; TECG_ERR_AVRO. On error *out is NULL. */
tecg_err_t tecg_state_codec_decode(tecg_state_codec_t *codec, const void *msg, size_t len,
                                   tecg_nation_state_t **out, char *errstr, size_t errstr_size);

#endif
