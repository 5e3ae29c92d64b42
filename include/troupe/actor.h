/*
 * troupe/actor.h - spawning actors, sending to them, stopping them.
 *
 * An actor is state plus a behaviour. The runtime calls the behaviour with
 * one message at a time (never concurrently for one actor); messages from
 * one sender to one receiver are processed in the order they were sent.
 *
 * Handles: trp_actor_t is reference-counted. The handle stays valid (memory
 * and all) while the caller holds a reference, even after the actor stopped:
 * a send to a stopped actor returns TRP_EDEAD and never touches freed memory.
 * An actor's life (whether it runs) does not depend on handles: it runs until
 * it stops itself, is closed, or the runtime is destroyed.
 *
 * Delivery contract: a message accepted by a send (return 0) is either
 * processed exactly once or handed exactly once to the runtime's dead-letter
 * hook and counted (trp_stats_t.dead_lettered). A send that returns an error
 * accepted nothing: the caller keeps its payload and no behaviour runs.
 *
 * Timing of sends made by a behaviour: the first message a behaviour sends
 * to a given receiver during one turn is enqueued at once; further messages
 * to the same receiver in that turn may be held back and enqueued together
 * (one atomic operation for up to 64 of them) no later than the end of the
 * turn. Order is unaffected. A behaviour that blocks waiting for a receiver
 * to process a second message it sent in the same turn may therefore wait
 * forever; behaviours should not block at all. Small messages a behaviour
 * sends to its own actor are kept by the worker and processed later in
 * the same turn, after the messages that were in the mailbox when the turn
 * began; those left when the turn ends are enqueued then. A behaviour's
 * exchange publishes are sent with its turn's messages too, in order with
 * them (see exchange.h, "When deliveries leave"). Sends from other
 * threads, and their exchange publishes, are always enqueued before the
 * call returns.
 */
#ifndef TROUPE_ACTOR_H
#define TROUPE_ACTOR_H

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest payload accepted by a send (64 MiB). */
#define TRP_MSG_MAX ((size_t)64 << 20)
/** Mailbox bound meaning "unbounded", overriding the runtime default. */
#define TRP_MAILBOX_UNBOUNDED UINT32_MAX

/**
 * Why an actor stopped; passed to its stop hook and carried by DOWN
 * messages (monitor.h). The values are stable: they will cross the wire
 * between nodes. NORMAL, CLOSED and SHUTDOWN are normal stops; the others
 * are abnormal (trp_stop_abnormal()): links propagate them.
 */
typedef enum trp_stop_reason {
	TRP_STOP_NORMAL = 1,   /**< the actor called trp_actor_stop() */
	TRP_STOP_CLOSED = 2,   /**< trp_actor_close() after its messages */
	TRP_STOP_SHUTDOWN = 3, /**< the runtime was destroyed */
	TRP_STOP_FAILED = 4,   /**< trp_actor_fail(); the code is the actor's */
	TRP_STOP_KILLED = 5,   /**< trp_actor_kill() */
	TRP_STOP_LINKED = 6,   /**< a linked actor stopped abnormally */
	TRP_STOP_NOPROC = 7,   /**< DOWN only: the target had stopped already
				    when it was monitored */
	TRP_STOP_NOCONNECTION = 8, /**< DOWN and exit messages only: the
					target's node became unreachable
					(nodes) */
} trp_stop_reason_t;

/** True for the reasons links propagate (not NORMAL, CLOSED, SHUTDOWN). */
static inline bool trp_stop_abnormal(trp_stop_reason_t why)
{
	return why != TRP_STOP_NORMAL && why != TRP_STOP_CLOSED &&
	       why != TRP_STOP_SHUTDOWN;
}

/** Behaviour: handles one message. Runs on a worker thread. */
typedef void (*trp_behavior_fn)(trp_actor_t *self, void *state,
				const trp_msg_t *msg);
/** Start hook: runs on a worker before the first message. */
typedef void (*trp_start_fn)(trp_actor_t *self, void *state);
/**
 * Stop hook: runs once, last, when the actor stops (the seeds' GeneratorExit
 * cleanup). It runs on a worker, or on the thread destroying the runtime
 * (reason TRP_STOP_SHUTDOWN; then also for an actor whose start hook never
 * got to run). Sends from it are allowed except at shutdown.
 */
typedef void (*trp_stop_fn)(trp_actor_t *self, void *state,
			    trp_stop_reason_t why);

/** Frees a buffer handed over by trp_send_owned(); may run on any thread. */
typedef void (*trp_free_fn)(void *buf);

/** What an actor is; see trp_actor_spawn(). */
typedef struct trp_actor_def {
	trp_behavior_fn behavior; /**< required */
	trp_start_fn start;	  /**< optional */
	trp_stop_fn stop;	  /**< optional */
	size_t state_size;	  /**< > 0: the runtime owns a state block of
				       this size (zeroed, or copied from the
				       spawn argument), freed with the actor */
	uint32_t mailbox_limit;	  /**< 0 = the runtime's default;
				       TRP_MAILBOX_UNBOUNDED = no bound */
} trp_actor_def_t;

/**
 * Spawns an actor.
 * @param def  its behaviour and hooks; copied, may be freed afterwards.
 * @param arg  if def->state_size > 0: NULL (zeroed state) or a block of
 *             state_size bytes copied into the actor's state before this
 *             call returns; else the state pointer itself, owned by the
 *             caller (free it in the stop hook if the actor owns it).
 * @param out  receives a handle holding one reference the caller must
 *             release with trp_actor_release(); may be NULL if the caller
 *             needs no handle.
 * Threads: any, including behaviours.
 * Errors: TRP_EINVAL, TRP_ENOMEM, TRP_ESHUTDOWN.
 */
