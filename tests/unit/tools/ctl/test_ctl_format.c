/* tecg-ctl's view of messages (tools/ctl/ctl_format.h): events through the
 * codec, one case per type; nation states read generically only after the
 * walk; hostile bytes refused with a reason, never printed raw. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_format.h"
#include "framing.h"
#include "nation_state.h"
#include "state_codec.h"
#include "testutil.h"

static tecg_event_t base_event(tecg_event_type_t type) {
        tecg_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = type;
        snprintf(ev.event_id, sizeof(ev.event_id), "NLD-1");
        memcpy(ev.nation, "NLD", 4);
        ev.occurred_at_ms = tu_at(2005, 3, 1, 10, 0, 0, 60);
        ev.utc_offset_min = 60;
        return ev;
}

static const char *str(json_t *j, const char *key) {
        json_t *v = json_object_get(j, key);
        assert_non_null(v);
        return json_string_value(v);
}

static void test_event_json_one_case_per_type(void **state) {
        (void)state;
        tecg_event_t ev = base_event(TECG_EV_FUNDING);
        ev.u.funding.amount_minor = 65200000;
        memcpy(ev.u.funding.currency, "EUR", 4);
        ev.u.funding.stage = TECG_FS_DISBURSED;
        snprintf(ev.supersedes, sizeof(ev.supersedes), "NLD-0");
        json_t *j = tecg_ctl_event_json(&ev);
        assert_string_equal(str(j, "type"), "funding");
        assert_string_equal(str(j, "occurred_at"), "2005-03-01T10:00:00+01:00");
        assert_string_equal(str(j, "amount"), "652000.00");
        assert_string_equal(str(j, "stage"), "DISBURSED");
        assert_string_equal(str(j, "supersedes"), "NLD-0");
        json_decref(j);

        ev = base_event(TECG_EV_EQUIPMENT);
        ev.u.equipment.item = "Radios";
        ev.u.equipment.quantity = 3;
        j = tecg_ctl_event_json(&ev);
        assert_string_equal(str(j, "item"), "Radios");
        assert_null(json_object_get(j, "value"));
        assert_null(json_object_get(j, "supersedes"));
        json_decref(j);

        ev = base_event(TECG_EV_TRAINING);
        ev.u.training.course = "Staff course";
        ev.u.training.trainees = 11;
        j = tecg_ctl_event_json(&ev);
        assert_int_equal(json_integer_value(json_object_get(j, "trainees")), 11);
        assert_null(json_object_get(j, "venue"));
        json_decref(j);

        ev = base_event(TECG_EV_RETRACTION);
        snprintf(ev.u.retraction.retracts, sizeof(ev.u.retraction.retracts), "NLD-0");
        ev.u.retraction.retracts_type = TECG_EV_EQUIPMENT;
        ev.u.retraction.reason = "sent twice";
        j = tecg_ctl_event_json(&ev);
        assert_string_equal(str(j, "type"), "retraction");
        assert_string_equal(str(j, "retracts"), "NLD-0");
        assert_string_equal(str(j, "retracts_type"), "equipment");
        assert_string_equal(str(j, "reason"), "sent twice");
        json_decref(j);

        /* Money without minor units (JPY) and with three (KWD). */
        ev = base_event(TECG_EV_FUNDING);
        ev.u.funding.amount_minor = 150000;
        memcpy(ev.u.funding.currency, "JPY", 4);
        j = tecg_ctl_event_json(&ev);
        assert_string_equal(str(j, "amount"), "150000");
        json_decref(j);
        ev.u.funding.amount_minor = 1125;
        memcpy(ev.u.funding.currency, "KWD", 4);
        j = tecg_ctl_event_json(&ev);
        assert_string_equal(str(j, "amount"), "1.125");
        json_decref(j);
}

