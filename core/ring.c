/*
 * core/ring.c - the growable circular array under both run queues (see
 * ring.h).
 *
 * Memory ordering (the part both queues share):
 * - push writes the slot (relaxed) then stores the owner's end with
 *   release; thieves load that end with acquire (the Chase-Lev deque:
 *   seq_cst), so the slots below it are visible.
 * - A growth stores the new array with release *before* the store of the
 *   owner's end that exposes items in it; a thief loads the owner's end
 *   (acquire) *then* the array (acquire), so it reads an array holding
 *   every item below the end it saw. An older array still holds the items
 *   for any end read before the growth; the owner never writes into an
 *   array after replacing it.
 * - The owner loads the far end with acquire before writing a slot: it
 *   pairs with the release half of the claimers' CAS, so a slot is never
 *   overwritten while a thief may still read it for a claim that can
 *   succeed.
 */
#include "ring.h"

#include "alloc.h"
#include "troupe/error.h"

static struct trp__ring *ring_new(uint64_t cap)
{
	struct trp__ring *r = trp__calloc(
		1, sizeof *r + (size_t)cap * sizeof(_Atomic(void *)));
	if (r != NULL)
		r->mask = cap - 1;
	return r;
}

int trp__ring_init(_Atomic(struct trp__ring *) *ring,
		   struct trp__ring **retired, _Atomic(uint64_t) *own,
		   _Atomic(uint64_t) *far, unsigned log2_capacity)
{
	if (log2_capacity < 1)
		log2_capacity = 1;
	struct trp__ring *r = ring_new((uint64_t)1 << log2_capacity);
	if (r == NULL)
		return TRP_ENOMEM;
	atomic_init(own, 0);
	atomic_init(far, 0);
	atomic_init(ring, r);
	*retired = NULL;
	return 0;
}

void trp__ring_destroy(_Atomic(struct trp__ring *) *ring,
		       struct trp__ring **retired)
{
	/* relaxed: no concurrent use. */
	trp__free(atomic_load_explicit(ring, memory_order_relaxed), 0);
	struct trp__ring *old = *retired;
	while (old != NULL) {
		struct trp__ring *older = old->older;
		trp__free(old, 0);
		old = older;
	}
	*retired = NULL;
}

/* Owner only: doubles the ring *@slot, copying [h, t); the old ring goes
 * on *@retired (a thief may still be reading it). */
static int grow(_Atomic(struct trp__ring *) *slot, struct trp__ring **retired,
		struct trp__ring *r, uint64_t h, uint64_t t)
{
	struct trp__ring *nr = ring_new((r->mask + 1) * 2);
	if (nr == NULL)
		return TRP_ENOMEM;
	for (uint64_t p = h; p != t; p++) {
		/* relaxed: owner reads its own writes; the ring is published
		 * by the release store below. */
		void *it = atomic_load_explicit(&r->slots[p & r->mask],
						memory_order_relaxed);
		atomic_store_explicit(&nr->slots[p & nr->mask], it,
				      memory_order_relaxed);
	}
	/* ORDER: release publishes the copied slots; pairs with the thief's
	 * acquire load of ring (after its acquire load of tail/bottom). */
	atomic_store_explicit(slot, nr, memory_order_release);
	r->older = *retired;
	*retired = r;
	return 0;
}

int trp__ring_push_owner(_Atomic(struct trp__ring *) *ring,
			 struct trp__ring **retired, _Atomic(uint64_t) *own,
			 _Atomic(uint64_t) *far, void *item)
{
	/* relaxed: the owner's end is written only by this thread. */
	uint64_t t = atomic_load_explicit(own, memory_order_relaxed);
	/* ORDER: acquire pairs with the claim CAS (release) of thieves, so
	 * their slot reads are done before we reuse the slots. */
	uint64_t h = atomic_load_explicit(far, memory_order_acquire);
	struct trp__ring *r = atomic_load_explicit(ring, memory_order_relaxed);
	if (t - h > r->mask) {
		int rc = grow(ring, retired, r, h, t);
		if (rc != 0)
			return rc;
		r = atomic_load_explicit(ring, memory_order_relaxed);
	}
	/* relaxed: published by the release store of the owner's end. */
	atomic_store_explicit(&r->slots[t & r->mask], item,
			      memory_order_relaxed);
	/* ORDER: release publishes the slot to the thieves' acquire (the
	 * LIFO's: seq_cst) load of the owner's end. */
	atomic_store_explicit(own, t + 1, memory_order_release);
	return 0;
}
