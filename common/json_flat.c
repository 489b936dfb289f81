/* A JSON parser for flat NDJSON lines. See json_flat.h for what it accepts;
 * this file keeps to Jansson's limits (load.c of Jansson 2.14) wherever
 * RFC 8259 leaves them open.
 *
 * Shape: a loop over an explicit stack instead of recursion, so a deep
 * line costs no C stack, and one pass over the bytes. Strings are unescaped
 * into p->out as they are read; whatever the caller does not get back (keys
 * and strings of nested values) is dropped again when its container closes.
 * Everything a string can unescape to is at most as long as its token, so
 * p->out never needs more than len + 1 bytes, and is sized once per parse.
 *
 * Duplicate keys: an object's keys are compared one by one while it has few
 * (a line's object has about ten); past INDEX_AFTER keys the object's keys
 * go into a hash table with a per-parser random key (SipHash-1-3), so a long
 * hostile line cannot make the check quadratic. */
#include "json_flat.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "siphash.h"
#include "utf8.h"

/* Keys an object may have before they go into the hash table. */
#define INDEX_AFTER 16

typedef struct {
        size_t off, len; /* in p->out */
        uint64_t hash;   /* set once the object is indexed */
} jf_key_t;

typedef struct {
        size_t key_base; /* this object's first key in p->keys */
        size_t out_mark; /* p->out position when it opened */
        uint32_t serial; /* objects: unique within one parse */
        unsigned char is_obj, indexed;
} jf_frame_t;

typedef struct {
        uint64_t hash;
        size_t idx1; /* key index + 1; 0 = empty slot */
        uint32_t serial;
} jf_slot_t;

struct tecg_json_flat {
        int max_depth;
        char *out;
        size_t out_cap;
        tecg_json_flat_value_t *mem;
        size_t mem_cap;
        jf_key_t *keys;
        size_t keys_cap;
        jf_frame_t *stack;
        size_t stack_cap;
        jf_slot_t *tab; /* open addressing, power-of-2 size */
        size_t tab_cap, tab_used;
        tecg_siphash_key_t sip_key;
};

/* State of one parse. */
typedef struct {
        tecg_json_flat_t *p;
        const unsigned char *s;
        size_t n, i;  /* input and read position */
        size_t o;     /* write position in p->out */
        size_t depth; /* open containers = used stack frames */
        size_t nkeys; /* used entries of p->keys */
        size_t nmem;  /* used entries of p->mem */
        uint32_t serial;
        const char *msg; /* error */
        size_t err_at;
        tecg_err_t err;
        const char *dup_key;
        size_t dup_len;
} jf_t;

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */
/* ------------------------------------------------------------------ */

tecg_json_flat_t *tecg_json_flat_new(int max_depth) {
        tecg_json_flat_t *p;
        if (max_depth < 1)
                return NULL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->max_depth = max_depth;
        tecg_siphash_key_random(&p->sip_key);
        /* Room for a typical line, so the first parses do not grow. */
        p->mem_cap = p->keys_cap = 32;
        p->stack_cap = (size_t)max_depth < 16 ? (size_t)max_depth : 16;
        p->out_cap = 1024;
        p->mem = malloc(p->mem_cap * sizeof(*p->mem));
        p->keys = malloc(p->keys_cap * sizeof(*p->keys));
        p->stack = malloc(p->stack_cap * sizeof(*p->stack));
        p->out = malloc(p->out_cap);
        if (!p->mem || !p->keys || !p->stack || !p->out) {
                tecg_json_flat_destroy(p);
                return NULL;
        }
        return p;
}

void tecg_json_flat_destroy(tecg_json_flat_t *p) {
        if (!p)
                return;
        free(p->out);
        free(p->mem);
        free(p->keys);
        free(p->stack);
        free(p->tab);
        free(p);
}

const char *tecg_json_flat_kind_name(tecg_json_flat_kind_t kind) {
        switch (kind) {
        case TECG_JSON_FLAT_STRING:
                return "string";
        case TECG_JSON_FLAT_INTEGER:
                return "integer";
        case TECG_JSON_FLAT_REAL:
                return "real";
        case TECG_JSON_FLAT_TRUE:
                return "true";
        case TECG_JSON_FLAT_FALSE:
                return "false";
        case TECG_JSON_FLAT_NULL:
                return "null";
        case TECG_JSON_FLAT_OBJECT:
                return "object";
        case TECG_JSON_FLAT_ARRAY:
                return "array";
        }
        return "unknown";
}

