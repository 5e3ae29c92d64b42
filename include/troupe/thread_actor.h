/*
 * troupe/thread_actor.h - actors backed by a thread of their own (the seeds'
 * Actor with start/recv/close/join), for code that wants a blocking receive
 * loop.
 *
 * A thread actor has the same handle type as any actor: anything can send
 * to it, it can send to any actor, it can subscribe to exchanges, close it
 * with trp_actor_close(). Its function runs on its own thread and receives
 * with trp_recv(), which parks on a futex while the mailbox is empty (the
 * same idle tag as other mailboxes: a send to a parked thread actor wakes
 * it, nothing spins). When the function returns, the actor stops; messages
 * still queued become dead letters.
 *
 * trp_runtime_destroy() closes every thread actor still running and joins
 * its thread: thread functions must return once trp_recv() says
 * TRP_ECLOSED (a `while (trp_recv(self, -1, &m) == 0)` loop does).
 */
#ifndef TROUPE_THREAD_ACTOR_H
#define TROUPE_THREAD_ACTOR_H

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The thread's function; the actor stops when it returns. */
typedef void (*trp_thread_fn)(trp_actor_t *self, void *arg);

/**
 * Starts @p fn(self, arg) on a new thread. *out (may be NULL) receives a
 * handle with one reference the caller must release.
 * Threads: any. Errors: TRP_EINVAL, TRP_ENOMEM, TRP_ESYSTEM (no thread),
 * TRP_ESHUTDOWN.
 */
TRP_API int trp_thread_actor_spawn(trp_runtime_t *rt, trp_thread_fn fn,
				   void *arg, trp_actor_t **out);

/**
 * Receives the next message, waiting up to @p timeout_ns (< 0: forever, 0:
 * poll). *msg stays valid until the next trp_recv() on this actor or until
 * its function returns. Returns 0, TRP_ETIMEDOUT, TRP_ECLOSED (closed and
 * every message sent before the close received), TRP_EPERM (@p self is not
 * the calling thread's own thread actor), TRP_EINVAL.
 */
TRP_API int trp_recv(trp_actor_t *self, int64_t timeout_ns,
		     const trp_msg_t **msg);

/**
 * Waits until the thread actor's function has returned, up to
 * @p timeout_ns (< 0: forever). Threads: any but the actor's own.
 * Errors: TRP_EINVAL (not a thread actor), TRP_EDEADLK (own thread),
 * TRP_ETIMEDOUT.
 */
TRP_API int trp_actor_join(trp_actor_t *a, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_THREAD_ACTOR_H */
