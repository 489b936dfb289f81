/* Exact set of (nation, event_id) pairs; the layout is described in seen.h.
 *
 * An entry in the arena is [n = event_id length][nation index][n bytes of
 * event_id]: 2 + n bytes. The hash covers the whole entry, and so does the
 * comparison, whose first byte (the length) rejects most mismatches. An
 * entry's address is (chunk << CHUNK_BITS | position) in 32 bits; 0 is never
 * an entry (chunk 0 starts with a pad byte), so a slot with offset 0 is
 * empty. */
#include "seen.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

#define CHUNK_BITS 20
#define CHUNK_MAX ((size_t)1 << CHUNK_BITS) /* 1 MiB */
#define CHUNKS_MAX ((size_t)1 << (32 - CHUNK_BITS))
#define FIRST_CHUNK 4096 /* small sets stay small */
#define ENTRY_MAX (2 + TECG_SEEN_ID_MAX)
#define TABLE_MIN 16

typedef struct {
        uint32_t off; /* arena address of the entry; 0: empty slot */
        uint32_t tag; /* high 32 bits of the entry's hash */
} slot_t;

struct tecg_seen_s {
        slot_t *slots;
        size_t cap; /* slots, or 0 before the first add */
        size_t count;
        uint8_t **chunks;
        uint32_t *used; /* bytes used per chunk */
        size_t nchunks, chunkcap;
        size_t lastsize;        /* allocated bytes of the last chunk */
        tecg_siphash_key_t key; /* random, per set */
        unsigned nnations;
        unsigned lastnation; /* of the last add: the next is likely the same */
        char nations[TECG_SEEN_NATIONS_MAX][TECG_SEEN_NATION_MAX + 1];
};

/* ------------------------------------------------------------ helpers */

static const uint8_t *entry_at(const tecg_seen_t *s, uint32_t off) {
        return s->chunks[off >> CHUNK_BITS] + (off & (CHUNK_MAX - 1));
}

/* Index of nation in the set's table, or -1. */
static int nation_find(const tecg_seen_t *s, const char *nation, size_t len) {
        if (s->lastnation < s->nnations && strncmp(s->nations[s->lastnation], nation, len + 1) == 0)
                return (int)s->lastnation;
        for (unsigned i = 0; i < s->nnations; i++)
                if (strncmp(s->nations[i], nation, len + 1) == 0)
                        return (int)i;
        return -1;
}

/* Builds the entry for (nation index, event_id) in e; its size, or 0 when
 * the id is empty or too long. */
static size_t entry_make(uint8_t e[ENTRY_MAX], int nidx, const char *id) {
        size_t n = strnlen(id, TECG_SEEN_ID_MAX + 1);
        if (n == 0 || n > TECG_SEEN_ID_MAX)
                return 0;
        e[0] = (uint8_t)n;
        e[1] = (uint8_t)nidx;
        memcpy(e + 2, id, n);
        return 2 + n;
}

/* Home slot of a tag: the tag scaled to the table (Lemire's multiply-shift
 * range reduction), so any capacity works, not only powers of two, and
 * the order of home slots is the order of tags. */
static size_t home(uint32_t tag, size_t cap) {
        return (size_t)(((uint64_t)tag * (uint64_t)cap) >> 32);
}

/* Slot index holding the entry, or of the empty slot where it would go;
 * *found says which. cap must be > 0. */
static size_t probe(const tecg_seen_t *s, const uint8_t *e, size_t size, uint64_t h, bool *found) {
        uint32_t tag = (uint32_t)(h >> 32);
        size_t i = home(tag, s->cap);

        for (;;) {
                const slot_t *sl = &s->slots[i];
                if (sl->off == 0) {
                        *found = false;
                        return i;
                }
                if (sl->tag == tag && memcmp(entry_at(s, sl->off), e, size) == 0) {
                        *found = true;
                        return i;
                }
                if (++i == s->cap)
                        i = 0;
        }
}

/* Grows the table by half. The home slot is a function of the stored tag
 * alone, so the entries move without rehashing or touching the arena, and
 * in slot order they land in the new table in (nearly) ascending order:
 * sequential writes, not a cache miss per entry. On failure the old table
 * stays. */
