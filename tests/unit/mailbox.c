/*
 * tests/unit/mailbox.c - single-threaded contract of core/mailbox.h: the
 * idle and closed tags, FIFO order, the stub re-queue path, snapshots, and
 * the "busy" state of a push caught between its exchange and its link.
 * The concurrent behaviour is checked by tests/stress/mailbox_mpsc.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>

#include "mailbox.h"

struct msg {
	struct trp__mpsc_node node; /* first: a node pointer is a msg */
	int value;
};

#define NMSG 64

static struct trp__mailbox mb;
static struct msg msgs[NMSG];

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < NMSG; i++)
		msgs[i].value = i;
	return 0;
}

static struct msg *pop(void)
{
	return (struct msg *)trp__mailbox_pop_sc(&mb);
}

/*
 * The first half of trp__mailbox_push_mp: the exchange on head, without
 * the link store that follows it. Leaves the queue exactly as a producer
 * preempted between its two steps would. Returns the previous head.
 * (White box: mirrors mailbox.c's push; tags are the low bits.)
 */
static struct trp__mpsc_node *half_push(struct trp__mpsc_node *n)
{
	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	uintptr_t prev = atomic_exchange_explicit(&mb.head, (uintptr_t)n,
						  memory_order_acq_rel);
	assert_int_equal(prev & (TRP__MAILBOX_IDLE | TRP__MAILBOX_CLOSED), 0);
	return (struct trp__mpsc_node *)prev;
}

/* The second half: the link store. */
static void finish_push(struct trp__mpsc_node *prev, struct trp__mpsc_node *n)
{
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* ---------------------------------------------------------------------- */

static void test_init_idle(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, true);
	assert_true(trp__mailbox_is_idle(&mb));
	assert_null(trp__mailbox_snapshot_sc(&mb));

	trp__mailbox_init(&mb, false);
	assert_false(trp__mailbox_is_idle(&mb));
	assert_null(trp__mailbox_snapshot_sc(&mb));
	assert_null(pop());
}

static void test_push_reports_idle_once_per_period(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, true);
	/* the first push of an idle period sees the tag, the others not */
	assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[0].node),
			 TRP__MAILBOX_IDLE);
	assert_false(trp__mailbox_is_idle(&mb));
	assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[1].node), 0);
	assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[2].node), 0);

	for (int period = 0; period < 5; period++) {
		while (pop() != NULL)
			;
		assert_true(trp__mailbox_mark_idle_sc(&mb));
		assert_true(trp__mailbox_is_idle(&mb));
		assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[3].node),
				 TRP__MAILBOX_IDLE);
		assert_false(trp__mailbox_is_idle(&mb));
		assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[4].node), 0);
	}
	while (pop() != NULL)
		;

	/* not idle at init: no push sees the tag */
	trp__mailbox_init(&mb, false);
	assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[0].node), 0);
	assert_ptr_equal(pop(), &msgs[0]);
	assert_null(pop());
}

static void test_fifo(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	for (int i = 0; i < NMSG; i++)
		trp__mailbox_push_mp(&mb, &msgs[i].node);
	for (int i = 0; i < NMSG; i++) {
		struct msg *m = pop();
		assert_non_null(m);
		assert_int_equal(m->value, i);
	}
	assert_null(pop());

	/* interleaved pushes and pops keep order too */
	int next_in = 0, next_out = 0;
	for (int round = 0; round < 200; round++) {
		int k = 1 + round % 5;
		for (int i = 0; i < k && next_in - next_out < NMSG; i++) {
			trp__mailbox_push_mp(&mb, &msgs[next_in % NMSG].node);
			next_in++;
		}
		for (int i = 0; i < (round % 3) + 1 && next_out < next_in;
		     i++) {
			struct msg *m = pop();
			assert_non_null(m);
			assert_int_equal(m->value, next_out % NMSG);
			next_out++;
		}
	}
	while (next_out < next_in) {
		struct msg *m = pop();
		assert_non_null(m);
		assert_int_equal(m->value, next_out % NMSG);
		next_out++;
	}
	assert_null(pop());
}

static void test_pop_empty(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	assert_null(pop());
	assert_null(pop());
	trp__mailbox_push_mp(&mb, &msgs[0].node);
	assert_ptr_equal(pop(), &msgs[0]);
	for (int i = 0; i < 3; i++)
		assert_null(pop());
	/* still usable */
	trp__mailbox_push_mp(&mb, &msgs[1].node);
	assert_ptr_equal(pop(), &msgs[1]);
	assert_null(pop());
}

