/* Dashboard composition (see compose.h for the documents' shapes).
 *
 * Every document is built in one pass over "rows": the nations of the list
 * merged with the given states, sorted by code. Building helpers never stop
 * half-way: they record the first error in the ctx_t and keep going with
 * what they have (Jansson's set/append functions accept NULL values and
 * free what they are given), and the public functions check the ctx once
 * at the end, drop the half-built document and return NULL. */
#include "compose.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "money.h"
#include "timefmt.h"

const char *const tecg_dashboard_names[TECG_DASH__COUNT] = {"funding", "staffing", "training",
                                                            "history"};

/* Keys of the pledged/disbursed pair, as fields of a FUNDS block. */
static const char *const fs_keys[TECG_FS__COUNT] = {"pledged", "disbursed"};
/* Keys of the location pair as fields (the enum symbols key the maps). */
static const char *const loc_keys[TECG_LOC__COUNT] = {"in_iraq", "outside_iraq"};

/* ------------------------------------------------------------------ */
/* Building context                                                    */
/* ------------------------------------------------------------------ */

/* A row's serialised text, as the cache keeps it. */
typedef struct {
        char *text;
        size_t len;
} piece_t;

/* A per-nation array of a document. Composing a tree (tecg_compose()) its
 * elements go into `arr`; composing text (tecg_compose_text()) `arr` stays
 * empty and stands in the document for the elements' texts, listed in
 * `v`, which the text is spliced from (doc_text()). */
typedef struct {
        json_t *arr;
        bool placed; /* arr is in the document, which holds its reference */
        piece_t *v;  /* text mode: borrowed texts (the cache owns them) */
        size_t n, cap;
} list_out_t;

/* Per-nation arrays of one document: "nations", "reporting"."nations". */
#define LISTS_MAX 2

typedef struct slot slot_t;

typedef struct {
        tecg_err_t err; /* first error, TECG_OK while all is well */
        char *errstr;
        size_t errstr_size;
        /* tecg_compose_text() only (NULL/0 for tecg_compose()): the cache
         * and this document's slots, one per row, aligned by align_slots() */
        tecg_compose_cache_t *cache;
        slot_t *slots;
        list_out_t lists[LISTS_MAX];
        int nlists;
} ctx_t;

__attribute__((format(printf, 3, 4))) static void fail(ctx_t *c, tecg_err_t err, const char *fmt,
                                                       ...) {
        va_list ap;
        if (c->err != TECG_OK)
                return;
        c->err = err;
        if (c->errstr && c->errstr_size > 0) {
                va_start(ap, fmt);
                vsnprintf(c->errstr, c->errstr_size, fmt, ap);
                va_end(ap);
        }
}

static void oom(ctx_t *c) {
        fail(c, TECG_ERR_NOMEM, "out of memory composing a dashboard");
}

/* Room for `need` elements of `size` bytes in v (capacity *cap): v when it
 * has it, else v moved to a block at least twice as large; NULL, v left
 * as it was and the error recorded, when there is no memory. */
static void *reserve(ctx_t *c, void *v, size_t *cap, size_t need, size_t size) {
        if (need <= *cap)
                return v;
        size_t ncap = *cap ? *cap : 4;
        while (ncap < need && ncap <= SIZE_MAX / 2 / size)
                ncap *= 2;
        void *nv = ncap >= need ? realloc(v, ncap * size) : NULL;
        if (!nv) {
                oom(c);
                return NULL;
        }
        *cap = ncap;
        return nv;
}

/* Sets obj[key] = val, taking the reference to val (also on failure). */
static void put(ctx_t *c, json_t *obj, const char *key, json_t *val) {
        if (json_object_set_new(obj, key, val) != 0)
                oom(c);
}

/* Appends val to arr, taking the reference. */
static void push(ctx_t *c, json_t *arr, json_t *val) {
        if (json_array_append_new(arr, val) != 0)
                oom(c);
}

static json_t *new_object(ctx_t *c) {
        json_t *o = json_object();
        if (!o)
                oom(c);
        return o;
}

static json_t *new_array(ctx_t *c) {
        json_t *a = json_array();
        if (!a)
                oom(c);
        return a;
}

/* *acc += v, or an error naming `what` when it overflows (acc unchanged). */
static void add_to(ctx_t *c, int64_t *acc, int64_t v, const char *what) {
        int64_t r;
        if (__builtin_add_overflow(*acc, v, &r)) {
                fail(c, TECG_ERR_LIMIT, "%s overflows a 64-bit sum", what);
                return;
        }
        *acc = r;
}

static json_t *int_json(ctx_t *c, int64_t v) {
        json_t *j = json_integer((json_int_t)v);
        if (!j)
                oom(c);
        return j;
}

static json_t *string_json(ctx_t *c, const char *s) {
        json_t *j = json_string(s);
        if (!j)
                oom(c);
        return j;
}

/* RFC 3339 UTC of ms since the epoch, or null for INT64_MIN (nothing). */
static json_t *time_json(ctx_t *c, int64_t ms) {
        char buf[TECG_TIME_RFC3339_SIZE];
        if (ms == INT64_MIN)
                return json_null();
        return string_json(c, tecg_time_format_rfc3339(ms, 0, buf));
}

/* n / d rounded half away from zero to 4 decimals as a JSON number; null
 * when d <= 0 (no reference to measure against). */
static json_t *ratio_json(ctx_t *c, int64_t n, int64_t d) {
        if (d <= 0)
                return json_null();
        __int128 num = (__int128)n * 10000, q = num / d, r = num % d;
        if (r < 0)
                r = -r;
        if (r >= d - r)
                q += num < 0 ? -1 : 1;
        json_t *j = json_real((double)q / 10000.0);
        if (!j)
                oom(c);
        return j;
}

/* ------------------------------------------------------------------ */
/* Rows: the nations list merged with the states                       */
/* ------------------------------------------------------------------ */

typedef struct {
        char code[4];
        const tecg_nation_t *nation;   /* NULL: not in the list */
        const tecg_nation_state_t *st; /* NULL: no state */
} row_t;

typedef struct {
        row_t *v;
        size_t n;
        int64_t as_of_ms; /* INT64_MIN: no state has one */
} rows_t;

static int row_cmp(const void *a, const void *b) {
        const row_t *x = a, *y = b;
        int c = strcmp(x->code, y->code);
        if (c)
                return c;
        /* The list's entry before the state(s) of the same code. */
        return (x->nation == NULL) - (y->nation == NULL);
}

static bool code_ok(const char *s) {
        for (int i = 0; i < 3; i++)
                if (s[i] < 'A' || s[i] > 'Z')
                        return false;
        return s[3] == '\0';
}

/* Fills *rows, sorted by code, one per nation of the list and per state of
 * a nation not in it. Records an error in c on failure. */
static void rows_build(ctx_t *c, const tecg_nations_t *nations,
                       const tecg_nation_state_t *const *states, size_t nstates, rows_t *rows) {
        size_t nlist = tecg_nations_count(nations), n = 0, i, out;

        memset(rows, 0, sizeof(*rows));
        rows->as_of_ms = INT64_MIN;
        rows->v = calloc(nlist + nstates + 1, sizeof(*rows->v));
        if (!rows->v) {
                oom(c);
                return;
        }
        for (i = 0; i < nlist; i++) {
                const tecg_nation_t *na = tecg_nations_at(nations, i);
                memcpy(rows->v[n].code, na->code, 4);
                rows->v[n++].nation = na;
        }
        for (i = 0; i < nstates; i++) {
                const tecg_nation_state_t *st = states[i];
                if (!st)
                        continue;
                if (!code_ok(st->nation)) {
                        fail(c, TECG_ERR_INVALID,
                             "state %zu: nation code is not 3 upper-case letters", i);
                        return;
                }
                memcpy(rows->v[n].code, st->nation, 4);
                rows->v[n++].st = st;
                if (st->as_of_ms != INT64_MIN && st->as_of_ms > rows->as_of_ms)
                        rows->as_of_ms = st->as_of_ms;
        }
        qsort(rows->v, n, sizeof(*rows->v), row_cmp);

        /* Merge a list entry with the state that follows it. */
        for (i = 0, out = 0; i < n; i++) {
                row_t *r = &rows->v[i];
                if (out > 0 && !strcmp(rows->v[out - 1].code, r->code)) {
                        row_t *prev = &rows->v[out - 1];
                        if (prev->st) {
                                fail(c, TECG_ERR_INVALID, "two states for nation %s", r->code);
                                return;
                        }
                        prev->st = r->st;
                        continue;
                }
                rows->v[out++] = *r;
        }
        rows->n = out;
}

static void rows_free(rows_t *rows) {
        free(rows->v);
        rows->v = NULL;
        rows->n = 0;
}

/* "nation", "name", "status" of a row. */
static void put_identity(ctx_t *c, json_t *o, const row_t *r) {
        put(c, o, "nation", string_json(c, r->code));
        put(c, o, "name", r->nation ? string_json(c, r->nation->name) : json_null());
        put(c, o, "status",
            string_json(c, r->nation ? tecg_nation_status_names[r->nation->status] : "unlisted"));
}

/* Starts a document: {"dashboard": NAME, "as_of": ...}. */
static json_t *doc_new(ctx_t *c, tecg_dashboard_t which, const rows_t *rows) {
        json_t *doc = new_object(c);
        put(c, doc, "dashboard", string_json(c, tecg_dashboard_names[which]));
        put(c, doc, "as_of", time_json(c, rows->as_of_ms));
        return doc;
}

