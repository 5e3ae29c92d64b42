/*
 * core/backpressure.c - muting senders of an overloaded actor (see
 * backpressure.h for the protocol and its proof sketch).
 */
#include "backpressure.h"

#include "scheduler.h"

void trp__unmute_slow(struct trp_runtime *rt, struct trp_actor *r)
{
	/* ORDER: seq_cst; the Dekker pair with trp__mute_on_receiver (see
	 * backpressure.h); acquire makes the muted actors' links visible. */
	struct trp_actor *x =
		atomic_exchange_explicit(&r->muted, NULL, memory_order_seq_cst);
	while (x != NULL) {
		struct trp_actor *next = x->mute_next;
		/* the link shares its bytes with sched_at (actor.h): cleared
		 * before the schedule that may stamp it */
		x->mute_next = NULL;
		/* muted actors are event actors: a turn ended in muting */
		trp__assert(trp__kind_has_turns(x->kind));
		trp__schedule(rt, x);
		x = next;
	}
}

void trp__mute_on_receiver(struct trp__worker *w, struct trp_actor *a)
{
	struct trp_actor *r = w->mute_on;
	/* the no-deadlock rule: a sender never mutes on itself */
	trp__assert(r != NULL && r != a);
	w->mute_on = NULL;
	/* relaxed: validated by the CAS. */
	struct trp_actor *top =
		atomic_load_explicit(&r->muted, memory_order_relaxed);
	do {
		a->mute_next = top;
		/* ORDER: seq_cst: publishes a->mute_next to the unmuter and
		 * is ordered before our count re-read below. */
	} while (!atomic_compare_exchange_weak_explicit(&r->muted, &top, a,
							memory_order_seq_cst,
							memory_order_relaxed));
	/* ORDER: seq_cst, the other half of the Dekker pair. */
	if (trp__mailbox_count(&r->mailbox) < TRP__MUTE_LOW)
		trp__unmute_all(w->rt, r);
	trp_actor_release(r);
}
