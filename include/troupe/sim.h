/*
 * troupe/sim.h - deterministic simulation: test your actors on the test's
 * thread under a seeded, replayable schedule.
 *
 * A runtime created with trp_sim_create() has no worker threads and no
 * timer thread. The public API is unchanged (trp_send, trp_ask, names,
 * exchanges, timers, monitors, supervisors); nothing runs until the test
 * drives the simulation: one step delivers one message to its receiver
 * and runs that receiver's behaviour on it, on the calling thread.
 *
 * What may be delivered next: every message sent and not yet delivered
 * is pending. A message may be delivered when no earlier message from the
 * same sender to the same receiver is pending (per-sender FIFO, the one
 * order the real runtime promises); among those the policy chooses:
 *   TRP_SIM_FIFO    the oldest (global send order, like CAF's fixture);
 *   TRP_SIM_RANDOM  uniformly at random (seeded);
 *   TRP_SIM_PCT     probabilistic concurrency testing: every (sender,
 *                   receiver) channel gets a random priority, the highest
 *                   goes first, and at pct_depth - 1 random steps the
 *                   chosen channel drops below all others (finds an
 *                   ordering bug of depth d with probability at least
 *                   1 / (channels * steps^(d-1)) per run).
 * A sender is the actor whose behaviour (or start/stop hook) sent the
 * message; id 0 is the test's thread (and any other outside thread), id 1
 * the timers; actors get ids 2, 3, ... in the order the simulation first
 * meets them (stable across runs: no pointer or hash order).
 *
 * Virtual time: the clock starts at 0 and moves only by trp_sim_advance()
 * (or a trp_future_wait() that would otherwise time out). trp_send_after
 * and supervisors' backoff read it; timers fire in deadline order, ties in
 * the order they were armed.
 *
 * Replay: every step folds (step, receiver id, sender id, type, size,
 * what happened) into a 64-bit signature; the same seed and the same test
 * give the same signature and, with a trace file, the same trace byte for
 * byte (one line per step). trp_sim_seed_env() lets TRP_SIM_SEED=<n> in
 * the environment replay one seed; trp_sim_report() prints what a failing
 * test needs to replay.
 *
 * In simulation mode:
 *   - trp_thread_actor_spawn, trp_pool_create and trp_node_start refuse
 *     with TRP_ENOTSUP (they need threads of their own);
 *   - ports work, but their messages are not scheduled by the simulator
 *     (the application's loop drains them);
 *   - trp_future_wait runs the simulation until the future completes; when
 *     nothing is pending it moves virtual time to the next timer due
 *     within its timeout and goes on, else the future completes with
 *     TRP_ETIMEDOUT (with no timeout and a periodic timer armed, a future
 *     nobody completes keeps it waiting: give a timeout);
 *   - trp_runtime_wait_idle runs the simulation until nothing is pending
 *     (virtual time stands still; its timeout is not used); both return
 *     TRP_EDEADLK from a behaviour, as usual;
 *   - the dead-letter reason of a message another sender sent to an actor
 *     that was killed is TRP_DEAD_STOPPED (delivered after the kill took
 *     effect), where a real runtime may say TRP_DEAD_KILLED;
 *   - backpressure and mailbox bounds work as in a real runtime; keep a
 *     scenario's queues under 16384 messages per receiver (muting).
 *
 * Threads: a simulated runtime, and every trp_sim_* call on it, belong to
 * one thread (the one that created it); other threads must not use it.
 * The simulator is freed by trp_runtime_destroy(), which hands every
 * pending message back to its receiver (dead letters, TRP_DEAD_SHUTDOWN,
 * as in a real runtime).
 */
#ifndef TROUPE_SIM_H
#define TROUPE_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "troupe/actor.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The simulator of one simulated runtime (opaque). */
typedef struct trp_sim trp_sim_t;

/** How the next message is chosen (see the file comment). */
typedef enum trp_sim_policy {
	TRP_SIM_FIFO = 0,
	TRP_SIM_RANDOM = 1,
	TRP_SIM_PCT = 2,
} trp_sim_policy_t;

#define TRP_SIM_CONFIG_VERSION 1

/** Configuration of trp_sim_create(). */
typedef struct trp_sim_config {
	uint32_t version;	 /**< TRP_SIM_CONFIG_VERSION */
	trp_sim_policy_t policy; /**< default TRP_SIM_FIFO */
	uint64_t seed;		 /**< the PRNG's seed (RANDOM, PCT) */
	uint32_t pct_depth;	 /**< PCT's d, 1..16; 0: 3 */
	uint32_t pct_steps;	 /**< PCT: the run's expected steps; 0: 1000 */
	FILE *trace;		 /**< one line per step, or NULL */
	/** Runtime options (mailbox limit, dead-letter hook) or NULL;
	 * `workers` and `batch` are ignored. */
	const trp_config_t *runtime;
} trp_sim_config_t;

/** Default configuration: FIFO, seed 0, no trace. */
#define TRP_SIM_CONFIG_INIT                                                    \
	{                                                                      \
		TRP_SIM_CONFIG_VERSION, TRP_SIM_FIFO, 0, 0, 0, NULL, NULL      \
	}

/**
 * Creates a simulated runtime (*@rt) and its simulator (*@sim).
 * Errors: TRP_EINVAL (NULL out pointers, unknown policy, pct_depth > 16),
 * TRP_EVERSION, TRP_ENOMEM. Any thread; the runtime then belongs to it.
 */
TRP_API int trp_sim_create(const trp_sim_config_t *cfg, trp_runtime_t **rt,
			   trp_sim_t **sim);

