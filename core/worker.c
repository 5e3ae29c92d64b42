/*
 * core/worker.c - the worker loop: run, steal, park.
 *
 * Order of looking for work (fairness):
 *   every 61st turn the injection queue first, so sends from outside
 *   threads are never starved by a busy local queue (Akka #17341, Go's
 *   schedtick % 61); then the LIFO of actors our turns spawned (and woke
 *   meanwhile; newest first: a spawn tree runs depth-first, deque.h and
 *   trp__schedule); then the FIFO run queue; then the injection queue;
 *   then stealing. An actor that still has messages after its turn goes
 *   to the back of the FIFO, so it cannot starve the others. Spawning
 *   that never ends would keep the LIFO busy for good: once it has been
 *   non-empty for LIFO_SLICE turns in a row, one turn goes to the FIFO's
 *   head or the LIFO's oldest (by turns), and the slice restarts; so a
 *   queued actor waits at most about 2 * LIFO_SLICE turns per actor ahead
 *   of it (thieves aside; Go gives a chain of runnext goroutines one 10 ms
 *   time slice). Not a fixed share: the FIFO every 8th turn let yielding
 *   producers outrun the work they had queued in the LIFO (spawn's
 *   spawner, pubsub's publishers, when every wake-up went to the LIFO:
 *   peak RSS 25 -> 89 MiB and 22 -> 50 MiB); and taking the LIFO's oldest
 *   often costs memory in spawn trees (each such turn starts a shallow
 *   pending subtree early): skynet on one worker, simulated: 31,610
 *   actors alive at once taking it every 61st turn, 13,713 every 256th,
 *   61 never.
 *
 * Stealing takes half of a victim's queue, but only surplus work (>= 2
 * queued): a lone queued actor is most likely the partner of the one the
 * victim is running (ping-pong), and moving it costs more than it gains.
 * If the victim's turn counter has not moved for STUCK_NS, a lone actor is
 * taken too: a behaviour that blocks must not strand work behind it.
 *
 * Parking: see scheduler.h. A worker that parks while some victim holds a
 * lone actor parks with a timeout, so that the stuck check runs again.
 */
#include "worker.h"

#include <stdio.h>

#include "actor.h"
#include "epoch.h"
#include "probes.h"
#include "scheduler.h"

#define INJECT_EVERY 61u
#define LIFO_SLICE 8192u      /* turns the LIFO may keep the rest waiting */
#define STUCK_NS 1000000u     /* 1 ms without a turn: victim looks stuck */
#define RECHECK_NS 2000000    /* timed park while a lone actor waits */
#define BUSY_PEER_NS 50000000 /* timed park while other parties run */
#define WAKE_ANY 1u	      /* futex bits: every parked worker */
#define WAKE_DEEP 2u	      /* futex bits: workers parked for good */

_Thread_local struct trp__worker *trp__self_worker;

static uint64_t next_rand(struct trp__worker *w)
{
	/* xorshift64 */
	uint64_t x = w->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	w->rng = x;
	return x;
}

/* Steals from one victim; NULL if it has nothing we may take. */
static struct trp_actor *steal_from(struct trp__worker *w, uint32_t v,
				    uint64_t *now)
{
	struct trp_runtime *rt = w->rt;
	struct trp__worker *victim = &rt->workers[v];
	uint64_t fifo = trp__deque_size(&victim->runq);
	uint64_t lifo = trp__lifo_size(&victim->lifo);
	uint64_t size = fifo + lifo;
	if (size == 0)
		return NULL;
	uint32_t min = 2;
	if (size == 1) {
		/* relaxed: a heuristic. */
		uint64_t turns = atomic_load_explicit(&victim->turns,
						      memory_order_relaxed);
		if (*now == 0)
			*now = trp__now_ns();
		if (turns != w->last_seen[2 * v]) {
			w->last_seen[2 * v] = turns;
			w->last_seen[2 * v + 1] = *now;
			return NULL;
		}
		if (*now - w->last_seen[2 * v + 1] < STUCK_NS)
			return NULL;
		min = 1;
	}
	uint32_t moved = 0;
	struct trp_actor *a = NULL;
	if (fifo >= min)
		a = trp__deque_steal(&victim->runq, &w->runq, min, &moved);
	/* The oldest half of the LIFO: the largest pending subtrees of a
	 * spawn tree. Surplus counted over both queues, so a lone woken
	 * partner still stays. */
	if (a == NULL && lifo != 0)
		a = trp__lifo_steal_half(&victim->lifo, &w->runq, &moved);
	if (a != NULL) {
		trp__stat_add(&w->stats.steals, 1);
		TRP_PROBE2(steal, v, moved);
	}
	return a;
}

