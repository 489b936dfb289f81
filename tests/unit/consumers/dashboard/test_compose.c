/* Dashboard composition (consumers/compose.h).
 *
 * One fixed scenario (scenario_new() below, nations in
 * $TECG_TEST_DATA/compose/nations.csv) is composed into the three documents
 * and compared byte for byte with the golden files
 * $TECG_TEST_DATA/compose/{funding,staffing,training}.json (pretty-printed,
 * see dump()). TECG_UPDATE_GOLDEN=1 rewrites them from the output: review
 * the diff before committing. tests/integration/test_dashboard_schemas.py
 * validates the same golden files against schemas/dashboard-*.schema.json.
 *
 * The scenario, with the figures a reader can check by hand (EUR rates of
 * the built-in table: USD 0.8042, GBP 1.4622, NOK 0.1245, DKK 0.1343,
 * ISK 0.0125, JPY 0.0073; UAH has no rate):
 *
 *   nation  funding (pledged / disbursed)          personnel in Iraq   training
 *   BEL     (no state at all)
 *   CAN     -                                      -                   2005 out 60
 *   DNK     1,000,000.00 DKK / 333.33 DKK          20                  -
 *   GBR     250,000 GBP + 100,000 EUR / 250,000 GBP 90                 2005 out 50
 *   ISL     30,000,000 ISK / -                     -                   -
 *   NOR     5,000,000 NOK / 2,000,000 NOK          40                  2005 out 120, 2006 out 30
 *   UKR     1,000,000.00 UAH / -                   (5 outside)         -
 *   USA     3,000,000 USD / 500,000 USD            150 (+10 outside)   2004 in 40, 2005 in 400
 *   JPN     150,000,000 JPY / -   (not in the list: "unlisted")
 *
 *   pledged converted:   2,412,600 + 365,550 + 100,000 + 622,500 + 134,300
 *                        + 375,000 + 1,095,000 = 5,104,950.00 EUR, UAH left out
 *   disbursed converted: 402,100 + 365,550 + 249,000 + 44.77 (333.33 x
 *                        0.1343 = 44.766219) = 1,016,694.77 EUR
 *   staffing: 300 in Iraq of 360 -> fill_rate 0.8333, shortfall 60
 *   training 2005: 400 in Iraq of 1000 (0.4), 230 outside of 500 (0.46) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "compose.h"
#include "mission.h"
#include "nation_state.h"
#include "refdata.h"
#include "validate.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Hand-built states (the aggregator is not involved here)             */
/* ------------------------------------------------------------------ */

static int64_t ms(const char *rfc3339) {
        int64_t t;
        int32_t off;
        const char *why;
        if (tecg_validate_time(rfc3339, strlen(rfc3339), &t, &off, &why) != 0)
                fail_msg("bad time %s: %s", rfc3339, why);
        return t;
}

/* An empty state (as_of NULL: none), freed by tecg_nation_state_destroy(). */
static tecg_nation_state_t *st_new(const char *nation, const char *as_of) {
        tecg_nation_state_t *st = tecg_nation_state_new(nation);
        assert_non_null(st);
        if (as_of)
                st->as_of_ms = ms(as_of);
        return st;
}

/* Appends in call order: callers add entries in key order, as the
 * aggregator keeps them. */
static void st_funding(tecg_nation_state_t *st, tecg_channel_t ch, tecg_funding_stage_t s,
                       const char *cur, int64_t minor) {
        st->funding = realloc(st->funding, (st->nfunding + 1) * sizeof(*st->funding));
        assert_non_null(st->funding);
        tecg_funding_total_t *t = &st->funding[st->nfunding++];
        memset(t, 0, sizeof(*t));
        t->channel = ch;
        t->stage = s;
        memcpy(t->currency, cur, 4);
        t->amount_minor = minor;
        st->events++;
}

static void st_equipment(tecg_nation_state_t *st, tecg_category_t cat, tecg_equipment_stage_t s,
                         int64_t qty, const char *cur, int64_t value) {
        st->equipment_quantity[cat][s] += qty;
        st->events++;
        if (!cur)
                return;
        st->equipment_values = realloc(st->equipment_values,
                                       (st->nequipment_values + 1) * sizeof(*st->equipment_values));
        assert_non_null(st->equipment_values);
        tecg_equipment_value_t *v = &st->equipment_values[st->nequipment_values++];
        memset(v, 0, sizeof(*v));
        v->category = cat;
        v->stage = s;
        memcpy(v->currency, cur, 4);
        v->value_minor = value;
}

static void st_personnel(tecg_nation_state_t *st, tecg_role_t role, tecg_location_t loc,
                         int32_t headcount, const char *when, const char *event_id) {
        tecg_strength_t *p = &st->personnel[role][loc];
        p->reported = true;
        p->occurred_at_ms = ms(when);
        snprintf(p->event_id, sizeof(p->event_id), "%s", event_id);
        p->headcount = headcount;
        st->events++;
}

static void st_training(tecg_nation_state_t *st, int32_t year, tecg_location_t loc,
                        tecg_level_t lvl, int64_t trainees) {
        st->training = realloc(st->training, (st->ntraining + 1) * sizeof(*st->training));
        assert_non_null(st->training);
        st->training[st->ntraining++] = (tecg_training_total_t){year, loc, lvl, trainees};
        st->events++;
}

/* Month cells (docs/design.md §4.1), appended in key order as the
 * aggregator keeps them. */
static void st_funding_month(tecg_nation_state_t *st, int32_t month, tecg_channel_t ch,
                             tecg_funding_stage_t stage, const char *cur, int64_t amount) {
        tecg_funding_month_t *f;
        st->funding_months = realloc(st->funding_months, (st->nfunding_months + 1) * sizeof(*f));
        assert_non_null(st->funding_months);
        f = &st->funding_months[st->nfunding_months++];
        memset(f, 0, sizeof(*f));
        f->month = month;
        f->channel = ch;
        f->stage = stage;
        memcpy(f->currency, cur, 4);
        f->amount_minor = amount;
}

static void st_training_month(tecg_nation_state_t *st, int32_t month, tecg_location_t loc,
                              tecg_level_t lvl, int64_t trainees) {
        st->training_months = realloc(st->training_months,
                                      (st->ntraining_months + 1) * sizeof(tecg_training_month_t));
        assert_non_null(st->training_months);
        st->training_months[st->ntraining_months++] =
                (tecg_training_month_t){month, loc, lvl, trainees};
}

static void st_strength_month(tecg_nation_state_t *st, int32_t month, tecg_role_t role,
                              tecg_location_t loc, int32_t headcount, const char *when,
                              const char *event_id) {
        tecg_strength_month_t *p;
        st->strength_months = realloc(st->strength_months, (st->nstrength_months + 1) * sizeof(*p));
        assert_non_null(st->strength_months);
        p = &st->strength_months[st->nstrength_months++];
        memset(p, 0, sizeof(*p));
        p->month = month;
        p->role = role;
        p->location = loc;
        p->occurred_at_ms = ms(when);
        snprintf(p->event_id, sizeof(p->event_id), "%s", event_id);
        p->headcount = headcount;
}

static void st_correction(tecg_nation_state_t *st, tecg_correction_kind_t kind,
                          tecg_event_type_t type, const char *id, const char *target,
                          const char *when, const char *before, const char *after,
                          const char *reason) {
        tecg_correction_t c;
        char err[256];
        memset(&c, 0, sizeof(c));
        c.kind = kind;
        c.type = type;
        snprintf(c.event_id, sizeof(c.event_id), "%s", id);
        snprintf(c.target_id, sizeof(c.target_id), "%s", target);
        c.occurred_at_ms = ms(when);
        snprintf(c.before, sizeof(c.before), "%s", before);
        snprintf(c.after, sizeof(c.after), "%s", after);
        c.reason = (char *)reason;
        if (tecg_nation_state_note_correction(st, &c, err, sizeof(err)))
                fail_msg("%s", err);
}

