/* The contract the aggregator checks on a decoded event
 * (consumers/aggregator/contract.h): one table row per rule of contract.c,
 * each with the exact reason the dead letter will carry, plus the
 * boundaries that must still pass. The reason is what an operator reads in
 * the tecg.error header, so its wording is pinned here, not just the code.
 *
 * Every row starts from a valid event of its type (base()) and changes one
 * thing (the row's mutate function); a row with reason NULL must pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "contract.h"
#include "event.h"
#include "refdata.h"
#include "testutil.h"

/* Long texts the rows point at: 200 and 201 characters, in ASCII and in
 * two-byte UTF-8 ("é"), so the limit is seen to count characters, not
 * bytes. Filled once by setup(). */
static char ascii200[201], ascii201[202];
static char utf8_200[401], utf8_201[403];
static char id64[65], id65[66];
static char reason500[1001], reason501[1003]; /* "é" x 500, x 501 */

static tecg_nations_t *nations;

static void fill(char *out, const char *unit, size_t times) {
        size_t n = strlen(unit);
        for (size_t i = 0; i < times; i++)
                memcpy(out + i * n, unit, n);
        out[times * n] = '\0';
}

static int setup(void **state) {
        (void)state;
        char err[256];
        fill(ascii200, "a", 200);
        fill(ascii201, "a", 201);
        fill(utf8_200, "\xc3\xa9", 200);
        fill(utf8_201, "\xc3\xa9", 201);
        fill(id64, "x", 64);
        fill(id65, "x", 65);
        fill(reason500, "\xc3\xa9", 500);
        fill(reason501, "\xc3\xa9", 501);
        static const char csv[] = "code,name,status\n"
                                  "NLD,Netherlands,member\n"
                                  "DEU,Germany,member\n"
                                  "AUS,Australia,partner\n";
        nations = tecg_nations_parse(csv, sizeof(csv) - 1, "test.csv", err, sizeof(err));
        if (!nations) {
                fprintf(stderr, "nations: %s\n", err);
                return -1;
        }
        return 0;
}

static int teardown(void **state) {
        (void)state;
        tecg_nations_destroy(nations);
        nations = NULL;
        return 0;
}

/* A valid event of `type` for NLD, as the validator would fill it. */
static tecg_event_t base(tecg_event_type_t type) {
        tecg_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = type;
        snprintf(ev.event_id, sizeof(ev.event_id), "NLD-2005-000123");
        memcpy(ev.nation, "NLD", 4);
        ev.occurred_at_ms = tu_at(2005, 2, 22, 12, 0, 0, 180);
        ev.utc_offset_min = 180;
        switch (type) {
        case TECG_EV_FUNDING:
                ev.u.funding = (tecg_funding_t){.amount_minor = 150000,
                                                .currency = "EUR",
                                                .channel = TECG_CH_TRUST_FUND,
                                                .stage = TECG_FS_PLEDGED};
                break;
        case TECG_EV_EQUIPMENT:
                ev.u.equipment = (tecg_equipment_t){.item = "Land Rover Defender",
                                                    .category = TECG_CAT_VEHICLES,
                                                    .quantity = 12,
                                                    .has_value = true,
                                                    .value_minor = 40000000,
                                                    .currency = "GBP",
                                                    .stage = TECG_ES_OFFERED};
                break;
        case TECG_EV_PERSONNEL:
                ev.u.personnel = (tecg_personnel_t){
                        .role = TECG_ROLE_TRAINER, .location = TECG_LOC_IN_IRAQ, .headcount = 25};
                break;
        case TECG_EV_TRAINING:
                ev.u.training = (tecg_training_t){.course = "Staff officer course",
                                                  .level = TECG_LVL_MIDDLE,
                                                  .location = TECG_LOC_OUTSIDE_IRAQ,
                                                  .venue = "Ar Rustamiyah",
                                                  .trainees = 30};
                break;
        case TECG_EV_RETRACTION:
                snprintf(ev.u.retraction.retracts, sizeof(ev.u.retraction.retracts),
                         "NLD-2005-000100");
                ev.u.retraction.retracts_type = TECG_EV_FUNDING;
                ev.u.retraction.reason = "8,100,000 reported instead of 810,000";
                break;
        case TECG_EV__COUNT:
                break;
        }
        return ev;
}

