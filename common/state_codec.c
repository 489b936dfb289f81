/* Nation-state codec: see state_codec.h.
 *
 * One table (the record descriptors below) says what schemas/
 * nation_state.avsc must look like. tecg_state_codec_new() checks the
 * parsed schema against it, and encode/extract address fields by its
 * indices, so the two cannot drift apart: a schema edit that breaks them fails at start-up (and in
 * tests/unit/common/test_state_codec.c), not on the first message.
 *
 * Evolution: fields are only ever appended, each with a default. The
 * schemas of the states written before them (v1, without the last_*
 * fields; v2, without the months, corrections and dead letters) are the
 * built-in schema minus those fields, derived here at start-up rather than
 * kept as second files that could drift; a message with an older
 * fingerprint is read with that schema and the missing fields take their
 * defaults (null: INT64_MIN; [] and 0). */
#include "state_codec.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <jansson.h>

#include "avro_walk.h"
#include "canonical.h"
#include "framing.h"
#include "schemas.h"
#include "utf8.h"

#define SCHEMA_NAME "nation_state"

/* ------------------------------------------------------------------------
 * The expected shape of the schema */

typedef enum { T_STRING, T_LONG, T_INT, T_ENUM, T_OPT_LONG, T_OPT_STRING, T_ARRAY } ftype_t;

typedef struct rec_desc_s rec_desc_t;

typedef struct {
        const char *name;
        ftype_t type;
        const char *const *symbols; /* T_ENUM: event.h's names */
        int nsymbols;
        const rec_desc_t *items; /* T_ARRAY: the item record */
} field_desc_t;

struct rec_desc_s {
        const char *name; /* unqualified record name */
        const field_desc_t *fields;
        size_t nfields;
};

enum { FT_CHANNEL, FT_STAGE, FT_CURRENCY, FT_AMOUNT, FT__COUNT };
enum { EQ_CATEGORY, EQ_STAGE, EQ_QUANTITY, EQ__COUNT };
enum { EV_CATEGORY, EV_STAGE, EV_CURRENCY, EV_VALUE, EV__COUNT };
enum { PS_ROLE, PS_LOCATION, PS_OCCURRED_AT, PS_EVENT_ID, PS_HEADCOUNT, PS__COUNT };
enum { TT_YEAR, TT_LOCATION, TT_LEVEL, TT_TRAINEES, TT__COUNT };
enum { FM_MONTH, FM_CHANNEL, FM_STAGE, FM_CURRENCY, FM_AMOUNT, FM__COUNT };
enum { TM_MONTH, TM_LOCATION, TM_LEVEL, TM_TRAINEES, TM__COUNT };
enum { SM_MONTH, SM_ROLE, SM_LOCATION, SM_OCCURRED_AT, SM_EVENT_ID, SM_HEADCOUNT, SM__COUNT };
enum {
        CO_KIND,
        CO_TYPE,
        CO_EVENT_ID,
        CO_TARGET_ID,
        CO_OCCURRED_AT,
        CO_BEFORE,
        CO_AFTER,
        CO_REASON,
        CO__COUNT
};
enum { DM_MONTH, DM_COUNT, DM__COUNT };
enum { DN_AT, DN_STAGE, DN_REASON, DN__COUNT };
enum {
        R_NATION,
        R_VERSION,
        R_EVENTS,
        R_AS_OF,
        R_FUNDING,
        R_EQ_QUANTITY,
        R_EQ_VALUES,
        R_PERSONNEL,
        R_TRAINING,
        R_LAST_FUNDING, /* first field of v2; R_LAST_FUNDING + tecg_event_type_t */
        R_LAST_EQUIPMENT,
        R_LAST_PERSONNEL,
        R_LAST_TRAINING,
        R_FUNDING_MONTHS, /* first field of v3: history and corrections */
        R_TRAINING_MONTHS,
        R_STRENGTH_MONTHS,
        R_SUPERSESSIONS,
        R_RETRACTIONS,
        R_RECENT_CORRECTIONS,
        R_DEAD_LETTERS,
        R_DEAD_LETTER_MONTHS,
        R_RECENT_DEAD_LETTERS,
        R__COUNT
};
/* Fields of the v1 schema: the ones before the per-type last reports. */
#define R_V1_COUNT R_LAST_FUNDING
/* Fields of the v2 schema: the ones before the months and corrections. */
#define R_V2_COUNT R_FUNDING_MONTHS

static const char *const correction_kind_names[TECG_CORR__COUNT] = {"SUPERSEDE", "RETRACT"};

/* A retraction's reason: TECG_REASON_MAX characters of up to 4 bytes. */
#define REASON_BYTES_MAX ((size_t)TECG_REASON_MAX * 4)

#define ENUM(n, names, count) \
        { n, T_ENUM, names, count, NULL }
#define PLAIN(n, t) \
        { n, t, NULL, 0, NULL }

static const field_desc_t funding_fields[FT__COUNT] = {
        [FT_CHANNEL] = ENUM("channel", tecg_channel_names, TECG_CH__COUNT),
        [FT_STAGE] = ENUM("stage", tecg_funding_stage_names, TECG_FS__COUNT),
        [FT_CURRENCY] = PLAIN("currency", T_STRING),
        [FT_AMOUNT] = PLAIN("amount_minor", T_LONG),
};
static const field_desc_t quantity_fields[EQ__COUNT] = {
        [EQ_CATEGORY] = ENUM("category", tecg_category_names, TECG_CAT__COUNT),
        [EQ_STAGE] = ENUM("stage", tecg_equipment_stage_names, TECG_ES__COUNT),
        [EQ_QUANTITY] = PLAIN("quantity", T_LONG),
};
static const field_desc_t value_fields[EV__COUNT] = {
        [EV_CATEGORY] = ENUM("category", tecg_category_names, TECG_CAT__COUNT),
        [EV_STAGE] = ENUM("stage", tecg_equipment_stage_names, TECG_ES__COUNT),
        [EV_CURRENCY] = PLAIN("currency", T_STRING),
        [EV_VALUE] = PLAIN("value_minor", T_LONG),
};
static const field_desc_t strength_fields[PS__COUNT] = {
        [PS_ROLE] = ENUM("role", tecg_role_names, TECG_ROLE__COUNT),
        [PS_LOCATION] = ENUM("location", tecg_location_names, TECG_LOC__COUNT),
        [PS_OCCURRED_AT] = PLAIN("occurred_at", T_LONG),
        [PS_EVENT_ID] = PLAIN("event_id", T_STRING),
        [PS_HEADCOUNT] = PLAIN("headcount", T_INT),
};
static const field_desc_t training_fields[TT__COUNT] = {
        [TT_YEAR] = PLAIN("year", T_INT),
        [TT_LOCATION] = ENUM("location", tecg_location_names, TECG_LOC__COUNT),
        [TT_LEVEL] = ENUM("level", tecg_level_names, TECG_LVL__COUNT),
        [TT_TRAINEES] = PLAIN("trainees", T_LONG),
};

static const field_desc_t funding_month_fields[FM__COUNT] = {
        [FM_MONTH] = PLAIN("month", T_INT),
        [FM_CHANNEL] = ENUM("channel", tecg_channel_names, TECG_CH__COUNT),
        [FM_STAGE] = ENUM("stage", tecg_funding_stage_names, TECG_FS__COUNT),
        [FM_CURRENCY] = PLAIN("currency", T_STRING),
        [FM_AMOUNT] = PLAIN("amount_minor", T_LONG),
};
static const field_desc_t training_month_fields[TM__COUNT] = {
        [TM_MONTH] = PLAIN("month", T_INT),
        [TM_LOCATION] = ENUM("location", tecg_location_names, TECG_LOC__COUNT),
        [TM_LEVEL] = ENUM("level", tecg_level_names, TECG_LVL__COUNT),
        [TM_TRAINEES] = PLAIN("trainees", T_LONG),
};
static const field_desc_t strength_month_fields[SM__COUNT] = {
        [SM_MONTH] = PLAIN("month", T_INT),
        [SM_ROLE] = ENUM("role", tecg_role_names, TECG_ROLE__COUNT),
        [SM_LOCATION] = ENUM("location", tecg_location_names, TECG_LOC__COUNT),
        [SM_OCCURRED_AT] = PLAIN("occurred_at", T_LONG),
        [SM_EVENT_ID] = PLAIN("event_id", T_STRING),
        [SM_HEADCOUNT] = PLAIN("headcount", T_INT),
};
static const field_desc_t correction_fields[CO__COUNT] = {
        [CO_KIND] = ENUM("kind", correction_kind_names, TECG_CORR__COUNT),
        [CO_TYPE] = ENUM("type", tecg_event_type_names, TECG_EV__COUNTED),
        [CO_EVENT_ID] = PLAIN("event_id", T_STRING),
        [CO_TARGET_ID] = PLAIN("target_id", T_STRING),
        [CO_OCCURRED_AT] = PLAIN("occurred_at", T_LONG),
        [CO_BEFORE] = PLAIN("before", T_STRING),
        [CO_AFTER] = PLAIN("after", T_STRING),
        [CO_REASON] = PLAIN("reason", T_OPT_STRING),
};
static const field_desc_t dead_letter_month_fields[DM__COUNT] = {
        [DM_MONTH] = PLAIN("month", T_INT),
        [DM_COUNT] = PLAIN("count", T_LONG),
};
static const field_desc_t dead_letter_note_fields[DN__COUNT] = {
        [DN_AT] = PLAIN("at", T_LONG),
        [DN_STAGE] = PLAIN("stage", T_STRING),
        [DN_REASON] = PLAIN("reason", T_STRING),
};

