/*
 * core/chase_lev.c - the Chase-Lev deque of a worker (see chase_lev.h).
 *
 * The algorithm of Chase and Lev (SPAA 2005) in the C11 form of Le, Pop,
 * Cohen and Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak
 * Memory Models" (PPoPP 2013), with the two seq_cst fences replaced by
 * seq_cst accesses of top and bottom (ThreadSanitizer does not understand
 * fences): the owner's store of bottom and load of top in pop_owner, and
 * the thief's loads of top and bottom, all take part in the single total
 * order of seq_cst operations, which is the Dekker argument the fences
 * make. [top, bottom) is queued; positions only grow at top, so a stale
 * top fails the claim CAS. Only one item is claimed per CAS: claiming
 * several at once races with the owner taking the bottom items without a
 * CAS (the reason the FIFO run ring is not given a LIFO end). Slots and
 * growth: ring.h.
 */
#include "chase_lev.h"

#define STEAL_MAX 256u

int trp__chase_lev_init(struct trp__chase_lev *q, unsigned log2_capacity)
{
	return trp__ring_init(&q->ring, &q->retired, &q->bottom, &q->top,
			      log2_capacity);
}

void trp__chase_lev_destroy(struct trp__chase_lev *q)
{
	trp__ring_destroy(&q->ring, &q->retired);
}

int trp__chase_lev_push_owner(struct trp__chase_lev *q, void *item)
{
	return trp__ring_push_owner(&q->ring, &q->retired, &q->bottom, &q->top,
				    item);
}

void *trp__chase_lev_pop_owner(struct trp__chase_lev *q)
{
	/* relaxed: own writes. */
	uint64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed);
	/* relaxed: a stale top is lower than the real one, so "empty" read
	 * here is true; it spares the seq_cst store below when the LIFO is
	 * empty, the common case outside spawn trees. */
	if (atomic_load_explicit(&q->top, memory_order_relaxed) == b)
		return NULL;
	b--;
	struct trp__ring *r =
		atomic_load_explicit(&q->ring, memory_order_relaxed);
	/* ORDER: seq_cst store then seq_cst load of top: either a thief's
	 * later load of bottom sees b, or our load of top sees its claim
	 * (the Dekker pair of the algorithm, see above). */
	atomic_store_explicit(&q->bottom, b, memory_order_seq_cst);
	uint64_t t = atomic_load_explicit(&q->top, memory_order_seq_cst);
	if ((int64_t)(b - t) < 0) {
		/* relaxed: empty; restores our own position. */
		atomic_store_explicit(&q->bottom, b + 1, memory_order_relaxed);
		return NULL;
	}
	void *it = atomic_load_explicit(&r->slots[b & r->mask],
					memory_order_relaxed);
	if (b != t)
		return it; /* more than one left: no thief can reach b */
	/* The last item: race the thieves for it. ORDER: seq_cst, the
	 * claim every thief also makes. */
	if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1,
						     memory_order_seq_cst,
						     memory_order_relaxed))
		it = NULL;
	/* relaxed: top is now b + 1 either way; thieves see an empty
	 * queue until our next release store of bottom. */
	atomic_store_explicit(&q->bottom, b + 1, memory_order_relaxed);
	return it;
}

void *trp__chase_lev_steal(struct trp__chase_lev *q)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		/* ORDER: seq_cst loads of top then bottom, the thieves' half
		 * of the Dekker pair in pop_owner; bottom's also acquires
		 * the slots below it (push_owner's release store). */
		uint64_t t =
			atomic_load_explicit(&q->top, memory_order_seq_cst);
		uint64_t b =
			atomic_load_explicit(&q->bottom, memory_order_seq_cst);
		if ((int64_t)(b - t) <= 0)
			return NULL;
		/* ORDER: acquire, after bottom: a ring holding [t, b). */
		struct trp__ring *r =
			atomic_load_explicit(&q->ring, memory_order_acquire);
		void *it = atomic_load_explicit(&r->slots[t & r->mask],
						memory_order_relaxed);
		/* ORDER: seq_cst claim; its release half orders the slot
		 * read before the owner may reuse the slot (push_owner's
		 * acquire load of top). */
		if (atomic_compare_exchange_strong_explicit(
			    &q->top, &t, t + 1, memory_order_seq_cst,
			    memory_order_relaxed))
			return it;
	}
	return NULL;
}

void *trp__chase_lev_steal_half(struct trp__chase_lev *victim,
				struct trp__run_ring *thief, uint32_t *moved)
{
	*moved = 0;
	void *first = trp__chase_lev_steal(victim);
	if (first == NULL)
		return NULL;
	/* Room in our own ring without growing, as in trp__run_ring_steal. */
	struct trp__ring *own =
		atomic_load_explicit(&thief->ring, memory_order_relaxed);
	uint64_t own_len =
		atomic_load_explicit(&thief->tail, memory_order_relaxed) -
		atomic_load_explicit(&thief->head, memory_order_relaxed);
	uint64_t room = own->mask + 1 - own_len;
	uint64_t take = trp__chase_lev_size(victim) / 2;
	if (take > STEAL_MAX - 1)
		take = STEAL_MAX - 1;
	if (take > room)
		take = room;
	for (uint64_t i = 0; i < take; i++) {
		void *it = trp__chase_lev_steal(victim);
		if (it == NULL)
			break;
		(void)trp__run_ring_push_owner(thief, it);
		++*moved;
	}
	return first;
}

uint64_t trp__chase_lev_size(const struct trp__chase_lev *q)
{
	struct trp__chase_lev *m = (struct trp__chase_lev *)q;
	/* relaxed: an estimate (bottom is one low while the owner pops). */
	uint64_t t = atomic_load_explicit(&m->top, memory_order_relaxed);
	uint64_t b = atomic_load_explicit(&m->bottom, memory_order_relaxed);
	return (int64_t)(b - t) > 0 ? b - t : 0;
}