/* ---- the mutations, one per row ------------------------------------- */

static void m_none(tecg_event_t *e) {
        (void)e;
}
static void m_id_empty(tecg_event_t *e) {
        e->event_id[0] = '\0';
}
static void m_id_64(tecg_event_t *e) {
        memcpy(e->event_id, id64, sizeof(id64));
}
static void m_id_all_chars(tecg_event_t *e) {
        snprintf(e->event_id, sizeof(e->event_id), "AZaz09._:-");
}
static void m_id_space(tecg_event_t *e) {
        snprintf(e->event_id, sizeof(e->event_id), "NLD 1");
}
static void m_id_slash(tecg_event_t *e) {
        /* '/' separates nation and id in tecg.event-ids keys. */
        snprintf(e->event_id, sizeof(e->event_id), "NLD/1");
}
static void m_id_utf8(tecg_event_t *e) {
        snprintf(e->event_id, sizeof(e->event_id), "NLD-\xc3\xa9");
}
static void m_nation_short(tecg_event_t *e) {
        memcpy(e->nation, "NL", 3);
}
static void m_nation_lower(tecg_event_t *e) {
        memcpy(e->nation, "nld", 4);
}
static void m_nation_digit(tecg_event_t *e) {
        memcpy(e->nation, "N1D", 4);
}
static void m_nation_unlisted(tecg_event_t *e) {
        memcpy(e->nation, "ZZZ", 4);
}
static void m_nation_partner(tecg_event_t *e) {
        memcpy(e->nation, "AUS", 4);
}
static void m_off_max(tecg_event_t *e) {
        e->utc_offset_min = 24 * 60 - 1;
}
static void m_off_min(tecg_event_t *e) {
        e->utc_offset_min = -(24 * 60 - 1);
}
static void m_off_plus_day(tecg_event_t *e) {
        e->utc_offset_min = 24 * 60;
}
static void m_off_minus_day(tecg_event_t *e) {
        e->utc_offset_min = -24 * 60;
}
static void m_amount_zero(tecg_event_t *e) {
        e->u.funding.amount_minor = 0;
}
static void m_amount_negative(tecg_event_t *e) {
        e->u.funding.amount_minor = -1;
}
static void m_amount_one(tecg_event_t *e) {
        e->u.funding.amount_minor = 1;
}
static void m_amount_max(tecg_event_t *e) {
        e->u.funding.amount_minor = INT64_MAX;
}
static void m_funding_xxx(tecg_event_t *e) {
        memcpy(e->u.funding.currency, "XXX", 4);
}
static void m_funding_lower(tecg_event_t *e) {
        memcpy(e->u.funding.currency, "eur", 4);
}
static void m_funding_empty(tecg_event_t *e) {
        e->u.funding.currency[0] = '\0';
}
static void m_funding_old(tecg_event_t *e) {
        /* Withdrawn since 2005 but in the seed's reports. */
        memcpy(e->u.funding.currency, "SKK", 4);
}
static void m_item_null(tecg_event_t *e) {
        e->u.equipment.item = NULL;
}
static void m_item_empty(tecg_event_t *e) {
        e->u.equipment.item = "";
}
static void m_item_200(tecg_event_t *e) {
        e->u.equipment.item = ascii200;
}
static void m_item_201(tecg_event_t *e) {
        e->u.equipment.item = ascii201;
}
static void m_item_utf8_200(tecg_event_t *e) {
        e->u.equipment.item = utf8_200;
}
static void m_item_utf8_201(tecg_event_t *e) {
        e->u.equipment.item = utf8_201;
}
static void m_quantity_zero(tecg_event_t *e) {
        e->u.equipment.quantity = 0;
}
static void m_quantity_negative(tecg_event_t *e) {
        e->u.equipment.quantity = -3;
}
static void m_no_value(tecg_event_t *e) {
        /* Without a value, value and currency are not looked at. */
        e->u.equipment.has_value = false;
        e->u.equipment.value_minor = -5;
        memcpy(e->u.equipment.currency, "???", 4);
}
static void m_value_zero(tecg_event_t *e) {
        e->u.equipment.value_minor = 0;
}
static void m_value_negative(tecg_event_t *e) {
        e->u.equipment.value_minor = -1;
}
static void m_equipment_xxx(tecg_event_t *e) {
        memcpy(e->u.equipment.currency, "ABC", 4);
}
static void m_equipment_nocur(tecg_event_t *e) {
        e->u.equipment.currency[0] = '\0';
}
static void m_headcount_zero(tecg_event_t *e) {
        e->u.personnel.headcount = 0;
}
static void m_headcount_negative(tecg_event_t *e) {
        e->u.personnel.headcount = -1;
}
static void m_course_null(tecg_event_t *e) {
        e->u.training.course = NULL;
}
static void m_course_empty(tecg_event_t *e) {
        e->u.training.course = "";
}
static void m_course_201(tecg_event_t *e) {
        e->u.training.course = utf8_201;
}
static void m_course_200(tecg_event_t *e) {
        e->u.training.course = utf8_200;
}
static void m_venue_absent(tecg_event_t *e) {
        e->u.training.venue = NULL;
}
static void m_venue_empty(tecg_event_t *e) {
        e->u.training.venue = "";
}
static void m_venue_201(tecg_event_t *e) {
        e->u.training.venue = ascii201;
}
static void m_trainees_zero(tecg_event_t *e) {
        e->u.training.trainees = 0;
}
static void m_trainees_negative(tecg_event_t *e) {
        e->u.training.trainees = -7;
}
static void m_supersedes(tecg_event_t *e) {
        snprintf(e->supersedes, sizeof(e->supersedes), "NLD-2005-000100");
}
static void m_supersedes_64(tecg_event_t *e) {
        memcpy(e->supersedes, id64, sizeof(id64));
}
static void m_supersedes_self(tecg_event_t *e) {
        memcpy(e->supersedes, e->event_id, sizeof(e->supersedes));
}
static void m_supersedes_slash(tecg_event_t *e) {
        snprintf(e->supersedes, sizeof(e->supersedes), "NLD/1");
}
static void m_supersedes_and_amount(tecg_event_t *e) {
        m_supersedes_slash(e);
        e->u.funding.amount_minor = 0;
}
static void m_retracts_empty(tecg_event_t *e) {
        e->u.retraction.retracts[0] = '\0';
}
static void m_retracts_self(tecg_event_t *e) {
        memcpy(e->u.retraction.retracts, e->event_id, sizeof(e->u.retraction.retracts));
}
static void m_retracts_space(tecg_event_t *e) {
        snprintf(e->u.retraction.retracts, sizeof(e->u.retraction.retracts), "NLD 1");
}
static void m_retracts_64(tecg_event_t *e) {
        memcpy(e->u.retraction.retracts, id64, sizeof(id64));
}
static void m_retracts_training(tecg_event_t *e) {
        e->u.retraction.retracts_type = TECG_EV_TRAINING;
}
static void m_retracts_retraction(tecg_event_t *e) {
        e->u.retraction.retracts_type = TECG_EV_RETRACTION;
}
static void m_retracts_minus(tecg_event_t *e) {
        e->u.retraction.retracts_type = (tecg_event_type_t)-1;
}
static void m_reason_null(tecg_event_t *e) {
        e->u.retraction.reason = NULL;
}
static void m_reason_empty(tecg_event_t *e) {
        e->u.retraction.reason = "";
}
static void m_reason_500(tecg_event_t *e) {
        e->u.retraction.reason = reason500;
}
static void m_reason_501(tecg_event_t *e) {
        e->u.retraction.reason = reason501;
}
static void m_retraction_supersedes(tecg_event_t *e) {
        m_supersedes(e);
}
static void m_retraction_nation(tecg_event_t *e) {
        memcpy(e->nation, "ZZZ", 4);
        e->u.retraction.reason = "";
}