static const rec_desc_t funding_month_rec = {"FundingMonth", funding_month_fields, FM__COUNT};
static const rec_desc_t training_month_rec = {"TrainingMonth", training_month_fields, TM__COUNT};
static const rec_desc_t strength_month_rec = {"StrengthMonth", strength_month_fields, SM__COUNT};
static const rec_desc_t correction_rec = {"Correction", correction_fields, CO__COUNT};
static const rec_desc_t dead_letter_month_rec = {"DeadLetterMonth", dead_letter_month_fields,
                                                 DM__COUNT};
static const rec_desc_t dead_letter_note_rec = {"DeadLetterNote", dead_letter_note_fields,
                                                DN__COUNT};
static const rec_desc_t funding_rec = {"FundingTotal", funding_fields, FT__COUNT};
static const rec_desc_t quantity_rec = {"EquipmentQuantity", quantity_fields, EQ__COUNT};
static const rec_desc_t value_rec = {"EquipmentValue", value_fields, EV__COUNT};
static const rec_desc_t strength_rec = {"Strength", strength_fields, PS__COUNT};
static const rec_desc_t training_rec = {"TrainingTotal", training_fields, TT__COUNT};

static const field_desc_t root_fields[R__COUNT] = {
        [R_NATION] = PLAIN("nation", T_STRING),
        [R_VERSION] = PLAIN("version", T_LONG),
        [R_EVENTS] = PLAIN("events", T_LONG),
        [R_AS_OF] = PLAIN("as_of", T_OPT_LONG),
        [R_FUNDING] = {"funding", T_ARRAY, NULL, 0, &funding_rec},
        [R_EQ_QUANTITY] = {"equipment_quantity", T_ARRAY, NULL, 0, &quantity_rec},
        [R_EQ_VALUES] = {"equipment_values", T_ARRAY, NULL, 0, &value_rec},
        [R_PERSONNEL] = {"personnel", T_ARRAY, NULL, 0, &strength_rec},
        [R_TRAINING] = {"training", T_ARRAY, NULL, 0, &training_rec},
        [R_LAST_FUNDING] = PLAIN("last_funding", T_OPT_LONG),
        [R_LAST_EQUIPMENT] = PLAIN("last_equipment", T_OPT_LONG),
        [R_LAST_PERSONNEL] = PLAIN("last_personnel", T_OPT_LONG),
        [R_LAST_TRAINING] = PLAIN("last_training", T_OPT_LONG),
        [R_FUNDING_MONTHS] = {"funding_months", T_ARRAY, NULL, 0, &funding_month_rec},
        [R_TRAINING_MONTHS] = {"training_months", T_ARRAY, NULL, 0, &training_month_rec},
        [R_STRENGTH_MONTHS] = {"strength_months", T_ARRAY, NULL, 0, &strength_month_rec},
        [R_SUPERSESSIONS] = PLAIN("supersessions", T_LONG),
        [R_RETRACTIONS] = PLAIN("retractions", T_LONG),
        [R_RECENT_CORRECTIONS] = {"recent_corrections", T_ARRAY, NULL, 0, &correction_rec},
        [R_DEAD_LETTERS] = PLAIN("dead_letters", T_LONG),
        [R_DEAD_LETTER_MONTHS] = {"dead_letter_months", T_ARRAY, NULL, 0, &dead_letter_month_rec},
        [R_RECENT_DEAD_LETTERS] = {"recent_dead_letters", T_ARRAY, NULL, 0, &dead_letter_note_rec},
};
static const rec_desc_t root_rec = {"NationState", root_fields, R__COUNT};
static const rec_desc_t root_rec_v1 = {"NationState", root_fields, R_V1_COUNT};
static const rec_desc_t root_rec_v2 = {"NationState", root_fields, R_V2_COUNT};

#undef ENUM
#undef PLAIN

/* One writer schema the codec reads: the current one (which it also
 * writes) or an older one. */
typedef struct {
        avro_schema_t schema;
        avro_value_iface_t *iface;
        avro_value_t value; /* reused by every encode and decode */
        bool has_value;
        uint64_t fingerprint;
        tecg_avro_walk_t *walk; /* bounds a body before Avro-C reads it */
        size_t nfields;         /* of root_fields */
} version_t;

enum { V_CURRENT, V_1, V_2, V__COUNT };

struct tecg_state_codec_s {
        version_t v[V__COUNT];
        avro_reader_t reader; /* memory reader/writer, re-pointed */
        avro_writer_t writer;
};

/* ------------------------------------------------------------------------
 * Shape check */

static avro_schema_t deref(avro_schema_t s) {
        while (s && is_avro_link(s))
                s = avro_schema_link_target(s);
        return s;
}

static bool shape_record(avro_schema_t s, const rec_desc_t *r, char *why, size_t why_size);

static bool shape_field(avro_schema_t s, const field_desc_t *f, char *why, size_t why_size) {
        avro_schema_t b;

        s = deref(s);
        switch (f->type) {
        case T_STRING:
                if (is_avro_string(s))
                        return true;
                break;
        case T_LONG:
                if (is_avro_int64(s))
                        return true;
                break;
        case T_INT:
                if (is_avro_int32(s))
                        return true;
                break;
        case T_ENUM:
                if (!is_avro_enum(s))
                        break;
                if (avro_schema_enum_number_of_symbols(s) != f->nsymbols) {
                        snprintf(why, why_size, "field %s: enum has %d symbols, event.h %d",
                                 f->name, avro_schema_enum_number_of_symbols(s), f->nsymbols);
                        return false;
                }
                for (int i = 0; i < f->nsymbols; i++)
                        if (strcmp(avro_schema_enum_get(s, i), f->symbols[i]) != 0) {
                                snprintf(why, why_size,
                                         "field %s: enum symbol %d is %s, "
                                         "event.h has %s",
                                         f->name, i, avro_schema_enum_get(s, i), f->symbols[i]);
                                return false;
                        }
                return true;
        case T_OPT_LONG:
                if (is_avro_union(s) && avro_schema_union_size(s) == 2 &&
                    is_avro_null(deref(avro_schema_union_branch(s, 0))) &&
                    (b = deref(avro_schema_union_branch(s, 1))) && is_avro_int64(b))
                        return true;
                break;
        case T_OPT_STRING:
                if (is_avro_union(s) && avro_schema_union_size(s) == 2 &&
                    is_avro_null(deref(avro_schema_union_branch(s, 0))) &&
                    (b = deref(avro_schema_union_branch(s, 1))) && is_avro_string(b))
                        return true;
                break;
        case T_ARRAY:
                if (is_avro_array(s))
                        return shape_record(deref(avro_schema_array_items(s)), f->items, why,
                                            why_size);
                break;
        }
        snprintf(why, why_size, "field %s has type %s, not the expected one", f->name,
                 s ? avro_schema_type_name(s) : "(none)");
        return false;
}

static bool shape_record(avro_schema_t s, const rec_desc_t *r, char *why, size_t why_size) {
        if (!is_avro_record(s) || strcmp(avro_schema_name(s), r->name) != 0) {
                snprintf(why, why_size, "expected record %s", r->name);
                return false;
        }
        if (avro_schema_record_size(s) != r->nfields) {
                snprintf(why, why_size, "record %s has %zu fields, not %zu", r->name,
                         avro_schema_record_size(s), r->nfields);
                return false;
        }
        for (size_t i = 0; i < r->nfields; i++) {
                const char *name = avro_schema_record_field_name(s, (int)i);
                if (!name || strcmp(name, r->fields[i].name) != 0) {
                        snprintf(why, why_size, "record %s: field %zu is %s, expected %s", r->name,
                                 i, name ? name : "(none)", r->fields[i].name);
                        return false;
                }
                if (!shape_field(avro_schema_record_field_get_by_index(s, (int)i), &r->fields[i],
                                 why, why_size))
                        return false;
        }
        return true;
}

/* ------------------------------------------------------------------------
 * Invariants, shared by encode (before writing) and decode (after reading) */

static int cmp3(int a1, int a2, int b1, int b2) {
        if (a1 != b1)
                return a1 < b1 ? -1 : 1;
        if (a2 != b2)
                return a2 < b2 ? -1 : 1;
        return 0;
}

#define BAD(...) tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, __VA_ARGS__)

static bool month_ok(int32_t m) {
        return m % 100 >= 1 && m % 100 <= 12;
}

/* The month cells are parts of the totals: each key of a month is a key of
 * the totals, and per key the months sum to at most the total. A state
 * written before the months existed (schema v2) had none, and the events
 * counted after it add their months, so "at most" rather than "equal":
 * equal for every nation whose events all came after the months did. */
