/* Fuzz target: the flat JSON parser (common/json_flat.h), differentially
 * against Jansson, which the validator used before and which the producer
 * still links. One input = one line, as the validator hands it over.
 *
 * Every input goes through tecg_json_flat_parse() and through
 * json_loadb(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY). Invariants:
 *   - both accept or both refuse, whatever the input (a top-level object
 *     or not). Nesting is the one limit drawn differently (Jansson: 2048
 *     values deep, counting the innermost scalar; json_flat: max_depth
 *     containers): inputs that hit either depth limit are not compared;
 *   - both refuse: the message is one clean line, a duplicate key valid
 *     UTF-8; on valid UTF-8 input (the validator checks UTF-8 before it
 *     parses) for the same kind of reason: a duplicate key exactly when
 *     Jansson says json_error_duplicate_key (the validator names the key
 *     then), and a number out of range only when it says
 *     json_error_numeric_overflow (Jansson reads a whole token before it
 *     looks whether one may stand there, so it also says that for
 *     "{123456789012345678901:1}");
 *   - both accept: the same kind of top-level value; for a string or an
 *     integer the same value; for an object the same members in the same
 *     order (the validator reports unknown fields in line order): keys
 *     byte-equal after unescaping, kinds equal, strings byte-equal,
 *     integers equal; every string NUL-terminated, without NUL inside, valid
 *     UTF-8;
 *   - parsing the same input again gives the same answer (the parser is
 *     reused: nothing of the previous line may leak into the next). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json_flat.h"

/* Jansson's JSON_PARSER_MAX_DEPTH. */
#define JANSSON_MAX_DEPTH 2048

/* As the validator's reasons (TECG_VALIDATE_ERRSTR_SIZE). */
#define ERRSTR_SIZE 512

static tecg_json_flat_t *jf;

static void fz_teardown(void) {
        tecg_json_flat_destroy(jf);
        jf = NULL;
}

static void fz_setup(void) {
        if (jf)
                return;
        jf = tecg_json_flat_new(JANSSON_MAX_DEPTH);
        FZ_SETUP(jf, "tecg_json_flat_new failed");
        atexit(fz_teardown);
}

static tecg_json_flat_kind_t kind_of(const json_t *j) {
        switch (json_typeof(j)) {
        case JSON_OBJECT:
                return TECG_JSON_FLAT_OBJECT;
        case JSON_ARRAY:
                return TECG_JSON_FLAT_ARRAY;
        case JSON_STRING:
                return TECG_JSON_FLAT_STRING;
        case JSON_INTEGER:
                return TECG_JSON_FLAT_INTEGER;
        case JSON_REAL:
                return TECG_JSON_FLAT_REAL;
        case JSON_TRUE:
                return TECG_JSON_FLAT_TRUE;
        case JSON_FALSE:
                return TECG_JSON_FLAT_FALSE;
        case JSON_NULL:
                return TECG_JSON_FLAT_NULL;
        }
        return (tecg_json_flat_kind_t)-1;
}

/* A string json_flat hands out: terminated, no NUL inside, UTF-8. */
static void check_text(const char *what, const char *s, size_t n) {
        FZ_CHECK(s != NULL, "%s is NULL", what);
        FZ_CHECK(s[n] == '\0', "%s is not NUL-terminated", what);
        FZ_CHECK(memchr(s, '\0', n) == NULL, "%s holds a NUL byte", what);
        FZ_CHECK(fz_utf8_count(s, n) >= 0, "%s is not valid UTF-8", what);
}

/* One value of json_flat against Jansson's. */
static void check_value(const char *what, const tecg_json_flat_value_t *v, const json_t *j) {
        FZ_CHECK(v->kind == kind_of(j), "%s: json_flat says %s, Jansson %d", what,
                 tecg_json_flat_kind_name(v->kind), (int)json_typeof(j));
        if (v->kind == TECG_JSON_FLAT_STRING) {
                check_text(what, v->str, v->str_len);
                FZ_CHECK(v->str_len == json_string_length(j) &&
                                 memcmp(v->str, json_string_value(j), v->str_len) == 0,
                         "%s: json_flat's string (%zu bytes) differs from Jansson's (%zu bytes)",
                         what, v->str_len, json_string_length(j));
        } else if (v->kind == TECG_JSON_FLAT_INTEGER) {
                FZ_CHECK(v->integer == json_integer_value(j),
                         "%s: json_flat says %lld, Jansson %lld", what, (long long)v->integer,
                         (long long)json_integer_value(j));
        }
}

