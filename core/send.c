/*
 * core/send.c - the send path: from trp_send in a behaviour (or any thread)
 * to the receiver's mailbox.
 *
 * Read top to bottom. A send is checked (send_checked), then takes one of
 * five routes, each its own function:
 *
 *   outside   the caller is not one of the runtime's workers: it enters
 *             the runtime (quiescence and shutdown see it), then goes
 *             direct (or bounded)
 *   bounded   the receiver's mailbox has a bound: counted first, refused
 *             with TRP_EFULL at the bound, then pushed at once
 *   self      a turn sends a small copy to its own actor: into the self
 *             bundle (self_send.h), read later in the same turn
 *   chained   a turn's second and later messages to one receiver: linked
 *             into the turn's chain to it and pushed with one exchange
 *             (outbox.h), small copies packed into bundles
 *   direct    everything else: one message, one exchange, now
 *
 * and three more entries for exchanges (publish.c): trp__actor_send_run
 * (publish_n: n messages to one receiver as one chain),
 * trp__actor_send_shared (a turn's coalesced publishes: one node referring
 * to entries shared by every sink) and trp__actor_send_outside (an outside
 * publisher's deliveries, their blocks from a stash, counted per call).
 * A turn's pending deliveries (outbox.h, trp__outbox_pending) leave before
 * any other send of the turn.
 *
 * Every route ends in delivery.h (trp__deliver, trp__push_chain), which
 * wakes the receiver through its kind when the push found it idle. From
 * there the receiver's turn (turn.c) takes the message. Per-sender FIFO
 * order holds on every route: a turn's messages to one receiver all go the
 * same way within the turn (outbox.h), the self bundle is read after the
 * mailbox and pushed in order when diverted (self_send.h), and
 * trp__actor_send's `now` pushes what the turn holds back for the receiver
 * first.
 *
 * Accounting: a send that returns 0 is counted as sent (the identity
 * sent == processed + dead_lettered starts here); one that returns an
 * error is not, and the caller keeps its payload.
 */
#include "send.h"

#include <stdlib.h>

#include "alloc.h"
#include "delivery.h"
#include "outbox.h"
#include "park.h"
#include "probes.h"
#include "quiescence.h"
#include "scheduler.h"
#include "self_send.h"
#include "worker.h"

static const struct trp__send_opts plain_send = { 0 };

/* Accounts for an accepted send. */
static inline __attribute__((always_inline)) void sent(struct trp_runtime *rt,
						       struct trp__worker *w,
						       struct trp_actor *to,
						       size_t len)
{
	TRP_PROBE2(send, to->id, len);
	trp__count(w, &trp__stats_of(rt, w)->sent, 1);
	if (w != NULL)
		w->turn_sends++;
}

/* The message of a send that does not go into a bundle; NULL if it cannot
 * be allocated. */
static inline __attribute__((always_inline)) struct trp__msg *
make_msg(struct trp__worker *w, uint32_t type, const void *data, size_t len,
	 const struct trp__send_opts *opt)
{
	struct trp__msg *m;
	if (opt->owned_free != NULL) {
		m = trp__msg_alloc(trp__pool_of(w), 0);
		if (m == NULL)
			return NULL;
		m->pub.data = data;
		m->hold = TRP__HOLD_OWNED;
		m->u.free_fn = opt->owned_free;
	} else {
		m = w == NULL && opt->stash != NULL ?
			    trp__msg_stash_alloc(opt->stash, len) :
			    trp__msg_alloc(trp__pool_of(w), len);
		if (m == NULL)
			return NULL;
		m->pub.data = len != 0 ? m->inline_data : NULL;
		trp__copy_payload(m->inline_data, data, len);
	}
	m->pub.type = type;
	m->pub.status = opt->status;
	m->pub.size = len;
	if (opt->sys != NULL) {
		trp__assert(opt->now && opt->owned_free == NULL &&
			    opt->reply == NULL);
		m->hold = TRP__HOLD_SYS;
		m->u.sys = opt->sys;
	}
	if (opt->reply != NULL) {
		m->request = TRP__REQ_PENDING;
		m->u.reply = opt->reply;
	}
	return m;
}