static tecg_err_t funding_months_check(const tecg_nation_state_t *st, char *errstr,
                                       size_t errstr_size) {
        int64_t *sum = st->nfunding ? calloc(st->nfunding, sizeof(*sum)) : NULL;
        tecg_err_t err = TECG_OK;

        if (st->nfunding && !sum)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        for (size_t i = 0; i < st->nfunding_months && !err; i++) {
                const tecg_funding_month_t *m = &st->funding_months[i];
                size_t k;
                if (!month_ok(m->month) || (unsigned)m->channel >= TECG_CH__COUNT ||
                    (unsigned)m->stage >= TECG_FS__COUNT || m->amount_minor <= 0) {
                        err = BAD("funding_months[%zu]: month, enum or amount out of range", i);
                        break;
                }
                if (i > 0) {
                        const tecg_funding_month_t *p = &st->funding_months[i - 1];
                        int c = p->month != m->month
                                        ? (p->month < m->month ? -1 : 1)
                                        : cmp3(p->channel, p->stage, m->channel, m->stage);
                        if (c > 0 || (c == 0 && strncmp(p->currency, m->currency, 4) >= 0)) {
                                err = BAD("funding_months[%zu]: key duplicate or out of order", i);
                                break;
                        }
                }
                for (k = 0; k < st->nfunding; k++)
                        if (st->funding[k].channel == m->channel &&
                            st->funding[k].stage == m->stage &&
                            strncmp(st->funding[k].currency, m->currency, 4) == 0)
                                break;
                if (k == st->nfunding || __builtin_add_overflow(sum[k], m->amount_minor, &sum[k]) ||
                    sum[k] > st->funding[k].amount_minor)
                        err = BAD("funding_months[%zu]: more than the funding total", i);
        }
        free(sum);
        return err;
}

static tecg_err_t training_months_check(const tecg_nation_state_t *st, char *errstr,
                                        size_t errstr_size) {
        int64_t *sum = st->ntraining ? calloc(st->ntraining, sizeof(*sum)) : NULL;
        tecg_err_t err = TECG_OK;

        if (st->ntraining && !sum)
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        for (size_t i = 0; i < st->ntraining_months && !err; i++) {
                const tecg_training_month_t *m = &st->training_months[i];
                size_t k;
                if (!month_ok(m->month) || (unsigned)m->location >= TECG_LOC__COUNT ||
                    (unsigned)m->level >= TECG_LVL__COUNT || m->trainees <= 0) {
                        err = BAD("training_months[%zu]: month, enum or trainees out of range", i);
                        break;
                }
                if (i > 0) {
                        const tecg_training_month_t *p = &st->training_months[i - 1];
                        if (p->month > m->month ||
                            (p->month == m->month &&
                             cmp3(p->location, p->level, m->location, m->level) >= 0)) {
                                err = BAD("training_months[%zu]: key duplicate or out of order", i);
                                break;
                        }
                }
                for (k = 0; k < st->ntraining; k++)
                        if (st->training[k].year == m->month / 100 &&
                            st->training[k].location == m->location &&
                            st->training[k].level == m->level)
                                break;
                if (k == st->ntraining || __builtin_add_overflow(sum[k], m->trainees, &sum[k]) ||
                    sum[k] > st->training[k].trainees)
                        err = BAD("training_months[%zu]: more than the training total", i);
        }
        free(sum);
        return err;
}

/* A month's winner is a report of its month that does not beat the
 * overall winner of its (role, location). */
static tecg_err_t strength_months_check(const tecg_nation_state_t *st, char *errstr,
                                        size_t errstr_size) {
        for (size_t i = 0; i < st->nstrength_months; i++) {
                const tecg_strength_month_t *m = &st->strength_months[i];
                const tecg_strength_t *cell;
                if (!month_ok(m->month) || (unsigned)m->role >= TECG_ROLE__COUNT ||
                    (unsigned)m->location >= TECG_LOC__COUNT || m->headcount < 0 ||
                    tecg_month_of(m->occurred_at_ms) != m->month ||
                    tecg_event_id_check(m->event_id, strnlen(m->event_id, sizeof(m->event_id))))
                        return BAD("strength_months[%zu]: month, enum, headcount or event_id "
                                   "out of range",
                                   i);
                if (i > 0) {
                        const tecg_strength_month_t *p = &st->strength_months[i - 1];
                        if (p->month > m->month ||
                            (p->month == m->month &&
                             cmp3(p->role, p->location, m->role, m->location) >= 0))
                                return BAD("strength_months[%zu]: key duplicate or out of "
                                           "order",
                                           i);
                }
                cell = &st->personnel[m->role][m->location];
                if (!cell->reported || m->occurred_at_ms > cell->occurred_at_ms ||
                    (m->occurred_at_ms == cell->occurred_at_ms &&
                     strcmp(m->event_id, cell->event_id) > 0))
                        return BAD("strength_months[%zu]: later than the winning report", i);
        }
        return TECG_OK;
}

static tecg_err_t corrections_check(const tecg_nation_state_t *st, char *errstr,
                                    size_t errstr_size) {
        if (st->supersessions > INT64_MAX || st->retractions > INT64_MAX)
                return BAD("supersessions or retractions beyond int64");
        if (st->nrecent_corrections > TECG_RECENT_CORRECTIONS ||
            st->nrecent_corrections > st->supersessions + st->retractions)
                return BAD("more recent corrections than are kept or counted");
        for (size_t i = 0; i < st->nrecent_corrections; i++) {
                const tecg_correction_t *c = &st->recent_corrections[i];
                bool retract = c->kind == TECG_CORR_RETRACT;
                if ((unsigned)c->kind >= TECG_CORR__COUNT ||
                    (unsigned)c->type >= TECG_EV__COUNTED ||
                    tecg_event_id_check(c->event_id, strnlen(c->event_id, sizeof(c->event_id))) ||
                    tecg_event_id_check(c->target_id,
                                        strnlen(c->target_id, sizeof(c->target_id))) ||
                    strnlen(c->before, sizeof(c->before)) == sizeof(c->before) ||
                    strnlen(c->after, sizeof(c->after)) == sizeof(c->after) ||
                    retract != (c->reason != NULL) || (retract && c->after[0]) ||
                    (c->reason && !c->reason[0]))
                        return BAD("recent_corrections[%zu]: kind, type, ids or texts out of "
                                   "range",
                                   i);
                for (size_t j = 0; j < i; j++) {
                        const tecg_correction_t *p = &st->recent_corrections[j];
                        if (strcmp(p->event_id, c->event_id) == 0)
                                return BAD("recent_corrections[%zu]: event_id twice", i);
                }
                if (i > 0) {
                        const tecg_correction_t *p = &st->recent_corrections[i - 1];
                        if (p->occurred_at_ms < c->occurred_at_ms ||
                            (p->occurred_at_ms == c->occurred_at_ms &&
                             strcmp(p->event_id, c->event_id) <= 0))
                                return BAD("recent_corrections[%zu]: not latest first", i);
                }
        }
        return TECG_OK;
}

/* The months add up to the count; the recent list is latest first. */
static tecg_err_t dead_letters_check(const tecg_nation_state_t *st, char *errstr,
                                     size_t errstr_size) {
        uint64_t sum = 0;

        if (st->dead_letters > INT64_MAX)
                return BAD("dead_letters beyond int64");
        for (size_t i = 0; i < st->ndead_letter_months; i++) {
                const tecg_dead_letter_month_t *m = &st->dead_letter_months[i];
                if (!month_ok(m->month) || m->count <= 0 ||
                    (i > 0 && st->dead_letter_months[i - 1].month >= m->month))
                        return BAD("dead_letter_months[%zu]: month or count out of range or "
                                   "order",
                                   i);
                sum += (uint64_t)m->count;
                if (sum > st->dead_letters)
                        break;
        }
        if (sum != st->dead_letters)
                return BAD("dead_letter_months do not add up to dead_letters");
        if (st->nrecent_dead_letters > TECG_RECENT_DEAD_LETTERS ||
            st->nrecent_dead_letters > st->dead_letters)
                return BAD("more recent dead letters than are kept or counted");
        for (size_t i = 0; i < st->nrecent_dead_letters; i++) {
                const tecg_dead_letter_note_t *d = &st->recent_dead_letters[i];
                size_t rlen = strnlen(d->reason, sizeof(d->reason));
                if (strnlen(d->stage, sizeof(d->stage)) == sizeof(d->stage) ||
                    rlen == sizeof(d->reason) || !tecg_utf8_valid(d->reason, rlen) ||
                    (i > 0 && st->recent_dead_letters[i - 1].at_ms < d->at_ms))
                        return BAD("recent_dead_letters[%zu]: text or order out of range", i);
        }
        return TECG_OK;
}

static tecg_err_t history_check(const tecg_nation_state_t *st, char *errstr, size_t errstr_size) {
        tecg_err_t err;
        if ((err = funding_months_check(st, errstr, errstr_size)) ||
            (err = training_months_check(st, errstr, errstr_size)) ||
            (err = strength_months_check(st, errstr, errstr_size)) ||
            (err = corrections_check(st, errstr, errstr_size)))
                return err;
        return dead_letters_check(st, errstr, errstr_size);
}

#undef BAD

