/*
 * tests/unit/run_queues.c - single-threaded contract of core/run_ring.h and
 * core/chase_lev.h: FIFO
 * order, growth (also with the live range wrapped around the ring),
 * steal-half and min_surplus, the thief's room bound, and ENOMEM on growth
 * leaving the deque intact; for trp__chase_lev: newest to the owner, oldest to
 * steal, growth, ENOMEM. Concurrency: tests/stress/run_ring_steal.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>

#include "alloc.h"
#include "chase_lev.h"
#include "run_ring.h"
#include "troupe/error.h"

/* Items are non-NULL pointers: (v << 1) | 1. */
static void *it(uint64_t v)
{
	return (void *)(uintptr_t)((v << 1) | 1u);
}

static uint64_t val(void *p)
{
	assert_non_null(p);
	assert_true(((uintptr_t)p & 1u) != 0);
	return (uint64_t)((uintptr_t)p >> 1);
}

static void push(struct trp__run_ring *d, uint64_t v)
{
	assert_int_equal(trp__run_ring_push_owner(d, it(v)), 0);
}

static uint64_t pop(struct trp__run_ring *d)
{
	return val(trp__run_ring_pop_owner(d));
}

/* ---------------------------------------------------------------------- */

static void test_fifo(void **state)
{
	(void)state;
	struct trp__run_ring d;
	assert_int_equal(trp__run_ring_init(&d, 2), 0);
	assert_int_equal(trp__run_ring_size(&d), 0);
	assert_null(trp__run_ring_pop_owner(&d));
	for (uint64_t i = 0; i < 3; i++)
		push(&d, i);
	assert_int_equal(trp__run_ring_size(&d), 3);
	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(pop(&d), i);
	assert_int_equal(trp__run_ring_size(&d), 0);
	assert_null(trp__run_ring_pop_owner(&d));

	/* many laps around a ring that never needs to grow */
	uint64_t in = 0, out = 0;
	for (int round = 0; round < 1000; round++) {
		for (int k = 0; k < 3; k++)
			push(&d, in++);
		for (int k = 0; k < 3; k++)
			assert_int_equal(pop(&d), out++);
	}
	assert_null(trp__run_ring_pop_owner(&d));
	trp__run_ring_destroy(&d);
}

static void test_growth_keeps_order(void **state)
{
	(void)state;
	struct trp__run_ring d;
	/* log2 0 is raised to 1: capacity 2 */
	assert_int_equal(trp__run_ring_init(&d, 0), 0);
	for (uint64_t i = 0; i < 5000; i++) {
		push(&d, i);
		assert_int_equal(trp__run_ring_size(&d), i + 1);
	}
	for (uint64_t i = 0; i < 5000; i++)
		assert_int_equal(pop(&d), i);
	assert_null(trp__run_ring_pop_owner(&d));
	trp__run_ring_destroy(&d);
}

/* Growth while [head, tail) wraps around the end of the ring. */
static void test_growth_wrapped(void **state)
{
	(void)state;
	struct trp__run_ring d;
	assert_int_equal(trp__run_ring_init(&d, 1), 0);
	uint64_t in = 0, out = 0;
	/* push 2, pop 1: the live range keeps moving and wrapping while
	 * the ring doubles from 2 to 4096 */
	while (in < 8000) {
		push(&d, in++);
		push(&d, in++);
		assert_int_equal(pop(&d), out++);
		assert_int_equal(trp__run_ring_size(&d), in - out);
	}
	while (out < in)
		assert_int_equal(pop(&d), out++);
	assert_null(trp__run_ring_pop_owner(&d));
	trp__run_ring_destroy(&d);
}

