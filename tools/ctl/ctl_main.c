/* tecg-ctl: dispatch to a subcommand (ctl.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "manpage.h"

/* tecg-ctl(1), from the same texts as --help and the key table. */
static int print_man(void) {
        static const tecg_manpage_option_t options[] = {
                {'c', "config", "FILE",
                 "a configuration file (tecg-ctl's or a daemon's); repeatable"},
                {'X', "set", "KEY=VALUE", "set one key, after the files"},
                {'v', "verbose", NULL, "log at debug level"},
                {0, "json", NULL, "one JSON object per line instead of text"},
                {'h', "help", NULL, "describe the command, its options and keys"},
                {0, NULL, NULL, NULL}};
        char *usage = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&usage, &len);
        if (!mem)
                return TECG_CTL_EXIT_FAILED;
        tecg_ctl_print_commands(mem);
        if (fclose(mem) != 0) {
                free(usage);
                return TECG_CTL_EXIT_FAILED;
        }
        tecg_manpage_t page = {.name = "tecg-ctl",
                               .section = 1,
                               .usage = usage,
                               .options = options,
                               .props = tecg_ctl_props,
                               .exit_status = "Exit status: 0 done (the answer is yes), 1 done "
                                              "and the answer is no (a bad line, an incompatible "
                                              "schema, a dead letter not replayed, a daemon not "
                                              "healthy), 2 usage or configuration error, 3 could "
                                              "not be done (Kafka, a file, memory)."};
        tecg_manpage_write(stdout, &page);
        free(usage);
        return TECG_CTL_EXIT_OK;
}

int main(int argc, char **argv) {
        static const struct {
                const char *name;
                int (*run)(int argc, char **argv);
        } commands[] = {{"validate", tecg_ctl_validate},
                        {"decode", tecg_ctl_decode},
                        {"dead-letter", tecg_ctl_dead_letter},
                        {"status", tecg_ctl_status},
                        {"schema", tecg_ctl_schema}};
        if (argc < 2) {
                tecg_ctl_print_commands(stderr);
                return TECG_CTL_EXIT_USAGE;
        }
        const char *cmd = argv[1];
        if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
                tecg_ctl_print_commands(stdout);
                return TECG_CTL_EXIT_OK;
        }
        if (strcmp(cmd, "--help-man") == 0)
                return print_man();
        if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
                printf("tecg-ctl %s\n", TECG_VERSION);
                return TECG_CTL_EXIT_OK;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(cmd, commands[i].name) == 0)
                        return commands[i].run(argc - 1, argv + 1);
        fprintf(stderr, "tecg-ctl: unknown command '%s' (tecg-ctl --help lists them)\n", cmd);
        return TECG_CTL_EXIT_USAGE;
}
