/* Fuzz target: incremental composition (consumers/dashboard/compose.h,
 * tecg_compose_text() and its cache). One input = a script over a small
 * mission of eight nation codes: six in list A (BEL .. USA), JPN and UKR
 * not; list B renames CAN, makes DNK a partner, drops BEL and adds UKR.
 * Each step takes a byte for what to do and more for its arguments:
 *
 *   0-2  an event for nation k (its state made when it has none), changed
 *        in place with its version bumped, as the aggregator does
 *   3    nation k's state replaced by a copy with the next version
 *   4    nation k's state dropped
 *   5    a dead letter noted on nation k's state (staffing's rows show it)
 *   6    the clock moves on 0-255 days (reporting rows turn overdue)
 *   7    the other list
 *   then every fourth step, and at the end: compose all four documents
 *
 * Invariant: with one cache through the whole script, every composition's
 * text is byte for byte json_dumps() of tecg_compose()'s tree at that
 * step, or both fail (a sum overflowing int64 fails them alike). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "compose.h"
#include "fuzz.h"
#include "mission.h"
#include "nation_state.h"
#include "refdata.h"

#define CODES 8
static const char *const codes[CODES] = {"BEL", "CAN", "DNK", "GBR", "NOR", "USA", "JPN", "UKR"};
static const char list_a[] = "code,name,status\nBEL,Belgium,member\nCAN,Canada,member\n"
                             "DNK,Denmark,member\nGBR,United Kingdom,member\n"
                             "NOR,Norway,partner\nUSA,United States,member\n";
static const char list_b[] = "code,name,status\nCAN,Kanada,member\nDNK,Denmark,partner\n"
                             "GBR,United Kingdom,member\nNOR,Norway,partner\n"
                             "UKR,Ukraine,partner\nUSA,United States,member\n";
static const char *const currencies[] = {"EUR", "USD", "GBP", "JPY", "UAH", "ISK"};
/* 2005-01-01T00:00:00Z */
#define START_MS INT64_C(1104537600000)
#define DAY_MS INT64_C(86400000)

static tecg_nations_t *lists[2];
static tecg_mission_t mission;

static void fz_teardown(void) {
        tecg_nations_destroy(lists[0]);
        tecg_nations_destroy(lists[1]);
}

static void fz_setup(void) {
        char err[256];
        if (lists[0])
                return;
        lists[0] = tecg_nations_parse(list_a, sizeof(list_a) - 1, "list A", err, sizeof(err));
        FZ_SETUP(lists[0], "%s", err);
        lists[1] = tecg_nations_parse(list_b, sizeof(list_b) - 1, "list B", err, sizeof(err));
        FZ_SETUP(lists[1], "%s", err);
        tecg_mission_init(&mission);
        atexit(fz_teardown);
}

typedef struct {
        const uint8_t *p;
        size_t left;
} script_t;

/* The next byte, 0 once the script is over. */
static unsigned next(script_t *s) {
        if (!s->left)
                return 0;
        s->left--;
        return *s->p++;
}

/* An event for nation `code` built from the script; it may be one that
 * tecg_nation_state_apply() refuses (then nothing changes). */
static void make_event(script_t *s, const char *code, unsigned seq, tecg_event_t *ev) {
        memset(ev, 0, sizeof(*ev));
        ev->type = (tecg_event_type_t)(next(s) % TECG_EV__COUNTED);
        snprintf(ev->event_id, sizeof(ev->event_id), "fz-%u", seq);
        memcpy(ev->nation, code, 4);
        unsigned weeks = next(s), days = next(s) % 16;
        ev->occurred_at_ms = START_MS + (int64_t)(weeks * 16 + days) * DAY_MS;
        const char *cur = currencies[next(s) % (sizeof(currencies) / sizeof(currencies[0]))];
        int64_t amount = 1 + (int64_t)next(s) * 100000;
        switch (ev->type) {
        case TECG_EV_FUNDING:
                ev->u.funding.amount_minor = amount;
                memcpy(ev->u.funding.currency, cur, 4);
                ev->u.funding.channel = (tecg_channel_t)(next(s) % TECG_CH__COUNT);
                ev->u.funding.stage = (tecg_funding_stage_t)(next(s) % TECG_FS__COUNT);
                break;
        case TECG_EV_EQUIPMENT:
                ev->u.equipment.item = "items";
                ev->u.equipment.category = (tecg_category_t)(next(s) % TECG_CAT__COUNT);
                ev->u.equipment.quantity = 1 + (int32_t)next(s);
                ev->u.equipment.has_value = next(s) & 1;
                ev->u.equipment.value_minor = amount;
                memcpy(ev->u.equipment.currency, cur, 4);
                ev->u.equipment.stage = (tecg_equipment_stage_t)(next(s) % TECG_ES__COUNT);
                break;
        case TECG_EV_PERSONNEL:
                ev->u.personnel.role = (tecg_role_t)(next(s) % TECG_ROLE__COUNT);
                ev->u.personnel.location = (tecg_location_t)(next(s) % TECG_LOC__COUNT);
                ev->u.personnel.headcount = (int32_t)next(s);
                break;
        default:
                ev->u.training.course = "course";
                ev->u.training.level = (tecg_level_t)(next(s) % TECG_LVL__COUNT);
                ev->u.training.location = (tecg_location_t)(next(s) % TECG_LOC__COUNT);
                ev->u.training.trainees = 1 + (int32_t)next(s);
                break;
        }
}

