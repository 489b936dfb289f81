#include "idstore.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "siphash.h"

const char *const tecg_id_status_names[TECG_ID__END] = {
        "",       "active",     "superseded",        "retracted",
        "legacy", "retraction", "pending_supersede", "pending_retract"};

/* ---- the record codec ----------------------------------------------------
 *
 *   u8  version (1)
 *   u8  status
 *   u8  type
 *   u8  length of `by`, then its bytes
 *   u8  has_effect (0 | 1); when 1:
 *       be64 occurred_at_ms, be32 utc_offset_min, then by type:
 *       funding    be64 amount_minor, 3 currency, u8 channel, u8 stage
 *       equipment  u8 category, be64 quantity, u8 has_value, be64 value_minor,
 *                  3 currency (zeros without a value), u8 stage
 *       personnel  u8 role, u8 location, be32 headcount
 *       training   u8 level, u8 location, be32 trainees
 *
 * The version byte (1) is never an ASCII digit, so the legacy value (the
 * input offset in decimal) cannot be mistaken for a record. */

static bool has_by(tecg_id_status_t st) {
        return st != TECG_ID_ACTIVE && st != TECG_ID_LEGACY;
}

static bool needs_effect(tecg_id_status_t st) {
        return st == TECG_ID_ACTIVE || st == TECG_ID_SUPERSEDED || st == TECG_ID_RETRACTED;
}

/* The rules shared by encode and decode; NULL or what is wrong. */
static const char *record_check(const tecg_id_record_t *r) {
        if (r->status < TECG_ID_ACTIVE || r->status >= TECG_ID__END)
                return "status out of range";
        /* A pending record names the type it expects: a counted one. */
        if (r->status == TECG_ID_RETRACTION
                    ? r->type != TECG_EV_RETRACTION
                    : (r->status != TECG_ID_LEGACY && (r->type < 0 || r->type >= TECG_EV__COUNTED)))
                return "type does not fit the status";
        size_t bylen = strnlen(r->by, sizeof(r->by));
        if (has_by(r->status) != (bylen > 0))
                return has_by(r->status) ? "status needs the correcting id"
                                         : "status has no correcting id";
        if (bylen && tecg_event_id_check(r->by, bylen))
                return "correcting id " TECG_EVENT_ID_RULE;
        if (needs_effect(r->status) != r->has_effect)
                return r->has_effect ? "status has no effect" : "status needs the effect";
        if (!r->has_effect)
                return NULL;
        const tecg_event_t *e = &r->effect;
        if (e->type != r->type)
                return "effect of another type";
        switch (e->type) {
        case TECG_EV_FUNDING:
                if (e->u.funding.amount_minor <= 0)
                        return "amount must be > 0";
                if ((unsigned)e->u.funding.channel >= TECG_CH__COUNT ||
                    (unsigned)e->u.funding.stage >= TECG_FS__COUNT)
                        return "funding enum out of range";
                if (tecg_currency_code_check(e->u.funding.currency, 3, false) ||
                    e->u.funding.currency[3])
                        return "currency " TECG_CODE3_RULE;
                break;
        case TECG_EV_EQUIPMENT:
                if ((unsigned)e->u.equipment.category >= TECG_CAT__COUNT ||
                    (unsigned)e->u.equipment.stage >= TECG_ES__COUNT)
                        return "equipment enum out of range";
                if (e->u.equipment.quantity <= 0)
                        return "quantity must be > 0";
                if (e->u.equipment.has_value
                            ? e->u.equipment.value_minor < 0 ||
                                      tecg_currency_code_check(e->u.equipment.currency, 3, false) ||
                                      e->u.equipment.currency[3]
                            : e->u.equipment.value_minor != 0 || e->u.equipment.currency[0])
                        return "equipment value and currency do not fit";
                break;
        case TECG_EV_PERSONNEL:
                if ((unsigned)e->u.personnel.role >= TECG_ROLE__COUNT ||
                    (unsigned)e->u.personnel.location >= TECG_LOC__COUNT)
                        return "personnel enum out of range";
                if (e->u.personnel.headcount < 0)
                        return "headcount must be >= 0";
                break;
        case TECG_EV_TRAINING:
                if ((unsigned)e->u.training.level >= TECG_LVL__COUNT ||
                    (unsigned)e->u.training.location >= TECG_LOC__COUNT)
                        return "training enum out of range";
                if (e->u.training.trainees <= 0)
                        return "trainees must be > 0";
                break;
        default:
                return "effect type out of range";
        }
        return NULL;
}

