/*
 * tests/api/timer.c - delayed and periodic sends (troupe/timer.h) as a user
 * sees them: trp_send_after and every error it names (NULL runtime or
 * actor, negative or overflowing delay and period, data NULL with len > 0,
 * too large), a one-shot firing once and not before its delay (liveness
 * bound generous: 2 s), its payload copied at the call, trp_timer_fired,
 * deadlines in order, periodic timers firing repeatedly until cancelled
 * (also from the receiving behaviour), cancel before firing (0, never
 * fires), after firing (TRP_ENOENT), twice (TRP_ENOENT), timers to an
 * actor that stopped (one dead letter via the runtime's hook, counted so
 * that sent == processed + dead_lettered, and the timer ends: a periodic
 * one is not re-armed), timers to a
 * thread actor, a handle released before firing (still fires) or never
 * taken (NULL out), and runtime destroy with timers pending (no firing
 * after it, handles stay valid, no leak under ASan).
 *
 * Behaviours never call the checks (they longjmp): they record what they
 * saw, and the test thread asserts afterwards.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>

#include "api_util.h"

#define MS 1000000LL
/* "It fired": a liveness bound, not a precision claim. */
#define FIRE_BOUND_NS (2 * SEC)

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* Dead letters, and by reason (api_util.h). */
static struct api_dead_letters dead_letters;

static trp_runtime_t *make_rt(uint32_t workers)
{
	return api_runtime_new(workers, &dead_letters);
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / SEC), (long)(ns % SEC) };
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Waits until *v >= want, at most @bound_ns; true if reached. */
static bool wait_for_within(atomic_long *v, long want, int64_t bound_ns)
{
	int64_t deadline = now_ns() + bound_ns;
	while (atomic_load(v) < want) {
		if (now_ns() > deadline)
			return false;
		sleep_ns(100 * 1000);
	}
	return true;
}

/* What the receiving actor saw. */
#define LOG_MAX 64
static struct {
	atomic_long got;
	atomic_llong first_at; /* now_ns() of the first message */
	atomic_uint types[LOG_MAX];
	atomic_int bad_payload;
	atomic_int cancel_at; /* cancel the timer at this count */
	_Atomic(trp_timer_t *) to_cancel;
	atomic_int cancel_rc;
	atomic_int cancel2_rc;
} seen;

static unsigned char expect[256];
static atomic_size_t expect_len;

static void seen_reset(void)
{
	atomic_store(&seen.got, 0);
	atomic_store(&seen.first_at, 0);
	for (int i = 0; i < LOG_MAX; i++)
		atomic_store(&seen.types[i], 0);
	atomic_store(&seen.bad_payload, 0);
	atomic_store(&seen.cancel_at, 0);
	atomic_store(&seen.to_cancel, NULL);
	atomic_store(&seen.cancel_rc, 12345);
	atomic_store(&seen.cancel2_rc, 12345);
	atomic_store(&expect_len, 0);
}

static void receiver(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	long n = atomic_fetch_add(&seen.got, 1);
	if (n == 0)
		atomic_store(&seen.first_at, now_ns());
	if (n < LOG_MAX)
		atomic_store(&seen.types[n], msg->type);
	size_t len = atomic_load(&expect_len);
	if (msg->status != 0 || msg->size != len ||
	    (len > 0 &&
	     (msg->data == NULL || memcmp(msg->data, expect, len) != 0)))
		atomic_store(&seen.bad_payload, 1);
	if (atomic_load(&seen.cancel_at) == n + 1) {
		trp_timer_t *t = atomic_load(&seen.to_cancel);
		atomic_store(&seen.cancel_rc, trp_timer_cancel(t));
		atomic_store(&seen.cancel2_rc, trp_timer_cancel(t));
	}
}

static trp_actor_t *spawn_receiver(trp_runtime_t *rt)
{
	trp_actor_def_t def = { .behavior = receiver };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));
	assert_non_null(a);
	return a;
}

static trp_timer_t *after(trp_runtime_t *rt, trp_actor_t *to, int64_t delay,
			  int64_t period, uint32_t type)
{
	trp_timer_t *t = NULL;
	CHECK_OK(trp_send_after(rt, to, delay, period, type, NULL, 0, &t));
	assert_non_null(t);
	return t;
}

/* ------------------------------------------------------------------ */
/* errors                                                              */

