/*
 * tests/stress/rt_spin_wake.c - lost wake-ups with spinning (issue 14):
 * wakers skip the futex wake while a worker spins (park.h, "Spinners"),
 * and trp_future_wait polls before it registers as a waiter (future.c).
 *
 * Shape: CLIENTS outside threads, each with its own echo actor, ask
 * (seq) and wait for seq + 1; SENDERS outside threads send (sender, seq)
 * to one counter actor. Between calls each thread pauses a random while:
 * none, a busy wait of 0-80 us (in and out of the workers' 5-50 us spin
 * windows and the waiters' 2-20 us ones) or a sleep of 0-300 us (the
 * workers park). So sends land on spinning workers, on workers turning
 * from spinner into sleeper, and on parked ones, in every order.
 *
 * Checks: every reply is seq + 1 with status 0, and each wait ends within
 * WAIT_LIMIT_S (a lost wake-up would leave an ask unanswered: the worker
 * asleep with the request queued, or the asker asleep with the future
 * done); the counter sees every sender's seqs in order, nothing lost or
 * duplicated; at quiescence sent == processed, no dead letter; both with
 * 1 and 2 workers. Sizes: ROUNDS × TRP_STRESS_SCALE per thread.
 */
#include "rt_util.h"

#include <pthread.h>

#define CLIENTS 2u
#define SENDERS 2u
#define ROUNDS 20000u
#define WAIT_LIMIT_S 10.0

enum {
	MSG_REQ = 1,
	MSG_ITEM
};

struct item {
	uint32_t sender;
	uint64_t seq;
};

struct counter {
	uint64_t next[SENDERS];
	uint64_t bad;
};

static trp_actor_t *echo[CLIENTS];
static trp_actor_t *counter_actor;
static struct stress_barrier start;
static uint64_t rounds;

static void echo_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	uint64_t v;
	(void)self;
	(void)state;
	STRESS_CHECK(m->type == MSG_REQ && m->size == sizeof(v),
		     "echo: bad request");
	memcpy(&v, m->data, sizeof(v));
	v++;
	STRESS_CHECK(trp_reply(m, &v, sizeof(v)) == 0, "echo: reply failed");
}

static void counter_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	struct counter *c = state;
	struct item it;
	(void)self;
	STRESS_CHECK(m->type == MSG_ITEM && m->size == sizeof(it),
		     "counter: bad item");
	memcpy(&it, m->data, sizeof(it));
	STRESS_CHECK(it.sender < SENDERS && it.seq == c->next[it.sender],
		     "counter: sender %u sent seq %llu, expected %llu",
		     it.sender, (unsigned long long)it.seq,
		     (unsigned long long)c->next[it.sender]);
	c->next[it.sender]++;
}

static void pause_randomly(uint64_t *rng)
{
	switch (stress_rand_below(rng, 3)) {
	case 0:
		break;
	case 1: {
		uint64_t t0 = stress_now_ns(),
			 d = stress_rand_below(rng, 80000);
		while (stress_now_ns() - t0 < d)
			stress_cpu_relax();
		break;
	}
	default: {
		struct timespec ts = { 0,
				       (long)stress_rand_below(rng, 300000) };
		nanosleep(&ts, NULL);
	}
	}
}

static void *client_main(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t rng = stress_rand_init(14, id);
	stress_barrier_wait(&start);
	for (uint64_t i = 0; i < rounds; i++) {
		trp_future_t *f = NULL;
		const trp_msg_t *reply = NULL;
		uint64_t v = i;
		STRESS_CHECK(trp_ask(echo[id], MSG_REQ, &v, sizeof(v), &f) == 0,
			     "client %u: ask failed", id);
		int rc = trp_future_wait(f, (int64_t)(WAIT_LIMIT_S * 1e9),
					 &reply);
		STRESS_CHECK(rc == 0,
			     "client %u: ask %llu: %s (a lost wake-up?)", id,
			     (unsigned long long)i, trp_strerror(rc));
		STRESS_CHECK(reply != NULL && reply->size == sizeof(v),
			     "client %u: bad reply", id);
		memcpy(&v, reply->data, sizeof(v));
		STRESS_CHECK(v == i + 1, "client %u: reply %llu to %llu", id,
			     (unsigned long long)v, (unsigned long long)i);
		trp_future_release(f);
		pause_randomly(&rng);
	}
	return NULL;
}

static void *sender_main(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t rng = stress_rand_init(41, id);
	stress_barrier_wait(&start);
	for (uint64_t i = 0; i < rounds; i++) {
		struct item it = { id, i };
		STRESS_CHECK(trp_send(counter_actor, MSG_ITEM, &it,
				      sizeof(it)) == 0,
			     "sender %u: send failed", id);
		if (stress_rand_below(&rng, 4) == 0)
			pause_randomly(&rng);
	}
	return NULL;
}

static void run(uint32_t workers)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = workers;
	trp_runtime_t *rt;
	struct counter c;
	memset(&c, 0, sizeof(c));
	trp_actor_def_t de = { .behavior = echo_behavior };
	trp_actor_def_t dc = { .behavior = counter_behavior };
	STRESS_CHECK(trp_runtime_create(&cfg, &rt) == 0, "runtime_create");
	for (uint32_t i = 0; i < CLIENTS; i++)
		STRESS_CHECK(trp_actor_spawn(rt, &de, NULL, &echo[i]) == 0,
			     "spawn echo");
	STRESS_CHECK(trp_actor_spawn(rt, &dc, &c, &counter_actor) == 0,
		     "spawn counter");
	stress_barrier_init(&start, CLIENTS + SENDERS);
	pthread_t th[CLIENTS + SENDERS];
	for (uint32_t i = 0; i < CLIENTS; i++)
		STRESS_CHECK(pthread_create(&th[i], NULL, client_main,
					    (void *)(uintptr_t)i) == 0,
			     "pthread_create");
	for (uint32_t i = 0; i < SENDERS; i++)
		STRESS_CHECK(pthread_create(&th[CLIENTS + i], NULL, sender_main,
					    (void *)(uintptr_t)i) == 0,
			     "pthread_create");
	for (uint32_t i = 0; i < CLIENTS + SENDERS; i++)
		pthread_join(th[i], NULL);
	STRESS_CHECK(trp_runtime_wait_idle(rt, -1) == 0, "wait_idle");
	for (uint32_t i = 0; i < SENDERS; i++)
		STRESS_CHECK(c.next[i] == rounds,
			     "sender %u: counter saw %llu of %llu", i,
			     (unsigned long long)c.next[i],
			     (unsigned long long)rounds);
	trp_stats_t s;
	char why[256] = "trp_runtime_stats failed";
	STRESS_CHECK(trp_runtime_stats(rt, &s) == 0 &&
			     balance_holds(&s, why, sizeof why),
		     "at quiescence: %s", why);
	STRESS_CHECK(s.dead_lettered == 0, "dead letters: %llu",
		     (unsigned long long)s.dead_lettered);
	for (uint32_t i = 0; i < CLIENTS; i++)
		trp_actor_release(echo[i]);
	trp_actor_release(counter_actor);
	STRESS_CHECK(trp_runtime_destroy(rt) == 0, "destroy");
}

int main(void)
{
	stress_init("rt_spin_wake");
	rounds = stress_scaled(ROUNDS, 500);
	run(2);
	run(1);
	printf("rt_spin_wake: ok (%llu rounds x %u clients + %u senders, "
	       "2 and 1 workers)\n",
	       (unsigned long long)rounds, CLIENTS, SENDERS);
	return 0;
}
