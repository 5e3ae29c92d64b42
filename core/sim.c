/*
 * core/sim.c - simulation mode (troupe/sim.h): a runtime with no threads,
 * stepped by the test, one delivery per step, in an order a seeded policy
 * picks among those the real runtime could produce.
 *
 * How it sits on the runtime, without a branch on any hot path: the
 * runtime has one worker struct and no thread (runtime.c), batch 1 (a turn
 * takes one message). Sends take their usual routes into mailboxes; every
 * push that finds a mailbox idle schedules the actor on the worker struct's
 * run queues (inside a step, when the test's thread poses as the worker)
 * or on the injection queue (outside). After every step, and when a public
 * call begins, the simulator collects: it pops every scheduled actor,
 * takes everything out of its mailbox into the pending set and marks the
 * mailbox idle again. Between steps every mailbox is therefore empty and
 * idle, and what a collect finds in one was sent by the one actor whose
 * step just ran (or by outside threads when no step ran): that is how a
 * message's sender is known.
 *
 * The pending set: one FIFO queue per (sender, receiver) channel, and the
 * list of non-empty channels (in the order they became non-empty:
 * deterministic). A step picks a channel by the policy, takes its oldest
 * message, pushes it into the receiver's (idle) mailbox and runs one turn
 * of the receiver on it (turn.c, unchanged). A message packed in a bundle
 * (a turn's batched or self sends, a publish) is split into single
 * messages when collected. An actor with a start hook gets a "start" item
 * (its first turn runs the hook) unless a message reaches it first.
 *
 * Who may call: the thread that owns the simulated runtime. Nothing here is
 * shared between threads (no atomics of its own).
 */
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "alloc.h"
#include "dead_letter.h"
#include "delivery.h"
#include "message.h"
#include "outbox.h"
#include "runtime.h"
#include "scheduler.h"
#include "sim.h"
#include "turn.h"
#include "worker.h"
#include "troupe/sim.h"

#define ID_OUTSIDE 0u
#define ID_TIMER 1u
#define ID_FIRST 2u

#define TYPE_START 0xfffffff0u /* signature/trace type of a start item */
#define TYPE_CLOSE 0xfffffff1u /* of the close marker (a kill, a close) */

#define PCT_MAX_DEPTH 16u

/* Sends are numbered from SEQ_BASE up, preponed messages from it down:
 * "the oldest" is then the one preponed last. */
#define SEQ_BASE (1ull << 63)

/* What a step did (trace and signature). */
enum ev {
	EV_DELIVER = 0, /* processed by the behaviour */
	EV_START = 1,	/* the start hook ran */
	EV_CLOSE = 2,	/* the close marker: the actor stops */
	EV_DEAD = 3,	/* the receiver had stopped: a dead letter */
	EV_DROP = 4,	/* trp_sim_drop_next */
	EV_FAIL = 5,	/* trp_sim_fail_next */
};
static const char *const ev_name[] = { "deliver", "start", "close",
				       "dead",	  "drop",  "fail" };

struct item {
	uint64_t seq;
	/* a single message's node, the receiver's close_node, or NULL: the
	 * start item */
	struct trp__mpsc_node *node;
};

struct chan {
	uint32_t from, to_id;
	struct trp_actor *to; /* holds a reference until the sim goes */
	struct item *q;	      /* ring of cap (a power of two) */
	uint32_t head, n, cap;
	int32_t active; /* index in sim->active, or -1 */
	uint32_t drop;	/* trp_sim_drop_next calls not yet spent */
	uint64_t prio;	/* PCT */
};

struct fail_req {
	struct trp_actor *a; /* holds a reference */
	int32_t code;
};

struct trp_sim {
	struct trp__sim_link link; /* first: rt->sim points here */
	struct trp_runtime *rt;
	struct trp__worker *w;
	trp_sim_policy_t policy;
	uint64_t seed;
	uint64_t rng[4]; /* xoshiro256** */
	uint32_t pct_depth;
	uint64_t change_at[PCT_MAX_DEPTH];
	FILE *trace;

	struct chan *chans;
	uint32_t nchans, capchans;
	uint32_t *map; /* open addressing, key (from, to_id) -> index + 1 */
	uint32_t mapcap;
	uint32_t *active;
	uint32_t nactive, capactive;
	uint64_t npending;

	/* trp_sim_prepone: channels whose head was moved to the front, the
	 * latest last; a preponed item's seq is below SEQ_BASE */
	uint32_t *forced;
	uint32_t nforced, capforced;
	uint64_t front; /* the last preponed seq */

	struct fail_req *fails;
	uint32_t nfails, capfails;
	struct trp_actor *failing; /* this step's, with its behaviour */
	trp_behavior_fn failing_behavior;
	int32_t failing_code;

	uint64_t seq, steps, sig;
	uint32_t next_id;
	uint32_t sender; /* the id collect attributes messages to */
	bool closed;	 /* quiesce ran: the pending set is gone */
	char err[256];
};

