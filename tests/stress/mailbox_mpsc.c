/*
 * tests/stress/mailbox_mpsc.c - T1 (raw queue): 8 producers push into ONE
 * trp__mailbox while one consumer runs the actor protocol on it, with
 * keep-last consumption (trp__mailbox_take_sc: the node taken last stays
 * in the queue as its tail and comes back as "done" from the next take, or
 * from the mark_idle/close that ends the turn).
 *
 * The protocol, exactly as a worker runs an actor:
 * - the mailbox starts idle and the consumer unscheduled;
 * - a producer whose push returns TRP__MAILBOX_IDLE (it saw the idle tag)
 *   holds the one schedule token and hands it to the consumer (a CAS
 *   FREE -> HELD on `token`, then a futex wake if the consumer sleeps);
 * - the consumer runs turns only while it holds the token. At the end of a
 *   turn it gives the token up and tries trp__mailbox_mark_idle_sc: on
 *   success it waits for the next token; on failure (a node arrived or a
 *   push is in flight) it takes the token back and runs another turn.
 * One push in 8 is a chain of 2..4 consecutive items
 * (trp__mailbox_push_chain_mp, as an actor's outbox sends them).
 *
 * Three shapes (argv[1]; default: all three, one after the other):
 * - "drain":    take until take returns NULL, then try to go idle. After
 *               one idle mark in 16 the consumer takes the mailbox back at
 *               once with trp__mailbox_reclaim_sc (as a thread actor does):
 *               if that wins, no push may have seen the tag, and the next
 *               turns mark idle with the stub as the tail while producers
 *               push - the case where mark_idle must leave stub.next alone;
 * - "snapshot": trp__mailbox_snapshot_sc bounds the turn: take until the
 *               snapshot node has been taken (or a batch cap is hit, or
 *               take returns NULL because a push is in flight), then try to
 *               go idle or "reschedule" (run another turn, yielding the CPU
 *               now and then as a worker would serve other actors);
 * - "close":    as drain, but once a random 10..90 % of the items have
 *               arrived the actor stops: it closes the mailbox
 *               (trp__mailbox_close_sc) instead of marking it idle. From
 *               then on the one push that finds the closed tag makes its
 *               producer the consumer for a moment: it takes
 *               ("dead-letters") everything and closes again. The same
 *               checks run on that stream, now consumed by many threads in
 *               turn: their only ordering is the close CAS (release) and
 *               the pushes' exchange (acquire), which TSan checks.
 *
 * Nodes are recycled: every node handed back as done is checked (it must
 * be the node taken last, and its link must hold what the queue left in
 * it: the node taken after it, or NULL after mark_idle/close), poisoned
 * (payload and link) and put back on its producer's free list (in batches
 * of BACK_BATCH, or at once after mark_idle/close), which the producer
 * takes whole when it has used up the nodes it holds; each producer owns
 * WINDOW nodes (the flow-control bound). So the hazard of keep-last - the
 * queue still writing into a node it handed back (a link stored behind it,
 * a second hand-back, a take) - shows either as a poisoned link overwritten
 * when the producer reuses the node, or as a corrupted queue once it is
 * queued again. Each node carries a state: FREE (on a free list), QUEUED
 * (set by the producer before its push) and TAKEN (set by take); only
 * QUEUED -> TAKEN (take) and TAKEN -> FREE (hand-back) are legal, and a
 * node leaving its free list must be FREE with its poisoned link intact.
 *
 * Checks, on every item: each node carries (producer, seq); the consumer
 * requires seq to be exactly the next one of that producer (nothing lost,
 * nothing duplicated, per-producer FIFO), never gets the stub, and every
 * `done` must be exactly the node the consumer took last (NULL after an
 * idle period, and from every call that returns nothing or fails). On every
 * idle transition: a push that sees the idle tag while the consumer still
 * holds the token means two schedule tokens (the producer's CAS fails); a
 * mark_idle that succeeds while the turn's snapshot node is still queued
 * loses that node; the number of pushes that saw the tag equals the number
 * of successful mark_idle calls not undone by reclaim_sc (and likewise for
 * the closed tag; after the close no push may see the idle tag, and no
 * push may see the closed tag before it). A message stuck behind a wrongly
 * set idle tag (Akka.NET #375) is caught deterministically: every ~25 ms
 * the main thread pauses all producers between two pushes (so every push
 * is complete) and waits until the consumer has received everything sent
 * so far; if instead the consumer is idle (token free, waiting) with items
 * missing, no push will ever wake it: a lost wake-up, reported at once.
 * Once everything is received and the consumer has gone idle (or closed),
 * every node pushed must have been handed back. (Between such points it
 * would only be a late message; a hang anywhere else trips the watchdog.)
 *
 * Size: 8 x 10^7 items per shape at TRP_STRESS_SCALE=1 (TESTPLAN T1),
 * 8 x 10^6 at the sanitizer presets' 0.1. Measured on the 2-core dev VM
 * (shared, under load), all three shapes: release (scale 1) ~31-38 s, as
 * the detaching-pop version of this test in the same conditions; asan
 * (0.1) ~4 s, tsan (0.1) ~40 s. Run one shape with argv[1] =
 * drain|snapshot|close. TRP_STRESS_SEED fixes the close point and each
 * thread's random gaps (and chain lengths), not the interleaving.
 *
 * Limits: a bug that only delays a message (a wrongly set idle tag whose
 * message the next push rescues) shows only if a quiescence check lands
 * while a producer is preempted between its exchange and its link store;
 * the windows inside mark_idle (a push between its pre-check and its CAS)
 * are a few instructions wide. Such protocol bugs are the spin models' job
 * (tests/models/mailbox_idle*) and tests/unit/mailbox.c's seam. Memory-order
 * bugs show under TSan (the item fields are plain data).
 */
#include "stress_util.h"

#include <stdalign.h>
#include <stddef.h>

#include "mailbox.h"
#include "platform.h"

#define NPRODUCERS 8u
#define PER_PRODUCER_BASE 10000000u /* × 8 producers = 8 × 10^7 */
#define WINDOW 4096u		    /* nodes in flight per producer */
#define BACK_BATCH 8u		    /* hand-backs per free-list push */
#define LIMIT_S 600.0		    /* watchdog total limit per shape */
#define FLOOD_MS 15		    /* pacing: flood phase */
#define TRICKLE_MS 10		    /* pacing: trickle phase */
#define SANITY_MIN_ITEMS 4000000u   /* see the end of run_shape */

enum shape {
	SHAPE_DRAIN,
	SHAPE_SNAPSHOT,
	SHAPE_CLOSE,
	NSHAPES
};

