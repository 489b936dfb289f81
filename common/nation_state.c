/* The per-nation aggregate (docs/design.md §4). Every array is kept sorted by its
 * key fields and holds each key once, so two states built from the same
 * events in any order are equal field for field and encode to the same
 * bytes (consumers/state_codec.c relies on that).
 *
 * Arrays grow by one element per new key: a nation has few keys (a handful
 * of currencies, a few years), so the realloc per insert costs nothing and
 * keeps the struct free of capacity fields. */
#include "nation_state.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refdata.h"

/* ------------------------------------------------------------ helpers */

/* A currency key is exactly three upper-case ASCII letters, NUL-terminated
 * (ISO 4217): anything else would make byte-wise keys ambiguous. */
static bool currency_ok(const char cur[4]) {
        for (int i = 0; i < 3; i++)
                if (cur[i] < 'A' || cur[i] > 'Z')
                        return false;
        return cur[3] == '\0';
}

/* Floor division: C rounds towards zero, which would put the last
 * millisecond before 1970 into 1970. */
static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0)))
                q--;
        return q;
}

/* The proleptic Gregorian year and month of a day count since 1970-01-01
 * (Howard Hinnant's civil_from_days, in 400-year eras so that it is exact for
 * every int64 day count the millisecond range can produce). */
static void civil_from_days(int64_t z, int64_t *year, int *month) {
        z += 719468; /* days since 0000-03-01 */
        int64_t era = floor_div(z, 146097);
        int64_t doe = z - era * 146097; /* [0, 146096] */
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t y = yoe + era * 400;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153; /* March-based month [0, 11] */
        *month = (int)(mp < 10 ? mp + 3 : mp - 9);
        *year = mp >= 10 ? y + 1 : y; /* Jan, Feb: next civil year */
}

/* UTC year of a millisecond timestamp; every int64 fits an int32 year
 * (INT64_MIN ms is about year -292 million). */
static int32_t year_of(int64_t utc_ms) {
        int64_t y;
        int m;
        civil_from_days(floor_div(utc_ms, INT64_C(86400000)), &y, &m);
        return (int32_t)y;
}

/* yyyymm wraps for years beyond +-21 million; event times are checked to
 * years 1970-9999 long before they get here (docs/design.md §2), so the
 * month key of any counted event is exact. */
int32_t tecg_month_of(int64_t ms) {
        int64_t y;
        int m;
        civil_from_days(floor_div(ms, INT64_C(86400000)), &y, &m);
        return (int32_t)(y * 100 + m);
}

static int funding_cmp(const tecg_funding_total_t *a, tecg_channel_t ch, tecg_funding_stage_t stage,
                       const char *cur) {
        if (a->channel != ch)
                return a->channel < ch ? -1 : 1;
        if (a->stage != stage)
                return a->stage < stage ? -1 : 1;
        return strcmp(a->currency, cur);
}

static int value_cmp(const tecg_equipment_value_t *a, tecg_category_t cat,
                     tecg_equipment_stage_t stage, const char *cur) {
        if (a->category != cat)
                return a->category < cat ? -1 : 1;
        if (a->stage != stage)
                return a->stage < stage ? -1 : 1;
        return strcmp(a->currency, cur);
}

static int training_cmp(const tecg_training_total_t *a, int32_t year, tecg_location_t loc,
                        tecg_level_t lvl) {
        if (a->year != year)
                return a->year < year ? -1 : 1;
        if (a->location != loc)
                return a->location < loc ? -1 : 1;
        if (a->level != lvl)
                return a->level < lvl ? -1 : 1;
        return 0;
}

/* Binary searches return the index of the key, or of where it would go,
 * and whether it is there. */
