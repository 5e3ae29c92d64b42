/*
 * core/actor.h - the actor object: its layout, its kind, its references and
 * its life cycle. The other actor-layer files each take one concept:
 *
 *   send.c          the send routes (trp_send and the internal entries)
 *   delivery.h/.c   pushing into a mailbox; draining a closed one
 *   outbox.h/.c     a turn's send batches to other actors
 *   self_send.h/.c  a turn's messages to its own actor
 *   backpressure.h/.c  muting senders of an overloaded actor
 *   turn.c          one turn of an event actor on a worker
 *   stop.c          close, stop, fail, kill, and stopping everything at
 *                   shutdown
 *
 * Life cycle: ALIVE -> (close requested) CLOSING -> STOPPED, and from
 * ALIVE or CLOSING -> (kill requested) KILLED -> STOPPED. KILLED makes the
 * consumer stop without taking another message (turn.c looks once per
 * node; a kill of an ALIVE actor pushes its close marker to wake it).
 * Only the consumer of the mailbox moves an actor to STOPPED (the worker running its
 * turn, a thread actor's thread, or the destroying thread once the workers
 * are joined). Stopping runs the stop hook, then drains the mailbox into
 * dead letters and leaves its head tagged CLOSED: a sender whose push finds
 * that tag (exactly one per closed period, as with the idle tag) becomes
 * the mailbox's consumer for a moment, dead-letters what it finds (taking
 * its own message back as TRP_EDEAD) and re-tags it (delivery.c). So a
 * stopped actor is never scheduled again, and no accepted message is ever
 * stranded.
 *
 * Kinds: an actor's kind (a row of struct trp__actor_kind) says how it is
 * woken when a push finds its mailbox idle and whether turns may batch
 * messages to it. Event actors (this layer) run turns on the workers;
 * thread actors (thread_actor.c) are consumed by a thread of their own,
 * ports (port.c) by whichever thread drains them, remote proxies
 * (node_proxy.c) are event actors with an admission check. Later kinds
 * (fibers) are rows, not new branches.
 *
 * References: the runtime holds one while the actor is not stopped, the
 * registry one while it has a name, and each handle one. The memory (and
 * the runtime struct, through rt->refs) lives until the last is dropped. A
 * running or queued actor is always ALIVE or CLOSING, so the runtime's
 * reference covers the run queues. A count never goes from 0 back to 1
 * (trp__actor_try_retain).
 *
 * Who may call: retain/release/try_retain and the accessors from any thread
 * (lock-free); trp__actor_create from any thread (takes the runtime's
 * actors lock, a cold path).
 */
#ifndef TRP_CORE_ACTOR_H
#define TRP_CORE_ACTOR_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "invariant.h"
#include "mailbox.h"
#include "troupe/actor.h"

struct trp_runtime;
struct trp__send_opts;
struct trp__actor_metrics;

/* How an actor of some kind is woken and fed; one static row per kind. */
struct trp__actor_kind {
	const char *name;
	/* A push found @a's mailbox idle (exactly one per idle period):
	 * make its consumer take it. Any thread. NULL for event actors,
	 * which trp__wake puts on a run queue without an indirect call. */
	void (*wake)(struct trp_runtime *rt, struct trp_actor *a);
	/* A turn may hold messages to it in its send batches (outbox.h),
	 * bundled: its consumer is a turn, which reads bundles. */
	bool batches;
	/* NULL, or a check of a send's payload length before it is
	 * accepted: 0, or the error the send returns (a remote proxy
	 * refuses what cannot fit a frame: TRP_EMSGSIZE). Consulted on the
	 * bounded route only (send.c), so actors of a kind with this hook
	 * must have a mailbox bound; it costs unbounded sends nothing. */
	int (*admit)(const struct trp_actor *to, size_t len);
	/* NULL, or told (outside every lock) that a monitor was made on
	 * @a: a remote proxy asks its node to watch the real target
	 * (monitor.c calls it; links tell `linked`). */
	void (*watched)(struct trp_actor *a);
	/* NULL, or a linked actor (id @from) stopped with @why/@code and
	 * @a is to hear of it (monitor.c calls it instead of the local
	 * rule, for every reason: a trapper there hears of normal stops
	 * too): a remote proxy passes the exit signal on to the real
	 * target, behind what it holds (node_watch.c). Any thread, no lock
	 * held. */
	void (*link_exit)(struct trp_actor *a, uint64_t from,
			  trp_stop_reason_t why, int32_t code);
	/* NULL, or told (outside every lock) that a link of @a with the
	 * actor @peer is being made (@on: before it exists, so a remote
	 * proxy's node learns of it before any exit signal of it) or was
	 * removed by trp_unlink (!@on): a remote proxy mirrors its links on
	 * the target's node, which signals them if this node goes down. */
	void (*linked)(struct trp_actor *a, uint64_t peer, bool on);
	/* NULL, or a send to an actor of this kind whose mailbox is idle
	 * (everything sent to it before was handled: see
	 * trp__mailbox_idle_acquire) may be handled at once in the sender's
	 * thread instead of through the mailbox and a turn: 0 or an error
	 * (the send's result; on 0 the data and the reply target are the
	 * hook's, as a mailbox's), or TRP__FORWARD_DECLINED (push it as
	 * usual). Bounded route only (send.c), like admit. A remote proxy
	 * hands the message to its node's outbound thread, which saves a
	 * turn and a worker's wake-up per message. */
	int (*forward)(struct trp_actor *to, uint32_t type, const void *data,
		       size_t len, const struct trp__send_opts *opt);
	/* NULL, or what the kind releases with the actor's memory, when its
	 * last reference goes (a port's eventfd, which must outlive the
	 * port's stop: the application polls it until it lets go of the
	 * handle). Any thread, once; the actor stopped long before. */
	void (*free_state)(struct trp_actor *a);
};