size_t tecg_id_record_encode(const tecg_id_record_t *r, uint8_t *out) {
        if (record_check(r))
                return 0;
        size_t n = 0, bylen = strlen(r->by);
        out[n++] = TECG_ID_RECORD_VERSION;
        out[n++] = (uint8_t)r->status;
        out[n++] = (uint8_t)(r->status == TECG_ID_LEGACY ? 0 : r->type);
        out[n++] = (uint8_t)bylen;
        memcpy(out + n, r->by, bylen);
        n += bylen;
        out[n++] = r->has_effect;
        if (!r->has_effect)
                return n;
        const tecg_event_t *e = &r->effect;
        tecg_put_be(out + n, (uint64_t)e->occurred_at_ms, 8);
        tecg_put_be(out + n + 8, (uint32_t)e->utc_offset_min, 4);
        n += 12;
        switch (e->type) {
        case TECG_EV_FUNDING:
                tecg_put_be(out + n, (uint64_t)e->u.funding.amount_minor, 8);
                memcpy(out + n + 8, e->u.funding.currency, 3);
                out[n + 11] = (uint8_t)e->u.funding.channel;
                out[n + 12] = (uint8_t)e->u.funding.stage;
                n += 13;
                break;
        case TECG_EV_EQUIPMENT:
                out[n] = (uint8_t)e->u.equipment.category;
                tecg_put_be(out + n + 1, (uint64_t)e->u.equipment.quantity, 8);
                out[n + 9] = e->u.equipment.has_value;
                tecg_put_be(out + n + 10, (uint64_t)e->u.equipment.value_minor, 8);
                memset(out + n + 18, 0, 3);
                if (e->u.equipment.has_value)
                        memcpy(out + n + 18, e->u.equipment.currency, 3);
                out[n + 21] = (uint8_t)e->u.equipment.stage;
                n += 22;
                break;
        case TECG_EV_PERSONNEL:
                out[n] = (uint8_t)e->u.personnel.role;
                out[n + 1] = (uint8_t)e->u.personnel.location;
                tecg_put_be(out + n + 2, (uint32_t)e->u.personnel.headcount, 4);
                n += 6;
                break;
        default: /* training: record_check allows nothing else */
                out[n] = (uint8_t)e->u.training.level;
                out[n + 1] = (uint8_t)e->u.training.location;
                tecg_put_be(out + n + 2, (uint32_t)e->u.training.trainees, 4);
                n += 6;
                break;
        }
        return n;
}

tecg_err_t tecg_id_record_decode(const void *buf, size_t len, const char *nation,
                                 const char *event_id, tecg_id_record_t *r, char *errstr,
                                 size_t errstr_size) {
        const uint8_t *p = buf;
        size_t n = 0, need;
        const char *why = NULL;

        memset(r, 0, sizeof(*r));
        if (len >= 1 && len <= 20) {
                size_t d = 0;
                while (d < len && p[d] >= '0' && p[d] <= '9')
                        d++;
                if (d == len) {
                        r->status = TECG_ID_LEGACY;
                        return TECG_OK;
                }
        }
        if (len < 5 || p[0] != TECG_ID_RECORD_VERSION) {
                why = len < 5 ? "shorter than a record" : "unknown record version";
                goto fail;
        }
        r->status = (tecg_id_status_t)p[1];
        r->type = (tecg_event_type_t)p[2];
        size_t bylen = p[3];
        n = 4;
        if (bylen > TECG_EVENT_ID_MAX || len < n + bylen + 1) {
                why = "correcting id too long or cut";
                goto fail;
        }
        memcpy(r->by, p + n, bylen);
        n += bylen;
        if (p[n] > 1) {
                why = "has_effect is not 0 or 1";
                goto fail;
        }
        r->has_effect = p[n++];
        if (r->status == TECG_ID_LEGACY && r->type != 0) {
                why = "legacy record with a type";
                goto fail;
        }
        if (r->has_effect) {
                static const size_t body[TECG_EV__COUNTED] = {13, 22, 6, 6};
                if ((unsigned)r->type >= TECG_EV__COUNTED) {
                        why = "effect type out of range";
                        goto fail;
                }
                need = n + 12 + body[r->type];
                if (len != need) {
                        why = "length does not fit the effect";
                        goto fail;
                }
                tecg_event_t *e = &r->effect;
                e->type = r->type;
                e->occurred_at_ms = (int64_t)tecg_get_be(p + n, 8);
                e->utc_offset_min = (int32_t)(uint32_t)tecg_get_be(p + n + 8, 4);
                if (e->utc_offset_min < -24 * 60 || e->utc_offset_min > 24 * 60) {
                        why = "utc offset out of range";
                        goto fail;
                }
                n += 12;
                switch (e->type) {
                case TECG_EV_FUNDING:
                        e->u.funding.amount_minor = (int64_t)tecg_get_be(p + n, 8);
                        memcpy(e->u.funding.currency, p + n + 8, 3);
                        e->u.funding.channel = (tecg_channel_t)p[n + 11];
                        e->u.funding.stage = (tecg_funding_stage_t)p[n + 12];
                        break;
                case TECG_EV_EQUIPMENT:
                        e->u.equipment.category = (tecg_category_t)p[n];
                        e->u.equipment.quantity = (int64_t)tecg_get_be(p + n + 1, 8);
                        if (p[n + 9] > 1) {
                                why = "has_value is not 0 or 1";
                                goto fail;
                        }
                        e->u.equipment.has_value = p[n + 9];
                        e->u.equipment.value_minor = (int64_t)tecg_get_be(p + n + 10, 8);
                        if (e->u.equipment.has_value)
                                memcpy(e->u.equipment.currency, p + n + 18, 3);
                        else if (p[n + 18] || p[n + 19] || p[n + 20]) {
                                why = "currency without a value";
                                goto fail;
                        }
                        e->u.equipment.stage = (tecg_equipment_stage_t)p[n + 21];
                        break;
                case TECG_EV_PERSONNEL:
                        e->u.personnel.role = (tecg_role_t)p[n];
                        e->u.personnel.location = (tecg_location_t)p[n + 1];
                        e->u.personnel.headcount = (int32_t)(uint32_t)tecg_get_be(p + n + 2, 4);
                        break;
                default:
                        e->u.training.level = (tecg_level_t)p[n];
                        e->u.training.location = (tecg_location_t)p[n + 1];
                        e->u.training.trainees = (int32_t)(uint32_t)tecg_get_be(p + n + 2, 4);
                        break;
                }
                snprintf(e->nation, sizeof(e->nation), "%.3s", nation);
                snprintf(e->event_id, sizeof(e->event_id), "%.64s", event_id);
        } else if (len != n) {
                why = "bytes after the record";
                goto fail;
        }
        if ((why = record_check(r)))
                goto fail;
        return TECG_OK;
fail:
        memset(r, 0, sizeof(*r));
        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "id record of %.3s/%.64s: %s",
                           nation, event_id, why);
}

