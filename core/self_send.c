/*
 * core/self_send.c - a turn's messages to its own actor: the operations
 * that push (see self_send.h).
 */
#include "self_send.h"

#include <string.h>

#include "delivery.h"

/* Pushes the self-sends the turn of @a on @w has not processed into a's
 * mailbox, copied into a block of their size (one pooled message when
 * there is one), and keeps the self bundle, emptied, for the next turns.
 * If the copy cannot be allocated, the bundle itself is pushed (and the
 * worker allocates another at its next self-send). */
void trp__self_flush_held(struct trp_runtime *rt, struct trp__worker *w,
			  struct trp_actor *a)
{
	struct trp__outbox *o = &w->outbox;
	struct trp__msg *b = o->self;
	uint32_t n = o->self_n;
	trp__assert(n != 0);
	const unsigned char *from = b->inline_data + o->self_rd;
	uint32_t bytes = (uint32_t)b->pub.size - o->self_rd;
	struct trp__msg *m = NULL;
	if (n == 1) {
		const struct trp__bundle_entry *e =
			(const struct trp__bundle_entry *)(const void *)from;
		m = trp__msg_alloc(trp__pool_of(w), e->size);
		if (m != NULL) {
			m->pub = trp__bundle_view(e);
			if (e->size != 0) {
				memcpy(m->inline_data, e->data, e->size);
				m->pub.data = m->inline_data;
			}
		}
	} else {
		m = trp__bundle_alloc(
			&w->pool, (uint32_t)sizeof(struct trp__msg) + bytes);
		if (m != NULL) {
			memcpy(m->inline_data, from, bytes);
			m->pub.size = bytes;
		}
	}
	if (m != NULL) {
		b->pub.size = 0; /* kept for the next self-sends */
	} else {
		if (o->self_rd != 0)
			memmove(b->inline_data, from, bytes);
		b->pub.size = bytes;
		m = b;
		o->self = NULL;
	}
	o->self_rd = 0;
	o->self_n = 0;
	/* The turn is a's consumer: the mailbox is neither idle nor closed
	 * until the turn ends or stop.c closes it, after this push. */
	(void)trp__push_chain(rt, w, a, &m->node, &m->node, n);
}

/* A self-send of the turn of @a on @w goes through the mailbox: it must
 * come behind those the self bundle holds, so they go first, and so do
 * the rest of the turn's self-sends (a bundle entry taken before a mailbox
 * message that is still being linked would overtake it). */
void trp__self_divert(struct trp_runtime *rt, struct trp__worker *w,
		      struct trp_actor *a)
{
	if (w->outbox.self_off)
		return;
	trp__self_flush(rt, w, a);
	w->outbox.self_off = 1;
}
