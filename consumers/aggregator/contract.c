#include "contract.h"

#include <string.h>

#include "utf8.h"

static tecg_err_t check_text_max(const char *field, const char *s, size_t max, char *errstr,
                                 size_t errstr_size) {
        /* Code points: the Avro codec checked the string as UTF-8. */
        size_t n = s ? tecg_utf8_count(s, strlen(s)) : 0;
        if (n < 1 || n > max)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "field '%s': must be 1-%zu characters (got %zu)", field, max, n);
        return TECG_OK;
}

static tecg_err_t check_text(const char *field, const char *s, char *errstr, size_t errstr_size) {
        return check_text_max(field, s, TECG_TEXT_MAX, errstr, errstr_size);
}

/* supersedes / retracts: another event of the same nation, by its id. */
static tecg_err_t check_ref(const char *field, const char *ref, const char *own, char *errstr,
                            size_t errstr_size) {
        const char *why = tecg_event_id_check(ref, strnlen(ref, TECG_EVENT_ID_MAX + 1));
        if (why)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "field '%s': %s", field,
                                   why);
        if (strcmp(ref, own) == 0)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "field '%s': must name another event, not the event's own "
                                   "event_id \"%s\"",
                                   field, own);
        return TECG_OK;
}

static tecg_err_t check_currency(const char *field, const char *code, char *errstr,
                                 size_t errstr_size) {
        if (tecg_currency_code_check(code, strnlen(code, 4), true))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "field '%s': " TECG_CURRENCY_UNKNOWN_RULE " \"%.8s\"", field,
                                   code);
        return TECG_OK;
}

tecg_err_t tecg_contract_check(const tecg_event_t *ev, const tecg_nations_t *nations, char *errstr,
                               size_t errstr_size) {
        const char *why;
        if ((why = tecg_event_id_check(ev->event_id, strlen(ev->event_id))))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "field 'event_id': %s",
                                   why);
        if ((why = tecg_nation_code_check(ev->nation, strlen(ev->nation))))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "field 'nation': %s",
                                   why);
        if (nations && !tecg_nations_find(nations, ev->nation))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "field 'nation': %s is not in the nations list", ev->nation);
        if (ev->utc_offset_min <= -24 * 60 || ev->utc_offset_min >= 24 * 60)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "field 'occurred_at': offset of %d minutes is "
                                   "out of range",
                                   (int)ev->utc_offset_min);

        if (ev->supersedes[0]) {
                tecg_err_t err;
                if (ev->type == TECG_EV_RETRACTION)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "field 'supersedes': unknown field for type "
                                           "retraction");
                if ((err = check_ref("supersedes", ev->supersedes, ev->event_id, errstr,
                                     errstr_size)))
                        return err;
        }

        switch (ev->type) {
        case TECG_EV_FUNDING:
                if (ev->u.funding.amount_minor <= 0)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "field 'amount': must be > 0");
                return check_currency("currency", ev->u.funding.currency, errstr, errstr_size);
        case TECG_EV_EQUIPMENT: {
                const tecg_equipment_t *e = &ev->u.equipment;
                tecg_err_t err = check_text("item", e->item, errstr, errstr_size);
                if (err)
                        return err;
                if (e->quantity <= 0)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "field 'quantity': must be > 0");
                if (!e->has_value)
                        return TECG_OK;
                if (e->value_minor < 0)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "field 'value': must be >= 0");
                return check_currency("currency", e->currency, errstr, errstr_size);
        }
        case TECG_EV_PERSONNEL:
                if (ev->u.personnel.headcount < 0)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "field 'headcount': must be >= 0");
                return TECG_OK;
        case TECG_EV_TRAINING: {
                const tecg_training_t *t = &ev->u.training;
                tecg_err_t err = check_text("course", t->course, errstr, errstr_size);
                if (err)
                        return err;
                if (t->venue && (err = check_text("venue", t->venue, errstr, errstr_size)))
                        return err;
                if (t->trainees <= 0)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "field 'trainees': must be > 0");
                return TECG_OK;
        }
        case TECG_EV_RETRACTION: {
                const tecg_retraction_t *r = &ev->u.retraction;
                tecg_err_t err =
                        check_ref("retracts", r->retracts, ev->event_id, errstr, errstr_size);
                if (err)
                        return err;
                if ((unsigned)r->retracts_type >= TECG_EV__COUNTED)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "field 'retracts_type': must be one of "
                                           "funding|equipment|personnel|training (got %d)",
                                           (int)r->retracts_type);
                return check_text_max("reason", r->reason, TECG_REASON_MAX, errstr, errstr_size);
        }
        case TECG_EV__COUNT:
                break;
        }
        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                           "field 'type': unknown event type %d", (int)ev->type);
}

tecg_err_t tecg_contract_check_topic(const tecg_event_t *ev, bool training_topic,
                                     const char *topic_name, char *errstr, size_t errstr_size) {
        bool retraction = ev->type == TECG_EV_RETRACTION;
        tecg_event_type_t routed = retraction ? ev->u.retraction.retracts_type : ev->type;
        if ((routed == TECG_EV_TRAINING) == training_topic)
                return TECG_OK;
        /* A retraction elsewhere would reach another partition's
         * aggregator than its target's, or none that keeps that type. */
        if (retraction)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "a retraction of a %s event does not belong on %s",
                                   (unsigned)routed < TECG_EV__COUNTED
                                           ? tecg_event_type_names[routed]
                                           : "unknown",
                                   topic_name);
        return tecg_seterr(
                TECG_ERR_INVALID, errstr, errstr_size, "a %s event does not belong on %s",
                (unsigned)ev->type < TECG_EV__COUNT ? tecg_event_type_names[ev->type] : "unknown",
                topic_name);
}
