/*
 * tests/stress/run_ring_steal.c - T8: one owner pushes and pops its
 * trp__run_ring while three thieves steal half of it into their own deques
 * and drain those; every item must be taken exactly once.
 *
 * Items are pointers to payload[seq], a plain (non-atomic) word the owner
 * writes just before pushing item seq and the taker reads and poisons: so
 * ThreadSanitizer checks that the deque publishes what an item points to
 * (slot store, release tail / acquire tail, ring growth) exactly as it
 * must for the actors the runtime queues. Items are pushed in order, so the
 * item at ring position p is seq p (per round, plus the round's base).
 * That turns the FIFO and steal-half contracts into exact checks on every
 * observation:
 * - every item is taken exactly once (a counter per item, checked as it is
 *   taken and scanned at the end; the count must be N);
 * - the owner's pops return strictly increasing seqs (FIFO from the head);
 * - a steal from the owner claims a contiguous run [h, h + take): the item
 *   it returns is x and the `moved` items it put on the thief's deque are
 *   exactly x+1 .. x+moved, in order (a stale or torn slot read, e.g. from
 *   a ring being replaced by growth, breaks this);
 * - moved < 256 (STEAL_MAX) and a thief deque never has to grow for a
 *   steal (steal must not allocate; its push_owner result is checked
 *   indirectly by the exact `moved` count).
 * Roles: thief0 and thief1 are never stolen from, so their own deques hold
 * exactly one batch after each steal; thief2's deque is also a victim of
 * thief1 (a deque being pushed by its owner's steal while another thief
 * steals from it), so thief2 checks that what it gets is increasing, and
 * thief1 checks each batch it takes from thief2 is increasing.
 *
 * Growth: the run is cut into rounds of 1000..31000 items; each round
 * starts from a fresh owner deque of capacity 4 (log2 2; the threads meet
 * on a barrier to swap it), and the owner pushes in bursts of up to 4096,
 * popping its backlog down when it passes 2^15, so the ring doubles many
 * times all through the run while thieves read it. The owner also drains
 * its deque to empty now and then, racing the thieves for the last items.
 * Thief deques start at 4, 64 and 1024 slots (the last lets a steal reach
 * STEAL_MAX). Every item costs a little simulated work, so that on two
 * cores thieves take a real share (about a third).
 *
 * Size: 10^7 items at TRP_STRESS_SCALE=1 (TESTPLAN T8), 10^6 at 0.1.
 * Measured on the 2-core dev VM: release (scale 1) ~4 s, asan (0.1)
 * ~0.5 s, tsan (0.1) ~2-3 s.
 */
#include "stress_util.h"

#include <stdalign.h>

#include "chase_lev.h"
#include "run_ring.h"

#define N_BASE 10000000u
#define NTHIEVES 3u
#define HIGH_WATER (1u << 15) /* owner pops down to half of this */
#define STEAL_MAX_ITEMS 256u  /* deque.c's STEAL_MAX */
#define LIMIT_S 600.0
#define SANITY_MIN_ITEMS 500000u /* see the end of main */

struct thief {
	alignas(64) struct trp__run_ring own;
	/* written by this thief */
	alignas(64) _Atomic(uint64_t) taken;
	_Atomic(uint64_t) steals;
	_Atomic(uint64_t) empty_steals;
	_Atomic(uint64_t) stolen_from_peer;
	uint64_t max_moved;
	uint64_t rng;
	/* set up before the start barrier */
	unsigned id;
	unsigned log2_cap;
	uint32_t min_surplus;
	char name[16];
};

static struct {
	struct trp__run_ring owner_dq;
	/* written by the owner */
	alignas(64) _Atomic(uint64_t) pushed;
	_Atomic(uint64_t) popped;
	uint64_t max_size;
	/* shared */
	alignas(64) struct stress_items items;
	struct stress_rounds r;
	/* set up before the start barrier */
	alignas(64) uint64_t n;
	uint64_t seed;
	struct thief thieves[NTHIEVES];
	struct stress_barrier start;
	struct stress_watchdog wd;
} g;

static uint64_t take(void *item, const char *who)
{
	return stress_item_take(&g.items, item, who);
}

