/* tecg-ctl dead-letter list|show|replay. */
#ifndef TECG_CTL_DEADLETTER_H
#define TECG_CTL_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Parses a dead letter's id "PARTITION:OFFSET" (as list prints it). */
tecg_err_t tecg_ctl_dl_id_parse(const char *s, int32_t *partition, int64_t *offset, char *errstr,
                                size_t errstr_size);

/* Parses a tecg.source header, "TOPIC/PARTITION/OFFSET" (not terminated:
 * it comes from Kafka), into topic[topic_size], *partition and *offset,
 * and checks that TOPIC is one of the input topics under prefix (the
 * only topics a dead letter comes from, and the only ones a replay may
 * write to). TECG_ERR_INVALID with the reason otherwise. */
tecg_err_t tecg_ctl_dl_source_parse(const void *value, size_t len, const char *prefix, char *topic,
                                    size_t topic_size, int32_t *partition, int64_t *offset,
                                    char *errstr, size_t errstr_size);

#endif
