/* Avro codec (docs/design.md §3): golden bytes against fastavro, round trips, older
 * writer schemas, and hostile bodies.
 *
 * Golden files in $TECG_TEST_DATA/avro/ come from fastavro through
 * tests/tools/gen_avro_golden.py (regenerate there):
 *   events/<name>.hex     single-object messages of the events built by
 *                         golden[] below (same names, same values);
 *   evolution/            older writer schemas (.avsc) and messages written
 *                         with them (.hex).
 * Equal bytes in both directions mean fastavro reads what we write and we
 * read what it writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <avro.h>
#include <jansson.h>

#include "avro_codec.h"
#include "framing.h"
#include "testutil.h"

/* ------------------------------------------------------------- helpers */

static void assert_str_or_null(const char *a, const char *b) {
        if (!a || !b)
                assert_ptr_equal(a, b);
        else
                assert_string_equal(a, b);
}

static void assert_event_equal(const tecg_event_t *a, const tecg_event_t *b) {
        assert_int_equal(a->type, b->type);
        assert_string_equal(a->event_id, b->event_id);
        assert_string_equal(a->nation, b->nation);
        assert_true(a->occurred_at_ms == b->occurred_at_ms);
        assert_int_equal(a->utc_offset_min, b->utc_offset_min);
        assert_string_equal(a->supersedes, b->supersedes);
        switch (a->type) {
        case TECG_EV_FUNDING:
                assert_true(a->u.funding.amount_minor == b->u.funding.amount_minor);
                assert_string_equal(a->u.funding.currency, b->u.funding.currency);
                assert_int_equal(a->u.funding.channel, b->u.funding.channel);
                assert_int_equal(a->u.funding.stage, b->u.funding.stage);
                break;
        case TECG_EV_EQUIPMENT:
                assert_string_equal(a->u.equipment.item, b->u.equipment.item);
                assert_int_equal(a->u.equipment.category, b->u.equipment.category);
                assert_true(a->u.equipment.quantity == b->u.equipment.quantity);
                assert_int_equal(a->u.equipment.has_value, b->u.equipment.has_value);
                if (a->u.equipment.has_value)
                        assert_true(a->u.equipment.value_minor == b->u.equipment.value_minor);
                assert_string_equal(a->u.equipment.currency, b->u.equipment.currency);
                assert_int_equal(a->u.equipment.stage, b->u.equipment.stage);
                break;
        case TECG_EV_PERSONNEL:
                assert_int_equal(a->u.personnel.role, b->u.personnel.role);
                assert_int_equal(a->u.personnel.location, b->u.personnel.location);
                assert_int_equal(a->u.personnel.headcount, b->u.personnel.headcount);
                break;
        case TECG_EV_TRAINING:
                assert_string_equal(a->u.training.course, b->u.training.course);
                assert_int_equal(a->u.training.level, b->u.training.level);
                assert_int_equal(a->u.training.location, b->u.training.location);
                assert_str_or_null(a->u.training.venue, b->u.training.venue);
                assert_int_equal(a->u.training.trainees, b->u.training.trainees);
                break;
        case TECG_EV_RETRACTION:
                assert_string_equal(a->u.retraction.retracts, b->u.retraction.retracts);
                assert_int_equal(a->u.retraction.retracts_type, b->u.retraction.retracts_type);
                assert_string_equal(a->u.retraction.reason, b->u.retraction.reason);
                break;
        default:
                fail_msg("bad type %d", a->type);
        }
}

static tecg_event_t base(tecg_event_type_t type, const char *id, const char *nation, int64_t at,
                         int32_t off) {
        tecg_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = type;
        snprintf(ev.event_id, sizeof(ev.event_id), "%s", id);
        snprintf(ev.nation, sizeof(ev.nation), "%s", nation);
        ev.occurred_at_ms = at;
        ev.utc_offset_min = off;
        return ev;
}

/* --------------------------------------------- golden events (fastavro) */

static tecg_event_t ev_funding_basic(void) {
        tecg_event_t e = base(TECG_EV_FUNDING, "NLD-2005-0001", "NLD", 1109062800000, 0);
        e.u.funding = (tecg_funding_t){65200000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED};
        return e;
}

static tecg_event_t ev_funding_extreme(void) {
        tecg_event_t e = base(TECG_EV_FUNDING, "x", "USA", INT64_MIN, INT32_MIN);
        e.u.funding = (tecg_funding_t){INT64_MAX, "USD", TECG_CH_BILATERAL, TECG_FS_DISBURSED};
        return e;
}

static tecg_event_t ev_equipment_value(void) {
        tecg_event_t e = base(TECG_EV_EQUIPMENT, "DEU-eq-17", "DEU", 1109066400000, 60);
        e.u.equipment =
                (tecg_equipment_t){"Unimog 435 trucks", TECG_CAT_VEHICLES, 40, true, 1234567, "EUR",
                                   TECG_ES_DELIVERED};
        return e;
}

static tecg_event_t ev_equipment_novalue(void) {
        tecg_event_t e = base(TECG_EV_EQUIPMENT, "POL:eq.2", "POL", 1110000000123, -90);
        e.u.equipment = (tecg_equipment_t){"Helme \xe2\x80\x94 Gr\xc3\xb6\xc3\x9f"
                                           "e M \xf0\x9f\x9b\xa1",
                                           TECG_CAT_UNIFORMS,
                                           1,
                                           false,
                                           0,
                                           "",
                                           TECG_ES_OFFERED};
        return e;
}

static tecg_event_t ev_personnel(void) {
        tecg_event_t e = base(TECG_EV_PERSONNEL, "ITA_2005.03", "ITA", 1112000000000, 180);
        e.u.personnel = (tecg_personnel_t){TECG_ROLE_FORCE_PROTECTION, TECG_LOC_OUTSIDE_IRAQ, 0};
        return e;
}

static tecg_event_t ev_training_venue(void) {
        tecg_event_t e = base(TECG_EV_TRAINING, "GBR-T-1", "GBR", 1120000000000, 0);
        e.u.training = (tecg_training_t){"Staff officer course", TECG_LVL_SENIOR,
                                         TECG_LOC_OUTSIDE_IRAQ, "NATO School Oberammergau", 25};
        return e;
}

static tecg_event_t ev_training_novenue(void) {
        tecg_event_t e = base(TECG_EV_TRAINING, "TUR-1969", "TUR", -31536000001, -300);
        e.u.training = (tecg_training_t){"", TECG_LVL_JUNIOR, TECG_LOC_IN_IRAQ, NULL, INT32_MAX};
        return e;
}

static tecg_event_t ev_funding_supersedes(void) {
        tecg_event_t e = base(TECG_EV_FUNDING, "NLD-2005-0002", "NLD", 1109149200000, 60);
        e.u.funding = (tecg_funding_t){81000000, "EUR", TECG_CH_TRUST_FUND, TECG_FS_PLEDGED};
        snprintf(e.supersedes, sizeof(e.supersedes), "NLD-2005-0001");
        return e;
}

static tecg_event_t ev_training_supersedes(void) {
        tecg_event_t e = base(TECG_EV_TRAINING, "GBR-T-2", "GBR", 1120000060000, 0);
        e.u.training = (tecg_training_t){"Staff officer course", TECG_LVL_SENIOR,
                                         TECG_LOC_OUTSIDE_IRAQ, NULL, 24};
        snprintf(e.supersedes, sizeof(e.supersedes), "GBR-T-1");
        return e;
}

