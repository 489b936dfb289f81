/* Table-driven configuration, one table per daemon.
 *
 * A daemon describes its settings in a tecg_conf_prop_t table (name, type,
 * where it lives in the daemon's config struct, default, range, doc) and the
 * same table drives parsing, validation, defaults and --help.
 *
 * File syntax: `key = value` per line; blank lines and lines whose first
 * non-blank character is '#' are ignored (a '#' inside a value is part of the
 * value, so URLs and passwords survive). Unknown keys, bad values and keys set
 * twice in one file are errors reported as `file:line: reason`.
 *
 * Keys under a TECG_CONF_PREFIX entry (e.g. "kafka.") are not interpreted:
 * they are kept, with their origin, for the module that owns them (librdkafka
 * receives kafka.* with the prefix removed).
 *
 * Two entries make tables of tables, as librdkafka's rdkafka_conf.c does with
 * its one property table and scopes:
 *   - TECG_CONF_INCLUDE binds the entries of a shared table (the keys every
 *     daemon has, common/daemon.h) whose scope matches the including entry's,
 *     so each daemon's table is "the shared keys for my scope + my own";
 *   - TECG_CONF_GROUP is a templated group: "sink." with a sub-table {url,
 *     token, ...} accepts sink.NAME.url, sink.NAME.token... for any NAME, each
 *     NAME an instance parsed, checked and documented by the sub-table. */
#ifndef TECG_CONF_H
#define TECG_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

typedef enum {
        TECG_CONF_STRING,  /* char * in the struct, owned by the tecg_conf_t */
        TECG_CONF_INT,     /* int64_t in the struct, checked against [min,max] */
        TECG_CONF_BOOL,    /* bool: true/false, yes/no, on/off, 1/0 */
        TECG_CONF_PREFIX,  /* pass-through namespace, e.g. "kafka." */
        TECG_CONF_GROUP,   /* "sink." + NAME + "." + a key of `sub`; the field
                            * is a tecg_conf_group_t */
        TECG_CONF_INCLUDE, /* the entries of `sub` in this entry's scope, their
                            * offsets relative to `offset`; name "" */
} tecg_conf_type_t;

/* Must be set (no default); in a group's sub-table: every instance must set
 * it. */
#define TECG_CONF_F_REQUIRED 0x1

/* Use designated initializers ({.name = ..., .type = ...}): the fields a
 * kind of entry does not use stay zero. */
typedef struct tecg_conf_prop {
        const char *name;
        tecg_conf_type_t type;
        size_t offset;      /* offsetof(daemon struct, field) */
        const char *defval; /* default as text, NULL = none */
        int64_t min, max;   /* TECG_CONF_INT range; GROUP: max instances */
        unsigned flags;
        const char *doc;                  /* one line for --help */
        const struct tecg_conf_prop *sub; /* GROUP: one instance's keys
                                           * (strings, integers, booleans);
                                           * INCLUDE: the shared table */
        size_t size;                      /* GROUP: size of the struct `sub` describes */
        unsigned scope;                   /* in a shared table: the scopes the entry
                                           * belongs to, 0 = all; INCLUDE: the scopes
                                           * taken, 0 = all */
} tecg_conf_prop_t;

/* A pass-through entry: key without its prefix, value, origin "file:line". */
typedef struct {
        char *key;
        char *value;
        char *origin;
} tecg_conf_kv_t;

/* One instance of a TECG_CONF_GROUP, e.g. sink "bi". */
typedef struct {
        const char *name;   /* "bi" of sink.bi.url */
        const char *origin; /* the key that named it first, "file:line" */
        void *data;         /* the struct the group's sub-table describes */
} tecg_conf_group_item_t;

/* The field a TECG_CONF_GROUP entry binds: its instances in the order they
 * first appeared. Everything it points to is owned by the tecg_conf_t. */
typedef struct {
        size_t count;
        const tecg_conf_group_item_t *items;
} tecg_conf_group_t;

typedef struct tecg_conf tecg_conf_t;

/* Binds a property table (terminated by an entry with name NULL) to the
 * daemon's config struct `target` and applies every default. Both are
 * borrowed and must outlive the tecg_conf_t. NULL with errstr on failure
 * (a default that does not parse is a programming error reported here). */
tecg_conf_t *tecg_conf_new(const tecg_conf_prop_t *props, void *target, char *errstr,
                           size_t errstr_size);

