/*
 * core/pool.c - worker pools (see troupe/pool.h): a set of thread actors
 * that run submitted functions and answer each submission, an ask, with
 * the function's result pointer or its error. Everything here is built from
 * public pieces (thread actors, ask/reply); the one internal call is
 * trp__reply_error, which completes a request with an error status.
 */
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "future.h"
#include "troupe/pool.h"
#include "troupe/thread_actor.h"

#define POOL_MAX 64u
#define JOB_TYPE 0x6a6f6273u /* "jobs": the type of submissions/replies */

struct trp_pool {
	_Atomic(uint32_t) next; /* round-robin cursor */
	uint32_t n;
	trp_actor_t *threads[];
};

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

int trp_pool_create(trp_runtime_t *rt, uint32_t threads, trp_pool_t **out)
{
	if (rt == NULL || out == NULL || threads == 0 || threads > POOL_MAX)
		return TRP_EINVAL;
	struct trp_pool *p =
		trp__calloc(1, sizeof *p + threads * sizeof p->threads[0]);
	if (p == NULL)
		return TRP_ENOMEM;
	atomic_init(&p->next, 0);
	for (uint32_t i = 0; i < threads; i++) {
		int rc = trp_thread_actor_spawn(rt, pool_thread, p,
						&p->threads[i]);
		if (rc != 0) {
			p->n = i;
			(void)trp_pool_destroy(p);
			return rc;
		}
	}
	p->n = threads;
	*out = p;
	return 0;
}

int trp_pool_submit(trp_pool_t *pool, trp_pool_fn fn, void *arg,
		    trp_future_t **out)
{
	if (pool == NULL || fn == NULL || out == NULL)
		return TRP_EINVAL;
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
	for (uint32_t i = 0; i < pool->n; i++)
		(void)trp_actor_close(pool->threads[i]);
	for (uint32_t i = 0; i < pool->n; i++) {
		(void)trp_actor_join(pool->threads[i], -1);
		trp_actor_release(pool->threads[i]);
	}
	trp__free(pool, 0);
	return 0;
}
