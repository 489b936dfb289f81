#include "nation_view.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "compose.h"
#include "money.h"
#include "timefmt.h"

static json_t *time_or_null(int64_t ms) {
        char buf[TECG_TIME_RFC3339_SIZE];
        if (ms == INT64_MIN)
                return json_null();
        return json_string(tecg_time_format_rfc3339(ms, 0, buf));
}

static json_t *money(int64_t minor, const char *currency) {
        char buf[TECG_MONEY_STR_SIZE];
        int digits = tecg_currency_minor_digits(currency);
        /* A state holds validated currencies; an unknown one (a list
         * changed since) is shown in minor units rather than not at all. */
        return json_string(tecg_money_format(minor, digits < 0 ? 0 : digits, buf, sizeof(buf)));
}

static json_t *status_json(const tecg_report_status_t *rs) {
        return json_pack("{s:o,s:b,s:o}", "last_report", time_or_null(rs->last_ms), "overdue",
                         rs->overdue, "overdue_for_days",
                         rs->overdue_for_days >= 0 ? json_integer(rs->overdue_for_days)
                                                   : json_null());
}

static json_t *reporting(const tecg_mission_t *m, const tecg_nation_state_t *st, int64_t now_ms) {
        int64_t times[TECG_REPORT_TIMES];
        tecg_report_status_t rs;
        tecg_compose_report_times(st, times);
        tecg_compose_nation_status(m, times, true, TECG_REPORT_ALL, now_ms, &rs);
        json_t *r = status_json(&rs);
        json_t *types = json_object();
        if (!r || !types) {
                json_decref(r);
                json_decref(types);
                return NULL;
        }
        json_object_set_new(r, "overdue_days", json_integer(m->report_overdue_days));
        for (int t = 0; t < TECG_EV__COUNTED; t++) {
                char key[32];
                size_t i;
                for (i = 0; tecg_event_type_names[t][i] && i + 1 < sizeof(key); i++)
                        key[i] = (char)toupper((unsigned char)tecg_event_type_names[t][i]);
                key[i] = '\0';
                tecg_compose_type_status(m, times, true, t, now_ms, &rs);
                json_object_set_new(types, key, status_json(&rs));
        }
        json_object_set_new(r, "types", types);
        return r;
}

static json_t *corrections(const tecg_nation_state_t *st) {
        json_t *recent = json_array();
        for (size_t i = 0; st && recent && i < st->nrecent_corrections; i++) {
                const tecg_correction_t *c = &st->recent_corrections[i];
                json_array_append_new(
                        recent, json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:o}", "event_id",
                                          c->event_id, "target_id", c->target_id, "kind",
                                          c->kind == TECG_CORR_RETRACT ? "retract" : "supersede",
                                          "type", tecg_event_type_names[c->type], "occurred_at",
                                          time_or_null(c->occurred_at_ms), "before", c->before,
                                          "after", c->after, "reason",
                                          c->reason ? json_string(c->reason) : json_null()));
        }
        return json_pack("{s:I,s:I,s:o}", "supersessions", (json_int_t)(st ? st->supersessions : 0),
                         "retractions", (json_int_t)(st ? st->retractions : 0), "recent",
                         recent ? recent : json_null());
}

static json_t *dead_letters(const tecg_nation_state_t *st) {
        json_t *months = json_array(), *recent = json_array();
        char month[24], at[TECG_TIME_RFC3339_SIZE];
        for (size_t i = 0; st && months && i < st->ndead_letter_months; i++) {
                const tecg_dead_letter_month_t *dm = &st->dead_letter_months[i];
                snprintf(month, sizeof(month), "%04d-%02d", (int)(dm->month / 100),
                         (int)(dm->month % 100));
                json_array_append_new(months, json_pack("{s:s,s:I}", "month", month, "count",
                                                        (json_int_t)dm->count));
        }
        for (size_t i = 0; st && recent && i < st->nrecent_dead_letters; i++) {
                const tecg_dead_letter_note_t *n = &st->recent_dead_letters[i];
                json_array_append_new(recent, json_pack("{s:s,s:s,s:s}", "at",
                                                        tecg_time_format_rfc3339(n->at_ms, 0, at),
                                                        "stage", n->stage, "reason", n->reason));
        }
        return json_pack("{s:I,s:o,s:o}", "count", (json_int_t)(st ? st->dead_letters : 0),
                         "months", months ? months : json_null(), "recent",
                         recent ? recent : json_null());
}

