/*
 * core/runtime.c - creating and destroying a runtime: the order in which
 * its parts start and stop, and the features' hooks (see runtime.h).
 *
 * Who may call: trp_runtime_create from any thread; destroy from any thread
 * but a worker, once; stats from any thread. Blocking (thread start and
 * join, the features' own shutdowns).
 */
#include "runtime.h"

#include <limits.h>
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "park.h"
#include "quiescence.h"
#include "stop.h"

#define MAX_WORKERS 256u

/* The features, by id: the one place that knows them all. Declared here,
 * not in their headers, so nothing else includes a feature's header. */
extern const struct trp__feature trp__feature_sim;
extern const struct trp__feature trp__feature_names;
extern const struct trp__feature trp__feature_exchanges;
extern const struct trp__feature trp__feature_threads;
extern const struct trp__feature trp__feature_timers;
extern const struct trp__feature trp__feature_monitors;
extern const struct trp__feature trp__feature_pools;
extern const struct trp__feature trp__feature_requests;
extern const struct trp__feature trp__feature_ports;
/* Weak: nodes (node.c) need libnats. A static link that uses no trp_node_*
 * call does not pull node.o out of libtroupe.a, so its program needs no
 * libnats; the row is then NULL and the feature absent. */
extern const struct trp__feature trp__feature_nodes __attribute__((weak));

static const struct trp__feature *const features[TRP__FEATURES] = {
	[TRP__FEATURE_SIM] = &trp__feature_sim,
	[TRP__FEATURE_NAMES] = &trp__feature_names,
	[TRP__FEATURE_EXCHANGES] = &trp__feature_exchanges,
	[TRP__FEATURE_THREADS] = &trp__feature_threads,
	[TRP__FEATURE_TIMERS] = &trp__feature_timers,
	[TRP__FEATURE_MONITORS] = &trp__feature_monitors,
	[TRP__FEATURE_POOLS] = &trp__feature_pools,
	[TRP__FEATURE_REQUESTS] = &trp__feature_requests,
	[TRP__FEATURE_PORTS] = &trp__feature_ports,
	[TRP__FEATURE_NODES] = &trp__feature_nodes,
};

/* A feature that is not linked in: no state, no hooks. */
static const struct trp__feature feature_absent = { .name = "absent" };

static const struct trp__feature *row(uint32_t i)
{
	return features[i] != NULL ? features[i] : &feature_absent;
}

/* ------------------------------------------------------------------ */
/* features                                                            */

/* Runs fini of features [0, n), last first. */
static void features_fini(struct trp_runtime *rt, uint32_t n)
{
	while (n-- > 0)
		if (row(n)->fini != NULL)
			row(n)->fini(rt, rt->feature[n]);
}

/* Allocates every feature's state and runs their inits in order; on
 * failure undoes what ran. */
static int features_init(struct trp_runtime *rt)
{
	for (uint32_t i = 0; i < TRP__FEATURES; i++) {
		size_t size = row(i)->state_size;
		rt->feature[i] =
			trp__alloc_aligned(TRP_CACHELINE, size != 0 ? size : 1);
		if (rt->feature[i] == NULL)
			return TRP_ENOMEM; /* freed with the struct */
		memset(rt->feature[i], 0, size);
	}
	for (uint32_t i = 0; i < TRP__FEATURES; i++)
		if (row(i)->actor_stopped != NULL)
			rt->stopped_hook[rt->nstopped_hooks++] = (uint8_t)i;
	for (uint32_t i = 0; i < TRP__FEATURES; i++) {
		if (row(i)->init == NULL)
			continue;
		int rc = row(i)->init(rt, rt->feature[i]);
		if (rc != 0) {
			features_fini(rt, i);
			return rc;
		}
	}
	return 0;
}

static void features_quiesce(struct trp_runtime *rt)
{
	for (uint32_t n = TRP__FEATURES; n-- > 0;)
		if (row(n)->quiesce != NULL)
			row(n)->quiesce(rt, rt->feature[n]);
}

void trp__runtime_actor_stopped(struct trp_runtime *rt, struct trp_actor *a)
{
	for (uint32_t k = 0; k < rt->nstopped_hooks; k++) {
		uint32_t i = rt->stopped_hook[k];
		row(i)->actor_stopped(rt, rt->feature[i], a);
	}
}

/* ------------------------------------------------------------------ */
/* the struct                                                          */

