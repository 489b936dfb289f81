/* The Kafka topics of tecg, named in one place.
 *
 * Every topic is the configured `topic.prefix` (default "tecg.") followed by
 * a fixed suffix. The daemons ask here for the names they read and write;
 * deploy/kafka/topics creates the same list on a broker (a unit test
 * compares the two). */
#ifndef TECG_TOPICS_H
#define TECG_TOPICS_H

#include <stddef.h>

typedef enum {
        TECG_TOPICS_CONTRIBUTIONS = 0, /* funding, equipment, personnel events */
        TECG_TOPICS_TRAINING,          /* training-completion events */
        TECG_TOPICS_NATION_STATE,      /* per-nation totals, compacted */
        TECG_TOPICS_EVENT_IDS,         /* event_ids counted, compacted */
        TECG_TOPICS_DEAD_LETTER,       /* what the aggregator cannot count */
        TECG_TOPICS_DASHBOARDS,        /* every dashboard version, compacted */
        TECG_TOPICS__COUNT
} tecg_topics_id_t;

/* The suffix of a topic ("contributions", "nation-state"...); NULL for an
 * id out of range. Static. */
const char *tecg_topics_suffix(tecg_topics_id_t id);

/* prefix + suffix, malloc'd (the caller frees it); a NULL prefix is "".
 * NULL when out of memory or the id is out of range. */
char *tecg_topics_name(const char *prefix, tecg_topics_id_t id);

#endif