static void st_dead_letter(tecg_nation_state_t *st, const char *when, const char *stage,
                           const char *reason) {
        char err[256];
        if (tecg_nation_state_note_dead_letter(st, ms(when), stage, reason, err, sizeof(err)))
                fail_msg("%s", err);
}

/* "Now" of the golden documents: USA and GBR reported within the 35 days
 * before, the other listed nations did not (BEL never did). */
#define NOW ms("2005-12-10T00:00:00Z")

#define NSTATES 8
#define STATES(s) ((const tecg_nation_state_t *const *)(s)->st)

typedef struct {
        tecg_nations_t *nations;
        tecg_mission_t mission;
        tecg_nation_state_t *st[NSTATES];
} scenario_t;

static void scenario_states(scenario_t *s) {
        tecg_nation_state_t *st;

        /* Unlisted: its state is counted under status "unlisted". */
        s->st[0] = st = st_new("JPN", "2005-06-30T00:00:00Z");
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "JPY", 150000000);

        s->st[1] = st = st_new("USA", "2005-11-30T12:00:00Z");
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "USD", 100000000);
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_DISBURSED, "USD", 50000000);
        st_funding(st, TECG_CH_BILATERAL, TECG_FS_PLEDGED, "USD", 200000000);
        st_equipment(st, TECG_CAT_VEHICLES, TECG_ES_OFFERED, 50, "USD", 250000000);
        st_equipment(st, TECG_CAT_VEHICLES, TECG_ES_DELIVERED, 20, "USD", 100000000);
        st_equipment(st, TECG_CAT_COMMUNICATIONS, TECG_ES_ACCEPTED, 100, NULL, 0);
        st_personnel(st, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 100, "2005-11-30T12:00:00Z",
                     "usa-p-7");
        st_personnel(st, TECG_ROLE_STAFF, TECG_LOC_OUTSIDE_IRAQ, 10, "2005-09-01T08:00:00Z",
                     "usa-p-3");
        st_personnel(st, TECG_ROLE_FORCE_PROTECTION, TECG_LOC_IN_IRAQ, 50, "2005-11-01T08:00:00Z",
                     "usa-p-5");
        st_training(st, 2004, TECG_LOC_IN_IRAQ, TECG_LVL_SENIOR, 40);
        st_training(st, 2005, TECG_LOC_IN_IRAQ, TECG_LVL_MIDDLE, 300);
        st_training(st, 2005, TECG_LOC_IN_IRAQ, TECG_LVL_SENIOR, 100);
        /* Per-type times as the aggregator keeps them (the other states
         * have none, like those written before the field: compose falls
         * back to their reports' and as_of times). */
        st->last_report_ms[TECG_EV_FUNDING] = ms("2005-10-01T00:00:00Z");
        st->last_report_ms[TECG_EV_EQUIPMENT] = ms("2005-11-02T00:00:00Z");
        st->last_report_ms[TECG_EV_PERSONNEL] = ms("2005-11-30T12:00:00Z");
        st->last_report_ms[TECG_EV_TRAINING] = ms("2005-06-30T00:00:00Z");
        /* Its months: the totals above spread over 2004-12 .. 2005-11; the
         * trainer strength rose from 80 to 100 in November. */
        st_funding_month(st, 200501, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "USD", 60000000);
        st_funding_month(st, 200503, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "USD", 40000000);
        st_funding_month(st, 200506, TECG_CH_TRUST_FUND, TECG_FS_DISBURSED, "USD", 50000000);
        st_funding_month(st, 200509, TECG_CH_BILATERAL, TECG_FS_PLEDGED, "USD", 200000000);
        st_training_month(st, 200412, TECG_LOC_IN_IRAQ, TECG_LVL_SENIOR, 40);
        st_training_month(st, 200502, TECG_LOC_IN_IRAQ, TECG_LVL_MIDDLE, 300);
        st_training_month(st, 200506, TECG_LOC_IN_IRAQ, TECG_LVL_SENIOR, 100);
        st_strength_month(st, 200509, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 80,
                          "2005-09-10T00:00:00Z", "usa-p-1");
        st_strength_month(st, 200509, TECG_ROLE_STAFF, TECG_LOC_OUTSIDE_IRAQ, 10,
                          "2005-09-01T08:00:00Z", "usa-p-3");
        st_strength_month(st, 200511, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 100,
                          "2005-11-30T12:00:00Z", "usa-p-7");
        st_strength_month(st, 200511, TECG_ROLE_FORCE_PROTECTION, TECG_LOC_IN_IRAQ, 50,
                          "2005-11-01T08:00:00Z", "usa-p-5");
        st_correction(st, TECG_CORR_SUPERSEDE, TECG_EV_TRAINING, "usa-t-9", "usa-t-2",
                      "2005-06-30T00:00:00Z", "training IN_IRAQ SENIOR 10 trainees",
                      "training IN_IRAQ SENIOR 100 trainees", NULL);

        s->st[2] = st = st_new("GBR", "2005-12-01T09:00:00Z");
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "GBP", 25000000);
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_DISBURSED, "GBP", 25000000);
        st_funding(st, TECG_CH_COMMON_FUNDING, TECG_FS_PLEDGED, "EUR", 10000000);
        st_personnel(st, TECG_ROLE_MENTOR, TECG_LOC_IN_IRAQ, 60, "2005-12-01T09:00:00Z",
                     "gbr-0042");
        st_personnel(st, TECG_ROLE_STAFF, TECG_LOC_IN_IRAQ, 30, "2005-10-01T09:00:00Z", "gbr-0031");
        st_training(st, 2005, TECG_LOC_OUTSIDE_IRAQ, TECG_LVL_SENIOR, 50);
        st_funding_month(st, 200505, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "GBP", 25000000);
        st_funding_month(st, 200511, TECG_CH_TRUST_FUND, TECG_FS_DISBURSED, "GBP", 25000000);
        st_funding_month(st, 200511, TECG_CH_COMMON_FUNDING, TECG_FS_PLEDGED, "EUR", 10000000);
        st_training_month(st, 200507, TECG_LOC_OUTSIDE_IRAQ, TECG_LVL_SENIOR, 50);
        st_strength_month(st, 200510, TECG_ROLE_STAFF, TECG_LOC_IN_IRAQ, 30, "2005-10-01T09:00:00Z",
                          "gbr-0031");
        st_strength_month(st, 200512, TECG_ROLE_MENTOR, TECG_LOC_IN_IRAQ, 60,
                          "2005-12-01T09:00:00Z", "gbr-0042");
        /* A pledge reported ten times too high, retracted; a disbursement
         * whose target has not arrived yet (before ""). */
        st_correction(st, TECG_CORR_RETRACT, TECG_EV_FUNDING, "gbr-r-1", "gbr-0007",
                      "2005-11-20T10:00:00Z", "funding TRUST_FUND PLEDGED 2500000.00 GBP", "",
                      "pledge entered ten times too high");
        st_correction(st, TECG_CORR_SUPERSEDE, TECG_EV_FUNDING, "gbr-0050", "gbr-0049",
                      "2005-11-21T10:00:00Z", "", "funding TRUST_FUND DISBURSED 250000.00 GBP",
                      NULL);
        st_dead_letter(st, "2005-11-22T10:00:00Z", "correction",
                       "supersedes gbr-0007, which was already retracted by gbr-r-1");
        st_dead_letter(st, "2005-11-23T10:00:00Z", "contract", "field 'amount': not > 0");

        s->st[3] = st = st_new("NOR", "2005-10-15T08:30:00Z");
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "NOK", 500000000);
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_DISBURSED, "NOK", 200000000);
        st_equipment(st, TECG_CAT_MEDICAL, TECG_ES_DELIVERED, 10, "NOK", 15000000);
        st_personnel(st, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 25, "2005-10-15T08:30:00Z", "nor-12");
        st_personnel(st, TECG_ROLE_SUPPORT, TECG_LOC_IN_IRAQ, 15, "2005-10-15T08:30:00Z", "nor-13");
        st_training(st, 2005, TECG_LOC_OUTSIDE_IRAQ, TECG_LVL_MIDDLE, 120);
        st_training(st, 2006, TECG_LOC_OUTSIDE_IRAQ, TECG_LVL_JUNIOR, 30);

        s->st[4] = st = st_new("DNK", "2005-08-20T10:00:00+02:00");
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "DKK", 100000000);
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_DISBURSED, "DKK", 33333);
        st_personnel(st, TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 15, "2005-08-20T10:00:00+02:00",
                     "dk-1");
        st_personnel(st, TECG_ROLE_SUPPORT, TECG_LOC_IN_IRAQ, 5, "2005-08-20T10:00:00+02:00",
                     "dk-2");
        /* reported, and zero: still a report */
        st_personnel(st, TECG_ROLE_SUPPORT, TECG_LOC_OUTSIDE_IRAQ, 0, "2005-08-01T10:00:00+02:00",
                     "dk-0");

        s->st[5] = st = st_new("ISL", "2005-03-01T00:00:00Z");
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "ISK", 30000000);

        s->st[6] = st = st_new("UKR", "2005-07-01T00:00:00.250Z");
        st_funding(st, TECG_CH_BILATERAL, TECG_FS_PLEDGED, "UAH", 100000000);
        st_equipment(st, TECG_CAT_WEAPONS, TECG_ES_OFFERED, 200, "UAH", 50000000);
        st_personnel(st, TECG_ROLE_STAFF, TECG_LOC_OUTSIDE_IRAQ, 5, "2005-07-01T00:00:00.250Z",
                     "ua-1");

        /* A state with training only: not reported for funding and
         * staffing. */
        s->st[7] = st = st_new("CAN", "2005-05-05T05:05:05Z");
        st_training(st, 2005, TECG_LOC_OUTSIDE_IRAQ, TECG_LVL_MIDDLE, 60);
}