static void m_type_count(tecg_event_t *e) {
        e->type = TECG_EV__COUNT;
}
static void m_type_99(tecg_event_t *e) {
        e->type = (tecg_event_type_t)99;
}

/* Several rules broken at once: the reason names the first rule in
 * contract.c's order (event_id, nation, list, offset, then the type's
 * fields), so an operator fixes one thing at a time in a stable order. */
static void m_id_and_nation(tecg_event_t *e) {
        e->event_id[0] = '\0';
        memcpy(e->nation, "nld", 4);
}
static void m_nation_and_offset(tecg_event_t *e) {
        memcpy(e->nation, "ZZZ", 4);
        e->utc_offset_min = 5000;
}
static void m_offset_and_amount(tecg_event_t *e) {
        e->utc_offset_min = 5000;
        e->u.funding.amount_minor = 0;
}
static void m_amount_and_currency(tecg_event_t *e) {
        e->u.funding.amount_minor = 0;
        memcpy(e->u.funding.currency, "XXX", 4);
}
static void m_item_and_quantity(tecg_event_t *e) {
        e->u.equipment.item = "";
        e->u.equipment.quantity = 0;
}
static void m_quantity_and_value(tecg_event_t *e) {
        e->u.equipment.quantity = 0;
        e->u.equipment.value_minor = -1;
}
static void m_course_and_venue(tecg_event_t *e) {
        e->u.training.course = "";
        e->u.training.venue = "";
}
static void m_venue_and_trainees(tecg_event_t *e) {
        e->u.training.venue = "";
        e->u.training.trainees = 0;
}

