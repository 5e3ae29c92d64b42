/*
 * troupe/future.h - request/reply: ask an actor, get a future.
 *
 * trp_ask() sends a request; the receiver's behaviour answers it with
 * trp_reply(msg, ...). The asker gets a future that completes exactly once:
 * with the reply (status 0), with TRP_EDEAD if the receiver stops (or was
 * stopped) before replying, with TRP_ENOREPLY if its behaviour returned
 * without replying or taking the request (below), or with TRP_ETIMEDOUT if
 * a waiter's timeout expired first. A reply that comes after completion is
 * a dead letter (TRP_DEAD_LATE_REPLY: the hook sees it, trp_stats_t counts
 * it as sent and dead-lettered) and is dropped.
 *
 * Waiting blocks, so it is for threads outside the runtime (and thread
 * actors): inside a behaviour trp_future_wait() refuses with TRP_EDEADLK.
 * Actors use trp_future_then(), which delivers the outcome as a message.
 *
 * References: trp_ask() hands the caller one reference to the future;
 * trp_future_release() drops it. The reply data a future holds lives as
 * long as the future. Using a future after its last release is undefined,
 * as with free(): the memory is gone and no call can detect it.
 *
 * Timeouts: < 0 waits forever, 0 polls (and expires a pending future),
 * > 0 is relative in nanoseconds (any int64_t value is valid).
 *
 * Deferred replies and forwarding (trp_request_*): a behaviour that cannot
 * answer at once (it asks someone else first, or lets another actor
 * answer) takes the request out of its message with trp_request_take()
 * and holds it as a trp_request_t. The holder later answers it
 * (trp_request_reply(), trp_request_fail()), drops it
 * (trp_request_release(): TRP_ENOREPLY), or forwards it to another actor
 * (trp_request_forward()), whose answer completes the asker's future and
 * who may take and forward it in turn. Every request an actor still holds
 * when it stops completes with TRP_EDEAD. So the asker's future completes
 * exactly once, whoever ends up answering. An answer the future no longer
 * waits for (a waiter timed out) follows trp_reply()'s rule: a late reply
 * or failure is a dead letter (TRP_DEAD_LATE_REPLY).
 *
 * Threads: a held request is answered by its holder only: inside the
 * holder's behaviours and hooks (any later turn, on whichever worker runs
 * it), on a thread actor's own thread, or for a port (port.h) on the
 * thread that took it, its loop's. So a holder never races its own
 * stop and no handle is used after the runtime freed it. A thread that is
 * not the holder gets the request forwarded to it instead (a thread actor
 * takes it from trp_recv()). Calls from anywhere else return TRP_EPERM and
 * leave the request held. A stop hook at shutdown (TRP_STOP_SHUTDOWN), or
 * one that runs on another thread than the actor's turns, is not the
 * holder: its answers return TRP_EPERM and the requests complete with
 * TRP_EDEAD.
 *
 * Ownership: a trp_request_t is its holder's until a call consumes it.
 * Reply, fail and forward consume it when they return 0; on error nothing
 * happened: the request stays held, the handle stays valid, and the holder
 * may try again or answer another way (a forward to an actor that stopped
 * may be answered by the holder itself). Release always consumes it (when
 * called by the holder). When the holder stops, after its stop hook, the
 * runtime answers TRP_EDEAD and frees every handle it still holds: keep
 * none past that.
 */
#ifndef TROUPE_FUTURE_H
#define TROUPE_FUTURE_H

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trp_future trp_future_t;

/** A request taken out of its message (trp_request_take()). */
typedef struct trp_request trp_request_t;

/**
 * Sends a copy of the payload to @p to as a request; *out receives a future
 * for the reply (one reference, the caller's).
 * Threads: any. Errors: those of trp_send(), TRP_EINVAL (out NULL); on
 * error no future is made.
 */
TRP_API int trp_ask(trp_actor_t *to, uint32_t type, const void *data,
		    size_t len, trp_future_t **out);

/**
 * Answers the request @p request (the message a behaviour received) with a
 * copy of the payload; completes the asker's future.
 * Threads: the behaviour that received @p request, during that call.
 * Errors: TRP_EINVAL (NULL, or data NULL with len > 0), TRP_ENOTREQUEST
 * (not a request), TRP_EANSWERED (replied already), TRP_EMSGSIZE. A reply
 * that comes too late (the future completed already: a waiter timed out)
 * returns 0 and becomes a dead letter (TRP_DEAD_LATE_REPLY). A reply the
 * future has no memory to keep (over 32 bytes, allocation failed) returns
 * 0 too: the request is answered, and the asker's future completes with
 * TRP_ENOMEM instead of the payload.
 */
TRP_API int trp_reply(const trp_msg_t *request, const void *data, size_t len);

