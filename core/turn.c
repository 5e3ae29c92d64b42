/*
 * core/turn.c - one turn of an event actor on a worker (see turn.h): take
 * messages from the mailbox (and the self bundle), run the behaviour on
 * each, then flush the turn's sends and decide what becomes of the actor:
 * stopped, muted, rescheduled, or idle.
 */
#include "turn.h"

#include "backpressure.h"
#include "dead_letter.h"
#include "delivery.h"
#include "metrics.h"
#include "outbox.h"
#include "probes.h"
#include "self_send.h"
#include "stop.h"
#include "worker.h"

/* A long turn lowers its mailbox's count as it goes, not only at its end:
 * senders muted on it (actor.h, "Backpressure") go back to work as soon as
 * it has caught up, instead of waiting (their worker maybe parked) for a
 * turn that takes arrivals to end. */
#define TRP__CONSUMED_EVERY 256u

static inline void consumed_so_far(struct trp_actor *a, uint32_t n,
				   uint32_t *counted)
{
	if (trp__unlikely(n - *counted >= TRP__CONSUMED_EVERY)) {
		trp__consumed(a, n - *counted);
		*counted = n;
	}
}

/* After @n messages of the turn running on @w: should it end (see
 * trp__actor_run)? @past: the messages present at its start are done. */
static inline bool turn_ends(struct trp__worker *w, struct trp_runtime *rt,
			     uint32_t n, uint32_t batch, bool past)
{
	/* relaxed: the shutdown flag is sticky; destroy stops workers after
	 * their current turn, so end it now. */
	return n >= batch || (past && w->turn_sends >= TRP__TURN_SENDS) ||
	       trp__unlikely(w->mute_on != NULL) ||
	       trp__unlikely(atomic_load_explicit(&rt->shutdown,
						  memory_order_relaxed));
}

/* turn_ends but the batch: the bundle loop tests that at entry_check's
 * mark only. */
static inline bool turn_ends_but_batch(struct trp__worker *w,
				       struct trp_runtime *rt, bool past)
{
	/* relaxed: as in turn_ends. */
	return (past && w->turn_sends >= TRP__TURN_SENDS) ||
	       trp__unlikely(w->mute_on != NULL) ||
	       trp__unlikely(atomic_load_explicit(&rt->shutdown,
						  memory_order_relaxed));
}

/* In a bundle, after @n messages of which @taken were taken and @counted
 * of those taken off the count: the message count at which the loop must
 * look at the batch or lower the count (consumed_so_far: @taken -
 * @counted < TRP__CONSUMED_EVERY here). */
static inline uint32_t entry_check(uint32_t n, uint32_t batch, uint32_t taken,
				   uint32_t counted)
{
	trp__assert(taken - counted < TRP__CONSUMED_EVERY);
	uint32_t at = n + (TRP__CONSUMED_EVERY - (taken - counted));
	return at < batch ? at : batch;
}

/* Killed (stop.c): the turn takes no further message. relaxed: a late
 * look costs one more message; the reason is read with acquire when it
 * is acted on (kill_reason). */
static inline bool killed(const struct trp_actor *a)
{
	return trp__unlikely(
		atomic_load_explicit(&((struct trp_actor *)a)->lifecycle,
				     memory_order_relaxed) == TRP__KILLED);
}

static trp_stop_reason_t kill_reason(struct trp_actor *a)
{
	/* ORDER: acquire pairs with the kill's CAS (release), which
	 * published kill_reason. */
	(void)atomic_load_explicit(&a->lifecycle, memory_order_acquire);
	return (trp_stop_reason_t)atomic_load_explicit(&a->kill_reason,
						       memory_order_relaxed);
}

/* The behaviour of @a failed on @msg (trp_actor_fail): the message counts
 * as a dead letter, not as processed (the caller counted it processed
 * already). */