/* The end of a route that pushed @m (@len payload bytes): counted if it
 * went in (@rc 0; @m may be processed and freed already, so it is not read
 * again), else its block freed (an owned payload stays the caller's). */
static inline __attribute__((always_inline)) int
settle(struct trp_runtime *rt, struct trp__worker *w, struct trp_actor *to,
       struct trp__msg *m, size_t len, int rc)
{
	if (trp__likely(rc == 0))
		sent(rt, w, to, len);
	else
		trp__msg_free_block(trp__pool_of(w), m);
	return rc;
}

/* ------------------------------------------------------------------ */
/* route: direct                                                       */

static inline __attribute__((always_inline)) int
send_direct(struct trp_runtime *rt, struct trp__worker *w, struct trp_actor *to,
	    uint32_t type, const void *data, size_t len,
	    const struct trp__send_opts *opt)
{
	struct trp__msg *m = make_msg(w, type, data, len, opt);
	if (m == NULL)
		return TRP_ENOMEM;
	if (opt->now && w != NULL && w->current != NULL)
		/* What the turn holds back for @to goes first (per-sender
		 * order). */
		trp__outbox_push_to(rt, w, to);
	return settle(rt, w, to, m, len, trp__deliver_counted(rt, w, to, m));
}

/* ------------------------------------------------------------------ */
/* route: bounded                                                      */

static __attribute__((noinline)) int
send_bounded(struct trp_runtime *rt, struct trp__worker *w,
	     struct trp_actor *to, uint32_t type, const void *data, size_t len,
	     const struct trp__send_opts *opt)
{
	if (to->kind->admit != NULL) {
		int refused = to->kind->admit(to, len);
		if (refused != 0)
			return refused;
	}
	if (to->kind->forward != NULL &&
	    trp__mailbox_idle_acquire(&to->mailbox)) {
		/* Nothing sent to it before is still waiting: it may take
		 * this one at once, in order (actor.h). */
		int rc = to->kind->forward(to, type, data, len, opt);
		if (rc != TRP__FORWARD_DECLINED)
			return rc;
	}
	if (w != NULL && to == w->current)
		/* behind what the self bundle holds (self_send.h) */
		trp__self_divert(rt, w, to);
	/* Counted before the message is made: a bound may be exceeded by
	 * the number of senders racing at that moment, at most. */
	uint32_t queued = trp__mailbox_count_add(&to->mailbox, 1);
	int rc;
	/* A system message (a DOWN, a remote DOWN's marker or exit signal
	 * on its way through a proxy) is never refused for the bound: it
	 * may not be lost, nor overtake what the mailbox holds. */
	if (queued >= to->limit && opt->sys == NULL) {
		trp__count(w, &trp__stats_of(rt, w)->rejected, 1);
		rc = TRP_EFULL;
	} else {
		struct trp__msg *m = make_msg(w, type, data, len, opt);
		if (m == NULL) {
			rc = TRP_ENOMEM;
		} else {
			rc = trp__deliver(rt, w, to, m);
			if (rc == 0)
				trp__note_overloaded(w, to, queued);
			rc = settle(rt, w, to, m, len, rc);
		}
	}
	if (rc != 0 && rc != TRP_EDEAD)
		/* TRP_EDEAD came back through a drain that already uncounted
		 * the message. */
		(void)trp__mailbox_count_sub(&to->mailbox, 1);
	return rc;
}

/* ------------------------------------------------------------------ */
/* route: self                                                         */

