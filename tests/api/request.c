/*
 * tests/api/request.c - deferred replies and forwarding (troupe/future.h,
 * trp_request_*) as a user sees them: a request taken in one turn and
 * replied to, failed or released in a later one; a server that asks a
 * backend first and answers when the backend's outcome arrives; forwards
 * once and twice (A -> B -> C answers, also C taking it again), a forward
 * refused (the request stays held and is answered by its holder); the
 * holder stopping with requests held (trp_actor_stop, trp_actor_close, the
 * runtime's destroy, a thread actor's function returning): TRP_EDEAD for
 * each, and the stop hook answering one of them when it may; late answers
 * (dead letters for a reply and a failure, nothing for a release); every
 * documented error of take (not a request, a batched message, twice,
 * after a reply, another actor's message, outside any behaviour) and of
 * the answers (bad arguments, another actor or thread: TRP_EPERM, the
 * request still held afterwards); a thread actor as holder. Every test
 * ends with the delivery identity (api_assert_balanced).
 *
 * Behaviours never call the checks (they longjmp): they log what their
 * calls returned, and the test thread compares the log after
 * trp_runtime_wait_idle().
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <troupe/troupe.h>

#include "api_util.h"

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* What the behaviours' calls returned, in order. */
#define LOG_MAX 256
static atomic_int logv[LOG_MAX];
static atomic_long logn;

static void log_rc(int rc)
{
	long i = atomic_fetch_add(&logn, 1);
	if (i < LOG_MAX)
		atomic_store(&logv[i], rc);
	else
		note_error(TRP_ENOMEM);
}

static void log_reset(void)
{
	atomic_store(&logn, 0);
}

/* The log must be exactly @want[0..n). */
static void assert_log(const int *want, int n)
{
	long got = atomic_load(&logn);
	if (got != n)
		fail_msg("log has %ld entries, expected %d (first: %s)", got, n,
			 got > 0 ? trp_errname(atomic_load(&logv[0])) : "-");
	for (int i = 0; i < n; i++)
		if (atomic_load(&logv[i]) != want[i])
			fail_msg("log[%d] is %s, expected %s", i,
				 trp_errname(atomic_load(&logv[i])),
				 trp_errname(want[i]));
	log_reset();
}

#define ASSERT_LOG(...)                                                        \
	do {                                                                   \
		const int want_[] = { __VA_ARGS__ };                           \
		assert_log(want_, (int)(sizeof want_ / sizeof want_[0]));      \
	} while (0)

/* Dead letters the hook saw, and the last one (api_util.h). */
static struct api_dead_letters dead_letters;

/* The gate behaviours block on (api_util.h). */
static struct api_gate gate;

static trp_runtime_t *make_rt(uint32_t workers)
{
	api_gate_reset(&gate);
	log_reset();
	return api_runtime_new(workers, &dead_letters);
}

static trp_stats_t stats(trp_runtime_t *rt)
{
	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	return st;
}

static uint32_t payload_u32(const trp_msg_t *msg)
{
	uint32_t x = 0;
	if (msg->size == sizeof x && msg->data != NULL)
		memcpy(&x, msg->data, sizeof x);
	else
		note_error(TRP_EINVAL);
	return x;
}

/* ------------------------------------------------------------------ */
/* actors                                                              */

enum {
	T_ECHO = 1,	   /* request: trp_reply x + 1000 */
	T_TAKE,		   /* request: take and hold (x kept) */
	T_TAKE_CHECKS,	   /* request: take, take again, trp_reply: hold */
	T_REPLY_THEN_TAKE, /* request: trp_reply x + 1000, then take */
	T_PLAIN,	   /* plain: take (TRP_ENOTREQUEST) */
	T_REPLY_ALL,	   /* plain: reply x + 1000 to every held one */
	T_FAIL_ALL,	   /* plain, int32 status: fail every held one */
	T_RELEASE_ALL,	   /* plain: release every held one */
	T_FORWARD_ALL,	   /* plain, {target index, type}: forward them */
	T_BADARGS,	   /* plain: bad calls on the first held one */
	T_STOP,		   /* plain: trp_actor_stop */
	T_PUBLISH,	   /* request: take, publish, block on the gate */
	T_POKE,		   /* plain: try the published request and handle */
	T_FRONT,	   /* request: take, ask the backend, hold */
	T_BACKEND_DONE,	   /* the backend's outcome (continuation) */
	T_QUIT,		   /* thread actor: return */
};