static size_t funding_find(const tecg_nation_state_t *st, tecg_channel_t ch,
                           tecg_funding_stage_t stage, const char *cur, bool *found) {
        size_t lo = 0, hi = st->nfunding;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (funding_cmp(&st->funding[mid], ch, stage, cur) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = lo < st->nfunding && funding_cmp(&st->funding[lo], ch, stage, cur) == 0;
        return lo;
}

static size_t value_find(const tecg_nation_state_t *st, tecg_category_t cat,
                         tecg_equipment_stage_t stage, const char *cur, bool *found) {
        size_t lo = 0, hi = st->nequipment_values;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (value_cmp(&st->equipment_values[mid], cat, stage, cur) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = lo < st->nequipment_values &&
                 value_cmp(&st->equipment_values[lo], cat, stage, cur) == 0;
        return lo;
}

static size_t training_find(const tecg_nation_state_t *st, int32_t year, tecg_location_t loc,
                            tecg_level_t lvl, bool *found) {
        size_t lo = 0, hi = st->ntraining;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (training_cmp(&st->training[mid], year, loc, lvl) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = lo < st->ntraining && training_cmp(&st->training[lo], year, loc, lvl) == 0;
        return lo;
}

/* Grows *arr to room for n + 1 elements without opening a slot, so that a
 * change touching several arrays can reserve every slot it needs before it
 * writes any: the state stays as it was when an allocation fails. The extra
 * room is harmless (counts, not capacities, say what is valid). */
static tecg_err_t array_reserve(void **arr, size_t n, size_t sz) {
        void *a = realloc(*arr, (n + 1) * sz);
        if (!a)
                return TECG_ERR_NOMEM;
        *arr = a;
        return TECG_OK;
}

/* Opens a zeroed slot at index at of an array that has room for it
 * (array_reserve). Cannot fail. */
static void array_open(void *arr, size_t *n, size_t sz, size_t at) {
        uint8_t *a = arr;
        memmove(a + (at + 1) * sz, a + at * sz, (*n - at) * sz);
        memset(a + at * sz, 0, sz);
        (*n)++;
}

static void array_remove(void *arr, size_t *n, size_t sz, size_t at) {
        uint8_t *a = arr;
        memmove(a + at * sz, a + (at + 1) * sz, (*n - at - 1) * sz);
        (*n)--;
}

/* Opens a zeroed slot at index at of an array of n elements of size sz
 * (*arr grows by one). The array is untouched on failure. */
static tecg_err_t array_insert(void **arr, size_t *n, size_t sz, size_t at) {
        if (array_reserve(arr, *n, sz))
                return TECG_ERR_NOMEM;
        array_open(*arr, n, sz, at);
        return TECG_OK;
}

/* The index of key in a sorted array (or of where it would go), and
 * whether it is there. */
static size_t sorted_find(const void *arr, size_t n, size_t sz, const void *key,
                          int (*cmp)(const void *elem, const void *key), bool *found) {
        const uint8_t *a = arr;
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (cmp(a + mid * sz, key) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = lo < n && cmp(a + lo * sz, key) == 0;
        return lo;
}

#define CMP_FIELD(x, y)                            \
        do {                                       \
                if ((x) != (y))                    \
                        return (x) < (y) ? -1 : 1; \
        } while (0)

static int funding_month_cmp(const void *elem, const void *key) {
        const tecg_funding_month_t *a = elem, *b = key;
        CMP_FIELD(a->month, b->month);
        CMP_FIELD(a->channel, b->channel);
        CMP_FIELD(a->stage, b->stage);
        return strcmp(a->currency, b->currency);
}

static int training_month_cmp(const void *elem, const void *key) {
        const tecg_training_month_t *a = elem, *b = key;
        CMP_FIELD(a->month, b->month);
        CMP_FIELD(a->location, b->location);
        CMP_FIELD(a->level, b->level);
        return 0;
}

static int strength_month_cmp(const void *elem, const void *key) {
        const tecg_strength_month_t *a = elem, *b = key;
        CMP_FIELD(a->month, b->month);
        CMP_FIELD(a->role, b->role);
        CMP_FIELD(a->location, b->location);
        return 0;
}

static int dead_letter_month_cmp(const void *elem, const void *key) {
        const tecg_dead_letter_month_t *a = elem, *b = key;
        CMP_FIELD(a->month, b->month);
        return 0;
}

/* Whether report (at_a, id_a) beats (at_b, id_b): the later wins, equal
 * times go to the greater event_id, so a winner depends only on the set of
 * reports, never on their order. */
static bool report_beats(int64_t at_a, const char *id_a, int64_t at_b, const char *id_b) {
        return at_a > at_b || (at_a == at_b && strcmp(id_a, id_b) > 0);
}

/* ------------------------------------------------------- per event type */

static tecg_err_t funding_check(const tecg_funding_t *f, char *errstr, size_t errstr_size) {
        if ((unsigned)f->channel >= TECG_CH__COUNT || (unsigned)f->stage >= TECG_FS__COUNT)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "funding channel %d or stage %d out of "
                                   "range",
                                   (int)f->channel, (int)f->stage);
        if (!currency_ok(f->currency))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "funding currency is not 3 upper-case "
                                   "letters");
        if (f->amount_minor <= 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "funding amount %" PRId64 " is not > 0", f->amount_minor);
        return TECG_OK;
}

/* The total and the month cell change together or not at all. The month
 * cell is a part of the total, so it cannot overflow when the total does
 * not; it is checked all the same, as a state read from the topic is
 * checked, not trusted. */
static tecg_err_t apply_funding(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                char *errstr, size_t errstr_size) {
        const tecg_funding_t *f = &ev->u.funding;
        tecg_funding_month_t key;
        bool found, mfound;
        size_t at, mat;
        int64_t sum = f->amount_minor, msum = f->amount_minor;
        tecg_err_t err;

        if ((err = funding_check(f, errstr, errstr_size)))
                return err;
        memset(&key, 0, sizeof(key));
        key.month = tecg_month_of(ev->occurred_at_ms);
        key.channel = f->channel;
        key.stage = f->stage;
        memcpy(key.currency, f->currency, 4);
        at = funding_find(st, f->channel, f->stage, f->currency, &found);
        mat = sorted_find(st->funding_months, st->nfunding_months, sizeof(key), &key,
                          funding_month_cmp, &mfound);
        if ((found &&
             __builtin_add_overflow(st->funding[at].amount_minor, f->amount_minor, &sum)) ||
            (mfound &&
             __builtin_add_overflow(st->funding_months[mat].amount_minor, f->amount_minor, &msum)))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "funding %s %s %s: sum would overflow int64",
                                   tecg_channel_names[f->channel],
                                   tecg_funding_stage_names[f->stage], f->currency);
        if ((!found && array_reserve((void **)&st->funding, st->nfunding, sizeof(*st->funding))) ||
            (!mfound && array_reserve((void **)&st->funding_months, st->nfunding_months,
                                      sizeof(*st->funding_months))))
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        if (!found) {
                array_open(st->funding, &st->nfunding, sizeof(*st->funding), at);
                st->funding[at].channel = f->channel;
                st->funding[at].stage = f->stage;
                memcpy(st->funding[at].currency, f->currency, 4);
        }
        st->funding[at].amount_minor = sum;
        if (!mfound) {
                array_open(st->funding_months, &st->nfunding_months, sizeof(key), mat);
                st->funding_months[mat] = key;
        }
        st->funding_months[mat].amount_minor = msum;
        *changed = true;
        return TECG_OK;
}

static tecg_err_t equipment_check(const tecg_equipment_t *e, char *errstr, size_t errstr_size) {
        if ((unsigned)e->category >= TECG_CAT__COUNT || (unsigned)e->stage >= TECG_ES__COUNT)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "equipment category %d or stage %d out "
                                   "of range",
                                   (int)e->category, (int)e->stage);
        if (e->quantity <= 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "equipment quantity %" PRId64 " is not > 0", e->quantity);
        if (e->has_value && (e->value_minor < 0 || !currency_ok(e->currency)))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "equipment value %" PRId64
                                   " is negative or its currency is not 3 "
                                   "upper-case letters",
                                   e->value_minor);
        return TECG_OK;
}

/* Quantity and value change together or not at all: both sums are checked
 * and the value slot is reserved before either is written. */
