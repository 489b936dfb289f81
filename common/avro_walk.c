/* Body walk: see avro_walk.h. */
#include "avro_walk.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* The schema compiled into flat sequences of checks: one per record, union
 * branch or array/map item type, each a run of ops ending with OP_END. */

typedef enum {
        OP_END,
        OP_NULL,
        OP_BOOL,
        OP_INT,
        OP_LONG,
        OP_FLOAT,
        OP_DOUBLE,
        OP_BYTES,
        OP_STRING,
        OP_FIXED,
        OP_ENUM,
        OP_RECORD,
        OP_UNION,
        OP_ARRAY,
        OP_MAP
} op_kind_t;

typedef struct {
        op_kind_t kind;
        uint32_t n;       /* fixed size, enum symbols, union branches */
        uint32_t arg;     /* record, array, map: sequence of the record or
                           * item; union: first of its entries in branches */
        const char *name; /* field name, for errors; NULL inside a branch or
                           * item sequence. Borrowed from the Avro-C schema. */
} scan_op_t;

typedef struct {
        scan_op_t *ops; /* all sequences, each ending with OP_END */
        size_t nops, opcap;
        uint32_t *seq; /* sequence id -> index of its first op */
        size_t nseq, seqcap;
        uint32_t *branch;         /* union branch -> sequence id */
        const char **branch_name; /* record name of a branch, or NULL */
        size_t nbranch, branchcap;
        uint32_t root; /* sequence id of the whole body */
} scan_prog_t;

typedef struct {
        avro_schema_t schema;
        uint32_t seq;
} scan_memo_t;

#define SCAN_MAX_NAMED 256

typedef struct {
        scan_prog_t *p;
        scan_memo_t memo[SCAN_MAX_NAMED]; /* records compiled so far */
        size_t nmemo;
} scan_compiler_t;

typedef struct {
        const uint8_t *start, *p, *end;
        const scan_prog_t *prog;
        const char *path[2 * TECG_AVRO_WALK_MAX_DEPTH + 2]; /* a union pushes 2 */
        int npath, depth;
        uint64_t items; /* array/map items so far, bounded by the body size */
        char *errstr;
        size_t errstr_size;
} scan_t;

struct tecg_avro_walk {
        scan_prog_t prog;
};

/* ------------------------------------------------------------------------
 * Compiling */

static void scan_prog_free(scan_prog_t *p) {
        free(p->ops);
        free(p->seq);
        free(p->branch);
        free(p->branch_name);
}

static avro_schema_t deref(avro_schema_t s) {
        while (s && is_avro_link(s))
                s = avro_schema_link_target(s);
        return s;
}

/* Grows *arr (of elements of size sz) to hold n more; -1 on failure. */
static int grow(void **arr, size_t *cap, size_t used, size_t n, size_t sz) {
        if (used + n <= *cap)
                return 0;
        size_t cap2 = *cap ? *cap : 16;
        while (cap2 < used + n)
                cap2 *= 2;
        void *a = realloc(*arr, cap2 * sz);
        if (!a)
                return -1;
        *arr = a;
        *cap = cap2;
        return 0;
}

static int scan_new_seq(scan_prog_t *p, uint32_t *id) {
        if (grow((void **)&p->seq, &p->seqcap, p->nseq, 1, sizeof(*p->seq)))
                return -1;
        p->seq[p->nseq] = UINT32_MAX; /* filled when its ops are emitted */
        *id = (uint32_t)p->nseq++;
        return 0;
}

/* Appends ops[0..n) and OP_END as sequence `id`. */
static int scan_emit_seq(scan_prog_t *p, uint32_t id, const scan_op_t *ops, size_t n) {
        if (grow((void **)&p->ops, &p->opcap, p->nops, n + 1, sizeof(*p->ops)))
                return -1;
        p->seq[id] = (uint32_t)p->nops;
        if (n)
                memcpy(p->ops + p->nops, ops, n * sizeof(*ops));
        p->nops += n;
        p->ops[p->nops++] = (scan_op_t){OP_END, 0, 0, NULL};
        return 0;
}

static int scan_op(scan_compiler_t *c, avro_schema_t s, const char *name, int depth, scan_op_t *op);

/* The sequence of record s (compiled once; recursion finds it in memo). */
static int scan_record_seq(scan_compiler_t *c, avro_schema_t s, int depth, uint32_t *id) {
        scan_op_t *ops = NULL;
        size_t n = avro_schema_record_size(s);
        int rc = -1;

        for (size_t i = 0; i < c->nmemo; i++)
                if (c->memo[i].schema == s) {
                        *id = c->memo[i].seq;
                        return 0;
                }
        if (c->nmemo == SCAN_MAX_NAMED || scan_new_seq(c->p, id))
                return -1;
        c->memo[c->nmemo++] = (scan_memo_t){s, *id};
        ops = calloc(n ? n : 1, sizeof(*ops));
        if (!ops)
                goto done;
        for (size_t i = 0; i < n; i++)
                if (scan_op(c, avro_schema_record_field_get_by_index(s, (int)i),
                            avro_schema_record_field_name(s, (int)i), depth + 1, &ops[i]))
                        goto done;
        rc = scan_emit_seq(c->p, *id, ops, n);
done:
        free(ops);
        return rc;
}

