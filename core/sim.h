/*
 * core/sim.h - what the other features need of simulation mode (sim.c,
 * troupe/sim.h): the runtime's clock, the run's seed, stepping while a
 * caller waits, and the timers' entries the simulator fires through.
 *
 * Who may call: the thread that owns a simulated runtime (any thread for
 * a real one: the calls then read the monotonic clock or do nothing).
 */
#ifndef TRP_CORE_SIM_H
#define TRP_CORE_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "troupe/runtime.h"

/* The runtime's clock: virtual in simulation mode, else monotonic. */
uint64_t trp__clock_ns(trp_runtime_t *rt);

/* Simulation mode: *@seed gets a seed for @a's own PRNG that a replay
 * reproduces; returns false in a real runtime. */
bool trp__sim_seed(trp_runtime_t *rt, trp_actor_t *a, uint64_t *seed);

/* Simulation mode: runs steps until done(arg) or idle; when idle with a
 * timer due before @deadline (virtual; UINT64_MAX: none), moves the clock
 * to it, fires and goes on. Returns true once done(arg), false if idle
 * with nothing due. For waits on the simulated runtime's own thread. */
bool trp__sim_wait(trp_runtime_t *rt, bool (*done)(void *arg), void *arg,
		   uint64_t deadline);

/* timer.c: the earliest deadline armed (UINT64_MAX: none), and firing
 * every timer due at trp__runtime_now_ns(rt). */
uint64_t trp__timers_next(trp_runtime_t *rt);
void trp__timers_fire_due(trp_runtime_t *rt);

#endif /* TRP_CORE_SIM_H */
