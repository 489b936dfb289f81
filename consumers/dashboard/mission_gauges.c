#include "mission_gauges.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "compose.h"
#include "metrics.h"

static const char *const locations[] = {"in_iraq", "outside_iraq"};

/* "HELP" and "TYPE" lines of a gauge family, then its samples with
 * sample(). The exposition is grouped by tecg_metrics_group() later, but
 * a family written once here needs no regrouping. */
static void family(tecg_buf_t *out, const char *name, const char *help) {
        char line[512];
        int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
        if (n > 0 && (size_t)n < sizeof(line))
                tecg_buf_append(out, line, (size_t)n);
}

static void sample(tecg_buf_t *out, const char *name, const char *labels, double value) {
        char line[512];
        int n = labels ? snprintf(line, sizeof(line), "%s{%s} %.17g\n", name, labels, value)
                       : snprintf(line, sizeof(line), "%s %.17g\n", name, value);
        if (n > 0 && (size_t)n < sizeof(line))
                tecg_buf_append(out, line, (size_t)n);
}

/* A nation code fit for a label value: the documents hold validated
 * three-letter codes, anything else is skipped rather than escaped. */
static const char *nation_of(const json_t *row) {
        const char *code = json_string_value(json_object_get(row, "nation"));
        if (!code || strlen(code) != 3)
                return NULL;
        for (const char *p = code; *p; p++)
                if (*p < 'A' || *p > 'Z')
                        return NULL;
        return code;
}

static void staffing_gauges(const json_t *doc, tecg_buf_t *out) {
        const json_t *nations = json_object_get(doc, "nations"),
                     *total = json_object_get(doc, "total");
        const json_t *row;
        size_t i;
        char labels[96];
        family(out, "tecg_mission_strength",
               "Personnel per nation and location, latest report (staffing document).");
        json_array_foreach(nations, i, row) {
                const char *code = nation_of(row);
                if (!code)
                        continue;
                for (size_t l = 0; l < 2; l++) {
                        snprintf(labels, sizeof(labels), "nation=\"%s\",location=\"%s\"", code,
                                 locations[l]);
                        sample(out, "tecg_mission_strength", labels,
                               (double)json_integer_value(json_object_get(row, locations[l])));
                }
        }
        const json_t *authorized = json_object_get(total, "authorized_strength");
        const json_t *fill = json_object_get(total, "fill_rate");
        if (json_is_integer(authorized)) {
                family(out, "tecg_mission_authorized_strength",
                       "Personnel the mission is authorized in Iraq (mission profile).");
                sample(out, "tecg_mission_authorized_strength", NULL,
                       (double)json_integer_value(authorized));
        }
        if (json_is_number(fill)) {
                family(out, "tecg_mission_fill_rate",
                       "Personnel in Iraq over the authorized strength.");
                sample(out, "tecg_mission_fill_rate", NULL, json_number_value(fill));
        }
}

static void training_gauges(const json_t *doc, tecg_buf_t *out) {
        const json_t *nations = json_object_get(doc, "nations"),
                     *targets = json_object_get(doc, "targets");
        const json_t *row;
        size_t i;
        char labels[128];
        family(out, "tecg_mission_trainees",
               "Trainees per nation, year and location (training document).");
        json_array_foreach(nations, i, row) {
                const char *code = nation_of(row);
                const json_t *year = json_object_get(row, "year");
                if (!code || !json_is_integer(year))
                        continue;
                for (size_t l = 0; l < 2; l++) {
                        snprintf(labels, sizeof(labels),
                                 "nation=\"%s\",year=\"%lld\",location=\"%s\"", code,
                                 (long long)json_integer_value(year), locations[l]);
                        sample(out, "tecg_mission_trainees", labels,
                               (double)json_integer_value(json_object_get(
                                       json_object_get(row, locations[l]), "trainees")));
                }
        }
        family(out, "tecg_mission_trainees_target",
               "Trainees the mission aims at per year and location (mission profile).");
        for (size_t l = 0; l < 2; l++) {
                const json_t *t = json_object_get(targets, locations[l]);
                if (!json_is_integer(t))
                        continue;
                snprintf(labels, sizeof(labels), "location=\"%s\"", locations[l]);
                sample(out, "tecg_mission_trainees_target", labels, (double)json_integer_value(t));
        }
}

/* Money is a decimal string in the documents (never a float there);
 * Prometheus has doubles only, exact to the cent up to 2^53 cents. */
static void money_sample(tecg_buf_t *out, const char *name, const json_t *block, const char *code,
                         const char *currency) {
        const char *text = json_string_value(json_object_get(block, "converted"));
        char labels[96], *end = NULL;
        if (!text)
                return;
        double v = strtod(text, &end);
        if (end == text || *end)
                return;
        snprintf(labels, sizeof(labels), "nation=\"%s\",currency=\"%s\"", code, currency);
        sample(out, name, labels, v);
}

static void funding_gauges(const json_t *doc, tecg_buf_t *out) {
        const json_t *nations = json_object_get(doc, "nations"), *row;
        const char *currency = json_string_value(json_object_get(doc, "reporting_currency"));
        size_t i;
        if (!currency || strlen(currency) != 3)
                return;
        family(out, "tecg_mission_pledged",
               "Funds pledged per nation, converted into the reporting currency (currencies "
               "without a rate left out).");
        json_array_foreach(nations, i, row) {
                const char *code = nation_of(row);
                if (code)
                        money_sample(out, "tecg_mission_pledged", json_object_get(row, "pledged"),
                                     code, currency);
        }
        family(out, "tecg_mission_disbursed",
               "Funds disbursed per nation, converted into the reporting currency (currencies "
               "without a rate left out).");
        json_array_foreach(nations, i, row) {
                const char *code = nation_of(row);
                if (code)
                        money_sample(out, "tecg_mission_disbursed",
                                     json_object_get(row, "disbursed"), code, currency);
        }
}

void tecg_mission_gauges_from(const char *funding, const char *staffing, const char *training,
                              tecg_buf_t *out) {
        void (*const gauges[TECG_DASH__COUNT])(const json_t *, tecg_buf_t *) = {
                [TECG_DASH_FUNDING] = funding_gauges,
                [TECG_DASH_STAFFING] = staffing_gauges,
                [TECG_DASH_TRAINING] = training_gauges};
        const char *texts[TECG_DASH__COUNT] = {[TECG_DASH_FUNDING] = funding,
                                               [TECG_DASH_STAFFING] = staffing,
                                               [TECG_DASH_TRAINING] = training};
        for (int d = 0; d < TECG_DASH__COUNT; d++) {
                json_t *doc = texts[d] ? json_loads(texts[d], 0, NULL) : NULL;
                if (json_is_object(doc))
                        gauges[d](doc, out);
                json_decref(doc);
        }
}

void tecg_mission_gauges(tecg_docstore_t *store, tecg_buf_t *out) {
        tecg_doc_t docs[TECG_DASH__COUNT];
        memset(docs, 0, sizeof(docs));
        for (int d = 0; d < TECG_DASH__COUNT; d++)
                (void)tecg_docstore_get(store, tecg_dashboard_names[d], &docs[d]);
        tecg_mission_gauges_from(docs[TECG_DASH_FUNDING].json, docs[TECG_DASH_STAFFING].json,
                                 docs[TECG_DASH_TRAINING].json, out);
        for (int d = 0; d < TECG_DASH__COUNT; d++)
                tecg_doc_release(&docs[d]);
}
