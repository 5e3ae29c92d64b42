/*
 * tests/api/actor.c - the actor contract (troupe/actor.h) as a user sees
 * it: spawn and its errors, state blocks, start and stop hooks (once, with
 * the right reason, on the right thread), stop / close / shutdown and the
 * dead letters each leaves, send errors, payload copies of every size class,
 * zero-copy sends and who frees them, per-sender order, bounded mailboxes,
 * ids, reference counting, and close / stop racing sends from two threads
 * (each message processed, dead-lettered or refused, exactly once).
 *
 * Behaviours never call the checks (they longjmp): they record what they
 * saw, and the test thread asserts after trp_runtime_wait_idle().
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

/* Dead letters, recorded by the runtime's hook. */
#define DL_MAX 64
struct dead_log {
	atomic_long count;
	atomic_long by_seq[DL_MAX]; /* payload seq -> times seen */
	atomic_int bad;		    /* wrong actor, reason or payload */
	trp_actor_t *expect_to;
	trp_dead_reason_t expect_why;
	pthread_t expect_thread; /* checked if check_thread */
	bool check_thread;
};

static void dead_letter_hook(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			     trp_dead_reason_t why)
{
	struct dead_log *d = ctx;
	atomic_fetch_add(&d->count, 1);
	if ((d->expect_to != NULL && to != d->expect_to) ||
	    why != d->expect_why ||
	    (d->check_thread &&
	     !pthread_equal(pthread_self(), d->expect_thread)))
		atomic_fetch_add(&d->bad, 1);
	uint32_t seq = msg->type;
	if (seq < DL_MAX)
		atomic_fetch_add(&d->by_seq[seq], 1);
	/* The payload is still intact when the hook sees it. */
	if (msg->size == sizeof seq && memcmp(msg->data, &seq, sizeof seq) != 0)
		atomic_fetch_add(&d->bad, 1);
}

static void dead_log_reset(struct dead_log *d, trp_actor_t *to,
			   trp_dead_reason_t why)
{
	atomic_store(&d->count, 0);
	for (int i = 0; i < DL_MAX; i++)
		atomic_store(&d->by_seq[i], 0);
	atomic_store(&d->bad, 0);
	d->expect_to = to;
	d->expect_why = why;
	d->check_thread = false;
}

static struct dead_log dlog;

static trp_runtime_t *make_rt(uint32_t workers)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt = NULL;
	cfg.workers = workers;
	cfg.dead_letter = dead_letter_hook;
	cfg.dead_letter_ctx = &dlog;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	assert_non_null(rt);
	dead_log_reset(&dlog, NULL, TRP_DEAD_STOPPED);
	return rt;
}

static trp_stats_t stats(trp_runtime_t *rt)
{
	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	return st;
}

/*
 * The recording actor: messages carry their sequence number as the type
 * (and as a 4-byte payload); the behaviour logs them in order. Its state
 * is a struct rec, whose gate_seq message blocks on the gate, whose
 * stop_seq message calls trp_actor_stop, and whose close_seq message
 * calls trp_actor_close on itself.
 */
#define REC_MAX 256
struct rec {
	struct api_gate *gate;
	uint32_t gate_seq, stop_seq, close_seq;
	int stop_rc, close_rc;
	/* behaviour log */
	uint32_t seen[REC_MAX];
	atomic_long n_seen;
	atomic_int order_errors;
	/* hooks */
	atomic_int starts, stops;
	trp_stop_reason_t why;
	long seen_at_stop; /* messages processed when the stop hook ran */
	pthread_t start_thread, stop_thread;
};

static void rec_start(trp_actor_t *self, void *state)
{
	(void)self;
	struct rec *r = state;
	r->start_thread = pthread_self();
	if (atomic_load(&r->n_seen) != 0)
		atomic_fetch_add(&r->order_errors, 1); /* start after a msg */
	atomic_fetch_add(&r->starts, 1);
}

static void rec_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct rec *r = state;
	if (atomic_load(&r->starts) > 1 || atomic_load(&r->stops) != 0)
		atomic_fetch_add(&r->order_errors, 1);
	long i = atomic_load(&r->n_seen);
	if (i < REC_MAX)
		r->seen[i] = msg->type;
	atomic_store(&r->n_seen, i + 1);
	if (r->gate != NULL && msg->type == r->gate_seq)
		api_gate_block(r->gate);
	if (msg->type == r->stop_seq)
		r->stop_rc = trp_actor_stop(self);
	if (msg->type == r->close_seq)
		r->close_rc = trp_actor_close(self);
}

static void rec_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	struct rec *r = state;
	r->why = why;
	r->seen_at_stop = atomic_load(&r->n_seen);
	r->stop_thread = pthread_self();
	atomic_fetch_add(&r->stops, 1);
}

static struct rec *rec_new(void)
{
	struct rec *r = calloc(1, sizeof *r);
	assert_non_null(r);
	r->gate_seq = r->stop_seq = r->close_seq = UINT32_MAX;
	return r;
}

/* Spawns a recording actor on @r (caller-owned state, state_size 0). */
static trp_actor_t *rec_spawn(trp_runtime_t *rt, struct rec *r, bool start)
{
	trp_actor_def_t def = { .behavior = rec_behavior,
				.start = start ? rec_start : NULL,
				.stop = rec_stop };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, r, &a));
	assert_non_null(a);
	return a;
}

static int send_seq(trp_actor_t *a, uint32_t seq)
{
	return trp_send(a, seq, &seq, sizeof seq);
}

/* The log holds 1..n in order. */
static void assert_seen_in_order(struct rec *r, long n)
{
	assert_int_equal(atomic_load(&r->n_seen), n);
	for (long i = 0; i < n && i < REC_MAX; i++)
		if (r->seen[i] != (uint32_t)(i + 1))
			fail_msg("message %ld is seq %u, want %ld", i,
				 r->seen[i], i + 1);
	assert_int_equal(atomic_load(&r->order_errors), 0);
}

static void noop_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
}

/* ------------------------------------------------------------------ */
/* spawn                                                               */

static void test_spawn_errors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_actor_def_t def = { .behavior = noop_behavior };
	trp_actor_def_t nobeh = { .behavior = NULL };
	trp_actor_t *a = NULL;
	assert_int_equal(trp_actor_spawn(NULL, &def, NULL, &a), TRP_EINVAL);
	assert_int_equal(trp_actor_spawn(rt, NULL, NULL, &a), TRP_EINVAL);
	assert_int_equal(trp_actor_spawn(rt, &nobeh, NULL, &a), TRP_EINVAL);
	assert_null(a);
	/* out may be NULL: the actor runs without a handle. */
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, NULL));
	assert_int_equal(stats(rt).spawned, 1);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

struct blob {
	uint64_t words[5];
	char tag[24];
};

static atomic_long state_msgs;
static struct blob state_seen;	 /* copy of the state at the message */
static void *state_ptr_seen;	 /* the state pointer it got */
static void *state_ptr_at_start; /* the same, in the start hook */
static unsigned char zero_seen[100];

static void blob_start(trp_actor_t *self, void *state)
{
	(void)self;
	state_ptr_at_start = state;
}

static void blob_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	state_ptr_seen = state;
	if (msg->type == 1 && state != NULL)
		memcpy(&state_seen, state, sizeof state_seen);
	else if (msg->type == 2)
		memcpy(zero_seen, state, sizeof zero_seen);
	atomic_fetch_add(&state_msgs, 1);
}

