/*
 * bench/micro/send.c - trp_send() from an outside thread, through the
 * public API, to a runtime of 2 workers.
 *
 *   send_idle_actor  one message at a time: send, then wait until the
 *                    behaviour has run and the actor is idle again (its
 *                    mailbox carries the idle tag), so every send takes the
 *                    wake path (clear the tag, schedule, maybe unpark a
 *                    worker). Time per item = send + wake + run, a latency.
 *   send_busy_actor  sends in bursts to an actor that keeps running: most
 *                    sends find it scheduled and only push. In-flight
 *                    messages are capped at CAP (the sender waits), so the
 *                    mailbox stays bounded. Items = sends.
 *
 * Real time for both (the sender waits on the workers).
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "actor.h"
#include "micro.h"

#define BATCH 256
#define CAP 65536u

struct counter {
	/* relaxed would do for the busy case; the idle case reads it to
	 * know the behaviour ran. */
	alignas(64) _Atomic(uint64_t) seen;
};

static void count_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct counter *c = state;

	(void)self;
	(void)msg;
	/* ORDER: release: pairs with the sender's acquire. */
	atomic_fetch_add_explicit(&c->seen, 1, memory_order_release);
}

static bool setup(cbench_state *st, trp_runtime_t **rt, trp_actor_t **a,
		  struct counter *c)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_actor_def_t def = { .behavior = count_behavior };

	cfg.workers = 2;
	atomic_init(&c->seen, 0);
	if (trp_runtime_create(&cfg, rt) != 0) {
		cbench_skip_with_error(st, "trp_runtime_create failed");
		return false;
	}
	if (trp_actor_spawn(*rt, &def, c, a) != 0) {
		trp_runtime_destroy(*rt);
		cbench_skip_with_error(st, "trp_actor_spawn failed");
		return false;
	}
	return true;
}

static void teardown(trp_runtime_t *rt, trp_actor_t *a)
{
	trp_runtime_wait_idle(rt, -1);
	trp_runtime_destroy(rt);
	trp_actor_release(a);
}

static void bm_idle(cbench_state *st, void *arg)
{
	struct counter c;
	trp_runtime_t *rt;
	trp_actor_t *a;
	uint64_t sent = 0, v = 0;
	unsigned round = 0;

	(void)arg;
	if (!setup(st, &rt, &a, &c))
		return;
	while (cbench_keep_running(st)) {
		if (trp_send(a, 1, &v, sizeof(v)) != 0) {
			cbench_skip_with_error(st, "trp_send failed");
			break;
		}
		sent++;
		/* ORDER: acquire: pairs with the behaviour's release. */
		while (atomic_load_explicit(&c.seen, memory_order_acquire) !=
		       sent)
			micro_spin(&round);
		/* Internal: wait for the idle tag, so the next send wakes. */
		while (!trp__mailbox_is_idle(&a->mailbox))
			micro_spin(&round);
	}
	cbench_set_items_processed(st, (int64_t)sent);
	teardown(rt, a);
}

static void bm_busy(cbench_state *st, void *arg)
{
	struct counter c;
	trp_runtime_t *rt;
	trp_actor_t *a;
	uint64_t sent = 0, v = 0;
	unsigned round = 0;

	(void)arg;
	if (!setup(st, &rt, &a, &c))
		return;
	while (cbench_keep_running_batch(st, BATCH)) {
		for (int i = 0; i < BATCH; i++) {
			if (trp_send(a, 1, &v, sizeof(v)) != 0) {
				cbench_skip_with_error(st, "trp_send failed");
				goto out;
			}
		}
		sent += BATCH;
		/* relaxed: only a bound on memory, no data is read. */
		while (sent - atomic_load_explicit(&c.seen,
						   memory_order_relaxed) >
		       CAP)
			micro_spin(&round);
	}
out:
	cbench_set_items_processed(st, (int64_t)sent);
	teardown(rt, a);
}

void micro_register_send(void)
{
	cbench_use_real_time(cbench_register("send_idle_actor", bm_idle, NULL));
	cbench_use_real_time(cbench_register("send_busy_actor", bm_busy, NULL));
}
