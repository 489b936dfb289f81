/* Fuzz target: the nation-state decoder (consumers/state_codec.h), one
 * input = one tecg.nation-state message value, as the aggregator restores
 * it on assignment and the dashboard reads it.
 *
 * Invariants:
 *   - refused: INVALID, NOT_FOUND, AVRO or NOMEM with a one-line UTF-8
 *     reason, and no state;
 *   - decoded: the encoder accepts the state (it checks every invariant
 *     of nation_state.h the decoder promises), decoding that gives an
 *     equal state with the same version, and encoding it again the same
 *     bytes; a deep copy is equal;
 *   - a decoded state can go on counting: applying an event of each type
 *     either succeeds and leaves a state the encoder accepts, or is
 *     refused with a reason (a sum would overflow). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nation_state.h"
#include "state_codec.h"

static tecg_state_codec_t *codec;

static void fz_teardown(void) {
        tecg_state_codec_destroy(codec);
        codec = NULL;
}

static void fz_setup(void) {
        char err[512];
        if (codec)
                return;
        codec = tecg_state_codec_new(err, sizeof(err));
        FZ_SETUP(codec, "%s", err);
        atexit(fz_teardown);
}

/* One event of each type for `nation`, at a fixed time in 2005. */
static void make_events(const char *nation, tecg_event_t evs[TECG_EV__COUNT]) {
        memset(evs, 0, sizeof(tecg_event_t) * TECG_EV__COUNT);
        for (int t = 0; t < TECG_EV__COUNT; t++) {
                tecg_event_t *ev = &evs[t];
                ev->type = (tecg_event_type_t)t;
                snprintf(ev->event_id, sizeof(ev->event_id), "fuzz-%d", t);
                memcpy(ev->nation, nation, 4);
                ev->occurred_at_ms = INT64_C(1120000000000);
                ev->utc_offset_min = 180;
        }
        evs[TECG_EV_FUNDING].u.funding =
                (tecg_funding_t){INT64_C(65200000), "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED};
        evs[TECG_EV_EQUIPMENT].u.equipment = (tecg_equipment_t){
                "trucks", TECG_CAT_VEHICLES, 40, true, 1234567, "EUR", TECG_ES_DELIVERED};
        evs[TECG_EV_PERSONNEL].u.personnel =
                (tecg_personnel_t){TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 12};
        evs[TECG_EV_TRAINING].u.training = (tecg_training_t){
                "Staff officer course", TECG_LVL_SENIOR, TECG_LOC_OUTSIDE_IRAQ, NULL, 25};
}

static void encode_ok(const tecg_nation_state_t *st, tecg_buf_t *out, const char *what) {
        char err[512] = "";
        tecg_err_t rc = tecg_state_codec_encode(codec, st, out, err, sizeof(err));
        FZ_CHECK(rc == TECG_OK, "%s: the encoder refuses it: %s: %s", what, tecg_err2str(rc), err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static tecg_nation_state_t sentinel;
        char err[512] = "";
        tecg_nation_state_t *st = &sentinel, *back = NULL, *dup;
        tecg_buf_t b1 = TECG_BUF_INIT, b2 = TECG_BUF_INIT;
        tecg_err_t rc;

        fz_setup();

        rc = tecg_state_codec_decode(codec, data, size, &st, err, sizeof(err));
        if (rc != TECG_OK) {
                FZ_CHECK(st == NULL, "a state after an error");
                FZ_CHECK(rc == TECG_ERR_INVALID || rc == TECG_ERR_NOT_FOUND ||
                                 rc == TECG_ERR_AVRO || rc == TECG_ERR_NOMEM,
                         "unexpected %s", tecg_err2str(rc));
                fz_check_reason("state decoder", err, sizeof(err));
                return 0;
        }
        FZ_CHECK(st != NULL, "TECG_OK without a state");
        FZ_CHECK(fz_fixed_ok(st->nation, sizeof(st->nation), 3), "nation not terminated");

        /* Round trip. */
        encode_ok(st, &b1, "decoded state");
        FZ_CHECK(tecg_state_codec_decode(codec, b1.data, b1.len, &back, err, sizeof(err)) ==
                         TECG_OK,
                 "cannot decode what was encoded: %s", err);
        FZ_CHECK(tecg_nation_state_equal(st, back) && st->version == back->version,
                 "state differs after encode + decode");
        encode_ok(back, &b2, "re-decoded state");
        FZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0,
                 "encoding the decoded state gives other bytes");
        dup = tecg_nation_state_dup(st);
        FZ_CHECK(dup && tecg_nation_state_equal(st, dup), "copy differs");
        tecg_nation_state_destroy(dup);
        tecg_nation_state_destroy(back);

        /* Counting on from a restored state. */
        {
                tecg_event_t evs[TECG_EV__COUNT];
                make_events(st->nation, evs);
                for (int t = 0; t < TECG_EV__COUNT; t++) {
                        bool changed = false;
                        err[0] = '\0';
                        rc = tecg_nation_state_apply(st, &evs[t], &changed, err, sizeof(err));
                        if (rc != TECG_OK) {
                                FZ_CHECK(rc == TECG_ERR_INVALID, "apply: %s", tecg_err2str(rc));
                                fz_check_reason("apply", err, sizeof(err));
                        }
                        tecg_buf_reset(&b2);
                        encode_ok(st, &b2, "state after apply");
                }
        }

        tecg_buf_free(&b1);
        tecg_buf_free(&b2);
        tecg_nation_state_destroy(st);
        return 0;
}
