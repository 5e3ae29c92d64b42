/*
 * bench/micro/names.c - the name table (troupe/names.h): trp_lookup() +
 * trp_actor_release() of one of NAMES registered names (an epoch section,
 * a hash and a compare, a reference taken and dropped), and
 * trp_send_named() of an empty message to one of them (no reference
 * count touched; includes the send, and a wait for idle every 4096 sends
 * to bound the messages in flight). Items = lookups or sends.
 */
#include <stdio.h>
#include <stdlib.h>

#include <troupe/troupe.h>

#include "micro.h"

#define NAMES 1000
#define BATCH 64

static void nop_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
}

static void bm_names(cbench_state *st, void *arg)
{
	bool send = arg != NULL;
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_actor_def_t def = { .behavior = nop_behavior };
	char name[NAMES][24];
	trp_runtime_t *rt;
	unsigned k = 0, batches = 0;

	cfg.workers = 2;
	if (trp_runtime_create(&cfg, &rt) != 0) {
		cbench_skip_with_error(st, "trp_runtime_create failed");
		return;
	}
	for (int i = 0; i < NAMES; i++) {
		trp_actor_t *a;

		snprintf(name[i], sizeof(name[i]), "actor-%d", i);
		if (trp_actor_spawn(rt, &def, NULL, &a) != 0 ||
		    trp_register(rt, name[i], a) != 0) {
			cbench_skip_with_error(st, "spawn/register failed");
			trp_runtime_destroy(rt);
			return;
		}
		trp_actor_release(a);
	}
	while (cbench_keep_running_batch(st, BATCH)) {
		for (int i = 0; i < BATCH; i++, k = (k + 7) % NAMES) {
			if (send) {
				if (trp_send_named(rt, name[k], 1, NULL, 0) !=
				    0)
					abort();
			} else {
				trp_actor_t *a;

				if (trp_lookup(rt, name[k], &a) != 0)
					abort();
				trp_actor_release(a);
			}
		}
		/* Bounds the messages in flight (64 * 64); most sends find
		 * their actor already scheduled or running. */
		if (send && ++batches % 64 == 0)
			trp_runtime_wait_idle(rt, -1);
	}
	cbench_set_items_processed(st, cbench_iterations(st));
	trp_runtime_wait_idle(rt, -1);
	trp_runtime_destroy(rt);
}

void micro_register_names(void)
{
	cbench_register("name_lookup", bm_names, NULL);
	cbench_use_real_time(
		cbench_register("send_named", bm_names, (void *)1));
}
