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
 * actor stuck behind a blocking behaviour (worker.c). A worker that wakes
 * up to run work therefore first kicks one deep sleeper (a futex wake
 * aimed at deep sleepers only), which goes back to a timed park.
 *
 * Who may call: trp__park and trp__kick_deep from workers; the bells from
 * any thread. Lock-free but for the futex wait itself.
 */
#ifndef TRP_CORE_PARK_H
#define TRP_CORE_PARK_H

#include "runtime.h"

/* Wakes one parked worker if any sleeps (the waker's half). */
void trp__wake_one(struct trp_runtime *rt);

/* Wakes one parked worker, sleeping or not (any kind of sleep): for a
 * worker with surplus work, after a relaxed look at `sleepers`. */
void trp__ring_park_bell(struct trp_runtime *rt);

/* Wakes every parked worker (shutdown). */
void trp__ring_park_bell_all(struct trp_runtime *rt);

/* The sleeper's half: parks worker @w unless work is visible. */
void trp__park(struct trp__worker *w);

/* @w woke up to run work that might block: no peer may sleep for good
 * meanwhile (see "Deep sleep"). */
void trp__kick_deep(struct trp_runtime *rt);

#endif /* TRP_CORE_PARK_H */
