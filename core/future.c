/*
 * core/future.c - futures for request/reply (see troupe/future.h).
 *
 * A future completes exactly once: the first of reply, "no reply", "the
 * receiver stopped" and "a waiter timed out" wins a CAS PENDING ->
 * COMPLETING, fills in the outcome and publishes it with a release store of
 * DONE; waiters park on the state word (a futex). The others lose the CAS
 * and are counted (a late reply is a dead letter).
 *
 * Continuation (trp_future_then): the actor is published with a CAS on
 * then_actor, then the state is read; completion stores DONE, then reads
 * then_actor (all seq_cst: a Dekker pair). At least one side sees the
 * other; then_fired, taken with an exchange, makes the delivery happen
 * exactly once.
 *
 * A request message holds one reference to its future until it is
 * answered, dropped unanswered or dead-lettered; a taken request holds it
 * in its handle (request.c).
 */
#include "future.h"

#include <limits.h>
#include <string.h>

#include "actor.h"
#include "send.h"
#include "alloc.h"
#include "dead_letter.h"
#include "message.h"
#include "platform.h"
#include "request.h"
#include "runtime.h"
#include "scheduler.h"
#include "sim.h"
#include "worker.h"
#include "troupe/future.h"

enum {
	PENDING = 0,
	COMPLETING = 1,
	DONE = 2,
};

#define INLINE_REPLY 32u

struct trp_future {
	struct trp__reply_to to; /* first: requests point here */
	_Atomic(uint32_t) state; /* futex word */
	_Atomic(uint32_t) waiters;
	_Atomic(uint64_t) refs;
	trp_msg_t reply; /* type, status, size, data: valid once DONE */
	void *heap;	 /* reply payload if larger than INLINE_REPLY */
	_Atomic(struct trp_actor *) then_actor;
	uint32_t then_type;
	_Atomic(uint32_t) then_claimed; /* a continuation was set */
	_Atomic(uint32_t) then_fired;
	/* made by a simulated runtime: waits run the simulation. Kept here
	 * because a future may outlive its runtime (to.rt is not read once
	 * the future is done) */
	bool sim;
	alignas(16) unsigned char inline_reply[INLINE_REPLY];
};

static bool reply_answer(struct trp__reply_to *r, int status, const void *data,
			 size_t len)
{
	return trp__future_complete((struct trp_future *)(void *)r, status,
				    data, len);
}

static void reply_release(struct trp__reply_to *r)
{
	trp_future_release((struct trp_future *)(void *)r);
}

static const struct trp__reply_ops future_reply_ops = {
	.answer = reply_answer,
	.release = reply_release,
};

struct trp__reply_to *trp__future_reply_to(struct trp_future *f)
{
	return &f->to;
}

struct trp_future *trp__future_new(struct trp_runtime *rt, uint32_t type)
{
	struct trp_future *f = trp__alloc_aligned(16, sizeof *f);
	if (f == NULL)
		return NULL;
	memset(f, 0, sizeof *f);
	f->to.ops = &future_reply_ops;
	f->to.rt = rt;
	f->sim = rt->sim != NULL;
	atomic_init(&f->state, PENDING);
	atomic_init(&f->refs, 1);
	atomic_init(&f->then_actor, NULL);
	f->reply.type = type;
	return f;
}

trp_future_t *trp_future_retain(trp_future_t *f)
{
	if (f != NULL)
		/* relaxed: the caller holds a reference already. */
		atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	return f;
}

void trp_future_release(trp_future_t *f)
{
	if (f == NULL)
		return;
	/* ORDER: acq_rel, as for any reference count. */
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* A continuation that never fired holds an actor reference. */
	struct trp_actor *a =
		atomic_load_explicit(&f->then_actor, memory_order_relaxed);
	if (a != NULL &&
	    atomic_load_explicit(&f->then_fired, memory_order_relaxed) == 0)
		trp_actor_release(a);
	trp__free(f->heap, 0);
	trp__free(f, sizeof *f);
}