/* Frees the strings it stored into the target struct and itself. NULL ok. */
void tecg_conf_destroy(tecg_conf_t *conf);

/* Sets one key. `origin` (e.g. "tecg.conf:12" or "--nation") prefixes error
 * messages. Setting a key again from the same file is an error; a later
 * source (command line after file) overrides. */
tecg_err_t tecg_conf_set(tecg_conf_t *conf, const char *name, const char *value, const char *origin,
                         char *errstr, size_t errstr_size);

/* Parses configuration text from (buf, len); `label` names it in errors. */
tecg_err_t tecg_conf_parse(tecg_conf_t *conf, const char *label, const char *buf, size_t len,
                           char *errstr, size_t errstr_size);

/* Reads and parses a file; errors as `path:line: reason`. */
tecg_err_t tecg_conf_load_file(tecg_conf_t *conf, const char *path, char *errstr,
                               size_t errstr_size);

/* Applies command-line "KEY=VALUE" settings (the daemons' -X option) in
 * order, after the file: origin "-X". */
tecg_err_t tecg_conf_apply_sets(tecg_conf_t *conf, char *const *sets, size_t count, char *errstr,
                                size_t errstr_size);

/* Checks that every TECG_CONF_F_REQUIRED key was set, and every required
 * key of each group instance ("file:line: sink bi has no sink.bi.url"). */
tecg_err_t tecg_conf_check_required(const tecg_conf_t *conf, char *errstr, size_t errstr_size);

/* The pass-through entries under `prefix` (e.g. "kafka."), in file order.
 * The array is owned by the conf. */
const tecg_conf_kv_t *tecg_conf_passthru(const tecg_conf_t *conf, const char *prefix,
                                         size_t *countp);

/* The current value of a TECG_CONF_STRING key, group keys included (NULL
 * when unset or not a string key); owned by the conf. */
const char *tecg_conf_get_string(const tecg_conf_t *conf, const char *name);

/* Where a key got its value ("default", "file:line", "--flag"). */
const char *tecg_conf_origin(const tecg_conf_t *conf, const char *name);

/* Prints the configuration reference generated from the table. */
void tecg_conf_print_help(FILE *fp, const tecg_conf_prop_t *props);

/* One documented key, as --help and the man pages (common/manpage.h) show
 * it; valid during the callback only. */
typedef struct {
        const char *name;             /* "log.level", "sink.<name>.url",
                                       * "kafka.<property>" */
        const tecg_conf_prop_t *prop; /* its entry: doc, flags, type */
        const char *type;             /* "integer [0..86400000]", "string,
                                       * required", "group of up to 8 names" */
        const char *defval;           /* the default fit to be shown (secrets
                                       * redacted), NULL when none */
} tecg_conf_doc_t;

typedef void tecg_conf_doc_cb(const tecg_conf_doc_t *doc, void *opaque);

/* Calls cb for every key a table documents, in --help order: included
 * shared keys of the table's scope, each group with its sub-keys, each
 * pass-through prefix. */
void tecg_conf_describe(const tecg_conf_prop_t *props, tecg_conf_doc_cb *cb, void *opaque);

/* One setting as tecg_conf_foreach() shows it. */
typedef struct {
        const char *key;              /* full key: "log.level", "sink.bi.url",
                                       * "kafka.acks" */
        const tecg_conf_prop_t *prop; /* its entry (a group's sub-table entry;
                                       * the PREFIX entry of a pass-through) */
        const void *field;            /* its value in the target; NULL for a
                                       * pass-through key */
        const char *value;            /* a pass-through key's text */
        const char *origin;           /* NULL while unset */
} tecg_conf_setting_t;

typedef void tecg_conf_visit_cb(const tecg_conf_setting_t *s, void *opaque);

/* Calls cb for every setting in table order: each key of the table (set or
 * not), each instance key of a group (all keys of its sub-table), each
 * pass-through key. The setting is valid during the call only. */
void tecg_conf_foreach(const tecg_conf_t *conf, tecg_conf_visit_cb *cb, void *opaque);

/* A setting's value as configuration text ("42", "true", the string, the
 * pass-through text); NULL for an unset string. May use buf. */
const char *tecg_conf_setting_text(const tecg_conf_setting_t *s, char *buf, size_t size);

/* Logs the effective configuration at debug level (pass-through values of
 * keys containing "password", "secret" or "token" are masked). */
void tecg_conf_log(const tecg_conf_t *conf, const char *facility);

#endif
