/* The contract of docs/design.md §2 checked on a decoded event. The producer
 * validates lines before they reach Kafka, but anything can write to a
 * topic (another client, an older version, a corrupted message): the
 * aggregator counts only events that keep the contract and sends the rest
 * to the dead-letter topic with the reason this check gives. */
#ifndef TECG_CONTRACT_H
#define TECG_CONTRACT_H

#include <stddef.h>

#include "err.h"
#include "event.h"
#include "refdata.h"

/* TECG_OK, or TECG_ERR_INVALID with a reason naming the field and rule.
 * `nations` may be NULL to accept any well-formed nation code. */
tecg_err_t tecg_contract_check(const tecg_event_t *ev, const tecg_nations_t *nations, char *errstr,
                               size_t errstr_size);

#endif
