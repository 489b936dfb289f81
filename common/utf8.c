#include "utf8.h"

size_t tecg_utf8_seq(const unsigned char *s, size_t avail) {
        unsigned c = s[0], lo = 0x80, hi = 0xBF;
        size_t need;
        if (c < 0x80)
                return 1;
        /* The lead byte says how many continuation bytes follow; the range
         * of the first one is what rules out overlongs (E0, F0),
         * surrogates (ED) and code points above U+10FFFF (F4). C0, C1 and
         * F5-FF can only start overlongs or too-large code points. */
        if (c >= 0xC2 && c <= 0xDF)
                need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                if (c == 0xE0)
                        lo = 0xA0;
                else if (c == 0xED)
                        hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                if (c == 0xF0)
                        lo = 0x90;
                else if (c == 0xF4)
                        hi = 0x8F;
        } else
                return 0;
        if (avail <= need || s[1] < lo || s[1] > hi)
                return 0;
        for (size_t k = 2; k <= need; k++)
                if ((s[k] & 0xC0) != 0x80)
                        return 0;
        return need + 1;
}

bool tecg_utf8_valid(const void *buf, size_t len) {
        const unsigned char *s = buf;
        size_t i = 0;
        while (i < len) {
                size_t k;
                if (s[i] < 0x80) { /* ASCII runs are the common case */
                        i++;
                        continue;
                }
                if (!(k = tecg_utf8_seq(s + i, len - i)))
                        return false;
                i += k;
        }
        return true;
}

size_t tecg_utf8_count(const char *s, size_t len) {
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
                n += ((unsigned char)s[i] & 0xC0) != 0x80;
        return n;
}