static void test_spawn_state(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a;

	/* state_size > 0 with an argument: copied before spawn returns. */
	struct blob arg = { { 1, 2, 3, 4, 5 }, "copied state" };
	struct blob want = arg;
	trp_actor_def_t def = { .behavior = blob_behavior,
				.start = blob_start,
				.state_size = sizeof(struct blob) };
	CHECK_OK(trp_actor_spawn(rt, &def, &arg, &a));
	memset(&arg, 0xAB, sizeof arg); /* ours again */
	def.behavior = NULL;		/* def was copied too */
	CHECK_OK(trp_send(a, 1, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&state_msgs), 1);
	assert_true(memcmp(&state_seen, &want, sizeof want) == 0);
	assert_true(state_ptr_seen != (void *)&arg);
	assert_ptr_equal(state_ptr_at_start, state_ptr_seen);
	trp_actor_release(a);

	/* state_size > 0, NULL argument: zeroed. */
	trp_actor_def_t zdef = { .behavior = blob_behavior,
				 .state_size = sizeof zero_seen };
	memset(zero_seen, 0xFF, sizeof zero_seen);
	CHECK_OK(trp_actor_spawn(rt, &zdef, NULL, &a));
	CHECK_OK(trp_send(a, 2, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&state_msgs), 2);
	for (size_t i = 0; i < sizeof zero_seen; i++)
		assert_int_equal(zero_seen[i], 0);
	trp_actor_release(a);

	/* state_size == 0: the argument pointer itself, also NULL. */
	static char mine[3];
	trp_actor_def_t pdef = { .behavior = blob_behavior };
	CHECK_OK(trp_actor_spawn(rt, &pdef, mine, &a));
	CHECK_OK(trp_send(a, 3, NULL, 0));
	settle(rt);
	assert_ptr_equal(state_ptr_seen, mine);
	trp_actor_release(a);
	CHECK_OK(trp_actor_spawn(rt, &pdef, NULL, &a));
	CHECK_OK(trp_send(a, 3, NULL, 0));
	settle(rt);
	assert_null(state_ptr_seen);
	assert_int_equal(atomic_load(&state_msgs), 4);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* start hook                                                          */

static void test_start_hook(void **unused)
{
	(void)unused;
	for (uint32_t workers = 1; workers <= 2; workers++) {
		trp_runtime_t *rt = make_rt(workers);
		struct rec *r = rec_new();
		trp_actor_t *a = rec_spawn(rt, r, true);
		/* Sent at once: the start hook must still come first. */
		for (uint32_t i = 1; i <= 20; i++)
			CHECK_OK(send_seq(a, i));
		settle(rt);
		assert_int_equal(atomic_load(&r->starts), 1);
		assert_seen_in_order(r, 20);
		assert_false(pthread_equal(r->start_thread, pthread_self()));
		/* More messages: no second start. */
		for (uint32_t i = 21; i <= 30; i++)
			CHECK_OK(send_seq(a, i));
		settle(rt);
		assert_int_equal(atomic_load(&r->starts), 1);
		assert_int_equal(atomic_load(&r->stops), 0);
		CHECK_OK(trp_actor_close(a));
		settle(rt);
		assert_int_equal(atomic_load(&r->stops), 1);
		assert_int_equal(r->why, TRP_STOP_CLOSED);
		trp_actor_release(a);
		(void)api_assert_balanced(rt);
		CHECK_OK(trp_runtime_destroy(rt));
		assert_int_equal(atomic_load(&r->stops), 1);
		free(r);
	}
}

/* ------------------------------------------------------------------ */
/* stop                                                                */

/*
 * trp_actor_stop inside the behaviour of message 3, while 4 and 5 are
 * queued behind it (message 1 holds the actor on a gate until they are):
 * 1..3 processed in order, the stop hook once (NORMAL) after 3, and 4 and 5
 * dead letters (STOPPED), each exactly once.
 */
static void test_stop_normal(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct api_gate g = { 0 };
	struct rec *r = rec_new();
	r->gate = &g;
	r->gate_seq = 1;
	r->stop_seq = 3;
	r->stop_rc = 1;
	trp_actor_t *a = rec_spawn(rt, r, false);
	dead_log_reset(&dlog, a, TRP_DEAD_STOPPED);

	CHECK_OK(send_seq(a, 1));
	assert_true(wait_for(&g.entered, 1));
	for (uint32_t i = 2; i <= 5; i++)
		CHECK_OK(send_seq(a, i));
	atomic_store(&g.open, 1);
	settle(rt);
	assert_no_behaviour_errors();

	assert_int_equal(r->stop_rc, 0);
	assert_seen_in_order(r, 3);
	assert_int_equal(atomic_load(&r->stops), 1);
	assert_int_equal(r->why, TRP_STOP_NORMAL);
	assert_int_equal(r->seen_at_stop, 3);
	assert_false(pthread_equal(r->stop_thread, pthread_self()));
	assert_false(trp_actor_alive(a));

	assert_int_equal(atomic_load(&dlog.count), 2);
	assert_int_equal(atomic_load(&dlog.by_seq[4]), 1);
	assert_int_equal(atomic_load(&dlog.by_seq[5]), 1);
	assert_int_equal(atomic_load(&dlog.bad), 0);

	/* Later sends are refused, not dead-lettered. */
	assert_int_equal(send_seq(a, 6), TRP_EDEAD);
	assert_int_equal(trp_send(a, 6, NULL, 0), TRP_EDEAD);
	settle(rt);
	assert_int_equal(atomic_load(&dlog.count), 2);
	assert_int_equal(atomic_load(&r->n_seen), 3);

	trp_stats_t st = stats(rt);
	assert_int_equal(st.sent, 5);
	assert_int_equal(st.processed, 3);
	assert_int_equal(st.dead_lettered, 2);
	assert_int_equal(st.stopped, 1);

	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	/* Destroy does not stop it again. */
	assert_int_equal(atomic_load(&r->stops), 1);
	free(r);
}

/*
 * Stop from the start hook, racing with sends made right after spawn: every
 * send either was accepted and its message dead-lettered exactly once, or
 * returned TRP_EDEAD and left no trace. The behaviour never runs.
 */
static void stop_in_start(trp_actor_t *self, void *state)
{
	struct rec *r = state;
	rec_start(self, state);
	r->stop_rc = trp_actor_stop(self);
}

static void test_stop_in_start_hook(void **unused)
{
	(void)unused;
	for (int round = 0; round < 20; round++) {
		trp_runtime_t *rt = make_rt(2);
		struct rec *r = rec_new();
		r->stop_rc = 1;
		trp_actor_def_t def = { .behavior = rec_behavior,
					.start = stop_in_start,
					.stop = rec_stop };
		trp_actor_t *a;
		CHECK_OK(trp_actor_spawn(rt, &def, r, &a));
		dead_log_reset(&dlog, a, TRP_DEAD_STOPPED);
		int rc[DL_MAX];
		for (uint32_t i = 1; i < DL_MAX; i++) {
			rc[i] = send_seq(a, i);
			if (rc[i] != 0 && rc[i] != TRP_EDEAD)
				fail_msg("send %u: %s", i, trp_errname(rc[i]));
		}
		settle(rt);
		assert_int_equal(r->stop_rc, 0);
		assert_int_equal(atomic_load(&r->starts), 1);
		assert_int_equal(atomic_load(&r->stops), 1);
		assert_int_equal(r->why, TRP_STOP_NORMAL);
		assert_int_equal(atomic_load(&r->n_seen), 0);
		long accepted = 0;
		for (uint32_t i = 1; i < DL_MAX; i++) {
			long want = rc[i] == 0 ? 1 : 0;
			accepted += want;
			if (atomic_load(&dlog.by_seq[i]) != want)
				fail_msg("round %d: message %u: send %s, "
					 "dead-lettered %ld times",
					 round, i, trp_errname(rc[i]),
					 atomic_load(&dlog.by_seq[i]));
		}
		assert_int_equal(atomic_load(&dlog.bad), 0);
		trp_stats_t st = stats(rt);
		assert_int_equal(st.sent, accepted);
		assert_int_equal(st.dead_lettered, accepted);
		assert_int_equal(st.processed, 0);
		trp_actor_release(a);
		(void)api_assert_balanced(rt);
		CHECK_OK(trp_runtime_destroy(rt));
		free(r);
	}
}

static atomic_int other_stop_rc = 1;
static trp_actor_t *other_target;

static void stop_other_behavior(trp_actor_t *self, void *state,
				const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	atomic_store(&other_stop_rc, trp_actor_stop(other_target));
}

static void test_stop_eperm(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct rec *r = rec_new();
	trp_actor_t *a = rec_spawn(rt, r, false);
	assert_int_equal(trp_actor_stop(a), TRP_EPERM);
	assert_true(trp_actor_stop(NULL) != 0);

	/* From another actor's behaviour. */
	trp_actor_def_t def = { .behavior = stop_other_behavior };
	trp_actor_t *b;
	other_target = a;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &b));
	CHECK_OK(trp_send(b, 1, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&other_stop_rc), TRP_EPERM);

	/* Nothing stopped. */
	assert_true(trp_actor_alive(a));
	CHECK_OK(send_seq(a, 1));
	settle(rt);
	assert_seen_in_order(r, 1);
	assert_int_equal(atomic_load(&r->stops), 0);
	trp_actor_release(a);
	trp_actor_release(b);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_int_equal(atomic_load(&r->stops), 1);
	assert_int_equal(r->why, TRP_STOP_SHUTDOWN);
	free(r);
}

/* ------------------------------------------------------------------ */
/* close                                                               */

