/*
 * tests/sim/api.c - troupe/sim.h call by call: stepping, expect and its
 * message, prepone, failure injection (fail, drop, stop), virtual time and
 * waits, what simulation mode refuses, and bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/troupe.h"
#include "troupe/sim.h"

#define CHECK(e)                                                               \
	do {                                                                   \
		if (!(e)) {                                                    \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__,        \
				__LINE__, #e);                                 \
			abort();                                               \
		}                                                              \
	} while (0)

static uint32_t log_[64];
static uint32_t nlog;
static int inner_rc; /* what a sim call from a behaviour returned */

static void logger(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	if (nlog < 64)
		log_[nlog++] = msg->type;
	if (msg->type == 99)
		inner_rc = trp_sim_step(trp_sim_of(trp_actor_runtime(self)));
	if (msg->type >= 40 && msg->type < 50) /* asks */
		CHECK(trp_reply(msg, &msg->type, sizeof msg->type) == 0);
}

static int starts;

static void counting_start(trp_actor_t *self, void *state)
{
	(void)self;
	(void)state;
	starts++;
}

/* Takes every request and never answers (its stop answers TRP_EDEAD). */
static void holder(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	trp_request_t *r;
	CHECK(trp_request_take(msg, &r) == 0);
}

static void thread_fn(trp_actor_t *self, void *arg)
{
	(void)self;
	(void)arg;
}

static void make(trp_sim_policy_t pol, trp_runtime_t **rt, trp_sim_t **sim)
{
	trp_sim_config_t cfg = TRP_SIM_CONFIG_INIT;
	cfg.policy = pol;
	CHECK(trp_sim_create(&cfg, rt, sim) == 0);
	CHECK(trp_sim_of(*rt) == *sim);
	nlog = 0;
}

static void finish(trp_runtime_t *rt)
{
	trp_stats_t st;
	CHECK(trp_runtime_destroy_ex(rt, &st) == 0);
	CHECK(st.sent == st.processed + st.dead_lettered);
}

static void bad_input(void)
{
	trp_runtime_t *rt;
	trp_sim_t *sim;
	trp_sim_config_t cfg = TRP_SIM_CONFIG_INIT;
	CHECK(trp_sim_create(NULL, &rt, &sim) == TRP_EINVAL);
	CHECK(trp_sim_create(&cfg, NULL, &sim) == TRP_EINVAL);
	cfg.version = 99;
	CHECK(trp_sim_create(&cfg, &rt, &sim) == TRP_EVERSION);
	cfg.version = TRP_SIM_CONFIG_VERSION;
	cfg.policy = (trp_sim_policy_t)7;
	CHECK(trp_sim_create(&cfg, &rt, &sim) == TRP_EINVAL);
	cfg.policy = TRP_SIM_PCT;
	cfg.pct_depth = 17;
	CHECK(trp_sim_create(&cfg, &rt, &sim) == TRP_EINVAL);
	CHECK(trp_sim_step(NULL) == TRP_EINVAL);
	CHECK(trp_sim_advance(NULL, 1) == TRP_EINVAL);
	CHECK(trp_sim_of(NULL) == NULL);
	/* a real runtime has no simulator */
	trp_config_t rc = TRP_CONFIG_INIT;
	rc.workers = 1;
	CHECK(trp_runtime_create(&rc, &rt) == 0);
	CHECK(trp_sim_of(rt) == NULL);
	CHECK(trp_runtime_destroy(rt) == 0);

	make(TRP_SIM_FIFO, &rt, &sim);
	CHECK(trp_sim_advance(sim, -1) == TRP_EINVAL);
	CHECK(trp_sim_expect(sim, NULL, NULL, 1) == TRP_EINVAL);
	CHECK(trp_sim_fail_next(sim, NULL, 1) == TRP_EINVAL);
	CHECK(trp_sim_drop_next(sim, NULL, NULL) == TRP_EINVAL);
	/* refused: threads of their own */
	trp_actor_t *t = NULL;
	CHECK(trp_thread_actor_spawn(rt, thread_fn, NULL, &t) == TRP_ENOTSUP);
	trp_pool_t *pool = NULL;
	CHECK(trp_pool_create(rt, 2, &pool) == TRP_ENOTSUP);
	CHECK(strstr(trp_strerror(TRP_ENOTSUP), "simulation") != NULL);
	CHECK(trp_sim_step(sim) == 0); /* idle */
	finish(rt);
}