/* Collecting cannot leave a message behind: a simulation out of memory
 * stops the test. */
static __attribute__((noreturn, cold)) void oom(void)
{
	fputs("troupe sim: out of memory while collecting messages\n", stderr);
	abort();
}

/* ------------------------------------------------------------------ */
/* PRNG: splitmix64 seeds xoshiro256** (never rand(): replay)          */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct trp_sim *s)
{
	uint64_t *r = s->rng;
	uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
	r[2] ^= r[0];
	r[3] ^= r[1];
	r[1] ^= r[2];
	r[0] ^= r[3];
	r[2] ^= t;
	r[3] = rotl(r[3], 45);
	return out;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply, no modulo bias worth
 * noting for n far below 2^32). */
static uint32_t rng_below(struct trp_sim *s, uint32_t n)
{
	return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdull;
	z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ull;
	return z ^ (z >> 33);
}

/* Makes room for one more element in the array *@v of *@n used, *@cap
 * allocated, @size bytes each (doubling, from @first). 0 or TRP_ENOMEM. */
static int grow(void **v, uint32_t n, uint32_t *cap, size_t size,
		uint32_t first)
{
	if (n < *cap)
		return 0;
	uint32_t c = *cap != 0 ? *cap * 2 : first;
	void *w = trp__alloc((size_t)c * size);
	if (w == NULL)
		return TRP_ENOMEM;
	if (n != 0)
		memcpy(w, *v, (size_t)n * size);
	trp__free(*v, 0);
	*v = w;
	*cap = c;
	return 0;
}

/* ------------------------------------------------------------------ */
/* ids and channels                                                    */

static uint32_t sid(struct trp_sim *s, struct trp_actor *a)
{
	if (a == NULL || a == TRP_SIM_OUTSIDE)
		return ID_OUTSIDE;
	struct trp__actor_ext *x = trp__actor_ext_make(a);
	if (x == NULL)
		return 0; /* out of memory: replays may differ */
	if (x->sim_id == 0)
		x->sim_id = s->next_id++;
	return x->sim_id;
}

static uint32_t key_hash(uint32_t from, uint32_t to)
{
	return (uint32_t)mix64(((uint64_t)from << 32) | to);
}

static int map_grow(struct trp_sim *s)
{
	uint32_t cap = s->mapcap ? s->mapcap * 2 : 64;
	uint32_t *m = trp__calloc(cap, sizeof *m);
	if (m == NULL)
		return TRP_ENOMEM;
	for (uint32_t i = 0; i < s->nchans; i++) {
		uint32_t h = key_hash(s->chans[i].from, s->chans[i].to_id);
		while (m[h & (cap - 1)] != 0)
			h++;
		m[h & (cap - 1)] = i + 1;
	}
	trp__free(s->map, 0);
	s->map = m;
	s->mapcap = cap;
	return 0;
}

static struct chan *chan_find(struct trp_sim *s, uint32_t from, uint32_t to)
{
	if (s->mapcap == 0)
		return NULL;
	for (uint32_t h = key_hash(from, to);; h++) {
		uint32_t i = s->map[h & (s->mapcap - 1)];
		if (i == 0)
			return NULL;
		struct chan *c = &s->chans[i - 1];
		if (c->from == from && c->to_id == to)
			return c;
	}
}

/* The channel from @from to @a, made if new; NULL: out of memory. */
static struct chan *chan_get(struct trp_sim *s, uint32_t from,
			     struct trp_actor *a)
{
	uint32_t to = sid(s, a);
	struct chan *c = chan_find(s, from, to);
	if (c != NULL)
		return c;
	if ((s->nchans + 1) * 2 > s->mapcap && map_grow(s) != 0)
		return NULL;
	if (grow((void **)&s->chans, s->nchans, &s->capchans,
		 sizeof s->chans[0], 16) != 0)
		return NULL;
	c = &s->chans[s->nchans];
	memset(c, 0, sizeof *c);
	c->from = from;
	c->to_id = to;
	c->to = trp_actor_retain(a);
	c->active = -1;
	/* PCT: initial priorities above every change point's */
	c->prio = (rng_next(s) >> 1) | (1ull << 62);
	uint32_t h = key_hash(from, to);
	while (s->map[h & (s->mapcap - 1)] != 0)
		h++;
	s->map[h & (s->mapcap - 1)] = ++s->nchans;
	return c;
}

static uint32_t chan_index(struct trp_sim *s, struct chan *c)
{
	return (uint32_t)(c - s->chans);
}

/* Makes room for one more item in @c and lists it active if it was
 * empty. 0 or TRP_ENOMEM. */
