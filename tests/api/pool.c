/*
 * tests/api/pool.c - worker pools (troupe/pool.h) as a user sees them:
 * trp_pool_create and its errors (NULL runtime or out, 0 or more than 64
 * threads), trp_pool_submit and its errors, the result pointer carried by
 * the future (trp_future_wait + trp_pool_result, and trp_future_then to an
 * actor), an error returned by the function as the future's status,
 * functions that block (they run on the pool's own threads, concurrently,
 * and do not stall the runtime's workers), round-robin submission and
 * in-order execution per thread, destroy after submitting (the functions
 * already submitted still run), submit and destroy after destroy
 * (TRP_EDEAD, also racing the destroy), a pool left to trp_runtime_destroy
 * (freed, no leak), futures outliving the pool and the runtime, 10^4
 * submissions each run exactly once, and trp_pool_result on a reply that is
 * not a pool result (TRP_EINVAL).
 *
 * Pool functions and behaviours never call the checks (they longjmp): they
 * record what they saw, and the test thread asserts afterwards.
 */
#include <pthread.h>
#include <sched.h>
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

static trp_pool_t *make_pool(trp_runtime_t *rt, uint32_t threads)
{
	trp_pool_t *p = NULL;
	CHECK_OK(trp_pool_create(rt, threads, &p));
	assert_non_null(p);
	return p;
}

static trp_future_t *submit(trp_pool_t *p, trp_pool_fn fn, void *arg)
{
	trp_future_t *f = NULL;
	CHECK_OK(trp_pool_submit(p, fn, arg, &f));
	assert_non_null(f);
	return f;
}

/* The result pointer of a future that must succeed. */
static void *result_of(trp_future_t *f)
{
	const trp_msg_t *r = NULL;
	void *res = (void *)(uintptr_t)0x1;
	assert_int_equal(trp_future_wait(f, SETTLE_NS, &r), 0);
	assert_non_null(r);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->size, sizeof(void *));
	CHECK_OK(trp_pool_result(r, &res));
	return res;
}

/* A gate a pool function blocks on until the test opens it. */
static struct {
	atomic_long entered;
	atomic_int open;
} gate;

static void gate_reset(void)
{
	atomic_store(&gate.entered, 0);
	atomic_store(&gate.open, 0);
}

static int fn_gate(void *arg, void **result)
{
	atomic_fetch_add(&gate.entered, 1);
	int64_t deadline = now_ns() + SETTLE_NS;
	while (!atomic_load(&gate.open)) {
		if (now_ns() > deadline) {
			note_error(TRP_ETIMEDOUT);
			break;
		}
		usleep(100);
	}
	*result = arg;
	return 0;
}

/* Returns its argument. */
static int fn_identity(void *arg, void **result)
{
	*result = arg;
	return 0;
}

/* Returns the error encoded in its argument. */
static int fn_error(void *arg, void **result)
{
	*result = NULL;
	return (int)(intptr_t)arg;
}

/* Counts its run in the atomic_int it points to, returns it. */
static int fn_count(void *arg, void **result)
{
	atomic_fetch_add((atomic_int *)arg, 1);
	*result = arg;
	return 0;
}

/* Destroys its own pool from one of the pool's threads: refused. */
static int fn_destroy_own(void *arg, void **result)
{
	*result = (void *)(intptr_t)trp_pool_destroy(arg);
	return 0;
}