static int scenario_setup(void **state) {
        char path[1024], err[256];
        scenario_t *s = calloc(1, sizeof(*s));
        assert_non_null(s);
        snprintf(path, sizeof(path), "%s/compose/nations.csv", tu_data_dir());
        s->nations = tecg_nations_load(path, err, sizeof(err));
        if (!s->nations)
                fail_msg("%s", err);
        tecg_mission_init(&s->mission);
        scenario_states(s);
        *state = s;
        return 0;
}

static int scenario_teardown(void **state) {
        scenario_t *s = *state;
        for (int i = 0; i < NSTATES; i++)
                tecg_nation_state_destroy(s->st[i]);
        tecg_nations_destroy(s->nations);
        free(s);
        return 0;
}

static json_t *compose(const scenario_t *s, tecg_dashboard_t which) {
        char err[256] = "";
        json_t *doc = tecg_compose(which, &s->mission, s->nations, STATES(s), NSTATES, NOW, err,
                                   sizeof(err));
        if (!doc)
                fail_msg("compose %s: %s", tecg_dashboard_names[which], err);
        return doc;
}

/* The golden form: 2-space indent, ratios as written, final newline. */
static char *dump(const json_t *doc) {
        char *s =
                json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(TECG_COMPOSE_REAL_PRECISION));
        assert_non_null(s);
        size_t n = strlen(s);
        char *out = malloc(n + 2);
        assert_non_null(out);
        memcpy(out, s, n);
        out[n] = '\n';
        out[n + 1] = '\0';
        free(s);
        return out;
}

/* Byte comparison with the golden file, or its rewrite. */
static void check_golden(const scenario_t *s, tecg_dashboard_t which) {
        char path[1024];
        json_t *doc = compose(s, which);
        char *got = dump(doc), *want = NULL;
        int update = tu_update_golden();
        size_t mismatch_line = 0;

        json_decref(doc);
        snprintf(path, sizeof(path), "%s/compose/%s.json", tu_data_dir(),
                 tecg_dashboard_names[which]);
        if (update) {
                FILE *f = fopen(path, "wb");
                assert_non_null(f);
                fputs(got, f);
                fclose(f);
                print_message("rewrote %s\n", path);
        } else if ((want = tu_read_file(path, NULL)) != NULL && strcmp(got, want) != 0) {
                /* Show where they part, and leave the output in the
                 * working directory for a diff. */
                size_t i = 0;
                mismatch_line = 1;
                while (got[i] && got[i] == want[i])
                        mismatch_line += got[i++] == '\n';
                FILE *f = fopen(tecg_dashboard_names[which], "wb");
                if (f) {
                        fputs(got, f);
                        fclose(f);
                }
        }
        free(got);
        if (!update && !want)
                fail_msg("missing %s (run with TECG_UPDATE_GOLDEN=1 to create it)", path);
        free(want);
        if (mismatch_line)
                fail_msg("%s differs from the output at line %zu (output written to ./%s)", path,
                         mismatch_line, tecg_dashboard_names[which]);
}

static void test_golden_funding(void **state) {
        check_golden(*state, TECG_DASH_FUNDING);
}

static void test_golden_staffing(void **state) {
        check_golden(*state, TECG_DASH_STAFFING);
}

static void test_golden_training(void **state) {
        check_golden(*state, TECG_DASH_TRAINING);
}

static void test_golden_history(void **state) {
        check_golden(*state, TECG_DASH_HISTORY);
}

/* ------------------------------------------------------------------ */
/* Figures checked by hand                                             */
/* ------------------------------------------------------------------ */

/* A tiny path walker: "a.b.3.c" (numbers index arrays). Borrowed result. */
static json_t *walk(const json_t *root, const char *path) {
        char buf[256], *save = NULL, *tok;
        json_t *j = (json_t *)root;
        snprintf(buf, sizeof(buf), "%s", path);
        for (tok = strtok_r(buf, ".", &save); tok && j; tok = strtok_r(NULL, ".", &save)) {
                if (json_is_array(j))
                        j = json_array_get(j, strtoul(tok, NULL, 10));
                else
                        j = json_object_get(j, tok);
        }
        if (!j)
                fail_msg("no %s in the document", path);
        return j;
}

/* What a document holds at a path (walk()): one row of a table of
 * figures, each checked for its JSON type as well as its value. */
typedef struct {
        const char *path;
        enum { W_STR, W_INT, W_REAL, W_NULL, W_FALSE, W_LEN } kind;
        const char *s; /* W_STR */
        json_int_t i;  /* W_INT; W_LEN: the array size */
        double r;      /* W_REAL, compared exactly */
} want_t;

#define STR(p, v) \
        { p, W_STR, v, 0, 0 }
#define INT(p, v) \
        { p, W_INT, NULL, v, 0 }
#define REAL(p, v) \
        { p, W_REAL, NULL, 0, v }
