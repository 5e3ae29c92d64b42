/*
 * tests/api/runtime.c - the runtime's public contract (troupe/runtime.h and
 * troupe/error.h) as a user sees it: creation and its errors, worker counts,
 * wait_idle on idle and busy runtimes and from the wrong thread, destroy
 * from the wrong thread and twice, calls after destroy while a handle keeps
 * the runtime struct alive, destroy_ex's final counters, exact counters
 * (also when several workers spawn and stop actors at once, and while
 * another thread reads them during destroy), pinned workers, batch = 1, and
 * the error table.
 *
 * Behaviours never call the checks (they longjmp): they record what they
 * saw in atomics, and the test thread asserts after trp_runtime_wait_idle().
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>

#include "api_util.h"

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static trp_runtime_t *make_rt(uint32_t workers)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt = NULL;
	cfg.workers = workers;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	assert_non_null(rt);
	return rt;
}

/* A behaviour that counts into the long its state points to. */
static void count_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)msg;
	atomic_fetch_add((atomic_long *)state, 1);
}

static trp_actor_t *spawn_counter(trp_runtime_t *rt, atomic_long *counter)
{
	trp_actor_def_t def = { .behavior = count_behavior };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, counter, &a));
	assert_non_null(a);
	return a;
}

/* Sends @n empty messages to a fresh counter actor; checks all arrive. */
static void run_small_scenario(trp_runtime_t *rt, long n)
{
	atomic_long got = 0;
	trp_actor_t *a = spawn_counter(rt, &got);
	for (long i = 0; i < n; i++)
		CHECK_OK(trp_send(a, 1, &i, sizeof i));
	settle(rt);
	assert_int_equal(atomic_load(&got), n);
	trp_actor_release(a);
}

/* ------------------------------------------------------------------ */
/* creation                                                            */

static void test_create_defaults(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = NULL;
	CHECK_OK(trp_runtime_create(NULL, &rt));
	assert_non_null(rt);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus > 256)
		cpus = 256;
	assert_int_equal(trp_runtime_workers(rt), (uint32_t)cpus);
	run_small_scenario(rt, 100);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));

	/* TRP_CONFIG_INIT means the same as NULL. */
	trp_config_t cfg = TRP_CONFIG_INIT;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	assert_int_equal(trp_runtime_workers(rt), (uint32_t)cpus);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

static void test_create_workers(void **unused)
{
	(void)unused;
	for (uint32_t n = 1; n <= 3; n++) {
		trp_runtime_t *rt = make_rt(n);
		assert_int_equal(trp_runtime_workers(rt), n);
		run_small_scenario(rt, 1000);
		trp_stats_t st;
		CHECK_OK(trp_runtime_stats(rt, &st));
		assert_int_equal(st.spawned, 1);
		assert_int_equal(st.sent, 1000);
		assert_int_equal(st.processed, 1000);
		(void)api_assert_balanced(rt);
		CHECK_OK(trp_runtime_destroy(rt));
	}
}

