/* Manual pages in roff (man(7)), written from the same texts and tables as
 * --help: the usage text, the option table, the configuration property
 * table and the exit status. The daemons print theirs with the hidden
 * option --help-man (common/daemon.c); tools/man writes tecg.conf(5) from
 * every daemon's table. The build runs both, so an installed page cannot
 * describe another version's keys. */
#ifndef TECG_MANPAGE_H
#define TECG_MANPAGE_H

#include <stddef.h>
#include <stdio.h>

#include "conf.h"

/* One command-line option, as --help lists it and OPTIONS shows it. */
typedef struct {
        int short_name;        /* 'c'; 0 when there is only the long form */
        const char *long_name; /* "config" */
        const char *arg;       /* "FILE"; NULL when it takes none */
        const char *doc;       /* one line */
} tecg_manpage_option_t;

/* A command's page. Every text is borrowed. */
typedef struct {
        const char *name;                     /* "tecg-producer" */
        int section;                          /* 8 for a daemon, 1 for a tool */
        const char *usage;                    /* --help's text: "Usage: ..." first */
        const tecg_manpage_option_t *options; /* NULL-terminated by long_name */
        const tecg_conf_prop_t *props;        /* NULL: no configuration keys */
        const char *exit_status;              /* --help's "Exit status: ..." */
} tecg_manpage_t;

/* Prints one option as --help does: "  -c, --config FILE      doc". */
void tecg_manpage_option_help(FILE *fp, const tecg_manpage_option_t *o);

/* Writes a command's page: NAME (the first sentence of the description),
 * SYNOPSIS (the usage lines), DESCRIPTION, OPTIONS, CONFIGURATION (the
 * keys of props), EXIT STATUS and SEE ALSO. */
void tecg_manpage_write(FILE *fp, const tecg_manpage_t *page);

/* The pieces, for pages of another shape (tecg.conf(5)). */

/* .TH line and the NAME section: "name \- summary". */
void tecg_manpage_header(FILE *fp, const char *name, int section, const char *summary);

/* A section heading (.SH). */
void tecg_manpage_section(FILE *fp, const char *title);

/* --help text as roff: blank lines separate paragraphs; a paragraph with
 * indented lines (a list, a table) keeps its layout, others are filled. */
void tecg_manpage_text(FILE *fp, const char *text);

/* Every key of a property table, one tagged paragraph each: name, type,
 * description and default (secrets redacted, as --help). */
void tecg_manpage_keys(FILE *fp, const tecg_conf_prop_t *props);

/* SEE ALSO: the other pages of the tecg family than `self`. */
void tecg_manpage_see_also(FILE *fp, const char *self);

#endif