/* ---- the batch record (idstore.h) ------------------------------------------ */

bool tecg_id_batch_key(const void *key, size_t len) {
        size_t plen = sizeof(TECG_ID_BATCH_KEY_PREFIX) - 1;
        return key && len > plen && memcmp(key, TECG_ID_BATCH_KEY_PREFIX, plen) == 0;
}

/* One entry at byte `at` of a batch value: its nation, event_id and record
 * checked; the offset after it in *next. NULL or what is wrong. */
static const char *batch_entry(const uint8_t *p, size_t len, size_t at, char *nation, char *id,
                               tecg_id_record_t *r, size_t *next, char *why, size_t why_size) {
        if (len - at < 3 + 1)
                return "cut before the event_id";
        memcpy(nation, p + at, 3);
        nation[3] = '\0';
        if (tecg_nation_code_check(nation, 3))
                return "nation " TECG_CODE3_RULE;
        size_t idlen = p[at + 3];
        at += 4;
        if (idlen == 0 || idlen > TECG_EVENT_ID_MAX || len - at < idlen + 1)
                return "event_id empty, too long or cut";
        memcpy(id, p + at, idlen);
        id[idlen] = '\0';
        if (tecg_event_id_check(id, idlen))
                return "event_id " TECG_EVENT_ID_RULE;
        at += idlen;
        size_t rlen = p[at++];
        if (rlen == 0 || rlen > TECG_ID_RECORD_MAX || len - at < rlen)
                return "record empty, too long or cut";
        /* Only a versioned record: the legacy decimal value is older than
         * batches and never written in one. */
        if (p[at] != TECG_ID_RECORD_VERSION)
                return "unknown record version";
        if (tecg_id_record_decode(p + at, rlen, nation, id, r, why, why_size))
                return why;
        *next = at + rlen;
        return NULL;
}