TRP_API int trp_actor_spawn(trp_runtime_t *rt, const trp_actor_def_t *def,
			    void *arg, trp_actor_t **out);

/**
 * Sends a copy of @p len bytes at @p data (small payloads travel inline in
 * the message). The receiver is scheduled if it was idle.
 * Threads: any. Errors: TRP_EINVAL (to NULL, data NULL with len > 0),
 * TRP_EMSGSIZE (len > TRP_MSG_MAX), TRP_EDEAD (stopped or closing),
 * TRP_EFULL (bounded mailbox full), TRP_ENOMEM, TRP_ESHUTDOWN.
 */
TRP_API int trp_send(trp_actor_t *to, uint32_t type, const void *data,
		     size_t len);

/**
 * Zero-copy send: hands over @p buf; the runtime calls free_fn(buf) once,
 * after the behaviour returns or the message is dead-lettered, on whichever
 * thread that happens. On error the caller still owns @p buf and nothing
 * is freed.
 * free_fn NULL means the C library's free() as the application itself
 * calls it (the process's free, which pairs with the application's malloc,
 * calloc, realloc, aligned_alloc and posix_memalign), never an allocator
 * private to troupe: libtroupe.so keeps its own jemalloc to itself. A
 * buffer from anywhere else (operator new, a pool, mmap, another library's
 * allocator) needs its own free_fn.
 * Threads: any. Errors: as trp_send().
 */
TRP_API int trp_send_owned(trp_actor_t *to, uint32_t type, void *buf,
			   size_t len, trp_free_fn free_fn);

/**
 * Closes an actor after the messages already sent to it: they are
 * processed, then its stop hook runs (TRP_STOP_CLOSED). Sends that begin
 * after close returns get TRP_EDEAD. Closing twice is harmless (0).
 * Closing never allocates. Threads: any. Errors: TRP_EINVAL (NULL),
 * TRP_EDEAD (already stopped), TRP_ESHUTDOWN (the runtime is being
 * destroyed; from a thread that is not one of its workers).
 */
TRP_API int trp_actor_close(trp_actor_t *a);

/**
 * Stops the calling actor when its current behaviour returns; messages
 * still in its mailbox become dead letters. Threads: only inside @p self's
 * own behaviour or start hook. Errors: TRP_EINVAL (NULL), TRP_EPERM
 * (called anywhere else).
 */
TRP_API int trp_actor_stop(trp_actor_t *self);

/**
 * Fails the calling actor: C has no exceptions, so a behaviour that cannot
 * go on reports a failure and returns. When the behaviour (or start hook)
 * returns, the message it was handling becomes a dead letter
 * (TRP_DEAD_FAILED, counted as such, not as processed), the actor stops
 * with TRP_STOP_FAILED and @p code (trp_actor_exit_code()), its stop hook
 * runs, the rest of its mailbox becomes dead letters (TRP_DEAD_STOPPED),
 * monitors get DOWN(failed, code) and linked actors stop (monitor.h). A
 * supervisor restarts it (supervisor.h). Crashes inside a behaviour
 * (SIGSEGV, abort) are out of scope: they end the process, and a process
 * supervisor (systemd, Kubernetes) covers them.
 * Threads: only inside @p self's own behaviour or start hook.
 * Errors: TRP_EINVAL (NULL), TRP_EPERM (called anywhere else).
 */
TRP_API int trp_actor_fail(trp_actor_t *self, int32_t code);

/**
 * Kills an actor: it stops at once (an event actor at the end of the
 * message it may be running now, without taking another; a thread actor's
 * trp_recv() returns TRP_ECLOSED from its next call), with
 * TRP_STOP_KILLED; every message still queued becomes a dead letter
 * (TRP_DEAD_KILLED). Killing twice, or killing a closing actor, is
 * harmless (0). Threads: any. Errors: TRP_EINVAL (NULL), TRP_EDEAD
 * (already stopped), TRP_ESHUTDOWN (the runtime is being destroyed).
 */
TRP_API int trp_actor_kill(trp_actor_t *a);

/**
 * The number of messages waiting in @p a's mailbox: approximate (senders
 * and the consumer move it concurrently) and cheap (one load). Messages a
 * running turn holds back (actor.h, "Timing") are not counted yet.
 * Threads: any. 0 for NULL.
 */
TRP_API uint32_t trp_actor_mailbox_len(const trp_actor_t *a);

/**
 * The code an actor passed to trp_actor_fail(), or 0 (it did not fail, or
 * has not stopped yet). Meant for stop hooks. Threads: any.
 */
TRP_API int32_t trp_actor_exit_code(const trp_actor_t *a);

/** Adds a reference to @p a; returns @p a. Threads: any. */
TRP_API trp_actor_t *trp_actor_retain(trp_actor_t *a);

/** Drops a reference; the last one frees the handle. Threads: any. */
TRP_API void trp_actor_release(trp_actor_t *a);

/** True until the actor has stopped (a snapshot). Threads: any. */
TRP_API bool trp_actor_alive(const trp_actor_t *a);

/** A process-unique, never reused actor id (> 0). Threads: any. */
TRP_API uint64_t trp_actor_id(const trp_actor_t *a);

/** The runtime the actor belongs to. Threads: any. */
TRP_API trp_runtime_t *trp_actor_runtime(const trp_actor_t *a);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_ACTOR_H */
