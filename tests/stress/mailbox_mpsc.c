/*
 * tests/stress/mailbox_mpsc.c - T1 (raw queue): 8 producers push into ONE
 * trp__mailbox while one consumer runs the actor protocol on it.
 *
 * The protocol, exactly as a worker runs an actor:
 * - the mailbox starts idle and the consumer unscheduled;
 * - a producer whose push returns true (it saw the idle tag) holds the one
 *   schedule token and hands it to the consumer (a CAS 0 -> 1 on `token`,
 *   then a futex wake if the consumer sleeps);
 * - the consumer runs turns only while it holds the token. At the end of a
 *   turn it gives the token up and tries trp__mailbox_mark_idle_sc: on
 *   success it waits for the next token; on failure (a node arrived or a
 *   push is in flight) it takes the token back and runs another turn.
 *
 * Two turn shapes (argv[1], default both, one after the other):
 * - "drain":    pop until pop returns NULL, then try to go idle;
 * - "snapshot": trp__mailbox_snapshot_sc bounds the turn: pop until the
 *               snapshot node has been returned (or pop returns NULL
 *               because a push is in flight), then try to go idle or
 *               "reschedule" (run another turn, yielding the CPU now and
 *               then as a worker would serve other actors).
 *
 * Checks, on every item: each node carries (producer, seq); the consumer
 * requires seq to be exactly the next one of that producer (nothing lost,
 * nothing duplicated, per-producer FIFO), never gets the stub or a node
 * twice (it poisons each node before handing it back), and the totals add
 * up. On every idle transition: a push that returns true while the
 * consumer still holds the token means two schedule tokens (the producer's
 * CAS fails); a mark_idle that succeeds while the turn's snapshot node is
 * still queued loses that node; the number of pushes that saw the tag
 * equals the number of successful mark_idle calls. A message stuck behind
 * a wrongly set idle tag (Akka.NET #375) leaves the consumer waiting with
 * items missing: the watchdog reports it after 5 s without progress.
 *
 * Nodes are recycled: each producer owns WINDOW nodes and reuses node
 * seq % WINDOW once the consumer has released seq - WINDOW, which also
 * checks mailbox.h's promise that a popped node may be reused at once.
 *
 * Size: 8 × 10^7 items per shape at TRP_STRESS_SCALE=1 (TESTPLAN T1),
 * 8 × 10^6 at the sanitizer presets' 0.1. See the report at the end of the
 * run for items/s; measured runtimes are quoted in the commit message.
 */
#include "stress_util.h"

#include <stdalign.h>
#include <stddef.h>

#include "mailbox.h"
#include "platform.h"

#define NPRODUCERS 8u
#define PER_PRODUCER_BASE 10000000u /* × 8 producers = 8 × 10^7 */
#define WINDOW 4096u                /* nodes in flight per producer */
#define LIMIT_S 600.0               /* watchdog total limit per shape */
#define FLOOD_MS 15                 /* pacing: flood phase */
#define TRICKLE_MS 10               /* pacing: trickle phase */

enum shape { SHAPE_DRAIN, SHAPE_SNAPSHOT };

static const char *const shape_name[] = {"drain", "snapshot"};

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
	uint64_t rng;
	/* set up before the start barrier */
	uint32_t id;
	uint64_t count;
	struct item *items;
	char name[16];
};

enum consumer_state { C_WAITING, C_RUNNING, C_DONE };

static struct {
	struct trp__mailbox mb;
	/* 1 while the consumer is scheduled (holds the token) */
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
	_Atomic(uint32_t) consumer_state;
	/* written by the main thread: 1 during a trickle phase */
	alignas(64) _Atomic(uint32_t) trickle;
	_Atomic(uint32_t) producers_done;
	_Atomic(uint64_t) trickle_phases;
	uint64_t expected[NPRODUCERS]; /* consumer only; read after join */
	/* set up before the start barrier */
	alignas(64) enum shape shape;
	uint64_t total;
	struct producer prod[NPRODUCERS];
	struct stress_barrier start;
	struct stress_watchdog wd;
} g;