static const char *const shape_name[NSHAPES] = { "drain", "snapshot", "close" };

/* token values */
#define TOKEN_FREE 0u	 /* the consumer is idle: a push may take it */
#define TOKEN_HELD 1u	 /* the consumer is scheduled */
#define TOKEN_STOPPED 2u /* the consumer closed the mailbox */

/* item states (see the file comment) */
#define ITEM_FREE 0u
#define ITEM_QUEUED 1u
#define ITEM_TAKEN 2u

/* What a free node's link holds: a store into it after the hand-back
 * (a late link) shows when the producer reuses the node. */
#define POISON_LINK ((struct trp__mpsc_node *)(uintptr_t)0x5ead)
#define POISON_SEQ UINT64_C(0xdeaddeaddeaddead)

struct item {
	struct trp__mpsc_node node; /* first: a node pointer is an item */
	uint32_t producer;
	uint32_t state; /* ITEM_*: plain data, so TSan checks its hand-offs */
	uint64_t seq;
	struct item *free_next; /* free lists */
	uint32_t owner;		/* set up once */
};

struct producer {
	/* written by the consumer role: nodes handed back (a stack, pushed
	 * in batches; the producer takes it whole) */
	alignas(64) _Atomic(struct item *) freed;
	/* written by the producer */
	alignas(64) _Atomic(uint64_t) pushed;
	struct item *free_list; /* nodes it may push; most recent first */
	_Atomic(uint64_t) idle_pushes;
	_Atomic(uint64_t) chains; /* pushes of 2..4 items at once */
	_Atomic(uint64_t) window_waits;
	_Atomic(uint64_t) closed_pushes; /* pushes that found the closed tag */
	_Atomic(uint64_t) dead_lettered; /* items it popped after the close */
	_Atomic(uint64_t) recloses;	 /* its successful close_sc calls */
	_Atomic(uint64_t) drain_backs;	 /* nodes it handed back, draining */
	uint64_t rng;
	/* set up before the start barrier */
	uint32_t id;
	uint64_t count;
	struct item *items;
	char name[16];
};

enum consumer_state {
	C_WAITING,
	C_RUNNING,
	C_DONE
};

static struct {
	/* head's line, then tail's (mailbox.h, "Placement") */
	alignas(64) unsigned char room[TRP__MAILBOX_ROOM];
	struct trp__mailbox mb;
	/* TOKEN_*: who may consume */
	alignas(64) _Atomic(uint32_t) token;
	/* 1 while the consumer may be in futex_wait on token */
	alignas(64) _Atomic(uint32_t) sleeping;
	/* written by the consumer */
	alignas(64) _Atomic(uint64_t) received;
	_Atomic(uint64_t) turns;
	_Atomic(uint64_t) wakeups;
	_Atomic(uint64_t) marks;
	_Atomic(uint64_t) mark_failures;
	_Atomic(uint64_t) busy_before_bound;
	_Atomic(uint64_t) bounded_turns;
	_Atomic(uint64_t) snapshot_nulls;
	_Atomic(uint64_t) capped_turns;
	_Atomic(uint64_t) reclaims;	    /* reclaim_sc won */
	_Atomic(uint64_t) reclaim_failures; /* a push had the tag first */
	_Atomic(uint64_t) backs;	    /* nodes it handed back */
	uint64_t consumer_rng;
	_Atomic(uint64_t) close_failures;
	_Atomic(uint32_t) consumer_state;
	/* 1 once the consumer thread has handed back what its close let go
	 * of (close shape): its hand-backs are then all counted */
	_Atomic(uint32_t) closer_done;
	/* written by the main thread: 1 during a trickle phase */
	alignas(64) _Atomic(uint32_t) trickle;
	_Atomic(uint32_t) pause_req; /* 1: producers, stop between pushes */
	_Atomic(uint64_t) trickle_phases;
	_Atomic(uint64_t) quiesces;
	/* written by producers */
	alignas(64) _Atomic(uint32_t) producers_done;
	_Atomic(uint32_t) paused;
	/* The consumer's state: per producer, the next seq due, and the node
	 * the mailbox holds as its tail (the one taken last; NULL when the
	 * stub is the tail). Plain data, used by whoever holds the consumer
	 * role (in the close shape, the producers that find the closed tag,
	 * one after the other). */
	alignas(64) uint64_t expected[NPRODUCERS];
	struct trp__mpsc_node *held;
	/* Nodes handed back, not yet on their producer's free list: one
	 * batch per producer (see hand_back). */
	struct {
		struct item *first, *last;
		unsigned n;
	} batch[NPRODUCERS];
	/* set up before the start barrier */
	alignas(64) enum shape shape;
	uint64_t total;
	uint64_t close_at; /* close shape: close once this many arrived */
	struct producer prod[NPRODUCERS];
	struct stress_barrier start;
	struct stress_watchdog wd;
} g;

/* ------------------------------------------------------------ producer -- */

/* Between two pushes: stop while the main thread checks quiescence. */
static void maybe_pause(void)
{
	/* ORDER: acquire pairs with the main thread's release of pause_req
	 * (nothing to acquire but the request itself; kept symmetric). */
	if (atomic_load_explicit(&g.pause_req, memory_order_acquire) == 0)
		return;
	/* ORDER: release: our completed pushes happen before the main
	 * thread's acquire load of paused. */
	atomic_fetch_add_explicit(&g.paused, 1, memory_order_release);
	while (atomic_load_explicit(&g.pause_req, memory_order_acquire) != 0)
		stress_sleep_ms(1);
	/* relaxed: the main thread only waits for the count to rise. */
	atomic_fetch_sub_explicit(&g.paused, 1, memory_order_relaxed);
}

/* Hands the schedule token to the consumer after a push saw the idle tag. */
static void schedule(struct producer *p, uint64_t seq)
{
	uint32_t expect = TOKEN_FREE;
	/* ORDER: seq_cst: acquire pairs with the consumer's release store
	 * of TOKEN_FREE (its turn is over); release publishes to the
	 * consumer's acquire load; seq_cst for the Dekker pair with the
	 * consumer's (sleeping = 1; load token) in wait_token. */
	if (!atomic_compare_exchange_strong_explicit(
		    &g.token, &expect, TOKEN_HELD, memory_order_seq_cst,
		    memory_order_seq_cst)) {
		if (expect == TOKEN_STOPPED)
			stress_fail("[%s] producer %u: push of seq %" PRIu64
				    " returned TRP__MAILBOX_IDLE after the "
				    "mailbox was closed",
				    shape_name[g.shape], p->id, seq);
		stress_fail("[%s] producer %u: push of seq %" PRIu64
			    " returned TRP__MAILBOX_IDLE while the consumer "
			    "still holds the schedule token (consumer state "
			    "%u): two schedule tokens outstanding",
			    shape_name[g.shape], p->id, seq,
			    atomic_load_explicit(&g.consumer_state,
						 memory_order_relaxed));
	}
	/* ORDER: seq_cst, the other half of the Dekker pair above. */
	if (atomic_load_explicit(&g.sleeping, memory_order_seq_cst) != 0)
		trp__futex_wake(&g.token, 1);
}

