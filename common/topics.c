#include "topics.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const suffixes[TECG_TOPICS__COUNT] = {
        [TECG_TOPICS_CONTRIBUTIONS] = "contributions",
        [TECG_TOPICS_TRAINING] = "training-completions",
        [TECG_TOPICS_NATION_STATE] = "nation-state",
        [TECG_TOPICS_EVENT_IDS] = "event-ids",
        [TECG_TOPICS_DEAD_LETTER] = "dead-letter",
        [TECG_TOPICS_DASHBOARDS] = "dashboards",
};

const char *tecg_topics_suffix(tecg_topics_id_t id) {
        if ((unsigned)id >= TECG_TOPICS__COUNT)
                return NULL;
        return suffixes[id];
}

char *tecg_topics_name(const char *prefix, tecg_topics_id_t id) {
        const char *suffix = tecg_topics_suffix(id);
        char *name;
        if (!suffix || asprintf(&name, "%s%s", prefix ? prefix : "", suffix) < 0)
                return NULL;
        return name;
}
