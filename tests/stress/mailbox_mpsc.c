/*
 * tests/stress/mailbox_mpsc.c - T1 (raw queue): 8 producers push into ONE
 * trp__mailbox while one consumer runs the actor protocol on it.
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
 *
 * Three shapes (argv[1]; default: all three, one after the other):
 * - "drain":    pop until pop returns NULL, then try to go idle;
 * - "snapshot": trp__mailbox_snapshot_sc bounds the turn: pop until the
 *               snapshot node has been returned (or a batch cap is hit, or
 *               pop returns NULL because a push is in flight), then try to
 *               go idle or "reschedule" (run another turn, yielding the CPU
 *               now and then as a worker would serve other actors);
 * - "close":    as drain, but once a random 10..90 % of the items have
 *               arrived the actor stops: it closes the mailbox
 *               (trp__mailbox_close_sc) instead of marking it idle. From
 *               then on the one push that finds the closed tag makes its
 *               producer the consumer for a moment: it pops ("dead-letters")
 *               everything and closes again. The same per-producer checks
 *               run on that stream, now consumed by many threads in turn:
 *               their only ordering is the close CAS (release) and the
 *               pushes' exchange (acquire), which TSan checks.
 *
 * Checks, on every item: each node carries (producer, seq); the consumer
 * requires seq to be exactly the next one of that producer (nothing lost,
 * nothing duplicated, per-producer FIFO), never gets the stub or a node
 * twice (it poisons each node before handing it back), and the totals add
 * up. On every idle transition: a push that sees the idle tag while the
 * consumer still holds the token means two schedule tokens (the producer's
 * CAS fails); a mark_idle that succeeds while the turn's snapshot node is
 * still queued loses that node; the number of pushes that saw the tag
 * equals the number of successful mark_idle calls (and likewise for the
 * closed tag; after the close no push may see the idle tag, and no push
 * may see the closed tag before it). A message stuck behind a wrongly set
 * idle tag (Akka.NET #375) is caught deterministically: every ~30 ms the
 * main thread pauses all producers between two pushes (so every push is
 * complete) and waits until the consumer has received everything sent so
 * far; if instead the consumer is idle (token free, waiting) with items
 * missing, no push will ever wake it: a lost wake-up, reported at once.
 * (Between such points it would only be a late message; a hang anywhere
 * else trips the watchdog.)
 *
 * Nodes are recycled: each producer owns WINDOW nodes and reuses node
 * seq % WINDOW once the consumer has released seq - WINDOW, which also
 * checks mailbox.h's promise that a popped node may be reused at once.
 *
 * Size: 8 × 10^7 items per shape at TRP_STRESS_SCALE=1 (TESTPLAN T1),
 * 8 × 10^6 at the sanitizer presets' 0.1. Measured on the 2-core dev VM,
 * all three shapes: release (scale 1) ~30-35 s, asan (0.1) ~4 s, tsan
 * (0.1) ~30-40 s. Run one shape with argv[1] = drain|snapshot|close.
 * TRP_STRESS_SEED fixes the close point and each thread's random gaps,
 * not the interleaving.
 *
 * Limits: a bug that only delays a message (a wrongly set idle tag whose
 * message the next push rescues) shows only if a quiescence check lands
 * while a producer is preempted between its exchange and its link store;
 * such protocol bugs are the spin models' job (tests/models/mailbox_idle*).
 * Memory-order bugs show under TSan (the item fields are plain data).
 */
#include "stress_util.h"

#include <stdalign.h>
#include <stddef.h>

#include "mailbox.h"
#include "platform.h"

#define NPRODUCERS 8u
#define PER_PRODUCER_BASE 10000000u /* × 8 producers = 8 × 10^7 */
#define WINDOW 4096u		    /* nodes in flight per producer */
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

struct item {
	struct trp__mpsc_node node; /* first: a node pointer is an item */
	uint32_t producer;
	uint32_t poison;
	uint64_t seq;
};

