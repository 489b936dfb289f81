/* A Confluent-compatible schema registry client (docs/design.md §3: with a registry
 * configured, messages use the Confluent wire format, 00 + 4-byte schema id
 * + body). Producers register their writer schemas; consumers fetch the
 * schema of an id they do not know and teach it to the Avro codec. */
#ifndef TECG_REGISTRY_H
#define TECG_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "avro_codec.h"
#include "err.h"

typedef struct tecg_registry tecg_registry_t;

/* `url` like http://127.0.0.1:8081 (no trailing path); token optional. */
tecg_registry_t *tecg_registry_new(const char *url, const char *bearer_token, char *errstr,
                                   size_t errstr_size);
void tecg_registry_destroy(tecg_registry_t *reg);

/* The subject a writer schema is registered under. A topic carries two
 * record types (docs/design.md §3.2): its own event record, under the
 * registry's default TopicNameStrategy subject "TOPIC-value" (pass
 * record_fullname NULL), and org.tecg.Retraction, under the
 * TopicRecordNameStrategy subject "TOPIC-org.tecg.Retraction", so that
 * each subject holds one record and its compatibility checks compare
 * versions of that record only. Writes "" and returns -1 when out is too
 * small. */
int tecg_registry_subject(char *out, size_t outsz, const char *topic, const char *record_fullname);

/* POST /subjects/SUBJECT/versions: registers (or finds) the schema, gives
 * its global id. */
tecg_err_t tecg_registry_register(tecg_registry_t *reg, const char *subject,
                                  const char *schema_json, uint32_t *id, char *errstr,
                                  size_t errstr_size);

/* POST /compatibility/subjects/SUBJECT/versions/latest?verbose=true: whether
 * the registry would take schema_json as SUBJECT's next version under its
 * compatibility rule. Sets *compatible; `why` gets the registry's reasons
 * joined by "; " (Confluent gives them with verbose=true, Apicurio 3 none:
 * then ""). A subject without any version is compatible, whether the
 * registry says so (Apicurio) or answers 404 with error_code 40401
 * (Confluent; why then says "no version registered yet"). Any other answer
 * is TECG_ERR_IO with a reason in errstr. */
tecg_err_t tecg_registry_compatible(tecg_registry_t *reg, const char *subject,
                                    const char *schema_json, bool *compatible, char *why,
                                    size_t why_size, char *errstr, size_t errstr_size);

/* GET /schemas/ids/ID, then adds the schema to the codec and maps the id to
 * it, so tecg_avro_decode_event() reads messages framed with that id.
 * TECG_ERR_NOT_FOUND when the registry answers 4xx (the id is unknown for
 * good), TECG_ERR_IO when it cannot be asked now (network, 5xx). */
tecg_err_t tecg_registry_teach(tecg_registry_t *reg, tecg_avro_t *avro, uint32_t id, char *errstr,
                               size_t errstr_size);

#endif
