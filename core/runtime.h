/*
 * core/runtime.h - the runtime struct, the order in which its parts start
 * and stop, and the table of hooks through which features plug in.
 *
 * The runtime (runtime.c) owns create and destroy. Create: the struct, the
 * workers' state, then each feature's init in table order, then the worker
 * threads. Destroy:
 *   1. each feature's `quiesce`, in reverse order, while the workers still
 *      run (timers stop firing; thread actors are closed and joined: they
 *      may be waiting on replies from event actors);
 *   2. the shutdown flag; workers finish their turn and are joined; outside
 *      threads inside a call drain out (quiescence.c);
 *   3. every actor still alive stops (stop.c), its mail dead-lettered;
 *   4. each feature's `fini`, in reverse order (exchanges closed, names
 *      released);
 *   5. the workers' state; the struct itself (and the features' state)
 *      lives until the last actor handle is released.
 *
 * Features (names, exchanges, timers, thread actors, monitors, requests,
 * ports, nodes) keep their state in a block the runtime allocates for them
 * (trp__feature_state) and reach the runtime only through this header and
 * the actor layer's; nothing below the feature layer includes a feature's
 * header (tests/layering checks it with core/LAYERS).
 *
 * Who may call: create/destroy as troupe/runtime.h says; the hooks run on
 * the thread that creates or destroys the runtime, actor_stopped on the
 * thread that stops an actor.
 */
#ifndef TRP_CORE_RUNTIME_H
#define TRP_CORE_RUNTIME_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "invariant.h"
#include "mailbox.h"
#include "platform.h"
#include "troupe/runtime.h"
#include "worker.h"

/* The features, in the order they start (they stop in reverse). */
enum trp__feature_id {
	/* sim.c: first, so that it stops last (its quiesce hands what it
	 * holds back to the mailboxes after every other feature stopped);
	 * idle in a real runtime */
	TRP__FEATURE_SIM = 0,
	TRP__FEATURE_NAMES,	/* registry.c */
	TRP__FEATURE_EXCHANGES, /* exchange.c */
	TRP__FEATURE_THREADS,	/* thread_actor.c */
	TRP__FEATURE_TIMERS,	/* timer.c */
	TRP__FEATURE_POOLS,	/* pool.c: after thread actors, it uses them */
	TRP__FEATURE_MONITORS,	/* monitor.c: monitors and links */
	TRP__FEATURE_REQUESTS,	/* request.c: held requests */
	/* port.c: after thread actors, timers and pools, so it stops
	 * before them (a drain running at destroy may wait on their
	 * answers); nodes still stop first (a wait on a remote answer ends
	 * with TRP_ENOTCONN) */
	TRP__FEATURE_PORTS,
	/* node.c: last, so that it stops first (its outbound thread is a
	 * thread actor; its proxies still forward while workers run). May be
	 * absent (not linked: runtime.c). */
	TRP__FEATURE_NODES,
	TRP__FEATURES
};

/* A feature's hooks; every one may be NULL. */
struct trp__feature {
	const char *name;
	size_t state_size; /* zeroed block at trp__feature_state() */
	/* At create, after the workers' state, before their threads start.
	 * 0 or an error (create fails; earlier features get fini). */
	int (*init)(struct trp_runtime *rt, void *state);
	/* Destroy, step 1 (workers still running). */
	void (*quiesce)(struct trp_runtime *rt, void *state);
	/* Destroy, step 4 (every actor stopped, workers joined); also when
	 * create fails after this feature's init. */
	void (*fini)(struct trp_runtime *rt, void *state);
	/* An actor stopped and is being retired (actor.h); any thread. */
	void (*actor_stopped)(struct trp_runtime *rt, void *state,
			      struct trp_actor *a);
};

/* Simulation mode (sim.c, troupe/sim.h): what the runtime and its
 * features need to know of it. NULL in a real runtime. A simulated runtime
 * has one worker struct and no threads (no workers, no timer thread): the
 * test's thread runs everything, one delivery at a time. */
struct trp__sim_link {
	uint64_t now_ns; /* the virtual clock (trp__runtime_now_ns) */
	uint64_t seed;	 /* the run's seed, for features' own PRNGs */
	/* trp_runtime_wait_idle: runs the simulation until idle */
	int (*wait_idle)(struct trp_runtime *rt, int64_t timeout_ns);
};

/* activity deltas: count +-1 and generation +1 in one fetch_add */
#define TRP__ACT_INC (((uint64_t)1 << 32) + 1)
#define TRP__ACT_DEC (((uint64_t)1 << 32) - 1)
#define TRP__ACT_COUNT(v) ((uint32_t)(v))