/** The simulator of @rt, or NULL if @rt is not simulated. */
TRP_API trp_sim_t *trp_sim_of(trp_runtime_t *rt);

/**
 * One step: delivers the message the policy picks and runs its receiver on
 * it. Returns 1 if a message was delivered (processed, or a dead letter),
 * 0 if nothing is pending (idle), TRP_EINVAL (NULL), TRP_EDEADLK (called
 * from a behaviour), TRP_ESHUTDOWN (destroy began).
 */
TRP_API int trp_sim_step(trp_sim_t *sim);

/**
 * Steps until idle or until @max_steps steps (0: no limit). Returns 0 when
 * idle, TRP_EBUSY if the limit came first (messages still pending), or a
 * trp_sim_step error. *@steps (may be NULL) gets the steps taken.
 */
TRP_API int trp_sim_run(trp_sim_t *sim, uint64_t max_steps, uint64_t *steps);

/**
 * Moves the virtual clock @ns forward, firing the timers that come due on
 * the way, earliest first (ties: arm order), each at its own deadline.
 * Their messages become pending (nothing is delivered: call trp_sim_run).
 * Returns how many timers fired (>= 0) or TRP_EINVAL (NULL, @ns < 0).
 */
TRP_API int64_t trp_sim_advance(trp_sim_t *sim, int64_t ns);

/** The virtual clock, in nanoseconds since the simulation began. */
TRP_API uint64_t trp_sim_now(const trp_sim_t *sim);

/** Messages pending for @to (NULL: for everyone). */
TRP_API uint64_t trp_sim_pending(trp_sim_t *sim, const trp_actor_t *to);

/** Wildcard type for trp_sim_expect and trp_sim_prepone. */
#define TRP_SIM_ANY_TYPE UINT32_MAX

/**
 * Expects that the next message for @to - the oldest one pending for it,
 * or with @from != NULL the oldest from @from (use TRP_SIM_OUTSIDE for
 * the test's thread) - has type @type (TRP_SIM_ANY_TYPE: any), and
 * delivers it (one step). On a mismatch nothing is delivered and
 * trp_sim_error() says what was found instead. Returns 0, TRP_ENOENT (no
 * such message pending), TRP_EINVAL (NULL, or the type differs),
 * TRP_EDEADLK, TRP_ESHUTDOWN.
 */
TRP_API int trp_sim_expect(trp_sim_t *sim, trp_actor_t *to, trp_actor_t *from,
			   uint32_t type);

/** The sender "the test's thread" for trp_sim_expect, _prepone and
 * _drop_next (not a real actor; never dereferenced). */
#define TRP_SIM_OUTSIDE ((trp_actor_t *)(uintptr_t)1)

/**
 * Moves the oldest pending message for @to of @type (from @from if not
 * NULL) to the front: the next step delivers it, even ahead of earlier
 * messages of the same sender (a deliberate reorder). Returns 0,
 * TRP_ENOENT (none pending), TRP_EINVAL.
 */
TRP_API int trp_sim_prepone(trp_sim_t *sim, trp_actor_t *to, trp_actor_t *from,
			    uint32_t type);

/**
 * Failure injection: the next message delivered to @a makes its behaviour
 * fail with @code, as if it had called trp_actor_fail(self, @code) first
 * thing (the message is a dead letter, TRP_DEAD_FAILED; monitors and
 * supervisors see TRP_STOP_FAILED). Returns 0, TRP_EINVAL, TRP_ENOMEM.
 */
TRP_API int trp_sim_fail_next(trp_sim_t *sim, trp_actor_t *a, int32_t code);

/**
 * Failure injection: the next message from @from (TRP_SIM_OUTSIDE: the
 * test's thread) to @to that would be delivered is dropped instead: a dead
 * letter (TRP_DEAD_DROPPED; a request's future fails with TRP_EDEAD).
 * Calls add up. Returns 0, TRP_EINVAL, TRP_ENOMEM.
 */
TRP_API int trp_sim_drop_next(trp_sim_t *sim, trp_actor_t *from,
			      trp_actor_t *to);

/**
 * Failure injection: kills @a now (trp_actor_kill) and runs its stop in
 * this call; what is pending for it becomes dead letters as it is
 * delivered. Returns 0, TRP_EINVAL, TRP_EDEAD (stopped already),
 * TRP_EDEADLK, TRP_ESHUTDOWN.
 */
TRP_API int trp_sim_stop(trp_sim_t *sim, trp_actor_t *a);

/** The signature of the steps so far (0 before the first). */
TRP_API uint64_t trp_sim_signature(const trp_sim_t *sim);

/** Steps taken so far. */
TRP_API uint64_t trp_sim_steps(const trp_sim_t *sim);

/** The seed the simulator was created with. */
TRP_API uint64_t trp_sim_seed(const trp_sim_t *sim);

/** @a's id in traces and signatures (assigned now if it had none); 0 for
 * NULL or TRP_SIM_OUTSIDE. */
TRP_API uint32_t trp_sim_actor_id(trp_sim_t *sim, trp_actor_t *a);

/** What the last failed trp_sim_expect/prepone found, or "". */
TRP_API const char *trp_sim_error(const trp_sim_t *sim);

/**
 * The seed to use: TRP_SIM_SEED from the environment if it is set (a
 * replay), else @fallback. *@from_env (may be NULL) says which.
 */
TRP_API uint64_t trp_sim_seed_env(uint64_t fallback, int *from_env);

/**
 * Prints one line for a failing test to @out: the seed, policy, steps,
 * signature, the last expect error, and how to replay
 * (TRP_SIM_SEED=<seed>).
 */
TRP_API void trp_sim_report(const trp_sim_t *sim, FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_SIM_H */