static tecg_event_t ev_retraction_funding(void) {
        tecg_event_t e = base(TECG_EV_RETRACTION, "NLD-2005-0003", "NLD", 1109235600000, 0);
        snprintf(e.u.retraction.retracts, sizeof(e.u.retraction.retracts), "NLD-2005-0002");
        e.u.retraction.retracts_type = TECG_EV_FUNDING;
        e.u.retraction.reason = "Pledge entered twice \xe2\x80\x94 see NLD-2005-0001";
        return e;
}

static tecg_event_t ev_retraction_training(void) {
        tecg_event_t e = base(TECG_EV_RETRACTION, "GBR-R-1", "GBR", 1120000120000, -300);
        snprintf(e.u.retraction.retracts, sizeof(e.u.retraction.retracts), "GBR-T-2");
        e.u.retraction.retracts_type = TECG_EV_TRAINING;
        e.u.retraction.reason = "x";
        return e;
}

static const struct {
        const char *name;
        tecg_event_t (*make)(void);
} golden[] = {
        {"funding_supersedes", ev_funding_supersedes},
        {"training_supersedes", ev_training_supersedes},
        {"retraction_funding", ev_retraction_funding},
        {"retraction_training", ev_retraction_training},
        {"funding_basic", ev_funding_basic},
        {"funding_extreme", ev_funding_extreme},
        {"equipment_value", ev_equipment_value},
        {"equipment_novalue", ev_equipment_novalue},
        {"personnel", ev_personnel},
        {"training_venue", ev_training_venue},
        {"training_novenue", ev_training_novenue},
};
#define NGOLDEN (sizeof(golden) / sizeof(golden[0]))

/* ------------------------------------------------------------ fixtures */

static int setup(void **state) {
        char errstr[256];
        tecg_avro_t *avro = tecg_avro_new(errstr, sizeof(errstr));
        if (!avro)
                fail_msg("tecg_avro_new: %s", errstr);
        *state = avro;
        return 0;
}

static int teardown(void **state) {
        tecg_avro_destroy(*state);
        return 0;
}

/* C3 01 + fingerprint of schema `name` + body. */
static size_t frame(tecg_avro_t *avro, const char *name, const uint8_t *body, size_t len,
                    uint8_t *out) {
        const tecg_avro_schema_t *s = tecg_avro_schema_by_name(avro, name);
        tecg_buf_t b = TECG_BUF_INIT;
        assert_non_null(s);
        assert_int_equal(tecg_framing_write_single_object(&b, tecg_avro_schema_fingerprint(s)),
                         TECG_OK);
        assert_int_equal(tecg_buf_append(&b, body, len), TECG_OK);
        memcpy(out, b.data, b.len);
        len = b.len;
        tecg_buf_free(&b);
        return len;
}

/* ---------------------------------------------------------------- tests */

static void test_new_destroy(void **state) {
        (void)state;
        char errstr[256];
        tecg_avro_destroy(NULL);
        tecg_avro_t *a = tecg_avro_new(errstr, sizeof(errstr));
        assert_non_null(a);
        tecg_avro_destroy(a);
}

static void test_schemas(void **state) {
        tecg_avro_t *avro = *state;
        char hex[17];
        const tecg_avro_schema_t *c = tecg_avro_schema_by_name(avro, "contribution");
        const tecg_avro_schema_t *t = tecg_avro_schema_by_name(avro, "training");

        assert_true(tecg_avro_schema_count(avro) >= 2);
        assert_non_null(c);
        assert_non_null(t);
        assert_string_equal(tecg_avro_schema_name(c), "contribution");
        assert_string_equal(tecg_avro_schema_fullname(c), "org.tecg.ContributionEvent");
        assert_string_equal(tecg_avro_schema_fullname(t), "org.tecg.TrainingCompletion");
        const tecg_avro_schema_t *r = tecg_avro_schema_by_name(avro, "retraction");
        assert_non_null(r);
        assert_string_equal(tecg_avro_schema_fullname(r), "org.tecg.Retraction");
        assert_true(tecg_avro_schema_is_event(r));
        assert_string_equal(tecg_framing_fingerprint_hex(tecg_avro_schema_fingerprint(c), hex),
                            "3b866841c306725a");
        assert_string_equal(tecg_framing_fingerprint_hex(tecg_avro_schema_fingerprint(t), hex),
                            "8fd75df3db8a7cf1");
        assert_string_equal(tecg_framing_fingerprint_hex(tecg_avro_schema_fingerprint(r), hex),
                            "9be114fae2f6a42d");
        /* The writers before `supersedes` stay known, under their old
         * fingerprints, so messages already on the topics decode. */
        const tecg_avro_schema_t *c1 = tecg_avro_schema_by_name(avro, "contribution_v1");
        const tecg_avro_schema_t *t1 = tecg_avro_schema_by_name(avro, "training_v1");
        assert_non_null(c1);
        assert_non_null(t1);
        assert_true(tecg_avro_schema_is_event(c1));
        assert_true(tecg_avro_schema_is_event(t1));
        assert_string_equal(tecg_framing_fingerprint_hex(tecg_avro_schema_fingerprint(c1), hex),
                            "fa26e2c03bf3d58d");
        assert_string_equal(tecg_framing_fingerprint_hex(tecg_avro_schema_fingerprint(t1), hex),
                            "db65c399a8188022");
        assert_ptr_equal(tecg_avro_schema_by_name(avro, "org.tecg.Retraction"), r);
        assert_ptr_equal(tecg_avro_schema_for_type(avro, TECG_EV_RETRACTION), r);
        char *pcf = tu_slurp_data("avro/contribution.pcf", NULL);
        assert_string_equal(tecg_avro_schema_canonical(c), pcf);
        free(pcf);
        assert_non_null(strstr(tecg_avro_schema_json(t), "\"doc\""));
        assert_true(tecg_avro_schema_is_event(c));
        assert_true(tecg_avro_schema_is_event(t));

        assert_ptr_equal(tecg_avro_schema_by_name(avro, "org.tecg.TrainingCompletion"), t);
        assert_null(tecg_avro_schema_by_name(avro, "nope"));
        assert_ptr_equal(tecg_avro_schema_by_fingerprint(avro, UINT64_C(0x8dd5f33bc0e226fa)), c1);
        assert_null(tecg_avro_schema_by_fingerprint(avro, 1));
        assert_ptr_equal(tecg_avro_schema_for_type(avro, TECG_EV_FUNDING), c);
        assert_ptr_equal(tecg_avro_schema_for_type(avro, TECG_EV_EQUIPMENT), c);
        assert_ptr_equal(tecg_avro_schema_for_type(avro, TECG_EV_PERSONNEL), c);
        assert_ptr_equal(tecg_avro_schema_for_type(avro, TECG_EV_TRAINING), t);
        assert_null(tecg_avro_schema_for_type(avro, TECG_EV__COUNT));
        assert_ptr_equal(tecg_avro_schema_at(avro, 0),
                         tecg_avro_schema_by_name(
                                 avro, tecg_avro_schema_name(tecg_avro_schema_at(avro, 0))));
        assert_null(tecg_avro_schema_at(avro, tecg_avro_schema_count(avro)));

        assert_string_equal(tecg_avro_topic_for(TECG_EV_FUNDING), "contributions");
        assert_string_equal(tecg_avro_topic_for(TECG_EV_EQUIPMENT), "contributions");
        assert_string_equal(tecg_avro_topic_for(TECG_EV_PERSONNEL), "contributions");
        assert_string_equal(tecg_avro_topic_for(TECG_EV_TRAINING), "training-completions");
        assert_null(tecg_avro_topic_for((tecg_event_type_t)42));
        /* A retraction has no topic of its own: it goes with its target. */
        assert_null(tecg_avro_topic_for(TECG_EV_RETRACTION));
        tecg_event_t e = ev_retraction_funding();
        assert_string_equal(tecg_avro_topic_for_event(&e), "contributions");
        e.u.retraction.retracts_type = TECG_EV_PERSONNEL;
        assert_string_equal(tecg_avro_topic_for_event(&e), "contributions");
        e = ev_retraction_training();
        assert_string_equal(tecg_avro_topic_for_event(&e), "training-completions");
        e.u.retraction.retracts_type = TECG_EV_RETRACTION;
        assert_null(tecg_avro_topic_for_event(&e));
        e = ev_training_venue();
        assert_string_equal(tecg_avro_topic_for_event(&e), "training-completions");
}