static tecg_err_t apply_equipment(tecg_nation_state_t *st, const tecg_equipment_t *e, bool *changed,
                                  char *errstr, size_t errstr_size) {
        int64_t qty, val = 0;
        bool found = false;
        size_t at = 0;
        tecg_err_t err;

        if ((err = equipment_check(e, errstr, errstr_size)))
                return err;
        if (__builtin_add_overflow(st->equipment_quantity[e->category][e->stage], e->quantity,
                                   &qty))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "equipment %s %s: quantity would overflow "
                                   "int64",
                                   tecg_category_names[e->category],
                                   tecg_equipment_stage_names[e->stage]);
        if (e->has_value) {
                at = value_find(st, e->category, e->stage, e->currency, &found);
                if (found && __builtin_add_overflow(st->equipment_values[at].value_minor,
                                                    e->value_minor, &val))
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "equipment %s %s %s: value would overflow "
                                           "int64",
                                           tecg_category_names[e->category],
                                           tecg_equipment_stage_names[e->stage], e->currency);
                if (!found) {
                        if (array_insert((void **)&st->equipment_values, &st->nequipment_values,
                                         sizeof(*st->equipment_values), at))
                                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
                                                   "out of memory");
                        st->equipment_values[at].category = e->category;
                        st->equipment_values[at].stage = e->stage;
                        memcpy(st->equipment_values[at].currency, e->currency, 4);
                        val = e->value_minor;
                }
                st->equipment_values[at].value_minor = val;
        }
        st->equipment_quantity[e->category][e->stage] = qty;
        *changed = true;
        return TECG_OK;
}

static tecg_err_t personnel_check(const tecg_personnel_t *p, char *errstr, size_t errstr_size) {
        if ((unsigned)p->role >= TECG_ROLE__COUNT || (unsigned)p->location >= TECG_LOC__COUNT)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "personnel role %d or location %d out of "
                                   "range",
                                   (int)p->role, (int)p->location);
        if (p->headcount < 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "personnel headcount %" PRId32 " < 0", p->headcount);
        return TECG_OK;
}

static void strength_set(tecg_strength_t *cell, const tecg_event_t *ev) {
        memset(cell, 0, sizeof(*cell));
        cell->reported = true;
        cell->occurred_at_ms = ev->occurred_at_ms;
        memcpy(cell->event_id, ev->event_id, strlen(ev->event_id) + 1);
        cell->headcount = ev->u.personnel.headcount;
}

static void strength_month_set(tecg_strength_month_t *m, const tecg_event_t *ev) {
        memset(m, 0, sizeof(*m));
        m->month = tecg_month_of(ev->occurred_at_ms);
        m->role = ev->u.personnel.role;
        m->location = ev->u.personnel.location;
        m->occurred_at_ms = ev->occurred_at_ms;
        memcpy(m->event_id, ev->event_id, strlen(ev->event_id) + 1);
        m->headcount = ev->u.personnel.headcount;
}

/* The latest report wins, overall and within its month (report_beats). */
static tecg_err_t apply_personnel(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                  char *errstr, size_t errstr_size) {
        const tecg_personnel_t *p = &ev->u.personnel;
        tecg_strength_t *cell;
        tecg_strength_month_t key;
        bool mfound;
        size_t mat;
        tecg_err_t err;

        if ((err = personnel_check(p, errstr, errstr_size)))
                return err;
        strength_month_set(&key, ev);
        mat = sorted_find(st->strength_months, st->nstrength_months, sizeof(key), &key,
                          strength_month_cmp, &mfound);
        if (!mfound) {
                if (array_insert((void **)&st->strength_months, &st->nstrength_months, sizeof(key),
                                 mat))
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                st->strength_months[mat] = key;
                *changed = true;
        } else if (report_beats(ev->occurred_at_ms, ev->event_id,
                                st->strength_months[mat].occurred_at_ms,
                                st->strength_months[mat].event_id)) {
                st->strength_months[mat] = key;
                *changed = true;
        }
        cell = &st->personnel[p->role][p->location];
        if (cell->reported &&
            !report_beats(ev->occurred_at_ms, ev->event_id, cell->occurred_at_ms, cell->event_id))
                return TECG_OK; /* an older report: only counted */
        strength_set(cell, ev);
        *changed = true;
        return TECG_OK;
}

static tecg_err_t training_check(const tecg_training_t *t, char *errstr, size_t errstr_size) {
        if ((unsigned)t->level >= TECG_LVL__COUNT || (unsigned)t->location >= TECG_LOC__COUNT)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "training level %d or location %d out of "
                                   "range",
                                   (int)t->level, (int)t->location);
        if (t->trainees <= 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "training trainees %" PRId32 " is not > 0", t->trainees);
        return TECG_OK;
}

/* The year total and the month cell change together or not at all, as
 * with funding. */
static tecg_err_t apply_training(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                 char *errstr, size_t errstr_size) {
        const tecg_training_t *t = &ev->u.training;
        int32_t year = year_of(ev->occurred_at_ms);
        tecg_training_month_t key;
        bool found, mfound;
        size_t at, mat;
        int64_t sum = t->trainees, msum = t->trainees;
        tecg_err_t err;

        if ((err = training_check(t, errstr, errstr_size)))
                return err;
        memset(&key, 0, sizeof(key));
        key.month = tecg_month_of(ev->occurred_at_ms);
        key.location = t->location;
        key.level = t->level;
        at = training_find(st, year, t->location, t->level, &found);
        mat = sorted_find(st->training_months, st->ntraining_months, sizeof(key), &key,
                          training_month_cmp, &mfound);
        if ((found &&
             __builtin_add_overflow(st->training[at].trainees, (int64_t)t->trainees, &sum)) ||
            (mfound && __builtin_add_overflow(st->training_months[mat].trainees,
                                              (int64_t)t->trainees, &msum)))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "training %" PRId32 " %s %s: sum would overflow int64", year,
                                   tecg_location_names[t->location], tecg_level_names[t->level]);
        if ((!found &&
             array_reserve((void **)&st->training, st->ntraining, sizeof(*st->training))) ||
            (!mfound && array_reserve((void **)&st->training_months, st->ntraining_months,
                                      sizeof(*st->training_months))))
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        if (!found) {
                array_open(st->training, &st->ntraining, sizeof(*st->training), at);
                st->training[at].year = year;
                st->training[at].location = t->location;
                st->training[at].level = t->level;
        }
        st->training[at].trainees = sum;
        if (!mfound) {
                array_open(st->training_months, &st->ntraining_months, sizeof(key), mat);
                st->training_months[mat] = key;
        }
        st->training_months[mat].trainees = msum;
        *changed = true;
        return TECG_OK;
}