tecg_err_t tecg_id_batch_decode(const void *buf, size_t len, tecg_id_batch_cb cb, void *opaque,
                                size_t *count, char *errstr, size_t errstr_size) {
        const uint8_t *p = buf;
        char nation[4], id[TECG_EVENT_ID_MAX + 1], why[512];
        tecg_id_record_t r;
        size_t n = 0, at = 0, entry = 0;
        const char *bad = NULL;

        if (count)
                *count = 0;
        if (!p || len < TECG_ID_BATCH_HEADER) {
                bad = "shorter than a batch record";
                goto fail;
        }
        if (p[0] != TECG_ID_BATCH_VERSION) {
                bad = "unknown batch record version";
                goto fail;
        }
        n = (size_t)tecg_get_be(p + 1, 4);
        /* Each entry takes 3 + 1 + 1 + 1 + 5 bytes at least: a count that
         * cannot fit is refused before anything walks it. */
        if (n == 0 || n > (len - TECG_ID_BATCH_HEADER) / 11) {
                bad = "entry count does not fit the value";
                goto fail;
        }
        /* Twice: everything checked first, so that a malformed value hands
         * nothing to cb (once without one). */
        for (int pass = 0; pass < (cb ? 2 : 1); pass++) {
                at = TECG_ID_BATCH_HEADER;
                for (entry = 0; entry < n; entry++) {
                        size_t next = 0;
                        if ((bad = batch_entry(p, len, at, nation, id, &r, &next, why,
                                               sizeof(why))))
                                goto fail;
                        if (pass == 1 && cb) {
                                tecg_err_t err = cb(opaque, nation, id, &r, errstr, errstr_size);
                                if (err)
                                        return err;
                        }
                        at = next;
                }
                if (at != len) {
                        bad = "bytes after the last entry";
                        goto fail;
                }
        }
        if (count)
                *count = n;
        return TECG_OK;
fail:
        if (entry < n)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "batch record: entry %zu of %zu at byte %zu: %s", entry + 1, n,
                                   at, bad);
        return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size, "batch record at byte %zu: %s",
                           at, bad);
}

/* ---- the store ------------------------------------------------------------ */

#define KEY_MAX (2 + 4 + TECG_EVENT_ID_MAX) /* be16 partition | NAT/ | event_id */
#define PKEY_MAX (2 + 3 + 1 + 1 + 8 + TECG_EVENT_ID_MAX)

/* One record of the open transaction. */
typedef struct {
        uint8_t key[KEY_MAX];
        uint8_t key_len;
        int32_t partition;
        tecg_id_record_t rec;
} overlay_entry_t;

struct tecg_idstore {
        MDB_env *env;
        MDB_dbi ids, personnel, meta;
        overlay_entry_t *entries;
        size_t nentries, cap;
        uint32_t *slots; /* index + 1 into entries; 0 = empty */
        size_t nslots;   /* a power of two, > 2 * nentries */
        tecg_siphash_key_t hkey;
        /* One read transaction for the lookups between two writes (a
         * lookup per event): reset after every write, renewed on use. */
        MDB_txn *rtxn;
        bool rtxn_live;
};

static int rtxn_get(tecg_idstore_t *s, MDB_txn **txn) {
        int rc = 0;
        if (!s->rtxn)
                rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
        else if (!s->rtxn_live)
                rc = mdb_txn_renew(s->rtxn);
        s->rtxn_live = rc == 0;
        *txn = s->rtxn;
        return rc;
}

/* Before a write: the read transaction would keep seeing the old pages. */
static void rtxn_reset(tecg_idstore_t *s) {
        if (s->rtxn && s->rtxn_live)
                mdb_txn_reset(s->rtxn);
        s->rtxn_live = false;
}

static size_t id_key(uint8_t *out, int32_t partition, const char *nation, const char *event_id) {
        size_t idlen = strnlen(event_id, TECG_EVENT_ID_MAX);
        tecg_put_be(out, (uint16_t)partition, 2);
        memcpy(out + 2, nation, 3);
        out[5] = '/';
        memcpy(out + 6, event_id, idlen);
        return 6 + idlen;
}

/* Occurred_at with its sign bit flipped sorts as a signed number. */
static size_t personnel_key(uint8_t *out, int32_t partition, const char *nation, tecg_role_t role,
                            tecg_location_t loc, int64_t at_ms, const char *event_id) {
        size_t idlen = event_id ? strnlen(event_id, TECG_EVENT_ID_MAX) : 0;
        tecg_put_be(out, (uint16_t)partition, 2);
        memcpy(out + 2, nation, 3);
        out[5] = (uint8_t)role;
        out[6] = (uint8_t)loc;
        tecg_put_be(out + 7, (uint64_t)at_ms ^ UINT64_C(0x8000000000000000), 8);
        if (idlen)
                memcpy(out + 15, event_id, idlen);
        return 15 + idlen;
}

static tecg_err_t mdb_fail(int rc, const char *what, char *errstr, size_t errstr_size) {
        return tecg_seterr(rc == ENOMEM ? TECG_ERR_NOMEM : TECG_ERR_IO, errstr, errstr_size,
                           "id store: %s: %s", what, mdb_strerror(rc));
}

/* Empties the store when it was written for another owner, and names
 * the owner. */
