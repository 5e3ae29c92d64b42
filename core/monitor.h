/*
 * core/monitor.h - what other features need of monitors and links
 * (monitor.c; public API in troupe/monitor.h).
 *
 * Who may call: any thread.
 */
#ifndef TRP_CORE_MONITOR_H
#define TRP_CORE_MONITOR_H

#include <stdint.h>

#include "troupe/actor.h"

/*
 * Fires the monitors of @a and signals its links as if @a had stopped with
 * @why/@code, though @a goes on: each monitor gets its one DOWN (and is
 * gone), each linked actor its exit signal (and the link is gone). For a
 * proxy whose remote actor stopped (node_in.c): a monitor of the proxy is
 * a monitor of the remote actor. Takes the actors lock; nothing if @a has
 * retired (its stop fired them already).
 */
void trp__monitors_fire(struct trp_actor *a, trp_stop_reason_t why,
			int32_t code);

/*
 * The local rule of a link: @peer hears that the actor @from_id (of this
 * node or another) stopped with @why/@code: an exit message if it traps
 * exits, else it stops with TRP_STOP_LINKED if @why is abnormal. For a
 * node that received an exit signal for @peer (node_watch.c). The caller
 * holds a reference to @peer; no lock held.
 */
void trp__link_signal(struct trp_actor *peer, uint64_t from_id,
		      trp_stop_reason_t why, int32_t code);

#endif /* TRP_CORE_MONITOR_H */