/* Common argument checks of the public functions. */
static void check_args(ctx_t *c, const tecg_mission_t *m, const tecg_nation_state_t *const *states,
                       size_t nstates) {
        if (!m)
                fail(c, TECG_ERR_INVALID, "no mission profile");
        else if (nstates > 0 && !states)
                fail(c, TECG_ERR_INVALID, "no states array");
}

/* Returns doc, or drops it and returns NULL when c holds an error. */
static json_t *doc_finish(ctx_t *c, json_t *doc) {
        if (c->err == TECG_OK && !doc)
                oom(c);
        if (c->err != TECG_OK) {
                json_decref(doc);
                return NULL;
        }
        return doc;
}

/* ------------------------------------------------------------------ */
/* Row cache and text (tecg_compose_text())                            */
/* ------------------------------------------------------------------ */

/* A training row: one per year the nation trained. */
typedef struct {
        int32_t year;
        piece_t text;
} year_piece_t;

/* Reporting statuses of a row: [0] the nation's over the document's
 * types, [1 + type] each type's (zero for types not in the document). */
#define ROW_STATUSES (1 + TECG_EV__COUNTED)

/* One nation in one document: its identity, and its cached rows with what
 * each was made from. */
struct slot {
        char code[4];
        bool listed;
        char *name; /* the list's name; NULL when unlisted */
        tecg_nation_status_t status;

        /* "nations" rows, made from the state of `serial` at `version`
         * (0, 0: no state) */
        bool rows_valid;
        uint64_t serial, version;
        piece_t row;         /* funding, staffing */
        year_piece_t *years; /* training, ascending years */
        size_t nyears, years_cap, year_cursor;

        /* the "reporting" row, made from `statuses` */
        bool reporting_valid;
        tecg_report_status_t statuses[ROW_STATUSES];
        piece_t reporting;
};

struct tecg_compose_cache {
        const tecg_mission_t *mission;   /* the first given; NULL until then */
        slot_t *slots[TECG_DASH__COUNT]; /* by code, as the last composition's rows */
        size_t nslots[TECG_DASH__COUNT];
        size_t last_len[TECG_DASH__COUNT]; /* room to reserve for the next text */
        tecg_compose_cache_stats_t stats;
};

static void piece_free(piece_t *p) {
        free(p->text);
        p->text = NULL;
        p->len = 0;
}

/* Before a slot's rows are built again: a composition that fails half-way
 * must not leave them marked current. */
static void slot_forget_rows(slot_t *s) {
        if (!s)
                return;
        piece_free(&s->row);
        for (size_t i = 0; i < s->nyears; i++)
                piece_free(&s->years[i].text);
        s->nyears = 0;
        s->rows_valid = false;
}

static void slot_free(slot_t *s) {
        slot_forget_rows(s);
        free(s->years);
        piece_free(&s->reporting);
        free(s->name);
        memset(s, 0, sizeof(*s));
}

tecg_compose_cache_t *tecg_compose_cache_new(void) {
        return calloc(1, sizeof(tecg_compose_cache_t));
}

void tecg_compose_cache_destroy(tecg_compose_cache_t *cache) {
        if (!cache)
                return;
        for (int w = 0; w < TECG_DASH__COUNT; w++) {
                for (size_t i = 0; i < cache->nslots[w]; i++)
                        slot_free(&cache->slots[w][i]);
                free(cache->slots[w]);
        }
        free(cache);
}

tecg_compose_cache_stats_t tecg_compose_cache_stats(const tecg_compose_cache_t *cache) {
        tecg_compose_cache_stats_t none = {0, 0};
        return cache ? cache->stats : none;
}

/* Makes the slot's identity the row's; a new identity drops its rows. */
static void slot_identify(ctx_t *c, slot_t *s, const row_t *r) {
        const char *name = r->nation ? r->nation->name : NULL;
        bool same =
                s->listed == (r->nation != NULL) && !strcmp(s->code, r->code) &&
                (!name || (s->name && !strcmp(s->name, name) && s->status == r->nation->status));
        if (same)
                return;
        slot_free(s);
        memcpy(s->code, r->code, 4);
        s->listed = r->nation != NULL;
        if (r->nation) {
                s->status = r->nation->status;
                if (!(s->name = strdup(name)))
                        oom(c);
        }
}

/* Lines the document's slots up with `rows` (both by code): a nation's
 * slot carries over, a new nation gets an empty one, a nation gone is
 * dropped. */
static void align_slots(ctx_t *c, tecg_dashboard_t which, const rows_t *rows) {
        tecg_compose_cache_t *cache = c->cache;
        slot_t *old = cache->slots[which];
        size_t nold = cache->nslots[which], j = 0;
        slot_t *next = calloc(rows->n + 1, sizeof(*next));

        if (!next) {
                oom(c);
                return;
        }
        for (size_t i = 0; i < rows->n; i++) {
                const row_t *r = &rows->v[i];
                for (; j < nold && strcmp(old[j].code, r->code) < 0; j++)
                        slot_free(&old[j]);
                if (j < nold && !strcmp(old[j].code, r->code))
                        next[i] = old[j++];
                slot_identify(c, &next[i], r);
        }
        for (; j < nold; j++)
                slot_free(&old[j]);
        free(old);
        cache->slots[which] = next;
        cache->nslots[which] = rows->n;
        c->slots = next;
}

/* The rows of a document, and when composing text its slots lined up. */
static void rows_prepare(ctx_t *c, tecg_dashboard_t which, const tecg_nations_t *nations,
                         const tecg_nation_state_t *const *states, size_t nstates, rows_t *rows) {
        rows_build(c, nations, states, nstates, rows);
        if (c->cache && c->err == TECG_OK)
                align_slots(c, which, rows);
}

/* Row i's slot; NULL when composing a tree. */
static slot_t *slot_at(ctx_t *c, size_t i) {
        return c->slots ? &c->slots[i] : NULL;
}

/* True when s holds the "nations" rows of r's state as given now: the
 * same state object (its serial: an address can be reused) at the same
 * version. */
static bool rows_current(const slot_t *s, const row_t *r) {
        return s && s->rows_valid && s->serial == (r->st ? r->st->serial : 0) &&
               s->version == (r->st ? r->st->version : 0);
}

static void rows_made_from(slot_t *s, const row_t *r) {
        s->rows_valid = true;
        s->serial = r->st ? r->st->serial : 0;
        s->version = r->st ? r->st->version : 0;
}

static list_out_t *list_open(ctx_t *c) {
        if (c->nlists == LISTS_MAX) {
                fail(c, TECG_ERR_INVALID, "more per-nation lists than a document has");
                return NULL;
        }
        list_out_t *l = &c->lists[c->nlists++];
        l->arr = new_array(c);
        return l;
}

/* Puts the list in its place in the document: obj[key]. */
static void list_place(ctx_t *c, json_t *obj, const char *key, list_out_t *l) {
        if (!l)
                return;
        l->placed = true;
        put(c, obj, key, l->arr);
}

static void list_add_piece(ctx_t *c, list_out_t *l, const piece_t *p) {
        if (!l)
                return;
        piece_t *v = reserve(c, l->v, &l->cap, l->n + 1, sizeof(*v));
        if (!v)
                return;
        l->v = v;
        l->v[l->n++] = *p;
}

/* Adds a freshly built row to the list: as it is when composing a tree;
 * as text, kept in *keep (the slot's), when composing text. Takes row. */
static void list_add_row(ctx_t *c, list_out_t *l, piece_t *keep, json_t *row) {
        if (!c->cache) {
                if (l)
                        push(c, l->arr, row);
                else
                        json_decref(row);
                return;
        }
        if (!keep) { /* no slot to keep it in: an error is recorded */
                json_decref(row);
                return;
        }
        piece_free(keep);
        if (c->err == TECG_OK && row) {
                keep->text = json_dumps(row, TECG_COMPOSE_DUMP_FLAGS);
                if (!keep->text)
                        oom(c);
                else
                        keep->len = strlen(keep->text);
        }
        json_decref(row);
        if (c->err == TECG_OK) {
                c->cache->stats.rows_built++;
                list_add_piece(c, l, keep);
        }
}

/* Adds a row kept from an earlier composition. */
static void list_reuse(ctx_t *c, list_out_t *l, const piece_t *p) {
        c->cache->stats.rows_reused++;
        list_add_piece(c, l, p);
}

/* Frees what the lists hold: the pieces' vectors and arrays never placed. */
static void lists_free(ctx_t *c) {
        for (int i = 0; i < c->nlists; i++) {
                if (!c->lists[i].placed)
                        json_decref(c->lists[i].arr);
                free(c->lists[i].v);
        }
        c->nlists = 0;
}

static const list_out_t *list_of(const ctx_t *c, const json_t *v) {
        for (int i = 0; i < c->nlists; i++)
                if (c->lists[i].arr == v)
                        return &c->lists[i];
        return NULL;
}

static bool holds_list(const ctx_t *c, json_t *obj) {
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v) {
                if (list_of(c, v))
                        return true;
        }
        return false;
}

static int buf_cb(const char *p, size_t n, void *data) {
        return tecg_buf_append(data, p, n) == TECG_OK ? 0 : -1;
}

/* Appends n bytes to b unless an error is recorded; records running out. */
static void emit(ctx_t *c, tecg_buf_t *b, const char *p, size_t n) {
        if (c->err == TECG_OK && tecg_buf_append(b, p, n) != TECG_OK)
                oom(c);
}