static struct trp__mpsc_node *take(_Atomic(uint64_t) *backs);
static bool tag_empty(bool close, _Atomic(uint64_t) *backs);

/*
 * Our push found the closed tag: we are the consumer now. Dead-letter
 * everything (the same checks as the consumer's) and close again; a
 * failed close means a node arrived or a push is in flight: take on.
 */
static void drain_closed(struct producer *p, uint64_t seq)
{
	/* relaxed: a diagnostic. */
	if (atomic_load_explicit(&g.consumer_state, memory_order_relaxed) !=
	    C_DONE)
		stress_fail("[%s] producer %u: push of seq %" PRIu64
			    " found the closed tag before the consumer "
			    "closed the mailbox",
			    shape_name[g.shape], p->id, seq);
	stress_progress(&p->closed_pushes, 1);
	for (unsigned spins = 0;; spins++) {
		while (take(&p->drain_backs) != NULL)
			stress_progress(&p->dead_lettered, 1);
		if (tag_empty(true, &p->drain_backs)) {
			stress_progress(&p->recloses, 1);
			return;
		}
		/* a push in flight: let its producer finish the link */
		if (spins % 16 == 15)
			sched_yield();
	}
}

/*
 * The next node to push: from the nodes handed back (the consumer pushes
 * them onto `freed` as they come back; we take that list whole once ours
 * is used up), or wait while all WINDOW nodes are in the mailbox. Checks
 * that the node is free and that nothing was stored into its link since
 * its hand-back.
 */
static struct item *get_node(struct producer *p, uint64_t seq)
{
	for (unsigned i = 0; p->free_list == NULL; i++) {
		/* ORDER: acquire pairs with free_push's release CAS: the
		 * nodes' checks, poison and free_next happen before our
		 * reuse. */
		p->free_list = atomic_exchange_explicit(&p->freed, NULL,
							memory_order_acquire);
		if (p->free_list != NULL)
			break;
		if (i == 0)
			stress_progress(&p->window_waits, 1);
		maybe_pause();
		if (i < 32)
			stress_cpu_relax();
		else
			sched_yield();
	}
	struct item *it = p->free_list;
	p->free_list = it->free_next;
	if (it->state != ITEM_FREE || it->owner != p->id)
		stress_fail("[%s] producer %u: node %p on its free list (for "
			    "seq %" PRIu64 ") is in state %u, owner %u: "
			    "handed back while still queued or taken",
			    shape_name[g.shape], p->id, (void *)it, seq,
			    it->state, it->owner);
	/* relaxed: a correct queue stores nothing here any more; our own
	 * store of the poison came through the acquire above. */
	struct trp__mpsc_node *link =
		atomic_load_explicit(&it->node.next, memory_order_relaxed);
	if (link != POISON_LINK)
		stress_fail("[%s] producer %u: node %p was written after the "
			    "mailbox handed it back: its link holds %p (a "
			    "producer linked behind a node already let go "
			    "of)",
			    shape_name[g.shape], p->id, (void *)it,
			    (void *)link);
	return it;
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	stress_watchdog_thread(&g.wd, p->name);
	stress_barrier_wait(&g.start);
	for (uint64_t s = 0; s < p->count;) {
		maybe_pause();
		/* One push in 8 is a chain of 2..4 items, as the outbox
		 * sends them (push_chain_mp: one exchange, one link). */
		uint64_t c = stress_rand(&p->rng);
		uint64_t k = (c & 7) == 0 ? 2 + (c >> 3) % 3 : 1;
		if (k > p->count - s)
			k = p->count - s;
		struct item *first = NULL, *last = NULL;
		for (uint64_t j = 0; j < k; j++) {
			struct item *it = get_node(p, s + j);
			it->producer = p->id;
			it->seq = s + j;
			it->state = ITEM_QUEUED;
			if (first == NULL)
				first = it;
			else
				/* relaxed: published by the push's release
				 * link store */
				atomic_store_explicit(&last->node.next,
						      &it->node,
						      memory_order_relaxed);
			last = it;
		}
		unsigned tag =
			k == 1 ? trp__mailbox_push_mp(&g.mb, &first->node) :
				 trp__mailbox_push_chain_mp(&g.mb, &first->node,
							    &last->node);
		stress_progress(&p->pushed, k);
		if (k > 1)
			stress_progress(&p->chains, 1);
		if (tag == TRP__MAILBOX_IDLE) {
			stress_progress(&p->idle_pushes, 1);
			schedule(p, s);
		} else if (tag == TRP__MAILBOX_CLOSED &&
			   g.shape == SHAPE_CLOSE) {
			drain_closed(p, s);
		} else if (tag != 0) {
			stress_fail("[%s] producer %u: push of seq %" PRIu64
				    " returned tag %u",
				    shape_name[g.shape], p->id, s, tag);
		}
		s += k;
		/* Gaps, so the queue runs dry and the idle tag is set and
		 * cleared many times: short spins while flooding; during a
		 * trickle phase every producer sleeps after each push, the
		 * consumer drains the queue, and the pushes that follow race
		 * with its mark_idle. */
		uint64_t r = stress_rand(&p->rng);
		/* relaxed: a pacing hint, no data. */
		if (atomic_load_explicit(&g.trickle, memory_order_relaxed)) {
			struct timespec ts = { 0, (long)(r & 16383) };
			nanosleep(&ts, NULL);
		} else if ((r & 63) == 0) {
			unsigned spin = (unsigned)((r >> 6) & 511);
			for (unsigned i = 0; i < spin; i++)
				stress_cpu_relax();
		}
	}
	/* ORDER: release: our pushes happen before the main thread's
	 * quiescence check (its acquire load). */
	atomic_fetch_add_explicit(&g.producers_done, 1, memory_order_release);
	stress_watchdog_thread_exit(&g.wd);
	return NULL;
}

/* ------------------------------------------------------------ consumer -- */

