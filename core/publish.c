/*
 * core/publish.c - publishing to an exchange: one message or n of them to
 * every subscriber, and the exchange's counters (see exchange.h).
 *
 * Who may call: any thread, several at once; lock-free (an epoch read
 * section around the deliveries; one counter update per call).
 *
 * Deliveries to actor sinks are in their mailboxes before the read section
 * that covered the array they came from ends, so once a detach returns
 * (after a grace period) nothing is in flight to the sink:
 *   - from an outside thread, each is pushed at once and the section ends
 *     with the call (trp__actor_send_outside: the blocks from the workers'
 *     spares, message.h; the sends counted once per call); so from a
 *     worker outside a turn (trp__actor_send, `now`);
 *   - from a behaviour, the turn's publishes to one exchange are coalesced
 *     (below: one block of entries, one node per sink, flushed at the
 *     latest when the turn ends), and the first publish of the turn keeps
 *     its read section open as the turn's until the turn's held
 *     deliveries are pushed (outbox.h, `epoch_held`). What cannot be
 *     coalesced (a publish that found a stopped sink, a large payload)
 *     goes one by one as the turn's plain sends (trp_send: the first to
 *     each receiver at once, the next ones in the turn's chains), under
 *     the same section. Per-publisher order holds as for trp_send: a
 *     turn's messages to one receiver, published or sent, leave in order.
 * ORDER, the membership argument in one place: a detach swaps the array
 * (release) and waits for a grace period (epoch.c); every publish that
 * read the old array did so inside a read section of its worker's epoch
 * record, and for a behaviour that record stays active without a break
 * until trp__outbox_flush_held has pushed the turn's pending block and
 * chains (the pushes are sequenced before the section's release exit), so
 * the grace period, and with it the detach, ends after those deliveries
 * are in their mailboxes. A publish that starts after the detach returned
 * loads the new array (acquire) and never sees the sink. Attach is as
 * before: a publish loads the array at each call.
 * Rejected: pushing each delivery at once from a turn too (the old way: a
 * block and a contended exchange per delivery, 0.9x the Go peer's
 * per-message loop; 486 instructions per delivery at 1 worker, 93 now);
 * making detach wait for the workers' batches instead of holding the
 * section (a second mechanism next to the grace period it already waits
 * for, and a detach would still wait for the turn); batching an outside
 * thread's publishes across calls (a delivery would wait past the call's
 * return for the thread's next publish).
 */
#include <string.h>

#include "alloc.h"
#include "epoch.h"
#include "exchange.h"
#include "message.h"
#include "outbox.h"
#include "quiescence.h"
#include "send.h"
#include "worker.h"

/* A payload shared by the actor sinks of one publish. */
struct shared_buf {
	_Atomic(uint32_t) refs;
	uint32_t size;
	alignas(16) unsigned char data[];
};

static void shared_release(void *data)
{
	struct shared_buf *b =
		(struct shared_buf *)(void *)((unsigned char *)data -
					      offsetof(struct shared_buf,
						       data));
	/* ORDER: acq_rel, as for any reference count. */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		trp__free(b, sizeof *b + b->size);
}

/* Outcomes of the deliveries of one publish call. */
struct tally {
	uint64_t ok, full, dead, other;
};

static void tally_add(struct tally *t, int r, uint64_t k)
{
	if (r == 0)
		t->ok += k;
	else if (r == TRP_EFULL)
		t->full += k;
	else if (r == TRP_EDEAD)
		t->dead += k;
	else
		t->other += k;
}

/* Sends of a publish pushed at once (outside a turn, or to the running
 * actor itself); the others are the turn's plain sends. */
static const struct trp__send_opts send_now = { .entered = true, .now = true };

/* How the actor sinks of a publish are sent to. */
struct route {
	/* the actor whose turn publishes (NULL: not in a turn): deliveries
	 * join its batches */
	struct trp_actor *self;
	/* an outside publisher's run (send.h), or NULL */
	struct trp__outside_run *outside;
};

/* Delivers one message to every sink of @arr (inside the read section),
 * the actor sinks as @rt says. */