static void test_mark_idle(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	/* empty: succeeds */
	assert_true(trp__mailbox_mark_idle_sc(&mb));
	assert_true(trp__mailbox_is_idle(&mb));
	assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[0].node),
			 TRP__MAILBOX_IDLE);

	/* non-empty: fails and changes nothing */
	assert_false(trp__mailbox_mark_idle_sc(&mb));
	assert_false(trp__mailbox_is_idle(&mb));
	trp__mailbox_push_mp(&mb, &msgs[1].node);
	assert_false(trp__mailbox_mark_idle_sc(&mb));
	assert_ptr_equal(pop(), &msgs[0]);
	/* one node left (the tail is a real node, not the stub) */
	assert_false(trp__mailbox_mark_idle_sc(&mb));
	assert_ptr_equal(pop(), &msgs[1]);
	assert_null(pop());
	assert_true(trp__mailbox_mark_idle_sc(&mb));
	assert_true(trp__mailbox_is_idle(&mb));
}

/* A producer between its exchange and its link store: the queue is busy,
 * not empty; pop returns NULL, mark_idle must fail, nothing is lost. */
static void test_busy_push(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);

	/* busy on an empty queue (prev is the stub) */
	struct trp__mpsc_node *prev = half_push(&msgs[0].node);
	assert_null(pop());
	assert_false(trp__mailbox_mark_idle_sc(&mb));
	assert_false(trp__mailbox_close_sc(&mb));
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[0].node);
	finish_push(prev, &msgs[0].node);
	assert_ptr_equal(pop(), &msgs[0]);
	assert_null(pop());
	assert_true(trp__mailbox_mark_idle_sc(&mb));
	assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[9].node),
			 TRP__MAILBOX_IDLE);
	assert_ptr_equal(pop(), &msgs[9]);

	/* busy behind a real node: that node can be neither returned (its
	 * link is missing) nor left behind */
	trp__mailbox_push_mp(&mb, &msgs[1].node);
	prev = half_push(&msgs[2].node);
	assert_ptr_equal(prev, &msgs[1].node);
	assert_null(pop());
	assert_null(pop());
	assert_false(trp__mailbox_mark_idle_sc(&mb));
	/* more pushes behind the busy one */
	trp__mailbox_push_mp(&mb, &msgs[3].node);
	assert_null(pop());
	finish_push(prev, &msgs[2].node);
	for (int i = 1; i <= 3; i++)
		assert_ptr_equal(pop(), &msgs[i]);
	assert_null(pop());
	assert_true(trp__mailbox_mark_idle_sc(&mb));
}

/*
 * A push caught mid-way behind the last node after some pops: pop must
 * report busy (NULL), not re-queue the stub behind a node whose link is
 * missing, and later deliver both nodes in order. (The interleaving inside
 * pop_sc - a push between its head load and its stub push - needs two
 * threads: the stress test and the spin model cover it.)
 */
static void test_busy_push_after_pop(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	trp__mailbox_push_mp(&mb, &msgs[0].node);
	trp__mailbox_push_mp(&mb, &msgs[1].node);
	assert_ptr_equal(pop(), &msgs[0]); /* tail is now msgs[1] */
	/* a producer exchanges past msgs[1] but does not link yet */
	struct trp__mpsc_node *prev = half_push(&msgs[2].node);
	assert_ptr_equal(prev, &msgs[1].node);
	/* msgs[1] has no successor and head != msgs[1]: busy */
	assert_null(pop());
	assert_false(trp__mailbox_mark_idle_sc(&mb));
	finish_push(prev, &msgs[2].node);
	assert_ptr_equal(pop(), &msgs[1]);
	assert_ptr_equal(pop(), &msgs[2]);
	assert_null(pop());
	assert_true(trp__mailbox_mark_idle_sc(&mb));
}

static void test_snapshot(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	assert_null(trp__mailbox_snapshot_sc(&mb));
	trp__mailbox_push_mp(&mb, &msgs[0].node);
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[0].node);
	trp__mailbox_push_mp(&mb, &msgs[1].node);
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[1].node);
	/* a turn bounded by the snapshot: nodes pushed after it wait */
	struct trp__mpsc_node *bound = trp__mailbox_snapshot_sc(&mb);
	trp__mailbox_push_mp(&mb, &msgs[2].node);
	int n = 0;
	struct trp__mpsc_node *node;
	while ((node = trp__mailbox_pop_sc(&mb)) != NULL) {
		n++;
		if (node == bound)
			break;
	}
	assert_int_equal(n, 2);
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[2].node);
	assert_ptr_equal(pop(), &msgs[2]);
	/* drained: the stub is back at the head */
	assert_null(trp__mailbox_snapshot_sc(&mb));
	assert_null(pop());
	assert_true(trp__mailbox_mark_idle_sc(&mb));
	assert_null(trp__mailbox_snapshot_sc(&mb));
}