static void test_close(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct api_gate g = { 0 };
	struct rec *r = rec_new();
	/* Message 1 holds the actor until both closes are done, so the
	 * second close finds it closing, not stopped. */
	r->gate = &g;
	r->gate_seq = 1;
	trp_actor_t *a = rec_spawn(rt, r, false);
	CHECK_OK(send_seq(a, 1));
	assert_true(wait_for(&g.entered, 1));
	for (uint32_t i = 2; i <= 200; i++)
		CHECK_OK(send_seq(a, i));
	CHECK_OK(trp_actor_close(a));
	/* Sends that begin after close returns are refused. */
	assert_int_equal(send_seq(a, 201), TRP_EDEAD);
	assert_int_equal(trp_send(a, 0, NULL, 0), TRP_EDEAD);
	CHECK_OK(trp_actor_close(a));	 /* twice: harmless */
	assert_true(trp_actor_alive(a)); /* closing, not yet stopped */
	atomic_store(&g.open, 1);
	settle(rt);
	assert_no_behaviour_errors();
	assert_seen_in_order(r, 200);
	assert_int_equal(atomic_load(&r->stops), 1);
	assert_int_equal(r->why, TRP_STOP_CLOSED);
	assert_int_equal(r->seen_at_stop, 200);
	assert_false(trp_actor_alive(a));
	assert_int_equal(trp_actor_close(a), TRP_EDEAD);
	assert_int_equal(atomic_load(&dlog.count), 0);
	trp_stats_t st = stats(rt);
	assert_int_equal(st.sent, 200);
	assert_int_equal(st.processed, 200);
	assert_int_equal(st.dead_lettered, 0);
	assert_int_equal(st.stopped, 1);
	trp_actor_release(a);

	/* Closing an idle actor that never had a message. */
	free(r);
	r = rec_new();
	a = rec_spawn(rt, r, true);
	CHECK_OK(trp_actor_close(a));
	settle(rt);
	assert_int_equal(atomic_load(&r->starts), 1);
	assert_int_equal(atomic_load(&r->stops), 1);
	assert_int_equal(r->why, TRP_STOP_CLOSED);
	assert_int_equal(atomic_load(&r->n_seen), 0);
	assert_int_equal(trp_actor_close(a), TRP_EDEAD);
	trp_actor_release(a);
	assert_int_equal(trp_actor_close(NULL), TRP_EINVAL);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(r);
}

/*
 * An actor closes itself in the behaviour of message 5 while 6..10 are
 * queued (message 1 holds it on a gate until they are): they were sent
 * before the close, so they are processed; then the stop hook (CLOSED).
 */
static void test_close_self(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct api_gate g = { 0 };
	struct rec *r = rec_new();
	r->gate = &g;
	r->gate_seq = 1;
	r->close_seq = 5;
	r->close_rc = 1;
	trp_actor_t *a = rec_spawn(rt, r, false);
	CHECK_OK(send_seq(a, 1));
	assert_true(wait_for(&g.entered, 1));
	for (uint32_t i = 2; i <= 10; i++)
		CHECK_OK(send_seq(a, i));
	atomic_store(&g.open, 1);
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(r->close_rc, 0);
	assert_seen_in_order(r, 10);
	assert_int_equal(atomic_load(&r->stops), 1);
	assert_int_equal(r->why, TRP_STOP_CLOSED);
	assert_int_equal(r->seen_at_stop, 10);
	assert_int_equal(atomic_load(&dlog.count), 0);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(r);
}

/* ------------------------------------------------------------------ */
/* shutdown                                                            */

struct destroyer {
	trp_runtime_t *rt;
	int rc;
	trp_stats_t final;
};

static void *destroy_thread(void *arg)
{
	struct destroyer *d = arg;
	d->rc = trp_runtime_destroy_ex(d->rt, &d->final);
	return NULL;
}

/*
 * Destroys @rt from a new thread while a behaviour holds the runtime's only
 * worker on @g: waits until destroy has begun (it refuses new calls), then
 * opens the gate so the blocked turn can finish. The dead-letter log
 * expects that thread from then on. Returns the (joined) thread.
 */
static pthread_t destroy_while_blocked(trp_runtime_t *rt, struct api_gate *g,
				       trp_stats_t *final)
{
	struct destroyer d = { rt, 1, { 0 } };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, destroy_thread, &d), 0);
	dlog.expect_thread = th;
	dlog.check_thread = true;
	int64_t deadline = now_ns() + SETTLE_NS;
	for (;;) {
		trp_actor_t *x = NULL;
		int lrc = trp_lookup(rt, "nobody", &x);
		if (lrc == TRP_ESHUTDOWN)
			break;
		assert_int_equal(lrc, TRP_ENOENT);
		assert_true(now_ns() < deadline);
		usleep(100);
	}
	atomic_store(&g->open, 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	CHECK_OK(d.rc);
	*final = d.final;
	return th;
}

/*
 * Destroy while actor A's behaviour is blocked in message 1 with 2..6
 * queued behind it (one worker, so nothing else can run them): the turn
 * finishes, the worker exits, and the destroying thread runs A's stop hook
 * (SHUTDOWN) and hands 2..6 to the dead-letter hook (SHUTDOWN), each once.
 * B, idle, stops (SHUTDOWN) too; C, closed before, is not stopped again.
 */
static void test_shutdown(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct api_gate g = { 0 };
	struct rec *ra = rec_new(), *rb = rec_new(), *rc = rec_new();
	ra->gate = &g;
	ra->gate_seq = 1;
	trp_actor_t *a = rec_spawn(rt, ra, true);
	trp_actor_t *b = rec_spawn(rt, rb, false);
	trp_actor_t *c = rec_spawn(rt, rc, false);
	CHECK_OK(trp_actor_close(c));
	settle(rt);
	assert_int_equal(atomic_load(&rc->stops), 1);
	dead_log_reset(&dlog, a, TRP_DEAD_SHUTDOWN);

	CHECK_OK(send_seq(a, 1));
	assert_true(wait_for(&g.entered, 1));
	for (uint32_t i = 2; i <= 6; i++)
		CHECK_OK(send_seq(a, i));

	trp_stats_t final;
	pthread_t th = destroy_while_blocked(rt, &g, &final);
	assert_no_behaviour_errors();

	assert_int_equal(atomic_load(&ra->starts), 1);
	assert_seen_in_order(ra, 1);
	assert_int_equal(atomic_load(&ra->stops), 1);
	assert_int_equal(ra->why, TRP_STOP_SHUTDOWN);
	assert_int_equal(ra->seen_at_stop, 1);
	assert_true(pthread_equal(ra->stop_thread, th));
	assert_int_equal(atomic_load(&dlog.count), 5);
	for (uint32_t i = 2; i <= 6; i++)
		assert_int_equal(atomic_load(&dlog.by_seq[i]), 1);
	assert_int_equal(atomic_load(&dlog.bad), 0);
	assert_int_equal(final.sent, 6);
	assert_int_equal(final.processed, 1);
	assert_int_equal(final.dead_lettered, 5);
	assert_int_equal(final.spawned, 3);
	assert_int_equal(final.stopped, 3);

	assert_int_equal(atomic_load(&rb->stops), 1);
	assert_int_equal(rb->why, TRP_STOP_SHUTDOWN);
	assert_true(pthread_equal(rb->stop_thread, th));
	assert_int_equal(atomic_load(&rc->stops), 1);
	assert_int_equal(rc->why, TRP_STOP_CLOSED);

	assert_false(trp_actor_alive(a));
	assert_false(trp_actor_alive(b));
	int src = send_seq(a, 7);
	assert_true(src == TRP_EDEAD || src == TRP_ESHUTDOWN);
	trp_actor_release(a);
	trp_actor_release(b);
	trp_actor_release(c);
	free(ra);
	free(rb);
	free(rc);
}

/* ------------------------------------------------------------------ */
/* send errors                                                         */

static atomic_int owned_frees;
static void *owned_last_freed;
static void owned_free(void *p)
{
	owned_last_freed = p;
	atomic_fetch_add(&owned_frees, 1);
	free(p);
}

static void test_send_errors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = rec_new();
	trp_actor_t *a = rec_spawn(rt, r, false);
	char buf[8] = "payload";
	atomic_store(&owned_frees, 0);

	assert_int_equal(trp_send(NULL, 1, buf, sizeof buf), TRP_EINVAL);
	assert_int_equal(trp_send(NULL, 1, NULL, 0), TRP_EINVAL);
	assert_int_equal(trp_send(a, 1, NULL, 1), TRP_EINVAL);
	assert_int_equal(trp_send(a, 1, NULL, 4096), TRP_EINVAL);
	/* Refused on the size alone: the buffer is never read. */
	assert_int_equal(trp_send(a, 1, buf, TRP_MSG_MAX + 1), TRP_EMSGSIZE);
	assert_int_equal(trp_send(a, 1, buf, SIZE_MAX), TRP_EMSGSIZE);

	void *ob = malloc(16);
	assert_non_null(ob);
	assert_int_equal(trp_send_owned(NULL, 1, ob, 16, owned_free),
			 TRP_EINVAL);
	assert_int_equal(trp_send_owned(a, 1, NULL, 16, owned_free),
			 TRP_EINVAL);
	assert_int_equal(trp_send_owned(a, 1, ob, TRP_MSG_MAX + 1, owned_free),
			 TRP_EMSGSIZE);
	settle(rt);
	/* Nothing was accepted, so nothing ran or was freed. */
	assert_int_equal(atomic_load(&owned_frees), 0);
	assert_int_equal(atomic_load(&r->n_seen), 0);
	trp_stats_t st = stats(rt);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.processed, 0);
	assert_int_equal(st.rejected, 0);
	free(ob);

	/* data NULL with len 0 is a valid empty message. */
	CHECK_OK(trp_send(a, 1, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&r->n_seen), 1);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(r);
}

