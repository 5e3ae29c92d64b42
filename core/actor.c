/*
 * core/actor.c - the actor object: references, spawn, the live list and
 * retirement (see actor.h).
 *
 * Who may call: any thread. Retain/release are lock-free; spawn and retire
 * take the runtime's actors lock (cold: once per actor).
 */
#include "actor.h"

#include <string.h>

#include "alloc.h"
#include "metrics.h"
#include "platform.h"
#include "probes.h"
#include "quiescence.h"
#include "runtime.h"
#include "scheduler.h"
#include "worker.h"

const struct trp__actor_kind trp__kind_event = {
	.name = "event",
	.wake = NULL, /* trp__wake: the run queues */
	.batches = true,
};

static _Atomic(uint64_t) next_actor_id = 1;

/* ------------------------------------------------------------------ */
/* references                                                          */

trp_actor_t *trp_actor_retain(trp_actor_t *a)
{
	if (a != NULL)
		/* relaxed: the caller already holds a reference, so the
		 * count cannot reach zero concurrently. */
		atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
	return a;
}

bool trp__actor_try_retain(struct trp_actor *a)
{
	/* relaxed: validated by the CAS. */
	uint64_t r = atomic_load_explicit(&a->refs, memory_order_relaxed);
	while (r != 0) {
		/* relaxed: the memory is kept valid by the caller's epoch
		 * section; the reference itself orders nothing. */
		if (atomic_compare_exchange_weak_explicit(&a->refs, &r, r + 1,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return true;
	}
	return false;
}

void trp_actor_release(trp_actor_t *a)
{
	if (a == NULL)
		return;
	/* ORDER: release so our uses of the actor happen-before the free;
	 * the acquire half makes the freeing thread see all of them. */
	uint64_t old =
		atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel);
	trp__assert(old != 0); /* released more often than retained */
	if (old != 1)
		return;
	struct trp_runtime *rt = a->rt;
	/* Every reference is gone: the actor stopped (the runtime's
	 * reference is dropped only then) and its mailbox is closed and
	 * empty, since each push that found it closed drained it. */
	/* relaxed: our acquire above ordered every use of the block. */
	struct trp__actor_ext *x =
		atomic_load_explicit(&a->ext, memory_order_relaxed);
	if (x != NULL) {
		trp__free(atomic_load_explicit(&x->monitors,
					       memory_order_relaxed),
			  0);
		struct trp__actor_metrics *am =
			atomic_load_explicit(&x->metrics, memory_order_relaxed);
		if (am != NULL)
			trp__free(am, sizeof *am);
		trp__free(x, sizeof *x);
	}
	if (a->kind->free_state != NULL)
		a->kind->free_state(a);
	trp__free(a, 0);
	trp__runtime_unref(rt);
}

bool trp_actor_alive(const trp_actor_t *a)
{
	/* relaxed: a snapshot. */
	return a != NULL &&
	       atomic_load_explicit(&((trp_actor_t *)a)->lifecycle,
				    memory_order_relaxed) != TRP__STOPPED;
}

uint32_t trp_actor_mailbox_len(const trp_actor_t *a)
{
	return a != NULL ? trp__mailbox_count_hint(
				   &((struct trp_actor *)a)->mailbox) :
			   0;
}

int32_t trp_actor_exit_code(const trp_actor_t *a)
{
	/* ORDER: acquire pairs with the STOPPED store (release), which the
	 * code was written before (stop.c). */
	if (a == NULL ||
	    atomic_load_explicit(&((struct trp_actor *)a)->lifecycle,
				 memory_order_acquire) != TRP__STOPPED)
		return 0;
	return a->exit_code;
}

uint64_t trp_actor_id(const trp_actor_t *a)
{
	return a != NULL ? a->id : 0;
}

trp_runtime_t *trp_actor_runtime(const trp_actor_t *a)
{
	return a != NULL ? a->rt : NULL;
}

/* ------------------------------------------------------------------ */
/* spawn                                                               */

int trp_actor_spawn(trp_runtime_t *rt, const trp_actor_def_t *def, void *arg,
		    trp_actor_t **out)
{
	if (rt == NULL || def == NULL || def->behavior == NULL)
		return TRP_EINVAL;
	return trp__actor_create(rt, def, arg, &trp__kind_event, out);
}

int trp__actor_create(struct trp_runtime *rt, const trp_actor_def_t *def,
		      void *arg, const struct trp__actor_kind *kind,
		      struct trp_actor **out)
{
	if (def->state_size > TRP_MSG_MAX)
		return TRP_EINVAL;
	struct trp__worker *w = trp__worker_of(rt);
	if (w == NULL) {
		int rc = trp__outside_enter(rt);
		if (rc != 0)
			return rc;
	}
	/* Only a turn runs the start hook (the start / carry union,
	 * actor.h); the internal kinds without turns have none. */
	trp__assert(def->start == NULL || trp__kind_has_turns(kind));
	size_t state = (def->state_size + 15) & ~(size_t)15;
	struct trp_actor *a = trp__alloc_aligned(
		TRP_CACHELINE, trp__actor_size(def->state_size));
	if (a == NULL) {
		if (w == NULL)
			trp__outside_leave(rt);
		return TRP_ENOMEM;
	}
	memset(a, 0, offsetof(struct trp_actor, inline_state));
	/* An actor with a start hook begins scheduled (its first turn runs
	 * the hook); otherwise it begins idle and the first send schedules
	 * it. A thread actor's thread owns its mailbox from the start. */
	trp__mailbox_init(&a->mailbox,
			  def->start == NULL && trp__kind_has_turns(kind));
	a->kind = kind;
	a->behavior = def->behavior;
	a->start = def->start;
	a->stop = def->stop;
	a->rt = rt;
	a->started = def->start == NULL;
	if (def->mailbox_limit == TRP_MAILBOX_UNBOUNDED)
		a->limit = 0;
	else if (def->mailbox_limit != 0)
		a->limit = def->mailbox_limit;
	else
		a->limit = rt->cfg.mailbox_limit;
	if (def->state_size > 0) {
		a->state = a->inline_state;
		if (arg != NULL)
			memcpy(a->inline_state, arg, def->state_size);
		else
			memset(a->inline_state, 0, state);
	} else {
		a->state = arg;
	}
	/* relaxed: ids only need to be unique. */
	a->id = atomic_fetch_add_explicit(&next_actor_id, 1,
					  memory_order_relaxed);
	atomic_init(&a->lifecycle, TRP__ALIVE);
	atomic_init(&a->refs, out != NULL ? 2 : 1);
	/* relaxed: the runtime struct is kept alive by destroy's own
	 * reference while we run; this one is dropped with the actor. */
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);

	trp__mutex_lock(&rt->actors_lock);
	a->live_next = rt->actors;
	if (rt->actors != NULL)
		rt->actors->live_prev = a;
	rt->actors = a;
	trp__mutex_unlock(&rt->actors_lock);
	/* relaxed: a statistic; shared by all threads, so a real RMW. */
	atomic_fetch_add_explicit(&rt->spawned, 1, memory_order_relaxed);

	if (out != NULL)
		*out = a;
	if (def->start != NULL)
		trp__schedule(rt, a);
	if (w == NULL)
		trp__outside_leave(rt);
	return 0;
}

