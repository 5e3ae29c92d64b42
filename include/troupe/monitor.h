/*
 * troupe/monitor.h - watching actors stop: monitors, links, exit trapping.
 *
 * A monitor is one-way: the watcher gets one DOWN message when the target
 * stops, exactly once, with the reason and code (trp_down_t). A link is
 * two-way: when either actor stops abnormally (trp_stop_abnormal()), the
 * other one stops too, with TRP_STOP_LINKED, unless it traps exits: then
 * it gets the same DOWN-shaped message instead (of the type it chose with
 * trp_actor_trap_exits(), ref 0). Normal stops do not propagate through
 * links (an actor trapping exits still hears of them).
 *
 * Order: the DOWN (or exit message) comes after every message the target
 * sent to the watcher (per-pair FIFO, as in Erlang): the target's stopping
 * thread sends it after the target's last sends were pushed.
 *
 * Across nodes (troupe/node.h): a monitor or link on a remote proxy is
 * one on the remote actor, in both directions for links; the DOWN or exit
 * follows the remote actor's last messages, and a lost node gives
 * TRP_STOP_NOCONNECTION exactly once per monitor and link.
 *
 * After trp_demonitor() returns, the watcher's behaviour never sees that
 * monitor's DOWN: a DOWN already queued is voided (counted as a dead letter,
 * TRP_DEAD_DEMONITORED).
 *
 * Messages: a DOWN is an ordinary message of the type the watcher chose,
 * with a trp_down_t payload (msg->size == sizeof(trp_down_t)); event
 * actors get it in their behaviour, thread actors from trp_recv(). It
 * counts as sent and processed like any message.
 *
 * Cost: a monitor is one record of 48 bytes until it fires or is removed;
 * an actor that is never monitored or linked pays one pointer.
 */
#ifndef TROUPE_MONITOR_H
#define TROUPE_MONITOR_H

#include "actor.h"
#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Identifies one monitor; never 0, never reused within a process. */
typedef uint64_t trp_ref_t;

/** The payload of a DOWN message and of an exit message. */
typedef struct trp_down {
	trp_ref_t ref;	   /**< the monitor's ref; 0 for a link's exit */
	uint64_t actor_id; /**< trp_actor_id() of the actor that stopped */
	int32_t reason;	   /**< trp_stop_reason_t */
	int32_t code;	   /**< trp_actor_fail()'s code, else 0 */
} trp_down_t;

/**
 * @p watcher monitors @p target: when the target stops, the watcher gets
 * one DOWN message of type @p down_type. A target that has stopped already
 * gives DOWN(TRP_STOP_NOPROC) at once. Several monitors of one pair are
 * independent (each its own ref and DOWN). *ref (may be NULL) receives the
 * monitor's ref. The watcher may be an event actor or a thread actor; an
 * actor may monitor itself (its DOWN then goes nowhere: it is stopped).
 * Threads: any. Errors: TRP_EINVAL (NULL, actors of different runtimes),
 * TRP_EDEAD (the watcher has stopped), TRP_ENOMEM, TRP_ESHUTDOWN.
 */
TRP_API int trp_monitor(trp_actor_t *watcher, trp_actor_t *target,
			uint32_t down_type, trp_ref_t *ref);

/**
 * Removes a monitor of @p watcher: after this returns, the watcher's
 * behaviour never sees its DOWN. Threads: any.
 * Errors: TRP_EINVAL (NULL, ref 0), TRP_ENOENT (no such monitor of this
 * watcher; or it fired and its DOWN was handled already).
 */
TRP_API int trp_demonitor(trp_actor_t *watcher, trp_ref_t ref);

/**
 * For threads outside the runtime: a future that completes when @p target
 * stops, with a trp_down_t (ref 0) as its reply (status 0); at once if it
 * has stopped already (reason TRP_STOP_NOPROC). Wait with
 * trp_future_wait(); release it with trp_future_release().
 * Threads: any. Errors: TRP_EINVAL, TRP_ENOMEM, TRP_ESHUTDOWN.
 */
TRP_API int trp_actor_watch(trp_actor_t *target, trp_future_t **out);

/**
 * Links @p a and @p b (see above). Linking a pair twice is one link. If
 * either has stopped already, the other gets its exit at once as if it had
 * just stopped with TRP_STOP_NOPROC (abnormal: it stops too, unless it
 * traps exits). Threads: any. Errors: TRP_EINVAL (NULL, a == b, different
 * runtimes), TRP_ENOMEM, TRP_ESHUTDOWN.
 */
TRP_API int trp_link(trp_actor_t *a, trp_actor_t *b);

/** Removes the link of @p a and @p b. Threads: any. Errors: TRP_EINVAL,
 * TRP_ENOENT (not linked). */
TRP_API int trp_unlink(trp_actor_t *a, trp_actor_t *b);

/**
 * The calling actor traps exits: instead of stopping when a linked actor
 * stops abnormally, it gets a message of type @p exit_type with a
 * trp_down_t (ref 0) for every linked actor that stops, normally or not.
 * @p exit_type 0 stops trapping. Threads: inside @p self's behaviour or
 * start hook, or @p self's own thread for a thread actor.
 * Errors: TRP_EINVAL (NULL), TRP_EPERM (anywhere else), TRP_ENOMEM.
 */
TRP_API int trp_actor_trap_exits(trp_actor_t *self, uint32_t exit_type);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_MONITOR_H */