static void test_create_errors(void **unused)
{
	(void)unused;
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *sentinel = (trp_runtime_t *)(uintptr_t)0x1234;
	trp_runtime_t *rt = sentinel;

	cfg.version = TRP_CONFIG_VERSION + 1;
	assert_int_equal(trp_runtime_create(&cfg, &rt), TRP_EVERSION);
	assert_ptr_equal(rt, sentinel); /* untouched on error */
	cfg.version = 0;
	assert_int_equal(trp_runtime_create(&cfg, &rt), TRP_EVERSION);
	assert_ptr_equal(rt, sentinel);

	cfg = (trp_config_t)TRP_CONFIG_INIT;
	assert_int_equal(trp_runtime_create(&cfg, NULL), TRP_EINVAL);
	assert_int_equal(trp_runtime_create(NULL, NULL), TRP_EINVAL);

	cfg.workers = 257;
	assert_int_equal(trp_runtime_create(&cfg, &rt), TRP_EINVAL);
	assert_ptr_equal(rt, sentinel);
	cfg.workers = UINT32_MAX;
	assert_int_equal(trp_runtime_create(&cfg, &rt), TRP_EINVAL);
	assert_ptr_equal(rt, sentinel);

	/* NULL runtimes elsewhere. */
	trp_stats_t st;
	assert_int_equal(trp_runtime_wait_idle(NULL, 0), TRP_EINVAL);
	assert_int_equal(trp_runtime_destroy(NULL), TRP_EINVAL);
	assert_int_equal(trp_runtime_stats(NULL, &st), TRP_EINVAL);
	assert_int_equal(trp_runtime_workers(NULL), 0);
	rt = make_rt(1);
	assert_int_equal(trp_runtime_stats(rt, NULL), TRP_EINVAL);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* wait_idle                                                           */

static void test_wait_idle_idle(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	int64_t t0 = now_ns();
	/* Returns as soon as the workers park: well before the timeout. */
	CHECK_OK(trp_runtime_wait_idle(rt, 5 * SEC));
	CHECK_OK(trp_runtime_wait_idle(rt, -1));
	/* Idle and nothing happened since: a single poll says so, however
	 * often, also while parked workers look again after their timed
	 * parks (park.c: they do so without counting as active). */
	int64_t until = now_ns() + SEC / 5; /* past a few timed parks */
	while (now_ns() < until)
		CHECK_OK(trp_runtime_wait_idle(rt, 0));
	assert_true(now_ns() - t0 < 5 * SEC);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));

	/* idle_spins = 0: workers park at once. */
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.idle_spins = 0;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	CHECK_OK(trp_runtime_wait_idle(rt, 5 * SEC));
	run_small_scenario(rt, 10);
	CHECK_OK(trp_runtime_wait_idle(rt, 0));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/*
 * Idle is a fact about work, not about parking: with workers that poll
 * ~forever before they park (idle_spins near UINT32_MAX, minutes of
 * polling), wait_idle still returns once the work is done. It used to wait
 * for the workers to park and time out.
 */
static void test_wait_idle_long_spins(void **unused)
{
	(void)unused;
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	cfg.idle_spins = UINT32_MAX - 1;
	trp_runtime_t *rt;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	for (int round = 0; round < 3; round++) {
		run_small_scenario(rt, 10);
		CHECK_OK(trp_runtime_wait_idle(rt, 5 * SEC));
		/* and again with nothing new: at once */
		CHECK_OK(trp_runtime_wait_idle(rt, 2 * SEC));
	}
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* The busy actor: sends itself a message each time until told to stop. */
static atomic_int busy_stop;
static atomic_long busy_turns;
static atomic_long busy_sent;

static void busy_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	(void)msg;
	atomic_fetch_add(&busy_turns, 1);
	if (atomic_load(&busy_stop))
		return;
	int rc = trp_send(self, 7, NULL, 0);
	if (rc != 0)
		note_error(rc);
	else
		atomic_fetch_add(&busy_sent, 1);
}

static void test_wait_idle_busy(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_def_t def = { .behavior = busy_behavior };
	trp_actor_t *a;
	atomic_store(&busy_stop, 0);
	atomic_store(&busy_turns, 0);
	atomic_store(&busy_sent, 0);
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));
	CHECK_OK(trp_send(a, 7, NULL, 0));
	/* Make sure the loop runs (not merely queued). */
	assert_true(wait_for(&busy_turns, 100));

	assert_int_equal(trp_runtime_wait_idle(rt, 0), TRP_ETIMEDOUT);
	int64_t t0 = now_ns();
	assert_int_equal(trp_runtime_wait_idle(rt, 20 * 1000 * 1000),
			 TRP_ETIMEDOUT);
	/* It waited (roughly) its timeout, not forever. */
	int64_t waited = now_ns() - t0;
	assert_true(waited >= 15 * 1000 * 1000);
	assert_true(waited < 5 * SEC);
	assert_int_equal(trp_runtime_wait_idle(rt, 0), TRP_ETIMEDOUT);

	atomic_store(&busy_stop, 1);
	settle(rt);
	assert_no_behaviour_errors();
	/* Every self-send was processed: turns == 1 (ours) + self-sends. */
	assert_int_equal(atomic_load(&busy_turns), atomic_load(&busy_sent) + 1);
	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	assert_int_equal(st.sent, (uint64_t)atomic_load(&busy_sent) + 1);
	assert_int_equal(st.processed, st.sent);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A behaviour (and a start hook) that try to wait on / destroy their own
 * runtime, and an outside runtime's, from a worker. */
static atomic_int inside_wait_rc, inside_wait_forever_rc, inside_destroy_rc;
static atomic_int start_wait_rc, start_destroy_rc;
static atomic_int stop_wait_rc, stop_destroy_rc;
static atomic_long inside_calls;

