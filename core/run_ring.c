/*
 * core/run_ring.c - a worker's FIFO run queue with steal-half (see
 * run_ring.h).
 *
 * head and tail are 64-bit positions that only grow (no ABA); an item at
 * position p lives in ring->slots[p & ring->mask] (ring.h). [head, tail) is queued.
 *
 * Memory ordering:
 * - push_owner writes the slot (relaxed) then stores tail with release;
 *   thieves load tail with acquire, so the slots below tail are visible.
 * - A growth stores the new ring with release *before* the tail store that
 *   exposes items in it; a thief loads tail (acquire) *then* the ring
 *   (acquire), so it reads a ring holding every item below the tail it saw.
 *   An older ring still holds [h, t) for any t read before the growth; the
 *   owner never writes into a ring after replacing it.
 * - Owner and thieves claim [head, head + n) with a CAS that is acq_rel: its
 *   release half orders the thief's slot reads before the claim, and the
 *   owner's acquire load of head in push_owner pairs with it, so a slot is
 *   never overwritten while a thief may still read it for a claim that can
 *   succeed. A thief that read a stale or overwritten slot fails its CAS,
 *   because head moved past it first.
 */
#include "run_ring.h"

#include "troupe/error.h"

#define STEAL_MAX 256u

int trp__run_ring_init(struct trp__run_ring *d, unsigned log2_capacity)
{
	return trp__ring_init(&d->ring, &d->retired, &d->tail, &d->head,
			      log2_capacity);
}

void trp__run_ring_destroy(struct trp__run_ring *d)
{
	trp__ring_destroy(&d->ring, &d->retired);
}

int trp__run_ring_push_owner(struct trp__run_ring *d, void *item)
{
	return trp__ring_push_owner(&d->ring, &d->retired, &d->tail, &d->head,
				    item);
}

void *trp__run_ring_pop_owner(struct trp__run_ring *d)
{
	/* relaxed: own writes. */
	uint64_t t = atomic_load_explicit(&d->tail, memory_order_relaxed);
	struct trp__ring *r =
		atomic_load_explicit(&d->ring, memory_order_relaxed);
	/* relaxed: the CAS below validates h. */
	uint64_t h = atomic_load_explicit(&d->head, memory_order_relaxed);
	while (h != t) {
		void *it = atomic_load_explicit(&r->slots[h & r->mask],
						memory_order_relaxed);
		/* ORDER: acq_rel, see the file comment; on failure h is
		 * reloaded (relaxed is enough: revalidated by the CAS). */
		if (atomic_compare_exchange_weak_explicit(&d->head, &h, h + 1,
							  memory_order_acq_rel,
							  memory_order_relaxed))
			return it;
	}
	return NULL;
}

void *trp__run_ring_steal(struct trp__run_ring *victim,
			  struct trp__run_ring *thief, uint32_t min_surplus,
			  uint32_t *moved)
{
	void *batch[STEAL_MAX];
	if (moved != NULL)
		*moved = 0;
	/* Room in our own ring without growing: a steal never allocates, so
	 * it can never drop what it claimed. */
	struct trp__ring *own =
		atomic_load_explicit(&thief->ring, memory_order_relaxed);
	uint64_t own_len =
		atomic_load_explicit(&thief->tail, memory_order_relaxed) -
		atomic_load_explicit(&thief->head, memory_order_relaxed);
	uint64_t room = own->mask + 1 - own_len;

	for (int attempt = 0; attempt < 4; attempt++) {
		/* ORDER: acquire pairs with other claimers' CAS. */
		uint64_t h = atomic_load_explicit(&victim->head,
						  memory_order_acquire);
		/* ORDER: acquire pairs with the owner's release tail store. */
		uint64_t t = atomic_load_explicit(&victim->tail,
						  memory_order_acquire);
		uint64_t n = t - h;
		if ((int64_t)n <= 0 || n < min_surplus)
			return NULL;
		uint64_t take = n - n / 2;
		if (take > STEAL_MAX)
			take = STEAL_MAX;
		if (take > room + 1)
			take = room + 1;
		/* ORDER: acquire, after tail: see the file comment. */
		struct trp__ring *r = atomic_load_explicit(
			&victim->ring, memory_order_acquire);
		for (uint64_t i = 0; i < take; i++)
			batch[i] = atomic_load_explicit(
				&r->slots[(h + i) & r->mask],
				memory_order_relaxed);
		/* ORDER: acq_rel claim, see the file comment. */
		if (!atomic_compare_exchange_strong_explicit(
			    &victim->head, &h, h + take, memory_order_acq_rel,
			    memory_order_relaxed))
			continue;
		for (uint64_t i = 1; i < take; i++)
			(void)trp__run_ring_push_owner(thief, batch[i]);
		if (moved != NULL)
			*moved = (uint32_t)(take - 1);
		return batch[0];
	}
	return NULL;
}

uint64_t trp__run_ring_size(const struct trp__run_ring *d)
{
	struct trp__run_ring *m = (struct trp__run_ring *)d;
	/* relaxed: an estimate. */
	uint64_t h = atomic_load_explicit(&m->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&m->tail, memory_order_relaxed);
	return t > h ? t - h : 0;
}
