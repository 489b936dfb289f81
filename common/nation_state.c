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
#include <stdlib.h>
#include <string.h>

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

/* The proleptic Gregorian year of a day count since 1970-01-01 (Howard
 * Hinnant's civil_from_days, in 400-year eras so that it is exact for every
 * int64 day count the millisecond range can produce). */
static int64_t year_from_days(int64_t z) {
        z += 719468; /* days since 0000-03-01 */
        int64_t era = floor_div(z, 146097);
        int64_t doe = z - era * 146097; /* [0, 146096] */
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t y = yoe + era * 400;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153; /* March-based month [0, 11] */
        return mp >= 10 ? y + 1 : y;      /* Jan, Feb: next civil year */
}

/* UTC year of a millisecond timestamp; every int64 fits an int32 year
 * (INT64_MIN ms is about year -292 million). */
static int32_t year_of(int64_t utc_ms) {
        return (int32_t)year_from_days(floor_div(utc_ms, INT64_C(86400000)));
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

/* Opens a zeroed slot at index at of an array of n elements of size sz
 * (*arr grows by one). The array is untouched on failure, so a caller can
 * reserve the slot before it changes anything else. */
static tecg_err_t array_insert(void **arr, size_t *n, size_t sz, size_t at) {
        uint8_t *a = realloc(*arr, (*n + 1) * sz);
        if (!a)
                return TECG_ERR_NOMEM;
        memmove(a + (at + 1) * sz, a + at * sz, (*n - at) * sz);
        memset(a + at * sz, 0, sz);
        *arr = a;
        (*n)++;
        return TECG_OK;
}

/* ------------------------------------------------------- per event type */

static tecg_err_t apply_funding(tecg_nation_state_t *st, const tecg_funding_t *f, bool *changed,
                                char *errstr, size_t errstr_size) {
        bool found;
        size_t at;
        int64_t sum;

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
        at = funding_find(st, f->channel, f->stage, f->currency, &found);
        if (found) {
                if (__builtin_add_overflow(st->funding[at].amount_minor, f->amount_minor, &sum))
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "funding %s %s %s: sum would overflow int64",
                                           tecg_channel_names[f->channel],
                                           tecg_funding_stage_names[f->stage], f->currency);
                st->funding[at].amount_minor = sum;
        } else {
                if (array_insert((void **)&st->funding, &st->nfunding, sizeof(*st->funding), at))
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                st->funding[at].channel = f->channel;
                st->funding[at].stage = f->stage;
                memcpy(st->funding[at].currency, f->currency, 4);
                st->funding[at].amount_minor = f->amount_minor;
        }
        *changed = true;
        return TECG_OK;
}

/* Quantity and value change together or not at all: both sums are checked
 * and the value slot is reserved before either is written. */
static tecg_err_t apply_equipment(tecg_nation_state_t *st, const tecg_equipment_t *e, bool *changed,
                                  char *errstr, size_t errstr_size) {
        int64_t qty, val = 0;
        bool found = false;
        size_t at = 0;

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

/* The latest report wins; equal times go to the greater event_id, so the
 * winner depends only on the set of reports, never on their order. */
static tecg_err_t apply_personnel(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                  char *errstr, size_t errstr_size) {
        const tecg_personnel_t *p = &ev->u.personnel;
        tecg_strength_t *cell;

        if ((unsigned)p->role >= TECG_ROLE__COUNT || (unsigned)p->location >= TECG_LOC__COUNT)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "personnel role %d or location %d out of "
                                   "range",
                                   (int)p->role, (int)p->location);
        if (p->headcount < 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "personnel headcount %" PRId32 " < 0", p->headcount);
        cell = &st->personnel[p->role][p->location];
        if (cell->reported && (ev->occurred_at_ms < cell->occurred_at_ms ||
                               (ev->occurred_at_ms == cell->occurred_at_ms &&
                                strcmp(ev->event_id, cell->event_id) <= 0)))
                return TECG_OK; /* an older report: only counted */
        memset(cell, 0, sizeof(*cell));
        cell->reported = true;
        cell->occurred_at_ms = ev->occurred_at_ms;
        memcpy(cell->event_id, ev->event_id, strlen(ev->event_id) + 1);
        cell->headcount = p->headcount;
        *changed = true;
        return TECG_OK;
}

