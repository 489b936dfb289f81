#include "avro_codec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <jansson.h>

#include "avro_walk.h"
#include "canonical.h"
#include "framing.h"
#include "schemas.h"
#include "topics.h"

/* ------------------------------------------------------------------------
 * Binding: where each event.h field lives in the record a decode sees (the
 * reader schema, or its projection for an older writer) and its default
 * when the writer does not have it. */

typedef enum { K_STR, K_LONG, K_INT, K_ENUM, K_OPT_LONG, K_OPT_STR, K_DETAIL } slot_kind_t;
typedef enum { R_ROOT, R_FUNDING, R_EQUIPMENT, R_PERSONNEL, R__COUNT } slot_rec_t;

enum {
        S_EVENT_ID,
        S_NATION,
        S_OCCURRED_AT,
        S_UTC_OFFSET,
        S_DETAIL,
        S_F_AMOUNT,
        S_F_CURRENCY,
        S_F_CHANNEL,
        S_F_STAGE,
        S_E_ITEM,
        S_E_CATEGORY,
        S_E_QUANTITY,
        S_E_VALUE,
        S_E_CURRENCY,
        S_E_STAGE,
        S_P_ROLE,
        S_P_LOCATION,
        S_P_HEADCOUNT,
        S_T_COURSE,
        S_T_LEVEL,
        S_T_LOCATION,
        S_T_VENUE,
        S_T_TRAINEES,
        S_SUPERSEDES,
        S_R_RETRACTS,
        S_R_RETRACTS_TYPE,
        S_R_REASON,
        S__COUNT
};

/* Reader kinds, also masks and indices of tecg_avro_s.readers. */
enum { EK_CONTRIBUTION = 1, EK_TRAINING = 2, EK_RETRACTION = 4, EK__MAX = EK_RETRACTION };
static const int reader_kinds[] = {EK_CONTRIBUTION, EK_TRAINING, EK_RETRACTION};
#define NKINDS (sizeof(reader_kinds) / sizeof(reader_kinds[0]))

typedef struct {
        slot_rec_t rec;
        const char *field;
        slot_kind_t kind;
        const char *const *symbols;
        int nsymbols;
        int kinds; /* EK_* mask */
} slot_spec_t;

static const char *const rec_names[R__COUNT] = {NULL, "Funding", "Equipment", "Personnel"};
static const tecg_event_type_t rec_types[R__COUNT] = {TECG_EV__COUNT, TECG_EV_FUNDING,
                                                      TECG_EV_EQUIPMENT, TECG_EV_PERSONNEL};

#define ALL (EK_CONTRIBUTION | EK_TRAINING | EK_RETRACTION)
#define BOTH (EK_CONTRIBUTION | EK_TRAINING)
#define C EK_CONTRIBUTION
#define T EK_TRAINING
#define R EK_RETRACTION
static const slot_spec_t slots[S__COUNT] = {
        [S_EVENT_ID] = {R_ROOT, "event_id", K_STR, NULL, 0, ALL},
        [S_NATION] = {R_ROOT, "nation", K_STR, NULL, 0, ALL},
        [S_OCCURRED_AT] = {R_ROOT, "occurred_at", K_LONG, NULL, 0, ALL},
        [S_UTC_OFFSET] = {R_ROOT, "utc_offset_minutes", K_INT, NULL, 0, ALL},
        [S_DETAIL] = {R_ROOT, "detail", K_DETAIL, NULL, 0, C},
        [S_F_AMOUNT] = {R_FUNDING, "amount_minor", K_LONG, NULL, 0, C},
        [S_F_CURRENCY] = {R_FUNDING, "currency", K_STR, NULL, 0, C},
        [S_F_CHANNEL] = {R_FUNDING, "channel", K_ENUM, tecg_channel_names, TECG_CH__COUNT, C},
        [S_F_STAGE] = {R_FUNDING, "stage", K_ENUM, tecg_funding_stage_names, TECG_FS__COUNT, C},
        [S_E_ITEM] = {R_EQUIPMENT, "item", K_STR, NULL, 0, C},
        [S_E_CATEGORY] = {R_EQUIPMENT, "category", K_ENUM, tecg_category_names, TECG_CAT__COUNT, C},
        [S_E_QUANTITY] = {R_EQUIPMENT, "quantity", K_LONG, NULL, 0, C},
        [S_E_VALUE] = {R_EQUIPMENT, "value_minor", K_OPT_LONG, NULL, 0, C},
        [S_E_CURRENCY] = {R_EQUIPMENT, "currency", K_OPT_STR, NULL, 0, C},
        [S_E_STAGE] = {R_EQUIPMENT, "stage", K_ENUM, tecg_equipment_stage_names, TECG_ES__COUNT, C},
        [S_P_ROLE] = {R_PERSONNEL, "role", K_ENUM, tecg_role_names, TECG_ROLE__COUNT, C},
        [S_P_LOCATION] = {R_PERSONNEL, "location", K_ENUM, tecg_location_names, TECG_LOC__COUNT, C},
        [S_P_HEADCOUNT] = {R_PERSONNEL, "headcount", K_INT, NULL, 0, C},
        [S_T_COURSE] = {R_ROOT, "course", K_STR, NULL, 0, T},
        [S_T_LEVEL] = {R_ROOT, "level", K_ENUM, tecg_level_names, TECG_LVL__COUNT, T},
        [S_T_LOCATION] = {R_ROOT, "location", K_ENUM, tecg_location_names, TECG_LOC__COUNT, T},
        [S_T_VENUE] = {R_ROOT, "venue", K_OPT_STR, NULL, 0, T},
        [S_T_TRAINEES] = {R_ROOT, "trainees", K_INT, NULL, 0, T},
        /* Absent from the previous writers: their messages read as null. */
        [S_SUPERSEDES] = {R_ROOT, "supersedes", K_OPT_STR, NULL, 0, BOTH},
        [S_R_RETRACTS] = {R_ROOT, "retracts", K_STR, NULL, 0, R},
        /* Only the counted types can be retracted: the enum has their
         * names, in event.h's order. */
        [S_R_RETRACTS_TYPE] = {R_ROOT, "retracts_type", K_ENUM, tecg_event_type_names,
                               TECG_EV__COUNTED, R},
        [S_R_REASON] = {R_ROOT, "reason", K_STR, NULL, 0, R},
};
#undef ALL
#undef BOTH
#undef C
#undef T
#undef R

#define MAX_BRANCHES 16

typedef struct {
        int idx[S__COUNT];                 /* field index in its record; -1: default */
        const json_t *def[S__COUNT];       /* the default (borrowed from the reader) */
        int null_branch[S__COUNT];         /* optional slots: discriminant of null */
        int detail_branch[TECG_EV__COUNT]; /* event type -> discriminant */
        int branch_type[MAX_BRANCHES];     /* discriminant -> event type */
        int nbranches;
} binding_t;

/* ------------------------------------------------------------------------ */

struct tecg_avro_schema_s {
        char *name;
        char *fullname;
        char *json;
        char *pcf;
        uint64_t fingerprint;
        json_t *root; /* parsed JSON: defaults, projections */
        avro_schema_t schema;
        avro_value_iface_t *iface;
        avro_value_t dvalue; /* decode target, writer-shaped */
        int has_dvalue;
        tecg_avro_walk_t *walk; /* bounds a body before Avro-C reads it */
        /* Decoding into events; reader NULL: not an event schema. */
        struct tecg_avro_schema_s *reader;
        int kind;           /* EK_*, when this is a reader */
        avro_schema_t proj; /* reader minus fields this writer lacks */
        avro_value_iface_t *res_iface;
        avro_value_t resolved; /* reader-shaped view of dvalue */
        int has_resolved;
        avro_value_t *view; /* what extraction reads */
        binding_t bind;
        /* Readers only: the value encode fills. */
        avro_value_t evalue;
        int has_evalue;
};

typedef struct {
        uint32_t id;
        tecg_avro_schema_t *schema;
} id_map_t;

struct tecg_avro_s {
        tecg_avro_schema_t **schemas;
        size_t nschemas, scap;
        tecg_avro_schema_t *readers[EK__MAX + 1]; /* by EK_*: [1] contribution,
                                                   * [2] training, [4] retraction */
        id_map_t *ids;
        size_t nids, idcap;
        avro_reader_t reader;
        avro_writer_t writer;
};

