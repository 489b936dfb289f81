/* Reference data: the nations tecg accepts reports from (deploy/nations.csv)
 * and the ISO 4217 currencies with their minor-unit digits.
 *
 * The nations list is loaded at start-up; a reload (SIGHUP) puts a new list
 * in force with tecg_nations_replace() while any number of threads go on
 * calling the lookup functions on the same handle: each lookup sees the old
 * list or the new one, never a mix, and every nation pointer handed out
 * stays valid until tecg_nations_destroy(). The currency table is built in
 * and needs no set-up. */
#ifndef TECG_REFDATA_H
#define TECG_REFDATA_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef enum {
        TECG_NATION_MEMBER = 0,
        TECG_NATION_PARTNER,
        TECG_NATION__COUNT
} tecg_nation_status_t;

/* "member", "partner": the CSV (and dashboard) spelling, indexed by status. */
extern const char *const tecg_nation_status_names[TECG_NATION__COUNT];

typedef struct {
        char code[4];     /* ISO 3166-1 alpha-3, NUL-terminated */
        const char *name; /* UTF-8, owned by the list */
        tecg_nation_status_t status;
} tecg_nation_t;

typedef struct tecg_nations tecg_nations_t;

/* Reads and parses a nations CSV file (see tecg_nations_parse()). Returns
 * NULL with "path:line: reason" (or "path: reason") in errstr on failure.
 * The caller owns the result: tecg_nations_destroy(). */
tecg_nations_t *tecg_nations_load(const char *csv_path, char *errstr, size_t errstr_size);

/* Parses nations CSV text from memory; `origin` names it in errors (a path).
 * Format: lines starting with '#' are comments, blank lines are skipped, the
 * first other line is the header `code,name,status`, then one nation per
 * line: code of 3 upper-case ASCII letters (unique), a non-empty UTF-8 name
 * (may be double-quoted, "" escapes a quote, so names can hold commas) and
 * status member|partner. Lines may end in CRLF. At least one nation. */
tecg_nations_t *tecg_nations_parse(const char *buf, size_t len, const char *origin, char *errstr,
                                   size_t errstr_size);

/* Frees the list and all its nations; accepts NULL. */
void tecg_nations_destroy(tecg_nations_t *nations);

/* The nation with this code, or NULL. `code` is a NUL-terminated string;
 * anything but an exact 3-letter upper-case match is not found. */
const tecg_nation_t *tecg_nations_find(const tecg_nations_t *nations, const char *code);

/* Number of nations, and the i-th in file order (NULL when out of range).
 * Pointers stay valid until tecg_nations_destroy(). A thread that walks
 * the list while another may replace it walks tecg_nations_current(). */
size_t tecg_nations_count(const tecg_nations_t *nations);
const tecg_nation_t *tecg_nations_at(const tecg_nations_t *nations, size_t i);

/* Puts `fresh` (a list from tecg_nations_load/parse, never replaced
 * itself) in force in `nations`, which takes ownership of it. The lists it
 * replaces are kept, unchanged, until tecg_nations_destroy(nations): a
 * few kilobytes per reload that changed the list. One thread replaces;
 * any number look up meanwhile. */
void tecg_nations_replace(tecg_nations_t *nations, tecg_nations_t *fresh);

/* The list in force now, a list that no replacement changes: its count
 * and nations stay as they are until tecg_nations_destroy(nations). */
const tecg_nations_t *tecg_nations_current(const tecg_nations_t *nations);

/* Whether the two lists in force hold the same nations, names and statuses
 * in the same order. */
bool tecg_nations_same(const tecg_nations_t *a, const tecg_nations_t *b);

/* The codes of the nations `fresh` has and `old` has not ("ESP NOR",
 * "" for none) into added, and the other way round into removed: for the
 * reload's log line. Output that does not fit is cut at a code. */
void tecg_nations_diff(const tecg_nations_t *old, const tecg_nations_t *fresh, char *added,
                       size_t added_size, char *removed, size_t removed_size);

/* Minor-unit digits of an ISO 4217 currency (EUR 2, JPY 0, KWD 3, CLF 4), or
 * -1 when the code is unknown. Knows the current list plus the currencies
 * NATO nations used in 2005 and later replaced (ROL, SKK, SIT, EEK, LVL,
 * LTL, CYP, MTL, TRL, BGN, HRK, ...). Codes ISO gives no minor unit
 * (XAU, XDR, XXX, ...) are not money amounts and are unknown here. */
int tecg_currency_minor_digits(const char *code);

#endif
