/* Fuzz target: the Avro frame decoder, one input = one Kafka message value
 * of tecg.contributions / tecg.training-completions: the framing
 * (common/framing.h) and tecg_avro_decode_event() (common/avro_codec.h)
 * with the built-in schemas, the older writer schemas of
 * tests/data/avro/evolution/ and some Confluent registry ids.
 *
 * Invariants:
 *   - framing accepted: the frame describes the input exactly (kind from
 *     the magic byte, fingerprint or id from the header, body = the rest,
 *     not empty) and writing the header again gives the same bytes;
 *   - framing refused: the decoder refuses the message with the same
 *     reason;
 *   - decoded: the event's enums are in range, its fixed-size strings are
 *     terminated and its texts UTF-8; re-encoding it succeeds, decoding
 *     that gives the same event, and encoding that again gives the same
 *     bytes (round trip; the encoder writes the current schema, so this
 *     also covers messages of older writers);
 *   - refused: INVALID, NOT_FOUND or AVRO with a one-line UTF-8 reason and
 *     the event zeroed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_codec.h"
#include "buf.h"
#include "framing.h"
#include "fuzz.h"

/* Writer schemas besides the built-in ones (name = file name without
 * .avsc, in tests/data/avro/evolution/). */
static const char *const extra_schemas[] = {"contribution_v0", "training_v0", "training_wide"};

/* Confluent registry ids the corpus uses (tests/fuzz/make-corpus). */
static const struct {
        uint32_t id;
        const char *schema;
} registry_ids[] = {
        {1, "contribution"},  {7, "training"},     {2, "contribution_v0"}, {3, "training_v0"},
        {4, "training_wide"}, {9, "nation_state"}, {5, "retraction"},      {6, "contribution_v1"},
};

static tecg_avro_t *avro;

static void fz_teardown(void) {
        tecg_avro_destroy(avro);
        avro = NULL;
}

static char *read_text(const char *path, size_t *len) {
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long n;
        FZ_SETUP(f, "cannot open %s", path);
        FZ_SETUP(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0,
                 "cannot size %s", path);
        buf = malloc((size_t)n + 1);
        FZ_SETUP(buf && fread(buf, 1, (size_t)n, f) == (size_t)n, "cannot read %s", path);
        buf[n] = '\0';
        fclose(f);
        *len = (size_t)n;
        return buf;
}

static void fz_setup(void) {
        char err[512], path[4096];
        if (avro)
                return;
        avro = tecg_avro_new(err, sizeof(err));
        FZ_SETUP(avro, "%s", err);
        for (size_t i = 0; i < sizeof(extra_schemas) / sizeof(extra_schemas[0]); i++) {
                size_t len;
                snprintf(path, sizeof(path), "%s/tests/data/avro/evolution/%s.avsc",
                         TECG_SOURCE_DIR, extra_schemas[i]);
                char *json = read_text(path, &len);
                FZ_SETUP(tecg_avro_add_schema(avro, extra_schemas[i], json, len, NULL, err,
                                              sizeof(err)) == TECG_OK,
                         "%s: %s", path, err);
                free(json);
        }
        for (size_t i = 0; i < sizeof(registry_ids) / sizeof(registry_ids[0]); i++)
                FZ_SETUP(tecg_avro_register_id(avro, registry_ids[i].id, registry_ids[i].schema,
                                               err, sizeof(err)) == TECG_OK,
                         "registry id %u: %s", (unsigned)registry_ids[i].id, err);
        atexit(fz_teardown);
}

/* The framing, checked against the bytes by hand. */
static tecg_err_t check_framing(const uint8_t *data, size_t size, char *err, size_t err_size) {
        tecg_frame_t fr;
        tecg_buf_t b = TECG_BUF_INIT;
        size_t hdr;
        tecg_err_t rc = tecg_framing_parse(data, size, &fr, err, err_size);

        if (rc != TECG_OK) {
                FZ_CHECK(rc == TECG_ERR_INVALID, "framing: %s", tecg_err2str(rc));
                fz_check_reason("framing", err, err_size);
                return rc;
        }
        if (fr.kind == TECG_FRAME_SINGLE_OBJECT) {
                uint64_t fp = 0;
                hdr = TECG_FRAMING_SO_HEADER_LEN;
                FZ_CHECK(size > hdr && data[0] == 0xC3 && data[1] == 0x01,
                         "single-object frame without C3 01 or body");
                for (int i = 9; i >= 2; i--)
                        fp = (fp << 8) | data[i];
                FZ_CHECK(fr.fingerprint == fp, "fingerprint not the header's");
                FZ_CHECK(tecg_framing_write_single_object(&b, fp) == TECG_OK, "write");
        } else {
                FZ_CHECK(fr.kind == TECG_FRAME_CONFLUENT, "frame kind %d", (int)fr.kind);
                hdr = TECG_FRAMING_CONFLUENT_HEADER_LEN;
                FZ_CHECK(size > hdr && data[0] == 0x00, "Confluent frame without 00 or body");
                uint32_t id = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
                              (uint32_t)data[3] << 8 | data[4];
                FZ_CHECK(fr.schema_id == id, "schema id not the header's");
                FZ_CHECK(tecg_framing_write_confluent(&b, id) == TECG_OK, "write");
        }
        FZ_CHECK(fr.body == data + hdr && fr.body_len == size - hdr && fr.body_len > 0,
                 "body is not the rest of the message");
        FZ_CHECK(b.len == hdr && memcmp(b.data, data, hdr) == 0,
                 "writing the header again gives other bytes");
        tecg_buf_free(&b);
        return TECG_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const tecg_event_t zero;
        char ferr[512] = "", err[512] = "";
        tecg_event_t ev;
        fz_event_copy_t copy;
        tecg_err_t frc, rc;

        fz_setup();

        frc = check_framing(data, size, ferr, sizeof(ferr));
        rc = tecg_avro_decode_event(avro, data, size, &ev, err, sizeof(err));
        if (frc != TECG_OK)
                FZ_CHECK(rc == frc && strcmp(err, ferr) == 0,
                         "framing says \"%s\", the decoder %s \"%s\"", ferr, tecg_err2str(rc), err);
        if (rc != TECG_OK) {
                FZ_CHECK(rc == TECG_ERR_INVALID || rc == TECG_ERR_NOT_FOUND ||
                                 rc == TECG_ERR_AVRO || rc == TECG_ERR_NOMEM,
                         "decoder: unexpected %s", tecg_err2str(rc));
                fz_check_reason("decoder", err, sizeof(err));
                FZ_CHECK(memcmp(&ev, &zero, sizeof(ev)) == 0, "event not zeroed after an error");
                return 0;
        }
        fz_check_event_shape("decoded event", &ev);
        fz_event_copy(&copy, &ev);
        fz_avro_round_trip(avro, &copy.ev, "decoded event");
        fz_event_copy_free(&copy);
        return 0;
}