static void deadlk_start(trp_actor_t *self, void *state)
{
	(void)state;
	trp_runtime_t *rt = trp_actor_runtime(self);
	atomic_store(&start_wait_rc, trp_runtime_wait_idle(rt, 0));
	atomic_store(&start_destroy_rc, trp_runtime_destroy(rt));
}

static void deadlk_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	(void)state;
	(void)msg;
	trp_runtime_t *rt = trp_actor_runtime(self);
	atomic_store(&inside_wait_rc, trp_runtime_wait_idle(rt, 0));
	atomic_store(&inside_wait_forever_rc, trp_runtime_wait_idle(rt, -1));
	atomic_store(&inside_destroy_rc, trp_runtime_destroy(rt));
	atomic_fetch_add(&inside_calls, 1);
}

static void deadlk_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)state;
	if (why != TRP_STOP_CLOSED)
		return;
	trp_runtime_t *rt = trp_actor_runtime(self);
	atomic_store(&stop_wait_rc, trp_runtime_wait_idle(rt, 0));
	atomic_store(&stop_destroy_rc, trp_runtime_destroy(rt));
}

static void test_deadlk_inside_behaviour(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_def_t def = { .behavior = deadlk_behavior,
				.start = deadlk_start,
				.stop = deadlk_stop };
	trp_actor_t *a;
	atomic_store(&inside_calls, 0);
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));
	CHECK_OK(trp_send(a, 1, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&inside_calls), 1);
	assert_int_equal(atomic_load(&inside_wait_rc), TRP_EDEADLK);
	assert_int_equal(atomic_load(&inside_wait_forever_rc), TRP_EDEADLK);
	assert_int_equal(atomic_load(&inside_destroy_rc), TRP_EDEADLK);
	assert_int_equal(atomic_load(&start_wait_rc), TRP_EDEADLK);
	assert_int_equal(atomic_load(&start_destroy_rc), TRP_EDEADLK);

	/* The refused destroy changed nothing: the runtime still works. */
	CHECK_OK(trp_send(a, 1, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&inside_calls), 2);
	run_small_scenario(rt, 10);

	/* The stop hook of a closed actor runs on a worker, too. */
	CHECK_OK(trp_actor_close(a));
	settle(rt);
	assert_false(trp_actor_alive(a));
	assert_int_equal(atomic_load(&stop_wait_rc), TRP_EDEADLK);
	assert_int_equal(atomic_load(&stop_destroy_rc), TRP_EDEADLK);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A worker of runtime X is an ordinary outside thread for runtime Y. */
static trp_runtime_t *other_rt;
static atomic_int cross_wait_rc = 1;

static void cross_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	atomic_store(&cross_wait_rc, trp_runtime_wait_idle(other_rt, 5 * SEC));
}

static void test_wait_idle_other_runtime_from_worker(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	other_rt = make_rt(1);
	trp_actor_def_t def = { .behavior = cross_behavior };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));
	CHECK_OK(trp_send(a, 1, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&cross_wait_rc), 0);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	(void)api_assert_balanced(other_rt);
	CHECK_OK(trp_runtime_destroy(other_rt));
}

/* ------------------------------------------------------------------ */
/* destroy                                                             */

static atomic_int freed_bufs;
static void counting_free(void *p)
{
	atomic_fetch_add(&freed_bufs, 1);
	free(p);
}

