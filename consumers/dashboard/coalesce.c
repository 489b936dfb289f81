#include "coalesce.h"

void tecg_coalesce_init(tecg_coalesce_t *c, int64_t max_ms) {
        c->max_ms = max_ms > 0 ? max_ms : 0;
        c->floor_ms = c->max_ms < TECG_COALESCE_FLOOR_MS ? c->max_ms : TECG_COALESCE_FLOOR_MS;
        c->window_ms = c->floor_ms;
        c->last_ms = INT64_MIN;
        c->pending = false;
        c->busy = false;
}

/* Whether the window since the last composition is still open at now. */
static bool window_open(const tecg_coalesce_t *c, int64_t now) {
        return c->last_ms != INT64_MIN && now - c->last_ms < c->window_ms;
}

void tecg_coalesce_change(tecg_coalesce_t *c, int64_t now) {
        c->pending = true;
        if (window_open(c, now))
                c->busy = true;
}

int64_t tecg_coalesce_due_in(const tecg_coalesce_t *c, int64_t now) {
        if (!c->pending)
                return -1;
        if (!window_open(c, now))
                return 0;
        return c->last_ms + c->window_ms - now;
}

void tecg_coalesce_composed(tecg_coalesce_t *c, int64_t now, int64_t cost_ms) {
        int64_t ceiling = c->max_ms;
        if (cost_ms >= 0 && cost_ms < c->max_ms / TECG_COALESCE_COST_FACTOR)
                ceiling = cost_ms * TECG_COALESCE_COST_FACTOR;
        if (ceiling < c->floor_ms)
                ceiling = c->floor_ms;
        if (c->busy)
                c->window_ms = c->window_ms > ceiling / 2 ? ceiling : 2 * c->window_ms;
        else
                c->window_ms = c->floor_ms;
        c->last_ms = now;
        c->pending = false;
        c->busy = false;
}