static void test_golden_encode(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256], rel[128];
        for (size_t i = 0; i < NGOLDEN; i++) {
                tecg_event_t ev = golden[i].make();
                tecg_buf_t b = TECG_BUF_INIT;
                size_t n;
                snprintf(rel, sizeof(rel), "avro/events/%s.hex", golden[i].name);
                uint8_t *want = tu_hex_file(rel, &n);
                assert_int_equal(tecg_avro_encode_event(avro, &ev, &b, errstr, sizeof(errstr)),
                                 TECG_OK);
                tu_assert_bytes_equal(golden[i].name, b.data, b.len, want, n);
                free(want);
                tecg_buf_free(&b);
        }
}

static void test_golden_decode(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256], rel[128];
        for (size_t i = 0; i < NGOLDEN; i++) {
                tecg_event_t want = golden[i].make(), got;
                size_t n;
                snprintf(rel, sizeof(rel), "avro/events/%s.hex", golden[i].name);
                uint8_t *msg = tu_hex_file(rel, &n);
                tecg_err_t err = tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr));
                if (err)
                        fail_msg("%s: %s", golden[i].name, errstr);
                assert_event_equal(&got, &want);
                free(msg);
        }
}

static void round_trip(tecg_avro_t *avro, const tecg_event_t *ev) {
        char errstr[256];
        tecg_buf_t b = TECG_BUF_INIT;
        tecg_event_t got;
        if (tecg_avro_encode_event(avro, ev, &b, errstr, sizeof(errstr)))
                fail_msg("encode %s: %s", ev->event_id, errstr);
        if (tecg_avro_decode_event(avro, b.data, b.len, &got, errstr, sizeof(errstr)))
                fail_msg("decode %s: %s", ev->event_id, errstr);
        assert_event_equal(&got, ev);
        tecg_buf_free(&b);
}

/* Every type, every enum symbol, both shapes of every optional field,
 * extreme numbers and long strings. */
static void test_round_trip_matrix(void **state) {
        tecg_avro_t *avro = *state;
        static const int64_t longs[] = {
                0, 1, -1, 63, -64, 64, INT32_MAX, (int64_t)INT32_MIN - 1, INT64_MAX, INT64_MIN};
        static const int32_t ints[] = {0, 1, -1, 127, -840, 840, INT32_MAX, INT32_MIN};
        char longtext[4 * TECG_TEXT_MAX + 1] = "";
        for (int i = 0; i < TECG_TEXT_MAX; i++)
                strcat(longtext, "\xf0\x9f\x9b\xa1"); /* 4-byte UTF-8 */
        char maxid[TECG_EVENT_ID_MAX + 1];
        memset(maxid, 'Z', TECG_EVENT_ID_MAX);
        maxid[TECG_EVENT_ID_MAX] = '\0';
        int n = 0;

        for (size_t li = 0; li < sizeof(longs) / sizeof(longs[0]); li++) {
                int32_t off = ints[li % (sizeof(ints) / sizeof(ints[0]))];
                const char *id = li % 2 ? maxid : "a";
                for (int ch = 0; ch < TECG_CH__COUNT; ch++)
                        for (int st = 0; st < TECG_FS__COUNT; st++) {
                                tecg_event_t e = base(TECG_EV_FUNDING, id, "NLD", longs[li], off);
                                e.u.funding = (tecg_funding_t){longs[li], "EUR", (tecg_channel_t)ch,
                                                               (tecg_funding_stage_t)st};
                                round_trip(avro, &e);
                                n++;
                        }
                for (int cat = 0; cat < TECG_CAT__COUNT; cat++)
                        for (int st = 0; st < TECG_ES__COUNT; st++)
                                for (int hv = 0; hv < 2; hv++) {
                                        tecg_event_t e =
                                                base(TECG_EV_EQUIPMENT, id, "", longs[li], off);
                                        e.u.equipment =
                                                (tecg_equipment_t){hv ? longtext : "",
                                                                   (tecg_category_t)cat,
                                                                   longs[li],
                                                                   hv,
                                                                   hv ? longs[li] : 0,
                                                                   "",
                                                                   (tecg_equipment_stage_t)st};
                                        if (hv)
                                                strcpy(e.u.equipment.currency, "JPY");
                                        round_trip(avro, &e);
                                        n++;
                                }
                for (int r = 0; r < TECG_ROLE__COUNT; r++)
                        for (int loc = 0; loc < TECG_LOC__COUNT; loc++) {
                                tecg_event_t e = base(TECG_EV_PERSONNEL, id, "ITA", longs[li], off);
                                /* Half of them replace an earlier report. */
                                if (loc)
                                        snprintf(e.supersedes, sizeof(e.supersedes), "%s", id);
                                e.u.personnel = (tecg_personnel_t){
                                        (tecg_role_t)r, (tecg_location_t)loc,
                                        ints[(size_t)r % (sizeof(ints) / sizeof(ints[0]))]};
                                round_trip(avro, &e);
                                n++;
                        }
                for (int lv = 0; lv < TECG_LVL__COUNT; lv++)
                        for (int loc = 0; loc < TECG_LOC__COUNT; loc++)
                                for (int hv = 0; hv < 2; hv++) {
                                        tecg_event_t e =
                                                base(TECG_EV_TRAINING, id, "GBR", longs[li], off);
                                        e.u.training = (tecg_training_t){
                                                hv ? "" : longtext, (tecg_level_t)lv,
                                                (tecg_location_t)loc, hv ? longtext : NULL,
                                                ints[(size_t)lv]};
                                        if (hv)
                                                snprintf(e.supersedes, sizeof(e.supersedes), "%s",
                                                         maxid);
                                        round_trip(avro, &e);
                                        n++;
                                }
                /* Every type a retraction can name, a reason of 500
                 * four-byte characters and of one. */
                for (int t = 0; t < TECG_EV__COUNTED; t++) {
                        static char longreason[4 * TECG_REASON_MAX + 1];
                        if (!longreason[0])
                                for (int i = 0; i < TECG_REASON_MAX; i++)
                                        strcat(longreason, "\xf0\x9f\x9b\xa1");
                        tecg_event_t e = base(TECG_EV_RETRACTION, id, "FRA", longs[li], off);
                        snprintf(e.u.retraction.retracts, sizeof(e.u.retraction.retracts), "%s",
                                 li % 2 ? "a" : maxid);
                        e.u.retraction.retracts_type = (tecg_event_type_t)t;
                        e.u.retraction.reason = t % 2 ? "r" : longreason;
                        round_trip(avro, &e);
                        n++;
                }
        }
        assert_int_equal(n, 10 * (6 + 42 + 10 + 12 + 4));
}

/* A funding event with value but no currency, or currency but no value, is
 * the validator's business; the codec keeps what it was given. */
