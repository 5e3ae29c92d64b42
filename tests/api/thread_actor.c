/*
 * tests/api/thread_actor.c - thread-backed actors (troupe/thread_actor.h)
 * as a user sees them: spawn and its errors, trp_recv order, timeouts and
 * TRP_ECLOSED once the messages sent before trp_actor_close are drained
 * (sends after it: TRP_EDEAD), trp_recv from the wrong thread or actor
 * (TRP_EPERM), trp_actor_join with timeout and from its own thread
 * (TRP_EDEADLK), a thread actor sending to event actors, asking them and
 * being sent to by them, subscribing to an exchange, returning with
 * messages queued (dead letters), and trp_runtime_destroy while a thread
 * actor blocks in trp_recv (destroy closes and joins it).
 *
 * Thread functions never call the checks (they longjmp): they record what
 * they saw, and the test thread asserts after joining them.
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

#define MS (1000 * 1000LL)

static atomic_long dead_letters;
static atomic_int dead_bad_reason;
static trp_dead_reason_t dead_expect = TRP_DEAD_STOPPED;

static void dead_letter_hook(void *ctx, trp_actor_t *to, const trp_msg_t *msg,
			     trp_dead_reason_t why)
{
	(void)ctx;
	(void)to;
	(void)msg;
	atomic_fetch_add(&dead_letters, 1);
	if (why != dead_expect)
		atomic_fetch_add(&dead_bad_reason, 1);
}

static trp_runtime_t *make_rt(uint32_t workers)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt = NULL;
	cfg.workers = workers;
	cfg.dead_letter = dead_letter_hook;
	atomic_store(&dead_letters, 0);
	atomic_store(&dead_bad_reason, 0);
	dead_expect = TRP_DEAD_STOPPED;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	assert_non_null(rt);
	return rt;
}

static void noop_thread(trp_actor_t *self, void *arg)
{
	(void)self;
	(void)arg;
}

/* Waits (politely) until *flag != 0; false after SETTLE_NS. */
static bool wait_flag(atomic_int *flag)
{
	int64_t deadline = now_ns() + SETTLE_NS;
	while (!atomic_load(flag)) {
		if (now_ns() > deadline)
			return false;
		usleep(100);
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* the recording thread actor                                          */

#define LOG_MAX 1024
struct tlog {
	uint32_t types[LOG_MAX];
	uint32_t seqs[LOG_MAX];
	long n;
	int last_rc;  /* what ended the loop */
	int again_rc; /* trp_recv once more after that */
	int limit;    /* return after this many messages (0: no limit) */
	int bad;      /* malformed payloads */
	atomic_int returned;
	pthread_t thread;
};

/* Receives until an error (TRP_ECLOSED expected) or limit messages. */
static void recorder(trp_actor_t *self, void *arg)
{
	struct tlog *l = arg;
	const trp_msg_t *m = NULL;
	int rc;
	l->thread = pthread_self();
	while ((rc = trp_recv(self, -1, &m)) == 0) {
		uint32_t seq = 0;
		if (m == NULL) {
			l->bad++;
			break;
		}
		if (m->size == sizeof seq)
			memcpy(&seq, m->data, sizeof seq);
		else if (m->size != 0)
			l->bad++;
		if (m->status != 0)
			l->bad++;
		if (l->n < LOG_MAX) {
			l->types[l->n] = m->type;
			l->seqs[l->n] = seq;
		}
		l->n++;
		if (l->limit != 0 && l->n == l->limit) {
			rc = 1;
			break;
		}
	}
	l->last_rc = rc;
	if (rc != 1)
		l->again_rc = trp_recv(self, 0, &m);
	atomic_store(&l->returned, 1);
}

static int send_seq(trp_actor_t *a, uint32_t type, uint32_t seq)
{
	return trp_send(a, type, &seq, sizeof seq);
}

/* ------------------------------------------------------------------ */

static void test_spawn_errors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_actor_t *a = (trp_actor_t *)(uintptr_t)0x1;
	assert_int_equal(trp_thread_actor_spawn(NULL, noop_thread, NULL, &a),
			 TRP_EINVAL);
	assert_int_equal(trp_thread_actor_spawn(rt, NULL, NULL, &a),
			 TRP_EINVAL);
	assert_ptr_equal(a, (trp_actor_t *)(uintptr_t)0x1);

	/* No handle wanted: it runs and is joined by destroy. */
	CHECK_OK(trp_thread_actor_spawn(rt, noop_thread, NULL, NULL));
	/* A function that returns at once stops its actor. */
	CHECK_OK(trp_thread_actor_spawn(rt, noop_thread, NULL, &a));
	CHECK_OK(trp_actor_join(a, SETTLE_NS));
	assert_false(trp_actor_alive(a));
	assert_true(trp_actor_id(a) > 0);
	assert_ptr_equal(trp_actor_runtime(a), rt);
	assert_int_equal(send_seq(a, 1, 1), TRP_EDEAD);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
}

static void test_recv_order_close(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct tlog *l = calloc(1, sizeof *l);
	trp_actor_t *a = NULL;
	assert_non_null(l);
	CHECK_OK(trp_thread_actor_spawn(rt, recorder, l, &a));
	assert_true(trp_actor_alive(a));

	enum {
		N = 500
	};
	for (uint32_t i = 1; i <= N; i++)
		CHECK_OK(send_seq(a, 7, i));
	CHECK_OK(trp_actor_close(a));
	/* twice: harmless (0), or TRP_EDEAD if the thread drained its 500
	 * messages and stopped in between */
	int again = trp_actor_close(a);
	assert_true(again == 0 || again == TRP_EDEAD);
	assert_int_equal(send_seq(a, 7, N + 1), TRP_EDEAD);
	CHECK_OK(trp_actor_join(a, SETTLE_NS));
	CHECK_OK(trp_actor_join(a, 0)); /* joined already: at once */

	assert_int_equal(atomic_load(&l->returned), 1);
	assert_int_equal(l->n, N);
	for (long i = 0; i < N; i++) {
		assert_int_equal(l->types[i], 7);
		if (l->seqs[i] != (uint32_t)(i + 1))
			fail_msg("message %ld is seq %u", i, l->seqs[i]);
	}
	assert_int_equal(l->bad, 0);
	assert_int_equal(l->last_rc, TRP_ECLOSED);
	assert_int_equal(l->again_rc, TRP_ECLOSED);
	assert_false(trp_actor_alive(a));
	assert_int_equal(trp_actor_close(a), TRP_EDEAD);
	assert_int_equal(atomic_load(&dead_letters), 0);

	trp_stats_t st;
	settle(rt);
	CHECK_OK(trp_runtime_stats(rt, &st));
	assert_int_equal(st.sent, N);
	assert_int_equal(st.dead_lettered, 0);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(l);
}

/* Close before the thread ever received: everything sent before still
 * arrives, then TRP_ECLOSED. */
struct slow_arg {
	atomic_int go;
	struct tlog log;
};

static void slow_recorder(trp_actor_t *self, void *arg)
{
	struct slow_arg *s = arg;
	int64_t deadline = now_ns() + SETTLE_NS;
	while (!atomic_load(&s->go) && now_ns() < deadline)
		usleep(100);
	recorder(self, &s->log);
}

static void test_close_before_recv(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct slow_arg *s = calloc(1, sizeof *s);
	trp_actor_t *a = NULL;
	assert_non_null(s);
	CHECK_OK(trp_thread_actor_spawn(rt, slow_recorder, s, &a));
	for (uint32_t i = 1; i <= 3; i++)
		CHECK_OK(send_seq(a, 2, i));
	CHECK_OK(trp_actor_close(a));
	assert_int_equal(send_seq(a, 2, 4), TRP_EDEAD);
	atomic_store(&s->go, 1);
	CHECK_OK(trp_actor_join(a, SETTLE_NS));
	assert_int_equal(s->log.n, 3);
	for (long i = 0; i < 3; i++)
		assert_int_equal(s->log.seqs[i], i + 1);
	assert_int_equal(s->log.last_rc, TRP_ECLOSED);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_int_equal(atomic_load(&dead_letters), 0);
	free(s);
}

/* ------------------------------------------------------------------ */

struct timeout_arg {
	int poll_rc, timed_rc, null_self_rc, null_msg_rc, msg_rc;
	int64_t timed_ns;
	uint32_t seq;
	int end_rc;
	atomic_int ready;
};

static void timeout_thread(trp_actor_t *self, void *arg)
{
	struct timeout_arg *t = arg;
	const trp_msg_t *m = NULL;
	t->poll_rc = trp_recv(self, 0, &m);
	int64_t t0 = now_ns();
	t->timed_rc = trp_recv(self, 20 * MS, &m);
	t->timed_ns = now_ns() - t0;
	t->null_self_rc = trp_recv(NULL, 0, &m);
	t->null_msg_rc = trp_recv(self, 0, NULL);
	atomic_store(&t->ready, 1);
	t->msg_rc = trp_recv(self, SETTLE_NS, &m);
	if (t->msg_rc == 0 && m->size == sizeof t->seq)
		memcpy(&t->seq, m->data, sizeof t->seq);
	t->end_rc = trp_recv(self, SETTLE_NS, &m);
}

static void test_recv_timeout(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct timeout_arg *t = calloc(1, sizeof *t);
	trp_actor_t *a = NULL;
	assert_non_null(t);
	CHECK_OK(trp_thread_actor_spawn(rt, timeout_thread, t, &a));
	assert_true(wait_flag(&t->ready));
	usleep(2000);
	CHECK_OK(send_seq(a, 1, 77)); /* wakes the blocked recv */
	usleep(2000);
	CHECK_OK(trp_actor_close(a)); /* wakes it again: ECLOSED */
	CHECK_OK(trp_actor_join(a, SETTLE_NS));
	assert_int_equal(t->poll_rc, TRP_ETIMEDOUT);
	assert_int_equal(t->timed_rc, TRP_ETIMEDOUT);
	assert_true(t->timed_ns >= 19 * MS);
	assert_int_equal(t->null_self_rc, TRP_EINVAL);
	assert_int_equal(t->null_msg_rc, TRP_EINVAL);
	assert_int_equal(t->msg_rc, 0);
	assert_int_equal(t->seq, 77);
	assert_int_equal(t->end_rc, TRP_ECLOSED);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(t);
}

/* ------------------------------------------------------------------ */
/* TRP_EPERM                                                           */

static atomic_int ev_self_rc, ev_other_rc, ev_join_rc;
static trp_actor_t *eperm_target;

static void eperm_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	const trp_msg_t *m = NULL;
	(void)state;
	(void)msg;
	atomic_store(&ev_self_rc, trp_recv(self, 0, &m));
	atomic_store(&ev_other_rc, trp_recv(eperm_target, 0, &m));
	/* Joining a thread actor from a worker would block it. */
	atomic_store(&ev_join_rc, trp_actor_join(eperm_target, 0));
}

