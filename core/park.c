/*
 * core/park.c - parking idle workers and waking them: the waker's half,
 * then the sleeper's (see park.h; modelled in tests/models/park.pml).
 */
#include "park.h"

#include <limits.h>

#include "probes.h"
#include "quiescence.h"

#define RECHECK_NS 2000000    /* timed park while a lone actor waits */
#define BUSY_PEER_NS 50000000 /* timed park while other parties run */
#define WATCH_NS 200000	      /* the watchdog's timed park (park.h) */
#define WATCH_MAX_NS 3200000  /* ... doubled up to this while held back */
#define WAKE_ANY 1u	      /* futex bits: every parked worker */
#define WAKE_DEEP 2u	      /* futex bits: workers parked for good */
#define WAKE_SELF 4u	      /* futex bits: worker i also waits on this << i */
#define SELF_MAX 29u	      /* workers with a bit of their own */

/* ------------------------------------------------------------------ */
/* the waker                                                           */

void trp__ring_park_bell(struct trp_runtime *rt)
{
	/* ORDER: release; a parked worker re-checks the queues after it
	 * wakes, the futex word is only a doorbell. */
	atomic_fetch_add_explicit(&rt->park_seq, 1, memory_order_release);
	trp__futex_wake(&rt->park_seq, 1);
}

_Thread_local bool trp__waker_sleeps TRP__TLS_IE;

/*
 * The bell from a thread that is about to sleep (trp__waker_sleeps, set
 * by trp__wake_one's caller: a node's inbound thread delivering the last
 * frame it has): if a worker is parked on the CPU we run on, that one.
 * The kernel puts a woken thread back on the CPU it slept on when it
 * can: ours, which is free as soon as we sleep (the inbound thread of a
 * node sleeps right after it delivered a frame), where a worker that
 * slept on the other CPU waits there behind
 * whatever runs on it (remote_pingpong: 18 us of scheduling delay per
 * wake-up on average, up to 60 us behind the NATS server's threads). A
 * hint only: whichever worker wakes re-checks every queue, and when the
 * preferred one is not parked after all, any parked worker is woken. Not
 * for a waker that goes on running (an outside publisher): a worker put on
 * its CPU would wait for it (pubsub from an outside thread lost ~15 %).
 * Linux's sync wake-ups (WF_SYNC: pipes, sockets) make the same bet.
 */
static void ring_park_bell_near(struct trp_runtime *rt)
{
	/* ORDER: release, as in trp__ring_park_bell. */
	atomic_fetch_add_explicit(&rt->park_seq, 1, memory_order_release);
	int cpu = trp__current_cpu();
	if (cpu >= 0 && rt->nworkers <= SELF_MAX) {
		for (uint32_t v = 0; v < rt->nworkers; v++) {
			/* relaxed: a hint (see above). */
			if (atomic_load_explicit(&rt->workers[v].park_cpu,
						 memory_order_relaxed) != cpu)
				continue;
			if (trp__futex_wake_bits(&rt->park_seq, 1,
						 WAKE_SELF << v) > 0)
				return;
			break;
		}
	}
	trp__futex_wake(&rt->park_seq, 1);
}

void trp__wake_one(struct trp_runtime *rt)
{
	/* ORDER: a read-modify-write, not a load: it lands in the single
	 * modification order of `sleepers` with the parking worker's
	 * increment. If ours comes later we read its increment and wake it;
	 * if ours comes first, its acq_rel increment reads ours and so sees
	 * the work we published before it (our release), in its re-check.
	 * One of the two always happens (modelled in park.pml). A fence
	 * would do the same; ThreadSanitizer does not understand fences. */
	uint32_t s = atomic_fetch_add_explicit(&rt->sleepers, 0,
					       memory_order_acq_rel);
	/* A spinner finds the work itself, or its park's RMW comes after
	 * ours and its re-check sees the work (park.h, "Spinners"). */
	if (s == 0 || s >= TRP__SPINNER_ONE)
		return;
	/* Likewise a worker that is awake while outside publishers fill
	 * the CPUs (park.h, "Budget"). */
	if (!trp__wake_budget(rt, s))
		return;
	if (trp__waker_sleeps)
		ring_park_bell_near(rt);
	else
		trp__ring_park_bell(rt);
}

void trp__ring_park_bell_all(struct trp_runtime *rt)
{
	/* ORDER: seq_cst, after the seq_cst store of the shutdown flag:
	 * every parked worker wakes and sees it. */
	atomic_fetch_add_explicit(&rt->park_seq, 1, memory_order_seq_cst);
	trp__futex_wake(&rt->park_seq, INT_MAX);
}