static void test_round_trip_equipment_halves(void **state) {
        tecg_avro_t *avro = *state;
        tecg_event_t e = base(TECG_EV_EQUIPMENT, "h", "DEU", 0, 0);
        e.u.equipment = (tecg_equipment_t){"x", TECG_CAT_OTHER, 1, true, 5, "", TECG_ES_OFFERED};
        round_trip(avro, &e);
        e.u.equipment.has_value = false;
        e.u.equipment.value_minor = 0;
        strcpy(e.u.equipment.currency, "EUR");
        round_trip(avro, &e);
}

static void test_encode_appends(void **state) {
        tecg_avro_t *avro = *state;
        tecg_buf_t b = TECG_BUF_INIT;
        const tecg_avro_schema_t *s = NULL;
        tecg_event_t a = ev_equipment_value(), t = ev_training_venue(), got;
        char errstr[256];

        assert_int_equal(tecg_buf_puts(&b, "prefix"), TECG_OK);
        assert_int_equal(tecg_avro_encode_event(avro, &a, &b, errstr, sizeof(errstr)), TECG_OK);
        size_t first = b.len;
        assert_int_equal(tecg_avro_encode_body(avro, &t, &b, &s, errstr, sizeof(errstr)), TECG_OK);
        assert_ptr_equal(s, tecg_avro_schema_by_name(avro, "training"));
        assert_memory_equal(b.data, "prefix", 6);
        assert_int_equal(
                tecg_avro_decode_event(avro, b.data + 6, first - 6, &got, errstr, sizeof(errstr)),
                TECG_OK);
        assert_event_equal(&got, &a);
        assert_int_equal(tecg_avro_decode_body(avro, s, b.data + first, b.len - first, &got, errstr,
                                               sizeof(errstr)),
                         TECG_OK);
        assert_event_equal(&got, &t);
        tecg_buf_free(&b);
}

static void test_encode_errors(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256];
        tecg_buf_t b = TECG_BUF_INIT;
        /* A valid event, broken below (case i), and the reason. */
        static const struct {
                tecg_event_t (*make)(void);
                const char *reason;
        } cases[] = {
                {ev_funding_basic, "event type 9 out of range"},
                {ev_funding_basic, "channel 3 out of range (3 symbols)"},
                {ev_personnel, "role -1 out of range (5 symbols)"},
                {ev_equipment_value, "item is NULL"},
                {ev_training_venue, "course is NULL"},
                {ev_training_venue, "event_id is not NUL-terminated"},
                {ev_funding_basic, "currency is not NUL-terminated"},
                {ev_personnel, "supersedes is not NUL-terminated"},
                {ev_retraction_funding, "reason is NULL"},
                {ev_retraction_funding, "retracts_type 4 out of range (4 symbols)"},
                {ev_retraction_training, "retracts is not NUL-terminated"},
        };

        assert_int_equal(tecg_buf_puts(&b, "keep"), TECG_OK);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                tecg_event_t e = cases[i].make();
                switch (i) { /* break the event as the reason says */
                case 0:
                        e.type = (tecg_event_type_t)9;
                        break;
                case 1:
                        e.u.funding.channel = TECG_CH__COUNT;
                        break;
                case 2:
                        e.u.personnel.role = (tecg_role_t)-1;
                        break;
                case 3:
                        e.u.equipment.item = NULL;
                        break;
                case 4:
                        e.u.training.course = NULL;
                        break;
                case 5:
                        memset(e.event_id, 'a', sizeof(e.event_id));
                        break;
                case 6:
                        memcpy(e.u.funding.currency, "EURO", 4);
                        break;
                case 7:
                        memset(e.supersedes, 'a', sizeof(e.supersedes));
                        break;
                case 8:
                        e.u.retraction.reason = NULL;
                        break;
                case 9:
                        e.u.retraction.retracts_type = TECG_EV_RETRACTION;
                        break;
                case 10:
                        memset(e.u.retraction.retracts, 'a', sizeof(e.u.retraction.retracts));
                        break;
                }
                assert_int_equal(tecg_avro_encode_event(avro, &e, &b, errstr, sizeof(errstr)),
                                 TECG_ERR_INVALID);
                assert_string_equal(errstr, cases[i].reason);
        }
        assert_int_equal(b.len, 4); /* nothing appended by failures */
        tecg_buf_free(&b);
}