struct producer {
	/* written by the consumer: items of this producer it is done with */
	alignas(64) _Atomic(uint64_t) consumed;
	/* written by the producer */
	alignas(64) _Atomic(uint64_t) pushed;
	_Atomic(uint64_t) idle_pushes;
	_Atomic(uint64_t) window_waits;
	_Atomic(uint64_t) closed_pushes; /* pushes that found the closed tag */
	_Atomic(uint64_t) dead_lettered; /* items it popped after the close */
	_Atomic(uint64_t) recloses;	 /* its successful close_sc calls */
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
	_Atomic(uint64_t) snapshot_stubs;
	_Atomic(uint64_t) capped_turns;
	uint64_t consumer_rng;
	_Atomic(uint64_t) close_failures;
	_Atomic(uint32_t) consumer_state;
	/* written by the main thread: 1 during a trickle phase */
	alignas(64) _Atomic(uint32_t) trickle;
	_Atomic(uint32_t) pause_req; /* 1: producers, stop between pushes */
	_Atomic(uint64_t) trickle_phases;
	_Atomic(uint64_t) quiesces;
	/* written by producers */
	alignas(64) _Atomic(uint32_t) producers_done;
	_Atomic(uint32_t) paused;
	/* The consumer's state: per producer, the next seq due. Plain data,
	 * used by whoever holds the consumer role (in the close shape, the
	 * producers that find the closed tag, one after the other). */
	uint64_t expected[NPRODUCERS];
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

static void consume(struct trp__mpsc_node *n);

/*
 * Our push found the closed tag: we are the consumer now. Dead-letter
 * everything (the same checks as the consumer's) and close again; a
 * failed close means a node arrived or a push is in flight: pop on.
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
		struct trp__mpsc_node *n;
		while ((n = trp__mailbox_pop_sc(&g.mb)) != NULL) {
			consume(n);
			stress_progress(&p->dead_lettered, 1);
		}
		if (trp__mailbox_close_sc(&g.mb)) {
			stress_progress(&p->recloses, 1);
			return;
		}
		/* a push in flight: let its producer finish the link */
		if (spins % 16 == 15)
			sched_yield();
	}
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	stress_watchdog_thread(&g.wd, p->name);
	stress_barrier_wait(&g.start);
	for (uint64_t s = 0; s < p->count; s++) {
		if (s >= WINDOW) {
			/* ORDER: acquire pairs with the consumer's release
			 * store of consumed: it is done with the node. */
			for (unsigned i = 0;
			     atomic_load_explicit(&p->consumed,
						  memory_order_acquire) +
				     WINDOW <=
			     s;
			     i++) {
				if (i == 0)
					stress_progress(&p->window_waits, 1);
				maybe_pause();
				if (i < 32)
					stress_cpu_relax();
				else
					sched_yield();
			}
		}
		maybe_pause();
		struct item *it = &p->items[s % WINDOW];
		it->producer = p->id;
		it->poison = 0;
		it->seq = s;
		unsigned tag = trp__mailbox_push_mp(&g.mb, &it->node);
		stress_progress(&p->pushed, 1);
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

static void consume(struct trp__mpsc_node *n)
{
	if (n == &g.mb.stub)
		stress_fail("[%s] pop_sc returned the stub node",
			    shape_name[g.shape]);
	struct item *it = (struct item *)n;
	uint32_t p = it->producer;
	uint64_t s = it->seq;
	if (it->poison != 0 || p >= NPRODUCERS)
		stress_fail("[%s] pop_sc returned node %p (producer %u, seq "
			    "%" PRIu64 ", poison %u) that was already "
			    "popped: delivered twice",
			    shape_name[g.shape], (void *)n, p, s, it->poison);
	if (it < g.prod[p].items || it >= g.prod[p].items + WINDOW)
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
	/* Poison, so a second delivery of this node is caught above. */
	it->poison = 1;
	it->producer = UINT32_MAX;
	g.expected[p] = s + 1;
	/* ORDER: release: we are done with the node (our reads and the
	 * poison happen before); pairs with the producer's acquire load
	 * before it reuses the node. */
	atomic_store_explicit(&g.prod[p].consumed, s + 1, memory_order_release);
	stress_progress(&g.received, 1);
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
	if (trp__mailbox_mark_idle_sc(&g.mb)) {
		stress_progress(&g.marks, 1);
		return true;
	}
	stress_progress(&g.mark_failures, 1);
	uint32_t expect = TOKEN_FREE;
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
 * the next push); false: not empty, pop on.
 */
static bool try_close(void)
{
	/* relaxed: the state is for diagnostics and for drain_closed's
	 * sanity check; a producer can only see C_DONE through the close
	 * (the store comes first, the CAS publishes it). */
	atomic_store_explicit(&g.consumer_state, C_DONE, memory_order_relaxed);
	if (trp__mailbox_close_sc(&g.mb)) {
		/* relaxed: no push may look at the token any more; one that
		 * does (it saw the idle tag) fails on TOKEN_STOPPED. */
		atomic_store_explicit(&g.token, TOKEN_STOPPED,
				      memory_order_relaxed);
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
		struct trp__mpsc_node *n;
		while ((n = trp__mailbox_pop_sc(&g.mb)) != NULL)
			consume(n);
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
 * after a batch cap (small in one turn of four), or when pop returns NULL.
 * The snapshot may be the stub (re-queued behind a producer that has not
 * linked yet): pop never returns it, so such a turn is bounded by the cap.
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
		else if (bound == &g.mb.stub)
			stress_progress(&g.snapshot_stubs, 1);
		bool reached = false, capped = false;
		uint64_t popped = 0;
		struct trp__mpsc_node *n;
		while ((n = trp__mailbox_pop_sc(&g.mb)) != NULL) {
			consume(n);
			/* pointer comparison only: n is already released */
			if (n == bound) {
				reached = true;
				break;
			}
			if (++popped == cap) {
				capped = true;
				break;
			}
		}
		bool real_bound = bound != NULL && bound != &g.mb.stub;
		if (reached)
			stress_progress(&g.bounded_turns, 1);
		else if (capped)
			stress_progress(&g.capped_turns, 1);
		else if (real_bound)
			stress_progress(&g.busy_before_bound, 1);
		bool idle = try_idle();
		if (idle && real_bound && !reached)
			stress_fail(
				"[snapshot] mark_idle_sc succeeded while the "
				"turn's snapshot node %p had not been "
				"popped yet: that node is lost",
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
	atomic_store_explicit(&g.consumer_state, C_DONE, memory_order_relaxed);
	stress_watchdog_thread_exit(&g.wd);
	return NULL;
}

/* ---------------------------------------------------------------- main -- */

static uint64_t load(_Atomic(uint64_t) *c);

/*
 * Pauses every producer between two pushes and waits until the consumer
 * has received all that was sent. Returns false when all producers are
 * done (the run is over). Fails if the consumer went idle, or the mailbox
 * was closed, with items still missing: with no push left in flight
 * nothing would ever deliver them.
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
		uint64_t consumed = atomic_load_explicit(&p->consumed,
							 memory_order_relaxed);
		fprintf(stderr,
			"  producer %u: pushed %" PRIu64 "/%" PRIu64
			", consumed %" PRIu64 "%s\n",
			i, pushed, p->count, consumed,
			pushed > consumed ? "  <- items pushed, not received" :
					    "");
	}
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
}

static uint64_t load(_Atomic(uint64_t) *c)
{
	/* relaxed: read after every thread was joined. */
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
		closed_pushes += load(&p->closed_pushes);
		dead_lettered += load(&p->dead_lettered);
		recloses += load(&p->recloses);
	}
	STRESS_CHECK(load(&g.received) == g.total,
		     "[%s] received %" PRIu64 " items (%" PRIu64
		     " of them dead-lettered), sent %" PRIu64,
		     shape_name[shape], load(&g.received), dead_lettered,
		     g.total);
	/*
	 * The mailbox started idle: every successful mark_idle opened a new
	 * idle period, and each period was ended by exactly one push that
	 * saw the tag - all of them in the close shape, all but the last
	 * (still open) otherwise. Likewise each close opened a closed
	 * period, ended by one push that found the tag, except the last.
	 */
	uint64_t ended = shape == SHAPE_CLOSE ? load(&g.marks) + 1 :
						load(&g.marks);
	STRESS_CHECK(idle_pushes == ended,
		     "[%s] %" PRIu64 " pushes found the idle tag, but the "
		     "consumer set it %" PRIu64
		     " times (%s): expected %" PRIu64,
		     shape_name[shape], idle_pushes, load(&g.marks),
		     shape == SHAPE_CLOSE ?
			     "plus the initial one, all ended" :
			     "plus the initial one, the last still open",
		     ended);
	STRESS_CHECK(closed_pushes == recloses,
		     "[%s] %" PRIu64 " pushes found the closed tag, but it "
		     "was set again only %" PRIu64 " times",
		     shape_name[shape], closed_pushes, recloses);
	STRESS_CHECK(trp__mailbox_snapshot_sc(&g.mb) == NULL,
		     "[%s] the mailbox is not empty at the end",
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
		STRESS_CHECK(trp__mailbox_close_sc(&g.mb) == false,
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
	if (shape == SHAPE_SNAPSHOT)
		printf("  turns ended at their snapshot node %" PRIu64
		       ", by the batch cap %" PRIu64
		       ", by a push in flight before the node %" PRIu64
		       "; snapshots empty %" PRIu64
		       ", the re-queued stub %" PRIu64 "\n",
		       load(&g.bounded_turns), load(&g.capped_turns),
		       load(&g.busy_before_bound), load(&g.snapshot_nulls),
		       load(&g.snapshot_stubs));
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
