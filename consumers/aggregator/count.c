#include "count.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *const tecg_corr_refusal_names[TECG_CORR_REFUSED__COUNT] = {"already_corrected",
                                                                       "other_type", "legacy"};

/* Sets an id record in the store's overlay and hands it to the caller for
 * event-ids: the topic is the truth the store is rebuilt from. */
static tecg_count_result_t record_put(tecg_count_ctx_t *c, const char *nation, const char *event_id,
                                      const tecg_id_record_t *rec, char *reason,
                                      size_t reason_size) {
        uint8_t value[TECG_ID_RECORD_MAX];
        /* Without a sink, tecg_idstore_put() checks the same rules. */
        size_t vlen = c->on_record ? tecg_id_record_encode(rec, value) : 1;
        if (!vlen) {
                snprintf(reason, reason_size, "id record of %s/%s does not encode", nation,
                         event_id);
                return TECG_COUNT_FAILED;
        }
        if (tecg_idstore_put(c->store, c->partition, nation, event_id, rec, reason, reason_size))
                return TECG_COUNT_FAILED;
        if (c->on_record)
                c->on_record(c->opaque, nation, event_id, value, vlen);
        return TECG_COUNTED;
}

/* The first and last millisecond of the UTC month of ms. */
static void month_bounds(int64_t ms, int64_t *from, int64_t *to) {
        time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        tm.tm_mday = 1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        *from = (int64_t)timegm(&tm) * 1000;
        tm.tm_mon++;
        *to = (int64_t)timegm(&tm) * 1000 - 1;
}

/* Takes a counted event's effect out of st. For a personnel report the
 * fallbacks are the latest ACTIVE reports in the store other than the
 * target itself, over all time and within the target's month. */
static tecg_count_result_t take_back(tecg_count_ctx_t *c, tecg_nation_state_t *st,
                                     const tecg_event_t *target, char *reason, size_t reason_size) {
        tecg_event_t fb, mfb;
        int has_fb = 0, has_mfb = 0;
        bool changed;
        if (target->type == TECG_EV_PERSONNEL) {
                int64_t from, to;
                month_bounds(target->occurred_at_ms, &from, &to);
                has_fb = tecg_idstore_personnel_latest(
                        c->store, c->partition, target->nation, target->u.personnel.role,
                        target->u.personnel.location, INT64_MIN, INT64_MAX, target->event_id, &fb,
                        reason, reason_size);
                if (has_fb >= 0)
                        has_mfb = tecg_idstore_personnel_latest(
                                c->store, c->partition, target->nation, target->u.personnel.role,
                                target->u.personnel.location, from, to, target->event_id, &mfb,
                                reason, reason_size);
                if (has_fb < 0 || has_mfb < 0)
                        return TECG_COUNT_FAILED;
        }
        if (tecg_nation_state_unapply(st, target, has_fb ? &fb : NULL, has_mfb ? &mfb : NULL,
                                      &changed, reason, reason_size))
                return TECG_REFUSED;
        return TECG_COUNTED;
}

static const char *article(tecg_event_type_t t) {
        return t == TECG_EV_EQUIPMENT ? "an" : "a";
}

/* Why a counted target cannot be taken back by ev; NULL when it can. */
static const char *refusal(const tecg_event_t *ev, const char *target, tecg_event_type_t want,
                           const tecg_id_record_t *tr, tecg_corr_refusal_t *why, char *out,
                           size_t size) {
        const char *verb = ev->type == TECG_EV_RETRACTION ? "retracts" : "supersedes";
        switch (tr->status) {
        case TECG_ID_ACTIVE:
                if (tr->type == want)
                        return NULL;
                *why = TECG_CORR_REFUSED_TYPE;
                if (ev->type == TECG_EV_RETRACTION)
                        snprintf(out, size, "retracts %s, %s %s event; retracts_type says %s",
                                 target, article(tr->type), tecg_event_type_names[tr->type],
                                 tecg_event_type_names[want]);
                else
                        snprintf(out, size,
                                 "supersedes %s, %s %s event; %s %s event can only supersede "
                                 "one of its own type",
                                 target, article(tr->type), tecg_event_type_names[tr->type],
                                 article(want), tecg_event_type_names[want]);
                return out;
        case TECG_ID_LEGACY:
                *why = TECG_CORR_REFUSED_LEGACY;
                snprintf(out, size,
                         "%s %s, which was counted before corrections existed: its effect is "
                         "unknown",
                         verb, target);
                return out;
        case TECG_ID_RETRACTION:
                *why = TECG_CORR_REFUSED_TYPE;
                snprintf(out, size, "%s %s, a retraction: only counted events can be taken back",
                         verb, target);
                return out;
        default:
                *why = TECG_CORR_REFUSED_ALREADY;
                snprintf(out, size, "%s %s, which was already %s by %s", verb, target,
                         tr->status == TECG_ID_RETRACTED || tr->status == TECG_ID_PENDING_RETRACT
                                 ? "retracted"
                                 : "superseded",
                         tr->by);
                return out;
        }
}

