/*
 * core/outbox.h - a worker's per-turn send batches.
 *
 * Within one turn, the first message a behaviour sends to a receiver is
 * pushed at once (so a receiver that was idle is scheduled without delay,
 * and a behaviour that waits for it - which it should not - still sees it
 * run). Further messages to the same receiver in that turn are linked into
 * a private chain and pushed with one exchange (and one count update) when
 * the chain holds TRP__OUTBOX_CHAIN messages, when its slot is needed for
 * another receiver, and at the latest when the turn ends. Per-sender FIFO
 * order holds: a sender's messages to one receiver all take the same path
 * within a turn, chains are pushed in order, and the turn's chains are all
 * pushed before the sender can run again anywhere.
 *
 * A fan-in receiver (fanin, pubsub, the storm's sinks under chunked
 * senders) then sees one contended exchange per chain instead of one per
 * message, and takes whole chains in one turn.
 *
 * Small copied messages in a chain are packed into bundles (message.h):
 * the first such message allocates a TRP__BUNDLE_FIRST-byte bundle linked
 * at the chain's end, the next ones are appended to it while they fit
 * (then a TRP__BUNDLE_NEXT-byte one follows). Any other message (owned,
 * a request, a large payload) is linked as its own node and closes the
 * open bundle, so chain order is send order.
 *
 * Self-sends: a small copy a behaviour sends to its own actor does not go
 * through the mailbox while the turn runs. It is appended to the worker's
 * self bundle, which the turn reads after the mailbox has nothing more for
 * it (self-sends are arrivals, taken under the same bound, actor.c). What
 * is left when the turn ends, or before trp_actor_close closes the actor
 * from its own turn, is pushed into the mailbox as that bundle (one
 * exchange), behind everything already there, as if it had been sent
 * then; the worker allocates a new one at the next self-send. A bundle
 * read to its end is reused: an actor that messages itself to go on
 * allocates nothing and touches no shared line per step.
 *
 * Owner only: the table belongs to the worker thread and is used only
 * while it runs a turn (trp__worker.current != NULL).
 */
#ifndef TRP_CORE_OUTBOX_H
#define TRP_CORE_OUTBOX_H

#include <stdint.h>

#include "mailbox.h"

struct trp_actor;
struct trp__msg;

#define TRP__OUTBOX_SLOTS 256u	/* receivers per turn before eviction */
#define TRP__OUTBOX_CHAIN 64u	/* messages per push */
#define TRP__BUNDLE_FIRST 1024u /* bytes of a chain's first bundle */
#define TRP__BUNDLE_NEXT 2048u	/* bytes of the bundles after it */

struct trp__outbox_slot {
	/* Sent to in this turn while stamp == the outbox's stamp; only a
	 * marker (compared, never dereferenced) unless `ref` is set. */
	struct trp_actor *to;
	struct trp__mpsc_node *first, *last;
	/* the bundle at the chain's end that small copies are appended to,
	 * or NULL (struct trp__msg, hold == TRP__HOLD_BUNDLE) */
	struct trp__msg *bundle;
	uint32_t stamp;
	uint16_t n;	/* messages in the chain */
	uint8_t held;	/* a chain of this turn (pushed at its end) */
	uint8_t listed; /* on the outbox's held list */
	/* We hold a reference to `to`, taken when a chain to it first
	 * formed and kept across turns while the slot serves the same
	 * receiver: a sender that chains to the same receivers turn after
	 * turn (a fan-in) does not touch their reference counts each time.
	 * Dropped when another receiver takes the slot, and all of them
	 * before the worker parks or exits (trp__outbox_release_refs). */
	uint8_t ref;
};

#define TRP__SELF_BUNDLE 2048u /* bytes of the self bundle */

struct trp__outbox {
	/* the running turn's messages to its own actor: a bundle (or NULL)
	 * whose entries from offset self_rd on are not processed yet */
	struct trp__msg *self;
	uint32_t self_rd;
	uint32_t self_n;  /* entries from self_rd on */
	uint8_t self_off; /* self bundle overflowed: the rest of the turn
			      sends to itself through the mailbox */
	uint32_t stamp;	  /* changes every turn */
	uint32_t nheld;	  /* slots on the held list */
	uint32_t nref;	  /* slots with a reference */
	uint16_t held[TRP__OUTBOX_SLOTS]; /* slots with a chain this turn */
	struct trp__outbox_slot slot[TRP__OUTBOX_SLOTS];
};

#endif /* TRP_CORE_OUTBOX_H */
