/* The aggregator's record of every counted (nation, event_id) of its
 * partitions (docs/design.md §4.4): what became of the event (counted,
 * superseded, retracted, ...) and its effect, so a correction can take an
 * event back years after it was counted, and a disk-backed store of those
 * records so that the aggregator's memory does not grow with the history.
 *
 * Two parts:
 *
 *   - the id record and its codec: an entry of a tecg.event-ids batch
 *     record (below), the value of a per-event message written before
 *     (key NATION/event_id), and the value of the store's `ids` database. A versioned
 *     binary layout, strictly checked on decode: event-ids is our own
 *     topic, but whoever can write it must not make the aggregator count
 *     garbage. The value written before this version (the decimal input
 *     offset) decodes as TECG_ID_LEGACY;
 *
 *   - the store: one LMDB environment per aggregator in store.dir, with
 *     three databases: `ids` (be16 partition | NATION/event_id -> record),
 *     `personnel` (be16 partition | nation | role | location | occurred_at
 *     | event_id -> nothing: the ACTIVE personnel reports, for the fallback
 *     when the current one is taken back) and `meta` (per partition, the
 *     next tecg.event-ids offset the store reflects). Records of the open
 *     Kafka transaction live in an in-RAM overlay that answers lookups
 *     first; tecg_idstore_commit() writes it, with the new markers, in one
 *     LMDB transaction once the Kafka transaction is committed, and
 *     tecg_idstore_abort() drops it. The topic stays the truth: a store
 *     behind its topic catches up from its marker, a missing one is
 *     rebuilt from the start.
 *
 * Threads: a store is used by one thread. */
#ifndef TECG_IDSTORE_H
#define TECG_IDSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "event.h"

typedef enum {
        TECG_ID_ACTIVE = 1,        /* counted, its effect applied */
        TECG_ID_SUPERSEDED,        /* counted, taken back by `by` (which replaces it) */
        TECG_ID_RETRACTED,         /* counted, taken back by the retraction `by` */
        TECG_ID_LEGACY,            /* counted before records had effects: cannot be reversed */
        TECG_ID_RETRACTION,        /* a retraction, counted; `by` is its target */
        TECG_ID_PENDING_SUPERSEDE, /* not arrived yet; `by` supersedes it, `type` expected */
        TECG_ID_PENDING_RETRACT,   /* not arrived yet; `by` retracts it, `type` expected */
        TECG_ID__END
} tecg_id_status_t;

/* Metric and log names of the statuses ("active", "pending_retract"). */
extern const char *const tecg_id_status_names[TECG_ID__END];

typedef struct {
        tecg_id_status_t status;
        /* The event's own type; for PENDING_* the type the correction
         * expects; unused for LEGACY. */
        tecg_event_type_t type;
        /* The correcting event (SUPERSEDED, RETRACTED, PENDING_*) or the
         * retracted target (RETRACTION); "" otherwise. */
        char by[TECG_EVENT_ID_MAX + 1];
        /* ACTIVE, SUPERSEDED and RETRACTED carry the event minus its texts
         * (item, course, venue are NULL): what tecg_nation_state_unapply()
         * and the fallback need. */
        bool has_effect;
        tecg_event_t effect;
} tecg_id_record_t;

#define TECG_ID_RECORD_VERSION 1
#define TECG_ID_RECORD_MAX 128 /* bytes of an encoded record, at most */

/* Encodes r into out[TECG_ID_RECORD_MAX]; the length, or 0 when r breaks
 * the rules tecg_id_record_decode() checks (then nothing should be
 * written anywhere). */
size_t tecg_id_record_encode(const tecg_id_record_t *r, uint8_t *out);

/* Decodes the value of the event-ids message with key nation/event_id:
 * every byte is accounted for and every field checked (status, type, id
 * rules, enum ranges, amounts > 0, ...). A value of 1-20 ASCII digits
 * (the input offset written before records existed) is TECG_ID_LEGACY.
 * The effect's nation and event_id are filled from the key.
 * TECG_ERR_INVALID with the reason otherwise. */
tecg_err_t tecg_id_record_decode(const void *buf, size_t len, const char *nation,
                                 const char *event_id, tecg_id_record_t *r, char *errstr,
                                 size_t errstr_size);

/* ---- the batch record: the compact form of tecg.event-ids ----------------
 *
 * One message per batch (Kafka transaction) and partition holds every id
 * record the batch changed there, instead of one message per record: its
 * key is TECG_ID_BATCH_KEY_PREFIX followed by a name unique to the batch,
 * the partition and the chunk (see aggregator.c), so compaction never
 * drops one; its value is
 *
 *   u8   TECG_ID_BATCH_VERSION
 *   be32 count of entries (>= 1)
 *   count times: 3 nation, u8 length of event_id, event_id,
 *                u8 length of the record, the record (tecg_id_record_encode)
 *
 * Both forms are read on restore, in offset order (a later record of an id
 * wins), so per-event records written before stay valid. */