/* ------------------------------------------------------------------ */
/* the sleeper                                                         */

/*
 * After the sleepers increment: is there work we must not sleep on?
 * Returns 1 for work (do not park), 0 for none, -1 for "only lone actors
 * on other workers" (park with a timeout).
 */
static int work_visible(struct trp__worker *w)
{
	struct trp_runtime *rt = w->rt;
	/* ORDER: seq_cst loads after the sleepers increment (trp__park).
	 * For work pushed onto other workers' run queues without a wake
	 * check, see trp__schedule. */
	if (atomic_load_explicit(&rt->shutdown, memory_order_seq_cst) != 0 ||
	    atomic_load_explicit(&rt->inject_len, memory_order_seq_cst) > 0 ||
	    trp__run_ring_size(&w->runq) != 0 ||
	    trp__chase_lev_size(&w->lifo) != 0)
		return 1;
	int lone = 0;
	for (uint32_t v = 0; v < rt->nworkers; v++) {
		if (v == w->index)
			continue;
		uint64_t size = trp__run_ring_size(&rt->workers[v].runq) +
				trp__chase_lev_size(&rt->workers[v].lifo);
		if (size >= 2)
			return 1;
		if (size == 1)
			lone = -1;
	}
	return lone;
}

void trp__kick_deep_one(struct trp_runtime *rt)
{
	/* ORDER: release, as in trp__wake_one (a doorbell). */
	atomic_fetch_add_explicit(&rt->park_seq, 1, memory_order_release);
	trp__futex_wake_bits(&rt->park_seq, 1, WAKE_DEEP);
}

void trp__spin_begin(struct trp__worker *w)
{
	/* relaxed: announcing a spinner publishes nothing; a waker that
	 * reads it skips its wake, and our park's acq_rel RMW (or our polls)
	 * then see its work (park.h, "Spinners"). */
	atomic_fetch_add_explicit(&w->rt->sleepers, TRP__SPINNER_ONE,
				  memory_order_relaxed);
}

void trp__spin_end(struct trp__worker *w)
{
	struct trp_runtime *rt = w->rt;
	/* ORDER: acq_rel, like the park RMW: a waker that skipped its wake
	 * because of us is ordered before this, so the injection queue
	 * length read below includes its work. */
	uint32_t s = atomic_fetch_sub_explicit(&rt->sleepers, TRP__SPINNER_ONE,
					       memory_order_acq_rel) -
		     TRP__SPINNER_ONE;
	/* A waker that saw us spinning woke nobody; what we took is off the
	 * count already (trp__inject_pop). relaxed: inject_len is a hint,
	 * as in trp__inject_pop. */
	if (s != 0 && s < TRP__SPINNER_ONE &&
	    atomic_load_explicit(&rt->inject_len, memory_order_relaxed) > 0 &&
	    trp__wake_budget(rt, s))
		trp__ring_park_bell(rt);
}

void trp__spin_quit(struct trp__worker *w)
{
	/* relaxed: the runtime shuts down; only the count matters. */
	atomic_fetch_sub_explicit(&w->rt->sleepers, TRP__SPINNER_ONE,
				  memory_order_relaxed);
}

/*
 * One sleep of a parking worker that is no longer counted active: with a
 * timeout while a lone actor waits (@seen < 0) or other parties run
 * (@others != 0; one sleeper keeps the watchdog's shorter period), for
 * good otherwise. Returns true when a timed sleep ran out with no bell
 * (park_seq still @seq): the caller looks again.
 */
