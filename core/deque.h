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

/*
 * trp__lifo - the second run queue of a worker: a growable Chase-Lev deque
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
 * ring: at most twice the peak length, freed in trp__lifo_destroy().
 */
struct trp__lifo {
	/* claimed by thieves (and the owner's last item) with CAS */
	alignas(64) _Atomic(uint64_t) top;
	/* owner only writes; thieves read */
	alignas(64) _Atomic(uint64_t) bottom;
	_Atomic(struct trp__deque_ring *) ring;
	/* owner only: rings replaced by growth, freed at destroy */
	struct trp__deque_ring *retired;
};

/* 0 or TRP_ENOMEM. @log2_capacity: initial ring size (>= 1). */
int trp__lifo_init(struct trp__lifo *q, unsigned log2_capacity);
/* Frees all rings. No concurrent use; items still queued are dropped. */
void trp__lifo_destroy(struct trp__lifo *q);
/* Pushes @item (non-NULL) as the newest. 0 or TRP_ENOMEM (growth). */
int trp__lifo_push_owner(struct trp__lifo *q, void *item);
/* Takes the newest item, or NULL if empty (or a thief took the last). */
void *trp__lifo_pop_owner(struct trp__lifo *q);
/* Takes the oldest item, or NULL if empty or lost to others 4 times. */
void *trp__lifo_steal(struct trp__lifo *q);
/*
 * Takes the oldest item of @victim to return, then up to about half of what
 * is left (oldest first, one claim each, at most 255, never more than fits
 * @thief's ring without growing) onto @thief, the caller's own FIFO; the
 * number pushed there goes to *@moved. NULL if nothing was taken.
 */
void *trp__lifo_steal_half(struct trp__lifo *victim, struct trp__deque *thief,
			   uint32_t *moved);
/* Approximate number of items (any thread). */
uint64_t trp__lifo_size(const struct trp__lifo *q);

#endif /* TRP_CORE_DEQUE_H */
