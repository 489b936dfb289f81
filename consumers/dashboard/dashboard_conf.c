#include "dashboard_conf.h"

#include <stddef.h>

#include "sink.h"

/* Defaults as text from sink.h's numbers, so --help shows what applies. */
#define STR(x) #x
#define XSTR(x) STR(x)

#define F(field) offsetof(tecg_dashboard_sink_conf_t, field)
static const tecg_conf_prop_t sink_props[] = {
        {.name = "url", .type = TECG_CONF_STRING, .offset = F(url),
         .flags = TECG_CONF_F_REQUIRED,
         .doc = "where every new version is POSTed (http:// or https://)"},
        {.name = "token", .type = TECG_CONF_STRING, .offset = F(token),
         .doc = "bearer token sent as Authorization: Bearer TOKEN"},
        {.name = "ca.file", .type = TECG_CONF_STRING, .offset = F(ca_file),
         .doc = "PEM bundle to verify the receiver with (default: the system's)"},
        {.name = "tls.verify", .type = TECG_CONF_BOOL, .offset = F(tls_verify),
         .defval = "true",
         .doc = "verify the receiver's TLS certificate (false is logged as a "
                "warning)"},
        {.name = "timeout.ms", .type = TECG_CONF_INT, .offset = F(timeout_ms),
         .defval = XSTR(TECG_SINK_TIMEOUT_MS), .min = 1, .max = 3600000,
         .doc = "how long one POST may take"},
        {.name = "backoff.max.ms", .type = TECG_CONF_INT, .offset = F(backoff_max_ms),
         .defval = XSTR(TECG_SINK_BACKOFF_MAX_MS), .min = 1, .max = 3600000,
         .doc = "longest wait between retries while the receiver fails"},
        {.name = NULL}};
#undef F

#define F(field) offsetof(tecg_dashboard_conf_t, field)
const tecg_conf_prop_t tecg_dashboard_conf_props[] = {
        {.name = "http.address", .type = TECG_CONF_STRING, .offset = F(http_address),
         .defval = "127.0.0.1",
         .doc = "address the HTTP API and operator page listen on"},
        {.name = "http.port", .type = TECG_CONF_INT, .offset = F(http_port),
         .defval = "8080", .min = 0, .max = 65535,
         .doc = "port of the HTTP API (0 = any free port, see http.port.file)"},
        {.name = "http.port.file", .type = TECG_CONF_STRING, .offset = F(http_port_file),
         .doc = "write the port actually listened on to this file"},
        {.name = "mission.authorized.strength", .type = TECG_CONF_INT,
         .offset = F(authorized_strength), .defval = "360", .min = 0,
         .max = 1000000000, .doc = "personnel the mission is to be staffed to, in Iraq"},
        {.name = "mission.target.in_iraq", .type = TECG_CONF_INT,
         .offset = F(target_in_iraq), .defval = "1000", .min = 0, .max = 1000000000,
         .doc = "officers to train per year in Iraq"},
        {.name = "mission.target.outside_iraq", .type = TECG_CONF_INT,
         .offset = F(target_outside_iraq), .defval = "500", .min = 0,
         .max = 1000000000, .doc = "officers to train per year outside Iraq"},
        {.name = "reporting.currency", .type = TECG_CONF_STRING,
         .offset = F(reporting_currency), .defval = "EUR",
         .doc = "currency totals are converted to (ISO 4217)"},
        {.name = "rate.", .type = TECG_CONF_PREFIX,
         .doc = "exchange rate: rate.USD = 0.8042 means 1 USD = 0.8042 reporting "
                "units (built-in 2005 rates otherwise)"},
        {.name = "sink.", .type = TECG_CONF_GROUP, .offset = F(sinks),
         .sub = sink_props, .size = sizeof(tecg_dashboard_sink_conf_t),
         .max = TECG_DASHBOARD_SINKS_MAX,
         .doc = "push sink NAME: every new dashboard version is POSTed to it "
                "(latest only while it is down)"},
        {.name = "publish.topic", .type = TECG_CONF_BOOL, .offset = F(publish_topic),
         .defval = "true",
         .doc = "write every version to <prefix>dashboards (compacted, for BI "
                "consumers)"},
        {.name = "compose.interval.ms", .type = TECG_CONF_INT,
         .offset = F(compose_interval_ms), .defval = "100", .min = 0, .max = 60000,
         .doc = "at most one new version per dashboard per interval"},
        {.name = "shutdown.timeout.ms", .type = TECG_CONF_INT,
         .offset = F(shutdown_timeout_ms), .defval = "10000", .min = 0,
         .max = 3600000,
         .doc = "on SIGTERM, how long sinks may take to deliver what is pending"},
        TECG_DAEMON_SHARED_KEYS(tecg_dashboard_conf_t, common, TECG_DAEMON_DASHBOARD),
        {.name = NULL}};
#undef F