static void test_destroy_from_own_thread(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *p = make_pool(rt, 2);
	trp_future_t *f = submit(p, fn_destroy_own, p);
	assert_int_equal((intptr_t)result_of(f), TRP_EDEADLK);
	trp_future_release(f);
	/* the pool still works, and an outside destroy succeeds */
	atomic_int n = 0;
	f = submit(p, fn_count, &n);
	assert_ptr_equal(result_of(f), &n);
	trp_future_release(f);
	CHECK_OK(trp_pool_destroy(p));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* errors                                                              */

static void test_create_errors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *const poison = (trp_pool_t *)(uintptr_t)0x1;
	trp_pool_t *p = poison;

	assert_int_equal(trp_pool_create(NULL, 1, &p), TRP_EINVAL);
	assert_int_equal(trp_pool_create(rt, 1, NULL), TRP_EINVAL);
	assert_int_equal(trp_pool_create(rt, 0, &p), TRP_EINVAL);
	assert_int_equal(trp_pool_create(rt, 65, &p), TRP_EINVAL);
	assert_int_equal(trp_pool_create(rt, UINT32_MAX, &p), TRP_EINVAL);
	assert_ptr_equal(p, poison);

	/* The bounds themselves are fine. */
	p = make_pool(rt, 1);
	CHECK_OK(trp_pool_destroy(p));
	p = make_pool(rt, 64);
	atomic_int n = 0;
	trp_future_t *f = submit(p, fn_count, &n);
	assert_ptr_equal(result_of(f), &n);
	trp_future_release(f);
	CHECK_OK(trp_pool_destroy(p));
	assert_int_equal(atomic_load(&n), 1);

	assert_int_equal(trp_pool_destroy(NULL), TRP_EINVAL);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

static void test_submit_errors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *p = make_pool(rt, 2);
	trp_future_t *const poison = (trp_future_t *)(uintptr_t)0x1;
	trp_future_t *f = poison;
	atomic_int n = 0;

	assert_int_equal(trp_pool_submit(NULL, fn_count, &n, &f), TRP_EINVAL);
	assert_int_equal(trp_pool_submit(p, NULL, &n, &f), TRP_EINVAL);
	assert_int_equal(trp_pool_submit(p, fn_count, &n, NULL), TRP_EINVAL);
	assert_ptr_equal(f, poison);
	assert_int_equal(trp_pool_result(NULL, NULL), TRP_EINVAL);

	/* Nothing ran for the refused submissions. */
	f = submit(p, fn_count, &n);
	assert_ptr_equal(result_of(f), &n);
	trp_future_release(f);
	CHECK_OK(trp_pool_destroy(p));
	assert_int_equal(atomic_load(&n), 1);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* a destroyed pool                                                    */

/*
 * Submitting to (and destroying again) a pool already destroyed is refused
 * with TRP_EDEAD, as pool.h promises, until the runtime is destroyed: the
 * handle's memory lives that long. (Before, trp_pool_destroy freed it and
 * the submit read freed memory: heap-use-after-free under ASan.)
 */
static void test_submit_after_destroy(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *p = make_pool(rt, 2);
	trp_future_t *const poison = (trp_future_t *)(uintptr_t)0x1;
	trp_future_t *f = NULL;
	atomic_int n = 0;

	f = submit(p, fn_count, &n);
	CHECK_OK(trp_pool_destroy(p));
	assert_ptr_equal(result_of(f), &n);
	trp_future_release(f);

	f = poison;
	assert_int_equal(trp_pool_submit(p, fn_count, &n, &f), TRP_EDEAD);
	assert_ptr_equal(f, poison);
	assert_int_equal(trp_pool_submit(p, fn_count, &n, &f), TRP_EDEAD);
	assert_int_equal(trp_pool_destroy(p), TRP_EDEAD);
	/* argument checks come first, as for a live pool */
	assert_int_equal(trp_pool_submit(p, NULL, &n, &f), TRP_EINVAL);
	assert_ptr_equal(f, poison);
	assert_int_equal(atomic_load(&n), 1);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* Submitters racing the destroy: each submission is refused (TRP_EDEAD)
 * or accepted, and an accepted one ran or its future says TRP_EDEAD. */
#define RACE_N 2000

struct racer {
	trp_pool_t *p;
	atomic_int *ran;
	atomic_int *go;
	long accepted, refused, bad_rc, completed, dead;
};

static void *race_submitter(void *arg)
{
	struct racer *r = arg;
	while (!atomic_load(r->go))
		sched_yield();
	for (int i = 0; i < RACE_N; i++) {
		trp_future_t *f = NULL;
		int rc = trp_pool_submit(r->p, fn_count, r->ran, &f);
		if (rc == TRP_EDEAD) {
			r->refused++;
			continue;
		}
		if (rc != 0) {
			r->bad_rc++;
			continue;
		}
		r->accepted++;
		rc = trp_future_wait(f, SETTLE_NS, NULL);
		if (rc == 0)
			r->completed++;
		else if (rc == TRP_EDEAD)
			r->dead++;
		else
			r->bad_rc++;
		trp_future_release(f);
	}
	return NULL;
}

static void test_submit_races_destroy(void **unused)
{
	(void)unused;
	enum {
		T = 2
	};
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *p = make_pool(rt, 2);
	atomic_int ran = 0, go = 0;
	struct racer r[T];
	pthread_t th[T];
	for (int i = 0; i < T; i++) {
		r[i] = (struct racer){ .p = p, .ran = &ran, .go = &go };
		assert_int_equal(
			pthread_create(&th[i], NULL, race_submitter, &r[i]), 0);
	}
	atomic_store(&go, 1);
	usleep(1000);
	CHECK_OK(trp_pool_destroy(p));
	long completed = 0;
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].bad_rc, 0);
		assert_int_equal(r[i].accepted + r[i].refused, RACE_N);
		assert_int_equal(r[i].completed + r[i].dead, r[i].accepted);
		completed += r[i].completed;
	}
	/* exactly the completed ones ran */
	assert_int_equal(atomic_load(&ran), completed);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A pool never destroyed is stopped and freed by trp_runtime_destroy
 * (ASan: nothing leaks; before, the pool's struct did). */
static void test_runtime_destroy_frees_pool(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *p = make_pool(rt, 3);
	atomic_int n = 0;
	trp_future_t *f = submit(p, fn_count, &n);
	assert_ptr_equal(result_of(f), &n);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	/* the future outlives both */
	assert_ptr_equal(result_of(f), &n);
	trp_future_release(f);
}

/* ------------------------------------------------------------------ */
/* results and errors through the future                               */

static void test_result(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_pool_t *p = make_pool(rt, 2);
	int x = 42;

	trp_future_t *f = submit(p, fn_identity, &x);
	assert_ptr_equal(result_of(f), &x);
	assert_true(trp_future_done(f));
	/* A second wait gives the same reply. */
	const trp_msg_t *r1 = NULL, *r2 = NULL;
	assert_int_equal(trp_future_wait(f, 0, &r1), 0);
	assert_int_equal(trp_future_wait(f, -1, &r2), 0);
	assert_ptr_equal(r1, r2);
	void *res = NULL;
	CHECK_OK(trp_pool_result(r1, &res));
	assert_ptr_equal(res, &x);
	trp_future_release(f);

	/* A NULL result is a result. */
	f = submit(p, fn_identity, NULL);
	res = (void *)(uintptr_t)0x1;
	assert_null(result_of(f));
	trp_future_release(f);

	assert_no_behaviour_errors();
	CHECK_OK(trp_pool_destroy(p));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

static void test_function_error(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_pool_t *p = make_pool(rt, 1);
	static const int codes[] = { TRP_ENOENT, TRP_EINVAL, TRP_ENOMEM,
				     TRP_ETIMEDOUT, TRP_EFULL };

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		trp_future_t *f =
			submit(p, fn_error, (void *)(intptr_t)codes[i]);
		const trp_msg_t *r = (const trp_msg_t *)(uintptr_t)0x1;
		assert_int_equal(trp_future_wait(f, SETTLE_NS, &r), codes[i]);
		assert_true(trp_future_done(f));
		/* ... and stays so. */
		assert_int_equal(trp_future_wait(f, 0, NULL), codes[i]);
		trp_future_release(f);
	}
	/* The thread that ran the failing functions still runs the next. */
	int x = 1;
	trp_future_t *f = submit(p, fn_identity, &x);
	assert_ptr_equal(result_of(f), &x);
	trp_future_release(f);

	CHECK_OK(trp_pool_destroy(p));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* An actor that reads pool results delivered by trp_future_then. */
enum {
	M_RESULT = 1,
	M_ECHO,	 /* request: reply with 4 bytes */
	M_EMPTY, /* request: reply with no payload */
};

static struct {
	atomic_long got;
	atomic_int status, rc;
	_Atomic(uintptr_t) res;
} seen;

static void receiver(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	switch (msg->type) {
	case M_RESULT: {
		void *res = (void *)(uintptr_t)0x1;
		atomic_store(&seen.status, msg->status);
		atomic_store(&seen.rc, trp_pool_result(msg, &res));
		atomic_store(&seen.res, (uintptr_t)res);
		atomic_fetch_add(&seen.got, 1);
		break;
	}
	case M_ECHO: {
		uint32_t v = 7;
		int rc = trp_reply(msg, &v, sizeof v);
		if (rc != 0)
			note_error(rc);
		break;
	}
	case M_EMPTY: {
		int rc = trp_reply(msg, NULL, 0);
		if (rc != 0)
			note_error(rc);
		break;
	}
	default:
		note_error(TRP_EINVAL);
	}
}

static void test_then_to_actor(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_pool_t *p = make_pool(rt, 2);
	trp_actor_def_t def = { .behavior = receiver };
	trp_actor_t *a = NULL;
	int x = 5;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));
	memset(&seen, 0, sizeof seen);

	/* Success: the actor reads the pointer with trp_pool_result. */
	gate_reset();
	trp_future_t *f = submit(p, fn_gate, &x);
	CHECK_OK(trp_future_then(f, a, M_RESULT));
	assert_true(wait_for(&gate.entered, 1));
	atomic_store(&gate.open, 1);
	assert_true(wait_for(&seen.got, 1));
	CHECK_OK(trp_runtime_wait_idle(rt, SETTLE_NS));
	assert_int_equal(atomic_load(&seen.status), 0);
	assert_int_equal(atomic_load(&seen.rc), 0);
	assert_int_equal(atomic_load(&seen.res), (uintptr_t)&x);
	trp_future_release(f);

	assert_int_equal(atomic_load(&seen.got), 1);
	assert_no_behaviour_errors();
	trp_actor_release(a);
	CHECK_OK(trp_pool_destroy(p));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

static void test_then_error_to_actor(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_pool_t *p = make_pool(rt, 2);
	trp_actor_def_t def = { .behavior = receiver };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));
	memset(&seen, 0, sizeof seen);

	/* Failure: msg->status and trp_pool_result give the error. */
	trp_future_t *f = submit(p, fn_error, (void *)(intptr_t)TRP_ENOENT);
	assert_int_equal(trp_future_wait(f, SETTLE_NS, NULL), TRP_ENOENT);
	CHECK_OK(trp_future_then(f, a, M_RESULT));
	assert_true(wait_for(&seen.got, 1));
	CHECK_OK(trp_runtime_wait_idle(rt, SETTLE_NS));
	assert_int_equal(atomic_load(&seen.status), TRP_ENOENT);
	assert_int_equal(atomic_load(&seen.rc), TRP_ENOENT);
	trp_future_release(f);

	assert_int_equal(atomic_load(&seen.got), 1);
	assert_no_behaviour_errors();
	trp_actor_release(a);
	CHECK_OK(trp_pool_destroy(p));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A reply of an ordinary actor is not a pool result. */
