/*
 * core/backpressure.h - muting senders of an overloaded actor (after Pony's
 * muting, cheaper).
 *
 * Every mailbox counts its queued messages (trp__mailbox_count_*,
 * on the line the sender's exchange owns anyway). A behaviour that sends
 * to an actor holding TRP__MUTE_HIGH or more messages is muted at the end
 * of its turn: instead of being rescheduled it is pushed on the receiver's
 * `muted` stack, and is rescheduled when the receiver's count falls below
 * TRP__MUTE_LOW (or it stops). Producers that outrun a consumer stop until
 * it has caught up, so memory stays bounded without configuration, also
 * while the consumer's thread is preempted.
 *
 * Lost-unmute freedom: the muted sender pushes itself, then re-reads the
 * receiver's count; the receiver lowers its count, then reads the stack
 * (all seq_cst). One of the two sees the other; the exchange that empties
 * the stack hands each muted actor to exactly one unmuter.
 * No deadlock: an actor holding TRP__MUTE_LOW or more messages is never
 * muted, so for a cycle A -> B -> A, B's count must have fallen below
 * TRP__MUTE_LOW after A was muted on it, and that unmuted A.
 *
 * Who may call: note_overloaded and mute_on_receiver on the worker running
 * the sender's turn; consumed by the receiver's consumer; unmute_all from
 * any thread. Lock-free.
 */
#ifndef TRP_CORE_BACKPRESSURE_H
#define TRP_CORE_BACKPRESSURE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "metrics.h"
#include "worker.h"

/* Backpressure thresholds (messages queued). A fan-in receiver fed by many
 * actors on the same workers runs once per pass over their run queues, and
 * each of them adds up to TRP__TURN_SENDS messages per turn: the high mark
 * must exceed what one pass brings (storm: 1000 counters, ~21 each per
 * sink), or every pass mutes and unmutes every sender (storm ran 20%
 * slower at 4096). At 16384 a muted-on mailbox holds at most ~0.5 MiB of
 * bundled small messages, 1 MiB of unbundled ones. */
#define TRP__MUTE_HIGH 16384u
#define TRP__MUTE_LOW 4096u

/* Reschedules every actor muted on @r (slow part of trp__unmute_all). */
void trp__unmute_slow(struct trp_runtime *rt, struct trp_actor *r);

/* Reschedules every actor muted on @r. Any thread. */
static inline void trp__unmute_all(struct trp_runtime *rt, struct trp_actor *r)
{
	/* ORDER: seq_cst peek (the common case is an empty stack): after
	 * the receiver's seq_cst count decrement, either we see a sender's
	 * push here or that sender's seq_cst count re-read sees the
	 * decrement and it unmutes itself. */
	if (atomic_load_explicit(&r->muted, memory_order_seq_cst) != NULL)
		trp__unmute_slow(rt, r);
}

/* A behaviour of w->current sent to @to, which held @queued messages
 * before: if that is TRP__MUTE_HIGH or more, mute the sender at the end
 * of its turn. @w NULL (an outside thread): nothing. */
static inline void trp__note_overloaded(struct trp__worker *w,
					struct trp_actor *to, uint32_t queued)
{
	if (trp__likely(queued < TRP__MUTE_HIGH) || w == NULL)
		return;
	struct trp_actor *self = w->current;
	if (self == NULL || self == to || w->mute_on != NULL)
		return;
	w->mute_on = trp_actor_retain(to);
}

/* The consumer of @a took @n messages: lowers the count, unmutes when
 * low; @note: also feeds @a's backlog high-water mark, if it has one. */
static inline void trp__consumed_note(struct trp_actor *a, uint32_t n,
				      bool note)
{
	if (n == 0)
		return;
	/* ORDER: seq_cst, the receiver's half of the unmute Dekker pair
	 * (see above). */
	uint32_t left = trp__mailbox_count_sub(&a->mailbox, n);
	if (note) {
		/* The count only grows between the consumer's decrements,
		 * so its value before each one is where the high-water mark
		 * can be. relaxed flag: the block itself is loaded with
		 * acquire (trp__actor_metrics_of). */
		if (trp__unlikely(atomic_load_explicit(&a->metrics_on,
						       memory_order_relaxed)))
			trp__actor_metrics_backlog(trp__actor_metrics_of(a),
						   (uint64_t)left + n);
	}
	if (left < TRP__MUTE_LOW)
		trp__unmute_all(a->rt, a);
}

/* For turns: no metrics here (a metered actor's timing behaviour samples
 * its backlog after every call, turn.c), so a turn pays nothing. */
static inline void trp__consumed(struct trp_actor *a, uint32_t n)
{
	trp__consumed_note(a, n, false);
}

/* For the other consumers (a port's drain, a thread actor's receive):
 * also feeds the per-actor backlog high-water mark (metrics.h). */
static inline void trp__consumed_noted(struct trp_actor *a, uint32_t n)
{
	trp__consumed_note(a, n, true);
}

/* End of @a's turn on @w, which noted an overloaded receiver (w->mute_on):
 * parks @a on it instead of rescheduling @a. */
void trp__mute_on_receiver(struct trp__worker *w, struct trp_actor *a);

#endif /* TRP_CORE_BACKPRESSURE_H */