static void expect_and_prepone(void)
{
	trp_runtime_t *rt;
	trp_sim_t *sim;
	make(TRP_SIM_FIFO, &rt, &sim);
	trp_actor_def_t def = { logger, NULL, NULL, 0, 0 };
	trp_actor_t *a;
	CHECK(trp_actor_spawn(rt, &def, NULL, &a) == 0);
	for (uint32_t t = 1; t <= 4; t++)
		CHECK(trp_send(a, t, NULL, 0) == 0);
	CHECK(trp_sim_pending(sim, a) == 4 && trp_sim_pending(sim, NULL) == 4);
	CHECK(trp_sim_expect(sim, a, TRP_SIM_OUTSIDE, 1) == 0);
	/* a mismatch delivers nothing and says what it found */
	CHECK(trp_sim_expect(sim, a, NULL, 3) == TRP_EINVAL);
	CHECK(strstr(trp_sim_error(sim), "is type 2 from #0") != NULL);
	CHECK(trp_sim_pending(sim, a) == 3);
	/* a deliberate reorder: 4 before 2 and 3 */
	CHECK(trp_sim_prepone(sim, a, NULL, 4) == 0);
	CHECK(trp_sim_prepone(sim, a, NULL, 9) == TRP_ENOENT);
	CHECK(trp_sim_step(sim) == 1);
	CHECK(trp_sim_run(sim, 1, NULL) == TRP_EBUSY);
	uint64_t n;
	CHECK(trp_sim_run(sim, 0, &n) == 0 && n == 1);
	CHECK(nlog == 4 && log_[0] == 1 && log_[1] == 4 && log_[2] == 2 &&
	      log_[3] == 3);
	CHECK(trp_sim_expect(sim, a, NULL, 1) == TRP_ENOENT);
	CHECK(trp_sim_steps(sim) == 4 && trp_sim_signature(sim) != 0);
	CHECK(trp_sim_actor_id(sim, a) == 2);
	CHECK(trp_sim_actor_id(sim, TRP_SIM_OUTSIDE) == 0);
	/* a behaviour may not drive the simulation */
	CHECK(trp_send(a, 99, NULL, 0) == 0);
	CHECK(trp_sim_step(sim) == 1 && inner_rc == TRP_EDEADLK);
	/* pending messages at destroy are dead letters */
	CHECK(trp_send(a, 5, NULL, 0) == 0);
	trp_actor_release(a);
	trp_stats_t st;
	CHECK(trp_runtime_destroy_ex(rt, &st) == 0);
	CHECK(st.dead_by_reason[TRP_DEAD_SHUTDOWN] == 1);
	CHECK(st.sent == st.processed + st.dead_lettered);
}

static void injection(void)
{
	trp_runtime_t *rt;
	trp_sim_t *sim;
	make(TRP_SIM_RANDOM, &rt, &sim);
	trp_actor_def_t def = { logger, NULL, NULL, 0, 0 };
	trp_actor_t *a, *b;
	CHECK(trp_actor_spawn(rt, &def, NULL, &a) == 0);
	CHECK(trp_actor_spawn(rt, &def, NULL, &b) == 0);
	/* drop: the next from outside to a is a dead letter */
	CHECK(trp_sim_drop_next(sim, TRP_SIM_OUTSIDE, a) == 0);
	CHECK(trp_send(a, 1, NULL, 0) == 0);
	CHECK(trp_send(a, 2, NULL, 0) == 0);
	CHECK(trp_sim_run(sim, 0, NULL) == 0);
	CHECK(nlog == 1 && log_[0] == 2);
	trp_stats_t st;
	CHECK(trp_runtime_stats(rt, &st) == 0);
	CHECK(st.dead_by_reason[TRP_DEAD_DROPPED] == 1);
	/* fail: the next message makes a fail with the code */
	CHECK(trp_sim_fail_next(sim, a, 77) == 0);
	CHECK(trp_send(a, 3, NULL, 0) == 0);
	CHECK(trp_send(a, 4, NULL, 0) == 0);
	CHECK(trp_sim_run(sim, 0, NULL) == 0);
	CHECK(!trp_actor_alive(a) && trp_actor_exit_code(a) == 77);
	CHECK(nlog == 1); /* neither reached the behaviour */
	CHECK(trp_runtime_stats(rt, &st) == 0);
	CHECK(st.dead_by_reason[TRP_DEAD_FAILED] == 1);
	CHECK(st.dead_by_reason[TRP_DEAD_STOPPED] == 1);
	/* stop: now, pending ones become dead letters */
	CHECK(trp_send(b, 5, NULL, 0) == 0);
	CHECK(trp_sim_stop(sim, b) == 0);
	CHECK(!trp_actor_alive(b));
	CHECK(trp_sim_stop(sim, b) == TRP_EDEAD);
	CHECK(trp_sim_run(sim, 0, NULL) == 0);
	CHECK(nlog == 1);
	CHECK(trp_runtime_stats(rt, &st) == 0);
	CHECK(st.sent == st.processed + st.dead_lettered);
	/* stop before the start hook ever ran: it never runs */
	trp_actor_def_t sdef = { logger, counting_start, NULL, 0, 0 };
	trp_actor_t *c;
	starts = 0;
	CHECK(trp_actor_spawn(rt, &sdef, NULL, &c) == 0);
	CHECK(trp_sim_stop(sim, c) == 0);
	CHECK(trp_sim_run(sim, 0, NULL) == 0);
	CHECK(!trp_actor_alive(c) && starts == 0);
	trp_actor_release(c);
	/* a message before the start item: the hook runs first anyway */
	CHECK(trp_actor_spawn(rt, &sdef, NULL, &c) == 0);
	CHECK(trp_send(c, 6, NULL, 0) == 0);
	CHECK(trp_sim_expect(sim, c, NULL, 6) == 0);
	CHECK(starts == 1 && log_[nlog - 1] == 6);
	CHECK(trp_sim_run(sim, 0, NULL) == 0 && starts == 1);
	trp_actor_release(c);
	trp_actor_release(a);
	trp_actor_release(b);
	finish(rt);
}