static int claim(tecg_idstore_t *s, MDB_txn *txn, const char *owner) {
        MDB_val k = {5, (void *)"owner"}, v;
        size_t len = strlen(owner);
        int rc = mdb_get(txn, s->meta, &k, &v);
        if (rc == 0 && v.mv_size == len && memcmp(v.mv_data, owner, len) == 0)
                return 0;
        if (rc && rc != MDB_NOTFOUND)
                return rc;
        if ((rc = mdb_drop(txn, s->ids, 0)) || (rc = mdb_drop(txn, s->personnel, 0)) ||
            (rc = mdb_drop(txn, s->meta, 0)))
                return rc;
        v = (MDB_val){len, (void *)owner};
        return mdb_put(txn, s->meta, &k, &v, 0);
}

tecg_idstore_t *tecg_idstore_open(const char *dir, size_t map_bytes, const char *owner,
                                  char *errstr, size_t errstr_size) {
        MDB_txn *txn = NULL;
        int rc;
        tecg_idstore_t *s = calloc(1, sizeof(*s));
        if (!s) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                return NULL;
        }
        tecg_siphash_key_random(&s->hkey);
        if (mkdir(dir, 0750) && errno != EEXIST) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "store.dir %s: %s", dir,
                            strerror(errno));
                goto fail;
        }
        /* NOMETASYNC: a system crash may lose the last store transaction,
         * never its consistency; the marker goes back with it and the
         * store catches up from the topic. */
        if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, 3)) ||
            (rc = mdb_env_set_mapsize(s->env, map_bytes)) ||
            (rc = mdb_env_open(s->env, dir, MDB_NOMETASYNC | MDB_NOTLS, 0640))) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size, "store.dir %s: %s", dir,
                            mdb_strerror(rc));
                goto fail;
        }
        if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) ||
            (rc = mdb_dbi_open(txn, "ids", MDB_CREATE, &s->ids)) ||
            (rc = mdb_dbi_open(txn, "personnel", MDB_CREATE, &s->personnel)) ||
            (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) || (rc = claim(s, txn, owner))) {
                mdb_txn_abort(txn);
                mdb_fail(rc, dir, errstr, errstr_size);
                goto fail;
        }
        if ((rc = mdb_txn_commit(txn))) {
                mdb_fail(rc, dir, errstr, errstr_size);
                goto fail;
        }
        return s;
fail:
        tecg_idstore_close(s);
        return NULL;
}

void tecg_idstore_close(tecg_idstore_t *s) {
        if (!s)
                return;
        if (s->rtxn)
                mdb_txn_abort(s->rtxn);
        if (s->env)
                mdb_env_close(s->env);
        free(s->entries);
        free(s->slots);
        free(s);
}

/* The overlay slot of key: where it is or where it would go. */
static uint32_t *overlay_slot(const tecg_idstore_t *s, const uint8_t *key, size_t len) {
        size_t mask = s->nslots - 1;
        size_t i = (size_t)tecg_siphash13(&s->hkey, key, len) & mask;
        for (;; i = (i + 1) & mask) {
                uint32_t v = s->slots[i];
                if (!v)
                        return &s->slots[i];
                const overlay_entry_t *e = &s->entries[v - 1];
                if (e->key_len == len && memcmp(e->key, key, len) == 0)
                        return &s->slots[i];
        }
}

static const overlay_entry_t *overlay_find(const tecg_idstore_t *s, const uint8_t *key,
                                           size_t len) {
        if (!s->nentries)
                return NULL;
        uint32_t v = *overlay_slot(s, key, len);
        return v ? &s->entries[v - 1] : NULL;
}

static tecg_err_t overlay_grow(tecg_idstore_t *s) {
        if (s->nentries == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 256;
                overlay_entry_t *e = realloc(s->entries, cap * sizeof(*e));
                if (!e)
                        return TECG_ERR_NOMEM;
                s->entries = e;
                s->cap = cap;
        }
        if (2 * (s->nentries + 1) < s->nslots)
                return TECG_OK;
        size_t nslots = s->nslots ? s->nslots * 2 : 1024;
        uint32_t *slots = calloc(nslots, sizeof(*slots));
        if (!slots)
                return TECG_ERR_NOMEM;
        free(s->slots);
        s->slots = slots;
        s->nslots = nslots;
        for (size_t i = 0; i < s->nentries; i++)
                *overlay_slot(s, s->entries[i].key, s->entries[i].key_len) = (uint32_t)(i + 1);
        return TECG_OK;
}