/* A sequence for one value of s: a record's own, else a single op. */
static int scan_value_seq(scan_compiler_t *c, avro_schema_t s, int depth, uint32_t *id) {
        scan_op_t op;
        avro_schema_t t = deref(s);
        if (t && is_avro_record(t))
                return scan_record_seq(c, t, depth + 1, id);
        if (scan_op(c, s, NULL, depth + 1, &op) || scan_new_seq(c->p, id))
                return -1;
        return scan_emit_seq(c->p, *id, &op, 1);
}

/* The check for one value of schema s, named `name` in its record. */
static int scan_op(scan_compiler_t *c, avro_schema_t s, const char *name, int depth,
                   scan_op_t *op) {
        scan_prog_t *p = c->p;

        s = deref(s);
        if (!s || depth > TECG_AVRO_WALK_MAX_DEPTH)
                return -1;
        *op = (scan_op_t){OP_END, 0, 0, name};
        switch (avro_typeof(s)) {
        case AVRO_NULL:
                op->kind = OP_NULL;
                return 0;
        case AVRO_BOOLEAN:
                op->kind = OP_BOOL;
                return 0;
        case AVRO_INT32:
                op->kind = OP_INT;
                return 0;
        case AVRO_INT64:
                op->kind = OP_LONG;
                return 0;
        case AVRO_FLOAT:
                op->kind = OP_FLOAT;
                return 0;
        case AVRO_DOUBLE:
                op->kind = OP_DOUBLE;
                return 0;
        case AVRO_BYTES:
                op->kind = OP_BYTES;
                return 0;
        case AVRO_STRING:
                op->kind = OP_STRING;
                return 0;
        case AVRO_FIXED:
                op->kind = OP_FIXED;
                op->n = (uint32_t)avro_schema_fixed_size(s);
                return 0;
        case AVRO_ENUM:
                op->kind = OP_ENUM;
                op->n = (uint32_t)avro_schema_enum_number_of_symbols(s);
                return 0;
        case AVRO_RECORD:
                op->kind = OP_RECORD;
                return scan_record_seq(c, s, depth, &op->arg);
        case AVRO_ARRAY:
        case AVRO_MAP:
                op->kind = is_avro_array(s) ? OP_ARRAY : OP_MAP;
                return scan_value_seq(c,
                                      is_avro_array(s) ? avro_schema_array_items(s)
                                                       : avro_schema_map_values(s),
                                      depth, &op->arg);
        case AVRO_UNION: {
                size_t n = avro_schema_union_size(s);
                uint32_t first = (uint32_t)p->nbranch;
                size_t oldcap = p->branchcap;
                if (grow((void **)&p->branch, &p->branchcap, p->nbranch, n, sizeof(*p->branch)))
                        return -1;
                /* branch_name shares branchcap: grow it to the same size,
                 * only when branch grew (never realloc to 0 bytes for an
                 * empty union: whether that frees is up to the libc). */
                if (p->branchcap != oldcap) {
                        const char **bn = realloc(p->branch_name, p->branchcap * sizeof(*bn));
                        if (!bn)
                                return -1;
                        p->branch_name = bn;
                }
                p->nbranch += n;
                op->kind = OP_UNION;
                op->n = (uint32_t)n;
                op->arg = first;
                for (size_t i = 0; i < n; i++) {
                        avro_schema_t b = avro_schema_union_branch(s, (int)i);
                        avro_schema_t t = deref(b);
                        uint32_t id;
                        if (scan_value_seq(c, b, depth, &id))
                                return -1;
                        p->branch[first + i] = id;
                        p->branch_name[first + i] =
                                t && is_avro_record(t) ? avro_schema_name(t) : NULL;
                }
                return 0;
        }
        default:
                return -1;
        }
}

/* ------------------------------------------------------------------------
 * Walking */