static const char *const reader_names[EK__MAX + 1] = {
        [EK_CONTRIBUTION] = "contribution",
        [EK_TRAINING] = "training",
        [EK_RETRACTION] = "retraction",
};

/* ======================================================================== */
/* Helpers */

static avro_schema_t deref(avro_schema_t s) {
        while (s && is_avro_link(s))
                s = avro_schema_link_target(s);
        return s;
}

/* ======================================================================== */
/* JSON helpers for defaults and projections */

static const char *unqualified(const char *name) {
        const char *dot = strrchr(name, '.');
        return dot ? dot + 1 : name;
}

static int json_type_is(const json_t *o, const char *type) {
        const char *t = json_string_value(json_object_get(o, "type"));
        return t && strcmp(t, type) == 0;
}

/* The first named type of kind `type` ("record", "enum") whose unqualified
 * name is uname, anywhere inside j. */
static const json_t *json_find_named(const json_t *j, const char *type, const char *uname) {
        size_t i;
        const json_t *v, *found;

        if (json_is_array(j)) {
                json_array_foreach(j, i,
                                   v) if ((found = json_find_named(v, type, uname))) return found;
                return NULL;
        }
        if (!json_is_object(j))
                return NULL;
        const char *name = json_string_value(json_object_get(j, "name"));
        if (name &&
            (json_type_is(j, type) || (strcmp(type, "record") == 0 && json_type_is(j, "error"))) &&
            strcmp(unqualified(name), uname) == 0)
                return j;
        const json_t *t = json_object_get(j, "type");
        if ((json_is_object(t) || json_is_array(t)) && (found = json_find_named(t, type, uname)))
                return found;
        json_array_foreach(json_object_get(j, "fields"), i,
                           v) if ((found = json_find_named(json_object_get(v, "type"), type,
                                                           uname))) return found;
        if ((found = json_find_named(json_object_get(j, "items"), type, uname)))
                return found;
        return json_find_named(json_object_get(j, "values"), type, uname);
}

static const json_t *json_record_field(const json_t *rec, const char *fname) {
        size_t i;
        const json_t *f;
        json_array_foreach(json_object_get(rec, "fields"), i, f) {
                const char *n = json_string_value(json_object_get(f, "name"));
                if (n && strcmp(n, fname) == 0)
                        return f;
        }
        return NULL;
}

/* Removes from the reader copy `node` every record field the writer's
 * record of the same name lacks; each must have a default, which the
 * binding applies later. Avro-C's resolved reader refuses such fields. */
static tecg_err_t project_walk(json_t *node, const json_t *wroot, int *changed, char *errstr,
                               size_t errstr_size) {
        size_t i;
        json_t *v;
        tecg_err_t err = TECG_OK;

        if (json_is_array(node)) {
                json_array_foreach(node, i, v) if ((err = project_walk(v, wroot, changed, errstr,
                                                                       errstr_size))) return err;
                return TECG_OK;
        }
        if (!json_is_object(node))
                return TECG_OK;
        json_t *t = json_object_get(node, "type");
        if (json_is_object(t) || json_is_array(t))
                return project_walk(t, wroot, changed, errstr, errstr_size);
        if (json_type_is(node, "record") || json_type_is(node, "error")) {
                const char *name = json_string_value(json_object_get(node, "name"));
                const json_t *wrec =
                        name ? json_find_named(wroot, "record", unqualified(name)) : NULL;
                json_t *fields = json_object_get(node, "fields");
                for (i = 0; i < json_array_size(fields);) {
                        json_t *f = json_array_get(fields, i);
                        const char *fname = json_string_value(json_object_get(f, "name"));
                        if (wrec && fname && !json_record_field(wrec, fname)) {
                                if (!json_object_get(f, "default"))
                                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                                           "writer record %s lacks field "
                                                           "%s, which has no default in "
                                                           "the reader",
                                                           name, fname);
                                json_array_remove(fields, i);
                                *changed = 1;
                                continue;
                        }
                        if ((err = project_walk(json_object_get(f, "type"), wroot, changed, errstr,
                                                errstr_size)))
                                return err;
                        i++;
                }
                return TECG_OK;
        }
        if ((err = project_walk(json_object_get(node, "items"), wroot, changed, errstr,
                                errstr_size)))
                return err;
        return project_walk(json_object_get(node, "values"), wroot, changed, errstr, errstr_size);
}

/* Avro-C's resolved reader passes enum indices through unchanged, which is
 * right only while the writer's symbols are the reader's in the same order
 * (event.h: append only). Refuse any other writer up front. */
static tecg_err_t check_enums(const json_t *w, const json_t *rroot, char *errstr,
                              size_t errstr_size) {
        size_t i;
        const json_t *v;
        tecg_err_t err;

        if (json_is_array(w)) {
                json_array_foreach(
                        w, i, v) if ((err = check_enums(v, rroot, errstr, errstr_size))) return err;
                return TECG_OK;
        }
        if (!json_is_object(w))
                return TECG_OK;
        if (json_type_is(w, "enum")) {
                const char *name = json_string_value(json_object_get(w, "name"));
                const json_t *r = name ? json_find_named(rroot, "enum", unqualified(name)) : NULL;
                const json_t *ws = json_object_get(w, "symbols");
                const json_t *rs = json_object_get(r, "symbols");
                for (i = 0; r && i < json_array_size(ws) && i < json_array_size(rs); i++) {
                        const char *a = json_string_value(json_array_get(ws, i));
                        const char *b = json_string_value(json_array_get(rs, i));
                        if (!a || !b || strcmp(a, b) != 0)
                                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                                   "enum %s: writer symbol %zu is %s, "
                                                   "reader's is %s (Avro-C maps enum "
                                                   "symbols by position; symbols may "
                                                   "only be appended)",
                                                   name, i, a ? a : "?", b ? b : "?");
                }
                return TECG_OK;
        }
        const json_t *t = json_object_get(w, "type");
        if ((json_is_object(t) || json_is_array(t)) &&
            (err = check_enums(t, rroot, errstr, errstr_size)))
                return err;
        json_array_foreach(json_object_get(w, "fields"), i,
                           v) if ((err = check_enums(json_object_get(v, "type"), rroot, errstr,
                                                     errstr_size))) return err;
        if ((err = check_enums(json_object_get(w, "items"), rroot, errstr, errstr_size)))
                return err;
        return check_enums(json_object_get(w, "values"), rroot, errstr, errstr_size);
}

/* ======================================================================== */
/* Resolvability, checked before Avro-C is asked.
 *
 * avro_resolved_reader_new() of Avro-C 1.11.1 crashes (a double free in the
 * cleanup of try_record(): field resolvers memoized for two fields of the
 * same type are released twice) when a record field fails to resolve after
 * two fields of one type, e.g. {string, string, string->int}. So it is only
 * ever called once this walk has shown that every path resolves; the walk is
 * stricter than Avro-C where that keeps it simple (every writer union branch
 * must be readable, promotions only int->long/float/double, long->float/
 * double, float->double). */

static int names_equal(avro_schema_t a, avro_schema_t b) {
        return strcmp(avro_schema_name(a), avro_schema_name(b)) == 0;
}

/* Could w resolve against r at all, judged by kind and name only: what
 * Avro-C decides before it allocates anything (so a "no" here is a clean
 * miss when it tries the branches of a reader union in order). */
static int same_kind(avro_schema_t w, avro_schema_t r) {
        avro_type_t wt = avro_typeof(w), rt = avro_typeof(r);
        switch (rt) {
        case AVRO_INT64:
                return wt == AVRO_INT64 || wt == AVRO_INT32;
        case AVRO_FLOAT:
                return wt == AVRO_FLOAT || wt == AVRO_INT32 || wt == AVRO_INT64;
        case AVRO_DOUBLE:
                return wt == AVRO_DOUBLE || wt == AVRO_FLOAT || wt == AVRO_INT32 ||
                       wt == AVRO_INT64;
        case AVRO_RECORD:
        case AVRO_ENUM:
                return wt == rt && names_equal(w, r);
        case AVRO_FIXED:
                return wt == rt && names_equal(w, r) &&
                       avro_schema_fixed_size(w) == avro_schema_fixed_size(r);
        default:
                return wt == rt;
        }
}