/* Everything tecg_nation_state_apply() guarantees about a state. */
static tecg_err_t state_check(const tecg_nation_state_t *st, char *errstr, size_t errstr_size) {
#define BAD(...) tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, __VA_ARGS__)
        if (tecg_nation_code_check(st->nation, strnlen(st->nation, 4)))
                return BAD("nation is not 3 upper-case letters");
        if (st->version > INT64_MAX || st->events > INT64_MAX)
                return BAD("version or events beyond int64");
        for (size_t i = 0; i < st->nfunding; i++) {
                const tecg_funding_total_t *f = &st->funding[i];
                if ((unsigned)f->channel >= TECG_CH__COUNT || (unsigned)f->stage >= TECG_FS__COUNT)
                        return BAD("funding[%zu]: enum out of range", i);
                if (tecg_currency_code_check(f->currency, strnlen(f->currency, 4), false))
                        return BAD("funding[%zu].currency is not 3 "
                                   "upper-case letters",
                                   i);
                if (f->amount_minor <= 0)
                        return BAD("funding[%zu].amount_minor %" PRId64 " is not > 0", i,
                                   f->amount_minor);
                if (i > 0) {
                        const tecg_funding_total_t *p = &st->funding[i - 1];
                        int c = cmp3(p->channel, p->stage, f->channel, f->stage);
                        if (c > 0 || (c == 0 && strncmp(p->currency, f->currency, 4) >= 0))
                                return BAD("funding[%zu]: key duplicate or "
                                           "out of order",
                                           i);
                }
        }
        for (int c = 0; c < TECG_CAT__COUNT; c++)
                for (int s = 0; s < TECG_ES__COUNT; s++)
                        if (st->equipment_quantity[c][s] < 0)
                                return BAD("equipment quantity %s %s < 0", tecg_category_names[c],
                                           tecg_equipment_stage_names[s]);
        for (size_t i = 0; i < st->nequipment_values; i++) {
                const tecg_equipment_value_t *v = &st->equipment_values[i];
                if ((unsigned)v->category >= TECG_CAT__COUNT ||
                    (unsigned)v->stage >= TECG_ES__COUNT)
                        return BAD("equipment_values[%zu]: enum out of range", i);
                if (tecg_currency_code_check(v->currency, strnlen(v->currency, 4), false))
                        return BAD("equipment_values[%zu].currency is not 3 "
                                   "upper-case letters",
                                   i);
                if (v->value_minor < 0)
                        return BAD("equipment_values[%zu].value_minor < 0", i);
                if (i > 0) {
                        const tecg_equipment_value_t *p = &st->equipment_values[i - 1];
                        int c = cmp3(p->category, p->stage, v->category, v->stage);
                        if (c > 0 || (c == 0 && strncmp(p->currency, v->currency, 4) >= 0))
                                return BAD("equipment_values[%zu]: key "
                                           "duplicate or out of order",
                                           i);
                }
        }
        for (int r = 0; r < TECG_ROLE__COUNT; r++)
                for (int l = 0; l < TECG_LOC__COUNT; l++) {
                        const tecg_strength_t *p = &st->personnel[r][l];
                        if (!p->reported)
                                continue;
                        if (tecg_event_id_check(p->event_id,
                                                strnlen(p->event_id, sizeof(p->event_id))))
                                return BAD("personnel %s %s: bad event_id", tecg_role_names[r],
                                           tecg_location_names[l]);
                        if (p->headcount < 0)
                                return BAD("personnel %s %s: headcount < 0", tecg_role_names[r],
                                           tecg_location_names[l]);
                }
        for (size_t i = 0; i < st->ntraining; i++) {
                const tecg_training_total_t *t = &st->training[i];
                if ((unsigned)t->location >= TECG_LOC__COUNT ||
                    (unsigned)t->level >= TECG_LVL__COUNT)
                        return BAD("training[%zu]: enum out of range", i);
                if (t->trainees <= 0)
                        return BAD("training[%zu].trainees %" PRId64 " is not > 0", i, t->trainees);
                if (i > 0) {
                        const tecg_training_total_t *p = &st->training[i - 1];
                        if (p->year > t->year ||
                            (p->year == t->year &&
                             cmp3(p->location, p->level, t->location, t->level) >= 0))
                                return BAD("training[%zu]: key duplicate or "
                                           "out of order",
                                           i);
                }
        }
        /* A type's last report is one of the events as_of is the latest of. */
        for (int t = 0; t < TECG_EV__COUNTED; t++)
                if (st->last_report_ms[t] != INT64_MIN && st->last_report_ms[t] > st->as_of_ms)
                        return BAD("last_%s is later than as_of", tecg_event_type_names[t]);
        return history_check(st, errstr, errstr_size);
#undef BAD
}

/* ------------------------------------------------------------------------
 * Life cycle */

/* Parses `json` as one version of the schema, checks it against the first
 * `rec->nfields` descriptors and prepares its value and walk. */
static tecg_err_t version_init(version_t *v, const char *json, size_t len, const rec_desc_t *rec,
                               const char *label, char *errstr, size_t errstr_size) {
        char *pcf = NULL;
        char why[256];
        tecg_err_t err;

        v->nfields = rec->nfields;
        if ((err = tecg_canonical_form(json, len, &pcf, errstr, errstr_size)))
                goto done;
        v->fingerprint = tecg_crc64_avro(pcf, strlen(pcf));
        if (avro_schema_from_json_length(json, len, &v->schema)) {
                v->schema = NULL;
                err = tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "schema %s: Avro-C: %s",
                                  label, avro_strerror());
                goto done;
        }
        if (!shape_record(v->schema, rec, why, sizeof(why))) {
                err = tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                  "schema %s does not match nation_state.h: %s", label, why);
                goto done;
        }
        v->iface = avro_generic_class_from_schema(v->schema);
        if (!v->iface || avro_generic_value_new(v->iface, &v->value)) {
                err = tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "schema %s: Avro-C: %s",
                                  label, avro_strerror());
                goto done;
        }
        v->has_value = true;
        if (!(v->walk = tecg_avro_walk_new(v->schema)))
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
done:
        free(pcf);
        return err;
}

static void version_free(version_t *v) {
        if (v->has_value)
                avro_value_decref(&v->value);
        if (v->iface)
                avro_value_iface_decref(v->iface);
        tecg_avro_walk_destroy(v->walk);
        if (v->schema)
                avro_schema_decref(v->schema);
}

/* An older schema as JSON: the current one without the fields appended
 * after its first `nfields`. NULL with errstr when the current one is not
 * the expected JSON. */
static char *older_json(const char *json, size_t len, size_t nfields, char *errstr,
                        size_t errstr_size) {
        json_t *root = json_loadb(json, len, 0, NULL), *fields;
        char *out = NULL;

        fields = root ? json_object_get(root, "fields") : NULL;
        if (!json_is_array(fields) || json_array_size(fields) != R__COUNT) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "schema " SCHEMA_NAME ": not a record of %d fields", R__COUNT);
                goto done;
        }
        while (json_array_size(fields) > nfields)
                json_array_remove(fields, json_array_size(fields) - 1);
        if (!(out = json_dumps(root, JSON_COMPACT)))
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
done:
        json_decref(root);
        return out;
}

tecg_state_codec_t *tecg_state_codec_new(char *errstr, size_t errstr_size) {
        tecg_state_codec_t *c = calloc(1, sizeof(*c));
        const tecg_schema_source_t *src = NULL;
        static char empty[1];
        char *v1 = NULL, *v2 = NULL;
        bool ok = false;

        if (!c) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < tecg_schema_source_count; i++)
                if (strcmp(tecg_schema_sources[i].name, SCHEMA_NAME) == 0)
                        src = &tecg_schema_sources[i];
        if (!src) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "schemas/" SCHEMA_NAME ".avsc is not built in");
                goto done;
        }
        if (version_init(&c->v[V_CURRENT], src->json, src->len, &root_rec, SCHEMA_NAME, errstr,
                         errstr_size))
                goto done;
        if (!(v1 = older_json(src->json, src->len, R_V1_COUNT, errstr, errstr_size)) ||
            version_init(&c->v[V_1], v1, strlen(v1), &root_rec_v1, SCHEMA_NAME " v1", errstr,
                         errstr_size))
                goto done;
        if (!(v2 = older_json(src->json, src->len, R_V2_COUNT, errstr, errstr_size)) ||
            version_init(&c->v[V_2], v2, strlen(v2), &root_rec_v2, SCHEMA_NAME " v2", errstr,
                         errstr_size))
                goto done;
        c->reader = avro_reader_memory(empty, 0);
        c->writer = avro_writer_memory(empty, 0);
        if (!c->reader || !c->writer) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        ok = true;
done:
        free(v1);
        free(v2);
        if (!ok) {
                tecg_state_codec_destroy(c);
                c = NULL;
        }
        return c;
}

void tecg_state_codec_destroy(tecg_state_codec_t *codec) {
        if (!codec)
                return;
        if (codec->reader)
                avro_reader_free(codec->reader);
        if (codec->writer)
                avro_writer_free(codec->writer);
        for (int i = 0; i < V__COUNT; i++)
                version_free(&codec->v[i]);
        free(codec);
}

