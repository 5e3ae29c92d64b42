/*
 * tests/stress/chase_lev_steal.c - one owner pushes and pops its trp__chase_lev
 * (newest first) while three thieves steal from it (oldest first, one per
 * claim); every item must be taken exactly once.
 *
 * Items point to payload[seq], a plain word the owner writes just before
 * pushing and the taker reads and poisons, so ThreadSanitizer checks that
 * the queue publishes what an item points to (slot store, release bottom /
 * seq_cst bottom load, ring growth). Checks on every observation:
 * - every item is taken exactly once (a counter per item, scanned at the
 *   end; the count must be N);
 * - the owner keeps a mirror stack of what it pushed and did not pop: a
 *   pop that returns an item returns exactly the mirror's top (thieves
 *   only take the oldest, so the newest is stolen only when everything
 *   is, and then the pop returns NULL and the mirror is emptied);
 * - claims at top are totally ordered and items there only get newer, so
 *   each thief's steals return strictly increasing seqs.
 * The owner pops down to empty now and then, racing the thieves for the
 * last item (the one claim the owner makes with a CAS). Rounds of
 * 1000..31000 items each start from a fresh queue of 2 slots, so growth
 * happens all through the run while thieves read the old ring.
 *
 * Size: 10^7 items at TRP_STRESS_SCALE=1, 10^6 at 0.1.
 */
#include "stress_util.h"

#include <stdalign.h>

#include "chase_lev.h"
#include "run_ring.h"

#define N_BASE 10000000u
#define NTHIEVES 3u
#define HIGH_WATER (1u << 14)
#define LIMIT_S 600.0
#define SANITY_MIN_ITEMS 500000u

struct thief {
	/* written by this thief */
	alignas(64) _Atomic(uint64_t) taken;
	_Atomic(uint64_t) empty_steals;
	uint64_t rng;
	char name[16];
};

static struct {
	struct trp__chase_lev q;
	/* written by the owner */
	alignas(64) _Atomic(uint64_t) pushed;
	_Atomic(uint64_t) popped;
	_Atomic(uint64_t) lost_last; /* pops that lost the last item */
	uint64_t max_size;
	uint64_t *mirror; /* owner only */
	/* shared */
	alignas(64) struct stress_items items;
	struct stress_rounds r;
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

static void owner_pop(uint64_t *depth, uint64_t *rng)
{
	void *it = trp__chase_lev_pop_owner(&g.q);
	if (it == NULL) {
		if (*depth != 0)
			stress_progress(&g.lost_last, 1);
		*depth = 0; /* the thieves took the rest */
		return;
	}
	uint64_t seq = take(it, "owner");
	if (*depth == 0 || seq != g.mirror[*depth - 1])
		stress_fail("owner popped %" PRIu64 ", newest pushed and not "
			    "popped is %" PRIu64,
			    seq,
			    *depth == 0 ? UINT64_MAX : g.mirror[*depth - 1]);
	(*depth)--;
	stress_progress(&g.popped, 1);
	stress_work(rng);
}

static void owner_drain(uint64_t limit, uint64_t *depth, uint64_t *rng)
{
	while (*depth > limit)
		owner_pop(depth, rng);
}

/* A fresh queue for the next round (the owner, alone). */
static void renew_queue(void)
{
	trp__chase_lev_destroy(&g.q);
	if (trp__chase_lev_init(&g.q, 1) != 0)
		stress_fail("owner: trp__chase_lev_init failed");
}

static void *owner_main(void *arg)
{
	(void)arg;
	uint64_t rng = stress_rand_init(g.seed, 100);
	uint64_t depth = 0;
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
				int rc = trp__chase_lev_push_owner(
					&g.q, stress_item_make(&g.items, seq));
				if (rc != 0)
					stress_fail("owner: push(%" PRIu64
						    ") returned %d",
						    seq, rc);
				g.mirror[depth++] = seq++;
				stress_progress(&g.pushed, 1);
				if (seq % 3 == 0)
					owner_pop(&depth, &rng);
			}
			uint64_t size = trp__chase_lev_size(&g.q);
			if (size > g.max_size)
				g.max_size = size;
			if (depth > HIGH_WATER)
				owner_drain(HIGH_WATER / 2, &depth, &rng);
			else if (((r >> 20) & 63) == 0)
				owner_drain(0, &depth, &rng);
		}
		owner_drain(0, &depth, &rng);
		STRESS_CHECK(trp__chase_lev_pop_owner(&g.q) == NULL,
			     "owner: pop returned an item after the drain");
		stress_round_end_owner(&g.r, seq == g.n, renew_queue);
	}
	stress_watchdog_thread_exit(&g.wd);
	return NULL;
}

