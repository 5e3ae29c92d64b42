/*
 * core/turn.h - one turn of an event actor on a worker.
 *
 * The turn bound: the messages present when the turn begins (up to the
 * last one pushed by then), at most the runtime's `batch` of them; past
 * those, messages that arrive during the turn (self-sends included) are
 * taken too while the turn has sent fewer than TRP__TURN_SENDS messages.
 * So an actor that messages itself to go on runs several cheap steps per
 * turn and its sends leave as chains (outbox.h), while one whose steps
 * send a lot (a producer's chunk, a publish to many) yields after one
 * step, and what a turn adds to other mailboxes stays bounded. The turn
 * also ends when the actor asked to stop, when it must be muted
 * (backpressure.h), at shutdown, or when the mailbox is empty.
 *
 * After the turn: the turn's batches are pushed; then the actor is
 * stopped (stop.h), muted on an overloaded receiver, rescheduled at the
 * back of the run queue (messages left), or marked idle (none: the next
 * push wakes it).
 *
 * Who may call: the worker that took @a from a run queue; one turn of an
 * actor runs at a time (the idle tag hands it to exactly one scheduler).
 */
#ifndef TRP_CORE_TURN_H
#define TRP_CORE_TURN_H

#include "actor.h"

struct trp__worker;

/* Sends after which a turn stops taking messages that arrived during it. */
#define TRP__TURN_SENDS 64u

/* Runs one turn of @a on worker @w. */
void trp__actor_run(struct trp__worker *w, struct trp_actor *a);

#endif /* TRP_CORE_TURN_H */