/* ------------------------------------------------------------ producer -- */

/* Hands the schedule token to the consumer after a push saw the idle tag. */
static void schedule(struct producer *p, uint64_t seq)
{
	uint32_t expect = 0;
	/* ORDER: seq_cst: acquire pairs with the consumer's release store
	 * of token = 0 (its turn is over); release publishes to the
	 * consumer's acquire load; seq_cst for the Dekker pair with the
	 * consumer's (sleeping = 1; load token) in wait_token. */
	if (!atomic_compare_exchange_strong_explicit(&g.token, &expect, 1,
						     memory_order_seq_cst,
						     memory_order_seq_cst))
		stress_fail("[%s] producer %u: push of seq %" PRIu64
			    " returned was_idle=true while the consumer "
			    "still holds the schedule token (consumer state "
			    "%u): two schedule tokens outstanding",
			    shape_name[g.shape], p->id, seq,
			    atomic_load_explicit(&g.consumer_state,
						 memory_order_relaxed));
	/* ORDER: seq_cst, the other half of the Dekker pair above. */
	if (atomic_load_explicit(&g.sleeping, memory_order_seq_cst) != 0)
		trp__futex_wake(&g.token, 1);
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
				if (i < 32)
					stress_cpu_relax();
				else
					sched_yield();
			}
		}
		struct item *it = &p->items[s % WINDOW];
		it->producer = p->id;
		it->poison = 0;
		it->seq = s;
		bool was_idle = trp__mailbox_push_mp(&g.mb, &it->node);
		stress_progress(&p->pushed, 1);
		if (was_idle) {
			stress_progress(&p->idle_pushes, 1);
			schedule(p, s);
		}
		/* Gaps, so the queue runs dry and the idle tag is set and
		 * cleared many times: short spins while flooding; during a
		 * trickle phase every producer sleeps after each push, the
		 * consumer drains the queue, and the pushes that follow race
		 * with its mark_idle. */
		uint64_t r = stress_rand(&p->rng);
		/* relaxed: a pacing hint, no data. */
		if (atomic_load_explicit(&g.trickle, memory_order_relaxed)) {
			struct timespec ts = {0, (long)(r & 16383)};
			nanosleep(&ts, NULL);
		} else if ((r & 63) == 0) {
			unsigned spin = (unsigned)((r >> 6) & 511);
			for (unsigned i = 0; i < spin; i++)
				stress_cpu_relax();
		}
	}
	/* relaxed: read by the main thread's pacing loop only. */
	atomic_fetch_add_explicit(&g.producers_done, 1, memory_order_relaxed);
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
	atomic_store_explicit(&g.token, 0, memory_order_release);
	if (trp__mailbox_mark_idle_sc(&g.mb)) {
		stress_progress(&g.marks, 1);
		return true;
	}
	stress_progress(&g.mark_failures, 1);
	uint32_t expect = 0;
	/* ORDER: acquire, symmetric with the producers' CAS (no data). */
	if (!atomic_compare_exchange_strong_explicit(&g.token, &expect, 1,
						     memory_order_acquire,
						     memory_order_relaxed))
		stress_fail("[%s] mark_idle_sc failed (queue not empty), yet "
			    "a producer took the schedule token while the "
			    "consumer was still running: a push saw an idle "
			    "tag that was never set",
			    shape_name[g.shape]);
	return false;
}

/* Runs turns until the mailbox has been marked idle. */
static void run_drain(void)
{
	for (;;) {
		stress_progress(&g.turns, 1);
		struct trp__mpsc_node *n;
		while ((n = trp__mailbox_pop_sc(&g.mb)) != NULL)
			consume(n);
		if (try_idle())
			return;
	}
}