static inline __attribute__((always_inline)) int
send_self(struct trp_runtime *rt, struct trp__worker *w, struct trp_actor *to,
	  uint32_t type, const void *data, size_t len,
	  const struct trp__send_opts *opt)
{
	if (opt->owned_free == NULL && opt->reply == NULL && !opt->now &&
	    len <= TRP__BUNDLE_PAYLOAD_MAX && !w->outbox.self_off) {
		int r = trp__self_append(rt, w, to, type, opt->status, data,
					 len);
		if (r == 0)
			sent(rt, w, to, len);
		if (r <= 0)
			return r;
	}
	trp__self_divert(rt, w, to); /* the bundle cannot take this one */
	return send_direct(rt, w, to, type, data, len, opt);
}

/* ------------------------------------------------------------------ */
/* route: chained                                                      */

static inline __attribute__((always_inline)) int
send_chained(struct trp_runtime *rt, struct trp__worker *w,
	     struct trp_actor *to, uint32_t type, const void *data, size_t len,
	     const struct trp__send_opts *opt)
{
	struct trp__outbox_slot *s;
	if (opt->owned_free == NULL && opt->reply == NULL &&
	    len <= TRP__BUNDLE_PAYLOAD_MAX &&
	    (s = trp__outbox_find(&w->outbox, to)) != NULL) {
		/* A small copy to a receiver already sent to: bundled. */
		trp__outbox_hold(&w->outbox, s);
		int rc = trp__outbox_append(rt, w, s, type, opt->status, data,
					    len);
		if (rc == 0)
			sent(rt, w, to, len);
		return rc;
	}
	struct trp__msg *m = make_msg(w, type, data, len, opt);
	if (m == NULL)
		return TRP_ENOMEM;
	return settle(rt, w, to, m, len, trp__outbox_send(rt, w, to, m));
}

/* ------------------------------------------------------------------ */
/* route: outside                                                      */

static __attribute__((noinline)) int
send_outside(struct trp_runtime *rt, struct trp_actor *to, uint32_t type,
	     const void *data, size_t len, const struct trp__send_opts *opt)
{
	if (!opt->entered) {
		int rc = trp__outside_enter(rt);
		if (rc != 0)
			return rc;
	}
	int rc = to->limit != 0 ?
			 send_bounded(rt, NULL, to, type, data, len, opt) :
			 send_direct(rt, NULL, to, type, data, len, opt);
	if (!opt->entered)
		trp__outside_leave(rt);
	return rc;
}

/* ------------------------------------------------------------------ */
/* choosing the route                                                  */

/* Out of line: the hot path keeps one load and one branch for it. */
static __attribute__((noinline, cold)) void flush_pending(struct trp__worker *w)
{
	trp__outbox_flush_pending(w, &w->outbox);
}

static inline __attribute__((always_inline)) int
send_route(struct trp_runtime *rt, struct trp__worker *w, struct trp_actor *to,
	   uint32_t type, const void *data, size_t len,
	   const struct trp__send_opts *opt);

/* Inlined into trp_send with constant options: a plain send tests none
 * of them at run time. */
static inline __attribute__((always_inline)) int
send_checked(struct trp_actor *to, uint32_t type, const void *data, size_t len,
	     const struct trp__send_opts *opt)
{
	if (to == NULL || (data == NULL && len != 0))
		return TRP_EINVAL;
	if (len > TRP_MSG_MAX)
		return TRP_EMSGSIZE;
	/* relaxed: an early answer only; the closed tag is what makes a
	 * late send safe (delivery.h). */
	if (atomic_load_explicit(&to->lifecycle, memory_order_relaxed) !=
	    TRP__ALIVE)
		return TRP_EDEAD;
	struct trp_runtime *rt = to->rt;
	return send_route(rt, trp__worker_of(rt), to, type, data, len, opt);
}

/* send_checked's choice of route, after its checks: @w is the calling
 * thread's worker if it belongs to @rt, to's runtime, else NULL. */
