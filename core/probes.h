/*
 * core/probes.h - USDT probes (provider "troupe") at the runtime's key
 * events, for perf and bpftrace: `perf probe -x libtroupe.so -a
 * sdt_troupe:send` or `perf record -e sdt_troupe:*` (docs/profiling.md).
 * A probe nobody traces is a single nop; without <sys/sdt.h> (TRP_USDT
 * unset) they compile to nothing.
 *
 *   send(actor_id, size)          a message was accepted for an actor
 *   run_start(actor_id, worker)   a turn begins
 *   run_end(actor_id, processed)  a turn ends, with messages processed
 *   steal(victim, moved)          a worker stole from @victim
 *   park(worker), unpark(worker)  a worker sleeps / wakes up
 *   dead_letter(actor_id, reason) a message became a dead letter (actor_id
 *                                 0: a late reply); trp_dead_reason_t
 *   stop(actor_id, reason)        an actor stopped; trp_stop_reason_t
 *   port_wake(port_id)            a port's eventfd is signalled (idle ->
 *                                 busy: one per burst of messages)
 */
#ifndef TRP_CORE_PROBES_H
#define TRP_CORE_PROBES_H

#if defined(TRP_USDT)
#include <sys/sdt.h>
#define TRP_PROBE1(name, a) DTRACE_PROBE1(troupe, name, a)
#define TRP_PROBE2(name, a, b) DTRACE_PROBE2(troupe, name, a, b)
#else
#define TRP_PROBE1(name, a) ((void)0)
#define TRP_PROBE2(name, a, b) ((void)0)
#endif

#endif /* TRP_CORE_PROBES_H */