/* Grows *arr (of *cap elements of size sz) to hold at least need. */
static int grow(void **arr, size_t *cap, size_t sz, size_t need) {
        size_t c = *cap ? *cap : 16;
        void *a;
        while (c < need)
                c *= 2;
        a = realloc(*arr, c * sz);
        if (!a)
                return -1;
        *arr = a;
        *cap = c;
        return 0;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Records the first error; every caller returns -1 right after. */
static int fail(jf_t *J, tecg_err_t err, size_t at, const char *msg) {
        J->err = err;
        J->err_at = at;
        J->msg = msg;
        return -1;
}

static int fail_syntax(jf_t *J, size_t at, const char *msg) {
        return fail(J, TECG_ERR_INVALID, at, msg);
}

/* "unexpected end of input" when the input ran out, else msg. */
static int fail_at(jf_t *J, const char *msg) {
        if (J->i >= J->n)
                return fail_syntax(J, J->n, "unexpected end of input");
        return fail_syntax(J, J->i, msg);
}

/* ------------------------------------------------------------------ */
/* Duplicate keys                                                      */
/* ------------------------------------------------------------------ */

/* Keys of the object in frame f: from its key_base to the next object's. */
static size_t frame_keys_end(const jf_t *J, size_t f) {
        for (size_t g = f + 1; g < J->depth; g++)
                if (J->p->stack[g].is_obj)
                        return J->p->stack[g].key_base;
        return J->nkeys;
}

static void tab_put(tecg_json_flat_t *p, uint64_t hash, size_t idx, uint32_t serial) {
        size_t mask = p->tab_cap - 1, h = (size_t)(hash ^ serial) & mask;
        while (p->tab[h].idx1)
                h = (h + 1) & mask;
        p->tab[h].hash = hash;
        p->tab[h].idx1 = idx + 1;
        p->tab[h].serial = serial;
        p->tab_used++;
}

/* Makes room for `extra` more keys in the table. Slots of objects that
 * closed are stale (their serial never comes back): a rebuild keeps only
 * those of the indexed objects still open. */
static int tab_reserve(jf_t *J, size_t extra) {
        tecg_json_flat_t *p = J->p;
        size_t live = 0, cap;
        if ((p->tab_used + extra) * 2 <= p->tab_cap)
                return 0;
        for (size_t f = 0; f < J->depth; f++)
                if (p->stack[f].indexed)
                        live += frame_keys_end(J, f) - p->stack[f].key_base;
        cap = p->tab_cap ? p->tab_cap : 64;
        while (cap < 4 * (live + extra))
                cap *= 2;
        if (cap != p->tab_cap) {
                jf_slot_t *t = realloc(p->tab, cap * sizeof(*t));
                if (!t)
                        return -1;
                p->tab = t;
                p->tab_cap = cap;
        }
        memset(p->tab, 0, p->tab_cap * sizeof(*p->tab));
        p->tab_used = 0;
        for (size_t f = 0; f < J->depth; f++) {
                if (!p->stack[f].indexed)
                        continue;
                size_t end = frame_keys_end(J, f);
                for (size_t k = p->stack[f].key_base; k < end; k++)
                        tab_put(p, p->keys[k].hash, k, p->stack[f].serial);
        }
        return 0;
}

/* Adds the key just unescaped at p->out[off..off+len) to the innermost
 * object; -1 when the object has it already (or out of memory). */
static int add_key(jf_t *J, size_t off, size_t len, size_t at) {
        tecg_json_flat_t *p = J->p;
        jf_frame_t *fr = &p->stack[J->depth - 1];
        const char *key = p->out + off;
        uint64_t hash = 0;

        if (!fr->indexed) {
                for (size_t k = fr->key_base; k < J->nkeys; k++)
                        if (p->keys[k].len == len && memcmp(p->out + p->keys[k].off, key, len) == 0)
                                goto dup;
                if (J->nkeys - fr->key_base >= INDEX_AFTER) {
                        for (size_t k = fr->key_base; k < J->nkeys; k++)
                                p->keys[k].hash = tecg_siphash13(
                                        &p->sip_key, p->out + p->keys[k].off, p->keys[k].len);
                        if (tab_reserve(J, J->nkeys - fr->key_base + 1))
                                return fail(J, TECG_ERR_NOMEM, at, "out of memory");
                        for (size_t k = fr->key_base; k < J->nkeys; k++)
                                tab_put(p, p->keys[k].hash, k, fr->serial);
                        fr->indexed = 1; /* after: a rebuild would put them twice */
                }
        } else {
                size_t mask = p->tab_cap - 1, h;
                hash = tecg_siphash13(&p->sip_key, key, len);
                h = (size_t)(hash ^ fr->serial) & mask;
                for (; p->tab[h].idx1; h = (h + 1) & mask) {
                        const jf_slot_t *sl = &p->tab[h];
                        const jf_key_t *k = &p->keys[sl->idx1 - 1];
                        if (sl->serial == fr->serial && sl->hash == hash && k->len == len &&
                            memcmp(p->out + k->off, key, len) == 0)
                                goto dup;
                }
        }
        if (fr->indexed) {
                if (!hash)
                        hash = tecg_siphash13(&p->sip_key, key, len);
                if (tab_reserve(J, 1))
                        return fail(J, TECG_ERR_NOMEM, at, "out of memory");
        }
        if (J->nkeys == p->keys_cap &&
            grow((void **)&p->keys, &p->keys_cap, sizeof(*p->keys), J->nkeys + 1))
                return fail(J, TECG_ERR_NOMEM, at, "out of memory");
        p->keys[J->nkeys].off = off;
        p->keys[J->nkeys].len = len;
        p->keys[J->nkeys].hash = hash;
        if (fr->indexed)
                tab_put(p, hash, J->nkeys, fr->serial);
        J->nkeys++;
        return 0;
dup:
        J->dup_key = key;
        J->dup_len = len;
        return fail_syntax(J, at, "duplicate key");
}

/* ------------------------------------------------------------------ */
/* Tokens                                                              */
/* ------------------------------------------------------------------ */

/* Bytes that end a plain run inside a string: the quote, the backslash,
 * controls (refused) and non-ASCII (checked as UTF-8). */
static const unsigned char str_stop[256] = {
#define R8(x)                                                                                 \
        [(x)] = 1, [(x) + 1] = 1, [(x) + 2] = 1, [(x) + 3] = 1, [(x) + 4] = 1, [(x) + 5] = 1, \
        [(x) + 6] = 1, [(x) + 7] = 1
#define R32(x) R8(x), R8((x) + 8), R8((x) + 16), R8((x) + 24)
        R32(0x00), ['"'] = 1, ['\\'] = 1, R32(0x80), R32(0xA0), R32(0xC0), R32(0xE0),
#undef R32
#undef R8
};

static int hex4(const unsigned char *s, unsigned *out) {
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
                unsigned c = s[k], d;
                if (c >= '0' && c <= '9')
                        d = c - '0';
                else if (c >= 'a' && c <= 'f')
                        d = c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                        d = c - 'A' + 10;
                else
                        return -1;
                v = v << 4 | d;
        }
        *out = v;
        return 0;
}