#define MAXH 32

/* A holder's state (runtime-owned, zeroed). */
struct hstate {
	uint32_t n;
	trp_request_t *held[MAXH];
	uint32_t x[MAXH];
	bool stop_answer; /* the stop hook replies to held[0] */
};

/* Forward targets, by index (set by the test before the message that
 * names them is sent: the send publishes them). */
static trp_actor_t *targets[4];
/* What T_PUBLISH shares with T_POKE and the test thread. */
static _Atomic(const trp_msg_t *) pub_msg;
static _Atomic(trp_request_t *) pub_req;
/* The backend T_FRONT asks. */
static trp_actor_t *backend;

struct fwd {
	uint32_t target;
	uint32_t type;
};

static void hold(struct hstate *s, trp_request_t *r, uint32_t x)
{
	if (s->n == MAXH) {
		note_error(TRP_EFULL);
		return;
	}
	s->held[s->n] = r;
	s->x[s->n] = x;
	s->n++;
}

static void take_and_hold(struct hstate *s, const trp_msg_t *msg)
{
	trp_request_t *r = NULL;
	int rc = trp_request_take(msg, &r);
	log_rc(rc);
	if (rc == 0)
		hold(s, r, payload_u32(msg));
}

static int reply_held(trp_request_t *r, uint32_t x)
{
	uint32_t v = x + 1000;
	return trp_request_reply(r, &v, sizeof v);
}

static void holder_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	struct hstate *s = state;
	switch (msg->type) {
	case T_ECHO: {
		uint32_t v = payload_u32(msg) + 1000;
		log_rc(trp_reply(msg, &v, sizeof v));
		break;
	}
	case T_TAKE:
		take_and_hold(s, msg);
		break;
	case T_TAKE_CHECKS: {
		take_and_hold(s, msg);
		trp_request_t *r = NULL;
		log_rc(trp_request_take(msg, &r));
		uint32_t v = 1;
		log_rc(trp_reply(msg, &v, sizeof v));
		break;
	}
	case T_REPLY_THEN_TAKE: {
		uint32_t v = payload_u32(msg) + 1000;
		log_rc(trp_reply(msg, &v, sizeof v));
		trp_request_t *r = NULL;
		log_rc(trp_request_take(msg, &r));
		break;
	}
	case T_PLAIN: {
		trp_request_t *r = NULL;
		log_rc(trp_request_take(msg, &r));
		break;
	}
	case T_REPLY_ALL:
		for (uint32_t i = 0; i < s->n; i++)
			log_rc(reply_held(s->held[i], s->x[i]));
		s->n = 0;
		break;
	case T_FAIL_ALL: {
		int32_t status = 0;
		memcpy(&status, msg->data, sizeof status);
		for (uint32_t i = 0; i < s->n; i++)
			log_rc(trp_request_fail(s->held[i], status));
		s->n = 0;
		break;
	}
	case T_RELEASE_ALL:
		for (uint32_t i = 0; i < s->n; i++)
			trp_request_release(s->held[i]);
		s->n = 0;
		break;
	case T_FORWARD_ALL: {
		struct fwd f;
		memcpy(&f, msg->data, sizeof f);
		uint32_t kept = 0;
		for (uint32_t i = 0; i < s->n; i++) {
			int rc = trp_request_forward(s->held[i],
						     targets[f.target], f.type,
						     &s->x[i], sizeof s->x[i]);
			log_rc(rc);
			if (rc != 0) { /* still held */
				s->held[kept] = s->held[i];
				s->x[kept] = s->x[i];
				kept++;
			}
		}
		s->n = kept;
		break;
	}
	case T_BADARGS: {
		trp_request_t *r = s->held[0];
		uint32_t x = s->x[0];
		trp_request_t *out = NULL;
		log_rc(trp_request_reply(r, NULL, 4));
		log_rc(trp_request_reply(r, &x, TRP_MSG_MAX + 1));
		log_rc(trp_request_reply(NULL, &x, sizeof x));
		log_rc(trp_request_fail(r, 0));
		log_rc(trp_request_fail(r, 7));
		log_rc(trp_request_fail(NULL, TRP_EINVAL));
		log_rc(trp_request_forward(r, NULL, T_ECHO, &x, sizeof x));
		log_rc(trp_request_forward(r, targets[0], T_ECHO, NULL, 4));
		log_rc(trp_request_forward(NULL, targets[0], T_ECHO, &x,
					   sizeof x));
		/* an actor of another runtime */
		log_rc(trp_request_forward(r, targets[3], T_ECHO, &x,
					   sizeof x));
		log_rc(trp_request_forward(r, targets[0], T_ECHO, &x,
					   TRP_MSG_MAX + 1));
		log_rc(trp_request_take(NULL, &out));
		log_rc(trp_request_take(msg, NULL));
		trp_request_release(NULL);
		break;
	}
	case T_STOP:
		log_rc(trp_actor_stop(self));
		break;
	case T_PUBLISH: {
		trp_request_t *r = NULL;
		int rc = trp_request_take(msg, &r);
		log_rc(rc);
		if (rc != 0)
			break;
		hold(s, r, payload_u32(msg));
		atomic_store(&pub_req, r);
		atomic_store(&pub_msg, msg);
		api_gate_block(&gate);
		atomic_store(&pub_msg, NULL);
		break;
	}
	case T_POKE: {
		/* Another actor's request and held handle: not ours. */
		trp_request_t *r = atomic_load(&pub_req);
		trp_request_t *out = NULL;
		uint32_t x = 1;
		log_rc(trp_request_take(atomic_load(&pub_msg), &out));
		log_rc(trp_request_reply(r, &x, sizeof x));
		log_rc(trp_request_fail(r, TRP_EINVAL));
		log_rc(trp_request_forward(r, self, T_ECHO, &x, sizeof x));
		trp_request_release(r); /* does nothing */
		break;
	}
	case T_FRONT: {
		/* Ask the backend first, answer when its outcome comes. */
		trp_request_t *r = NULL;
		int rc = trp_request_take(msg, &r);
		log_rc(rc);
		if (rc != 0)
			break;
		uint32_t x = payload_u32(msg);
		hold(s, r, x);
		trp_future_t *f = NULL;
		rc = trp_ask(backend, T_ECHO, &x, sizeof x, &f);
		if (rc == 0) {
			rc = trp_future_then(f, self, T_BACKEND_DONE);
			trp_future_release(f);
		}
		if (rc != 0)
			note_error(rc);
		break;
	}
	case T_BACKEND_DONE: {
		/* The backend answers in order: the oldest one is ours. */
		if (s->n == 0 || msg->status != 0) {
			note_error(msg->status != 0 ? msg->status : TRP_EINVAL);
			break;
		}
		uint32_t v = payload_u32(msg) + 1; /* x + 1001 */
		log_rc(trp_request_reply(s->held[0], &v, sizeof v));
		memmove(&s->held[0], &s->held[1],
			(s->n - 1) * sizeof s->held[0]);
		memmove(&s->x[0], &s->x[1], (s->n - 1) * sizeof s->x[0]);
		s->n--;
		break;
	}
	default:
		note_error(TRP_EINVAL);
	}
}