/* A node take_sc returned: check it and its (producer, seq). */
static void consume(struct trp__mpsc_node *n)
{
	if (n == &g.mb.stub)
		stress_fail("[%s] take_sc returned the stub node",
			    shape_name[g.shape]);
	if (n == POISON_LINK)
		stress_fail("[%s] take_sc returned the poison of a free "
			    "node's link: a push left its node's old link",
			    shape_name[g.shape]);
	struct item *it = (struct item *)n;
	uint32_t p = it->producer;
	uint64_t s = it->seq;
	if (it->state != ITEM_QUEUED || p >= NPRODUCERS)
		stress_fail("[%s] take_sc returned node %p (producer %u, seq "
			    "%" PRIu64 ") in state %u: %s",
			    shape_name[g.shape], (void *)n, p, s, it->state,
			    it->state == ITEM_TAKEN ?
				    "it was taken before: delivered twice" :
				    "it was handed back already (or never "
				    "pushed)");
	/* it->owner, not the producer's items pointer: that shares a line
	 * with its push counter, a miss per item on the consumer. */
	if (it->owner != p)
		stress_fail("[%s] node %p is not one of producer %u's",
			    shape_name[g.shape], (void *)n, p);
	uint64_t want = g.expected[p];
	if (s != want) {
		if (s < want)
			stress_fail("[%s] producer %u: got seq %" PRIu64
				    " after %" PRIu64
				    ": duplicated or reordered",
				    shape_name[g.shape], p, s, want - 1);
		stress_fail("[%s] producer %u: expected seq %" PRIu64
			    ", got %" PRIu64 ": %" PRIu64
			    " item(s) lost or reordered",
			    shape_name[g.shape], p, want, s, s - want);
	}
	it->state = ITEM_TAKEN;
	g.expected[p] = s + 1;
	stress_progress(&g.received, 1);
}

/* Puts the chain @first..@last (linked by free_next) on @o's free list. */
static void free_push(struct producer *o, struct item *first, struct item *last)
{
	struct item *top =
		atomic_load_explicit(&o->freed, memory_order_relaxed);
	do {
		last->free_next = top;
		/* ORDER: release publishes the nodes' state, poison and
		 * free_next to the producer's acquire exchange. */
	} while (!atomic_compare_exchange_weak_explicit(&o->freed, &top, first,
							memory_order_release,
							memory_order_relaxed));
}

/* Consumer role: pushes every pending batch (before the role may pass on,
 * and before the consumer may go idle with producers waiting for nodes). */
static void flush_batches(void)
{
	for (unsigned p = 0; p < NPRODUCERS; p++) {
		if (g.batch[p].n == 0)
			continue;
		free_push(&g.prod[p], g.batch[p].first, g.batch[p].last);
		g.batch[p].first = g.batch[p].last = NULL;
		g.batch[p].n = 0;
	}
}

/*
 * A node the mailbox let go of (the *done of take_sc, mark_idle_sc or
 * close_sc, by @who): it must be @held, the node taken last (NULL: none,
 * the stub was the tail), and its link must be @link (what the queue left
 * in it: the node taken after it, or NULL for the last one). Checks it,
 * poisons it and frees it for reuse; counts it in @backs, the calling
 * thread's counter.
 *
 * @in_role: the caller holds the consumer role, and the node joins its
 * producer's batch, pushed every BACK_BATCH nodes (one locked instruction
 * per item on the consumer, the bottleneck, stalls it on the producer's
 * cache line: the run time doubled); else (after a successful mark_idle or
 * close, when the role may already be elsewhere) it is pushed at once.
 */
static void hand_back(struct trp__mpsc_node *done, struct trp__mpsc_node *held,
		      struct trp__mpsc_node *link, const char *who,
		      _Atomic(uint64_t) *backs, bool in_role)
{
	if (done != held)
		stress_fail("[%s] %s handed back node %p, but the node taken "
			    "last (the mailbox's tail) is %p",
			    shape_name[g.shape], who, (void *)done,
			    (void *)held);
	if (done == NULL)
		return;
	struct item *it = (struct item *)done;
	if (it->state != ITEM_TAKEN)
		stress_fail("[%s] %s handed back node %p in state %u "
			    "(expected taken)",
			    shape_name[g.shape], who, (void *)done, it->state);
	/* relaxed: nobody may store into the node any more; the value came
	 * with the take's acquire (or is the NULL of its own push). */
	struct trp__mpsc_node *next =
		atomic_load_explicit(&done->next, memory_order_relaxed);
	if (next != link)
		stress_fail("[%s] %s handed back node %p whose link holds %p, "
			    "expected %p: %s",
			    shape_name[g.shape], who, (void *)done,
			    (void *)next, (void *)link,
			    link == NULL ? "a producer linked behind it" :
					   "its link changed after the take");
	it->state = ITEM_FREE;
	it->producer = UINT32_MAX;
	it->seq = POISON_SEQ;
	/* relaxed: published by free_push's release CAS. */
	atomic_store_explicit(&it->node.next, POISON_LINK,
			      memory_order_relaxed);
	/* The calling thread's own count, not one per consumer role: in the
	 * close shape the thread that closed may still be counting while
	 * the next drainer already is. */
	stress_progress(backs, 1);
	if (!in_role) {
		free_push(&g.prod[it->owner], it, it);
		return;
	}
	unsigned o = it->owner;
	it->free_next = NULL;
	if (g.batch[o].n++ == 0)
		g.batch[o].first = it;
	else
		g.batch[o].last->free_next = it;
	g.batch[o].last = it;
	if (g.batch[o].n == BACK_BATCH) {
		free_push(&g.prod[o], g.batch[o].first, it);
		g.batch[o].n = 0;
	}
}

/* take_sc with every check: the node taken (NULL: none, and nothing may
 * be handed back then) and the previous one handed back. */
static struct trp__mpsc_node *take(_Atomic(uint64_t) *backs)
{
	struct trp__mpsc_node *done = POISON_LINK; /* must be overwritten */
	struct trp__mpsc_node *n = trp__mailbox_take_sc(&g.mb, &done);
	if (n == NULL) {
		if (done != NULL)
			stress_fail("[%s] take_sc returned nothing but "
				    "handed back %p",
				    shape_name[g.shape], (void *)done);
		return NULL;
	}
	consume(n);
	struct trp__mpsc_node *held = g.held;
	g.held = n;
	hand_back(done, held, n, "take_sc", backs, true);
	return n;
}

/*
 * mark_idle_sc (or close_sc) with every check. true: tagged, and the node
 * taken last came back; false: not empty, nothing came back.
 */
