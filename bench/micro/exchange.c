/*
 * bench/micro/exchange.c - trp_exchange_publish() with 1, 10 and 100
 * subscribers.
 *
 *   exchange_publish_callback/subs:S  callback sinks that count, each into
 *       a counter of its own (one sink is attached once: exchange.h): the
 *       exchange's own cost (epoch section, reading the RCU array, the
 *       fan-out loop) without any actor.
 *   exchange_publish_actor/subs:S     actor sinks: each publish is S sends
 *       from the benchmark thread; in-flight deliveries are capped at CAP (the
 *       publisher then waits for the runtime to go idle).
 *       Real time.
 *
 * items = publishes; deliveries/s is the counter `deliveries`.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <troupe/troupe.h>

#include "micro.h"

#define BATCH 16
#define CAP 65536u
#define SUBS_MAX 100

struct bm_arg {
	int subs;
	bool actors;
};

static void count_cb(void *ctx, const trp_msg_t *msg)
{
	(void)msg;
	++*(uint64_t *)ctx; /* the publisher's own thread only */
}

static void nop_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
}

static void bm_publish(cbench_state *st, void *arg)
{
	const struct bm_arg *p = arg;
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_actor_def_t def = { .behavior = nop_behavior };
	trp_runtime_t *rt;
	trp_exchange_t *ex;
	uint64_t counts[SUBS_MAX] = { 0 }, v = 42, inflight = 0;

	cfg.workers = 2;
	if (trp_runtime_create(&cfg, &rt) != 0 ||
	    trp_exchange_create(rt, &ex) != 0)
		abort();
	if (p->subs > SUBS_MAX)
		abort();
	for (int i = 0; i < p->subs; i++) {
		trp_sink_t sink = trp_sink_callback(count_cb, &counts[i]);
		trp_actor_t *a = NULL;

		if (p->actors) {
			if (trp_actor_spawn(rt, &def, NULL, &a) != 0)
				abort();
			sink = trp_sink_actor(a);
		}
		if (trp_exchange_attach(ex, sink, NULL) != 0)
			abort();
		if (a != NULL)
			trp_actor_release(a);
	}
	while (cbench_keep_running_batch(st, BATCH)) {
		for (int i = 0; i < BATCH; i++) {
			if (trp_exchange_publish(ex, 1, &v, sizeof(v)) != 0)
				abort();
		}
		/* At most ~CAP deliveries in flight. */
		inflight += (uint64_t)BATCH * (uint64_t)p->subs;
		if (p->actors && inflight >= CAP) {
			trp_runtime_wait_idle(rt, -1);
			inflight = 0;
		}
	}
	cbench_set_items_processed(st, cbench_iterations(st));
	cbench_counter(st, "deliveries",
		       (double)(cbench_iterations(st) * p->subs), 1);
	micro_use(counts);
	trp_exchange_release(ex);
	trp_runtime_wait_idle(rt, -1);
	trp_runtime_destroy(rt);
}

void micro_register_exchange(void)
{
	static struct bm_arg args[] = {
		{ 1, false }, { 10, false }, { 100, false },
		{ 1, true },  { 10, true },  { 100, true },
	};
	static char names[6][48];

	for (int i = 0; i < 6; i++) {
		cbench *b;

		snprintf(names[i], sizeof(names[i]),
			 "exchange_publish_%s/subs:%d",
			 args[i].actors ? "actor" : "callback", args[i].subs);
		b = cbench_register(names[i], bm_publish, &args[i]);
		if (args[i].actors)
			cbench_use_real_time(b);
	}
}
