#include "framing.h"

#include <string.h>

#define SO_MAGIC0 0xC3
#define SO_MAGIC1 0x01
#define CONFLUENT_MAGIC 0x00

/* Bit-at-a-time form of the spec's table-driven loop: the same reflected
 * polynomial, so the same result. Fingerprints are computed once per schema
 * at start-up, so a 2 KiB table would buy nothing. */
uint64_t tecg_crc64_avro(const void *data, size_t len) {
        const uint8_t *p = data;
        uint64_t fp = TECG_CRC64_AVRO_EMPTY;
        for (size_t i = 0; i < len; i++) {
                fp ^= p[i];
                for (int bit = 0; bit < 8; bit++)
                        fp = (fp >> 1) ^ (TECG_CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        }
        return fp;
}

char *tecg_framing_fingerprint_hex(uint64_t fp, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < 8; i++) {
                uint8_t b = (uint8_t)(fp >> (8 * i));
                out[2 * i] = digits[b >> 4];
                out[2 * i + 1] = digits[b & 0x0f];
        }
        out[16] = '\0';
        return out;
}

tecg_err_t tecg_framing_parse(const void *msg, size_t len, tecg_frame_t *out, char *errstr,
                              size_t errstr_size) {
        const uint8_t *p = msg;
        size_t hdr;

        memset(out, 0, sizeof(*out));
        if (len == 0 || !p)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "empty message");

        switch (p[0]) {
        case SO_MAGIC0:
                hdr = TECG_FRAMING_SO_HEADER_LEN;
                if (len >= 2 && p[1] != SO_MAGIC1)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "unknown magic byte 0x%02X after 0xC3 "
                                           "(single-object encoding starts C3 01)",
                                           p[1]);
                if (len < hdr)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "single-object header truncated: %zu of %zu "
                                           "bytes",
                                           len, hdr);
                out->kind = TECG_FRAME_SINGLE_OBJECT;
                for (int i = 7; i >= 0; i--)
                        out->fingerprint = (out->fingerprint << 8) | p[2 + i];
                break;
        case CONFLUENT_MAGIC:
                hdr = TECG_FRAMING_CONFLUENT_HEADER_LEN;
                if (len < hdr)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "Confluent header truncated: %zu of %zu bytes", len,
                                           hdr);
                out->kind = TECG_FRAME_CONFLUENT;
                out->schema_id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 |
                                 (uint32_t)p[4];
                break;
        default:
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "unknown magic byte 0x%02X (expected 0xC3 "
                                   "for single-object encoding or 0x00 for "
                                   "Confluent wire format)",
                                   p[0]);
        }

        if (len == hdr) {
                memset(out, 0, sizeof(*out));
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "body empty after the %zu-byte %s header", hdr,
                                   hdr == TECG_FRAMING_SO_HEADER_LEN ? "single-object"
                                                                     : "Confluent");
        }
        out->body = p + hdr;
        out->body_len = len - hdr;
        return TECG_OK;
}

tecg_err_t tecg_framing_write_single_object(tecg_buf_t *out, uint64_t fp) {
        uint8_t h[TECG_FRAMING_SO_HEADER_LEN] = {SO_MAGIC0, SO_MAGIC1};
        for (int i = 0; i < 8; i++)
                h[2 + i] = (uint8_t)(fp >> (8 * i));
        return tecg_buf_append(out, h, sizeof(h));
}

tecg_err_t tecg_framing_write_confluent(tecg_buf_t *out, uint32_t schema_id) {
        uint8_t h[TECG_FRAMING_CONFLUENT_HEADER_LEN] = {
                CONFLUENT_MAGIC, (uint8_t)(schema_id >> 24), (uint8_t)(schema_id >> 16),
                (uint8_t)(schema_id >> 8), (uint8_t)schema_id};
        return tecg_buf_append(out, h, sizeof(h));
}
