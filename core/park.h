/*
 * core/park.h - parking idle workers and waking them, both halves of one
 * protocol (modelled in tests/models/park.pml, with broken variants that
 * spin must reject).
 *
 * Sleeper (trp__park): a worker that found no work reads park_seq,
 * announces itself with an acq_rel increment of `sleepers`, checks every
 * queue once more, and only then futex-waits on park_seq with the value it
 * read. Waker (trp__wake_one): a thread that makes work available from
 * outside publishes it, then does an acq_rel read-modify-write of
 * `sleepers` and bumps park_seq + wakes if it sees a sleeper. The two RMWs
 * are ordered in sleepers' modification order, so either the sleeper's
 * re-check sees the work or the waker sees the sleeper: no wake-up is lost.
 * (RMWs instead of fences: the same guarantee, and ThreadSanitizer
 * understands them.) Shutdown is a sticky flag checked on every loop.
 *
 * Deep sleep: a worker parks without a timeout only when nothing else is
 * active; while peers run it parks with a timeout and looks for a lone
 * actor stuck behind a blocking behaviour (worker.c). An actor can only
 * be stuck on the queue of a worker that put it there itself (a local
 * push, an injection share, a steal): that worker, which is active, then
 * kicks one deep sleeper (a futex wake aimed at deep sleepers only), which
 * goes back to a timed park. (Kicking on every wake-up instead cost a
 * second wake-up for each message to an idle runtime: remote_pingpong.)
 *
 * Spinners: a worker that has just run out of work polls for a while
 * before it parks (worker.c, "Idle polling") and counts itself in the high
 * half of the same `sleepers` word (TRP__SPINNER_ONE) meanwhile. A waker
 * whose RMW sees a spinner does not wake anyone: the spinner finds the
 * work in its polls, or, if it stops polling first, its park turns
 * spinner into sleeper with one RMW (add 1 - TRP__SPINNER_ONE) that lands
 * in the same modification order as the waker's, so the re-check after it
 * sees the work (the argument above, unchanged; park.pml models it). This
 * is what lets an outside send reach an idle runtime without a futex
 * wake-up while a worker spins (Go's nmspinning). A spinner that finds
 * work rings the bell if more is queued and somebody sleeps
 * (trp__spin_end), so that parallelism is not lost to a skipped wake.
 *
 * Watchdog: while peers run, one parked worker at a time (rt->watchdog)
 * parks with a short timeout (WATCH_NS) instead of BUSY_PEER_NS, so that a
 * lone actor queued behind a behaviour that blocks is stolen within about
 * a millisecond (worker.c, STUCK_NS); the others park as before. Only
 * timeouts change: the wake protocol is the same.
 *
 * Budget: an outside thread that publishes (trp__outside_run_begin/end
 * count it in rt->outside_pubs during a publish call, and stamp
 * outside_pub_ns when one ends) runs on a CPU of its own, like a worker,
 * and the workers should leave it one: an outside publisher with both
 * workers of a 2-CPU machine awake is three threads time-sliced on two
 * CPUs; it got about two thirds of one, and the workers, each woken for a
 * few messages, preempted it thousands of times a second (pubsub from an
 * outside thread: 0.78x the Go peer, whose publisher is one of its two
 * Ps). So while a publisher is in a call, or publishes in a loop (calls
 * less than TRP__PUB_LOOP_NS apart) and ended one within
 * TRP__PUB_RECENT_NS (counted only inside its calls, a loop was off the
 * count just when the workers took what a call injected, and they woke a
 * peer; a thread that publishes now and then and sleeps in between is
 * not taken for busy), a bell that would wake one more
 * worker is not rung when the workers awake plus the publishers fill the
 * CPUs (trp__wake_budget), unless every worker sleeps. Liveness is as for
 * a spinner: the waker's RMW saw a worker that is not parked; it runs
 * turns (it takes the injection queue within INJECT_EVERY turns,
 * worker.c, or when it runs out), or it is about to park and its RMW
 * comes after ours, so its re-check sees the work (tests/models/
 * park_budget.pml; park_budget_early_broken.pml, whose waker looks before
 * its push, is rejected). Likewise:
 *   - a worker that runs out of work while it is one too many parks
 *     without polling (worker.c, trp__over_budget);
 *   - a parked worker whose timed park ran out leaves the work it sees to
 *     the workers awake while the budget is full and they make progress
 *     (their turn counters moved since its last look: park.c, held_back),
 *     and looks half as often each time (up to WATCH_MAX_NS, 3.2 ms);
 *     when they do not, it takes the work, as the watchdog must, so a
 *     behaviour that blocks delays the rest by a few milliseconds at most;
 *   - a publish call that found receivers far behind (TRP__MUTE_LOW
 *     queued) leaves the count without the stamp and rings a parked
 *     worker (send.c, trp__outside_run_end): the budget gives way while
 *     the subscribers catch up.
 * A thread that says it will sleep after its publish (trp__waker_sleeps:
 * a node's inbound thread) is counted during its call only. Without
 * outside publishers, or with CPUs to spare, nothing changes.
 *
 * Who may call: trp__park, trp__spin_* and trp__kick_deep from workers;
 * the bells from any thread. Lock-free but for the futex wait itself.
 */
