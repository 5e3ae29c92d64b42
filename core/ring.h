/*
 * core/ring.h - the growable circular array under both run queues
 * (run_ring.h, chase_lev.h): a power-of-two array of pointer slots that
 * its owner doubles when full, keeping replaced arrays until destroy
 * because a thief may still be reading one.
 *
 * Concurrency: the owner pushes and grows; thieves read slots. The queue
 * built on it owns the two 64-bit positions (the owner's end, where it
 * pushes, and the far end, where items are claimed) and their claim
 * protocol; this file only needs the owner to read the far end with
 * acquire before reusing slots (see trp__ring_push_owner).
 */
#ifndef TRP_CORE_RING_H
#define TRP_CORE_RING_H

#include <stdatomic.h>
#include <stdint.h>

struct trp__ring {
	uint64_t mask;
	struct trp__ring *older; /* retired list link (owner only) */
	_Atomic(void *) slots[];
};

/* Sets up an empty queue: an array of 2^@log2_capacity slots (>= 2) in
 * *@ring, no retired arrays, both positions 0. 0 or TRP_ENOMEM. */
int trp__ring_init(_Atomic(struct trp__ring *) *ring,
		   struct trp__ring **retired, _Atomic(uint64_t) *own,
		   _Atomic(uint64_t) *far, unsigned log2_capacity);

/* Frees the current array and every retired one. No concurrent use. */
void trp__ring_destroy(_Atomic(struct trp__ring *) *ring,
		       struct trp__ring **retired);

/*
 * Owner: pushes @item at the owner's end @own of a queue whose far end @far
 * is where items are claimed; grows the array when full. 0 or TRP_ENOMEM
 * (growth; nothing pushed).
 */
int trp__ring_push_owner(_Atomic(struct trp__ring *) *ring,
			 struct trp__ring **retired, _Atomic(uint64_t) *own,
			 _Atomic(uint64_t) *far, void *item);

#endif /* TRP_CORE_RING_H */
