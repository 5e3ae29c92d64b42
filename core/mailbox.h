/*
 * core/mailbox.h - intrusive multi-producer / single-consumer queue with an
 * "idle" tag, used as every actor's mailbox and as the workers' injection
 * queue.
 *
 * Shape: Vyukov's intrusive MPSC queue. Producers exchange the head pointer
 * and then link the previous head to the new node. The consumer owns the
 * tail and a stub node, and consumes in one of two ways - a queue uses one
 * of them for its whole life:
 *
 * - Keep-last (actor mailboxes, after Pony's messageq): trp__mailbox_take_sc
 *   returns the node after the tail and makes it the new tail, so the node
 *   last taken stays in the queue (its `next` is where the next producer
 *   links) until the following take, or until the consumer marks the queue
 *   idle or closed; each of those hands the node back as "done", free to
 *   reuse. Taking is one acquire load; going idle is one CAS that swings
 *   head from the last node to the stub and tags it at once. No stub
 *   re-queue exchange on the path of an actor that drains its mailbox.
 * - Detaching (the workers' injection queue, whose nodes are actors'
 *   run_node links and are pushed again at once): trp__mailbox_pop_sc
 *   re-queues the stub when the last real node leaves, so a node returned
 *   by pop is fully detached. Such a queue never uses the idle or closed
 *   tags, snapshot_sc or take_sc.
 *
 * Idle tag (from Pony): bit 0 of head set means "empty and not scheduled".
 * The consumer sets it with one CAS when it finds the queue empty
 * (trp__mailbox_mark_idle_sc); the next push clears it with the same
 * exchange that enqueues, and learns from the old value that it must
 * schedule the owner. Exactly one push per idle period sees the tag.
 *
 * Closed tag: bit 1 of head set means "the owner has stopped". It works like
 * the idle tag: the one push that finds it becomes the consumer for a moment
 * (it dead-letters what it finds) and sets it again with
 * trp__mailbox_close_sc.
 *
 * Concurrency: push_mp from any number of threads at once (wait-free: one
 * exchange and one store); the *_sc calls only from the one consumer (the
 * thread running the actor). take_sc and pop_sc may return NULL while a
 * producer is between its exchange and its link store (the queue is then
 * "busy", not empty); mark_idle_sc fails in that state, so the consumer
 * reschedules and never loses that message.
 */
#ifndef TRP_CORE_MAILBOX_H
#define TRP_CORE_MAILBOX_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "invariant.h"

struct trp__mpsc_node {
	_Atomic(struct trp__mpsc_node *) next;
};

/*
 * Placement: producers write head (and count), the consumer tail (and
 * reads stub.next), so the two pairs must sit on different cache lines,
 * or every push would steal the consumer's line. The queue is compact
 * (32 bytes: head and count, then tail and stub at offset 16) and leaves
 * the lines to its embedder: embed it at an offset of 48 modulo 64 in a
 * cache-aligned struct, so that head and count end one line and tail and
 * stub begin the next (TRP__MAILBOX_PLACED checks it). The rest of those
 * two lines is the embedder's: an actor puts its other fields written by
 * other threads before head, and its consumer's fields after stub
 * (actor.h). A queue on its own takes TRP__MAILBOX_ROOM bytes of room
 * before it at the start of a cache-aligned struct.
 */
struct trp__mailbox {
	/* written by producers (exchange) and by the consumer (mark idle) */
	_Atomic(uintptr_t) head;
	/* The users' count of queued messages (trp__mailbox_count_*). */
	_Atomic(uint32_t) count;
	/* consumer only. tail: keep-last, the node last taken (or the
	 * stub); detaching, the next node to pop (or the stub). */
	alignas(16) struct trp__mpsc_node *tail;
	struct trp__mpsc_node stub;
};

static_assert(offsetof(struct trp__mailbox, tail) == 16 &&
		      sizeof(struct trp__mailbox) == 32,
	      "mailbox: head and count in 16 bytes, then tail and stub");

/* Room before a queue placed alone at the start of a cache-aligned struct:
 * `alignas(64) unsigned char room[TRP__MAILBOX_ROOM]; struct trp__mailbox
 * q;` */
#define TRP__MAILBOX_ROOM 48

/* Checks that @member, a struct trp__mailbox in @type, has head's line to
 * itself and its producers and tail's to its consumer (see above). */
#define TRP__MAILBOX_PLACED(type, member)                                      \
	static_assert(alignof(type) % 64 == 0 &&                               \
			      offsetof(type, member) % 64 ==                   \
				      TRP__MAILBOX_ROOM,                       \
		      #type "." #member ": head ends a cache line, tail "      \
			    "begins the next")

/*
 * The count: how many messages the queue's users say are queued (a node
 * may carry several: a bundle). The queue itself never reads or changes
 * it; producers add what they push (before or with the push) and the
 * consumer subtracts what it consumed. It lives on head's line, which a
 * producer is about to own for its exchange anyway, so counting costs a
 * send no extra cache miss. Bounded mailboxes and backpressure
 * (backpressure.h) are built on it. Any thread; wait-free.
 */
/* Adds @n; returns the count before. relaxed: a count, not a publication
 * (the push's exchange publishes the message). */
static inline uint32_t trp__mailbox_count_add(struct trp__mailbox *mb,
					      uint32_t n)
{
	return atomic_fetch_add_explicit(&mb->count, n, memory_order_relaxed);
}
/* Subtracts @n; returns the count after. ORDER: seq_cst, so a caller can
 * pair it with its own seq_cst operations (backpressure's Dekker pair). */