static inline __attribute__((always_inline)) int
send_route(struct trp_runtime *rt, struct trp__worker *w, struct trp_actor *to,
	   uint32_t type, const void *data, size_t len,
	   const struct trp__send_opts *opt)
{
	if (w == NULL)
		return send_outside(rt, to, type, data, len, opt);
	if (to->limit != 0)
		return send_bounded(rt, w, to, type, data, len, opt);
	if (to == w->current)
		return send_self(rt, w, to, type, data, len, opt);
	/* Not the turn's first send (that one goes at once and skips the
	 * table: most turns send just one). */
	if (w->current != NULL && w->turn_sends != 0) {
		/* What the turn holds back besides its chains (an exchange's
		 * publishes) leaves first: per-sender order (outbox.h). Only
		 * here: it is held only after the turn sent, and never for
		 * a bounded receiver or the running actor itself. */
		if (trp__unlikely(w->outbox.pending.flush != NULL) &&
		    !opt->beside_pending)
			flush_pending(w);
		if (to->kind->batches && !opt->now)
			return send_chained(rt, w, to, type, data, len, opt);
	}
	return send_direct(rt, w, to, type, data, len, opt);
}

/* trp_send when the fast path below does not apply: every check and
 * route. Out of line, so that the fast path saves no registers. */
static __attribute__((noinline)) int
send_slow(struct trp_actor *to, uint32_t type, const void *data, size_t len)
{
	return send_checked(to, type, data, len, &plain_send);
}

/* trp_send past the fast path's checks (send_checked's, for a payload of
 * at most 16 bytes) on a worker @w of some runtime: the routes. */
static __attribute__((noinline)) int
send_slow_routed(struct trp__worker *w, struct trp_actor *to, uint32_t type,
		 const void *data, size_t len)
{
	struct trp_runtime *rt = to->rt;
	return send_route(rt, w->rt == rt ? w : NULL, to, type, data, len,
			  &plain_send);
}

/* The last of a chain's TRP__OUTBOX_CHAIN messages went in: push it. Out
 * of line (a tail call), like send_slow. */
static __attribute__((noinline)) int push_full(struct trp__worker *w,
					       struct trp__outbox_slot *s)
{
	trp__outbox_push(w->rt, w, s);
	return 0;
}

/*
 * trp_send's fast path: the two routes that most sends of a busy turn take
 * and that need no call, a small copy (up to 16 bytes, the pooled
 * block's payload) appended to the self bundle (route
 * self) or to the open bundle of the chain this turn holds for @to (route
 * chained). It makes send_checked's checks, in its order where it matters,
 * and takes exactly the branch send_checked would take for these cases
 * (self_send.h: trp__self_room, outbox.h: trp__outbox_room); anything else
 * (an error, an outside thread, a bounded receiver, a first send to a
 * receiver, a bundle to allocate, a divert, pending feature deliveries)
 * goes to send_slow (which starts over) or, past the checks, to
 * send_slow_routed.
 */
static inline __attribute__((always_inline)) int
send_fast(struct trp__worker *w, struct trp_actor *to, uint32_t type,
	  const void *data, size_t len)
{
	if (trp__unlikely(to == NULL || len > TRP__MSG_INLINE_SMALL ||
			  (data == NULL && len != 0)))
		return send_slow(to, type, data, len);
	/* relaxed: an early answer only, as in send_checked. */
	if (trp__unlikely(atomic_load_explicit(&to->lifecycle,
					       memory_order_relaxed) !=
			  TRP__ALIVE))
		return TRP_EDEAD;
	struct trp__outbox *o = &w->outbox;
	uint32_t need = trp__bundle_entry_size((uint32_t)len);
	if (to == w->current) {
		if (to->limit != 0 || !trp__self_room(o, need))
			return send_slow_routed(w, to, type, data, len);
		struct trp__msg *b = o->self;
		size_t at = b->pub.size;
		trp__bundle_put_small(b->inline_data + at, type, data, len);
		b->pub.size = at + need;
		o->self_n++;
		sent(w->rt, w, to, len);
		return 0;
	}
	/* A held chain means the turn sent already (send_checked's
	 * turn_sends test) to an unbounded receiver whose kind batches
	 * (the only ones trp__outbox_send makes slots for); what a feature
	 * holds back leaves first, on the slow path. */
	struct trp__outbox_slot *s;
	if (o->pending.flush != NULL ||
	    (s = trp__outbox_room(o, to, need)) == NULL)
		return send_slow_routed(w, to, type, data, len);
	unsigned char *wp = s->wp;
	trp__bundle_put_small(wp, type, data, len);
	s->wp = wp + need;
	sent(w->rt, w, to, len);
	if (++s->n == TRP__OUTBOX_CHAIN)
		return push_full(w, s);
	return 0;
}

