/*
 * bench/micro/run_queues.c - the workers' run queues (core/run_ring.h,
 * core/chase_lev.h).
 *
 *   deque_push_pop      the owner pushes BATCH items and pops them back (the
 *                       path of every actor turn); items = push+pop pairs.
 *   deque_steal_half    one thread: push BATCH items onto a victim, steal
 *                       from it into a thief deque (about half move), pop
 *                       everything back; items = items moved by steals.
 *                       The cost of a steal without contention.
 *   deque_steal_contended  two threads: thread 0 owns the victim and keeps
 *                       it stocked (push, pop when full), thread 1 steals
 *                       into its own deque and drains it; items = steals
 *                       attempted by thread 1. Real time.
 */
#include <stdint.h>
#include <stdlib.h>

#include "chase_lev.h"
#include "run_ring.h"
#include "micro.h"

#define BATCH 64

static void bm_push_pop(cbench_state *st, void *arg)
{
	struct trp__run_ring d;
	uintptr_t item = 1;

	(void)arg;
	if (trp__run_ring_init(&d, 8) != 0) {
		cbench_skip_with_error(st, "trp__run_ring_init failed");
		return;
	}
	while (cbench_keep_running_batch(st, BATCH)) {
		for (int i = 0; i < BATCH; i++)
			trp__run_ring_push_owner(&d, (void *)item++);
		for (int i = 0; i < BATCH; i++)
			micro_use(trp__run_ring_pop_owner(&d));
	}
	cbench_set_items_processed(st, cbench_iterations(st));
	trp__run_ring_destroy(&d);
}

static void bm_steal_half(cbench_state *st, void *arg)
{
	struct trp__run_ring victim, thief;
	int64_t moved_total = 0;

	(void)arg;
	if (trp__run_ring_init(&victim, 8) != 0 ||
	    trp__run_ring_init(&thief, 8) != 0) {
		cbench_skip_with_error(st, "trp__run_ring_init failed");
		return;
	}
	while (cbench_keep_running(st)) {
		uint32_t moved = 0;

		for (uintptr_t i = 1; i <= BATCH; i++)
			trp__run_ring_push_owner(&victim, (void *)i);
		micro_use(trp__run_ring_steal(&victim, &thief, 1, &moved));
		moved_total += moved + 1;
		while (trp__run_ring_pop_owner(&thief) != NULL)
			;
		while (trp__run_ring_pop_owner(&victim) != NULL)
			;
	}
	cbench_set_items_processed(st, moved_total);
	cbench_counter(st, "moved_per_steal",
		       (double)moved_total / (double)cbench_iterations(st), 0);
	trp__run_ring_destroy(&thief);
	trp__run_ring_destroy(&victim);
}

/* Set up by thread 0 before the start barrier, destroyed after the end
 * barrier (see cbench.h). */
static struct trp__run_ring g_victim;

static void bm_steal_contended(cbench_state *st, void *arg)
{
	int me = cbench_thread_index(st);
	int64_t got = 0;

	(void)arg;
	if (me == 0) {
		if (trp__run_ring_init(&g_victim, 10) != 0)
			abort();
	}
	if (me == 0) {
		uintptr_t item = 1;

		while (cbench_keep_running_batch(st, BATCH)) {
			for (int i = 0; i < BATCH; i++) {
				trp__run_ring_push_owner(&g_victim,
							 (void *)item++);
				if (trp__run_ring_size(&g_victim) > 512)
					micro_use(trp__run_ring_pop_owner(
						&g_victim));
			}
		}
		trp__run_ring_destroy(&g_victim);
	} else {
		struct trp__run_ring mine;

		if (trp__run_ring_init(&mine, 10) != 0)
			abort();
		while (cbench_keep_running(st)) {
			uint32_t moved = 0;

			if (trp__run_ring_steal(&g_victim, &mine, 1, &moved) !=
			    NULL)
				got += moved + 1;
			while (trp__run_ring_pop_owner(&mine) != NULL)
				;
		}
		trp__run_ring_destroy(&mine);
		cbench_counter(st, "stolen", (double)got, 1);
	}
	cbench_set_items_processed(st, me == 0 ? 0 : cbench_iterations(st));
}

void micro_register_deque(void)
{
	cbench *b;

	cbench_register("deque_push_pop", bm_push_pop, NULL);
	cbench_register("deque_steal_half", bm_steal_half, NULL);
	b = cbench_register("deque_steal_contended", bm_steal_contended, NULL);
	cbench_threads(b, 2);
	cbench_use_real_time(b);
}
