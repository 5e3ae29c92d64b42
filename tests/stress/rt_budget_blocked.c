/*
 * tests/stress/rt_budget_blocked.c - the wake budget (core/park.h,
 * "Budget") must not strand an outside publisher's subscribers behind a
 * behaviour that blocks.
 *
 * Shape: 2 workers; the main thread publishes in a tight loop to SUBS
 * subscriber actors, so it counts as a CPU in use and, on a 2-CPU
 * machine, no bell wakes a second worker while one is awake. Then a
 * blocker actor's behaviour blocks its worker until the subscribers have
 * taken PROGRESS more messages: only the other worker can deliver them,
 * and it is parked, held back by the budget while the blocked worker
 * "is awake". Something must end the hold: the parked watchdog seeing
 * the awake worker's turns stop (park.c, held_back), or the publisher
 * finding its receivers behind (send.c, trp__outside_run_end), which
 * also stops stamping. A stranded run blocks until BLOCK_LIMIT_S (a
 * liveness bound, not a timing measurement) and fails; the longest wait
 * is printed. Either path alone keeps it live (checked by disabling
 * held_back, then also the ring of a publish that is behind: longest
 * waits ~11 ms and ~50 ms, against ~7-13 ms with both). With CPUs to
 * spare the budget never applies and the test passes trivially.
 * Also checked: every publish reached every subscriber; the runtime's
 * sent == processed + dead-lettered identity.
 */
#include "rt_util.h"

#include <stdbool.h>

#define SUBS 8
#define PROGRESS 2000u
#define BLOCK_LIMIT_S 5.0

static _Atomic(uint64_t) taken;	      /* subscriber messages processed */
static atomic_int runs;		      /* the blocker's behaviour returned */
static atomic_int stranded;	      /* it gave up */
static _Atomic(uint64_t) max_wait_ns; /* longest wait for PROGRESS */

static void sub_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	atomic_fetch_add(&taken, 1);
}

static void blocker_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	uint64_t from = atomic_load(&taken);
	uint64_t t0 = stress_now_ns();
	while (atomic_load(&taken) - from < PROGRESS) {
		if (stress_seconds_since(t0) > BLOCK_LIMIT_S) {
			atomic_store(&stranded, 1);
			break;
		}
		stress_cpu_relax();
	}
	uint64_t waited = stress_now_ns() - t0;
	if (waited > atomic_load(&max_wait_ns))
		atomic_store(&max_wait_ns, waited);
	atomic_fetch_add(&runs, 1);
}

int main(void)
{
	int rounds = (int)(20 * stress_scale());
	if (rounds < 3)
		rounds = 3;
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	trp_runtime_t *rt;
	trp_exchange_t *ex;
	trp_actor_t *blocker;
	trp_actor_def_t ds = { .behavior = sub_behavior };
	trp_actor_def_t db = { .behavior = blocker_behavior };
	if (trp_runtime_create(&cfg, &rt) != 0 ||
	    trp_exchange_get(rt, "budget", &ex) != 0 ||
	    trp_actor_spawn(rt, &db, NULL, &blocker) != 0) {
		fprintf(stderr, "FAIL setup\n");
		return 1;
	}
	for (int i = 0; i < SUBS; i++) {
		trp_actor_t *a;
		if (trp_actor_spawn(rt, &ds, NULL, &a) != 0 ||
		    trp_exchange_attach(ex, trp_sink_actor(a), NULL) != 0) {
			fprintf(stderr, "FAIL subscriber %d\n", i);
			return 1;
		}
		trp_actor_release(a);
	}
	uint64_t published = 0;
	for (int r = 0; r < rounds && !atomic_load(&stranded); r++) {
		/* publish in a loop for a while, block a worker in the middle
		 * of it, and go on publishing until the blocker returns */
		uint64_t n = 0;
		bool sent = false;
		for (;;) {
			if (trp_exchange_publish(ex, 1, &n, sizeof n) != 0) {
				fprintf(stderr, "FAIL publish\n");
				return 1;
			}
			n++;
			if (n == 2000 && !sent) {
				if (trp_send(blocker, 1, NULL, 0) != 0) {
					fprintf(stderr, "FAIL send\n");
					return 1;
				}
				sent = true;
			}
			if (sent && atomic_load(&runs) == r + 1)
				break;
		}
		published += n;
		if (trp_runtime_wait_idle(rt, -1) != 0) {
			fprintf(stderr, "FAIL wait_idle\n");
			return 1;
		}
		STRESS_CHECK(atomic_load(&taken) == published * SUBS,
			     "round %d: subscribers took %" PRIu64
			     " of %" PRIu64,
			     r, atomic_load(&taken), published * SUBS);
	}
	trp_actor_release(blocker);
	trp_exchange_release(ex);
	(void)rt_destroy_balanced(rt, "rt_budget_blocked");
	if (atomic_load(&stranded)) {
		fprintf(stderr,
			"FAIL rt_budget_blocked: the subscribers took fewer "
			"than %u messages in %.0f s while a worker was "
			"blocked\n",
			PROGRESS, BLOCK_LIMIT_S);
		return 1;
	}
	printf("rt_budget_blocked: ok (%d rounds, %" PRIu64
	       " publishes, longest wait for %u deliveries %.2f ms)\n",
	       rounds, published, PROGRESS,
	       (double)atomic_load(&max_wait_ns) / 1e6);
	return 0;
}
