/*
 * core/quiescence.h - when is the runtime idle, and who is inside it.
 *
 * `activity` packs the number of active parties (workers that are not
 * parked, plus outside threads inside a call) in its low 32 bits and a
 * generation bumped on every change in its high 32 bits. The runtime is
 * idle when that count is 0, the injection queue is empty, and `activity`
 * read again is unchanged (nothing started in between). A worker that
 * finds no work polls for a while (idle_spins) before it parks; while a
 * thread waits for idle (`idle_waiters`), workers skip that poll and park
 * at once, so idleness is decided by the work there is, not by how long
 * workers poll (worker.c).
 *
 * Outside threads bracket their calls with trp__outside_enter/leave: the
 * enter fails with TRP_ESHUTDOWN once destroy has begun, and destroy waits
 * for those inside to leave.
 *
 * Who may call: any thread; trp__activity_inc/dec only by workers as they
 * wake and park. Lock-free but for the waits.
 */
#ifndef TRP_CORE_QUIESCENCE_H
#define TRP_CORE_QUIESCENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime.h"

/* An outside thread enters / leaves a call (quiescence and shutdown). */
int trp__outside_enter(struct trp_runtime *rt);
void trp__outside_leave(struct trp_runtime *rt);

/* A worker wakes up / parks. trp__activity_dec returns the number of
 * parties still active after the decrement. */
void trp__activity_inc(struct trp_runtime *rt);
uint32_t trp__activity_dec(struct trp_runtime *rt);

/* Blocks until the activity count is 0, or the deadline (ns, < 0: none)
 * passes: 0 or TRP_ETIMEDOUT. With @quiet, also requires an empty
 * injection queue and an unchanged activity word (nothing started
 * meanwhile). */
int trp__wait_activity(struct trp_runtime *rt, int64_t timeout_ns, bool quiet);

#endif /* TRP_CORE_QUIESCENCE_H */
