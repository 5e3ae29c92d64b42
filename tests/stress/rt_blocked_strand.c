/*
 * tests/stress/rt_blocked_strand.c - T9 (second half): a behaviour that
 * blocks must not strand an actor queued behind it on its worker.
 *
 * Shape: both workers are parked (the runtime is idle, so the last one to
 * park sleeps without a timeout). An outside send wakes one worker, which
 * runs A; A's behaviour sends to the idle actor B (B lands on that worker's
 * own run queue, alone, so nobody is woken for it) and then blocks until B
 * has run. Only the other worker can run B: the worker that woke up to run
 * A must have kicked the deep sleeper into a timed park, and that worker
 * must take the lone actor from the stuck victim.
 *
 * A stranded B would block A forever; A gives up after STRAND_LIMIT_S (a
 * liveness bound, not a timing measurement) and the test fails.
 */
#include "stress_util.h"

#include <troupe/troupe.h>

#include "../common/balance.h"

#define STRAND_LIMIT_S 5.0

static trp_actor_t *b;
static atomic_int b_ran;
static atomic_int stranded;

static void b_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	atomic_store(&b_ran, 1);
}

static void a_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	atomic_store(&b_ran, 0);
	int rc = trp_send(b, 1, NULL, 0);
	if (rc != 0) {
		fprintf(stderr, "FAIL send to B: %s\n", trp_strerror(rc));
		atomic_store(&stranded, 1);
		return;
	}
	uint64_t t0 = stress_now_ns();
	while (!atomic_load(&b_ran)) {
		if (stress_seconds_since(t0) > STRAND_LIMIT_S) {
			atomic_store(&stranded, 1);
			return;
		}
		stress_cpu_relax();
	}
}

int main(void)
{
	int rounds = (int)(20 * stress_scale());
	if (rounds < 3)
		rounds = 3;
	for (int spins = 0; spins < 2; spins++) {
		trp_config_t cfg = TRP_CONFIG_INIT;
		cfg.workers = 2;
		cfg.idle_spins = spins ? TRP_DEFAULT_IDLE_SPINS : 0;
		trp_runtime_t *rt;
		trp_actor_t *a;
		trp_actor_def_t da = { .behavior = a_behavior };
		trp_actor_def_t db = { .behavior = b_behavior };
		if (trp_runtime_create(&cfg, &rt) != 0 ||
		    trp_actor_spawn(rt, &da, NULL, &a) != 0 ||
		    trp_actor_spawn(rt, &db, NULL, &b) != 0) {
			fprintf(stderr, "FAIL setup\n");
			return 1;
		}
		for (int i = 0; i < rounds && !atomic_load(&stranded); i++) {
			/* let both workers park, the last one for good */
			stress_sleep_ms(30);
			if (trp_send(a, 1, NULL, 0) != 0 ||
			    trp_runtime_wait_idle(rt, -1) != 0) {
				fprintf(stderr, "FAIL round %d\n", i);
				return 1;
			}
		}
		trp_actor_release(a);
		trp_actor_release(b);
		trp_stats_t s;
		char why[256] = "trp_runtime_wait_idle or _stats failed";
		if (trp_runtime_wait_idle(rt, -1) != 0 ||
		    trp_runtime_stats(rt, &s) != 0 ||
		    !balance_holds(&s, why, sizeof why)) {
			fprintf(stderr, "FAIL at quiescence: %s\n", why);
			return 1;
		}
		if (trp_runtime_destroy(rt) != 0) {
			fprintf(stderr, "FAIL destroy\n");
			return 1;
		}
		if (atomic_load(&stranded)) {
			fprintf(stderr,
				"FAIL idle_spins=%u: B stayed queued behind a "
				"blocked behaviour for %.0f s\n",
				cfg.idle_spins, STRAND_LIMIT_S);
			return 1;
		}
	}
	printf("rt_blocked_strand: ok (%d rounds x 2 configurations)\n",
	       rounds);
	return 0;
}
