#include "manpage.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

/* Like --help, a page goes to a terminal or a pipe that the build reads:
 * a failed write has nobody to tell, and a short page fails the build's
 * own checks (scripts/package runs lintian on the pages). */

static const char *const family[] = {"tecg-producer(8)", "tecg-aggregator(8)", "tecg-dashboard(8)",
                                     "tecg-ctl(1)",      "tecg.conf(5)",       NULL};

/* Writes len bytes of text as roff: a backslash is \e, a hyphen \- (so a
 * copied option or file name stays ASCII), and a line that would start
 * with a control character is protected by \&. */
static void put_escaped(FILE *fp, const char *s, size_t len, bool line_start) {
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (line_start && (c == '.' || c == '\''))
                        (void)fputs("\\&", fp);
                line_start = c == '\n';
                if (c == '\\')
                        (void)fputs("\\e", fp);
                else if (c == '-')
                        (void)fputs("\\-", fp);
                else
                        (void)fputc(c, fp);
        }
}

static void put_line(FILE *fp, const char *s) {
        put_escaped(fp, s, strlen(s), true);
        (void)fputc('\n', fp);
}

/* A paragraph of --help text: [start, end) without the final newline. */
typedef struct {
        const char *start, *end;
} para_t;

/* The next paragraph at or after *pos (blank lines separate them); false
 * at the end of the text. */
static bool next_para(const char **pos, para_t *p) {
        const char *s = *pos;
        while (*s == '\n')
                s++;
        if (!*s)
                return false;
        const char *e = strstr(s, "\n\n");
        if (!e)
                e = s + strlen(s);
        p->start = s;
        p->end = e > s && e[-1] == '\n' ? e - 1 : e;
        *pos = e;
        return true;
}

/* The line [*s, eol) of a paragraph; advances *s past its newline. */
static size_t take_line(const char **s, const char *end, const char **line) {
        const char *nl = memchr(*s, '\n', (size_t)(end - *s));
        const char *e = nl ? nl : end;
        size_t n = (size_t)(e - *s);
        *line = *s;
        *s = nl ? nl + 1 : end;
        return n;
}

static const char *skip_blanks(const char *s, const char *end) {
        while (s < end && (*s == ' ' || *s == '\t'))
                s++;
        return s;
}

/* A usage paragraph: "Usage: ..." or only command lines ("   name ..."). */
static bool is_synopsis(const para_t *p, const char *name) {
        if (strncmp(p->start, "Usage: ", 7) == 0)
                return true;
        size_t nlen = strlen(name);
        const char *s = p->start, *line;
        while (s < p->end) {
                size_t n = take_line(&s, p->end, &line);
                const char *t = skip_blanks(line, line + n);
                if ((size_t)(line + n - t) < nlen || strncmp(t, name, nlen) != 0 ||
                    (t + nlen < line + n && t[nlen] != ' '))
                        return false;
        }
        return true;
}

/* The command lines of a usage paragraph, the name in bold. */
static void put_synopsis(FILE *fp, const para_t *p, const char *name) {
        size_t nlen = strlen(name);
        const char *s = p->start, *line;
        (void)fputs(".nf\n", fp);
        while (s < p->end) {
                size_t n = take_line(&s, p->end, &line);
                const char *t = line, *e = line + n;
                if ((size_t)n >= 7 && strncmp(t, "Usage: ", 7) == 0)
                        t += 7;
                t = skip_blanks(t, e);
                if ((size_t)(e - t) >= nlen && strncmp(t, name, nlen) == 0) {
                        (void)fputs("\\fB", fp);
                        put_escaped(fp, t, nlen, false);
                        (void)fputs("\\fR", fp);
                        t += nlen;
                }
                put_escaped(fp, t, (size_t)(e - t), t == line);
                (void)fputc('\n', fp);
        }
        (void)fputs(".fi\n", fp);
}