/* ------------------------------------------------------------- owner -- */

static void owner_pop(uint64_t *last, bool *any, uint64_t *rng)
{
	void *it = trp__run_ring_pop_owner(&g.owner_dq);
	if (it == NULL)
		return;
	uint64_t seq = take(it, "owner");
	if (*any && seq <= *last)
		stress_fail("owner popped %" PRIu64 " after %" PRIu64
			    ": not FIFO",
			    seq, *last);
	*last = seq;
	*any = true;
	stress_progress(&g.popped, 1);
	stress_work(rng);
}

static void owner_drain(uint64_t limit, uint64_t *last, bool *any,
			uint64_t *rng)
{
	while (trp__run_ring_size(&g.owner_dq) > limit)
		owner_pop(last, any, rng);
}

/* Rounds (stress_rounds): each one starts from a fresh deque of
 * capacity 4, made here by the owner, alone. */
static void renew_deque(void)
{
	trp__run_ring_destroy(&g.owner_dq);
	if (trp__run_ring_init(&g.owner_dq, 2) != 0)
		stress_fail("owner: trp__run_ring_init failed");
}

static void *owner_main(void *arg)
{
	(void)arg;
	uint64_t rng = stress_rand_init(g.seed, 100);
	uint64_t last = 0;
	bool any = false;
	stress_watchdog_thread(&g.wd, "owner");
	stress_barrier_wait(&g.start);
	uint64_t seq = 0;
	while (seq < g.n) {
		uint64_t round_len = 1000 + stress_rand_below(&rng, 30000);
		uint64_t end = seq + round_len < g.n ? seq + round_len : g.n;
		while (seq < end) {
			uint64_t r = stress_rand(&rng);
			uint64_t len = stress_burst_len(r);
			for (uint64_t i = 0; i < len && seq < end; i++) {
				int rc = trp__run_ring_push_owner(
					&g.owner_dq,
					stress_item_make(&g.items, seq));
				if (rc != 0)
					stress_fail("owner: push_owner(%" PRIu64
						    ") returned %d",
						    seq, rc);
				seq++;
				stress_progress(&g.pushed, 1);
				/* push 3, pop 1 */
				if (seq % 3 == 0)
					owner_pop(&last, &any, &rng);
			}
			uint64_t size = trp__run_ring_size(&g.owner_dq);
			if (size > g.max_size)
				g.max_size = size;
			if (size > HIGH_WATER)
				owner_drain(HIGH_WATER / 2, &last, &any, &rng);
			else if (((r >> 20) & 63) == 0)
				/* race the thieves for the last items */
				owner_drain(0, &last, &any, &rng);
		}
		owner_drain(0, &last, &any, &rng);
		STRESS_CHECK(trp__run_ring_pop_owner(&g.owner_dq) == NULL,
			     "owner: pop_owner returned an item with "
			     "size() == 0");
		stress_round_end_owner(&g.r, seq == g.n, renew_deque);
	}
	stress_watchdog_thread_exit(&g.wd);
	return NULL;
}

/* ------------------------------------------------------------ thieves -- */