static struct trp_actor *steal(struct trp__worker *w)
{
	struct trp_runtime *rt = w->rt;
	uint32_t n = rt->nworkers;
	if (n < 2)
		return NULL;
	uint64_t now = 0;
	uint32_t start = (uint32_t)(next_rand(w) % n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = (start + i) % n;
		if (v == w->index)
			continue;
		struct trp_actor *a = steal_from(w, v, &now);
		if (a != NULL)
			return a;
	}
	return NULL;
}

/* The LIFO has held work for a whole slice: one turn for what it keeps
 * waiting, the FIFO's head and the LIFO's oldest by turns. */
static struct trp_actor *slice_over(struct trp__worker *w)
{
	struct trp_actor *a;
	w->lifo_since = w->tick;
	w->slice_flip ^= 1;
	if (w->slice_flip) {
		if ((a = trp__deque_pop_owner(&w->runq)) != NULL)
			return a;
		return trp__lifo_steal(&w->lifo);
	}
	if ((a = trp__lifo_steal(&w->lifo)) != NULL)
		return a;
	return trp__deque_pop_owner(&w->runq);
}

static struct trp_actor *find_work(struct trp__worker *w)
{
	struct trp_runtime *rt = w->rt;
	struct trp_actor *a;
	uint32_t tick = ++w->tick;
	if (tick % INJECT_EVERY == 0 && (a = trp__inject_pop(rt, w)) != NULL)
		return a;
	if (w->lifo_used) {
		if (trp__unlikely(tick - w->lifo_since >= LIFO_SLICE) &&
		    (a = slice_over(w)) != NULL)
			return a;
		if ((a = trp__lifo_pop_owner(&w->lifo)) != NULL)
			return a;
		w->lifo_used = false; /* empty: only we push */
	}
	if ((a = trp__deque_pop_owner(&w->runq)) != NULL)
		return a;
	if ((a = trp__inject_pop(rt, w)) != NULL)
		return a;
	return steal(w);
}

/*
 * After the sleepers increment: is there work we must not sleep on?
 * Returns 1 for work (do not park), 0 for none, -1 for "only lone actors
 * on other workers" (park with a timeout).
 */
static int work_visible(struct trp__worker *w)
{
	struct trp_runtime *rt = w->rt;
	/* ORDER: seq_cst loads after the sleepers increment (see park()).
	 * For work pushed onto other workers' run queues without a wake
	 * check, see trp__schedule. */
	if (atomic_load_explicit(&rt->shutdown, memory_order_seq_cst) != 0 ||
	    atomic_load_explicit(&rt->inject_len, memory_order_seq_cst) > 0 ||
	    trp__deque_size(&w->runq) != 0 || trp__lifo_size(&w->lifo) != 0)
		return 1;
	int lone = 0;
	for (uint32_t v = 0; v < rt->nworkers; v++) {
		if (v == w->index)
			continue;
		uint64_t size = trp__deque_size(&rt->workers[v].runq) +
				trp__lifo_size(&rt->workers[v].lifo);
		if (size >= 2)
			return 1;
		if (size == 1)
			lone = -1;
	}
	return lone;
}

