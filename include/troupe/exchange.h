/*
 * troupe/exchange.h - exchanges: named publish/subscribe hubs.
 *
 * An exchange forwards every message published to it to all its
 * subscribers, so publishers never address subscribers directly (the seeds'
 * Exchange). A subscriber is a *sink*: anything with a "send" - an actor, a
 * callback run in the publisher's context, or a tap that counts and prints
 * every message to a FILE (the seeds' DisplayMessages, for debugging).
 *
 * Publishing takes no lock and writes no shared memory besides the
 * deliveries and the exchange's counters: the subscriber set is an
 * immutable array read inside an epoch section (RCU). Attach and detach copy
 * the array with the change, swap it in and free the old one after a grace
 * period; they are serialized per exchange and may block briefly. (The
 * one exception on the publish side: a publish that finds a stopped actor
 * sink detaches it the same way, see below.)
 *
 * Membership: a sink receives every message published after its attach
 * returned, and none published after its detach returned. When detach
 * returns, the exchange no longer touches the sink: a callback's context
 * may be freed at once, and every delivery to an actor sink is in its
 * mailbox (a message sent to it after detach returned comes after them).
 *
 * When deliveries leave: from a behaviour, a publish's deliveries to actor
 * sinks are sent with the turn's other messages - the turn's publishes to
 * one exchange are written once and every sink gets them together, and
 * they reach the mailboxes at the latest when the turn ends, in publish
 * order and in order with the turn's other messages to the same actor.
 * From any other thread they are in their mailboxes when the call
 * returns. Callback and tap sinks are always called during the publish
 * call. So a detach from another thread may wait for a publishing
 * behaviour's turn to end (one more reason for behaviours not to block);
 * attach and detach called by that behaviour itself first send what its
 * turn held back, and do not wait for their own turn. A sink is attached to one exchange at most once:
 * attaching the same sink again (same kind and same target: the same
 * actor, the same callback fn with the same ctx, the same tap) is refused
 * with TRP_EEXIST rather than delivering every message to it twice. The
 * same target on different exchanges, or a callback fn with another ctx,
 * is another sink.
 *
 * Stopped actors leave by themselves (as in Erlang's pg): when a delivery
 * finds an actor sink's actor stopped or stopping (trp_actor_close was
 * called, so sends get TRP_EDEAD), that delivery is counted in
 * dropped_dead and the sink is detached without a trp_exchange_detach
 * call - by the publish that found it, before that publish returns
 * (which then waits for a grace period once, as detach does), or, if
 * that publish runs inside a callback sink (where it cannot wait), by the
 * next publish that finds it; every attach and detach also drops the
 * stopped sinks it finds. From then on stats.subscribers no longer counts
 * it, the exchange has dropped its reference to the actor, and
 * trp_exchange_detach() of its id returns TRP_ENOENT. Subscription ids
 * are never reused. Callback and tap sinks are only detached explicitly.
 *
 * Lifetime: exchange handles are reference-counted. trp_exchange_get()
 * returns the runtime's named exchange (created on first use; the same name
 * always gives the same exchange until the runtime is destroyed) with a new
 * reference; trp_exchange_create() makes an anonymous one. Release every
 * reference with trp_exchange_release(). trp_exchange_close() detaches
 * every sink and makes further publish and attach calls fail with
 * TRP_ECLOSED; the last release of an anonymous exchange closes it, and
 * trp_runtime_destroy() closes every exchange of the runtime. A handle stays
 * valid (calls return errors, never touch freed memory) until released.
 *
 * Threads: every function may be called from any thread, including
 * behaviours, except that attach, detach, close and the scope helpers wait
 * for a grace period and must not be called from a callback sink or while
 * a publish is running on the same thread.
 */
#ifndef TROUPE_EXCHANGE_H
#define TROUPE_EXCHANGE_H

#include <stdio.h>

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trp_exchange trp_exchange_t;

/** Identifies one attachment of a sink; never reused by an exchange. */
typedef uint64_t trp_sub_t;

/** Callback sink: runs in the publisher's thread, must not block long. */
typedef void (*trp_sink_fn)(void *ctx, const trp_msg_t *msg);

/** A tap: counts and prints every message it receives. See trp_tap_init. */
typedef struct trp_tap {
	FILE *out;		  /**< where to print; NULL counts only */
	const char *label;	  /**< printed before each message */
	unsigned long long count; /**< messages seen (read with
				       trp_tap_count) */
} trp_tap_t;

/** Kinds of sink. */
typedef enum trp_sink_kind {
	TRP_SINK_ACTOR = 1,    /**< trp_send to an actor (copy) */
	TRP_SINK_CALLBACK = 2, /**< fn(ctx, msg) in the publisher's thread */
	TRP_SINK_TAP = 3,      /**< count and print */
} trp_sink_kind_t;