#define TECG_ID_BATCH_KEY_PREFIX "batch/"
#define TECG_ID_BATCH_VERSION 2
#define TECG_ID_BATCH_HEADER 5 /* version and count */
/* Bytes of one entry at most. */
#define TECG_ID_BATCH_ENTRY_MAX (3 + 1 + TECG_EVENT_ID_MAX + 1 + TECG_ID_RECORD_MAX)

/* Whether a tecg.event-ids key is a batch record's. */
bool tecg_id_batch_key(const void *key, size_t len);

/* Called for every entry of a batch record, in order; non-zero stops the
 * decoding with that error (errstr filled by the callback). */
typedef tecg_err_t (*tecg_id_batch_cb)(void *opaque, const char *nation, const char *event_id,
                                       const tecg_id_record_t *r, char *errstr, size_t errstr_size);

/* Decodes a batch record's value strictly (every byte accounted for, every
 * nation, event_id and record checked as tecg_id_record_decode() does; a
 * legacy decimal value is not an entry) and calls cb for each entry. The
 * whole value is checked before the first call, so a malformed one calls
 * nothing; cb NULL only checks. TECG_ERR_INVALID with the entry and its
 * byte offset otherwise, or the callback's error. *count (NULL ok) gets
 * the number of entries. */
tecg_err_t tecg_id_batch_decode(const void *buf, size_t len, tecg_id_batch_cb cb, void *opaque,
                                size_t *count, char *errstr, size_t errstr_size);

typedef struct tecg_idstore tecg_idstore_t;

/* Opens (creates) the store in directory `dir` (created 0750 when
 * missing) with a map of `map_bytes` (sparse: only what is written takes
 * disk). `owner` names what the store reflects (the event-ids topic): a
 * store written for another owner is emptied first, since its markers
 * mean nothing here. NULL with the reason on failure. */
tecg_idstore_t *tecg_idstore_open(const char *dir, size_t map_bytes, const char *owner,
                                  char *errstr, size_t errstr_size);

/* Closes; the overlay is dropped. NULL ok. */
void tecg_idstore_close(tecg_idstore_t *s);

/* The record of (partition, nation, event_id): the overlay's, else the
 * store's. 1 found, 0 not found, -1 on an error (a store record that does
 * not decode, LMDB failing) described in errstr. */
int tecg_idstore_get(tecg_idstore_t *s, int32_t partition, const char *nation, const char *event_id,
                     tecg_id_record_t *out, char *errstr, size_t errstr_size);

/* Sets the record in the overlay (a later put of the same id wins). */
tecg_err_t tecg_idstore_put(tecg_idstore_t *s, int32_t partition, const char *nation,
                            const char *event_id, const tecg_id_record_t *r, char *errstr,
                            size_t errstr_size);

/* The latest ACTIVE personnel report of (partition, nation, role,
 * location) with from_ms <= occurred_at <= to_ms other than exclude_id
 * (NULL: none), overlay included, by the nation state's rule (greatest
 * occurred_at, then greatest event_id).
 * 1 found (*out filled, texts NULL), 0 none, -1 on an error. */
int tecg_idstore_personnel_latest(tecg_idstore_t *s, int32_t partition, const char *nation,
                                  tecg_role_t role, tecg_location_t location, int64_t from_ms,
                                  int64_t to_ms, const char *exclude_id, tecg_event_t *out,
                                  char *errstr, size_t errstr_size);

/* Writes the overlay and, for each of the n partitions, its marker (the
 * next tecg.event-ids offset the store reflects; < 0 leaves it) in one
 * LMDB transaction, then empties the overlay. On failure the overlay is
 * dropped too: the markers did not move, so the store catches up from the
 * topic at the next restore. */
tecg_err_t tecg_idstore_commit(tecg_idstore_t *s, const int32_t *partitions, const int64_t *markers,
                               size_t n, char *errstr, size_t errstr_size);

/* Encodes the overlay's records of `partition` as a batch record value
 * into out (reset first), from overlay position *cursor on and at most
 * max_bytes long (>= TECG_ID_BATCH_HEADER + TECG_ID_BATCH_ENTRY_MAX), and
 * moves *cursor past what it took. The number of entries written; 0 when
 * none are left (out is then empty); SIZE_MAX when out of memory (or
 * max_bytes too small). Start with *cursor = 0; call again while it
 * returns more. */
size_t tecg_idstore_batch_next(const tecg_idstore_t *s, int32_t partition, size_t *cursor,
                               size_t max_bytes, tecg_buf_t *out);

/* Drops the overlay (the Kafka transaction was aborted). */
void tecg_idstore_abort(tecg_idstore_t *s);

/* Ids in the overlay. */
size_t tecg_idstore_pending(const tecg_idstore_t *s);

/* The partition's marker, or -1 when the store has none (never restored,
 * or wiped). */
int64_t tecg_idstore_marker(tecg_idstore_t *s, int32_t partition);

/* Forgets everything of the partition (records, index, marker): before a
 * rebuild from the start of tecg.event-ids. */
tecg_err_t tecg_idstore_wipe(tecg_idstore_t *s, int32_t partition, char *errstr,
                             size_t errstr_size);

/* Records held (committed) and bytes of the store file in use. */
void tecg_idstore_stats(tecg_idstore_t *s, uint64_t *ids, uint64_t *bytes);

#endif
