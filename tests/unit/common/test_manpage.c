/* The man(7) writer (common/manpage.c): --help text becomes roff that
 * neither drops nor misreads a line (escapes, control characters at a
 * line's start, lists kept as laid out), and a command's page takes its
 * NAME, SYNOPSIS and DESCRIPTION from the usage text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manpage.h"
#include "testutil.h"

/* What fn wrote, as a string the caller frees. */
#define CAPTURE(out, call)                                     \
        do {                                                   \
                size_t out##_len = 0;                          \
                FILE *fp = open_memstream(&(out), &out##_len); \
                assert_non_null(fp);                           \
                call;                                          \
                assert_int_equal(fclose(fp), 0);               \
        } while (0)

static void test_text_escapes_and_layout(void **state) {
        (void)state;
        char *out = NULL;
        CAPTURE(out, tecg_manpage_text(fp, "Filled text with a\\backslash and a-hyphen,\n"
                                           ".a line that starts with a dot\n"
                                           "'and one with a quote.\n"
                                           "\n"
                                           "A list:\n"
                                           "  incoming/   files\n"
                                           "  .hidden     kept\n"));
        assert_string_equal(out, ".PP\n"
                                 "Filled text with a\\ebackslash and a\\-hyphen,\n"
                                 "\\&.a line that starts with a dot\n"
                                 "\\&'and one with a quote.\n"
                                 ".PP\n.nf\n"
                                 "A list:\n"
                                 "  incoming/   files\n"
                                 "  .hidden     kept\n"
                                 ".fi\n");
        free(out);
}

static void test_page_sections_from_the_usage(void **state) {
        (void)state;
        static const tecg_manpage_option_t options[] = {
                {'c', "config", "FILE", "configuration file"}, {0, NULL, NULL, NULL}};
        const tecg_manpage_t page = {
                .name = "tecg-x",
                .section = 1,
                .usage = "Usage: tecg-x --config FILE\n"
                         "       tecg-x --other\n"
                         "\n"
                         "Does things to tecg.nation-state: well.\n"
                         "\n"
                         "       tecg-x --later ARG\n"
                         "\n"
                         "Then this.\n",
                .options = options,
                .exit_status = "Exit status: 0 done; 2 bad usage.\n",
        };
        char *out = NULL;
        CAPTURE(out, tecg_manpage_write(fp, &page));
        tu_assert_contains(
                out, ".TH TECG\\-X 1 \"\" \"tecg " TECG_VERSION "\" \"tecg manual\"\n",
                ".SH NAME\ntecg\\-x \\- does things to tecg.nation\\-state\n",
                ".SH SYNOPSIS\n.nf\n\\fBtecg\\-x\\fR \\-\\-config FILE\n"
                "\\fBtecg\\-x\\fR \\-\\-other\n.fi\n.nf\n\\fBtecg\\-x\\fR \\-\\-later ARG\n",
                ".SH DESCRIPTION\n.PP\nDoes things to tecg.nation\\-state: well.\n"
                ".PP\n.nf\n\\fBtecg\\-x\\fR \\-\\-later ARG\n.fi\n.PP\nThen this.\n",
                ".SH OPTIONS\n.TP\n\\fB\\-c\\fR, \\fB\\-\\-config\\fR \\fIFILE\\fR\n"
                "configuration file\n",
                ".SH \"EXIT STATUS\"\n.PP\n0 done; 2 bad usage.\n",
                ".SH \"SEE ALSO\"\n\\fBtecg\\-producer\\fR(8),\n");
        /* No keys, no CONFIGURATION section; the usage lines are not
         * repeated as the description's first paragraph. */
        assert_null(strstr(out, "CONFIGURATION"));
        assert_null(strstr(out, ".SH DESCRIPTION\n.PP\n.nf\n\\fBtecg\\-x\\fR \\-\\-config"));
        free(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_text_escapes_and_layout),
                cmocka_unit_test(test_page_sections_from_the_usage),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