struct other_arg {
	trp_actor_t *victim;
	int rc;
	atomic_int done;
};

static void other_thread(trp_actor_t *self, void *arg)
{
	struct other_arg *o = arg;
	const trp_msg_t *m = NULL;
	(void)self;
	o->rc = trp_recv(o->victim, 0, &m);
	atomic_store(&o->done, 1);
}

static void test_recv_eperm(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct tlog *l = calloc(1, sizeof *l);
	trp_actor_t *a = NULL, *ev = NULL, *b = NULL;
	const trp_msg_t *m = NULL;
	assert_non_null(l);
	CHECK_OK(trp_thread_actor_spawn(rt, recorder, l, &a));

	/* From the test thread. */
	assert_int_equal(trp_recv(a, 0, &m), TRP_EPERM);
	assert_int_equal(trp_recv(a, 10 * MS, &m), TRP_EPERM);

	/* From an event actor: on itself and on the thread actor. */
	eperm_target = a;
	trp_actor_def_t def = { .behavior = eperm_behavior };
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &ev));
	atomic_store(&ev_join_rc, 12345);
	CHECK_OK(trp_send(ev, 1, NULL, 0));
	settle(rt);
	assert_int_equal(atomic_load(&ev_self_rc), TRP_EPERM);
	assert_int_equal(atomic_load(&ev_other_rc), TRP_EPERM);
	/* join from a worker: refused (TRP_EDEADLK), or a 0-timeout poll
	 * (TRP_ETIMEDOUT); never 0, the thread is still receiving. */
	int jrc = atomic_load(&ev_join_rc);
	assert_true(jrc == TRP_EDEADLK || jrc == TRP_ETIMEDOUT);

	/* From another thread actor. */
	struct other_arg *o = calloc(1, sizeof *o);
	assert_non_null(o);
	o->victim = a;
	CHECK_OK(trp_thread_actor_spawn(rt, other_thread, o, &b));
	CHECK_OK(trp_actor_join(b, SETTLE_NS));
	assert_int_equal(o->rc, TRP_EPERM);

	/* None of that consumed a message of a. */
	CHECK_OK(send_seq(a, 3, 1));
	CHECK_OK(trp_actor_close(a));
	CHECK_OK(trp_actor_join(a, SETTLE_NS));
	assert_int_equal(l->n, 1);
	assert_int_equal(l->last_rc, TRP_ECLOSED);

	trp_actor_release(a);
	trp_actor_release(b);
	trp_actor_release(ev);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(o);
	free(l);
}

