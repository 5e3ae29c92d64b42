/*
 * tests/unit/epoch.c - core/epoch.h: a grace period waits for every read
 * section that began before it, and only for those; sections nest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "epoch.h"

static atomic_int reader_in, reader_may_leave, reader_left, sync_done;

static void pause_ms(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

static void *reader(void *arg)
{
	(void)arg;
	assert_int_equal(trp__epoch_enter(), 0);
	assert_int_equal(trp__epoch_enter(), 0); /* nested */
	trp__epoch_exit();
	atomic_store(&reader_in, 1);
	while (!atomic_load(&reader_may_leave))
		pause_ms(1);
	atomic_store(&reader_left, 1);
	trp__epoch_exit();
	return NULL;
}

static void *syncer(void *arg)
{
	(void)arg;
	trp__epoch_synchronize();
	/* the reader's section began before us: it must have ended */
	assert_int_equal(atomic_load(&reader_left), 1);
	atomic_store(&sync_done, 1);
	return NULL;
}

static void test_grace_period_waits_for_reader(void **state)
{
	(void)state;
	pthread_t r, s;
	assert_int_equal(pthread_create(&r, NULL, reader, NULL), 0);
	while (!atomic_load(&reader_in))
		pause_ms(1);
	assert_int_equal(pthread_create(&s, NULL, syncer, NULL), 0);
	pause_ms(50);
	/* still inside the section: the grace period cannot have ended */
	assert_int_equal(atomic_load(&sync_done), 0);
	atomic_store(&reader_may_leave, 1);
	pthread_join(s, NULL);
	pthread_join(r, NULL);
	assert_int_equal(atomic_load(&sync_done), 1);
}

static void test_no_reader_no_wait(void **state)
{
	(void)state;
	/* sections that ended, on this and other threads, do not hold it */
	assert_int_equal(trp__epoch_enter(), 0);
	trp__epoch_exit();
	for (int i = 0; i < 1000; i++)
		trp__epoch_synchronize();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grace_period_waits_for_reader),
		cmocka_unit_test(test_no_reader_no_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
