#include "siphash.h"

#include <sys/random.h>
#include <time.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                   \
        do {                       \
                v0 += v1;          \
                v1 = ROTL(v1, 13); \
                v1 ^= v0;          \
                v0 = ROTL(v0, 32); \
                v2 += v3;          \
                v3 = ROTL(v3, 16); \
                v3 ^= v2;          \
                v0 += v3;          \
                v3 = ROTL(v3, 21); \
                v3 ^= v0;          \
                v2 += v1;          \
                v1 = ROTL(v1, 17); \
                v1 ^= v2;          \
                v2 = ROTL(v2, 32); \
        } while (0)

/* Byte by byte, so the hash does not depend on the host's byte order;
 * compilers turn it into one load on little-endian hosts. */
static inline uint64_t load_le64(const uint8_t *p) {
        return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
               (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
               (uint64_t)p[7] << 56;
}

uint64_t tecg_siphash13(const tecg_siphash_key_t *key, const void *data, size_t len) {
        const uint8_t *in = data;
        uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ key->k0;
        uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ key->k1;
        uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ key->k0;
        uint64_t v3 = UINT64_C(0x7465646279746573) ^ key->k1;
        uint64_t b = (uint64_t)len << 56;
        const uint8_t *end = in + (len & ~(size_t)7);

        for (; in != end; in += 8) {
                uint64_t m = load_le64(in);
                v3 ^= m;
                SIPROUND;
                v0 ^= m;
        }
        switch (len & 7) {
        case 7:
                b |= (uint64_t)in[6] << 48; /* fall through */
        case 6:
                b |= (uint64_t)in[5] << 40; /* fall through */
        case 5:
                b |= (uint64_t)in[4] << 32; /* fall through */
        case 4:
                b |= (uint64_t)in[3] << 24; /* fall through */
        case 3:
                b |= (uint64_t)in[2] << 16; /* fall through */
        case 2:
                b |= (uint64_t)in[1] << 8; /* fall through */
        case 1:
                b |= (uint64_t)in[0]; /* fall through */
        default:
                break;
        }
        v3 ^= b;
        SIPROUND;
        v0 ^= b;
        v2 ^= 0xff;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

void tecg_siphash_key_random(tecg_siphash_key_t *key) {
        uint64_t k[2];
        if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
                struct timespec ts;
                uint64_t x;
                clock_gettime(CLOCK_REALTIME, &ts);
                x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
                x ^= (uint64_t)(uintptr_t)key;
                k[0] = splitmix64(&x);
                k[1] = splitmix64(&x);
        }
        key->k0 = k[0];
        key->k1 = k[1];
}