static void check_both_accept(const tecg_json_flat_doc_t *doc, json_t *j) {
        check_value("top-level value", &doc->top, j);
        if (doc->top.kind != TECG_JSON_FLAT_OBJECT) {
                FZ_CHECK(doc->members == NULL && doc->count == 0, "members of a non-object");
                return;
        }
        FZ_CHECK(doc->count == json_object_size(j), "json_flat has %zu members, Jansson %zu",
                 doc->count, json_object_size(j));
        /* Same members, in the same order. */
        void *it = json_object_iter(j);
        for (size_t m = 0; m < doc->count; m++) {
                const tecg_json_flat_value_t *v = &doc->members[m];
                char what[64];
                snprintf(what, sizeof(what), "member %zu", m);
                check_text(what, v->key, v->key_len);
                FZ_CHECK(it != NULL, "%s: Jansson has fewer members", what);
                FZ_CHECK(json_object_iter_key_len(it) == v->key_len &&
                                 memcmp(json_object_iter_key(it), v->key, v->key_len) == 0,
                         "%s: key differs (json_flat %zu bytes, Jansson %zu bytes)", what,
                         v->key_len, json_object_iter_key_len(it));
                check_value(what, v, json_object_iter_value(it));
                FZ_CHECK(json_object_getn(j, v->key, v->key_len) == json_object_iter_value(it),
                         "%s: Jansson finds another value under that key", what);
                it = json_object_iter_next(j, it);
        }
        FZ_CHECK(it == NULL, "Jansson has more members");
}

static void check_both_refuse(const tecg_json_flat_doc_t *doc, const json_error_t *je,
                              const char *err, int utf8_ok) {
        enum json_error_code code = json_error_code(je);
        int range = strstr(err, "out of range") != NULL || strstr(err, "overflow") != NULL;
        if (doc->dup_key)
                check_text("duplicate key", doc->dup_key, doc->dup_key_len);
        fz_check_reason("json_flat", err, ERRSTR_SIZE);
        /* Jansson checks UTF-8 as it reads, one character ahead of a
         * number: "1<invalid byte>" fails on the byte before the number
         * is looked at. The validator checks UTF-8 before parsing, so the
         * kinds of errors are compared on valid UTF-8 only. */
        if (!utf8_ok)
                return;
        FZ_CHECK((doc->dup_key != NULL) == (code == json_error_duplicate_key),
                 "duplicate key: json_flat says \"%s\", Jansson \"%s\"", err, je->text);
        FZ_CHECK(!range || code == json_error_numeric_overflow,
                 "number out of range: json_flat says \"%s\", Jansson \"%s\"", err, je->text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *buf = (const char *)data;
        tecg_json_flat_doc_t doc, again;
        char err[ERRSTR_SIZE] = "", err2[ERRSTR_SIZE] = "";
        json_error_t je;
        json_t *j;
        tecg_err_t rc, rc2;

        fz_setup();

        rc = tecg_json_flat_parse(jf, buf, size, &doc, err, sizeof(err));
        FZ_CHECK(rc == TECG_OK || rc == TECG_ERR_INVALID || rc == TECG_ERR_LIMIT ||
                         rc == TECG_ERR_NOMEM,
                 "unexpected %s", tecg_err2str(rc));
        if (rc != TECG_OK)
                FZ_CHECK(doc.err_offset <= size, "error offset %zu beyond %zu bytes",
                         doc.err_offset, size);

        /* A raw NUL byte is never JSON (a control character in a string,
         * not whitespace outside one). Jansson 2.14 loses one that follows
         * a number or a word it reads one byte past: it accepts "426\0"
         * and "[true\0]" (the validator refuses NUL bytes before parsing).
         * So here only json_flat's answer is checked. */
        if (memchr(buf, '\0', size)) {
                FZ_CHECK(rc != TECG_OK, "json_flat accepts a raw NUL byte");
                return 0;
        }

        j = json_loadb(buf, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (rc == TECG_ERR_LIMIT || rc == TECG_ERR_NOMEM ||
            (!j && (json_error_code(&je) == json_error_stack_overflow ||
                    json_error_code(&je) == json_error_out_of_memory))) {
                json_decref(j);
                return 0;
        }
        FZ_CHECK((rc == TECG_OK) == (j != NULL), "json_flat %s (%s), Jansson %s (%s)",
                 rc == TECG_OK ? "accepts" : "refuses", err, j ? "accepts" : "refuses",
                 j ? "" : je.text);
        if (j)
                check_both_accept(&doc, j);
        else
                check_both_refuse(&doc, &je, err, fz_utf8_count(buf, size) >= 0);
        json_decref(j);

        /* The same line again: the same answer. */
        rc2 = tecg_json_flat_parse(jf, buf, size, &again, err2, sizeof(err2));
        FZ_CHECK(rc2 == rc && strcmp(err, err2) == 0 && again.count == doc.count &&
                         again.top.kind == doc.top.kind,
                 "second parse: %s \"%s\", first %s \"%s\"", tecg_err2str(rc2), err2,
                 tecg_err2str(rc), err);
        return 0;
}