static void test_calls_after_destroy(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	atomic_long got = 0;
	trp_actor_t *a = spawn_counter(rt, &got);
	trp_actor_t *b = spawn_counter(rt, &got);
	CHECK_OK(trp_register(rt, "b", b));
	CHECK_OK(trp_send(a, 1, NULL, 0));
	settle(rt);
	assert_true(trp_actor_alive(a));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));

	/* Our handles keep the runtime struct alive. */
	assert_false(trp_actor_alive(a));
	assert_false(trp_actor_alive(b));
	assert_ptr_equal(trp_actor_runtime(a), rt);
	assert_true(trp_actor_id(a) > 0);
	assert_int_equal(trp_runtime_destroy(rt), TRP_ESHUTDOWN);
	assert_int_equal(trp_runtime_wait_idle(rt, 0), TRP_ESHUTDOWN);

	int rc = trp_send(a, 1, NULL, 0);
	assert_true(rc == TRP_EDEAD || rc == TRP_ESHUTDOWN);
	rc = trp_send(a, 1, "xyz", 3);
	assert_true(rc == TRP_EDEAD || rc == TRP_ESHUTDOWN);
	atomic_store(&freed_bufs, 0);
	void *buf = malloc(32);
	assert_non_null(buf);
	rc = trp_send_owned(a, 1, buf, 32, counting_free);
	assert_true(rc == TRP_EDEAD || rc == TRP_ESHUTDOWN);
	assert_int_equal(atomic_load(&freed_bufs), 0); /* still ours */
	free(buf);
	rc = trp_actor_close(a);
	assert_true(rc == TRP_EDEAD || rc == TRP_ESHUTDOWN);

	trp_actor_def_t def = { .behavior = count_behavior };
	trp_actor_t *c = NULL;
	assert_int_equal(trp_actor_spawn(rt, &def, &got, &c), TRP_ESHUTDOWN);
	assert_null(c);
	trp_actor_t *l = NULL;
	assert_int_equal(trp_lookup(rt, "b", &l), TRP_ESHUTDOWN);
	assert_null(l);
	assert_int_equal(trp_send_named(rt, "b", 1, NULL, 0), TRP_ESHUTDOWN);
	assert_int_equal(trp_register(rt, "a", a), TRP_ESHUTDOWN);
	assert_int_equal(trp_unregister(rt, "b"), TRP_ESHUTDOWN);

	/* Retain/release still balance; the last release frees it all
	 * (ASan checks). */
	assert_ptr_equal(trp_actor_retain(a), a);
	trp_actor_release(a);
	trp_actor_release(b);
	trp_actor_release(a);
	assert_int_equal(atomic_load(&got), 1);
}

/*
 * trp_runtime_destroy_ex: the final counters balance (sent == processed +
 * dead_lettered), count what destroy itself dead-lettered and stopped, and
 * trp_runtime_stats() through a surviving handle reports the same.
 */
static atomic_int gate_open;
static atomic_long gate_entered;

static void gated_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)msg;
	atomic_fetch_add((atomic_long *)state, 1);
	atomic_fetch_add(&gate_entered, 1);
	int64_t deadline = now_ns() + SETTLE_NS;
	while (!atomic_load(&gate_open) && now_ns() < deadline)
		usleep(50);
}

struct destroy_call {
	trp_runtime_t *rt;
	trp_stats_t final;
	int rc;
};

static void *destroy_ex_thread(void *arg)
{
	struct destroy_call *d = arg;
	d->rc = trp_runtime_destroy_ex(d->rt, &d->final);
	return NULL;
}

static void test_destroy_ex_final_stats(void **unused)
{
	(void)unused;
	/* Quiet runtime: everything processed, nothing dead. */
	trp_runtime_t *rt = make_rt(2);
	atomic_long got = 0;
	trp_actor_t *a = spawn_counter(rt, &got);
	for (int i = 0; i < 100; i++)
		CHECK_OK(trp_send(a, 1, NULL, 0));
	settle(rt);
	trp_stats_t final;
	memset(&final, 0xFF, sizeof final);
	CHECK_OK(trp_runtime_destroy_ex(rt, &final));
	assert_int_equal(final.sent, 100);
	assert_int_equal(final.processed, 100);
	assert_int_equal(final.dead_lettered, 0);
	assert_int_equal(final.spawned, 1);
	assert_int_equal(final.stopped, 1); /* stopped by destroy */
	/* Our handle outlives the runtime: the counters stay readable. */
	trp_stats_t after;
	CHECK_OK(trp_runtime_stats(rt, &after));
	assert_int_equal(after.sent, final.sent);
	assert_int_equal(after.processed, final.processed);
	assert_int_equal(after.dead_lettered, final.dead_lettered);
	assert_int_equal(after.spawned, final.spawned);
	assert_int_equal(after.stopped, final.stopped);
	assert_int_equal(trp_runtime_destroy_ex(rt, &final), TRP_ESHUTDOWN);
	trp_actor_release(a);
	assert_int_equal(trp_runtime_destroy_ex(NULL, &final), TRP_EINVAL);

	/*
	 * Busy runtime (one worker held in a behaviour, 9 more queued):
	 * destroy finishes that turn, dead-letters the 9.
	 */
	rt = make_rt(1);
	got = 0;
	atomic_store(&gate_open, 0);
	atomic_store(&gate_entered, 0);
	trp_actor_def_t def = { .behavior = gated_behavior };
	CHECK_OK(trp_actor_spawn(rt, &def, &got, &a));
	CHECK_OK(trp_send(a, 1, NULL, 0));
	assert_true(wait_for(&gate_entered, 1));
	for (int i = 0; i < 9; i++)
		CHECK_OK(trp_send(a, 1, NULL, 0));
	struct destroy_call d = { .rt = rt, .rc = 1 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, destroy_ex_thread, &d), 0);
	int64_t deadline = now_ns() + SETTLE_NS;
	for (;;) { /* until destroy has begun */
		trp_actor_t *x;
		int rc = trp_lookup(rt, "nobody", &x);
		if (rc == TRP_ESHUTDOWN)
			break;
		assert_int_equal(rc, TRP_ENOENT);
		assert_true(now_ns() < deadline);
		usleep(100);
	}
	atomic_store(&gate_open, 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	CHECK_OK(d.rc);
	assert_int_equal(atomic_load(&got), 1);
	assert_int_equal(d.final.sent, 10);
	assert_int_equal(d.final.processed, 1);
	assert_int_equal(d.final.dead_lettered, 9);
	assert_int_equal(d.final.sent,
			 d.final.processed + d.final.dead_lettered);
	CHECK_OK(trp_runtime_stats(rt, &after));
	assert_int_equal(after.sent, 10);
	assert_int_equal(after.processed, 1);
	assert_int_equal(after.dead_lettered, 9);
	trp_actor_release(a);
}

