/* Reference data: nations list (CSV) and the built-in ISO 4217 table. */
#include "refdata.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "event.h"
#include "utf8.h"

/* A nations file is a short hand-edited list; anything this big is a
 * mistake (wrong path), not a list. */
#define NATIONS_FILE_MAX ((size_t)1024 * 1024)

const char *const tecg_nation_status_names[TECG_NATION__COUNT] = {"member", "partner"};

/* Lookup entry: the code packed into an integer so that the sorted index can
 * be searched with integer compares. */
typedef struct {
        uint32_t key;
        uint32_t idx;  /* into nations[] */
        uint32_t line; /* CSV line, only for the duplicate message */
} nation_key_t;

/* Two kinds: a list (nations, count, index; current NULL) and the handle
 * the callers hold (no nations of its own; current = its list in force,
 * replaced by tecg_nations_replace()). */
struct tecg_nations {
        tecg_nation_t *nations; /* file order */
        size_t count;
        nation_key_t *index; /* sorted by key */
        _Atomic(struct tecg_nations *) current;
        /* The list this one replaced, kept until tecg_nations_destroy():
         * a reader on another thread may still hold one of its nations. */
        struct tecg_nations *retired;
};

/* The list the lookups read: a handle's list in force, or a list. The
 * cast only lets atomic_load() read a list the caller holds as const. */
static const tecg_nations_t *in_force(const tecg_nations_t *ns) {
        tecg_nations_t *c =
                atomic_load_explicit(&((tecg_nations_t *)ns)->current, memory_order_acquire);
        return c ? c : ns;
}

/* ------------------------------------------------------------------ */
/* ISO 4217                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
        char code[4];
        signed char digits;
} currency_t;

/* Sorted by code (tecg_currency_minor_digits() binary-searches it; the unit
 * test checks the order). Table A.1 of ISO 4217 as published for 2026-01-01
 * without the codes that have no minor unit (XAG, XAU, XBA-XBD, XDR, XPD,
 * XPT, XSU, XTS, XUA, XXX), plus codes withdrawn since 2005 that the seed's
 * reports may still carry:
 *   2005 European: CYP, EEK, LTL, LVL, MTL, SIT, SKK (all 2, replaced by
 *   EUR), ROL (2, replaced by RON on 2005-07-01), TRL (0, replaced by TRY
 *   on 2005-01-01);
 *   later withdrawals: ANG (2, by XCG 2025), BGN (2, by EUR 2026), CUC (2),
 *   HRK (2, by EUR 2023), SLL (2, by SLE), ZWL (2, by ZWG). */
