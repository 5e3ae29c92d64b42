/*
 * core/delivery.h - putting messages into an actor's mailbox, and the
 * consumer's side of it: taking the next node, releasing spent blocks, and
 * draining a closed mailbox into dead letters.
 *
 * A push returns the tag it cleared (mailbox.h): none (the consumer is
 * already on it), IDLE (this push must wake the actor: trp__wake, through
 * its kind), or CLOSED (the actor stopped: this push's thread is the
 * consumer for a moment and drains, trp__drain_and_close). Every route of
 * send.c ends in trp__deliver or trp__push_chain.
 *
 * Who may call: deliver and push_chain from any thread (wait-free but for
 * the drain of a closed mailbox); next_node, release_done and
 * drain_and_close only from the mailbox's current consumer.
 */
#ifndef TRP_CORE_DELIVERY_H
#define TRP_CORE_DELIVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "backpressure.h"
#include "message.h"
#include "scheduler.h"
#include "worker.h"

/* @a's mailbox left the idle state: its kind makes it run. */
static inline void trp__wake(struct trp_runtime *rt, struct trp_actor *a)
{
	if (trp__likely(a->kind->wake == NULL))
		trp__schedule(rt, a); /* an event actor: the run queues */
	else
		a->kind->wake(rt, a);
}

/*
 * The caller is the consumer of @a's mailbox (a stopping actor's worker,
 * the thread destroying the runtime, or a sender whose push found the
 * closed tag). Takes until the mailbox is empty and tagged closed; every
 * user message but @keep becomes a dead letter (@why), and every block
 * but @keep's is freed. Returns true if @keep was found (the caller takes
 * it back and frees its block).
 */
bool trp__drain_and_close(struct trp_runtime *rt, struct trp__worker *w,
			  struct trp_actor *a, struct trp__msg *keep,
			  trp_dead_reason_t why);

/* A node the mailbox no longer references (mailbox.h, keep-last): free its
 * block; the close marker is part of the actor. Address comparison only:
 * @a may already run elsewhere. */
static inline void trp__release_done(struct trp__worker *w, struct trp_actor *a,
				     struct trp__mpsc_node *done)
{
	if (done != NULL && done != &a->close_node)
		trp__msg_free_block(trp__pool_of(w), trp__msg_of(done));
}

/* The consumer's next node: the one carried over from the last turn (a
 * bundle maybe partly processed: *@off is the offset of its first entry
 * left), or the next in the mailbox (NULL: empty or busy; *@off is 0).
 * *@done as take_sc. */
static inline struct trp__mpsc_node *
trp__next_node(struct trp_actor *a, struct trp__mpsc_node **done, uint32_t *off)
{
	struct trp__mpsc_node *n = a->carry;
	if (n != NULL) {
		a->carry = NULL;
		*off = a->carry_off;
		a->carry_off = 0;
		*done = NULL;
		return n;
	}
	*off = 0;
	return trp__mailbox_take_sc(&a->mailbox, done);
}

/*
 * Pushes @m (already counted against the bound) and wakes or drains as
 * the tag the push found demands. 0, or TRP_EDEAD with @m handed back.
 */
static inline int trp__deliver(struct trp_runtime *rt, struct trp__worker *w,
			       struct trp_actor *to, struct trp__msg *m)
{
	unsigned tag = trp__mailbox_push_mp(&to->mailbox, &m->node);
	if (trp__likely(tag == 0))
		return 0;
	if (tag == TRP__MAILBOX_IDLE) {
		trp__wake(rt, to);
		return 0;
	}
	/* Closed: we are the consumer now. */
	if (trp__drain_and_close(rt, w, to, m, TRP_DEAD_STOPPED))
		return TRP_EDEAD;
	return 0;
}

/* Counts @m against @to's mailbox, pushes it at once, notes an overloaded
 * receiver. 0, or TRP_EDEAD with @m handed back (and uncounted). */
static inline __attribute__((always_inline)) int
trp__deliver_counted(struct trp_runtime *rt, struct trp__worker *w,
		     struct trp_actor *to, struct trp__msg *m)
{
	uint32_t queued = trp__mailbox_count_add(&to->mailbox, 1);
	int rc = trp__deliver(rt, w, to, m);
	if (rc == 0)
		trp__note_overloaded(w, to, queued);
	return rc;
}

/*
 * Enqueues the private chain @first .. @last of @n messages to @to with
 * one exchange and one count update, and wakes @to if it was idle.
 * Returns false if @to had stopped since the messages were accepted: they
 * became dead letters (counted), like any message that arrives after the
 * stop. A turn that made @to overloaded is noted.
 */
static inline bool trp__push_chain(struct trp_runtime *rt,
				   struct trp__worker *w, struct trp_actor *to,
				   struct trp__mpsc_node *first,
				   struct trp__mpsc_node *last, uint32_t n)
{
	uint32_t queued = trp__mailbox_count_add(&to->mailbox, n);
	unsigned tag = trp__mailbox_push_chain_mp(&to->mailbox, first, last);
	if (tag == TRP__MAILBOX_IDLE) {
		trp__wake(rt, to);
	} else if (tag == TRP__MAILBOX_CLOSED) {
		(void)trp__drain_and_close(rt, w, to, NULL, TRP_DEAD_STOPPED);
		return false;
	}
	trp__note_overloaded(w, to, queued);
	return true;
}

#endif /* TRP_CORE_DELIVERY_H */
