/*
 * examples/sim_test.c - testing your own actors with the deterministic
 * simulator (troupe/sim.h), the way a user's test would.
 *
 * The actor under test: a debouncer. It collects KEY messages and, 10 ms
 * (of virtual time) after the first one of a burst, sends the number
 * collected to its sink as one FLUSH. The test checks, for many seeds of
 * a randomized schedule, that the sink sees every key exactly once, and
 * it steps one case by hand with expect. On a failure it prints the seed;
 * TRP_SIM_SEED=<seed> ./example_sim_test replays exactly that run.
 */
#include <stdio.h>
#include <stdlib.h>

#include "troupe/troupe.h"
#include "troupe/sim.h"

enum {
	KEY = 1,
	TICK = 2,
	FLUSH = 3
};

struct debouncer {
	trp_actor_t *sink;
	uint32_t pending;
};

static void debouncer(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct debouncer *d = state;
	if (msg->type == KEY) {
		if (d->pending++ == 0) /* first of a burst: flush in 10 ms */
			(void)trp_send_after(trp_actor_runtime(self), self,
					     10000000, 0, TICK, NULL, 0, NULL);
	} else if (msg->type == TICK) {
		(void)trp_send(d->sink, FLUSH, &d->pending, sizeof d->pending);
		d->pending = 0;
	}
}

static void sink(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	*(uint32_t *)state += *(const uint32_t *)msg->data; /* keys seen */
}

#define FAIL_IF(cond, sim)                                                     \
	do {                                                                   \
		if (cond) {                                                    \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,     \
				#cond);                                        \
			trp_sim_report(sim, stderr); /* seed to replay */      \
			exit(1);                                               \
		}                                                              \
	} while (0)

/* A test's world: a simulated runtime, the debouncer and its sink. */
struct world {
	trp_runtime_t *rt;
	trp_sim_t *sim;
	trp_actor_t *sink, *debouncer;
	uint32_t seen; /* the sink's state: keys flushed to it */
};

static void world_begin(struct world *w, trp_sim_policy_t policy, uint64_t seed)
{
	trp_sim_config_t cfg = TRP_SIM_CONFIG_INIT;
	cfg.policy = policy;
	cfg.seed = seed;
	if (trp_sim_create(&cfg, &w->rt, &w->sim) != 0)
		exit(1);
	w->seen = 0;
	trp_actor_def_t sdef = { sink, NULL, NULL, 0, 0 };
	FAIL_IF(trp_actor_spawn(w->rt, &sdef, &w->seen, &w->sink) != 0, w->sim);
	struct debouncer init = { w->sink, 0 };
	trp_actor_def_t ddef = { debouncer, NULL, NULL, sizeof init, 0 };
	FAIL_IF(trp_actor_spawn(w->rt, &ddef, &init, &w->debouncer) != 0,
		w->sim);
}

static void world_end(struct world *w)
{
	trp_actor_release(w->sink);
	trp_actor_release(w->debouncer);
	trp_runtime_destroy(w->rt);
}

/* One randomized run: keys typed in bursts while virtual time passes
 * (the gaps depend on the seed); every key must reach the sink. */
static void randomized(uint64_t seed)
{
	struct world w;
	world_begin(&w, TRP_SIM_RANDOM, seed);
	for (int k = 0; k < 5; k++) {
		FAIL_IF(trp_send(w.debouncer, KEY, NULL, 0) != 0, w.sim);
		FAIL_IF(trp_sim_run(w.sim, 1000, NULL) != 0, w.sim);
		(void)trp_sim_advance(w.sim, (int64_t)(seed % 4 + k) * 3000000);
	}
	(void)trp_sim_advance(w.sim, 20000000); /* the last burst's flush */
	FAIL_IF(trp_sim_run(w.sim, 1000, NULL) != 0, w.sim);
	FAIL_IF(w.seen != 5, w.sim);
	world_end(&w);
}

/* One case stepped by hand: nothing flushes before 10 ms. */
static void by_hand(void)
{
	struct world w;
	world_begin(&w, TRP_SIM_FIFO, 0);
	trp_sim_t *sim = w.sim;
	trp_actor_t *d = w.debouncer;
	FAIL_IF(trp_send(d, KEY, NULL, 0) != 0, sim);
	FAIL_IF(trp_send(d, KEY, NULL, 0) != 0, sim);
	FAIL_IF(trp_sim_expect(sim, d, TRP_SIM_OUTSIDE, KEY) != 0, sim);
	FAIL_IF(trp_sim_expect(sim, d, NULL, KEY) != 0, sim);
	FAIL_IF(trp_sim_pending(sim, NULL) != 0, sim);
	FAIL_IF(trp_sim_advance(sim, 9999999) != 0, sim); /* not yet */
	FAIL_IF(trp_sim_advance(sim, 1) != 1, sim);	  /* the tick */
	FAIL_IF(trp_sim_expect(sim, d, NULL, TICK) != 0, sim);
	FAIL_IF(trp_sim_expect(sim, w.sink, d, FLUSH) != 0, sim);
	FAIL_IF(w.seen != 2, sim);
	world_end(&w);
}

int main(void)
{
	int replay;
	uint64_t seed = trp_sim_seed_env(0, &replay);
	if (replay) {
		randomized(seed);
		printf("seed %llu (TRP_SIM_SEED): ok\n",
		       (unsigned long long)seed);
		return 0;
	}
	by_hand();
	printf("by hand: ok\n");
	for (seed = 0; seed < 200; seed++)
		randomized(seed);
	printf("200 seeds: ok\n");
	return 0;
}
