/* The validated contribution / training event: what the producer's validator
 * fills from an NDJSON line, what the Avro codec encodes and decodes, and what
 * the aggregator counts. Design §2 is the contract.
 *
 * Enum order is the Avro enum symbol order in schemas/ (index == symbol
 * position), so never reorder; append only, like the schemas.
 *
 * Ownership: the fixed-size arrays are inside the struct; the `const char *`
 * strings (item, course, venue) are borrowed from whoever filled the event
 * (the validator or the Avro decoder) and stay valid until that object's next
 * call or destruction. */
#ifndef TECG_EVENT_H
#define TECG_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TECG_EVENT_ID_MAX 64 /* chars of [A-Za-z0-9._:-] */
#define TECG_TEXT_MAX 200    /* item, course, venue: max Unicode chars */
#define TECG_REASON_MAX 500  /* a retraction's reason: max Unicode chars */

typedef enum {
        TECG_EV_FUNDING = 0,
        TECG_EV_EQUIPMENT,
        TECG_EV_PERSONNEL,
        TECG_EV_TRAINING,
        TECG_EV_RETRACTION, /* takes back an earlier event (docs/design.md §2.9) */
        TECG_EV__COUNT
} tecg_event_type_t;

/* The four types that carry a quantity and change a nation's figures;
 * arrays per counted type have this many cells (a retraction is not one). */
#define TECG_EV__COUNTED TECG_EV_RETRACTION

typedef enum {
        TECG_CH_TRUST_FUND = 0,
        TECG_CH_COMMON_FUNDING,
        TECG_CH_BILATERAL,
        TECG_CH__COUNT
} tecg_channel_t;
typedef enum { TECG_FS_PLEDGED = 0, TECG_FS_DISBURSED, TECG_FS__COUNT } tecg_funding_stage_t;
typedef enum {
        TECG_CAT_VEHICLES = 0,
        TECG_CAT_WEAPONS,
        TECG_CAT_AMMUNITION,
        TECG_CAT_COMMUNICATIONS,
        TECG_CAT_MEDICAL,
        TECG_CAT_UNIFORMS,
        TECG_CAT_OTHER,
        TECG_CAT__COUNT
} tecg_category_t;
typedef enum {
        TECG_ES_OFFERED = 0,
        TECG_ES_ACCEPTED,
        TECG_ES_DELIVERED,
        TECG_ES__COUNT
} tecg_equipment_stage_t;
typedef enum {
        TECG_ROLE_TRAINER = 0,
        TECG_ROLE_MENTOR,
        TECG_ROLE_STAFF,
        TECG_ROLE_SUPPORT,
        TECG_ROLE_FORCE_PROTECTION,
        TECG_ROLE__COUNT
} tecg_role_t;
typedef enum { TECG_LOC_IN_IRAQ = 0, TECG_LOC_OUTSIDE_IRAQ, TECG_LOC__COUNT } tecg_location_t;
typedef enum {
        TECG_LVL_JUNIOR = 0,
        TECG_LVL_MIDDLE,
        TECG_LVL_SENIOR,
        TECG_LVL__COUNT
} tecg_level_t;

typedef struct {
        int64_t amount_minor; /* > 0, in the currency's minor units */
        char currency[4];     /* ISO 4217, NUL-terminated */
        tecg_channel_t channel;
        tecg_funding_stage_t stage;
} tecg_funding_t;

typedef struct {
        const char *item; /* borrowed, NUL-terminated UTF-8 */
        tecg_category_t category;
        int64_t quantity; /* > 0 */
        bool has_value;
        int64_t value_minor; /* >= 0, valid when has_value */
        char currency[4];    /* "" unless has_value */
        tecg_equipment_stage_t stage;
} tecg_equipment_t;

typedef struct {
        tecg_role_t role;
        tecg_location_t location;
        int32_t headcount; /* >= 0, absolute strength */
} tecg_personnel_t;