#define NUL(p) \
        { p, W_NULL, NULL, 0, 0 }
#define IS_FALSE(p) \
        { p, W_FALSE, NULL, 0, 0 }
#define LEN(p, v) \
        { p, W_LEN, NULL, v, 0 }
#define NELEM(w) (sizeof(w) / sizeof((w)[0]))

static void expect(const json_t *doc, const want_t *w, size_t n) {
        for (size_t k = 0; k < n; k++) {
                const json_t *j = walk(doc, w[k].path);
                int ok = 0;
                switch (w[k].kind) {
                case W_STR:
                        ok = json_is_string(j) && strcmp(json_string_value(j), w[k].s) == 0;
                        break;
                case W_INT:
                        ok = json_is_integer(j) && json_integer_value(j) == w[k].i;
                        break;
                case W_REAL:
                        ok = json_is_real(j) && json_real_value(j) == w[k].r;
                        break;
                case W_NULL:
                        ok = json_is_null(j);
                        break;
                case W_FALSE:
                        ok = json_is_false(j);
                        break;
                case W_LEN:
                        ok = json_is_array(j) && json_array_size(j) == (size_t)w[k].i;
                        break;
                }
                if (!ok) {
                        char want[128];
                        if (w[k].kind == W_STR)
                                snprintf(want, sizeof(want), "\"%s\"", w[k].s);
                        else if (w[k].kind == W_REAL)
                                snprintf(want, sizeof(want), "real %.17g", w[k].r);
                        else
                                snprintf(want, sizeof(want), "%s %lld",
                                         w[k].kind == W_LEN ? "array of size" : "",
                                         (long long)w[k].i);
                        fail_msg("%s is %s, want %s", w[k].path, json_dumps(j, JSON_ENCODE_ANY),
                                 w[k].kind == W_NULL    ? "null"
                                 : w[k].kind == W_FALSE ? "false"
                                                        : want);
                }
        }
}

#define EXPECT(doc, ...)                             \
        expect((doc), (const want_t[]){__VA_ARGS__}, \
               sizeof((const want_t[]){__VA_ARGS__}) / sizeof(want_t))

static void test_figures_funding(void **state) {
        json_t *doc = compose(*state, TECG_DASH_FUNDING);

        EXPECT(doc, STR("as_of", "2005-12-01T09:00:00Z"),
               STR("total.pledged.converted", "5104950.00"),
               STR("total.pledged.by_currency.USD", "3000000.00"),
               STR("total.pledged.by_currency.ISK", "30000000"),
               STR("total.pledged.by_currency.JPY", "150000000"),
               STR("total.pledged.missing_rates.0", "UAH"), LEN("total.pledged.missing_rates", 1),
               STR("total.disbursed.converted", "1016694.77"),
               LEN("total.disbursed.missing_rates", 0), STR("missing_rates.0", "UAH"),
               STR("rates.USD", "0.8042"), INT("total.nations_reported", 7),
               /* channels: USD 1,000,000 trust fund + 2,000,000 bilateral */
               STR("total.channels.BILATERAL.pledged.by_currency.USD", "2000000.00"),
               STR("total.channels.COMMON_FUNDING.pledged.converted", "100000.00"),
               /* equipment: offered 50 + 200, delivered 20 + 10; values */
               INT("total.equipment.stages.OFFERED.quantity", 250),
               INT("total.equipment.stages.ACCEPTED.quantity", 100),
               INT("total.equipment.stages.DELIVERED.quantity", 30),
               STR("total.equipment.stages.OFFERED.value.converted", "2010500.00"),
               STR("total.equipment.stages.DELIVERED.value.converted", "822875.00"),
               STR("total.equipment.stages.ACCEPTED.value.converted", "0.00"),
               INT("total.equipment.categories.WEAPONS.OFFERED.quantity", 200),
               /* rows: every listed nation plus JPN, by code */
               LEN("nations", 9), STR("nations.0.nation", "BEL"), STR("nations.1.nation", "CAN"),
               STR("nations.2.nation", "DNK"), STR("nations.3.nation", "GBR"),
               STR("nations.4.nation", "ISL"), STR("nations.5.nation", "JPN"),
               STR("nations.6.nation", "NOR"), STR("nations.7.nation", "UKR"),
               STR("nations.8.nation", "USA"), STR("nations.5.status", "unlisted"),
               NUL("nations.5.name"), STR("nations.5.pledged.converted", "1095000.00"),
               STR("nations.7.status", "partner"), STR("nations.2.disbursed.converted", "44.77"),
               IS_FALSE("nations.0.reported"), LEN("not_reported", 2), STR("not_reported.0", "BEL"),
               STR("not_reported.1", "CAN"));
        assert_null(json_object_get(walk(doc, "rates"), "EUR"));
        json_decref(doc);
}

static void test_figures_staffing(void **state) {
        json_t *doc = compose(*state, TECG_DASH_STAFFING);

        EXPECT(doc, INT("total.authorized_strength", 360), INT("total.in_iraq", 300),
               INT("total.outside_iraq", 15), INT("total.total", 315),
               REAL("total.fill_rate", 0.8333), INT("total.shortfall", 60),
               INT("total.roles.TRAINER.IN_IRAQ", 140), INT("total.nations_reported", 5),
               /* GBR: latest of its two reports */
               STR("nations.3.nation", "GBR"), STR("nations.3.last_report", "2005-12-01T09:00:00Z"),
               /* DNK's times were written +02:00; the document is UTC */
               STR("nations.2.last_report", "2005-08-20T08:00:00Z"), NUL("nations.0.last_report"),
               LEN("not_reported", 3), STR("not_reported.0", "BEL"), STR("not_reported.1", "CAN"),
               STR("not_reported.2", "ISL"));
        json_decref(doc);
}

static void test_figures_training(void **state) {
        json_t *doc = compose(*state, TECG_DASH_TRAINING);

        EXPECT(doc, LEN("years", 3), INT("years.0.year", 2004), INT("years.1.year", 2005),
               INT("years.1.in_iraq.trainees", 400), INT("years.1.in_iraq.target", 1000),
               REAL("years.1.in_iraq.progress", 0.4), INT("years.1.outside_iraq.trainees", 230),
               REAL("years.1.outside_iraq.progress", 0.46),
               INT("years.1.outside_iraq.levels.MIDDLE", 180), INT("years.1.nations_providing", 4),
               INT("years.1.trainees", 630), REAL("years.2.outside_iraq.progress", 0.06),
               /* rows: (year, nation) */
               LEN("nations", 6), INT("nations.0.year", 2004), STR("nations.0.nation", "USA"),
               INT("nations.1.year", 2005), STR("nations.1.nation", "CAN"),
               INT("nations.2.year", 2005), STR("nations.2.nation", "GBR"),
               INT("nations.3.year", 2005), STR("nations.3.nation", "NOR"),
               INT("nations.4.year", 2005), STR("nations.4.nation", "USA"),
               INT("nations.5.year", 2006), STR("nations.5.nation", "NOR"), LEN("not_reported", 4),
               STR("not_reported.3", "UKR"));
        json_decref(doc);
}

/* ------------------------------------------------------------------ */
/* Properties                                                          */
/* ------------------------------------------------------------------ */

