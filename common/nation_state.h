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
 * ids (tecg_seen_t); a state only counts what it is given.
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

typedef struct {
        char nation[4];
        uint64_t version; /* +1 on every change */
        uint64_t events;  /* distinct events counted */
        int64_t as_of_ms; /* latest occurred_at counted; INT64_MIN = none */
        /* Latest occurred_at counted per tecg_event_type_t; INT64_MIN = none
         * (never reported, or a snapshot written before the field existed). */
        int64_t last_report_ms[TECG_EV__COUNT];

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
} tecg_nation_state_t;

/* A zeroed state for `nation`. NULL on allocation failure. */
tecg_nation_state_t *tecg_nation_state_new(const char *nation);
void tecg_nation_state_destroy(tecg_nation_state_t *st);

/* Counts one (distinct, valid) event. TECG_ERR_INVALID with a reason when
 * the event cannot be counted (another nation; a sum would overflow int64):
 * the state is then unchanged. Sets *changed to whether the state changed
 * (a personnel report older than the current one changes nothing but the
 * event count). version is NOT bumped here: the caller bumps it once per
 * batch of changes. */
tecg_err_t tecg_nation_state_apply(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                   char *errstr, size_t errstr_size);

/* Deep copy; NULL on allocation failure. */
tecg_nation_state_t *tecg_nation_state_dup(const tecg_nation_state_t *st);

/* True when both states hold the same aggregates (version ignored). */
bool tecg_nation_state_equal(const tecg_nation_state_t *a, const tecg_nation_state_t *b);

#endif
