/* json_flat tests (common/json_flat.h), table-driven.
 *
 * Every case is also given to Jansson (json_loadb with
 * JSON_REJECT_DUPLICATES | JSON_DECODE_ANY), which the validator used before
 * json_flat: both must accept and refuse the same inputs. The one known
 * exception is marked: Jansson 2.14 drops a raw NUL byte that follows a
 * number or a word (it accepts "1\0"); a NUL byte is never JSON, and the
 * validator refuses it before parsing anyway.
 *
 * Each input is copied into a buffer of exactly its size, so that a read
 * past the end shows up under ASan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "json_flat.h"

/* A parse in one line of text: the top-level value, or for an object its
 * members as {key=value|...}; values s:TEXT (bytes below 0x20 and '|' as
 * \xNN), i:N, r (real), t, f, n, o (object), a (array). */
static void dump_value(const tecg_json_flat_value_t *v, char *out, size_t outsz, size_t *o) {
#define P(...) *o += (size_t)snprintf(out + *o, *o < outsz ? outsz - *o : 0, __VA_ARGS__)
        switch (v->kind) {
        case TECG_JSON_FLAT_STRING:
                P("s:");
                for (size_t i = 0; i < v->str_len; i++) {
                        unsigned char c = (unsigned char)v->str[i];
                        if (c < 0x20 || c == '|')
                                P("\\x%02X", c);
                        else
                                P("%c", c);
                }
                break;
        case TECG_JSON_FLAT_INTEGER:
                P("i:%lld", (long long)v->integer);
                break;
        case TECG_JSON_FLAT_REAL:
                P("r");
                break;
        case TECG_JSON_FLAT_TRUE:
                P("t");
                break;
        case TECG_JSON_FLAT_FALSE:
                P("f");
                break;
        case TECG_JSON_FLAT_NULL:
                P("n");
                break;
        case TECG_JSON_FLAT_OBJECT:
                P("o");
                break;
        case TECG_JSON_FLAT_ARRAY:
                P("a");
                break;
        }
}

static void dump(const tecg_json_flat_doc_t *doc, char *out, size_t outsz) {
        size_t len = 0, *o = &len;
        out[0] = '\0';
        if (doc->top.kind != TECG_JSON_FLAT_OBJECT) {
                dump_value(&doc->top, out, outsz, o);
                return;
        }
        P("{");
        for (size_t m = 0; m < doc->count; m++) {
                P("%s%s=", m ? "|" : "", doc->members[m].key);
                dump_value(&doc->members[m], out, outsz, o);
        }
        P("}");
#undef P
}

typedef struct {
        const char *in;
        size_t len; /* sizeof - 1: the input may hold NUL bytes */
        tecg_err_t err;
        const char *want;    /* TECG_OK: dump(); else the duplicate key or NULL */
        size_t at;           /* error offset */
        int jansson_differs; /* the documented NUL exception */
} case_t;

#define OK(lit, dumped) \
        { lit, sizeof(lit) - 1, TECG_OK, dumped, 0, 0 }
#define BAD(lit, off) \
        { lit, sizeof(lit) - 1, TECG_ERR_INVALID, NULL, off, 0 }
#define DUP(lit, key, off) \
        { lit, sizeof(lit) - 1, TECG_ERR_INVALID, key, off, 0 }
#define DEEP(lit, off) \
        { lit, sizeof(lit) - 1, TECG_ERR_LIMIT, NULL, off, 0 }
#define NUL_BAD(lit, off) \
        { lit, sizeof(lit) - 1, TECG_ERR_INVALID, NULL, off, 1 }