static int publish_one(const struct trp__sub_array *arr, uint32_t type,
		       const void *data, size_t len, struct route *ro,
		       struct tally *t)
{
	struct trp_actor *self = ro->self;
	struct shared_buf *shared = NULL;
	if (len > TRP_EXCHANGE_SHARE_MIN) {
		uint32_t actors = 0;
		for (uint32_t i = 0; i < arr->n; i++)
			actors += arr->v[i].sink.kind == TRP_SINK_ACTOR;
		if (actors > 1) {
			shared = trp__alloc(sizeof *shared + len);
			if (shared == NULL)
				return TRP_ENOMEM;
			/* ours + one per delivery that may take it */
			atomic_init(&shared->refs, actors + 1);
			shared->size = (uint32_t)len;
			memcpy(shared->data, data, len);
		}
	}
	trp_msg_t msg = { type, 0, len, len != 0 ? data : NULL };
	for (uint32_t i = 0; i < arr->n; i++) {
		const trp_sink_t *s = &arr->v[i].sink;
		int r = 0;
		switch (s->kind) {
		case TRP_SINK_ACTOR:
			if (shared != NULL) {
				struct trp__send_opts o = {
					.owned_free = shared_release,
					.entered = true,
					.now = self == NULL || s->actor == self
				};
				r = trp__actor_send(s->actor, type,
						    shared->data, len, &o);
				if (r != 0)
					shared_release(shared->data);
			} else {
				/* trp_send: a behaviour's plain send (its
				 * options are constants there) */
				if (ro->outside != NULL)
					r = trp__actor_send_outside(
						s->actor, type, data, len,
						ro->outside);
				else if (self == NULL || s->actor == self)
					r = trp__actor_send(s->actor, type,
							    data, len,
							    &send_now);
				else
					r = trp_send(s->actor, type, data, len);
			}
			break;
		case TRP_SINK_CALLBACK:
			s->fn(s->ctx, &msg);
			break;
		case TRP_SINK_TAP:
			trp__tap_print(s->tap, &msg);
			break;
		}
		tally_add(t, r, 1);
	}
	if (shared != NULL)
		shared_release(shared->data);
	return 0;
}

/*
 * Delivers @n small messages to every sink of @arr, sink by sink: an actor
 * gets them all as one chain of bundles (trp__actor_send_run), the others
 * one call per message.
 */
static void publish_run(const struct trp__sub_array *arr, uint32_t type,
			const unsigned char *items, size_t len, uint32_t n,
			struct tally *t)
{
	/* With two or more actor sinks, the entries are written once and
	 * shared (each mailbox gets a small node that refers to them): the
	 * publisher writes n entries instead of n per sink. Each actor sink's
	 * send takes one of the references made here (one atomic update for
	 * all of them), ours is the last. If that block cannot be allocated,
	 * each sink gets its own copy. */
	struct trp__shared_entries *shared = NULL;
	uint32_t actors = 0;
	for (uint32_t i = 0; i < arr->n; i++)
		actors += arr->v[i].sink.kind == TRP_SINK_ACTOR;
	if (actors > 1)
		shared = trp__shared_entries_make(type, items, len, n,
						  actors + 1);
	for (uint32_t i = 0; i < arr->n; i++) {
		const trp_sink_t *s = &arr->v[i].sink;
		if (s->kind == TRP_SINK_ACTOR) {
			int r;
			uint32_t ok = trp__actor_send_run(s->actor, type, items,
							  len, n, shared, &r);
			tally_add(t, 0, ok);
			tally_add(t, r != 0 ? r : TRP_EDEAD, n - ok);
			continue;
		}
		for (uint32_t k = 0; k < n; k++) {
			const unsigned char *d = items + (size_t)k * len;
			trp_msg_t msg = { type, 0, len, len != 0 ? d : NULL };
			if (s->kind == TRP_SINK_CALLBACK)
				s->fn(s->ctx, &msg);
			else
				trp__tap_print(s->tap, &msg);
		}
		t->ok += n;
	}
	if (shared != NULL)
		trp__shared_entries_release(shared); /* ours */
}

/* ------------------------------------------------------------------ */
/* a turn's publishes, coalesced                                        */