static int chan_room(struct trp_sim *s, struct chan *c)
{
	if (c->n == c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 4;
		struct item *q = trp__alloc(cap * sizeof *q);
		if (q == NULL)
			return TRP_ENOMEM;
		for (uint32_t i = 0; i < c->n; i++)
			q[i] = c->q[(c->head + i) & (c->cap - 1)];
		trp__free(c->q, 0);
		c->q = q;
		c->cap = cap;
		c->head = 0;
	}
	if (c->n == 0) {
		if (grow((void **)&s->active, s->nactive, &s->capactive,
			 sizeof s->active[0], 16) != 0)
			return TRP_ENOMEM;
		c->active = (int32_t)s->nactive;
		s->active[s->nactive++] = chan_index(s, c);
	}
	return 0;
}

/* Appends @node (NULL: a start item) to @c, as sent now. */
static int chan_push(struct trp_sim *s, struct chan *c,
		     struct trp__mpsc_node *node)
{
	int rc = chan_room(s, c);
	if (rc != 0)
		return rc;
	c->q[(c->head + c->n) & (c->cap - 1)] =
		(struct item){ .seq = s->seq++, .node = node };
	c->n++;
	s->npending++;
	return 0;
}

/* Puts @it back as @c's head (room is there: it was just taken). */
static void chan_push_front(struct trp_sim *s, struct chan *c, struct item it)
{
	int rc = chan_room(s, c);
	trp__assert(rc == 0);
	(void)rc;
	c->head = (c->head - 1) & (c->cap - 1);
	c->q[c->head] = it;
	c->n++;
	s->npending++;
}

static void deactivate(struct trp_sim *s, struct chan *c)
{
	uint32_t at = (uint32_t)c->active;
	uint32_t last = s->active[--s->nactive];
	s->active[at] = last;
	s->chans[last].active = (int32_t)at;
	c->active = -1;
}

/* Removes the item at position @k of @c's queue (k = 0: the head). */
static struct item chan_take(struct trp_sim *s, struct chan *c, uint32_t k)
{
	uint32_t mask = c->cap - 1;
	struct item it = c->q[(c->head + k) & mask];
	for (uint32_t i = k; i > 0; i--)
		c->q[(c->head + i) & mask] = c->q[(c->head + i - 1) & mask];
	c->head = (c->head + 1) & mask;
	c->n--;
	s->npending--;
	if (c->n == 0)
		deactivate(s, c);
	return it;
}

/* ------------------------------------------------------------------ */
/* collecting                                                          */

/* A message of a bundle, as a single message of its own. */
static struct trp__msg *entry_copy(struct trp__worker *w,
				   const struct trp__bundle_entry *e)
{
	trp_msg_t v = trp__bundle_view(e);
	struct trp__msg *m = trp__msg_alloc(trp__pool_of(w), v.size);
	if (m == NULL)
		return NULL;
	m->pub.type = v.type;
	m->pub.status = v.status;
	m->pub.size = v.size;
	m->pub.data = v.size != 0 ? m->inline_data : NULL;
	trp__copy_payload(m->inline_data, v.data, v.size);
	return m;
}

/* What the mailbox keeps of a node once collected: a single message or
 * the close marker stays pending (kept), a split bundle is freed. */
enum held {
	HELD_NONE,
	HELD_PENDING,
	HELD_SPLIT
};

/* Adds @node (from @off, for a bundle) to @c. */
static enum held add_node(struct trp_sim *s, struct chan *c,
			  struct trp__mpsc_node *node, uint32_t off)
{
	if (node == &c->to->close_node) {
		if (chan_push(s, c, node) != 0)
			oom();
		return HELD_PENDING;
	}
	struct trp__msg *m = trp__msg_of(node);
	if (!trp__msg_is_bundle(m)) {
		if (chan_push(s, c, node) != 0)
			oom();
		return HELD_PENDING;
	}
	uint32_t end = (uint32_t)m->pub.size;
	while (off < end) {
		const struct trp__bundle_entry *e =
			trp__bundle_entry_at(m, off);
		off += trp__bundle_entry_size(e->size);
		struct trp__msg *one = entry_copy(s->w, e);
		if (one == NULL || chan_push(s, c, &one->node) != 0)
			oom();
	}
	if (m->hold == TRP__HOLD_SHARED)
		trp__msg_drop_payload(m);
	return HELD_SPLIT;
}

/* Everything in @a's mailbox (and its carry) goes to the channel from the
 * current sender; the mailbox is left empty and idle. */
static void take_all(struct trp_sim *s, struct trp_actor *a)
{
	struct trp__worker *w = s->w;
	struct chan *c = chan_get(s, s->sender, a);
	if (c == NULL)
		oom();
	if (!a->started && chan_push(s, c, NULL) != 0)
		oom();
	enum held tail = HELD_NONE; /* what the mailbox's tail node is */
	/* before the first turn the carry slot holds the start hook
	 * (actor.h) */
	if (a->started && a->carry != NULL) {
		struct trp__mpsc_node *n = a->carry;
		uint32_t off = a->carry_off;
		a->carry = NULL;
		a->carry_off = 0;
		tail = add_node(s, c, n, off);
	}
	for (;;) {
		struct trp__mpsc_node *done;
		struct trp__mpsc_node *n =
			trp__mailbox_take_sc(&a->mailbox, &done);
		if (done != NULL && tail != HELD_PENDING)
			trp__release_done(w, a, done);
		if (n == NULL)
			break;
		tail = add_node(s, c, n, 0);
	}
	struct trp__mpsc_node *done;
	bool idle = trp__mailbox_mark_idle_sc(&a->mailbox, &done);
	trp__assert(idle); /* one thread: no push is in progress */
	(void)idle;
	if (done != NULL && tail != HELD_PENDING)
		trp__release_done(w, a, done);
}

