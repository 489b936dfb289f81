/* Composition of the three dashboard documents (docs/design.md §5) from the nation
 * states (nation_state.h), the nations list and the mission profile.
 *
 * Pure functions: no I/O, no clock, no Kafka. The same input gives the same
 * document, key order included (Jansson keeps insertion order), so a caller
 * can detect change by comparing documents (json_equal(), or the dumps).
 * The caller (tecg-dashboard) adds "version" and "generated_at"; the JSON
 * Schemas in schemas/dashboard-*.schema.json describe the documents with
 * those two keys.
 *
 * Conventions shared by the three documents
 *   - keys are fixed: a key is present even when its value is zero/empty;
 *     enum-indexed maps use the contract's symbols as keys (TRUST_FUND,
 *     IN_IRAQ, JUNIOR, ...) in enum order; other keys are snake_case;
 *   - "as_of": RFC 3339 UTC ("2005-12-01T09:00:00Z", ".mmm" only when not
 *     zero) of the latest as_of_ms over all given states, or null;
 *   - per-nation data is an array "nations" of flat-ish rows sorted by code
 *     (training: by year, then code), so a CSV export flattens one row per
 *     element. Row identity: "nation", "name", "status" ("member",
 *     "partner", or "unlisted" with name null for a state whose nation is
 *     not in the list — counted, never dropped);
 *   - "not_reported": codes (sorted) of the nations *of the list* without
 *     data of the document's kind;
 *   - money: decimal strings with the currency's ISO 4217 digits,
 *     never numbers. A MONEY block is
 *         {"by_currency": {"EUR": "500000.00", "USD": "1000000.00"},
 *          "converted": "1304200.00",        reporting currency
 *          "missing_rates": ["UAH"]}         left out of "converted"
 *     by_currency and missing_rates sorted by code. "converted" is the sum
 *     of each currency's amount of *this block* converted once
 *     (tecg_money_convert(), half away from zero), so a total can differ
 *     from the sum of its rows' "converted" by rounding (at most half a
 *     minor unit per currency and row);
 *   - ratios ("fill_rate", "progress") are JSON numbers rounded half up to
 *     4 decimals (0.8333), null when the reference is 0. Dump with
 *     JSON_REAL_PRECISION(TECG_COMPOSE_REAL_PRECISION) to print them as
 *     written ("0.8333", not Jansson's default "0.83330000000000004").
 *
 * funding
 *   {"dashboard": "funding", "as_of": ..., "reporting_currency": "EUR",
 *    "rates": {"GBP": "1.4622", "USD": "0.8042"},  rates used (currencies
 *                                                  present, reporting excl.)
 *    "missing_rates": ["UAH"],                     currencies present, no rate
 *    "total": {"nations_reported": 4, FUNDS},
 *    "nations": [{"nation": "BEL", "name": "Belgium", "status": "member",
 *                 "reported": true, FUNDS}, ...],   every nation of the list
 *    "not_reported": ["BGR", ...]}                  no funding, no equipment
 *   FUNDS = "pledged": MONEY, "disbursed": MONEY,
 *           "channels": {"TRUST_FUND": {"pledged": MONEY, "disbursed": MONEY},
 *                        "COMMON_FUNDING": {...}, "BILATERAL": {...}},
 *           "equipment": {
 *               "stages": {"OFFERED": {"quantity": 120, "value": MONEY},
 *                          "ACCEPTED": {...}, "DELIVERED": {...}},
 *               "categories": {"VEHICLES": {"OFFERED": {"quantity": 20,
 *                                                       "value": MONEY},
 *                                           "ACCEPTED": ..., "DELIVERED": ...},
 *                              "WEAPONS": ..., ..., "OTHER": ...}}
 *   Equipment values count only items reported with a value.
 *
 * staffing
 *   {"dashboard": "staffing", "as_of": ...,
 *    "total": {"nations_reported": 4, "in_iraq": 300, "outside_iraq": 45,
 *              "total": 345, "roles": ROLES,
 *              "authorized_strength": 360, "fill_rate": 0.8333,
 *              "shortfall": 60},          max(0, authorized - in_iraq)
 *    "nations": [{"nation": "GBR", "name": "United Kingdom",
 *                 "status": "member", "reported": true,
 *                 "last_report": "2005-11-20T08:00:00Z",   or null
 *                 "in_iraq": 90, "outside_iraq": 0, "total": 90,
 *                 "roles": ROLES}, ...],                every nation of the list
 *    "not_reported": [...]}                     no personnel report at all
 *   ROLES = {"TRAINER": {"IN_IRAQ": 100, "OUTSIDE_IRAQ": 10}, "MENTOR": ...,
 *            "STAFF": ..., "SUPPORT": ..., "FORCE_PROTECTION": ...}
 *   (the latest report per role and location; 0 when never reported)
 *
 * training
 *   {"dashboard": "training", "as_of": ...,
 *    "targets": {"in_iraq": 1000, "outside_iraq": 500},   per year
 *    "years": [{"year": 2005, "trainees": 900, "nations_providing": 3,
 *               "in_iraq": {"trainees": 620, "target": 1000,
 *                           "progress": 0.62,
 *                           "levels": {"JUNIOR": 0, "MIDDLE": 400,
 *                                      "SENIOR": 220}},
 *               "outside_iraq": {...same keys...}}, ...],  years with data, ascending
 *    "nations": [{"year": 2005, "nation": "BEL", "name": "Belgium",
 *                 "status": "member", "trainees": 120,
 *                 "in_iraq": {"trainees": 100, "levels": LEVELS},
 *                 "outside_iraq": {"trainees": 20, "levels": LEVELS}},
 *                ...],                  (year, nation) pairs with trainees
 *    "not_reported": [...]}             nations with no training in any year
 *
 * Errors: NULL with a one-line reason in errstr — out of memory, a sum that
 * overflows int64, two states for the same nation, a state whose nation
 * code or currency is malformed/unknown.
 *
 * Arguments: `m` required; `nations` may be NULL (no list: every state is
 * "unlisted"); `states` holds `nstates` pointers, NULL entries are skipped,
 * any order. Everything is borrowed and only read during the call.
 * Ownership: the caller owns the returned document (json_decref()). */
