/*
 * core/stop.h - how actors stop (trp_actor_close and trp_actor_stop are
 * public, in troupe/actor.h).
 *
 * An actor stops on its mailbox's consumer: an event actor on the worker
 * running its turn (it asked to stop, or its turn reached the close
 * marker), a thread actor on its own thread when its function returns,
 * every actor still alive on the destroying thread once the workers are
 * joined. Each way sets STOPPED, runs the stop hook (event actors), drains
 * the mailbox into dead letters, closes it, and retires the actor (actor.h).
 *
 * Who may call: as each function says. Blocking only in the stop hook the
 * user wrote; otherwise lock-free but for retirement (the actors lock).
 */
#ifndef TRP_CORE_STOP_H
#define TRP_CORE_STOP_H

#include "actor.h"

struct trp__worker;

/* Worker @w, running @a's turn, stops @a: hook, drain, close, retire. */
void trp__actor_finish(struct trp__worker *w, struct trp_actor *a,
		       trp_stop_reason_t why);

/* A thread actor's function returned (on its thread, which owns the
 * mailbox): stop, dead-letter the rest, close, retire. */
void trp__actor_finish_thread(struct trp_actor *a, trp_stop_reason_t why);

/* Stops every live actor at shutdown (workers joined, outside senders
 * refused): the destroying thread is the consumer of every mailbox. */
void trp__actors_stop_at_shutdown(struct trp_runtime *rt);

#endif /* TRP_CORE_STOP_H */