static bool tag_empty(bool close, _Atomic(uint64_t) *backs)
{
	const char *who = close ? "close_sc" : "mark_idle_sc";
	struct trp__mpsc_node *held = g.held;
	struct trp__mpsc_node *done = POISON_LINK; /* must be overwritten */
	/* Our state must be final before the CAS: once it succeeds, the
	 * consumer role may pass to another thread at once (the push that
	 * finds the tag), through that CAS (release) and its exchange. */
	flush_batches();
	g.held = NULL;
	bool ok = close ? trp__mailbox_close_sc(&g.mb, &done) :
			  trp__mailbox_mark_idle_sc(&g.mb, &done);
	if (!ok) {
		g.held = held;
		if (done != NULL)
			stress_fail("[%s] %s failed but handed back %p",
				    shape_name[g.shape], who, (void *)done);
		return false;
	}
	hand_back(done, held, NULL, who, backs, false);
	return true;
}

/*
 * End of a turn: give the token up and try to go idle. true: idle (wait
 * for the next token); false: still scheduled (the token is ours again).
 */
static bool try_idle(void)
{
	/* ORDER: release: our turn happens before the next one; pairs with
	 * the acquire half of the scheduling producer's CAS. */
	atomic_store_explicit(&g.token, TOKEN_FREE, memory_order_release);
	uint32_t expect = TOKEN_FREE;
	if (tag_empty(false, &g.backs)) {
		stress_progress(&g.marks, 1);
		if (g.shape != SHAPE_DRAIN ||
		    (stress_rand(&g.consumer_rng) & 15) != 0)
			return true;
		/* Take the mailbox back without a push, as a thread actor
		 * does. If that wins, no push saw the tag, so none may take
		 * the token: we take it ourselves. */
		if (!trp__mailbox_reclaim_sc(&g.mb)) {
			stress_progress(&g.reclaim_failures, 1);
			return true; /* a push saw the tag: it schedules us */
		}
		stress_progress(&g.reclaims, 1);
		/* ORDER: acquire, symmetric with the producers' CAS. */
		if (!atomic_compare_exchange_strong_explicit(
			    &g.token, &expect, TOKEN_HELD, memory_order_acquire,
			    memory_order_relaxed))
			stress_fail("[drain] reclaim_sc removed the idle tag, "
				    "yet a producer took the schedule token: "
				    "a push saw the tag too");
		return false;
	}
	stress_progress(&g.mark_failures, 1);
	/* ORDER: acquire, symmetric with the producers' CAS (no data). */
	if (!atomic_compare_exchange_strong_explicit(
		    &g.token, &expect, TOKEN_HELD, memory_order_acquire,
		    memory_order_relaxed))
		stress_fail("[%s] mark_idle_sc failed (queue not empty), yet "
			    "a producer took the schedule token while the "
			    "consumer was still running: a push saw an idle "
			    "tag that was never set",
			    shape_name[g.shape]);
	return false;
}

/*
 * Close shape: the actor stops. true: closed (the consumer role passes to
 * the next push); false: not empty, take on.
 */
static bool try_close(void)
{
	/* relaxed: the state is for diagnostics and for drain_closed's
	 * sanity check; a producer can only see C_DONE through the close
	 * (the store comes first, the CAS publishes it). */
	atomic_store_explicit(&g.consumer_state, C_DONE, memory_order_relaxed);
	if (tag_empty(true, &g.backs)) {
		/* relaxed: no push may look at the token any more; one that
		 * does (it saw the idle tag) fails on TOKEN_STOPPED. */
		atomic_store_explicit(&g.token, TOKEN_STOPPED,
				      memory_order_relaxed);
		/* ORDER: release: our hand-back happens before the
		 * quiescence check's acquire load. */
		atomic_store_explicit(&g.closer_done, 1, memory_order_release);
		return true;
	}
	atomic_store_explicit(&g.consumer_state, C_RUNNING,
			      memory_order_relaxed);
	stress_progress(&g.close_failures, 1);
	return false;
}

/* Runs turns until the mailbox has been marked idle (false) or, in the
 * close shape, closed (true). */
static bool run_drain(void)
{
	for (;;) {
		stress_progress(&g.turns, 1);
		while (take(&g.backs) != NULL)
			;
		/* relaxed: the consumer's own counter so far. */
		if (g.shape == SHAPE_CLOSE &&
		    atomic_load_explicit(&g.received, memory_order_relaxed) >=
			    g.close_at) {
			if (try_close())
				return true;
			continue;
		}
		if (try_idle())
			return false;
	}
}

/*
 * Turn-bounded: a turn ends at the snapshot node taken when it started, or
 * after a batch cap (small in one turn of four), or when take returns NULL
 * (a push in flight before the snapshot node, or - with the snapshot NULL -
 * nothing left).
 */
static void run_snapshot(void)
{
	for (uint64_t turn = 0;; turn++) {
		stress_progress(&g.turns, 1);
		uint64_t r = stress_rand(&g.consumer_rng);
		uint64_t cap = (r & 3) == 0 ? 1 + ((r >> 2) & 63) : UINT64_MAX;
		struct trp__mpsc_node *bound = trp__mailbox_snapshot_sc(&g.mb);
		if (bound == NULL)
			stress_progress(&g.snapshot_nulls, 1);
		else if (bound == &g.mb.stub || bound == g.held)
			stress_fail("[snapshot] snapshot_sc returned %s, which "
				    "is not a node still to take",
				    bound == &g.mb.stub ?
					    "the stub" :
					    "the node taken last");
		bool reached = false, capped = false;
		uint64_t taken = 0;
		struct trp__mpsc_node *n;
		while ((n = take(&g.backs)) != NULL) {
			if (n == bound) {
				reached = true;
				break;
			}
			if (++taken == cap) {
				capped = true;
				break;
			}
		}
		if (reached)
			stress_progress(&g.bounded_turns, 1);
		else if (capped)
			stress_progress(&g.capped_turns, 1);
		else if (bound != NULL)
			stress_progress(&g.busy_before_bound, 1);
		bool idle = try_idle();
		if (idle && bound != NULL && !reached)
			stress_fail(
				"[snapshot] mark_idle_sc succeeded while the "
				"turn's snapshot node %p had not been "
				"taken yet: that node is lost",
				(void *)bound);
		if (idle)
			return;
		/* Rescheduled: a worker would run other actors first. */
		if ((turn & 15) == 15)
			sched_yield();
	}
}

/* Waits until a producer hands us the token. */
static void wait_token(void)
{
	for (unsigned i = 0;; i++) {
		/* ORDER: acquire pairs with the producer's CAS (release). */
		if (atomic_load_explicit(&g.token, memory_order_acquire) ==
		    TOKEN_HELD)
			return;
		if (i < 128) {
			stress_cpu_relax();
		} else if (i < 136) {
			sched_yield();
		} else {
			/* ORDER: seq_cst: Dekker pair with schedule(). */
			atomic_store_explicit(&g.sleeping, 1,
					      memory_order_seq_cst);
			if (atomic_load_explicit(&g.token,
						 memory_order_seq_cst) == 0)
				trp__futex_wait(&g.token, 0, 100000000);
			/* relaxed: a hint for producers; a stale 1 costs a
			 * spurious wake only. */
			atomic_store_explicit(&g.sleeping, 0,
					      memory_order_relaxed);
		}
	}
}

