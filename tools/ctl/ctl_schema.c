/* tecg-ctl schema show|check. */
#include "ctl_schema.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <jansson.h>

#include "avro_codec.h"
#include "avro_walk.h"
#include "buf.h"
#include "canonical.h"
#include "ctl.h"
#include "ctl_format.h"
#include "framing.h"
#include "registry.h"
#include "topics.h"

/* A proposed schema file is read whole. */
#define SCHEMA_FILE_MAX ((size_t)1024 * 1024)

typedef struct {
        const json_t *rroot; /* the reader's JSON: defaults live there only */
        bool needs_defaults; /* a reader field the writer lacks */
        char path[512];
} resolve_t;

static avro_schema_t deref(avro_schema_t s) {
        while (s && is_avro_link(s))
                s = avro_schema_link_target(s);
        return s;
}

static const char *unqualified(const char *name) {
        const char *dot = strrchr(name, '.');
        return dot ? dot + 1 : name;
}

/* The JSON object of the named type `name` (record or enum) in j. */
static const json_t *json_named(const json_t *j, const char *name) {
        if (json_is_array(j)) {
                size_t i;
                const json_t *v;
                json_array_foreach(j, i, v) {
                        const json_t *hit = json_named(v, name);
                        if (hit)
                                return hit;
                }
                return NULL;
        }
        if (!json_is_object(j))
                return NULL;
        const char *n = json_string_value(json_object_get(j, "name"));
        const char *t = json_string_value(json_object_get(j, "type"));
        if (n && t &&
            (strcmp(t, "record") == 0 || strcmp(t, "error") == 0 || strcmp(t, "enum") == 0) &&
            strcmp(unqualified(n), name) == 0)
                return j;
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)j, key, v) {
                const json_t *hit = json_named(v, name);
                if (hit)
                        return hit;
        }
        return NULL;
}

static bool field_has_default(const resolve_t *c, const char *record, const char *field) {
        const json_t *rec = json_named(c->rroot, record);
        size_t i;
        const json_t *f;
        json_array_foreach(json_object_get(rec, "fields"), i, f) {
                const char *n = json_string_value(json_object_get(f, "name"));
                if (n && strcmp(n, field) == 0)
                        return json_object_get(f, "default") != NULL;
        }
        return false;
}

/* Whether w could be read as r by kind and name: Avro's "schemas match". */
static bool matches(avro_schema_t w, avro_schema_t r) {
        avro_type_t wt = avro_typeof(w), rt = avro_typeof(r);
        switch (rt) {
        case AVRO_INT64:
                return wt == AVRO_INT64 || wt == AVRO_INT32;
        case AVRO_FLOAT:
                return wt == AVRO_FLOAT || wt == AVRO_INT32 || wt == AVRO_INT64;
        case AVRO_DOUBLE:
                return wt == AVRO_DOUBLE || wt == AVRO_FLOAT || wt == AVRO_INT32 ||
                       wt == AVRO_INT64;
        case AVRO_STRING:
        case AVRO_BYTES:
                return wt == AVRO_STRING || wt == AVRO_BYTES;
        case AVRO_RECORD:
        case AVRO_ENUM:
                return wt == rt && strcmp(avro_schema_name(w), avro_schema_name(r)) == 0;
        case AVRO_FIXED:
                return wt == rt && strcmp(avro_schema_name(w), avro_schema_name(r)) == 0 &&
                       avro_schema_fixed_size(w) == avro_schema_fixed_size(r);
        default:
                return wt == rt;
        }
}

static const char *where(const resolve_t *c) {
        return c->path[0] ? c->path : "(top level)";
}

