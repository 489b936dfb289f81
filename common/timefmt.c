#include "timefmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

/* Date, time, then the fraction when always_ms or non-zero, then the
 * offset. */
static char *format(int64_t utc_ms, int32_t offset_min, bool always_ms, char *out) {
        const size_t size = TECG_TIME_RFC3339_SIZE;
        int64_t local_ms, secs, ms;
        struct tm tm;
        time_t t;
        size_t n;

        if (__builtin_mul_overflow((int64_t)offset_min, 60000, &local_ms) ||
            __builtin_add_overflow(utc_ms, local_ms, &local_ms)) {
                local_ms = utc_ms;
                offset_min = 0;
        }
        /* Floor division, so times before 1970 print as what they are. */
        secs = local_ms / 1000;
        ms = local_ms % 1000;
        if (ms < 0) {
                ms += 1000;
                secs -= 1;
        }
        t = (time_t)secs;
        if (!gmtime_r(&t, &tm)) { /* not with 64-bit time_t and int64 ms */
                snprintf(out, size, "invalid time");
                return out;
        }
        n = (size_t)snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (always_ms || ms)
                n += (size_t)snprintf(out + n, size - n, ".%03d", (int)ms);
        if (offset_min == 0)
                snprintf(out + n, size - n, "Z");
        else {
                int64_t a = offset_min < 0 ? -(int64_t)offset_min : offset_min;
                snprintf(out + n, size - n, "%c%02d:%02d", offset_min < 0 ? '-' : '+',
                         (int)(a / 60), (int)(a % 60));
        }
        return out;
}

char *tecg_time_format_rfc3339_ms(int64_t ms, char out[static TECG_TIME_RFC3339_SIZE]) {
        return format(ms, 0, true, out);
}

char *tecg_time_format_rfc3339(int64_t utc_ms, int32_t offset_min,
                               char out[static TECG_TIME_RFC3339_SIZE]) {
        return format(utc_ms, offset_min, false, out);
}
