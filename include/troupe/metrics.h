/*
 * troupe/metrics.h - what a runtime lets a service see: always-on counters
 * per worker, a sampled scheduling-latency histogram, opt-in per-actor
 * metrics, a top-N of actors by backlog, and a writer of Prometheus text
 * exposition or JSON.
 *
 * Always on: each worker writes its own counters (plain stores on its own
 * cache lines: no read-modify-write, no lock); a reader sums them while
 * they move, so a read is a consistent-enough snapshot, never torn, and
 * costs a few hundred loads (docs/architecture.md, "Metrics"). One
 * schedule in TRP_SCHED_SAMPLE has its runnable -> running delay measured
 * into the worker that runs it; readers merge the workers' histograms.
 *
 * Per actor, opt-in: trp_actor_metrics_enable() turns on an actor's
 * backlog high-water mark and processing-time histogram; actors without it
 * pay one predictable branch per turn.
 *
 * The library opens no port: trp_stats_write() writes to a FILE * of the
 * caller's (a file, a pipe, open_memstream()) and the service serves it.
 */
#ifndef TROUPE_METRICS_H
#define TROUPE_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TRP_METRICS_VERSION 1u

/** One schedule in this many is timed (runnable -> running). */
#define TRP_SCHED_SAMPLE 64u

/** Buckets of a trp_histogram_t. */
#define TRP_HIST_BUCKETS 32

/**
 * A histogram of durations in nanoseconds, log2 buckets: bucket 0 counts
 * 0 ns, bucket b (1 <= b < TRP_HIST_BUCKETS - 1) counts values in
 * [2^(b-1), 2^b) ns, the last bucket everything from 2^30 ns (~1.07 s) up.
 * trp_hist_upper_ns() gives a bucket's (exclusive) upper bound.
 */
typedef struct trp_histogram {
	uint64_t count;	 /**< sum of bucket[] */
	uint64_t sum_ns; /**< sum of the values counted */
	uint64_t bucket[TRP_HIST_BUCKETS];
} trp_histogram_t;

/** Upper bound (exclusive) of bucket @p b in ns; UINT64_MAX for the last. */
static inline uint64_t trp_hist_upper_ns(unsigned b)
{
	return b + 1 >= TRP_HIST_BUCKETS ? UINT64_MAX : (uint64_t)1 << b;
}

/** The always-on counters of one worker. */
typedef struct trp_worker_metrics {
	uint64_t turns;	       /**< actor turns run */
	uint64_t messages;     /**< messages processed (behaviour calls) */
	uint64_t busy_ns;      /**< time outside idle polling and parking */
	uint64_t steals;       /**< successful steal operations */
	uint64_t parks;	       /**< times it parked */
	uint64_t idle_wakeups; /**< wake-ups from a park that found no work */
	/** sampled runnable -> running delay of the actors it ran */
	trp_histogram_t sched_latency;
} trp_worker_metrics_t;

/**
 * The runtime's metrics. Set version (TRP_METRICS_INIT) before the call:
 * a struct of another version gets TRP_EVERSION.
 */
typedef struct trp_metrics {
	uint32_t version;	/**< TRP_METRICS_VERSION, set by the caller */
	uint32_t workers;	/**< worker threads */
	trp_stats_t totals;	/**< as trp_runtime_stats() */
	uint64_t turns;		/**< sum over workers */
	uint64_t busy_ns;	/**< sum over workers */
	uint64_t idle_wakeups;	/**< sum over workers */
	uint64_t inject_depth;	/**< actors waiting in the injection queue */
	uint64_t actors_alive;	/**< spawned - stopped */
	uint64_t actors_failed; /**< stopped by trp_actor_fail() */
	uint64_t actors_restarted; /**< restarts by supervisors */
	/** the workers' sched_latency histograms, merged */
	trp_histogram_t sched_latency;
} trp_metrics_t;

/** Initializer (C; in C++ set version by hand). */
#define TRP_METRICS_INIT                                                       \
	{                                                                      \
		.version = TRP_METRICS_VERSION                                 \
	}