#ifndef TECG_COMPOSE_H
#define TECG_COMPOSE_H

#include <stddef.h>

#include <jansson.h>

#include "mission.h"
#include "nation_state.h"
#include "refdata.h"

/* Enough significant digits to print every 4-decimal ratio as written. */
#define TECG_COMPOSE_REAL_PRECISION 15

typedef enum {
        TECG_DASH_FUNDING = 0,
        TECG_DASH_STAFFING,
        TECG_DASH_TRAINING,
        TECG_DASH__COUNT
} tecg_dashboard_t;

/* "funding", "staffing", "training": the "dashboard" value, the URL name
 * (GET /api/dashboards/NAME) and the schema name, indexed by the enum. */
extern const char *const tecg_dashboard_names[TECG_DASH__COUNT];

/* The funding document (see above). NULL + errstr on failure. */
json_t *tecg_compose_funding(const tecg_mission_t *m, const tecg_nations_t *nations,
                             const tecg_nation_state_t *const *states, size_t nstates, char *errstr,
                             size_t errstr_size);

/* The staffing document (see above). NULL + errstr on failure. */
json_t *tecg_compose_staffing(const tecg_mission_t *m, const tecg_nations_t *nations,
                              const tecg_nation_state_t *const *states, size_t nstates,
                              char *errstr, size_t errstr_size);

/* The training document (see above). NULL + errstr on failure. */
json_t *tecg_compose_training(const tecg_mission_t *m, const tecg_nations_t *nations,
                              const tecg_nation_state_t *const *states, size_t nstates,
                              char *errstr, size_t errstr_size);

/* Dispatches to one of the three above by enum; NULL + errstr for a value
 * out of range. */
json_t *tecg_compose(tecg_dashboard_t which, const tecg_mission_t *m, const tecg_nations_t *nations,
                     const tecg_nation_state_t *const *states, size_t nstates, char *errstr,
                     size_t errstr_size);

#endif