static void test_result_not_pool(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_actor_def_t def = { .behavior = receiver };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));

	static const uint32_t types[] = { M_ECHO, M_EMPTY };
	for (size_t i = 0; i < 2; i++) {
		trp_future_t *f = NULL;
		const trp_msg_t *r = NULL;
		void *res = (void *)(uintptr_t)0x1;
		CHECK_OK(trp_ask(a, types[i], NULL, 0, &f));
		assert_int_equal(trp_future_wait(f, SETTLE_NS, &r), 0);
		assert_non_null(r);
		assert_int_equal(trp_pool_result(r, &res), TRP_EINVAL);
		assert_ptr_equal(res, (void *)(uintptr_t)0x1);
		trp_future_release(f);
	}
	assert_no_behaviour_errors();
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* blocking functions, threads, order                                  */

/* Two functions that can only both return if they run at the same time:
 * each waits (10 s at most) until the other has arrived too. */
static struct {
	atomic_int arrived;
	pthread_t who[2];
	atomic_int slot;
	atomic_int timed_out;
} meet;

static int fn_meet(void *arg, void **result)
{
	(void)arg;
	int me = atomic_fetch_add(&meet.slot, 1);
	if (me < 2)
		meet.who[me] = pthread_self();
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	nanosleep(&nap, NULL); /* it blocks, as pool functions may */
	atomic_fetch_add(&meet.arrived, 1);
	int64_t deadline = now_ns() + SETTLE_NS;
	while (atomic_load(&meet.arrived) < 2) {
		if (now_ns() > deadline) {
			atomic_store(&meet.timed_out, 1);
			break;
		}
		usleep(100);
	}
	*result = arg;
	return 0;
}