/* ------------------------------------------------------------------ */
/* join                                                                */

struct join_arg {
	int self_rc, self_poll_rc;
	atomic_int ready;
	int end_rc;
};

static void join_self_thread(trp_actor_t *self, void *arg)
{
	struct join_arg *j = arg;
	const trp_msg_t *m = NULL;
	j->self_rc = trp_actor_join(self, -1);
	j->self_poll_rc = trp_actor_join(self, 0);
	atomic_store(&j->ready, 1);
	j->end_rc = trp_recv(self, -1, &m);
}

static void test_join(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct join_arg *j = calloc(1, sizeof *j);
	trp_actor_t *a = NULL, *ev = NULL;
	assert_non_null(j);

	assert_int_equal(trp_actor_join(NULL, 0), TRP_EINVAL);
	trp_actor_def_t def = { .behavior = eperm_behavior };
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &ev));
	assert_int_equal(trp_actor_join(ev, 0), TRP_EINVAL);

	CHECK_OK(trp_thread_actor_spawn(rt, join_self_thread, j, &a));
	assert_true(wait_flag(&j->ready));
	assert_int_equal(j->self_rc, TRP_EDEADLK);
	assert_int_equal(j->self_poll_rc, TRP_EDEADLK);

	/* Blocked in recv: a join times out. */
	int64_t t0 = now_ns();
	assert_int_equal(trp_actor_join(a, 20 * MS), TRP_ETIMEDOUT);
	assert_true(now_ns() - t0 >= 19 * MS);
	assert_int_equal(trp_actor_join(a, 0), TRP_ETIMEDOUT);
	assert_true(trp_actor_alive(a));

	CHECK_OK(trp_actor_close(a));
	CHECK_OK(trp_actor_join(a, -1));
	assert_int_equal(j->end_rc, TRP_ECLOSED);
	assert_false(trp_actor_alive(a));

	trp_actor_release(a);
	trp_actor_release(ev);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(j);
}