static int store_get(tecg_idstore_t *s, MDB_txn *txn, const uint8_t *key, size_t len,
                     tecg_id_record_t *out, char *errstr, size_t errstr_size) {
        MDB_val k = {len, (void *)key}, v;
        int rc = mdb_get(txn, s->ids, &k, &v);
        if (rc == MDB_NOTFOUND)
                return 0;
        if (rc) {
                mdb_fail(rc, "get", errstr, errstr_size);
                return -1;
        }
        char nation[4], id[TECG_EVENT_ID_MAX + 1];
        memcpy(nation, key + 2, 3);
        nation[3] = '\0';
        memcpy(id, key + 6, len - 6);
        id[len - 6] = '\0';
        return tecg_id_record_decode(v.mv_data, v.mv_size, nation, id, out, errstr, errstr_size)
                       ? -1
                       : 1;
}

int tecg_idstore_get(tecg_idstore_t *s, int32_t partition, const char *nation, const char *event_id,
                     tecg_id_record_t *out, char *errstr, size_t errstr_size) {
        uint8_t key[KEY_MAX];
        size_t len = id_key(key, partition, nation, event_id);
        const overlay_entry_t *e = overlay_find(s, key, len);
        if (e) {
                *out = e->rec;
                return 1;
        }
        MDB_txn *txn;
        int rc = rtxn_get(s, &txn);
        if (rc) {
                mdb_fail(rc, "read", errstr, errstr_size);
                return -1;
        }
        return store_get(s, txn, key, len, out, errstr, errstr_size);
}

tecg_err_t tecg_idstore_put(tecg_idstore_t *s, int32_t partition, const char *nation,
                            const char *event_id, const tecg_id_record_t *r, char *errstr,
                            size_t errstr_size) {
        uint8_t key[KEY_MAX];
        size_t len = id_key(key, partition, nation, event_id);
        const char *why = record_check(r);
        if (why)
                return tecg_seterr(TECG_ERR_INVALID, errstr, errstr_size,
                                   "id record of %.3s/%.64s: %s", nation, event_id, why);
        if (overlay_grow(s))
                return tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
        uint32_t *slot = overlay_slot(s, key, len);
        if (!*slot) {
                overlay_entry_t *e = &s->entries[s->nentries++];
                memcpy(e->key, key, len);
                e->key_len = (uint8_t)len;
                e->partition = partition;
                *slot = (uint32_t)s->nentries;
        }
        overlay_entry_t *e = &s->entries[*slot - 1];
        e->rec = *r;
        /* The effect's texts are not kept (they are borrowed). */
        e->rec.effect.u = r->effect.u;
        if (r->has_effect && r->effect.type == TECG_EV_EQUIPMENT)
                e->rec.effect.u.equipment.item = NULL;
        if (r->has_effect && r->effect.type == TECG_EV_TRAINING) {
                e->rec.effect.u.training.course = NULL;
                e->rec.effect.u.training.venue = NULL;
        }
        e->rec.effect.supersedes[0] = '\0';
        return TECG_OK;
}

/* Whether a is a later report than b by the nation state's rule. */
static bool personnel_later(const tecg_event_t *a, const tecg_event_t *b) {
        if (a->occurred_at_ms != b->occurred_at_ms)
                return a->occurred_at_ms > b->occurred_at_ms;
        return strcmp(a->event_id, b->event_id) > 0;
}

int tecg_idstore_personnel_latest(tecg_idstore_t *s, int32_t partition, const char *nation,
                                  tecg_role_t role, tecg_location_t location, int64_t from_ms,
                                  int64_t to_ms, const char *exclude_id, tecg_event_t *out,
                                  char *errstr, size_t errstr_size) {
        bool found = false;
        int ret = -1, rc;
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;

        /* The overlay: its records win over the store's. */
        for (size_t i = 0; i < s->nentries; i++) {
                const overlay_entry_t *e = &s->entries[i];
                const tecg_event_t *ev = &e->rec.effect;
                if (e->partition != partition || e->rec.status != TECG_ID_ACTIVE ||
                    ev->type != TECG_EV_PERSONNEL || memcmp(ev->nation, nation, 3) != 0 ||
                    ev->u.personnel.role != role || ev->u.personnel.location != location ||
                    ev->occurred_at_ms < from_ms || ev->occurred_at_ms > to_ms ||
                    (exclude_id && strcmp(ev->event_id, exclude_id) == 0))
                        continue;
                if (!found || personnel_later(ev, out)) {
                        *out = *ev;
                        found = true;
                }
        }
        /* The store, from the latest down, skipping reports whose record the
         * overlay changed: the first left is the store's latest. */
        uint8_t prefix[PKEY_MAX], upper[PKEY_MAX];
        size_t plen = personnel_key(prefix, partition, nation, role, location, 0, NULL) - 8;
        size_t ulen = personnel_key(upper, partition, nation, role, location, to_ms, NULL);
        upper[ulen++] = 0xff; /* above every event_id of that time */
        if ((rc = rtxn_get(s, &txn)) || (rc = mdb_cursor_open(txn, s->personnel, &cur))) {
                mdb_fail(rc, "read", errstr, errstr_size);
                goto done;
        }
        MDB_val k = {ulen, upper}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        rc = rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &k, &v, MDB_LAST)
                                : mdb_cursor_get(cur, &k, &v, MDB_PREV);
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
                const uint8_t *kp = k.mv_data;
                if (k.mv_size <= 15 || memcmp(kp, prefix, plen) != 0)
                        break;
                int64_t at = (int64_t)(tecg_get_be(kp + 7, 8) ^ UINT64_C(0x8000000000000000));
                if (at < from_ms)
                        break;
                char id[TECG_EVENT_ID_MAX + 1];
                size_t idlen = k.mv_size - 15;
                if (idlen > TECG_EVENT_ID_MAX)
                        continue;
                memcpy(id, kp + 15, idlen);
                id[idlen] = '\0';
                if (exclude_id && strcmp(id, exclude_id) == 0)
                        continue;
                uint8_t ikey[KEY_MAX];
                size_t ilen = id_key(ikey, partition, nation, id);
                if (overlay_find(s, ikey, ilen))
                        continue;
                tecg_id_record_t rec;
                int got = store_get(s, txn, ikey, ilen, &rec, errstr, errstr_size);
                if (got < 0)
                        goto done;
                if (!got || rec.status != TECG_ID_ACTIVE || rec.type != TECG_EV_PERSONNEL)
                        continue; /* an index entry without its record: not a report */
                if (!found || personnel_later(&rec.effect, out)) {
                        *out = rec.effect;
                        found = true;
                }
                break;
        }
        if (rc && rc != MDB_NOTFOUND) {
                mdb_fail(rc, "personnel index", errstr, errstr_size);
                goto done;
        }
        ret = found ? 1 : 0;