/*
 * trp_runtime_stats() may be called from any thread, and handles keep the
 * runtime struct alive: a monitoring thread that holds a handle and polls
 * the counters while another thread destroys the runtime must never read
 * freed memory (ASan) or race (TSan), and never see more than the final
 * counts (a worker counted twice, once folded and once live).
 */
struct poller {
	trp_runtime_t *rt;
	atomic_int stop;
	atomic_long polls;
	uint64_t max_sent, max_processed;
};

static void *stats_poller(void *arg)
{
	struct poller *p = arg;
	while (!atomic_load(&p->stop)) {
		trp_stats_t st;
		if (trp_runtime_stats(p->rt, &st) == 0) {
			if (st.sent > p->max_sent)
				p->max_sent = st.sent;
			if (st.processed > p->max_processed)
				p->max_processed = st.processed;
		}
		atomic_fetch_add(&p->polls, 1);
	}
	return NULL;
}

/* Sends 4000 small messages to the actor in its state, from a worker
 * (their blocks end up cached in the workers' pools in release builds). */
static void burst_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)msg;
	trp_actor_t *to = *(trp_actor_t **)state;
	for (int i = 0; i < 4000; i++) {
		int rc = trp_send(to, 1, &i, sizeof i);
		if (rc != 0)
			note_error(rc);
	}
}

static void test_stats_concurrent_with_destroy(void **unused)
{
	(void)unused;
	int64_t end = now_ns() + 3 * SEC;
	for (int round = 0; round < 1000 && (round < 20 || now_ns() < end);
	     round++) {
		trp_runtime_t *rt = make_rt(2);
		atomic_long got = 0;
		trp_actor_t *a = spawn_counter(rt, &got);
		trp_actor_def_t bdef = { .behavior = burst_behavior,
					 .state_size = sizeof a };
		trp_actor_t *b;
		CHECK_OK(trp_actor_spawn(rt, &bdef, &a, &b));
		CHECK_OK(trp_send(b, 1, NULL, 0));
		for (int i = 0; i < 1000; i++)
			CHECK_OK(trp_send(a, 1, NULL, 0));
		settle(rt);
		assert_no_behaviour_errors();
		trp_actor_release(b);
		struct poller p = { .rt = rt };
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, stats_poller, &p),
				 0);
		while (atomic_load(&p.polls) < 10)
			sched_yield();
		trp_stats_t final;
		CHECK_OK(trp_runtime_destroy_ex(rt, &final));
		long polls = atomic_load(&p.polls);
		while (atomic_load(&p.polls) < polls + 10)
			sched_yield();
		atomic_store(&p.stop, 1);
		assert_int_equal(pthread_join(th, NULL), 0);
		trp_actor_release(a);
		assert_int_equal(final.sent, 5001);
		assert_int_equal(final.processed, 5001);
		if (p.max_sent > final.sent ||
		    p.max_processed > final.processed)
			fail_msg("round %d: a reader during destroy saw sent "
				 "%llu, processed %llu; final %llu, %llu",
				 round, (unsigned long long)p.max_sent,
				 (unsigned long long)p.max_processed,
				 (unsigned long long) final.sent,
				 (unsigned long long) final.processed);
	}
}

