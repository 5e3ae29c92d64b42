/*
 * core/pool.c - worker pools (see troupe/pool.h): a set of thread actors
 * that run submitted functions and answer each submission, an ask, with
 * the function's result pointer or its error. Everything here is built from
 * public pieces (thread actors, ask/reply); the internal calls are
 * trp__reply_error, which completes a request with an error status, and
 * the runtime's feature table (runtime.h), through which the runtime frees
 * its pools.
 *
 * Life of the handle. pool.h promises TRP_EDEAD for a submit after
 * trp_pool_destroy, so the handle must outlive the destroy: destroy only
 * marks the pool dead, closes its threads and waits for them; the memory
 * (the struct and its threads' handles) stays until the runtime is
 * destroyed. The pools are a feature of the runtime: every pool is on the
 * feature's list from create on, and the feature's fini (destroy step 4,
 * after the thread actors were closed and joined in step 1) frees them
 * all, destroyed or not, so a pool the user never destroyed does not leak
 * either.
 *
 * The threads' handles are kept, not released at destroy, so that a
 * submit racing the destroy (it read `dead` as 0) still sends to a valid
 * actor: the closed thread actor refuses it with TRP_EDEAD, or took it
 * before the close and runs it. Nothing here needs ordering beyond that
 * and the list's lock.
 *
 * Rejected: reference-counting the handle (trp_pool_release): the caller's
 * pointer would dangle after its last release all the same, and every
 * existing user would have to add a call. Changing the contract to "a
 * destroyed pool is freed memory" would make the misuse pool.h promises to
 * report undefined instead. An idle "keeper" actor per pool whose stop
 * hook frees it (no feature row needed) showed up in trp_stats_t's
 * spawned and stopped counts.
 */
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "future.h"
#include "platform.h"
#include "runtime.h"
#include "troupe/pool.h"
#include "troupe/thread_actor.h"

#define POOL_MAX 64u
#define JOB_TYPE 0x6a6f6273u /* "jobs": the type of submissions/replies */

struct trp_pool {
	_Atomic(uint32_t) next;	   /* round-robin cursor */
	_Atomic(uint32_t) dead;	   /* sticky: trp_pool_destroy began */
	uint32_t n;		   /* threads (set before the pool is seen) */
	struct trp_pool *next_all; /* the feature's list (its lock) */
	trp_actor_t *threads[];	   /* released by the feature's fini */
};

/* The feature's state (runtime.h): every pool of the runtime. */
struct pool_feature {
	struct trp__mutex lock;
	struct trp_pool *pools; /* destroyed or not */
	bool closed;		/* destroy began: no new pools */
};

static struct pool_feature *pf_of(trp_runtime_t *rt)
{
	return trp__feature_state(rt, TRP__FEATURE_POOLS);
}

struct job {
	trp_pool_fn fn;
	void *arg;
};

static void pool_thread(trp_actor_t *self, void *arg)
{
	(void)arg;
	const trp_msg_t *m;
	/* Until closed: trp_pool_destroy closes after what was submitted. */
	while (trp_recv(self, -1, &m) == 0) {
		struct job j;
		if (m->size != sizeof j) {
			(void)trp__reply_error(m, TRP_EINVAL);
			continue;
		}
		memcpy(&j, m->data, sizeof j);
		void *result = NULL;
		int status = j.fn(j.arg, &result);
		if (status == 0)
			(void)trp_reply(m, &result, sizeof result);
		else
			(void)trp__reply_error(m, status);
	}
}

/* Closes the first @n threads after what was submitted, waits for them. */
static void stop_threads(struct trp_pool *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		(void)trp_actor_close(p->threads[i]);
	for (uint32_t i = 0; i < n; i++)
		(void)trp_actor_join(p->threads[i], -1);
}

/* Frees a pool whose threads are stopped (or were never started). */
static void free_pool(struct trp_pool *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		trp_actor_release(p->threads[i]);
	trp__free(p, 0);
}

