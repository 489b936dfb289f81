/* Mission profile: defaults, rate table, validation (see mission.h). */
#include "mission.h"

#include <string.h>

#include "money.h"
#include "refdata.h"

/* Built-in rates, EUR per unit of the currency, for 2005 — the year of the
 * seed. Indicative values only, for dashboards that need *a* conversion out
 * of the box: configure `rate.XXX` with the mission's own accounting rates.
 *
 * USD, GBP, NOK, DKK, ISK, JPY and CAD are the values fixed in the mission
 * brief. The others are the inverse of the ECB euro reference rate,
 * 2005 annual average, to 4 significant digits (CZK 29.782, HUF 248.05,
 * PLN 4.0230, SKK 38.599, SIT 239.57, EEK 15.6466, LVL 0.6962,
 * LTL 3.4528, BGN 1.9558, RON 3.6209, TRY 1.6771, SEK 9.2822, CHF 1.5483,
 * AUD 1.6320 per EUR). Withdrawn currencies the seed's nations still used
 * in 2005 go by their conversion law: 10,000 ROL = 1 RON (1 July 2005),
 * 1,000,000 TRL = 1 TRY (1 January 2005).
 *
 * Sorted by code (tecg_mission_init() relies on it; the unit test checks). */
static const struct {
        const char *currency;
        const char *rate;
} default_rates[] = {
        {"AUD", "0.6127"},      {"BGN", "0.5113"}, {"CAD", "0.6621"},   {"CHF", "0.6459"},
        {"CZK", "0.03358"},     {"DKK", "0.1343"}, {"EEK", "0.06391"},  {"GBP", "1.4622"},
        {"HUF", "0.004031"},    {"ISK", "0.0125"}, {"JPY", "0.0073"},   {"LTL", "0.2896"},
        {"LVL", "1.4364"},      {"NOK", "0.1245"}, {"PLN", "0.2486"},   {"ROL", "0.00002762"},
        {"RON", "0.2762"},      {"SEK", "0.1077"}, {"SIT", "0.004174"}, {"SKK", "0.02591"},
        {"TRL", "0.000000596"}, {"TRY", "0.5963"}, {"USD", "0.8042"},
};

/* Index of `currency` in m->rates, or where it would be inserted (with
 * *found false). */
static size_t rate_find(const tecg_mission_t *m, const char *currency, bool *found) {
        size_t lo = 0, hi = m->nrates;
        *found = false;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(currency, m->rates[mid].currency);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return lo;
}

static void rate_remove_at(tecg_mission_t *m, size_t i) {
        memmove(&m->rates[i], &m->rates[i + 1], (m->nrates - i - 1) * sizeof(m->rates[0]));
        m->nrates--;
}

/* A known ISO 4217 code, exactly 3 characters. */
static bool currency_known(const char *c) {
        return c && strlen(c) == 3 && tecg_currency_minor_digits(c) >= 0;
}

void tecg_mission_init(tecg_mission_t *m) {
        memset(m, 0, sizeof(*m));
        m->authorized_strength = TECG_MISSION_STRENGTH_DEFAULT;
        m->target_in_iraq = TECG_MISSION_TARGET_IN_IRAQ_DEFAULT;
        m->target_outside_iraq = TECG_MISSION_TARGET_OUTSIDE_IRAQ_DEFAULT;
        m->report_overdue_days = TECG_MISSION_OVERDUE_DAYS_DEFAULT;
        memcpy(m->reporting_currency, TECG_MISSION_CURRENCY_DEFAULT, 4);
        for (size_t i = 0; i < sizeof(default_rates) / sizeof(default_rates[0]); i++) {
                tecg_mission_rate_t *r = &m->rates[m->nrates];
                /* The table is sorted and every entry parses (unit-tested),
                 * so appending keeps m->rates sorted. */
                if (tecg_money_parse_rate(default_rates[i].rate, &r->rate_scaled) != 0)
                        continue;
                memcpy(r->currency, default_rates[i].currency, 4);
                r->configured = false;
                m->nrates++;
        }
}