static void holder_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct hstate *s = state;
	(void)self;
	(void)why;
	if (s->stop_answer && s->n > 0)
		log_rc(reply_held(s->held[0], s->x[0]));
}

static trp_actor_t *spawn_holder(trp_runtime_t *rt, bool stop_answer)
{
	struct hstate init;
	memset(&init, 0, sizeof init);
	init.stop_answer = stop_answer;
	trp_actor_def_t def = { .behavior = holder_behavior,
				.stop = holder_stop,
				.state_size = sizeof init };
	trp_actor_t *a = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, &init, &a));
	assert_non_null(a);
	return a;
}

static trp_future_t *ask_x(trp_actor_t *to, uint32_t type, uint32_t x)
{
	trp_future_t *f = NULL;
	CHECK_OK(trp_ask(to, type, &x, sizeof x, &f));
	assert_non_null(f);
	return f;
}

static void send_plain(trp_actor_t *to, uint32_t type)
{
	CHECK_OK(trp_send(to, type, NULL, 0));
}

static void send_forward(trp_actor_t *to, uint32_t target, uint32_t type)
{
	struct fwd f = { target, type };
	CHECK_OK(trp_send(to, T_FORWARD_ALL, &f, sizeof f));
}

/* The future's reply: status 0, type @type, a uint32_t @v. */
static void assert_reply(trp_future_t *f, uint32_t type, uint32_t v)
{
	const trp_msg_t *r = NULL;
	uint32_t got;
	assert_int_equal(trp_future_wait(f, SETTLE_NS, &r), 0);
	assert_non_null(r);
	assert_int_equal(r->type, type);
	assert_int_equal(r->size, sizeof got);
	memcpy(&got, r->data, sizeof got);
	assert_int_equal(got, v);
}

