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
 * taken too: a behaviour that blocks must not strand work behind it (the
 * parked watchdog, park.h, looks every 0.2 ms while peers run).
 *
 * Parking: see park.h. A worker that parks while some victim holds a lone
 * actor parks with a timeout, so that the stuck check runs again.
 *
 * Idle polling (idle_wait): a worker that finds nothing polls idle_spins
 * times before it parks (a send usually follows soon), then, adaptively,
 * for up to spin_ns more: the window is SPIN_MAX_NS = 50 us after work
 * turned up while it polled, and halves (to SPIN_MIN_NS = 5 us) each time
 * it ran out; about one shrunk window in 8 is polled for 50 us again (a
 * probe), so that a round trip whose two sides both went to sleep finds
 * its way back; a probe that finds nothing halves the probes' rate, down
 * to 1 in 64, and a spin that finds work restores 1 in 8. While it polls
 * the worker counts as a spinner (park.h), so an outside send reaches it
 * without a futex wake-up. A worker back from a park that found nothing
 * (a watchdog's look, a bell someone else answered) parks again at once:
 * the watchdog's looks must stay cheap.
 * The CPU bound: at most 50 us of polling per worker per time it runs out
 * of work, ~6 us on average (5 us, a 50 us probe one time in 64) once the
 * polls stop finding work; an idle runtime parks for good, so idle CPU
 * stays ~0. With idle_spins = 0 there is no polling at all, and while a
 * thread waits for the runtime to go idle (quiescence.h) workers park at
 * once, so that the wait ends when the work does, whatever idle_spins is.
 *
 * Who may call: trp__worker_main is a worker thread's entry; everything
 * here runs on that thread. Lock-free (stealing is CAS on the victim's
 * run queue head); blocking only in trp__park.
 */
#include "worker.h"

#include <stdio.h>

#include "actor.h"
#include "outbox.h"
#include "park.h"
#include "probes.h"
#include "quiescence.h"
#include "runtime.h"
#include "scheduler.h"
#include "turn.h"

#define INJECT_EVERY 61u
#define LIFO_SLICE 8192u   /* turns the LIFO may keep the rest waiting */
#define STUCK_NS 200000u   /* no turn for 0.2 ms: victim looks stuck */
#define SPIN_MAX_NS 50000u /* longest extra idle spin (see above) */
#define SPIN_MIN_NS 5000u  /* the window never shrinks below */
#define PROBE_SHIFT_MAX 3u /* probes at least 1 in 64 idle spins */

_Thread_local struct trp__worker *trp__self_worker TRP__TLS_IE;

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

/* Notes victim @v's turn count and, if it moved, when we saw it move:
 * true if it moved. */
static bool note_turns(struct trp__worker *w, uint32_t v, uint64_t *now)
{
	/* relaxed: a heuristic. */
	uint64_t turns = atomic_load_explicit(&w->rt->workers[v].turns,
					      memory_order_relaxed);
	if (*now == 0)
		*now = trp__now_ns();
	if (turns == w->last_seen[2 * v])
		return false;
	w->last_seen[2 * v] = turns;
	w->last_seen[2 * v + 1] = *now;
	return true;
}

/* Steals from one victim; NULL if it has nothing we may take. */
static struct trp_actor *steal_from(struct trp__worker *w, uint32_t v,
				    uint64_t *now)
{
	struct trp_runtime *rt = w->rt;
	struct trp__worker *victim = &rt->workers[v];
	uint64_t fifo = trp__run_ring_size(&victim->runq);
	uint64_t lifo = trp__chase_lev_size(&victim->lifo);
	uint64_t size = fifo + lifo;
	if (size == 0) {
		/* Just back from a (watchdog's) park: note the victim's turn
		 * count anyway, so that a lone actor queued later behind a
		 * turn that began before now is seen stuck sooner. Only then:
		 * the turn counter's line is written every turn. */
		if (trp__unlikely(w->woke))
			note_turns(w, v, now);
		return NULL;
	}
	uint32_t min = 2;
	if (size == 1) {
		if (note_turns(w, v, now))
			return NULL;
		if (*now - w->last_seen[2 * v + 1] < STUCK_NS)
			return NULL;
		min = 1;
	}
	uint32_t moved = 0;
	struct trp_actor *a = NULL;
	if (fifo >= min)
		a = trp__run_ring_steal(&victim->runq, &w->runq, min, &moved);
	/* The oldest half of the LIFO: the largest pending subtrees of a
	 * spawn tree. Surplus counted over both queues, so a lone woken
	 * partner still stays. */
	if (a == NULL && lifo != 0)
		a = trp__chase_lev_steal_half(&victim->lifo, &w->runq, &moved);
	if (a != NULL) {
		trp__stat_add(&w->stats.steals, 1);
		TRP_PROBE2(steal, v, moved);
		if (moved != 0) /* as a push onto our queue (trp__schedule) */
			trp__kick_deep(rt);
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
		if ((a = trp__run_ring_pop_owner(&w->runq)) != NULL)
			return a;
		return trp__chase_lev_steal(&w->lifo);
	}
	if ((a = trp__chase_lev_steal(&w->lifo)) != NULL)
		return a;
	return trp__run_ring_pop_owner(&w->runq);
}

/* Inlined into both callers: the turn loop's copy is its hot path (a call
 * there cost pingpong and ring ~4% of their instructions). */
static inline __attribute__((always_inline)) struct trp_actor *
find_work(struct trp__worker *w)
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
		if ((a = trp__chase_lev_pop_owner(&w->lifo)) != NULL)
			return a;
		w->lifo_used = false; /* empty: only we push */
	}
	if ((a = trp__run_ring_pop_owner(&w->runq)) != NULL)
		return a;
	if ((a = trp__inject_pop(rt, w)) != NULL)
		return a;
	return steal(w);
}