done:
        if (cur)
                mdb_cursor_close(cur);
        return ret;
}

/* Writes one record and keeps the personnel index in step with it: a
 * personnel report is in the index exactly while it is ACTIVE. */
static int write_record(tecg_idstore_t *s, MDB_txn *txn, const overlay_entry_t *e) {
        uint8_t buf[TECG_ID_RECORD_MAX];
        size_t len = tecg_id_record_encode(&e->rec, buf);
        if (!len)
                return EINVAL;
        MDB_val k = {e->key_len, (void *)e->key}, v = {len, buf};
        int rc = mdb_put(txn, s->ids, &k, &v, 0);
        if (rc || !e->rec.has_effect || e->rec.effect.type != TECG_EV_PERSONNEL)
                return rc;
        const tecg_event_t *ev = &e->rec.effect;
        uint8_t pkey[PKEY_MAX];
        MDB_val pk = {personnel_key(pkey, e->partition, ev->nation, ev->u.personnel.role,
                                    ev->u.personnel.location, ev->occurred_at_ms, ev->event_id),
                      pkey};
        MDB_val pv = {0, (void *)""};
        if (e->rec.status == TECG_ID_ACTIVE)
                return mdb_put(txn, s->personnel, &pk, &pv, 0);
        rc = mdb_del(txn, s->personnel, &pk, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
}

tecg_err_t tecg_idstore_commit(tecg_idstore_t *s, const int32_t *partitions, const int64_t *markers,
                               size_t n, char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        MDB_txn *txn = NULL;
        rtxn_reset(s);
        int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc) {
                err = mdb_fail(rc, "begin", errstr, errstr_size);
                goto done;
        }
        for (size_t i = 0; i < s->nentries; i++) {
                if ((rc = write_record(s, txn, &s->entries[i]))) {
                        err = mdb_fail(rc, "write", errstr, errstr_size);
                        goto done;
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (markers[i] < 0)
                        continue;
                uint8_t kb[3] = {'m'}, vb[8];
                tecg_put_be(kb + 1, (uint16_t)partitions[i], 2);
                tecg_put_be(vb, (uint64_t)markers[i], 8);
                MDB_val k = {sizeof(kb), kb}, v = {sizeof(vb), vb};
                if ((rc = mdb_put(txn, s->meta, &k, &v, 0))) {
                        err = mdb_fail(rc, "marker", errstr, errstr_size);
                        goto done;
                }
        }
        rc = mdb_txn_commit(txn);
        txn = NULL;
        if (rc)
                err = mdb_fail(rc, "commit", errstr, errstr_size);
done:
        if (txn)
                mdb_txn_abort(txn);
        tecg_idstore_abort(s);
        return err;
}

size_t tecg_idstore_batch_next(const tecg_idstore_t *s, int32_t partition, size_t *cursor,
                               size_t max_bytes, tecg_buf_t *out) {
        size_t n = 0;
        tecg_buf_reset(out);
        if (max_bytes < TECG_ID_BATCH_HEADER + TECG_ID_BATCH_ENTRY_MAX ||
            tecg_buf_reserve(out, TECG_ID_BATCH_HEADER))
                return SIZE_MAX;
        out->data[0] = TECG_ID_BATCH_VERSION;
        out->len = TECG_ID_BATCH_HEADER;
        for (; *cursor < s->nentries; ++*cursor) {
                const overlay_entry_t *e = &s->entries[*cursor];
                if (e->partition != partition)
                        continue;
                if (out->len + TECG_ID_BATCH_ENTRY_MAX > max_bytes)
                        break;
                uint8_t entry[TECG_ID_BATCH_ENTRY_MAX];
                size_t idlen = (size_t)e->key_len - 6;
                size_t rlen = tecg_id_record_encode(&e->rec, entry + 4 + idlen + 1);
                if (!rlen || tecg_buf_reserve(out, TECG_ID_BATCH_ENTRY_MAX)) {
                        /* Out of memory (put() checked every record): a
                         * batch must never miss one silently. */
                        tecg_buf_reset(out);
                        return SIZE_MAX;
                }
                memcpy(entry, e->key + 2, 3);
                entry[3] = (uint8_t)idlen;
                memcpy(entry + 4, e->key + 6, idlen);
                entry[4 + idlen] = (uint8_t)rlen;
                memcpy(out->data + out->len, entry, 4 + idlen + 1 + rlen);
                out->len += 4 + idlen + 1 + rlen;
                n++;
        }
        if (!n) {
                tecg_buf_reset(out);
                return 0;
        }
        tecg_put_be((uint8_t *)out->data + 1, (uint32_t)n, 4);
        return n;
}

void tecg_idstore_abort(tecg_idstore_t *s) {
        if (s->nentries && s->slots)
                memset(s->slots, 0, s->nslots * sizeof(*s->slots));
        s->nentries = 0;
}

size_t tecg_idstore_pending(const tecg_idstore_t *s) {
        return s->nentries;
}

int64_t tecg_idstore_marker(tecg_idstore_t *s, int32_t partition) {
        MDB_txn *txn;
        int64_t marker = -1;
        if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
                return -1;
        uint8_t kb[3] = {'m'};
        tecg_put_be(kb + 1, (uint16_t)partition, 2);
        MDB_val k = {sizeof(kb), kb}, v;
        if (mdb_get(txn, s->meta, &k, &v) == 0 && v.mv_size == 8)
                marker = (int64_t)tecg_get_be(v.mv_data, 8);
        mdb_txn_abort(txn);
        return marker;
}

/* Deletes every key of dbi that starts with prefix. */
static int wipe_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t plen) {
        MDB_cursor *cur;
        int rc = mdb_cursor_open(txn, dbi, &cur);
        if (rc)
                return rc;
        MDB_val k = {plen, (void *)prefix}, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
             rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT)) {
                if ((rc = mdb_cursor_del(cur, 0)))
                        break;
        }
        mdb_cursor_close(cur);
        return rc == MDB_NOTFOUND || rc == 0 || rc == EINVAL ? 0 : rc;
}