static int check(resolve_t *c, avro_schema_t w, avro_schema_t r, int depth, char *why,
                 size_t why_size) {
        w = deref(w);
        r = deref(r);
        if (depth > TECG_AVRO_WALK_MAX_DEPTH) {
                snprintf(why, why_size, "field %s: schemas nested too deep", where(c));
                return -1;
        }
        if (is_avro_union(w)) {
                for (size_t i = 0; i < avro_schema_union_size(w); i++)
                        if (check(c, avro_schema_union_branch(w, (int)i), r, depth + 1, why,
                                  why_size))
                                return -1;
                return 0;
        }
        if (is_avro_union(r)) {
                for (size_t i = 0; i < avro_schema_union_size(r); i++) {
                        avro_schema_t b = deref(avro_schema_union_branch(r, (int)i));
                        if (!matches(w, b))
                                continue;
                        /* A record branch is named in the path: detail.Funding.stage. */
                        size_t len = strlen(c->path);
                        if (is_avro_record(b))
                                snprintf(c->path + len, sizeof(c->path) - len, "%s%s",
                                         len ? "." : "", avro_schema_name(b));
                        if (check(c, w, b, depth + 1, why, why_size))
                                return -1;
                        c->path[len] = '\0';
                        return 0;
                }
                snprintf(why, why_size,
                         "field %s: the writer's %s matches no branch of the reader's union",
                         where(c),
                         is_avro_named_type(w) ? avro_schema_name(w) : avro_schema_type_name(w));
                return -1;
        }
        if (!matches(w, r)) {
                snprintf(why, why_size,
                         "field %s: the writer's %s cannot be read as the "
                         "reader's %s",
                         where(c),
                         is_avro_named_type(w) ? avro_schema_name(w) : avro_schema_type_name(w),
                         is_avro_named_type(r) ? avro_schema_name(r) : avro_schema_type_name(r));
                return -1;
        }
        if (is_avro_record(r)) {
                size_t len = strlen(c->path);
                for (int i = 0; i < (int)avro_schema_record_size(r); i++) {
                        const char *fname = avro_schema_record_field_name(r, i);
                        snprintf(c->path + len, sizeof(c->path) - len, "%s%s", len ? "." : "",
                                 fname);
                        int wi = avro_schema_record_field_get_index(w, fname);
                        if (wi < 0) {
                                if (!field_has_default(c, avro_schema_name(r), fname)) {
                                        snprintf(why, why_size,
                                                 "field %s: the reader has it without a default "
                                                 "and the writer does not have it",
                                                 c->path);
                                        return -1;
                                }
                                c->needs_defaults = true;
                        } else if (check(c, avro_schema_record_field_get_by_index(w, wi),
                                         avro_schema_record_field_get_by_index(r, i), depth + 1,
                                         why, why_size)) {
                                return -1;
                        }
                        c->path[len] = '\0';
                }
                return 0;
        }
        if (is_avro_enum(r)) {
                const json_t *rj = json_named(c->rroot, avro_schema_name(r));
                bool has_default = json_object_get(rj, "default") != NULL;
                for (int i = 0; i < avro_schema_enum_number_of_symbols(w); i++) {
                        const char *sym = avro_schema_enum_get(w, i);
                        int ri = avro_schema_enum_get_by_name(r, sym);
                        if (ri < 0 && !has_default) {
                                snprintf(why, why_size,
                                         "field %s: enum %s: the writer's symbol %s is unknown "
                                         "to the reader",
                                         where(c), avro_schema_name(r), sym);
                                return -1;
                        }
                        if (ri >= 0 && ri != i) {
                                snprintf(why, why_size,
                                         "field %s: enum %s: symbol %s is at position %d in the "
                                         "writer and %d in the reader (tecg's readers map enum "
                                         "symbols by position: append new symbols only)",
                                         where(c), avro_schema_name(r), sym, i, ri);
                                return -1;
                        }
                }
                return 0;
        }
        if (is_avro_array(r))
                return check(c, avro_schema_array_items(w), avro_schema_array_items(r), depth + 1,
                             why, why_size);
        if (is_avro_map(r))
                return check(c, avro_schema_map_values(w), avro_schema_map_values(r), depth + 1,
                             why, why_size);
        return 0;
}