/* ------------------------------------------------------------------ */
/* payloads                                                            */

static const size_t sizes[] = {
	0, 1, 15, 16, 17, 31, 32, 33, 48, 100, 4096, 65536, (size_t)1 << 20
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static unsigned char pattern_byte(size_t size, size_t i)
{
	return (unsigned char)(i * 31u + size * 7u + 1u);
}

static void fill_pattern(unsigned char *p, size_t size)
{
	for (size_t i = 0; i < size; i++)
		p[i] = pattern_byte(size, i);
}

/* Message type = index into sizes[] (+ 100 when relayed). */
static atomic_long payload_ok[2][NSIZES];
static atomic_int payload_bad;

static void check_payload(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	uint32_t relayed = msg->type >= 100;
	uint32_t k = msg->type % 100;
	if (k >= NSIZES || msg->size != sizes[k] || msg->status != 0) {
		atomic_fetch_add(&payload_bad, 1);
		return;
	}
	if (msg->size == 0) {
		if (msg->data != NULL)
			atomic_fetch_add(&payload_bad, 1);
	} else {
		const unsigned char *p = msg->data;
		if (p == NULL || ((uintptr_t)p & 15) != 0) {
			atomic_fetch_add(&payload_bad, 1);
			return;
		}
		for (size_t i = 0; i < msg->size; i++)
			if (p[i] != pattern_byte(msg->size, i)) {
				atomic_fetch_add(&payload_bad, 1);
				return;
			}
	}
	atomic_fetch_add(&payload_ok[relayed][k], 1);
}

/* Copies each message on to the checker, from a worker thread (the
 * per-worker message pool path in release builds). */
static trp_actor_t *relay_to;
static void relay_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	int rc = trp_send(relay_to, msg->type + 100, msg->data, msg->size);
	if (rc != 0)
		note_error(rc);
}

static void test_payload_sizes(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_def_t cdef = { .behavior = check_payload };
	trp_actor_def_t rdef = { .behavior = relay_behavior };
	trp_actor_t *checker, *relay;
	CHECK_OK(trp_actor_spawn(rt, &cdef, NULL, &checker));
	CHECK_OK(trp_actor_spawn(rt, &rdef, NULL, &relay));
	relay_to = checker;
	unsigned char *buf = malloc(sizes[NSIZES - 1]);
	assert_non_null(buf);
	for (int rep = 0; rep < 3; rep++) {
		for (uint32_t k = 0; k < NSIZES; k++) {
			fill_pattern(buf, sizes[k]);
			CHECK_OK(trp_send(checker, k, sizes[k] ? buf : NULL,
					  sizes[k]));
			CHECK_OK(trp_send(relay, k, sizes[k] ? buf : NULL,
					  sizes[k]));
			/* The caller may reuse its buffer at once. */
			memset(buf, 0xEE, sizes[k]);
		}
	}
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&payload_bad), 0);
	for (uint32_t k = 0; k < NSIZES; k++) {
		assert_int_equal(atomic_load(&payload_ok[0][k]), 3);
		assert_int_equal(atomic_load(&payload_ok[1][k]), 3);
	}
	free(buf);
	trp_actor_release(checker);
	trp_actor_release(relay);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* zero-copy sends                                                     */

struct owned_obs {
	atomic_long msgs;
	const void *ptr[8];
	size_t size[8];
	atomic_int freed_before_behaviour_done;
};
static struct owned_obs oobs;
static atomic_int behaviour_done[8];

static void owned_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	long i = atomic_fetch_add(&oobs.msgs, 1);
	if (i < 8) {
		oobs.ptr[i] = msg->data;
		oobs.size[i] = msg->size;
	}
	/* Still ours to read during the call. */
	if (msg->size >= 4 && memcmp(msg->data, "own", 4) != 0)
		note_error(TRP_EINVAL);
	if (i < 8)
		atomic_store(&behaviour_done[i], 1);
}

/* Checks that the behaviour finished before the buffer is freed. */
static void owned_free_checked(void *p)
{
	long n = atomic_load(&oobs.msgs);
	for (long i = 0; i < n && i < 8; i++)
		if (oobs.ptr[i] == p && !atomic_load(&behaviour_done[i]))
			atomic_fetch_add(&oobs.freed_before_behaviour_done, 1);
	owned_free(p);
}

static void test_send_owned(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_def_t def = { .behavior = owned_behavior };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));
	atomic_store(&owned_frees, 0);

	/* Delivered without a copy, freed once by free_fn afterwards. */
	char *p = malloc(4096);
	assert_non_null(p);
	memcpy(p, "own", 4);
	CHECK_OK(trp_send_owned(a, 1, p, 4096, owned_free_checked));
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&oobs.msgs), 1);
	assert_ptr_equal(oobs.ptr[0], p);
	assert_int_equal(oobs.size[0], 4096);
	assert_int_equal(atomic_load(&owned_frees), 1);
	assert_ptr_equal(owned_last_freed, p);
	assert_int_equal(atomic_load(&oobs.freed_before_behaviour_done), 0);

	/* A small one (pooled message block in release builds). */
	p = malloc(4);
	assert_non_null(p);
	memcpy(p, "own", 4);
	CHECK_OK(trp_send_owned(a, 1, p, 4, owned_free_checked));
	settle(rt);
	assert_int_equal(atomic_load(&oobs.msgs), 2);
	assert_ptr_equal(oobs.ptr[1], p);
	assert_int_equal(atomic_load(&owned_frees), 2);

	/* free_fn NULL: free() (ASan reports a leak or a bad free else). */
	p = malloc(100);
	assert_non_null(p);
	memcpy(p, "own", 4);
	CHECK_OK(trp_send_owned(a, 1, p, 100, NULL));
	settle(rt);
	assert_int_equal(atomic_load(&oobs.msgs), 3);
	assert_ptr_equal(oobs.ptr[2], p);
	assert_int_equal(atomic_load(&owned_frees), 2);

	/* Refused (stopped actor): not freed, still the caller's. */
	CHECK_OK(trp_actor_close(a));
	settle(rt);
	p = malloc(64);
	assert_non_null(p);
	memcpy(p, "own", 4);
	assert_int_equal(trp_send_owned(a, 1, p, 64, owned_free), TRP_EDEAD);
	assert_int_equal(trp_send_owned(a, 1, p, 64, NULL), TRP_EDEAD);
	settle(rt);
	assert_int_equal(atomic_load(&owned_frees), 2);
	memset(p, 0, 64); /* still valid memory */
	free(p);
	assert_int_equal(atomic_load(&oobs.msgs), 3);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_no_behaviour_errors();
}

/* Owned messages that become dead letters are freed once, by free_fn,
 * after the dead-letter hook saw them. */
static void test_send_owned_dead_letters(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct api_gate g = { 0 };
	struct rec *r = rec_new();
	r->gate = &g;
	r->gate_seq = 1;
	r->stop_seq = 1;
	trp_actor_t *a = rec_spawn(rt, r, false);
	dead_log_reset(&dlog, a, TRP_DEAD_STOPPED);
	atomic_store(&owned_frees, 0);
	CHECK_OK(send_seq(a, 1));
	assert_true(wait_for(&g.entered, 1));
	for (uint32_t i = 2; i <= 5; i++) {
		uint32_t *p = malloc(sizeof *p);
		assert_non_null(p);
		*p = i;
		CHECK_OK(trp_send_owned(a, i, p, sizeof *p, owned_free));
	}
	atomic_store(&g.open, 1);
	settle(rt);
	assert_no_behaviour_errors();
	assert_seen_in_order(r, 1);
	assert_int_equal(atomic_load(&dlog.count), 4);
	for (uint32_t i = 2; i <= 5; i++)
		assert_int_equal(atomic_load(&dlog.by_seq[i]), 1);
	assert_int_equal(atomic_load(&dlog.bad), 0);
	assert_int_equal(atomic_load(&owned_frees), 4);

	trp_actor_release(a);

	/* At shutdown: B's messages wait behind A's blocked turn on the only
	 * worker, and are dead letters when the runtime goes. */
	api_gate_reset(&g);
	struct rec *rb = rec_new();
	r->stop_seq = UINT32_MAX;
	a = rec_spawn(rt, r, false);
	trp_actor_t *b = rec_spawn(rt, rb, false);
	CHECK_OK(send_seq(a, 1));
	assert_true(wait_for(&g.entered, 1));
	dead_log_reset(&dlog, b, TRP_DEAD_SHUTDOWN);
	for (uint32_t i = 2; i <= 5; i++) {
		uint32_t *p = malloc(sizeof *p);
		assert_non_null(p);
		*p = i;
		CHECK_OK(trp_send_owned(b, i, p, sizeof *p, owned_free));
	}
	trp_stats_t final;
	(void)destroy_while_blocked(rt, &g, &final);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&rb->n_seen), 0);
	assert_int_equal(atomic_load(&rb->stops), 1);
	assert_int_equal(rb->why, TRP_STOP_SHUTDOWN);
	assert_int_equal(atomic_load(&dlog.count), 4);
	for (uint32_t i = 2; i <= 5; i++)
		assert_int_equal(atomic_load(&dlog.by_seq[i]), 1);
	assert_int_equal(atomic_load(&dlog.bad), 0);
	assert_int_equal(atomic_load(&owned_frees), 8);
	/* 5 (first part) + 1 to A + 4 owned to B */
	assert_int_equal(final.sent, 10);
	assert_int_equal(final.processed, 2);
	assert_int_equal(final.dead_lettered, 8);
	trp_actor_release(a);
	trp_actor_release(b);
	free(r);
	free(rb);
}

