/*
 * core/stop.c - how actors stop: closed from any thread (a marker behind
 * the messages already sent), stopped from their own turn, stopped when
 * their thread ends (thread actors), and stopped all at once at shutdown
 * (see stop.h).
 */
#include "stop.h"

#include "delivery.h"
#include "outbox.h"
#include "quiescence.h"
#include "runtime.h"
#include "self_send.h"
#include "worker.h"

int trp_actor_close(trp_actor_t *a)
{
	if (a == NULL)
		return TRP_EINVAL;
	struct trp_runtime *rt = a->rt;
	struct trp__worker *w = trp__worker_of(rt);
	if (w == NULL) {
		int rc = trp__outside_enter(rt);
		if (rc != 0)
			return rc;
	}
	/* The close marker goes behind what this turn sent already. */
	if (w != NULL && w->current != NULL) {
		trp__outbox_flush(w, &w->outbox);
		if (w->current == a)
			trp__self_flush(rt, w, a);
	}
	uint32_t s = TRP__ALIVE;
	/* ORDER: acq_rel orders this close after sends this thread made
	 * before (they were pushed already) and decides the one closer. */
	int rc = 0;
	if (atomic_compare_exchange_strong_explicit(
		    &a->lifecycle, &s, TRP__CLOSING, memory_order_acq_rel,
		    memory_order_acquire)) {
		/* The marker is part of the actor: closing never
		 * allocates, so it cannot fail. */
		unsigned tag =
			trp__mailbox_push_mp(&a->mailbox, &a->close_node);
		if (tag == TRP__MAILBOX_IDLE)
			trp__wake(rt, a);
		else if (tag == TRP__MAILBOX_CLOSED)
			/* Stopped by itself meanwhile: just re-close. */
			(void)trp__drain_and_close(rt, w, a, NULL,
						   TRP_DEAD_STOPPED);
	} else if (s == TRP__STOPPED) {
		rc = TRP_EDEAD;
	}
	if (w == NULL)
		trp__outside_leave(rt);
	return rc;
}

int trp__actor_kill(struct trp_actor *a, trp_stop_reason_t why)
{
	struct trp_runtime *rt = a->rt;
	struct trp__worker *w = trp__worker_of(rt);
	if (w == NULL) {
		int rc = trp__outside_enter(rt);
		if (rc != 0)
			return rc;
	}
	int rc = 0;
	/* relaxed: validated by the CAS. */
	uint32_t s = atomic_load_explicit(&a->lifecycle, memory_order_relaxed);
	for (;;) {
		if (s == TRP__STOPPED) {
			rc = TRP_EDEAD;
			break;
		}
		if (s == TRP__KILLED)
			break; /* killed twice: the first reason stands */
		/* relaxed: published by the release half of the CAS below;
		 * a racing killer may overwrite it (then its reason wins). */
		atomic_store_explicit(&a->kill_reason, (uint8_t)why,
				      memory_order_relaxed);
		/* ORDER: acq_rel: releases kill_reason to the consumer's
		 * acquire load of the lifecycle (turn.c, stop.c); acquire on
		 * failure re-reads a state that may be STOPPED. */
		if (atomic_compare_exchange_weak_explicit(
			    &a->lifecycle, &s, TRP__KILLED,
			    memory_order_acq_rel, memory_order_acquire)) {
			/* An ALIVE actor's close marker is unused: push it
			 * to make the consumer look (a CLOSING one's is
			 * queued already). */
			if (s == TRP__ALIVE) {
				unsigned tag = trp__mailbox_push_mp(
					&a->mailbox, &a->close_node);
				if (tag == TRP__MAILBOX_IDLE)
					trp__wake(rt, a);
				else if (tag == TRP__MAILBOX_CLOSED)
					(void)trp__drain_and_close(
						rt, w, a, NULL,
						TRP_DEAD_KILLED);
			}
			break;
		}
	}
	if (w == NULL)
		trp__outside_leave(rt);
	return rc;
}

int trp_actor_kill(trp_actor_t *a)
{
	return a != NULL ? trp__actor_kill(a, TRP_STOP_KILLED) : TRP_EINVAL;
}

