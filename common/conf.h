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
 * receives kafka.* with the prefix removed). */
#ifndef TECG_CONF_H
#define TECG_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

typedef enum {
        TECG_CONF_STRING, /* char * in the struct, owned by the tecg_conf_t */
        TECG_CONF_INT,    /* int64_t in the struct, checked against [min,max] */
        TECG_CONF_BOOL,   /* bool: true/false, yes/no, on/off, 1/0 */
        TECG_CONF_PREFIX, /* pass-through namespace, e.g. "kafka." */
} tecg_conf_type_t;

#define TECG_CONF_F_REQUIRED 0x1 /* must be set (no default) */

typedef struct {
        const char *name;
        tecg_conf_type_t type;
        size_t offset;       /* offsetof(daemon struct, field) */
        const char *defval;  /* default as text, NULL = none */
        int64_t min, max;    /* TECG_CONF_INT range */
        unsigned flags;
        const char *doc;     /* one line for --help */
} tecg_conf_prop_t;

/* A pass-through entry: key without its prefix, value, origin "file:line". */
typedef struct {
        char *key;
        char *value;
        char *origin;
} tecg_conf_kv_t;

typedef struct tecg_conf tecg_conf_t;

/* Binds a property table (terminated by an entry with name NULL) to the
 * daemon's config struct `target` and applies every default. Both are
 * borrowed and must outlive the tecg_conf_t. NULL with errstr on failure
 * (a default that does not parse is a programming error reported here). */
tecg_conf_t *tecg_conf_new(const tecg_conf_prop_t *props, void *target,
                           char *errstr, size_t errstr_size);

/* Frees the strings it stored into the target struct and itself. NULL ok. */
void tecg_conf_destroy(tecg_conf_t *conf);

/* Sets one key. `origin` (e.g. "tecg.conf:12" or "--nation") prefixes error
 * messages. Setting a key again from the same file is an error; a later
 * source (command line after file) overrides. */
tecg_err_t tecg_conf_set(tecg_conf_t *conf, const char *name,
                         const char *value, const char *origin, char *errstr,
                         size_t errstr_size);

/* Parses configuration text from (buf, len); `label` names it in errors. */
tecg_err_t tecg_conf_parse(tecg_conf_t *conf, const char *label,
                           const char *buf, size_t len, char *errstr,
                           size_t errstr_size);

/* Reads and parses a file; errors as `path:line: reason`. */
tecg_err_t tecg_conf_load_file(tecg_conf_t *conf, const char *path,
                               char *errstr, size_t errstr_size);

/* Applies command-line "KEY=VALUE" settings (the daemons' -X option) in
 * order, after the file: origin "-X". */
tecg_err_t tecg_conf_apply_sets(tecg_conf_t *conf, char *const *sets,
                                size_t count, char *errstr, size_t errstr_size);

/* Checks that every TECG_CONF_F_REQUIRED key was set. */
tecg_err_t tecg_conf_check_required(const tecg_conf_t *conf, char *errstr,
                                    size_t errstr_size);

/* The pass-through entries under `prefix` (e.g. "kafka."), in file order.
 * The array is owned by the conf. */
const tecg_conf_kv_t *tecg_conf_passthru(const tecg_conf_t *conf,
                                         const char *prefix, size_t *countp);

/* The current value of a TECG_CONF_STRING key (NULL when unset or not a
 * string key); owned by the conf. */
const char *tecg_conf_get_string(const tecg_conf_t *conf, const char *name);

/* Where a key got its value ("default", "file:line", "--flag"). */
const char *tecg_conf_origin(const tecg_conf_t *conf, const char *name);

/* Prints the configuration reference generated from the table. */
void tecg_conf_print_help(FILE *fp, const tecg_conf_prop_t *props);

/* Logs the effective configuration at debug level (pass-through values of
 * keys containing "password", "secret" or "token" are masked). */
void tecg_conf_log(const tecg_conf_t *conf, const char *facility);

#endif
