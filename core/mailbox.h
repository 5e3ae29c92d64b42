/*
 * core/mailbox.h - intrusive multi-producer / single-consumer queue with an
 * "idle" tag, used as every actor's mailbox and as the workers' injection
 * queue.
 *
 * Shape: Vyukov's intrusive MPSC queue. Producers exchange the head pointer
 * and then link the previous head to the new node; the single consumer owns
 * the tail and a stub node that is re-queued when the last real node leaves,
 * so a node returned by pop is fully detached and may be reused at once.
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
 * exchange and one store); pop_sc, snapshot_sc and mark_idle_sc only from
 * the one consumer (the thread running the actor). pop_sc may return NULL
 * while a producer is between its exchange and its link store (the queue
 * is then "busy", not empty); mark_idle_sc fails in that state, so the
 * consumer reschedules and never loses that message.
 */
#ifndef TRP_CORE_MAILBOX_H
#define TRP_CORE_MAILBOX_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct trp__mpsc_node {
	_Atomic(struct trp__mpsc_node *) next;
};

struct trp__mailbox {
	/* written by producers (exchange) and by the consumer (mark idle) */
	alignas(64) _Atomic(uintptr_t) head;
	/* Not used by the queue: its owner's count of queued nodes (actor.c
	 * keeps it: bounds and backpressure). It shares head's line, which a
	 * producer is about to own for its exchange anyway. */
	_Atomic(uint32_t) owner_count;
	/* consumer only */
	alignas(64) struct trp__mpsc_node *tail;
	struct trp__mpsc_node stub;
};

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

/* Dequeues the oldest node, or NULL if empty or a producer is mid-push. */
struct trp__mpsc_node *trp__mailbox_pop_sc(struct trp__mailbox *mb);

/*
 * The most recently pushed node (the turn bound: nodes up to and including
 * it were present now), or NULL if the queue is empty. It may be the stub
 * (re-queued behind a producer that has not linked yet); pop never returns
 * the stub, so such a turn is bounded by the caller's batch cap instead.
 */
struct trp__mpsc_node *trp__mailbox_snapshot_sc(struct trp__mailbox *mb);

/*
 * Sets the idle tag if the queue is empty. Returns true if it is now idle
 * (the consumer must not touch the queue again until rescheduled), false if
 * a node arrived or a push is in progress (keep consuming or reschedule).
 */
bool trp__mailbox_mark_idle_sc(struct trp__mailbox *mb);

/*
 * Like mark_idle_sc but sets the closed tag: true if the queue was empty
 * and is now closed; false if a node arrived (pop it and retry).
 */
bool trp__mailbox_close_sc(struct trp__mailbox *mb);

/*
 * The consumer takes the queue back from the idle state without a push
 * (a thread actor's thread that stops waiting): removes the idle tag if it
 * is still set. Either way the caller is the consumer afterwards (if a push
 * removed the tag first, that push scheduled it). Returns true if this call
 * removed the tag.
 */
bool trp__mailbox_reclaim_sc(struct trp__mailbox *mb);

/* True if the idle tag is set (a snapshot; any thread). */
bool trp__mailbox_is_idle(const struct trp__mailbox *mb);

#endif /* TRP_CORE_MAILBOX_H */
