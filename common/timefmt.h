/* RFC 3339 text of a time in milliseconds since the Unix epoch, the one
 * formatter for what tecg shows or stores: event times in documents, the
 * dashboard's "generated_at" and "updated_at", and log lines.
 *
 * Years are printed with at least four digits (%04d: strftime's %Y would
 * print year 999 as "999"), and times before 1970 are floored, so -1 ms is
 * 1969-12-31T23:59:59.999Z. Milliseconds are cut, never rounded: a time
 * never prints as a later second than it is. */
#ifndef TECG_TIMEFMT_H
#define TECG_TIMEFMT_H

#include <stdint.h>

/* Room for any int64_t input: a 9-digit year with a sign, the fraction, an
 * offset and the NUL. */
#define TECG_TIME_RFC3339_SIZE 40

/* UTC with milliseconds always: "2005-11-30T16:45:02.118Z". Returns out. */
char *tecg_time_format_rfc3339_ms(int64_t ms, char out[static TECG_TIME_RFC3339_SIZE]);

/* The local time at offset_min minutes east of UTC, as an event wrote it:
 * "2005-02-22T12:00:00+03:00", "Z" for offset 0, the fraction (.mmm) only
 * when not zero. Should the local time not fit int64_t milliseconds (no
 * real time comes near), the UTC time is printed with "Z". Returns out. */
char *tecg_time_format_rfc3339(int64_t utc_ms, int32_t offset_min,
                               char out[static TECG_TIME_RFC3339_SIZE]);

#endif