struct trp_runtime {
	/* read-mostly */
	alignas(64) trp_config_t cfg;
	uint32_t nworkers;
	uint32_t ncpus; /* online CPUs at create (park.h, "Budget") */
	struct trp__worker *workers; /* nworkers, cache-aligned */
	struct trp__msg_pool **pools;
	void *feature[TRP__FEATURES]; /* each feature's state block */
	/* the features with an actor_stopped hook, in order (called on
	 * every retirement: no walk over the ones without) */
	uint32_t nstopped_hooks;
	uint8_t stopped_hook[TRP__FEATURES];
	_Atomic(uint32_t) shutdown; /* sticky */
	struct trp__sim_link *sim;  /* simulation mode, else NULL */

	/* injection queue: outside producers, worker consumers (trylock);
	 * scheduler.c */
	alignas(64) unsigned char inject_room[TRP__MAILBOX_ROOM];
	struct trp__mailbox inject;
	alignas(64) _Atomic(uint32_t) inject_lock;
	_Atomic(int64_t) inject_len;

	/* parking (park.c) */
	alignas(64) _Atomic(uint32_t) park_seq;
	_Atomic(uint32_t) sleepers;	 /* parked | spinning << 16 (park.h) */
	_Atomic(uint32_t) deep_sleepers; /* parked without a timeout */
	_Atomic(uint32_t) watchdog;	 /* a parked worker watches (park.h) */
	/* outside threads inside a publish call, and when one last ended
	 * (park.h, "Budget") */
	_Atomic(uint32_t) outside_pubs;
	_Atomic(uint64_t) outside_pub_ns;

	/* quiescence (quiescence.c) */
	alignas(64) _Atomic(uint64_t) activity;
	_Atomic(uint32_t) idle_seq;
	_Atomic(uint32_t) idle_waiters;

	/* counters of outside threads */
	alignas(64) struct trp__worker_stats outside;
	_Atomic(uint64_t) spawned;
	_Atomic(uint64_t) stopped;
	_Atomic(uint64_t) failed;    /* stopped with TRP_STOP_FAILED */
	_Atomic(uint64_t) restarted; /* supervisors' restarts (metrics.h) */

	/* live actors (cold: spawn and stop; actor.c) */
	alignas(64) struct trp__mutex actors_lock;
	struct trp_actor *actors; /* doubly linked through actor->live_* */
	/* the struct itself lives until destroy is done and the last actor
	 * handle is gone: 1 for destroy + 1 per actor not yet freed */
	_Atomic(uint64_t) refs;
};

TRP__MAILBOX_PLACED(struct trp_runtime, inject);
static_assert(offsetof(struct trp_runtime, park_seq) % 64 == 0 &&
		      offsetof(struct trp_runtime, activity) % 64 == 0,
	      "the runtime's write-shared groups start cache lines");

/* The state block of feature @id. */
static inline void *trp__feature_state(struct trp_runtime *rt,
				       enum trp__feature_id id)
{
	trp__assert(id < TRP__FEATURES && rt->feature[id] != NULL);
	return rt->feature[id];
}

/* The checks of a call that blocks on the runtime (wait_idle, destroy):
 * TRP_EINVAL (NULL), TRP_EDEADLK (on one of its workers), TRP_ESHUTDOWN
 * (destroy began), or 0. */
static inline int trp__runtime_blocking_call(struct trp_runtime *rt)
{
	if (rt == NULL)
		return TRP_EINVAL;
	if (trp__worker_of(rt) != NULL)
		return TRP_EDEADLK;
	/* relaxed: destroy must not run concurrently with these calls
	 * (documented); this only catches a call after destroy began, as
	 * this thread sees it. */
	if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed) != 0)
		return TRP_ESHUTDOWN;
	return 0;
}

/* The runtime's clock: the virtual one in simulation mode, else the
 * monotonic clock. For what a schedule may depend on (timers, supervisor
 * backoff); the hot paths read no clock. */
static inline uint64_t trp__runtime_now_ns(const struct trp_runtime *rt)
{
	return trp__unlikely(rt->sim != NULL) ? rt->sim->now_ns : trp__now_ns();
}

/* Creates a runtime as trp_runtime_create does, or with @sim a simulated
 * one: one worker struct (cfg->workers ignored), batch 1, no threads. */
int trp__runtime_create(const trp_config_t *cfg, struct trp__sim_link *sim,
			trp_runtime_t **out);

/* Tells every feature that @a stopped (trp__actor_retire). */
void trp__runtime_actor_stopped(struct trp_runtime *rt, struct trp_actor *a);

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

#endif /* TRP_CORE_RUNTIME_H */