static void *consumer_main(void *arg)
{
	(void)arg;
	stress_watchdog_thread(&g.wd, "consumer");
	stress_barrier_wait(&g.start);
	for (;;) {
		/* ORDER: release: everything received so far happens before
		 * the quiescence check that sees us waiting (acquire). */
		atomic_store_explicit(&g.consumer_state, C_WAITING,
				      memory_order_release);
		wait_token();
		atomic_store_explicit(&g.consumer_state, C_RUNNING,
				      memory_order_relaxed);
		stress_progress(&g.wakeups, 1);
		if (g.shape == SHAPE_SNAPSHOT)
			run_snapshot();
		else if (run_drain())
			break; /* closed: C_DONE */
		/* relaxed: our own counter. */
		if (atomic_load_explicit(&g.received, memory_order_relaxed) ==
		    g.total)
			break;
	}
	/* ORDER: release: our hand-backs happen before the last
	 * quiescence check that sees C_DONE (its acquire load). */
	atomic_store_explicit(&g.consumer_state, C_DONE, memory_order_release);
	stress_watchdog_thread_exit(&g.wd);
	return NULL;
}

/* ---------------------------------------------------------------- main -- */

static uint64_t load(_Atomic(uint64_t) *c);

/* Nodes handed back so far, by the consumer and by drainers. */
static uint64_t handed_back(void)
{
	uint64_t n = load(&g.backs);
	for (unsigned i = 0; i < NPRODUCERS; i++)
		n += load(&g.prod[i].drain_backs);
	return n;
}

/*
 * Pauses every producer between two pushes and waits until the consumer
 * has received all that was sent. Returns false when all producers are
 * done (the run is over). Fails if the consumer went idle, or the mailbox
 * was closed, with items still missing: with no push left in flight
 * nothing would ever deliver them. Then waits until the consumer is idle
 * (or the mailbox closed) and checks that every node pushed was handed
 * back: idle/closed, the mailbox holds none.
 */
static bool quiesce_check(void)
{
	/* ORDER: release/acquire: see maybe_pause. */
	atomic_store_explicit(&g.pause_req, 1, memory_order_release);
	uint32_t done;
	for (;;) {
		/* ORDER: acquire pairs with the producers' release
		 * increments: their pushes are complete and visible. */
		done = atomic_load_explicit(&g.producers_done,
					    memory_order_acquire);
		if (done + atomic_load_explicit(&g.paused,
						memory_order_acquire) ==
		    NPRODUCERS)
			break;
		stress_sleep_ms(1);
	}
	uint64_t sent = 0;
	for (unsigned i = 0; i < NPRODUCERS; i++)
		sent += load(&g.prod[i].pushed);
	for (;;) {
		/* ORDER: acquire pairs with the consumer's release store of
		 * C_WAITING: received is then final until a push. */
		uint32_t cs = atomic_load_explicit(&g.consumer_state,
						   memory_order_acquire);
		/* relaxed: token only tells which state is final. */
		uint32_t token =
			atomic_load_explicit(&g.token, memory_order_relaxed);
		uint64_t got =
			atomic_load_explicit(&g.received, memory_order_relaxed);
		if (got == sent)
			break;
		if (cs == C_WAITING && token == TOKEN_FREE)
			stress_fail("[%s] lost wake-up: every producer is "
				    "paused with its pushes complete, the "
				    "consumer is idle (mailbox idle tag %d), "
				    "but it received %" PRIu64 " of %" PRIu64
				    " items sent: %" PRIu64
				    " are stuck in the mailbox",
				    shape_name[g.shape],
				    (int)trp__mailbox_is_idle(&g.mb), got, sent,
				    sent - got);
		if (token == TOKEN_STOPPED)
			stress_fail("[close] every producer is paused, the "
				    "mailbox is closed, but %" PRIu64
				    " of %" PRIu64 " items sent were received "
				    "or dead-lettered: %" PRIu64
				    " are stranded in it",
				    got, sent, sent - got);
		stress_sleep_ms(1);
	}
	for (;;) {
		/* ORDER: acquire, as above (C_WAITING, and closer_done: the
		 * consumer's hand-backs happen before; the drainers' ones
		 * before their pause). */
		uint32_t cs = atomic_load_explicit(&g.consumer_state,
						   memory_order_acquire);
		uint32_t closed = atomic_load_explicit(&g.closer_done,
						       memory_order_acquire);
		/* relaxed: see above. */
		uint32_t token =
			atomic_load_explicit(&g.token, memory_order_relaxed);
		bool idle = token == TOKEN_FREE &&
			    (cs == C_WAITING ||
			     (cs == C_DONE && g.shape != SHAPE_CLOSE));
		if (idle || (token == TOKEN_STOPPED && closed)) {
			uint64_t back = handed_back();
			if (back != sent)
				stress_fail("[%s] every producer is paused, "
					    "everything sent was received and "
					    "the mailbox is %s, but %" PRIu64
					    " of %" PRIu64 " nodes were "
					    "handed back",
					    shape_name[g.shape],
					    idle ? "idle" : "closed", back,
					    sent);
			break;
		}
		stress_sleep_ms(1);
	}
	stress_progress(&g.quiesces, 1);
	/* ORDER: release: see maybe_pause. */
	atomic_store_explicit(&g.pause_req, 0, memory_order_release);
	return done < NPRODUCERS;
}

