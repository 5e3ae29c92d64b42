/*
 * core/delivery.c - draining a stopped actor's mailbox into dead letters
 * (see delivery.h).
 */
#include "delivery.h"

#include "dead_letter.h"

/* @m was taken and will not be processed: a dead letter; answer a
 * request, drop the payload. Its block stays until the mailbox lets go of
 * it. */
static void dead_letter(struct trp_runtime *rt, struct trp__worker *w,
			struct trp_actor *to, struct trp__msg *m,
			trp_dead_reason_t why)
{
	trp__dead_letter(rt, w, to, &m->pub, why);
	trp__request_done(m, TRP_EDEAD);
	trp__msg_drop_payload(m);
}

/* The entries of bundle @b from offset @off on will not be processed:
 * each is a dead letter; returns how many. */
static uint32_t dead_letter_bundle(struct trp_runtime *rt,
				   struct trp__worker *w, struct trp_actor *to,
				   const struct trp__msg *b, uint32_t off,
				   trp_dead_reason_t why)
{
	uint32_t k = 0;
	while (off < b->pub.size) {
		const struct trp__bundle_entry *e =
			trp__bundle_entry_at(b, off);
		trp_msg_t v = trp__bundle_view(e);
		trp__dead_letter(rt, w, to, &v, why);
		off += trp__bundle_entry_size(e->size);
		k++;
	}
	return k;
}

bool trp__drain_and_close(struct trp_runtime *rt, struct trp__worker *w,
			  struct trp_actor *a, struct trp__msg *keep,
			  trp_dead_reason_t why)
{
	trp__assert(atomic_load_explicit(&a->lifecycle, memory_order_relaxed) ==
		    TRP__STOPPED);
	bool found = false;
	uint32_t users = 0;
	for (;;) {
		struct trp__mpsc_node *done;
		uint32_t off;
		struct trp__mpsc_node *n = trp__next_node(a, &done, &off);
		if (n == NULL) {
			if (trp__mailbox_close_sc(&a->mailbox, &done)) {
				if (keep == NULL || done != &keep->node)
					trp__release_done(w, a, done);
				break;
			}
			/* A producer is between its exchange and its link:
			 * it will finish in a few instructions. */
			trp__cpu_relax();
			continue;
		}
		if (keep == NULL || done != &keep->node)
			trp__release_done(w, a, done);
		if (n == &a->close_node)
			continue;
		struct trp__msg *m = trp__msg_of(n);
		if (trp__msg_is_bundle(m)) {
			users += dead_letter_bundle(rt, w, a, m, off, why);
			trp__msg_drop_payload(m); /* a shared bundle's ref */
			continue;
		}
		users++;
		if (m == keep)
			found = true;
		else
			dead_letter(rt, w, a, m, why);
	}
	if (users != 0)
		/* ORDER: seq_cst, the receiver's half of the unmute Dekker
		 * pair (backpressure.h). */
		(void)trp__mailbox_count_sub(&a->mailbox, users);
	/* Whoever waits for this actor to catch up waits no more. At
	 * shutdown nobody runs again, and the muted may already be freed. */
	if (why != TRP_DEAD_SHUTDOWN)
		trp__unmute_all(rt, a);
	return found;
}
