/*
 * tests/unit/alloc.c - core/alloc.h: the allocation functions, overflow in
 * calloc, and the failure-injection hook (trp__alloc_fail_nth fails
 * exactly the k-th attempt, then disarms; attempts are counted while it
 * is armed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "alloc.h"

static int teardown(void **state)
{
	(void)state;
	trp__alloc_fail_nth(0);
	return 0;
}

static void test_alloc_basics(void **state)
{
	(void)state;
	unsigned char *p = trp__alloc(100);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 16, 0);
	memset(p, 0xab, 100);
	trp__free(p, 100);

	/* size 0: a unique, freeable block */
	void *z = trp__alloc(0);
	assert_non_null(z);
	trp__free(z, 0);

	/* size may be passed as 0 */
	p = trp__alloc(4096);
	assert_non_null(p);
	trp__free(p, 0);

	trp__free(NULL, 0); /* no-op */
	trp__free(NULL, 10);
}

static void test_calloc_basics(void **state)
{
	(void)state;
	unsigned char *p = trp__calloc(100, 8);
	assert_non_null(p);
	for (size_t i = 0; i < 800; i++)
		assert_int_equal(p[i], 0);
	trp__free(p, 800);

	void *z = trp__calloc(0, 8);
	assert_non_null(z);
	trp__free(z, 0);
	z = trp__calloc(8, 0);
	assert_non_null(z);
	trp__free(z, 0);
}

static void test_calloc_overflow(void **state)
{
	(void)state;
	assert_null(trp__calloc(SIZE_MAX / 2 + 1, 2));
	assert_null(trp__calloc(2, SIZE_MAX / 2 + 1));
	assert_null(trp__calloc(SIZE_MAX, SIZE_MAX));
	assert_null(trp__calloc((SIZE_MAX >> 4) + 1, 16));
	/* an overflow is not an allocation attempt: an armed failure
	 * stays for the next real attempt */
	trp__alloc_fail_nth(1);
	assert_null(trp__calloc(SIZE_MAX, 2));
	assert_null(trp__alloc(8));
	void *p = trp__calloc(1, 64);
	assert_non_null(p);
	trp__free(p, 64);
}

static void test_aligned(void **state)
{
	(void)state;
	static const size_t aligns[] = { 16, 64, 128, 4096 };
	static const size_t sizes[] = { 0, 1, 63, 64, 65, 1000, 5000 };
	for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++) {
		for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
			unsigned char *p =
				trp__alloc_aligned(aligns[a], sizes[s]);
			assert_non_null(p);
			assert_int_equal((uintptr_t)p % aligns[a], 0);
			if (sizes[s] != 0)
				memset(p, 0x5a, sizes[s]);
			trp__free(p, sizes[s]);
		}
	}
}

static void test_fail_nth_first(void **state)
{
	(void)state;
	trp__alloc_fail_nth(1);
	assert_null(trp__alloc(16));
	/* disarmed after the failure */
	void *p = trp__alloc(16);
	assert_non_null(p);
	trp__free(p, 16);
	p = trp__alloc(16);
	assert_non_null(p);
	trp__free(p, 16);
}

/* Exactly the k-th attempt fails, whichever function makes it. */
static void test_fail_nth_kth(void **state)
{
	(void)state;
	for (uint64_t k = 1; k <= 6; k++) {
		void *blocks[8] = { 0 };
		trp__alloc_fail_nth(k);
		for (uint64_t i = 1; i <= 8; i++) {
			void *p;
			switch (i % 3) {
			case 0:
				p = trp__alloc(32);
				break;
			case 1:
				p = trp__calloc(4, 8);
				break;
			default:
				p = trp__alloc_aligned(64, 32);
				break;
			}
			if (i == k)
				assert_null(p);
			else
				assert_non_null(p);
			blocks[i - 1] = p;
		}
		for (int i = 0; i < 8; i++)
			trp__free(blocks[i], 0);
	}
}

static void test_fail_nth_zero_disarms(void **state)
{
	(void)state;
	trp__alloc_fail_nth(2);
	trp__alloc_fail_nth(0);
	for (int i = 0; i < 4; i++) {
		void *p = trp__alloc(8);
		assert_non_null(p);
		trp__free(p, 8);
	}
	/* re-arming replaces the previous target */
	trp__alloc_fail_nth(1);
	trp__alloc_fail_nth(3);
	void *a = trp__alloc(8);
	void *b = trp__alloc(8);
	void *c = trp__alloc(8);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(c);
	trp__free(a, 8);
	trp__free(b, 8);
}

/* Attempts are counted while armed: a test sizes its failure sweep with
 * them (run the scenario once armed far ahead, read the count). */
static void test_attempts(void **state)
{
	(void)state;
	trp__alloc_fail_nth(1000000);
	uint64_t before = trp__alloc_attempts();
	void *a = trp__alloc(8);
	void *b = trp__calloc(1, 8);
	void *c = trp__alloc_aligned(64, 8);
	assert_int_equal(trp__alloc_attempts(), before + 3);
	trp__free(a, 8);
	trp__free(b, 8);
	trp__free(c, 8);
	/* freeing is not an attempt */
	assert_int_equal(trp__alloc_attempts(), before + 3);

	/* the failing attempt counts too */
	trp__alloc_fail_nth(1);
	before = trp__alloc_attempts();
	assert_null(trp__alloc(8));
	assert_int_equal(trp__alloc_attempts(), before + 1);
	trp__alloc_fail_nth(0);

	/* sweep: fail each attempt of a 3-allocation scenario in turn */
	trp__alloc_fail_nth(1000000);
	before = trp__alloc_attempts();
	for (int i = 0; i < 3; i++)
		trp__free(trp__alloc(8), 8);
	uint64_t sites = trp__alloc_attempts() - before;
	assert_int_equal(sites, 3);
	for (uint64_t k = 1; k <= sites; k++) {
		trp__alloc_fail_nth(k);
		int failed = 0;
		for (int i = 0; i < 3; i++) {
			void *p = trp__alloc(8);
			failed += p == NULL;
			trp__free(p, 8);
		}
		assert_int_equal(failed, 1);
	}
	trp__alloc_fail_nth(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_alloc_basics, teardown),
		cmocka_unit_test_teardown(test_calloc_basics, teardown),
		cmocka_unit_test_teardown(test_calloc_overflow, teardown),
		cmocka_unit_test_teardown(test_aligned, teardown),
		cmocka_unit_test_teardown(test_fail_nth_first, teardown),
		cmocka_unit_test_teardown(test_fail_nth_kth, teardown),
		cmocka_unit_test_teardown(test_fail_nth_zero_disarms, teardown),
		cmocka_unit_test_teardown(test_attempts, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