/* Any order of states, and NULL entries, give the same bytes. */
static void test_order_independent(void **state) {
        scenario_t *s = *state;
        const tecg_nation_state_t *shuffled[NSTATES + 2];
        char err[256];
        size_t n = 0;
        for (int i = NSTATES; i-- > 0;) {
                shuffled[n++] = s->st[i];
                if (i == 4)
                        shuffled[n++] = NULL;
        }
        shuffled[n++] = NULL;
        for (int w = 0; w < TECG_DASH__COUNT; w++) {
                json_t *a = compose(s, (tecg_dashboard_t)w);
                json_t *b = tecg_compose((tecg_dashboard_t)w, &s->mission, s->nations, shuffled, n,
                                         NOW, err, sizeof(err));
                assert_non_null(b);
                char *da = dump(a), *db = dump(b);
                assert_string_equal(da, db);
                free(da);
                free(db);
                json_decref(a);
                json_decref(b);
        }
}

/* Nothing reported: every listed nation is "not reported", as_of null,
 * the staffing gap is the whole authorized strength. */
static void test_empty(void **state) {
        scenario_t *s = *state;
        char err[256];
        static const want_t funding[] = {STR("total.pledged.converted", "0.00")};
        static const want_t staffing[] = {INT("total.shortfall", 360),
                                          REAL("total.fill_rate", 0.0)};
        static const want_t training[] = {LEN("years", 0), LEN("nations", 0)};
        static const struct {
                const want_t *want;
                size_t n;
        } per[TECG_DASH__COUNT] = {
                [TECG_DASH_FUNDING] = {funding, NELEM(funding)},
                [TECG_DASH_STAFFING] = {staffing, NELEM(staffing)},
                [TECG_DASH_TRAINING] = {training, NELEM(training)},
                [TECG_DASH_HISTORY] = {NULL, 0},
        };
        for (int w = 0; w < TECG_DASH_HISTORY; w++) {
                json_t *doc = tecg_compose((tecg_dashboard_t)w, &s->mission, s->nations, NULL, 0,
                                           NOW, err, sizeof(err));
                assert_non_null(doc);
                EXPECT(doc, NUL("as_of"), LEN("not_reported", 8));
                assert_non_null(per[w].want);
                expect(doc, per[w].want, per[w].n);
                json_decref(doc);
        }
        /* History without states: no months at all. */
        json_t *hist = tecg_compose(TECG_DASH_HISTORY, &s->mission, s->nations, NULL, 0, NOW, err,
                                    sizeof(err));
        assert_non_null(hist);
        EXPECT(hist, NUL("as_of"), LEN("months", 0), INT("authorized_strength", 360));
        json_decref(hist);
        /* No nations list at all: the states are all "unlisted". */
        json_t *doc =
                tecg_compose_funding(&s->mission, NULL, STATES(s), NSTATES, NOW, err, sizeof(err));
        assert_non_null(doc);
        EXPECT(doc, LEN("nations", NSTATES), LEN("not_reported", 0),
               STR("nations.0.status", "unlisted"));
        json_decref(doc);
}

/* Ratios with a zero reference are null; over-strength has no shortfall. */
static void test_ratio_edges(void **state) {
        scenario_t *s = *state;
        tecg_mission_t m = s->mission;
        char err[256];
        static const struct {
                int64_t authorized_strength;
                want_t want[2];
                size_t n;
        } cases[] = {
                {0, {NUL("total.fill_rate"), INT("total.shortfall", 0)}, 2},
                {240,
                 {REAL("total.fill_rate", 1.25), INT("total.shortfall", 0)},
                 2},                                         /* 300 / 240 */
                {900, {REAL("total.fill_rate", 0.3333)}, 1}, /* 300 / 900 = 0.33333 */
                {450, {REAL("total.fill_rate", 0.6667)}, 1}, /* 300 / 450 = 0.66666 */
        };
        m.target_outside_iraq = 0;
        for (size_t i = 0; i < NELEM(cases); i++) {
                m.authorized_strength = cases[i].authorized_strength;
                json_t *doc = tecg_compose_staffing(&m, s->nations, STATES(s), NSTATES, NOW, err,
                                                    sizeof(err));
                assert_non_null(doc);
                expect(doc, cases[i].want, cases[i].n);
                json_decref(doc);
        }

        json_t *doc =
                tecg_compose_training(&m, s->nations, STATES(s), NSTATES, NOW, err, sizeof(err));
        assert_non_null(doc);
        EXPECT(doc, NUL("years.1.outside_iraq.progress"), INT("targets.outside_iraq", 0));
        json_decref(doc);
}

/* A removed rate moves the currency to missing_rates; a configured one
 * converts it. */
static void test_rates_config(void **state) {
        scenario_t *s = *state;
        tecg_mission_t m = s->mission;
        char err[256];
        tecg_mission_remove_rate(&m, "JPY");
        assert_int_equal(tecg_mission_set_rate(&m, "UAH", "0.16", err, sizeof(err)), TECG_OK);
        json_t *doc =
                tecg_compose_funding(&m, s->nations, STATES(s), NSTATES, NOW, err, sizeof(err));
        assert_non_null(doc);
        EXPECT(doc,
               /* 5,104,950.00 - 1,095,000.00 (JPY) + 160,000.00 (1,000,000 UAH x 0.16) */
               STR("total.pledged.converted", "4169950.00"),
               STR("total.pledged.missing_rates.0", "JPY"), STR("missing_rates.0", "JPY"),
               STR("rates.UAH", "0.16"));
        json_decref(doc);

        /* Reporting in USD: EUR now needs a rate of its own. */
        m = s->mission;
        assert_int_equal(tecg_mission_set_reporting_currency(&m, "USD", err, sizeof(err)), TECG_OK);
        assert_int_equal(tecg_mission_set_rate(&m, "GBP", "1.82", err, sizeof(err)), TECG_OK);
        doc = tecg_compose_funding(&m, s->nations, STATES(s), NSTATES, NOW, err, sizeof(err));
        assert_non_null(doc);
        EXPECT(doc, STR("reporting_currency", "USD"),
               /* 3,000,000 USD + 250,000 GBP x 1.82 = 3,455,000.00 USD */
               STR("total.pledged.converted", "3455000.00"), LEN("missing_rates", 6));
        json_decref(doc);
}

static void test_errors(void **state) {
        scenario_t *s = *state;
        char err[256];
        tecg_nation_state_t *a = st_new("NOR", NULL), *b = st_new("NOR", NULL);
        const tecg_nation_state_t *two[2] = {a, b};

        /* Two states for one nation. */
        for (int w = 0; w < TECG_DASH__COUNT; w++) {
                err[0] = '\0';
                assert_null(tecg_compose((tecg_dashboard_t)w, &s->mission, s->nations, two, 2, NOW,
                                         err, sizeof(err)));
                assert_string_equal(err, "two states for nation NOR");
        }
        /* Same for an unlisted nation. */
        memcpy(a->nation, "SWE", 4);
        memcpy(b->nation, "SWE", 4);
        assert_null(tecg_compose_staffing(&s->mission, s->nations, two, 2, NOW, err, sizeof(err)));
        assert_string_equal(err, "two states for nation SWE");

        /* A malformed code. */
        memcpy(b->nation, "se", 3);
        assert_null(tecg_compose_training(&s->mission, s->nations, two, 2, NOW, err, sizeof(err)));
        assert_string_equal(err, "state 1: nation code is not 3 upper-case letters");

        /* Sums beyond int64: two nations pledging near INT64_MAX. */
        memcpy(b->nation, "DNK", 4);
        st_funding(a, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "EUR", INT64_MAX - 1);
        st_funding(b, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "EUR", 2);
        assert_null(tecg_compose_funding(&s->mission, s->nations, two, 2, NOW, err, sizeof(err)));
        assert_string_equal(err, "EUR overflows a 64-bit sum");

        /* Conversion beyond int64: one nation, a large rate. */
        tecg_mission_t m = s->mission;
        b->funding[0].amount_minor = INT64_MAX - 1;
        memcpy(b->funding[0].currency, "GBP", 4);
        const tecg_nation_state_t *one[1] = {b};
        assert_null(tecg_compose_funding(&m, s->nations, one, 1, NOW, err, sizeof(err)));
        assert_string_equal(err, "converting 92233720368547758.06 GBP to EUR overflows");

        /* An unknown currency in a state. */
        memcpy(b->funding[0].currency, "ZZZ", 4);
        assert_null(tecg_compose_funding(&m, s->nations, one, 1, NOW, err, sizeof(err)));
        assert_string_equal(err, "unknown currency 'ZZZ' in a state");

        assert_null(
                tecg_compose((tecg_dashboard_t)7, &m, s->nations, one, 1, NOW, err, sizeof(err)));
        assert_string_equal(err, "unknown dashboard 7");

        tecg_nation_state_destroy(a);
        tecg_nation_state_destroy(b);
}