static const currency_t currencies[] = {
        {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2},
        {"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2},
        {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2},
        {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2},
        {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2},
        {"COU", 2}, {"CRC", 2}, {"CUC", 2}, {"CUP", 2}, {"CVE", 2}, {"CYP", 2}, {"CZK", 2},
        {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EEK", 2}, {"EGP", 2}, {"ERN", 2},
        {"ETB", 2}, {"EUR", 2}, {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2},
        {"GIP", 2}, {"GMD", 2}, {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2},
        {"HRK", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3},
        {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2},
        {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2},
        {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LTL", 2}, {"LVL", 2},
        {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2},
        {"MOP", 2}, {"MRU", 2}, {"MTL", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2},
        {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2}, {"NOK", 2},
        {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2},
        {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"ROL", 2}, {"RON", 2}, {"RSD", 2},
        {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2},
        {"SGD", 2}, {"SHP", 2}, {"SIT", 2}, {"SKK", 2}, {"SLE", 2}, {"SLL", 2}, {"SOS", 2},
        {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2},
        {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRL", 0}, {"TRY", 2}, {"TTD", 2},
        {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0},
        {"UYU", 2}, {"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0},
        {"WST", 2}, {"XAD", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0}, {"XPF", 0},
        {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2}, {"ZWL", 2},
};

int tecg_currency_minor_digits(const char *code) {
        if (!code || tecg_currency_code_check(code, strnlen(code, 4), false))
                return -1;
        size_t lo = 0, hi = sizeof(currencies) / sizeof(currencies[0]);
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = memcmp(code, currencies[mid].code, 3);
                if (c == 0)
                        return currencies[mid].digits;
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return -1;
}

/* ------------------------------------------------------------------ */
/* Nations                                                             */
/* ------------------------------------------------------------------ */

static uint32_t pack_code(const char *s) {
        return ((uint32_t)(unsigned char)s[0] << 16) | ((uint32_t)(unsigned char)s[1] << 8) |
               (unsigned char)s[2];
}

static int key_cmp(const void *a, const void *b) {
        const nation_key_t *x = a, *y = b;
        if (x->key != y->key)
                return x->key < y->key ? -1 : 1;
        /* Ties by file position, so the duplicate found is the later line. */
        return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* A short, printable rendering of a field for error messages: config files
 * may hold any bytes, and a message must not carry control characters. */
static const char *preview(const char *s, size_t n, char *out, size_t outsz) {
        size_t o = 0;
        for (size_t i = 0; i < n && o + 4 < outsz; i++) {
                unsigned char c = (unsigned char)s[i];
                out[o++] = (char)((c >= 0x20 && c < 0x7f) ? c : '?');
        }
        out[o] = '\0';
        return out;
}

/* One CSV field, decoded into `out` (NUL-terminated). Unquoted fields are
 * trimmed of blanks; quoted fields keep their content verbatim with ""
 * unescaped. Returns the position after the field's separator, NULL on a
 * syntax error (reason in *why). */
static const char *csv_field(const char *p, const char *end, tecg_buf_t *out, int *last,
                             const char **why) {
        tecg_buf_reset(out);
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        if (p < end && *p == '"') {
                p++;
                for (;;) {
                        if (p >= end) {
                                *why = "unterminated quoted field";
                                return NULL;
                        }
                        if (*p == '"') {
                                if (p + 1 < end && p[1] == '"') {
                                        if (tecg_buf_append(out, "\"", 1))
                                                goto nomem;
                                        p += 2;
                                        continue;
                                }
                                p++;
                                break;
                        }
                        if (tecg_buf_append(out, p, 1))
                                goto nomem;
                        p++;
                }
                while (p < end && (*p == ' ' || *p == '\t'))
                        p++;
                if (p < end && *p != ',') {
                        *why = "text after a closing quote";
                        return NULL;
                }
        } else {
                const char *s = p;
                while (p < end && *p != ',')
                        p++;
                const char *e = p;
                while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                        e--;
                if (tecg_buf_append(out, s, (size_t)(e - s)))
                        goto nomem;
        }
        if (tecg_buf_terminate(out))
                goto nomem;
        *last = (p >= end);
        return p < end ? p + 1 : p;
nomem:
        *why = "out of memory";
        return NULL;
}

static void nations_free(tecg_nations_t *ns);

/* The list itself; tecg_nations_parse() hands out a handle in front of it. */
static tecg_nations_t *nations_parse_list(const char *buf, size_t len, const char *origin,
                                          char *errstr, size_t errstr_size) {
        tecg_nations_t *ns = calloc(1, sizeof(*ns));
        tecg_buf_t fields[3] = {TECG_BUF_INIT, TECG_BUF_INIT, TECG_BUF_INIT};
        tecg_buf_t extra = TECG_BUF_INIT;
        size_t cap = 0;
        unsigned line = 0;
        int have_header = 0, ok = 0;
        char pv[48];

        if (!origin)
                origin = "nations";
        if (!ns) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", origin);
                goto done;
        }

        const char *p = buf, *end = buf + len;
        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;
                const char *next = eol ? eol + 1 : end;
                line++;
                if (le > p && le[-1] == '\r')
                        le--;
                if (le == p || *p == '#') {
                        p = next;
                        continue;
                }
                if (memchr(p, '\0', (size_t)(le - p))) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s:%u: NUL byte in line",
                                    origin, line);
                        goto done;
                }

                /* Split into exactly three fields. */
                const char *q = p, *why = NULL;
                int nf = 0, last = 0;
                while (!last) {
                        tecg_buf_t *dst = nf < 3 ? &fields[nf] : &extra;
                        q = csv_field(q, le, dst, &last, &why);
                        if (!q) {
                                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s:%u: %s",
                                            origin, line, why);
                                goto done;
                        }
                        nf++;
                }
                /* A whitespace-only line is blank, not a one-field record. */
                if (nf == 1 && fields[0].len == 0) {
                        p = next;
                        continue;
                }
                if (nf != 3) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "%s:%u: expected 3 fields (code,name,status), got %d", origin,
                                    line, nf);
                        goto done;
                }
                const char *code = (const char *)fields[0].data;
                const char *name = (const char *)fields[1].data;
                const char *status = (const char *)fields[2].data;

                if (!have_header) {
                        if (strcmp(code, "code") != 0 || strcmp(name, "name") != 0 ||
                            strcmp(status, "status") != 0) {
                                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                            "%s:%u: header must be 'code,name,status'", origin,
                                            line);
                                goto done;
                        }
                        have_header = 1;
                        p = next;
                        continue;
                }

                if (tecg_nation_code_check(code, fields[0].len)) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "%s:%u: code must be 3 upper-case ASCII letters (got \"%s\")",
                                    origin, line, preview(code, fields[0].len, pv, sizeof(pv)));
                        goto done;
                }
                if (fields[1].len == 0) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "%s:%u: name must not be empty", origin, line);
                        goto done;
                }
                if (!tecg_utf8_valid(fields[1].data, fields[1].len)) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "%s:%u: name is not valid UTF-8", origin, line);
                        goto done;
                }
                for (size_t i = 0; i < fields[1].len; i++) {
                        if (fields[1].data[i] < 0x20 || fields[1].data[i] == 0x7f) {
                                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                            "%s:%u: name must not contain control characters",
                                            origin, line);
                                goto done;
                        }
                }
                int st = -1;
                for (int i = 0; i < TECG_NATION__COUNT; i++)
                        if (strcmp(status, tecg_nation_status_names[i]) == 0)
                                st = i;
                if (st < 0) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "%s:%u: status must be member or partner (got \"%s\")", origin,
                                    line, preview(status, fields[2].len, pv, sizeof(pv)));
                        goto done;
                }

                if (ns->count == cap) {
                        size_t ncap = cap ? cap * 2 : 32;
                        tecg_nation_t *nn = realloc(ns->nations, ncap * sizeof(*nn));
                        if (!nn)
                                goto nomem;
                        ns->nations = nn;
                        nation_key_t *nk = realloc(ns->index, ncap * sizeof(*nk));
                        if (!nk)
                                goto nomem;
                        ns->index = nk;
                        cap = ncap;
                }
                char *dup = strdup(name);
                if (!dup)
                        goto nomem;
                tecg_nation_t *n = &ns->nations[ns->count];
                memcpy(n->code, code, 4);
                n->name = dup;
                n->status = (tecg_nation_status_t)st;
                ns->index[ns->count].key = pack_code(code);
                ns->index[ns->count].idx = (uint32_t)ns->count;
                ns->index[ns->count].line = line;
                ns->count++;
                p = next;
        }

        if (!have_header) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                            "%s: missing header line 'code,name,status'", origin);
                goto done;
        }
        if (ns->count == 0) {
                tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size, "%s: no nations listed", origin);
                goto done;
        }

        qsort(ns->index, ns->count, sizeof(*ns->index), key_cmp);
        /* Report the duplicate that appears first in the file. */
        {
                const nation_key_t *bad = NULL, *first = NULL;
                for (size_t i = 1; i < ns->count; i++) {
                        if (ns->index[i].key != ns->index[i - 1].key)
                                continue;
                        if (!bad || ns->index[i].line < bad->line) {
                                bad = &ns->index[i];
                                first = &ns->index[i - 1];
                                /* first occurrence of this key */
                                for (size_t j = i - 1; j > 0 && ns->index[j - 1].key == bad->key;
                                     j--)
                                        first = &ns->index[j - 1];
                        }
                }
                if (bad) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "%s:%u: duplicate code %s (first on line %u)", origin,
                                    bad->line, ns->nations[bad->idx].code, first->line);
                        goto done;
                }
        }
        ok = 1;
        goto done;

