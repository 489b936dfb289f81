/* tecg-conf-man: writes tecg.conf(5) to stdout from the property tables
 * the daemons parse and --help prints (producers/producer_conf.c,
 * consumers/aggregator/aggregator_conf.c, consumers/dashboard/
 * dashboard_conf.c, with the shared keys of common/daemon.c), so the page
 * lists exactly the keys this build accepts. Built and run by the build
 * (cmake/TecgInstall.cmake), not installed. */
#include <stdio.h>

#include "aggregator_conf.h"
#include "manpage.h"
#include "producer_conf.h"
#include "dashboard_conf.h"

#ifndef TECG_CONF_DIR
#error "TECG_CONF_DIR comes from CMakeLists.txt"
#endif

static const char syntax[] =
        "Each tecg daemon reads one configuration file, given with --config FILE. "
        "The file has one key = value per line. Blank lines and lines whose first "
        "non-blank character is # are ignored; a # inside a value is part of the value, "
        "so URLs and passwords survive. Spaces around the = and at the ends of the line "
        "do not count.\n"
        "\n"
        "An unknown key, a value of the wrong type or out of range, and a key set twice "
        "in one file are errors, reported as FILE:LINE: reason; the daemon then exits "
        "with status 2 (its systemd unit does not restart it: RestartPreventExitStatus=2). "
        "tecg-producer --check-config (and the other daemons') checks a file without "
        "starting.\n"
        "\n"
        "-X KEY=VALUE on the command line sets a key after the file and wins over it. "
        "Keys under kafka. are passed to librdkafka without the prefix (kafka.acks is "
        "librdkafka's acks) and checked by it at start-up. In keys written with <name> "
        "(sink.<name>.url) the name is any text without a dot, up to 63 bytes; each "
        "name is one instance (one sink).\n"
        "\n"
        "Values whose key names a secret (password, secret, token, key material) are "
        "never shown in logs, --help or --check-config output.\n";

static const char files[] = TECG_CONF_DIR
        "/producer-NATION.conf\n"
        "    one per nation, read by tecg-producer@NATION.service\n" TECG_CONF_DIR
        "/aggregator.conf\n"
        "    read by tecg-aggregator.service\n" TECG_CONF_DIR "/dashboard.conf\n"
        "    read by tecg-dashboard.service\n" TECG_CONF_DIR "/nations.csv\n"
        "    the mission's nations (nations.file)\n" TECG_CONF_DIR "/nation-keys.csv\n"
        "    the nations' public signing keys, beside nations.file\n" TECG_CONF_DIR
        "/*.conf.example\n"
        "    the examples the package installs, a start for each file\n";

int main(void) {
        FILE *fp = stdout;
        tecg_manpage_header(fp, "tecg.conf", 5, "configuration files of the tecg daemons");
        tecg_manpage_section(fp, "SYNOPSIS");
        tecg_manpage_text(fp, "  " TECG_CONF_DIR "/producer-NATION.conf\n"
                              "  " TECG_CONF_DIR "/aggregator.conf\n"
                              "  " TECG_CONF_DIR "/dashboard.conf\n");
        tecg_manpage_section(fp, "DESCRIPTION");
        tecg_manpage_text(fp, syntax);
        tecg_manpage_section(fp, "PRODUCER KEYS");
        tecg_manpage_text(fp, "The keys of tecg-producer(8), one file per nation.\n");
        tecg_manpage_keys(fp, tecg_producer_conf_props);
        tecg_manpage_section(fp, "AGGREGATOR KEYS");
        tecg_manpage_text(fp, "The keys of tecg-aggregator(8).\n");
        tecg_manpage_keys(fp, tecg_aggregator_conf_props);
        tecg_manpage_section(fp, "DASHBOARD KEYS");
        tecg_manpage_text(fp, "The keys of tecg-dashboard(8).\n");
        tecg_manpage_keys(fp, tecg_dashboard_conf_props);
        tecg_manpage_section(fp, "FILES");
        tecg_manpage_text(fp, files);
        tecg_manpage_see_also(fp, "tecg.conf");
        return ferror(fp) || fflush(fp) ? 1 : 0;
}