static void compose_and_compare(tecg_compose_cache_t *cache, const tecg_nations_t *list,
                                tecg_nation_state_t *const *states, int64_t now) {
        char err_text[512], err_tree[512];
        const tecg_nation_state_t *const *cs = (const tecg_nation_state_t *const *)states;
        for (int w = 0; w < TECG_DASH__COUNT; w++) {
                size_t len = 0;
                char *text = tecg_compose_text(cache, (tecg_dashboard_t)w, &mission, list, cs,
                                               CODES, now, &len, err_text, sizeof(err_text));
                json_t *tree = tecg_compose((tecg_dashboard_t)w, &mission, list, cs, CODES, now,
                                            err_tree, sizeof(err_tree));
                char *want = tree ? json_dumps(tree, TECG_COMPOSE_DUMP_FLAGS) : NULL;
                FZ_CHECK(!tree || want, "%s: the tree cannot be dumped", tecg_dashboard_names[w]);
                FZ_CHECK(!text == !tree, "%s: text %s, tree %s (%s / %s)", tecg_dashboard_names[w],
                         text ? "composed" : "failed", tree ? "composed" : "failed",
                         text ? "" : err_text, tree ? "" : err_tree);
                if (text) {
                        size_t at = 0;
                        while (text[at] && text[at] == want[at])
                                at++;
                        size_t from = at > 60 ? at - 60 : 0;
                        FZ_CHECK(len == strlen(want) && !text[at] && !want[at],
                                 "%s: the cached text differs from the tree's at byte %zu: "
                                 "...%.120s... instead of ...%.120s...",
                                 tecg_dashboard_names[w], at, text + from, want + from);
                }
                free(text);
                free(want);
                json_decref(tree);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        tecg_nation_state_t *states[CODES] = {NULL};
        script_t s = {data, size};
        char err[256];
        int64_t now = START_MS + 400 * DAY_MS;
        unsigned seq = 0, step = 0;
        int list = 0;

        fz_setup();
        tecg_compose_cache_t *cache = tecg_compose_cache_new();
        FZ_CHECK(cache, "no cache");
        while (s.left) {
                unsigned op = next(&s) % 8, k = next(&s) % CODES;
                tecg_nation_state_t *st = states[k];
                switch (op) {
                case 0:
                case 1:
                case 2: {
                        tecg_event_t ev;
                        bool changed;
                        if (!st && !(st = states[k] = tecg_nation_state_new(codes[k])))
                                break;
                        make_event(&s, codes[k], seq++, &ev);
                        if (tecg_nation_state_apply(st, &ev, &changed, err, sizeof(err)) ==
                                    TECG_OK &&
                            changed)
                                st->version++;
                        break;
                }
                case 3:
                        if (st) {
                                tecg_nation_state_t *copy = tecg_nation_state_dup(st);
                                FZ_CHECK(copy, "no copy");
                                copy->version++;
                                tecg_nation_state_destroy(st);
                                states[k] = copy;
                        }
                        break;
                case 4:
                        tecg_nation_state_destroy(st);
                        states[k] = NULL;
                        break;
                case 5:
                        if (st && tecg_nation_state_note_dead_letter(
                                          st, START_MS + (int64_t)next(&s) * DAY_MS, "contract",
                                          "field 'amount': not > 0", err, sizeof(err)) == TECG_OK)
                                st->version++;
                        break;
                case 6:
                        now += (int64_t)next(&s) * DAY_MS;
                        break;
                default:
                        list = !list;
                        break;
                }
                if (++step % 4 == 0)
                        compose_and_compare(cache, lists[list], states, now);
        }
        compose_and_compare(cache, lists[list], states, now);
        for (int i = 0; i < CODES; i++)
                tecg_nation_state_destroy(states[i]);
        tecg_compose_cache_destroy(cache);
        return 0;
}