/* Sends the outcome to the continuation's actor, once; returns the send's
 * result (0 if another caller delivers). @caller: called by
 * trp_future_then, whose caller takes an error. */
static int fire_then(struct trp_future *f, bool caller)
{
	/* ORDER: acq_rel; exactly one caller gets 0 (see the file comment). */
	if (atomic_exchange_explicit(&f->then_fired, 1, memory_order_acq_rel))
		return 0;
	/* ORDER: acquire, pairs with the release of trp_future_then's CAS
	 * (then_type was written before it). */
	struct trp_actor *a =
		atomic_load_explicit(&f->then_actor, memory_order_acquire);
	struct trp__send_opts opt = { .status = f->reply.status };
	size_t len = f->reply.status == 0 ? f->reply.size : 0;
	int rc = trp__actor_send(a, f->then_type, f->reply.data, len, &opt);
	if (rc == 0 || caller) {
		/* delivered, or trp_future_then returns the error */
		trp_actor_release(a);
		return rc;
	}
	/* Completed later than the continuation was set: nobody is there to
	 * take an error. The actor stopped (or the runtime is going): the
	 * outcome is a dead letter. A send refused for another reason
	 * (TRP_EFULL: counted as rejected) is not. */
	if (rc == TRP_EDEAD || rc == TRP_ESHUTDOWN) {
		trp_msg_t v = { .type = f->then_type,
				.status = f->reply.status,
				.size = len,
				.data = len != 0 ? f->reply.data : NULL };
		struct trp_runtime *rt = trp_actor_runtime(a);
		trp__dead_letter_unsent(rt, trp__worker_of(rt), a, &v,
					rc == TRP_EDEAD ? TRP_DEAD_STOPPED :
							  TRP_DEAD_SHUTDOWN);
	}
	trp_actor_release(a);
	return rc;
}

bool trp__future_complete(struct trp_future *f, int status, const void *data,
			  size_t len)
{
	uint32_t expect = PENDING;
	/* ORDER: acquire on success so our writes below cannot move above
	 * the claim; the claim itself publishes nothing. */
	if (!atomic_compare_exchange_strong_explicit(
		    &f->state, &expect, COMPLETING, memory_order_acquire,
		    memory_order_relaxed))
		return false;
	if (status == 0 && len != 0) {
		void *buf = f->inline_reply;
		if (len > INLINE_REPLY) {
			buf = f->heap = trp__alloc(len);
			if (buf == NULL) {
				status = TRP_ENOMEM;
				len = 0;
			}
		}
		if (buf != NULL && len != 0) {
			memcpy(buf, data, len);
			f->reply.data = buf;
		}
	}
	f->reply.status = status;
	f->reply.size = status == 0 ? len : 0;
	if (f->reply.size == 0)
		f->reply.data = NULL;
	/* ORDER: seq_cst store: releases the outcome to waiters (acquire
	 * loads) and is the completion half of the Dekker pair with
	 * trp_future_then. */
	atomic_store_explicit(&f->state, DONE, memory_order_seq_cst);
	if (atomic_load_explicit(&f->waiters, memory_order_seq_cst) != 0)
		trp__futex_wake(&f->state, INT_MAX);
	/* ORDER: seq_cst, see the file comment. */
	if (atomic_load_explicit(&f->then_actor, memory_order_seq_cst) != NULL)
		(void)fire_then(f, false);
	return true;
}

bool trp_future_done(const trp_future_t *f)
{
	/* relaxed: a snapshot. */
	return f != NULL && atomic_load_explicit(&((trp_future_t *)f)->state,
						 memory_order_relaxed) == DONE;
}

/*
 * Spinning before the futex wait: a waiter polls the state for up to
 * wait_spin_ns (per thread, adaptive) before it registers in `waiters` and
 * sleeps. A reply that comes meanwhile costs neither side a system call:
 * the completer sees no waiter and wakes nobody. The window is
 * WAIT_SPIN_MAX_NS = 20 us after a spin that ended in DONE, and halves
 * after one that did not (down to WAIT_SPIN_MIN_NS = 2 us); one wait in 16
 * with a shrunk window spins the full 20 us (a probe), so that a thread
 * whose replies became fast again finds out. A thread whose replies take
 * long wastes ~3 us per wait on average, one whose replies are fast at
 * most 20 us.
 * Spinning happens before the waiters increment, so the Dekker pair with
 * the completer is unchanged.
 */