static void test_errors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_actor_t *a = spawn_receiver(rt);
	trp_timer_t *const poison = (trp_timer_t *)(uintptr_t)0x1;
	trp_timer_t *t = poison;
	uint32_t x = 1;
	seen_reset();

	assert_int_equal(trp_send_after(NULL, a, 0, 0, 1, &x, sizeof x, &t),
			 TRP_EINVAL);
	assert_int_equal(trp_send_after(rt, NULL, 0, 0, 1, &x, sizeof x, &t),
			 TRP_EINVAL);
	assert_int_equal(trp_send_after(rt, a, -1, 0, 1, &x, sizeof x, &t),
			 TRP_EINVAL);
	assert_int_equal(trp_send_after(rt, a, INT64_MIN, 0, 1, &x, sizeof x,
					&t),
			 TRP_EINVAL);
	assert_int_equal(trp_send_after(rt, a, 0, -1, 1, &x, sizeof x, &t),
			 TRP_EINVAL);
	assert_int_equal(trp_send_after(rt, a, 0, INT64_MIN, 1, &x, sizeof x,
					&t),
			 TRP_EINVAL);
	/* Overflowing: now + delay does not fit. */
	assert_int_equal(trp_send_after(rt, a, INT64_MAX, 0, 1, &x, sizeof x,
					&t),
			 TRP_EINVAL);
	assert_int_equal(trp_send_after(rt, a, 0, 0, 1, NULL, 4, &t),
			 TRP_EINVAL);
	assert_int_equal(trp_send_after(rt, a, 0, 0, 1, &x, TRP_MSG_MAX + 1,
					&t),
			 TRP_EMSGSIZE);
	/* Without an out pointer too. */
	assert_int_equal(trp_send_after(rt, a, -5, 0, 1, &x, sizeof x, NULL),
			 TRP_EINVAL);
	assert_ptr_equal(t, poison);
	assert_int_equal(trp_timer_cancel(NULL), TRP_EINVAL);

	/* None of them sent anything. */
	sleep_ns(20 * MS);
	settle(rt);
	assert_int_equal(atomic_load(&seen.got), 0);
	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	assert_int_equal(st.sent, 0);

	/* Zero delay, no payload is fine. */
	t = after(rt, a, 0, 0, 3);
	assert_true(wait_for_within(&seen.got, 1, FIRE_BOUND_NS));
	trp_timer_release(t);

	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* one-shot                                                            */

