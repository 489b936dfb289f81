/* Composition of the four dashboard documents (docs/design.md §5) from the nation
 * states (nation_state.h), the nations list and the mission profile.
 *
 * Pure functions: no I/O, no clock, no Kafka: "now" (for overdue) is an
 * argument, the caller's clock. The same input gives the same
 * document, key order included (Jansson keeps insertion order), so a caller
 * can detect change by comparing documents (json_equal(), or the dumps).
 * The caller (tecg-dashboard) adds "version" and "generated_at"; the JSON
 * Schemas in schemas/dashboard-*.schema.json describe the documents with
 * those two keys.
 *
 * Conventions shared by the documents
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
 *   - "reporting", in every document for its own event types (funding:
 *     FUNDING and EQUIPMENT, staffing: PERSONNEL, training: TRAINING;
 *     docs/design.md §5.8):
 *         {"overdue_days": 35,
 *          "overdue": ["BEL"],            listed nations overdue, sorted
 *          "nations": [{"nation", "name", "status", STATUS,
 *                       "types": {"FUNDING": STATUS, ...}},  the document's
 *                      ...]}              every row, by code
 *     STATUS = "last_report": RFC 3339 or null, "overdue": bool,
 *              "overdue_for_days": whole days past the deadline, or null
 *     (tecg_compose_nation_status(), tecg_compose_type_status()). Only overdue_for_days moves with
 *     time, once a day, so a document changes by itself at most daily;
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
 *    "not_reported": ["BGR", ...],                  no funding, no equipment
 *    "anomalies": [{"nation": "BEL", "flag": "DISBURSED_WITHOUT_PLEDGE",
 *                   "channel": "BILATERAL"},
 *                  {"nation": "FRA", "flag": "ACCEPTED_EXCEEDS_OFFERED",
 *                   "category": "VEHICLES", "offered": 2, "accepted": 5}],
 *    "reporting": {...}}
 *   Each nation row also has "flags": its distinct anomaly flags, in the
 *   order above (a disbursement in a channel with nothing pledged in it;
 *   more of a category accepted than offered).
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
 *    "not_reported": [...],             nations with no training in any year
 *    "reporting": {...},
 *    "recent_corrections": [...]}       as in funding, training corrections
 *
 * Corrections (docs/design.md §2.9): every nation row of funding, staffing
 * and training has "corrections": {"supersessions": n, "retractions": n};
 * funding and training have "recent_corrections", the latest 20 of their
 * event types over all nations, latest occurred_at first (then nation,
 * then event_id descending):
 *   {"nation", "event_id", "target_id", "kind": "supersede"|"retract",
 *    "type": "funding"|"equipment"|"personnel"|"training" (the target's),
 *    "occurred_at", "before", "after", "reason": string or null}
 * Staffing rows also have "dead_letters": {"count": n, "recent": [{"at",
 * "stage", "reason"}]} (the latest 5, latest first).
 *
 * history (docs/design.md §5.9)
 *   {"dashboard": "history", "as_of": ..., "currency": "EUR",
 *    "authorized_strength": 360,
 *    "targets": {"in_iraq": 1000, "outside_iraq": 500},
 *    "months": [{"month": "2005-01", "strength_in_iraq": 312,
 *                "trainees_in_iraq": 80, "trainees_outside_iraq": 30,
 *                "trainees_in_iraq_ytd": 80, "trainees_outside_iraq_ytd": 30,
 *                "pro_rata_in_iraq": 83, "pro_rata_outside_iraq": 42,
 *                "pledged_cumulative": "1234.00",
 *                "disbursed_cumulative": "100.00", "dead_letters": 0}, ...]}
 *   Every month from the first with a funding, training or strength cell
 *   to the month of as_of, none left out ([] without data). Strength: per
 *   nation and role, the in-Iraq headcount of the latest month cell at or
 *   before the month. Money: the cumulative sum per currency converted once
 *   as "converted" is (currencies without a rate left out). pro_rata:
 *   target * month-of-year / 12, half up. Dead letters by the month of the
 *   message's timestamp, inside the series only.
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mission.h"
#include "nation_state.h"
#include "refdata.h"

/* Enough significant digits to print every 4-decimal ratio as written. */
#define TECG_COMPOSE_REAL_PRECISION 15

/* The published text of a document: json_dumps(doc, TECG_COMPOSE_DUMP_FLAGS).
 * What "the same text" means for the cache, the engine and their tests. */
#define TECG_COMPOSE_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(TECG_COMPOSE_REAL_PRECISION))

typedef enum {
        TECG_DASH_FUNDING = 0,
        TECG_DASH_STAFFING,
        TECG_DASH_TRAINING,
        TECG_DASH_HISTORY,
        TECG_DASH__COUNT
} tecg_dashboard_t;

/* "funding", "staffing", "training", "history": the "dashboard" value, the URL name
 * (GET /api/dashboards/NAME) and the schema name, indexed by the enum. */
extern const char *const tecg_dashboard_names[TECG_DASH__COUNT];

/* The funding document (see above). NULL + errstr on failure. */
json_t *tecg_compose_funding(const tecg_mission_t *m, const tecg_nations_t *nations,
                             const tecg_nation_state_t *const *states, size_t nstates,
                             int64_t now_ms, char *errstr, size_t errstr_size);

/* The staffing document (see above). NULL + errstr on failure. */
json_t *tecg_compose_staffing(const tecg_mission_t *m, const tecg_nations_t *nations,
                              const tecg_nation_state_t *const *states, size_t nstates,
                              int64_t now_ms, char *errstr, size_t errstr_size);