static bool park_once(struct trp__worker *w, uint32_t seq, int seen,
		      uint32_t others, int64_t watch_ns)
{
	struct trp_runtime *rt = w->rt;
	uint32_t self = w->index < SELF_MAX ? WAKE_SELF << w->index : 0;
	int64_t timeout = seen < 0    ? RECHECK_NS :
			  others != 0 ? BUSY_PEER_NS :
					-1;
	/* relaxed: the flag only picks which sleeper watches; two
	 * watchdogs, or none for one period, are harmless. */
	bool watch = timeout > 0 &&
		     atomic_load_explicit(&rt->watchdog,
					  memory_order_relaxed) == 0 &&
		     atomic_exchange_explicit(&rt->watchdog, 1,
					      memory_order_relaxed) == 0;
	if (watch)
		timeout = watch_ns;
	if (timeout < 0) {
		/* ORDER: seq_cst, the other half of the pair in
		 * trp__kick_deep. A worker that became active after our
		 * activity decrement and missed our increment here is seen
		 * by the load below; then we park with the watchdog's
		 * timeout (a rare race), else it could block in a behaviour
		 * while we sleep for good. A kick that lands before our
		 * futex wait still bumps park_seq, so we re-check. */
		atomic_fetch_add_explicit(&rt->deep_sleepers, 1,
					  memory_order_seq_cst);
		/* ORDER: seq_cst, see above. */
		bool busy = TRP__ACT_COUNT(atomic_load_explicit(
				    &rt->activity, memory_order_seq_cst)) != 0;
		if (busy)
			timeout = WATCH_NS;
		trp__futex_wait_bits(&rt->park_seq, seq, timeout,
				     WAKE_ANY | WAKE_DEEP | self);
		atomic_fetch_sub_explicit(&rt->deep_sleepers, 1,
					  memory_order_relaxed);
	} else {
		trp__futex_wait_bits(&rt->park_seq, seq, timeout,
				     WAKE_ANY | self);
	}
	if (watch)
		atomic_store_explicit(&rt->watchdog, 0, memory_order_relaxed);
	/* ORDER: acquire, as the load in trp__park: a bell's release
	 * increment, and the work published before it, are seen by the
	 * caller's re-check either way. */
	return timeout > 0 &&
	       atomic_load_explicit(&rt->park_seq, memory_order_acquire) == seq;
}

/*
 * After a timed park ran out with work visible: should @w leave it to the
 * workers awake ("Budget" in park.h)? Yes while outside publishers fill
 * the CPUs with the workers awake and those ran turns since @w's last
 * look (*@turns, 0 before the first); the first look only notes them.
 */
static bool held_back(struct trp__worker *w, uint64_t *turns)
{
	struct trp_runtime *rt = w->rt;
	/* relaxed: hints; a wrong answer delays the work by one timed park
	 * or lets us take it early, as before the budget. */
	uint32_t s = atomic_load_explicit(&rt->sleepers, memory_order_relaxed);
	if (trp__wake_budget(rt, s)) {
		*turns = 0;
		return false;
	}
	uint64_t sum = 1; /* never 0 */
	for (uint32_t v = 0; v < rt->nworkers; v++)
		sum += atomic_load_explicit(&rt->workers[v].turns,
					    memory_order_relaxed);
	bool moved = *turns == 0 || sum != *turns;
	*turns = sum;
	return moved;
}

void trp__park(struct trp__worker *w, bool spinning)
{
	struct trp_runtime *rt = w->rt;
	/* ORDER: acquire; pairs with wakers' release increments (we only
	 * need the value, the futex compares it atomically). */
	uint32_t seq =
		atomic_load_explicit(&rt->park_seq, memory_order_acquire);
	/* ORDER: acq_rel read-modify-write: orders our announcement before
	 * the re-check below, and pairs with the RMW in trp__wake_one (see
	 * there). */
	atomic_fetch_add_explicit(&rt->sleepers,
				  spinning ? 1u - TRP__SPINNER_ONE : 1u,
				  memory_order_acq_rel);
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
		/* A timed park that ran out with no bell looks again without
		 * counting as active: nothing can be visible to us here that
		 * trp_runtime_wait_idle() does not see (the injection queue's
		 * length, or a peer that is active while its queue holds an
		 * actor), so a wait_idle poll keeps seeing an idle runtime
		 * idle. A bell, or anything to do, ends the loop. */
		/* relaxed: a hint for outside wakers (see above). */
		atomic_store_explicit(&w->park_cpu, trp__current_cpu(),
				      memory_order_relaxed);
		uint64_t turns = 0;
		int64_t watch_ns = WATCH_NS;
		while (park_once(w, seq, seen, others, watch_ns)) {
			seen = work_visible(w);
			if (seen != 0) {
				if (!held_back(w, &turns))
					break;
				/* held back: look less often, so as not to
				 * take the CPU the budget leaves them */
				seen = 0;
				if (watch_ns < WATCH_MAX_NS)
					watch_ns *= 2;
			} else {
				watch_ns = WATCH_NS;
			}
			/* ORDER: seq_cst, as trp__activity_dec's update
			 * (the value only picks the next timeout). */
			others = TRP__ACT_COUNT(atomic_load_explicit(
				&rt->activity, memory_order_seq_cst));
		}
		atomic_store_explicit(&w->park_cpu, -1, memory_order_relaxed);
		trp__activity_inc(rt);
		TRP_PROBE1(unpark, w->index);
		w->woke = true;
	}
	atomic_fetch_sub_explicit(&rt->sleepers, 1, memory_order_relaxed);
}
