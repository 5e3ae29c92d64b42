/*
 * core/deque.h - per-worker run queue: a growable FIFO ring that its owner
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
 * grows by doubling and retired rings are freed in trp__deque_destroy()
 * (a thief may still be reading one), so memory is bounded by twice the
 * peak length.
 */
#ifndef TRP_CORE_DEQUE_H
#define TRP_CORE_DEQUE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct trp__deque_ring;

struct trp__deque {
	/* taken by owner and thieves with CAS */
	alignas(64) _Atomic(uint64_t) head;
	/* owner only writes; thieves read */
	alignas(64) _Atomic(uint64_t) tail;
	_Atomic(struct trp__deque_ring *) ring;
	/* owner only: rings replaced by growth, freed at destroy */
	struct trp__deque_ring *retired;
};

/* 0 or TRP_ENOMEM. @log2_capacity: initial ring size (>= 1). */
int trp__deque_init(struct trp__deque *d, unsigned log2_capacity);
/* Frees all rings. No concurrent use; items still queued are dropped. */
void trp__deque_destroy(struct trp__deque *d);

/* Appends @item (non-NULL) at the tail. 0 or TRP_ENOMEM (ring growth). */
int trp__deque_push_owner(struct trp__deque *d, void *item);
/* Takes the oldest item, or NULL if empty. */
void *trp__deque_pop_owner(struct trp__deque *d);
/*
 * Moves about half of @victim's items (only if it holds at least
 * @min_surplus) to @thief (the caller's own deque) and returns one more
 * item to run directly, or NULL if nothing was stolen. *@moved receives the
 * number of items pushed onto @thief (may be NULL).
 */
void *trp__deque_steal(struct trp__deque *victim, struct trp__deque *thief,
		       uint32_t min_surplus, uint32_t *moved);
/* Approximate number of items (any thread). */
uint64_t trp__deque_size(const struct trp__deque *d);

#endif /* TRP_CORE_DEQUE_H */
