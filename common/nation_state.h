/* The aggregate of one nation's events (docs/design.md §4): what the aggregator
 * builds, snapshots to tecg.nation-state, and what the dashboard composes
 * its documents from.
 *
 *   funding     sum per (channel, stage, currency)
 *   equipment   quantity per (category, stage); value per (category,
 *               stage, currency)
 *   personnel   latest report per (role, location): greatest occurred_at,
 *               ties broken by the greater event_id (byte order)
 *   training    trainees per (UTC year of occurred_at, location, level)
 *   last_report greatest occurred_at per event type (funding, equipment,
 *               personnel, training): when the nation last reported it,
 *               which the dashboard's overdue check measures against
 *
 * Money is integer minor units of its currency, never floating point.
 * Dedupe of event_ids is not in here: the aggregator owns the set of seen
 * ids (the id store, consumers/aggregator/idstore.h); a state only counts
 * what it is given.
 *
 * Ownership: a tecg_nation_state_t owns its arrays; destroy frees them. */
#ifndef TECG_NATION_STATE_H
#define TECG_NATION_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"

typedef struct {
        tecg_channel_t channel;
        tecg_funding_stage_t stage;
        char currency[4];
        int64_t amount_minor;
} tecg_funding_total_t;

typedef struct {
        tecg_category_t category;
        tecg_equipment_stage_t stage;
        char currency[4];
        int64_t value_minor;
} tecg_equipment_value_t;

typedef struct {
        bool reported;
        int64_t occurred_at_ms;
        char event_id[TECG_EVENT_ID_MAX + 1];
        int32_t headcount;
} tecg_strength_t;

typedef struct {
        int32_t year; /* UTC year of occurred_at */
        tecg_location_t location;
        tecg_level_t level;
        int64_t trainees;
} tecg_training_total_t;

/* History (docs/design.md §5.9): the same figures per UTC calendar month of
 * occurred_at. `month` is yyyymm (200512). Totals above are always the sum
 * of the months; a cell that falls to 0 after a correction is left out. */
typedef struct {
        int32_t month;
        tecg_channel_t channel;
        tecg_funding_stage_t stage;
        char currency[4];
        int64_t amount_minor; /* > 0 */
} tecg_funding_month_t;

typedef struct {
        int32_t month;
        tecg_location_t location;
        tecg_level_t level;
        int64_t trainees; /* > 0 */
} tecg_training_month_t;

/* The winning report of (role, location) within one month, by the same rule
 * as `personnel`; strength at a month's end is, per (role, location), the
 * entry of the latest month <= it. */
typedef struct {
        int32_t month;
        tecg_role_t role;
        tecg_location_t location;
        int64_t occurred_at_ms;
        char event_id[TECG_EVENT_ID_MAX + 1];
        int32_t headcount;
} tecg_strength_month_t;

/* Dead letters attributed to this nation (by the message key, listed nations
 * only) per month of the message's timestamp. */
typedef struct {
        int32_t month;
        int64_t count; /* > 0 */
} tecg_dead_letter_month_t;

typedef struct {
        int64_t at_ms;    /* the message's timestamp */
        char stage[16];   /* signature, decode, contract, aggregate, correction */
        char reason[256]; /* truncated on a UTF-8 boundary */
} tecg_dead_letter_note_t;

/* Corrections (docs/design.md §2.9, §4.4). */
#define TECG_RECENT_CORRECTIONS 10 /* kept per nation, latest occurred_at first */
#define TECG_RECENT_DEAD_LETTERS 5 /* kept per nation, latest first */
#define TECG_EFFECT_TEXT_MAX 127   /* bytes of tecg_nation_state_effect_text() */

typedef enum {
        TECG_CORR_SUPERSEDE = 0, /* an event with `supersedes` */
        TECG_CORR_RETRACT,       /* a retraction */
        TECG_CORR__COUNT
} tecg_correction_kind_t;

typedef struct {
        tecg_correction_kind_t kind;
        tecg_event_type_t type;                /* the target's type */
        char event_id[TECG_EVENT_ID_MAX + 1];  /* the correcting event */
        char target_id[TECG_EVENT_ID_MAX + 1]; /* the event taken back */
        int64_t occurred_at_ms;                /* the correcting event's */
        char before[TECG_EFFECT_TEXT_MAX + 1]; /* the target's effect; "" until it arrived */
        char after[TECG_EFFECT_TEXT_MAX + 1];  /* the replacement's effect; "" for a retraction */
        char *reason;                          /* owned; a retraction's reason, NULL otherwise */
        /* Set on the second note of a correction (its target arrived after
         * it, so `before` is now known): it updates the entry while it is
         * listed and never counts again, even when the entry has already
         * left the list of the latest. */
        bool update_only;
} tecg_correction_t;