static void test_one_shot(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a = spawn_receiver(rt);
	seen_reset();
	unsigned char buf[100];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = expect[i] = (unsigned char)(i * 13 + 1);
	atomic_store(&expect_len, sizeof buf);

	const int64_t delay = 30 * MS;
	trp_timer_t *t = NULL;
	int64_t t0 = now_ns();
	CHECK_OK(trp_send_after(rt, a, delay, 0, 77, buf, sizeof buf, &t));
	assert_non_null(t);
	/* The payload was copied at the call. */
	memset(buf, 0, sizeof buf);
	assert_true(wait_for_within(&seen.got, 1, FIRE_BOUND_NS));
	int64_t at = atomic_load(&seen.first_at);
	if (at - t0 < delay - 1 * MS)
		fail_msg("fired after %lld ns, delay was %lld ns",
			 (long long)(at - t0), (long long)delay);
	assert_int_equal(trp_timer_fired(t), 1);
	/* Once only. */
	sleep_ns(2 * delay);
	settle(rt);
	assert_int_equal(atomic_load(&seen.got), 1);
	assert_int_equal(atomic_load(&seen.types[0]), 77);
	assert_int_equal(atomic_load(&seen.bad_payload), 0);
	assert_int_equal(trp_timer_fired(t), 1);
	/* Cancel after firing: TRP_ENOENT, twice. */
	assert_int_equal(trp_timer_cancel(t), TRP_ENOENT);
	assert_int_equal(trp_timer_cancel(t), TRP_ENOENT);
	assert_int_equal(trp_timer_fired(t), 1);
	trp_timer_release(t);

	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	assert_int_equal(st.dead_lettered, 0);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* Timers fire in deadline order, not creation order. */
static void test_deadline_order(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_actor_t *a = spawn_receiver(rt);
	seen_reset();
	/* Created 3, 1, 2 with deadlines 100 ms apart, 1, 2, 3. Each
	 * deadline is known within the call's span: a pair whose spans do
	 * not overlap must fire in deadline order (all of them, unless this
	 * thread was preempted for ~100 ms between two calls, as under TSan
	 * on a loaded 2-core machine: then only the pairs still apart). */
	static const int64_t delays[3] = { 300 * MS, 100 * MS, 200 * MS };
	static const uint32_t types[3] = { 3, 1, 2 };
	int64_t lo[4], hi[4]; /* deadline spans, by type */
	trp_timer_t *t[3];
	for (int i = 0; i < 3; i++) {
		lo[types[i]] = now_ns() + delays[i];
		t[i] = after(rt, a, delays[i], 0, types[i]);
		hi[types[i]] = now_ns() + delays[i];
	}
	assert_true(wait_for_within(&seen.got, 3, FIRE_BOUND_NS));
	settle(rt);
	assert_int_equal(atomic_load(&seen.got), 3);
	int pos[4] = { 0 }; /* firing position, by type */
	for (int k = 0; k < 3; k++) {
		uint32_t ty = atomic_load(&seen.types[k]);
		assert_true(ty >= 1 && ty <= 3);
		pos[ty] = k;
	}
	int strict = 0;
	for (uint32_t x = 1; x <= 3; x++)
		for (uint32_t y = 1; y <= 3; y++)
			if (hi[x] < lo[y]) {
				strict++;
				assert_true(pos[x] < pos[y]);
			}
	if (strict < 3)
		printf("  (preempted between calls: %d of 3 pairs checked)\n",
		       strict);
	for (int i = 0; i < 3; i++)
		trp_timer_release(t[i]);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

static void test_cancel_before_firing(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_actor_t *a = spawn_receiver(rt);
	seen_reset();

	/* Far enough ahead that the cancels surely come first. */
	trp_timer_t *t = after(rt, a, 300 * MS, 0, 1);
	trp_timer_t *p = after(rt, a, 300 * MS, 5 * MS, 2);
	CHECK_OK(trp_timer_cancel(t));
	CHECK_OK(trp_timer_cancel(p));
	/* Cancelled before: TRP_ENOENT. */
	assert_int_equal(trp_timer_cancel(t), TRP_ENOENT);
	assert_int_equal(trp_timer_cancel(p), TRP_ENOENT);
	sleep_ns(350 * MS);
	settle(rt);
	assert_int_equal(atomic_load(&seen.got), 0);
	assert_int_equal(trp_timer_fired(t), 0);
	assert_int_equal(trp_timer_fired(p), 0);
	assert_int_equal(trp_timer_cancel(t), TRP_ENOENT);
	trp_timer_release(t);
	trp_timer_release(p);

	/* A cancelled timer leaves the others alone. */
	t = after(rt, a, 300 * MS, 0, 1);
	trp_timer_t *u = after(rt, a, 5 * MS, 0, 2);
	CHECK_OK(trp_timer_cancel(t));
	assert_true(wait_for_within(&seen.got, 1, FIRE_BOUND_NS));
	sleep_ns(30 * MS);
	settle(rt);
	assert_int_equal(atomic_load(&seen.got), 1);
	assert_int_equal(atomic_load(&seen.types[0]), 2);
	assert_int_equal(trp_timer_fired(u), 1);
	trp_timer_release(t);
	trp_timer_release(u);

	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* periodic                                                            */

static void test_periodic(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a = spawn_receiver(rt);
	seen_reset();
	uint32_t v = 0xabcd1234;
	memcpy(expect, &v, sizeof v);
	atomic_store(&expect_len, sizeof v);

	int64_t t0 = now_ns();
	trp_timer_t *t = NULL;
	CHECK_OK(trp_send_after(rt, a, 5 * MS, 10 * MS, 9, &v, sizeof v, &t));
	assert_true(wait_for_within(&seen.got, 3, FIRE_BOUND_NS));
	/* The first came after the delay, the third not before two
	 * periods more. */
	int64_t done = now_ns();
	assert_true(atomic_load(&seen.first_at) - t0 >= 4 * MS);
	assert_true(done - t0 >= 24 * MS);
	assert_true(trp_timer_fired(t) >= 3);

	CHECK_OK(trp_timer_cancel(t));
	long at_cancel = atomic_load(&seen.got);
	uint64_t fired_at_cancel = trp_timer_fired(t);
	sleep_ns(60 * MS);
	settle(rt);
	long after_cancel = atomic_load(&seen.got);
	/* At most one fire was in flight when cancel returned. */
	assert_true(after_cancel <= at_cancel + 1);
	assert_true(trp_timer_fired(t) <= fired_at_cancel + 1);
	/* Every fire reached the live actor, once. */
	assert_int_equal(trp_timer_fired(t), (uint64_t)after_cancel);
	/* And it stays stopped. */
	sleep_ns(40 * MS);
	settle(rt);
	assert_int_equal(atomic_load(&seen.got), after_cancel);
	assert_int_equal(trp_timer_cancel(t), TRP_ENOENT);
	assert_int_equal(atomic_load(&seen.bad_payload), 0);
	for (long i = 0; i < after_cancel && i < LOG_MAX; i++)
		assert_int_equal(atomic_load(&seen.types[i]), 9);
	trp_timer_release(t);

	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* The receiving behaviour cancels its own periodic timer. */
static void test_cancel_from_behaviour(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a = spawn_receiver(rt);
	seen_reset();

	trp_timer_t *t = NULL;
	/* Set what the receiver cancels before the timer can fire. */
	CHECK_OK(trp_send_after(rt, a, 20 * MS, 3 * MS, 4, NULL, 0, &t));
	atomic_store(&seen.to_cancel, t);
	atomic_store(&seen.cancel_at, 4);
	assert_true(wait_for_within(&seen.got, 4, FIRE_BOUND_NS));
	sleep_ns(40 * MS);
	settle(rt);
	assert_int_equal(atomic_load(&seen.cancel_rc), 0);
	assert_int_equal(atomic_load(&seen.cancel2_rc), TRP_ENOENT);
	long n = atomic_load(&seen.got);
	assert_true(n >= 4);
	assert_int_equal(trp_timer_fired(t), (uint64_t)n);
	sleep_ns(30 * MS);
	settle(rt);
	assert_int_equal(atomic_load(&seen.got), n);
	trp_timer_release(t);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* receivers, handles, shutdown                                        */

/* A one-shot timer whose actor stopped before it fired: one dead letter
 * (reason TRP_DEAD_STOPPED), counted as sent too, so the identity holds
 * (before 06b974d the firing was counted as dead-lettered only). */
static void test_stopped_actor_one_shot(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_actor_t *a = spawn_receiver(rt);
	seen_reset();

	/* The close must come before the firing: a preemption longer than
	 * the delay between the two calls (TSan on a loaded machine) would
	 * deliver it to the actor instead; then the run proves nothing and
	 * is repeated. */
	int64_t t0 = now_ns();
	trp_timer_t *t = after(rt, a, 300 * MS, 0, 1);
	CHECK_OK(trp_actor_close(a));
	if (now_ns() - t0 >= 250 * MS) {
		printf("  (preempted for %lld ms between the calls: again)\n",
		       (long long)((now_ns() - t0) / MS));
		trp_timer_release(t);
		trp_actor_release(a);
		CHECK_OK(trp_runtime_destroy(rt));
		test_stopped_actor_one_shot(unused);
		return;
	}
	settle(rt);
	assert_false(trp_actor_alive(a));
	assert_true(wait_for_within(&dead_letters.count, 1, FIRE_BOUND_NS));
	/* It has fired (into dead letters): nothing to cancel. (A cancel
	 * that meets the firing still in progress waits for its outcome.) */
	assert_int_equal(trp_timer_cancel(t), TRP_ENOENT);
	assert_int_equal(trp_timer_fired(t), 1);
	assert_int_equal(atomic_load(&seen.got), 0);
	assert_int_equal(atomic_load(&dead_letters.count), 1);
	assert_int_equal(atomic_load(&dead_letters.by[TRP_DEAD_STOPPED]), 1);
	trp_stats_t st = api_assert_balanced(rt);
	assert_int_equal(st.dead_lettered, 1);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_STOPPED], 1);
	assert_int_equal(st.processed, 0);
	trp_timer_release(t);
	trp_actor_release(a);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_int_equal(atomic_load(&dead_letters.count), 1);
}

/* A periodic timer whose actor stops ends at the first firing that finds
 * the actor stopped: that firing is one dead letter, the timer is not
 * re-armed (before, it fired into dead letters every period until
 * cancelled), and cancelling it afterwards finds nothing to cancel. */
static void test_stopped_actor_periodic(void **unused)
{
	(void)unused;
	const int64_t period = 5 * MS;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a = spawn_receiver(rt);
	seen_reset();

	trp_timer_t *p = after(rt, a, 0, period, 2);
	assert_true(wait_for_within(&seen.got, 3, FIRE_BOUND_NS));
	/* Firings accepted before the close are processed; the first one
	 * after it is a dead letter. */
	CHECK_OK(trp_actor_close(a));
	assert_true(wait_for_within(&dead_letters.count, 1, FIRE_BOUND_NS));
	/* Many periods: a timer still armed would fire again and again. */
	sleep_ns(20 * period);
	settle(rt);
	assert_false(trp_actor_alive(a));
	assert_int_equal(atomic_load(&dead_letters.count), 1);
	assert_int_equal(atomic_load(&dead_letters.by[TRP_DEAD_STOPPED]), 1);
	long got = atomic_load(&seen.got);
	assert_true(got >= 3);
	/* Every firing was processed, but the last: the dead letter. */
	assert_int_equal(trp_timer_fired(p), (uint64_t)got + 1);
	/* Done: not armed any more. */
	assert_int_equal(trp_timer_cancel(p), TRP_ENOENT);
	trp_stats_t st = api_assert_balanced(rt);
	assert_int_equal(st.dead_lettered, 1);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_STOPPED], 1);
	assert_int_equal(st.processed, (uint64_t)got);
	/* And it stays ended. */
	sleep_ns(10 * period);
	assert_int_equal(trp_timer_fired(p), (uint64_t)got + 1);
	assert_int_equal(atomic_load(&dead_letters.count), 1);
	trp_timer_release(p);
	trp_actor_release(a);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_int_equal(atomic_load(&dead_letters.count), 1);
}

/* The runtime holds its own reference: released or never taken, the
 * timer still fires. */
static void test_release_before_firing(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_actor_t *a = spawn_receiver(rt);
	seen_reset();

	/* 200 ms vs 10 ms: the order holds unless this thread is preempted
	 * for 190 ms between the two calls (TSan on a loaded 2-core CI). */
	trp_timer_t *t = after(rt, a, 200 * MS, 0, 1);
	trp_timer_release(t);
	CHECK_OK(trp_send_after(rt, a, 10 * MS, 0, 2, NULL, 0, NULL));
	assert_true(wait_for_within(&seen.got, 2, FIRE_BOUND_NS));
	sleep_ns(30 * MS);
	settle(rt);
	assert_int_equal(atomic_load(&seen.got), 2);
	assert_int_equal(atomic_load(&seen.types[0]), 2);
	assert_int_equal(atomic_load(&seen.types[1]), 1);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* Timers reach thread actors too. */
static atomic_long ta_got;
static atomic_uint ta_type;

static void ta_fn(trp_actor_t *self, void *arg)
{
	(void)arg;
	const trp_msg_t *m = NULL;
	while (trp_recv(self, -1, &m) == 0) {
		atomic_store(&ta_type, m->type);
		atomic_fetch_add(&ta_got, 1);
	}
}

static void test_thread_actor(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_actor_t *ta = NULL;
	atomic_store(&ta_got, 0);
	CHECK_OK(trp_thread_actor_spawn(rt, ta_fn, NULL, &ta));
	trp_timer_t *t = after(rt, ta, 5 * MS, 0, 55);
	assert_true(wait_for_within(&ta_got, 1, FIRE_BOUND_NS));
	assert_int_equal(atomic_load(&ta_type), 55);
	assert_int_equal(trp_timer_cancel(t), TRP_ENOENT);
	trp_timer_release(t);
	CHECK_OK(trp_actor_close(ta));
	CHECK_OK(trp_actor_join(ta, SETTLE_NS));
	assert_int_equal(atomic_load(&ta_got), 1);
	trp_actor_release(ta);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* Destroy with timers pending: no firing after it, held handles stay
 * valid (cancelled by the destroy: TRP_ENOENT), nothing leaks. */
static void test_destroy_pending(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a = spawn_receiver(rt);
	seen_reset();

	trp_timer_t *far = after(rt, a, 10 * SEC, 0, 1);
	trp_timer_t *per = after(rt, a, 0, 1 * MS, 2);
	trp_timer_t *farp = after(rt, a, 10 * SEC, 10 * SEC, 3);
	/* Handles released, timers pending: the runtime frees them. */
	trp_timer_release(after(rt, a, 10 * SEC, 0, 4));
	trp_timer_release(after(rt, a, 0, 2 * MS, 5));
	CHECK_OK(trp_send_after(rt, a, 10 * SEC, 0, 6, expect, 200, NULL));
	assert_true(wait_for_within(&seen.got, 3, FIRE_BOUND_NS));

	(void)api_destroy_balanced(rt);
	uint64_t f_per = trp_timer_fired(per);
	assert_true(f_per >= 1);
	sleep_ns(30 * MS);
	assert_int_equal(trp_timer_fired(per), f_per);
	assert_int_equal(trp_timer_fired(far), 0);
	assert_int_equal(trp_timer_fired(farp), 0);
	assert_int_equal(trp_timer_cancel(far), TRP_ENOENT);
	assert_int_equal(trp_timer_cancel(per), TRP_ENOENT);
	assert_int_equal(trp_timer_cancel(farp), TRP_ENOENT);
	trp_timer_release(far);
	trp_timer_release(per);
	trp_timer_release(farp);
	trp_actor_release(a);
}

/* Many timers created and cancelled from several threads: exactly the
 * ones not cancelled arrive; a runtime that never used a timer. */
struct creator {
	trp_runtime_t *rt;
	trp_actor_t *a;
	int rc;
	long cancelled, enoent;
};

static void *creator_thread(void *arg)
{
	struct creator *c = arg;
	for (int i = 0; i < 500; i++) {
		trp_timer_t *t = NULL;
		int rc = trp_send_after(c->rt, c->a, (i % 5) * 100000, 0, 1,
					NULL, 0, &t);
		if (rc != 0) {
			c->rc = rc;
			return NULL;
		}
		rc = trp_timer_cancel(t);
		if (rc == 0)
			c->cancelled++;
		else if (rc == TRP_ENOENT)
			c->enoent++;
		else
			c->rc = rc;
		trp_timer_release(t);
	}
	return NULL;
}

static void test_many_threads(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a = spawn_receiver(rt);
	seen_reset();
	enum {
		T = 4
	};
	struct creator c[T];
	pthread_t th[T];
	for (int i = 0; i < T; i++) {
		c[i] = (struct creator){ rt, a, 0, 0, 0 };
		assert_int_equal(
			pthread_create(&th[i], NULL, creator_thread, &c[i]), 0);
	}
	long fired = 0;
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		CHECK_OK(c[i].rc);
		assert_int_equal(c[i].cancelled + c[i].enoent, 500);
		fired += c[i].enoent;
	}
	/* Exactly the ones that were not cancelled arrive. */
	assert_true(wait_for_within(&seen.got, fired, FIRE_BOUND_NS));
	sleep_ns(20 * MS);
	settle(rt);
	assert_int_equal(atomic_load(&seen.got), fired);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));

	/* A runtime that never used a timer. */
	rt = make_rt(1);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* The timer thread starts on the first trp_send_after; a destroy right
 * after must not race its start (it read the runtime's timer state after
 * destroy had cleared it: a crash on the timer thread). */
static void test_destroy_right_after_first_timer(void **unused)
{
	(void)unused;
	for (int i = 0; i < 200; i++) {
		trp_runtime_t *rt = make_rt(1);
		trp_actor_t *a = spawn_receiver(rt);
		CHECK_OK(trp_send_after(rt, a, SEC, 0, 1, NULL, 0, NULL));
		trp_actor_release(a);
		(void)api_destroy_balanced(rt);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_one_shot),
		cmocka_unit_test(test_deadline_order),
		cmocka_unit_test(test_cancel_before_firing),
		cmocka_unit_test(test_periodic),
		cmocka_unit_test(test_cancel_from_behaviour),
		cmocka_unit_test(test_stopped_actor_one_shot),
		cmocka_unit_test(test_stopped_actor_periodic),
		cmocka_unit_test(test_release_before_firing),
		cmocka_unit_test(test_thread_actor),
		cmocka_unit_test(test_destroy_pending),
		cmocka_unit_test(test_many_threads),
		cmocka_unit_test(test_destroy_right_after_first_timer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