uint64_t tecg_state_codec_fingerprint(const tecg_state_codec_t *codec) {
        return codec->v[V_CURRENT].fingerprint;
}

uint64_t tecg_state_codec_fingerprint_v1(const tecg_state_codec_t *codec) {
        return codec->v[V_1].fingerprint;
}

uint64_t tecg_state_codec_fingerprint_v2(const tecg_state_codec_t *codec) {
        return codec->v[V_2].fingerprint;
}

/* ------------------------------------------------------------------------
 * Encoding */

/* Avro-C's setters fail only on out-of-memory or a mismatched schema (which
 * the shape check excludes); one counter collects the failures so the fill
 * code reads as the record it builds. */
typedef struct {
        int failed;
} fill_t;

static avro_value_t fill_field(fill_t *f, avro_value_t *rec, int idx) {
        avro_value_t v = {NULL, NULL};
        if (avro_value_get_by_index(rec, (size_t)idx, &v, NULL))
                f->failed++;
        return v;
}

static void fill_long(fill_t *f, avro_value_t *rec, int idx, int64_t x) {
        avro_value_t v = fill_field(f, rec, idx);
        if (v.iface && avro_value_set_long(&v, x))
                f->failed++;
}

static void fill_int(fill_t *f, avro_value_t *rec, int idx, int32_t x) {
        avro_value_t v = fill_field(f, rec, idx);
        if (v.iface && avro_value_set_int(&v, x))
                f->failed++;
}

static void fill_enum(fill_t *f, avro_value_t *rec, int idx, int x) {
        avro_value_t v = fill_field(f, rec, idx);
        if (v.iface && avro_value_set_enum(&v, x))
                f->failed++;
}

static void fill_str(fill_t *f, avro_value_t *rec, int idx, const char *s, size_t maxlen) {
        avro_value_t v = fill_field(f, rec, idx);
        /* Avro-C's size counts the NUL. */
        if (v.iface && avro_value_set_string_len(&v, s, strnlen(s, maxlen) + 1))
                f->failed++;
}

/* Appends an item to array field idx of rec and returns it. */
static avro_value_t fill_item(fill_t *f, avro_value_t *rec, int idx) {
        avro_value_t arr = fill_field(f, rec, idx), item = {NULL, NULL};
        if (arr.iface && avro_value_append(&arr, &item, NULL))
                f->failed++;
        return item;
}

/* A ["null", long] field: null for INT64_MIN. */
static void fill_opt_long(fill_t *f, avro_value_t *rec, int idx, int64_t x) {
        avro_value_t v = fill_field(f, rec, idx), branch;
        if (!v.iface)
                return;
        if (x == INT64_MIN) {
                if (avro_value_set_branch(&v, 0, &branch) || avro_value_set_null(&branch))
                        f->failed++;
        } else if (avro_value_set_branch(&v, 1, &branch) || avro_value_set_long(&branch, x)) {
                f->failed++;
        }
}

/* A ["null", string] field: null for NULL. */
static void fill_opt_str(fill_t *f, avro_value_t *rec, int idx, const char *s) {
        avro_value_t v = fill_field(f, rec, idx), branch;
        if (!v.iface)
                return;
        if (!s) {
                if (avro_value_set_branch(&v, 0, &branch) || avro_value_set_null(&branch))
                        f->failed++;
        } else if (avro_value_set_branch(&v, 1, &branch) ||
                   avro_value_set_string_len(&branch, s, strlen(s) + 1)) {
                f->failed++;
        }
}

static void fill_history(fill_t *f, avro_value_t *root, const tecg_nation_state_t *st) {
        avro_value_t it;

        for (size_t i = 0; i < st->nfunding_months && !f->failed; i++) {
                const tecg_funding_month_t *x = &st->funding_months[i];
                it = fill_item(f, root, R_FUNDING_MONTHS);
                if (!it.iface)
                        break;
                fill_int(f, &it, FM_MONTH, x->month);
                fill_enum(f, &it, FM_CHANNEL, x->channel);
                fill_enum(f, &it, FM_STAGE, x->stage);
                fill_str(f, &it, FM_CURRENCY, x->currency, 3);
                fill_long(f, &it, FM_AMOUNT, x->amount_minor);
        }
        for (size_t i = 0; i < st->ntraining_months && !f->failed; i++) {
                const tecg_training_month_t *x = &st->training_months[i];
                it = fill_item(f, root, R_TRAINING_MONTHS);
                if (!it.iface)
                        break;
                fill_int(f, &it, TM_MONTH, x->month);
                fill_enum(f, &it, TM_LOCATION, x->location);
                fill_enum(f, &it, TM_LEVEL, x->level);
                fill_long(f, &it, TM_TRAINEES, x->trainees);
        }
        for (size_t i = 0; i < st->nstrength_months && !f->failed; i++) {
                const tecg_strength_month_t *x = &st->strength_months[i];
                it = fill_item(f, root, R_STRENGTH_MONTHS);
                if (!it.iface)
                        break;
                fill_int(f, &it, SM_MONTH, x->month);
                fill_enum(f, &it, SM_ROLE, x->role);
                fill_enum(f, &it, SM_LOCATION, x->location);
                fill_long(f, &it, SM_OCCURRED_AT, x->occurred_at_ms);
                fill_str(f, &it, SM_EVENT_ID, x->event_id, TECG_EVENT_ID_MAX);
                fill_int(f, &it, SM_HEADCOUNT, x->headcount);
        }
}

static void fill_notes(fill_t *f, avro_value_t *root, const tecg_nation_state_t *st) {
        avro_value_t it;

        fill_long(f, root, R_SUPERSESSIONS, (int64_t)st->supersessions);
        fill_long(f, root, R_RETRACTIONS, (int64_t)st->retractions);
        fill_long(f, root, R_DEAD_LETTERS, (int64_t)st->dead_letters);
        for (size_t i = 0; i < st->nrecent_corrections && !f->failed; i++) {
                const tecg_correction_t *x = &st->recent_corrections[i];
                it = fill_item(f, root, R_RECENT_CORRECTIONS);
                if (!it.iface)
                        break;
                fill_enum(f, &it, CO_KIND, x->kind);
                fill_enum(f, &it, CO_TYPE, x->type);
                fill_str(f, &it, CO_EVENT_ID, x->event_id, TECG_EVENT_ID_MAX);
                fill_str(f, &it, CO_TARGET_ID, x->target_id, TECG_EVENT_ID_MAX);
                fill_long(f, &it, CO_OCCURRED_AT, x->occurred_at_ms);
                fill_str(f, &it, CO_BEFORE, x->before, TECG_EFFECT_TEXT_MAX);
                fill_str(f, &it, CO_AFTER, x->after, TECG_EFFECT_TEXT_MAX);
                fill_opt_str(f, &it, CO_REASON, x->reason);
        }
        for (size_t i = 0; i < st->ndead_letter_months && !f->failed; i++) {
                const tecg_dead_letter_month_t *x = &st->dead_letter_months[i];
                it = fill_item(f, root, R_DEAD_LETTER_MONTHS);
                if (!it.iface)
                        break;
                fill_int(f, &it, DM_MONTH, x->month);
                fill_long(f, &it, DM_COUNT, x->count);
        }
        for (size_t i = 0; i < st->nrecent_dead_letters && !f->failed; i++) {
                const tecg_dead_letter_note_t *x = &st->recent_dead_letters[i];
                it = fill_item(f, root, R_RECENT_DEAD_LETTERS);
                if (!it.iface)
                        break;
                fill_long(f, &it, DN_AT, x->at_ms);
                fill_str(f, &it, DN_STAGE, x->stage, sizeof(x->stage) - 1);
                fill_str(f, &it, DN_REASON, x->reason, sizeof(x->reason) - 1);
        }
}