static int resolvable(avro_schema_t w, avro_schema_t r, char *path, size_t plen, int depth,
                      char *why, size_t why_size) {
        w = deref(w);
        r = deref(r);
        if (depth > TECG_AVRO_WALK_MAX_DEPTH) {
                snprintf(why, why_size, "%s: schemas nested too deep", path);
                return 0;
        }
        if (is_avro_union(w)) {
                for (size_t i = 0; i < avro_schema_union_size(w); i++)
                        if (!resolvable(avro_schema_union_branch(w, (int)i), r, path, plen,
                                        depth + 1, why, why_size))
                                return 0;
                return 1;
        }
        if (is_avro_union(r)) {
                for (size_t i = 0; i < avro_schema_union_size(r); i++) {
                        avro_schema_t b = deref(avro_schema_union_branch(r, (int)i));
                        if (same_kind(w, b))
                                return resolvable(w, b, path, plen, depth + 1, why, why_size);
                }
                snprintf(why, why_size,
                         "field %s: writer %s matches no branch of the "
                         "reader's union",
                         path, avro_schema_type_name(w));
                return 0;
        }
        if (!same_kind(w, r)) {
                snprintf(why, why_size, "field %s: writer %s cannot be read as %s", path,
                         avro_schema_type_name(w), avro_schema_type_name(r));
                return 0;
        }
        if (is_avro_record(r)) {
                size_t len = strlen(path);
                for (size_t i = 0; i < avro_schema_record_size(r); i++) {
                        const char *fname = avro_schema_record_field_name(r, (int)i);
                        int wi = avro_schema_record_field_get_index(w, fname);
                        snprintf(path + len, plen - len, "%s%s", len ? "." : "", fname);
                        if (wi < 0) {
                                snprintf(why, why_size, "field %s: missing in the writer", path);
                                return 0;
                        }
                        if (!resolvable(avro_schema_record_field_get_by_index(w, wi),
                                        avro_schema_record_field_get_by_index(r, (int)i), path,
                                        plen, depth + 1, why, why_size))
                                return 0;
                        path[len] = '\0';
                }
                return 1;
        }
        if (is_avro_array(r))
                return resolvable(avro_schema_array_items(w), avro_schema_array_items(r), path,
                                  plen, depth + 1, why, why_size);
        if (is_avro_map(r))
                return resolvable(avro_schema_map_values(w), avro_schema_map_values(r), path, plen,
                                  depth + 1, why, why_size);
        return 1;
}

/* ======================================================================== */
/* Binding */

static int enum_matches(avro_schema_t e, const slot_spec_t *spec, char *errstr,
                        size_t errstr_size) {
        int n = avro_schema_enum_number_of_symbols(e);
        if (n != spec->nsymbols) {
                tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                            "field %s: enum %s has %d symbols, event.h %d", spec->field,
                            avro_schema_name(e), n, spec->nsymbols);
                return 0;
        }
        for (int i = 0; i < n; i++) {
                const char *sym = avro_schema_enum_get(e, i);
                if (!sym || strcmp(sym, spec->symbols[i]) != 0) {
                        tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                    "field %s: enum %s symbol %d is %s, "
                                    "event.h says %s",
                                    spec->field, avro_schema_name(e), i, sym ? sym : "?",
                                    spec->symbols[i]);
                        return 0;
                }
        }
        return 1;
}

/* Optional field: a union of null and `want`; sets *null_branch. */
static int opt_matches(avro_schema_t u, avro_type_t want, int *null_branch) {
        if (!is_avro_union(u) || avro_schema_union_size(u) != 2)
                return 0;
        avro_schema_t b0 = deref(avro_schema_union_branch(u, 0));
        avro_schema_t b1 = deref(avro_schema_union_branch(u, 1));
        if (is_avro_null(b0) && b1 && avro_typeof(b1) == want) {
                *null_branch = 0;
                return 1;
        }
        if (is_avro_null(b1) && b0 && avro_typeof(b0) == want) {
                *null_branch = 1;
                return 1;
        }
        return 0;
}

static int default_matches(const slot_spec_t *spec, const json_t *d) {
        switch (spec->kind) {
        case K_STR:
                return json_is_string(d);
        case K_LONG:
                return json_is_integer(d);
        case K_INT:
                return json_is_integer(d) && json_integer_value(d) >= INT32_MIN &&
                       json_integer_value(d) <= INT32_MAX;
        case K_ENUM:
                return json_is_string(d) &&
                       tecg_enum_lookup(spec->symbols, spec->nsymbols, json_string_value(d)) >= 0;
        case K_OPT_LONG:
                return json_is_null(d) || json_is_integer(d);
        case K_OPT_STR:
                return json_is_null(d) || json_is_string(d);
        case K_DETAIL:
                return 0;
        }
        return 0;
}

/* Binds the slots of reader kind `kind` to the record schema `view` (the
 * reader, or the reader's projection for an older writer). strict: view is
 * the reader itself and must have every field. */
static tecg_err_t bind_view(binding_t *b, avro_schema_t view, const json_t *rroot, int kind,
                            int strict, char *errstr, size_t errstr_size) {
        avro_schema_t recs[R__COUNT] = {0};

        memset(b, 0, sizeof(*b));
        for (int i = 0; i < S__COUNT; i++)
                b->idx[i] = b->null_branch[i] = -1;
        for (int i = 0; i < TECG_EV__COUNT; i++)
                b->detail_branch[i] = -1;
        for (int i = 0; i < MAX_BRANCHES; i++)
                b->branch_type[i] = -1;

        recs[R_ROOT] = deref(view);
        if (!is_avro_record(recs[R_ROOT]))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "schema is not a record");

        for (int si = 0; si < S__COUNT; si++) {
                const slot_spec_t *spec = &slots[si];
                if (!(spec->kinds & kind))
                        continue;
                avro_schema_t rec = recs[spec->rec];
                const char *rname =
                        spec->rec == R_ROOT ? avro_schema_name(recs[R_ROOT]) : rec_names[spec->rec];
                if (!rec)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "record %s missing from the detail "
                                           "union",
                                           rname);
                int idx = avro_schema_record_field_get_index(rec, spec->field);
                if (idx < 0) {
                        const json_t *rrec = json_find_named(rroot, "record", rname);
                        const json_t *f = json_record_field(rrec, spec->field);
                        const json_t *d = json_object_get(f, "default");
                        if (strict || !d)
                                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                                   "record %s has no field %s", rname, spec->field);
                        if (!default_matches(spec, d))
                                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                                   "field %s.%s: default unusable for "
                                                   "event.h",
                                                   rname, spec->field);
                        b->def[si] = d;
                        if (spec->kind == K_OPT_LONG || spec->kind == K_OPT_STR)
                                b->null_branch[si] = 0;
                        continue;
                }
                b->idx[si] = idx;
                avro_schema_t fs = deref(avro_schema_record_field_get_by_index(rec, idx));
                int ok = 0;
                switch (spec->kind) {
                case K_STR:
                        ok = is_avro_string(fs);
                        break;
                case K_LONG:
                        ok = is_avro_int64(fs);
                        break;
                case K_INT:
                        ok = is_avro_int32(fs);
                        break;
                case K_ENUM:
                        if (!is_avro_enum(fs))
                                break;
                        if (!enum_matches(fs, spec, errstr, errstr_size))
                                return TECG_ERR_INVALID;
                        ok = 1;
                        break;
                case K_OPT_LONG:
                        ok = opt_matches(fs, AVRO_INT64, &b->null_branch[si]);
                        break;
                case K_OPT_STR:
                        ok = opt_matches(fs, AVRO_STRING, &b->null_branch[si]);
                        break;
                case K_DETAIL: {
                        if (!is_avro_union(fs) || avro_schema_union_size(fs) > MAX_BRANCHES)
                                break;
                        b->nbranches = (int)avro_schema_union_size(fs);
                        for (int k = 0; k < b->nbranches; k++) {
                                avro_schema_t br = deref(avro_schema_union_branch(fs, k));
                                int r;
                                for (r = R_FUNDING; r < R__COUNT; r++)
                                        if (is_avro_record(br) &&
                                            strcmp(avro_schema_name(br), rec_names[r]) == 0)
                                                break;
                                if (r == R__COUNT)
                                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                                           "field detail: branch %d is "
                                                           "not Funding, Equipment or "
                                                           "Personnel",
                                                           k);
                                recs[r] = br;
                                b->branch_type[k] = (int)rec_types[r];
                                b->detail_branch[rec_types[r]] = k;
                        }
                        ok = 1;
                        break;
                }
                }
                if (!ok)
                        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                           "field %s.%s has type %s, not what "
                                           "event.h needs",
                                           rname, spec->field, avro_schema_type_name(fs));
        }
        return TECG_OK;
}

