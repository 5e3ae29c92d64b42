/*
 * core/deque.c - per-worker FIFO run queue with steal-half (see deque.h).
 *
 * head and tail are 64-bit positions that only grow (no ABA); an item at
 * position p lives in ring->slots[p & ring->mask]. [head, tail) is queued.
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
#include "deque.h"

#include <string.h>

#include "alloc.h"
#include "troupe/error.h"

#define STEAL_MAX 256u

struct trp__deque_ring {
	uint64_t mask;
	struct trp__deque_ring *older; /* retired list link (owner only) */
	_Atomic(void *) slots[];
};

static struct trp__deque_ring *ring_new(uint64_t cap)
{
	struct trp__deque_ring *r = trp__calloc(
		1, sizeof *r + (size_t)cap * sizeof(_Atomic(void *)));
	if (r != NULL)
		r->mask = cap - 1;
	return r;
}

/* Sets up an empty ring queue of both kinds (FIFO: head/tail, LIFO:
 * top/bottom). 0 or TRP_ENOMEM. */
static int ring_init(_Atomic(struct trp__deque_ring *) *ring,
		     struct trp__deque_ring **retired, _Atomic(uint64_t) *a,
		     _Atomic(uint64_t) *b, unsigned log2_capacity)
{
	if (log2_capacity < 1)
		log2_capacity = 1;
	struct trp__deque_ring *r = ring_new((uint64_t)1 << log2_capacity);
	if (r == NULL)
		return TRP_ENOMEM;
	atomic_init(a, 0);
	atomic_init(b, 0);
	atomic_init(ring, r);
	*retired = NULL;
	return 0;
}

int trp__deque_init(struct trp__deque *d, unsigned log2_capacity)
{
	return ring_init(&d->ring, &d->retired, &d->head, &d->tail,
			 log2_capacity);
}

static void free_rings(struct trp__deque_ring *r, struct trp__deque_ring *old)
{
	trp__free(r, 0);
	while (old != NULL) {
		struct trp__deque_ring *older = old->older;
		trp__free(old, 0);
		old = older;
	}
}

void trp__deque_destroy(struct trp__deque *d)
{
	free_rings(atomic_load_explicit(&d->ring, memory_order_relaxed),
		   d->retired);
	d->retired = NULL;
}

/* Owner only: doubles the ring *@slot, copying [h, t); the old ring goes
 * on *@retired (a thief may still be reading it). */