/* ------------------------------------------------- taking effects back */

static tecg_err_t unapply_funding(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                  char *errstr, size_t errstr_size) {
        const tecg_funding_t *f = &ev->u.funding;
        tecg_funding_month_t key;
        bool found, mfound;
        size_t at, mat;
        tecg_err_t err;

        if ((err = funding_check(f, errstr, errstr_size)))
                return err;
        memset(&key, 0, sizeof(key));
        key.month = tecg_month_of(ev->occurred_at_ms);
        key.channel = f->channel;
        key.stage = f->stage;
        memcpy(key.currency, f->currency, 4);
        at = funding_find(st, f->channel, f->stage, f->currency, &found);
        mat = sorted_find(st->funding_months, st->nfunding_months, sizeof(key), &key,
                          funding_month_cmp, &mfound);
        if (!found || !mfound || st->funding[at].amount_minor < f->amount_minor ||
            st->funding_months[mat].amount_minor < f->amount_minor)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "funding %s %s %s of %.64s is not in the state of %s",
                                   tecg_channel_names[f->channel],
                                   tecg_funding_stage_names[f->stage], f->currency, ev->event_id,
                                   st->nation);
        if ((st->funding[at].amount_minor -= f->amount_minor) == 0)
                array_remove(st->funding, &st->nfunding, sizeof(*st->funding), at);
        if ((st->funding_months[mat].amount_minor -= f->amount_minor) == 0)
                array_remove(st->funding_months, &st->nfunding_months, sizeof(key), mat);
        *changed = true;
        return TECG_OK;
}

/* A value cell that falls to 0 is removed when this event brought a value
 * above 0; a zero value taken back leaves its cell, which other zero-valued
 * events may hold too (a cell does not count its contributors). */
static tecg_err_t unapply_equipment(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                    char *errstr, size_t errstr_size) {
        const tecg_equipment_t *e = &ev->u.equipment;
        bool found = false;
        size_t at = 0;
        tecg_err_t err;

        if ((err = equipment_check(e, errstr, errstr_size)))
                return err;
        if (e->has_value)
                at = value_find(st, e->category, e->stage, e->currency, &found);
        if (st->equipment_quantity[e->category][e->stage] < e->quantity ||
            (e->has_value && (!found || st->equipment_values[at].value_minor < e->value_minor)))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "equipment %s %s of %.64s is not in the state of %s",
                                   tecg_category_names[e->category],
                                   tecg_equipment_stage_names[e->stage], ev->event_id, st->nation);
        st->equipment_quantity[e->category][e->stage] -= e->quantity;
        if (e->has_value && (st->equipment_values[at].value_minor -= e->value_minor) == 0 &&
            e->value_minor > 0)
                array_remove(st->equipment_values, &st->nequipment_values,
                             sizeof(*st->equipment_values), at);
        *changed = true;
        return TECG_OK;
}

/* A fallback that replaces ev must be an earlier report of the same
 * (role, location) (and, for the month, of the same month): anything else
 * is the caller's mistake, refused before the state changes. One that is
 * not used (ev did not win) is not looked at. */
static tecg_err_t fallback_check(const tecg_event_t *ev, const tecg_event_t *fb, bool used,
                                 bool same_month, char *errstr, size_t errstr_size) {
        if (!fb || !used)
                return TECG_OK;
        if (fb->type != TECG_EV_PERSONNEL || fb->u.personnel.role != ev->u.personnel.role ||
            fb->u.personnel.location != ev->u.personnel.location || fb->u.personnel.headcount < 0 ||
            strncmp(fb->nation, ev->nation, sizeof(fb->nation)) != 0 ||
            strnlen(fb->event_id, sizeof(fb->event_id)) == sizeof(fb->event_id) ||
            !report_beats(ev->occurred_at_ms, ev->event_id, fb->occurred_at_ms, fb->event_id) ||
            (same_month && tecg_month_of(fb->occurred_at_ms) != tecg_month_of(ev->occurred_at_ms)))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "fallback %.64s is not an earlier personnel report of the same "
                                   "role and location%s as %.64s",
                                   fb->event_id, same_month ? " and month" : "", ev->event_id);
        return TECG_OK;
}

/* Only the winner of a (role, location), or of its month, shows in the
 * state: taking back any other report changes nothing there. */
static tecg_err_t unapply_personnel(tecg_nation_state_t *st, const tecg_event_t *ev,
                                    const tecg_event_t *fallback,
                                    const tecg_event_t *month_fallback, bool *changed, char *errstr,
                                    size_t errstr_size) {
        const tecg_personnel_t *p = &ev->u.personnel;
        tecg_strength_t *cell;
        tecg_strength_month_t key;
        bool mfound, wins, wins_month;
        size_t mat;
        tecg_err_t err;

        if ((err = personnel_check(p, errstr, errstr_size)))
                return err;
        cell = &st->personnel[p->role][p->location];
        wins = cell->reported && cell->occurred_at_ms == ev->occurred_at_ms &&
               strcmp(cell->event_id, ev->event_id) == 0;
        strength_month_set(&key, ev);
        mat = sorted_find(st->strength_months, st->nstrength_months, sizeof(key), &key,
                          strength_month_cmp, &mfound);
        wins_month = mfound && st->strength_months[mat].occurred_at_ms == ev->occurred_at_ms &&
                     strcmp(st->strength_months[mat].event_id, ev->event_id) == 0;
        if ((err = fallback_check(ev, fallback, wins, false, errstr, errstr_size)) ||
            (err = fallback_check(ev, month_fallback, wins_month, true, errstr, errstr_size)))
                return err;
        if (wins) {
                if (fallback)
                        strength_set(cell, fallback);
                else
                        memset(cell, 0, sizeof(*cell));
                *changed = true;
        }
        if (wins_month) {
                if (month_fallback)
                        strength_month_set(&st->strength_months[mat], month_fallback);
                else
                        array_remove(st->strength_months, &st->nstrength_months, sizeof(key), mat);
                *changed = true;
        }
        return TECG_OK;
}