tecg_err_t tecg_idstore_wipe(tecg_idstore_t *s, int32_t partition, char *errstr,
                             size_t errstr_size) {
        MDB_txn *txn;
        uint8_t prefix[2], kb[3] = {'m'};
        tecg_put_be(prefix, (uint16_t)partition, 2);
        tecg_put_be(kb + 1, (uint16_t)partition, 2);
        rtxn_reset(s);
        int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc)
                return mdb_fail(rc, "begin", errstr, errstr_size);
        MDB_val k = {sizeof(kb), kb};
        if ((rc = wipe_prefix(txn, s->ids, prefix, 2)) ||
            (rc = wipe_prefix(txn, s->personnel, prefix, 2)) ||
            ((rc = mdb_del(txn, s->meta, &k, NULL)) && rc != MDB_NOTFOUND)) {
                mdb_txn_abort(txn);
                return mdb_fail(rc, "wipe", errstr, errstr_size);
        }
        if ((rc = mdb_txn_commit(txn)))
                return mdb_fail(rc, "wipe", errstr, errstr_size);
        return TECG_OK;
}

void tecg_idstore_stats(tecg_idstore_t *s, uint64_t *ids, uint64_t *bytes) {
        MDB_txn *txn;
        MDB_stat st;
        MDB_envinfo info;
        *ids = *bytes = 0;
        if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
                return;
        if (mdb_stat(txn, s->ids, &st) == 0)
                *ids = st.ms_entries;
        mdb_txn_abort(txn);
        if (mdb_env_stat(s->env, &st) == 0 && mdb_env_info(s->env, &info) == 0)
                *bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
}