/* Writes obj as json_dumps() would, each list's texts in place of its
 * array. Keys written here are compose.c's own (lower case and '_'), so
 * they need no escaping; anything else fails. */
static void emit_object(ctx_t *c, tecg_buf_t *b, json_t *obj) {
        const char *k;
        json_t *v;
        bool first = true;
        emit(c, b, "{", 1);
        json_object_foreach(obj, k, v) {
                if (c->err != TECG_OK)
                        return;
                if (strspn(k, "abcdefghijklmnopqrstuvwxyz_") != strlen(k)) {
                        fail(c, TECG_ERR_INVALID, "document key '%s' needs escaping", k);
                        return;
                }
                if (!first)
                        emit(c, b, ",", 1);
                first = false;
                emit(c, b, "\"", 1);
                emit(c, b, k, strlen(k));
                emit(c, b, "\":", 2);
                const list_out_t *l = list_of(c, v);
                if (l) {
                        emit(c, b, "[", 1);
                        for (size_t i = 0; i < l->n; i++) {
                                if (i)
                                        emit(c, b, ",", 1);
                                emit(c, b, l->v[i].text, l->v[i].len);
                        }
                        emit(c, b, "]", 1);
                } else if (json_is_object(v) && holds_list(c, v)) {
                        emit_object(c, b, v);
                } else if (c->err == TECG_OK &&
                           json_dump_callback(v, buf_cb, b,
                                              TECG_COMPOSE_DUMP_FLAGS | JSON_ENCODE_ANY)) {
                        oom(c);
                }
        }
        emit(c, b, "}", 1);
}

/* ------------------------------------------------------------------ */
/* Reporting: last report and overdue (docs/design.md §5.8)            */
/* ------------------------------------------------------------------ */

#define DAY_MS INT64_C(86400000)

/* Keys of the per-type map, the contract's style for enum-keyed maps. */
static const char *const type_keys[TECG_EV__COUNTED] = {"FUNDING", "EQUIPMENT", "PERSONNEL",
                                                        "TRAINING"};

static bool has_data(const tecg_nation_state_t *st, int type) {
        switch (type) {
        case TECG_EV_FUNDING:
                return st->nfunding > 0;
        case TECG_EV_EQUIPMENT:
                if (st->nequipment_values > 0)
                        return true;
                for (int cat = 0; cat < TECG_CAT__COUNT; cat++)
                        for (int es = 0; es < TECG_ES__COUNT; es++)
                                if (st->equipment_quantity[cat][es] != 0)
                                        return true;
                return false;
        case TECG_EV_TRAINING:
                return st->ntraining > 0;
        default:
                return false;
        }
}

int64_t tecg_compose_last_report(const tecg_nation_state_t *st, int type) {
        int64_t last = INT64_MIN;

        if (!st)
                return INT64_MIN;
        if (type < 0) {
                for (int t = 0; t < TECG_EV__COUNTED; t++) {
                        int64_t x = tecg_compose_last_report(st, t);
                        if (x > last)
                                last = x;
                }
                /* Events whose type left nothing to see still reported. */
                return last != INT64_MIN ? last : st->as_of_ms;
        }
        if (type >= TECG_EV__COUNTED)
                return INT64_MIN;
        if (st->last_report_ms[type] != INT64_MIN)
                return st->last_report_ms[type];
        /* A state written before per-type times (v1): personnel reports
         * carry their own; for the others the nation's as_of is the best
         * bound there is (it may make a nation look more recent than it
         * is, never older), until its next event of that type. */
        if (type == TECG_EV_PERSONNEL) {
                for (int r = 0; r < TECG_ROLE__COUNT; r++)
                        for (int l = 0; l < TECG_LOC__COUNT; l++)
                                if (st->personnel[r][l].reported &&
                                    st->personnel[r][l].occurred_at_ms > last)
                                        last = st->personnel[r][l].occurred_at_ms;
                return last;
        }
        return has_data(st, type) ? st->as_of_ms : INT64_MIN;
}

void tecg_compose_report_times(const tecg_nation_state_t *st, int64_t times[TECG_REPORT_TIMES]) {
        for (int t = 0; t < TECG_EV__COUNTED; t++)
                times[t] = tecg_compose_last_report(st, t);
        times[TECG_REPORT_ANY] = tecg_compose_last_report(st, -1);
}

void tecg_compose_type_status(const tecg_mission_t *m, const int64_t times[TECG_REPORT_TIMES],
                              bool listed, int type, int64_t now_ms, tecg_report_status_t *out) {
        int64_t limit = m->report_overdue_days * DAY_MS, age;

        out->last_ms = type >= 0 && type < TECG_EV__COUNTED ? times[type] : INT64_MIN;
        out->overdue = false;
        out->overdue_for_days = -1;
        /* Never reported this type: the nation may simply not contribute
         * it, which is no lateness. */
        if (!listed || out->last_ms == INT64_MIN)
                return;
        if (__builtin_sub_overflow(now_ms, out->last_ms, &age) || age <= limit)
                return;
        out->overdue = true;
        out->overdue_for_days = (age - limit) / DAY_MS;
}

void tecg_compose_nation_status(const tecg_mission_t *m, const int64_t times[TECG_REPORT_TIMES],
                                bool listed, unsigned types, int64_t now_ms,
                                tecg_report_status_t *out) {
        tecg_report_status_t t;

        out->last_ms = INT64_MIN;
        out->overdue = false;
        out->overdue_for_days = -1;
        for (int k = 0; k < TECG_EV__COUNTED; k++) {
                if (!(types & (1u << k)))
                        continue;
                tecg_compose_type_status(m, times, listed, k, now_ms, &t);
                if (t.last_ms > out->last_ms)
                        out->last_ms = t.last_ms;
                if (t.overdue)
                        out->overdue = true;
                if (t.overdue_for_days > out->overdue_for_days)
                        out->overdue_for_days = t.overdue_for_days;
        }
        /* Never reported anything at all: overdue, since a day nobody
         * knows (the dashboard has no start date of the duty to report). */
        if (listed && times[TECG_REPORT_ANY] == INT64_MIN)
                out->overdue = true;
}

/* {"last_report": ..., "overdue": ..., "overdue_for_days": ...} into o. */
static void put_status(ctx_t *c, json_t *o, const tecg_report_status_t *s) {
        put(c, o, "last_report", time_json(c, s->last_ms));
        put(c, o, "overdue", json_boolean(s->overdue));
        put(c, o, "overdue_for_days",
            s->overdue_for_days >= 0 ? int_json(c, s->overdue_for_days) : json_null());
}

static bool statuses_equal(const tecg_report_status_t *a, const tecg_report_status_t *b) {
        for (int i = 0; i < ROW_STATUSES; i++)
                if (a[i].last_ms != b[i].last_ms || a[i].overdue != b[i].overdue ||
                    a[i].overdue_for_days != b[i].overdue_for_days)
                        return false;
        return true;
}

/* The "reporting" block of a document about the event types `types`:
 *   {"overdue_days": 35, "overdue": ["BEL"],
 *    "nations": [{IDENTITY, STATUS, "types": {"FUNDING": STATUS, ...}}]}
 * Only the document's own types, so a report of another kind changes
 * this document no more than it did before (but for a nation's very first
 * report, which ends "never reported" everywhere). A row is rebuilt when
 * its statuses at now_ms differ from the cached row's. */
static void put_reporting(ctx_t *c, const tecg_mission_t *m, json_t *doc, const rows_t *rows,
                          unsigned types, int64_t now_ms) {
        json_t *o = new_object(c), *overdue = new_array(c);
        list_out_t *nations = list_open(c);
        int64_t times[TECG_REPORT_TIMES];

        for (size_t i = 0; i < rows->n && !c->err; i++) {
                const row_t *r = &rows->v[i];
                slot_t *sl = slot_at(c, i);
                tecg_report_status_t st[ROW_STATUSES];

                memset(st, 0, sizeof(st));
                tecg_compose_report_times(r->st, times);
                tecg_compose_nation_status(m, times, r->nation != NULL, types, now_ms, &st[0]);
                for (int t = 0; t < TECG_EV__COUNTED; t++)
                        if (types & (1u << t))
                                tecg_compose_type_status(m, times, r->nation != NULL, t, now_ms,
                                                         &st[1 + t]);
                if (st[0].overdue)
                        push(c, overdue, string_json(c, r->code));
                if (sl && sl->reporting_valid && statuses_equal(sl->statuses, st)) {
                        list_reuse(c, nations, &sl->reporting);
                        continue;
                }

                json_t *row = new_object(c), *tj = new_object(c);
                if (sl)
                        sl->reporting_valid = false;
                put_identity(c, row, r);
                put_status(c, row, &st[0]);
                for (int t = 0; t < TECG_EV__COUNTED; t++) {
                        if (!(types & (1u << t)))
                                continue;
                        json_t *x = new_object(c);
                        put_status(c, x, &st[1 + t]);
                        put(c, tj, type_keys[t], x);
                }
                put(c, row, "types", tj);
                list_add_row(c, nations, sl ? &sl->reporting : NULL, row);
                if (sl) {
                        memcpy(sl->statuses, st, sizeof(st));
                        sl->reporting_valid = c->err == TECG_OK;
                }
        }
        put(c, o, "overdue_days", int_json(c, m->report_overdue_days));
        put(c, o, "overdue", overdue);
        list_place(c, o, "nations", nations);
        put(c, doc, "reporting", o);
}