/* We woke up to run work that might block: make sure no peer sleeps for
 * good meanwhile (see "Deep sleep" in scheduler.h). */
static void kick_deep(struct trp_runtime *rt)
{
	/* relaxed: see park(). */
	if (atomic_load_explicit(&rt->deep_sleepers, memory_order_relaxed) == 0)
		return;
	/* ORDER: release, as in trp__wake_one (a doorbell). */
	atomic_fetch_add_explicit(&rt->park_seq, 1, memory_order_release);
	trp__futex_wake_bits(&rt->park_seq, 1, WAKE_DEEP);
}

static void park(struct trp__worker *w)
{
	struct trp_runtime *rt = w->rt;
	/* ORDER: acquire; pairs with wakers' release increments (we only
	 * need the value, the futex compares it atomically). */
	uint32_t seq =
		atomic_load_explicit(&rt->park_seq, memory_order_acquire);
	/* ORDER: acq_rel read-modify-write: orders our announcement before
	 * the re-check below, and pairs with the RMW in trp__wake_one (see
	 * there). */
	atomic_fetch_add_explicit(&rt->sleepers, 1, memory_order_acq_rel);
	int seen = work_visible(w);
	if (seen <= 0) {
		trp__stat_add(&w->stats.parks, 1);
		/* Sleep for good only when nobody else is running: a peer
		 * that is running may queue a lone actor without waking us
		 * (see trp__schedule) and then block in a behaviour, so while
		 * peers run we look again now and then (20 times a second
		 * costs nothing measurable). */
		uint32_t others = trp__activity_dec(rt);
		TRP_PROBE1(park, w->index);
		int64_t timeout = seen < 0    ? RECHECK_NS :
				  others != 0 ? BUSY_PEER_NS :
						-1;
		if (timeout < 0) {
			/* relaxed: a hint for kick_deep; a kick that misses
			 * us still bumps park_seq, so we re-check. */
			atomic_fetch_add_explicit(&rt->deep_sleepers, 1,
						  memory_order_relaxed);
			trp__futex_wait_bits(&rt->park_seq, seq, -1,
					     WAKE_ANY | WAKE_DEEP);
			atomic_fetch_sub_explicit(&rt->deep_sleepers, 1,
						  memory_order_relaxed);
		} else {
			trp__futex_wait_bits(&rt->park_seq, seq, timeout,
					     WAKE_ANY);
		}
		trp__activity_inc(rt);
		TRP_PROBE1(unpark, w->index);
		w->woke = true;
	}
	atomic_fetch_sub_explicit(&rt->sleepers, 1, memory_order_relaxed);
}

void *trp__worker_main(void *arg)
{
	struct trp__worker *w = arg;
	struct trp_runtime *rt = w->rt;
	char name[16];
	trp__self_worker = w;
	snprintf(name, sizeof name, "troupe-w%u", w->index);
	trp__thread_name(name);
	if (rt->cfg.pin_workers)
		trp__thread_pin(w->index);
	uint32_t idle = 0;
	for (;;) {
		/* relaxed: the flag is sticky; a late look costs one turn. */
		if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
			break;
		struct trp_actor *a = find_work(w);
		if (a != NULL) {
			if (trp__unlikely(w->woke)) {
				w->woke = false;
				kick_deep(rt);
			}
			trp__actor_run(w, a);
			trp__stat_add(&w->turns, 1);
			idle = 0;
			continue;
		}
		/* Poll a little before parking (a send usually follows
		 * soon). No sched_yield: on an oversubscribed machine it
		 * hands our time slice to other processes for nothing. */
		if (idle++ < rt->cfg.idle_spins) {
			trp__cpu_relax();
			continue;
		}
		/* Nothing keeps the receivers it chained to alive now. */
		trp__outbox_release_refs(w);
		park(w);
		idle = 0;
	}
	trp__outbox_release_refs(w);
	(void)trp__activity_dec(rt);
	trp__self_worker = NULL;
	return NULL;
}