tecg_err_t tecg_ctl_schema_resolve(const char *writer_json, size_t writer_len,
                                   const char *reader_json, size_t reader_len, char *why,
                                   size_t why_size) {
        tecg_err_t err = TECG_OK;
        avro_schema_t w = NULL, r = NULL;
        json_t *rroot = NULL;
        json_error_t jerr;
        if (avro_schema_from_json_length(writer_json, writer_len, &w)) {
                err = tecg_seterr(TECG_ERR_CONFIG, why, why_size, "writer schema: %s",
                                  avro_strerror());
                goto done;
        }
        if (avro_schema_from_json_length(reader_json, reader_len, &r) ||
            !(rroot = json_loadb(reader_json, reader_len, 0, &jerr))) {
                err = tecg_seterr(TECG_ERR_CONFIG, why, why_size, "reader schema: %s",
                                  avro_strerror());
                goto done;
        }
        resolve_t c = {.rroot = rroot};
        if (check(&c, w, r, 0, why, why_size)) {
                err = TECG_ERR_INVALID;
                goto done;
        }
        /* Avro-C's own answer, where it can give one: it cannot fill a
         * reader field from its default, and is only asked once the walk
         * above showed every path resolves (it crashes on some pairs that
         * do not). */
        if (!c.needs_defaults) {
                avro_value_iface_t *iface = avro_resolved_writer_new(w, r);
                if (!iface) {
                        err = tecg_seterr(TECG_ERR_INVALID, why, why_size,
                                          "Avro-C's resolver refuses the pair: %s",
                                          avro_strerror());
                        goto done;
                }
                avro_value_iface_decref(iface);
        }
done:
        if (w)
                avro_schema_decref(w);
        if (r)
                avro_schema_decref(r);
        json_decref(rroot);
        return err;
}

/* ---- the subcommand ------------------------------------------------------ */

typedef struct {
        const char *against;
} schema_opts_t;

static int on_option(void *opaque, int opt, const char *arg, char *errstr, size_t errstr_size) {
        schema_opts_t *o = opaque;
        if (opt != 'a') {
                snprintf(errstr, errstr_size, "unknown option");
                return -1;
        }
        o->against = arg;
        return 0;
}

static void show_one(bool json, const char *name, const char *fullname, uint64_t fp,
                     const char *canonical) {
        char hex[17];
        tecg_framing_fingerprint_hex(fp, hex);
        if (json)
                tecg_ctl_print_json_line(stdout, json_pack("{s:s,s:s,s:s,s:s}", "name", name,
                                                           "record", fullname, "fingerprint", hex,
                                                           "canonical", canonical));
        else
                printf("%-16s %-36s %s\n", name, fullname, hex);
}

/* The full name of a named schema's JSON ("org.tecg.X"), malloc'd. */
static char *fullname_of(const char *json, size_t len) {
        avro_schema_t s = NULL;
        char *out = NULL;
        if (avro_schema_from_json_length(json, len, &s))
                return NULL;
        if (is_avro_named_type(s)) {
                const char *ns = avro_schema_namespace(s);
                size_t n = (ns ? strlen(ns) + 1 : 0) + strlen(avro_schema_name(s)) + 1;
                if ((out = malloc(n)))
                        snprintf(out, n, "%s%s%s", ns ? ns : "", ns ? "." : "",
                                 avro_schema_name(s));
        }
        avro_schema_decref(s);
        return out;
}