/* Jansson allocation failures at every point: NULL and "out of memory",
 * nothing leaked (the ASan build checks that), then success. */
static long alloc_budget = -1;

static void *failing_malloc(size_t n) {
        if (alloc_budget == 0)
                return NULL;
        if (alloc_budget > 0)
                alloc_budget--;
        return malloc(n);
}

static void test_out_of_memory(void **state) {
        scenario_t *s = *state;
        char err[256];
        json_set_alloc_funcs(failing_malloc, free);
        for (int w = 0; w < TECG_DASH__COUNT; w++) {
                json_t *doc = NULL;
                long budget;
                for (budget = 0; budget < 1000000 && !doc; budget += 1 + budget / 50) {
                        alloc_budget = budget;
                        err[0] = '\0';
                        doc = tecg_compose((tecg_dashboard_t)w, &s->mission, s->nations, STATES(s),
                                           NSTATES, NOW, err, sizeof(err));
                        if (!doc)
                                assert_string_equal(err, "out of memory composing a dashboard");
                }
                alloc_budget = -1;
                assert_non_null(doc);
                json_decref(doc);
        }
        json_set_alloc_funcs(malloc, free);
}

/* ------------------------------------------------------------------ */
/* Overdue nations against an injected "now" (docs/design.md §5.8)     */
/* ------------------------------------------------------------------ */

#define DAY INT64_C(86400000)

/* A personnel report of FRA through the aggregator's own apply(). */
static void report(tecg_nation_state_t *st, const char *id, int64_t when) {
        tecg_event_t ev;
        char err[256];
        bool changed;
        memset(&ev, 0, sizeof(ev));
        ev.type = TECG_EV_PERSONNEL;
        snprintf(ev.event_id, sizeof(ev.event_id), "%s", id);
        memcpy(ev.nation, st->nation, 4);
        ev.occurred_at_ms = when;
        ev.u.personnel = (tecg_personnel_t){TECG_ROLE_TRAINER, TECG_LOC_IN_IRAQ, 12};
        if (tecg_nation_state_apply(st, &ev, &changed, err, sizeof(err)))
                fail_msg("%s: %s", id, err);
        assert_true(changed);
}

/* reporting.nations[] entry of `code` in doc (borrowed). */
static json_t *reporting_of(json_t *doc, const char *code) {
        json_t *rows = json_object_get(json_object_get(doc, "reporting"), "nations"), *r;
        size_t i;
        json_array_foreach(rows, i, r) {
                if (!strcmp(json_string_value(json_object_get(r, "nation")), code))
                        return r;
        }
        fail_msg("no reporting row for %s", code);
        return NULL;
}

/* overdue_for_days of a STATUS: -1 for null. */
static int64_t overdue_days_of(json_t *status) {
        json_t *d = json_object_get(status, "overdue_for_days");
        return json_is_null(d) ? -1 : json_integer_value(d);
}

static bool in_overdue_list(json_t *doc, const char *code) {
        json_t *list = json_object_get(json_object_get(doc, "reporting"), "overdue"), *x;
        size_t i;
        json_array_foreach(list, i, x) {
                if (!strcmp(json_string_value(x), code))
                        return true;
        }
        return false;
}

static void test_overdue_with_clock(void **state) {
        scenario_t *s = *state;
        char err[256];
        tecg_mission_t m = s->mission;
        /* DNK in the golden scenario's list has a state; here only FRA and
         * BEL are listed, via a list of their own. */
        char path[] = "/tmp/tecg-test-overdue-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        const char csv[] = "code,name,status\nBEL,Belgium,member\nFRA,France,member\n";
        assert_int_equal(write(fd, csv, sizeof(csv) - 1), (ssize_t)(sizeof(csv) - 1));
        close(fd);
        tecg_nations_t *nations = tecg_nations_load(path, err, sizeof(err));
        unlink(path);
        if (!nations)
                fail_msg("%s", err);

        const int64_t t0 = ms("2005-11-01T10:00:00Z");
        tecg_nation_state_t *fra = tecg_nation_state_new("FRA");
        const tecg_nation_state_t *const states[] = {fra};
        report(fra, "fra-1", t0);
        m.report_overdue_days = 35;

        static const struct {
                int64_t now_offset;
                bool overdue;
                int64_t days;
        } steps[] = {
                {0, false, -1},          {35 * DAY, false, -1}, /* exactly 35 days: not yet */
                {35 * DAY + 1, true, 0},                        /* a millisecond more: overdue */
                {36 * DAY - 1, true, 0}, {36 * DAY, true, 1},   {40 * DAY + 5 * 3600000, true, 5},
        };
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                /* History has no reporting block: it does not age. */
                for (int w = 0; w < TECG_DASH_HISTORY; w++) {
                        json_t *doc = tecg_compose((tecg_dashboard_t)w, &m, nations, states, 1,
                                                   t0 + steps[i].now_offset, err, sizeof(err));
                        if (!doc)
                                fail_msg("%s", err);
                        json_t *r = reporting_of(doc, "FRA");
                        json_t *types = json_object_get(r, "types");
                        if (w == TECG_DASH_STAFFING) {
                                json_t *p = json_object_get(types, "PERSONNEL");
                                assert_int_equal(json_object_size(types), 1);
                                if (json_is_true(json_object_get(r, "overdue")) != steps[i].overdue)
                                        fail_msg("step %zu: FRA overdue should be %d", i,
                                                 steps[i].overdue);
                                assert_int_equal(overdue_days_of(r), steps[i].days);
                                assert_int_equal(json_is_true(json_object_get(p, "overdue")),
                                                 steps[i].overdue);
                                assert_int_equal(overdue_days_of(p), steps[i].days);
                                assert_string_equal(
                                        json_string_value(json_object_get(r, "last_report")),
                                        "2005-11-01T10:00:00Z");
                                assert_int_equal(in_overdue_list(doc, "FRA"), steps[i].overdue);
                        } else {
                                /* Never reported funding, equipment or
                                 * training: no lateness in those. */
                                json_t *f = json_object_get(
                                        types, w == TECG_DASH_FUNDING ? "FUNDING" : "TRAINING");
                                assert_int_equal(json_object_size(types),
                                                 w == TECG_DASH_FUNDING ? 2 : 1);
                                assert_true(json_is_null(json_object_get(f, "last_report")));
                                assert_false(json_is_true(json_object_get(f, "overdue")));
                                assert_false(json_is_true(json_object_get(r, "overdue")));
                                assert_false(in_overdue_list(doc, "FRA"));
                        }
                        /* BEL never reported: overdue from the start, since
                         * an unknown day. */
                        json_t *b = reporting_of(doc, "BEL");
                        assert_true(json_is_true(json_object_get(b, "overdue")));
                        assert_int_equal(overdue_days_of(b), -1);
                        assert_true(in_overdue_list(doc, "BEL"));
                        assert_int_equal(
                                json_integer_value(json_object_get(
                                        json_object_get(doc, "reporting"), "overdue_days")),
                                35);
                        json_decref(doc);
                }
        }

        /* FRA reports again 45 days on: no longer overdue. */
        report(fra, "fra-2", t0 + 45 * DAY);
        json_t *doc = tecg_compose_staffing(&m, nations, states, 1, t0 + 45 * DAY + 1000, err,
                                            sizeof(err));
        assert_non_null(doc);
        json_t *r = reporting_of(doc, "FRA");
        assert_false(json_is_true(json_object_get(r, "overdue")));
        assert_int_equal(overdue_days_of(r), -1);
        assert_string_equal(json_string_value(json_object_get(r, "last_report")),
                            "2005-12-16T10:00:00Z");
        assert_false(in_overdue_list(doc, "FRA"));
        json_decref(doc);

        /* The days are configurable: with 50, 45 days of silence are fine,
         * with 10 they are 35 days too many. */
        json_t *d50, *d10;
        m.report_overdue_days = 50;
        d50 = tecg_compose_staffing(&m, nations, states, 1, t0 + 90 * DAY, err, sizeof(err));
        m.report_overdue_days = 10;
        d10 = tecg_compose_staffing(&m, nations, states, 1, t0 + 90 * DAY, err, sizeof(err));
        assert_non_null(d50);
        assert_non_null(d10);
        assert_false(json_is_true(json_object_get(reporting_of(d50, "FRA"), "overdue")));
        assert_true(json_is_true(json_object_get(reporting_of(d10, "FRA"), "overdue")));
        assert_int_equal(overdue_days_of(reporting_of(d10, "FRA")), 35);
        json_decref(d50);
        json_decref(d10);

        tecg_nation_state_destroy(fra);
        tecg_nations_destroy(nations);
}

