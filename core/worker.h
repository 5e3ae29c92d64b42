/*
 * core/worker.h - one worker thread: its run queue, its message pool, its
 * counters, and the loop that runs actors, steals and parks.
 *
 * Fields are grouped by writer. The owner writes its counters with plain
 * relaxed stores (no read-modify-write): other threads only read them for
 * statistics, so a slightly stale sum is acceptable.
 */
#ifndef TRP_CORE_WORKER_H
#define TRP_CORE_WORKER_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chase_lev.h"
#include "invariant.h"
#include "run_ring.h"
#include "message.h"
#include "metrics.h"
#include "outbox.h"
#include "platform.h"

struct trp_runtime;
struct trp_actor;

/* The per-worker counters; each is also a field of trp_stats_t. */
#define TRP__WORKER_STATS(X) X(sent) X(processed) X(rejected) X(steals) X(parks)

struct trp__worker_stats {
#define TRP__STAT_FIELD(name) _Atomic(uint64_t) name;
	TRP__WORKER_STATS(TRP__STAT_FIELD)
#undef TRP__STAT_FIELD
	/* dead letters by reason; only dead_letter.c writes them */
	_Atomic(uint64_t) dead[TRP_DEAD_REASONS];
};

struct trp__worker {
	/* read by thieves */
	struct trp__run_ring runq;  /* rescheduled after a turn, injected */
	struct trp__chase_lev lifo; /* woken or spawned by a turn */
	/* owner only (the pool's `returned` stack is on its own line) */
	struct trp__msg_pool pool;
	alignas(64) struct trp_runtime *rt;
	struct trp_actor *current; /* actor whose turn is running */
	struct trp_actor *mute_on; /* overloaded receiver current sent to
				      (holds a reference), or NULL */
	uint32_t index;
	uint32_t tick;	      /* looks for work, for the periodic checks */
	uint32_t lifo_since;  /* tick of the push that made lifo_used true */
	bool lifo_used;	      /* pushed to lifo since it was seen empty
				(false: it is empty; thieves only take) */
	uint8_t slice_flip;   /* which queue the next slice end serves */
	uint32_t turn_sends;  /* messages the running turn has sent */
	bool woke;	      /* back from a park, no work run since */
	uint32_t spin_ns;     /* adaptive idle spin window (worker.c) */
	uint32_t spin_probe;  /* idle spins begun, for the probes */
	uint32_t probe_shift; /* probes 1 in 8 << this (worker.c) */
	uint64_t rng;	      /* victim selection */
	uint64_t busy_since;  /* start of the busy period (metrics.h) */
	uint32_t sched_tick;  /* schedules, for the latency sampling */
	uint64_t *last_seen;  /* per victim: turns seen, and when */
	struct trp__thread thread;
	struct trp__outbox outbox; /* the running turn's send batches */
	/* written by the owner, read by others (stats, stuck detection) */
	alignas(64) struct trp__worker_stats stats;
	_Atomic(uint64_t) turns; /* turns run (read by thieves) */
	/* the CPU it parked on, -1 while it is not parked (park.c: an
	 * outside waker wakes the worker parked on its own CPU) */
	_Atomic(int32_t) park_cpu;
	struct trp__worker_metrics metrics; /* metrics.h */
};

/* Thieves read the run queues; the owner's fields, and the counters other
 * threads read, each start a line of their own. */
static_assert(offsetof(struct trp__worker, rt) % 64 == 0 &&
		      offsetof(struct trp__worker, stats) % 64 == 0,
	      "worker: owner-only and shared groups on their own lines");

/* The calling thread's worker (NULL on other threads). */
extern _Thread_local struct trp__worker *trp__self_worker TRP__TLS_IE;

/* The worker of the calling thread if it belongs to @rt, else NULL. */
static inline struct trp__worker *trp__worker_of(struct trp_runtime *rt)
{
	struct trp__worker *w = trp__self_worker;
	return (w != NULL && w->rt == rt) ? w : NULL;
}

/* The message pool of @w, or NULL for an outside thread. */
static inline struct trp__msg_pool *trp__pool_of(struct trp__worker *w)
{
	return w != NULL ? &w->pool : NULL;
}

/* Relaxed increment of a counter only its owner writes (metrics.h). */
static inline void trp__stat_add(_Atomic(uint64_t) *c, uint64_t n)
{
	trp__metric_add(c, n);
}

/* Thread entry of a worker. */
void *trp__worker_main(void *arg);

#endif /* TRP_CORE_WORKER_H */