static tecg_err_t unapply_training(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                   char *errstr, size_t errstr_size) {
        const tecg_training_t *t = &ev->u.training;
        tecg_training_month_t key;
        bool found, mfound;
        size_t at, mat;
        tecg_err_t err;

        if ((err = training_check(t, errstr, errstr_size)))
                return err;
        memset(&key, 0, sizeof(key));
        key.month = tecg_month_of(ev->occurred_at_ms);
        key.location = t->location;
        key.level = t->level;
        at = training_find(st, year_of(ev->occurred_at_ms), t->location, t->level, &found);
        mat = sorted_find(st->training_months, st->ntraining_months, sizeof(key), &key,
                          training_month_cmp, &mfound);
        if (!found || !mfound || st->training[at].trainees < t->trainees ||
            st->training_months[mat].trainees < t->trainees)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "training %s %s of %.64s is not in the state of %s",
                                   tecg_location_names[t->location], tecg_level_names[t->level],
                                   ev->event_id, st->nation);
        if ((st->training[at].trainees -= t->trainees) == 0)
                array_remove(st->training, &st->ntraining, sizeof(*st->training), at);
        if ((st->training_months[mat].trainees -= t->trainees) == 0)
                array_remove(st->training_months, &st->ntraining_months, sizeof(key), mat);
        *changed = true;
        return TECG_OK;
}

/* ------------------------------------------------------------ public */

uint64_t tecg_nation_state_serial(void) {
        static _Atomic uint64_t last;
        return atomic_fetch_add(&last, 1) + 1;
}

tecg_nation_state_t *tecg_nation_state_new(const char *nation) {
        tecg_nation_state_t *st;

        if (!nation || strlen(nation) > 3)
                return NULL;
        if (!(st = calloc(1, sizeof(*st))))
                return NULL;
        memcpy(st->nation, nation, strlen(nation) + 1);
        st->serial = tecg_nation_state_serial();
        st->as_of_ms = INT64_MIN;
        for (int t = 0; t < TECG_EV__COUNTED; t++)
                st->last_report_ms[t] = INT64_MIN;
        return st;
}

static void corrections_free(tecg_correction_t *c, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(c[i].reason);
        free(c);
}

void tecg_nation_state_destroy(tecg_nation_state_t *st) {
        if (!st)
                return;
        free(st->funding);
        free(st->equipment_values);
        free(st->training);
        free(st->funding_months);
        free(st->training_months);
        free(st->strength_months);
        corrections_free(st->recent_corrections, st->nrecent_corrections);
        free(st->dead_letter_months);
        free(st);
}

/* What every way of counting an event asks first: the nation's own event
 * with a usable event_id, and room left in the snapshot's counters. */
static tecg_err_t count_check(const tecg_nation_state_t *st, const tecg_event_t *ev, char *errstr,
                              size_t errstr_size) {
        size_t idlen;

        if (strncmp(ev->nation, st->nation, sizeof(st->nation)) != 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "event %.64s is of nation %.3s, not %s", ev->event_id,
                                   ev->nation, st->nation);
        /* The winning event_id is kept and compared: it must be a string. */
        idlen = strnlen(ev->event_id, sizeof(ev->event_id));
        if (idlen == 0 || idlen == sizeof(ev->event_id))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "event_id empty or longer than %d", TECG_EVENT_ID_MAX);
        /* The snapshot schema holds events and version as Avro longs, and
         * the caller bumps version after applying: refuse here rather than
         * produce a state the encoder cannot write (which would stall the
         * aggregator on every retry). */
        if (st->events >= (uint64_t)INT64_MAX || st->version >= (uint64_t)INT64_MAX - 1)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "the nation's event count or version would exceed "
                                   "what its snapshot can hold (int64)");
        return TECG_OK;
}

/* events, as_of and last_report: what every counted arrival moves. */
static bool count_arrival(tecg_nation_state_t *st, const tecg_event_t *ev) {
        bool ch = false;

        st->events++;
        if (ev->occurred_at_ms > st->as_of_ms) {
                st->as_of_ms = ev->occurred_at_ms;
                ch = true;
        }
        if ((unsigned)ev->type < TECG_EV__COUNTED &&
            ev->occurred_at_ms > st->last_report_ms[ev->type]) {
                st->last_report_ms[ev->type] = ev->occurred_at_ms;
                ch = true;
        }
        return ch;
}

tecg_err_t tecg_nation_state_apply(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                   char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        bool ch = false;

        if (changed)
                *changed = false;
        if ((err = count_check(st, ev, errstr, errstr_size)))
                goto done;
        switch (ev->type) {
        case TECG_EV_FUNDING:
                err = apply_funding(st, ev, &ch, errstr, errstr_size);
                break;
        case TECG_EV_EQUIPMENT:
                err = apply_equipment(st, &ev->u.equipment, &ch, errstr, errstr_size);
                break;
        case TECG_EV_PERSONNEL:
                err = apply_personnel(st, ev, &ch, errstr, errstr_size);
                break;
        case TECG_EV_TRAINING:
                err = apply_training(st, ev, &ch, errstr, errstr_size);
                break;
        default:
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "event type %d out of range", (int)ev->type);
                break;
        }
        if (err)
                goto done;
        if (count_arrival(st, ev))
                ch = true;
        if (changed)
                *changed = ch;
done:
        return err;
}

tecg_err_t tecg_nation_state_count_only(tecg_nation_state_t *st, const tecg_event_t *ev,
                                        bool *changed, char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        bool ch;

        if (changed)
                *changed = false;
        if ((err = count_check(st, ev, errstr, errstr_size)))
                goto done;
        if ((unsigned)ev->type >= TECG_EV__COUNT) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "event type %d out of range", (int)ev->type);
                goto done;
        }
        ch = count_arrival(st, ev);
        if (changed)
                *changed = ch;
done:
        return err;
}