static tecg_err_t scan_fail(scan_t *s, const char *field, size_t at, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* "reason (field a.b.c, body byte N)": the names pushed on the way down,
 * then the failing op's own field name. */
static tecg_err_t scan_fail(scan_t *s, const char *field, size_t at, const char *fmt, ...) {
        char reason[256], path[256];
        size_t n = 0;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        path[0] = '\0';
        for (int i = 0; i <= s->npath && n < sizeof(path); i++) {
                const char *name = i < s->npath ? s->path[i] : field;
                if (name)
                        n += (size_t)snprintf(path + n, sizeof(path) - n, "%s%s", n ? "." : "",
                                              name);
        }
        if (n)
                return tecg_seterr(TECG_ERR_INVALID, s->errstr, s->errstr_size,
                                   "%s (field %s, body byte %zu)", reason, path, at);
        return tecg_seterr(TECG_ERR_INVALID, s->errstr, s->errstr_size, "%s (body byte %zu)",
                           reason, at);
}

/* A zig-zag varint of at most maxlen bytes whose last byte may only carry
 * the bits in lastmask (long: 10 bytes, 1 bit; int: 5 bytes, 4 bits), so
 * the value fits the type. */
static inline tecg_err_t scan_varint(scan_t *s, const char *field, int maxlen, uint8_t lastmask,
                                     int64_t *out) {
        const uint8_t *p = s->p;
        uint64_t v = 0;

        if (p < s->end && *p < 0x80) { /* one byte: most of them */
                s->p++;
                *out = (int64_t)(*p >> 1) ^ -(int64_t)(*p & 1);
                return TECG_OK;
        }
        for (int i = 0; i < maxlen; i++) {
                if (p >= s->end)
                        return scan_fail(s, field, (size_t)(s->p - s->start),
                                         "body ends inside a varint");
                uint8_t b = *p++;
                if (i == maxlen - 1 && (b & ~lastmask))
                        break;
                v |= (uint64_t)(b & 0x7f) << (7 * i);
                if (!(b & 0x80)) {
                        s->p = p;
                        *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
                        return TECG_OK;
                }
        }
        return scan_fail(s, field, (size_t)(s->p - s->start), "varint does not fit %d bits",
                         maxlen == 5 ? 32 : 64);
}

#define scan_long(s, f, out) scan_varint((s), (f), 10, 0x01, (out))
#define scan_int(s, f, out) scan_varint((s), (f), 5, 0x0f, (out))

/* string or bytes: the length prefix is checked against the bytes left
 * before anyone allocates it. */
static inline tecg_err_t scan_blob(scan_t *s, const char *field, int is_string) {
        size_t at = (size_t)(s->p - s->start);
        int64_t len = 0;
        tecg_err_t err = scan_long(s, field, &len);
        const char *what = is_string ? "string" : "bytes";
        if (err)
                return err;
        if (len < 0)
                return scan_fail(s, field, at, "negative %s length %" PRId64, what, len);
        if ((uint64_t)len > (uint64_t)(s->end - s->p))
                return scan_fail(s, field, at, "%s length %" PRId64 " exceeds the %zu bytes left",
                                 what, len, (size_t)(s->end - s->p));
        if (is_string && !tecg_utf8_valid(s->p, (size_t)len))
                return scan_fail(s, field, at, "string is not valid UTF-8");
        s->p += len;
        return TECG_OK;
}

static inline tecg_err_t scan_bytes(scan_t *s, const char *field, size_t n) {
        if ((size_t)(s->end - s->p) < n)
                return scan_fail(s, field, (size_t)(s->p - s->start), "needs %zu bytes, %zu left",
                                 n, (size_t)(s->end - s->p));
        s->p += n;
        return TECG_OK;
}

static tecg_err_t scan_seq(scan_t *s, uint32_t seq);

/* Array and map blocks: count, or -count and a byte size. The total count
 * of items may not exceed the body size, which keeps zero-size items (null)
 * from turning a short input into an endless loop. */
static tecg_err_t scan_blocks(scan_t *s, const scan_op_t *op) {
        const char *what = op->kind == OP_ARRAY ? "array" : "map";
        for (;;) {
                size_t at = (size_t)(s->p - s->start);
                int64_t count = 0, size = 0;
                tecg_err_t err = scan_long(s, NULL, &count);
                if (err)
                        return err;
                if (count == 0)
                        return TECG_OK;
                if (count < 0) {
                        if (count == INT64_MIN)
                                return scan_fail(s, NULL, at, "%s block count out of range", what);
                        count = -count;
                        if ((err = scan_long(s, NULL, &size)))
                                return err;
                        if (size < 0 || (uint64_t)size > (uint64_t)(s->end - s->p))
                                return scan_fail(s, NULL, at,
                                                 "%s block size %" PRId64
                                                 " does not fit the %zu bytes left",
                                                 what, size, (size_t)(s->end - s->p));
                }
                s->items += (uint64_t)count;
                if (s->items > (uint64_t)(s->end - s->start))
                        return scan_fail(s, NULL, at,
                                         "%s block count %" PRId64
                                         " exceeds what the %zu-byte body "
                                         "can hold",
                                         what, count, (size_t)(s->end - s->start));
                for (int64_t i = 0; i < count; i++) {
                        if (op->kind == OP_MAP && (err = scan_blob(s, NULL, 1)))
                                return err;
                        if ((err = scan_seq(s, op->arg)))
                                return err;
                }
        }
}

/* Runs one sequence. Names are pushed only around nested sequences; on
 * an error the path stays as it was, for the message. */
static tecg_err_t scan_seq(scan_t *s, uint32_t seq) {
        const scan_prog_t *prog = s->prog;
        tecg_err_t err = TECG_OK;
        int64_t v = 0;

        if (++s->depth > TECG_AVRO_WALK_MAX_DEPTH)
                return scan_fail(s, NULL, (size_t)(s->p - s->start), "value nested deeper than %d",
                                 TECG_AVRO_WALK_MAX_DEPTH);
        for (const scan_op_t *op = &prog->ops[prog->seq[seq]];; op++) {
                size_t at = (size_t)(s->p - s->start);
                switch (op->kind) {
                case OP_END:
                        s->depth--;
                        return TECG_OK;
                case OP_NULL:
                        break;
                case OP_BOOL:
                        if ((err = scan_bytes(s, op->name, 1)))
                                return err;
                        if (s->p[-1] > 1)
                                return scan_fail(s, op->name, at,
                                                 "boolean byte 0x%02X is "
                                                 "neither 0 nor 1",
                                                 s->p[-1]);
                        break;
                case OP_INT:
                        if ((err = scan_int(s, op->name, &v)))
                                return err;
                        break;
                case OP_LONG:
                        if ((err = scan_long(s, op->name, &v)))
                                return err;
                        break;
                case OP_FLOAT:
                        if ((err = scan_bytes(s, op->name, 4)))
                                return err;
                        break;
                case OP_DOUBLE:
                        if ((err = scan_bytes(s, op->name, 8)))
                                return err;
                        break;
                case OP_BYTES:
                case OP_STRING:
                        if ((err = scan_blob(s, op->name, op->kind == OP_STRING)))
                                return err;
                        break;
                case OP_FIXED:
                        if ((err = scan_bytes(s, op->name, op->n)))
                                return err;
                        break;
                case OP_ENUM:
                        if ((err = scan_int(s, op->name, &v)))
                                return err;
                        if (v < 0 || v >= (int64_t)op->n)
                                return scan_fail(s, op->name, at,
                                                 "enum index %" PRId64 " out of range (%u symbols)",
                                                 v, op->n);
                        break;
                case OP_RECORD:
                        s->path[s->npath++] = op->name;
                        if ((err = scan_seq(s, op->arg)))
                                return err;
                        s->npath--;
                        break;
                case OP_UNION: {
                        if ((err = scan_long(s, op->name, &v)))
                                return err;
                        if (v < 0 || v >= (int64_t)op->n)
                                return scan_fail(s, op->name, at,
                                                 "union branch index %" PRId64
                                                 " out of range (%u branches)",
                                                 v, op->n);
                        uint32_t b = op->arg + (uint32_t)v;
                        s->path[s->npath++] = op->name;
                        s->path[s->npath++] = prog->branch_name[b];
                        if ((err = scan_seq(s, prog->branch[b])))
                                return err;
                        s->npath -= 2;
                        break;
                }
                case OP_ARRAY:
                case OP_MAP:
                        s->path[s->npath++] = op->name;
                        if ((err = scan_blocks(s, op)))
                                return err;
                        s->npath--;
                        break;
                }
        }
}

tecg_avro_walk_t *tecg_avro_walk_new(avro_schema_t schema) {
        tecg_avro_walk_t *w = calloc(1, sizeof(*w));
        scan_compiler_t *c = calloc(1, sizeof(*c));
        if (!w || !c)
                goto fail;
        c->p = &w->prog;
        if (scan_value_seq(c, schema, 0, &w->prog.root))
                goto fail;
        free(c);
        return w;
fail:
        free(c);
        tecg_avro_walk_destroy(w);
        return NULL;
}

void tecg_avro_walk_destroy(tecg_avro_walk_t *w) {
        if (!w)
                return;
        scan_prog_free(&w->prog);
        free(w);
}

tecg_err_t tecg_avro_walk_body(const tecg_avro_walk_t *w, const void *body, size_t len,
                               char *errstr, size_t errstr_size) {
        const scan_prog_t *prog = &w->prog;
        scan_t s;
        tecg_err_t err;

        s.start = s.p = body;
        s.end = s.start + len;
        s.prog = prog;
        s.npath = s.depth = 0;
        s.items = 0;
        s.errstr = errstr;
        s.errstr_size = errstr_size;
        if ((err = scan_seq(&s, prog->root)))
                return err;
        if (s.p != s.end)
                return scan_fail(&s, NULL, (size_t)(s.p - s.start),
                                 "body longer than its schema: %zu trailing "
                                 "bytes",
                                 (size_t)(s.end - s.p));
        return TECG_OK;
}
