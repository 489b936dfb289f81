#include "event.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const char *const tecg_event_type_names[TECG_EV__COUNT] = {
        "funding", "equipment", "personnel", "training"};
const char *const tecg_channel_names[TECG_CH__COUNT] = {
        "TRUST_FUND", "COMMON_FUNDING", "BILATERAL"};
const char *const tecg_funding_stage_names[TECG_FS__COUNT] = {
        "PLEDGED", "DISBURSED"};
const char *const tecg_category_names[TECG_CAT__COUNT] = {
        "VEHICLES", "WEAPONS", "AMMUNITION", "COMMUNICATIONS",
        "MEDICAL", "UNIFORMS", "OTHER"};
const char *const tecg_equipment_stage_names[TECG_ES__COUNT] = {
        "OFFERED", "ACCEPTED", "DELIVERED"};
const char *const tecg_role_names[TECG_ROLE__COUNT] = {
        "TRAINER", "MENTOR", "STAFF", "SUPPORT", "FORCE_PROTECTION"};
const char *const tecg_location_names[TECG_LOC__COUNT] = {
        "IN_IRAQ", "OUTSIDE_IRAQ"};
const char *const tecg_level_names[TECG_LVL__COUNT] = {
        "JUNIOR", "MIDDLE", "SENIOR"};

int tecg_enum_lookup(const char *const *names, int count, const char *name) {
        for (int i = 0; i < count; i++)
                if (strcmp(names[i], name) == 0)
                        return i;
        return -1;
}

char *tecg_format_time(int64_t utc_ms, int32_t offset_min, char *out) {
        /* Floor division so times before 1970 format correctly too. */
        int64_t local_ms = utc_ms + (int64_t)offset_min * 60000;
        int64_t secs = local_ms / 1000, ms = local_ms % 1000;
        if (ms < 0) {
                ms += 1000;
                secs -= 1;
        }
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        /* %04d, not strftime's %Y: RFC 3339 wants four digits for every year. */
        size_t n = (size_t)snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d",
                                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                    tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (ms)
                n += (size_t)snprintf(out + n, 40 - n, ".%03d", (int)ms);
        if (offset_min == 0)
                snprintf(out + n, 40 - n, "Z");
        else {
                int a = offset_min < 0 ? -offset_min : offset_min;
                snprintf(out + n, 40 - n, "%c%02d:%02d",
                         offset_min < 0 ? '-' : '+', a / 60, a % 60);
        }
        return out;
}