static int schema_show(const tecg_ctl_t *ctl, tecg_avro_t *avro, const char *file) {
        char errstr[1024];
        int rc = TECG_CTL_EXIT_OK;
        tecg_buf_t text = TECG_BUF_INIT;
        char *canonical = NULL, *fullname = NULL;
        if (!file) {
                if (!ctl->json)
                        printf("%-16s %-36s %s\n", "NAME", "RECORD", "FINGERPRINT");
                for (size_t i = 0; i < tecg_avro_schema_count(avro); i++) {
                        const tecg_avro_schema_t *s = tecg_avro_schema_at(avro, i);
                        show_one(ctl->json, tecg_avro_schema_name(s), tecg_avro_schema_fullname(s),
                                 tecg_avro_schema_fingerprint(s), tecg_avro_schema_canonical(s));
                }
                goto done;
        }
        if (tecg_buf_read_file(&text, file, SCHEMA_FILE_MAX, "schema", errstr, sizeof(errstr))) {
                rc = tecg_ctl_fail("schema show", TECG_CTL_EXIT_FAILED, "%s", errstr);
                goto done;
        }
        if (tecg_canonical_form((const char *)text.data, text.len, &canonical, errstr,
                                sizeof(errstr)) ||
            !(fullname = fullname_of((const char *)text.data, text.len))) {
                rc = tecg_ctl_fail("schema show", TECG_CTL_EXIT_NO,
                                   "%s: not a named Avro schema%s%s", file, canonical ? "" : ": ",
                                   canonical ? "" : errstr);
                goto done;
        }
        show_one(ctl->json, file, fullname, tecg_crc64_avro(canonical, strlen(canonical)),
                 canonical);
        if (!ctl->json)
                printf("%s\n", canonical);
done:
        free(canonical);
        free(fullname);
        tecg_buf_free(&text);
        return rc;
}

/* The registry's verdict on one subject the proposed record is registered
 * under (docs/design.md §3.2). */
typedef struct {
        char subject[512];
        bool compatible;
        char why[1024];
} registry_verdict_t;

/* The subjects a producer registers the record `fullname` under: an input
 * topic's own event record under "TOPIC-value", the retraction under
 * "TOPIC-org.tecg.Retraction" on both input topics. Returns how many (0:
 * a record the producers do not register, such as the nation state). */
static int registry_subjects(const tecg_avro_t *avro, const char *prefix, const char *fullname,
                             registry_verdict_t out[2]) {
        static const struct {
                tecg_topics_id_t topic;
                tecg_event_type_t type; /* one event type the topic carries */
        } inputs[2] = {{TECG_TOPICS_CONTRIBUTIONS, TECG_EV_FUNDING},
                       {TECG_TOPICS_TRAINING, TECG_EV_TRAINING}};
        const char *retraction =
                tecg_avro_schema_fullname(tecg_avro_schema_for_type(avro, TECG_EV_RETRACTION));
        int n = 0;
        for (int i = 0; i < 2; i++) {
                const char *own =
                        tecg_avro_schema_fullname(tecg_avro_schema_for_type(avro, inputs[i].type));
                const char *record = NULL;
                if (strcmp(fullname, retraction) == 0)
                        record = retraction;
                else if (strcmp(fullname, own) != 0)
                        continue;
                char topic[256];
                snprintf(topic, sizeof(topic), "%s%s", prefix ? prefix : "",
                         tecg_topics_suffix(inputs[i].topic));
                if (tecg_registry_subject(out[n].subject, sizeof(out[n].subject), topic, record) ==
                    0)
                        n++;
        }
        return n;
}

/* Asks the registry of schema.registry.url about each subject of the
 * record: the verdict that counts when the producer registers the schema,
 * shown next to tecg's own. Returns the number of subjects asked, -1 when
 * the registry could not be asked (errstr says why). */
static int registry_check(const tecg_ctl_t *ctl, const tecg_avro_t *avro, const char *fullname,
                          const char *json, registry_verdict_t out[2], char *errstr,
                          size_t errstr_size) {
        int n = registry_subjects(avro, ctl->cc.common.topic_prefix, fullname, out);
        tecg_registry_t *reg = NULL;
        if (n == 0)
                goto done;
        if (!(reg = tecg_registry_new(ctl->cc.common.schema_registry_url, NULL, errstr,
                                      errstr_size))) {
                n = -1;
                goto done;
        }
        for (int i = 0; i < n; i++)
                if (tecg_registry_compatible(reg, out[i].subject, json, &out[i].compatible,
                                             out[i].why, sizeof(out[i].why), errstr, errstr_size)) {
                        n = -1;
                        goto done;
                }
done:
        tecg_registry_destroy(reg);
        return n;
}