static __attribute__((noinline, cold)) void failed_on(struct trp_runtime *rt,
						      struct trp__worker *w,
						      struct trp_actor *a,
						      const trp_msg_t *msg)
{
	trp__stat_add(&w->stats.processed, (uint64_t)-1);
	trp__dead_letter(rt, w, a, msg, TRP_DEAD_FAILED);
}

/* A system message (message.h) that trp_demonitor voided: a dead letter
 * instead of a delivery. */
static __attribute__((noinline, cold)) bool sys_voided(struct trp_runtime *rt,
						       struct trp__worker *w,
						       struct trp_actor *a,
						       struct trp__msg *m)
{
	if (m->u.sys->ops->admit(m->u.sys))
		return false;
	trp__dead_letter(rt, w, a, &m->pub, TRP_DEAD_DEMONITORED);
	return true;
}

/* A sampled schedule stamped @a (scheduler.c): the delay until now. */
static __attribute__((noinline, cold)) void sched_latency(struct trp__worker *w,
							  struct trp_actor *a)
{
	uint64_t now = trp__now_ns();
	uint64_t at = a->sched_at;
	a->sched_at = 0;
	trp__hist_record(&w->metrics.sched_latency, now > at ? now - at : 0);
}

/* The behaviour of an actor with metrics on (installed by metered): times
 * the actor's own behaviour into its block. Runs on its consumer. */
static void timed_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	/* relaxed: metered() loaded it with acquire on this thread (or on
	 * an earlier consumer, ordered before us by the run queue). */
	struct trp__actor_metrics *am = trp__actor_metrics_of(self);
	uint64_t t0 = trp__now_ns();
	am->inner(self, state, msg);
	uint64_t t1 = trp__now_ns();
	trp__hist_record(&am->processing, t1 > t0 ? t1 - t0 : 0);
	trp__metric_add(&am->processed, 1);
	/* The count is lowered only at the turn's end (and every 256
	 * messages): read after each call, its maximum is the high-water
	 * mark but for arrivals in the instants between the last call and
	 * a decrement. */
	trp__actor_metrics_backlog(am, trp__mailbox_count_hint(&self->mailbox));
}

/* @a has a metrics block: its behaviour calls go through timed_behavior
 * from now on. Swapping the behaviour, rather than testing for metrics
 * in the message loop, keeps the loop exactly as it is without them: one
 * test per turn instead of one per message. Only consumers call
 * a->behavior, one at a time: a plain store. */
static __attribute__((noinline, cold)) void
metered(struct trp_actor *a, struct trp__actor_metrics *am)
{
	trp__actor_metrics_backlog(am, trp__mailbox_count_hint(&a->mailbox));
	if (a->behavior == timed_behavior)
		return;
	am->inner = a->behavior;
	a->behavior = timed_behavior;
}