static void test_steal_half(void **state)
{
	(void)state;
	struct trp__run_ring victim, thief;
	assert_int_equal(trp__run_ring_init(&victim, 4), 0);
	assert_int_equal(trp__run_ring_init(&thief, 4), 0);
	for (uint64_t i = 0; i < 10; i++)
		push(&victim, i);
	uint32_t moved = 99;
	/* takes n - n/2 = 5 from the head: returns the oldest, moves 4 */
	assert_int_equal(val(trp__run_ring_steal(&victim, &thief, 1, &moved)),
			 0);
	assert_int_equal(moved, 4);
	assert_int_equal(trp__run_ring_size(&victim), 5);
	assert_int_equal(trp__run_ring_size(&thief), 4);
	for (uint64_t i = 1; i <= 4; i++)
		assert_int_equal(pop(&thief), i);
	for (uint64_t i = 5; i < 10; i++)
		assert_int_equal(pop(&victim), i);

	/* odd count: 7 -> takes 4 */
	for (uint64_t i = 0; i < 7; i++)
		push(&victim, 100 + i);
	assert_int_equal(val(trp__run_ring_steal(&victim, &thief, 1, &moved)),
			 100);
	assert_int_equal(moved, 3);
	assert_int_equal(trp__run_ring_size(&victim), 3);

	/* a single item is stolen whole, nothing moved; moved may be NULL */
	while (trp__run_ring_pop_owner(&victim) != NULL)
		;
	while (trp__run_ring_pop_owner(&thief) != NULL)
		;
	push(&victim, 7);
	assert_int_equal(val(trp__run_ring_steal(&victim, &thief, 1, NULL)), 7);
	assert_int_equal(trp__run_ring_size(&thief), 0);
	trp__run_ring_destroy(&victim);
	trp__run_ring_destroy(&thief);
}

static void test_steal_empty_and_min_surplus(void **state)
{
	(void)state;
	struct trp__run_ring victim, thief;
	assert_int_equal(trp__run_ring_init(&victim, 3), 0);
	assert_int_equal(trp__run_ring_init(&thief, 3), 0);
	uint32_t moved = 99;
	assert_null(trp__run_ring_steal(&victim, &thief, 1, &moved));
	assert_int_equal(moved, 0);
	assert_null(trp__run_ring_steal(&victim, &thief, 0, &moved));
	assert_int_equal(moved, 0);

	/* fewer than min_surplus: no steal, victim untouched */
	push(&victim, 0);
	moved = 99;
	assert_null(trp__run_ring_steal(&victim, &thief, 2, &moved));
	assert_int_equal(moved, 0);
	assert_int_equal(trp__run_ring_size(&victim), 1);
	push(&victim, 1);
	push(&victim, 2);
	assert_null(trp__run_ring_steal(&victim, &thief, 4, &moved));
	assert_int_equal(trp__run_ring_size(&victim), 3);
	assert_int_equal(trp__run_ring_size(&thief), 0);
	/* exactly min_surplus: steals (3 -> takes 2) */
	assert_int_equal(val(trp__run_ring_steal(&victim, &thief, 3, &moved)),
			 0);
	assert_int_equal(moved, 1);
	assert_int_equal(pop(&thief), 1);
	assert_int_equal(pop(&victim), 2);
	trp__run_ring_destroy(&victim);
	trp__run_ring_destroy(&thief);
}

/* A steal never grows the thief's ring: it takes at most room + 1. */
static void test_steal_bounded_by_thief_room(void **state)
{
	(void)state;
	struct trp__run_ring victim, thief;
	assert_int_equal(trp__run_ring_init(&victim, 2), 0);
	assert_int_equal(trp__run_ring_init(&thief, 2), 0); /* 4 slots */
	for (uint64_t i = 0; i < 100; i++)
		push(&victim, i);
	for (uint64_t i = 0; i < 3; i++)
		push(&thief, 1000 + i);
	uint64_t attempts = trp__alloc_attempts();
	trp__alloc_fail_nth(1000); /* armed only to count allocations */
	uint32_t moved = 99;
	/* room 1: returns one item and moves one */
	assert_int_equal(val(trp__run_ring_steal(&victim, &thief, 1, &moved)),
			 0);
	assert_int_equal(moved, 1);
	assert_int_equal(trp__alloc_attempts(), attempts);
	trp__alloc_fail_nth(0);
	assert_int_equal(trp__run_ring_size(&thief), 4);
	assert_int_equal(trp__run_ring_size(&victim), 98);
	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(pop(&thief), 1000 + i);
	assert_int_equal(pop(&thief), 1);
	/* full thief: still returns one item, moves none */
	for (uint64_t i = 0; i < 4; i++)
		push(&thief, 2000 + i);
	assert_int_equal(val(trp__run_ring_steal(&victim, &thief, 1, &moved)),
			 2);
	assert_int_equal(moved, 0);
	assert_int_equal(trp__run_ring_size(&victim), 97);
	trp__run_ring_destroy(&victim);
	trp__run_ring_destroy(&thief);
}

