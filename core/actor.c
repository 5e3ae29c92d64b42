/*
 * core/actor.c - spawn, send, close, stop, and one turn of an actor.
 */
#include "actor.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dead_letter.h"
#include "message.h"
#include "platform.h"
#include "probes.h"
#include "registry.h"
#include "scheduler.h"
#include "worker.h"

static _Atomic(uint64_t) next_actor_id = 1;

struct trp__worker *trp__worker_of(struct trp_runtime *rt)
{
	struct trp__worker *w = trp__self_worker;
	return (w != NULL && w->rt == rt) ? w : NULL;
}

static struct trp__msg_pool *pool_of(struct trp__worker *w)
{
	return w != NULL ? &w->pool : NULL;
}

/* ------------------------------------------------------------------ */
/* references                                                          */

trp_actor_t *trp_actor_retain(trp_actor_t *a)
{
	if (a != NULL)
		/* relaxed: the caller already holds a reference, so the
		 * count cannot reach zero concurrently. */
		atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
	return a;
}

bool trp__actor_try_retain(struct trp_actor *a)
{
	/* relaxed: validated by the CAS. */
	uint64_t r = atomic_load_explicit(&a->refs, memory_order_relaxed);
	while (r != 0) {
		/* relaxed: the memory is kept valid by the caller's epoch
		 * section; the reference itself orders nothing. */
		if (atomic_compare_exchange_weak_explicit(&a->refs, &r, r + 1,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return true;
	}
	return false;
}

void trp_actor_release(trp_actor_t *a)
{
	if (a == NULL)
		return;
	/* ORDER: release so our uses of the actor happen-before the free;
	 * the acquire half makes the freeing thread see all of them. */
	if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1)
		return;
	struct trp_runtime *rt = a->rt;
	/* Every reference is gone: the actor stopped (the runtime's
	 * reference is dropped only then) and its mailbox is closed and
	 * empty, since each push that found it closed drained it. */
	trp__free(a, a->alloc_size);
	trp__runtime_unref(rt);
}

bool trp_actor_alive(const trp_actor_t *a)
{
	/* relaxed: a snapshot. */
	return a != NULL &&
	       atomic_load_explicit(&((trp_actor_t *)a)->lifecycle,
				    memory_order_relaxed) != TRP__STOPPED;
}

uint64_t trp_actor_id(const trp_actor_t *a)
{
	return a != NULL ? a->id : 0;
}

trp_runtime_t *trp_actor_runtime(const trp_actor_t *a)
{
	return a != NULL ? a->rt : NULL;
}

/* ------------------------------------------------------------------ */
/* dead letters                                                        */

/* A node the mailbox no longer references (mailbox.h, keep-last): free its
 * block; the close marker is part of the actor. Address comparison only:
 * @a may already run elsewhere. */
static void release_done(struct trp__worker *w, struct trp_actor *a,
			 struct trp__mpsc_node *done)
{
	if (done != NULL && done != &a->close_node)
		trp__msg_free_block(pool_of(w), trp__msg_of(done));
}

/* The consumer's next node: the one carried over from the last turn (a
 * bundle maybe partly processed: *@off is the offset of its first entry
 * left), or the next in the mailbox (NULL: empty or busy; *@off is 0).
 * *@done as take_sc. */
static struct trp__mpsc_node *
next_node(struct trp_actor *a, struct trp__mpsc_node **done, uint32_t *off)
{
	struct trp__mpsc_node *n = a->carry;
	if (n != NULL) {
		a->carry = NULL;
		*off = a->carry_off;
		a->carry_off = 0;
		*done = NULL;
		return n;
	}
	*off = 0;
	return trp__mailbox_take_sc(&a->mailbox, done);
}

/* The entry of bundle @b at byte offset @off. */
static inline const struct trp__bundle_entry *
bundle_entry(const struct trp__msg *b, uint32_t off)
{
	return (const struct trp__bundle_entry
			*)(const void *)(trp__bundle_base(b) + off);
}

/* How a behaviour sees bundle entry @e. */
static inline trp_msg_t bundle_view(const struct trp__bundle_entry *e)
{
	return (trp_msg_t){ .type = e->type,
			    .status = e->status,
			    .size = e->size,
			    .data = e->size != 0 ? e->data : NULL };
}

/* @m was taken and will not be processed: a dead letter; answer a
 * request, drop the payload. Its block stays until the mailbox lets go of
 * it. */
static void dead_letter(struct trp_runtime *rt, struct trp__worker *w,
			struct trp_actor *to, struct trp__msg *m,
			trp_dead_reason_t why)
{
	trp__dead_letter(rt, w, to, &m->pub, why);
	trp__request_done(m, TRP_EDEAD);
	trp__msg_drop_payload(m);
}

/* The entries of bundle @b from offset @off on will not be processed:
 * each is a dead letter; returns how many. */
static uint32_t dead_letter_bundle(struct trp_runtime *rt,
				   struct trp__worker *w, struct trp_actor *to,
				   const struct trp__msg *b, uint32_t off,
				   trp_dead_reason_t why)
{
	uint32_t k = 0;
	while (off < b->pub.size) {
		const struct trp__bundle_entry *e = bundle_entry(b, off);
		trp_msg_t v = bundle_view(e);
		trp__dead_letter(rt, w, to, &v, why);
		off += trp__bundle_entry_size(e->size);
		k++;
	}
	return k;
}

/* Reschedules every actor muted on @r. Any thread. */
static void unmute_all(struct trp_runtime *rt, struct trp_actor *r)
{
	/* ORDER: seq_cst peek (the common case is an empty stack): after
	 * the receiver's seq_cst count decrement, either we see a sender's
	 * push here or that sender's seq_cst count re-read sees the
	 * decrement and it unmutes itself. */
	if (atomic_load_explicit(&r->muted, memory_order_seq_cst) == NULL)
		return;
	/* ORDER: seq_cst; the Dekker pair with mute_on_receiver (see the
	 * backpressure comment in actor.h); acquire makes the muted actors'
	 * links visible. */
	struct trp_actor *x =
		atomic_exchange_explicit(&r->muted, NULL, memory_order_seq_cst);
	while (x != NULL) {
		struct trp_actor *next = x->mute_next;
		trp__schedule(rt, x);
		x = next;
	}
}

/*
 * The caller is the consumer of @a's mailbox (a stopping actor's worker,
 * the thread destroying the runtime, or a sender whose push found the
 * closed tag). Takes until the mailbox is empty and tagged closed; every
 * user message but @keep goes to the dead letters, and every block but
 * @keep's is freed. Returns true if @keep was found (the caller takes it
 * back and frees its block).
 */
static bool drain_and_close(struct trp_runtime *rt, struct trp__worker *w,
			    struct trp_actor *a, struct trp__msg *keep,
			    trp_dead_reason_t why)
{
	bool found = false;
	uint32_t users = 0;
	for (;;) {
		struct trp__mpsc_node *done;
		uint32_t off;
		struct trp__mpsc_node *n = next_node(a, &done, &off);
		if (n == NULL) {
			if (trp__mailbox_close_sc(&a->mailbox, &done)) {
				if (keep == NULL || done != &keep->node)
					release_done(w, a, done);
				break;
			}
			/* A producer is between its exchange and its link:
			 * it will finish in a few instructions. */
			trp__cpu_relax();
			continue;
		}
		if (keep == NULL || done != &keep->node)
			release_done(w, a, done);
		if (n == &a->close_node)
			continue;
		struct trp__msg *m = trp__msg_of(n);
		if (trp__msg_is_bundle(m)) {
			users += dead_letter_bundle(rt, w, a, m, off, why);
			trp__msg_drop_payload(m); /* a shared bundle's ref */
			continue;
		}
		users++;
		if (m == keep)
			found = true;
		else
			dead_letter(rt, w, a, m, why);
	}
	if (users != 0)
		/* ORDER: seq_cst, the receiver's half of the unmute Dekker
		 * pair (see "Backpressure" in actor.h). */
		atomic_fetch_sub_explicit(&a->mailbox.owner_count, users,
					  memory_order_seq_cst);
	/* Whoever waits for this actor to catch up waits no more. At
	 * shutdown nobody runs again, and the muted may already be freed. */
	if (why != TRP_DEAD_SHUTDOWN)
		unmute_all(rt, a);
	return found;
}

/* ------------------------------------------------------------------ */
/* spawn                                                               */

int trp_actor_spawn(trp_runtime_t *rt, const trp_actor_def_t *def, void *arg,
		    trp_actor_t **out)
{
	if (rt == NULL || def == NULL || def->behavior == NULL)
		return TRP_EINVAL;
	return trp__actor_create(rt, def, arg, TRP__KIND_EVENT, out);
}

int trp__actor_create(struct trp_runtime *rt, const trp_actor_def_t *def,
		      void *arg, uint8_t kind, struct trp_actor **out)
{
	if (def->state_size > TRP_MSG_MAX)
		return TRP_EINVAL;
	struct trp__worker *w = trp__worker_of(rt);
	if (w == NULL) {
		int rc = trp__outside_enter(rt);
		if (rc != 0)
			return rc;
	}
	size_t state = (def->state_size + 15) & ~(size_t)15;
	size_t size = sizeof(struct trp_actor) + state;
	struct trp_actor *a = trp__alloc_aligned(TRP_CACHELINE, size);
	if (a == NULL) {
		if (w == NULL)
			trp__outside_leave(rt);
		return TRP_ENOMEM;
	}
	memset(a, 0, sizeof *a);
	a->alloc_size = size;
	/* An actor with a start hook begins scheduled (its first turn runs
	 * the hook); otherwise it begins idle and the first send schedules
	 * it. A thread actor's thread owns its mailbox from the start. */
	trp__mailbox_init(&a->mailbox,
			  def->start == NULL && kind == TRP__KIND_EVENT);
	a->kind = kind;
	a->behavior = def->behavior;
	a->start = def->start;
	a->stop = def->stop;
	a->rt = rt;
	a->started = def->start == NULL;
	if (def->mailbox_limit == TRP_MAILBOX_UNBOUNDED)
		a->limit = 0;
	else if (def->mailbox_limit != 0)
		a->limit = def->mailbox_limit;
	else
		a->limit = rt->cfg.mailbox_limit;
	if (def->state_size > 0) {
		a->state = a->inline_state;
		if (arg != NULL)
			memcpy(a->inline_state, arg, def->state_size);
		else
			memset(a->inline_state, 0, state);
	} else {
		a->state = arg;
	}
	/* relaxed: ids only need to be unique. */
	a->id = atomic_fetch_add_explicit(&next_actor_id, 1,
					  memory_order_relaxed);
	atomic_init(&a->lifecycle, TRP__ALIVE);
	atomic_init(&a->refs, out != NULL ? 2 : 1);
	/* relaxed: the runtime struct is kept alive by destroy's own
	 * reference while we run; this one is dropped with the actor. */
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);

	trp__mutex_lock(&rt->actors_lock);
	a->live_next = rt->actors;
	if (rt->actors != NULL)
		rt->actors->live_prev = a;
	rt->actors = a;
	trp__mutex_unlock(&rt->actors_lock);
	/* relaxed: a statistic; shared by all threads, so a real RMW. */
	atomic_fetch_add_explicit(&rt->spawned, 1, memory_order_relaxed);

	if (out != NULL)
		*out = a;
	if (def->start != NULL)
		trp__schedule(rt, a);
	if (w == NULL)
		trp__outside_leave(rt);
	return 0;
}