tecg_err_t tecg_nation_state_unapply(tecg_nation_state_t *st, const tecg_event_t *ev,
                                     const tecg_event_t *fallback,
                                     const tecg_event_t *month_fallback, bool *changed,
                                     char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        bool ch = false;

        if (changed)
                *changed = false;
        if (strncmp(ev->nation, st->nation, sizeof(st->nation)) != 0) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "event %.64s is of nation %.3s, not %s", ev->event_id, ev->nation,
                                  st->nation);
                goto done;
        }
        if (strnlen(ev->event_id, sizeof(ev->event_id)) == sizeof(ev->event_id)) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "event_id longer than %d",
                                  TECG_EVENT_ID_MAX);
                goto done;
        }
        switch (ev->type) {
        case TECG_EV_FUNDING:
                err = unapply_funding(st, ev, &ch, errstr, errstr_size);
                break;
        case TECG_EV_EQUIPMENT:
                err = unapply_equipment(st, ev, &ch, errstr, errstr_size);
                break;
        case TECG_EV_PERSONNEL:
                err = unapply_personnel(st, ev, fallback, month_fallback, &ch, errstr, errstr_size);
                break;
        case TECG_EV_TRAINING:
                err = unapply_training(st, ev, &ch, errstr, errstr_size);
                break;
        default:
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "event type %d has no effect to take back", (int)ev->type);
                break;
        }
        if (!err && changed)
                *changed = ch;
done:
        return err;
}

/* Latest first: the greater occurred_at, then the greater event_id. */
static int correction_order(const tecg_correction_t *a, const tecg_correction_t *b) {
        if (a->occurred_at_ms != b->occurred_at_ms)
                return a->occurred_at_ms > b->occurred_at_ms ? -1 : 1;
        return -strcmp(a->event_id, b->event_id);
}

/* Upserts into the list of the latest TECG_RECENT_CORRECTIONS. An entry
 * that sorts below a full list is counted but not kept; since the list only
 * ever takes later entries, the one kept is the latest N of every
 * correction noted, whatever order they came in. */
tecg_err_t tecg_nation_state_note_correction(tecg_nation_state_t *st, const tecg_correction_t *c,
                                             char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_correction_t entry;
        size_t n = st->nrecent_corrections, at = n, i;
        size_t idlen = strnlen(c->event_id, sizeof(c->event_id));
        size_t tlen = strnlen(c->target_id, sizeof(c->target_id));

        memset(&entry, 0, sizeof(entry));
        if ((unsigned)c->kind >= TECG_CORR__COUNT || (unsigned)c->type >= TECG_EV__COUNTED ||
            idlen == 0 || idlen == sizeof(c->event_id) || tlen == 0 ||
            tlen == sizeof(c->target_id) ||
            strnlen(c->before, sizeof(c->before)) == sizeof(c->before) ||
            strnlen(c->after, sizeof(c->after)) == sizeof(c->after)) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "correction kind %d, type %d or one of its strings is out of "
                                  "range",
                                  (int)c->kind, (int)c->type);
                goto done;
        }
        entry = *c;
        entry.update_only = false;
        entry.reason = NULL;
        if (c->reason && !(entry.reason = strdup(c->reason))) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        for (i = 0; i < n; i++)
                if (strcmp(st->recent_corrections[i].event_id, c->event_id) == 0)
                        break;
        if (i < n && c->update_only) {
                /* Its target arrived: what it took back is known now; the
                 * rest of the note (time, reason) stays as first noted. */
                memcpy(st->recent_corrections[i].before, c->before, sizeof(c->before));
                goto done;
        }
        if (i < n) {
                /* The same correcting event: same occurred_at, same place. */
                free(st->recent_corrections[i].reason);
                entry.occurred_at_ms = st->recent_corrections[i].occurred_at_ms;
                st->recent_corrections[i] = entry;
                entry.reason = NULL;
                goto done;
        }
        for (i = 0; i < n; i++)
                if (correction_order(&entry, &st->recent_corrections[i]) < 0) {
                        at = i;
                        break;
                }
        if (at < TECG_RECENT_CORRECTIONS && !c->update_only) {
                if (n < TECG_RECENT_CORRECTIONS) {
                        if (array_reserve((void **)&st->recent_corrections, n, sizeof(entry))) {
                                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size,
                                                  "out of memory");
                                goto done;
                        }
                } else {
                        free(st->recent_corrections[n - 1].reason);
                        st->nrecent_corrections--;
                }
                array_open(st->recent_corrections, &st->nrecent_corrections, sizeof(entry), at);
                st->recent_corrections[at] = entry;
                entry.reason = NULL;
        }
        if (!c->update_only) {
                if (c->kind == TECG_CORR_SUPERSEDE)
                        st->supersessions++;
                else
                        st->retractions++;
        }
done:
        free(entry.reason);
        return err;
}

/* Latest first; equal times by stage, then reason, so that the list does
 * not depend on arrival order. */
static int dead_letter_order(const tecg_dead_letter_note_t *a, const tecg_dead_letter_note_t *b) {
        int c;
        if (a->at_ms != b->at_ms)
                return a->at_ms > b->at_ms ? -1 : 1;
        if ((c = strcmp(a->stage, b->stage)) != 0)
                return -c;
        return -strcmp(a->reason, b->reason);
}

/* Copies at most size - 1 bytes of s, cut before a UTF-8 continuation
 * byte so that the copy stays valid UTF-8. */
static void copy_utf8(char *dst, size_t size, const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n >= size) {
                n = size - 1;
                while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
                        n--;
        }
        if (n)
                memcpy(dst, s, n);
        dst[n] = '\0';
}

tecg_err_t tecg_nation_state_note_dead_letter(tecg_nation_state_t *st, int64_t at_ms,
                                              const char *stage, const char *reason, char *errstr,
                                              size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_dead_letter_note_t note;
        tecg_dead_letter_month_t key = {tecg_month_of(at_ms), 0};
        size_t n = st->nrecent_dead_letters, at = n, mat;
        bool mfound;

        if (st->dead_letters >= (uint64_t)INT64_MAX) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "the nation's dead-letter count would exceed int64");
                goto done;
        }
        memset(&note, 0, sizeof(note));
        note.at_ms = at_ms;
        copy_utf8(note.stage, sizeof(note.stage), stage);
        copy_utf8(note.reason, sizeof(note.reason), reason);
        mat = sorted_find(st->dead_letter_months, st->ndead_letter_months, sizeof(key), &key,
                          dead_letter_month_cmp, &mfound);
        if (!mfound) {
                if (array_insert((void **)&st->dead_letter_months, &st->ndead_letter_months,
                                 sizeof(key), mat)) {
                        err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                        goto done;
                }
                st->dead_letter_months[mat].month = key.month;
        }
        st->dead_letter_months[mat].count++;
        st->dead_letters++;
        for (size_t i = 0; i < n; i++)
                if (dead_letter_order(&note, &st->recent_dead_letters[i]) < 0) {
                        at = i;
                        break;
                }
        if (at < TECG_RECENT_DEAD_LETTERS) {
                if (n == TECG_RECENT_DEAD_LETTERS)
                        n--;
                memmove(&st->recent_dead_letters[at + 1], &st->recent_dead_letters[at],
                        (n - at) * sizeof(note));
                st->recent_dead_letters[at] = note;
                st->nrecent_dead_letters = n + 1;
        }
