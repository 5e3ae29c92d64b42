/*
 * core/scheduler.h - where a runnable event actor goes: the calling
 * worker's run queues (its FIFO run ring, or its Chase-Lev LIFO for what a
 * turn spawns), or, from any other thread, the runtime's injection queue,
 * which workers drain in fair shares.
 *
 * Who may call: trp__schedule from any thread, for an actor whose mailbox
 * this thread just took out of the idle state (exactly one scheduler per
 * idle period: mailbox.h) or whose turn just ended with mail left;
 * trp__inject_pop from workers only. Lock-free, but for the injection
 * queue's consumer side, taken by one worker at a time with a try-lock.
 */
#ifndef TRP_CORE_SCHEDULER_H
#define TRP_CORE_SCHEDULER_H

#include "runtime.h"

struct trp_actor;

/* Makes the event actor @a runnable: on the calling worker's run queue,
 * else injected (and a parked worker woken). Other kinds are woken through
 * their kind (delivery.h, trp__wake). */
void trp__schedule(struct trp_runtime *rt, struct trp_actor *a);

/* From a thread that is not a worker of @rt: makes the @n event actors
 * whose run nodes are linked @first .. @last runnable, each taken out of
 * the idle state by this thread (exactly one scheduler per idle period),
 * with one push on the injection queue and one wake-up (an outside
 * publisher's receivers, send.h). */
void trp__inject_chain(struct trp_runtime *rt, struct trp__mpsc_node *first,
		       struct trp__mpsc_node *last, uint32_t n);

/* Pops an actor from the injection queue (NULL if none / busy) and moves
 * a fair share of the rest onto worker @w's run queue. */
struct trp_actor *trp__inject_pop(struct trp_runtime *rt,
				  struct trp__worker *w);

#endif /* TRP_CORE_SCHEDULER_H */