/* ------------------------------------------------------------------ */
/* per-sender order                                                    */

#define FIFO_N 10000
#define FIFO_SENDERS 5 /* main, 2 threads, 2 actors */

struct fifo_msg {
	uint32_t sender;
	uint32_t seq;
};

static uint32_t fifo_next[FIFO_SENDERS]; /* receiver only */
static atomic_long fifo_received;
static atomic_int fifo_errors;

static void fifo_receiver(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	struct fifo_msg m;
	if (msg->size != sizeof m) {
		atomic_fetch_add(&fifo_errors, 1);
		return;
	}
	memcpy(&m, msg->data, sizeof m);
	if (m.sender >= FIFO_SENDERS || m.seq != fifo_next[m.sender])
		atomic_fetch_add(&fifo_errors, 1);
	else
		fifo_next[m.sender]++;
	atomic_fetch_add(&fifo_received, 1);
}

struct fifo_sender {
	trp_actor_t *to;
	uint32_t id;
	uint32_t seq;
};

/* Actor sender: 500 per turn, then a self-message for the next batch. */
static void fifo_actor_sender(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	struct fifo_sender *s = state;
	(void)msg;
	for (int i = 0; i < 500 && s->seq < FIFO_N; i++) {
		struct fifo_msg m = { s->id, s->seq };
		int rc = trp_send(s->to, 1, &m, sizeof m);
		if (rc != 0) {
			note_error(rc);
			return;
		}
		s->seq++;
	}
	if (s->seq < FIFO_N) {
		int rc = trp_send(self, 1, NULL, 0);
		if (rc != 0)
			note_error(rc);
	}
}

static void *fifo_thread(void *arg)
{
	struct fifo_sender *s = arg;
	for (; s->seq < FIFO_N; s->seq++) {
		struct fifo_msg m = { s->id, s->seq };
		int rc = trp_send(s->to, 1, &m, sizeof m);
		if (rc != 0) {
			note_error(rc);
			break;
		}
	}
	return NULL;
}

static void test_fifo(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_def_t rdef = { .behavior = fifo_receiver };
	trp_actor_t *rcv;
	CHECK_OK(trp_actor_spawn(rt, &rdef, NULL, &rcv));
	memset(fifo_next, 0, sizeof fifo_next);
	atomic_store(&fifo_received, 0);

	trp_actor_t *as[2];
	for (uint32_t i = 0; i < 2; i++) {
		struct fifo_sender st = { rcv, 3 + i, 0 };
		trp_actor_def_t def = { .behavior = fifo_actor_sender,
					.state_size = sizeof st };
		CHECK_OK(trp_actor_spawn(rt, &def, &st, &as[i]));
		CHECK_OK(trp_send(as[i], 1, NULL, 0));
	}
	struct fifo_sender ts[2] = { { rcv, 1, 0 }, { rcv, 2, 0 } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, fifo_thread, &ts[i]), 0);
	for (uint32_t s = 0; s < FIFO_N; s++) {
		struct fifo_msg m = { 0, s };
		CHECK_OK(trp_send(rcv, 1, &m, sizeof m));
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&fifo_errors), 0);
	assert_int_equal(atomic_load(&fifo_received), FIFO_SENDERS * FIFO_N);
	for (int i = 0; i < FIFO_SENDERS; i++)
		assert_int_equal(fifo_next[i], FIFO_N);
	trp_actor_release(as[0]);
	trp_actor_release(as[1]);
	trp_actor_release(rcv);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* send batches and bundles (core/outbox.h)                            */

/*
 * A burst sender sends seq first..last to one receiver in one turn: the
 * first goes at once, the rest join a chain in which small copies are
 * packed into bundles and anything else (owned, larger than a bundle
 * takes) travels as its own node. Payload of seq s: burst_size(s) bytes,
 * byte i = (uint8_t)(s + i); seq s % 7 == 6 is sent owned.
 */
static const uint32_t burst_sizes[7] = { 4, 0, 17, 240, 241, 1000, 4 };
#define BURST_MAX 1000

static uint32_t burst_size(uint32_t s)
{
	return burst_sizes[s % 7];
}

static bool burst_owned(uint32_t s)
{
	return s % 7 == 6;
}

struct burst {
	trp_actor_t *to;
	uint32_t first, last; /* per turn */
	uint32_t turns;	      /* turns left, one burst each */
	bool plain;	      /* 4-byte seq payloads only (the rec actor's) */
};

static int burst_send(trp_actor_t *to, uint32_t s, bool plain)
{
	if (plain)
		return send_seq(to, s);
	uint32_t size = burst_size(s);
	unsigned char *p = malloc(size != 0 ? size : 1);
	if (p == NULL)
		return TRP_ENOMEM;
	for (uint32_t i = 0; i < size; i++)
		p[i] = (unsigned char)(s + i);
	int rc;
	if (burst_owned(s)) {
		rc = trp_send_owned(to, s, p, size, free);
		if (rc == 0)
			return 0;
	} else {
		rc = trp_send(to, s, size != 0 ? p : NULL, size);
	}
	free(p);
	return rc;
}

static void burst_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)msg;
	struct burst *b = state;
	for (uint32_t s = b->first; s <= b->last; s++) {
		int rc = burst_send(b->to, s, b->plain);
		if (rc != 0) {
			note_error(rc);
			return;
		}
	}
	uint32_t span = b->last - b->first + 1;
	b->first += span;
	b->last += span;
	if (--b->turns != 0) {
		int rc = trp_send(self, 0, NULL, 0);
		if (rc != 0)
			note_error(rc);
	}
}

/* Checks every message of a burst: order, size, alignment, bytes, and
 * that none of them can be replied to. */
struct burst_check {
	uint32_t next;
	atomic_long got;
	atomic_int bad;
};

static void burst_check_behavior(trp_actor_t *self, void *state,
				 const trp_msg_t *msg)
{
	(void)self;
	struct burst_check *c = state;
	uint32_t s = msg->type;
	uint32_t size = burst_size(s);
	bool ok = s == c->next && msg->size == size &&
		  (size == 0) == (msg->data == NULL) &&
		  (burst_owned(s) || ((uintptr_t)msg->data & 15) == 0);
	for (uint32_t i = 0; ok && i < size; i++)
		ok = ((const unsigned char *)msg->data)[i] ==
		     (unsigned char)(s + i);
	if (trp_reply(msg, NULL, 0) != TRP_ENOTREQUEST)
		ok = false;
	if (!ok)
		atomic_fetch_add(&c->bad, 1);
	c->next = s + 1;
	atomic_fetch_add(&c->got, 1);
}

static trp_runtime_t *make_rt_batch(uint32_t workers, uint32_t batch)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt = NULL;
	cfg.workers = workers;
	cfg.batch = batch;
	cfg.dead_letter = dead_letter_hook;
	cfg.dead_letter_ctx = &dlog;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	dead_log_reset(&dlog, NULL, TRP_DEAD_STOPPED);
	return rt;
}

/*
 * Mixed payloads in one turn arrive in order and intact, also when the
 * receiver's turns are shorter than a bundle (batch 3: a turn ends in the
 * middle of one and the next turn goes on from there).
 */
