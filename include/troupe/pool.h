/*
 * troupe/pool.h - worker pools: run a function elsewhere and get its result
 * through a future (the seeds' Worker.submit(func, *args) and Result).
 *
 * A pool is a set of thread actors of its own (not the runtime's workers):
 * the functions it runs may block (I/O, locks, sleeps) without stalling a
 * worker. Submissions go round-robin to the pool's threads; each runs its
 * queue in order.
 *
 * The function returns 0 and a result pointer, or a negative TRP_E* style
 * error which becomes the future's status. The reply's payload is the
 * result pointer itself (sizeof(void *) bytes): read it with
 * trp_pool_result(). Ownership of what it points to is the caller's
 * business.
 */
#ifndef TROUPE_POOL_H
#define TROUPE_POOL_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trp_pool trp_pool_t;

/** A pool function: *result is what the future carries (status 0). */
typedef int (*trp_pool_fn)(void *arg, void **result);

/**
 * Starts a pool of @p threads threads (1..64) in @p rt.
 * Threads: any. Errors: TRP_EINVAL, TRP_ENOMEM, TRP_ESYSTEM, TRP_ESHUTDOWN.
 */
TRP_API int trp_pool_create(trp_runtime_t *rt, uint32_t threads,
			    trp_pool_t **out);

/**
 * Runs fn(arg) on one of the pool's threads; *out receives the future of
 * its result (the caller releases it). A pool closed or destroyed before
 * the function ran completes the future with TRP_EDEAD.
 * Threads: any. Errors: TRP_EINVAL, TRP_ENOMEM, TRP_EDEAD (pool closed).
 */
TRP_API int trp_pool_submit(trp_pool_t *pool, trp_pool_fn fn, void *arg,
			    trp_future_t **out);

/**
 * The result pointer of a pool submission's outcome: @p reply is what
 * trp_future_wait() returned, or the message trp_future_then() delivered.
 * Returns 0 and sets *result, or the outcome's error status (*result set
 * to NULL), or TRP_EINVAL (NULL arguments, or a successful reply whose
 * payload is not a pointer: not a pool result).
 */
TRP_API int trp_pool_result(const trp_msg_t *reply, void **result);

/**
 * Closes the pool after the functions already submitted, waits for its
 * threads and frees it. Threads: any but the pool's own. Errors:
 * TRP_EINVAL.
 */
TRP_API int trp_pool_destroy(trp_pool_t *pool);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_POOL_H */