/* destroy with no handle left frees everything at once; with handles it
 * frees the struct with the last one, in either order (ASan checks). */
static void test_destroy_release_orders(void **unused)
{
	(void)unused;
	atomic_long got = 0;
	for (int order = 0; order < 3; order++) {
		trp_runtime_t *rt = make_rt(2);
		trp_actor_t *a = spawn_counter(rt, &got);
		trp_actor_t *b = spawn_counter(rt, &got);
		CHECK_OK(trp_send(a, 1, NULL, 0));
		CHECK_OK(trp_send(b, 1, NULL, 0));
		settle(rt);
		if (order == 0) {
			trp_actor_release(a);
			trp_actor_release(b);
			(void)api_assert_balanced(rt);
			CHECK_OK(trp_runtime_destroy(rt));
		} else if (order == 1) {
			trp_actor_release(a);
			(void)api_assert_balanced(rt);
			CHECK_OK(trp_runtime_destroy(rt));
			trp_actor_release(b);
		} else {
			(void)api_assert_balanced(rt);
			CHECK_OK(trp_runtime_destroy(rt));
			trp_actor_release(b);
			trp_actor_release(a);
		}
	}
	assert_int_equal(atomic_load(&got), 6);
}

/* ------------------------------------------------------------------ */
/* counters                                                            */

/* A forwards each message to B and C (handles in its state). */
struct fwd_state {
	trp_actor_t *to[2];
	atomic_long *count;
};

static void fwd_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	struct fwd_state *s = state;
	atomic_fetch_add(s->count, 1);
	for (int i = 0; i < 2; i++) {
		int rc = trp_send(s->to[i], msg->type, msg->data, msg->size);
		if (rc != 0)
			note_error(rc);
	}
}

static void test_stats_exact(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	atomic_long na = 0, nb = 0, nc = 0;
	trp_actor_t *b = spawn_counter(rt, &nb);
	trp_actor_t *c = spawn_counter(rt, &nc);
	struct fwd_state fs = { { b, c }, &na };
	trp_actor_def_t def = { .behavior = fwd_behavior,
				.state_size = sizeof fs };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, &fs, &a));

	for (int i = 0; i < 50; i++)
		CHECK_OK(trp_send(a, 1, &i, sizeof i));
	for (int i = 0; i < 10; i++)
		CHECK_OK(trp_send(b, 1, &i, sizeof i));
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&na), 50);
	assert_int_equal(atomic_load(&nb), 60);
	assert_int_equal(atomic_load(&nc), 50);

	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	assert_int_equal(st.spawned, 3);
	assert_int_equal(st.sent, 50 + 10 + 100);
	assert_int_equal(st.processed, 160);
	assert_int_equal(st.dead_lettered, 0);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.stopped, 0);

	/* Refused sends count nowhere. */
	assert_int_equal(trp_send(NULL, 1, NULL, 0), TRP_EINVAL);
	CHECK_OK(trp_actor_close(c));
	settle(rt);
	assert_int_equal(trp_send(c, 1, NULL, 0), TRP_EDEAD);
	CHECK_OK(trp_runtime_stats(rt, &st));
	assert_int_equal(st.sent, 160);
	assert_int_equal(st.processed, 160);
	assert_int_equal(st.stopped, 1);
	assert_int_equal(st.spawned, 3);

	trp_actor_release(a);
	trp_actor_release(b);
	trp_actor_release(c);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/*
 * spawned / stopped under concurrency: two spawner actors, one per worker,
 * spawn children from their behaviours at the same time; each child stops
 * itself on its first message, on whichever worker runs it. Both counters
 * must be exact after wait_idle.
 */
#define SPAWN_ROUNDS 100
#define SPAWN_PER_ROUND 500

static atomic_long children_ran;

static void child_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	(void)msg;
	atomic_fetch_add(&children_ran, 1);
	int rc = trp_actor_stop(self);
	if (rc != 0)
		note_error(rc);
}

static void spawner_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	long *rounds = state;
	(void)msg;
	trp_runtime_t *rt = trp_actor_runtime(self);
	trp_actor_def_t def = { .behavior = child_behavior };
	for (int i = 0; i < SPAWN_PER_ROUND; i++) {
		trp_actor_t *c;
		int rc = trp_actor_spawn(rt, &def, NULL, &c);
		if (rc != 0) {
			note_error(rc);
			continue;
		}
		rc = trp_send(c, 1, NULL, 0);
		if (rc != 0)
			note_error(rc);
		trp_actor_release(c);
	}
	if (++*rounds < SPAWN_ROUNDS) {
		int rc = trp_send(self, 1, NULL, 0);
		if (rc != 0)
			note_error(rc);
	}
}