static int schema_check(const tecg_ctl_t *ctl, tecg_avro_t *avro, const char *file,
                        const char *against) {
        static const char *const what[2] = {
                "backward: the proposed schema reads data written with the current one",
                "forward: the current schema reads data written with the proposed one"};
        char errstr[1024], why[2][1024];
        int rc = TECG_CTL_EXIT_OK;
        tecg_buf_t text = TECG_BUF_INIT;
        char *fullname = NULL;
        if (tecg_buf_read_file(&text, file, SCHEMA_FILE_MAX, "schema", errstr, sizeof(errstr))) {
                rc = tecg_ctl_fail("schema check", TECG_CTL_EXIT_FAILED, "%s", errstr);
                goto done;
        }
        const char *json = (const char *)text.data;
        if (!(fullname = fullname_of(json, text.len))) {
                rc = tecg_ctl_fail("schema check", TECG_CTL_EXIT_NO,
                                   "%s: not a named Avro schema: %s", file, avro_strerror());
                goto done;
        }
        const tecg_avro_schema_t *cur =
                tecg_avro_schema_by_name(avro, against ? against : fullname);
        if (!cur) {
                rc = tecg_ctl_fail("schema check", TECG_CTL_EXIT_USAGE,
                                   "no built-in schema %s%s (tecg-ctl schema show lists them)",
                                   against ? "named " : "for record ",
                                   against ? against : fullname);
                goto done;
        }
        const char *cj = tecg_avro_schema_json(cur);
        tecg_err_t res[2];
        res[0] = tecg_ctl_schema_resolve(cj, strlen(cj), json, text.len, why[0], sizeof(why[0]));
        res[1] = tecg_ctl_schema_resolve(json, text.len, cj, strlen(cj), why[1], sizeof(why[1]));
        for (int d = 0; d < 2; d++)
                if (res[d] == TECG_ERR_CONFIG) {
                        rc = tecg_ctl_fail("schema check", TECG_CTL_EXIT_NO, "%s: %s", file,
                                           why[d]);
                        goto done;
                }
        registry_verdict_t reg[2];
        int nreg = 0;
        if (ctl->cc.common.schema_registry_url &&
            (nreg = registry_check(ctl, avro, fullname, json, reg, errstr, sizeof(errstr))) < 0) {
                /* errstr names the registry (its URL redacted). */
                rc = tecg_ctl_fail("schema check", TECG_CTL_EXIT_FAILED, "%s", errstr);
                goto done;
        }
        if (ctl->json) {
                json_t *j = json_pack("{s:s,s:s,s:s}", "file", file, "record", fullname, "against",
                                      tecg_avro_schema_name(cur));
                if (ctl->cc.common.schema_registry_url) {
                        json_t *a = json_array();
                        for (int i = 0; i < nreg; i++) {
                                json_t *o = json_pack("{s:s,s:b}", "subject", reg[i].subject,
                                                      "compatible", reg[i].compatible);
                                if (reg[i].why[0])
                                        json_object_set_new(o, "reason", json_string(reg[i].why));
                                json_array_append_new(a, o);
                        }
                        json_object_set_new(j, "registry", a);
                }
                const char *names[2] = {"backward", "forward"};
                for (int d = 0; d < 2; d++) {
                        json_t *o = json_pack("{s:b}", "compatible", res[d] == TECG_OK);
                        if (res[d])
                                json_object_set_new(o, "reason", json_string(why[d]));
                        json_object_set_new(j, names[d], o);
                }
                tecg_ctl_print_json_line(stdout, j);
        } else {
                printf("%s (%s) against the built-in schema %s:\n", file, fullname,
                       tecg_avro_schema_name(cur));
                for (int d = 0; d < 2; d++)
                        printf("  %s: %s%s%s\n", what[d], res[d] ? "INCOMPATIBLE" : "compatible",
                               res[d] ? ": " : "", res[d] ? why[d] : "");
                for (int i = 0; i < nreg; i++)
                        printf("  registry, subject %s: %s%s%s\n", reg[i].subject,
                               reg[i].compatible ? "compatible" : "INCOMPATIBLE",
                               reg[i].why[0] ? ": " : "", reg[i].why);
                if (ctl->cc.common.schema_registry_url && nreg == 0)
                        printf("  registry: %s is not registered there (not an input record)\n",
                               fullname);
        }
        if (res[0] || res[1])
                rc = TECG_CTL_EXIT_NO;
        for (int i = 0; i < nreg; i++)
                if (!reg[i].compatible)
                        rc = TECG_CTL_EXIT_NO;
done:
        free(fullname);
        tecg_buf_free(&text);
        return rc;
}

