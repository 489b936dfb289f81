/* When tecg-dashboard composes a new version after nation states changed
 * (docs/design.md §5.3): at once when a change comes alone, coalescing
 * only while changes keep arriving.
 *
 * The rule, over one window that adapts to the load:
 *   - a composition is due once a change is pending and `window` has
 *     passed since the last composition (at once when there was none);
 *   - a change that arrives while the window since the last composition
 *     is still open marks the period busy: the composition that follows
 *     waits for the window's end, and the window after it doubles, up to
 *     its ceiling: TECG_COALESCE_COST_FACTOR times what the last
 *     composition cost, never above max_ms (compose.interval.ms) nor
 *     below the floor;
 *   - a composition with no such change (the change came after the window
 *     had passed: nothing else was arriving) puts the window back to its
 *     floor, min(TECG_COALESCE_FLOOR_MS, max_ms).
 * So one change after a quiet spell is composed without waiting, a steady
 * trickle slower than the floor too, and a flood settles at one
 * composition per ceiling: composing then takes about a fifth of the
 * engine's time, and a version waits in proportion to what it costs to
 * make (a few ms for a mission's 26 nations), not for a fixed interval;
 * max_ms bounds the rate when compositions are slow (hundreds of nations).
 * max_ms 0: every change is composed at once.
 *
 * Pure: no clock of its own, every call takes "now" (monotonic ms) from
 * the caller, so tests drive it with a clock of their own. Not
 * thread-safe: the engine's thread owns it. */
#ifndef TECG_COALESCE_H
#define TECG_COALESCE_H

#include <stdbool.h>
#include <stdint.h>

/* The first window, and what a quiet composition goes back to: changes
 * closer together than this are a burst. 5 ms is well under what an
 * operator notices, and above the gap between the nation states of one
 * aggregator transaction, which arrive together. */
#define TECG_COALESCE_FLOOR_MS 5

/* The busy window's ceiling in multiples of a composition's cost. */
#define TECG_COALESCE_COST_FACTOR 4

typedef struct {
        int64_t max_ms;    /* the window's ceiling (compose.interval.ms) */
        int64_t floor_ms;  /* min(TECG_COALESCE_FLOOR_MS, max_ms) */
        int64_t window_ms; /* the current window */
        int64_t last_ms;   /* the last composition; INT64_MIN: none yet */
        bool pending;      /* a change not composed yet */
        bool busy;         /* a change arrived inside the open window */
} tecg_coalesce_t;

/* A coalescer with nothing pending and no composition yet. max_ms < 0 is
 * taken as 0. */
void tecg_coalesce_init(tecg_coalesce_t *c, int64_t max_ms);

/* A change arrived (or something else asks for a composition) at now. */
void tecg_coalesce_change(tecg_coalesce_t *c, int64_t now);

/* Milliseconds until the pending change is due: 0 when it is due now, -1
 * when nothing is pending. */
int64_t tecg_coalesce_due_in(const tecg_coalesce_t *c, int64_t now);

/* A composition was made at now and took cost_ms (every pending change is
 * in it): adapts the window as above. */
void tecg_coalesce_composed(tecg_coalesce_t *c, int64_t now, int64_t cost_ms);

#endif