/* An event whose own record is PENDING_*: the correction `own->by` got
 * there first. Counted without its effect; the correction's note learns
 * what it took back. */
static tecg_count_result_t resolve_pending(tecg_count_ctx_t *c, tecg_nation_state_t *st,
                                           const tecg_event_t *ev, const tecg_id_record_t *own,
                                           char *reason, size_t reason_size) {
        bool changed;
        if (tecg_nation_state_count_only(st, ev, &changed, reason, reason_size))
                return TECG_REFUSED;
        tecg_id_record_t rec = {.status = own->status == TECG_ID_PENDING_SUPERSEDE
                                                  ? TECG_ID_SUPERSEDED
                                                  : TECG_ID_RETRACTED,
                                .type = ev->type,
                                .has_effect = true,
                                .effect = *ev};
        snprintf(rec.by, sizeof(rec.by), "%s", own->by);
        /* The correction's own record says when it happened when it is a
         * supersession (its effect); a retraction's time is not kept (0). */
        tecg_id_record_t cr;
        int got = tecg_idstore_get(c->store, c->partition, ev->nation, own->by, &cr, reason,
                                   reason_size);
        if (got < 0)
                return TECG_COUNT_FAILED;
        tecg_correction_t note = {
                .kind = own->status == TECG_ID_PENDING_SUPERSEDE ? TECG_CORR_SUPERSEDE
                                                                 : TECG_CORR_RETRACT,
                .type = ev->type,
                .occurred_at_ms = got && cr.has_effect ? cr.effect.occurred_at_ms : 0,
                .update_only = true}; /* the correction was counted when it came */
        snprintf(note.event_id, sizeof(note.event_id), "%s", own->by);
        snprintf(note.target_id, sizeof(note.target_id), "%s", ev->event_id);
        tecg_nation_state_effect_text(ev, note.before, sizeof(note.before));
        if (got && cr.has_effect)
                tecg_nation_state_effect_text(&cr.effect, note.after, sizeof(note.after));
        if (tecg_nation_state_note_correction(st, &note, reason, reason_size))
                return TECG_REFUSED;
        c->stats->resolved++;
        return record_put(c, ev->nation, ev->event_id, &rec, reason, reason_size);
}

/* A distinct event that corrects another (supersedes, or a retraction),
 * counted into st (a copy the caller throws away unless TECG_COUNTED).
 * The state first, the records last, so a refusal makes no record. */