int trp_pool_create(trp_runtime_t *rt, uint32_t threads, trp_pool_t **out)
{
	if (rt == NULL || out == NULL || threads == 0 || threads > POOL_MAX)
		return TRP_EINVAL;
	if (rt->sim != NULL)
		return TRP_ENOTSUP; /* built on thread actors */
	struct trp_pool *p =
		trp__calloc(1, sizeof *p + threads * sizeof p->threads[0]);
	if (p == NULL)
		return TRP_ENOMEM;
	atomic_init(&p->next, 0);
	atomic_init(&p->dead, 0);
	int rc = 0;
	for (uint32_t i = 0; i < threads && rc == 0; i++) {
		rc = trp_thread_actor_spawn(rt, pool_thread, p, &p->threads[i]);
		if (rc == 0)
			p->n = i + 1;
	}
	struct pool_feature *pf = pf_of(rt);
	if (rc == 0) {
		trp__mutex_lock(&pf->lock);
		if (pf->closed) {
			rc = TRP_ESHUTDOWN; /* destroy began meanwhile */
		} else {
			p->next_all = pf->pools;
			pf->pools = p;
		}
		trp__mutex_unlock(&pf->lock);
	}
	if (rc != 0) {
		/* Nobody saw the pool: stop what started, free it. */
		stop_threads(p, p->n);
		free_pool(p);
		return rc;
	}
	*out = p;
	return 0;
}

int trp_pool_submit(trp_pool_t *pool, trp_pool_fn fn, void *arg,
		    trp_future_t **out)
{
	if (pool == NULL || fn == NULL || out == NULL)
		return TRP_EINVAL;
	/* relaxed: an early answer only. A submit that misses the flag
	 * reaches a thread actor that is closed (TRP_EDEAD from the ask) or
	 * not yet (it runs, as if submitted before the destroy). */
	if (atomic_load_explicit(&pool->dead, memory_order_relaxed))
		return TRP_EDEAD;
	struct job j = { fn, arg };
	/* relaxed: only spreads the load. */
	uint32_t i = atomic_fetch_add_explicit(&pool->next, 1,
					       memory_order_relaxed) %
		     pool->n;
	return trp_ask(pool->threads[i], JOB_TYPE, &j, sizeof j, out);
}

int trp_pool_result(const trp_msg_t *reply, void **result)
{
	if (reply == NULL || result == NULL)
		return TRP_EINVAL;
	/* A failed outcome (also as delivered by trp_future_then) has no
	 * payload, only its status. */
	if (reply->status != 0) {
		*result = NULL;
		return reply->status;
	}
	if (reply->size != sizeof *result)
		return TRP_EINVAL;
	memcpy(result, reply->data, sizeof *result);
	return 0;
}

int trp_pool_destroy(trp_pool_t *pool)
{
	if (pool == NULL)
		return TRP_EINVAL;
	/* One of the pool's own threads would wait for itself: a join that
	 * polls (timeout 0) says so, and is harmless for the others. */
	for (uint32_t i = 0; i < pool->n; i++)
		if (trp_actor_join(pool->threads[i], 0) == TRP_EDEADLK)
			return TRP_EDEADLK;
	/* relaxed: the flag guards no data (see trp_pool_submit); the
	 * exchange picks the one destroy that stops the threads. */
	if (atomic_exchange_explicit(&pool->dead, 1, memory_order_relaxed))
		return TRP_EDEAD;
	stop_threads(pool, pool->n);
	return 0;
}

/* Destroy, step 1: no new pools from now on. Their threads are closed
 * and joined by the thread actors' feature, which stops after us. */
static void pools_quiesce(struct trp_runtime *rt, void *state)
{
	struct pool_feature *pf = state;
	(void)rt;
	trp__mutex_lock(&pf->lock);
	pf->closed = true;
	trp__mutex_unlock(&pf->lock);
}

/* Destroy, step 4: every thread joined, every actor stopped; the pools'
 * memory goes, and with it every handle the user still has (pool.h). */
static void pools_fini(struct trp_runtime *rt, void *state)
{
	struct pool_feature *pf = state;
	(void)rt;
	trp__mutex_lock(&pf->lock);
	struct trp_pool *p = pf->pools;
	pf->pools = NULL;
	pf->closed = true;
	trp__mutex_unlock(&pf->lock);
	while (p != NULL) {
		struct trp_pool *next = p->next_all;
		free_pool(p);
		p = next;
	}
}

const struct trp__feature trp__feature_pools = {
	.name = "pools",
	.state_size = sizeof(struct pool_feature),
	.quiesce = pools_quiesce,
	.fini = pools_fini,
};
