/* Exact money conversion and formatting (see money.h). */
#include "money.h"

#include <string.h>

#include "validate.h"

typedef unsigned __int128 u128;

/* 10^n for 0 <= n <= 38 (the largest power of ten below 2^128). */
static u128 pow10_u128(int n) {
        u128 p = 1;
        while (n-- > 0)
                p *= 10;
        return p;
}

/* |v| as an unsigned 64-bit value; correct for INT64_MIN too. */
static uint64_t magnitude(int64_t v) {
        return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

tecg_err_t tecg_money_convert(int64_t minor, int from_digits, int64_t rate_scaled, int to_digits,
                              int64_t *out) {
        if (from_digits < 0 || from_digits > TECG_MONEY_DIGITS_MAX || to_digits < 0 ||
            to_digits > TECG_MONEY_DIGITS_MAX || rate_scaled <= 0)
                return TECG_ERR_INVALID;

        /* Work on the magnitude, then apply the sign: that is what makes the
         * rounding "half away from zero" and symmetric. |minor| < 2^64 and
         * rate < 2^63, so the product is < 2^127: no overflow yet. */
        u128 num = (u128)magnitude(minor) * (u128)(uint64_t)rate_scaled;
        u128 den = (u128)(uint64_t)TECG_MONEY_RATE_SCALE;

        /* Cancel the common powers of ten between numerator and
         * denominator first: keeps the numbers small. */
        if (to_digits >= from_digits) {
                u128 p = pow10_u128(to_digits - from_digits);
                /* If num x p would pass 2^128, the quotient would be at
                 * least 2^128 / 10^9 > 2^98: far beyond int64 anyway. */
                if (num != 0 && num > ~(u128)0 / p)
                        return TECG_ERR_LIMIT;
                num *= p;
        } else {
                /* den <= 10^9 x 10^18 < 2^90: fits. */
                den *= pow10_u128(from_digits - to_digits);
        }

        u128 q = num / den, r = num % den;
        if (r >= den - r) /* 2r >= den without overflow: round up */
                q++;

        if (minor < 0) {
                if (q > (u128)INT64_MAX + 1)
                        return TECG_ERR_LIMIT;
                *out = q == (u128)INT64_MAX + 1 ? INT64_MIN : -(int64_t)q;
        } else {
                if (q > (u128)INT64_MAX)
                        return TECG_ERR_LIMIT;
                *out = (int64_t)q;
        }
        return TECG_OK;
}

/* Writes the decimal digits of `mag` into `out` with `digits` decimals,
 * a leading '-' when `neg`; optionally drops trailing fraction zeros (and
 * then a dangling '.'). Returns out or NULL when it does not fit. */
static char *format_mag(int neg, uint64_t mag, int digits, int trim, char *out, size_t size) {
        char tmp[TECG_MONEY_STR_SIZE];
        size_t n = 0, i;

        if (digits < 0 || digits > TECG_MONEY_DIGITS_MAX || !out)
                return NULL;
        /* Digits in reverse, at least digits+1 of them so there is a
         * leading "0" before the point ("0.05"). */
        do {
                tmp[n++] = (char)('0' + mag % 10);
                mag /= 10;
        } while (mag || n < (size_t)digits + 1);

        char res[TECG_MONEY_STR_SIZE];
        size_t len = 0;
        if (neg)
                res[len++] = '-';
        for (i = n; i-- > 0;) {
                res[len++] = tmp[i];
                if (i == (size_t)digits && digits > 0)
                        res[len++] = '.';
        }
        if (trim && digits > 0) {
                while (res[len - 1] == '0')
                        len--;
                if (res[len - 1] == '.')
                        len--;
        }
        if (len + 1 > size)
                return NULL;
        memcpy(out, res, len);
        out[len] = '\0';
        return out;
}

char *tecg_money_format(int64_t minor, int digits, char *out, size_t size) {
        return format_mag(minor < 0, magnitude(minor), digits, 0, out, size);
}

char *tecg_money_format_rate(int64_t rate_scaled, char *out, size_t size) {
        return format_mag(rate_scaled < 0, magnitude(rate_scaled), TECG_MONEY_RATE_DIGITS, 1, out,
                          size);
}

int tecg_money_parse_rate(const char *s, int64_t *rate_scaled) {
        int64_t v;
        if (!s || tecg_validate_decimal(s, strlen(s), TECG_MONEY_RATE_DIGITS, &v) != 0 || v <= 0)
                return -1;
        *rate_scaled = v;
        return 0;
}
