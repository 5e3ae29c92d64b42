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

/* A hint for bells after a local push: true if some worker sleeps and
 * none spins (a spinner would take surplus work itself). relaxed: a
 * missed sleeper costs parallelism only (see trp__schedule). */
static inline bool trp__bell_wanted(struct trp_runtime *rt)
{
	uint32_t s = atomic_load_explicit(&rt->sleepers, memory_order_relaxed);
	return trp__unlikely(s != 0) && s < TRP__SPINNER_ONE;
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
