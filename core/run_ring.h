/*
 * core/run_ring.h - a worker's FIFO run queue: a growable ring that its owner
 * pushes at the tail and that both the owner and thieves take from the head
 * (the shape Go and Tokio use), with steal-half.
 *
 * Why not a LIFO Chase-Lev owner end: a prototype on this machine showed the
 * LIFO end starving actors that were put back on the queue (DESIGN.md). FIFO
 * keeps every runnable actor's wait bounded by the queue length.
 *
 * Concurrency: push_owner, pop_owner and the thief side of steal (the @thief
 * deque) only from the owning worker; steal's @victim from any thread. All
 * operations are lock-free; push_owner is wait-free unless the ring grows.
 * Items are non-NULL pointers, stored without allocation per item; the ring
 * grows by doubling and retired rings are freed in trp__run_ring_destroy()
 * (a thief may still be reading one; ring.h), so memory is bounded by
 * twice the peak length.
 */
#ifndef TRP_CORE_RUN_RING_H
#define TRP_CORE_RUN_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "invariant.h"
#include "ring.h"

struct trp__run_ring {
	/* taken by owner and thieves with CAS */
	alignas(64) _Atomic(uint64_t) head;
	/* owner only writes; thieves read */
	alignas(64) _Atomic(uint64_t) tail;
	_Atomic(struct trp__ring *) ring;
	/* owner only: rings replaced by growth, freed at destroy */
	struct trp__ring *retired;
};

static_assert(offsetof(struct trp__run_ring, tail) -
			      offsetof(struct trp__run_ring, head) ==
		      64,
	      "run ring: claimers' line, then the owner's");

/* 0 or TRP_ENOMEM. @log2_capacity: initial ring size (>= 1). */
int trp__run_ring_init(struct trp__run_ring *d, unsigned log2_capacity);
/* Frees all rings. No concurrent use; items still queued are dropped. */
void trp__run_ring_destroy(struct trp__run_ring *d);

/* Appends @item (non-NULL) at the tail. 0 or TRP_ENOMEM (ring growth). */
int trp__run_ring_push_owner(struct trp__run_ring *d, void *item);
/* Takes the oldest item, or NULL if empty. */
void *trp__run_ring_pop_owner(struct trp__run_ring *d);
/*
 * Moves about half of @victim's items (only if it holds at least
 * @min_surplus) to @thief (the caller's own deque) and returns one more
 * item to run directly, or NULL if nothing was stolen. *@moved receives the
 * number of items pushed onto @thief (may be NULL).
 */
void *trp__run_ring_steal(struct trp__run_ring *victim,
			  struct trp__run_ring *thief, uint32_t min_surplus,
			  uint32_t *moved);
/* Approximate number of items (any thread). */
uint64_t trp__run_ring_size(const struct trp__run_ring *d);

#endif /* TRP_CORE_RUN_RING_H */
