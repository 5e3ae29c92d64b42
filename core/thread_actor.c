/*
 * core/thread_actor.c - actors with a thread of their own and a blocking
 * trp_recv() (see troupe/thread_actor.h).
 *
 * The mailbox protocol is the one every actor uses: the consumer (here the
 * actor's thread) pops until empty, then sets the idle tag with one CAS; the
 * one push that finds the tag "schedules" the actor, which for a thread
 * actor means ringing its doorbell: increment `bell` and futex-wake.
 * trp_recv() reads `bell` before checking the tag and waits on that value,
 * so a push between the check and the wait makes the wait return at once:
 * no lost wake-up, no spinning.
 *
 * The control block lives in the actor's state block (owned by the actor).
 * The thread holds a reference to the actor until its function returned and
 * the actor was stopped; the thread is detached, and `done` (a futex word)
 * is what trp_actor_join() waits for.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "actor.h"
#include "backpressure.h"
#include "dead_letter.h"
#include "message.h"
#include "platform.h"
#include "runtime.h"
#include "stop.h"
#include "worker.h"
#include "troupe/thread_actor.h"

struct thread_ctl {
	trp_thread_fn fn;
	void *arg;
	_Atomic(uint32_t) bell; /* rung by pushes that found us idle */
	_Atomic(uint32_t) done; /* 1 once fn returned and we stopped */
	/* thread only */
	bool idle;	      /* we set the idle tag and were not rung */
	bool closed;	      /* the close marker was received */
	struct trp__msg *cur; /* the message trp_recv last returned */
	struct trp__thread thread;
};

static _Thread_local struct trp_actor *t_self;

static void thread_wake(struct trp_runtime *rt, struct trp_actor *a);

/* Thread actors: their own thread consumes (trp_recv); a turn never
 * batches to them (trp_recv takes plain messages, not bundles). */
static const struct trp__actor_kind kind_thread = {
	.name = "thread",
	.wake = thread_wake,
	.batches = false,
};

static struct thread_ctl *ctl_of(struct trp_actor *a)
{
	return a->state;
}

/* A behaviour placeholder: thread actors never run turns on workers. */
static void no_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
}

/* The kind's wake: a push found the mailbox idle, ring the doorbell. */
static void thread_wake(struct trp_runtime *rt, struct trp_actor *a)
{
	(void)rt;
	struct thread_ctl *c = ctl_of(a);
	/* ORDER: release; the pusher's message is published by its own
	 * link store, this only makes the thread's wait return. */
	atomic_fetch_add_explicit(&c->bell, 1, memory_order_release);
	trp__futex_wake(&c->bell, 1);
}

/* Finishes the message trp_recv returned last (answering a request with
 * TRP_ENOREPLY if it was left unanswered). Its block stays: it is the
 * mailbox's last node until the next take or idle mark (mailbox.h). */
static void drop_current(struct thread_ctl *c)
{
	if (c->cur == NULL)
		return;
	trp__current_msg = NULL;
	trp__request_done(c->cur, TRP_ENOREPLY);
	trp__msg_drop_payload(c->cur);
	c->cur = NULL;
}

/* A node the mailbox let go of: free its block (not the close marker). */
static void release_done(struct trp_actor *a, struct trp__mpsc_node *done)
{
	if (done != NULL && done != &a->close_node)
		trp__msg_free_block(NULL, trp__msg_of(done));
}

/* Makes sure the thread owns its mailbox again (not tagged idle). */
static void own_mailbox(struct trp_actor *a, struct thread_ctl *c)
{
	if (!c->idle)
		return;
	/* Either our CAS removes the tag, or a push removed it first (and
	 * rang the bell): both ways we are the consumer again. */
	(void)trp__mailbox_reclaim_sc(&a->mailbox);
	c->idle = false;
}

/* Why a thread actor whose function returned stops: killed (with the
 * kill's reason), closed (it received the close marker), else normal. */
static trp_stop_reason_t exit_reason(struct trp_actor *a, struct thread_ctl *c)
{
	/* ORDER: acquire pairs with the kill's CAS (release), which
	 * published kill_reason. */
	if (atomic_load_explicit(&a->lifecycle, memory_order_acquire) ==
	    TRP__KILLED)
		return (trp_stop_reason_t)atomic_load_explicit(
			&a->kill_reason, memory_order_relaxed);
	return c->closed ? TRP_STOP_CLOSED : TRP_STOP_NORMAL;
}

static void *thread_main(void *arg)
{
	struct trp_actor *a = arg;
	struct thread_ctl *c = ctl_of(a);
	char name[16];
	t_self = a;
	snprintf(name, sizeof name, "troupe-a%llu", (unsigned long long)a->id);
	trp__thread_name(name);
	c->fn(a, c->arg);
	drop_current(c);
	own_mailbox(a, c);
	trp__actor_finish_thread(a, exit_reason(a, c));
	t_self = NULL;
	/* ORDER: release publishes everything the function did to joiners
	 * (acquire load in trp_actor_join). */
	atomic_store_explicit(&c->done, 1, memory_order_release);
	trp__futex_wake(&c->done, INT_MAX);
	trp_actor_release(a); /* the thread's reference */
	return NULL;
}

