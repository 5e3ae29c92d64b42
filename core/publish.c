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
 *   - from an outside thread, or a worker outside a turn, each is pushed
 *     at once (`now`) and the section ends with the call;
 *   - from a behaviour, they are sends of the turn like any other: the
 *     first to each receiver is pushed at once, the next ones join the
 *     turn's chain to it (outbox.h), pushed with one exchange per
 *     TRP__OUTBOX_CHAIN messages and at the latest when the turn ends;
 *     and the first publish of the turn keeps its read section open as
 *     the turn's, until those chains are pushed (outbox.h, `epoch_held`).
 *     Per-publisher order holds as for trp_send: a turn's messages to one
 *     receiver, published or sent, take one path in order. A publish to
 *     the running actor itself (it subscribed) is pushed at once, as
 *     before: the self bundle is not for exchange deliveries.
 * Rejected: pushing each delivery at once from a turn too (the old way: a
 * block and a contended exchange per delivery, 0.9x the Go peer's
 * per-message loop); making detach wait for the workers' batches instead
 * of holding the section (a second mechanism next to the grace period it
 * already waits for).
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

/* Sends of a publish: pushed at once (outside a turn, or to the running
 * actor itself), or as the turn's sends (batched). */
static const struct trp__send_opts send_now = { .entered = true, .now = true };
static const struct trp__send_opts send_batched = { .entered = true };

/* Delivers one message to every sink of @arr (inside the read section);
 * @self is the actor whose turn publishes (NULL: not in a turn). */
static int publish_one(const struct trp__sub_array *arr, uint32_t type,
		       const void *data, size_t len, struct trp_actor *self,
		       struct tally *t)
{
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
				bool now = self == NULL || s->actor == self;
				r = trp__actor_send(s->actor, type, data, len,
						    now ? &send_now :
							  &send_batched);
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
	if (arr == NULL) {
		rc = TRP_ECLOSED;
	} else if (n > 1 && len <= TRP__BUNDLE_PAYLOAD_MAX) {
		publish_run(arr, type, p, len, (uint32_t)n, &t);
		published = n;
	} else {
		for (size_t k = 0; k < n && rc == 0; k++) {
			rc = publish_one(arr, type, p + k * len, len, self, &t);
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