/*
 * The publishes of one turn to one exchange are written once, as the
 * entries of one shared block (message.h), and each actor sink gets one
 * node referring to the block for all of them (trp__actor_send_shared),
 * as publish_n does for the items of one call: the turn's pending
 * deliveries (outbox.h, trp__outbox_pending; owner = the exchange, set =
 * the subscriber array, block = the entries). The block is flushed when
 * it is full, when the turn publishes to another exchange or finds
 * another array (an attach or detach swapped it: the new array's sinks
 * get what is published from then on, the old one's what was published
 * before), before any other send of the turn leaves (send_checked), and
 * before the turn's chains are pushed and its read section ends
 * (trp__outbox_flush_held) - at the latest when the turn ends.
 *
 * Which sinks: actor sinks whose mailbox is unbounded and whose kind
 * batches (every event actor); the others (callbacks, taps, bounded
 * mailboxes, thread actors) are delivered at once, in the publish call,
 * as before. A delivery counts as accepted (stats.delivered) in the
 * publish call, where every coalesced sink's life cycle is looked at (the
 * early TRP_EDEAD of a send): a publish that finds one stopped pushes the
 * block first and then goes the one-by-one way of publish_one, which
 * counts dropped_dead and detaches the sink, as before. A sink that stops
 * after its deliveries were accepted gets them as dead letters (counted),
 * as for any chain of a turn.
 *
 * Order: per publisher, the block's entries are in publish order, and a
 * sink gets the block's node behind what the turn holds back for it
 * (chains, self bundle) and ahead of anything the turn sends later. The
 * array stays valid while the turn's read section holds it (outbox.h).
 */

/* Bytes of entries one block holds: 64 eight-byte messages. */
#define COALESCE_BYTES 2048u

/* The outbox's flush hook: sends the pending block to every coalescing
 * sink of its array. */
static void coalesced_flush(struct trp__worker *w)
{
	struct trp__outbox_pending *pd = &w->outbox.pending;
	struct trp_exchange *ex = pd->owner;
	const struct trp__sub_array *arr = pd->set;
	struct trp__shared_entries *sh = pd->block;
	uint32_t bytes = pd->used, n = pd->n;
	/* aux: the running actor is one of the sinks; it got its copies at
	 * once (outbox.h: nothing is held for it) */
	uint32_t self_in = pd->aux;
	struct trp_actor *skip = self_in ? w->current : NULL;
	pd->flush = NULL;
	pd->owner = pd->set = pd->block = NULL;
	pd->used = pd->n = pd->aux = 0;
	/* ours + one per node; set before any node can be taken */
	atomic_init(&sh->refs, arr->ncoal - self_in + 1);
	uint64_t lost = 0;
	for (uint32_t i = 0; i < arr->n; i++)
		if (arr->v[i].coalesce && arr->v[i].sink.actor != skip &&
		    !trp__actor_send_shared(w, arr->v[i].sink.actor, sh, bytes,
					    n))
			lost += n;
	trp__shared_entries_release(sh);
	if (trp__unlikely(lost != 0)) {
		/* counted as delivered when published; relaxed: statistics */
		atomic_fetch_sub_explicit(&ex->delivered, lost,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&ex->dropped_other, lost,
					  memory_order_relaxed);
	}
}

/*
 * A publish of one small message from the turn running on @w: coalesced
 * for the sinks that take it, at once for the others. Returns false, with
 * nothing done, if a coalescing sink has stopped or no block could be
 * allocated: the caller then delivers it one by one (publish_one).
 */