/* ------------------------------------------------------------------ */
/* send                                                                */

/*
 * Pushes @m (already counted against the bound) and schedules or drains as
 * the tag the push found demands. 0, or TRP_EDEAD with @m handed back.
 */
static int deliver(struct trp_runtime *rt, struct trp__worker *w,
		   struct trp_actor *to, struct trp__msg *m)
{
	unsigned tag = trp__mailbox_push_mp(&to->mailbox, &m->node);
	if (trp__likely(tag == 0))
		return 0;
	if (tag == TRP__MAILBOX_IDLE) {
		trp__schedule(rt, to);
		return 0;
	}
	/* Closed: we are the consumer now. */
	if (drain_and_close(rt, w, to, m, TRP_DEAD_STOPPED))
		return TRP_EDEAD;
	return 0;
}

/* A behaviour of w->current sent to the overloaded @to: mute the sender
 * at the end of its turn (see "Backpressure" in actor.h). */
static void note_overloaded(struct trp__worker *w, struct trp_actor *to)
{
	struct trp_actor *self = w->current;
	if (self == NULL || self == to || w->mute_on != NULL)
		return;
	w->mute_on = trp_actor_retain(to);
}

/* Pushes @m at once: counts it, delivers it, notes an overloaded
 * receiver. 0, or TRP_EDEAD with @m handed back (and uncounted). */