static const case_t cases[] = {
        /* The shape of an input line. */
        OK("{}", "{}"),
        OK(" \t\r\n{\"a\" : \"b\" ,\n\"c\":\t1 } \r\n", "{a=s:b|c=i:1}"),
        OK("{\"type\":\"funding\",\"amount\":\"652000.00\",\"quantity\":10}",
           "{type=s:funding|amount=s:652000.00|quantity=i:10}"),
        /* Numbers. */
        OK("{\"a\":1,\"b\":-0,\"c\":-9223372036854775808,\"d\":9223372036854775807,\"e\":0}",
           "{a=i:1|b=i:0|c=i:-9223372036854775808|d=i:9223372036854775807|e=i:0}"),
        OK("{\"r\":1.5,\"e\":1e3,\"E\":-2E-2,\"p\":1e+2,\"z\":0.0,\"u\":1e-400,\"m\":-0.0,"
           "\"b\":123456789012345678901234567890.5,\"x\":1.7976931348623157e308,"
           "\"y\":1797693134862315807e290}", /* rounds down to DBL_MAX */
           "{r=r|e=r|E=r|p=r|z=r|u=r|m=r|b=r|x=r|y=r}"),
        OK("{\"t\":true,\"f\":false,\"n\":null}", "{t=t|f=f|n=n}"),
        /* Nested values: checked, reported by kind; their keys and strings
         * do not disturb the top-level ones. */
        OK("{\"o\":{\"a\":[1,{\"b\":[]}],\"a2\":{}},\"a\":[[],[[]],\"x\",{\"y\":null}]}",
           "{o=o|a=a}"),
        OK("{\"a\":{\"x\":\"a long nested string\",\"y\":\"z\"},\"b\":\"after\"}",
           "{a=o|b=s:after}"),
        OK("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}", "{a=o|b=a}"),
        /* Strings: every escape, surrogate pairs, raw UTF-8, escaped keys. */
        OK("{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", "{s=s:\"\\/\\x08\\x0C\\x0A\\x0D\\x09}"),
        OK("{\"u\":\"\\u00e9\\u20AC\\ud83d\\ude9a\\uD83D\\uDE9A\\u0041\\u007f\\u0001\"}",
           "{u=s:\xC3\xA9\xE2\x82\xAC\xF0\x9F\x9A\x9A\xF0\x9F\x9A\x9A"
           "A\x7F\\x01}"),
        OK("{\"k\xC3\xA9y\":\"\xF0\x9F\x98\x80 \xE2\x82\xAC \xC3\xA4\"}",
           "{k\xC3\xA9y=s:\xF0\x9F\x98\x80 \xE2\x82\xAC \xC3\xA4}"),
        OK("{\"\\u0074ype\":\"\\u0066unding\"}", "{type=s:funding}"),
        OK("{\"\":\"\"}", "{=s:}"),
        OK("{\"\\uFFFF\":\"\\uDBFF\\uDFFF\"}", "{\xEF\xBF\xBF=s:\xF4\x8F\xBF\xBF}"),
        /* Any value at the top. */
        OK("\"x\"", "s:x"),
        OK(" -12 ", "i:-12"),
        OK("2.5", "r"),
        OK("true", "t"),
        OK("false", "f"),
        OK("null", "n"),
        OK("[]", "a"),
        OK("[1,\"a\",{\"b\":2}]", "a"),

        /* Syntax: offset of the byte where it goes wrong (the end when the
         * input stops short). */
        BAD("", 0),
        BAD("   ", 3),
        BAD("{", 1),
        BAD("{\"a\"}", 4),
        BAD("{\"a\":}", 5),
        BAD("{\"a\":1,}", 7),
        BAD("{\"a\":1 \"b\":2}", 7),
        BAD("{\"a\":1", 6),
        BAD("{\"a\" 1}", 5),
        BAD("{1:1}", 1),
        BAD("{'a':1}", 1),
        BAD("{a:1}", 1),
        BAD("[1,]", 3),
        BAD("[1 2]", 3),
        BAD("[1}", 2),
        BAD("{\"a\":1]", 6),
        BAD("{\"a\":1}x", 7),
        BAD("{\"a\":1}{}", 7),
        BAD("{\"a\":1},", 7),
        BAD("}", 0),
        BAD("\xEF\xBB\xBF{}", 0),    /* a BOM is not whitespace */
        BAD("{\"a\":1}\f", 7),       /* nor is form feed */
        BAD("{\"a\":1}\xC2\xA0", 7), /* nor NBSP */
        /* Numbers. */
        BAD("{\"a\":01}", 5),
        BAD("{\"a\":-01}", 5),
        BAD("{\"a\":00}", 5),
        BAD("{\"a\":-}", 6),
        BAD("{\"a\":-a}", 6),
        BAD("{\"a\":1.}", 7),
        BAD("{\"a\":1.e5}", 7),
        BAD("{\"a\":.5}", 5),
        BAD("{\"a\":1e}", 7),
        BAD("{\"a\":1e+}", 8),
        BAD("{\"a\":+1}", 5),
        BAD("{\"a\":0x10}", 6),
        BAD("{\"a\":NaN}", 5),
        BAD("{\"a\":Infinity}", 5),
        BAD("{\"a\":-Infinity}", 6),
        BAD("1.5.5", 3),
        BAD("{\"a\":9223372036854775808}", 5),
        BAD("{\"a\":-9223372036854775809}", 5),
        BAD("{\"a\":99999999999999999999}", 5),
        BAD("{\"a\":1e400}", 5),
        BAD("{\"a\":-1e400}", 5),
        BAD("{\"a\":1797693134862315808e290}", 5), /* rounds up to infinity */
        /* Words. */
        BAD("{\"a\":tru}", 5),
        BAD("{\"a\":truex}", 5),
        BAD("{\"a\":True}", 5),
        BAD("{\"a\":nul}", 5),
        BAD("{\"a\":nulll}", 5),
        BAD("{\"a\":fals}", 5),
        BAD("{\"a\":true1}", 9),
        /* Strings. */
        BAD("{\"a\":\"x", 7),
        BAD("{\"a\":\"x\\", 8),
        BAD("{\"a\":\"\x01\"}", 6),
        BAD("{\"a\":\"\x1F\"}", 6),
        BAD("{\"a\":\"\n\"}", 6),
        BAD("{\"a\":\"\t\"}", 6),
        BAD("{\"a\":\"\\q\"}", 6),
        BAD("{\"a\":\"\\U0041\"}", 6),
        BAD("{\"a\":\"\\x41\"}", 6),
        BAD("{\"a\":\"\\'\"}", 6),
        BAD("{\"a\":\"\\u12\"}", 6),
        BAD("{\"a\":\"\\u12G4\"}", 6),
        BAD("{\"a\":\"\\u", 6),
        BAD("{\"a\":\"\\ud800\"}", 6),
        BAD("{\"a\":\"\\udc00\"}", 6),
        BAD("{\"a\":\"\\udfff\\ud800\"}", 6),
        BAD("{\"a\":\"\\ud800\\u0041\"}", 6),
        BAD("{\"a\":\"\\ud800\\ud800\"}", 6),
        BAD("{\"a\":\"\\ud800x\"}", 6),
        BAD("{\"a\":\"\\ud800\\n\"}", 6),
        BAD("{\"a\":\"\\ud800\\uZZZZ\"}", 12),
        BAD("{\"a\":\"\\u0000\"}", 6),
        BAD("{\"\\u0000\":1}", 2),
        BAD("{\"a\":\"x\\u0000y\"}", 7),
        BAD("\"\x80\"", 1),             /* continuation byte alone */
        BAD("\"\xC0\xAF\"", 1),         /* overlong */
        BAD("\"\xE0\x80\xAF\"", 1),     /* overlong */
        BAD("\"\xED\xA0\x80\"", 1),     /* encoded surrogate */
        BAD("\"\xF4\x90\x80\x80\"", 1), /* above U+10FFFF */
        BAD("\"\xF5\x80\x80\x80\"", 1),
        BAD("\"\xE2\x82\"", 1), /* cut short */
        BAD("\"\xE2\x82", 1),
        BAD("{\"a\xFF\":1}", 3),
        BAD("\xC3\xA9", 0), /* valid UTF-8, not a value */
        /* Raw NUL bytes: never JSON. */
        BAD("\"a\0b\"", 2),
        BAD("{\"a\":1}\0", 7),
        BAD("\0", 0),
        NUL_BAD("1\0", 1),
        NUL_BAD("[true\0]", 5),
        NUL_BAD("[1\0]", 2),

        /* Duplicate keys, compared after unescaping, in any object. */
        DUP("{\"a\":1,\"a\":2}", "a", 7),
        DUP("{\"a\":1,\"\\u0061\":2}", "a", 7),
        DUP("{\"stage\":1,\"\\u0073tage\":2}", "stage", 11),
        DUP("{\"\xC3\xA9\":1,\"\\u00e9\":2}", "\xC3\xA9", 8),
        DUP("{\"\\ud83d\\ude00\":1,\"\xF0\x9F\x98\x80\":2}", "\xF0\x9F\x98\x80", 18),
        DUP("{\"x\":{\"b\":1,\"b\":2}}", "b", 12),
        DUP("[{\"b\":1},{\"c\":[{\"d\":1,\"d\":2}]}]", "d", 22),
        DUP("{\"\":1,\"\":2}", "", 6),
        /* ... found before a later syntax error, as Jansson does. */
        DUP("{\"a\":1,\"a\" x", "a", 7),
        /* Not duplicates. */
        OK("{\"a\":1,\"ab\":2,\"b\":3,\"A\":4}", "{a=i:1|ab=i:2|b=i:3|A=i:4}"),
        OK("{\"a\":{\"a\":1},\"b\":{\"a\":1}}", "{a=o|b=o}"),
};