/* ======================================================================== */
/* Schema entries */

static void schema_free(tecg_avro_schema_t *s) {
        if (!s)
                return;
        if (s->has_evalue)
                avro_value_decref(&s->evalue);
        if (s->has_resolved)
                avro_value_decref(&s->resolved);
        if (s->res_iface)
                avro_value_iface_decref(s->res_iface);
        if (s->proj)
                avro_schema_decref(s->proj);
        if (s->has_dvalue)
                avro_value_decref(&s->dvalue);
        if (s->iface)
                avro_value_iface_decref(s->iface);
        if (s->schema)
                avro_schema_decref(s->schema);
        tecg_avro_walk_destroy(s->walk);
        json_decref(s->root);
        free(s->name);
        free(s->fullname);
        free(s->json);
        free(s->pcf);
        free(s);
}

/* Parses one schema: JSON, canonical form, fingerprint, Avro-C schema,
 * generic value and body walk. Not yet tied to a reader. */
static tecg_avro_schema_t *schema_new(const char *name, const char *json, size_t len, char *errstr,
                                      size_t errstr_size) {
        tecg_avro_schema_t *s = calloc(1, sizeof(*s));
        json_error_t jerr;
        int ok = 0;

        if (!s || !(s->name = strdup(name)) || !(s->json = strndup(json, len))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        s->root = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!s->root) {
                tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "schema %s: line %d: %s", name,
                            jerr.line, jerr.text);
                goto done;
        }
        if (tecg_canonical_form_json(s->root, &s->pcf, errstr, errstr_size))
                goto done;
        s->fingerprint = tecg_crc64_avro(s->pcf, strlen(s->pcf));
        if (avro_schema_from_json_length(json, len, &s->schema)) {
                tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "schema %s: Avro-C: %s", name,
                            avro_strerror());
                s->schema = NULL;
                goto done;
        }
        if (is_avro_named_type(s->schema)) {
                const char *ns = avro_schema_namespace(s->schema);
                const char *n = avro_schema_name(s->schema);
                size_t sz = (ns ? strlen(ns) + 1 : 0) + strlen(n) + 1;
                if ((s->fullname = malloc(sz)))
                        snprintf(s->fullname, sz, "%s%s%s", ns && *ns ? ns : "",
                                 ns && *ns ? "." : "", n);
        } else {
                s->fullname = strdup(avro_schema_type_name(s->schema));
        }
        if (!s->fullname) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        s->iface = avro_generic_class_from_schema(s->schema);
        if (!s->iface || avro_generic_value_new(s->iface, &s->dvalue)) {
                tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "schema %s: Avro-C: %s", name,
                            avro_strerror());
                goto done;
        }
        s->has_dvalue = 1;
        if (!(s->walk = tecg_avro_walk_new(s->schema))) {
                tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                            "schema %s: cannot compile its body checks "
                            "(too deep or too many named types)",
                            name);
                goto done;
        }
        ok = 1;
done:
        if (!ok) {
                schema_free(s);
                s = NULL;
        }
        return s;
}

/* Makes r the reader of its kind: binds event.h to it and builds the value
 * encode fills. */
static tecg_err_t schema_make_reader(tecg_avro_schema_t *r, int kind, char *errstr,
                                     size_t errstr_size) {
        char why[256];
        if (bind_view(&r->bind, r->schema, r->root, kind, 1, why, sizeof(why)))
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "reader schema %s does not match event.h: "
                                   "%s",
                                   r->name, why);
        if (avro_generic_value_new(r->iface, &r->evalue))
                return tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "schema %s: Avro-C: %s",
                                   r->name, avro_strerror());
        r->has_evalue = 1;
        r->reader = r;
        r->kind = kind;
        r->view = &r->dvalue;
        return TECG_OK;
}

/* Ties writer w to the reader of the same record full name, if any: the
 * projection of the reader onto what w has, an Avro-C resolved reader from
 * w to it (built once, here), and the binding with defaults. */
static tecg_err_t schema_attach(tecg_avro_t *avro, tecg_avro_schema_t *w, char *errstr,
                                size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_avro_schema_t *r = NULL;
        json_t *proj = NULL;
        char *projtext = NULL;
        char why[256] = "";
        int changed = 0;

        for (size_t i = 0; i < NKINDS; i++) {
                tecg_avro_schema_t *k = avro->readers[reader_kinds[i]];
                if (k && strcmp(k->fullname, w->fullname) == 0)
                        r = k;
        }
        if (!r || r == w)
                goto done; /* not an event schema, or a reader itself */

        if ((err = check_enums(w->root, r->root, why, sizeof(why))))
                goto fail;
        proj = json_deep_copy(r->root);
        if (!proj) {
                err = TECG_ERR_NOMEM;
                snprintf(why, sizeof(why), "out of memory");
                goto fail;
        }
        if ((err = project_walk(proj, w->root, &changed, why, sizeof(why))))
                goto fail;
        if (changed) {
                projtext = json_dumps(proj, JSON_COMPACT);
                if (!projtext ||
                    avro_schema_from_json_length(projtext, strlen(projtext), &w->proj)) {
                        w->proj = NULL;
                        err = TECG_ERR_AVRO;
                        snprintf(why, sizeof(why),
                                 "reader without the fields the writer lacks "
                                 "does not parse: %s",
                                 avro_strerror());
                        goto fail;
                }
        }
        char path[256] = "";
        if (!resolvable(w->schema, w->proj ? w->proj : r->schema, path, sizeof(path), 0, why,
                        sizeof(why))) {
                err = TECG_ERR_INVALID;
                goto fail;
        }
        w->res_iface = avro_resolved_reader_new(w->schema, w->proj ? w->proj : r->schema);
        if (!w->res_iface) {
                err = TECG_ERR_AVRO;
                snprintf(why, sizeof(why), "Avro-C: %s", avro_strerror());
                goto fail;
        }
        if (avro_resolved_reader_new_value(w->res_iface, &w->resolved)) {
                err = TECG_ERR_AVRO;
                snprintf(why, sizeof(why), "Avro-C: %s", avro_strerror());
                goto fail;
        }
        w->has_resolved = 1;
        avro_resolved_reader_set_source(&w->resolved, &w->dvalue);
        if ((err = bind_view(&w->bind, w->proj ? w->proj : r->schema, r->root, r->kind, 0, why,
                             sizeof(why))))
                goto fail;
        w->reader = r;
        w->view = &w->resolved;
        goto done;

fail:
        tecg_seterr(err, errstr, errstr_size, "schema %s cannot be read as %s: %s", w->name,
                    r->name, why);
done:
        free(projtext);
        json_decref(proj);
        return err;
}

static tecg_err_t avro_push_schema(tecg_avro_t *avro, tecg_avro_schema_t *s) {
        if (avro->nschemas == avro->scap) {
                size_t cap = avro->scap ? avro->scap * 2 : 8;
                tecg_avro_schema_t **n = realloc(avro->schemas, cap * sizeof(tecg_avro_schema_t *));
                if (!n)
                        return TECG_ERR_NOMEM;
                avro->schemas = n;
                avro->scap = cap;
        }
        avro->schemas[avro->nschemas++] = s;
        return TECG_OK;
}

/* ======================================================================== */
/* Life cycle and lookups */

void tecg_avro_destroy(tecg_avro_t *avro) {
        if (!avro)
                return;
        for (size_t i = 0; i < avro->nschemas; i++)
                schema_free(avro->schemas[i]);
        free(avro->schemas);
        free(avro->ids);
        if (avro->reader)
                avro_reader_free(avro->reader);
        if (avro->writer)
                avro_writer_free(avro->writer);
        free(avro);
}