/* ------------------------------------------------------------------ */
/* Corrections and dead letters (docs/design.md §2.9, §5.2)            */
/* ------------------------------------------------------------------ */

#define RECENT_CORRECTIONS_MAX 20 /* "recent_corrections" of a document */

static const char *const correction_kind_keys[TECG_CORR__COUNT] = {"supersede", "retract"};

/* "corrections": {"supersessions": n, "retractions": n} of a row. */
static void put_corrections(ctx_t *c, json_t *o, const tecg_nation_state_t *st) {
        json_t *x = new_object(c);
        put(c, x, "supersessions", int_json(c, st ? (int64_t)st->supersessions : 0));
        put(c, x, "retractions", int_json(c, st ? (int64_t)st->retractions : 0));
        put(c, o, "corrections", x);
}

/* "dead_letters": {"count": n, "recent": [{"at", "stage", "reason"}]}. */
static void put_dead_letters(ctx_t *c, json_t *o, const tecg_nation_state_t *st) {
        json_t *x = new_object(c), *recent = new_array(c);
        for (size_t i = 0; st && i < st->nrecent_dead_letters; i++) {
                const tecg_dead_letter_note_t *d = &st->recent_dead_letters[i];
                json_t *e = new_object(c);
                put(c, e, "at", time_json(c, d->at_ms));
                put(c, e, "stage", string_json(c, d->stage));
                put(c, e, "reason", string_json(c, d->reason));
                push(c, recent, e);
        }
        put(c, x, "count", int_json(c, st ? (int64_t)st->dead_letters : 0));
        put(c, x, "recent", recent);
        put(c, o, "dead_letters", x);
}

typedef struct {
        const char *nation;
        const tecg_correction_t *c;
} corr_ref_t;

/* Latest first, as each nation keeps its own; across nations the nation
 * code breaks a tie, so the list depends on the states only. */
static int corr_ref_cmp(const void *a, const void *b) {
        const corr_ref_t *x = a, *y = b;
        int k;
        if (x->c->occurred_at_ms != y->c->occurred_at_ms)
                return x->c->occurred_at_ms > y->c->occurred_at_ms ? -1 : 1;
        if ((k = strcmp(x->nation, y->nation)) != 0)
                return k;
        return -strcmp(x->c->event_id, y->c->event_id);
}

/* "recent_corrections": the latest RECENT_CORRECTIONS_MAX corrections of
 * the types of `types` over all rows. Each nation keeps its latest 10, so
 * the 20 latest of all are among them. */
static void put_recent_corrections(ctx_t *c, json_t *doc, const rows_t *rows, unsigned types) {
        json_t *list = new_array(c);
        corr_ref_t *refs;
        size_t n = 0, cap = 0;

        for (size_t i = 0; i < rows->n; i++)
                if (rows->v[i].st)
                        cap += rows->v[i].st->nrecent_corrections;
        refs = cap ? calloc(cap, sizeof(*refs)) : NULL;
        if (cap && !refs) {
                oom(c);
                json_decref(list);
                return;
        }
        for (size_t i = 0; i < rows->n; i++) {
                const tecg_nation_state_t *st = rows->v[i].st;
                for (size_t j = 0; st && j < st->nrecent_corrections; j++) {
                        const tecg_correction_t *x = &st->recent_corrections[j];
                        if ((unsigned)x->type < TECG_EV__COUNTED && (types & (1u << x->type)) &&
                            (unsigned)x->kind < TECG_CORR__COUNT && n < cap)
                                refs[n++] = (corr_ref_t){rows->v[i].code, x};
                }
        }
        if (n)
                qsort(refs, n, sizeof(*refs), corr_ref_cmp);
        for (size_t i = 0; i < n && i < RECENT_CORRECTIONS_MAX && !c->err; i++) {
                const tecg_correction_t *x = refs[i].c;
                json_t *e = new_object(c);
                put(c, e, "nation", string_json(c, refs[i].nation));
                put(c, e, "event_id", string_json(c, x->event_id));
                put(c, e, "target_id", string_json(c, x->target_id));
                put(c, e, "kind", string_json(c, correction_kind_keys[x->kind]));
                put(c, e, "type", string_json(c, tecg_event_type_names[x->type]));
                put(c, e, "occurred_at", time_json(c, x->occurred_at_ms));
                put(c, e, "before", string_json(c, x->before));
                put(c, e, "after", string_json(c, x->after));
                put(c, e, "reason", x->reason ? string_json(c, x->reason) : json_null());
                push(c, list, e);
        }
        free(refs);
        put(c, doc, "recent_corrections", list);
}

/* ------------------------------------------------------------------ */
/* Money per currency                                                  */
/* ------------------------------------------------------------------ */

typedef struct {
        char cur[4];
        int64_t minor;
} camount_t;

/* Amounts per currency, sorted by currency code. */
typedef struct {
        camount_t *v;
        size_t n, cap;
} money_t;