/* Jansson's answer: 1 accepted, 0 refused. */
static int jansson_accepts(const char *buf, size_t len) {
        json_error_t je;
        json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        json_decref(j);
        return j != NULL;
}

static tecg_err_t parse_copy(tecg_json_flat_t *p, const char *in, size_t len,
                             tecg_json_flat_doc_t *doc, char *err, size_t errsz, char **copy) {
        *copy = malloc(len ? len : 1);
        assert_non_null(*copy);
        memcpy(*copy, in, len);
        return tecg_json_flat_parse(p, *copy, len, doc, err, errsz);
}

static void test_cases(void **state) {
        (void)state;
        tecg_json_flat_t *p = tecg_json_flat_new(16);
        int failures = 0;
        assert_non_null(p);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const case_t *c = &cases[i];
                tecg_json_flat_doc_t doc;
                char err[256] = "", got[1024] = "", *copy;
                tecg_err_t rc = parse_copy(p, c->in, c->len, &doc, err, sizeof(err), &copy);
                int ok = rc == c->err;
                if (ok && rc == TECG_OK) {
                        dump(&doc, got, sizeof(got));
                        ok = strcmp(got, c->want) == 0;
                } else if (ok) {
                        char want_err[64];
                        snprintf(want_err, sizeof(want_err),
                                 "invalid JSON at byte offset %zu: ", c->at);
                        ok = doc.err_offset == c->at &&
                             strncmp(err, want_err, strlen(want_err)) == 0 &&
                             (c->want ? doc.dup_key && doc.dup_key_len == strlen(c->want) &&
                                                memcmp(doc.dup_key, c->want, doc.dup_key_len) ==
                                                        0 &&
                                                doc.dup_key[doc.dup_key_len] == '\0'
                                      : doc.dup_key == NULL);
                        snprintf(got, sizeof(got), "dup %s", doc.dup_key ? doc.dup_key : "(none)");
                }
                if (!ok) {
                        print_error("case %zu: %.*s\n  want %s %s at %zu\n  got  %s %s: %s\n", i,
                                    (int)c->len, c->in, tecg_err2str(c->err),
                                    c->want ? c->want : "", c->at, tecg_err2str(rc), got, err);
                        failures++;
                }
                if (rc != TECG_ERR_LIMIT && !c->jansson_differs &&
                    jansson_accepts(copy, c->len) != (rc == TECG_OK)) {
                        print_error("case %zu: %.*s: Jansson disagrees\n", i, (int)c->len, c->in);
                        failures++;
                }
                if (c->jansson_differs && !jansson_accepts(copy, c->len)) {
                        print_error("case %zu: Jansson refuses it now: drop the exception\n", i);
                        failures++;
                }
                free(copy);
        }
        tecg_json_flat_destroy(p);
        assert_int_equal(failures, 0);
}

