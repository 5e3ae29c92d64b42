/*
 * core/chase_lev.h - the second run queue of a worker: a growable Chase-Lev
 * deque
 * whose owner pushes and pops the newest item and whose thieves take the
 * oldest, one per claim. The worker puts the actors a turn spawns (and
 * those it wakes while spawned work is queued) here and runs them first
 * (CAF's work-stealing order for spawns, Cilk's work-first):
 * a tree of actors spawned from behaviours then runs depth-first and only
 * the open path and its pending siblings are alive at once, while thieves
 * take the oldest - the largest pending subtrees. Actors rescheduled after
 * their turn never go here (they would run again at once and starve the
 * rest; DESIGN.md), and the worker bounds how long the oldest items can
 * wait (worker.c).
 *
 * Concurrency: push_owner and pop_owner only from the owning worker; steal
 * from any thread, the owner included. All operations are lock-free;
 * push_owner is wait-free unless the ring grows. Memory as for the FIFO
 * ring: at most twice the peak length, freed in trp__chase_lev_destroy().
 */
#ifndef TRP_CORE_CHASE_LEV_H
#define TRP_CORE_CHASE_LEV_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "invariant.h"
#include "ring.h"
#include "run_ring.h"
struct trp__chase_lev {
	/* claimed by thieves (and the owner's last item) with CAS */
	alignas(64) _Atomic(uint64_t) top;
	/* owner only writes; thieves read */
	alignas(64) _Atomic(uint64_t) bottom;
	_Atomic(struct trp__ring *) ring;
	/* owner only: rings replaced by growth, freed at destroy */
	struct trp__ring *retired;
};

static_assert(offsetof(struct trp__chase_lev, bottom) -
			      offsetof(struct trp__chase_lev, top) ==
		      64,
	      "Chase-Lev: claimers' line, then the owner's");

/* 0 or TRP_ENOMEM. @log2_capacity: initial ring size (>= 1). */
int trp__chase_lev_init(struct trp__chase_lev *q, unsigned log2_capacity);
/* Frees all rings. No concurrent use; items still queued are dropped. */
void trp__chase_lev_destroy(struct trp__chase_lev *q);
/* Pushes @item (non-NULL) as the newest. 0 or TRP_ENOMEM (growth). */
int trp__chase_lev_push_owner(struct trp__chase_lev *q, void *item);
/* Takes the newest item, or NULL if empty (or a thief took the last). */
void *trp__chase_lev_pop_owner(struct trp__chase_lev *q);
/* Takes the oldest item, or NULL if empty or lost to others 4 times. */
void *trp__chase_lev_steal(struct trp__chase_lev *q);
/*
 * Takes the oldest item of @victim to return, then up to about half of what
 * is left (oldest first, one claim each, at most 255, never more than fits
 * @thief's ring without growing) onto @thief, the caller's own FIFO; the
 * number pushed there goes to *@moved. NULL if nothing was taken.
 */
void *trp__chase_lev_steal_half(struct trp__chase_lev *victim,
				struct trp__run_ring *thief, uint32_t *moved);
/* Approximate number of items (any thread). */
uint64_t trp__chase_lev_size(const struct trp__chase_lev *q);

#endif /* TRP_CORE_CHASE_LEV_H */