/**
 * Fills @p out with the runtime's metrics, summed over workers. Lock-free
 * (reads only); each counter is exact at quiescence, approximate while
 * workers run. Threads: any (also after trp_runtime_destroy() while a
 * handle keeps the runtime's memory). Errors: TRP_EINVAL (NULL),
 * TRP_EVERSION (out->version).
 */
TRP_API int trp_runtime_metrics(trp_runtime_t *rt, trp_metrics_t *out);

/**
 * Fills @p out with worker @p worker's counters (0 <= worker <
 * trp_runtime_workers()). Threads: any. Lock-free. Errors: TRP_EINVAL
 * (NULL, worker out of range).
 */
TRP_API int trp_runtime_worker_metrics(trp_runtime_t *rt, uint32_t worker,
				       trp_worker_metrics_t *out);

/** Per-actor metrics (trp_actor_metrics_enable()). */
typedef struct trp_actor_metrics {
	uint64_t backlog; /**< messages queued now (trp_actor_mailbox_len) */
	uint64_t backlog_hwm; /**< the most queued since enabling: the
				 mailbox's count (which includes the message
				 being processed) after each behaviour call
				 (event actors), before each drain lowers it
				 (ports, thread actors), and now */
	uint64_t processed;   /**< messages timed since enabling */
	/** behaviour time per message (event actors only) */
	trp_histogram_t processing;
} trp_actor_metrics_t;

/**
 * Turns on @p a's per-actor metrics (off by default; they stay on until
 * the actor is freed). The processing-time histogram is kept for event
 * actors (turns on the workers); the backlog high-water mark for event
 * actors, ports and thread actors. Idempotent. Threads: any; metrics
 * start with the actor's next turn (a port's or thread actor's next
 * drain or receive). Errors: TRP_EINVAL (NULL), TRP_ENOMEM, TRP_EDEAD
 * (stopped).
 */
TRP_API int trp_actor_metrics_enable(trp_actor_t *a);

/**
 * Fills @p out with @p a's per-actor metrics. Lock-free. Threads: any.
 * Errors: TRP_EINVAL (NULL), TRP_ENOENT (not enabled).
 */
TRP_API int trp_actor_metrics_get(trp_actor_t *a, trp_actor_metrics_t *out);

/** One row of trp_runtime_top_backlog(). */
typedef struct trp_backlog_entry {
	trp_actor_t *actor; /**< retained: release it (trp_actor_release) */
	uint64_t id;	    /**< trp_actor_id(actor) */
	uint64_t backlog;   /**< its mailbox length when it was looked at */
} trp_backlog_entry_t;

/**
 * The (up to) @p n live actors with the longest mailboxes, longest first
 * (Erlang recon's proc_count(message_queue_len, N)); every live actor is a
 * candidate, metrics enabled or not. *@p found receives the rows filled
 * (fewer than @p n when fewer actors live). Walks the live actors under
 * the runtime's actors lock (on demand, not for a hot path: O(actors)).
 * Threads: any. Errors: TRP_EINVAL (NULL rt, out or found with n > 0).
 */
TRP_API int trp_runtime_top_backlog(trp_runtime_t *rt, trp_backlog_entry_t *out,
				    size_t n, size_t *found);

/** trp_stats_write() formats. */
enum {
	TRP_STATS_PROMETHEUS = 1, /**< Prometheus text exposition 0.0.4 */
	TRP_STATS_JSON = 2,	  /**< one JSON object and a newline */
};

/**
 * Writes the runtime's metrics (trp_runtime_metrics() and
 * trp_runtime_worker_metrics()) to @p f in @p format: Prometheus text (# HELP and
 * # TYPE lines; per-worker series labelled worker="i"; histograms in
 * seconds with _bucket{le=...}, _sum and _count) or JSON (names in
 * docs/architecture.md, "Metrics"). Lock-free apart from stdio's own
 * lock on @p f. Threads: any. Errors: TRP_EINVAL (NULL, an unknown
 * format), TRP_ENOMEM, TRP_ESYSTEM (a write to @p f failed).
 */
TRP_API int trp_stats_write(trp_runtime_t *rt, FILE *f, int format);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_METRICS_H */