done:
        return err;
}

/* An amount in minor units written in major units with the currency's
 * minor digits ("8100000.00"); an unknown currency shows its minor units. */
static void money_text(int64_t minor, const char *currency, char *out, size_t size) {
        int digits = tecg_currency_minor_digits(currency);
        uint64_t a = minor < 0 ? -(uint64_t)minor : (uint64_t)minor, scale = 1;

        if (digits <= 0) {
                snprintf(out, size, "%s%" PRIu64, minor < 0 ? "-" : "", a);
                return;
        }
        for (int i = 0; i < digits; i++)
                scale *= 10;
        snprintf(out, size, "%s%" PRIu64 ".%0*" PRIu64, minor < 0 ? "-" : "", a / scale, digits,
                 a % scale);
}

void tecg_nation_state_effect_text(const tecg_event_t *ev, char *out, size_t size) {
        char money[32];

        if (!out || size == 0)
                return;
        out[0] = '\0';
        switch (ev->type) {
        case TECG_EV_FUNDING: {
                const tecg_funding_t *f = &ev->u.funding;
                if ((unsigned)f->channel >= TECG_CH__COUNT || (unsigned)f->stage >= TECG_FS__COUNT)
                        break;
                money_text(f->amount_minor, f->currency, money, sizeof(money));
                snprintf(out, size, "funding %s %s %s %.3s", tecg_channel_names[f->channel],
                         tecg_funding_stage_names[f->stage], money, f->currency);
                break;
        }
        case TECG_EV_EQUIPMENT: {
                const tecg_equipment_t *e = &ev->u.equipment;
                if ((unsigned)e->category >= TECG_CAT__COUNT ||
                    (unsigned)e->stage >= TECG_ES__COUNT)
                        break;
                if (e->has_value) {
                        money_text(e->value_minor, e->currency, money, sizeof(money));
                        snprintf(out, size, "equipment %s %s %" PRId64 " (value %s %.3s)",
                                 tecg_category_names[e->category],
                                 tecg_equipment_stage_names[e->stage], e->quantity, money,
                                 e->currency);
                } else {
                        snprintf(out, size, "equipment %s %s %" PRId64,
                                 tecg_category_names[e->category],
                                 tecg_equipment_stage_names[e->stage], e->quantity);
                }
                break;
        }
        case TECG_EV_PERSONNEL: {
                const tecg_personnel_t *p = &ev->u.personnel;
                if ((unsigned)p->role >= TECG_ROLE__COUNT ||
                    (unsigned)p->location >= TECG_LOC__COUNT)
                        break;
                snprintf(out, size, "personnel %s %s %" PRId32, tecg_role_names[p->role],
                         tecg_location_names[p->location], p->headcount);
                break;
        }
        case TECG_EV_TRAINING: {
                const tecg_training_t *t = &ev->u.training;
                if ((unsigned)t->level >= TECG_LVL__COUNT ||
                    (unsigned)t->location >= TECG_LOC__COUNT)
                        break;
                snprintf(out, size, "training %s %s %" PRId32 " trainees",
                         tecg_location_names[t->location], tecg_level_names[t->level], t->trainees);
                break;
        }
        case TECG_EV_RETRACTION:
                snprintf(out, size, "retraction of %.64s", ev->u.retraction.retracts);
                break;
        default:
                break;
        }
}

/* Copies n elements of arr into a fresh array at *dst (NULL when n is 0). */
static bool dup_array(void **dst, const void *arr, size_t n, size_t sz) {
        *dst = NULL;
        if (!n)
                return true;
        if (!(*dst = malloc(n * sz)))
                return false;
        memcpy(*dst, arr, n * sz);
        return true;
}

tecg_nation_state_t *tecg_nation_state_dup(const tecg_nation_state_t *st) {
        tecg_nation_state_t *d = malloc(sizeof(*d));
        bool ok = false;

        if (!d)
                return NULL;
        *d = *st;
        d->serial = tecg_nation_state_serial();
        d->funding = NULL;
        d->equipment_values = NULL;
        d->training = NULL;
        d->funding_months = NULL;
        d->training_months = NULL;
        d->strength_months = NULL;
        d->recent_corrections = NULL;
        d->nrecent_corrections = 0;
        d->dead_letter_months = NULL;
        if (!dup_array((void **)&d->funding, st->funding, st->nfunding, sizeof(*st->funding)) ||
            !dup_array((void **)&d->equipment_values, st->equipment_values, st->nequipment_values,
                       sizeof(*st->equipment_values)) ||
            !dup_array((void **)&d->training, st->training, st->ntraining, sizeof(*st->training)) ||
            !dup_array((void **)&d->funding_months, st->funding_months, st->nfunding_months,
                       sizeof(*st->funding_months)) ||
            !dup_array((void **)&d->training_months, st->training_months, st->ntraining_months,
                       sizeof(*st->training_months)) ||
            !dup_array((void **)&d->strength_months, st->strength_months, st->nstrength_months,
                       sizeof(*st->strength_months)) ||
            !dup_array((void **)&d->dead_letter_months, st->dead_letter_months,
                       st->ndead_letter_months, sizeof(*st->dead_letter_months)))
                goto done;
        if (st->nrecent_corrections) {
                if (!(d->recent_corrections =
                              calloc(st->nrecent_corrections, sizeof(*st->recent_corrections))))
                        goto done;
                for (size_t i = 0; i < st->nrecent_corrections; i++) {
                        d->recent_corrections[i] = st->recent_corrections[i];
                        d->recent_corrections[i].reason = NULL;
                        d->nrecent_corrections = i + 1;
                        if (st->recent_corrections[i].reason &&
                            !(d->recent_corrections[i].reason =
                                      strdup(st->recent_corrections[i].reason)))
                                goto done;
                }
        }
        ok = true;
done:
        if (!ok) {
                tecg_nation_state_destroy(d);
                d = NULL;
        }
        return d;
}

