/* Exact money arithmetic for the dashboards: conversion between currencies
 * at a configured rate, and decimal formatting (docs/design.md §2: "integer minor
 * units inside, decimal strings outside, never floating point").
 *
 * Amounts are int64 minor units of their currency (EUR cents, JPY yen, KWD
 * fils); how many decimals a currency has comes from
 * tecg_currency_minor_digits() (common/refdata.h). A rate is "1 unit of
 * currency X = R units of the reporting currency", kept as R x 10^9 in an
 * int64 (R has at most 9 decimals), so rates are exact too.
 *
 * Pure functions: no allocation, no global state, thread-safe. */
#ifndef TECG_MONEY_H
#define TECG_MONEY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TECG_MONEY_RATE_DIGITS 9
#define TECG_MONEY_RATE_SCALE INT64_C(1000000000) /* 10^9 */

/* Largest number of decimals the functions below accept (ISO 4217 uses at
 * most 4; 18 keeps every power of ten in an int64). */
#define TECG_MONEY_DIGITS_MAX 18

/* A buffer of this size holds any formatted amount or rate:
 * sign + 19 digits + '.' + leading "0" + NUL, with room to spare. */
#define TECG_MONEY_STR_SIZE 32

/* Converts `minor` (minor units of a currency with `from_digits` decimals)
 * at `rate_scaled` (reporting-currency units per unit, x 10^9, > 0) into
 * minor units of a currency with `to_digits` decimals:
 *
 *     minor x rate_scaled x 10^to_digits / (10^from_digits x 10^9)
 *
 * computed in 128-bit integers and rounded half away from zero (so
 * convert(-x) == -convert(x)). Examples at rate "0.0073" (JPY->EUR):
 * 1500 JPY -> 1095 (10.95 EUR); at "0.8042" (USD->EUR): 1 cent -> 1 cent
 * (0.8042 rounds up), 5 cents -> 4 (4.021). Returns TECG_OK and sets *out;
 * TECG_ERR_INVALID when a digits argument is outside 0..TECG_MONEY_DIGITS_MAX
 * or the rate is <= 0; TECG_ERR_LIMIT when the result does not fit in an
 * int64 (*out untouched on error). */
tecg_err_t tecg_money_convert(int64_t minor, int from_digits, int64_t rate_scaled, int to_digits,
                              int64_t *out);

/* Formats `minor` with `digits` decimals (0..TECG_MONEY_DIGITS_MAX):
 * (65200000, 2) -> "652000.00", (-5, 2) -> "-0.05", (1500, 0) -> "1500",
 * (1, 3) -> "0.001". Every int64 works, INT64_MIN included. Writes at most
 * `size` bytes to `out` (TECG_MONEY_STR_SIZE is always enough) and returns
 * `out`; returns NULL, writing nothing, when digits is out of range or
 * `out` is too small. */
char *tecg_money_format(int64_t minor, int digits, char *out, size_t size);

/* Formats a scaled rate as its shortest exact decimal: 804200000 -> "0.8042",
 * 1000000000 -> "1", 596 -> "0.000000596". Same buffer rules as
 * tecg_money_format(). */
char *tecg_money_format_rate(int64_t rate_scaled, char *out, size_t size);

/* Parses a rate written as a decimal string ("0.8042", "1", "125.5"):
 * digits, optionally '.' and 1-9 more digits, no sign, blanks or leading
 * zeros ("0.5" yes, "00.5" no); the value must be > 0 and fit the scaled
 * int64 (< 9223372036.854775808). Returns 0 and sets *rate_scaled, or -1. */
int tecg_money_parse_rate(const char *s, int64_t *rate_scaled);

#endif