static void dump_state(void *arg)
{
	(void)arg;
	static const char *const st[] = { "waiting for token", "running",
					  "done (or closing)" };
	uint32_t cs =
		atomic_load_explicit(&g.consumer_state, memory_order_relaxed);
	fprintf(stderr,
		"  shape %s; consumer %s; token %u (1 held, 2 stopped); "
		"sleeping %u; mailbox idle tag %d\n",
		shape_name[g.shape], cs < 3 ? st[cs] : "?",
		atomic_load_explicit(&g.token, memory_order_relaxed),
		atomic_load_explicit(&g.sleeping, memory_order_relaxed),
		(int)trp__mailbox_is_idle(&g.mb));
	fprintf(stderr, "  received %" PRIu64 " of %" PRIu64 "\n",
		atomic_load_explicit(&g.received, memory_order_relaxed),
		g.total);
	for (unsigned i = 0; i < NPRODUCERS; i++) {
		struct producer *p = &g.prod[i];
		uint64_t pushed =
			atomic_load_explicit(&p->pushed, memory_order_relaxed);
		fprintf(stderr,
			"  producer %u: pushed %" PRIu64 "/%" PRIu64 "\n", i,
			pushed, p->count);
	}
	fprintf(stderr, "  nodes handed back %" PRIu64 "\n", handed_back());
	fprintf(stderr,
		"  main: quiescence check %s (%u producers paused, "
		"%u done)\n",
		atomic_load_explicit(&g.pause_req, memory_order_relaxed) ?
			"in progress" :
			"not running",
		atomic_load_explicit(&g.paused, memory_order_relaxed),
		atomic_load_explicit(&g.producers_done, memory_order_relaxed));
	if (cs == C_WAITING &&
	    atomic_load_explicit(&g.received, memory_order_relaxed) < g.total)
		fprintf(stderr, "  the consumer is unscheduled while items "
				"are missing: a message is stuck behind the "
				"idle tag (lost wake-up) or was lost\n");
	if (cs == C_RUNNING)
		fprintf(stderr, "  the consumer is running: if its failed "
				"marks keep rising while nothing is received, "
				"take_sc finds nothing while mark_idle_sc "
				"finds the mailbox not empty - a message "
				"became unreachable (a link or the tail lost "
				"inside mark_idle_sc?)\n");
}

static uint64_t load(_Atomic(uint64_t) *c)
{
	/* relaxed: read after the threads were joined, or after an acquire
	 * that orders the writes (see quiesce_check). */
	return atomic_load_explicit(c, memory_order_relaxed);
}