/* max_depth counts objects and arrays, the top one included. */
static void test_depth(void **state) {
        (void)state;
        static const case_t deep[] = {
                OK("[[[1]]]", "a"),
                OK("{\"a\":{\"b\":{}}}", "{a=o}"),
                OK("{\"a\":[{}],\"b\":[[]]}", "{a=a|b=a}"),
                DEEP("[[[[1]]]]", 3),
                DEEP("{\"a\":{\"b\":{\"c\":{}}}}", 15),
                DEEP("{\"a\":[[[", 7),
                OK("\"[[[[[[\"", "s:[[[[[["),
        };
        tecg_json_flat_t *p = tecg_json_flat_new(3);
        assert_non_null(p);
        for (size_t i = 0; i < sizeof(deep) / sizeof(deep[0]); i++) {
                tecg_json_flat_doc_t doc;
                char err[256], got[256] = "", *copy;
                tecg_err_t rc =
                        parse_copy(p, deep[i].in, deep[i].len, &doc, err, sizeof(err), &copy);
                if (rc == TECG_OK)
                        dump(&doc, got, sizeof(got));
                if (rc != deep[i].err || (rc == TECG_OK && strcmp(got, deep[i].want) != 0) ||
                    (rc != TECG_OK && doc.err_offset != deep[i].at))
                        fail_msg("depth case %zu (%s): %s %s %s", i, deep[i].in, tecg_err2str(rc),
                                 got, rc ? err : "");
                free(copy);
        }
        {
                tecg_json_flat_doc_t doc;
                char err[256];
                assert_int_equal(tecg_json_flat_parse(p, "[[[[1]]]]", 9, &doc, err, sizeof(err)),
                                 TECG_ERR_LIMIT);
                assert_string_equal(err, "JSON nested deeper than 3 at byte offset 3");
        }
        tecg_json_flat_destroy(p);
        assert_null(tecg_json_flat_new(0));

        /* Deep but within the limit: no recursion, any depth works. */
        p = tecg_json_flat_new(100000);
        size_t n = 2 * 100000;
        char *big = malloc(n);
        memset(big, '[', n / 2);
        memset(big + n / 2, ']', n / 2);
        tecg_json_flat_doc_t doc;
        char err[256];
        assert_int_equal(tecg_json_flat_parse(p, big, n, &doc, err, sizeof(err)), TECG_OK);
        assert_int_equal(doc.top.kind, TECG_JSON_FLAT_ARRAY);
        big[n - 1] = '}';
        assert_int_equal(tecg_json_flat_parse(p, big, n, &doc, err, sizeof(err)), TECG_ERR_INVALID);
        assert_int_equal(doc.err_offset, n - 1);
        free(big);
        tecg_json_flat_destroy(p);
}