static void fill_state(fill_t *f, avro_value_t *root, const tecg_nation_state_t *st) {
        avro_value_t it;

        fill_str(f, root, R_NATION, st->nation, 3);
        fill_long(f, root, R_VERSION, (int64_t)st->version);
        fill_long(f, root, R_EVENTS, (int64_t)st->events);
        fill_opt_long(f, root, R_AS_OF, st->as_of_ms);
        for (int t = 0; t < TECG_EV__COUNTED; t++)
                fill_opt_long(f, root, R_LAST_FUNDING + t, st->last_report_ms[t]);
        for (size_t i = 0; i < st->nfunding && !f->failed; i++) {
                const tecg_funding_total_t *x = &st->funding[i];
                it = fill_item(f, root, R_FUNDING);
                if (!it.iface)
                        break;
                fill_enum(f, &it, FT_CHANNEL, x->channel);
                fill_enum(f, &it, FT_STAGE, x->stage);
                fill_str(f, &it, FT_CURRENCY, x->currency, 3);
                fill_long(f, &it, FT_AMOUNT, x->amount_minor);
        }
        for (int c = 0; c < TECG_CAT__COUNT && !f->failed; c++)
                for (int s = 0; s < TECG_ES__COUNT && !f->failed; s++) {
                        if (st->equipment_quantity[c][s] == 0)
                                continue;
                        it = fill_item(f, root, R_EQ_QUANTITY);
                        if (!it.iface)
                                break;
                        fill_enum(f, &it, EQ_CATEGORY, c);
                        fill_enum(f, &it, EQ_STAGE, s);
                        fill_long(f, &it, EQ_QUANTITY, st->equipment_quantity[c][s]);
                }
        for (size_t i = 0; i < st->nequipment_values && !f->failed; i++) {
                const tecg_equipment_value_t *x = &st->equipment_values[i];
                it = fill_item(f, root, R_EQ_VALUES);
                if (!it.iface)
                        break;
                fill_enum(f, &it, EV_CATEGORY, x->category);
                fill_enum(f, &it, EV_STAGE, x->stage);
                fill_str(f, &it, EV_CURRENCY, x->currency, 3);
                fill_long(f, &it, EV_VALUE, x->value_minor);
        }
        for (int r = 0; r < TECG_ROLE__COUNT && !f->failed; r++)
                for (int l = 0; l < TECG_LOC__COUNT && !f->failed; l++) {
                        const tecg_strength_t *x = &st->personnel[r][l];
                        if (!x->reported)
                                continue;
                        it = fill_item(f, root, R_PERSONNEL);
                        if (!it.iface)
                                break;
                        fill_enum(f, &it, PS_ROLE, r);
                        fill_enum(f, &it, PS_LOCATION, l);
                        fill_long(f, &it, PS_OCCURRED_AT, x->occurred_at_ms);
                        fill_str(f, &it, PS_EVENT_ID, x->event_id, TECG_EVENT_ID_MAX);
                        fill_int(f, &it, PS_HEADCOUNT, x->headcount);
                }
        for (size_t i = 0; i < st->ntraining && !f->failed; i++) {
                const tecg_training_total_t *x = &st->training[i];
                it = fill_item(f, root, R_TRAINING);
                if (!it.iface)
                        break;
                fill_int(f, &it, TT_YEAR, x->year);
                fill_enum(f, &it, TT_LOCATION, x->location);
                fill_enum(f, &it, TT_LEVEL, x->level);
                fill_long(f, &it, TT_TRAINEES, x->trainees);
        }
        fill_history(f, root, st);
        fill_notes(f, root, st);
}

tecg_err_t tecg_state_codec_encode(tecg_state_codec_t *codec, const tecg_nation_state_t *st,
                                   tecg_buf_t *out, char *errstr, size_t errstr_size) {
        avro_value_t *value = &codec->v[V_CURRENT].value;
        size_t start = out->len, size = 0;
        fill_t f = {0};
        tecg_err_t err;

        if ((err = state_check(st, errstr, errstr_size)))
                goto done;
        avro_value_reset(value);
        fill_state(&f, value, st);
        if (f.failed || avro_value_sizeof(value, &size)) {
                err = tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "Avro-C: %s",
                                  avro_strerror());
                goto done;
        }
        if ((err = tecg_buf_reserve(out, TECG_FRAMING_SO_HEADER_LEN + size)) ||
            (err = tecg_framing_write_single_object(out, codec->v[V_CURRENT].fingerprint))) {
                tecg_seterr(err, errstr, errstr_size, "out of memory");
                goto done;
        }
        avro_writer_memory_set_dest(codec->writer, (const char *)out->data + out->len,
                                    (int64_t)size);
        if (avro_value_write(codec->writer, value)) {
                err = tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "Avro-C: %s",
                                  avro_strerror());
                goto done;
        }
        out->len += (size_t)avro_writer_tell(codec->writer);
done:
        if (err)
                out->len = start;
        return err;
}

/* ------------------------------------------------------------------------
 * Decoding */

typedef struct {
        char *errstr;
        size_t errstr_size;
        const char *array; /* array being read, for errors; NULL: root */
        size_t index;
} ext_t;

/* The failure helpers return their code as a constant rather than through
 * tecg_seterr (defined in another file): the caller's `if (err) return` is
 * then visibly the guard of the out-values an Avro-C call left unset. */
static tecg_err_t ext_fail(ext_t *x, const char *field, const char *what) {
        if (x->array)
                tecg_seterr(TECG_ERR_INVALID, x->errstr, x->errstr_size, "%s[%zu].%s: %s", x->array,
                            x->index, field, what);
        else
                tecg_seterr(TECG_ERR_INVALID, x->errstr, x->errstr_size, "%s: %s", field, what);
        return TECG_ERR_INVALID;
}

static tecg_err_t ext_avro(ext_t *x) {
        tecg_seterr(TECG_ERR_AVRO, x->errstr, x->errstr_size, "Avro-C: %s", avro_strerror());
        return TECG_ERR_AVRO;
}

static tecg_err_t ext_field(ext_t *x, avro_value_t *rec, int idx, avro_value_t *v) {
        if (avro_value_get_by_index(rec, (size_t)idx, v, NULL))
                return ext_avro(x);
        return TECG_OK;
}

static tecg_err_t ext_long(ext_t *x, avro_value_t *rec, int idx, int64_t *out) {
        avro_value_t v;
        tecg_err_t err = ext_field(x, rec, idx, &v);
        if (!err && avro_value_get_long(&v, out))
                err = ext_avro(x);
        return err;
}

static tecg_err_t ext_int(ext_t *x, avro_value_t *rec, int idx, int32_t *out) {
        avro_value_t v;
        tecg_err_t err = ext_field(x, rec, idx, &v);
        if (!err && avro_value_get_int(&v, out))
                err = ext_avro(x);
        return err;
}

/* The enum index, checked again here although the body walk did: the walk
 * and this code must not have to be read together to see it is safe. */
static tecg_err_t ext_enum(ext_t *x, avro_value_t *rec, int idx, int n, const char *field,
                           int *out) {
        avro_value_t v;
        tecg_err_t err = ext_field(x, rec, idx, &v);
        if (!err && avro_value_get_enum(&v, out))
                err = ext_avro(x);
        if (!err && (*out < 0 || *out >= n))
                err = ext_fail(x, field, "enum index out of range");
        return err;
}

/* A string without NUL bytes of at most cap-1 bytes copied into dst. */
static tecg_err_t ext_str(ext_t *x, avro_value_t *rec, int idx, const char *field, char *dst,
                          size_t cap, size_t *len) {
        avro_value_t v;
        const char *s;
        size_t size;
        tecg_err_t err = ext_field(x, rec, idx, &v);

        if (err)
                return err;
        if (avro_value_get_string(&v, &s, &size))
                return ext_avro(x);
        *len = size ? size - 1 : 0; /* Avro-C counts the NUL */
        if (*len >= cap || memchr(s, '\0', *len))
                return ext_fail(x, field, "string too long or holds a NUL");
        memcpy(dst, s, *len);
        dst[*len] = '\0';
        return TECG_OK;
}

/* Array field idx of root: its value and item count. The callers that
 * keep the items allocate them with their own type, not through a void **
 * that would alias the state's typed pointer. */
static tecg_err_t ext_array(ext_t *x, avro_value_t *root, int idx, avro_value_t *arr, size_t *n) {
        tecg_err_t err = ext_field(x, root, idx, arr);
        if (err)
                return err;
        if (avro_value_get_size(arr, n))
                return ext_avro(x);
        return TECG_OK;
}

static tecg_err_t ext_nomem(ext_t *x) {
        tecg_seterr(TECG_ERR_NOMEM, x->errstr, x->errstr_size, "out of memory");
        return TECG_ERR_NOMEM;
}

static tecg_err_t ext_item(ext_t *x, avro_value_t *arr, const char *name, size_t i,
                           avro_value_t *item) {
        x->array = name;
        x->index = i;
        if (avro_value_get_by_index(arr, i, item, NULL))
                return ext_avro(x);
        return TECG_OK;
}

static tecg_err_t ext_funding(ext_t *x, avro_value_t *root, tecg_nation_state_t *st) {
        avro_value_t arr, it;
        tecg_err_t err;
        size_t n, len;
        int e1, e2;

        /* The count is set once its items exist: nothing reads past them. */
        if ((err = ext_array(x, root, R_FUNDING, &arr, &n)))
                return err;
        if (n && !(st->funding = calloc(n, sizeof(*st->funding))))
                return ext_nomem(x);
        st->nfunding = n;
        for (size_t i = 0; i < st->nfunding; i++) {
                tecg_funding_total_t *f = &st->funding[i];
                if ((err = ext_item(x, &arr, "funding", i, &it)) ||
                    (err = ext_enum(x, &it, FT_CHANNEL, TECG_CH__COUNT, "channel", &e1)) ||
                    (err = ext_enum(x, &it, FT_STAGE, TECG_FS__COUNT, "stage", &e2)) ||
                    (err = ext_str(x, &it, FT_CURRENCY, "currency", f->currency,
                                   sizeof(f->currency), &len)) ||
                    (err = ext_long(x, &it, FT_AMOUNT, &f->amount_minor)))
                        return err;
                f->channel = (tecg_channel_t)e1;
                f->stage = (tecg_funding_stage_t)e2;
        }
        return TECG_OK;
}