/* A paragraph with an indented line keeps its layout (.nf); others are
 * filled, each line trimmed so that roff does not break at it. */
static void put_para(FILE *fp, const para_t *p) {
        bool layout = false;
        const char *s = p->start, *line;
        while (s < p->end) {
                size_t n = take_line(&s, p->end, &line);
                if (n && (line[0] == ' ' || line[0] == '\t'))
                        layout = true;
        }
        (void)fputs(layout ? ".PP\n.nf\n" : ".PP\n", fp);
        s = p->start;
        while (s < p->end) {
                size_t n = take_line(&s, p->end, &line);
                const char *t = layout ? line : skip_blanks(line, line + n);
                put_escaped(fp, t, (size_t)(line + n - t), true);
                (void)fputc('\n', fp);
        }
        if (layout)
                (void)fputs(".fi\n", fp);
}

void tecg_manpage_text(FILE *fp, const char *text) {
        para_t p;
        const char *pos = text;
        while (next_para(&pos, &p))
                put_para(fp, &p);
}

void tecg_manpage_section(FILE *fp, const char *title) {
        (void)fputs(".SH ", fp);
        bool quote = strchr(title, ' ') != NULL;
        if (quote)
                (void)fputc('"', fp);
        put_escaped(fp, title, strlen(title), false);
        if (quote)
                (void)fputc('"', fp);
        (void)fputc('\n', fp);
}

void tecg_manpage_header(FILE *fp, const char *name, int section, const char *summary) {
        char upper[128] = {0};
        size_t i;
        for (i = 0; name[i] && i + 1 < sizeof(upper); i++)
                upper[i] = (char)toupper((unsigned char)name[i]);
        upper[i] = '\0';
        (void)fputs(".\\\" Generated by the program it describes (--help-man) or by tools/man\n"
                    ".\\\" from the tables behind --help. Do not edit.\n",
                    fp);
        (void)fputs(".TH ", fp);
        put_escaped(fp, upper, strlen(upper), false);
        fprintf(fp, " %d \"\" \"tecg %s\" \"tecg manual\"\n", section, TECG_VERSION);
        tecg_manpage_section(fp, "NAME");
        put_escaped(fp, name, strlen(name), true);
        (void)fputs(" \\- ", fp);
        put_line(fp, summary);
}

/* The first sentence of the description, without its capital and its
 * final stop: "publishes a nation's contribution ... to Kafka". */
static void summary_of(const para_t *p, char *buf, size_t size) {
        size_t n = 0;
        for (const char *s = p->start; s < p->end && n + 1 < size; s++) {
                char c = *s;
                if (c == '\n')
                        c = ' ';
                bool last = s + 1 == p->end || s[1] == ' ' || s[1] == '\n';
                if ((c == '.' || c == ':') && last)
                        break;
                if (c == ' ' && n && buf[n - 1] == ' ')
                        continue;
                buf[n++] = c;
        }
        buf[n] = '\0';
        if (n)
                buf[0] = (char)tolower((unsigned char)buf[0]);
}