static void test_burst_mixed(void **unused)
{
	(void)unused;
	static const uint32_t batches[] = { 0, 3 };
	for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
		trp_runtime_t *rt = make_rt_batch(2, batches[k]);
		struct burst_check c = { .next = 1 };
		trp_actor_def_t cdef = { .behavior = burst_check_behavior };
		trp_actor_t *rcv;
		CHECK_OK(trp_actor_spawn(rt, &cdef, &c, &rcv));
		struct burst b = { rcv, 1, 300, 3, false };
		trp_actor_def_t bdef = { .behavior = burst_behavior,
					 .state_size = sizeof b };
		trp_actor_t *snd;
		CHECK_OK(trp_actor_spawn(rt, &bdef, &b, &snd));
		CHECK_OK(trp_send(snd, 0, NULL, 0));
		settle(rt);
		assert_no_behaviour_errors();
		assert_int_equal(atomic_load(&c.got), 900);
		assert_int_equal(atomic_load(&c.bad), 0);
		trp_stats_t st = stats(rt);
		assert_int_equal(st.sent, 1 + 900 + 2);
		assert_int_equal(st.processed, st.sent);
		assert_int_equal(st.dead_lettered, 0);
		trp_actor_release(snd);
		trp_actor_release(rcv);
		(void)api_assert_balanced(rt);
		CHECK_OK(trp_runtime_destroy(rt));
	}
}

/*
 * The receiver stops in the middle of a bundle (one worker: the sender's
 * turn, and so its whole chain, is done before the receiver runs): the
 * rest of that bundle and of the chain are dead letters, each once, with
 * their payloads intact.
 */
static void test_burst_stop_midway(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = rec_new();
	r->stop_seq = 20;
	trp_actor_t *rcv = rec_spawn(rt, r, false);
	dead_log_reset(&dlog, rcv, TRP_DEAD_STOPPED);
	struct burst b = { rcv, 1, 60, 1, true };
	trp_actor_def_t bdef = { .behavior = burst_behavior,
				 .state_size = sizeof b };
	trp_actor_t *snd;
	CHECK_OK(trp_actor_spawn(rt, &bdef, &b, &snd));
	CHECK_OK(trp_send(snd, 0, NULL, 0));
	settle(rt);
	assert_no_behaviour_errors();
	assert_seen_in_order(r, 20);
	assert_int_equal(r->seen_at_stop, 20);
	assert_int_equal(atomic_load(&dlog.count), 40);
	for (uint32_t i = 21; i <= 60; i++)
		assert_int_equal(atomic_load(&dlog.by_seq[i]), 1);
	assert_int_equal(atomic_load(&dlog.bad), 0);
	trp_stats_t st = stats(rt);
	assert_int_equal(st.sent, 61);
	assert_int_equal(st.processed, 21);
	assert_int_equal(st.dead_lettered, 40);
	trp_actor_release(snd);
	trp_actor_release(rcv);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(r);
}

/*
 * Destroy while the receiver is blocked in the middle of a bundle: after
 * the blocked message its turn ends (shutdown), and the destroying thread
 * hands the rest of the bundle and the chain to the dead letters.
 */
static void test_burst_shutdown_midway(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt_batch(1, 5);
	struct api_gate g = { 0 };
	struct rec *r = rec_new();
	r->gate = &g;
	r->gate_seq = 3;
	trp_actor_t *rcv = rec_spawn(rt, r, false);
	struct burst b = { rcv, 1, 40, 1, true };
	trp_actor_def_t bdef = { .behavior = burst_behavior,
				 .state_size = sizeof b };
	trp_actor_t *snd;
	CHECK_OK(trp_actor_spawn(rt, &bdef, &b, &snd));
	CHECK_OK(trp_send(snd, 0, NULL, 0));
	assert_true(wait_for(&g.entered, 1));
	dead_log_reset(&dlog, rcv, TRP_DEAD_SHUTDOWN);
	trp_stats_t final;
	(void)destroy_while_blocked(rt, &g, &final);
	assert_no_behaviour_errors();
	assert_seen_in_order(r, 3);
	assert_int_equal(atomic_load(&r->stops), 1);
	assert_int_equal(r->why, TRP_STOP_SHUTDOWN);
	assert_int_equal(atomic_load(&dlog.count), 37);
	for (uint32_t i = 4; i <= 40; i++)
		assert_int_equal(atomic_load(&dlog.by_seq[i]), 1);
	assert_int_equal(atomic_load(&dlog.bad), 0);
	assert_int_equal(final.sent, 41);
	assert_int_equal(final.processed, 4);
	assert_int_equal(final.dead_lettered, 37);
	trp_actor_release(snd);
	trp_actor_release(rcv);
	free(r);
}

/*
 * Self-sends: an actor that sends itself messages during a turn gets them
 * back in order and intact, whether they stay in the turn's self bundle,
 * overflow it (300 > what 2 KiB hold) or are of a kind that always goes
 * through the mailbox (owned, large); with short turns (batch 3) too, and
 * while another actor keeps sending it messages of its own.
 */
struct selfer {
	uint32_t n;	  /* seqs per burst */
	uint32_t bursts;  /* bursts left */
	uint32_t next;	  /* next self seq expected */
	uint32_t others;  /* messages from the other sender */
	uint32_t stop_at; /* seq to stop at (0: never) */
	uint32_t close_at;
	atomic_long got;
	atomic_int bad;
};

enum {
	SELF_GO = 0x10000,   /* start a burst */
	SELF_OTHER = 0x20000 /* from the other sender */
};

static void selfer_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	struct selfer *x = state;
	if (msg->type == SELF_OTHER) {
		x->others++;
		return;
	}
	if (msg->type == SELF_GO) {
		uint32_t first = x->next;
		for (uint32_t s = first; s < first + x->n; s++) {
			int rc = burst_send(self, s, false);
			if (rc != 0) {
				note_error(rc);
				return;
			}
		}
		if (x->close_at == first + x->n) {
			int rc = trp_actor_close(self);
			if (rc != 0)
				note_error(rc);
		}
		if (x->stop_at == first) {
			int rc = trp_actor_stop(self);
			if (rc != 0)
				note_error(rc);
		}
		return;
	}
	uint32_t s = msg->type;
	uint32_t size = burst_size(s);
	bool ok = s == x->next && msg->size == size &&
		  (size == 0) == (msg->data == NULL);
	for (uint32_t i = 0; ok && i < size; i++)
		ok = ((const unsigned char *)msg->data)[i] ==
		     (unsigned char)(s + i);
	if (!ok)
		atomic_fetch_add(&x->bad, 1);
	x->next = s + 1;
	atomic_fetch_add(&x->got, 1);
	if (s == x->next - 1 && (s % x->n) == 0 && --x->bursts != 0) {
		int rc = trp_send(self, SELF_GO, NULL, 0);
		if (rc != 0)
			note_error(rc);
	}
}

struct other_sender {
	trp_actor_t *to;
	uint32_t left;
};

static void other_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)msg;
	struct other_sender *o = state;
	for (int i = 0; i < 50 && o->left != 0; i++, o->left--) {
		int rc = trp_send(o->to, SELF_OTHER, NULL, 0);
		if (rc != 0) {
			note_error(rc);
			return;
		}
	}
	if (o->left != 0) {
		int rc = trp_send(self, 0, NULL, 0);
		if (rc != 0)
			note_error(rc);
	}
}

static void test_self_sends(void **unused)
{
	(void)unused;
	static const uint32_t batches[] = { 0, 3 };
	for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
		trp_runtime_t *rt = make_rt_batch(2, batches[k]);
		struct selfer x = { .n = 300, .bursts = 4, .next = 1 };
		trp_actor_def_t def = { .behavior = selfer_behavior };
		trp_actor_t *a;
		CHECK_OK(trp_actor_spawn(rt, &def, &x, &a));
		struct other_sender os = { a, 2000 };
		trp_actor_def_t odef = { .behavior = other_behavior,
					 .state_size = sizeof os };
		trp_actor_t *b;
		CHECK_OK(trp_actor_spawn(rt, &odef, &os, &b));
		CHECK_OK(trp_send(a, SELF_GO, NULL, 0));
		CHECK_OK(trp_send(b, 0, NULL, 0));
		settle(rt);
		assert_no_behaviour_errors();
		assert_int_equal(atomic_load(&x.got), 1200);
		assert_int_equal(atomic_load(&x.bad), 0);
		assert_int_equal(x.others, 2000);
		trp_stats_t st = stats(rt);
		assert_int_equal(st.processed, st.sent);
		assert_int_equal(st.dead_lettered, 0);
		trp_actor_release(a);
		trp_actor_release(b);
		(void)api_assert_balanced(rt);
		CHECK_OK(trp_runtime_destroy(rt));
	}
}

/* Self-sends still pending when the actor stops are dead letters; when it
 * closes itself, they are processed first (they were sent before). */
