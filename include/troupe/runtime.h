/*
 * troupe/runtime.h - creating, waiting on and destroying a runtime.
 *
 * A runtime owns a fixed set of worker threads (one per core by default),
 * each with its own run queue of runnable actors; idle workers steal from
 * the others and park on an event count when there is no work at all.
 *
 * Lifetime: trp_runtime_create() hands out the only reference to the
 * runtime; trp_runtime_destroy() ends it. Actor handles may outlive the
 * runtime: after destroy, sends to them return TRP_ESHUTDOWN or TRP_EDEAD and
 * trp_actor_release() stays valid; the runtime's last bytes are freed with
 * the last handle.
 */
#ifndef TROUPE_RUNTIME_H
#define TROUPE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trp_runtime trp_runtime_t;
typedef struct trp_actor trp_actor_t;

/** A message as a behaviour sees it. Valid only during the behaviour call. */
typedef struct trp_msg {
	uint32_t type;	  /**< the sender's type tag, opaque to troupe */
	int32_t status;	  /**< 0, or for a future's outcome delivered by
			       trp_future_then the TRP_E* error */
	size_t size;	  /**< payload size in bytes */
	const void *data; /**< payload: for copied sends NULL when size is 0,
			       else 16-byte aligned; for trp_send_owned()
			       the buffer exactly as handed over */
} trp_msg_t;

/**
 * Why a message became a dead letter. The values are stable (they will be
 * carried between processes); every reason is < TRP_DEAD_REASONS.
 */
typedef enum trp_dead_reason {
	TRP_DEAD_STOPPED = 1,	  /**< receiver stopped before processing it
				      (also: a timer firing or a future's
				      outcome for an actor that had stopped) */
	TRP_DEAD_SHUTDOWN = 2,	  /**< runtime destroyed before processing it */
	TRP_DEAD_LATE_REPLY = 3,  /**< a reply whose future had completed
				      already (its waiter timed out); the
				      hook's actor is NULL */
	TRP_DEAD_FAILED = 4,	  /**< the message a behaviour was handling
				      when it called trp_actor_fail() */
	TRP_DEAD_KILLED = 5,	  /**< queued when its receiver was killed */
	TRP_DEAD_DEMONITORED = 6, /**< a DOWN message voided by
				       trp_demonitor() before it was
				       handled (monitor.h) */
	TRP_DEAD_DROPPED = 7,	  /**< dropped on its way by the simulator
				       (trp_sim_drop_next, troupe/sim.h) */
} trp_dead_reason_t;

/** Size of trp_stats_t.dead_by_reason (room for reasons to come). */
#define TRP_DEAD_REASONS 16

/**
 * Dead-letter hook: called exactly once for every accepted message that will
 * never be processed, just before it is freed. It runs on whichever thread
 * discovered the message (a worker, a sending thread, the runtime's timer
 * thread, or the thread calling trp_runtime_destroy()); it must not block
 * and must not call
 * trp_runtime_destroy(). @p to is valid for the duration of the call, and
 * NULL for TRP_DEAD_LATE_REPLY.
 */
typedef void (*trp_dead_letter_fn)(void *ctx, trp_actor_t *to,
				   const trp_msg_t *msg, trp_dead_reason_t why);

#define TRP_CONFIG_VERSION 1u

/** Default cap on messages per actor turn (see trp_config_t.batch). */
#define TRP_DEFAULT_BATCH 16384u
/** Default number of idle polls before a worker parks. */
#define TRP_DEFAULT_IDLE_SPINS 64u

/**
 * Runtime configuration. Start from TRP_CONFIG_INIT and change fields:
 *     trp_config_t cfg = TRP_CONFIG_INIT; cfg.workers = 2;
 */
typedef struct trp_config {
	uint32_t version; /**< TRP_CONFIG_VERSION */
	uint32_t workers; /**< worker threads; 0 = online cores (max 256) */
	bool pin_workers; /**< pin worker i to online CPU i % cores */
	uint32_t batch;	  /**< max messages per turn; 0 = default. A turn
				   takes the messages present when it began
				   and, while it has sent fewer than 64
				   messages, ones that arrive during it
				   (self-sends too): an actor that keeps
				   messaging itself yields its worker after
				   64 sends or `batch` messages. */
	uint32_t mailbox_limit; /**< default mailbox bound; 0 = unbounded */
	uint32_t idle_spins;	/**< empty polls of all queues before parking,
				   followed by an adaptive window of polling
				   (5-50 us after work ran, none on an idle
				   runtime; docs/architecture.md, "Spinning");
				   0 = park at once, no polling (tests) */
	trp_dead_letter_fn dead_letter; /**< optional hook, see above */
	void *dead_letter_ctx;		/**< passed to dead_letter */
} trp_config_t;

