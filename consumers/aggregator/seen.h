/* The exact set of (nation, event_id) pairs already counted (docs/design.md §4:
 * "each event_id of a nation counts once, however often it is sent"). The
 * aggregator keeps one set per input partition, and a partition may carry
 * millions of ids, so the set is built for memory:
 *
 *   - the ids live once, packed in an arena of 1 MiB chunks as
 *     [length][nation index][event_id bytes] (no NUL, no pointer);
 *   - the table is open addressing with linear probing, 8 bytes a slot:
 *     the arena offset of the entry and the top 32 bits of its hash (the
 *     tag), so a probe touches the arena only when the tag matches. The
 *     home slot is the tag scaled to the table size, so the table can grow
 *     by half (not double) when the load would pass 0.8, and growing moves
 *     slots in order without rehashing or reading the arena;
 *   - a set interns its nations (up to 255; a partition carries a few).
 *
 * Membership is exact: a hash match is always confirmed by comparing the
 * stored bytes. The hash is SipHash-1-3 with a random key per set, so
 * national systems (semi-trusted) cannot craft ids that collide on purpose.
 *
 * Threads: a set is not thread-safe; tecg_seen_contains() may run in several
 * threads at once while nobody adds. */
#ifndef TECG_SEEN_H
#define TECG_SEEN_H

#include <stdbool.h>
#include <stddef.h>

#define TECG_SEEN_ID_MAX 255      /* bytes of an event_id the set can hold */
#define TECG_SEEN_NATION_MAX 15   /* bytes of a nation code */
#define TECG_SEEN_NATIONS_MAX 255 /* distinct nations per set */

typedef struct tecg_seen_s tecg_seen_t;

/* An empty set; allocates nothing more until the first add. NULL on
 * allocation failure. */
tecg_seen_t *tecg_seen_new(void);

/* Frees the set and every id it holds. Accepts NULL. */
void tecg_seen_destroy(tecg_seen_t *seen);

/* Adds (nation, event_id); both strings are copied, never kept. Returns 1
 * when the pair was new, 0 when it was already there, -1 when it cannot be
 * stored: out of memory, an empty or too long nation or event_id (see the
 * limits above), a 256th nation, or 4 GiB of ids. On -1 the set is
 * unchanged. */
int tecg_seen_add(tecg_seen_t *seen, const char *nation, const char *event_id);

/* True when (nation, event_id) was added. */
bool tecg_seen_contains(const tecg_seen_t *seen, const char *nation, const char *event_id);

/* Number of distinct pairs held. */
size_t tecg_seen_count(const tecg_seen_t *seen);

/* Bytes the set holds on the heap (table, arena chunks at their allocated
 * size, bookkeeping), for metrics and the memory benchmark. */
size_t tecg_seen_memory(const tecg_seen_t *seen);

#endif
