/*
 * troupe/future.h - request/reply: ask an actor, get a future.
 *
 * trp_ask() sends a request; the receiver's behaviour answers it with
 * trp_reply(msg, ...). The asker gets a future that completes exactly once:
 * with the reply (status 0), with TRP_EDEAD if the receiver stops (or was
 * stopped) before replying, with TRP_ENOREPLY if its behaviour returned
 * without replying (replies cannot be deferred to a later message yet), or
 * with TRP_ETIMEDOUT if a waiter's timeout expired first. A reply that comes
 * after completion is a dead letter (TRP_DEAD_LATE_REPLY: the hook sees it,
 * trp_stats_t counts it as sent and dead-lettered) and is dropped.
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
 */
#ifndef TROUPE_FUTURE_H
#define TROUPE_FUTURE_H

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trp_future trp_future_t;

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