static bool publish_coalesced(struct trp__worker *w, struct trp_exchange *ex,
			      struct trp__sub_array *arr, uint32_t type,
			      const void *data, size_t len, struct tally *t)
{
	struct trp__outbox *o = &w->outbox;
	if (o->pending.flush != NULL &&
	    (o->pending.owner != ex || o->pending.set != arr))
		trp__outbox_flush_pending(w, o);
	uint32_t k = arr->ncoal, others = arr->n - k;
	/* relaxed: an early answer, as in send_checked. The loop is the
	 * publish's cost per sink: without the test of `coalesce` when
	 * every sink coalesces (the common case). */
	bool stopped = false;
	if (others == 0)
		for (uint32_t i = 0; i < arr->n; i++)
			stopped |= atomic_load_explicit(
					   &arr->v[i].sink.actor->lifecycle,
					   memory_order_relaxed) != TRP__ALIVE;
	else
		for (uint32_t i = 0; i < arr->n; i++)
			stopped |= arr->v[i].coalesce &&
				   atomic_load_explicit(
					   &arr->v[i].sink.actor->lifecycle,
					   memory_order_relaxed) != TRP__ALIVE;
	if (trp__unlikely(stopped)) {
		trp__outbox_flush_pending(w, o);
		return false;
	}
	uint32_t need = trp__bundle_entry_size((uint32_t)len);
	if (k != 0) {
		if (o->pending.flush != NULL &&
		    o->pending.used + need > COALESCE_BYTES)
			trp__outbox_flush_pending(w, o);
		if (o->pending.flush == NULL) {
			struct trp__shared_entries *sh =
				trp__shared_entries_alloc(COALESCE_BYTES);
			if (sh == NULL)
				return false;
			/* Is the publisher one of the sinks? Looked up once
			 * per block: it gets its copies at once instead,
			 * as before (a self-send would otherwise overtake
			 * them, outbox.h). */
			uint32_t self_in = 0;
			for (uint32_t i = 0; i < arr->n; i++)
				self_in |= arr->v[i].coalesce &&
					   arr->v[i].sink.actor == w->current;
			o->pending.owner = ex;
			o->pending.set = arr;
			o->pending.block = sh;
			o->pending.aux = self_in;
			o->pending.flush = coalesced_flush;
		}
		struct trp__shared_entries *sh = o->pending.block;
		trp__bundle_put(sh->data + o->pending.used, type, 0, data, len);
		o->pending.used += need;
		o->pending.n++;
		k -= o->pending.aux;
		/* the turn's bound counts them now (turn.c), and nothing is
		 * held before turn_sends says the turn sent (outbox.h) */
		w->turn_sends += k != 0 ? k : 1;
		t->ok += k;
		if (o->pending.aux)
			tally_add(t,
				  trp__actor_send(w->current, type, data, len,
						  &send_now),
				  1);
	}
	if (others == 0)
		return true;
	/* The rest at once, in array order. Not a receiver of the block:
	 * it need not leave first (beside_pending). */
	static const struct trp__send_opts beside = { .entered = true,
						      .now = true,
						      .beside_pending = true };
	trp_msg_t msg = { type, 0, len, len != 0 ? data : NULL };
	for (uint32_t i = 0; i < arr->n; i++) {
		const trp_sink_t *s = &arr->v[i].sink;
		if (arr->v[i].coalesce)
			continue;
		int r = 0;
		if (s->kind == TRP_SINK_ACTOR)
			r = trp__actor_send(s->actor, type, data, len, &beside);
		else if (s->kind == TRP_SINK_CALLBACK)
			s->fn(s->ctx, &msg);
		else
			trp__tap_print(s->tap, &msg);
		tally_add(t, r, 1);
	}
	return true;
}