int trp_send(trp_actor_t *to, uint32_t type, const void *data, size_t len)
{
	/* Any worker: both routes of send_fast are for actors of its own
	 * runtime (the running actor; a chain only the full path, which
	 * checked the runtime, can have begun). A turn's first send (most
	 * turns send one) goes to the full path at once: no chain is held
	 * then, and the self bundle is empty. Two tail calls, so that this
	 * test costs a turn's first send a few instructions only. */
	struct trp__worker *w = trp__self_worker;
	if (w == NULL || w->turn_sends == 0)
		return send_slow(to, type, data, len);
	return send_fast(w, to, type, data, len);
}

int trp_send_owned(trp_actor_t *to, uint32_t type, void *buf, size_t len,
		   trp_free_fn free_fn)
{
	struct trp__send_opts opt = { .owned_free = free_fn != NULL ?
							    free_fn :
							    trp__app_free };
	return trp__actor_send(to, type, buf, len, &opt);
}

int trp__actor_send(struct trp_actor *to, uint32_t type, const void *data,
		    size_t len, const struct trp__send_opts *opt)
{
	return send_checked(to, type, data, len,
			    opt != NULL ? opt : &plain_send);
}

/* ------------------------------------------------------------------ */
/* route: an outside publisher's deliveries                            */

int trp__actor_send_outside(struct trp_actor *to, uint32_t type,
			    const void *data, size_t len,
			    struct trp__outside_run *run)
{
	/* relaxed: an early answer only, as in send_checked. */
	if (atomic_load_explicit(&to->lifecycle, memory_order_relaxed) !=
	    TRP__ALIVE)
		return TRP_EDEAD;
	struct trp_runtime *rt = to->rt;
	if (trp__unlikely(to->limit != 0)) {
		struct trp__send_opts o = { .stash = &run->stash,
					    .entered = true,
					    .now = true };
		return send_bounded(rt, NULL, to, type, data, len, &o);
	}
	struct trp__msg *m = trp__msg_stash_take(&run->stash, len);
	if (m == NULL)
		return TRP_ENOMEM;
	m->pub.data = len != 0 ? m->inline_data : NULL;
	trp__copy_payload(m->inline_data, data, len);
	m->pub.type = type;
	m->pub.status = 0;
	m->pub.size = len;
	/* trp__deliver_counted, but an event actor this push takes out of
	 * the idle state is scheduled with the run's others at its end. */
	uint32_t queued = trp__mailbox_count_add(&to->mailbox, 1);
	run->overloaded += queued >= TRP__MUTE_LOW;
	unsigned tag = trp__mailbox_push_mp(&to->mailbox, &m->node);
	if (trp__unlikely(tag == TRP__MAILBOX_CLOSED) &&
	    trp__drain_and_close(rt, NULL, to, m, TRP_DEAD_STOPPED)) {
		trp__msg_free_block(NULL, m);
		return TRP_EDEAD;
	}
	if (tag == TRP__MAILBOX_IDLE) {
		if (trp__likely(to->kind->wake == NULL)) {
			/* relaxed: the chain is ours until the injection
			 * queue's push publishes it. */
			if (run->woken == 0)
				run->woken_first = &to->run_node;
			else
				atomic_store_explicit(&run->woken_last->next,
						      &to->run_node,
						      memory_order_relaxed);
			run->woken_last = &to->run_node;
			run->woken++;
		} else {
			trp__wake(rt, to);
		}
	}
	TRP_PROBE2(send, to->id, len);
	run->sent++;
	return 0;
}