nomem:
        tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "%s:%u: out of memory", origin, line);
done:
        for (int i = 0; i < 3; i++)
                tecg_buf_free(&fields[i]);
        tecg_buf_free(&extra);
        if (!ok) {
                tecg_nations_destroy(ns);
                ns = NULL;
        }
        return ns;
}

/* A handle whose `current` is the list from the start, so that
 * tecg_nations_current() never returns the handle itself, which a
 * replacement changes. */
tecg_nations_t *tecg_nations_parse(const char *buf, size_t len, const char *origin, char *errstr,
                                   size_t errstr_size) {
        tecg_nations_t *list = nations_parse_list(buf, len, origin, errstr, errstr_size);
        tecg_nations_t *ns = list ? calloc(1, sizeof(*ns)) : NULL;
        if (list && !ns) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "%s: out of memory",
                            origin ? origin : "nations");
                nations_free(list);
                return NULL;
        }
        if (ns)
                atomic_init(&ns->current, list);
        return ns;
}

tecg_nations_t *tecg_nations_load(const char *csv_path, char *errstr, size_t errstr_size) {
        tecg_nations_t *ns = NULL;
        tecg_buf_t b = TECG_BUF_INIT;
        /* Read whole, then parsed: errors name the line. */
        if (tecg_buf_read_file(&b, csv_path, NATIONS_FILE_MAX, "a nations list", errstr,
                               errstr_size) == TECG_OK)
                ns = tecg_nations_parse((const char *)b.data, b.len, csv_path, errstr, errstr_size);
        tecg_buf_free(&b);
        return ns;
}