static inline __attribute__((always_inline)) int
send_now(struct trp_runtime *rt, struct trp__worker *w, struct trp_actor *to,
	 struct trp__msg *m)
{
	/* relaxed: a count, not a publication (the exchange publishes the
	 * message). */
	uint32_t queued = atomic_fetch_add_explicit(&to->mailbox.owner_count, 1,
						    memory_order_relaxed);
	int rc = deliver(rt, w, to, m);
	if (rc == 0 && trp__unlikely(queued >= TRP__MUTE_HIGH) && w != NULL)
		note_overloaded(w, to);
	return rc;
}

/* ------------------------------------------------------------------ */
/* per-turn send batches (see outbox.h)                                */

static uint32_t outbox_index(const struct trp_actor *to)
{
	/* Actors are cache-line aligned: drop the low bits, mix, keep 8. */
	return (uint32_t)((((uintptr_t)to >> 6) * 0x9E3779B1u) & 0xffffffffu) >>
	       24;
}

/*
 * Enqueues the private chain @first .. @last of @n messages to @to with
 * one exchange and one count update, and schedules @to if it was idle.
 * Returns false if @to had stopped since the messages were accepted: they
 * became dead letters (counted), like any message that arrives after the
 * stop. A turn that made @to overloaded is noted (note_overloaded).
 */
static bool push_chain(struct trp_runtime *rt, struct trp__worker *w,
		       struct trp_actor *to, struct trp__mpsc_node *first,
		       struct trp__mpsc_node *last, uint32_t n)
{
	/* relaxed: a count, as in send_now; the exchange publishes. */
	uint32_t queued = atomic_fetch_add_explicit(&to->mailbox.owner_count, n,
						    memory_order_relaxed);
	unsigned tag = trp__mailbox_push_chain_mp(&to->mailbox, first, last);
	if (tag == TRP__MAILBOX_IDLE) {
		trp__schedule(rt, to);
	} else if (tag == TRP__MAILBOX_CLOSED) {
		(void)drain_and_close(rt, w, to, NULL, TRP_DEAD_STOPPED);
		return false;
	}
	if (trp__unlikely(queued >= TRP__MUTE_HIGH) && w != NULL)
		note_overloaded(w, to);
	return true;
}

/* Pushes the slot's chain, if any, with one exchange. */
static void outbox_push(struct trp_runtime *rt, struct trp__worker *w,
			struct trp__outbox_slot *s)
{
	uint32_t n = s->n;
	if (n == 0)
		return;
	s->n = 0;
	s->bundle = NULL;
	(void)push_chain(rt, w, s->to, s->first, s->last, n);
}

/* Pushes a held slot's chain; the slot stays a marker for this turn (its
 * first message went long ago) and keeps its reference. */
static void outbox_unhold(struct trp_runtime *rt, struct trp__worker *w,
			  struct trp__outbox_slot *s)
{
	outbox_push(rt, w, s);
	s->held = 0;
}

/* Drops the reference slot @s holds, if any. */
static void outbox_unref(struct trp__outbox *o, struct trp__outbox_slot *s)
{
	if (s->ref) {
		s->ref = 0;
		o->nref--;
		trp_actor_release(s->to);
	}
}

void trp__outbox_release_refs(struct trp__worker *w)
{
	struct trp__outbox *o = &w->outbox;
	for (uint32_t i = 0; i < TRP__OUTBOX_SLOTS && o->nref != 0; i++)
		outbox_unref(o, &o->slot[i]);
}

/* Pushes every chain of the turn; the next turn starts with no slot. */
static void outbox_flush(struct trp_runtime *rt, struct trp__worker *w)
{
	struct trp__outbox *o = &w->outbox;
	for (uint32_t i = 0; i < o->nheld; i++) {
		struct trp__outbox_slot *s = &o->slot[o->held[i]];
		if (s->held)
			outbox_unhold(rt, w, s);
		s->listed = 0;
	}
	o->nheld = 0;
}

/* The slot of @to if this turn already sent it a message (a chain forms
 * from the second one on), else NULL. */
static inline struct trp__outbox_slot *outbox_find(struct trp__outbox *o,
						   const struct trp_actor *to)
{
	struct trp__outbox_slot *s = &o->slot[outbox_index(to)];
	return s->stamp == o->stamp && s->to == to ? s : NULL;
}

/* A second message to s->to in this turn: keep it alive until the chain
 * is pushed (the behaviour may drop its handle meanwhile), with the
 * slot's reference. The first one needed none: it was pushed at once. */
static void outbox_hold(struct trp__outbox *o, struct trp__outbox_slot *s)
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
	s->bundle = NULL;
	if (!s->listed) {
		s->listed = 1;
		o->held[o->nheld++] = (uint16_t)(s - o->slot);
	}
}

/* Links @node, holding @count messages, at the end of @s's chain. */
static void outbox_link(struct trp__outbox_slot *s, struct trp__mpsc_node *node)
{
	/* relaxed: the chain is private until outbox_push, whose release
	 * link store publishes it. */
	if (s->n == 0)
		s->first = node;
	else
		atomic_store_explicit(&s->last->next, node,
				      memory_order_relaxed);
	s->last = node;
}

/* Appends a copy of a small message to the held slot @s's open bundle
 * (a new one if none is open or it is full). 0 or TRP_ENOMEM. */
static inline int outbox_append(struct trp_runtime *rt, struct trp__worker *w,
				struct trp__outbox_slot *s, uint32_t type,
				int32_t status, const void *data, size_t len)
{
	uint32_t need = trp__bundle_entry_size((uint32_t)len);
	struct trp__msg *b = s->bundle;
	if (b == NULL || b->pub.size + need > b->block - sizeof(*b)) {
		b = trp__bundle_alloc(s->n == 0 ? TRP__BUNDLE_FIRST :
						  TRP__BUNDLE_NEXT);
		if (b == NULL)
			return TRP_ENOMEM;
		outbox_link(s, &b->node);
		s->bundle = b;
	}
	trp__bundle_put(b->inline_data + b->pub.size, type, status, data, len);
	b->pub.size += need;
	if (++s->n == TRP__OUTBOX_CHAIN)
		outbox_push(rt, w, s);
	return 0;
}

/* Pushes what the turn running on @w holds back for @to, if anything. */
static void outbox_push_to(struct trp_runtime *rt, struct trp__worker *w,
			   const struct trp_actor *to)
{
	struct trp__outbox_slot *s = outbox_find(&w->outbox, to);
	if (s != NULL && s->held)
		outbox_push(rt, w, s);
}

