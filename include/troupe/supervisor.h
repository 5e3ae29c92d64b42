/*
 * troupe/supervisor.h - supervisors: actors that start children, watch
 * them, and restart them when they fail.
 *
 * A supervisor is an event actor with its children specified up front. It
 * starts them in order, monitors each (monitor.h), and when one stops it
 * applies the child's restart type and the supervisor's strategy:
 *
 *   restart   permanent: always restarted; transient: only after an
 *             abnormal stop (trp_stop_abnormal()); temporary: never.
 *   strategy  one_for_one: only the child that stopped is restarted;
 *             one_for_all: every other child is stopped (in reverse order)
 *             and all are restarted in order; rest_for_one: the children
 *             started after it are stopped (in reverse order) and it and
 *             they are restarted in order.
 *
 * Restart is Erlang's, not Akka's: a restarted child is a new actor (new
 * handle, new id, fresh state from its spec), and the failed one's queued
 * mail becomes dead letters (counted: TRP_DEAD_STOPPED; the message it
 * failed on: TRP_DEAD_FAILED). Chosen because the mail of an actor that
 * failed is often what made it fail, because no handle then points to an
 * actor in a half-reset state, and because a failed actor stops at once:
 * it consumes no mail while its supervisor decides. A named child is
 * registered under its name again when it restarts, so senders that use
 * names (trp_send_named) reach the new one; trp_supervisor_child() gives
 * the current handle.
 *
 * Intensity: more than `intensity` restarts within `period_ns` (defaults:
 * 3 in 5 s, Erlang's) means restarting does not help: the supervisor stops
 * its children in reverse order and fails itself (TRP_STOP_FAILED with
 * TRP_SUP_INTENSITY), so its own supervisor decides (escalation). With a
 * backoff (backoff_min_ns > 0) a restart waits min, 2*min, 4*min ... up to
 * max since the child's previous restart, plus up to 25 % random jitter.
 *
 * Shutdown: trp_actor_close() of the supervisor stops its children in
 * reverse order, each closed (after its queued messages) and given its
 * shutdown_ns to stop before it is killed; then the supervisor stops
 * (TRP_STOP_CLOSED). At runtime destroy every actor stops anyway.
 */
#ifndef TROUPE_SUPERVISOR_H
#define TROUPE_SUPERVISOR_H

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The failure code of a supervisor whose restart intensity tripped. */
#define TRP_SUP_INTENSITY ((int32_t)0x73757031) /* "sup1" */

typedef enum trp_restart {
	TRP_RESTART_PERMANENT = 0,
	TRP_RESTART_TRANSIENT = 1,
	TRP_RESTART_TEMPORARY = 2,
} trp_restart_t;

typedef enum trp_strategy {
	TRP_ONE_FOR_ONE = 0,
	TRP_ONE_FOR_ALL = 1,
	TRP_REST_FOR_ONE = 2,
} trp_strategy_t;

/** One child. */
typedef struct trp_child_spec {
	trp_actor_def_t def; /**< the child's definition (state_size > 0:
				  each start copies `arg`, so a restart
				  begins from the same state) */
	const void *arg;     /**< spawn argument of every start */
	const char *name;    /**< NULL, or registered at every start */
	trp_restart_t restart;
	int64_t shutdown_ns; /**< time to stop after close before it is
				  killed; 0 = killed at once; < 0 = wait */
} trp_child_spec_t;

#define TRP_SUPERVISOR_MAX_CHILDREN 1024u

/** A supervisor. Start from TRP_SUPERVISOR_SPEC_INIT. */
typedef struct trp_supervisor_spec {
	trp_strategy_t strategy;
	uint32_t intensity;	/**< restarts allowed per period (3) */
	int64_t period_ns;	/**< (5 s) */
	int64_t backoff_min_ns; /**< 0 = restart at once */
	int64_t backoff_max_ns;
	const trp_child_spec_t *children; /**< copied (names too) */
	uint32_t nchildren;		  /**< 1..TRP_SUPERVISOR_MAX_CHILDREN */
} trp_supervisor_spec_t;

#define TRP_SUPERVISOR_SPEC_INIT                                               \
	{                                                                      \
		TRP_ONE_FOR_ONE, 3, 5000000000LL, 0, 0, NULL, 0                \
	}

/**
 * Starts a supervisor and, from its first turn, its children in order.
 * *out (may be NULL) receives a handle to the supervisor. Supervisors can
 * supervise supervisors: give a child spec whose def is
 * trp_supervisor_def() and whose arg is a trp_supervisor_spec_t.
 * Threads: any. Errors: TRP_EINVAL (bad spec), TRP_ENOMEM, TRP_ESHUTDOWN.
 */
TRP_API int trp_supervisor_start(trp_runtime_t *rt,
				 const trp_supervisor_spec_t *spec,
				 trp_actor_t **out);

/**
 * The definition of a supervisor actor, for a child spec whose `arg` is a
 * trp_supervisor_spec_t (a supervisor under a supervisor).
 */
TRP_API const trp_actor_def_t *trp_supervisor_def(void);

/**
 * The current handle of child @p index (0-based, spec order) of
 * supervisor @p sup: *out receives a new reference (release it).
 * Threads: any. Errors: TRP_EINVAL, TRP_ENOENT (not running now: between
 * a stop and its restart, or a temporary child that stopped), TRP_EDEAD
 * (the supervisor has stopped).
 */
TRP_API int trp_supervisor_child(trp_actor_t *sup, uint32_t index,
				 trp_actor_t **out);

/** Counters of a supervisor. */
typedef struct trp_supervisor_stats {
	uint64_t restarts; /**< children started again */
	uint64_t stops;	   /**< children that stopped (any reason) */
} trp_supervisor_stats_t;

/** Fills @p out. Threads: any. Errors: TRP_EINVAL. */
TRP_API int trp_supervisor_get_stats(trp_actor_t *sup,
				 trp_supervisor_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_SUPERVISOR_H */