/* Returns with messages queued: they become dead letters. */
static void test_return_with_queued(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct slow_arg *s = calloc(1, sizeof *s);
	trp_actor_t *a = NULL;
	assert_non_null(s);
	s->log.limit = 1;
	CHECK_OK(trp_thread_actor_spawn(rt, slow_recorder, s, &a));
	for (uint32_t i = 1; i <= 5; i++)
		CHECK_OK(send_seq(a, 4, i));
	atomic_store(&s->go, 1);
	CHECK_OK(trp_actor_join(a, SETTLE_NS));
	assert_int_equal(s->log.n, 1);
	assert_int_equal(s->log.seqs[0], 1);
	assert_false(trp_actor_alive(a));
	assert_int_equal(atomic_load(&dead_letters), 4);
	assert_int_equal(atomic_load(&dead_bad_reason), 0);
	assert_int_equal(send_seq(a, 4, 6), TRP_EDEAD);
	assert_int_equal(trp_actor_close(a), TRP_EDEAD);
	trp_stats_t st;
	CHECK_OK(trp_runtime_stats(rt, &st));
	assert_int_equal(st.sent, 5);
	assert_int_equal(st.dead_lettered, 4);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(s);
}

/* ------------------------------------------------------------------ */
/* talking to event actors                                             */

enum {
	E_COUNT = 10, /* counted by the event actor */
	E_BOUNCE,     /* payload: thread actor handle; sends E_BACK to it */
	E_ASK,	      /* request: reply x * 2 */
	E_BACK,	      /* event actor -> thread actor */
	E_THEN,	      /* continuation delivered to the thread actor */
};

static atomic_long ev_counted;

