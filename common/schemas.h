/* The Avro schemas of schemas/ *.avsc, built into every binary at compile time
 * (cmake/embed_schemas.cmake). `name` is the file name without .avsc. */
#ifndef TECG_SCHEMAS_H
#define TECG_SCHEMAS_H

#include <stddef.h>

typedef struct {
        const char *name;
        const char *json;
        size_t len;
} tecg_schema_source_t;

extern const tecg_schema_source_t tecg_schema_sources[];
extern const size_t tecg_schema_source_count;

#endif