/* trp__actor_kind.forward: not handled, push it to the mailbox. */
#define TRP__FORWARD_DECLINED 1

/* Event actors: turns on the workers (turn.c). */
extern const struct trp__actor_kind trp__kind_event;

/* Actors of @k run turns on the workers (event actors, remote proxies):
 * the run queues wake them, and their mailbox starts idle. */
static inline bool trp__kind_has_turns(const struct trp__actor_kind *k)
{
	return k->wake == NULL;
}

enum trp__actor_state {
	TRP__ALIVE = 0,
	TRP__CLOSING = 1,
	TRP__STOPPED = 2,
	TRP__KILLED = 3, /* kill requested: stops at its next look */
};

/*
 * Cold per-actor data, made on first use (trp__actor_ext_make) and freed
 * with the actor: what most actors never have. A field whose actors are
 * few belongs here, not in struct trp_actor (whose size every idle actor
 * pays: see its budget below).
 */
struct trp__actor_ext {
	/* the monitors feature's record of this actor (its monitors, links,
	 * exit trapping: monitor.c), or NULL; written under the actors
	 * lock, freed with the actor */
	_Atomic(void *) monitors;
	/* the names feature's entry (registry.c), or NULL: written under
	 * its lock */
	_Atomic(void *) name;
	/* the opt-in metrics block (trp_actor_metrics_enable), or NULL:
	 * installed once (release CAS, metrics.c) before metrics_on is set,
	 * read by the consumer after it sees metrics_on (acquire) */
	_Atomic(struct trp__actor_metrics *) metrics;
	/* simulation mode: the actor's stable id in traces and signatures
	 * (sim.c assigns it when it first meets the actor), else 0; only
	 * the simulation's one thread touches it */
	uint32_t sim_id;
};

/*
 * The layout: three cache lines, grouped by who writes them, then the
 * inline state. Budget (issue 16): an idle actor with 16 bytes of state
 * is one 192-byte block (jemalloc's 192 class: 176 bytes of fields + 16
 * of state, a multiple of the 64-byte alignment), about 195 bytes of
 * resident memory each with the allocator's metadata (troupe-bench idle).
 * The next block is 256 bytes, over the budget of 256 resident bytes per
 * idle actor: a new field must fit the 2 spare bytes of the consumer's
 * line, or go behind ext (struct trp__actor_ext) if most actors never
 * use it, or be paid for by moving another field there.
 *
 *   0..63    read-mostly: written at spawn (lifecycle at close and stop,
 *            ext once); read by every sender and by the consumer
 *   64..127  written by other threads: references, muting, the run-queue
 *            link, the close marker, the live list; then the mailbox's
 *            head and count (producers)
 *   128..175 the consumer's: the mailbox's tail and stub, then the turn's
 *            and the stop's fields
 *   176..    inline state (written by the behaviour, i.e. the consumer)
 */