static void event_server(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	uint32_t x = 0;
	switch (msg->type) {
	case E_COUNT:
		atomic_fetch_add(&ev_counted, 1);
		break;
	case E_BOUNCE: {
		trp_actor_t *back;
		memcpy(&back, msg->data, sizeof back);
		x = 555;
		int rc = trp_send(back, E_BACK, &x, sizeof x);
		if (rc != 0)
			note_error(rc);
		break;
	}
	case E_ASK:
		memcpy(&x, msg->data, sizeof x);
		x *= 2;
		if (trp_reply(msg, &x, sizeof x) != 0)
			note_error(TRP_EINVAL);
		break;
	default:
		note_error(TRP_EINVAL);
	}
}

struct talk_arg {
	trp_actor_t *server;
	int sends_rc, bounce_rc, back_rc, ask_rc, wait_rc, then_rc, then_recv;
	int then_status, then_wait_rc;
	uint32_t back_x, ask_x, then_x;
	uint32_t back_type, then_type;
	int end_rc;
	atomic_int talked;
};

static void talker(trp_actor_t *self, void *arg)
{
	struct talk_arg *t = arg;
	const trp_msg_t *m = NULL, *r = NULL;
	trp_future_t *f = NULL;
	uint32_t x;

	for (int i = 0; i < 10; i++) {
		int rc = trp_send(t->server, E_COUNT, NULL, 0);
		if (rc != 0)
			t->sends_rc = rc;
	}
	/* An event actor sends back to it. */
	t->bounce_rc = trp_send(t->server, E_BOUNCE, &self, sizeof self);
	t->back_rc = trp_recv(self, SETTLE_NS, &m);
	if (t->back_rc == 0) {
		t->back_type = m->type;
		memcpy(&t->back_x, m->data, sizeof t->back_x);
	}
	/* Ask and wait: a thread actor may block. */
	x = 21;
	t->ask_rc = trp_ask(t->server, E_ASK, &x, sizeof x, &f);
	if (t->ask_rc == 0) {
		t->wait_rc = trp_future_wait(f, SETTLE_NS, &r);
		if (t->wait_rc == 0)
			memcpy(&t->ask_x, r->data, sizeof t->ask_x);
		trp_future_release(f);
	}
	/* Ask, and get the reply as a message through trp_recv. */
	x = 50;
	f = NULL;
	if (trp_ask(t->server, E_ASK, &x, sizeof x, &f) == 0) {
		t->then_rc = trp_future_then(f, self, E_THEN);
		trp_future_release(f);
		t->then_recv = trp_recv(self, SETTLE_NS, &m);
		if (t->then_recv == 0) {
			t->then_type = m->type;
			t->then_status = m->status;
			if (m->size == sizeof x)
				memcpy(&t->then_x, m->data, sizeof t->then_x);
		}
	}
	atomic_store(&t->talked, 1);
	t->end_rc = trp_recv(self, SETTLE_NS, &m);
}

static void test_talk_to_event_actors(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct talk_arg *t = calloc(1, sizeof *t);
	trp_actor_t *a = NULL;
	assert_non_null(t);
	atomic_store(&ev_counted, 0);
	trp_actor_def_t def = { .behavior = event_server };
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &t->server));

	CHECK_OK(trp_thread_actor_spawn(rt, talker, t, &a));
	/* Close once it has talked: its last recv sees TRP_ECLOSED. */
	assert_true(wait_flag(&t->talked));
	CHECK_OK(trp_actor_close(a));
	CHECK_OK(trp_actor_join(a, SETTLE_NS));

	assert_int_equal(t->sends_rc, 0);
	assert_int_equal(atomic_load(&ev_counted), 10);
	assert_int_equal(t->bounce_rc, 0);
	assert_int_equal(t->back_rc, 0);
	assert_int_equal(t->back_type, E_BACK);
	assert_int_equal(t->back_x, 555);
	assert_int_equal(t->ask_rc, 0);
	assert_int_equal(t->wait_rc, 0);
	assert_int_equal(t->ask_x, 42);
	assert_int_equal(t->then_rc, 0);
	assert_int_equal(t->then_recv, 0);
	assert_int_equal(t->then_type, E_THEN);
	assert_int_equal(t->then_status, 0);
	assert_int_equal(t->then_x, 100);
	assert_int_equal(t->end_rc, TRP_ECLOSED);

	settle(rt);
	assert_no_behaviour_errors();
	trp_actor_release(a);
	trp_actor_release(t->server);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(t);
}

/* ------------------------------------------------------------------ */
/* exchanges                                                           */

struct sub_arg {
	trp_exchange_t *ex;
	int attach_rc, detach_rc;
	atomic_int attached;
	struct tlog log;
};