/* ---- the table ------------------------------------------------------ */

typedef struct {
        const char *name;
        tecg_event_type_t type;
        void (*mutate)(tecg_event_t *);
        bool any_nation;    /* check with nations == NULL */
        const char *reason; /* NULL: TECG_OK */
} contract_case_t;

#define OK NULL
#define ID_RULE "field 'event_id': must be 1-64 characters of [A-Za-z0-9._:-]"
#define NATION_RULE "field 'nation': must be 3 upper-case letters"

static const contract_case_t cases[] = {
        /* every type's base event is valid */
        {"funding", TECG_EV_FUNDING, m_none, false, OK},
        {"equipment", TECG_EV_EQUIPMENT, m_none, false, OK},
        {"personnel", TECG_EV_PERSONNEL, m_none, false, OK},
        {"training", TECG_EV_TRAINING, m_none, false, OK},

        /* event_id: 1-64 chars of [A-Za-z0-9._:-] */
        {"id empty", TECG_EV_PERSONNEL, m_id_empty, false, ID_RULE},
        {"id 64 chars", TECG_EV_PERSONNEL, m_id_64, false, OK},
        {"id every allowed char", TECG_EV_PERSONNEL, m_id_all_chars, false, OK},
        {"id space", TECG_EV_PERSONNEL, m_id_space, false, ID_RULE},
        {"id slash", TECG_EV_PERSONNEL, m_id_slash, false, ID_RULE},
        {"id non-ASCII", TECG_EV_PERSONNEL, m_id_utf8, false, ID_RULE},

        /* nation: 3 upper-case letters, in the list when there is one */
        {"nation 2 letters", TECG_EV_FUNDING, m_nation_short, false, NATION_RULE},
        {"nation lower case", TECG_EV_FUNDING, m_nation_lower, false, NATION_RULE},
        {"nation digit", TECG_EV_FUNDING, m_nation_digit, false, NATION_RULE},
        {"nation lower case, any nation", TECG_EV_FUNDING, m_nation_lower, true, NATION_RULE},
        {"nation not listed", TECG_EV_FUNDING, m_nation_unlisted, false,
         "field 'nation': ZZZ is not in the nations list"},
        {"nation not listed, any nation", TECG_EV_FUNDING, m_nation_unlisted, true, OK},
        {"nation partner", TECG_EV_TRAINING, m_nation_partner, false, OK},

        /* occurred_at: offset strictly inside (-24 h, +24 h) */
        {"offset +23:59", TECG_EV_PERSONNEL, m_off_max, false, OK},
        {"offset -23:59", TECG_EV_PERSONNEL, m_off_min, false, OK},
        {"offset +24:00", TECG_EV_PERSONNEL, m_off_plus_day, false,
         "field 'occurred_at': offset of 1440 minutes is out of range"},
        {"offset -24:00", TECG_EV_PERSONNEL, m_off_minus_day, false,
         "field 'occurred_at': offset of -1440 minutes is out of range"},

        /* funding: amount > 0, known currency */
        {"amount 0", TECG_EV_FUNDING, m_amount_zero, false, "field 'amount': must be > 0"},
        {"amount -1", TECG_EV_FUNDING, m_amount_negative, false, "field 'amount': must be > 0"},
        {"amount 1", TECG_EV_FUNDING, m_amount_one, false, OK},
        {"amount INT64_MAX", TECG_EV_FUNDING, m_amount_max, false, OK},
        {"funding currency XXX", TECG_EV_FUNDING, m_funding_xxx, false,
         "field 'currency': unknown ISO 4217 code \"XXX\""},
        {"funding currency lower case", TECG_EV_FUNDING, m_funding_lower, false,
         "field 'currency': unknown ISO 4217 code \"eur\""},
        {"funding currency empty", TECG_EV_FUNDING, m_funding_empty, false,
         "field 'currency': unknown ISO 4217 code \"\""},
        {"funding currency withdrawn", TECG_EV_FUNDING, m_funding_old, false, OK},

        /* equipment: item text, quantity > 0, optional value >= 0 with a
         * known currency */
        {"item NULL", TECG_EV_EQUIPMENT, m_item_null, false,
         "field 'item': must be 1-200 characters (got 0)"},
        {"item empty", TECG_EV_EQUIPMENT, m_item_empty, false,
         "field 'item': must be 1-200 characters (got 0)"},
        {"item 200 chars", TECG_EV_EQUIPMENT, m_item_200, false, OK},
        {"item 201 chars", TECG_EV_EQUIPMENT, m_item_201, false,
         "field 'item': must be 1-200 characters (got 201)"},
        {"item 200 two-byte chars", TECG_EV_EQUIPMENT, m_item_utf8_200, false, OK},
        {"item 201 two-byte chars", TECG_EV_EQUIPMENT, m_item_utf8_201, false,
         "field 'item': must be 1-200 characters (got 201)"},
        {"quantity 0", TECG_EV_EQUIPMENT, m_quantity_zero, false, "field 'quantity': must be > 0"},
        {"quantity -3", TECG_EV_EQUIPMENT, m_quantity_negative, false,
         "field 'quantity': must be > 0"},
        {"no value", TECG_EV_EQUIPMENT, m_no_value, false, OK},
        {"value 0", TECG_EV_EQUIPMENT, m_value_zero, false, OK},
        {"value -1", TECG_EV_EQUIPMENT, m_value_negative, false, "field 'value': must be >= 0"},
        {"equipment currency ABC", TECG_EV_EQUIPMENT, m_equipment_xxx, false,
         "field 'currency': unknown ISO 4217 code \"ABC\""},
        {"value without currency", TECG_EV_EQUIPMENT, m_equipment_nocur, false,
         "field 'currency': unknown ISO 4217 code \"\""},

        /* personnel: headcount >= 0 (0 reports a withdrawal) */
        {"headcount 0", TECG_EV_PERSONNEL, m_headcount_zero, false, OK},
        {"headcount -1", TECG_EV_PERSONNEL, m_headcount_negative, false,
         "field 'headcount': must be >= 0"},

        /* training: course text, optional venue text, trainees > 0 */
        {"course NULL", TECG_EV_TRAINING, m_course_null, false,
         "field 'course': must be 1-200 characters (got 0)"},
        {"course empty", TECG_EV_TRAINING, m_course_empty, false,
         "field 'course': must be 1-200 characters (got 0)"},
        {"course 200 two-byte chars", TECG_EV_TRAINING, m_course_200, false, OK},
        {"course 201 two-byte chars", TECG_EV_TRAINING, m_course_201, false,
         "field 'course': must be 1-200 characters (got 201)"},
        {"venue absent", TECG_EV_TRAINING, m_venue_absent, false, OK},
        {"venue empty", TECG_EV_TRAINING, m_venue_empty, false,
         "field 'venue': must be 1-200 characters (got 0)"},
        {"venue 201 chars", TECG_EV_TRAINING, m_venue_201, false,
         "field 'venue': must be 1-200 characters (got 201)"},
        {"trainees 0", TECG_EV_TRAINING, m_trainees_zero, false, "field 'trainees': must be > 0"},
        {"trainees -7", TECG_EV_TRAINING, m_trainees_negative, false,
         "field 'trainees': must be > 0"},

        /* supersedes: another event's id (docs/design.md §2.9) */
        {"funding supersedes", TECG_EV_FUNDING, m_supersedes, false, OK},
        {"equipment supersedes", TECG_EV_EQUIPMENT, m_supersedes, false, OK},
        {"personnel supersedes", TECG_EV_PERSONNEL, m_supersedes, false, OK},
        {"training supersedes", TECG_EV_TRAINING, m_supersedes, false, OK},
        {"supersedes 64 chars", TECG_EV_TRAINING, m_supersedes_64, false, OK},
        {"supersedes itself", TECG_EV_PERSONNEL, m_supersedes_self, false,
         "field 'supersedes': must name another event, not the event's own event_id "
         "\"NLD-2005-000123\""},
        {"supersedes slash", TECG_EV_EQUIPMENT, m_supersedes_slash, false,
         "field 'supersedes': must be 1-64 characters of [A-Za-z0-9._:-]"},
        {"supersedes before amount", TECG_EV_FUNDING, m_supersedes_and_amount, false,
         "field 'supersedes': must be 1-64 characters of [A-Za-z0-9._:-]"},

        /* retraction: retracts another event of a counted type, with a
         * reason of 1-500 characters */
        {"retraction", TECG_EV_RETRACTION, m_none, false, OK},
        {"retraction of training", TECG_EV_RETRACTION, m_retracts_training, false, OK},
        {"retracts 64 chars", TECG_EV_RETRACTION, m_retracts_64, false, OK},
        {"retracts empty", TECG_EV_RETRACTION, m_retracts_empty, false,
         "field 'retracts': must be 1-64 characters of [A-Za-z0-9._:-]"},
        {"retracts space", TECG_EV_RETRACTION, m_retracts_space, false,
         "field 'retracts': must be 1-64 characters of [A-Za-z0-9._:-]"},
        {"retracts itself", TECG_EV_RETRACTION, m_retracts_self, false,
         "field 'retracts': must name another event, not the event's own event_id "
         "\"NLD-2005-000123\""},
        {"retracts a retraction", TECG_EV_RETRACTION, m_retracts_retraction, false,
         "field 'retracts_type': must be one of funding|equipment|personnel|training (got 4)"},
        {"retracts type -1", TECG_EV_RETRACTION, m_retracts_minus, false,
         "field 'retracts_type': must be one of funding|equipment|personnel|training (got -1)"},
        {"reason NULL", TECG_EV_RETRACTION, m_reason_null, false,
         "field 'reason': must be 1-500 characters (got 0)"},
        {"reason empty", TECG_EV_RETRACTION, m_reason_empty, false,
         "field 'reason': must be 1-500 characters (got 0)"},
        {"reason 500 two-byte chars", TECG_EV_RETRACTION, m_reason_500, false, OK},
        {"reason 501 two-byte chars", TECG_EV_RETRACTION, m_reason_501, false,
         "field 'reason': must be 1-500 characters (got 501)"},
        {"retraction with supersedes", TECG_EV_RETRACTION, m_retraction_supersedes, false,
         "field 'supersedes': unknown field for type retraction"},
        {"retraction nation first", TECG_EV_RETRACTION, m_retraction_nation, false,
         "field 'nation': ZZZ is not in the nations list"},

        /* type: one of the five */
        {"type __COUNT", TECG_EV_PERSONNEL, m_type_count, false,
         "field 'type': unknown event type 5"},
        {"type 99", TECG_EV_PERSONNEL, m_type_99, false, "field 'type': unknown event type 99"},

        /* the first broken rule is the one reported */
        {"id before nation", TECG_EV_FUNDING, m_id_and_nation, false, ID_RULE},
        {"list before offset", TECG_EV_FUNDING, m_nation_and_offset, false,
         "field 'nation': ZZZ is not in the nations list"},
        {"offset before amount", TECG_EV_FUNDING, m_offset_and_amount, false,
         "field 'occurred_at': offset of 5000 minutes is out of range"},
        {"amount before currency", TECG_EV_FUNDING, m_amount_and_currency, false,
         "field 'amount': must be > 0"},
        {"item before quantity", TECG_EV_EQUIPMENT, m_item_and_quantity, false,
         "field 'item': must be 1-200 characters (got 0)"},
        {"quantity before value", TECG_EV_EQUIPMENT, m_quantity_and_value, false,
         "field 'quantity': must be > 0"},
        {"course before venue", TECG_EV_TRAINING, m_course_and_venue, false,
         "field 'course': must be 1-200 characters (got 0)"},
        {"venue before trainees", TECG_EV_TRAINING, m_venue_and_trainees, false,
         "field 'venue': must be 1-200 characters (got 0)"},
};