static void test_self_sends_stop_close(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct selfer x = { .n = 10, .bursts = 1, .next = 1, .stop_at = 1 };
	trp_actor_def_t def = { .behavior = selfer_behavior };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, &x, &a));
	dead_log_reset(&dlog, a, TRP_DEAD_STOPPED);
	CHECK_OK(trp_send(a, SELF_GO, NULL, 0));
	settle(rt);
	assert_no_behaviour_errors();
	assert_false(trp_actor_alive(a));
	assert_int_equal(atomic_load(&x.got), 0);
	assert_int_equal(atomic_load(&dlog.count), 10);
	trp_stats_t st = stats(rt);
	assert_int_equal(st.sent, 11);
	assert_int_equal(st.processed, 1);
	assert_int_equal(st.dead_lettered, 10);
	trp_actor_release(a);

	struct selfer y = { .n = 10, .bursts = 1, .next = 1, .close_at = 11 };
	CHECK_OK(trp_actor_spawn(rt, &def, &y, &a));
	CHECK_OK(trp_send(a, SELF_GO, NULL, 0));
	settle(rt);
	assert_no_behaviour_errors();
	assert_false(trp_actor_alive(a));
	assert_int_equal(atomic_load(&y.got), 10);
	assert_int_equal(atomic_load(&y.bad), 0);
	assert_int_equal(atomic_load(&dlog.count), 10); /* no new ones */
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/*
 * close() from another thread while the actor's turn holds self-sends it
 * made before the close: they were accepted first, so they are processed
 * before the actor stops (TRP_STOP_CLOSED), none is a dead letter.
 */
struct closing_self {
	struct api_gate *gate;
	atomic_long got;
	trp_stop_reason_t why;
	atomic_int stops;
};

static void closing_self_behavior(trp_actor_t *self, void *state,
				  const trp_msg_t *msg)
{
	struct closing_self *c = state;
	if (msg->type == 0) {
		for (uint32_t i = 1; i <= 3; i++) {
			int rc = trp_send(self, i, &i, sizeof i);
			if (rc != 0)
				note_error(rc);
		}
		api_gate_block(c->gate); /* the test closes us meanwhile */
		return;
	}
	atomic_fetch_add(&c->got, 1);
}

static void closing_self_stop(trp_actor_t *self, void *state,
			      trp_stop_reason_t why)
{
	(void)self;
	struct closing_self *c = state;
	c->why = why;
	atomic_fetch_add(&c->stops, 1);
}

static void test_self_sends_then_close(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct api_gate g = { 0 };
	struct closing_self c = { .gate = &g };
	trp_actor_def_t def = { .behavior = closing_self_behavior,
				.stop = closing_self_stop };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, &c, &a));
	dead_log_reset(&dlog, a, TRP_DEAD_STOPPED);
	CHECK_OK(trp_send(a, 0, NULL, 0));
	assert_true(wait_for(&g.entered, 1));
	CHECK_OK(trp_actor_close(a));
	atomic_store(&g.open, 1);
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&c.got), 3);
	assert_int_equal(atomic_load(&c.stops), 1);
	assert_int_equal(c.why, TRP_STOP_CLOSED);
	assert_int_equal(atomic_load(&dlog.count), 0);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* bounded mailboxes                                                   */

static void test_bounded_mailbox(void **unused)
{
	(void)unused;
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt;
	cfg.workers = 2;
	cfg.mailbox_limit = 2; /* the runtime default */
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	struct api_gate g = { 0 };

	/* def.mailbox_limit = 4: the message in progress still counts. */
	struct rec *r = rec_new();
	r->gate = &g;
	r->gate_seq = 1;
	trp_actor_def_t def = { .behavior = rec_behavior,
				.stop = rec_stop,
				.mailbox_limit = 4 };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, r, &a));
	CHECK_OK(send_seq(a, 1));
	assert_true(wait_for(&g.entered, 1));
	CHECK_OK(send_seq(a, 2));
	CHECK_OK(send_seq(a, 3));
	CHECK_OK(send_seq(a, 4));
	assert_int_equal(send_seq(a, 5), TRP_EFULL);
	assert_int_equal(trp_send(a, 5, NULL, 0), TRP_EFULL);
	atomic_store(&owned_frees, 0);
	void *ob = malloc(8);
	assert_non_null(ob);
	assert_int_equal(trp_send_owned(a, 5, ob, 8, owned_free), TRP_EFULL);
	assert_int_equal(atomic_load(&owned_frees), 0); /* still ours */
	free(ob);
	trp_stats_t st = stats(rt);
	assert_int_equal(st.rejected, 3);
	assert_int_equal(st.sent, 4);
	atomic_store(&g.open, 1);
	settle(rt);
	assert_no_behaviour_errors();
	assert_seen_in_order(r, 4);
	/* Drained: room again. */
	for (uint32_t i = 5; i <= 8; i++)
		CHECK_OK(send_seq(a, i));
	settle(rt);
	assert_seen_in_order(r, 8);
	st = stats(rt);
	assert_int_equal(st.rejected, 3);
	assert_int_equal(st.sent, 8);
	assert_int_equal(st.processed, 8);
	trp_actor_release(a);
	struct rec *r1 = r; /* stop hooks run at destroy: keep the states */

	/* def.mailbox_limit = 0: the runtime's default of 2. */
	api_gate_reset(&g);
	r = rec_new();
	r->gate = &g;
	r->gate_seq = 1;
	def.mailbox_limit = 0;
	CHECK_OK(trp_actor_spawn(rt, &def, r, &a));
	CHECK_OK(send_seq(a, 1));
	assert_true(wait_for(&g.entered, 1));
	CHECK_OK(send_seq(a, 2));
	assert_int_equal(send_seq(a, 3), TRP_EFULL);
	atomic_store(&g.open, 1);
	settle(rt);
	assert_seen_in_order(r, 2);
	trp_actor_release(a);
	struct rec *r2 = r;

	/* TRP_MAILBOX_UNBOUNDED overrides the default. */
	api_gate_reset(&g);
	r = rec_new();
	r->gate = &g;
	r->gate_seq = 1;
	def.mailbox_limit = TRP_MAILBOX_UNBOUNDED;
	CHECK_OK(trp_actor_spawn(rt, &def, r, &a));
	CHECK_OK(send_seq(a, 1));
	assert_true(wait_for(&g.entered, 1));
	for (uint32_t i = 2; i <= 100; i++)
		CHECK_OK(send_seq(a, i));
	atomic_store(&g.open, 1);
	settle(rt);
	assert_no_behaviour_errors();
	assert_seen_in_order(r, 100);
	st = stats(rt);
	assert_int_equal(st.rejected, 4);
	assert_int_equal(st.processed, st.sent);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(r);
	free(r1);
	free(r2);
}

/* ------------------------------------------------------------------ */
/* identity and references                                             */

static void test_ids_alive_runtime(void **unused)
{
	(void)unused;
	trp_runtime_t *rt1 = make_rt(1), *rt2 = make_rt(1);
	enum {
		N = 64
	};
	trp_actor_t *a[2 * N];
	trp_actor_def_t def = { .behavior = noop_behavior };
	for (int i = 0; i < 2 * N; i++)
		CHECK_OK(trp_actor_spawn(i % 2 ? rt2 : rt1, &def, NULL, &a[i]));
	for (int i = 0; i < 2 * N; i++) {
		assert_true(trp_actor_id(a[i]) > 0);
		assert_ptr_equal(trp_actor_runtime(a[i]), i % 2 ? rt2 : rt1);
		assert_true(trp_actor_alive(a[i]));
		for (int j = 0; j < i; j++)
			assert_true(trp_actor_id(a[i]) != trp_actor_id(a[j]));
	}
	uint64_t id0 = trp_actor_id(a[0]);
	CHECK_OK(trp_actor_close(a[0]));
	settle(rt1);
	assert_false(trp_actor_alive(a[0]));
	/* The handle keeps its identity after the stop. */
	assert_int_equal(trp_actor_id(a[0]), id0);
	assert_ptr_equal(trp_actor_runtime(a[0]), rt1);
	/* Ids are never reused. */
	trp_actor_t *b;
	CHECK_OK(trp_actor_spawn(rt1, &def, NULL, &b));
	for (int j = 0; j < 2 * N; j++)
		assert_true(trp_actor_id(b) != trp_actor_id(a[j]));
	trp_actor_release(b);
	for (int i = 0; i < 2 * N; i++)
		trp_actor_release(a[i]);
	(void)api_assert_balanced(rt1);
	CHECK_OK(trp_runtime_destroy(rt1));
	(void)api_assert_balanced(rt2);
	CHECK_OK(trp_runtime_destroy(rt2));
}

/* Sends itself `state` more messages; lives without any handle. */
static atomic_long selfsend_count;
static void selfsend_behavior(trp_actor_t *self, void *state,
			      const trp_msg_t *msg)
{
	long *left = state;
	(void)msg;
	atomic_fetch_add(&selfsend_count, 1);
	if (*left > 0) {
		--*left;
		int rc = trp_send(self, 1, NULL, 0);
		if (rc != 0)
			note_error(rc);
	}
}

