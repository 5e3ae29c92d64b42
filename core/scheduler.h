/*
 * core/scheduler.h - the runtime: its workers, the injection queue for work
 * coming from non-worker threads, parking and wake-ups, quiescence, and
 * shutdown.
 *
 * Parking protocol (modelled in tests/models/park.pml): a worker that found
 * no work reads park_seq, announces itself with an acq_rel increment of
 * `sleepers`, checks every queue once more, and only then futex-waits on
 * park_seq with the value it read. A thread that makes work available from
 * outside publishes it, then does an acq_rel read-modify-write of
 * `sleepers` and bumps park_seq + wakes if it sees a sleeper. The two RMWs
 * are ordered in sleepers' modification order, so either the worker's
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
 * Quiescence: `activity` packs the number of active parties (running
 * workers plus outside threads inside a send) in its low 32 bits and a
 * generation bumped on every change in its high 32 bits. The runtime is
 * idle when that count is 0, the injection queue is empty, and `activity`
 * read again is unchanged (nothing started in between).
 */
#ifndef TRP_CORE_SCHEDULER_H
#define TRP_CORE_SCHEDULER_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mailbox.h"
#include "platform.h"
#include "troupe/runtime.h"
#include "worker.h"

struct trp__registry;
struct trp_exchange;
struct trp__timers;
struct trp_actor;

/* activity deltas: count +-1 and generation +1 in one fetch_add */
#define TRP__ACT_INC (((uint64_t)1 << 32) + 1)
#define TRP__ACT_DEC (((uint64_t)1 << 32) - 1)
#define TRP__ACT_COUNT(v) ((uint32_t)(v))

struct trp_runtime {
	/* read-mostly */
	alignas(64) trp_config_t cfg;
	uint32_t nworkers;
	struct trp__worker *workers; /* nworkers, cache-aligned */
	struct trp__msg_pool **pools;
	struct trp__registry *registry;
	_Atomic(uint32_t) shutdown; /* sticky */

	/* injection queue: outside producers, worker consumers (trylock) */
	alignas(64) struct trp__mailbox inject;
	alignas(64) _Atomic(uint32_t) inject_lock;
	_Atomic(int64_t) inject_len;

	/* parking */
	alignas(64) _Atomic(uint32_t) park_seq;
	_Atomic(uint32_t) sleepers;
	_Atomic(uint32_t) deep_sleepers; /* parked without a timeout */

	/* quiescence */
	alignas(64) _Atomic(uint64_t) activity;
	_Atomic(uint32_t) idle_seq;
	_Atomic(uint32_t) idle_waiters;

	/* counters of outside threads */
	alignas(64) struct trp__worker_stats outside;
	_Atomic(uint64_t) spawned;
	_Atomic(uint64_t) stopped;

	/* timers (cold; see timer.c) */
	alignas(64) struct trp__mutex timers_lock;
	struct trp__timers *timers;
	bool timers_closed;

	/* exchanges of this runtime (cold; see exchange.c) */
	alignas(64) struct trp__mutex exchanges_lock;
	struct trp_exchange *exchanges;

	/* live actors (cold: spawn and stop) */
	alignas(64) struct trp__mutex actors_lock;
	struct trp_actor *actors; /* doubly linked through actor->live_* */
	/* the struct itself lives until destroy is done and the last actor
	 * handle is gone: 1 for destroy + 1 per actor not yet freed */
	_Atomic(uint64_t) refs;
};

/* Makes @a runnable: on the calling worker's run queue, else injected. */
void trp__schedule(struct trp_runtime *rt, struct trp_actor *a);

/* An outside thread enters / leaves a send (quiescence and shutdown). */
int trp__outside_enter(struct trp_runtime *rt);
void trp__outside_leave(struct trp_runtime *rt);

/* Activity bookkeeping used by workers when they park and wake. */
/* Returns the number of parties still active after the decrement. */
uint32_t trp__activity_dec(struct trp_runtime *rt);
void trp__activity_inc(struct trp_runtime *rt);

/* Wakes one parked worker if any sleeps (see "Parking protocol"). */
void trp__wake_one(struct trp_runtime *rt);

/* Pops an actor from the injection queue (NULL if none / busy) and moves
 * a fair share of the rest onto worker @w's run queue. */
struct trp_actor *trp__inject_pop(struct trp_runtime *rt,
				  struct trp__worker *w);

/* Drops one reference to the runtime struct (frees it at 0). */
void trp__runtime_unref(struct trp_runtime *rt);

/* Stats sink of the calling thread: its worker's, else the outside one. */
static inline struct trp__worker_stats *trp__stats_of(struct trp_runtime *rt,
						      struct trp__worker *w)
{
	return w != NULL ? &w->stats : &rt->outside;
}

/* Adds to a counter: plain store for a worker, fetch_add outside. */
static inline void trp__count(struct trp__worker *w, _Atomic(uint64_t) *c,
			      uint64_t n)
{
	if (w != NULL)
		trp__stat_add(c, n);
	else
		/* relaxed: a statistic, read after quiescence. */
		atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

#endif /* TRP_CORE_SCHEDULER_H */
