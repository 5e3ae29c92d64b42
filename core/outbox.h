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
 * Exchange deliveries (publish.c) made in a turn join these batches like
 * any send. The membership rule of troupe/exchange.h wants every delivery
 * of a publish that read a subscriber array in its mailbox before a
 * detach that replaced that array returns, and detach waits for a grace
 * period (epoch.h). So the first publish of a turn does not leave its
 * epoch read section: the section stays open as the turn's (`epoch_held`)
 * and is left by trp__outbox_flush_held right after the turn's chains
 * are pushed, at the turn's end or earlier (trp__outbox_settle, before
 * this thread itself waits for a grace period). The worker's epoch
 * record is thus active without a break from before any publish of the
 * turn read an array until its deliveries are in their mailboxes, and a
 * grace period that began meanwhile ends only after that (ORDER: in
 * trp__outbox_flush_held).
 *
 * Owner only: the table belongs to the worker thread and is used only
 * while it runs a turn (trp__worker.current != NULL). No atomics but the
 * pushes (delivery.h).
 *
 * Here: the table's types and the operations that touch only the table
 * (inline: they are on the send path of every chained message); outbox.c:
 * the ones that push. The self bundle's operations are in self_send.h.
 */
#ifndef TRP_CORE_OUTBOX_H
#define TRP_CORE_OUTBOX_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailbox.h"
#include "message.h"

struct trp_actor;
struct trp_runtime;
struct trp__worker;

#define TRP__OUTBOX_SLOTS 256u /* receivers per turn before eviction */
#define TRP__OUTBOX_CHAIN 64u  /* messages per push */
/* bytes of a chain's first bundle and of the bundles after it: the sizes
 * the workers' pools keep free blocks of (message.h) */
#define TRP__BUNDLE_FIRST TRP__BUNDLE_SMALL
#define TRP__BUNDLE_NEXT TRP__BUNDLE_LARGE