void trp__outside_run_begin(struct trp_runtime *rt,
			    struct trp__outside_run *run)
{
	trp__msg_stash_init(&run->stash, rt->pools, rt->nworkers,
			    (uint32_t)((uintptr_t)run >> 12));
	run->sent = 0;
	run->overloaded = 0;
	run->woken = 0;
	run->woken_first = run->woken_last = NULL;
	/* relaxed: a count the wake budget reads as a hint (park.h). */
	atomic_fetch_add_explicit(&rt->outside_pubs, 1, memory_order_relaxed);
}

/* When this thread's last publish call ended (trp__outside_run_end). */
static _Thread_local uint64_t last_publish_end;

void trp__outside_run_end(struct trp_runtime *rt, struct trp__outside_run *run)
{
	if (run->woken != 0)
		trp__inject_chain(rt, run->woken_first, run->woken_last,
				  run->woken);
	/* A thread that publishes in a loop (its previous call ended
	 * within TRP__PUB_LOOP_NS) goes on using its CPU between calls:
	 * it stays counted for a while (park.h, "Budget"); one that
	 * publishes now and then, or says it will sleep (trp__waker_sleeps),
	 * counts only inside its calls. relaxed, as in run_begin. */
	uint64_t now = trp__now_ns();
	bool behind = run->overloaded != 0;
	if (now - last_publish_end < TRP__PUB_LOOP_NS && !trp__waker_sleeps &&
	    !behind)
		atomic_store_explicit(&rt->outside_pub_ns, now,
				      memory_order_relaxed);
	last_publish_end = now;
	atomic_fetch_sub_explicit(&rt->outside_pubs, 1, memory_order_relaxed);
	/* Receivers far behind: the budget gives way, a parked worker helps
	 * them catch up (the yields below leave it the CPU). relaxed: a
	 * hint, as the surplus bells (park.h). */
	if (trp__unlikely(behind) &&
	    (atomic_load_explicit(&rt->sleepers, memory_order_relaxed) &
	     TRP__SLEEPER_MASK) != 0)
		trp__ring_park_bell(rt);
	if (run->sent != 0)
		trp__count(NULL, &trp__stats_of(rt, NULL)->sent, run->sent);
	trp__msg_stash_done(&run->stash);
	for (uint32_t k = 0; k < run->overloaded; k++)
		trp__thread_yield();
}

/* ------------------------------------------------------------------ */
/* route: a turn's shared entries (an exchange's coalesced publishes)   */

bool trp__actor_send_shared(struct trp__worker *w, struct trp_actor *to,
			    struct trp__shared_entries *shared, uint32_t bytes,
			    uint32_t n)
{
	trp__assert(w->current != NULL && to->limit == 0 && to->kind->batches);
	struct trp_runtime *rt = w->rt;
	struct trp__msg *m = trp__msg_alloc(&w->pool, 0);
	if (trp__unlikely(m == NULL)) {
		trp__shared_entries_release(shared);
		return false;
	}
	m->hold = TRP__HOLD_SHARED; /* keeps the reference */
	m->pub.data = shared->data;
	m->pub.size = bytes;
	/* What this turn holds back for @to goes first (per-sender order). */
	trp__outbox_push_to(rt, w, to);
	if (w->current == to)
		trp__self_divert(rt, w, to);
	for (uint32_t k = 0; k < n; k++)
		TRP_PROBE2(send, to->id, 0);
	trp__stat_add(&w->stats.sent, n);
	(void)trp__push_chain(rt, w, to, &m->node, &m->node, n);
	return true;
}

/* ------------------------------------------------------------------ */
/* route: publish (n messages to one receiver as one chain)            */

/* Builds @n copies of the @len-byte messages at @items into a chain of
 * bundles (up to TRP__BUNDLE_NEXT bytes each). 0 or TRP_ENOMEM. */