static tecg_err_t ext_quantity(ext_t *x, avro_value_t *root, tecg_nation_state_t *st) {
        avro_value_t arr, it;
        tecg_err_t err;
        size_t n = 0;
        int prev = -1, cat, stage;

        /* The cells go into the fixed matrix: no item array needed. */
        if ((err = ext_array(x, root, R_EQ_QUANTITY, &arr, &n)))
                return err;
        for (size_t i = 0; i < n; i++) {
                int64_t q;
                if ((err = ext_item(x, &arr, "equipment_quantity", i, &it)) ||
                    (err = ext_enum(x, &it, EQ_CATEGORY, TECG_CAT__COUNT, "category", &cat)) ||
                    (err = ext_enum(x, &it, EQ_STAGE, TECG_ES__COUNT, "stage", &stage)) ||
                    (err = ext_long(x, &it, EQ_QUANTITY, &q)))
                        return err;
                if (cat * TECG_ES__COUNT + stage <= prev)
                        return ext_fail(x, "category", "key duplicate or out of order");
                if (q <= 0)
                        return ext_fail(x, "quantity", "not > 0");
                prev = cat * TECG_ES__COUNT + stage;
                st->equipment_quantity[cat][stage] = q;
        }
        return TECG_OK;
}

static tecg_err_t ext_values(ext_t *x, avro_value_t *root, tecg_nation_state_t *st) {
        avro_value_t arr, it;
        tecg_err_t err;
        size_t n, len;
        int e1, e2;

        if ((err = ext_array(x, root, R_EQ_VALUES, &arr, &n)))
                return err;
        if (n && !(st->equipment_values = calloc(n, sizeof(*st->equipment_values))))
                return ext_nomem(x);
        st->nequipment_values = n;
        for (size_t i = 0; i < st->nequipment_values; i++) {
                tecg_equipment_value_t *v = &st->equipment_values[i];
                if ((err = ext_item(x, &arr, "equipment_values", i, &it)) ||
                    (err = ext_enum(x, &it, EV_CATEGORY, TECG_CAT__COUNT, "category", &e1)) ||
                    (err = ext_enum(x, &it, EV_STAGE, TECG_ES__COUNT, "stage", &e2)) ||
                    (err = ext_str(x, &it, EV_CURRENCY, "currency", v->currency,
                                   sizeof(v->currency), &len)) ||
                    (err = ext_long(x, &it, EV_VALUE, &v->value_minor)))
                        return err;
                v->category = (tecg_category_t)e1;
                v->stage = (tecg_equipment_stage_t)e2;
        }
        return TECG_OK;
}

static tecg_err_t ext_personnel(ext_t *x, avro_value_t *root, tecg_nation_state_t *st) {
        avro_value_t arr, it;
        tecg_err_t err;
        size_t n = 0, len;
        int prev = -1, role, loc;

        if ((err = ext_array(x, root, R_PERSONNEL, &arr, &n)))
                return err;
        for (size_t i = 0; i < n; i++) {
                tecg_strength_t cell = {0};
                if ((err = ext_item(x, &arr, "personnel", i, &it)) ||
                    (err = ext_enum(x, &it, PS_ROLE, TECG_ROLE__COUNT, "role", &role)) ||
                    (err = ext_enum(x, &it, PS_LOCATION, TECG_LOC__COUNT, "location", &loc)) ||
                    (err = ext_long(x, &it, PS_OCCURRED_AT, &cell.occurred_at_ms)) ||
                    (err = ext_str(x, &it, PS_EVENT_ID, "event_id", cell.event_id,
                                   sizeof(cell.event_id), &len)) ||
                    (err = ext_int(x, &it, PS_HEADCOUNT, &cell.headcount)))
                        return err;
                if (role * TECG_LOC__COUNT + loc <= prev)
                        return ext_fail(x, "role", "key duplicate or out of order");
                prev = role * TECG_LOC__COUNT + loc;
                cell.reported = true;
                st->personnel[role][loc] = cell;
        }
        return TECG_OK;
}

static tecg_err_t ext_training(ext_t *x, avro_value_t *root, tecg_nation_state_t *st) {
        avro_value_t arr, it;
        tecg_err_t err;
        size_t n;
        int e1, e2;

        if ((err = ext_array(x, root, R_TRAINING, &arr, &n)))
                return err;
        if (n && !(st->training = calloc(n, sizeof(*st->training))))
                return ext_nomem(x);
        st->ntraining = n;
        for (size_t i = 0; i < st->ntraining; i++) {
                tecg_training_total_t *t = &st->training[i];
                if ((err = ext_item(x, &arr, "training", i, &it)) ||
                    (err = ext_int(x, &it, TT_YEAR, &t->year)) ||
                    (err = ext_enum(x, &it, TT_LOCATION, TECG_LOC__COUNT, "location", &e1)) ||
                    (err = ext_enum(x, &it, TT_LEVEL, TECG_LVL__COUNT, "level", &e2)) ||
                    (err = ext_long(x, &it, TT_TRAINEES, &t->trainees)))
                        return err;
                t->location = (tecg_location_t)e1;
                t->level = (tecg_level_t)e2;
        }
        return TECG_OK;
}

/* A ["null", long] field into *out, INT64_MIN for null. */
static tecg_err_t ext_opt_long(ext_t *x, avro_value_t *rec, int idx, int64_t *out) {
        avro_value_t v, branch;
        tecg_err_t err;
        int d;

        if ((err = ext_field(x, rec, idx, &v)))
                return err;
        if (avro_value_get_discriminant(&v, &d) || avro_value_get_current_branch(&v, &branch))
                return ext_avro(x);
        *out = INT64_MIN;
        if (d == 1) {
                if (avro_value_get_long(&branch, out))
                        return ext_avro(x);
                /* INT64_MIN is how a state says "no event": it is null. */
                if (*out == INT64_MIN)
                        return ext_fail(x, root_fields[idx].name, "INT64_MIN is not a time");
        }
        return TECG_OK;
}

static tecg_err_t ext_history(ext_t *x, avro_value_t *root, tecg_nation_state_t *st) {
        avro_value_t arr, it;
        tecg_err_t err;
        size_t n, len;
        int e1, e2;

        if ((err = ext_array(x, root, R_FUNDING_MONTHS, &arr, &n)))
                return err;
        if (n && !(st->funding_months = calloc(n, sizeof(*st->funding_months))))
                return ext_nomem(x);
        st->nfunding_months = n;
        for (size_t i = 0; i < n; i++) {
                tecg_funding_month_t *m = &st->funding_months[i];
                if ((err = ext_item(x, &arr, "funding_months", i, &it)) ||
                    (err = ext_int(x, &it, FM_MONTH, &m->month)) ||
                    (err = ext_enum(x, &it, FM_CHANNEL, TECG_CH__COUNT, "channel", &e1)) ||
                    (err = ext_enum(x, &it, FM_STAGE, TECG_FS__COUNT, "stage", &e2)) ||
                    (err = ext_str(x, &it, FM_CURRENCY, "currency", m->currency,
                                   sizeof(m->currency), &len)) ||
                    (err = ext_long(x, &it, FM_AMOUNT, &m->amount_minor)))
                        return err;
                m->channel = (tecg_channel_t)e1;
                m->stage = (tecg_funding_stage_t)e2;
        }
        if ((err = ext_array(x, root, R_TRAINING_MONTHS, &arr, &n)))
                return err;
        if (n && !(st->training_months = calloc(n, sizeof(*st->training_months))))
                return ext_nomem(x);
        st->ntraining_months = n;
        for (size_t i = 0; i < n; i++) {
                tecg_training_month_t *m = &st->training_months[i];
                if ((err = ext_item(x, &arr, "training_months", i, &it)) ||
                    (err = ext_int(x, &it, TM_MONTH, &m->month)) ||
                    (err = ext_enum(x, &it, TM_LOCATION, TECG_LOC__COUNT, "location", &e1)) ||
                    (err = ext_enum(x, &it, TM_LEVEL, TECG_LVL__COUNT, "level", &e2)) ||
                    (err = ext_long(x, &it, TM_TRAINEES, &m->trainees)))
                        return err;
                m->location = (tecg_location_t)e1;
                m->level = (tecg_level_t)e2;
        }
        if ((err = ext_array(x, root, R_STRENGTH_MONTHS, &arr, &n)))
                return err;
        if (n && !(st->strength_months = calloc(n, sizeof(*st->strength_months))))
                return ext_nomem(x);
        st->nstrength_months = n;
        for (size_t i = 0; i < n; i++) {
                tecg_strength_month_t *m = &st->strength_months[i];
                if ((err = ext_item(x, &arr, "strength_months", i, &it)) ||
                    (err = ext_int(x, &it, SM_MONTH, &m->month)) ||
                    (err = ext_enum(x, &it, SM_ROLE, TECG_ROLE__COUNT, "role", &e1)) ||
                    (err = ext_enum(x, &it, SM_LOCATION, TECG_LOC__COUNT, "location", &e2)) ||
                    (err = ext_long(x, &it, SM_OCCURRED_AT, &m->occurred_at_ms)) ||
                    (err = ext_str(x, &it, SM_EVENT_ID, "event_id", m->event_id,
                                   sizeof(m->event_id), &len)) ||
                    (err = ext_int(x, &it, SM_HEADCOUNT, &m->headcount)))
                        return err;
                m->role = (tecg_role_t)e1;
                m->location = (tecg_location_t)e2;
        }
        return TECG_OK;
}