static int run_shape(enum shape shape, uint64_t per_producer, uint64_t seed)
{
	memset(&g, 0, sizeof g);
	g.shape = shape;
	g.total = per_producer * NPRODUCERS;
	uint64_t rng = stress_rand_init(seed, 0);
	g.consumer_rng = stress_rand_init(seed, 1000);
	g.close_at = g.total / 10 + stress_rand_below(&rng, g.total * 8 / 10);
	trp__mailbox_init(&g.mb, true);
	stress_barrier_init(&g.start, NPRODUCERS + 2);
	stress_watchdog_init(&g.wd, LIMIT_S);
	g.wd.dump = dump_state;
	stress_watchdog_counter(&g.wd, "consumer.received", &g.received);
	stress_watchdog_info(&g.wd, "consumer.turns", &g.turns);
	stress_watchdog_info(&g.wd, "consumer.wakeups", &g.wakeups);
	stress_watchdog_info(&g.wd, "consumer.marks", &g.marks);
	stress_watchdog_info(&g.wd, "consumer.mark_failures", &g.mark_failures);
	stress_watchdog_info(&g.wd, "consumer.close_failures",
			     &g.close_failures);
	stress_watchdog_info(&g.wd, "consumer.reclaims", &g.reclaims);
	stress_watchdog_info(&g.wd, "main.quiesces", &g.quiesces);
	static const char *const pushed_names[NPRODUCERS] = {
		"producer0.pushed", "producer1.pushed", "producer2.pushed",
		"producer3.pushed", "producer4.pushed", "producer5.pushed",
		"producer6.pushed", "producer7.pushed"
	};
	for (unsigned i = 0; i < NPRODUCERS; i++) {
		struct producer *p = &g.prod[i];
		p->id = i;
		p->count = per_producer;
		p->rng = stress_rand_init(seed, i + 1);
		p->items = calloc(WINDOW, sizeof *p->items);
		if (p->items == NULL)
			stress_fail("out of memory");
		for (unsigned k = 0; k < WINDOW; k++) {
			struct item *it = &p->items[k];
			it->owner = i;
			it->state = ITEM_FREE;
			it->producer = UINT32_MAX;
			it->seq = POISON_SEQ;
			atomic_store_explicit(&it->node.next, POISON_LINK,
					      memory_order_relaxed);
			it->free_next = k + 1 < WINDOW ? it + 1 : NULL;
		}
		p->free_list = p->items;
		snprintf(p->name, sizeof p->name, "producer%u", i);
		stress_watchdog_counter(&g.wd, pushed_names[i], &p->pushed);
	}

	pthread_t threads[NPRODUCERS + 1];
	threads[0] = stress_thread_start(consumer_main, NULL);
	for (unsigned i = 0; i < NPRODUCERS; i++)
		threads[i + 1] = stress_thread_start(producer_main, &g.prod[i]);
	stress_watchdog_start(&g.wd);
	stress_barrier_wait(&g.start);
	uint64_t t0 = stress_now_ns();
	/* Pacing: TRICKLE_MS of trickling, FLOOD_MS of flooding, then a
	 * quiescence check, until every producer is done. The check comes
	 * during a flood, when preempted producers are stopped at random
	 * points, some between their exchange and their link store. */
	do {
		atomic_store_explicit(&g.trickle, 1, memory_order_relaxed);
		stress_sleep_ms(TRICKLE_MS);
		atomic_store_explicit(&g.trickle, 0, memory_order_relaxed);
		stress_progress(&g.trickle_phases, 1);
		stress_sleep_ms(FLOOD_MS);
	} while (quiesce_check());
	for (unsigned i = 0; i < NPRODUCERS + 1; i++)
		pthread_join(threads[i], NULL);
	double secs = stress_seconds_since(t0);
	stress_watchdog_stop(&g.wd);

	/* Totals. Every item was checked as it came. */
	uint64_t idle_pushes = 0, window_waits = 0, closed_pushes = 0;
	uint64_t chains = 0;
	uint64_t dead_lettered = 0, recloses = 0;
	for (unsigned i = 0; i < NPRODUCERS; i++) {
		struct producer *p = &g.prod[i];
		STRESS_CHECK(load(&p->pushed) == per_producer,
			     "[%s] producer %u pushed %" PRIu64 " of %" PRIu64,
			     shape_name[shape], i, load(&p->pushed),
			     per_producer);
		STRESS_CHECK(g.expected[i] == per_producer,
			     "[%s] producer %u: received %" PRIu64
			     " of %" PRIu64 " items",
			     shape_name[shape], i, g.expected[i], per_producer);
		idle_pushes += load(&p->idle_pushes);
		window_waits += load(&p->window_waits);
		chains += load(&p->chains);
		closed_pushes += load(&p->closed_pushes);
		dead_lettered += load(&p->dead_lettered);
		recloses += load(&p->recloses);
	}
	STRESS_CHECK(load(&g.received) == g.total,
		     "[%s] received %" PRIu64 " items (%" PRIu64
		     " of them dead-lettered), sent %" PRIu64,
		     shape_name[shape], load(&g.received), dead_lettered,
		     g.total);
	STRESS_CHECK(handed_back() == g.total,
		     "[%s] %" PRIu64 " of %" PRIu64 " nodes were handed back",
		     shape_name[shape], handed_back(), g.total);
	/*
	 * The mailbox started idle: every successful mark_idle opened a new
	 * idle period, and each period was ended by exactly one push that
	 * saw the tag, or by a reclaim_sc that won - all of them in the
	 * close shape, all but the last (still open) otherwise. Likewise
	 * each close opened a closed period, ended by one push that found
	 * the tag, except the last.
	 */
	uint64_t ended =
		(shape == SHAPE_CLOSE ? load(&g.marks) + 1 : load(&g.marks)) -
		load(&g.reclaims);
	STRESS_CHECK(idle_pushes == ended,
		     "[%s] %" PRIu64 " pushes found the idle tag, but the "
		     "consumer set it %" PRIu64
		     " times and took it back %" PRIu64
		     " times (%s): expected %" PRIu64,
		     shape_name[shape], idle_pushes, load(&g.marks),
		     load(&g.reclaims),
		     shape == SHAPE_CLOSE ?
			     "plus the initial one, all ended" :
			     "plus the initial one, the last still open",
		     ended);
	STRESS_CHECK(closed_pushes == recloses,
		     "[%s] %" PRIu64 " pushes found the closed tag, but it "
		     "was set again only %" PRIu64 " times",
		     shape_name[shape], closed_pushes, recloses);
	STRESS_CHECK(trp__mailbox_snapshot_sc(&g.mb) == NULL &&
			     g.mb.tail == &g.mb.stub &&
			     atomic_load_explicit(&g.mb.stub.next,
						  memory_order_relaxed) == NULL,
		     "[%s] the mailbox is not empty (only its stub) at the "
		     "end",
		     shape_name[shape]);
	uint32_t token = atomic_load_explicit(&g.token, memory_order_relaxed);
	if (shape == SHAPE_CLOSE) {
		STRESS_CHECK(!trp__mailbox_is_idle(&g.mb) &&
				     token == TOKEN_STOPPED,
			     "[close] the mailbox is not closed at the end "
			     "(idle tag %d, token %u)",
			     (int)trp__mailbox_is_idle(&g.mb), token);
		/* A push after the close tags head again: the closed tag
		 * must be what the last drainer left. */
		struct trp__mpsc_node *done;
		STRESS_CHECK(trp__mailbox_close_sc(&g.mb, &done) == false,
			     "[close] close_sc succeeded on a mailbox that "
			     "was already closed (its head was not tagged)");
	} else {
		STRESS_CHECK(trp__mailbox_is_idle(&g.mb),
			     "[%s] the mailbox is not idle at the end",
			     shape_name[shape]);
		STRESS_CHECK(token == TOKEN_FREE,
			     "[%s] a schedule token is still outstanding at "
			     "the end",
			     shape_name[shape]);
	}

	printf("%s [%s]: %" PRIu64 " items from %u producers in %.2f s "
	       "(%.1f M items/s)\n",
	       stress_name, shape_name[shape], g.total, NPRODUCERS, secs,
	       (double)g.total / secs / 1e6);
	printf("  turns %" PRIu64 ", wake-ups %" PRIu64 ", idle marks %" PRIu64
	       ", failed marks %" PRIu64 ", producer window waits %" PRIu64
	       ", trickle phases %" PRIu64 ", quiescence checks %" PRIu64 "\n",
	       load(&g.turns), load(&g.wakeups), load(&g.marks),
	       load(&g.mark_failures), window_waits, load(&g.trickle_phases),
	       load(&g.quiesces));
	printf("  chain pushes %" PRIu64 ", nodes handed back %" PRIu64 "\n",
	       chains, handed_back());
	if (shape == SHAPE_DRAIN)
		printf("  idle marks taken back by reclaim_sc %" PRIu64
		       ", reclaims that lost to a push %" PRIu64 "\n",
		       load(&g.reclaims), load(&g.reclaim_failures));
	if (shape == SHAPE_SNAPSHOT)
		printf("  turns ended at their snapshot node %" PRIu64
		       ", by the batch cap %" PRIu64
		       ", by a push in flight before the node %" PRIu64
		       "; snapshots empty %" PRIu64 "\n",
		       load(&g.bounded_turns), load(&g.capped_turns),
		       load(&g.busy_before_bound), load(&g.snapshot_nulls));
	if (shape == SHAPE_CLOSE)
		printf("  closed after %" PRIu64 " items (%" PRIu64
		       " failed closes); then %" PRIu64
		       " pushes found the closed tag and dead-lettered %" PRIu64
		       " items\n",
		       g.total - dead_lettered, load(&g.close_failures),
		       closed_pushes, dead_lettered);
	fflush(stdout);
	/* Sanity of the harness itself: at CI sizes the run must have
	 * exercised the protocol, not just streamed items (tiny sizes, for
	 * a quick try, may legitimately not). */
	if (g.total >= SANITY_MIN_ITEMS) {
		STRESS_CHECK(shape == SHAPE_CLOSE || load(&g.marks) >= 2,
			     "[%s] the mailbox went idle only %" PRIu64
			     " times: the test did not exercise the idle tag",
			     shape_name[shape], load(&g.marks));
		STRESS_CHECK(shape != SHAPE_CLOSE || closed_pushes >= 2,
			     "[close] only %" PRIu64
			     " pushes found the closed tag",
			     closed_pushes);
		STRESS_CHECK(shape != SHAPE_DRAIN || load(&g.reclaims) >= 1,
			     "[drain] reclaim_sc never won: the test did not "
			     "exercise a turn with the stub as the tail");
	}

	for (unsigned i = 0; i < NPRODUCERS; i++)
		free(g.prod[i].items);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t seed = stress_init("stress.mailbox_mpsc");
	bool run[NSHAPES] = { true, true, true };
	if (argc > 1) {
		bool any = false;
		for (unsigned i = 0; i < NSHAPES; i++) {
			run[i] = strcmp(argv[1], shape_name[i]) == 0;
			any |= run[i];
		}
		if (!any) {
			fprintf(stderr, "usage: %s [drain|snapshot|close]\n",
				argv[0]);
			return 2;
		}
	}
	uint64_t per_producer =
		stress_scaled(PER_PRODUCER_BASE, (uint64_t)2 * WINDOW);
	for (unsigned i = 0; i < NSHAPES; i++)
		if (run[i] &&
		    run_shape((enum shape)i, per_producer, seed + i) != 0)
			return 1;
	printf("%s: OK\n", stress_name);
	return 0;
}