/* A nation not in the list is never overdue: nobody expects its reports. */
static void test_overdue_unlisted(void **state) {
        scenario_t *s = *state;
        tecg_report_status_t rs;
        int64_t times[TECG_REPORT_TIMES];
        /* JPN's state is s->st[0]: funding only, last seen 2005-06-30. */
        tecg_compose_report_times(s->st[0], times);
        tecg_compose_nation_status(&s->mission, times, false, TECG_REPORT_ALL, NOW + 365 * DAY,
                                   &rs);
        assert_false(rs.overdue);
        tecg_compose_nation_status(&s->mission, times, true, TECG_REPORT_ALL, NOW + 365 * DAY, &rs);
        assert_true(rs.overdue);
        /* 2005-06-30 + 35 days = 2005-08-04; to 2006-12-10: 493 days. */
        assert_int_equal(rs.overdue_for_days, 493);
        /* Its staffing: never reported personnel, reported funding: not
         * overdue in that document. */
        tecg_compose_nation_status(&s->mission, times, true, TECG_REPORT_STAFFING, NOW + 365 * DAY,
                                   &rs);
        assert_false(rs.overdue);
        assert_true(rs.last_ms == INT64_MIN);
        /* A clock behind the last report is no lateness. */
        tecg_compose_nation_status(&s->mission, times, true, TECG_REPORT_ALL, 0, &rs);
        assert_false(rs.overdue);
        /* No state: overdue only when listed. */
        tecg_compose_report_times(NULL, times);
        tecg_compose_nation_status(&s->mission, times, false, TECG_REPORT_ALL, NOW, &rs);
        assert_false(rs.overdue);
        tecg_compose_nation_status(&s->mission, times, true, TECG_REPORT_FUNDS, NOW, &rs);
        assert_true(rs.overdue);
        assert_int_equal(rs.overdue_for_days, -1);
}

/* Both anomalies, computed where the funding document is composed. */
static void test_anomalies(void **state) {
        scenario_t *s = *state;
        char err[256];
        tecg_nation_state_t *st = st_new("DNK", "2005-08-01T00:00:00Z");
        /* Disbursed in BILATERAL and COMMON_FUNDING with nothing pledged
         * there (TRUST_FUND has a pledge: fine). */
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "EUR", 100);
        st_funding(st, TECG_CH_TRUST_FUND, TECG_FS_DISBURSED, "EUR", 500);
        st_funding(st, TECG_CH_COMMON_FUNDING, TECG_FS_DISBURSED, "EUR", 7);
        st_funding(st, TECG_CH_BILATERAL, TECG_FS_DISBURSED, "EUR", 5);
        /* 3 offered, 5 accepted vehicles; 9 accepted weapons of 9. */
        st_equipment(st, TECG_CAT_VEHICLES, TECG_ES_OFFERED, 3, NULL, 0);
        st_equipment(st, TECG_CAT_VEHICLES, TECG_ES_ACCEPTED, 5, NULL, 0);
        st_equipment(st, TECG_CAT_WEAPONS, TECG_ES_OFFERED, 9, NULL, 0);
        st_equipment(st, TECG_CAT_WEAPONS, TECG_ES_ACCEPTED, 9, NULL, 0);
        const tecg_nation_state_t *const states[] = {st};

        json_t *doc =
                tecg_compose_funding(&s->mission, s->nations, states, 1, NOW, err, sizeof(err));
        if (!doc)
                fail_msg("%s", err);
        char *got = json_dumps(json_object_get(doc, "anomalies"), JSON_COMPACT);
        assert_string_equal(
                got,
                "[{\"nation\":\"DNK\",\"flag\":\"DISBURSED_WITHOUT_PLEDGE\",\"channel\":"
                "\"COMMON_FUNDING\"},{\"nation\":\"DNK\",\"flag\":\"DISBURSED_WITHOUT_PLEDGE\","
                "\"channel\":\"BILATERAL\"},{\"nation\":\"DNK\",\"flag\":"
                "\"ACCEPTED_EXCEEDS_OFFERED\",\"category\":\"VEHICLES\",\"offered\":3,"
                "\"accepted\":5}]");
        free(got);
        json_t *rows = json_object_get(doc, "nations"), *row;
        size_t i;
        json_array_foreach(rows, i, row) {
                const char *code = json_string_value(json_object_get(row, "nation"));
                got = json_dumps(json_object_get(row, "flags"), JSON_COMPACT);
                assert_string_equal(got, strcmp(code, "DNK") == 0 ? "[\"DISBURSED_WITHOUT_PLEDGE\","
                                                                    "\"ACCEPTED_EXCEEDS_OFFERED\"]"
                                                                  : "[]");
                free(got);
        }
        json_decref(doc);
        tecg_nation_state_destroy(st);
}

/* ------------------------------------------------------------------ */
/* Incremental composition (tecg_compose_text())                       */
/* ------------------------------------------------------------------ */

