/* The per-nation view, GET /api/nation/XXX (docs/design.md §5.10):
 * everything the dashboard knows of one listed nation, built from its
 * state alone, for the operator page's drill-down.
 *
 *   {"nation": "FRA", "name": "France", "status": "member",
 *    "version": 12, "events": 40, "as_of": RFC 3339 or null,
 *    "reporting": {"overdue_days": 35, STATUS,
 *                  "types": {"FUNDING": STATUS, "EQUIPMENT": ..., ...}},
 *    "funding": [{"channel", "stage", "currency", "amount"}],
 *    "equipment": [{"category", "stage", "quantity"}],          quantity > 0
 *    "equipment_values": [{"category", "stage", "currency", "value"}],
 *    "personnel": [{"role", "location", "headcount", "occurred_at",
 *                   "event_id"}],                               reported cells
 *    "training": [{"year", "location", "level", "trainees"}],
 *    "corrections": {"supersessions": n, "retractions": n,
 *                    "recent": [{"event_id", "target_id", "kind", "type",
 *                                "occurred_at", "before", "after",
 *                                "reason"}]},
 *    "dead_letters": {"count": n, "months": [{"month": "2005-01", "count"}],
 *                     "recent": [{"at", "stage", "reason"}]}}
 *
 * STATUS is the documents' ("last_report", "overdue", "overdue_for_days",
 * compose.h), measured at now_ms. Money is a decimal string in its own
 * currency, never converted. Pure: no I/O, no clock. */
#ifndef TECG_NATION_VIEW_H
#define TECG_NATION_VIEW_H

#include <stdint.h>

#include <jansson.h>

#include "mission.h"
#include "nation_state.h"
#include "refdata.h"

/* The view of `nation` (of the list) whose state is `st` (NULL: it never
 * reported). The caller json_decref()s it; NULL when out of memory. */
json_t *tecg_nation_view(const tecg_mission_t *m, const tecg_nation_t *nation,
                         const tecg_nation_state_t *st, int64_t now_ms);

#endif