/* The future completes with @status (and stays so). */
static void assert_status(trp_future_t *f, int status)
{
	assert_int_equal(trp_future_wait(f, SETTLE_NS, NULL), status);
	assert_true(trp_future_done(f));
	assert_int_equal(trp_future_wait(f, 0, NULL), status);
}

/* ------------------------------------------------------------------ */
/* deferred answers                                                    */

static void test_take_reply_later(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *h = spawn_holder(rt, false);

	/* Taken in one turn each: nothing completes until a later one. */
	trp_future_t *f[3];
	for (uint32_t i = 0; i < 3; i++)
		f[i] = ask_x(h, T_TAKE, i);
	settle(rt);
	ASSERT_LOG(0, 0, 0);
	for (uint32_t i = 0; i < 3; i++)
		assert_false(trp_future_done(f[i]));
	send_plain(h, T_REPLY_ALL);
	for (uint32_t i = 0; i < 3; i++) {
		assert_reply(f[i], T_TAKE, i + 1000);
		trp_future_release(f[i]);
	}
	settle(rt);
	ASSERT_LOG(0, 0, 0);

	/* The continuation of a deferred reply is an ordinary outcome: a
	 * server that asks a backend and answers from the backend's
	 * outcome, two requests in flight. */
	backend = spawn_holder(rt, false);
	trp_actor_t *front = spawn_holder(rt, false);
	trp_future_t *g1 = ask_x(front, T_FRONT, 5);
	trp_future_t *g2 = ask_x(front, T_FRONT, 6);
	assert_reply(g1, T_FRONT, 1006);
	assert_reply(g2, T_FRONT, 1007);
	trp_future_release(g1);
	trp_future_release(g2);
	settle(rt);
	/* front's takes, the backend's two replies, front's replies, in
	 * some interleaving: count them. */
	assert_int_equal(atomic_load(&logn), 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(atomic_load(&logv[i]), 0);
	log_reset();

	assert_int_equal(stats(rt).dead_lettered, 0);
	assert_no_behaviour_errors();
	trp_actor_release(front);
	trp_actor_release(backend);
	trp_actor_release(h);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

static void test_take_fail_release(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *h = spawn_holder(rt, false);

	/* fail: the future completes with the holder's error, and a
	 * continuation gets it in msg->status. */
	trp_future_t *f1 = ask_x(h, T_TAKE, 1);
	trp_future_t *f2 = ask_x(h, T_TAKE, 2);
	settle(rt);
	int32_t status = -4242;
	CHECK_OK(trp_send(h, T_FAIL_ALL, &status, sizeof status));
	assert_status(f1, -4242);
	assert_status(f2, -4242);
	trp_future_release(f1);
	trp_future_release(f2);
	settle(rt);
	ASSERT_LOG(0, 0, 0, 0);

	/* release: TRP_ENOREPLY, as if the behaviour had not replied. */
	f1 = ask_x(h, T_TAKE, 3);
	settle(rt);
	assert_false(trp_future_done(f1));
	send_plain(h, T_RELEASE_ALL);
	assert_status(f1, TRP_ENOREPLY);
	trp_future_release(f1);
	settle(rt);
	ASSERT_LOG(0);

	assert_int_equal(stats(rt).dead_lettered, 0);
	assert_no_behaviour_errors();
	trp_actor_release(h);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A waiter that times out first: a late reply and a late failure are
 * dead letters (as trp_reply's), a late release is nothing. */
static void test_late_answers(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *h = spawn_holder(rt, false);

	trp_future_t *f = ask_x(h, T_TAKE, 7);
	settle(rt);
	assert_int_equal(trp_future_wait(f, 1000, NULL), TRP_ETIMEDOUT);
	send_plain(h, T_REPLY_ALL);
	settle(rt);
	ASSERT_LOG(0, 0); /* take, then the late reply returns 0 */
	assert_int_equal(atomic_load(&dead_letters.count), 1);
	assert_int_equal(atomic_load(&dead_letters.why), TRP_DEAD_LATE_REPLY);
	assert_null(atomic_load(&dead_letters.to));
	assert_int_equal(atomic_load(&dead_letters.type), T_TAKE);
	assert_int_equal(atomic_load(&dead_letters.status), 0);
	assert_int_equal(atomic_load(&dead_letters.x), 1007);
	assert_int_equal(trp_future_wait(f, 0, NULL), TRP_ETIMEDOUT);
	trp_future_release(f);

	f = ask_x(h, T_TAKE, 8);
	settle(rt);
	assert_int_equal(trp_future_wait(f, 0, NULL), TRP_ETIMEDOUT);
	int32_t status = -77;
	CHECK_OK(trp_send(h, T_FAIL_ALL, &status, sizeof status));
	settle(rt);
	ASSERT_LOG(0, 0);
	assert_int_equal(atomic_load(&dead_letters.count), 2);
	assert_int_equal(atomic_load(&dead_letters.why), TRP_DEAD_LATE_REPLY);
	assert_int_equal(atomic_load(&dead_letters.status), -77);
	assert_int_equal(atomic_load(&dead_letters.size), 0);
	trp_future_release(f);

	f = ask_x(h, T_TAKE, 9);
	settle(rt);
	assert_int_equal(trp_future_wait(f, 0, NULL), TRP_ETIMEDOUT);
	send_plain(h, T_RELEASE_ALL);
	settle(rt);
	ASSERT_LOG(0);
	assert_int_equal(atomic_load(&dead_letters.count), 2);
	trp_future_release(f);

	trp_stats_t st = api_assert_balanced(rt);
	assert_int_equal(st.dead_by_reason[TRP_DEAD_LATE_REPLY], 2);
	assert_no_behaviour_errors();
	trp_actor_release(h);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* forwarding                                                          */

static void test_forward(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a = spawn_holder(rt, false);
	trp_actor_t *b = spawn_holder(rt, false);
	trp_actor_t *c = spawn_holder(rt, false);
	targets[0] = a;
	targets[1] = b;
	targets[2] = c;

	/* Once: A takes, forwards to B, whose trp_reply completes the
	 * future (the reply keeps the ask's type). */
	trp_future_t *f = ask_x(a, T_TAKE, 1);
	settle(rt);
	send_forward(a, 1, T_ECHO);
	assert_reply(f, T_TAKE, 1001);
	trp_future_release(f);
	settle(rt);
	ASSERT_LOG(0, 0, 0); /* take, forward, B's reply */

	/* Twice: A -> B (B takes it again) -> C, who replies. */
	f = ask_x(a, T_TAKE, 2);
	settle(rt);
	send_forward(a, 1, T_TAKE);
	settle(rt);
	assert_false(trp_future_done(f));
	send_forward(b, 2, T_ECHO);
	assert_reply(f, T_TAKE, 1002);
	trp_future_release(f);
	settle(rt);
	ASSERT_LOG(0, 0, 0, 0, 0);

	/* ... and C takes it too and answers from a later turn. */
	f = ask_x(a, T_TAKE, 3);
	settle(rt);
	send_forward(a, 1, T_TAKE);
	settle(rt);
	send_forward(b, 2, T_TAKE);
	settle(rt);
	assert_false(trp_future_done(f));
	send_plain(c, T_REPLY_ALL);
	assert_reply(f, T_TAKE, 1003);
	trp_future_release(f);
	settle(rt);
	ASSERT_LOG(0, 0, 0, 0, 0, 0);

	/* Forward to oneself: taken again in a later message. */
	f = ask_x(a, T_TAKE, 4);
	settle(rt);
	send_forward(a, 0, T_TAKE);
	settle(rt);
	assert_false(trp_future_done(f));
	send_plain(a, T_REPLY_ALL);
	assert_reply(f, T_TAKE, 1004);
	trp_future_release(f);
	settle(rt);
	ASSERT_LOG(0, 0, 0, 0);

	/* A forward the target refuses (it stopped): TRP_EDEAD, and the
	 * request stays held; its holder answers it itself. */
	CHECK_OK(trp_actor_close(c));
	settle(rt);
	f = ask_x(a, T_TAKE, 5);
	settle(rt);
	send_forward(a, 2, T_ECHO);
	settle(rt);
	ASSERT_LOG(0, TRP_EDEAD);
	assert_false(trp_future_done(f));
	send_plain(a, T_REPLY_ALL);
	assert_reply(f, T_TAKE, 1005);
	trp_future_release(f);
	settle(rt);
	ASSERT_LOG(0);

	/* A forwarded request whose new receiver stops before answering:
	 * TRP_EDEAD (held by B when B stops). */
	f = ask_x(a, T_TAKE, 6);
	settle(rt);
	send_forward(a, 1, T_TAKE);
	settle(rt);
	assert_false(trp_future_done(f));
	CHECK_OK(trp_actor_close(b));
	assert_status(f, TRP_EDEAD);
	trp_future_release(f);
	settle(rt);
	ASSERT_LOG(0, 0, 0);

	assert_int_equal(atomic_load(&dead_letters.count), 0);
	assert_no_behaviour_errors();
	trp_actor_release(a);
	trp_actor_release(b);
	trp_actor_release(c);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* the holder stops                                                    */

static void test_holder_stops(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);

	/* trp_actor_stop with three held: TRP_EDEAD for each. */
	trp_actor_t *h = spawn_holder(rt, false);
	trp_future_t *f[3];
	for (uint32_t i = 0; i < 3; i++)
		f[i] = ask_x(h, T_TAKE, i);
	settle(rt);
	send_plain(h, T_STOP);
	for (uint32_t i = 0; i < 3; i++) {
		assert_status(f[i], TRP_EDEAD);
		trp_future_release(f[i]);
	}
	settle(rt);
	ASSERT_LOG(0, 0, 0, 0);
	trp_actor_release(h);

	/* trp_actor_close: the same; the stop hook (on the holder's worker)
	 * may still answer, so the first one gets its reply. */
	h = spawn_holder(rt, true);
	for (uint32_t i = 0; i < 3; i++)
		f[i] = ask_x(h, T_TAKE, 10 + i);
	settle(rt);
	CHECK_OK(trp_actor_close(h));
	assert_reply(f[0], T_TAKE, 1010);
	assert_status(f[1], TRP_EDEAD);
	assert_status(f[2], TRP_EDEAD);
	for (uint32_t i = 0; i < 3; i++)
		trp_future_release(f[i]);
	settle(rt);
	ASSERT_LOG(0, 0, 0, 0);
	trp_actor_release(h);

	/* Requests queued behind the stop are dead letters as before
	 * (TRP_EDEAD), next to the held ones. */
	h = spawn_holder(rt, false);
	f[0] = ask_x(h, T_TAKE, 20);
	send_plain(h, T_STOP);
	f[1] = NULL;
	int rc = trp_ask(h, T_TAKE, &(uint32_t){ 21 }, sizeof(uint32_t), &f[1]);
	assert_true(rc == 0 || rc == TRP_EDEAD);
	assert_status(f[0], TRP_EDEAD);
	if (rc == 0) {
		assert_status(f[1], TRP_EDEAD);
		trp_future_release(f[1]);
	}
	trp_future_release(f[0]);
	settle(rt);
	ASSERT_LOG(0, 0);
	trp_actor_release(h);

	assert_no_behaviour_errors();
	(void)api_assert_balanced(rt);

	/* The runtime's destroy: held requests complete TRP_EDEAD; the
	 * stop hook runs on the destroying thread, not the holder's
	 * consumer: its answer is refused. The futures outlive the
	 * runtime. */
	h = spawn_holder(rt, true);
	f[0] = ask_x(h, T_TAKE, 30);
	f[1] = ask_x(h, T_TAKE, 31);
	settle(rt);
	ASSERT_LOG(0, 0);
	trp_actor_release(h);
	(void)api_destroy_balanced(rt);
	ASSERT_LOG(TRP_EPERM);
	assert_status(f[0], TRP_EDEAD);
	assert_status(f[1], TRP_EDEAD);
	trp_future_release(f[0]);
	trp_future_release(f[1]);
	assert_no_behaviour_errors();
}

/* ------------------------------------------------------------------ */
/* errors                                                              */

static void test_take_errors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *h = spawn_holder(rt, false);
	trp_actor_t *other = spawn_holder(rt, false);
	trp_request_t *r = (trp_request_t *)(uintptr_t)0x1;

	/* Outside any behaviour. */
	trp_msg_t fake = { .type = 1 };
	assert_int_equal(trp_request_take(&fake, &r), TRP_EPERM);
	assert_int_equal(trp_request_take(NULL, &r), TRP_EINVAL);
	assert_ptr_equal(r, (trp_request_t *)(uintptr_t)0x1);

	/* Not a request (sent from outside: handled on its own). */
	send_plain(h, T_PLAIN);
	settle(rt);
	ASSERT_LOG(TRP_ENOTREQUEST);

	/* Twice, and trp_reply after a take: TRP_EANSWERED; the request is
	 * still held. trp_reply first, then take: TRP_EANSWERED. */
	trp_future_t *f = ask_x(h, T_TAKE_CHECKS, 1);
	settle(rt);
	ASSERT_LOG(0, TRP_EANSWERED, TRP_EANSWERED);
	assert_false(trp_future_done(f));
	send_plain(h, T_REPLY_ALL);
	assert_reply(f, T_TAKE_CHECKS, 1001);
	trp_future_release(f);
	f = ask_x(h, T_REPLY_THEN_TAKE, 2);
	assert_reply(f, T_REPLY_THEN_TAKE, 1002);
	trp_future_release(f);
	settle(rt);
	ASSERT_LOG(0, 0, TRP_EANSWERED);

	/* Bad arguments leave the request held. */
	trp_runtime_t *rt2 = make_rt(1);
	targets[0] = other;
	targets[3] = spawn_holder(rt2, false);
	f = ask_x(h, T_TAKE, 3);
	settle(rt);
	send_plain(h, T_BADARGS);
	settle(rt);
	ASSERT_LOG(0, TRP_EINVAL, TRP_EMSGSIZE, TRP_EINVAL, TRP_EINVAL,
		   TRP_EINVAL, TRP_EINVAL, TRP_EINVAL, TRP_EINVAL, TRP_EINVAL,
		   TRP_EINVAL, TRP_EMSGSIZE, TRP_EINVAL, TRP_EINVAL);
	assert_false(trp_future_done(f));
	send_plain(h, T_REPLY_ALL);
	assert_reply(f, T_TAKE, 1003);
	trp_future_release(f);
	settle(rt);
	ASSERT_LOG(0);
	trp_actor_release(targets[3]);
	targets[3] = NULL;
	CHECK_OK(trp_runtime_destroy(rt2));

	/* Another actor's request and handle, while its behaviour runs:
	 * TRP_EPERM from the other actor and from this thread; the request
	 * stays held and its holder answers it afterwards. */
	atomic_store(&pub_msg, NULL);
	atomic_store(&pub_req, NULL);
	f = ask_x(h, T_PUBLISH, 4);
	assert_true(wait_for(&gate.entered, 1));
	const trp_msg_t *m = atomic_load(&pub_msg);
	r = atomic_load(&pub_req);
	assert_non_null(m);
	assert_non_null(r);
	trp_request_t *out = NULL;
	uint32_t x = 9;
	assert_int_equal(trp_request_take(m, &out), TRP_EPERM);
	assert_int_equal(trp_request_reply(r, &x, sizeof x), TRP_EPERM);
	assert_int_equal(trp_request_fail(r, TRP_EINVAL), TRP_EPERM);
	assert_int_equal(trp_request_forward(r, other, T_ECHO, &x, sizeof x),
			 TRP_EPERM);
	trp_request_release(r); /* does nothing */
	send_plain(other, T_POKE);
	/* 'other' runs on the second worker while h blocks the first. */
	for (int64_t end = now_ns() + SETTLE_NS;
	     atomic_load(&logn) < 5 && now_ns() < end;)
		usleep(100);
	atomic_store(&gate.open, 1);
	settle(rt);
	ASSERT_LOG(0, TRP_EPERM, TRP_EPERM, TRP_EPERM, TRP_EPERM);
	assert_false(trp_future_done(f));
	send_plain(h, T_REPLY_ALL);
	assert_reply(f, T_PUBLISH, 1004);
	trp_future_release(f);
	settle(rt);
	ASSERT_LOG(0);

	assert_int_equal(atomic_load(&dead_letters.count), 0);
	assert_no_behaviour_errors();
	trp_actor_release(h);
	trp_actor_release(other);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A behaviour that sends several plain messages to one receiver in one
 * turn: they may travel batched, and taking any of them is
 * TRP_ENOTREQUEST all the same. */
static void burst_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
	for (int i = 0; i < 4; i++) {
		int rc = trp_send(targets[0], T_PLAIN, NULL, 0);
		if (rc != 0)
			note_error(rc);
	}
}

static void start_take(trp_actor_t *self, void *state)
{
	trp_msg_t fake = { .type = 1 };
	trp_request_t *r = NULL;
	(void)self;
	(void)state;
	log_rc(trp_request_take(&fake, &r));
}

static void test_take_batched_and_hooks(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	targets[0] = spawn_holder(rt, false);
	trp_actor_def_t def = { .behavior = burst_behavior,
				.start = start_take };
	trp_actor_t *b = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &b));
	send_plain(b, T_PLAIN);
	settle(rt);
	ASSERT_LOG(TRP_ENOTREQUEST, TRP_ENOTREQUEST, TRP_ENOTREQUEST,
		   TRP_ENOTREQUEST, TRP_ENOTREQUEST);
	assert_no_behaviour_errors();
	trp_actor_release(b);
	trp_actor_release(targets[0]);
	targets[0] = NULL;
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* a thread actor as holder                                            */

static atomic_int ta_quit_rc;

static void ta_holder(trp_actor_t *self, void *arg)
{
	struct hstate s;
	const trp_msg_t *m = NULL;
	(void)arg;
	memset(&s, 0, sizeof s);
	while (trp_recv(self, -1, &m) == 0) {
		if (m->type == T_TAKE) {
			take_and_hold(&s, m);
			atomic_store(&pub_req, s.held[0]);
		} else if (m->type == T_REPLY_ALL) {
			for (uint32_t i = 0; i < s.n; i++)
				log_rc(reply_held(s.held[i], s.x[i]));
			s.n = 0;
		} else if (m->type == T_FORWARD_ALL) {
			struct fwd f;
			memcpy(&f, m->data, sizeof f);
			for (uint32_t i = 0; i < s.n; i++)
				log_rc(trp_request_forward(
					s.held[i], targets[f.target], f.type,
					&s.x[i], sizeof s.x[i]));
			s.n = 0;
		} else if (m->type == T_QUIT) {
			/* Return with requests held: TRP_EDEAD. */
			atomic_store(&ta_quit_rc, (int)s.n);
			return;
		} else {
			note_error(TRP_EINVAL);
		}
	}
}

static void test_thread_actor_holder(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *echo = spawn_holder(rt, false);
	trp_actor_t *t = NULL;
	atomic_store(&pub_req, NULL);
	CHECK_OK(trp_thread_actor_spawn(rt, ta_holder, NULL, &t));
	targets[0] = echo;
	targets[1] = t;

	/* Taken on the thread, replied to from a later receive; another
	 * thread (this one) is not the holder. */
	trp_future_t *f = ask_x(t, T_TAKE, 1);
	assert_true(wait_for(&logn, 1));
	ASSERT_LOG(0);
	uint32_t x = 5;
	assert_int_equal(trp_request_reply(atomic_load(&pub_req), &x, sizeof x),
			 TRP_EPERM);
	assert_false(trp_future_done(f));
	send_plain(t, T_REPLY_ALL);
	assert_reply(f, T_TAKE, 1001);
	trp_future_release(f);
	assert_true(wait_for(&logn, 1));
	ASSERT_LOG(0);

	/* Forwarded by an event actor to the thread actor, which takes it
	 * and forwards it back to the event actor's trp_reply. */
	f = ask_x(echo, T_TAKE, 2);
	settle(rt);
	send_forward(echo, 1, T_TAKE);
	assert_true(wait_for(&logn, 3));
	ASSERT_LOG(0, 0, 0);
	send_forward(t, 0, T_ECHO);
	assert_reply(f, T_TAKE, 1002);
	trp_future_release(f);
	assert_true(wait_for(&logn, 2));
	ASSERT_LOG(0, 0);

	/* The function returns with two requests held: TRP_EDEAD. */
	trp_future_t *g1 = ask_x(t, T_TAKE, 3);
	trp_future_t *g2 = ask_x(t, T_TAKE, 4);
	assert_true(wait_for(&logn, 2));
	send_plain(t, T_QUIT);
	CHECK_OK(trp_actor_join(t, SETTLE_NS));
	assert_int_equal(atomic_load(&ta_quit_rc), 2);
	assert_status(g1, TRP_EDEAD);
	assert_status(g2, TRP_EDEAD);
	trp_future_release(g1);
	trp_future_release(g2);
	ASSERT_LOG(0, 0);

	assert_no_behaviour_errors();
	trp_actor_release(t);
	trp_actor_release(echo);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_reply_later),
		cmocka_unit_test(test_take_fail_release),
		cmocka_unit_test(test_late_answers),
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_holder_stops),
		cmocka_unit_test(test_take_errors),
		cmocka_unit_test(test_take_batched_and_hooks),
		cmocka_unit_test(test_thread_actor_holder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