/* The totals of the state, as lists of their non-empty cells. */
static void put_totals(json_t *v, const tecg_nation_state_t *st) {
        json_t *funding = json_array(), *equipment = json_array(), *values = json_array(),
               *personnel = json_array(), *training = json_array();
        char at[TECG_TIME_RFC3339_SIZE];
        for (size_t i = 0; st && funding && i < st->nfunding; i++) {
                const tecg_funding_total_t *f = &st->funding[i];
                json_array_append_new(funding, json_pack("{s:s,s:s,s:s,s:o}", "channel",
                                                         tecg_channel_names[f->channel], "stage",
                                                         tecg_funding_stage_names[f->stage],
                                                         "currency", f->currency, "amount",
                                                         money(f->amount_minor, f->currency)));
        }
        for (int c = 0; st && equipment && c < TECG_CAT__COUNT; c++)
                for (int s = 0; s < TECG_ES__COUNT; s++)
                        if (st->equipment_quantity[c][s] > 0)
                                json_array_append_new(
                                        equipment,
                                        json_pack("{s:s,s:s,s:I}", "category",
                                                  tecg_category_names[c], "stage",
                                                  tecg_equipment_stage_names[s], "quantity",
                                                  (json_int_t)st->equipment_quantity[c][s]));
        for (size_t i = 0; st && values && i < st->nequipment_values; i++) {
                const tecg_equipment_value_t *e = &st->equipment_values[i];
                json_array_append_new(values, json_pack("{s:s,s:s,s:s,s:o}", "category",
                                                        tecg_category_names[e->category], "stage",
                                                        tecg_equipment_stage_names[e->stage],
                                                        "currency", e->currency, "value",
                                                        money(e->value_minor, e->currency)));
        }
        for (int r = 0; st && personnel && r < TECG_ROLE__COUNT; r++)
                for (int l = 0; l < TECG_LOC__COUNT; l++) {
                        const tecg_strength_t *p = &st->personnel[r][l];
                        if (!p->reported)
                                continue;
                        json_array_append_new(
                                personnel,
                                json_pack("{s:s,s:s,s:i,s:s,s:s}", "role", tecg_role_names[r],
                                          "location", tecg_location_names[l], "headcount",
                                          (int)p->headcount, "occurred_at",
                                          tecg_time_format_rfc3339(p->occurred_at_ms, 0, at),
                                          "event_id", p->event_id));
                }
        for (size_t i = 0; st && training && i < st->ntraining; i++) {
                const tecg_training_total_t *t = &st->training[i];
                json_array_append_new(training,
                                      json_pack("{s:i,s:s,s:s,s:I}", "year", (int)t->year,
                                                "location", tecg_location_names[t->location],
                                                "level", tecg_level_names[t->level], "trainees",
                                                (json_int_t)t->trainees));
        }
        json_object_set_new(v, "funding", funding ? funding : json_null());
        json_object_set_new(v, "equipment", equipment ? equipment : json_null());
        json_object_set_new(v, "equipment_values", values ? values : json_null());
        json_object_set_new(v, "personnel", personnel ? personnel : json_null());
        json_object_set_new(v, "training", training ? training : json_null());
}

json_t *tecg_nation_view(const tecg_mission_t *m, const tecg_nation_t *nation,
                         const tecg_nation_state_t *st, int64_t now_ms) {
        json_t *v = json_pack("{s:s,s:s,s:s,s:I,s:I,s:o}", "nation", nation->code, "name",
                              nation->name, "status", tecg_nation_status_names[nation->status],
                              "version", (json_int_t)(st ? st->version : 0), "events",
                              (json_int_t)(st ? st->events : 0), "as_of",
                              time_or_null(st ? st->as_of_ms : INT64_MIN));
        json_t *rep = v ? reporting(m, st, now_ms) : NULL;
        if (!rep) {
                json_decref(v);
                return NULL;
        }
        json_object_set_new(v, "reporting", rep);
        put_totals(v, st);
        json_object_set_new(v, "corrections", corrections(st));
        json_object_set_new(v, "dead_letters", dead_letters(st));
        return v;
}