static tecg_err_t apply_training(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                 char *errstr, size_t errstr_size) {
        const tecg_training_t *t = &ev->u.training;
        int32_t year = year_of(ev->occurred_at_ms);
        bool found;
        size_t at;
        int64_t sum;

        if ((unsigned)t->level >= TECG_LVL__COUNT || (unsigned)t->location >= TECG_LOC__COUNT)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "training level %d or location %d out of "
                                   "range",
                                   (int)t->level, (int)t->location);
        if (t->trainees <= 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "training trainees %" PRId32 " is not > 0", t->trainees);
        at = training_find(st, year, t->location, t->level, &found);
        if (found) {
                if (__builtin_add_overflow(st->training[at].trainees, (int64_t)t->trainees, &sum))
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "training %" PRId32 " %s %s: sum would overflow int64",
                                           year, tecg_location_names[t->location],
                                           tecg_level_names[t->level]);
                st->training[at].trainees = sum;
        } else {
                if (array_insert((void **)&st->training, &st->ntraining, sizeof(*st->training), at))
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                st->training[at].year = year;
                st->training[at].location = t->location;
                st->training[at].level = t->level;
                st->training[at].trainees = t->trainees;
        }
        *changed = true;
        return TECG_OK;
}

/* ------------------------------------------------------------ public */

tecg_nation_state_t *tecg_nation_state_new(const char *nation) {
        tecg_nation_state_t *st;

        if (!nation || strlen(nation) > 3)
                return NULL;
        if (!(st = calloc(1, sizeof(*st))))
                return NULL;
        memcpy(st->nation, nation, strlen(nation) + 1);
        st->as_of_ms = INT64_MIN;
        for (int t = 0; t < TECG_EV__COUNTED; t++)
                st->last_report_ms[t] = INT64_MIN;
        return st;
}

void tecg_nation_state_destroy(tecg_nation_state_t *st) {
        if (!st)
                return;
        free(st->funding);
        free(st->equipment_values);
        free(st->training);
        free(st);
}

tecg_err_t tecg_nation_state_apply(tecg_nation_state_t *st, const tecg_event_t *ev, bool *changed,
                                   char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        bool ch = false;
        size_t idlen;

        if (changed)
                *changed = false;
        if (strncmp(ev->nation, st->nation, sizeof(st->nation)) != 0) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "event %.64s is of nation %.3s, not %s", ev->event_id, ev->nation,
                                  st->nation);
                goto done;
        }
        /* The winning event_id is kept and compared: it must be a string. */
        idlen = strnlen(ev->event_id, sizeof(ev->event_id));
        if (idlen == 0 || idlen == sizeof(ev->event_id)) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "event_id empty or longer than %d", TECG_EVENT_ID_MAX);
                goto done;
        }
        /* The snapshot schema holds events and version as Avro longs, and
         * the caller bumps version after applying: refuse here rather than
         * produce a state the encoder cannot write (which would stall the
         * aggregator on every retry). */
        if (st->events >= (uint64_t)INT64_MAX || st->version >= (uint64_t)INT64_MAX - 1) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "the nation's event count or version would exceed "
                                  "what its snapshot can hold (int64)");
                goto done;
        }
        switch (ev->type) {
        case TECG_EV_FUNDING:
                err = apply_funding(st, &ev->u.funding, &ch, errstr, errstr_size);
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
        st->events++;
        if (ev->occurred_at_ms > st->as_of_ms) {
                st->as_of_ms = ev->occurred_at_ms;
                ch = true;
        }
        /* ev->type is in range: the switch refused any other. */
        if (ev->occurred_at_ms > st->last_report_ms[ev->type]) {
                st->last_report_ms[ev->type] = ev->occurred_at_ms;
                ch = true;
        }
        if (changed)
                *changed = ch;
done:
        return err;
}

tecg_nation_state_t *tecg_nation_state_dup(const tecg_nation_state_t *st) {
        tecg_nation_state_t *d = malloc(sizeof(*d));
        bool ok = false;

        if (!d)
                return NULL;
        *d = *st;
        d->funding = NULL;
        d->equipment_values = NULL;
        d->training = NULL;
        if (st->nfunding && !(d->funding = malloc(st->nfunding * sizeof(*st->funding))))
                goto done;
        if (st->nequipment_values &&
            !(d->equipment_values = malloc(st->nequipment_values * sizeof(*st->equipment_values))))
                goto done;
        if (st->ntraining && !(d->training = malloc(st->ntraining * sizeof(*st->training))))
                goto done;
        if (st->nfunding)
                memcpy(d->funding, st->funding, st->nfunding * sizeof(*st->funding));
        if (st->nequipment_values)
                memcpy(d->equipment_values, st->equipment_values,
                       st->nequipment_values * sizeof(*st->equipment_values));
        if (st->ntraining)
                memcpy(d->training, st->training, st->ntraining * sizeof(*st->training));
        ok = true;
done:
        if (!ok) {
                tecg_nation_state_destroy(d);
                d = NULL;
        }
        return d;
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
        return true;
}