struct trp__actor_ext *trp__actor_ext_make(struct trp_actor *a)
{
	struct trp__actor_ext *x = trp__actor_ext(a);
	if (x != NULL)
		return x;
	x = trp__calloc(1, sizeof *x);
	if (x == NULL)
		return NULL;
	struct trp__actor_ext *had = NULL;
	/* ORDER: release publishes the zeroed block to trp__actor_ext's
	 * acquire loads; acquire on failure, for the same reason, on the
	 * block another thread installed first. */
	if (atomic_compare_exchange_strong_explicit(&a->ext, &had, x,
						    memory_order_acq_rel,
						    memory_order_acquire))
		return x;
	trp__free(x, sizeof *x);
	return had;
}

/* ------------------------------------------------------------------ */
/* the live list                                                       */

void trp__actor_retire(struct trp_runtime *rt, struct trp_actor *a)
{
	trp__assert(atomic_load_explicit(&a->lifecycle, memory_order_relaxed) ==
		    TRP__STOPPED);
	trp__mutex_lock(&rt->actors_lock);
	if (a->live_prev != NULL)
		a->live_prev->live_next = a->live_next;
	else
		rt->actors = a->live_next;
	if (a->live_next != NULL)
		a->live_next->live_prev = a->live_prev;
	a->live_prev = a->live_next = NULL;
	/* Under the lock: a feature that attaches to actors under it (the
	 * monitors' ext) either did so before (and its hook below sees it)
	 * or sees `retired` and treats the actor as gone. */
	a->retired = 1;
	bool attached = a->attached;
	trp__mutex_unlock(&rt->actors_lock);
	/* Most actors never had a feature attached: no hook walk. */
	if (attached)
		trp__runtime_actor_stopped(rt, a);
	TRP_PROBE2(stop, a->id, a->exit_reason);
	/* relaxed: statistics; shared by all threads, so real RMWs. */
	if (a->exit_reason == TRP_STOP_FAILED)
		atomic_fetch_add_explicit(&rt->failed, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rt->stopped, 1, memory_order_relaxed);
	trp_actor_release(a);
}

bool trp__actor_attach_locked(struct trp_actor *a)
{
	if (a->retired)
		return false;
	a->attached = 1;
	return true;
}

bool trp__actor_attach(struct trp_actor *a)
{
	struct trp_runtime *rt = a->rt;
	trp__mutex_lock(&rt->actors_lock);
	bool ok = trp__actor_attach_locked(a);
	trp__mutex_unlock(&rt->actors_lock);
	return ok;
}

void trp__actors_each(struct trp_runtime *rt,
		      bool (*fn)(struct trp_actor *a, void *ctx), void *ctx)
{
	trp__mutex_lock(&rt->actors_lock);
	for (struct trp_actor *a = rt->actors; a != NULL; a = a->live_next)
		if (!fn(a, ctx))
			break;
	trp__mutex_unlock(&rt->actors_lock);
}
