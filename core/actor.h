/*
 * core/actor.h - the actor object, its life cycle and one turn of it.
 *
 * Life cycle: ALIVE -> (close requested) CLOSING -> STOPPED. Only the
 * worker running the actor moves it to STOPPED (or the destroying thread
 * once the workers are joined). Stopping runs the stop hook, then drains
 * the mailbox into dead letters and leaves its head tagged CLOSED: a sender
 * whose push finds that tag (exactly one per closed period, as with the
 * idle tag) becomes the mailbox's consumer for a moment, dead-letters what
 * it finds (taking its own message back as TRP_EDEAD) and re-tags it. So a
 * stopped actor is never scheduled again, and no accepted message is ever
 * stranded.
 *
 * Backpressure (after Pony's muting, cheaper): every mailbox counts its
 * queued messages (mailbox.owner_count, on the line the sender's exchange
 * owns anyway). A behaviour that sends to an actor holding TRP__MUTE_HIGH
 * or more messages is muted at the end of its turn: instead of being
 * rescheduled it is pushed on the receiver's `muted` stack, and is
 * rescheduled when the receiver's count falls below TRP__MUTE_LOW (or it
 * stops). Producers that outrun a consumer stop until it has caught up, so
 * memory stays bounded without configuration, also while the consumer's
 * thread is preempted.
 * Lost-unmute freedom: the muted sender pushes itself, then re-reads the
 * receiver's count; the receiver lowers its count, then reads the stack
 * (all seq_cst). One of the two sees the other; the exchange that empties
 * the stack hands each muted actor to exactly one unmuter. No deadlock: an
 * actor holding TRP__MUTE_LOW or more messages is never muted, so for a
 * cycle A -> B -> A, B's count must have fallen below TRP__MUTE_LOW after A
 * was muted on it, and that unmuted A.
 *
 * References: the runtime holds one while the actor is not stopped, the
 * registry one while it has a name, and each handle one. The memory (and the
 * runtime struct, through rt->refs) lives until the last is dropped. A
 * running or queued actor is always ALIVE or CLOSING, so the runtime's
 * reference covers the run queues.
 */
#ifndef TRP_CORE_ACTOR_H
#define TRP_CORE_ACTOR_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mailbox.h"
#include "troupe/actor.h"

struct trp__worker;

/* Sends after which a turn stops taking messages that arrived during it
 * (see trp__actor_run). */
#define TRP__TURN_SENDS 64u

/* Backpressure thresholds (messages queued), see above. A fan-in receiver
 * fed by many actors on the same workers runs once per pass over their run
 * queues, and each of them adds up to TRP__TURN_SENDS messages per turn:
 * the high mark must exceed what one pass brings (storm: 1000 counters,
 * ~21 each per sink), or every pass mutes and unmutes every sender
 * (storm ran 20% slower at 4096). At 16384 a muted-on mailbox holds at
 * most ~0.5 MiB of bundled small messages, 1 MiB of unbundled ones. */
#define TRP__MUTE_HIGH 16384u
#define TRP__MUTE_LOW 4096u

enum trp__actor_kind {
	TRP__KIND_EVENT = 0,  /* runs turns on the workers */
	TRP__KIND_THREAD = 1, /* its own thread receives (thread_actor.c) */
};

enum trp__actor_state {
	TRP__ALIVE = 0,
	TRP__CLOSING = 1,
	TRP__STOPPED = 2,
};

struct trp_actor {
	/* producers: head line; consumer: tail + stub line */
	struct trp__mailbox mailbox;

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
	trp_start_fn start;
	trp_stop_fn stop;
	uint8_t kind; /* enum trp__actor_kind */

	/* the consumer (the running worker) */
	alignas(64) uint8_t started; /* start hook ran */
	uint8_t stop_request;	     /* trp_actor_stop() during this turn */
	/* if carry is a bundle: offset of its first entry not yet processed
	 * (a turn may end, or the actor stop, in the middle of a bundle) */
	uint32_t carry_off;
	/* taken from the mailbox at the end of the last turn, not yet
	 * processed (see trp__actor_run), or NULL */
	struct trp__mpsc_node *carry;
	struct trp__mpsc_node close_node; /* the close marker, pushed once */