void trp__actor_run(struct trp__worker *w, struct trp_actor *a)
{
	if (trp__unlikely(a->sched_at != 0))
		sched_latency(w, a);
	/* ORDER: acquire pairs with trp_actor_metrics_enable's release
	 * store of the flag, made after it installed the block. */
	if (trp__unlikely(
		    atomic_load_explicit(&a->metrics_on, memory_order_acquire)))
		metered(a, trp__actor_metrics_of(a));
	struct trp_runtime *rt = a->rt;
	trp__assert(trp__kind_has_turns(a->kind) && w->current == NULL);
	w->current = a;
	w->turn_sends = 0;
	TRP_PROBE2(run_start, a->id, w->index);
	if (trp__unlikely(!a->started)) {
		/* the hook leaves the start / carry union (actor.h) */
		trp_start_fn start = trp__actor_take_start(a);
		if (killed(a)) { /* before it ever ran */
			trp__actor_finish(w, a, kill_reason(a));
			return;
		}
		start(a, a->state);
		if (a->stop_request) {
			trp__actor_finish(w, a, a->stop_request);
			return;
		}
	}
	/* The turn bound: the messages present now (up to the last one
	 * pushed so far), at most `batch` of them; past those, messages that
	 * arrive during the turn (self-sends included) are taken too while
	 * the turn has sent fewer than TRP__TURN_SENDS messages. So an actor
	 * that messages itself to go on runs several cheap steps per turn
	 * and its sends leave as chains (outbox.h), while one whose steps
	 * send a lot (a producer's chunk, a publish to many) yields after
	 * one step, and what a turn adds to other mailboxes stays bounded.
	 * The turn also ends when the actor asked to stop, when it must be
	 * muted (it sent to an overloaded receiver), at shutdown, or when
	 * the mailbox is empty. */
	struct trp__mpsc_node *last = trp__mailbox_snapshot_sc(&a->mailbox);
	if (last == NULL)
		last = a->carry; /* the only one, or none */
	bool past = last == NULL;
	uint32_t batch = rt->cfg.batch;
	uint32_t n = 0;	      /* messages processed */
	uint32_t taken = 0;   /* of them, taken from the mailbox */
	uint32_t counted = 0; /* of those, taken off the mailbox's count */
	trp_stop_reason_t stop = 0;
	struct trp__outbox *o = &w->outbox;
	for (;;) {
		struct trp__mpsc_node *done;
		uint32_t off;
		struct trp__mpsc_node *node = trp__next_node(a, &done, &off);
		if (node == NULL) {
			/* Self-sends come after everything that was in the
			 * mailbox when the turn began (among them what the
			 * last turn left of its own), so only once that is
			 * done (past): a self-send's order with its earlier
			 * ones holds. */
			if (!past || o->self_n == 0)
				break;
			n++;
			trp__self_run_next(w, a);
			if (trp__unlikely(a->stop_request)) {
				stop = a->stop_request;
				break;
			}
			if (turn_ends(w, rt, n, batch, past))
				break;
			continue;
		}
		trp__release_done(w, a, done);
		if (killed(a)) {
			/* Not taken after all: the stop dead-letters it. */
			a->carry = node;
			a->carry_off = off;
			stop = kill_reason(a);
			break;
		}
		if (trp__unlikely(node == &a->close_node)) {
			/* Self-sends still waiting were accepted before the
			 * close (sends after it are refused): they come
			 * first, as they would have from the mailbox. */
			while (o->self_n != 0 && !a->stop_request) {
				n++;
				trp__self_run_next(w, a);
			}
			stop = a->stop_request ? a->stop_request :
						 TRP_STOP_CLOSED;
			break;
		}
		/* Start fetching the next message (written by another core,
		 * most likely) while this one is processed. relaxed: a hint;
		 * take_sc acquires it properly. */
		struct trp__mpsc_node *ahead =
			atomic_load_explicit(&node->next, memory_order_relaxed);
		if (ahead != NULL)
			__builtin_prefetch(ahead);
		struct trp__msg *m = trp__msg_of(node);
		if (trp__msg_is_bundle(m)) {
			uint32_t end = (uint32_t)m->pub.size;
			/* The block does not move while we read it, and the
			 * entries processed are counted once per bundle (a
			 * bundle holds at most TRP__BUNDLE_NEXT bytes: the
			 * count stays close enough to watch a backlog). */
			const unsigned char *base = trp__bundle_base(m);
			uint32_t n0 = n;
			/* Entries are counted as taken when the bundle is
			 * left (taken + n - n0 meanwhile); `check` is where
			 * the count is next lowered or the batch ends,
			 * whichever comes first: one comparison per entry
			 * for both. */
			uint32_t check = entry_check(n, batch, taken, counted);
			while (off < end) {
				const struct trp__bundle_entry *e =
					(const struct trp__bundle_entry
						 *)(const void *)(base + off);
				off += trp__bundle_entry_size(e->size);
				if (off + 128 < end)
					__builtin_prefetch((const char *)e +
							   256);
				trp_msg_t v = trp__bundle_view(e);
				n++;
				/* trp__current_msg stays NULL: an entry is
				 * never a request. */
				a->behavior(a, a->state, &v);
				if (trp__unlikely(a->stop_request)) {
					stop = a->stop_request;
					if (stop == TRP_STOP_FAILED)
						failed_on(rt, w, a, &v);
					break;
				}
				if (off >= end)
					break;
				if (trp__unlikely(n >= check)) {
					uint32_t t = taken + (n - n0);
					consumed_so_far(a, t, &counted);
					if (turn_ends(w, rt, n, batch, past))
						break;
					check = entry_check(n, batch, t,
							    counted);
				}
				if (turn_ends_but_batch(w, rt, past))
					break;
			}
			taken += n - n0;
			consumed_so_far(a, taken, &counted);
			trp__stat_add(&w->stats.processed, n - n0);
			if (off < end) {
				/* The rest of the bundle waits for the next
				 * turn, or becomes dead letters (stop.c). */
				a->carry = node;
				a->carry_off = off;
				break;
			}
			if (m->hold == TRP__HOLD_SHARED)
				trp__msg_drop_payload(m);
			if (stop != 0)
				break;
		} else {
			n++;
			taken++;
			if (trp__likely(m->hold != TRP__HOLD_SYS) ||
			    !sys_voided(rt, w, a, m)) {
				trp__current_msg = &m->pub;
				a->behavior(a, a->state, &m->pub);
				trp__current_msg = NULL;
				/* Per message, not per turn: a turn may be
				 * long, and sent - processed is how users
				 * watch a backlog. */
				trp__stat_add(&w->stats.processed, 1);
			}
			consumed_so_far(a, taken, &counted);
			if (trp__unlikely(a->stop_request)) {
				stop = a->stop_request;
				if (stop == TRP_STOP_FAILED) {
					failed_on(rt, w, a, &m->pub);
					/* the asker learns it died on it */
					trp__request_done(m, TRP_EDEAD);
				}
			}
			if (trp__unlikely(m->request != TRP__REQ_NONE))
				trp__request_done(m, TRP_ENOREPLY);
			/* The block stays: it is the mailbox's last node
			 * until the next take or the idle mark. */
			if (trp__unlikely(m->hold != TRP__HOLD_INLINE))
				trp__msg_drop_payload(m);
			if (trp__unlikely(stop != 0))
				break;
		}
		if (node == last)
			past = true;
		if (turn_ends(w, rt, n, batch, past))
			break;
	}
	trp__outbox_flush(w, &w->outbox);
	if (o->self_n != 0)
		trp__self_flush(rt, w, a);
	o->stamp++; /* this turn's markers expire */
	o->self_off = 0;
	TRP_PROBE2(run_end, a->id, n);
	trp__consumed(a, taken - counted);
	if (trp__unlikely(stop != 0)) {
		trp__actor_finish(w, a, stop);
		return;
	}
	w->current = NULL;
	if (trp__unlikely(w->mute_on != NULL)) {
		/* relaxed: a heuristic; an actor that is itself behind
		 * keeps running (the no-deadlock rule). */
		if (trp__mailbox_count_hint(&a->mailbox) < TRP__MUTE_LOW) {
			trp__mute_on_receiver(w, a);
			return;
		}
		trp_actor_release(w->mute_on);
		w->mute_on = NULL;
	}
	if (a->carry != NULL) {
		/* A bundle is left half done: the mailbox must not go idle
		 * under it. */
		trp__schedule(rt, a);
		return;
	}
	/* Idle only if nothing is left; otherwise back of the queue. */
	struct trp__mpsc_node *done;
	if (trp__mailbox_mark_idle_sc(&a->mailbox, &done)) {
		trp__release_done(w, a, done);
		return;
	}
	/* More is queued: take the next node now and carry it over, so the
	 * message just processed leaves the mailbox while it is hot in this
	 * core's cache (freed to our pool, it is the next block we hand
	 * out) instead of at the next turn, maybe on another core. */
	struct trp__mpsc_node *next = trp__mailbox_take_sc(&a->mailbox, &done);
	if (next != NULL) {
		trp__release_done(w, a, done);
		a->carry = next;
	}
	trp__schedule(rt, a);
}