void tecg_manpage_option_help(FILE *fp, const tecg_manpage_option_t *o) {
        char opt[64];
        snprintf(opt, sizeof(opt), "--%s%s%s", o->long_name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        if (o->short_name)
                fprintf(fp, "  -%c, %-18s %s\n", o->short_name, opt, o->doc);
        else
                fprintf(fp, "      %-18s %s\n", opt, o->doc);
}

static void put_option(FILE *fp, const tecg_manpage_option_t *o) {
        (void)fputs(".TP\n", fp);
        if (o->short_name)
                fprintf(fp, "\\fB\\-%c\\fR, ", o->short_name);
        (void)fputs("\\fB\\-\\-", fp);
        put_escaped(fp, o->long_name, strlen(o->long_name), false);
        (void)fputs("\\fR", fp);
        if (o->arg) {
                (void)fputs(" \\fI", fp);
                put_escaped(fp, o->arg, strlen(o->arg), false);
                (void)fputs("\\fR", fp);
        }
        (void)fputc('\n', fp);
        put_line(fp, o->doc);
}

static void put_key(const tecg_conf_doc_t *doc, void *opaque) {
        FILE *fp = opaque;
        (void)fputs(".TP\n\\fB", fp);
        put_escaped(fp, doc->name, strlen(doc->name), false);
        (void)fputs("\\fR (", fp);
        put_escaped(fp, doc->type, strlen(doc->type), false);
        (void)fputs(")\n", fp);
        put_escaped(fp, doc->prop->doc, strlen(doc->prop->doc), true);
        if (doc->defval) {
                (void)fputs(" (default: ", fp);
                put_escaped(fp, *doc->defval ? doc->defval : "\"\"",
                            strlen(*doc->defval ? doc->defval : "\"\""), false);
                (void)fputc(')', fp);
        }
        (void)fputc('\n', fp);
}

void tecg_manpage_keys(FILE *fp, const tecg_conf_prop_t *props) {
        tecg_conf_describe(props, put_key, fp);
}

void tecg_manpage_see_also(FILE *fp, const char *self) {
        size_t slen = strlen(self);
        bool first = true;
        tecg_manpage_section(fp, "SEE ALSO");
        for (const char *const *f = family; *f; f++) {
                if (strncmp(*f, self, slen) == 0 && (*f)[slen] == '(')
                        continue;
                const char *paren = strchr(*f, '(');
                (void)fputs(first ? "" : ",\n", fp);
                (void)fputs("\\fB", fp);
                put_escaped(fp, *f, (size_t)(paren - *f), false);
                fprintf(fp, "\\fR%s", paren);
                first = false;
        }
        (void)fputc('\n', fp);
}

void tecg_manpage_write(FILE *fp, const tecg_manpage_t *page) {
        para_t p;
        const char *pos;
        char summary[256] = "";

        /* NAME: the first paragraph that is not a usage line. */
        pos = page->usage;
        while (next_para(&pos, &p))
                if (!is_synopsis(&p, page->name)) {
                        summary_of(&p, summary, sizeof(summary));
                        break;
                }
        tecg_manpage_header(fp, page->name, page->section, summary);

        tecg_manpage_section(fp, "SYNOPSIS");
        pos = page->usage;
        while (next_para(&pos, &p))
                if (is_synopsis(&p, page->name))
                        put_synopsis(fp, &p, page->name);

        /* Usage lines after the first stay where they are too: the text
         * that follows them describes that form of the command. */
        tecg_manpage_section(fp, "DESCRIPTION");
        pos = page->usage;
        bool first = true;
        while (next_para(&pos, &p)) {
                bool synopsis = is_synopsis(&p, page->name);
                if (synopsis && first) {
                        first = false;
                        continue;
                }
                first = false;
                if (synopsis) {
                        (void)fputs(".PP\n", fp);
                        put_synopsis(fp, &p, page->name);
                } else {
                        put_para(fp, &p);
                }
        }

        if (page->options && page->options->long_name) {
                tecg_manpage_section(fp, "OPTIONS");
                for (const tecg_manpage_option_t *o = page->options; o->long_name; o++)
                        put_option(fp, o);
        }
        if (page->props) {
                tecg_manpage_section(fp, "CONFIGURATION");
                put_line(fp, "The configuration file (--config) has one key = value per line; "
                             "-X KEY=VALUE sets a key on the command line and wins over the "
                             "file. tecg.conf(5) describes the syntax.");
                tecg_manpage_keys(fp, page->props);
        }
        if (page->exit_status) {
                tecg_manpage_section(fp, "EXIT STATUS");
                const char *t = page->exit_status;
                if (strncmp(t, "Exit status: ", 13) == 0)
                        t += 13;
                tecg_manpage_text(fp, t);
        }
        tecg_manpage_see_also(fp, page->name);
}