/* One run; false (with the counts) if a counter lost an update. */
static bool spawn_stop_run(uint64_t *spawned, uint64_t *stopped)
{
	trp_runtime_t *rt = make_rt(2);
	trp_actor_def_t def = { .behavior = spawner_behavior,
				.state_size = sizeof(long) };
	trp_actor_t *s[2];
	atomic_store(&children_ran, 0);
	for (int i = 0; i < 2; i++)
		CHECK_OK(trp_actor_spawn(rt, &def, NULL, &s[i]));
	for (int i = 0; i < 2; i++)
		CHECK_OK(trp_send(s[i], 1, NULL, 0));
	settle(rt);
	assert_no_behaviour_errors();
	long children = 2L * SPAWN_ROUNDS * SPAWN_PER_ROUND;
	assert_int_equal(atomic_load(&children_ran), children);
	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	assert_int_equal(st.sent, 2 + 2 * (SPAWN_ROUNDS - 1) + children);
	assert_int_equal(st.processed, st.sent);
	assert_int_equal(st.dead_lettered, 0);
	trp_actor_release(s[0]);
	trp_actor_release(s[1]);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	*spawned = st.spawned;
	*stopped = st.stopped;
	return st.spawned == (uint64_t)(2 + children) &&
	       st.stopped == (uint64_t)children;
}

static void test_stats_spawned_stopped_concurrent(void **unused)
{
	(void)unused;
	/* A lost update is a narrow window: repeat for up to ~3 s. */
	int64_t end = now_ns() + 3 * SEC;
	for (int run = 0; run < 200 && (run == 0 || now_ns() < end); run++) {
		uint64_t spawned, stopped;
		if (!spawn_stop_run(&spawned, &stopped))
			fail_msg("run %d: counters lost updates: spawned %llu "
				 "(want %ld), stopped %llu (want %ld)",
				 run, (unsigned long long)spawned,
				 2 + 2L * SPAWN_ROUNDS * SPAWN_PER_ROUND,
				 (unsigned long long)stopped,
				 2L * SPAWN_ROUNDS * SPAWN_PER_ROUND);
	}
}

/* ------------------------------------------------------------------ */
/* configuration                                                       */