	/* cold: under rt->actors_lock / the registry lock */
	struct trp_actor *live_prev, *live_next;
	struct trp__reg_entry *name; /* registry entry, or NULL */
	size_t alloc_size;

	/* written by other threads */
	alignas(64) _Atomic(uint64_t) refs;
	_Atomic(struct trp_actor *) muted; /* senders muted on this actor */
	struct trp_actor *mute_next;	   /* link while muted elsewhere */
	struct trp__mpsc_node run_node;	   /* injection queue link */
	alignas(16) unsigned char inline_state[];
};

/* Options of the one send path (NULL: a plain copy). */
struct trp__send_opts {
	/* != NULL: zero-copy, @data is handed over and freed with this after
	 * processing (kept by the caller on error) */
	trp_free_fn owned_free;
	/* != NULL: the message is a request answered into this target (the
	 * message owns one reference to it once the send succeeded) */
	struct trp__reply_to *reply;
	/* msg->status of the delivered message */
	int32_t status;
	/* the caller is an outside thread that already did
	 * trp__outside_enter (exchange publishes bracket their deliveries) */
	bool entered;
	/* push before returning, never into the turn's send batches
	 * (outbox.h): exchange deliveries, which must all be in their
	 * mailboxes once a detach's grace period is over */
	bool now;
};

int trp__actor_send(struct trp_actor *to, uint32_t type, const void *data,
		    size_t len, const struct trp__send_opts *opt);

/*
 * Sends @n messages of type @type to @to, message k being the @len bytes
 * at @items + k * @len (@len <= TRP__BUNDLE_PAYLOAD_MAX), as n sends with
 * opt.now would, but packed and enqueued with one exchange (an exchange's
 * publish_n). With @shared (the same n messages as entries, message.h),
 * the mailbox gets one small node referring to them instead of its own
 * copy; one reference to @shared is handed over in every case (kept by
 * that node, or dropped here). The caller is a worker or an outside thread that did
 * trp__outside_enter. Returns how many were accepted (n or 0) and sets
 * *@rc to 0 or why none was: TRP_EDEAD (also when the chain found the
 * mailbox closed: then they are dead letters, counted), TRP_ENOMEM.
 * Bounded mailboxes and thread actors take them one by one
 * (trp__actor_send), and so may accept some: *@rc is then the error of
 * the first refused one.
 */
struct trp__shared_entries;
uint32_t trp__actor_send_run(struct trp_actor *to, uint32_t type,
			     const void *items, size_t len, uint32_t n,
			     struct trp__shared_entries *shared, int *rc);

/* Creates an actor of @kind (trp_actor_spawn without the behaviour
 * check; thread actors have none). */
int trp__actor_create(struct trp_runtime *rt, const trp_actor_def_t *def,
		      void *arg, uint8_t kind, struct trp_actor **out);

/* The consumer took @n messages: lowers the count, unmutes when low. */
void trp__actor_consumed(struct trp_actor *a, uint32_t n);

/* A thread actor's function returned (on its thread, which owns the
 * mailbox): stop, dead-letter the rest, close, retire. */
void trp__actor_finish_thread(struct trp_actor *a);

/* Drops the references @w's outbox keeps across turns (outbox.h); the
 * worker calls it before it parks and when it exits (no turn running). */
void trp__outbox_release_refs(struct trp__worker *w);

/* Pushes the send batches of the turn running on @w (outbox.h); NULL or
 * an empty outbox: nothing. */
void trp__outbox_flush_current(struct trp__worker *w);

/* Runs one turn of @a on worker @w (see actor.c). */
void trp__actor_run(struct trp__worker *w, struct trp_actor *a);

/* Stops every live actor at shutdown (workers joined). */
void trp__actor_stop_all_at_shutdown(struct trp_runtime *rt);

/* The worker of the calling thread if it belongs to @rt, else NULL. */
struct trp__worker *trp__worker_of(struct trp_runtime *rt);

/* Retains @a only if it has references left (never 0 -> 1). */
bool trp__actor_try_retain(struct trp_actor *a);

static inline struct trp_actor *trp__actor_of_run_node(struct trp__mpsc_node *n)
{
	return (struct trp_actor *)(void *)((char *)n -
					    offsetof(struct trp_actor,
						     run_node));
}

#endif /* TRP_CORE_ACTOR_H */
