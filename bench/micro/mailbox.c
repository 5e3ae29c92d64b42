/*
 * bench/micro/mailbox.c - the MPSC mailbox (core/mailbox.h): push_mp from
 * 1, 2 or 4 producer threads, pop_sc by one consumer thread.
 *
 * Thread 0 is the consumer; threads 1..P produce. Each producer owns a ring
 * of RING nodes and reuses a node only after the consumer has popped it (a
 * per-node flag the consumer clears), so the queue holds at most P*RING
 * nodes and nothing is allocated in the loop. Every thread runs the same
 * number of iterations (the harness's rule), so per batch of BATCH
 * iterations each producer pushes BATCH nodes and the consumer pops
 * P*BATCH. items_per_second (summed over threads) therefore counts pushes
 * and pops; msgs/s is pops alone, the queue's throughput. Real time.
 *
 * The mailbox starts non-idle, so pushes never see the idle tag: this is
 * the queue alone, not the scheduling it triggers (see send.c).
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox.h"
#include "micro.h"

#define RING 1024u
#define BATCH 64

struct bnode {
	struct trp__mpsc_node node; /* first */
	_Atomic(uint32_t) queued;   /* set by the producer, cleared by pop */
};

struct producer_ring {
	alignas(64) struct bnode nodes[RING];
	uint32_t next;
};

static struct {
	/* head's line, then tail's (mailbox.h, "Placement") */
	alignas(64) unsigned char room[TRP__MAILBOX_ROOM];
	struct trp__mailbox mb;
	struct producer_ring *rings;
} g;

static void bm_mailbox(cbench_state *st, void *arg)
{
	int producers = (int)(intptr_t)arg;
	int me = cbench_thread_index(st);

	(void)producers;
	if (me == 0) {
		trp__mailbox_init(&g.mb, false);
		g.rings = aligned_alloc(64, (size_t)cbench_threads_running(st) *
						    sizeof(*g.rings));
		memset(g.rings, 0,
		       (size_t)cbench_threads_running(st) * sizeof(*g.rings));
	}
	if (me == 0) {
		int64_t per_batch =
			(int64_t)(cbench_threads_running(st) - 1) * BATCH;
		unsigned round = 0;

		while (cbench_keep_running_batch(st, BATCH)) {
			for (int64_t i = 0; i < per_batch;) {
				struct trp__mpsc_node *n =
					trp__mailbox_pop_sc(&g.mb);

				if (n == NULL) {
					micro_spin(&round);
					continue;
				}
				/* ORDER: release: the producer may reuse the
				 * node once it acquires this. */
				atomic_store_explicit(
					&((struct bnode *)(void *)n)->queued, 0,
					memory_order_release);
				i++;
			}
		}
		cbench_counter(st, "msgs",
			       (double)(cbench_iterations(st) *
					(cbench_threads_running(st) - 1)),
			       1);
	} else {
		struct producer_ring *r = NULL;
		unsigned round = 0;

		while (cbench_keep_running_batch(st, BATCH)) {
			/* Read after the start barrier: thread 0 sets it. */
			r = &g.rings[me];
			for (int i = 0; i < BATCH; i++) {
				struct bnode *b = &r->nodes[r->next++ % RING];

				/* ORDER: acquire: pairs with the consumer's
				 * release; the pop is done with the node. */
				while (atomic_load_explicit(
					       &b->queued,
					       memory_order_acquire) != 0)
					micro_spin(&round);
				atomic_store_explicit(&b->queued, 1,
						      memory_order_relaxed);
				trp__mailbox_push_mp(&g.mb, &b->node);
			}
		}
	}
	cbench_set_items_processed(
		st, cbench_iterations(st) *
			    (me == 0 ? cbench_threads_running(st) - 1 : 1));
	if (me == 0) {
		/* Every producer has left its loop (the harness's end
		 * barrier comes later, but all pushes were popped). */
		free(g.rings);
		g.rings = NULL;
	}
}

void micro_register_mailbox(void)
{
	static const int producers[] = { 1, 2, 4 };
	static const char *const names[] = { "mailbox_push_pop/producers:1",
					     "mailbox_push_pop/producers:2",
					     "mailbox_push_pop/producers:4" };

	for (int i = 0; i < 3; i++) {
		cbench *b = cbench_register(names[i], bm_mailbox,
					    (void *)(intptr_t)producers[i]);

		cbench_threads(b, producers[i] + 1);
		cbench_use_real_time(b);
	}
}
