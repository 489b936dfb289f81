#include "contract.h"

#include <string.h>

#include "utf8.h"

static tecg_err_t check_text(const char *field, const char *s, char *errstr, size_t errstr_size) {
        /* Code points: the Avro codec checked the string as UTF-8. */
        size_t n = s ? tecg_utf8_count(s, strlen(s)) : 0;
        if (n < 1 || n > TECG_TEXT_MAX)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "field '%s': must be 1-%d characters (got %zu)", field,
                                   TECG_TEXT_MAX, n);
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
        case TECG_EV_RETRACTION: /* not decoded yet: the next schema brings it */
        case TECG_EV__COUNT:
                break;
        }
        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                           "field 'type': unknown event type %d", (int)ev->type);
}