static int grow(_Atomic(struct trp__deque_ring *) *slot,
		struct trp__deque_ring **retired, struct trp__deque_ring *r,
		uint64_t h, uint64_t t)
{
	struct trp__deque_ring *nr = ring_new((r->mask + 1) * 2);
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

/*
 * Pushes @item at the owner's end @own of a ring whose other end @far is
 * where thieves claim items (the FIFO's tail/head, the LIFO's bottom/top):
 * both queues push the same way. 0 or TRP_ENOMEM (growth).
 */
static int ring_push_owner(_Atomic(struct trp__deque_ring *) *ring,
			   struct trp__deque_ring **retired,
			   _Atomic(uint64_t) *own, _Atomic(uint64_t) *far,
			   void *item)
{
	/* relaxed: the owner's end is written only by this thread. */
	uint64_t t = atomic_load_explicit(own, memory_order_relaxed);
	/* ORDER: acquire pairs with the claim CAS (release) of thieves, so
	 * their slot reads are done before we reuse the slots. */
	uint64_t h = atomic_load_explicit(far, memory_order_acquire);
	struct trp__deque_ring *r =
		atomic_load_explicit(ring, memory_order_relaxed);
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

int trp__deque_push_owner(struct trp__deque *d, void *item)
{
	return ring_push_owner(&d->ring, &d->retired, &d->tail, &d->head, item);
}

void *trp__deque_pop_owner(struct trp__deque *d)
{
	/* relaxed: own writes. */
	uint64_t t = atomic_load_explicit(&d->tail, memory_order_relaxed);
	struct trp__deque_ring *r =
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

void *trp__deque_steal(struct trp__deque *victim, struct trp__deque *thief,
		       uint32_t min_surplus, uint32_t *moved)
{
	void *batch[STEAL_MAX];
	if (moved != NULL)
		*moved = 0;
	/* Room in our own ring without growing: a steal never allocates, so
	 * it can never drop what it claimed. */
	struct trp__deque_ring *own =
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
		struct trp__deque_ring *r = atomic_load_explicit(
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
			(void)trp__deque_push_owner(thief, batch[i]);
		if (moved != NULL)
			*moved = (uint32_t)(take - 1);
		return batch[0];
	}
	return NULL;
}

uint64_t trp__deque_size(const struct trp__deque *d)
{
	struct trp__deque *m = (struct trp__deque *)d;
	/* relaxed: an estimate. */
	uint64_t h = atomic_load_explicit(&m->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&m->tail, memory_order_relaxed);
	return t > h ? t - h : 0;
}

/* ------------------------------------------------------------------ */
/* trp__lifo: Chase-Lev (see deque.h)                                  */
/*
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
 * CAS (the reason the FIFO ring above is not given a LIFO end). Slots and
 * growth as for the FIFO ring.
 */

int trp__lifo_init(struct trp__lifo *q, unsigned log2_capacity)
{
	return ring_init(&q->ring, &q->retired, &q->top, &q->bottom,
			 log2_capacity);
}

void trp__lifo_destroy(struct trp__lifo *q)
{
	free_rings(atomic_load_explicit(&q->ring, memory_order_relaxed),
		   q->retired);
	q->retired = NULL;
}

int trp__lifo_push_owner(struct trp__lifo *q, void *item)
{
	return ring_push_owner(&q->ring, &q->retired, &q->bottom, &q->top,
			       item);
}

void *trp__lifo_pop_owner(struct trp__lifo *q)
{
	/* relaxed: own writes. */
	uint64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed);
	/* relaxed: a stale top is lower than the real one, so "empty" read
	 * here is true; it spares the seq_cst store below when the LIFO is
	 * empty, the common case outside spawn trees. */
	if (atomic_load_explicit(&q->top, memory_order_relaxed) == b)
		return NULL;
	b--;
	struct trp__deque_ring *r =
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

void *trp__lifo_steal(struct trp__lifo *q)
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
		struct trp__deque_ring *r =
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

void *trp__lifo_steal_half(struct trp__lifo *victim, struct trp__deque *thief,
			   uint32_t *moved)
{
	*moved = 0;
	void *first = trp__lifo_steal(victim);
	if (first == NULL)
		return NULL;
	/* Room in our own ring without growing, as in trp__deque_steal. */
	struct trp__deque_ring *own =
		atomic_load_explicit(&thief->ring, memory_order_relaxed);
	uint64_t own_len =
		atomic_load_explicit(&thief->tail, memory_order_relaxed) -
		atomic_load_explicit(&thief->head, memory_order_relaxed);
	uint64_t room = own->mask + 1 - own_len;
	uint64_t take = trp__lifo_size(victim) / 2;
	if (take > STEAL_MAX - 1)
		take = STEAL_MAX - 1;
	if (take > room)
		take = room;
	for (uint64_t i = 0; i < take; i++) {
		void *it = trp__lifo_steal(victim);
		if (it == NULL)
			break;
		(void)trp__deque_push_owner(thief, it);
		++*moved;
	}
	return first;
}

uint64_t trp__lifo_size(const struct trp__lifo *q)
{
	struct trp__lifo *m = (struct trp__lifo *)q;
	/* relaxed: an estimate (bottom is one low while the owner pops). */
	uint64_t t = atomic_load_explicit(&m->top, memory_order_relaxed);
	uint64_t b = atomic_load_explicit(&m->bottom, memory_order_relaxed);
	return (int64_t)(b - t) > 0 ? b - t : 0;
}
