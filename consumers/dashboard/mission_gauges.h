/* The mission's figures as Prometheus gauges, per nation, for Grafana
 * (deploy/grafana/tecg.json): read from the documents the dashboard
 * publishes, so /metrics says exactly what the documents say.
 *
 *   tecg_mission_strength{nation,location}       staffing: in_iraq and
 *                                                 outside_iraq per nation
 *   tecg_mission_authorized_strength             staffing total
 *   tecg_mission_fill_rate                       staffing total (when known)
 *   tecg_mission_trainees{nation,year,location}  training rows
 *   tecg_mission_trainees_target{location}       training targets per year
 *   tecg_mission_pledged{nation,currency}        funding, converted into the
 *   tecg_mission_disbursed{nation,currency}      reporting currency
 *
 * The age of each nation's last report is served by the dashboards engine
 * (tecg_dashboard_nation_report_age_seconds, dashboards.h). A document
 * not published yet adds nothing. */
#ifndef TECG_MISSION_GAUGES_H
#define TECG_MISSION_GAUGES_H

#include <stddef.h>

#include "buf.h"
#include "docstore.h"

/* Appends the gauges of whichever documents are given (JSON text, NULL
 * when not published): HELP/TYPE once per family, samples after. A
 * document that does not parse adds nothing. */
void tecg_mission_gauges_from(const char *funding, const char *staffing, const char *training,
                              tecg_buf_t *out);

/* The same from the latest documents of `store` (their names are
 * tecg_dashboard_names). */
void tecg_mission_gauges(tecg_docstore_t *store, tecg_buf_t *out);

#endif