static tecg_count_result_t count_correction(tecg_count_ctx_t *c, tecg_nation_state_t *st,
                                            const tecg_event_t *ev, const tecg_id_record_t *own,
                                            bool own_pending, const char **stage, char *reason,
                                            size_t reason_size) {
        bool retraction = ev->type == TECG_EV_RETRACTION;
        const char *target = retraction ? ev->u.retraction.retracts : ev->supersedes;
        tecg_event_type_t want = retraction ? ev->u.retraction.retracts_type : ev->type;
        tecg_id_record_t tr;
        tecg_corr_refusal_t why = TECG_CORR_REFUSED_ALREADY;
        tecg_count_result_t res;
        bool changed;

        int got = tecg_idstore_get(c->store, c->partition, ev->nation, target, &tr, reason,
                                   reason_size);
        if (got < 0)
                return TECG_COUNT_FAILED;
        if (got && refusal(ev, target, want, &tr, &why, reason, reason_size)) {
                c->stats->refused[why]++;
                *stage = "correction";
                return TECG_REFUSED;
        }
        tecg_correction_t note = {.kind = retraction ? TECG_CORR_RETRACT : TECG_CORR_SUPERSEDE,
                                  .type = want,
                                  .occurred_at_ms = ev->occurred_at_ms,
                                  .reason = retraction ? (char *)ev->u.retraction.reason : NULL};
        snprintf(note.event_id, sizeof(note.event_id), "%s", ev->event_id);
        snprintf(note.target_id, sizeof(note.target_id), "%s", target);
        /* The target: taken back now, or marked for when it arrives. */
        if (got) {
                if ((res = take_back(c, st, &tr.effect, reason, reason_size)))
                        return res;
                tecg_nation_state_effect_text(&tr.effect, note.before, sizeof(note.before));
                tr.status = retraction ? TECG_ID_RETRACTED : TECG_ID_SUPERSEDED;
        } else {
                tr = (tecg_id_record_t){.status = retraction ? TECG_ID_PENDING_RETRACT
                                                             : TECG_ID_PENDING_SUPERSEDE,
                                        .type = want};
        }
        snprintf(tr.by, sizeof(tr.by), "%s", ev->event_id);
        /* The correcting event itself. */
        tecg_id_record_t rec = {.status = TECG_ID_ACTIVE, .type = ev->type};
        if (retraction) {
                rec.status = TECG_ID_RETRACTION;
                snprintf(rec.by, sizeof(rec.by), "%s", target);
                if (tecg_nation_state_count_only(st, ev, &changed, reason, reason_size))
                        return TECG_REFUSED;
        } else {
                tecg_nation_state_effect_text(ev, note.after, sizeof(note.after));
                rec.has_effect = true;
                rec.effect = *ev;
                if (!own_pending && tecg_nation_state_apply(st, ev, &changed, reason, reason_size))
                        return TECG_REFUSED;
        }
        if (tecg_nation_state_note_correction(st, &note, reason, reason_size))
                return TECG_REFUSED;
        /* Taken back itself before it arrived (a chain): counted without
         * its effect; resolve_pending makes its record. */
        if (own_pending && (res = resolve_pending(c, st, ev, own, reason, reason_size)))
                return res;
        if ((res = record_put(c, ev->nation, target, &tr, reason, reason_size)) ||
            (!own_pending &&
             (res = record_put(c, ev->nation, ev->event_id, &rec, reason, reason_size))))
                return res;
        if (got)
                c->stats->applied++;
        else
                c->stats->pending++;
        return TECG_COUNTED;
}

tecg_count_result_t tecg_count_event(tecg_count_ctx_t *c, tecg_nation_state_t **st,
                                     const tecg_event_t *ev, const char **stage, char *reason,
                                     size_t reason_size) {
        tecg_id_record_t own;
        tecg_count_result_t res;
        bool changed = false;

        *stage = "aggregate";
        int got = tecg_idstore_get(c->store, c->partition, ev->nation, ev->event_id, &own, reason,
                                   reason_size);
        if (got < 0)
                return TECG_COUNT_FAILED;
        bool own_pending = got && (own.status == TECG_ID_PENDING_SUPERSEDE ||
                                   own.status == TECG_ID_PENDING_RETRACT);
        if (got && !own_pending)
                return TECG_DUPLICATE;
        if (own_pending && own.type != ev->type) {
                /* The correction expected another type: it does not apply
                 * to this event, which counts as it is. The caller logs it
                 * (stats->mismatched). */
                c->stats->mismatched++;
                own_pending = false;
        }
        if (!own_pending && ev->type != TECG_EV_RETRACTION && !ev->supersedes[0]) {
                /* The common case: no copy of the state. */
                if (tecg_nation_state_apply(*st, ev, &changed, reason, reason_size))
                        return TECG_REFUSED;
                tecg_id_record_t rec = {.status = TECG_ID_ACTIVE,
                                        .type = ev->type,
                                        .has_effect = true,
                                        .effect = *ev};
                return record_put(c, ev->nation, ev->event_id, &rec, reason, reason_size);
        }
        tecg_nation_state_t *copy = tecg_nation_state_dup(*st);
        if (!copy) {
                snprintf(reason, reason_size, "out of memory");
                return TECG_COUNT_FAILED;
        }
        if (ev->type == TECG_EV_RETRACTION || ev->supersedes[0])
                res = count_correction(c, copy, ev, &own, own_pending, stage, reason, reason_size);
        else
                res = resolve_pending(c, copy, ev, &own, reason, reason_size);
        if (res) {
                tecg_nation_state_destroy(copy);
                return res;
        }
        tecg_nation_state_destroy(*st);
        *st = copy;
        return TECG_COUNTED;
}
