/*
 * core/timer.h - the runtime's side of timers (public API in
 * troupe/timer.h; the mechanism is described in timer.c).
 */
#ifndef TRP_CORE_TIMER_H
#define TRP_CORE_TIMER_H

struct trp_runtime;
struct trp__timers;

/* Stops the timer thread and drops every pending timer (they never fire);
 * later trp_send_after calls return TRP_ESHUTDOWN. */
void trp__timers_shutdown(struct trp_runtime *rt);

#endif /* TRP_CORE_TIMER_H */