int trp_actor_stop(trp_actor_t *self)
{
	if (self == NULL)
		return TRP_EINVAL;
	struct trp__worker *w = trp__worker_of(self->rt);
	if (w == NULL || w->current != self)
		return TRP_EPERM;
	if (self->stop_request == 0) /* a failure stays a failure */
		self->stop_request = TRP_STOP_NORMAL;
	return 0;
}

int trp_actor_fail(trp_actor_t *self, int32_t code)
{
	if (self == NULL)
		return TRP_EINVAL;
	struct trp__worker *w = trp__worker_of(self->rt);
	if (w == NULL || w->current != self)
		return TRP_EPERM;
	self->stop_request = TRP_STOP_FAILED;
	self->exit_code = code;
	return 0;
}

/* The dead-letter reason of the mail an actor stopping with @why leaves. */
static trp_dead_reason_t dead_reason_of(trp_stop_reason_t why)
{
	return why == TRP_STOP_KILLED || why == TRP_STOP_LINKED ?
		       TRP_DEAD_KILLED :
		       TRP_DEAD_STOPPED;
}

void trp__actor_finish(struct trp__worker *w, struct trp_actor *a,
		       trp_stop_reason_t why)
{
	struct trp_runtime *rt = a->rt;
	trp__assert(w->current == a);
	a->exit_reason = (uint8_t)why;
	if (why != TRP_STOP_FAILED)
		a->exit_code = 0;
	/* ORDER: release: a thread that sees STOPPED through
	 * trp_actor_alive() also sees what the actor did before stopping.
	 * Senders read it relaxed: it only gives them an early TRP_EDEAD. */
	atomic_store_explicit(&a->lifecycle, TRP__STOPPED,
			      memory_order_release);
	if (a->stop != NULL)
		a->stop(a, a->state, why);
	trp__outbox_flush(w, &w->outbox);
	trp__self_flush(rt, w, a); /* to the dead letters, below */
	w->outbox.stamp++;
	w->outbox.self_off = 0;
	w->current = NULL;
	if (w->mute_on != NULL) {
		trp_actor_release(w->mute_on);
		w->mute_on = NULL;
	}
	(void)trp__drain_and_close(rt, w, a, NULL, dead_reason_of(why));
	trp__actor_retire(rt, a);
}

void trp__actor_finish_thread(struct trp_actor *a, trp_stop_reason_t why)
{
	struct trp_runtime *rt = a->rt;
	a->exit_reason = (uint8_t)why;
	a->exit_code = 0;
	/* ORDER: release, as in trp__actor_finish(). */
	atomic_store_explicit(&a->lifecycle, TRP__STOPPED,
			      memory_order_release);
	/* The thread owns the mailbox (recv made sure it is not tagged
	 * idle): drain what came after its last receive. */
	(void)trp__drain_and_close(rt, NULL, a, NULL, dead_reason_of(why));
	trp__actor_retire(rt, a);
}

void trp__actors_stop_at_shutdown(struct trp_runtime *rt)
{
	/* Workers are joined and outside senders are refused: this thread
	 * is the only one touching actors now. */
	for (;;) {
		trp__mutex_lock(&rt->actors_lock);
		struct trp_actor *a = rt->actors;
		trp__mutex_unlock(&rt->actors_lock);
		if (a == NULL)
			break;
		a->exit_reason = TRP_STOP_SHUTDOWN;
		a->exit_code = 0;
		/* relaxed: single-threaded now. */
		uint32_t s = atomic_exchange_explicit(
			&a->lifecycle, TRP__STOPPED, memory_order_relaxed);
		/* Become the mailbox's consumer: an ALIVE actor's close
		 * marker is unused, so pushing it claims an idle mailbox; a
		 * CLOSING or KILLED one already holds its marker and is
		 * scheduled, and no worker runs it. */
		if (s == TRP__ALIVE)
			(void)trp__mailbox_push_mp(&a->mailbox, &a->close_node);
		/* The start hook never runs now: out of the start / carry
		 * union before the drain reads carry (actor.h). */
		(void)trp__actor_take_start(a);
		/* Also when the start hook never ran: the stop hook is
		 * where the actor's resources are released. */
		if (a->stop != NULL)
			a->stop(a, a->state, TRP_STOP_SHUTDOWN);
		(void)trp__drain_and_close(rt, NULL, a, NULL,
					   TRP_DEAD_SHUTDOWN);
		trp__actor_retire(rt, a);
	}
}