/* trp_exchange_publish (@n == 1) and trp_exchange_publish_n. */
static int publish(trp_exchange_t *ex, uint32_t type, const void *items,
		   size_t len, size_t n)
{
	struct trp_runtime *rt = ex->rt;
	/* One bracket for all deliveries of an outside publisher. */
	struct trp__worker *w = trp__worker_of(rt);
	bool outside = w == NULL;
	/* the actor whose turn publishes: deliveries join its batches */
	struct trp_actor *self = w != NULL ? w->current : NULL;
	if (outside) {
		int rc = trp__outside_enter(rt);
		if (rc != 0)
			return rc;
	}
	int rc = trp__epoch_enter();
	if (rc != 0) {
		if (outside)
			trp__outside_leave(rt);
		return rc;
	}
	/* ORDER: acquire pairs with the release store in trp__subs_swap_locked. */
	struct trp__sub_array *arr =
		atomic_load_explicit(&ex->subs, memory_order_acquire);
	struct tally t = { 0 };
	uint64_t published = 0;
	const unsigned char *p = items;
	/* An outside publisher's call is one run (send.h): its blocks (one
	 * per actor sink) come a batch at a time from what the workers freed
	 * (message.h), its sends are counted once and the receivers it found
	 * idle scheduled together. The run ends before the bracket does:
	 * the runtime may be destroyed after. */
	struct route route = { .self = self };
	struct trp__outside_run run;
	if (outside && len <= TRP__MSG_INLINE_SMALL) {
		trp__outside_run_begin(rt, &run);
		route.outside = &run;
	}
	if (arr == NULL) {
		rc = TRP_ECLOSED;
	} else if (n == 1 && self != NULL && len <= TRP__BUNDLE_PAYLOAD_MAX &&
		   publish_coalesced(w, ex, arr, type, p, len, &t)) {
		published = 1;
	} else if (n > 1 && len <= TRP__BUNDLE_PAYLOAD_MAX) {
		if (self != NULL) /* after the turn's earlier publishes */
			trp__outbox_flush_pending(w, &w->outbox);
		publish_run(arr, type, p, len, (uint32_t)n, &t);
		published = n;
	} else if (n == 1 && route.outside != NULL && arr->ncoal == arr->n) {
		/* An outside thread's publish to actor sinks only (the seeds'
		 * exc.send from a plain thread): publish_one's loop without
		 * its per-sink choices. */
		uint64_t ok = 0;
		for (uint32_t i = 0; i < arr->n; i++) {
			int r = trp__actor_send_outside(arr->v[i].sink.actor,
							type, p, len, &run);
			if (trp__likely(r == 0))
				ok++;
			else
				tally_add(&t, r, 1);
		}
		t.ok += ok;
		published = 1;
	} else {
		if (self != NULL)
			trp__outbox_flush_pending(w, &w->outbox);
		for (size_t k = 0; k < n && rc == 0; k++) {
			rc = publish_one(arr, type, p + k * len, len, &route,
					 &t);
			published += rc == 0;
		}
	}
	if (self != NULL && !w->outbox.epoch_held)
		/* The turn's first publish: the section stays open until
		 * the turn's chains are pushed (outbox.h). Also after a
		 * settle ended the held one while this publish ran (a
		 * callback sink detached): our section was open without a
		 * break since before our deliveries, so it covers them. */
		w->outbox.epoch_held = 1;
	else
		trp__epoch_exit();
	if (route.outside != NULL)
		trp__outside_run_end(rt, &run);
	if (outside)
		trp__outside_leave(rt);
	/* relaxed: statistics; one update per counter per call. */
	if (published != 0)
		atomic_fetch_add_explicit(&ex->published, published,
					  memory_order_relaxed);
	if (t.ok != 0)
		atomic_fetch_add_explicit(&ex->delivered, t.ok,
					  memory_order_relaxed);
	if (t.full != 0)
		atomic_fetch_add_explicit(&ex->dropped_full, t.full,
					  memory_order_relaxed);
	if (t.dead != 0)
		atomic_fetch_add_explicit(&ex->dropped_dead, t.dead,
					  memory_order_relaxed);
	if (t.other != 0)
		atomic_fetch_add_explicit(&ex->dropped_other, t.other,
					  memory_order_relaxed);
	if (trp__unlikely(t.dead != 0)) {
		/* the grace period must not wait for this very turn */
		trp__outbox_settle();
		if (!trp__epoch_in_section())
			trp__subs_reap_stopped(ex);
	}
	return rc;
}

int trp_exchange_publish(trp_exchange_t *ex, uint32_t type, const void *data,
			 size_t len)
{
	if (ex == NULL || (data == NULL && len != 0))
		return TRP_EINVAL;
	if (len > TRP_MSG_MAX)
		return TRP_EMSGSIZE;
	return publish(ex, type, data, len, 1);
}

int trp_exchange_publish_n(trp_exchange_t *ex, uint32_t type, const void *items,
			   size_t len, size_t n)
{
	if (ex == NULL || n > UINT32_MAX ||
	    (items == NULL && len != 0 && n != 0))
		return TRP_EINVAL;
	if (len > TRP_MSG_MAX)
		return TRP_EMSGSIZE;
	if (n == 0)
		return 0;
	return publish(ex, type, items, len, n);
}

int trp_exchange_stats(trp_exchange_t *ex, trp_exchange_stats_t *out)
{
	if (ex == NULL || out == NULL)
		return TRP_EINVAL;
	/* relaxed: statistics. */
	out->published =
		atomic_load_explicit(&ex->published, memory_order_relaxed);
	out->delivered =
		atomic_load_explicit(&ex->delivered, memory_order_relaxed);
	out->dropped_full =
		atomic_load_explicit(&ex->dropped_full, memory_order_relaxed);
	out->dropped_dead =
		atomic_load_explicit(&ex->dropped_dead, memory_order_relaxed);
	out->dropped_other =
		atomic_load_explicit(&ex->dropped_other, memory_order_relaxed);
	trp__mutex_lock(&ex->lock);
	struct trp__sub_array *cur =
		atomic_load_explicit(&ex->subs, memory_order_relaxed);
	out->subscribers = cur != NULL ? cur->n : 0;
	trp__mutex_unlock(&ex->lock);
	return 0;
}