/* Appends to a growing text. */
typedef struct {
        char *s;
        size_t len, cap;
} text_t;

static void add(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(text_t *t, const char *fmt, ...) {
        va_list ap;
        if (!t->s) {
                t->cap = 4096;
                t->s = malloc(t->cap);
                assert_non_null(t->s);
        }
        for (;;) {
                va_start(ap, fmt);
                int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
                va_end(ap);
                if ((size_t)n < t->cap - t->len) {
                        t->len += (size_t)n;
                        return;
                }
                t->cap *= 2;
                t->s = realloc(t->s, t->cap);
                assert_non_null(t->s);
        }
}

/* Objects with many keys: past a few keys they go into a hash table. Keys
 * of one object never clash with another's, whatever the table holds from
 * objects that closed. */
static void test_many_keys(void **state) {
        (void)state;
        tecg_json_flat_t *p = tecg_json_flat_new(16);
        tecg_json_flat_doc_t doc;
        char err[256];
        text_t t = {0};

        /* 1000 keys, in order. */
        add(&t, "{");
        for (int k = 0; k < 1000; k++)
                add(&t, "%s\"k%d\":%d", k ? "," : "", k, k);
        add(&t, "}");
        assert_int_equal(tecg_json_flat_parse(p, t.s, t.len, &doc, err, sizeof(err)), TECG_OK);
        assert_int_equal(doc.count, 1000);
        for (int k = 0; k < 1000; k++) {
                char key[16];
                snprintf(key, sizeof(key), "k%d", k);
                assert_string_equal(doc.members[k].key, key);
                assert_int_equal(doc.members[k].integer, k);
        }
        /* ... and one of them again, early or late in the table's life. */
        t.len--;
        add(&t, ",\"k3\":0}");
        assert_int_equal(tecg_json_flat_parse(p, t.s, t.len, &doc, err, sizeof(err)),
                         TECG_ERR_INVALID);
        assert_string_equal(doc.dup_key, "k3");
        t.len = 0;
        add(&t, "{");
        for (int k = 0; k < 20; k++)
                add(&t, "\"k%d\":%d,", k, k);
        add(&t, "\"k19\":0}");
        assert_int_equal(tecg_json_flat_parse(p, t.s, t.len, &doc, err, sizeof(err)),
                         TECG_ERR_INVALID);
        assert_string_equal(doc.dup_key, "k19");

        /* Nested big objects inside a big one: the same key names in each,
         * the outer object's own duplicate still found after they closed. */
        t.len = 0;
        add(&t, "{");
        for (int k = 0; k < 40; k++)
                add(&t, "\"t%d\":%d,", k, k);
        for (int o = 0; o < 5; o++) {
                add(&t, "\"o%d\":{", o);
                for (int k = 0; k < 200; k++)
                        add(&t, "%s\"t%d\":{\"t%d\":[{\"t1\":1,\"t2\":2}]}", k ? "," : "", k, k);
                add(&t, "},");
        }
        for (int k = 40; k < 300; k++)
                add(&t, "\"t%d\":%d,", k, k);
        add(&t, "\"end\":1}");
        assert_int_equal(tecg_json_flat_parse(p, t.s, t.len, &doc, err, sizeof(err)), TECG_OK);
        assert_int_equal(doc.count, 40 + 5 + 260 + 1);
        assert_string_equal(doc.members[40].key, "o0");
        assert_int_equal(doc.members[40].kind, TECG_JSON_FLAT_OBJECT);
        assert_string_equal(doc.members[305].key, "end");
        t.len--;
        add(&t, ",\"t7\":1}");
        assert_int_equal(tecg_json_flat_parse(p, t.s, t.len, &doc, err, sizeof(err)),
                         TECG_ERR_INVALID);
        assert_string_equal(doc.dup_key, "t7");
        assert_int_equal(jansson_accepts(t.s, t.len), 0);

        /* Many keys: linear in their number (this would take minutes if
         * each key were compared with all before it). */
        t.len = 0;
        add(&t, "{");
        for (int k = 0; k < 200000; k++)
                add(&t, "%s\"%x\":0", k ? "," : "", k * 2654435761u);
        add(&t, "}");
        assert_int_equal(tecg_json_flat_parse(p, t.s, t.len, &doc, err, sizeof(err)), TECG_OK);
        assert_int_equal(doc.count, 200000);

        /* The next small line starts clean. */
        assert_int_equal(tecg_json_flat_parse(p, "{\"k3\":\"x\"}", 10, &doc, err, sizeof(err)),
                         TECG_OK);
        assert_int_equal(doc.count, 1);
        assert_string_equal(doc.members[0].str, "x");
        free(t.s);
        tecg_json_flat_destroy(p);
}

/* The parser is reused line after line: what it returns lives until the
 * next parse, and nothing of one line leaks into the next. */
static void test_reuse(void **state) {
        (void)state;
        tecg_json_flat_t *p = tecg_json_flat_new(4);
        tecg_json_flat_doc_t doc;
        char err[256];
        const char *a = "{\"item\":\"first line's item\",\"n\":1}";
        const char *b = "{\"item\":\"2nd\"}";
        assert_int_equal(tecg_json_flat_parse(p, a, strlen(a), &doc, err, sizeof(err)), TECG_OK);
        assert_string_equal(doc.members[0].str, "first line's item");
        assert_int_equal(tecg_json_flat_parse(p, "{\"x\":", 5, &doc, err, sizeof(err)),
                         TECG_ERR_INVALID);
        assert_string_equal(
                err, "invalid JSON at byte offset 5: unexpected end of input, a value expected");
        assert_null(doc.members);
        assert_int_equal(tecg_json_flat_parse(p, b, strlen(b), &doc, err, sizeof(err)), TECG_OK);
        assert_int_equal(doc.count, 1);
        assert_string_equal(doc.members[0].key, "item");
        assert_string_equal(doc.members[0].str, "2nd");
        assert_int_equal(doc.members[0].str_len, 3);
        /* errstr may be NULL / 0. */
        assert_int_equal(tecg_json_flat_parse(p, "x", 1, &doc, NULL, 0), TECG_ERR_INVALID);
        assert_string_equal(tecg_json_flat_kind_name(TECG_JSON_FLAT_REAL), "real");
        tecg_json_flat_destroy(p);
        tecg_json_flat_destroy(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cases),
                cmocka_unit_test(test_depth),
                cmocka_unit_test(test_many_keys),
                cmocka_unit_test(test_reuse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