int trp_thread_actor_spawn(trp_runtime_t *rt, trp_thread_fn fn, void *arg,
			   trp_actor_t **out)
{
	if (rt == NULL || fn == NULL)
		return TRP_EINVAL;
	if (rt->sim != NULL)
		return TRP_ENOTSUP; /* a thread of its own: not simulated */
	struct thread_ctl init;
	memset(&init, 0, sizeof init);
	init.fn = fn;
	init.arg = arg;
	trp_actor_def_t def = { no_behavior, NULL, NULL, sizeof init, 0 };
	struct trp_actor *a;
	int rc = trp__actor_create(rt, &def, &init, &kind_thread, &a);
	if (rc != 0)
		return rc;
	/* trp__actor_create gave us one handle reference (plus the
	 * runtime's); it becomes the thread's. */
	if (out != NULL)
		*out = trp_actor_retain(a);
	struct thread_ctl *c = ctl_of(a);
	/* Ours until the thread is detached: its function may return and
	 * drop its reference before trp__thread_start does. */
	trp_actor_retain(a);
	rc = trp__thread_start(&c->thread, thread_main, a);
	if (rc != 0) {
		trp__actor_finish_thread(a, TRP_STOP_NORMAL);
		atomic_store_explicit(&c->done, 1, memory_order_release);
		if (out != NULL) {
			trp_actor_release(*out);
			*out = NULL;
		}
		trp_actor_release(a);
		trp_actor_release(a);
		return rc;
	}
	trp__thread_detach(&c->thread);
	trp_actor_release(a);
	return 0;
}

int trp_recv(trp_actor_t *self, int64_t timeout_ns, const trp_msg_t **msg)
{
	if (self == NULL || msg == NULL)
		return TRP_EINVAL;
	if (self->kind != &kind_thread || t_self != self)
		return TRP_EPERM;
	struct thread_ctl *c = ctl_of(self);
	drop_current(c);
	/* relaxed: killed is final; the message queue is not read after it
	 * (what is queued becomes dead letters when the function returns). */
	if (c->closed ||
	    atomic_load_explicit(&self->lifecycle, memory_order_relaxed) ==
		    TRP__KILLED) {
		c->closed = true;
		return TRP_ECLOSED;
	}
	uint64_t deadline = trp__deadline(timeout_ns);
	for (;;) {
		/* relaxed: as above; a kill rings the bell (close marker). */
		if (atomic_load_explicit(&self->lifecycle,
					 memory_order_relaxed) == TRP__KILLED) {
			c->closed = true;
			return TRP_ECLOSED;
		}
		if (c->idle) {
			/* ORDER: acquire, read before the tag check below:
			 * a push after the check rings past this value. */
			uint32_t bell = atomic_load_explicit(
				&c->bell, memory_order_acquire);
			if (trp__mailbox_is_idle(&self->mailbox)) {
				int64_t wait =
					trp__remaining(timeout_ns, deadline);
				if (wait == 0)
					return TRP_ETIMEDOUT;
				trp__futex_wait(&c->bell, bell, wait);
				continue;
			}
			/* A push took the tag off: the mailbox is ours. */
			c->idle = false;
		}
		struct trp__mpsc_node *done;
		struct trp__mpsc_node *n =
			trp__mailbox_take_sc(&self->mailbox, &done);
		release_done(self, done);
		if (n == &self->close_node) {
			c->closed = true;
			return TRP_ECLOSED;
		}
		if (n != NULL) {
			struct trp__msg *m = trp__msg_of(n);
			trp__consumed_noted(self, 1);
			if (trp__unlikely(m->hold == TRP__HOLD_SYS) &&
			    !m->u.sys->ops->admit(m->u.sys)) {
				/* A DOWN voided by trp_demonitor: a dead
				 * letter, as in a turn (turn.c). */
				trp__dead_letter(self->rt, NULL, self, &m->pub,
						 TRP_DEAD_DEMONITORED);
				trp__msg_drop_payload(m);
				continue;
			}
			trp__count(NULL, &self->rt->outside.processed, 1);
			c->cur = m;
			trp__current_msg = &m->pub;
			*msg = &m->pub;
			return 0;
		}
		if (trp__mailbox_mark_idle_sc(&self->mailbox, &done)) {
			release_done(self, done);
			c->idle = true;
		} else
			trp__cpu_relax(); /* a producer is mid-push */
	}
}

int trp_actor_join(trp_actor_t *a, int64_t timeout_ns)
{
	if (a == NULL || a->kind != &kind_thread)
		return TRP_EINVAL;
	if (t_self == a)
		return TRP_EDEADLK;
	struct thread_ctl *c = ctl_of(a);
	uint64_t deadline = trp__deadline(timeout_ns);
	/* ORDER: acquire pairs with the release store of done. */
	while (atomic_load_explicit(&c->done, memory_order_acquire) == 0) {
		int64_t wait = trp__remaining(timeout_ns, deadline);
		if (wait == 0)
			return TRP_ETIMEDOUT;
		trp__futex_wait(&c->done, 0, wait);
	}
	return 0;
}

/* trp__actors_each: retains the first thread actor found. */
static bool first_thread(struct trp_actor *a, void *ctx)
{
	if (a->kind != &kind_thread)
		return true;
	*(struct trp_actor **)ctx = trp_actor_retain(a);
	return false;
}

/* Destroy, step 1 (runtime.h): closes every thread actor and waits for its
 * function to return, while the workers still run (it may be waiting on
 * replies from event actors). */
static void threads_quiesce(struct trp_runtime *rt, void *state)
{
	(void)state;
	for (;;) {
		struct trp_actor *t = NULL;
		trp__actors_each(rt, first_thread, &t);
		if (t == NULL)
			break;
		(void)trp_actor_close(t);
		(void)trp_actor_join(t, -1);
		/* Stopped and retired: it left the live list. */
		trp_actor_release(t);
	}
}

const struct trp__feature trp__feature_threads = {
	.name = "thread actors",
	.quiesce = threads_quiesce,
};