/* At most 256 items per steal (deque.c's STEAL_MAX). */
static void test_steal_max(void **state)
{
	(void)state;
	struct trp__run_ring victim, thief;
	assert_int_equal(trp__run_ring_init(&victim, 2), 0);
	assert_int_equal(trp__run_ring_init(&thief, 10), 0);
	for (uint64_t i = 0; i < 1000; i++)
		push(&victim, i);
	uint32_t moved = 0;
	assert_int_equal(val(trp__run_ring_steal(&victim, &thief, 1, &moved)),
			 0);
	assert_int_equal(moved, 255);
	assert_int_equal(trp__run_ring_size(&victim), 1000 - 256);
	for (uint64_t i = 1; i <= 255; i++)
		assert_int_equal(pop(&thief), i);
	assert_null(trp__run_ring_pop_owner(&thief));
	assert_int_equal(pop(&victim), 256);
	trp__run_ring_destroy(&victim);
	trp__run_ring_destroy(&thief);
}

/* Steal from a grown ring whose live range wrapped before the growth. */
static void test_steal_after_growth(void **state)
{
	(void)state;
	struct trp__run_ring victim, thief;
	assert_int_equal(trp__run_ring_init(&victim, 1), 0);
	assert_int_equal(trp__run_ring_init(&thief, 8), 0);
	uint64_t in = 0, out = 0;
	while (in < 301) {
		push(&victim, in++);
		push(&victim, in++);
		push(&victim, in++);
		assert_int_equal(pop(&victim), out++);
	}
	uint64_t n = in - out;
	uint32_t moved = 0;
	assert_int_equal(val(trp__run_ring_steal(&victim, &thief, 1, &moved)),
			 out);
	uint64_t take = n - n / 2;
	assert_int_equal(moved, take - 1);
	for (uint64_t i = 1; i < take; i++)
		assert_int_equal(pop(&thief), out + i);
	out += take;
	while (out < in)
		assert_int_equal(pop(&victim), out++);
	assert_null(trp__run_ring_pop_owner(&victim));
	trp__run_ring_destroy(&victim);
	trp__run_ring_destroy(&thief);
}

static void test_size(void **state)
{
	(void)state;
	struct trp__run_ring d;
	assert_int_equal(trp__run_ring_init(&d, 1), 0);
	for (uint64_t i = 0; i < 10; i++) {
		assert_int_equal(trp__run_ring_size(&d), i);
		push(&d, i);
	}
	for (uint64_t i = 10; i > 0; i--) {
		assert_int_equal(trp__run_ring_size(&d), i);
		(void)pop(&d);
	}
	assert_int_equal(trp__run_ring_size(&d), 0);
	trp__run_ring_destroy(&d);
}

/* ENOMEM on growth: push fails, the deque is intact and usable. */
static void test_enomem_on_growth(void **state)
{
	(void)state;
	struct trp__run_ring d;
	assert_int_equal(trp__run_ring_init(&d, 1), 0); /* 2 slots */
	push(&d, 0);
	push(&d, 1);
	trp__alloc_fail_nth(1);
	assert_int_equal(trp__run_ring_push_owner(&d, it(2)), TRP_ENOMEM);
	assert_int_equal(trp__run_ring_size(&d), 2);
	/* the failure disarmed itself: the next push grows */
	push(&d, 2);
	push(&d, 3);
	assert_int_equal(trp__run_ring_size(&d), 4);
	for (uint64_t i = 0; i < 4; i++)
		assert_int_equal(pop(&d), i);
	assert_null(trp__run_ring_pop_owner(&d));

	/* again with a wrapped live range and a bigger ring */
	uint64_t in = 10, out = 10;
	for (int k = 0; k < 3; k++)
		push(&d, in++);
	assert_int_equal(pop(&d), out++);
	while (trp__run_ring_size(&d) < 4)
		push(&d, in++);
	trp__alloc_fail_nth(1);
	assert_int_equal(trp__run_ring_push_owner(&d, it(in)), TRP_ENOMEM);
	/* a failed push leaves no trace: nothing added, order kept */
	assert_int_equal(trp__run_ring_size(&d), 4);
	push(&d, in++);
	while (out < in)
		assert_int_equal(pop(&d), out++);
	assert_null(trp__run_ring_pop_owner(&d));
	trp__run_ring_destroy(&d);
}

static void test_enomem_on_init(void **state)
{
	(void)state;
	struct trp__run_ring d;
	trp__alloc_fail_nth(1);
	assert_int_equal(trp__run_ring_init(&d, 4), TRP_ENOMEM);
	assert_int_equal(trp__run_ring_init(&d, 4), 0);
	trp__run_ring_destroy(&d);
}