static void run_snapshot(void)
{
	for (uint64_t turn = 0;; turn++) {
		stress_progress(&g.turns, 1);
		struct trp__mpsc_node *bound = trp__mailbox_snapshot_sc(&g.mb);
		if (bound == NULL)
			stress_progress(&g.snapshot_nulls, 1);
		bool reached = false;
		struct trp__mpsc_node *n;
		while ((n = trp__mailbox_pop_sc(&g.mb)) != NULL) {
			consume(n);
			/* pointer comparison only: n is already released */
			if (n == bound) {
				reached = true;
				break;
			}
		}
		if (reached)
			stress_progress(&g.bounded_turns, 1);
		else if (bound != NULL)
			stress_progress(&g.busy_before_bound, 1);
		bool idle = try_idle();
		if (idle && bound != NULL && !reached)
			stress_fail("[snapshot] mark_idle_sc succeeded while the "
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
		if (atomic_load_explicit(&g.token, memory_order_acquire) == 1)
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
		/* relaxed: diagnostics for the watchdog. */
		atomic_store_explicit(&g.consumer_state, C_WAITING,
				      memory_order_relaxed);
		wait_token();
		atomic_store_explicit(&g.consumer_state, C_RUNNING,
				      memory_order_relaxed);
		stress_progress(&g.wakeups, 1);
		if (g.shape == SHAPE_DRAIN)
			run_drain();
		else
			run_snapshot();
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

static void dump_state(void *arg)
{
	(void)arg;
	static const char *const st[] = {"waiting for token", "running",
					 "done"};
	uint32_t cs =
		atomic_load_explicit(&g.consumer_state, memory_order_relaxed);
	fprintf(stderr,
		"  shape %s; consumer %s; token %u; sleeping %u; mailbox "
		"idle tag %d\n",
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
			pushed > consumed ? "  <- items pushed, not received"
					  : "");
	}
	if (cs == C_WAITING &&
	    atomic_load_explicit(&g.received, memory_order_relaxed) <
		    g.total)
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
	trp__mailbox_init(&g.mb, true);
	stress_barrier_init(&g.start, NPRODUCERS + 2);
	stress_watchdog_init(&g.wd, LIMIT_S);
	g.wd.dump = dump_state;
	stress_watchdog_counter(&g.wd, "consumer.received", &g.received);
	stress_watchdog_counter(&g.wd, "consumer.turns", &g.turns);
	stress_watchdog_counter(&g.wd, "consumer.wakeups", &g.wakeups);
	stress_watchdog_counter(&g.wd, "consumer.marks", &g.marks);
	static const char *const pushed_names[NPRODUCERS] = {
		"producer0.pushed", "producer1.pushed", "producer2.pushed",
		"producer3.pushed", "producer4.pushed", "producer5.pushed",
		"producer6.pushed", "producer7.pushed"};
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
	/* Pacing: FLOOD_MS of flooding, then TRICKLE_MS of trickling. */
	/* relaxed: a counter sampled, not a sync point (join syncs). */
	while (atomic_load_explicit(&g.producers_done, memory_order_relaxed) <
	       NPRODUCERS) {
		stress_sleep_ms(FLOOD_MS);
		atomic_store_explicit(&g.trickle, 1, memory_order_relaxed);
		stress_sleep_ms(TRICKLE_MS);
		atomic_store_explicit(&g.trickle, 0, memory_order_relaxed);
		stress_progress(&g.trickle_phases, 1);
	}
	for (unsigned i = 0; i < NPRODUCERS + 1; i++)
		pthread_join(threads[i], NULL);
	double secs = stress_seconds_since(t0);
	stress_watchdog_stop(&g.wd);

	/* Totals. The consumer checked every item as it came. */
	uint64_t idle_pushes = 0, window_waits = 0;
	for (unsigned i = 0; i < NPRODUCERS; i++) {
		struct producer *p = &g.prod[i];
		STRESS_CHECK(load(&p->pushed) == per_producer,
			     "[%s] producer %u pushed %" PRIu64
			     " of %" PRIu64,
			     shape_name[shape], i, load(&p->pushed),
			     per_producer);
		STRESS_CHECK(g.expected[i] == per_producer,
			     "[%s] producer %u: received %" PRIu64
			     " of %" PRIu64 " items",
			     shape_name[shape], i, g.expected[i], per_producer);
		idle_pushes += load(&p->idle_pushes);
		window_waits += load(&p->window_waits);
	}
	STRESS_CHECK(load(&g.received) == g.total,
		     "[%s] received %" PRIu64 " items, sent %" PRIu64,
		     shape_name[shape], load(&g.received), g.total);
	/* The mailbox started idle: every successful mark_idle opened a new
	 * idle period, and every period but the last (still open) was
	 * closed by exactly one push that returned true. */
	STRESS_CHECK(idle_pushes == load(&g.marks),
		     "[%s] %" PRIu64 " pushes returned was_idle=true but "
		     "the consumer marked the mailbox idle %" PRIu64
		     " times (the initial idle period included, they must "
		     "be equal)",
		     shape_name[shape], idle_pushes, load(&g.marks));
	STRESS_CHECK(trp__mailbox_is_idle(&g.mb),
		     "[%s] the mailbox is not idle at the end",
		     shape_name[shape]);
	STRESS_CHECK(trp__mailbox_snapshot_sc(&g.mb) == NULL,
		     "[%s] the mailbox is not empty at the end",
		     shape_name[shape]);
	STRESS_CHECK(atomic_load_explicit(&g.token, memory_order_relaxed) == 0,
		     "[%s] a schedule token is still outstanding at the end",
		     shape_name[shape]);

	printf("%s [%s]: %" PRIu64 " items from %u producers in %.2f s "
	       "(%.1f M items/s)\n",
	       stress_name, shape_name[shape], g.total, NPRODUCERS, secs,
	       (double)g.total / secs / 1e6);
	printf("  turns %" PRIu64 ", wake-ups %" PRIu64 ", idle marks %" PRIu64
	       ", failed marks %" PRIu64 ", producer window waits %" PRIu64
	       ", trickle phases %" PRIu64 "\n",
	       load(&g.turns), load(&g.wakeups), load(&g.marks),
	       load(&g.mark_failures), window_waits, load(&g.trickle_phases));
	if (shape == SHAPE_SNAPSHOT)
		printf("  turns ended at their snapshot node %" PRIu64
		       ", by a push in flight before it %" PRIu64
		       ", with an empty snapshot %" PRIu64 "\n",
		       load(&g.bounded_turns), load(&g.busy_before_bound),
		       load(&g.snapshot_nulls));
	fflush(stdout);
	/* Sanity of the harness itself: the run must have exercised the
	 * protocol, not just streamed items. */
	STRESS_CHECK(load(&g.marks) >= 2,
		     "[%s] the mailbox went idle only %" PRIu64
		     " times: the test did not exercise the idle tag",
		     shape_name[shape], load(&g.marks));

	for (unsigned i = 0; i < NPRODUCERS; i++)
		free(g.prod[i].items);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t seed = stress_init("stress.mailbox_mpsc");
	bool drain = true, snapshot = true;
	if (argc > 1) {
		drain = strcmp(argv[1], "drain") == 0;
		snapshot = strcmp(argv[1], "snapshot") == 0;
		if (!drain && !snapshot) {
			fprintf(stderr, "usage: %s [drain|snapshot]\n", argv[0]);
			return 2;
		}
	}
	uint64_t per_producer = stress_scaled(PER_PRODUCER_BASE, 2 * WINDOW);
	if (drain && run_shape(SHAPE_DRAIN, per_producer, seed) != 0)
		return 1;
	if (snapshot && run_shape(SHAPE_SNAPSHOT, per_producer, seed ^ 1) != 0)
		return 1;
	printf("%s: OK\n", stress_name);
	return 0;
}