static void nations_free(tecg_nations_t *ns) {
        for (size_t i = 0; i < ns->count; i++)
                free((char *)ns->nations[i].name);
        free(ns->nations);
        free(ns->index);
        free(ns);
}

void tecg_nations_destroy(tecg_nations_t *ns) {
        if (!ns)
                return;
        tecg_nations_t *c = atomic_load_explicit(&ns->current, memory_order_acquire);
        while (c) {
                tecg_nations_t *next = c->retired;
                nations_free(c);
                c = next;
        }
        nations_free(ns);
}

void tecg_nations_replace(tecg_nations_t *ns, tecg_nations_t *fresh) {
        /* fresh is a handle in front of its list: the list moves over. */
        tecg_nations_t *list = atomic_load_explicit(&fresh->current, memory_order_relaxed);
        atomic_store_explicit(&fresh->current, NULL, memory_order_relaxed);
        nations_free(fresh);
        list->retired = atomic_load_explicit(&ns->current, memory_order_relaxed);
        atomic_store_explicit(&ns->current, list, memory_order_release);
}

/* Appends " XXX" for each nation of `a` not in `b` to out. */
static void codes_missing(const tecg_nations_t *a, const tecg_nations_t *b, char *out,
                          size_t size) {
        size_t n = 0;
        out[0] = '\0';
        for (size_t i = 0; i < a->count && n + 5 < size; i++)
                if (!tecg_nations_find(b, a->nations[i].code))
                        n += (size_t)snprintf(out + n, size - n, "%s%s", n ? " " : "",
                                              a->nations[i].code);
}

void tecg_nations_diff(const tecg_nations_t *old, const tecg_nations_t *fresh, char *added,
                       size_t added_size, char *removed, size_t removed_size) {
        old = in_force(old);
        fresh = in_force(fresh);
        codes_missing(fresh, old, added, added_size);
        codes_missing(old, fresh, removed, removed_size);
}

const tecg_nations_t *tecg_nations_current(const tecg_nations_t *ns) {
        return ns ? in_force(ns) : NULL;
}

bool tecg_nations_same(const tecg_nations_t *a, const tecg_nations_t *b) {
        a = in_force(a);
        b = in_force(b);
        if (a->count != b->count)
                return false;
        for (size_t i = 0; i < a->count; i++)
                if (strcmp(a->nations[i].code, b->nations[i].code) != 0 ||
                    strcmp(a->nations[i].name, b->nations[i].name) != 0 ||
                    a->nations[i].status != b->nations[i].status)
                        return false;
        return true;
}

const tecg_nation_t *tecg_nations_find(const tecg_nations_t *ns, const char *code) {
        if (!ns || !code || tecg_nation_code_check(code, strnlen(code, 4)))
                return NULL;
        ns = in_force(ns);
        uint32_t key = pack_code(code);
        size_t lo = 0, hi = ns->count;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (ns->index[mid].key == key)
                        return &ns->nations[ns->index[mid].idx];
                if (ns->index[mid].key < key)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

size_t tecg_nations_count(const tecg_nations_t *ns) {
        return ns ? in_force(ns)->count : 0;
}

const tecg_nation_t *tecg_nations_at(const tecg_nations_t *ns, size_t i) {
        if (!ns)
                return NULL;
        ns = in_force(ns);
        return i < ns->count ? &ns->nations[i] : NULL;
}