static bool str_eq(const char *a, const char *b, size_t n) {
        return strncmp(a, b, n) == 0;
}

static bool months_equal(const tecg_nation_state_t *a, const tecg_nation_state_t *b) {
        if (a->nfunding_months != b->nfunding_months ||
            a->ntraining_months != b->ntraining_months ||
            a->nstrength_months != b->nstrength_months ||
            a->ndead_letter_months != b->ndead_letter_months)
                return false;
        for (size_t i = 0; i < a->nfunding_months; i++) {
                const tecg_funding_month_t *x = &a->funding_months[i], *y = &b->funding_months[i];
                if (funding_month_cmp(x, y) != 0 || x->amount_minor != y->amount_minor)
                        return false;
        }
        for (size_t i = 0; i < a->ntraining_months; i++) {
                const tecg_training_month_t *x = &a->training_months[i],
                                            *y = &b->training_months[i];
                if (training_month_cmp(x, y) != 0 || x->trainees != y->trainees)
                        return false;
        }
        for (size_t i = 0; i < a->nstrength_months; i++) {
                const tecg_strength_month_t *x = &a->strength_months[i],
                                            *y = &b->strength_months[i];
                if (strength_month_cmp(x, y) != 0 || x->occurred_at_ms != y->occurred_at_ms ||
                    x->headcount != y->headcount ||
                    !str_eq(x->event_id, y->event_id, sizeof(x->event_id)))
                        return false;
        }
        for (size_t i = 0; i < a->ndead_letter_months; i++)
                if (a->dead_letter_months[i].month != b->dead_letter_months[i].month ||
                    a->dead_letter_months[i].count != b->dead_letter_months[i].count)
                        return false;
        return true;
}

static bool notes_equal(const tecg_nation_state_t *a, const tecg_nation_state_t *b) {
        if (a->supersessions != b->supersessions || a->retractions != b->retractions ||
            a->nrecent_corrections != b->nrecent_corrections ||
            a->dead_letters != b->dead_letters ||
            a->nrecent_dead_letters != b->nrecent_dead_letters)
                return false;
        for (size_t i = 0; i < a->nrecent_corrections; i++) {
                const tecg_correction_t *x = &a->recent_corrections[i],
                                        *y = &b->recent_corrections[i];
                if (x->kind != y->kind || x->type != y->type ||
                    x->occurred_at_ms != y->occurred_at_ms ||
                    !str_eq(x->event_id, y->event_id, sizeof(x->event_id)) ||
                    !str_eq(x->target_id, y->target_id, sizeof(x->target_id)) ||
                    !str_eq(x->before, y->before, sizeof(x->before)) ||
                    !str_eq(x->after, y->after, sizeof(x->after)) || (!x->reason != !y->reason) ||
                    (x->reason && strcmp(x->reason, y->reason) != 0))
                        return false;
        }
        for (size_t i = 0; i < a->nrecent_dead_letters; i++) {
                const tecg_dead_letter_note_t *x = &a->recent_dead_letters[i],
                                              *y = &b->recent_dead_letters[i];
                if (x->at_ms != y->at_ms || !str_eq(x->stage, y->stage, sizeof(x->stage)) ||
                    !str_eq(x->reason, y->reason, sizeof(x->reason)))
                        return false;
        }
        return true;
}

/* Field by field, never memcmp: padding and the bytes after a string's NUL
 * are not part of the value. */
bool tecg_nation_state_equal(const tecg_nation_state_t *a, const tecg_nation_state_t *b) {
        if (strncmp(a->nation, b->nation, sizeof(a->nation)) != 0 || a->events != b->events ||
            a->as_of_ms != b->as_of_ms || a->nfunding != b->nfunding ||
            a->nequipment_values != b->nequipment_values || a->ntraining != b->ntraining)
                return false;
        for (int t = 0; t < TECG_EV__COUNTED; t++)
                if (a->last_report_ms[t] != b->last_report_ms[t])
                        return false;
        for (size_t i = 0; i < a->nfunding; i++) {
                const tecg_funding_total_t *x = &a->funding[i], *y = &b->funding[i];
                if (x->channel != y->channel || x->stage != y->stage ||
                    strncmp(x->currency, y->currency, 4) != 0 || x->amount_minor != y->amount_minor)
                        return false;
        }
        for (int c = 0; c < TECG_CAT__COUNT; c++)
                for (int s = 0; s < TECG_ES__COUNT; s++)
                        if (a->equipment_quantity[c][s] != b->equipment_quantity[c][s])
                                return false;
        for (size_t i = 0; i < a->nequipment_values; i++) {
                const tecg_equipment_value_t *x = &a->equipment_values[i],
                                             *y = &b->equipment_values[i];
                if (x->category != y->category || x->stage != y->stage ||
                    strncmp(x->currency, y->currency, 4) != 0 || x->value_minor != y->value_minor)
                        return false;
        }
        for (int r = 0; r < TECG_ROLE__COUNT; r++)
                for (int l = 0; l < TECG_LOC__COUNT; l++) {
                        const tecg_strength_t *x = &a->personnel[r][l], *y = &b->personnel[r][l];
                        if (x->reported != y->reported)
                                return false;
                        if (x->reported &&
                            (x->occurred_at_ms != y->occurred_at_ms ||
                             x->headcount != y->headcount ||
                             strncmp(x->event_id, y->event_id, sizeof(x->event_id)) != 0))
                                return false;
                }
        for (size_t i = 0; i < a->ntraining; i++) {
                const tecg_training_total_t *x = &a->training[i], *y = &b->training[i];
                if (x->year != y->year || x->location != y->location || x->level != y->level ||
                    x->trainees != y->trainees)
                        return false;
        }
        return months_equal(a, b) && notes_equal(a, b);
}