static void test_cases(void **state) {
        (void)state;
        int failures = 0;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const contract_case_t *c = &cases[i];
                tecg_event_t ev = base(c->type);
                c->mutate(&ev);
                char reason[512] = "(untouched)";
                tecg_err_t err = tecg_contract_check(&ev, c->any_nation ? NULL : nations, reason,
                                                     sizeof(reason));
                tecg_err_t want = c->reason ? TECG_ERR_INVALID : TECG_OK;
                if (err != want || (c->reason && strcmp(reason, c->reason) != 0)) {
                        fprintf(stderr, "case '%s': got %s \"%s\", want %s \"%s\"\n", c->name,
                                tecg_err2str(err), err ? reason : "", tecg_err2str(want),
                                c->reason ? c->reason : "");
                        failures++;
                }
        }
        assert_int_equal(failures, 0);
}

/* The reason fits any buffer: cut and terminated in a short one, and no
 * buffer at all still gives the code. */
static void test_reason_size(void **state) {
        (void)state;
        tecg_event_t ev = base(TECG_EV_FUNDING);
        memcpy(ev.nation, "ZZZ", 4);
        char small[16];
        memset(small, 'x', sizeof(small));
        assert_int_equal(tecg_contract_check(&ev, nations, small, sizeof(small)), TECG_ERR_INVALID);
        assert_int_equal(strlen(small), sizeof(small) - 1);
        assert_memory_equal(small, "field 'nation':", sizeof(small) - 1);
        assert_int_equal(tecg_contract_check(&ev, nations, NULL, 0), TECG_ERR_INVALID);
        ev = base(TECG_EV_FUNDING);
        assert_int_equal(tecg_contract_check(&ev, nations, NULL, 0), TECG_OK);
}