tecg_avro_t *tecg_avro_new(char *errstr, size_t errstr_size) {
        static char empty[1];
        tecg_avro_t *avro = calloc(1, sizeof(*avro));
        int ok = 0;

        if (!avro) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        /* One memory reader and writer, re-pointed per message. */
        avro->reader = avro_reader_memory(empty, 0);
        avro->writer = avro_writer_memory(empty, 0);
        if (!avro->reader || !avro->writer) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < tecg_schema_source_count; i++) {
                const tecg_schema_source_t *src = &tecg_schema_sources[i];
                tecg_avro_schema_t *s =
                        schema_new(src->name, src->json, src->len, errstr, errstr_size);
                if (!s)
                        goto done;
                if (avro_push_schema(avro, s)) {
                        schema_free(s);
                        tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                        goto done;
                }
        }
        for (size_t ki = 0; ki < NKINDS; ki++) {
                int k = reader_kinds[ki];
                for (size_t i = 0; i < avro->nschemas; i++)
                        if (strcmp(avro->schemas[i]->name, reader_names[k]) == 0)
                                avro->readers[k] = avro->schemas[i];
                if (!avro->readers[k]) {
                        tecg_seterr(TECG_ERR_CONFIG, errstr, errstr_size,
                                    "schemas/%s.avsc is not built in", reader_names[k]);
                        goto done;
                }
                if (schema_make_reader(avro->readers[k], k, errstr, errstr_size))
                        goto done;
        }
        for (size_t i = 0; i < avro->nschemas; i++)
                if (schema_attach(avro, avro->schemas[i], errstr, errstr_size))
                        goto done;
        ok = 1;
done:
        if (!ok) {
                tecg_avro_destroy(avro);
                avro = NULL;
        }
        return avro;
}

tecg_err_t tecg_avro_add_schema(tecg_avro_t *avro, const char *name, const char *json, size_t len,
                                const tecg_avro_schema_t **out, char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_avro_schema_t *s = NULL;
        const tecg_avro_schema_t *known;

        if (out)
                *out = NULL;
        s = schema_new(name, json, len, errstr, errstr_size);
        if (!s) {
                err = TECG_ERR_INVALID;
                goto done;
        }
        if ((known = tecg_avro_schema_by_fingerprint(avro, s->fingerprint))) {
                if (out)
                        *out = known;
                goto done;
        }
        if ((err = schema_attach(avro, s, errstr, errstr_size)))
                goto done;
        if ((err = avro_push_schema(avro, s))) {
                tecg_seterr(err, errstr, errstr_size, "out of memory");
                goto done;
        }
        if (out)
                *out = s;
        s = NULL;
done:
        schema_free(s);
        return err;
}

tecg_err_t tecg_avro_register_id(tecg_avro_t *avro, uint32_t id, const char *schema_name,
                                 char *errstr, size_t errstr_size) {
        tecg_avro_schema_t *s = (tecg_avro_schema_t *)tecg_avro_schema_by_name(avro, schema_name);
        if (!s)
                return tecg_seterr(TECG_ERR_NOT_FOUND, errstr, errstr_size, "schema %s unknown",
                                   schema_name);
        for (size_t i = 0; i < avro->nids; i++)
                if (avro->ids[i].id == id) {
                        avro->ids[i].schema = s;
                        return TECG_OK;
                }
        if (avro->nids == avro->idcap) {
                size_t cap = avro->idcap ? avro->idcap * 2 : 8;
                id_map_t *n = realloc(avro->ids, cap * sizeof(*n));
                if (!n)
                        return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                avro->ids = n;
                avro->idcap = cap;
        }
        avro->ids[avro->nids++] = (id_map_t){id, s};
        return TECG_OK;
}

size_t tecg_avro_schema_count(const tecg_avro_t *avro) {
        return avro->nschemas;
}

const tecg_avro_schema_t *tecg_avro_schema_at(const tecg_avro_t *avro, size_t i) {
        return i < avro->nschemas ? avro->schemas[i] : NULL;
}

const tecg_avro_schema_t *tecg_avro_schema_by_name(const tecg_avro_t *avro, const char *name) {
        const tecg_avro_schema_t *first = NULL;
        for (size_t i = 0; i < avro->nschemas; i++)
                if (strcmp(avro->schemas[i]->name, name) == 0)
                        return avro->schemas[i];
        for (size_t i = 0; i < avro->nschemas; i++) {
                const tecg_avro_schema_t *s = avro->schemas[i];
                if (strcmp(s->fullname, name) != 0)
                        continue;
                if (s->reader == s)
                        return s;
                if (!first)
                        first = s;
        }
        return first;
}

const tecg_avro_schema_t *tecg_avro_schema_by_fingerprint(const tecg_avro_t *avro, uint64_t fp) {
        for (size_t i = 0; i < avro->nschemas; i++)
                if (avro->schemas[i]->fingerprint == fp)
                        return avro->schemas[i];
        return NULL;
}

const tecg_avro_schema_t *tecg_avro_schema_for_type(const tecg_avro_t *avro,
                                                    tecg_event_type_t type) {
        switch (type) {
        case TECG_EV_FUNDING:
        case TECG_EV_EQUIPMENT:
        case TECG_EV_PERSONNEL:
                return avro->readers[EK_CONTRIBUTION];
        case TECG_EV_TRAINING:
                return avro->readers[EK_TRAINING];
        case TECG_EV_RETRACTION:
                return avro->readers[EK_RETRACTION];
        default:
                return NULL;
        }
}

const char *tecg_avro_schema_name(const tecg_avro_schema_t *s) {
        return s->name;
}
const char *tecg_avro_schema_fullname(const tecg_avro_schema_t *s) {
        return s->fullname;
}
uint64_t tecg_avro_schema_fingerprint(const tecg_avro_schema_t *s) {
        return s->fingerprint;
}
const char *tecg_avro_schema_canonical(const tecg_avro_schema_t *s) {
        return s->pcf;
}
const char *tecg_avro_schema_json(const tecg_avro_schema_t *s) {
        return s->json;
}
int tecg_avro_schema_is_event(const tecg_avro_schema_t *s) {
        return s->reader != NULL;
}

const char *tecg_avro_topic_for(tecg_event_type_t type) {
        switch (type) {
        case TECG_EV_FUNDING:
        case TECG_EV_EQUIPMENT:
        case TECG_EV_PERSONNEL:
                return tecg_topics_suffix(TECG_TOPICS_CONTRIBUTIONS);
        case TECG_EV_TRAINING:
                return tecg_topics_suffix(TECG_TOPICS_TRAINING);
        default:
                return NULL;
        }
}

const char *tecg_avro_topic_for_event(const tecg_event_t *ev) {
        if (ev->type == TECG_EV_RETRACTION)
                return (unsigned)ev->u.retraction.retracts_type < TECG_EV__COUNTED
                               ? tecg_avro_topic_for(ev->u.retraction.retracts_type)
                               : NULL;
        return tecg_avro_topic_for(ev->type);
}

/* ======================================================================== */
/* Encoding */

typedef struct {
        const binding_t *b;
        char *errstr;
        size_t errstr_size;
        size_t strbytes; /* string bytes written, for the output bound */
} fill_t;

/* The failure helpers return their code as a constant rather than through
 * tecg_seterr (defined in another file): the caller's `if (err) return` is
 * then visibly the guard of the out-values an Avro-C call left unset. */
static tecg_err_t fill_avro_fail(fill_t *f, int slot) {
        tecg_seterr(TECG_ERR_AVRO, f->errstr, f->errstr_size, "field %s: Avro-C: %s",
                    slots[slot].field, avro_strerror());
        return TECG_ERR_AVRO;
}

static tecg_err_t fill_str(fill_t *f, avro_value_t *rec, int slot, const char *s, size_t len) {
        avro_value_t v;
        /* size counts the NUL, which s has. */
        if (avro_value_get_by_index(rec, (size_t)f->b->idx[slot], &v, NULL) ||
            avro_value_set_string_len(&v, s, len + 1))
                return fill_avro_fail(f, slot);
        f->strbytes += len;
        return TECG_OK;
}

static tecg_err_t fill_long(fill_t *f, avro_value_t *rec, int slot, int64_t x) {
        avro_value_t v;
        if (avro_value_get_by_index(rec, (size_t)f->b->idx[slot], &v, NULL) ||
            avro_value_set_long(&v, x))
                return fill_avro_fail(f, slot);
        return TECG_OK;
}

