/*
 * troupe/timer.h - delayed and periodic sends.
 *
 * One timer thread per runtime (started on first use) keeps the timers in
 * a binary heap ordered by deadline and sleeps on a futex until the next
 * one; accuracy is about a millisecond. A timer fires by sending a copy of
 * its payload to its actor. A periodic timer fires every interval until
 * cancelled, or until its actor stops.
 *
 * Timers of a stopped actor end: a firing that finds its actor stopped (or
 * closing: trp_send would return TRP_EDEAD) is a dead letter - handed to
 * the runtime's dead-letter hook with TRP_DEAD_STOPPED and counted in
 * trp_stats_t as sent and dead-lettered, so sent == processed +
 * dead_lettered holds - and it is the timer's last firing, periodic or
 * not: the timer is done, as a one-shot timer that fired is
 * (trp_timer_fired() counts that firing too; trp_timer_cancel() returns
 * TRP_ENOENT). A firing refused for another reason (TRP_EFULL: counted
 * in trp_stats_t.rejected) does not end a periodic timer.
 *
 * Cancel races with firing are settled by one atomic state per timer:
 * trp_timer_cancel() returns 0 if the timer will not fire again, and
 * TRP_ENOENT if it is done already (a one-shot timer fired, a timer's
 * firing found its actor stopped, or the timer was cancelled before): for
 * a one-shot timer exactly one of "fired" and "cancelled".
 *
 * Handles: trp_send_after() hands out one reference to the timer (NULL out
 * parameter: none); release it with trp_timer_release(), whether or not it
 * fired. trp_runtime_destroy() cancels every timer still pending.
 */
#ifndef TROUPE_TIMER_H
#define TROUPE_TIMER_H

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trp_timer trp_timer_t;

/**
 * Sends a copy of the payload to @p to after @p delay_ns (>= 0), and then
 * every @p period_ns if period_ns > 0. *out (may be NULL) receives a timer
 * reference. Threads: any. Errors: TRP_EINVAL (negative or overflowing
 * times, rt or to NULL, to an actor of another runtime, data NULL with
 * len > 0), TRP_EMSGSIZE, TRP_ENOMEM, TRP_ESYSTEM (no timer thread),
 * TRP_ESHUTDOWN.
 */
TRP_API int trp_send_after(trp_runtime_t *rt, trp_actor_t *to, int64_t delay_ns,
			   int64_t period_ns, uint32_t type, const void *data,
			   size_t len, trp_timer_t **out);

/**
 * Cancels the timer: 0 if it will not fire any more (for a one-shot: it
 * had not fired), TRP_ENOENT if it was done already: a one-shot that
 * fired, a timer whose last firing found its actor stopped, or a timer
 * cancelled before (also by trp_runtime_destroy()). Threads: any (also the
 * timer's receiving behaviour). Errors: TRP_EINVAL (t NULL), TRP_ENOENT.
 */
TRP_API int trp_timer_cancel(trp_timer_t *t);

/** Number of times the timer has fired so far. */
TRP_API uint64_t trp_timer_fired(const trp_timer_t *t);

/** Drops a reference to the timer. */
TRP_API void trp_timer_release(trp_timer_t *t);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_TIMER_H */