tecg_err_t tecg_mission_set_reporting_currency(tecg_mission_t *m, const char *currency,
                                               char *errstr, size_t errstr_size) {
        bool found;
        size_t i;

        if (!currency_known(currency))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "reporting currency: unknown ISO 4217 code '%.16s'",
                                   currency ? currency : "");
        if (!strcmp(currency, m->reporting_currency))
                return TECG_OK;

        i = rate_find(m, currency, &found);
        if (found && m->rates[i].configured && m->rates[i].rate_scaled != TECG_MONEY_RATE_SCALE)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "reporting currency %s has a configured rate other than 1",
                                   currency);

        /* From here on nothing fails. */
        for (i = m->nrates; i-- > 0;)
                if (!m->rates[i].configured || !strcmp(m->rates[i].currency, currency))
                        rate_remove_at(m, i);
        memcpy(m->reporting_currency, currency, 4);
        return TECG_OK;
}

tecg_err_t tecg_mission_set_rate(tecg_mission_t *m, const char *currency, const char *rate,
                                 char *errstr, size_t errstr_size) {
        int64_t scaled;
        bool found;
        size_t i;

        if (!currency_known(currency))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "rate: unknown ISO 4217 currency '%.16s'",
                                   currency ? currency : "");
        if (tecg_money_parse_rate(rate, &scaled) != 0)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "rate of %s must be a decimal > 0 with at most %d decimals, "
                                   "e.g. 0.8042 (got '%.40s')",
                                   currency, TECG_MONEY_RATE_DIGITS, rate ? rate : "");
        if (!strcmp(currency, m->reporting_currency)) {
                if (scaled != TECG_MONEY_RATE_SCALE)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "rate of %s must be 1: it is the reporting currency",
                                           currency);
                return TECG_OK;
        }

        i = rate_find(m, currency, &found);
        if (!found) {
                if (m->nrates == TECG_MISSION_RATES_MAX)
                        return tecg_seterr(TECG_ERR_LIMIT, errstr, errstr_size,
                                           "rate of %s: more than %d rates", currency,
                                           TECG_MISSION_RATES_MAX);
                memmove(&m->rates[i + 1], &m->rates[i], (m->nrates - i) * sizeof(m->rates[0]));
                m->nrates++;
                memcpy(m->rates[i].currency, currency, 4);
        }
        m->rates[i].rate_scaled = scaled;
        m->rates[i].configured = true;
        return TECG_OK;
}

void tecg_mission_remove_rate(tecg_mission_t *m, const char *currency) {
        bool found;
        size_t i;
        if (!currency)
                return;
        i = rate_find(m, currency, &found);
        if (found)
                rate_remove_at(m, i);
}

bool tecg_mission_rate(const tecg_mission_t *m, const char *currency, int64_t *rate_scaled) {
        bool found;
        size_t i;
        if (!currency)
                return false;
        if (!strcmp(currency, m->reporting_currency)) {
                *rate_scaled = TECG_MONEY_RATE_SCALE;
                return true;
        }
        i = rate_find(m, currency, &found);
        if (found)
                *rate_scaled = m->rates[i].rate_scaled;
        return found;
}

tecg_err_t tecg_mission_check(const tecg_mission_t *m, char *errstr, size_t errstr_size) {
        static const struct {
                const char *name;
                size_t offset;
        } counts[] = {
                {"authorized_strength", offsetof(tecg_mission_t, authorized_strength)},
                {"target_in_iraq", offsetof(tecg_mission_t, target_in_iraq)},
                {"target_outside_iraq", offsetof(tecg_mission_t, target_outside_iraq)},
        };
        for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
                int64_t v;
                memcpy(&v, (const char *)m + counts[i].offset, sizeof(v));
                if (v < 0 || v > TECG_MISSION_COUNT_MAX)
                        return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                           "%s must be within 0..%lld (got %lld)", counts[i].name,
                                           (long long)TECG_MISSION_COUNT_MAX, (long long)v);
        }
        if (m->report_overdue_days < 1 || m->report_overdue_days > TECG_MISSION_OVERDUE_DAYS_MAX)
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "report_overdue_days must be within 1..%d (got %lld)",
                                   TECG_MISSION_OVERDUE_DAYS_MAX,
                                   (long long)m->report_overdue_days);
        if (strnlen(m->reporting_currency, sizeof(m->reporting_currency)) == 4 ||
            !currency_known(m->reporting_currency))
                return tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                   "reporting currency: unknown ISO 4217 code");
        return TECG_OK;
}
