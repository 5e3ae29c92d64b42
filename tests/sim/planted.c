/*
 * tests/sim/planted.c - a planted ordering bug that the simulator's
 * RANDOM and PCT policies find and FIFO does not.
 *
 * The user code: a cache asks a backend for a value on its first GET and
 * assumes the backend's FILL arrives before any later GET. The client
 * sends its second GET only after a round trip through a relay, so in
 * global send order (FIFO, and most real runs) the FILL comes first; but
 * nothing orders the backend's FILL before the client's second GET (two
 * senders), and the real runtime may deliver them either way.
 *
 * Asserted: FIFO never sees the bug (200 seeds); RANDOM and PCT each find
 * it within 50 seeds, and the finding replays from its seed. Measured
 * (printed): both find it at seed 0; of 200 seeds RANDOM finds it in 96,
 * PCT (d = 2) in 67, FIFO in 0.
 */
#include <stdio.h>
#include <stdlib.h>

#include "troupe/troupe.h"
#include "troupe/sim.h"

enum {
	T_GET = 1,
	T_FETCH,
	T_FILL,
	T_PING,
	T_PONG
};

struct world {
	trp_actor_t *cache, *backend, *relay, *client;
	int bug; /* the cache served a GET with no value */
};

static struct world *W;
static int report = 1; /* print the finding's replay line */

static void cache_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	(void)self;
	int *st = state; /* 0 empty, 1 fetching, 2 filled */
	if (m->type == T_FILL) {
		*st = 2;
	} else if (m->type == T_GET) {
		if (*st == 0) {
			*st = 1;
			(void)trp_send(W->backend, T_FETCH, NULL, 0);
		} else if (*st == 1) {
			W->bug = 1; /* "the fill must be here by now" */
		}
	}
}

static void backend_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	(void)self;
	(void)state;
	(void)m;
	(void)trp_send(W->cache, T_FILL, NULL, 0);
}

static void relay_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	(void)self;
	(void)state;
	(void)m;
	(void)trp_send(W->client, T_PONG, NULL, 0);
}

static void client_start(trp_actor_t *self, void *state)
{
	(void)self;
	(void)state;
	(void)trp_send(W->cache, T_GET, NULL, 0);
	(void)trp_send(W->relay, T_PING, NULL, 0);
}

static void client_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	(void)self;
	(void)state;
	(void)m; /* the PONG: time for the second GET */
	(void)trp_send(W->cache, T_GET, NULL, 0);
}

/* One run; whether the bug showed. */
static int run(trp_sim_policy_t pol, uint64_t seed, uint64_t *sig)
{
	trp_sim_config_t cfg = TRP_SIM_CONFIG_INIT;
	cfg.policy = pol;
	cfg.seed = seed;
	cfg.pct_steps = 8;
	cfg.pct_depth = 2;
	trp_runtime_t *rt;
	trp_sim_t *sim;
	if (trp_sim_create(&cfg, &rt, &sim) != 0)
		abort();
	struct world w = { 0 };
	W = &w;
	trp_actor_def_t cache = { cache_behavior, NULL, NULL, sizeof(int), 0 };
	trp_actor_def_t backend = { backend_behavior, NULL, NULL, 0, 0 };
	trp_actor_def_t relay = { relay_behavior, NULL, NULL, 0, 0 };
	trp_actor_def_t client = { client_behavior, client_start, NULL, 0, 0 };
	if (trp_actor_spawn(rt, &cache, NULL, &w.cache) != 0 ||
	    trp_actor_spawn(rt, &backend, NULL, &w.backend) != 0 ||
	    trp_actor_spawn(rt, &relay, NULL, &w.relay) != 0 ||
	    trp_actor_spawn(rt, &client, NULL, &w.client) != 0)
		abort();
	if (trp_sim_run(sim, 1000, NULL) != 0)
		abort();
	*sig = trp_sim_signature(sim);
	if (w.bug && report)
		trp_sim_report(sim, stdout);
	trp_actor_release(w.cache);
	trp_actor_release(w.backend);
	trp_actor_release(w.relay);
	trp_actor_release(w.client);
	trp_stats_t st;
	if (trp_runtime_destroy_ex(rt, &st) != 0 ||
	    st.sent != st.processed + st.dead_lettered)
		abort();
	return w.bug;
}

/* The first seed < @limit under which @pol finds the bug, or -1. */
static int64_t first_finding(trp_sim_policy_t pol, uint64_t limit)
{
	for (uint64_t seed = 0; seed < limit; seed++) {
		uint64_t sig, again;
		if (run(pol, seed, &sig)) {
			/* the finding replays from its seed */
			if (!run(pol, seed, &again) || again != sig)
				abort();
			return (int64_t)seed;
		}
	}
	return -1;
}

/* How many of @n seeds find it (quietly). */
static int rate(trp_sim_policy_t pol, uint64_t n)
{
	int found = 0;
	for (uint64_t seed = 0; seed < n; seed++) {
		uint64_t sig;
		found += run(pol, seed, &sig);
	}
	return found;
}

int main(void)
{
	int64_t fifo = first_finding(TRP_SIM_FIFO, 200);
	int64_t rnd = first_finding(TRP_SIM_RANDOM, 50);
	int64_t pct = first_finding(TRP_SIM_PCT, 50);
	printf("planted bug: FIFO %lld, RANDOM seed %lld, PCT seed %lld "
	       "(-1: not found)\n",
	       (long long)fifo, (long long)rnd, (long long)pct);
	report = 0;
	printf("seeds finding it, of 200: FIFO %d, RANDOM %d, PCT %d\n",
	       rate(TRP_SIM_FIFO, 200), rate(TRP_SIM_RANDOM, 200),
	       rate(TRP_SIM_PCT, 200));
	if (fifo != -1 || rnd < 0 || pct < 0) {
		fprintf(stderr, "planted: expected FIFO to miss and RANDOM and "
				"PCT to find the bug\n");
		return 1;
	}
	return 0;
}