static void *thief_main(void *arg)
{
	struct thief *t = arg;
	struct thief *peer = t->id == 1 ? &g.thieves[2] : NULL;
	uint64_t last = 0; /* thief0, thief2: everything they take rises */
	bool any = false;
	unsigned fails = 0;
	stress_watchdog_thread(&g.wd, t->name);
	stress_barrier_wait(&g.start);
	for (;;) {
		uint64_t r = stress_rand(&t->rng);
		bool from_peer = peer != NULL && (r & 1) == 0;
		struct trp__run_ring *victim = from_peer ? &peer->own :
							   &g.owner_dq;
		uint32_t min_surplus = t->min_surplus != 0 ?
					       t->min_surplus :
					       1 + (uint32_t)((r >> 2) % 3);
		uint32_t moved = UINT32_MAX;
		void *it = trp__run_ring_steal(victim, &t->own, min_surplus,
					       &moved);
		if (it == NULL) {
			STRESS_CHECK(moved == 0,
				     "%s: steal returned NULL with moved %u",
				     t->name, moved);
			stress_progress(&t->empty_steals, 1);
			if (stress_round_done(&g.r) &&
			    trp__run_ring_size(&g.owner_dq) == 0) {
				STRESS_CHECK(trp__run_ring_size(&t->own) == 0,
					     "%s: its deque is not empty at "
					     "the end of a round",
					     t->name);
				if (stress_round_end_thief(&g.r))
					break;
				continue;
			}
			if (++fails % 16 == 0)
				sched_yield();
			else
				stress_cpu_relax();
			continue;
		}
		fails = 0;
		stress_progress(&t->steals, 1);
		if (from_peer)
			stress_progress(&t->stolen_from_peer, 1);
		uint64_t x = take(it, t->name);
		stress_progress(&t->taken, 1);
		stress_work(&t->rng);
		if (moved >= STEAL_MAX_ITEMS)
			stress_fail("%s: one steal moved %u items (max %u)",
				    t->name, moved, STEAL_MAX_ITEMS - 1);
		if (moved > t->max_moved)
			t->max_moved = moved;
		if (t->id != 1) {
			if (any && x <= last)
				stress_fail("%s: stole %" PRIu64
					    " after taking %" PRIu64
					    ": the owner's head went back",
					    t->name, x, last);
			last = x;
			any = true;
		}
		/* Drain the batch. thief0/thief1 own deques are theirs
		 * alone: exactly `moved` items, in order (x+1.. from the
		 * owner); thief2 may lose some to thief1. */
		uint64_t prev = x, got = 0;
		void *v;
		while ((v = trp__run_ring_pop_owner(&t->own)) != NULL) {
			uint64_t s = take(v, t->name);
			stress_progress(&t->taken, 1);
			got++;
			bool exact = t->id != 2 && !from_peer;
			if (exact ? s != prev + 1 : s <= prev)
				stress_fail("%s: after %" PRIu64
					    " its deque gave %" PRIu64
					    " (steal from %s returned %" PRIu64
					    ", moved %u)",
					    t->name, prev, s,
					    from_peer ? "thief2" : "owner", x,
					    moved);
			prev = s;
			stress_work(&t->rng);
			if (t->id == 2) {
				last = s;
				/* slower, so thief1 finds items to steal */
				stress_work(&t->rng);
				stress_work(&t->rng);
			}
		}
		if (t->id != 2 ? got != moved : got > moved)
			stress_fail("%s: steal reported moved %u but its deque "
				    "held %" PRIu64 " items",
				    t->name, moved, got);
	}
	STRESS_CHECK(trp__run_ring_size(&t->own) == 0,
		     "%s: its deque is not empty at exit", t->name);
	stress_watchdog_thread_exit(&g.wd);
	return NULL;
}

/* --------------------------------------------------------------- main -- */

static void dump_state(void *arg)
{
	(void)arg;
	fprintf(stderr,
		"  owner deque size %" PRIu64 ", round_done %u; pushed %" PRIu64
		" of %" PRIu64 "\n",
		trp__run_ring_size(&g.owner_dq),
		atomic_load_explicit(&g.r.round_done, memory_order_relaxed),
		atomic_load_explicit(&g.pushed, memory_order_relaxed), g.n);
	for (unsigned i = 0; i < NTHIEVES; i++)
		fprintf(stderr, "  %s deque size %" PRIu64 "\n",
			g.thieves[i].name,
			trp__run_ring_size(&g.thieves[i].own));
}