#define WAIT_SPIN_MAX_NS 20000u
#define WAIT_SPIN_MIN_NS 2000u
#define WAIT_SPIN_POLLS 8u /* polls between clock reads */

static _Thread_local uint32_t wait_spin_ns = WAIT_SPIN_MAX_NS;
static _Thread_local uint32_t wait_probe;

/* Polls @f for up to the thread's spin window (and @timeout_ns): true if
 * it is DONE. */
static bool spin_for_done(trp_future_t *f, int64_t timeout_ns)
{
	if (timeout_ns == 0)
		return false;
	uint64_t budget = wait_spin_ns;
	/* A shrunk window is retried in full one wait in 16 (a probe). */
	if (budget < WAIT_SPIN_MAX_NS && (++wait_probe & 15u) == 0)
		budget = WAIT_SPIN_MAX_NS;
	if (timeout_ns > 0 && (uint64_t)timeout_ns < budget)
		budget = (uint64_t)timeout_ns;
	uint64_t start = trp__now_ns();
	for (;;) {
		for (uint32_t i = 0; i < WAIT_SPIN_POLLS; i++) {
			/* ORDER: acquire pairs with the DONE store: the
			 * outcome is visible once we see DONE. */
			if (atomic_load_explicit(
				    &f->state, memory_order_acquire) == DONE) {
				wait_spin_ns = WAIT_SPIN_MAX_NS;
				return true;
			}
			trp__cpu_relax();
		}
		if (trp__now_ns() - start >= budget)
			break;
	}
	wait_spin_ns /= 2;
	if (wait_spin_ns < WAIT_SPIN_MIN_NS)
		wait_spin_ns = WAIT_SPIN_MIN_NS;
	return false;
}

static bool future_done(void *arg)
{
	/* ORDER: acquire pairs with the DONE store (the simulation runs on
	 * this thread anyway). */
	return atomic_load_explicit(&((struct trp_future *)arg)->state,
				    memory_order_acquire) == DONE;
}

/* Simulation mode: the waiting thread runs the simulation until the
 * future completes; idle with no timer due within @timeout_ns (virtual
 * time) is a timeout. */
static __attribute__((noinline)) void sim_wait(trp_future_t *f,
					       int64_t timeout_ns)
{
	uint64_t now = trp__clock_ns(f->to.rt);
	uint64_t deadline = timeout_ns < 0 ? UINT64_MAX :
			    (uint64_t)timeout_ns > UINT64_MAX - now ?
					     UINT64_MAX :
					     now + (uint64_t)timeout_ns;
	if (!trp__sim_wait(f->to.rt, future_done, f, deadline))
		(void)trp__future_complete(f, TRP_ETIMEDOUT, NULL, 0);
}

int trp_future_wait(trp_future_t *f, int64_t timeout_ns,
		    const trp_msg_t **reply)
{
	if (f == NULL)
		return TRP_EINVAL;
	if (trp__self_worker != NULL)
		return TRP_EDEADLK;
	if (trp__unlikely(f->sim)) {
		/* a pending future's runtime is alive: destroy completes
		 * them all */
		if (!future_done(f))
			sim_wait(f, timeout_ns);
		goto done;
	}
	uint64_t deadline = trp__deadline(timeout_ns);
	if (spin_for_done(f, timeout_ns))
		goto done;
	/* ORDER: seq_cst; the waiter half of the pair with the completer's
	 * DONE store and waiters load. */
	atomic_fetch_add_explicit(&f->waiters, 1, memory_order_seq_cst);
	for (;;) {
		/* ORDER: acquire pairs with the DONE store: the outcome is
		 * visible once we see DONE. */
		uint32_t s =
			atomic_load_explicit(&f->state, memory_order_acquire);
		if (s == DONE)
			break;
		if (s == COMPLETING) {
			trp__cpu_relax();
			continue;
		}
		int64_t wait = trp__remaining(timeout_ns, deadline);
		if (wait == 0) {
			(void)trp__future_complete(f, TRP_ETIMEDOUT, NULL, 0);
			continue;
		}
		trp__futex_wait(&f->state, PENDING, wait);
	}
	atomic_fetch_sub_explicit(&f->waiters, 1, memory_order_relaxed);
done:
	if (reply != NULL)
		*reply = f->reply.status == 0 ? &f->reply : NULL;
	return f->reply.status;
}