static void free_runtime(struct trp_runtime *rt)
{
	for (uint32_t i = 0; i < TRP__FEATURES; i++)
		trp__free(rt->feature[i], 0);
	trp__free(rt->workers, 0);
	trp__free(rt->pools, 0);
	trp__free(rt, sizeof *rt);
}

void trp__runtime_unref(struct trp_runtime *rt)
{
	/* ORDER: acq_rel, as for any reference count. */
	if (atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) == 1)
		free_runtime(rt);
}

/* ------------------------------------------------------------------ */
/* workers                                                             */

static void free_worker_state(struct trp_runtime *rt, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct trp__worker *w = &rt->workers[i];
		if (w->outbox.self != NULL) /* consumed: nothing queued in it */
			trp__msg_free_block(NULL, w->outbox.self);
		w->outbox.self = NULL;
		trp__msg_pool_destroy(&w->pool);
		trp__run_ring_destroy(&w->runq);
		trp__chase_lev_destroy(&w->lifo);
		trp__free(w->last_seen, 0);
		w->last_seen = NULL;
	}
}

static int init_workers(struct trp_runtime *rt)
{
	uint32_t n = rt->nworkers;
	rt->workers =
		trp__alloc_aligned(TRP_CACHELINE, n * sizeof *rt->workers);
	rt->pools = trp__calloc(n, sizeof *rt->pools);
	if (rt->workers == NULL || rt->pools == NULL) {
		trp__free(rt->workers, 0);
		trp__free(rt->pools, 0);
		return TRP_ENOMEM;
	}
	memset(rt->workers, 0, n * sizeof *rt->workers);
	for (uint32_t i = 0; i < n; i++)
		rt->pools[i] = &rt->workers[i].pool;
	for (uint32_t i = 0; i < n; i++) {
		struct trp__worker *w = &rt->workers[i];
		w->rt = rt;
		w->index = i;
		atomic_init(&w->park_cpu, -1);
		w->rng = 0x9e3779b97f4a7c15ull * (i + 1);
		int rc = trp__run_ring_init(&w->runq, 8);
		if (rc == 0) {
			rc = trp__chase_lev_init(&w->lifo, 6);
			if (rc != 0)
				trp__run_ring_destroy(&w->runq);
		}
		if (rc == 0) {
			rc = trp__msg_pool_init(&w->pool, (uint16_t)i,
						(uint16_t)n, rt->pools);
			if (rc != 0) {
				trp__chase_lev_destroy(&w->lifo);
				trp__run_ring_destroy(&w->runq);
			}
		}
		if (rc == 0) {
			w->last_seen = trp__calloc(2 * (size_t)n,
						   sizeof *w->last_seen);
			if (w->last_seen == NULL) {
				trp__msg_pool_destroy(&w->pool);
				trp__chase_lev_destroy(&w->lifo);
				trp__run_ring_destroy(&w->runq);
				rc = TRP_ENOMEM;
			}
		}
		if (rc != 0) {
			free_worker_state(rt, i);
			trp__free(rt->workers, 0);
			trp__free(rt->pools, 0);
			return rc;
		}
	}
	return 0;
}

static void stop_threads(struct trp_runtime *rt, uint32_t started)
{
	/* ORDER: seq_cst store of the sticky flag; workers check it on
	 * every loop and after every wake. */
	atomic_store_explicit(&rt->shutdown, 1, memory_order_seq_cst);
	trp__ring_park_bell_all(rt);
	for (uint32_t i = 0; i < started; i++)
		trp__thread_join(&rt->workers[i].thread);
}

/* ------------------------------------------------------------------ */
/* create / destroy                                                    */

int trp_runtime_create(const trp_config_t *cfg, trp_runtime_t **out)
{
	return trp__runtime_create(cfg, NULL, out);
}