int main(void)
{
	g.seed = stress_init("stress.deque_steal");
	g.n = stress_scaled(N_BASE, 10000);
	stress_items_init(&g.items, g.n);
	if (trp__run_ring_init(&g.owner_dq, 2) != 0)
		stress_fail("trp__run_ring_init failed");
	stress_barrier_init(&g.start, NTHIEVES + 2);
	stress_rounds_init(&g.r, NTHIEVES);
	stress_watchdog_init(&g.wd, LIMIT_S);
	g.wd.dump = dump_state;
	stress_watchdog_counter(&g.wd, "owner.pushed", &g.pushed);
	stress_watchdog_counter(&g.wd, "owner.popped", &g.popped);
	stress_watchdog_info(&g.wd, "owner.rounds", &g.r.rounds);
	static const char *const names[NTHIEVES][3] = {
		{ "thief0.taken", "thief0.steals", "thief0.empty_steals" },
		{ "thief1.taken", "thief1.steals", "thief1.empty_steals" },
		{ "thief2.taken", "thief2.steals", "thief2.empty_steals" }
	};
	static const unsigned log2_caps[NTHIEVES] = { 2, 6, 10 };
	/* 0: a random min_surplus in 1..3 per steal */
	static const uint32_t min_surplus[NTHIEVES] = { 1, 2, 0 };
	for (unsigned i = 0; i < NTHIEVES; i++) {
		struct thief *t = &g.thieves[i];
		t->id = i;
		t->log2_cap = log2_caps[i];
		t->min_surplus = min_surplus[i];
		t->rng = stress_rand_init(g.seed, i + 1);
		snprintf(t->name, sizeof t->name, "thief%u", i);
		if (trp__run_ring_init(&t->own, t->log2_cap) != 0)
			stress_fail("trp__run_ring_init failed");
		stress_watchdog_counter(&g.wd, names[i][0], &t->taken);
		stress_watchdog_info(&g.wd, names[i][1], &t->steals);
		stress_watchdog_info(&g.wd, names[i][2], &t->empty_steals);
	}

	double secs = stress_run_owner_thieves(owner_main, thief_main,
					       g.thieves, sizeof g.thieves[0],
					       NTHIEVES, &g.start, &g.wd);

	uint64_t total = stress_load(&g.popped);
	for (unsigned i = 0; i < NTHIEVES; i++)
		total += stress_load(&g.thieves[i].taken);
	stress_check_taken_once(g.items.taken_by, g.n);
	STRESS_CHECK(total == g.n,
		     "%" PRIu64 " takes counted for %" PRIu64 " items", total,
		     g.n);
	STRESS_CHECK(stress_load(&g.pushed) == g.n, "owner pushed %" PRIu64,
		     stress_load(&g.pushed));

	printf("%s: %" PRIu64 " items in %.2f s, %" PRIu64
	       " rounds; owner popped %" PRIu64 ", peak owner size %" PRIu64
	       "\n",
	       stress_name, g.n, secs, stress_load(&g.r.rounds),
	       stress_load(&g.popped), g.max_size);
	for (unsigned i = 0; i < NTHIEVES; i++) {
		struct thief *t = &g.thieves[i];
		printf("  %s: took %" PRIu64 " in %" PRIu64 " steals (%" PRIu64
		       " from thief2), %" PRIu64
		       " empty, largest batch moved %" PRIu64 "\n",
		       t->name, stress_load(&t->taken), stress_load(&t->steals),
		       stress_load(&t->stolen_from_peer),
		       stress_load(&t->empty_steals), t->max_moved);
	}
	fflush(stdout);
	/* At CI sizes the run must have exercised what it claims to (tiny
	 * sizes, for a quick try, may legitimately not). */
	STRESS_CHECK(g.max_size > 4,
		     "the owner's deque never grew past its initial ring");
	/* Thieves stole, and every thief tried (on two cores one thief can
	 * lose every race of a short run: which one wins is the
	 * scheduler's business, not the deque's). */
	uint64_t steals = 0;
	for (unsigned i = 0; i < NTHIEVES; i++) {
		uint64_t won = stress_load(&g.thieves[i].steals);
		uint64_t lost = stress_load(&g.thieves[i].empty_steals);
		steals += won;
		STRESS_CHECK(g.n < SANITY_MIN_ITEMS || won + lost > 0,
			     "thief%u never tried to steal", i);
	}
	STRESS_CHECK(g.n < SANITY_MIN_ITEMS || steals > 0,
		     "no thief ever stole");

	for (unsigned i = 0; i < NTHIEVES; i++)
		trp__run_ring_destroy(&g.thieves[i].own);
	trp__run_ring_destroy(&g.owner_dq);
	stress_items_free(&g.items);
	printf("%s: OK\n", stress_name);
	return 0;
}