/* The training document (see above). NULL + errstr on failure. */
json_t *tecg_compose_training(const tecg_mission_t *m, const tecg_nations_t *nations,
                              const tecg_nation_state_t *const *states, size_t nstates,
                              int64_t now_ms, char *errstr, size_t errstr_size);

/* The history document (see above): monthly series from the states'
 * month cells. It has no "reporting" block, so it needs no clock. NULL +
 * errstr on failure. */
json_t *tecg_compose_history(const tecg_mission_t *m, const tecg_nations_t *nations,
                             const tecg_nation_state_t *const *states, size_t nstates, char *errstr,
                             size_t errstr_size);

/* Dispatches to one of the four above by enum; NULL + errstr for a value
 * out of range. */
json_t *tecg_compose(tecg_dashboard_t which, const tecg_mission_t *m, const tecg_nations_t *nations,
                     const tecg_nation_state_t *const *states, size_t nstates, int64_t now_ms,
                     char *errstr, size_t errstr_size);

/* ---- Incremental composition ------------------------------------------

 * What tecg-dashboard composes after every change: the document's compact
 * text, byte for byte json_dumps(tecg_compose(...), TECG_COMPOSE_DUMP_FLAGS), with the per-nation
 * rows of a nation whose inputs did not change since the last call taken
 * from the cache as text instead of being built and serialised again.
 *
 * Cached per document and nation: the "nations" row(s) (funding and
 * staffing: one, training: one per year) and the "reporting" row. A row is
 * reused while the nation's identity in the list (code, name, status) is
 * the same, and, for "nations" rows, the same state object (its serial,
 * nation_state.h) at the same version is given: a caller that changes a
 * state in place bumps its version, as the aggregator does; for
 * "reporting" rows while its reporting status at now_ms is the same. Totals, years,
 * anomalies, "not_reported", "recent_corrections" and the history
 * document are computed from all states every time.
 *
 * One cache per caller and mission: it keeps the mission it was first used
 * with and refuses another (TECG_ERR_INVALID). Not thread-safe. */
typedef struct tecg_compose_cache tecg_compose_cache_t;

tecg_compose_cache_t *tecg_compose_cache_new(void);
void tecg_compose_cache_destroy(tecg_compose_cache_t *cache);

/* Rows built and rows reused since the cache was made. */
typedef struct {
        uint64_t rows_built;
        uint64_t rows_reused;
} tecg_compose_cache_stats_t;
tecg_compose_cache_stats_t tecg_compose_cache_stats(const tecg_compose_cache_t *cache);

/* The text of document `which` (see above), malloc'ed and NUL-terminated,
 * its length in *len; NULL + errstr on the errors of tecg_compose(). */
char *tecg_compose_text(tecg_compose_cache_t *cache, tecg_dashboard_t which,
                        const tecg_mission_t *m, const tecg_nations_t *nations,
                        const tecg_nation_state_t *const *states, size_t nstates, int64_t now_ms,
                        size_t *len, char *errstr, size_t errstr_size);

/* Where a nation stands with its reporting at now_ms (docs/design.md §5.8). */
typedef struct {
        int64_t last_ms;          /* latest occurred_at reported; INT64_MIN: never */
        bool overdue;             /* listed, and silent for more than the days */
        int64_t overdue_for_days; /* whole days past the deadline; -1 when not
                                   * overdue, or overdue without a last report */
} tecg_report_status_t;

/* The latest occurred_at of `type` (a tecg_event_type_t) reported in st,
 * or of any type for type < 0; INT64_MIN for none (st may be NULL). For a
 * state written before per-type times: personnel from its reports, the
 * other types with data from the state's as_of. */
int64_t tecg_compose_last_report(const tecg_nation_state_t *st, int type);

/* A nation's last report times: [t] per tecg_event_type_t, then
 * [TECG_REPORT_ANY] over all (tecg_compose_last_report()). */
#define TECG_REPORT_ANY TECG_EV__COUNTED
#define TECG_REPORT_TIMES (TECG_EV__COUNTED + 1)
void tecg_compose_report_times(const tecg_nation_state_t *st, int64_t times[TECG_REPORT_TIMES]);

/* Event types of each document, as bit masks (1u << type). */
#define TECG_REPORT_FUNDS ((1u << TECG_EV_FUNDING) | (1u << TECG_EV_EQUIPMENT))
#define TECG_REPORT_STAFFING (1u << TECG_EV_PERSONNEL)
#define TECG_REPORT_TRAINING (1u << TECG_EV_TRAINING)
#define TECG_REPORT_ALL ((1u << TECG_EV__COUNTED) - 1)

/* One type at now_ms: overdue when the nation is listed and its last report
 * of `type` is more than m->report_overdue_days old. Never reported that
 * type: not overdue (the nation may not contribute it). */
void tecg_compose_type_status(const tecg_mission_t *m, const int64_t times[TECG_REPORT_TIMES],
                              bool listed, int type, int64_t now_ms, tecg_report_status_t *out);

/* A nation over the types of `types`: last_ms the latest of them, overdue
 * when one of them is (overdue_for_days the greatest), or when the nation
 * is listed and never reported anything at all (overdue_for_days -1). */
void tecg_compose_nation_status(const tecg_mission_t *m, const int64_t times[TECG_REPORT_TIMES],
                                bool listed, unsigned types, int64_t now_ms,
                                tecg_report_status_t *out);

#endif