/* Index of the first str_stop byte at or after i (n if none). */
static inline size_t plain_run(const unsigned char *s, size_t i, size_t n) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        const __m128i space = _mm_set1_epi8(0x20);
        while (i + 16 <= n) {
                __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
                /* Signed compare: bytes >= 0x80 are negative, so "< 0x20"
                 * catches them together with the controls. */
                __m128i m = _mm_or_si128(
                        _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                        _mm_cmplt_epi8(x, space));
                unsigned bits = (unsigned)_mm_movemask_epi8(m);
                if (bits)
                        return i + (size_t)__builtin_ctz(bits);
                i += 16;
        }
#endif
        while (i < n && !str_stop[s[i]])
                i++;
        return i;
}

/* The string token at J->i (its opening quote), unescaped into p->out at
 * J->o with a NUL after it. On return J->i is past the closing quote and
 * *len the unescaped length; J->o is NOT advanced (the caller keeps the
 * text or not). */
static int parse_string(jf_t *J, size_t *len) {
        const unsigned char *s = J->s;
        size_t n = J->n, i = J->i + 1;
        char *out = J->p->out, *o = out + J->o;
        for (;;) {
                size_t j = plain_run(s, i, n);
                memcpy(o, s + i, j - i);
                o += j - i;
                i = j;
                if (i >= n)
                        return fail_syntax(J, n, "unexpected end of input in a string");
                unsigned c = s[i];
                if (c == '"')
                        break;
                if (c >= 0x80) {
                        size_t k = tecg_utf8_seq(s + i, n - i);
                        if (!k)
                                return fail_syntax(J, i, "invalid UTF-8");
                        memcpy(o, s + i, k);
                        o += k;
                        i += k;
                        continue;
                }
                if (c < 0x20)
                        return fail_syntax(J, i, "control character in a string");
                /* A backslash. */
                if (i + 1 >= n)
                        return fail_syntax(J, n, "unexpected end of input in a string");
                switch (s[i + 1]) {
                case '"':
                        *o++ = '"';
                        break;
                case '\\':
                        *o++ = '\\';
                        break;
                case '/':
                        *o++ = '/';
                        break;
                case 'b':
                        *o++ = '\b';
                        break;
                case 'f':
                        *o++ = '\f';
                        break;
                case 'n':
                        *o++ = '\n';
                        break;
                case 'r':
                        *o++ = '\r';
                        break;
                case 't':
                        *o++ = '\t';
                        break;
                case 'u': {
                        unsigned cp, lo;
                        if (n - i < 6 || hex4(s + i + 2, &cp))
                                return fail_syntax(J, i, "invalid \\u escape");
                        if (cp >= 0xDC00 && cp <= 0xDFFF)
                                return fail_syntax(J, i, "invalid Unicode: unpaired low surrogate");
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                                if (n - i < 12 || s[i + 6] != '\\' || s[i + 7] != 'u')
                                        return fail_syntax(
                                                J, i, "invalid Unicode: unpaired high surrogate");
                                if (hex4(s + i + 8, &lo))
                                        return fail_syntax(J, i + 6, "invalid \\u escape");
                                if (lo < 0xDC00 || lo > 0xDFFF)
                                        return fail_syntax(
                                                J, i, "invalid Unicode: unpaired high surrogate");
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                i += 6;
                        }
                        if (cp == 0)
                                return fail_syntax(J, i, "\\u0000 is not allowed");
                        if (cp < 0x80)
                                *o++ = (char)cp;
                        else if (cp < 0x800) {
                                *o++ = (char)(0xC0 | cp >> 6);
                                *o++ = (char)(0x80 | (cp & 0x3F));
                        } else if (cp < 0x10000) {
                                *o++ = (char)(0xE0 | cp >> 12);
                                *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
                                *o++ = (char)(0x80 | (cp & 0x3F));
                        } else {
                                *o++ = (char)(0xF0 | cp >> 18);
                                *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
                                *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
                                *o++ = (char)(0x80 | (cp & 0x3F));
                        }
                        i += 4;
                        break;
                }
                default:
                        return fail_syntax(J, i, "invalid escape");
                }
                i += 2;
        }
        *o = '\0';
        *len = (size_t)(o - (out + J->o));
        J->i = i + 1;
        return 0;
}

