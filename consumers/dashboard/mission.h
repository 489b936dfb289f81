/* The mission profile the dashboards measure against (docs/design.md §5): authorized
 * strength, yearly training targets, the reporting currency and the rates
 * that convert every other currency into it.
 *
 * Defaults come from the seed (NTM-I, 2005): 360 personnel, 1,000 trainees
 * a year in Iraq and 500 outside, reporting in EUR with the built-in 2005
 * rate table (mission.c: the values and where they come from). Config
 * overrides them:
 *
 *   authorized_strength, target_in_iraq, target_outside_iraq,
 *   report_overdue_days
 *       plain int64_t fields, so a daemon's tecg_conf_prop_t table can bind
 *       them with offsetof(its_config, mission.authorized_strength); check
 *       them afterwards with tecg_mission_check();
 *   reporting currency      tecg_mission_set_reporting_currency();
 *   `rate.XXX = DECIMAL`    tecg_mission_set_rate(m, "XXX", "DECIMAL", ...),
 *                           e.g. from the entries of a "rate." TECG_CONF_PREFIX.
 *
 * A rate reads "1 unit of XXX = DECIMAL units of the reporting currency".
 * The reporting currency itself always converts at exactly 1 and is not in
 * the table.
 *
 * The struct is self-contained (no pointers, no allocation): copy it freely,
 * no destroy needed. Read-only use from any number of threads is safe. */
#ifndef TECG_MISSION_H
#define TECG_MISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TECG_MISSION_STRENGTH_DEFAULT 360
#define TECG_MISSION_TARGET_IN_IRAQ_DEFAULT 1000
#define TECG_MISSION_TARGET_OUTSIDE_IRAQ_DEFAULT 500
#define TECG_MISSION_CURRENCY_DEFAULT "EUR"
/* Monthly reporting and a few days' grace (docs/design.md §5.8). */
#define TECG_MISSION_OVERDUE_DAYS_DEFAULT 35
#define TECG_MISSION_OVERDUE_DAYS_MAX 3650

/* Upper bound for strength and targets: a typo guard, and keeps every
 * ratio computation far from overflow. */
#define TECG_MISSION_COUNT_MAX INT64_C(1000000000)

/* Room for a rate per ISO 4217 code (the built-in list has fewer). */
#define TECG_MISSION_RATES_MAX 256

typedef struct {
        char currency[4];    /* ISO 4217, NUL-terminated */
        int64_t rate_scaled; /* reporting units per unit x 10^9, > 0 */
        bool configured;     /* set by tecg_mission_set_rate(), not a default */
} tecg_mission_rate_t;

typedef struct {
        int64_t authorized_strength; /* personnel in Iraq, >= 0 */
        int64_t target_in_iraq;      /* trainees per year, >= 0 */
        int64_t target_outside_iraq; /* trainees per year, >= 0 */
        int64_t report_overdue_days; /* a listed nation silent longer is overdue, 1..MAX */
        char reporting_currency[4];  /* ISO 4217 */
        tecg_mission_rate_t rates[TECG_MISSION_RATES_MAX]; /* sorted by currency */
        size_t nrates;
} tecg_mission_t;

/* Fills *m with the defaults above and the built-in 2005 EUR rate table. */
void tecg_mission_init(tecg_mission_t *m);

/* Sets the reporting currency (a known ISO 4217 code). When it changes, the
 * built-in rates are dropped, as they are EUR rates; rates set with
 * tecg_mission_set_rate() are kept, and one for the new reporting currency
 * must be exactly 1 (it is then removed: the identity is implicit). So set
 * the currency first, then its rates. TECG_ERR_CONFIG with a reason. */
tecg_err_t tecg_mission_set_reporting_currency(tecg_mission_t *m, const char *currency,
                                               char *errstr, size_t errstr_size);

/* Sets (adds or replaces) the rate of `currency` from the config entry
 * `rate.<currency> = <rate>`: `currency` must be a known ISO 4217 code,
 * `rate` a decimal > 0 with at most 9 decimals ("0.8042"; no sign, blanks,
 * exponent or leading zeros). The rate of the reporting currency may only
 * be set to 1. TECG_ERR_CONFIG with a one-line reason (no "file:line"
 * prefix: the caller knows the origin); TECG_ERR_LIMIT when the table is
 * full. *m is unchanged on error. */
tecg_err_t tecg_mission_set_rate(tecg_mission_t *m, const char *currency, const char *rate,
                                 char *errstr, size_t errstr_size);

/* Removes the rate of `currency` (built-in or configured); amounts in it
 * are then reported as "missing_rates". Not found is not an error. */
void tecg_mission_remove_rate(tecg_mission_t *m, const char *currency);

/* The scaled rate of `currency` into the reporting currency: 10^9 for the
 * reporting currency itself, the table's value otherwise. Returns false when
 * there is none. */
bool tecg_mission_rate(const tecg_mission_t *m, const char *currency, int64_t *rate_scaled);

/* Checks the whole profile after config was applied: counts within
 * 0..TECG_MISSION_COUNT_MAX, a known reporting currency. TECG_ERR_CONFIG
 * with a reason naming the field. */
tecg_err_t tecg_mission_check(const tecg_mission_t *m, char *errstr, size_t errstr_size);

#endif