static void time_and_waits(void)
{
	trp_runtime_t *rt;
	trp_sim_t *sim;
	make(TRP_SIM_PCT, &rt, &sim);
	trp_actor_def_t def = { logger, NULL, NULL, 0, 0 };
	trp_actor_t *a;
	CHECK(trp_actor_spawn(rt, &def, NULL, &a) == 0);
	/* timers: deadline order, ties in arm order, virtual clock only */
	trp_timer_t *periodic;
	CHECK(trp_send_after(rt, a, 3000, 0, 3, NULL, 0, NULL) == 0);
	CHECK(trp_send_after(rt, a, 1000, 0, 1, NULL, 0, NULL) == 0);
	CHECK(trp_send_after(rt, a, 1000, 0, 2, NULL, 0, NULL) == 0);
	CHECK(trp_send_after(rt, a, 500, 1000, 7, NULL, 0, &periodic) == 0);
	CHECK(trp_sim_advance(sim, 999) == 1); /* the periodic at 500 */
	CHECK(trp_sim_now(sim) == 999);
	CHECK(trp_sim_expect(sim, a, NULL, 7) == 0);
	CHECK(trp_sim_advance(sim, 10000) == 3 + 10);
	CHECK(trp_sim_now(sim) == 10999);
	CHECK(trp_timer_cancel(periodic) == 0);
	trp_timer_release(periodic);
	/* one sender (the timers): FIFO among them whatever the policy */
	CHECK(trp_sim_expect(sim, a, NULL, 1) == 0); /* 1000 */
	CHECK(trp_sim_expect(sim, a, NULL, 2) == 0); /* 1000, armed later */
	CHECK(trp_sim_expect(sim, a, NULL, 7) == 0); /* 1500 */
	CHECK(trp_sim_expect(sim, a, NULL, 7) == 0); /* 2500 */
	CHECK(trp_sim_expect(sim, a, NULL, 3) == 0); /* 3000 */
	CHECK(trp_runtime_wait_idle(rt, -1) == 0);
	CHECK(trp_sim_pending(sim, NULL) == 0);
	/* an ask is answered by the simulation the wait runs */
	trp_future_t *f;
	uint32_t v = 0;
	CHECK(trp_ask(a, 40, &v, sizeof v, &f) == 0);
	const trp_msg_t *rep;
	CHECK(trp_future_wait(f, -1, &rep) == 0);
	CHECK(*(const uint32_t *)rep->data == 40);
	trp_future_release(f);
	/* an ask nobody answers: the wait runs virtual time to the timers
	 * due within its timeout, then gives TRP_ETIMEDOUT */
	trp_actor_def_t hdef = { holder, NULL, NULL, 0, 0 };
	trp_actor_t *h;
	CHECK(trp_actor_spawn(rt, &hdef, NULL, &h) == 0);
	CHECK(trp_send_after(rt, a, 5000, 0, 8, NULL, 0, NULL) == 0);
	uint64_t t0 = trp_sim_now(sim);
	CHECK(trp_ask(h, 41, &v, sizeof v, &f) == 0);
	CHECK(trp_future_wait(f, 2000, NULL) == TRP_ETIMEDOUT);
	CHECK(trp_sim_now(sim) == t0); /* the timer is beyond the timeout */
	trp_future_release(f);
	CHECK(trp_ask(h, 42, &v, sizeof v, &f) == 0);
	CHECK(trp_future_wait(f, 10000, NULL) == TRP_ETIMEDOUT);
	CHECK(trp_sim_now(sim) == t0 + 5000 && log_[nlog - 1] == 8);
	trp_future_release(f);
	trp_actor_release(h);
	trp_actor_release(a);
	finish(rt);
}

int main(void)
{
	bad_input();
	expect_and_prepone();
	injection();
	time_and_waits();
	printf("sim.api: ok\n");
	return 0;
}