/* A ["null", string] field of at most REASON_BYTES_MAX bytes of UTF-8
 * without NUL into a fresh *out (NULL for null). */
static tecg_err_t ext_opt_reason(ext_t *x, avro_value_t *rec, int idx, char **out) {
        avro_value_t v, branch;
        const char *s;
        size_t size, len;
        tecg_err_t err;
        int d;

        *out = NULL;
        if ((err = ext_field(x, rec, idx, &v)))
                return err;
        if (avro_value_get_discriminant(&v, &d) || avro_value_get_current_branch(&v, &branch))
                return ext_avro(x);
        if (d != 1)
                return TECG_OK;
        if (avro_value_get_string(&branch, &s, &size))
                return ext_avro(x);
        len = size ? size - 1 : 0;
        if (len > REASON_BYTES_MAX || memchr(s, '\0', len) || !tecg_utf8_valid(s, len))
                return ext_fail(x, "reason", "too long, holds a NUL or is not UTF-8");
        if (!(*out = malloc(len + 1)))
                return ext_nomem(x);
        memcpy(*out, s, len);
        (*out)[len] = '\0';
        return TECG_OK;
}

static tecg_err_t ext_notes(ext_t *x, avro_value_t *root, tecg_nation_state_t *st) {
        avro_value_t arr, it;
        tecg_err_t err;
        size_t n, len;
        int64_t sup, ret, dl;
        int e1, e2;

        if ((err = ext_long(x, root, R_SUPERSESSIONS, &sup)) ||
            (err = ext_long(x, root, R_RETRACTIONS, &ret)) ||
            (err = ext_long(x, root, R_DEAD_LETTERS, &dl)))
                return err;
        if (sup < 0 || ret < 0 || dl < 0)
                return ext_fail(x, "supersessions, retractions or dead_letters", "< 0");
        st->supersessions = (uint64_t)sup;
        st->retractions = (uint64_t)ret;
        st->dead_letters = (uint64_t)dl;
        if ((err = ext_array(x, root, R_RECENT_CORRECTIONS, &arr, &n)))
                return err;
        if (n > TECG_RECENT_CORRECTIONS)
                return ext_fail(x, "recent_corrections", "more entries than are kept");
        if (n && !(st->recent_corrections = calloc(n, sizeof(*st->recent_corrections))))
                return ext_nomem(x);
        for (size_t i = 0; i < n; i++) {
                tecg_correction_t *c = &st->recent_corrections[i];
                st->nrecent_corrections = i + 1; /* so that destroy frees its reason */
                if ((err = ext_item(x, &arr, "recent_corrections", i, &it)) ||
                    (err = ext_enum(x, &it, CO_KIND, TECG_CORR__COUNT, "kind", &e1)) ||
                    (err = ext_enum(x, &it, CO_TYPE, TECG_EV__COUNTED, "type", &e2)) ||
                    (err = ext_str(x, &it, CO_EVENT_ID, "event_id", c->event_id,
                                   sizeof(c->event_id), &len)) ||
                    (err = ext_str(x, &it, CO_TARGET_ID, "target_id", c->target_id,
                                   sizeof(c->target_id), &len)) ||
                    (err = ext_long(x, &it, CO_OCCURRED_AT, &c->occurred_at_ms)) ||
                    (err = ext_str(x, &it, CO_BEFORE, "before", c->before, sizeof(c->before),
                                   &len)) ||
                    (err = ext_str(x, &it, CO_AFTER, "after", c->after, sizeof(c->after), &len)) ||
                    (err = ext_opt_reason(x, &it, CO_REASON, &c->reason)))
                        return err;
                c->kind = (tecg_correction_kind_t)e1;
                c->type = (tecg_event_type_t)e2;
        }
        if ((err = ext_array(x, root, R_DEAD_LETTER_MONTHS, &arr, &n)))
                return err;
        if (n && !(st->dead_letter_months = calloc(n, sizeof(*st->dead_letter_months))))
                return ext_nomem(x);
        st->ndead_letter_months = n;
        for (size_t i = 0; i < n; i++) {
                tecg_dead_letter_month_t *m = &st->dead_letter_months[i];
                if ((err = ext_item(x, &arr, "dead_letter_months", i, &it)) ||
                    (err = ext_int(x, &it, DM_MONTH, &m->month)) ||
                    (err = ext_long(x, &it, DM_COUNT, &m->count)))
                        return err;
        }
        if ((err = ext_array(x, root, R_RECENT_DEAD_LETTERS, &arr, &n)))
                return err;
        if (n > TECG_RECENT_DEAD_LETTERS)
                return ext_fail(x, "recent_dead_letters", "more entries than are kept");
        st->nrecent_dead_letters = n;
        for (size_t i = 0; i < n; i++) {
                tecg_dead_letter_note_t *d = &st->recent_dead_letters[i];
                if ((err = ext_item(x, &arr, "recent_dead_letters", i, &it)) ||
                    (err = ext_long(x, &it, DN_AT, &d->at_ms)) ||
                    (err = ext_str(x, &it, DN_STAGE, "stage", d->stage, sizeof(d->stage), &len)) ||
                    (err = ext_str(x, &it, DN_REASON, "reason", d->reason, sizeof(d->reason),
                                   &len)))
                        return err;
        }
        return TECG_OK;
}

/* Fills st (a fresh state) from the decoded root record of a schema with
 * `nfields` root fields; the fields it lacks keep their defaults. */
static tecg_err_t ext_state(ext_t *x, avro_value_t *root, size_t nfields, tecg_nation_state_t *st) {
        tecg_err_t err;
        int64_t version, events;
        size_t len;

        if ((err = ext_str(x, root, R_NATION, "nation", st->nation, sizeof(st->nation), &len)) ||
            (err = ext_long(x, root, R_VERSION, &version)) ||
            (err = ext_long(x, root, R_EVENTS, &events)))
                return err;
        if (version < 0 || events < 0)
                return ext_fail(x, version < 0 ? "version" : "events", "< 0");
        st->version = (uint64_t)version;
        st->events = (uint64_t)events;
        if ((err = ext_opt_long(x, root, R_AS_OF, &st->as_of_ms)))
                return err;
        for (int t = 0; t < TECG_EV__COUNTED; t++) {
                int idx = R_LAST_FUNDING + t;
                st->last_report_ms[t] = INT64_MIN;
                if ((size_t)idx < nfields &&
                    (err = ext_opt_long(x, root, idx, &st->last_report_ms[t])))
                        return err;
        }
        if ((err = ext_funding(x, root, st)) || (err = ext_quantity(x, root, st)) ||
            (err = ext_values(x, root, st)) || (err = ext_personnel(x, root, st)) ||
            (err = ext_training(x, root, st)))
                return err;
        if (nfields > R_V2_COUNT &&
            ((err = ext_history(x, root, st)) || (err = ext_notes(x, root, st))))
                return err;
        x->array = NULL;
        return state_check(st, x->errstr, x->errstr_size);
}

tecg_err_t tecg_state_codec_decode(tecg_state_codec_t *codec, const void *msg, size_t len,
                                   tecg_nation_state_t **out, char *errstr, size_t errstr_size) {
        tecg_nation_state_t *st = NULL;
        version_t *v = NULL;
        ext_t x = {errstr, errstr_size, NULL, 0};
        tecg_frame_t frame;
        char hex[17], want[17];
        tecg_err_t err;

        *out = NULL;
        if ((err = tecg_framing_parse(msg, len, &frame, errstr, errstr_size)))
                goto done;
        if (frame.kind != TECG_FRAME_SINGLE_OBJECT) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "nation states are single-object encoded; "
                                  "got Confluent framing (schema id %" PRIu32 ")",
                                  frame.schema_id);
                goto done;
        }
        for (int i = 0; i < V__COUNT && !v; i++)
                if (frame.fingerprint == codec->v[i].fingerprint)
                        v = &codec->v[i];
        if (!v) {
                err = tecg_seterr(
                        TECG_ERR_NOT_FOUND, errstr, errstr_size,
                        "unknown writer schema fingerprint %s (nation_state "
                        "is %s)",
                        tecg_framing_fingerprint_hex(frame.fingerprint, hex),
                        tecg_framing_fingerprint_hex(codec->v[V_CURRENT].fingerprint, want));
                goto done;
        }
        /* Avro-C reads nothing that this walk has not bounded. */
        if ((err = tecg_avro_walk_body(v->walk, frame.body, frame.body_len, errstr, errstr_size)))
                goto done;
        avro_value_reset(&v->value);
        avro_reader_memory_set_source(codec->reader, (const char *)frame.body,
                                      (int64_t)frame.body_len);
        if (avro_value_read(codec->reader, &v->value)) {
                err = tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "Avro-C: %s",
                                  avro_strerror());
                goto done;
        }
        if (!(st = calloc(1, sizeof(*st)))) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        st->serial = tecg_nation_state_serial();
        err = ext_state(&x, &v->value, v->nfields, st);
done:
        if (err)
                tecg_nation_state_destroy(st);
        else
                *out = st;
        return err;
}