/* The number at J->i, by RFC 8259's grammar. Integers must fit int64_t;
 * a real is checked with strtod() only for overflow, as Jansson does. */
static int parse_number(jf_t *J, tecg_json_flat_value_t *v) {
        const unsigned char *s = J->s;
        size_t n = J->n, i = J->i, start = i;
        uint64_t u = 0;
        int neg = 0, big = 0, real = 0;
        if (s[i] == '-') {
                neg = 1;
                i++;
        }
        if (i >= n || s[i] < '0' || s[i] > '9') {
                J->i = i;
                return fail_at(J, "invalid number");
        }
        if (s[i] == '0') {
                i++;
                if (i < n && s[i] >= '0' && s[i] <= '9')
                        return fail_syntax(J, start, "invalid number: leading zero");
        } else {
                for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
                        unsigned d = s[i] - '0';
                        if (u > (UINT64_MAX - d) / 10)
                                big = 1;
                        else
                                u = u * 10 + d;
                }
        }
        if (i < n && s[i] == '.') {
                i++;
                if (i >= n || s[i] < '0' || s[i] > '9') {
                        J->i = i;
                        return fail_at(J, "invalid number: digit expected after '.'");
                }
                while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
                real = 1;
        }
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                i++;
                if (i < n && (s[i] == '+' || s[i] == '-'))
                        i++;
                if (i >= n || s[i] < '0' || s[i] > '9') {
                        J->i = i;
                        return fail_at(J, "invalid number: digit expected in the exponent");
                }
                while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
                real = 1;
        }
        J->i = i;
        if (!real) {
                if (big || u > (uint64_t)INT64_MAX + neg)
                        return fail(J, TECG_ERR_INVALID, start, "integer out of range");
                v->kind = TECG_JSON_FLAT_INTEGER;
                v->integer = neg ? (int64_t)(0 - u) : (int64_t)u;
                return 0;
        }
        /* strtod() needs a NUL-terminated copy with the locale's decimal
         * point; p->out has room for it at J->o (see the top). */
        {
                char *t = J->p->out + J->o, *end;
                const char *point = localeconv()->decimal_point;
                size_t tl = i - start;
                double d;
                memcpy(t, s + start, tl);
                t[tl] = '\0';
                if (point && point[0] != '.') {
                        char *dot = memchr(t, '.', tl);
                        if (dot)
                                *dot = point[0];
                }
                errno = 0;
                d = strtod(t, &end);
                if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
                        return fail(J, TECG_ERR_INVALID, start, "real number overflow");
        }
        v->kind = TECG_JSON_FLAT_REAL;
        return 0;
}