int trp_future_then(trp_future_t *f, trp_actor_t *actor, uint32_t type)
{
	if (f == NULL || actor == NULL)
		return TRP_EINVAL;
	/* relaxed: only decides who sets the continuation; the type is
	 * published by the seq_cst store of the actor below. */
	if (atomic_exchange_explicit(&f->then_claimed, 1, memory_order_relaxed))
		return TRP_EBUSY;
	f->then_type = type;
	/* ORDER: seq_cst: publishes then_type (release) and is the
	 * continuation half of the Dekker pair with the DONE store. */
	atomic_store_explicit(&f->then_actor, trp_actor_retain(actor),
			      memory_order_seq_cst);
	if (atomic_load_explicit(&f->state, memory_order_seq_cst) == DONE)
		return fire_then(f, true);
	return 0;
}

int trp_ask(trp_actor_t *to, uint32_t type, const void *data, size_t len,
	    trp_future_t **out)
{
	if (to == NULL || out == NULL)
		return TRP_EINVAL;
	struct trp_future *f = trp__future_new(to->rt, type);
	if (f == NULL)
		return TRP_ENOMEM;
	/* one reference for the caller, one for the request message */
	atomic_store_explicit(&f->refs, 2, memory_order_relaxed);
	f->to.receiver = to; /* published by the send */
	struct trp__send_opts opt = { .reply = &f->to };
	int rc = trp__actor_send(to, type, data, len, &opt);
	if (rc != 0) {
		/* The message never existed (or was taken back): both
		 * references are ours. */
		atomic_store_explicit(&f->refs, 1, memory_order_relaxed);
		trp_future_release(f);
		return rc;
	}
	*out = f;
	return 0;
}

/*
 * The pending request behind @request, or an error: only the message being
 * handled on this thread can be answered; anything else (a callback sink's
 * view, a stale pointer) is not a runtime message we may look inside.
 */
static int pending_request(const trp_msg_t *request, struct trp__msg **out)
{
	if (request != trp__current_msg)
		return TRP_ENOTREQUEST;
	struct trp__msg *m =
		(struct trp__msg *)(void *)((char *)request -
					    offsetof(struct trp__msg, pub));
	if (m->request == TRP__REQ_NONE)
		return TRP_ENOTREQUEST;
	if (m->request == TRP__REQ_ANSWERED)
		return TRP_EANSWERED;
	*out = m;
	return 0;
}

int trp_reply(const trp_msg_t *request, const void *data, size_t len)
{
	if (request == NULL || (data == NULL && len != 0))
		return TRP_EINVAL;
	if (len > TRP_MSG_MAX)
		return TRP_EMSGSIZE;
	struct trp__msg *m;
	int rc = pending_request(request, &m);
	if (rc != 0)
		return rc;
	struct trp__reply_to *r = m->u.reply;
	m->request = TRP__REQ_ANSWERED;
	m->u.reply = NULL;
	/* Too late (a waiter timed out): a dead letter. */
	trp__reply_answer(r, request->type, 0, data, len, true);
	return 0;
}

int trp__reply_error(const trp_msg_t *request, int status)
{
	if (request == NULL || status == 0)
		return TRP_EINVAL;
	struct trp__msg *m;
	int rc = pending_request(request, &m);
	if (rc == 0)
		trp__request_done(m, status);
	return rc;
}
