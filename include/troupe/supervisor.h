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
 *             after it in the spec are stopped (in reverse order) and it
 *             and they are restarted in order.
 *
 * A group restart (one_for_all, rest_for_one) starts again every child of
 * the group except temporary ones (Erlang's rule: a temporary child is never
 * restarted, also when a sibling's failure stopped it). A child whose stop
 * needs no restart (temporary; transient after a normal stop) restarts no
 * sibling either.
 *
 * Restart is Erlang's, not Akka's: a restarted child is a new actor (new
 * handle, new id, fresh state from its spec), and the failed one's queued
 * mail becomes dead letters (counted: TRP_DEAD_STOPPED; the message it
 * failed on: TRP_DEAD_FAILED; after a kill: TRP_DEAD_KILLED). Chosen
 * because the mail of an actor that failed is often what made it fail,
 * because no handle then points to an actor in a half-reset state, and
 * because a failed actor stops at once: it consumes no mail while its
 * supervisor decides. A named child is registered under its name again
 * when it restarts (if the old instance still holds the name, it is
 * unregistered first), so senders that use names (trp_send_named) reach the
 * new one; trp_supervisor_child() gives the current handle. Between the
 * stop and the restart the name is unregistered: trp_send_named() returns
 * TRP_ENOENT then and accepts nothing.
 *
 * Stopping a sibling: it is closed (trp_actor_close(): it processes the
 * messages already sent to it, then stops with TRP_STOP_CLOSED) and given
 * its shutdown_ns to stop; then it is killed (TRP_STOP_KILLED; the rest of
 * its mail becomes TRP_DEAD_KILLED dead letters). Siblings are stopped one
 * at a time, the last in spec order first, each after the previous one's
 * DOWN. A child that is itself a supervisor is stopped with
 * trp_supervisor_stop() instead of closed, so its own children stop in
 * order first.
 *
 * Starting: children start in order in the supervisor's first turn (its
 * start hook), not inside trp_supervisor_start(): until then
 * trp_supervisor_child() returns TRP_ENOENT and their names are not
 * registered (trp_runtime_wait_idle() after the start is one way to wait).
 * A child that cannot be started (trp_actor_spawn() fails, or its name is
 * held by another actor: then the new instance is killed) counts as a child
 * that failed at once: it is restarted by the same rules, so a lasting
 * cause trips the intensity. A child that stops before its supervisor could
 * monitor it (in its own start hook) is seen as TRP_STOP_NOPROC, which is
 * abnormal.
 *
 * Intensity: more than `intensity` restarts within `period_ns` (defaults:
 * 3 in 5 s, Erlang's) means restarting does not help: the supervisor stops
 * its children in reverse order (as above) and fails itself
 * (TRP_STOP_FAILED with TRP_SUP_INTENSITY), so its own supervisor decides
 * (escalation). A restart counts once however many siblings it restarts.
 * With intensity 0 the first restart trips it. The supervisor fails from
 * the turn that handles its last child's DOWN (or from the turn that
 * tripped it, when no child was running): it takes no further message.
 * The message it fails on (a DOWN or one of its own timer ticks) is a
 * TRP_DEAD_FAILED dead letter, as trp_actor_fail() says.
 *
 * Backoff (backoff_min_ns > 0): the k-th restart of a child in a row waits
 * backoff_min_ns * 2^(k-1), at most backoff_max_ns, plus a random jitter of
 * up to 25 % of that (each supervisor has its own generator; rand() is
 * never called). A child that ran for period_ns or longer before it stopped
 * starts a new row (its next restart waits backoff_min_ns again). The wait
 * begins when the supervisor decides to restart; siblings are stopped
 * meanwhile; a group starts together when the longest wait of its members
 * is over. The supervisor runs its timers with trp_send_after() (timer.h).
 *
 * Shutdown: trp_supervisor_stop() is the ordered shutdown: the children are
 * stopped in reverse order, each as above (closed, killed after its
 * shutdown_ns), then the supervisor stops (TRP_STOP_NORMAL). It is
 * asynchronous; to wait for the end, monitor the supervisor or
 * trp_actor_watch() it.
 * trp_actor_close() cannot give that order: a closed supervisor takes no
 * DOWN messages and no timers, and its stop hook must not wait. A closed
 * supervisor therefore closes its running children (supervisors among them
 * get trp_supervisor_stop()) in reverse order from its stop hook, without
 * waiting for them, and stops (TRP_STOP_CLOSED): each child processes the
 * mail it has and stops; no shutdown_ns is enforced. A supervisor that
 * stops any other way (killed, linked, failed) kills the children still
 * running, in reverse order, from its stop hook. At runtime destroy every
 * actor stops anyway (TRP_STOP_SHUTDOWN).
 *
 * Messages: a supervisor's behaviour takes only its own messages (DOWNs of
 * its children, its timers, stop requests; types 0x53555000..0x535550ff);
 * it ignores others (counted as processed). Its mailbox is unbounded.
 * Spawning trp_supervisor_def() with trp_actor_spawn() is not supported:
 * such an actor fails in its start hook (code TRP_EINVAL).
 *
 * Crashes (SIGSEGV, abort) inside a child are out of scope, as for
 * trp_actor_fail(): a process supervisor covers them.
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
	trp_actor_def_t def; /**< the child's definition. A def whose
				  behavior is trp_supervisor_def()'s makes
				  the child a supervisor: its whole def is
				  trp_supervisor_def(), and arg is a
				  trp_supervisor_spec_t */
	const void *arg;     /**< spawn argument of every start. state_size
				  > 0: NULL (zeroed) or a block of
				  state_size bytes, copied when the
				  supervisor starts (each start begins from
				  that copy); state_size == 0: the state
				  pointer itself, shared by every instance
				  and owned by the caller, who keeps it
				  valid while the supervisor runs; a
				  supervisor child: its spec, copied deeply */
	const char *name;    /**< NULL, or registered at every start
				  (1..TRP_NAME_MAX bytes, copied) */
	trp_restart_t restart;
	int64_t shutdown_ns; /**< time to stop after close before it is
				  killed; 0 = killed at once; < 0 = wait */
} trp_child_spec_t;