#ifndef TRP_CORE_PARK_H
#define TRP_CORE_PARK_H

#include "runtime.h"

/* `sleepers` counts parked workers in its low half, spinning workers in
 * its high half (see "Spinners"). */
#define TRP__SPINNER_ONE (1u << 16)
#define TRP__SLEEPER_MASK (TRP__SPINNER_ONE - 1u)

/* A publisher whose calls end less than TRP__PUB_LOOP_NS apart publishes
 * in a loop, and between two calls still counts for TRP__PUB_RECENT_NS
 * (see "Budget"). */
#define TRP__PUB_LOOP_NS 20000u
#define TRP__PUB_RECENT_NS 50000u

/* Outside publishers that count against the budget: those in a publish
 * call, or one if a call ended within TRP__PUB_RECENT_NS. relaxed: a
 * hint; both share the line of `sleepers`. */
static inline uint32_t trp__outside_busy(struct trp_runtime *rt)
{
	uint32_t pubs =
		atomic_load_explicit(&rt->outside_pubs, memory_order_relaxed);
	if (pubs != 0)
		return pubs;
	uint64_t at =
		atomic_load_explicit(&rt->outside_pub_ns, memory_order_relaxed);
	return at != 0 && trp__now_ns() - at < TRP__PUB_RECENT_NS;
}

/* With @s read from `sleepers`: may one more worker be woken (see
 * "Budget")? */
static inline bool trp__wake_budget(struct trp_runtime *rt, uint32_t s)
{
	uint32_t pubs = trp__outside_busy(rt);
	if (trp__likely(pubs == 0))
		return true;
	uint32_t awake = rt->nworkers - (s & TRP__SLEEPER_MASK);
	return awake == 0 || awake + pubs < rt->ncpus;
}

/* Is the calling worker, awake, one more than the budget allows (see
 * "Budget")? It then parks without polling. relaxed: a hint. */
static inline bool trp__over_budget(struct trp_runtime *rt)
{
	uint32_t pubs = trp__outside_busy(rt);
	if (trp__likely(pubs == 0))
		return false;
	uint32_t s = atomic_load_explicit(&rt->sleepers, memory_order_relaxed);
	return rt->nworkers - (s & TRP__SLEEPER_MASK) + pubs > rt->ncpus;
}

/* A hint for bells after a local push: true if some worker sleeps, none
 * spins (a spinner would take surplus work itself) and the budget allows.
 * relaxed: a missed sleeper costs parallelism only (see trp__schedule). */
static inline bool trp__bell_wanted(struct trp_runtime *rt)
{
	uint32_t s = atomic_load_explicit(&rt->sleepers, memory_order_relaxed);
	return trp__unlikely(s != 0) && s < TRP__SPINNER_ONE &&
	       trp__wake_budget(rt, s);
}

/* Wakes one parked worker if any sleeps and none spins (the waker's
 * half). */
void trp__wake_one(struct trp_runtime *rt);

/* Wakes one parked worker, sleeping or not (any kind of sleep): for a
 * worker with surplus work, after a relaxed look at `sleepers`. */
void trp__ring_park_bell(struct trp_runtime *rt);

/* Wakes every parked worker (shutdown). */
void trp__ring_park_bell_all(struct trp_runtime *rt);

/* Worker @w starts polling for work before it parks (counts as a
 * spinner until trp__spin_end or trp__park(w, true)). */
void trp__spin_begin(struct trp__worker *w);

/* Worker @w, a spinner, found work: no longer a spinner; wakes a sleeper
 * if the injection queue holds more. */
void trp__spin_end(struct trp__worker *w);

/* Worker @w, a spinner, stops without parking (it exits). */
void trp__spin_quit(struct trp__worker *w);

/* The sleeper's half: parks worker @w unless work is visible. @spinning:
 * @w is counted as a spinner (trp__spin_begin) and stops being one. */
void trp__park(struct trp__worker *w, bool spinning);

/* Set by a thread outside the workers while it sends what it will sleep
 * after (a node's inbound thread, its last frame): its wake-ups prefer the
 * worker parked on its own CPU (park.c, ring_park_bell_near). */
extern _Thread_local bool trp__waker_sleeps TRP__TLS_IE;

/* Kicks one deep sleeper (trp__kick_deep's slow half). */
void trp__kick_deep_one(struct trp_runtime *rt);

/* An actor was queued on the calling worker's own queue: should its turn
 * block, no peer may sleep for good meanwhile (see "Deep sleep"). One
 * load (on the line the wake checks read anyway) while nobody sleeps
 * deeply. */
static inline void trp__kick_deep(struct trp_runtime *rt)
{
	/* ORDER: seq_cst; Dekker pair with trp__park's deep_sleepers
	 * increment and activity load: we are active (our seq_cst activity
	 * increment came first), so either we see its increment or it sees
	 * us active and parks with a timeout. */
	if (atomic_load_explicit(&rt->deep_sleepers, memory_order_seq_cst) != 0)
		trp__kick_deep_one(rt);
}

#endif /* TRP_CORE_PARK_H */