static tecg_err_t fill_int(fill_t *f, avro_value_t *rec, int slot, int32_t x) {
        avro_value_t v;
        if (avro_value_get_by_index(rec, (size_t)f->b->idx[slot], &v, NULL) ||
            avro_value_set_int(&v, x))
                return fill_avro_fail(f, slot);
        return TECG_OK;
}

static tecg_err_t fill_enum(fill_t *f, avro_value_t *rec, int slot, int x) {
        avro_value_t v;
        if (x < 0 || x >= slots[slot].nsymbols)
                return tecg_seterr(TECG_ERR_INVALID, f->errstr, f->errstr_size,
                                   "%s %d out of range (%d symbols)", slots[slot].field, x,
                                   slots[slot].nsymbols);
        if (avro_value_get_by_index(rec, (size_t)f->b->idx[slot], &v, NULL) ||
            avro_value_set_enum(&v, x))
                return fill_avro_fail(f, slot);
        return TECG_OK;
}

/* Optional slot: sets the null branch, or selects the other one into *br
 * for the caller to fill when present. */
static tecg_err_t fill_opt_branch(fill_t *f, avro_value_t *rec, int slot, int present,
                                  avro_value_t *br) {
        avro_value_t u;
        int nb = f->b->null_branch[slot];
        if (avro_value_get_by_index(rec, (size_t)f->b->idx[slot], &u, NULL) ||
            avro_value_set_branch(&u, present ? 1 - nb : nb, br))
                return fill_avro_fail(f, slot);
        if (!present && avro_value_set_null(br))
                return fill_avro_fail(f, slot);
        return TECG_OK;
}

static tecg_err_t fill_opt_long(fill_t *f, avro_value_t *rec, int slot, int present, int64_t x) {
        avro_value_t br;
        tecg_err_t err = fill_opt_branch(f, rec, slot, present, &br);
        if (err || !present)
                return err;
        return avro_value_set_long(&br, x) ? fill_avro_fail(f, slot) : TECG_OK;
}

/* s NULL: the null branch. */
static tecg_err_t fill_opt_str(fill_t *f, avro_value_t *rec, int slot, const char *s) {
        avro_value_t br;
        size_t len;
        tecg_err_t err = fill_opt_branch(f, rec, slot, s != NULL, &br);
        if (err || !s)
                return err;
        len = strlen(s);
        if (avro_value_set_string_len(&br, s, len + 1))
                return fill_avro_fail(f, slot);
        f->strbytes += len;
        return TECG_OK;
}

/* Length of a fixed-size char array field, which must hold its NUL. */
static int fixed_len(const char *s, size_t size, size_t *len) {
        *len = strnlen(s, size);
        return *len < size;
}

static tecg_err_t fill_event(fill_t *f, avro_value_t *root, const tecg_event_t *ev) {
        tecg_err_t err;
        size_t len;
        avro_value_t detail, rec;

        if (!fixed_len(ev->event_id, sizeof(ev->event_id), &len))
                return tecg_seterr(TECG_ERR_INVALID, f->errstr, f->errstr_size,
                                   "event_id is not NUL-terminated");
        if ((err = fill_str(f, root, S_EVENT_ID, ev->event_id, len)))
                return err;
        if (!fixed_len(ev->nation, sizeof(ev->nation), &len))
                return tecg_seterr(TECG_ERR_INVALID, f->errstr, f->errstr_size,
                                   "nation is not NUL-terminated");
        if ((err = fill_str(f, root, S_NATION, ev->nation, len)) ||
            (err = fill_long(f, root, S_OCCURRED_AT, ev->occurred_at_ms)) ||
            (err = fill_int(f, root, S_UTC_OFFSET, ev->utc_offset_min)))
                return err;

        if (ev->type == TECG_EV_RETRACTION) {
                const tecg_retraction_t *x = &ev->u.retraction;
                if (!x->reason)
                        return tecg_seterr(TECG_ERR_INVALID, f->errstr, f->errstr_size,
                                           "reason is NULL");
                if (!fixed_len(x->retracts, sizeof(x->retracts), &len))
                        return tecg_seterr(TECG_ERR_INVALID, f->errstr, f->errstr_size,
                                           "retracts is not NUL-terminated");
                if ((err = fill_str(f, root, S_R_RETRACTS, x->retracts, len)) ||
                    (err = fill_enum(f, root, S_R_RETRACTS_TYPE, (int)x->retracts_type)) ||
                    (err = fill_str(f, root, S_R_REASON, x->reason, strlen(x->reason))))
                        return err;
                return TECG_OK;
        }
        /* The event types that can replace an earlier one. */
        if (!fixed_len(ev->supersedes, sizeof(ev->supersedes), &len))
                return tecg_seterr(TECG_ERR_INVALID, f->errstr, f->errstr_size,
                                   "supersedes is not NUL-terminated");
        if ((err = fill_opt_str(f, root, S_SUPERSEDES, len > 0 ? ev->supersedes : NULL)))
                return err;

        if (ev->type == TECG_EV_TRAINING) {
                const tecg_training_t *t = &ev->u.training;
                if (!t->course)
                        return tecg_seterr(TECG_ERR_INVALID, f->errstr, f->errstr_size,
                                           "course is NULL");
                if ((err = fill_str(f, root, S_T_COURSE, t->course, strlen(t->course))) ||
                    (err = fill_enum(f, root, S_T_LEVEL, (int)t->level)) ||
                    (err = fill_enum(f, root, S_T_LOCATION, (int)t->location)) ||
                    (err = fill_opt_str(f, root, S_T_VENUE, t->venue)) ||
                    (err = fill_int(f, root, S_T_TRAINEES, t->trainees)))
                        return err;
                return TECG_OK;
        }

        if (avro_value_get_by_index(root, (size_t)f->b->idx[S_DETAIL], &detail, NULL) ||
            avro_value_set_branch(&detail, f->b->detail_branch[ev->type], &rec))
                return fill_avro_fail(f, S_DETAIL);
        switch (ev->type) {
        case TECG_EV_FUNDING: {
                const tecg_funding_t *x = &ev->u.funding;
                if (!fixed_len(x->currency, sizeof(x->currency), &len))
                        return tecg_seterr(TECG_ERR_INVALID, f->errstr, f->errstr_size,
                                           "currency is not NUL-terminated");
                if ((err = fill_long(f, &rec, S_F_AMOUNT, x->amount_minor)) ||
                    (err = fill_str(f, &rec, S_F_CURRENCY, x->currency, len)) ||
                    (err = fill_enum(f, &rec, S_F_CHANNEL, (int)x->channel)) ||
                    (err = fill_enum(f, &rec, S_F_STAGE, (int)x->stage)))
                        return err;
                break;
        }
        case TECG_EV_EQUIPMENT: {
                const tecg_equipment_t *x = &ev->u.equipment;
                if (!x->item)
                        return tecg_seterr(TECG_ERR_INVALID, f->errstr, f->errstr_size,
                                           "item is NULL");
                if (!fixed_len(x->currency, sizeof(x->currency), &len))
                        return tecg_seterr(TECG_ERR_INVALID, f->errstr, f->errstr_size,
                                           "currency is not NUL-terminated");
                if ((err = fill_str(f, &rec, S_E_ITEM, x->item, strlen(x->item))) ||
                    (err = fill_enum(f, &rec, S_E_CATEGORY, (int)x->category)) ||
                    (err = fill_long(f, &rec, S_E_QUANTITY, x->quantity)) ||
                    (err = fill_opt_long(f, &rec, S_E_VALUE, x->has_value, x->value_minor)) ||
                    (err = fill_opt_str(f, &rec, S_E_CURRENCY, len > 0 ? x->currency : NULL)) ||
                    (err = fill_enum(f, &rec, S_E_STAGE, (int)x->stage)))
                        return err;
                break;
        }
        case TECG_EV_PERSONNEL: {
                const tecg_personnel_t *x = &ev->u.personnel;
                if ((err = fill_enum(f, &rec, S_P_ROLE, (int)x->role)) ||
                    (err = fill_enum(f, &rec, S_P_LOCATION, (int)x->location)) ||
                    (err = fill_int(f, &rec, S_P_HEADCOUNT, x->headcount)))
                        return err;
                break;
        }
        default:
                break;
        }
        return TECG_OK;
}