static int build_run(struct trp__worker *w, uint32_t type,
		     const unsigned char *p, size_t len, uint32_t n,
		     struct trp__mpsc_node **firstp,
		     struct trp__mpsc_node **lastp)
{
	uint32_t need = trp__bundle_entry_size((uint32_t)len);
	uint32_t per =
		(TRP__BUNDLE_NEXT - (uint32_t)sizeof(struct trp__msg)) / need;
	struct trp__mpsc_node *first = NULL, *last = NULL;
	for (uint32_t k = 0; k < n;) {
		uint32_t m = n - k < per ? n - k : per;
		struct trp__msg *b = trp__bundle_alloc(
			trp__pool_of(w),
			(uint32_t)sizeof(struct trp__msg) + m * need);
		if (b == NULL) {
			while (first != NULL) {
				/* relaxed: our own private chain. */
				struct trp__mpsc_node *next =
					atomic_load_explicit(
						&first->next,
						memory_order_relaxed);
				trp__msg_free_block(trp__pool_of(w),
						    trp__msg_of(first));
				first = first == last ? NULL : next;
			}
			return TRP_ENOMEM;
		}
		for (uint32_t j = 0; j < m; j++, k++) {
			trp__bundle_put(b->inline_data + b->pub.size, type, 0,
					p + (size_t)k * len, len);
			b->pub.size += need;
		}
		/* relaxed: the chain is private until the push. */
		if (first == NULL)
			first = &b->node;
		else
			atomic_store_explicit(&last->next, &b->node,
					      memory_order_relaxed);
		last = &b->node;
	}
	*firstp = first;
	*lastp = last;
	return 0;
}

uint32_t trp__actor_send_run(struct trp_actor *to, uint32_t type,
			     const void *items, size_t len, uint32_t n,
			     struct trp__shared_entries *shared, int *rc)
{
	static const struct trp__send_opts now = { .entered = true,
						   .now = true };
	const unsigned char *p = items;
	if (to->limit != 0 || !to->kind->batches || n == 1 ||
	    atomic_load_explicit(&to->lifecycle, memory_order_relaxed) !=
		    TRP__ALIVE) {
		/* One by one (a stopped actor: each gets TRP_EDEAD, its
		 * early answer; relaxed, as in trp__actor_send). The shared
		 * reference handed over is not needed. */
		if (shared != NULL)
			trp__shared_entries_release(shared);
		uint32_t ok = 0;
		*rc = 0;
		for (uint32_t k = 0; k < n; k++) {
			int r = trp__actor_send(to, type, p + (size_t)k * len,
						len, &now);
			if (r == 0)
				ok++;
			else if (*rc == 0)
				*rc = r;
		}
		return ok;
	}
	struct trp_runtime *rt = to->rt;
	struct trp__worker *w = trp__worker_of(rt);
	struct trp__mpsc_node *first, *last;
	if (shared != NULL) {
		/* One small node that refers to the shared entries. */
		struct trp__msg *m = trp__msg_alloc(trp__pool_of(w), 0);
		if (m == NULL) {
			trp__shared_entries_release(shared);
			*rc = TRP_ENOMEM;
			return 0;
		}
		m->hold = TRP__HOLD_SHARED; /* keeps the reference */
		m->pub.data = shared->data;
		m->pub.size = (size_t)trp__bundle_entry_size((uint32_t)len) * n;
		first = last = &m->node;
	} else {
		*rc = build_run(w, type, p, len, n, &first, &last);
		if (*rc != 0)
			return 0;
	}
	/* What this turn holds back for @to goes first (per-sender order). */
	if (w != NULL && w->current != NULL) {
		trp__outbox_push_to(rt, w, to);
		if (w->current == to)
			trp__self_divert(rt, w, to);
	}
	for (uint32_t k = 0; k < n; k++)
		TRP_PROBE2(send, to->id, len);
	trp__count(w, &trp__stats_of(rt, w)->sent, n);
	if (w != NULL)
		w->turn_sends += n;
	bool pushed = trp__push_chain(rt, w, to, first, last, n);
	*rc = pushed ? 0 : TRP_EDEAD; /* else: dead letters now, counted */
	return pushed ? n : 0;
}