static inline uint32_t trp__mailbox_count_sub(struct trp__mailbox *mb,
					      uint32_t n)
{
	return atomic_fetch_sub_explicit(&mb->count, n, memory_order_seq_cst) -
	       n;
}
/* The count. ORDER: seq_cst, as trp__mailbox_count_sub. */
static inline uint32_t trp__mailbox_count(struct trp__mailbox *mb)
{
	return atomic_load_explicit(&mb->count, memory_order_seq_cst);
}
/* The count as a hint (relaxed: it orders nothing). */
static inline uint32_t trp__mailbox_count_hint(struct trp__mailbox *mb)
{
	return atomic_load_explicit(&mb->count, memory_order_relaxed);
}

/* Initializes an empty queue; idle selects whether the idle tag is set. */
void trp__mailbox_init(struct trp__mailbox *mb, bool idle);

#define TRP__MAILBOX_IDLE 1u   /* push found the idle tag: schedule */
#define TRP__MAILBOX_CLOSED 2u /* push found the closed tag: drain */

/*
 * Enqueues @n. Returns the tag the push cleared: 0, TRP__MAILBOX_IDLE (the
 * caller must schedule the consumer; exactly one push per idle period sees
 * it) or TRP__MAILBOX_CLOSED (the caller is now the consumer and must drain
 * and re-close).
 */
unsigned trp__mailbox_push_mp(struct trp__mailbox *mb,
			      struct trp__mpsc_node *n);

/*
 * Enqueues the chain @first .. @last, linked through their next fields by
 * the caller (last->next is set here), as one push: the consumer sees the
 * nodes in chain order, after everything pushed before. Returns the tag
 * the push cleared, as push_mp.
 */
unsigned trp__mailbox_push_chain_mp(struct trp__mailbox *mb,
				    struct trp__mpsc_node *first,
				    struct trp__mpsc_node *last);

/*
 * Keep-last: takes the oldest node not yet taken, or NULL if there is none
 * (empty, or a producer is mid-push). The returned node stays in the queue
 * as its tail. *@done is set to the node taken before it, which the queue
 * no longer references (free to reuse), or NULL.
 */
static inline struct trp__mpsc_node *
trp__mailbox_take_sc(struct trp__mailbox *mb, struct trp__mpsc_node **done)
{
	/* Inline: the turn asks once per message, and once per self-send
	 * step an empty mailbox (one load, one test). */
	struct trp__mpsc_node *tail = mb->tail;
	/* ORDER: acquire pairs with the producer's release link store. */
	struct trp__mpsc_node *next =
		atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next == NULL) {
		/* Empty, or a producer exchanged head past tail and has not
		 * linked yet ("busy"; mark_idle fails then). */
		*done = NULL;
		return NULL;
	}
	/* tail leaves the queue: nothing links to it any more (the producer
	 * of next already did) and head has moved past it. */
	mb->tail = next;
	*done = tail != &mb->stub ? tail : NULL;
	return next;
}

/*
 * Keep-last: the most recently pushed node (the turn bound: nodes up to and
 * including it were present now), or NULL if every pushed node was taken.
 * Inline: once per turn, a call for three instructions.
 */
static inline struct trp__mpsc_node *
trp__mailbox_snapshot_sc(struct trp__mailbox *mb)
{
	/* relaxed: the pointer is only compared with nodes later taken,
	 * whose contents are acquired through their links. */
	uintptr_t head = atomic_load_explicit(&mb->head, memory_order_relaxed);
	struct trp__mpsc_node *h =
		(struct trp__mpsc_node *)(head &
					  ~(uintptr_t)(TRP__MAILBOX_IDLE |
						       TRP__MAILBOX_CLOSED));
	return h != mb->tail ? h : NULL;
}

/*
 * Keep-last: sets the idle tag if every pushed node was taken. Returns true
 * if the queue is now idle (the consumer must not touch it again until
 * rescheduled) and sets *@done to the last node taken, no longer referenced
 * by the queue (or NULL); false if a node arrived or a push is in progress
 * (keep consuming or reschedule; *@done is NULL).
 */
bool trp__mailbox_mark_idle_sc(struct trp__mailbox *mb,
			       struct trp__mpsc_node **done);

/*
 * True if the queue is idle-tagged now: everything pushed before was taken
 * and its consumer went idle, and what the consumer did before (with what
 * it took) happens before what the caller does next. A snapshot: a push
 * may clear the tag right after. Any thread.
 */
bool trp__mailbox_idle_acquire(struct trp__mailbox *mb);

/*
 * Like mark_idle_sc but sets the closed tag: true if the queue was empty
 * and is now closed; false if a node arrived (take it and retry).
 */
bool trp__mailbox_close_sc(struct trp__mailbox *mb,
			   struct trp__mpsc_node **done);

/*
 * The consumer takes the queue back from the idle state without a push
 * (a thread actor's thread that stops waiting): removes the idle tag if it
 * is still set. Either way the caller is the consumer afterwards (if a push
 * removed the tag first, that push scheduled it). Returns true if this call
 * removed the tag.
 */
bool trp__mailbox_reclaim_sc(struct trp__mailbox *mb);

/* Detaching: dequeues the oldest node, or NULL if empty or a producer is
 * mid-push. The node leaves the queue entirely. */
struct trp__mpsc_node *trp__mailbox_pop_sc(struct trp__mailbox *mb);

/* True if the idle tag is set (a snapshot; any thread). */
bool trp__mailbox_is_idle(const struct trp__mailbox *mb);

#endif /* TRP_CORE_MAILBOX_H */