typedef struct {
        const char *course; /* borrowed */
        tecg_level_t level;
        tecg_location_t location;
        const char *venue; /* borrowed, NULL when absent */
        int32_t trainees;  /* > 0 */
} tecg_training_t;

/* Takes back the earlier event `retracts` of the same nation (docs/design.md
 * §2.9): its effect is removed. It travels on the topic of retracts_type. */
typedef struct {
        char retracts[TECG_EVENT_ID_MAX + 1];
        tecg_event_type_t retracts_type; /* one of the TECG_EV__COUNTED types */
        const char *reason;              /* borrowed, 1-TECG_REASON_MAX chars */
} tecg_retraction_t;

typedef struct {
        tecg_event_type_t type;
        char event_id[TECG_EVENT_ID_MAX + 1];
        char nation[4];         /* ISO 3166-1 alpha-3 */
        int64_t occurred_at_ms; /* UTC, milliseconds since the epoch */
        int32_t utc_offset_min; /* offset as written, e.g. +180 */
        /* The earlier event of the same nation and type this one replaces
         * (docs/design.md §2.9); "" when it replaces none. Never set on a
         * retraction. */
        char supersedes[TECG_EVENT_ID_MAX + 1];
        union {
                tecg_funding_t funding;
                tecg_equipment_t equipment;
                tecg_personnel_t personnel;
                tecg_training_t training;
                tecg_retraction_t retraction;
        } u;
} tecg_event_t;

/* Symbol names, indexed by the enums above (the JSON and Avro spelling). */
extern const char *const tecg_event_type_names[TECG_EV__COUNT];
extern const char *const tecg_channel_names[TECG_CH__COUNT];
extern const char *const tecg_funding_stage_names[TECG_FS__COUNT];
extern const char *const tecg_category_names[TECG_CAT__COUNT];
extern const char *const tecg_equipment_stage_names[TECG_ES__COUNT];
extern const char *const tecg_role_names[TECG_ROLE__COUNT];
extern const char *const tecg_location_names[TECG_LOC__COUNT];
extern const char *const tecg_level_names[TECG_LVL__COUNT];

/* Index of `name` in `names[count]`, or -1. */
int tecg_enum_lookup(const char *const *names, int count, const char *name);

/* The identifier rules of docs/design.md §2, in one place for the
 * validator, the aggregator's contract check, the nation-state codec and
 * the nations list. Each takes (s, len), s need not be NUL-terminated, and
 * returns NULL when s keeps the rule, else the rule as a reason to put
 * after the field's name ("field 'event_id': " TECG_EVENT_ID_RULE). */
#define TECG_EVENT_ID_RULE "must be 1-64 characters of [A-Za-z0-9._:-]"
#define TECG_CODE3_RULE "must be 3 upper-case letters"
#define TECG_CURRENCY_UNKNOWN_RULE "unknown ISO 4217 code"

/* event_id: 1-TECG_EVENT_ID_MAX characters of [A-Za-z0-9._:-], so an id
 * is safe in a log line, a key and a file name. TECG_EVENT_ID_RULE or
 * NULL. */
const char *tecg_event_id_check(const char *id, size_t len);

/* An ISO 3166-1 alpha-3 nation code by its shape: 3 upper-case ASCII
 * letters (whether it is listed is tecg_nations_find()'s question).
 * TECG_CODE3_RULE or NULL. */
const char *tecg_nation_code_check(const char *code, size_t len);

/* An ISO 4217 currency code: 3 upper-case ASCII letters (TECG_CODE3_RULE)
 * and, when `known`, one tecg_currency_minor_digits() knows
 * (TECG_CURRENCY_UNKNOWN_RULE). NULL when it keeps both. Stored states ask
 * only for the shape: they hold what events brought and are read back as
 * they were written. */
const char *tecg_currency_code_check(const char *code, size_t len, bool known);

#endif