struct trp_actor {
	/* read-mostly: read by every sender and by the consumer; written
	 * at spawn, lifecycle only at close and stop. Nothing written per
	 * message or per turn shares this line, so senders on other cores
	 * keep it cached. */
	alignas(64) struct trp_runtime *rt;
	_Atomic(uint32_t) lifecycle; /* enum trp__actor_state */
	uint32_t limit;		     /* mailbox bound, 0 = none */
	uint64_t id;
	trp_behavior_fn behavior;
	void *state;
	trp_stop_fn stop;
	const struct trp__actor_kind *kind;
	/* cold data (struct trp__actor_ext), or NULL: installed once
	 * (trp__actor_ext_make), freed with the actor */
	_Atomic(struct trp__actor_ext *) ext;

	/* written by other threads */
	alignas(64) _Atomic(uint64_t) refs;
	_Atomic(struct trp_actor *) muted; /* senders muted on this actor */
	struct trp__mpsc_node run_node;	   /* injection queue link */
	/* the close marker, pushed once (by the closer; the next producer
	 * links behind it) */
	struct trp__mpsc_node close_node;
	/* the live list: under the runtime's actors lock */
	struct trp_actor *live_prev, *live_next;
	/* head and count end this line (producers); tail and stub begin
	 * the consumer's (mailbox.h, "Placement") */
	struct trp__mailbox mailbox;

	/* the consumer (the running worker), after the mailbox's tail and
	 * stub */
	union {
		/* Before the first turn (started == 0): the start hook,
		 * which that turn runs (turn.c: trp__actor_take_start).
		 * Only actors with turns have one (trp__actor_create), and
		 * nothing reads carry before started is set, so the two
		 * never meet: an actor stopped before its first turn takes
		 * the hook out first (turn.c, stop.c). */
		trp_start_fn start;
		/* After: taken from the mailbox at the end of the last
		 * turn, not yet processed (see turn.c), or NULL */
		struct trp__mpsc_node *carry;
	};
	/* if carry is a bundle: offset of its first entry not yet processed
	 * (a turn may end, or the actor stop, in the middle of a bundle) */
	uint32_t carry_off;
	uint8_t started; /* start hook ran (or there was none) */
	/* trp_actor_stop() (TRP_STOP_NORMAL) or trp_actor_fail()
	 * (TRP_STOP_FAILED) during this turn, else 0 */
	uint8_t stop_request;
	/* why it stopped and its failure code: written by the consumer
	 * before the STOPPED store (release), read after it */
	uint8_t exit_reason;
	uint8_t retired; /* left the live list (under the actors lock) */
	int32_t exit_code;
	/* the reason of a kill (TRP_STOP_KILLED or TRP_STOP_LINKED), written
	 * by the killer before the KILLED lifecycle store that publishes it
	 * (a rare write from another thread: no need for a line of its own) */
	_Atomic(uint8_t) kill_reason;
	/* a feature attached itself (a name, a monitor, a link, ...): the
	 * actor_stopped hooks run when it retires; under the actors lock */
	uint8_t attached;
	/* per-actor metrics are on (ext->metrics is set): written once by
	 * trp_actor_metrics_enable after installing the block (release),
	 * tested by the consumer at each turn's start (acquire, turn.c) */
	_Atomic(uint8_t) metrics_on;
	uint8_t spare; /* free: see the budget above */
	/* Two fields whose lifetimes never overlap share 8 bytes:
	 * - mute_next: link while muted on another actor: written by this
	 *   actor's own worker when its turn ends muted, read by the unmuter
	 *   (after the muted list's seq_cst CAS and exchange:
	 *   backpressure.c), which clears it before it schedules the actor;
	 * - sched_at: when a sampled schedule made it runnable (metrics.h),
	 *   else 0: written by the thread that schedules it, read and
	 *   cleared by the worker that runs it (the run queue orders the
	 *   two).
	 * A muted actor is not schedulable (its mailbox is not idle, and
	 * muting replaced its reschedule) until the unmuter has read and
	 * cleared mute_next; sched_at is cleared at the start of the turn
	 * that may end muted. */
	union {
		struct trp_actor *mute_next;
		uint64_t sched_at;
	};
	/* the state when def->state_size > 0 (then state points here) */
	alignas(16) unsigned char inline_state[];
};

/* Senders on other cores read the read-mostly line; the consumer's and the
 * other threads' writes must not land on it. */
static_assert(offsetof(struct trp_actor, rt) == 0 &&
		      offsetof(struct trp_actor, ext) + sizeof(void *) <= 64,
	      "read-mostly group is the first cache line");
static_assert(offsetof(struct trp_actor, refs) == 64,
	      "other threads' group starts the second cache line");