#define TRP_SUPERVISOR_MAX_CHILDREN 1024u
/** Largest accepted trp_supervisor_spec_t.intensity. */
#define TRP_SUPERVISOR_MAX_INTENSITY 65536u
/** Deepest accepted nesting of supervisor specs inside one spec. */
#define TRP_SUPERVISOR_MAX_DEPTH 16u

/** A supervisor. Start from TRP_SUPERVISOR_SPEC_INIT. */
typedef struct trp_supervisor_spec {
	trp_strategy_t strategy;
	uint32_t intensity;	/**< restarts allowed per period (3);
				     0..TRP_SUPERVISOR_MAX_INTENSITY */
	int64_t period_ns;	/**< (5 s); > 0 */
	int64_t backoff_min_ns; /**< 0 = restart at once */
	int64_t backoff_max_ns; /**< >= backoff_min_ns when that is > 0 */
	/** copied (names and state blocks too) */
	const trp_child_spec_t *children;
	/** 1..TRP_SUPERVISOR_MAX_CHILDREN */
	uint32_t nchildren;
} trp_supervisor_spec_t;

#define TRP_SUPERVISOR_SPEC_INIT                                               \
	{                                                                      \
		TRP_ONE_FOR_ONE, 3, 5000000000LL, 0, 0, NULL, 0                \
	}

/**
 * Starts a supervisor; its children start in its first turn (above).
 * @p spec is validated and copied (deeply, nested supervisor specs too)
 * before this returns: the caller may free it then. *out (may be NULL)
 * receives a handle to the supervisor (release it). Supervisors can
 * supervise supervisors: give a child spec whose def is
 * trp_supervisor_def() and whose arg is a trp_supervisor_spec_t.
 * Threads: any. Errors: TRP_EINVAL (rt or spec NULL; a bad spec: no
 * children or more than TRP_SUPERVISOR_MAX_CHILDREN, children NULL, an
 * unknown strategy or restart type, period_ns <= 0, intensity above
 * TRP_SUPERVISOR_MAX_INTENSITY, a negative backoff or backoff_max_ns <
 * backoff_min_ns, a child without behavior or with state_size >
 * TRP_MSG_MAX, an empty name, a supervisor child without a spec, nesting
 * deeper than TRP_SUPERVISOR_MAX_DEPTH), TRP_ENAMETOOLONG (a child name
 * longer than TRP_NAME_MAX), TRP_EEXIST (two children of one supervisor
 * with the same name), TRP_ENOMEM, TRP_ESHUTDOWN.
 */
TRP_API int trp_supervisor_start(trp_runtime_t *rt,
				 const trp_supervisor_spec_t *spec,
				 trp_actor_t **out);

/**
 * The definition of a supervisor actor, for a child spec whose `arg` is a
 * trp_supervisor_spec_t (a supervisor under a supervisor). Not for
 * trp_actor_spawn() (above). Threads: any.
 */
TRP_API const trp_actor_def_t *trp_supervisor_def(void);

/**
 * Ordered shutdown of supervisor @p sup (above): returns at once; the
 * supervisor stops its children in reverse order, then itself
 * (TRP_STOP_NORMAL). Asking twice is harmless (0). A supervisor shutting
 * down restarts nothing.
 * Threads: any. Errors: TRP_EINVAL (NULL, not a supervisor), TRP_EDEAD
 * (the supervisor has stopped or is closing), TRP_ENOMEM, TRP_ESHUTDOWN.
 */
TRP_API int trp_supervisor_stop(trp_actor_t *sup);

/**
 * The current handle of child @p index (0-based, spec order) of
 * supervisor @p sup: *out receives a new reference (release it). The
 * handle may stop at any time after this returns (as any handle); a
 * restarted child is a new handle.
 * Threads: any; the supervisor publishes each child under a small lock of
 * its own, so this never waits on the supervisor's turns. Errors:
 * TRP_EINVAL (NULL, not a supervisor, index out of range), TRP_ENOENT (not
 * running now: before its first start, between a stop and its restart,
 * while the supervisor stops it, or a child that will not be restarted),
 * TRP_EDEAD (the supervisor has stopped).
 */
TRP_API int trp_supervisor_child(trp_actor_t *sup, uint32_t index,
				 trp_actor_t **out);

/** Counters of a supervisor. */
typedef struct trp_supervisor_stats {
	uint64_t restarts; /**< children started again (each child of a
				group restart counts) */
	uint64_t stops;	   /**< children that stopped (any reason, also
				those the supervisor stopped) */
} trp_supervisor_stats_t;

/**
 * Fills @p out (a snapshot). The counters live as long as the supervisor:
 * read them before it stops. Threads: any. Errors: TRP_EINVAL (NULL, not a
 * supervisor), TRP_EDEAD (the supervisor has stopped).
 */
TRP_API int trp_supervisor_get_stats(trp_actor_t *sup,
				     trp_supervisor_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_SUPERVISOR_H */