/**
 * Waits until @p f completes or @p timeout_ns passes (< 0: forever; 0:
 * poll). On expiry the future completes with TRP_ETIMEDOUT. Returns the
 * future's status: 0 (replied), TRP_EDEAD, TRP_ENOREPLY, TRP_ETIMEDOUT,
 * TRP_ENOMEM (the reply could not be kept, see trp_reply()), or for a
 * pool submission the function's own error (pool.h); or TRP_EINVAL,
 * TRP_EDEADLK (called on a worker thread).
 * @p reply (may be NULL) receives the reply message (type of the request,
 * the reply's size and data; status 0) when the status is 0, valid until
 * the future is released.
 * The calling thread polls the future for a short adaptive window (at most
 * 20 us, 2 us once its replies are slow) before it sleeps, so a fast reply
 * costs neither side a system call.
 */
TRP_API int trp_future_wait(trp_future_t *f, int64_t timeout_ns,
			    const trp_msg_t **reply);

/**
 * Delivers the future's outcome to @p actor as a message of type @p type:
 * the reply's payload with msg->status 0, or no payload with msg->status
 * set to the error. Immediately if already complete. At most one
 * continuation per future. The future keeps a reference to @p actor until
 * then. An outcome delivered later to an actor that has stopped meanwhile
 * is a dead letter (TRP_DEAD_STOPPED, counted as sent and dead-lettered).
 * Threads: any. Errors: TRP_EINVAL, TRP_EBUSY (a continuation is set
 * already), and when delivering at once, those of trp_send().
 */
TRP_API int trp_future_then(trp_future_t *f, trp_actor_t *actor, uint32_t type);

/**
 * Takes ownership of the request @p request, the message being handled on
 * this thread: the runtime no longer answers it TRP_ENOREPLY when the
 * behaviour returns, and *out receives a handle held by the calling actor
 * (see "Deferred replies" above). trp_reply() on @p request then returns
 * TRP_EANSWERED. The handle does not keep the message: copy what you need
 * of its payload before the behaviour returns.
 * Threads: the behaviour handling @p request, a port's handler handling
 * it, or a thread actor's own thread between the trp_recv() that returned
 * it and the next one.
 * Errors (nothing is taken; unless the behaviour replies, the request is
 * answered TRP_ENOREPLY as usual): TRP_EINVAL (NULL), TRP_ENOTREQUEST
 * (not a request; also for any pointer from a start or stop hook, or while
 * a behaviour handles a message that came batched with others of its
 * sender's turn, which is never a request), TRP_EANSWERED (replied to or
 * taken already), TRP_EPERM (another message is being handled on this
 * thread, or the thread runs no behaviour or receive loop), TRP_ENOMEM.
 */
TRP_API int trp_request_take(const trp_msg_t *request, trp_request_t **out);

/**
 * Answers the held request @p r with a copy of the payload (as
 * trp_reply(): over 32 bytes the future may have no memory for it and
 * complete with TRP_ENOMEM) and consumes @p r. A reply that comes too late
 * (the future completed already) returns 0 and is a dead letter
 * (TRP_DEAD_LATE_REPLY).
 * Threads: the holder (see above).
 * Errors (the request stays held): TRP_EINVAL (@p r NULL, data NULL with
 * len > 0), TRP_EMSGSIZE, TRP_EPERM (not the holder).
 */
TRP_API int trp_request_reply(trp_request_t *r, const void *data, size_t len);

/**
 * Answers the held request @p r with the error @p status (< 0): the future
 * completes with it (trp_future_wait() returns it; a continuation gets it
 * in msg->status), and consumes @p r. Too late: 0 and a dead letter
 * (TRP_DEAD_LATE_REPLY, msg->status = @p status), as for a reply.
 * Threads: the holder.
 * Errors (the request stays held): TRP_EINVAL (@p r NULL, status >= 0),
 * TRP_EPERM (not the holder).
 */
TRP_API int trp_request_fail(trp_request_t *r, int status);

/**
 * Sends a copy of the payload to @p to as a new request of type @p type
 * whose answer completes the future @p r would have completed, and
 * consumes @p r. @p to may answer it with trp_reply(), take it, or forward
 * it again; if it stops first, the future completes with TRP_EDEAD (the
 * reply keeps the type of the original ask).
 * Threads: the holder.
 * Errors (the request stays held, unchanged): TRP_EINVAL (NULL, data NULL
 * with len > 0, @p to in another runtime), TRP_EPERM (not the holder), and
 * those of trp_send(): TRP_EMSGSIZE, TRP_EDEAD, TRP_EFULL, TRP_ENOMEM,
 * TRP_ESHUTDOWN.
 */
TRP_API int trp_request_forward(trp_request_t *r, trp_actor_t *to,
				uint32_t type, const void *data, size_t len);

/**
 * Drops the held request @p r without an answer: the future completes with
 * TRP_ENOREPLY (nothing happens if it completed already), and @p r is
 * consumed. NULL is ignored. Threads: the holder; anywhere else it does
 * nothing (the request stays held and completes with TRP_EDEAD when its
 * holder stops).
 */
TRP_API void trp_request_release(trp_request_t *r);

/** True once the future has completed (a snapshot). Threads: any. */
TRP_API bool trp_future_done(const trp_future_t *f);

/** Adds a reference; returns @p f. */
TRP_API trp_future_t *trp_future_retain(trp_future_t *f);

/** Drops a reference; the last frees the future and its reply. */
TRP_API void trp_future_release(trp_future_t *f);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_FUTURE_H */