#define TRP_CONFIG_INIT                                                        \
	{                                                                      \
		TRP_CONFIG_VERSION, 0, false, TRP_DEFAULT_BATCH, 0,            \
			TRP_DEFAULT_IDLE_SPINS, NULL, NULL                     \
	}

/**
 * Counters of a runtime, summed over workers; approximate while running.
 * At quiescence (and in trp_runtime_destroy_ex()'s final counters)
 * sent == processed + dead_lettered: every accepted message is processed or
 * a dead letter. Replies that complete a future are in neither (the future
 * is their receipt); a late reply, a timer firing at a stopped actor and a
 * future's outcome for a stopped actor count as sent and dead-lettered.
 */
typedef struct trp_stats {
	uint64_t sent;		/**< messages accepted by a send */
	uint64_t processed;	/**< behaviour invocations */
	uint64_t dead_lettered; /**< accepted, never processed (the sum of
				     dead_by_reason) */
	uint64_t rejected;	/**< sends refused with TRP_EFULL */
	uint64_t spawned;	/**< actors spawned */
	uint64_t stopped;	/**< actors stopped */
	uint64_t steals;	/**< successful steal operations */
	uint64_t parks;		/**< times a worker parked */
	/** dead letters by trp_dead_reason_t (index 0 is unused) */
	uint64_t dead_by_reason[TRP_DEAD_REASONS];
} trp_stats_t;

/**
 * Creates a runtime and starts its workers.
 * @param cfg  configuration; NULL means TRP_CONFIG_INIT.
 * @param out  receives the runtime on success; untouched on error.
 * Threads: any. Errors: TRP_EINVAL (out NULL, workers > 256),
 * TRP_EVERSION, TRP_ENOMEM, TRP_ESYSTEM (a thread could not be started).
 */
TRP_API int trp_runtime_create(const trp_config_t *cfg, trp_runtime_t **out);

/**
 * Waits until the runtime is quiescent: no actor runnable or running and no
 * message in flight (the seeds' "run until there are no more tasks").
 * @param timeout_ns  < 0 waits forever; 0 polls once.
 * Threads: any thread except the runtime's own workers (TRP_EDEADLK).
 * Errors: TRP_EINVAL, TRP_ETIMEDOUT, TRP_EDEADLK, TRP_ESHUTDOWN.
 */
TRP_API int trp_runtime_wait_idle(trp_runtime_t *rt, int64_t timeout_ns);

/**
 * Destroys the runtime: refuses new sends and spawns (TRP_ESHUTDOWN), stops
 * the workers after their current turn, joins them, then stops every actor
 * still alive (its stop hook runs on the calling thread, reason
 * TRP_STOP_SHUTDOWN) and hands each unprocessed message to the dead-letter
 * hook. Names are released. Call trp_runtime_wait_idle() first to let the
 * work finish.
 * Threads: any thread except a worker (TRP_EDEADLK); at most once per
 * runtime, and not concurrently with trp_runtime_wait_idle().
 * Errors: TRP_EINVAL (NULL), TRP_EDEADLK, TRP_ESHUTDOWN (destroy was
 * called already: detected only while a handle still held - an actor's,
 * an exchange's - keeps the runtime's memory; otherwise the runtime is
 * freed memory and a second call is undefined).
 */
TRP_API int trp_runtime_destroy(trp_runtime_t *rt);

/**
 * trp_runtime_destroy(), then fills @p final (if not NULL) with the
 * runtime's counters as they stand after everything was stopped and
 * dead-lettered: at that point sent == processed + dead_lettered.
 * Threads and errors: as trp_runtime_destroy().
 */
TRP_API int trp_runtime_destroy_ex(trp_runtime_t *rt, trp_stats_t *final);

/**
 * Fills @p out with the runtime's counters. Threads: any (also after
 * trp_runtime_destroy() while a handle keeps the runtime's memory).
 * Errors: TRP_EINVAL (NULL).
 */
TRP_API int trp_runtime_stats(trp_runtime_t *rt, trp_stats_t *out);

/** Number of worker threads. Threads: any. */
TRP_API uint32_t trp_runtime_workers(const trp_runtime_t *rt);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_RUNTIME_H */
