/*
 * bench/micro/message.c - message memory (core/message.h).
 *
 *   msg_alloc_free/pool         a worker allocates and frees small
 *                               messages on its own pool (LIFO, hot).
 *   msg_alloc_free/malloc       the same through the allocator (pool NULL:
 *                               what outside threads and large payloads
 *                               use).
 *   msg_alloc_free/cross_thread thread 0 allocates on pool 0 and hands each
 *                               message through a ring to thread 1, which
 *                               frees it on pool 1; pool 1 sheds batches back
 *                               to pool 0 (the storm's pattern: one worker
 *                               sends, the other frees). Real time; items =
 *                               messages.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "message.h"
#include "micro.h"

#define BATCH 64
#define RING 4096u /* power of two */

static void bm_same_thread(cbench_state *st, void *arg)
{
	bool pooled = arg != NULL;
	struct trp__msg_pool pool, *all[1] = { &pool };
	struct trp__msg *m[BATCH];

	if (trp__msg_pool_init(&pool, 0, 1, all) != 0) {
		cbench_skip_with_error(st, "trp__msg_pool_init failed");
		return;
	}
	while (cbench_keep_running_batch(st, BATCH)) {
		for (int i = 0; i < BATCH; i++)
			m[i] = trp__msg_alloc(pooled ? &pool : NULL, 16);
		for (int i = 0; i < BATCH; i++)
			trp__msg_free(pooled ? &pool : NULL, m[i]);
	}
	cbench_set_items_processed(st, cbench_iterations(st));
	trp__msg_pool_destroy(&pool);
}

/* A single-producer single-consumer ring of message pointers. */
static struct {
	struct trp__msg_pool pools[2];
	struct trp__msg_pool *all[2];
	alignas(64) _Atomic(uint64_t) head; /* consumer */
	alignas(64) _Atomic(uint64_t) tail; /* producer */
	alignas(64) struct trp__msg *slot[RING];
} g;

static void bm_cross_thread(cbench_state *st, void *arg)
{
	int me = cbench_thread_index(st);
	unsigned round = 0;

	(void)arg;
	if (me == 0) {
		g.all[0] = &g.pools[0];
		g.all[1] = &g.pools[1];
		if (trp__msg_pool_init(&g.pools[0], 0, 2, g.all) != 0 ||
		    trp__msg_pool_init(&g.pools[1], 1, 2, g.all) != 0)
			abort();
		atomic_store_explicit(&g.head, 0, memory_order_relaxed);
		atomic_store_explicit(&g.tail, 0, memory_order_relaxed);
	}
	if (me == 0) {
		uint64_t tail = 0;

		while (cbench_keep_running_batch(st, BATCH)) {
			for (int i = 0; i < BATCH; i++, tail++) {
				/* ORDER: acquire: pairs with the consumer's
				 * release of head; the slot is free. */
				while (tail - atomic_load_explicit(
						      &g.head,
						      memory_order_acquire) >=
				       RING)
					micro_spin(&round);
				g.slot[tail % RING] =
					trp__msg_alloc(&g.pools[0], 16);
				/* ORDER: release: publishes the slot to the
				 * consumer's acquire of tail. */
				atomic_store_explicit(&g.tail, tail + 1,
						      memory_order_release);
			}
		}
	} else {
		uint64_t head = 0;

		while (cbench_keep_running_batch(st, BATCH)) {
			for (int i = 0; i < BATCH; i++, head++) {
				/* ORDER: acquire: pairs with the producer's
				 * release of tail. */
				while (atomic_load_explicit(
					       &g.tail, memory_order_acquire) ==
				       head)
					micro_spin(&round);
				trp__msg_free(&g.pools[1], g.slot[head % RING]);
				/* ORDER: release: the slot may be reused. */
				atomic_store_explicit(&g.head, head + 1,
						      memory_order_release);
			}
		}
	}
	cbench_set_items_processed(st, me == 0 ? cbench_iterations(st) : 0);
	if (me == 0) {
		/* After the end barrier: both loops are done. */
		trp__msg_pool_destroy(&g.pools[1]);
		trp__msg_pool_destroy(&g.pools[0]);
	}
}

void micro_register_message(void)
{
	cbench *b;

	cbench_register("msg_alloc_free/pool", bm_same_thread, (void *)1);
	cbench_register("msg_alloc_free/malloc", bm_same_thread, NULL);
	b = cbench_register("msg_alloc_free/cross_thread", bm_cross_thread,
			    NULL);
	cbench_threads(b, 2);
	cbench_use_real_time(b);
}