/* The topic rule: an event on its type's topic, a retraction on the
 * topic of the type it retracts, so it reaches the partition (and the
 * aggregator) that counted its target. */
static void test_topic(void **state) {
        (void)state;
        static const struct {
                tecg_event_type_t type, retracts;
                bool training_topic;
                const char *reason; /* NULL: TECG_OK */
        } rows[] = {
                {TECG_EV_FUNDING, 0, false, NULL},
                {TECG_EV_EQUIPMENT, 0, false, NULL},
                {TECG_EV_PERSONNEL, 0, false, NULL},
                {TECG_EV_TRAINING, 0, true, NULL},
                {TECG_EV_FUNDING, 0, true, "a funding event does not belong on T"},
                {TECG_EV_PERSONNEL, 0, true, "a personnel event does not belong on T"},
                {TECG_EV_TRAINING, 0, false, "a training event does not belong on C"},
                {TECG_EV_RETRACTION, TECG_EV_FUNDING, false, NULL},
                {TECG_EV_RETRACTION, TECG_EV_EQUIPMENT, false, NULL},
                {TECG_EV_RETRACTION, TECG_EV_PERSONNEL, false, NULL},
                {TECG_EV_RETRACTION, TECG_EV_TRAINING, true, NULL},
                {TECG_EV_RETRACTION, TECG_EV_FUNDING, true,
                 "a retraction of a funding event does not belong on T"},
                {TECG_EV_RETRACTION, TECG_EV_TRAINING, false,
                 "a retraction of a training event does not belong on C"},
        };
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                tecg_event_t ev = base(rows[i].type);
                char reason[256] = "";
                if (rows[i].type == TECG_EV_RETRACTION)
                        ev.u.retraction.retracts_type = rows[i].retracts;
                tecg_err_t err = tecg_contract_check_topic(&ev, rows[i].training_topic,
                                                           rows[i].training_topic ? "T" : "C",
                                                           reason, sizeof(reason));
                if (!rows[i].reason) {
                        assert_int_equal(err, TECG_OK);
                        continue;
                }
                assert_int_equal(err, TECG_ERR_INVALID);
                assert_string_equal(reason, rows[i].reason);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cases),
                cmocka_unit_test(test_topic),
                cmocka_unit_test(test_reason_size),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
