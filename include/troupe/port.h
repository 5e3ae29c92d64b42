/*
 * troupe/port.h - ports: actor addresses drained by an event loop.
 *
 * A port is an actor whose messages are handled on a thread the
 * application owns - the thread of its event loop (epoll, libuv, a GUI
 * loop) - instead of the runtime's workers. Its handle is an ordinary
 * trp_actor_t, so everything that takes an actor takes a port: trp_send(),
 * trp_register() and trp_send_named(), exchange sinks (trp_sink_actor()),
 * trp_ask() (the handler replies with trp_reply()), trp_monitor() and
 * trp_link() (on either side), trp_actor_close() and trp_actor_kill().
 *
 * The loop watches the port's file descriptor (trp_port_fd(): an eventfd)
 * for readability and calls trp_port_drain() on the loop thread when it is
 * readable; the drain runs the handler for the waiting messages, one at a
 * time, in order (per-sender FIFO as for every actor).
 *
 *     int fd = trp_port_fd(port);              // add to epoll: EPOLLIN|EPOLLET
 *     ...
 *     case fd readable:
 *             rc = trp_port_drain(port, 256);  // >= 0: messages handled
 *             if (rc == TRP_ECLOSED) {         // the port has stopped
 *                     epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
 *                     trp_actor_release(port); // closes the fd
 *             }
 *
 * Readiness: the fd is signalled (one eventfd write) when a send finds the
 * port idle - the mailbox's own idle -> busy transition, so a burst of
 * sends costs one system call, not one per message - and again by a drain
 * that stops at its budget with mail left, or sees a send still in
 * progress. A drain clears the fd before it looks at the mailbox, and
 * marks the mailbox idle when it empties it (the next send signals again).
 * So whenever mail waits and no drain runs, the fd is readable: the port
 * behaves level-triggered, and it is safe under edge-triggered epoll
 * (EPOLLET) and one-shot registrations: one drain per readiness is
 * enough, no "drain until empty" loop is needed.
 *
 * One readiness is not one message. Readiness is coalesced: one signal
 * may stand for any number of messages (all sends of a burst), and a
 * readiness may find nothing left (a drain that ran in between took the
 * messages: it returns 0). Count messages in the handler, never
 * readiness events (libuv's uv_async_send coalesces the same way and
 * surprises users who count callbacks; ZeroMQ's edge-triggered ZMQ_FD
 * surprises those who drain too little - neither applies here).
 *
 * Threads: one drain of a port at a time. Drains may come from any thread
 * but the runtime's workers (TRP_EPERM: behaviours must not block on a
 * loop's work), normally always the same one, the loop thread; a second
 * drain that overlaps a running one, or a drain from the port's own
 * handler, is refused (TRP_EBUSY) without touching the mailbox.
 *
 * Inside the handler the message is handled as in a behaviour:
 * trp_reply() answers an ask, trp_request_take() takes the request. A
 * taken request is held by the port and answered (trp_request_reply(),
 * _fail(), _forward(), _release()) on the thread that took it: inside a
 * later drain or from any other callback of that loop; requests still
 * held when the port stops complete with TRP_EDEAD. Sends from the
 * handler are sends from an outside thread (enqueued before they
 * return). trp_actor_stop() and trp_actor_fail() are for event actors
 * (TRP_EPERM here): a handler that is done closes its port.
 *
 * Closing (trp_port_close(), the same as trp_actor_close()): sends that
 * begin after it get TRP_EDEAD; the messages sent before it are still
 * handled by the next drains, in order, as for any actor; the drain that
 * reaches the close stops the port (monitors get DOWN with
 * TRP_STOP_CLOSED, requests it holds complete with TRP_EDEAD) and returns
 * TRP_ECLOSED. So a close completes on the loop, as libuv's uv_close()
 * completes in its close callback: keep draining until TRP_ECLOSED. To
 * stop at once without handling the backlog, kill it (trp_actor_kill():
 * TRP_STOP_KILLED, the backlog dead-lettered TRP_DEAD_KILLED, links
 * propagate it); the next drain stops it. A port closed but never drained
 * again keeps its mail until the runtime is destroyed.
 *
 * After the port stops, trp_port_drain() returns TRP_ECLOSED and the fd
 * stays readable, so a loop waiting on it learns of the stop whoever
 * stopped it. The fd stays open until the last reference to the port is
 * released: a loop can remove it from its poll set after TRP_ECLOSED
 * without racing a reuse of the descriptor number. Never read, write or
 * close it yourself (a read would swallow a wake-up).
 *
 * trp_runtime_destroy() stops every open port while the workers still
 * run: it waits for a drain in progress to return, stops the port
 * (TRP_STOP_SHUTDOWN; its queued messages become dead letters,
 * TRP_DEAD_SHUTDOWN, requests TRP_EDEAD) and signals its fd; later drains
 * return TRP_ECLOSED. Call it from the loop thread, or once the loop no
 * longer answers requests its ports hold. trp_runtime_wait_idle() does
 * not wait for ports: their mail waits for their loops.
 *
 * Accounting: a handled message counts as processed (trp_stats_t), so
 * sent == processed + dead_lettered holds once the ports are drained. The
 * mailbox bound is the runtime's default (trp_config_t.mailbox_limit);
 * actors that send to a port which falls behind are muted like senders
 * to any overloaded actor, until the loop catches up.
 */