/*
 * Found no work: polls (as a spinner, park.h) and then parks, off the
 * turn loop so that it pays nothing for the spin state. Returns work found
 * while polling, or NULL after a park or at shutdown (the caller loops).
 */
static __attribute__((noinline)) struct trp_actor *
idle_wait(struct trp__worker *w)
{
	struct trp_runtime *rt = w->rt;
	/* Metrics (metrics.h): the busy period ends here; a worker back from
	 * a park that finds nothing woke for nothing. */
	trp__metric_add(&w->metrics.busy_ns, trp__now_ns() - w->busy_since);
	if (w->woke)
		trp__metric_add(&w->metrics.idle_wakeups, 1);
	/* Poll before parking (a send usually follows soon), unless someone
	 * waits for idle (see above). No sched_yield: on an oversubscribed
	 * machine it hands our time slice to other processes for nothing.
	 * relaxed: a hint; a waiter that arrives after our look finds us
	 * parked a little later. */
	bool spinning = rt->cfg.idle_spins != 0 && !w->woke &&
			atomic_load_explicit(&rt->idle_waiters,
					     memory_order_relaxed) == 0 &&
			!trp__over_budget(rt);
	if (spinning) {
		trp__spin_begin(w);
		/* A shrunk window is retried in full now and then: once both
		 * sides of a round trip sleep, only a long enough spin finds
		 * out that they need not. */
		uint32_t window = w->spin_ns;
		bool probe = false;
		if (window < SPIN_MAX_NS &&
		    (++w->spin_probe & ((8u << w->probe_shift) - 1u)) == 0) {
			window = SPIN_MAX_NS;
			probe = true;
		}
		uint64_t since = 0;
		for (uint32_t idle = 0;; idle++) {
			trp__cpu_relax();
			/* relaxed: as in trp__worker_main. */
			if (atomic_load_explicit(&rt->shutdown,
						 memory_order_relaxed)) {
				trp__spin_quit(w);
				return NULL;
			}
			struct trp_actor *a = find_work(w);
			if (a != NULL) {
				/* It paid off: the full window next time. */
				trp__spin_end(w);
				w->spin_ns = SPIN_MAX_NS;
				w->probe_shift = 0;
				w->busy_since = trp__now_ns();
				return a;
			}
			/* relaxed: as above. */
			if (atomic_load_explicit(&rt->idle_waiters,
						 memory_order_relaxed) != 0)
				break;
			if (idle < rt->cfg.idle_spins)
				continue;
			uint64_t now = trp__now_ns();
			if (since == 0)
				since = now;
			if (now - since >= window) {
				/* It did not: a shorter one next time. */
				w->spin_ns /= 2;
				if (w->spin_ns < SPIN_MIN_NS)
					w->spin_ns = SPIN_MIN_NS;
				/* A probe that found nothing: the next one
				 * comes half as often, down to 1 in 64. */
				if (probe && w->probe_shift < PROBE_SHIFT_MAX)
					w->probe_shift++;
				break;
			}
		}
	}
	/* Nothing keeps the receivers it chained to alive now. */
	trp__outbox_release_refs(w);
	trp__park(w, spinning);
	w->busy_since = trp__now_ns();
	return NULL;
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
	w->busy_since = trp__now_ns();
	for (;;) {
		/* relaxed: the flag is sticky; a late look costs one turn. */
		if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
			break;
		struct trp_actor *a = find_work(w);
		if (trp__unlikely(a == NULL) && (a = idle_wait(w)) == NULL)
			continue;
		w->woke = false;
		trp__actor_run(w, a);
		trp__stat_add(&w->turns, 1);
	}
	trp__outbox_release_refs(w);
	(void)trp__activity_dec(rt);
	trp__self_worker = NULL;
	return NULL;
}