/* Moves what the last step (or outside threads) sent into the pending
 * set, attributed to @sender. */
static void collect(struct trp_sim *s, uint32_t sender)
{
	struct trp__worker *w = s->w;
	s->sender = sender;
	for (;;) {
		struct trp_actor *a = trp__chase_lev_pop_owner(&w->lifo);
		if (a == NULL)
			a = trp__run_ring_pop_owner(&w->runq);
		if (a == NULL)
			a = trp__inject_pop(s->rt, w);
		if (a == NULL)
			break;
		take_all(s, a);
	}
	w->lifo_used = false;
}

/* ------------------------------------------------------------------ */
/* picking                                                             */

/* The channel whose head the policy delivers next (nactive > 0). */
static uint32_t pick(struct trp_sim *s)
{
	switch (s->policy) {
	case TRP_SIM_RANDOM:
		return s->active[rng_below(s, s->nactive)];
	case TRP_SIM_PCT: {
		uint32_t best = s->active[0];
		for (uint32_t i = 1; i < s->nactive; i++) {
			uint32_t k = s->active[i];
			if (s->chans[k].prio > s->chans[best].prio)
				best = k;
		}
		/* A change point: the chosen chain drops below every other
		 * (the later the point, the lower), and the choice is made
		 * again. */
		for (uint32_t j = 1; j < s->pct_depth; j++)
			if (s->change_at[j] == s->steps + 1) {
				s->change_at[j] = 0; /* spent */
				s->chans[best].prio = s->pct_depth - j;
				return pick(s);
			}
		return best;
	}
	case TRP_SIM_FIFO:
	default: {
		uint32_t best = s->active[0];
		uint64_t seq = UINT64_MAX;
		for (uint32_t i = 0; i < s->nactive; i++) {
			struct chan *c = &s->chans[s->active[i]];
			uint64_t q = c->q[c->head].seq;
			if (q < seq)
				seq = q, best = s->active[i];
		}
		return best;
	}
	}
}

/* ------------------------------------------------------------------ */
/* stepping                                                            */

static void fail_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	(void)msg;
	struct trp_sim *s = (struct trp_sim *)(void *)self->rt->sim;
	(void)trp_actor_fail(self, s->failing_code);
}

/* A trp_sim_fail_next request for @a: armed for this delivery. */
static bool arm_failure(struct trp_sim *s, struct trp_actor *a)
{
	for (uint32_t i = 0; i < s->nfails; i++) {
		if (s->fails[i].a != a)
			continue;
		s->failing = a;
		s->failing_behavior = a->behavior;
		s->failing_code = s->fails[i].code;
		a->behavior = fail_behavior;
		trp_actor_release(a);
		memmove(&s->fails[i], &s->fails[i + 1],
			(s->nfails - i - 1) * sizeof s->fails[0]);
		s->nfails--;
		return true;
	}
	return false;
}

static void record(struct trp_sim *s, struct chan *c, uint32_t type,
		   size_t size, enum ev ev)
{
	uint64_t step = ++s->steps;
	uint64_t h = s->sig;
	h = mix64(h ^ step);
	h = mix64(h ^ (((uint64_t)c->to_id << 32) | c->from));
	h = mix64(h ^ (((uint64_t)type << 32) | (uint32_t)size));
	s->sig = mix64(h ^ (uint64_t)ev);
	if (s->trace == NULL)
		return;
	if (type >= TYPE_START) /* not a message: no type */
		fprintf(s->trace, "%llu %u<-%u - %s\n",
			(unsigned long long)step, c->to_id, c->from,
			ev_name[ev]);
	else
		fprintf(s->trace, "%llu %u<-%u type=%u size=%zu %s\n",
			(unsigned long long)step, c->to_id, c->from, type, size,
			ev_name[ev]);
}

/* Drops @m (trp_sim_drop_next): a dead letter that never arrived. */
static void drop(struct trp_sim *s, struct trp_actor *a, struct trp__msg *m)
{
	trp__dead_letter(s->rt, s->w, a, &m->pub, TRP_DEAD_DROPPED);
	trp__request_done(m, TRP_EDEAD);
	(void)trp__mailbox_count_sub(&a->mailbox, 1);
	trp__msg_free(trp__pool_of(s->w), m);
}

/* Delivers @it of channel @c: one step. Returns 1, or 0 if it was a start
 * item the actor no longer needed (no step). */
