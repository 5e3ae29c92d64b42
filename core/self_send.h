/*
 * core/self_send.h - a turn's messages to its own actor (the self bundle).
 *
 * A small copy a behaviour sends to its own actor does not go through the
 * mailbox while the turn runs: it is appended to the worker's self bundle
 * (struct trp__outbox, outbox.h), which the turn reads after the mailbox
 * has nothing more for it (self-sends are arrivals, taken under the same
 * bound, turn.c). What is left when the turn ends, or before the actor is
 * closed from its own turn, is pushed into the mailbox as one bundle (one
 * exchange), behind everything already there, as if it had been sent then.
 * A bundle read to its end is reused: an actor that messages itself to go
 * on allocates nothing and touches no shared line per step.
 *
 * Order: a self-send that cannot go into the bundle (owned, a request, too
 * large, a bounded mailbox, or the bundle is full) goes through the mailbox;
 * what the bundle holds goes first, and so does every later self-send of
 * the turn (trp__self_divert), so the actor sees its self-sends in send
 * order.
 *
 * Who may call: the worker running the actor's turn. No atomics but the
 * push of trp__self_flush.
 */
#ifndef TRP_CORE_SELF_SEND_H
#define TRP_CORE_SELF_SEND_H

#include <stdalign.h>
#include <stdint.h>

#include "actor.h"
#include "dead_letter.h"
#include "message.h"
#include "worker.h"

/* The part of trp__self_flush with entries to push. */
void trp__self_flush_held(struct trp_runtime *rt, struct trp__worker *w,
			  struct trp_actor *a);

/* Pushes the self-sends the turn of @a on @w has not processed into a's
 * mailbox and empties the self bundle (kept for the next turns). Inline:
 * every actor's stop calls it, and most have nothing there. */
static inline void trp__self_flush(struct trp_runtime *rt,
				   struct trp__worker *w, struct trp_actor *a)
{
	struct trp__outbox *o = &w->outbox;
	if (trp__likely(o->self_n == 0)) {
		if (o->self != NULL)
			o->self->pub.size = 0;
		o->self_rd = 0;
		return;
	}
	trp__self_flush_held(rt, w, a);
}

/* The rest of the turn of @a on @w sends to itself through the mailbox;
 * what the self bundle holds goes first. */
void trp__self_divert(struct trp_runtime *rt, struct trp__worker *w,
		      struct trp_actor *a);

/* Appends a small copy the turn of @a sends to @a itself to the self
 * bundle. 0; TRP_ENOMEM; or 1 if it must go through the mailbox (the
 * bundle overflowed: what it held was pushed, in order, and so will the
 * rest of the turn's self-sends be). */
static inline int trp__self_append(struct trp_runtime *rt,
				   struct trp__worker *w, struct trp_actor *a,
				   uint32_t type, int32_t status,
				   const void *data, size_t len)
{
	struct trp__outbox *o = &w->outbox;
	uint32_t need = trp__bundle_entry_size((uint32_t)len);
	struct trp__msg *b = o->self;
	if (b == NULL) {
		b = trp__bundle_alloc(&w->pool, TRP__SELF_BUNDLE);
		if (b == NULL)
			return TRP_ENOMEM;
		o->self = b;
		o->self_rd = 0;
		o->self_n = 0;
	} else if (b->pub.size + need > TRP__SELF_BUNDLE - sizeof(*b)) {
		trp__self_divert(rt, w, a);
		return 1;
	}
	trp__bundle_put(b->inline_data + b->pub.size, type, status, data, len);
	b->pub.size += need;
	o->self_n++;
	return 0;
}

/* True if the self bundle can take an entry of @need bytes as it is (no
 * allocation, no divert): the case of trp_send's fast path (send.c),
 * where trp__self_append would only append. */
static inline bool trp__self_room(const struct trp__outbox *o, uint32_t need)
{
	const struct trp__msg *b = o->self;
	return b != NULL && !o->self_off &&
	       b->pub.size + need <= TRP__SELF_BUNDLE - sizeof(*b);
}

/* Runs the behaviour of @a, whose turn runs on @w, on its oldest waiting
 * self-send (o->self_n != 0). */
static inline void trp__self_run_next(struct trp__worker *w,
				      struct trp_actor *a)
{
	struct trp__outbox *o = &w->outbox;
	trp__assert(o->self_n != 0 && w->current == a);
	/* The self bundle is a plain bundle (never shared entries). */
	const struct trp__bundle_entry *e =
		(const struct trp__bundle_entry
			 *)(const void *)(o->self->inline_data + o->self_rd);
	o->self_rd += trp__bundle_entry_size(e->size);
	o->self_n--;
	/* The behaviour may send itself more, which may move the bundle's
	 * entries: it reads a copy. */
	alignas(16) unsigned char copy[TRP__BUNDLE_PAYLOAD_MAX];
	trp_msg_t v = trp__bundle_view(e);
	if (e->size != 0) {
		trp__copy_payload(copy, e->data, e->size);
		v.data = copy;
	}
	a->behavior(a, a->state, &v);
	if (trp__likely(a->stop_request != TRP_STOP_FAILED))
		trp__stat_add(&w->stats.processed, 1);
	else /* it failed on this one (trp_actor_fail) */
		trp__dead_letter(a->rt, w, a, &v, TRP_DEAD_FAILED);
	if (o->self != NULL && o->self_n == 0) {
		o->self->pub.size = 0; /* read to its end */
		o->self_rd = 0;
	}
}

#endif /* TRP_CORE_SELF_SEND_H */