static void test_blocking_in_parallel(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *p = make_pool(rt, 2);
	memset(&meet, 0, sizeof meet);

	trp_future_t *f1 = submit(p, fn_meet, NULL);
	trp_future_t *f2 = submit(p, fn_meet, NULL);
	assert_null(result_of(f1));
	assert_null(result_of(f2));
	assert_int_equal(atomic_load(&meet.timed_out), 0);
	assert_int_equal(atomic_load(&meet.slot), 2);
	assert_false(pthread_equal(meet.who[0], meet.who[1]));
	/* Not this thread either. */
	assert_false(pthread_equal(meet.who[0], pthread_self()));
	assert_false(pthread_equal(meet.who[1], pthread_self()));
	trp_future_release(f1);
	trp_future_release(f2);
	CHECK_OK(trp_pool_destroy(p));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A blocked pool function does not stall the runtime's only worker; a
 * pool function may wait on a future (it runs outside the workers). */
static trp_actor_t *echo_actor;

static int fn_ask_and_wait(void *arg, void **result)
{
	(void)arg;
	trp_future_t *f = NULL;
	int rc = trp_ask(echo_actor, M_ECHO, NULL, 0, &f);
	if (rc != 0)
		return rc;
	const trp_msg_t *r = NULL;
	rc = trp_future_wait(f, SETTLE_NS, &r);
	uint32_t v = 0;
	if (rc == 0 && r->size == sizeof v)
		memcpy(&v, r->data, sizeof v);
	trp_future_release(f);
	*result = (void *)(uintptr_t)v;
	return rc;
}

static void test_not_on_workers(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *p = make_pool(rt, 1);
	trp_actor_def_t def = { .behavior = receiver };
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &echo_actor));
	gate_reset();

	trp_future_t *fg = submit(p, fn_gate, NULL);
	assert_true(wait_for(&gate.entered, 1));
	/* The worker is free: an ask is answered while the pool blocks. */
	trp_future_t *fa = NULL;
	CHECK_OK(trp_ask(echo_actor, M_ECHO, NULL, 0, &fa));
	assert_int_equal(trp_future_wait(fa, SETTLE_NS, NULL), 0);
	assert_false(trp_future_done(fg));
	trp_future_release(fa);
	atomic_store(&gate.open, 1);
	assert_null(result_of(fg));
	trp_future_release(fg);

	trp_future_t *fw = submit(p, fn_ask_and_wait, NULL);
	assert_int_equal(result_of(fw), (void *)(uintptr_t)7);
	trp_future_release(fw);

	assert_no_behaviour_errors();
	trp_actor_release(echo_actor);
	echo_actor = NULL;
	CHECK_OK(trp_pool_destroy(p));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* Which thread ran job i, and in which global order. */