static void test_confluent(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256];
        size_t n;
        tecg_event_t got, want = ev_training_venue();
        uint8_t *msg = tu_hex_file("avro/events/training_venue_confluent7.hex", &n);

        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_ERR_NOT_FOUND);
        assert_string_equal(errstr, "schema registry id 7 unknown");
        assert_int_equal(tecg_avro_register_id(avro, 7, "nope", errstr, sizeof(errstr)),
                         TECG_ERR_NOT_FOUND);
        assert_string_equal(errstr, "schema nope unknown");
        assert_int_equal(tecg_avro_register_id(avro, 7, "contribution", errstr, sizeof(errstr)),
                         TECG_OK);
        /* Wrong schema for these bytes: the pre-scan notices. */
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        /* Re-registering replaces the mapping. */
        assert_int_equal(tecg_avro_register_id(avro, 7, "training", errstr, sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        assert_event_equal(&got, &want);
        free(msg);

        /* Our own Confluent framing: header + encode_body. */
        tecg_buf_t b = TECG_BUF_INIT;
        tecg_event_t e = ev_personnel();
        assert_int_equal(tecg_avro_register_id(avro, 4242, "org.tecg.ContributionEvent", errstr,
                                               sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(tecg_framing_write_confluent(&b, 4242), TECG_OK);
        assert_int_equal(tecg_avro_encode_body(avro, &e, &b, NULL, errstr, sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(tecg_avro_decode_event(avro, b.data, b.len, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        assert_event_equal(&got, &e);
        tecg_buf_free(&b);
}

static void test_unknown_fingerprint(void **state) {
        tecg_avro_t *avro = *state;
        static const uint8_t msg[] = {0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x02, 'a'};
        char errstr[256];
        tecg_event_t got;
        got.type = TECG_EV_TRAINING;
        assert_int_equal(
                tecg_avro_decode_event(avro, msg, sizeof(msg), &got, errstr, sizeof(errstr)),
                TECG_ERR_NOT_FOUND);
        assert_string_equal(errstr, "unknown writer schema fingerprint 0102030405060708");
        assert_int_equal(got.type, 0); /* zeroed */

        /* Framing errors come through unchanged. */
        assert_int_equal(tecg_avro_decode_event(avro, "\x01", 1, &got, errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_string_equal(errstr, "unknown magic byte 0x01 (expected 0xC3 for "
                                    "single-object encoding or 0x00 for Confluent "
                                    "wire format)");
}

typedef struct {
        const char *name;
        const char *schema;
        uint8_t body[96];
        size_t len;
        tecg_err_t err;
        const char *reason;
} body_case_t;

/* Fields up to detail of a contribution: event_id "a", nation "NLD",
 * occurred_at 0, utc_offset 0 (8 bytes). */
#define HEAD 0x02, 'a', 0x06, 'N', 'L', 'D', 0x00, 0x00
#define B(...) {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})

static void test_hostile_bodies(void **state) {
        tecg_avro_t *avro = *state;
        const body_case_t cases[] = {
                {"string length 2^40", "contribution", B(0x80, 0x80, 0x80, 0x80, 0x80, 0x40),
                 TECG_ERR_INVALID,
                 "string length 1099511627776 exceeds the 0 bytes left (field "
                 "event_id, body byte 0)"},
                {"string length 2^62 mid-body", "contribution",
                 B(HEAD, 0x02, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'x'),
                 TECG_ERR_INVALID,
                 "string length 4611686018427387903 exceeds the 1 bytes left "
                 "(field detail.Equipment.item, body byte 9)"},
                {"string length -2^62", "contribution",
                 B(HEAD, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'x'),
                 TECG_ERR_INVALID,
                 "negative string length -4611686018427387904 (field "
                 "detail.Equipment.item, body byte 9)"},
                {"negative length", "contribution", B(0x05, 'a', 'b'), TECG_ERR_INVALID,
                 "negative string length -3 (field event_id, body byte 0)"},
                {"union branch too big", "contribution", B(HEAD, 0x06), TECG_ERR_INVALID,
                 "union branch index 3 out of range (3 branches) (field "
                 "detail, body byte 8)"},
                {"union branch negative", "contribution", B(HEAD, 0x01), TECG_ERR_INVALID,
                 "union branch index -1 out of range (3 branches) (field "
                 "detail, body byte 8)"},
                {"enum index too big", "contribution", B(HEAD, 0x00, 0x00, 0x00, 0x06, 0x00),
                 TECG_ERR_INVALID,
                 "enum index 3 out of range (3 symbols) (field "
                 "detail.Funding.channel, body byte 11)"},
                {"enum index negative", "training", B(HEAD, 0x00, 0x01, 0x00, 0x00, 0x02),
                 TECG_ERR_INVALID,
                 "enum index -1 out of range (3 symbols) (field level, body "
                 "byte 9)"},
                {"optional branch out of range", "training", B(HEAD, 0x00, 0x00, 0x00, 0x04, 0x02),
                 TECG_ERR_INVALID,
                 "union branch index 2 out of range (2 branches) (field venue, "
                 "body byte 11)"},
                {"varint longer than 10 bytes", "contribution",
                 B(0x02, 'a', 0x06, 'N', 'L', 'D', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0x01),
                 TECG_ERR_INVALID, "varint does not fit 64 bits (field occurred_at, body byte 6)"},
                {"int over 32 bits", "contribution",
                 B(0x02, 'a', 0x06, 'N', 'L', 'D', 0x00, 0xff, 0xff, 0xff, 0xff, 0x1f),
                 TECG_ERR_INVALID,
                 "varint does not fit 32 bits (field utc_offset_minutes, body "
                 "byte 7)"},
                {"body ends in a varint", "contribution", B(0x02, 'a', 0x06, 'N', 'L', 'D', 0x80),
                 TECG_ERR_INVALID, "body ends inside a varint (field occurred_at, body byte 6)"},
                {"body ends before a field", "training", B(HEAD), TECG_ERR_INVALID,
                 "body ends inside a varint (field course, body byte 8)"},
                {"string runs past the end", "contribution",
                 B(HEAD, 0x02, 0xc8, 0x01, 'a', 'b', 'c'), TECG_ERR_INVALID,
                 "string length 100 exceeds the 3 bytes left (field "
                 "detail.Equipment.item, body byte 9)"},
                {"invalid UTF-8", "contribution", B(0x02, 0xff), TECG_ERR_INVALID,
                 "string is not valid UTF-8 (field event_id, body byte 0)"},
                {"overlong UTF-8", "contribution", B(0x04, 0xc0, 0xaf), TECG_ERR_INVALID,
                 "string is not valid UTF-8 (field event_id, body byte 0)"},
                {"UTF-16 surrogate", "contribution", B(0x06, 0xed, 0xa0, 0x80), TECG_ERR_INVALID,
                 "string is not valid UTF-8 (field event_id, body byte 0)"},
                {"trailing byte", "training", B(HEAD, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00),
                 TECG_ERR_INVALID, "body longer than its schema: 1 trailing bytes (body byte 14)"},
                {"supersedes branch out of range", "training",
                 B(HEAD, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04), TECG_ERR_INVALID,
                 "union branch index 2 out of range (2 branches) (field supersedes, body byte "
                 "13)"},
                {"retracts_type beyond the counted types", "retraction",
                 B(HEAD, 0x02, 'x', 0x08, 0x02, 'r'), TECG_ERR_INVALID,
                 "enum index 4 out of range (4 symbols) (field retracts_type, body byte 10)"},
                {"retraction without reason", "retraction", B(HEAD, 0x02, 'x', 0x00),
                 TECG_ERR_INVALID, "body ends inside a varint (field reason, body byte 11)"},
                {"NUL inside a reason", "retraction",
                 B(HEAD, 0x02, 'x', 0x00, 0x06, 'a', 0x00, 'b'), TECG_ERR_INVALID,
                 "reason contains a NUL byte"},
                {"NUL inside a string", "contribution",
                 B(HEAD, 0x02, 0x06, 'a', 0x00, 'b', 0x00, 0x02, 0x00, 0x00, 0x00, 0x00),
                 TECG_ERR_INVALID, "item contains a NUL byte"},
                {"nation too long", "training",
                 B(0x02, 'a', 0x08, 'N', 'L', 'D', 'X', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                   0x00),
                 TECG_ERR_INVALID, "nation is 4 bytes, more than 3"},
                {"currency too long", "contribution",
                 B(HEAD, 0x00, 0x02, 0x08, 'E', 'U', 'R', 'O', 0x00, 0x00, 0x00), TECG_ERR_INVALID,
                 "currency is 4 bytes, more than 3"},
                /* Accepted: a non-canonical but valid varint (0 in 2 bytes),
                 * and the smallest valid bodies. */
                {"overlong varint is fine", "training",
                 B(0x02, 'a', 0x06, 'N', 'L', 'D', 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                   0x00),
                 TECG_OK, ""},
                {"personnel", "contribution", B(HEAD, 0x04, 0x00, 0x00, 0x00, 0x00), TECG_OK, ""},
                {"supersedes", "contribution", B(HEAD, 0x04, 0x00, 0x00, 0x00, 0x02, 0x02, 'y'),
                 TECG_OK, ""},
                {"retraction", "retraction", B(HEAD, 0x02, 'x', 0x06, 0x02, 'r'), TECG_OK, ""},
        };
        char errstr[256];
        uint8_t msg[128], longid[96];
        tecg_event_t got;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t n = frame(avro, cases[i].schema, cases[i].body, cases[i].len, msg);
                errstr[0] = '\0';
                tu_largest_alloc = 0;
                tecg_err_t err = tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr));
                if (err != cases[i].err ||
                    strncmp(errstr, cases[i].reason, strlen(cases[i].reason)))
                        fail_msg("%s: got %d \"%s\", want %d \"%s\"", cases[i].name, err, errstr,
                                 cases[i].err, cases[i].reason);
                /* No hostile length reached Avro-C's allocator. */
                if (tu_largest_alloc > 4096)
                        fail_msg("%s: Avro-C allocated %zu bytes", cases[i].name, tu_largest_alloc);
        }

        /* event_id of 65 bytes cannot fit event.h: training body with it. */
        size_t k = 0;
        longid[k++] = 0x82; /* 65 */
        longid[k++] = 0x01;
        memset(longid + k, 'a', 65);
        k += 65;
        static const uint8_t rest[] = {0x06, 'N',  'L',  'D',  0x00, 0x00,
                                       0x00, 0x00, 0x00, 0x00, 0x02, 0x00};
        memcpy(longid + k, rest, sizeof(rest));
        k += sizeof(rest);
        size_t n = frame(avro, "training", longid, k, msg);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_string_equal(errstr, "event_id is 65 bytes, more than 64");

        /* supersedes of 65 bytes cannot fit event.h either: a personnel
         * event with it. */
        static const uint8_t personnel[] = {HEAD, 0x04, 0x00, 0x00, 0x00, 0x02, 0x82, 0x01};
        memcpy(longid, personnel, sizeof(personnel));
        memset(longid + sizeof(personnel), 'b', 65);
        n = frame(avro, "contribution", longid, sizeof(personnel) + 65, msg);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_string_equal(errstr, "supersedes is 65 bytes, more than 64");
        /* 64 bytes fit. */
        k = 0;
        longid[k++] = 0x80;
        longid[k++] = 0x01;
        memset(longid + k, 'b', 64);
        k += 64;
        memcpy(longid + k, rest, sizeof(rest));
        k += sizeof(rest);
        n = frame(avro, "training", longid, k, msg);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(strlen(got.event_id), 64);
}

/* Truncating or extending a valid message anywhere never crashes and is
 * always refused (short bodies) or reported as trailing bytes. */
static void test_every_truncation(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256], rel[128];
        tecg_event_t got;
        for (size_t i = 0; i < NGOLDEN; i++) {
                size_t n;
                snprintf(rel, sizeof(rel), "avro/events/%s.hex", golden[i].name);
                uint8_t *msg = tu_hex_file(rel, &n);
                for (size_t cut = 0; cut < n; cut++)
                        assert_int_not_equal(tecg_avro_decode_event(avro, msg, cut, &got, errstr,
                                                                    sizeof(errstr)),
                                             TECG_OK);
                uint8_t *longer = malloc(n + 1);
                memcpy(longer, msg, n);
                longer[n] = 0;
                assert_int_equal(
                        tecg_avro_decode_event(avro, longer, n + 1, &got, errstr, sizeof(errstr)),
                        TECG_ERR_INVALID);
                assert_non_null(strstr(errstr, "body longer than its schema"));
                free(longer);
                free(msg);
        }
}

/* Flipping any single byte of a valid message: decode either succeeds or
 * fails cleanly (ASan/valgrind watch the rest). */
static void test_every_byte_flip(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256], rel[128];
        tecg_event_t got;
        static const uint8_t flips[] = {0x01, 0x80, 0xff, 0x7f};
        for (size_t i = 0; i < NGOLDEN; i++) {
                size_t n;
                snprintf(rel, sizeof(rel), "avro/events/%s.hex", golden[i].name);
                uint8_t *msg = tu_hex_file(rel, &n);
                for (size_t at = 10; at < n; at++)
                        for (size_t f = 0; f < sizeof(flips); f++) {
                                msg[at] ^= flips[f];
                                tu_largest_alloc = 0;
                                tecg_err_t err = tecg_avro_decode_event(avro, msg, n, &got, errstr,
                                                                        sizeof(errstr));
                                assert_true(err == TECG_OK || err == TECG_ERR_INVALID);
                                assert_true(tu_largest_alloc <= 4096);
                                msg[at] ^= flips[f];
                        }
                free(msg);
        }
}

static void test_not_event_schema(void **state) {
        tecg_avro_t *avro = *state;
        static const char json[] = "{\"type\":\"record\",\"name\":\"Other\",\"namespace\":\"x\","
                                   "\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}";
        const tecg_avro_schema_t *s = NULL;
        char errstr[256];
        uint8_t body[] = {0x02}, msg[32];
        tecg_event_t got;

        assert_int_equal(tecg_avro_add_schema(avro, "other", json, sizeof(json) - 1, &s, errstr,
                                              sizeof(errstr)),
                         TECG_OK);
        assert_non_null(s);
        assert_false(tecg_avro_schema_is_event(s));
        assert_string_equal(tecg_avro_schema_fullname(s), "x.Other");
        assert_string_equal(tecg_avro_schema_canonical(s),
                            "{\"name\":\"x.Other\",\"type\":\"record\","
                            "\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}");
        size_t n = frame(avro, "other", body, sizeof(body), msg);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_string_equal(errstr, "schema other (x.Other) is not an event schema");

        assert_int_equal(
                tecg_avro_add_schema(avro, "broken", "{\"type\":", 8, &s, errstr, sizeof(errstr)),
                TECG_ERR_INVALID);
        assert_null(s);
        assert_non_null(strstr(errstr, "schema broken: line 1:"));
        assert_int_equal(tecg_avro_add_schema(avro, "bad", "{\"type\":\"zzz\"}", 14, &s, errstr,
                                              sizeof(errstr)),
                         TECG_ERR_INVALID);
}

static char *evo_schema(const char *name, size_t *len) {
        char rel[128];
        snprintf(rel, sizeof(rel), "avro/evolution/%s.avsc", name);
        return tu_slurp_data(rel, len);
}

static void test_evolution(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256];
        const tecg_avro_schema_t *s, *again;
        tecg_event_t got, want;
        size_t len, n;
        char *json;
        uint8_t *msg;

        /* Training v0: no venue (reader default null), an extra field. */
        json = evo_schema("training_v0", &len);
        assert_int_equal(
                tecg_avro_add_schema(avro, "training_v0", json, len, &s, errstr, sizeof(errstr)),
                TECG_OK);
        assert_true(tecg_avro_schema_is_event(s));
        size_t count = tecg_avro_schema_count(avro);
        assert_int_equal(
                tecg_avro_add_schema(avro, "again", json, len, &again, errstr, sizeof(errstr)),
                TECG_OK);
        assert_ptr_equal(again, s);
        assert_int_equal(tecg_avro_schema_count(avro), count);
        /* The reader is still what full-name lookups give. */
        assert_ptr_equal(tecg_avro_schema_by_name(avro, "org.tecg.TrainingCompletion"),
                         tecg_avro_schema_by_name(avro, "training"));
        free(json);
        msg = tu_hex_file("avro/evolution/training_v0.hex", &n);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        want = base(TECG_EV_TRAINING, "FRA-old-1", "FRA", 1100000000000, 60);
        want.u.training =
                (tecg_training_t){"Logistics", TECG_LVL_MIDDLE, TECG_LOC_IN_IRAQ, NULL, 12};
        assert_event_equal(&got, &want);
        /* The writer schema checks the body: cut off, it fails in a field
         * only the writer has. */
        assert_int_equal(tecg_avro_decode_event(avro, msg, 40, &got, errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_non_null(strstr(errstr, "field instructor"));
        free(msg);

        /* Contribution v0: Equipment without value/currency, quantity int,
         * a shorter FundingChannel. */
        json = evo_schema("contribution_v0", &len);
        assert_int_equal(tecg_avro_add_schema(avro, "contribution_v0", json, len, &s, errstr,
                                              sizeof(errstr)),
                         TECG_OK);
        free(json);
        msg = tu_hex_file("avro/evolution/contribution_v0_equipment.hex", &n);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        want = base(TECG_EV_EQUIPMENT, "NOR-old-2", "NOR", 1100000000000, -60);
        want.u.equipment = (tecg_equipment_t){"Radios", TECG_CAT_COMMUNICATIONS, -5, false, 0,
                                              "",       TECG_ES_ACCEPTED};
        assert_event_equal(&got, &want);
        free(msg);
        msg = tu_hex_file("avro/evolution/contribution_v0_funding.hex", &n);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        want = base(TECG_EV_FUNDING, "NOR-old-3", "NOR", 1100000000000, 0);
        want.u.funding = (tecg_funding_t){100, "NOK", TECG_CH_COMMON_FUNDING, TECG_FS_DISBURSED};
        assert_event_equal(&got, &want);
        free(msg);

        /* The built-in previous writers: messages from before `supersedes`
         * read with supersedes empty. */
        msg = tu_hex_file("avro/evolution/contribution_v1_funding.hex", &n);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        want = ev_funding_basic();
        assert_event_equal(&got, &want);
        free(msg);
        msg = tu_hex_file("avro/evolution/training_v1_venue.hex", &n);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        want = ev_training_venue();
        assert_event_equal(&got, &want);
        free(msg);

        /* Reordered enum symbols: refused up front. */
        json = evo_schema("contribution_badenum", &len);
        assert_int_equal(
                tecg_avro_add_schema(avro, "badenum", json, len, &s, errstr, sizeof(errstr)),
                TECG_ERR_INVALID);
        assert_null(s);
        assert_string_equal(errstr, "schema badenum cannot be read as contribution: "
                                    "enum FundingChannel: writer symbol 0 is "
                                    "COMMON_FUNDING, reader's is TRUST_FUND (Avro-C "
                                    "maps enum symbols by position; symbols may only "
                                    "be appended)");
        free(json);
}

/* Training writer schemas spelled out: the record with the four fields
 * every event has, then the fields given, each made with FIELD(). */
#define TRAINING_WRITER(...)                                                                       \
        "{\"type\":\"record\",\"name\":\"TrainingCompletion\","                                    \
        "\"namespace\":\"org.tecg\",\"fields\":[" FIELD("event_id", "\"string\"") "," FIELD(       \
                "nation", "\"string\"") "," FIELD("occurred_at",                                   \
                                                  "\"long\"") "," FIELD("utc_offset_minutes",      \
                                                                        "\"int\"") "," __VA_ARGS__ \
                                                                                   "]}"
#define FIELD(name, type) "{\"name\":\"" name "\",\"type\":" type "}"
#define ENUM(name, symbols) "{\"type\":\"enum\",\"name\":\"" name "\",\"symbols\":[" symbols "]}"

static void test_evolution_refusals(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256];
        const tecg_avro_schema_t *s;
        static const struct {
                const char *name, *json, *reason;
        } cases[] = {
                /* No course, and the reader has no default for it. */
                {"nocourse",
                 TRAINING_WRITER(FIELD("level", ENUM("TrainingLevel", "\"JUNIOR\"")) "," FIELD(
                         "location", ENUM("TrainingLocation", "\"IN_IRAQ\"")) "," FIELD("trainees",
                                                                                        "\"int\"")),
                 "schema nocourse cannot be read as training: writer record "
                 "TrainingCompletion lacks field course, which has no default "
                 "in the reader"},
                /* trainees as a string: not resolvable. Checked by the codec
                 * first: Avro-C 1.11.1 crashes on this one. */
                {"badtype",
                 TRAINING_WRITER(FIELD("course", "\"string\"") "," FIELD(
                         "level",
                         ENUM("TrainingLevel",
                              "\"JUNIOR\"")) "," FIELD("location",
                                                       ENUM("TrainingLocation",
                                                            "\"IN_IRAQ\"")) "," FIELD("trainees",
                                                                                      "\"string\"")),
                 "schema badtype cannot be read as training: field trainees: "
                 "writer string cannot be read as int"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_int_equal(tecg_avro_add_schema(avro, cases[i].name, cases[i].json,
                                                      strlen(cases[i].json), &s, errstr,
                                                      sizeof(errstr)),
                                 TECG_ERR_INVALID);
                assert_string_equal(errstr, cases[i].reason);
        }
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                assert_null(tecg_avro_schema_by_name(avro, cases[i].name));
}

/* A newer writer with an appended enum symbol: this reader does not know
 * index 3 and says so instead of inventing a value. */
static void test_newer_writer_enum(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256];
        const tecg_avro_schema_t *s;
        static const char v2[] = TRAINING_WRITER(
                FIELD("course", "\"string\"") "," FIELD("level", ENUM("TrainingLevel", "\"JUNIOR\",\"MIDDLE\",\"SENIOR\",\"GENERAL\"")) "," FIELD(
                        "location",
                        ENUM("TrainingLocation",
                             "\"IN_IRAQ\",\"OUTSIDE_IRAQ\"")) ","
                                                              "{\"name\":\"venue\",\"type\":[\"null\",\"string\"],\"default\":null}," FIELD(
                                                                      "trainees", "\"int\""));
        const uint8_t general[] = {HEAD, 0x00, 0x06, 0x00, 0x00, 0x02};
        const uint8_t senior[] = {HEAD, 0x00, 0x04, 0x02, 0x02, 0x02, 'V', 0x02};
        uint8_t msg[64];
        tecg_event_t got;

        assert_int_equal(tecg_avro_add_schema(avro, "training_v2", v2, sizeof(v2) - 1, &s, errstr,
                                              sizeof(errstr)),
                         TECG_OK);
        size_t n = frame(avro, "training_v2", general, sizeof(general), msg);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_string_equal(errstr, "level: symbol index 3 unknown to this reader");
        n = frame(avro, "training_v2", senior, sizeof(senior), msg);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(got.u.training.level, TECG_LVL_SENIOR);
        assert_int_equal(got.u.training.location, TECG_LOC_OUTSIDE_IRAQ);
        assert_string_equal(got.u.training.venue, "V");
}

/* A writer with writer-only fields of every Avro type (boolean, float,
 * double, bytes, fixed, array, map, a recursive record, enum, union):
 * fastavro's message decodes, and hostile variants fail in the right
 * place. The body is the first 20 bytes of fastavro's message (the
 * training fields and venue) and a tail written here. */
typedef struct {
        uint8_t b[512];
        size_t n;
} bytes_t;

static void put(bytes_t *x, const void *p, size_t n) {
        assert_true(x->n + n <= sizeof(x->b));
        memcpy(x->b + x->n, p, n);
        x->n += n;
}
#define PUT(x, ...) put((x), (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static void test_wide_writer(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[512], want[512];
        const tecg_avro_schema_t *s;
        tecg_event_t got, ev;
        size_t len, n;
        char *json = evo_schema("training_wide", &len);
        uint8_t *msg = tu_hex_file("avro/evolution/training_wide.hex", &n);
        uint8_t framed[600];

        assert_int_equal(
                tecg_avro_add_schema(avro, "training_wide", json, len, &s, errstr, sizeof(errstr)),
                TECG_OK);
        free(json);
        assert_int_equal(tecg_avro_decode_event(avro, msg, n, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        ev = base(TECG_EV_TRAINING, "ESP-w", "ESP", 1, 0);
        ev.u.training = (tecg_training_t){"C", TECG_LVL_SENIOR, TECG_LOC_OUTSIDE_IRAQ, "V", 3};
        assert_event_equal(&got, &ev);

        /* The same tail by hand, with a map in a sized block (count -1). */
        enum { PRE = 20 };
        bytes_t ok = {{0}, 0};
        put(&ok, msg + 10, PRE);
        PUT(&ok, 0x01);                              /* flag @20 */
        PUT(&ok, 0, 0, 0, 0x3f);                     /* ratio @21 */
        PUT(&ok, 0, 0, 0, 0, 0, 0, 0x02, 0xc0);      /* score @25 */
        PUT(&ok, 0x04, 0x00, 0xff);                  /* blob @33 */
        PUT(&ok, 'a', 'b', 'c', 'd');                /* digest @36 */
        PUT(&ok, 0x04, 0x02, 'x', 0x02, 'y', 0x00);  /* tags @40 */
        PUT(&ok, 0x01, 0x06, 0x02, 'k', 0x01, 0x00); /* counts @46 */
        PUT(&ok, 0x02, 0x00);                        /* extra @52 */
        PUT(&ok, 0x02);                              /* kind @54 */
        PUT(&ok, 0x00);                              /* opt @55 */
        size_t fn = frame(avro, "training_wide", ok.b, ok.n, framed);
        assert_int_equal(tecg_avro_decode_event(avro, framed, fn, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        assert_event_equal(&got, &ev);
        free(msg);

        struct {
                size_t at; /* replace the tail from here */
                uint8_t tail[200];
                size_t tlen;
                const char *reason; /* NULL: the block count case below */
        } cases[] = {
                {20, {0x02}, 1, "boolean byte 0x02 is neither 0 nor 1 (field flag, body byte 20)"},
                {21, {0, 0}, 2, "needs 4 bytes, 2 left (field ratio, body byte 21)"},
                {33, {0x01}, 1, "negative bytes length -1 (field blob, body byte 33)"},
                {40, {0xc8, 0x01}, 2, NULL},
                {40,
                 {0x01, 0x02},
                 2,
                 "array block size 1 does not fit the 0 bytes left (field "
                 "tags, body byte 40)"},
                {46,
                 {0x01, 0x7e, 0x00},
                 3,
                 "map block size 63 does not fit the 1 bytes left (field "
                 "counts, body byte 46)"},
                {46,
                 {0x02, 0x02, 0xff, 0x02, 0x00},
                 5,
                 "string is not valid UTF-8 (field counts, body byte 47)"},
                {54,
                 {0x04, 0x00},
                 2,
                 "enum index 2 out of range (2 symbols) (field kind, body byte 54)"},
                {55, {0x02, 'w', 'x'}, 3, "needs 4 bytes, 2 left (field opt, body byte 56)"},
                {55,
                 {0x00, 0x00},
                 2,
                 "body longer than its schema: 1 trailing bytes (body byte 56)"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bytes_t bad = {{0}, 0};
                put(&bad, ok.b, cases[i].at);
                put(&bad, cases[i].tail, cases[i].tlen);
                fn = frame(avro, "training_wide", bad.b, bad.n, framed);
                if (cases[i].reason)
                        snprintf(want, sizeof(want), "%s", cases[i].reason);
                else
                        snprintf(want, sizeof(want),
                                 "array block count 100 exceeds what the "
                                 "%zu-byte body can hold (field tags, body "
                                 "byte 40)",
                                 bad.n);
                tu_largest_alloc = 0;
                tecg_err_t err =
                        tecg_avro_decode_event(avro, framed, fn, &got, errstr, sizeof(errstr));
                if (err != TECG_ERR_INVALID || strcmp(errstr, want))
                        fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, err, errstr, want);
                assert_true(tu_largest_alloc <= 4096);
        }

        /* Recursion through a union, 70 deep: refused at depth 64. */
        bytes_t deep = {{0}, 0};
        put(&deep, ok.b, 52);
        for (int i = 0; i < 70; i++)
                PUT(&deep, 0x00, 0x02);     /* a = 0, nested = Extra */
        PUT(&deep, 0x00, 0x00, 0x02, 0x00); /* a = 0, null, kind, opt */
        fn = frame(avro, "training_wide", deep.b, deep.n, framed);
        assert_int_equal(tecg_avro_decode_event(avro, framed, fn, &got, errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_memory_equal(errstr, "value nested deeper than 64 (field extra.nested.Extra.nested",
                            strlen("value nested deeper than 64 (field extra.nested.Extra.nested"));
        /* 30 deep is fine, and Avro-C reads it. */
        deep.n = 52;
        for (int i = 0; i < 30; i++)
                PUT(&deep, 0x00, 0x02);
        PUT(&deep, 0x00, 0x00, 0x02, 0x00);
        fn = frame(avro, "training_wide", deep.b, deep.n, framed);
        assert_int_equal(tecg_avro_decode_event(avro, framed, fn, &got, errstr, sizeof(errstr)),
                         TECG_OK);
}

/* An extra branch in the writer's detail union: the reader could not read
 * it, so the writer is refused when added (not when the branch shows up). */
static void test_writer_extra_branch(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256];
        const tecg_avro_schema_t *s;
        size_t len;
        char *json = evo_schema("contribution_v0", &len);
        json_t *root = json_loadb(json, len, 0, NULL);
        assert_non_null(root);
        json_t *u = json_object_get(json_array_get(json_object_get(root, "fields"), 4), "type");
        json_array_append_new(u, json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "type", "record", "name",
                                           "Donation", "fields", "name", "what", "type", "string"));
        char *text = json_dumps(root, JSON_COMPACT);
        assert_int_equal(tecg_avro_add_schema(avro, "v0_donation", text, strlen(text), &s, errstr,
                                              sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_string_equal(errstr, "schema v0_donation cannot be read as contribution: "
                                    "field detail: writer Donation matches no branch of "
                                    "the reader's union");
        free(text);
        json_decref(root);
        free(json);
}

/* Decoded strings live in the codec's decode values: encoding meanwhile
 * does not disturb them. */
static void test_borrowed_strings(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256];
        tecg_buf_t b = TECG_BUF_INIT, b2 = TECG_BUF_INIT;
        tecg_event_t e = ev_equipment_value(), other = ev_equipment_novalue(), got;

        assert_int_equal(tecg_avro_encode_event(avro, &e, &b, errstr, sizeof(errstr)), TECG_OK);
        assert_int_equal(tecg_avro_decode_event(avro, b.data, b.len, &got, errstr, sizeof(errstr)),
                         TECG_OK);
        for (int i = 0; i < 100; i++) {
                tecg_buf_reset(&b2);
                assert_int_equal(tecg_avro_encode_event(avro, &other, &b2, errstr, sizeof(errstr)),
                                 TECG_OK);
        }
        assert_string_equal(got.u.equipment.item, "Unimog 435 trucks");
        tecg_buf_free(&b);
        tecg_buf_free(&b2);
}

/* Many messages through the same codec: values, readers and writers are
 * reused (valgrind checks that nothing leaks or grows). */
static void test_reuse(void **state) {
        tecg_avro_t *avro = *state;
        char errstr[256];
        tecg_buf_t b = TECG_BUF_INIT;
        tecg_event_t got;
        for (int i = 0; i < 20000; i++) {
                tecg_event_t e = golden[(size_t)i % NGOLDEN].make();
                e.occurred_at_ms += i;
                tecg_buf_reset(&b);
                assert_int_equal(tecg_avro_encode_event(avro, &e, &b, errstr, sizeof(errstr)),
                                 TECG_OK);
                assert_int_equal(
                        tecg_avro_decode_event(avro, b.data, b.len, &got, errstr, sizeof(errstr)),
                        TECG_OK);
                assert_true(got.occurred_at_ms == e.occurred_at_ms);
        }
        tecg_buf_free(&b);
}

int main(void) {
        avro_set_allocator(tu_counting_allocator, NULL);
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
                cmocka_unit_test(test_new_destroy),
                T(test_schemas),
                T(test_golden_encode),
                T(test_golden_decode),
                T(test_round_trip_matrix),
                T(test_round_trip_equipment_halves),
                T(test_encode_appends),
                T(test_encode_errors),
                T(test_confluent),
                T(test_unknown_fingerprint),
                T(test_hostile_bodies),
                T(test_every_truncation),
                T(test_every_byte_flip),
                T(test_not_event_schema),
                T(test_evolution),
                T(test_evolution_refusals),
                T(test_newer_writer_enum),
                T(test_wide_writer),
                T(test_writer_extra_branch),
                T(test_borrowed_strings),
                T(test_reuse),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