int tecg_ctl_schema(int argc, char **argv) {
        static const struct option opts[] = {{"against", required_argument, NULL, 'a'},
                                             {NULL, 0, NULL, 0}};
        schema_opts_t o = {0};
        const tecg_ctl_spec_t spec = {
                .name = "schema",
                .synopsis = "schema show [FILE.avsc] | schema check [--against NAME] FILE.avsc",
                .description =
                        "show: the schemas built into tecg (name, record, fingerprint as the "
                        "wire\nbytes in hex; --json adds the Parsing Canonical Form), or a file's.\n"
                        "check: whether FILE.avsc can replace the built-in schema of the same "
                        "record\n(or --against NAME) by Avro's resolution rules, in both "
                        "directions:\nbackward (readers with the proposed schema read what was "
                        "written) and\nforward (today's readers read what the proposed schema "
                        "writes); an\nincompatible direction names the field and why. tecg "
                        "also requires enum\nsymbols to be only appended. With schema.registry.url set, the "
                        "registry is\nasked too (its compatibility rule, for each subject the "
                        "producers register\nthe record under: TOPIC-value, or "
                        "TOPIC-org.tecg.Retraction) and its verdict\nis shown next to tecg's.",
                .options_help = "  -a, --against NAME     the built-in schema to compare with "
                                "(file name without .avsc)\n",
                .exit_status = "  0  shown; or compatible both ways (and for the registry)\n"
                               "  1  incompatible in a direction or for the registry, or not an "
                               "Avro schema\n"
                               "  3  the registry could not be asked\n",
                .opts = opts,
                .shortopts = "a:",
                .min_args = 1,
                .max_args = 2,
                .on_option = on_option,
                .opaque = &o,
        };
        tecg_ctl_t ctl;
        int rc = tecg_ctl_setup(&spec, argc, argv, &ctl);
        if (rc >= 0)
                return rc;
        char errstr[1024];
        tecg_avro_t *avro = tecg_avro_new(errstr, sizeof(errstr));
        const char *sub = ctl.args[0];
        const char *file = ctl.nargs > 1 ? ctl.args[1] : NULL;
        if (!avro)
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_FAILED, "%s", errstr);
        else if (strcmp(sub, "show") == 0)
                rc = schema_show(&ctl, avro, file);
        else if (strcmp(sub, "check") == 0 && file)
                rc = schema_check(&ctl, avro, file, o.against);
        else
                rc = tecg_ctl_fail(spec.name, TECG_CTL_EXIT_USAGE, "usage: tecg-ctl %s",
                                   spec.synopsis);
        tecg_avro_destroy(avro);
        tecg_ctl_cleanup(&ctl);
        return rc;
}