/* ------------------------------------------------------------ thieves -- */

static void *thief_main(void *arg)
{
	struct thief *t = arg;
	uint64_t last = 0;
	bool any = false;
	unsigned fails = 0;
	stress_watchdog_thread(&g.wd, t->name);
	stress_barrier_wait(&g.start);
	for (;;) {
		void *it = trp__chase_lev_steal(&g.q);
		if (it == NULL) {
			stress_progress(&t->empty_steals, 1);
			if (stress_round_done(&g.r) &&
			    trp__chase_lev_size(&g.q) == 0) {
				if (stress_round_end_thief(&g.r))
					break;
				any = false; /* a new queue */
				continue;
			}
			if (++fails % 16 == 0)
				sched_yield();
			else
				stress_cpu_relax();
			continue;
		}
		fails = 0;
		uint64_t x = take(it, t->name);
		stress_progress(&t->taken, 1);
		if (any && x <= last)
			stress_fail("%s: stole %" PRIu64 " after %" PRIu64
				    ": not the oldest",
				    t->name, x, last);
		last = x;
		any = true;
		stress_work(&t->rng);
	}
	stress_watchdog_thread_exit(&g.wd);
	return NULL;
}

/* --------------------------------------------------------------- main -- */

static void dump_state(void *arg)
{
	(void)arg;
	fprintf(stderr, "  queue size %" PRIu64 ", round_done %u\n",
		trp__chase_lev_size(&g.q),
		atomic_load_explicit(&g.r.round_done, memory_order_relaxed));
}

int main(void)
{
	g.seed = stress_init("stress.lifo_steal");
	g.n = stress_scaled(N_BASE, 10000);
	stress_items_init(&g.items, g.n);
	g.mirror = calloc(g.n, sizeof *g.mirror);
	if (g.mirror == NULL)
		stress_fail("out of memory");
	if (trp__chase_lev_init(&g.q, 1) != 0)
		stress_fail("trp__chase_lev_init failed");
	stress_barrier_init(&g.start, NTHIEVES + 2);
	stress_rounds_init(&g.r, NTHIEVES);
	stress_watchdog_init(&g.wd, LIMIT_S);
	g.wd.dump = dump_state;
	stress_watchdog_counter(&g.wd, "owner.pushed", &g.pushed);
	stress_watchdog_counter(&g.wd, "owner.popped", &g.popped);
	stress_watchdog_info(&g.wd, "owner.rounds", &g.r.rounds);
	static const char *const names[NTHIEVES][2] = {
		{ "thief0.taken", "thief0.empty_steals" },
		{ "thief1.taken", "thief1.empty_steals" },
		{ "thief2.taken", "thief2.empty_steals" }
	};
	for (unsigned i = 0; i < NTHIEVES; i++) {
		struct thief *t = &g.thieves[i];
		t->rng = stress_rand_init(g.seed, i + 1);
		snprintf(t->name, sizeof t->name, "thief%u", i);
		stress_watchdog_counter(&g.wd, names[i][0], &t->taken);
		stress_watchdog_info(&g.wd, names[i][1], &t->empty_steals);
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
	printf("%s: %" PRIu64 " items in %.2f s, %" PRIu64
	       " rounds; owner popped %" PRIu64 " (lost the last item %" PRIu64
	       " times), peak size %" PRIu64 "\n",
	       stress_name, g.n, secs, stress_load(&g.r.rounds),
	       stress_load(&g.popped), stress_load(&g.lost_last), g.max_size);
	for (unsigned i = 0; i < NTHIEVES; i++)
		printf("  %s: took %" PRIu64 ", %" PRIu64 " empty steals\n",
		       g.thieves[i].name, stress_load(&g.thieves[i].taken),
		       stress_load(&g.thieves[i].empty_steals));
	fflush(stdout);
	STRESS_CHECK(g.max_size > 2, "the queue never grew");
	/* Thieves stole, and every thief tried (on two cores one thief can
	 * lose every race of a short run: which one wins is the
	 * scheduler's business, not the deque's). */
	uint64_t stolen = 0;
	for (unsigned i = 0; i < NTHIEVES; i++) {
		uint64_t won = stress_load(&g.thieves[i].taken);
		uint64_t lost = stress_load(&g.thieves[i].empty_steals);
		stolen += won;
		STRESS_CHECK(g.n < SANITY_MIN_ITEMS || won + lost > 0,
			     "thief%u never tried to steal", i);
	}
	STRESS_CHECK(g.n < SANITY_MIN_ITEMS || stolen > 0,
		     "no thief ever stole");
	trp__chase_lev_destroy(&g.q);
	stress_items_free(&g.items);
	free(g.mirror);
	printf("%s: OK\n", stress_name);
	return 0;
}