/** A subscriber. Build one with trp_sink_actor/_callback/_tap. */
typedef struct trp_sink {
	trp_sink_kind_t kind;
	trp_actor_t *actor; /**< TRP_SINK_ACTOR */
	trp_sink_fn fn;	    /**< TRP_SINK_CALLBACK */
	void *ctx;	    /**< TRP_SINK_CALLBACK */
	trp_tap_t *tap;	    /**< TRP_SINK_TAP */
} trp_sink_t;

/** Counters of one exchange (approximate while publishes run). */
typedef struct trp_exchange_counters {
	uint64_t published;	/**< publish calls that reached the sinks */
	uint64_t delivered;	/**< deliveries accepted by their sink */
	uint64_t dropped_full;	/**< deliveries refused: mailbox full */
	uint64_t dropped_dead;	/**< deliveries refused: actor stopped (the
				     sink is then detached) */
	uint64_t dropped_other; /**< deliveries refused: out of memory or
				     runtime shut down */
	uint32_t subscribers;	/**< sinks attached now */
} trp_exchange_stats_t;

/** Sink that sends each message to @p a (the exchange keeps a reference
 * while attached). */
static inline trp_sink_t trp_sink_actor(trp_actor_t *a)
{
	trp_sink_t s = { TRP_SINK_ACTOR, a, NULL, NULL, NULL };
	return s;
}

/** Sink that calls fn(ctx, msg) in the publisher's thread. */
static inline trp_sink_t trp_sink_callback(trp_sink_fn fn, void *ctx)
{
	trp_sink_t s = { TRP_SINK_CALLBACK, NULL, fn, ctx, NULL };
	return s;
}

/** Sink that counts and prints into @p tap (owned by the caller, which
 * must keep it alive until detached). */
static inline trp_sink_t trp_sink_tap(trp_tap_t *tap)
{
	trp_sink_t s = { TRP_SINK_TAP, NULL, NULL, NULL, tap };
	return s;
}

/** Prepares a tap printing to @p out (NULL: count only) with @p label. */
TRP_API void trp_tap_init(trp_tap_t *tap, FILE *out, const char *label);
/** Messages the tap has seen. Threads: any. */
TRP_API unsigned long long trp_tap_count(const trp_tap_t *tap);

/**
 * The exchange named @p name, created on first use; *out holds a new
 * reference. Names follow the rules of troupe/names.h (1 to TRP_NAME_MAX
 * bytes); exchange names and actor names are separate namespaces.
 * Errors: TRP_EINVAL, TRP_ENAMETOOLONG, TRP_ENOMEM, TRP_ESHUTDOWN.
 */
TRP_API int trp_exchange_get(trp_runtime_t *rt, const char *name,
			     trp_exchange_t **out);

/** A new anonymous exchange; *out holds the only reference.
 * Errors: TRP_EINVAL, TRP_ENOMEM, TRP_ESHUTDOWN. */
TRP_API int trp_exchange_create(trp_runtime_t *rt, trp_exchange_t **out);

/** Adds a reference; returns @p ex. */
TRP_API trp_exchange_t *trp_exchange_retain(trp_exchange_t *ex);

/** Drops a reference. The last one of an anonymous exchange closes it. */
TRP_API void trp_exchange_release(trp_exchange_t *ex);

/**
 * Detaches every sink and refuses further attach/publish (TRP_ECLOSED).
 * A named exchange stays closed under its name until the runtime is
 * destroyed. Errors: TRP_EINVAL, TRP_ECLOSED (already closed), TRP_EDEADLK
 * (called from a callback sink).
 */
TRP_API int trp_exchange_close(trp_exchange_t *ex);

/**
 * Attaches @p sink; *sub (if not NULL) receives its id for detach (on
 * error it is left alone).
 * Errors: TRP_EINVAL (ex NULL, bad sink, actor of another runtime),
 * TRP_EDEAD (actor stopped), TRP_EEXIST (this sink is attached to @p ex
 * already, see "Membership"), TRP_ECLOSED, TRP_ENOMEM, TRP_ESHUTDOWN,
 * TRP_EDEADLK (called from a callback sink).
 */
TRP_API int trp_exchange_attach(trp_exchange_t *ex, trp_sink_t sink,
				trp_sub_t *sub);

/**
 * Detaches the sink attached as @p sub. When it returns, no publish will
 * deliver to the sink any more and the exchange does not touch it again.
 * Errors: TRP_EINVAL, TRP_ENOENT (not attached: never, detached already,
 * or detached automatically because its actor stopped - see above; the
 * sink is gone either way), TRP_ENOMEM, TRP_EDEADLK (called from a
 * callback sink).
 */
TRP_API int trp_exchange_detach(trp_exchange_t *ex, trp_sub_t sub);