int trp__runtime_create(const trp_config_t *cfg, struct trp__sim_link *sim,
			trp_runtime_t **out)
{
	trp_config_t c = TRP_CONFIG_INIT;
	if (out == NULL)
		return TRP_EINVAL;
	if (cfg != NULL) {
		if (cfg->version != TRP_CONFIG_VERSION)
			return TRP_EVERSION;
		c = *cfg;
	}
	if (c.workers > MAX_WORKERS)
		return TRP_EINVAL;
	if (c.workers == 0) {
		c.workers = trp__online_cpus();
		if (c.workers > MAX_WORKERS)
			c.workers = MAX_WORKERS;
	}
	if (c.batch == 0)
		c.batch = TRP_DEFAULT_BATCH;
	if (sim != NULL) {
		/* one worker struct for the test's thread; one message per
		 * turn: one delivery per step */
		c.workers = 1;
		c.batch = 1;
	}

	struct trp_runtime *rt = trp__alloc_aligned(TRP_CACHELINE, sizeof *rt);
	if (rt == NULL)
		return TRP_ENOMEM;
	memset(rt, 0, sizeof *rt);
	rt->cfg = c;
	rt->nworkers = c.workers;
	rt->ncpus = trp__online_cpus();
	rt->sim = sim;
	trp__mailbox_init(&rt->inject, false);
	atomic_init(&rt->refs, 1);
	/* every worker starts active; it parks when it finds nothing */
	atomic_init(&rt->activity, sim != NULL ? 0 : (uint64_t)c.workers);
	int rc = init_workers(rt);
	if (rc != 0) {
		trp__free(rt, sizeof *rt);
		return rc;
	}
	rc = features_init(rt);
	if (rc != 0) {
		free_worker_state(rt, rt->nworkers);
		free_runtime(rt);
		return rc;
	}
	for (uint32_t i = 0; sim == NULL && i < rt->nworkers; i++) {
		rc = trp__thread_start(&rt->workers[i].thread, trp__worker_main,
				       &rt->workers[i]);
		if (rc != 0) {
			stop_threads(rt, i);
			features_fini(rt, TRP__FEATURES);
			free_worker_state(rt, rt->nworkers);
			free_runtime(rt);
			return rc;
		}
	}
	*out = rt;
	return 0;
}

int trp_runtime_destroy(trp_runtime_t *rt)
{
	return trp_runtime_destroy_ex(rt, NULL);
}

int trp_runtime_destroy_ex(trp_runtime_t *rt, trp_stats_t *final)
{
	int rc = trp__runtime_blocking_call(rt);
	if (rc != 0)
		return rc;
	/* 1. Features stop producing work while the workers still run
	 * (thread actors may be waiting on replies from event actors). */
	features_quiesce(rt);
	/* 2. Workers finish their turn and exit; they left the activity
	 * count when they exited. What remains are outside threads inside a
	 * call that passed the shutdown check just before the flag was
	 * set: let them finish. */
	stop_threads(rt, rt->sim != NULL ? 0 : rt->nworkers);
	(void)trp__wait_activity(rt, -1, false);
	/* 3. Every actor still alive stops; its mail is dead-lettered. */
	trp__actors_stop_at_shutdown(rt);
	/* 4. Features let go of what they hold. */
	features_fini(rt, TRP__FEATURES);
	if (final != NULL)
		(void)trp_runtime_stats(rt, final);
	/* 5. The workers' state; the struct lives while handles do. */
	free_worker_state(rt, rt->nworkers);
	trp__runtime_unref(rt);
	return 0;
}

/* stats                                                               */

/* relaxed: statistics, summed while they may move. */
#define TRP__STAT_ADD_TO(name)                                                 \
	o->name += atomic_load_explicit(&s->name, memory_order_relaxed);
static void add_stats(trp_stats_t *o, struct trp__worker_stats *s)
{
	TRP__WORKER_STATS(TRP__STAT_ADD_TO)
	for (uint32_t r = 1; r < TRP_DEAD_REASONS; r++) {
		uint64_t n =
			atomic_load_explicit(&s->dead[r], memory_order_relaxed);
		o->dead_by_reason[r] += n;
		o->dead_lettered += n;
	}
}

int trp_runtime_stats(trp_runtime_t *rt, trp_stats_t *out)
{
	if (rt == NULL || out == NULL)
		return TRP_EINVAL;
	memset(out, 0, sizeof *out);
	/* The workers array lives as long as the runtime struct, so this is
	 * safe during and after destroy (with a handle held). */
	for (uint32_t i = 0; i < rt->nworkers; i++)
		add_stats(out, &rt->workers[i].stats);
	add_stats(out, &rt->outside);
	out->spawned = atomic_load_explicit(&rt->spawned, memory_order_relaxed);
	out->stopped = atomic_load_explicit(&rt->stopped, memory_order_relaxed);
	return 0;
}

uint32_t trp_runtime_workers(const trp_runtime_t *rt)
{
	return rt != NULL ? rt->nworkers : 0;
}
