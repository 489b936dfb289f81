#include "event.h"

#include <string.h>

#include "refdata.h"
#include "timefmt.h"

const char *const tecg_event_type_names[TECG_EV__COUNT] = {"funding", "equipment", "personnel",
                                                           "training", "retraction"};
const char *const tecg_channel_names[TECG_CH__COUNT] = {"TRUST_FUND", "COMMON_FUNDING",
                                                        "BILATERAL"};
const char *const tecg_funding_stage_names[TECG_FS__COUNT] = {"PLEDGED", "DISBURSED"};
const char *const tecg_category_names[TECG_CAT__COUNT] = {
        "VEHICLES", "WEAPONS", "AMMUNITION", "COMMUNICATIONS", "MEDICAL", "UNIFORMS", "OTHER"};
const char *const tecg_equipment_stage_names[TECG_ES__COUNT] = {"OFFERED", "ACCEPTED", "DELIVERED"};
const char *const tecg_role_names[TECG_ROLE__COUNT] = {"TRAINER", "MENTOR", "STAFF", "SUPPORT",
                                                       "FORCE_PROTECTION"};
const char *const tecg_location_names[TECG_LOC__COUNT] = {"IN_IRAQ", "OUTSIDE_IRAQ"};
const char *const tecg_level_names[TECG_LVL__COUNT] = {"JUNIOR", "MIDDLE", "SENIOR"};

int tecg_enum_lookup(const char *const *names, int count, const char *name) {
        for (int i = 0; i < count; i++)
                if (strcmp(names[i], name) == 0)
                        return i;
        return -1;
}

/* TECG_EVENT_ID_RULE spells the bound out. */
_Static_assert(TECG_EVENT_ID_MAX == 64, "TECG_EVENT_ID_RULE says 1-64");

const char *tecg_event_id_check(const char *id, size_t len) {
        if (len < 1 || len > TECG_EVENT_ID_MAX)
                return TECG_EVENT_ID_RULE;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)id[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == ':' || c == '-'))
                        return TECG_EVENT_ID_RULE;
        }
        return NULL;
}

const char *tecg_nation_code_check(const char *code, size_t len) {
        if (len != 3)
                return TECG_CODE3_RULE;
        for (size_t i = 0; i < 3; i++)
                if (code[i] < 'A' || code[i] > 'Z')
                        return TECG_CODE3_RULE;
        return NULL;
}

const char *tecg_currency_code_check(const char *code, size_t len, bool known) {
        char nul[4];
        /* The same shape as a nation code; only the list differs. */
        if (tecg_nation_code_check(code, len))
                return TECG_CODE3_RULE;
        if (!known)
                return NULL;
        memcpy(nul, code, 3);
        nul[3] = '\0';
        return tecg_currency_minor_digits(nul) < 0 ? TECG_CURRENCY_UNKNOWN_RULE : NULL;
}