static void subscriber(trp_actor_t *self, void *arg)
{
	struct sub_arg *s = arg;
	trp_sub_t sub = 0;
	const trp_msg_t *m = NULL;
	s->attach_rc = trp_exchange_attach(s->ex, trp_sink_actor(self), &sub);
	atomic_store(&s->attached, 1);
	for (int i = 0; i < 3; i++) {
		int rc = trp_recv(self, SETTLE_NS, &m);
		if (rc != 0) {
			s->log.last_rc = rc;
			break;
		}
		s->log.types[s->log.n] = m->type;
		if (m->size == 4)
			memcpy(&s->log.seqs[s->log.n], m->data, 4);
		s->log.n++;
	}
	s->detach_rc = trp_exchange_detach(s->ex, sub);
	s->log.again_rc = trp_recv(self, -1, &m);
}

static void test_exchange(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct sub_arg *s = calloc(1, sizeof *s);
	trp_actor_t *a = NULL;
	assert_non_null(s);
	CHECK_OK(trp_exchange_get(rt, "news", &s->ex));
	CHECK_OK(trp_thread_actor_spawn(rt, subscriber, s, &a));
	assert_true(wait_flag(&s->attached));
	assert_int_equal(s->attach_rc, 0);
	for (uint32_t i = 1; i <= 3; i++)
		CHECK_OK(trp_exchange_publish(s->ex, 30 + i, &i, sizeof i));
	CHECK_OK(trp_actor_close(a));
	CHECK_OK(trp_actor_join(a, SETTLE_NS));
	assert_int_equal(s->log.n, 3);
	for (long i = 0; i < 3; i++) {
		assert_int_equal(s->log.types[i], 31 + i);
		assert_int_equal(s->log.seqs[i], i + 1);
	}
	assert_int_equal(s->detach_rc, 0);
	assert_int_equal(s->log.again_rc, TRP_ECLOSED);
	trp_exchange_stats_t es;
	CHECK_OK(trp_exchange_stats(s->ex, &es));
	assert_int_equal(es.delivered, 3);
	assert_int_equal(es.subscribers, 0);
	trp_exchange_release(s->ex);
	trp_actor_release(a);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	free(s);
}

/* ------------------------------------------------------------------ */
/* destroy                                                             */

struct block_arg {
	atomic_int entered;
	atomic_int got; /* messages trp_recv returned */
	atomic_int returned;
	int rc;
};

static void blocker(trp_actor_t *self, void *arg)
{
	struct block_arg *b = arg;
	const trp_msg_t *m = NULL;
	atomic_store(&b->entered, 1);
	int rc;
	while ((rc = trp_recv(self, -1, &m)) == 0)
		atomic_fetch_add(&b->got, 1);
	b->rc = rc;
	atomic_store(&b->returned, 1);
}

static void test_destroy_while_blocked(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct block_arg *b = calloc(3, sizeof *b);
	trp_actor_t *a = NULL;
	assert_non_null(b);
	CHECK_OK(trp_thread_actor_spawn(rt, blocker, &b[0], &a));
	CHECK_OK(trp_thread_actor_spawn(rt, blocker, &b[1], NULL));
	CHECK_OK(trp_thread_actor_spawn(rt, blocker, &b[2], NULL));
	for (int i = 0; i < 3; i++)
		assert_true(wait_flag(&b[i].entered));
	CHECK_OK(send_seq(a, 1, 1));
	assert_true(wait_flag(&b[0].got)); /* taken: the counts balance */
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(atomic_load(&b[i].returned), 1);
		assert_true(b[i].rc == TRP_ECLOSED || b[i].rc == TRP_ESHUTDOWN);
	}
	/* The handle outlives the runtime. */
	assert_false(trp_actor_alive(a));
	int rc = send_seq(a, 1, 2);
	assert_true(rc == TRP_EDEAD || rc == TRP_ESHUTDOWN);
	trp_actor_release(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_errors),
		cmocka_unit_test(test_recv_order_close),
		cmocka_unit_test(test_close_before_recv),
		cmocka_unit_test(test_recv_timeout),
		cmocka_unit_test(test_recv_eperm),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_return_with_queued),
		cmocka_unit_test(test_talk_to_event_actors),
		cmocka_unit_test(test_exchange),
		cmocka_unit_test(test_destroy_while_blocked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
