/*
 * core/metrics.h - the always-on counters' storage beyond trp_stats_t
 * (per worker: busy time, idle wake-ups, the sampled scheduling-latency
 * histogram), the per-actor opt-in block, and the inline helpers the hot
 * paths call (troupe/metrics.h has the public side; metrics.c the reads).
 *
 * Writers: a worker's block only by that worker (trp__stat_add: relaxed
 * load + store, no read-modify-write); an actor's block only by the
 * consumer of its mailbox (the worker running its turn, a port's drain).
 * Readers on any thread load every word relaxed: 64-bit aligned words
 * never tear; a sum read while workers run is approximate.
 *
 * Sampling (scheduler.c): every TRP_SCHED_SAMPLE-th schedule by a thread
 * stamps the actor (sched_at) with the monotonic clock; the worker that
 * runs it next records now - stamp and clears it. The thread that
 * schedules owns the actor until the push onto a run queue, whose
 * release/acquire pair orders the stamp before the worker's read.
 *
 * Who may call: the record helpers from the owning thread only.
 */
#ifndef TRP_CORE_METRICS_H
#define TRP_CORE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/metrics.h"

struct trp_runtime;
struct trp_actor;

/* A histogram one thread writes (trp_histogram_t's buckets; the count is
 * their sum, computed by readers). */
struct trp__hist {
	_Atomic(uint64_t) sum_ns;
	_Atomic(uint64_t) bucket[TRP_HIST_BUCKETS];
};

/* A worker's counters that trp_stats_t does not have. */
struct trp__worker_metrics {
	_Atomic(uint64_t) busy_ns;
	_Atomic(uint64_t) idle_wakeups;
	struct trp__hist sched_latency;
};

/* An actor's opt-in block (trp_actor_metrics_enable), freed with it. */
struct trp__actor_metrics {
	_Atomic(uint64_t) hwm;	     /* consumer writes (max), any reads */
	_Atomic(uint64_t) processed; /* consumer writes */
	struct trp__hist processing;
	/* consumer only: the actor's own behaviour, called by the timing
	 * one that turn.c installs in its place at its first turn */
	trp_behavior_fn inner;
};

/* The bucket of @ns: its bit length, capped at the last bucket. */
static inline unsigned trp__hist_bucket(uint64_t ns)
{
	unsigned b = ns == 0 ? 0 : 64u - (unsigned)__builtin_clzll(ns);
	return b < TRP_HIST_BUCKETS ? b : TRP_HIST_BUCKETS - 1;
}

/* Relaxed add by the single writer (a plain store, no RMW). */
static inline void trp__metric_add(_Atomic(uint64_t) *c, uint64_t n)
{
	/* relaxed load + store: one writer; readers only sum. */
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Records @ns into @h; its single writer only. */
static inline void trp__hist_record(struct trp__hist *h, uint64_t ns)
{
	trp__metric_add(&h->bucket[trp__hist_bucket(ns)], 1);
	trp__metric_add(&h->sum_ns, ns);
}

/* Adds @h into @out (a reader; relaxed loads, see the file comment). */
void trp__hist_read(const struct trp__hist *h, trp_histogram_t *out);

/* The high-water mark sees @queued (the mailbox's count before its
 * consumer lowers it); the consumer only. */
static inline void trp__actor_metrics_backlog(struct trp__actor_metrics *m,
					      uint64_t queued)
{
	/* relaxed: single writer (the consumer); readers take a snapshot. */
	if (queued > atomic_load_explicit(&m->hwm, memory_order_relaxed))
		atomic_store_explicit(&m->hwm, queued, memory_order_relaxed);
}

/* A supervisor restarted a child of @rt (any thread; a rare event). */
void trp__metrics_restarted(struct trp_runtime *rt);

#endif /* TRP_CORE_METRICS_H */