static int table_grow(tecg_seen_t *s) {
        size_t cap = s->cap < TABLE_MIN ? TABLE_MIN : s->cap + s->cap / 2;
        slot_t *slots;

        /* A 32-bit tag tells 2^32 home slots apart; more would be unused. */
        if (cap > ((size_t)1 << 32) || cap > SIZE_MAX / sizeof(*slots))
                return -1;
        if (!(slots = calloc(cap, sizeof(*slots))))
                return -1;
        for (size_t j = 0; j < s->cap; j++) {
                size_t i;
                if (s->slots[j].off == 0)
                        continue;
                i = home(s->slots[j].tag, cap);
                while (slots[i].off != 0)
                        if (++i == cap)
                                i = 0;
                slots[i] = s->slots[j];
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
        return 0;
}

/* Copies the entry into the arena and returns its address, or 0 when out
 * of memory or address space. The last chunk grows by doubling up to
 * CHUNK_MAX, then new full-size chunks follow: addresses never move
 * because they are (chunk, position), not pointers. */
static uint32_t arena_put(tecg_seen_t *s, const uint8_t *e, size_t size) {
        size_t last = s->nchunks - 1, pos;

        if (s->nchunks == 0 || s->used[last] + size > s->lastsize) {
                if (s->nchunks > 0 && s->lastsize < CHUNK_MAX) {
                        size_t want = s->lastsize * 2;
                        uint8_t *p;
                        if (want > CHUNK_MAX)
                                want = CHUNK_MAX;
                        if (!(p = realloc(s->chunks[last], want)))
                                return 0;
                        s->chunks[last] = p;
                        s->lastsize = want;
                }
                if (s->nchunks == 0 || s->used[last] + size > s->lastsize) {
                        size_t want = s->nchunks == 0 ? FIRST_CHUNK : CHUNK_MAX;
                        if (s->nchunks == CHUNKS_MAX)
                                return 0;
                        if (s->nchunks == s->chunkcap) {
                                size_t cap = s->chunkcap ? s->chunkcap * 2 : 4;
                                uint8_t **c = realloc(s->chunks, cap * sizeof(*c));
                                uint32_t *u;
                                if (!c)
                                        return 0;
                                s->chunks = c;
                                if (!(u = realloc(s->used, cap * sizeof(*u))))
                                        return 0;
                                s->used = u;
                                s->chunkcap = cap;
                        }
                        if (!(s->chunks[s->nchunks] = malloc(want)))
                                return 0;
                        /* Address 0 means "empty slot": pad it away. */
                        s->used[s->nchunks] = s->nchunks == 0 ? 1 : 0;
                        if (s->nchunks == 0)
                                s->chunks[0][0] = 0;
                        s->nchunks++;
                        s->lastsize = want;
                        last = s->nchunks - 1;
                }
        }
        pos = s->used[last];
        memcpy(s->chunks[last] + pos, e, size);
        s->used[last] += (uint32_t)size;
        return (uint32_t)(last << CHUNK_BITS | pos);
}

/* ------------------------------------------------------------ public */

tecg_seen_t *tecg_seen_new(void) {
        tecg_seen_t *s = calloc(1, sizeof(*s));
        if (s)
                tecg_siphash_key_random(&s->key);
        return s;
}

void tecg_seen_destroy(tecg_seen_t *seen) {
        if (!seen)
                return;
        for (size_t c = 0; c < seen->nchunks; c++)
                free(seen->chunks[c]);
        free(seen->chunks);
        free(seen->used);
        free(seen->slots);
        free(seen);
}

int tecg_seen_add(tecg_seen_t *seen, const char *nation, const char *event_id) {
        uint8_t e[ENTRY_MAX];
        size_t nlen = strnlen(nation, TECG_SEEN_NATION_MAX + 1), size, i;
        int nidx;
        uint64_t h;
        uint32_t off;
        bool found;

        if (nlen == 0 || nlen > TECG_SEEN_NATION_MAX)
                return -1;
        if ((nidx = nation_find(seen, nation, nlen)) < 0) {
                if (seen->nnations == TECG_SEEN_NATIONS_MAX)
                        return -1;
                /* Interned only once the id is known to be storable. */
                nidx = (int)seen->nnations;
        }
        if (!(size = entry_make(e, nidx, event_id)))
                return -1;
        if (seen->cap == 0 && table_grow(seen))
                return -1;
        h = tecg_siphash13(&seen->key, e, size);
        i = probe(seen, e, size, h, &found);
        if (found) {
                seen->lastnation = (unsigned)nidx;
                return 0;
        }
        /* Grown only for a new id, so a known one is reported as known
         * even when memory is short. */
        if ((seen->count + 1) * 5 > seen->cap * 4) {
                if (table_grow(seen))
                        return -1;
                i = probe(seen, e, size, h, &found);
        }
        if (!(off = arena_put(seen, e, size)))
                return -1;
        if ((unsigned)nidx == seen->nnations) {
                memcpy(seen->nations[nidx], nation, nlen + 1);
                seen->nnations++;
        }
        seen->slots[i].off = off;
        seen->slots[i].tag = (uint32_t)(h >> 32);
        seen->count++;
        seen->lastnation = (unsigned)nidx;
        return 1;
}

bool tecg_seen_contains(const tecg_seen_t *seen, const char *nation, const char *event_id) {
        uint8_t e[ENTRY_MAX];
        size_t nlen = strnlen(nation, TECG_SEEN_NATION_MAX + 1), size;
        int nidx;
        bool found;

        if (nlen == 0 || nlen > TECG_SEEN_NATION_MAX || seen->count == 0)
                return false;
        if ((nidx = nation_find(seen, nation, nlen)) < 0)
                return false;
        if (!(size = entry_make(e, nidx, event_id)))
                return false;
        probe(seen, e, size, tecg_siphash13(&seen->key, e, size), &found);
        return found;
}

size_t tecg_seen_count(const tecg_seen_t *seen) {
        return seen->count;
}

size_t tecg_seen_memory(const tecg_seen_t *seen) {
        size_t m = sizeof(*seen) + seen->cap * sizeof(*seen->slots) +
                   seen->chunkcap * (sizeof(*seen->chunks) + sizeof(*seen->used));
        for (size_t c = 0; c < seen->nchunks; c++)
                m += c + 1 == seen->nchunks ? seen->lastsize : CHUNK_MAX;
        return m;
}
