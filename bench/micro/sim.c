/*
 * bench/micro/sim.c - one simulation step (troupe/sim.h): the policy's
 * pick, the push into the receiver's mailbox, its turn on the message
 * (which forwards it), and the collect of what the turn sent. A ring of
 * RING actors with TOKENS messages circulating, so TOKENS channels are
 * pending at every step; sim_step/fifo and sim_step/random. Items = steps;
 * checked: every step processed one message (trp_runtime_stats).
 */
#include <stdlib.h>

#include <troupe/troupe.h>
#include <troupe/sim.h>

#include "micro.h"

#define RING 16
#define TOKENS 8
#define BATCH 64

static trp_actor_t *ring[RING]; /* one benchmark runs at a time */

static void pass_on(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	uint32_t next = (*(uint32_t *)state + 1) % RING;
	if (trp_send(ring[next], 1, msg->data, msg->size) != 0)
		abort();
}

static void bm_sim_step(cbench_state *st, void *arg)
{
	trp_sim_config_t cfg = TRP_SIM_CONFIG_INIT;
	cfg.policy = (trp_sim_policy_t)(uintptr_t)arg;
	cfg.seed = 42;
	trp_runtime_t *rt;
	trp_sim_t *sim;
	if (trp_sim_create(&cfg, &rt, &sim) != 0) {
		cbench_skip_with_error(st, "trp_sim_create failed");
		return;
	}
	trp_actor_def_t def = { pass_on, NULL, NULL, sizeof(uint32_t), 0 };
	for (uint32_t i = 0; i < RING; i++)
		if (trp_actor_spawn(rt, &def, &i, &ring[i]) != 0)
			abort();
	uint32_t token = 7;
	for (int t = 0; t < TOKENS; t++)
		if (trp_send(ring[(size_t)t * (RING / TOKENS)], 1, &token,
			     sizeof token) != 0)
			abort();
	uint64_t steps = 0;
	trp_stats_t before;
	(void)trp_runtime_stats(rt, &before);
	while (cbench_keep_running_batch(st, BATCH)) {
		for (int i = 0; i < BATCH; i++)
			steps += (uint64_t)trp_sim_step(sim);
	}
	trp_stats_t after;
	(void)trp_runtime_stats(rt, &after);
	if (after.processed - before.processed != steps ||
	    steps != (uint64_t)cbench_iterations(st))
		cbench_skip_with_error(st, "a step did not process a message");
	else
		cbench_set_items_processed(st, (int64_t)steps);
	for (int i = 0; i < RING; i++)
		trp_actor_release(ring[i]);
	trp_runtime_destroy(rt);
}

void micro_register_sim(void)
{
	cbench_register("sim_step/fifo", bm_sim_step,
			(void *)(uintptr_t)TRP_SIM_FIFO);
	cbench_register("sim_step/random", bm_sim_step,
			(void *)(uintptr_t)TRP_SIM_RANDOM);
}