/**
 * Delivers one copy of the payload to every attached sink. Large payloads
 * (over TRP_EXCHANGE_SHARE_MIN bytes) are copied once and shared by the
 * actor sinks (reference-counted). A delivery refused by its sink (mailbox
 * full, actor stopped) is counted in the exchange's stats, never silently
 * lost; publish still returns 0. Deliveries to actor sinks leave as
 * "When deliveries leave" says (at once from outside threads, with the
 * turn's messages from a behaviour). Takes no lock and never waits, except
 * that a publish which found a stopped actor sink detaches it before
 * returning (a lock and one grace period; not when called from a callback
 * sink, see "Stopped actors leave by themselves"). A publish from an
 * outside thread yields the processor once for each actor sink it finds
 * far behind (4096 messages or more queued) before it returns, so that
 * on a busy machine the workers get to run: the mild form, for a thread,
 * of the muting of a behaviour that sends to an overloaded actor; it
 * waits for nothing. While a thread publishes (during a call, and for
 * 50 us after it if its calls come less than 20 us apart), the runtime
 * counts it as busy on a CPU of its own and wakes no more workers than
 * leave it one, unless the subscribers fall far behind: a thread that
 * publishes in a loop on a machine with as many CPUs as workers is served
 * by one worker fewer, instead of being time-sliced with them.
 * Errors: TRP_EINVAL, TRP_EMSGSIZE, TRP_ECLOSED, TRP_ENOMEM (the shared
 * copy, or the calling thread's first read section), TRP_ESHUTDOWN (from
 * a thread that is not a worker of the runtime, once its destroy began;
 * the handle stays valid, publish keeps returning an error).
 */
TRP_API int trp_exchange_publish(trp_exchange_t *ex, uint32_t type,
				 const void *data, size_t len);

/**
 * Publishes @p n messages of type @p type in a row: message k is the
 * @p len bytes at (const char *)items + k * len. Every sink receives all
 * n or none of them (one membership snapshot for the whole call), in
 * order, exactly as from n trp_exchange_publish() calls. Cheaper when len
 * is small (up to 240 bytes) and n > 1: each actor sink gets the n
 * messages packed together and enqueued with one atomic operation,
 * instead of n separate messages, and two or more actor sinks share one
 * read-only copy of them (reference-counted). Callback and tap sinks are called once
 * per message. All its deliveries are in their mailboxes when the call
 * returns, also from a behaviour (the turn's earlier publishes leave
 * first); n == 0 publishes nothing and returns 0.
 * Errors: as trp_exchange_publish(); TRP_EINVAL also for n > UINT32_MAX.
 * On TRP_ENOMEM for a shared copy (large payloads only) the messages
 * before the failing one were published.
 */
TRP_API int trp_exchange_publish_n(trp_exchange_t *ex, uint32_t type,
				   const void *items, size_t len, size_t n);

/** Payloads larger than this are shared between actor sinks. */
#define TRP_EXCHANGE_SHARE_MIN 256u

/** Fills @p out. Errors: TRP_EINVAL. */
TRP_API int trp_exchange_stats(trp_exchange_t *ex, trp_exchange_stats_t *out);

/* ---- scoped subscriptions (the seeds' `with exc.subscribe(a, b):`) ---- */

/** Most sinks one scope attaches. */
#define TRP_EXCHANGE_SCOPE_MAX 16

/** Sinks attached together and detached together. */
typedef struct trp_exchange_scope {
	trp_exchange_t *ex;
	int rc;	    /**< 0, or why nothing was attached */
	uint32_t n; /**< sinks attached */
	trp_sub_t subs[TRP_EXCHANGE_SCOPE_MAX];
} trp_exchange_scope_t;

/**
 * Attaches the @p n sinks, all or none (scope.rc tells: TRP_EINVAL for
 * n == 0 or n > TRP_EXCHANGE_SCOPE_MAX, TRP_EEXIST for a sink given twice
 * or attached already, or the first error of trp_exchange_attach()).
 */
TRP_API trp_exchange_scope_t trp_exchange_scope_enter(trp_exchange_t *ex,
						      const trp_sink_t *sinks,
						      uint32_t n);
/** Detaches what the scope attached (idempotent). */
TRP_API void trp_exchange_scope_exit(trp_exchange_scope_t *scope);

#if defined(__GNUC__) && !defined(__cplusplus)
/**
 * Attaches the sinks for the rest of the enclosing block and detaches them
 * automatically when the block is left (any way but longjmp):
 *
 *     {
 *             TRP_EXCHANGE_SCOPE(sub, ex, trp_sink_actor(a),
 *                                trp_sink_actor(b));
 *             if (sub.rc != 0) ...;
 *             trp_exchange_publish(ex, ...);
 *     }       // detached here
 */
#define TRP_EXCHANGE_SCOPE(var, ex, ...)                                       \
	__attribute__((cleanup(trp_exchange_scope_exit)))                      \
	trp_exchange_scope_t var = trp_exchange_scope_enter(                   \
		(ex), (const trp_sink_t[]){ __VA_ARGS__ },                     \
		(uint32_t)(sizeof((const trp_sink_t[]){ __VA_ARGS__ }) /       \
			   sizeof(trp_sink_t)))
#endif

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_EXCHANGE_H */