static int deliver(struct trp_sim *s, struct chan *c, struct item it)
{
	struct trp_actor *a = c->to;
	struct trp__worker *w = s->w;
	struct trp__worker *prev = trp__self_worker;
	if (it.node == NULL) { /* start */
		/* relaxed: one thread runs the simulated runtime. */
		if (a->started ||
		    atomic_load_explicit(&a->lifecycle, memory_order_relaxed) ==
			    TRP__STOPPED)
			return 0; /* a message, or its stop, came first */
		record(s, c, TYPE_START, 0, EV_START);
		trp__self_worker = w;
		(void)trp__mailbox_reclaim_sc(&a->mailbox);
		trp__actor_run(w, a);
	} else {
		bool close = it.node == &a->close_node;
		struct trp__msg *m = close ? NULL : trp__msg_of(it.node);
		uint32_t type = close ? TYPE_CLOSE : m->pub.type;
		size_t size = close ? 0 : m->pub.size;
		if (!close && c->drop != 0) {
			c->drop--;
			record(s, c, type, size, EV_DROP);
			trp__self_worker = w;
			drop(s, a, m);
			goto out;
		}
		trp__self_worker = w;
		unsigned tag = trp__mailbox_push_mp(&a->mailbox, it.node);
		if (tag == TRP__MAILBOX_IDLE) {
			bool fail = !close && arm_failure(s, a);
			record(s, c, type, size,
			       close ? EV_CLOSE :
			       fail  ? EV_FAIL :
				       EV_DELIVER);
			trp__actor_run(w, a);
			if (fail) {
				a->behavior = s->failing_behavior;
				s->failing = NULL;
			}
		} else {
			/* Stopped: the push drains it as a dead letter. */
			trp__assert(tag == TRP__MAILBOX_CLOSED);
			record(s, c, type, size, EV_DEAD);
			(void)trp__drain_and_close(s->rt, w, a, NULL,
						   TRP_DEAD_STOPPED);
		}
	}
out:
	collect(s, c->to_id);
	trp__self_worker = prev;
	return 1;
}

/* The common checks of a call that runs behaviours. */
static int driving(struct trp_sim *s)
{
	if (s == NULL)
		return TRP_EINVAL;
	if (trp__self_worker == s->w)
		return TRP_EDEADLK;
	/* relaxed: one thread owns a simulated runtime. */
	if (s->closed ||
	    atomic_load_explicit(&s->rt->shutdown, memory_order_relaxed) != 0)
		return TRP_ESHUTDOWN;
	return 0;
}

/* One step, checks done: 1 or 0 (idle). */
static int step(struct trp_sim *s)
{
	collect(s, ID_OUTSIDE);
	for (;;) {
		if (s->nforced != 0) {
			/* the latest prepone first, if its message is still
			 * its channel's head (an expect may have taken it) */
			struct chan *c = &s->chans[s->forced[--s->nforced]];
			if (c->n != 0 && c->q[c->head].seq < SEQ_BASE &&
			    deliver(s, c, chan_take(s, c, 0)))
				return 1;
			continue;
		}
		if (s->nactive == 0)
			return 0;
		struct chan *c = &s->chans[pick(s)];
		if (deliver(s, c, chan_take(s, c, 0)))
			return 1;
	}
}

int trp_sim_step(trp_sim_t *s)
{
	int rc = driving(s);
	return rc != 0 ? rc : step(s);
}

int trp_sim_run(trp_sim_t *s, uint64_t max_steps, uint64_t *steps)
{
	uint64_t n = 0;
	int rc = driving(s);
	while (rc == 0) {
		if (max_steps != 0 && n == max_steps) {
			collect(s, ID_OUTSIDE);
			rc = s->npending != 0 ? TRP_EBUSY : 0;
			break;
		}
		int r = step(s);
		if (r == 0)
			break;
		n++;
	}
	if (steps != NULL)
		*steps = n;
	return rc;
}

/* Moves the clock to @t (not backwards) and fires what is due. */
static int64_t fire_until(struct trp_sim *s, uint64_t t)
{
	int64_t fired = 0;
	collect(s, ID_OUTSIDE);
	for (;;) {
		uint64_t next = trp__timers_next(s->rt);
		if (next > t)
			break;
		if (next > s->link.now_ns)
			s->link.now_ns = next;
		uint64_t before = s->seq;
		trp__timers_fire_due(s->rt);
		collect(s, ID_TIMER);
		fired += (int64_t)(s->seq - before);
	}
	if (t > s->link.now_ns)
		s->link.now_ns = t;
	return fired;
}

int64_t trp_sim_advance(trp_sim_t *s, int64_t ns)
{
	int rc = driving(s);
	if (rc != 0)
		return rc;
	if (ns < 0)
		return TRP_EINVAL;
	uint64_t t = (uint64_t)ns > UINT64_MAX - s->link.now_ns ?
			     UINT64_MAX :
			     s->link.now_ns + (uint64_t)ns;
	return fire_until(s, t);
}