static void test_event_values_round_trip_and_hostile_ones_are_refused(void **state) {
        (void)state;
        char errstr[512];
        tecg_ctl_format_t *f = tecg_ctl_format_new(NULL, errstr, sizeof(errstr));
        assert_non_null(f);
        tecg_event_t ev = base_event(TECG_EV_PERSONNEL);
        ev.u.personnel.headcount = 40;
        tecg_buf_t b = TECG_BUF_INIT;
        assert_int_equal(
                tecg_avro_encode_event(tecg_ctl_format_avro(f), &ev, &b, errstr, sizeof(errstr)),
                TECG_OK);
        json_t *j = NULL;
        assert_int_equal(tecg_ctl_format_value(f, TECG_CTL_KIND_EVENT, b.data, b.len, &j, errstr,
                                               sizeof(errstr)),
                         TECG_OK);
        assert_string_equal(str(j, "type"), "personnel");
        assert_int_equal(json_integer_value(json_object_get(j, "headcount")), 40);
        json_decref(j);

        /* One byte short: the walk refuses it, nothing is shown. */
        assert_int_not_equal(tecg_ctl_format_value(f, TECG_CTL_KIND_EVENT, b.data, b.len - 1, &j,
                                                   errstr, sizeof(errstr)),
                             TECG_OK);
        assert_null(j);
        /* A Confluent id nobody knows, without a registry. */
        const uint8_t confluent[] = {0, 0, 0, 0, 7, 2, 'a'};
        assert_int_equal(tecg_ctl_format_value(f, TECG_CTL_KIND_EVENT, confluent, sizeof(confluent),
                                               &j, errstr, sizeof(errstr)),
                         TECG_ERR_NOT_FOUND);
        assert_non_null(strstr(errstr, "7"));

        /* The whole message: value_error and value_base64 for bad bytes,
         * a key that is no text as base64. */
        const uint8_t key[] = {0xff, 0x00};
        tecg_ctl_header_t h[] = {{"tecg.stage", "decode", 6}, {"x", NULL, 0}, {"x", "2", 1}};
        tecg_ctl_msg_t m = {.topic = "tecg.dead-letter",
                            .partition = 1,
                            .offset = 9,
                            .timestamp_ms = 1000,
                            .key = key,
                            .key_len = sizeof(key),
                            .value = "{}",
                            .len = 2,
                            .headers = h,
                            .nheaders = 3};
        j = tecg_ctl_format_message(f, TECG_CTL_KIND_DEAD_LETTER, &m);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "key"), "base64")),
                            "/wA=");
        assert_string_equal(str(j, "value_base64"), "e30=");
        assert_non_null(strstr(str(j, "value_error"), "magic byte"));
        assert_null(json_object_get(j, "value"));
        json_t *hdrs = json_object_get(j, "headers");
        assert_string_equal(str(hdrs, "tecg.stage"), "decode");
        assert_int_equal(json_array_size(json_object_get(hdrs, "x")), 2);
        assert_string_equal(str(j, "time"), "1970-01-01T00:00:01.000Z");
        json_decref(j);
        tecg_buf_free(&b);
        tecg_ctl_format_destroy(f);
}