typedef struct {
        char nation[4];
        uint64_t version; /* +1 on every change */
        /* A number no other state object of this process had or will
         * have (tecg_nation_state_serial()), given when the object is made
         * (new, dup, decode); never encoded. With version, it tells a cache
         * of what was made from a state (compose.h) that the state is the
         * one it saw: an address can be reused, a version can start over. */
        uint64_t serial;
        uint64_t events;  /* distinct events counted */
        int64_t as_of_ms; /* latest occurred_at counted; INT64_MIN = none */
        /* Latest occurred_at counted per tecg_event_type_t; INT64_MIN = none
         * (never reported, or a snapshot written before the field existed). */
        int64_t last_report_ms[TECG_EV__COUNTED];

        /* Sorted by their key fields, so two equal states compare and
         * encode byte for byte the same whatever order events came in. */
        tecg_funding_total_t *funding;
        size_t nfunding;
        int64_t equipment_quantity[TECG_CAT__COUNT][TECG_ES__COUNT];
        tecg_equipment_value_t *equipment_values;
        size_t nequipment_values;
        tecg_strength_t personnel[TECG_ROLE__COUNT][TECG_LOC__COUNT];
        tecg_training_total_t *training;
        size_t ntraining;

        /* History, sorted by month then the other key fields. */
        tecg_funding_month_t *funding_months;
        size_t nfunding_months;
        tecg_training_month_t *training_months;
        size_t ntraining_months;
        tecg_strength_month_t *strength_months;
        size_t nstrength_months;

        /* Corrections: counts of supersessions and retractions counted, and
         * the latest TECG_RECENT_CORRECTIONS by (occurred_at, event_id)
         * descending, so the list does not depend on arrival order. */
        uint64_t supersessions;
        uint64_t retractions;
        tecg_correction_t *recent_corrections;
        size_t nrecent_corrections;

        /* Data quality. */
        uint64_t dead_letters;
        tecg_dead_letter_month_t *dead_letter_months;
        size_t ndead_letter_months;
        tecg_dead_letter_note_t recent_dead_letters[TECG_RECENT_DEAD_LETTERS];
        size_t nrecent_dead_letters;
} tecg_nation_state_t;

/* A zeroed state for `nation`. NULL on allocation failure. */
tecg_nation_state_t *tecg_nation_state_new(const char *nation);
/* The next serial (thread-safe), for a state object made another way. */
uint64_t tecg_nation_state_serial(void);
void tecg_nation_state_destroy(tecg_nation_state_t *st);

/* Counts one (distinct, valid) event. TECG_ERR_INVALID with a reason when
 * the event cannot be counted (another nation; a sum would overflow int64):
 * the state is then unchanged. Sets *changed to whether the state changed
 * (a personnel report older than the current one changes nothing but the
 * event count). version is NOT bumped here: the caller bumps it once per
 * batch of changes. */
tecg_err_t tecg_nation_state_apply(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                   char *errstr, size_t errstr_size);

/* Counts the arrival of a distinct event without its effect: events + 1,
 * as_of, and last_report_ms of a counted type. For a retraction, and for an
 * event that arrives after the correction that took it back. */
tecg_err_t tecg_nation_state_count_only(tecg_nation_state_t *st, const tecg_event_t *ev,
                                        bool *changed, char *errstr, size_t errstr_size);

/* Takes the effect of a counted event (one of the TECG_EV__COUNTED types)
 * back out: the inverse of tecg_nation_state_apply() on totals and months
 * (events, as_of and last_report_ms stay: they count what arrived). For a
 * personnel report that is the current winner of its (role, location),
 * `fallback` is the latest remaining report of that (role, location) and
 * `month_fallback` the latest remaining one in the report's month (NULL:
 * none remains; the cell or month entry is then removed). The caller (the
 * aggregator, which keeps every counted event's effect) finds them.
 * TECG_ERR_INVALID when ev's effect is not in the state (a sum would fall
 * below 0): the state is then unchanged. */
tecg_err_t tecg_nation_state_unapply(tecg_nation_state_t *st, const tecg_event_t *ev,
                                     const tecg_event_t *fallback,
                                     const tecg_event_t *month_fallback, bool *changed,
                                     char *errstr, size_t errstr_size);

/* Records a correction: the first note of an event_id adds 1 to
 * supersessions or retractions; a later note of the same event_id (its
 * target arrived, so `before` is now known) updates the entry. c is
 * copied (reason too). */
tecg_err_t tecg_nation_state_note_correction(tecg_nation_state_t *st, const tecg_correction_t *c,
                                             char *errstr, size_t errstr_size);

/* Counts a dead letter of this nation at at_ms (month and recent list). */
tecg_err_t tecg_nation_state_note_dead_letter(tecg_nation_state_t *st, int64_t at_ms,
                                              const char *stage, const char *reason, char *errstr,
                                              size_t errstr_size);

/* A counted event's effect in words, for the correction list:
 * "funding TRUST_FUND PLEDGED 8100000.00 EUR", "personnel TRAINER IN_IRAQ
 * 42", "training IN_IRAQ SENIOR 25 trainees", "equipment VEHICLES OFFERED
 * 12 (value 300000.00 EUR)". Always NUL-terminated. */
void tecg_nation_state_effect_text(const tecg_event_t *ev, char *out, size_t size);

/* yyyymm of a UTC time in ms (200512). */
int32_t tecg_month_of(int64_t ms);

/* Deep copy; NULL on allocation failure. */
tecg_nation_state_t *tecg_nation_state_dup(const tecg_nation_state_t *st);

/* True when both states hold the same aggregates (version ignored). */
bool tecg_nation_state_equal(const tecg_nation_state_t *a, const tecg_nation_state_t *b);

#endif