#ifndef TROUPE_PORT_H
#define TROUPE_PORT_H

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Opens a port: an actor whose messages @p handler handles, with @p state
 * as its state argument, on the thread that calls trp_port_drain(). The
 * port starts idle (its fd not readable). @p state stays the caller's
 * (free it after the port stopped). *out receives a handle with one
 * reference, which the caller releases with trp_actor_release() once its
 * loop is done with the port (that also closes the fd).
 * Threads: any. Errors: TRP_EINVAL (rt, handler or out NULL), TRP_ENOMEM,
 * TRP_ESYSTEM (no eventfd: the process is out of descriptors),
 * TRP_ESHUTDOWN.
 */
TRP_API int trp_port_open(trp_runtime_t *rt, trp_behavior_fn handler,
			  void *state, trp_actor_t **out);

/**
 * The port's file descriptor (an eventfd, EFD_NONBLOCK | EFD_CLOEXEC):
 * poll it for readability (EPOLLIN, edge- or level-triggered), never read,
 * write or close it. Valid while a reference to the port is held, also
 * after the port stopped. Threads: any.
 * Returns the descriptor (>= 0), or TRP_EINVAL (NULL, not a port).
 */
TRP_API int trp_port_fd(const trp_actor_t *port);

/**
 * Handles the port's waiting messages on the calling thread: clears the
 * fd, then runs the handler for each message in order, taking at most
 * @p budget of them; signals the fd again if mail is left, or marks the
 * port idle when it emptied its mailbox (see "Readiness" above). Call it
 * when the fd is readable; a call at any other time is harmless.
 * The caller holds a reference to @p port for the whole call.
 * Threads: any but a worker of the port's runtime; one drain of a port at
 * a time.
 * Returns the number of messages handled (>= 0; a DOWN voided by
 * trp_demonitor() counts against the budget but is not handled), or:
 * TRP_ECLOSED (the port has stopped - during this drain, which then
 * handled every message sent before the close, or before it - or the
 * runtime is being destroyed: the handler will not run again),
 * TRP_EBUSY (another drain of this port is running, maybe this very
 * thread's: called from the handler), TRP_EPERM (called on a worker of
 * the runtime), TRP_EINVAL (NULL, not a port, @p budget 0).
 */
TRP_API int trp_port_drain(trp_actor_t *port, uint32_t budget);

/**
 * Closes the port after the messages already sent to it (trp_actor_close()
 * on a port): sends that begin after this returns get TRP_EDEAD; the next
 * drains handle what was sent before, and the one that reaches the close
 * stops the port (DOWN reason TRP_STOP_CLOSED) and returns TRP_ECLOSED.
 * Closing twice is harmless (0). The handle, and the fd, stay valid until
 * released. Threads: any, also the port's own handler.
 * Errors: TRP_EINVAL (NULL, not a port), TRP_EDEAD (stopped already),
 * TRP_ESHUTDOWN (the runtime is being destroyed).
 */
TRP_API int trp_port_close(trp_actor_t *port);

/** True if @p a is a port (trp_port_open()). Threads: any. */
TRP_API bool trp_actor_is_port(const trp_actor_t *a);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_PORT_H */
