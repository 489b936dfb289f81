/* The contract of docs/design.md §2 checked on a decoded event. The producer
 * validates lines before they reach Kafka, but anything can write to a
 * topic (another client, an older version, a corrupted message): the
 * aggregator counts only events that keep the contract and sends the rest
 * to the dead-letter topic with the reason this check gives. */
#ifndef TECG_CONTRACT_H
#define TECG_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "event.h"
#include "refdata.h"

/* The fields of ev, including a retraction's (retracts, retracts_type,
 * reason) and `supersedes` (an event_id that is not the event's own).
 * TECG_OK, or TECG_ERR_INVALID with a reason naming the field and rule.
 * `nations` may be NULL to accept any well-formed nation code. */
tecg_err_t tecg_contract_check(const tecg_event_t *ev, const tecg_nations_t *nations, char *errstr,
                               size_t errstr_size);

/* The topic rule of docs/design.md §2.9 on a decoded event read from an
 * input topic: training events, and retractions of training events, on the
 * training-completions topic (training_topic true); every other event and
 * retraction on contributions. TECG_OK, or TECG_ERR_INVALID with a reason
 * naming the event's type and `topic_name`. */
tecg_err_t tecg_contract_check_topic(const tecg_event_t *ev, bool training_topic,
                                     const char *topic_name, char *errstr, size_t errstr_size);

#endif
