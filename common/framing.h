/* Wire framing of Avro messages on Kafka (docs/design.md §3), in one place: the
 * first code that looks at a message value checks its length and magic
 * bytes here before anything else reads the payload.
 *
 *   single-object encoding  C3 01 | 8-byte little-endian CRC-64-AVRO
 *                           fingerprint of the writer schema's Parsing
 *                           Canonical Form | Avro binary body
 *   Confluent wire format   00 | 4-byte big-endian schema registry id | body
 *
 * Everything here works on (buf, len) and allocates nothing. */
#ifndef TECG_FRAMING_H
#define TECG_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define TECG_FRAMING_SO_HEADER_LEN 10       /* C3 01 + 8 bytes */
#define TECG_FRAMING_CONFLUENT_HEADER_LEN 5 /* 00 + 4 bytes */

/* CRC-64-AVRO (Rabin) fingerprint of the empty input. */
#define TECG_CRC64_AVRO_EMPTY UINT64_C(0xc15d213aa4d7a795)

typedef enum {
        TECG_FRAME_SINGLE_OBJECT = 1, /* C3 01 + fingerprint */
        TECG_FRAME_CONFLUENT,         /* 00 + schema id */
} tecg_frame_kind_t;

typedef struct {
        tecg_frame_kind_t kind;
        uint64_t fingerprint; /* SINGLE_OBJECT: writer schema */
        uint32_t schema_id;   /* CONFLUENT: registry id */
        const uint8_t *body;  /* borrowed: points into the message */
        size_t body_len;      /* > 0 */
} tecg_frame_t;

/* The 64-bit Rabin fingerprint of the Avro specification ("CRC-64-AVRO")
 * over len bytes; len 0 gives TECG_CRC64_AVRO_EMPTY. The value is the
 * integer the spec computes; on the wire and in fastavro/Java hex it appears
 * as its 8 bytes little-endian (see tecg_framing_fingerprint_hex()). */
uint64_t tecg_crc64_avro(const void *data, size_t len);

/* Writes fp as 16 lower-case hex digits in wire (little-endian) byte order,
 * the spelling fastavro's fingerprint() and the Java library use, so
 * C3 01 fa 26 ... reads as "fa26...". out must hold 17 bytes. Returns out. */
char *tecg_framing_fingerprint_hex(uint64_t fp, char *out);

/* Parses the framing of one message (a Kafka message value) without reading
 * the body. TECG_OK: *out describes the frame and out->body points into msg.
 * TECG_ERR_INVALID with a reason in errstr: empty message, header truncated,
 * unknown magic byte (the byte is named), empty body. */
tecg_err_t tecg_framing_parse(const void *msg, size_t len, tecg_frame_t *out, char *errstr,
                              size_t errstr_size);

/* Append a single-object header (C3 01 + fp little-endian) to out. */
tecg_err_t tecg_framing_write_single_object(tecg_buf_t *out, uint64_t fp);

/* Append a Confluent wire-format header (00 + id big-endian) to out. */
tecg_err_t tecg_framing_write_confluent(tecg_buf_t *out, uint32_t schema_id);

#endif