/* Adds minor units of a currency already known to be valid. */
static void money_put(ctx_t *c, money_t *mo, const char *cur, int64_t minor) {
        size_t lo = 0, hi = mo->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int k = strcmp(cur, mo->v[mid].cur);
                if (k == 0) {
                        add_to(c, &mo->v[mid].minor, minor, cur);
                        return;
                }
                if (k < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        camount_t *v = reserve(c, mo->v, &mo->cap, mo->n + 1, sizeof(*v));
        if (!v)
                return;
        mo->v = v;
        memmove(&mo->v[lo + 1], &mo->v[lo], (mo->n - lo) * sizeof(*mo->v));
        memcpy(mo->v[lo].cur, cur, 4);
        mo->v[lo].minor = minor;
        mo->n++;
}

/* Adds minor units of a currency from a state, refusing one that is not
 * ISO 4217. */
static void money_add(ctx_t *c, money_t *mo, const char *cur, int64_t minor) {
        if (strnlen(cur, 4) != 3 || tecg_currency_minor_digits(cur) < 0) {
                fail(c, TECG_ERR_INVALID, "unknown currency '%.3s' in a state", cur);
                return;
        }
        money_put(c, mo, cur, minor);
}

/* Adds src to dst; src's currencies passed money_add() (a merge of every
 * nation's sums checks no currency twice). */
static void money_merge(ctx_t *c, money_t *dst, const money_t *src) {
        for (size_t i = 0; i < src->n; i++)
                money_put(c, dst, src->v[i].cur, src->v[i].minor);
}

static void money_free(money_t *mo) {
        free(mo->v);
        memset(mo, 0, sizeof(*mo));
}

/* A MONEY block: by_currency, converted, missing_rates. */
static json_t *money_json(ctx_t *c, const tecg_mission_t *m, const money_t *mo) {
        json_t *o = new_object(c), *by = new_object(c), *missing = new_array(c);
        int rep_digits = tecg_currency_minor_digits(m->reporting_currency);
        int64_t converted = 0, x, rate;
        char buf[TECG_MONEY_STR_SIZE];

        for (size_t i = 0; i < mo->n; i++) {
                const camount_t *a = &mo->v[i];
                int digits = tecg_currency_minor_digits(a->cur);
                put(c, by, a->cur,
                    string_json(c, tecg_money_format(a->minor, digits, buf, sizeof(buf))));
                if (!tecg_mission_rate(m, a->cur, &rate)) {
                        push(c, missing, string_json(c, a->cur));
                        continue;
                }
                if (tecg_money_convert(a->minor, digits, rate, rep_digits, &x) != TECG_OK) {
                        fail(c, TECG_ERR_LIMIT, "converting %s %s to %s overflows",
                             tecg_money_format(a->minor, digits, buf, sizeof(buf)), a->cur,
                             m->reporting_currency);
                        continue;
                }
                add_to(c, &converted, x, "converted amount");
        }
        put(c, o, "by_currency", by);
        put(c, o, "converted",
            string_json(c, tecg_money_format(converted, rep_digits, buf, sizeof(buf))));
        put(c, o, "missing_rates", missing);
        return o;
}

/* ------------------------------------------------------------------ */
/* Funding                                                             */
/* ------------------------------------------------------------------ */

/* What a FUNDS block shows, for one nation or the total. */
typedef struct {
        money_t stage[TECG_FS__COUNT];
        money_t channel[TECG_CH__COUNT][TECG_FS__COUNT];
        int64_t qty_stage[TECG_ES__COUNT];
        money_t val_stage[TECG_ES__COUNT];
        int64_t qty_cat[TECG_CAT__COUNT][TECG_ES__COUNT];
        money_t val_cat[TECG_CAT__COUNT][TECG_ES__COUNT];
} funds_t;

static void funds_free(funds_t *f) {
        for (int s = 0; s < TECG_FS__COUNT; s++) {
                money_free(&f->stage[s]);
                for (int ch = 0; ch < TECG_CH__COUNT; ch++)
                        money_free(&f->channel[ch][s]);
        }
        for (int es = 0; es < TECG_ES__COUNT; es++) {
                money_free(&f->val_stage[es]);
                for (int cat = 0; cat < TECG_CAT__COUNT; cat++)
                        money_free(&f->val_cat[cat][es]);
        }
}

static bool funds_reported(const tecg_nation_state_t *st) {
        if (!st)
                return false;
        if (st->nfunding > 0 || st->nequipment_values > 0)
                return true;
        for (int cat = 0; cat < TECG_CAT__COUNT; cat++)
                for (int es = 0; es < TECG_ES__COUNT; es++)
                        if (st->equipment_quantity[cat][es] != 0)
                                return true;
        return false;
}

static void funds_from_state(ctx_t *c, funds_t *f, const tecg_nation_state_t *st) {
        for (size_t i = 0; i < st->nfunding; i++) {
                const tecg_funding_total_t *t = &st->funding[i];
                if ((unsigned)t->channel >= TECG_CH__COUNT ||
                    (unsigned)t->stage >= TECG_FS__COUNT) {
                        fail(c, TECG_ERR_INVALID, "state %s: funding entry %zu out of range",
                             st->nation, i);
                        return;
                }
                money_add(c, &f->stage[t->stage], t->currency, t->amount_minor);
                money_add(c, &f->channel[t->channel][t->stage], t->currency, t->amount_minor);
        }
        for (int cat = 0; cat < TECG_CAT__COUNT; cat++)
                for (int es = 0; es < TECG_ES__COUNT; es++) {
                        int64_t q = st->equipment_quantity[cat][es];
                        add_to(c, &f->qty_cat[cat][es], q, "equipment quantity");
                        add_to(c, &f->qty_stage[es], q, "equipment quantity");
                }
        for (size_t i = 0; i < st->nequipment_values; i++) {
                const tecg_equipment_value_t *v = &st->equipment_values[i];
                if ((unsigned)v->category >= TECG_CAT__COUNT ||
                    (unsigned)v->stage >= TECG_ES__COUNT) {
                        fail(c, TECG_ERR_INVALID, "state %s: equipment value %zu out of range",
                             st->nation, i);
                        return;
                }
                money_add(c, &f->val_cat[v->category][v->stage], v->currency, v->value_minor);
                money_add(c, &f->val_stage[v->stage], v->currency, v->value_minor);
        }
}

static void funds_merge(ctx_t *c, funds_t *dst, const funds_t *src) {
        for (int s = 0; s < TECG_FS__COUNT; s++) {
                money_merge(c, &dst->stage[s], &src->stage[s]);
                for (int ch = 0; ch < TECG_CH__COUNT; ch++)
                        money_merge(c, &dst->channel[ch][s], &src->channel[ch][s]);
        }
        for (int es = 0; es < TECG_ES__COUNT; es++) {
                add_to(c, &dst->qty_stage[es], src->qty_stage[es], "equipment quantity");
                money_merge(c, &dst->val_stage[es], &src->val_stage[es]);
                for (int cat = 0; cat < TECG_CAT__COUNT; cat++) {
                        add_to(c, &dst->qty_cat[cat][es], src->qty_cat[cat][es],
                               "equipment quantity");
                        money_merge(c, &dst->val_cat[cat][es], &src->val_cat[cat][es]);
                }
        }
}

static json_t *equipment_stage_json(ctx_t *c, const tecg_mission_t *m, int64_t qty,
                                    const money_t *value) {
        json_t *o = new_object(c);
        put(c, o, "quantity", int_json(c, qty));
        put(c, o, "value", money_json(c, m, value));
        return o;
}

/* Puts the FUNDS keys (pledged, disbursed, channels, equipment) into o. */
static void put_funds(ctx_t *c, const tecg_mission_t *m, json_t *o, const funds_t *f) {
        json_t *channels = new_object(c), *equipment = new_object(c);
        json_t *stages = new_object(c), *categories = new_object(c);

        for (int s = 0; s < TECG_FS__COUNT; s++)
                put(c, o, fs_keys[s], money_json(c, m, &f->stage[s]));
        for (int ch = 0; ch < TECG_CH__COUNT; ch++) {
                json_t *x = new_object(c);
                for (int s = 0; s < TECG_FS__COUNT; s++)
                        put(c, x, fs_keys[s], money_json(c, m, &f->channel[ch][s]));
                put(c, channels, tecg_channel_names[ch], x);
        }
        put(c, o, "channels", channels);

        for (int es = 0; es < TECG_ES__COUNT; es++)
                put(c, stages, tecg_equipment_stage_names[es],
                    equipment_stage_json(c, m, f->qty_stage[es], &f->val_stage[es]));
        for (int cat = 0; cat < TECG_CAT__COUNT; cat++) {
                json_t *x = new_object(c);
                for (int es = 0; es < TECG_ES__COUNT; es++)
                        put(c, x, tecg_equipment_stage_names[es],
                            equipment_stage_json(c, m, f->qty_cat[cat][es], &f->val_cat[cat][es]));
                put(c, categories, tecg_category_names[cat], x);
        }
        put(c, equipment, "stages", stages);
        put(c, equipment, "categories", categories);
        put(c, o, "equipment", equipment);
}

/* "rates" (used) and "missing_rates" (present without a rate) of the whole
 * document, from the total's per-currency amounts. */
static void put_rates(ctx_t *c, const tecg_mission_t *m, json_t *doc, const funds_t *total) {
        money_t present = {0};
        json_t *rates = new_object(c), *missing = new_array(c);
        char buf[TECG_MONEY_STR_SIZE];
        int64_t rate;

        /* Channels and categories are breakdowns of these: nothing more. */
        for (int s = 0; s < TECG_FS__COUNT; s++)
                for (size_t i = 0; i < total->stage[s].n; i++)
                        money_put(c, &present, total->stage[s].v[i].cur, 0);
        for (int es = 0; es < TECG_ES__COUNT; es++)
                for (size_t i = 0; i < total->val_stage[es].n; i++)
                        money_put(c, &present, total->val_stage[es].v[i].cur, 0);

        for (size_t i = 0; i < present.n; i++) {
                const char *cur = present.v[i].cur;
                if (!strcmp(cur, m->reporting_currency))
                        continue;
                if (tecg_mission_rate(m, cur, &rate))
                        put(c, rates, cur,
                            string_json(c, tecg_money_format_rate(rate, buf, sizeof(buf))));
                else
                        push(c, missing, string_json(c, cur));
        }
        put(c, doc, "rates", rates);
        put(c, doc, "missing_rates", missing);
        money_free(&present);
}

/* One anomaly of a nation: {"nation", "flag", WHERE...}. */
static json_t *anomaly_json(ctx_t *c, const row_t *r, const char *flag) {
        json_t *o = new_object(c);
        put(c, o, "nation", string_json(c, r->code));
        put(c, o, "flag", string_json(c, flag));
        return o;
}

/* The anomalies of one nation's funds (docs/design.md §5.8): appended in
 * full to `all`, returned as the row's list of distinct flags. Shown, not
 * corrected: the figures stay what the nation reported. */
static json_t *anomalies_of(ctx_t *c, const row_t *r, const funds_t *f, json_t *all) {
        json_t *flags = new_array(c), *a;
        bool any = false;

        for (int ch = 0; ch < TECG_CH__COUNT; ch++) {
                if (f->channel[ch][TECG_FS_DISBURSED].n == 0 ||
                    f->channel[ch][TECG_FS_PLEDGED].n > 0)
                        continue;
                a = anomaly_json(c, r, "DISBURSED_WITHOUT_PLEDGE");
                put(c, a, "channel", string_json(c, tecg_channel_names[ch]));
                push(c, all, a);
                any = true;
        }
        if (any)
                push(c, flags, string_json(c, "DISBURSED_WITHOUT_PLEDGE"));
        any = false;
        for (int cat = 0; cat < TECG_CAT__COUNT; cat++) {
                int64_t offered = f->qty_cat[cat][TECG_ES_OFFERED];
                int64_t accepted = f->qty_cat[cat][TECG_ES_ACCEPTED];
                if (accepted <= offered)
                        continue;
                a = anomaly_json(c, r, "ACCEPTED_EXCEEDS_OFFERED");
                put(c, a, "category", string_json(c, tecg_category_names[cat]));
                put(c, a, "offered", int_json(c, offered));
                put(c, a, "accepted", int_json(c, accepted));
                push(c, all, a);
                any = true;
        }
        if (any)
                push(c, flags, string_json(c, "ACCEPTED_EXCEEDS_OFFERED"));
        return flags;
}

static json_t *funding_doc(ctx_t *c, const tecg_mission_t *m, const tecg_nations_t *nations,
                           const tecg_nation_state_t *const *states, size_t nstates,
                           int64_t now_ms) {
        rows_t rows = {0};
        funds_t *total = NULL, *f = NULL;
        json_t *doc = NULL, *not_reported = NULL, *tot = NULL, *anomalies = NULL;
        list_out_t *rows_out = NULL;
        int64_t reported = 0;

        check_args(c, m, states, nstates);
        if (c->err)
                goto done;
        if (tecg_currency_minor_digits(m->reporting_currency) < 0) {
                fail(c, TECG_ERR_CONFIG, "unknown reporting currency '%.3s'",
                     m->reporting_currency);
                goto done;
        }
        rows_prepare(c, TECG_DASH_FUNDING, nations, states, nstates, &rows);
        total = calloc(1, sizeof(*total));
        f = calloc(1, sizeof(*f));
        if (!total || !f)
                oom(c);
        if (c->err)
                goto done;

        doc = doc_new(c, TECG_DASH_FUNDING, &rows);
        rows_out = list_open(c);
        not_reported = new_array(c);
        anomalies = new_array(c);
        for (size_t i = 0; i < rows.n && !c->err; i++) {
                const row_t *r = &rows.v[i];
                slot_t *sl = slot_at(c, i);
                bool rep = funds_reported(r->st);

                memset(f, 0, sizeof(*f));
                if (r->st)
                        funds_from_state(c, f, r->st);
                funds_merge(c, total, f);
                if (rows_current(sl, r)) {
                        json_decref(anomalies_of(c, r, f, anomalies));
                        list_reuse(c, rows_out, &sl->row);
                } else {
                        json_t *row = new_object(c);
                        slot_forget_rows(sl);
                        put_identity(c, row, r);
                        put(c, row, "reported", json_boolean(rep));
                        put_funds(c, m, row, f);
                        put(c, row, "flags", anomalies_of(c, r, f, anomalies));
                        put_corrections(c, row, r->st);
                        list_add_row(c, rows_out, sl ? &sl->row : NULL, row);
                        if (sl && c->err == TECG_OK)
                                rows_made_from(sl, r);
                }
                funds_free(f);
                if (rep)
                        reported++;
                else if (r->nation)
                        push(c, not_reported, string_json(c, r->code));
        }

        put(c, doc, "reporting_currency", string_json(c, m->reporting_currency));
        put_rates(c, m, doc, total);
        tot = new_object(c);
        put(c, tot, "nations_reported", int_json(c, reported));
        put_funds(c, m, tot, total);
        put(c, doc, "total", tot);
        list_place(c, doc, "nations", rows_out);
        put(c, doc, "not_reported", not_reported);
        not_reported = NULL;
        put(c, doc, "anomalies", anomalies);
        anomalies = NULL;
        put_reporting(c, m, doc, &rows, TECG_REPORT_FUNDS, now_ms);
        put_recent_corrections(c, doc, &rows, TECG_REPORT_FUNDS);

done:
        json_decref(not_reported);
        json_decref(anomalies);
        if (total)
                funds_free(total);
        free(total);
        free(f);
        rows_free(&rows);
        return doc_finish(c, doc);
}

/* ------------------------------------------------------------------ */
/* Staffing                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
        int64_t n[TECG_ROLE__COUNT][TECG_LOC__COUNT];
        int64_t loc[TECG_LOC__COUNT];
        int64_t total;
} strength_t;

static json_t *roles_json(ctx_t *c, const strength_t *s) {
        json_t *roles = new_object(c);
        for (int r = 0; r < TECG_ROLE__COUNT; r++) {
                json_t *x = new_object(c);
                for (int l = 0; l < TECG_LOC__COUNT; l++)
                        put(c, x, tecg_location_names[l], int_json(c, s->n[r][l]));
                put(c, roles, tecg_role_names[r], x);
        }
        return roles;
}

/* in_iraq, outside_iraq, total, roles. */
static void put_strength(ctx_t *c, json_t *o, const strength_t *s) {
        for (int l = 0; l < TECG_LOC__COUNT; l++)
                put(c, o, loc_keys[l], int_json(c, s->loc[l]));
        put(c, o, "total", int_json(c, s->total));
        put(c, o, "roles", roles_json(c, s));
}

static void strength_add(ctx_t *c, strength_t *s, int r, int l, int64_t v) {
        add_to(c, &s->n[r][l], v, "headcount");
        add_to(c, &s->loc[l], v, "headcount");
        add_to(c, &s->total, v, "headcount");
}

static json_t *staffing_doc(ctx_t *c, const tecg_mission_t *m, const tecg_nations_t *nations,
                            const tecg_nation_state_t *const *states, size_t nstates,
                            int64_t now_ms) {
        rows_t rows = {0};
        strength_t total;
        json_t *doc = NULL, *not_reported = NULL, *tot = NULL;
        list_out_t *rows_out = NULL;
        int64_t reported = 0, in_iraq, shortfall;

        memset(&total, 0, sizeof(total));
        check_args(c, m, states, nstates);
        if (c->err)
                goto done;
        rows_prepare(c, TECG_DASH_STAFFING, nations, states, nstates, &rows);
        if (c->err)
                goto done;

        doc = doc_new(c, TECG_DASH_STAFFING, &rows);
        rows_out = list_open(c);
        not_reported = new_array(c);
        for (size_t i = 0; i < rows.n && !c->err; i++) {
                const row_t *r = &rows.v[i];
                strength_t s;
                int64_t last = INT64_MIN;
                slot_t *sl = slot_at(c, i);

                memset(&s, 0, sizeof(s));
                for (int ro = 0; r->st && ro < TECG_ROLE__COUNT; ro++)
                        for (int l = 0; l < TECG_LOC__COUNT; l++) {
                                const tecg_strength_t *p = &r->st->personnel[ro][l];
                                if (!p->reported)
                                        continue;
                                strength_add(c, &s, ro, l, p->headcount);
                                strength_add(c, &total, ro, l, p->headcount);
                                if (p->occurred_at_ms > last)
                                        last = p->occurred_at_ms;
                        }
                if (rows_current(sl, r)) {
                        list_reuse(c, rows_out, &sl->row);
                } else {
                        json_t *row = new_object(c);
                        slot_forget_rows(sl);
                        put_identity(c, row, r);
                        put(c, row, "reported", json_boolean(last != INT64_MIN));
                        put(c, row, "last_report", time_json(c, last));
                        put_strength(c, row, &s);
                        put_corrections(c, row, r->st);
                        put_dead_letters(c, row, r->st);
                        list_add_row(c, rows_out, sl ? &sl->row : NULL, row);
                        if (sl && c->err == TECG_OK)
                                rows_made_from(sl, r);
                }
                if (last != INT64_MIN)
                        reported++;
                else if (r->nation)
                        push(c, not_reported, string_json(c, r->code));
        }

        in_iraq = total.loc[TECG_LOC_IN_IRAQ];
        shortfall = in_iraq < m->authorized_strength ? m->authorized_strength - in_iraq : 0;
        tot = new_object(c);
        put(c, tot, "nations_reported", int_json(c, reported));
        put_strength(c, tot, &total);
        put(c, tot, "authorized_strength", int_json(c, m->authorized_strength));
        put(c, tot, "fill_rate", ratio_json(c, in_iraq, m->authorized_strength));
        put(c, tot, "shortfall", int_json(c, shortfall));
        put(c, doc, "total", tot);
        list_place(c, doc, "nations", rows_out);
        put(c, doc, "not_reported", not_reported);
        not_reported = NULL;
        put_reporting(c, m, doc, &rows, TECG_REPORT_STAFFING, now_ms);

done:
        json_decref(not_reported);
        rows_free(&rows);
        return doc_finish(c, doc);
}

/* ------------------------------------------------------------------ */
/* Training                                                            */
/* ------------------------------------------------------------------ */

/* One state's training entry, with the row it came from. */
typedef struct {
        int32_t year;
        size_t row; /* index into rows (code order) */
        tecg_location_t location;
        tecg_level_t level;
        int64_t trainees;
} tline_t;

static int tline_cmp(const void *a, const void *b) {
        const tline_t *x = a, *y = b;
        if (x->year != y->year)
                return x->year < y->year ? -1 : 1;
        if (x->row != y->row)
                return x->row < y->row ? -1 : 1;
        if (x->location != y->location)
                return x->location < y->location ? -1 : 1;
        if (x->level != y->level)
                return x->level < y->level ? -1 : 1;
        return 0;
}

/* Trainees per location and level, with sums. */
typedef struct {
        int64_t n[TECG_LOC__COUNT][TECG_LVL__COUNT];
        int64_t loc[TECG_LOC__COUNT];
        int64_t total;
} tsum_t;

static void tsum_add(ctx_t *c, tsum_t *t, int l, int lv, int64_t v) {
        add_to(c, &t->n[l][lv], v, "trainees");
        add_to(c, &t->loc[l], v, "trainees");
        add_to(c, &t->total, v, "trainees");
}

/* {"trainees": N, ["target": T, "progress": P,] "levels": {...}} */
static json_t *tloc_json(ctx_t *c, const tsum_t *t, int l, const int64_t *target) {
        json_t *o = new_object(c), *levels = new_object(c);
        put(c, o, "trainees", int_json(c, t->loc[l]));
        if (target) {
                put(c, o, "target", int_json(c, *target));
                put(c, o, "progress", ratio_json(c, t->loc[l], *target));
        }
        for (int lv = 0; lv < TECG_LVL__COUNT; lv++)
                put(c, levels, tecg_level_names[lv], int_json(c, t->n[l][lv]));
        put(c, o, "levels", levels);
        return o;
}

static json_t *year_json(ctx_t *c, const tecg_mission_t *m, int32_t year, const tsum_t *t,
                         int64_t providers) {
        const int64_t targets[TECG_LOC__COUNT] = {m->target_in_iraq, m->target_outside_iraq};
        json_t *o = new_object(c);
        put(c, o, "year", int_json(c, year));
        put(c, o, "trainees", int_json(c, t->total));
        put(c, o, "nations_providing", int_json(c, providers));
        for (int l = 0; l < TECG_LOC__COUNT; l++)
                put(c, o, loc_keys[l], tloc_json(c, t, l, &targets[l]));
        return o;
}

static json_t *nation_year_json(ctx_t *c, const row_t *r, int32_t year, const tsum_t *t) {
        json_t *o = new_object(c);
        put(c, o, "year", int_json(c, year));
        put_identity(c, o, r);
        put(c, o, "trainees", int_json(c, t->total));
        for (int l = 0; l < TECG_LOC__COUNT; l++)
                put(c, o, loc_keys[l], tloc_json(c, t, l, NULL));
        put_corrections(c, o, r->st);
        return o;
}

/* The row of nation r's `year` into the list: the cached one when r's
 * rows are current (sl->rows_valid; taken in year order), else built and
 * kept in the slot. */
static void nation_year_row(ctx_t *c, list_out_t *l, const row_t *r, slot_t *sl, int32_t year,
                            const tsum_t *t) {
        if (sl && sl->rows_valid) {
                if (sl->year_cursor < sl->nyears && sl->years[sl->year_cursor].year == year)
                        list_reuse(c, l, &sl->years[sl->year_cursor++].text);
                else
                        fail(c, TECG_ERR_INVALID, "cached training rows of %s out of step",
                             r->code);
                return;
        }
        piece_t *keep = NULL;
        if (sl) {
                year_piece_t *v = reserve(c, sl->years, &sl->years_cap, sl->nyears + 1, sizeof(*v));
                if (!v)
                        return;
                sl->years = v;
                sl->years[sl->nyears] = (year_piece_t){year, {NULL, 0}};
                keep = &sl->years[sl->nyears++].text;
        }
        list_add_row(c, l, keep, nation_year_json(c, r, year, t));
}

static json_t *training_doc(ctx_t *c, const tecg_mission_t *m, const tecg_nations_t *nations,
                            const tecg_nation_state_t *const *states, size_t nstates,
                            int64_t now_ms) {
        rows_t rows = {0};
        tline_t *lines = NULL;
        size_t nlines = 0, cap = 0, i, j;
        json_t *doc = NULL, *years = NULL, *not_reported = NULL;
        list_out_t *rows_out = NULL;
        json_t *targets = NULL;

        check_args(c, m, states, nstates);
        if (c->err)
                goto done;
        rows_prepare(c, TECG_DASH_TRAINING, nations, states, nstates, &rows);
        if (c->err)
                goto done;

        doc = doc_new(c, TECG_DASH_TRAINING, &rows);
        years = new_array(c);
        rows_out = list_open(c);
        not_reported = new_array(c);

        for (i = 0; i < rows.n && !c->err; i++) {
                const tecg_nation_state_t *st = rows.v[i].st;
                size_t nt = st ? st->ntraining : 0;
                if (nt == 0) {
                        if (rows.v[i].nation)
                                push(c, not_reported, string_json(c, rows.v[i].code));
                        continue;
                }
                tline_t *v = reserve(c, lines, &cap, nlines + nt, sizeof(*v));
                if (!v)
                        goto done;
                lines = v;
                for (j = 0; j < nt; j++) {
                        const tecg_training_total_t *t = &st->training[j];
                        if ((unsigned)t->location >= TECG_LOC__COUNT ||
                            (unsigned)t->level >= TECG_LVL__COUNT) {
                                fail(c, TECG_ERR_INVALID,
                                     "state %s: training entry %zu out of range", st->nation, j);
                                goto done;
                        }
                        lines[nlines++] = (tline_t){t->year, i, t->location, t->level, t->trainees};
                }
        }
        if (nlines)
                qsort(lines, nlines, sizeof(*lines), tline_cmp);
        /* A nation's cached rows are reused in year order; a nation whose
         * state changed gets all its rows built again. */
        for (i = 0; i < rows.n; i++) {
                slot_t *sl = slot_at(c, i);
                if (rows_current(sl, &rows.v[i]))
                        sl->year_cursor = 0;
                else if (sl)
                        slot_forget_rows(sl);
        }

        /* Walk the sorted lines: a year holds runs of one nation each. */
        for (i = 0; i < nlines && !c->err;) {
                int32_t year = lines[i].year;
                tsum_t ysum;
                int64_t providers = 0;

                memset(&ysum, 0, sizeof(ysum));
                while (i < nlines && lines[i].year == year && !c->err) {
                        size_t row = lines[i].row;
                        tsum_t nsum;
                        memset(&nsum, 0, sizeof(nsum));
                        for (; i < nlines && lines[i].year == year && lines[i].row == row; i++) {
                                tsum_add(c, &nsum, lines[i].location, lines[i].level,
                                         lines[i].trainees);
                                tsum_add(c, &ysum, lines[i].location, lines[i].level,
                                         lines[i].trainees);
                        }
                        providers++;
                        nation_year_row(c, rows_out, &rows.v[row], slot_at(c, row), year, &nsum);
                }
                push(c, years, year_json(c, m, year, &ysum, providers));
        }
        for (i = 0; i < rows.n && !c->err; i++) {
                slot_t *sl = slot_at(c, i);
                if (sl && !sl->rows_valid)
                        rows_made_from(sl, &rows.v[i]);
        }

        targets = new_object(c);
        put(c, targets, loc_keys[TECG_LOC_IN_IRAQ], int_json(c, m->target_in_iraq));
        put(c, targets, loc_keys[TECG_LOC_OUTSIDE_IRAQ], int_json(c, m->target_outside_iraq));
        put(c, doc, "targets", targets);
        put(c, doc, "years", years);
        years = NULL;
        list_place(c, doc, "nations", rows_out);
        put(c, doc, "not_reported", not_reported);
        not_reported = NULL;
        put_reporting(c, m, doc, &rows, TECG_REPORT_TRAINING, now_ms);
        put_recent_corrections(c, doc, &rows, TECG_REPORT_TRAINING);

done:
        json_decref(years);
        json_decref(not_reported);
        free(lines);
        rows_free(&rows);
        return doc_finish(c, doc);
}

/* ------------------------------------------------------------------ */
/* History (docs/design.md §5.9)                                       */
/* ------------------------------------------------------------------ */

static int32_t month_next(int32_t m) {
        return m % 100 == 12 ? (m / 100 + 1) * 100 + 1 : m + 1;
}

/* The first month with figures of any state (funding, training or
 * strength months), or INT32_MAX. Dead letters are stamped with when a
 * message came, not when its event occurred: they do not open the series. */
static int32_t first_month(const rows_t *rows) {
        int32_t first = INT32_MAX;
        for (size_t i = 0; i < rows->n; i++) {
                const tecg_nation_state_t *st = rows->v[i].st;
                if (!st)
                        continue;
                if (st->nfunding_months && st->funding_months[0].month < first)
                        first = st->funding_months[0].month;
                if (st->ntraining_months && st->training_months[0].month < first)
                        first = st->training_months[0].month;
                if (st->nstrength_months && st->strength_months[0].month < first)
                        first = st->strength_months[0].month;
        }
        return first;
}

/* Where each state's month arrays have been read up to. */
typedef struct {
        size_t funding, training, strength, dead;
        int64_t in_iraq[TECG_ROLE__COUNT]; /* latest headcount per role */
} hcursor_t;

/* The reporting-currency amount of a MONEY sum: each currency converted
 * once, as the funding document's "converted"; currencies without a rate
 * are left out, as there. */
static json_t *converted_json(ctx_t *c, const tecg_mission_t *m, const money_t *mo) {
        int rep_digits = tecg_currency_minor_digits(m->reporting_currency);
        int64_t converted = 0, x, rate;
        char buf[TECG_MONEY_STR_SIZE];

        for (size_t i = 0; i < mo->n; i++) {
                const camount_t *a = &mo->v[i];
                int digits = tecg_currency_minor_digits(a->cur);
                if (!tecg_mission_rate(m, a->cur, &rate))
                        continue;
                if (tecg_money_convert(a->minor, digits, rate, rep_digits, &x) != TECG_OK) {
                        fail(c, TECG_ERR_LIMIT, "converting %s %s to %s overflows",
                             tecg_money_format(a->minor, digits, buf, sizeof(buf)), a->cur,
                             m->reporting_currency);
                        continue;
                }
                add_to(c, &converted, x, "converted amount");
        }
        return string_json(c, tecg_money_format(converted, rep_digits, buf, sizeof(buf)));
}

/* target * (month of the year) / 12, rounded half up: where a yearly
 * target would stand at the end of that month if it were met evenly. */
static int64_t pro_rata(int64_t target, int32_t month) {
        __int128 v = (__int128)target * (month % 100) * 2 + 12;
        return (int64_t)(v / 24);
}

/* Advances every state's cursors through month `mo`, adding its cells to
 * the sums of the month (trainees, dead letters) and to the running ones
 * (money, strength). */
static void history_month(ctx_t *c, const rows_t *rows, hcursor_t *cur, int32_t mo,
                          money_t cum[TECG_FS__COUNT], int64_t trainees[TECG_LOC__COUNT],
                          int64_t *dead, int64_t *strength) {
        *dead = 0;
        *strength = 0;
        memset(trainees, 0, TECG_LOC__COUNT * sizeof(*trainees));
        for (size_t i = 0; i < rows->n && !c->err; i++) {
                const tecg_nation_state_t *st = rows->v[i].st;
                hcursor_t *h = &cur[i];
                if (!st)
                        continue;
                for (;
                     h->funding < st->nfunding_months && st->funding_months[h->funding].month <= mo;
                     h->funding++) {
                        const tecg_funding_month_t *f = &st->funding_months[h->funding];
                        if ((unsigned)f->stage < TECG_FS__COUNT)
                                money_add(c, &cum[f->stage], f->currency, f->amount_minor);
                }
                for (; h->training < st->ntraining_months &&
                       st->training_months[h->training].month <= mo;
                     h->training++) {
                        const tecg_training_month_t *t = &st->training_months[h->training];
                        if (t->month == mo && (unsigned)t->location < TECG_LOC__COUNT)
                                add_to(c, &trainees[t->location], t->trainees, "trainees");
                }
                for (; h->strength < st->nstrength_months &&
                       st->strength_months[h->strength].month <= mo;
                     h->strength++) {
                        const tecg_strength_month_t *p = &st->strength_months[h->strength];
                        if (p->location == TECG_LOC_IN_IRAQ && (unsigned)p->role < TECG_ROLE__COUNT)
                                h->in_iraq[p->role] = p->headcount;
                }
                for (; h->dead < st->ndead_letter_months &&
                       st->dead_letter_months[h->dead].month <= mo;
                     h->dead++)
                        if (st->dead_letter_months[h->dead].month == mo)
                                add_to(c, dead, st->dead_letter_months[h->dead].count,
                                       "dead letters");
                for (int r = 0; r < TECG_ROLE__COUNT; r++)
                        add_to(c, strength, h->in_iraq[r], "headcount");
        }
}

static json_t *history_doc(ctx_t *c, const tecg_mission_t *m, const tecg_nations_t *nations,
                           const tecg_nation_state_t *const *states, size_t nstates) {
        rows_t rows = {0};
        hcursor_t *cur = NULL;
        money_t cum[TECG_FS__COUNT];
        json_t *doc = NULL, *months = NULL, *targets = NULL;
        int64_t ytd[TECG_LOC__COUNT] = {0, 0}, target[TECG_LOC__COUNT];
        int32_t first, last;

        memset(cum, 0, sizeof(cum));
        check_args(c, m, states, nstates);
        if (c->err)
                goto done;
        if (tecg_currency_minor_digits(m->reporting_currency) < 0) {
                fail(c, TECG_ERR_CONFIG, "unknown reporting currency '%.3s'",
                     m->reporting_currency);
                goto done;
        }
        rows_prepare(c, TECG_DASH_HISTORY, nations, states, nstates, &rows);
        if (c->err)
                goto done;
        if (rows.n && !(cur = calloc(rows.n, sizeof(*cur)))) {
                oom(c);
                goto done;
        }

        target[TECG_LOC_IN_IRAQ] = m->target_in_iraq;
        target[TECG_LOC_OUTSIDE_IRAQ] = m->target_outside_iraq;
        doc = doc_new(c, TECG_DASH_HISTORY, &rows);
        put(c, doc, "currency", string_json(c, m->reporting_currency));
        put(c, doc, "authorized_strength", int_json(c, m->authorized_strength));
        targets = new_object(c);
        put(c, targets, loc_keys[TECG_LOC_IN_IRAQ], int_json(c, m->target_in_iraq));
        put(c, targets, loc_keys[TECG_LOC_OUTSIDE_IRAQ], int_json(c, m->target_outside_iraq));
        put(c, doc, "targets", targets);
        months = new_array(c);

        first = first_month(&rows);
        last = rows.as_of_ms == INT64_MIN ? INT32_MIN : tecg_month_of(rows.as_of_ms);
        /* Cells of months before the first (dead letters only) are read
         * past without being shown. */
        if (first <= last) {
                int64_t t[TECG_LOC__COUNT], dead, strength;
                history_month(c, &rows, cur, first - 1, cum, t, &dead, &strength);
        }
        for (int32_t mo = first; mo <= last && !c->err; mo = month_next(mo)) {
                int64_t trainees[TECG_LOC__COUNT], dead, strength;
                char name[16];
                json_t *e = new_object(c);

                history_month(c, &rows, cur, mo, cum, trainees, &dead, &strength);
                if (mo % 100 == 1)
                        ytd[0] = ytd[1] = 0;
                snprintf(name, sizeof(name), "%04d-%02d", (int)(mo / 100), (int)(mo % 100));
                put(c, e, "month", string_json(c, name));
                put(c, e, "strength_in_iraq", int_json(c, strength));
                for (int l = 0; l < TECG_LOC__COUNT; l++) {
                        char key[32];
                        add_to(c, &ytd[l], trainees[l], "trainees");
                        snprintf(key, sizeof(key), "trainees_%s", loc_keys[l]);
                        put(c, e, key, int_json(c, trainees[l]));
                }
                for (int l = 0; l < TECG_LOC__COUNT; l++) {
                        char key[32];
                        snprintf(key, sizeof(key), "trainees_%s_ytd", loc_keys[l]);
                        put(c, e, key, int_json(c, ytd[l]));
                }
                for (int l = 0; l < TECG_LOC__COUNT; l++) {
                        char key[32];
                        snprintf(key, sizeof(key), "pro_rata_%s", loc_keys[l]);
                        put(c, e, key, int_json(c, pro_rata(target[l], mo)));
                }
                put(c, e, "pledged_cumulative", converted_json(c, m, &cum[TECG_FS_PLEDGED]));
                put(c, e, "disbursed_cumulative", converted_json(c, m, &cum[TECG_FS_DISBURSED]));
                put(c, e, "dead_letters", int_json(c, dead));
                push(c, months, e);
        }
        put(c, doc, "months", months);
        months = NULL;

done:
        json_decref(months);
        for (int s = 0; s < TECG_FS__COUNT; s++)
                money_free(&cum[s]);
        free(cur);
        rows_free(&rows);
        return doc_finish(c, doc);
}

/* ------------------------------------------------------------------ */

/* One document into a fresh tree, or with c->cache into the tree its
 * text is spliced from. */
static json_t *compose_doc(ctx_t *c, tecg_dashboard_t which, const tecg_mission_t *m,
                           const tecg_nations_t *nations, const tecg_nation_state_t *const *states,
                           size_t nstates, int64_t now_ms) {
        switch (which) {
        case TECG_DASH_FUNDING:
                return funding_doc(c, m, nations, states, nstates, now_ms);
        case TECG_DASH_STAFFING:
                return staffing_doc(c, m, nations, states, nstates, now_ms);
        case TECG_DASH_TRAINING:
                return training_doc(c, m, nations, states, nstates, now_ms);
        case TECG_DASH_HISTORY:
                return history_doc(c, m, nations, states, nstates);
        default:
                fail(c, TECG_ERR_INVALID, "unknown dashboard %d", (int)which);
                return NULL;
        }
}

json_t *tecg_compose(tecg_dashboard_t which, const tecg_mission_t *m, const tecg_nations_t *nations,
                     const tecg_nation_state_t *const *states, size_t nstates, int64_t now_ms,
                     char *errstr, size_t errstr_size) {
        ctx_t c = {.err = TECG_OK, .errstr = errstr, .errstr_size = errstr_size};
        json_t *doc = compose_doc(&c, which, m, nations, states, nstates, now_ms);
        lists_free(&c);
        return doc;
}

json_t *tecg_compose_funding(const tecg_mission_t *m, const tecg_nations_t *nations,
                             const tecg_nation_state_t *const *states, size_t nstates,
                             int64_t now_ms, char *errstr, size_t errstr_size) {
        return tecg_compose(TECG_DASH_FUNDING, m, nations, states, nstates, now_ms, errstr,
                            errstr_size);
}

json_t *tecg_compose_staffing(const tecg_mission_t *m, const tecg_nations_t *nations,
                              const tecg_nation_state_t *const *states, size_t nstates,
                              int64_t now_ms, char *errstr, size_t errstr_size) {
        return tecg_compose(TECG_DASH_STAFFING, m, nations, states, nstates, now_ms, errstr,
                            errstr_size);
}

json_t *tecg_compose_training(const tecg_mission_t *m, const tecg_nations_t *nations,
                              const tecg_nation_state_t *const *states, size_t nstates,
                              int64_t now_ms, char *errstr, size_t errstr_size) {
        return tecg_compose(TECG_DASH_TRAINING, m, nations, states, nstates, now_ms, errstr,
                            errstr_size);
}

json_t *tecg_compose_history(const tecg_mission_t *m, const tecg_nations_t *nations,
                             const tecg_nation_state_t *const *states, size_t nstates, char *errstr,
                             size_t errstr_size) {
        return tecg_compose(TECG_DASH_HISTORY, m, nations, states, nstates, 0, errstr, errstr_size);
}

char *tecg_compose_text(tecg_compose_cache_t *cache, tecg_dashboard_t which,
                        const tecg_mission_t *m, const tecg_nations_t *nations,
                        const tecg_nation_state_t *const *states, size_t nstates, int64_t now_ms,
                        size_t *len, char *errstr, size_t errstr_size) {
        ctx_t c = {.err = TECG_OK, .errstr = errstr, .errstr_size = errstr_size, .cache = cache};
        tecg_buf_t b = TECG_BUF_INIT;

        if (!cache || !len) {
                tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "no cache or no length");
                return NULL;
        }
        if (!cache->mission)
                cache->mission = m;
        if (cache->mission != m) {
                tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                            "a composition cache serves one mission profile");
                return NULL;
        }
        json_t *doc = compose_doc(&c, which, m, nations, states, nstates, now_ms);
        /* One allocation for the usual text rather than a doubling series
         * of copies of a document of megabytes. */
        if (doc && tecg_buf_reserve(&b, cache->last_len[which] + 4096) != TECG_OK)
                oom(&c);
        if (doc && c.err == TECG_OK)
                emit_object(&c, &b, doc);
        if (doc && c.err == TECG_OK && tecg_buf_terminate(&b) != TECG_OK)
                oom(&c);
        json_decref(doc);
        lists_free(&c);
        if (!doc || c.err != TECG_OK) {
                tecg_buf_free(&b);
                return NULL;
        }
        *len = b.len;
        cache->last_len[which] = b.len;
        return (char *)b.data;
}