bool trp__sim_wait(trp_runtime_t *rt, bool (*done)(void *arg), void *arg,
		   uint64_t deadline)
{
	struct trp_sim *s = (struct trp_sim *)(void *)rt->sim;
	for (;;) {
		if (done(arg))
			return true;
		if (driving(s) != 0)
			return false;
		if (step(s) != 0)
			continue;
		uint64_t next = trp__timers_next(rt);
		if (next > deadline || next == UINT64_MAX)
			return false;
		(void)fire_until(s, next);
	}
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static int sim_wait_idle(struct trp_runtime *rt, int64_t timeout_ns)
{
	(void)timeout_ns; /* idle is reached in virtual time */
	struct trp_sim *s = (struct trp_sim *)(void *)rt->sim;
	int rc = driving(s);
	if (rc != 0)
		return rc;
	(void)trp__sim_wait(rt, never, NULL, s->link.now_ns);
	return 0;
}

/* ------------------------------------------------------------------ */
/* inspecting and steering                                             */

/* Messages in @c's queue (start items are not messages). */
static uint64_t chan_messages(const struct chan *c)
{
	uint64_t n = 0;
	for (uint32_t j = 0; j < c->n; j++)
		n += c->q[(c->head + j) & (c->cap - 1)].node != NULL;
	return n;
}

uint64_t trp_sim_pending(trp_sim_t *s, const trp_actor_t *to)
{
	if (s == NULL || s->closed)
		return 0;
	collect(s, ID_OUTSIDE);
	uint64_t n = 0;
	for (uint32_t i = 0; i < s->nactive; i++) {
		struct chan *c = &s->chans[s->active[i]];
		if (to == NULL || c->to == to)
			n += chan_messages(c);
	}
	return n;
}

/* The oldest pending message for @to (from @from unless NULL) of @type
 * (TRP_SIM_ANY_TYPE: any type); with @any_type_first the oldest of any
 * type is found and its type checked by the caller. */
static bool find(struct trp_sim *s, trp_actor_t *to, trp_actor_t *from,
		 uint32_t type, uint32_t *ci, uint32_t *k)
{
	uint32_t from_id = from != NULL ? sid(s, from) : 0;
	uint64_t seq = UINT64_MAX;
	bool found = false;
	for (uint32_t i = 0; i < s->nactive; i++) {
		struct chan *c = &s->chans[s->active[i]];
		if (c->to != to || (from != NULL && c->from != from_id))
			continue;
		for (uint32_t j = 0; j < c->n; j++) {
			struct item *it = &c->q[(c->head + j) & (c->cap - 1)];
			uint32_t t = it->node == NULL ?
					     TYPE_START :
				     it->node == &to->close_node ?
					     TYPE_CLOSE :
					     trp__msg_of(it->node)->pub.type;
			if (t == TYPE_START)
				continue; /* not a message */
			if (type != TRP_SIM_ANY_TYPE && t != type)
				continue;
			if (it->seq < seq) {
				seq = it->seq;
				*ci = s->active[i];
				*k = j;
				found = true;
			}
			break; /* later ones of this channel are younger */
		}
	}
	return found;
}

static int steer_checks(struct trp_sim *s, trp_actor_t *to)
{
	int rc = driving(s);
	if (rc != 0)
		return rc;
	if (to == NULL || to == TRP_SIM_OUTSIDE || to->rt != s->rt)
		return TRP_EINVAL;
	collect(s, ID_OUTSIDE);
	return 0;
}

/* The checks of prepone and expect, and the message they act on: its
 * channel *@ci and place *@k (see find); TRP_ENOENT with trp_sim_error()
 * saying what was looked for. */
static int locate(struct trp_sim *s, const char *what, trp_actor_t *to,
		  trp_actor_t *from, uint32_t type, uint32_t want, uint32_t *ci,
		  uint32_t *k)
{
	int rc = steer_checks(s, to);
	if (rc != 0)
		return rc;
	if (find(s, to, from, type, ci, k))
		return 0;
	char t[16] = "any";
	if (want != TRP_SIM_ANY_TYPE)
		snprintf(t, sizeof t, "%u", want);
	snprintf(s->err, sizeof s->err,
		 "%s: no message pending for actor #%u%s at step %llu (wanted "
		 "type %s%s)",
		 what, sid(s, to), from != NULL ? " from that sender" : "",
		 (unsigned long long)s->steps, t,
		 type == want ? "" : ", found nothing at all");
	return TRP_ENOENT;
}

int trp_sim_prepone(trp_sim_t *s, trp_actor_t *to, trp_actor_t *from,
		    uint32_t type)
{
	uint32_t ci, k;
	int rc = locate(s, "prepone", to, from, type, type, &ci, &k);
	if (rc != 0)
		return rc;
	if (grow((void **)&s->forced, s->nforced, &s->capforced,
		 sizeof s->forced[0], 4) != 0)
		return TRP_ENOMEM;
	struct chan *c = &s->chans[ci];
	struct item it = chan_take(s, c, k);
	it.seq = --s->front;
	chan_push_front(s, c, it);
	s->forced[s->nforced++] = ci;
	return 0;
}

int trp_sim_expect(trp_sim_t *s, trp_actor_t *to, trp_actor_t *from,
		   uint32_t type)
{
	/* the next message of any type, then its type checked */
	uint32_t ci, k;
	int rc = locate(s, "expect", to, from, TRP_SIM_ANY_TYPE, type, &ci, &k);
	if (rc != 0)
		return rc;
	struct chan *c = &s->chans[ci];
	struct item *it = &c->q[(c->head + k) & (c->cap - 1)];
	bool close = it->node == &to->close_node;
	uint32_t t = close ? TYPE_CLOSE : trp__msg_of(it->node)->pub.type;
	if (type != TRP_SIM_ANY_TYPE && t != type) {
		snprintf(s->err, sizeof s->err,
			 "expect: next message for actor #%u is type %u from "
			 "#%u (size %zu), not type %u, at step %llu",
			 c->to_id, t, c->from,
			 close ? (size_t)0 : trp__msg_of(it->node)->pub.size,
			 type, (unsigned long long)s->steps);
		return TRP_EINVAL;
	}
	s->err[0] = '\0';
	(void)deliver(s, c, chan_take(s, c, k));
	return 0;
}

/* ------------------------------------------------------------------ */
/* failure injection                                                   */

int trp_sim_fail_next(trp_sim_t *s, trp_actor_t *a, int32_t code)
{
	if (s == NULL || a == NULL || a == TRP_SIM_OUTSIDE || a->rt != s->rt)
		return TRP_EINVAL;
	if (grow((void **)&s->fails, s->nfails, &s->capfails,
		 sizeof s->fails[0], 4) != 0)
		return TRP_ENOMEM;
	s->fails[s->nfails++] = (struct fail_req){ trp_actor_retain(a), code };
	return 0;
}

int trp_sim_drop_next(trp_sim_t *s, trp_actor_t *from, trp_actor_t *to)
{
	if (s == NULL || from == NULL || to == NULL || to == TRP_SIM_OUTSIDE ||
	    to->rt != s->rt || (from != TRP_SIM_OUTSIDE && from->rt != s->rt))
		return TRP_EINVAL;
	struct chan *c = chan_get(s, sid(s, from), to);
	if (c == NULL)
		return TRP_ENOMEM;
	c->drop++;
	return 0;
}

int trp_sim_stop(trp_sim_t *s, trp_actor_t *a)
{
	int rc = steer_checks(s, a);
	if (rc != 0)
		return rc;
	rc = trp_actor_kill(a);
	if (rc != 0)
		return rc;
	collect(s, ID_OUTSIDE);
	uint32_t ci, k;
	if (find(s, a, TRP_SIM_OUTSIDE, TYPE_CLOSE, &ci, &k))
		(void)deliver(s, &s->chans[ci], chan_take(s, &s->chans[ci], k));
	return 0;
}

/* ------------------------------------------------------------------ */
/* reading                                                             */

uint64_t trp_sim_signature(const trp_sim_t *s)
{
	return s != NULL ? s->sig : 0;
}

uint64_t trp_sim_steps(const trp_sim_t *s)
{
	return s != NULL ? s->steps : 0;
}

uint64_t trp_sim_seed(const trp_sim_t *s)
{
	return s != NULL ? s->seed : 0;
}

uint64_t trp_sim_now(const trp_sim_t *s)
{
	return s != NULL ? s->link.now_ns : 0;
}

uint32_t trp_sim_actor_id(trp_sim_t *s, trp_actor_t *a)
{
	return s != NULL ? sid(s, a) : 0;
}

const char *trp_sim_error(const trp_sim_t *s)
{
	return s != NULL ? s->err : "";
}

trp_sim_t *trp_sim_of(trp_runtime_t *rt)
{
	return rt != NULL ? (struct trp_sim *)(void *)rt->sim : NULL;
}

uint64_t trp_sim_seed_env(uint64_t fallback, int *from_env)
{
	const char *v = getenv("TRP_SIM_SEED");
	char *end = NULL;
	unsigned long long n = v != NULL ? strtoull(v, &end, 0) : 0;
	bool ok = v != NULL && *v != '\0' && end != NULL && *end == '\0';
	if (from_env != NULL)
		*from_env = ok;
	return ok ? (uint64_t)n : fallback;
}

void trp_sim_report(const trp_sim_t *s, FILE *out)
{
	static const char *const names[] = { "FIFO", "RANDOM", "PCT" };
	if (s == NULL || out == NULL)
		return;
	fprintf(out,
		"troupe sim: seed=%llu policy=%s steps=%llu "
		"signature=%016llx%s%s; replay: TRP_SIM_SEED=%llu\n",
		(unsigned long long)s->seed, names[s->policy],
		(unsigned long long)s->steps, (unsigned long long)s->sig,
		s->err[0] != '\0' ? " last error: " : "", s->err,
		(unsigned long long)s->seed);
}

uint64_t trp__clock_ns(trp_runtime_t *rt)
{
	return trp__runtime_now_ns(rt);
}

bool trp__sim_seed(trp_runtime_t *rt, trp_actor_t *a, uint64_t *seed)
{
	if (rt->sim == NULL)
		return false;
	struct trp_sim *s = (struct trp_sim *)(void *)rt->sim;
	*seed = mix64(s->seed ^ ((uint64_t)sid(s, a) << 32));
	return true;
}

/* ------------------------------------------------------------------ */
/* create, and the feature's hooks                                     */

int trp_sim_create(const trp_sim_config_t *cfg, trp_runtime_t **rtp,
		   trp_sim_t **out)
{
	if (cfg == NULL || rtp == NULL || out == NULL)
		return TRP_EINVAL;
	if (cfg->version != TRP_SIM_CONFIG_VERSION)
		return TRP_EVERSION;
	if ((uint32_t)cfg->policy > TRP_SIM_PCT ||
	    cfg->pct_depth > PCT_MAX_DEPTH)
		return TRP_EINVAL;
	struct trp_sim *s = trp__calloc(1, sizeof *s);
	if (s == NULL)
		return TRP_ENOMEM;
	s->policy = cfg->policy;
	s->seed = cfg->seed;
	s->trace = cfg->trace;
	s->next_id = ID_FIRST;
	s->seq = SEQ_BASE;
	s->front = SEQ_BASE;
	s->link.seed = cfg->seed;
	s->link.wait_idle = sim_wait_idle;
	uint64_t x = cfg->seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
	s->pct_depth = cfg->pct_depth != 0 ? cfg->pct_depth : 3;
	uint32_t k = cfg->pct_steps != 0 ? cfg->pct_steps : 1000;
	for (uint32_t j = 1; j < s->pct_depth; j++)
		s->change_at[j] = 1 + rng_below(s, k);
	trp_runtime_t *rt;
	int rc = trp__runtime_create(cfg->runtime, &s->link, &rt);
	if (rc != 0) {
		trp__free(s, sizeof *s);
		return rc;
	}
	s->rt = rt;
	s->w = &rt->workers[0];
	*(struct trp_sim **)trp__feature_state(rt, TRP__FEATURE_SIM) = s;
	*rtp = rt;
	*out = s;
	return 0;
}

/* Destroy, step 1, after every other feature's: what is pending goes back
 * to its receiver's mailbox in send order, where the shutdown that follows
 * makes it dead letters (TRP_DEAD_SHUTDOWN, or TRP_DEAD_STOPPED for an
 * actor that stopped), as in a real runtime. */
static void sim_quiesce(struct trp_runtime *rt, void *state)
{
	struct trp_sim *s = *(struct trp_sim **)state;
	if (s == NULL)
		return;
	struct trp__worker *prev = trp__self_worker;
	trp__self_worker = s->w;
	collect(s, ID_OUTSIDE);
	/* FIFO: the order the messages were sent in (preponed ones
	 * first) */
	s->policy = TRP_SIM_FIFO;
	while (s->nactive != 0) {
		struct chan *c = &s->chans[pick(s)];
		struct item it = chan_take(s, c, 0);
		if (it.node == NULL)
			continue;
		struct trp_actor *a = c->to;
		unsigned tag = trp__mailbox_push_mp(&a->mailbox, it.node);
		if (tag == TRP__MAILBOX_CLOSED)
			(void)trp__drain_and_close(rt, s->w, a, NULL,
						   TRP_DEAD_STOPPED);
		/* IDLE: left scheduled for no one; the shutdown drains it */
	}
	/* the references the worker struct's send slots keep (a worker
	 * thread drops them when it parks or exits) */
	trp__outbox_release_refs(s->w);
	trp__self_worker = prev;
	s->closed = true;
	for (uint32_t i = 0; i < s->nfails; i++)
		trp_actor_release(s->fails[i].a);
	s->nfails = 0;
}

/* Destroy, step 4: every actor has stopped. */
static void sim_fini(struct trp_runtime *rt, void *state)
{
	(void)rt;
	struct trp_sim *s = *(struct trp_sim **)state;
	if (s == NULL)
		return;
	for (uint32_t i = 0; i < s->nchans; i++) {
		trp_actor_release(s->chans[i].to);
		trp__free(s->chans[i].q, 0);
	}
	trp__free(s->chans, 0);
	trp__free(s->map, 0);
	trp__free(s->active, 0);
	trp__free(s->fails, 0);
	trp__free(s->forced, 0);
	/* The link stays with the runtime struct's last reader: stats and
	 * the clock may be read until it is freed. */
	rt->sim = NULL;
	trp__free(s, sizeof *s);
}

const struct trp__feature trp__feature_sim = {
	.name = "sim",
	.state_size = sizeof(struct trp_sim *),
	.quiesce = sim_quiesce,
	.fini = sim_fini,
};