/* push 1, pop 1, repeatedly: every pop goes through the stub re-queue. */
static void test_stub_requeue(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, true);
	for (int i = 0; i < 1000; i++) {
		struct msg *m = &msgs[i % NMSG];
		assert_int_equal(trp__mailbox_push_mp(&mb, &m->node),
				 TRP__MAILBOX_IDLE);
		assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &m->node);
		assert_ptr_equal(pop(), m);
		assert_null(trp__mailbox_snapshot_sc(&mb));
		assert_null(pop());
		assert_true(trp__mailbox_mark_idle_sc(&mb));
	}
	/* without going idle in between */
	trp__mailbox_init(&mb, false);
	for (int i = 0; i < 1000; i++) {
		struct msg *m = &msgs[i % NMSG];
		assert_int_equal(trp__mailbox_push_mp(&mb, &m->node), 0);
		assert_ptr_equal(pop(), m);
		assert_null(pop());
	}
}

/* mailbox.h: a popped node is fully detached and may be reused at once. */
static void test_node_reuse(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	struct msg *m = &msgs[0];
	for (int i = 0; i < 100; i++) {
		trp__mailbox_push_mp(&mb, &m->node);
		assert_ptr_equal(pop(), m);
	}
	/* reuse while another node is still queued */
	trp__mailbox_push_mp(&mb, &msgs[1].node);
	trp__mailbox_push_mp(&mb, &msgs[2].node);
	assert_ptr_equal(pop(), &msgs[1]);
	trp__mailbox_push_mp(&mb, &msgs[1].node);
	assert_ptr_equal(pop(), &msgs[2]);
	assert_ptr_equal(pop(), &msgs[1]);
	assert_null(pop());
}

static void test_is_idle(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	assert_false(trp__mailbox_is_idle(&mb));
	assert_true(trp__mailbox_mark_idle_sc(&mb));
	assert_true(trp__mailbox_is_idle(&mb));
	trp__mailbox_push_mp(&mb, &msgs[0].node);
	assert_false(trp__mailbox_is_idle(&mb));
	assert_ptr_equal(pop(), &msgs[0]);
	assert_false(trp__mailbox_is_idle(&mb));
	assert_true(trp__mailbox_close_sc(&mb));
	/* closed is not idle */
	assert_false(trp__mailbox_is_idle(&mb));
}

/* The closed tag: the one push that finds it drains and re-closes. */
static void test_close(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	trp__mailbox_push_mp(&mb, &msgs[0].node);
	/* non-empty: fails and changes nothing */
	assert_false(trp__mailbox_close_sc(&mb));
	assert_ptr_equal(pop(), &msgs[0]);
	assert_null(pop());
	assert_true(trp__mailbox_close_sc(&mb));
	assert_null(trp__mailbox_snapshot_sc(&mb));

	for (int period = 0; period < 3; period++) {
		assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[1].node),
				 TRP__MAILBOX_CLOSED);
		/* the tag is cleared: later pushes see nothing */
		assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[2].node), 0);
		assert_false(trp__mailbox_close_sc(&mb));
		assert_ptr_equal(pop(), &msgs[1]);
		assert_ptr_equal(pop(), &msgs[2]);
		assert_null(pop());
		assert_true(trp__mailbox_close_sc(&mb));
	}

	/* from idle: the actor ran (a push scheduled it), then stopped */
	trp__mailbox_init(&mb, true);
	assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[0].node),
			 TRP__MAILBOX_IDLE);
	assert_ptr_equal(pop(), &msgs[0]);
	assert_null(pop());
	assert_true(trp__mailbox_close_sc(&mb));
	assert_int_equal(trp__mailbox_push_mp(&mb, &msgs[1].node),
			 TRP__MAILBOX_CLOSED);
	assert_ptr_equal(pop(), &msgs[1]);
	assert_null(pop());
	assert_true(trp__mailbox_close_sc(&mb));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_idle),
		cmocka_unit_test(test_push_reports_idle_once_per_period),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_pop_empty),
		cmocka_unit_test(test_mark_idle),
		cmocka_unit_test(test_busy_push),
		cmocka_unit_test(test_busy_push_after_pop),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_stub_requeue),
		cmocka_unit_test(test_node_reuse),
		cmocka_unit_test(test_is_idle),
		cmocka_unit_test(test_close),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