static void selfsend_start(trp_actor_t *self, void *state)
{
	(void)state;
	int rc = trp_send(self, 1, NULL, 0);
	if (rc != 0)
		note_error(rc);
}

static void test_retain_release(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct rec *r = rec_new();
	trp_actor_t *a = rec_spawn(rt, r, false);
	assert_ptr_equal(trp_actor_retain(a), a);
	assert_ptr_equal(trp_actor_retain(a), a);
	trp_actor_release(a);
	trp_actor_release(a);
	assert_null(trp_actor_retain(NULL));
	trp_actor_release(NULL);
	CHECK_OK(send_seq(a, 1));
	settle(rt);
	assert_seen_in_order(r, 1);

	/* Handles taken from other threads, dropped after the stop: the
	 * last release frees (ASan reports a leak or a use after free). */
	trp_actor_t *extra[8];
	for (int i = 0; i < 8; i++)
		extra[i] = trp_actor_retain(a);
	CHECK_OK(trp_actor_close(a));
	settle(rt);
	assert_false(trp_actor_alive(a));
	for (int i = 0; i < 8; i++) {
		assert_int_equal(send_seq(extra[i], 2), TRP_EDEAD);
		trp_actor_release(extra[i]);
	}
	assert_int_equal(send_seq(a, 2), TRP_EDEAD);
	trp_actor_release(a);
	free(r);

	/* A running actor does not need handles. */
	long left = 100;
	trp_actor_def_t def = { .behavior = selfsend_behavior,
				.state_size = sizeof left };
	CHECK_OK(trp_actor_spawn(rt, &def, &left, &a));
	CHECK_OK(trp_send(a, 1, NULL, 0));
	trp_actor_release(a);
	settle(rt);
	assert_int_equal(atomic_load(&selfsend_count), 101);
	/* Nor with out = NULL (its start hook gets it going). */
	trp_actor_def_t sdef = { .behavior = selfsend_behavior,
				 .start = selfsend_start,
				 .state_size = sizeof left };
	CHECK_OK(trp_actor_spawn(rt, &sdef, &left, NULL));
	settle(rt);
	assert_no_behaviour_errors();
	assert_int_equal(atomic_load(&selfsend_count), 202);
	trp_stats_t st = stats(rt);
	assert_int_equal(st.spawned, 3);
	assert_int_equal(st.stopped, 1);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* stop and close racing sends                                         */

/*
 * Two threads send (sender, seq) messages while the actor is closed from
 * the test thread, or stops itself, at some point. Per sender the sends
 * form three runs: processed, then dead-lettered (accepted, but behind the
 * close marker or the stop), then refused with TRP_EDEAD, and no message is
 * processed or dead-lettered twice or without having been accepted.
 */
#define RACE_N 20000
#define RACE_SENDERS 2

static atomic_uchar race_fate[RACE_SENDERS][RACE_N]; /* +1 run, +16 dead */
static signed char race_rc[RACE_SENDERS][RACE_N];
static atomic_long race_processed;
static long race_stop_at; /* stop itself at this many processed; 0: no */
static atomic_int race_bad;

struct race_msg {
	uint32_t sender, seq;
};

static bool race_decode(const trp_msg_t *msg, struct race_msg *m)
{
	if (msg->size != sizeof *m)
		return false;
	memcpy(m, msg->data, sizeof *m);
	return m->sender < RACE_SENDERS && m->seq < RACE_N;
}

static void race_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	struct race_msg m;
	if (!race_decode(msg, &m)) {
		atomic_fetch_add(&race_bad, 1);
		return;
	}
	atomic_fetch_add(&race_fate[m.sender][m.seq], 1);
	if (atomic_fetch_add(&race_processed, 1) + 1 == race_stop_at &&
	    trp_actor_stop(self) != 0)
		atomic_fetch_add(&race_bad, 1);
}

static void race_dead(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
		      trp_dead_reason_t why)
{
	(void)ctx;
	(void)to;
	struct race_msg m;
	if (why != TRP_DEAD_STOPPED || !race_decode(msg, &m)) {
		atomic_fetch_add(&race_bad, 1);
		return;
	}
	atomic_fetch_add(&race_fate[m.sender][m.seq], 16);
}

struct race_sender {
	trp_actor_t *to;
	uint32_t id;
	atomic_long *progress;
};

static void *race_thread(void *arg)
{
	struct race_sender *s = arg;
	for (uint32_t q = 0; q < RACE_N; q++) {
		struct race_msg m = { s->id, q };
		race_rc[s->id][q] =
			(signed char)trp_send(s->to, 1, &m, sizeof m);
		atomic_fetch_add(s->progress, 1);
	}
	return NULL;
}

static void race_round(bool by_close, long at)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt;
	cfg.workers = 2;
	cfg.dead_letter = race_dead;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	memset(race_fate, 0, sizeof race_fate);
	memset(race_rc, 0, sizeof race_rc);
	atomic_store(&race_processed, 0);
	race_stop_at = by_close ? 0 : at;
	struct rec *r = rec_new(); /* for its stop hook only */
	trp_actor_def_t def = { .behavior = race_behavior, .stop = rec_stop };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, r, &a));

	atomic_long progress = 0;
	struct race_sender snd[RACE_SENDERS];
	pthread_t th[RACE_SENDERS];
	for (uint32_t i = 0; i < RACE_SENDERS; i++) {
		snd[i] = (struct race_sender){ a, i, &progress };
		assert_int_equal(
			pthread_create(&th[i], NULL, race_thread, &snd[i]), 0);
	}
	if (by_close) {
		assert_true(wait_for(&progress, at));
		CHECK_OK(trp_actor_close(a));
	}
	for (uint32_t i = 0; i < RACE_SENDERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	settle(rt);
	assert_int_equal(atomic_load(&race_bad), 0);
	assert_int_equal(atomic_load(&r->stops), 1);
	assert_int_equal(r->why, by_close ? TRP_STOP_CLOSED : TRP_STOP_NORMAL);

	long accepted = 0, processed = 0, dead = 0;
	for (uint32_t s = 0; s < RACE_SENDERS; s++) {
		int phase = 0; /* 0 processed, 1 dead, 2 refused */
		for (uint32_t q = 0; q < RACE_N; q++) {
			int rc = race_rc[s][q];
			int fate = atomic_load(&race_fate[s][q]);
			int now = 3;
			if (rc == 0 && fate == 1)
				now = 0;
			else if (rc == 0 && fate == 16)
				now = 1;
			else if (rc == TRP_EDEAD && fate == 0)
				now = 2;
			else
				fail_msg(
					"%s at %ld: sender %u msg %u: send %s, "
					"processed %d, dead-lettered %d",
					by_close ? "close" : "stop", at, s, q,
					trp_errname(rc), fate & 15, fate >> 4);
			if (now < phase)
				fail_msg(
					"%s at %ld: sender %u msg %u: phase %d "
					"after phase %d",
					by_close ? "close" : "stop", at, s, q,
					now, phase);
			phase = now;
			accepted += rc == 0;
			processed += now == 0;
			dead += now == 1;
		}
	}
	trp_stats_t st = stats(rt);
	assert_int_equal(st.sent, accepted);
	assert_int_equal(st.processed, processed);
	assert_int_equal(st.dead_lettered, dead);
	if (!by_close)
		assert_int_equal(processed, at);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(r);
}

static void test_close_races_sends(void **unused)
{
	(void)unused;
	const long at[] = { 1, 100, 5000, 20000, 39000 };
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
		race_round(true, at[i]);
}

static void test_stop_races_sends(void **unused)
{
	(void)unused;
	const long at[] = { 1, 100, 5000, 20000, 39000 };
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
		race_round(false, at[i]);
}

int main(void)
{
	alarm(100);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_errors),
		cmocka_unit_test(test_spawn_state),
		cmocka_unit_test(test_start_hook),
		cmocka_unit_test(test_stop_normal),
		cmocka_unit_test(test_stop_in_start_hook),
		cmocka_unit_test(test_stop_eperm),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_close_self),
		cmocka_unit_test(test_shutdown),
		cmocka_unit_test(test_send_errors),
		cmocka_unit_test(test_payload_sizes),
		cmocka_unit_test(test_send_owned),
		cmocka_unit_test(test_send_owned_dead_letters),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_burst_mixed),
		cmocka_unit_test(test_burst_stop_midway),
		cmocka_unit_test(test_burst_shutdown_midway),
		cmocka_unit_test(test_self_sends),
		cmocka_unit_test(test_self_sends_stop_close),
		cmocka_unit_test(test_self_sends_then_close),
		cmocka_unit_test(test_bounded_mailbox),
		cmocka_unit_test(test_ids_alive_runtime),
		cmocka_unit_test(test_retain_release),
		cmocka_unit_test(test_close_races_sends),
		cmocka_unit_test(test_stop_races_sends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