struct trp__outbox_slot {
	/* Sent to in this turn while stamp == the outbox's stamp; only a
	 * marker (compared, never dereferenced) unless `ref` is set. */
	struct trp_actor *to;
	struct trp__mpsc_node *first, *last;
	/* the bundle at the chain's end that small copies are appended to,
	 * or NULL (struct trp__msg, hold == TRP__HOLD_BUNDLE); its entries
	 * end at `wp` and it has room up to `wend` (both NULL without a
	 * bundle). Its pub.size is written when it is closed
	 * (trp__outbox_close_bundle), before any push publishes it. */
	struct trp__msg *bundle;
	unsigned char *wp, *wend;
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

/* One line per slot: the fast path's fields (to, bundle, wp, wend, stamp,
 * n) are read together. */
static_assert(sizeof(struct trp__outbox_slot) == 64,
	      "an outbox slot is one cache line");

#define TRP__SELF_BUNDLE TRP__BUNDLE_LARGE /* bytes of the self bundle */

/*
 * Deliveries a feature holds back for the running turn besides its chains:
 * an exchange's publishes (publish.c), written once into a block of
 * entries that every receiver of one subscriber set gets a node of. While
 * `flush` is set, it runs before any other send of the turn leaves
 * (send.c, send_checked: per-sender order with the turn's other messages
 * to those receivers), and trp__outbox_flush_held runs it before pushing
 * the chains; the turn's epoch read section (`epoch_held`) covers it.
 * The feature holds nothing back before the turn has sent (it counts its
 * deliveries in turn_sends when it holds them), nor for a bounded
 * receiver or the running actor itself: send_checked looks only where
 * those cannot be. The other fields are the feature's.
 */
struct trp__outbox_pending {
	void (*flush)(struct trp__worker *w); /* NULL: nothing held */
	void *owner, *set, *block;
	uint32_t used, n, aux;
};

struct trp__outbox {
	/* the running turn's messages to its own actor: a bundle (or NULL)
	 * whose entries from offset self_rd on are not processed yet */
	struct trp__msg *self;
	uint32_t self_rd;
	uint32_t self_n;  /* entries from self_rd on */
	uint8_t self_off; /* self bundle overflowed: the rest of the turn
			      sends to itself through the mailbox */
	uint32_t stamp;	  /* changes every turn */
	/* What trp__outbox_flush looks at when a turn ends, read as one
	 * word (`busy`): most turns hold neither. */
	union {
		struct {
			uint16_t nheld; /* slots on the held list */
			/* the turn keeps an epoch read section open for
			 * its exchange deliveries (see above); only while a
			 * turn runs */
			uint16_t epoch_held;
		};
		uint32_t busy;
	};
	uint32_t nref; /* slots with a reference */
	struct trp__outbox_pending pending;
	uint16_t held[TRP__OUTBOX_SLOTS]; /* slots with a chain this turn */
	struct trp__outbox_slot slot[TRP__OUTBOX_SLOTS];
};

static inline uint32_t trp__outbox_index(const struct trp_actor *to)
{
	/* Actors are cache-line aligned: drop the low bits, mix, keep 8. */
	return (uint32_t)((((uintptr_t)to >> 6) * 0x9E3779B1u) & 0xffffffffu) >>
	       24;
}

/* The slot of @to if this turn already sent it a message (a chain forms
 * from the second one on), else NULL. */
static inline struct trp__outbox_slot *
trp__outbox_find(struct trp__outbox *o, const struct trp_actor *to)
{
	struct trp__outbox_slot *s = &o->slot[trp__outbox_index(to)];
	return s->stamp == o->stamp && s->to == to ? s : NULL;
}

/* Bytes left in @s's open bundle (0 without one: both pointers NULL,
 * compared as integers). */
static inline uintptr_t trp__outbox_slot_room(const struct trp__outbox_slot *s)
{
	return (uintptr_t)s->wend - (uintptr_t)s->wp;
}

/* Closes @s's open bundle, if any: its size is written (before the push
 * that publishes it) and later small copies go into a new one. */
static inline void trp__outbox_close_bundle(struct trp__outbox_slot *s)
{
	struct trp__msg *b = s->bundle;
	if (b == NULL)
		return;
	b->pub.size = (size_t)(s->wp - b->inline_data);
	s->bundle = NULL;
	s->wp = s->wend = NULL;
}

/* A second message to s->to in this turn: keep it alive until the chain
 * is pushed (the behaviour may drop its handle meanwhile), with the
 * slot's reference. The first one needed none: it was pushed at once. */
static inline void trp__outbox_hold(struct trp__outbox *o,
				    struct trp__outbox_slot *s)
{
	if (s->held)
		return;
	if (!s->ref) {
		trp_actor_retain(s->to);
		s->ref = 1;
		o->nref++;
	}
	s->held = 1;
	s->n = 0;
	trp__assert(s->bundle == NULL && s->wp == NULL && s->wend == NULL);
	if (!s->listed) {
		s->listed = 1;
		o->held[o->nheld++] = (uint16_t)(s - o->slot);
	}
}

/* Links @node at the end of @s's chain. */
static inline void trp__outbox_link(struct trp__outbox_slot *s,
				    struct trp__mpsc_node *node)
{
	/* relaxed: the chain is private until trp__outbox_push, whose
	 * release link store publishes it. */
	if (s->n == 0)
		s->first = node;
	else
		atomic_store_explicit(&s->last->next, node,
				      memory_order_relaxed);
	s->last = node;
}

/* Pushes the slot's chain, if any, with one exchange (delivery.h). */
void trp__outbox_push(struct trp_runtime *rt, struct trp__worker *w,
		      struct trp__outbox_slot *s);

/* Closes the held slot @s's open bundle, if any, and opens a new one at
 * the chain's end, from @w's pool; false if it cannot be allocated. */
bool trp__outbox_new_bundle(struct trp__worker *w, struct trp__outbox_slot *s);

/* Appends a copy of a small message to the held slot @s's open bundle
 * (a new one if none is open or it is full). 0 or TRP_ENOMEM. */
static inline int trp__outbox_append(struct trp_runtime *rt,
				     struct trp__worker *w,
				     struct trp__outbox_slot *s, uint32_t type,
				     int32_t status, const void *data,
				     size_t len)
{
	uint32_t need = trp__bundle_entry_size((uint32_t)len);
	if (trp__outbox_slot_room(s) < need && !trp__outbox_new_bundle(w, s))
		return TRP_ENOMEM;
	trp__bundle_put(s->wp, type, status, data, len);
	s->wp += need;
	if (++s->n == TRP__OUTBOX_CHAIN)
		trp__outbox_push(rt, w, s);
	return 0;
}

/* The slot of @to if this turn holds a chain to it whose open bundle has
 * room for an entry of @need bytes, else NULL: the case of trp_send's fast
 * path (send.c), where trp__outbox_append would only append. A slot with
 * an open bundle is held (the bundle is set only by an append to a held
 * slot and cleared by every push, and a slot is unheld only by a push). */
static inline struct trp__outbox_slot *
trp__outbox_room(struct trp__outbox *o, const struct trp_actor *to,
		 uint32_t need)
{
	struct trp__outbox_slot *s = &o->slot[trp__outbox_index(to)];
	if (s->stamp != o->stamp || s->to != to ||
	    trp__outbox_slot_room(s) < need)
		return NULL;
	trp__assert(s->held && s->n != 0 && s->bundle != NULL);
	return s;
}

/* A message (not bundled) from the turn running on @w to another actor
 * whose kind batches: into @to's chain if the turn already sent to it,
 * else at once. 0, or TRP_EDEAD with @m handed back. */
int trp__outbox_send(struct trp_runtime *rt, struct trp__worker *w,
		     struct trp_actor *to, struct trp__msg *m);

/* Pushes what the turn running on @w holds back for @to, if anything. */
void trp__outbox_push_to(struct trp_runtime *rt, struct trp__worker *w,
			 const struct trp_actor *to);

/* Pushes every chain of the turn running on @w, then leaves the read
 * section the turn holds for its exchange deliveries, if any; the turn's
 * slots stay markers until it ends (the slow part of trp__outbox_flush). */
void trp__outbox_flush_held(struct trp__worker *w, struct trp__outbox *o);

/* Pushes every chain of the turn whose outbox is @o, on worker @w (NULL:
 * an outside thread, nothing), and ends its exchange read section; most
 * turns hold neither. */
static inline void trp__outbox_flush(struct trp__worker *w,
				     struct trp__outbox *o)
{
	if (w != NULL && o->busy != 0)
		trp__outbox_flush_held(w, o);
}

/* Runs the turn's pending feature deliveries, if any (see
 * trp__outbox_pending). */
static inline void trp__outbox_flush_pending(struct trp__worker *w,
					     struct trp__outbox *o)
{
	void (*flush)(struct trp__worker *) = o->pending.flush;
	if (flush != NULL)
		flush(w);
}

/* Called on any thread before it waits for a grace period (attach, detach,
 * close, the names' writers): if it is a worker whose turn holds exchange
 * deliveries back, pushes the turn's chains and ends the read section the
 * turn holds, so that the wait does not wait for this thread's own turn.
 * trp__epoch_in_section() is then true only inside a publish (a callback
 * sink) or another read section, as before batching. */
void trp__outbox_settle(void);

/* Drops the references @w's outbox keeps across turns; the worker calls it
 * before it parks and when it exits (no turn running). */
void trp__outbox_release_refs(struct trp__worker *w);

#endif /* TRP_CORE_OUTBOX_H */
