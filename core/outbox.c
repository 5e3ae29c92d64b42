/*
 * core/outbox.c - a turn's send batches: the operations that push (see
 * outbox.h for the design and the ordering argument).
 *
 * Who may call: the worker running a turn, on its own outbox. Pushes are
 * the mailbox's (wait-free); nothing here blocks.
 */
#include "outbox.h"

#include "delivery.h"
#include "epoch.h"
#include "worker.h"

bool trp__outbox_new_bundle(struct trp__worker *w, struct trp__outbox_slot *s)
{
	struct trp__msg *b = trp__bundle_alloc(
		&w->pool, s->n == 0 ? TRP__BUNDLE_FIRST : TRP__BUNDLE_NEXT);
	if (b == NULL)
		return false;
	trp__outbox_close_bundle(s);
	trp__outbox_link(s, &b->node);
	s->bundle = b;
	s->wp = b->inline_data;
	s->wend = (unsigned char *)b + b->block;
	return true;
}

void trp__outbox_push(struct trp_runtime *rt, struct trp__worker *w,
		      struct trp__outbox_slot *s)
{
	uint32_t n = s->n;
	if (n == 0)
		return;
	s->n = 0;
	trp__outbox_close_bundle(s);
	(void)trp__push_chain(rt, w, s->to, s->first, s->last, n);
}

/* Pushes a held slot's chain; the slot stays a marker for this turn (its
 * first message went long ago) and keeps its reference. */
static void outbox_unhold(struct trp_runtime *rt, struct trp__worker *w,
			  struct trp__outbox_slot *s)
{
	trp__outbox_push(rt, w, s);
	s->held = 0;
}

/* Drops the reference slot @s holds, if any. */
static void outbox_unref(struct trp__outbox *o, struct trp__outbox_slot *s)
{
	if (s->ref) {
		s->ref = 0;
		o->nref--;
		trp_actor_release(s->to);
	}
}

void trp__outbox_release_refs(struct trp__worker *w)
{
	trp__assert(w->current == NULL);
	struct trp__outbox *o = &w->outbox;
	for (uint32_t i = 0; i < TRP__OUTBOX_SLOTS && o->nref != 0; i++)
		outbox_unref(o, &o->slot[i]);
}

void trp__outbox_flush_held(struct trp__worker *w, struct trp__outbox *o)
{
	/* First the feature's pending deliveries: each receiver's chain
	 * leaves ahead of them (trp__actor_send_shared pushes it first), and
	 * all of them before the read section ends, below. */
	trp__outbox_flush_pending(w, o);
	for (uint32_t i = 0; i < o->nheld; i++) {
		struct trp__outbox_slot *s = &o->slot[o->held[i]];
		if (s->held)
			outbox_unhold(w->rt, w, s);
		s->listed = 0;
	}
	o->nheld = 0;
	if (o->epoch_held) {
		/* ORDER: the pushes above (the mailboxes' exchanges) are
		 * sequenced before this exit's release (epoch.c); a grace
		 * period ends only after it observes every record that was
		 * active when it began inactive, so a detach whose grace
		 * period covered one of this turn's publishes returns after
		 * that publish's deliveries are in their mailboxes. Pushes
		 * outside the held chains (the turn's first message to each
		 * receiver, bounded receivers) were made before this too. */
		o->epoch_held = 0;
		trp__epoch_exit();
	}
}

void trp__outbox_settle(void)
{
	struct trp__worker *w = trp__self_worker;
	if (w != NULL && w->outbox.epoch_held) {
		trp__assert(w->current != NULL);
		trp__outbox_flush_held(w, &w->outbox);
	}
}

void trp__outbox_push_to(struct trp_runtime *rt, struct trp__worker *w,
			 const struct trp_actor *to)
{
	struct trp__outbox_slot *s = trp__outbox_find(&w->outbox, to);
	if (s != NULL && s->held)
		trp__outbox_push(rt, w, s);
}

int trp__outbox_send(struct trp_runtime *rt, struct trp__worker *w,
		     struct trp_actor *to, struct trp__msg *m)
{
	trp__assert(w->current != NULL && w->current != to &&
		    to->kind->batches);
	struct trp__outbox *o = &w->outbox;
	struct trp__outbox_slot *s = &o->slot[trp__outbox_index(to)];
	bool current = s->stamp == o->stamp;
	if (trp__likely(current && s->to == to)) {
		trp__outbox_hold(o, s);
		trp__outbox_link(s, &m->node);
		/* later small copies go after @m */
		trp__outbox_close_bundle(s);
		if (++s->n == TRP__OUTBOX_CHAIN)
			trp__outbox_push(rt, w, s);
		return 0;
	}
	if (current && s->held)
		/* Another receiver's slot: push its chain now (order per
		 * receiver is kept) and take the slot over. */
		outbox_unhold(rt, w, s);
	if (s->to != to)
		outbox_unref(o, s); /* kept if @to had the slot before */
	/* The first message to a receiver in this turn goes at once. */
	int rc = trp__deliver_counted(rt, w, to, m);
	if (rc == 0) {
		s->to = to;
		/* held and listed are 0: a slot of an earlier turn was
		 * cleared by that turn's flush, and this turn's was unheld
		 * above (it stays listed, so it is not listed twice). */
		s->stamp = o->stamp;
	}
	return rc;
}