static int parse_literal(jf_t *J, tecg_json_flat_value_t *v) {
        static const struct {
                const char *text;
                size_t len;
                tecg_json_flat_kind_t kind;
        } lits[] = {{"true", 4, TECG_JSON_FLAT_TRUE},
                    {"false", 5, TECG_JSON_FLAT_FALSE},
                    {"null", 4, TECG_JSON_FLAT_NULL}};
        const unsigned char *s = J->s;
        size_t n = J->n, i = J->i;
        for (size_t k = 0; k < 3; k++) {
                if (s[i] != (unsigned char)lits[k].text[0])
                        continue;
                if (n - i < lits[k].len || memcmp(s + i, lits[k].text, lits[k].len) != 0)
                        break;
                i += lits[k].len;
                /* "truex" is one bad word, not true then x. */
                if (i < n && ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z'))
                        break;
                v->kind = lits[k].kind;
                J->i = i;
                return 0;
        }
        return fail_syntax(J, J->i, "invalid literal");
}

static inline void skip_ws(jf_t *J) {
        const unsigned char *s = J->s;
        size_t i = J->i, n = J->n;
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
                i++;
        J->i = i;
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

static int push(jf_t *J, int is_obj) {
        tecg_json_flat_t *p = J->p;
        jf_frame_t *fr;
        if (J->depth >= (size_t)p->max_depth)
                return fail(J, TECG_ERR_LIMIT, J->i, "nested too deep");
        if (J->depth == p->stack_cap &&
            grow((void **)&p->stack, &p->stack_cap, sizeof(*p->stack), J->depth + 1))
                return fail(J, TECG_ERR_NOMEM, J->i, "out of memory");
        fr = &p->stack[J->depth++];
        fr->is_obj = (unsigned char)is_obj;
        fr->indexed = 0;
        fr->key_base = J->nkeys;
        fr->out_mark = J->o;
        fr->serial = ++J->serial;
        J->i++;
        return 0;
}

/* Closes the innermost container. The top-level object keeps its keys and
 * strings (the caller gets them); a nested one drops its own. */
static void pop(jf_t *J) {
        const jf_frame_t *fr = &J->p->stack[--J->depth];
        if (J->depth > 0) {
                J->nkeys = fr->key_base;
                J->o = fr->out_mark;
        }
        J->i++;
}

/* The whole parse: a value, then only whitespace. `slot` is where the value
 * being read is reported: doc->top, a member of the top-level object, or
 * `scratch` for values inside nested containers. */
static int parse(jf_t *J, tecg_json_flat_doc_t *doc) {
        tecg_json_flat_t *p = J->p;
        tecg_json_flat_value_t scratch, *slot = &doc->top;
        const unsigned char *s = J->s;

        skip_ws(J);
value:
        if (J->i >= J->n)
                return fail_syntax(J, J->n, "unexpected end of input, a value expected");
        switch (s[J->i]) {
        case '{':
                slot->kind = TECG_JSON_FLAT_OBJECT;
                if (push(J, 1))
                        return -1;
                skip_ws(J);
                if (J->i < J->n && s[J->i] == '}') {
                        pop(J);
                        goto after_value;
                }
                goto key;
        case '[':
                slot->kind = TECG_JSON_FLAT_ARRAY;
                if (push(J, 0))
                        return -1;
                skip_ws(J);
                if (J->i < J->n && s[J->i] == ']') {
                        pop(J);
                        goto after_value;
                }
                slot = &scratch;
                goto value;
        case '"': {
                size_t len;
                if (parse_string(J, &len))
                        return -1;
                slot->kind = TECG_JSON_FLAT_STRING;
                if (slot != &scratch) {
                        slot->str = p->out + J->o;
                        slot->str_len = len;
                        J->o += len + 1;
                }
                goto after_value;
        }
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
                if (parse_number(J, slot))
                        return -1;
                goto after_value;
        case 't':
        case 'f':
        case 'n':
                if (parse_literal(J, slot))
                        return -1;
                goto after_value;
        default:
                return fail_syntax(J, J->i, "invalid token, a value expected");
        }

key : /* At what must be a key of the innermost object. */
{
        size_t at = J->i, len, off = J->o;
        if (J->i >= J->n || s[J->i] != '"')
                return fail_at(J, "string or '}' expected");
        if (parse_string(J, &len))
                return -1;
        if (add_key(J, off, len, at))
                return -1;
        J->o += len + 1;
        skip_ws(J);
        if (J->i >= J->n || s[J->i] != ':')
                return fail_at(J, "':' expected");
        J->i++;
        skip_ws(J);
        if (J->depth == 1) {
                if (J->nmem == p->mem_cap &&
                    grow((void **)&p->mem, &p->mem_cap, sizeof(*p->mem), J->nmem + 1))
                        return fail(J, TECG_ERR_NOMEM, at, "out of memory");
                slot = &p->mem[J->nmem++];
                slot->key = p->out + off;
                slot->key_len = len;
                slot->str = NULL;
                slot->str_len = 0;
                slot->integer = 0;
        } else
                slot = &scratch;
        goto value;
}

after_value:
        skip_ws(J);
        if (J->depth == 0) {
                if (J->i != J->n)
                        return fail_syntax(J, J->i, "end of input expected");
                return 0;
        }
        slot = &scratch;
        if (J->i < J->n && s[J->i] == ',') {
                J->i++;
                skip_ws(J);
                if (p->stack[J->depth - 1].is_obj)
                        goto key;
                goto value;
        }
        if (p->stack[J->depth - 1].is_obj) {
                if (J->i < J->n && s[J->i] == '}') {
                        pop(J);
                        goto after_value;
                }
                return fail_at(J, "',' or '}' expected");
        }
        if (J->i < J->n && s[J->i] == ']') {
                pop(J);
                goto after_value;
        }
        return fail_at(J, "',' or ']' expected");
}

tecg_err_t tecg_json_flat_parse(tecg_json_flat_t *p, const char *buf, size_t len,
                                tecg_json_flat_doc_t *doc, char *errstr, size_t errstr_size) {
        jf_t J;
        memset(doc, 0, sizeof(*doc));
        if (len + 1 > p->out_cap) {
                size_t cap = p->out_cap * 2 > len + 1 ? p->out_cap * 2 : len + 1;
                char *o = malloc(cap);
                if (!o)
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                free(p->out);
                p->out = o;
                p->out_cap = cap;
        }
        if (p->tab_used) {
                memset(p->tab, 0, p->tab_cap * sizeof(*p->tab));
                p->tab_used = 0;
        }
        memset(&J, 0, sizeof(J));
        J.p = p;
        J.s = (const unsigned char *)buf;
        J.n = len;
        if (parse(&J, doc) == 0) {
                if (doc->top.kind == TECG_JSON_FLAT_OBJECT) {
                        doc->members = p->mem;
                        doc->count = J.nmem;
                }
                return TECG_OK;
        }
        doc->err_offset = J.err_at;
        doc->dup_key = J.dup_key;
        doc->dup_key_len = J.dup_len;
        if (J.err == TECG_ERR_NOMEM)
                return tecg_seterr(J.err, errstr, errstr_size, "out of memory");
        if (J.err == TECG_ERR_LIMIT)
                return tecg_seterr(J.err, errstr, errstr_size,
                                   "JSON nested deeper than %d at byte offset %zu", p->max_depth,
                                   J.err_at);
        return tecg_seterr(J.err, errstr, errstr_size, "invalid JSON at byte offset %zu: %s",
                           J.err_at, J.msg);
}
