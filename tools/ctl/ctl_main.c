/* tecg-ctl: dispatch to a subcommand (ctl.h). */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

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
