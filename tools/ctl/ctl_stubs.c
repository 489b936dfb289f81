#include "ctl.h"
int tecg_ctl_dead_letter(int argc, char **argv) { (void)argc; (void)argv; return 3; }
int tecg_ctl_status(int argc, char **argv) { (void)argc; (void)argv; return 3; }
int tecg_ctl_schema(int argc, char **argv) { (void)argc; (void)argv; return 3; }