tecg_err_t tecg_avro_encode_body(tecg_avro_t *avro, const tecg_event_t *ev, tecg_buf_t *out,
                                 const tecg_avro_schema_t **schema, char *errstr,
                                 size_t errstr_size) {
        tecg_err_t err;
        tecg_avro_schema_t *r;
        fill_t f;
        size_t bound;

        if (schema)
                *schema = NULL;
        if ((unsigned)ev->type >= TECG_EV__COUNT)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "event type %d out of range", (int)ev->type);
        r = (tecg_avro_schema_t *)tecg_avro_schema_for_type(avro, ev->type);
        f = (fill_t){&r->bind, errstr, errstr_size, 0};
        if ((err = fill_event(&f, &r->evalue, ev)))
                return err;

        /* Every varint is at most 10 bytes and there are fewer than 24 of
         * them; strings add their lengths. */
        bound = f.strbytes + (size_t)24 * 10;
        if ((err = tecg_buf_reserve(out, bound)))
                return tecg_seterr(err, errstr, errstr_size, "out of memory");
        avro_writer_memory_set_dest(avro->writer, (char *)out->data + out->len, (int64_t)bound);
        if (avro_value_write(avro->writer, &r->evalue))
                return tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "Avro-C: %s",
                                   avro_strerror());
        out->len += (size_t)avro_writer_tell(avro->writer);
        if (schema)
                *schema = r;
        return TECG_OK;
}

tecg_err_t tecg_avro_encode_event(tecg_avro_t *avro, const tecg_event_t *ev, tecg_buf_t *out,
                                  char *errstr, size_t errstr_size) {
        size_t start = out->len;
        const tecg_avro_schema_t *s = tecg_avro_schema_for_type(avro, ev->type);
        tecg_err_t err;

        if (!s)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "event type %d out of range", (int)ev->type);
        if ((err = tecg_framing_write_single_object(out, s->fingerprint))) {
                tecg_seterr(err, errstr, errstr_size, "out of memory");
                goto done;
        }
        err = tecg_avro_encode_body(avro, ev, out, NULL, errstr, errstr_size);
done:
        if (err)
                out->len = start;
        return err;
}

/* ======================================================================== */
/* Decoding */

typedef struct {
        const binding_t *b;
        char *errstr;
        size_t errstr_size;
} ext_t;

/* Returns its code as a constant, as fill_avro_fail does, and for the same
 * reason. */
static tecg_err_t ext_avro_fail(ext_t *x, int slot) {
        tecg_seterr(TECG_ERR_AVRO, x->errstr, x->errstr_size, "field %s: Avro-C: %s",
                    slots[slot].field, avro_strerror());
        return TECG_ERR_AVRO;
}

static tecg_err_t ext_field(ext_t *x, avro_value_t *rec, int slot, avro_value_t *v) {
        if (avro_value_get_by_index(rec, (size_t)x->b->idx[slot], v, NULL))
                return ext_avro_fail(x, slot);
        return TECG_OK;
}

/* A string without NUL bytes (event.h hands out C strings). */
static tecg_err_t ext_str(ext_t *x, avro_value_t *rec, int slot, const char **s, size_t *len) {
        avro_value_t v;
        size_t size;
        tecg_err_t err;

        if (x->b->idx[slot] < 0) {
                *s = json_string_value(x->b->def[slot]);
                *len = json_string_length(x->b->def[slot]);
        } else {
                if ((err = ext_field(x, rec, slot, &v)))
                        return err;
                if (avro_value_get_string(&v, s, &size))
                        return ext_avro_fail(x, slot);
                *len = size ? size - 1 : 0;
        }
        if (memchr(*s, '\0', *len))
                return tecg_seterr(TECG_ERR_INVALID, x->errstr, x->errstr_size,
                                   "%s contains a NUL byte", slots[slot].field);
        return TECG_OK;
}

/* Copies a string field into a fixed-size array of event.h. */
static tecg_err_t ext_fixed(ext_t *x, avro_value_t *rec, int slot, char *dst, size_t size) {
        const char *s = "";
        size_t len = 0;
        tecg_err_t err = ext_str(x, rec, slot, &s, &len);
        if (err)
                return err;
        if (len >= size)
                return tecg_seterr(TECG_ERR_INVALID, x->errstr, x->errstr_size,
                                   "%s is %zu bytes, more than %zu", slots[slot].field, len,
                                   size - 1);
        memcpy(dst, s, len);
        dst[len] = '\0';
        return TECG_OK;
}

static tecg_err_t ext_long(ext_t *x, avro_value_t *rec, int slot, int64_t *out) {
        avro_value_t v;
        tecg_err_t err;
        if (x->b->idx[slot] < 0) {
                *out = json_integer_value(x->b->def[slot]);
                return TECG_OK;
        }
        if ((err = ext_field(x, rec, slot, &v)))
                return err;
        return avro_value_get_long(&v, out) ? ext_avro_fail(x, slot) : TECG_OK;
}

static tecg_err_t ext_int(ext_t *x, avro_value_t *rec, int slot, int32_t *out) {
        avro_value_t v;
        tecg_err_t err;
        if (x->b->idx[slot] < 0) {
                *out = (int32_t)json_integer_value(x->b->def[slot]);
                return TECG_OK;
        }
        if ((err = ext_field(x, rec, slot, &v)))
                return err;
        return avro_value_get_int(&v, out) ? ext_avro_fail(x, slot) : TECG_OK;
}

/* Enum index, checked against event.h (a newer writer may know more). */
static tecg_err_t ext_enum(ext_t *x, avro_value_t *rec, int slot, int *out) {
        avro_value_t v;
        tecg_err_t err;
        if (x->b->idx[slot] < 0) {
                *out = tecg_enum_lookup(slots[slot].symbols, slots[slot].nsymbols,
                                        json_string_value(x->b->def[slot]));
                return TECG_OK;
        }
        if ((err = ext_field(x, rec, slot, &v)))
                return err;
        if (avro_value_get_enum(&v, out))
                return ext_avro_fail(x, slot);
        if (*out < 0 || *out >= slots[slot].nsymbols)
                return tecg_seterr(TECG_ERR_INVALID, x->errstr, x->errstr_size,
                                   "%s: symbol index %d unknown to this reader", slots[slot].field,
                                   *out);
        return TECG_OK;
}

/* Optional field: *present, and the branch value in *br when present. */
static tecg_err_t ext_opt(ext_t *x, avro_value_t *rec, int slot, int *present, avro_value_t *br) {
        avro_value_t u;
        int disc;
        tecg_err_t err;
        if (x->b->idx[slot] < 0) {
                *present = !json_is_null(x->b->def[slot]);
                return TECG_OK;
        }
        if ((err = ext_field(x, rec, slot, &u)))
                return err;
        if (avro_value_get_discriminant(&u, &disc))
                return ext_avro_fail(x, slot);
        *present = disc != x->b->null_branch[slot];
        if (*present && avro_value_get_current_branch(&u, br))
                return ext_avro_fail(x, slot);
        return TECG_OK;
}

static tecg_err_t ext_opt_long(ext_t *x, avro_value_t *rec, int slot, bool *present, int64_t *out) {
        avro_value_t br;
        int p;
        tecg_err_t err = ext_opt(x, rec, slot, &p, &br);
        if (err)
                return err;
        *present = p;
        if (!p)
                return TECG_OK;
        if (x->b->idx[slot] < 0) {
                *out = json_integer_value(x->b->def[slot]);
                return TECG_OK;
        }
        return avro_value_get_long(&br, out) ? ext_avro_fail(x, slot) : TECG_OK;
}

static tecg_err_t ext_opt_str(ext_t *x, avro_value_t *rec, int slot, const char **s, size_t *len) {
        avro_value_t br;
        int p;
        size_t size;
        tecg_err_t err = ext_opt(x, rec, slot, &p, &br);
        if (err)
                return err;
        *s = NULL;
        *len = 0;
        if (!p)
                return TECG_OK;
        if (x->b->idx[slot] < 0) {
                *s = json_string_value(x->b->def[slot]);
                *len = json_string_length(x->b->def[slot]);
        } else {
                if (avro_value_get_string(&br, s, &size))
                        return ext_avro_fail(x, slot);
                *len = size ? size - 1 : 0;
        }
        if (memchr(*s, '\0', *len))
                return tecg_seterr(TECG_ERR_INVALID, x->errstr, x->errstr_size,
                                   "%s contains a NUL byte", slots[slot].field);
        return TECG_OK;
}