/* A message (not bundled) from the turn running on @w to another event
 * actor: into @to's chain if the turn already sent to it, else at once. */
static __attribute__((noinline)) int outbox_send(struct trp_runtime *rt,
						 struct trp__worker *w,
						 struct trp_actor *to,
						 struct trp__msg *m)
{
	struct trp__outbox *o = &w->outbox;
	struct trp__outbox_slot *s = &o->slot[outbox_index(to)];
	bool current = s->stamp == o->stamp;
	if (trp__likely(current && s->to == to)) {
		outbox_hold(o, s);
		outbox_link(s, &m->node);
		s->bundle = NULL; /* later small copies go after @m */
		if (++s->n == TRP__OUTBOX_CHAIN)
			outbox_push(rt, w, s);
		return 0;
	}
	if (current && s->held)
		/* Another receiver's slot: push its chain now (order per
		 * receiver is kept) and take the slot over. */
		outbox_unhold(rt, w, s);
	if (s->to != to)
		outbox_unref(o, s); /* kept if @to had the slot before */
	/* The first message to a receiver in this turn goes at once. */
	int rc = send_now(rt, w, to, m);
	if (rc == 0) {
		s->to = to;
		/* held and listed are 0: a slot of an earlier turn was
		 * cleared by that turn's flush, and this turn's was unheld
		 * above (it stays listed, so it is not listed twice). */
		s->stamp = o->stamp;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* self-sends (outbox.h)                                               */

/* Pushes the self-sends the turn of @a on @w has not processed into a's
 * mailbox, copied into a block of their size (one pooled message when
 * there is one), and keeps the self bundle, emptied, for the next turns.
 * If the copy cannot be allocated, the bundle itself is pushed (and the
 * worker allocates another at its next self-send). */
static void self_flush(struct trp_runtime *rt, struct trp__worker *w,
		       struct trp_actor *a)
{
	struct trp__outbox *o = &w->outbox;
	struct trp__msg *b = o->self;
	uint32_t n = o->self_n;
	if (n == 0) {
		if (b != NULL)
			b->pub.size = 0;
		o->self_rd = 0;
		return;
	}
	const unsigned char *from = b->inline_data + o->self_rd;
	uint32_t bytes = (uint32_t)b->pub.size - o->self_rd;
	struct trp__msg *m = NULL;
	if (n == 1) {
		const struct trp__bundle_entry *e =
			(const struct trp__bundle_entry *)(const void *)from;
		m = trp__msg_alloc(pool_of(w), e->size);
		if (m != NULL) {
			m->pub = bundle_view(e);
			if (e->size != 0) {
				memcpy(m->inline_data, e->data, e->size);
				m->pub.data = m->inline_data;
			}
		}
	} else {
		m = trp__bundle_alloc((uint32_t)sizeof(struct trp__msg) +
				      bytes);
		if (m != NULL) {
			memcpy(m->inline_data, from, bytes);
			m->pub.size = bytes;
		}
	}
	if (m != NULL) {
		b->pub.size = 0; /* kept for the next self-sends */
	} else {
		if (o->self_rd != 0)
			memmove(b->inline_data, from, bytes);
		b->pub.size = bytes;
		m = b;
		o->self = NULL;
	}
	o->self_rd = 0;
	o->self_n = 0;
	/* The turn is a's consumer: the mailbox is neither idle nor closed
	 * until the turn ends or finish() closes it, after this push. */
	(void)push_chain(rt, w, a, &m->node, &m->node, n);
}

/* A self-send of the turn of @a on @w goes through the mailbox: it must
 * come behind those the self bundle holds, so they go first, and so do
 * the rest of the turn's self-sends (a bundle entry taken before a mailbox
 * message that is still being linked would overtake it). */
static void self_divert(struct trp_runtime *rt, struct trp__worker *w,
			struct trp_actor *a)
{
	if (w->outbox.self_off)
		return;
	self_flush(rt, w, a);
	w->outbox.self_off = 1;
}

/* Appends a small copy the turn of @a sends to @a itself to the self
 * bundle. 0; TRP_ENOMEM; or 1 if it must go through the mailbox (the
 * bundle overflowed: what it held was pushed, in order, and so will the
 * rest of the turn's self-sends be). */
static inline int self_append(struct trp_runtime *rt, struct trp__worker *w,
			      struct trp_actor *a, uint32_t type,
			      int32_t status, const void *data, size_t len)
{
	struct trp__outbox *o = &w->outbox;
	uint32_t need = trp__bundle_entry_size((uint32_t)len);
	struct trp__msg *b = o->self;
	if (b == NULL) {
		b = trp__bundle_alloc(TRP__SELF_BUNDLE);
		if (b == NULL)
			return TRP_ENOMEM;
		o->self = b;
		o->self_rd = 0;
		o->self_n = 0;
	} else if (b->pub.size + need > TRP__SELF_BUNDLE - sizeof(*b)) {
		self_divert(rt, w, a);
		return 1;
	}
	trp__bundle_put(b->inline_data + b->pub.size, type, status, data, len);
	b->pub.size += need;
	o->self_n++;
	return 0;
}

void trp__outbox_flush_current(struct trp__worker *w)
{
	if (w != NULL && w->outbox.nheld != 0)
		outbox_flush(w->rt, w);
}

/* Accounts for an accepted send. */
static inline __attribute__((always_inline)) void sent(struct trp_runtime *rt,
						       struct trp__worker *w,
						       struct trp_actor *to,
						       size_t len)
{
	TRP_PROBE2(send, to->id, len);
	trp__count(w, &trp__stats_of(rt, w)->sent, 1);
	if (w != NULL)
		w->turn_sends++;
}

static const struct trp__send_opts plain_send = { 0 };

/* The one send path; inlined into trp_send with constant options, so a
 * plain send tests none of them at run time. */
static inline __attribute__((always_inline)) int
actor_send(struct trp_actor *to, uint32_t type, const void *data, size_t len,
	   const struct trp__send_opts *opt)
{
	trp_free_fn owned_free = opt->owned_free;
	if (to == NULL || (data == NULL && len != 0))
		return TRP_EINVAL;
	if (len > TRP_MSG_MAX)
		return TRP_EMSGSIZE;
	/* relaxed: an early answer only; the closed tag is what makes a
	 * late send safe. */
	if (atomic_load_explicit(&to->lifecycle, memory_order_relaxed) !=
	    TRP__ALIVE)
		return TRP_EDEAD;
	struct trp_runtime *rt = to->rt;
	struct trp__worker *w = trp__worker_of(rt);
	bool leave = false;
	if (w == NULL && !opt->entered) {
		int rc = trp__outside_enter(rt);
		if (rc != 0)
			return rc;
		leave = true;
	}
	/* A bounded mailbox is counted before the message is made: a bound
	 * may be exceeded by the number of senders racing at that moment, at
	 * most. relaxed: a count, not a publication. */
	bool bounded = to->limit != 0;
	uint32_t queued =
		bounded ? atomic_fetch_add_explicit(&to->mailbox.owner_count, 1,
						    memory_order_relaxed) :
			  0;
	/* A small copy to the actor whose turn is running: the self bundle
	 * (outbox.h), unless it overflowed in this turn. */
	if (w != NULL && to == w->current && !bounded && owned_free == NULL &&
	    opt->reply == NULL && !opt->now && len <= TRP__BUNDLE_PAYLOAD_MAX &&
	    !w->outbox.self_off) {
		int r = self_append(rt, w, to, type, opt->status, data, len);
		if (r == 0)
			sent(rt, w, to, len);
		if (r <= 0)
			return r; /* a worker: nothing to leave or uncount */
	}
	if (w != NULL && to == w->current)
		self_divert(rt, w, to); /* the bundle cannot take this one */
	/* Not the turn's first send (that one goes at once and skips the
	 * table: most turns send just one): the turn's send batches. */
	bool batched = w != NULL && w->turn_sends != 0 && !bounded &&
		       w->current != to && w->current != NULL &&
		       to->kind == TRP__KIND_EVENT && !opt->now;
	struct trp__outbox_slot *slot;
	int rc = 0;
	struct trp__msg *m = NULL;
	if (bounded && queued >= to->limit) {
		trp__count(w, &trp__stats_of(rt, w)->rejected, 1);
		rc = TRP_EFULL;
	} else if (batched && owned_free == NULL && opt->reply == NULL &&
		   len <= TRP__BUNDLE_PAYLOAD_MAX &&
		   (slot = outbox_find(&w->outbox, to)) != NULL) {
		/* A small copy to a receiver already sent to: bundled. */
		outbox_hold(&w->outbox, slot);
		rc = outbox_append(rt, w, slot, type, opt->status, data, len);
		if (rc == 0)
			sent(rt, w, to, len);
		return rc; /* a worker: nothing to leave, nothing counted */
	} else if (owned_free != NULL) {
		m = trp__msg_alloc(pool_of(w), 0);
		if (m != NULL) {
			m->pub.data = data;
			m->hold = TRP__HOLD_OWNED;
			m->u.free_fn = owned_free;
		}
	} else {
		m = trp__msg_alloc(pool_of(w), len);
		if (m != NULL) {
			m->pub.data = len != 0 ? m->inline_data : NULL;
			trp__copy_payload(m->inline_data, data, len);
		}
	}
	if (m != NULL) {
		m->pub.type = type;
		m->pub.status = opt->status;
		m->pub.size = len;
		if (opt->reply != NULL) {
			m->request = TRP__REQ_PENDING;
			m->u.reply = opt->reply;
		}
		if (bounded) {
			rc = deliver(rt, w, to, m);
			if (rc == 0 &&
			    trp__unlikely(queued >= TRP__MUTE_HIGH) &&
			    w != NULL)
				note_overloaded(w, to);
		} else if (batched) {
			rc = outbox_send(rt, w, to, m);
		} else {
			if (opt->now && w != NULL && w->current != NULL)
				/* What the turn holds back for @to goes
				 * first (per-sender order). */
				outbox_push_to(rt, w, to);
			rc = send_now(rt, w, to, m);
		}
		if (rc == 0)
			sent(rt, w, to, len);
		else
			/* An owned payload stays the caller's. */
			trp__msg_free_block(pool_of(w), m);
	} else if (rc == 0) {
		rc = TRP_ENOMEM;
	}
	if (bounded && rc != 0 && rc != TRP_EDEAD)
		/* TRP_EDEAD came back through a drain that already
		 * uncounted the message; unbounded sends count only what
		 * they push. */
		atomic_fetch_sub_explicit(&to->mailbox.owner_count, 1,
					  memory_order_relaxed);
	if (leave)
		trp__outside_leave(rt);
	return rc;
}

/* Builds @n copies of the @len-byte messages at @items into a chain of
 * bundles (up to TRP__BUNDLE_NEXT bytes each). 0 or TRP_ENOMEM. */
static int build_run(struct trp__worker *w, uint32_t type,
		     const unsigned char *p, size_t len, uint32_t n,
		     struct trp__mpsc_node **firstp,
		     struct trp__mpsc_node **lastp)
{
	uint32_t need = trp__bundle_entry_size((uint32_t)len);
	uint32_t per =
		(TRP__BUNDLE_NEXT - (uint32_t)sizeof(struct trp__msg)) / need;
	struct trp__mpsc_node *first = NULL, *last = NULL;
	for (uint32_t k = 0; k < n;) {
		uint32_t m = n - k < per ? n - k : per;
		struct trp__msg *b = trp__bundle_alloc(
			(uint32_t)sizeof(struct trp__msg) + m * need);
		if (b == NULL) {
			while (first != NULL) {
				/* relaxed: our own private chain. */
				struct trp__mpsc_node *next =
					atomic_load_explicit(
						&first->next,
						memory_order_relaxed);
				trp__msg_free_block(pool_of(w),
						    trp__msg_of(first));
				first = first == last ? NULL : next;
			}
			return TRP_ENOMEM;
		}
		for (uint32_t j = 0; j < m; j++, k++) {
			trp__bundle_put(b->inline_data + b->pub.size, type, 0,
					p + (size_t)k * len, len);
			b->pub.size += need;
		}
		/* relaxed: the chain is private until the push. */
		if (first == NULL)
			first = &b->node;
		else
			atomic_store_explicit(&last->next, &b->node,
					      memory_order_relaxed);
		last = &b->node;
	}
	*firstp = first;
	*lastp = last;
	return 0;
}

uint32_t trp__actor_send_run(struct trp_actor *to, uint32_t type,
			     const void *items, size_t len, uint32_t n,
			     struct trp__shared_entries *shared, int *rc)
{
	static const struct trp__send_opts now = { .entered = true,
						   .now = true };
	const unsigned char *p = items;
	if (to->limit != 0 || to->kind != TRP__KIND_EVENT || n == 1 ||
	    atomic_load_explicit(&to->lifecycle, memory_order_relaxed) !=
		    TRP__ALIVE) {
		/* One by one (a stopped actor: each gets TRP_EDEAD, its
		 * early answer; relaxed, as in trp__actor_send). The shared
		 * reference handed over is not needed. */
		if (shared != NULL)
			trp__shared_entries_release(shared);
		uint32_t ok = 0;
		*rc = 0;
		for (uint32_t k = 0; k < n; k++) {
			int r = trp__actor_send(to, type, p + (size_t)k * len,
						len, &now);
			if (r == 0)
				ok++;
			else if (*rc == 0)
				*rc = r;
		}
		return ok;
	}
	struct trp_runtime *rt = to->rt;
	struct trp__worker *w = trp__worker_of(rt);
	struct trp__mpsc_node *first, *last;
	if (shared != NULL) {
		/* One small node that refers to the shared entries. */
		struct trp__msg *m = trp__msg_alloc(pool_of(w), 0);
		if (m == NULL) {
			trp__shared_entries_release(shared);
			*rc = TRP_ENOMEM;
			return 0;
		}
		m->hold = TRP__HOLD_SHARED; /* keeps the reference */
		m->pub.data = shared->data;
		m->pub.size = (size_t)trp__bundle_entry_size((uint32_t)len) * n;
		first = last = &m->node;
	} else {
		*rc = build_run(w, type, p, len, n, &first, &last);
		if (*rc != 0)
			return 0;
	}
	/* What this turn holds back for @to goes first (per-sender order). */
	if (w != NULL && w->current != NULL) {
		outbox_push_to(rt, w, to);
		if (w->current == to)
			self_divert(rt, w, to);
	}
	for (uint32_t k = 0; k < n; k++)
		TRP_PROBE2(send, to->id, len);
	trp__count(w, &trp__stats_of(rt, w)->sent, n);
	if (w != NULL)
		w->turn_sends += n;
	bool pushed = push_chain(rt, w, to, first, last, n);
	*rc = pushed ? 0 : TRP_EDEAD; /* else: dead letters now, counted */
	return pushed ? n : 0;
}

int trp__actor_send(struct trp_actor *to, uint32_t type, const void *data,
		    size_t len, const struct trp__send_opts *opt)
{
	return actor_send(to, type, data, len, opt != NULL ? opt : &plain_send);
}

int trp_send(trp_actor_t *to, uint32_t type, const void *data, size_t len)
{
	return actor_send(to, type, data, len, &plain_send);
}

int trp_send_owned(trp_actor_t *to, uint32_t type, void *buf, size_t len,
		   trp_free_fn free_fn)
{
	struct trp__send_opts opt = { .owned_free = free_fn != NULL ?
							    free_fn :
							    trp__app_free };
	return trp__actor_send(to, type, buf, len, &opt);
}

/* ------------------------------------------------------------------ */
/* backpressure                                                        */

/* End of @a's turn on @w: park @a on the overloaded receiver it sent to
 * instead of rescheduling it. */
static void mute_on_receiver(struct trp__worker *w, struct trp_actor *a)
{
	struct trp_actor *r = w->mute_on;
	w->mute_on = NULL;
	/* relaxed: validated by the CAS. */
	struct trp_actor *top =
		atomic_load_explicit(&r->muted, memory_order_relaxed);
	do {
		a->mute_next = top;
		/* ORDER: seq_cst: publishes a->mute_next to the unmuter and
		 * is ordered before our count re-read below. */
	} while (!atomic_compare_exchange_weak_explicit(&r->muted, &top, a,
							memory_order_seq_cst,
							memory_order_relaxed));
	/* ORDER: seq_cst, the other half of the Dekker pair. */
	if (atomic_load_explicit(&r->mailbox.owner_count,
				 memory_order_seq_cst) < TRP__MUTE_LOW)
		unmute_all(w->rt, r);
	trp_actor_release(r);
}

/* trp__actor_consumed, inlined into the turn. */
static inline void consumed(struct trp_actor *a, uint32_t n)
{
	if (n == 0)
		return;
	/* ORDER: seq_cst, the receiver's half of the unmute Dekker pair
	 * (see "Backpressure" in actor.h). */
	uint32_t left = atomic_fetch_sub_explicit(&a->mailbox.owner_count, n,
						  memory_order_seq_cst) -
			n;
	if (left < TRP__MUTE_LOW)
		unmute_all(a->rt, a);
}

void trp__actor_consumed(struct trp_actor *a, uint32_t n)
{
	consumed(a, n);
}

/* ------------------------------------------------------------------ */
/* close and stop                                                      */

int trp_actor_close(trp_actor_t *a)
{
	if (a == NULL)
		return TRP_EINVAL;
	struct trp_runtime *rt = a->rt;
	struct trp__worker *w = trp__worker_of(rt);
	if (w == NULL) {
		int rc = trp__outside_enter(rt);
		if (rc != 0)
			return rc;
	}
	/* The close marker goes behind what this turn sent already. */
	if (w != NULL && w->current != NULL) {
		trp__outbox_flush_current(w);
		if (w->current == a)
			self_flush(rt, w, a);
	}
	uint32_t s = TRP__ALIVE;
	/* ORDER: acq_rel orders this close after sends this thread made
	 * before (they were pushed already) and decides the one closer. */
	int rc = 0;
	if (atomic_compare_exchange_strong_explicit(
		    &a->lifecycle, &s, TRP__CLOSING, memory_order_acq_rel,
		    memory_order_acquire)) {
		/* The marker is part of the actor: closing never
		 * allocates, so it cannot fail. */
		unsigned tag =
			trp__mailbox_push_mp(&a->mailbox, &a->close_node);
		if (tag == TRP__MAILBOX_IDLE)
			trp__schedule(rt, a);
		else if (tag == TRP__MAILBOX_CLOSED)
			/* Stopped by itself meanwhile: just re-close. */
			(void)drain_and_close(rt, w, a, NULL, TRP_DEAD_STOPPED);
	} else if (s == TRP__STOPPED) {
		rc = TRP_EDEAD;
	}
	if (w == NULL)
		trp__outside_leave(rt);
	return rc;
}

int trp_actor_stop(trp_actor_t *self)
{
	if (self == NULL)
		return TRP_EINVAL;
	struct trp__worker *w = trp__worker_of(self->rt);
	if (w == NULL || w->current != self)
		return TRP_EPERM;
	self->stop_request = 1;
	return 0;
}

/* Unlinks @a from the live list and drops the runtime's reference. */
static void retire(struct trp_runtime *rt, struct trp_actor *a)
{
	trp__registry_forget(rt, a);
	trp__mutex_lock(&rt->actors_lock);
	if (a->live_prev != NULL)
		a->live_prev->live_next = a->live_next;
	else
		rt->actors = a->live_next;
	if (a->live_next != NULL)
		a->live_next->live_prev = a->live_prev;
	a->live_prev = a->live_next = NULL;
	trp__mutex_unlock(&rt->actors_lock);
	/* relaxed: a statistic; shared by all threads, so a real RMW. */
	atomic_fetch_add_explicit(&rt->stopped, 1, memory_order_relaxed);
	trp_actor_release(a);
}

/* The running worker stops @a: hook, drain, close, retire. */
static void finish(struct trp__worker *w, struct trp_actor *a,
		   trp_stop_reason_t why)
{
	struct trp_runtime *rt = a->rt;
	/* ORDER: release: a thread that sees STOPPED through
	 * trp_actor_alive() also sees what the actor did before stopping.
	 * Senders read it relaxed: it only gives them an early TRP_EDEAD. */
	atomic_store_explicit(&a->lifecycle, TRP__STOPPED,
			      memory_order_release);
	if (a->stop != NULL)
		a->stop(a, a->state, why);
	trp__outbox_flush_current(w);
	self_flush(rt, w, a); /* to the dead letters, below */
	w->outbox.stamp++;
	w->outbox.self_off = 0;
	w->current = NULL;
	if (w->mute_on != NULL) {
		trp_actor_release(w->mute_on);
		w->mute_on = NULL;
	}
	(void)drain_and_close(rt, w, a, NULL, TRP_DEAD_STOPPED);
	retire(rt, a);
}

void trp__actor_finish_thread(struct trp_actor *a)
{
	struct trp_runtime *rt = a->rt;
	/* ORDER: release, as in finish(). */
	atomic_store_explicit(&a->lifecycle, TRP__STOPPED,
			      memory_order_release);
	/* The thread owns the mailbox (recv made sure it is not tagged
	 * idle): drain what came after its last receive. */
	(void)drain_and_close(rt, NULL, a, NULL, TRP_DEAD_STOPPED);
	retire(rt, a);
}

void trp__actor_stop_all_at_shutdown(struct trp_runtime *rt)
{
	/* Workers are joined and outside senders are refused: this thread
	 * is the only one touching actors now. */
	for (;;) {
		trp__mutex_lock(&rt->actors_lock);
		struct trp_actor *a = rt->actors;
		trp__mutex_unlock(&rt->actors_lock);
		if (a == NULL)
			break;
		/* relaxed: single-threaded now. */
		uint32_t s = atomic_exchange_explicit(
			&a->lifecycle, TRP__STOPPED, memory_order_relaxed);
		/* Become the mailbox's consumer: an ALIVE actor's close
		 * marker is unused, so pushing it claims an idle mailbox; a
		 * CLOSING one already holds its marker and is scheduled, and
		 * no worker runs it. */
		if (s == TRP__ALIVE)
			(void)trp__mailbox_push_mp(&a->mailbox, &a->close_node);
		/* Also when the start hook never ran: the stop hook is
		 * where the actor's resources are released. */
		if (a->stop != NULL)
			a->stop(a, a->state, TRP_STOP_SHUTDOWN);
		(void)drain_and_close(rt, NULL, a, NULL, TRP_DEAD_SHUTDOWN);
		retire(rt, a);
	}
}

/* ------------------------------------------------------------------ */
/* one turn                                                            */

/* Runs the behaviour of @a, whose turn runs on @w, on its oldest waiting
 * self-send (outbox.h; o->self_n != 0). */
static void run_self_entry(struct trp__worker *w, struct trp_actor *a)
{
	struct trp__outbox *o = &w->outbox;
	const struct trp__bundle_entry *e = bundle_entry(o->self, o->self_rd);
	o->self_rd += trp__bundle_entry_size(e->size);
	o->self_n--;
	/* The behaviour may send itself more, which may move the bundle's
	 * entries: it reads a copy. */
	alignas(16) unsigned char copy[TRP__BUNDLE_PAYLOAD_MAX];
	trp_msg_t v = bundle_view(e);
	if (e->size != 0) {
		trp__copy_payload(copy, e->data, e->size);
		v.data = copy;
	}
	a->behavior(a, a->state, &v);
	trp__stat_add(&w->stats.processed, 1);
	if (o->self != NULL && o->self_n == 0) {
		o->self->pub.size = 0; /* read to its end */
		o->self_rd = 0;
	}
}

/* A long turn lowers its mailbox's count as it goes, not only at its end:
 * senders muted on it (actor.h, "Backpressure") go back to work as soon as
 * it has caught up, instead of waiting (their worker maybe parked) for a
 * turn that takes arrivals to end. */
#define TRP__CONSUMED_EVERY 256u

static inline void consumed_so_far(struct trp_actor *a, uint32_t n,
				   uint32_t *counted)
{
	if (trp__unlikely(n - *counted >= TRP__CONSUMED_EVERY)) {
		trp__actor_consumed(a, n - *counted);
		*counted = n;
	}
}

/* After @n messages of the turn running on @w: should it end (see
 * trp__actor_run)? @past: the messages present at its start are done. */
static inline bool turn_ends(struct trp__worker *w, struct trp_runtime *rt,
			     uint32_t n, uint32_t batch, bool past)
{
	/* relaxed: the shutdown flag is sticky; destroy stops workers after
	 * their current turn, so end it now. */
	return n >= batch || (past && w->turn_sends >= TRP__TURN_SENDS) ||
	       trp__unlikely(w->mute_on != NULL) ||
	       trp__unlikely(atomic_load_explicit(&rt->shutdown,
						  memory_order_relaxed));
}

void trp__actor_run(struct trp__worker *w, struct trp_actor *a)
{
	struct trp_runtime *rt = a->rt;
	w->current = a;
	w->turn_sends = 0;
	TRP_PROBE2(run_start, a->id, w->index);
	if (trp__unlikely(!a->started)) {
		a->started = 1;
		a->start(a, a->state);
		if (a->stop_request) {
			finish(w, a, TRP_STOP_NORMAL);
			return;
		}
	}
	/* The turn bound: the messages present now (up to the last one
	 * pushed so far), at most `batch` of them; past those, messages that
	 * arrive during the turn (self-sends included) are taken too while
	 * the turn has sent fewer than TRP__TURN_SENDS messages. So an actor
	 * that messages itself to go on runs several cheap steps per turn
	 * and its sends leave as chains (outbox.h), while one whose steps
	 * send a lot (a producer's chunk, a publish to many) yields after
	 * one step, and what a turn adds to other mailboxes stays bounded.
	 * The turn also ends when the actor asked to stop, when it must be
	 * muted (it sent to an overloaded receiver), at shutdown, or when
	 * the mailbox is empty. */
	struct trp__mpsc_node *last = trp__mailbox_snapshot_sc(&a->mailbox);
	if (last == NULL)
		last = a->carry; /* the only one, or none */
	bool past = last == NULL;
	uint32_t batch = rt->cfg.batch;
	uint32_t n = 0;	      /* messages processed */
	uint32_t taken = 0;   /* of them, taken from the mailbox */
	uint32_t counted = 0; /* of those, taken off the mailbox's count */
	trp_stop_reason_t stop = 0;
	struct trp__outbox *o = &w->outbox;
	for (;;) {
		struct trp__mpsc_node *done;
		uint32_t off;
		struct trp__mpsc_node *node = next_node(a, &done, &off);
		if (node == NULL) {
			/* Self-sends come after everything that was in the
			 * mailbox when the turn began (among them what the
			 * last turn left of its own), so only once that is
			 * done (past): a self-send's order with its earlier
			 * ones holds. */
			if (!past || o->self_n == 0)
				break;
			n++;
			run_self_entry(w, a);
			if (trp__unlikely(a->stop_request)) {
				stop = TRP_STOP_NORMAL;
				break;
			}
			if (turn_ends(w, rt, n, batch, past))
				break;
			continue;
		}
		release_done(w, a, done);
		if (trp__unlikely(node == &a->close_node)) {
			/* Self-sends still waiting were accepted before the
			 * close (sends after it are refused): they come
			 * first, as they would have from the mailbox. */
			while (o->self_n != 0 && !a->stop_request) {
				n++;
				run_self_entry(w, a);
			}
			stop = a->stop_request ? TRP_STOP_NORMAL :
						 TRP_STOP_CLOSED;
			break;
		}
		/* Start fetching the next message (written by another core,
		 * most likely) while this one is processed. relaxed: a hint;
		 * take_sc acquires it properly. */
		struct trp__mpsc_node *ahead =
			atomic_load_explicit(&node->next, memory_order_relaxed);
		if (ahead != NULL)
			__builtin_prefetch(ahead);
		struct trp__msg *m = trp__msg_of(node);
		if (trp__msg_is_bundle(m)) {
			uint32_t end = (uint32_t)m->pub.size;
			while (off < end) {
				const struct trp__bundle_entry *e =
					bundle_entry(m, off);
				off += trp__bundle_entry_size(e->size);
				if (off + 128 < end)
					__builtin_prefetch((const char *)e +
							   256);
				trp_msg_t v = bundle_view(e);
				n++;
				taken++;
				/* trp__current_msg stays NULL: an entry is
				 * never a request. */
				a->behavior(a, a->state, &v);
				trp__stat_add(&w->stats.processed, 1);
				consumed_so_far(a, taken, &counted);
				if (trp__unlikely(a->stop_request)) {
					stop = TRP_STOP_NORMAL;
					break;
				}
				if (off < end &&
				    turn_ends(w, rt, n, batch, past))
					break;
			}
			if (off < end) {
				/* The rest of the bundle waits for the next
				 * turn, or becomes dead letters (finish). */
				a->carry = node;
				a->carry_off = off;
				break;
			}
			if (m->hold == TRP__HOLD_SHARED)
				trp__msg_drop_payload(m);
			if (stop != 0)
				break;
		} else {
			n++;
			taken++;
			trp__current_msg = &m->pub;
			a->behavior(a, a->state, &m->pub);
			trp__current_msg = NULL;
			/* Per message, not per turn: a turn may be long,
			 * and sent - processed is how users watch a
			 * backlog. */
			trp__stat_add(&w->stats.processed, 1);
			consumed_so_far(a, taken, &counted);
			if (trp__unlikely(m->request != TRP__REQ_NONE))
				trp__request_done(m, TRP_ENOREPLY);
			/* The block stays: it is the mailbox's last node
			 * until the next take or the idle mark. */
			if (trp__unlikely(m->hold != TRP__HOLD_INLINE))
				trp__msg_drop_payload(m);
			if (trp__unlikely(a->stop_request)) {
				stop = TRP_STOP_NORMAL;
				break;
			}
		}
		if (node == last)
			past = true;
		if (turn_ends(w, rt, n, batch, past))
			break;
	}
	trp__outbox_flush_current(w);
	if (o->self_n != 0)
		self_flush(rt, w, a);
	o->stamp++; /* this turn's markers expire */
	o->self_off = 0;
	TRP_PROBE2(run_end, a->id, n);
	consumed(a, taken - counted);
	if (trp__unlikely(stop != 0)) {
		finish(w, a, stop);
		return;
	}
	w->current = NULL;
	if (trp__unlikely(w->mute_on != NULL)) {
		/* relaxed: a heuristic; an actor that is itself behind
		 * keeps running (the no-deadlock rule). */
		if (atomic_load_explicit(&a->mailbox.owner_count,
					 memory_order_relaxed) <
		    TRP__MUTE_LOW) {
			mute_on_receiver(w, a);
			return;
		}
		trp_actor_release(w->mute_on);
		w->mute_on = NULL;
	}
	if (a->carry != NULL) {
		/* A bundle is left half done: the mailbox must not go idle
		 * under it. */
		trp__schedule(rt, a);
		return;
	}
	/* Idle only if nothing is left; otherwise back of the queue. */
	struct trp__mpsc_node *done;
	if (trp__mailbox_mark_idle_sc(&a->mailbox, &done)) {
		release_done(w, a, done);
		return;
	}
	/* More is queued: take the next node now and carry it over, so the
	 * message just processed leaves the mailbox while it is hot in this
	 * core's cache (freed to our pool, it is the next block we hand
	 * out) instead of at the next turn, maybe on another core. */
	struct trp__mpsc_node *next = trp__mailbox_take_sc(&a->mailbox, &done);
	if (next != NULL) {
		release_done(w, a, done);
		a->carry = next;
	}
	trp__schedule(rt, a);
}