/* Items still queued at destroy are dropped (no leak under ASan). */
static void test_destroy_non_empty(void **state)
{
	(void)state;
	struct trp__run_ring d;
	assert_int_equal(trp__run_ring_init(&d, 1), 0);
	for (uint64_t i = 0; i < 100; i++)
		push(&d, i);
	trp__run_ring_destroy(&d);
}

/* ---------------------------------------------------------------------- */
/* trp__chase_lev                                                               */

/* The owner takes the newest, steal the oldest; both across growth and
 * with the live range wrapped around the ring. */
static void test_lifo_order(void **state)
{
	(void)state;
	struct trp__chase_lev q;
	assert_int_equal(trp__chase_lev_init(&q, 1), 0); /* 2 slots */
	assert_null(trp__chase_lev_pop_owner(&q));
	assert_null(trp__chase_lev_steal(&q));
	assert_int_equal(trp__chase_lev_size(&q), 0);
	/* wrap: positions advance at top through steals */
	for (uint64_t i = 0; i < 5; i++) {
		assert_int_equal(trp__chase_lev_push_owner(&q, it(i)), 0);
		assert_int_equal(val(trp__chase_lev_steal(&q)), i);
	}
	for (uint64_t i = 0; i < 10; i++) { /* grows 2 -> 4 -> 8 -> 16 */
		assert_int_equal(trp__chase_lev_push_owner(&q, it(i)), 0);
		assert_int_equal(trp__chase_lev_size(&q), i + 1);
	}
	assert_int_equal(val(trp__chase_lev_steal(&q)), 0);
	assert_int_equal(val(trp__chase_lev_steal(&q)), 1);
	assert_int_equal(val(trp__chase_lev_pop_owner(&q)), 9);
	assert_int_equal(val(trp__chase_lev_pop_owner(&q)), 8);
	assert_int_equal(trp__chase_lev_push_owner(&q, it(100)), 0);
	assert_int_equal(val(trp__chase_lev_pop_owner(&q)), 100);
	for (uint64_t i = 7; i >= 3; i--)
		assert_int_equal(val(trp__chase_lev_pop_owner(&q)), i);
	/* the last item goes through the claim, and both ends see empty */
	assert_int_equal(trp__chase_lev_size(&q), 1);
	assert_int_equal(val(trp__chase_lev_pop_owner(&q)), 2);
	assert_null(trp__chase_lev_pop_owner(&q));
	assert_null(trp__chase_lev_steal(&q));
	assert_int_equal(trp__chase_lev_size(&q), 0);
	/* usable after running empty */
	assert_int_equal(trp__chase_lev_push_owner(&q, it(7)), 0);
	assert_int_equal(val(trp__chase_lev_steal(&q)), 7);
	assert_null(trp__chase_lev_pop_owner(&q));
	trp__chase_lev_destroy(&q);
}

/* ENOMEM on growth: push fails, the queue is intact and usable; queued
 * items are dropped at destroy (no leak under ASan). */
static void test_lifo_enomem(void **state)
{
	(void)state;
	struct trp__chase_lev q;
	trp__alloc_fail_nth(1);
	assert_int_equal(trp__chase_lev_init(&q, 1), TRP_ENOMEM);
	assert_int_equal(trp__chase_lev_init(&q, 1), 0);
	assert_int_equal(trp__chase_lev_push_owner(&q, it(0)), 0);
	assert_int_equal(trp__chase_lev_push_owner(&q, it(1)), 0);
	trp__alloc_fail_nth(1);
	assert_int_equal(trp__chase_lev_push_owner(&q, it(2)), TRP_ENOMEM);
	assert_int_equal(trp__chase_lev_size(&q), 2);
	assert_int_equal(trp__chase_lev_push_owner(&q, it(2)), 0);
	assert_int_equal(val(trp__chase_lev_pop_owner(&q)), 2);
	assert_int_equal(val(trp__chase_lev_steal(&q)), 0);
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(trp__chase_lev_push_owner(&q, it(i)), 0);
	trp__chase_lev_destroy(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_growth_keeps_order),
		cmocka_unit_test(test_growth_wrapped),
		cmocka_unit_test(test_steal_half),
		cmocka_unit_test(test_steal_empty_and_min_surplus),
		cmocka_unit_test(test_steal_bounded_by_thief_room),
		cmocka_unit_test(test_steal_max),
		cmocka_unit_test(test_steal_after_growth),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_enomem_on_growth),
		cmocka_unit_test(test_enomem_on_init),
		cmocka_unit_test(test_destroy_non_empty),
		cmocka_unit_test(test_lifo_order),
		cmocka_unit_test(test_lifo_enomem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