static tecg_err_t extract_event(ext_t *x, avro_value_t *root, int kind, tecg_event_t *ev) {
        tecg_err_t err;
        const char *s;
        size_t len;
        int e1, e2, e3;

        if ((err = ext_fixed(x, root, S_EVENT_ID, ev->event_id, sizeof(ev->event_id))) ||
            (err = ext_fixed(x, root, S_NATION, ev->nation, sizeof(ev->nation))) ||
            (err = ext_long(x, root, S_OCCURRED_AT, &ev->occurred_at_ms)) ||
            (err = ext_int(x, root, S_UTC_OFFSET, &ev->utc_offset_min)))
                return err;

        if (kind == EK_RETRACTION) {
                tecg_retraction_t *r = &ev->u.retraction;
                ev->type = TECG_EV_RETRACTION;
                if ((err = ext_fixed(x, root, S_R_RETRACTS, r->retracts, sizeof(r->retracts))) ||
                    (err = ext_enum(x, root, S_R_RETRACTS_TYPE, &e1)) ||
                    (err = ext_str(x, root, S_R_REASON, &r->reason, &len)))
                        return err;
                r->retracts_type = (tecg_event_type_t)e1;
                return TECG_OK;
        }
        if ((err = ext_opt_str(x, root, S_SUPERSEDES, &s, &len)))
                return err;
        if (len >= sizeof(ev->supersedes))
                return tecg_seterr(TECG_ERR_INVALID, x->errstr, x->errstr_size,
                                   "supersedes is %zu bytes, more than %zu", len,
                                   sizeof(ev->supersedes) - 1);
        if (s)
                memcpy(ev->supersedes, s, len);
        ev->supersedes[len] = '\0';

        if (kind == EK_TRAINING) {
                tecg_training_t *t = &ev->u.training;
                ev->type = TECG_EV_TRAINING;
                if ((err = ext_str(x, root, S_T_COURSE, &t->course, &len)) ||
                    (err = ext_enum(x, root, S_T_LEVEL, &e1)) ||
                    (err = ext_enum(x, root, S_T_LOCATION, &e2)) ||
                    (err = ext_opt_str(x, root, S_T_VENUE, &t->venue, &len)) ||
                    (err = ext_int(x, root, S_T_TRAINEES, &t->trainees)))
                        return err;
                t->level = (tecg_level_t)e1;
                t->location = (tecg_location_t)e2;
                return TECG_OK;
        }

        avro_value_t detail, rec;
        int disc;
        if (x->b->idx[S_DETAIL] < 0)
                return tecg_seterr(TECG_ERR_INVALID, x->errstr, x->errstr_size, "no detail");
        if ((err = ext_field(x, root, S_DETAIL, &detail)))
                return err;
        if (avro_value_get_discriminant(&detail, &disc) ||
            avro_value_get_current_branch(&detail, &rec))
                return ext_avro_fail(x, S_DETAIL);
        if (disc < 0 || disc >= x->b->nbranches || x->b->branch_type[disc] < 0)
                return tecg_seterr(TECG_ERR_INVALID, x->errstr, x->errstr_size,
                                   "detail: branch %d unknown to this reader", disc);
        ev->type = (tecg_event_type_t)x->b->branch_type[disc];
        switch (ev->type) {
        case TECG_EV_FUNDING: {
                tecg_funding_t *y = &ev->u.funding;
                if ((err = ext_long(x, &rec, S_F_AMOUNT, &y->amount_minor)) ||
                    (err = ext_fixed(x, &rec, S_F_CURRENCY, y->currency, sizeof(y->currency))) ||
                    (err = ext_enum(x, &rec, S_F_CHANNEL, &e1)) ||
                    (err = ext_enum(x, &rec, S_F_STAGE, &e2)))
                        return err;
                y->channel = (tecg_channel_t)e1;
                y->stage = (tecg_funding_stage_t)e2;
                break;
        }
        case TECG_EV_EQUIPMENT: {
                tecg_equipment_t *y = &ev->u.equipment;
                if ((err = ext_str(x, &rec, S_E_ITEM, &y->item, &len)) ||
                    (err = ext_enum(x, &rec, S_E_CATEGORY, &e1)) ||
                    (err = ext_long(x, &rec, S_E_QUANTITY, &y->quantity)) ||
                    (err = ext_opt_long(x, &rec, S_E_VALUE, &y->has_value, &y->value_minor)) ||
                    (err = ext_opt_str(x, &rec, S_E_CURRENCY, &s, &len)) ||
                    (err = ext_enum(x, &rec, S_E_STAGE, &e3)))
                        return err;
                if (len >= sizeof(y->currency))
                        return tecg_seterr(TECG_ERR_INVALID, x->errstr, x->errstr_size,
                                           "currency is %zu bytes, more than "
                                           "%zu",
                                           len, sizeof(y->currency) - 1);
                if (s)
                        memcpy(y->currency, s, len);
                y->currency[len] = '\0';
                y->category = (tecg_category_t)e1;
                y->stage = (tecg_equipment_stage_t)e3;
                break;
        }
        case TECG_EV_PERSONNEL: {
                tecg_personnel_t *y = &ev->u.personnel;
                if ((err = ext_enum(x, &rec, S_P_ROLE, &e1)) ||
                    (err = ext_enum(x, &rec, S_P_LOCATION, &e2)) ||
                    (err = ext_int(x, &rec, S_P_HEADCOUNT, &y->headcount)))
                        return err;
                y->role = (tecg_role_t)e1;
                y->location = (tecg_location_t)e2;
                break;
        }
        default:
                break;
        }
        return TECG_OK;
}

tecg_err_t tecg_avro_decode_body(tecg_avro_t *avro, const tecg_avro_schema_t *writer,
                                 const void *body, size_t len, tecg_event_t *ev, char *errstr,
                                 size_t errstr_size) {
        tecg_avro_schema_t *w = (tecg_avro_schema_t *)writer;
        tecg_err_t err = TECG_OK;
        ext_t x = {&w->bind, errstr, errstr_size};

        memset(ev, 0, sizeof(*ev));
        if (!w->reader) {
                err = tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                  "schema %s (%s) is not an event schema", w->name, w->fullname);
                goto done;
        }
        /* Avro-C reads nothing that this walk has not bounded. */
        if ((err = tecg_avro_walk_body(w->walk, body, len, errstr, errstr_size)))
                goto done;
        avro_reader_memory_set_source(avro->reader, (const char *)body, (int64_t)len);
        if (avro_value_read(avro->reader, &w->dvalue)) {
                err = tecg_seterr(TECG_ERR_AVRO, errstr, errstr_size, "Avro-C: %s",
                                  avro_strerror());
                goto done;
        }
        err = extract_event(&x, w->view, w->reader->kind, ev);
done:
        if (err)
                memset(ev, 0, sizeof(*ev));
        return err;
}

tecg_err_t tecg_avro_decode_event(tecg_avro_t *avro, const void *msg, size_t len, tecg_event_t *ev,
                                  char *errstr, size_t errstr_size) {
        tecg_frame_t frame;
        const tecg_avro_schema_t *w = NULL;
        char hex[17];
        tecg_err_t err;

        memset(ev, 0, sizeof(*ev));
        if ((err = tecg_framing_parse(msg, len, &frame, errstr, errstr_size)))
                return err;
        if (frame.kind == TECG_FRAME_SINGLE_OBJECT) {
                w = tecg_avro_schema_by_fingerprint(avro, frame.fingerprint);
                if (!w)
                        return tecg_seterr(TECG_ERR_NOT_FOUND, errstr, errstr_size,
                                           "unknown writer schema fingerprint %s",
                                           tecg_framing_fingerprint_hex(frame.fingerprint, hex));
        } else {
                for (size_t i = 0; i < avro->nids; i++)
                        if (avro->ids[i].id == frame.schema_id)
                                w = avro->ids[i].schema;
                if (!w)
                        return tecg_seterr(TECG_ERR_NOT_FOUND, errstr, errstr_size,
                                           "schema registry id %" PRIu32 " unknown",
                                           frame.schema_id);
        }
        return tecg_avro_decode_body(avro, w, frame.body, frame.body_len, ev, errstr, errstr_size);
}