/* The cached text of every document equals the whole tree's dump. */
static void check_text(tecg_compose_cache_t *cache, const tecg_mission_t *m,
                       const tecg_nations_t *nations, tecg_nation_state_t *const *states, size_t n,
                       int64_t now) {
        char err[256] = "";
        const tecg_nation_state_t *const *cs = (const tecg_nation_state_t *const *)states;
        for (int w = 0; w < TECG_DASH__COUNT; w++) {
                size_t len = 0;
                char *text = tecg_compose_text(cache, (tecg_dashboard_t)w, m, nations, cs, n, now,
                                               &len, err, sizeof(err));
                if (!text)
                        fail_msg("compose_text %s: %s", tecg_dashboard_names[w], err);
                json_t *tree =
                        tecg_compose((tecg_dashboard_t)w, m, nations, cs, n, now, err, sizeof(err));
                assert_non_null(tree);
                char *want = json_dumps(tree, TECG_COMPOSE_DUMP_FLAGS);
                assert_non_null(want);
                size_t at = 0;
                while (text[at] && text[at] == want[at])
                        at++;
                if (text[at] != want[at])
                        fail_msg("%s: cached text differs at byte %zu: ...%.80s... instead of "
                                 "...%.80s...",
                                 tecg_dashboard_names[w], at, text + (at > 40 ? at - 40 : 0),
                                 want + (at > 40 ? at - 40 : 0));
                assert_int_equal(len, strlen(want));
                free(want);
                free(text);
                json_decref(tree);
        }
}

static uint64_t built_since(const tecg_compose_cache_t *cache, tecg_compose_cache_stats_t *last) {
        tecg_compose_cache_stats_t now = tecg_compose_cache_stats(cache);
        uint64_t built = now.rows_built - last->rows_built;
        *last = now;
        return built;
}

/* Through changes of one nation, of the clock, of the list and of the set
 * of states, the cached text stays the tree's, and only the rows whose
 * inputs changed are built again. */
static void test_text_through_changes(void **state) {
        scenario_t *s = *state;
        tecg_nation_state_t *states[NSTATES];
        tecg_compose_cache_t *cache = tecg_compose_cache_new();
        tecg_compose_cache_stats_t last = {0, 0};
        char err[256];
        assert_non_null(cache);
        memcpy(states, s->st, sizeof(states));

        /* First: every row. Funding and staffing: 9 rows (8 listed, JPN
         * unlisted) and 9 reporting rows each; training: 6 (year, nation)
         * rows and 9 reporting rows. */
        check_text(cache, &s->mission, s->nations, states, NSTATES, NOW);
        assert_int_equal(built_since(cache, &last), 18 + 18 + 15);
        /* The same input again: nothing built, all 51 reused. */
        check_text(cache, &s->mission, s->nations, states, NSTATES, NOW);
        assert_int_equal(built_since(cache, &last), 0);
        assert_int_equal(last.rows_reused, 51);

        /* USA (states[1], a copy of the scenario's) reports a headcount,
         * changed in place with its version: its funding row, its staffing
         * row and its two training rows are built again; its reporting
         * rows are not (its per-type report times did not move). */
        tecg_nation_state_t *usa = tecg_nation_state_dup(states[1]);
        assert_non_null(usa);
        states[1] = usa;
        st_personnel(usa, TECG_ROLE_MENTOR, TECG_LOC_IN_IRAQ, 7, "2005-12-05T00:00:00Z", "usa-p-8");
        usa->version++;
        check_text(cache, &s->mission, s->nations, states, NSTATES, NOW);
        assert_int_equal(built_since(cache, &last), 4);
        /* Now its personnel report time too: one reporting row more. */
        usa->last_report_ms[TECG_EV_PERSONNEL] = ms("2005-12-05T00:00:00Z");
        usa->version++;
        check_text(cache, &s->mission, s->nations, states, NSTATES, NOW);
        assert_int_equal(built_since(cache, &last), 5);

        /* NOR's state replaced by another object: a new year of training
         * and a new funding currency. */
        tecg_nation_state_t *nor = st_new("NOR", "2005-12-06T00:00:00Z");
        nor->version = states[3]->version + 1;
        st_funding(nor, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "EUR", 123456);
        st_training(nor, 2003, TECG_LOC_IN_IRAQ, TECG_LVL_JUNIOR, 9);
        st_training(nor, 2006, TECG_LOC_OUTSIDE_IRAQ, TECG_LVL_JUNIOR, 31);
        states[3] = nor;
        check_text(cache, &s->mission, s->nations, states, NSTATES, NOW);
        assert_true(built_since(cache, &last) > 0);

        /* Forty days later nations turn overdue: reporting rows change. */
        check_text(cache, &s->mission, s->nations, states, NSTATES, NOW + INT64_C(40) * 86400000);
        assert_true(built_since(cache, &last) > 0);
        /* One more day: overdue_for_days grows. */
        check_text(cache, &s->mission, s->nations, states, NSTATES, NOW + INT64_C(41) * 86400000);

        /* Another list: Belgium renamed, USA gone (now "unlisted"), ITA
         * new (no state). */
        static const char csv[] = "code,name,status\nBEL,Kingdom of Belgium,member\n"
                                  "CAN,Canada,member\nDNK,Denmark,member\n"
                                  "GBR,United Kingdom,member\nISL,Iceland,member\n"
                                  "ITA,Italy,member\nNOR,Norway,member\nUKR,Ukraine,partner\n";
        tecg_nations_t *other = tecg_nations_parse(csv, sizeof(csv) - 1, "test", err, sizeof(err));
        if (!other)
                fail_msg("%s", err);
        check_text(cache, &s->mission, other, states, NSTATES, NOW);
        /* Back to the first list, and JPN's state gone. */
        check_text(cache, &s->mission, s->nations, states + 1, NSTATES - 1, NOW);
        check_text(cache, &s->mission, s->nations, states, NSTATES, NOW);

        /* A composition that fails leaves the cache usable. */
        tecg_nation_state_t *bad = st_new("DNK", "2005-12-07T00:00:00Z");
        bad->version = states[4]->version + 1;
        st_funding(bad, TECG_CH_TRUST_FUND, TECG_FS_PLEDGED, "XQQ", 1);
        tecg_nation_state_t *dnk = states[4];
        states[4] = bad;
        size_t len;
        assert_null(tecg_compose_text(cache, TECG_DASH_FUNDING, &s->mission, s->nations,
                                      (const tecg_nation_state_t *const *)states, NSTATES, NOW,
                                      &len, err, sizeof(err)));
        assert_non_null(strstr(err, "XQQ"));
        states[4] = dnk;
        check_text(cache, &s->mission, s->nations, states, NSTATES, NOW);

        /* One cache, one mission. */
        tecg_mission_t other_mission = s->mission;
        assert_null(tecg_compose_text(cache, TECG_DASH_STAFFING, &other_mission, s->nations,
                                      (const tecg_nation_state_t *const *)states, NSTATES, NOW,
                                      &len, err, sizeof(err)));
        assert_non_null(strstr(err, "one mission"));

        tecg_nation_state_destroy(bad);
        tecg_nation_state_destroy(nor);
        tecg_nation_state_destroy(usa);
        tecg_nations_destroy(other);
        tecg_compose_cache_destroy(cache);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden_funding),
                cmocka_unit_test(test_golden_staffing),
                cmocka_unit_test(test_golden_training),
                cmocka_unit_test(test_golden_history),
                cmocka_unit_test(test_figures_funding),
                cmocka_unit_test(test_figures_staffing),
                cmocka_unit_test(test_figures_training),
                cmocka_unit_test(test_order_independent),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_ratio_edges),
                cmocka_unit_test(test_rates_config),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_out_of_memory),
                cmocka_unit_test(test_overdue_with_clock),
                cmocka_unit_test(test_overdue_unlisted),
                cmocka_unit_test(test_anomalies),
                cmocka_unit_test(test_text_through_changes),
        };
        return cmocka_run_group_tests(tests, scenario_setup, scenario_teardown);
}