static void test_nation_state_is_read_generically_after_the_walk(void **state) {
        (void)state;
        char errstr[512];
        tecg_ctl_format_t *f = tecg_ctl_format_new(NULL, errstr, sizeof(errstr));
        tecg_state_codec_t *sc = tecg_state_codec_new(errstr, sizeof(errstr));
        tecg_nation_state_t *st = tecg_nation_state_new("NLD");
        assert_non_null(f);
        assert_non_null(sc);
        assert_non_null(st);
        tecg_event_t ev = base_event(TECG_EV_TRAINING);
        ev.u.training.course = "c";
        ev.u.training.trainees = 20;
        bool changed = false;
        assert_int_equal(tecg_nation_state_apply(st, &ev, &changed, errstr, sizeof(errstr)),
                         TECG_OK);
        tecg_buf_t b = TECG_BUF_INIT;
        assert_int_equal(tecg_state_codec_encode(sc, st, &b, errstr, sizeof(errstr)), TECG_OK);
        json_t *j = NULL;
        assert_int_equal(tecg_ctl_format_value(f, TECG_CTL_KIND_AVRO, b.data, b.len, &j, errstr,
                                               sizeof(errstr)),
                         TECG_OK);
        assert_string_equal(str(j, "nation"), "NLD");
        assert_int_equal(json_integer_value(json_object_get(j, "events")), 1);
        json_decref(j);

        /* A string length far past the body: refused by the walk before
         * Avro-C could allocate it. Byte 10 is the nation's length. */
        uint8_t *bad = malloc(b.len);
        memcpy(bad, b.data, b.len);
        bad[10] = 0x7e;
        assert_int_equal(tecg_ctl_format_value(f, TECG_CTL_KIND_AVRO, bad, b.len, &j, errstr,
                                               sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_non_null(strstr(errstr, "nation_state"));
        /* An unknown fingerprint is named. */
        memcpy(bad, b.data, b.len);
        bad[2] ^= 0xff;
        assert_int_equal(tecg_ctl_format_value(f, TECG_CTL_KIND_AVRO, bad, b.len, &j, errstr,
                                               sizeof(errstr)),
                         TECG_ERR_NOT_FOUND);
        assert_non_null(strstr(errstr, "fingerprint"));
        free(bad);
        tecg_buf_free(&b);
        tecg_nation_state_destroy(st);
        tecg_state_codec_destroy(sc);
        tecg_ctl_format_destroy(f);
}

/* States written by the earlier versions of the schema (v1: before the
 * last_* fields; v2: before the months and corrections) still show: the
 * current schema without its trailing defaulted fields is known too. The
 * bytes are the state codec's golden files of those versions. */
static void test_older_nation_state_shows(void **state) {
        (void)state;
        char errstr[512];
        tecg_ctl_format_t *f = tecg_ctl_format_new(NULL, errstr, sizeof(errstr));
        assert_non_null(f);
        static const char *const files[] = {"state/full_v1.hex", "state/full_v2.hex"};
        for (size_t i = 0; i < 2; i++) {
                size_t n;
                uint8_t *old = tu_hex_file(files[i], &n);
                json_t *j = NULL;
                assert_int_equal(tecg_ctl_format_value(f, TECG_CTL_KIND_AVRO, old, n, &j, errstr,
                                                       sizeof(errstr)),
                                 TECG_OK);
                assert_non_null(str(j, "nation"));
                assert_null(json_object_get(j, "funding_months"));
                assert_null(json_object_get(j, "recent_corrections"));
                if (i == 0)
                        assert_null(json_object_get(j, "last_funding"));
                else
                        assert_non_null(json_object_get(j, "last_funding"));
                json_decref(j);
                free(old);
        }
        tecg_ctl_format_destroy(f);
}

static void test_text_json_and_topic_kinds(void **state) {
        (void)state;
        char errstr[256];
        tecg_ctl_format_t *f = tecg_ctl_format_new(NULL, errstr, sizeof(errstr));
        json_t *j = NULL;
        assert_int_equal(
                tecg_ctl_format_value(f, TECG_CTL_KIND_TEXT, "42", 2, &j, errstr, sizeof(errstr)),
                TECG_OK);
        assert_string_equal(json_string_value(j), "42");
        json_decref(j);
        assert_int_equal(
                tecg_ctl_format_value(f, TECG_CTL_KIND_TEXT, "\xc3", 1, &j, errstr, sizeof(errstr)),
                TECG_ERR_INVALID);
        assert_int_equal(tecg_ctl_format_value(f, TECG_CTL_KIND_JSON, "{\"a\":1,\"a\":2}", 13, &j,
                                               errstr, sizeof(errstr)),
                         TECG_ERR_INVALID);
        assert_int_equal(tecg_ctl_format_value(f, TECG_CTL_KIND_JSON, "{\"version\":3}", 13, &j,
                                               errstr, sizeof(errstr)),
                         TECG_OK);
        assert_int_equal(json_integer_value(json_object_get(j, "version")), 3);
        json_decref(j);

        /* Escape sequences from Kafka never reach a terminal. */
        char text[] = "a\x1b[2Jb\x7f\xc2\x9b\xc3\xa4";
        assert_string_equal(tecg_ctl_printable(text), "a?[2Jb???\xc3\xa4");

        assert_int_equal(tecg_ctl_kind_of("tecg.", "tecg.contributions"), TECG_CTL_KIND_EVENT);
        assert_int_equal(tecg_ctl_kind_of("tecg.", "tecg.training-completions"),
                         TECG_CTL_KIND_EVENT);
        assert_int_equal(tecg_ctl_kind_of("tecg.", "tecg.nation-state"), TECG_CTL_KIND_AVRO);
        assert_int_equal(tecg_ctl_kind_of("tecg.", "tecg.event-ids"), TECG_CTL_KIND_TEXT);
        assert_int_equal(tecg_ctl_kind_of("tecg.", "tecg.dashboards"), TECG_CTL_KIND_JSON);
        assert_int_equal(tecg_ctl_kind_of("tecg.", "tecg.dead-letter"), TECG_CTL_KIND_DEAD_LETTER);
        assert_int_equal(tecg_ctl_kind_of("tecg.", "other.contributions"), -1);
        assert_int_equal(tecg_ctl_kind_of("tecg.", "tecg.contributionsX"), -1);
        tecg_ctl_format_destroy(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_event_json_one_case_per_type),
                cmocka_unit_test(test_event_values_round_trip_and_hostile_ones_are_refused),
                cmocka_unit_test(test_nation_state_is_read_generically_after_the_walk),
                cmocka_unit_test(test_older_nation_state_shows),
                cmocka_unit_test(test_text_json_and_topic_kinds),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