#define ORDER_N 300
#define ORDER_THREADS 3
static struct job {
	pthread_t thread;
	long order;
	atomic_int runs;
} jobs[ORDER_N];
static atomic_long order_clock;

static int fn_job(void *arg, void **result)
{
	struct job *j = arg;
	j->thread = pthread_self();
	j->order = atomic_fetch_add(&order_clock, 1);
	atomic_fetch_add(&j->runs, 1);
	if ((j - jobs) % 7 == 0)
		usleep(200); /* let the other threads get ahead */
	*result = arg;
	return 0;
}

static void test_round_robin_order(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *p = make_pool(rt, ORDER_THREADS);
	trp_future_t *fs[ORDER_N];
	memset(jobs, 0, sizeof jobs);
	atomic_store(&order_clock, 0);

	for (int i = 0; i < ORDER_N; i++)
		fs[i] = submit(p, fn_job, &jobs[i]);
	for (int i = 0; i < ORDER_N; i++) {
		assert_ptr_equal(result_of(fs[i]), &jobs[i]);
		trp_future_release(fs[i]);
	}
	/* Round robin: jobs i and i + threads share a thread, the threads
	 * of consecutive jobs differ. */
	for (int i = 0; i < ORDER_N; i++) {
		assert_int_equal(atomic_load(&jobs[i].runs), 1);
		if (i + ORDER_THREADS < ORDER_N &&
		    !pthread_equal(jobs[i].thread,
				   jobs[i + ORDER_THREADS].thread))
			fail_msg("jobs %d and %d ran on different threads", i,
				 i + ORDER_THREADS);
		for (int k = 1; k < ORDER_THREADS && i + k < ORDER_N; k++)
			if (pthread_equal(jobs[i].thread, jobs[i + k].thread))
				fail_msg("jobs %d and %d ran on one thread", i,
					 i + k);
		/* Each thread runs its queue in submission order. */
		if (i + ORDER_THREADS < ORDER_N &&
		    jobs[i].order >= jobs[i + ORDER_THREADS].order)
			fail_msg("job %d ran after job %d on its thread", i,
				 i + ORDER_THREADS);
	}
	CHECK_OK(trp_pool_destroy(p));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* destroy, lifetime, volume                                           */

static void *open_gate_later(void *unused)
{
	(void)unused;
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	nanosleep(&nap, NULL);
	atomic_store(&gate.open, 1);
	return NULL;
}

/* Destroy after submitting: the functions already submitted still run;
 * their futures outlive the pool and the runtime. */
static void test_destroy_runs_pending(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *p = make_pool(rt, 1);
	enum {
		N = 20
	};
	static atomic_int counts[N];
	trp_future_t *fs[N];
	int x = 3;
	gate_reset();

	trp_future_t *fg = submit(p, fn_gate, &x);
	assert_true(wait_for(&gate.entered, 1));
	for (int i = 0; i < N; i++) {
		atomic_store(&counts[i], 0);
		fs[i] = submit(p, fn_count, &counts[i]);
	}
	/* One released before it ran: it runs anyway. */
	trp_future_release(fs[N - 1]);
	fs[N - 1] = NULL;
	pthread_t opener;
	assert_int_equal(pthread_create(&opener, NULL, open_gate_later, NULL),
			 0);
	CHECK_OK(trp_pool_destroy(p)); /* waits for the gate and the rest */
	pthread_join(opener, NULL);
	for (int i = 0; i < N; i++)
		assert_int_equal(atomic_load(&counts[i]), 1);

	/* The futures outlive the pool ... */
	assert_true(trp_future_done(fg));
	assert_ptr_equal(result_of(fg), &x);
	for (int i = 0; i < N - 1; i++)
		assert_true(trp_future_done(fs[i]));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	/* ... and the runtime. */
	assert_ptr_equal(result_of(fg), &x);
	trp_future_release(fg);
	for (int i = 0; i < N - 1; i++) {
		assert_ptr_equal(result_of(fs[i]), &counts[i]);
		trp_future_release(fs[i]);
	}
	assert_no_behaviour_errors();
}

/* Two pools of one runtime are independent; destroying an idle pool at
 * once is fine. */
static void test_two_pools(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_pool_t *a = make_pool(rt, 1);
	trp_pool_t *b = make_pool(rt, 1);
	gate_reset();
	trp_future_t *fa = submit(a, fn_gate, NULL);
	assert_true(wait_for(&gate.entered, 1));
	int x = 9;
	trp_future_t *fb = submit(b, fn_identity, &x);
	assert_ptr_equal(result_of(fb), &x); /* b is not behind a's gate */
	trp_future_release(fb);
	CHECK_OK(trp_pool_destroy(b));
	atomic_store(&gate.open, 1);
	assert_null(result_of(fa));
	trp_future_release(fa);
	CHECK_OK(trp_pool_destroy(a));
	trp_pool_t *c = make_pool(rt, 4);
	CHECK_OK(trp_pool_destroy(c));
	assert_no_behaviour_errors();
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

#define MANY 10000
#define SUBMITTERS 2
static atomic_int many_counts[MANY];

struct submitter {
	trp_pool_t *pool;
	int first; /* submits first, first + SUBMITTERS, ... */
	trp_future_t *fs[MANY / SUBMITTERS];
	int rc;
};

static void *submitter_thread(void *arg)
{
	struct submitter *s = arg;
	s->rc = 0;
	for (int k = 0, i = s->first; i < MANY; k++, i += SUBMITTERS) {
		int rc = trp_pool_submit(s->pool, fn_count, &many_counts[i],
					 &s->fs[k]);
		if (rc != 0 && s->rc == 0)
			s->rc = rc;
	}
	return NULL;
}

static void test_many(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_pool_t *p = make_pool(rt, 4);
	static struct submitter subs[SUBMITTERS];
	pthread_t t[SUBMITTERS];
	for (int i = 0; i < MANY; i++)
		atomic_store(&many_counts[i], 0);
	for (int s = 0; s < SUBMITTERS; s++) {
		subs[s].pool = p;
		subs[s].first = s;
		assert_int_equal(pthread_create(&t[s], NULL, submitter_thread,
						&subs[s]),
				 0);
	}
	for (int s = 0; s < SUBMITTERS; s++) {
		pthread_join(t[s], NULL);
		CHECK_OK(subs[s].rc);
	}
	for (int s = 0; s < SUBMITTERS; s++)
		for (int k = 0, i = s; i < MANY; k++, i += SUBMITTERS) {
			trp_future_t *f = subs[s].fs[k];
			if (k % 3 == 0) { /* released without a wait */
				trp_future_release(f);
				continue;
			}
			assert_ptr_equal(result_of(f), &many_counts[i]);
			trp_future_release(f);
		}
	CHECK_OK(trp_pool_destroy(p));
	for (int i = 0; i < MANY; i++)
		if (atomic_load(&many_counts[i]) != 1)
			fail_msg("submission %d ran %d times", i,
				 atomic_load(&many_counts[i]));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_submit_errors),
		cmocka_unit_test(test_submit_after_destroy),
		cmocka_unit_test(test_submit_races_destroy),
		cmocka_unit_test(test_runtime_destroy_frees_pool),
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_function_error),
		cmocka_unit_test(test_then_to_actor),
		cmocka_unit_test(test_then_error_to_actor),
		cmocka_unit_test(test_result_not_pool),
		cmocka_unit_test(test_blocking_in_parallel),
		cmocka_unit_test(test_not_on_workers),
		cmocka_unit_test(test_round_robin_order),
		cmocka_unit_test(test_destroy_runs_pending),
		cmocka_unit_test(test_two_pools),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_destroy_from_own_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
