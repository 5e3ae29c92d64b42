/*
 * core/dead_letter.h - the one way a message becomes a dead letter.
 *
 * Contract: a message the runtime accepted and will never hand to a
 * behaviour (its receiver stopped, the runtime shut down, a reply found its
 * future completed already) is passed to trp__dead_letter exactly once: it
 * calls the runtime's dead-letter hook and counts the message under its
 * reason, on the calling thread's counters. Nothing else in core/ touches
 * the hook or the dead-letter counters, so
 *     sent == processed + dead_lettered
 * (runtime.h) is kept by construction: every path that drops a message
 * either was counted as sent when the send was accepted (mailbox drains),
 * or is counted as sent here (trp__dead_letter_unsent: deliveries the
 * runtime made on a user's behalf that never reached a mailbox).
 *
 * Who may call: any thread; @w is the calling thread's worker of @rt or
 * NULL. The hook runs on the calling thread and must not block. Lock-free
 * (one counter update; a worker's is a plain store).
 */
#ifndef TRP_CORE_DEAD_LETTER_H
#define TRP_CORE_DEAD_LETTER_H

#include "troupe/runtime.h"

struct trp__worker;

/* @msg (accepted, counted as sent, never to be processed) to the hook, and
 * one count under @why. @to may be NULL (a late reply has no actor). */
void trp__dead_letter(struct trp_runtime *rt, struct trp__worker *w,
		      struct trp_actor *to, const trp_msg_t *msg,
		      trp_dead_reason_t why);

/* The same for a delivery the runtime accepted on a user's behalf but
 * could not make (a timer firing or a future's outcome for an actor that
 * stopped, a late reply): counted as sent first, so the identity holds. */
void trp__dead_letter_unsent(struct trp_runtime *rt, struct trp__worker *w,
			     struct trp_actor *to, const trp_msg_t *msg,
			     trp_dead_reason_t why);

#endif /* TRP_CORE_DEAD_LETTER_H */
