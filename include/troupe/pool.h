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
 *
 * Life of a pool handle: it belongs to its runtime. trp_pool_destroy()
 * stops the pool's threads but does not free the handle: until the runtime
 * is destroyed, calls with a destroyed pool are detected and refused with
 * TRP_EDEAD (trp_pool_submit, and trp_pool_destroy again), also when they
 * race the destroy. trp_runtime_destroy() stops and frees every pool of
 * the runtime, destroyed or not (a pool need not be destroyed first);
 * from then on the handle is freed memory and no pool call may use it, as
 * with free(): that misuse is not detected. A destroyed pool keeps a small
 * block (its struct and its threads' handles, no thread) until the runtime
 * goes, so create pools for the runtime's life rather than per task.
 * Futures of a pool's submissions are independent of it and outlive both.
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
 * Starts a pool of @p threads threads (1..64) in @p rt; *out receives its
 * handle, valid until @p rt is destroyed (see above).
 * Threads: any. Errors: TRP_EINVAL (rt or out NULL, threads out of range),
 * TRP_ENOMEM, TRP_ESYSTEM (a thread could not be started), TRP_ESHUTDOWN.
 */
TRP_API int trp_pool_create(trp_runtime_t *rt, uint32_t threads,
			    trp_pool_t **out);

/**
 * Runs fn(arg) on one of the pool's threads; *out receives the future of
 * its result (the caller releases it). A submission accepted before
 * trp_pool_destroy() runs; one the runtime's destroy finds still queued
 * completes its future with TRP_EDEAD. On error no future is made and fn
 * does not run.
 * Threads: any (not after trp_runtime_destroy() of the pool's runtime).
 * Errors: TRP_EINVAL (pool, fn or out NULL), TRP_EDEAD (the pool was
 * destroyed, also by a trp_pool_destroy() racing this call), TRP_ENOMEM,
 * TRP_EFULL (the pool thread's mailbox is full: the runtime's
 * mailbox_limit bounds it), TRP_ESHUTDOWN (the runtime is being
 * destroyed).
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
 * Closes the pool after the functions already submitted and waits for its
 * threads to finish them; later submissions get TRP_EDEAD. The handle
 * stays valid (not freed) until the runtime is destroyed.
 * Threads: any but the pool's own (not after trp_runtime_destroy() of the
 * pool's runtime). Errors: TRP_EINVAL (NULL), TRP_EDEAD (destroyed
 * already, or being destroyed by another thread), TRP_EDEADLK (called from
 * one of the pool's own threads: nothing is done).
 */
TRP_API int trp_pool_destroy(trp_pool_t *pool);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_POOL_H */
