/*
 * core/scheduler.c - where a runnable actor goes (see scheduler.h): the
 * calling worker's run queues, or the injection queue.
 */
#include "scheduler.h"

#include "actor.h"
#include "metrics.h"
#include "park.h"
#include "worker.h"

/* Schedules by this thread when it is not a worker (metrics.h). */
static _Thread_local uint32_t outside_tick;

static_assert((TRP_SCHED_SAMPLE & (TRP_SCHED_SAMPLE - 1)) == 0,
	      "the sampling period is a power of two");

/* Every TRP_SCHED_SAMPLE-th schedule by a thread stamps @a: the worker
 * that runs it records the delay (turn.c). @tick is the thread's own. */
static inline void sample(struct trp_actor *a, uint32_t *tick)
{
	if (trp__unlikely((++*tick & (TRP_SCHED_SAMPLE - 1)) == 0))
		a->sched_at = trp__now_ns();
}

/* ------------------------------------------------------------------ */
/* scheduling                                                          */

#define INJECT_SHARE_MAX 64u /* actors moved per look beyond the first */

static void inject(struct trp_runtime *rt, struct trp_actor *a)
{
	/* relaxed: published by the push's release exchange, which is
	 * sequenced before the acq_rel sleepers RMW in trp__wake_one; a
	 * parking worker's RMW that reads ours then sees it (see there). */
	atomic_fetch_add_explicit(&rt->inject_len, 1, memory_order_relaxed);
	(void)trp__mailbox_push_mp(&rt->inject, &a->run_node);
	trp__wake_one(rt);
}

void trp__inject_chain(struct trp_runtime *rt, struct trp__mpsc_node *first,
		       struct trp__mpsc_node *last, uint32_t n)
{
	/* relaxed, then the push's release and wake_one's acq_rel RMW: as
	 * in inject, for the whole chain at once. One wake-up: the worker
	 * it wakes takes a fair share and rings for a peer when it has
	 * surplus (trp__inject_pop). */
	atomic_fetch_add_explicit(&rt->inject_len, n, memory_order_relaxed);
	(void)trp__mailbox_push_chain_mp(&rt->inject, first, last);
	trp__wake_one(rt);
}

void trp__schedule(struct trp_runtime *rt, struct trp_actor *a)
{
	trp__assert(trp__kind_has_turns(a->kind));
	struct trp__worker *w = trp__worker_of(rt);
	sample(a, w != NULL ? &w->sched_tick : &outside_tick);
	if (trp__likely(w != NULL)) {
		/* The LIFO (deque.h) takes an actor a turn spawns with a
		 * start hook (its first schedule: !started, which its
		 * creator wrote), and one a turn wakes while the LIFO holds
		 * spawned work: replies inside a spawn tree run depth-first
		 * too. Other wake-ups go to the FIFO: a consumer woken by one
		 * of many senders then waits behind them and takes their
		 * messages in one turn (spawn, fanin: 0.4x and 0.8x when
		 * every wake-up went to the LIFO). With no turn running, it
		 * is the actor whose turn just ended with messages left
		 * (actor.c clears w->current first): the FIFO's back. */
		bool lifo = w->current != NULL && (!a->started || w->lifo_used);
		int rc;
		if (lifo) {
			rc = trp__chase_lev_push_owner(&w->lifo, a);
			if (rc == 0 && !w->lifo_used) {
				w->lifo_used = true;
				w->lifo_since = w->tick;
			}
		} else {
			rc = trp__run_ring_push_owner(&w->runq, a);
		}
		if (trp__likely(rc == 0)) {
			/* An actor waits on our queue now: should our turn
			 * block, a peer must be watching (park.h, "Deep
			 * sleep"). One load while nobody sleeps deeply. */
			trp__kick_deep(rt);
			/* Wake a sleeper only when this worker has surplus
			 * work. The relaxed check may miss a worker that is
			 * just going to sleep; the work is not lost (this
			 * worker runs it), only that bit of parallelism,
			 * until our next push sees it. A fence here would
			 * cost every scheduling. */
			if (trp__bell_wanted(rt) &&
			    trp__run_ring_size(&w->runq) +
					    trp__chase_lev_size(&w->lifo) >=
				    2)
				trp__ring_park_bell(rt);
			return;
		}
	}
	/* Outside threads, or a run queue that could not grow: the
	 * intrusive injection queue never allocates. */
	inject(rt, a);
}

struct trp_actor *trp__inject_pop(struct trp_runtime *rt, struct trp__worker *w)
{
	/* relaxed: a hint; a stale zero is caught by the park re-check,
	 * which is ordered by the sleepers RMWs (see trp__wake_one). */
	int64_t len =
		atomic_load_explicit(&rt->inject_len, memory_order_relaxed);
	if (len <= 0)
		return NULL;
	/* ORDER: acquire/release make consumers of the single-consumer
	 * queue take turns (the lock hands over the consumer's tail). */
	if (atomic_exchange_explicit(&rt->inject_lock, 1,
				     memory_order_acquire) != 0)
		return NULL;
	struct trp__mpsc_node *n = trp__mailbox_pop_sc(&rt->inject);
	/* Take a fair share of the rest onto our own run queue (Go's
	 * globrunqget): the injection queue is looked at only every few
	 * dozen turns while a worker is busy, and turns may be long, so one
	 * actor per look would let outside traffic pile up. */
	uint32_t share = 0, want = 0;
	if (n != NULL && w != NULL) {
		want = (uint32_t)(len / rt->nworkers);
		if (want > INJECT_SHARE_MAX)
			want = INJECT_SHARE_MAX;
	}
	while (share < want) {
		struct trp__mpsc_node *m = trp__mailbox_pop_sc(&rt->inject);
		if (m == NULL)
			break;
		struct trp_actor *b = trp__actor_of_run_node(m);
		if (trp__run_ring_push_owner(&w->runq, b) != 0) {
			/* No room (the ring could not grow): back it goes,
			 * behind the others - only fairness suffers. */
			(void)trp__mailbox_push_mp(&rt->inject, m);
			break;
		}
		share++;
	}
	atomic_store_explicit(&rt->inject_lock, 0, memory_order_release);
	if (n == NULL)
		return NULL;
	atomic_fetch_sub_explicit(&rt->inject_len, 1 + (int64_t)share,
				  memory_order_relaxed);
	/* Surplus on our queue: let a parked peer steal some. relaxed, as
	 * in trp__schedule: a missed sleeper costs parallelism only, the
	 * work is on our queue and we run it. And as there, a peer watches
	 * it should our turn block. */
	if (share != 0) {
		trp__kick_deep(rt);
		if (trp__bell_wanted(rt))
			trp__ring_park_bell(rt);
	}
	return trp__actor_of_run_node(n);
}
