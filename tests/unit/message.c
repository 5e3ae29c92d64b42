/*
 * tests/unit/message.c - message blocks and the per-worker pool
 * (core/message.h): inline payload sizes, owned payloads, LIFO reuse of the
 * freeing worker's blocks, shedding surplus blocks in batches to another
 * worker and taking them back, and teardown without leaks (ASan).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "message.h"

static int owned_frees;

static void count_free(void *p)
{
	owned_frees++;
	free(p);
}

static void test_sizes(void **state)
{
	(void)state;
	size_t sizes[] = { 0, 1, TRP__MSG_INLINE_SMALL,
			   TRP__MSG_INLINE_SMALL + 1, 4096 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct trp__msg *m = trp__msg_alloc(NULL, sizes[i]);
		assert_non_null(m);
		assert_int_equal(m->hold, TRP__HOLD_INLINE);
		assert_true(m->block >= sizeof *m + sizes[i]);
		assert_int_equal((uintptr_t)m->inline_data % 16, 0);
		memset(m->inline_data, 0xab, sizes[i]);
		trp__msg_free(NULL, m);
	}
	assert_null(trp__msg_alloc(NULL, TRP_MSG_MAX + 1));
}

static void test_owned(void **state)
{
	(void)state;
	owned_frees = 0;
	struct trp__msg *m = trp__msg_alloc(NULL, 0);
	assert_non_null(m);
	m->hold = TRP__HOLD_OWNED;
	m->pub.data = malloc(100);
	m->u.free_fn = count_free;
	trp__msg_free(NULL, m);
	assert_int_equal(owned_frees, 1);

	/* free_block leaves the payload to the caller */
	void *buf = malloc(10);
	m = trp__msg_alloc(NULL, 0);
	m->hold = TRP__HOLD_OWNED;
	m->pub.data = buf;
	m->u.free_fn = count_free;
	trp__msg_free_block(NULL, m);
	assert_int_equal(owned_frees, 1);
	free(buf);
}

#if !defined(TRP_NO_POOL)
static struct trp__msg_pool pool0, pool1;
static struct trp__msg_pool *all[2] = { &pool0, &pool1 };

static void pools_init(void)
{
	assert_int_equal(trp__msg_pool_init(&pool0, 0, 2, all), 0);
	assert_int_equal(trp__msg_pool_init(&pool1, 1, 2, all), 0);
}

static void pools_destroy(void)
{
	trp__msg_pool_destroy(&pool0);
	trp__msg_pool_destroy(&pool1);
}

static void test_pool_lifo_reuse(void **state)
{
	(void)state;
	pools_init();
	struct trp__msg *a = trp__msg_alloc(&pool0, 8);
	assert_non_null(a);
	assert_true(a->pooled);
	trp__msg_free(&pool0, a);
	/* the block just freed is the next one handed out (hot in cache) */
	struct trp__msg *b = trp__msg_alloc(&pool0, 8);
	assert_ptr_equal(a, b);
	/* a block freed by the other worker is kept by that worker */
	trp__msg_free(&pool1, b);
	assert_int_equal(pool1.n_free, 1);
	struct trp__msg *c = trp__msg_alloc(&pool1, 0);
	assert_ptr_equal(b, c);
	trp__msg_free(&pool1, c);
	/* larger payloads bypass the pool */
	struct trp__msg *big = trp__msg_alloc(&pool0, 1000);
	assert_false(big->pooled);
	trp__msg_free(&pool0, big);
	pools_destroy();
}

static void test_pool_shed_and_take(void **state)
{
	(void)state;
	pools_init();
	enum {
		N = 4096 + 64 * 3 + 5
	};
	static struct trp__msg *m[N];
	for (int i = 0; i < N; i++) {
		m[i] = trp__msg_alloc(&pool0, 8);
		assert_non_null(m[i]);
	}
	/* worker 0 frees more than it keeps: surplus goes to worker 1 in
	 * batches of 64, the remainder waits in the outgoing batch */
	for (int i = 0; i < N; i++)
		trp__msg_free(&pool0, m[i]);
	assert_int_equal(pool0.n_free, 4096);
	assert_non_null(pool0.out);
	assert_int_equal(pool0.out->n, 5);
	assert_non_null(atomic_load(&pool1.returned));
	/* worker 1 has nothing of its own: it takes the batches */
	for (int i = 0; i < 64 * 3; i++) {
		struct trp__msg *x = trp__msg_alloc(&pool1, 8);
		assert_non_null(x);
		m[i] = x;
	}
	assert_null(atomic_load(&pool1.returned));
	assert_int_equal(pool1.n_free, 0);
	for (int i = 0; i < 64 * 3; i++)
		trp__msg_free(&pool1, m[i]);
	assert_int_equal(pool1.n_free, 64 * 3);
	pools_destroy(); /* ASan/LSan: everything cached is freed */
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_owned),
#if !defined(TRP_NO_POOL)
		cmocka_unit_test(test_pool_lifo_reuse),
		cmocka_unit_test(test_pool_shed_and_take),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