static void test_pin_workers(void **unused)
{
	(void)unused;
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt;
	cfg.workers = 3; /* more than the cores of a small CI box */
	cfg.pin_workers = true;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	assert_int_equal(trp_runtime_workers(rt), 3);
	run_small_scenario(rt, 2000);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/*
 * batch = 1: every turn handles one message, so a consumer fed faster than
 * that is "overloaded" all the time and its producers get muted; all must
 * still arrive, in per-sender order.
 */
#define B1_PRODUCERS 3
#define B1_ROUNDS 20
#define B1_PER_ROUND 50
#define B1_OUTSIDE 500

struct seq_msg {
	uint32_t sender; /* 0 = outside, 1.. producers */
	uint32_t seq;
};

static atomic_long b1_received;
static uint32_t b1_next[B1_PRODUCERS + 1]; /* consumer only */
static atomic_int b1_order_errors;

static void b1_consumer(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	struct seq_msg m;
	if (msg->size != sizeof m) {
		atomic_fetch_add(&b1_order_errors, 1);
		return;
	}
	memcpy(&m, msg->data, sizeof m);
	if (m.sender > B1_PRODUCERS || m.seq != b1_next[m.sender])
		atomic_fetch_add(&b1_order_errors, 1);
	else
		b1_next[m.sender]++;
	atomic_fetch_add(&b1_received, 1);
}

struct b1_producer {
	trp_actor_t *consumer;
	uint32_t id;
	uint32_t seq;
	uint32_t rounds;
};

static void b1_producer_behavior(trp_actor_t *self, void *state,
				 const trp_msg_t *msg)
{
	struct b1_producer *p = state;
	(void)msg;
	for (int i = 0; i < B1_PER_ROUND; i++) {
		struct seq_msg m = { p->id, p->seq };
		int rc = trp_send(p->consumer, 2, &m, sizeof m);
		if (rc != 0) {
			note_error(rc);
			return;
		}
		p->seq++;
	}
	if (++p->rounds < B1_ROUNDS) {
		int rc = trp_send(self, 1, NULL, 0);
		if (rc != 0)
			note_error(rc);
	}
}

static void test_batch_one(void **unused)
{
	(void)unused;
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt;
	cfg.workers = 2;
	cfg.batch = 1;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	atomic_store(&b1_received, 0);
	memset(b1_next, 0, sizeof b1_next);
	trp_actor_def_t cdef = { .behavior = b1_consumer };
	trp_actor_t *c;
	CHECK_OK(trp_actor_spawn(rt, &cdef, NULL, &c));
	trp_actor_t *p[B1_PRODUCERS];
	for (uint32_t i = 0; i < B1_PRODUCERS; i++) {
		struct b1_producer st = { c, i + 1, 0, 0 };
		trp_actor_def_t pdef = { .behavior = b1_producer_behavior,
					 .state_size = sizeof st };
		CHECK_OK(trp_actor_spawn(rt, &pdef, &st, &p[i]));
	}
	for (uint32_t i = 0; i < B1_PRODUCERS; i++)
		CHECK_OK(trp_send(p[i], 1, NULL, 0));
	for (uint32_t i = 0; i < B1_OUTSIDE; i++) {
		struct seq_msg m = { 0, i };
		CHECK_OK(trp_send(c, 2, &m, sizeof m));
	}
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&b1_order_errors), 0);
	long want = B1_OUTSIDE + (long)B1_PRODUCERS * B1_ROUNDS * B1_PER_ROUND;
	assert_int_equal(atomic_load(&b1_received), want);
	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	assert_int_equal(st.processed, st.sent);
	assert_int_equal(st.sent, (uint64_t)want + B1_PRODUCERS * B1_ROUNDS);
	for (uint32_t i = 0; i < B1_PRODUCERS; i++)
		trp_actor_release(p[i]);
	trp_actor_release(c);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* errors                                                              */

static void test_error_table(void **unused)
{
	(void)unused;
	static const struct {
		const char *name;
		int value;
		const char *text;
	} table[] = {
#define ROW(name, value, text) { #name, name, text },
		TRP_ERRNO_MAP(ROW)
#undef ROW
	};
	size_t n = sizeof table / sizeof table[0];
	assert_true(n >=
		    17); /* TRP_OK .. TRP_ECLOSED at least; codes only grow */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(table[i].value, -(int)i); /* stable ABI */
		assert_string_equal(trp_errname(table[i].value), table[i].name);
		assert_string_equal(trp_strerror(table[i].value),
				    table[i].text);
		assert_true(strlen(table[i].text) > 0);
		/* texts are distinct */
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(table[i].text, table[j].text);
	}
	/* A few spot checks against the header's words. */
	assert_string_equal(trp_errname(TRP_EFULL), "TRP_EFULL");
	assert_string_equal(trp_errname(TRP_OK), "TRP_OK");
	assert_string_equal(trp_strerror(TRP_ENOMEM), "out of memory");
	/* Unknown codes never give NULL. */
	const int unknown[] = { 1, 42, -(int)n, -100, INT32_MIN, INT32_MAX };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		assert_string_equal(trp_strerror(unknown[i]), "unknown error");
		assert_string_equal(trp_errname(unknown[i]), "TRP_E?");
	}
}

int main(void)
{
	/* A hang is a failure with a signal, well inside ctest's timeout. */
	alarm(100);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_defaults),
		cmocka_unit_test(test_create_workers),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_wait_idle_idle),
		cmocka_unit_test(test_wait_idle_busy),
		cmocka_unit_test(test_wait_idle_long_spins),
		cmocka_unit_test(test_deadlk_inside_behaviour),
		cmocka_unit_test(test_wait_idle_other_runtime_from_worker),
		cmocka_unit_test(test_calls_after_destroy),
		cmocka_unit_test(test_destroy_release_orders),
		cmocka_unit_test(test_destroy_ex_final_stats),
		cmocka_unit_test(test_stats_exact),
		cmocka_unit_test(test_stats_spawned_stopped_concurrent),
		cmocka_unit_test(test_pin_workers),
		cmocka_unit_test(test_batch_one),
		cmocka_unit_test(test_error_table),
		/* last: under ASan its use-after-free (a bug) aborts */
		cmocka_unit_test(test_stats_concurrent_with_destroy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