TRP__MAILBOX_PLACED(struct trp_actor, mailbox);
static_assert(offsetof(struct trp_actor, mailbox) +
			      offsetof(struct trp__mailbox, tail) ==
		      128,
	      "the consumer's group starts the third cache line");
/* The budget (see above): 16 bytes of state and an actor fill 192 bytes. */
static_assert(offsetof(struct trp_actor, inline_state) + 16 <= 192,
	      "struct trp_actor: an idle actor with 16 bytes of state must "
	      "stay one 192-byte block (issue 16)");

/* Bytes to allocate for an actor with @state_size bytes of inline state:
 * the fields and the state, rounded to the cache line (the block's
 * alignment; trp__alloc_aligned rounds the same way). */
static inline size_t trp__actor_size(size_t state_size)
{
	size_t size = offsetof(struct trp_actor, inline_state) +
		      ((state_size + 15) & ~(size_t)15);
	return (size + 63) & ~(size_t)63;
}

/* @a's cold data, or NULL if it has none yet. Any thread. */
static inline struct trp__actor_ext *trp__actor_ext(const struct trp_actor *a)
{
	/* ORDER: acquire pairs with the installing CAS (release) in
	 * trp__actor_ext_make: the block's zeroed fields are visible. */
	return atomic_load_explicit(&((struct trp_actor *)a)->ext,
				    memory_order_acquire);
}

/* @a's opt-in metrics block, or NULL if metrics were never enabled. Any
 * thread. */
static inline struct trp__actor_metrics *
trp__actor_metrics_of(const struct trp_actor *a)
{
	struct trp__actor_ext *x = trp__actor_ext(a);
	/* ORDER: acquire pairs with trp_actor_metrics_enable's release CAS:
	 * the block's zeroed contents are visible. */
	return x != NULL ?
		       atomic_load_explicit(&x->metrics, memory_order_acquire) :
		       NULL;
}

/* @a's cold data, made (zeroed) if it has none; NULL: out of memory.
 * Lock-free, any thread; the block lives as long as @a. */
struct trp__actor_ext *trp__actor_ext_make(struct trp_actor *a);

/* The start hook of @a, whose first turn is about to run (or which stops
 * before it): NULL if it has none or took it already. The first call
 * clears the start / carry union and marks the hook run. The consumer
 * only. */
static inline trp_start_fn trp__actor_take_start(struct trp_actor *a)
{
	if (a->started)
		return NULL; /* carry is carry now */
	trp_start_fn f = a->start;
	a->carry = NULL;
	a->started = 1;
	return f;
}

/* Creates an actor of @kind (trp_actor_spawn without the behaviour check;
 * thread actors have none). 0, TRP_EINVAL, TRP_ENOMEM, TRP_ESHUTDOWN. */
int trp__actor_create(struct trp_runtime *rt, const trp_actor_def_t *def,
		      void *arg, const struct trp__actor_kind *kind,
		      struct trp_actor **out);

/* Retains @a only if it has references left (never 0 -> 1). */
bool trp__actor_try_retain(struct trp_actor *a);

/* Unlinks a stopped @a from the runtime's live actors, tells the features
 * (runtime.h, actor_stopped) and drops the runtime's reference. Called
 * once, by whoever stopped it. */
void trp__actor_retire(struct trp_runtime *rt, struct trp_actor *a);

/* Kills @a with @why (TRP_STOP_KILLED or TRP_STOP_LINKED): see
 * trp_actor_kill. Any thread. 0, TRP_EDEAD (stopped already). */
int trp__actor_kill(struct trp_actor *a, trp_stop_reason_t why);

/* A feature attaches itself to @a, so that its actor_stopped hook runs
 * when @a retires (runtime.h); false if @a has retired already (then it
 * never will: treat it as gone). Takes the actors lock; _locked: the
 * caller holds it. */
bool trp__actor_attach(struct trp_actor *a);
bool trp__actor_attach_locked(struct trp_actor *a);

/* Visits every live actor under the actors lock (cold: shutdown). @fn
 * returns false to stop early; it must not stop or free actors. */
void trp__actors_each(struct trp_runtime *rt,
		      bool (*fn)(struct trp_actor *a, void *ctx), void *ctx);

static inline struct trp_actor *trp__actor_of_run_node(struct trp__mpsc_node *n)
{
	return (struct trp_actor *)(void *)((char *)n -
					    offsetof(struct trp_actor,
						     run_node));
}

#endif /* TRP_CORE_ACTOR_H */
